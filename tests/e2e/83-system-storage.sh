#!/usr/bin/env bash
# System drill, storage: on the simulated chain, once the rollout is in
# gradual (traffic 50 %), DATA/state/ (state.json, journal.jsonl) is made
# really read-only.  rolloutd must pause with reason "storage" at its next
# write (the end of gradual's hold) and not move on while the gates pass,
# alerts must keep flowing (alerts/ stays writable: the drill is about the
# journal; the outbox and history are the alerting plugin's), the pause must
# reach the webhook as an alert; then state/ is made writable again and the
# rollout must resume by itself, complete, with a journal whose seq runs
# 1..N without a gap or a duplicate and that explains the pause and the
# recovery; the delivered alerts must still match the chain's ground truth.
#
# Root ignores file modes, so as root rolloutd runs as nobody (setpriv)
# with the data directory chowned to it.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"

. "$ROOT/tests/e2e/plans-system/storage.bash"
hook_count() { wc -l <"$TMP/hook.jsonl" 2>/dev/null || echo 0; }

sys_chain --activity 10 --synthetic-from 0
sys_hook
st_daemon --exit-when-done
sys_go
until_s 60 gradual_or_stuck || { sys_dump; fail "never held gradual at 50 %: $(sys_state)"; }

# the disk goes read-only under the state: directory and files
seq_before=$(status seq)
chmod -R a-w "$DATA/state"
"${RUNAS[@]}" touch "$DATA/state/.probe" 2>/dev/null && fail "state/ is still writable for rolloutd"
cp "$DATA/state/journal.jsonl" "$TMP/journal.before"
t_ro=$SECONDS

# gradual's hold (3 h = 18 s at 600x) ends: the gate would pass, the engine cannot write
until_s 45 paused_storage || { sys_dump; fail "did not pause for storage: $(status state pause_reason phase)"; }
has '"phase":"gradual"' '"traffic":50' || fail "moved while pausing: $(status phase traffic)"
has '"storage":{"ok":false' 'Permissiondenied' || fail "status.storage does not say why: $(status storage)"
# the operator cannot push it on while the disk refuses
TOKEN=$(cat "$DATA/state/api.token")
code=$(curl -s -o "$TMP/resume.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data '{}' "$URL/api/rollout/resume")
[ "$code" -ge 400 ] || fail "resume accepted while the state is read-only: $code $(cat "$TMP/resume.json")"
grep -q "resumes by itself" "$TMP/resume.json" || fail "resume refusal does not say why: $(cat "$TMP/resume.json")"

# it stays there while the gates would pass (4 s = 40 minutes = 40 ticks) and alerts flow
h0=$(hook_count)
sleep 4
grown() { (($(hook_count) > h0)); }
until_s 6 grown || true
paused_storage && has '"phase":"gradual"' '"traffic":50' ||
  { sys_dump; fail "left the storage pause while read-only: $(status state pause_reason phase traffic)"; }
cmp -s "$DATA/state/journal.jsonl" "$TMP/journal.before" || fail "the read-only journal changed"
h1=$(hook_count)
(( h1 > h0 )) || fail "no alert reached the webhook while state/ was read-only ($h0 -> $h1)"
grep -q "storage not writable" "$TMP/hook.jsonl" || fail "the storage pause was not alerted"
queued=$(status storage.queued)
echo "read-only for $((SECONDS - t_ro)) s: $((h1 - h0)) alerts delivered, $queued journal records waiting, seq $seq_before -> $(status seq)"

# writable again: resumes by itself and completes
chmod -R u+w "$DATA/state"
until_s 20 not_storage ||
  { sys_dump; fail "did not resume after the disk came back"; }
sys_wait_exit 60
[ "$DRC" = 0 ] || { sys_dump; fail "rolloutd exited with $DRC"; }
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true

$PY - "$DATA/state/journal.jsonl" "$queued" <<'PY' || { sys_dump; fail "journal"; }
import json, sys
journal = [json.loads(l) for l in open(sys.argv[1])]
queued = int(sys.argv[2])
recs = [j for j in journal if "seq" in j]
seqs = [j["seq"] for j in recs]
if seqs != list(range(1, len(seqs) + 1)):
    sys.exit("seq not 1..%d without gap or duplicate: %s" % (len(seqs), seqs))
if recs[-1]["to"]["state"] != "completed":
    sys.exit("not completed: %s" % recs[-1]["line"])
p = [i for i, j in enumerate(recs) if j.get("pause_reason") == "storage"]
if len(p) != 1:
    sys.exit("%d storage pauses in the journal" % len(p))
p = p[0]
pause, before, after = recs[p], recs[p - 1], recs[p + 1]
if "Permission denied" not in pause["why"] or pause["to"]["phase"] != "gradual":
    sys.exit("the pause does not explain itself: %s" % pause["line"])
# the record that could not be written first (the hold's end) is there, once, before the pause
if before["to"]["state"] != "gating" or before["to"]["phase"] != "gradual":
    sys.exit("the record before the pause is not gradual's gating: %s" % before["line"])
if "storage writable again" not in after["why"] or after["from"]["state"] != "paused":
    sys.exit("the record after the pause is not the recovery: %s" % after["line"])
if after["t_ms"] - pause["t_ms"] < 30 * 60 * 1000:
    sys.exit("paused for less than 30 minutes of chain time: %d ms" % (after["t_ms"] - pause["t_ms"]))
if after["to"]["phase"] != "gradual" or after["traffic"] != 50:
    sys.exit("moved on during the pause: %s" % after["line"])
entered = [j for j in recs if j["to"]["phase"] == "gradual" and j["from"]["phase"] != "gradual"]
if len(entered) != 1:
    sys.exit("gradual entered %d times" % len(entered))
print("journal: %d records, seq 1..%d, storage pause at %d (%s), recovery at %d, %d queued while read-only"
      % (len(recs), len(recs), p + 1, pause["why"].split("; ")[0][-60:], p + 2, queued))
PY
# the ground truth (sys_oracle, plans-system/system.bash): candidate alerts exact, complete at
# 100 % for accounts clearly inside the top, all at the webhook, no id twice (no kill here)
sys_oracle || { sys_dump; fail "alerts against the ground truth"; }
pass "system storage drill"
