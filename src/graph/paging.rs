//! Collection paging: follow `@odata.nextLink` exactly as given until the caller has what it
//! asked for, and stop only on a page boundary so that continuing skips and repeats nothing.

use super::client;
use super::picking::{self, Picked};
use crate::error::Error;
use crate::http::{Audience, HttpResponse};
use crate::output::Json;
use crate::session::Session;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::error::Category;
use serde_json::value::RawValue;

/// `$top`'s maximum for the Identity Protection collections.
pub const MAX_PAGE: usize = 500;

/// Pages followed at most in one command: a loop guard far above any real tenant.
const MAX_PAGES: usize = 10_000;

/// Bytes of Graph answers one listing reads at most (the page that crosses it included), so a
/// broken or hostile Graph that serves huge items cannot make one command produce gigabytes.
/// The result holds the items twice (the Graph document and the context) plus the table, so
/// this keeps it well under `output::MAX_RESULT_BYTES`; 10,000 real detections are about 12 MiB.
pub const MAX_LISTING_BYTES: usize = 16 * 1024 * 1024;

/// Pages a listing may follow beyond one per wanted item (the smallest page that still makes
/// progress): room for a few empty pages, which Graph serves while it works on a query.
const EXTRA_PAGES: usize = 10;

/// Why a listing stopped before it had what was asked for.
#[derive(Debug)]
pub enum Cut {
    /// This many pages were followed.
    Pages(usize),
    /// This many bytes of answers were read.
    Bytes(usize),
    /// A page after the first failed (Graph has answered 400 to its own next links).
    PageFailed(Error),
}

/// Items gathered from one or more pages, each as the JSON text Graph sent.
#[derive(Debug, Default)]
pub struct Listing {
    /// `@odata.context` of the first page.
    pub odata_context: Option<Box<RawValue>>,
    pub items: Vec<Box<RawValue>>,
    /// Where to continue, when more remain.
    pub next_link: Option<String>,
    /// Set when a bound stopped the listing early; `next_link` then says where to continue.
    pub cut: Option<Cut>,
}

/// A Graph-shaped document of a listing (for the entry's `Contents`), written from the items' text.
#[derive(Serialize)]
struct Document<'a> {
    #[serde(rename = "@odata.context", skip_serializing_if = "Option::is_none")]
    context: Option<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<&'a str>,
    value: &'a [Box<RawValue>],
}

/// One page as Graph sent it, borrowed from the answer's text: nothing but the next link is
/// parsed beyond finding where each item starts and ends.
#[derive(Deserialize)]
struct Page<'a> {
    #[serde(rename = "@odata.context", borrow, default)]
    context: Option<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", borrow, default)]
    next_link: Option<&'a RawValue>,
    #[serde(borrow, default)]
    value: Option<Vec<&'a RawValue>>,
}

impl Listing {
    /// A Graph-shaped document of everything gathered, for the entry's `Contents`.
    pub fn document(&self) -> Json {
        let document = Document {
            context: self.odata_context.as_deref(),
            next_link: self.next_link.as_deref(),
            value: &self.items,
        };
        text_of(&document)
    }

    /// The items as one JSON array, for the entry's context.
    pub fn items_array(&self) -> Json {
        text_of(&self.items)
    }
}

/// JSON text of values that are already JSON text inside; writing them cannot fail.
fn text_of(value: &impl Serialize) -> Json {
    serde_json::value::to_raw_value(value).map_or(Json::Tree(Value::Null), Json::Raw)
}

/// The page size whose multiples land exactly on `limit`, within `$top`'s maximum:
/// 700 → 350 (two pages), 1200 → 400, 50 → 50.
pub fn page_size(limit: usize) -> usize {
    let limit = limit.max(1);
    let pages = limit.div_ceil(MAX_PAGE);
    limit.div_ceil(pages)
}

/// GETs `url` and follows next links until `limit` items are gathered or none remain. A page is
/// fetched only when the items still wanted are at least the last page's size, so a page is
/// never cut; if Graph sends a larger page than before, all of it is returned. At most
/// `limit` + [`EXTRA_PAGES`] pages and [`MAX_LISTING_BYTES`] are read: past either, or when a
/// later page fails, the listing ends with what it has, `cut` set and the link to continue from.
pub fn collect(session: &mut Session, url: &str, limit: usize, action: &str) -> Result<Listing, Error> {
    let mut listing = Listing::default();
    let mut url = url.to_string();
    let max_pages = limit.saturating_add(EXTRA_PAGES).min(MAX_PAGES);
    let mut bytes = 0usize;
    for pages in 1..=max_pages {
        let response = match client::get_ok(session, &url, action) {
            Ok(response) => response,
            Err(error) if pages > 1 => {
                listing.next_link = Some(url);
                listing.cut = Some(Cut::PageFailed(error));
                return Ok(listing);
            }
            Err(error) => return Err(error),
        };
        bytes = bytes.saturating_add(response.body.len());
        let (items, next) = read_page(session, &response, &mut listing)?;
        let page_len = items.len();
        listing.items.extend(items.into_iter().map(ToOwned::to_owned));
        let Some(next) = next else { return Ok(listing) };
        let wanted = limit.saturating_sub(listing.items.len());
        if wanted == 0 || wanted < page_len || next == url {
            listing.next_link = Some(next);
            return Ok(listing);
        }
        let cut = if bytes >= MAX_LISTING_BYTES {
            Some(Cut::Bytes(bytes))
        } else {
            (pages == max_pages).then_some(Cut::Pages(pages))
        };
        if cut.is_some() {
            listing.next_link = Some(next);
            listing.cut = cut;
            return Ok(listing);
        }
        url = next;
    }
    Ok(listing)
}

/// GETs `url` and hands every page's items to `visit`, each as its text and the members named in
/// `names`, following next links to the end, so a caller can keep what it needs rather than
/// every item of every page. A page is read in one pass when it can be (see `picking.rs`).
pub fn visit_all<const N: usize>(
    session: &mut Session,
    url: &str,
    action: &str,
    names: &[&str; N],
    mut visit: impl FnMut(&[Picked<'_, N>]),
) -> Result<(), Error> {
    let mut listing = Listing::default();
    let mut url = url.to_string();
    for _ in 0..MAX_PAGES {
        let response = client::get_ok(session, &url, action)?;
        // The fast scanner first, then serde_json's one pass, then the ordinary reader.
        let fast = super::scan::page(&response.body, names).or_else(|| picking::page(&response.body, names));
        let next = match fast {
            Some(page) => {
                visit(&page.items);
                page.next_link.and_then(link)
            }
            None => {
                let (items, next) = read_page(session, &response, &mut listing)?;
                let picked: Vec<Picked<'_, N>> = items
                    .iter()
                    .map(|item| Picked {
                        text: item.get(),
                        members: picking::members(item.get(), names),
                    })
                    .collect();
                visit(&picked);
                next
            }
        };
        if next
            .as_deref()
            .is_some_and(|n| !session.http.admits(Audience::Graph, n))
        {
            return Err(outside_the_root(session));
        }
        match next {
            Some(next) if next != url => url = next,
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// A next link's text, when it is a non-empty string.
fn link(raw: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(raw.get()).ok().filter(|n| !n.is_empty())
}

/// A page's items and next link; the first page's `@odata.context` goes into `listing`. A body
/// that is not JSON, or JSON that is not a collection, is an error naming which.
fn read_page<'a>(
    session: &Session,
    response: &'a HttpResponse,
    listing: &mut Listing,
) -> Result<(Vec<&'a RawValue>, Option<String>), Error> {
    let page: Page = serde_json::from_str(&response.body).map_err(|error| match error.classify() {
        Category::Data => not_a_collection(session),
        _ => client::not_json(session, response),
    })?;
    if listing.odata_context.is_none() {
        listing.odata_context = page.context.map(ToOwned::to_owned);
    }
    let next = page.next_link.and_then(link);
    if next
        .as_deref()
        .is_some_and(|n| !session.http.admits(Audience::Graph, n))
    {
        return Err(outside_the_root(session));
    }
    page.value
        .map(|items| (items, next))
        .ok_or_else(|| not_a_collection(session))
}

fn outside_the_root(session: &Session) -> Error {
    Error::Unexpected {
        host: crate::http::origin(&session.config.graph),
        status: 200,
        detail: "a next link outside the Graph root, which was not followed".into(),
    }
}

fn not_a_collection(session: &Session) -> Error {
    Error::Unexpected {
        host: crate::http::origin(&session.config.graph),
        status: 200,
        detail: "JSON that is not a collection (no value array)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::testing::Fake;
    use serde_json::{Map, json};

    #[test]
    fn page_sizes_land_on_the_limit() {
        for (limit, size) in [
            (1, 1),
            (50, 50),
            (500, 500),
            (501, 251),
            (700, 350),
            (1200, 400),
            (10_000, 500),
            (0, 1),
        ] {
            assert_eq!(page_size(limit), size, "{limit}");
        }
    }

    fn page(ids: &[u32], next: Option<&str>) -> String {
        let items: Vec<Value> = ids.iter().map(|i| json!({"id": i.to_string()})).collect();
        let mut page = json!({"@odata.context": "ctx", "value": items});
        if let Some(next) = next {
            page["@odata.nextLink"] = json!(next);
        }
        page.to_string()
    }

    fn run(pages: &[String], limit: usize) -> (Vec<String>, Option<String>, usize) {
        let fake = Fake::at(0);
        for body in pages {
            fake.answer(200, body, &[]);
        }
        let context = json!({"access_token": "t", "valid_until": 100})
            .as_object()
            .cloned()
            .unwrap();
        let mut session = Session::new(Config::from_params(&Map::new()).unwrap(), context, &fake);
        let listing = collect(&mut session, "https://graph.microsoft.com/beta/x", limit, "Listing").unwrap();
        let ids = listing
            .items
            .iter()
            .map(|i| {
                serde_json::from_str::<Value>(i.get()).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        (ids, listing.next_link, fake.requests())
    }

    #[test]
    fn stops_on_page_boundaries() {
        let next = |n: u32| format!("https://graph.microsoft.com/beta/x?$skiptoken={n}");
        let pages = [
            page(&[1, 2], Some(&next(1))),
            page(&[3, 4], Some(&next(2))),
            page(&[5], None),
        ];
        let (ids, link, requests) = run(&pages, 10);
        assert_eq!((ids.len(), link, requests), (5, None, 3));
        let (ids, link, requests) = run(&pages, 4);
        assert_eq!(
            (ids, link, requests),
            (vec!["1".into(), "2".into(), "3".into(), "4".into()], Some(next(2)), 2)
        );
        // 3 wanted, pages of 2: the second page would be cut, so it is not fetched.
        let (ids, link, requests) = run(&pages, 3);
        assert_eq!((ids.len(), link, requests), (2, Some(next(1)), 1));
    }

    #[test]
    fn next_links_to_other_hosts_are_refused() {
        let fake = Fake::at(0);
        fake.answer(200, &page(&[1], Some("https://evil.example/beta/x")), &[]);
        let context = json!({"access_token": "t", "valid_until": 100})
            .as_object()
            .cloned()
            .unwrap();
        let mut session = Session::new(Config::from_params(&Map::new()).unwrap(), context, &fake);
        assert!(collect(&mut session, "https://graph.microsoft.com/beta/x", 10, "Listing").is_err());
        assert_eq!(fake.requests(), 1);
    }
}
