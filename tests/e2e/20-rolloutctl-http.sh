#!/usr/bin/env bash
# rolloutctl's HTTP side against a recording API server on loopback (Python
# http.server): the routes and JSON bodies of every command, the bearer
# token from DATA/state/api.token or --token-file, the exit codes for 401,
# 409 and 503, and the emergency rollback falling back to the flags file
# when the daemon answers with an error or not at all.
. "$(dirname "$0")/../lib.sh"

CTL="$B/rolloutctl"
[ -x "$CTL" ] || fail "$CTL not built"
DATA="$TMP/data"
FLAGS="$DATA/config/feature-flags.conf"
mkdir -p "$DATA/state"
printf 'tok-0123456789abcdef\n' >"$DATA/state/api.token"
chmod 600 "$DATA/state/api.token"
REQS="$TMP/requests.jsonl"
MODE="$TMP/mode"      # what the server should answer: ok, 500, 409, 503, hang
echo ok >"$MODE"
PORT=$(free_port)

cat >"$TMP/server.py" <<'EOF'
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, reqs, mode_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        with open(reqs, "a") as f:
            f.write(json.dumps({"method": method, "path": self.path,
                                "auth": self.headers.get("Authorization"),
                                "ctype": self.headers.get("Content-Type"),
                                "body": json.loads(body) if body else None}) + "\n")
        mode = open(mode_file).read().strip()
        if mode == "hang":
            time.sleep(8)
        status, out = 200, {"ok": True, "path": self.path}
        if self.headers.get("Authorization") != "Bearer tok-0123456789abcdef" and method == "POST":
            status, out = 401, {"error": "missing or wrong bearer token", "status": 401}
        elif mode in ("500", "409", "503"):
            status, out = int(mode), {"error": "mode " + mode, "status": int(mode)}
        elif self.path == "/api/flags":
            out = {"path": "/srv/flags.conf", "generation": 5, "broken": False,
                   "effective_traffic": 15, "flags": {"hybridTrafficPercent": 15},
                   "types": {"hybridTrafficPercent": "int", "batchSize": "int"}}
        data = json.dumps(out).encode()
        # answers shaped unlike rolloutd's, for rolloutctl's own HTTP client
        if mode == "chunked":
            raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            for i in range(0, len(data), 7):
                part = data[i:i + 7]
                raw += b"%x\r\n%s\r\n" % (len(part), part)
            self.wfile.write(raw + b"0\r\n\r\n")
            return
        if mode == "noclen":   # no Content-Length: the body ends with the connection
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + data)
            return
        if mode == "split":    # headers, a pause, then the body in two writes
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data))
            self.wfile.flush(); time.sleep(0.2)
            self.wfile.write(data[:5]); self.wfile.flush(); time.sleep(0.1)
            self.wfile.write(data[5:])
            return
        if mode == "cut":      # promises more than it sends, then closes
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(data) + 50) + data)
            return
        if mode == "garbage":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.handle_any("GET")
    def do_POST(self):
        self.handle_any("POST")
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
bg "$PY" "$TMP/server.py" "$PORT" "$REQS" "$MODE"
wait_port "$PORT"

ctl() { "$CTL" --data-dir "$DATA" --url "http://127.0.0.1:$PORT" --who e2e "$@"; }
expect() {
  local want=$1 rc
  shift
  set +e
  ctl "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  if [ "$rc" != "$want" ]; then
    echo "--- stdout:"; cat "$TMP/out"; echo "--- stderr:"; cat "$TMP/err"
    fail "rolloutctl $*: expected exit $want, got $rc"
  fi
}
# last_req FIELD-CHECK (a Python expression over r, the last request)
last_req() { "$PY" -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][-1]; assert eval(sys.argv[2]), r' "$REQS" "$1" || fail "last request: $1 ($(tail -n 1 "$REQS"))"; }

# --- every command reaches its route with its body and the token ---------
expect 0 status;           last_req 'r["method"]=="GET" and r["path"]=="/api/status"'
expect 0 health;           last_req 'r["path"]=="/api/health"'
expect 0 stats;            last_req 'r["path"]=="/api/metrics"'
expect 0 flags;            last_req 'r["path"]=="/api/flags"'
assert_contains "$TMP/out" "^flags \(daemon at .*/srv/flags.conf, generation 5\)" "flags human output"
assert_contains "$TMP/out" "hybridTrafficPercent +15" "flags human output"
expect 0 --json flags
"$PY" -c 'import json,sys; assert json.load(open(sys.argv[1]))["generation"]==5' "$TMP/out" || fail "flags --json"
expect 0 pause;            last_req 'r["method"]=="POST" and r["path"]=="/api/emergency/pause" and r["auth"]=="Bearer tok-0123456789abcdef"'
expect 0 resume;           last_req 'r["path"]=="/api/rollout/resume"'
expect 0 promote;          last_req 'r["path"]=="/api/rollout/promote" and r["body"]["full"] is False'
expect 0 promote --full;   last_req 'r["path"]=="/api/rollout/promote" and r["body"]["full"] is True'
expect 0 abort;            last_req 'r["path"]=="/api/rollout/abort"'
expect 0 retry;            last_req 'r["path"]=="/api/rollout/retry"'
expect 0 phase gradual;    last_req 'r["path"]=="/api/rollout/phase" and r["body"]["name"]=="gradual"'
expect 0 alerts test;      last_req 'r["path"]=="/api/plugins/alerting/test"'
expect 0 alerts stats --instance ops; last_req 'r["path"]=="/api/plugins/ops/stats"'
expect 0 enable-parallel;  last_req 'r["path"]=="/api/flags/enableParallelMode" and r["body"]["value"] is True and r["ctype"]=="application/json"'
expect 0 flag set rolloutPhase gradual; last_req 'r["path"]=="/api/flags/rolloutPhase" and r["body"]["value"]=="gradual" and r["body"]["who"]=="e2e"'
expect 0 flag set rolloutPhase 7;      last_req 'r["path"]=="/api/flags/rolloutPhase" and r["body"]["value"]=="7"'
expect 0 flag set enableParallelMode on; last_req 'r["body"]["value"] is True'
# a plan's flag is typed by what GET /api/flags says
expect 0 flag set batchSize 12;        last_req 'r["path"]=="/api/flags/batchSize" and r["body"]["value"]==12'
expect 0 set-traffic 35 --force --reason canary
"$PY" - "$REQS" <<'EOF' || fail "set-traffic requests"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-2:]
assert r[0]["path"] == "/api/flags/hybridTrafficPercent" and r[0]["body"]["value"] == 35, r
assert r[0]["body"]["reason"] == "canary", r
assert r[1]["path"] == "/api/flags/enableHybridSystem" and r[1]["body"]["value"] is True, r
EOF
assert_contains "$TMP/out" "through the daemon" "set-traffic says where it went"
expect 0 rollback --force --reason "storm"
last_req 'r["path"]=="/api/emergency/rollback" and r["body"]["reason"]=="storm" and r["body"]["who"]=="e2e"'
assert_contains "$TMP/out" "through the daemon" "rollback through the daemon"
[ ! -e "$FLAGS" ] || fail "rolloutctl wrote $FLAGS although the daemon took the rollback"
pass "routes, bodies and token"

# --- the token: --token-file, and a wrong one -----------------------------
printf 'wrong-token-000000\n' >"$TMP/wrong.token"
expect 1 --token-file "$TMP/wrong.token" pause
assert_contains "$TMP/err" "HTTP 401" "401 reported"
assert_contains "$TMP/err" "token" "401 hint"
last_req 'r["auth"]=="Bearer wrong-token-000000"'

# --- daemon errors -------------------------------------------------------
echo 409 >"$MODE"
expect 2 promote
assert_contains "$TMP/err" "HTTP 409: mode 409" "409 is a refusal"
echo 503 >"$MODE"
expect 1 health
assert_contains "$TMP/out" "unhealthy" "503 health"
echo 500 >"$MODE"
expect 1 abort
assert_contains "$TMP/err" "HTTP 500" "500 reported"
expect 1 set-traffic 5 --force
[ ! -e "$FLAGS" ] || fail "a daemon error must not make set-traffic write the file"
pass "daemon errors mapped to exit codes"

# --- rollback falls back to the file whatever the daemon does -------------
expect 0 rollback --force --reason "daemon broken"
assert_contains "$TMP/out" "daemon refused the rollback \(HTTP 500.*wrote $FLAGS directly" "fallback on HTTP 500"
grep -q '^emergencyRollback = true;$' "$FLAGS" || fail "fallback did not write the flags"
echo hang >"$MODE"
start=$(date +%s%N)
expect 0 rollback --force --reason "daemon hung"
elapsed=$((($(date +%s%N) - start) / 1000000))
assert_contains "$TMP/out" "daemon did not answer .*wrote $FLAGS directly" "fallback on timeout"
[ "$elapsed" -lt 8000 ] || fail "rollback waited ${elapsed} ms for a hung daemon"
grep -q '"reason":"daemon hung"' "$DATA/state/journal.jsonl" || fail "audit of the fallback"
pass "rollback falls back to the file (HTTP 500, hung daemon: ${elapsed} ms)"

# --- rolloutctl's own HTTP client: answers shaped unlike rolloutd's ----------
for m in chunked noclen split; do
  echo "$m" >"$MODE"
  expect 0 --json flags
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["generation"]==5 and d["flags"]["hybridTrafficPercent"]==15, d' "$TMP/out" \
    || { cat "$TMP/out"; fail "$m answer not read whole"; }
  expect 0 rollback --force --reason "$m"
  assert_contains "$TMP/out" "through the daemon" "$m: rollback through the daemon"
done
echo cut >"$MODE"
expect 1 health
assert_contains "$TMP/err" "connection closed before the whole answer" "truncated answer"
echo garbage >"$MODE"
expect 1 health
assert_contains "$TMP/err" "not an HTTP answer" "not HTTP"
echo ok >"$MODE"
expect 1 --url "https://127.0.0.1:$PORT" health
assert_contains "$TMP/err" "only http:// URLs" "https refused with a reason"
expect 1 --url "http://127.0.0.1:x1" health
assert_contains "$TMP/err" "malformed URL" "bad port"
# IPv6 literal: nothing listens on [::1] here, so the daemon is "not running"
expect 3 --url "http://[::1]:$PORT" health
assert_contains "$TMP/err" "daemon not running at http://\[::1\]:$PORT" "IPv6 URL"
pass "HTTP client: chunked, unsized, split and truncated answers; URL errors"
