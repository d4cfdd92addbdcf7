#!/usr/bin/env bash
# The shipped plan (phases/full.yaml, as `make demo` and production run it)
# starts for real against the simulated chain: every plugin accepts its
# `with:` block, the candidate takes its watchlist from the baseline's top
# 1000, the foundation phase's rollback drill passes its gate, and the
# rollout enters the parallel phase's 7-day hold.  `rolloutd -n` does not
# init plugins, so this is what catches a plan key a plugin refuses.
. "$(dirname "$0")/../lib.sh"
SYS_PLAN=$ROOT/phases/full.yaml
SYS_EXIT=""
. "$ROOT/tests/e2e/plans-system/system.bash"
cd "$ROOT"

sys_chain --activity 10 --synthetic-from 0
sys_hook
sys_daemon
sys_go
in_parallel() { [ "$(sys_state | cut -d' ' -f1-2)" = "holding parallel" ]; }
sys_until 60 in_parallel || { sys_dump; fail "phases/full.yaml never reached the parallel hold (state: $(sys_state))"; }
code=$(curl -s -o "$TMP/health.json" -w '%{http_code}' "$URL/api/health")
[ "$code" = 200 ] || { cat "$TMP/health.json"; fail "GET /api/health answered $code"; }
# the performance phase's memory gate reads process.rss_bytes: the daemon must record it
curl -sf "$URL/api/metrics" > "$TMP/metrics.json" || fail "GET /api/metrics"
$PY - "$TMP/metrics.json" <<'PY' || fail "process.rss_bytes not recorded"
import json, sys
text = open(sys.argv[1]).read()
assert "process.rss_bytes" in text, "no process.rss_bytes series"
PY
$PY - "$DATA/state/journal.jsonl" <<'PY' || { sys_dump; fail "journal"; }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
drill = [i for j in lines for i in j.get("inputs", []) if i.get("gate", "").startswith("safety.last_drill_ms")]
assert drill and drill[-1]["verdict"] == "pass", f"foundation drill gate: {drill}"
assert any(j.get("to", {}).get("phase") == "parallel" for j in lines), "no transition to parallel"
PY
pass "phases/full.yaml starts: plugins accept their config, foundation passes, parallel holds"
