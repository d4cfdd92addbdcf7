#!/usr/bin/env bash
# 51-subscan-transfers.sh — the subscan_poller's per-account lookups inside
# rolloutd against the simulated chain (tests/fakes/simchain), whose Subscan
# face serves /api/v2/scan/transfers from the same ledger it writes to the
# ground-truth file:
#   - activity: each cycle asks exactly `activity_lookups` accounts not asked
#     before; the asked-set is saved and a restarted daemon asks none again;
#   - exchanges: the first look (chain held: no transfers yet) emits nothing;
#     after the chain ran and paused, a cycle while Subscan lags (/_sim/lag)
#     sees no exchange move and asks nothing; once it catches up one cycle emits
#     exactly the transfers of the ground truth that have an exchange on one
#     side (each once, even when both sides are exchanges), the next cycle
#     none, and every exchange's newest id on disk is the truth's newest id
#     for it.
. "$(dirname "$0")/../lib.sh"

[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -x "$B/tests/fakes/simchain" ] || fail "$B/tests/fakes/simchain not built"
[ -f "$B/plugins/subscan_poller.so" ] || fail "$B/plugins/subscan_poller.so not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"
SNAPS=$SHARED/data/polkadot-top1000-2025-07
mkdir -p "$TMP/plugins"
ln -s "$B/plugins/subscan_poller.so" "$TMP/plugins/subscan_poller.so"
ln -s "$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"
DATA=$TMP/data
PORT=$(free_port)
U=http://127.0.0.1:$PORT
TRUTH=$TMP/truth.jsonl

# the chain serves every account (1,010 over the snapshots) and holds still until /_sim/go
bg "$B/tests/fakes/simchain" --node-port 0 --scan-port 0 --data "$SNAPS" --speed 600 \
  --top 2000 --activity 60 --synthetic-from 1 --hold --quiet --truth "$TRUTH" \
  >"$TMP/sim.out" 2>"$TMP/sim.err"
line=
for ((i = 0; i < 400; i++)); do
  line=$(grep -m1 -o 'subscan http://127.0.0.1:[0-9]*' "$TMP/sim.out" || true)
  [ -n "$line" ] && break
  sleep 0.05
done
[ -n "$line" ] || fail "simchain did not start: $(cat "$TMP/sim.err")"
SU=${line#subscan }

cat >"$TMP/plan.yaml" <<YAML
version: 1
name: subscan-transfers-e2e
chain: polkadot
salt: subscan-transfers-salt
tick: 1s
systems:
  baseline:
    plugin: subscan_poller
    with: { base_url: "$SU", top: 1100, rate: 0, interval: 1h, timeout: 5s,
            activity_lookups: 250, exchange_lookups: 200 }
  candidate:
    plugin: scripted
    with:
      events: [ "health 1 candidate up" ]
phases:
  - name: approval
    set: { rolloutPhase: approval }
    steps: [ { approve: manual } ]
YAML

start_daemon() {
  bg "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$DATA" \
    --plugin-dir "$TMP/plugins" --listen "127.0.0.1:$PORT" >>"$TMP/rolloutd.out" 2>&1
  DPID=$BG_PID
  wait_port "$PORT" 20
  AUTH="Authorization: Bearer $(cat "$DATA/state/api.token")"
}
stop_daemon() {
  kill -TERM "$DPID"
  wait "$DPID" 2>/dev/null || true
}
# cmd COMMAND: run a baseline command through the API, reply JSON in $TMP/reply
cmd() {
  curl -s -f -H "$AUTH" --data-binary '{}' "$U/api/plugins/baseline/$1" >"$TMP/reply" ||
    { cat "$TMP/reply" "$TMP/rolloutd.out"; fail "POST /api/plugins/baseline/$1"; }
}
rget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("reply",d); print(eval(sys.argv[2]))' "$TMP/reply" "$1"; }
# wait_stat EXPR: until EXPR (Python, over the stats reply d) is true
wait_stat() {
  local i
  for ((i = 0; i < 600; i++)); do
    cmd stats
    [ "$(rget "$1")" = True ] && return 0
    sleep 0.1
  done
  cat "$TMP/reply"; tail -20 "$TMP/rolloutd.out"
  fail "baseline stats never satisfied: $1"
}
LOOKUPS=$DATA/plugins/baseline/lookups.json
# the exchanges of the chain (first label seen per account, as simchain keeps them)
$PY - "$SNAPS" >"$TMP/exchanges" <<'PY'
import glob, json, sys
disp = {}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for r in json.load(open(f))["data"]["list"]:
        if r["address"] not in disp:
            disp[r["address"]] = r.get("account_display") or {}
for a, d in disp.items():
    if ((d.get("merkle") or {}).get("tag_type")) == "Exchange":
        print(a)
PY
nex=$(wc -l <"$TMP/exchanges")
[ "$nex" -gt 10 ] || fail "only $nex exchanges in the snapshots"

cd "$ROOT"
start_daemon
# cycle 1: the chain holds, nobody has a transfer: 250 activities, all "none"; every exchange first-looked
wait_stat 'd["cycles_ok"] >= 1 and d["lookups"]["asked"] >= 250 and d["lookups"]["exchanges_followed"] >= '"$nex"
sleep 0.5
cmd stats
assert_eq "1 250 0 250 $nex $nex 0" "$(rget '" ".join(str(x) for x in (d["cycles_ok"], d["lookups"]["asked"], d["lookups"]["activity_found"], d["lookups"]["activity_none"], d["lookups"]["exchanges_in_top"], d["lookups"]["exchanges_followed"], d["lookups"]["transfers"]))')" \
  "cycle 1: asked, found, none, exchanges in top, followed, transfers"
assert_eq "250 $nex" "$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["asked"]), sum(1 for e in d["exchanges"] if e["newest_id"] == 0))' "$LOOKUPS")" "lookups.json after cycle 1"
pass "cycle 1: 250 accounts asked (budget), $nex exchanges first-looked, nothing emitted"

# let the chain make transfers, then hold it still and poll
curl -s -f -X POST "$SU/_sim/go" >/dev/null
for ((i = 0; i < 100; i++)); do
  n=$(grep -c '"cause":"transfer"' "$TRUTH" || true)
  [ "$n" -ge 200 ] && break
  sleep 0.1
done
curl -s -f -X POST --data 1 "$SU/_sim/pause" >/dev/null
sleep 0.3
read -r want_xfers want_ids <<<"$($PY - "$TRUTH" "$TMP/exchanges" <<'PY'
import json, sys
ex = set(open(sys.argv[2]).read().split())
ids = set()
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["cause"] == "transfer" and (t["account"] in ex or t["counterparty"] in ex):
        ids.add(t["transfer_id"])
print(len(ids), max(ids) if ids else 0)
PY
)"
[ "$want_xfers" -gt 0 ] || fail "the chain made no exchange transfer"
# Subscan a day behind: the new transfers are not served yet
curl -s -f -X POST --data 86400 "$SU/_sim/lag" >/dev/null
cmd poll
wait_stat 'd["cycles_ok"] >= 2 and d["lookups"]["asked"] >= 500'
sleep 0.5
cmd stats
assert_eq "0 0 $nex" "$(rget '" ".join(str(x) for x in (d["lookups"]["transfers"], d["lookups"]["exchanges_moved"], d["lookups"]["exchange_requests"]))')" \
  "cycle 2: transfers, exchanges moved, exchange requests (the first looks only) while Subscan lags"
pass "cycle 2: Subscan lagging: no exchange moved, none asked, no transfer yet"
curl -s -f -X POST --data 0 "$SU/_sim/lag" >/dev/null
cmd poll
wait_stat 'd["cycles_ok"] >= 3 and d["lookups"]["asked"] >= 750'
sleep 0.5
cmd stats
assert_eq "$want_xfers 0 0" "$(rget '" ".join(str(x) for x in (d["lookups"]["transfers"], d["lookups"]["transfer_errors"], d["lookups"]["gaps"]))')" \
  "cycle 3: transfers emitted (the truth's exchange transfers), errors, gaps"
# every exchange's newest id on disk is the truth's newest for it
$PY - "$TRUTH" "$LOOKUPS" <<'PY' || fail "newest ids in lookups.json differ from the truth"
import json, sys
newest = {}
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["cause"] == "transfer":
        for a in (t["account"], t["counterparty"]):
            newest[a] = max(newest.get(a, 0), t["transfer_id"])
bad = [(e["address"], e["newest_id"], newest.get(e["address"], 0))
       for e in json.load(open(sys.argv[2]))["exchanges"] if e["newest_id"] != newest.get(e["address"], 0)]
if bad:
    print("exchange, on disk, truth:", bad[:5])
    sys.exit(1)
PY
pass "cycle 3: $want_xfers exchange transfers emitted, as the ground truth has them"

cmd poll
wait_stat 'd["cycles_ok"] >= 4 and d["lookups"]["asked"] >= 1000'
sleep 0.3
cmd stats
assert_eq "$want_xfers" "$(rget 'd["lookups"]["transfers"]')" "cycle 4: nothing new, nothing emitted again"
pass "cycle 4: no transfer emitted twice"

# a restart asks only the accounts never asked (1010 - 1000 = 10) and re-emits nothing
stop_daemon
assert_eq 1000 "$($PY -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["asked"]))' "$LOOKUPS")" "asked-set on disk"
start_daemon
wait_stat 'd["cycles_ok"] >= 1 and d["lookups"]["asked"] >= 1010'
sleep 0.3
cmd stats
assert_eq "1010 10 0" "$(rget '" ".join(str(x) for x in (d["lookups"]["asked"], d["lookups"]["activity_found"] + d["lookups"]["activity_none"], d["lookups"]["transfers"]))')" \
  "after the restart: asked, answers of this run, transfers"
assert_contains "$TMP/rolloutd.out" "lookups: 1000 accounts asked, $nex exchanges followed" "restart loads the lookups"
pass "restart: only the 10 accounts never asked are asked; no transfer re-emitted"

stop_daemon
if grep -E 'AddressSanitizer|runtime error' "$TMP/rolloutd.out" "$TMP/sim.err"; then
  fail "sanitizer report (see above)"
fi
pass "subscan_poller lookups in rolloutd against the simulated chain"
