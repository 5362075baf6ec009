//! A validating scanner for Graph collection pages, for fetch-incidents' thousands of detections.
//!
//! Hand-written, for speed: serde_json reads a page through its visitor machinery for every key
//! and value, about 15 instructions a byte, which was most of a fetch over 10,000 detections
//! (BENCHMARKS.md). This reads the same grammar (RFC 8259) straight over the bytes, skipping
//! the plain bytes of strings eight at a time, and gives exactly what [`picking::page`] gives.
//! It declines (`None`) whatever it does not cover: an escaped key, a `\u` escape of a
//! surrogate, an empty item, deep nesting, a duplicate page member; the callers then use
//! [`picking::page`] and the ordinary reader, which also name what is wrong with a broken page.
//! A property test holds it to serde_json's verdict on random and mutated pages.
//!
//! [`picking::page`]: super::picking::page

use super::picking::{Picked, PickedPage};
use crate::json_text::skip_plain;
use serde_json::value::RawValue;

/// Nesting the scanner follows; deeper is declined (serde_json itself stops at 128).
const MAX_DEPTH: usize = 100;

/// Reads a page in one pass, or `None` when it is not a valid page this scanner covers.
pub fn page<'a, const N: usize>(body: &'a str, names: &[&str; N]) -> Option<PickedPage<'a, N>> {
    let mut scanner = Scanner {
        body,
        bytes: body.as_bytes(),
        at: 0,
        depth: 0,
    };
    let page = scanner.page(names)?;
    scanner.space();
    (scanner.at == scanner.bytes.len()).then_some(page)
}

struct Scanner<'a> {
    body: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

/// Sets `slot` once; a second time declines (serde_json refuses a duplicate page member).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.replace(value).is_none().then_some(())
}

impl<'a> Scanner<'a> {
    fn page<const N: usize>(&mut self, names: &[&str; N]) -> Option<PickedPage<'a, N>> {
        let (mut context, mut next_link, mut items) = (None, None, None);
        self.open(b'{')?;
        loop {
            let key = self.key()?;
            self.colon()?;
            match key {
                "@odata.context" => once(&mut context, self.raw_value()?)?,
                "@odata.nextLink" => once(&mut next_link, self.raw_value()?)?,
                "value" => once(&mut items, self.items(names)?)?,
                _ => self.value()?,
            }
            if self.close_or_comma(b'}')? {
                break;
            }
        }
        // `null` reads as absent, as picking reads it.
        let present = |raw: Option<&'a RawValue>| raw.filter(|r| r.get() != "null");
        Some(PickedPage {
            context: present(context),
            next_link: present(next_link),
            items: items?,
        })
    }

    /// The `value` array: each item an object with at least one member.
    fn items<const N: usize>(&mut self, names: &[&str; N]) -> Option<Vec<Picked<'a, N>>> {
        let mut items = Vec::new();
        self.expect(b'[')?;
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Some(items);
        }
        loop {
            self.space();
            items.push(self.item(names)?);
            if self.close_or_comma(b']')? {
                return Some(items);
            }
        }
    }

    fn item<const N: usize>(&mut self, names: &[&str; N]) -> Option<Picked<'a, N>> {
        let start = self.at;
        let mut members = [None; N];
        self.open(b'{')?;
        self.deeper()?;
        loop {
            let key = self.key()?;
            self.colon()?;
            let value = self.at;
            self.value()?;
            if let Some(i) = names.iter().position(|name| *name == key) {
                members[i] = Some(serde_json::from_str::<&RawValue>(self.body.get(value..self.at)?).ok()?);
            }
            if self.close_or_comma(b'}')? {
                break;
            }
        }
        self.depth -= 1;
        Some(Picked {
            text: self.body.get(start..self.at)?,
            members,
        })
    }

    /// `{` (or `[`) and the whitespace after it; an empty object is declined.
    fn open(&mut self, bracket: u8) -> Option<()> {
        self.expect(bracket)?;
        self.space();
        (self.peek() != Some(b'}')).then_some(())
    }

    /// After a member or an element: `,` (false) or the closing bracket (true).
    fn close_or_comma(&mut self, close: u8) -> Option<bool> {
        self.space();
        match self.next()? {
            b',' => {
                self.space();
                Some(false)
            }
            b if b == close => Some(true),
            _ => None,
        }
    }

    fn colon(&mut self) -> Option<()> {
        self.space();
        self.expect(b':')?;
        self.space();
        Some(())
    }

    fn deeper(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A value, as serde_json would read it from the page.
    fn raw_value(&mut self) -> Option<&'a RawValue> {
        let start = self.at;
        self.value()?;
        serde_json::from_str(self.body.get(start..self.at)?).ok()
    }

    /// Any JSON value, checked and skipped.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(),
            b'[' => self.array(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self) -> Option<()> {
        self.expect(b'{')?;
        self.deeper()?;
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.space();
                self.string()?;
                self.colon()?;
                self.value()?;
                if self.close_or_comma(b'}')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        self.expect(b'[')?;
        self.deeper()?;
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
        } else {
            loop {
                self.space();
                self.value()?;
                if self.close_or_comma(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// A key without escapes (one with escapes is declined, as picking declines it), as text.
    fn key(&mut self) -> Option<&'a str> {
        let start = self.at + 1;
        match self.string()? {
            false => self.body.get(start..self.at - 1),
            true => None,
        }
    }

    /// A string; true when it had escapes.
    fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            self.at = skip_plain(self.bytes, self.at);
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                // A control character, which JSON allows only escaped.
                _ => return None,
            }
        }
    }

    /// The rest of an escape after its backslash. A `\u` escape of a surrogate is declined:
    /// whether its pair is valid is left to serde_json.
    fn escape(&mut self) -> Option<()> {
        match self.next()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let hex = self.bytes.get(self.at..self.at + 4)?;
                let hex = std::str::from_utf8(hex).ok()?;
                let unit = u16::from_str_radix(hex, 16).ok()?;
                self.at += 4;
                // from_str_radix also takes a sign, which JSON does not.
                let digits = hex.bytes().all(|b| b.is_ascii_hexdigit());
                (digits && !(0xD800..=0xDFFF).contains(&unit)).then_some(())
            }
            _ => None,
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let found = self.bytes.get(self.at..self.at + word.len())? == word;
        self.at += word.len();
        found.then_some(())
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::picking;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const NAMES: [&str; 2] = ["id", "detectedDateTime"];

    type Seen = (Option<String>, Option<String>, Vec<(String, [Option<String>; 2])>);

    fn seen(page: PickedPage<'_, 2>) -> Seen {
        let text = |raw: Option<&RawValue>| raw.map(|r| r.get().to_string());
        let items = page
            .items
            .iter()
            .map(|i| (i.text.to_string(), i.members.map(text)))
            .collect();
        (text(page.context), text(page.next_link), items)
    }

    /// The scanner's reading equals picking's whenever it reads at all.
    fn agrees(body: &str) -> Result<bool, TestCaseError> {
        let scanned = page(body, &NAMES).map(seen);
        if scanned.is_some() {
            let picked = picking::page(body, &NAMES).map(seen);
            prop_assert_eq!(&scanned, &picked, "{}", body);
        }
        Ok(scanned.is_some())
    }

    #[test]
    fn pages_read_as_picking_reads_them() {
        let body = "{\"@odata.context\":\"c\",\"value\":[ {\"id\":\"a\",\"x\":{\"id\":\"inner\"},\"detectedDateTime\":\"2024-01-01T00:00:00Z\"} ,\n{ \"x\" : [1, \"}\", -0.5e+3, true, null, {}, []] , \"id\" : 7\t, \"s\": \"\\\"\\u00e9\\n\"}],\"@odata.nextLink\":\"n\"}";
        assert!(matches!(agrees(body), Ok(true)), "{body}");
        let page = page(body, &NAMES).expect("read");
        assert_eq!(page.items[1].members[0].map(RawValue::get), Some("7"));
    }

    #[test]
    fn what_the_scanner_does_not_cover_or_refuses() {
        for body in [
            r#"{"value":[{}]}"#,
            r#"{"value":[1]}"#,
            r#"{"value":[{"i\u0064":"a"}]}"#,
            r#"{"value":[{"id":"\ud83d\ude00"}]}"#,
            r#"{"value":[],"value":[]}"#,
            r#"{"value":null}"#,
            r#"{"other":[]}"#,
            r#"{"value":[{"id":"a"}]"#,
            r#"{"value":[{"id":01}]}"#,
            r#"{"value":[{"id":1.}]}"#,
            r#"{"value":[{"id":"a",}]}"#,
            r#"{"value":[{"id":"a\u00g0"}]}"#,
            r#"{"value":[{"id":"a\u+0a0"}]}"#,
            r#"{"value":[{"id":tru}]}"#,
            // The same faults where no member is read back: the grammar itself refuses them.
            r#"{"value":[{"id":"a","x":01}]}"#,
            r#"{"value":[{"id":"a","x":-}]}"#,
            r#"{"value":[{"id":"a","x":1e}]}"#,
            r#"{"value":[{"id":"a","x":.5}]}"#,
            r#"{"value":[{"id":"a","x":[1,]}]}"#,
            r#"{"value":[{"id":"a","x":{"k"}}]}"#,
            r#"{"value":[{"id":"a","x":{"k":1,}}]}"#,
            r#"{"value":[{"id":"a","x":"\q"}]}"#,
            r#"{"value":[{"id":"a","x":nul}]}"#,
            r#"{"value":[{"id":"a","x":"a"b}]}"#,
            "{\"value\":[{\"id\":\"a\tb\"}]}",
            r#"{"value":[{"id":"a"}]} x"#,
            r#"[]"#,
        ] {
            assert!(page(body, &NAMES).is_none(), "{body}");
        }
        let deep = format!(r#"{{"value":[{{"id":{}1{}}}]}}"#, "[".repeat(200), "]".repeat(200));
        assert!(page(&deep, &NAMES).is_none());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
            "[a-z\"\\\\/\n\t\u{e9}\u{1F600}{}\\[\\]:, ]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,3}|id|detectedDateTime", inner), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn item() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("id".to_string()),
            Just("detectedDateTime".to_string()),
            "[a-z@.]{1,4}"
        ];
        prop::collection::vec((key, json_value()), 1..5).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// A valid page of non-empty items is read, and read as picking reads it, however it is
        /// laid out.
        #[test]
        fn valid_pages_are_read_as_picking_reads_them(items in prop::collection::vec(item(), 0..5), pretty: bool) {
            let page = json!({"@odata.context": "c", "value": items, "@odata.nextLink": "n"});
            let body = if pretty { serde_json::to_string_pretty(&page).unwrap() } else { page.to_string() };
            prop_assert!(agrees(&body)?, "a valid page is covered: {}", body);
        }

        /// A page broken anywhere (a byte changed, removed, added or cut off) is read only if picking
        /// reads it the same way: never accepted where serde_json refuses.
        #[test]
        fn broken_pages_are_never_read_otherwise(items in prop::collection::vec(item(), 1..4), at: prop::sample::Index, byte in prop::sample::select(b"\"\\{}[],:0-.eE+ta\x01\x7f".to_vec()), how in 0..4u8) {
            let mut body = json!({"value": items}).to_string().into_bytes();
            let i = at.index(body.len());
            match how {
                0 => body[i] = byte,
                1 => { body.remove(i); }
                2 => body.insert(i, byte),
                _ => body.truncate(i),
            }
            if let Ok(body) = String::from_utf8(body) {
                agrees(&body)?;
            }
        }
    }
}
