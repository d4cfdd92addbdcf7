#!/usr/bin/env bash
# System happy path: the simulated chain (replayed top-1000 snapshots, then
# synthetic whale transfers), a webhook receiver and rolloutd --speed on a
# four-phase plan (tests/e2e/plans-system/system.yaml).  The plan must
# complete with every gate on real data, and the delivered alerts must be
# what the chain's ground truth implies (plans-system/check.py): candidate
# alerts exactly the truth's large movements, complete at 100 % traffic,
# each account served by one system per traffic span, all at the webhook.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"

# the replay is quiet for hours: start with dense synthetic activity instead
sys_chain --activity 10 --synthetic-from 0
sys_hook
sys_daemon
sys_go
sys_wait_exit 80
[ "$DRC" = 0 ] || { sys_dump; fail "rolloutd exited with $DRC"; }
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true

# every gate of every phase passed on samples, none on "no data"
$PY - "$DATA/state/journal.jsonl" <<'PY' || { sys_dump; fail "gates"; }
import json, sys
passed = {}
for l in open(sys.argv[1]):
    j = json.loads(l)
    for i in j.get("inputs", []):
        if "gate" in i:
            if i["verdict"] != "pass":
                sys.exit("gate %s: %s (%s)" % (i["gate"], i["verdict"], i.get("detail")))
            if not i.get("samples"):
                sys.exit("gate %s passed without samples" % i["gate"])
            passed.setdefault(j["from"]["phase"], []).append(i["gate"])
want = {"foundation", "parallel", "gradual", "production"}
if set(passed) != want:
    sys.exit("phases with passed gates: %s" % sorted(passed))
print("gates:", {k: len(v) for k, v in passed.items()})
PY
$PY "$CHECK" happy "$TMP" "$SNAPS" || { sys_dump; fail "alerts against the ground truth"; }
pass "system happy path"
