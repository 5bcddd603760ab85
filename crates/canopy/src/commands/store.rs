//! `canopy store copy`: moves everything one store holds into another, from SQLite to
//! PostgreSQL say, through the engines' [`canopy_store::transfer::Transfer`].
//!
//! The copy runs in four steps: organisations and keys; calls with their bodies, in batches in
//! (start, organisation, id) order, each batch one transaction through the destination's
//! `Ingest::write`, which rebuilds the sessions' totals; scores, session feedback and tags;
//! then the check, which compares [`Transfer::totals`](canopy_store::transfer::Transfer::totals)
//! on both sides for every organisation of the source and prints them as a table.
//!
//! **Resuming.** After each batch the last call copied is saved in a small JSON checkpoint
//! (`--state`, by default `canopy-copy-<hash of the two URLs>.json` in the working directory;
//! it holds the URLs with their passwords masked). A copy that finds its checkpoint continues
//! after that call and says so; a finished copy removes it. Correctness never depends on the
//! checkpoint: every write is idempotent, so a batch written twice, or a whole copy run again,
//! counts nothing twice. It only saves reading the source again from the start.
//!
//! **The check.** Per organisation: calls, sessions, and the calls in sessions with their cost,
//! which the destination's session totals must add up to (they are rebuilt from the calls
//! copied; a session that retention cut short in the source keeps its recorded totals there,
//! and the output says so). When the destination held no calls or sessions before the copy
//! began, every figure must be equal on both sides. When it already held some (a second copy, or calls
//! recorded there directly), an organisation's figures there may be larger, and the check is
//! that the destination holds at least the source's figures; the output says which rule
//! applied. Either way a shortfall is an error that names the organisation and the figures.
//!
//! No SQL here: the engines own it. Passwords in URLs are never printed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use canopy_store::keys::hash_key;
use canopy_store::redact_url;
use canopy_store::transfer::{CallCursor, OrgTotals};
use serde::{Deserialize, Serialize};

use crate::cli::StoreCopyArgs;
use crate::config::sqlite_path;
use crate::output;
use crate::store::Store;

/// When stderr is not a terminal, a progress line every this many batches.
const LINE_EVERY_BATCHES: u64 = 20;

/// The least time between two redraws of the live progress line.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// What a copy saves after each batch, to resume after an interruption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// The source, password masked: a checkpoint of another copy is refused.
    from: String,
    /// The destination, password masked.
    to: String,
    /// Whether the destination held no calls or sessions when the copy began; it decides the
    /// rule of the final check, and is kept so that a resumed copy applies the same one.
    destination_was_empty: bool,
    /// Calls written so far.
    copied: u64,
    /// The last call written.
    cursor: CallCursor,
}

/// Runs `canopy store copy`.
pub async fn copy(args: StoreCopyArgs) -> anyhow::Result<()> {
    let from_shown = redact_url(&args.from);
    let to_shown = redact_url(&args.to);
    if args.from == args.to {
        bail!("--from and --to name the same store ({from_shown}): nothing to copy");
    }
    if let Some(path) = sqlite_path(&args.from)
        && path.as_os_str() != ":memory:"
        && !path.exists()
    {
        bail!(
            "there is no store at {} (--from {from_shown}): name an existing store to copy",
            path.display()
        );
    }
    let state = args
        .state
        .clone()
        .unwrap_or_else(|| default_state(&args.from, &args.to));
    let from = Store::open(&args.from)
        .await
        .with_context(|| format!("cannot open the source store `{from_shown}`"))?;
    let to = match Store::open(&args.to).await {
        Ok(to) => to,
        Err(error) => {
            from.close().await;
            return Err(error)
                .with_context(|| format!("cannot open the destination store `{to_shown}`"));
        }
    };
    let copy = Copy {
        from: &from,
        to: &to,
        from_shown,
        to_shown,
        state,
        batch: args.batch,
        stop_after: args.stop_after,
    };
    let result = copy.run().await;
    from.close().await;
    to.close().await;
    result
}

/// One copy in progress.
struct Copy<'a> {
    from: &'a Store,
    to: &'a Store,
    from_shown: String,
    to_shown: String,
    state: PathBuf,
    batch: u32,
    stop_after: Option<u64>,
}

impl Copy<'_> {
    async fn run(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let resumed = read_checkpoint(&self.state)?;
        let destination_was_empty = match &resumed {
            Some(checkpoint) => {
                if (checkpoint.from.as_str(), checkpoint.to.as_str())
                    != (self.from_shown.as_str(), self.to_shown.as_str())
                {
                    bail!(
                        "the checkpoint {} belongs to a copy from {} to {}, not this one; \
                         pass another --state file, or remove it",
                        self.state.display(),
                        checkpoint.from,
                        checkpoint.to
                    );
                }
                output::status(&format!(
                    "Resuming the copy from {} to {} with the checkpoint {}: {} calls were \
                     copied; continuing after call {} of organisation {} (started at {} ms \
                     since the Unix epoch).",
                    self.from_shown,
                    self.to_shown,
                    self.state.display(),
                    checkpoint.copied,
                    checkpoint.cursor.id,
                    checkpoint.cursor.org_id,
                    checkpoint.cursor.created_at_ms
                ));
                checkpoint.destination_was_empty
            }
            None => {
                output::status(&format!(
                    "Copying {} into {} (checkpoint {}).",
                    self.from_shown,
                    self.to_shown,
                    self.state.display()
                ));
                self.to
                    .transfer
                    .totals()
                    .await
                    .context("cannot read the destination's totals")?
                    .is_empty()
            }
        };
        let names = self.copy_orgs_and_keys().await?;
        let copied = self.copy_calls(resumed, destination_was_empty).await?;
        self.copy_annotations().await?;
        self.check(&names, destination_was_empty).await?;
        match std::fs::remove_file(&self.state) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| {
                    format!(
                        "the copy is complete, but its checkpoint {} stays",
                        self.state.display()
                    )
                });
            }
        }
        output::status(&format!(
            "Copied {copied} calls from {} to {} in {:.1} s; the destination matches the source.",
            self.from_shown,
            self.to_shown,
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// Copies organisations and keys; returns organisation names by id, for the table.
    async fn copy_orgs_and_keys(&self) -> anyhow::Result<HashMap<String, String>> {
        let orgs = self
            .from
            .transfer
            .export_orgs()
            .await
            .context("cannot read the source's organisations")?;
        self.to
            .transfer
            .import_orgs(&orgs)
            .await
            .context("cannot write organisations into the destination")?;
        let keys = self
            .from
            .transfer
            .export_keys()
            .await
            .context("cannot read the source's keys")?;
        self.to
            .transfer
            .import_keys(&keys)
            .await
            .context("cannot write keys into the destination")?;
        output::status(&format!(
            "Copied {} organisations and {} keys ({} revoked).",
            orgs.len(),
            keys.len(),
            keys.iter().filter(|k| k.revoked_at_ms.is_some()).count()
        ));
        Ok(orgs.into_iter().map(|o| (o.id, o.name)).collect())
    }

    /// Copies calls in batches after the checkpoint's cursor; returns how many were copied.
    async fn copy_calls(
        &self,
        resumed: Option<Checkpoint>,
        destination_was_empty: bool,
    ) -> anyhow::Result<u64> {
        let total: u64 = self
            .from
            .transfer
            .totals()
            .await
            .context("cannot read the source's totals")?
            .iter()
            .map(|t| t.calls)
            .sum();
        let (mut copied, mut cursor) = match resumed {
            Some(checkpoint) => (checkpoint.copied, Some(checkpoint.cursor)),
            None => (0, None),
        };
        let mut progress = Progress::new(total, copied, std::io::stderr().is_terminal());
        let mut batches = 0_u64;
        loop {
            let page = self
                .from
                .transfer
                .export_calls(cursor.as_ref(), self.batch)
                .await
                .context("cannot read calls from the source")?;
            let Some(last) = page.last() else { break };
            let next = CallCursor::after(last);
            self.to.ingest.write(&page).await.with_context(|| {
                format!("cannot write {} calls into the destination", page.len())
            })?;
            copied += u64::try_from(page.len()).unwrap_or(u64::MAX);
            batches += 1;
            let checkpoint = Checkpoint {
                from: self.from_shown.clone(),
                to: self.to_shown.clone(),
                destination_was_empty,
                copied,
                cursor: next.clone(),
            };
            write_checkpoint(&self.state, &checkpoint)?;
            cursor = Some(next);
            progress.batch(copied, batches);
            if self.stop_after == Some(batches) {
                progress.finish(copied);
                bail!(
                    "stopped after {batches} batches (--stop-after); run the same command \
                     again to resume from {}",
                    self.state.display()
                );
            }
        }
        progress.finish(copied);
        Ok(copied)
    }

    /// Copies scores, session feedback and tags (after the calls and sessions they belong to).
    async fn copy_annotations(&self) -> anyhow::Result<()> {
        let scores = self
            .from
            .transfer
            .export_scores()
            .await
            .context("cannot read the source's scores")?;
        self.to
            .transfer
            .import_scores(&scores)
            .await
            .context("cannot write scores into the destination")?;
        let marks = self
            .from
            .transfer
            .export_session_marks()
            .await
            .context("cannot read the source's session feedback and tags")?;
        self.to
            .transfer
            .import_session_marks(&marks)
            .await
            .context("cannot write session feedback and tags into the destination")?;
        output::status(&format!(
            "Copied {} scores, and the feedback and tags of {} sessions.",
            scores.len(),
            marks.len()
        ));
        Ok(())
    }

    /// Compares the totals of both sides, prints the table, and fails on any shortfall (or
    /// any difference, when the destination began empty).
    async fn check(
        &self,
        names: &HashMap<String, String>,
        destination_was_empty: bool,
    ) -> anyhow::Result<()> {
        let source = self
            .from
            .transfer
            .totals()
            .await
            .context("cannot read the source's totals")?;
        let destination = self
            .to
            .transfer
            .totals()
            .await
            .context("cannot read the destination's totals")?;
        let checked = compare(&source, &destination, destination_was_empty);
        output::text(&table(&checked, names));
        for c in &checked {
            let s = &c.source;
            if s.session_requests != s.calls_in_sessions {
                output::status(&format!(
                    "{}: retention removed some calls of sessions that kept others; those \
                     sessions record {} calls in the source, {} of them still stored. The \
                     copy's sessions add up the calls it copied.",
                    names.get(&s.org_id).unwrap_or(&s.org_id),
                    s.session_requests,
                    s.calls_in_sessions
                ));
            }
        }
        if !destination_was_empty {
            output::status(
                "The destination held calls before this copy began: checked that it holds at \
                 least the source's figures for every organisation.",
            );
        }
        let failures: Vec<String> = checked
            .iter()
            .filter(|c| !c.differences.is_empty())
            .map(|c| {
                let org = names.get(&c.source.org_id).unwrap_or(&c.source.org_id);
                format!("{org}: {}", c.differences.join(", "))
            })
            .collect();
        if !failures.is_empty() {
            bail!(
                "the destination does not match the source: {}",
                failures.join("; ")
            );
        }
        Ok(())
    }
}

/// One organisation of the source, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Checked {
    source: OrgTotals,
    destination: OrgTotals,
    /// Each figure that fails the check, as "calls: 10 in the source, 9 in the destination".
    differences: Vec<String>,
}

/// Checks every organisation of `source` against `destination`: equal figures when `exact`,
/// else at least the source's.
fn compare(source: &[OrgTotals], destination: &[OrgTotals], exact: bool) -> Vec<Checked> {
    let by_org: HashMap<&str, &OrgTotals> =
        destination.iter().map(|t| (t.org_id.as_str(), t)).collect();
    source
        .iter()
        .map(|s| {
            let d = by_org
                .get(s.org_id.as_str())
                .map_or_else(OrgTotals::default, |d| (*d).clone());
            // The destination's sessions are rebuilt from the calls it received: they add up to
            // the source's calls in sessions (which differ from the source's session totals
            // only where retention cut a session short).
            let figures = [
                ("calls", i128::from(s.calls), i128::from(d.calls)),
                ("sessions", i128::from(s.sessions), i128::from(d.sessions)),
                (
                    "calls in sessions",
                    i128::from(s.calls_in_sessions),
                    i128::from(d.session_requests),
                ),
                (
                    "session cost (nano-USD)",
                    i128::from(s.calls_in_sessions_cost_nano),
                    i128::from(d.session_cost_nano),
                ),
            ];
            let differences = figures
                .iter()
                .filter(|(_, s, d)| if exact { s != d } else { d < s })
                .map(|(name, s, d)| format!("{name}: {s} in the source, {d} in the destination"))
                .collect();
            Checked {
                source: s.clone(),
                destination: OrgTotals {
                    org_id: s.org_id.clone(),
                    ..d
                },
                differences,
            }
        })
        .collect()
}

/// The check as a table: one row per organisation, each figure as source/destination.
fn table(checked: &[Checked], names: &HashMap<String, String>) -> String {
    let usd = |nano: i64| format!("{:.6}", nano as f64 / 1e9);
    let mut rows = vec![[
        "organisation".to_owned(),
        "calls".to_owned(),
        "sessions".to_owned(),
        "calls in sessions".to_owned(),
        "session cost USD".to_owned(),
        "check".to_owned(),
    ]];
    for c in checked {
        let (s, d) = (&c.source, &c.destination);
        rows.push([
            names.get(&s.org_id).unwrap_or(&s.org_id).clone(),
            format!("{}/{}", s.calls, d.calls),
            format!("{}/{}", s.sessions, d.sessions),
            format!("{}/{}", s.calls_in_sessions, d.session_requests),
            format!(
                "{}/{}",
                usd(s.calls_in_sessions_cost_nano),
                usd(d.session_cost_nano)
            ),
            if c.differences.is_empty() {
                "ok"
            } else {
                "DIFFERS"
            }
            .to_owned(),
        ]);
    }
    let mut widths = [0_usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::from("Totals, source/destination:\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The checkpoint's default path: in the working directory, named after a hash of both URLs
/// (passwords included, so two copies never share one, yet none is written in the name).
fn default_state(from: &str, to: &str) -> PathBuf {
    let hash = hash_key(&format!("{from}\n{to}"));
    PathBuf::from(format!(
        "canopy-copy-{}.json",
        hash.get(..16).unwrap_or(&hash)
    ))
}

fn read_checkpoint(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read the checkpoint {}", path.display()));
        }
    };
    serde_json::from_str(&text).map(Some).with_context(|| {
        format!(
            "the checkpoint {} is not one `canopy store copy` wrote; remove it to copy from the \
             start (nothing is counted twice)",
            path.display()
        )
    })
}

/// Writes the checkpoint whole or not at all: a temporary file renamed over it.
fn write_checkpoint(path: &Path, checkpoint: &Checkpoint) -> anyhow::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let text = serde_json::to_string_pretty(checkpoint).context("cannot encode the checkpoint")?;
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write the checkpoint {}", path.display()))
}

/// Progress on stderr: a live line on a terminal, else a line every few batches.
struct Progress {
    total: u64,
    /// Calls copied before this run (a resumed copy), left out of the rate.
    before: u64,
    started: Instant,
    live: bool,
    drawn: Option<Instant>,
}

impl Progress {
    fn new(total: u64, before: u64, live: bool) -> Self {
        Self {
            total,
            before,
            started: Instant::now(),
            live,
            drawn: None,
        }
    }

    fn line(&self, copied: u64) -> String {
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            copied.saturating_sub(self.before) as f64 / seconds
        } else {
            0.0
        };
        let percent = if self.total == 0 {
            100.0
        } else {
            copied.min(self.total) as f64 * 100.0 / self.total as f64
        };
        format!(
            "Calls: {copied}/{} ({percent:.1} %), {rate:.0} calls/s",
            self.total
        )
    }

    fn batch(&mut self, copied: u64, batches: u64) {
        if self.live {
            if self.drawn.is_none_or(|at| at.elapsed() >= REDRAW_EVERY) {
                output::live(&self.line(copied));
                self.drawn = Some(Instant::now());
            }
        } else if batches.is_multiple_of(LINE_EVERY_BATCHES) {
            output::status(&self.line(copied));
        }
    }

    fn finish(&self, copied: u64) {
        if self.live {
            output::live(&self.line(copied));
            output::status("");
        } else {
            output::status(&self.line(copied));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(org: &str, calls: u64, cost: i64) -> OrgTotals {
        OrgTotals {
            org_id: org.to_owned(),
            calls,
            sessions: 2,
            session_requests: calls,
            session_cost_nano: cost,
            calls_in_sessions: calls,
            calls_in_sessions_cost_nano: cost,
        }
    }

    #[test]
    fn an_empty_destination_must_match_exactly() {
        let source = [totals("a", 10, 500), totals("b", 3, 7)];
        let destination = [totals("a", 11, 500)];
        let checked = compare(&source, &destination, true);
        assert_eq!(
            checked[0].differences,
            [
                "calls: 10 in the source, 11 in the destination",
                "calls in sessions: 10 in the source, 11 in the destination"
            ]
        );
        assert_eq!(checked[1].differences.len(), 4, "b is missing altogether");
        assert_eq!(checked[1].destination.org_id, "b");
    }

    #[test]
    fn a_destination_that_held_calls_must_hold_at_least_the_sources() {
        let source = [totals("a", 10, 500)];
        assert!(
            compare(&source, &[totals("a", 12, 900)], false)[0]
                .differences
                .is_empty()
        );
        let short = compare(&source, &[totals("a", 12, 400)], false);
        assert_eq!(
            short[0].differences,
            ["session cost (nano-USD): 500 in the source, 400 in the destination"]
        );
    }

    #[test]
    fn sessions_cut_by_retention_are_checked_against_the_calls_they_kept() {
        let mut source = totals("a", 10, 500);
        source.session_requests = 14;
        source.session_cost_nano = 900;
        let copied = totals("a", 10, 500);
        assert!(
            compare(&[source], std::slice::from_ref(&copied), true)[0]
                .differences
                .is_empty()
        );
        let mut doubled = copied;
        doubled.session_requests = 20;
        assert_eq!(
            compare(&[totals("a", 10, 500)], &[doubled], true)[0]
                .differences
                .len(),
            1
        );
    }

    #[test]
    fn the_default_checkpoint_never_shows_a_password() {
        let one = default_state("sqlite://a.db", "postgres://u:secret@h/db");
        let other = default_state("sqlite://a.db", "postgres://u:other@h/db");
        assert_ne!(one, other);
        assert!(!one.to_string_lossy().contains("secret"));
        assert_eq!(
            one,
            default_state("sqlite://a.db", "postgres://u:secret@h/db")
        );
    }

    #[test]
    fn the_table_names_organisations_and_flags_differences() {
        let checked = compare(&[totals("id-a", 2, 1_500_000_000)], &[], true);
        let names = HashMap::from([("id-a".to_owned(), "acme".to_owned())]);
        let table = table(&checked, &names);
        assert!(table.contains("acme"), "{table}");
        assert!(table.contains("2/0"), "{table}");
        assert!(table.contains("1.500000/0.000000"), "{table}");
        assert!(table.contains("DIFFERS"), "{table}");
    }
}
