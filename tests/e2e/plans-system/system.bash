# Helpers of the system tests (tests/e2e/80-*.sh), sourced after tests/lib.sh:
# the simulated chain, a webhook receiver and rolloutd on the system plan,
# all on free loopback ports, all killed on exit.
SPEED=${SYS_SPEED:-600}
PLAN=${SYS_PLAN:-$ROOT/tests/e2e/plans-system/system.yaml}
DATA=$TMP/data
CTL=$B/rolloutctl
SNAPS=$SHARED/data/polkadot-top1000-2025-07
CHECK=$ROOT/tests/e2e/plans-system/check.py
[ -x "$B/tests/fakes/simchain" ] || fail "$B/tests/fakes/simchain not built"
[ -d "$SNAPS" ] || fail "$SNAPS: missing"

# sys_chain [SIMCHAIN ARGS...]: start the simulated chain (seed $SEED, default 7).
sys_chain() {
  NODE_PORT=$(free_port)
  SCAN_PORT=$(free_port)
  bg "$B/tests/fakes/simchain" --node-port "$NODE_PORT" --scan-port "$SCAN_PORT" \
    --data "$SNAPS" --speed "$SPEED" --seed "${SEED:-7}" --truth "$TMP/truth.jsonl" \
    --api-key sys-key --hold --quiet "$@" >"$TMP/simchain.log" 2>&1
  SIM_PID=$BG_PID
  wait_port "$NODE_PORT" 20
  wait_port "$SCAN_PORT" 20
  SIM="http://127.0.0.1:$SCAN_PORT"
}

# sys_hook: start the webhook receiver.
sys_hook() {
  HOOK_PORT=$(free_port)
  bg $PY "$ROOT/tests/fakes/webhookd/webhookd.py" "$HOOK_PORT" "$TMP/hook.jsonl" >"$TMP/hook.log" 2>&1
  wait_port "$HOOK_PORT" 10
}

# sys_daemon: start rolloutd --speed $SPEED on $PLAN (again after a kill: same data dir).
# SYS_ENV (an array of NAME=VALUE) adds to its environment.
sys_daemon() {
  API_PORT=${API_PORT:-$(free_port)}
  URL="http://127.0.0.1:$API_PORT"
  bg env POLKADOT_RPC_URL="ws://127.0.0.1:$NODE_PORT" SUBSCAN_URL="$SIM" SUBSCAN_API_KEY=sys-key \
    WEBHOOK_URL="http://127.0.0.1:$HOOK_PORT/hook" ${SYS_ENV[@]+"${SYS_ENV[@]}"} \
    "$B/rolloutd" --plan "$PLAN" --data-dir "$DATA" --plugin-dir "$B/plugins" \
    --listen "127.0.0.1:$API_PORT" --speed "$SPEED" ${SYS_EXIT---exit-when-done} >>"$TMP/rolloutd.log" 2>&1
  DPID=$BG_PID
  wait_port "$API_PORT" 20
}

# sys_go: once the candidate watches the baseline's top 1000, start the
# chain's activity on rolloutd's time line (so nothing happens before both
# detectors look: the shadow comparison starts on equal terms).
sys_go() {
  local i t
  for ((i = 0; i < 150; i++)); do
    grep -q "rpc_watcher: watching 1000 accounts" "$TMP/rolloutd.log" && break
    sleep 0.2
  done
  grep -q "rpc_watcher: watching 1000 accounts" "$TMP/rolloutd.log" ||
    { sys_dump; fail "the candidate never watched the top 1000"; }
  t=$(curl -sf "$URL/api/status" | $PY -c 'import json,sys; print(json.load(sys.stdin)["time_ms"])') ||
    fail "GET /api/status"
  # a little ahead: the daemon's accelerated clock is synced every 100 ms
  curl -sf -X POST --data "$((t + ${SPEED%.*} * 150))" "$SIM/_sim/go" >/dev/null || fail "POST /_sim/go"
}

ctl() { "$CTL" --data-dir "$DATA" --url "$URL" --json "$@"; }

# sys_state: the engine's state and phase, "STATE PHASE TRAFFIC" ("" when unreachable).
sys_state() {
  ctl status 2>/dev/null | $PY -c 'import json,sys
d=json.load(sys.stdin); print(d["state"], d["phase"], d["traffic"])' 2>/dev/null || true
}

# sys_until SECS CMD...: poll CMD every 0.2 s until it succeeds; fail after SECS.
sys_until() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 5; i++)); do
    "$@" && return 0
    kill -0 "$DPID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# sys_wait_exit SECS: wait for rolloutd (--exit-when-done) to end; its status in DRC.
sys_wait_exit() {
  local secs=$1 i
  for ((i = 0; i < secs * 5; i++)); do
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$DPID" 2>/dev/null; then
    sys_dump
    fail "rolloutd still running after ${secs}s: $(sys_state)"
  fi
  DRC=0
  wait "$DPID" || DRC=$?
}

# sys_phase_is NAME: the engine is in phase NAME.
sys_phase_is() {
  local st
  st=$(curl -sf "$URL/api/status" | tr -d ' \n') || return 1
  [[ $st == *"\"phase\":\"$1\""* ]]
}

# sys_post PATH [JSON]: an authenticated POST to the API (token from the data directory).
sys_post() {
  local body=${2:-'{}'}
  curl -sf -X POST -H "Authorization: Bearer $(cat "$DATA/state/api.token")" \
    -H 'Content-Type: application/json' --data "$body" "$URL$1"
}

# sys_flag NAME: the value of a flag in the flags file as rolloutd wrote it.
sys_flag() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^;]*\\);.*/\\1/p" "$DATA/config/feature-flags.conf" | tr -d ' "'
}

# sys_smtp_start / sys_smtp_stop: the SMTP server (tests/fakes/webhookd/smtpd.py,
# mode save) on $SMTP_PORT, saving messages to $TMP/mail; start again after a
# stop on the same port and directory (numbering goes on after the last file).
SMTP_PORT=
sys_smtp_start() {
  SMTP_PORT=${SMTP_PORT:-$(free_port)}
  bg $PY "$ROOT/tests/fakes/webhookd/smtpd.py" "$SMTP_PORT" "$TMP/mail" save >>"$TMP/smtpd.log" 2>&1
  SMTP_PID=$BG_PID
  wait_port "$SMTP_PORT" 20
}
sys_smtp_stop() {
  kill "$SMTP_PID" 2>/dev/null || true
  wait "$SMTP_PID" 2>/dev/null || true
}

# sys_drain SECS: hold the chain still, then wait until every channel's outbox
# is empty (rolloutd running): what a stop leaves there is only sent after
# the next start.
sys_drain() {
  curl -sf -X POST "$SIM/_sim/hold" >/dev/null || fail "POST /_sim/hold"
  _drained() { [ -z "$(find "$DATA/alerts/outbox" -name '*.json' 2>/dev/null)" ]; }
  sys_until "$1" _drained || { find "$DATA/alerts/outbox" -name '*.json'; sys_dump; fail "the alert outbox never drained"; }
}

sys_dump() {
  echo "--- rolloutd.log (tail)"; tail -n 40 "$TMP/rolloutd.log" || true
  echo "--- journal (tail)"; tail -n 12 "$DATA/state/journal.jsonl" 2>/dev/null | cut -c1-400 || true
  echo "--- simchain.log"; tail -n 5 "$TMP/simchain.log" || true
}

# SYS_KEEP=DIR: keep a copy of the test's files there (debugging).
if [ -n "${SYS_KEEP:-}" ]; then
  trap 'rm -rf "$SYS_KEEP"; cp -r "$TMP" "$SYS_KEEP" 2>/dev/null; _cleanup' EXIT
fi

# sys_oracle [--dups-ok]: the delivered alerts against the chain's ground
# truth, for the drills (82-*, 84-*), independently of rolloutd's code:
#  - every candidate large_movement in the history is a real movement of
#    that account at that block, with the exact amount;
#  - completeness at 100 % traffic: every large movement (>= 10k DOT) of an
#    account that stayed clearly inside the top 1000 (rank < 980 at each of
#    its own changes) was delivered by the candidate.  Unlike check.py, an
#    account that only just entered the top is not judged: the candidate
#    watches the baseline's top list, which is up to one poll (10 chain
#    minutes, more on a loaded machine) behind;
#  - every alert of the history reached the webhook;
#  - no id twice in the history (unless --dups-ok: at least once after a kill -9).
sys_oracle() {
  $PY - "$TMP" "$SNAPS" "${1:-}" <<'PY'
import glob, json, os, sys
tmp, snapdir, opt = sys.argv[1], sys.argv[2], sys.argv[3]
DOT = 10 ** 10
INFO, TOP, SLACK, MARGIN = 10000 * DOT, 1000, 20, 20 * 60 * 1000


def lines(p):
    return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []


def planck(t):
    w, _, f = t.partition(".")
    return int(w) * DOT + int((f + "0" * 10)[:10])


total = {}
for p in sorted(glob.glob(os.path.join(snapdir, "*.json"))):
    for e in json.load(open(p))["data"]["list"]:
        total.setdefault(e["address"], planck(e["balance"]))
truth = lines(os.path.join(tmp, "truth.jsonl"))
hist = lines(os.path.join(tmp, "data/alerts/history.jsonl"))
journal = lines(os.path.join(tmp, "data/state/journal.jsonl"))
hook = lines(os.path.join(tmp, "hook.jsonl"))
errors = []
moves, edge = {}, set()
for t in truth:
    a = t["account"]
    b = int(t["before"]["free"]) + int(t["before"]["reserved"])
    x = int(t["after"]["free"]) + int(t["after"]["reserved"])
    total[a] = x
    if sum(1 for v in total.values() if v > min(b, x)) >= TOP - SLACK:
        edge.add(a)
    moves[(a, t["block"])] = (abs(x - b), t["time_ms"])
whale = [h for h in hist if h.get("type") == "large_movement"]
cand = [h for h in whale if h["system"] == "candidate"]
offsets = []
for h in cand:
    m = moves.get((h["account"], h["block_to"]))
    if m is None or m[0] != int(h["amount"]["planck"]):
        errors.append("candidate alert %s (%s block %d, %s planck) is no movement of the truth" %
                      (h["id"], h["account"], h["block_to"], h["amount"]["planck"]))
    else:
        offsets.append(h["time_ms"] - m[1])
spans = []
for j in journal:
    if j.get("seq") and "traffic" in j and (not spans or spans[-1][1] != j["traffic"]):
        spans.append((j["t_ms"], j["traffic"]))
end = max((j["t_ms"] for j in journal), default=0)


def traffic_at(t):
    for i, (s, v) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else end
        if s + MARGIN <= t <= nxt - MARGIN:
            return v
    return None


judged, missing = 0, []
if offsets:
    off = sorted(offsets)[len(offsets) // 2]
    got = {(h["account"], h["block_to"]) for h in cand}
    for (a, blk), (d, t) in moves.items():
        if d >= INFO and a not in edge and traffic_at(t + off) == 100:
            judged += 1
            if (a, blk) not in got:
                missing.append((a, blk, d))
if judged == 0:
    errors.append("no large movement of a top account at 100 %% traffic (%d candidate alerts)" % len(cand))
if missing:
    errors.append("%d of %d large movements at 100 %% never delivered, e.g. %s" % (len(missing), judged, missing[:3]))
ids = [h["id"] for h in hist]
if opt != "--dups-ok" and len(ids) != len(set(ids)):
    errors.append("%d alert ids twice in the history" % (len(ids) - len(set(ids))))
hook_ids = {l["headers"].get("x-rollout-alert-id") for l in hook}
lost = [i for i in set(ids) if i not in hook_ids]
if lost:
    errors.append("%d alerts of the history never reached the webhook, e.g. %s" % (len(lost), lost[:3]))
for e in errors[:10]:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print("oracle: %d truth changes, %d candidate whale alerts exact, %d large movements at 100 %% all "
      "delivered (%d edge accounts not judged), %d alerts all at the webhook" %
      (len(truth), len(cand), judged, len(edge), len(set(ids))))
PY
}
