#!/usr/bin/env bash
# System drill: bad input from the node and from Subscan during a run.
#
# On the simulated chain, when the rollout enters parallel, the node sends
# every client its malformed messages (`malformed`: truncated JSON, not
# JSON, wrong shapes, unknown ids and subscriptions, bad hex, an
# AccountInfo of the wrong size, an out-of-range block number ...), 100
# random mutations of a real storage notification (`mutate 100 84`) and one
# message larger than max_message_bytes (`oversized`); the Subscan face
# answers the next requests truncated, with invalid JSON, with a balance of
# the wrong type, without a balance, and with a balance of 11 decimals.
#
# Checked, as documented (rolloutd-rpc_watcher(5) METRICS, rolloutd-
# subscan_poller(5), rolloutd(8) gates):
#  - the candidate counts each as an error: errors, errors_parse,
#    errors_protocol, errors_decode, errors_oversized, errors_unknown_id,
#    errors_unknown_subscription, and /api/health shows its last error;
#  - the baseline counts the transport-level ones (errors.truncated,
#    errors.invalid_json, retried within the cycle) and fails the cycle on
#    the bad rows with a log line naming the field ("balance: expected a
#    decimal string", "balance: missing", "more than 10 decimals"),
#    cycle_failures 3;
#  - no partial state: the poller's persisted snapshot
#    (plugins/baseline/snapshot.json) parses and holds 1000 accounts whose
#    totals are the chain's true values at its time; every alert either
#    detector raised during the whole run (delivered or shadow, sampled
#    from /api/alerts) carries a real amount: candidate alerts the truth's
#    exact movement of that block, baseline alerts a difference of the
#    account's true totals;
#  - the rollout gates see the errors: parallel's error-ratio gate
#    (errors / requests over 2h < 0.005) fails and the plan's on_fail rolls
#    back, the journal naming the gate and the ratio;
#  - everything recovers once the faults stop: `rollout retry` re-enters
#    parallel, whose gates now pass on clean data, and the rollout
#    completes; the delivered alerts match the ground truth (sys_oracle in
#    plans-system/system.bash: candidate alerts exact and complete at
#    100 %, no id twice, all at the webhook).
. "$(dirname "$0")/../lib.sh"
SYS_EXIT=""   # rolled back on the way: wait for completion ourselves
SYS_PLAN=$ROOT/tests/e2e/plans-system/badinput.yaml   # system.yaml, shorter gradual and production
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"

sys_chain --activity 30 --synthetic-from 0
sys_hook
sys_daemon
sys_go
# every alert either detector raises, delivered or shadow, as the API lists them
( n=0; while kill -0 "$DPID" 2>/dev/null; do
    if curl -sf -m 10 "$URL/api/alerts?limit=1000" >"$TMP/alerts.tmp" 2>>"$TMP/alerts.err"; then
      mv "$TMP/alerts.tmp" "$TMP/alerts.$((n++)).json"
    fi
    sleep 1
  done ) &
_BG_PIDS+=("$!")
sys_until 40 sys_phase_is parallel || { sys_dump; fail "never reached parallel: $(sys_state)"; }
# The faults come in the middle of parallel's 2h hold: the error-ratio gate
# judges the last 2h when the hold ends, so errors at its very start could
# fall out of the window on a slow machine, and errors at its end could
# come after the gate.
hold_start() {
  $PY -c 'import json,sys
h=[j for j in map(json.loads, open(sys.argv[1])) if j.get("seq") and j["to"]["state"] == "holding"
   and j["to"]["phase"] == "parallel"]
sys.exit(0 if h and print(h[-1]["t_ms"]) is None else 1)' "$DATA/state/journal.jsonl"
}
sys_until 20 hold_start >/dev/null || { sys_dump; fail "parallel never held"; }
t_mid=$(($(hold_start) + 3600000))
mid_hold() { [ "$(curl -sf "$URL/api/status" | $PY -c 'import json,sys; print(json.load(sys.stdin)["time_ms"])')" -ge "$t_mid" ]; }
sys_until 30 mid_hold || { sys_dump; fail "never reached the middle of parallel's hold"; }

# --- the faults
node() { curl -sf -X POST --data "$1" "http://127.0.0.1:$NODE_PORT/control" || fail "node control $1"; }
sent=$(node malformed)
[[ $sent == "sent "[1-9]* ]] || fail "malformed: $sent"
sent=$(node "mutate 100 84")
[ "$sent" = "sent 100" ] || fail "mutate: $sent"
node "oversized 17000000" >/dev/null
for f in truncate invalid_json wrong_type missing_field decimals; do
  curl -sf -X POST --data "$f:1" "$SIM/_fake/fault" >/dev/null || fail "Subscan fault $f"
done
metric_count() {
  curl -sf "$URL/api/metrics" | $PY -c 'import json,sys
v=json.load(sys.stdin)["values"].get(sys.argv[1]); print(v["samples"] if v else 0)' "$1"
}
cycles_failed() { [ "$(metric_count baseline.cycle_failures)" -ge 3 ]; }
sys_until 30 cycles_failed || { sys_dump; fail "the baseline's cycles did not fail on the bad rows"; }
candidate_errors() { [ "$(metric_count candidate.errors)" -ge 50 ]; }
sys_until 10 candidate_errors || { sys_dump; fail "candidate errors: $(metric_count candidate.errors)"; }
get() {   # get ROUTE FILE: 200 with a body, or fail showing what came back
  local code
  code=$(curl -s -o "$2" -w '%{http_code}' "$URL$1") || true
  [ "$code" = 200 ] || { head -c 600 "$2"; echo; sys_dump; fail "GET $1: status $code"; }
}
get /api/metrics "$TMP/metrics.json"
get /api/health "$TMP/health.json"
# the persisted snapshot after the failed cycles
cp "$DATA/plugins/baseline/snapshot.json" "$TMP/snapshot.json"

$PY - "$TMP" <<'PY' || { sys_dump; fail "errors"; }
import json, os, re, sys
tmp = sys.argv[1]
v = json.load(open(os.path.join(tmp, "metrics.json")))["values"]
n = lambda k: v[k]["samples"] if k in v else 0
want = ["candidate.errors_parse", "candidate.errors_protocol", "candidate.errors_decode",
        "candidate.errors_oversized", "candidate.errors_unknown_id",
        "candidate.errors_unknown_subscription", "baseline.errors.truncated",
        "baseline.errors.invalid_json"]
missing = [k for k in want if n(k) == 0]
if missing:
    sys.exit("no error counted as %s" % missing)
kinds = sum(n(k) for k in v if k.startswith("candidate.errors_"))
if kinds != n("candidate.errors"):
    sys.exit("candidate.errors %d, but the kinds add up to %d" % (n("candidate.errors"), kinds))
if n("baseline.cycle_failures") != 3:
    sys.exit("baseline.cycle_failures %d, expected 3 (wrong_type, missing_field, decimals)" %
             n("baseline.cycle_failures"))
h = json.load(open(os.path.join(tmp, "health.json")))["pipeline"]["plugins"]
if h["candidate"]["errors"] < n("candidate.errors") or not h["candidate"]["last_error"]:
    sys.exit("/api/health candidate: %s" % h["candidate"])
if not re.match(r"decode: accounts page \d+ row 0: balance: ", h["baseline"]["last_error"]):
    sys.exit("/api/health baseline last error: %s" % h["baseline"]["last_error"])
log = open(os.path.join(tmp, "rolloutd.log")).read()
# (the page is 0 unless the fault met a cycle in progress)
pre = r"warning baseline: subscan cycle failed \(decode\): accounts page \d+ row 0: "
for want in [r"balance: expected a decimal string, got a number", r"balance: missing",
             r'balance: amount "1\.12345678901" has more than 10 decimals']:
    if not re.search(pre + want, log):
        sys.exit("no log line: %s" % want)
print("errors: candidate %d (%s), baseline %d transport + %d failed cycles; last: %s" %
      (n("candidate.errors"), ", ".join("%s %d" % (k.split("_", 1)[1], n(k)) for k in sorted(v)
                                        if k.startswith("candidate.errors_")),
       n("baseline.errors"), n("baseline.cycle_failures"), h["candidate"]["last_error"][:80]))
PY

# --- the error-ratio gate of parallel sees them: rollback, as the plan says
rolled_back() { [ "$(sys_state | cut -d' ' -f1)" = rolled_back ]; }
sys_until 40 rolled_back || { sys_dump; fail "parallel's error-ratio gate did not roll back: $(sys_state)"; }
$PY - "$DATA/state/journal.jsonl" <<'PY' || { sys_dump; fail "the gate"; }
import json, sys
tr = [json.loads(l) for l in open(sys.argv[1])]
tr = [j for j in tr if j.get("seq") and j["to"]["state"] == "rolling_back"]
if len(tr) != 1 or tr[0]["from"]["phase"] != "parallel":
    sys.exit("rollbacks: %s" % [j["line"] for j in tr])
g = [i for i in tr[0]["inputs"] if i.get("verdict") == "fail"]
if len(g) != 1 or "candidate.errors" not in g[0]["gate"] or not g[0]["value"] >= 0.005:
    sys.exit("the failed gate: %s" % tr[0]["inputs"])
print("rolled back from parallel: %s" % tr[0]["why"][:160])
PY

# --- the faults have stopped: retry; parallel passes on clean data and the rollout completes
ctl retry >/dev/null || { sys_dump; fail "rollout retry"; }
completed() { [ "$(sys_state | cut -d' ' -f1)" = completed ]; }
sys_until 90 completed || { sys_dump; fail "the retried rollout did not complete: $(sys_state)"; }
sys_drain 20
kill "$DPID"; wait "$DPID" 2>/dev/null || true
kill "$SIM_PID" 2>/dev/null; wait "$SIM_PID" 2>/dev/null || true

$PY - "$TMP" "$SNAPS" <<'PY' || { sys_dump; fail "no partial state"; }
import glob, json, os, sys
tmp, snapdir = sys.argv[1], sys.argv[2]
DOT = 10 ** 10


def planck(tokens):
    whole, _, frac = tokens.partition(".")
    return int(whole) * DOT + int((frac + "0" * 10)[:10])


# every true total of every account over time: [(time_ms, total)]
hist = {}
for path in sorted(glob.glob(os.path.join(snapdir, "*.json"))):
    for e in json.load(open(path))["data"]["list"]:
        hist.setdefault(e["address"], [(0, planck(e["balance"]))])
moved = {}
for l in open(os.path.join(tmp, "truth.jsonl")):
    t = json.loads(l)
    tot = int(t["after"]["free"]) + int(t["after"]["reserved"])
    prev = hist.setdefault(t["account"], [(0, int(t["before"]["free"]) + int(t["before"]["reserved"]))])
    moved[(t["account"], t["block"])] = abs(tot - prev[-1][1])
    prev.append((t["time_ms"], tot))


def at(acc, t_ms):
    """The account's true totals within 6 s (a block) of T_MS."""
    h = hist.get(acc, [])
    vals = {v for (t, v) in h if t_ms - 6000 <= t <= t_ms + 6000}
    before = [v for (t, v) in h if t < t_ms - 6000]
    if before:
        vals.add(before[-1])
    return vals


# the persisted snapshot after the failed cycles: whole, and the chain's true values
snap = json.load(open(os.path.join(tmp, "snapshot.json")))
accs = snap["accounts"]
if len(accs) != 1000 or snap["decimals"] != 10 or snap["chain"] != "polkadot":
    sys.exit("snapshot.json: %d accounts, decimals %s" % (len(accs), snap["decimals"]))
wrong = [a["address"] for a in accs
         if int(a["free"]) + int(a["reserved"]) != int(a["total"]) or
         int(a["total"]) not in at(a["address"], snap["taken_ms"])]
if wrong:
    sys.exit("snapshot.json: %d accounts with values the chain never had, e.g. %s" % (len(wrong), wrong[:3]))

# every alert raised, delivered or not, carries a real amount
seen = {}
for path in glob.glob(os.path.join(tmp, "alerts.*.json")):
    try:
        for a in json.load(open(path))["alerts"]:
            seen[a["id"]] = a
    except ValueError:
        pass   # the last sample may be cut by the daemon's exit
whale = [a for a in seen.values() if a["type"] == "large_movement"]
cand = [a for a in whale if a["system"] == "candidate"]
base = [a for a in whale if a["system"] == "baseline"]
if not any(a.get("route") == "shadow" for a in cand) or not base:
    sys.exit("GET /api/alerts gave %d samples: %d candidate (shadow and delivered) and %d baseline "
             "alerts; the check needs both" % (len(glob.glob(os.path.join(tmp, "alerts.*.json"))),
                                                len(cand), len(base)))
bad = [a["id"] for a in cand if moved.get((a["account"], a["block_to"])) != int(a["amount_planck"])]
if bad:
    sys.exit("%d of %d candidate alerts with an amount the chain never moved, e.g. %s" %
             (len(bad), len(cand), [seen[i]["key"] for i in bad[:3]]))
bad = []
for a in base:
    vals = [v for _, v in hist.get(a["account"], [])]
    amt = int(a["amount_planck"])
    if not any(abs(x - y) == amt for i, x in enumerate(vals) for y in vals[i + 1:]):
        bad.append(a["key"])
if bad:
    sys.exit("%d of %d baseline alerts with an amount that is no difference of true totals, e.g. %s" %
             (len(bad), len(base), bad[:3]))
shadow = sum(1 for a in cand if not a.get("delivered"))
print("no partial state: snapshot.json whole and true (%d accounts); %d candidate alerts (%d shadow) "
      "and %d baseline alerts raised, all with real amounts" % (len(accs), len(cand), shadow, len(base)))
PY
sys_oracle || { sys_dump; fail "alerts against the ground truth"; }
pass "system: bad input from the node and Subscan"
