//! Retention in the background: with `retention_days` set, calls older than that are removed
//! at start and then every hour, through the store's [`Retain`].

use std::sync::Arc;
use std::time::Duration;

use canopy_store::{Retain, now_ms};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often retention runs after the first time, at start.
const INTERVAL: Duration = Duration::from_secs(3600);

/// Starts removing calls older than `keep` on `tracker`, until `stop`.
pub fn spawn(
    tracker: &TaskTracker,
    retain: Arc<dyn Retain>,
    keep: Duration,
    stop: CancellationToken,
) {
    let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {
                    let cutoff = now_ms().saturating_sub(keep_ms);
                    match retain.purge(cutoff).await {
                        Ok(purged) if purged.calls > 0 || purged.sessions > 0 => tracing::info!(
                            calls = purged.calls,
                            sessions = purged.sessions,
                            "Removed calls past their retention."
                        ),
                        Ok(_) => {}
                        Err(error) => tracing::warn!(
                            %error,
                            "Cannot remove calls past their retention; trying again in an hour."
                        ),
                    }
                }
            }
        }
    });
}
