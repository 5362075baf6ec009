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
        ],
    );
    #[rustfmt::skip]
    let scopes = [
        ("openid", "Sign you in"),
        ("profile", "See your basic profile"),
        ("offline_access", "Keep this access when you are away"),
        ("https://graph.microsoft.com/IdentityRiskEvent.Read.All", "Read the risk detections"),
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

#[test]
fn the_code_forms_own_get_reviews_the_code_too() {
    let h = Harness::new();
    let (_, user_code) = h.device_codes_for(USER_SCOPE);
    let page = h.get(&format!("/devicelogin?user_code=+{user_code}+"), None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert_says(&page, &["Read and update risky users", "Approve this sign-in?"]);
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
