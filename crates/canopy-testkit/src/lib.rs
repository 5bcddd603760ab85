//! `canopy-testkit`: real services for tests, started from Debian's binaries on loopback.
//!
//! - [`postgres`]: a fresh, empty PostgreSQL database per test ([`postgres::fresh_database`]),
//!   on the server named by `CANOPY_TEST_POSTGRES_URL` or on a cluster private to the test
//!   process; and [`postgres::PgCluster`], a private cluster a test can stop and start again.
//! - [`redis`]: a private `redis-server` ([`redis::RedisServer`]).
//!
//! Every server listens on 127.0.0.1 on a free port and lives in a temporary directory. Each is
//! run by a small bash script whose stdin is a pipe held by the test process: when that process
//! ends, however it ends (a failed assertion, a panic, a kill), the pipe closes and the script
//! stops the server and removes its directory. A missing server binary is a panic that names
//! the Debian package to install; nothing here skips a test.
//!
//! What does not belong here: fixtures and helpers of one crate's tests (they live beside those
//! tests), and anything that talks Canopy's own protocols.
#![expect(
    clippy::panic,
    reason = "test support: a service that cannot start fails the test that asked for it, loudly"
)]

pub mod postgres;
mod process;
pub mod redis;
