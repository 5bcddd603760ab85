#!/usr/bin/env bash
# Memory after load, A/B on loopback: each given Canopy binary in turn (fresh SQLite store each)
# takes wrk's load cells, plain and streamed, then 1,000 slow streams, then rests. The gateway's
# resident memory and its idle connections to the mock are read when it starts, right after
# the load, and after REST seconds of quiet. Mock and load share CPU 0; Canopy has CPU 1.
# Usage: bash crates/canopy-bench/memory.sh [CANOPY_BINARY...]   (default: this checkout's release build)
# Env: DUR seconds per wrk cell (3), CONCS ("16 64 256"), STREAMS (1000; 0 for none), REST seconds (15),
# ROUNDS (1), REPLY_WORDS (unset: the mock's short replies; 600: streams of about 200 events).
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${DUR:-3}; CONCS=${CONCS:-"16 64 256"}; STREAMS=${STREAMS:-1000}; REST=${REST:-15}
ROUNDS=${ROUNDS:-1}
target_dir="${CARGO_TARGET_DIR:-target}"
if [ $# -eq 0 ]; then
  cargo build --release -q -p canopy -p canopy-bench
  set -- "$target_dir/release/canopy"
fi
BENCH=${BENCH:-$target_dir/release/canopy-bench}
ulimit -n 8192
source crates/canopy-bench/lib.sh
bench_init

start_mock "$1"
MOCK=$mock_url
MOCK_PORT=${MOCK##*:}
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
export HEADERS="Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step"
# The gateway's established connections to the mock (idle ones, once the load has ended).
upstream() { ss -Htn state established "( dport = :$MOCK_PORT )" | wc -l; }
words=()
[ -n "${REPLY_WORDS:-}" ] && words=(--reply-words "$REPLY_WORDS")

printf '| round | build | RSS at start MB | after load MB | after %s s MB | upstream conns after load | after %s s |\n' "$REST" "$REST"
printf '|--:|---|--:|--:|--:|--:|--:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    serve_fresh "$bin"
    start=$(rss_mb $pid)
    for mode in plain stream; do
      for c in $CONCS; do
        BODY_FILE="$WORK/body-$mode.json" timeout $((DUR + 10)) \
          taskset -c 0 wrk -t1 -c"$c" -d"${DUR}s" -s "$WORK/post.lua" "$gw/v1/chat/completions" > /dev/null
      done
    done
    if [ "$STREAMS" -gt 0 ]; then
      taskset -c 0 "$BENCH" streams --gateway "$gw" --mock "$MOCK" --streams "$STREAMS" \
        "${words[@]}" > "$WORK/streams.txt" 2>&1
    fi
    loaded=$(rss_mb $pid); conns=$(upstream)
    sleep "$REST"
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$(basename "$(dirname "$bin")")" \
      "$start" "$loaded" "$(rss_mb $pid)" "$conns" "$(upstream)"
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
