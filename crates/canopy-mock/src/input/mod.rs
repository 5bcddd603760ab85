//! Lenient, borrowing readers for the parts of a request body that the mock looks at.
//!
//! Bodies are parsed straight from the request bytes into these summaries, borrowing strings
//! where JSON allows it, so a request costs no copies of its text. The readers accept every shape
//! the providers accept (content as a string or as an array of parts, Anthropic `system` as a
//! string or as blocks, prompts as strings or token arrays) and ignore what they do not count.
//! [`Text`] reads any one value's text; [`Conversation`] reads a whole message list.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

mod conversation;

pub(crate) use conversation::Conversation;

/// Tokens added for each message on top of its words, like the real tokenizers' framing.
pub(crate) const TOKENS_PER_MESSAGE: u64 = 4;

/// The number of whitespace-separated words in `text`, the mock's token count.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// A value read as a string when it is one, and as absent when it is anything else.
#[derive(Debug, Default)]
pub(crate) struct LooseStr<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LooseStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseStrVisitor)
    }
}

struct LooseStrVisitor;

impl<'de> Visitor<'de> for LooseStrVisitor {
    type Value = LooseStr<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(LooseStr(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(LooseStr(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(LooseStr(Some(Cow::Owned(v))))
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(LooseStr(None))
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(LooseStr(None))
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(LooseStr(None))
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(LooseStr(None))
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(LooseStr(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| LooseStr(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| LooseStr(None))
    }
}

/// The text in a value: a string, an array of strings or parts, or a part with `text` or
/// `content` (Anthropic's `tool_result`), read recursively. Anything else counts as no text.
#[derive(Debug, Default)]
pub(crate) struct Text<'a> {
    /// Words over all the text found.
    pub(crate) words: u64,
    /// The first piece of text found, for the reply's echo.
    pub(crate) first: Option<Cow<'a, str>>,
}

impl<'a> Text<'a> {
    fn add(&mut self, text: Cow<'a, str>) {
        self.words += count_words(&text);
        if self.first.is_none() {
            self.first = Some(text);
        }
    }

    fn merge(&mut self, other: Self) {
        self.words += other.words;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text as a string, an array or a content part")
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        let mut text = Text::default();
        text.add(Cow::Borrowed(v));
        Ok(text)
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        self.visit_string(v.to_owned())
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Self::Value, E> {
        let mut text = Text::default();
        text.add(Cow::Owned(v));
        Ok(text)
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Text::default())
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Text::default())
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Text::default())
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text::default())
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Text::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut text = Text::default();
        while let Some(part) = seq.next_element::<Text<'de>>()? {
            text.merge(part);
        }
        Ok(text)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut text = Text::default();
        while let Some(key) = map.next_key::<PartKey>()? {
            match key {
                PartKey::Text => {
                    if let LooseStr(Some(value)) = map.next_value()? {
                        text.add(value);
                    }
                }
                PartKey::Content => text.merge(map.next_value::<Text<'de>>()?),
                PartKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(text)
    }
}

/// The keys of a content part that hold text.
enum PartKey {
    Text,
    Content,
    Other,
}

impl<'de> Deserialize<'de> for PartKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(PartKeyVisitor)
    }
}

struct PartKeyVisitor;

impl Visitor<'_> for PartKeyVisitor {
    type Value = PartKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(match v {
            "text" => PartKey::Text,
            "content" => PartKey::Content,
            _ => PartKey::Other,
        })
    }
}

/// Reads the text of an optional raw value (a prompt, an Anthropic `system`).
pub(crate) fn text(raw: Option<&RawValue>) -> Result<Text<'_>, serde_json::Error> {
    match raw {
        Some(raw) => serde_json::from_str(raw.get()),
        None => Ok(Text::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_may_be_strings_arrays_or_tokens() {
        let text: Text<'_> = serde_json::from_str(r#"["one two", [1, 2, 3], "three"]"#).unwrap();
        assert_eq!(text.words, 3);
        assert_eq!(text.first.as_deref(), Some("one two"));
        let text: Text<'_> = serde_json::from_str("[1, 2, 3]").unwrap();
        assert_eq!((text.words, text.first), (0, None));
    }
}
