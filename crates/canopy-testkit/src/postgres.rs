//! PostgreSQL for tests: a fresh, empty database per test, and private clusters a test can stop.
//!
//! [`fresh_database`] creates a database with a unique name and returns its URL,
//! `postgres://canopy:<password>@127.0.0.1:<port>/canopy_test_<id>`. The server is the one named
//! by `CANOPY_TEST_POSTGRES_URL` (an admin URL; `scripts/with-services.sh` starts one server for
//! a whole test run and sets it), else a cluster this test process starts on first use and that
//! goes away when the process ends. [`PgCluster::start`] always starts a private cluster, for
//! tests that stop PostgreSQL under load and start it again on the same port and data.
//!
//! The cluster lifecycle lives in `postgres.sh` beside this file, shared with
//! `scripts/with-services.sh`: initdb into a temporary directory, the server on a free loopback
//! port with durability off, and clean-up when the controlling pipe closes. Databases are created
//! and dropped with `psql`, so this crate needs no database driver.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use crate::process::{Control, free_port, masked, off_runtime, spawn_script};

/// The environment variable naming a running test server by an admin URL (a role that may
/// create databases), e.g. `postgres://canopy:pw@127.0.0.1:5432/postgres`.
pub const ENV_POSTGRES_URL: &str = "CANOPY_TEST_POSTGRES_URL";

/// Overrides the directory of PostgreSQL's programs (default: the newest
/// `/usr/lib/postgresql/<version>/bin`).
pub const ENV_POSTGRES_BIN: &str = "CANOPY_PG_BIN";

const SCRIPT: &str = include_str!("postgres.sh");

/// A fresh, empty database on the test run's server (see the module docs). It is dropped when
/// the guard is.
pub async fn fresh_database() -> PgDatabase {
    off_runtime(fresh_database_blocking).await
}

/// [`fresh_database`] for callers outside an async context. It blocks for the time `CREATE
/// DATABASE` takes, and the first call of a process without `CANOPY_TEST_POSTGRES_URL` for the
/// second `initdb` and the start take.
pub fn fresh_database_blocking() -> PgDatabase {
    create_database(shared_server_url())
}

/// The admin URL of this process's server: `CANOPY_TEST_POSTGRES_URL`, or a private cluster
/// started on first use that lives as long as the process.
fn shared_server_url() -> &'static str {
    enum Server {
        External(String),
        Private(PgCluster),
    }
    static SERVER: OnceLock<Server> = OnceLock::new();
    let server = SERVER.get_or_init(|| match std::env::var(ENV_POSTGRES_URL) {
        Ok(url) if !url.trim().is_empty() => Server::External(url.trim().to_owned()),
        _ => Server::Private(PgCluster::start_blocking()),
    });
    match server {
        Server::External(url) => url,
        Server::Private(cluster) => cluster.url(),
    }
}

/// A database created for one test. Dropping it drops the database, in the background:
/// connections still open to it are ended, and nothing waits for that (see `Drop`).
#[derive(Debug)]
pub struct PgDatabase {
    url: String,
    name: String,
    admin_url: String,
}

impl PgDatabase {
    /// `postgres://user:password@127.0.0.1:port/<name>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `canopy_test_<32 hex digits>`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDatabase {
    /// Starts `DROP DATABASE ... WITH (FORCE)` and returns at once. Waiting here could stall the
    /// test for a minute: a pool of the same test, on a runtime this drop blocks, may be half-way
    /// through opening a connection, and PostgreSQL waits for that login (up to its
    /// `authentication_timeout`) before dropping. A `psql` left running when the test process
    /// exits finishes by itself; a cluster that has already gone took the database with it.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let started = Command::new(program("psql"))
            .args(["-X", "-q", "-d", &self.admin_url, "-c", &sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = started {
            // Reaped by a thread of its own, so a long test run leaves no zombies.
            let _ = std::thread::Builder::new()
                .name("canopy-testkit-dropdb".to_owned())
                .spawn(move || child.wait());
        }
    }
}

/// Creates a database with a unique name on the server at `admin_url`.
fn create_database(admin_url: &str) -> PgDatabase {
    let name = format!("canopy_test_{}", uuid::Uuid::now_v7().simple());
    if let Err(error) = psql(admin_url, &format!("CREATE DATABASE \"{name}\"")) {
        panic!(
            "cannot create a test database on {}: {error}",
            masked(admin_url)
        );
    }
    let mut url = url::Url::parse(admin_url)
        .unwrap_or_else(|e| panic!("not a URL: {}: {e}", masked(admin_url)));
    url.set_path(&name);
    PgDatabase {
        url: url.into(),
        name,
        admin_url: admin_url.to_owned(),
    }
}

/// Runs one statement with `psql`; the error is psql's own message.
fn psql(url: &str, sql: &str) -> Result<(), String> {
    let output = Command::new(program("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .map_err(|e| {
            format!("cannot run psql ({e}): install it with `apt-get install postgresql-client`")
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// A PostgreSQL program: from `CANOPY_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`,
/// else the `PATH`.
fn program(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(ENV_POSTGRES_BIN) {
        return Path::new(&dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let path = entry.path().join("bin").join(name);
            path.is_file().then_some((version, path))
        })
        .max_by_key(|(version, _)| *version);
    newest.map_or_else(|| PathBuf::from(name), |(_, path)| path)
}

/// A PostgreSQL cluster private to its owner: stopped, and its directory removed, when it is
/// dropped or when the test process ends.
pub struct PgCluster {
    url: String,
    port: u16,
    dir: PathBuf,
    control: Arc<Mutex<Control>>,
}

impl PgCluster {
    /// Creates a cluster in a temporary directory and starts it on a free loopback port. Its
    /// superuser is `canopy`, with a random password that [`PgCluster::url`] carries.
    pub async fn start() -> Self {
        off_runtime(Self::start_blocking).await
    }

    /// [`PgCluster::start`] for callers outside an async context.
    pub fn start_blocking() -> Self {
        let child = spawn_script(SCRIPT, "canopy-postgres", &[free_port().to_string()]);
        let mut control = Control::new(child, "PostgreSQL");
        let ready = control.expect_line("ready", "start PostgreSQL");
        let (url, dir) = ready.split_once(' ').unwrap_or((ready.as_str(), ""));
        let port = url::Url::parse(url)
            .ok()
            .and_then(|url| url.port())
            .unwrap_or_else(|| panic!("the PostgreSQL control script answered {ready:?}"));
        Self {
            url: url.to_owned(),
            port,
            dir: PathBuf::from(dir),
            control: Arc::new(Mutex::new(control)),
        }
    }

    /// The superuser's URL of the `postgres` database:
    /// `postgres://canopy:<password>@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port; it stays the same across [`PgCluster::stop`] and
    /// [`PgCluster::restart`].
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The temporary directory holding the data, the socket and the server's log (`log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh, empty database on this cluster.
    pub async fn create_database(&self) -> PgDatabase {
        let url = self.url.clone();
        off_runtime(move || create_database(&url)).await
    }

    /// Stops the server (fast shutdown: open connections are ended) and returns once it is down.
    /// Stopping a stopped server does nothing.
    pub async fn stop(&self) {
        Control::command(&self.control, "stop", "stopped").await;
    }

    /// Starts the stopped server again on the same port and data, and returns once it accepts
    /// connections. Restarting a running server does nothing.
    pub async fn restart(&self) {
        Control::command(&self.control, "start", "ready").await;
    }
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("url", &masked(&self.url))
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
