//! `canopy-bench streams`: N slow streams in flight at once, straight to the mock provider and
//! through the gateway, in one run.
//!
//! Each stream is a streamed chat completion that asks for usage; the mock's
//! `x-mock-chunk-delay-ms` header spaces its events. All streams of a phase wait on one barrier
//! and are sent together, each on its own connection. A stream's time to first token (TTFT) runs
//! from just before it is sent to the arrival of its first complete `data:` event; its total
//! time runs to the end of the body, which must end with `data: [DONE]`. Through the gateway the
//! calls carry session headers, ten streams per session.
//!
//! There are four phases, each with a fresh client: direct and through the gateway with *cold*
//! connections (the streams open them, all at once, as a burst of new clients would), then
//! direct and through the gateway with *warm* ones (opened beforehand in batches below the
//! accept backlog, so the streams measure the proxy rather than the kernel's accept queue; the
//! gateway records the warm-up's plain calls like any other).
//! With `--gateway-pid` the gateway's resident memory is read every 20 ms during the cold phase
//! through it, and its CPU ticks before and after.
//!
//! What must not go here: starting the gateway or the mock (the caller runs both), or a verdict:
//! the report states what was measured ([`crate::streams_report`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use canopy_core::headers::{HEADER_SESSION_ID, HEADER_SESSION_PATH};
use canopy_core::sse::{RawEvent, SseSplitter, parse_event};
use reqwest::RequestBuilder;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::Barrier;
use tokio_util::task::TaskTracker;

use crate::load::{self, HEADER_CANOPY_AUTH, OUT_OF_FILES, Tally};
use crate::procstat::{self, Peak, Process};
use crate::streams_report;

/// What `canopy-bench streams` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gateway's base URL.
    pub gateway: String,
    /// The mock provider's base URL.
    pub mock: String,
    /// Streams in flight at once, in each phase.
    pub streams: usize,
    /// Milliseconds the mock waits between events.
    pub chunk_delay_ms: u64,
    /// Words the mock's replies are lengthened to (`x-mock-reply-words`), for streams of about
    /// a third as many events; `None` keeps its short replies (about 7 events per stream).
    pub reply_words: Option<u64>,
    /// The gateway's process id, to read its memory and CPU.
    pub gateway_pid: Option<u32>,
    /// A Canopy key, for a gateway that requires one.
    pub api_key: Option<String>,
}

/// How often the gateway's resident memory is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);
/// The mock's knob for the pause between events.
pub const HEADER_CHUNK_DELAY: &str = "x-mock-chunk-delay-ms";
/// The mock's knob for the length of its reply.
const HEADER_REPLY_WORDS: &str = "x-mock-reply-words";
/// The mock's knob for the wait before the response head.
const HEADER_LATENCY: &str = "x-mock-latency-ms";
/// Streams that share one session through the gateway.
const STREAMS_PER_SESSION: usize = 10;
/// Connections a warm-up opens at once, below the listeners' accept backlog.
pub const WARM_BATCH: usize = 100;
/// The pause between two warm-up batches.
const WARM_STEP: Duration = Duration::from_millis(25);
/// The pause between a warm-up and its streams, so that the gateway has written the warm-up's
/// records (its writer lingers 5 ms per batch) before the streams compete with it for CPU.
const SETTLE: Duration = Duration::from_millis(500);

/// Where a phase's calls go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Direct,
    Gateway,
}

/// Whether a phase's connections are opened by the streams themselves, all at once (cold), or
/// beforehand by [`warm_up`] (warm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Warmth {
    Cold,
    Warm,
}

/// The four phases of a run.
#[derive(Debug)]
pub struct Legs {
    /// Straight to the mock, connections opened by the streams.
    pub direct_cold: Phase,
    /// Through the gateway, connections opened by the streams.
    pub through_cold: Phase,
    /// Straight to the mock over open connections.
    pub direct_warm: Phase,
    /// Through the gateway over open connections (and the gateway's own to the mock).
    pub through_warm: Phase,
}

impl Legs {
    /// All four, in the order they ran.
    pub fn all(&self) -> [&Phase; 4] {
        [
            &self.direct_cold,
            &self.through_cold,
            &self.direct_warm,
            &self.through_warm,
        ]
    }
}

/// One stream that ended with `[DONE]`.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    /// When it was sent.
    pub sent: Instant,
    /// Sent → first complete `data:` event.
    pub ttft: Duration,
    /// Sent → end of body.
    pub total: Duration,
    /// SSE events received.
    pub events: usize,
}

/// Everything one phase measured.
#[derive(Debug, Default)]
pub struct Phase {
    /// The streams that completed.
    pub streams: Vec<Stream>,
    /// The ones that did not, by reason.
    pub failures: Tally,
    /// From the first spawn to the last stream's end.
    pub wall: Duration,
    /// Connections the kernel's accept queues refused meanwhile (`ListenOverflows`, for the
    /// whole host).
    pub listen_overflows: Option<u64>,
}

/// The gateway's process figures over its cold phase.
#[derive(Debug, Default)]
pub struct Usage {
    /// Resident KiB just before the phase.
    pub idle_kib: Option<u64>,
    /// The highest resident KiB read during it.
    pub peak: Option<Peak>,
    /// Resident KiB just after it.
    pub after_kib: Option<u64>,
    /// CPU time used during it.
    pub cpu: Option<Duration>,
    /// Its soft open-file limit.
    pub open_files: Option<String>,
}

/// Runs the four legs and prints the report.
pub async fn run(options: Options) -> anyhow::Result<()> {
    // Each stream holds one connection here; a few more for the runtime and the pool's churn.
    let wanted = options.streams as u64 + 256;
    let open_files = load::raise_open_files(wanted);
    anyhow::ensure!(
        open_files >= wanted,
        "{} streams need about {wanted} open files, but the hard limit lets this process open \
         only {open_files}: run `ulimit -n {}` in the shells that start the mock, the gateway \
         and canopy-bench (the gateway holds two connections per stream)",
        options.streams,
        (2 * wanted).max(8192)
    );
    let gateway = options.gateway_pid.map(Process::new).transpose()?;
    let body = load::stream_body();
    let n = options.streams;

    load::progress(&format!("direct to the mock, cold: {n} streams"))?;
    let direct_cold = phase(Leg::Direct, Warmth::Cold, &options, &body).await?;
    load::progress(&format!("through the gateway, cold: {n} streams"))?;
    let (through_cold, usage) =
        watched(gateway, phase(Leg::Gateway, Warmth::Cold, &options, &body)).await?;
    load::progress(&format!("direct to the mock, warm: {n} streams"))?;
    let direct_warm = phase(Leg::Direct, Warmth::Warm, &options, &body).await?;
    load::progress(&format!("through the gateway, warm: {n} streams"))?;
    let through_warm = phase(Leg::Gateway, Warmth::Warm, &options, &body).await?;

    let header = streams_report::Header {
        options: &options,
        open_files,
        gateway_pid: gateway.map(Process::pid),
    };
    let legs = Legs {
        direct_cold,
        through_cold,
        direct_warm,
        through_warm,
    };
    streams_report::print(&header, &legs, &usage)?;
    let emfile = |p: &Phase| p.failures.keys().any(|k| k.ends_with(OUT_OF_FILES));
    anyhow::ensure!(
        !legs.all().iter().any(|p| emfile(p)),
        "connections failed with EMFILE (too many open files; this process's limit is \
         {open_files}): run `ulimit -n {}` in the shells that start the mock, the gateway and \
         canopy-bench (the gateway holds two connections per stream)",
        (2 * wanted).max(8192)
    );
    Ok(())
}

/// Runs `leg` while reading the gateway's memory and CPU, when its process is known.
async fn watched(
    gateway: Option<Process>,
    leg: impl Future<Output = anyhow::Result<Phase>>,
) -> anyhow::Result<(Phase, Usage)> {
    let tracker = TaskTracker::new();
    let mut usage = Usage::default();
    let ticks_before = gateway.and_then(Process::cpu_ticks);
    usage.idle_kib = gateway.and_then(Process::rss_kib);
    usage.open_files = gateway.and_then(Process::open_files_limit);
    let sampler = gateway.map(|g| g.sample_peak(&tracker, SAMPLE_EVERY));
    let phase = leg.await?;
    if let Some(sampler) = sampler {
        usage.peak = Some(sampler.finish().await?);
    }
    usage.after_kib = gateway.and_then(Process::rss_kib);
    let ticks_after = gateway.and_then(Process::cpu_ticks);
    usage.cpu = ticks_after
        .zip(ticks_before)
        .map(|(after, before)| procstat::ticks(after.saturating_sub(before)));
    tracker.close();
    tracker.wait().await;
    Ok((phase, usage))
}

/// Sends `options.streams` streams at once to the leg's target and waits for all of them.
async fn phase(leg: Leg, warmth: Warmth, options: &Options, body: &Bytes) -> anyhow::Result<Phase> {
    let client = load::client()?;
    let base = match leg {
        Leg::Direct => &options.mock,
        Leg::Gateway => &options.gateway,
    };
    let url = format!("{base}/v1/chat/completions");
    let mut phase = Phase::default();
    if warmth == Warmth::Warm {
        warm_up(&client, &url, leg, options, &mut phase.failures).await?;
        tokio::time::sleep(SETTLE).await;
    }
    let run = load::run_id();
    let events = 20 + options.reply_words.unwrap_or(0) / 3;
    let limit = Duration::from_secs(30) + Duration::from_millis(options.chunk_delay_ms * events);
    let barrier = Arc::new(Barrier::new(options.streams));
    let tracker = TaskTracker::new();
    let overflows_before = procstat::listen_overflows();
    let started = Instant::now();
    let tasks: Vec<_> = (0..options.streams)
        .map(|i| {
            let mut request = client
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .header(HEADER_CHUNK_DELAY, options.chunk_delay_ms)
                .body(body.clone());
            if let Some(words) = options.reply_words {
                request = request.header(HEADER_REPLY_WORDS, words);
            }
            if leg == Leg::Gateway {
                let session = i / STREAMS_PER_SESSION;
                let step = i % STREAMS_PER_SESSION;
                request = request
                    .header(HEADER_SESSION_ID, format!("bench-streams-{run}-{session}"))
                    .header(HEADER_SESSION_PATH, format!("/bench/stream-{step}"));
            }
            let request = authorize(request, leg, options);
            let barrier = barrier.clone();
            tracker.spawn(async move {
                barrier.wait().await;
                tokio::time::timeout(limit, stream(request))
                    .await
                    .unwrap_or_else(|_| Err(format!("no end within {} s", limit.as_secs())))
            })
        })
        .collect();
    tracker.close();
    for task in tasks {
        match task.await.context("a stream task failed")? {
            Ok(stream) => phase.streams.push(stream),
            Err(reason) => *phase.failures.entry(reason).or_default() += 1,
        }
    }
    tracker.wait().await;
    phase.wall = started.elapsed();
    phase.listen_overflows = procstat::listen_overflows()
        .zip(overflows_before)
        .map(|(after, before)| after.saturating_sub(before));
    Ok(phase)
}

/// Adds the Canopy key to a call through the gateway, when one was given.
fn authorize(request: RequestBuilder, leg: Leg, options: &Options) -> RequestBuilder {
    match (&options.api_key, leg) {
        (Some(key), Leg::Gateway) => request.header(HEADER_CANOPY_AUTH, format!("Bearer {key}")),
        _ => request,
    }
}

/// Opens one connection per stream on `client` before a warm leg. It sends as many plain
/// calls, [`WARM_BATCH`] more every [`WARM_STEP`], each held by the mock
/// (`x-mock-latency-ms`) until the last has started, so that none reuses another's connection;
/// through the gateway, its upstream calls open as many connections to the mock. The pool then
/// holds them idle for the streams.
async fn warm_up(
    client: &reqwest::Client,
    url: &str,
    leg: Leg,
    options: &Options,
    failures: &mut Tally,
) -> anyhow::Result<()> {
    let batches = options.streams.div_ceil(WARM_BATCH);
    let hold_ms = WARM_STEP.as_millis() as u64 * batches as u64 + 250;
    let body = load::plain_body();
    let tracker = TaskTracker::new();
    let tasks: Vec<_> = (0..options.streams)
        .map(|i| {
            let request = client
                .post(url)
                .header(CONTENT_TYPE, "application/json")
                .header(HEADER_LATENCY, hold_ms)
                .body(body.clone());
            let request = authorize(request, leg, options);
            let start = WARM_STEP * u32::try_from(i / WARM_BATCH).unwrap_or(u32::MAX);
            tracker.spawn(async move {
                tokio::time::sleep(start).await;
                let response = request.send().await.map_err(|e| load::failure(&e))?;
                let status = response.status();
                // Reading the body to its end returns the connection to the pool.
                response.bytes().await.map_err(|e| load::failure(&e))?;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("status {}", status.as_u16()))
                }
            })
        })
        .collect();
    tracker.close();
    for task in tasks {
        if let Err(reason) = task.await.context("a warm-up task failed")? {
            *failures.entry(format!("warm-up {reason}")).or_default() += 1;
        }
    }
    tracker.wait().await;
    Ok(())
}

/// Sends one stream and reads it to the end.
pub async fn stream(request: RequestBuilder) -> Result<Stream, String> {
    let sent = Instant::now();
    let mut response = request.send().await.map_err(|e| load::failure(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    let mut splitter = SseSplitter::new();
    let mut ttft = None;
    let mut events = 0;
    let mut last = Vec::new();
    let mut on_event = |event: RawEvent<'_>| {
        events += 1;
        if ttft.is_none() && event.bytes.starts_with(b"data:") {
            ttft = Some(sent.elapsed());
        }
        last.clear();
        last.extend_from_slice(event.bytes);
    };
    while let Some(chunk) = response.chunk().await.map_err(|e| load::failure(&e))? {
        splitter.feed(&chunk, &mut on_event);
    }
    splitter.finish(&mut on_event);
    let total = sent.elapsed();
    let ttft = ttft.ok_or_else(|| "no data: event".to_owned())?;
    if events == 0 || parse_event(&last).data != "[DONE]" {
        return Err("ended without data: [DONE]".to_owned());
    }
    Ok(Stream {
        sent,
        ttft,
        total,
        events,
    })
}
