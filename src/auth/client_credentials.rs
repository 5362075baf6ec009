//! Client credentials: an application token from the app's certificate, a federated token or
//! the client secret.

use super::assertion::JWT_BEARER;
use super::{Flow, TokenResponse, token_request};
use crate::error::Error;
use crate::session::Session;

/// Requests an application token for `{graph}/.default`. A configured certificate wins over a
/// federated token, and both over a secret (as XSOAR's Microsoft API module prefers the
/// certificate); the secret is then never sent.
pub fn request_token(session: &Session) -> Result<TokenResponse, Error> {
    let config = &session.config;
    let mut form = vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), config.app_id.clone()),
    ];
    let flow = if let Some(certificate) = &config.certificate {
        let assertion = certificate.assertion(&config.app_id, &config.login_url("token"), session.now())?;
        form.push(("client_assertion_type".into(), JWT_BEARER.into()));
        form.push(("client_assertion".into(), assertion.expose().to_string()));
        Flow::ClientCertificate
    } else if let Some(file) = &config.federated_token {
        // Read again for every request: the issuer rotates the file.
        let assertion = file.read()?;
        form.push(("client_assertion_type".into(), JWT_BEARER.into()));
        form.push(("client_assertion".into(), assertion.expose().to_string()));
        Flow::Federated
    } else {
        let secret = config.client_secret.as_ref().ok_or_else(|| {
            Error::parameter(
                "credentials",
                "client-credentials mode needs the secret's value here, or a certificate, or a Federated token file.",
            )
        })?;
        form.push(("client_secret".into(), secret.expose().to_string()));
        Flow::ClientCredentials
    };
    form.push(("scope".into(), format!("{}/.default", config.resource)));
    token_request(session, flow, form)
}
