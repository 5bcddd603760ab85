#!/usr/bin/env bash
# Runs the SDK compatibility suite (see README.md). Extra arguments go to pytest.
#   CANOPY_VENV  virtualenv to use or create (default: .venv at the repo root)
#   CANOPY_BIN   canopy binary to test (default: build it with `cargo build -p canopy`)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

venv="${CANOPY_VENV:-.venv}"
requirements="$here/requirements.txt"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
stamp="$venv/.canopy-compat-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi

if [ -z "${CANOPY_BIN:-}" ]; then
  cargo build --quiet -p canopy
  export CANOPY_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/canopy"
fi

exec "$venv/bin/python" -m pytest -q tests/compat "$@"
