#!/usr/bin/env bash
# bench/subscan/run.sh — full top-1000 cycles of the subscan_poller plugin
# against fakescan: at an unlimited rate (CYCLES of them) and at the
# default 5 requests/s (3 of them); wall time, CPU time and peak RSS of the
# plugin's process.  Prints the figures and rewrites bench/subscan/RESULTS.md.
# usage: B=build bash bench/subscan/run.sh [CYCLES]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
SHARED=${SHARED:-$ROOT/../shared}
CYCLES=${1:-20}
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
URL=http://127.0.0.1:$PORT
"$TMP/bench_cycle" "$B/plugins/subscan_poller.so" "$URL" 1000 "$CYCLES" 0 2>/dev/null | tee "$TMP/unlimited"
"$TMP/bench_cycle" "$B/plugins/subscan_poller.so" "$URL" 1000 3 5 2>/dev/null | tee "$TMP/rate5"

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
mem=$(free -g | awk '/^Mem:/ { print $2 }')
load=$(cut -d' ' -f1-3 /proc/loadavg)
{
  cat <<MD
# subscan_poller: one full top-1000 cycle

Written by \`bench/subscan/run.sh\` on $(date -u +%Y-%m-%dT%H:%MZ).

What is measured: the plugin (\`$(basename "$B")/plugins/subscan_poller.so\`) loaded by a
minimal host (\`bench/subscan/bench_cycle.c\`, the ABI rolloutd uses), fetching the top 1000
accounts from \`tests/fakes/fakescan\` on loopback, which serves the real snapshots in
\`../shared/data/polkadot-top1000-2025-07/\` (about 255 KB of JSON each). One cycle = 10 POSTs
of \`/api/v2/scan/accounts\` (100 rows each), jansson parsing, exact token -> planck conversion
and SS58 decoding of 1000 rows, the snapshot event and, from cycle 2 on, the legacy diff against
the previous snapshot (~470 changed accounts between the first two files). Wall = from
\`start()\`/\`poll\` to the snapshot event; CPU = user+system time of the plugin's process over
that interval (the fake's CPU is not included); peak RSS = \`ru_maxrss\` of that process.

Command: \`make B=build build/plugins/subscan_poller.so build/tests/fakes/fakescan && B=build bash bench/subscan/run.sh $CYCLES\`

Machine: $(nproc) vCPU $cpu, Linux $(uname -r), ${mem} GiB RAM; load average at the end
$load (the machine is shared with other builds and tests, so wall times are noisy upward).

## Unlimited rate (\`rate: 0\`), $CYCLES cycles back to back

\`\`\`
$(cat "$TMP/unlimited")
\`\`\`

## Default rate (\`rate: 5\`), 3 cycles back to back

\`\`\`
$(cat "$TMP/rate5")
\`\`\`

At 5 requests/s the first cycle spends its 5 tokens at once and waits for the next five
until 1.05 s (1 s + 50 ms guard) after the first requests *ended*, so the server never sees
6 in one second however the network delays them; back-to-back cycles also wait for the
tokens the previous cycle spent. At the production interval (60 m) every cycle is a first
cycle: ~1.1 s, nearly all of it waiting on the rate limit, ~20 ms of CPU.
MD
} >"$ROOT/bench/subscan/RESULTS.md"
echo "wrote bench/subscan/RESULTS.md"
