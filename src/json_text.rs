//! JSON text at byte level, for the two places where serde_json's general machinery was most of
//! the cost: scanning the strings of Graph's pages (`graph/scan.rs`) and writing the incidents'
//! `rawJSON`, each a whole detection as one escaped string (`output.rs`). Both skip plain bytes
//! eight at a time.

/// The position of the first byte at or after `at` that a JSON string cannot hold as it is:
/// `"`, `\` or a control character (or the end). Eight bytes at a time; the lowest flagged
/// byte of a word is the first such byte (flags above a true one may be false, never below).
pub fn skip_plain(bytes: &[u8], mut at: usize) -> usize {
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else { break };
        let flags = run_ends(u64::from_le_bytes(word));
        if flags != 0 {
            // At most 7: a whole byte offset within the word.
            return at + (flags.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

/// The high bit of each of the eight bytes that is `"`, `\` or below 0x20 (the classic
/// has-zero-byte and has-less-than tests: exact for the lowest flagged byte, which is all this
/// needs, since a borrow only runs upwards).
#[inline]
fn run_ends(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let quote = zero(word ^ (ONES * u64::from(b'"')));
    let backslash = zero(word ^ (ONES * u64::from(b'\\')));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    quote | backslash | control
}

/// Writes `text` as a JSON string literal, byte for byte as serde_json writes it (`\"`, `\\`,
/// `\b \f \n \r \t`, `\u00XX` for other control characters), copying plain runs whole.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut at = 0;
    loop {
        let end = skip_plain(bytes, at);
        out.extend_from_slice(&bytes[at..end]);
        let Some(&b) = bytes.get(end) else { break };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let escape = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(control >> 4)],
                    HEX[usize::from(control & 0xf)],
                ];
                out.extend_from_slice(&escape);
            }
        }
        at = end + 1;
    }
    out.push(b'"');
}

/// `object`, the text of a JSON object, with the members of `added` (an object's JSON text)
/// appended at its end, the text before them kept byte for byte (a fetched detection stays as
/// Graph sent it). Text that is not an object comes back as `added` alone.
pub fn with_members(object: &str, added: &str) -> String {
    let inner_added = added.get(1..added.len().saturating_sub(1)).unwrap_or_default();
    let trimmed = object.trim();
    let Some(body) = trimmed.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) else {
        return added.to_string();
    };
    if inner_added.is_empty() {
        return trimmed.to_string();
    }
    let separator = if body.trim().is_empty() { "" } else { "," };
    let mut out = String::with_capacity(trimmed.len() + inner_added.len() + 1);
    out.push('{');
    out.push_str(body);
    out.push_str(separator);
    out.push_str(inner_added);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_first_byte_that_ends_a_plain_run_is_found_in_every_lane() {
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for lane in 0..8 {
                // Another special byte after it must not move the answer.
                let mut text = *b"abcdefgh\"ijklmnop";
                text[lane] = special;
                assert_eq!(skip_plain(&text, 0), lane, "{special} in lane {lane}");
                assert_eq!(skip_plain(&text, lane + 1), 8, "{special} in lane {lane}");
            }
        }
        for plain in [
            *b"abcdefgh",
            *b"  ~~\x7f\x20!#",
            [0xc3, 0xa9, 0xe2, 0x82, 0xac, b'x', b'/', b'\''],
            [0xff; 8],
        ] {
            assert_eq!(run_ends(u64::from_le_bytes(plain)), 0, "{plain:?}");
            assert_eq!(skip_plain(&plain, 0), 8, "{plain:?}");
        }
        assert_eq!(skip_plain(b"abc\"", 0), 3, "a short tail byte by byte");
    }

    proptest! {
        /// Any text, written as serde_json writes it.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(text in "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}])*") {
            let mut out = Vec::new();
            write_string(&mut out, &text);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&text).unwrap());
        }
    }

    #[test]
    fn members_are_appended_and_the_text_before_them_kept() {
        let added = serde_json::json!({"k": "v", "n": null}).to_string();
        let cases = [
            (r#"{"a": 1}"#, r#"{"a": 1,"k":"v","n":null}"#),
            ("{ }", r#"{ "k":"v","n":null}"#),
            ("{}", r#"{"k":"v","n":null}"#),
            ("[1]", r#"{"k":"v","n":null}"#),
            (r#"{"k":"graph's"}"#, r#"{"k":"graph's","k":"v","n":null}"#),
        ];
        for (object, expected) in cases {
            assert_eq!(with_members(object, &added), expected, "{object}");
        }
    }
}
