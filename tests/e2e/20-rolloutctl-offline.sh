#!/usr/bin/env bash
# rolloutctl with the daemon stopped: flag commands write the flags file
# directly (under the lock, audited) and say so; refusals without --force;
# daemon-only commands exit 3; the emergency rollback works even with a
# corrupt flags file (kept as .corrupt, a known-good file written).
. "$(dirname "$0")/../lib.sh"

CTL="$B/rolloutctl"
[ -x "$CTL" ] || fail "$CTL not built"
DATA="$TMP/data"
FLAGS="$DATA/config/feature-flags.conf"
JOURNAL="$DATA/state/journal.jsonl"
PORT=$(free_port)   # nothing listens there: the daemon is "stopped"
ctl() { "$CTL" --data-dir "$DATA" --url "http://127.0.0.1:$PORT" --who e2e "$@"; }

# run CMD..., expect exit status WANT; output in $TMP/out, $TMP/err
expect() {
  local want=$1 rc
  shift
  set +e
  ctl "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then
    echo "--- stdout:"; cat "$TMP/out"; echo "--- stderr:"; cat "$TMP/err"
    fail "rolloutctl $*: expected exit $want, got $rc"
  fi
}
flag_is() { grep -qE "^$1 = $2;\$" "$FLAGS" || { cat "$FLAGS"; fail "flags file: expected $1 = $2"; }; }
audit_count() { [ -f "$JOURNAL" ] && wc -l <"$JOURNAL" || echo 0; }

# --- usage ---------------------------------------------------------------
expect 64
expect 64 frobnicate
expect 64 rollback --force extra
expect 64 set-traffic 101 --force
expect 64 status --bogus
expect 0 --help
assert_contains "$TMP/out" "rollback --force" "usage text"

# --- refusals without --force (nothing written) -------------------------
expect 2 rollback
assert_contains "$TMP/err" "refused: .*--force" "rollback refusal"
expect 2 set-traffic 25
assert_contains "$TMP/err" "refused: .*outside the plan" "set-traffic refusal"
expect 2 switch-hybrid
assert_contains "$TMP/err" "refused: .*--force" "switch-hybrid refusal"
expect 2 flag set hybridTrafficPercent 5
expect 2 flag set emergencyRollback false
[ ! -e "$FLAGS" ] || fail "a refused command created $FLAGS"
pass "refusals without --force"

# --- offline flag writes --------------------------------------------------
expect 0 enable-parallel
assert_contains "$TMP/out" "daemon not running: wrote $FLAGS directly" "offline message"
flag_is enableParallelMode true
flag_is generation 2
# the file's creation (generation 1, one record per flag) is audited before it, then the write
[ "$(audit_count)" = 6 ] || fail "expected 6 audit lines, got $(audit_count)"
[ "$(grep -c '"who":"rolloutd (defaults)".*"generation":1}' "$JOURNAL")" = 5 ] || fail "creation not audited"

expect 0 set-traffic 25 --force --reason "canary by hand"
assert_contains "$TMP/out" "daemon not running: wrote $FLAGS directly" "offline message"
flag_is hybridTrafficPercent 25
flag_is enableHybridSystem true
expect 0 set-traffic 0
flag_is hybridTrafficPercent 0
expect 0 switch-hybrid --force
flag_is hybridTrafficPercent 100
flag_is emergencyRollback false
expect 0 switch-legacy
flag_is hybridTrafficPercent 0
flag_is enableHybridSystem false
expect 0 flag set rolloutPhase gradual
flag_is rolloutPhase '"gradual"'
expect 0 flag set hybridTrafficPercent 7 --force
flag_is hybridTrafficPercent 7
expect 64 flag set noSuchFlag 1
assert_contains "$TMP/err" "noSuchFlag: unknown flag" "unknown flag"
expect 64 flag set hybridTrafficPercent 200 --force
assert_contains "$TMP/err" "200 is out of range 0..100" "range check"
expect 64 flag set enableParallelMode maybe
flag_is hybridTrafficPercent 7

$PY - "$JOURNAL" <<'EOF' || fail "audit records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["who"] != "rolloutd (defaults)"]
assert all(r["kind"] == "flag" and r["who"] == "e2e" for r in recs), recs
gens = [r["generation"] for r in recs]
assert gens == sorted(gens), gens
t = [r for r in recs if r["flag"] == "hybridTrafficPercent" and r["new"] == 25][0]
assert t["old"] == 0 and t["reason"] == "canary by hand", t
assert t["time"].endswith("Z") and t["t_ms"] > 0
EOF
pass "offline flag writes audited"

expect 0 --json flags
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["via"]=="file" and d["flags"]["hybridTrafficPercent"]==7, d' "$TMP/out" \
  || fail "flags --json"
expect 0 flags
assert_contains "$TMP/out" "daemon not running: read $FLAGS" "flags offline"
assert_contains "$TMP/out" "hybridTrafficPercent +7" "flags listing"

# --- the offline emergency rollback ---------------------------------------
before=$(audit_count)
expect 0 rollback --force --reason "e2e drill"
assert_contains "$TMP/out" "daemon not running: wrote $FLAGS directly" "rollback message"
flag_is hybridTrafficPercent 0
flag_is enableHybridSystem false
flag_is emergencyRollback true
after=$(audit_count)
[ "$after" -gt "$before" ] || fail "rollback wrote no audit line"
tail -n 3 "$JOURNAL" >"$TMP/last"
assert_contains "$TMP/last" '"flag":"emergencyRollback","old":false,"new":true,"reason":"e2e drill"' "rollback audit"
# after a rollback, raising traffic keeps the latch and says so
expect 0 set-traffic 10 --force
assert_contains "$TMP/out" "emergencyRollback is set" "latch note"
pass "offline rollback"

# --- daemon-only commands: exit 3 ----------------------------------------
for c in pause retry "promote --full" "phase gradual" stats "alerts test"; do
  # shellcheck disable=SC2086
  expect 3 $c
  assert_contains "$TMP/err" "daemon not running at http://127.0.0.1:$PORT" "$c unreachable"
done
expect 3 status
assert_contains "$TMP/out" "daemon: not running" "status offline"
assert_contains "$TMP/out" "hybridTrafficPercent: 10" "status shows the flags"
pass "daemon-only commands exit 3"

# --- journal and journal --follow ---------------------------------------
expect 0 journal
[ "$(wc -l <"$TMP/out")" = "$(audit_count)" ] || fail "journal: one line per record"
assert_contains "$TMP/out" "emergencyRollback: false -> true by e2e \(e2e drill\)" "journal human"
expect 0 --json journal
cmp -s "$TMP/out" "$JOURNAL" || fail "journal --json must print the records as stored"
"$CTL" --data-dir "$DATA" journal --follow >"$TMP/follow" 2>&1 &
FPID=$!
_BG_PIDS+=("$FPID")
sleep 0.3
expect 0 flag set rolloutPhase production --reason follow-me
for _ in $(seq 1 100); do grep -q "follow-me" "$TMP/follow" && break; sleep 0.05; done
grep -q "rolloutPhase: gradual -> production by e2e (follow-me)" "$TMP/follow" || { cat "$TMP/follow"; fail "journal --follow did not show the new record"; }
kill "$FPID"; wait "$FPID" 2>/dev/null || true
pass "journal --follow"

# --- two rolloutctl processes writing at once: nothing lost ---------------
gen0=$(sed -n 's/^generation = \([0-9]*\);$/\1/p' "$FLAGS")
lines0=$(audit_count)
( for i in $(seq 1 8); do ctl flag set rolloutPhase "a$i" >/dev/null || exit 1; done ) &
P1=$!
( for i in $(seq 1 8); do ctl flag set rolloutPhase "b$i" >/dev/null || exit 1; done ) &
P2=$!
wait "$P1" || fail "writer 1 failed"
wait "$P2" || fail "writer 2 failed"
flag_is generation $((gen0 + 16))
[ "$(audit_count)" = $((lines0 + 16)) ] || fail "expected $((lines0 + 16)) audit lines, got $(audit_count)"
pass "concurrent rolloutctl writers"

# --- a corrupt flags file -------------------------------------------------
printf 'generation = 77;\nhybridTrafficPercent = 35;\nenableHybridSystem = = true;\n' >"$FLAGS"
cp "$FLAGS" "$TMP/broken.conf"
expect 1 flags
assert_contains "$TMP/out" "BROKEN: $FLAGS:3: " "broken file reported with its line"
expect 1 set-traffic 0
assert_contains "$TMP/err" "$FLAGS:3: " "write refused with the line"
expect 1 switch-legacy
cmp -s "$FLAGS" "$TMP/broken.conf" || fail "a refused write changed the broken file"
expect 0 rollback --force --reason "corrupt drill"
assert_contains "$TMP/out" "daemon not running: wrote $FLAGS directly \(generation 78\)" "rollback over a corrupt file"
assert_contains "$TMP/out" "was broken .*:3: .*kept it as $FLAGS.corrupt" "corrupt note"
cmp -s "$FLAGS.corrupt" "$TMP/broken.conf" || fail "$FLAGS.corrupt is not the broken file"
flag_is emergencyRollback true
flag_is hybridTrafficPercent 0
flag_is enableHybridSystem false
expect 0 flags
tail -n 3 "$JOURNAL" >"$TMP/last"
assert_contains "$TMP/last" '"reason":"corrupt drill","generation":78' "corrupt rollback audit"
pass "rollback over a corrupt flags file"
