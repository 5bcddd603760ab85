#!/usr/bin/env bash
# Canopy's whole benchmark suite, on loopback, in one run. Not part of CI's tests.
#
#   bash crates/canopy-bench/suite.sh
#
# 1. Proxy under load: wrk against `canopy mock-provider` directly, through `canopy serve`
#    (SQLite logging on) and, when the peer harness is present, through LiteLLM and Portkey;
#    plain and streamed, at each concurrency in CONCS.
#    `relay` is `canopy-bench relay` on CPU 1 in front of the mock: a proxy that only copies
#    bytes, the floor under any gateway in this layout.
# 2. 1,000 concurrent slow streams (`canopy-bench streams`): added TTFT and the gateway's RSS;
#    then one stream at a time (`canopy-bench ttft`): the TTFT the gateway and the relay add.
# 3. Ingest (`canopy-bench ingest`) and the record lag under load (`canopy-bench lag`).
# 4. Micro-benchmarks (`cargo bench -p canopy-bench --bench micro`).
#
# The mock provider and wrk share CPU 0; each gateway under test has CPU 1 to itself.
# Env: DUR (seconds per cell, 10), WARM (warm-up seconds, 3), CONCS ("1 16 64 256"),
#      MODES ("plain stream"), PEERS_HARNESS (../shared/bench-peers; set empty to skip peers),
#      MOCK_PORT (9100, where the peers' configs send their calls), OUT (results directory),
#      SECTIONS ("load streams ingest micro"), TARGETS ("direct relay canopy litellm portkey"; add
#      litellmrs for litellm-rs 0.9.0, which the harness builds from crates.io in ~20 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DUR=${DUR:-10}; WARM=${WARM:-3}
CONCS=${CONCS:-"1 16 64 256"}; MODES=${MODES:-"plain stream"}
PEERS_HARNESS=${PEERS_HARNESS-$ROOT/../shared/bench-peers}
PEERS=${PEERS:-$HOME/.cache/bench-peers}
MOCK_PORT=${MOCK_PORT:-9100}
SECTIONS=${SECTIONS:-"load streams ingest micro"}
TARGETS=${TARGETS:-"direct relay canopy litellm portkey"}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$TARGET_DIR/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
REPORT=$OUT/report.md

cargo build --release -q -p canopy -p canopy-bench
BIN=$TARGET_DIR/release/canopy
BENCH=$TARGET_DIR/release/canopy-bench
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

WORK=$(mktemp -d)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [ -n "$PEERS_HARNESS" ] && PEERS=$PEERS bash "$PEERS_HARNESS/stop.sh" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "$@" | tee -a "$REPORT"; }
source crates/canopy-bench/lib.sh

# --- the machine ------------------------------------------------------------------------
{
  echo "# Canopy benchmark suite, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "- $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem/{print $2}') GiB"
  echo "- $(uname -sr), $(rustc --version), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "- commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo
} > "$REPORT"

# --- processes --------------------------------------------------------------------------
taskset -c 0 "$BIN" mock-provider --listen "127.0.0.1:$MOCK_PORT" > "$WORK/mock.out" 2>&1 &
MOCK_PID=$!
MOCK=$(listening_url "$WORK/mock.out")
cat > "$WORK/canopy.toml" <<TOML
listen = "127.0.0.1:0"
store = "sqlite://$WORK/canopy.db"
[providers.openai]
base_url = "$MOCK"
TOML
start_canopy() { # a fresh `canopy serve` on CPU 1 with an empty store: sets GW and GW_PID
  [ -n "${GW_PID:-}" ] && { kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; }
  rm -rf "$WORK"/canopy.db* "$WORK/canopy.out"
  CANOPY_LOG=warn taskset -c 1 "$BIN" serve --config "$WORK/canopy.toml" > "$WORK/canopy.out" 2>&1 &
  GW_PID=$!
  GW=$(listening_url "$WORK/canopy.out")
}
start_canopy
start_relay "$BENCH" "$MOCK"

# --- 1. proxy under load ----------------------------------------------------------------
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
to_ms() { # wrk's "1.23ms" / "456.00us" / "1.2s" -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; printf "%.3f", n }'
}
cell() { # target url pid mode conc headers -> one table row
  local target=$1 url=$2 pid=$3 mode=$4 conc=$5 f="$OUT/$1-$4-c$5.txt" t0 t1
  t0=$(ticks "$pid")
  BODY_FILE="$WORK/body-$mode.json" HEADERS=$6 timeout $((DUR + 20)) \
    taskset -c 0 wrk -t1 -c"$conc" -d"${DUR}s" --timeout 10s --latency -s "$WORK/post.lua" "$url" > "$f" 2>&1 || true
  t1=$(ticks "$pid")
  local rps n errors cpu
  rps=$(awk '/Requests\/sec/{printf "%.0f", $2}' "$f")
  n=$(awk '/requests in/{print $1}' "$f")
  errors=$(awk '/Non-2xx/{e += $NF} /Socket errors/{gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$f")
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="${n:-0}" 'BEGIN { if (n > 0) printf "%.3f", t * 1000 / hz / n; else print "-" }')
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$mode" "$conc" "${rps:-0}" \
    "$(to_ms "$(awk '$1=="50%"{print $2}' "$f")")" "$(to_ms "$(awk '$1=="90%"{print $2}' "$f")")" \
    "$(to_ms "$(awk '$1=="99%"{print $2}' "$f")")" "$errors" "$cpu" "$(rss_mb "$pid")" | tee -a "$REPORT"
}
smoke() { # url mode headers: one call with curl, which must succeed
  local args=(-sf -m 10 -o "$WORK/smoke.out" -H 'content-type: application/json' -d @"$WORK/body-$2.json")
  local pair; IFS='|' read -ra pairs <<< "$3"
  for pair in "${pairs[@]}"; do args+=(-H "$pair"); done
  curl "${args[@]}" "$1" && grep -q '"total_tokens"' "$WORK/smoke.out"
}
run_target() { # target url pid headers
  for mode in $MODES; do
    smoke "$2" "$mode" "$4" || { echo "$1 $mode: the smoke call failed; skipped" >&2; continue; }
    BODY_FILE="$WORK/body-$mode.json" HEADERS=$4 timeout $((WARM + 20)) \
      taskset -c 0 wrk -t1 -c16 -d"${WARM}s" --timeout 10s -s "$WORK/post.lua" "$2" > /dev/null 2>&1 || true
    for c in $CONCS; do cell "$1" "$2" "$3" "$mode" "$c" "$4"; done
  done
}

if [[ " $SECTIONS " == *" load "* ]]; then
  peers=""
  for t in litellm portkey litellmrs; do [[ " $TARGETS " == *" $t "* ]] && peers="$peers $t"; done
  if [ -n "$peers" ] && { [ -z "$PEERS_HARNESS" ] || [ ! -x "$PEERS_HARNESS/setup.sh" ]; }; then
    echo "no peer harness at '$PEERS_HARNESS'; measuring Canopy alone" >&2; peers=""
  elif [ -n "$peers" ]; then
    with_rs=0; [[ " $peers " == *" litellmrs "* ]] && with_rs=1
    WITH_LITELLM_RS=$with_rs PEERS=$PEERS bash "$PEERS_HARNESS/setup.sh" > "$OUT/peers-setup.log" 2>&1 \
      || { echo "peer setup failed (see $OUT/peers-setup.log); measuring Canopy alone" >&2; peers=""; }
  fi
  say "## Proxy under load"
  say ""
  say "wrk -t1 for ${DUR} s per cell after a ${WARM} s warm-up; mock provider and wrk on CPU 0, the gateway on CPU 1."
  say "CPU and RSS are the gateway's (the mock's for \"direct\", the relay's for \"relay\"). Latencies in ms."
  say ""
  say "| target | mode | c | req/s | p50 | p90 | p99 | errors | CPU ms/req | RSS MB |"
  say "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
  [[ " $TARGETS " == *" direct "* ]] && run_target direct "$MOCK/v1/chat/completions" "$MOCK_PID" ""
  [[ " $TARGETS " == *" relay "* ]] && run_target relay "$relay_url/v1/chat/completions" "$relay_pid" ""
  [[ " $TARGETS " == *" canopy "* ]] && run_target canopy "$GW/v1/chat/completions" "$GW_PID" \
    "Helicone-Session-Id: bench|Helicone-Session-Path: /bench/step|Helicone-Property-Suite: load"
  for peer in $peers; do
    PEERS=$PEERS bash "$PEERS_HARNESS/start.sh" "$peer" > "$OUT/$peer-start.log" 2>&1 || { echo "$peer did not start" >&2; continue; }
    case $peer in
      litellm) run_target litellm http://127.0.0.1:4000/v1/chat/completions "$(cat "$PEERS/litellm.pid")" \
        "Authorization: Bearer $(cat "$PEERS/litellm-master-key")" ;;
      portkey) run_target portkey http://127.0.0.1:8787/v1/chat/completions "$(cat "$PEERS/portkey.pid")" \
        "Authorization: Bearer fake-key|x-portkey-provider: openai|x-portkey-custom-host: $MOCK/v1" ;;
      litellmrs) run_target litellmrs http://127.0.0.1:4001/v1/chat/completions "$(cat "$PEERS/litellmrs.pid")" "" ;;
    esac
    PEERS=$PEERS bash "$PEERS_HARNESS/stop.sh" "$peer" > /dev/null 2>&1 || true
  done
  say ""
fi

# --- 2. streams at scale ----------------------------------------------------------------
if [[ " $SECTIONS " == *" streams "* ]]; then
  say "## 1,000 concurrent slow streams"
  say ""
  start_canopy # its memory is measured from a fresh start
  taskset -c 0 "$BENCH" streams --gateway "$GW" --mock "$MOCK" --gateway-pid "$GW_PID" | tee -a "$REPORT"
  say ""
  say "## Added time to first token, one stream at a time"
  say ""
  taskset -c 0 "$BENCH" ttft --gateway "$GW" --mock "$MOCK" --relay "$relay_url" | tee -a "$REPORT"
  say ""
fi

# --- 3. ingest and record lag ----------------------------------------------------------
if [[ " $SECTIONS " == *" ingest "* ]]; then
  say "## Record lag under load"
  say ""
  taskset -c 0 "$BENCH" lag --gateway "$GW" | tee -a "$REPORT"
  say ""
  say "## Ingest into SQLite (one core)"
  say ""
  taskset -c 1 "$BENCH" ingest 200000 | tee -a "$REPORT"
  say ""
fi

# --- 4. micro-benchmarks ----------------------------------------------------------------
if [[ " $SECTIONS " == *" micro "* ]]; then
  say "## Micro-benchmarks"
  say ""
  say '```'
  taskset -c 1 cargo bench -q -p canopy-bench --bench micro 2>/dev/null | tee -a "$REPORT"
  say '```'
fi

kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
echo "report: $REPORT"
