#!/usr/bin/env bash
# make demo — the whole five-phase rollout against the bundled simulated chain
# (tests/fakes/simchain: the real top-1000 snapshots replayed in 6 s blocks,
# then seeded synthetic whale transfers; one ledger served as a Polkadot node
# and as a Subscan API), in accelerated time, with the dashboard at
# http://127.0.0.1:3002/rollout, alerts to a local webhook receiver and to
# alerts/history.jsonl.  The script approves the production phase itself
# (rolloutctl promote) and prints the state as it changes.
#
#   DEMO_SPEED   chain and plan seconds per real second (default 3600: the
#                ~25-day plan takes about ten minutes)
#   DEMO_DATA    data directory (default ./data-demo, wiped at start)
#   DEMO_PLAN    plan file (default phases/full.yaml)
#   DEMO_LISTEN  API/dashboard address (default 127.0.0.1:3002)
#   DEMO_NODE_PORT, DEMO_SCAN_PORT, DEMO_HOOK_PORT   simulated chain and webhook ports
#   DEMO_NO_DEPS=1  skip the Debian package check (tools/deps.sh)
#   B            build directory (default build)
#
# The chain holds its activity until the candidate watches the top 1000, then
# runs on rolloutd's accelerated time line (POST /_sim/go with rolloutd's
# clock), so block times and rolloutd's clock agree.  Known limits at 3600x
# (reported): a gate on p95(candidate.alert_latency) < 5s needs < 1.4 ms of
# real block-to-alert latency, and rate(candidate.requests, 10m) is 0.17 s
# of real time, where a subscription-based watcher makes no request.
#
# Ctrl-C stops everything cleanly.  Real use instead of the simulation:
#   SUBSCAN_API_KEY=... POLKADOT_RPC_URL=wss://... WEBHOOK_URL=https://... \
#     build/rolloutd --plan phases/full.yaml
# (SUBSCAN_URL overrides the chain preset's Subscan base URL.)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${B:-build}
SPEED=${DEMO_SPEED:-3600}
DATA=${DEMO_DATA:-$ROOT/data-demo}
SHARED=${SHARED:-$ROOT/../shared}
NODE_PORT=${DEMO_NODE_PORT:-9944}
SCAN_PORT=${DEMO_SCAN_PORT:-9955}
HOOK_PORT=${DEMO_HOOK_PORT:-9966}
LISTEN=${DEMO_LISTEN:-127.0.0.1:3002}

if [ "${DEMO_NO_DEPS:-0}" != 1 ]; then
  bash tools/deps.sh
fi
make -j2 B="$B" all "$B/tests/fakes/simchain"

rm -rf "$DATA"
mkdir -p "$DATA/demo"
pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "demo: stopping"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "demo: journal in $DATA/state/journal.jsonl, alerts in $DATA/alerts/history.jsonl,"
  echo "      webhook deliveries in $DATA/demo/webhook.jsonl, chain truth in $DATA/demo/truth.jsonl"
}
trap stop EXIT
trap 'exit 130' INT TERM

"$B/tests/fakes/simchain" --node-port "$NODE_PORT" --scan-port "$SCAN_PORT" \
  --data "$SHARED/data/polkadot-top1000-2025-07" --speed "$SPEED" \
  --truth "$DATA/demo/truth.jsonl" --api-key demo-key --hold --quiet \
  > "$DATA/demo/simchain.log" 2>&1 &
pids+=($!)
/usr/bin/python3 tests/fakes/webhookd/webhookd.py "$HOOK_PORT" "$DATA/demo/webhook.jsonl" \
  > "$DATA/demo/webhookd.log" 2>&1 &
pids+=($!)
sleep 1

export POLKADOT_RPC_URL="ws://127.0.0.1:$NODE_PORT"
export SUBSCAN_URL="http://127.0.0.1:$SCAN_PORT"
export SUBSCAN_API_KEY=demo-key
export WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/hook"
export DATA_PATH="$DATA"
"$B/rolloutd" --plan "${DEMO_PLAN:-phases/full.yaml}" --plugin-dir "$B/plugins" --data-dir "$DATA" --listen "$LISTEN" \
  --speed "$SPEED" --web-dir web --exit-when-done > "$DATA/demo/rolloutd.log" 2>&1 &
ROLLOUTD=$!
pids+=($ROLLOUTD)

# The chain holds its activity until the candidate watches the baseline's top
# 1000, then starts on rolloutd's accelerated time line (a little ahead: the
# daemon's clock is synced every 100 ms).
for _ in $(seq 1 300); do
  grep -q "rpc_watcher: watching 1000 accounts" "$DATA/demo/rolloutd.log" 2>/dev/null && break
  kill -0 "$ROLLOUTD" 2>/dev/null || break
  sleep 0.2
done
now=$(curl -sf "http://$LISTEN/api/status" | sed -n 's/.*"time_ms": *\([0-9]*\).*/\1/p')
curl -sf -X POST --data "$(( ${now:-0} + SPEED * 150 ))" \
  "http://127.0.0.1:$SCAN_PORT/_sim/go" >/dev/null || echo "demo: the simulated chain did not start"

cat <<EOF
demo: simulated chain  ws://127.0.0.1:$NODE_PORT (node)  http://127.0.0.1:$SCAN_PORT (Subscan)
demo: rolloutd         http://$LISTEN/rollout   (speed ${SPEED}x: one simulated hour per $((3600 / SPEED))s)
demo: logs             $DATA/demo/*.log, $DATA/logs/
demo: the operator approves the production phase when asked (rolloutctl promote)
EOF

ctl() { "$B/rolloutctl" --data-dir "$DATA" --url "http://$LISTEN" "$@"; }
last=""
while kill -0 "$ROLLOUTD" 2>/dev/null; do
  line=$(ctl status 2>/dev/null | grep -E '^(state|phase|traffic):' | tr -s ' ' | paste -sd' ' || true)
  if [ -n "$line" ] && [ "$line" != "$last" ]; then
    echo "demo: $line"
    last=$line
  fi
  st=$(ctl --json status 2>/dev/null | tr -d ' \n' || true)
  if [[ $st == *'"pause_reason":"manual_approval"'* ]]; then
    echo "demo: operator: rolloutctl promote (manual approval of production)"
    ctl --who demo-operator promote || true
  fi
  sleep 1
done
wait "$ROLLOUTD" && rc=0 || rc=$?
echo "demo: rolloutd exited with status $rc"
tail -n 5 "$DATA/demo/rolloutd.log"
exit "$rc"
