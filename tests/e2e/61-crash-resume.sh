#!/usr/bin/env bash
# Crash test: run the full plan (its phases, a 5m tick) under --simulate with its state on disk,
# kill -9 it at random moments (50 in all), restart it each time until it
# completes, and check that the final journal holds exactly the records of
# an uninterrupted run (no lost, duplicated or torn entry, seq 1..N without
# a gap), and that state.json and the flags file are byte-identical.  When a rollout completes before the 50 kills are
# spent, a new one starts in a fresh directory and is checked the same way.
. "$(dirname "$0")/../lib.sh"
RD=$B/rolloutd
PLAN=$ROOT/tests/scenarios/kill-plan.yaml   # phases/full.yaml with a 5m tick
SCEN=$ROOT/tests/scenarios/kill-resume.yaml
KILLS=${KILLS:-50}
RANDOM=${SEED:-4242}

now_ms() { date +%s%3N; }

# The data directories live on tmpfs when there is one: a kill -9 loses
# nothing the page cache holds, so the crash semantics are the same, and
# the hundreds of fsyncs cost nothing.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  SHM=$(mktemp -d /dev/shm/rollout-crash.XXXXXX)
  trap '_cleanup; rm -rf "$SHM"' EXIT
  TMP=$SHM
fi

t0=$(now_ms)
timeout 60 "$RD" --plan "$PLAN" --simulate "$SCEN" --data-dir "$TMP/ref" > "$TMP/ref.out" \
  || fail "uninterrupted run failed: $(tail -n 3 "$TMP/ref.out")"
ref_ms=$(( $(now_ms) - t0 ))
grep -v '"kind":"flag"' "$TMP/ref/state/journal.jsonl" > "$TMP/ref.records"
# start-up cost: a run that resumes the finished rollout (exec, plan, replay of every sample)
t0=$(now_ms)
"$RD" --plan "$PLAN" --simulate "$SCEN" --data-dir "$TMP/ref" > /dev/null
base_ms=$(( $(now_ms) - t0 ))
# a kill lands at a random moment of the first start-up + an eighth of a whole run
max_delay=$(( base_ms + ref_ms / 8 )); (( max_delay >= 5 )) || max_delay=5

# every line whole JSON, the engine's seq 1..N (run on the last directory)
check_lines() {
  $PY - "$1/state/journal.jsonl" <<'PY' || fail "$1: journal check"
import json, sys
seqs = []
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    assert line.endswith("\n"), f"line {n} is torn"
    rec = json.loads(line)
    if rec.get("kind") != "flag":
        seqs.append(rec["seq"])
assert seqs == list(range(1, len(seqs) + 1)), f"seq not 1..{len(seqs)}: {seqs}"
PY
}

check_dir() {
  local d=$1
  grep -v '"kind":"flag"' "$d/state/journal.jsonl" > "$d.records"
  diff -u "$TMP/ref.records" "$d.records" > "$d.diff" \
    || { head -n 40 "$d.diff"; fail "$d: journal differs from the uninterrupted run's"; }
  cmp "$TMP/ref/state/state.json" "$d/state/state.json" || fail "$d: state.json differs"
  # the flag store takes the simulated clock: the file is byte-identical too
  cmp "$TMP/ref/config/feature-flags.conf" "$d/config/feature-flags.conf" \
    || { diff -u "$TMP/ref/config/feature-flags.conf" "$d/config/feature-flags.conf" || true
         flag_writes "$TMP/ref" > "$d.ref-flags"; flag_writes "$d" > "$d.flags"
         echo "flag writes (generation who: flag=new), uninterrupted vs. this run:"
         diff -u "$d.ref-flags" "$d.flags" | head -n 40 || true
         fail "$d: flags file differs"; }
}

# the flag writes of a data directory, one line per flag record (notes included)
flag_writes() {
  $PY - "$1/state/journal.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    if r.get("kind") == "flag":
        print("g%s %s: %s=%s" % (r.get("generation"), r.get("who"), r.get("flag"),
                                 json.dumps(r.get("new"))))
PY
}

kills=0 runs=0 cycle=0 seen=() stalls=0 last_seq=-1
dir=$TMP/crash0
while (( kills < KILLS )); do
  (( runs < KILLS * 6 )) || fail "only $kills kills landed in $runs runs"
  "$RD" --plan "$PLAN" --simulate "$SCEN" --data-dir "$dir" >> "$dir.out" 2>> "$TMP/crash.err" &
  pid=$!
  # no progress since the last kills: give the next run longer
  d=$(( RANDOM % (max_delay * (1 + stalls)) ))
  sleep $(( d / 1000 )).$(( d % 1000 / 100 ))$(( d % 100 / 10 ))$(( d % 10 ))
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null && true
    kills=$((kills + 1))
    seq=$(sed -n 's/^ "seq": \([0-9]*\),$/\1/p' "$dir/state/state.json" 2>/dev/null || true)
    if [ "${seq:-0}" = "$last_seq" ]; then stalls=$(( stalls < 3 ? stalls + 1 : 3 )); else stalls=0; fi
    last_seq=${seq:-0}
    seen+=("${seq:-0}")
  else
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    assert_eq 0 "$rc" "$dir: exit status"
    check_dir "$dir"
    cycle=$((cycle + 1)); dir=$TMP/crash$cycle; stalls=0; last_seq=-1
  fi
  runs=$((runs + 1))
done
# let the last one finish undisturbed
rc=0
timeout 60 "$RD" --plan "$PLAN" --simulate "$SCEN" --data-dir "$dir" >> "$dir.out" 2>> "$TMP/crash.err" || rc=$?
assert_eq 0 "$rc" "final run exit status"
check_dir "$dir"
check_lines "$dir"
# the kills must have landed all along the rollout, not only before it started
n=$(tail -n 1 "$TMP/ref.records" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
mid=$(printf '%s\n' "${seen[@]}" | sort -un | wc -l)
(( mid >= 5 )) || fail "kills landed at only $mid distinct journal positions: ${seen[*]}"
pass "crash-resume: $kills kill -9 in $runs runs over $((cycle + 1)) rollouts, at $mid distinct positions of $n records (seq ${seen[*]}); journals, states and flags identical to the uninterrupted run (run ${ref_ms} ms, start-up ${base_ms} ms)"
