use crate::graph_commands::detections;
use crate::util::*;
use azure_ad_identity_protection::emulator::{Emulator, ScriptedAnswer};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn fetch_params(emu: &Emulator, extra: Value) -> Value {
    let mut params = app_params(emu);
    params["first_fetch"] = json!("2024-01-01");
    for (key, value) in extra.as_object().cloned().unwrap_or_default() {
        params[key] = value;
    }
    params
}

fn fetch(params: &Value, last_run: Option<Value>) -> Run {
    let mut envelope = envelope("fetch-incidents", json!({}), params, json!({}));
    if let Some(last_run) = last_run {
        envelope["last_run"] = last_run;
    }
    run(&envelope)
}

fn incident_ids(run: &Run) -> Vec<String> {
    run.result["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| i["dbotMirrorId"].as_str().unwrap().to_string())
        .collect()
}

/// Fetches until nothing new arrives, feeding last_run back; returns every batch.
fn fetch_all(params: &Value, mut last_run: Option<Value>) -> (Vec<Vec<String>>, Value) {
    let mut batches = Vec::new();
    for _ in 0..100 {
        let run = fetch(params, last_run.clone());
        run.expect(0, 1);
        let ids = incident_ids(&run);
        last_run = Some(run.result["last_run"].clone());
        if ids.is_empty() {
            return (batches, last_run.unwrap_or_default());
        }
        batches.push(ids);
    }
    panic!("fetch never caught up");
}

#[test]
fn every_detection_becomes_exactly_one_incident() {
    for (count, per_instant, page_cap, max_fetch, seed) in [
        (57, 4, 7, "10", 1),
        (40, 40, 6, "7", 2),
        (25, 1, 500, "50", 3),
        (31, 5, 3, "1", 4),
    ] {
        let emu = tenant_with(|c| {
            c.risk_detections = detections(count, per_instant);
            c.page_cap = page_cap;
            c.shuffle_seed = Some(seed);
        });
        let params = fetch_params(&emu, json!({"max_fetch": max_fetch}));
        let (batches, _) = fetch_all(&params, None);
        let all: Vec<&String> = batches.iter().flatten().collect();
        let mut counts = BTreeMap::new();
        for id in &all {
            *counts.entry(id.as_str()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), count, "case {seed}: every detection was emitted");
        assert!(counts.values().all(|n| *n == 1), "case {seed}: duplicates {counts:?}");
        let sorted: Vec<&String> = {
            let mut s = all.clone();
            s.sort();
            s
        };
        assert_eq!(all, sorted, "case {seed}: incidents come in time order");
        assert!(batches.iter().all(|b| b.len() <= max_fetch.parse().unwrap()));
    }
}

#[test]
fn new_detections_are_picked_up_once() {
    let emu = tenant_with(|c| c.risk_detections = detections(5, 2));
    let params = fetch_params(&emu, json!({}));
    let (batches, last_run) = fetch_all(&params, None);
    assert_eq!(
        batches,
        [vec!["det-0000", "det-0001", "det-0002", "det-0003", "det-0004"]]
    );
    let mut late = detections(6, 2).pop().unwrap();
    late["id"] = json!("late-one");
    emu.add_detection(late.clone());
    let (batches, _) = fetch_all(&params, Some(last_run));
    assert_eq!(batches, [vec!["late-one"]]);
}

#[test]
fn incidents_have_the_expected_shape() {
    let emu = tenant_with(|c| c.risk_detections = detections(1, 1));
    let run = fetch(&fetch_params(&emu, json!({})), None);
    run.expect(0, 1).says(&["Fetched 1 new incident (1 risk detection)."]);
    let incident = &run.result["incidents"][0];
    assert_eq!(incident["name"], "Azure AD: det-0000 unfamiliarFeatures none");
    assert_eq!(incident["occurred"], "2024-06-01T10:00:00.123456Z");
    assert_eq!(incident["severity"], 1);
    let raw: Value = serde_json::from_str(incident["rawJSON"].as_str().unwrap()).unwrap();
    assert_eq!(raw["id"], "det-0000");
    let last_run = &run.result["last_run"];
    assert_eq!(last_run["latest_detection_found"], "2024-06-01T10:00:00.1234567Z");
    assert_eq!(last_run["ids_at_latest_detection"], json!(["det-0000"]));
}

#[test]
fn a_python_cursor_continues_without_duplicating_the_boundary() {
    let emu = tenant_with(|c| c.risk_detections = detections(6, 1));
    let python = json!({"latest_detection_found": "2024-06-01T10:00:02.1234567Z"});
    let run = fetch(&fetch_params(&emu, json!({})), Some(python));
    run.expect(0, 1);
    assert_eq!(incident_ids(&run), ["det-0003", "det-0004", "det-0005"]);
}

#[test]
fn an_odd_cursor_is_sent_and_stored_in_one_canonical_utc_form() {
    // (stored cursor, the same instant as Graph's canonical UTC text, written by hand)
    let cases = [
        ("2024-06-01 10:00:00Z", "2024-06-01T10:00:00.0000000Z"),
        ("2024-06-01T12:00:00+02:00", "2024-06-01T10:00:00.0000000Z"),
        ("2024-06-01T05:30:00.5-04:30", "2024-06-01T10:00:00.5000000Z"),
        ("2024-06-01t10:00:00.1234567z", "2024-06-01T10:00:00.1234567Z"),
        ("2024-06-01", "2024-06-01T00:00:00.0000000Z"),
    ];
    for (stored, canonical) in cases {
        let emu = tenant_with(|c| c.risk_detections = detections(0, 1));
        let run = fetch(
            &fetch_params(&emu, json!({})),
            Some(json!({"latest_detection_found": stored, "ids_at_latest_detection": []})),
        );
        run.expect(0, 1);
        let request = &requests_to(&emu, DETECTIONS)[0];
        assert_eq!(
            request.query_value("$filter"),
            Some(format!("detectedDateTime ge {canonical}")),
            "{stored}"
        );
        assert_eq!(run.result["last_run"]["latest_detection_found"], canonical, "{stored}");
    }
}

#[test]
fn the_query_combines_cursor_filter_and_users() {
    let emu = tenant_with(|c| c.risk_detections = detections(3, 1));
    let params = fetch_params(
        &emu,
        json!({"fetch_filter_expression": "riskLevel eq 'high' or riskLevel eq 'low'", "fetch_user_id": "a, b", "fetch_user_principal_name": "o'brien@contoso.com"}),
    );
    fetch(&params, None).expect(0, 1);
    let request = &requests_to(&emu, DETECTIONS)[0];
    assert_eq!(request.query_value("$top").as_deref(), Some("500"));
    assert_eq!(
        request.query_value("$filter").as_deref(),
        Some(
            "detectedDateTime ge 2024-01-01T00:00:00.0000000Z and (riskLevel eq 'high' or riskLevel eq 'low') and (userId eq 'a' or userId eq 'b' or userPrincipalName eq 'o''brien@contoso.com')"
        )
    );
}

/// `epoch` as `YYYY-MM-DDTHH:MM` (UTC), from GNU date: an independent calendar.
fn utc_minute(epoch: u64) -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M"])
        .output()
        .expect("date runs");
    String::from_utf8(output.stdout).expect("UTF-8").trim().to_string()
}

#[test]
fn first_fetch_is_relative_to_now() {
    let emu = tenant_with(|c| c.risk_detections = detections(3, 1));
    let run = fetch(&fetch_params(&emu, json!({"first_fetch": "3 days"})), None);
    run.expect(0, 1);
    assert!(
        incident_ids(&run).is_empty(),
        "the sample detections are older than 3 days"
    );
    let filter = requests_to(&emu, DETECTIONS)[0].query_value("$filter").unwrap();
    // Three days ago to the minute, written by coreutils' date, not by the crate's calendar.
    let three_days_ago = utc_minute(now() - 3 * 86_400);
    assert!(
        filter.starts_with(&format!("detectedDateTime ge {three_days_ago}")),
        "{filter} does not start at {three_days_ago}"
    );
    fetch(&fetch_params(&emu, json!({"first_fetch": "soonish"})), None)
        .expect(2, 4)
        .says(&["First Fetch Time Interval (first_fetch)"]);
    fetch(&fetch_params(&emu, json!({"max_fetch": "0"})), None)
        .expect(2, 4)
        .says(&["Maximum number of incidents per fetch (max_fetch)"]);
}

#[test]
fn a_failed_fetch_returns_no_cursor() {
    let cases = [
        ScriptedAnswer::html_error(DETECTIONS, 502),
        ScriptedAnswer::truncated_json(DETECTIONS),
        ScriptedAnswer::throttled(DETECTIONS, Some("0")).times(10),
    ];
    for answer in cases {
        let emu = tenant_with(|c| c.risk_detections = detections(3, 1));
        emu.script(answer);
        let run = fetch(
            &fetch_params(&emu, json!({})),
            Some(json!({"latest_detection_found": "2024-01-01T00:00:00Z"})),
        );
        run.expect(1, 4);
        assert!(run.result.get("last_run").is_none() && run.result.get("incidents").is_none());
    }
}

#[test]
fn a_failure_on_a_later_page_loses_nothing() {
    let emu = tenant_with(|c| {
        c.risk_detections = detections(12, 2);
        c.page_cap = 5;
    });
    let params = fetch_params(&emu, json!({}));
    let first = fetch(&params, None);
    first.expect(0, 1);
    let cursor = first.result["last_run"].clone();
    assert_eq!(incident_ids(&first).len(), 12);
    emu.add_detection(json!({"id": "z-late", "detectedDateTime": "2024-06-02T00:00:00Z"}));
    emu.script(ScriptedAnswer::html_error(DETECTIONS, 500));
    fetch(&params, Some(cursor.clone())).expect(1, 4);
    let retry = fetch(&params, Some(cursor));
    assert_eq!(incident_ids(&retry), ["z-late"]);
}

#[test]
fn detections_without_a_time_are_emitted_once() {
    let emu = tenant();
    let page = json!({"value": [{"id": "undated-1", "riskLevel": "high"}, {"id": "dated", "detectedDateTime": "2024-02-01T00:00:00Z"}]}).to_string();
    // Each fetch reads the page twice: the keys, then the chosen detections whole.
    emu.script(ScriptedAnswer::new(DETECTIONS, 200, &page).times(4));
    let params = fetch_params(&emu, json!({}));
    let first = fetch(&params, None);
    assert_eq!(incident_ids(&first), ["undated-1", "dated"]);
    let second = fetch(&params, Some(first.result["last_run"].clone()));
    assert!(incident_ids(&second).is_empty());
    let _: Map<String, Value> = second.result["last_run"].as_object().cloned().unwrap();
}

/// POSTs detections to the emulator's admin endpoint, as a person watching fetch would.
fn post_detections(emu: &Emulator, detections: Value) {
    let url = format!("{}/_emulator/detections", emu.base_url());
    let agent = ureq::Agent::new_with_defaults();
    let answer = agent
        .post(&url)
        .send_json(&detections)
        .expect("the admin endpoint answers");
    assert_eq!(answer.status(), 200);
}

#[test]
fn a_detection_reported_late_is_fetched_once_and_a_later_change_makes_no_second_incident() {
    let emu = tenant_with(|c| c.risk_detections = detections(5, 2));
    let params = fetch_params(&emu, json!({}));
    let (batches, last_run) = fetch_all(&params, None);
    assert_eq!(batches.concat().len(), 5);
    assert_eq!(last_run["latest_detection_found"], "2024-06-01T10:00:02.1234567Z");

    // An offline detection that became visible only now, two hours behind the watermark.
    let late = json!({
        "id": "late-offline", "detectionTimingType": "offline", "riskLevel": "medium",
        "detectedDateTime": "2024-06-01T08:00:02Z", "lastUpdatedDateTime": "2024-06-02T07:00:00Z",
        "userPrincipalName": "adelev@contoso.onmicrosoft.com",
    });
    post_detections(&emu, late.clone());
    emu.clear_requests();
    let run = fetch(&params, Some(last_run.clone()));
    run.expect(0, 1);
    assert_eq!(incident_ids(&run), ["late-offline"]);
    // The look-back: 50 hours behind 2024-06-01T10:00:02.1234567Z.
    assert_eq!(
        requests_to(&emu, DETECTIONS)[0].query_value("$filter").as_deref(),
        Some("detectedDateTime ge 2024-05-30T08:00:02.1234567Z")
    );
    let last_run = run.result["last_run"].clone();
    assert_eq!(
        last_run["latest_detection_found"], "2024-06-01T10:00:02.1234567Z",
        "a late one does not move it back"
    );

    // Later the late one and an early one change level and state: still no new incident.
    let mut changed = late;
    changed["riskLevel"] = json!("high");
    changed["lastUpdatedDateTime"] = json!("2024-06-02T09:00:00Z");
    let mut early = detections(1, 1).pop().unwrap();
    early["riskState"] = json!("dismissed");
    early["lastUpdatedDateTime"] = json!("2024-06-02T09:00:00Z");
    post_detections(&emu, json!({"value": [changed, early]}));
    let (batches, _) = fetch_all(&params, Some(last_run));
    assert!(batches.is_empty(), "changed detections came back as new: {batches:?}");
}

#[test]
fn the_emulator_filters_on_last_updated_date_time_too() {
    let emu = tenant_with(|c| c.risk_detections = detections(3, 1));
    post_detections(
        &emu,
        json!({"id": "touched", "detectedDateTime": "2024-06-01T09:00:00Z", "lastUpdatedDateTime": "2024-06-03T00:00:00Z"}),
    );
    let run = run(&envelope(
        "azure-ad-identity-protection-risks-list",
        json!({"filter_expression": "lastUpdatedDateTime ge 2024-06-02T00:00:00Z"}),
        &app_params(&emu),
        json!({}),
    ));
    run.expect(0, 1);
    let ids: Vec<&str> = run.entry()["Contents"]["value"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(ids, ["touched"]);
}

/// The listings of detections a run asked for, in order: their `$filter` and `$select`.
fn detection_listings(emu: &Emulator) -> Vec<(Option<String>, Option<String>)> {
    requests_to(emu, DETECTIONS)
        .iter()
        .map(|r| (r.query_value("$filter"), r.query_value("$select")))
        .collect()
}

#[test]
fn the_first_read_asks_only_for_keys_and_the_second_only_for_the_chosen_range() {
    let emu = tenant_with(|c| {
        c.risk_detections = detections(30, 1);
        c.page_cap = 7;
        c.shuffle_seed = Some(9);
    });
    let params = fetch_params(&emu, json!({"max_fetch": "4"}));
    let run = fetch(&params, None);
    run.expect(0, 1);
    // The four earliest: det-0000 at 10:00:00 to det-0003 at 10:00:03 (one a second).
    assert_eq!(incident_ids(&run), ["det-0000", "det-0001", "det-0002", "det-0003"]);
    let listings = detection_listings(&emu);
    let keys = Some("id,detectedDateTime".to_string());
    let window = Some("detectedDateTime ge 2024-01-01T00:00:00.0000000Z".to_string());
    // 30 keys in pages of 7: five pages, then one of the chosen range, whole.
    assert_eq!(listings.len(), 6, "{listings:?}");
    assert!(
        listings[..5].iter().all(|l| *l == (window.clone(), keys.clone())),
        "{listings:?}"
    );
    let range = "detectedDateTime ge 2024-06-01T10:00:00.1234567Z and detectedDateTime le 2024-06-01T10:00:03.1234567Z";
    assert_eq!(listings[5], (Some(range.to_string()), None));
    // The incidents hold the detections whole, not the keys the first read asked for.
    let raw: Value = serde_json::from_str(run.result["incidents"][0]["rawJSON"].as_str().unwrap()).unwrap();
    assert_eq!(as_graph_sent(raw, "riskDetection"), detections(30, 1)[0]);
}

/// An incident's rawJSON without the members fetch adds for the pack (docs/protocol.md §3.3),
/// after checking them: the kind, and no mirroring (the instance does not set it).
fn as_graph_sent(mut raw: Value, kind: &str) -> Value {
    let object = raw.as_object_mut().expect("an object");
    let added = ["entra_object_type", "mirror_direction", "mirror_instance"].map(|k| object.remove(k));
    assert_eq!(added, [Some(json!(kind)), Some(Value::Null), Some(Value::Null)]);
    raw
}

#[test]
fn a_graph_that_refuses_select_is_read_in_one_pass() {
    let emu = tenant_with(|c| c.risk_detections = detections(5, 1));
    emu.script(ScriptedAnswer::graph_error(
        DETECTIONS,
        400,
        "BadRequest",
        "Query option '$select' is not allowed.",
    ));
    let params = fetch_params(&emu, json!({"max_fetch": "3"}));
    let run = fetch(&params, None);
    run.expect(0, 1);
    assert_eq!(incident_ids(&run), ["det-0000", "det-0001", "det-0002"]);
    let listings = detection_listings(&emu);
    assert_eq!(listings.len(), 2, "the refused one, then one pass: {listings:?}");
    assert_eq!(listings[1].1, None, "without $select");
}

#[test]
fn a_chosen_detection_gone_before_the_second_read_ends_what_is_emitted_there() {
    let all = detections(6, 1);
    let emu = tenant_with(|c| c.risk_detections = all.clone());
    // The first read (keys) comes from the tenant; the second one answers without det-0002.
    let keys: Vec<Value> = all
        .iter()
        .map(|d| json!({"id": d["id"], "detectedDateTime": d["detectedDateTime"]}))
        .collect();
    emu.script(ScriptedAnswer::new(
        DETECTIONS,
        200,
        &json!({"value": keys}).to_string(),
    ));
    let without = json!({"value": [all[0], all[1], all[3]]}).to_string();
    emu.script(ScriptedAnswer::new(DETECTIONS, 200, &without));
    let params = fetch_params(&emu, json!({"max_fetch": "4"}));
    let first = fetch(&params, None);
    first.expect(0, 1);
    assert_eq!(
        incident_ids(&first),
        ["det-0000", "det-0001"],
        "the prefix before the gap"
    );
    // The next fetches read the tenant as it is: the rest, once each.
    let (batches, _) = fetch_all(&params, Some(first.result["last_run"].clone()));
    let rest: Vec<String> = batches.concat();
    assert_eq!(rest, ["det-0002", "det-0003", "det-0004", "det-0005"]);
}
