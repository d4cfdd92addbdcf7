#!/usr/bin/python3
"""Emergency rollback latency: from starting `rolloutctl rollback --force` to
the process exiting with the flags durably on disk (the file is fsynced and
renamed, its directory fsynced, before rolloutctl exits), checked after each
run (generation advanced, traffic 0, emergencyRollback true).

usage: bench.py ROLLOUTCTL DATA_DIR URL RUNS LABEL
Between runs (not timed) traffic is raised again to 50% so every rollback
really changes something.  Prints one JSON line with the figures.
"""
import json, os, re, statistics, subprocess, sys, time

ctl, data, url, runs, label = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
flags = os.path.join(data, "config", "feature-flags.conf")
base = [ctl, "--data-dir", data, "--url", url, "--who", "bench"]


def gen():
    with open(flags) as f:
        text = f.read()
    m = re.search(r"^generation = (\d+)", text, re.M)
    return int(m.group(1)), text


def run(args, check=True):
    p = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        sys.exit("rolloutctl %s: exit %d: %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


lat = []
server = []   # rolloutd's own time for the rollback (reply's rollback.duration_ms)
via = set()
for i in range(runs):
    run(["flag", "set", "emergencyRollback", "false", "--force"])
    run(["set-traffic", "50", "--force"])
    g0, _ = gen()
    t0 = time.perf_counter()
    p = run(["--json", "rollback", "--force", "--reason", "bench %d" % i])
    t1 = time.perf_counter()
    g1, text = gen()
    if g1 <= g0 or "hybridTrafficPercent = 0;" not in text or "emergencyRollback = true;" not in text:
        sys.exit("run %d: flags not rolled back on disk:\n%s" % (i, text))
    out = json.loads(p.stdout)
    via.add(out.get("via", "daemon"))
    if isinstance(out.get("rollback"), dict) and "duration_ms" in out["rollback"]:
        server.append(out["rollback"]["duration_ms"])
    lat.append((t1 - t0) * 1000.0)

lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(round(p / 100.0 * len(lat) + 0.5)) - 1)]
res = {"label": label, "runs": runs, "via": sorted(via),
       "p50_ms": round(q(50), 2), "p90_ms": round(q(90), 2), "p99_ms": round(q(99), 2),
       "min_ms": round(lat[0], 2), "max_ms": round(lat[-1], 2),
       "mean_ms": round(statistics.mean(lat), 2)}
if server:
    server.sort()
    res["daemon_side_p50_ms"] = server[len(server) // 2]
    res["daemon_side_p99_ms"] = server[min(len(server) - 1, (len(server) * 99 + 99) // 100 - 1)]
print(json.dumps(res))
