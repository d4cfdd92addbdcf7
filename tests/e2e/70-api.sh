#!/usr/bin/env bash
# 70-api.sh — rolloutd's HTTP API end to end: every route, status codes,
# auth, bad JSON, wrong types, oversized bodies, operator actions reaching
# the engine and the flags file, the journal with the caller's address,
# Prometheus output through promtool, SIGUSR1/SIGHUP/inotify, read-only
# mode, the non-loopback refusal and a clean SIGTERM.
. "$(dirname "$0")/../lib.sh"

PLAN=$ROOT/tests/e2e/plans-api/api.yaml
DATA=$TMP/data
PORT=$(free_port)
U=http://127.0.0.1:$PORT
OUT=$TMP/rolloutd.out

[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"
[ -f "$B/tests/plugins/scripted.so" ] || fail "$B/tests/plugins/scripted.so not built"

cd "$ROOT"
bg "$B/rolloutd" --plan "$PLAN" --data-dir "$DATA" --plugin-dir "$B/tests/plugins" \
  --listen "127.0.0.1:$PORT" --web-dir "$ROOT/web" >"$OUT" 2>&1
PID=$BG_PID
wait_port "$PORT" 20
TOKEN=$(cat "$DATA/state/api.token")
AUTH="Authorization: Bearer $TOKEN"
FLAGS=$DATA/config/feature-flags.conf
JOURNAL=$DATA/state/journal.jsonl

# the token: 0600, printed once at creation
[ "$(stat -c %a "$DATA/state/api.token")" = 600 ] || fail "api.token is not mode 0600"
assert_contains "$OUT" "new API token .*$TOKEN" "token printed at creation"

# code METHOD PATH [CURL ARGS...]: print the HTTP status; the body goes to $TMP/body
code() {
  local m=$1 p=$2; shift 2
  curl -s -o "$TMP/body" -w '%{http_code}' -X "$m" "$@" "$U$p"
}
body() { cat "$TMP/body"; }
jget() { $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$TMP/body" "$1"; }
flag() { sed -n "s/^$1 = \(.*\);$/\1/p" "$FLAGS"; }
# wait_state STATE [SECONDS]
wait_state() {
  local i
  for ((i = 0; i < ${2:-5} * 20; i++)); do
    [ "$(code GET /api/status)" = 200 ] && [ "$(jget 'd["state"]')" = "$1" ] && return 0
    sleep 0.05
  done
  fail "state: expected $1, got $(jget 'd["state"]')"
}

# ---- GET routes ---------------------------------------------------------------
for r in /api/status /api/history /api/metrics /api/safety /api/flags /api/health /api/alerts /api/shadow; do
  assert_eq 200 "$(code GET "$r")" "GET $r"
  $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/body" || fail "GET $r: not JSON: $(body)"
done
pass "every GET route answers 200 with JSON"
curl -s -I "$U/api/status" >"$TMP/hdr"
assert_contains "$TMP/hdr" '^HTTP/1.1 200' "HEAD /api/status"
assert_contains "$TMP/hdr" '^content-length: [1-9]' "HEAD has the GET length"
assert_eq 405 "$(code OPTIONS /api/status)" "OPTIONS"
code GET /api/status >/dev/null
assert_eq api-test "$(jget 'd["plan"]')" "status plan"
assert_eq paused "$(jget 'd["state"]')" "status state (manual approval)"
assert_eq approval "$(jget 'd["phase"]')" "status phase"
assert_eq 3 "$(jget 'len(d["phases"])')" "status phases"
code GET /api/health >/dev/null
assert_eq ok "$(jget 'd["status"]')" "health"
assert_eq True "$(jget 'd["journal_writable"]')" "health journal"
assert_eq 400 "$(code GET '/api/history?limit=0')" "history limit 0"
assert_contains "$TMP/body" 'query \\"limit\\"' "history limit error names the parameter"
assert_eq 400 "$(code GET '/api/alerts?offset=abc')" "alerts offset abc"
assert_eq 400 "$(code GET '/api/metrics?window=forever')" "metrics window"
assert_eq 200 "$(code GET '/api/metrics?window=10m&points=10')" "metrics window 10m"
assert_eq 600000 "$(jget 'd["window_ms"]')" "metrics window_ms"
pass "query parameters validated"

# ---- Prometheus ---------------------------------------------------------------
assert_eq 200 "$(code GET /metrics)" "GET /metrics"
curl -s -D "$TMP/hdr" -o /dev/null "$U/metrics"
assert_contains "$TMP/hdr" 'text/plain; version=0.0.4' "/metrics content type"
if [ -x /usr/bin/promtool ]; then
  /usr/bin/promtool check metrics <"$TMP/body" || fail "promtool rejects /metrics"
  pass "promtool check metrics: clean"
else
  echo "note: /usr/bin/promtool absent: strict parse skipped"
fi
assert_contains "$TMP/body" '^rolloutd_state\{state="paused"\} 1$' "/metrics state"
assert_contains "$TMP/body" '^rolloutd_phase_info\{phase="approval"\} 1$' "/metrics phase"
assert_contains "$TMP/body" '^rolloutd_plugin_healthy\{instance="candidate"\} 1$' "/metrics plugin health"
assert_contains "$TMP/body" '^process_resident_memory_bytes [1-9]' "/metrics RSS"

# ---- dashboard files ------------------------------------------------------------
if [ -f "$ROOT/web/index.html" ]; then
  curl -s -D "$TMP/hdr" -o "$TMP/body" "$U/rollout/"
  assert_contains "$TMP/hdr" '^HTTP/1.1 200' "/rollout/"
  assert_contains "$TMP/hdr" 'text/html; charset=utf-8' "/rollout/ content type"
  curl -s -D "$TMP/hdr" -o /dev/null "$U/rollout/app.js"
  assert_contains "$TMP/hdr" 'text/javascript' "app.js content type"
  assert_eq 404 "$(code GET /rollout/../state/api.token)" "no traversal"
  assert_eq 404 "$(code GET /rollout/.hidden)" "no hidden files"
  curl -s -D "$TMP/hdr" -o /dev/null "$U/"
  assert_contains "$TMP/hdr" '^HTTP/1.1 302' "/ redirects"
  assert_contains "$TMP/hdr" '^location: /rollout/' "/ redirects to /rollout/"
  pass "dashboard files served with their types"
fi

# ---- errors: 404, 405, 401 --------------------------------------------------------
assert_eq 404 "$(code GET /api/nope)" "unknown route"
assert_eq 405 "$(code GET /api/rollout/promote)" "GET on a POST route"
curl -s -D "$TMP/hdr" -o /dev/null "$U/api/rollout/promote"
assert_contains "$TMP/hdr" '^allow: POST' "405 Allow header"
assert_eq 405 "$(code POST /api/status -H "$AUTH")" "POST on a GET route"
assert_eq 405 "$(code DELETE /api/flags -H "$AUTH")" "DELETE"
assert_eq 401 "$(code POST /api/rollout/promote)" "no token"
curl -s -D "$TMP/hdr" -o /dev/null -X POST "$U/api/rollout/promote"
assert_contains "$TMP/hdr" '^www-authenticate: Bearer' "401 WWW-Authenticate"
assert_eq 401 "$(code POST /api/emergency/rollback -H "Authorization: Bearer ${TOKEN%?}x")" "wrong token"
assert_eq 401 "$(code POST /api/flags/hybridTrafficPercent -H "Authorization: Basic $TOKEN" -d '{"value":5}')" "wrong scheme"
assert_eq false "$(flag emergencyRollback)" "refused calls changed nothing"
assert_eq paused "$(code GET /api/status >/dev/null; jget 'd["state"]')" "refused calls changed nothing"
pass "404, 405 (with Allow) and 401 (with WWW-Authenticate)"

# ---- bad bodies: 400 naming the field, 413 --------------------------------------------
assert_eq 400 "$(code POST /api/rollout/promote -H "$AUTH" -d '{"full": tru')" "bad JSON"
assert_contains "$TMP/body" 'invalid JSON at line 1, column' "bad JSON position"
assert_eq 400 "$(code POST /api/rollout/promote -H "$AUTH" -d '[1,2]')" "array body"
assert_contains "$TMP/body" 'expected a JSON object' "array body message"
assert_eq 400 "$(code POST /api/rollout/promote -H "$AUTH" -d '{"full":"yes"}')" "wrong type"
assert_contains "$TMP/body" 'field \\"full\\": expected a boolean, got a string' "wrong type names the field"
assert_eq 400 "$(code POST /api/rollout/promote -H "$AUTH" -d '{"fulll":true}')" "unknown field"
assert_contains "$TMP/body" 'field \\"fulll\\": unknown field' "unknown field named"
assert_eq 400 "$(code POST /api/rollout/phase -H "$AUTH" -d '{}')" "missing field"
assert_contains "$TMP/body" 'field \\"name\\": required' "missing field named"
assert_eq 400 "$(code POST /api/flags/hybridTrafficPercent -H "$AUTH" -d '{"value":"5"}')" "flag wrong type"
assert_contains "$TMP/body" 'is an integer, got a string' "flag wrong type message"
assert_eq 400 "$(code POST /api/flags/hybridTrafficPercent -H "$AUTH" -d '{"value":101}')" "flag out of range"
assert_contains "$TMP/body" 'out of range' "flag range message"
assert_eq 400 "$(code POST /api/flags/enableParallelMode -H "$AUTH" -d '{"value":1}')" "bool flag given int"
assert_eq 404 "$(code POST /api/flags/noSuchFlag -H "$AUTH" -d '{"value":1}')" "unknown flag"
head -c 100000 /dev/zero | tr '\0' 'x' >"$TMP/big"
assert_eq 413 "$(code POST /api/rollout/promote -H "$AUTH" -H 'Expect:' --data-binary @"$TMP/big")" "oversized body"
assert_contains "$TMP/body" 'larger than 65536 bytes' "413 message"
assert_eq 411 "$(code POST /api/rollout/promote -H "$AUTH" -H 'Transfer-Encoding: chunked' -d '{"full":"x"}')" "chunked body"
assert_eq 0 "$(flag hybridTrafficPercent)" "bad requests changed nothing"
pass "400 names the field; 413 above 64 KiB"

# ---- actions ------------------------------------------------------------------------
assert_eq 200 "$(code POST /api/rollout/promote -H "$AUTH" -d '{"reason":"e2e approve","who":"tester"}')" "promote"
wait_state holding
assert_eq gradual "$(jget 'd["phase"]')" "phase after promote"
assert_eq 10 "$(jget 'd["traffic"]')" "traffic after promote"
assert_eq 10 "$(flag hybridTrafficPercent)" "flags file traffic after promote"
assert_eq 200 "$(code POST /api/emergency/pause -H "$AUTH")" "pause"
wait_state paused
assert_eq 409 "$(code POST /api/rollout/retry -H "$AUTH")" "retry while paused"
assert_eq 200 "$(code POST /api/rollout/resume -H "$AUTH")" "resume"
wait_state holding
assert_eq 200 "$(code POST /api/rollout/abort -H "$AUTH" -d '{"reason":"e2e abort"}')" "abort"
wait_state aborted
assert_eq 0 "$(flag hybridTrafficPercent)" "abort: traffic 0 in the flags file"
assert_eq 200 "$(code POST /api/rollout/retry -H "$AUTH")" "retry"
wait_state holding
assert_eq 10 "$(flag hybridTrafficPercent)" "retry: traffic back to 10"
assert_eq 404 "$(code POST /api/rollout/phase -H "$AUTH" -d '{"name":"nope"}')" "unknown phase"
assert_eq 200 "$(code POST /api/rollout/phase -H "$AUTH" -d '{"name":"production"}')" "phase production"
wait_state paused
assert_eq production "$(jget 'd["phase"]')" "phase after skip"
assert_eq 200 "$(code POST /api/flags/enableParallelMode -H "$AUTH" -d '{"value":true,"reason":"e2e flag"}')" "flag set bool"
assert_eq true "$(flag enableParallelMode)" "flags file after flag set"
assert_eq 200 "$(code POST /api/flags/rolloutPhase -H "$AUTH" -d '{"value":"production"}')" "flag set string"
pass "promote, pause, resume, abort, retry, phase, flags"

# ---- plugin commands ------------------------------------------------------------------
assert_eq 200 "$(code POST /api/plugins/candidate/stats -H "$AUTH" -d '{"arg":""}')" "plugin stats"
assert_contains "$TMP/body" '"reply":\{"emitted":' "plugin reply is JSON"
assert_eq 404 "$(code POST /api/plugins/nope/stats -H "$AUTH")" "unknown instance"
assert_eq 404 "$(code POST /api/plugins/candidate/nope -H "$AUTH")" "unknown command"
assert_eq 502 "$(code POST /api/plugins/candidate/fail -H "$AUTH")" "plugin failure"
assert_eq 404 "$(code POST /api/plugins/candidate -H "$AUTH")" "no command"
pass "plugin commands"

# ---- SIGUSR1, inotify, SIGHUP, emergency rollback -------------------------------------------
kill -USR1 "$PID"
for ((i = 0; i < 100; i++)); do [ "$(flag emergencyRollback)" = true ] && break; sleep 0.05; done
assert_eq true "$(flag emergencyRollback)" "SIGUSR1: emergencyRollback"
assert_eq 0 "$(flag hybridTrafficPercent)" "SIGUSR1: traffic 0"
wait_state rolled_back
assert_contains "$JOURNAL" '"who":"signal"' "SIGUSR1 journaled"
code GET /api/safety >/dev/null
assert_eq signal "$(jget 'd["last_emergency_rollback"]["who"]')" "safety: last rollback"
pass "SIGUSR1 rolls back"

sed -i 's/^rolloutPhase = .*/rolloutPhase = "edited-by-hand";/' "$FLAGS"
for ((i = 0; i < 100; i++)); do
  code GET /api/flags >/dev/null
  [ "$(jget 'd["flags"]["rolloutPhase"]')" = edited-by-hand ] && break
  sleep 0.05
done
assert_eq edited-by-hand "$(jget 'd["flags"]["rolloutPhase"]')" "inotify: external edit picked up"
assert_contains "$JOURNAL" '"who":"external"' "external edit audited"
kill -HUP "$PID"
sleep 0.2
kill -0 "$PID" || fail "SIGHUP killed rolloutd"
pass "external edits picked up (inotify), SIGHUP survives"

assert_eq 200 "$(code POST /api/flags/emergencyRollback -H "$AUTH" -d '{"value":false}')" "clear emergencyRollback"
assert_eq 200 "$(code POST /api/flags/hybridTrafficPercent -H "$AUTH" -d '{"value":25}')" "traffic 25"
assert_eq 25 "$(flag hybridTrafficPercent)" "traffic 25 in the file"
assert_eq 200 "$(code POST /api/emergency/rollback -H "$AUTH" -d '{"reason":"e2e rollback"}')" "rollback"
assert_eq 0 "$(jget 'd["traffic"]')" "rollback reply traffic"
assert_eq true "$(flag emergencyRollback)" "rollback: flag"
assert_eq 0 "$(flag hybridTrafficPercent)" "rollback: traffic 0"
assert_eq false "$(flag enableHybridSystem)" "rollback: hybrid off"
code GET /api/history >/dev/null
assert_eq api "$(jget 'd["entries"][0]["kind"]')" "history newest first: the API record"
assert_eq 127.0.0.1 "$(jget 'd["entries"][0]["addr"]')" "history: caller address"
assert_eq /api/emergency/rollback "$(jget 'd["entries"][0]["route"]')" "history: route"
assert_eq 200 "$(code GET '/api/history?offset=1&limit=2')" "history paged"
assert_eq 2 "$(jget 'len(d["entries"])')" "history page size"
grep -q '"kind":"api".*"addr":"127.0.0.1".*"route":"/api/rollout/promote".*"status":200.*"reason":"e2e approve"' "$JOURNAL" ||
  fail "journal: promote call with address and reason missing"
grep -q '"kind":"api".*"status":400' "$JOURNAL" || fail "journal: refused body not recorded"
code GET /api/alerts >/dev/null
[ "$(jget 'd["total"]')" -ge 1 ] || fail "alerts: the rollback alert is missing"
pass "emergency rollback through the API; journal has every call with the caller's address"

# ---- read-only, non-loopback, bad listen ------------------------------------------------------
PORT2=$(free_port)
bg "$B/rolloutd" --plan "$PLAN" --data-dir "$TMP/data2" --plugin-dir "$B/tests/plugins" \
  --listen "127.0.0.1:$PORT2" --read-only >"$TMP/ro.out" 2>&1
wait_port "$PORT2" 20
T2=$(cat "$TMP/data2/state/api.token")
assert_eq 403 "$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $T2" "http://127.0.0.1:$PORT2/api/emergency/pause")" "read-only POST"
assert_contains "$TMP/body" 'read-only' "read-only message"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT2/api/status")" "read-only GET"
kill "$BG_PID"
[ "$T2" != "$TOKEN" ] || fail "two data directories got the same token"
pass "read-only mode refuses POST"

set +e
timeout 10 "$B/rolloutd" --plan "$PLAN" --data-dir "$TMP/data3" --plugin-dir "$B/tests/plugins" \
  --listen "0.0.0.0:$(free_port)" >"$TMP/remote.out" 2>&1
rc=$?
timeout 10 "$B/rolloutd" --plan "$PLAN" --data-dir "$TMP/data3" --plugin-dir "$B/tests/plugins" \
  --listen "127.0.0.1:$PORT" >"$TMP/busy.out" 2>&1
rc2=$?
set -e
[ "$rc" -ne 0 ] || fail "non-loopback --listen without --allow-remote was accepted"
assert_contains "$TMP/remote.out" 'allow-remote' "non-loopback refusal names the option"
[ "$rc2" -ne 0 ] || fail "a busy port was accepted"
assert_contains "$TMP/busy.out" "cannot listen on 127.0.0.1:$PORT: Address already in use" "busy port message"
pass "non-loopback needs --allow-remote; busy port reported"

# ---- clean stop ---------------------------------------------------------------------------
kill -TERM "$PID"
for ((i = 0; i < 100; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$PID" 2>/dev/null && fail "rolloutd did not stop within 5 s of SIGTERM"
rc=0; wait "$PID" || rc=$?
assert_eq 0 "$rc" "exit status after SIGTERM"
[ -s "$DATA/state/state.json" ] || fail "state.json not written"
assert_contains "$OUT" 'shutting down' "shutdown logged"
pass "SIGTERM: clean stop, exit 0, state on disk"
