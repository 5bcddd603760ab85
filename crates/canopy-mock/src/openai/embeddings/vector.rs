//! Embedding vectors, computed while they are serialized so they need no buffer of their own.

use std::fmt;

use serde::ser::SerializeSeq as _;
use serde::{Serialize, Serializer};

use crate::digest::splitmix64;

/// A vector computed while it is serialized, so it needs no buffer of its own.
pub(super) struct Vector {
    /// Digest of the model and the input.
    pub(super) seed: u64,
    /// Number of components.
    pub(super) dimensions: usize,
    /// Serialize as base64 of little-endian `f32`s instead of an array of numbers.
    pub(super) base64: bool,
}

impl Vector {
    /// The components, already divided by the vector's length.
    fn components(&self) -> impl Iterator<Item = f32> + use<> {
        let raw = |seed: u64, dimensions: usize| {
            let mut state = seed;
            (0..dimensions).map(move |_| {
                // The top 24 bits, as a float in [-1, 1).
                let bits = (splitmix64(&mut state) >> 40) as f32;
                bits / 8_388_608.0 - 1.0
            })
        };
        let norm = raw(self.seed, self.dimensions)
            .map(|x| x * x)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        raw(self.seed, self.dimensions).map(move |x| x / norm)
    }
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.base64 {
            return serializer.collect_str(&Base64(self));
        }
        let mut seq = serializer.serialize_seq(Some(self.dimensions))?;
        for component in self.components() {
            seq.serialize_element(&component)?;
        }
        seq.end()
    }
}

/// Standard base64 (with padding) of a vector's little-endian `f32` bytes.
struct Base64<'a>(&'a Vector);

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0.components().flat_map(f32::to_le_bytes);
        write_base64(f, bytes)
    }
}

fn write_base64(out: &mut impl fmt::Write, bytes: impl Iterator<Item = u8>) -> fmt::Result {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |index: u32| char::from(ALPHABET[(index & 63) as usize]);
    let mut bytes = bytes.peekable();
    while bytes.peek().is_some() {
        let group: [Option<u8>; 3] = [bytes.next(), bytes.next(), bytes.next()];
        let [a, b, c] = group.map(|byte| u32::from(byte.unwrap_or(0)));
        let triple = (a << 16) | (b << 8) | c;
        out.write_char(symbol(triple >> 18))?;
        out.write_char(symbol(triple >> 12))?;
        let third = group[1].map_or('=', |_| symbol(triple >> 6));
        let fourth = group[2].map_or('=', |_| symbol(triple));
        out.write_char(third)?;
        out.write_char(fourth)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::embeddings::DEFAULT_DIMENSIONS;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        for (input, expected) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            write_base64(&mut out, input.iter().copied()).unwrap();
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn vectors_have_unit_length_and_depend_on_the_seed() {
        let vector = |seed| Vector {
            seed,
            dimensions: DEFAULT_DIMENSIONS,
            base64: false,
        };
        let length: f32 = vector(1).components().map(|x| x * x).sum();
        assert!((length - 1.0).abs() < 1e-5, "{length}");
        assert!(vector(1).components().ne(vector(2).components()));
    }
}
