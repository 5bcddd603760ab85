//! Removing secrets from URLs and from text that quotes URLs, before anything is stored or logged.
//!
//! Provider keys travel in URLs more often than they should: Gemini's `?key=`, `api_key` or
//! `token` query parameters, signed URLs (`sig`), and `user:password@` in a
//! `Helicone-Target-Url`. Canopy forwards them upstream untouched, but every URL it stores
//! (target URL, request path, stored headers, error texts) or logs goes through
//! [`redact_url`] or [`redact_text`] first.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Parts of a query parameter's name that mark its value as a secret (compared ignoring case;
/// a name containing any of them is redacted). Over-redacting a harmless parameter costs a
/// little detail in a stored URL; under-redacting leaks a key.
const SECRET_NAME_PARTS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "auth",
    "credential",
    "session_id",
];

/// Whether a query parameter's name marks its value as a secret.
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| name.contains(part))
}

/// A URL with its userinfo (`user:password@`, found as [`userinfo_range`] finds it, so also in
/// `user:password@host` typed without a scheme) and the values of secret-looking query
/// parameters replaced by `[REDACTED]`, and so is any URL nested in its path or in a query
/// value ([`redact_nested`]). Anything else comes back unchanged.
pub fn redact_url(url: &str) -> Cow<'_, str> {
    redact_url_in(url, 0)
}

/// How deep URLs quoted in URLs are searched. Past it, a part that still quotes a URL is
/// redacted whole: a caller's URL nested thousands of times over would otherwise cost a stack
/// frame and a pass over the rest of the text for each level.
const MAX_NESTING: usize = 4;

/// [`redact_url`] for a URL quoted `depth` levels deep in another.
fn redact_url_in(url: &str, depth: usize) -> Cow<'_, str> {
    // Userinfo needs an `@` (or `%40`, nested) and a query a `?`; most URLs, and every bare
    // path, have none of them.
    if !url.bytes().any(|b| matches!(b, b'@' | b'?' | b'%')) {
        return Cow::Borrowed(url);
    }
    let query = url.find('?');
    let head_end = query.unwrap_or(url.len());
    // Scheme and authority, then the path, which may quote another URL.
    let start = authority_start(url);
    let path_start = url[start..head_end]
        .find(['/', '\\', '#'])
        .map_or(head_end, |end| start + end);
    let mut out = String::with_capacity(url.len());
    match userinfo_range(url) {
        Some((start, end)) if end <= path_start => {
            out.push_str(&url[..start]);
            out.push_str(REDACTED);
            out.push_str(&url[end..path_start]);
        }
        _ => out.push_str(&url[..path_start]),
    }
    out.push_str(&redact_nested(&url[path_start..head_end], depth));
    if let Some(q) = query {
        let (query, fragment) = match url[q + 1..].find('#') {
            Some(f) => (&url[q + 1..q + 1 + f], &url[q + 1 + f..]),
            None => (&url[q + 1..], ""),
        };
        out.push('?');
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((name, _)) if is_secret_param(&percent_decoded(name)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                Some((name, value)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(&redact_nested(value, depth));
                }
                None => out.push_str(&redact_nested(pair, depth)),
            }
        }
        out.push_str(fragment);
    }
    if out == url {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(out)
    }
}

/// A URL's path or query value with any URL it quotes redacted: as typed
/// (`?next=http://u:p@h/`, or without a scheme, `?dsn=u:p@h`), or wholly `[REDACTED]` when the
/// URL is percent-encoded (`?next=http%3A%2F%2Fu%3Ap%40h`), which cannot be redacted in place.
fn redact_nested(part: &str, depth: usize) -> Cow<'_, str> {
    if depth >= MAX_NESTING {
        return if part.contains("://") || part.contains('%') || bare_password(part).is_some() {
            Cow::Borrowed(REDACTED)
        } else {
            Cow::Borrowed(part)
        };
    }
    let typed = redact_text_in(part, depth + 1);
    if matches!(typed, Cow::Owned(_)) {
        return typed;
    }
    if let Some((start, end)) = bare_password(part) {
        return Cow::Owned(format!("{}{REDACTED}{}", &part[..start], &part[end..]));
    }
    if !part.contains('%') {
        return typed;
    }
    let decoded = percent_decoded(part);
    if matches!(redact_text_in(&decoded, depth + 1), Cow::Owned(_))
        || bare_password(&decoded).is_some()
    {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(part)
    }
}

/// The userinfo of a URL typed without `scheme://` in a path or query value, when it holds a
/// password (`bob:hunter2@db`, as in `?dsn=bob:hunter2@db:5432/app`). A name alone before an
/// `@` (`?q=a@b`, an address) is kept. A value such as `12:30@home` loses its first part too,
/// which costs a little detail where leaving it could leak a password.
fn bare_password(part: &str) -> Option<(usize, usize)> {
    let (start, end) = userinfo_range(part)?;
    part[start..end].contains(':').then_some((start, end))
}

/// Text (an error message, a header value) with every `scheme://` URL in it redacted as
/// [`redact_url`] does.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    redact_text_in(text, 0)
}

/// [`redact_text`] for text quoted `depth` levels deep in a URL.
fn redact_text_in(text: &str, depth: usize) -> Cow<'_, str> {
    // The byte test first: most texts (header values) have no `:` at all.
    if !text.contains(':') || !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(start) = find_url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let mut end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(tail.len());
        // A URL quoted in a sentence often ends in punctuation that is not part of it.
        while end > 0 && matches!(tail.as_bytes()[end - 1], b')' | b'.' | b',' | b';' | b']') {
            end -= 1;
        }
        let url = &tail[..end];
        let redacted = redact_url_in(url, depth);
        changed |= matches!(redacted, Cow::Owned(_));
        out.push_str(&redacted);
        // `end` is past the `://` at least, so every round moves on.
        rest = &tail[end..];
    }
    out.push_str(rest);
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Where the next URL starts: at its scheme (a letter, then letters, digits, `+`, `-` or `.`)
/// before a `://`, or at the `://` itself when no scheme comes before it.
fn find_url_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let colon = text.find("://")?;
    let mut start = colon;
    while start > 0 && is_scheme_byte(bytes[start - 1]) {
        start -= 1;
    }
    // A scheme starts with a letter: skip digits and signs that cannot begin one.
    while start < colon && !bytes[start].is_ascii_alphabetic() {
        start += 1;
    }
    Some(start)
}

fn is_scheme_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// The byte range of the userinfo (`user:password`) in a URL as typed, if any; the range ends
/// at the `@`. The authority is read as lenient URL parsers read it: after `scheme:` and the
/// slashes or backslashes that follow it (`http:\\u:p@h`), or from the start when no slash
/// follows a scheme (`u:p@h/v1`, `http:u:p@h`), up to the next `/`, `\\`, `?` or `#`.
pub fn userinfo_range(url: &str) -> Option<(usize, usize)> {
    let start = authority_start(url);
    let authority = &url[start..];
    let end = authority
        .find(['/', '\\', '?', '#'])
        .unwrap_or(authority.len());
    let at = authority[..end].rfind('@')?;
    Some((start, start + at))
}

/// Where the authority of a URL as typed starts: past `scheme:` (or a bare `:` that URL-finding
/// in text stops at) and the slashes or backslashes after it, or at 0 when no slash follows.
fn authority_start(url: &str) -> usize {
    let bytes = url.as_bytes();
    let scheme = bytes.iter().take_while(|&&b| is_scheme_byte(b)).count();
    let is_scheme = scheme == 0 || bytes[0].is_ascii_alphabetic();
    if !is_scheme || bytes.get(scheme) != Some(&b':') {
        return 0;
    }
    let slashes = bytes[scheme + 1..]
        .iter()
        .take_while(|&&b| matches!(b, b'/' | b'\\'))
        .count();
    if slashes == 0 {
        0
    } else {
        scheme + 1 + slashes
    }
}

/// A query parameter name with `%XX` escapes and `+` decoded, as far as they decode.
fn percent_decoded(name: &str) -> Cow<'_, str> {
    if !name.contains(['%', '+']) {
        return Cow::Borrowed(name);
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_query_parameters_and_userinfo_are_redacted() {
        assert_eq!(
            redact_url(
                "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent?key=AIzaSECRET&alt=sse"
            ),
            "https://generativelanguage.googleapis.com/v1beta/models/g:generateContent?key=[REDACTED]&alt=sse"
        );
        assert_eq!(
            redact_url("http://bob:hunter2@127.0.0.1:9/v1?api_key=s1&Token=s2&x=1#frag"),
            "http://[REDACTED]@127.0.0.1:9/v1?api_key=[REDACTED]&Token=[REDACTED]&x=1#frag"
        );
        assert_eq!(
            redact_url("https://x.blob/f?sv=1&sig=abc%2F&client%5Fsecret=z"),
            "https://x.blob/f?sv=1&sig=[REDACTED]&client%5Fsecret=[REDACTED]"
        );
        assert!(matches!(
            redact_url("https://api.openai.com/v1/chat/completions?stream=true"),
            Cow::Borrowed(_)
        ));
        assert_eq!(redact_url("/v1/chat/completions"), "/v1/chat/completions");
        // An `@` after the path is not userinfo.
        assert_eq!(redact_url("https://h/a@b"), "https://h/a@b");
    }

    #[test]
    fn urls_inside_text_are_redacted_and_the_rest_is_kept() {
        let text = "cannot reach the upstream http://u:p@127.0.0.1:1/v1/x?key=SECRET: error \
                    sending request for url (http://127.0.0.1:1/v1/x?key=SECRET).";
        let redacted = redact_text(text);
        assert!(
            !redacted.contains("SECRET") && !redacted.contains("u:p@"),
            "{redacted}"
        );
        assert!(redacted.ends_with("?key=[REDACTED])."), "{redacted}");
        assert!(redacted.starts_with("cannot reach the upstream http://[REDACTED]@127.0.0.1:1"));
        assert!(matches!(redact_text("no urls here"), Cow::Borrowed(_)));
        assert!(matches!(
            redact_text("see https://example.com/docs"),
            Cow::Borrowed(_)
        ));
        assert_eq!(redact_text("HTTPS://h/?Key=v"), "HTTPS://h/?Key=[REDACTED]");
        assert_eq!(
            redact_text("got `ftp://u:p@h/x`, 1wss://u:p@h and ://u:p@h"),
            "got `ftp://[REDACTED]@h/x`, 1wss://[REDACTED]@h and ://[REDACTED]@h"
        );
    }

    #[test]
    fn urls_typed_without_a_scheme_lose_their_userinfo_too() {
        for (target, redacted) in [
            (
                "bob:hunter2@api.example.com/v1",
                "[REDACTED]@api.example.com/v1",
            ),
            ("http:bob:hunter2@h", "[REDACTED]@h"),
            ("http:\\\\bob:hunter2@h/v1", "http:\\\\[REDACTED]@h/v1"),
            ("bob:hunter2@h\\v1@x", "[REDACTED]@h\\v1@x"),
            (
                "bob:hunter2@h/x?u=http://y&key=k",
                "[REDACTED]@h/x?u=http://y&key=[REDACTED]",
            ),
            ("h/v1?key=k", "h/v1?key=[REDACTED]"),
            ("https://bob:hunter2@h/v1", "https://[REDACTED]@h/v1"),
        ] {
            assert_eq!(redact_url(target), redacted, "{target}");
        }
        for kept in ["api.example.com/a@b", "https://h/a@b", "https://h/v1"] {
            assert!(matches!(redact_url(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    #[test]
    fn urls_quoted_in_a_path_or_a_query_value_lose_their_secrets() {
        for (url, redacted) in [
            (
                "https://h/v1?next=http://bob:hunter2@x/&alt=json",
                "https://h/v1?next=http://[REDACTED]@x/&alt=json",
            ),
            (
                "/v1/chat?next=https://x/cb?token=t1",
                "/v1/chat?next=https://x/cb?token=[REDACTED]",
            ),
            (
                "/v1/chat?next=http%3A%2F%2Fbob%3Ahunter2%40x&alt=json",
                "/v1/chat?next=[REDACTED]&alt=json",
            ),
            (
                "/v1/chat?http://bob:hunter2@x",
                "/v1/chat?http://[REDACTED]@x",
            ),
            (
                "https://h/v1/http://bob:hunter2@x/y",
                "https://h/v1/http://[REDACTED]@x/y",
            ),
            ("/go/http:%2F%2Fbob:hunter2@x", "[REDACTED]"),
            (
                "https://al:pw@h/v1?next=http://bob:hunter2@x",
                "https://[REDACTED]@h/v1?next=http://[REDACTED]@x",
            ),
            // Typed without a scheme, as database and broker addresses often are.
            (
                "/v1/chat?dsn=bob:hunter2@db:5432/app&alt=json",
                "/v1/chat?dsn=[REDACTED]@db:5432/app&alt=json",
            ),
            ("/v1/chat?bob:hunter2@db", "/v1/chat?[REDACTED]@db"),
            (
                "/v1/chat?next=http:bob:hunter2@x",
                "/v1/chat?next=[REDACTED]@x",
            ),
            (
                "/v1/chat?dsn=bob%3Ahunter2%40db&alt=json",
                "/v1/chat?dsn=[REDACTED]&alt=json",
            ),
            (
                "/v1?next=http://h/x?dsn=bob:hunter2@db",
                "/v1?next=http://h/x?dsn=[REDACTED]@db",
            ),
        ] {
            assert_eq!(redact_url(url), redacted, "{url}");
        }
        for kept in [
            "/v1/chat?next=http%3A%2F%2Fx%2Fdocs",
            "/v1/files/a%20b",
            "/v1/chat?q=a@b",
            "/v1/users/a:b@c/x",
            "https://h/v1?next=https://x/docs",
        ] {
            assert!(matches!(redact_url(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    #[test]
    fn urls_nested_past_the_search_depth_are_redacted_whole() {
        let deep = "/v1?next=http://h/x".to_owned() + &"?next=http://h/x".repeat(50_000);
        let redacted = redact_url(&deep);
        assert!(
            redacted.ends_with("?next=[REDACTED]"),
            "{}",
            &redacted[..200]
        );
        assert!(redacted.len() < 200, "{}", redacted.len());
        let shallow = "/v1?next=http://h/?next=http://bob:hunter2@x";
        assert_eq!(
            redact_url(shallow),
            "/v1?next=http://h/?next=http://[REDACTED]@x"
        );
    }

    #[test]
    fn names_are_matched_by_their_parts() {
        for name in [
            "key",
            "api_key",
            "apiKey",
            "x-goog-api-key",
            "access_token",
            "sig",
            "password",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in ["model", "alt", "stream", "limit"] {
            assert!(!is_secret_param(name), "{name}");
        }
    }
}
