//! Load meets shutdown and a locked store: one record per answered call, none lost, none
//! extra, and the proxy never waits on the store.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{eventually, still_serves};
use crate::harness::{TestApp, chat, settings, spawn_mock, store_url};

/// Concurrent clients of every load in this module.
const CLIENTS: usize = 8;

/// One client's calls until `stop` is set or the server goes away: the latency of every 2xx
/// answer read whole, and the number of other statuses.
async fn client_loop(
    client: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    pace: Option<Duration>,
) -> (Vec<Duration>, u64) {
    let mut latencies = Vec::new();
    let mut other = 0;
    let mut tick = pace.map(tokio::time::interval);
    while !stop.load(Ordering::Relaxed) {
        if let Some(tick) = tick.as_mut() {
            tick.tick().await;
        }
        let started = Instant::now();
        let sent = client
            .post(format!("{url}/v1/chat/completions"))
            .json(&chat("gpt-4o-mini", false, "load"))
            .send()
            .await;
        let Ok(response) = sent else { break };
        let ok = response.status().is_success();
        let Ok(_) = response.bytes().await else { break };
        if ok {
            latencies.push(started.elapsed());
            answered.fetch_add(1, Ordering::Relaxed);
        } else {
            other += 1;
        }
    }
    (latencies, other)
}

/// `CLIENTS` paced clients against `app`.
struct Load {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<(Vec<Duration>, u64)>>,
}

impl Load {
    fn start(app: &TestApp, pace: Option<Duration>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let tasks = (0..CLIENTS)
            .map(|_| {
                tokio::spawn(client_loop(
                    reqwest::Client::new(),
                    app.url.clone(),
                    stop.clone(),
                    answered.clone(),
                    pace,
                ))
            })
            .collect();
        Self {
            stop,
            answered,
            tasks,
        }
    }

    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    /// Stops the clients (or waits for them to see the server gone): every latency, and the
    /// number of non-2xx answers.
    async fn finish(self) -> (Vec<Duration>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut other = 0;
        for task in self.tasks {
            let (l, o) = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("a client ends within 15 s")
                .unwrap();
            latencies.extend(l);
            other += o;
        }
        (latencies, other)
    }
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    assert!(!latencies.is_empty(), "no latencies measured");
    latencies.sort_unstable();
    latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_writes_exactly_one_record_per_answered_call() {
    let mut app = super::spawn().await;
    let load = Load::start(&app, None);
    let answered = load.answered.clone();
    eventually(Duration::from_secs(20), "200 calls answered", || {
        let answered = answered.clone();
        async move { answered.load(Ordering::Relaxed) >= 200 }
    })
    .await;
    // The same as SIGTERM: the serve loop's shutdown signal fires while the clients call.
    let report = app.shutdown().await;
    let (latencies, other) = load.finish().await;
    let served = latencies.len() as u64;
    assert_eq!(other, 0, "no call was answered with an error");
    assert!(served >= 200);
    assert_eq!(
        report.writer.written, served,
        "records written = 2xx answers the clients read"
    );
    assert!(!report.writer.spool_pending, "nothing left in the spool");
    let store = canopy::store::Store::open(&store_url(app.dir.path()))
        .await
        .unwrap();
    assert_eq!(
        store.query.count_calls("default").await.unwrap(),
        served,
        "the store holds one call per answer, none lost, none extra"
    );
    store.close().await;
}

/// How long the SQLite file stays locked, as in the fault report: twice the store's 10 s busy
/// timeout, so flushes fail and are retried, not merely delayed.
const LOCK_FOR: Duration = Duration::from_secs(20);

/// A `sqlite3` process holding an exclusive transaction on `db` until [`release`].
fn lock(db: &std::path::Path) -> Child {
    let mut child = Command::new("sqlite3")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the sqlite3 command-line shell is installed");
    let stdin = child.stdin.as_mut().unwrap();
    stdin
        .write_all(b".timeout 10000\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n")
        .unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked", "sqlite3 took the lock");
    child
}

fn release(mut child: Child) {
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"COMMIT;\n.quit\n").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success(), "sqlite3 committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_store_spools_under_load_loses_nothing_and_never_slows_the_proxy() {
    // SQLite's file lock is the fault, so the store is SQLite whatever the suite's engine.
    let (mock_url, mock_stop) = spawn_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let mut settings = settings(dir.path(), &mock_url);
    settings.store = format!("sqlite://{}", db.display());
    settings.spool_dir = dir.path().join("locked.db.spool");
    // A short queue: records spill to the spool soon after the writer stalls.
    settings.writer.queue_capacity = 64;
    let app = TestApp::start(settings, mock_url, mock_stop, dir).await;
    let pace = Some(Duration::from_millis(20));

    let before = Load::start(&app, pace);
    let answered = before.answered.clone();
    eventually(Duration::from_secs(20), "baseline calls", || {
        let answered = answered.clone();
        async move { answered.load(Ordering::Relaxed) >= 160 }
    })
    .await;
    let (baseline, other) = before.finish().await;
    assert_eq!(other, 0);
    let mut calls = baseline.len() as u64;
    app.wait_written(calls).await;

    let db_file = db.clone();
    let holder = tokio::task::spawn_blocking(move || lock(&db_file))
        .await
        .unwrap();
    let written_at_lock = *app.ingest.written().borrow();
    let during = Load::start(&app, pace);
    let locked_at = Instant::now();
    let mut most_spooled = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    while locked_at.elapsed() < LOCK_FOR {
        tick.tick().await;
        most_spooled = most_spooled.max(app.ingest.spool_depth());
    }
    let served_during = during.answered();
    let (locked, other) = during.finish().await;
    assert_eq!(other, 0, "every call during the lock was answered 2xx");
    assert!(locked.len() as u64 >= served_during);
    assert_eq!(
        *app.ingest.written().borrow(),
        written_at_lock,
        "nothing reached the locked store"
    );
    assert!(
        most_spooled > 0,
        "records went to the spool during the lock"
    );
    calls += locked.len() as u64;
    tokio::task::spawn_blocking(move || release(holder))
        .await
        .unwrap();

    let written = app.ingest.written();
    eventually(Duration::from_secs(40), "every record written", || {
        let written = written.clone();
        async move { *written.borrow() >= calls }
    })
    .await;
    assert_eq!(app.store.query.count_calls("default").await.unwrap(), calls);
    let ingest = app.ingest.clone();
    eventually(Duration::from_secs(10), "the spool drained", || {
        let ingest = ingest.clone();
        async move { ingest.spool_depth() == 0 }
    })
    .await;

    let (before_p99, during_p99) = (p99(baseline), p99(locked));
    assert!(
        during_p99 <= before_p99 * 5 + Duration::from_millis(50),
        "p99 {during_p99:?} with the store locked, {before_p99:?} before"
    );
    still_serves(&app).await;
}
