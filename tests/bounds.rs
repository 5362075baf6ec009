//! What is written stays bounded however large Graph's answers are (issue 16, defect 8): a
//! result is at most 64 MiB, and a fetch over huge detections hands them over in parts with
//! nothing lost and nothing twice.

use crate::util::*;
use azure_ad_identity_protection::emulator::ScriptedAnswer;
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

#[test]
fn a_result_larger_than_64_mib_becomes_an_error_that_keeps_the_context() {
    let emu = tenant();
    // One item of 30 MiB: within the 32 MiB a body may have and read as one page, but held
    // three times by the result (Graph's document, the context, the table).
    let page = json!({"value": [{"id": "u1", "userDisplayName": "x".repeat(30 * MIB)}]}).to_string();
    emu.script(ScriptedAnswer::new(RISKY_USERS, 200, &page));
    let context = json!({"kept": "as it was"});
    let list = envelope(
        "azure-ad-identity-protection-risky-user-list",
        json!({}),
        &app_params(&emu),
        context,
    );
    let output = binary()
        .write_stdin(list.to_string())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("the binary runs");
    assert!(output.stdout.len() < 64 * MIB, "{} bytes written", output.stdout.len());
    let result: Value = serde_json::from_slice(&output.stdout).expect("one JSON result");
    assert_eq!(output.status.code(), Some(1));
    let entries = result["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "only the error");
    assert_eq!(entries[0]["Type"], 4);
    let message = entries[0]["HumanReadable"].as_str().unwrap_or_default();
    assert!(message.contains("larger than 64 MiB"), "{message}");
    assert_eq!(result["context"]["kept"], "as it was", "the context is handed back");
    assert_eq!(result["context_changed"], json!(true), "a token was stored");
    assert!(result["context"]["access_token"].is_string(), "and kept");
}

/// A detection of exactly `size` bytes of padding (plus its few fields), `n` minutes past 10:00.
fn huge_detection(n: usize, size: usize) -> Value {
    json!({
        "id": format!("huge-{n:02}"),
        "detectedDateTime": format!("2024-05-01T10:{n:02}:00Z"),
        "riskLevel": "high",
        "riskEventType": "unfamiliarFeatures",
        "userPrincipalName": "a@b",
        "additionalInfo": "y".repeat(size),
    })
}

#[test]
fn a_fetch_over_huge_detections_hands_them_over_in_parts_without_loss_or_repeat() {
    let emu = tenant_with(|config| {
        config.risk_detections.clear();
        config.page_cap = 10;
    });
    for n in 0..40 {
        emu.add_detection(huge_detection(n, MIB));
    }
    let mut params = app_params(&emu);
    params["first_fetch"] = json!("2020-01-01");
    params["max_fetch"] = json!("50");
    let mut last_run = json!({});
    let mut seen: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    for _ in 0..4 {
        let mut fetch = envelope("fetch-incidents", json!({}), &params, json!({}));
        fetch["last_run"] = last_run.clone();
        let run = run(&fetch);
        run.expect(0, 1);
        let incidents = run.result["incidents"].as_array().expect("incidents").clone();
        sizes.push(incidents.len());
        seen.extend(
            incidents
                .iter()
                .map(|i| i["dbotMirrorId"].as_str().unwrap_or_default().to_string()),
        );
        last_run = run.result["last_run"].clone();
    }
    // 16 MiB a fetch: 15 detections of a little more than 1 MiB each, then the rest.
    assert_eq!(sizes, [15, 15, 10, 0]);
    let expected: Vec<String> = (0..40).map(|n| format!("huge-{n:02}")).collect();
    assert_eq!(seen, expected, "every detection once, in time order");
}
