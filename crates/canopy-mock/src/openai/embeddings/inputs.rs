//! Reading `input`: a string, an array of strings, one token array or an array of them.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};

use crate::digest::Fnv;
use crate::input::count_words;

/// The inputs of one request, each reduced to a digest and a token count.
#[derive(Default)]
pub(super) struct Inputs(pub(super) Vec<Input>);

/// One input: the digest of its text or tokens, and its token count.
pub(super) struct Input {
    pub(super) digest: u64,
    pub(super) tokens: u64,
}

impl Input {
    fn text(text: &str) -> Self {
        let mut digest = Fnv::new();
        digest.write(text.as_bytes());
        Self {
            digest: digest.finish(),
            tokens: count_words(text),
        }
    }
}

impl<'de> Deserialize<'de> for Inputs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(InputsVisitor)
    }
}

struct InputsVisitor;

impl<'de> Visitor<'de> for InputsVisitor {
    type Value = Inputs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an array of strings, or token arrays")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Inputs(vec![Input::text(v)]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut inputs = Vec::new();
        let mut tokens = TokenArray::default();
        while let Some(element) = seq.next_element::<Element>()? {
            match element {
                Element::Text(input) | Element::Tokens(input) => inputs.push(input),
                Element::Token(token) => tokens.push(token),
            }
        }
        if tokens.count > 0 {
            inputs.push(tokens.finish());
        }
        Ok(Inputs(inputs))
    }
}

/// One element of an `input` array.
enum Element {
    Text(Input),
    Tokens(Input),
    Token(u64),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a token or a token array")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Element::Text(Input::text(v)))
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Element::Token(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tokens = TokenArray::default();
        while let Some(token) = seq.next_element::<u64>()? {
            tokens.push(token);
        }
        Ok(Element::Tokens(tokens.finish()))
    }
}

/// A token array being read: its digest and length.
struct TokenArray {
    digest: Fnv,
    count: u64,
}

impl Default for TokenArray {
    fn default() -> Self {
        Self {
            digest: Fnv::new(),
            count: 0,
        }
    }
}

impl TokenArray {
    fn push(&mut self, token: u64) {
        self.digest.write(&token.to_le_bytes());
        self.count += 1;
    }

    fn finish(self) -> Input {
        Input {
            digest: self.digest.finish(),
            tokens: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_count_strings_and_token_arrays() {
        let read = |json: &str| {
            let inputs: Inputs = serde_json::from_str(json).unwrap();
            inputs.0.iter().map(|i| i.tokens).collect::<Vec<_>>()
        };
        assert_eq!(read(r#""a b c""#), [3]);
        assert_eq!(read(r#"["a", "b c"]"#), [1, 2]);
        assert_eq!(read("[1, 2, 3]"), [3]);
        assert_eq!(read("[[1, 2], [3]]"), [2, 1]);
    }
}
