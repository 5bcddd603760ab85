#!/usr/bin/env bash
# A private redis-server for tests, alive while this script's stdin is open.
#
#   bash redis.sh PORT
#
# Runs redis-server on 127.0.0.1:PORT with a new temporary directory as its working directory,
# without persistence. When stdin closes (the controlling process ended, however it ended) the
# server is stopped and the directory removed. When the server exits by itself (a taken port),
# the script prints `failed <reason>` and the server's log, and exits.
set -u
# Everything goes to the controlling process on one pipe.
exec 2>&1

if ! command -v redis-server >/dev/null; then
  echo "failed redis-server is missing: install it with \`apt-get install redis-server\`"
  exit 1
fi
dir="$(mktemp -d "${TMPDIR:-/tmp}/canopy-redis.XXXXXX")" || {
  echo "failed cannot create a temporary directory"
  exit 1
}
trap 'trap "" PIPE; exec >/dev/null 2>&1; rm -rf "$dir"' EXIT
trap 'exit 1' HUP INT TERM PIPE
cd "$dir" || exit 1

# A background command reads /dev/null unless told otherwise: keep the real stdin on fd 3.
exec 3<&0
redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
  --daemonize no --logfile "$dir/log" </dev/null &
server=$!
cat <&3 >/dev/null &
watcher=$!
exec 3<&-

wait -n -p first "$server" "$watcher"
if [ "$first" = "$server" ]; then
  kill "$watcher" 2>/dev/null
  echo "failed redis-server exited"
  tail -n 20 "$dir/log" 2>/dev/null
  exit 1
fi
kill "$server" 2>/dev/null
wait "$server"
