//! `canopy-bench lag`: how long after a call's response the query API shows the call, while
//! the gateway is under load.
//!
//! C background callers send plain chat completions through the gateway back to back. Meanwhile
//! one probe sends N calls one after another, each in its own session and with its own
//! `Helicone-Property-Probe` value. When a probe's response body has been read in full, it polls
//! `GET /api/v1/request/{id}` (the id comes from the `helicone-id` response header) one request
//! at a time, 1 ms apart, until the answer is 200 rather than 404. The lag runs from the end of
//! the body to the head of that 200, so it includes one API round trip and up to one polling
//! interval. A probe not visible within 5 s counts as never visible. Everything stops when the
//! probes are done or S seconds have passed, whichever comes first.
//!
//! What must not go here: starting the gateway (the caller runs it), or a verdict.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use canopy_core::headers::HEADER_SESSION_ID;
use reqwest::header::CONTENT_TYPE;
use reqwest::{RequestBuilder, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::load::{self, HEADER_CALL_ID, HEADER_CANOPY_AUTH, Tally, tally_line};
use crate::timing::{ms, percentile};

/// What `canopy-bench lag` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gateway's base URL.
    pub gateway: String,
    /// Probe calls, sent one after another.
    pub probes: usize,
    /// Background callers.
    pub concurrency: usize,
    /// The most seconds the run lasts.
    pub seconds: u64,
    /// A Canopy key, for a gateway that requires one.
    pub api_key: Option<String>,
}

/// A probe not visible after this is counted as never visible.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);
/// The pause between two polls of one probe.
const POLL_EVERY: Duration = Duration::from_millis(1);
/// The property that tells probes apart.
const HEADER_PROBE: &str = "Helicone-Property-Probe";

/// What the background callers did.
#[derive(Debug, Default)]
struct Load {
    ok: AtomicU64,
    failures: Mutex<Tally>,
}

/// What one probe saw.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// Sent → body read.
    call: Duration,
    /// Body read → visible; `None` when not within [`VISIBLE_WITHIN`].
    lag: Option<Duration>,
    polls: u32,
}

/// Runs the load and the probes and prints the report.
pub async fn run(options: Options) -> anyhow::Result<()> {
    load::raise_open_files(options.concurrency as u64 + 256);
    let client = load::client()?;
    let body = load::plain_body();
    let run = load::run_id();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let shared = Arc::new(Load::default());
    for caller in 0..options.concurrency {
        let session = format!("lag-load-{run}-{caller}");
        let chat = chat(&client, &options, &body).header(HEADER_SESSION_ID, session);
        let (stop, shared) = (stop.clone(), shared.clone());
        tracker.spawn(async move {
            while !stop.is_cancelled() && Instant::now() < deadline {
                let Some(request) = chat.try_clone() else {
                    break;
                };
                match call(request).await {
                    Ok(_) => {
                        shared.ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(reason) => {
                        if let Ok(mut failures) = shared.failures.lock() {
                            *failures.entry(reason).or_default() += 1;
                        }
                    }
                }
            }
        });
    }
    tracker.close();

    load::progress(&format!(
        "{} background callers, {} probes, for at most {} s",
        options.concurrency, options.probes, options.seconds
    ))?;
    let mut seen = Vec::with_capacity(options.probes);
    let mut probe_failures = Tally::new();
    for i in 0..options.probes {
        if Instant::now() >= deadline {
            break;
        }
        let request = chat(&client, &options, &body)
            .header(HEADER_SESSION_ID, format!("lag-probe-{run}-{i}"))
            .header(HEADER_PROBE, format!("{run}-{i}"));
        match probe(&client, &options, request).await {
            Ok(s) => seen.push(s),
            Err(reason) => *probe_failures.entry(reason).or_default() += 1,
        }
    }
    stop.cancel();
    tracker.wait().await;
    let elapsed = started.elapsed();
    let failures = shared
        .failures
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    let ok = shared.ok.load(Ordering::Relaxed);
    print(&options, &seen, &probe_failures, ok, &failures, elapsed)
}

/// A plain chat completion through the gateway, ready to send.
fn chat(client: &reqwest::Client, options: &Options, body: &Bytes) -> RequestBuilder {
    let request = client
        .post(format!("{}/v1/chat/completions", options.gateway))
        .header(CONTENT_TYPE, "application/json")
        .body(body.clone());
    authorize(request, options)
}

fn authorize(request: RequestBuilder, options: &Options) -> RequestBuilder {
    match &options.api_key {
        Some(key) => request.header(HEADER_CANOPY_AUTH, format!("Bearer {key}")),
        None => request,
    }
}

/// Sends a call and reads its body; returns the recorded call's id.
async fn call(request: RequestBuilder) -> Result<String, String> {
    let response = request.send().await.map_err(|e| load::failure(&e))?;
    let status = response.status();
    let id = response
        .headers()
        .get(HEADER_CALL_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    response.bytes().await.map_err(|e| load::failure(&e))?;
    if !status.is_success() {
        return Err(format!("status {}", status.as_u16()));
    }
    id.ok_or_else(|| format!("no {HEADER_CALL_ID} header"))
}

/// Sends one probe call, then polls the API until the call is there.
async fn probe(
    client: &reqwest::Client,
    options: &Options,
    request: RequestBuilder,
) -> Result<Seen, String> {
    let sent = Instant::now();
    let id = call(request).await?;
    let answered = Instant::now();
    let url = format!("{}/api/v1/request/{id}", options.gateway);
    let mut polls = 0;
    loop {
        polls += 1;
        let response = authorize(client.get(&url), options)
            .send()
            .await
            .map_err(|e| format!("API {}", load::failure(&e)))?;
        let status = response.status();
        let at = answered.elapsed();
        response.bytes().await.map_err(|e| load::failure(&e))?;
        let lag = match status {
            StatusCode::OK => Some(at),
            StatusCode::NOT_FOUND if at < VISIBLE_WITHIN => {
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
            StatusCode::NOT_FOUND => None,
            other => return Err(format!("API status {}", other.as_u16())),
        };
        return Ok(Seen {
            call: answered - sent,
            lag,
            polls,
        });
    }
}

fn print(
    options: &Options,
    seen: &[Seen],
    probe_failures: &Tally,
    load_ok: u64,
    load_failures: &Tally,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load_failed: usize = load_failures.values().sum();
    let rate = load_ok as f64 / elapsed.as_secs_f64();
    let mut lags: Vec<_> = seen.iter().filter_map(|s| s.lag).collect();
    let mut calls: Vec<_> = seen.iter().map(|s| s.call).collect();
    lags.sort();
    calls.sort();
    let polls: u32 = seen.iter().map(|s| s.polls).sum();
    let never = seen.len() - lags.len();
    writeln!(out, "- cores: {cores}")?;
    writeln!(
        out,
        "- load: {} callers, back to back, for {:.1} s: {load_ok} calls ({load_failed} failed) \
         = {rate:.0} req/s",
        options.concurrency,
        elapsed.as_secs_f64()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "| probes | visible | never visible in 5 s | failed | lag p50 ms | lag p90 | lag p99 | \
         lag max | probe call p50 ms | polls per probe |"
    )?;
    writeln!(out, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    writeln!(
        out,
        "| {} | {} | {never} | {} | {} | {} | {} | {} | {} | {:.1} |",
        seen.len() + probe_failures.values().sum::<usize>(),
        lags.len(),
        probe_failures.values().sum::<usize>(),
        ms(percentile(&lags, 50.0)),
        ms(percentile(&lags, 90.0)),
        ms(percentile(&lags, 99.0)),
        ms(percentile(&lags, 100.0)),
        ms(percentile(&calls, 50.0)),
        f64::from(polls) / seen.len().max(1) as f64,
    )?;
    writeln!(out)?;
    writeln!(out, "- probe failures: {}", tally_line(probe_failures))?;
    writeln!(out, "- load failures: {}", tally_line(load_failures))?;
    writeln!(out)?;
    writeln!(
        out,
        "Lag: from the end of a probe's response body to the head of the first 200 from \
         `GET /api/v1/request/{{id}}`, polled one request at a time, {} ms apart; it includes \
         that API round trip.",
        POLL_EVERY.as_millis()
    )?;
    Ok(())
}
