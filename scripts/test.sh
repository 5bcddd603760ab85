#!/usr/bin/env bash
# Runs every test, on every store engine. This is the README's test command and what CI runs.
#
#  1. Installs what the machine lacks (scripts/install-test-deps.sh: Python, Node.js, Chromium,
#     the PostgreSQL server, redis-server; from Debian's packages, as root or through sudo), and
#     chdb for the ClickHouse test server (scripts/install-chdb.sh: a pinned chdb-core in
#     ${CANOPY_VENV:-~/.cache/canopy-venv}, named to the tests by CANOPY_CHDB_PYTHON).
#  2. Starts one PostgreSQL cluster and one ClickHouse test server for the whole run
#     (scripts/with-services.sh), named to the tests by CANOPY_TEST_POSTGRES_URL and
#     CANOPY_TEST_CLICKHOUSE_URL; each test creates its own database on them.
#  3. The Rust workspace, built once: unit and property tests, every engine's store conformance
#     suite, the end-to-end suite (crates/canopy/tests/it) on SQLite.
#  4. The end-to-end suite again on PostgreSQL (CANOPY_TEST_STORE=postgres) and on ClickHouse
#     (CANOPY_TEST_STORE=clickhouse), from the same build, then the fuzz targets for a bounded
#     time each (scripts/fuzz.sh) when cargo-fuzz is installed.
#  5. The SDK compatibility suite (official OpenAI and Anthropic Python SDKs against the debug
#     binary of step 3) on SQLite, PostgreSQL and ClickHouse; it installs the SDKs into
#     ${CANOPY_VENV:-.venv} on its first run.
#  6. The client helpers (clients/run-tests.sh): the Python package's pytest suite, in the same
#     virtualenv with the package installed editable, and the TypeScript package's, after
#     `npm ci`, built with tsc and run by node's test runner; both against the debug binary on
#     SQLite.
#  7. The dashboard's browser tests (Playwright driving Debian's Chromium).
#
# Redis-backed tests start their own redis-server through canopy-testkit. Rust tests run under
# cargo-nextest when it is installed (one process per test), else under cargo test.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."

if [ -z "${CANOPY_TEST_POSTGRES_URL:-}" ] || [ -z "${CANOPY_TEST_CLICKHOUSE_URL:-}" ]; then
  bash scripts/install-test-deps.sh
  CANOPY_CHDB_PYTHON="$(bash scripts/install-chdb.sh)"
  export CANOPY_CHDB_PYTHON
  exec bash scripts/with-services.sh bash "$self" "$@"
fi
# A caller that names both servers still needs chdb: fault tests start private ClickHouse
# servers.
if [ -z "${CANOPY_CHDB_PYTHON:-}" ]; then
  CANOPY_CHDB_PYTHON="$(bash scripts/install-chdb.sh)"
  export CANOPY_CHDB_PYTHON
fi
# The first runs use the default engine, whatever the caller's environment says.
unset CANOPY_TEST_STORE

target="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export CANOPY_BIN="$target/debug/canopy"

step() { printf '\n=== %s\n' "$*"; }

if cargo nextest --version >/dev/null 2>&1; then
  step "Rust workspace (SQLite end to end; every engine's conformance)"
  cargo nextest run --workspace --no-fail-fast
  step "End-to-end suite on PostgreSQL"
  # --workspace selects the same build as above, so nothing is compiled again.
  CANOPY_TEST_STORE=postgres cargo nextest run --workspace --no-fail-fast \
    -E 'package(=canopy) & binary(=it)'
  step "End-to-end suite on ClickHouse"
  CANOPY_TEST_STORE=clickhouse cargo nextest run --workspace --no-fail-fast \
    -E 'package(=canopy) & binary(=it)'
else
  step "Rust workspace (SQLite end to end; every engine's conformance)"
  cargo test --workspace --no-fail-fast
  step "End-to-end suite on PostgreSQL"
  CANOPY_TEST_STORE=postgres cargo test --workspace --no-fail-fast --test it
  step "End-to-end suite on ClickHouse"
  CANOPY_TEST_STORE=clickhouse cargo test --workspace --no-fail-fast --test it
fi

# The fuzz targets, for a bounded time each, when cargo-fuzz is installed (.ci/run installs it).
if cargo fuzz --version >/dev/null 2>&1; then
  step "Fuzz targets"
  bash scripts/fuzz.sh
fi

# The SDK and browser suites run the debug binary the Rust tests built (the end-to-end tests
# need it), so it is not built again.
if [ ! -x "$CANOPY_BIN" ]; then
  echo "no canopy binary at $CANOPY_BIN after the Rust tests" >&2
  exit 1
fi
step "SDK compatibility suite on SQLite"
bash tests/compat/run.sh
step "SDK compatibility suite on PostgreSQL"
CANOPY_TEST_STORE=postgres bash tests/compat/run.sh
step "SDK compatibility suite on ClickHouse"
CANOPY_TEST_STORE=clickhouse bash tests/compat/run.sh

step "Client helpers"
bash clients/run-tests.sh

step "Browser tests"
if [ ! -d ui-tests/node_modules/playwright-core ]; then
  npm ci --prefix ui-tests --no-audit --no-fund
fi
npm test --prefix ui-tests
