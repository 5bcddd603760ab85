//! `canopy-testkit`: real services for tests, started on loopback: PostgreSQL and Redis from
//! Debian's binaries, ClickHouse from chdb (ClickHouse in process, the PyPI package `chdb-core`).
//!
//! - [`postgres`]: a fresh, empty PostgreSQL database per test ([`postgres::fresh_database`]),
//!   on the server named by `CANOPY_TEST_POSTGRES_URL` or on a cluster private to the test
//!   process; and [`postgres::PgCluster`], a private cluster a test can stop and start again.
//! - [`clickhouse`]: the same for ClickHouse ([`clickhouse::fresh_database`] on the server named
//!   by `CANOPY_TEST_CLICKHOUSE_URL` or a private one; [`clickhouse::ChServer`]), over
//!   ClickHouse's HTTP interface as served by `clickhouse_server.py`.
//! - [`redis`]: a private `redis-server` ([`redis::RedisServer`]).
//!
//! Every server listens on 127.0.0.1 on a free port and lives in a temporary directory. Each is
//! run by a small bash script whose stdin is a pipe held by the test process: when that process
//! ends, however it ends (a failed assertion, a panic, a kill), the pipe closes and the script
//! stops the server and removes its directory. A missing server binary (or a Python without
//! chdb) is a panic that names what to install; nothing here skips a test.
//!
//! What does not belong here: fixtures and helpers of one crate's tests (they live beside those
//! tests), and anything that talks Canopy's own protocols.
#![expect(
    clippy::panic,
    reason = "test support: a service that cannot start fails the test that asked for it, loudly"
)]

pub mod clickhouse;
mod http;
pub mod postgres;
mod process;
pub mod redis;
