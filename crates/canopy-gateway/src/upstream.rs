//! The upstream HTTP client: pooled connections, TLS with rustls, and error classification.
//!
//! Two hyper clients share the settings: one negotiates HTTP/1.1 or HTTP/2 (by ALPN over
//! TLS), the other speaks cleartext HTTP/2 with prior knowledge for providers configured with
//! `http2 = true`. Both keep idle connections for reuse. The call's URL is parsed once, into
//! the `Uri` hyper sends; nothing else is built per call. Swapping the client touches only this
//! file.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, header};
use http_body::Body as _;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, Sleep};

use crate::GatewaySettings;

/// How long an idle upstream connection is kept for reuse.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request body passed upstream as it arrives.
pub type StreamedBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// The body of a request sent upstream: bytes Canopy holds, or a stream passed through.
pub type UpstreamBody = Either<Full<Bytes>, StreamedBody>;

/// A response head from upstream, its body still to be read.
pub type UpstreamResponse = Response<Incoming>;

/// The upstream's body as a stream of chunks; an error is a sentence saying what failed.
pub type UpstreamStream = Pin<Box<dyn Stream<Item = Result<Bytes, String>> + Send>>;

/// A client could not be built (the TLS setup failed).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the upstream HTTP client: {0}")]
pub struct ClientError(#[from] rustls::Error);

/// Why an upstream sent no response head.
#[derive(Debug)]
pub enum SendError {
    /// The connection or the request failed (refused, reset, a bad URL, ...).
    Failed {
        /// What failed, in a sentence.
        message: String,
        /// The connection could not be made within the connect timeout.
        timed_out: bool,
    },
    /// No response head within the upstream timeout.
    TimedOut,
}

/// The pooled clients.
#[derive(Debug, Clone)]
pub struct Clients {
    negotiated: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
    h2c: Client<HttpConnector, UpstreamBody>,
    /// The longest wait for the next bytes of a response body.
    idle_timeout: Duration,
}

impl Clients {
    /// Builds both clients from the gateway's timeouts.
    pub fn new(settings: &GatewaySettings) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http.clone());
        let builder = || {
            let mut builder = Client::builder(TokioExecutor::new());
            builder
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .pool_max_idle_per_host(settings.upstream_idle_connections)
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new());
            builder
        };
        Ok(Self {
            negotiated: builder().build(https),
            h2c: builder().http2_only(true).build(http),
            idle_timeout: settings.upstream_idle_timeout,
        })
    }

    /// Sends one request and waits up to `timeout` for its response head.
    pub async fn send(
        &self,
        http2_prior_knowledge: bool,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: UpstreamBody,
        timeout: Duration,
    ) -> Result<UpstreamResponse, SendError> {
        let (uri, credentials) = parse_url(url).map_err(|error| SendError::Failed {
            message: format!("the upstream URL is not valid: {error}"),
            timed_out: false,
        })?;
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        if let Some(credentials) = credentials {
            // The call's own `Authorization` wins over the URL's.
            request
                .headers_mut()
                .entry(header::AUTHORIZATION)
                .or_insert(credentials);
        }
        let sent = if http2_prior_knowledge {
            self.h2c.request(request)
        } else {
            self.negotiated.request(request)
        };
        match tokio::time::timeout(timeout, sent).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(SendError::Failed {
                message: describe(&error),
                timed_out: is_timeout(&error),
            }),
            Err(_) => Err(SendError::TimedOut),
        }
    }

    /// A response's body as a stream that fails when the upstream sends nothing for the idle
    /// timeout, and the length the upstream declared.
    pub fn body_stream(&self, response: UpstreamResponse) -> (UpstreamStream, Option<u64>) {
        let body = response.into_body();
        let length = body.size_hint().exact();
        let stream = IdleLimited {
            body,
            idle: self.idle_timeout,
            timer: None,
            waiting_since: None,
        };
        (Box::pin(stream), length)
    }
}

/// A response body whose wait for each next chunk is bounded.
///
/// One timer serves the whole body. Data only notes that the wait must start again; the timer
/// is moved when it fires early, so a stream of many events does not arm and drop a timer per
/// event.
struct IdleLimited {
    body: Incoming,
    idle: Duration,
    /// Armed at the first wait; fires no earlier than `idle` after `waiting_since`.
    timer: Option<Pin<Box<Sleep>>>,
    /// When the current wait for data began; `None` once data came, so the next wait is new.
    waiting_since: Option<Instant>,
}

impl Stream for IdleLimited {
    type Item = Result<Bytes, String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    this.waiting_since = None;
                    // Trailers are not passed on; only data is.
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(describe(&error))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return this.poll_idle(cx),
            }
        }
    }
}

impl IdleLimited {
    /// The body has nothing yet: an error once it has waited `idle`, else pending.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        let due = *self.waiting_since.get_or_insert_with(Instant::now) + self.idle;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if timer.deadline() >= due {
                let message = format!(
                    "the upstream sent nothing for {} s",
                    self.idle.as_secs_f64()
                );
                return Poll::Ready(Some(Err(message)));
            }
            // Set for an earlier wait that data ended: move it to this one's end.
            timer.as_mut().reset(due);
        }
    }
}

/// The `Uri` to send to, and the credentials the URL carried (`user:password@host`) as a
/// basic `Authorization` value. They leave the URL: hyper would send them in `Host`, and its
/// connection pool (and its log) is keyed by the authority.
fn parse_url(url: &str) -> Result<(Uri, Option<HeaderValue>), http::uri::InvalidUri> {
    let Some((start, at)) = canopy_core::redact::userinfo_range(url) else {
        return Ok((url.parse()?, None));
    };
    let userinfo = &url[start..at];
    let bare = format!("{}{}", &url[..start], &url[at + 1..]);
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let user = percent_encoding::percent_decode_str(user).decode_utf8_lossy();
    let password = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
    let pair = format!("{user}:{password}");
    let value = format!("Basic {}", BASE64_STANDARD.encode(pair));
    let mut credentials = HeaderValue::try_from(value).ok();
    if let Some(value) = credentials.as_mut() {
        value.set_sensitive(true);
    }
    Ok((bare.parse()?, credentials))
}

/// Whether a failed send ran out of time connecting.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// A sentence describing a failure, with its innermost cause (the outer message is often just
/// "client error (Connect)").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_become_a_basic_authorization_and_leave_the_url() {
        let (uri, credentials) =
            parse_url("http://al%20ice:p%40ss@127.0.0.1:9/v1/x?q=a@b").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:9/v1/x?q=a@b");
        let expected = format!("Basic {}", BASE64_STANDARD.encode("al ice:p@ss"));
        let credentials = credentials.unwrap();
        assert_eq!(credentials.to_str().unwrap(), expected);
        assert!(credentials.is_sensitive());

        let (uri, credentials) = parse_url("https://api.example/v1?key=a@b").unwrap();
        assert_eq!(uri.to_string(), "https://api.example/v1?key=a@b");
        assert!(credentials.is_none());
        assert!(parse_url("http://bad host/").is_err());
    }
}
