//! Any bytes on stdin: parsing, the schema check, argument coercion, parameter checks and the
//! commands up to their first request, with a transport that refuses every request.
#![no_main]

use azure_ad_identity_protection::http::{HttpRequest, HttpResponse, NetSettings, Transport, TransportError};
use azure_ad_identity_protection::runtime::Runtime;
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

struct Offline;

impl Runtime for Offline {
    fn now(&self) -> u64 {
        1_700_000_000
    }
    fn sleep(&self, _: Duration) {}
    fn jitter(&self) -> f64 {
        0.0
    }
    fn transport(&self, _: &NetSettings) -> Box<dyn Transport> {
        Box::new(|_: &HttpRequest| -> Result<HttpResponse, TransportError> { Err(TransportError::Connect("offline".into())) })
    }
    fn log(&self, _: &str) {}
}

fuzz_target!(|data: &[u8]| {
    let outcome = azure_ad_identity_protection::run(data, &Offline);
    assert!(matches!(outcome.exit_code, 0..=2));
    assert!(!outcome.result.entries.is_empty());
    let text = serde_json::to_string(&outcome.result).expect("the result serialises");
    assert!(text.starts_with('{'));
});
