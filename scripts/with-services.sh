#!/usr/bin/env bash
# Runs a command with the services Canopy's tests use, started once for the whole command:
#
#   bash scripts/with-services.sh CMD [ARGS...]
#
# Starts a PostgreSQL cluster from Debian's binaries in a temporary directory on a free
# loopback port (the same script and flags as canopy-testkit's per-process clusters:
# crates/canopy-testkit/src/postgres.sh), exports its admin URL as CANOPY_TEST_POSTGRES_URL
# (tests create a fresh database on it each), runs CMD, then stops the server and removes the
# directory, whatever CMD's result. The exit code is CMD's.
#
# When CANOPY_TEST_POSTGRES_URL is already set, the server it names is used and nothing is
# started.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi
if [ -n "${CANOPY_TEST_POSTGRES_URL:-}" ]; then
  exec "$@"
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The cluster lives while the script's stdin is open: closing it (below, or by this shell's
# exit, however it ends) stops the server and removes its directory.
coproc POSTGRES { exec bash "$here/../crates/canopy-testkit/src/postgres.sh"; }
postgres_in="${POSTGRES[1]}"
postgres_out="${POSTGRES[0]}"
postgres_pid="$POSTGRES_PID"

read -r status url dir <&"$postgres_out" || status=""
if [ "$status" != "ready" ]; then
  echo "with-services.sh: PostgreSQL did not start: $status $url $dir" >&2
  cat <&"$postgres_out" >&2 || true
  exit 1
fi
echo "with-services.sh: PostgreSQL at $(sed -E 's#(//[^:/@]+:)[^@]*@#\1***@#' <<<"$url") in $dir" >&2

stop_services() {
  exec {postgres_in}>&- || true
  wait "$postgres_pid" 2>/dev/null || true
}
trap stop_services EXIT

# The command gets none of the control pipes, so nothing it leaves running can keep the
# cluster alive.
status=0
CANOPY_TEST_POSTGRES_URL="$url" "$@" {postgres_in}>&- {postgres_out}<&- || status=$?
exit "$status"
