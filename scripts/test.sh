#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, property, store conformance, end-to-end through
# real sockets), the compatibility suite that drives Canopy with the official OpenAI and
# Anthropic Python SDKs, and the dashboard's browser tests (Playwright driving Debian's
# Chromium). Needs cargo, python3, node with npm, and /usr/bin/chromium; installs the SDKs into
# .venv and playwright-core into ui-tests/node_modules on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

# The fuzz targets, for a bounded time each, when cargo-fuzz is installed (.ci/run installs it).
if cargo fuzz --version >/dev/null 2>&1; then
  bash scripts/fuzz.sh
fi

# The compatibility suite runs the same debug binary the Rust tests built.
cargo build -p canopy
bash tests/compat/run.sh

# The dashboard's browser tests run last, against the same debug binary.
if [ ! -d ui-tests/node_modules/playwright-core ]; then
  npm ci --prefix ui-tests --no-audit --no-fund
fi
CANOPY_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/canopy" npm test --prefix ui-tests
