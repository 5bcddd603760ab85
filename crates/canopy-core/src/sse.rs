//! An incremental Server-Sent Events parser that hands back each event's raw bytes.
//!
//! The gateway forwards upstream bytes unchanged and observes them on the way, so the splitter
//! here hands back every complete event *as the bytes it arrived as* ([`RawEvent`]), and
//! [`RawEvent::parse`] reads its fields. Events may arrive split across any number of network
//! chunks; feeding the same bytes in any chunking yields the same events (a property test
//! checks this). Line endings may be `\n`, `\r\n` or `\r`, as the SSE specification allows.
//!
//! An event that arrives whole in one chunk is read where it lies, without a copy; only the
//! unfinished event at a chunk's end is kept until the next chunk completes it.

use std::borrow::Cow;

/// Splits a byte stream into complete SSE events.
#[derive(Debug, Default)]
pub struct SseSplitter {
    /// Bytes of the event being received, not yet terminated by a blank line.
    buf: Vec<u8>,
    /// Where scanning of `buf` resumes.
    at: Cursor,
}

/// A scan position within the bytes of an unfinished event.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    /// Everything before it holds no event end.
    scan: usize,
    /// Start of the current line.
    line_start: usize,
}

impl Cursor {
    /// The same position once the first `n` bytes are gone.
    fn less(self, n: usize) -> Self {
        Self {
            scan: self.scan - n,
            line_start: self.line_start - n,
        }
    }
}

/// One complete event as it appeared on the wire, blank line included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a>(pub &'a [u8]);

/// The fields of one event, borrowed from its bytes when they are UTF-8 and it has one `data:`
/// line, as provider events do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field, if any.
    pub event: Option<Cow<'a, str>>,
    /// The `data:` lines joined with `\n`.
    pub data: Cow<'a, str>,
}

impl SseSplitter {
    /// A splitter with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes and calls `on_event` for every event they complete, in order.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(RawEvent<'_>)) {
        if self.buf.is_empty() {
            let (done, at) = split(bytes, Cursor::default(), false, &mut on_event);
            self.buf.extend_from_slice(&bytes[done..]);
            self.at = at.less(done);
        } else {
            self.buf.extend_from_slice(bytes);
            let (done, at) = split(&self.buf, self.at, false, &mut on_event);
            self.buf.drain(..done);
            self.at = at.less(done);
        }
    }

    /// Ends the stream: a last event without its blank line is still delivered, as
    /// browsers' EventSource would not, but a usage chunk cut short must still be read.
    pub fn finish(&mut self, mut on_event: impl FnMut(RawEvent<'_>)) {
        let (done, _) = split(&self.buf, self.at, true, &mut on_event);
        let rest = &self.buf[done..];
        if rest.iter().any(|b| !b.is_ascii_whitespace()) {
            on_event(RawEvent(rest));
        }
        self.buf.clear();
        self.at = Cursor::default();
    }
}

/// Scans `bytes` from `at` and calls `on_event` for each event a blank line ends. Returns the
/// length of the events delivered (the bytes before the unfinished one) and where the scan
/// stopped. `at_end` says no more bytes will come, so a lone `\r` at the end ends its line.
fn split<'a>(
    bytes: &'a [u8],
    at: Cursor,
    at_end: bool,
    on_event: &mut impl FnMut(RawEvent<'a>),
) -> (usize, Cursor) {
    let Cursor {
        scan: mut i,
        mut line_start,
    } = at;
    let mut done = 0;
    loop {
        let Some(found) = memchr::memchr2(b'\n', b'\r', &bytes[i..]) else {
            i = bytes.len();
            break;
        };
        i += found;
        let terminator_len = match (bytes[i], bytes.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            // A lone `\r` at the end may be the first half of `\r\n`: wait for more.
            (b'\r', None) if !at_end => break,
            _ => 1,
        };
        let line_is_empty = i == line_start;
        i += terminator_len;
        line_start = i;
        if line_is_empty {
            let event = &bytes[done..i];
            done = i;
            // A blank line with no fields before it (stray keep-alive newlines) is not an event.
            if event.len() > terminator_len {
                on_event(RawEvent(event));
            }
        }
    }
    (
        done,
        Cursor {
            scan: i,
            line_start,
        },
    )
}

impl<'a> RawEvent<'a> {
    /// Reads the event's fields.
    pub fn parse(&self) -> Event<'a> {
        parse_event(self.0)
    }
}

/// Reads the fields of one event's bytes (lines up to and including its blank line).
pub fn parse_event(bytes: &[u8]) -> Event<'_> {
    match std::str::from_utf8(bytes) {
        Ok(text) => fields(text),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let Event { event, data } = fields(&text);
            Event {
                event: event.map(|e| Cow::Owned(e.into_owned())),
                data: Cow::Owned(data.into_owned()),
            }
        }
    }
}

fn fields(text: &str) -> Event<'_> {
    let mut event = Event::default();
    let mut has_data = false;
    for line in text.split(['\n', '\r']) {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" if has_data => {
                let data = event.data.to_mut();
                data.push('\n');
                data.push_str(value);
            }
            "data" => {
                event.data = Cow::Borrowed(value);
                has_data = true;
            }
            "event" => event.event = Some(Cow::Borrowed(value)),
            _ => {}
        }
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each event's bytes, as owned copies.
    fn split_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut splitter = SseSplitter::new();
        let mut events = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |e| events.push(e.0.to_vec()));
        }
        splitter.finish(|e| events.push(e.0.to_vec()));
        events
    }

    #[test]
    fn keeps_raw_bytes_and_reads_fields() {
        let wire = b"event: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\n";
        let events = split_all(&[wire]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], b"event: message_start\ndata: {\"a\":1}\n\n");
        let first = parse_event(&events[0]);
        assert_eq!(first.event.as_deref(), Some("message_start"));
        assert_eq!(first.data, "{\"a\":1}");
        assert_eq!(parse_event(&events[1]).data, "[DONE]");
    }

    #[test]
    fn handles_crlf_and_cr_line_endings() {
        let events = split_all(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
        let data: Vec<String> = events
            .iter()
            .map(|e| parse_event(e).data.into_owned())
            .collect();
        assert_eq!(data, ["a", "b", "c"]);
    }

    #[test]
    fn joins_multiline_data_and_skips_comments() {
        let event = parse_event(b": keep-alive\ndata: one\ndata:two\nid: 7\n\n");
        assert_eq!(event.data, "one\ntwo");
        assert_eq!(event.event, None);
    }

    #[test]
    fn unterminated_last_event_is_delivered_at_finish() {
        let events = split_all(&[b"data: a\n\ndata: tail"]);
        assert_eq!(events.len(), 2);
        assert_eq!(parse_event(&events[1]).data, "tail");
    }

    #[test]
    fn a_cr_at_a_chunk_end_waits_for_the_next_chunk() {
        let events = split_all(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], b"data: a\r\n\r\n");
    }

    fn wire() -> impl Strategy<Value = Vec<u8>> {
        let line_end = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        let field = prop_oneof![
            "[a-z{}\":, ]{0,12}".prop_map(|v| format!("data: {v}")),
            "[a-z_]{1,10}".prop_map(|v| format!("event: {v}")),
            Just(": comment".to_owned()),
        ];
        proptest::collection::vec(
            (
                proptest::collection::vec((field, line_end.clone()), 1..4),
                line_end,
            ),
            0..8,
        )
        .prop_map(|events| {
            let mut out = String::new();
            for (lines, end) in events {
                for (line, le) in lines {
                    out.push_str(&line);
                    out.push_str(le);
                }
                out.push_str(end);
            }
            out.into_bytes()
        })
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(
            bytes in wire(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = split_all(&[&bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for p in points {
                chunks.push(&bytes[start..p]);
                start = p;
            }
            chunks.push(&bytes[start..]);
            let pieces = split_all(&chunks);
            prop_assert_eq!(&pieces, &whole);
            let joined: Vec<u8> = whole.concat();
            // Every byte is accounted for, except stray blank lines between events.
            prop_assert!(joined.len() <= bytes.len());
        }
    }
}
