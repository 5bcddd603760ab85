//! `canopy-bench`: measurements that are reported, never asserted.
//!
//! - `canopy-bench ingest [RECORDS]` measures how many call records per second reach SQLite
//!   ([`ingest`]).
//! - `canopy-bench query [--calls N] [--sessions M] [--db PATH]` generates a store of N calls in
//!   M sessions (1,000,000 in 100,000 by default) and times the queries the API runs over it
//!   ([`query`], with the data from [`data`], printed by [`report`]).
//!
//! Each subcommand prints a markdown report on stdout, ready for `BENCHMARKS.md`. Nothing here
//! is used by the gateway; what is measured lives in the other crates.

mod data;
mod ingest;
mod query;
mod report;
mod timing;

use std::path::PathBuf;

use anyhow::Context;

const USAGE: &str = "usage: canopy-bench ingest [RECORDS]\n       \
    canopy-bench query [--calls N] [--sessions M] [--db PATH]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command.as_str() {
        "ingest" => {
            let records: usize = args
                .next()
                .map_or(Ok(200_000), |n| n.parse())
                .context("RECORDS must be a number")?;
            runtime.block_on(ingest::run(records))
        }
        "query" => {
            let options = query_options(args)?;
            runtime.block_on(query::run(options))
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}

/// Parses `query`'s flags: `--calls N`, `--sessions M` and `--db PATH`, in any order.
fn query_options(mut args: impl Iterator<Item = String>) -> anyhow::Result<query::Options> {
    let mut options = query::Options::default();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--calls" => options.calls = value.parse().context("--calls must be a number")?,
            "--sessions" => {
                options.sessions = value.parse().context("--sessions must be a number")?;
            }
            "--db" => options.db = Some(PathBuf::from(value)),
            _ => anyhow::bail!("unknown flag `{flag}`\n{USAGE}"),
        }
    }
    Ok(options)
}
