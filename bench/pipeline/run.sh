#!/bin/sh
# bench/pipeline/run.sh — build and run the event-path benchmark (bus + rules +
# comparator + router, and the whole pipeline).  From the source root:
#   sh bench/pipeline/run.sh [EVENTS_PER_PRODUCER]
# B selects the build directory (default build-bench).
set -e
B=${B:-build-bench}
make -s B="$B" "$B/librunner.a" "$B/libflags.a" "$B/libpolkadot.a" "$B/libcommon.a" >/dev/null
PKGS="yaml-0.1 libconfig libcurl libwebsockets libpcre2-8 jansson libsodium libxxhash"
cc -std=c11 -D_GNU_SOURCE -O2 -pthread -Iinclude -Icommon -Iplugins/polkadot -Iflags -Irunner \
    $(pkg-config --cflags $PKGS) -o "$B/bench_pipeline" bench/pipeline/bench_pipeline.c \
    "$B/librunner.a" "$B/libflags.a" "$B/libpolkadot.a" "$B/libcommon.a" \
    $(pkg-config --libs $PKGS) -ldl -lm
"$B/bench_pipeline" "$@"
