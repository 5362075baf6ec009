//! Workload identities: risky service principals (list, history, confirm compromised, dismiss)
//! and their risk detections. Listing and actions are the risky users' own code.

use super::Arguments;
use super::CommandOutput;
use super::listing::{self, ListKind};
use super::risky_users::{self, Action, Subject};
use crate::error::Error;
use crate::graph::client;
use crate::graph::odata::Filter;
use crate::graph::paging::Listing;
use crate::graph::query::Query;
use crate::markdown::quoted;
use crate::session::Session;

/// `risk_detail` values of service principals.
pub const RISK_DETAILS: &[&str] = &[
    "none",
    "hidden",
    "adminConfirmedServicePrincipalCompromised",
    "adminDismissedAllRiskForServicePrincipal",
    "unknownFutureValue",
];

const PATH: &str = "identityProtection/riskyServicePrincipals";
const DETECTIONS: &str = "identityProtection/servicePrincipalRiskDetections";

const PRINCIPALS: Subject = Subject {
    collection: PATH,
    argument: "service_principal_ids",
    body_key: "servicePrincipalIds",
    one: "service principal",
    many: "service principals",
};

/// `azure-ad-identity-protection-risky-service-principal-list`.
pub fn list(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let since = risky_users::updated_since(session, args)?;
    let filter = Filter::new()
        .eq("riskLevel", args.choice("risk_level"))
        .eq("riskState", args.choice("risk_state"))
        .eq("riskDetail", args.choice("risk_detail"))
        .eq("displayName", args.text("display_name"))
        .eq("appId", args.text("app_id"))
        .since("riskLastUpdatedDateTime", since.as_deref())
        .build();
    let kind = ListKind {
        row: None,
        query: Query::at(PATH),
        context: "RiskyServicePrincipals",
        title: "Risky Service Principals".into(),
        action: "Listing risky service principals",
    };
    listing::run(session, args, &kind, filter)
}

/// `azure-ad-identity-protection-risky-service-principal-history-list`.
pub fn history(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let id = args.required_text("service_principal_id");
    let action = format!("Listing the risk history of service principal {}", quoted(id));
    let kind = ListKind {
        row: None,
        query: Query::at(PATH).segment(id).then("history"),
        context: "RiskyServicePrincipalHistory",
        title: format!("Risky service principal history for {}", quoted(id)),
        action: &action,
    };
    listing::run(session, args, &kind, None)
}

/// `azure-ad-identity-protection-risky-service-principal-confirm-compromised`.
pub fn confirm_compromised(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let action = Action {
        subject: PRINCIPALS,
        path: "confirmCompromised",
        doing: "Confirming service principals compromised",
        done: "✅ Confirmed successfully.",
    };
    risky_users::act(session, args, action)
}

/// `azure-ad-identity-protection-risky-service-principal-dismiss`.
pub fn dismiss(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    let action = Action {
        subject: PRINCIPALS,
        path: "dismiss",
        doing: "Dismissing service principal risk",
        done: "✅ Dismissed successfully.",
    };
    risky_users::act(session, args, action)
}

fn detections_kind(action: &str) -> ListKind<'_> {
    ListKind {
        row: None,
        query: Query::at(DETECTIONS),
        context: "ServicePrincipalRisks",
        title: "Service Principal Risks".into(),
        action,
    }
}

/// `azure-ad-identity-protection-service-principal-risks-list`: detections, one by id or filtered.
pub fn risks(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    if let Some(id) = args.text("id") {
        return risk(session, id);
    }
    let filter = Filter::new()
        .eq("servicePrincipalId", args.text("service_principal_id"))
        .eq("appId", args.text("app_id"))
        .build();
    let kind = detections_kind("Listing service principal risk detections");
    listing::run(session, args, &kind, filter)
}

fn risk(session: &mut Session, id: &str) -> Result<CommandOutput, Error> {
    let url = Query::at(DETECTIONS).segment(id).url(&session.config);
    let action = format!("Getting service principal risk detection {}", quoted(id));
    let detection = client::get_json(session, &url, &action)?;
    let listing = Listing {
        items: vec![detection],
        ..Listing::default()
    };
    Ok(CommandOutput::entry(listing::entry(&detections_kind(&action), listing)))
}
