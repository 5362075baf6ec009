//! Markdown tables in the style of XSOAR's `tableToMarkdown`: the important columns first, then
//! the rest in first-seen order, empty columns dropped, nested values flattened readably.

mod row;

use row::{Cell, CellSeed, Filled, Scalar, members};
use std::borrow::Cow;

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
/// The rows are read twice, one at a time: once for the keys and whether each value is empty
/// (nothing is built), once for the cells of one row (strings borrowed from the text where
/// they hold no escape), so a table of thousands of Graph items never holds them as trees.
pub fn render<'a>(title: &str, rows: impl Iterator<Item = &'a str> + Clone) -> String {
    let headers = headers(rows.clone());
    if headers.is_empty() {
        return format!("### {title}\n**No entries.**\n");
    }
    let mut out = format!("### {title}\n|");
    // A key is Graph's text too: escaped like a cell, so it can neither add markdown nor a column.
    for header in &headers {
        escape_into(&mut out, &column_name(header));
        out.push('|');
    }
    out.push_str(&format!("\n|{}\n", "---|".repeat(headers.len())));
    let (mut cells, mut text) = (Cells::new(&headers), String::new());
    for row in rows {
        cells.read(row);
        out.push('|');
        for cell in cells.values.iter_mut() {
            out.push(' ');
            write_escaped(&mut out, cell.take(), &mut text);
            out.push_str(" |");
        }
        out.push('\n');
    }
    out
}

/// A cell's text, markdown-escaped, onto `out`; `text` is room to flatten a list or an object.
fn write_escaped(out: &mut String, cell: Option<Cell>, text: &mut String) {
    match cell {
        Some(Cell::Text(s)) => escape_into(out, &s),
        Some(other) => {
            text.clear();
            write_cell(text, &other);
            escape_into(out, text);
        }
        None => {}
    }
}

/// Keys of all rows in first-seen order, front columns first, columns empty in every row dropped.
/// A key twice in one row counts with its last value, as a JSON object's reader keeps it.
fn headers<'a>(rows: impl Iterator<Item = &'a str>) -> Vec<String> {
    let (mut names, mut filled): (Vec<Cow<'a, str>>, Vec<bool>) = (Vec::new(), Vec::new());
    let (mut in_row, mut guesses): (Vec<Option<bool>>, Guesses) = Default::default();
    for row in rows {
        let (known, mut position) = (names.len(), 0);
        let whole = members(row, Filled, |key, value_filled| {
            let at = guesses.find(position, &names, &key).unwrap_or_else(|| {
                names.push(key);
                names.len() - 1
            });
            guesses.keep(position, at);
            position += 1;
            in_row.resize(names.len(), None);
            in_row[at] = Some(value_filled);
        });
        if !whole {
            names.truncate(known);
        }
        filled.resize(names.len(), false);
        for (column, in_row) in filled.iter_mut().zip(in_row.iter_mut()) {
            *column |= in_row.take() == Some(true) && whole;
        }
        in_row.iter_mut().for_each(|value_filled| *value_filled = None);
    }
    let shown: Vec<&str> = names
        .iter()
        .zip(&filled)
        .filter(|(_, f)| **f)
        .map(|(n, _)| n.as_ref())
        .collect();
    front_first(&shown)
}

/// The [`FRONT_COLUMNS`] among `shown` in their order, then the others in theirs.
fn front_first(shown: &[&str]) -> Vec<String> {
    let front = FRONT_COLUMNS.iter().filter(|f| shown.contains(f));
    let rest = shown.iter().filter(|s| !FRONT_COLUMNS.contains(s));
    front.chain(rest).map(|s| s.to_string()).collect()
}

/// The column of each member of the previous row, by position: the rows of one listing name
/// their members in the same order, so looking there first usually spares a search.
#[derive(Default)]
struct Guesses(Vec<usize>);

impl Guesses {
    /// The column named `key` among `columns`, for the member at `position`.
    fn find<T: AsRef<str>>(&self, position: usize, columns: &[T], key: &str) -> Option<usize> {
        let named = |at: &usize| columns.get(*at).is_some_and(|c| c.as_ref() == key);
        let guess = self.0.get(position).copied().filter(named);
        guess.or_else(|| columns.iter().position(|c| c.as_ref() == key))
    }

    /// Remembers that the member at `position` was in column `at`.
    fn keep(&mut self, position: usize, at: usize) {
        if let Some(slot) = self.0.get_mut(position) {
            *slot = at;
        } else if position == self.0.len() {
            self.0.push(at);
        }
    }
}

/// One row's cells, in header order, reused from row to row.
struct Cells<'h, 'a> {
    headers: &'h [String],
    values: Vec<Option<Cell<'a>>>,
    guesses: Guesses,
}

impl<'h, 'a> Cells<'h, 'a> {
    fn new(headers: &'h [String]) -> Self {
        Cells {
            headers,
            values: (0..headers.len()).map(|_| None).collect(),
            guesses: Guesses::default(),
        }
    }

    /// Reads `row` into the cells; a key twice keeps its last value.
    fn read(&mut self, row: &'a str) {
        let (headers, values, guesses) = (self.headers, &mut self.values, &mut self.guesses);
        let mut position = 0;
        let whole = members(row, CellSeed, |key, cell| {
            if let Some(at) = guesses.find(position, headers, &key) {
                values[at] = Some(cell);
                guesses.keep(position, at);
                position += 1;
            }
        });
        if !whole {
            values.iter_mut().for_each(|value| *value = None);
        }
    }
}

/// The bytes [`escape_into`] replaces, as a table: one lookup a byte.
const SPECIAL: [bool; 256] = {
    let mut special = [false; 256];
    let bytes = [b'\\', b'|', b'`', b'\r', b'\n', b'<', b'>', b'[', b']'];
    let mut n = 0;
    while n < bytes.len() {
        special[bytes[n] as usize] = true;
        n += 1;
    }
    special
};

/// Markdown-escapes `text` onto `out` as `markdown::escape_markdown` does, copying the runs
/// between special characters whole: `\`, `|`, `` ` ``, `<`, `>`, `[` and `]` escaped, line
/// breaks as `<br>`.
fn escape_into(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut clean = 0;
    while let Some(offset) = bytes[clean..].iter().position(|b| SPECIAL[usize::from(*b)]) {
        let at = clean + offset;
        // Every special character is ASCII, so `at` is a character boundary.
        out.push_str(&text[clean..at]);
        out.push_str(match bytes[at] {
            b'\\' => "\\\\",
            b'|' => "\\|",
            b'`' => "\\`",
            b'<' => "\\<",
            b'>' => "\\>",
            b'[' => "\\[",
            b']' => "\\]",
            b'\r' if bytes.get(at + 1) == Some(&b'\n') => "",
            _ => "<br>",
        });
        clean = at + 1;
    }
    out.push_str(&text[clean..]);
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

/// A cell's text onto `out`: lists one item a line, objects `name: value` a line.
fn write_cell(out: &mut String, cell: &Cell) {
    match cell {
        Cell::Text(text) => out.push_str(text),
        Cell::List(items) => {
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(",\n");
                }
                write_scalar(out, item);
            }
        }
        Cell::Members(members) => {
            for (n, (name, item)) in members.iter().enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.push_str(name);
                out.push_str(": ");
                write_scalar(out, item);
            }
        }
        Cell::Other(serde_json::Value::Null) => {}
        Cell::Other(value) => out.push_str(&value.to_string()),
    }
}

fn write_scalar(out: &mut String, scalar: &Scalar) {
    match scalar {
        Scalar::Text(text) => out.push_str(text),
        Scalar::Json(value) => out.push_str(&value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    /// Rows a hostile or odd Graph could send, each table written out by hand.
    #[test]
    fn odd_rows() {
        let cases: [(&[&str], &str); 7] = [
            // A key twice: its first place, its last value (empty here, so the column goes).
            (&[r#"{"a":"1","b":"x","a":"2","b":""}"#], "|A|\n|---|\n| 2 |\n"),
            // Rows that are no object have no cells; annotations are no columns.
            (
                &[r#"[1,2]"#, r##"{"@odata.type":"#x","a":"1"}"##, "null"],
                "|A|\n|---|\n|  |\n| 1 |\n|  |\n",
            ),
            // Escaped names are the same names; numbers and booleans as JSON writes them.
            (
                &[r#"{"\u0061":1.5e3,"b":true}"#, r#"{"a":-0,"b":false}"#],
                "|A|B|\n|---|---|\n| 1500.0 | true |\n| -0.0 | false |\n",
            ),
            // Nested: a name twice in an object keeps its first place and last value.
            (
                &[r#"{"o":{"x":1,"y":{"z":[1,"a|b"]},"x":"s"},"l":[null,{"k":"v"},"t\r\nu"]}"#],
                "|O|L|\n|---|---|\n| x: s<br>y: {\"z\":\\[1,\"a\\|b\"\\]} | null,<br>{\"k\":\"v\"},<br>t<br>u |\n",
            ),
            // Empty everywhere: no column; filled once: a column.
            (
                &[r#"{"e":[],"f":{},"g":null}"#, r#"{"e":[0],"f":{},"g":""}"#],
                "|E|\n|---|\n|  |\n| 0 |\n",
            ),
            // A key and a value that try to add HTML, a link or a column stay text.
            (
                &[r#"{"<img src=x>":"[a](javascript:x) |"}"#],
                "|\\<img src=x\\>|\n|---|\n| \\[a\\](javascript:x) \\| |\n",
            ),
            // Front columns first, whatever the rows' order.
            (
                &[r#"{"z":"1","ipAddress":"2","userId":"3"}"#],
                "|User ID|IP Address|Z|\n|---|---|---|\n| 3 | 2 | 1 |\n",
            ),
        ];
        for (rows, table) in cases {
            let expected = format!("### T\n{table}");
            assert_eq!(render("T", rows.iter().copied()), expected, "{rows:?}");
        }
    }

    #[test]
    fn escaping_is_output_escape_markdown() {
        let cases = [
            "",
            "plain",
            "a|b",
            "`code`",
            "back\\slash",
            "l1\nl2",
            "l1\r\nl2",
            "l1\rl2",
            "\r",
            "\r\r\n",
            "ünï|cödé\n",
            "|||",
            "end\\",
            "![x](http://t.example/p.png) <img src=x onerror=alert(1)> [a](javascript:alert(1))",
        ];
        for text in cases {
            let mut out = String::from(">");
            escape_into(&mut out, text);
            assert_eq!(out, format!(">{}", crate::markdown::escape_markdown(text)), "{text:?}");
        }
    }

    /// The table as it was written before issue 16, from whole `Value` trees: the reference the
    /// one-pass reader must match byte for byte.
    fn former_render(title: &str, rows: &[String]) -> String {
        use serde_json::{Map, Value};
        let object = |row: &str| -> Map<String, Value> {
            let mut map = match serde_json::from_str(row) {
                Ok(Value::Object(map)) => map,
                _ => Map::new(),
            };
            map.retain(|key, _| !key.starts_with("@odata."));
            map
        };
        let scalar = |value: &Value| match value {
            Value::String(s) => s.clone(),
            Value::Null => "null".into(),
            other => other.to_string(),
        };
        let cell = |value: Value| match value {
            Value::Null => String::new(),
            Value::String(s) => s,
            Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(",\n"),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| format!("{k}: {}", scalar(v)))
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        };
        let mut seen: Vec<(String, bool)> = Vec::new();
        for row in rows {
            for (key, value) in object(row) {
                let filled = !matches!(&value, Value::Null)
                    && value.as_str() != Some("")
                    && value.as_array().is_none_or(|a| !a.is_empty())
                    && value.as_object().is_none_or(|o| !o.is_empty());
                match seen.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, any)) => *any |= filled,
                    None => seen.push((key, filled)),
                }
            }
        }
        let seen: Vec<String> = seen.into_iter().filter(|(_, f)| *f).map(|(k, _)| k).collect();
        let front = FRONT_COLUMNS
            .iter()
            .filter(|f| seen.iter().any(|s| s == *f))
            .map(|f| f.to_string());
        let rest = seen.iter().filter(|s| !FRONT_COLUMNS.contains(&s.as_str())).cloned();
        let headers: Vec<String> = front.chain(rest).collect();
        if headers.is_empty() {
            return format!("### {title}\n**No entries.**\n");
        }
        let mut out = format!("### {title}\n|");
        for header in &headers {
            out.push_str(&crate::markdown::escape_markdown(&column_name(header)));
            out.push('|');
        }
        out.push_str(&format!("\n|{}\n", "---|".repeat(headers.len())));
        for row in rows {
            let mut row = object(row);
            out.push('|');
            for header in &headers {
                let text = row.remove(header.as_str()).map(cell).unwrap_or_default();
                out.push_str(&format!(" {} |", crate::markdown::escape_markdown(&text)));
            }
            out.push('\n');
        }
        out
    }

    /// JSON text of a value of at most `depth` levels: names drawn from a few (so they repeat
    /// within an object, as a hostile server may send), strings with every markdown special.
    fn json_text(depth: u32) -> impl Strategy<Value = String> {
        let name = prop::sample::select(vec!["a", "b", "userId", "ipAddress", "@odata.type", "\\u0061", ""]);
        let text = "[a-c|`\\\\\r\n\"é ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default());
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("1.5e3".to_string()),
            Just("-0".to_string()),
            text,
        ];
        leaf.prop_recursive(depth, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(","))),
                prop::collection::vec((name.clone(), inner), 0..5).prop_map(|members| {
                    let members: Vec<String> = members.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    #[test]
    fn the_one_pass_table_is_the_former_table_byte_for_byte() {
        use proptest::test_runner::{Config, TestRunner};
        let mut runner = TestRunner::new(Config {
            cases: 2_000,
            failure_persistence: None,
            ..Config::default()
        });
        let rows = prop::collection::vec(json_text(3), 0..6);
        let outcome = runner.run(&rows, |rows| {
            let ours = render("T", rows.iter().map(String::as_str));
            prop_assert_eq!(ours, former_render("T", &rows));
            Ok(())
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
    }
}
