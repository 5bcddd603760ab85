//! The SSE splitter on arbitrary bytes in arbitrary chunks: it never panics, gives the same
//! events however the bytes are chunked, and every event is the bytes it arrived as.
#![no_main]

use canopy_core::sse::{SseSplitter, parse_event};
use libfuzzer_sys::fuzz_target;

/// Each event's bytes, copied out of the splitter's hands.
fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut splitter = SseSplitter::new();
    let mut events = Vec::new();
    for chunk in chunks {
        splitter.feed(chunk, |event| events.push(event.0.to_vec()));
    }
    splitter.finish(|event| events.push(event.0.to_vec()));
    events
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, so chunk boundaries fall everywhere, `\r\n`
    // pairs split included.
    let Some((&size, bytes)) = data.split_first() else {
        return;
    };
    let whole = split(&[bytes]);
    let chunks: Vec<&[u8]> = bytes.chunks(usize::from(size % 16) + 1).collect();
    assert_eq!(whole, split(&chunks), "chunking changed the events");
    // Each event is the next bytes of the input, after any stray blank lines (keep-alives),
    // which are not events.
    let mut at = 0;
    for event in &whole {
        while at < bytes.len() && matches!(bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        assert!(
            bytes[at..].starts_with(event),
            "event {event:?} is not the bytes at {at}"
        );
        at += event.len();
        let _ = parse_event(event);
    }
});
