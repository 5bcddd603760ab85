//! A small client for ClickHouse's HTTP interface: one statement per request, values bound as
//! query parameters (`{p1:String}` in the text, `param_p1=` in the URL), rows in and out as
//! `JSONEachRow`.
//!
//! An error answer carries ClickHouse's own error code (the `X-ClickHouse-Exception-Code`
//! header, or the `Code: N.` its body starts with); [`ChError`] keeps it, and the message says
//! it, so a log line names the code a ClickHouse operator looks up.

use std::fmt;
use std::time::Duration;

use canopy_store::sql::{Arg, Sql};
use serde::de::DeserializeOwned;

/// Where and as whom to connect, from a `clickhouse://user:password@host:port/db` URL.
#[derive(Clone)]
pub(crate) struct Target {
    /// `http://host:port/` (or `https://` with `?secure=true`).
    pub base: url::Url,
    pub user: String,
    pub password: String,
    pub database: String,
    /// The cluster named by `?cluster=`, for replicated and distributed tables.
    pub cluster: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("base", &self.base.as_str())
            .field("user", &self.user)
            .field("database", &self.database)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Reads a store URL: `clickhouse://[user[:password]@]host[:port][/database]`, with the
    /// optional parameters `secure=true` (HTTPS, default port 8443) and `cluster=<name>`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
        if parsed.scheme() != "clickhouse" {
            return Err("the scheme must be clickhouse://".to_owned());
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL names no host")?;
        let mut secure = false;
        let mut cluster = None;
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "secure" => secure = matches!(value.as_ref(), "true" | "1"),
                "cluster" if !value.is_empty() => {
                    if !value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    {
                        return Err("a cluster name is letters, digits, `_`, `-` and `.`".into());
                    }
                    cluster = Some(value.into_owned());
                }
                other => return Err(format!("unknown parameter `{other}`")),
            }
        }
        let port = parsed.port().unwrap_or(if secure { 8443 } else { 8123 });
        let scheme = if secure { "https" } else { "http" };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let base =
            url::Url::parse(&format!("{scheme}://{host}:{port}/")).map_err(|e| e.to_string())?;
        let database = parsed.path().trim_start_matches('/');
        let database = if database.is_empty() {
            "default".to_owned()
        } else {
            decode(database)
        };
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err("a database name is letters, digits and `_`".to_owned());
        }
        let user = match parsed.username() {
            "" => "default".to_owned(),
            user => decode(user),
        };
        Ok(Self {
            base,
            user,
            password: parsed.password().map(decode).unwrap_or_default(),
            database,
            cluster,
        })
    }
}

fn decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A failed request: ClickHouse's error code when it answered with one.
#[derive(Debug)]
pub(crate) struct ChError {
    /// ClickHouse's error code (`Code: 60` is UNKNOWN_TABLE), if the server sent one.
    pub code: Option<u32>,
    pub message: String,
}

impl fmt::Display for ChError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "ClickHouse error {code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ChError {}

impl From<reqwest::Error> for ChError {
    fn from(e: reqwest::Error) -> Self {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        Self {
            code: None,
            message,
        }
    }
}

/// A ClickHouse HTTP connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    http: reqwest::Client,
    target: Target,
    /// Held shared by every request in flight; [`Client::close`] takes it whole, so it waits
    /// for them, and then refuses every later request.
    open: std::sync::Arc<tokio::sync::RwLock<bool>>,
}

/// One setting applied to one request.
pub(crate) type Setting<'a> = (&'a str, &'a str);

impl Client {
    pub fn new(target: Target) -> Result<Self, ChError> {
        // HTTPS needs a process-wide provider; the first caller installs ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            target,
            open: std::sync::Arc::new(tokio::sync::RwLock::new(true)),
        })
    }

    /// Waits for the requests in flight, then refuses every later one.
    pub async fn close(&self) {
        *self.open.write().await = false;
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs a statement that returns nothing.
    pub async fn execute(&self, sql: &Sql<'_>) -> Result<(), ChError> {
        self.send(sql.text(), sql.args(), &[]).await?;
        Ok(())
    }

    /// Runs a query and decodes its rows (`FORMAT JSONEachRow` is appended).
    pub async fn rows<T: DeserializeOwned>(&self, sql: &Sql<'_>) -> Result<Vec<T>, ChError> {
        let text = format!("{} FORMAT JSONEachRow", sql.text());
        // 64-bit integers as JSON numbers, not strings.
        let settings = [("output_format_json_quote_64bit_integers", "0")];
        let body = self.send(&text, sql.args(), &settings).await?;
        body.split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).map_err(|e| ChError {
                    code: None,
                    message: format!("an answer row does not decode: {e}"),
                })
            })
            .collect()
    }

    /// Runs a query that returns one row.
    pub async fn row<T: DeserializeOwned>(&self, sql: &Sql<'_>) -> Result<T, ChError> {
        self.rows(sql).await?.into_iter().next().ok_or(ChError {
            code: None,
            message: "the query returned no row".to_owned(),
        })
    }

    /// Inserts rows given as JSON lines into `table (columns)`. With a `token`, ClickHouse
    /// drops an insert whose token it has already seen (the tables keep a deduplication
    /// window), so a retried insert writes nothing twice.
    pub async fn insert(
        &self,
        table: &str,
        columns: &str,
        rows: Vec<u8>,
        token: Option<&str>,
    ) -> Result<(), ChError> {
        let statement = format!("INSERT INTO {table} ({columns}) FORMAT JSONEachRow");
        // Synchronous inserts: an asynchronous one (the default of recent servers) would be
        // acknowledged before it is readable, and its deduplication token ignored.
        let mut settings: Vec<Setting<'_>> =
            vec![("input_format_null_as_default", "0"), ("async_insert", "0")];
        if let Some(token) = token {
            settings.push(("insert_deduplication_token", token));
            settings.push(("deduplicate_blocks_in_dependent_materialized_views", "1"));
        }
        if self.target.cluster.is_some() {
            // Rows reach the shards before the insert returns, so a read that follows sees
            // them.
            settings.push(("distributed_foreground_insert", "1"));
        }
        self.send_query_in_url(&statement, &settings, rows).await?;
        Ok(())
    }

    /// Answers whether the server is up and the credentials are good.
    pub async fn ping(&self) -> Result<(), ChError> {
        let sql = Sql::new(&crate::dialect::DIALECT, "SELECT 1");
        self.execute(&sql).await
    }

    fn request(&self, url: url::Url) -> reqwest::RequestBuilder {
        self.http
            .post(url)
            .header("X-ClickHouse-User", &self.target.user)
            .header("X-ClickHouse-Key", &self.target.password)
    }

    fn url(&self, settings: &[Setting<'_>]) -> url::Url {
        let mut url = self.target.base.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("database", &self.target.database);
            for (key, value) in settings {
                query.append_pair(key, value);
            }
        }
        url
    }

    async fn send(
        &self,
        text: &str,
        args: &[Arg],
        settings: &[Setting<'_>],
    ) -> Result<Vec<u8>, ChError> {
        let open = self.open.read().await;
        if !*open {
            return Err(closed());
        }
        let mut url = self.url(settings);
        {
            let mut query = url.query_pairs_mut();
            for (n, arg) in args.iter().enumerate() {
                query.append_pair(&format!("param_p{}", n + 1), &param_value(arg));
            }
        }
        let response = self.request(url).body(text.to_owned()).send().await?;
        answer(response).await
    }

    async fn send_query_in_url(
        &self,
        statement: &str,
        settings: &[Setting<'_>],
        data: Vec<u8>,
    ) -> Result<Vec<u8>, ChError> {
        let open = self.open.read().await;
        if !*open {
            return Err(closed());
        }
        let mut url = self.url(settings);
        url.query_pairs_mut().append_pair("query", statement);
        let response = self.request(url).body(data).send().await?;
        answer(response).await
    }
}

fn closed() -> ChError {
    ChError {
        code: None,
        message: "the store is closed".to_owned(),
    }
}

async fn answer(response: reqwest::Response) -> Result<Vec<u8>, ChError> {
    let status = response.status();
    let header_code = response
        .headers()
        .get("X-ClickHouse-Exception-Code")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let body = response.bytes().await?;
    if status.is_success() {
        return Ok(body.to_vec());
    }
    let text = String::from_utf8_lossy(&body);
    let code = header_code.or_else(|| {
        text.trim_start()
            .strip_prefix("Code: ")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
    });
    let message = text.trim().chars().take(2_000).collect::<String>();
    Err(ChError {
        code,
        message: if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        },
    })
}

/// A bound value in the escaped text form ClickHouse parses query parameters from.
fn param_value(arg: &Arg) -> String {
    match arg {
        Arg::Null => "\\N".to_owned(),
        Arg::Text(text) => escape(text),
        Arg::Int(n) => n.to_string(),
        Arg::Float(f) => {
            if f.is_finite() {
                format!("{f:?}")
            } else if f.is_nan() {
                "nan".to_owned()
            } else if *f > 0.0 {
                "inf".to_owned()
            } else {
                "-inf".to_owned()
            }
        }
    }
}

/// Text escaped as ClickHouse's `Escaped` format reads it.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_database_user_and_options() {
        let t = Target::parse("clickhouse://canopy:p%40ss@db.example:9000/logs?cluster=main")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(t.base.as_str(), "http://db.example:9000/");
        assert_eq!((t.user.as_str(), t.password.as_str()), ("canopy", "p@ss"));
        assert_eq!(t.database, "logs");
        assert_eq!(t.cluster.as_deref(), Some("main"));
        let t = Target::parse("clickhouse://h?secure=true").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(t.base.as_str(), "https://h:8443/");
        assert_eq!(
            (t.user.as_str(), t.database.as_str()),
            ("default", "default")
        );
        for bad in [
            "postgres://h/db",
            "clickhouse:///db",
            "clickhouse://h/db;drop",
            "clickhouse://h/db?cluster=a%20b",
            "clickhouse://h/db?sslmode=x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parameters_are_escaped_for_clickhouse() {
        assert_eq!(escape("a\\b\tc\nd\0"), "a\\\\b\\tc\\nd\\0");
        assert_eq!(param_value(&Arg::Null), "\\N");
        assert_eq!(param_value(&Arg::Float(1.0)), "1.0");
    }
}
