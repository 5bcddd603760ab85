//! The session tree and timeline, built from one session's calls (DESIGN.md §5.1 and §5.2).
//!
//! [`build_tree`] lays a session's calls out by their `/path`: every path prefix is a node, a
//! call is a leaf of the node of its full path, and every node rolls up its whole subtree.
//! [`timeline`] gives the bars of the session's Gantt chart. The API, the CLI and the dashboard
//! all call these two functions, so the tree looks the same wherever it is shown.
//!
//! Everything here is pure: no I/O, no clock, no store. Presentation (USD amounts, ISO times,
//! terminal output) belongs to the callers, not here.

use std::cmp::Ordering;
use std::collections::HashMap;

use canopy_core::session::{normalize_path, segments};
use canopy_core::{CallId, CallKind, CallRecord};
use serde::{Deserialize, Serialize};

/// The path of the tree's root, where calls without a path sit.
pub const ROOT_PATH: &str = "/";

/// Totals of a subtree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    /// Number of calls in the subtree.
    pub requests: u64,
    /// Sum of the known costs, nano-USD; calls with an unknown cost add nothing.
    pub cost_nano: i64,
    /// Sum of prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of completion tokens.
    pub completion_tokens: u64,
    /// Calls that failed (negative status or 4xx/5xx).
    pub errors: u64,
    /// Start of the earliest call, Unix ms; 0 for an empty subtree.
    pub start_ms: i64,
    /// End of the latest-ending call, Unix ms; 0 for an empty subtree.
    pub end_ms: i64,
    /// `end_ms - start_ms`: the wall-clock time the subtree covers.
    pub span_ms: i64,
}

impl Rollup {
    /// The totals of one call.
    fn of_call(call: &CallRecord) -> Self {
        let start_ms = call.created_at_ms;
        let end_ms = call_end_ms(call);
        Self {
            requests: 1,
            cost_nano: call.cost_nano_usd.unwrap_or(0),
            prompt_tokens: call.usage.prompt_tokens,
            completion_tokens: call.usage.completion_tokens,
            errors: u64::from(call.is_error()),
            start_ms,
            end_ms,
            span_ms: end_ms.saturating_sub(start_ms),
        }
    }

    /// Adds `other`'s totals to these; an empty side takes the other's start and end.
    fn add(&mut self, other: &Self) {
        if other.requests == 0 {
            return;
        }
        if self.requests == 0 {
            self.start_ms = other.start_ms;
            self.end_ms = other.end_ms;
        } else {
            self.start_ms = self.start_ms.min(other.start_ms);
            self.end_ms = self.end_ms.max(other.end_ms);
        }
        self.requests = self.requests.saturating_add(other.requests);
        self.cost_nano = self.cost_nano.saturating_add(other.cost_nano);
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self
            .completion_tokens
            .saturating_add(other.completion_tokens);
        self.errors = self.errors.saturating_add(other.errors);
        self.span_ms = self.end_ms.saturating_sub(self.start_ms);
    }
}

/// One node of the session tree: a path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeNode {
    /// The node's path: `/`, `/a`, `/a/b`.
    pub path: String,
    /// The last segment of the path; empty for the root.
    pub name: String,
    /// Totals of the node's whole subtree, its own calls included.
    pub rollup: Rollup,
    /// The calls whose path is exactly this node's, in start order.
    pub request_ids: Vec<CallId>,
    /// Child nodes, ordered by their first start (`rollup.start_ms`), ties by path.
    pub children: Vec<TreeNode>,
}

/// Builds the session tree from a session's calls, given in any order.
///
/// The root (`/`) is always present; an empty session gives a root with a zero roll-up.
/// Runs in O(n log n) for n calls (plus the length of their paths).
pub fn build_tree(calls: &[CallRecord]) -> TreeNode {
    let mut arena = Arena::new();
    for call in in_start_order(calls) {
        let path = call_path(call);
        let index = arena.node_for(&path);
        let node = &mut arena.nodes[index];
        node.request_ids.push(call.id);
        node.rollup.add(&Rollup::of_call(call));
    }
    arena.into_tree()
}

/// One bar of the session's Gantt chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The call.
    pub request_id: CallId,
    /// The call's normalised path; `/` when it has none.
    pub path: String,
    /// Start of the call after the start of the session's first call.
    pub offset_ms: i64,
    /// The call's end minus its start.
    pub duration_ms: i64,
    /// The call's status (HTTP status or a negative `STATUS_*` code).
    pub status: i32,
    /// The model that answered, else the model asked for.
    pub model: Option<String>,
    /// Cost in nano-USD, or `None` when unknown.
    pub cost_nano: Option<i64>,
    /// An LLM call or a logged tool / vector-DB / data step.
    pub kind: CallKind,
}

/// The timeline of a session's calls, given in any order, returned in start order.
pub fn timeline(calls: &[CallRecord]) -> Vec<TimelineEntry> {
    let ordered = in_start_order(calls);
    let session_start = ordered.first().map_or(0, |call| call.created_at_ms);
    ordered
        .into_iter()
        .map(|call| TimelineEntry {
            request_id: call.id,
            path: call_path(call),
            offset_ms: call.created_at_ms.saturating_sub(session_start),
            duration_ms: call_end_ms(call).saturating_sub(call.created_at_ms),
            status: call.status,
            model: call
                .response_model
                .clone()
                .or_else(|| call.request_model.clone()),
            cost_nano: call.cost_nano_usd,
            kind: call.kind,
        })
        .collect()
}

/// When a call ended: its response time, else its start plus its latency, else its start.
///
/// Never earlier than the call's start, so durations and spans are never negative.
pub fn call_end_ms(call: &CallRecord) -> i64 {
    let start = call.created_at_ms;
    let end = call
        .response_created_at_ms
        .or_else(|| call.latency_ms.map(|latency| start.saturating_add(latency)))
        .unwrap_or(start);
    end.max(start)
}

/// A call's place in the tree: its normalised path, or `/` when it has none.
fn call_path(call: &CallRecord) -> String {
    match call.session_path.as_deref() {
        Some(path) => normalize_path(path),
        None => ROOT_PATH.to_owned(),
    }
}

/// The calls sorted by start, ties broken by id so the order never depends on the input's.
fn in_start_order(calls: &[CallRecord]) -> Vec<&CallRecord> {
    let mut ordered: Vec<&CallRecord> = calls.iter().collect();
    ordered.sort_unstable_by(|a, b| by_start(a, b));
    ordered
}

/// Start order of two calls: by start time, then by id.
fn by_start(a: &CallRecord, b: &CallRecord) -> Ordering {
    a.created_at_ms
        .cmp(&b.created_at_ms)
        .then_with(|| a.id.cmp(&b.id))
}

/// A node while the tree is being built: children are indices into the arena.
struct FlatNode {
    path: String,
    name: String,
    parent: Option<usize>,
    rollup: Rollup,
    request_ids: Vec<CallId>,
    children: Vec<usize>,
}

/// The nodes of a tree under construction, found by path in constant time.
///
/// A parent is always created before its children, so every child's index is greater than its
/// parent's; [`Arena::into_tree`] relies on that to roll up and assemble without recursion.
struct Arena {
    nodes: Vec<FlatNode>,
    by_path: HashMap<String, usize>,
}

impl Arena {
    /// An arena holding only the root.
    fn new() -> Self {
        let root = FlatNode {
            path: ROOT_PATH.to_owned(),
            name: String::new(),
            parent: None,
            rollup: Rollup::default(),
            request_ids: Vec::new(),
            children: Vec::new(),
        };
        Self {
            nodes: vec![root],
            by_path: HashMap::from([(ROOT_PATH.to_owned(), 0)]),
        }
    }

    /// The index of the node for a normalised `path`, created with its ancestors if missing.
    fn node_for(&mut self, path: &str) -> usize {
        if let Some(&index) = self.by_path.get(path) {
            return index;
        }
        let mut parent = 0;
        let mut prefix = String::with_capacity(path.len());
        for segment in segments(path) {
            prefix.push('/');
            prefix.push_str(segment);
            parent = match self.by_path.get(prefix.as_str()) {
                Some(&index) => index,
                None => self.push_child(parent, &prefix, segment),
            };
        }
        parent
    }

    /// Adds a node under `parent` and returns its index.
    fn push_child(&mut self, parent: usize, path: &str, name: &str) -> usize {
        let index = self.nodes.len();
        self.nodes.push(FlatNode {
            path: path.to_owned(),
            name: name.to_owned(),
            parent: Some(parent),
            rollup: Rollup::default(),
            request_ids: Vec::new(),
            children: Vec::new(),
        });
        self.nodes[parent].children.push(index);
        self.by_path.insert(path.to_owned(), index);
        index
    }

    /// Rolls every node's totals up into its ancestors, orders children and assembles the tree.
    fn into_tree(mut self) -> TreeNode {
        // Children come after their parents, so walking backwards finishes each subtree's
        // totals before they are added to the parent.
        for index in (1..self.nodes.len()).rev() {
            if let Some(parent) = self.nodes[index].parent {
                let rollup = self.nodes[index].rollup;
                self.nodes[parent].rollup.add(&rollup);
            }
        }
        let mut built: Vec<Option<TreeNode>> = Vec::with_capacity(self.nodes.len());
        built.resize_with(self.nodes.len(), || None);
        for (index, flat) in self.nodes.into_iter().enumerate().rev() {
            let mut children: Vec<TreeNode> = flat
                .children
                .iter()
                .filter_map(|&child| built.get_mut(child).and_then(Option::take))
                .collect();
            children.sort_by(|a, b| {
                a.rollup
                    .start_ms
                    .cmp(&b.rollup.start_ms)
                    .then_with(|| a.path.cmp(&b.path))
            });
            built[index] = Some(TreeNode {
                path: flat.path,
                name: flat.name,
                rollup: flat.rollup,
                request_ids: flat.request_ids,
                children,
            });
        }
        built
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_else(empty_root)
    }
}

/// The tree of an empty session.
fn empty_root() -> TreeNode {
    TreeNode {
        path: ROOT_PATH.to_owned(),
        name: String::new(),
        rollup: Rollup::default(),
        request_ids: Vec::new(),
        children: Vec::new(),
    }
}

#[cfg(test)]
mod tests;

/// Each call's parent call in the session, where one is known: a call whose span's parent
/// span (`canopy-parent-span-id`, in the same `canopy-trace-id`) is another call of the
/// session. Calls of one trace, proxied or ingested over OTLP, so form a real tree beside the
/// path folders.
pub fn parent_links(calls: &[CallRecord]) -> HashMap<CallId, CallId> {
    use canopy_core::trace::{PARENT_SPAN_ID_PROPERTY, SPAN_ID_PROPERTY, TRACE_ID_PROPERTY};
    let by_span: HashMap<(&str, &str), CallId> = calls
        .iter()
        .filter_map(|c| {
            let trace = c.properties.get(TRACE_ID_PROPERTY)?;
            let span = c.properties.get(SPAN_ID_PROPERTY)?;
            Some(((trace.as_str(), span.as_str()), c.id))
        })
        .collect();
    calls
        .iter()
        .filter_map(|c| {
            let trace = c.properties.get(TRACE_ID_PROPERTY)?;
            let parent = c.properties.get(PARENT_SPAN_ID_PROPERTY)?;
            let parent_id = by_span.get(&(trace.as_str(), parent.as_str()))?;
            (*parent_id != c.id).then_some((c.id, *parent_id))
        })
        .collect()
}
