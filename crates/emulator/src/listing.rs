//! Graph collection responses: `$filter`, `$select`, `$top` (capped by `TenantConfig::page_cap`), ordering
//! (insertion order, or a seeded shuffle) and keyset paging with an opaque `$skiptoken` in an
//! absolute `@odata.nextLink` that keeps the original query.
//!
//! Each item gets a sort key `(rank, index)` from its position in the tenant's list; a skip token
//! holds the key of the last item served, and the next page starts after it. The order is thus
//! the same on every page, and items added or changed between pages neither repeat nor shift
//! the rest.

use serde_json::{Map, Value, json};

use super::errors::GraphError;
use super::filter::Filter;
use super::request::RecordedRequest;
use super::wire::{base64url, base64url_decode};

const TOKEN_PREFIX: &str = "emu1:";

/// Where an item stands in a listing: its rank (shuffled or not), then its insertion index.
type SortKey = (u64, u64);

/// A collection's page sizes: without `$top`, and the most `$top` may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageSizes {
    pub default: usize,
    pub max: usize,
}

impl PageSizes {
    /// Identity Protection's lists: 20 by default, at most 500.
    pub const IDENTITY_PROTECTION: PageSizes = PageSizes { default: 20, max: 500 };
    /// The sign-in log: "The maximum and default page size is 1,000 objects" (List signIns).
    pub const SIGN_INS: PageSizes = PageSizes {
        default: 1000,
        max: 1000,
    };
}

/// How the tenant serves collections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging {
    /// The largest page, whatever `$top` asks.
    pub page_cap: usize,
    /// `Some(seed)`: a deterministic shuffled order.
    pub shuffle_seed: Option<u64>,
}

/// A collection request, answered from `items` (in insertion order).
pub(crate) struct Listing<'a> {
    /// `{base_url}` of the emulator, for `@odata.nextLink`.
    pub base_url: &'a str,
    /// The full `@odata.context` URL.
    pub context: String,
    /// The request, for `$top`, `$filter`, `$skiptoken` and the next link.
    pub request: &'a RecordedRequest,
    /// The tenant's paging settings.
    pub paging: Paging,
    /// This collection's page sizes.
    pub sizes: PageSizes,
}

impl Listing<'_> {
    /// The page this request asks for: `{"@odata.context", "@odata.nextLink"?, "value"}`.
    pub fn page(&self, items: &[Value]) -> Result<Value, GraphError> {
        let size = page_size(self.request.query_value("$top"), self.sizes)?.min(self.paging.page_cap.max(1));
        let after = self
            .request
            .query_value("$skiptoken")
            .map(|t| decode_skiptoken(&t))
            .transpose()?;
        let filter = parse_filter(self.request.query_value("$filter"))?;
        let select = parse_select(self.request.query_value("$select"))?;
        let mut keyed: Vec<(SortKey, &Value)> = (0_u64..)
            .zip(items)
            .filter(|(_, item)| filter.matches(item))
            .map(|(index, item)| (sort_key(self.paging.shuffle_seed, index), item))
            .filter(|(key, _)| after.is_none_or(|last| *key > last))
            .collect();
        keyed.sort_by_key(|(key, _)| *key);
        let more = keyed.len() > size;
        keyed.truncate(size);
        let next = keyed.last().filter(|_| more).map(|(key, _)| self.next_link(*key));
        let value = keyed
            .into_iter()
            .map(|(_, item)| project(item, select.as_deref()))
            .collect();
        Ok(self.body(next, value))
    }

    fn body(&self, next_link: Option<String>, value: Vec<Value>) -> Value {
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(self.context));
        if let Some(link) = next_link {
            body.insert("@odata.nextLink".into(), json!(link));
        }
        body.insert("value".into(), Value::Array(value));
        Value::Object(body)
    }

    /// The same URL and query, with `$skiptoken` pointing past `last`.
    fn next_link(&self, last: SortKey) -> String {
        let mut query: Vec<&str> = self
            .request
            .query
            .split('&')
            .filter(|part| !part.is_empty() && !is_skiptoken(part))
            .collect();
        let token = format!("$skiptoken={}", encode_skiptoken(last));
        query.push(&token);
        format!("{}{}?{}", self.base_url, self.request.path, query.join("&"))
    }
}

/// The item's key: its index, or a seeded mix of it (the index breaks ties).
fn sort_key(seed: Option<u64>, index: u64) -> SortKey {
    match seed {
        Some(seed) => (splitmix64(seed ^ splitmix64(index)), index),
        None => (index, index),
    }
}

/// The splitmix64 finaliser: a fixed, well-spread permutation of `u64`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn parse_filter(text: Option<String>) -> Result<Filter, GraphError> {
    text.map_or_else(|| Ok(Filter::default()), |text| Filter::parse(&text))
        .map_err(|message| GraphError::invalid_request(&message))
}

/// `$select`: property names separated by commas (spaces around them allowed), each a plain
/// identifier, as Graph takes them; anything else is a 400 as Graph answers it.
fn parse_select(text: Option<String>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(text) = text else { return Ok(None) };
    let names: Vec<String> = text.split(',').map(|name| name.trim().to_owned()).collect();
    let plain = |name: &String| {
        name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match names.iter().find(|name| !plain(name)) {
        None => Ok(Some(names)),
        Some(bad) => Err(GraphError::invalid_request(&format!(
            "Parsing OData Select and Expand failed: Term '{bad}' is not valid in a $select or $expand expression."
        ))),
    }
}

/// An item with only the `$select`ed properties (in the item's order); all of it without one.
fn project(item: &Value, select: Option<&[String]>) -> Value {
    match (select, item) {
        (Some(names), Value::Object(members)) => Value::Object(
            members
                .iter()
                .filter(|(key, _)| names.iter().any(|name| name.eq_ignore_ascii_case(key)))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        _ => item.clone(),
    }
}

/// `$top`: 1 up to the collection's maximum, or its default.
fn page_size(top: Option<String>, sizes: PageSizes) -> Result<usize, GraphError> {
    let Some(text) = top else {
        return Ok(sizes.default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=sizes.max).contains(&n) => Ok(n),
        Ok(n) if n > sizes.max => Err(GraphError::invalid_request(&format!(
            "The limit of '{}' for Top query has been exceeded. The value from the incoming request is '{n}'.",
            sizes.max
        ))),
        _ => Err(GraphError::invalid_request(&format!(
            "Invalid value '{text}' for $top query option."
        ))),
    }
}

fn is_skiptoken(part: &str) -> bool {
    let key = part.split('=').next().unwrap_or(part);
    key.eq_ignore_ascii_case("$skiptoken") || key.eq_ignore_ascii_case("%24skiptoken")
}

fn encode_skiptoken((rank, index): SortKey) -> String {
    base64url(format!("{TOKEN_PREFIX}{rank:x}:{index:x}").as_bytes())
}

fn decode_skiptoken(token: &str) -> Result<SortKey, GraphError> {
    let key = |text: &str| {
        let (rank, index) = text.strip_prefix(TOKEN_PREFIX)?.split_once(':')?;
        Some((
            u64::from_str_radix(rank, 16).ok()?,
            u64::from_str_radix(index, 16).ok()?,
        ))
    };
    base64url_decode(token)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| key(&text))
        .ok_or_else(|| GraphError::invalid_request("The $skiptoken value is not valid."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing_page(query: &str, paging: Paging, items: &[Value]) -> Result<Value, GraphError> {
        let request = RecordedRequest::new("GET", &format!("/v1.0/things?{query}"), Vec::new(), String::new());
        let listing = Listing {
            base_url: "http://emu",
            context: "ctx".to_owned(),
            request: &request,
            paging,
            sizes: PageSizes::IDENTITY_PROTECTION,
        };
        listing.page(items)
    }

    /// Follows next links from `query`; returns the ids per page.
    fn all_pages(query: &str, paging: Paging, items: &[Value]) -> Vec<Vec<u64>> {
        let mut pages = Vec::new();
        let mut query = query.to_owned();
        for _ in 0..50 {
            let page = listing_page(&query, paging, items).unwrap_or_default();
            pages.push(
                page["value"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["n"].as_u64())
                    .collect(),
            );
            match page["@odata.nextLink"].as_str().and_then(|l| l.split_once('?')) {
                Some((_, next)) => query = next.to_owned(),
                None => break,
            }
        }
        pages
    }

    fn numbers(count: u64) -> Vec<Value> {
        (0..count).map(|n| json!({"n": n, "even": n % 2 == 0})).collect()
    }

    #[test]
    fn select_keeps_only_the_named_properties() {
        let paging = Paging {
            page_cap: 500,
            shuffle_seed: None,
        };
        let items = [json!({"n": 1, "even": false, "id": "a"}), json!({"n": 2})];
        let page = listing_page("$select=id,%20n", paging, &items).unwrap();
        assert_eq!(page["value"], json!([{"n": 1, "id": "a"}, {"n": 2}]));
        assert!(page["@odata.nextLink"].is_null());
        for bad in ["$select=", "$select=a,,b", "$select=a/b", "$select=1x"] {
            assert!(listing_page(bad, paging, &items).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_follow_top_cap_and_filter() {
        let plain = Paging {
            page_cap: 500,
            shuffle_seed: None,
        };
        let capped = Paging {
            page_cap: 2,
            shuffle_seed: None,
        };
        #[rustfmt::skip]
        let cases: [(&str, Paging, Vec<Vec<u64>>); 5] = [
            ("", plain, vec![(0..7).collect()]),
            ("$top=3", plain, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]),
            ("$top=3", capped, vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6]]),
            ("$top=5&$filter=even%20eq%20true", plain, vec![vec![0, 2, 4, 6]]),
            ("$filter=even%20eq%20false&$top=2", plain, vec![vec![1, 3], vec![5]]),
        ];
        for (query, paging, expected) in cases {
            assert_eq!(all_pages(query, paging, &numbers(7)), expected, "{query}");
        }
    }

    #[test]
    fn shuffled_order_is_stable_and_complete() {
        let paging = Paging {
            page_cap: 3,
            shuffle_seed: Some(42),
        };
        let pages = all_pages("", paging, &numbers(20));
        let mut flat: Vec<u64> = pages.concat();
        assert_ne!(flat, (0..20).collect::<Vec<_>>());
        assert_eq!(pages, all_pages("", paging, &numbers(20)));
        flat.sort_unstable();
        assert_eq!(flat, (0..20).collect::<Vec<_>>());
        let other = all_pages(
            "",
            Paging {
                shuffle_seed: Some(7),
                ..paging
            },
            &numbers(20),
        );
        assert_ne!(other.concat(), pages.concat());
    }

    #[test]
    fn next_link_keeps_the_query_and_replaces_the_token() {
        let paging = Paging {
            page_cap: 500,
            shuffle_seed: None,
        };
        let page = listing_page(
            "$top=1&$filter=even%20eq%20true&$skiptoken=ZW11MTowOjA",
            paging,
            &numbers(9),
        );
        let link = page.unwrap_or_default()["@odata.nextLink"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            link.starts_with("http://emu/v1.0/things?$top=1&$filter=even%20eq%20true&$skiptoken="),
            "{link}"
        );
        assert_eq!(link.matches("$skiptoken").count(), 1);
    }

    #[test]
    fn bad_query_options_are_invalid_requests() {
        let paging = Paging {
            page_cap: 500,
            shuffle_seed: None,
        };
        for query in [
            "$top=0",
            "$top=501",
            "$top=-1",
            "$top=ten",
            "$skiptoken=garbage",
            "$skiptoken=",
            "$filter=x%20has%201",
        ] {
            let error = listing_page(query, paging, &numbers(1)).err();
            assert_eq!(
                error.map(|e| (e.status, e.code)),
                Some((400, "invalidRequest")),
                "{query}"
            );
        }
    }
}
