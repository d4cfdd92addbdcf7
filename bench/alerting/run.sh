#!/usr/bin/env bash
# bench/alerting/run.sh — alerts/s through the webhook channel to a local
# receiver, and accept -> 2xx latency percentiles.
#
#   B=build [MODES="burst paced drain"] bash bench/alerting/run.sh [RUNS] [N] [RATE]
#
# Each run starts tests/fakes/webhookd/webhookd.py (Python, HTTP/1.1
# keep-alive) on loopback and the plugin under tests/fakes/alertdrv, then
#   burst: N alerts accepted as fast as on_alert returns (each one fsynced
#          into the outbox); throughput = N / (first accept .. outbox empty)
#   paced: N alerts at RATE/s; latency = accepted -> 2xx, as the plugin's
#          delivery_latency metric records it (nearest-rank percentiles)
#   drain: N alerts accepted while the receiver answers 500, then the
#          receiver is switched to 200; delivered/s = N / time to empty the
#          outbox (the delivery path alone: format, POST, 2xx, unlink)
# and prints one line per run plus the medians.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
B=${B:-build}
RUNS=${1:-5}
N=${2:-2000}
RATE=${3:-200}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/alerting-bench.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
[ -x "$B/tests/fakes/alertdrv" ] && [ -f "$B/plugins/alerting.so" ] ||
  { echo "build first: make B=$B $B/plugins/alerting.so $B/tests/fakes/alertdrv" >&2; exit 1; }

ms() { echo $(( $(date +%s%N) / 1000000 )); }

one_run() {   # one_run MODE -> prints "N accept_ms total_ms p50 p90 p99 max" (ms)
  local mode=$1 port dir t0 t1 ans
  port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  dir=$(mktemp -d "$TMP/run.XXXXXX")
  $PY tests/fakes/webhookd/webhookd.py "$port" "$dir/hook.jsonl" 200 >"$dir/hook.out" 2>&1 &
  PIDS+=($!)
  local hook=$!
  for _ in $(seq 100); do grep -q ready "$dir/hook.out" && break; sleep 0.05; done
  cat >"$dir/alerting.yaml" <<YAML
channels:
  - webhook: { url: "http://127.0.0.1:$port/hook", format: json }
throttle: off
retry: { initial: 10ms, max: 20ms }
YAML
  coproc DRV { exec "$B/tests/fakes/alertdrv" "$B/plugins/alerting.so" "$dir/alerting.yaml" "$dir/data" 2>"$dir/drv.err"; }
  local drv=$DRV_PID in=${DRV[1]} out=${DRV[0]}
  read -r ans <&"$out"
  echo "keep alerting.webhook.delivery_latency" >&"$in"; read -r ans <&"$out"
  if [ "$mode" = drain ]; then
    curl -sf -X POST --data 500 "http://127.0.0.1:$port/_mode" >/dev/null
    echo "gen $N large_movement warning" >&"$in"
    read -r ans <&"$out"
    curl -sf -X POST --data 200 "http://127.0.0.1:$port/_mode" >/dev/null
    t0=$(ms)
  else
    t0=$(ms)
    if [ "$mode" = burst ]; then
      echo "gen $N large_movement warning" >&"$in"
    else
      echo "gen $N large_movement warning $RATE" >&"$in"
    fi
    read -r ans <&"$out"
  fi
  local accept=${ans##* }
  echo "wait-idle 300" >&"$in"; read -r ans <&"$out"
  [ "$ans" = idle ] || { echo "not idle: $ans" >&2; exit 1; }
  t1=$(ms)
  echo quantiles >&"$in"; read -r ans <&"$out"
  echo quit >&"$in"
  wait "$drv" || true
  kill "$hook" 2>/dev/null || true
  wait "$hook" 2>/dev/null || true
  set -- $ans
  [ "$2" = "$N" ] || { echo "expected $N latency samples, got $2" >&2; exit 1; }
  $PY -c "import sys; print('%d %d %d %.2f %.2f %.2f %.2f' % (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *(float(x)*1000 for x in sys.argv[4:8])))" \
    "$N" "$accept" "$((t1 - t0))" "$3" "$4" "$5" "$6"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "# build: $B; runs: $RUNS; alerts per run: $N; paced rate: $RATE/s"
for mode in ${MODES:-burst paced drain}; do
  : >"$TMP/$mode.txt"
  for r in $(seq "$RUNS"); do
    line=$(one_run "$mode")
    echo "$mode run $r: N accept_ms total_ms p50 p90 p99 max = $line"
    echo "$line" >>"$TMP/$mode.txt"
  done
  acc=$(awk '{print $1*1000/$2}' "$TMP/$mode.txt" | median)
  thr=$(awk '{print $1*1000/$3}' "$TMP/$mode.txt" | median)
  p50=$(awk '{print $4}' "$TMP/$mode.txt" | median)
  p99=$(awk '{print $6}' "$TMP/$mode.txt" | median)
  mx=$(awk '{print $7}' "$TMP/$mode.txt" | median)
  printf '%s: median accepted/s %.0f, delivered/s %.0f, accept->2xx p50 %.2f ms, p99 %.2f ms, max %.2f ms\n' \
    "$mode" "$acc" "$thr" "$p50" "$p99" "$mx"
done
