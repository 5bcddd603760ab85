#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, property, store conformance, end-to-end through
# real sockets) and the compatibility suite that drives Canopy with the official OpenAI and
# Anthropic Python SDKs. Needs cargo and python3; installs the SDKs into .venv on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# The compatibility suite runs the same debug binary the Rust tests built.
cargo build -p canopy
bash tests/compat/run.sh
