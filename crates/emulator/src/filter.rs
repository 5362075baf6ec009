//! A small OData `$filter` parser and evaluator covering what Identity Protection clients send.
//!
//! Grammar (keywords and property names are case-insensitive, precedence `not` > `and` > `or`):
//!
//! ```text
//! or_expr    := and_expr ("or" and_expr)*
//! and_expr   := unary ("and" unary)*
//! unary      := "not" unary | "(" or_expr ")" | comparison
//! comparison := path ("eq" | "ne" | "gt" | "ge" | "lt" | "le") literal
//! path       := identifier ("/" identifier)*
//! literal    := 'text' ('' escapes a quote) | microsoft.graph.Type'member' | 2021-07-17T14:09:54.1234567Z
//!             | number | true | false | null
//! ```
//!
//! Datetimes compare as instants (fractional digits may differ); text and enum members compare
//! case-insensitively, as Graph does for enum members. Anything else is an error naming the part
//! that was not understood.

use std::cmp::Ordering;
use std::fmt;
use std::iter::Peekable;
use std::str::CharIndices;

use serde_json::Value;

use super::wire::parse_instant;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    /// A string literal or a typed enum member.
    Text(String),
    /// Nanoseconds since the Unix epoch.
    Instant(i128),
    Number(f64),
    Bool(bool),
    Null,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Vec<String>, Operator, Literal),
}

/// A parsed `$filter`; the default filter matches everything.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Filter {
    expr: Option<Expr>,
}

impl Filter {
    /// Parses a `$filter` value; `Err` is a message naming what was not understood.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let invalid = |what: String| format!("Invalid filter clause: {what} in '{}'.", text.trim());
        let tokens = tokenize(text).map_err(invalid)?;
        if tokens.len() > MAX_TOKENS {
            return Err(invalid(format!("more than {MAX_TOKENS} tokens")));
        }
        let expr = Parser {
            tokens,
            pos: 0,
            depth: 0,
        }
        .parse()
        .map_err(invalid)?;
        Ok(Filter { expr: Some(expr) })
    }

    /// Whether the object satisfies the filter.
    pub fn matches(&self, item: &Value) -> bool {
        self.expr.as_ref().is_none_or(|expr| expr.eval(item))
    }
}

impl Expr {
    fn eval(&self, item: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.eval(item) || b.eval(item),
            Expr::And(a, b) => a.eval(item) && b.eval(item),
            Expr::Not(a) => !a.eval(item),
            Expr::Compare(path, op, literal) => op.holds(compare(lookup(item, path), literal)),
        }
    }
}

impl Operator {
    /// Whether the operator holds for this ordering (`None`: the values are not comparable).
    fn holds(self, ordering: Option<Ordering>) -> bool {
        match self {
            Operator::Eq => ordering == Some(Ordering::Equal),
            Operator::Ne => ordering != Some(Ordering::Equal),
            Operator::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            Operator::Gt => ordering == Some(Ordering::Greater),
            Operator::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
            Operator::Lt => ordering == Some(Ordering::Less),
        }
    }

    fn from_word(word: &str) -> Option<Operator> {
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
}

/// Follows `a/b/c` through nested objects (names case-insensitive); JSON null counts as absent.
fn lookup<'a>(item: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(item, |value, name| {
            let (_, child) = value
                .as_object()?
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))?;
            Some(child)
        })
        .filter(|value| !value.is_null())
}

/// Orders the stored value against the literal; `None` when they are not comparable.
fn compare(actual: Option<&Value>, literal: &Literal) -> Option<Ordering> {
    match (actual, literal) {
        (None, Literal::Null) => Some(Ordering::Equal),
        (None, _) | (Some(_), Literal::Null) => None,
        (Some(Value::String(s)), Literal::Text(t)) => Some(compare_text(s, t)),
        (Some(Value::String(s)), Literal::Instant(t)) => parse_instant(s).map(|i| i.cmp(t)),
        (Some(Value::Number(n)), Literal::Number(m)) => n.as_f64()?.partial_cmp(m),
        (Some(Value::Bool(b)), Literal::Bool(c)) => Some(b.cmp(c)),
        _ => None,
    }
}

/// Text compares case-insensitively, or as instants when both sides are datetimes.
fn compare_text(actual: &str, expected: &str) -> Ordering {
    match (parse_instant(actual), parse_instant(expected)) {
        (Some(a), Some(b)) => a.cmp(&b),
        _ => actual.to_lowercase().cmp(&expected.to_lowercase()),
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// A lexical token of a `$filter`.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Comma,
    /// A quoted string, unescaped.
    Text(String),
    /// `microsoft.graph.riskLevel'high'`: the type and the member.
    Typed(String, String),
    /// A name, keyword, operator, number, datetime or `true`/`false`/`null`.
    Word(String),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => write!(f, "'('"),
            Token::Close => write!(f, "')'"),
            Token::Comma => write!(f, "','"),
            Token::Text(text) => write!(f, "'{}'", text.replace('\'', "''")),
            Token::Typed(ty, member) => write!(f, "{ty}'{member}'"),
            Token::Word(word) => write!(f, "'{word}'"),
        }
    }
}

type Chars<'a> = Peekable<CharIndices<'a>>;

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut chars = text.char_indices().peekable();
    let mut tokens = Vec::new();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '\'' => tokens.push(Token::Text(quoted(&mut chars)?)),
            c if is_word_char(c) => tokens.push(word_token(&mut chars)?),
            other => return Err(format!("unexpected character '{other}' at position {i}")),
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '+' | '/')
}

/// A quoted literal starting at the opening quote; `''` stands for one quote.
fn quoted(chars: &mut Chars<'_>) -> Result<String, String> {
    chars.next();
    let mut text = String::new();
    loop {
        match chars.next() {
            Some((_, '\'')) if chars.next_if(|&(_, c)| c == '\'').is_some() => text.push('\''),
            Some((_, '\'')) => return Ok(text),
            Some((_, c)) => text.push(c),
            None => return Err(format!("unterminated string literal '{text}")),
        }
    }
}

/// A word, or a typed literal when a quote follows the word directly.
fn word_token(chars: &mut Chars<'_>) -> Result<Token, String> {
    let mut word = String::new();
    while let Some((_, c)) = chars.next_if(|&(_, c)| is_word_char(c)) {
        word.push(c);
    }
    if chars.peek().is_none_or(|&(_, c)| c != '\'') {
        return Ok(Token::Word(word));
    }
    if !word.to_ascii_lowercase().starts_with("microsoft.graph.") {
        return Err(format!("unknown type prefix '{word}'"));
    }
    Ok(Token::Typed(word, quoted(chars)?))
}

// ---------------------------------------------------------------------------------------------
// Parser

/// Tokens one filter may have: every node of the tree costs stack to evaluate and drop, so a
/// filter of 10,000 `and`s must be refused, not crash the emulator.
const MAX_TOKENS: usize = 1_000;
/// Nesting of `not` and parentheses allowed (Graph refuses deep filters with 400 too).
const MAX_DEPTH: usize = 50;

/// A recursive-descent parser over the tokens.
struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of `not` and parentheses.
    depth: usize,
}

impl Parser {
    fn parse(mut self) -> Result<Expr, String> {
        let expr = self.or_expr()?;
        match self.next() {
            None => Ok(expr),
            Some(token) => Err(format!("unexpected {token} after a complete expression")),
        }
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// Consumes the keyword if it comes next.
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword));
        self.pos += usize::from(found);
        found
    }

    fn or_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        let negated = self.eat_keyword("not");
        if !negated && self.peek() != Some(&Token::Open) {
            return self.comparison();
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        let expr = match negated {
            true => self.unary().map(|operand| Expr::Not(Box::new(operand))),
            false => self.group(),
        };
        self.depth -= 1;
        expr
    }

    /// `( expression )`, the `(` being next.
    fn group(&mut self) -> Result<Expr, String> {
        self.pos += 1;
        let inner = self.or_expr()?;
        match self.next() {
            Some(Token::Close) => Ok(inner),
            Some(token) => Err(format!("expected ')' but found {token}")),
            None => Err("missing ')'".to_owned()),
        }
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let path = match self.next() {
            Some(Token::Word(word)) => property_path(&word)?,
            Some(token) => return Err(format!("expected a property name but found {token}")),
            None => return Err("expected a property name at the end".to_owned()),
        };
        if self.peek() == Some(&Token::Open) {
            return Err(format!("function '{}' is not supported", path.join("/")));
        }
        let operator = match self.next() {
            Some(Token::Word(word)) => {
                Operator::from_word(&word).ok_or_else(|| format!("'{word}' is not a supported operator"))?
            }
            Some(token) => return Err(format!("expected an operator but found {token}")),
            None => return Err(format!("missing operator after '{}'", path.join("/"))),
        };
        Ok(Expr::Compare(path, operator, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.next() {
            Some(Token::Text(text) | Token::Typed(_, text)) => Ok(Literal::Text(text)),
            Some(Token::Word(word)) => bare_literal(&word),
            Some(token) => Err(format!("expected a literal but found {token}")),
            None => Err("missing literal at the end".to_owned()),
        }
    }
}

/// `location/countryOrRegion` -> `["location", "countryOrRegion"]`; each part is an identifier.
fn property_path(word: &str) -> Result<Vec<String>, String> {
    let is_identifier = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
    };
    let parts: Vec<String> = word.split('/').map(str::to_owned).collect();
    let keyword = ["and", "or", "not"].iter().any(|k| word.eq_ignore_ascii_case(k));
    if !keyword && parts.iter().all(|part| is_identifier(part)) {
        Ok(parts)
    } else {
        Err(format!("'{word}' is not a property name"))
    }
}

/// An unquoted literal: `null`, `true`, `false`, a datetime or a number.
fn bare_literal(word: &str) -> Result<Literal, String> {
    match word.to_ascii_lowercase().as_str() {
        "null" => return Ok(Literal::Null),
        "true" => return Ok(Literal::Bool(true)),
        "false" => return Ok(Literal::Bool(false)),
        _ => {}
    }
    if let Some(instant) = parse_instant(word) {
        return Ok(Literal::Instant(instant));
    }
    let numeric = word.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
    match word.parse::<f64>() {
        Ok(number) if numeric && number.is_finite() => Ok(Literal::Number(number)),
        _ => Err(format!("'{word}' is not a literal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detection() -> Value {
        json!({
            "riskLevel": "high", "riskState": "atRisk", "isDeleted": false, "count": 3,
            "riskLastUpdatedDateTime": "2024-05-20T08:10:27.5581222Z",
            "detectedDateTime": "2021-07-17T14:09:54.1234567Z",
            "userDisplayName": "O'Brien", "requestId": null,
            "location": {"city": "Seattle", "countryOrRegion": "US", "geoCoordinates": {"latitude": 47.6}},
        })
    }

    #[test]
    fn filter_cases() {
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
            ("isDeleted ne true", true),
            ("userDisplayName eq 'O''Brien'", true),
            ("userDisplayName eq 'o''brien'", true),
            ("userDisplayName eq 'a and b'", false),
            ("missing ne 'x'", true),
            ("missing eq 'x'", false),
            ("missing eq null", true),
            ("requestId eq null", true),
            ("riskLevel ne null", true),
            ("missing gt 'a'", false),
            ("count ge 3", true),
            ("count lt 2.5", false),
            ("location/countryOrRegion eq 'US'", true),
            ("location/geoCoordinates/latitude gt 47", true),
            ("location/nothing eq 'x'", false),
        ];
        for (text, expected) in cases {
            let filter = Filter::parse(text);
            assert!(filter.is_ok(), "{text}: {filter:?}");
            assert_eq!(filter.unwrap_or_default().matches(&detection()), expected, "{text}");
        }
    }

    #[test]
    fn datetimes_compare_as_instants() {
        #[rustfmt::skip]
        let cases = [
            ("detectedDateTime gt 2021-07-17T14:09:54Z", true),
            ("detectedDateTime ge 2021-07-17T14:09:54.1234567Z", true),
            ("detectedDateTime eq 2021-07-17T14:09:54.1234567Z", true),
            ("detectedDateTime eq 2021-07-17T14:09:54.12345670Z", true),
            ("detectedDateTime gt 2021-07-17T14:09:54.123457Z", false),
            ("detectedDateTime lt 2021-07-17T14:09:54.123457Z", true),
            ("detectedDateTime le 2021-07-17T14:09:55Z", true),
            ("detectedDateTime eq 2021-07-17T16:09:54.1234567+02:00", true),
            ("detectedDateTime ge 2021-07-18", false),
            ("detectedDateTime ge '2021-07-17T14:09:54Z'", true),
            ("detectedDateTime eq 2021-07-17T14:09:54Z", false),
        ];
        for (text, expected) in cases {
            let filter = Filter::parse(text).unwrap_or_default();
            assert_eq!(filter.matches(&detection()), expected, "{text}");
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let yes = "riskLevel eq 'high'";
        let no = "riskLevel eq 'low'";
        #[rustfmt::skip]
        let cases = [
            (format!("{yes} or {no} and {no}"), true),   // yes or (no and no)
            (format!("({yes} or {no}) and {no}"), false),
            (format!("{no} and {no} or {yes}"), true),   // (no and no) or yes
            (format!("{no} and ({no} or {yes})"), false),
            (format!("not {no} and {yes}"), true),       // (not no) and yes
            (format!("not ({no} or {yes})"), false),
            (format!("not {yes} or {yes}"), true),       // (not yes) or yes
            (format!("NOT not {yes}"), true),
            (format!("(({yes}))"), true),
        ];
        for (text, expected) in &cases {
            let filter = Filter::parse(text);
            assert!(filter.is_ok(), "{text}: {filter:?}");
            assert_eq!(filter.unwrap_or_default().matches(&detection()), *expected, "{text}");
        }
    }

    #[test]
    fn parse_tree_groups_by_precedence() {
        let filter = Filter::parse("a eq 1 or not b eq 2 and c eq 3").unwrap_or_default();
        let cmp = |p: &str, n: f64| Expr::Compare(vec![p.to_owned()], Operator::Eq, Literal::Number(n));
        let not_b = Expr::Not(Box::new(cmp("b", 2.0)));
        let and = Expr::And(Box::new(not_b), Box::new(cmp("c", 3.0)));
        assert_eq!(filter.expr, Some(Expr::Or(Box::new(cmp("a", 1.0)), Box::new(and))));
    }

    #[test]
    fn literals_are_typed() {
        #[rustfmt::skip]
        let cases = [
            ("x eq 'it''s'", Literal::Text("it's".to_owned())),
            ("x eq ''''", Literal::Text("'".to_owned())),
            ("x eq ''", Literal::Text(String::new())),
            ("x eq microsoft.graph.riskState'atRisk'", Literal::Text("atRisk".to_owned())),
            ("x eq 2021-07-17T14:09:54Z", Literal::Instant(1_626_530_994_000_000_000)),
            ("x eq 2021-07-17T14:09:54.1Z", Literal::Instant(1_626_530_994_100_000_000)),
            ("x eq -4.5", Literal::Number(-4.5)),
            ("x eq TRUE", Literal::Bool(true)),
            ("x eq null", Literal::Null),
        ];
        for (text, literal) in cases {
            let expected = Expr::Compare(vec!["x".to_owned()], Operator::Eq, literal);
            assert_eq!(Filter::parse(text).map(|f| f.expr), Ok(Some(expected)), "{text}");
        }
    }

    #[test]
    fn unsupported_filters_are_errors_naming_the_problem() {
        #[rustfmt::skip]
        let cases = [
            ("riskLevel", "missing operator"),
            ("riskLevel has 'x'", "'has' is not a supported operator"),
            ("riskLevel eq 'open", "unterminated string literal"),
            ("riskLevel eq other'x'", "unknown type prefix 'other'"),
            ("a eq b c", "'b' is not a literal"),
            ("a eq 1 c", "unexpected 'c'"),
            ("startswith(userPrincipalName, 'a')", "function 'startswith' is not supported"),
            ("(a eq 1", "missing ')'"),
            ("a eq 1)", "unexpected ')'"),
            ("a eq 1, b eq 2", "unexpected ','"),
            ("a eq 1 and", "expected a property name at the end"),
            ("a eq 1 or or b eq 2", "'or' is not a property name"),
            ("a eq $x", "unexpected character '$'"),
            ("2021-01-01 eq a", "'2021-01-01' is not a property name"),
            ("a eq 2021-13-01T00:00:00Z", "is not a literal"),
            ("a eq", "missing literal"),
            ("", "expected a property name at the end"),
            (&format!("{}a eq 1", "not ".repeat(5_000)), "more than 1000 tokens"),
            (&format!("{}a eq 1", "not ".repeat(51)), "nesting deeper than 50"),
            (&format!("{}a eq 1{}", "(".repeat(51), ")".repeat(51)), "nesting deeper than 50"),
            (&"a eq 1 and ".repeat(300), "more than 1000 tokens"),
        ];
        for (text, needle) in cases {
            let message = Filter::parse(text).err().unwrap_or_default();
            assert!(message.starts_with("Invalid filter clause: "), "{text}: {message}");
            assert!(message.contains(needle), "{text}: {message}");
        }
    }
}
