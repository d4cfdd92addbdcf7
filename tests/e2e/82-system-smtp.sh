#!/usr/bin/env bash
# System drill: the SMTP server is down for a while.  The system plan with
# an email channel (plans-system/smtp.yaml) runs against the simulated
# chain, the webhook receiver and a real SMTP server (aiosmtpd,
# tests/fakes/webhookd/smtpd.py).  When the rollout enters parallel the SMTP
# server is stopped; alerts keep being raised (whale alerts of both
# detectors, phase notifications); later it is started again on the same
# port.
#
# The documented behaviour (rolloutd-alerting(5) Delivery, Outbox): every
# alert is written to each channel's outbox before on_alert returns, so the
# runner sees no sink error and the rollout is not affected by a peer being
# down (the plan's gates judge the detectors, not the delivery); each
# channel has its own delivery thread, so the webhook is not held up; the
# email channel retries its oldest alert with backoff (never giving up) and
# sends the queue in order once the server answers; delivery is at least
# once, a duplicate carries the same id.
#
# Checked: while SMTP is down the email channel fails and queues (stats:
# failed > 0, queued > 0, last_error), and meanwhile the webhook receives
# every alert of the history; after the restart every alert of the history
# arrives by mail (X-Rollout-Alert-Id, Message-ID), the queued ones after
# the restart and in the order they were accepted, none twice beyond the
# one in flight at the stop; the delivered alerts match the chain's ground
# truth (sys_oracle in plans-system/system.bash: candidate alerts exact and
# complete at 100 %, no id twice, all at the webhook); the rollout went on
# as documented and completed, every gate on real samples, never paused.
. "$(dirname "$0")/../lib.sh"
SYS_PLAN=$ROOT/tests/e2e/plans-system/smtp.yaml
SYS_EXIT=""   # stopped by the test once the mail queue is empty (a stop leaves it in the outbox)
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"

sys_smtp_start
SYS_ENV=(SMTP_HOST="127.0.0.1:$SMTP_PORT" ALERT_EMAIL=ops@example.com)
sys_chain --activity 30 --synthetic-from 0
sys_hook
sys_daemon
sys_go
mails() { ls "$TMP/mail" 2>/dev/null | grep -c '\.eml$' || true; }
sys_until 30 sys_phase_is parallel || { sys_dump; fail "never reached parallel: $(sys_state)"; }
has_mail() { [ "$(mails)" -ge 1 ]; }
sys_until 10 has_mail || { sys_dump; fail "no mail before the outage"; }

# --- the outage
sys_smtp_stop
t_down=$(date +%s.%N)
n_down=$(mails)
OUTBOX=$DATA/alerts/outbox/email
queued() { [ "$(ls "$OUTBOX" 2>/dev/null | grep -c '\.json$' || true)" -ge 5 ]; }
sys_until 30 queued || { sys_dump; fail "no alerts queued for email while SMTP was down"; }
# the webhook is not held up: it catches up with the whole history meanwhile
hook_has_all() {
  $PY - "$DATA/alerts/history.jsonl" "$TMP/hook.jsonl" <<'PY'
import json, sys
hist = {json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()}
hook = {json.loads(l)["headers"].get("x-rollout-alert-id") for l in open(sys.argv[2]) if l.strip()}
sys.exit(0 if hist <= hook else 1)
PY
}
sys_until 10 hook_has_all || { sys_dump; fail "the webhook fell behind while SMTP was down"; }
sys_post /api/plugins/alerting/stats '{}' >"$TMP/stats-down.json" || fail "alerting stats"
ls "$OUTBOX" | grep '\.json$' >"$TMP/queued.txt"
[ "$(mails)" = "$n_down" ] || fail "mail arrived while the server was down"
sleep 2
t_up=$(date +%s.%N)
sys_smtp_start
echo "SMTP down $(awk "BEGIN{printf \"%.1f\", $t_up - $t_down}") s: $(wc -l <"$TMP/queued.txt") alerts queued for email ($(sys_state))"

completed() { [ "$(sys_state | cut -d' ' -f1)" = completed ]; }
sys_until 80 completed || { sys_dump; fail "the rollout did not complete: $(sys_state)"; }
# the last mails of the run (the completion notification among them)
sys_drain 20
kill "$DPID"; wait "$DPID" 2>/dev/null || true
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true

$PY - "$TMP" "$t_up" <<'PY' || { sys_dump; fail "SMTP outage"; }
import email, glob, json, os, sys
tmp, t_up = sys.argv[1], float(sys.argv[2])
stats = json.load(open(os.path.join(tmp, "stats-down.json")))["reply"]["channels"]
em, wh = stats["email"], stats["webhook"]
if not (em["failed"] > 0 and em["queued"] > 0 and em["last_error"]):
    sys.exit("email stats during the outage: %s" % em)
print("during the outage: email failed %d, queued %d (%s); webhook sent %d, queued %d" %
      (em["failed"], em["queued"], em["last_error"][:60], wh["sent"], wh["queued"]))
hist = [json.loads(l) for l in open(os.path.join(tmp, "data/alerts/history.jsonl"))]
mails = []
for path in sorted(glob.glob(os.path.join(tmp, "mail", "*.eml"))):
    m = email.message_from_binary_file(open(path, "rb"))
    aid = m["X-Rollout-Alert-Id"]
    if not aid or not m["Message-ID"].startswith("<%s.alert@" % aid):
        sys.exit("%s: alert id %s, Message-ID %s" % (path, aid, m["Message-ID"]))
    if json.load(open(path[:-4] + ".json"))["rcpt_tos"] != ["ops@example.com"]:
        sys.exit("%s: recipients" % path)
    mails.append((aid, os.path.getmtime(path)))
ids = [a for a, _ in mails]
want = {h["id"] for h in hist}
if set(ids) != want:
    sys.exit("mail: %d alerts of the history never arrived (e.g. %s), %d mails not in the history" %
             (len(want - set(ids)), sorted(want - set(ids))[:3], len(set(ids) - want)))
dups = len(ids) - len(set(ids))
if dups > 1:
    sys.exit("%d alerts arrived twice by mail (at least once allows the one in flight)" % dups)
# the alerts queued during the outage arrived after the restart, in acceptance order
queued = [l.strip().rsplit("-", 1)[1][:-5] for l in open(os.path.join(tmp, "queued.txt")) if l.strip()]
first = {}
for i, (a, t) in enumerate(mails):
    first.setdefault(a, (i, t))
late = [a for a in queued if first[a][1] < t_up]
if late:
    sys.exit("%d queued alerts were mailed before the server came back" % len(late))
order = [first[a][0] for a in queued]
if order != sorted(order):
    sys.exit("the queued alerts were mailed out of order")
print("mail: %d messages, every one of the %d alerts of the history (%d duplicated); the %d queued "
      "during the outage arrived after the restart, in order" %
      (len(ids), len(want), dups, len(queued)))
PY

# the rollout went on as documented: completed, every gate on samples, never paused
$PY - "$DATA/state/journal.jsonl" <<'PY' || { sys_dump; fail "rollout during the outage"; }
import json, sys
journal = [json.loads(l) for l in open(sys.argv[1])]
tr = [j for j in journal if "seq" in j]
if tr[-1]["to"]["state"] != "completed":
    sys.exit("not completed: %s" % tr[-1]["line"])
if any(j["to"]["state"] in ("paused", "rolling_back", "aborted") for j in tr):
    sys.exit("paused, rolled back or aborted: %s" % [j["line"] for j in tr if j["to"]["state"] in
                                                     ("paused", "rolling_back", "aborted")])
for j in tr:
    for i in j.get("inputs", []):
        if "gate" in i and (i["verdict"] != "pass" or not i.get("samples")):
            sys.exit("gate %s: %s, %s samples" % (i["gate"], i["verdict"], i.get("samples")))
print("rollout: %d transitions, completed, every gate passed on samples" % len(tr))
PY
sys_oracle || { sys_dump; fail "alerts against the ground truth"; }
pass "system: SMTP down for a while"
