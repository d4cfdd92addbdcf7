#!/usr/bin/env bash
# bench/rpc/run.sh — rpc_watcher benchmarks (see RESULTS.md for the figures):
#   1. decode throughput on one core: decode_bench (the plugin's own client.c,
#      recorded notifications of 1,000 changes) vs decode.js (@polkadot/types);
#   2. scale and latency: scale_bench (100,000 accounts from the fake node,
#      set-up time, peak RSS; 10,000 changes, block -> emit latency).
# Usage: B=build bash bench/rpc/run.sh   (from the source root; needs node/npm)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${B:-build}
RUNS=${RUNS:-5}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/bench-rpc.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
make -s B="$B" "$B/libpolkadot.a" "$B/libcommon.a" "$B/plugins/rpc_watcher.so" "$B/tests/fakes/fakenode" >/dev/null
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -pthread -Iinclude -Icommon -Iplugins/polkadot"
cc $CFLAGS -o "$OUT/decode_bench" bench/rpc/decode_bench.c "$B/libpolkadot.a" "$B/libcommon.a" \
  -ljansson -lsodium -lxxhash -lwebsockets -lm
cc $CFLAGS -o "$OUT/scale_bench" bench/rpc/scale_bench.c "$B/libpolkadot.a" "$B/libcommon.a" -lsodium -lxxhash -lcurl -ldl

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== decode throughput (one core, median of $RUNS runs of 199 notifications x 1,000 changes)"
taskset -c 0 "$OUT/decode_bench" --runs "$RUNS" --dump "$OUT/notes.jsonl" 2>/dev/null | tee "$OUT/c.json"
if command -v npm >/dev/null; then
  (cd bench/rpc && npm ci --no-audit --no-fund --silent >/dev/null)
  taskset -c 0 node bench/rpc/decode.js "$OUT/notes.jsonl" "$RUNS" 2>/dev/null | tee "$OUT/js.json"
  python3 - "$OUT/c.json" "$OUT/js.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["median_changes_per_s"]
j = json.load(open(sys.argv[2]))["median_changes_per_s"]
print("ratio C / @polkadot/types: %.1fx" % (c / j))
PY
fi
echo "== 100,000 accounts: set-up, peak RSS; 10,000 changes: latency (median of 3 runs by p99)"
for i in 1 2 3; do "$OUT/scale_bench" "$B" --accounts 100000 --blocks 100 --changes 100 2>/dev/null | tail -n 1; done |
  python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
for r in rows: print(json.dumps(r))
rows.sort(key=lambda r: r["latency_p99_ms"])
m = rows[len(rows) // 2]
print("median run: set-up %d ms, peak RSS %.1f MiB, latency p50 %.2f ms, p99 %.2f ms" %
      (m["setup_ms"], m["peak_rss_kib"] / 1024, m["latency_p50_ms"], m["latency_p99_ms"]))'
