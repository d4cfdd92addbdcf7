#!/usr/bin/env bash
# bench/subscan/run.sh — one full top-1000 cycle (and a few more) of the
# subscan_poller plugin against fakescan at an unlimited rate: wall time,
# CPU time and peak RSS of the plugin's process.  Results: RESULTS.md.
# usage: B=build bash bench/subscan/run.sh [CYCLES [RATE]]   (RATE 0 = unlimited)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
SHARED=${SHARED:-$ROOT/../shared}
CYCLES=${1:-10}
RATE=${2:-0}
TMP=$(mktemp -d)
FPID=
trap '[ -n "$FPID" ] && kill "$FPID" 2>/dev/null; rm -rf "$TMP"' EXIT
for f in "$B/plugins/subscan_poller.so" "$B/tests/fakes/fakescan"; do
  [ -e "$f" ] || { echo "build $f first: make B=$B $f" >&2; exit 1; }
done
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -I"$ROOT/include" \
  -o "$TMP/bench_cycle" "$ROOT/bench/subscan/bench_cycle.c" -ldl -pthread
"$B/tests/fakes/fakescan" --snapshots "$SHARED/data/polkadot-top1000-2025-07" >"$TMP/fake.out" &
FPID=$!
for ((i = 0; i < 200; i++)); do grep -q listening "$TMP/fake.out" && break; sleep 0.05; done
PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/fake.out")
"$TMP/bench_cycle" "$B/plugins/subscan_poller.so" "http://127.0.0.1:$PORT" 1000 "$CYCLES" "$RATE"
