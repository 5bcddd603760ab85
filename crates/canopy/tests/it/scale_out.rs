//! Several gateways on one shared store, PostgreSQL and ClickHouse alike: two `canopy serve`
//! processes share one database, one session's calls alternate between them under
//! concurrency, keys made or revoked anywhere apply everywhere, the store stopped under load
//! loses no record, and a bad store URL is a clear error.
//!
//! Each case runs on both server engines whatever `CANOPY_TEST_STORE` says: they are about the
//! shared store.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::spawn_mock;

/// A `canopy serve` process with its own spool, stopped (SIGKILL) when dropped. Its log goes
/// to the test's output and, line by line, to `log`.
pub struct Gateway {
    pub url: String,
    child: Child,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Gateway {
    async fn start(dir: &Path, name: &str, store: &str, mock_url: &str) -> Self {
        Self::start_with_env(dir, name, store, mock_url, &[]).await
    }

    /// `start`, with `env` added to the process's environment.
    pub async fn start_with_env(
        dir: &Path,
        name: &str,
        store: &str,
        mock_url: &str,
        env: &[(&str, &Path)],
    ) -> Self {
        Self::start_configured(dir, name, store, mock_url, "", env).await
    }

    /// `start_with_env`, with `extra` appended to the configuration file.
    pub async fn start_configured(
        dir: &Path,
        name: &str,
        store: &str,
        mock_url: &str,
        extra: &str,
        env: &[(&str, &Path)],
    ) -> Self {
        let program = Command::new(env!("CARGO_BIN_EXE_canopy"));
        Self::launch(program, dir, name, store, mock_url, extra, env).await
    }

    /// `start`, with the process allowed one CPU, as in a container limited to one: the
    /// first CPU this test may use, set by `taskset`.
    pub async fn start_on_one_cpu(dir: &Path, name: &str, store: &str, mock_url: &str) -> Self {
        let allowed = allowed_cpus("self");
        let cpu = allowed.split([',', '-']).next().unwrap().to_owned();
        let mut program = Command::new("taskset");
        program.args(["-c", &cpu, env!("CARGO_BIN_EXE_canopy")]);
        Self::launch(program, dir, name, store, mock_url, "", &[]).await
    }

    /// Runs `program serve` with a configuration file for `mock_url` and `extra`.
    async fn launch(
        mut program: Command,
        dir: &Path,
        name: &str,
        store: &str,
        mock_url: &str,
        extra: &str,
        env: &[(&str, &Path)],
    ) -> Self {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "spool_dir = \"{}\"\n[providers.openai]\nbase_url = \"{mock_url}\"\n{extra}",
                dir.join(format!("{name}.spool")).display()
            ),
        )
        .unwrap();
        let mut child = program
            .arg("serve")
            .env("CANOPY_CONFIG", &config)
            .env("CANOPY_LISTEN", "127.0.0.1:0")
            .env("CANOPY_STORE", store)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (log_tx, log) = tokio::sync::mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                // The test's own output shows the gateway's log when it fails.
                let _ = writeln!(std::io::stderr(), "{line}");
                let _ = log_tx.send(line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("canopy serve announces its address")
            .unwrap()
            .expect("a first line");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("an address in the first line")
            .to_owned();
        assert!(
            !first.contains("secret-pw"),
            "the store password is never printed: {first}"
        );
        // Keep reading so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { url, child, log }
    }

    /// Waits until the gateway logs a line containing `needle`, and returns it.
    pub async fn logged(&mut self, needle: &str, limit: Duration) -> String {
        let found = tokio::time::timeout(limit, async {
            while let Some(line) = self.log.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no log line with `{needle}` within {limit:?}"),
        }
    }

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the process the way an operator does, and waits for it: its exit status, or
    /// `None` if it was still running after 30 s.
    pub async fn terminate(mut self) -> Option<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let waited = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        waited.ok().and_then(Result::ok)
    }
}

/// The CPUs `process` (a pid, or `self`) may run on, as Linux lists them: `0-3`, `1,3`, `2`.
pub fn allowed_cpus(process: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Linux reports the CPUs a process may use")
        .trim()
        .to_owned()
}

/// A server store that a test can stop and start again on the same address and data.
trait Outage {
    async fn stop(&self);
    async fn restart(&self);
}

impl Outage for canopy_testkit::postgres::PgCluster {
    async fn stop(&self) {
        canopy_testkit::postgres::PgCluster::stop(self).await;
    }
    async fn restart(&self) {
        canopy_testkit::postgres::PgCluster::restart(self).await;
    }
}

impl Outage for canopy_testkit::clickhouse::ChServer {
    async fn stop(&self) {
        canopy_testkit::clickhouse::ChServer::stop(self).await;
    }
    async fn restart(&self) {
        canopy_testkit::clickhouse::ChServer::restart(self).await;
    }
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// An empty configuration file, so that no `canopy.toml` of the working directory is read.
fn empty_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("empty.toml");
    std::fs::write(&path, "").unwrap();
    path
}

fn chat_body(i: usize) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": format!("step {i} of the shared session")}
    ]})
}

async fn call(
    client: &reqwest::Client,
    url: &str,
    session: &str,
    i: usize,
    key: Option<&str>,
) -> reqwest::StatusCode {
    let mut request = client
        .post(format!("{url}/v1/chat/completions"))
        .header("Authorization", "Bearer sk-upstream")
        .header("Helicone-Session-Id", session)
        .header("Helicone-Session-Path", format!("/step/{}", i % 5))
        .header("Helicone-Session-Name", "Shared")
        .json(&chat_body(i));
    if let Some(key) = key {
        request = request.header("Helicone-Auth", format!("Bearer {key}"));
    }
    match request.send().await {
        Ok(response) => response.status(),
        Err(_) => reqwest::StatusCode::BAD_GATEWAY,
    }
}

/// Checks `check` every 20 ms until it holds, failing after `limit`; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
    }
}

pub async fn session(client: &reqwest::Client, url: &str, id: &str, key: Option<&str>) -> Value {
    let mut request = client.get(format!("{url}/api/v1/session/{id}"));
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    match request.send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_across_two_gateways_has_exact_totals_and_one_tree_on_postgres() {
    let db = canopy_testkit::postgres::fresh_database().await;
    one_session_across_two_gateways(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_across_two_gateways_has_exact_totals_and_one_tree_on_clickhouse() {
    let db = canopy_testkit::clickhouse::fresh_database().await;
    one_session_across_two_gateways(db.url()).await;
}

async fn one_session_across_two_gateways(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _mock_stop) = spawn_mock().await;
    let a = Gateway::start(dir.path(), "a", store, &mock).await;
    let b = Gateway::start(dir.path(), "b", store, &mock).await;
    let client = client();
    let calls = 240;
    let statuses: Vec<reqwest::StatusCode> = futures_util::stream::iter(0..calls)
        .map(|i| {
            let url = if i % 2 == 0 { &a.url } else { &b.url };
            let client = &client;
            async move { call(client, url, "shared", i, None).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");

    eventually(Duration::from_secs(20), "every call recorded", || async {
        session(&client, &a.url, "shared", None).await["data"]["session"]["total_requests"]
            == json!(calls)
    })
    .await;
    let from_a = session(&client, &a.url, "shared", None).await["data"].clone();
    let from_b = session(&client, &b.url, "shared", None).await["data"].clone();
    assert_eq!(from_a, from_b, "both gateways serve the same session");

    let s = &from_a["session"];
    let requests = from_a["requests"].as_array().unwrap();
    assert_eq!(requests.len(), calls);
    let ids: std::collections::HashSet<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), calls, "no call is stored twice");
    let sum = |field: &str| -> i64 { requests.iter().map(|r| r[field].as_i64().unwrap()).sum() };
    assert_eq!(s["prompt_tokens"].as_i64().unwrap(), sum("prompt_tokens"));
    assert_eq!(
        s["completion_tokens"].as_i64().unwrap(),
        sum("completion_tokens")
    );
    let cost: f64 = requests.iter().map(|r| r["cost"].as_f64().unwrap()).sum();
    assert!((s["total_cost"].as_f64().unwrap() - cost).abs() < 1e-9);
    assert_eq!(s["session_name"], "Shared");
    let tree = &from_a["tree"];
    assert_eq!(tree["rollup"]["requests"], json!(calls));
    let children = tree["children"].as_array().unwrap();
    assert_eq!(children.len(), 1, "one /step node");
    let steps = children[0]["children"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "/step/0 … /step/4");
    for step in steps {
        assert_eq!(step["rollup"]["requests"], json!(calls / 5));
    }
    a.terminate().await;
    b.terminate().await;
}

/// Runs a CLI command against the store and returns its stdout.
async fn cli(dir: &Path, store: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
        .args(args)
        .env("CANOPY_STORE", store)
        .env("CANOPY_CONFIG", empty_config(dir))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_or_revoked_anywhere_applies_on_every_gateway_within_a_second_on_postgres() {
    let db = canopy_testkit::postgres::fresh_database().await;
    keys_apply_on_every_gateway(db.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_made_or_revoked_anywhere_applies_on_every_gateway_within_a_second_on_clickhouse() {
    let db = canopy_testkit::clickhouse::fresh_database().await;
    keys_apply_on_every_gateway(db.url()).await;
}

async fn keys_apply_on_every_gateway(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _mock_stop) = spawn_mock().await;
    let a = Gateway::start(dir.path(), "a", store, &mock).await;
    let b = Gateway::start(dir.path(), "b", store, &mock).await;
    let client = client();
    for g in [&a, &b] {
        assert!(
            call(&client, &g.url, "s", 0, None).await.is_success(),
            "open"
        );
    }

    let created = cli(dir.path(), store, &["keys", "create", "--org", "acme"]).await;
    let key = created
        .lines()
        .find(|l| l.starts_with("sk-canopy-"))
        .unwrap()
        .to_owned();
    let id = created.split_whitespace().nth(2).unwrap().to_owned();
    for g in [&a, &b] {
        let took = eventually(Duration::from_secs(5), "the new key applies", || async {
            call(&client, &g.url, "s", 0, None).await == reqwest::StatusCode::UNAUTHORIZED
                && call(&client, &g.url, "s", 0, Some(&key)).await.is_success()
        })
        .await;
        assert!(took < Duration::from_millis(2500), "took {took:?}");
    }

    cli(dir.path(), store, &["keys", "revoke", &id]).await;
    for g in [&a, &b] {
        let took = eventually(Duration::from_secs(5), "the revocation applies", || async {
            call(&client, &g.url, "s", 0, Some(&key)).await == reqwest::StatusCode::UNAUTHORIZED
        })
        .await;
        assert!(took < Duration::from_millis(2500), "took {took:?}");
    }
    a.terminate().await;
    b.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_loses_no_record() {
    let cluster = canopy_testkit::postgres::PgCluster::start().await;
    let db = cluster.create_database().await;
    stopped_under_load_loses_no_record(db.url(), &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_under_load_loses_no_record() {
    let server = canopy_testkit::clickhouse::ChServer::start().await;
    let db = server.create_database().await;
    stopped_under_load_loses_no_record(db.url(), &server).await;
}

async fn stopped_under_load_loses_no_record(store: &str, server: &impl Outage) {
    let dir = tempfile::tempdir().unwrap();
    let (mock, _mock_stop) = spawn_mock().await;
    let gateway = Gateway::start(dir.path(), "a", store, &mock).await;
    let client = client();
    let send = |from: usize, n: usize| {
        let (client, url) = (&client, &gateway.url);
        futures_util::stream::iter(from..from + n)
            .map(move |i| async move { call(client, url, "fault", i, None).await })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };

    let before = send(0, 100).await;
    server.stop().await;
    let during = send(100, 200).await;
    server.restart().await;
    let after = send(300, 100).await;
    for (phase, statuses) in [("before", before), ("during", during), ("after", after)] {
        assert!(
            statuses.iter().all(|s| s.is_success()),
            "the proxy answers {phase} the outage: {statuses:?}"
        );
    }

    eventually(Duration::from_secs(60), "every record written", || async {
        session(&client, &gateway.url, "fault", None).await["data"]["session"]["total_requests"]
            == json!(400)
    })
    .await;
    let s = session(&client, &gateway.url, "fault", None).await;
    let requests = s["data"]["requests"].as_array().unwrap();
    let ids: std::collections::HashSet<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 400, "each call once");
    gateway.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_postgres_url_is_a_clear_error_with_the_password_masked() {
    let db = canopy_testkit::postgres::fresh_database().await;
    bad_urls_are_clear_errors(db.url(), db.name(), "password").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_clickhouse_url_is_a_clear_error_with_the_password_masked() {
    let db = canopy_testkit::clickhouse::fresh_database().await;
    // ClickHouse's own error code for a refused login.
    bad_urls_are_clear_errors(db.url(), db.name(), "ClickHouse error 516").await;
}

/// `canopy serve` on a wrong password, a missing database and an unreachable server, each
/// near `url` (a working store URL of the database `name`), stops with an error that names the
/// URL with its password masked; a refused login says `wrong_password_says`.
async fn bad_urls_are_clear_errors(url: &str, name: &str, wrong_password_says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (prefix, rest) = url.split_once("://").unwrap();
    let (userinfo, host_db) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    let (host, _) = host_db.split_once('/').unwrap();
    let wrong_password = format!("{prefix}://{user}:secret-pw@{host}/{name}");
    let missing_db = format!("{prefix}://{userinfo}@{host}/no_such_database");
    let unreachable = format!("{prefix}://{user}:secret-pw@127.0.0.1:1/db");
    for (url, says) in [
        (wrong_password.as_str(), wrong_password_says),
        (missing_db.as_str(), "no_such_database"),
        (unreachable.as_str(), "127.0.0.1:1"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_canopy"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store", url])
            .env("CANOPY_CONFIG", empty_config(dir.path()))
            .env("NO_COLOR", "1")
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: {stderr}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(
            stderr.contains(":***@"),
            "the URL is named, masked: {stderr}"
        );
        assert!(!stderr.contains("secret-pw"), "{stderr}");
        let password = userinfo.split(':').nth(1).unwrap_or("");
        assert!(
            password.is_empty() || !stderr.contains(password),
            "{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clickhouse_error_while_serving_is_logged_with_its_code_and_loses_no_record() {
    let db = canopy_testkit::clickhouse::fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (mock, _mock_stop) = spawn_mock().await;
    let mut gateway = Gateway::start(dir.path(), "a", db.url(), &mock).await;
    let client = client();
    assert!(
        call(&client, &gateway.url, "err", 0, None)
            .await
            .is_success()
    );
    eventually(
        Duration::from_secs(20),
        "the first call recorded",
        || async {
            session(&client, &gateway.url, "err", None).await["data"]["session"]["total_requests"]
                == json!(1)
        },
    )
    .await;

    // With a table the writer inserts into gone, ClickHouse answers every write with
    // UNKNOWN_TABLE (code 60).
    clickhouse(
        &client,
        db.url(),
        "RENAME TABLE call_bodies TO call_bodies_away",
    )
    .await;
    for i in 1..6 {
        assert!(
            call(&client, &gateway.url, "err", i, None)
                .await
                .is_success()
        );
    }
    let line = gateway
        .logged("ClickHouse error 60", Duration::from_secs(30))
        .await;
    let password = url::Url::parse(db.url())
        .unwrap()
        .password()
        .unwrap_or("")
        .to_owned();
    assert!(password.is_empty() || !line.contains(&password), "{line}");

    clickhouse(
        &client,
        db.url(),
        "RENAME TABLE call_bodies_away TO call_bodies",
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "the spooled calls written",
        || async {
            session(&client, &gateway.url, "err", None).await["data"]["session"]["total_requests"]
                == json!(6)
        },
    )
    .await;
    let s = session(&client, &gateway.url, "err", None).await;
    assert_eq!(
        s["data"]["requests"].as_array().unwrap().len(),
        6,
        "each call once"
    );
    gateway.terminate().await;
}

/// Runs one statement on the ClickHouse database of the store URL `store`.
async fn clickhouse(client: &reqwest::Client, store: &str, statement: &str) {
    let url = url::Url::parse(store).unwrap();
    let endpoint = format!(
        "http://{}:{}/?database={}",
        url.host_str().unwrap(),
        url.port().unwrap(),
        url.path().trim_start_matches('/')
    );
    let response = client
        .post(endpoint)
        .header("X-ClickHouse-User", url.username())
        .header("X-ClickHouse-Key", url.password().unwrap_or(""))
        .body(statement.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "{statement}: {}",
        response.text().await.unwrap()
    );
}
