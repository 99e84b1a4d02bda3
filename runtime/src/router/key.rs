//! A static path segment, compared with the path a word at a time.
//!
//! Most segments are a few letters: comparing their first eight bytes as
//! one integer (and a longer key's last eight as another) decides a match
//! without a call into `memcmp`, and a node's keys are all compared with
//! the one word read from the path. The word is zero-padded, and a key's
//! bytes are never zero (a key holding a NUL byte, which no request path
//! can, never matches): so a short key that matches the word also tells
//! that the path is long enough, without comparing lengths.

/// A static segment of a route pattern.
#[derive(Debug)]
pub(super) struct Key {
    /// The first eight bytes, zero-padded.
    head: u64,
    /// Ones over the bytes of `head` that belong to the key.
    mask: u64,
    /// The last eight bytes, for a key longer than eight.
    tail: u64,
    text: Box<str>,
}

impl Key {
    pub(super) fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let len = bytes.len().min(8);
        // A segment no request path can hold (see the module docs): no
        // word masked with zero equals one.
        let (head, mask) = if bytes.contains(&0) {
            (1, 0)
        } else if len == 8 {
            (word(bytes), !0)
        } else {
            (word(bytes), (1 << (8 * len)) - 1)
        };
        Key {
            head,
            mask,
            tail: bytes
                .len()
                .checked_sub(8)
                .map_or(0, |start| word(&bytes[start..])),
            text: text.into(),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        &self.text
    }

    pub(super) fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether `rest` (what follows a `/` in the path; `head` is its
    /// [`word`]) begins with this key as a whole segment.
    #[inline(always)]
    pub(super) fn starts(&self, rest: &[u8], head: u64) -> bool {
        let len = self.text.len();
        head & self.mask == self.head
            && (len <= 8 || self.long_matches(rest))
            && rest.get(len).is_none_or(|&b| b == b'/')
    }

    /// The rest of a key longer than eight bytes, its first eight matched.
    fn long_matches(&self, rest: &[u8]) -> bool {
        let len = self.text.len();
        rest.len() >= len
            && word(&rest[len - 8..len]) == self.tail
            && (len <= 16 || rest[8..len - 8] == self.text.as_bytes()[8..len - 8])
    }
}

/// The first eight bytes of `bytes` as a little-endian integer, zero-padded
/// when there are fewer. Shorter slices are read as two overlapping halves
/// rather than byte by byte.
#[inline(always)]
pub(super) fn word(bytes: &[u8]) -> u64 {
    if let Some(first) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*first);
    }
    let n = bytes.len();
    if n >= 4 {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
        u64::from(low) | u64::from(high) << (8 * (n - 4))
    } else if n >= 2 {
        let low = u16::from_le_bytes([bytes[0], bytes[1]]);
        let high = u16::from_le_bytes([bytes[n - 2], bytes[n - 1]]);
        u64::from(low) | u64::from(high) << (8 * (n - 2))
    } else {
        bytes.first().map_or(0, |&b| u64::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_the_bytes_zero_padded() {
        let text = b"abcdefghij";
        for n in 0..=text.len() {
            let mut padded = [0u8; 8];
            let take = n.min(8);
            padded[..take].copy_from_slice(&text[..take]);
            assert_eq!(word(&text[..n]), u64::from_le_bytes(padded), "{n} bytes");
        }
    }

    #[test]
    fn a_key_holding_a_nul_byte_never_matches() {
        for text in ["a\0", "\0", "abc\0defghij"] {
            let key = Key::new(text);
            for rest in [text, "", "a", "\0\0\0\0\0\0\0\0\0\0\0\0"] {
                assert!(
                    !key.starts(rest.as_bytes(), word(rest.as_bytes())),
                    "{text:?} on {rest:?}"
                );
            }
        }
    }

    #[test]
    fn a_key_matches_whole_segments_of_any_length() {
        let long = "abcdefghijklmnopqrstuvwxyz";
        for len in 1..=long.len() {
            let key = Key::new(&long[..len]);
            let starts = |rest: &str| key.starts(rest.as_bytes(), word(rest.as_bytes()));
            assert!(starts(&long[..len]), "{len}: itself");
            assert!(
                starts(&format!("{}/more", &long[..len])),
                "{len}: then a segment"
            );
            assert!(!starts(&long[..len - 1]), "{len}: shorter");
            if len < long.len() {
                assert!(!starts(&long[..=len]), "{len}: longer");
            }
            for at in 0..len {
                let mut other = long[..len].to_owned().into_bytes();
                other[at] = b'_';
                let other = String::from_utf8(other).unwrap();
                assert!(!starts(&other), "{len}: byte {at} differs");
            }
        }
    }
}
