//! The command line: one struct per subcommand, parsed by clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Canopy: an LLM gateway that records every call and groups calls into sessions.
#[derive(Debug, Parser)]
#[command(name = "canopy", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

/// Options every subcommand accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file (default: ./canopy.toml when it exists).
    #[arg(long, global = true, env = crate::config::ENV_CONFIG)]
    pub config: Option<PathBuf>,
    /// Store URL, overriding the file and CANOPY_STORE.
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// Log filter, in RUST_LOG syntax.
    #[arg(long, global = true, env = "CANOPY_LOG", default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, global = true, env = "CANOPY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Apply the store's migrations and exit.
    Migrate,
    /// Run the OpenAI + Anthropic test double used by tests, benchmarks and the demo.
    MockProvider(MockArgs),
    /// Create, list and revoke Canopy keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Replay a session with a changed model, system prompt or body, and compare.
    Replay(ReplayArgs),
    /// List sessions, or show one as a tree.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Drive a small support-triage agent through Canopy against the built-in mock provider,
    /// then print the sessions it made. No API key, no network.
    Demo(DemoArgs),
    /// Move a store's contents into another store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for an organisation (created if new). The key is printed once.
    Create {
        /// The organisation's name.
        #[arg(long)]
        org: String,
    },
    /// List keys (never the keys themselves).
    List,
    /// Revoke a key by its id; calls with it are refused within a second.
    Revoke {
        /// The key's id, from `keys list`.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sessions, newest first.
    List(SessionsListArgs),
    /// One session as a tree with calls, cost, tokens and time per node.
    Show(SessionsShowArgs),
}

/// Where `sessions` reads from: the store in the configuration, or a running server.
#[derive(Debug, Args)]
pub struct Source {
    /// Read from a running Canopy's API instead of the store (`http://localhost:8787`).
    #[arg(long, env = "CANOPY_API")]
    pub api: Option<String>,
    /// The Canopy key for `--api`.
    #[arg(long, env = "CANOPY_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// The organisation to read from the store (default: the local open organisation).
    #[arg(long)]
    pub org: Option<String>,
}

#[derive(Debug, Args)]
pub struct SessionsListArgs {
    /// Only sessions with this exact name.
    #[arg(long)]
    pub name: Option<String>,
    /// Only sessions active within this long ago: `30m`, `24h`, `7d`.
    #[arg(long, value_parser = parse_since)]
    pub since: Option<std::time::Duration>,
    /// Sessions whose id or name contains this.
    #[arg(long)]
    pub search: Option<String>,
    /// How many sessions.
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Print the API's JSON rows.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: Source,
}

#[derive(Debug, Args)]
pub struct SessionsShowArgs {
    /// The session id.
    pub id: String,
    /// Print the same object as `GET /api/v1/session/{id}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: Source,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("system").multiple(false))]
pub struct ReplayArgs {
    /// The session to replay.
    pub id: String,
    /// Send the calls to this model instead.
    #[arg(long)]
    pub model: Option<String>,
    /// Add this to the end of the system prompt.
    #[arg(long, group = "system")]
    pub system_append: Option<String>,
    /// Use this as the system prompt.
    #[arg(long, group = "system")]
    pub system_replace: Option<String>,
    /// A JSON merge patch (a file) applied to every body.
    #[arg(long)]
    pub patch: Option<std::path::PathBuf>,
    /// Change only the calls at this path or under it (every call is still replayed).
    #[arg(long)]
    pub path: Option<String>,
    /// Keep the original history instead of propagating replayed outputs.
    #[arg(long)]
    pub no_propagate: bool,
    /// Extra header for every replayed call, such as a provider key: `--header 'x-api-key: …'`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    /// The running Canopy to replay through (default: the configured listen address).
    #[arg(long, env = "CANOPY_URL")]
    pub url: Option<String>,
    /// The Canopy key.
    #[arg(long, env = "CANOPY_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

/// Reads `30s`, `30m`, `24h` or `7d`.
pub fn parse_since(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30m, 24h or 7d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, overriding the file and CANOPY_LISTEN. Port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
    /// Run without keys on a non-loopback address. Anyone who can reach it can use it.
    #[arg(long)]
    pub insecure_no_auth: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Drive an already-running Canopy at this URL (`http://127.0.0.1:8787`) instead of
    /// starting one; it reaches the demo's mock provider through `/gateway`.
    #[arg(long)]
    pub url: Option<String>,
    /// The Canopy key: sent as `Helicone-Auth` on proxied calls and as the bearer on the API.
    #[arg(long, env = "CANOPY_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Address of the demo's own Canopy. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", conflicts_with = "url")]
    pub listen: String,
    /// Keep the demo's Canopy and mock provider serving until Ctrl-C, to open the URLs.
    #[arg(long, conflicts_with = "url")]
    pub keep_running: bool,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything from one store into another (SQLite to PostgreSQL, say): calls with
    /// their bodies, sessions, scores, feedback, tags, keys and organisations. Resumable; ends
    /// by checking counts and totals on both sides.
    Copy(StoreCopyArgs),
}

#[derive(Debug, Args)]
pub struct StoreCopyArgs {
    /// The store to copy from (`sqlite://canopy.db`); it is only read.
    #[arg(long)]
    pub from: String,
    /// The store to copy into (`postgres://user:pass@host:5432/canopy`); migrated first.
    #[arg(long)]
    pub to: String,
    /// Calls per batch: each batch is one transaction on the destination.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch: u32,
    /// The checkpoint file (default: `canopy-copy-<hash of the two URLs>.json` here).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Stop after this many batches, as an interruption would (for tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
}

#[derive(Debug, Args)]
pub struct MockArgs {
    /// Address to listen on. Port 0 picks a free port; the address is printed on stdout.
    #[arg(long, default_value = "127.0.0.1:9100")]
    pub listen: String,
    /// Delay before every response head, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Delay between streamed events, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Keep the last requests for GET /mock/requests.
    #[arg(long)]
    pub record_requests: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_in_any_position() {
        let cli = Cli::try_parse_from([
            "canopy",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            "sqlite://x.db",
        ])
        .unwrap();
        assert_eq!(cli.global.store.as_deref(), Some("sqlite://x.db"));
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.listen.as_deref(), Some("127.0.0.1:0"));
        let cli = Cli::try_parse_from(["canopy", "--config", "c.toml", "migrate"]).unwrap();
        assert_eq!(
            cli.global.config.as_deref(),
            Some(std::path::Path::new("c.toml"))
        );
        assert!(Cli::try_parse_from(["canopy", "serve", "--bogus"]).is_err());
    }

    #[test]
    fn sessions_and_keys_parse() {
        let cli = Cli::try_parse_from([
            "canopy", "sessions", "list", "--since", "24h", "--name", "Support",
        ])
        .unwrap();
        let Command::Sessions {
            command: SessionsCommand::List(args),
        } = cli.command
        else {
            panic!("list expected")
        };
        assert_eq!(args.since, Some(std::time::Duration::from_secs(86_400)));
        assert!(Cli::try_parse_from(["canopy", "sessions", "list", "--since", "soon"]).is_err());
        let cli = Cli::try_parse_from(["canopy", "keys", "create", "--org", "acme"]).unwrap();
        assert!(
            matches!(cli.command, Command::Keys { command: KeysCommand::Create { org } } if org == "acme")
        );
        assert!(Cli::try_parse_from(["canopy", "keys", "create"]).is_err());
        assert_eq!(
            parse_since("7d"),
            Ok(std::time::Duration::from_secs(604_800))
        );
        let replay = [
            "canopy",
            "replay",
            "s1",
            "--system-append",
            "a",
            "--system-replace",
            "b",
        ];
        assert!(
            Cli::try_parse_from(replay).is_err(),
            "append and replace exclude each other"
        );
        let cli = Cli::try_parse_from([
            "canopy",
            "replay",
            "s1",
            "--model",
            "gpt-4o",
            "--no-propagate",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Replay(ReplayArgs { ref model, no_propagate: true, .. }) if model.as_deref() == Some("gpt-4o"))
        );
    }
}
