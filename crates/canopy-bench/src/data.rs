//! The generated store `canopy-bench query` measures: N calls in M sessions over 30 days.
//!
//! The shape is fixed by a seeded generator, so two runs with the same N and M produce the same
//! sessions (ids, sizes, names, users) and differ only in wall-clock timestamps and call ids.
//! One session has exactly 1,000 calls (the "long session" whose detail is timed); the rest
//! are mostly 1–12 calls with a tail to 600. Calls are written in time order, as a gateway
//! writes them, so a long session's calls are interleaved with everyone else's.
//!
//! What must not go here: timing. This module only builds and writes records.

use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use canopy_core::{CallRecord, UsageSource};
use canopy_store::Ingest;

/// The organisation every generated call belongs to.
pub const ORG: &str = "default";
/// Calls in the long session, when there are enough calls for it.
pub const LONG_SESSION_CALLS: usize = 1000;
/// How far back the data reaches.
const SPAN_MS: i64 = 30 * 24 * 3600 * 1000;
/// Records per `Ingest::write`.
const BATCH: usize = 5000;

/// Session names with the paths their calls take, first step first.
const WORKFLOWS: [(&str, &[&str]); 5] = [
    (
        "Support",
        &["/triage", "/triage/classify", "/respond", "/respond/draft"],
    ),
    (
        "Research agent",
        &["/plan", "/search", "/search/summarize", "/write"],
    ),
    ("Onboarding", &["/welcome", "/profile", "/profile/extract"]),
    (
        "Code review",
        &["/diff", "/diff/file", "/diff/file/comment", "/summary"],
    ),
    ("Data extraction", &["/extract", "/extract/validate"]),
];
/// Provider, model, and the nano-USD one prompt and one completion token cost.
const MODELS: [(&str, &str, i64, i64); 4] = [
    ("openai", "gpt-4o-mini", 150, 600),
    ("openai", "gpt-4o", 2_500, 10_000),
    ("anthropic", "claude-sonnet-4", 3_000, 15_000),
    ("anthropic", "claude-3-5-haiku", 800, 4_000),
];
/// Distinct end users.
const USERS: u64 = 2_000;
/// Words the bodies are made of.
const WORDS: [&str; 16] = [
    "order", "refund", "invoice", "please", "account", "shipping", "status", "password", "update",
    "thanks", "delay", "customer", "ticket", "billing", "address", "issue",
];

/// A small, fast, seeded generator (SplitMix64): the data needs spread, not cryptography.
pub struct Rng(u64);

impl Rng {
    /// A generator that always yields the same sequence for one seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One planned session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its id, shaped like the UUIDs clients send.
    pub id: String,
    /// Index into the workflows (name and paths).
    workflow: usize,
    /// Its user.
    user: u64,
    /// How many calls it has.
    pub calls: usize,
    /// Offset of its first call before the end of the data, ms.
    starts_before_end_ms: i64,
}

/// The sessions to generate; the first is the long one.
pub fn plan(calls: usize, sessions: usize) -> anyhow::Result<Vec<Session>> {
    anyhow::ensure!(
        sessions >= 1 && calls >= sessions,
        "need at least one session and at least one call per session"
    );
    let mut rng = Rng::new(0x00C0_FFEE);
    let long = LONG_SESSION_CALLS.min(calls - (sessions - 1));
    let mut sizes = vec![long];
    sizes.extend((1..sessions).map(|_| raw_size(&mut rng)));
    fit_sizes(&mut sizes[1..], calls - long, &mut rng);
    Ok(sizes
        .into_iter()
        .enumerate()
        .map(|(i, size)| Session {
            id: uuid_like(&mut rng),
            workflow: rng.below(WORKFLOWS.len() as u64) as usize,
            user: rng.below(USERS),
            calls: size,
            // The long session sits in the last three days; the rest anywhere in the thirty.
            starts_before_end_ms: if i == 0 {
                3 * 24 * 3600 * 1000
            } else {
                i64::try_from(rng.below(SPAN_MS as u64)).unwrap_or(0)
            },
        })
        .collect())
}

/// A session size before scaling: mostly 1–12 calls, some 13–40, a few up to 600.
fn raw_size(rng: &mut Rng) -> usize {
    let r = rng.unit();
    if r < 0.80 {
        1 + rng.below(12) as usize
    } else if r < 0.97 {
        13 + rng.below(28) as usize
    } else {
        // A Pareto-like tail: 41 / u, capped.
        ((41.0 / rng.unit().max(0.068)) as usize).min(600)
    }
}

/// Scales `sizes` (each at least 1) so that they add up to exactly `total`.
fn fit_sizes(sizes: &mut [usize], total: usize, rng: &mut Rng) {
    if sizes.is_empty() {
        return;
    }
    let sum: usize = sizes.iter().sum();
    let factor = total as f64 / sum as f64;
    for size in sizes.iter_mut() {
        *size = ((*size as f64 * factor).round() as usize).max(1);
    }
    let mut sum: usize = sizes.iter().sum();
    let n = sizes.len() as u64;
    while sum != total {
        let i = rng.below(n) as usize;
        if sum < total {
            sizes[i] += 1;
            sum += 1;
        } else if sizes[i] > 1 {
            sizes[i] -= 1;
            sum -= 1;
        }
    }
}

fn uuid_like(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

/// One call to write: its session, its step in that session and its start.
#[derive(Debug, Clone, Copy)]
struct Slot {
    at_ms: i64,
    session: u32,
    step: u32,
}

/// Writes the planned sessions' calls in time order, ending now, and reports progress on
/// stderr.
pub async fn generate(store: &dyn Ingest, sessions: &[Session]) -> anyhow::Result<()> {
    let end_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let mut rng = Rng::new(0x0DA7_A5EE);
    let mut slots = Vec::with_capacity(sessions.iter().map(|s| s.calls).sum());
    let mut offsets = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        // Each call starts after the previous one's latency plus a user's or agent's think time.
        offsets.clear();
        let mut offset = 0;
        for _ in 0..s.calls {
            offsets.push(offset);
            offset += 500 + i64::try_from(rng.below(15_000))?;
        }
        // A session that would run past the end starts early enough to finish by it.
        let span = offsets.last().copied().unwrap_or(0);
        let start = end_ms - s.starts_before_end_ms.max(span);
        for (step, offset) in offsets.iter().enumerate() {
            slots.push(Slot {
                at_ms: start + offset,
                session: u32::try_from(i)?,
                step: u32::try_from(step)?,
            });
        }
    }
    slots.sort_by_key(|s| s.at_ms);
    let started = Instant::now();
    let mut err = std::io::stderr().lock();
    for (n, chunk) in slots.chunks(BATCH).enumerate() {
        let batch: Vec<CallRecord> = chunk
            .iter()
            .map(|slot| record(&sessions[slot.session as usize], *slot, &mut rng))
            .collect();
        store.write(&batch).await?;
        let done = ((n + 1) * BATCH).min(slots.len());
        if n % 20 == 19 {
            let rate = done as f64 / started.elapsed().as_secs_f64();
            writeln!(
                err,
                "generated {done} of {} calls ({rate:.0}/s)",
                slots.len()
            )?;
        }
    }
    Ok(())
}

/// One realistic call of `session` at `slot`.
fn record(session: &Session, slot: Slot, rng: &mut Rng) -> CallRecord {
    let (name, paths) = WORKFLOWS[session.workflow];
    let path = paths[slot.step as usize % paths.len()];
    let (provider, model, prompt_price, completion_price) =
        MODELS[(session.workflow + rng.below(2) as usize) % MODELS.len()];
    let mut r = canopy_store::testing::sample_call(ORG, Some(&session.id), slot.at_ms);
    r.provider = provider.to_owned();
    r.request_model = Some(model.to_owned());
    r.response_model = Some(format!("{model}-2025"));
    r.pricing_model = Some(model.to_owned());
    r.session_path = Some(path.to_owned());
    r.session_name = Some(name.to_owned());
    r.user_id = Some(format!("user-{}", session.user));
    r.prompt_id = path.rsplit('/').next().map(str::to_owned);
    let latency = 300 + i64::try_from(rng.below(6_000)).unwrap_or(0);
    r.latency_ms = Some(latency);
    r.time_to_first_token_ms = Some(latency / 5);
    r.response_created_at_ms = Some(slot.at_ms + latency);
    r.usage.prompt_tokens = 200 + rng.below(3_000);
    r.usage.completion_tokens = 20 + rng.below(800);
    r.cost_nano_usd = Some(
        i64::try_from(r.usage.prompt_tokens).unwrap_or(0) * prompt_price
            + i64::try_from(r.usage.completion_tokens).unwrap_or(0) * completion_price,
    );
    let prompt = words(rng, 28);
    r.request_body.text = Some(format!(
        "{{\"model\":\"{model}\",\"stream\":true,\"messages\":[{{\"role\":\"system\",\"content\":\"You are the {name} assistant.\"}},{{\"role\":\"user\",\"content\":\"{prompt}\"}}]}}"
    ));
    r.request_body.truncated = false;
    let answer = words(rng, 30);
    r.response_body.text = Some(format!(
        "{{\"id\":\"chatcmpl-{}\",\"object\":\"chat.completion\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{answer}\"}},\"finish_reason\":\"stop\"}}]}}",
        rng.next()
    ));
    r.response_body.omitted = false;
    // About 2 % of calls fail: rate limits and upstream errors, unpriced.
    if rng.below(50) == 0 {
        let (status, error) = if rng.below(2) == 0 {
            (429, "Rate limit reached for requests")
        } else {
            (500, "The server had an error while processing your request")
        };
        r.status = status;
        r.error = Some(error.to_owned());
        r.usage = canopy_core::Usage::default();
        r.usage_source = UsageSource::None;
        r.cost_nano_usd = None;
        r.response_body.text = Some(format!("{{\"error\":{{\"message\":\"{error}\"}}}}"));
    }
    r
}

/// `n` words of filler text.
fn words(rng: &mut Rng, n: usize) -> String {
    let mut text = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    text
}
