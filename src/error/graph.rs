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
    /// What the request was about: a 403's permissions, licence and role depend on it.
    pub area: Area,
}

/// The part of Graph a request went to, as far as a 403's advice differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Area {
    /// Risky users and risk detections.
    #[default]
    Users,
    /// Risky service principals and their detections.
    WorkloadIdentities,
    /// Reading sign-in logs.
    SignIns,
    /// Confirming sign-ins safe or compromised.
    SignInVerdicts,
    /// Revoking a user's sessions.
    Sessions,
    /// Named locations and Conditional Access policies.
    Policies,
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
            403 if self.area == Area::SignIns => {
                "Microsoft Graph denied access to the sign-in logs. The app needs AuditLog.Read.All and Directory.Read.All (Graph needs both), with admin consent; the tenant needs a Microsoft Entra ID P1 or P2 licence for sign-in logs; in device-code mode the signed-in user also needs a role such as Reports Reader, Security Reader or Security Administrator."
            }
            403 if self.area == Area::SignInVerdicts => {
                "Microsoft Graph denied confirming the sign-ins. The app needs IdentityRiskEvent.ReadWrite.All (application) or IdentityRiskyUser.ReadWrite.All (delegated), with admin consent; the tenant needs a Microsoft Entra ID P2 licence; in device-code mode the signed-in user also needs a role such as Security Administrator or Security Operator."
            }
            403 if self.area == Area::Sessions => {
                "Microsoft Graph denied revoking the sessions. The app needs User.RevokeSessions.All, with admin consent; in device-code mode the signed-in user also needs a role that may do it, such as User Administrator or Helpdesk Administrator (an administrator's sessions need Privileged Authentication Administrator)."
            }
            403 if self.area == Area::Policies => {
                "Microsoft Graph denied access to Conditional Access. The app needs Policy.Read.All to read named locations and policies, and Policy.ReadWrite.ConditionalAccess to change a named location, with admin consent; the tenant needs a Microsoft Entra ID P1 licence; in device-code mode the signed-in user also needs a role such as Conditional Access Administrator or Security Administrator."
            }
            403 if self.area == Area::WorkloadIdentities => {
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
