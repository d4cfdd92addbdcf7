#!/usr/bin/env bash
# Simulator benchmark: phases/full.yaml over six weeks, one sample per
# second for each of 10 metrics (bench/simulate/six-weeks.yaml, ~36 million
# samples), on the virtual clock, in memory.  Prints the wall time and peak
# RSS of each run and their medians.  Usage: B=build RUNS=5 bash bench/simulate/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
RUNS=${RUNS:-5}
cd "$ROOT"
walls=() rss=()
for ((i = 0; i < RUNS; i++)); do
  out=$( { /usr/bin/time -f "%e %U %M" "$B/rolloutd" --plan phases/full.yaml \
      --simulate bench/simulate/six-weeks.yaml -v > /dev/null; } 2>&1 | tail -n 1)
  read -r wall user kb <<< "$out"
  echo "run $((i + 1)): wall ${wall} s, user ${user} s, peak RSS ${kb} KiB"
  walls+=("$wall") rss+=("$kb")
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median of $RUNS: wall $(med "${walls[@]}") s, peak RSS $(med "${rss[@]}") KiB"
"$B/rolloutd" --plan phases/full.yaml --simulate bench/simulate/six-weeks.yaml -v 2>&1 >/dev/null \
  | grep 'simulated' || true
