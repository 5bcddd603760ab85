#!/usr/bin/env bash
# Installs chdb (ClickHouse in process, the PyPI package chdb-core) for canopy-testkit's
# ClickHouse test server (crates/canopy-testkit/src/clickhouse_server.py), pinned below, and
# prints the Python that has it.
#
#   bash scripts/install-chdb.sh
#
# The Python is $CANOPY_CHDB_PYTHON when set; else the virtualenv $CANOPY_VENV (default
# ~/.cache/canopy-venv, created when missing; the SDK suite may share it). This is the rule
# clickhouse.sh follows to run the server. A Python that already has the pinned version is left
# as it is, so a second run takes a fraction of a second.
set -euo pipefail

version="26.9.0"

if [ -n "${CANOPY_CHDB_PYTHON:-}" ]; then
  python="$CANOPY_CHDB_PYTHON"
else
  venv="${CANOPY_VENV:-$HOME/.cache/canopy-venv}"
  if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv" >&2
  fi
  python="$(cd "$venv/bin" && pwd)/python"
fi

installed="$("$python" -c 'import importlib.metadata as m; print(m.version("chdb-core"))' 2>/dev/null || true)"
if [ "$installed" != "$version" ]; then
  echo "installing chdb-core $version into $("$python" -c 'import sys; print(sys.prefix)')" >&2
  "$python" -m pip install --quiet --disable-pip-version-check "chdb-core==$version" >&2
fi
echo "$python"
