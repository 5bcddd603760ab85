//! The `canopy` binary's library: everything `main.rs` runs, reachable from integration tests.
//!
//! Layout: [`cli`] defines the commands, [`config`] loads and checks configuration,
//! [`serve`] runs the gateway, [`shutdown`] documents the shutdown order, [`store`] picks the
//! storage engine by URL, [`telemetry`] sets up logs and metrics, and [`output`] is the only
//! module that prints.

pub mod cli;
pub mod commands;
pub mod config;
pub mod otel_export;
pub mod output;
pub mod render;
mod retention;
pub mod serve;
pub mod shutdown;
pub mod store;
pub mod telemetry;

use anyhow::Context;

use crate::cli::{Cli, Command, KeysCommand, SessionsCommand, StoreCommand};
use crate::config::FlagOverrides;

/// Loads and checks the configuration: the file, the environment, then `flags`.
fn settings(
    file: Option<&std::path::Path>,
    flags: FlagOverrides,
) -> anyhow::Result<config::Settings> {
    config::load(file, config::process_env(), flags)?.validate()
}

/// How many connections may wait to be accepted. The standard library asks for 128, which a
/// burst of a thousand clients overflows: each refused handshake then costs its client a
/// retransmission (about a second). The kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `addr` with a deep accept queue.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Lifts the soft limit on open files to the hard one. A server holds two sockets per proxied
/// call (client and upstream), so the usual soft limit of 1,024 caps it near 500 concurrent
/// streams; the hard limit is what the administrator allows.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!(%error, "Could not raise the open-file limit.");
        }
    }
}

/// Runs one parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let flags = FlagOverrides {
                listen: args.listen,
                store: cli.global.store,
            };
            let mut settings = settings(cli.global.config.as_deref(), flags)?;
            settings.insecure_no_auth = args.insecure_no_auth;
            raise_open_file_limit();
            let listener = listen(settings.listen)
                .with_context(|| format!("cannot listen on {} (key `listen`)", settings.listen))?;
            let addr = listener.local_addr()?;
            let store = canopy_store::redact_url(&settings.store);
            serve::run(settings, listener, shutdown::signal(), |_| {
                output::line(&format!(
                    "canopy listening on http://{addr} (store {store})"
                ));
            })
            .await?;
            Ok(())
        }
        Command::Migrate => {
            let flags = FlagOverrides {
                listen: None,
                store: cli.global.store,
            };
            let settings = settings(cli.global.config.as_deref(), flags)?;
            let store = store::Store::open(&settings.store).await.with_context(|| {
                format!(
                    "cannot migrate the store `{}`",
                    canopy_store::redact_url(&settings.store)
                )
            })?;
            store.close().await;
            output::line(&format!(
                "{} is up to date",
                canopy_store::redact_url(&settings.store)
            ));
            Ok(())
        }
        Command::Keys { command } => {
            let flags = FlagOverrides {
                listen: None,
                store: cli.global.store,
            };
            let settings = settings(cli.global.config.as_deref(), flags)?;
            // Only `keys create` may create the store; listing and revoking read an existing one.
            let store = match command {
                KeysCommand::Create { .. } => commands::open_store(&settings).await?,
                KeysCommand::List | KeysCommand::Revoke { .. } => {
                    commands::open_existing_store(&settings).await?
                }
            };
            let result = commands::keys::run(&store, command).await;
            store.close().await;
            result
        }
        Command::Replay(args) => {
            let settings = settings(
                cli.global.config.as_deref(),
                FlagOverrides {
                    listen: None,
                    store: cli.global.store,
                },
            )?;
            commands::replay::run(&settings, args).await
        }
        Command::Sessions { command } => {
            let flags = FlagOverrides {
                listen: None,
                store: cli.global.store,
            };
            let settings = settings(cli.global.config.as_deref(), flags)?;
            match command {
                SessionsCommand::List(args) => commands::sessions::list(&settings, args).await,
                SessionsCommand::Show(args) => commands::sessions::show(&settings, args).await,
            }
        }
        Command::Demo(args) => {
            // With `--url` the running Canopy has its own configuration; none is read here.
            let settings = match args.url {
                Some(_) => None,
                None => {
                    let flags = FlagOverrides {
                        listen: None,
                        store: cli.global.store,
                    };
                    Some(settings(cli.global.config.as_deref(), flags)?)
                }
            };
            commands::demo::run(settings, args).await
        }
        Command::Store {
            command: StoreCommand::Copy(args),
        } => commands::store::copy(args).await,
        Command::MockProvider(args) => {
            let addr = tokio::net::lookup_host(&args.listen)
                .await?
                .next()
                .with_context(|| format!("`{}` names no address", args.listen))?;
            raise_open_file_limit();
            let listener =
                listen(addr).with_context(|| format!("cannot listen on {}", args.listen))?;
            let addr = listener.local_addr()?;
            let config = canopy_mock::MockConfig {
                latency_ms: args.latency_ms,
                chunk_delay_ms: args.chunk_delay_ms,
                record_requests: args.record_requests,
            };
            output::line(&format!("mock provider listening on http://{addr}"));
            canopy_mock::serve(listener, config, shutdown::signal())
                .await
                .context("the mock provider failed")
        }
    }
}
