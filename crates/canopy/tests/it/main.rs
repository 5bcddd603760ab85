//! End-to-end tests: real sockets on 127.0.0.1 port 0, the mock provider, and the store engine
//! `CANOPY_TEST_STORE` names (SQLite in a temp dir by default; see `harness.rs`).
//! One binary for every integration test (faster to link).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    reason = "test code: a failed unwrap, expectation or panic is a failed test, and test servers \
              run until the test ends"
)]

mod api;
mod auth;
mod cli;
mod demo;
mod failures;
mod faults;
mod gateway;
mod harness;
mod observability;
mod one_cpu;
mod otel;
mod proxy;
mod records;
mod replay;
mod replay_jobs;
mod retention;
mod scale_out;
mod sessions;
mod store_copy;
mod streams;
mod tls;
