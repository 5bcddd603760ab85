//! An incremental Server-Sent Events parser that hands back each event's raw bytes.
//!
//! The gateway forwards upstream bytes unchanged and observes them on the way, so the splitter
//! here hands back every complete event *as the bytes it arrived as* ([`RawEvent`]), and
//! [`RawEvent::parse`] reads its fields. Events may arrive split across any number of network
//! chunks; feeding the same bytes in any chunking yields the same events (a property test
//! checks this). Line endings may be `\n`, `\r\n` or `\r`, as the SSE specification allows.
//!
//! An event that arrives whole in one chunk is read where it lies, without a copy; only the
//! unfinished event at a chunk's end is kept until the next chunk completes it. What is kept is
//! bounded ([`MAX_EVENT`]): an event that grows past the bound is handed on in pieces as its
//! bytes arrive, unread, so an upstream that never ends an event cannot fill the memory.

use std::borrow::Cow;

/// The most bytes of one unfinished event a splitter holds, far above any provider's event
/// (an image generation's final event carries a few megabytes of base64).
pub const MAX_EVENT: usize = 32 << 20;

/// Splits a byte stream into complete SSE events.
#[derive(Debug)]
pub struct SseSplitter {
    /// Bytes of the event being received, not yet terminated by a blank line.
    buf: Vec<u8>,
    /// Where scanning of `buf` resumes.
    at: Cursor,
    /// The most bytes of an unfinished event kept in `buf`.
    limit: usize,
    /// The event being received outgrew `limit`: its bytes are handed on as they come.
    passing: bool,
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

/// One complete event as it appeared on the wire, blank line included; or a piece of an event
/// that outgrew the splitter's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// The bytes, as they arrived.
    pub bytes: &'a [u8],
    /// False for a piece of an event that outgrew the limit. Such an event is handed on in
    /// pieces, in order, the last one ending with its blank line, and is not read.
    pub whole: bool,
}

/// The fields of one event, borrowed from its bytes when they are UTF-8 and it has one `data:`
/// line, as provider events do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event<'a> {
    /// The `event:` field, if any.
    pub event: Option<Cow<'a, str>>,
    /// The `data:` lines joined with `\n`.
    pub data: Cow<'a, str>,
}

impl Default for SseSplitter {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT)
    }
}

impl SseSplitter {
    /// A splitter with nothing buffered, holding at most [`MAX_EVENT`] bytes of an event.
    pub fn new() -> Self {
        Self::default()
    }

    /// A splitter that holds at most `limit` bytes of an unfinished event. Whether an event
    /// outgrows it depends on how its bytes arrive: one that comes whole in a chunk is read
    /// where it lies, whatever its size.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            at: Cursor::default(),
            limit,
            passing: false,
        }
    }

    /// Adds bytes and calls `on_event` for every event they complete, in order, and for every
    /// piece of an event that outgrew the limit.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(RawEvent<'_>)) {
        if self.buf.is_empty() {
            let (done, at) = split(
                bytes,
                Cursor::default(),
                false,
                &mut self.passing,
                &mut on_event,
            );
            self.buf.extend_from_slice(&bytes[done..]);
            self.at = at.less(done);
        } else {
            self.buf.extend_from_slice(bytes);
            let (done, at) = split(&self.buf, self.at, false, &mut self.passing, &mut on_event);
            self.buf.drain(..done);
            self.at = at.less(done);
        }
        if self.passing || self.buf.len() > self.limit {
            self.pass_on(&mut on_event);
        }
    }

    /// Hands on the unfinished event's bytes scanned so far, as a piece, and passes the rest
    /// of that event on as it comes. Of a line in progress one byte stays, so that the scan
    /// still knows the line is not empty.
    fn pass_on(&mut self, on_event: &mut impl FnMut(RawEvent<'_>)) {
        let Cursor { scan, line_start } = self.at;
        let n = if line_start == scan { scan } else { scan - 1 };
        if n == 0 {
            return;
        }
        on_event(RawEvent {
            bytes: &self.buf[..n],
            whole: false,
        });
        self.buf.drain(..n);
        self.at = Cursor {
            scan: scan - n,
            line_start: line_start.saturating_sub(n),
        };
        self.passing = true;
    }

    /// Ends the stream: a last event without its blank line is still delivered, as
    /// browsers' EventSource would not, but a usage chunk cut short must still be read.
    pub fn finish(&mut self, mut on_event: impl FnMut(RawEvent<'_>)) {
        let (done, _) = split(&self.buf, self.at, true, &mut self.passing, &mut on_event);
        let rest = &self.buf[done..];
        if std::mem::take(&mut self.passing) {
            if !rest.is_empty() {
                on_event(RawEvent {
                    bytes: rest,
                    whole: false,
                });
            }
        } else if rest.iter().any(|b| !b.is_ascii_whitespace()) {
            on_event(RawEvent::whole(rest));
        }
        self.buf.clear();
        self.at = Cursor::default();
    }
}

/// Scans `bytes` from `at` and calls `on_event` for each event a blank line ends. Returns the
/// length of the events delivered (the bytes before the unfinished one) and where the scan
/// stopped. `at_end` says no more bytes will come, so a lone `\r` at the end ends its line.
/// `passing` says the bytes start inside an event already handed on in pieces: its end goes
/// out as its last piece.
fn split<'a>(
    bytes: &'a [u8],
    at: Cursor,
    at_end: bool,
    passing: &mut bool,
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
            if std::mem::take(passing) {
                on_event(RawEvent {
                    bytes: event,
                    whole: false,
                });
            } else if event.len() > terminator_len {
                // A blank line with no fields before it (stray keep-alive newlines) is not an
                // event.
                on_event(RawEvent::whole(event));
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
    /// A complete event.
    pub fn whole(bytes: &'a [u8]) -> Self {
        Self { bytes, whole: true }
    }

    /// Reads the event's fields; a piece of an event that outgrew the limit has none.
    pub fn parse(&self) -> Event<'a> {
        if self.whole {
            parse_event(self.bytes)
        } else {
            Event::default()
        }
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
        split_with(SseSplitter::new(), chunks)
            .into_iter()
            .map(|(bytes, _)| bytes)
            .collect()
    }

    /// Each event or piece, as an owned copy and whether it is a whole event.
    fn split_with(mut splitter: SseSplitter, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut events = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, |e| events.push((e.bytes.to_vec(), e.whole)));
        }
        splitter.finish(|e| events.push((e.bytes.to_vec(), e.whole)));
        events
    }

    /// `bytes` cut at the given points.
    fn cut<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points {
            chunks.push(&bytes[start..p]);
            start = p;
        }
        chunks.push(&bytes[start..]);
        chunks
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
            let pieces = split_all(&cut(&bytes, &cuts));
            prop_assert_eq!(&pieces, &whole);
            let joined: Vec<u8> = whole.concat();
            // Every byte is accounted for, except stray blank lines between events.
            prop_assert!(joined.len() <= bytes.len());
        }

        #[test]
        fn a_limit_changes_how_events_are_handed_on_never_which_bytes(
            bytes in prop_oneof![wire(), proptest::collection::vec(any::<u8>(), 0..64)],
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
            limit in 0usize..40,
        ) {
            let unlimited = split_all(&[&bytes]);
            let limited = split_with(SseSplitter::with_limit(limit), &cut(&bytes, &cuts));
            let joined: Vec<u8> = limited.iter().flat_map(|(b, _)| b.iter().copied()).collect();
            // The same bytes, save a last unfinished event of blanks, which is no event but
            // goes out in pieces once the splitter has begun handing it on.
            let events = unlimited.concat();
            prop_assert!(joined.starts_with(&events));
            prop_assert!(joined[events.len()..].iter().all(u8::is_ascii_whitespace));
            for (event, whole) in &limited {
                if *whole {
                    prop_assert!(unlimited.contains(event), "{:?} is not an event", event);
                }
            }
        }
    }

    /// A callback that keeps each event or piece, and whether it is whole.
    fn into(got: &mut Vec<(Vec<u8>, bool)>) -> impl FnMut(RawEvent<'_>) + '_ {
        |e| got.push((e.bytes.to_vec(), e.whole))
    }

    #[test]
    fn an_event_past_the_limit_is_handed_on_in_pieces_as_it_arrives() {
        let mut splitter = SseSplitter::with_limit(16);
        let mut got = Vec::new();
        splitter.feed(b"data: short\n\ndata: ", into(&mut got));
        for _ in 0..100 {
            splitter.feed(b"xxxxxxxxxx", into(&mut got));
        }
        // A thousand bytes in, the long event is on its way out, not held.
        assert!(got.len() > 50, "{got:?}");
        assert!(got.iter().all(|(bytes, _)| bytes.len() <= 16 + 10));
        splitter.feed(b"\n\ndata: after\n\n", into(&mut got));
        splitter.finish(into(&mut got));

        assert_eq!(got[0], (b"data: short\n\n".to_vec(), true));
        let last = got.len() - 1;
        assert_eq!(got[last], (b"data: after\n\n".to_vec(), true));
        assert_eq!(parse_event(&got[last].0).data, "after");
        assert!(got[1..last].iter().all(|(_, whole)| !whole));
        let long: Vec<u8> = got[1..last]
            .iter()
            .flat_map(|(b, _)| b.iter().copied())
            .collect();
        assert_eq!(
            long,
            [b"data: ".as_slice(), &[b'x'; 1000], b"\n\n"].concat()
        );
    }

    #[test]
    fn a_piece_of_a_long_event_reads_as_no_fields() {
        let piece = RawEvent {
            bytes: b"data: {\"usage\":{}}",
            whole: false,
        };
        assert_eq!(piece.parse(), Event::default());
    }

    #[test]
    fn an_unended_long_event_goes_out_in_pieces_at_finish() {
        let mut splitter = SseSplitter::with_limit(4);
        let mut got = Vec::new();
        splitter.feed(b"data: abc", into(&mut got));
        splitter.feed(b"def\n", into(&mut got));
        splitter.finish(into(&mut got));
        assert!(got.iter().all(|(_, whole)| !whole));
        let joined: Vec<u8> = got.iter().flat_map(|(b, _)| b.iter().copied()).collect();
        assert_eq!(joined, b"data: abcdef\n");
    }
}
