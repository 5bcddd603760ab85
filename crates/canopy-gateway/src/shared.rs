//! State several gateways share: a Redis connection for the cache and rate-limit counters.
//!
//! Redis is optional. When it is configured, the cache and the counters live there so every
//! gateway sees the same hits and the same quota; when it is not, or while it cannot be
//! reached, each gateway uses its own memory. Redis going away never fails a call: the
//! operation falls back to memory, the failure is counted in
//! `canopy_gateway_shared_state_errors_total` and logged (at most every ten seconds).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::telemetry::{GATEWAY_SHARED_STATE_ERRORS_TOTAL, LABEL_OPERATION};

/// How long connecting to Redis, or one command, may take before memory is used instead.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How often a gateway that cannot reach Redis tries again.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);
/// How often a failure is logged.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// A lazily connected Redis, shared by the cache and the rate limiter.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    last_attempt: Mutex<Option<Instant>>,
    last_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").finish_non_exhaustive()
    }
}

impl Redis {
    /// A handle for `url` (`redis://host:port[/db]`); nothing is connected yet.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(url)?,
                conn: tokio::sync::Mutex::new(None),
                last_attempt: Mutex::new(None),
                last_warning: Mutex::new(None),
            }),
        })
    }

    /// A connection, or `None` when Redis cannot be reached now (the caller uses memory).
    pub async fn conn(&self) -> Option<ConnectionManager> {
        // While another call connects, this one uses memory rather than wait.
        let mut slot = self.inner.conn.try_lock().ok()?;
        if let Some(conn) = slot.as_ref() {
            return Some(conn.clone());
        }
        {
            let mut last = self
                .inner
                .last_attempt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < RECONNECT_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connecting = ConnectionManager::new_with_config(self.inner.client.clone(), config);
        match tokio::time::timeout(TIMEOUT * 2, connecting).await {
            Ok(Ok(conn)) => {
                tracing::info!("Connected to Redis; the cache and rate limits are shared.");
                *slot = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(error)) => {
                self.failed("connect", &error);
                None
            }
            Err(_) => {
                self.failed("connect", &"the connection timed out");
                None
            }
        }
    }

    /// Counts and (now and then) logs a failed operation; the caller falls back to memory.
    pub fn failed(&self, operation: &'static str, error: &dyn std::fmt::Display) {
        metrics::counter!(GATEWAY_SHARED_STATE_ERRORS_TOTAL, LABEL_OPERATION => operation)
            .increment(1);
        let mut last = self
            .inner
            .last_warning
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                operation,
                %error,
                "Redis cannot be used; this gateway's cache and rate limits use its own memory \
                 until it is back."
            );
        }
    }
}
