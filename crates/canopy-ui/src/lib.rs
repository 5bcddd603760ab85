//! Canopy's web dashboard: plain HTML, CSS and ES modules under `assets/`, embedded in the
//! binary with `rust-embed`, and the router that serves them.
//!
//! There is no Node build step: `cargo build` alone yields a working dashboard. Release builds
//! carry the files inside the binary; debug builds read them from `assets/` on every request,
//! so editing a file and reloading the page is enough while working on the dashboard.
//!
//! Paths the dashboard claims (everything else stays with the proxy, the router's fallback):
//! - `/` and `/ui`: the dashboard's page;
//! - `/ui/assets/*`: the embedded files, with their MIME type and an `ETag` to revalidate;
//! - `/ui/*`: the dashboard's client-side routes (`/ui/sessions/{id}`, `/ui/metrics`), which
//!   all answer with the page, whose script then shows the view the path names.
//!
//! Only `GET` and `HEAD` are claimed. A provider configured under the name `ui` would be
//! shadowed, which is why the client routes live under that one prefix and nowhere else.
//!
//! What must not go here: data. The dashboard reads everything through the query API under
//! `/api`, with the caller's key, like any other client.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

/// The dashboard's files, from `assets/` beside this crate's manifest.
#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The page every dashboard path answers with.
const INDEX: &str = "index.html";

/// Every response may only load from this server: no external fonts, scripts or connections.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
     style-src 'self'; script-src 'self'; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The dashboard's routes: the page at `/` and `/ui/*`, the files at `/ui/assets/*`.
pub fn router() -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui/{*route}", get(page))
}

/// The page, for `/` and every client-side route.
async fn page(headers: HeaderMap) -> Response {
    serve(INDEX, &headers)
}

/// One embedded file, or 404 when there is none by that name.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Answers with the file at `path`: 304 when the client's copy is current, 404 when there is
/// no such file. Files are revalidated on every use (`no-cache` with an `ETag` of their
/// content), since their names carry no version.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "no such dashboard file").into_response();
    };
    let etag = etag(&file.metadata.sha256_hash());
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
    ];
    let current = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let etag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if current {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
    }
    let content_type = HeaderValue::from_str(&content_type(path))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        common,
        [(header::ETAG, etag), (header::CONTENT_TYPE, content_type)],
        file.data.into_owned(),
    )
        .into_response()
}

/// The MIME type of a file by its extension, with a charset for text.
fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    if mime.type_() == mime_guess::mime::TEXT || path.ends_with(".js") || path.ends_with(".svg") {
        let essence = match mime.essence_str() {
            // Browsers accept both; `text/javascript` is the registered name.
            "application/javascript" => "text/javascript",
            other => other,
        };
        format!("{essence}; charset=utf-8")
    } else {
        mime.essence_str().to_owned()
    }
}

/// A strong `ETag` from a file's SHA-256.
fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{}\"", &hex[..16])
}

#[cfg(test)]
mod tests;
