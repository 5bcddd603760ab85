//! Request paths on provider routes: what stays below a provider's base path.
//!
//! A client's path is joined to a provider's base URL (`http://host/v1` + `/chat/completions`).
//! URL parsers and servers resolve dot segments when they read a URL, also when they are
//! percent-encoded (`%2e%2e`), and treat a backslash as a separator in `http(s)` URLs; an upstream
//! may decode `%2f` into a separator too. So a path can climb out of the base path by any of these
//! spellings. [`below_base`] resolves the dot segments where Canopy can see them and refuses a path
//! that would climb above its start, or that hides a dot segment behind more escapes.
//!
//! Nothing here knows providers or HTTP; the gateway and replay call it.

use std::borrow::Cow;

/// A path that cannot be sent below a provider's base path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Its `..` segments climb above the start of the path.
    #[error("the path `{0}` climbs above the provider's base path with `..`")]
    Escapes(String),
    /// A `.` or `..` segment is spelled with an encoded separator or a second layer of escapes.
    #[error("the path `{0}` hides a `.` or `..` segment behind escapes (`%2f`, `%5c` or `%25`)")]
    HiddenDotSegment(String),
}

/// `rest`, the part of a client's path that follows a provider's base path, with its dot segments
/// resolved (`.`, `..`, `%2e`, `%2e%2e` in any case) and backslashes read as `/`. A path with
/// nothing to resolve comes back unchanged, byte for byte. Refused when a `..` would climb above
/// the start of `rest`, or when a dot segment hides behind an encoded separator or a second
/// layer of percent-encoding, which an upstream may decode where Canopy did not.
pub fn below_base(rest: &str) -> Result<Cow<'_, str>, PathError> {
    let body = rest.strip_prefix(['/', '\\']).unwrap_or(rest);
    let mut changed = rest.contains('\\');
    let mut kept: Vec<&str> = Vec::new();
    let mut ends_in_dot = false;
    for segment in body.split(['/', '\\']) {
        match dot_segment(segment).map_err(|()| PathError::HiddenDotSegment(clip(rest)))? {
            Some(Dot::Current) => {
                changed = true;
                ends_in_dot = true;
            }
            Some(Dot::Parent) => {
                changed = true;
                ends_in_dot = true;
                if kept.pop().is_none() {
                    return Err(PathError::Escapes(clip(rest)));
                }
            }
            None => {
                kept.push(segment);
                ends_in_dot = false;
            }
        }
    }
    if !changed {
        return Ok(Cow::Borrowed(rest));
    }
    let mut out = String::with_capacity(rest.len());
    out.push('/');
    out.push_str(&kept.join("/"));
    if ends_in_dot && !kept.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// Whether a path segment is, or hides, a `.` or `..` segment by any spelling: plain,
/// percent-encoded, behind an encoded separator, or behind more layers of escapes.
pub fn is_dot_like(segment: &str) -> bool {
    !matches!(dot_segment(segment), Ok(None))
}

/// A dot segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dot {
    Current,
    Parent,
}

/// `Ok(Some(_))` for a segment that is `.` or `..` once percent-decoded (as URL parsers read
/// it); `Err(())` for one that holds a dot segment only behind an encoded separator or further
/// decoding; `Ok(None)` otherwise.
fn dot_segment(segment: &str) -> Result<Option<Dot>, ()> {
    if !segment.contains('%') {
        // Nothing to decode (the common case, checked without allocating).
        return Ok(match segment {
            "." => Some(Dot::Current),
            ".." => Some(Dot::Parent),
            _ => None,
        });
    }
    let mut level = percent_decode(segment.as_bytes());
    match level.as_slice() {
        b"." => return Ok(Some(Dot::Current)),
        b".." => return Ok(Some(Dot::Parent)),
        _ => {}
    }
    // Four layers of escapes are more than any client sends by mistake.
    for _ in 0..4 {
        if level
            .split(|b| *b == b'/' || *b == b'\\')
            .any(|part| part == b"." || part == b"..")
        {
            return Err(());
        }
        let next = percent_decode(&level);
        if next == level {
            break;
        }
        level = next;
    }
    Ok(None)
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as it is.
pub fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(index + 1).and_then(|b| hex(*b)),
                bytes.get(index + 2).and_then(|b| hex(*b)),
            )
        {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(byte);
        index += 1;
    }
    out
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// A path cut short for an error message.
pub(crate) fn clip(path: &str) -> String {
    const MAX: usize = 120;
    if path.len() <= MAX {
        return path.to_owned();
    }
    let mut end = MAX;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_paths_pass_unchanged() {
        for path in [
            "/chat/completions",
            "/v1/models/gemini-2.0-flash:generateContent",
            "/v1/models/meta-llama%2FLlama-3",
            "/a//b/",
            "/",
            "",
            "/..a/b..",
            "/%2e%2ex",
        ] {
            assert!(
                matches!(below_base(path), Ok(Cow::Borrowed(p)) if p == path),
                "{path}"
            );
        }
    }

    #[test]
    fn dot_segments_inside_the_path_are_resolved() {
        assert_eq!(below_base("/a/../b").unwrap(), "/b");
        assert_eq!(below_base("/a/./b").unwrap(), "/a/b");
        assert_eq!(below_base("/a/%2E%2e/b").unwrap(), "/b");
        assert_eq!(below_base("/a/b/..").unwrap(), "/a/");
        assert_eq!(below_base("/a\\b").unwrap(), "/a/b");
        assert_eq!(below_base("/a/..").unwrap(), "/");
    }

    #[test]
    fn paths_that_climb_out_are_refused() {
        for path in [
            "/..",
            "/../x",
            "/%2e%2e/x",
            "/%2E%2E/x",
            "/.%2e/x",
            "/a/../../x",
            "\\..\\x",
            "/a\\..\\..\\x",
        ] {
            assert!(
                matches!(below_base(path), Err(PathError::Escapes(_))),
                "{path}"
            );
        }
        for path in [
            "/%2e%2e%2fx",
            "/a%2f..%2f..%2fx",
            "/%252e%252e/x",
            "/..%5cx",
        ] {
            assert!(
                matches!(below_base(path), Err(PathError::HiddenDotSegment(_))),
                "{path}"
            );
        }
    }

    #[test]
    fn segments_are_classified_by_every_spelling() {
        assert!(is_dot_like(".."));
        assert!(is_dot_like("%2e"));
        assert!(is_dot_like("%252E%252E"));
        assert!(is_dot_like("x%2f..%2fy"));
        assert!(!is_dot_like("v1"));
        assert!(!is_dot_like("..."));
        assert_eq!(percent_decode(b"a%2Fb%zz%4"), b"a/b%zz%4");
    }

    proptest! {
        #[test]
        fn what_passes_never_climbs(parts in proptest::collection::vec(
            prop_oneof!["[a-z]{1,3}", Just("..".to_owned()), Just(".".to_owned()),
                Just("%2e%2e".to_owned()), Just("%2e".to_owned()), Just(String::new())],
            0..8,
        )) {
            let path = format!("/{}", parts.join("/"));
            if let Ok(resolved) = below_base(&path) {
                for segment in resolved.split('/') {
                    prop_assert!(!is_dot_like(segment), "{} -> {}", path, resolved);
                }
            }
        }
    }
}
