//! Reading a message list for what the reply needs: the prompt's tokens and the last user text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error, SeqAccess, Unexpected, Visitor};
use serde_json::value::RawValue;

use super::{LooseStr, TOKENS_PER_MESSAGE, Text, count_words};

/// One chat message (or Responses input item): its role and its content's text.
#[derive(Debug, serde::Deserialize)]
struct Message<'a> {
    #[serde(default, borrow)]
    role: LooseStr<'a>,
    #[serde(default, borrow)]
    content: Text<'a>,
}

/// A message list read for what the reply needs: the prompt's tokens and the last user text.
#[derive(Debug, Default)]
pub(crate) struct Conversation<'a> {
    /// Words of every message plus [`TOKENS_PER_MESSAGE`] per message.
    pub(crate) tokens: u64,
    /// The first text of the last message whose role is `user`.
    pub(crate) last_user: Option<Cow<'a, str>>,
}

impl<'a> Conversation<'a> {
    /// Reads a message list (chat `messages`, Anthropic `messages`).
    pub(crate) fn parse(raw: Option<&'a RawValue>) -> Result<Self, serde_json::Error> {
        Self::read(raw, false)
    }

    /// Reads a Responses `input`: a list of items, or a plain string taken as one user message.
    pub(crate) fn parse_input(raw: Option<&'a RawValue>) -> Result<Self, serde_json::Error> {
        Self::read(raw, true)
    }

    fn read(raw: Option<&'a RawValue>, allow_string: bool) -> Result<Self, serde_json::Error> {
        let Some(raw) = raw else {
            return Ok(Self::default());
        };
        let mut deserializer = serde_json::Deserializer::from_str(raw.get());
        let conversation = deserializer.deserialize_any(ConversationVisitor { allow_string })?;
        deserializer.end()?;
        Ok(conversation)
    }
}

struct ConversationVisitor {
    allow_string: bool,
}

impl<'de> Visitor<'de> for ConversationVisitor {
    type Value = Conversation<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow_string {
            f.write_str("an array of input items or a string")
        } else {
            f.write_str("an array of messages")
        }
    }

    fn visit_borrowed_str<E: Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if !self.allow_string {
            return Err(E::invalid_type(Unexpected::Str(v), &self));
        }
        Ok(Conversation {
            tokens: count_words(v) + TOKENS_PER_MESSAGE,
            last_user: Some(Cow::Borrowed(v)),
        })
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        if !self.allow_string {
            return Err(E::invalid_type(Unexpected::Str(v), &self));
        }
        Ok(Conversation {
            tokens: count_words(v) + TOKENS_PER_MESSAGE,
            last_user: Some(Cow::Owned(v.to_owned())),
        })
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Conversation::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut conversation = Conversation::default();
        while let Some(message) = seq.next_element::<Message<'de>>()? {
            conversation.tokens += message.content.words + TOKENS_PER_MESSAGE;
            if message.role.0.as_deref() == Some("user") {
                conversation.last_user = message.content.first;
            }
        }
        Ok(conversation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(json: &str) -> (u64, Option<String>) {
        let raw: &RawValue = serde_json::from_str(json).unwrap();
        let parsed = Conversation::parse_input(Some(raw)).unwrap();
        (parsed.tokens, parsed.last_user.map(Cow::into_owned))
    }

    #[test]
    fn counts_string_and_part_contents_and_finds_the_last_user_text() {
        let json = r#"[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"first question"},{"type":"image_url","image_url":{"url":"x"}}]},
            {"role":"assistant","content":null,"tool_calls":[{"id":"1"}]},
            {"role":"user","content":"second \"quoted\" question"}
        ]"#;
        assert_eq!(
            conversation(json),
            (
                2 + 2 + 3 + 4 * 4,
                Some("second \"quoted\" question".to_owned())
            )
        );
    }

    #[test]
    fn reads_anthropic_blocks_and_tool_results() {
        let json = r#"[{"role":"user","content":[
            {"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"42 degrees"}]},
            {"type":"text","text":"and now?"}
        ]}]"#;
        assert_eq!(conversation(json), (4 + 4, Some("42 degrees".to_owned())));
    }

    #[test]
    fn a_plain_string_is_one_user_message() {
        assert_eq!(
            conversation(r#""hi there""#),
            (6, Some("hi there".to_owned()))
        );
    }

    #[test]
    fn rejects_a_message_list_of_the_wrong_type() {
        for json in ["42", "[42]", r#""a string""#] {
            let raw: &RawValue = serde_json::from_str(json).unwrap();
            assert!(Conversation::parse(Some(raw)).is_err(), "{json}");
        }
    }
}
