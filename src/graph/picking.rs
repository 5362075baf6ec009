//! One pass over a page that yields each item's JSON text and a few of its members.
//!
//! serde_json reads an item either as text (`RawValue`) or as members, not both, and reading
//! every item twice was a third of fetch's cost over thousands of detections. Here each
//! member's value is read as borrowed text, which serde_json hands out as slices of the page,
//! so an item's text is the slice from its first key to its last value, widened to the braces
//! around them. JSON allows only whitespace between a brace and a member (RFC 8259, section 2),
//! and that is all this module checks by hand. Anything else (an item that is not an object, an
//! empty object, a key written with escapes) makes [`page`] answer `None`, and the caller reads
//! the page the ordinary way, with [`members`] for each item.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;

/// One item of a page: its JSON text and the members asked for, in the order of the names.
pub struct Picked<'a, const N: usize> {
    pub text: &'a str,
    pub members: [Option<&'a RawValue>; N],
}

/// A page read in one pass.
pub struct PickedPage<'a, const N: usize> {
    pub context: Option<&'a RawValue>,
    pub next_link: Option<&'a RawValue>,
    pub items: Vec<Picked<'a, N>>,
}

/// Reads a Graph collection page (`{"value": [...], "@odata.nextLink": ...}`) in one pass, or
/// answers `None` when the page is anything this reader does not cover (the caller then reads
/// it the ordinary way, which also names what is wrong with a broken page).
pub fn page<'a, const N: usize>(body: &'a str, names: &[&str; N]) -> Option<PickedPage<'a, N>> {
    let mut reader = serde_json::Deserializer::from_str(body);
    let page = de::Deserializer::deserialize_map(&mut reader, PageVisitor { body, names }).ok()?;
    reader.end().ok()?;
    Some(page)
}

/// The named members of one item that is already known to be valid JSON, read only until all
/// are found (the error serde_json reports for the members left unread is expected and
/// ignored: the text was read whole before). A name that occurs twice gives its last value, as
/// a parsed object would; an item that is not an object has none.
pub fn members<'a, const N: usize>(item: &'a str, names: &[&str; N]) -> [Option<&'a RawValue>; N] {
    let mut found = [None; N];
    let mut reader = serde_json::Deserializer::from_str(item);
    let visitor = MembersVisitor {
        names,
        found: &mut found,
    };
    let _ = de::Deserializer::deserialize_map(&mut reader, visitor);
    found
}

struct MembersVisitor<'f, 'a, 'n, const N: usize> {
    names: &'n [&'n str; N],
    found: &'f mut [Option<&'a RawValue>; N],
}

impl<'a, const N: usize> Visitor<'a> for MembersVisitor<'_, 'a, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        let mut missing = N;
        while let Some(key) = map.next_key::<std::borrow::Cow<'a, str>>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(i) => {
                    missing -= usize::from(self.found[i].is_none());
                    self.found[i] = Some(map.next_value()?);
                }
                None => map.next_value::<IgnoredAny>().map(drop)?,
            }
            if missing == 0 {
                break;
            }
        }
        Ok(())
    }
}

struct PageVisitor<'a, 'n, const N: usize> {
    body: &'a str,
    names: &'n [&'n str; N],
}

impl<'a, const N: usize> Visitor<'a> for PageVisitor<'a, '_, N> {
    type Value = PickedPage<'a, N>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a collection page")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut context, mut next_link, mut items) = (None, None, None);
        while let Some(key) = map.next_key::<&'a str>()? {
            match key {
                "@odata.context" => once(&mut context, map.next_value()?, key)?,
                "@odata.nextLink" => once(&mut next_link, map.next_value()?, key)?,
                "value" => {
                    let seed = ItemsSeed {
                        body: self.body,
                        names: self.names,
                    };
                    once(&mut items, map.next_value_seed(seed)?, key)?;
                }
                _ => map.next_value::<IgnoredAny>().map(drop)?,
            }
        }
        Ok(PickedPage {
            context: context.flatten(),
            next_link: next_link.flatten(),
            items: items.ok_or_else(|| de::Error::missing_field("value"))?,
        })
    }
}

/// A page member read at most once (as the ordinary reader refuses duplicates, so does this).
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T, key: &str) -> Result<(), E> {
    match slot.replace(value) {
        Some(_) => Err(E::custom(format_args!("duplicate member {key}"))),
        None => Ok(()),
    }
}

struct ItemsSeed<'a, 'n, const N: usize> {
    body: &'a str,
    names: &'n [&'n str; N],
}

impl<'a, const N: usize> DeserializeSeed<'a> for ItemsSeed<'a, '_, N> {
    type Value = Vec<Picked<'a, N>>;

    fn deserialize<D: de::Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'a, const N: usize> Visitor<'a> for ItemsSeed<'a, '_, N> {
    type Value = Vec<Picked<'a, N>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<S: SeqAccess<'a>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let seed = ItemSeed {
            body: self.body,
            names: self.names,
        };
        while let Some(item) = seq.next_element_seed(&seed)? {
            items.push(item);
        }
        Ok(items)
    }
}

struct ItemSeed<'a, 'n, const N: usize> {
    body: &'a str,
    names: &'n [&'n str; N],
}

impl<'a, const N: usize> DeserializeSeed<'a> for &ItemSeed<'a, '_, N> {
    type Value = Picked<'a, N>;

    fn deserialize<D: de::Deserializer<'a>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a, const N: usize> Visitor<'a> for &ItemSeed<'a, '_, N> {
    type Value = Picked<'a, N>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a non-empty object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut members = [None; N];
        let (mut first, mut last): (Option<&'a str>, Option<&'a RawValue>) = (None, None);
        // A key with escapes is not a slice of the page: serde_json refuses it as `&str`.
        while let Some(key) = map.next_key::<&'a str>()? {
            let value: &'a RawValue = map.next_value()?;
            first.get_or_insert(key);
            last = Some(value);
            if let Some(i) = self.names.iter().position(|name| *name == key) {
                members[i] = Some(value);
            }
        }
        let unlocated = || de::Error::custom("an item whose text could not be located");
        let (first, last) = first.zip(last).ok_or_else(unlocated)?;
        let text = braces_around(self.body, first, last.get()).ok_or_else(unlocated)?;
        Ok(Picked { text, members })
    }
}

/// The object in `body` whose first key is `first` and last value is `last` (both slices of
/// `body`): from the `{` before the key's opening quote to the `}` after the value, with only
/// JSON whitespace between.
fn braces_around<'a>(body: &'a str, first: &str, last: &str) -> Option<&'a str> {
    let offset = |part: &str| (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize);
    let quote = offset(first)?.checked_sub(1)?;
    let after = offset(last)?.checked_add(last.len())?;
    let bytes = body.as_bytes();
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let open = bytes.get(..quote)?.iter().rposition(|b| !is_space(b))?;
    let close = after + bytes.get(after..)?.iter().position(|b| !is_space(b))?;
    (bytes.get(quote) == Some(&b'"') && bytes[open] == b'{' && bytes[close] == b'}').then(|| body.get(open..=close))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const NAMES: [&str; 2] = ["id", "detectedDateTime"];

    /// What the ordinary reader makes of a page: each item's text and its named members.
    fn ordinary(body: &str) -> Option<Vec<(String, [Option<String>; 2])>> {
        #[derive(serde::Deserialize)]
        struct Page<'a> {
            #[serde(borrow)]
            value: Vec<&'a RawValue>,
        }
        let page: Page = serde_json::from_str(body).ok()?;
        let picked = page.value.iter().map(|item| {
            let found = members(item.get(), &NAMES).map(|m| m.map(|v| v.get().to_string()));
            (item.get().to_string(), found)
        });
        Some(picked.collect())
    }

    fn one_pass(body: &str) -> Option<Vec<(String, [Option<String>; 2])>> {
        let page = page(body, &NAMES)?;
        let picked = page.items.iter().map(|item| {
            let found = item.members.map(|m| m.map(|v| v.get().to_string()));
            (item.text.to_string(), found)
        });
        Some(picked.collect())
    }

    #[test]
    fn items_and_members_as_the_ordinary_reader_sees_them() {
        let body = "{\"@odata.context\":\"c\",\"value\":[ {\"id\":\"a\",\"x\":{\"id\":\"inner\"},\"detectedDateTime\":\"2024-01-01T00:00:00Z\"} ,\n{ \"x\" : [1, \"}\"] , \"id\" : 7\t}],\"@odata.nextLink\":\"n\"}";
        let expected = vec![
            (
                r#"{"id":"a","x":{"id":"inner"},"detectedDateTime":"2024-01-01T00:00:00Z"}"#.to_string(),
                [
                    Some(r#""a""#.to_string()),
                    Some(r#""2024-01-01T00:00:00Z""#.to_string()),
                ],
            ),
            (
                "{ \"x\" : [1, \"}\"] , \"id\" : 7\t}".to_string(),
                [Some("7".to_string()), None],
            ),
        ];
        assert_eq!(one_pass(body), Some(expected));
        let page = page(body, &NAMES).unwrap();
        assert_eq!(page.next_link.map(RawValue::get), Some(r#""n""#));
        assert_eq!(page.context.map(RawValue::get), Some(r#""c""#));
    }

    #[test]
    fn what_one_pass_does_not_cover_is_left_to_the_ordinary_reader() {
        for body in [
            r#"{"value":[{}]}"#,
            r#"{"value":[1]}"#,
            r#"{"value":[{"i\u0064":"a"}]}"#,
            r#"{"value":[],"value":[]}"#,
            r#"{"value":null}"#,
            r#"{"other":[]}"#,
            r#"{"value":[{"id":"a"}]"#,
            r#"[]"#,
        ] {
            assert!(page(body, &NAMES).is_none(), "{body}");
        }
        // The ordinary reader still reads the first three, with an escaped key matched by name.
        assert_eq!(
            ordinary(r#"{"value":[{"i\u0064":"a"}]}"#).unwrap()[0].1[0].as_deref(),
            Some(r#""a""#)
        );
    }

    fn item() -> impl Strategy<Value = Value> {
        let scalar = prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[a-z{}\\[\\]\":, ]{0,6}".prop_map(Value::from),
        ];
        let key = prop_oneof![
            Just("id".to_string()),
            Just("detectedDateTime".to_string()),
            "[a-z]{1,3}"
        ];
        prop::collection::vec((key, scalar), 0..5).prop_map(|members| Value::Object(members.into_iter().collect()))
    }

    proptest! {
        /// On any page the one-pass reader covers, it sees exactly what the ordinary one sees,
        /// whatever the whitespace around items and members.
        #[test]
        fn one_pass_agrees_with_the_ordinary_reader(items in prop::collection::vec(item(), 0..6), pretty: bool) {
            let page = json!({"value": items, "@odata.nextLink": "n"});
            let body = if pretty { serde_json::to_string_pretty(&page).unwrap() } else { page.to_string() };
            let covered = !items.iter().any(|i| i.as_object().is_some_and(|o| o.is_empty()));
            match one_pass(&body) {
                Some(picked) => prop_assert_eq!(Some(picked), ordinary(&body)),
                None => prop_assert!(!covered, "a page of non-empty objects is covered: {}", body),
            }
        }
    }
}
