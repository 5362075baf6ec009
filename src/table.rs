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

/// A `### title` heading and a table of the rows (objects), or `**No entries.**`.
pub fn render(title: &str, rows: &[Value]) -> String {
    let headers = headers(rows);
    if rows.is_empty() || headers.is_empty() {
        return format!("### {title}\n**No entries.**\n");
    }
    let mut out = format!("### {title}\n|");
    for header in &headers {
        out.push_str(&format!("{}|", column_name(header)));
    }
    out.push_str(&format!("\n|{}\n", "---|".repeat(headers.len())));
    for row in rows {
        let cells: Vec<String> = headers
            .iter()
            .map(|h| escape_markdown(&cell(row.get(h.as_str()))))
            .collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// Keys of all rows in first-seen order, front columns first, empty columns dropped.
fn headers(rows: &[Value]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for key in rows.iter().filter_map(Value::as_object).flat_map(Map::keys) {
        if !seen.contains(key) && !key.starts_with("@odata.") {
            seen.push(key.clone());
        }
    }
    let front = FRONT_COLUMNS
        .iter()
        .filter(|f| seen.iter().any(|s| s == *f))
        .map(|f| f.to_string());
    let rest = seen.iter().filter(|s| !FRONT_COLUMNS.contains(&s.as_str())).cloned();
    front
        .chain(rest)
        .filter(|h| rows.iter().any(|r| !is_empty(r.get(h.as_str()))))
        .collect()
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
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
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(scalar).collect::<Vec<_>>().join(",\n"),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", scalar(v)))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(other) => other.to_string(),
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
        ];
        let expected = "### T (2 results)\n|User Principal Name|ID|Risk Level|Location|Tags|Note|\n|---|---|---|---|---|---|\n| a@b | 1 | high | city: Oslo<br>geo: null | x,<br>y |  |\n| c\\`d | 2 | low\\|mid |  |  | line1<br>line2 |\n";
        assert_eq!(render(&title("T", 2), &rows), expected);
        assert_eq!(render(&title("T", 0), &[]), "### T (0 results)\n**No entries.**\n");
        assert_eq!(title("Risks", 1), "Risks (1 result)");
    }
}
