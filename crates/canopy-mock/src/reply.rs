//! The reply text: a pure function of the model and the whole conversation.
//!
//! The text reads `<model> reply <8 hex>: <echo>`, where the hex digits are a digest of the raw
//! conversation JSON (system prompt included) and the echo is the first [`ECHO_CHARS`] characters
//! of the last user message with whitespace collapsed. Changing the model, any message or the
//! system prompt therefore changes the text, and the same conversation always gets the same one.

use crate::digest::{Fnv, Hex8};
use crate::input::count_words;
use std::fmt::Write as _;

/// How many characters of the last user message are echoed.
pub(crate) const ECHO_CHARS: usize = 60;

/// How many words each streamed content delta carries.
pub(crate) const WORDS_PER_CHUNK: usize = 3;

/// What the reply echoes when the conversation has no user text.
const NO_USER_TEXT: &str = "(no user message)";

/// The assistant's reply and its token count.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The full reply text; words are separated by single spaces.
    pub(crate) text: String,
    /// Words in the text, the reply's completion tokens.
    pub(crate) words: u64,
}

impl Reply {
    /// Builds the reply for `model` from the conversation digest and the last user text.
    pub(crate) fn new(model: &str, conversation: Fnv, last_user: Option<&str>) -> Self {
        let echo = last_user.map_or("", |text| head(text, ECHO_CHARS));
        let mut text = String::with_capacity(model.len() + 20 + echo.len());
        // Writing into a String cannot fail.
        let _ = write!(text, "{model} reply {}:", Hex8(conversation.finish()));
        let mut echoed = false;
        for word in echo.split_whitespace() {
            text.push(' ');
            text.push_str(word);
            echoed = true;
        }
        if !echoed {
            text.push(' ');
            text.push_str(NO_USER_TEXT);
        }
        let words = count_words(&text);
        Self { text, words }
    }

    /// Appends filler words until the reply has `words` words (`x-mock-reply-words`); a reply
    /// already that long is left as it is.
    pub(crate) fn lengthen_to(&mut self, words: Option<u64>) {
        const FILLER: [&str; 4] = ["and", "so", "it", "goes"];
        let Some(words) = words else { return };
        let mut filler = FILLER.iter().cycle();
        while self.words < words {
            self.text.push(' ');
            self.text.push_str(filler.next().unwrap_or(&"and"));
            self.words += 1;
        }
    }

    /// The text cut into stream deltas of [`WORDS_PER_CHUNK`] words, each keeping its trailing
    /// space, so the deltas concatenate back to exactly the text.
    pub(crate) fn chunks(&self) -> Chunks<'_> {
        Chunks { rest: &self.text }
    }
}

/// The first `max` characters of `text`.
fn head(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => text.get(..end).unwrap_or(text),
        None => text,
    }
}

/// Iterator over the stream deltas of a [`Reply`].
#[derive(Debug)]
pub(crate) struct Chunks<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .match_indices(' ')
            .nth(WORDS_PER_CHUNK - 1)
            .map_or(self.rest.len(), |(at, _)| at + 1);
        let (chunk, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> Fnv {
        let mut fnv = Fnv::new();
        fnv.write(text.as_bytes());
        fnv
    }

    #[test]
    fn echoes_the_model_digest_and_the_start_of_the_user_text() {
        let reply = Reply::new("gpt-4o", digest("x"), Some("  Hello\n  world  "));
        assert_eq!(reply.text, "gpt-4o reply 86021707: Hello world");
        assert_eq!(reply.words, 5);
    }

    #[test]
    fn without_user_text_says_so() {
        let reply = Reply::new("m", digest(""), None);
        assert!(
            reply.text.ends_with(": (no user message)"),
            "{}",
            reply.text
        );
    }

    #[test]
    fn echo_is_cut_at_a_character_boundary() {
        let long = "é".repeat(100);
        let reply = Reply::new("m", digest(""), Some(&long));
        assert!(reply.text.ends_with(&"é".repeat(ECHO_CHARS)));
        assert!(!reply.text.ends_with(&"é".repeat(ECHO_CHARS + 1)));
    }

    #[test]
    fn a_reply_is_lengthened_to_the_words_asked_for_and_never_shortened() {
        let mut reply = Reply::new("m", digest(""), Some("one two"));
        let before = reply.words;
        reply.lengthen_to(Some(600));
        assert_eq!(reply.words, 600);
        assert_eq!(count_words(&reply.text), 600);
        assert_eq!(reply.chunks().count(), 200);
        reply.lengthen_to(Some(before));
        assert_eq!(reply.words, 600);
    }

    #[test]
    fn chunks_concatenate_to_the_text() {
        let reply = Reply::new("gpt-4o", digest("y"), Some("one two three four five six"));
        let chunks: Vec<&str> = reply.chunks().collect();
        assert_eq!(chunks.concat(), reply.text);
        assert!(chunks.len() >= 3);
        assert!(
            chunks
                .iter()
                .all(|c| c.split_whitespace().count() <= WORDS_PER_CHUNK)
        );
    }
}
