//! `canopy-bench`: measurements that are reported, never asserted.
//!
//! - `canopy-bench ingest [RECORDS] [--store URL] [--in-flight N]` measures how many call
//!   records per second reach SQLite, or the store `--store` names, with N batches written at
//!   once by the writer, the store's own choice by default ([`ingest`]).
//! - `canopy-bench query [--calls N] [--sessions M] [--db PATH | --store URL]` generates a store
//!   of N calls in M sessions (1,000,000 in 100,000 by default) and times the queries the API
//!   runs over it ([`query`], with the data from [`data`], printed by [`report`]). `--store`
//!   takes any engine's URL ([`engine`]); an empty database is filled, a full one reused.
//! - `canopy-bench streams --gateway URL --mock URL [--streams N] ...` holds N slow streams
//!   (1,000 by default) open at once, straight to a running `canopy mock-provider` and then
//!   through a running gateway, and compares their time to first token; with `--gateway-pid` it
//!   also reads the gateway's memory and CPU ([`streams`], printed by [`streams_report`], with
//!   [`procstat`]).
//! - `canopy-bench ttft --gateway URL --mock URL [--relay URL] [--rounds N] ...` sends one
//!   stream at a time, in turn straight to the mock, through the gateway and (with `--relay`)
//!   through a byte relay, and compares their time to first token: the time a gateway adds at
//!   concurrency 1 ([`ttft`]).
//! - `canopy-bench relay --to URL` relays bytes to a loopback server, parsing nothing: the
//!   floor under any proxy in the same place ([`relay`]).
//! - `canopy-bench lag --gateway URL [--probes N] [--concurrency C] [--seconds S]` measures how
//!   long a call takes to become visible in the query API while the gateway is under load
//!   ([`lag`]).
//!
//! The load drivers share their HTTP client and helpers ([`load`]) and only talk to
//! loopback URLs. Each subcommand prints a markdown report on stdout, ready for
//! `BENCHMARKS.md`. Nothing here is used by the gateway; what is measured lives in the other
//! crates.

mod data;
mod engine;
mod ingest;
mod lag;
mod load;
mod procstat;
mod query;
mod relay;
mod report;
mod streams;
mod streams_report;
mod timing;
mod ttft;

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;

const USAGE: &str = "usage: canopy-bench ingest [RECORDS] [--store URL] [--in-flight N]
       canopy-bench query [--calls N] [--sessions M] [--db PATH | --store URL]
       canopy-bench streams --gateway URL --mock URL [--streams N=1000] [--chunk-delay-ms D=50]
                            [--reply-words W] [--gateway-pid PID] [--api-key KEY]
       canopy-bench ttft --gateway URL --mock URL [--relay URL] [--rounds N=1000]
                         [--chunk-delay-ms D=2] [--api-key KEY]
       canopy-bench relay --to URL
       canopy-bench lag --gateway URL [--probes N=200] [--concurrency C=16] [--seconds S=10]
                        [--api-key KEY]
streams, ttft and lag drive a running gateway (and mock) on loopback only, and relay relays
only to loopback. streams raises its own open-file limit; the gateway holds two connections per
stream, so start it (and the mock) from a shell with `ulimit -n 8192` if the limit there is
lower.";

/// The gateway's allocator, so that ingest measures the store as `canopy serve` runs it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command.as_str() {
        "ingest" => {
            let mut records = 200_000;
            let mut store = None;
            let mut in_flight = None;
            while let Some(arg) = args.next() {
                if arg == "--store" {
                    store = Some(
                        args.next()
                            .with_context(|| format!("--store needs a URL\n{USAGE}"))?,
                    );
                } else if arg == "--in-flight" {
                    in_flight = Some(
                        args.next()
                            .and_then(|n| n.parse().ok())
                            .with_context(|| format!("--in-flight needs a number\n{USAGE}"))?,
                    );
                } else {
                    records = arg.parse().context("RECORDS must be a number")?;
                }
            }
            runtime.block_on(ingest::run(records, store.as_deref(), in_flight))
        }
        "query" => {
            let options = query_options(args)?;
            runtime.block_on(query::run(options))
        }
        "streams" => {
            let options = streams_options(args)?;
            runtime.block_on(streams::run(options))
        }
        "ttft" => {
            let options = ttft_options(args)?;
            runtime.block_on(ttft::run(options))
        }
        "relay" => {
            let mut to = None;
            flags(args, |flag, value| {
                anyhow::ensure!(flag == "--to", "unknown flag `{flag}`\n{USAGE}");
                to = Some(load::loopback_base(flag, &value)?);
                Ok(())
            })?;
            let to = to.with_context(|| format!("relay needs --to URL\n{USAGE}"))?;
            runtime.block_on(relay::run(&to))
        }
        "lag" => {
            let options = lag_options(args)?;
            runtime.block_on(lag::run(options))
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}

/// Calls `apply(flag, value)` for each `--flag value` pair, in the order given.
fn flags(
    mut args: impl Iterator<Item = String>,
    mut apply: impl FnMut(&str, String) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        apply(&flag, value)?;
    }
    Ok(())
}

/// `value` as a number from 1 to `max`: every load run is bounded.
fn bounded<T>(flag: &str, value: &str, max: T) -> anyhow::Result<T>
where
    T: FromStr + PartialOrd + Default + std::fmt::Display,
{
    let n: T = value
        .parse()
        .ok()
        .with_context(|| format!("{flag} must be a number"))?;
    anyhow::ensure!(
        n > T::default() && n <= max,
        "{flag} must be from 1 to {max}"
    );
    Ok(n)
}

/// Parses `query`'s flags: `--calls N`, `--sessions M` and `--db PATH`, in any order.
fn query_options(args: impl Iterator<Item = String>) -> anyhow::Result<query::Options> {
    let mut options = query::Options::default();
    flags(args, |flag, value| {
        match flag {
            "--calls" => options.calls = value.parse().context("--calls must be a number")?,
            "--sessions" => {
                options.sessions = value.parse().context("--sessions must be a number")?;
            }
            "--db" => options.db = Some(PathBuf::from(value)),
            "--store" => options.store = Some(value),
            _ => anyhow::bail!("unknown flag `{flag}`\n{USAGE}"),
        }
        Ok(())
    })?;
    Ok(options)
}

/// Checks that a driver of the gateway and the mock was given both.
fn needs_gateway_and_mock(command: &str, gateway: &str, mock: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !gateway.is_empty() && !mock.is_empty(),
        "{command} needs --gateway URL and --mock URL\n{USAGE}"
    );
    Ok(())
}

/// Parses `streams`' flags.
fn streams_options(args: impl Iterator<Item = String>) -> anyhow::Result<streams::Options> {
    let mut options = streams::Options {
        gateway: String::new(),
        mock: String::new(),
        streams: 1000,
        chunk_delay_ms: 50,
        reply_words: None,
        gateway_pid: None,
        api_key: None,
    };
    flags(args, |flag, value| {
        match flag {
            "--gateway" => options.gateway = load::loopback_base(flag, &value)?,
            "--mock" => options.mock = load::loopback_base(flag, &value)?,
            "--streams" => options.streams = bounded(flag, &value, 10_000)?,
            "--chunk-delay-ms" => options.chunk_delay_ms = bounded(flag, &value, 1_000)?,
            "--reply-words" => options.reply_words = Some(bounded(flag, &value, 100_000)?),
            "--gateway-pid" => options.gateway_pid = Some(bounded(flag, &value, u32::MAX)?),
            "--api-key" => options.api_key = Some(value),
            _ => anyhow::bail!("unknown flag `{flag}`\n{USAGE}"),
        }
        Ok(())
    })?;
    needs_gateway_and_mock("streams", &options.gateway, &options.mock)?;
    Ok(options)
}

/// Parses `ttft`'s flags.
fn ttft_options(args: impl Iterator<Item = String>) -> anyhow::Result<ttft::Options> {
    let mut options = ttft::Options {
        gateway: String::new(),
        mock: String::new(),
        relay: None,
        rounds: 1000,
        chunk_delay_ms: 2,
        api_key: None,
    };
    flags(args, |flag, value| {
        match flag {
            "--gateway" => options.gateway = load::loopback_base(flag, &value)?,
            "--mock" => options.mock = load::loopback_base(flag, &value)?,
            "--relay" => options.relay = Some(load::loopback_base(flag, &value)?),
            "--rounds" => options.rounds = bounded(flag, &value, 100_000)?,
            // Zero is allowed: events back to back.
            "--chunk-delay-ms" => {
                options.chunk_delay_ms = value
                    .parse()
                    .ok()
                    .filter(|d| *d <= 1_000)
                    .with_context(|| format!("{flag} must be a number from 0 to 1000"))?;
            }
            "--api-key" => options.api_key = Some(value),
            _ => anyhow::bail!("unknown flag `{flag}`\n{USAGE}"),
        }
        Ok(())
    })?;
    needs_gateway_and_mock("ttft", &options.gateway, &options.mock)?;
    Ok(options)
}

/// Parses `lag`'s flags.
fn lag_options(args: impl Iterator<Item = String>) -> anyhow::Result<lag::Options> {
    let mut options = lag::Options {
        gateway: String::new(),
        probes: 200,
        concurrency: 16,
        seconds: 10,
        api_key: None,
    };
    flags(args, |flag, value| {
        match flag {
            "--gateway" => options.gateway = load::loopback_base(flag, &value)?,
            "--probes" => options.probes = bounded(flag, &value, 10_000)?,
            "--concurrency" => options.concurrency = bounded(flag, &value, 1_024)?,
            "--seconds" => options.seconds = bounded(flag, &value, 300)?,
            "--api-key" => options.api_key = Some(value),
            _ => anyhow::bail!("unknown flag `{flag}`\n{USAGE}"),
        }
        Ok(())
    })?;
    anyhow::ensure!(
        !options.gateway.is_empty(),
        "lag needs --gateway URL\n{USAGE}"
    );
    Ok(options)
}
