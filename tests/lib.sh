# tests/lib.sh — helpers for end-to-end tests (source it).
# Every e2e test: `. "$(dirname "$0")/../lib.sh"`, then use $B (build dir),
# $ROOT (source root), $SHARED (../shared), $TMP (removed on exit),
# free_port, wait_port, bg (start a process that is killed on exit), fail.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${B:-build}
case "$B" in /*) ;; *) B="$ROOT/$B" ;; esac
SHARED=${SHARED:-$ROOT/../shared}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rollout-e2e.XXXXXX")
_BG_PIDS=()
_cleanup() {
  local p
  for p in "${_BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${_BG_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap _cleanup EXIT
PY=/usr/bin/python3

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# free_port: print a currently free TCP port on 127.0.0.1.
free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: wait until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listening on 127.0.0.1:$port after ${secs}s"
}

# bg CMD...: run CMD in the background; it is killed when the test exits. Sets BG_PID.
bg() {
  "$@" &
  BG_PID=$!
  _BG_PIDS+=("$BG_PID")
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() { [ "$1" = "$2" ] || fail "$3: expected [$1], got [$2]"; }
# assert_contains FILE PATTERN WHAT (grep -E)
assert_contains() { grep -qE -- "$2" "$1" || { echo "--- $1:"; tail -n 30 "$1"; fail "$3: /$2/ not found in $1"; }; }
