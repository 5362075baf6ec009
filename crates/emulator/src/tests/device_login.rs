//! The device-login page as a person sees it: the code form, the review of a code (app, tenant,
//! requested scopes), what Approve and Deny say, and that every echoed value is escaped.

use super::*;

const HOSTILE: &str = "<script>alert(1)</script>";
const HOSTILE_IN_URL: &str = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";

impl Harness {
    /// Starts a device flow asking for `scope`; returns (device code, user code).
    fn device_codes_for(&self, scope: &str) -> (String, String) {
        let code = self.device_code(scope);
        (code, self.emulator.last_user_code().unwrap_or_default())
    }

    fn decide(&self, user_code: &str, action: &str) -> Answer {
        self.post("/devicelogin", &[("user_code", user_code), ("action", action)])
    }
}

/// The text of the page's first plain `<p>`, which the `demo` subcommand quotes.
fn first_paragraph(page: &str) -> &str {
    page.split("<p>")
        .nth(1)
        .and_then(|p| p.split("</p>").next())
        .unwrap_or("")
}

fn assert_says(page: &Answer, needles: &[&str]) {
    for needle in needles {
        assert!(page.text.contains(needle), "missing {needle:?} in {}", page.text);
    }
}

#[test]
fn code_form_reads_well_on_any_screen_and_loads_nothing_from_elsewhere() {
    let h = Harness::new();
    let page = h.get("/devicelogin", None);
    assert_eq!(page.status, 200);
    assert_says(
        &page,
        &[
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<style>",
            "Offline emulator",
            "!azure-ad-auth-start",
            "formmethod=\"get\"",
        ],
    );
    for absent in ["<script", "<link", "src=", "url(", "@import", "http://", "https://"] {
        assert!(!page.text.contains(absent), "{absent}");
    }
    let policy = page.header("Content-Security-Policy").unwrap_or_default();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
}

#[test]
fn review_names_app_tenant_and_each_requested_scope_without_settling() {
    let h = Harness::new();
    let scope = "openid profile offline_access https://graph.microsoft.com/IdentityRiskEvent.Read.All Custom.Thing";
    let (device_code, user_code) = h.device_codes_for(scope);
    let page = h.get(&format!("/devicelogin?code={}", user_code.to_lowercase()), None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert_says(
        &page,
        &[
            "Offline emulator",
            PUBLIC_APP,
            "Azure AD Identity Protection",
            &h.config.tenant_id,
            &h.config.tenant_domain,
            &h.config.user.user_principal_name,
            &format!("name=\"user_code\" value=\"{user_code}\""),
            "value=\"approve\"",
            "value=\"deny\"",
            "with the 5 permissions listed below",
        ],
    );
    #[rustfmt::skip]
    let scopes = [
        ("openid", "Sign users in"),
        ("profile", "View users&#39; basic profile"),
        ("offline_access", "Maintain access to data you have given it access to"),
        ("IdentityRiskEvent.Read.All", "Read identity risk event information"),
        ("Custom.Thing", "<code>"),
    ];
    for (scope, first_words) in scopes {
        let item = page
            .text
            .split("<li>")
            .find(|li| li.contains(&format!("<code>{scope}</code>")));
        assert!(item.is_some_and(|li| li.starts_with(first_words)), "{scope}: {item:?}");
    }
    assert_eq!(
        h.poll(&device_code).json()["error"],
        "authorization_pending",
        "a GET settles nothing"
    );
}

/// The permission list of a review page: the text of its `<ul class="scopes" …>…</ul>`.
fn permission_list(page: &str) -> &str {
    page.split("<ul class=\"scopes\"")
        .nth(1)
        .and_then(|list| list.split("</ul>").next())
        .unwrap_or("")
}

/// Issue 19: the list showed `http://127.0.0.1:PORT/IdentityRiskEvent.Read.All` where Microsoft
/// shows "Read identity risk event information", whatever resource the scopes were sent for.
#[test]
fn permissions_show_their_reference_text_without_the_resource_prefix() {
    let h = Harness::new();
    let base = h.emulator.base_url();
    #[rustfmt::skip]
    let permissions = [
        ("IdentityRiskEvent.Read.All", "Read identity risk event information"),
        ("IdentityRiskEvent.ReadWrite.All", "Read and write risk event information"),
        ("IdentityRiskyUser.Read.All", "Read identity risky user information"),
        ("IdentityRiskyUser.ReadWrite.All", "Read and write risky user information"),
        ("IdentityRiskyServicePrincipal.Read.All", "Read all identity risky service principal information"),
        ("IdentityRiskyServicePrincipal.ReadWrite.All", "Read and write all identity risky service principal information"),
        ("AuditLog.Read.All", "Read audit log data"),
        ("Directory.Read.All", "Read directory data"),
        ("User.RevokeSessions.All", "Revoke all sign in sessions for a user"),
        ("Policy.Read.All", "Read your organization&#39;s policies"),
        ("Policy.ReadWrite.ConditionalAccess", "Read and write your organization&#39;s conditional access policies"),
    ];
    let resources = [
        base.as_str(),
        "https://graph.microsoft.com",
        "https://graph.microsoft.us",
    ];
    for resource in resources {
        let scope: Vec<String> = ["openid", "profile", "offline_access"]
            .into_iter()
            .map(str::to_owned)
            .chain(permissions.iter().map(|(name, _)| format!("{resource}/{name}")))
            .collect();
        let (_, user_code) = h.device_codes_for(&scope.join(" "));
        let page = h.get(&format!("/devicelogin?code={user_code}"), None);
        let list = permission_list(&page.text);
        for (name, text) in permissions {
            let item = format!("<li>{text}<code>{name}</code></li>");
            assert!(list.contains(&item), "{resource}: {item} in {list}");
        }
        assert!(
            !list.contains("http://") && !list.contains("https://"),
            "{resource}: {list}"
        );
    }
}

/// Issue 19: Approve, Deny and "Not your code?" fell below the fold at 1280x800 and on a phone.
/// The layout's promise: a viewport meta tag, and the decision and the way out come before the
/// permission list and the details, so no number of permissions pushes them down.
#[test]
fn decision_and_not_your_code_come_before_the_permission_list() {
    let h = Harness::new();
    let (_, user_code) = h.device_codes_for(USER_SCOPE);
    let page = h.get(&format!("/devicelogin?code={user_code}"), None);
    let at = |needle: &str| page.text.find(needle).unwrap_or_else(|| panic!("missing {needle}"));
    assert!(at("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">") < at("<body>"));
    let approve = at("value=\"approve\"");
    let deny = at("value=\"deny\"");
    let not_yours = at("Not your code?");
    let list = at("<ul class=\"scopes\"");
    let details = at("<dl class=\"facts\">");
    assert!(approve < deny && deny < not_yours && not_yours < list && list < details);
    assert!(at("<main>") < approve && at("<h1>") < at("<p class=\"lead\">"));
    // Approve is described by the list, so a screen reader reads the permissions with the button.
    assert!(at("aria-describedby=\"permissions\">Approve") < deny);
    assert_eq!(at("<ul class=\"scopes\" id=\"permissions\""), list);
}

#[test]
fn the_code_forms_own_get_reviews_the_code_too() {
    let h = Harness::new();
    let (_, user_code) = h.device_codes_for(USER_SCOPE);
    let page = h.get(&format!("/devicelogin?user_code=+{user_code}+"), None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert_says(
        &page,
        &["Read and write risky user information", "Approve this sign-in?"],
    );
}

#[test]
fn review_of_a_code_that_no_longer_waits_says_why_and_keeps_the_code() {
    let h = Harness::new();
    #[rustfmt::skip]
    let cases = [
        // (what happens to the code first, the page says)
        ("unknown", "is unknown"),
        ("approved", "already used"),
        ("expired", "has expired"),
    ];
    for (setup, needle) in cases {
        let (_, user_code) = h.device_codes_for(USER_SCOPE);
        let typed = match setup {
            "unknown" => "NOSUCHCD".to_owned(),
            "approved" => {
                assert!(h.emulator.approve(&user_code));
                user_code
            }
            _ => {
                h.emulator.expire_device_codes();
                user_code
            }
        };
        let page = h.get(&format!("/devicelogin?code={typed}"), None);
        assert_eq!(page.status, 400, "{setup}");
        assert_says(&page, &[needle, &format!("value=\"{typed}\""), "role=\"alert\""]);
        assert!(
            !page.text.contains("value=\"approve\" class=\"primary\""),
            "{setup}: no decision form"
        );
    }
}

#[test]
fn approval_sends_the_user_back_to_the_soar() {
    let h = Harness::new();
    let (device_code, user_code) = h.device_codes_for(USER_SCOPE);
    let page = h.decide(&user_code, "approve");
    assert_eq!(page.status, 200, "{}", page.text);
    assert_says(
        &page,
        &[
            "Sign-in approved",
            "Return to your SOAR",
            "<code>!azure-ad-auth-complete</code>",
        ],
    );
    assert_eq!(
        first_paragraph(&page.text),
        format!("Code {user_code} approved: the app is now signed in.")
    );
    assert_eq!(h.poll(&device_code).status, 200);
}

#[test]
fn denial_says_the_sign_in_was_refused() {
    let h = Harness::new();
    let (device_code, user_code) = h.device_codes_for(USER_SCOPE);
    let page = h.decide(&user_code, "deny");
    assert_eq!(page.status, 200, "{}", page.text);
    assert_says(
        &page,
        &["Sign-in refused", "The sign-in was refused", "!azure-ad-auth-start"],
    );
    assert!(!page.text.contains("!azure-ad-auth-complete"));
    assert_eq!(h.poll(&device_code).json()["error"], "authorization_declined");
}

#[test]
fn hostile_codes_scopes_and_tenant_values_are_escaped() {
    let mut config = TenantConfig::default();
    config.user.display_name = "<b onmouseover=x>Sam</b>".to_owned();
    let h = Harness::with(config);
    let (_, user_code) = h.device_codes_for(&format!("openid {HOSTILE}"));
    let pages = [
        h.get(&format!("/devicelogin?code={HOSTILE_IN_URL}"), None),
        h.get(&format!("/devicelogin?code={user_code}"), None),
        h.decide(HOSTILE, "approve"),
        h.decide(HOSTILE, "deny"),
    ];
    for page in pages {
        assert!(
            !page.text.contains("<script") && !page.text.contains("<b "),
            "{}",
            page.text
        );
        assert!(page.text.contains("&lt;"), "{}", page.text);
    }
}
