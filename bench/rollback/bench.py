#!/usr/bin/python3
"""Emergency rollback latency: from starting `rolloutctl rollback --force` to
the process exiting with the flags durably on disk (the audit record and the
file are fsynced, the file renamed, its directory fsynced, before rolloutctl
exits), checked after each run (generation advanced, traffic 0,
emergencyRollback true).

usage: bench.py RUNS LABEL NAME=ROLLOUTCTL,DATA_DIR,URL [NAME=...]
With several targets (e.g. a build before and after a change), every
iteration runs each target in turn, so they share the machine's load.
Between runs (not timed) traffic is raised again to 50% so every rollback
really changes something.  Prints one JSON line per target and figure:
  LABEL            the whole CLI path (fork + exec of rolloutctl included)
  LABEL-api        (LABEL daemon only) the same POST /api/emergency/rollback
                   from this process over a fresh loopback connection: the API
                   round trip without rolloutctl's start-up
  LABEL-exec       `rolloutctl --version`: process start-up alone
"""
import http.client, json, os, re, statistics, subprocess, sys, time

runs, label = int(sys.argv[1]), sys.argv[2]
targets = []
for spec in sys.argv[3:]:
    name, rest = spec.split("=", 1)
    ctl, data, url = rest.split(",", 2)
    targets.append({"name": name, "ctl": ctl, "data": data, "url": url,
                    "flags": os.path.join(data, "config", "feature-flags.conf"),
                    "base": [ctl, "--data-dir", data, "--url", url, "--who", "bench"]})


def gen(t):
    with open(t["flags"]) as f:
        text = f.read()
    m = re.search(r"^generation = (\d+)", text, re.M)
    return int(m.group(1)), text


def run(t, args, check=True):
    p = subprocess.run(t["base"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and p.returncode != 0:
        sys.exit("%s: rolloutctl %s: exit %d: %s%s" % (t["name"], " ".join(args), p.returncode,
                                                       p.stdout, p.stderr))
    return p


def reset(t):
    run(t, ["flag", "set", "emergencyRollback", "false", "--force"])
    run(t, ["set-traffic", "50", "--force"])
    return gen(t)[0]


def verify(t, i, g0):
    g1, text = gen(t)
    if g1 <= g0 or "hybridTrafficPercent = 0;" not in text or "emergencyRollback = true;" not in text:
        sys.exit("%s run %d: flags not rolled back on disk:\n%s" % (t["name"], i, text))


def pct(xs, p):
    return xs[min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1)]


def report(t, name, lat, server=None, via=None):
    lat = sorted(lat)
    res = {"target": t["name"], "label": name, "runs": len(lat)}
    if via is not None:
        res["via"] = sorted(via)
    res.update({"p50_ms": round(pct(lat, 50), 2), "p90_ms": round(pct(lat, 90), 2),
                "p99_ms": round(pct(lat, 99), 2), "min_ms": round(lat[0], 2),
                "max_ms": round(lat[-1], 2), "mean_ms": round(statistics.mean(lat), 2),
                "load1_end": round(os.getloadavg()[0], 2)})
    if server:
        server = sorted(server)
        res["daemon_side_p50_ms"] = server[len(server) // 2]
        res["daemon_side_p99_ms"] = pct(server, 99)
    print(json.dumps(res), flush=True)


def cli_once(t, i, st):
    g0 = reset(t)
    t0 = time.perf_counter()
    p = run(t, ["--json", "rollback", "--force", "--reason", "bench %d" % i])
    t1 = time.perf_counter()
    verify(t, i, g0)
    out = json.loads(p.stdout)
    st["via"].add(out.get("via", "daemon"))
    if isinstance(out.get("rollback"), dict) and "duration_ms" in out["rollback"]:
        st["server"].append(out["rollback"]["duration_ms"])
    st["lat"].append((t1 - t0) * 1000.0)


def api_once(t, i, st):
    m = re.match(r"http://([^:/]+):(\d+)", t["url"])
    token = open(os.path.join(t["data"], "state", "api.token")).read().strip()
    g0 = reset(t)
    body = json.dumps({"reason": "bench api %d" % i, "who": "bench"})
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(m.group(1), int(m.group(2)), timeout=10)
    c.request("POST", "/api/emergency/rollback", body,
              {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    answer = r.read()
    t1 = time.perf_counter()
    c.close()
    if r.status != 200:
        sys.exit("%s api run %d: HTTP %d %s" % (t["name"], i, r.status, answer[:200]))
    verify(t, i, g0)
    d = json.loads(answer)
    if isinstance(d.get("rollback"), dict) and "duration_ms" in d["rollback"]:
        st["server"].append(d["rollback"]["duration_ms"])
    st["lat"].append((t1 - t0) * 1000.0)


def exec_once(t, i, st):
    t0 = time.perf_counter()
    subprocess.run([t["ctl"], "--version"], stdout=subprocess.DEVNULL, check=True)
    st["lat"].append((time.perf_counter() - t0) * 1000.0)


phases = [("", cli_once)]
if label == "daemon":
    phases.append(("-api", api_once))
phases.append(("-exec", exec_once))
for suffix, fn in phases:
    stats = [{"lat": [], "server": [], "via": set()} for _ in targets]
    for i in range(runs):
        for t, st in zip(targets, stats):
            fn(t, i, st)
    for t, st in zip(targets, stats):
        report(t, label + suffix, st["lat"], st["server"], st["via"] if suffix == "" else None)
