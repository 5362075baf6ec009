//! "Is this envelope certainly valid?", read straight from `schema/envelope.schema.json`.
//!
//! Compiling the schema with `jsonschema` costs about 2 ms per invocation, more than everything
//! else a local command does, because jsonschema 0.61 always checks the schema against its
//! meta-schema first and offers no public switch to skip that for a trusted schema. So a
//! well-formed envelope is recognised by walking the schema's own keywords here, and the
//! compiled schema runs only for an envelope this walk does not accept, to name what is wrong.
//! The rules therefore live in one place, the schema. This walk reads only the keywords the
//! schema uses; any other keyword makes it answer "not sure" (false), which hands the envelope
//! to jsonschema: it can never accept what the schema refuses, only send more to the full check.

use serde_json::{Map, Value};

/// True when `value` is valid against `schema` (a JSON Schema whose `$ref`s point into its own
/// `$defs`). False means invalid, or a keyword this walk does not read.
pub fn conforms(schema: &Value, value: &Value) -> bool {
    Walk { root: schema }.valid(schema, value)
}

struct Walk<'s> {
    root: &'s Value,
}

impl Walk<'_> {
    fn valid(&self, schema: &Value, value: &Value) -> bool {
        match schema {
            Value::Bool(verdict) => *verdict,
            Value::Object(rules) => rules
                .iter()
                .all(|(keyword, rule)| self.keyword(rules, keyword, rule, value)),
            _ => false,
        }
    }

    fn keyword(&self, rules: &Map<String, Value>, keyword: &str, rule: &Value, value: &Value) -> bool {
        match keyword {
            "$schema" | "$id" | "$defs" | "$comment" | "title" | "description" => true,
            "type" => type_matches(rule, value),
            "required" => required(rule, value),
            "properties" => self.properties(rule, value),
            "additionalProperties" => self.additional(rules, rule, value),
            "items" => value
                .as_array()
                .is_none_or(|items| items.iter().all(|item| self.valid(rule, item))),
            "anyOf" => rule
                .as_array()
                .is_some_and(|options| options.iter().any(|option| self.valid(option, value))),
            "$ref" => self.resolve(rule).is_some_and(|target| self.valid(target, value)),
            "minLength" => length(value).is_none_or(|n| rule.as_u64().is_some_and(|min| n >= min)),
            "maxLength" => length(value).is_none_or(|n| rule.as_u64().is_some_and(|max| n <= max)),
            _ => false,
        }
    }

    fn properties(&self, rule: &Value, value: &Value) -> bool {
        let (Some(rules), Some(object)) = (rule.as_object(), value.as_object()) else {
            return rule.is_object();
        };
        rules
            .iter()
            .all(|(name, schema)| object.get(name).is_none_or(|member| self.valid(schema, member)))
    }

    /// `additionalProperties` applies to the members its sibling `properties` does not name.
    fn additional(&self, rules: &Map<String, Value>, rule: &Value, value: &Value) -> bool {
        let Some(object) = value.as_object() else { return true };
        let named = rules.get("properties").and_then(Value::as_object);
        object
            .iter()
            .filter(|(name, _)| named.is_none_or(|named| !named.contains_key(*name)))
            .all(|(_, member)| self.valid(rule, member))
    }

    /// `#/$defs/name`, the only form of reference the schema uses.
    fn resolve(&self, reference: &Value) -> Option<&Value> {
        let name = reference.as_str()?.strip_prefix("#/$defs/")?;
        self.root.get("$defs")?.get(name)
    }
}

fn type_matches(rule: &Value, value: &Value) -> bool {
    let is = |name: &Value| match name.as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("number") => value.is_number(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        _ => false,
    };
    match rule {
        Value::Array(names) => names.iter().any(is),
        name => is(name),
    }
}

fn required(rule: &Value, value: &Value) -> bool {
    let (Some(names), Some(object)) = (rule.as_array(), value.as_object()) else {
        return rule.is_array();
    };
    names
        .iter()
        .all(|name| name.as_str().is_some_and(|name| object.contains_key(name)))
}

/// A string's length as JSON Schema counts it (characters); `None` for anything else.
fn length(value: &Value) -> Option<u64> {
    value.as_str().map(|text| text.chars().count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn walk(schema: Value, value: Value) -> bool {
        conforms(&schema, &value)
    }

    #[test]
    fn each_keyword_as_json_schema_defines_it() {
        let s = json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "minLength": 2, "maxLength": 3}}, "additionalProperties": {"$ref": "#/$defs/n"}, "$defs": {"n": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "null"}}]}}});
        assert!(walk(s.clone(), json!({"a": "ab"})));
        assert!(walk(s.clone(), json!({"a": "äöü", "x": 1, "y": [null]})));
        assert!(!walk(s.clone(), json!({"a": "a"})), "minLength counts characters");
        assert!(!walk(s.clone(), json!({"a": "abcd"})));
        assert!(!walk(s.clone(), json!({"x": 1})), "required");
        assert!(!walk(s.clone(), json!({"a": "ab", "x": 1.5})), "integer");
        assert!(!walk(s.clone(), json!({"a": "ab", "y": [1]})), "items");
        assert!(!walk(s, json!([])), "type");
    }

    #[test]
    fn an_unknown_keyword_or_reference_is_not_sure() {
        assert!(!walk(json!({"pattern": "^a"}), json!("a")));
        assert!(!walk(json!({"not": {"type": "null"}}), json!("a")));
        assert!(!walk(json!({"$ref": "other.json#/x"}), json!("a")));
        assert!(!walk(json!({"$ref": "#/$defs/missing"}), json!("a")));
        // An unknown keyword inside one anyOf branch leaves a branch that fully passed.
        assert!(walk(
            json!({"anyOf": [{"pattern": "x"}, {"type": "string"}]}),
            json!("a")
        ));
    }
}
