//! Redaction: every credential a command knows, in each form text can carry it (as it is,
//! JSON-escaped once or twice, percent-encoded), found in one pass over the text and replaced
//! with `[redacted]`. The last line of defence against a server that echoes a credential back,
//! applied to Graph's answers as they arrive, to log lines and to the whole result.
//!
//! One pass: an Aho-Corasick automaton over the first [`PREFIX`] bytes of every form (cheap to
//! build, however long a token is), each hit then compared with the whole forms sharing that
//! prefix. JSON text gets a second look only where it could hide a credential: a string with an
//! escape that decodes to a character some credential contains (every `\u` escape does) is
//! decoded, scrubbed and written back.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use std::borrow::Cow;

/// What a credential is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Credentials shorter than this are too short to tell from ordinary text and are left alone.
pub const MIN_CREDENTIAL: usize = 8;

/// Bytes of each form the automaton looks for; a hit is then compared with the whole form.
const PREFIX: usize = 16;

/// Texts up to this long are searched prefix by prefix rather than with the automaton.
const SMALL_TEXT: usize = 4096;

/// RFC 3986's unreserved characters stay; everything else is encoded (a strict encoder).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// `application/x-www-form-urlencoded` (the WHATWG set; a space becomes `+`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC.remove(b'*').remove(b'-').remove(b'.').remove(b'_');
/// A path segment as the WHATWG URL standard encodes it (`+`, `=`, `:`, `@` ... stay).
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%');
/// A query as the WHATWG URL standard encodes it.
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');

/// The credentials of one command and the automaton that finds them.
#[derive(Default)]
pub struct Redactor {
    credentials: Vec<String>,
    /// Per automaton pattern (a distinct form prefix), the (credential, form) pairs it starts.
    groups: Vec<Vec<(usize, Form)>>,
    /// Each credential's forms in full, made on the first hit of their prefix (rare), so that
    /// building a redactor costs a few prefixes, not every form of every kilobyte-long token.
    full: Vec<[std::cell::OnceCell<Vec<u8>>; FORMS]>,
    /// The distinct prefixes, the automaton's patterns in order.
    prefixes: Vec<Vec<u8>>,
    /// The automaton, built for the first text longer than [`SMALL_TEXT`].
    searcher: std::cell::OnceCell<Option<AhoCorasick>>,
    /// ASCII characters some credential contains: a JSON escape that decodes to one of them
    /// could hide a credential from the plain search.
    ascii: u128,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("credentials", &self.credentials.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor for these credentials (those under [`MIN_CREDENTIAL`] bytes are ignored).
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut redactor = Redactor::default();
        for credential in credentials.into_iter().filter(|c| c.len() >= MIN_CREDENTIAL) {
            if redactor.credentials.iter().any(|known| known == credential) {
                continue;
            }
            for b in credential.bytes().filter(u8::is_ascii) {
                redactor.ascii |= 1 << b;
            }
            redactor.credentials.push(credential.to_string());
        }
        redactor.index();
        redactor
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    /// The automaton over the first [`PREFIX`] bytes of every form. A form's prefix is the same
    /// form of the credential's first [`PREFIX`] characters, cut: every encoding here writes at
    /// least one byte for each character, and none looks past the next one.
    fn index(&mut self) {
        let mut prefixes: Vec<Vec<u8>> = Vec::new();
        let mut groups: Vec<Vec<(usize, Form)>> = Vec::new();
        for (n, credential) in self.credentials.iter().enumerate() {
            let start: String = credential.chars().take(PREFIX).collect();
            // Letters and digits are the same in every form: one prefix stands for all of them.
            let plain = start.bytes().all(|b| b.is_ascii_alphanumeric());
            for form in 0..FORMS {
                let mut prefix = match plain {
                    true => start.clone().into_bytes(),
                    false => form_of(form, &start),
                };
                prefix.truncate(PREFIX);
                match prefixes.iter().position(|p| *p == prefix) {
                    Some(group) => groups[group].push((n, form)),
                    None => {
                        prefixes.push(prefix);
                        groups.push(vec![(n, form)]);
                    }
                }
            }
        }
        self.full = self.credentials.iter().map(|_| Default::default()).collect();
        self.prefixes = prefixes;
        self.groups = groups;
    }

    /// The automaton over every prefix. Building can fail only on absurd pattern sets; without
    /// an automaton nothing would be found, so an empty pattern list is the only acceptable
    /// failure. A contiguous NFA: a DFA searches no faster on texts this size and costs far more
    /// to build.
    fn searcher(&self) -> Option<&AhoCorasick> {
        self.searcher
            .get_or_init(|| {
                (!self.prefixes.is_empty())
                    .then(|| {
                        AhoCorasick::builder()
                            .kind(Some(AhoCorasickKind::ContiguousNFA))
                            .build(&self.prefixes)
                            .ok()
                    })
                    .flatten()
            })
            .as_ref()
    }

    /// Where each prefix occurs in `text`, as (start, pattern): one automaton pass, or for a
    /// short text (most results, log lines) a search per prefix, which costs less than building
    /// the automaton.
    fn prefix_hits(&self, text: &[u8]) -> Vec<(usize, usize)> {
        if text.len() <= SMALL_TEXT {
            let mut hits = Vec::new();
            for (n, prefix) in self.prefixes.iter().enumerate() {
                // Every occurrence, overlapping ones too (find_iter skips those): one may be
                // where a credential really starts.
                let finder = memchr::memmem::Finder::new(prefix);
                let mut at = 0;
                while let Some(found) = text.get(at..).and_then(|rest| finder.find(rest)) {
                    hits.push((at + found, n));
                    at += found + 1;
                }
            }
            return hits;
        }
        let Some(searcher) = self.searcher() else {
            return Vec::new();
        };
        let hits = searcher.find_overlapping_iter(text);
        hits.map(|hit| (hit.start(), hit.pattern().as_usize())).collect()
    }

    /// Form `form` of credential `n`, whole.
    fn full_form(&self, n: usize, form: Form) -> &[u8] {
        self.full[n][form].get_or_init(|| form_of(form, &self.credentials[n]))
    }

    /// Where a credential occurs in `text`: byte ranges, sorted by start, possibly overlapping.
    fn spans(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (start, pattern) in self.prefix_hits(text) {
            let rest = &text[start..];
            let group = &self.groups[pattern];
            let longest = group
                .iter()
                .map(|&(n, form)| self.full_form(n, form))
                .filter(|full| rest.starts_with(full))
                .map(<[u8]>::len)
                .max();
            if let Some(length) = longest {
                spans.push((start, start + length));
            }
        }
        spans.sort_unstable();
        spans
    }

    /// `text` with every credential replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(into_string(bytes)),
        }
    }

    /// [`Redactor::text`] on bytes.
    pub fn bytes<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        let spans = merge(self.spans(text));
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut at = 0;
        for (start, end) in spans {
            out.extend_from_slice(&text[at..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            at = end;
        }
        out.extend_from_slice(&text[at..]);
        Cow::Owned(out)
    }

    /// JSON text with every credential in its strings (keys included) replaced, however the
    /// strings are escaped; the result is still the same JSON apart from those strings. Text that
    /// is not JSON is scrubbed as plain text. A credential found outside any string (digits
    /// inside a number) is left, so that the JSON stays valid.
    pub fn json<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(text);
        }
        if !looks_like_json(text) {
            return self.bytes(text);
        }
        let spans = self.spans(text);
        if spans.is_empty() && !self.has_hiding_escape(text) {
            return Cow::Borrowed(text);
        }
        let Some(strings) = strings_of(text) else {
            return self.bytes(text);
        };
        self.rewrite(text, &strings, &spans)
    }

    /// [`Redactor::json`] on a string.
    pub fn json_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.json(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(bytes) => Cow::Owned(into_string(bytes)),
        }
    }

    /// True when some escape in `text` decodes to a character a credential contains (any
    /// `\u` escape may), so a credential could hide behind it.
    fn has_hiding_escape(&self, text: &[u8]) -> bool {
        // No credential has a character a short escape stands for (the usual case: tokens and
        // secrets are letters, digits and `-._~`): only a `\u` escape can hide one, and one
        // search finds any (a `\\u` only costs the careful path).
        const SHORT: &[u8] = b"\"\\/\x08\x0c\n\r\t";
        if !SHORT.iter().any(|&b| self.ascii & (1 << b) != 0) {
            return memchr::memmem::find(text, b"\\u").is_some();
        }
        let mut at = 0;
        while let Some(found) = memchr::memchr(b'\\', &text[at..]) {
            let slash = at + found;
            match text.get(slash + 1) {
                Some(&escaped) if self.hides(escaped) => return true,
                Some(_) => at = slash + 2,
                None => return false,
            }
        }
        false
    }

    /// Whether the escape `\` + `escaped` may decode to a character of a credential.
    fn hides(&self, escaped: u8) -> bool {
        let decoded = match escaped {
            b'u' => return true,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            other => other,
        };
        !decoded.is_ascii() || self.ascii & (1 << decoded) != 0
    }

    /// Writes `text` again with each string that holds (or may hide) a credential scrubbed.
    fn rewrite<'a>(&self, text: &'a [u8], strings: &[JsonString], spans: &[(usize, usize)]) -> Cow<'a, [u8]> {
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        let mut hits = spans.iter().peekable();
        for string in strings {
            let mut plain_hits: Vec<(usize, usize)> = Vec::new();
            while let Some(&&(start, end)) = hits.peek() {
                if start > string.end {
                    break;
                }
                hits.next();
                // A hit that is not wholly inside this string's quotes is structure (or a
                // number): left alone, so the text stays JSON; it cannot hide another hit, as
                // hits are joined only after this choice.
                if start > string.start && end <= string.end {
                    plain_hits.push((start, end));
                }
            }
            let plain_hits = merge(plain_hits);
            // Escapes around a hit, or one that may hide a credential: decode, scrub, write back.
            let careful = string.escaped && (!plain_hits.is_empty() || self.hides_in(text, string));
            let replacement = if careful {
                self.scrub_escaped(&text[string.start..=string.end])
            } else if plain_hits.is_empty() {
                None
            } else {
                Some(replace_spans(text, string, &plain_hits))
            };
            if let Some(replacement) = replacement {
                let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
                out.extend_from_slice(&text[copied..string.start]);
                out.extend_from_slice(&replacement);
                copied = string.end + 1;
            }
        }
        match out {
            None => Cow::Borrowed(text),
            Some(mut out) => {
                out.extend_from_slice(&text[copied..]);
                Cow::Owned(out)
            }
        }
    }

    fn hides_in(&self, text: &[u8], string: &JsonString) -> bool {
        self.has_hiding_escape(&text[string.start..=string.end])
    }

    /// A string literal with escapes, decoded, scrubbed and written back; `None` when it holds
    /// no credential (it then stays exactly as it was).
    fn scrub_escaped(&self, literal: &[u8]) -> Option<Vec<u8>> {
        let decoded: String = serde_json::from_slice(literal).ok()?;
        match self.text(&decoded) {
            Cow::Borrowed(_) => None,
            Cow::Owned(scrubbed) => serde_json::to_vec(&scrubbed).ok(),
        }
    }
}

/// JSON text starts with an object, an array or a string (what Graph and the result hold).
fn looks_like_json(text: &[u8]) -> bool {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(b'{' | b'[' | b'"'))
}

/// A string literal of JSON text: the byte offsets of its quotes, and whether it has escapes.
struct JsonString {
    start: usize,
    end: usize,
    escaped: bool,
}

/// Every string literal of `text`, in order; `None` when a string is not closed (not JSON).
fn strings_of(text: &[u8]) -> Option<Vec<JsonString>> {
    let mut strings = Vec::new();
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'"', &text[at..]) {
        let start = at + found;
        let mut escaped = false;
        let mut scan = start + 1;
        let end = loop {
            let next = scan + memchr::memchr2(b'"', b'\\', text.get(scan..)?)?;
            if text[next] == b'"' {
                break next;
            }
            escaped = true;
            scan = next + 2;
        };
        strings.push(JsonString { start, end, escaped });
        at = end + 1;
    }
    Some(strings)
}

/// The literal `string` of `text` with `hits` (inside it, no escapes around) replaced.
fn replace_spans(text: &[u8], string: &JsonString, hits: &[(usize, usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(string.end + 1 - string.start);
    let mut at = string.start;
    for &(start, end) in hits {
        out.extend_from_slice(&text[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
    }
    out.extend_from_slice(&text[at..=string.end]);
    out
}

/// Joins sorted ranges that overlap or touch.
fn merge(spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Replacing whole credentials (valid UTF-8) in UTF-8 text keeps it UTF-8; lossy only in theory.
fn into_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Which form of a credential: see [`form_of`].
type Form = usize;

/// How many forms [`form_of`] knows.
const FORMS: usize = 25;

/// Form `form` of `text`, as text can carry a credential: 0-14 are the text as it is (0-4),
/// markdown-escaped as messages quote a server's words (5-9) and as table cells are written
/// (10-14), each as it is, JSON-escaped, JSON-escaped with `\/`, and those escaped again (a
/// JSON document inside a JSON string, as an incident's rawJSON); 15-24 are the text
/// percent-encoded by a strict, a component, a form, a path and a query encoder, with upper- and
/// lower-case hex digits. Many forms of a token (letters, digits, `-._`) are the same bytes.
fn form_of(form: Form, text: &str) -> Vec<u8> {
    const SETS: [&AsciiSet; 5] = [NON_ALPHANUMERIC, COMPONENT, FORM, PATH_SEGMENT, QUERY];
    if form >= 15 {
        let set = (form - 15) / 2;
        let mut encoded = utf8_percent_encode(text, SETS[set]).to_string();
        // The form encoder (index 2) writes a space as `+`.
        if set == 2 {
            encoded = encoded.replace("%20", "+");
        }
        if form % 2 == 0 {
            encoded = lower_hex(&encoded);
        }
        return encoded.into_bytes();
    }
    let shown = match form / 5 {
        0 => Cow::Borrowed(text),
        1 => Cow::Owned(crate::markdown::quoted(text)),
        _ => Cow::Owned(crate::markdown::escape_markdown(text)),
    };
    let slashed = |t: &str| t.replace('/', "\\/");
    let escaped = match form % 5 {
        0 => return shown.into_owned().into_bytes(),
        1 => json_escaped(&shown).into_owned(),
        2 => slashed(&json_escaped(&shown)),
        3 => json_escaped(&json_escaped(&shown)).into_owned(),
        _ => json_escaped(&slashed(&json_escaped(&shown))).into_owned(),
    };
    escaped.into_bytes()
}

/// The inside of the JSON string literal serde_json writes for `text` (itself when nothing in
/// it needs escaping, the common case).
fn json_escaped(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return Cow::Borrowed(text);
    }
    let quoted = serde_json::to_string(text).unwrap_or_default();
    let inside = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"'));
    Cow::Owned(inside.unwrap_or_default().to_string())
}

/// `%2B%2F` → `%2b%2f`: the hex digits of percent escapes in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut escape = 0;
    for c in encoded.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SECRET: &str = "s3cr3t+v/lue=12~x";

    fn redactor() -> Redactor {
        Redactor::new([SECRET, "eyJhbGciOiJSUzI1NiJ9.payload.signature", "short"])
    }

    #[test]
    fn every_form_of_a_credential_is_found_in_plain_text() {
        let cases = [
            "as is: s3cr3t+v/lue=12~x.",
            "strict: s3cr3t%2Bv%2Flue%3D12%7Ex",
            "lower: s3cr3t%2bv%2flue%3d12%7ex",
            "component: s3cr3t%2Bv%2Flue%3D12~x",
            "form: s3cr3t%2Bv%2Flue%3D12%7Ex",
            "path: s3cr3t+v%2Flue=12~x",
            "json slash: s3cr3t+v\\/lue=12~x",
        ];
        for case in cases {
            let out = redactor().text(case).into_owned();
            assert!(
                out.ends_with(REDACTED) || out.contains("[redacted]."),
                "{case} -> {out}"
            );
            assert!(!out.contains("s3cr3t"), "{case} -> {out}");
        }
        assert_eq!(redactor().text("short and plain"), "short and plain");
    }

    #[test]
    fn credentials_in_keys_values_and_escapes_of_json_are_replaced() {
        let token = "eyJhbGciOiJSUzI1NiJ9.payload.signature";
        let cases = [
            format!(r#"{{"{token}":1,"a":"x {token} y"}}"#),
            // every character \u-escaped: only decoding finds it
            format!(
                r#"{{"a":"{}"}}"#,
                token
                    .chars()
                    .map(|c| format!("\\u{:04x}", c as u32))
                    .collect::<String>()
            ),
            // an escaped quote next to it, and an escaped slash in the secret
            format!(r#"{{"a":"\"{token}\"","b":"s3cr3t+v\/lue=12~x"}}"#),
            // a JSON document inside a JSON string (an incident's rawJSON)
            serde_json::to_string(&json!({"raw": json!({"k": SECRET}).to_string()})).unwrap(),
        ];
        for text in cases {
            let out = redactor().json(text.as_bytes()).into_owned();
            let value: Value = serde_json::from_slice(&out).unwrap_or_else(|e| panic!("{text}: {e}"));
            let shown = value.to_string();
            assert!(!shown.contains(token) && !shown.contains("s3cr3t"), "{text} -> {shown}");
            assert!(shown.contains(REDACTED), "{text} -> {shown}");
        }
    }

    #[test]
    fn short_and_long_texts_find_the_same_credentials() {
        // Up to SMALL_TEXT bytes the prefixes are searched one by one, past it by the automaton.
        let padding = " ".repeat(SMALL_TEXT);
        let texts = [
            format!("a {SECRET} b s3cr3t%2Bv%2Flue%3D12%7Ex c"),
            "eyJhbGciOiJSUzI1NiJ9.payload.signature and eyJhbGciOiJSUzI1NiJ9.payload.other".to_string(),
            "nothing here".to_string(),
        ];
        for text in texts {
            let short = redactor().text(&text).into_owned();
            let long = redactor().text(&format!("{padding}{text}")).into_owned();
            assert_eq!(long.strip_prefix(&padding), Some(short.as_str()), "{text}");
        }
    }

    #[test]
    fn json_without_a_credential_is_returned_as_it_came() {
        let text = br#"{"additionalInfo":"[{\"Key\":\"userAgent\"}]","n":1,"e":"\u00e9"}"#;
        assert!(matches!(redactor().json(text), Cow::Borrowed(_)));
    }

    /// Found by the fuzz target: two forms sharing a prefix, one right after the other, where the
    /// prefix also occurs across them; a search that skips overlapping occurrences missed one.
    #[test]
    fn overlapping_occurrences_of_a_prefix_are_all_checked() {
        let redactor = Redactor::new(["\0\0\0\0\0/;\0"]);
        let text = "%00%00%00%00%00%2f%3b%00%00%00%00%00%00%2F%3B%00";
        // Both forms, touching, become one marker.
        assert_eq!(redactor.text(text), "[redacted]");
        let long = format!("{}{text}", " ".repeat(SMALL_TEXT));
        assert!(redactor.text(&long).ends_with(" [redacted]"));
    }

    #[test]
    fn a_credential_inside_a_number_leaves_valid_json() {
        let redactor = Redactor::new(["12345678"]);
        let out = redactor.json(br#"{"n":1234567890,"s":"a12345678b"}"#);
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value, json!({"n": 1234567890u64, "s": "a[redacted]b"}));
    }

    #[test]
    fn overlapping_and_nested_credentials_leave_no_tail() {
        let redactor = Redactor::new(["refresh-0123", "refresh-0123-and-more-secret-tail"]);
        assert_eq!(
            redactor.text("echo: refresh-0123-and-more-secret-tail"),
            "echo: [redacted]"
        );
    }

    /// Found by the fuzz target: one credential's raw form (ending in `"`) matched across the end
    /// of a string, and, joined with another credential's hit inside it, hid that one too.
    #[test]
    fn a_hit_across_a_strings_end_hides_no_other_hit() {
        let redactor = Redactor::new(["  ''''''''''''''''''''", "'''''''''\""]);
        let text = r#"{"1  ''''''''''''''''''''":"  ''''''''''''''''''''"}"#;
        let out = redactor.json(text.as_bytes());
        assert_eq!(String::from_utf8_lossy(&out), r#"{"1[redacted]":"[redacted]"}"#);
    }

    #[test]
    fn text_that_is_not_json_is_scrubbed_as_text() {
        let out = redactor().json(format!("<html>{SECRET}").as_bytes()).into_owned();
        assert_eq!(out, b"<html>[redacted]");
    }
}
