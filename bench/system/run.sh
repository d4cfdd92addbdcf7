#!/usr/bin/env bash
# bench/system — rolloutd (both detectors, engine, API) against the reference
# a user would otherwise run: a @polkadot/api watcher (watch.mjs, lockfile
# here), both subscribed to the same simulated chain for the same 1,000
# accounts at the same time.  CPU seconds (utime + stime from /proc) and peak
# RSS (VmHWM) of each after SECS seconds; median of RUNS runs.
#   B=build bash bench/system/run.sh      (SECS=40 RUNS=3 SPEED=600 ACTIVITY=30)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${B:-build}
SHARED=${SHARED:-$ROOT/../shared}
SECS=${SECS:-40}
RUNS=${RUNS:-3}
SPEED=${SPEED:-600}
ACTIVITY=${ACTIVITY:-30}
SNAPS=$SHARED/data/polkadot-top1000-2025-07
TMP=$(mktemp -d /tmp/bench-system.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
[ -d bench/system/node_modules ] || (cd bench/system && npm ci --no-audit --no-fund >/dev/null)
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
first=$(ls "$SNAPS"/*.json | sort | head -n 1)
/usr/bin/python3 -c 'import json,sys; print("\n".join(e["address"] for e in json.load(open(sys.argv[1]))["data"]["list"]))' "$first" >"$TMP/addrs.txt"
measure() { # PID -> "cpu_s rss_kib"
  local t
  t=$(awk '{print $14 + $15}' "/proc/$1/stat")
  echo "$(awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", t / hz}') $(awk '/VmHWM/{print $2}' "/proc/$1/status")"
}
for run in $(seq 1 "$RUNS"); do
  np=$(port); sp=$(port); ap=$(port)
  "$B/tests/fakes/simchain" --node-port "$np" --scan-port "$sp" --data "$SNAPS" --speed "$SPEED" \
    --activity "$ACTIVITY" --synthetic-from 0 --quiet >"$TMP/sim.log" 2>&1 &
  sim=$!; pids+=($sim)
  sleep 1
  rm -rf "$TMP/data"
  POLKADOT_RPC_URL="ws://127.0.0.1:$np" SUBSCAN_URL="http://127.0.0.1:$sp" \
    "$B/rolloutd" --plan bench/system/plan.yaml --data-dir "$TMP/data" --plugin-dir "$B/plugins" \
    --listen "127.0.0.1:$ap" --speed "$SPEED" >"$TMP/rolloutd.log" 2>&1 &
  rd=$!; pids+=($rd)
  (cd bench/system && exec node watch.mjs "ws://127.0.0.1:$np" "$TMP/addrs.txt" $((SECS + 5))) >"$TMP/node.out" 2>&1 &
  js=$!; pids+=($js)
  sleep "$SECS"
  r=$(measure "$rd"); j=$(measure "$js")
  echo "run $run: rolloutd cpu_s rss_kib = $r; @polkadot/api watcher = $j; $(grep -c 'subscan snapshot' "$TMP/rolloutd.log") baseline cycles"
  echo "$r $j" >>"$TMP/results"
  kill "$rd" "$js" "$sim" 2>/dev/null || true
  wait "$rd" "$js" "$sim" 2>/dev/null || true
done
/usr/bin/python3 - "$TMP/results" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
rc, rr, jc, jr = (statistics.median(c) for c in zip(*rows))
print("median: rolloutd %.2f CPU s, %.1f MiB peak RSS; @polkadot/api watcher %.2f CPU s, %.1f MiB peak RSS"
      % (rc, rr / 1024, jc, jr / 1024))
print("ratios (reference / rolloutd): CPU %.1fx, RSS %.1fx" % (jc / rc if rc else float("inf"), jr / rr))
PY
