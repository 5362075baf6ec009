//! The device-login page a person uses: `GET /devicelogin` serves a plain HTML form (no
//! JavaScript) with a user-code field and Approve / Deny buttons; `POST /devicelogin` settles
//! the code and says what happened. The admin endpoint settles codes the same way.

use super::request::RecordedRequest;
use super::state::{DeviceCodeStatus, State};
use super::wire::Reply;

const HTML: &str = "text/html; charset=utf-8";

/// What settling a user code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    /// The code was waiting and is now approved or declined.
    Done,
    /// No device code has this user code.
    Unknown,
    /// The code has expired.
    Expired,
    /// The code was approved, declined or redeemed already.
    AlreadySettled,
}

impl Settlement {
    /// A short sentence for people and for the admin endpoint's `error`.
    pub fn message(self, user_code: &str, approve: bool) -> String {
        match self {
            Settlement::Done if approve => format!("Code {user_code} approved: the app is now signed in."),
            Settlement::Done => format!("Code {user_code} denied: the app will not be signed in."),
            Settlement::Unknown => format!("Code {user_code} is unknown. Check the code the app showed."),
            Settlement::Expired => format!("Code {user_code} has expired. Start the sign-in again in the app."),
            Settlement::AlreadySettled => format!("Code {user_code} was already used."),
        }
    }
}

/// Approves (or declines) the device code with this user code, if it is still waiting.
pub(crate) fn settle(state: &mut State, user_code: &str, approve: bool) -> Settlement {
    let Some(grant) = state.device_code_by_user_code(user_code) else {
        return Settlement::Unknown;
    };
    match grant.effective_status() {
        DeviceCodeStatus::Pending => {
            grant.status = if approve {
                DeviceCodeStatus::Approved
            } else {
                DeviceCodeStatus::Declined
            };
            Settlement::Done
        }
        DeviceCodeStatus::Expired => Settlement::Expired,
        _ => Settlement::AlreadySettled,
    }
}

/// Answers `GET` (the form) and `POST` (the decision) on `/devicelogin`.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest) -> Reply {
    match request.method.to_ascii_uppercase().as_str() {
        "GET" => Reply::text(200, HTML, &page("Enter code", FORM)),
        "POST" => decide(state, request),
        _ => Reply::text(405, HTML, &page("Method not allowed", "<p>Use GET or POST.</p>"))
            .with_header("Allow", "GET, POST"),
    }
}

const FORM: &str = "<p>Enter the code displayed on your app or device.</p>\n\
<form method=\"post\" action=\"/devicelogin\">\n\
<label for=\"user_code\">Code</label>\n\
<input type=\"text\" id=\"user_code\" name=\"user_code\" autocomplete=\"off\" autofocus required>\n\
<button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\n\
<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button>\n\
</form>";

fn decide(state: &mut State, request: &RecordedRequest) -> Reply {
    let user_code = request.form_value("user_code").unwrap_or_default();
    let user_code = user_code.trim();
    let approve = match request.form_value("action").as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return outcome_page(400, "Choose Approve or Deny."),
    };
    if user_code.is_empty() {
        return outcome_page(400, "Enter the code displayed on your app or device.");
    }
    let settlement = settle(state, user_code, approve);
    let status = if settlement == Settlement::Done { 200 } else { 400 };
    outcome_page(status, &settlement.message(user_code, approve))
}

fn outcome_page(status: u16, message: &str) -> Reply {
    let body = format!(
        "<p>{}</p>\n<p><a href=\"/devicelogin\">Enter another code</a></p>",
        escape(message)
    );
    Reply::text(status, HTML, &page("Device sign-in", &body))
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body><h1>{title}</h1>\n{body}\n<p><small>Offline Entra ID emulator</small></p></body></html>\n"
    )
}

/// Escapes text for HTML (user codes are echoed back).
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let cases = [("ABC", "ABC"), ("<b>&\"'", "&lt;b&gt;&amp;&quot;&#39;")];
        for (text, expected) in cases {
            assert_eq!(escape(text), expected);
        }
    }
}
