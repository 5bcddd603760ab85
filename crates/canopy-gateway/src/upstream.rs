//! The upstream HTTP client: pooled connections, TLS with rustls, and error classification.
//!
//! Two clients share the settings: one negotiates HTTP/1.1 or HTTP/2 (by ALPN over TLS), the
//! other speaks cleartext HTTP/2 with prior knowledge for providers configured with
//! `http2 = true`. Both keep idle connections for reuse. Swapping reqwest for another client
//! touches only this file.

use canopy_core::record::{STATUS_UPSTREAM_TIMEOUT, STATUS_UPSTREAM_UNREACHABLE};

use crate::GatewaySettings;
use crate::error::ErrorKind;

/// How long an idle upstream connection is kept for reuse.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client could not be built (the TLS setup failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// The pooled clients.
#[derive(Debug, Clone)]
pub struct Clients {
    negotiated: reqwest::Client,
    h2c: reqwest::Client,
}

impl Clients {
    /// Builds both clients from the gateway's timeouts.
    pub fn new(settings: &GatewaySettings) -> Result<Self, ClientError> {
        // TLS uses rustls with the ring provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = || {
            reqwest::Client::builder()
                .connect_timeout(settings.connect_timeout)
                .read_timeout(settings.upstream_idle_timeout)
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(settings.upstream_idle_connections)
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
        };
        Ok(Self {
            negotiated: base().build()?,
            h2c: base().http2_prior_knowledge().build()?,
        })
    }

    /// The client for a provider.
    pub fn for_provider(&self, http2_prior_knowledge: bool) -> &reqwest::Client {
        if http2_prior_knowledge {
            &self.h2c
        } else {
            &self.negotiated
        }
    }
}

/// How a failed send is recorded and answered.
pub fn classify(error: &reqwest::Error) -> (i32, ErrorKind) {
    if error.is_timeout() {
        (STATUS_UPSTREAM_TIMEOUT, ErrorKind::UpstreamTimeout)
    } else {
        (STATUS_UPSTREAM_UNREACHABLE, ErrorKind::UpstreamUnreachable)
    }
}

/// A sentence describing a failed send, with the innermost cause (reqwest's own message is
/// often just "error sending request").
pub fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        message.push_str(": ");
        message.push_str(&cause);
    }
    message
}
