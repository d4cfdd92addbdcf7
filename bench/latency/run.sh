#!/usr/bin/env bash
# bench/latency — alert latency from block to delivered webhook, real time,
# on loopback: the fake node (tests/fakes/fakenode --accounts N) produces one
# block per `block` control POST, each with one large movement (>= 10,000
# DOT); rolloutd (no --speed) runs bench/latency/plan.yaml: the real
# rpc_watcher as candidate serving 100 % of the traffic, the idle `scripted`
# baseline, and the real alerting plugin with a json webhook channel to
# tests/fakes/webhookd/webhookd.py, which stamps each POST's arrival.
# drive.py takes the time just before each block's control POST and matches
# the webhook POST of its alert by (account, block); it reports block ->
# webhook p50/p95/p99/max, the split at the alert's time_ms (when the watcher
# received the storage notification), and missing / duplicated / extra
# alerts (any is an error).  Median of RUNS runs per N.
#
#   B=build bash bench/latency/run.sh
#   ACCOUNTS="1000 10000" CHANGES=300 INTERVAL_MS=100 RUNS=3 KEEP=DIR (keep the runs' files)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
B=${B:-build}
ACCOUNTS=${ACCOUNTS:-"1000 10000"}
CHANGES=${CHANGES:-300}
INTERVAL_MS=${INTERVAL_MS:-100}
RUNS=${RUNS:-3}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bench-latency.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then rm -rf "$KEEP"; cp -a "$TMP" "$KEEP"; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
for f in "$B/rolloutd" "$B/tests/fakes/fakenode" "$B/plugins/rpc_watcher.so" "$B/plugins/alerting.so" \
    "$B/tests/plugins/scripted.so"; do
  [ -e "$f" ] || { echo "run.sh: $f not built (make B=$B $f)" >&2; exit 1; }
done
mkdir -p "$TMP/plugins"
for f in plugins/rpc_watcher.so plugins/alerting.so tests/plugins/scripted.so; do
  ln -s "$ROOT/$B/$f" "$TMP/plugins/"
done
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { local i; for ((i = 0; i < 200; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
wait_grep() { # PATTERN FILE TENTHS
  local i; for ((i = 0; i < $3; i++)); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done; return 1
}

one_run() { # N RUN -> appends the summary JSON to $TMP/results
  local n=$1 run=$2 np hp ap node hook rd d=$TMP/run-$1-$2
  mkdir -p "$d"
  np=$(port); hp=$(port); ap=$(port)
  "$B/tests/fakes/fakenode" --port "$np" --accounts "$n" --seed "$run" --addresses "$d/addrs.txt" \
    --quiet >"$d/node.log" 2>&1 &
  node=$!; pids+=($node)
  $PY tests/fakes/webhookd/webhookd.py "$hp" "$d/hook.jsonl" >"$d/hook.out" 2>&1 &
  hook=$!; pids+=($hook)
  wait_file "$d/addrs.txt" && wait_grep ready "$d/hook.out" 100 || { cat "$d/node.log" "$d/hook.out" >&2; exit 1; }
  # the plan with the node's accounts
  $PY - "$d/addrs.txt" bench/latency/plan.yaml >"$d/plan.yaml" <<'PY'
import sys
addrs = [l.strip() for l in open(sys.argv[1]) if l.strip()]
for line in open(sys.argv[2]):
    if line.strip() == "accounts: []":
        ind = line[:len(line) - len(line.lstrip())]
        print(ind + "accounts:")
        for a in addrs:
            print(ind + "  - " + a)
    else:
        sys.stdout.write(line)
PY
  POLKADOT_RPC_URL="ws://127.0.0.1:$np" WEBHOOK_URL="http://127.0.0.1:$hp/hook" \
    "$B/rolloutd" --plan "$d/plan.yaml" --data-dir "$d/data" --plugin-dir "$TMP/plugins" \
    --listen "127.0.0.1:$ap" >"$d/rolloutd.log" 2>&1 &
  rd=$!; pids+=($rd)
  wait_grep "rpc_watcher: watching $n accounts" "$d/rolloutd.log" 600 ||
    { echo "run.sh: the candidate did not watch $n accounts" >&2; tail -n 20 "$d/rolloutd.log" >&2; exit 1; }
  local i tr=
  for ((i = 0; i < 100; i++)); do
    tr=$(curl -s "http://127.0.0.1:$ap/api/status" | tr -d ' \n' | sed -n 's/.*"traffic":\([0-9]*\).*/\1/p')
    [ "$tr" = 100 ] && break; sleep 0.1
  done
  [ "$tr" = 100 ] || { echo "run.sh: traffic is '$tr', not 100" >&2; exit 1; }
  sleep 1 # the initial values (baselines) of all subscriptions
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  local res; res=$($PY bench/latency/drive.py "$d/addrs.txt" "$np" "$d/hook.jsonl" "$CHANGES" "$INTERVAL_MS" 30 "$d/rows")
  # rolloutd's own view: p95 of candidate.alert_latency (block time -> alert raised)
  local api; api=$(curl -s "http://127.0.0.1:$ap/api/metrics?points=2" | $PY -c 'import json,sys
c = json.load(sys.stdin)["derived"]["candidate"]
print("%.4f/%.4f" % (c["p95_alert_latency_s"], c["avg_alert_latency_s"]))' 2>/dev/null || echo '?')
  echo "$n $run $load ${api:-?} $res" >>"$TMP/results"
  echo "  N=$n run $run (load $load): $(echo "$res" | $PY -c 'import json,sys; r=json.load(sys.stdin); t=r["total_ms"]; print("%d/%d delivered, %d missing, %d dup, %d extra; block->webhook p50 %.2f p95 %.2f p99 %.2f max %.2f ms; block->seen p50 %.1f, seen->webhook p50 %.1f ms" % (r["delivered"], r["n"], r["missing"], r["duplicates"], r["extra"], t["p50"] or 0, t["p95"] or 0, t["p99"] or 0, t["max"] or 0, r["detect_ms"]["p50"] or 0, r["deliver_ms"]["p50"] or 0))'); rolloutd candidate.alert_latency p95/avg ${api:-?} s"
  kill "$rd" "$node" "$hook" 2>/dev/null || true
  wait "$rd" "$node" "$hook" 2>/dev/null || true
}

echo "bench/latency: ACCOUNTS='$ACCOUNTS' CHANGES=$CHANGES INTERVAL_MS=$INTERVAL_MS RUNS=$RUNS build $B;" \
  "machine: $(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(. /etc/os-release; echo "$PRETTY_NAME")"
echo "  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $ACCOUNTS; do
  for run in $(seq 1 "$RUNS"); do one_run "$n" "$run"; done
done
echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
$PY - "$TMP/results" <<'PY'
import json, statistics, sys
by = {}
for l in open(sys.argv[1]):
    n, run, load, api, res = l.split(" ", 4)
    by.setdefault(int(n), []).append((float(load), api, json.loads(res)))
bad = 0
for n, rs in sorted(by.items()):
    med = lambda f: statistics.median(f(r) for r in rs)
    t = lambda k, p: med(lambda r: r[2][k][p] or 0)
    miss = sum(r[2]["missing"] for r in rs); dup = sum(r[2]["duplicates"] for r in rs); ext = sum(r[2]["extra"] for r in rs)
    bad += miss + dup + ext
    print("N=%d watched, %d blocks x %d runs: block -> delivered webhook p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms"
          " (median of runs); block -> seen by the watcher p50 %.2f / p99 %.2f ms; seen -> webhook p50 %.2f / p99 %.2f ms;"
          " missing %d, duplicated %d, extra %d; load %s"
          % (n, rs[0][2]["n"], len(rs), t("total_ms", "p50"), t("total_ms", "p95"), t("total_ms", "p99"),
             t("total_ms", "max"), t("detect_ms", "p50"), t("detect_ms", "p99"), t("deliver_ms", "p50"),
             t("deliver_ms", "p99"), miss, dup, ext, "/".join("%.2f" % r[0] for r in rs)))
sys.exit(1 if bad else 0)
PY
