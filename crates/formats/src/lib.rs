//! Wire formats the integration and its emulator share, so that the two sides can never
//! disagree: instants as Microsoft Graph writes them ([`time`]) and log lines ([`printable`]).

pub mod time;

/// One line for a log: control characters (from arguments or a server's answer) escaped, so
/// nothing can forge another log line or drive the terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| -> Box<dyn Iterator<Item = char>> {
            if c.is_control() {
                Box::new(c.escape_default())
            } else {
                Box::new(std::iter::once(c))
            }
        })
        .collect()
}

#[cfg(test)]
mod printable_tests {
    #[test]
    fn control_characters_are_escaped() {
        let cases = [
            ("GET /beta/x -> 200", "GET /beta/x -> 200"),
            ("a\nforged line", "a\\nforged line"),
            ("\u{1b}[2Jclear", "\\u{1b}[2Jclear"),
            ("tab\there", "tab\\there"),
        ];
        for (line, expected) in cases {
            assert_eq!(super::printable(line), expected, "{line:?}");
        }
    }
}
