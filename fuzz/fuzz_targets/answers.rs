//! Any answer from Microsoft: every HTTP exchange of a few realistic commands gets a fuzzed
//! status, `Retry-After`, content type and body. The binary must end in one result with exit
//! 0-2, whatever Entra ID or Graph sends.
#![no_main]

use azure_ad_identity_protection::http::{HttpRequest, HttpResponse, NetSettings, Transport, TransportError};
use azure_ad_identity_protection::runtime::Runtime;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::time::Duration;

/// Answers every request with the same fuzzed response.
struct Answering(HttpResponse);

impl Runtime for Answering {
    fn now(&self) -> u64 {
        1_700_000_000
    }
    fn sleep(&self, _: Duration) {}
    fn jitter(&self) -> f64 {
        0.5
    }
    fn transport(&self, _: &NetSettings) -> Box<dyn Transport> {
        let answer = self.0.clone();
        Box::new(move |_: &HttpRequest| -> Result<HttpResponse, TransportError> { Ok(answer.clone()) })
    }
    fn log(&self, _: &str) {}
}

/// The commands whose requests get the fuzzed answer: token requests (client credentials,
/// device code) and Graph calls (lists, actions, fetch) with a cached token.
fn envelope(choice: u8) -> serde_json::Value {
    let app = json!({"client_credentials": "true", "tenant_id": "t", "credentials": {"password": "fuzz-secret"}});
    let cached = json!({"access_token": "fuzz-token", "valid_until": 4_102_444_800u64});
    let pending = json!({"device_code": "fuzz-code", "user_code": "U", "verification_uri": "https://microsoft.com/devicelogin"});
    let (command, args, params, context) = match choice % 7 {
        0 => ("azure-ad-auth-start", json!({}), app, json!({})),
        1 => ("azure-ad-auth-start", json!({}), json!({"tenant_id": "t"}), json!({})),
        2 => ("azure-ad-auth-complete", json!({"polling": "true"}), json!({"tenant_id": "t"}), pending),
        3 => ("azure-ad-identity-protection-risky-user-list", json!({"limit": "40"}), app, cached),
        4 => ("azure-ad-identity-protection-risks-list", json!({"id": "x"}), app, cached),
        5 => ("azure-ad-identity-protection-risky-user-dismiss", json!({"user_ids": "a,b"}), app, cached),
        _ => ("fetch-incidents", json!({}), app, cached),
    };
    json!({"command": command, "args": args, "params": params, "context": context, "last_run": {}})
}

fuzz_target!(|data: &[u8]| {
    let [choice, status_byte, retry_byte, kind_byte, body @ ..] = data else {
        return;
    };
    let status = [200, 400, 401, 403, 404, 429, 500, 503][usize::from(*status_byte % 8)];
    let kind = ["application/json", "text/html", "application/json; charset=utf-8"][usize::from(*kind_byte % 3)];
    let retry_after = match retry_byte % 4 {
        0 => "0".to_string(),
        1 => "Sun, 06 Nov 1994 08:49:37 GMT".to_string(),
        2 => u64::MAX.to_string(),
        _ => String::from_utf8_lossy(&body[..body.len().min(20)]).into_owned(),
    };
    let answer = HttpResponse {
        status,
        headers: vec![("Content-Type".into(), kind.into()), ("Retry-After".into(), retry_after)],
        body: String::from_utf8_lossy(body).into_owned(),
    };
    let input = envelope(*choice).to_string();
    // Not run_guarded: a panic must crash the fuzzer, which reports it.
    let outcome = azure_ad_identity_protection::run(input.as_bytes(), &Answering(answer));
    assert!(matches!(outcome.exit_code, 0..=2));
    assert!(!outcome.result.entries.is_empty());
    let text = serde_json::to_string(&outcome.result).expect("the result serialises");
    assert!(!text.contains("fuzz-secret"), "the client secret reached the result");
});
