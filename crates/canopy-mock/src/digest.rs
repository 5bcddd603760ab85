//! The 64-bit FNV-1a digest that makes every id and reply a pure function of the request.
//!
//! FNV-1a is tiny, has no dependencies and is stable across platforms and releases, which is all
//! a test double needs: the digests are never used for security.

use std::fmt;

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// An incremental FNV-1a hasher.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv(u64);

impl Fnv {
    /// Starts a digest at the FNV offset basis.
    pub(crate) const fn new() -> Self {
        Self(OFFSET_BASIS)
    }

    /// Feeds `bytes` into the digest.
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(PRIME);
        }
    }

    /// Returns the digest of everything written so far.
    pub(crate) const fn finish(self) -> u64 {
        self.0
    }
}

/// The digest a response id is made from: what the caller asked (model, input, streamed or
/// not), not how. `stream_options`, which a gateway may add, leaves it unchanged, so a stream
/// with and without a usage chunk carries the same id.
pub(crate) fn request_digest(model: &str, input: &str, stream: bool) -> u64 {
    let mut hasher = Fnv::new();
    hasher.write(model.as_bytes());
    hasher.write(input.as_bytes());
    hasher.write(if stream { b"stream" } else { b"plain" });
    hasher.finish()
}

/// The FNV-1a digest of one byte string.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hasher = Fnv::new();
    hasher.write(bytes);
    hasher.finish()
}

/// The next value of a SplitMix64 sequence, used to expand one digest into many numbers.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes the low 32 bits of a digest as 8 lowercase hex digits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hex8(pub(crate) u64);

impl fmt::Display for Hex8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0 & 0xffff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn incremental_writes_equal_one_write() {
        let mut hasher = Fnv::new();
        hasher.write(b"foo");
        hasher.write(b"bar");
        assert_eq!(hasher.finish(), fnv1a(b"foobar"));
    }

    #[test]
    fn hex8_keeps_the_low_32_bits() {
        assert_eq!(Hex8(0x1234_5678_9abc_def0).to_string(), "9abcdef0");
        assert_eq!(Hex8(0xff).to_string(), "000000ff");
    }
}
