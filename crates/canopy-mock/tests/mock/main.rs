//! Integration tests: the mock served on a real socket on 127.0.0.1, called with reqwest.
//!
//! One test binary (faster to link); each test starts its own server on port 0 and drives it
//! from the same task, so no test sleeps, spawns or shares a port. The modules are marked
//! `#[cfg(test)]` so clippy's test allowances (unwrap, panic) cover their helpers too.

#[cfg(test)]
mod anthropic;
#[cfg(test)]
mod chat;
#[cfg(test)]
mod helpers;
#[cfg(test)]
mod knobs;
#[cfg(test)]
mod log;
#[cfg(test)]
mod openai;
#[cfg(test)]
mod transport;
