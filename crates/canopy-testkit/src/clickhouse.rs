//! ClickHouse for tests: a fresh, empty database per test, and private servers a test can stop.
//!
//! The server is real ClickHouse (chdb, ClickHouse in process, from the PyPI package
//! `chdb-core`) behind ClickHouse's HTTP interface, served by `clickhouse_server.py` beside this
//! file; that file's docstring lists what it speaks and where chdb differs from a server.
//!
//! URLs name the HTTP interface: `clickhouse://<user>:<password>@127.0.0.1:<port>/<database>`,
//! plain HTTP on that port, the path being the default database. [`fresh_database`] creates
//! `canopy_test_<32 hex digits>` and returns such a URL for it. The server is the one named by
//! `CANOPY_TEST_CLICKHOUSE_URL` (an admin URL; `scripts/with-services.sh` starts one server for a
//! whole test run and sets it), else a server this test process starts on first use and that
//! goes away when the process ends. [`ChServer::start`] always starts a private server, for
//! tests that stop ClickHouse under load and start it again on the same port and data.
//!
//! The server lifecycle lives in `clickhouse.sh` beside this file, shared with
//! `scripts/with-services.sh`. It runs the server with `$CANOPY_CHDB_PYTHON`, else
//! `$CANOPY_VENV/bin/python`, else `~/.cache/canopy-venv/bin/python`; `bash
//! scripts/install-chdb.sh` installs chdb there, and a Python without it is a panic naming that
//! command. Databases are created and dropped with plain HTTP requests, so this crate needs no
//! ClickHouse client.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::http::{self, Response};
use crate::process::{Control, free_port, masked, off_runtime, spawn_script};

/// The environment variable naming a running test server by an admin URL (a user that may
/// create databases), e.g. `clickhouse://canopy:pw@127.0.0.1:8123/default`.
pub const ENV_CLICKHOUSE_URL: &str = "CANOPY_TEST_CLICKHOUSE_URL";

/// The Python that runs the test server; it must be able to `import chdb`. Without it, the
/// virtualenv `$CANOPY_VENV` (default `~/.cache/canopy-venv`) is used.
pub const ENV_CHDB_PYTHON: &str = "CANOPY_CHDB_PYTHON";

const SCRIPT: &str = include_str!("clickhouse.sh");

/// The server program, run from the source tree (it is Python, read when a server starts).
const SERVER_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/clickhouse_server.py");

/// A fresh, empty database on the test run's server (see the module docs). It is dropped when
/// the guard is.
pub async fn fresh_database() -> ChDatabase {
    off_runtime(fresh_database_blocking).await
}

/// [`fresh_database`] for callers outside an async context. It blocks for the time `CREATE
/// DATABASE` takes, and the first call of a process without `CANOPY_TEST_CLICKHOUSE_URL` for
/// the time a server takes to start (about a second).
pub fn fresh_database_blocking() -> ChDatabase {
    create_database(shared_server_url())
}

/// The admin URL of this process's server: `CANOPY_TEST_CLICKHOUSE_URL`, or a private server
/// started on first use that lives as long as the process.
fn shared_server_url() -> &'static str {
    enum Server {
        External(String),
        Private(ChServer),
    }
    static SERVER: OnceLock<Server> = OnceLock::new();
    let server = SERVER.get_or_init(|| match std::env::var(ENV_CLICKHOUSE_URL) {
        Ok(url) if !url.trim().is_empty() => Server::External(url.trim().to_owned()),
        _ => Server::Private(ChServer::start_blocking()),
    });
    match server {
        Server::External(url) => url,
        Server::Private(server) => server.url(),
    }
}

/// A database created for one test. Dropping it drops the database, in the background.
pub struct ChDatabase {
    url: String,
    name: String,
    admin: Endpoint,
}

impl ChDatabase {
    /// `clickhouse://user:password@127.0.0.1:port/<name>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `canopy_test_<32 hex digits>`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for ChDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChDatabase")
            .field("url", &masked(&self.url))
            .finish_non_exhaustive()
    }
}

impl Drop for ChDatabase {
    /// Starts `DROP DATABASE ... SYNC` on a thread of its own and returns at once, so a test
    /// never waits for it; a server that has gone took the database with it.
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS `{}` SYNC", self.name);
        let _ = std::thread::Builder::new()
            .name("canopy-testkit-dropdb".to_owned())
            .spawn(move || admin.execute(&sql));
    }
}

/// Creates a database with a unique name on the server at `admin_url`.
fn create_database(admin_url: &str) -> ChDatabase {
    let admin = Endpoint::parse(admin_url).unwrap_or_else(|e| panic!("{e}"));
    let name = format!("canopy_test_{}", uuid::Uuid::now_v7().simple());
    if let Err(error) = admin.execute(&format!("CREATE DATABASE `{name}`")) {
        panic!(
            "cannot create a test database on {}: {error}",
            masked(admin_url)
        );
    }
    let mut url = url::Url::parse(admin_url)
        .unwrap_or_else(|e| panic!("not a URL: {}: {e}", masked(admin_url)));
    url.set_path(&name);
    ChDatabase {
        url: url.into(),
        name,
        admin,
    }
}

/// Where and as whom to reach a server over HTTP, from a `clickhouse://` URL.
#[derive(Clone)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    user: String,
    password: String,
    database: String,
}

impl Endpoint {
    /// Reads `clickhouse://[user[:password]@]host[:port][/database]`; the defaults are those
    /// of a ClickHouse server: user `default` without a password, port 8123, database
    /// `default`.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("not a URL: {}: {e}", masked(url)))?;
        if parsed.scheme() != "clickhouse" {
            return Err(format!("not a clickhouse:// URL: {}", masked(url)));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("no host in {}", masked(url)))?;
        let user = match percent_decoded(parsed.username()) {
            user if user.is_empty() => "default".to_owned(),
            user => user,
        };
        let database = match percent_decoded(parsed.path().trim_start_matches('/')) {
            database if database.is_empty() => "default".to_owned(),
            database => database,
        };
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: parsed.port().unwrap_or(8123),
            user,
            password: percent_decoded(parsed.password().unwrap_or("")),
            database,
        })
    }

    /// POSTs `body` to `/`, with the URL's database, the URL parameters `params` (settings,
    /// `query`, `param_<name>`, ...) and the URL's credentials in ClickHouse's headers.
    pub(crate) fn post(&self, params: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !params.iter().any(|(name, _)| *name == "database") {
            query.append_pair("database", &self.database);
        }
        query.extend_pairs(params);
        let target = format!("/?{}", query.finish());
        let headers = [
            ("X-ClickHouse-User", self.user.as_str()),
            ("X-ClickHouse-Key", self.password.as_str()),
        ];
        http::send(&self.host, self.port, "POST", &target, &headers, body)
    }

    /// Runs one statement; the error is the server's own message, or why it was not reached.
    pub(crate) fn execute(&self, sql: &str) -> Result<(), String> {
        match self.post(&[], sql.as_bytes()) {
            Ok(response) if response.status == 200 => Ok(()),
            Ok(response) => Err(format!(
                "HTTP {}: {}",
                response.status,
                response.text().trim()
            )),
            Err(error) => Err(format!("cannot reach {}:{}: {error}", self.host, self.port)),
        }
    }
}

/// `%XX` sequences decoded, as URLs carry user names and passwords.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// A ClickHouse test server private to its owner: stopped, and its directory removed, when it is
/// dropped or when the test process ends.
pub struct ChServer {
    url: String,
    port: u16,
    dir: PathBuf,
    control: Arc<Mutex<Control>>,
}

impl ChServer {
    /// Starts a server with its data in a temporary directory, on a free loopback port, and
    /// returns once it answers queries. Its user is `canopy`, with a random password that
    /// [`ChServer::url`] carries.
    pub async fn start() -> Self {
        off_runtime(Self::start_blocking).await
    }

    /// [`ChServer::start`] for callers outside an async context.
    pub fn start_blocking() -> Self {
        let args = [SERVER_PY.to_owned(), free_port().to_string()];
        let child = spawn_script(SCRIPT, "canopy-clickhouse", &args);
        let mut control = Control::new(child, "ClickHouse");
        let ready = control.expect_line("ready", "start ClickHouse");
        let (url, dir) = ready.split_once(' ').unwrap_or((ready.as_str(), ""));
        let port = url::Url::parse(url)
            .ok()
            .and_then(|url| url.port())
            .unwrap_or_else(|| panic!("the ClickHouse control script answered {ready:?}"));
        Self {
            url: url.to_owned(),
            port,
            dir: PathBuf::from(dir),
            control: Arc::new(Mutex::new(control)),
        }
    }

    /// The admin URL: `clickhouse://canopy:<password>@127.0.0.1:<port>/default`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port; it stays the same across [`ChServer::stop`] and
    /// [`ChServer::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory holding the data (`data`) and the server's log (`log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh, empty database on this server.
    pub async fn create_database(&self) -> ChDatabase {
        let url = self.url.clone();
        off_runtime(move || create_database(&url)).await
    }

    /// Stops the server and returns once it is down: its port refuses connections and open
    /// connections are ended. Stopping a stopped server does nothing.
    pub async fn stop(&self) {
        Control::command(&self.control, "stop", "stopped").await;
    }

    /// Starts the stopped server again on the same port and data, and returns once it answers
    /// queries. Restarting a running server does nothing.
    pub async fn restart(&self) {
        Control::command(&self.control, "start", "ready").await;
    }
}

impl std::fmt::Debug for ChServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChServer")
            .field("url", &masked(&self.url))
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
