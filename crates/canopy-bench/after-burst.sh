#!/usr/bin/env bash
# The first calls after a burst, A/B on loopback: each given Canopy binary in turn (fresh SQLite
# store each) takes wrk at concurrency 16 for 3 s, which ends with calls cut mid-flight as wrk
# stops, and then three single calls, timed by curl one after another. A gateway that does slow
# work on its runtime's thread when those cut calls are recorded shows it in the first call.
# Mock and load share CPU 0; Canopy has CPU 1.
# Usage: bash crates/canopy-bench/after-burst.sh [CANOPY_BINARY...]   (default: this checkout's release build)
# Env: ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
source crates/canopy-bench/lib.sh
bench_binaries "$@"
set -- "${binaries[@]}"
bench_init

start_mock "$1"
MOCK=$mock_url
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
export BODY_FILE="$WORK/body-plain.json" HEADERS="Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step"
call() {
  taskset -c 0 curl -s -o /dev/null -w '%{time_total}' -H 'content-type: application/json' \
    -H 'Helicone-Session-Id: bench' --data-binary @"$BODY_FILE" "$gw/v1/chat/completions" |
    awk '{printf "%.2f", $1 * 1000}'
}

printf '| round | build | 1st call after the burst ms | 2nd | 3rd |\n|--:|---|--:|--:|--:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    serve_fresh "$bin"
    taskset -c 0 wrk -t1 -c16 -d3s -s "$WORK/post.lua" "$gw/v1/chat/completions" > /dev/null
    printf '| %s | %s | %s | %s | %s |\n' "$round" "$(build_label "$bin")" "$(call)" "$(call)" "$(call)"
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
