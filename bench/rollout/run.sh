#!/usr/bin/env bash
# bench/rollout — wall time of a full accelerated rollout, headless: the same
# thing `make demo` (tools/demo.sh) runs, without the dashboard or the build:
# the simulated chain (tests/fakes/simchain: the top-1000 snapshots, then
# seeded synthetic whale transfers), the webhook receiver
# (tests/fakes/webhookd/webhookd.py), rolloutd with phases/full.yaml at
# --speed SPEED and --exit-when-done, and `rolloutctl promote` when the
# production phase waits for its manual approval.
#
# Reports the wall time from rolloutd's start to the state "completed" (and
# to its exit), each phase's wall time (from the journal's rolloutPhase flag
# records, stamped with the real clock) and simulated time (from the
# transition records, stamped with rolloutd's accelerated clock), the wait
# for the chain to start, how long the approval waited, and the alerts
# delivered to the webhook.  One run (~10 min at 3600x).
#
#   B=build bash bench/rollout/run.sh
#   SPEED=3600 PLAN=phases/full.yaml TIMEOUT=1500 KEEP=DIR (keep the data directory)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${B:-build}
SHARED=${SHARED:-$ROOT/../shared}
SPEED=${SPEED:-3600}
PLAN=${PLAN:-phases/full.yaml}
TIMEOUT=${TIMEOUT:-1500}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bench-rollout.XXXXXX)
DATA=$TMP/data
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then rm -rf "$KEEP"; cp -a "$TMP" "$KEEP"; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
for f in "$B/rolloutd" "$B/rolloutctl" "$B/tests/fakes/simchain"; do
  [ -x "$f" ] || { echo "run.sh: $f not built (make B=$B $f)" >&2; exit 1; }
done
for f in rpc_watcher subscan_poller alerting; do
  [ -f "$B/plugins/$f.so" ] || { echo "run.sh: $B/plugins/$f.so not built" >&2; exit 1; }
done
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
NODE_PORT=$(port); SCAN_PORT=$(port); HOOK_PORT=$(port); API_PORT=$(port)
LISTEN=127.0.0.1:$API_PORT
mkdir -p "$DATA/demo"

echo "bench/rollout: plan $PLAN at ${SPEED}x, build $B; machine: $(nproc) vCPU," \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg)"

"$B/tests/fakes/simchain" --node-port "$NODE_PORT" --scan-port "$SCAN_PORT" \
  --data "$SHARED/data/polkadot-top1000-2025-07" --speed "$SPEED" \
  --truth "$DATA/demo/truth.jsonl" --api-key demo-key --hold --quiet \
  >"$DATA/demo/simchain.log" 2>&1 &
pids+=($!)
$PY tests/fakes/webhookd/webhookd.py "$HOOK_PORT" "$DATA/demo/webhook.jsonl" \
  >"$DATA/demo/webhookd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q ready "$DATA/demo/webhookd.log" 2>/dev/null && break; sleep 0.05; done
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$SCAN_PORT/" && break; sleep 0.05; done

export POLKADOT_RPC_URL="ws://127.0.0.1:$NODE_PORT"
export SUBSCAN_URL="http://127.0.0.1:$SCAN_PORT"
export SUBSCAN_API_KEY=demo-key
export WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/hook"
export DATA_PATH="$DATA"
t0=$(now_ms)
"$B/rolloutd" --plan "$PLAN" --plugin-dir "$B/plugins" --data-dir "$DATA" --listen "$LISTEN" \
  --speed "$SPEED" --exit-when-done >"$DATA/demo/rolloutd.log" 2>&1 &
ROLLOUTD=$!
pids+=($ROLLOUTD)

# as tools/demo.sh: the chain starts on rolloutd's time line once the
# candidate watches the baseline's top 1000
for _ in $(seq 1 600); do
  grep -q "rpc_watcher: watching 1000 accounts" "$DATA/demo/rolloutd.log" 2>/dev/null && break
  kill -0 "$ROLLOUTD" 2>/dev/null || break
  sleep 0.1
done
t_watch=$(now_ms)
now=$(curl -sf "http://$LISTEN/api/status" | sed -n 's/.*"time_ms": *\([0-9]*\).*/\1/p')
curl -sf -X POST --data "$(( ${now:-0} + SPEED * 150 ))" \
  "http://127.0.0.1:$SCAN_PORT/_sim/go" >/dev/null || echo "  the simulated chain did not start" >&2

ctl() { "$B/rolloutctl" --data-dir "$DATA" --url "http://$LISTEN" "$@"; }
t_done= t_ask= t_promote= last= polls=0
: >"$TMP/seen"
while kill -0 "$ROLLOUTD" 2>/dev/null; do
  if (( ($(now_ms) - t0) / 1000 > TIMEOUT )); then echo "  timeout after ${TIMEOUT}s" >&2; break; fi
  st=$(ctl --json status 2>/dev/null | tr -d ' \n' || true)
  ph=$(grep -o '"phase":"[^"]*"' <<<"$st" | head -n 1 | cut -d'"' -f4 || true)
  s=$(grep -o '"state":"[^"]*"' <<<"$st" | head -n 1 | cut -d'"' -f4 || true)
  tr=$(grep -o '"effective_traffic":[0-9]*' <<<"$st" | head -n 1 | cut -d: -f2 || true)
  line="$s $ph ${tr:-?}%"
  if [ -n "$ph" ] && [ "$line" != "$last" ]; then
    echo "$(now_ms) $line" >>"$TMP/seen"
    echo "  +$(( ($(now_ms) - t0) / 1000 ))s state $s, phase $ph, traffic ${tr:-?}%"; last=$line
  fi
  if [[ $st == *'"pause_reason":"manual_approval"'* ]]; then
    [ -n "$t_ask" ] || t_ask=$(now_ms)
    ctl --who bench-operator promote >/dev/null 2>&1 && t_promote=$(now_ms) || true
  fi
  if [ -z "$t_done" ] && [ "$s" = completed ]; then t_done=$(now_ms); fi
  # the plugins' error counts and last errors, kept for the report
  if (( ++polls % 4 == 0 )); then
    curl -sf "http://$LISTEN/api/health" >"$TMP/health.new" 2>/dev/null && mv "$TMP/health.new" "$TMP/health.json" || true
  fi
  sleep 0.5
done
rc=0
if kill -0 "$ROLLOUTD" 2>/dev/null; then kill "$ROLLOUTD"; rc=124; fi
wait "$ROLLOUTD" || rc=$?
t_exit=$(now_ms)
echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  rolloutd exit status $rc"
[ -n "$t_done" ] || grep -q '"to":{"state":"completed"' "$DATA/state/journal.jsonl" ||
  { echo "  the rollout did not complete; last lines of rolloutd.log:" >&2; tail -n 20 "$DATA/demo/rolloutd.log" >&2; exit 1; }

$PY - "$DATA" "$TMP/seen" "$t0" "$t_watch" "${t_ask:-0}" "${t_promote:-0}" "${t_done:-0}" "$t_exit" <<'PY'
import json, os, sys
data, seen = sys.argv[1], sys.argv[2]
t0, t_watch, t_ask, t_prom, t_done, t_exit = map(int, sys.argv[3:])
recs = [json.loads(l) for l in open(data + "/state/journal.jsonl") if l.strip()]
tr = [r for r in recs if r.get("kind") == "transition"]
# simulated clock: the transition records (rolloutd's accelerated clock)
sim_start = {}
for r in tr:
    if r["to"]["phase"] not in sim_start:
        sim_start[r["to"]["phase"]] = r["t_ms"]
sim_end = tr[-1]["t_ms"]
# wall clock: when this script's status polls (every 0.5 s) first saw each phase
wall = []
for l in open(seen):
    t, state, phase, _ = l.split()
    if not wall or wall[-1][0] != phase:
        wall.append((phase, int(t)))
end_wall = t_done or t_exit
names = [n for n, _ in wall]
print("  phase         wall start   wall time   simulated time")
for i, (name, t) in enumerate(wall):
    nxt = wall[i + 1][1] if i + 1 < len(wall) else end_wall
    s0 = sim_start.get(name, 0)
    s1 = sim_start.get(names[i + 1], sim_end) if i + 1 < len(wall) else sim_end
    print("  %-12s %+9.1fs %10.1fs %13.2f d" % (name, (t - t0) / 1000, (nxt - t) / 1000, (s1 - s0) / 86400000))
hooks = sum(1 for l in open(data + "/demo/webhook.jsonl") if l.strip())
hp = data + "/alerts/history.jsonl"
hist = sum(1 for _ in open(hp)) if os.path.exists(hp) else 0
print("  final state: %s; simulated span %.2f d; %d transitions" % (tr[-1]["to"]["state"],
      (sim_end - tr[0]["t_ms"]) / 86400000, len(tr)))
print("  start -> candidate watching 1000 accounts (the chain starts): %.1f s" % ((t_watch - t0) / 1000))
if t_ask:
    print("  manual approval asked at +%.1f s, promoted %.1f s later" % ((t_ask - t0) / 1000, (t_prom - t_ask) / 1000))
print("  webhook POSTs received: %d; alerts/history.jsonl lines: %d" % (hooks, hist))
try:
    h = json.load(open(os.path.join(os.path.dirname(seen), "health.json")))
    def walk(o, path=""):
        if isinstance(o, dict):
            if "last_error" in o:
                print("  health (last poll, <= 2 s before the end) %s: errors %s, last error %r"
                      % (path or "?", o.get("errors"), o.get("last_error")))
            for k, v in o.items():
                walk(v, k)
        elif isinstance(o, list):
            for v in o:
                walk(v, path)
    walk(h)
except (OSError, ValueError):
    pass
print("WALL start -> completed: %.1f s (%.1f min); start -> rolloutd exit: %.1f s"
      % ((end_wall - t0) / 1000, (end_wall - t0) / 60000, (t_exit - t0) / 1000))
PY
