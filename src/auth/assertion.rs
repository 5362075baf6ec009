//! Certificate credentials: the signed JWT client assertion (RFC 7523) sent instead of a secret.
//!
//! With the certificate at hand the assertion is `PS256` with `x5t#S256` (current Microsoft
//! docs and MSAL); with only a SHA-1 thumbprint it is `RS256` with `x5t` (older docs).

use crate::error::Error;
use crate::params::text;
use crate::secret::Secret;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaEncoding, RsaKeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;

/// The `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Seconds an assertion is valid: Microsoft documents 5 to 10 minutes.
const LIFETIME_SECS: u64 = 600;

const KEY_HELP: &str = "Give the certificate's private key in PEM form (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----, unencrypted, RSA 2048 to 4096 bits).";

/// How Entra ID finds the certificate the assertion was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Thumbprint {
    /// The SHA-1 thumbprint the portal shows (`x5t`, signed RS256).
    Sha1(Vec<u8>),
    /// The SHA-256 of the DER certificate (`x5t#S256`, signed PS256).
    Sha256(Vec<u8>),
}

/// An app's certificate credential: its private key and how its certificate is named.
#[derive(Clone)]
pub struct CertificateCredential {
    key: Arc<RsaKeyPair>,
    thumbprint: Thumbprint,
}

impl fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("key", &"[redacted]")
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

impl CertificateCredential {
    /// Reads `certificate` (a PEM bundle), else `credentials_certificate` (identifier =
    /// thumbprint, password = key), else `certificate_thumbprint` + `private_key`.
    /// `None` when none is configured; a parameter error when one is but cannot be used.
    pub fn from_params(params: &Map<String, Value>) -> Result<Option<CertificateCredential>, Error> {
        if let Some(bundle) = text(params, "certificate") {
            return from_bundle("certificate", &bundle).map(Some);
        }
        let (thumb_name, key_name) = match credentials_field("identifier", params) {
            Some(_) => ("credentials_certificate", "credentials_certificate"),
            None => ("certificate_thumbprint", "private_key"),
        };
        let thumbprint = credentials_field("identifier", params).or_else(|| text(params, "certificate_thumbprint"));
        let key = credentials_field("password", params).or_else(|| text(params, "private_key"));
        match (thumbprint, key) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(Error::parameter(
                key_name,
                format!("the certificate thumbprint is set but the private key is not. {KEY_HELP}"),
            )),
            (None, Some(key)) if has_certificate(&key) => from_bundle(key_name, &key).map(Some),
            (None, Some(_)) => Err(Error::parameter(
                thumb_name,
                "the private key is set but the certificate thumbprint is not. Copy the certificate's Thumbprint from the app's Certificates & secrets page.",
            )),
            (Some(thumbprint), Some(key)) => from_thumbprint(thumb_name, &thumbprint, key_name, &key).map(Some),
        }
    }

    /// A fresh assertion for `app_id` at the token endpoint `audience`, valid from `now`.
    pub fn assertion(&self, app_id: &str, audience: &str, now: u64) -> Result<Secret, Error> {
        let (alg, header_name, thumbprint, encoding): (_, _, _, &'static dyn RsaEncoding) = match &self.thumbprint {
            Thumbprint::Sha1(bytes) => ("RS256", "x5t", bytes, &RSA_PKCS1_SHA256),
            Thumbprint::Sha256(bytes) => ("PS256", "x5t#S256", bytes, &RSA_PSS_SHA256),
        };
        let header = json!({"alg": alg, "typ": "JWT", header_name: b64(thumbprint)});
        let claims = json!({
            "aud": audience,
            "iss": app_id,
            "sub": app_id,
            "jti": jti()?,
            "nbf": now,
            "iat": now,
            "exp": now.saturating_add(LIFETIME_SECS),
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = sign(&self.key, encoding, signing_input.as_bytes())?;
        Ok(Secret::new(format!("{signing_input}.{}", b64(&signature))))
    }
}

/// `credentials_certificate`'s `identifier` or `password`, also when the host flattens it.
fn credentials_field(field: &str, params: &Map<String, Value>) -> Option<String> {
    let value = match params.get("credentials_certificate") {
        Some(Value::Object(c)) => c.get(field).and_then(Value::as_str).map(str::to_string),
        _ => text(params, &format!("credentials_certificate.{field}")),
    }?;
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

fn has_certificate(pem: &str) -> bool {
    pem.contains("-----BEGIN CERTIFICATE-----")
}

/// A PEM bundle with the certificate (first one = the app's) and its key: PS256 + `x5t#S256`.
fn from_bundle(name: &str, pem: &str) -> Result<CertificateCredential, Error> {
    let certificate = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| Error::parameter(name, "no certificate found: expected the certificate (-----BEGIN CERTIFICATE-----) and its private key in PEM form."))?
        .map_err(|_| Error::parameter(name, "the certificate is not valid PEM."))?;
    let key = private_key(name, pem)?;
    check_pair(name, &key, &certificate)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, certificate.as_ref());
    Ok(CertificateCredential {
        key: Arc::new(key),
        thumbprint: Thumbprint::Sha256(digest.as_ref().to_vec()),
    })
}

/// A SHA-1 thumbprint (hex, as the portal shows it) and a key: RS256 + `x5t`.
fn from_thumbprint(
    thumb_name: &str,
    thumbprint: &str,
    key_name: &str,
    pem: &str,
) -> Result<CertificateCredential, Error> {
    let sha1 = hex_thumbprint(thumbprint).ok_or_else(|| {
        Error::parameter(
            thumb_name,
            "the certificate thumbprint must be the 40 hex digits of its SHA-1 thumbprint, as the app's Certificates & secrets page shows it.",
        )
    })?;
    if has_certificate(pem) {
        return from_bundle(key_name, pem);
    }
    Ok(CertificateCredential {
        key: Arc::new(private_key(key_name, pem)?),
        thumbprint: Thumbprint::Sha1(sha1),
    })
}

/// 40 hex digits, colons and spaces ignored (certutil and openssl print them that way).
fn hex_thumbprint(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if digits.len() != 40 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// The first private key in `pem`: PKCS#8 or PKCS#1 RSA.
fn private_key(name: &str, pem: &str) -> Result<RsaKeyPair, Error> {
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| Error::parameter(name, format!("no private key could be read. {KEY_HELP}")))?;
    let parsed = match &der {
        PrivateKeyDer::Pkcs8(key) => RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(key) => RsaKeyPair::from_der(key.secret_pkcs1_der()),
        _ => {
            return Err(Error::parameter(
                name,
                format!("the private key is not an RSA key. {KEY_HELP}"),
            ));
        }
    };
    parsed.map_err(|why| Error::parameter(name, format!("the private key was rejected ({why}). {KEY_HELP}")))
}

/// The key must be the certificate's: a test message signed with it verifies with the
/// certificate's public key (webpki reads the certificate's SubjectPublicKeyInfo).
fn check_pair(name: &str, key: &RsaKeyPair, certificate: &CertificateDer<'_>) -> Result<(), Error> {
    let parsed = webpki::EndEntityCert::try_from(certificate)
        .map_err(|_| Error::parameter(name, "the certificate is not a valid X.509 certificate."))?;
    let message = b"azure-ad-identity-protection: key matches certificate";
    let signature = sign(key, &RSA_PKCS1_SHA256, message)?;
    parsed
        .verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, message, &signature)
        .map_err(|_| {
            Error::parameter(
                name,
                "the private key does not belong to the certificate. Give the key the certificate was made with.",
            )
        })
}

fn sign(key: &RsaKeyPair, encoding: &'static dyn RsaEncoding, message: &[u8]) -> Result<Vec<u8>, Error> {
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(encoding, &SystemRandom::new(), message, &mut signature)
        .map_err(|_| Error::Internal("signing the client assertion failed".into()))?;
    Ok(signature)
}

/// A random UUID (version 4) from the system's secure random source.
fn jti() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("the system random source failed".into()))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt_claims;

    const CERT: &str = include_str!("../../crates/emulator/src/certs/app-cert.pem");
    const KEY: &str = include_str!("../../crates/emulator/src/certs/app-key.pem");
    const KEY_PKCS1: &str = include_str!("../../crates/emulator/src/certs/app-key-pkcs1.pem");
    const OTHER_KEY: &str = include_str!("../../crates/emulator/src/certs/other-key.pem");

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("object")
    }

    fn header(token: &str) -> Map<String, Value> {
        let first = token.split('.').next().unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(first).unwrap()).unwrap()
    }

    #[test]
    fn the_microsoft_doc_thumbprint_example() {
        let bytes = hex_thumbprint("84E05C1D98BCE3A5421D225B140B36E86A3D5534").unwrap();
        assert_eq!(b64(&bytes), "hOBcHZi846VCHSJbFAs26Go9VTQ");
        assert_eq!(
            hex_thumbprint("84:E0:5C:1D:98:BC:E3:A5:42:1D:22:5B:14:0B:36:E8:6A:3D:55:34"),
            Some(bytes)
        );
        for bad in ["", "84E0", "zz E05C1D98BCE3A5421D225B140B36E86A3D5534"] {
            assert_eq!(hex_thumbprint(bad), None, "{bad}");
        }
    }

    #[test]
    fn thumbprint_and_key_sign_rs256_with_x5t() {
        for key in [KEY, KEY_PKCS1] {
            let p = params(
                json!({"certificate_thumbprint": "84E05C1D98BCE3A5421D225B140B36E86A3D5534", "private_key": key}),
            );
            let credential = CertificateCredential::from_params(&p).unwrap().unwrap();
            let token = credential
                .assertion("app", "https://login/t/oauth2/v2.0/token", 1_000)
                .unwrap();
            let (header, claims) = (header(token.expose()), jwt_claims(token.expose()).unwrap());
            assert_eq!(
                (header["alg"].as_str(), header["x5t"].as_str()),
                (Some("RS256"), Some("hOBcHZi846VCHSJbFAs26Go9VTQ"))
            );
            assert_eq!(
                (claims["iss"].as_str(), claims["sub"].as_str()),
                (Some("app"), Some("app"))
            );
            assert_eq!(
                (claims["nbf"].as_u64(), claims["exp"].as_u64()),
                (Some(1_000), Some(1_600))
            );
        }
    }

    #[test]
    fn a_bundle_signs_ps256_with_x5t_s256_and_fresh_jtis() {
        let credential = CertificateCredential::from_params(&params(json!({"certificate": format!("{CERT}{KEY}")})))
            .unwrap()
            .unwrap();
        let first = credential.assertion("app", "aud", 1).unwrap();
        let second = credential.assertion("app", "aud", 1).unwrap();
        assert_eq!(header(first.expose())["alg"], "PS256");
        assert_eq!(header(first.expose())["x5t#S256"].as_str().map(str::len), Some(43));
        assert_ne!(
            jwt_claims(first.expose()).unwrap()["jti"],
            jwt_claims(second.expose()).unwrap()["jti"]
        );
    }

    #[test]
    fn unusable_credentials_are_parameter_errors() {
        let thumb = "84E05C1D98BCE3A5421D225B140B36E86A3D5534";
        let cases = [
            (json!({"certificate": format!("{CERT}{OTHER_KEY}")}), "does not belong"),
            (json!({"certificate": CERT}), "no private key"),
            (json!({"certificate": KEY}), "no certificate"),
            (
                json!({"certificate_thumbprint": thumb, "private_key": "garbage"}),
                "no private key",
            ),
            (
                json!({"certificate_thumbprint": "abc", "private_key": KEY}),
                "40 hex digits",
            ),
            (json!({"certificate_thumbprint": thumb}), "private key is not"),
            (json!({"private_key": KEY}), "thumbprint is not"),
            (
                json!({"credentials_certificate": {"identifier": thumb, "password": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}),
                "credentials_certificate",
            ),
        ];
        for (given, needle) in cases {
            let error = CertificateCredential::from_params(&params(given.clone()))
                .expect_err("must fail")
                .to_string();
            assert!(error.contains(needle), "{given}: {error}");
            assert!(!error.contains("MII"), "no key material in {error}");
        }
    }

    #[test]
    fn debug_never_shows_the_key() {
        let p = params(
            json!({"credentials_certificate": {"identifier": "84E05C1D98BCE3A5421D225B140B36E86A3D5534", "password": KEY}}),
        );
        let credential = CertificateCredential::from_params(&p).unwrap().unwrap();
        let text = format!("{credential:?}");
        assert!(text.contains("[redacted]") && !text.contains("MII"), "{text}");
    }
}
