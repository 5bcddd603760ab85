//! The trace buffer: spans wait here, briefly, until their session and path are known.
//!
//! A span inherits the session of its nearest ancestor that names one, and its path is built
//! from its ancestors' names. Exporters send a trace children first (a parent ends, and is
//! exported, after its children), often across several requests, so a span whose ancestors
//! have not all arrived is held, and placed when the last missing ancestor comes. Each span
//! is handed out exactly once, so it counts once in its session's totals.
//!
//! Bounded in three ways ([`Limits`]): a held span waits at most `hold`, after which it is
//! placed with what is known; at most `max_spans` spans and `max_bytes` bytes are held,
//! beyond which the oldest trace is placed early; a trace's span tree (ids, parents, names,
//! session attributes: what later spans need to be placed) is kept while the trace is active
//! and for `hold` after, for at most `max_nodes` spans in all.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use canopy_core::session::normalize_path;

use super::map::{OwnSession, Placement, SpanIn, own_session};

/// The buffer's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a span waits for its ancestors.
    pub hold: Duration,
    /// Spans held at most, over all traces.
    pub max_spans: usize,
    /// Bytes (estimated) held at most, over all traces.
    pub max_bytes: usize,
    /// Span-tree entries kept at most, over all traces.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(60),
            max_spans: 20_000,
            max_bytes: 64 << 20,
            max_nodes: 200_000,
        }
    }
}

/// The longest ancestor chain followed (a guard against cycles in bad input).
const MAX_DEPTH: usize = 256;

/// A span whose place is known, ready to be recorded.
#[derive(Debug)]
pub struct Ready {
    pub org: String,
    pub span: SpanIn,
    pub place: Placement,
}

struct Node {
    parent: Option<[u8; 8]>,
    name: String,
    own: OwnSession,
}

struct Held {
    span: SpanIn,
    since: Instant,
}

struct Trace {
    nodes: HashMap<[u8; 8], Node>,
    held: Vec<Held>,
    /// The missing ancestors the held spans wait for: only their arrival re-examines the held
    /// spans, so a trace sent span by span is not re-walked on every request.
    waiting_on: HashSet<[u8; 8]>,
    touched: Instant,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<(String, [u8; 16]), Trace>,
    spans: usize,
    bytes: usize,
    nodes: usize,
}

/// The buffer, shared by every ingest request.
pub struct Holder {
    limits: Limits,
    inner: Mutex<Inner>,
}

impl Holder {
    /// An empty buffer with these bounds.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds one organisation's spans; returns every span (of these or held before) whose place
    /// is now known, and those placed early because a bound was reached or their time ran out.
    pub fn add(&self, org: &str, spans: Vec<SpanIn>, now: Instant) -> Vec<Ready> {
        let mut inner = self.lock();
        let mut ready = Vec::new();
        let mut by_trace: HashMap<[u8; 16], Vec<SpanIn>> = HashMap::new();
        for span in spans {
            by_trace.entry(span.trace_id).or_default().push(span);
        }
        for (trace_id, spans) in by_trace {
            let key = (org.to_owned(), trace_id);
            let inner = &mut *inner;
            let trace = inner.traces.entry(key).or_insert_with(|| Trace {
                nodes: HashMap::new(),
                held: Vec::new(),
                waiting_on: HashSet::new(),
                touched: now,
            });
            trace.touched = now;
            let wake = spans.iter().any(|s| trace.waiting_on.contains(&s.span_id));
            let mut fresh = Vec::with_capacity(spans.len());
            for span in spans {
                let node = Node {
                    parent: span.parent,
                    name: span.name.clone(),
                    own: own_session(&span.attrs),
                };
                if trace.nodes.insert(span.span_id, node).is_none() {
                    inner.nodes += 1;
                }
                inner.spans += 1;
                inner.bytes += span.bytes;
                fresh.push(Held { span, since: now });
            }
            // Spans held before are looked at again only when one they wait for arrived.
            let (placed, spans, bytes) = if wake {
                trace.held.extend(fresh);
                place(trace, org, |_| false)
            } else {
                let before = std::mem::take(&mut trace.held);
                trace.held = fresh;
                let waiting = std::mem::take(&mut trace.waiting_on);
                let result = place(trace, org, |_| false);
                trace.held.extend(before);
                trace.waiting_on.extend(waiting);
                result
            };
            inner.spans -= spans;
            inner.bytes -= bytes;
            ready.extend(placed);
        }
        ready.extend(self.enforce(&mut inner, now));
        ready
    }

    /// Places spans that waited their full time, and forgets traces idle for as long.
    pub fn sweep(&self, now: Instant) -> Vec<Ready> {
        let mut inner = self.lock();
        let hold = self.limits.hold;
        let mut ready = Vec::new();
        let inner = &mut *inner;
        for ((org, _), trace) in &mut inner.traces {
            let (placed, spans, bytes) =
                place(trace, org, |held| now.duration_since(held.since) >= hold);
            inner.spans -= spans;
            inner.bytes -= bytes;
            ready.extend(placed);
        }
        let mut forgotten = 0;
        inner.traces.retain(|_, trace| {
            let keep = !trace.held.is_empty() || now.duration_since(trace.touched) < hold;
            if !keep {
                forgotten += trace.nodes.len();
            }
            keep
        });
        inner.nodes -= forgotten;
        ready
    }

    /// Places every held span with what is known (at shutdown).
    pub fn drain(&self) -> Vec<Ready> {
        let mut inner = self.lock();
        let mut ready = Vec::new();
        for ((org, _), trace) in &mut inner.traces {
            ready.extend(place(trace, org, |_| true).0);
        }
        *inner = Inner::default();
        ready
    }

    /// Spans held now.
    pub fn held(&self) -> usize {
        self.lock().spans
    }

    /// Places the oldest traces' spans early until the bounds hold again.
    fn enforce(&self, inner: &mut Inner, now: Instant) -> Vec<Ready> {
        let mut ready = Vec::new();
        while inner.spans > self.limits.max_spans
            || inner.bytes > self.limits.max_bytes
            || inner.nodes > self.limits.max_nodes
        {
            let oldest = inner
                .traces
                .iter()
                .min_by_key(|(_, t)| t.held.first().map_or(t.touched, |h| h.since))
                .map(|(k, _)| k.clone());
            let Some(key) = oldest else { break };
            let Some(mut trace) = inner.traces.remove(&key) else {
                break;
            };
            let (placed, spans, bytes) = place(&mut trace, &key.0, |_| true);
            inner.spans -= spans;
            inner.bytes -= bytes;
            inner.nodes -= trace.nodes.len();
            ready.extend(placed);
        }
        let _ = now;
        ready
    }
}

/// Takes out of `trace` every held span whose place is known, or that `force` says to place
/// with what is known; returns them with their count and bytes.
fn place(
    trace: &mut Trace,
    org: &str,
    force: impl Fn(&Held) -> bool,
) -> (Vec<Ready>, usize, usize) {
    let mut ready = Vec::new();
    let (mut spans, mut bytes) = (0, 0);
    let held = std::mem::take(&mut trace.held);
    trace.waiting_on.clear();
    for h in held {
        let forced = force(&h);
        match resolve(&trace.nodes, h.span.span_id, forced) {
            Ok(place) => {
                spans += 1;
                bytes += h.span.bytes;
                ready.push(Ready {
                    org: org.to_owned(),
                    span: h.span,
                    place,
                });
            }
            Err(missing) => {
                trace.waiting_on.extend(missing);
                trace.held.push(h);
            }
        }
    }
    (ready, spans, bytes)
}

/// The session and path of `span_id`; while an ancestor is missing (and not `force`), the id
/// of the missing one.
fn resolve(
    nodes: &HashMap<[u8; 8], Node>,
    span_id: [u8; 8],
    force: bool,
) -> Result<Placement, Option<[u8; 8]>> {
    let mut place = Placement::default();
    // Ancestors' names, nearest first, down to (not including) the nearest path attribute.
    let mut names: Vec<&str> = Vec::new();
    let mut base_path: Option<&str> = None;
    let Some(mut current) = nodes.get(&span_id) else {
        return if force { Ok(place) } else { Err(None) };
    };
    let mut is_self = true;
    for _ in 0..MAX_DEPTH {
        let own = &current.own;
        place.session_id = place.session_id.or_else(|| own.id.clone());
        place.session_name = place.session_name.or_else(|| own.name.clone());
        place.user_id = place.user_id.or_else(|| own.user.clone());
        if base_path.is_none() {
            if let Some(path) = &own.path {
                base_path = Some(path);
            } else if !is_self {
                names.push(&current.name);
            }
        }
        is_self = false;
        let Some(parent) = current.parent else { break };
        match nodes.get(&parent) {
            Some(node) => current = node,
            None if force => break,
            None => return Err(Some(parent)),
        }
    }
    let mut path = base_path.unwrap_or("").to_owned();
    for name in names.iter().rev() {
        path.push('/');
        path.push_str(&name.replace('/', "_"));
    }
    place.path = Some(normalize_path(&path));
    Ok(place)
}

#[cfg(test)]
mod tests;
