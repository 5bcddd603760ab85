//! `canopy-bench relay --to URL`: a byte relay in front of a loopback server, the floor under
//! any proxy.
//!
//! It listens on a free port of 127.0.0.1, prints `listening on http://…`, and for each
//! connection it accepts opens one to the target and copies bytes both ways, parsing nothing.
//! Started on the gateway's core in front of the mock, it pays what that layout costs any
//! proxy — two more hops between processes and the wake-ups between cores they take — and
//! nothing else; `ttft --relay` measures it beside the gateway. It runs until it is stopped.
//!
//! What must not go here: measuring. The relay is a subject of the drivers, not one of them.

use std::io::Write;

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

/// Relays every connection made to a fresh loopback port to `to`, a loopback URL.
pub async fn run(to: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(to).context("--to must be a URL")?;
    let target = *url
        .socket_addrs(|| None)
        .context("--to has no address")?
        .first()
        .context("--to has no address")?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", listener.local_addr()?)?;
        out.flush()?;
    }
    let tracker = TaskTracker::new();
    loop {
        let (mut inbound, _) = listener.accept().await?;
        tracker.spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(target).await else {
                return;
            };
            // Small writes go out at once, as the gateway's and the mock's do.
            if inbound.set_nodelay(true).is_err() || outbound.set_nodelay(true).is_err() {
                return;
            }
            // A connection that ends, either way, ends its relay.
            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
        });
    }
}
