#!/usr/bin/env bash
# rolloutd -n checks the rules: block the way the daemon would at start.
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"
out=$("$B/rolloutd" -n --plan tests/plans/rules/unknown-rule.yaml 2>&1) && fail "an unknown rule passed -n"
assert_eq 'tests/plans/rules/unknown-rule.yaml:9:3: rules: unknown key "bogus_rule" (large_movement whale_list dormant coordinated draining consolidation exchange_flow unlock)' \
  "$out" "unknown rule"
grep -v bogus_rule tests/plans/rules/unknown-rule.yaml > "$TMP/ok.yaml"
"$B/rolloutd" -n --plan "$TMP/ok.yaml" > "$TMP/out" 2>&1 || { cat "$TMP/out"; fail "valid rules refused"; }
pass "rolloutd -n validates the rules block"
