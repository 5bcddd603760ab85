//! The engine-agnostic query model: what the API asks of a store, and pure helpers over results.
//!
//! - [`filter`]: Helicone's filter language, parsed into an AST that every engine translates.
//! - [`tree`]: the session tree, per-node roll-ups and timeline, built from a session's calls.

pub mod filter;
pub mod tree;
