//! Another process as Linux shows it under `/proc/PID`: resident memory, CPU ticks and the
//! open-file limit, and a sampler that keeps the peak resident memory while a phase runs; also
//! the host's count of connections refused by full accept queues.
//!
//! What must not go here: this process's own figures (`timing` reads those) or any judgement
//! of them; the numbers go into a report as they are.

use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A running process, by id.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    pid: u32,
}

impl Process {
    /// The process `pid`, if `/proc` shows it.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let process = Self { pid };
        process
            .rss_kib()
            .with_context(|| format!("cannot read /proc/{pid}/status: is the gateway running?"))?;
        Ok(process)
    }

    /// The process id.
    pub fn pid(self) -> u32 {
        self.pid
    }

    /// Resident memory (`VmRSS`) in KiB.
    pub fn rss_kib(self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// User plus system CPU time so far, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    pub fn cpu_ticks(self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // The command name (field 2) may hold spaces; it ends at the last ')'. Field 3 is the
        // first one after it, so fields 14 and 15 are the 12th and 13th.
        let (_, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace().skip(11);
        let user: u64 = fields.next()?.parse().ok()?;
        let system: u64 = fields.next()?.parse().ok()?;
        Some(user + system)
    }

    /// The soft open-file limit (`Max open files` in `/proc/PID/limits`), as written there.
    pub fn open_files_limit(self) -> Option<String> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid)).ok()?;
        let line = limits
            .lines()
            .find_map(|line| line.strip_prefix("Max open files"))?;
        line.split_whitespace().next().map(str::to_owned)
    }

    /// Starts reading the resident memory every `every` until [`PeakRss::finish`].
    pub fn sample_peak(self, tracker: &TaskTracker, every: Duration) -> PeakRss {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tracker.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut peak = Peak::default();
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if let Some(rss) = self.rss_kib() {
                    peak.kib = peak.kib.max(rss);
                    peak.samples += 1;
                }
            }
            peak
        });
        PeakRss { stop, task }
    }
}

/// The highest resident memory seen, and how many readings it was taken from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peak {
    /// KiB.
    pub kib: u64,
    /// Readings taken.
    pub samples: u64,
}

/// A running sampler.
#[derive(Debug)]
pub struct PeakRss {
    stop: CancellationToken,
    task: JoinHandle<Peak>,
}

impl PeakRss {
    /// Stops sampling and returns the peak.
    pub async fn finish(self) -> anyhow::Result<Peak> {
        self.stop.cancel();
        self.task.await.context("the memory sampler failed")
    }
}

/// Connections refused so far because an accept queue was full: `ListenOverflows` in
/// `/proc/net/netstat`, counted for the whole host (network namespace), not one process.
pub fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Clock ticks as time.
pub fn ticks(ticks: u64) -> Duration {
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Duration::from_micros(ticks.saturating_mul(1_000_000) / per_second)
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
