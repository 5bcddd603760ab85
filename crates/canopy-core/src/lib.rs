//! Canopy's domain, with no I/O and no async.
//!
//! Layout:
//! - [`record`]: the [`CallRecord`] written once per proxied call, and its ids.
//! - [`usage`]: token counts as one shape for every provider.
//! - [`headers`]: Canopy's `Helicone-*` request headers, read into one shape.
//! - [`session`]: session path normalisation.
//! - [`path`]: request paths kept below a provider's base path.
//! - [`sse`]: an incremental Server-Sent Events parser.
//! - [`extract`]: reading usage and models out of provider responses, plain and streamed.
//! - [`pricing`]: the price catalog and cost in integer nano-USD.
//! - [`completion`]: the rules every ingest path completes a record with: usage, cost, bounds.
//! - [`redact`]: secrets removed from URLs and error texts before they are stored or logged.
//! - [`replay`]: how a recorded request body is changed before it is replayed.
//! - [`trace`]: W3C trace context read from `traceparent`, and the properties that link records.
//!
//! Nothing here touches the network, the disk or a clock: callers pass in what they read.
//! Keep it that way so every piece can be tested as a pure function.

pub mod completion;
pub mod extract;
pub mod headers;
pub mod path;
pub mod pricing;
pub mod record;
pub mod redact;
pub mod replay;
pub mod session;
pub mod sse;
pub mod trace;
pub mod usage;

pub use record::{CallId, CallKind, CallRecord, UsageSource};
pub use usage::Usage;
