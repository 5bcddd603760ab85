#!/usr/bin/env bash
# A private ClickHouse test server (chdb behind ClickHouse's HTTP interface), controlled through
# this script's stdin and stdout.
#
#   bash clickhouse.sh SERVER_PY [PORT]
#
# SERVER_PY is clickhouse_server.py beside this file. Runs it with the Python that has chdb
# ($CANOPY_CHDB_PYTHON, else $CANOPY_VENV/bin/python, else ~/.cache/canopy-venv/bin/python;
# scripts/install-chdb.sh installs it there), its data in a new temporary directory, user
# `canopy` with a random password, on 127.0.0.1:PORT (another free port when that one is
# taken), and prints
#
#   ready clickhouse://canopy:<password>@127.0.0.1:<port>/default <directory>
#
# Then it reads commands, one a line, and answers each with one line:
#   stop    stops the server (open connections end); answers `stopped`
#   start   starts it again on the same port and data; answers `ready <url> <directory>`
# When stdin closes (the controlling process ended, however it ended) the server is stopped
# and the directory removed. Failures print `failed <reason>` followed by the server's log.
set -u
# Everything goes to the controlling process on one pipe: a failure's reason and the server's
# log follow the `failed` line.
exec 2>&1

server_py="${1:-}"
first="${2:-}"
python="${CANOPY_CHDB_PYTHON:-${CANOPY_VENV:-$HOME/.cache/canopy-venv}/bin/python}"
install_hint="install it with \`bash scripts/install-chdb.sh\`"

fail() {
  echo "failed $*"
  if [ -f "${dir:-/nonexistent}/log" ]; then tail -n 20 "$dir/log"; fi
  exit 1
}

[ -f "$server_py" ] || fail "no ClickHouse test server at '$server_py'"
[ -x "$python" ] || fail "no Python with chdb at $python: $install_hint"

dir="$(mktemp -d "${TMPDIR:-/tmp}/canopy-ch.XXXXXX")" || fail "cannot create a temporary directory"
mkfifo "$dir/in" "$dir/out" || fail "cannot create the server's pipes"
pid=""
port=""

# Stops the server: its stdin closes and it gets SIGTERM; both end it cleanly.
stop_server() {
  [ -n "$pid" ] || return 0
  exec {server_in}>&- {server_out}<&-
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pid=""
}

cleanup() {
  # The controlling process may be gone: nothing here may write to its pipe.
  trap '' PIPE
  exec >/dev/null 2>&1
  stop_server
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE

# Starts the server on port $1 and waits for its `listening` line. Returns the server's exit
# code when it ends instead (98: the port is taken).
start_on() {
  "$python" "$server_py" --port "$1" --data "$dir/data" --user canopy --password "$password" \
    <"$dir/in" >"$dir/out" 2>>"$dir/log" &
  pid=$!
  exec {server_in}>"$dir/in" {server_out}<"$dir/out"
  local line=""
  if read -r -t 120 line <&"$server_out" && [ "${line%% *}" = listening ]; then
    return 0
  fi
  exec {server_in}>&- {server_out}<&-
  kill -TERM "$pid" 2>/dev/null
  local status=0
  wait "$pid" || status=$?
  pid=""
  [ "$status" != 0 ] || status=1
  return "$status"
}

password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"

# A port that another process takes between our choice and the server's bind is a failed
# start: try another one, from below the kernel's ephemeral range.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if [ "$attempt" = 1 ] && [ -n "$first" ]; then
    candidate="$first"
  else
    candidate=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12000))
  fi
  status=0
  start_on "$candidate" || status=$?
  case "$status" in
    0)
      port="$candidate"
      break
      ;;
    98) ;;
    3) fail "$python cannot import chdb: $install_hint" ;;
    *) fail "the ClickHouse test server did not start" ;;
  esac
done
[ -n "$port" ] || fail "no free port after 10 attempts"

url="clickhouse://canopy:$password@127.0.0.1:$port/default"
echo "ready $url $dir"

# Both commands are idempotent: stopping a stopped server or starting a running one answers as
# if it had been done.
while IFS= read -r command; do
  case "$command" in
    stop)
      stop_server
      echo "stopped"
      ;;
    start)
      if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
        stop_server
        start_on "$port" || fail "the server did not start again on port $port"
      fi
      echo "ready $url $dir"
      ;;
    '') ;;
    *) echo "failed unknown command: $command" ;;
  esac
done
