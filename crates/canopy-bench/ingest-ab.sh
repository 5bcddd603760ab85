#!/usr/bin/env bash
# Ingest A/B on PostgreSQL: `canopy-bench ingest N --store URL` with each given build in turn,
# for ROUNDS rounds, on one server, and the server's CPU time for each run: on a shared machine
# the wall figures swing with other load, the CPU each build costs the server much less. Each
# run writes 2 × N records (the store alone, then through the writer).
# Usage: bash scripts/with-services.sh bash crates/canopy-bench/ingest-ab.sh BENCH_A BENCH_B...
# Env: N records (100000), ROUNDS (3), IN_FLIGHT (the writer's batches in flight; unset, each
# build's default for the store). The bench runs on CPU 1; the server may use either core.
set -euo pipefail
N=${N:-100000}; ROUNDS=${ROUNDS:-3}
URL=${CANOPY_TEST_POSTGRES_URL:?run under scripts/with-services.sh}
[ $# -gt 0 ] || { echo "usage: $0 BENCH_BINARY..." >&2; exit 2; }
port=$(sed -E 's#.*:([0-9]+)/[^/]*$#\1#' <<<"$URL")
postmaster=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
[ -n "$postmaster" ] || { echo "no server process listens on port $port" >&2; exit 1; }
hz=$(getconf CLK_TCK)

# CPU ticks of the server: the postmaster with its exited backends, plus the live ones.
server_ticks() {
  local t c
  t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$postmaster/stat")
  for c in $(cat /proc/"$postmaster"/task/*/children); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

printf '| round | build | store alone /s | through the writer /s | server CPU s | bench CPU s |\n'
printf '|--:|---|--:|--:|--:|--:|\n'
TIMEFORMAT='%U %S'
for round in $(seq 1 "$ROUNDS"); do
  for bench in "$@"; do
    before=$(server_ticks)
    out=$({ time taskset -c 1 "$bench" ingest "$N" --store "$URL" ${IN_FLIGHT:+--in-flight "$IN_FLIGHT"}; } 2>&1)
    after=$(server_ticks)
    rates=$(grep -o '= [0-9]* records/s' <<<"$out" | awk '{print $2}' | paste -sd' ')
    read -r direct writer <<<"$rates"
    read -r user sys <<<"$(tail -n 1 <<<"$out")"
    awk -v r="$round" -v b="$(basename "$bench")" -v d="$direct" -v w="$writer" \
      -v s="$((after - before))" -v hz="$hz" -v u="$user" -v k="$sys" \
      'BEGIN { printf "| %s | %s | %s | %s | %.2f | %.2f |\n", r, b, d, w, s / hz, u + k }'
  done
done
