//! Recognisable secrets through every fixture and every failure mode: none may appear in an
//! entry or on stderr (run() checks the same for every test; this one plants canaries on purpose).

use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer};
use serde_json::{Value, json};

const CANARY: &str = "CANARY";

type Fault = Box<dyn Fn(&Emulator)>;

fn faults() -> Vec<(&'static str, Fault)> {
    let token = "/oauth2/v2.0/token";
    vec![
        ("none", Box::new(|_| {})),
        (
            "token 429",
            Box::new(move |e| e.script(ScriptedAnswer::throttled(token, Some("0")).times(3))),
        ),
        (
            "token html",
            Box::new(move |e| e.script(ScriptedAnswer::html_error(token, 400))),
        ),
        (
            "token truncated",
            Box::new(move |e| e.script(ScriptedAnswer::truncated_json(token))),
        ),
        (
            "invalid_grant",
            Box::new(move |e| {
                e.script(ScriptedAnswer::entra_error(
                    token,
                    400,
                    "invalid_grant",
                    50_173,
                    "The provided grant has expired due to it being revoked.",
                ))
            }),
        ),
        ("graph 401", Box::new(|e| e.expire_access_tokens())),
        (
            "graph html",
            Box::new(|e| e.script(ScriptedAnswer::html_error("/identityProtection/riskyUsers", 502))),
        ),
        (
            "graph 403",
            Box::new(|e| {
                e.script(ScriptedAnswer::graph_error(
                    "/identityProtection/riskDetections",
                    403,
                    "Forbidden",
                    "no",
                ))
            }),
        ),
    ]
}

/// A fixture with canary secrets in every secret slot.
fn planted(fixture: &Value, emu: &Emulator) -> Value {
    let mut envelope = fixture.clone();
    envelope["params"]["azure_ad_endpoint"] = json!(emu.base_url());
    envelope["params"]["graph_endpoint"] = json!(emu.base_url());
    if envelope["params"].get("credentials").is_some() {
        envelope["params"]["credentials"]["password"] = json!(format!("{CANARY}-client-secret"));
    }
    for key in ["access_token", "current_refresh_token", "device_code"] {
        if envelope["context"].get(key).is_some() {
            envelope["context"][key] = json!(format!("{CANARY}-{key}"));
        }
    }
    envelope
}

#[test]
fn no_fixture_leaks_a_secret_in_any_failure_mode() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let mut runs = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures/").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let fixture: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        for (name, fault) in faults() {
            let emu = tenant();
            fault(&emu);
            let run = run(&planted(&fixture, &emu));
            let shown = format!("{}{}", run.result["entries"], run.stderr);
            assert!(
                !shown.contains(CANARY),
                "{path:?} with {name}: a canary leaked:\n{shown}"
            );
            runs += 1;
        }
    }
    assert!(runs >= 8 * 14, "{runs}");
}
