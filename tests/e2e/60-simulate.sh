#!/usr/bin/env bash
# rolloutd --simulate: every scenario in tests/scenarios/ against phases/full.yaml
# must print exactly its recorded timeline (NAME.timeline) and exit with the
# status of its outcome (0 completed, 2 rolled back, 3 paused, 4 aborted);
# --explain prints the plan's figures; bad scenarios are refused with
# FILE:LINE:COLUMN.
. "$(dirname "$0")/../lib.sh"
RD=$B/rolloutd
PLAN=$ROOT/phases/full.yaml
SC=$ROOT/tests/scenarios

declare -A want=( [happy]=0 [accuracy-drop]=2 [latency-inconclusive]=0 [flapping]=2 [kill-resume]=0 )
for name in "${!want[@]}"; do
  rc=0
  timeout 30 "$RD" --plan "$PLAN" --simulate "$SC/$name.yaml" > "$TMP/$name.out" 2> "$TMP/$name.err" || rc=$?
  [ "$rc" = "${want[$name]}" ] || { cat "$TMP/$name.err"; fail "$name: exit $rc, expected ${want[$name]}"; }
  diff -u "$SC/$name.timeline" "$TMP/$name.out" || fail "$name: timeline differs from $name.timeline"
  pass "$name: exact timeline, exit $rc"
done

# The stories the timelines tell, spelled out.
assert_contains "$TMP/happy.out" '^\+35d00:00:00 +result: completed \(phase production, traffic 100%\), exit 0$' "happy path completes"
for ph in foundation parallel gradual performance; do
  assert_contains "$TMP/happy.out" "phase $ph -> phase " "happy path leaves $ph"
done
assert_contains "$TMP/accuracy-drop.out" '^\+9d00:00:20 +phase gradual: step 2 \(traffic 5%\): holding -> rolling_back: trigger "shadow-accuracy-low" fired' "accuracy drop rolls back in gradual"
assert_contains "$TMP/latency-inconclusive.out" '^\+7d00:00:40 +phase parallel: end \(hold 7d\): gating -> paused \(inconclusive\)' "latency inconclusive pauses"
assert_contains "$TMP/latency-inconclusive.out" '^\+7d01:00:00 +phase parallel -> phase gradual: promote by cli' "promote moves on"
# flapping: two bad checks out of three on day 1 never fire; the first firing is on day 2's third check
first=$(grep -m1 'trigger "shadow-accuracy-low" fired' "$TMP/flapping.out" | awk '{print $1}')
assert_eq "+2d00:00:20" "$first" "flapping metric fires only after 3 checks in a row"

# --explain
"$RD" --plan "$PLAN" --explain > "$TMP/explain.out"
assert_contains "$TMP/explain.out" '^minimum duration: 25d1h \+ 1 manual approval' "explain: minimum duration"
assert_contains "$TMP/explain.out" 'trigger candidate-error-ratio +30s \(3 checks x tick 10s\)' "explain: trigger time to roll back"
pass "explain"

# A bad scenario is refused with its position; a simulation without --data-dir writes nothing.
printf 'metrics:\n  shadow.accuracy: { value: 1, every: fast }\n' > "$TMP/bad.yaml"
rc=0; (cd "$TMP" && "$RD" --plan "$PLAN" --simulate bad.yaml) 2> "$TMP/bad.err" >/dev/null || rc=$?
assert_eq 1 "$rc" "bad scenario exit status"
assert_contains "$TMP/bad.err" '^rolloutd: bad.yaml:2:39: ' "bad scenario error position"
[ ! -e "$TMP/data" ] || fail "a simulation without --data-dir created ./data"
pass "bad scenario refused"

# A rollout on disk is not resumed with a changed plan unless --accept-plan-change,
# and the acceptance is journaled.
cp "$ROOT"/phases/*.yaml "$TMP/"
printf 'duration: 3d\nmetrics:\n  shadow.accuracy: 0.99\n' > "$TMP/short.yaml"
rc=0; "$RD" --plan "$TMP/full.yaml" --simulate "$TMP/short.yaml" --data-dir "$TMP/d" > "$TMP/short.out" || rc=$?
assert_eq 5 "$rc" "scenario ended mid-rollout"
assert_contains "$TMP/short.out" 'result: holding \(phase parallel' "holding in parallel after 3 days"
sed -i 's/hold: 7d/hold: 6d/' "$TMP/parallel.yaml"
rc=0; "$RD" --plan "$TMP/full.yaml" --simulate "$TMP/short.yaml" --data-dir "$TMP/d" > /dev/null 2> "$TMP/changed.err" || rc=$?
assert_eq 1 "$rc" "changed plan refused"
assert_contains "$TMP/changed.err" 'the plan changed since this rollout started .*--accept-plan-change' "changed plan message"
rc=0; "$RD" --plan "$TMP/full.yaml" --simulate "$TMP/short.yaml" --data-dir "$TMP/d" --accept-plan-change > /dev/null || rc=$?
assert_eq 5 "$rc" "accepted plan change resumes"
assert_contains "$TMP/d/state/journal.jsonl" '"kind":"plan_change","who":"cli"' "plan change journaled"
# the same directory cannot be driven by two processes at once
exec 9> "$TMP/d/state/lock"; flock -n 9
rc=0; "$RD" --plan "$TMP/full.yaml" --simulate "$TMP/short.yaml" --data-dir "$TMP/d" > /dev/null 2> "$TMP/busy.err" || rc=$?
exec 9>&-
assert_eq 1 "$rc" "second engine on one state dir"
assert_contains "$TMP/busy.err" 'another rolloutd is executing a plan from this state directory' "lock message"
pass "plan change refused, accepted and journaled; one engine per state directory"
