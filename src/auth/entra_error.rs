//! Entra ID's OAuth error body, and what a person should do about each one.

use crate::config::Config;
use crate::http::HttpResponse;
use serde_json::{Map, Value, json};
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
    /// Client credentials with a secret.
    ClientCredentials,
}

impl Flow {
    fn attempt(self) -> &'static str {
        match self {
            Flow::DeviceAuthorization => "Starting device-code sign-in failed",
            Flow::DeviceCodeGrant => "Completing device-code sign-in failed",
            Flow::Refresh => "Renewing the access token failed",
            Flow::ClientCredentials => "Getting a token with the client secret failed",
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
    app_id: String,
    tenant: String,
}

impl EntraError {
    /// Reads the body; `None` when it is not an OAuth error object.
    pub fn parse(flow: Flow, config: &Config, response: &HttpResponse) -> Option<EntraError> {
        let body: Map<String, Value> = serde_json::from_str(&response.body).ok()?;
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        Some(EntraError {
            flow,
            status: response.status,
            error: text("error")?,
            description: text("error_description"),
            codes: body
                .get("error_codes")
                .and_then(Value::as_array)
                .map(|c| c.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            trace_id: text("trace_id"),
            correlation_id: text("correlation_id"),
            timestamp: text("timestamp"),
            error_uri: text("error_uri"),
            app_id: config.app_id.clone(),
            tenant: config.tenant_segment().to_string(),
        })
    }

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
            (_, Some(700_016)) => format!("Application {} was not found in tenant {}. Check Application ID and Tenant ID, and that the app is consented in that tenant.", self.app_id, self.tenant),
            (_, Some(90_002)) => format!("Tenant {} was not found. Check Tenant ID, and that azure_cloud is the cloud the tenant lives in.", self.tenant),
            (_, Some(90_038)) => "The tenant belongs to another national cloud. Set azure_cloud to that cloud.".into(),
            (_, Some(7_000_218)) => "The app does not allow public client flows. Set 'Allow public client flows' to Yes in the app's Authentication page, or use client-credentials mode.".into(),
            (_, Some(700_025)) => "The app is a public client, so no secret may be sent. Clear Client Secret or use client-credentials mode.".into(),
            (_, Some(50_194)) => "The app is single-tenant. Set Tenant ID to its directory (tenant) ID.".into(),
            (_, Some(9_001_023)) => "Client credentials need a real tenant. Set Tenant ID to the directory (tenant) ID, not common or organizations.".into(),
            (_, Some(65_001)) => "An administrator has not consented to the app's permissions. Grant admin consent in the app's API permissions page.".into(),
            (_, Some(50_196)) => "Entra ID detected a request loop. Wait a few minutes before trying again.".into(),
            ("authorization_declined", _) => "The person declined the sign-in. Run !azure-ad-auth-start to try again.".into(),
            ("expired_token" | "code_expired", _) => "The sign-in code expired before it was used. Run !azure-ad-auth-start for a new code.".into(),
            ("bad_verification_code", _) => "Entra ID did not recognise the device code. Run !azure-ad-auth-start for a new code.".into(),
            ("invalid_grant" | "interaction_required", _) if self.flow == Flow::DeviceCodeGrant => "The device code can no longer be redeemed. Run !azure-ad-auth-start for a new code.".into(),
            ("invalid_grant" | "interaction_required", _) => format!("The stored sign-in is no longer valid (expired, revoked, or a Conditional Access policy requires a new sign-in). {reset}"),
            ("invalid_client", _) => "Entra ID rejected the app's credentials. Check Application ID and Client Secret.".into(),
            ("invalid_scope", _) => "The requested permissions are not valid for this cloud. Check azure_cloud and the app's API permissions.".into(),
            ("temporarily_unavailable", _) => "Entra ID is temporarily unavailable. Try again in a few minutes.".into(),
            _ => "Check the app registration and the instance parameters (see the README's app registration section).".into(),
        }
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code().map(|c| format!(", AADSTS{c}")).unwrap_or_default();
        write!(
            f,
            "{}: Entra ID answered {} ({}{code})",
            self.flow.attempt(),
            self.status,
            self.error
        )?;
        if let Some(said) = self.said() {
            write!(f, ": {said}")?;
        }
        write!(f, "\n\n{}", self.advice())?;
        if let (Some(trace), Some(correlation)) = (&self.trace_id, &self.correlation_id) {
            write!(f, "\n\nTrace ID: {trace} · Correlation ID: {correlation}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(flow: Flow, error: &str, code: u64) -> EntraError {
        let config = Config::from_params(json!({"tenant_id": "contoso"}).as_object().unwrap()).unwrap();
        let body = json!({
            "error": error,
            "error_description": format!("AADSTS{code}: Something happened.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2024-01-01 00:00:00Z"),
            "error_codes": [code], "trace_id": "t", "correlation_id": "c",
        });
        EntraError::parse(
            flow,
            &config,
            &HttpResponse {
                status: 400,
                headers: vec![],
                body: body.to_string(),
            },
        )
        .unwrap()
    }

    #[test]
    fn advice_by_code_and_error() {
        let cases = [
            (
                Flow::ClientCredentials,
                "invalid_client",
                7_000_215,
                "not its Secret ID",
            ),
            (Flow::ClientCredentials, "invalid_client", 7_000_222, "expired"),
            (
                Flow::ClientCredentials,
                "unauthorized_client",
                700_016,
                "was not found in tenant contoso",
            ),
            (
                Flow::ClientCredentials,
                "invalid_request",
                90_002,
                "Tenant contoso was not found",
            ),
            (
                Flow::DeviceCodeGrant,
                "invalid_client",
                7_000_218,
                "Allow public client flows",
            ),
            (Flow::Refresh, "invalid_grant", 700_082, "!azure-ad-auth-reset"),
            (Flow::Refresh, "invalid_grant", 50_173, "!azure-ad-auth-reset"),
            (Flow::Refresh, "invalid_grant", 70_043, "!azure-ad-auth-reset"),
            (Flow::Refresh, "invalid_grant", 70_008, "!azure-ad-auth-reset"),
            (Flow::DeviceCodeGrant, "authorization_declined", 70_000, "declined"),
            (Flow::DeviceCodeGrant, "expired_token", 70_020, "expired"),
            (Flow::DeviceCodeGrant, "code_expired", 70_019, "expired"),
            (
                Flow::DeviceCodeGrant,
                "bad_verification_code",
                70_018,
                "did not recognise",
            ),
        ];
        for (flow, name, code, needle) in cases {
            let message = error(flow, name, code).to_string();
            assert!(message.contains(needle), "{name} {code}: {message}");
            assert!(
                message.contains(&format!("AADSTS{code}")) && message.contains("Trace ID: t"),
                "{message}"
            );
            assert!(message.contains(": Something happened."), "{message}");
        }
    }

    #[test]
    fn non_oauth_bodies_are_not_entra_errors() {
        let config = Config::from_params(&Map::new()).unwrap();
        for body in ["<html>502</html>", "{\"error\":{\"code\":\"x\"}}", "", "{\"err"] {
            let response = HttpResponse {
                status: 502,
                headers: vec![],
                body: body.to_string(),
            };
            assert!(EntraError::parse(Flow::Refresh, &config, &response).is_none(), "{body}");
        }
    }
}
