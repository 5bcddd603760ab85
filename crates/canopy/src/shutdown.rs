//! Graceful shutdown.
//!
//! The order, carried out by [`crate::serve::run`] once the shutdown future resolves:
//! 1. stop accepting connections;
//! 2. let in-flight calls finish (axum's graceful drain), for at most `shutdown_grace_secs`;
//! 3. cut the calls still running (streams end with an error, calls waiting on an upstream are
//!    answered 503) and wait until each has handed its record to the writer (status −3);
//! 4. close the ingest queue: records submitted from now on go to the spool;
//! 5. the writer writes everything queued, then replays the spool once;
//! 6. wait for the remaining background tasks, and report how many records wait in the spool.
//!
//! Nothing is lost at any step: what the store did not take is on disk and replayed at the
//! next start.

/// Resolves on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Received Ctrl-C; shutting down."),
        () = term => tracing::info!("Received SIGTERM; shutting down."),
    }
}
