#!/usr/bin/env bash
# 71-browser.sh — the dashboard in headless Chromium (Playwright, tests/browser/):
# no console errors, phase and traffic shown, a state change made through
# the API appears within 1 s, the rollback button (with confirmation) sets
# traffic 0 in the flags file.  Screenshots: $B/artifacts/dashboard*.png.
. "$(dirname "$0")/../lib.sh"

if [ ! -x /usr/bin/chromium ]; then
  echo "SKIP: /usr/bin/chromium is not installed (apt-get install chromium); browser tests not run"
  exit 0
fi
command -v node >/dev/null || fail "node is not installed (tools/deps.sh)"
if [ ! -d "$ROOT/tests/browser/node_modules/playwright-core" ]; then
  (cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund) ||
    fail "tests/browser: npm ci failed (run tools/deps.sh)"
fi
[ -x "$B/rolloutd" ] || fail "$B/rolloutd not built"

PLAN=$ROOT/tests/e2e/plans-api/api.yaml
DATA=$TMP/data
PORT=$(free_port)
cd "$ROOT"
bg "$B/rolloutd" --plan "$PLAN" --data-dir "$DATA" --plugin-dir "$B/tests/plugins" \
  --listen "127.0.0.1:$PORT" --web-dir "$ROOT/web" >"$TMP/rolloutd.out" 2>&1
wait_port "$PORT" 20

mkdir -p "$B/artifacts"
timeout 90 node "$ROOT/tests/browser/dashboard.js" "http://127.0.0.1:$PORT" \
  "$DATA/state/api.token" "$DATA/config/feature-flags.conf" "$B/artifacts" ||
  { tail -n 20 "$TMP/rolloutd.out"; fail "dashboard browser test"; }
pass "dashboard in Chromium; screenshots in $B/artifacts/"
