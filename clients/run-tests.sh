#!/usr/bin/env bash
# Runs the client helpers' tests against a live Canopy: clients/python with pytest, then
# clients/typescript with node's test runner on its compiled output. Both start the real binary
# (`canopy mock-provider` and `canopy serve`, port 0) themselves.
#   CANOPY_VENV  virtualenv to use or create (default: .venv at the repo root, as tests/compat/run.sh);
#                the SDK suite's requirements and clients/python (editable) are installed into it
#   CANOPY_BIN   canopy binary to test (default: build it with `cargo build -p canopy`)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

venv="${CANOPY_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$venv"
fi
venv="$(cd "$venv" && pwd)"
# The editable install points at this checkout, so the checkout's path is part of the stamp.
stamp="$venv/.canopy-clients.sha256"
want="$( (echo "$repo"; cat tests/compat/requirements.txt clients/python/pyproject.toml) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/compat/requirements.txt -e clients/python
  echo "$want" >"$stamp"
fi

if [ -z "${CANOPY_BIN:-}" ]; then
  cargo build --quiet -p canopy
  CANOPY_BIN="${CARGO_TARGET_DIR:-$repo/target}/debug/canopy"
fi
# The tests start the binary from temporary directories.
CANOPY_BIN="$(cd "$(dirname "$CANOPY_BIN")" && pwd)/$(basename "$CANOPY_BIN")"
export CANOPY_BIN

echo "--- clients/python"
(cd clients/python && "$venv/bin/python" -m pytest -q tests "$@")

echo "--- clients/typescript"
npm ci --prefix clients/typescript --no-audit --no-fund --loglevel=error
npm test --prefix clients/typescript
