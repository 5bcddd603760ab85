#!/usr/bin/env bash
# Installs, from Debian's packages, what the tests need and this machine lacks: a C compiler,
# Python 3 with venv (the SDK suite), Node.js with npm and Chromium (the browser tests), the
# PostgreSQL server and redis-server (started by the tests themselves), and openssl (the TLS
# tests' certificates). A fresh Debian 12
# machine with only Rust needs all of them; a machine that has them is left as it is.
# Runs apt-get as root, or through sudo.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v npm >/dev/null || need+=(nodejs npm)
command -v chromium >/dev/null || need+=(chromium)
# The server binaries, not only the client: canopy-testkit runs initdb, pg_ctl and postgres.
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing ${need[*]}" >&2
sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || {
    echo "missing ${need[*]}: install them as root (apt-get install ${need[*]})" >&2
    exit 1
  }
  sudo=(sudo)
fi
log="$(mktemp)"
if ! { "${sudo[@]}" apt-get update -qq &&
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
