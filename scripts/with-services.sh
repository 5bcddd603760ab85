#!/usr/bin/env bash
# Runs a command with the services Canopy's tests use, started once for the whole command:
#
#   bash scripts/with-services.sh CMD [ARGS...]
#
# - PostgreSQL: a cluster from Debian's binaries in a temporary directory on a free loopback
#   port (the same script and flags as canopy-testkit's per-process clusters:
#   crates/canopy-testkit/src/postgres.sh); its admin URL is exported as
#   CANOPY_TEST_POSTGRES_URL.
# - ClickHouse: chdb behind ClickHouse's HTTP interface, likewise
#   (crates/canopy-testkit/src/clickhouse.sh; its Python comes from scripts/install-chdb.sh);
#   its admin URL is exported as CANOPY_TEST_CLICKHOUSE_URL.
#
# Tests create a fresh database on each server. CMD runs, then both servers are stopped and
# their directories removed, whatever CMD's result or this script's end. The exit code is
# CMD's. A service whose variable is already set is not started: the server it names is used.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
testkit="$here/../crates/canopy-testkit/src"
pipes="$(mktemp -d "${TMPDIR:-/tmp}/canopy-services.XXXXXX")"

# Each service is a control script whose stdin is a pipe this shell holds: closing it (below,
# or by this shell's exit, however it ends) stops the server and removes its directory.
control_fds=()
pids=()
stop_services() {
  local fd
  for fd in "${control_fds[@]}"; do
    exec {fd}>&- || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$pipes"
}
trap stop_services EXIT

# start_service NAME SCRIPT [ARGS...]: runs the control script on two FIFOs, waits for its
# `ready <url> <dir>` line and sets `url`. The script gets none of the other services' control
# pipes, so each stops as soon as its own pipe closes.
start_service() {
  local name="$1" in out status dir fd
  shift
  mkfifo "$pipes/$name.in" "$pipes/$name.out"
  (
    for fd in "${control_fds[@]}"; do exec {fd}>&-; done
    exec bash "$@" <"$pipes/$name.in" >"$pipes/$name.out"
  ) &
  pids+=("$!")
  exec {in}>"$pipes/$name.in" {out}<"$pipes/$name.out"
  control_fds+=("$in" "$out")
  read -r status url dir <&"$out" || status=""
  if [ "$status" != "ready" ]; then
    echo "with-services.sh: $name did not start: $status $url $dir" >&2
    cat <&"$out" >&2 || true
    exit 1
  fi
  echo "with-services.sh: $name at $(sed -E 's#(//[^:/@]+:)[^@]*@#\1***@#' <<<"$url") in $dir" >&2
}

if [ -z "${CANOPY_TEST_POSTGRES_URL:-}" ]; then
  start_service PostgreSQL "$testkit/postgres.sh"
  export CANOPY_TEST_POSTGRES_URL="$url"
fi
if [ -z "${CANOPY_TEST_CLICKHOUSE_URL:-}" ]; then
  start_service ClickHouse "$testkit/clickhouse.sh" "$testkit/clickhouse_server.py"
  export CANOPY_TEST_CLICKHOUSE_URL="$url"
fi

# The command gets none of the control pipes, so nothing it leaves running can keep a server
# alive.
status=0
(
  for fd in "${control_fds[@]}"; do exec {fd}>&-; done
  exec "$@"
) || status=$?
exit "$status"
