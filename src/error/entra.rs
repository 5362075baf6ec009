//! Entra ID's OAuth error, as plain data the error enum holds, and what a person should do
//! about each one. Reading it from an answer is `auth::entra_error`'s job.

use crate::markdown::{server_text, server_word};
use serde_json::{Value, json};
use std::fmt;

/// Which request failed, so the message can say what was being attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Asking for a device code (auth-start).
    DeviceAuthorization,
    /// Redeeming the device code (auth-complete).
    DeviceCodeGrant,
    /// Renewing the access token with the refresh token.
    Refresh,
    /// Asking, with the refresh token, for a token that also carries these permissions (the
    /// first request that needs them in device-code mode: risky service principals, sign-ins,
    /// sessions, named locations).
    RefreshFor(crate::auth::tokens::Permissions),
    /// Client credentials with a secret.
    ClientCredentials,
    /// Client credentials with a certificate (a signed client assertion).
    ClientCertificate,
    /// Client credentials with a federated token (workload identity federation).
    Federated,
}

impl Flow {
    fn attempt(self) -> &'static str {
        match self {
            Flow::DeviceAuthorization => "Starting device-code sign-in failed",
            Flow::DeviceCodeGrant => "Completing device-code sign-in failed",
            Flow::Refresh => "Renewing the access token failed",
            Flow::RefreshFor(_) => "Getting a token with the permissions this command needs failed",
            Flow::ClientCredentials => "Getting a token with the client secret failed",
            Flow::ClientCertificate => "Getting a token with the certificate failed",
            Flow::Federated => "Getting a token with the federated token failed",
        }
    }
}

/// An OAuth error answer from the token or device-code endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct EntraError {
    pub flow: Flow,
    pub status: u16,
    pub error: String,
    pub description: Option<String>,
    pub codes: Vec<u64>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
    pub timestamp: Option<String>,
    pub error_uri: Option<String>,
    /// The app and tenant the request was for, for the advice.
    pub(crate) app_id: String,
    pub(crate) tenant: String,
}

impl EntraError {
    /// The first AADSTS code, if any.
    pub fn code(&self) -> Option<u64> {
        self.codes.first().copied()
    }

    /// The entry's `Contents`: everything support needs, nothing secret.
    pub fn contents(&self) -> Value {
        json!({
            "http_status": self.status,
            "error": self.error,
            "error_description": self.description,
            "error_codes": self.codes,
            "timestamp": self.timestamp,
            "trace_id": self.trace_id,
            "correlation_id": self.correlation_id,
            "error_uri": self.error_uri,
        })
    }

    /// Microsoft's sentence without the `AADSTSnnnn:` prefix and the trace lines.
    fn said(&self) -> Option<String> {
        let first = self.description.as_deref()?.lines().next()?.trim();
        let text = match first.split_once(": ") {
            Some((prefix, rest)) if prefix.starts_with("AADSTS") => rest,
            _ => first,
        };
        Some(text.trim().to_string()).filter(|t| !t.is_empty())
    }

    fn advice(&self) -> String {
        let reset = "Run !azure-ad-auth-reset, then !azure-ad-auth-start and !azure-ad-auth-complete to sign in again.";
        match (self.error.as_str(), self.code()) {
            (_, Some(7_000_215)) => "The client secret is wrong. Paste the secret's Value (not its Secret ID) from the app's Certificates & secrets page into Client Secret.".into(),
            (_, Some(7_000_222)) => "The client secret has expired. Create a new secret in the app registration and update Client Secret.".into(),
            (_, Some(50_013 | 50_012)) if self.flow == Flow::Federated => "Entra ID could not verify the federated token's signature with its issuer's published keys. Check that the token file holds a current token of the issuer the federated credential names (an old token may be signed with a retired key).".into(),
            (_, Some(50_166)) => "Entra ID could not fetch the federated token issuer's discovery document or keys. Check that the issuer URL of the federated credential is public and serves /.well-known/openid-configuration.".into(),
            // Entra answers 700027 both for a thumbprint no uploaded certificate has ("The key
            // was not found") and for a signature the certificate's key did not make.
            (_, Some(700_027 | 50_012)) => "Entra ID could not verify the client assertion with a certificate of the app. Check that the certificate is uploaded to the app's Certificates & secrets page (its thumbprint is the one configured), and that the private key is that certificate's key.".into(),
            (_, Some(700_024 | 500_133)) if self.flow == Flow::Federated => "The federated token has expired or is not yet valid. Check that its issuer keeps refreshing the federated token file, and the engine's clock.".into(),
            (_, Some(700_024 | 500_133)) => "The client assertion was outside its valid time range. Check the engine's clock (it must be within a few minutes of the real time).".into(),
            (_, Some(70_021 | 700_211 | 700_212 | 700_213)) => "No federated credential of the app matches the federated token. In the app's Certificates & secrets → Federated credentials, check the issuer, the subject and the audience (api://AzureADTokenExchange).".into(),
            (_, Some(700_021)) => format!("The client assertion names another application than {}. Check Application ID: it must be the app the certificate is uploaded to.", self.app_id),
            (_, Some(700_023)) => format!("The client assertion was made for another token endpoint than tenant {}'s. Check Tenant ID and azure_cloud.", self.tenant),
            (_, Some(700_030)) => "Entra ID does not accept the certificate for the app (subject name or issuer). Upload the certificate itself to the app's Certificates & secrets page, and check the thumbprint and Application ID.".into(),
            (_, Some(700_016)) => format!("Application {} was not found in tenant {}. Check Application ID and Tenant ID, and that the app is consented in that tenant.", self.app_id, self.tenant),
            (_, Some(90_002)) => format!("Tenant {} was not found. Check Tenant ID, and that azure_cloud is the cloud the tenant lives in.", self.tenant),
            (_, Some(90_038)) => "The tenant belongs to another national cloud. Set azure_cloud to that cloud.".into(),
            (_, Some(7_000_218)) => "The app does not allow public client flows. Set 'Allow public client flows' to Yes in the app's Authentication page, or use client-credentials mode.".into(),
            (_, Some(700_025)) => "The app is a public client, so no secret may be sent. Clear Client Secret or use client-credentials mode.".into(),
            (_, Some(50_194)) => "The app is single-tenant. Set Tenant ID to its directory (tenant) ID.".into(),
            (_, Some(9_001_023)) => "Client credentials need a real tenant. Set Tenant ID to the directory (tenant) ID, not common or organizations.".into(),
            (_, Some(65_001)) => match self.flow {
                Flow::RefreshFor(needs) if self.app_id == crate::config::DEFAULT_APP_ID => format!("{} need the delegated permission {} with admin consent, which the Cortex XSOAR application (the default Application ID) does not have in this tenant. Use your own app registration with that permission (docs/app-registration.md), in device-code or client-credentials mode. The risky-user commands keep working meanwhile.", needs.needed_by(), needs.names()),
                Flow::RefreshFor(needs) => format!("{} need the delegated permission {} of app {}, with admin consent. Add it in the app's API permissions, grant admin consent, and run the command again (no new sign-in is needed). The risky-user commands keep working meanwhile.", needs.needed_by(), needs.names(), self.app_id),
                _ => "An administrator has not consented to the app's permissions. Grant admin consent in the app's API permissions page.".into(),
            },
            (_, Some(50_196)) => "Entra ID detected a request loop. Wait a few minutes before trying again.".into(),
            ("authorization_declined", _) => "The person declined the sign-in. Run !azure-ad-auth-start to try again.".into(),
            ("expired_token" | "code_expired", _) => "The sign-in code expired before it was used. Run !azure-ad-auth-start for a new code.".into(),
            ("bad_verification_code", _) => "Entra ID did not recognise the device code. Run !azure-ad-auth-start for a new code.".into(),
            ("invalid_grant" | "interaction_required", _) if self.flow == Flow::DeviceCodeGrant => "The device code can no longer be redeemed. Run !azure-ad-auth-start for a new code.".into(),
            ("invalid_grant" | "interaction_required", _) => format!("The stored sign-in is no longer valid (expired, revoked, or a Conditional Access policy requires a new sign-in). {reset}"),
            ("invalid_client", _) => "Entra ID rejected the app's credentials. Check Application ID and Client Secret.".into(),
            ("invalid_scope", _) => "The requested permissions are not valid for this cloud. Check azure_cloud and the app's API permissions.".into(),
            ("temporarily_unavailable", _) => "Entra ID is temporarily unavailable. Try again in a few minutes.".into(),
            _ => "Check the app registration and the instance parameters (see docs/app-registration.md).".into(),
        }
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Entra's words are its own: quoted, so they cannot add a link, an image or HTML.
        let code = self.code().map(|c| format!(", AADSTS{c}")).unwrap_or_default();
        write!(
            f,
            "{}: Entra ID answered {} ({}{code})",
            self.flow.attempt(),
            self.status,
            server_word(&self.error)
        )?;
        if let Some(said) = self.said() {
            write!(f, ": {}", server_text(&said))?;
        }
        write!(f, "\n\n{}", self.advice())?;
        if let (Some(trace), Some(correlation)) = (&self.trace_id, &self.correlation_id) {
            write!(
                f,
                "\n\nTrace ID: {} · Correlation ID: {}",
                server_word(trace),
                server_word(correlation)
            )?;
        }
        Ok(())
    }
}
