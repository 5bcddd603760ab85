//! `canopy demo`: a first look at Canopy with no provider key and no network.
//!
//! The demo starts the mock provider in process, and a Canopy on a free port whose `openai` and
//! `anthropic` providers point at it, storing into the configured store: by default
//! `sqlite://canopy.db` in the working directory, so a `canopy serve` started afterwards shows
//! the demo's sessions. With `--url` it drives a Canopy that is already running instead, through
//! that Canopy's `/gateway` route. The agent in [`agent`] then makes two sessions; once every
//! call is recorded, the demo prints each session as a tree, the URLs and commands to look at
//! them, and last a machine-readable line, `demo sessions: <id> <id>`. Servers it started are
//! shut down in order, or kept serving until Ctrl-C with `--keep-running`.
//!
//! What the agent sends is in [`agent`]; how it is sent is in [`client`].

mod agent;
mod client;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use canopy_core::extract::WireFormat;
use canopy_gateway::Provider;
use canopy_store::keys::AuthMode;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::client::Client;
use crate::cli::DemoArgs;
use crate::commands::{remote, sessions};
use crate::config::{Config, Settings};
use crate::{output, serve, shutdown};

/// How long the demo waits for its calls to be recorded.
const RECORD_WAIT: Duration = Duration::from_secs(10);
/// How often a running Canopy is asked whether the calls are recorded yet.
const RECORD_POLL: Duration = Duration::from_millis(50);

/// Runs the demo. `settings` is the configuration of the Canopy to start, or `None` with `--url`.
pub async fn run(settings: Option<Settings>, args: DemoArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let result = match start_mock(&tracker, &stop).await {
        Ok(mock_url) => match (settings, &args.url) {
            (Some(settings), _) => in_process(settings, &args, &mock_url, &tracker, &stop).await,
            (None, Some(url)) => against_running(url, &args, mock_url).await,
            (None, None) => Err(anyhow::anyhow!("the demo needs a configuration or --url")),
        },
        Err(error) => Err(error),
    };
    stop.cancel();
    tracker.close();
    tracker.wait().await;
    result
}

/// Starts the mock provider on a free loopback port; it stops when `stop` is cancelled.
async fn start_mock(tracker: &TaskTracker, stop: &CancellationToken) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot start the mock provider on a free port")?;
    let url = format!("http://{}", listener.local_addr()?);
    let shutdown = stop.clone().cancelled_owned();
    tracker.spawn(async move {
        let config = canopy_mock::MockConfig::default();
        if let Err(error) = canopy_mock::serve(listener, config, shutdown).await {
            tracing::error!(%error, "The demo's mock provider failed.");
        }
    });
    Ok(url)
}

/// The demo's own Canopy, once it is ready.
struct Local {
    /// Where it listens.
    addr: SocketAddr,
    /// Where `canopy serve` listens with the same configuration, for the URLs printed after
    /// the demo's own Canopy has stopped.
    serve_addr: SocketAddr,
    /// Its store's URL.
    store: String,
    /// Records written so far.
    written: watch::Receiver<u64>,
    /// Whether calls need a key (the store has keys).
    needs_key: bool,
    /// `--org NAME` for the printed commands, when the key belongs to an organisation.
    org_flag: String,
}

/// Starts a Canopy routed to the mock, drives the agent through it, and shuts it down (after
/// Ctrl-C with `--keep-running`).
async fn in_process(
    mut settings: Settings,
    args: &DemoArgs,
    mock_url: &str,
    tracker: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    route_to_mock(&mut settings, mock_url)?;
    let listener = TcpListener::bind(args.listen.as_str())
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", args.listen))?;
    let addr = listener.local_addr()?;
    let serve_addr = std::mem::replace(&mut settings.listen, addr);
    let store = settings.store.clone();
    let (ready_tx, ready_rx) = oneshot::channel();
    let server = tracker.spawn(serve::run(
        settings,
        listener,
        stop.clone().cancelled_owned(),
        move |started| {
            let _ = ready_tx.send(started);
        },
    ));
    let Ok(started) = ready_rx.await else {
        // The server stopped before it was ready; its own error says why.
        return match server.await {
            Ok(Err(error)) => Err(error),
            Ok(Ok(_)) => bail!("the demo's Canopy stopped before it started"),
            Err(error) => Err(error).context("the demo's Canopy failed"),
        };
    };
    let needs_key = started.keys.mode() == AuthMode::Required;
    let org_flag = match &args.key {
        Some(key) if needs_key => org_flag(&started, key).await,
        _ => String::new(),
    };
    let local = Local {
        addr,
        serve_addr,
        store,
        written: started.ingest.written(),
        needs_key,
        org_flag,
    };
    drop(started);
    let outcome = drive_local(local, args, mock_url).await;
    stop.cancel();
    let served = server.await.context("the demo's Canopy failed")?;
    outcome?;
    served.map(|_| ())
}

/// Points the `openai` and `anthropic` providers at the mock provider.
fn route_to_mock(settings: &mut Settings, mock_url: &str) -> anyhow::Result<()> {
    let mock = url::Url::parse(mock_url).context("the mock provider's URL")?;
    settings
        .providers
        .retain(|p| p.name != "openai" && p.name != "anthropic");
    for (name, format) in [
        ("openai", WireFormat::Openai),
        ("anthropic", WireFormat::Anthropic),
    ] {
        settings.providers.push(Provider {
            name: name.to_owned(),
            base_url: mock.clone(),
            format,
            http2_prior_knowledge: false,
        });
    }
    Ok(())
}

/// Drives the agent through the demo's own Canopy and prints where to look next; with
/// `--keep-running`, returns only at Ctrl-C.
async fn drive_local(local: Local, args: &DemoArgs, mock_url: &str) -> anyhow::Result<()> {
    let store = &local.store;
    if local.needs_key && args.key.is_none() {
        bail!(
            "the store {store} has Canopy keys, so every call needs one: pass --key \
             (or set CANOPY_KEY)"
        );
    }
    let base = format!("http://{}", local.addr);
    output::line(&format!(
        "canopy demo: Canopy on {base} (store {store}), mock provider on {mock_url}\n"
    ));
    let client = Client::new(&base, None, args.key.clone());
    let ids = drive(&client, Some(local.written)).await?;
    let shown = if args.keep_running {
        local.addr
    } else {
        local.serve_addr
    };
    let store_flag = if *store == Config::default().store {
        String::new()
    } else {
        format!(" --store {store}")
    };
    let flags = format!("{store_flag}{}", local.org_flag);
    print_urls(&format!("http://{shown}"), &ids, &flags);
    if args.keep_running {
        output::line(&format!(
            "Canopy and the mock provider keep serving on {base}; press Ctrl-C to stop."
        ));
    } else {
        output::line(&format!(
            "The demo's own Canopy stops now; `canopy serve{store_flag}` serves these URLs \
             (or run `canopy demo --keep-running`)."
        ));
    }
    output::line(&format!("demo sessions: {}", ids.join(" ")));
    if args.keep_running {
        shutdown::signal().await;
    }
    Ok(())
}

/// `--org NAME` for the printed commands when `key` belongs to an organisation of the store
/// (they read the open organisation otherwise); empty when the key is unknown.
async fn org_flag(started: &serve::Started, key: &str) -> String {
    let Ok(principal) = started.keys.authenticate(Some(key)) else {
        return String::new();
    };
    let keys = started.store.keys.list_keys().await.unwrap_or_default();
    keys.into_iter()
        .find(|k| principal.key_id.as_ref() == Some(&k.id))
        .map(|k| format!(" --org {}", k.org_name))
        .unwrap_or_default()
}

/// Drives the agent through the Canopy at `url`, which reaches the in-process mock provider
/// through its `/gateway` route.
async fn against_running(url: &str, args: &DemoArgs, mock_url: String) -> anyhow::Result<()> {
    let url = &remote::base_url(url)?;
    output::line(&format!(
        "canopy demo: Canopy at {url}, mock provider on {mock_url} (through /gateway)\n"
    ));
    let client = Client::new(url, Some(mock_url), args.key.clone());
    let ids = drive(&client, None).await?;
    let api_flag = format!(" --api {}", client.base());
    print_urls(client.base(), &ids, &api_flag);
    output::line(&format!("demo sessions: {}", ids.join(" ")));
    Ok(())
}

/// Runs the agent, waits until every call it made is recorded, and prints each session as a
/// tree. Returns the session ids.
async fn drive(
    client: &Client,
    written: Option<watch::Receiver<u64>>,
) -> anyhow::Result<Vec<String>> {
    let runs = agent::run(client).await?;
    let expected: u64 = runs.iter().map(|(_, calls)| calls).sum();
    let ids: Vec<String> = runs.into_iter().map(|(id, _)| id).collect();
    wait_recorded(client, &ids, expected, written).await?;
    let color = output::color();
    for id in &ids {
        output::line("");
        let tree = sessions::show_remote(client.base(), client.key(), id, color)
            .await
            .with_context(|| format!("cannot read back the session {id}"))?;
        output::text(&tree);
    }
    output::line("");
    Ok(ids)
}

/// Waits until Canopy has recorded `expected` calls of the sessions `ids`, for at most
/// [`RECORD_WAIT`]. A Canopy the demo started reports records as its writer writes them
/// (`written`); either way the API's count has the last word.
async fn wait_recorded(
    client: &Client,
    ids: &[String],
    expected: u64,
    written: Option<watch::Receiver<u64>>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + RECORD_WAIT;
    if let Some(mut written) = written {
        // A timeout here is not an error yet: the count below decides.
        let _ = tokio::time::timeout_at(deadline, written.wait_for(|n| *n >= expected)).await;
    }
    loop {
        let recorded = client.recorded(ids).await?;
        if recorded >= expected {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "only {recorded} of the demo's {expected} calls were recorded within {} s",
                RECORD_WAIT.as_secs()
            );
        }
        tokio::time::sleep(RECORD_POLL).await;
    }
}

/// Prints where to look at the sessions: the dashboard (each session's own page), the API and
/// the CLI. `flag` is added to the CLI commands (`--store` or `--api`).
fn print_urls(base: &str, ids: &[String], flag: &str) {
    let base = base.trim_end_matches('/');
    output::line("Open in a browser:");
    output::line(&format!("  dashboard  {base}/"));
    for id in ids {
        output::line(&format!("  session    {base}/ui/sessions/{id}"));
    }
    output::line("Or read the API:");
    for id in ids {
        output::line(&format!("  session    {base}/api/v1/session/{id}"));
    }
    output::line("Or from the terminal:");
    for id in ids {
        output::line(&format!("  canopy sessions show {id}{flag}"));
    }
}
