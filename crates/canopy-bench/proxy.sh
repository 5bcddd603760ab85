#!/usr/bin/env bash
# Proxy overhead on loopback: wrk against the mock provider directly, then through Canopy
# (SQLite logging on), in the same run. Mock and wrk share CPU 0; Canopy has CPU 1 to itself.
# Usage: bash crates/canopy-bench/proxy.sh   (env: DUR seconds per cell, default 10; CONCS, default "1 16")
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${DUR:-10}; CONCS=${CONCS:-"1 16"}
BIN=${CANOPY_BIN:-target/release/canopy}
[ -x "$BIN" ] || cargo build --release -p canopy
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

taskset -c 0 "$BIN" mock-provider --listen 127.0.0.1:0 > "$WORK/mock.out" &
until grep -q listening "$WORK/mock.out" 2>/dev/null; do sleep 0.05; done
MOCK=$(grep -o 'http://[0-9.:]*' "$WORK/mock.out")
cat > "$WORK/canopy.toml" <<TOML
listen = "127.0.0.1:0"
store = "sqlite://$WORK/canopy.db"
[providers.openai]
base_url = "$MOCK"
TOML
CANOPY_LOG=warn taskset -c 1 "$BIN" serve --config "$WORK/canopy.toml" > "$WORK/canopy.out" &
GW_PID=$!
until grep -q listening "$WORK/canopy.out" 2>/dev/null; do sleep 0.05; done
GW=$(grep -o 'http://[0-9.:]*' "$WORK/canopy.out")

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Helicone-Session-Id"] = "bench"
wrk.headers["Helicone-Session-Path"] = "/bench/step"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark in one short sentence."}],"max_tokens":32}'
LUA

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
run() { # name url conc
  timeout $((DUR + 10)) taskset -c 0 wrk -t1 -c"$3" -d"${DUR}s" --latency -s "$WORK/post.lua" "$2" > "$WORK/$1-c$3.txt"
}
echo "warm-up"; run warm "$GW/v1/chat/completions" 16; run warm "$MOCK/v1/chat/completions" 16
printf '| target | c | req/s | p50 | p90 | p99 | gateway CPU ms/req |\n|---|--:|--:|--:|--:|--:|--:|\n'
for c in $CONCS; do
  for target in direct canopy; do
    url="$MOCK/v1/chat/completions"; [ $target = canopy ] && url="$GW/v1/chat/completions"
    t0=$(ticks $GW_PID); run $target "$url" "$c"; t1=$(ticks $GW_PID)
    f="$WORK/$target-c$c.txt"
    rps=$(awk '/Requests\/sec/{print $2}' "$f")
    total=$(awk '/requests in/{print $1}' "$f")
    p() { awk -v q="$1" '$1==q{print $2}' "$f"; }
    cpu="-"; [ $target = canopy ] && cpu=$(echo "scale=4; ($t1-$t0)*1000/$(getconf CLK_TCK)/$total" | bc)
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' $target "$c" "$rps" "$(p 50%)" "$(p 90%)" "$(p 99%)" "$cpu"
  done
done
echo "gateway RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$GW_PID/status)"
kill -TERM $GW_PID; wait $GW_PID || true
echo "records stored: $(sqlite3 "$WORK/canopy.db" 'select count(*) from calls' 2>/dev/null || echo '?')"
