# Shell helpers shared by the benchmark scripts; sourced, not run.

# The start every wrk benchmark shares: wrk must be installed, and WORK is a fresh directory
# that goes, with every job the script started, when the script exits.
bench_init() {
  command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
  WORK=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
}

# The Canopy binaries a script compares, in `binaries`: those given, or this checkout's release
# build, built first.
bench_binaries() { # [BIN...]
  if [ $# -eq 0 ]; then
    cargo build --release -q -p canopy
    binaries=("${CARGO_TARGET_DIR:-target}/release/canopy")
  else
    binaries=("$@")
  fi
}

# How a table names build BIN: its directory and file name, so A/canopy and B/canopy differ.
build_label() { # BIN
  printf '%s/%s' "$(basename "$(dirname "$1")")" "$(basename "$1")"
}

# Starts BIN's mock provider on CPU (0 unless given), its output in $WORK/NAME.out (mock.out
# unless given), and sets `mock_url` to its base URL.
start_mock() { # BIN [CPU] [NAME]
  taskset -c "${2:-0}" "$1" mock-provider --listen 127.0.0.1:0 > "$WORK/${3:-mock}.out" &
  mock_url=$(listening_url "$WORK/${3:-mock}.out")
}

# Starts canopy-bench's byte relay (BENCH) on CPU 1 in front of URL, its output in
# $WORK/relay.out, and sets `relay_url` to its base URL and `relay_pid` to its process id.
start_relay() { # BENCH URL
  taskset -c 1 "$1" relay --to "$2" > "$WORK/relay.out" &
  relay_pid=$!
  relay_url=$(listening_url "$WORK/relay.out")
}

# Waits for the "listening on" line a Canopy process prints into FILE and echoes its URL.
listening_url() {
  until grep -q listening "$1" 2>/dev/null; do sleep 0.05; done
  grep -o 'http://[0-9.:]*' "$1" | head -1
}

# Starts BIN's `canopy serve` on CPU 1 with a fresh SQLite store in $WORK, its calls going to
# $MOCK; sets `pid` and `gw` (its base URL). Its files are $WORK/NAME.* (canopy unless given).
serve_fresh() { # BIN [NAME]
  local name=${2:-canopy}
  rm -rf "$WORK/$name".db* "$WORK/$name.out"
  printf 'listen = "127.0.0.1:0"\nstore = "sqlite://%s/%s.db"\n[providers.openai]\nbase_url = "%s"\n' \
    "$WORK" "$name" "$MOCK" > "$WORK/$name.toml"
  CANOPY_LOG=warn taskset -c 1 "$1" serve --config "$WORK/$name.toml" > "$WORK/$name.out" 2>&1 &
  pid=$!
  gw=$(listening_url "$WORK/$name.out")
}

# CPU ticks (user + system) a process has used so far.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Resident memory of a process, in MB.
rss_mb() { awk '/^VmRSS/{printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# Records the gateway at base URL GW has moved to its spool so far, for any reason: a writer
# that falls behind its queue spools, which makes the proxy look faster than it is.
spooled_total() { # GW
  curl -sf "$1/metrics" | awk '/^canopy_ingest_spooled_total/ {n += $2} END {printf "%d", n}'
}

# Writes a wrk script to FILE that POSTs the JSON in $BODY_FILE with the headers in $HEADERS
# ("Name: value|Name: value"), both read from the environment when wrk starts.
write_post_lua() {
  cat > "$1" <<'LUA'
local file = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
for pair in string.gmatch(os.getenv("HEADERS") or "", "[^|]+") do
  local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end
LUA
}

# The request body every benchmark sends: a short chat completion, plain or streamed.
write_bodies() { # DIR -> DIR/body-plain.json, DIR/body-stream.json
  local body='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Say hello to the benchmark in one short sentence."}],"max_tokens":32,"temperature":0'
  printf '%s}' "$body" > "$1/body-plain.json"
  printf '%s,"stream":true,"stream_options":{"include_usage":true}}' "$body" > "$1/body-stream.json"
}
