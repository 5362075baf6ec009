//! Microsoft Graph's error, as plain data the error enum holds, and what to do about it.
//! Reading it from an answer is `graph`'s job.

use crate::markdown::{server_text, server_word};
use serde_json::{Value, json};
use std::fmt;

/// A Graph error answer: `{"error": {"code", "message", "innerError": {...}}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub date: Option<String>,
    /// What was being done, e.g. "Listing risky users".
    pub action: String,
    /// The request was about workload identities (service principals), whose permissions and
    /// licence differ from users'.
    pub workload_identities: bool,
}

impl GraphError {
    /// True when the bearer token itself was refused (expired, revoked, wrong audience).
    pub fn is_bad_token(&self) -> bool {
        self.status == 401
    }

    /// The entry's `Contents`.
    pub fn contents(&self) -> Value {
        json!({"http_status": self.status, "code": self.code, "message": self.message, "request_id": self.request_id, "date": self.date})
    }

    fn advice(&self) -> &'static str {
        match self.status {
            403 if self.workload_identities => {
                "Microsoft Graph denied access. The app needs IdentityRiskyServicePrincipal.Read.All (or IdentityRiskyServicePrincipal.ReadWrite.All to dismiss or confirm service principals compromised) for risky service principals, and IdentityRiskEvent.Read.All for their risk detections, with admin consent; the tenant needs a Microsoft Entra Workload ID Premium licence; in device-code mode the signed-in user also needs a role such as Security Reader or Security Administrator."
            }
            401 => {
                "The access token was refused even after renewing it. Run !azure-ad-auth-reset and sign in again; in client-credentials mode check Tenant ID and the app's consent."
            }
            403 => {
                "Microsoft Graph denied access. The app needs IdentityRiskyUser.Read.All (or IdentityRiskyUser.ReadWrite.All to act on users) and IdentityRiskEvent.Read.All, with admin consent; the tenant needs a Microsoft Entra ID P2 licence; in device-code mode the signed-in user also needs a role such as Security Reader or Security Administrator."
            }
            404 => "Graph did not find it. Check the id, and that api_version offers this resource.",
            400 => "Graph rejected the request. Check the filter and arguments.",
            _ => "Try again later; if it persists, give the request ID to Microsoft support.",
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Graph's words are its own: quoted, so they cannot add a link, an image or HTML.
        write!(
            f,
            "{} failed: Microsoft Graph answered {} ({})",
            self.action,
            self.status,
            server_word(&self.code)
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", server_text(&self.message))?;
        }
        write!(f, "\n\n{}", self.advice())?;
        if let Some(id) = &self.request_id {
            write!(f, "\n\nRequest ID: {}", server_word(id))?;
        }
        Ok(())
    }
}
