//! `canopy-bench ttft`: the time to first token a gateway adds to a stream, one stream at a
//! time (concurrency 1), as DESIGN §10's streaming target states it.
//!
//! The run is N rounds. Each round sends one streamed chat completion straight to the mock and
//! one through the gateway, one after the other; with `--relay URL`, also one through a byte
//! relay in front of the mock (`canopy-bench relay`, started on the gateway's core), which
//! shows what the layout alone costs. The legs' order rotates by round, so a slow spell of the
//! host hits every leg of a round alike. Each leg keeps one connection open for the whole run,
//! as a client that streams one answer at a time does. A stream's time to first token runs
//! from just before it is sent to the arrival of its first complete `data:` event, as in
//! `streams`, and each stream is read to its `[DONE]`, so the gateway records every call (in
//! sessions, like the other cells) while the next rounds run. The mock spaces its events by
//! `--chunk-delay-ms`; at 0 it sends them back to back, and the gateway's record of one stream
//! competes with the next stream's first token.
//!
//! What must not go here: starting the gateway or the mock (the caller runs both), or a verdict.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use canopy_core::headers::{HEADER_SESSION_ID, HEADER_SESSION_PATH};
use reqwest::RequestBuilder;
use reqwest::header::CONTENT_TYPE;

use crate::load::{self, HEADER_CANOPY_AUTH, Tally, tally_line};
use crate::streams::{self, HEADER_CHUNK_DELAY, Stream};
use crate::timing::percentile;

/// What `canopy-bench ttft` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The gateway's base URL.
    pub gateway: String,
    /// The mock provider's base URL.
    pub mock: String,
    /// A byte relay's base URL, in front of the same mock.
    pub relay: Option<String>,
    /// Rounds measured, each one stream per leg.
    pub rounds: usize,
    /// Milliseconds the mock waits between events.
    pub chunk_delay_ms: u64,
    /// A Canopy key, for a gateway that requires one.
    pub api_key: Option<String>,
}

/// Rounds run before the measured ones, to open connections and warm every process.
const WARMUP_ROUNDS: usize = 50;
/// Calls through the gateway that share one session.
const CALLS_PER_SESSION: usize = 100;
/// The longest one stream may take.
const STREAM_LIMIT: Duration = Duration::from_secs(30);

/// Where a leg's calls go, with its own client and so its own single connection.
struct Leg {
    name: &'static str,
    base: String,
    client: reqwest::Client,
    gateway: bool,
    streams: Vec<Stream>,
}

/// Runs the rounds and prints the report.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let mut legs = vec![
        leg("direct", &options.mock, false)?,
        leg("gateway", &options.gateway, true)?,
    ];
    if let Some(relay) = &options.relay {
        legs.insert(1, leg("relay", relay, false)?);
    }
    let body = load::stream_body();
    let run = load::run_id();
    let mut failures = Tally::new();
    load::progress(&format!(
        "{WARMUP_ROUNDS} warm-up rounds, then {} measured",
        options.rounds
    ))?;
    for round in 0..WARMUP_ROUNDS + options.rounds {
        let n = legs.len();
        for i in 0..n {
            let leg = &mut legs[(round + i) % n];
            let mut request = leg
                .client
                .post(format!("{}/v1/chat/completions", leg.base))
                .header(CONTENT_TYPE, "application/json")
                .header(HEADER_CHUNK_DELAY, options.chunk_delay_ms)
                .body(Bytes::clone(&body));
            if leg.gateway {
                request = through_gateway(request, &options, &run, round);
            }
            let result = timed(request).await;
            if round < WARMUP_ROUNDS {
                result.map_err(|reason| {
                    anyhow::anyhow!("a warm-up stream ({}) failed: {reason}", leg.name)
                })?;
                continue;
            }
            match result {
                Ok(stream) => leg.streams.push(stream),
                Err(reason) => {
                    *failures
                        .entry(format!("{} {reason}", leg.name))
                        .or_default() += 1
                }
            }
        }
    }
    print(&options, &legs, &failures)
}

fn leg(name: &'static str, base: &str, gateway: bool) -> anyhow::Result<Leg> {
    Ok(Leg {
        name,
        base: base.to_owned(),
        client: load::client()?,
        gateway,
        streams: Vec::new(),
    })
}

/// Adds the session headers, and the Canopy key when one was given, to a call through the
/// gateway.
fn through_gateway(
    request: RequestBuilder,
    options: &Options,
    run: &str,
    round: usize,
) -> RequestBuilder {
    let session = round / CALLS_PER_SESSION;
    let request = request
        .header(HEADER_SESSION_ID, format!("bench-ttft-{run}-{session}"))
        .header(HEADER_SESSION_PATH, "/bench/ttft");
    match &options.api_key {
        Some(key) => request.header(HEADER_CANOPY_AUTH, format!("Bearer {key}")),
        None => request,
    }
}

/// Sends one stream and reads it to its end, within [`STREAM_LIMIT`].
async fn timed(request: RequestBuilder) -> Result<Stream, String> {
    tokio::time::timeout(STREAM_LIMIT, streams::stream(request))
        .await
        .unwrap_or_else(|_| Err(format!("no end within {} s", STREAM_LIMIT.as_secs())))
}

/// One leg's times in the report's columns: time to first token at p50, p90, p99 and the
/// slowest, then the whole stream at p50 and p99.
struct Row([Duration; 6]);

impl Row {
    fn of(streams: &[Stream]) -> Self {
        let sorted = |pick: fn(&Stream) -> Duration| {
            let mut times: Vec<_> = streams.iter().map(pick).collect();
            times.sort();
            times
        };
        let (ttft, total) = (sorted(|s| s.ttft), sorted(|s| s.total));
        Self([
            percentile(&ttft, 50.0),
            percentile(&ttft, 90.0),
            percentile(&ttft, 99.0),
            percentile(&ttft, 100.0),
            percentile(&total, 50.0),
            percentile(&total, 99.0),
        ])
    }

    /// The cells, in microseconds.
    fn cells(&self) -> String {
        let cells: Vec<_> = self.0.iter().map(|d| us(*d)).collect();
        cells.join(" | ")
    }

    /// The cells of this row minus `base`'s, in signed microseconds.
    fn minus(&self, base: &Self) -> String {
        let cells: Vec<_> = self
            .0
            .iter()
            .zip(&base.0)
            .map(|(d, b)| format!("{:+.0}", (d.as_secs_f64() - b.as_secs_f64()) * 1e6))
            .collect();
        cells.join(" | ")
    }
}

/// Microseconds.
fn us(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

/// Prints the report as markdown on stdout.
fn print(options: &Options, legs: &[Leg], failures: &Tally) -> anyhow::Result<()> {
    let rows: Vec<_> = legs.iter().map(|l| Row::of(&l.streams)).collect();
    let events = legs
        .iter()
        .find_map(|l| l.streams.first())
        .map_or(0, |s| s.events);
    let names: Vec<_> = legs.iter().map(|l| l.name).collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} rounds after {WARMUP_ROUNDS} warm-up ones, each one stream per leg ({}; the order \
         rotates by round), one connection per leg; the mock sends {events} events {} ms \
         apart.\n",
        options.rounds,
        names.join(", "),
        options.chunk_delay_ms
    )?;
    writeln!(
        out,
        "| leg | streams | TTFT p50 µs | p90 | p99 | max | whole stream p50 µs | p99 |"
    )?;
    writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|")?;
    for (leg, row) in legs.iter().zip(&rows) {
        let (name, streams) = (leg.name, leg.streams.len());
        writeln!(out, "| {name} | {streams} | {} |", row.cells())?;
    }
    for (leg, row) in legs.iter().zip(&rows).skip(1) {
        writeln!(out, "| {} − direct | | {} |", leg.name, row.minus(&rows[0]))?;
    }
    if let [_, relay, gateway] = rows.as_slice() {
        writeln!(out, "| gateway − relay | | {} |", gateway.minus(relay))?;
    }
    writeln!(out, "\nFailed streams: {}.", tally_line(failures))?;
    Ok(())
}
