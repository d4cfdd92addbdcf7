#!/usr/bin/env bash
# System drill: kill -9 of rolloutd DURING an emergency rollback, at four
# points between the decision and the end of the rollback, then restart.
#
# rolloutd's rollback (rolloutd(8) STATES, runner/engine.c) is: state.json
# says rolling_back (with the journal record as "pending") -> the journal
# record -> the flags write (its audit records, then hybridTrafficPercent 0,
# enableHybridSystem false, emergencyRollback true into a temporary file,
# renamed into place, the directory fsynced) -> state.json says rolled_back
# -> its journal record.  That takes well under a
# millisecond, so a timed kill cannot land inside it reliably.  Here strace
# attaches to the running daemon just before POST /api/emergency/rollback and
# delivers SIGKILL on entry to one chosen system call (a file of the data
# directory, by path), so each kill lands exactly where it is meant to:
#   K1  the append of the rolling_back record to the journal (state.json has
#       it as pending, the journal does not, the flags still say 50 %)
#   K2  the rename of the new flags file (written to its temporary file,
#       not in place: the flags still say 50 %)
#   K3  the fsync of the flags' directory right after the rename (the new
#       flags in place, not yet known to be durable: traffic 0)
#   K4  the rename of state.json to rolled_back (flags and audit done)
# Each kill is checked to have landed where intended (state, journal and
# flags as left by the dead process), then rolloutd is started again on the
# same data directory and must finish the rollback by itself: state
# rolled_back, flags hybridTrafficPercent 0 / enableHybridSystem false /
# emergencyRollback true, the journal contiguous (seq 1..N, every record
# once) with the rollback's reason and who asked.  Between drills
# `rollout retry` re-enters gradual at 50 % (plans-system/rollback.yaml:
# gradual holds 48h, so no other transition writes anything meanwhile).
# The chain is held still during the kills (as in 80-system-faults: at 600x
# a restart's warm-up exceeds the shadow's lag tolerance), then runs again:
# the legacy poller must keep alerting while rolled back, only legacy; every
# alert of the history must have reached the webhook (none lost across the
# four kills) and every candidate alert must carry the truth's exact amount.
#
# Not checked here, see the report of issue 11 (h5): the critical "rollout
# rolled back" notification of a rollback finished by a restart.
. "$(dirname "$0")/../lib.sh"
SYS_EXIT=""   # a restarted daemon must not stop at rolled_back
SYS_PLAN=$ROOT/tests/e2e/plans-system/rollback.yaml   # gradual holds 48h: no other transition
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"
command -v strace >/dev/null || fail "strace is needed (apt-get install strace)"

J=$DATA/state/journal.jsonl
ST=$DATA/state/state.json
FL=$DATA/config/feature-flags.conf

sys_chain --activity 30 --synthetic-from 0
sys_hook
sys_daemon
sys_go
sys_until 40 sys_phase_is gradual || { sys_dump; fail "never reached gradual: $(sys_state)"; }
traffic50() { [ "$(sys_flag hybridTrafficPercent)" = 50 ] && [ "$(sys_state | cut -d' ' -f1)" = holding ]; }
sys_until 20 traffic50 || { sys_dump; fail "gradual never held at 50 %: $(sys_state)"; }
curl -sf -X POST "$SIM/_sim/hold" >/dev/null || fail "POST /_sim/hold"
sleep 1

# state_of: "STATE SEQ" from state.json; jseq: the last seq in the journal
state_of() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["state"], d["seq"])' "$ST"; }
jseq() { $PY -c 'import json,sys
s=[json.loads(l).get("seq") for l in open(sys.argv[1])]
print(max(x for x in s if x is not None))' "$J"; }

# drill NAME STRACE-ARGS...: attach strace (SIGKILL on the chosen call),
# POST the rollback, wait for the death.  Only the main thread is traced
# (the HTTP API and the engine run there; the other threads run untraced).
drill() {
  local name=$1 i
  shift
  strace -qq -p "$DPID" -o "$TMP/strace.$name" "$@" &
  local spid=$!
  _BG_PIDS+=("$spid")
  # strace is attached once the daemon's status shows a tracer
  for ((i = 0; i < 100; i++)); do
    grep -qE '^TracerPid:[[:space:]]+[1-9]' "/proc/$DPID/status" 2>/dev/null && break
    sleep 0.05
  done
  grep -qE '^TracerPid:[[:space:]]+[1-9]' "/proc/$DPID/status" || fail "$name: strace did not attach"
  KILL_T0=$(date +%s.%N)
  sys_post /api/emergency/rollback "{\"reason\":\"drill $name\"}" >"$TMP/post.$name" 2>&1 || true
  for ((i = 0; i < 100; i++)); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$DPID" 2>/dev/null; then
    kill "$spid" 2>/dev/null || true
    sys_dump
    fail "$name: rolloutd survived the rollback (the kill point was never reached): $(sys_state)"
  fi
  local rc=0
  wait "$DPID" 2>/dev/null || rc=$?
  wait "$spid" 2>/dev/null || true
  [ "$rc" = 137 ] || { sys_dump; fail "$name: rolloutd ended with status $rc, not by SIGKILL"; }
  echo "$name: killed ($(state_of), journal at $(jseq), flags traffic $(sys_flag hybridTrafficPercent))"
}

# after_kill NAME WANT-STATE FLAGS-TRAFFIC JOURNAL-BEHIND: where the kill landed
after_kill() {
  local name=$1 st seq js tr
  read -r st seq <<<"$(state_of)"
  js=$(jseq)
  tr=$(sys_flag hybridTrafficPercent)
  [ "$st" = "$2" ] || { sys_dump; fail "$name: state.json says $st, expected $2"; }
  [ "$tr" = "$3" ] || { sys_dump; fail "$name: flags traffic $tr, expected $3"; }
  [ $((seq - js)) = "$4" ] || { sys_dump; fail "$name: journal at seq $js, state at $seq (expected $4 behind)"; }
}

# restart: rolloutd again on the same data directory; it must finish the rollback
restart() {
  local name=$1
  mv "$TMP/rolloutd.log" "$TMP/rolloutd.log.$name"
  sys_daemon
  rolled_back() { [ "$(sys_state | cut -d' ' -f1)" = rolled_back ]; }
  sys_until 30 rolled_back || { sys_dump; fail "$name: the restarted rolloutd did not finish the rollback: $(sys_state)"; }
  [ "$(sys_flag hybridTrafficPercent)" = 0 ] || fail "$name: flags traffic $(sys_flag hybridTrafficPercent) after restart"
  [ "$(sys_flag enableHybridSystem)" = false ] || fail "$name: enableHybridSystem $(sys_flag enableHybridSystem) after restart"
  [ "$(sys_flag emergencyRollback)" = true ] || fail "$name: emergencyRollback $(sys_flag emergencyRollback) after restart"
  # the API agrees with the file
  ctl status | $PY -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["traffic"] == 0 else "API traffic %s" % d["traffic"])' ||
    fail "$name: status after restart"
  echo "$name: restarted, rolled back ($(state_of), journal at $(jseq))"
}

retry() {
  ctl retry >/dev/null || { sys_dump; fail "rollout retry"; }
  sys_until 20 traffic50 || { sys_dump; fail "retry: not back at 50 %: $(sys_state)"; }
  sleep 0.5
}

# K1: the journal append of the rolling_back record
drill K1 -P "$J" -e trace=write -e inject=write:signal=SIGKILL:when=1
after_kill K1 rolling_back 50 1
restart K1
grep -q "appended record .* written to the state before a crash" "$TMP/rolloutd.log" ||
  fail "K1: the restarted rolloutd did not append the pending record"
retry

# K2: the rename of the new flags file into place
drill K2 -P "$FL.tmp.$DPID" -e trace=rename -e inject=rename:signal=SIGKILL:when=1
after_kill K2 rolling_back 50 0
restart K2
retry

# K3: the fsync of the flags directory, just after the rename (flags in place)
drill K3 -P "$DATA/config" -e trace=openat -e inject=openat:signal=SIGKILL:when=1
after_kill K3 rolling_back 0 0
restart K3
retry

# K4: the rename of state.json to rolled_back
drill K4 -P "$ST.tmp.$DPID" -e trace=rename -e inject=rename:signal=SIGKILL:when=2
after_kill K4 rolling_back 0 0
restart K4

# the chain runs again; the legacy poller alerts while rolled back
# (by position in the history: under --speed a restarted daemon's clock starts again at the wall clock)
n_go=$(wc -l <"$DATA/alerts/history.jsonl")
# Activity resumes on the chain's own time line (no /_sim/go T_MS as in
# sys_go): under --speed a restarted rolloutd's clock starts again at the
# wall clock, hours of chain time behind, and the chain would wait for it.
curl -sf -X POST "$SIM/_sim/go" >/dev/null || fail "POST /_sim/go"
legacy_alerts() {
  [ "$(tail -n +$((n_go + 1)) "$DATA/alerts/history.jsonl" | grep -c '"large_movement"' || true)" -ge 5 ]
}
sys_until 30 legacy_alerts || { sys_dump; fail "no legacy alerts while rolled back"; }
[ "$(sys_state | cut -d' ' -f1)" = rolled_back ] || { sys_dump; fail "left rolled_back by itself: $(sys_state)"; }
sys_drain 20
kill "$DPID"; wait "$DPID" 2>/dev/null || true
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true
for f in "$TMP"/rolloutd.log.K*; do cat "$f" >>"$TMP/rolloutd.log"; done

$PY - "$J" "$DATA/alerts/history.jsonl" "$n_go" "$TMP/hook.jsonl" "$TMP/truth.jsonl" <<'PY' || { sys_dump; fail "after the drills"; }
import json, sys
journal = [json.loads(l) for l in open(sys.argv[1])]
hist = [json.loads(l) for l in open(sys.argv[2])]
n_go = int(sys.argv[3])
hook = [json.loads(l) for l in open(sys.argv[4])]
truth = [json.loads(l) for l in open(sys.argv[5])]
tr = [j for j in journal if "seq" in j]
seqs = [j["seq"] for j in tr]
if seqs != list(range(1, len(seqs) + 1)):
    sys.exit("journal not contiguous: %s" % seqs)
rb = [j for j in tr if j["to"]["state"] == "rolling_back"]
done = [j for j in tr if j["to"]["state"] == "rolled_back"]
if len(rb) != 4 or len(done) != 4:
    sys.exit("%d rolling_back and %d rolled_back records, expected 4 each" % (len(rb), len(done)))
for k, (a, b) in enumerate(zip(rb, done), 1):
    if a.get("who") != "api" or a.get("addr") != "127.0.0.1" or a["why"] != "drill K%d" % k:
        sys.exit("rollback K%d: who %s@%s, why %s" % (k, a.get("who"), a.get("addr"), a["why"]))
    if b["seq"] != a["seq"] + 1 or b["traffic"] != 0:
        sys.exit("K%d: rolled_back record %s after %s" % (k, b["seq"], a["seq"]))
    if "after a restart" not in b["why"]:
        sys.exit("K%d: the rollback was not completed by the restart: %s" % (k, b["why"]))
# the flags' audit trail: the last emergencyRollback write is "true"
flag = [j for j in journal if j.get("kind") == "flag" and j.get("flag") == "emergencyRollback"]
if not flag or flag[-1]["new"] is not True:
    sys.exit("audit: emergencyRollback records %s" % [(f["new"], f["reason"]) for f in flag])
print("journal: %d transitions, contiguous, 4 rollbacks (who api, why 'drill Kn') completed after "
      "restarts; %d emergencyRollback audit records" % (len(tr), len(flag)))
# legacy keeps alerting while rolled back, and only legacy
legacy = [h for h in hist[n_go:] if h.get("type") == "large_movement"]
if not legacy or any(h["system"] != "baseline" for h in legacy):
    sys.exit("while rolled back: %d whale alerts, systems %s" % (len(legacy), {h["system"] for h in legacy}))
# none lost on the way: every alert of the history reached the webhook, nothing else did
hook_ids = {l["headers"].get("x-rollout-alert-id") for l in hook}
hist_ids = {h["id"] for h in hist}
lost = hist_ids - hook_ids
if lost:
    sys.exit("%d alerts of the history never reached the webhook, e.g. %s" % (len(lost), sorted(lost)[:3]))
if hook_ids - hist_ids:
    sys.exit("the webhook got %d alerts the history does not have" % len(hook_ids - hist_ids))
# candidate alerts (before the rollbacks) carry the truth's exact amounts
moved = {}
for t in truth:
    d = abs(int(t["after"]["free"]) + int(t["after"]["reserved"]) -
            int(t["before"]["free"]) - int(t["before"]["reserved"]))
    moved[(t["account"], t["block"])] = d
cand = [h for h in hist if h.get("type") == "large_movement" and h["system"] == "candidate"]
bad = [h["id"] for h in cand if moved.get((h["account"], h["block_to"])) != int(h["amount"]["planck"])]
if bad:
    sys.exit("%d candidate alerts not in the ground truth, e.g. %s" % (len(bad), bad[:3]))
print("%d baseline alerts while rolled back; %d alerts, all at the webhook; %d candidate alerts "
      "match the truth" % (len(legacy), len(hist_ids), len(cand)))
PY
# every rollback reaches the humans as a critical "rollback" notification, also when a restart finished it
$PY - "$DATA/alerts/history.jsonl" "$TMP/hook.jsonl" <<'PY' || fail "rollback notifications"
import json, sys
hist = [json.loads(l) for l in open(sys.argv[1])]
hook = {json.loads(l)["headers"].get("x-rollout-alert-id") for l in open(sys.argv[2])}
notes = [h for h in hist if h.get("rollout") and h["type"] == "rollback" and h["severity"] == "critical"]
missing = [k for k in range(1, 5) if not any("drill K%d" % k in h["message"] for h in notes)]
if missing:
    sys.exit("no critical rollback notification for drills %s (%d notifications)" % (missing, len(notes)))
if any(h["id"] not in hook for h in notes):
    sys.exit("a rollback notification never reached the webhook")
print("4 critical rollback notifications, all at the webhook")
PY
pass "system: kill -9 at four points of an emergency rollback, each finished on restart"
