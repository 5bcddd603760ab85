//! The on-disk spool: where records go when the queue is full or the store is failing.
//!
//! Records are appended as JSON lines to `spool-<n>.jsonl` files in one directory. Appends go
//! to the *active* file; [`Spool::take_sealed`] closes the active file and hands every closed
//! file to the writer, which writes their records to the store and deletes each file once
//! written. A file is deleted only after its records are stored, so a crash at any point loses
//! nothing (a record may be written twice, which the store's idempotent write absorbs).
//!
//! An append is a short buffered write under a mutex, fast enough for the request path's
//! overflow case; the spool is never the normal route.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use canopy_core::CallRecord;

use crate::error::{Result, StoreError};

const PREFIX: &str = "spool-";
const SUFFIX: &str = ".jsonl";

/// An append-only directory of spooled records.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// The file appends go to, opened on first use.
    active: Mutex<Option<(PathBuf, File)>>,
    /// Next file number; starts past every file already in the directory.
    next: AtomicU64,
    /// Records appended since start, for tests and shutdown reports.
    appended: AtomicU64,
    /// Records on disk waiting for the store: those found at open, plus appends, minus those
    /// in files removed after replay.
    pending: AtomicU64,
}

impl Spool {
    /// Opens (creating) the spool directory. Files left by an earlier run are kept for replay.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| StoreError::Spool {
            path: dir.clone(),
            source,
        })?;
        let files = list(&dir)?;
        let next = files.last().map_or(0, |(n, _)| n + 1);
        let mut pending = 0;
        for (_, path) in &files {
            pending += count_lines(path)?;
        }
        Ok(Self {
            dir,
            active: Mutex::new(None),
            next: AtomicU64::new(next),
            appended: AtomicU64::new(0),
            pending: AtomicU64::new(pending),
        })
    }

    /// Appends records, one JSON line each.
    pub fn append(&self, records: &[CallRecord]) -> Result<()> {
        let mut lines = Vec::with_capacity(records.len() * 512);
        for record in records {
            serde_json::to_writer(&mut lines, record).map_err(|e| self.io_error(e.into()))?;
            lines.push(b'\n');
        }
        let mut active = self.active.lock().map_err(|_| self.io_error(poisoned()))?;
        if active.is_none() {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            let path = self.dir.join(format!("{PREFIX}{n:012}{SUFFIX}"));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|source| StoreError::Spool {
                    path: path.clone(),
                    source,
                })?;
            *active = Some((path, file));
        }
        if let Some((path, file)) = active.as_mut() {
            file.write_all(&lines).map_err(|source| StoreError::Spool {
                path: path.clone(),
                source,
            })?;
        }
        self.appended
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.pending
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Closes the active file and returns every closed file, oldest first.
    pub fn take_sealed(&self) -> Result<Vec<PathBuf>> {
        if let Ok(mut active) = self.active.lock()
            && let Some((path, file)) = active.take()
        {
            file.sync_all()
                .map_err(|source| StoreError::Spool { path, source })?;
        }
        Ok(list(&self.dir)?.into_iter().map(|(_, path)| path).collect())
    }

    /// Whether any spooled record waits for the store.
    pub fn has_pending(&self) -> bool {
        let active = self.active.lock().map(|a| a.is_some()).unwrap_or(true);
        active
            || list(&self.dir)
                .map(|files| !files.is_empty())
                .unwrap_or(false)
    }

    /// Records appended since the spool was opened.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    /// Records on disk waiting for the store (unreadable lines included until their file is
    /// removed).
    pub fn depth(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Deletes a replayed file that held `lines` records (readable or not).
    pub fn remove_replayed(&self, path: &Path, lines: usize) -> Result<()> {
        remove_file(path)?;
        let lines = lines as u64;
        let _ = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(lines))
            });
        Ok(())
    }

    fn io_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Spool {
            path: self.dir.clone(),
            source,
        }
    }
}

/// Reads a sealed file's records. A line that does not parse (a torn write at a crash) is
/// skipped and counted in the second value.
pub fn read_file(path: &Path) -> Result<(Vec<CallRecord>, usize)> {
    let err = |source| StoreError::Spool {
        path: path.to_owned(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(err)?);
    let mut records = Vec::new();
    let mut bad = 0;
    for line in reader.split(b'\n') {
        let line = line.map_err(err)?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(&line) {
            Ok(mut record) => {
                // A file from an older version or another hand is bounded and redacted like
                // every other ingest path.
                canopy_core::completion::validate(&mut record);
                records.push(record);
            }
            Err(_) => bad += 1,
        }
    }
    Ok((records, bad))
}

/// The records in a spool file, counted as [`read_file`] counts them (torn lines included).
fn count_lines(path: &Path) -> Result<u64> {
    let err = |source| StoreError::Spool {
        path: path.to_owned(),
        source,
    };
    let reader = BufReader::new(File::open(path).map_err(err)?);
    let mut lines = 0;
    for line in reader.split(b'\n') {
        if !line.map_err(err)?.iter().all(u8::is_ascii_whitespace) {
            lines += 1;
        }
    }
    Ok(lines)
}

/// Deletes a file whose records are stored.
pub fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|source| StoreError::Spool {
        path: path.to_owned(),
        source,
    })
}

fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = fs::read_dir(dir).map_err(|source| StoreError::Spool {
        path: dir.into(),
        source,
    })?;
    let mut files: Vec<(u64, PathBuf)> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let n = name
                .strip_prefix(PREFIX)?
                .strip_suffix(SUFFIX)?
                .parse()
                .ok()?;
            Some((n, path))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("spool lock poisoned by a panic")
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_core::CallId;

    fn record(n: i64) -> CallRecord {
        CallRecord {
            id: CallId::new(),
            created_at_ms: n,
            ..CallRecord::default()
        }
    }

    #[test]
    fn appended_records_come_back_after_sealing_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(&[record(1), record(2)]).unwrap();
        spool.append(&[record(3)]).unwrap();
        assert!(spool.has_pending());
        drop(spool);

        let spool = Spool::open(dir.path()).unwrap();
        spool.append(&[record(4)]).unwrap();
        let files = spool.take_sealed().unwrap();
        assert_eq!(files.len(), 2);
        let mut times = Vec::new();
        for file in &files {
            let (records, bad) = read_file(file).unwrap();
            assert_eq!(bad, 0);
            times.extend(records.iter().map(|r| r.created_at_ms));
            remove_file(file).unwrap();
        }
        assert_eq!(times, [1, 2, 3, 4]);
        assert!(!spool.has_pending());
    }

    #[test]
    fn depth_counts_records_found_at_open_appended_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.depth(), 0);
        spool.append(&[record(1), record(2)]).unwrap();
        assert_eq!(spool.depth(), 2);
        drop(spool);

        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.depth(), 2);
        spool.append(&[record(3)]).unwrap();
        assert_eq!(spool.depth(), 3);
        for file in spool.take_sealed().unwrap() {
            let (records, bad) = read_file(&file).unwrap();
            spool.remove_replayed(&file, records.len() + bad).unwrap();
        }
        assert_eq!(spool.depth(), 0);
    }

    #[test]
    fn a_torn_last_line_is_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        spool.append(&[record(1)]).unwrap();
        let files = spool.take_sealed().unwrap();
        let mut file = OpenOptions::new().append(true).open(&files[0]).unwrap();
        file.write_all(b"{\"id\":\"0190").unwrap();
        let (records, bad) = read_file(&files[0]).unwrap();
        assert_eq!((records.len(), bad), (1, 1));
    }
}
