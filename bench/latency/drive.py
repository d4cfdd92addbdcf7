#!/usr/bin/python3
"""drive.py -- produce one large movement per block on the fake node and
match each to the webhook POST of its alert (bench/latency/run.sh).

    drive.py ADDRS NODE_PORT HOOK_JSONL CHANGES INTERVAL_MS WAIT_S ROWS

For change i: stage `set ACCOUNT FREE` (FREE = 10^24 + i * 10^16 planck, at
least 10,000 DOT away from any earlier value of that account), then take the
time t0 just before POSTing `block` to /control (keep-alive connection), and
keep the block number the node answers.  The accounts are taken in order
from ADDRS (each once while CHANGES <= accounts).  After the last block, wait
up to WAIT_S for the webhook deliveries, then match every large_movement
alert POSTed (webhookd's arrival stamp "t") by (account, block_to).
Prints one JSON object: n, delivered, missing, duplicates, extra, and the
latencies in ms (block -> webhook, block -> alert raised (the alert's
time_ms), alert raised -> webhook); ROWS gets one line per change.
"""
import http.client
import json
import sys
import time

addrs_file, node_port, hook, changes, interval_ms, wait_s, rows_file = sys.argv[1:8]
node_port, changes, interval, wait_s = int(node_port), int(changes), int(interval_ms) / 1000, float(wait_s)
addrs = [l.strip() for l in open(addrs_file) if l.strip()]
conn = http.client.HTTPConnection("127.0.0.1", node_port, timeout=10)


def control(line):
    conn.request("POST", "/control", body=line.encode(), headers={"Content-Type": "text/plain"})
    r = conn.getresponse()
    body = r.read().decode()
    if r.status != 200 or body.startswith("error"):
        sys.exit("drive.py: control %r: %s %s" % (line, r.status, body))
    return body


sent = {}  # (account, block) -> t0
next_t = time.time()
for i in range(changes):
    acct = addrs[i % len(addrs)]
    control("set %s %d" % (acct, 10**24 + i * 10**16))
    now = time.time()
    if now < next_t:
        time.sleep(next_t - now)
    t0 = time.time()
    reply = json.loads(control("block"))
    sent[(acct, reply["number"])] = t0
    next_t = t0 + interval


def hooks():
    out = []
    try:
        for l in open(hook):
            if not l.strip():
                continue
            rec = json.loads(l)
            body = json.loads(rec["body"])
            if body.get("type") == "large_movement":
                out.append((rec, body))
    except FileNotFoundError:
        pass
    return out


deadline = time.time() + wait_s
while True:
    got = hooks()
    seen = {(b.get("account"), b.get("block_to")) for _, b in got}
    if all(k in seen for k in sent) or time.time() > deadline:
        break
    time.sleep(0.1)
time.sleep(0.5)  # late duplicates
got = hooks()
first = {}
dups = extra = 0
for rec, b in got:
    k = (b.get("account"), b.get("block_to"))
    if k not in sent:
        extra += 1
    elif k in first:
        dups += 1
    else:
        first[k] = (rec["t"], b.get("time_ms"))
total, detect, deliver = [], [], []
with open(rows_file, "w") as f:
    for k, t0 in sent.items():
        if k not in first:
            f.write("%s %d %.6f missing\n" % (k[0], k[1], t0))
            continue
        th, tms = first[k]
        total.append((th - t0) * 1000)
        if tms:
            detect.append(tms - t0 * 1000)
            deliver.append(th * 1000 - tms)
        f.write("%s %d %.6f %.6f %s\n" % (k[0], k[1], t0, th, tms))


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]  # nearest rank


def summ(v):
    return {k: pct(v, p) for k, p in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))}


print(json.dumps({"n": len(sent), "delivered": len(first), "missing": len(sent) - len(first),
                  "duplicates": dups, "extra": extra, "total_ms": summ(total),
                  "detect_ms": summ(detect), "deliver_ms": summ(deliver)}))
