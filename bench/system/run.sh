#!/usr/bin/env bash
# bench/system — rolloutd against the reference a user would otherwise run: a
# @polkadot/api watcher (watch.mjs, lockfile here).  Two modes:
#
#  watcher  like for like: rolloutd with the candidate rpc_watcher alone (the
#           baseline is the idle `scripted` test plugin, no alerting) and the
#           reference, started at the same time against ONE fake node
#           (tests/fakes/fakenode --accounts N) for the same N accounts (the
#           node's own, written by --addresses), the same blocks and the same
#           balance changes.  For N in $ACCOUNTS (1000 10000).
#  system   the whole daemon (bench/system/plan.yaml: both detectors, rules,
#           whale rules, comparator, API, alert file) on the simulated chain
#           (tests/fakes/simchain, top 1,000 of the real snapshots) next to the
#           reference on the same 1,000 accounts.
#
# CPU seconds = utime + stime from /proc/PID/stat after SECS seconds (start-up
# included) and over the last SECS-WARM seconds (steady state); peak RSS =
# VmHWM.  Median of RUNS runs; each ratio is between two processes measured in
# the same run.
#   B=build bash bench/system/run.sh
#   MODE=all|watcher|system SECS=40 WARM=10 RUNS=3 ACCOUNTS="1000 10000"
#   BLOCK_MS=100 CHANGES_PER_1000=20 (watcher) SPEED=600 ACTIVITY=30 (system)
#   PERF=DIR: record `perf record -g` of rolloutd in each mode's first run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${B:-build}
SHARED=${SHARED:-$ROOT/../shared}
MODE=${MODE:-all}
SECS=${SECS:-40}
WARM=${WARM:-10}
RUNS=${RUNS:-3}
ACCOUNTS=${ACCOUNTS:-"1000 10000"}
BLOCK_MS=${BLOCK_MS:-100}
CHANGES_PER_1000=${CHANGES_PER_1000:-20}
SPEED=${SPEED:-600}
ACTIVITY=${ACTIVITY:-30}
PERF=${PERF:-}
SNAPS=$SHARED/data/polkadot-top1000-2025-07
TMP=$(mktemp -d /tmp/bench-system.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
for f in "$B/rolloutd" "$B/tests/fakes/fakenode" "$B/tests/fakes/simchain"; do
  [ -x "$f" ] || { echo "run.sh: $f not built (make B=$B $f)" >&2; exit 1; }
done
for f in rpc_watcher subscan_poller alerting; do
  [ -f "$B/plugins/$f.so" ] || { echo "run.sh: $B/plugins/$f.so not built" >&2; exit 1; }
done
[ -f "$B/tests/plugins/scripted.so" ] || { echo "run.sh: $B/tests/plugins/scripted.so not built" >&2; exit 1; }
[ -d bench/system/node_modules ] || (cd bench/system && npm ci --no-audit --no-fund >/dev/null)
mkdir -p "$TMP/plugins"
ln -s "$ROOT/$B/plugins/rpc_watcher.so" "$TMP/plugins/rpc_watcher.so"
ln -s "$ROOT/$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
secs_of() { awk -v t="$1" -v hz="$hz" 'BEGIN{printf "%.2f", t / hz}'; }
hwm() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
wait_file() { local i; for ((i = 0; i < 200; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_http() { local i; for ((i = 0; i < 200; i++)); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; return 1; }
stats_of() { # API_PORT DATA -> the candidate's stats JSON (notifications, changes)
  curl -s -H "Authorization: Bearer $(cat "$2/state/api.token")" --data-binary '{}' \
    "http://127.0.0.1:$1/api/plugins/candidate/stats" || echo '{}'
}

# measure_pair LABEL RD JS: sample both at WARM and SECS (from now), print and append a row
measure_pair() {
  local label=$1 rd=$2 js=$3 rw jw re je
  sleep "$WARM"; rw=$(ticks "$rd"); jw=$(ticks "$js")
  sleep $((SECS - WARM)); re=$(ticks "$rd"); je=$(ticks "$js")
  echo "$label $(secs_of "$re") $(secs_of $((re - rw))) $(hwm "$rd") $(secs_of "$je") $(secs_of $((je - jw))) $(hwm "$js")" \
    >>"$TMP/rows"
}

start_rolloutd() { # PLAN DATA API_PORT LOG [extra args]: sets $rd
  local plan=$1 data=$2 ap=$3 log=$4; shift 4
  if [ -n "$PERF" ] && [ "${perf_done:-}" != "$label" ]; then
    perf_done=$label
    mkdir -p "$PERF"
    perf record --call-graph dwarf,16384 -F 199 -o "$PERF/$label.data" -- "$B/rolloutd" --plan "$plan" --data-dir "$data" \
      --plugin-dir "$TMP/plugins" --listen "127.0.0.1:$ap" "$@" >"$log" 2>&1 &
    rd=$!; pids+=($rd)
    local i; for ((i = 0; i < 100; i++)); do pgrep -P "$rd" >/dev/null && break; sleep 0.02; done
    perf_pid=$rd; rd=$(pgrep -P "$perf_pid" | head -n 1)
  else
    "$B/rolloutd" --plan "$plan" --data-dir "$data" --plugin-dir "$TMP/plugins" \
      --listen "127.0.0.1:$ap" "$@" >"$log" 2>&1 &
    rd=$!; pids+=($rd); perf_pid=
  fi
}

watcher_run() { # N RUN
  local n=$1 run=$2 np ap changes node rd js label=watcher-$1
  changes=$(( (n * CHANGES_PER_1000 + 999) / 1000 ))
  np=$(port); ap=$(port)
  rm -f "$TMP/node.port" "$TMP/addrs.txt"; rm -rf "$TMP/data"
  "$B/tests/fakes/fakenode" --port "$np" --accounts "$n" --seed 11 --block-ms "$BLOCK_MS" \
    --changes "$changes" --addresses "$TMP/addrs.txt" --quiet >"$TMP/node.log" 2>&1 &
  node=$!; pids+=($node)
  wait_file "$TMP/addrs.txt" && wait_http "http://127.0.0.1:$np/status" ||
    { cat "$TMP/node.log" >&2; exit 1; }
  {
    cat <<YAML
version: 1
name: bench-watcher
chain: polkadot
tick: 1m
systems:
  baseline:
    plugin: scripted
  candidate:
    plugin: rpc_watcher
    with:
      endpoints: [ "ws://127.0.0.1:$np" ]
      watch_from: none
      accounts:
YAML
    sed 's/^/        - /' "$TMP/addrs.txt"
    cat <<YAML
phases:
  - name: parallel
    set: { enableHybridSystem: true, enableParallelMode: true, rolloutPhase: parallel }
    hold: 30d
YAML
  } >"$TMP/watcher.yaml"
  start_rolloutd "$TMP/watcher.yaml" "$TMP/data" "$ap" "$TMP/rolloutd.log"
  (cd bench/system && exec node watch.mjs "ws://127.0.0.1:$np" "$TMP/addrs.txt" $((SECS + 2))) \
    >"$TMP/node.out" 2>&1 &
  js=$!; pids+=($js)
  measure_pair "$label" "$rd" "$js"
  local st; st=$(stats_of "$ap" "$TMP/data")
  wait "$js" 2>/dev/null || true
  echo "  $label run $run: $(tail -n 1 "$TMP/rows" | cut -d' ' -f2-)   rolloutd stats: $(echo "$st" |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("reply",d); print("watched=%s notifications=%s changes=%s" % (d.get("watched"), d.get("notifications"), d.get("changes")))' 2>/dev/null || echo '?');  reference: $(cat "$TMP/node.out")"
  kill "${perf_pid:-$rd}" "$node" 2>/dev/null || true
  wait "${perf_pid:-$rd}" "$node" 2>/dev/null || true
}

system_run() { # RUN
  local run=$1 np sp ap sim rd js label=system-1000
  np=$(port); sp=$(port); ap=$(port)
  rm -rf "$TMP/data"
  first=$(ls "$SNAPS"/*.json | sort | head -n 1)
  /usr/bin/python3 -c 'import json,sys; print("\n".join(e["address"] for e in json.load(open(sys.argv[1]))["data"]["list"]))' \
    "$first" >"$TMP/addrs.txt"
  "$B/tests/fakes/simchain" --node-port "$np" --scan-port "$sp" --data "$SNAPS" --speed "$SPEED" \
    --activity "$ACTIVITY" --synthetic-from 0 --quiet >"$TMP/sim.log" 2>&1 &
  sim=$!; pids+=($sim)
  sleep 1
  POLKADOT_RPC_URL="ws://127.0.0.1:$np" SUBSCAN_URL="http://127.0.0.1:$sp" \
    start_rolloutd bench/system/plan.yaml "$TMP/data" "$ap" "$TMP/rolloutd.log" --speed "$SPEED"
  # the whole system needs the real plugin directory (poller, alerting)
  (cd bench/system && exec node watch.mjs "ws://127.0.0.1:$np" "$TMP/addrs.txt" $((SECS + 2))) \
    >"$TMP/node.out" 2>&1 &
  js=$!; pids+=($js)
  measure_pair "$label" "$rd" "$js"
  wait "$js" 2>/dev/null || true
  echo "  $label run $run: $(tail -n 1 "$TMP/rows" | cut -d' ' -f2-)   $(grep -c 'subscan snapshot' "$TMP/rolloutd.log" || true) baseline cycles; reference: $(cat "$TMP/node.out")"
  kill "${perf_pid:-$rd}" "$sim" 2>/dev/null || true
  wait "${perf_pid:-$rd}" "$sim" 2>/dev/null || true
}

echo "bench/system: MODE=$MODE SECS=$SECS WARM=$WARM RUNS=$RUNS ACCOUNTS='$ACCOUNTS' BLOCK_MS=$BLOCK_MS" \
  "CHANGES_PER_1000=$CHANGES_PER_1000 SPEED=$SPEED ACTIVITY=$ACTIVITY; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  columns: rolloutd cpu_s cpu_s_steady rss_kib; reference cpu_s cpu_s_steady rss_kib"
if [ "$MODE" = all ] || [ "$MODE" = watcher ]; then
  for n in $ACCOUNTS; do
    for run in $(seq 1 "$RUNS"); do watcher_run "$n" "$run"; done
  done
fi
if [ "$MODE" = all ] || [ "$MODE" = system ]; then
  # the whole daemon loads the real plugins
  rm -f "$TMP/plugins/rpc_watcher.so" "$TMP/plugins/scripted.so"
  for f in "$ROOT/$B"/plugins/*.so; do ln -sf "$f" "$TMP/plugins/"; done
  for run in $(seq 1 "$RUNS"); do system_run "$run"; done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$TMP/rows" <<'PY'
import statistics, sys
rows = {}
for l in open(sys.argv[1]):
    f = l.split()
    rows.setdefault(f[0], []).append(list(map(float, f[1:])))
for label, rs in rows.items():
    rc, rcs, rr, jc, jcs, jr = (statistics.median(c) for c in zip(*rs))
    print("%s median of %d: rolloutd %.2f CPU s (steady %.2f), %.1f MiB; @polkadot/api %.2f CPU s (steady %.2f), %.1f MiB"
          % (label, len(rs), rc, rcs, rr / 1024, jc, jcs, jr / 1024))
    rat = [(r[3] / r[0] if r[0] else float("inf"), r[4] / r[1] if r[1] else float("inf"), r[5] / r[2]) for r in rs]
    c, cs, m = (statistics.median(x) for x in zip(*rat))
    print("%s ratios (reference / rolloutd, median of per-run ratios): CPU %.1fx, steady CPU %.1fx, peak RSS %.1fx"
          % (label, c, cs, m))
PY
