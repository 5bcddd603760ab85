//! Configuration: defaults, then the file, then `CANOPY_*` environment, then flags.
//!
//! [`Config`] is what the file may say, every field documented (docs/config.md lists the same).
//! [`load`] merges the sources with figment, whose errors name the file or variable and the
//! key; [`Config::validate`] then turns it into [`Settings`], naming the source of any value
//! that does not make sense.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use canopy_core::extract::WireFormat;
use canopy_gateway::{GatewaySettings, Provider};
use canopy_store::writer::WriterConfig;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The configuration file's name when `--config` is not given and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "canopy.toml";
/// Environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "CANOPY_CONFIG";
/// Prefix of environment variables that set configuration keys (`CANOPY_LISTEN`,
/// `CANOPY_PROVIDERS__LOCAL__BASE_URL`).
pub const ENV_PREFIX: &str = "CANOPY_";

/// Everything the configuration file may say.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the gateway, API and dashboard listen on.
    pub listen: String,
    /// Where records are stored: `sqlite://path/to.db` (embedded),
    /// `postgres://user:pass@host:port/db` (shared by several gateways), or
    /// `clickhouse://user:pass@host:8123/db` (the call log at volume).
    pub store: String,
    /// Directory for records waiting for the store; default: the SQLite file's name + `.spool`,
    /// or `canopy.spool` in the working directory for a server store. Each gateway needs its own.
    pub spool_dir: Option<PathBuf>,
    /// Days calls are kept; older calls, their bodies and then sessions with no calls left
    /// are removed in the background. Unset keeps everything.
    pub retention_days: Option<u32>,
    /// The provider behind `/v1/*`.
    pub default_provider: String,
    /// Providers to add, or built-in providers whose origin to change, by route name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Origins the `/gateway` route may reach; empty allows any.
    pub gateway_allowlist: Vec<String>,
    /// A price file (Canopy's format or LiteLLM's) whose entries override the built-in catalog.
    pub pricing_file: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    pub max_request_body_bytes: usize,
    /// The most bytes of each request and response body stored.
    pub body_capture_bytes: usize,
    /// The most memory all buffered request bodies may hold at once, in bytes; past it,
    /// bodies stream upstream uncaptured.
    pub body_buffer_budget_bytes: usize,
    /// Seconds to wait for an upstream connection.
    pub connect_timeout_secs: u64,
    /// Seconds to wait for an upstream's response head.
    pub upstream_timeout_secs: u64,
    /// Seconds of silence allowed while an upstream body streams.
    pub upstream_idle_timeout_secs: u64,
    /// Idle connections kept open per upstream host, for reuse.
    pub upstream_idle_connections: usize,
    /// Seconds in-flight calls get to finish at shutdown.
    pub shutdown_grace_secs: u64,
    /// How records are batched into the store.
    pub writer: WriterSection,
    /// Who may read `/metrics`: `required` asks for a Canopy key whenever the API does (once
    /// any key exists); `open` serves anyone who can reach the listener.
    pub metrics_auth: MetricsAuth,
    /// Redis shared by several gateways for the response cache and rate limits; without it,
    /// each gateway keeps them in its own memory.
    pub redis: Option<RedisSection>,
    /// The in-memory response cache.
    pub cache: CacheSection,
    /// Rate-limit policies applied to every call of an organisation or key, besides any
    /// `Helicone-RateLimit-Policy` header.
    pub rate_limits: Vec<RateLimitSection>,
    /// OTLP export: one span per proxied call, sent to your tracing backend. Off unless
    /// `endpoint` is set.
    pub otel: OtelSection,
}

/// The `[otel]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtelSection {
    /// The OTLP/HTTP traces URL (`http://collector:4318/v1/traces`), used as given: no path
    /// is added and redirects are not followed. Unset: nothing is exported.
    pub endpoint: Option<String>,
    /// `protobuf` (default) or `json`.
    pub protocol: String,
    /// Headers sent with every export, such as a backend's API key
    /// (`headers = { "x-honeycomb-team" = "…" }`).
    pub headers: BTreeMap<String, String>,
    /// The exported spans' `service.name`.
    pub service_name: String,
    /// Spans waiting to be sent at most; when full, new spans are dropped and counted
    /// (`canopy_otel_export_dropped_total`), never waited for.
    pub queue_capacity: usize,
}

impl Default for OtelSection {
    fn default() -> Self {
        Self {
            endpoint: None,
            protocol: "protobuf".to_owned(),
            headers: BTreeMap::new(),
            service_name: "canopy".to_owned(),
            queue_capacity: 8192,
        }
    }
}

/// The `[redis]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
}

/// The `[cache]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSection {
    /// The most bytes the in-memory cache holds; the least recently used answers go first.
    pub max_bytes: usize,
    /// The largest answer cached, in bytes.
    pub max_entry_bytes: usize,
}

impl Default for CacheSection {
    fn default() -> Self {
        let d = canopy_gateway::cache::CacheLimits::default();
        Self {
            max_bytes: d.max_bytes,
            max_entry_bytes: d.max_entry_bytes,
        }
    }
}

/// One `[[rate_limits]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// The organisation governed; every organisation when left out.
    #[serde(default)]
    pub org: Option<String>,
    /// The key id governed (as `canopy keys list` shows it); every key when left out.
    #[serde(default)]
    pub key: Option<String>,
    /// The policy, in `Helicone-RateLimit-Policy` syntax (`100;w=60;s=user`).
    pub policy: String,
}

/// Values of `metrics_auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAuth {
    /// A key is needed whenever keys are required.
    #[default]
    Required,
    /// No key is needed.
    Open,
}

/// One `[providers.<name>]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The upstream origin, with any base path (`http://127.0.0.1:8000`).
    pub base_url: String,
    /// How usage is read from responses: `openai`, `anthropic` or `gemini`. A built-in
    /// provider keeps its own format unless this is given; a new provider defaults to `openai`.
    #[serde(default)]
    pub format: Option<String>,
    /// Speak cleartext HTTP/2 with prior knowledge (h2c) to an `http://` upstream.
    #[serde(default)]
    pub http2: bool,
}

/// The `[writer]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriterSection {
    /// Records held in memory before new ones spill to the spool.
    pub queue_capacity: usize,
    /// The most records written in one transaction.
    pub batch_size: usize,
    /// Milliseconds a started batch waits for more records before it is written.
    pub linger_ms: u64,
    /// The most batches being written at once; unset, the store's engine chooses.
    pub in_flight: Option<usize>,
    /// Append each proxied call's record to the spool before its response completes, so
    /// `kill -9` loses none; records then reach the store within about a second.
    pub durable: bool,
}

impl Default for WriterSection {
    fn default() -> Self {
        let d = WriterConfig::default();
        Self {
            queue_capacity: d.queue_capacity,
            batch_size: d.batch_size,
            linger_ms: u64::try_from(d.linger.as_millis()).unwrap_or(5),
            in_flight: d.in_flight,
            durable: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let gateway = GatewaySettings::default();
        Self {
            listen: "127.0.0.1:8787".to_owned(),
            store: "sqlite://canopy.db".to_owned(),
            spool_dir: None,
            retention_days: None,
            default_provider: "openai".to_owned(),
            providers: BTreeMap::new(),
            gateway_allowlist: Vec::new(),
            pricing_file: None,
            max_request_body_bytes: gateway.max_request_body,
            body_capture_bytes: gateway.body_capture_limit,
            body_buffer_budget_bytes: gateway.body_buffer_budget,
            connect_timeout_secs: gateway.connect_timeout.as_secs(),
            upstream_timeout_secs: gateway.upstream_timeout.as_secs(),
            upstream_idle_timeout_secs: gateway.upstream_idle_timeout.as_secs(),
            upstream_idle_connections: gateway.upstream_idle_connections,
            shutdown_grace_secs: 30,
            writer: WriterSection::default(),
            metrics_auth: MetricsAuth::default(),
            redis: None,
            cache: CacheSection::default(),
            rate_limits: Vec::new(),
            otel: OtelSection::default(),
        }
    }
}

/// Values given as flags, which override everything else.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

/// The merged sources, kept so errors can name where a value came from.
pub struct Loaded {
    /// The parsed configuration.
    pub config: Config,
    figment: Figment,
    /// Keys set by flags, which figment cannot tell apart from defaults.
    flag_keys: Vec<&'static str>,
}

/// Merges defaults, the file (`path`, or `canopy.toml` if present), `env` and the flags.
/// `env` is the process environment in production; tests pass their own.
pub fn load(path: Option<&Path>, env: Env, flags: FlagOverrides) -> anyhow::Result<Loaded> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    match path {
        Some(path) => {
            if !path.is_file() {
                bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
        }
        None => {}
    }
    let mut flag_keys = Vec::new();
    if flags.listen.is_some() {
        flag_keys.push("listen");
    }
    if flags.store.is_some() {
        flag_keys.push("store");
    }
    let figment = figment.merge(env).merge(Serialized::defaults(flags));
    let config: Config = figment
        .extract()
        .map_err(|e| anyhow::anyhow!(describe_errors(e, &flag_keys)))?;
    Ok(Loaded {
        config,
        figment,
        flag_keys,
    })
}

/// The process environment's `CANOPY_*` variables that name configuration keys. Variables for
/// other purposes (`CANOPY_CONFIG`, `CANOPY_TEST_*`) are not configuration keys.
pub fn process_env() -> Env {
    env_filtered(Env::prefixed(ENV_PREFIX))
}

/// Keeps only variables whose first key part is a configuration key.
pub fn env_filtered(env: Env) -> Env {
    const KEYS: &[&str] = &[
        "listen",
        "store",
        "spool_dir",
        "default_provider",
        "providers",
        "gateway_allowlist",
        "pricing_file",
        "max_request_body_bytes",
        "body_capture_bytes",
        "body_buffer_budget_bytes",
        "connect_timeout_secs",
        "upstream_timeout_secs",
        "upstream_idle_timeout_secs",
        "upstream_idle_connections",
        "shutdown_grace_secs",
        "writer",
        "metrics_auth",
        "redis",
        "cache",
        "rate_limits",
        "otel",
    ];
    env.split("__").filter(|key| {
        let first = key.as_str().split('.').next().unwrap_or_default();
        KEYS.iter().any(|k| k.eq_ignore_ascii_case(first))
    })
}

/// Figment's errors as Canopy's other configuration errors read: the file, variable or flag,
/// the key as the user wrote it (`writer.batch_siz`, never with figment's `default.` profile),
/// and the reason, one line per distinct error.
fn describe_errors(error: figment::Error, flag_keys: &[&'static str]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for e in error {
        let line = describe_error(&e, flag_keys);
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines.join("\n")
}

fn describe_error(e: &figment::Error, flag_keys: &[&'static str]) -> String {
    use figment::error::Kind;
    let mut path = e.path.clone();
    if let Kind::UnknownField(field, _) = &e.kind
        && path.last() != Some(field)
    {
        path.push(field.clone());
    }
    let key = path.join(".");
    let source = match &e.metadata {
        _ if flag_keys.contains(&key.as_str()) => format!("the --{key} flag"),
        Some(m) => match &m.source {
            Some(figment::Source::File(file)) => file.display().to_string(),
            _ if m.name.contains("environment") => format!(
                "environment variable {ENV_PREFIX}{}",
                path.join("__").to_uppercase()
            ),
            _ => m.name.to_string(),
        },
        None => "the configuration".to_owned(),
    };
    let list = |names: &[&str]| names.join(", ");
    let reason = match &e.kind {
        Kind::UnknownField(_, known) => {
            format!("is not a configuration key (known here: {})", list(known))
        }
        Kind::UnknownVariant(value, known) => {
            format!("`{value}` is not one of {}", list(known))
        }
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => {
            format!("must be {expected}, found {actual}")
        }
        Kind::MissingField(field) => {
            return format!(
                "invalid configuration in {source}: section `{key}` needs the key `{field}`"
            );
        }
        other => other.to_string(),
    };
    if key.is_empty() {
        return format!("invalid configuration in {source}: {reason}");
    }
    format!("invalid configuration in {source}: key `{key}` {reason}")
}

/// Settings checked and typed, ready to run with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: String,
    /// Where the `store` value came from, for errors found only when it is opened.
    pub store_source: String,
    pub spool_dir: PathBuf,
    /// How long calls are kept, when they are not kept forever.
    pub retention: Option<Duration>,
    pub default_provider: String,
    pub providers: Vec<Provider>,
    pub pricing_file: Option<PathBuf>,
    pub gateway: GatewaySettings,
    pub writer: WriterConfig,
    pub shutdown_grace: Duration,
    /// Run open (no keys) even on a non-loopback address (`--insecure-no-auth`).
    pub insecure_no_auth: bool,
    /// Who may read `/metrics`.
    pub metrics_auth: MetricsAuth,
    /// Where proxied calls are exported as OTLP spans, if anywhere.
    pub otel: Option<crate::otel_export::ExportConfig>,
}

impl Loaded {
    /// Checks every value and names the source and key of the first that is wrong.
    pub fn validate(self) -> anyhow::Result<Settings> {
        let c = &self.config;
        let listen = listen_address(&c.listen).ok_or_else(|| {
            anyhow::anyhow!(self.at(
                "listen",
                format!(
                    "`{}` is not an address like 127.0.0.1:8787 or localhost:8787",
                    c.listen
                ),
            ))
        })?;
        for (key, secs) in [
            ("connect_timeout_secs", c.connect_timeout_secs),
            ("upstream_timeout_secs", c.upstream_timeout_secs),
            ("upstream_idle_timeout_secs", c.upstream_idle_timeout_secs),
        ] {
            if secs == 0 {
                bail!(self.at(
                    key,
                    "must be at least 1 (seconds); 0 would fail every call at once".to_owned()
                ));
            }
        }
        // Which engines this build has is said once, where the store is opened.
        let store_path = sqlite_path(&c.store);
        if let Err(reason) = crate::store::check_url(&c.store) {
            bail!(self.at("store", reason));
        }
        let mut providers = Vec::new();
        for (name, p) in &c.providers {
            let key = format!("providers.{name}.base_url");
            let base_url = url::Url::parse(&p.base_url).map_err(|e| {
                anyhow::anyhow!(self.at(&key, format!("`{}` is not a URL: {e}", p.base_url)))
            })?;
            if !matches!(base_url.scheme(), "http" | "https") {
                bail!(self.at(
                    &key,
                    format!("`{}` must be an http:// or https:// URL", p.base_url)
                ));
            }
            let format = match p.format.as_deref() {
                None => {
                    canopy_gateway::provider::builtin_format(name).unwrap_or(WireFormat::Openai)
                }
                Some("openai") => WireFormat::Openai,
                Some("anthropic") => WireFormat::Anthropic,
                Some("gemini") => WireFormat::Gemini,
                Some(other) => bail!(self.at(
                    &format!("providers.{name}.format"),
                    format!("`{other}` is not one of openai, anthropic, gemini")
                )),
            };
            if name.is_empty() || name.contains('/') || name == "v1" {
                bail!(self.at(
                    &format!("providers.{name}"),
                    "is not usable as a route name".to_owned()
                ));
            }
            if crate::serve::OWN_ROUTES.contains(&name.as_str()) {
                bail!(self.at(
                    &format!("providers.{name}"),
                    format!(
                        "is not usable as a route name: Canopy serves its own routes under /{name}"
                    )
                ));
            }
            providers.push(Provider {
                name: name.clone(),
                base_url,
                format,
                http2_prior_knowledge: p.http2,
            });
        }
        if let Some(file) = &c.pricing_file
            && !file.is_file()
        {
            bail!(self.at("pricing_file", format!("{} does not exist", file.display())));
        }
        let spool_dir = c.spool_dir.clone().unwrap_or_else(|| match &store_path {
            Some(path) => {
                let mut name = path.clone().into_os_string();
                name.push(".spool");
                PathBuf::from(name)
            }
            None => PathBuf::from("canopy.spool"),
        });
        if c.retention_days == Some(0) {
            bail!(self.at(
                "retention_days",
                "must be at least 1 (leave it out to keep calls forever)".to_owned()
            ));
        }
        if let Some(redis) = &c.redis
            && !(redis.url.starts_with("redis://") || redis.url.starts_with("rediss://"))
        {
            bail!(self.at("redis.url", "must be a redis:// URL".to_owned()));
        }
        let otel = self.otel_export()?;
        let mut rate_limits = Vec::new();
        for (i, entry) in c.rate_limits.iter().enumerate() {
            let policy =
                canopy_gateway::ratelimit::RatePolicy::parse(&entry.policy).map_err(|reason| {
                    anyhow::anyhow!(self.at(
                        "rate_limits",
                        format!("entry {i}: the policy `{}` {reason}", entry.policy)
                    ))
                })?;
            rate_limits.push(canopy_gateway::ratelimit::ConfiguredPolicy {
                org: entry.org.clone(),
                key_id: entry.key.clone(),
                policy,
            });
        }
        let gateway = GatewaySettings {
            max_request_body: c.max_request_body_bytes,
            body_capture_limit: c.body_capture_bytes,
            connect_timeout: Duration::from_secs(c.connect_timeout_secs),
            upstream_timeout: Duration::from_secs(c.upstream_timeout_secs),
            upstream_idle_timeout: Duration::from_secs(c.upstream_idle_timeout_secs),
            upstream_idle_connections: c.upstream_idle_connections,
            gateway_allowlist: c.gateway_allowlist.clone(),
            body_buffer_budget: c.body_buffer_budget_bytes,
            durable: c.writer.durable,
            cache: canopy_gateway::cache::CacheLimits {
                max_bytes: c.cache.max_bytes,
                max_entry_bytes: c.cache.max_entry_bytes,
            },
            redis_url: c.redis.as_ref().map(|r| r.url.clone()),
            rate_limits,
            ..GatewaySettings::default()
        };
        let writer = WriterConfig {
            queue_capacity: c.writer.queue_capacity.max(1),
            batch_size: c.writer.batch_size.max(1),
            linger: Duration::from_millis(c.writer.linger_ms),
            in_flight: c.writer.in_flight.map(|n| n.max(1)),
            ..WriterConfig::default()
        };
        Ok(Settings {
            listen,
            store: c.store.clone(),
            store_source: self.source_of("store"),
            spool_dir,
            retention: c
                .retention_days
                .map(|days| Duration::from_secs(u64::from(days) * 86_400)),
            default_provider: c.default_provider.clone(),
            providers,
            pricing_file: c.pricing_file.clone(),
            gateway,
            writer,
            shutdown_grace: Duration::from_secs(c.shutdown_grace_secs),
            insecure_no_auth: false,
            metrics_auth: c.metrics_auth,
            otel,
        })
    }

    /// The checked `[otel]` section: `None` when no endpoint is set.
    fn otel_export(&self) -> anyhow::Result<Option<crate::otel_export::ExportConfig>> {
        let o = &self.config.otel;
        let Some(endpoint) = &o.endpoint else {
            return Ok(None);
        };
        match url::Url::parse(endpoint) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            _ => bail!(self.at(
                "otel.endpoint",
                "must be an http:// or https:// URL".to_owned()
            )),
        }
        let json = match o.protocol.as_str() {
            "protobuf" => false,
            "json" => true,
            _ => bail!(self.at(
                "otel.protocol",
                format!("must be `protobuf` or `json`, got `{}`", o.protocol)
            )),
        };
        for (name, value) in &o.headers {
            if axum::http::HeaderName::try_from(name.as_str()).is_err()
                || axum::http::HeaderValue::try_from(value.as_str()).is_err()
            {
                bail!(self.at("otel.headers", format!("has an invalid header `{name}`")));
            }
        }
        Ok(Some(crate::otel_export::ExportConfig {
            endpoint: endpoint.clone(),
            json,
            headers: o.headers.clone().into_iter().collect(),
            service_name: o.service_name.clone(),
            queue_capacity: o.queue_capacity.max(1),
        }))
    }

    /// "`<source>`: `<key>` <reason>", naming the file, variable or flag the value came from.
    pub fn at(&self, key: &str, reason: String) -> String {
        format!(
            "invalid configuration in {}: key `{key}` {reason}",
            self.source_of(key)
        )
    }

    /// The file, environment variable or flag a key's value came from.
    pub fn source_of(&self, key: &str) -> String {
        if self.flag_keys.contains(&key) {
            return format!("the --{key} flag");
        }
        self.figment.find_metadata(key).map_or_else(
            || "defaults".to_owned(),
            |m| match &m.source {
                Some(figment::Source::File(path)) => path.display().to_string(),
                _ if m.name.contains("environment") => {
                    format!(
                        "environment variable {ENV_PREFIX}{}",
                        key.replace('.', "__").to_uppercase()
                    )
                }
                _ => "defaults".to_owned(),
            },
        )
    }
}

/// A listen address: an IP address and port, or a host name and port (`localhost:8787`),
/// which is resolved here, its IPv4 address first.
fn listen_address(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Some(addr);
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(text)
        .ok()?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// The file path of a `sqlite://` URL (`sqlite://canopy.db` → `canopy.db`).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests;
