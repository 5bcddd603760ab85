//! Repeats an async operation and summarises how long it took: min, median and p99 of the
//! wall-clock time, and the mean CPU time the whole process spent per run.
//!
//! The CPU time shows the work behind a latency: time spent waiting for a CPU that other
//! programs hold does not count (a busy host still slows every CPU, so it is not immune to
//! them), and a query that keeps two threads busy shows more CPU than wall-clock time. It is
//! read from Linux's per-thread scheduler statistics (`/proc/self/task/*/schedstat`), so it
//! counts the store's worker threads too; elsewhere it is absent.
//!
//! What must not go here: what is timed. Callers pass the operation as a closure.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs before the timed ones, to fill caches and prepare statements.
pub const WARMUP: usize = 3;

/// The spread of one operation's run times.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Fastest run.
    pub min: Duration,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 99th percentile (nearest rank; with fewer than 100 runs, the slowest).
    pub p99: Duration,
    /// CPU time of the whole process per timed run, on Linux.
    pub cpu: Option<Duration>,
}

/// Runs `op` [`WARMUP`] times untimed, then `runs` times timed, and returns the spread with
/// the last run's output.
pub async fn measure<T, E, F, Fut>(runs: usize, mut op: F) -> anyhow::Result<(Stats, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    anyhow::Error: From<E>,
{
    for _ in 0..WARMUP {
        op().await?;
    }
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    let cpu_before = process_cpu();
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let out = op().await?;
        times.push(started.elapsed());
        last = Some(out);
    }
    let cpu = process_cpu().zip(cpu_before).map(|(after, before)| {
        after.saturating_sub(before) / u32::try_from(times.len()).unwrap_or(1)
    });
    times.sort();
    let stats = Stats {
        min: times[0],
        p50: percentile(&times, 50.0),
        p99: percentile(&times, 99.0),
        cpu,
    };
    let last = last.ok_or_else(|| anyhow::anyhow!("no timed run"))?;
    Ok((stats, last))
}

/// The `p`th percentile of `sorted` (ascending) by nearest rank; zero when it is empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted
        .get(i.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

/// The CPU time all of this process's threads have used so far, or `None` off Linux.
fn process_cpu() -> Option<Duration> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        // A thread that ended meanwhile has no statistics left; what it used is lost either way.
        let Ok(text) = std::fs::read_to_string(task.ok()?.path().join("schedstat")) else {
            continue;
        };
        // The first field is the nanoseconds the thread has run.
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
