//! Session path normalisation (`Helicone-Session-Path`).

use crate::redact::redact_text;

/// The longest session path kept, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// The longest session id kept, in bytes.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// Normalises a session path: a leading `/` is added, empty segments collapse, surrounding
/// white space goes, and a trailing `/` is dropped. An empty or all-slash path is `/`.
/// The result is cut to [`MAX_PATH_BYTES`] at a character boundary.
///
/// A URL quoted in the path loses its secrets first ([`redact_text`]): collapsing `//` would
/// leave `https:/user:password@host`, which no longer reads as a URL.
pub fn normalize_path(raw: &str) -> String {
    let raw = redact_text(raw);
    let mut out = String::with_capacity(raw.len() + 1);
    for segment in raw
        .trim()
        .split('/')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        out.push('/');
        out.push_str(segment);
    }
    truncate_at_char(&mut out, MAX_PATH_BYTES);
    // The cut may end the path on a separator or inside a segment's white space; the normal
    // form has neither, so normalising it again changes nothing.
    let kept = out
        .trim_end_matches(|c: char| c == '/' || c.is_whitespace())
        .len();
    out.truncate(kept);
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The segments of a normalised path; `/` has none.
pub fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Cuts `text` to at most `max` bytes without splitting a character.
pub fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn adds_leading_slash_and_collapses_empty_segments() {
        assert_eq!(normalize_path("triage/classify"), "/triage/classify");
        assert_eq!(normalize_path("//triage///classify/"), "/triage/classify");
        assert_eq!(normalize_path(" /a/ b /"), "/a/b");
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("///"), "/");
    }

    #[test]
    fn a_url_quoted_in_a_path_loses_its_secrets_before_slashes_collapse() {
        let path = normalize_path("/fetch/https://bot:SECRET@h.example.com/x?token=T");
        assert_eq!(
            path,
            "/fetch/https:/[REDACTED]@h.example.com/x?token=[REDACTED]"
        );
        assert_eq!(normalize_path(&path), path);
    }

    #[test]
    fn caps_length_on_a_char_boundary() {
        let long = format!("/{}", "é".repeat(2000));
        let path = normalize_path(&long);
        assert!(path.len() <= MAX_PATH_BYTES);
        assert!(path.starts_with("/é"));
    }

    #[test]
    fn a_path_cut_at_the_cap_ends_in_neither_a_separator_nor_white_space() {
        for tail in ["/b", " b"] {
            let raw = format!("/{}{tail}", "a".repeat(MAX_PATH_BYTES - 2));
            let path = normalize_path(&raw);
            assert_eq!(path, format!("/{}", "a".repeat(MAX_PATH_BYTES - 2)));
            assert_eq!(normalize_path(&path), path);
        }
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(raw in "[a-z/ ]{0,40}") {
            let once = normalize_path(&raw);
            prop_assert_eq!(normalize_path(&once), once.clone());
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.contains("//"));
        }

        #[test]
        fn segments_round_trip(parts in proptest::collection::vec("[a-z0-9_-]{1,8}", 0..6)) {
            let path = normalize_path(&parts.join("/"));
            let back: Vec<&str> = segments(&path).collect();
            prop_assert_eq!(back, parts.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
