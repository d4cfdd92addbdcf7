#!/usr/bin/env bash
# bench/api/run.sh — GET /api/status requests per second and latency with
# wrk on loopback, while a plan runs (rolloutd holding at 10% with its engine
# ticking and the scripted plugins emitting).  Writes bench/api/RESULTS.md.
#
#   B=build bash bench/api/run.sh            (RUNS=3 DURATION=10s CONNS=32 THREADS=2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
command -v wrk >/dev/null || { echo "bench/api: wrk not installed (apt-get install wrk)"; exit 1; }
[ -x "$B/rolloutd" ] && [ -f "$B/tests/plugins/scripted.so" ] ||
  { echo "bench/api: build $B/rolloutd and $B/tests/plugins/scripted.so first"; exit 1; }

TMP=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cd "$ROOT"
"$B/rolloutd" --plan tests/e2e/plans-api/api.yaml --data-dir "$TMP/data" \
  --plugin-dir "$B/tests/plugins" --listen "127.0.0.1:$PORT" >"$TMP/out" 2>&1 &
PID=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
curl -sf -X POST -H "Authorization: Bearer $(cat "$TMP/data/state/api.token")" \
  "http://127.0.0.1:$PORT/api/rollout/promote" >/dev/null
sleep 0.5
STATE=$(curl -s "http://127.0.0.1:$PORT/api/status" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["state"], d["phase"], d["traffic"])')
BYTES=$(curl -s "http://127.0.0.1:$PORT/api/status" | wc -c)
echo "bench/api: rolloutd on port $PORT: $STATE; /api/status is $BYTES bytes"

rps=() p50=() p99=()
to_ms() { # wrk latency "1.23ms" / "456.00us" / "1.01s" -> ms
  /usr/bin/python3 -c 'import sys,re; v=sys.argv[1]; m=re.match(r"([0-9.]+)(us|ms|s)$",v); f={"us":0.001,"ms":1,"s":1000}[m.group(2)]; print(round(float(m.group(1))*f,3))' "$1"
}
for r in $(seq "$RUNS"); do
  wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$PORT/api/status" >"$TMP/wrk.$r"
  rps+=("$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.$r")")
  p50+=("$(to_ms "$(awk '$1 == "50%" {print $2}' "$TMP/wrk.$r")")")
  p99+=("$(to_ms "$(awk '$1 == "99%" {print $2}' "$TMP/wrk.$r")")")
  errs=$(grep -E "Non-2xx|Socket errors" "$TMP/wrk.$r" || true)
  echo "run $r: ${rps[-1]} req/s, p50 ${p50[-1]} ms, p99 ${p99[-1]} ms ${errs}"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MRPS=$(median "${rps[@]}")
MP50=$(median "${p50[@]}")
MP99=$(median "${p99[@]}")
RSS=$(awk '/VmRSS/ {print $2 " " $3}' /proc/$PID/status)
curl -s "http://127.0.0.1:$PORT/api/status" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["state"]=="holding", d["state"]' ||
  { echo "bench/api: the plan is no longer holding"; exit 1; }

CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
cat >"$ROOT/bench/api/RESULTS.md" <<MD
# GET /api/status under wrk (loopback, plan running)

Produced by \`B=build bash bench/api/run.sh\` on $(date -u +%Y-%m-%d).

- Command: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency http://127.0.0.1:PORT/api/status\`, $RUNS runs, medians below.
- Daemon: \`rolloutd --plan tests/e2e/plans-api/api.yaml\` (scripted plugins), promoted to
  phase *gradual*, state *$STATE* — the engine ticks every second while wrk runs.
  The status document is $BYTES bytes (engine status + plan phases + flags).
- Machine: $(nproc) CPU(s), $CPU, $(uname -sr); wrk and rolloutd share the machine
  (rolloutd serves from its single runner thread). Load average at the end: $LOAD —
  other jobs shared the machine, so treat the numbers as a floor; the p99 in
  particular moves with that load.

| metric | median | runs |
|---|---|---|
| requests/s | $MRPS | ${rps[*]} |
| latency p50 (ms) | $MP50 | ${p50[*]} |
| latency p99 (ms) | $MP99 | ${p99[*]} |

rolloutd RSS after the runs: $RSS.
MD
echo "bench/api: median $MRPS req/s, p50 $MP50 ms, p99 $MP99 ms -> bench/api/RESULTS.md"
