//! What the three list commands share: `limit`, `next_link`, `filter_expression`, the first
//! page's URL, and the entry (table, context path, NextLink).

use super::Arguments;
use crate::commands::CommandOutput;
use crate::error::Error;
use crate::graph::paging::{self, Cut, Listing};
use crate::graph::query::Query;
use crate::http::Audience;
use crate::output::Entry;
use crate::session::Session;
use crate::table;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json;

/// What a `next_link` argument gets encoded: spaces and control characters only.
const SPACES_AND_CONTROLS: &AsciiSet = &CONTROLS.add(b' ');

/// Items a list command returns when `limit` is not given (as the original).
pub const DEFAULT_LIMIT: u64 = 50;
/// The largest `limit` accepted: beyond it, use `next_link` or a narrower filter.
pub const MAX_LIMIT: u64 = 10_000;

/// One list command's shape.
pub struct ListKind<'a> {
    /// The collection, e.g. `identityProtection/riskyUsers`.
    pub query: Query,
    /// Context path name, e.g. `RiskyUsers`.
    pub context: &'static str,
    /// Table title before the count.
    pub title: String,
    /// What is being done, for error messages.
    pub action: &'a str,
    /// The table's row for one item (a JSON object's text), when the table shows chosen columns
    /// rather than the item's own members (sign-ins nest most of what matters).
    pub row: Option<fn(&str) -> String>,
}

/// Runs a list command: the built filter unless `filter_expression` overrides it, or the
/// `next_link` to continue from.
pub fn run(
    session: &mut Session,
    args: &Arguments,
    kind: &ListKind,
    built_filter: Option<String>,
) -> Result<CommandOutput, Error> {
    let limit = args.number("limit").unwrap_or(DEFAULT_LIMIT) as usize;
    let url = match next_link(session, args)? {
        Some(link) => link,
        None => {
            let filter = args.text("filter_expression").map(str::to_string).or(built_filter);
            kind.query
                .clone()
                .top(paging::page_size(limit))
                .filter(filter)
                .url(&session.config)
        }
    };
    let mut listing = paging::collect(session, &url, limit, kind.action)?;
    let (items, cut) = (listing.items.len(), listing.cut.take());
    let mut output = CommandOutput::entry(entry(kind, listing));
    let Some(cut) = cut else {
        return Ok(output);
    };
    let go_on = format!(
        "The items so far are in the entry above; to go on from there, run the command again with `next_link` set to `AADIdentityProtection.NextLink(val.Description === \"{}\").URL`.",
        kind.context
    );
    let read = match cut {
        // A failed later page: what came before stands, with a warning (exit 0).
        Cut::PageFailed(error) => {
            let warning = format!("{} stopped at a page that failed: {error}\n\n{go_on}", kind.action);
            output.entries.push(Entry::warning(warning));
            return Ok(output);
        }
        Cut::Pages(pages) => format!("{pages} pages"),
        Cut::Bytes(bytes) => format!("{} MiB of answers", bytes / (1024 * 1024)),
    };
    output.error = Some(Error::Incomplete(format!(
        "{} stopped after {read} with {items} of the {limit} items asked for: Microsoft Graph kept sending further pages, which a healthy tenant does not. {go_on}",
        kind.action
    )));
    Ok(output)
}

/// The `next_link` argument, accepted only on the configured Graph host (the original sent the
/// bearer token to any URL it was given).
fn next_link(session: &Session, args: &Arguments) -> Result<Option<String>, Error> {
    let Some(link) = args.text("next_link") else {
        return Ok(None);
    };
    // A link pasted or passed through a playbook may have had its spaces decoded: encode them
    // (and control characters) again; everything else is followed exactly as Graph wrote it.
    let link = utf8_percent_encode(link, SPACES_AND_CONTROLS).to_string();
    if !session.http.admits(Audience::Graph, &link) {
        let expected = session.config.graph_root();
        return Err(Error::argument(
            "next_link",
            format!(
                "must be a link under {expected} (as returned in AADIdentityProtection.NextLink); it was not followed."
            ),
        ));
    }
    Ok(Some(link))
}

/// The entry for a listing: Graph's document as contents, a table, the items under
/// `AADIdentityProtection.<context>`, and where to continue.
pub fn entry(kind: &ListKind, listing: Listing) -> Entry {
    let title = table::title(&kind.title, listing.items.len());
    let mut markdown = match kind.row {
        None => table::render(&title, listing.items.iter().map(|item| item.get())),
        Some(row) => {
            let rows: Vec<String> = listing.items.iter().map(|item| row(item.get())).collect();
            table::render(&title, rows.iter().map(String::as_str))
        }
    };
    if listing.next_link.is_some() {
        markdown.push_str(&format!("\nMore results are available: run the command again with `next_link` set to `AADIdentityProtection.NextLink(val.Description === \"{}\").URL`.\n", kind.context));
    }
    let path = format!("AADIdentityProtection.{}(val.id === obj.id)", kind.context);
    // Always written, empty when nothing remains, so a stale link from an earlier run is replaced.
    let next = json!({"Description": kind.context, "URL": listing.next_link.clone().unwrap_or_default()});
    let entry = Entry::json(listing.document(), markdown).with_context(&path, listing.items_array());
    drop(listing);
    entry.with_context(
        &format!(
            "AADIdentityProtection.NextLink(val.Description === \"{}\")",
            kind.context
        ),
        next,
    )
}
