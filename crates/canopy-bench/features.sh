#!/usr/bin/env bash
# What the gateway features cost, A/B in one run on loopback: wrk against one `canopy serve`
# (fresh SQLite store, CPU 1) with different headers per cell, alternated for ROUNDS rounds, and
# against the mock provider directly (mock and wrk share CPU 0). Every cell carries the session
# headers; the variants add:
#   plain       nothing more (the baseline);
#   cache-miss  `Helicone-Cache-Save: true`: every call keyed and its answer saved, none read
#               back, the cost of a cache that never hits;
#   cache-hit   `Helicone-Cache-Enabled: true` on one body: every call after the first a hit;
#   ratelimit   `Helicone-RateLimit-Policy` with a quota no cell reaches: every call counted.
# Usage: bash crates/canopy-bench/features.sh [CANOPY_BINARY]   (default: this checkout's release build)
# Env: DUR seconds per cell (5), CONCS ("1 16"), ROUNDS (2), VARIANTS (all four).
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${DUR:-5}; CONCS=${CONCS:-"1 16"}; ROUNDS=${ROUNDS:-2}
VARIANTS=${VARIANTS:-"plain cache-miss cache-hit ratelimit"}
source crates/canopy-bench/lib.sh
bench_binaries ${1:+"$1"}
bin=${binaries[0]}
bench_init

start_mock "$bin"
MOCK=$mock_url
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
export BODY_FILE="$WORK/body-plain.json"
SESSION="Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step"
headers() { # variant
  case "$1" in
    plain) echo "$SESSION" ;;
    cache-miss) echo "$SESSION|Helicone-Cache-Save: true" ;;
    cache-hit) echo "$SESSION|Helicone-Cache-Enabled: true" ;;
    ratelimit) echo "$SESSION|Helicone-RateLimit-Policy: 1000000000;w=3600" ;;
    direct) echo "" ;;
  esac
}
run() { # url conc file
  timeout $((DUR + 10)) taskset -c 0 wrk -t1 -c"$2" -d"${DUR}s" --latency -s "$WORK/post.lua" "$1" > "$3"
}

printf 'listen = "127.0.0.1:0"\nstore = "sqlite://%s/canopy.db"\n[providers.openai]\nbase_url = "%s"\n' \
  "$WORK" "$MOCK" > "$WORK/canopy.toml"
CANOPY_LOG=warn taskset -c 1 "$bin" serve --config "$WORK/canopy.toml" > "$WORK/canopy.out" 2>&1 &
pid=$!
gw=$(listening_url "$WORK/canopy.out")
HEADERS=$(headers plain) run "$gw/v1/chat/completions" 16 /dev/null # warm-up

printf '| round | variant | c | req/s | p50 | p90 | p99 | gateway CPU ms/req |\n'
printf '|--:|---|--:|--:|--:|--:|--:|--:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for c in $CONCS; do
    for variant in direct $VARIANTS; do
      url=$gw; [ "$variant" = direct ] && url=$MOCK
      f="$WORK/$variant-c$c.txt"
      t0=$(ticks $pid); HEADERS=$(headers "$variant") run "$url/v1/chat/completions" "$c" "$f"; t1=$(ticks $pid)
      n=$(awk '/requests in/{print $1}' "$f")
      p() { awk -v q="$1" '$1==q{print $2}' "$f"; }
      cpu="-"; [ "$variant" != direct ] && cpu=$(echo "scale=4; ($t1-$t0)*1000/$(getconf CLK_TCK)/$n" | bc)
      printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$variant" "$c" \
        "$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")" "$(p 50%)" "$(p 90%)" "$(p 99%)" "$cpu"
    done
  done
done
kill -TERM $pid; wait $pid 2>/dev/null || true
