//! The sign-in commands: test-module, auth-start, auth-complete, auth-test, auth-reset.

use super::Arguments;
use super::CommandOutput;
use crate::auth::device_code::{self, Pending, Poll};
use crate::auth::federation::{FederatedTokenFile, TOKEN_FILE_VARIABLE};
use crate::auth::{MAX_DEVICE_CODE_LIFETIME_SECS, TokenResponse, client_credentials, managed_identity, tokens};
use crate::config::{AuthMode, Config};
use crate::error::Error;
use crate::graph::client;
use crate::graph::query::Query;
use crate::output::{Entry, ScheduledCommand};
use crate::session::Session;
use crate::time::iso8601;
use serde_json::{Map, Value, json};

const AUTH_CONTEXT: &str = "AADIdentityProtection.Auth";

/// `test-module`: the instance's Test button. Returns `ok` when a token works against Graph.
pub fn test_module(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    probe_graph(session)?;
    Ok(CommandOutput::entry(Entry::text("ok")))
}

/// `azure-ad-auth-test`: a valid token (cached, refreshed or new) and one cheap Graph call.
pub fn test(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    probe_graph(session)?;
    let who = match session.config.mode {
        AuthMode::DeviceCode => tokens::signed_in_as(&session.context)
            .map_or("a delegated sign-in".to_string(), |u| format!("the sign-in of {u}")),
        AuthMode::ClientCredentials => app_credential(&session.config),
        AuthMode::ManagedIdentity => "the engine's managed identity".to_string(),
    };
    let valid_until = tokens::stored_valid_until(&session.context).map(iso8601);
    let contents = json!({"auth_mode": session.config.mode.as_str(), "signed_in_as": tokens::signed_in_as(&session.context), "token_valid_until": valid_until, "graph": session.config.graph_root()});
    let markdown = format!(
        "✅ Success! Using {who}, Microsoft Graph answered the risky users list at {}.",
        session.config.graph_root()
    );
    Ok(CommandOutput::entry(Entry::json(contents, markdown)))
}

/// The credential the app signs in with, in the order client_credentials tries them: the
/// certificate, else a federated token (named by where its file comes from), else the secret.
fn app_credential(config: &Config) -> String {
    let app = &config.app_id;
    match (&config.certificate, &config.federated_token) {
        (Some(_), _) => format!("the certificate of app {app}"),
        (None, Some(file)) if FederatedTokenFile::from_environment().as_ref() == Some(file) => {
            format!("a federated token from `{TOKEN_FILE_VARIABLE}` for app {app}")
        }
        (None, Some(_)) => format!("a federated token from `federated_token_file` for app {app}"),
        (None, None) => format!("the client secret of app {app}"),
    }
}

/// Lists one risky user: proves the token, the permission and the licence in one request.
fn probe_graph(session: &mut Session) -> Result<(), Error> {
    let url = Query::at("identityProtection/riskyUsers").top(1).url(&session.config);
    client::get_json(session, &url, "Checking access to risky users").map(|_| ())
}

/// `azure-ad-auth-reset`: forget every token and device code.
pub fn reset(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    session.context = Map::new();
    Ok(CommandOutput::entry(Entry::text(
        "Authorization was reset successfully. Run **!azure-ad-auth-start** to start the authentication process.",
    )))
}

/// `azure-ad-auth-start`: device code, or a connection test in client-credentials mode.
pub fn start(session: &mut Session, _: &Arguments) -> Result<CommandOutput, Error> {
    if session.config.mode == AuthMode::ManagedIdentity {
        let response = managed_identity::request_token(session)?;
        tokens::store(session, &response);
        let markdown = "✅ Success! The engine's managed identity obtained a token. No sign-in step is needed in this mode; run **!azure-ad-auth-test** to check Graph permissions.";
        return Ok(CommandOutput::entry(Entry::text(markdown)));
    }
    if session.config.mode == AuthMode::ClientCredentials {
        let response = client_credentials::request_token(session)?;
        tokens::store(session, &response);
        let markdown = format!(
            "✅ Success! Client credentials work: Entra ID issued a token for app {} in tenant {}. No sign-in step is needed in this mode; run **!azure-ad-auth-test** to check Graph permissions.",
            session.config.app_id,
            session.config.tenant_segment()
        );
        return Ok(CommandOutput::entry(Entry::text(markdown)));
    }
    let pending = device_code::start(session)?;
    Ok(CommandOutput::entry(instructions(&pending)))
}

fn instructions(pending: &Pending) -> Entry {
    let minutes = pending
        .expires_at
        .map(|at| format!(" The code expires at {}.", iso8601(at)))
        .unwrap_or_default();
    let markdown = format!(
        "### Authorization instructions\n1. To sign in, use a web browser to open the page [{uri}]({uri}) and enter the code **{code}** to authenticate.{minutes}\n2. Run the **!azure-ad-auth-complete** command in the War Room (or `!azure-ad-auth-complete polling=true` to wait for the sign-in).",
        uri = pending.verification_uri,
        code = pending.user_code,
    );
    let contents = json!({"user_code": pending.user_code, "verification_uri": pending.verification_uri, "expires_at": pending.expires_at.map(iso8601), "interval": pending.interval, "message": pending.message});
    Entry::json(contents, markdown).with_context(AUTH_CONTEXT, auth_context(pending))
}

fn auth_context(pending: &Pending) -> Value {
    json!({"UserCode": pending.user_code, "VerificationUri": pending.verification_uri, "ExpiresAt": pending.expires_at.map(iso8601), "Interval": pending.interval})
}

/// `azure-ad-auth-complete`: redeem the device code, or say what is still missing.
pub fn complete(session: &mut Session, args: &Arguments) -> Result<CommandOutput, Error> {
    if session.config.mode != AuthMode::DeviceCode {
        tokens::access_token(session, tokens::Permissions::USERS)?;
        let markdown = match session.config.mode {
            AuthMode::ManagedIdentity => "✅ Authorization completed successfully. Managed-identity mode needs no sign-in; a token was obtained from the engine's managed identity.".to_string(),
            _ => format!(
                "✅ Authorization completed successfully. Client-credentials mode needs no sign-in; a token was obtained with {}.",
                app_credential(&session.config)
            ),
        };
        return Ok(CommandOutput::entry(Entry::text(markdown)));
    }
    if device_code::stored(&session.context).is_none()
        && (tokens::cached(session, tokens::Permissions::USERS).is_some() || tokens::has_refresh_token(session))
    {
        let who = tokens::signed_in_as(&session.context)
            .map(|u| format!(" as {u}"))
            .unwrap_or_default();
        return Ok(CommandOutput::entry(Entry::text(format!(
            "No sign-in is in progress; this instance is already signed in{who}. Run **!azure-ad-auth-test** to check it, or **!azure-ad-auth-start** to sign in again."
        ))));
    }
    let polling = args.flag("polling");
    match device_code::poll(session)? {
        Poll::Complete(response) => Ok(signed_in(session, &response)),
        Poll::Pending {
            pending,
            wait,
            slowed_down,
        } => not_yet(session, &pending, wait, slowed_down, polling),
        Poll::TooEarly { pending, wait } => not_yet(session, &pending, wait, false, polling),
    }
}

fn signed_in(session: &mut Session, response: &TokenResponse) -> CommandOutput {
    tokens::store(session, response);
    let who = response.signed_in();
    let valid_until = tokens::stored_valid_until(&session.context).map(iso8601);
    let as_user = who
        .user
        .as_deref()
        .map(|u| format!(" Signed in as {u}"))
        .unwrap_or_default();
    let tenant = who
        .tenant
        .as_deref()
        .map(|t| format!(" (tenant {t})"))
        .unwrap_or_default();
    let dot = if as_user.is_empty() { "" } else { "." };
    let markdown = format!("✅ Authorization completed successfully.{as_user}{tenant}{dot}");
    let context = json!({"UserPrincipalName": who.user, "TenantId": who.tenant, "ValidUntil": valid_until});
    let contents =
        json!({"signed_in_as": who.user, "name": who.name, "tenant_id": who.tenant, "valid_until": valid_until});
    CommandOutput::entry(Entry::json(contents, markdown).with_context(AUTH_CONTEXT, context))
}

fn not_yet(
    session: &Session,
    pending: &Pending,
    wait: u64,
    slowed_down: bool,
    polling: bool,
) -> Result<CommandOutput, Error> {
    let slow = if slowed_down {
        " Entra ID asked to poll less often, so the interval grew."
    } else {
        ""
    };
    let message = format!(
        "Sign-in is not finished yet. Open [{uri}]({uri}) and enter the code **{code}**, then run **!azure-ad-auth-complete** again (not before {wait} seconds from now).{slow}",
        uri = pending.verification_uri,
        code = pending.user_code,
    );
    if !polling {
        return Err(Error::SignIn(message));
    }
    // A stored expiry is context data: a code never lives longer than Entra's longest.
    let remaining = pending
        .expires_at
        .map_or(900, |at| at.saturating_sub(session.now()))
        .min(MAX_DEVICE_CODE_LIFETIME_SECS);
    let mut args = Map::new();
    args.insert("polling".into(), Value::String("true".into()));
    let scheduled = ScheduledCommand {
        command: "azure-ad-auth-complete".into(),
        args,
        next_run_in_seconds: wait,
        timeout_in_seconds: remaining,
    };
    Ok(CommandOutput {
        entries: vec![Entry::text(message)],
        scheduled: Some(scheduled),
        ..CommandOutput::default()
    })
}
