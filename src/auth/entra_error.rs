//! Reading Entra ID's OAuth error body from an answer (the type is `error::EntraError`).

use crate::config::Config;
pub use crate::error::{EntraError, Flow};
use crate::http::HttpResponse;
use serde_json::{Map, Value};

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
            app_id: crate::markdown::quoted(&config.app_id),
            tenant: crate::markdown::quoted(config.tenant_segment()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            (
                Flow::RefreshFor(crate::auth::tokens::Permissions::WORKLOAD_IDENTITIES),
                "invalid_grant",
                65_001,
                "Cortex XSOAR application (the default Application ID) does not have",
            ),
            (Flow::Refresh, "invalid_grant", 65_001, "Grant admin consent"),
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
                message.contains(&format!("AADSTS{code}")) && message.contains("Trace ID: `t`"),
                "{message}"
            );
            assert!(message.contains(": Something happened."), "{message}");
        }
        let mut own_app = error(
            Flow::RefreshFor(crate::auth::tokens::Permissions::WORKLOAD_IDENTITIES),
            "invalid_grant",
            65_001,
        );
        own_app.app_id = "11111111-2222-3333-4444-555555555555".into();
        let message = own_app.to_string();
        assert!(
            message.contains("of app 11111111-2222-3333-4444-555555555555") && message.contains("no new sign-in"),
            "{message}"
        );
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
