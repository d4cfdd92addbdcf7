#!/usr/bin/env bash
# Alerting, webhook channels: exact payloads (plain JSON and Slack), the
# HMAC-SHA256 signature, retries on 500 / a hanging peer / a peer that closes
# early (same id on every attempt), and a dead channel not blocking another.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fakes/webhookd/e2e.sh"

P1=$(free_port)
P2=$(free_port)
hook_start "$P1" "$TMP/hook.jsonl" 200
hook_start "$P2" "$TMP/slack.jsonl" 200
export HOOK_SECRET='s3cret-κλειδί'
cat >"$TMP/alerting.yaml" <<YAML
channels:
  - webhook: { name: hook, url: "http://127.0.0.1:$P1/hook", format: json,
               secret_env: HOOK_SECRET, timeout: 1s }
  - webhook: { name: slack, url: "http://127.0.0.1:$P2/slack", format: slack, timeout: 1s }
retry: { initial: 100ms, max: 400ms }
YAML
drv_start "$TMP/alerting.yaml" "$TMP/data"

ID_A=0123456789abcdef0123456789abcd01
drv 'alert {"id":"'$ID_A'","key":"large_movement:15oF:105","type":"large_movement","severity":"warning","title":"Whale moved 1,000,000 DOT","message":"Binance -> <unknown> & back","time_ms":1795762908393,"account":"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5","label":"Binance.com","amount_planck":"10000000000000000","amount_tokens":"-1000000","amount_negative":true,"symbol":"DOT","block_from":100,"block_to":105,"system":"candidate","details":{"rule":"large_movement","threshold":"100000"}}'
assert_eq "ok $ID_A" "$ANSWER" "on_alert"
drv "wait-idle 10"
assert_eq idle "$ANSWER" "queue drained"

# exact plain JSON payload, signature over the raw body
$PY - "$TMP/hook.jsonl" "$HOOK_SECRET" <<'PY' || fail "plain JSON payload / signature"
import hashlib, hmac, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
r = recs[0]
assert r["path"] == "/hook" and r["status"] == 200
h = r["headers"]
assert h["content-type"] == "application/json", h
assert h["x-rollout-alert-id"] == "0123456789abcdef0123456789abcd01"
want = "sha256=" + hmac.new(sys.argv[2].encode(), r["body"].encode(), hashlib.sha256).hexdigest()
assert h["x-rollout-signature"] == want, (h["x-rollout-signature"], want)
expect = {
  "id": "0123456789abcdef0123456789abcd01", "key": "large_movement:15oF:105",
  "type": "large_movement", "severity": "warning", "rollout": False,
  "title": "Whale moved 1,000,000 DOT", "message": "Binance -> <unknown> & back",
  "time": "2026-11-27T07:01:48.393Z", "time_ms": 1795762908393,
  "account": "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5", "label": "Binance.com",
  "amount": {"planck": "10000000000000000", "tokens": "-1000000", "symbol": "DOT", "negative": True},
  "block_from": 100, "block_to": 105, "system": "candidate",
  "details": {"rule": "large_movement", "threshold": "100000"},
}
got = json.loads(r["body"])
assert got == expect, got
PY
pass "plain JSON payload and HMAC signature"

$PY - "$TMP/slack.jsonl" <<'PY' || fail "Slack payload"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, recs
r = recs[0]
assert "x-rollout-signature" not in r["headers"]
b = json.loads(r["body"])
assert b["text"] == "[WARNING] Whale moved 1,000,000 DOT: Binance -> <unknown> & back", b["text"]
bl = b["blocks"]
assert bl[0] == {"type": "header", "text": {"type": "plain_text", "text": "Whale moved 1,000,000 DOT"}}, bl[0]
assert bl[1] == {"type": "section", "text": {"type": "mrkdwn", "text": "Binance -&gt; &lt;unknown&gt; &amp; back"}}, bl[1]
fields = [f["text"] for f in bl[2]["fields"]]
assert fields == ["*Severity*\nwarning", "*System*\ncandidate",
                  "*Account*\n15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5",
                  "*Label*\nBinance.com", "*Amount*\n-1000000 DOT (10000000000000000 planck)",
                  "*Blocks*\n#100..#105"], fields
assert bl[3]["type"] == "context"
assert "0123456789abcdef0123456789abcd01" in bl[3]["elements"][0]["text"]
PY
pass "Slack payload"

# a duplicate (same key within the dedup window) is not sent again
drv 'alert {"id":"0123456789abcdef0123456789abcd02","key":"large_movement:15oF:105","type":"large_movement","severity":"warning","title":"again"}'
drv "wait-idle 5"
stat hook deduped; assert_eq 1 "$STAT" "deduped count"
assert_eq 1 "$(count_lines "$TMP/hook.jsonl" '"/hook"')" "no second POST for a duplicate"

# --- 500: retried with the same id until the peer says 2xx; slack unaffected
hook_mode "$P1" 500
ID_B=0123456789abcdef0123456789abcd0b
drv 'alert {"id":"'$ID_B'","key":"b","type":"large_movement","severity":"critical","title":"B"}'
wait_count 10 "$TMP/hook.jsonl" "$ID_B" 3 || fail "no retries on 500"
wait_for 5 grep -q "$ID_B" "$TMP/slack.jsonl" || fail "slack blocked by the failing hook"
stat hook queued; assert_eq 1 "$STAT" "B still queued on hook"
stat hook failed; [ "$STAT" -ge 2 ] || fail "failed count $STAT"
drv "metric alerting.hook.failed"; set -- $ANSWER; [ "$3" -ge 2 ] || fail "metric alerting.hook.failed: $ANSWER"
hook_mode "$P1" 200
drv "wait-idle 10"; assert_eq idle "$ANSWER" "B delivered after 500s"
$PY - "$TMP/hook.jsonl" "$ID_B" <<'PY' || fail "retries of B"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if sys.argv[2] in l]
assert [r["status"] for r in recs][-1] == 200 and all(r["status"] == 500 for r in recs[:-1]), recs
assert len({r["body"] for r in recs}) == 1, "bodies differ between attempts"
assert {r["headers"]["x-rollout-alert-id"] for r in recs} == {sys.argv[2]}
assert len({r["headers"]["x-rollout-signature"] for r in recs}) == 1
PY
pass "500 retried with the same id and body until 200"

# --- 429 with Retry-After: 1 is honoured although retry.initial is 100ms
hook_mode "$P1" 429
ID_E=0123456789abcdef0123456789abcd0e
drv 'alert {"id":"'$ID_E'","key":"e","type":"large_movement","severity":"critical","title":"E"}'
wait_count 10 "$TMP/hook.jsonl" "$ID_E" 2 || fail "no retry after 429"
hook_mode "$P1" 200
drv "wait-idle 10"; assert_eq idle "$ANSWER" "E delivered after 429"
$PY - "$TMP/hook.jsonl" "$ID_E" <<'PY' || fail "Retry-After not honoured"
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1]) if sys.argv[2] in l]
gaps = [b - a for a, b in zip(t, t[1:])]
assert gaps and min(gaps) >= 0.9, gaps
PY
pass "429: Retry-After honoured"

# --- hang: the attempt times out (timeout: 1s), slack goes on meanwhile
hook_mode "$P1" hang
ID_C=0123456789abcdef0123456789abcd0c
drv 'alert {"id":"'$ID_C'","key":"c","type":"large_movement","severity":"critical","title":"C"}'
wait_for 5 grep -q "$ID_C" "$TMP/slack.jsonl" || fail "slack blocked by the hanging hook"
wait_count 10 "$TMP/hook.jsonl" "$ID_C" 2 || fail "hanging attempt never timed out"
drv "cmd stats"
case "$ANSWER" in *"Timeout was reached"*|*"timed out"*) ;; *) fail "no timeout error in stats: $ANSWER" ;; esac
hook_mode "$P1" 200
drv "wait-idle 10"; assert_eq idle "$ANSWER" "C delivered after the hang"
pass "hanging peer: timed out, retried, other channel unaffected"

# --- close: the peer drops the connection without an answer
hook_mode "$P1" close
ID_D=0123456789abcdef0123456789abcd0d
drv 'alert {"id":"'$ID_D'","key":"d","type":"large_movement","severity":"critical","title":"D"}'
wait_count 10 "$TMP/hook.jsonl" "$ID_D" 2 || fail "no retry after an early close"
hook_mode "$P1" 200
drv "wait-idle 10"; assert_eq idle "$ANSWER" "D delivered after early closes"
assert_eq 1 "$(grep "$ID_D" "$TMP/hook.jsonl" | grep -c '"status": 200')" "D acknowledged once"
stat hook sent; assert_eq 5 "$STAT" "hook sent A B E C D"
stat slack sent; assert_eq 5 "$STAT" "slack sent A B E C D"
drv "metric alerting.delivered"; set -- $ANSWER; assert_eq 10 "$3" "alerting.delivered samples"
[ -z "$(ls -A "$TMP/data/alerts/outbox/hook")" ] || fail "outbox not empty after delivery"
pass "peer closing early: retried, delivered once"
drv_quit
