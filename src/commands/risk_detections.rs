//! `azure-ad-identity-protection-risks-list`: risk detections, one by id or filtered.

use super::Arguments;
use super::CommandOutput;
use super::listing::{self, ListKind};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::paging::Listing;
use crate::graph::query::Query;
use crate::markdown::quoted;
use crate::session::Session;

const PATH: &str = "identityProtection/riskDetections";

fn kind(action: &str) -> ListKind<'_> {
    ListKind {
        row: None,
        query: Query::at(PATH),
        context: "Risks",
        title: "Risks".into(),
        action,
    }
}

/// Lists risk detections, or gets the one named by `id` (the original crashed on `id`).
pub fn list(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    if let Some(id) = args.text("id") {
        return get(session, id);
    }
    let filter = Filter::new()
        .eq("userId", args.text("user_id"))
        .eq("userPrincipalName", args.text("user_principal_name"))
        .eq("location/countryOrRegion", args.text("country"))
        .build();
    listing::run(session, args, &kind("Listing risk detections"), filter)
}

fn get(session: &mut Session, id: &str) -> Result<CommandOutput, Error> {
    let url = Query::at(PATH).segment(id).url(&session.config);
    let action = format!("Getting risk detection {}", quoted(id));
    let detection = client::get_json(session, &url, &action)?;
    let listing = Listing {
        items: vec![detection],
        ..Listing::default()
    };
    Ok(CommandOutput::entry(listing::entry(&kind(&action), listing)))
}
