//! `TestApp::spawn()`: a mock provider and a Canopy server, both on port 0, ready to call.
//!
//! The store engine comes from `CANOPY_TEST_STORE`: unset or `sqlite`, a SQLite file in the
//! test's temporary directory; `postgres`, a fresh PostgreSQL database from `canopy-testkit` (on
//! the server named by `CANOPY_TEST_POSTGRES_URL`, else on a cluster of this test process);
//! `clickhouse`, a fresh ClickHouse database likewise (`CANOPY_TEST_CLICKHOUSE_URL`).
#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed expectation is a failed test"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use canopy::config::{FlagOverrides, Settings};
use canopy::serve::{self, ServeReport};
use canopy::store::Store;
use canopy_core::extract::WireFormat;
use canopy_core::{CallId, CallRecord};
use canopy_gateway::Provider;
use canopy_store::SessionSummary;
use canopy_store::writer::IngestHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running mock provider and Canopy server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of Canopy.
    pub url: String,
    /// `http://127.0.0.1:<port>` of the mock provider.
    pub mock_url: String,
    pub client: reqwest::Client,
    pub ingest: IngestHandle,
    pub store: Arc<Store>,
    pub keys: canopy_store::keys::KeyRing,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<ServeReport>>>,
    _mock_stop: oneshot::Sender<()>,
}

/// Starts the mock provider on port 0 and returns its URL; it stops when the sender drops.
pub async fn spawn_mock() -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let config = canopy_mock::MockConfig {
        record_requests: true,
        ..Default::default()
    };
    tokio::spawn(canopy_mock::serve(listener, config, async {
        let _ = rx.await;
    }));
    (url, tx)
}

/// The environment variable choosing the store engine of the end-to-end tests.
pub const ENV_STORE: &str = "CANOPY_TEST_STORE";

/// The store engine the end-to-end tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
    ClickHouse,
}

/// The engine named by `CANOPY_TEST_STORE` (default SQLite); any other value fails the test.
pub fn engine() -> Engine {
    match std::env::var(ENV_STORE).as_deref() {
        Err(_) | Ok("" | "sqlite") => Engine::Sqlite,
        Ok("postgres") => Engine::Postgres,
        Ok("clickhouse") => Engine::ClickHouse,
        Ok(other) => {
            panic!("{ENV_STORE}={other:?}: expected `sqlite`, `postgres` or `clickhouse`")
        }
    }
}

/// A database of a server engine, dropped with its guard.
enum Database {
    Postgres(canopy_testkit::postgres::PgDatabase),
    ClickHouse(canopy_testkit::clickhouse::ChDatabase),
}

impl Database {
    fn url(&self) -> &str {
        match self {
            Self::Postgres(db) => db.url(),
            Self::ClickHouse(db) => db.url(),
        }
    }
}

/// Server databases by the test directory they belong to, so that settings made again for the
/// same directory (a restart) find the same data. Dropping a `TestApp` drops its database.
static DATABASES: Mutex<Option<HashMap<PathBuf, Database>>> = Mutex::new(None);

/// The store URL of the test whose files live in `dir`: SQLite `dir/canopy.db`, or a fresh
/// server database that stays the same for `dir` until its `TestApp` is dropped.
pub fn store_url(dir: &Path) -> String {
    let fresh: fn() -> Database = match engine() {
        Engine::Sqlite => return format!("sqlite://{}", dir.join("canopy.db").display()),
        Engine::Postgres => {
            || Database::Postgres(canopy_testkit::postgres::fresh_database_blocking())
        }
        Engine::ClickHouse => {
            || Database::ClickHouse(canopy_testkit::clickhouse::fresh_database_blocking())
        }
    };
    let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    databases
        .get_or_insert_with(HashMap::new)
        .entry(dir.to_owned())
        .or_insert_with(fresh)
        .url()
        .to_owned()
}

/// The SQLite file behind `store_url(dir)`, for assertions about the file itself; `None` on
/// other engines.
pub fn sqlite_file(dir: &Path) -> Option<PathBuf> {
    (engine() == Engine::Sqlite).then(|| dir.join("canopy.db"))
}

/// Settings pointing OpenAI and Anthropic at `mock_url`, with the test's store (`store_url`).
pub fn settings(dir: &std::path::Path, mock_url: &str) -> Settings {
    let flags = FlagOverrides {
        listen: Some("127.0.0.1:0".into()),
        store: Some(store_url(dir)),
    };
    let env = figment::providers::Env::prefixed("CANOPY_TEST_UNUSED_");
    let mut settings = canopy::config::load(None, env, flags)
        .unwrap()
        .validate()
        .unwrap();
    let mock = url::Url::parse(mock_url).unwrap();
    let provider = |name: &str, format, h2| Provider {
        name: name.to_owned(),
        base_url: mock.clone(),
        format,
        http2_prior_knowledge: h2,
    };
    settings.providers = vec![
        provider("openai", WireFormat::Openai, false),
        provider("anthropic", WireFormat::Anthropic, false),
        provider("local-h2", WireFormat::Openai, true),
    ];
    settings.shutdown_grace = Duration::from_secs(5);
    // Each test's own spool: a server store's default spool is in the working directory,
    // which every test shares.
    settings.spool_dir = dir.join("canopy.db.spool");
    settings
}

impl TestApp {
    /// Starts everything with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts everything, letting the test adjust the settings first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let (mock_url, mock_stop) = spawn_mock().await;
        let dir = tempfile::tempdir().unwrap();
        let mut settings = settings(dir.path(), &mock_url);
        adjust(&mut settings);
        Self::start(settings, mock_url, mock_stop, dir).await
    }

    /// Starts Canopy with `settings` (reusing a mock and a directory, for restarts).
    pub async fn start(
        settings: Settings,
        mock_url: String,
        mock_stop: oneshot::Sender<()>,
        dir: tempfile::TempDir,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let server = tokio::spawn(serve::run(
            settings,
            listener,
            async {
                let _ = stopped.await;
            },
            move |started| {
                let _ = ready_tx.send(started);
            },
        ));
        let started = ready_rx.await.expect("the server started");
        Self {
            url,
            mock_url,
            client: reqwest::Client::new(),
            ingest: started.ingest,
            store: started.store,
            keys: started.keys,
            dir,
            stop: Some(stop),
            server: Some(server),
            _mock_stop: mock_stop,
        }
    }

    /// Creates a key for `org` and makes it effective at once; returns the secret.
    pub async fn create_key(&self, org: &str) -> String {
        let key = canopy_store::keys::generate_key().unwrap();
        self.store
            .keys
            .insert_key(org, &key.hash, &key.prefix)
            .await
            .unwrap();
        self.keys.refresh().await.unwrap();
        key.secret
    }

    /// Waits until the writer has written `n` records in total.
    pub async fn wait_written(&self, n: u64) {
        let mut written = self.ingest.written();
        tokio::time::timeout(Duration::from_secs(10), written.wait_for(|w| *w >= n))
            .await
            .expect("records written within 10 s")
            .unwrap();
    }

    /// Sends `method` to `/api{path}`, with `key` as a bearer token when given and `body` as
    /// JSON; the status and the JSON answer (null when it is not JSON).
    pub async fn api(
        &self,
        key: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .request(method, format!("{}/api{path}", self.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Reads one call from the store (default organisation).
    pub async fn call(&self, id: &str) -> CallRecord {
        let id = CallId::parse(id).expect("a call id");
        self.store
            .query
            .get_call("default", id)
            .await
            .unwrap()
            .expect("the call is stored")
    }

    /// Reads one session's totals.
    pub async fn session(&self, id: &str) -> SessionSummary {
        self.store
            .query
            .get_session("default", id)
            .await
            .unwrap()
            .expect("the session is stored")
    }

    /// The bytes the mock provider answers `body` with when called directly.
    pub async fn direct(&self, path: &str, body: &serde_json::Value) -> Vec<u8> {
        let response = self
            .client
            .post(format!("{}{path}", self.mock_url))
            .json(body)
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap().to_vec()
    }

    /// What the mock provider received, oldest first.
    pub async fn upstream_requests(&self) -> Vec<serde_json::Value> {
        let url = format!("{}/mock/requests", self.mock_url);
        self.client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Shuts Canopy down gracefully and returns its report (the mock keeps running).
    pub async fn shutdown(&mut self) -> ServeReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().expect("running").await.unwrap().unwrap()
    }

    /// Shuts down and hands back what a restart needs.
    pub async fn into_parts(mut self) -> (String, oneshot::Sender<()>, tempfile::TempDir) {
        self.shutdown().await;
        let (stop_tx, _) = oneshot::channel();
        let mock_stop = std::mem::replace(&mut self._mock_stop, stop_tx);
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (self.mock_url.clone(), mock_stop, dir)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The database of a directory handed on by `into_parts` stays for the restart.
        let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(databases) = databases.as_mut() {
            databases.remove(self.dir.path());
        }
    }
}

/// The `Helicone-Id` of a response.
pub fn helicone_id(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("helicone-id")
        .expect("Helicone-Id header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A chat request body.
pub fn chat(model: &str, stream: bool, text: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "stream": stream, "messages": [
        {"role": "system", "content": "You triage support tickets."},
        {"role": "user", "content": text},
    ]})
}

/// A custom log (`/custom/v1/log`) of a vector search sent to `url`, with `meta` in its
/// request: started at second 1,700,000,001 of the epoch, ended 500 ms later (the end given in
/// milliseconds, as Helicone's helpers may send it).
pub fn vector_search_log(url: &str, meta: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "providerRequest": {"url": url, "json": {"_type": "vector_db", "operation": "search", "text": "refunds"},
                            "meta": meta},
        "providerResponse": {"json": {"matches": []}, "status": 200},
        "timing": {"startTime": "1700000001", "endTime": "1700000001500"}
    })
}

/// Every file under `dir`, read whole, for searching the store and the spool for a value.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

/// Whether `bytes` hold `needle` anywhere.
pub fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A log writer into a shared buffer, to search what was logged.
#[derive(Clone, Default)]
pub struct LogBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    /// Captures everything logged on this thread, down to DEBUG, for as long as the guard
    /// lives. A test that runs on one thread (tokio's default) sees the server's logs too.
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let log = Self::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
