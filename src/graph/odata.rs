//! OData `$filter` building: typed fragments joined with `and`, every string literal escaped, so
//! no argument can change the filter's structure.

/// One `$filter` expression under construction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    fragments: Vec<String>,
}

/// A string literal: `'o''brien'` (a quote is doubled, as OData requires).
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

impl Filter {
    /// An empty filter.
    pub fn new() -> Self {
        Filter::default()
    }

    /// `property eq 'value'`, when a value is given.
    pub fn eq(mut self, property: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.fragments.push(format!("{property} eq {}", literal(value)));
        }
        self
    }

    /// `property ne 'value'`, when `on`.
    pub fn ne_when(mut self, on: bool, property: &str, value: &str) -> Self {
        if on {
            self.fragments.push(format!("{property} ne {}", literal(value)));
        }
        self
    }

    /// `property ge 2024-01-01T00:00:00Z` (datetimes are unquoted in OData).
    pub fn since(mut self, property: &str, timestamp: Option<&str>) -> Self {
        if let Some(timestamp) = timestamp {
            self.fragments.push(format!("{property} ge {timestamp}"));
        }
        self
    }

    /// `property le 2024-01-01T00:00:00Z`, when given.
    pub fn until(mut self, property: &str, timestamp: Option<&str>) -> Self {
        if let Some(timestamp) = timestamp {
            self.fragments.push(format!("{property} le {timestamp}"));
        }
        self
    }

    /// `(a eq 'x' or b eq 'y' …)` over (property, value) pairs; nothing when empty.
    pub fn any_of(mut self, pairs: &[(&str, String)]) -> Self {
        let alternatives: Vec<String> = pairs.iter().map(|(p, v)| format!("{p} eq {}", literal(v))).collect();
        match alternatives.len() {
            0 => {}
            1 => self.fragments.push(alternatives[0].clone()),
            _ => self.fragments.push(format!("({})", alternatives.join(" or "))),
        }
        self
    }

    /// A user-written expression, parenthesised so it combines safely with the others.
    pub fn raw(mut self, expression: Option<&str>) -> Self {
        if let Some(expression) = expression.map(str::trim).filter(|e| !e.is_empty()) {
            self.fragments.push(format!("({expression})"));
        }
        self
    }

    /// The fragments joined with ` and `; `None` when there are none.
    pub fn build(self) -> Option<String> {
        (!self.fragments.is_empty()).then(|| self.fragments.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        let cases = [
            (
                Filter::new().eq("riskLevel", Some("high")).eq("riskState", None),
                Some("riskLevel eq 'high'"),
            ),
            (
                Filter::new().eq("userPrincipalName", Some("o'brien@contoso.com")),
                Some("userPrincipalName eq 'o''brien@contoso.com'"),
            ),
            (
                Filter::new().eq("userId", Some("x' or 1 eq 1 or userId eq 'y")),
                Some("userId eq 'x'' or 1 eq 1 or userId eq ''y'"),
            ),
            (
                Filter::new()
                    .since("detectedDateTime", Some("2021-07-17T14:09:54Z"))
                    .raw(Some("riskLevel eq 'high' or x eq 1")),
                Some("detectedDateTime ge 2021-07-17T14:09:54Z and (riskLevel eq 'high' or x eq 1)"),
            ),
            (
                Filter::new()
                    .since("detectedDateTime", Some("2021-07-17T14:09:54.1000000Z"))
                    .until("detectedDateTime", Some("2021-07-18T00:00:00.0000000Z"))
                    .until("x", None),
                Some(
                    "detectedDateTime ge 2021-07-17T14:09:54.1000000Z and detectedDateTime le 2021-07-18T00:00:00.0000000Z",
                ),
            ),
            (
                Filter::new().any_of(&[("userId", "a".into()), ("userPrincipalName", "b@c".into())]),
                Some("(userId eq 'a' or userPrincipalName eq 'b@c')"),
            ),
            (
                Filter::new().any_of(&[("userId", "a".into())]).raw(Some("  ")),
                Some("userId eq 'a'"),
            ),
            (Filter::new(), None),
        ];
        for (filter, expected) in cases {
            assert_eq!(filter.build().as_deref(), expected);
        }
    }
}
