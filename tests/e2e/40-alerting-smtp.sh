#!/usr/bin/env bash
# Alerting, email channel against real SMTP servers on loopback (Debian's
# python3-aiosmtpd): the RFC 5322 message and the envelope; AUTH with
# SMTP_USER/SMTP_PASS; a server that rejects AUTH; a server that goes away
# mid-session and comes back; STARTTLS (auto and always, with a private CA)
# and `starttls: always` refusing a server without it.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fakes/webhookd/e2e.sh"

cat >"$TMP/alerting.yaml" <<YAML
channels:
  - email: { from: "rolloutd@example.com", starttls: auto, timeout: 3s }
retry: { initial: 100ms, max: 300ms }
YAML

# --- 1. the stock aiosmtpd Mailbox handler; server and recipients from the environment
PORT=$(free_port)
bg $PY -m aiosmtpd -n -l "127.0.0.1:$PORT" -c aiosmtpd.handlers.Mailbox "$TMP/maildir" >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
export SMTP_HOST="127.0.0.1:$PORT" ALERT_EMAIL="ops@example.com, oncall@example.org"
unset SMTP_USER SMTP_PASS
drv_start "$TMP/alerting.yaml" "$TMP/data1"
ID=00112233445566778899aabbccddeeff
drv 'alert {"id":"'$ID'","key":"k","type":"large_movement","severity":"critical","title":"Wal bewegt 1 000 000 DOT — Größe","message":"Binance.com sent 1,000,000 DOT\nsecond line\n.\nline after a lone dot","time_ms":1795762908393,"account":"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5","label":"Binance.com","amount_planck":"10000000000000000","amount_tokens":"-1000000","amount_negative":true,"block_from":7,"block_to":7,"system":"candidate"}'
assert_eq "ok $ID" "$ANSWER" "on_alert"
drv "wait-idle 15"; assert_eq idle "$ANSWER" "mail delivered"
$PY - "$TMP/maildir" "$ID" "$(hostname)" <<'PY' || fail "message as received"
import email.utils, mailbox, sys
from email.header import decode_header, make_header
msgs = list(mailbox.Maildir(sys.argv[1], create=False))
assert len(msgs) == 1, len(msgs)
m = msgs[0]
aid, host = sys.argv[2], sys.argv[3]
# envelope, as recorded by aiosmtpd's Message handler
assert m["X-MailFrom"] == "rolloutd@example.com", m["X-MailFrom"]
assert m["X-RcptTo"].replace(" ", "") == "ops@example.com,oncall@example.org", m["X-RcptTo"]
# RFC 5322 headers
d = email.utils.parsedate_to_datetime(m["Date"])
assert d.utcoffset().total_seconds() == 0 and d.timestamp() == 1795762908, m["Date"]
assert m["Date"] == "Fri, 27 Nov 2026 07:01:48 +0000", m["Date"]
assert m["Message-ID"] == "<%s.alert@rolloutd.%s>" % (aid, host), m["Message-ID"]
assert m["From"] == "rolloutd@example.com"
assert m["To"] == "ops@example.com, oncall@example.org", m["To"]
subj = str(make_header(decode_header(m["Subject"])))
assert subj == "[rolloutd CRITICAL] Wal bewegt 1 000 000 DOT — Größe", subj
assert m["Subject"].startswith("=?UTF-8?B?"), m["Subject"]
assert m["MIME-Version"] == "1.0"
assert m.get_content_type() == "text/plain" and m.get_content_charset() == "utf-8"
assert m["X-Rollout-Alert-Id"] == aid
body = m.get_payload(decode=True).decode("utf-8")
lines = body.replace("\r\n", "\n").split("\n")
assert lines[0] == "Wal bewegt 1 000 000 DOT — Größe", lines[0]
assert "Binance.com sent 1,000,000 DOT\nsecond line\n.\nline after a lone dot" in body.replace("\r\n", "\n"), body
for want in ["Severity:  critical", "Account:   15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5",
             "Amount:    -1000000 DOT (10000000000000000 planck)", "Blocks:    #7",
             "Alert id:  " + aid, "System:    candidate"]:
    assert want in lines, (want, lines)
PY
drv "cmd test"
case "$ANSWER" in 'reply 0 {'*'"email":{"type":"email","result":"sent"'*'"ok":true}') ;; *) fail "test command: $ANSWER" ;; esac
drv_quit
pass "RFC 5322 message, envelope and recipients (aiosmtpd Mailbox)"

# --- 2. AUTH with SMTP_USER / SMTP_PASS
PORT=$(free_port)
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/auth" auth alerts@example.com 'pa55 word' >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
export SMTP_HOST="127.0.0.1:$PORT" ALERT_EMAIL="ops@example.com" SMTP_USER=alerts@example.com SMTP_PASS='pa55 word'
drv_start "$TMP/alerting.yaml" "$TMP/data2"
drv "cmd critical"
case "$ANSWER" in *'"email":{"type":"email","result":"sent"'*) ;; *) fail "critical over AUTH: $ANSWER" ;; esac
assert_contains "$TMP/auth/auth.log" "ok" "AUTH accepted"
$PY - "$TMP/auth" <<'PY' || fail "authenticated message"
import json, sys, glob, email
metas = sorted(glob.glob(sys.argv[1] + "/*.json"))
assert len(metas) == 1, metas
meta = json.load(open(metas[0]))
assert meta["auth"] is True and meta["rcpt_tos"] == ["ops@example.com"], meta
assert meta["mail_from"] == "rolloutd@example.com", meta
m = email.message_from_bytes(open(metas[0][:-5] + ".eml", "rb").read())
assert m["Subject"].startswith("[rolloutd CRITICAL] Critical test alert"), m["Subject"]
PY
drv_quit
pass "AUTH with SMTP_USER/SMTP_PASS"

# --- 3. a server that rejects AUTH: failed, retried, kept in the outbox
PORT=$(free_port)
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/reject" reject-auth >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
export SMTP_HOST="127.0.0.1:$PORT" SMTP_USER=alerts@example.com SMTP_PASS=wrong
drv_start "$TMP/alerting.yaml" "$TMP/data3"
ID=aa112233445566778899aabbccddee03
drv 'alert {"id":"'$ID'","key":"k3","type":"large_movement","severity":"warning","title":"rejected"}'
wait_count 10 "$TMP/reject/auth.log" rejected 2 || fail "AUTH not retried"
stat email failed; [ "$STAT" -ge 2 ] || fail "failed=$STAT"
stat email queued; assert_eq 1 "$STAT" "still queued"
stat email last_error
case "$STAT" in *"Login denied"*) ;; *) fail "last_error: $STAT" ;; esac
drv_quit
ls "$TMP/data3/alerts/outbox/email/"*"-$ID.json" >/dev/null || fail "rejected alert left the outbox"
[ -z "$(ls "$TMP/reject"/*.eml 2>/dev/null)" ] || fail "a message got through without AUTH"
pass "AUTH rejected: counted as failed, kept in the outbox"

# --- 4. a server that goes away mid-session, then a real one on the same port
PORT=$(free_port)
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/drop" drop >>"$TMP/smtpd.log" 2>&1
DROP_PID=$BG_PID
wait_port "$PORT"
export SMTP_HOST="127.0.0.1:$PORT"
unset SMTP_USER SMTP_PASS
drv_start "$TMP/alerting.yaml" "$TMP/data4"
ID=bb112233445566778899aabbccddee04
drv 'alert {"id":"'$ID'","key":"k4","type":"large_movement","severity":"warning","title":"comes back"}'
wait_count 10 "$TMP/drop/drops.log" connection 2 || fail "no retry after the server went away"
stat email sent; assert_eq 0 "$STAT" "nothing sent to the dropping server"
kill "$DROP_PID"; wait "$DROP_PID" 2>/dev/null || true
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/back" save >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
drv "wait-idle 15"; assert_eq idle "$ANSWER" "delivered once the server is back"
assert_contains "$TMP/back/0001.eml" "^Message-ID: <$ID.alert@" "same alert id after the outage"
drv_quit
pass "server that disappears: retried until it is back"

# --- 5. STARTTLS with a private CA; `always` refuses a server that does not offer it
mkdir -p "$TMP/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" \
  >/dev/null 2>&1 || fail "openssl req"
PORT=$(free_port)
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/tls" starttls >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
for mode in auto always; do
  cat >"$TMP/tls-$mode.yaml" <<YAML
channels:
  - email: { url: "smtp://127.0.0.1:$PORT", from: "rolloutd@example.com", to: "sec@example.com",
             starttls: $mode, ca_file: "$TMP/tls/cert.pem", timeout: 5s }
retry: { initial: 100ms, max: 300ms }
YAML
  drv_start "$TMP/tls-$mode.yaml" "$TMP/data-tls-$mode"
  drv "cmd test starttls $mode"
  case "$ANSWER" in *'"email":{"type":"email","result":"sent"'*) ;; *) fail "starttls $mode: $ANSWER" ;; esac
  drv_quit
done
$PY - "$TMP/tls" <<'PY' || fail "messages over TLS"
import glob, json, sys
metas = sorted(glob.glob(sys.argv[1] + "/*.json"))
assert len(metas) == 2, metas
for m in metas:
    meta = json.load(open(m))
    assert meta["tls"] is True and meta["rcpt_tos"] == ["sec@example.com"], meta
bodies = [open(m[:-5] + ".eml", encoding="utf-8").read() for m in metas]
assert "starttls auto" in bodies[0] and "starttls always" in bodies[1], bodies
PY
PORT=$(free_port)
bg $PY "$FAKES/smtpd.py" "$PORT" "$TMP/plain" save >>"$TMP/smtpd.log" 2>&1
wait_port "$PORT"
cat >"$TMP/tls-refuse.yaml" <<YAML
channels:
  - email: { url: "smtp://127.0.0.1:$PORT", from: "rolloutd@example.com", to: "sec@example.com",
             starttls: always, timeout: 5s }
retry: { initial: 100ms, max: 300ms }
YAML
drv_start "$TMP/tls-refuse.yaml" "$TMP/data-tls-refuse"
drv "cmd test"
case "$ANSWER" in *'"result":"failed","error":"SMTP smtp://127.0.0.1:'*) ;; *) fail "starttls always on a plain server: $ANSWER" ;; esac
drv_quit
[ -z "$(ls "$TMP/plain"/*.eml 2>/dev/null)" ] || fail "a message went out without TLS"
pass "STARTTLS auto/always with a private CA; always refuses a server without STARTTLS"
