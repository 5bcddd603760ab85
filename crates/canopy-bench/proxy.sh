#!/usr/bin/env bash
# Proxy overhead A/B on loopback: wrk against the mock provider directly, then through each given
# Canopy binary in turn (fresh SQLite store each), for ROUNDS rounds, all in one run: the way to
# compare two builds on a noisy machine. Mock and wrk share CPU 0; Canopy has CPU 1 to itself.
# The `hop` rows are a second mock on CPU 1, reached from CPU 0: one round trip between cores.
# A gateway on CPU 1 makes two per call (client to gateway, gateway to mock), so the hop's added
# latency, twice, is what any gateway pays in this layout before doing any work. The `relay`
# rows go through `canopy-bench relay` on CPU 1 in front of the mock: a proxy that copies bytes
# and parses nothing, so both round trips and the wake-ups between cores, measured, with no
# other work. Canopy's rows minus the relay's are what Canopy itself adds. `spooled` counts the
# records the gateway has moved to its spool since it started: above 0, its writer fell behind
# its queue, and its rows are not comparable with a gateway that kept up.
# Usage: bash crates/canopy-bench/proxy.sh [CANOPY_BINARY...]   (default: this checkout's release build)
# Env: DUR seconds per cell (5), CONCS ("1 16"), MODES ("plain"; "plain stream" adds streamed
# calls with `stream_options.include_usage`), WARM (0: seconds of load at the cell's own
# concurrency before each cell, as suite.sh does), ROUNDS (2). Extra `serve` settings can be passed
# as CANOPY_* variables, e.g. CANOPY_WRITER__LINGER_MS=0.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${DUR:-5}; CONCS=${CONCS:-"1 16"}; MODES=${MODES:-plain}; WARM=${WARM:-0}; ROUNDS=${ROUNDS:-2}
source crates/canopy-bench/lib.sh
bench_binaries "$@"
set -- "${binaries[@]}"
cargo build --release -q -p canopy-bench
BENCH=${CARGO_TARGET_DIR:-target}/release/canopy-bench
bench_init

start_mock "$1"
MOCK=$mock_url
start_mock "$1" 1 hop
HOP=$mock_url
start_relay "$BENCH" "$MOCK"
RELAY=$relay_url
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
export HEADERS="Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step"
run() { # url conc file [seconds]
  timeout $((${4:-$DUR} + 10)) taskset -c 0 wrk -t1 -c"$2" -d"${4:-$DUR}s" --latency -s "$WORK/post.lua" "$1" > "$3"
}

printf '| round | build | mode | target | c | req/s | p50 | p90 | p99 | gateway CPU ms/req | RSS MB | spooled |\n'
printf '|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    serve_fresh "$bin"
    export BODY_FILE="$WORK/body-plain.json"
    run "$gw/v1/chat/completions" 16 /dev/null # warm-up
    for mode in $MODES; do
      export BODY_FILE="$WORK/body-$mode.json"
      for c in $CONCS; do
        for target in direct hop relay canopy; do
          case $target in direct) url=$MOCK ;; hop) url=$HOP ;; relay) url=$RELAY ;; canopy) url=$gw ;; esac
          f="$WORK/$target-c$c.txt"
          [ "$WARM" -gt 0 ] && run "$url/v1/chat/completions" "$c" /dev/null "$WARM"
          t0=$(ticks $pid); run "$url/v1/chat/completions" "$c" "$f"; t1=$(ticks $pid)
          n=$(awk '/requests in/{print $1}' "$f")
          p() { awk -v q="$1" '$1==q{print $2}' "$f"; }
          cpu="-"; spooled="-"
          if [ $target = canopy ]; then
            cpu=$(echo "scale=4; ($t1-$t0)*1000/$(getconf CLK_TCK)/$n" | bc)
            spooled=$(spooled_total "$gw")
          fi
          printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$(build_label "$bin")" $mode $target "$c" \
            "$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")" "$(p 50%)" "$(p 90%)" "$(p 99%)" "$cpu" \
            "$(rss_mb $pid)" "$spooled"
        done
      done
    done
    kill -TERM $pid; wait $pid 2>/dev/null || true
  done
done
