use crate::util::*;
use azure_ad_identity_protection::emulator::TenantConfig;
use serde_json::{Value, json};

fn start(params: &Value) -> Run {
    run(&envelope(
        "azure-ad-auth-start",
        json!({}),
        params,
        json!({"device_code": "stale-device-code"}),
    ))
}

#[test]
fn start_tests_the_connection_and_caches_the_token() {
    let emu = tenant();
    let params = app_params(&emu);
    let run = start(&params);
    run.expect(0, 1).says(&["Success", "Client credentials work"]);

    let request = &requests_to(&emu, TOKEN)[0];
    assert_eq!(request.path, format!("/{}{TOKEN}", TenantConfig::default().tenant_id));
    assert_eq!(request.form_value("grant_type").as_deref(), Some("client_credentials"));
    assert_eq!(
        request.form_value("scope"),
        Some(format!("{}/.default", emu.base_url()))
    );
    assert_eq!(
        request.form_value("client_secret").as_deref(),
        params["credentials"]["password"].as_str()
    );
    assert!(
        requests_to(&emu, "/devicecode").is_empty(),
        "client-credentials mode never starts a device flow"
    );

    let context = run.context();
    assert!(context["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(context.get("current_refresh_token").is_none());
    assert_eq!(context["token_owner"]["auth_mode"], "client_credentials");
}

#[test]
fn auth_test_reuses_then_renews_application_tokens() {
    let emu = tenant();
    let params = app_params(&emu);
    let first = run(&envelope("azure-ad-auth-test", json!({}), &params, json!({})));
    first.expect(0, 1);
    let app = params["app_id"].as_str().expect("app id");
    assert_eq!(
        first.text(),
        auth_test_success(&format!("the client secret of app {app}"), &emu)
    );
    let second = run(&envelope(
        "azure-ad-auth-test",
        json!({}),
        &params,
        first.context().clone(),
    ));
    second.expect(0, 1);
    assert_eq!(requests_to(&emu, TOKEN).len(), 1, "the cached token is reused");
    assert_eq!(second.result["context_changed"], false);
}

type TenantChange = Box<dyn Fn(&mut TenantConfig)>;
type ParamChange = Box<dyn Fn(&mut Value)>;

#[test]
fn aadsts_errors_become_actionable_messages() {
    let cases: Vec<(TenantChange, ParamChange, &str, &str)> = vec![
        (
            Box::new(|_| {}),
            Box::new(|p| p["credentials"]["password"] = json!("wrong-secret-value")),
            "AADSTS7000215",
            "not its Secret ID",
        ),
        (
            Box::new(|c| c.apps[1].secret_expired = true),
            Box::new(|_| {}),
            "AADSTS7000222",
            "expired",
        ),
        (
            Box::new(|_| {}),
            Box::new(|p| p["app_id"] = json!("99999999-9999-4999-8999-999999999999")),
            "AADSTS700016",
            "was not found in tenant",
        ),
        (
            Box::new(|_| {}),
            Box::new(|p| p["tenant_id"] = json!("no-such-tenant")),
            "AADSTS90002",
            "Tenant no-such-tenant was not found",
        ),
    ];
    for (tenant_change, param_change, code, advice) in cases {
        let emu = tenant_with(tenant_change);
        let mut params = app_params(&emu);
        param_change(&mut params);
        let run = start(&params);
        run.expect(1, 4).says(&[code, advice, "Trace ID"]);
        let contents = &run.entry()["Contents"];
        for key in [
            "error",
            "error_codes",
            "trace_id",
            "correlation_id",
            "error_description",
        ] {
            assert!(!contents[key].is_null(), "{key} missing in {contents}");
        }
        assert_eq!(
            run.context(),
            &json!({"device_code": "stale-device-code"}),
            "the context is left as it was"
        );
    }
}

#[test]
fn test_module_answers_ok() {
    let emu = tenant();
    let run = run(&envelope("test-module", json!({}), &app_params(&emu), json!({})));
    run.expect(0, 1);
    assert_eq!(run.entry()["Contents"], "ok");
}

#[test]
fn missing_licence_names_the_licence_and_permissions() {
    let emu = tenant_with(|c| c.p2_licence = false);
    let run = run(&envelope("azure-ad-auth-test", json!({}), &app_params(&emu), json!({})));
    run.expect(1, 4)
        .says(&["403", "P2", "IdentityRiskyUser.Read.All", "IdentityRiskEvent.Read.All"]);
    assert!(
        run.context()["access_token"].is_string(),
        "the valid token is still cached"
    );
}

#[test]
fn missing_permission_is_named() {
    let emu = tenant_with(|c| c.apps[1].permissions = vec!["IdentityRiskEvent.Read.All".into()]);
    run(&envelope("test-module", json!({}), &app_params(&emu), json!({})))
        .expect(1, 4)
        .says(&["IdentityRiskyUser.Read.All"]);
}
