# Helpers of the system tests (tests/e2e/80-*.sh), sourced after tests/lib.sh:
# the simulated chain, a webhook receiver and rolloutd on the system plan,
# all on free loopback ports, all killed on exit.
SPEED=${SYS_SPEED:-600}
PLAN=${SYS_PLAN:-$ROOT/tests/e2e/plans-system/system.yaml}
DATA=$TMP/data
CTL=$B/rolloutctl
SNAPS=$SHARED/data/polkadot-top1000-2025-07
CHECK=$ROOT/tests/e2e/plans-system/check.py
[ -x "$B/tests/fakes/simchain" ] || fail "$B/tests/fakes/simchain not built"
[ -d "$SNAPS" ] || fail "$SNAPS: missing"

# sys_chain [SIMCHAIN ARGS...]: start the simulated chain (seed $SEED, default 7).
sys_chain() {
  NODE_PORT=$(free_port)
  SCAN_PORT=$(free_port)
  bg "$B/tests/fakes/simchain" --node-port "$NODE_PORT" --scan-port "$SCAN_PORT" \
    --data "$SNAPS" --speed "$SPEED" --seed "${SEED:-7}" --truth "$TMP/truth.jsonl" \
    --api-key sys-key --hold --quiet "$@" >"$TMP/simchain.log" 2>&1
  SIM_PID=$BG_PID
  wait_port "$NODE_PORT" 20
  wait_port "$SCAN_PORT" 20
  SIM="http://127.0.0.1:$SCAN_PORT"
}

# sys_hook: start the webhook receiver.
sys_hook() {
  HOOK_PORT=$(free_port)
  bg $PY "$ROOT/tests/fakes/webhookd/webhookd.py" "$HOOK_PORT" "$TMP/hook.jsonl" >"$TMP/hook.log" 2>&1
  wait_port "$HOOK_PORT" 10
}

# sys_daemon: start rolloutd --speed $SPEED on $PLAN (again after a kill: same data dir).
# SYS_ENV (an array of NAME=VALUE) adds to its environment.
sys_daemon() {
  API_PORT=${API_PORT:-$(free_port)}
  URL="http://127.0.0.1:$API_PORT"
  bg env POLKADOT_RPC_URL="ws://127.0.0.1:$NODE_PORT" SUBSCAN_URL="$SIM" SUBSCAN_API_KEY=sys-key \
    WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/hook" ${SYS_ENV[@]+"${SYS_ENV[@]}"} \
    "$B/rolloutd" --plan "$PLAN" --data-dir "$DATA" --plugin-dir "$B/plugins" \
    --listen "127.0.0.1:$API_PORT" --speed "$SPEED" ${SYS_EXIT---exit-when-done} >>"$TMP/rolloutd.log" 2>&1
  DPID=$BG_PID
  wait_port "$API_PORT" 20
}

# sys_go: once the candidate watches the baseline's top 1000, start the
# chain's activity on rolloutd's time line (so nothing happens before both
# detectors look: the shadow comparison starts on equal terms).
sys_go() {
  local i t
  for ((i = 0; i < 150; i++)); do
    grep -q "rpc_watcher: watching 1000 accounts" "$TMP/rolloutd.log" && break
    sleep 0.2
  done
  grep -q "rpc_watcher: watching 1000 accounts" "$TMP/rolloutd.log" ||
    { sys_dump; fail "the candidate never watched the top 1000"; }
  t=$(curl -sf "$URL/api/status" | $PY -c 'import json,sys; print(json.load(sys.stdin)["time_ms"])') ||
    fail "GET /api/status"
  # a little ahead: the daemon's accelerated clock is synced every 100 ms
  curl -sf -X POST --data "$((t + ${SPEED%.*} * 150))" "$SIM/_sim/go" >/dev/null || fail "POST /_sim/go"
}

ctl() { "$CTL" --data-dir "$DATA" --url "$URL" --json "$@"; }

# sys_state: the engine's state and phase, "STATE PHASE TRAFFIC" ("" when unreachable).
sys_state() {
  ctl status 2>/dev/null | $PY -c 'import json,sys
d=json.load(sys.stdin); print(d["state"], d["phase"], d["traffic"])' 2>/dev/null || true
}

# sys_until SECS CMD...: poll CMD every 0.2 s until it succeeds; fail after SECS.
sys_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    kill -0 "$DPID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# sys_wait_exit SECS: wait for rolloutd (--exit-when-done) to end; its status in DRC.
sys_wait_exit() {
  local secs=$1 i
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$DPID" 2>/dev/null; then
    sys_dump
    fail "rolloutd still running after ${secs}s: $(sys_state)"
  fi
  DRC=0
  wait "$DPID" || DRC=$?
}

# sys_phase_is NAME: the engine is in phase NAME.
sys_phase_is() {
  local st
  st=$(curl -sf "$URL/api/status" | tr -d ' \n') || return 1
  [[ $st == *"\"phase\":\"$1\""* ]]
}

# sys_post PATH [JSON]: an authenticated POST to the API (token from the data directory).
sys_post() {
  local body=${2:-'{}'}
  curl -sf -X POST -H "Authorization: Bearer $(cat "$DATA/state/api.token")" \
    -H 'Content-Type: application/json' --data "$body" "$URL$1"
}

# sys_flag NAME: the value of a flag in the flags file as rolloutd wrote it.
sys_flag() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^;]*\\);.*/\\1/p" "$DATA/config/feature-flags.conf" | tr -d ' "'
}

# sys_smtp_start / sys_smtp_stop: the SMTP server (tests/fakes/webhookd/smtpd.py,
# mode save) on $SMTP_PORT, saving messages to $TMP/mail; start again after a
# stop on the same port and directory (numbering goes on after the last file).
SMTP_PORT=
sys_smtp_start() {
  SMTP_PORT=${SMTP_PORT:-$(free_port)}
  bg $PY "$ROOT/tests/fakes/webhookd/smtpd.py" "$SMTP_PORT" "$TMP/mail" save >>"$TMP/smtpd.log" 2>&1
  SMTP_PID=$BG_PID
  wait_port "$SMTP_PORT" 20
}
sys_smtp_stop() {
  kill "$SMTP_PID" 2>/dev/null || true
  wait "$SMTP_PID" 2>/dev/null || true
}

sys_dump() {
  echo "--- rolloutd.log (tail)"; tail -n 40 "$TMP/rolloutd.log" || true
  echo "--- journal (tail)"; tail -n 12 "$DATA/state/journal.jsonl" 2>/dev/null | cut -c1-400 || true
  echo "--- simchain.log"; tail -n 5 "$TMP/simchain.log" || true
}

# SYS_KEEP=DIR: keep a copy of the test's files there (debugging).
if [ -n "${SYS_KEEP:-}" ]; then
  trap 'rm -rf "$SYS_KEEP"; cp -r "$TMP" "$SYS_KEEP" 2>/dev/null; _cleanup' EXIT
fi
