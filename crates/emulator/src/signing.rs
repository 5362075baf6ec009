//! The emulator's signing keys, both public test material (`certs/README.md`):
//! - the token-signing key: every access and ID token is an RS256 JWT whose `kid`/`x5t` name it,
//!   and `/{tenant}/discovery/v2.0/keys` publishes it, so clients that validate tokens accept them;
//! - the test federation issuer's key (`config::TEST_FEDERATED_ISSUER`): `POST
//!   /_emulator/federated-token` writes tokens with it, as a Kubernetes cluster or GitHub Actions
//!   would, and the default certificate app's federated credential trusts its public half.

use std::sync::LazyLock;

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

use super::wire::{base64url, base64url_decode};

/// One RSA key that signs JWTs with RS256, and the `kid` its tokens carry.
pub(crate) struct Signer {
    key: RsaKeyPair,
    kid: String,
    /// The DER certificate of the key, when it has one (published as `x5c`).
    certificate: Option<Vec<u8>>,
}

impl Signer {
    /// A key from committed PKCS#8 PEM: a broken file is a build defect, caught by the tests.
    fn from_pem(key_pem: &str, certificate_pem: Option<&str>, kid: Option<&str>) -> Signer {
        let der = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).expect("a committed PKCS#8 key");
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("a committed RSA key");
        let certificate = certificate_pem.map(|pem| {
            CertificateDer::from_pem_slice(pem.as_bytes())
                .expect("a committed certificate")
                .as_ref()
                .to_vec()
        });
        // Entra's `kid` is the certificate's x5t: base64url of its SHA-1 thumbprint.
        let kid = kid
            .map(str::to_owned)
            .or_else(|| {
                let der = certificate.as_ref()?;
                Some(base64url(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()))
            })
            .expect("a signer has a kid or a certificate");
        Signer { key, kid, certificate }
    }

    /// `base64url(header).base64url(claims).base64url(RS256 signature)`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        if self.certificate.is_some() {
            header["x5t"] = json!(self.kid);
        }
        let input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RS256 signing with a valid key");
        format!("{input}.{}", base64url(&signature))
    }

    /// The public key as a JWK (RFC 7517), in the members Entra's key sets carry.
    pub(crate) fn jwk(&self) -> Value {
        let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(self.key.public());
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": base64url(&public.n),
            "e": base64url(&public.e),
        });
        if let Some(der) = &self.certificate {
            use base64::Engine as _;
            jwk["x5t"] = json!(self.kid);
            jwk["x5c"] = json!([base64::engine::general_purpose::STANDARD.encode(der)]);
        }
        jwk
    }
}

/// Signs every token the emulator issues.
pub(crate) static TOKEN_SIGNER: LazyLock<Signer> = LazyLock::new(|| {
    Signer::from_pem(
        include_str!("certs/token-signing-key.pem"),
        Some(include_str!("certs/token-signing-cert.pem")),
        None,
    )
});

/// The test federation issuer (`config::TEST_FEDERATED_ISSUER`).
static ISSUER_SIGNER: LazyLock<Signer> =
    LazyLock::new(|| Signer::from_pem(include_str!("certs/issuer-key.pem"), None, Some("emulator-issuer-1")));

/// An RSA public key as a JWK (RFC 7517); members other than these are ignored, as JWK allows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IssuerKey {
    /// The key type: only `RSA` keys verify anything.
    pub kty: String,
    /// The key id a token's header names; without one, every key is tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The modulus, base64url.
    pub n: String,
    /// The exponent, base64url.
    pub e: String,
}

/// `GET /{tenant}/discovery/v2.0/keys`: the token-signing key.
pub(crate) fn token_key_set() -> Value {
    json!({"keys": [TOKEN_SIGNER.jwk()]})
}

/// The test federation issuer's public key, as a federated credential's `issuer_keys` hold it.
pub(crate) fn test_issuer_key() -> IssuerKey {
    serde_json::from_value(ISSUER_SIGNER.jwk()).expect("a JWK reads back as an issuer key")
}

/// `claims` signed by the test federation issuer's key, as its tokens are.
pub(crate) fn sign_as_test_issuer(claims: &Value) -> String {
    ISSUER_SIGNER.sign(claims)
}

/// Why an RS256 JWT does not verify with any of `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyProblem {
    /// No key has the token's `kid` (or the token is not RS256).
    NotFound,
    /// A key was found, but the signature does not verify with it.
    BadSignature,
}

/// Verifies the RS256 signature of `token` with the key its `kid` names (every key if none).
pub(crate) fn verify_rs256(
    token: &str,
    header: &serde_json::Map<String, Value>,
    keys: &[IssuerKey],
) -> Result<(), KeyProblem> {
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(KeyProblem::NotFound);
    }
    let Some((input, signature)) = token.rsplit_once('.') else {
        return Err(KeyProblem::BadSignature);
    };
    let signature = base64url_decode(signature.trim_end_matches('=')).ok_or(KeyProblem::BadSignature)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let candidates: Vec<&IssuerKey> = keys
        .iter()
        .filter(|k| k.kty == "RSA" && (kid.is_none() || k.kid.as_deref() == kid))
        .collect();
    if candidates.is_empty() {
        return Err(KeyProblem::NotFound);
    }
    let verifies = |key: &&IssuerKey| {
        let (Some(n), Some(e)) = (base64url_decode(&key.n), base64url_decode(&key.e)) else {
            return false;
        };
        RsaPublicKeyComponents { n, e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &signature)
            .is_ok()
    };
    if candidates.iter().any(verifies) {
        Ok(())
    } else {
        Err(KeyProblem::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(token: &str) -> serde_json::Map<String, Value> {
        let segment = token.split('.').next().unwrap();
        serde_json::from_slice(&base64url_decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_the_published_key_only() {
        let token = TOKEN_SIGNER.sign(&json!({"aud": "x"}));
        let header = header_of(&token);
        let published: IssuerKey = serde_json::from_value(token_key_set()["keys"][0].clone()).unwrap();
        assert_eq!(header["kid"], json!(published.kid.clone().unwrap()));
        assert_eq!(verify_rs256(&token, &header, std::slice::from_ref(&published)), Ok(()));
        let tampered = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(
            verify_rs256(&tampered, &header, &[published]),
            Err(KeyProblem::BadSignature)
        );
        assert_eq!(
            verify_rs256(&token, &header, &[test_issuer_key()]),
            Err(KeyProblem::NotFound),
            "another kid"
        );
    }

    #[test]
    fn the_published_key_carries_its_certificate_and_thumbprint() {
        let jwk = TOKEN_SIGNER.jwk();
        let der = CertificateDer::from_pem_slice(include_str!("certs/token-signing-cert.pem").as_bytes()).unwrap();
        // Independent: the SHA-1 of the committed certificate, base64url, is x5t (RFC 7517 §4.8).
        let thumbprint = base64url(digest(&SHA1_FOR_LEGACY_USE_ONLY, der.as_ref()).as_ref());
        assert_eq!(jwk["x5t"], json!(thumbprint));
        assert_eq!(jwk["kid"], json!(thumbprint));
        assert_eq!(jwk["e"], "AQAB", "65537");
        assert_eq!(
            base64url_decode(jwk["n"].as_str().unwrap()).unwrap().len(),
            256,
            "RSA 2048"
        );
    }
}
