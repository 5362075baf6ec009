use crate::util::*;
use serde_json::{Value, json};

fn auth_test(emu: &azure_ad_identity_protection::emulator::Emulator, context: &serde_json::Map<String, Value>) -> Run {
    run(&envelope(
        "azure-ad-auth-test",
        json!({}),
        &device_params(emu),
        Value::Object(context.clone()),
    ))
}

#[test]
fn a_cached_token_needs_no_token_request() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    emu.clear_requests();
    let run = auth_test(&emu, &context);
    run.expect(0, 1).says(&["Success"]);
    assert!(requests_to(&emu, TOKEN).is_empty());
    let graph = requests_to(&emu, RISKY_USERS);
    assert_eq!(graph.len(), 1);
    assert_eq!(graph[0].path, "/beta/identityProtection/riskyUsers");
    assert_eq!(graph[0].query_value("$top").as_deref(), Some("1"));
    assert_eq!(
        graph[0].header("authorization"),
        Some(format!("Bearer {}", context["access_token"].as_str().unwrap()).as_str())
    );
    assert_eq!(run.result["context_changed"], false);
}

#[test]
fn an_expired_token_is_refreshed_and_the_refresh_token_rotates() {
    let emu = tenant();
    let mut context = signed_in(&emu, &device_params(&emu));
    let old_refresh = context["current_refresh_token"].clone();
    context.insert("valid_until".into(), json!(now() - 10));
    emu.clear_requests();
    let run = auth_test(&emu, &context);
    run.expect(0, 1);
    let refresh = &requests_to(&emu, TOKEN)[0];
    assert_eq!(refresh.form_value("grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(refresh.form_value("refresh_token").as_deref(), old_refresh.as_str());
    assert_eq!(
        refresh.form_value("client_id").as_deref(),
        Some("4ffef4a4-601f-4393-a789-432f3f3b8470")
    );
    assert!(
        refresh
            .form_value("scope")
            .is_some_and(|s| s.contains("offline_access"))
    );
    assert_eq!(refresh.form_value("client_secret"), None);
    assert_ne!(
        run.context()["current_refresh_token"],
        old_refresh,
        "the new refresh token replaces the old"
    );
    assert_ne!(run.context()["access_token"], context["access_token"]);
}

/// With strict rotation (a used refresh token is invalid afterwards), each invocation must send
/// the refresh token the previous one stored, store the new one, and use the new access token.
#[test]
fn strict_rotation_works_across_invocations() {
    let emu = tenant_with(|c| c.rotate_refresh_tokens_strictly = true);
    let mut context = signed_in(&emu, &device_params(&emu));
    let mut spent = Vec::new();
    for round in 1..=3 {
        let stored = context["current_refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_string();
        context.insert("valid_until".into(), json!(now() - 1));
        let before = emu.requests().len();
        let run = auth_test(&emu, &context);
        run.expect(0, 1);
        let sent: Vec<_> = emu.requests().into_iter().skip(before).collect();
        let paths: Vec<&str> = sent
            .iter()
            .map(|r| r.path.rsplit('/').next().unwrap_or_default())
            .collect();
        assert_eq!(paths, ["token", "riskyUsers"], "round {round}: one refresh, then Graph");
        assert_eq!(sent[0].form_value("grant_type").as_deref(), Some("refresh_token"));
        assert_eq!(
            sent[0].form_value("refresh_token"),
            Some(stored.clone()),
            "round {round}"
        );
        let new = run.context();
        let rotated = new["current_refresh_token"].as_str().expect("a new refresh token");
        assert!(
            rotated != stored && !spent.contains(&rotated.to_string()),
            "round {round}: not rotated"
        );
        let bearer = format!("Bearer {}", new["access_token"].as_str().expect("an access token"));
        assert_eq!(sent[1].header("Authorization"), Some(bearer.as_str()), "round {round}");
        spent.push(stored);
        context = new.as_object().cloned().expect("a context");
    }
    // Each spent token is refused now, as Entra refuses a reused one under strict rotation.
    for old in spent {
        let mut stale = context.clone();
        stale.insert("current_refresh_token".into(), json!(old));
        stale.insert("valid_until".into(), json!(now() - 1));
        auth_test(&emu, &stale).expect(1, 4).says(&["AADSTS70000"]);
    }
}

#[test]
fn python_contexts_are_accepted() {
    let emu = tenant();
    let ours = signed_in(&emu, &device_params(&emu));
    for valid_until in [json!(now() + 600), json!((now() + 600).to_string())] {
        let python = json!({"access_token": ours["access_token"], "valid_until": valid_until, "current_refresh_token": ours["current_refresh_token"], "device_code": "used-device-code"});
        emu.clear_requests();
        auth_test(&emu, python.as_object().unwrap()).expect(0, 1);
        assert!(
            requests_to(&emu, TOKEN).is_empty(),
            "valid_until {valid_until} is honoured"
        );
    }
    let expired = json!({"access_token": "python-access-token", "valid_until": (now() - 5).to_string(), "current_refresh_token": ours["current_refresh_token"]});
    let run = auth_test(&emu, expired.as_object().unwrap());
    run.expect(0, 1);
    assert!(
        run.context()["token_owner"].is_object(),
        "renewed tokens get an owner record"
    );
}

#[test]
fn graph_401_renews_once_and_retries_once() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    emu.expire_access_tokens();
    emu.clear_requests();
    let run = auth_test(&emu, &context);
    run.expect(0, 1);
    let order: Vec<String> = emu
        .requests()
        .iter()
        .map(|r| r.path.rsplit('/').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(order, ["riskyUsers", "token", "riskyUsers"]);
}

#[test]
fn a_second_401_is_an_error_not_a_loop() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    let body = r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}"#;
    emu.script(azure_ad_identity_protection::emulator::ScriptedAnswer::new(RISKY_USERS, 401, body).times(5));
    emu.clear_requests();
    let run = auth_test(&emu, &context);
    run.expect(1, 4).says(&["401", "InvalidAuthenticationToken"]);
    assert_eq!(requests_to(&emu, RISKY_USERS).len(), 2);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
}

#[test]
fn a_revoked_sign_in_says_reset_then_start_and_keeps_the_context() {
    let emu = tenant();
    let mut context = signed_in(&emu, &device_params(&emu));
    context.insert("valid_until".into(), json!(now() - 1));
    emu.revoke_refresh_tokens();
    let run = auth_test(&emu, &context);
    run.expect(1, 4)
        .says(&["AADSTS50173", "!azure-ad-auth-reset", "!azure-ad-auth-start"]);
    assert_eq!(run.context(), &Value::Object(context));
}

#[test]
fn tokens_of_another_app_tenant_or_cloud_are_never_used() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    let changes = [
        ("app_id", json!("12345678-1234-4234-8234-123456789012")),
        ("tenant_id", json!("another-tenant.onmicrosoft.com")),
        (
            "azure_ad_endpoint",
            json!(emu.base_url().replace("127.0.0.1", "localhost")),
        ),
    ];
    for (name, value) in changes {
        let mut params = device_params(&emu);
        params[name] = value;
        emu.clear_requests();
        let run = run(&envelope(
            "azure-ad-auth-test",
            json!({}),
            &params,
            Value::Object(context.clone()),
        ));
        run.expect(1, 4)
            .says(&["another app ID, tenant or cloud", "!azure-ad-auth-start"]);
        assert!(
            emu.requests().is_empty(),
            "{name}: nothing may be sent with another configuration's tokens"
        );
    }
}

#[test]
fn an_unusable_token_owner_is_not_taken_for_a_python_era_context() {
    let emu = tenant();
    let signed = signed_in(&emu, &device_params(&emu));
    for record in [json!({}), json!(null), json!({"auth_mode": "device_code"})] {
        let mut context = signed.clone();
        context.insert("token_owner".into(), record.clone());
        context.insert("valid_until".into(), json!(now() - 1));
        emu.clear_requests();
        let run = auth_test(&emu, &context);
        run.expect(1, 4).says(&["!azure-ad-auth-start"]);
        assert!(
            emu.requests().is_empty(),
            "token_owner {record}: the refresh token was sent"
        );
        assert_eq!(
            run.context(),
            &Value::Object(context),
            "token_owner {record}: context kept"
        );
    }
}

#[test]
fn switching_to_client_credentials_replaces_delegated_tokens() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    emu.clear_requests();
    let run = run(&envelope(
        "azure-ad-auth-test",
        json!({}),
        &app_params(&emu),
        Value::Object(context.clone()),
    ));
    run.expect(0, 1);
    assert_eq!(
        requests_to(&emu, TOKEN)[0].form_value("grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_ne!(run.context()["access_token"], context["access_token"]);
    assert!(
        run.context().get("current_refresh_token").is_none(),
        "the delegated refresh token is not kept under the app's owner"
    );
}

#[test]
fn test_module_in_device_mode_without_sign_in_explains_auth_start() {
    let emu = tenant();
    run(&envelope("test-module", json!({}), &device_params(&emu), json!({})))
        .expect(1, 4)
        .says(&["!azure-ad-auth-start"]);
    assert!(emu.requests().is_empty());
}

#[test]
fn v1_0_is_used_when_asked() {
    let emu = tenant();
    let mut params = device_params(&emu);
    let context = signed_in(&emu, &params);
    params["api_version"] = json!("v1.0");
    emu.clear_requests();
    run(&envelope(
        "azure-ad-auth-test",
        json!({}),
        &params,
        Value::Object(context),
    ))
    .expect(0, 1);
    assert_eq!(
        requests_to(&emu, RISKY_USERS)[0].path,
        "/v1.0/identityProtection/riskyUsers"
    );
}
