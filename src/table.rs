//! Markdown tables in the style of XSOAR's `tableToMarkdown`: the important columns first, then
//! the rest in first-seen order, empty columns dropped, nested values flattened readably.

use crate::output::escape_markdown;
use serde_json::{Map, Value};

/// Columns shown first when present, in this order (as the original integration did).
pub const FRONT_COLUMNS: [&str; 5] = [
    "userId",
    "userPrincipalName",
    "userDisplayName",
    "ipAddress",
    "detectedDateTime",
];

/// `Risky Users (3 results)`.
pub fn title(text: &str, count: usize) -> String {
    format!("{text} ({count} {})", if count == 1 { "result" } else { "results" })
}

/// A `### title` heading and a table of the rows (JSON objects, as text), or `**No entries.**`.
/// The rows are read twice, one at a time (once for the columns, once for the cells), so a
/// table of thousands of Graph items never holds them all as trees or cells.
pub fn render<'a>(title: &str, rows: impl Iterator<Item = &'a str> + Clone) -> String {
    let headers = headers(rows.clone().map(object));
    if headers.is_empty() {
        return format!("### {title}\n**No entries.**\n");
    }
    let mut out = format!("### {title}\n|");
    for header in &headers {
        out.push_str(&column_name(header));
        out.push('|');
    }
    out.push_str(&format!("\n|{}\n", "---|".repeat(headers.len())));
    for mut row in rows.map(object) {
        out.push('|');
        for header in &headers {
            let text = row.remove(header.as_str()).map(cell).unwrap_or_default();
            out.push(' ');
            out.push_str(&escape_markdown(&text));
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

/// A row's members (`@odata.` annotations left out); a row that is not an object has none.
fn object(row: &str) -> Map<String, Value> {
    let mut map = match serde_json::from_str(row) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    map.retain(|key, _| !key.starts_with("@odata."));
    map
}

/// Keys of all rows in first-seen order, front columns first, columns empty in every row dropped.
fn headers(rows: impl Iterator<Item = Map<String, Value>>) -> Vec<String> {
    let mut seen: Vec<(String, bool)> = Vec::new();
    for row in rows {
        for (key, value) in row {
            let filled = !is_empty(&value);
            match seen.iter_mut().find(|(k, _)| *k == key) {
                Some((_, any)) => *any |= filled,
                None => seen.push((key, filled)),
            }
        }
    }
    let seen: Vec<String> = seen.into_iter().filter(|(_, filled)| *filled).map(|(k, _)| k).collect();
    let front = FRONT_COLUMNS
        .iter()
        .filter(|f| seen.iter().any(|s| s == *f))
        .map(|f| f.to_string());
    let rest = seen.iter().filter(|s| !FRONT_COLUMNS.contains(&s.as_str())).cloned();
    front.chain(rest).collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `riskLastUpdatedDateTime` → `Risk Last Updated Date Time`; `userId` → `User ID`; `ipAddress` → `IP Address`.
pub fn column_name(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for c in key.chars() {
        match words.last_mut() {
            Some(word) if !(c.is_uppercase() || c == '/' || c == '_') => word.push(c),
            _ if c == '/' || c == '_' => words.push(String::new()),
            _ => words.push(c.to_string()),
        }
    }
    words
        .iter()
        .filter(|w| !w.is_empty())
        .map(|w| word_name(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn word_name(word: &str) -> String {
    match word.to_ascii_lowercase().as_str() {
        "id" => "ID".into(),
        "ip" => "IP".into(),
        "mfa" => "MFA".into(),
        _ => {
            let mut chars = word.chars();
            chars
                .next()
                .map(|f| f.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    }
}

/// A cell's text: strings as they are, lists one item a line, objects `key: value` a line.
fn cell(value: Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(",\n"),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", scalar(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn column_names() {
        let cases = [
            ("userPrincipalName", "User Principal Name"),
            ("userId", "User ID"),
            ("id", "ID"),
            ("ipAddress", "IP Address"),
            ("riskLastUpdatedDateTime", "Risk Last Updated Date Time"),
            ("location/countryOrRegion", "Location Country Or Region"),
        ];
        for (key, name) in cases {
            assert_eq!(column_name(key), name);
        }
    }

    #[test]
    fn tables() {
        let rows = [
            json!({"id": "1", "riskLevel": "high", "userPrincipalName": "a@b", "empty": "", "location": {"city": "Oslo", "geo": null}, "tags": ["x", "y"]}),
            json!({"id": "2", "riskLevel": "low|mid", "userPrincipalName": "c`d", "note": "line1\nline2", "empty": null}),
        ]
        .map(|row| row.to_string());
        let expected = "### T (2 results)\n|User Principal Name|ID|Risk Level|Location|Tags|Note|\n|---|---|---|---|---|---|\n| a@b | 1 | high | city: Oslo<br>geo: null | x,<br>y |  |\n| c\\`d | 2 | low\\|mid |  |  | line1<br>line2 |\n";
        assert_eq!(render(&title("T", 2), rows.iter().map(String::as_str)), expected);
        assert_eq!(
            render(&title("T", 0), [].into_iter()),
            "### T (0 results)\n**No entries.**\n"
        );
        assert_eq!(title("Risks", 1), "Risks (1 result)");
    }
}
