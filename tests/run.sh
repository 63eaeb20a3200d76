#!/usr/bin/env bash
# The whole suite, from a fresh machine: setup (packages + build with
# -Wall -Wextra -Werror), every unit and integration test, the unit suite once
# more under ASan+UBSan, each fuzz harness briefly, and the bench smoke test.
#   tests/run.sh --long   soak sizes: the fault suite's full kill storm (200 kills over
#                         10,000 messages), write(2) in the kill-at-every-write run, and each
#                         fuzz harness for an hour (LIMES_FUZZ_SECONDS overrides)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
fuzz_seconds=20
if [ "${1:-}" = "--long" ]; then
  export LIMES_LONG=1
  fuzz_seconds=${LIMES_FUZZ_SECONDS:-3600}
fi
cd "$here"
# --long: the soak versions too (e.g. the failover test's 5,000 messages
# each way and 5 kills instead of 600 and 2)
if [ "${1:-}" = "--long" ]; then
  export LIMES_LONG=1
fi

"$here/deploy/setup.sh" --test "$here/build" -DLIMES_WERROR=ON
# the dashboard test drives headless Chromium with playwright-core, exactly
# the versions in tests/dashboard/package-lock.json (npm ci). Without the npm
# registry they cannot be fetched: say what is missing, and the browser test
# fails naming it, while the rest of the suite runs.
if ! (cd "$here/tests/dashboard" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>"$here/build/npm-ci.log"); then
  echo "== WARNING: npm ci in tests/dashboard failed, so the browser test will fail:" >&2
  echo "   missing: $(node -e 'const l=require(process.argv[1]);console.log(Object.entries(l.packages).filter(([k])=>k).map(([k,v])=>k.replace(/^node_modules\//,"")+"@"+v.version).join(", "))' "$here/tests/dashboard/package-lock.json" 2>/dev/null || echo "the packages of tests/dashboard/package-lock.json")" >&2
  echo "   registry: $(npm config get registry 2>/dev/null)" >&2
  grep -m 1 -E 'FetchError|request to|code E' "$here/build/npm-ci.log" | sed 's/^/   /' >&2 || true
fi
# one throwaway PostgreSQL (initdb + pg_ctl as an unprivileged user, in a
# temporary folder) for the store's postgres backend and the HA tests; each
# test takes a schema of its own on it; stopped and removed on exit
echo "== throwaway PostgreSQL"
pg_out=$("$here/tests/pg_throwaway.sh" start)
pg_dir=$(sed -n 1p <<<"$pg_out")
LIMES_TEST_PG=$(sed -n 2p <<<"$pg_out")
export LIMES_TEST_PG
trap '"$here/tests/pg_throwaway.sh" stop "$pg_dir"' EXIT
echo "== tests (unit + integration)"
ctest --test-dir "$here/build" --output-on-failure -j2

echo "== unit tests under ASan+UBSan"
"$here/deploy/setup.sh" --test "$here/build-asan" -DLIMES_WERROR=ON -DLIMES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$here/build-asan" --output-on-failure -L unit -j2

echo "== fuzz harnesses, briefly"
CC=clang-14 "$here/deploy/setup.sh" --test "$here/build-fuzz" -DLIMES_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug
# seeds: valid envelopes, receipts and bodies written by the unit tests that build them
seeds="$here/build-fuzz/seeds"
rm -rf "$seeds"
LIMES_FUZZ_SEEDS="$seeds" "$here/build/tests/test_vector" >/dev/null
LIMES_FUZZ_SEEDS="$seeds" "$here/build/tests/test_schema" --filter 'schema/round_trips_*' >/dev/null
for f in "$here"/build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus="$here/build-fuzz/corpus-$name"
  mkdir -p "$corpus"
  dirs=("$corpus")
  [ -d "$seeds/$name" ] && dirs+=("$seeds/$name")
  [ -d "$here/tests/fuzz/seeds/$name" ] && dirs+=("$here/tests/fuzz/seeds/$name")
  echo "-- $name (seeds: ${#dirs[@]} folders)"
  log="$here/build-fuzz/$name.log"
  rc=0
  (cd "$here/build-fuzz" && "$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 "${dirs[@]}") >"$log" 2>&1 || rc=$?
  grep -E "^#[0-9]+[[:space:]]+DONE" "$log" || true
  if [ "$rc" -ne 0 ]; then   # a crash, leak or timeout: the input is in build-fuzz/crash-*
    tail -n 40 "$log"
    echo "$name failed (exit $rc)"
    exit 1
  fi
done

echo "== bench smoke test (completes and prints every figure; speed is never asserted)"
"$here/tests/bench_smoke.sh" "$here/build/limes"
echo "== all passed"
