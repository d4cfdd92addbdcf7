#!/usr/bin/env bash
# Alerting inside rolloutd: `rolloutctl alerts test|stats` through the API,
# an emergency rollback notification that reaches a channel whose filters
# would exclude it (critical rollout events bypass them), and the same
# notification surviving `kill -9 rolloutd` while the webhook fails: after a
# restart with the webhook healthy it arrives, with the id it had.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fakes/webhookd/e2e.sh"

CTL="$B/rolloutctl"
[ -x "$CTL" ] || fail "$CTL not built"
[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"
mkdir -p "$TMP/plugins"
ln -s "$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"
ln -s "$PLUGIN_SO" "$TMP/plugins/alerting.so"
DATA="$TMP/data"
PORT=$(free_port)
HP=$(free_port)
URL="http://127.0.0.1:$PORT"
hook_start "$HP" "$TMP/hook.jsonl" 200

cat >"$TMP/plan.yaml" <<YAML
version: 1
name: alerting-test
chain: westend
salt: alerting-test-salt
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
      - webhook: { url: "http://127.0.0.1:$HP/hook", format: json, route: whale,
                   min_severity: critical, timeout: 2s }
      - file: {}
    retry: { initial: 100ms, max: 300ms }
phases:
  - name: approval
    set: { rolloutPhase: approval }
    steps: [ { approve: manual } ]
  - name: gradual
    set: { enableHybridSystem: true, rolloutPhase: gradual }
    steps: [ { traffic: 20, hold: 1h } ]
YAML

start_daemon() {
  bg "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$DATA" --plugin-dir "$TMP/plugins" \
    --listen "127.0.0.1:$PORT" >>"$TMP/rolloutd.out" 2>&1
  DPID=$BG_PID
  wait_port "$PORT" 20
}
ctl() { "$CTL" --data-dir "$DATA" --url "$URL" --json "$@"; }

cd "$ROOT"
start_daemon
ctl alerts test >"$TMP/test.json" || { cat "$TMP/test.json" "$TMP/rolloutd.out"; fail "alerts test"; }
$PY - "$TMP/test.json" "$TMP/hook.jsonl" <<'PY' || fail "alerts test reply"
import json, sys
raw = open(sys.argv[1]).read()
d = json.loads(raw)
d = d.get("reply", d) if isinstance(d, dict) else d
def find(o):
    if isinstance(o, dict):
        if "channels" in o and "ok" in o:
            return o
        for v in o.values():
            r = find(v)
            if r:
                return r
    if isinstance(o, str):
        try:
            return find(json.loads(o))
        except ValueError:
            return None
    return None
r = find(d)
assert r is not None, raw
assert r["ok"] is True, r
assert r["channels"]["webhook"]["result"] == "sent" and r["channels"]["file"]["result"] == "sent", r
hooks = [json.loads(l) for l in open(sys.argv[2])]
assert any(json.loads(h["body"])["id"] == r["id"] and json.loads(h["body"])["type"] == "test" for h in hooks), hooks
PY
ctl alerts stats >"$TMP/stats.json" || fail "alerts stats"
assert_contains "$TMP/stats.json" 'deduped' "stats reply"
pass "rolloutctl alerts test and stats through rolloutd"

# the webhook fails from now on; the rollback notification waits in the outbox
hook_mode "$HP" 500
ctl rollback --force --reason "alerting e2e" >/dev/null || fail "rollback"
OUTBOX="$DATA/alerts/outbox/webhook"
wait_for 10 bash -c "ls '$OUTBOX' | grep -q '\.json$'" || fail "no rollback alert in the outbox"
wait_count 10 "$TMP/hook.jsonl" '"status": 500' 1 || fail "webhook never tried"
ID=$(ls "$OUTBOX" | grep '\.json$' | head -n 1 | sed -E 's/^[0-9]+-[0-9]+-([0-9a-f]+)\.json$/\1/')
[ -n "$ID" ] || fail "no id in the outbox"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
pass "rollback notification $ID in the outbox, rolloutd killed with SIGKILL"

hook_mode "$HP" 200
start_daemon
wait_for 15 bash -c "grep '\"status\": 200' '$TMP/hook.jsonl' | grep -q '$ID'" || { tail -n 20 "$TMP/rolloutd.out"; fail "alert $ID not delivered after the restart"; }
$PY - "$TMP/hook.jsonl" "$ID" <<'PY' || fail "delivered rollback alert"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if sys.argv[2] in l]
ok = [json.loads(r["body"]) for r in recs if r["status"] == 200]
assert ok and ok[0]["id"] == sys.argv[2], recs
a = ok[0]
assert a["severity"] == "critical" and a["rollout"] is True, a
assert a["type"] in ("emergency_rollback", "rollback", "rollout.rollback"), a
PY
grep -q "$ID" "$DATA/alerts/history.jsonl" || fail "rollback alert missing from the history file"
pass "after the restart the rollback alert arrived with its id"

# a mistake in the alerting block stops rolloutd at start with its position
sed 's/format: json, route: whale,/formt: json, route: whale,/' "$TMP/plan.yaml" >"$TMP/plan-bad.yaml"
rc=0
timeout 20 "$B/rolloutd" --plan "$TMP/plan-bad.yaml" --data-dir "$TMP/data-bad" \
  --plugin-dir "$TMP/plugins" --listen "127.0.0.1:$(free_port)" >"$TMP/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "rolloutd started with a bad alerting block (rc $rc)"
LINE=$(grep -n 'formt' "$TMP/plan-bad.yaml" | cut -d: -f1)
COL=$(awk '/formt/ { print index($0, "formt: ") + 7 }' "$TMP/plan-bad.yaml")   # the value
assert_contains "$TMP/bad.out" "plan-bad\.yaml:$LINE:$COL: alerting: webhook: unknown key \"formt\"" "error with its position"
pass "a bad alerting block stops rolloutd with FILE:LINE:COLUMN"
