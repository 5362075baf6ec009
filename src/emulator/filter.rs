//! A small OData `$filter` evaluator: `property op value` clauses joined with `and`, which is
//! what Identity Protection clients send (`riskLevel eq 'high' and riskLastUpdatedDateTime ge …`).

use std::cmp::Ordering;

use serde_json::Value;

/// A comparison operator of a `$filter` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

/// One `property op value` clause.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    property: String,
    operator: Operator,
    value: String,
}

/// A parsed `$filter`: every clause must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// Parses `a eq 'x' and b ge 2024-01-01T00:00:00Z`; `Err` names the clause not understood.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let clauses = split_and(text)
            .into_iter()
            .map(parse_clause)
            .collect::<Result<_, _>>()?;
        Ok(Filter { clauses })
    }

    /// Whether the object satisfies every clause.
    pub fn matches(&self, item: &Value) -> bool {
        self.clauses.iter().all(|clause| clause.matches(item))
    }
}

impl Clause {
    fn matches(&self, item: &Value) -> bool {
        let Some(actual) = property(item, &self.property) else {
            return self.operator == Operator::Ne;
        };
        let ordering = compare(&actual, &self.value);
        match self.operator {
            Operator::Eq => ordering == Ordering::Equal,
            Operator::Ne => ordering != Ordering::Equal,
            Operator::Ge => ordering != Ordering::Less,
            Operator::Gt => ordering == Ordering::Greater,
            Operator::Le => ordering != Ordering::Greater,
            Operator::Lt => ordering == Ordering::Less,
        }
    }
}

/// Enum and string values compare case-insensitively, as Graph does for enum members.
fn compare(actual: &str, expected: &str) -> Ordering {
    actual.to_ascii_lowercase().cmp(&expected.to_ascii_lowercase())
}

/// The property's value as text (property names are matched case-insensitively).
fn property(item: &Value, name: &str) -> Option<String> {
    let (_, value) = item
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))?;
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Splits on ` and ` outside quoted literals.
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let lower = text.to_ascii_lowercase();
    for (i, c) in text.char_indices() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && lower[i..].starts_with(" and ") {
            parts.push(&text[start..i]);
            start = i + " and ".len();
        }
    }
    parts.push(&text[start..]);
    parts
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    let invalid = || format!("Invalid filter clause: '{}'.", text.trim());
    let mut words = text.trim().splitn(3, ' ');
    let (Some(property), Some(operator), Some(value)) = (words.next(), words.next(), words.next()) else {
        return Err(invalid());
    };
    let operator = parse_operator(operator).ok_or_else(invalid)?;
    let value = parse_literal(value.trim()).ok_or_else(invalid)?;
    Ok(Clause {
        property: property.to_owned(),
        operator,
        value,
    })
}

fn parse_operator(word: &str) -> Option<Operator> {
    match word.to_ascii_lowercase().as_str() {
        "eq" => Some(Operator::Eq),
        "ne" => Some(Operator::Ne),
        "ge" => Some(Operator::Ge),
        "gt" => Some(Operator::Gt),
        "le" => Some(Operator::Le),
        "lt" => Some(Operator::Lt),
        _ => None,
    }
}

/// `'text'` (with `''` escapes), a typed enum literal `microsoft.graph.riskLevel'high'`, or a bare
/// token such as a date, number or boolean.
fn parse_literal(text: &str) -> Option<String> {
    let Some(quote) = text.find('\'') else {
        return (!text.is_empty() && !text.contains(' ')).then(|| text.to_owned());
    };
    let prefix = &text[..quote];
    let typed_ok = prefix.is_empty() || prefix.starts_with("microsoft.graph.");
    let inner = text[quote..].strip_prefix('\'')?.strip_suffix('\'')?;
    typed_ok.then(|| inner.replace("''", "'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_cases() {
        let user = json!({"riskLevel": "high", "riskState": "atRisk", "isDeleted": false,
                          "riskLastUpdatedDateTime": "2024-05-20T08:10:27.5581222Z", "userDisplayName": "O'Neil"});
        #[rustfmt::skip]
        let cases = [
            ("riskLevel eq 'high'", true),
            ("RiskLevel eq 'HIGH'", true),
            ("riskLevel eq microsoft.graph.riskLevel'high'", true),
            ("riskLevel ne 'none'", true),
            ("riskLevel eq 'high' and riskState eq 'dismissed'", false),
            ("riskLevel eq 'high' AND riskState eq 'atRisk'", true),
            ("riskLastUpdatedDateTime ge 2024-05-01T00:00:00Z", true),
            ("riskLastUpdatedDateTime le 2024-05-01T00:00:00.0000000Z", false),
            ("isDeleted eq false", true),
            ("userDisplayName eq 'O''Neil'", true),
            ("userDisplayName eq 'a and b'", false),
            ("missing ne 'x'", true),
        ];
        for (text, expected) in cases {
            let filter = Filter::parse(text).unwrap_or_default();
            assert_eq!(filter.matches(&user), expected, "{text}");
        }
    }

    #[test]
    fn unsupported_filters_are_errors() {
        for text in [
            "riskLevel",
            "riskLevel has 'x'",
            "riskLevel eq 'open",
            "riskLevel eq other'x'",
            "a eq b c",
        ] {
            assert!(Filter::parse(text).is_err(), "{text}");
        }
    }
}
