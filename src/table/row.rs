//! Reading one table row (a Graph item's JSON text) without building it as a tree: its member
//! names, whether each value is filled, and each cell's value with strings borrowed from the
//! text where they hold no escape. serde visitors, so the JSON itself is still read by serde_json.

use serde::de::{self, DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// Hands each member of `row` to `member` in document order, its value read by `value`
/// (`@odata.` annotations left out). False when the row is not one JSON object that reads
/// whole: the caller then forgets what it was handed, since such a row has no members.
pub(super) fn members<'a, V, F>(row: &'a str, value: V, member: F) -> bool
where
    V: DeserializeSeed<'a> + Copy,
    F: FnMut(Cow<'a, str>, V::Value),
{
    let mut reader = serde_json::Deserializer::from_str(row);
    reader.deserialize_any(Members { value, member }).is_ok() && reader.end().is_ok()
}

/// Visits one row object (see [`members`]).
struct Members<V, F> {
    value: V,
    member: F,
}

impl<'de, V, F> Visitor<'de> for Members<V, F>
where
    V: DeserializeSeed<'de> + Copy,
    F: FnMut(Cow<'de, str>, V::Value),
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            if key.starts_with("@odata.") {
                map.next_value::<IgnoredAny>()?;
            } else {
                (self.member)(key, map.next_value_seed(self.value)?);
            }
        }
        Ok(())
    }
}

/// A member's name.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(reader: D) -> Result<Self, D::Error> {
        reader.deserialize_str(TextVisitor).map(Key)
    }
}

/// Reads a string, borrowed when the reader can lend it (no escape in it).
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_string()))
    }
}

/// Reads a value only for whether it is filled: not null, `""`, `[]` or `{}`.
#[derive(Clone, Copy)]
pub(super) struct Filled;

impl<'de> DeserializeSeed<'de> for Filled {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<bool, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Filled {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, text: &str) -> Result<bool, E> {
        Ok(!text.is_empty())
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let filled = seq.next_element::<IgnoredAny>()?.is_some();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(filled)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let filled = map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some();
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(filled)
    }
}

/// A cell's value, shaped as the table shows it.
pub(super) enum Cell<'a> {
    /// A string, shown as it is.
    Text(Cow<'a, str>),
    /// A list: one item a line.
    List(Vec<Scalar<'a>>),
    /// An object: `name: value` a line; a name twice keeps its first place and last value, as
    /// a JSON object's reader keeps it.
    Members(Vec<(Cow<'a, str>, Scalar<'a>)>),
    /// Null (shown empty), true, false or a number.
    Other(Value),
}

/// An item of a list or object cell: a string as it is, anything else as compact JSON.
pub(super) enum Scalar<'a> {
    Text(Cow<'a, str>),
    Json(Value),
}

/// Reads a [`Cell`].
#[derive(Clone, Copy)]
pub(super) struct CellSeed;

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Cell<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Cell<'de>, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Cell<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Cell<'de>, E> {
        Ok(Cell::Text(Cow::Owned(text.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Cell<'de>, E> {
        Ok(Cell::Other(Value::Null))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Cell<'de>, E> {
        Ok(Cell::Other(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Cell<'de>, E> {
        Ok(Cell::Other(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Cell<'de>, E> {
        Ok(Cell::Other(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Cell<'de>, E> {
        Ok(Cell::Other(value.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ScalarSeed)? {
            items.push(item);
        }
        Ok(Cell::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Scalar<'de>)> = Vec::new();
        while let Some(Key(name)) = map.next_key()? {
            let value = map.next_value_seed(ScalarSeed)?;
            match members.iter_mut().find(|(known, _)| *known == name) {
                Some(member) => member.1 = value,
                None => members.push((name, value)),
            }
        }
        Ok(Cell::Members(members))
    }
}

/// Reads a [`Scalar`].
#[derive(Clone, Copy)]
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Scalar<'de>, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Text(Cow::Owned(text.to_string())))
    }

    fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Json(Value::Null))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Json(Value::Bool(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Json(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Json(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Json(value.into()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Scalar::Json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map)).map(Scalar::Json)
    }
}
