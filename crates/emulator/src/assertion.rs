//! Client assertions (RFC 7523), verified as Entra ID does: the JWT's certificate is one the app
//! registered (`x5t` SHA-1 or `x5t#S256`), its RS256/PS256 signature verifies with that
//! certificate's key, `aud` is the token URL, `iss` = `sub` = the client, the time range holds
//! with 5 minutes of skew, and its `jti` was never used before.

use std::collections::HashSet;

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use rustls::pki_types::CertificateDer;
use serde_json::{Map, Value};

use super::config::AppRegistration;
use super::signing::{KeyProblem, verify_rs256};
use super::wire::base64url_decode;

/// Seconds of clock skew tolerated on `nbf` and `exp`.
const SKEW_SECS: u64 = 300;

/// Why an assertion was refused: the AADSTS code and Entra's sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    pub code: u32,
    pub text: String,
}

fn reject(code: u32, text: impl Into<String>) -> Rejection {
    Rejection {
        code,
        text: text.into(),
    }
}

/// What the token endpoint knows when an assertion arrives.
pub(crate) struct Expected<'a> {
    pub app: &'a AppRegistration,
    /// The exact URL the token request came to.
    pub audience: &'a str,
    pub now: u64,
}

/// Checks `assertion`; on success its `jti` is added to `seen` (a replay is refused).
pub(crate) fn verify(assertion: &str, expected: &Expected<'_>, seen: &mut HashSet<String>) -> Result<(), Rejection> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(malformed("it does not have three segments"));
    };
    let header = json_segment(header).ok_or_else(|| malformed("its header is not base64url JSON"))?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: extensions listed in crit must be understood, and this emulator
        // understands none. Entra's code for a JWT whose format it refuses is 50027
        // (InvalidJwtToken, "token format isn't proper": learn.microsoft.com/entra/
        // identity-platform/reference-error-codes).
        return Err(malformed(
            "its header lists critical extensions (crit), which are not supported",
        ));
    }
    let claims = json_segment(claims).ok_or_else(|| malformed("its payload is not base64url JSON"))?;
    let signature =
        base64url_decode(signature.trim_end_matches('=')).ok_or_else(|| malformed("its signature is not base64url"))?;
    let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    let names_certificate = header.contains_key("x5t") || header.contains_key("x5t#S256");
    if issuer != expected.app.client_id && !names_certificate && !expected.app.federated_credentials.is_empty() {
        // Another issuer's token (workload identity federation): no replay check, since clients
        // present the same file token until it rotates.
        return check_federated(assertion, &header, &claims, expected);
    }
    let certificate = registered_certificate(&header, expected.app)?;
    let signed = assertion.rsplit_once('.').map_or("", |(input, _)| input);
    check_signature(&header, &certificate, signed.as_bytes(), &signature)?;
    check_claims(&claims, expected)?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("it has no jti claim"))?;
    if !seen.insert(jti.to_owned()) {
        // Microsoft documents no code for a replayed jti; 50027 (invalid JWT) is this
        // emulator's choice, and the integration never sends one twice.
        return Err(reject(
            50027,
            format!(
                "JWT token is invalid: the client assertion with jti '{jti}' has already been used. Each assertion must have a fresh jti."
            ),
        ));
    }
    Ok(())
}

/// AADSTS50027: the JWT cannot be read.
fn malformed(why: &str) -> Rejection {
    reject(50027, format!("JWT token is invalid or malformed: {why}."))
}

fn json_segment(segment: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&base64url_decode(segment.trim_end_matches('='))?).ok()
}

/// The registered certificate the header names: `x5t#S256` or `x5t`.
fn registered_certificate(header: &Map<String, Value>, app: &AppRegistration) -> Result<Vec<u8>, Rejection> {
    let (thumbprint, sha256) = match (header.get("x5t#S256"), header.get("x5t")) {
        (Some(Value::String(t)), _) => (t, true),
        (None, Some(Value::String(t))) => (t, false),
        _ => {
            return Err(reject(
                700030,
                "Invalid certificate: the client assertion names no certificate (x5t or x5t#S256 header).",
            ));
        }
    };
    // MSAL for Python pads its thumbprints with `=`; Entra accepts both forms.
    let wanted = base64url_decode(thumbprint.trim_end_matches('=')).unwrap_or_default();
    let algorithm = if sha256 { &SHA256 } else { &SHA1_FOR_LEGACY_USE_ONLY };
    app.certificates
        .iter()
        .find(|der| digest(algorithm, der).as_ref() == wanted.as_slice())
        .cloned()
        .ok_or_else(|| {
            // Entra's answer to a thumbprint no registered certificate has (seen in the wild:
            // "… is not registered on application. [Reason - The key was not found., …]").
            reject(
                700027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                    app.client_id
                ),
            )
        })
}

fn check_signature(
    header: &Map<String, Value>,
    certificate: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> Result<(), Rejection> {
    let algorithm = match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err(malformed(&format!(
                "alg {other:?} is not supported; use RS256 or PS256"
            )));
        }
    };
    let der = CertificateDer::from(certificate);
    let invalid = || reject(700027, "Client assertion failed signature validation.");
    let parsed = webpki::EndEntityCert::try_from(&der).map_err(|_| invalid())?;
    parsed
        .verify_signature(algorithm, signed, signature)
        .map_err(|_| invalid())
}

fn check_claims(claims: &Map<String, Value>, expected: &Expected<'_>) -> Result<(), Rejection> {
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let client = expected.app.client_id.as_str();
    if claim("iss") != Some(client) || claim("sub") != Some(client) {
        return Err(reject(
            700021,
            format!("Client assertion application identifier doesn't match 'client_id' parameter '{client}'."),
        ));
    }
    if claim("aud") != Some(expected.audience) {
        return Err(reject(
            700023,
            format!(
                "Client assertion audience claim does not match Realm issuer. Expected '{}'.",
                expected.audience
            ),
        ));
    }
    check_time(claims, expected.now)
}

/// The latest NumericDate accepted: the end of the year 9999, the last an ISO 8601 date writes.
const LATEST_DATE: u64 = 253_402_300_799;

/// A NumericDate claim (RFC 7519 §2) in whole seconds, `Ok(None)` when absent. A fraction is
/// dropped (MSAL for Python sends one, and Entra accepts it); a value that is not a number, is
/// negative or is past [`LATEST_DATE`] makes the JWT malformed.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Rejection> {
    let Some(value) = claims.get(name) else { return Ok(None) };
    let seconds = match value.as_u64() {
        Some(whole) => Some(whole),
        None => value
            .as_f64()
            .filter(|f| (0.0..=LATEST_DATE as f64).contains(f))
            .map(|f| f.trunc() as u64),
    };
    match seconds {
        Some(seconds) if seconds <= LATEST_DATE => Ok(Some(seconds)),
        _ => Err(malformed(&format!(
            "its {name} claim is not a NumericDate from 0 to {LATEST_DATE}"
        ))),
    }
}

/// `nbf` and `exp` hold at `now`, give or take [`SKEW_SECS`].
fn check_time(claims: &Map<String, Value>, now: u64) -> Result<(), Rejection> {
    let exp = numeric_date(claims, "exp")?.ok_or_else(|| malformed("it has no numeric exp claim"))?;
    let nbf = numeric_date(claims, "nbf")?.unwrap_or(0);
    // Bounded dates cannot overflow here; checked all the same, so no bound change can wrap.
    let (Some(latest), Some(skewed_now)) = (exp.checked_add(SKEW_SECS), now.checked_add(SKEW_SECS)) else {
        return Err(malformed("its time range overflows"));
    };
    if now > latest || skewed_now < nbf {
        return Err(reject(
            700024,
            format!(
                "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
            ),
        ));
    }
    Ok(())
}

/// A federated token: a federated credential of the app names its issuer, subject and audience,
/// and the token's RS256 signature verifies with one of that issuer's keys.
fn check_federated(
    token: &str,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(), Rejection> {
    let claim = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (issuer, subject) = (claim("iss"), claim("sub"));
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => vec![claim("aud")],
    };
    let credentials = &expected.app.federated_credentials;
    let same_issuer: Vec<_> = credentials.iter().filter(|c| c.issuer == issuer).collect();
    let no_match = |code: u32, what: &str| {
        reject(
            code,
            format!(
                "No matching federated identity record found for presented assertion {what}. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{}'.",
                audiences.join(",")
            ),
        )
    };
    if same_issuer.is_empty() {
        return Err(no_match(700211, "issuer"));
    }
    let same_subject: Vec<_> = same_issuer.into_iter().filter(|c| c.subject == subject).collect();
    if same_subject.is_empty() {
        return Err(no_match(700213, "subject"));
    }
    let Some(credential) = same_subject.into_iter().find(|c| audiences.contains(&c.audience)) else {
        return Err(no_match(700212, "audience"));
    };
    if credential.issuer_keys.is_empty() {
        return Err(reject(
            50166,
            format!(
                "Request to External OIDC endpoint failed: the emulator cannot fetch the keys of issuer '{issuer}' offline; give its federated credential issuer_keys in the tenant file."
            ),
        ));
    }
    match verify_rs256(token, header, &credential.issuer_keys) {
        Ok(()) => check_time(claims, expected.now),
        Err(KeyProblem::NotFound) => Err(reject(
            50013,
            format!(
                "Assertion failed signature validation. [Reason - The key was not found., Key ID of key used by client: '{}', Issuer: '{issuer}'.]",
                header.get("kid").and_then(Value::as_str).unwrap_or_default()
            ),
        )),
        Err(KeyProblem::BadSignature) => Err(reject(
            50013,
            "Assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed.]",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TEST_APP_CERTIFICATE, TenantConfig};
    use crate::pem::{certificates_from_text, pem};
    use ring::rand::SystemRandom;
    use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    use serde_json::json;

    const KEY: &str = include_str!("certs/app-key.pem");
    const OTHER_KEY: &str = include_str!("certs/other-key.pem");
    const AUD: &str = "http://127.0.0.1:1/t/oauth2/v2.0/token";

    fn b64(bytes: &[u8]) -> String {
        super::super::wire::base64url(bytes)
    }

    fn sign(key_pem: &str, header: &Value, claims: &Value) -> String {
        let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let encoding: &'static dyn RsaEncoding = if header["alg"] == "PS256" {
            &RSA_PSS_SHA256
        } else {
            &RSA_PKCS1_SHA256
        };
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(encoding, &SystemRandom::new(), input.as_bytes(), &mut signature)
            .unwrap();
        format!("{input}.{}", b64(&signature))
    }

    fn app() -> AppRegistration {
        let config = TenantConfig::default();
        config.apps.into_iter().find(|a| !a.certificates.is_empty()).unwrap()
    }

    fn claims(app: &AppRegistration, jti: &str, now: u64) -> Value {
        json!({"aud": AUD, "iss": app.client_id, "sub": app.client_id, "jti": jti, "nbf": now, "iat": now, "exp": now + 600})
    }

    fn check(token: &str, app: &AppRegistration, now: u64, seen: &mut HashSet<String>) -> Result<(), u32> {
        let expected = Expected {
            app,
            audience: AUD,
            now,
        };
        verify(token, &expected, seen).map_err(|r| r.code)
    }

    #[test]
    fn assertions_are_verified_like_entra() {
        let app = app();
        let der = &certificates_from_text(TEST_APP_CERTIFICATE).unwrap()[0];
        let s256 = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": b64(digest(&SHA256, der).as_ref())});
        let sha1 = json!({"alg": "RS256", "typ": "JWT", "x5t": b64(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())});
        let unknown = json!({"alg": "RS256", "typ": "JWT", "x5t": "hOBcHZi846VCHSJbFAs26Go9VTQ"});
        let padded = json!({"alg": "RS256", "typ": "JWT", "x5t": format!("{}=", sha1["x5t"].as_str().unwrap())});
        let now = 1_800_000_000;
        let mut other_client = claims(&app, "j", now);
        other_client["iss"] = json!("someone-else");
        let mut wrong_aud = claims(&app, "j", now);
        wrong_aud["aud"] = json!("https://login.microsoftonline.com/t/oauth2/v2.0/token");
        let cases = [
            (sign(KEY, &s256, &claims(&app, "a", now)), Ok(())),
            (sign(KEY, &sha1, &claims(&app, "b", now)), Ok(())),
            (sign(KEY, &padded, &claims(&app, "b2", now)), Ok(())),
            (sign(OTHER_KEY, &s256, &claims(&app, "c", now)), Err(700027)),
            (sign(KEY, &unknown, &claims(&app, "d", now)), Err(700027)),
            (
                sign(KEY, &json!({"alg": "RS256"}), &claims(&app, "e", now)),
                Err(700030),
            ),
            (sign(KEY, &sha1, &claims(&app, "f", now - 1200)), Err(700024)),
            (sign(KEY, &sha1, &claims(&app, "g", now + 400)), Err(700024)),
            (sign(KEY, &sha1, &claims(&app, "h", now - 850)), Ok(())),
            (
                sign(
                    KEY,
                    &sha1,
                    &json!({"aud": AUD, "iss": app.client_id, "sub": app.client_id, "jti": "k", "nbf": now, "exp": now as f64 + 600.5}),
                ),
                Ok(()),
            ),
            (sign(KEY, &sha1, &other_client), Err(700021)),
            (sign(KEY, &sha1, &wrong_aud), Err(700023)),
            (
                sign(
                    KEY,
                    &json!({"alg": "HS256", "x5t": sha1["x5t"]}),
                    &claims(&app, "i", now),
                ),
                Err(50027),
            ),
            ("not.a-jwt".to_owned(), Err(50027)),
        ];
        let mut seen = HashSet::new();
        for (n, (token, expected)) in cases.iter().enumerate() {
            assert_eq!(check(token, &app, now, &mut seen), *expected, "case {n}");
        }
        assert_eq!(check(&cases[0].0, &app, now, &mut seen), Err(50027), "a replayed jti");
    }

    #[test]
    fn federated_tokens_match_a_federated_credential() {
        use crate::config::{FEDERATED_AUDIENCE, TEST_FEDERATED_ISSUER, TEST_FEDERATED_SUBJECT};
        let app = app();
        let now = 1_800_000_000;
        let issuer_key = include_str!("certs/issuer-key.pem");
        let header = json!({"alg": "RS256", "kid": "emulator-issuer-1"});
        let claims = |iss: &str, sub: &str, aud: &str, exp: u64| json!({"iss": iss, "sub": sub, "aud": [aud], "nbf": now - 60, "exp": exp});
        let token = |iss: &str, sub: &str, aud: &str, exp: u64| sign(issuer_key, &header, &claims(iss, sub, aud, exp));
        let (iss, sub, aud) = (TEST_FEDERATED_ISSUER, TEST_FEDERATED_SUBJECT, FEDERATED_AUDIENCE);
        let good = token(iss, sub, aud, now + 3600);
        let unsigned = format!("{}.c2ln", good.rsplit_once('.').unwrap().0);
        let cases = [
            (good.clone(), Ok(())),
            // No replay check: the file's token is presented again until it rotates.
            (good, Ok(())),
            (token("https://elsewhere", sub, aud, now + 3600), Err(700211)),
            (
                token(iss, "system:serviceaccount:other:sa", aud, now + 3600),
                Err(700213),
            ),
            (token(iss, sub, "api://other", now + 3600), Err(700212)),
            (token(iss, sub, aud, now - 600), Err(700024)),
            (unsigned, Err(50013)),
            (sign(OTHER_KEY, &header, &claims(iss, sub, aud, now + 3600)), Err(50013)),
            (
                sign(
                    issuer_key,
                    &json!({"alg": "RS256", "kid": "rotated-away"}),
                    &claims(iss, sub, aud, now + 3600),
                ),
                Err(50013),
            ),
            (
                sign(
                    issuer_key,
                    &json!({"alg": "PS256", "kid": "emulator-issuer-1"}),
                    &claims(iss, sub, aud, now + 3600),
                ),
                Err(50013),
            ),
        ];
        let mut seen = HashSet::new();
        for (n, (token, expected)) in cases.iter().enumerate() {
            assert_eq!(check(token, &app, now, &mut seen), *expected, "case {n}");
        }
        let mut keyless = app.clone();
        keyless.federated_credentials[0].issuer_keys.clear();
        let token = token(iss, sub, aud, now + 3600);
        assert_eq!(
            check(&token, &keyless, now, &mut seen),
            Err(50166),
            "no keys for the issuer"
        );
    }

    /// Issue 16: `exp` of 2^63 or 1e308 made a token that never expires, and `crit` was ignored.
    #[test]
    fn hostile_dates_and_critical_extensions_are_malformed() {
        use crate::config::{FEDERATED_AUDIENCE, TEST_FEDERATED_ISSUER, TEST_FEDERATED_SUBJECT};
        let app = app();
        let now = 1_800_000_000_u64;
        let issuer_key = include_str!("certs/issuer-key.pem");
        let issuer_header = json!({"alg": "RS256", "kid": "emulator-issuer-1"});
        let federated = |header: &Value, exp: Value, nbf: Value| {
            let claims = json!({"iss": TEST_FEDERATED_ISSUER, "sub": TEST_FEDERATED_SUBJECT, "aud": [FEDERATED_AUDIENCE], "nbf": nbf, "exp": exp});
            sign(issuer_key, header, &claims)
        };
        let der = &certificates_from_text(TEST_APP_CERTIFICATE).unwrap()[0];
        let sha1 = json!({"alg": "RS256", "x5t": b64(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref())});
        let client = |header: &Value, jti: &str, exp: Value| {
            let mut claims = claims(&app, jti, now);
            claims["exp"] = exp;
            sign(KEY, header, &claims)
        };
        let mut critical = issuer_header.clone();
        critical["crit"] = json!(["exp"]);
        let mut critical_client = sha1.clone();
        critical_client["crit"] = json!([]);
        let hostile_dates = [
            json!(9_223_372_036_854_775_808_u64),
            json!(1e308),
            json!(-1),
            json!("x"),
            json!(null),
            json!(253_402_300_800_u64),
        ];
        let mut cases = Vec::new();
        for (n, exp) in hostile_dates.iter().enumerate() {
            cases.push((
                format!("federated exp {exp}"),
                federated(&issuer_header, exp.clone(), json!(now)),
            ));
            cases.push((
                format!("federated nbf {exp}"),
                federated(&issuer_header, json!(now + 60), exp.clone()),
            ));
            cases.push((
                format!("client exp {exp}"),
                client(&sha1, &format!("exp-{n}"), exp.clone()),
            ));
        }
        cases.push((
            "federated crit".to_owned(),
            federated(&critical, json!(now + 60), json!(now)),
        ));
        cases.push((
            "client crit".to_owned(),
            client(&critical_client, "crit", json!(now + 60)),
        ));
        let mut seen = HashSet::new();
        for (name, token) in &cases {
            assert_eq!(check(token, &app, now, &mut seen), Err(50027), "{name}");
        }
        let fine = federated(&issuer_header, json!(now as f64 + 60.5), json!(now));
        assert_eq!(
            check(&fine, &app, now, &mut seen),
            Ok(()),
            "a fractional NumericDate is fine"
        );
    }

    #[test]
    fn certificates_read_as_pem_or_base64_der() {
        let der = certificates_from_text(TEST_APP_CERTIFICATE).unwrap();
        assert_eq!(certificates_from_text(&pem(&der[0])), Ok(der.clone()));
        use base64::Engine as _;
        let b64der = base64::engine::general_purpose::STANDARD.encode(&der[0]);
        assert_eq!(certificates_from_text(&b64der), Ok(der));
        assert!(certificates_from_text("-----BEGIN CERTIFICATE-----\n!!\n").is_err());
    }
}
