//! The report `canopy-bench streams` prints: the setup, one table row per leg, the difference
//! the gateway adds, then the gateway's memory and CPU and any failures.
//!
//! What must not go here: sending streams. Phases arrive measured.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::load::tally_line;
use crate::procstat::mib;
use crate::streams::WARM_BATCH;
use crate::streams::{Legs, Options, Phase, Stream, Usage};
use crate::timing::{ms, percentile};

/// What the run was asked for and where.
#[derive(Debug)]
pub struct Header<'a> {
    /// The options as given.
    pub options: &'a Options,
    /// This process's open-file limit during the run.
    pub open_files: u64,
    /// The gateway's process id, when given.
    pub gateway_pid: Option<u32>,
}

/// One leg's figures, times sorted.
struct Summary {
    completed: usize,
    failed: usize,
    ttft: Vec<Duration>,
    total: Vec<Duration>,
    in_flight: usize,
    spread: Duration,
    wall: Duration,
    overflows: Option<u64>,
}

fn summarize(phase: &Phase) -> Summary {
    let mut ttft: Vec<_> = phase.streams.iter().map(|s| s.ttft).collect();
    let mut total: Vec<_> = phase.streams.iter().map(|s| s.total).collect();
    ttft.sort();
    total.sort();
    let first = phase.streams.iter().map(|s| s.sent).min();
    let last = phase.streams.iter().map(|s| s.sent).max();
    Summary {
        completed: phase.streams.len(),
        failed: phase.failures.values().sum(),
        ttft,
        total,
        in_flight: most_in_flight(&phase.streams),
        spread: last.zip(first).map_or(Duration::ZERO, |(l, f)| l - f),
        wall: phase.wall,
        overflows: phase.listen_overflows,
    }
}

/// The most streams open at the same instant.
fn most_in_flight(streams: &[Stream]) -> usize {
    let mut edges: Vec<(Instant, i64)> = streams
        .iter()
        .flat_map(|s| [(s.sent, 1), (s.sent + s.total, -1)])
        .collect();
    // At equal instants an end sorts before a start: a stream that ended is not in flight.
    edges.sort();
    let (mut open, mut most) = (0_i64, 0_i64);
    for (_, step) in edges {
        open += step;
        most = most.max(open);
    }
    usize::try_from(most).unwrap_or_default()
}

/// The difference `b − a` in milliseconds, signed.
fn added(a: Duration, b: Duration) -> String {
    format!("{:+.2}", (b.as_secs_f64() - a.as_secs_f64()) * 1000.0)
}

/// Prints the report as markdown on stdout.
pub fn print(header: &Header, legs: &Legs, usage: &Usage) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let options = header.options;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let events = legs
        .all()
        .into_iter()
        .flat_map(|p| &p.streams)
        .map(|s| s.events);
    let (fewest, most) = (events.clone().min(), events.max());
    writeln!(
        out,
        "- cores: {cores}; canopy-bench's open-file limit: {}",
        header.open_files
    )?;
    writeln!(
        out,
        "- {} streams per leg, all sent at once; the mock waits {} ms between events; events per \
         stream: {}",
        options.streams,
        options.chunk_delay_ms,
        match (fewest, most) {
            (Some(f), Some(m)) if f == m => f.to_string(),
            (Some(f), Some(m)) => format!("{f}–{m}"),
            _ => "—".to_owned(),
        }
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "| leg | completed | failed | most in flight | all sent within ms | listen overflows | \
         TTFT p50 ms | TTFT p90 | TTFT p99 | TTFT max | total p50 ms | total p99 | wall s |"
    )?;
    writeln!(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    let pairs = [
        ("cold", &legs.direct_cold, &legs.through_cold),
        ("warm", &legs.direct_warm, &legs.through_warm),
    ];
    let mut through_cold = None;
    for (warmth, direct, through) in pairs {
        let (d, g) = (summarize(direct), summarize(through));
        for (name, s) in [("direct to the mock", &d), ("through Canopy", &g)] {
            writeln!(
                out,
                "| {name}, {warmth} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
                s.completed,
                s.failed,
                s.in_flight,
                ms(s.spread),
                s.overflows
                    .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                ms(percentile(&s.ttft, 50.0)),
                ms(percentile(&s.ttft, 90.0)),
                ms(percentile(&s.ttft, 99.0)),
                ms(percentile(&s.ttft, 100.0)),
                ms(percentile(&s.total, 50.0)),
                ms(percentile(&s.total, 99.0)),
                s.wall.as_secs_f64(),
            )?;
        }
        let at = |a: &[Duration], b: &[Duration], p: f64| added(percentile(a, p), percentile(b, p));
        writeln!(
            out,
            "| **added by Canopy, {warmth}** | | | | | | {} | {} | {} | {} | {} | {} | |",
            at(&d.ttft, &g.ttft, 50.0),
            at(&d.ttft, &g.ttft, 90.0),
            at(&d.ttft, &g.ttft, 99.0),
            at(&d.ttft, &g.ttft, 100.0),
            at(&d.total, &g.total, 50.0),
            at(&d.total, &g.total, 99.0),
        )?;
        through_cold.get_or_insert(g.completed);
    }
    writeln!(out)?;
    if let Some(pid) = header.gateway_pid {
        let kib = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), mib);
        let peak = usage.peak.unwrap_or_default();
        let cpu = usage.cpu.map_or_else(
            || "?".to_owned(),
            |cpu| {
                let streams = through_cold.unwrap_or_default().max(1);
                let per = cpu / u32::try_from(streams).unwrap_or(u32::MAX);
                format!("{} ms over the phase, {} ms per stream", ms(cpu), ms(per))
            },
        );
        writeln!(
            out,
            "- gateway (pid {pid}, open-file limit {}), over the cold phase through it: resident \
             memory {} MiB before the phase, peak {} MiB ({} readings, every 20 ms), {} MiB right after; CPU {cpu}",
            usage.open_files.as_deref().unwrap_or("?"),
            kib(usage.idle_kib),
            mib(peak.kib),
            peak.samples,
            kib(usage.after_kib),
        )?;
    }
    let names = [
        "direct, cold",
        "through Canopy, cold",
        "direct, warm",
        "through Canopy, warm",
    ];
    for (name, phase) in names.iter().zip(legs.all()) {
        writeln!(out, "- failures {name}: {}", tally_line(&phase.failures))?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "TTFT: from just before a stream is sent to its first complete `data:` event; on a \
         cold leg that includes opening its connection, on a warm leg the connections (and the \
         gateway's to the mock) were opened beforehand, {WARM_BATCH} at a time. Total: to the \
         end of the body, which must end with `data: [DONE]`. \"added by Canopy\" is the \
         gateway leg minus the direct leg at the same percentile. Listen overflows: connections \
         the host's kernel refused during the leg because an accept queue was full; each one \
         costs its client a retransmitted handshake (hundreds of ms), which shows in the cold \
         TTFT tail."
    )?;
    Ok(())
}
