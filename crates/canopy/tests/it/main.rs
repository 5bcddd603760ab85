//! End-to-end tests: real sockets on 127.0.0.1 port 0, the mock provider, SQLite in a temp dir.
//! One binary for every integration test (faster to link).
#![expect(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap is a failed test, and test servers run until the test ends"
)]

mod api;
mod auth;
mod cli;
mod demo;
mod failures;
mod harness;
mod observability;
mod proxy;
mod records;
mod replay;
mod sessions;
mod store_copy;
mod streams;
