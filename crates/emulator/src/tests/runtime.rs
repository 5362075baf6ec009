//! The runtime surface: the device-login form, the admin endpoint, fault plans, discovery,
//! MSAL's `client_info` and the instance parameters.

use super::*;

impl Harness {
    fn admin(&self, method: &str, route: &str, body: &str) -> Answer {
        let url = format!("{}/_emulator/{route}", self.emulator.base_url());
        match method {
            "GET" => answer(self.agent.get(&url).call()),
            _ => answer(
                self.agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body),
            ),
        }
    }

    /// Starts a device flow and returns (device code, user code).
    fn device_codes(&self) -> (String, String) {
        let code = self.device_code(USER_SCOPE);
        (code, self.emulator.last_user_code().unwrap_or_default())
    }
}

#[test]
fn device_login_page_is_a_plain_form() {
    let h = Harness::new();
    let page = h.get("/devicelogin", None);
    assert_eq!(page.status, 200);
    assert!(page.header("Content-Type").is_some_and(|t| t.starts_with("text/html")));
    for needle in [
        "<form method=\"post\"",
        "name=\"user_code\"",
        "value=\"approve\"",
        "value=\"deny\"",
    ] {
        assert!(page.text.contains(needle), "{needle}");
    }
    assert!(!page.text.to_lowercase().contains("<script"));
}

#[test]
fn device_login_form_settles_codes() {
    let h = Harness::new();
    #[rustfmt::skip]
    let cases = [
        // (what happens to the code first, action, form status, page says, then the poll answers)
        ("fresh", "approve", 200, "approved", Ok(())),
        ("fresh", "deny", 200, "denied", Err("authorization_declined")),
        ("unknown", "approve", 400, "unknown", Err("authorization_pending")),
        ("expired", "approve", 400, "expired", Err("expired_token")),
        ("fresh", "maybe", 400, "Choose Approve or Deny", Err("authorization_pending")),
    ];
    for (setup, action, status, needle, poll) in cases {
        let (device_code, user_code) = h.device_codes();
        let typed = match setup {
            "unknown" => "NOSUCHCD".to_owned(),
            "expired" => {
                h.emulator.expire_device_codes();
                user_code.to_lowercase()
            }
            _ => user_code.clone(),
        };
        let page = h.post("/devicelogin", &[("user_code", &typed), ("action", action)]);
        assert_eq!(page.status, status, "{setup} {action}: {}", page.text);
        assert!(page.text.contains(needle), "{setup} {action}: {}", page.text);
        let polled = h.poll(&device_code);
        match poll {
            Ok(()) => assert_eq!(polled.status, 200, "{}", polled.text),
            Err(error) => assert_eq!(polled.json()["error"], error, "{setup} {action}"),
        }
    }
}

#[test]
fn auto_approve_signs_in_on_the_first_poll() {
    let h = Harness::new();
    h.emulator.set_auto_approve(true);
    let (device_code, _) = h.device_codes();
    assert_eq!(h.poll(&device_code).status, 200);
    h.emulator.set_auto_approve(false);
    let (device_code, _) = h.device_codes();
    assert_eq!(h.poll(&device_code).json()["error"], "authorization_pending");
}

#[test]
fn client_info_and_id_token_claims_match_msal() {
    let h = Harness::new();
    let (device_code, user_code) = h.device_codes();
    assert!(h.emulator.approve(&user_code));
    let tokens = h
        .token(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", PUBLIC_APP),
            ("device_code", &device_code),
            ("client_info", "1"),
        ])
        .json();
    let info = tokens["client_info"]
        .as_str()
        .and_then(base64url_decode)
        .unwrap_or_default();
    let info: Value = serde_json::from_slice(&info).unwrap_or(Value::Null);
    assert_eq!(info, json!({"uid": h.config.user.object_id, "utid": h.tenant()}));
    let id = claims(tokens["id_token"].as_str().unwrap_or_default());
    let issuer = format!("{}/{}/v2.0", h.emulator.base_url(), h.tenant());
    assert_eq!(
        (id["iss"].as_str(), id["ver"].as_str()),
        (Some(issuer.as_str()), Some("2.0"))
    );
    assert_eq!(
        (id["aud"].as_str(), id["tid"].as_str()),
        (Some(PUBLIC_APP), Some(h.tenant().as_str()))
    );
    for claim in ["exp", "iat", "nbf", "oid", "preferred_username", "sub"] {
        assert!(!id[claim].is_null(), "{claim}");
    }
    let refreshed = h.token(&[
        ("grant_type", "refresh_token"),
        ("client_id", PUBLIC_APP),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap_or_default()),
        ("client_info", "1"),
    ]);
    assert!(refreshed.json()["client_info"].is_string());
    let without = h
        .refresh(refreshed.json()["refresh_token"].as_str().unwrap_or_default())
        .json();
    assert!(without.get("client_info").is_none());
}

#[test]
fn openid_configuration_points_here() {
    let h = Harness::new();
    let base = h.emulator.base_url();
    let tenant = h.tenant();
    #[rustfmt::skip]
    let cases = [
        (tenant.clone(), format!("{base}/{tenant}/v2.0"), tenant.clone()),
        (h.config.tenant_domain.clone(), format!("{base}/{tenant}/v2.0"), tenant.clone()),
        ("organizations".to_owned(), format!("{base}/{{tenantid}}/v2.0"), "organizations".to_owned()),
    ];
    for (segment, issuer, in_urls) in cases {
        let doc = h
            .get(&format!("/{segment}/v2.0/.well-known/openid-configuration"), None)
            .json();
        assert_eq!(doc["issuer"], issuer, "{segment}");
        assert_eq!(doc["token_endpoint"], format!("{base}/{in_urls}/oauth2/v2.0/token"));
        assert_eq!(
            doc["device_authorization_endpoint"],
            format!("{base}/{in_urls}/oauth2/v2.0/devicecode")
        );
        for key in [
            "authorization_endpoint",
            "jwks_uri",
            "response_types_supported",
            "scopes_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
            "token_endpoint_auth_methods_supported",
            "tenant_region_scope",
            "cloud_instance_name",
            "msgraph_host",
        ] {
            assert!(doc.get(key).is_some(), "{segment}: {key}");
        }
    }
    let unknown = h.get("/someone-else/v2.0/.well-known/openid-configuration", None);
    assert_eq!(
        (unknown.status, unknown.json()["error"].as_str()),
        (400, Some("invalid_tenant"))
    );
}

/// Every token the emulator issues is an RS256 JWT that verifies with the key its JWKS (found
/// through the discovery document's `jwks_uri`) publishes under the token's `kid`.
#[test]
fn issued_tokens_verify_with_the_published_key_set() {
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
    let h = Harness::new();
    let tenant = h.tenant();
    let doc = h
        .get(&format!("/{tenant}/v2.0/.well-known/openid-configuration"), None)
        .json();
    let keys = h.get(doc["jwks_uri"].as_str().expect("jwks_uri"), None).json();
    let signed_in = h.sign_in("https://graph.microsoft.com/.default offline_access openid profile");
    let tokens = [
        h.client_credentials()["access_token"].clone(),
        signed_in["access_token"].clone(),
        signed_in["id_token"].clone(),
    ];
    for token in tokens.iter().map(|t| t.as_str().expect("a token")) {
        let (input, signature) = token.rsplit_once('.').expect("three segments");
        let header: Value = serde_json::from_slice(&b64(input.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], "RS256");
        let jwk = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .expect("the token's kid is published");
        let key = RsaPublicKeyComponents {
            n: b64(jwk["n"].as_str().unwrap()),
            e: b64(jwk["e"].as_str().unwrap()),
        };
        let verified = key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &b64(signature));
        assert!(verified.is_ok(), "{header}");
        let forged = key.verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{input}x").as_bytes(),
            &b64(signature),
        );
        assert!(forged.is_err());
    }
}

fn b64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

#[test]
fn instance_discovery_answers_like_msal_expects() {
    let h = Harness::new();
    let base = h.emulator.base_url();
    let host = base.trim_start_matches("http://");
    let query = format!(
        "api-version=1.1&authorization_endpoint={base}/{}/oauth2/v2.0/authorize",
        h.tenant()
    );
    let doc = h.get(&format!("/common/discovery/instance?{query}"), None).json();
    let expected = format!("{base}/{}/v2.0/.well-known/openid-configuration", h.tenant());
    assert_eq!(doc["tenant_discovery_endpoint"], expected);
    assert_eq!(doc["api-version"], "1.1");
    assert_eq!(
        doc["metadata"],
        json!([{"preferred_network": host, "preferred_cache": host, "aliases": [host]}])
    );
}

#[test]
fn fault_plan_throttles_fails_and_delays() {
    let h = Harness::new();
    let token = h.app_token();
    #[rustfmt::skip]
    let cases = [
        (FaultPlan { throttle_every: Some(2), ..FaultPlan::default() }, [200, 429, 200, 429, 200, 429], None),
        (FaultPlan { throttle_every: Some(3), throttle_retry_after: Some(1), ..FaultPlan::default() }, [200, 200, 429, 200, 200, 429], Some("1")),
        (FaultPlan { fail_every: Some(2), throttle_every: Some(3), ..FaultPlan::default() }, [200, 503, 429, 503, 200, 429], None),
        (FaultPlan::default(), [200; 6], None),
    ];
    for (plan, statuses, retry_after) in cases {
        h.emulator.set_faults(plan.clone());
        let answers: Vec<Answer> = (0..6).map(|_| h.get(RISKY_USERS, Some(&token))).collect();
        let got: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(got, statuses, "{plan:?}");
        let throttled = answers.iter().find(|a| a.status == 429);
        assert_eq!(throttled.and_then(|a| a.header("Retry-After")), retry_after, "{plan:?}");
    }
    h.emulator.set_faults(FaultPlan {
        throttle_every: Some(1),
        ..FaultPlan::default()
    });
    assert_eq!(h.client_credentials()["error"], "temporarily_unavailable");
}

#[test]
fn fault_plan_latency_and_slow_down() {
    let h = Harness::new();
    h.emulator.set_faults(FaultPlan {
        latency_ms: 150,
        slow_down: true,
        ..FaultPlan::default()
    });
    assert!(h.emulator.faults().slow_down);
    let (device_code, _) = h.device_codes();
    let started = Instant::now();
    assert_eq!(h.poll(&device_code).json()["error"], "slow_down");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(!h.emulator.faults().slow_down);
    assert_eq!(h.poll(&device_code).json()["error"], "authorization_pending");
}

#[test]
fn admin_faults_round_trip() {
    let h = Harness::new();
    let set = h.admin(
        "POST",
        "faults",
        r#"{"throttle_every": 4, "throttle_retry_after": 2, "latency_ms": 0}"#,
    );
    assert_eq!(set.status, 200, "{}", set.text);
    let expected = json!({"throttle_every": 4, "throttle_retry_after": 2, "fail_every": null, "latency_ms": 0, "slow_down": false});
    assert_eq!(h.admin("GET", "faults", "").json(), expected);
    assert_eq!(h.emulator.faults().throttle_every, Some(4));
    let cleared = h.admin("POST", "faults", r#"{"throttle_every": null}"#).json();
    assert_eq!(cleared["throttle_every"], Value::Null);
    assert_eq!(cleared["throttle_retry_after"], 2);
    let bad = h.admin("POST", "faults", r#"{"throttle_every": "x"}"#);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("throttle_every"))
    );
}

#[test]
fn admin_token_routes() {
    let h = Harness::new();
    let tokens = h.sign_in(USER_SCOPE);
    let access = tokens["access_token"].as_str().unwrap_or_default();
    assert_eq!(h.admin("POST", "expire-tokens", "").status, 200);
    assert_graph_error(&h.get(RISKY_USERS, Some(access)), 401, "InvalidAuthenticationToken");
    assert_eq!(h.admin("POST", "revoke-refresh-tokens", "").status, 200);
    let refreshed = h.refresh(tokens["refresh_token"].as_str().unwrap_or_default());
    assert_entra_error(&refreshed, 400, "invalid_grant", 50173);
}

/// The test issuer's tokens: the asked-for subject and lifetime, and every hostile body refused.
#[test]
fn admin_federated_tokens_are_bounded() {
    let h = Harness::new();
    let answer = h.admin(
        "POST",
        "federated-token",
        r#"{"subject": "system:serviceaccount:a:b", "lifetime_secs": 120}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    let claims = claims(body["token"].as_str().expect("a token"));
    assert_eq!(claims["sub"], "system:serviceaccount:a:b");
    assert_eq!(claims["iss"], crate::config::TEST_FEDERATED_ISSUER);
    assert_eq!(claims["aud"], json!([crate::config::FEDERATED_AUDIENCE]));
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(), 120);
    assert_eq!(
        h.admin("POST", "federated-token", "").status,
        200,
        "an empty body takes the defaults"
    );
    let long = format!(r#"{{"subject": "{}"}}"#, "s".repeat(1025));
    for hostile in [
        r#"{"lifetime_secs": 0}"#,
        r#"{"lifetime_secs": 86401}"#,
        r#"{"lifetime_secs": 1e300}"#,
        r#"{"lifetime_secs": -1}"#,
        r#"{"lifetime_secs": "60"}"#,
        r#"{"subject": ""}"#,
        r#"{"subject": 5}"#,
        long.as_str(),
        "[]",
        "5",
        "not json",
    ] {
        let refused = h.admin("POST", "federated-token", hostile);
        assert_eq!(refused.status, 400, "{hostile}: {}", refused.text);
        assert!(refused.json()["token"].is_null());
    }
}

#[test]
fn admin_approves_and_denies() {
    let h = Harness::new();
    #[rustfmt::skip]
    let cases = [
        ("approve", true, 200, Ok(())),
        ("deny", true, 200, Err("authorization_declined")),
        ("approve", false, 404, Err("authorization_pending")),
    ];
    for (route, known, status, poll) in cases {
        let (device_code, user_code) = h.device_codes();
        let typed = if known { user_code } else { "NOSUCHCD".to_owned() };
        let answer = h.admin("POST", route, &json!({"user_code": typed}).to_string());
        assert_eq!(answer.status, status, "{route}: {}", answer.text);
        let polled = h.poll(&device_code);
        match poll {
            Ok(()) => assert_eq!(polled.status, 200),
            Err(error) => assert_eq!(polled.json()["error"], error),
        }
    }
    let body = json!({"user_code": h.emulator.last_user_code()}).to_string();
    let statuses = [
        h.admin("POST", "approve", &body).status,
        h.admin("POST", "deny", &body).status,
    ];
    assert_eq!(statuses, [200, 409], "a settled code stays settled");
}

#[test]
fn admin_detections_are_served_by_graph() {
    let h = Harness::new();
    let token = h.app_token();
    let one = h.admin(
        "POST",
        "detections",
        r#"{"riskEventType": "newCountry", "riskLevel": "high"}"#,
    );
    assert_eq!(
        (one.status, one.json()["added"].as_u64()),
        (200, Some(1)),
        "{}",
        one.text
    );
    let many = r#"{"value": [{"id": "fixed-1", "detectedDateTime": "2024-07-01T00:00:00Z"}, {"riskLevel": "low"}]}"#;
    assert_eq!(h.admin("POST", "detections", many).json()["added"], 2);
    let detections = field_of_all(&h.pages(DETECTIONS, &token), "id");
    assert_eq!(detections.len(), 11);
    assert!(detections.contains(&"fixed-1".to_owned()));
    let added = h.emulator.risk_detections();
    assert!(
        added
            .iter()
            .all(|d| d["detectedDateTime"].is_string() && d["id"].is_string())
    );
    #[rustfmt::skip]
    let bad = [("[1]", "not a JSON object"), (r#"{"value": 3}"#, "must be an array"), ("{", "not valid JSON")];
    for (body, needle) in bad {
        let answer = h.admin("POST", "detections", body);
        assert_eq!(answer.status, 400, "{body}");
        assert!(answer.text.contains(needle), "{body}: {}", answer.text);
    }
}

#[test]
fn admin_request_log_has_no_secrets_or_queries() {
    let h = Harness::new();
    h.client_credentials();
    h.get(&format!("{RISKY_USERS}?$top=1"), None);
    let log = h.admin("GET", "requests", "").json();
    let expected = json!({"requests": [
        {"method": "POST", "path": format!("/{}/oauth2/v2.0/token", h.tenant()), "status": 200},
        {"method": "GET", "path": RISKY_USERS, "status": 401},
    ]});
    assert_eq!(log, expected);
    assert_eq!(h.emulator.requests().len(), 2, "admin requests are not recorded");
    assert_eq!(h.admin("GET", "nothing", "").status, 404);
    assert!(h.admin("GET", "", "").json()["routes"].is_array());
}

#[test]
fn admin_refuses_peers_that_are_not_loopback() {
    let mut state = State::new(TenantConfig::default(), "http://127.0.0.1:1".to_owned());
    let host = vec![("Host".to_owned(), "127.0.0.1:1".to_owned())];
    let request = RecordedRequest::new("GET", "/_emulator/faults", host, String::new());
    let cases = [(false, 403), (true, 200)];
    for (loopback, status) in cases {
        assert_eq!(handle(&mut state, request.clone(), loopback).status, status);
    }
}

#[test]
fn instance_params_describe_this_tenant() {
    let h = Harness::new();
    let base = h.emulator.base_url();
    let params = h.emulator.instance_params();
    let expected = json!({
        "azure_ad_endpoint": base, "graph_endpoint": base, "tenant_id": h.tenant(),
        "app_id": h.config.apps[1].client_id, "client_credentials": "true",
        "credentials": {"identifier": "", "password": h.config.apps[1].client_secret},
    });
    assert_eq!(params, expected);
    let device = h.emulator.device_code_params();
    let expected =
        json!({"azure_ad_endpoint": base, "graph_endpoint": base, "tenant_id": h.tenant(), "app_id": PUBLIC_APP});
    assert_eq!(device, expected);
    assert_eq!(h.emulator.ca_file(), None);
}

#[test]
fn client_credentials_over_tls_with_the_embedded_ca() {
    let config = TenantConfig::default();
    let options = ServeOptions {
        tls: true,
        tenant: config.clone(),
        ..ServeOptions::default()
    };
    let emulator = Emulator::serve(options).expect("the TLS emulator starts");
    let base = emulator.base_url();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");
    let ca_file = emulator.ca_file().expect("a CA file");
    let pem = std::fs::read(&ca_file).unwrap_or_default();
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    assert_eq!(certs.len(), 1);
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let app = &config.apps[1];
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_deref().unwrap_or_default()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let url = format!("{base}/{}/oauth2/v2.0/token", config.tenant_id);
    for _ in 0..2 {
        let answer = answer(agent.post(&url).send_form(form));
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert!(answer.json()["access_token"].is_string());
    }
    let plain = ureq::Agent::config_builder().proxy(None).build().new_agent();
    assert!(
        plain.get(&base.replace("https", "http")).call().is_err(),
        "plain HTTP is off"
    );
    drop(emulator);
    assert!(!ca_file.exists(), "the CA file is removed on drop");
}
