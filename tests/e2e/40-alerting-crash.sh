#!/usr/bin/env bash
# Alerting, crash safety: 100 alerts accepted while the webhook is down sit
# in the outbox; the process is killed with SIGKILL; a restart with the
# webhook up delivers every one of them, each with its id (at least once).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fakes/webhookd/e2e.sh"

PORT=$(free_port)   # nothing listens here yet: the webhook is down
cat >"$TMP/alerting.yaml" <<YAML
channels:
  - webhook: { url: "http://127.0.0.1:$PORT/hook", format: json, timeout: 2s }
  - file: {}
retry: { initial: 100ms, max: 300ms }
throttle: off
YAML
drv_start "$TMP/alerting.yaml" "$TMP/data"
drv "gen 100 large_movement warning"
case "$ANSWER" in "accepted 100 "*) ;; *) fail "gen: $ANSWER" ;; esac
OUTBOX="$TMP/data/alerts/outbox/webhook"
# on_alert returned only after the entry was on disk: all 100 are there now
assert_eq 100 "$(ls "$OUTBOX" | grep -c '\.json$')" "outbox entries before the crash"
ls "$OUTBOX" | sed -E 's/^[0-9]+-[0-9]+-([0-9a-f]{32})\.json$/\1/' | sort >"$TMP/ids.expected"
assert_eq 100 "$(sort -u "$TMP/ids.expected" | grep -cE '^[0-9a-f]{32}$')" "distinct ids in the outbox"
wait_for 10 grep -q "Could not connect\|Couldn't connect\|Connection refused" "$TMP/drv.err" || fail "no failed attempt before the crash"
drv_kill9
pass "100 alerts in the outbox, process killed with SIGKILL"

hook_start "$PORT" "$TMP/hook.jsonl" 200
drv_start "$TMP/alerting.yaml" "$TMP/data"
assert_contains "$TMP/drv.err" "webhook: replaying 100 alert" "replay logged"
drv "wait-idle 30"; assert_eq idle "$ANSWER" "outbox drained after restart"
drv_quit
$PY - "$TMP/hook.jsonl" "$TMP/ids.expected" <<'PY' || fail "delivery after restart"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in recs if r["status"] == 200]
got = {}
for r in ok:
    body = json.loads(r["body"])
    assert body["id"] == r["headers"]["x-rollout-alert-id"], r
    assert body["type"] == "large_movement" and body["severity"] == "warning"
    got.setdefault(body["id"], 0)
    got[body["id"]] += 1
want = set(open(sys.argv[2]).read().split())
assert len(want) == 100
missing = want - set(got)
assert not missing, "missing %d ids: %s" % (len(missing), sorted(missing)[:5])
assert set(got) == want, "unexpected ids: %s" % (set(got) - want)
# oldest first: the outbox is replayed in the order it was accepted
order = [json.loads(r["body"])["id"] for r in ok]
assert order[:100] == sorted(want, key=lambda i: int(i[16:], 16)), "not replayed in order"
PY
[ -z "$(ls -A "$OUTBOX")" ] || fail "outbox not empty: $(ls "$OUTBOX" | head -3)"
# the file channel's history also holds every id (it had delivered before the kill)
assert_eq 100 "$($PY -c 'import json,sys; print(len({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$TMP/data/alerts/history.jsonl")" "history ids"
pass "every alert delivered after the restart, with its id, in order"
