//! Canopy's web dashboard: plain HTML, CSS and ES modules under `assets/`, embedded in the
//! binary with `rust-embed`, and the router that serves them.
//!
//! There is no Node build step: `cargo build` alone yields a working dashboard. Release builds
//! carry the files inside the binary; debug builds read them from `assets/` on every request,
//! so editing a file and reloading the page is enough while working on the dashboard.
//!
//! Paths the dashboard claims (everything else stays with the proxy, the router's fallback):
//! - `/` and `/ui`: the dashboard's page, whose asset links carry the version of the whole
//!   asset set (`/ui/assets/v/<version>/…`; relative module imports inherit it), with a
//!   `modulepreload` link for every module so the graph loads in one round;
//! - `/ui/assets/v/<version>/*`: the embedded files, cached for a year as immutable, so a
//!   reload asks for nothing but the page; a new build has a new version;
//! - `/ui/assets/*`: the same files unversioned, revalidated by `ETag` on every use;
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
        .route("/ui/assets/v/{version}/{*path}", get(versioned_asset))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui/{*route}", get(page))
}

/// The page, for `/` and every client-side route, its asset links versioned.
async fn page(headers: HeaderMap) -> Response {
    let Some(file) = Assets::get(INDEX) else {
        return (StatusCode::NOT_FOUND, "no dashboard page").into_response();
    };
    let version = version();
    // Every module is announced up front, so the browser fetches the whole graph at once
    // instead of one level of imports after another.
    let mut preloads = String::new();
    let mut modules: Vec<_> = Assets::iter()
        .filter(|name| name.starts_with("js/") && name.ends_with(".js"))
        .collect();
    modules.sort();
    for module in modules {
        preloads.push_str(&format!(
            "  <link rel=\"modulepreload\" href=\"/ui/assets/{module}\">\n"
        ));
    }
    let page = String::from_utf8_lossy(&file.data)
        .replacen("</head>", &format!("{preloads}</head>"), 1)
        .replace("/ui/assets/", &format!("/ui/assets/v/{version}/"));
    let hash = ring::digest::digest(&ring::digest::SHA256, page.as_bytes());
    let mut digest = [0_u8; 32];
    digest.copy_from_slice(hash.as_ref());
    respond(
        INDEX,
        page.into_bytes(),
        &etag(&digest),
        Caching::Revalidate,
        &headers,
    )
}

/// One embedded file, or 404 when there is none by that name.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, Caching::Revalidate, &headers)
}

/// One embedded file under the asset set's version: immutable when the version is current
/// (a page of an older build may still ask for an older one, which is then revalidated).
async fn versioned_asset(
    Path((asked, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let caching = if asked == version() {
        Caching::Immutable
    } else {
        Caching::Revalidate
    };
    serve(&path, caching, &headers)
}

/// The version of the whole asset set: a digest of every file's name and content, so it
/// changes whenever any file does.
fn version() -> String {
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for name in names {
        if let Some(file) = Assets::get(&name) {
            context.update(name.as_bytes());
            context.update(&file.metadata.sha256_hash());
        }
    }
    context
        .finish()
        .as_ref()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a file may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caching {
    /// Revalidated on every use (`no-cache` with an `ETag`).
    Revalidate,
    /// Kept a year without asking: its URL changes when it does.
    Immutable,
}

/// Answers with the file at `path`, or 404 when there is no such file.
fn serve(path: &str, caching: Caching, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "no such dashboard file").into_response();
    };
    let etag = etag(&file.metadata.sha256_hash());
    respond(path, file.data.into_owned(), &etag, caching, headers)
}

/// Answers with `body` (the file at `path`): 304 when the client's copy is current.
fn respond(
    path: &str,
    body: Vec<u8>,
    etag: &str,
    caching: Caching,
    headers: &HeaderMap,
) -> Response {
    let cache_control = match caching {
        Caching::Revalidate => "no-cache",
        Caching::Immutable => "public, max-age=31536000, immutable",
    };
    let common = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        ),
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
    let etag = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    if current {
        return (StatusCode::NOT_MODIFIED, common, [(header::ETAG, etag)]).into_response();
    }
    let content_type = HeaderValue::from_str(&content_type(path))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        common,
        [(header::ETAG, etag), (header::CONTENT_TYPE, content_type)],
        body,
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
