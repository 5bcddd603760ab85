#!/usr/bin/env bash
# A private PostgreSQL cluster for tests, controlled through this script's stdin and stdout.
#
#   bash postgres.sh [PORT]
#
# Creates a cluster in a new temporary directory (initdb, superuser `canopy` with a random
# password, password auth over TCP, the unix socket inside the directory), starts it on
# 127.0.0.1:PORT (another free port when that one is taken) and prints
#
#   ready postgres://canopy:<password>@127.0.0.1:<port>/postgres <directory>
#
# Then it reads commands, one a line, and answers each with one line:
#   stop    fast shutdown; answers `stopped`
#   start   starts again on the same port and data; answers `ready <url> <directory>`
# When stdin closes (the controlling process ended, however it ended) the server is stopped
# and the directory removed. Failures print `failed <reason>` followed by the server's log.
#
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` user that
# Debian's package creates. Durability is off (fsync, synchronous commit, full page writes):
# a test cluster never outlives its run.
set -u
# Everything goes to the controlling process on one pipe: a failure's reason and the server's
# log follow the `failed` line.
exec 2>&1
# runuser lives in sbin, which a non-login root shell may not have on its PATH.
PATH="$PATH:/usr/sbin:/sbin"

fail() {
  echo "failed $*"
  for log in "${dir:-/nonexistent}/initdb.log" "${dir:-/nonexistent}/log"; do
    if [ -f "$log" ]; then tail -n 20 "$log"; fi
  done
  exit 1
}

bin="${CANOPY_PG_BIN:-}"
if [ -z "$bin" ]; then
  # The newest installed major version.
  newest="$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$newest" ] ||
    fail "no PostgreSQL server under /usr/lib/postgresql/*/bin: install it with \`apt-get install postgresql\`"
  bin="$(dirname "$newest")"
fi
for tool in initdb pg_ctl postgres; do
  [ -x "$bin/$tool" ] || fail "$bin/$tool is missing: install PostgreSQL with \`apt-get install postgresql\`"
done

as_owner=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 ||
    fail "running as root and there is no \`postgres\` user for the server (apt-get install postgresql creates it)"
  as_owner=(runuser -u postgres --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/canopy-pg.XXXXXX")" || fail "cannot create a temporary directory"
port=""
cleanup() {
  # The controlling process may be gone: nothing here may write to its pipe.
  trap '' PIPE
  exec >/dev/null 2>&1
  if [ -f "$dir/data/postmaster.pid" ]; then
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m fast -w -t 30 ||
      "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m immediate -w
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
[ "${#as_owner[@]}" -eq 0 ] || chown postgres: "$dir"
# The server's tools must not start in a directory their user cannot read (root's home).
cd "$dir" || fail "cannot enter $dir"

password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$password" >"$dir/pwfile"
[ "${#as_owner[@]}" -eq 0 ] || chown postgres: "$dir/pwfile"
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U canopy --pwfile="$dir/pwfile" \
  --auth-host=scram-sha-256 --auth-local=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync \
  >"$dir/initdb.log" 2>&1 || fail "initdb failed"
rm -f "$dir/pwfile"

start_on() {
  "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start -o \
    "-p $1 -h 127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null 2>&1
}

# A port that another process takes between our choice and the server's bind is a failed
# start: try another one, from below the kernel's ephemeral range.
first="${1:-}"
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if [ "$attempt" = 1 ] && [ -n "$first" ]; then
    candidate="$first"
  else
    candidate=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 12000))
  fi
  if start_on "$candidate"; then
    port="$candidate"
    break
  fi
  grep -qs "could not bind\|could not create any TCP/IP sockets\|Address already in use" "$dir/log" ||
    fail "the server did not start"
done
[ -n "$port" ] || fail "no free port after 10 attempts"

url="postgres://canopy:$password@127.0.0.1:$port/postgres"
echo "ready $url $dir"

running() { "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

# Both commands are idempotent: stopping a stopped server or starting a running one answers as
# if it had been done.
while IFS= read -r command; do
  case "$command" in
    stop)
      if running; then
        "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m fast -w -t 60 >/dev/null 2>&1 ||
          fail "the server did not stop"
      fi
      echo "stopped"
      ;;
    start)
      running || start_on "$port" || fail "the server did not start again on port $port"
      echo "ready $url $dir"
      ;;
    '') ;;
    *) echo "failed unknown command: $command" ;;
  esac
done
