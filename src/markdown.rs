//! Text inside markdown: what the war room shows of an argument's or a server's words, so that
//! none of it can add a link, an image, HTML, a heading or a table column.

/// Text from an argument or a server quoted inside a title or a message: markdown punctuation is
/// escaped and line breaks and other control characters become spaces, so the text can neither
/// start a new markdown block nor add a link, an image or HTML.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Most characters of a server's sentence a message quotes; the whole sentence stays in the
/// entry's `Contents`.
pub const MAX_SERVER_CHARS: usize = 4000;

/// A server's sentence inside a message: [`quoted`], and past [`MAX_SERVER_CHARS`] cut at the
/// last space before it, so a credential in it is either whole (and then redacted with the
/// result) or not there at all, never a prefix that redaction could not recognise.
pub fn server_text(text: &str) -> String {
    let text = text.trim();
    let cut = match text.char_indices().nth(MAX_SERVER_CHARS) {
        None => return quoted(text),
        Some((end, _)) => &text[..end],
    };
    let whole_words = cut.rfind(char::is_whitespace).map_or("", |space| &cut[..space]);
    format!("{}…", quoted(whole_words.trim_end()))
}

/// A server's code or identifier (`invalid_grant`, a request id) inside a message: as code when
/// it is one plain word, else as [`server_text`].
pub fn server_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    match !text.is_empty() && text.len() <= 200 && text.chars().all(plain) {
        true => format!("`{text}`"),
        false => server_text(text),
    }
}

/// Escapes text for a markdown table cell or inline text: backslashes, pipes, backticks, the
/// characters that open HTML, autolinks, links and images (`<`, `>`, `[`, `]`: a server's text
/// in a cell adds none of them), and line breaks (as `<br>`), in one pass.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escaping() {
        assert_eq!(escape_markdown("a|b`c\r\nd\ne"), "a\\|b\\`c<br>d<br>e");
    }

    #[test]
    fn quoted_text_cannot_add_blocks_links_or_images() {
        let cases = [
            ("5c1b-4a7e", "5c1b-4a7e"),
            (
                "a\n![x](http://t.example/p.png)",
                "a \\!\\[x\\]\\(http://t.example/p.png\\)",
            ),
            ("x\r\n# Title", "x  \\# Title"),
            ("<img src=x>", "\\<img src=x\\>"),
        ];
        for (text, expected) in cases {
            assert_eq!(quoted(text), expected, "{text:?}");
        }
    }
}
