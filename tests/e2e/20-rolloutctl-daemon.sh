#!/usr/bin/env bash
# rolloutctl against a running rolloutd (small plan, scripted test plugins,
# no network): status/flags/health through the API, promote into a traffic
# step, the emergency rollback through POST /api/emergency/rollback (flags on
# disk, journal, state), flag writes through the daemon, then the daemon
# stopped: the same rollback falls back to the flags file and says so.
. "$(dirname "$0")/../lib.sh"

CTL="$B/rolloutctl"
[ -x "$CTL" ] || fail "$CTL not built"
[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"
[ -f "$B/plugins/alerting.so" ] || fail "$B/plugins/alerting.so not built"
# one plugin directory with the scripted systems and the real alerting sink
mkdir -p "$TMP/plugins"
ln -s "$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"
ln -s "$B/plugins/alerting.so" "$TMP/plugins/alerting.so"
ALERTS="$TMP/data/alerts/ctl-test.jsonl"
DATA="$TMP/data"
FLAGS="$DATA/config/feature-flags.conf"
JOURNAL="$DATA/state/journal.jsonl"
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"

cat >"$TMP/plan.yaml" <<'EOF'
version: 1
name: ctl-test
chain: westend
salt: ctl-test-salt
tick: 1s
systems:
  baseline:
    plugin: scripted
    with:
      events: [ "health 1 baseline up", "metric requests 1" ]
  candidate:
    plugin: scripted
    with:
      events: [ "health 1 candidate up", "metric requests 1" ]
alerting:
  plugin: alerting
  with:
    channels:
      - file: { path: alerts/ctl-test.jsonl }
phases:
  - name: approval
    set: { rolloutPhase: approval }
    steps: [ { approve: manual } ]
  - name: gradual
    set: { enableHybridSystem: true, rolloutPhase: gradual }
    steps: [ { traffic: 20, hold: 1h } ]
EOF

cd "$ROOT"
bg "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$DATA" --plugin-dir "$TMP/plugins" \
  --listen "127.0.0.1:$PORT" >"$TMP/rolloutd.out" 2>&1
DPID=$BG_PID
wait_port "$PORT" 20

ctl() { "$CTL" --data-dir "$DATA" --url "$URL" --who e2e "$@"; }
expect() {
  local want=$1 rc
  shift
  set +e
  ctl "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then
    echo "--- stdout:"; cat "$TMP/out"; echo "--- stderr:"; cat "$TMP/err"
    echo "--- rolloutd:"; tail -n 20 "$TMP/rolloutd.out"
    fail "rolloutctl $*: expected exit $want, got $rc"
  fi
}
flag_is() { grep -qE "^$1 = $2;\$" "$FLAGS" || { cat "$FLAGS"; fail "flags file: expected $1 = $2"; }; }
# wait_traffic PCT: until the daemon reports that effective traffic
wait_traffic() {
  local i
  for ((i = 0; i < 200; i++)); do
    ctl --json flags >"$TMP/fl" 2>/dev/null || true
    $PY -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1])).get("effective_traffic")==int(sys.argv[2]) else 1)' "$TMP/fl" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  cat "$TMP/fl"; fail "effective traffic never reached $1%"
}

# --- read-only commands through the API -----------------------------------
expect 0 status
assert_contains "$TMP/out" "^plan: +ctl-test" "status plan"
assert_contains "$TMP/out" "^state: +paused" "status state"
expect 0 health
expect 0 flags
assert_contains "$TMP/out" "^flags \(daemon at $URL" "flags through the daemon"
assert_contains "$TMP/out" "rolloutPhase +approval" "flags value"
expect 0 --json status
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["plan"]=="ctl-test", d' "$TMP/out" || fail "status --json"
pass "status, health, flags through the daemon"

# --- the alerting plugin's commands ---------------------------------------
expect 0 alerts test
grep -q '"type":"test"' "$ALERTS" 2>/dev/null || { cat "$TMP/out"; fail "alerts test: no test alert in $ALERTS"; }
expect 0 alerts critical
grep -q '"type":"test.critical"' "$ALERTS" || fail "alerts critical: no critical test alert in $ALERTS"
expect 0 --json alerts stats
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["instance"]=="alerting", d' "$TMP/out" || fail "alerts stats --json"
expect 1 alerts test --instance nosuch
assert_contains "$TMP/err" "HTTP 404" "unknown plugin instance"
pass "alerts test, critical, stats"

# --- promote into the traffic step ----------------------------------------
expect 0 promote
wait_traffic 20
flag_is hybridTrafficPercent 20
flag_is enableHybridSystem true

# --- flag writes through the daemon -----------------------------------------
expect 0 enable-parallel --reason "shadow on"
assert_contains "$TMP/out" "through the daemon" "enable-parallel via daemon"
flag_is enableParallelMode true
grep -q '"flag":"enableParallelMode".*"who":"e2e"\|"who":"e2e.*"flag":"enableParallelMode"' "$JOURNAL" \
  || fail "enable-parallel audit record with who=e2e"
expect 64 flag set hybridTrafficPercent 150 --force
expect 2 set-traffic 30
pass "flag writes through the daemon"

# --- an operator edits the file by hand: the daemon re-reads and audits it --
sed 's/^rolloutPhase = .*/rolloutPhase = "hand-edited";/' "$FLAGS" >"$TMP/edited.conf"
cat "$TMP/edited.conf" >"$FLAGS"      # in place, same generation
ext() { grep -q '"who":"external","flag":"rolloutPhase".*"new":"hand-edited"' "$JOURNAL"; }
for _ in $(seq 1 100); do ext && break; sleep 0.05; done
ext || { tail -n 5 "$JOURNAL"; fail "no who=external audit record for the hand edit"; }
expect 0 flags
assert_contains "$TMP/out" "rolloutPhase +hand-edited" "the daemon serves the edited value"
pass "hand edit picked up and audited"

# --- the emergency rollback through the API ---------------------------------
expect 2 rollback
gen_before=$(sed -n 's/^generation = \([0-9]*\);$/\1/p' "$FLAGS")
expect 0 rollback --force --reason "e2e live rollback"
assert_contains "$TMP/out" "emergency rollback done through the daemon at $URL" "rollback via API"
# the daemon persisted it before answering
flag_is hybridTrafficPercent 0
flag_is enableHybridSystem false
flag_is emergencyRollback true
gen_after=$(sed -n 's/^generation = \([0-9]*\);$/\1/p' "$FLAGS")
[ "$gen_after" -gt "$gen_before" ] || fail "generation did not advance ($gen_before -> $gen_after)"
grep -q '"route":"/api/emergency/rollback"' "$JOURNAL" || fail "no API journal record for the rollback"
grep -q '"flag":"emergencyRollback".*"new":true' "$JOURNAL" || fail "no flag audit for emergencyRollback"
grep -q 'e2e live rollback' "$JOURNAL" || fail "the reason is not in the journal"
expect 0 status
assert_contains "$TMP/out" "^traffic: +0% \(effective 0%\)" "status after rollback"
assert_contains "$TMP/out" "last emergency rollback: .* by e2e \(e2e live rollback\)" "status shows the rollback"
expect 0 journal
assert_contains "$TMP/out" "emergencyRollback: false -> true" "journal shows the rollback"
# the rollback raised a critical alert through the alerting plugin
crit() { $PY -c 'import json,sys; sys.exit(0 if any(a.get("severity")=="critical" and "e2e live rollback" in json.dumps(a) for a in map(json.loads, open(sys.argv[1]))) else 1)' "$ALERTS"; }
for _ in $(seq 1 100); do crit && break; sleep 0.05; done
crit || { tail -n 3 "$ALERTS"; fail "no critical alert for the rollback in $ALERTS"; }
pass "rollback through the daemon"

# --- the daemon stopped: the same command writes the file ------------------
kill "$DPID"
for _ in $(seq 1 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$DPID" 2>/dev/null && fail "rolloutd did not stop on SIGTERM"
# undo the latch offline, then roll back again offline
expect 0 flag set emergencyRollback false --force
expect 0 set-traffic 40 --force
expect 0 rollback --force --reason "after the daemon died"
assert_contains "$TMP/out" "daemon not running: wrote $FLAGS directly" "offline fallback message"
flag_is hybridTrafficPercent 0
flag_is emergencyRollback true
tail -n 3 "$JOURNAL" | grep -q '"reason":"after the daemon died"' || fail "offline rollback audit"
expect 3 promote
pass "rollback with the daemon stopped"
