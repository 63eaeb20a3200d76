#!/usr/bin/env bash
# Smoke test of the benchmark harness: `limes-bench --quick --json` must
# finish (exit 0, within its minute plus slack) and print every figure as a
# number. Speed is never asserted: CI machines vary. It runs the programs of
# one build folder: limes-bench, the limes-agent processes it starts beside
# itself, and `limes bench`, which execs limes-bench.
#   tests/bench_smoke.sh [BUILD_DIR | BUILD_DIR/limes]   (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
[ -d "$build" ] || build=$(dirname "$build")
for program in limes limes-agent limes-bench; do
  [ -x "$build/$program" ] || { echo "bench_smoke: no $build/$program (build it first)" >&2; exit 1; }
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$build/limes-bench" --help >/dev/null
"$build/limes" bench --help >/dev/null
timeout 180 "$build/limes-bench" --quick --json >"$out"

python3 - "$out" <<'PY'
import json, math, sys
doc = json.load(open(sys.argv[1]))
numbers = """throughput_msgs_per_s verify_limit_per_s fdatasync_per_s ratio_to_verify_limit
latency_p50_ms latency_p90_ms latency_p99_ms latency_max_ms backlog_drain_s
rss_peak_mb rss_peak_sender_mb rss_peak_receiver_mb rss_1m_queued_mb
nats_sync_msgs_per_s nats_async_msgs_per_s ratio_to_nats_sync ratio_to_nats_async
sender_cpu_us_per_msg receiver_cpu_us_per_msg protocol_version signatures_per_msg
sender_audit_entries_per_msg receiver_audit_entries_per_msg
fdatasync_paced_p50_ms fdatasync_paced_p99_ms
sender_loop_cpu_us_per_msg sender_loop_wait_us_per_msg sender_loop_busy_share
receiver_loop_cpu_us_per_msg receiver_loop_wait_us_per_msg receiver_loop_busy_share
verify_limit_before_per_s verify_limit_after_per_s
checkpoints_per_1000_msgs db_syncs_per_1000_msgs latency_checkpoints_per_s latency_db_syncs_per_s""".split()
bad = [k for k in numbers
       if not isinstance(doc.get(k), (int, float)) or isinstance(doc.get(k), bool)
       or not math.isfinite(doc[k]) or doc[k] < 0]
if not isinstance(doc.get("backlog_urgent_first"), bool):
    bad.append("backlog_urgent_first")
for k in ("cpu_model", "cores"):
    if k not in doc.get("machine", {}):
        bad.append("machine." + k)
for k in ("messages", "body_bytes", "rate_per_s", "backlog", "queued"):
    if k not in doc.get("parameters", {}):
        bad.append("parameters." + k)
if not bad and doc["fdatasync_paced_p50_ms"] > doc["fdatasync_paced_p99_ms"]:
    bad.append("fdatasync_paced_p50_ms above its p99")
if not bad and doc["verify_limit_per_s"] != max(doc["verify_limit_before_per_s"], doc["verify_limit_after_per_s"]):
    bad.append("verify_limit_per_s is not the faster of its two probes")
if bad:
    sys.exit("bench_smoke: missing or not a number: " + ", ".join(bad))
print("bench_smoke: every figure present (%.0f msg/s, p99 %.2f ms)"
      % (doc["throughput_msgs_per_s"], doc["latency_p99_ms"]))
PY
