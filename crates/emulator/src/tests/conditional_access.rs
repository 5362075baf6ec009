//! Conditional Access named locations and policies, as Microsoft Learn documents them ("Create
//! namedLocation": 201 with the object; "Update ipNamedLocation": 204, `@odata.type` required,
//! Policy.Read.All and Policy.ReadWrite.ConditionalAccess both needed to write; "List policies":
//! Policy.Read.All), and the admin hook that plays a second writer.

use super::*;

const LOCATIONS: &str = "/v1.0/identity/conditionalAccess/namedLocations";
const POLICIES: &str = "/v1.0/identity/conditionalAccess/policies";
const CORPORATE_NETWORK: &str = "3e8a2b1c-5d4f-4a6b-9c7d-0e1f2a3b4c5d";
const BLOCKED_COUNTRIES: &str = "4f9b3c2d-6e5a-4b7c-8d9e-1f2a3b4c5d6e";

fn by_name(name: &str) -> String {
    let literal = name.replace('\'', "''").replace(' ', "%20").replace('\'', "%27");
    format!("{LOCATIONS}?$filter=displayName%20eq%20%27{literal}%27")
}

fn ipv4(cidr: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": cidr})
}

fn ip_location(name: &str, ranges: &[&str]) -> Value {
    json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": name, "isTrusted": false,
        "ipRanges": ranges.iter().map(|r| ipv4(r)).collect::<Vec<_>>()})
}

fn cidrs(location: &Value) -> Vec<String> {
    location["ipRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["cidrAddress"].as_str().map(str::to_owned))
        .collect()
}

impl Harness {
    fn send(&self, method: &str, path: &str, token: &str, body: &Value) -> Answer {
        let url = format!("{}{path}", self.emulator.base_url());
        let auth = format!("Bearer {token}");
        let text = body.to_string();
        let result = match method {
            "PATCH" => self
                .agent
                .patch(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(&text),
            "DELETE" => self.agent.delete(&url).header("Authorization", &auth).call(),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(&text),
        };
        answer(result)
    }

    /// Creates an IP location; returns its id.
    fn create_location(&self, token: &str, name: &str, ranges: &[&str]) -> String {
        let created = self.send("POST", LOCATIONS, token, &ip_location(name, ranges));
        assert_eq!(created.status, 201, "{}", created.text);
        created.json()["id"].as_str().unwrap_or_default().to_owned()
    }

    fn location(&self, id: &str, token: &str) -> Value {
        self.get(&format!("{LOCATIONS}/{id}"), Some(token)).json()
    }

    fn admin_post(&self, path: &str, body: &Value) -> Answer {
        let url = format!("{}{path}", self.emulator.base_url());
        answer(
            self.agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(&body.to_string()),
        )
    }
}

#[test]
fn seeded_locations_and_no_soar_location_yet() {
    let h = Harness::new();
    let token = h.app_token();
    let all = h.pages(LOCATIONS, &token);
    let names: Vec<&str> = all[0]["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["displayName"].as_str())
        .collect();
    assert_eq!(names, ["Corporate network", "Blocked countries"]);
    let context = format!(
        "{}/v1.0/$metadata#identity/conditionalAccess/namedLocations",
        h.emulator.base_url()
    );
    assert_eq!(all[0]["@odata.context"], context.as_str());
    assert_eq!(
        h.get(&by_name("SOAR blocked IP addresses"), Some(&token)).json()["value"],
        json!([])
    );
    let corporate = h.get(&by_name("Corporate network"), Some(&token)).json();
    assert_eq!(corporate["value"][0]["id"], CORPORATE_NETWORK);
    assert_eq!(corporate["value"][0]["isTrusted"], true);
    let two_pages = h.pages(&format!("{LOCATIONS}?$top=1"), &token);
    assert_eq!(two_pages.len(), 2);
    assert_graph_error(&h.get(&format!("{LOCATIONS}/nope"), Some(&token)), 404, "itemNotFound");
}

#[test]
fn create_then_find_by_name_and_get() {
    let h = Harness::new();
    let token = h.app_token();
    let body = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "SOAR blocked IP addresses",
        "isTrusted": false, "ipRanges": [ipv4("203.0.113.7/32"),
        {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:db8::1/128"}]});
    let created = h.send("POST", LOCATIONS, &token, &body);
    assert_eq!(created.status, 201, "{}", created.text);
    let location = created.json();
    assert_eq!(location["@odata.type"], "#microsoft.graph.ipNamedLocation");
    assert_eq!(location["ipRanges"], body["ipRanges"]);
    assert_eq!(location["createdDateTime"], location["modifiedDateTime"]);
    assert!(
        location["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("/namedLocations/$entity"))
    );
    let found = h.get(&by_name("SOAR blocked IP addresses"), Some(&token)).json();
    assert_eq!(found["value"][0]["id"], location["id"]);
    let id = location["id"].as_str().unwrap_or_default();
    assert_eq!(h.location(id, &token)["ipRanges"], body["ipRanges"]);
}

#[test]
fn patch_replaces_the_ranges_and_keeps_the_rest() {
    let h = Harness::new();
    let token = h.app_token();
    let id = h.create_location(&token, "Blocked", &["203.0.113.7/32", "198.51.100.8/32"]);
    let before = h.location(&id, &token);
    let patch = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [ipv4("192.0.2.9/32")]});
    let answer = h.send("PATCH", &format!("{LOCATIONS}/{id}"), &token, &patch);
    assert_eq!((answer.status, answer.text.as_str()), (204, ""));
    let after = h.location(&id, &token);
    assert_eq!(cidrs(&after), ["192.0.2.9/32"]);
    assert_eq!(
        (&after["displayName"], &after["isTrusted"]),
        (&json!("Blocked"), &json!(false))
    );
    assert_eq!(after["createdDateTime"], before["createdDateTime"]);
    let at = |l: &Value, key: &str| l[key].as_str().and_then(wire::parse_instant).unwrap_or_default();
    assert!(at(&after, "modifiedDateTime") >= at(&before, "modifiedDateTime"));
}

#[test]
fn graphs_validation_answers_400() {
    let h = Harness::new();
    let token = h.app_token();
    let id = h.create_location(&token, "Blocked", &["203.0.113.7/32"]);
    let path = format!("{LOCATIONS}/{id}");
    let mut untyped = ip_location("Other", &["203.0.113.8/32"]);
    untyped.as_object_mut().map(|o| o.remove("@odata.type"));
    let ranged = |range: Value| json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "X", "ipRanges": [range]});
    #[rustfmt::skip]
    let cases = [
        ("POST", LOCATIONS.to_owned(), untyped, "@odata.type"),
        ("POST", LOCATIONS.to_owned(), json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [ipv4("203.0.113.8/32")]}), "displayName"),
        ("POST", LOCATIONS.to_owned(), json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "X"}), "at least one IP range"),
        ("POST", LOCATIONS.to_owned(), ip_location("X", &[]), "at least one IP range"),
        ("POST", LOCATIONS.to_owned(), ip_location("X", &["203.0.113.300/32"]), "not a valid IPv4"),
        ("POST", LOCATIONS.to_owned(), ip_location("X", &["2001:db8::/64"]), "not a valid IPv4"),
        ("POST", LOCATIONS.to_owned(), ranged(json!({"cidrAddress": "203.0.113.8/32"})), "@odata.type of each IP range"),
        ("POST", LOCATIONS.to_owned(), ip_location("X", &["10.0.0.0/16"]), "private range"),
        ("POST", LOCATIONS.to_owned(), ip_location("X", &["4.0.0.0/6"]), "too wide"),
        ("POST", LOCATIONS.to_owned(), ip_location("blocked", &["203.0.113.8/32"]), "already exists"),
        ("POST", LOCATIONS.to_owned(), ip_location("Corporate Network", &["203.0.113.8/32"]), "already exists"),
        ("PATCH", path.clone(), json!({"ipRanges": [ipv4("203.0.113.8/32")]}), "@odata.type"),
        ("PATCH", path.clone(), json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "countriesAndRegions": ["FR"]}), "location's own"),
        ("PATCH", path.clone(), json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": []}), "at least one IP range"),
        ("PATCH", path.clone(), json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Corporate network"}), "already exists"),
        ("PATCH", path.clone(), json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "ipRanges": [ipv4("203.0.113.8")]}), "not a valid IPv4"),
    ];
    for (method, path, body, needle) in cases {
        let answer = h.send(method, &path, &token, &body);
        assert_graph_error(&answer, 400, "BadRequest");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(needle), "{method} {body}: {message}");
    }
    assert_eq!(cidrs(&h.location(&id, &token)), ["203.0.113.7/32"], "nothing changed");
    assert_eq!(h.emulator.named_locations().len(), 3, "nothing created");
    let missing = h.send(
        "PATCH",
        &format!("{LOCATIONS}/nope"),
        &token,
        &ip_location("Y", &["203.0.113.8/32"]),
    );
    assert_graph_error(&missing, 404, "itemNotFound");
}

#[test]
fn writing_needs_both_policy_permissions_and_reading_needs_read_all() {
    let writes = ["Policy.Read.All", "Policy.ReadWrite.ConditionalAccess"];
    #[rustfmt::skip]
    let cases: [(&[&str], u16, u16); 4] = [
        (&writes, 200, 201),
        (&["Policy.Read.All"], 200, 403),
        (&["Policy.ReadWrite.ConditionalAccess"], 403, 403),
        (&["IdentityRiskEvent.Read.All"], 403, 403),
    ];
    for (permissions, read, write) in cases {
        let mut config = TenantConfig::default();
        config.apps[1].permissions = permissions.iter().map(|p| p.to_string()).collect();
        let h = Harness::with(config);
        let token = h.app_token();
        for path in [
            LOCATIONS.to_owned(),
            format!("{LOCATIONS}/{CORPORATE_NETWORK}"),
            POLICIES.to_owned(),
        ] {
            assert_eq!(h.get(&path, Some(&token)).status, read, "{permissions:?} GET {path}");
        }
        let created = h.send("POST", LOCATIONS, &token, &ip_location("New", &["203.0.113.8/32"]));
        assert_eq!(created.status, write, "{permissions:?} POST");
        let patch = json!({"@odata.type": "#microsoft.graph.ipNamedLocation", "isTrusted": false});
        let patched = h.send("PATCH", &format!("{LOCATIONS}/{CORPORATE_NETWORK}"), &token, &patch);
        assert_eq!(
            patched.status,
            if write == 201 { 204 } else { 403 },
            "{permissions:?} PATCH"
        );
        if write == 403 {
            assert_graph_error(&created, 403, "Authorization_RequestDenied");
        }
    }
}

#[test]
fn a_second_writer_after_the_next_patch_loses_that_patchs_ranges() {
    let h = Harness::new();
    let token = h.app_token();
    let id = h.create_location(&token, "SOAR blocked IP addresses", &["203.0.113.1/32"]);
    let hook = format!("/_emulator/named-locations/{id}/ranges");
    let armed = h.admin_post(
        &hook,
        &json!({"cidrAddress": "203.0.113.2/32", "after_next_patch": true}),
    );
    assert_eq!(armed.status, 200, "{}", armed.text);
    let mine = json!({"@odata.type": "#microsoft.graph.ipNamedLocation",
        "ipRanges": [ipv4("203.0.113.1/32"), ipv4("203.0.113.3/32")]});
    assert_eq!(h.send("PATCH", &format!("{LOCATIONS}/{id}"), &token, &mine).status, 204);
    assert_eq!(
        cidrs(&h.location(&id, &token)),
        ["203.0.113.1/32", "203.0.113.2/32"],
        "the other writer won"
    );
    let merged = json!({"@odata.type": "#microsoft.graph.ipNamedLocation",
        "ipRanges": [ipv4("203.0.113.1/32"), ipv4("203.0.113.2/32"), ipv4("203.0.113.3/32")]});
    assert_eq!(
        h.send("PATCH", &format!("{LOCATIONS}/{id}"), &token, &merged).status,
        204
    );
    assert_eq!(cidrs(&h.location(&id, &token)).len(), 3, "the hook fired once");
    let now = h.admin_post(&hook, &json!({"cidrAddress": "2001:db8::5/128"}));
    assert_eq!(now.json()["pending"], false);
    assert_eq!(
        cidrs(&h.location(&id, &token)).last().map(String::as_str),
        Some("2001:db8::5/128")
    );
    assert_eq!(h.admin_post(&hook, &json!({"cidrAddress": "10.0.0.1/32"})).status, 400);
    let countries = format!("/_emulator/named-locations/{BLOCKED_COUNTRIES}/ranges");
    assert_eq!(
        h.admin_post(&countries, &json!({"cidrAddress": "203.0.113.9/32"}))
            .status,
        404
    );
    let routes = h.get("/_emulator", None).json()["routes"].to_string();
    assert!(routes.contains("POST /_emulator/named-locations/{id}/ranges"));
}

#[test]
fn delete_unless_a_policy_names_the_location() {
    let h = Harness::new();
    let token = h.app_token();
    let id = h.create_location(&token, "Temporary", &["203.0.113.7/32"]);
    let path = format!("{LOCATIONS}/{id}");
    assert_eq!(h.send("DELETE", &path, &token, &Value::Null).status, 204);
    assert_graph_error(&h.get(&path, Some(&token)), 404, "itemNotFound");
    let used = h.send(
        "DELETE",
        &format!("{LOCATIONS}/{CORPORATE_NETWORK}"),
        &token,
        &Value::Null,
    );
    assert_graph_error(&used, 400, "BadRequest");
}

#[test]
fn policies_list_names_the_seeded_locations() {
    let h = Harness::new();
    let token = h.app_token();
    let pages = h.pages(&format!("{POLICIES}?$top=1"), &token);
    assert_eq!(pages.len(), 2);
    let policies: Vec<Value> = pages.iter().map(|p| p["value"][0].clone()).collect();
    let context = format!(
        "{}/v1.0/$metadata#identity/conditionalAccess/policies",
        h.emulator.base_url()
    );
    assert_eq!(pages[0]["@odata.context"], context.as_str());
    assert_eq!(policies[0]["grantControls"]["builtInControls"], json!(["block"]));
    assert_eq!(
        policies[0]["conditions"]["locations"]["includeLocations"],
        json!([BLOCKED_COUNTRIES])
    );
    assert_eq!(policies[1]["grantControls"]["builtInControls"], json!(["mfa"]));
    assert_eq!(
        policies[1]["conditions"]["locations"]["excludeLocations"],
        json!([CORPORATE_NETWORK])
    );
    let id = policies[0]["id"].as_str().unwrap_or_default();
    assert_eq!(
        h.get(&format!("/beta/identity/conditionalAccess/policies/{id}"), Some(&token))
            .json()["id"],
        id
    );
}
