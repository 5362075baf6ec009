//! The device-login page a person uses, shaped like the sign-in pages they know:
//! `GET /devicelogin` asks for the code; `GET /devicelogin?code=…` shows which app asks, in which
//! tenant, for which permissions, with Approve / Deny (a GET never changes a code);
//! `POST /devicelogin` settles the code and says what to do next. Plain HTML and a little inline
//! CSS: no JavaScript, nothing loaded from elsewhere. The admin endpoint settles codes the same way.

use super::config::TenantConfig;
use super::permission_text::PermissionText;
use super::request::RecordedRequest;
use super::state::{DeviceCodeGrant, DeviceCodeStatus, State};
use super::wire::{Reply, now};

const HTML: &str = "text/html; charset=utf-8";
/// Only the inline style sheet may load, and forms may post back here only: echoed codes stay inert.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/// The name shown for an app: the emulator's registrations carry none, and exist for this integration.
const APP_NAME: &str = "Azure AD Identity Protection (SOAR integration)";

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
    if let Some(refusal) = not_waiting(grant) {
        return refusal;
    }
    grant.status = if approve {
        DeviceCodeStatus::Approved
    } else {
        DeviceCodeStatus::Declined
    };
    Settlement::Done
}

/// Why a device code cannot be settled any more; `None` while it waits for the user.
fn not_waiting(grant: &DeviceCodeGrant) -> Option<Settlement> {
    match grant.effective_status() {
        DeviceCodeStatus::Pending => None,
        DeviceCodeStatus::Expired => Some(Settlement::Expired),
        _ => Some(Settlement::AlreadySettled),
    }
}

/// A copy of the waiting device code with this user code, or why there is none.
fn waiting_grant(state: &mut State, user_code: &str) -> Result<DeviceCodeGrant, Settlement> {
    let grant = state.device_code_by_user_code(user_code).ok_or(Settlement::Unknown)?;
    not_waiting(grant).map_or_else(|| Ok(grant.clone()), Err)
}

/// Answers `GET` (the code form, or the review of a code) and `POST` (the decision) on `/devicelogin`.
pub(crate) fn handle(state: &mut State, request: &RecordedRequest) -> Reply {
    match request.method.to_ascii_uppercase().as_str() {
        "GET" => show(state, request),
        "POST" => decide(state, request),
        _ => html(405, &page("Method not allowed", "<p>Use GET or POST.</p>")).with_header("Allow", "GET, POST"),
    }
}

/// The code form, or with `?code=` (or the form's own `?user_code=`) the review of that code.
fn show(state: &mut State, request: &RecordedRequest) -> Reply {
    let typed = request.query_value("code").or_else(|| request.query_value("user_code"));
    let typed = typed.as_deref().unwrap_or_default().trim();
    if typed.is_empty() {
        return html(200, &page("Enter code", &code_form("", None)));
    }
    match waiting_grant(state, typed) {
        Ok(grant) => html(200, &page("Approve this sign-in?", &review(&state.config, &grant))),
        Err(refusal) => html(
            400,
            &page("Enter code", &code_form(typed, Some(&refusal.message(typed, true)))),
        ),
    }
}

/// The code field; "Next" reviews the code (a GET), the folded shortcut settles it at once.
fn code_form(typed: &str, problem: Option<&str>) -> String {
    let problem = problem.map_or_else(String::new, |text| {
        format!("<div class=\"problem\" role=\"alert\">{}</div>\n", escape(text))
    });
    format!(
        "{problem}<p class=\"lead\">Type the code your SOAR showed when you ran <code>!azure-ad-auth-start</code>. \
         Next, you see which app is asking and what it will be allowed to do.</p>\n\
         <form method=\"post\" action=\"/devicelogin\">\n\
         <label for=\"user_code\">Code</label>\n\
         <input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{value}\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" autofocus required>\n\
         <div class=\"actions\"><button type=\"submit\" formmethod=\"get\" class=\"primary\">Next</button></div>\n\
         <details><summary>Emulator shortcut: approve or deny without the review</summary>\n\
         <div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"approve\">Approve</button>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></div>\n\
         </details>\n</form>",
        value = escape(typed)
    )
}

/// Who asks, as whom, then the decision and "Not your code?", then what the app will be allowed
/// to do and the identifiers: the buttons come first so that they stay above the fold on a
/// laptop and on a phone however many permissions the code asks for (Approve is described by the
/// list, so a screen reader reads the permissions with the button).
fn review(config: &TenantConfig, grant: &DeviceCodeGrant) -> String {
    format!(
        "{summary}\n{decision}\n{code_line}\n\
         <h2 id=\"permissions-heading\">Permissions requested</h2>\n{scopes}\n\
         <h2>Details</h2>\n{facts}",
        summary = summary(config, grant),
        decision = decision_form(&grant.user_code),
        code_line = code_line(grant),
        scopes = scope_list(&grant.scopes),
        facts = facts(config, grant),
    )
}

/// One sentence: which app, as whom, in which tenant, how many permissions.
fn summary(config: &TenantConfig, grant: &DeviceCodeGrant) -> String {
    let count = grant.scopes.len();
    let permissions = if count == 1 { "permission" } else { "permissions" };
    format!(
        "<p class=\"lead\"><strong>{APP_NAME}</strong> asks to sign in as <strong>{name}</strong> \
         in <strong>{domain}</strong>, with the {count} {permissions} listed below. Approve only if you \
         started this sign-in yourself, with <code>!azure-ad-auth-start</code> in your SOAR.</p>",
        name = escape(&config.user.display_name),
        domain = escape(&config.tenant_domain),
    )
}

/// The code under review, its time left, and the way out when it is not the one the app showed.
fn code_line(grant: &DeviceCodeGrant) -> String {
    let minutes = grant.expires_at.saturating_sub(now()).div_ceil(60);
    format!(
        "<p class=\"aside\">Code <code>{code}</code> (expires in {minutes} min). \
         <a href=\"/devicelogin\">Not your code? Enter another one.</a></p>",
        code = escape(&grant.user_code),
    )
}

/// The identifiers a careful person checks: application id, tenant id, user name.
fn facts(config: &TenantConfig, grant: &DeviceCodeGrant) -> String {
    format!(
        "<dl class=\"facts\">\n\
         <dt>Application</dt><dd>{APP_NAME}<br><code>{app_id}</code></dd>\n\
         <dt>Tenant</dt><dd>{domain}<br><code>{tenant_id}</code></dd>\n\
         <dt>Signed in as</dt><dd>{name}<br><small>{upn}</small></dd>\n</dl>",
        app_id = escape(&grant.client_id),
        domain = escape(&config.tenant_domain),
        tenant_id = escape(&config.tenant_id),
        name = escape(&config.user.display_name),
        upn = escape(&config.user.user_principal_name),
    )
}

/// Each requested scope by the permissions reference's text, its bare scope name in small type;
/// a scope the emulator does not know by its bare name alone.
fn scope_list(scopes: &[String]) -> String {
    let items: String = scopes
        .iter()
        .map(|scope| {
            let permission = PermissionText::of(scope);
            let name = escape(permission.scope);
            match permission.display {
                Some(text) => format!("<li>{}<code>{name}</code></li>\n", escape(text)),
                None => format!("<li><code>{name}</code></li>\n"),
            }
        })
        .collect();
    format!("<ul class=\"scopes\" id=\"permissions\" aria-labelledby=\"permissions-heading\">\n{items}</ul>")
}

fn decision_form(user_code: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/devicelogin\">\n\
         <input type=\"hidden\" name=\"user_code\" value=\"{}\">\n\
         <div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"approve\" class=\"primary\" \
         aria-describedby=\"permissions\">Approve</button>\n\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></div>\n</form>",
        escape(user_code)
    )
}

/// Settles the code the form names and says what to do next.
fn decide(state: &mut State, request: &RecordedRequest) -> Reply {
    let user_code = request.form_value("user_code").unwrap_or_default();
    let user_code = user_code.trim();
    let approve = match request.form_value("action").as_deref() {
        Some("approve") => true,
        Some("deny") => false,
        _ => return message_page(400, "Choose Approve or Deny", "Choose Approve or Deny.", ANOTHER_CODE),
    };
    if user_code.is_empty() {
        let text = "Enter the code displayed on your app or device.";
        return message_page(400, "Enter code", text, ANOTHER_CODE);
    }
    let settlement = settle(state, user_code, approve);
    let (status, title, next) = match settlement {
        Settlement::Done if approve => (200, "Sign-in approved", AFTER_APPROVAL),
        Settlement::Done => (200, "Sign-in refused", AFTER_REFUSAL),
        _ => (400, "Code not accepted", ANOTHER_CODE),
    };
    message_page(status, title, &settlement.message(user_code, approve), next)
}

const AFTER_APPROVAL: &str = "<p class=\"next\">Return to your SOAR and run <code>!azure-ad-auth-complete</code> \
to finish signing in. You can close this page.</p>";
const AFTER_REFUSAL: &str = "<p class=\"aside\">The sign-in was refused: the app gets no access. To try again, run \
<code>!azure-ad-auth-start</code> in your SOAR.</p>";
const ANOTHER_CODE: &str = "<p class=\"aside\"><a href=\"/devicelogin\">Enter another code</a></p>";

/// `message` is the page's first plain `<p>`: the `demo` subcommand quotes it.
fn message_page(status: u16, title: &str, message: &str, next: &str) -> Reply {
    let body = format!("<p>{}</p>\n{next}", escape(message));
    html(status, &page(title, &body))
}

fn html(status: u16, page: &str) -> Reply {
    Reply::text(status, HTML, page)
        .with_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        .with_header("Cache-Control", "no-store")
}

/// A whole page; `title` is always our own text, `body` is escaped already.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Entra ID emulator</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <div class=\"banner\"><strong>Offline emulator</strong> standing in for Microsoft's sign-in page: \
         no Microsoft account is used, nothing reaches Microsoft.</div>\n\
         <main>\n<h1>{title}</h1>\n{body}\n</main>\n\
         <footer>Offline Entra ID + Microsoft Graph emulator</footer>\n</body>\n</html>\n"
    )
}

/// System fonts, one centred card, large touch targets, a visible focus ring; the card fills a
/// phone's width and the margins shrink on short screens, so the decision stays above the fold.
const STYLE: &str = "
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f2f3f5;color:#1b1f24}
.banner{background:#fff1c2;border-bottom:1px solid #e3c766;padding:.45rem 1rem;text-align:center;font-size:.85rem}
main{box-sizing:border-box;max-width:40rem;margin:1.25rem auto;padding:1.25rem 2rem;background:#fff;
border:1px solid #d8dce1;border-radius:8px}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 .75rem}h2{font-size:1.05rem;margin:1.5rem 0 .25rem}
.lead{color:#3d444d;margin:0 0 .5rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{box-sizing:border-box;width:100%;padding:.55rem .7rem;font:inherit;font-size:1.3rem;letter-spacing:.12em;
text-transform:uppercase;border:1px solid #6e7781;border-radius:6px}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0 .5rem}
button{font:inherit;font-weight:600;min-width:7.5rem;padding:.6rem 1.6rem;border-radius:6px;border:1px solid #6e7781;
background:#fff;color:#1b1f24;cursor:pointer}
button.primary{background:#0f62c5;border-color:#0f62c5;color:#fff}
:focus-visible{outline:3px solid #0f62c5;outline-offset:2px}
button.primary:focus-visible{outline-color:#1b1f24}
details{margin-top:1rem;font-size:.9rem;color:#3d444d}summary{cursor:pointer}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.4rem 1.25rem;margin:.5rem 0 0}
dt{font-weight:600}dd{margin:0;min-width:0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
p code{white-space:nowrap}
small{color:#57606a}
ul.scopes{list-style:none;padding:0;margin:0}
ul.scopes li{padding:.35rem 0;border-bottom:1px solid #e4e7eb;line-height:1.35}
ul.scopes li code{display:block;font-size:.8rem;color:#57606a}
.problem{background:#ffecec;border:1px solid #f3a6a6;border-radius:6px;padding:.6rem .8rem;margin-bottom:1rem}
.next{background:#e9f5ec;border:1px solid #9bd3a9;border-radius:6px;padding:.6rem .8rem}
.aside{font-size:.9rem;margin:.25rem 0}.aside a{white-space:nowrap}a{color:#0f62c5}
footer{text-align:center;font-size:.8rem;color:#57606a;margin:0 1rem 2rem}
@media (max-width:32rem){main{margin:0 0 1.5rem;padding:1rem;border-width:0 0 1px;border-radius:0}
h1{font-size:1.35rem}dl{grid-template-columns:1fr;gap:.1rem}dd{margin-bottom:.6rem}
.actions button{flex:1}}
";

/// Escapes text for HTML: codes, scopes and tenant values are echoed back.
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

    #[test]
    fn scopes_are_listed_by_permission_text_then_bare_name_and_escaped() {
        let scopes = [
            "openid",
            "http://127.0.0.1:34309/IdentityRiskEvent.Read.All",
            "https://graph.microsoft.com/Custom.Thing",
            "<img src=x>",
        ];
        let list = scope_list(&scopes.map(str::to_owned));
        #[rustfmt::skip]
        let items = [
            "<li>Sign users in<code>openid</code></li>",
            "<li>Read identity risk event information<code>IdentityRiskEvent.Read.All</code></li>",
            "<li><code>Custom.Thing</code></li>",
            "<li><code>&lt;img src=x&gt;</code></li>",
        ];
        for item in items {
            assert!(list.contains(item), "{item} in {list}");
        }
        assert!(!list.contains("http"), "{list}");
    }
}
