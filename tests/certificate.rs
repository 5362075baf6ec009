//! Certificate sign-in: client credentials with a signed JWT client assertion (RFC 7523), which
//! the emulator verifies against the app's registered certificate.

use crate::util::*;
use azure_ad_identity_protection::auth::assertion::{CertificateCredential, JWT_BEARER};
use azure_ad_identity_protection::emulator::{
    CERTIFICATE_APP_ID, Emulator, TEST_APP_CERTIFICATE, TEST_APP_KEY, TenantConfig,
};
use base64::Engine as _;
use serde_json::{Map, Value, json};

const KEY_PKCS1: &str = include_str!("../crates/emulator/src/certs/app-key-pkcs1.pem");
const OTHER_KEY: &str = include_str!("../crates/emulator/src/certs/other-key.pem");
/// A thumbprint no app registered.
const UNKNOWN_THUMBPRINT: &str = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";

/// The SHA-1 thumbprint of the test certificate, in hex as the portal shows it.
fn thumbprint() -> String {
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            TEST_APP_CERTIFICATE
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .expect("base64 certificate");
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// How auth-test names the certificate app's certificate.
fn by_certificate() -> String {
    format!("the certificate of app {CERTIFICATE_APP_ID}")
}

/// The emulator's certificate params with `certificate` replaced by `change`'s parameters.
fn cert_params(emu: &Emulator, change: Value) -> Value {
    let mut params = emu.certificate_params();
    let map = params.as_object_mut().expect("object");
    map.remove("certificate");
    map.extend(change.as_object().cloned().unwrap_or_default());
    params
}

fn auth_test(params: &Value) -> Run {
    run(&envelope("azure-ad-auth-test", json!({}), params, json!({})))
}

fn segment(token: &str, n: usize) -> Map<String, Value> {
    let part = token.split('.').nth(n).expect("segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The one token request's form: its assertion's header and claims; asserts no secret was sent.
fn sent_assertion(emu: &Emulator) -> (Map<String, Value>, Map<String, Value>) {
    let requests = requests_to(emu, TOKEN);
    let request = requests.last().expect("a token request");
    assert_eq!(
        request.form_value("client_secret"),
        None,
        "a certificate sign-in sends no secret"
    );
    assert_eq!(request.form_value("client_assertion_type").as_deref(), Some(JWT_BEARER));
    let assertion = request.form_value("client_assertion").expect("an assertion");
    (segment(&assertion, 0), segment(&assertion, 1))
}

/// The key's base64 body lines must appear nowhere the binary writes.
fn assert_key_not_shown(run: &Run) {
    let output = format!("{}{}", run.result, run.stderr);
    for line in TEST_APP_KEY
        .lines()
        .chain(KEY_PKCS1.lines())
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!output.contains(line), "key material in the output: {output}");
    }
}

#[test]
fn thumbprint_and_key_sign_in_with_rs256_and_x5t() {
    let emu = tenant();
    let params = cert_params(
        &emu,
        json!({"certificate_thumbprint": thumbprint(), "private_key": TEST_APP_KEY}),
    );
    let run = auth_test(&params);
    run.expect(0, 1);
    assert_eq!(run.text(), auth_test_success(&by_certificate(), &emu));
    assert_key_not_shown(&run);
    let (header, claims) = sent_assertion(&emu);
    assert_eq!(header["alg"], "RS256");
    assert!(header.contains_key("x5t") && !header.contains_key("x5t#S256"));
    let app = params["app_id"].as_str().expect("app id");
    assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some(app), Some(app)));
    let token_url = format!("{}/{}{TOKEN}", emu.base_url(), TenantConfig::default().tenant_id);
    assert_eq!(claims["aud"].as_str(), Some(token_url.as_str()));
    let (nbf, exp) = (
        claims["nbf"].as_u64().expect("nbf"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert!(nbf.abs_diff(now()) < 60 && exp - nbf == 600, "{claims:?}");
}

#[test]
fn a_pem_bundle_signs_in_with_ps256_and_x5t_s256() {
    let emu = tenant();
    let run = auth_test(&emu.certificate_params());
    run.expect(0, 1);
    assert_eq!(run.text(), auth_test_success(&by_certificate(), &emu));
    assert_key_not_shown(&run);
    let (header, _) = sent_assertion(&emu);
    assert_eq!(header["alg"], "PS256");
    assert!(header.contains_key("x5t#S256") && !header.contains_key("x5t"));
    assert_eq!(run.context()["token_owner"]["auth_mode"], "client_credentials");
}

#[test]
fn xsoar_credentials_field_with_a_pkcs1_key() {
    let emu = tenant();
    let given = json!({"credentials_certificate": {"identifier": thumbprint(), "password": KEY_PKCS1}});
    let run = auth_test(&cert_params(&emu, given));
    run.expect(0, 1);
    assert_eq!(run.text(), auth_test_success(&by_certificate(), &emu));
    assert_key_not_shown(&run);
    assert_eq!(sent_assertion(&emu).0["alg"], "RS256");
}

#[test]
fn the_certificate_wins_over_a_secret() {
    let emu = tenant();
    let mut params = emu.certificate_params();
    params["credentials"] = json!({"identifier": "", "password": "a-secret-that-must-not-be-sent"});
    let run = auth_test(&params);
    run.expect(0, 1);
    assert_eq!(run.text(), auth_test_success(&by_certificate(), &emu));
    let request = requests_to(&emu, TOKEN).pop().expect("a token request");
    assert!(
        !request.body.contains("a-secret-that-must-not-be-sent"),
        "{}",
        request.body
    );
    sent_assertion(&emu);
}

#[test]
fn unusable_keys_are_parameter_errors_before_any_request() {
    let emu = tenant();
    let cases = [
        (
            json!({"certificate": format!("{TEST_APP_CERTIFICATE}{OTHER_KEY}")}),
            "does not belong to the certificate",
        ),
        (
            json!({"certificate_thumbprint": thumbprint(), "private_key": "not a key"}),
            "no private key",
        ),
        (
            json!({"certificate_thumbprint": "12AB", "private_key": TEST_APP_KEY}),
            "40 hex digits",
        ),
        (json!({"private_key": TEST_APP_KEY}), "thumbprint is not"),
    ];
    for (given, needle) in cases {
        let run = auth_test(&cert_params(&emu, given.clone()));
        run.expect(2, 4).says(&[needle]);
        assert_key_not_shown(&run);
    }
    assert!(
        emu.requests().is_empty(),
        "nothing is sent with an unusable certificate"
    );
}

#[test]
fn entra_refusals_say_what_to_check() {
    let emu = tenant();
    let cases = [
        (
            json!({"certificate_thumbprint": thumbprint(), "private_key": OTHER_KEY}),
            "AADSTS700027",
            "private key",
        ),
        (
            json!({"certificate_thumbprint": UNKNOWN_THUMBPRINT, "private_key": TEST_APP_KEY}),
            "AADSTS700027",
            "is uploaded",
        ),
    ];
    for (given, code, advice) in cases {
        let run = auth_test(&cert_params(&emu, given.clone()));
        run.expect(1, 4).says(&[code, advice, "with the certificate"]);
        assert_key_not_shown(&run);
    }
}

/// Posts an assertion made by the library (with any clock) straight to the emulator.
fn post_assertion(emu: &Emulator, assertion: &str) -> (u16, Value) {
    let config = TenantConfig::default();
    let url = format!("{}/{}{TOKEN}", emu.base_url(), config.tenant_id);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .into();
    let app = emu.certificate_params()["app_id"].as_str().expect("app").to_string();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    let mut response = agent.post(&url).send_form(form).expect("the emulator answers");
    let body = response.body_mut().read_to_string().expect("a body");
    (response.status().as_u16(), serde_json::from_str(&body).expect("JSON"))
}

#[test]
fn the_emulator_refuses_expired_and_replayed_assertions() {
    let emu = tenant();
    let params = emu.certificate_params();
    let credential = CertificateCredential::from_params(params.as_object().expect("object"))
        .expect("the bundle is usable")
        .expect("a certificate");
    let app = params["app_id"].as_str().expect("app");
    let audience = format!("{}/{}{TOKEN}", emu.base_url(), TenantConfig::default().tenant_id);

    let expired = credential.assertion(app, &audience, now() - 3_600).expect("signed");
    let (status, body) = post_assertion(&emu, expired.expose());
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (401, Some(700_024)),
        "{body}"
    );

    let fresh = credential.assertion(app, &audience, now()).expect("signed");
    assert_eq!(post_assertion(&emu, fresh.expose()).0, 200);
    let (status, body) = post_assertion(&emu, fresh.expose());
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(50_027)),
        "a replayed jti: {body}"
    );

    let elsewhere = credential
        .assertion(app, "https://login.microsoftonline.com/t/oauth2/v2.0/token", now())
        .expect("signed");
    assert_eq!(
        post_assertion(&emu, elsewhere.expose()).1["error_codes"][0],
        700_023,
        "another audience"
    );
}

// Workload identity federation: another issuer's token, from a file, as the client assertion.

/// A token file in a fresh folder of the temporary directory.
fn token_file(name: &str, token: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aadip-federation-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("token");
    std::fs::write(&path, token).expect("token file");
    path
}

#[test]
fn a_federated_token_file_is_the_assertion_and_is_read_each_time() {
    use azure_ad_identity_protection::emulator::TEST_FEDERATED_SUBJECT;
    let emu = tenant();
    let first = federated_token(&emu, TEST_FEDERATED_SUBJECT);
    let path = token_file("param", &first);
    let params = cert_params(&emu, json!({"federated_token_file": path}));
    let run = auth_test(&params);
    run.expect(0, 1);
    let by_file = format!("a federated token from `federated_token_file` for app {CERTIFICATE_APP_ID}");
    assert_eq!(run.text(), auth_test_success(&by_file, &emu));
    let rotated = federated_token(&emu, TEST_FEDERATED_SUBJECT);
    assert_ne!(rotated, first, "each token has its own jti");
    std::fs::write(&path, &rotated).expect("rotate");
    auth_test(&params).expect(0, 1);
    let sent: Vec<Option<String>> = requests_to(&emu, TOKEN)
        .iter()
        .map(|r| r.form_value("client_assertion"))
        .collect();
    assert_eq!(
        sent,
        [Some(first), Some(rotated)],
        "the file is read for every token request"
    );
    assert!(
        requests_to(&emu, TOKEN)
            .iter()
            .all(|r| r.form_value("client_secret").is_none())
    );
}

#[test]
fn the_engine_variable_is_used_only_when_nothing_else_is_configured() {
    use azure_ad_identity_protection::emulator::TEST_FEDERATED_SUBJECT;
    let emu = tenant();
    let path = token_file("env", &federated_token(&emu, TEST_FEDERATED_SUBJECT));
    let path = path.to_str().expect("utf-8 path");
    let vars = [("AZURE_FEDERATED_TOKEN_FILE", path)];
    let params = cert_params(&emu, json!({}));
    let run = run_env(&envelope("azure-ad-auth-test", json!({}), &params, json!({})), &vars);
    run.expect(0, 1);
    let by_variable = format!("a federated token from `AZURE_FEDERATED_TOKEN_FILE` for app {CERTIFICATE_APP_ID}");
    assert_eq!(run.text(), auth_test_success(&by_variable, &emu));
    assert!(requests_to(&emu, TOKEN)[0].form_value("client_assertion").is_some());

    let with_secret = app_params(&emu);
    let run = run_env(
        &envelope("azure-ad-auth-test", json!({}), &with_secret, json!({})),
        &vars,
    );
    run.expect(0, 1);
    let secret_app = with_secret["app_id"].as_str().expect("app id");
    assert_eq!(
        run.text(),
        auth_test_success(&format!("the client secret of app {secret_app}"), &emu)
    );
    let last = requests_to(&emu, TOKEN).pop().expect("a token request");
    assert!(last.form_value("client_secret").is_some() && last.form_value("client_assertion").is_none());
}

#[test]
fn federation_errors_say_what_to_check() {
    let emu = tenant();
    let path = token_file(
        "wrong-subject",
        &federated_token(&emu, "system:serviceaccount:other:sa"),
    );
    let run = auth_test(&cert_params(&emu, json!({"federated_token_file": path})));
    run.expect(1, 4)
        .says(&["AADSTS700213", "Federated credentials", "with the federated token"]);

    // The right claims with another token's signature: the issuer's key does not verify it.
    use azure_ad_identity_protection::emulator::TEST_FEDERATED_SUBJECT;
    let genuine = federated_token(&emu, TEST_FEDERATED_SUBJECT);
    let other = federated_token(&emu, "system:serviceaccount:other:sa");
    let forged = format!(
        "{}.{}",
        genuine.rsplit_once('.').expect("a JWT").0,
        other.rsplit_once('.').expect("a JWT").1
    );
    let path = token_file("forged", &forged);
    let run = auth_test(&cert_params(&emu, json!({"federated_token_file": path})));
    run.expect(1, 4)
        .says(&["AADSTS50013", "signature", "issuer's published keys"]);
    let missing = auth_test(&cert_params(
        &emu,
        json!({"federated_token_file": "/nonexistent/token"}),
    ));
    missing.expect(2, 4).says(&["federated_token_file", "cannot be read"]);
}

#[test]
fn test_module_and_auth_start_test_the_certificate() {
    let emu = tenant();
    let params = emu.certificate_params();
    let tested = run(&envelope("test-module", json!({}), &params, json!({})));
    tested.expect(0, 1);
    assert_eq!(tested.entry()["Contents"], "ok");
    run(&envelope("azure-ad-auth-start", json!({}), &params, json!({})))
        .expect(0, 1)
        .says(&["Success"]);
    let completed = run(&envelope("azure-ad-auth-complete", json!({}), &params, json!({})));
    completed.expect(0, 1);
    assert_eq!(
        completed.text(),
        format!(
            "✅ Authorization completed successfully. Client-credentials mode needs no sign-in; a token was obtained with {}.",
            by_certificate()
        )
    );
    assert_eq!(requests_to(&emu, TOKEN).len(), 3);
    assert!(requests_to(&emu, "/devicecode").is_empty());
    sent_assertion(&emu);
}

/// A token endpoint that echoes the client assertion it got (a hostile or broken server): the
/// federated token is a credential, and no entry shows it.
#[test]
fn an_answer_echoing_the_client_assertion_is_redacted() {
    use azure_ad_identity_protection::emulator::{ScriptedAnswer, TEST_FEDERATED_SUBJECT};
    let emu = tenant();
    let federated = federated_token(&emu, TEST_FEDERATED_SUBJECT);
    let path = token_file("echoed", &federated);
    let echo = format!("Bad assertion {federated} was presented.");
    emu.script(ScriptedAnswer::entra_error(
        TOKEN,
        401,
        "invalid_client",
        700_027,
        &echo,
    ));
    let run = auth_test(&cert_params(&emu, json!({"federated_token_file": path})));
    run.expect(1, 4).says(&["AADSTS700027", "[redacted]"]);
    assert!(!run.result.to_string().contains(&federated), "{}", run.result);
}
