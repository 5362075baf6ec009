//! Client credentials: an application token from the app's client secret.

use super::{Flow, TokenResponse, token_request};
use crate::error::Error;
use crate::session::Session;

/// Requests an application token for `{graph}/.default`.
pub fn request_token(session: &Session) -> Result<TokenResponse, Error> {
    let secret = session
        .config
        .client_secret
        .as_ref()
        .ok_or_else(|| Error::parameter("credentials", "client-credentials mode needs the client secret value."))?;
    let form = vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), session.config.app_id.clone()),
        ("client_secret".into(), secret.expose().to_string()),
        ("scope".into(), format!("{}/.default", session.config.resource)),
    ];
    token_request(session, Flow::ClientCredentials, form)
}
