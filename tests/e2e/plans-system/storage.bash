# storage.bash — shared by the storage drills (83-system-storage.sh,
# 85-system-readonly.sh), sourced after system.bash.
#
# Root ignores file modes, so as root rolloutd runs as nobody (setpriv)
# with the data directory chowned to it: `chmod a-w` is then a real
# read-only directory.  The EXIT trap leaves a directory the cleanup can
# remove whatever happened.

RUNAS=()
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed to drop root"
  RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  chmod 755 "$TMP"
  mkdir -p "$DATA"
  chown 65534:65534 "$DATA"
fi
trap 'chmod -R u+w "$DATA" 2>/dev/null
  [ -n "${SYS_KEEP:-}" ] && { rm -rf "$SYS_KEEP"; cp -r "$TMP" "$SYS_KEEP" 2>/dev/null; }
  _cleanup' EXIT

# st_daemon [ARG...]: sys_daemon (system.bash) run as $RUNAS, with extra
# rolloutd arguments (e.g. --exit-when-done).
st_daemon() {
  API_PORT=${API_PORT:-$(free_port)}
  URL="http://127.0.0.1:$API_PORT"
  bg env POLKADOT_RPC_URL="ws://127.0.0.1:$NODE_PORT" SUBSCAN_URL="$SIM" SUBSCAN_API_KEY=sys-key \
    WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/hook" \
    "${RUNAS[@]}" "$B/rolloutd" --plan "$PLAN" --data-dir "$DATA" --plugin-dir "$B/plugins" \
    --listen "127.0.0.1:$API_PORT" --speed "$SPEED" "$@" >>"$TMP/rolloutd.log" 2>&1
  DPID=$BG_PID
  wait_port "$API_PORT" 20
}

# status FIELD...: the engine's status fields on one line ("" when unreachable; for messages)
status() {
  curl -sf "$URL/api/status" | $PY -c 'import json, sys
d = json.load(sys.stdin)
out = []
for k in sys.argv[1:]:
    v = d
    for p in k.split("."):
        v = v.get(p) if isinstance(v, dict) else None
    out.append(str(v))
print(" ".join(out))' "$@" 2>/dev/null || true
}
# has JSON-FRAGMENT...: the status (spaces removed) holds every fragment (cheap: polled)
has() {
  local st f
  st=$(curl -sf "$URL/api/status" | tr -d ' \n') || return 1
  for f in "$@"; do [[ $st == *"$f"* ]] || return 1; done
}
st_is() { has "\"state\":\"$1\"" "\"phase\":\"$2\"" "\"traffic\":$3"; }
paused_storage() { has '"state":"paused"' '"pause_reason":"storage"'; }
not_storage() { ! has '"pause_reason":"storage"'; }
completed() { has '"state":"completed"'; }
# until_s SECS CMD...: poll CMD until it succeeds, at most SECS seconds of wall time
# (sys_until counts polls, which stretch on a loaded machine); 1 if rolloutd is gone.
until_s() {
  local end=$((SECONDS + $1))
  shift
  while ((SECONDS < end)); do
    "$@" && return 0
    kill -0 "$DPID" 2>/dev/null || return 1
    sleep 0.2
  done
  "$@"
}
# gradual_or_stuck: in gradual at 50 %, or fail at once when the rollout stopped before it
gradual_or_stuck() {
  st_is holding gradual 50 && return 0
  if has '"state":"paused"'; then
    sys_dump
    fail "paused before gradual (not a storage drill problem: too few data on this machine?): $(status state pause_reason phase)"
  fi
  return 1
}
