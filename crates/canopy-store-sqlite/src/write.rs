//! The write side: calls, bodies and session totals, one transaction per batch, on a thread
//! that owns its connection.
//!
//! Each call is one step of a prepared single-row statement, SQLite's fastest way in: no round
//! trip between a runtime task and a connection thread per statement, no statement text per
//! batch, and no copy of a call's text beyond the one SQLite makes. A batch is one message to
//! the thread and one answer back.
//!
//! Copying the log into the database file (a checkpoint) is left to a second thread with a
//! connection of its own, so a writer with batches queued goes on to the next while the last
//! ones are copied ([`Checkpoints`]).

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::c_int;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use canopy_core::CallRecord;
use canopy_store::sql::sessions::{self, count};
use canopy_store::sql::{Arg, CHUNK_SIZES, Sql, chunks, json_text};
use canopy_store::{Ingest, Result, StoreError, ids};
use rusqlite::hooks::Wal;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, ToSql, TransactionBehavior, params};
use tokio::sync::oneshot;

use crate::SqliteStore;
use crate::dialect::DIALECT;

#[async_trait]
impl Ingest for SqliteStore {
    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write(&self, batch: &[CallRecord]) -> Result<()> {
        self.ingest.write(batch.into()).await
    }

    #[tracing::instrument(skip_all, fields(rows = batch.len()))]
    async fn write_shared(&self, batch: Arc<[CallRecord]>) -> Result<()> {
        self.ingest.write(batch).await
    }
}

/// The thread that writes batches of calls, and the way to hand it one.
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

enum Job {
    Write(Arc<[CallRecord]>, oneshot::Sender<rusqlite::Result<()>>),
    Close(oneshot::Sender<()>),
}

/// Why a batch was not written when the thread itself is gone.
const STOPPED: &str = "the SQLite writer thread has stopped";

impl Writer {
    /// Opens a connection to the (already migrated) database file at `path` and starts the
    /// thread that owns it.
    pub(crate) fn start(path: &Path) -> std::result::Result<Self, canopy_store::Source> {
        let (conn, checkpoints) = connect(path)?;
        let (jobs, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("canopy-sqlite-writer".into())
            .spawn(move || run(conn, &inbox, checkpoints))?;
        Ok(Self { jobs })
    }

    async fn write(&self, batch: Arc<[CallRecord]>) -> Result<()> {
        let rows = batch.len();
        let fail = |source: canopy_store::Source| StoreError::Write { rows, source };
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Job::Write(batch, done))
            .map_err(|_| fail(STOPPED.into()))?;
        match answer.await {
            Ok(written) => written.map_err(|e| fail(e.into())),
            Err(_) => Err(fail(STOPPED.into())),
        }
    }

    /// Lets the batches already handed over finish, then closes the connection.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.jobs.send(Job::Close(done)).is_ok() {
            // An error means the thread had already stopped: closed either way.
            let _ = closed.await;
        }
    }
}

/// Opens a connection to the database at `path` the way both threads use it.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    // Other writes (annotations, keys, retention) go through the store's sqlx connection;
    // each side waits for the other's transaction instead of failing.
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// The writer's connection to the database at `path`, and the thread that copies its log.
fn connect(path: &Path) -> std::result::Result<(Connection, Checkpoints), canopy_store::Source> {
    let conn = open(path)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -32000)?;
    conn.set_prepared_statement_cache_capacity(32);
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |row| row.get(0))?;
    // The hook replaces SQLite's automatic checkpoints on this connection.
    conn.wal_hook(Some(note_log_pages));
    let checkpoints = Checkpoints::start(path, checkpoint_pages(page_size))?;
    Ok((conn, checkpoints))
}

fn run(mut conn: Connection, inbox: &mpsc::Receiver<Job>, mut checkpoints: Checkpoints) {
    loop {
        // A job already waiting means the writer is behind: it goes on at once. One that had
        // to be waited for finds the writer idle, with time to let a copy finish first.
        let (job, idle) = match inbox.try_recv() {
            Ok(job) => (job, false),
            Err(mpsc::TryRecvError::Empty) => match inbox.recv() {
                Ok(job) => (job, true),
                Err(_) => return,
            },
            Err(mpsc::TryRecvError::Disconnected) => return,
        };
        match job {
            Job::Write(batch, done) => {
                checkpoints.settle(if idle { COPY_WAIT } else { Duration::ZERO });
                // The caller may have stopped waiting; the batch is written all the same.
                let _ = done.send(write_batch(&mut conn, &batch));
                checkpoints.after_commit(&conn);
            }
            Job::Close(done) => {
                checkpoints.stop();
                drop(conn);
                let _ = done.send(());
                return;
            }
        }
    }
}

/// How much log makes a checkpoint due. About half of SQLite's default (1,000 pages of 4 KiB)
/// keeps each copy short: on a core shared with the proxy, the copy shows in the calls' tail
/// latency (BENCHMARKS.md, "Shorter checkpoints"), and at this size ingest is no slower.
const CHECKPOINT_BYTES: i64 = 2 * 1024 * 1024;

/// [`CHECKPOINT_BYTES`] in pages of `page_size` bytes: 512 at [`crate::PAGE_SIZE`], 128 for a
/// database created with 16 KiB pages.
fn checkpoint_pages(page_size: i64) -> i64 {
    CHECKPOINT_BYTES / page_size.max(512)
}

/// How long a writer with nothing queued waits for a copy under way before it begins its next
/// batch (see [`Checkpoints`]). A copy of [`CHECKPOINT_BYTES`] takes a few milliseconds; one
/// held up by a slow disk goes on while the writer does, so a disk's stall never holds up the
/// calls' records for longer than this.
const COPY_WAIT: Duration = Duration::from_millis(20);

/// How many times [`CHECKPOINT_BYTES`] the log may hold before the writer copies the rest
/// itself.
const LOG_LIMIT: c_int = 4;

thread_local! {
    /// The pages in the log after the writer's last commit, as SQLite reports them.
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

/// The writer's commit hook: notes the size of the log.
fn note_log_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(pages);
    Ok(())
}

/// The thread that copies the log into the database file, and when to ask it to.
///
/// SQLite starts its log over at the first commit whose transaction began after a checkpoint
/// had copied all of it. A batch begun while a copy is under way keeps the log growing, and
/// then every commit after it asks for a copy of its own, each with two `fsync`s. So a writer
/// with nothing queued lets a copy under way finish (for up to [`COPY_WAIT`]) before it begins
/// its next batch: the log starts over at that batch, and the next copy is due only after
/// another [`CHECKPOINT_BYTES`]. A writer with batches queued goes on while the thread copies,
/// as ingest needs, and past [`LOG_LIMIT`] copies what is left itself, after which the log
/// starts over.
struct Checkpoints {
    due: mpsc::SyncSender<()>,
    copied: mpsc::Receiver<()>,
    thread: std::thread::JoinHandle<()>,
    /// Whether a copy was asked for and not yet reported finished.
    pending: bool,
    mark: c_int,
}

impl Checkpoints {
    fn start(path: &Path, mark: i64) -> std::result::Result<Self, canopy_store::Source> {
        let conn = open(path)?;
        // The writer asks for one copy at a time.
        let (due, requests) = mpsc::sync_channel(1);
        let (report, copied) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("canopy-sqlite-checkpoint".into())
            .spawn(move || {
                while requests.recv().is_ok() {
                    checkpoint(&conn);
                    if report.send(()).is_err() {
                        return;
                    }
                }
            })?;
        Ok(Self {
            due,
            copied,
            thread,
            pending: false,
            mark: c_int::try_from(mark).unwrap_or(c_int::MAX),
        })
    }

    /// Notes whether the copy asked for has finished, waiting for it up to `wait`.
    fn settle(&mut self, wait: Duration) {
        if self.pending {
            // A disconnected channel means the thread has stopped: nothing is copying.
            self.pending = matches!(
                self.copied.recv_timeout(wait),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
        }
    }

    /// Asks for a copy if the commit just made left enough log and none is under way.
    fn after_commit(&mut self, conn: &Connection) {
        let pages = LOG_PAGES.replace(0);
        if pages >= self.mark.saturating_mul(LOG_LIMIT) {
            // SQLite lets one connection copy at a time and turns the other away at once.
            self.settle(Duration::MAX);
            checkpoint(conn);
        } else if pages >= self.mark {
            self.settle(Duration::ZERO);
            if !self.pending {
                self.pending = self.due.try_send(()).is_ok();
            }
        }
    }

    /// Lets a copy under way finish and stops the thread.
    fn stop(self) {
        let Self { due, thread, .. } = self;
        drop(due);
        // A thread that panicked has stopped all the same.
        let _ = thread.join();
    }
}

/// Copies as much of the log as no reader still needs, waiting for no one. A failure is
/// logged; the next checkpoint tries again.
fn checkpoint(conn: &Connection) {
    if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(%error, "Copying SQLite's log into the database failed.");
    }
}

const SELECT_START: &str = "SELECT created_at FROM calls WHERE org_id = ?1 AND id = ?2";

const INSERT_CALL: &str = "INSERT INTO calls (id, org_id, key_id, created_at, \
    response_created_at, latency_ms, time_to_first_token_ms, provider, target_url, request_path, \
    method, status, is_stream, request_model, response_model, pricing_model, prompt_tokens, \
    completion_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, \
    reasoning_tokens, audio_input_tokens, audio_output_tokens, usage_source, cost_nano, \
    session_id, session_path, session_name, user_id, prompt_id, properties, error, kind) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34) \
    ON CONFLICT (org_id, id) DO NOTHING";

/// A call's bodies, keyed by the call's `seq`: written right after the call, so never there
/// already.
const INSERT_BODIES: &str = "INSERT INTO call_bodies (call_seq, request_body, \
    request_truncated, request_omitted, response_body, response_truncated, response_omitted, \
    request_headers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// Writes one batch in one transaction, taking the write lock at its start.
fn write_batch(conn: &mut Connection, batch: &[CallRecord]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stored = stored_starts(&tx, batch)?;
    let batch = ids::resolve(batch, &stored);
    let mut fresh = Vec::with_capacity(batch.len());
    {
        let mut call = tx.prepare_cached(INSERT_CALL)?;
        let mut bodies = tx.prepare_cached(INSERT_BODIES)?;
        for r in batch.iter() {
            let id = r.id.text();
            let u = &r.usage;
            let changed = call.execute(params![
                id,
                r.org_id,
                r.key_id,
                r.created_at_ms,
                r.response_created_at_ms,
                r.latency_ms,
                r.time_to_first_token_ms,
                r.provider,
                r.target_url,
                r.request_path,
                r.method,
                r.status,
                r.is_stream,
                r.request_model,
                r.response_model,
                r.pricing_model,
                count(u.prompt_tokens),
                count(u.completion_tokens),
                count(u.cache_read_tokens),
                count(u.cache_write_tokens),
                count(u.cache_write_1h_tokens),
                count(u.reasoning_tokens),
                count(u.audio_input_tokens),
                count(u.audio_output_tokens),
                r.usage_source.as_str(),
                r.cost_nano_usd,
                r.session_id,
                r.session_path,
                r.session_name,
                r.user_id,
                r.prompt_id,
                json_text(&r.properties),
                r.error,
                r.kind.as_str(),
            ])?;
            // A call already stored, or repeated within the batch, changes no row: it is
            // skipped and counts once in its session.
            if changed == 0 {
                continue;
            }
            bodies.execute(params![
                tx.last_insert_rowid(),
                r.request_body.text,
                r.request_body.truncated,
                r.request_body.omitted,
                r.response_body.text,
                r.response_body.truncated,
                r.response_body.omitted,
                json_text(&r.request_headers),
            ])?;
            fresh.push(r);
        }
    }
    let deltas = sessions::session_deltas(fresh.iter().copied());
    for chunk in chunks(&deltas, &CHUNK_SIZES) {
        execute(&tx, &sessions::upsert(&DIALECT, chunk))?;
        if let Some(users) = sessions::insert_users(&DIALECT, chunk) {
            execute(&tx, &users)?;
        }
    }
    tx.commit()
}

/// The start of every stored call whose id its caller chose, among the batch's.
fn stored_starts(
    conn: &Connection,
    batch: &[CallRecord],
) -> rusqlite::Result<HashMap<(String, canopy_core::CallId), i64>> {
    let mut stored = HashMap::new();
    let chosen = ids::caller_chosen(batch);
    if chosen.is_empty() {
        return Ok(stored);
    }
    let mut start = conn.prepare_cached(SELECT_START)?;
    for (org, id) in chosen {
        let at = start
            .query_row(params![org, id.text()], |row| row.get::<_, i64>(0))
            .optional()?;
        if let Some(at) = at {
            stored.insert((org.to_owned(), id), at);
        }
    }
    Ok(stored)
}

/// Runs one of the statements shared with other engines.
fn execute(conn: &Connection, sql: &Sql<'_>) -> rusqlite::Result<usize> {
    let mut statement = conn.prepare_cached(sql.text())?;
    statement.execute(rusqlite::params_from_iter(sql.args().iter().map(Bound)))
}

/// A shared statement's value, bound without a copy.
struct Bound<'a>(&'a Arg);

impl ToSql for Bound<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self.0 {
            Arg::Null => ValueRef::Null,
            Arg::Text(text) => ValueRef::Text(text.as_bytes()),
            Arg::Int(n) => ValueRef::Integer(*n),
            Arg::Float(f) => ValueRef::Real(*f),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use canopy_store::testing::sample_call;

    use super::{CHECKPOINT_BYTES, connect, write_batch};
    use crate::SqliteStore;

    /// A writer that lets each copy of the log finish before its next batch, as one with
    /// nothing queued does, has the log start over after every copy instead of growing until
    /// it copies the log itself. The batches here are written on the test's thread, in the
    /// writer thread's steps, so that no timing decides whether the writer waits.
    #[tokio::test]
    async fn a_writer_that_keeps_up_starts_its_log_over_after_each_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("canopy.db");
        // The store creates the schema; its own writer is closed before the steps below.
        let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.close().await;
        let (mut conn, mut checkpoints) = connect(&path).unwrap();
        let body = "x".repeat(4000);
        // About 15 MB of log: twice what the log could reach before the writer copied it
        // itself.
        for batch in 0..150 {
            let calls: Vec<_> = (0..20)
                .map(|i| {
                    let mut call =
                        sample_call("org", Some("s"), 1_700_000_000_000 + batch * 100 + i);
                    call.request_body.text = Some(body.clone());
                    call
                })
                .collect();
            checkpoints.settle(Duration::MAX);
            write_batch(&mut conn, &calls).unwrap();
            checkpoints.after_commit(&conn);
        }
        checkpoints.stop();
        let log = std::fs::metadata(dir.path().join("canopy.db-wal"))
            .unwrap()
            .len();
        // One copy's worth, plus the batch that passed the mark.
        let bound = u64::try_from(CHECKPOINT_BYTES).unwrap() * 3 / 2;
        assert!(log < bound, "the log grew to {log} bytes (bound {bound})");
    }
}
