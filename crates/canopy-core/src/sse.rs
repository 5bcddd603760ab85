//! An incremental Server-Sent Events parser that keeps each event's raw bytes.
//!
//! The gateway forwards upstream bytes unchanged and observes a copy, so the splitter here
//! hands back every complete event *as the bytes it arrived as* ([`RawEvent`]), and
//! [`RawEvent::parse`] reads its fields. Events may arrive split across any number of network
//! chunks; feeding the same bytes in any chunking yields the same events (a property test
//! checks this). Line endings may be `\n`, `\r\n` or `\r`, as the SSE specification allows.

use std::borrow::Cow;

/// Splits a byte stream into complete SSE events.
#[derive(Debug, Default)]
pub struct SseSplitter {
    /// Bytes of the event being received, not yet terminated by a blank line.
    buf: Vec<u8>,
    /// Where scanning resumes in `buf`; everything before it holds no event end.
    scan: usize,
    /// Start of the current line in `buf`.
    line_start: usize,
}

/// One complete event as it appeared on the wire, blank line included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent(pub Vec<u8>);

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
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(RawEvent)) {
        self.buf.extend_from_slice(bytes);
        self.drain(false, &mut on_event);
    }

    /// Ends the stream: a last event without its blank line is still delivered, as
    /// browsers' EventSource would not, but a usage chunk cut short must still be read.
    pub fn finish(&mut self, mut on_event: impl FnMut(RawEvent)) {
        self.drain(true, &mut on_event);
        if self.buf.iter().any(|b| !b.is_ascii_whitespace()) {
            on_event(RawEvent(std::mem::take(&mut self.buf)));
        }
        self.buf.clear();
        self.scan = 0;
        self.line_start = 0;
    }

    fn drain(&mut self, at_end: bool, on_event: &mut impl FnMut(RawEvent)) {
        let mut i = self.scan;
        while i < self.buf.len() {
            let terminator_len = match self.buf[i] {
                b'\n' => 1,
                b'\r' => match self.buf.get(i + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A lone `\r` at the end may be the first half of `\r\n`: wait for more.
                    None if !at_end => break,
                    None => 1,
                },
                _ => {
                    i += 1;
                    continue;
                }
            };
            let line_is_empty = i == self.line_start;
            i += terminator_len;
            self.line_start = i;
            if line_is_empty {
                let rest = self.buf.split_off(i);
                let event = std::mem::replace(&mut self.buf, rest);
                i = 0;
                self.line_start = 0;
                // A blank line with no fields before it (stray keep-alive newlines) is not an event.
                if event.len() > terminator_len {
                    on_event(RawEvent(event));
                }
            }
        }
        self.scan = i;
    }
}

impl RawEvent {
    /// Reads the event's fields.
    pub fn parse(&self) -> Event<'_> {
        parse_event(&self.0)
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

    fn split_all(chunks: &[&[u8]]) -> Vec<RawEvent> {
        let mut splitter = SseSplitter::new();
        let mut events = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |e| events.push(e));
        }
        splitter.finish(|e| events.push(e));
        events
    }

    #[test]
    fn keeps_raw_bytes_and_reads_fields() {
        let wire = b"event: message_start\ndata: {\"a\":1}\n\ndata: [DONE]\n\n";
        let events = split_all(&[wire]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, b"event: message_start\ndata: {\"a\":1}\n\n");
        let first = events[0].parse();
        assert_eq!(first.event.as_deref(), Some("message_start"));
        assert_eq!(first.data, "{\"a\":1}");
        assert_eq!(events[1].parse().data, "[DONE]");
    }

    #[test]
    fn handles_crlf_and_cr_line_endings() {
        let events = split_all(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
        let data: Vec<String> = events.iter().map(|e| e.parse().data.into_owned()).collect();
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
        assert_eq!(events[1].parse().data, "tail");
    }

    #[test]
    fn a_cr_at_a_chunk_end_waits_for_the_next_chunk() {
        let events = split_all(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].0, b"data: a\r\n\r\n");
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
            let joined: Vec<u8> = whole.iter().flat_map(|e| e.0.clone()).collect();
            // Every byte is accounted for, except stray blank lines between events.
            prop_assert!(joined.len() <= bytes.len());
        }
    }
}
