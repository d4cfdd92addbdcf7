#!/usr/bin/python3
"""check.py -- the system tests' oracle: compares what rolloutd delivered
with what the simulated chain's ground truth implies, independently of
rolloutd's own code.

    check.py MODE TMPDIR SNAPSHOT_DIR

MODE: happy | badcand | faults.  Reads TMPDIR/truth.jsonl (every change the
chain made), TMPDIR/data/alerts/history.jsonl (delivered alerts, file
channel), TMPDIR/data/state/journal.jsonl and TMPDIR/hook.jsonl (webhook
deliveries).  Exits 1 with the reasons on the first failed property.
"""
import glob
import json
import os
import sys

DOT = 10 ** 10
INFO = 10000 * DOT           # large movement: |delta(free + reserved)| >= 10k DOT
MARGIN_MS = 20 * 60 * 1000   # keep away from traffic changes (routing catches up)
TOP = 1000
RANK_SLACK = 20              # accounts ranked near the top-1000 edge are not judged

mode, tmp, snapdir = sys.argv[1], sys.argv[2], sys.argv[3]
errors = []


def err(msg):
    errors.append(msg)


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def planck(tokens):
    whole, _, frac = tokens.partition(".")
    return int(whole) * DOT + int((frac + "0" * 10)[:10])


truth = lines(os.path.join(tmp, "truth.jsonl"))
hist = lines(os.path.join(tmp, "data/alerts/history.jsonl"))
journal = lines(os.path.join(tmp, "data/state/journal.jsonl"))
hook = lines(os.path.join(tmp, "hook.jsonl"))

# Genesis: the first-seen values of every account in the snapshots (as the chain does),
# and the accounts the snapshots tag as exchanges (Subscan merkle.tag_type).
total = {}
exchanges = set()
for path in sorted(glob.glob(os.path.join(snapdir, "*.json"))):
    with open(path) as f:
        for e in json.load(f)["data"]["list"]:
            if e["address"] not in total:
                total[e["address"]] = planck(e["balance"])
            merkle = (e.get("account_display") or {}).get("merkle") or {}
            if merkle.get("tag_type") == "Exchange":
                exchanges.add(e["address"])


def tot(v):
    return int(v["free"]) + int(v["reserved"])


# Ground truth: every large movement, with whether the account was clearly
# inside the watched top 1000 at that moment.  An account that was ever near
# the edge (rank >= TOP - RANK_SLACK at one of its own changes) is not judged
# for completeness at all: the candidate watches the baseline's list, which is
# up to a poll (more on a loaded machine) behind, so an account that only just
# (re-)entered the top may not be watched yet (as sys_oracle in system.bash).
expected = {}   # (account, block) -> (|delta|, inside_top)
inside_top = {}  # (transfer id, account) -> clearly inside the top list then
edge = set()
for t in truth:
    a = t["account"]
    before, after = tot(t["before"]), tot(t["after"])
    if total.get(a, before) != before:
        err("truth: %s block %d: before %d, but the replayed ledger says %d" %
            (a, t["block"], before, total.get(a)))
    total[a] = after
    d = abs(after - before)
    rank = sum(1 for v in total.values() if v > min(before, after))
    if rank >= TOP - RANK_SLACK:
        edge.add(a)
    if d >= INFO:
        expected[(a, t["block"])] = (d, rank < TOP - RANK_SLACK, t["time_ms"])
    if t.get("cause") == "transfer" and "transfer_id" in t:
        # clearly inside the top list (a whale) before and after its side of the transfer
        inside_top[(str(t["transfer_id"]), a)] = rank < TOP - RANK_SLACK
for k, (d, inside, t_ms) in list(expected.items()):
    if k[0] in edge:
        expected[k] = (d, False, t_ms)
for k in list(inside_top):
    if k[1] in edge:
        inside_top[k] = False

# The chain's transfers (truth "transfer" lines carry the id Subscan serves), by id.
transfers = {}
for t in truth:
    if t.get("cause") != "transfer" or "transfer_id" not in t:
        continue
    x = transfers.setdefault(str(t["transfer_id"]), {})
    side, other = ("from", "to") if t["direction"] == "out" else ("to", "from")
    x[side] = t["account"]
    x[other] = t["counterparty"]
    x["amount"] = int(t["amount"])
    x["block"] = t["block"]
    x["time_ms"] = t["time_ms"]

whale = [h for h in hist if h.get("type") == "large_movement"]
ids = [h["id"] for h in hist]
if len(ids) != len(set(ids)) and mode != "faults":
    # faults: a kill -9 between delivery and its record may deliver again (at-least-once, same id)
    err("history: %d duplicated alert ids" % (len(ids) - len(set(ids))))

# Candidate alerts are per block: each must be a real change with the exact amount.
# badcand: the chain corrupted the node's values of these accounts on purpose
corrupt = set()
if os.path.exists(os.path.join(tmp, "corrupt.txt")):
    corrupt = {l.split()[0] for l in open(os.path.join(tmp, "corrupt.txt")) if l.strip()}
cand = [h for h in whale if h["system"] == "candidate" and h["account"] not in corrupt]
offsets = []
seen = {}
for h in cand:
    k = (h["account"], h["block_to"])
    if seen.get(k, h["id"]) != h["id"]:
        err("two candidate alerts (different ids) for %s block %d" % k)
    seen[k] = h["id"]
    e = expected.get(k)
    if e is None:
        err("candidate alert %s for %s block %d: no such large movement in the truth (%s)" %
            (h["id"], k[0], k[1], h["amount"]["planck"]))
        continue
    if int(h["amount"]["planck"]) != e[0]:
        err("candidate alert %s: amount %s, truth %d" % (h["id"], h["amount"]["planck"], e[0]))
    offsets.append(h["time_ms"] - e[2])

# Exchange deposits / withdrawals (the baseline's transfers, given to both systems'
# rules): each must be a real transfer between a whale and an exchange of at least
# 10,000 DOT, with the whale's account, the counterparty, the direction and the
# amount of the truth, and be delivered once (by whichever system owns the whale).
EXCH = ("exchange_deposit", "exchange_withdrawal")
xalerts = [h for h in hist if h.get("type") in EXCH]
xdelivered = {}
for h in xalerts:
    d = h.get("details") or {}
    tid = str(d.get("transfer_id", ""))
    x = transfers.get(tid)
    if x is None:
        err("%s %s: transfer %r is not in the truth" % (h["type"], h["id"], tid))
        continue
    whale_side, ex_side = ("from", "to") if h["type"] == "exchange_deposit" else ("to", "from")
    if h["account"] != x[whale_side] or d.get("counterparty") != x[ex_side]:
        err("%s %s: transfer %s is %s -> %s, the alert says %s and counterparty %s" %
            (h["type"], h["id"], tid, x["from"], x["to"], h["account"], d.get("counterparty")))
    if int(h["amount"]["planck"]) != x["amount"] or x["amount"] < INFO:
        err("%s %s: amount %s, truth %d (tier 10000 DOT)" %
            (h["type"], h["id"], h["amount"]["planck"], x["amount"]))
    if bool(h["amount"]["negative"]) != (h["type"] == "exchange_deposit"):
        err("%s %s: wrong sign" % (h["type"], h["id"]))
    if x[ex_side] not in exchanges or x[whale_side] in exchanges:
        err("%s %s: %s is not an exchange or %s is one" %
            (h["type"], h["id"], x[ex_side], x[whale_side]))
    if h.get("block_to") != x["block"]:
        err("%s %s: block %s, truth %d" % (h["type"], h["id"], h.get("block_to"), x["block"]))
    xdelivered.setdefault((h["type"], tid), set()).add(h["id"])
twice = [k for k, v in xdelivered.items() if len(v) > 1]
if twice:
    err("%d transfers delivered under two alert ids, e.g. %s" % (len(twice), twice[0]))
# Completeness: while an exchange is followed (between its first and its last delivered
# alert: the source looked at it then, and reports every transfer newer than the last
# one it saw), every transfer >= 10000 DOT between it and a whale clearly inside the
# top list arrives.
followed = {}
for h in xalerts:
    x = transfers.get(str((h.get("details") or {}).get("transfer_id", "")))
    if x is not None:
        ex = x["to"] if h["type"] == "exchange_deposit" else x["from"]
        lo, hi = followed.get(ex, (x["time_ms"], x["time_ms"]))
        followed[ex] = (min(lo, x["time_ms"]), max(hi, x["time_ms"]))
qualifying = judged = 0
xmissing = []
for tid, x in sorted(transfers.items(), key=lambda kv: kv[1]["time_ms"]):
    if x["amount"] < INFO or (x["from"] in exchanges) == (x["to"] in exchanges):
        continue
    qualifying += 1
    typ, whale_acct, ex = (("exchange_deposit", x["from"], x["to"]) if x["to"] in exchanges
                           else ("exchange_withdrawal", x["to"], x["from"]))
    if (ex not in followed or not followed[ex][0] < x["time_ms"] < followed[ex][1] or
            not inside_top.get((tid, whale_acct))):
        continue
    judged += 1
    if (typ, tid) not in xdelivered:
        xmissing.append((typ, tid, whale_acct, x["amount"], x["time_ms"], followed[ex]))
print("check: %d truth transfers with ids, %d between an exchange and another account >= 10000 DOT, "
      "%d judged (exchange followed, whale inside the top), %d exchange alerts delivered "
      "(%d candidate)" % (len(transfers), qualifying, judged, len(xalerts),
                          sum(1 for h in xalerts if h["system"] == "candidate")))
if xmissing:
    err("%d of %d exchange deposits/withdrawals of followed exchanges were not delivered, e.g. %s" %
        (len(xmissing), judged, xmissing[:3]))
# the routing properties below hold for them too, and for the list's entries and exits
# (both systems get the baseline's lists; the one serving the account delivers)
whale += xalerts + [h for h in hist if h.get("type") in ("whale_entry", "whale_exit")]

# Traffic over time, from the engine's transitions (virtual time).
spans = []   # (start_ms, traffic)
for j in journal:
    if j.get("kind") == "transition" and "traffic" in j:
        if not spans or spans[-1][1] != j["traffic"]:
            spans.append((j["t_ms"], j["traffic"]))
end_ms = journal[-1]["t_ms"] if journal else 0


def traffic_at(t):
    """The traffic in force at T, or None near a change."""
    cur = None
    for i, (s, v) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else end_ms
        if s + MARGIN_MS <= t <= nxt - MARGIN_MS:
            cur = v
    return cur


# Exactly one system per account and traffic span, as the flags said.
# A restart under --speed starts the virtual clock again from the wall clock, behind
# where it was: alerts raised then carry times of an earlier span (e.g. exchange
# deposits the source reports right after the restart).  Their traffic is not the one
# the journal had at that time, so the span checks skip alerts whose time is behind
# an earlier history line's.
rewound = set()
latest = 0
for h in hist:
    if h["time_ms"] < latest - MARGIN_MS:
        rewound.add(h["id"])
    latest = max(latest, h["time_ms"])

by_span = {}
for h in whale:
    tr = traffic_at(h["time_ms"])
    if tr is None or h["account"] in corrupt or h["id"] in rewound:
        continue
    if tr == 0 and h["system"] != "baseline":
        err("alert %s (%s, %d ms) from %s at traffic 0" % (h["id"], h["type"], h["time_ms"],
                                                           h["system"]))
    if tr == 100 and h["system"] != "candidate":
        err("alert %s (%s, %d ms) from %s at traffic 100" % (h["id"], h["type"], h["time_ms"],
                                                             h["system"]))
    by_span.setdefault((tr, h["account"]), set()).add(h["system"])
split = [k for k, v in by_span.items() if len(v) > 1]
if split:
    err("%d accounts got alerts from both systems within one traffic span, e.g. %s" %
        (len(split), split[0]))
mixed = sum(1 for (tr, _), v in by_span.items() if 0 < tr < 100)

# Completeness at 100 %: every large movement of a watched account arrived.
if offsets:
    offsets.sort()
    off = offsets[len(offsets) // 2]
    missing = []
    checked = 0
    for (a, blk), (d, inside, t) in expected.items():
        tr = traffic_at(t + off)
        if tr != 100 or not inside:
            continue
        checked += 1
        if (a, blk) not in seen:
            missing.append((a, blk, d))
    if mode in ("happy", "faults"):
        if checked == 0:
            err("no large movement fell in the 100 % span: the test saw no data")
        if missing:
            err("%d of %d large movements at traffic 100 were not delivered, e.g. %s" %
                (len(missing), checked, missing[:3]))
    print("check: %d truth changes, %d large, %d delivered whale alerts (%d candidate), "
          "%d judged at 100%%, %d accounts in mixed spans" %
          (len(truth), len(expected), len(whale), len(cand), checked, mixed))
elif mode in ("happy", "faults"):
    err("no candidate alert delivered at all")

# The webhook got every delivered alert (at-least-once: ids may repeat).
hook_ids = {l["headers"].get("x-rollout-alert-id") for l in hook}
lost = [h["id"] for h in hist if h["id"] not in hook_ids and not h["type"].startswith("alerting.")]
if lost:
    err("%d alerts in the history never reached the webhook, e.g. %s" % (len(lost), lost[:3]))

states = [j["to"]["state"] for j in journal if j.get("kind") == "transition"]
if mode in ("happy", "faults") and (not states or states[-1] != "completed"):
    err("the plan did not complete: last states %s" % states[-4:])

if errors:
    for e in errors[:20]:
        print("FAIL:", e)
    sys.exit(1)
print("check %s: ok" % mode)
