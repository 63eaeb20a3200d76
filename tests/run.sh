#!/usr/bin/env bash
# The whole suite, from a fresh machine: setup (packages + build with
# -Wall -Wextra -Werror), every unit and integration test, the unit suite once
# more under ASan+UBSan, each fuzz harness briefly, and the bench smoke test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/deploy/setup.sh" "$here/build" -DLIMES_WERROR=ON
# the dashboard test drives headless Chromium with playwright-core (pinned in package-lock.json)
(cd "$here/tests/dashboard" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
echo "== tests (unit + integration)"
ctest --test-dir "$here/build" --output-on-failure -j2

echo "== unit tests under ASan+UBSan"
"$here/deploy/setup.sh" "$here/build-asan" -DLIMES_WERROR=ON -DLIMES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$here/build-asan" --output-on-failure -L unit -j2

echo "== fuzz harnesses, briefly"
CC=clang-14 "$here/deploy/setup.sh" "$here/build-fuzz" -DLIMES_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug
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
  (cd "$here/build-fuzz" && "$f" -max_total_time=20 -timeout=10 -rss_limit_mb=2048 "${dirs[@]}") >"$log" 2>&1 || rc=$?
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
