# tests/fakes/webhookd/e2e.sh — helpers for tests/e2e/40-alerting-*.sh
# (source after tests/lib.sh).  The plugin is driven by alertdrv as a bash
# coprocess: drv_start, then `drv LINE` sends one command and leaves the
# answer in $ANSWER.
FAKES="$ROOT/tests/fakes/webhookd"
DRV_BIN="$B/tests/fakes/alertdrv"
PLUGIN_SO="$B/plugins/alerting.so"
[ -x "$DRV_BIN" ] || fail "$DRV_BIN not built"
[ -f "$PLUGIN_SO" ] || fail "$PLUGIN_SO not built"

# drv_start CONFIG DATADIR: start the driver (stderr to $TMP/drv.err).
drv_start() {
  coproc DRV { exec "$DRV_BIN" "$PLUGIN_SO" "$1" "$2" 2>>"$TMP/drv.err"; }
  DRV_PID_SAVED=$DRV_PID
  _BG_PIDS+=("$DRV_PID")
  DRV_IN=${DRV[1]}
  DRV_OUT=${DRV[0]}
  IFS= read -r -t 30 ANSWER <&"$DRV_OUT" || { cat "$TMP/drv.err" >&2; fail "driver did not start"; }
  [ "$ANSWER" = ready ] || fail "driver: expected ready, got [$ANSWER]"
}

# drv LINE: one command, one answer line in $ANSWER.
drv() {
  echo "$*" >&"$DRV_IN"
  IFS= read -r -t 60 ANSWER <&"$DRV_OUT" || { tail -n 20 "$TMP/drv.err" >&2; fail "driver did not answer [$*]"; }
}

# drv_quit: stop and destroy the plugin; the driver must exit 0 (under
# ASan that includes "no leaks").
drv_quit() {
  local rc=0
  echo quit >&"$DRV_IN"
  wait "$DRV_PID_SAVED" 2>/dev/null || rc=$?
  [ "$rc" = 0 ] || { tail -n 30 "$TMP/drv.err" >&2; fail "driver exited with status $rc"; }
}

drv_kill9() {
  kill -9 "$DRV_PID_SAVED"
  wait "$DRV_PID_SAVED" 2>/dev/null || true
}

# stat CHANNEL FIELD: a number from `cmd stats` (sets $STAT).
stat() {
  drv "cmd stats"
  STAT=$(printf '%s' "${ANSWER#reply 0 }" | $PY -c 'import json,sys; print(json.load(sys.stdin)["channels"][sys.argv[1]][sys.argv[2]])' "$1" "$2")
}

# wait_for SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 20; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# hook_start PORT OUTFILE [MODE]
hook_start() {
  bg $PY "$FAKES/webhookd.py" "$1" "$2" "${3:-200}" >/dev/null
  wait_port "$1"
}
hook_mode() { curl -sf -X POST --data "$2" "http://127.0.0.1:$1/_mode" >/dev/null || fail "mode $2 on :$1"; }

# count_lines FILE PATTERN
count_lines() { if [ -f "$1" ]; then grep -c -- "$2" "$1" || true; else echo 0; fi; }
# wait_count SECONDS FILE PATTERN MIN: until FILE has at least MIN lines matching PATTERN.
_count_ge() { [ "$(count_lines "$1" "$2")" -ge "$3" ]; }
wait_count() { wait_for "$1" _count_ge "$2" "$3" "$4"; }
