//! The report `canopy-bench query` prints: the machine, the data, and one table row per query.
//!
//! What must not go here: running queries. Rows arrive measured.

use std::io::Write;
use std::path::Path;

use crate::query::{METRICS_RUNS, Options, RUNS};
use crate::timing::{Stats, WARMUP, ms};

/// One line of the report.
pub struct Row {
    what: String,
    target_ms: Option<f64>,
    stats: Stats,
    result: String,
}

/// A row for query `what`, with its target if it has one and what it returned.
pub fn row(what: &str, target_ms: Option<f64>, stats: Stats, result: String) -> Row {
    Row {
        what: what.to_owned(),
        target_ms,
        stats,
        result,
    }
}

/// Prints the machine, the data and the table as markdown on stdout.
pub fn print(
    path: Option<&Path>,
    options: &Options,
    generated: Option<f64>,
    rows: &[Row],
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    writeln!(out, "- cores: {cores}")?;
    if let Some(path) = path {
        let size: u64 = ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
            .map(|m| m.len())
            .sum();
        writeln!(
            out,
            "- database: {:.0} MiB on disk (with its WAL)",
            size as f64 / (1024.0 * 1024.0)
        )?;
    }
    writeln!(
        out,
        "- data: {} calls in {} sessions over 30 days",
        options.calls, options.sessions
    )?;
    if let Some(rate) = generated {
        writeln!(out, "- generated at {rate:.0} calls/s")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "| query | result | min ms | p50 ms | p99 ms | CPU ms/run | target ms | |"
    )?;
    writeln!(out, "|---|--:|--:|--:|--:|--:|--:|---|")?;
    for r in rows {
        let (target, verdict) = match r.target_ms {
            Some(t) if r.stats.p99.as_secs_f64() * 1000.0 <= t => (format!("{t:.0}"), "met"),
            Some(t) if r.stats.p50.as_secs_f64() * 1000.0 <= t => (format!("{t:.0}"), "p50 only"),
            Some(t) => (format!("{t:.0}"), "**missed**"),
            None => ("—".to_owned(), ""),
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {target} | {verdict} |",
            r.what,
            r.result,
            ms(r.stats.min),
            ms(r.stats.p50),
            ms(r.stats.p99),
            r.stats.cpu.map_or_else(|| "—".to_owned(), ms),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Each query: {WARMUP} warm-up runs, then {RUNS} timed runs ({METRICS_RUNS} for the \
         metrics); with so few runs p99 is the slowest. \"met\" means p99 within the target. \
         CPU is the whole process's (all threads) per timed run."
    )?;
    Ok(())
}
