#!/usr/bin/env bash
# Two builds measured in the same seconds: both gateways serve at once on CPU 1 (fresh SQLite
# store each), each under its own wrk on CPU 0 against one mock provider, and each one's CPU
# per call is read from its threads' scheduler time around the cell. A slow spell of the host
# slows both alike, so the ratio B/A holds where alternated runs (proxy.sh) swing by ±30 %.
# The two share one core, so each call costs more than it does alone: compare the ratio, not
# the figures. Which build starts first alternates from round to round.
# Usage: bash crates/canopy-bench/paired.sh BUILD_A BUILD_B
# Env: ROUNDS (4), DUR seconds per cell (8), CONC (16), MODE (plain; stream for streamed calls),
# EXTRA_HEADERS ("Name: value|..." added to every call; "Connection: close" makes each call open
# a new connection).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-4}; DUR=${DUR:-8}; CONC=${CONC:-16}; MODE=${MODE:-plain}
[ $# -eq 2 ] || { echo "usage: paired.sh BUILD_A BUILD_B" >&2; exit 2; }
source crates/canopy-bench/lib.sh
bench_init

start_mock "$1"
MOCK=$mock_url
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
export BODY_FILE="$WORK/body-$MODE.json"
export HEADERS="Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step${EXTRA_HEADERS:+|$EXTRA_HEADERS}"

# Nanoseconds every thread of a process has run so far.
run_ns() { cat /proc/"$1"/task/*/schedstat | awk '{t += $1} END {printf "%.0f", t}'; }

# Starts build BIN as gateway NAME (a or b); sets pid_NAME and gw_NAME.
start() { # NAME BIN
  serve_fresh "$2" "$1"
  printf -v "pid_$1" '%s' "$pid"
  printf -v "gw_$1" '%s' "$gw"
}

# Runs wrk against both gateways at once for SECONDS, results in $WORK/{a,b}.txt.
load() { # SECONDS
  local w=()
  for g in a b; do
    local url="gw_$g"
    timeout $(($1 + 10)) taskset -c 0 wrk -t1 -c"$CONC" -d"$1s" --latency -s "$WORK/post.lua" \
      "${!url}/v1/chat/completions" > "$WORK/$g.txt" &
    w+=($!)
  done
  wait "${w[@]}"
}

printf '| round | A req/s | A CPU µs/call | B req/s | B CPU µs/call | B/A CPU |\n'
printf '|--:|--:|--:|--:|--:|--:|\n'
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then start a "$1"; start b "$2"; else start b "$2"; start a "$1"; fi
  load 2 # warm-up
  a0=$(run_ns "$pid_a"); b0=$(run_ns "$pid_b")
  load "$DUR"
  a1=$(run_ns "$pid_a"); b1=$(run_ns "$pid_b")
  na=$(awk '/requests in/{print $1}' "$WORK/a.txt"); nb=$(awk '/requests in/{print $1}' "$WORK/b.txt")
  awk -v r="$round" -v na="$na" -v nb="$nb" -v d="$DUR" -v a="$((a1 - a0))" -v b="$((b1 - b0))" \
    'BEGIN { ca = a / na / 1000; cb = b / nb / 1000
             printf "| %d | %.0f | %.1f | %.0f | %.1f | %.3f |\n", r, na / d, ca, nb / d, cb, cb / ca }'
  kill -TERM "$pid_a" "$pid_b"; wait "$pid_a" "$pid_b" 2>/dev/null || true
done
