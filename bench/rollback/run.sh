#!/usr/bin/env bash
# bench/rollback/run.sh — emergency rollback latency (issue 4), 200 runs:
#   offline: daemon stopped, rolloutctl writes the flags file itself;
#   daemon:  rolloutd running, rolloutctl -> POST /api/emergency/rollback
#            (skipped, and said so, when rolloutd cannot serve the API).
# usage: [B=build] [RUNS=200] bash bench/rollback/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${B:-build}
RUNS=${RUNS:-200}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollout-bench.XXXXXX")
DPID=
cleanup() { [ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

[ -x "$B/rolloutctl" ] || { echo "build $B/rolloutctl first (make B=$B $B/rolloutctl)" >&2; exit 1; }
echo "machine: $(uname -srm); $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); $(df -T "$TMP" | awk 'NR==2{print $2}') for $TMP"

# offline path: nothing listens on the port
PORT=$(free_port)
$PY bench/rollback/bench.py "$B/rolloutctl" "$TMP/offline" "http://127.0.0.1:$PORT" "$RUNS" offline

# the store alone (no process start, no HTTP)
if cc -std=c11 -D_GNU_SOURCE -O2 -Iflags -Icommon -o "$TMP/inproc" bench/rollback/inproc.c \
    "$B/libflags.a" "$B/libcommon.a" $(pkg-config --libs libconfig jansson) 2>"$TMP/cc.err"; then
  "$TMP/inproc" "$TMP/inproc-data" "$RUNS"
else
  echo "in-process figure skipped: $(head -n 3 "$TMP/cc.err")"
fi

# daemon path: a small plan with the scripted test plugins (no network),
# promoted into a 20% traffic step, then rolled back RUNS times
if [ -x "$B/rolloutd" ] && [ -f "$B/tests/plugins/scripted.so" ]; then
  cat >"$TMP/plan.yaml" <<'PLAN'
version: 1
name: bench-rollback
chain: westend
salt: bench-salt
tick: 1s
systems:
  baseline:  { plugin: scripted, with: { events: [ "health 1 baseline up" ] } }
  candidate: { plugin: scripted, with: { events: [ "health 1 candidate up" ] } }
phases:
  - name: approval
    steps: [ { approve: manual } ]
  - name: gradual
    set: { enableHybridSystem: true }
    steps: [ { traffic: 20, hold: 1h } ]
PLAN
  PORT=$(free_port)
  "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$TMP/daemon" --plugin-dir "$B/tests/plugins" \
    --listen "127.0.0.1:$PORT" >"$TMP/rolloutd.log" 2>&1 &
  DPID=$!
  ok=0
  for _ in $(seq 1 100); do
    if curl -fsS --noproxy '*' "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$ok" = 1 ]; then
    "$B/rolloutctl" --data-dir "$TMP/daemon" --url "http://127.0.0.1:$PORT" promote >/dev/null
    $PY bench/rollback/bench.py "$B/rolloutctl" "$TMP/daemon" "http://127.0.0.1:$PORT" "$RUNS" daemon
  else
    echo "daemon path skipped: rolloutd did not serve /api/health (log: $(tail -n 3 "$TMP/rolloutd.log" | tr '\n' ' '))"
  fi
else
  echo "daemon path skipped: $B/rolloutd or $B/tests/plugins/scripted.so missing"
fi
