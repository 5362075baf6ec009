use crate::util::*;
use azure_ad_identity_protection::emulator::{AppRegistration, Emulator, ScriptedAnswer, TenantConfig};

type Act = fn(&Emulator);
use serde_json::{Value, json};

const DEVICECODE: &str = "/oauth2/v2.0/devicecode";

fn start(emu: &Emulator, context: Value) -> Run {
    run(&envelope(
        "azure-ad-auth-start",
        json!({}),
        &device_params(emu),
        context,
    ))
}

/// The claims of a JWT, decoded without checking its signature (the emulator checks that).
fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn complete(emu: &Emulator, args: Value, context: &Value) -> Run {
    run(&envelope(
        "azure-ad-auth-complete",
        args,
        &device_params(emu),
        context.clone(),
    ))
}

#[test]
fn start_asks_for_a_code_and_tells_the_person_what_to_do() {
    let emu = tenant();
    let before =
        json!({"access_token": "old-access-token", "valid_until": 1, "current_refresh_token": "old-refresh-token"});
    let run = start(&emu, before);
    run.expect(0, 1)
        .says(&["](http", "devicelogin", "!azure-ad-auth-complete"]);
    let user_code = emu.last_user_code().expect("a code was issued");
    run.says(&[&format!("**{user_code}**")]);

    let request = &requests_to(&emu, DEVICECODE)[0];
    let tenant_id = device_params(&emu)["tenant_id"].as_str().unwrap().to_string();
    assert_eq!(request.path, format!("/{tenant_id}{DEVICECODE}"));
    assert_eq!(
        request.form_value("client_id").as_deref(),
        Some("4ffef4a4-601f-4393-a789-432f3f3b8470")
    );
    let scope = request.form_value("scope").expect("scope");
    for permission in [
        "offline_access",
        "IdentityRiskEvent.Read.All",
        "IdentityRiskyUser.ReadWrite.All",
    ] {
        assert!(scope.contains(permission), "{scope}");
    }

    let context = run.context();
    assert!(context["device_code"].as_str().is_some_and(|c| c.len() > 10));
    assert_eq!(context["user_code"], json!(user_code));
    assert!(context["device_code_expires_at"].as_u64().unwrap() > now() + 800);
    assert_eq!(context["device_code_interval"], 5);
    // Existing tokens stay until the new sign-in completes.
    assert_eq!(context["current_refresh_token"], "old-refresh-token");
    let auth = &run.entry()["EntryContext"]["AADIdentityProtection.Auth"];
    assert_eq!(
        (auth["UserCode"].as_str(), auth["Interval"].as_u64()),
        (Some(user_code.as_str()), Some(5))
    );
}

#[test]
fn start_without_tenant_uses_organizations() {
    let emu = tenant();
    let mut params = device_params(&emu);
    params.as_object_mut().unwrap().remove("tenant_id");
    run(&envelope("azure-ad-auth-start", json!({}), &params, json!({}))).expect(0, 1);
    assert_eq!(
        requests_to(&emu, DEVICECODE)[0].path,
        format!("/organizations{DEVICECODE}")
    );
}

#[test]
fn full_sign_in_stores_tokens_and_drops_the_device_code() {
    let emu = tenant();
    let started = start(&emu, json!({}));
    assert!(emu.approve(&emu.last_user_code().unwrap()));
    let run = complete(&emu, json!({}), started.context());
    run.expect(0, 1)
        .says(&["Authorization completed successfully", "Signed in as"]);

    let request = &requests_to(&emu, TOKEN)[0];
    assert_eq!(
        request.form_value("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert_eq!(
        request.form_value("device_code").as_deref(),
        started.context()["device_code"].as_str()
    );
    assert_eq!(request.form_value("client_secret"), None);

    let context = run.context();
    // The access token is one the emulator signed for its signed-in user and this app.
    let access = context["access_token"].as_str().expect("an access token").to_string();
    let claims = jwt_claims(&access);
    let user = TenantConfig::default().user;
    assert_eq!(
        (claims["upn"].as_str(), claims["oid"].as_str(), claims["appid"].as_str()),
        (
            Some(user.user_principal_name.as_str()),
            Some(user.object_id.as_str()),
            Some("4ffef4a4-601f-4393-a789-432f3f3b8470")
        ),
        "{claims:?}"
    );
    // valid_until is the token's expiry less the README's margin: 5 minutes, at most a tenth of
    // the lifetime (3599 s here, so 300 s).
    let valid_until = context["valid_until"].as_u64().expect("valid_until is a number");
    let expires = claims["exp"].as_u64().expect("exp");
    assert!(
        valid_until.abs_diff(expires - 300) <= 2,
        "valid_until {valid_until}, exp {expires}"
    );
    assert_eq!(context["token_owner"]["auth_mode"], "device_code");
    assert_eq!(
        run.text(),
        format!(
            "✅ Authorization completed successfully. Signed in as {} (tenant {}).",
            user.user_principal_name,
            TenantConfig::default().tenant_id
        )
    );

    // Graph accepts the stored access token as it is: the emulator issued it.
    let mut stored = context.as_object().cloned().expect("a context");
    let before = emu.requests().len();
    let auth_test = |context: &serde_json::Map<String, Value>| {
        crate::util::run(&envelope(
            "azure-ad-auth-test",
            json!({}),
            &device_params(&emu),
            json!(context),
        ))
    };
    auth_test(&stored).expect(0, 1);
    let sent: Vec<_> = emu.requests().into_iter().skip(before).collect();
    assert_eq!(sent.len(), 1, "no token request with a fresh token");
    assert_eq!(
        sent[0].header("Authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    // And the emulator redeems the stored refresh token: it issued that one too.
    let refresh = context["current_refresh_token"].as_str().expect("a refresh token");
    stored.insert("valid_until".into(), json!(now() - 1));
    let before = emu.requests().len();
    auth_test(&stored).expect(0, 1);
    let refreshed = &emu.requests()[before];
    assert_eq!(refreshed.form_value("refresh_token").as_deref(), Some(refresh));
    for key in [
        "device_code",
        "user_code",
        "device_code_expires_at",
        "device_code_interval",
    ] {
        assert!(context.get(key).is_none(), "{key} should be gone");
    }
    let auth = &run.entry()["EntryContext"]["AADIdentityProtection.Auth"];
    assert!(auth["UserPrincipalName"].as_str().is_some_and(|u| u.contains('@')));
}

#[test]
fn pending_keeps_the_code_and_does_not_poll_again_too_soon() {
    let emu = tenant();
    let started = start(&emu, json!({}));
    let pending = complete(&emu, json!({}), started.context());
    pending
        .expect(1, 4)
        .says(&["not finished yet", &emu.last_user_code().unwrap(), "devicelogin"]);
    let context = pending.context();
    assert_eq!(context["device_code"], started.context()["device_code"]);
    assert!(context["device_code_next_poll_at"].as_u64().unwrap() >= now() + 4);

    let again = complete(&emu, json!({}), context);
    again.expect(1, 4).says(&["not finished yet"]);
    assert_eq!(
        requests_to(&emu, TOKEN).len(),
        1,
        "the second call must not reach Entra ID"
    );
}

#[test]
fn slow_down_records_a_longer_interval() {
    let emu = tenant();
    let started = start(&emu, json!({}));
    emu.slow_down_next_poll();
    let slowed = complete(&emu, json!({}), started.context());
    slowed.expect(1, 4).says(&["poll less often"]);
    assert_eq!(slowed.context()["device_code_interval"], 10);
    assert!(slowed.context()["device_code_next_poll_at"].as_u64().unwrap() >= now() + 9);
    complete(&emu, json!({}), slowed.context()).expect(1, 4);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
}

#[test]
fn terminal_answers_drop_the_code_and_say_to_start_again() {
    let cases: [(&str, Act); 2] = [
        ("declined", |emu| assert!(emu.decline(&emu.last_user_code().unwrap()))),
        ("expired", |emu| emu.expire_device_codes()),
    ];
    for (needle, act) in cases {
        let emu = tenant();
        let started = start(&emu, json!({"current_refresh_token": "keep-this-token"}));
        act(&emu);
        let run = complete(&emu, json!({}), started.context());
        run.expect(1, 4).says(&[needle, "!azure-ad-auth-start"]);
        assert!(run.context().get("device_code").is_none());
        assert_eq!(
            run.context()["current_refresh_token"],
            "keep-this-token",
            "a failure never wipes tokens"
        );
    }
}

#[test]
fn unknown_device_code_is_bad_verification_code() {
    let emu = tenant();
    let context = json!({"device_code": "not-a-code-entra-issued", "user_code": "ABCD1234", "verification_uri": "https://microsoft.com/devicelogin"});
    let run = complete(&emu, json!({}), &context);
    run.expect(1, 4)
        .says(&["bad_verification_code", "!azure-ad-auth-start"]);
    assert_eq!(run.context(), &json!({}));
}

#[test]
fn python_context_with_only_a_device_code_is_redeemed() {
    let emu = tenant();
    let started = start(&emu, json!({}));
    emu.approve(&emu.last_user_code().unwrap());
    let python_context = json!({"device_code": started.context()["device_code"]});
    complete(&emu, json!({}), &python_context).expect(0, 1);
}

#[test]
fn without_a_code_it_says_to_start_and_sends_nothing() {
    let emu = tenant();
    complete(&emu, json!({}), &json!({}))
        .expect(1, 4)
        .says(&["!azure-ad-auth-start"]);
    assert!(emu.requests().is_empty());
}

#[test]
fn already_signed_in_without_a_code_is_a_note() {
    let emu = tenant();
    let context = signed_in(&emu, &device_params(&emu));
    emu.clear_requests();
    complete(&emu, json!({}), &Value::Object(context))
        .expect(0, 1)
        .says(&["already signed in"]);
    assert!(emu.requests().is_empty());
}

#[test]
fn a_locally_expired_code_is_dropped_without_a_request() {
    let emu = tenant();
    let context =
        json!({"device_code": "some-device-code", "user_code": "ABCD1234", "device_code_expires_at": now() - 1});
    let run = complete(&emu, json!({}), &context);
    run.expect(1, 4).says(&["expired", "!azure-ad-auth-start"]);
    assert!(run.context().get("device_code").is_none());
    assert!(emu.requests().is_empty());
}

#[test]
fn polling_schedules_the_next_attempt() {
    let emu = tenant();
    let started = start(&emu, json!({}));
    let run = complete(&emu, json!({"polling": "true"}), started.context());
    run.expect(0, 1).says(&["not finished yet"]);
    let scheduled = &run.result["scheduled_command"];
    assert_eq!(scheduled["command"], "azure-ad-auth-complete");
    assert_eq!(scheduled["args"]["polling"], "true");
    assert_eq!(scheduled["next_run_in_seconds"], 5);
    let timeout = scheduled["timeout_in_seconds"].as_u64().unwrap();
    assert!((800..=900).contains(&timeout), "{timeout}");

    let early = complete(&emu, json!({"polling": true}), run.context());
    early.expect(0, 1);
    assert!(
        early.result["scheduled_command"]["next_run_in_seconds"]
            .as_u64()
            .unwrap()
            <= 5
    );
    assert_eq!(requests_to(&emu, TOKEN).len(), 1);
}

#[test]
fn app_without_public_client_flows_gets_actionable_advice() {
    let emu = tenant_with(|config| {
        config.apps[0].public_client_flows = false;
    });
    let started = start(&emu, json!({}));
    let run = complete(&emu, json!({}), started.context());
    run.expect(1, 4).says(&["AADSTS7000218", "Allow public client flows"]);
    assert_eq!(run.entry()["Contents"]["error"], "invalid_client");
    assert!(
        run.context().get("device_code").is_some(),
        "a configuration error does not spend the code"
    );
}

#[test]
fn start_errors_are_explained() {
    let emu = tenant_with(|config| {
        config.apps = vec![AppRegistration::public_client("00000000-0000-4000-8000-000000000001")]
    });
    let run = start(&emu, json!({"access_token": "kept-access-token"}));
    run.expect(1, 4).says(&["AADSTS700016", "Application ID"]);
    assert_eq!(run.context(), &json!({"access_token": "kept-access-token"}));
}

#[test]
fn start_answer_without_a_code_is_reported() {
    let emu = tenant();
    emu.script(ScriptedAnswer::new(DEVICECODE, 200, "{\"message\":\"hello\"}"));
    start(&emu, json!({})).expect(1, 4).says(&["without device_code"]);
}
