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
//!
//! Proxied calls join the same trees ([`Holder::place_call`]): a call that carries a
//! `traceparent` but no session header takes the session of its nearest ancestor span, and
//! waits here like a span while that ancestor has not arrived, but only when its organisation
//! sent OTLP spans within `tracing` (so plain proxy traffic is never held). A held call counts
//! against the same bounds and is handed out once, like a span.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use canopy_core::CallRecord;
use canopy_core::session::normalize_path;
use canopy_core::trace::{PARENT_SPAN_ID_PROPERTY, SPAN_ID_PROPERTY, TRACE_ID_PROPERTY};

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
    /// How long after its last OTLP request an organisation's proxied calls with a
    /// `traceparent` (and no session) may wait for their trace's spans.
    pub tracing: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            hold: Duration::from_secs(60),
            max_spans: 20_000,
            max_bytes: 64 << 20,
            max_nodes: 200_000,
            tracing: Duration::from_secs(600),
        }
    }
}

/// The longest ancestor chain followed (a guard against cycles in bad input).
const MAX_DEPTH: usize = 256;

/// A span or proxied call whose place is known, ready to be recorded.
#[derive(Debug)]
pub struct Ready {
    pub org: String,
    pub item: Item,
    pub place: Placement,
}

/// What waits in the buffer.
#[derive(Debug)]
pub enum Item {
    /// An ingested span, recorded through [`super::map::record`].
    Span(SpanIn),
    /// A proxied call's completed record, which only needs its session.
    Call(Box<CallRecord>),
}

impl Ready {
    /// The span, when this is one.
    pub fn span(&self) -> Option<&SpanIn> {
        match &self.item {
            Item::Span(span) => Some(span),
            Item::Call(_) => None,
        }
    }
}

impl Item {
    fn span_id(&self) -> [u8; 8] {
        match self {
            Item::Span(span) => span.span_id,
            Item::Call(record) => call_ids(record).map_or([0; 8], |ids| ids.span),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Item::Span(span) => span.bytes,
            Item::Call(record) => call_bytes(record),
        }
    }
}

/// A proxied call's place in a trace, read from the properties the gateway set.
struct CallIds {
    trace: [u8; 16],
    span: [u8; 8],
    parent: [u8; 8],
}

fn call_ids(record: &CallRecord) -> Option<CallIds> {
    let prop = |key| record.properties.get(key).map(String::as_str);
    Some(CallIds {
        trace: unhex(prop(TRACE_ID_PROPERTY)?)?,
        span: unhex(prop(SPAN_ID_PROPERTY)?)?,
        parent: unhex(prop(PARENT_SPAN_ID_PROPERTY)?)?,
    })
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let digit = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0_u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// About how much memory a held record takes.
fn call_bytes(record: &CallRecord) -> usize {
    let body = |b: &canopy_core::record::StoredBody| b.text.as_ref().map_or(0, String::len);
    let props: usize = record
        .properties
        .iter()
        .map(|(k, v)| k.len() + v.len() + 16)
        .sum();
    1024 + body(&record.request_body) + body(&record.response_body) + props
}

/// Gives a proxied call the session `place` found for it, as a session header would have:
/// the fields and the properties under Helicone's names. A call without a found session, or
/// that has its own, is left as it is.
pub fn apply(record: &mut CallRecord, place: &Placement) {
    let Some(id) = &place.session_id else { return };
    if record.session_id.is_some() {
        return;
    }
    record.session_id = Some(id.clone());
    record.session_path = Some(place.path.clone().unwrap_or_else(|| "/".to_owned()));
    if record.session_name.is_none() {
        record.session_name.clone_from(&place.session_name);
    }
    if record.user_id.is_none() {
        record.user_id.clone_from(&place.user_id);
    }
    let props = &mut record.properties;
    props.insert("Helicone-Session-Id".to_owned(), id.clone());
    if let Some(path) = &record.session_path {
        props.insert("Helicone-Session-Path".to_owned(), path.clone());
    }
    if let Some(name) = &record.session_name {
        props.insert("Helicone-Session-Name".to_owned(), name.clone());
    }
}

struct Node {
    parent: Option<[u8; 8]>,
    name: String,
    own: OwnSession,
}

struct Held {
    item: Item,
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
    /// When each organisation last sent OTLP spans.
    tracing: HashMap<String, Instant>,
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
        if !spans.is_empty() {
            inner.tracing.insert(org.to_owned(), now);
        }
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
                fresh.push(Held {
                    item: Item::Span(span),
                    since: now,
                });
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

    /// Places a proxied call that carries a `traceparent` and no session: returns it with the
    /// session of its trace's nearest ancestor span that names one, or as it is when none does
    /// or its organisation sent no OTLP spans within `tracing`. While an ancestor has not
    /// arrived (the span that names the session usually comes after the calls made under it),
    /// the call is held when `may_hold` and `None` is returned; it comes out of [`Holder::add`],
    /// [`Holder::sweep`] or [`Holder::drain`] later, exactly once. Also returns what the bounds
    /// forced out. Only the call's own organisation's spans are looked at.
    pub fn place_call(
        &self,
        mut record: CallRecord,
        may_hold: bool,
        now: Instant,
    ) -> (Option<CallRecord>, Vec<Ready>) {
        let ids = match call_ids(&record) {
            Some(ids) if record.session_id.is_none() => ids,
            _ => return (Some(record), Vec::new()),
        };
        let mut inner = self.lock();
        let tracing = inner
            .tracing
            .get(&record.org_id)
            .is_some_and(|at| now.duration_since(*at) < self.limits.tracing);
        if !tracing {
            return (Some(record), Vec::new());
        }
        let key = (record.org_id.clone(), ids.trace);
        let inner = &mut *inner;
        let trace = match inner.traces.get_mut(&key) {
            Some(trace) => trace,
            None if !may_hold => return (Some(record), Vec::new()),
            None => inner.traces.entry(key).or_insert_with(|| Trace {
                nodes: HashMap::new(),
                held: Vec::new(),
                waiting_on: HashSet::new(),
                touched: now,
            }),
        };
        let node = Node {
            parent: Some(ids.parent),
            name: String::new(),
            own: OwnSession::default(),
        };
        if trace.nodes.insert(ids.span, node).is_none() {
            inner.nodes += 1;
        }
        match resolve(&trace.nodes, ids.span, !may_hold) {
            Ok(place) => {
                apply(&mut record, &place);
                let forced = self.enforce(inner, now);
                (Some(record), forced)
            }
            Err(missing) => {
                trace.waiting_on.extend(missing);
                let item = Item::Call(Box::new(record));
                inner.spans += 1;
                inner.bytes += item.bytes();
                trace.held.push(Held { item, since: now });
                (None, self.enforce(inner, now))
            }
        }
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
        let tracing = self.limits.tracing;
        inner
            .tracing
            .retain(|_, at| now.duration_since(*at) < tracing);
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
        match resolve(&trace.nodes, h.item.span_id(), forced) {
            Ok(place) => {
                spans += 1;
                bytes += h.item.bytes();
                ready.push(Ready {
                    org: org.to_owned(),
                    item: h.item,
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
