//! The SSE splitter on arbitrary bytes in arbitrary chunks: it never panics, gives the same
//! events however the bytes are chunked, and every event is the bytes it arrived as. Under a
//! small limit on what it holds, it hands on the same bytes, long events in pieces.
#![no_main]

use canopy_core::sse::{SseSplitter, parse_event};
use libfuzzer_sys::fuzz_target;

/// Each event's bytes, copied out of the splitter's hands.
fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    split_with(SseSplitter::new(), chunks)
        .into_iter()
        .map(|(bytes, _)| bytes)
        .collect()
}

/// Each event or piece of one, and whether it is a whole event.
fn split_with(mut splitter: SseSplitter, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
    let mut events = Vec::new();
    for chunk in chunks {
        splitter.feed(chunk, |event| events.push((event.bytes.to_vec(), event.whole)));
    }
    splitter.finish(|event| events.push((event.bytes.to_vec(), event.whole)));
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
    // The size byte's high bits choose a limit; whatever it is, the same bytes come out, save
    // a last unfinished event of blanks, which is no event but is handed on once in pieces.
    let limited = split_with(SseSplitter::with_limit(usize::from(size >> 4)), &chunks);
    let joined: Vec<u8> = limited.iter().flat_map(|(b, _)| b.iter().copied()).collect();
    let events = whole.concat();
    assert!(
        joined.starts_with(&events) && joined[events.len()..].iter().all(u8::is_ascii_whitespace),
        "the limit changed the bytes handed on"
    );
    for (event, is_whole) in &limited {
        assert!(!is_whole || whole.contains(event), "{event:?} is not an event");
    }
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
