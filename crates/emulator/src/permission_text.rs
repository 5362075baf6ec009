//! What a consent page calls each permission: the delegated "DisplayText" of the Microsoft Graph
//! permissions reference (learn.microsoft.com/graph/permissions-reference), since a device-code
//! sign-in asks for delegated permissions. Scopes arrive with or without a resource prefix
//! (`https://graph.microsoft.com/`, a national cloud's Graph, the emulator's own URL); the page
//! names them by their bare name, as Microsoft's does.

use super::login::bare_scope;

/// The permissions this project asks for, and the OpenID Connect scopes, by bare scope name.
const DISPLAY_TEXT: [(&str, &str); 16] = [
    ("openid", "Sign users in"),
    ("profile", "View users' basic profile"),
    ("email", "View users' email address"),
    ("offline_access", "Maintain access to data you have given it access to"),
    ("IdentityRiskEvent.Read.All", "Read identity risk event information"),
    (
        "IdentityRiskEvent.ReadWrite.All",
        "Read and write risk event information",
    ),
    ("IdentityRiskyUser.Read.All", "Read identity risky user information"),
    (
        "IdentityRiskyUser.ReadWrite.All",
        "Read and write risky user information",
    ),
    (
        "IdentityRiskyServicePrincipal.Read.All",
        "Read all identity risky service principal information",
    ),
    (
        "IdentityRiskyServicePrincipal.ReadWrite.All",
        "Read and write all identity risky service principal information",
    ),
    ("AuditLog.Read.All", "Read audit log data"),
    ("Directory.Read.All", "Read directory data"),
    ("User.RevokeSessions.All", "Revoke all sign in sessions for a user"),
    ("Policy.Read.All", "Read your organization's policies"),
    (
        "Policy.ReadWrite.ConditionalAccess",
        "Read and write your organization's conditional access policies",
    ),
    // Not a permission but a request for all the app's granted ones; Entra expands it.
    (".default", "Every permission an administrator granted this app"),
];

/// A requested scope as the consent page shows it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PermissionText<'a> {
    /// The scope without its resource prefix: `IdentityRiskEvent.Read.All`.
    pub scope: &'a str,
    /// What the permissions reference calls it; `None` for a scope this table does not know.
    pub display: Option<&'static str>,
}

impl PermissionText<'_> {
    /// The permission of `scope`, whatever resource prefix it carries (matched case-insensitively).
    pub fn of(scope: &str) -> PermissionText<'_> {
        // A scope that is only a resource ("https://host/") keeps its text: there is no name to show.
        let bare = Some(bare_scope(scope)).filter(|b| !b.is_empty()).unwrap_or(scope);
        let display = DISPLAY_TEXT
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(bare))
            .map(|(_, text)| *text);
        PermissionText { scope: bare, display }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_named_as_the_permissions_reference_names_them() {
        #[rustfmt::skip]
        let cases = [
            ("https://graph.microsoft.com/IdentityRiskEvent.Read.All", "IdentityRiskEvent.Read.All", Some("Read identity risk event information")),
            ("http://127.0.0.1:34309/IdentityRiskEvent.Read.All", "IdentityRiskEvent.Read.All", Some("Read identity risk event information")),
            ("https://127.0.0.1:8443/IdentityRiskyUser.ReadWrite.All", "IdentityRiskyUser.ReadWrite.All", Some("Read and write risky user information")),
            ("https://graph.microsoft.us/identityriskyuser.read.all", "identityriskyuser.read.all", Some("Read identity risky user information")),
            ("https://microsoftgraph.chinacloudapi.cn/IdentityRiskyServicePrincipal.ReadWrite.All", "IdentityRiskyServicePrincipal.ReadWrite.All", Some("Read and write all identity risky service principal information")),
            ("IdentityRiskyServicePrincipal.Read.All", "IdentityRiskyServicePrincipal.Read.All", Some("Read all identity risky service principal information")),
            ("IdentityRiskEvent.ReadWrite.All", "IdentityRiskEvent.ReadWrite.All", Some("Read and write risk event information")),
            ("IdentityRiskyUser.Read.All", "IdentityRiskyUser.Read.All", Some("Read identity risky user information")),
            ("https://graph.microsoft.com/AuditLog.Read.All", "AuditLog.Read.All", Some("Read audit log data")),
            ("Directory.Read.All", "Directory.Read.All", Some("Read directory data")),
            ("User.RevokeSessions.All", "User.RevokeSessions.All", Some("Revoke all sign in sessions for a user")),
            ("Policy.Read.All", "Policy.Read.All", Some("Read your organization's policies")),
            ("Policy.ReadWrite.ConditionalAccess", "Policy.ReadWrite.ConditionalAccess", Some("Read and write your organization's conditional access policies")),
            ("openid", "openid", Some("Sign users in")),
            ("profile", "profile", Some("View users' basic profile")),
            ("offline_access", "offline_access", Some("Maintain access to data you have given it access to")),
            ("https://graph.microsoft.com/.default", ".default", Some("Every permission an administrator granted this app")),
            ("api://4ffef4a4/Custom.Thing", "Custom.Thing", None),
            ("Mail.Read", "Mail.Read", None),
            ("https://graph.microsoft.com/", "https://graph.microsoft.com/", None),
            ("", "", None),
        ];
        for (sent, scope, display) in cases {
            assert_eq!(PermissionText::of(sent), PermissionText { scope, display }, "{sent}");
        }
    }
}
