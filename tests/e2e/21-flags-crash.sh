#!/usr/bin/env bash
# kill -9 at random moments of many rolloutctl flag writes and emergency
# rollbacks (daemon stopped, so rolloutctl itself writes): after every kill the
# next rolloutctl reconciles the file with the journal (write-ahead audit,
# rolloutd.flags(5) RECOVERY), and then
#   - the flags file parses;
#   - every journal line is whole JSON;
#   - the records naming a flag of one generation come from one write (one
#     who, one time, each flag once), and generations never go down;
#   - the file's generation has audit records;
#   - replaying every record's "new" value in order gives the file's values;
#   - at the end, no temporary file of a killed writer is left.
# ROUNDS (default 150, 60 under SANITIZE=1) kills; the delays are spread over a whole run, with
# most of them near its end, where the write is; the run's length is
# re-estimated after every round (the machine's load changes).
. "$(dirname "$0")/../lib.sh"

CTL="$B/rolloutctl"
[ -x "$CTL" ] || fail "$CTL not built"
DATA="$TMP/data"
PORT=$(free_port)   # nothing listens: rolloutctl writes the file itself
# (fewer under the sanitizers, where every rolloutctl starts several times slower)
if [ "${SANITIZE:-0}" = 1 ]; then ROUNDS=${ROUNDS:-60}; else ROUNDS=${ROUNDS:-150}; fi

timeout 120 $PY - "$CTL" "$DATA" "http://127.0.0.1:$PORT" "$ROUNDS" "${SEED:-$RANDOM}" <<'PY' || fail "crash rounds"
import json, os, random, re, signal, subprocess, sys, time

ctl, data, url, rounds, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
flags = os.path.join(data, "config", "feature-flags.conf")
journal = os.path.join(data, "state", "journal.jsonl")
base = [ctl, "--data-dir", data, "--url", url, "--who", "crash"]
rnd = random.Random(seed)
cmds = [["set-traffic", "25", "--force"], ["set-traffic", "0"], ["switch-legacy"],
        ["rollback", "--force", "--reason", "crash test"], ["enable-parallel"],
        ["flag", "set", "emergencyRollback", "false", "--force"],
        ["flag", "set", "rolloutPhase", "gradual"], ["switch-hybrid", "--force"]]


temps_removed = 0


def run(args, check=True):
    global temps_removed
    p = subprocess.run(base + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=20)
    temps_removed += p.stderr.count("left by a writer that stopped before its rename")
    if check and p.returncode != 0:
        sys.exit("seed %d: rolloutctl %s: exit %d\n%s%s" % (seed, " ".join(args), p.returncode,
                                                         p.stdout, p.stderr))
    return p


def file_values():
    text = open(flags).read()
    vals = {}
    for m in re.finditer(r"^(\w+) = (.*);$", text, re.M):
        v = m.group(2)
        vals[m.group(1)] = json.loads(v.rstrip("L")) if v != "" else None
    return vals


def check(where):
    p = run(["--json", "flags"], check=False)
    if p.returncode != 0:
        sys.exit("seed %d, %s: the flags file does not open: %s" % (seed, where, p.stderr))
    vals = file_values()
    gen = vals.pop("generation")
    recs = []
    for n, line in enumerate(open(journal, encoding="utf-8"), 1):
        if not line.endswith("\n"):
            sys.exit("seed %d, %s: journal line %d is torn" % (seed, where, n))
        recs.append(json.loads(line))
    named = [r for r in recs if r.get("flag") is not None]
    prev = -1
    for r in recs:
        if r["generation"] < prev:
            sys.exit("seed %d, %s: generation %d after %d" % (seed, where, r["generation"], prev))
        prev = r["generation"]
    bygen = {}
    for r in named:
        bygen.setdefault(r["generation"], []).append(r)
    for g, rs in bygen.items():
        writes = {(r["who"], r["t_ms"]) for r in rs}
        names = [r["flag"] for r in rs]
        if len(writes) != 1 or len(names) != len(set(names)):
            sys.exit("seed %d, %s: generation %d audited by %s" % (seed, where, g, rs))
    if gen not in bygen:
        sys.exit("seed %d, %s: the file's generation %d has no audit record" % (seed, where, gen))
    replay = {}
    for r in named:
        replay[r["flag"]] = r["new"]
    for k, v in vals.items():
        if replay.get(k) != v:
            sys.exit("seed %d, %s: %s is %r in the file, %r by the audit replay" %
                     (seed, where, k, v, replay.get(k)))
    return gen


# calibrate: how long one uninterrupted write takes here
run(["enable-parallel"])
durs = []
for c in cmds:
    t0 = time.perf_counter()
    run(c)
    durs.append(time.perf_counter() - t0)
d = sorted(durs)[len(durs) // 2]
check("after calibration")
killed = 0
for i in range(rounds):
    c = rnd.choice(cmds)
    # a third anywhere in the run, two thirds in its last half (the write is at the end)
    delay = rnd.uniform(0, d * 1.1) if rnd.random() < 1 / 3 else rnd.uniform(d * 0.5, d * 1.1)
    p = subprocess.Popen(base + c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    if p.returncode == -signal.SIGKILL:
        killed += 1
        d *= 1.05       # the machine's speed changes: follow it, aiming at about half killed
    else:
        d *= 0.9
    if i % 5 == 4 or i == rounds - 1:
        check("round %d" % i)
# one more ordinary write on top of whatever the last kill left
run(["rollback", "--force", "--reason", "after the crashes"])
gen = check("end")
# the temporary files of writers killed before their rename are gone (removed at open)
left = [n for n in os.listdir(os.path.dirname(flags)) if ".tmp." in n]
if left:
    sys.exit("seed %d: temporary files left: %s" % (seed, left))
recs = [json.loads(l) for l in open(journal)]
completed = sum(1 for r in recs if r["who"] == "recovery" and "had not reached" in (r["reason"] or ""))
print("seed %d: %d rounds, %d killed mid-run (run ~%.1f ms at the end), %d writes completed from their audit "
      "records, %d temporary files removed, final generation %d" % (seed, rounds, killed, d * 1000, completed,
                                                                    temps_removed, gen))
if killed < rounds // 8:
    sys.exit("only %d of %d kills landed before rolloutctl exited" % (killed, rounds))
PY
pass "kill -9 during flag writes: file and journal agree"
