//! End-to-end tests: real sockets on 127.0.0.1 port 0, the mock provider, SQLite in a temp dir.
//! One binary for every integration test (faster to link).

mod failures;
mod harness;
mod proxy;
mod sessions;
mod streams;
