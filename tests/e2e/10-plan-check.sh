#!/usr/bin/env bash
# 10-plan-check.sh — `rolloutd -n --plan FILE`: the shipped plan checks clean
# (exit 0), broken plans print exactly their FILE:LINE:COLUMN errors (exit 1).
. "$(dirname "$0")/../lib.sh"
cd "$ROOT"

out=$("$B/rolloutd" -n --plan phases/full.yaml 2>"$TMP/err") || fail "full.yaml: exit $?: $(cat "$TMP/err")"
assert_eq "phases/full.yaml: OK" "$out" "full.yaml stdout"
[ -s "$TMP/err" ] && fail "full.yaml: unexpected stderr: $(cat "$TMP/err")"
out=$("$B/rolloutd" --check -v --plan phases/full.yaml)
assert_eq 'phases/full.yaml: plan "hybrid-whale-monitor" OK: 5 phases, 3 triggers' "$out" "full.yaml -v"
"$B/rolloutd" -n --plan phases/test-small.yaml >/dev/null || fail "test-small.yaml does not check"
pass "shipped plans check clean"

# Each bad plan: exit 1, stderr = the .expected lines with the file prefix.
for name in traffic-decreasing trigger-bad-regex set-unknown-flag include-cycle gate-syntax \
            garbage empty duplicate-phase; do
  f=tests/plans/bad/$name.yaml
  set +e
  "$B/rolloutd" -n --plan "$f" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  set -e
  assert_eq 1 "$rc" "$name: exit status"
  [ -s "$TMP/out" ] && fail "$name: unexpected stdout: $(cat "$TMP/out")"
  # the expected file holds LINE:COL: message for the top file, full paths for others
  while IFS= read -r line; do
    case "$line" in
      tests/*) echo "$line" ;;
      *) echo "$f:$line" ;;
    esac
  done <"tests/plans/bad/$name.expected" >"$TMP/want"
  diff -u "$TMP/want" "$TMP/err" || fail "$name: stderr differs"
done
pass "bad plans give their exact errors"

# A plan that is not there, and a 10 MB one made here.
set +e
"$B/rolloutd" -n --plan "$TMP/none.yaml" 2>"$TMP/err"; rc=$?
set -e
assert_eq 1 "$rc" "missing plan: exit status"
assert_eq "$TMP/none.yaml: No such file or directory" "$(cat "$TMP/err")" "missing plan"
head -c 10485760 /dev/zero | tr '\0' '#' >"$TMP/big.yaml"
set +e
"$B/rolloutd" -n --plan "$TMP/big.yaml" 2>"$TMP/err"; rc=$?
set -e
assert_eq 1 "$rc" "big plan: exit status"
assert_eq "$TMP/big.yaml:1:1: file too large (10485760 bytes; the limit is 1048576)" "$(cat "$TMP/err")" "big plan"
pass "missing and oversized plans"
