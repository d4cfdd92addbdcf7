#!/usr/bin/env bash
# bench/rollback/run.sh — emergency rollback latency (issues 4 and 11), RUNS runs each:
#   offline:     daemon stopped, rolloutctl writes the flags file itself;
#   in-process:  flags_emergency_rollback() alone (no process, no HTTP);
#   daemon:      rolloutd running, rolloutctl -> POST /api/emergency/rollback
#                (skipped, and said so, when rolloutd cannot serve the API);
#   daemon-api:  the same POST from the harness itself (the API round trip
#                without rolloutctl's start-up);
#   *-exec:      `rolloutctl --version` (process start-up alone).
# With BEFORE=<another build dir> (e.g. of an older commit), both builds are
# measured in the same run, interleaved run by run, so they share the load.
# usage: [B=build] [BEFORE=dir] [RUNS=200] bash bench/rollback/run.sh
# See RESULTS.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${B:-build}
BEFORE=${BEFORE:-}
RUNS=${RUNS:-200}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollout-bench.XXXXXX")
DPIDS=()
cleanup() {
  local p
  for p in "${DPIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

BUILDS=(after="$B")
[ -n "$BEFORE" ] && BUILDS=(before="$BEFORE" after="$B")
for nb in "${BUILDS[@]}"; do
  [ -x "${nb#*=}/rolloutctl" ] || { echo "build ${nb#*=}/rolloutctl first (make B=${nb#*=} ${nb#*=}/rolloutctl)" >&2; exit 1; }
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S) UTC; builds: ${BUILDS[*]}"
echo "machine: $(uname -srm); $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); $(df -T "$TMP" | awk 'NR==2{print $2}') for $TMP"

# offline path: nothing listens on the port
PORT=$(free_port)
specs=()
for nb in "${BUILDS[@]}"; do
  specs+=("${nb%%=*}=${nb#*=}/rolloutctl,$TMP/offline-${nb%%=*},http://127.0.0.1:$PORT")
done
$PY bench/rollback/bench.py "$RUNS" offline "${specs[@]}"

# the store alone (no process start, no HTTP)
for nb in "${BUILDS[@]}"; do
  b=${nb#*=}
  if cc -std=c11 -D_GNU_SOURCE -O2 -Iflags -Icommon -o "$TMP/inproc" bench/rollback/inproc.c \
      "$b/libflags.a" "$b/libcommon.a" $(pkg-config --libs libconfig jansson) 2>"$TMP/cc.err"; then
    echo -n "{\"target\": \"${nb%%=*}\", "
    "$TMP/inproc" "$TMP/inproc-${nb%%=*}" "$RUNS" | sed 's/^{//'
  else
    echo "in-process figure skipped for $b: $(head -n 3 "$TMP/cc.err")"
  fi
done

# daemon path: a small plan with the scripted test plugins (no network),
# promoted into a 20% traffic step, then rolled back RUNS times
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
specs=()
for nb in "${BUILDS[@]}"; do
  n=${nb%%=*} b=${nb#*=}
  if ! [ -x "$b/rolloutd" ] || ! [ -f "$b/tests/plugins/scripted.so" ]; then
    echo "daemon path skipped: $b/rolloutd or $b/tests/plugins/scripted.so missing"
    exit 0
  fi
  PORT=$(free_port)
  "$b/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$TMP/daemon-$n" --plugin-dir "$b/tests/plugins" \
    --listen "127.0.0.1:$PORT" >"$TMP/rolloutd-$n.log" 2>&1 &
  DPIDS+=($!)
  ok=0
  for _ in $(seq 1 100); do
    if curl -fsS --noproxy '*' "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "${DPIDS[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$ok" != 1 ]; then
    echo "daemon path skipped: $b/rolloutd did not serve /api/health (log: $(tail -n 3 "$TMP/rolloutd-$n.log" | tr '\n' ' '))"
    exit 0
  fi
  "$b/rolloutctl" --data-dir "$TMP/daemon-$n" --url "http://127.0.0.1:$PORT" promote >/dev/null
  specs+=("$n=$b/rolloutctl,$TMP/daemon-$n,http://127.0.0.1:$PORT")
done
$PY bench/rollback/bench.py "$RUNS" daemon "${specs[@]}"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%H:%M:%S) UTC"
