//! Session paths (`Helicone-Session-Path`) from arbitrary text: the normal form starts with
//! `/`, has no empty or padded segment, fits the length cap, and normalising it again
//! changes nothing.
#![no_main]

use canopy_core::session::{MAX_PATH_BYTES, normalize_path, segments};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let path = normalize_path(raw);
    assert!(path.starts_with('/'), "{path:?}");
    assert!(path.len() <= MAX_PATH_BYTES, "{} bytes", path.len());
    assert!(path == "/" || !path.ends_with('/'), "{path:?}");
    for segment in segments(&path) {
        assert_eq!(segment, segment.trim(), "padded segment in {path:?}");
    }
    assert_eq!(normalize_path(&path), path, "not idempotent");
});
