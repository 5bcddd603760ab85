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
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, overriding the file and CANOPY_LISTEN. Port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<String>,
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
}
