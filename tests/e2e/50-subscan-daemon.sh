#!/usr/bin/env bash
# 50-subscan-daemon.sh — the subscan_poller plugin inside rolloutd against
# the fake Subscan (tests/fakes/fakescan) serving the real snapshots:
# one cycle = 10 requests for the top 1000 with the API key from
# SUBSCAN_API_KEY; `poll` through the HTTP API gives the next snapshot and
# exactly the balance changes that Python computes from the two JSON files;
# the snapshot is saved under DATA/plugins/baseline/ and a restarted daemon
# compares against it; `transfers` through the API returns labelled rows.
. "$(dirname "$0")/../lib.sh"

[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -x "$B/tests/fakes/fakescan" ] || fail "$B/tests/fakes/fakescan not built"
[ -f "$B/plugins/subscan_poller.so" ] || fail "$B/plugins/subscan_poller.so not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"
SNAPS=$SHARED/data/polkadot-top1000-2025-07
TREASURY=13UVJyLnbVp9RBZYFwFGyDvVd1y27Tt8tkntv6Q7JVPhFsTB
mkdir -p "$TMP/plugins"
ln -s "$B/plugins/subscan_poller.so" "$TMP/plugins/subscan_poller.so"
ln -s "$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"
DATA=$TMP/data
PORT=$(free_port)
U=http://127.0.0.1:$PORT

# the fake Subscan: it prints its port once it listens
bg "$B/tests/fakes/fakescan" --snapshots "$SNAPS" --api-key e2e-key \
  --synth-transfers "$TREASURY:30" >"$TMP/fake.out" 2>"$TMP/fake.err"
line=
for ((i = 0; i < 400; i++)); do
  line=$(grep -m1 'listening on' "$TMP/fake.out" || true)
  [ -n "$line" ] && break
  sleep 0.05
done
[ -n "$line" ] || fail "fakescan did not start: $(cat "$TMP/fake.err")"
FPORT=${line##*:}
FU=http://127.0.0.1:$FPORT

cat >"$TMP/plan.yaml" <<YAML
version: 1
name: subscan-e2e
chain: polkadot
salt: subscan-e2e-salt
tick: 1s
systems:
  baseline:
    plugin: subscan_poller
    # lookups off: this test counts the snapshot requests (51-subscan-transfers.sh tests them)
    with: { base_url: "$FU", top: 1000, rate: 0, interval: 1h, timeout: 5s, activity_lookups: 0, exchange_lookups: 0 }
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
  SUBSCAN_API_KEY=e2e-key bg "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$DATA" \
    --plugin-dir "$TMP/plugins" --listen "127.0.0.1:$PORT" >>"$TMP/rolloutd.out" 2>&1
  DPID=$BG_PID
  wait_port "$PORT" 20
  AUTH="Authorization: Bearer $(cat "$DATA/state/api.token")"
}
# cmd COMMAND [ARG]: run a baseline command through the API, reply JSON in $TMP/reply
cmd() {
  local arg=${2:-}
  $PY -c 'import json,sys; print(json.dumps({"arg": sys.argv[1]}))' "$arg" >"$TMP/req"
  curl -s -f -H "$AUTH" --data-binary @"$TMP/req" "$U/api/plugins/baseline/$1" >"$TMP/reply" ||
    { cat "$TMP/reply" "$TMP/rolloutd.out"; fail "POST /api/plugins/baseline/$1"; }
}
rget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("reply",d); print(eval(sys.argv[2]))' "$TMP/reply" "$1"; }
# wait_cycles N: until the baseline has N good cycles
wait_cycles() {
  local i
  for ((i = 0; i < 300; i++)); do
    cmd stats
    [ "$(rget 'd["cycles_ok"]')" -ge "$1" ] && return 0
    sleep 0.1
  done
  cat "$TMP/reply" "$TMP/rolloutd.out"
  fail "baseline did not reach $1 good cycles"
}
# expected FILE_A FILE_B: "changes new" by the legacy definition, from the JSON files
expected() {
  $PY - "$1" "$2" <<'PY'
import json, sys
def planck(s):
    i, _, f = s.partition(".")
    return int(i) * 10**10 + int((f + "0" * 10)[:10] or 0)
def load(p):
    return {r["address"]: (planck(r["balance"]) - planck(r["reserved"]), planck(r["reserved"]), r["nonce"])
            for r in json.load(open(p))["data"]["list"]}
a, b = load(sys.argv[1]), load(sys.argv[2])
print(sum(1 for k in b if k in a and a[k] != b[k]), sum(1 for k in b if k not in a))
PY
}
FILES=("$SNAPS"/*.json)

cd "$ROOT"
start_daemon
wait_cycles 1
assert_eq 1000 "$(rget 'd["accounts"]')" "accounts in the first snapshot"
assert_eq 10 "$(rget 'd["last_cycle_requests"]')" "requests of one cycle"
curl -s "$FU/_fake/stats" >"$TMP/fstats"
assert_eq "10 0" "$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], d["bad_key"])' "$TMP/fstats")" "the fake saw 10 keyed requests"
pass "one top-1000 cycle: 10 requests with X-API-Key"

cmd poll
assert_eq True "$(rget 'd["queued"]')" "poll queued"
wait_cycles 2
read -r want_changes want_new <<<"$(expected "${FILES[0]}" "${FILES[1]}")"
assert_eq "$want_changes $want_new" "$(rget 'd["changes"], d["new_accounts"]' | tr -d '(),')" "legacy changes 0->1"
SNAPFILE=$DATA/plugins/baseline/snapshot.json
[ -f "$SNAPFILE" ] || fail "no $SNAPFILE"
gen1=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["generated_at"] * 1000)' "${FILES[1]}")
assert_eq "$gen1 1000" "$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["taken_ms"], len(d["accounts"]))' "$SNAPFILE")" "saved snapshot"
pass "poll: $want_changes changes and $want_new new accounts, as computed from the files"

# a restart compares the next snapshot against the saved one
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null || true
start_daemon
wait_cycles 1
read -r want_changes want_new <<<"$(expected "${FILES[1]}" "${FILES[2]}")"
assert_eq "$want_changes $want_new" "$(rget 'd["changes"], d["new_accounts"]' | tr -d '(),')" "legacy changes 1->2 after a restart"
assert_contains "$TMP/rolloutd.out" "previous snapshot: 1000 accounts" "restart loads the saved snapshot"
pass "restart: $want_changes changes against the saved snapshot"

cmd transfers "{\"address\":\"$TREASURY\",\"row\":10}"
assert_eq "10 30 False" "$(rget 'd["returned"], d["count"], d["truncated"]' | tr -d '(),')" "transfers"
assert_eq "Synthetic Exchange 305000000000" "$(rget 'd["transfers"][0]["to_label"] + " " + d["transfers"][0]["amount_planck"]')" "newest transfer, labelled, in planck"
pass "transfers through the API"

# metrics reach the daemon
curl -s "$U/metrics" >"$TMP/metrics"
grep -q 'baseline' "$TMP/metrics" || fail "no baseline metrics in /metrics"
kill -TERM "$DPID"
wait "$DPID" 2>/dev/null || true
if grep -E 'AddressSanitizer|runtime error' "$TMP/rolloutd.out" "$TMP/fake.err"; then
  fail "sanitizer report (see above)"
fi
pass "subscan_poller in rolloutd"
