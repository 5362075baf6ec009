//! A Graph request as a command describes it: a path below the Graph root, its segments
//! encoded, and the query options. Only [`Query::url`] turns it into a URL.

use crate::config::Config;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`).
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one query value (RFC 3986 unreserved characters stay).
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, NOT_UNRESERVED).to_string()
}

/// Percent-encodes one path segment: as [`encode`], and `.` or `..` as a whole are encoded too,
/// so that an id can never be a dot-segment that climbs out of the path.
pub fn encode_segment(text: &str) -> String {
    match text {
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => encode(text),
    }
}

/// A Graph request: path segments and `$top` / `$filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    segments: Vec<String>,
    top: Option<usize>,
    filter: Option<String>,
    select: Option<&'static str>,
}

impl Query {
    /// A path below the Graph root; `path` is trusted text such as `identityProtection/riskyUsers`.
    pub fn at(path: &str) -> Query {
        Query {
            segments: path.split('/').map(str::to_string).collect(),
            top: None,
            filter: None,
            select: None,
        }
    }

    /// Adds one segment from input (an id): percent-encoded, never a dot-segment.
    pub fn segment(mut self, value: &str) -> Query {
        self.segments.push(encode_segment(value));
        self
    }

    /// Adds a trusted segment, such as `history` or `dismiss`.
    pub fn then(mut self, name: &str) -> Query {
        self.segments.push(name.to_string());
        self
    }

    /// `$top`.
    pub fn top(mut self, top: usize) -> Query {
        self.top = Some(top);
        self
    }

    /// `$filter`, when there is one.
    pub fn filter(mut self, filter: Option<String>) -> Query {
        self.filter = filter;
        self
    }

    /// `$select`: trusted property names, separated by commas.
    pub fn select(mut self, properties: &'static str) -> Query {
        self.select = Some(properties);
        self
    }

    /// `{graph}/{api_version}/{path}?$top=..&$filter=..&$select=..`.
    pub fn url(&self, config: &Config) -> String {
        let mut url = format!("{}/{}", config.graph_root(), self.segments.join("/"));
        let mut options = Vec::new();
        if let Some(top) = self.top {
            options.push(format!("$top={top}"));
        }
        if let Some(filter) = &self.filter {
            options.push(format!("$filter={}", encode(filter)));
        }
        if let Some(select) = self.select {
            options.push(format!("$select={}", encode(select)));
        }
        if !options.is_empty() {
            url.push('?');
            url.push_str(&options.join("&"));
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn urls() {
        let config = Config::from_params(&Map::new()).unwrap();
        let root = "https://graph.microsoft.com/beta/identityProtection";
        let cases = [
            (Query::at("identityProtection/riskyUsers"), format!("{root}/riskyUsers")),
            (
                Query::at("identityProtection/riskyUsers")
                    .top(350)
                    .filter(Some("riskLevel eq 'high'".into())),
                format!("{root}/riskyUsers?$top=350&$filter=riskLevel%20eq%20%27high%27"),
            ),
            (
                Query::at("identityProtection/riskyUsers")
                    .segment("a/b..")
                    .then("history"),
                format!("{root}/riskyUsers/a%2Fb../history"),
            ),
            (
                Query::at("identityProtection/riskDetections").segment(".."),
                format!("{root}/riskDetections/%2E%2E"),
            ),
            (
                Query::at("identityProtection/riskDetections")
                    .top(500)
                    .select("id,detectedDateTime"),
                format!("{root}/riskDetections?$top=500&$select=id%2CdetectedDateTime"),
            ),
        ];
        for (query, url) in cases {
            assert_eq!(query.url(&config), url);
        }
    }
}
