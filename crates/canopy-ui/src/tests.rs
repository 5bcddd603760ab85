//! Router tests: which paths the dashboard claims, and how its files are served.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

/// Sends `GET path` (with `if_none_match` when given) to the dashboard's router alone.
async fn get_path(path: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::get(path);
    if let Some(tag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, tag);
    }
    let response = router()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_page_answers_at_the_root_and_at_every_client_route() {
    for path in [
        "/",
        "/ui",
        "/ui/",
        "/ui/sessions",
        "/ui/sessions/demo-ticket-1",
        "/ui/metrics",
    ] {
        let (status, headers, body) = get_path(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let main = format!("/ui/assets/v/{}/js/main.js", version());
        assert!(body.contains(&main), "{path}: {body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    }
}

#[tokio::test]
async fn assets_have_their_mime_type_and_a_content_security_policy() {
    for (path, mime) in [
        ("/ui/assets/js/main.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/css/app.css", "text/css; charset=utf-8"),
        ("/ui/assets/favicon.svg", "image/svg+xml; charset=utf-8"),
    ] {
        let (status, headers, _) = get_path(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], mime, "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
    }
}

#[tokio::test]
async fn a_current_copy_is_answered_with_304() {
    let (_, headers, _) = get_path("/ui/assets/js/api.js", None).await;
    let tag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, _, body) = get_path("/ui/assets/js/api.js", Some(&tag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (status, _, _) = get_path("/ui/assets/js/api.js", Some("\"stale\"")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_missing_file_is_404_and_other_paths_are_left_to_the_proxy() {
    let (status, _, _) = get_path("/ui/assets/js/nope.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Provider routes are not the dashboard's: with no fallback here, nothing matches them.
    for path in [
        "/v1/chat/completions",
        "/openai/v1/models",
        "/sessions",
        "/api/v1",
    ] {
        let (status, _, _) = get_path(path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[test]
fn every_asset_the_page_names_exists() {
    let Some(index) = Assets::get(INDEX) else {
        panic!("index.html is missing");
    };
    let index = String::from_utf8_lossy(&index.data).into_owned();
    for reference in index.split('"').filter(|s| s.starts_with("/ui/assets/")) {
        let path = reference.trim_start_matches("/ui/assets/");
        assert!(Assets::get(path).is_some(), "{reference} is missing");
    }
}

#[test]
fn every_module_a_script_imports_exists() {
    let scripts: Vec<String> = Assets::iter()
        .filter(|p| p.ends_with(".js"))
        .map(|p| p.into_owned())
        .collect();
    assert!(scripts.len() > 10, "{scripts:?}");
    for script in &scripts {
        let source = String::from_utf8(Assets::get(script).unwrap().data.into_owned()).unwrap();
        let dir = script.rsplit_once('/').map_or("", |(d, _)| d);
        for line in source.lines().filter(|l| l.starts_with("import ")) {
            let target = line.split('\'').nth(1).unwrap();
            // Resolves `./x.js` and `../x.js` against the importing file's folder.
            let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
            for segment in target.split('/') {
                match segment {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            let resolved = parts.join("/");
            assert!(
                Assets::get(&resolved).is_some(),
                "{script} imports {target}, which is not at {resolved}"
            );
        }
    }
}

#[tokio::test]
async fn versioned_assets_are_immutable_and_the_page_names_the_current_version() {
    let (_, _, page) = get_path("/", None).await;
    let version = version();
    assert_eq!(version.len(), 12);
    for link in ["js/main.js", "css/app.css", "favicon.svg"] {
        let path = format!("/ui/assets/v/{version}/{link}");
        assert!(page.contains(&path), "{page}");
        let (status, headers, body) = get_path(&path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let (_, _, plain) = get_path(&format!("/ui/assets/{link}"), None).await;
        assert_eq!(body, plain, "the same file as unversioned");
    }
    let preload = format!("<link rel=\"modulepreload\" href=\"/ui/assets/v/{version}/js/api.js\">");
    assert!(page.contains(&preload), "every module is preloaded: {page}");
    // A page of another build asks for its version: served, but revalidated.
    let (status, headers, _) = get_path("/ui/assets/v/000000000000/js/main.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    let (status, _, _) = get_path(&format!("/ui/assets/v/{version}/js/nope.js"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_revalidates_by_its_etag() {
    let (_, headers, _) = get_path("/ui/sessions/x", None).await;
    let etag = headers[header::ETAG].to_str().unwrap().to_owned();
    let (status, _, body) = get_path("/ui/sessions/x", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}
