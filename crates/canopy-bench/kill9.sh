#!/usr/bin/env bash
# kill -9 under load: how many calls answered to the client have no record afterwards.
# Usage: bash crates/canopy-bench/kill9.sh CANOPY_BINARY [RUNS] ; env DURABLE=true for `[writer] durable = true`.
set -euo pipefail
BIN=$1; RUNS=${2:-3}; DURABLE=${DURABLE:-false}; C=${C:-16}
cd "$(dirname "$0")/../.."
source crates/canopy-bench/lib.sh
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
taskset -c 0 "$BIN" mock-provider --listen 127.0.0.1:0 > "$WORK/mock.out" 2>&1 &
MOCK=$(listening_url "$WORK/mock.out")
write_bodies "$WORK"
write_post_lua "$WORK/post.lua"
cat >> "$WORK/post.lua" <<'LUA'
local out = nil
function response(status, headers, body)
  if out == nil then out = assert(io.open(os.getenv("IDS_FILE"), "a")) end
  local id = headers["helicone-id"]
  if status == 200 and id then out:write(id, "\n") out:flush() end
end
LUA
export BODY_FILE="$WORK/body-plain.json" HEADERS="Helicone-Session-Id: k9"
printf 'listen = "127.0.0.1:0"\nstore = "sqlite://%s/canopy.db"\n[providers.openai]\nbase_url = "%s"\n[writer]\ndurable = %s\n' \
  "$WORK" "$MOCK" "$DURABLE" > "$WORK/canopy.toml"
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK"/canopy.db* "$WORK/ids.txt"
  CANOPY_LOG=warn taskset -c 1 "$BIN" serve --config "$WORK/canopy.toml" > "$WORK/canopy.out" 2>&1 &
  pid=$!
  gw=$(listening_url "$WORK/canopy.out")
  IDS_FILE="$WORK/ids.txt" timeout 20 taskset -c 0 wrk -t1 -c"$C" -d6s -s "$WORK/post.lua" "$gw/v1/chat/completions" > "$WORK/wrk.txt" 2>&1 &
  wrkpid=$!
  sleep 3
  kill -9 $pid; wait $pid 2>/dev/null || true
  wait $wrkpid || true
  # Restart once: the spool is replayed at start and at shutdown.
  rm -f "$WORK/canopy.out"
  CANOPY_LOG=warn "$BIN" serve --config "$WORK/canopy.toml" > "$WORK/canopy.out" 2>&1 &
  pid=$!
  listening_url "$WORK/canopy.out" > /dev/null
  kill -TERM $pid; wait $pid 2>/dev/null || true
  python3 - "$WORK" "$run" <<'PY'
import sqlite3, sys
work, run = sys.argv[1], sys.argv[2]
answered = set(open(f"{work}/ids.txt").read().split())
db = sqlite3.connect(f"{work}/canopy.db")
stored = {r[0] for r in db.execute("select id from calls")}
lost = answered - stored
print(f"run {run}: answered {len(answered)}, stored {len(stored)}, answered but not stored {len(lost)}")
PY
done
