#!/usr/bin/env bash
# 30-rpc-daemon.sh — the rpc_watcher plugin inside rolloutd against the fake
# Polkadot node (tests/fakes/fakenode) on loopback: the watchlist is the
# plan's account plus the baseline's snapshot (delivered through on_event);
# a balance set on the node arrives as a change (stats through the HTTP
# API); chaos.disconnect and a node-side drop are recovered from with the
# gap filled; watch.extra widens the watchlist without reconnecting; the
# metrics appear in /metrics.
. "$(dirname "$0")/../lib.sh"

[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -x "$B/tests/fakes/fakenode" ] || fail "$B/tests/fakes/fakenode not built"
[ -f "$B/plugins/rpc_watcher.so" ] || fail "$B/plugins/rpc_watcher.so not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"
mkdir -p "$TMP/plugins"
ln -s "$B/plugins/rpc_watcher.so" "$TMP/plugins/rpc_watcher.so"
ln -s "$B/tests/plugins/scripted.so" "$TMP/plugins/scripted.so"
DATA=$TMP/data
PORT=$(free_port)
U=http://127.0.0.1:$PORT
ALICE=15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5
PK7=0707070707070707070707070707070707070707070707070707070707070707

bg "$B/tests/fakes/fakenode" --port 0 --port-file "$TMP/node.port" --accounts 20 --seed 3 --quiet \
  >"$TMP/node.out" 2>&1
for ((i = 0; i < 200; i++)); do [ -s "$TMP/node.port" ] && break; sleep 0.05; done
[ -s "$TMP/node.port" ] || fail "fakenode did not start: $(cat "$TMP/node.out")"
NPORT=$(cat "$TMP/node.port")
ctl() { curl -s -f --data-binary "$1" "http://127.0.0.1:$NPORT/control" || fail "node control: $1"; }
ctl "set $ALICE 5000000000000 0 0 1" >/dev/null
ctl "block" >/dev/null

cat >"$TMP/plan.yaml" <<YAML
version: 1
name: rpc-e2e
chain: polkadot
salt: rpc-e2e-salt
tick: 1s
systems:
  baseline:
    plugin: scripted
    with:
      events: [ "health 1 baseline up", "snapshot 1700000000000 @7=100 @8=200" ]
  candidate:
    plugin: rpc_watcher
    with:
      endpoints: [ "ws://127.0.0.1:$NPORT" ]
      accounts: [ $ALICE ]
      heartbeat: 1s
      request_timeout: 5s
      backoff_min: 50ms
      backoff_max: 500ms
phases:
  - name: approval
    set: { rolloutPhase: approval }
    steps: [ { approve: manual } ]
YAML

bg "$B/rolloutd" --plan "$TMP/plan.yaml" --data-dir "$DATA" --plugin-dir "$TMP/plugins" \
  --listen "127.0.0.1:$PORT" >"$TMP/rolloutd.out" 2>&1
wait_port "$PORT" 20
AUTH="Authorization: Bearer $(cat "$DATA/state/api.token")"

# cmd COMMAND [ARG]: a candidate command through the API, the reply in $TMP/reply
cmd() {
  local arg=${2:-}
  $PY -c 'import json,sys; print(json.dumps({"arg": sys.argv[1]}))' "$arg" >"$TMP/req"
  curl -s -f -H "$AUTH" --data-binary @"$TMP/req" "$U/api/plugins/candidate/$1" >"$TMP/reply" ||
    { cat "$TMP/reply" "$TMP/rolloutd.out"; fail "POST /api/plugins/candidate/$1"; }
}
stat() { cmd stats; $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("reply",d); print(d[sys.argv[2]])' "$TMP/reply" "$1"; }
# until EXPR (python over d = stats) holds, or fail after 20 s
until_stats() {
  local i
  for ((i = 0; i < 60; i++)); do
    cmd stats
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); d=d.get("reply",d); sys.exit(0 if eval(sys.argv[2]) else 1)' \
      "$TMP/reply" "$1" && return 0
    sleep 0.1
  done
  cat "$TMP/reply"; tail -n 30 "$TMP/rolloutd.out"; fail "stats never satisfied: $1"
}

until_stats 'd["connected"] and d["watched"] == 3 and d["setup_ms"] >= 0 and d["baselines"] == 3'
pass "watchlist = plan account + baseline snapshot, 3 baselines"

ctl "set 0x$PK7 12345678900000 0 0 0" >/dev/null
ctl "block" >/dev/null
until_stats 'd["changes"] == 1'
pass "balance set on the node arrives as one change"

R0=$(stat reconnects)
cmd chaos.disconnect
ctl "set $ALICE 7000000000000 0 0 2
block
set 0x$PK7 1 0 0 0
block" >/dev/null
until_stats "d['reconnects'] > $R0 and d['connected'] and d['changes'] == 3"
pass "chaos.disconnect: reconnected, 2 changes around it found once"

R1=$(stat reconnects)
# one control request: the blocks are made before the watcher can be back
ctl "drop
reap $ALICE
block
set $ALICE 1000 0 0 0
block" >/dev/null
until_stats "d['reconnects'] > $R1 and d['connected'] and d['changes'] == 5 and d['gap_blocks'] >= 2"
pass "node drop: reconnected, the gap's 2 changes (reap, re-create) filled"

cmd watch.extra 500
until_stats "d['watched'] == 503 and d['setup_ms'] >= 0 and d['baselines'] == 503 and d['reconnects'] == $(stat reconnects)"
pass "watch.extra 500 without reconnecting"

curl -s -f "$U/metrics" >"$TMP/metrics" || fail "GET /metrics"
for m in requests_total connected best_block finalized_block reconnects_total watched subscriptions; do
  grep -q "^rolloutd_system_$m{system=\"candidate\"}" "$TMP/metrics" ||
    { grep candidate "$TMP/metrics"; fail "rolloutd_system_$m{system=\"candidate\"} not in /metrics"; }
done
grep -q '^rolloutd_system_watched{system="candidate"} 503$' "$TMP/metrics" ||
  { grep watched "$TMP/metrics"; fail "watched is not 503 in /metrics"; }
pass "rpc_watcher metrics in /metrics"
