//! HTTP-level tests of the web pages through the real binary: redirects (setup, sign-in,
//! MFA enrollment), CSRF rejection, inline validation errors, success paths with flash
//! messages, secrets shown once, and access of other users refused.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::json;

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_setup, cli_user, json,
    totp_code,
};

/// A cookie-keeping browser stand-in that never follows redirects.
pub(crate) struct Web {
    pub(crate) base: String,
    pub(crate) http: reqwest::blocking::Client,
    jar: RefCell<BTreeMap<String, String>>,
}

pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    /// The first hidden `csrf_token` of the page.
    pub(crate) fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf_token field in:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_string()
    }

    pub(crate) fn assert_redirect(&self, to: &str) {
        assert_eq!(
            self.status, 303,
            "expected 303 to {to}; body:\n{}",
            self.body
        );
        assert_eq!(self.location(), to);
    }

    pub(crate) fn assert_page(&self, status: u16, text: &str) {
        assert_eq!(self.status, status, "body:\n{}", self.body);
        assert!(
            self.body.contains(text),
            "expected {text:?} in the page:\n{}",
            self.body
        );
    }
}

impl Web {
    pub(crate) fn new(app: &Appliance) -> Self {
        Self {
            base: app.url.clone(),
            http: app.client.clone(),
            jar: RefCell::new(BTreeMap::new()),
        }
    }

    pub(crate) fn send(&self, req: reqwest::blocking::RequestBuilder) -> Resp {
        let cookies = self
            .jar
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = req.header("Accept", "text/html");
        let req = if cookies.is_empty() {
            req
        } else {
            req.header("Cookie", cookies)
        };
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().expect("cookie header");
            let pair = v.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("cookie pair");
            let removal = value.is_empty() || v.contains("Max-Age=0");
            if removal {
                self.jar.borrow_mut().remove(name);
            } else {
                self.jar
                    .borrow_mut()
                    .insert(name.to_string(), value.to_string());
            }
        }
        let body = resp.text().unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    pub(crate) fn post(&self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(fields).expect("form");
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body),
        )
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.jar.borrow().get(name).cloned()
    }

    /// Signs in through the login form (no second factor configured).
    pub(crate) fn sign_in(&self, email: &str, password: &str) {
        let page = self.get("/login");
        assert_eq!(page.status, 200, "{}", page.body);
        let r = self.post(
            "/login",
            &[
                ("csrf_token", &page.csrf()),
                ("email", email),
                ("password", password),
                ("next", "/"),
            ],
        );
        r.assert_redirect("/");
        assert!(self.cookie("rampart_session").is_some());
    }

    /// GET a page, then POST one of its forms with the page's CSRF token.
    pub(crate) fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let csrf = self.get(page).csrf();
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }
}

pub(crate) fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let i = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in:\n{body}"))
        + start.len();
    let j = body[i..].find(end).expect("end marker") + i;
    &body[i..j]
}

fn otpauth(secret: &str) -> String {
    format!("otpauth://totp/rampart:x?secret={secret}&issuer=rampart")
}

#[test]
fn setup_wizard_redirects_validation_and_mfa_enrollment() {
    let dir = TestDir::new("pages-setup");
    let app = Appliance::start(&dir); // zero users; MFA required
    let web = Web::new(&app);

    // Every page leads to /setup while there are no users.
    for path in [
        "/",
        "/login",
        "/settings/account",
        "/settings/users",
        "/models",
    ] {
        web.get(path).assert_redirect("/setup");
    }
    let setup = web.get("/setup");
    setup.assert_page(200, "Create administrator");
    assert!(web.cookie("rampart_login_csrf").is_some());
    let csp = setup.header("content-security-policy");
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(setup.header("cache-control"), "no-store");
    assert!(!setup.body.contains("<script>"), "no inline scripts");
    assert!(!setup.body.contains("style=\""), "no inline styles");

    let fields = |csrf: &'static str, pw: &'static str, confirm: &'static str| {
        vec![
            ("csrf_token", csrf),
            ("email", "admin@example.com"),
            ("name", "Ada Admin"),
            ("password", pw),
            ("password_confirm", confirm),
        ]
    };
    // Missing or wrong CSRF token: friendly 403, nothing created.
    web.post("/setup", &fields("", PASSWORD, PASSWORD))
        .assert_page(403, "This form has expired");
    web.post(
        "/setup",
        &fields("forged-token-value-xxxxxxxx", PASSWORD, PASSWORD),
    )
    .assert_page(403, "This form has expired");
    let csrf: &'static str = Box::leak(setup.csrf().into_boxed_str());
    // Inline policy and confirmation errors, the email kept.
    let weak = web.post("/setup", &fields(csrf, "short", "short"));
    weak.assert_page(422, "Password must contain");
    assert!(weak.body.contains("value=\"admin@example.com\""));
    web.post("/setup", &fields(csrf, PASSWORD, "Other-Password-2"))
        .assert_page(422, "The two passwords do not match.");
    web.get("/").assert_redirect("/setup");

    // Success signs the new superadmin in and sends them to MFA enrollment.
    web.post("/setup", &fields(csrf, PASSWORD, PASSWORD))
        .assert_redirect("/mfa/enroll");
    web.get("/setup").assert_page(404, "Page not found");
    web.post("/setup", &fields(csrf, PASSWORD, PASSWORD))
        .assert_page(404, "Page not found");
    for path in ["/", "/settings/account", "/settings/api-keys"] {
        web.get(path).assert_redirect("/mfa/enroll");
    }
    let enroll = web.get("/mfa/enroll");
    enroll.assert_page(200, "Protect your account");
    assert!(enroll.body.contains("Your administrator account is ready."));

    // Authenticator app: QR + secret, wrong code inline, right code → recovery codes once.
    web.submit("/mfa/enroll", "/mfa/enroll/totp", &[])
        .assert_redirect("/mfa/enroll/totp");
    let totp = web.get("/mfa/enroll/totp");
    totp.assert_page(200, "data:image/png;base64,");
    let secret = between(&totp.body, "id=\"totp-secret\">", "<").to_string();
    let again = web.get("/mfa/enroll/totp");
    assert!(again.body.contains(&secret), "reload shows the same secret");
    web.submit(
        "/mfa/enroll/totp",
        "/mfa/enroll/totp/confirm",
        &[("code", "000000")],
    )
    .assert_page(422, "The code is not valid");
    let done = web.submit(
        "/mfa/enroll/totp",
        "/mfa/enroll/totp/confirm",
        &[("code", &totp_code(&otpauth(&secret), 0))],
    );
    done.assert_page(200, "Save your recovery codes");
    assert_eq!(done.body.matches("<li><code>").count(), 10);
    let dash = web.get("/");
    dash.assert_page(200, "No threat models yet");
    assert!(dash.body.contains("id=\"kpi-models\">0<"));
    web.get("/mfa/enroll").assert_redirect("/settings/account");

    // Anonymous visitors are sent to sign in, keeping where they wanted to go.
    let anon = Web::new(&app);
    anon.get("/").assert_redirect("/login");
    anon.get("/settings/api-keys")
        .assert_redirect("/login?next=/settings/api-keys");
    anon.get("/login?next=/settings/api-keys")
        .assert_page(200, "name=\"next\" value=\"/settings/api-keys\"");
    // An off-site `next` is ignored.
    anon.get("/login?next=//evil.example/")
        .assert_page(200, "name=\"next\" value=\"/\"");
}

#[test]
fn login_errors_mfa_step_recovery_and_logout() {
    let dir = TestDir::new("pages-login");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir);

    // Enroll an authenticator through the JSON API.
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, enroll) = json(api.post("/api/mfa/totp/setup", json!({})));
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    let (status, confirmed) =
        json(api.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)})));
    assert_eq!(status, 200, "{confirmed}");
    let recovery = confirmed["recovery_codes"][0]
        .as_str()
        .expect("code")
        .to_string();

    let web = Web::new(&app);
    let page = web.get("/login");
    page.assert_page(200, "Sign in");
    let csrf = page.csrf();
    // The login form needs the double-submit token.
    web.post(
        "/login",
        &[("email", "admin@example.com"), ("password", PASSWORD)],
    )
    .assert_page(403, "This form has expired");
    let bad = web.post(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("email", "admin@example.com"),
            ("password", "Wrong-Password-1"),
        ],
    );
    bad.assert_page(401, "Invalid email or password.");
    assert!(bad.body.contains("value=\"admin@example.com\""));
    let unknown = web.post(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("email", "nobody@example.com"),
            ("password", "Wrong-Password-1"),
        ],
    );
    unknown.assert_page(401, "Invalid email or password.");

    // Password accepted → the authenticator step (pre-auth token in a cookie, not the page).
    let r = web.post(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("email", "admin@example.com"),
            ("password", PASSWORD),
            ("next", "/settings/account"),
        ],
    );
    r.assert_redirect("/login/mfa?next=/settings/account");
    assert!(web.cookie("rampart_session").is_none());
    let preauth = web.cookie("rampart_preauth").expect("pre-auth cookie");
    let step = web.get("/login/mfa?next=/settings/account");
    step.assert_page(200, "Authentication code");
    assert!(
        !step
            .body
            .contains(preauth.split('~').nth(1).expect("token"))
    );
    web.post(
        "/login/mfa/totp",
        &[("csrf_token", &csrf), ("code", "123456")],
    )
    .assert_page(422, "The code is not valid or was already used.");
    web.post(
        "/login/mfa/totp",
        &[
            ("csrf_token", &csrf),
            ("code", &totp_code(&url, 1)),
            ("next", "/settings/account"),
        ],
    )
    .assert_redirect("/settings/account");
    assert!(web.cookie("rampart_preauth").is_none());
    web.get("/settings/account")
        .assert_page(200, "Authenticator app");

    // Sign out needs the session's CSRF token.
    web.post("/logout", &[("csrf_token", "nope")])
        .assert_page(403, "This form has expired");
    web.submit("/settings/account", "/logout", &[])
        .assert_redirect("/login");
    web.get("/settings/account")
        .assert_redirect("/login?next=/settings/account");
    web.get("/login")
        .assert_page(200, "You have been signed out.");

    // Recovery code path: works once.
    let login = |web: &Web| {
        let csrf = web.get("/login").csrf();
        web.post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "admin@example.com"),
                ("password", PASSWORD),
            ],
        )
        .assert_redirect("/login/mfa?next=/");
        csrf
    };
    let csrf = login(&web);
    web.get("/login/mfa?method=recovery")
        .assert_page(200, "Recovery code");
    web.post(
        "/login/mfa/recovery",
        &[("csrf_token", &csrf), ("code", &recovery)],
    )
    .assert_redirect("/");
    web.submit("/", "/logout", &[]).assert_redirect("/login");
    let csrf = login(&web);
    web.post(
        "/login/mfa/recovery",
        &[("csrf_token", &csrf), ("code", &recovery)],
    )
    .assert_page(422, "not valid or was already used");

    // Without a pending sign-in the MFA step sends you back to the password form.
    let fresh = Web::new(&app);
    fresh.get("/login/mfa").assert_redirect("/login");
}

#[test]
fn login_throttling_message() {
    let dir = TestDir::new("pages-throttle");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir);
    let web = Web::new(&app);
    let csrf = web.get("/login").csrf();
    let mut last = None;
    for _ in 0..12 {
        let r = web.post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "admin@example.com"),
                ("password", "Wrong-Password-1"),
            ],
        );
        if r.status == 429 {
            last = Some(r);
            break;
        }
        r.assert_page(401, "Invalid email or password.");
    }
    let r = last.expect("throttled within 12 attempts");
    r.assert_page(429, "Too many failed sign-in attempts. Wait");
}

#[test]
fn account_settings_forms() {
    let dir = TestDir::new("pages-account");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let page = web.get("/settings/account");
    page.assert_page(200, "Security keys");
    assert!(page.body.contains("No security keys yet"));
    assert!(page.body.contains("Enable authenticator app"));
    web.get("/settings").assert_redirect("/settings/account");

    // Password change: CSRF, inline errors, success flash.
    web.post(
        "/settings/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "New-Password-77"),
            ("new_password_confirm", "New-Password-77"),
        ],
    )
    .assert_page(403, "This form has expired");
    web.submit(
        "/settings/account",
        "/settings/account/password",
        &[
            ("current_password", "Wrong-Password-1"),
            ("new_password", "New-Password-77"),
            ("new_password_confirm", "New-Password-77"),
        ],
    )
    .assert_page(422, "Current password is not correct.");
    web.submit(
        "/settings/account",
        "/settings/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "weak"),
            ("new_password_confirm", "weak"),
        ],
    )
    .assert_page(422, "Password must contain");
    web.submit(
        "/settings/account",
        "/settings/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "New-Password-77"),
            ("new_password_confirm", "Other-Password-77"),
        ],
    )
    .assert_page(422, "The two new passwords do not match.");
    web.submit(
        "/settings/account",
        "/settings/account/password",
        &[
            ("current_password", PASSWORD),
            ("new_password", "New-Password-77"),
            ("new_password_confirm", "New-Password-77"),
        ],
    )
    .assert_redirect("/settings/account");
    let after = web.get("/settings/account");
    after.assert_page(200, "Password changed.");
    // The flash is shown once.
    assert!(
        !web.get("/settings/account")
            .body
            .contains("Password changed.")
    );
    Client::login(&app, "admin@example.com", "New-Password-77");

    // Authenticator app from Settings: start, wrong code, confirm → recovery codes.
    web.submit("/settings/account", "/settings/account/totp", &[])
        .assert_redirect("/settings/account/totp");
    let setup = web.get("/settings/account/totp");
    setup.assert_page(200, "Verify and enable");
    let secret = between(&setup.body, "id=\"totp-secret\">", "<").to_string();
    web.submit(
        "/settings/account/totp",
        "/settings/account/totp/confirm",
        &[("code", "999999")],
    )
    .assert_page(422, "The code is not valid");
    let codes = web.submit(
        "/settings/account/totp",
        "/settings/account/totp/confirm",
        &[("code", &totp_code(&otpauth(&secret), 0))],
    );
    codes.assert_page(200, "Save your recovery codes");
    let first_code = between(&codes.body, "<li><code>", "<").to_string();
    let account = web.get("/settings/account");
    account.assert_page(200, "Reconfigure authenticator app");
    assert!(account.body.contains("10 unused"));

    // Reconfigure needs password + current code (inline errors).
    web.submit(
        "/settings/account",
        "/settings/account/totp",
        &[("password", "Wrong-Password-1"), ("code", "123456")],
    )
    .assert_page(422, "Your current password is required");

    // Recovery codes: wrong password inline, right password → new codes shown once.
    web.submit(
        "/settings/account",
        "/settings/account/recovery-codes",
        &[("password", "Wrong-Password-1")],
    )
    .assert_page(422, "Password is not correct.");
    let regen = web.submit(
        "/settings/account",
        "/settings/account/recovery-codes",
        &[("password", "New-Password-77")],
    );
    regen.assert_page(200, "Your previous recovery codes no longer work.");
    assert_eq!(regen.body.matches("<li><code>").count(), 10);
    assert!(!regen.body.contains(&first_code));

    // Removing the authenticator: wrong password inline, then success.
    web.submit(
        "/settings/account",
        "/settings/account/totp/remove",
        &[("password", "nope")],
    )
    .assert_page(422, "Password is not correct.");
    web.submit(
        "/settings/account",
        "/settings/account/totp/remove",
        &[("password", "New-Password-77")],
    )
    .assert_redirect("/settings/account");
    web.get("/settings/account")
        .assert_page(200, "Authenticator app removed.");

    // Unknown security key ids are a 404 page.
    web.submit(
        "/settings/account",
        "/settings/account/keys/AAAA/rename",
        &[("name", "x")],
    )
    .assert_page(404, "Page not found");
}

#[test]
fn api_keys_shown_once_listed_and_revoked() {
    let dir = TestDir::new("pages-keys");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let empty = web.get("/settings/api-keys");
    empty.assert_page(200, "No API keys yet");
    let ws = between(&empty.body, "name=\"workspace_id\">", "</select>");
    let ws = between(ws, "<option value=\"", "\"").to_string();

    web.submit(
        "/settings/api-keys",
        "/settings/api-keys",
        &[("name", ""), ("scope", "developer"), ("workspace_id", &ws)],
    )
    .assert_page(422, "Name must be 1 to 100 characters.");
    web.submit(
        "/settings/api-keys",
        "/settings/api-keys",
        &[
            ("name", "x"),
            ("scope", "developer"),
            ("workspace_id", "nope"),
        ],
    )
    .assert_page(422, "Choose one of your workspaces.");
    let created = web.submit(
        "/settings/api-keys",
        "/settings/api-keys",
        &[
            ("name", "Laptop MCP"),
            ("scope", "developer"),
            ("workspace_id", &ws),
        ],
    );
    created.assert_page(201, "shown only once");
    let key = between(&created.body, "id=\"new-api-key\">", "<").to_string();
    assert!(key.starts_with("mk_"), "{key}");
    let (status, _) = json(Client::with_key(&app, &key).get("/api/me"));
    assert_eq!(status, 200);

    let list = web.get("/settings/api-keys");
    list.assert_page(200, "Laptop MCP");
    assert!(!list.body.contains(&key), "the key is never shown again");
    assert!(list.body.contains(&key[..8]), "listed by prefix");
    let id = between(&list.body, "action=\"/settings/api-keys/", "/revoke").to_string();

    // Another user can neither see nor revoke it.
    let other = Web::new(&app);
    other.sign_in("user@example.com", PASSWORD);
    assert!(!other.get("/settings/api-keys").body.contains("Laptop MCP"));
    other
        .submit(
            "/settings/api-keys",
            &format!("/settings/api-keys/{id}/revoke"),
            &[],
        )
        .assert_page(404, "Page not found");
    let (status, _) = json(Client::with_key(&app, &key).get("/api/me"));
    assert_eq!(status, 200, "still valid");

    // htmx-style: the CSRF token in the X-CSRF-Token header instead of a field.
    let csrf = web.get("/settings/api-keys").csrf();
    let r = web.send(
        web.http
            .post(format!("{}/settings/api-keys/{id}/revoke", web.base))
            .header("X-CSRF-Token", csrf)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(""),
    );
    r.assert_redirect("/settings/api-keys");
    web.get("/settings/api-keys")
        .assert_page(200, "revoked. It stops working immediately.");
    let (status, _) = json(Client::with_key(&app, &key).get("/api/me"));
    assert_eq!(status, 401, "revoked key refused");
}

#[test]
fn users_page_admin_only_and_never_self() {
    let dir = TestDir::new("pages-users");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    let admin = Web::new(&app);
    admin.sign_in("admin@example.com", PASSWORD);
    let page = admin.get("/settings/users");
    page.assert_page(200, "user@example.com");
    assert!(page.body.contains("(you)"));

    // Inline validation, then success.
    admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", "not-an-email"),
                ("display_name", "Eve"),
                ("password", PASSWORD),
                ("role", "user"),
            ],
        )
        .assert_page(422, "Email must be a valid email address.");
    admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", "eve@example.com"),
                ("display_name", "Eve"),
                ("password", "weak"),
                ("role", "user"),
            ],
        )
        .assert_page(422, "Password must contain");
    admin
        .submit(
            "/settings/users",
            "/settings/users",
            &[
                ("email", "eve@example.com"),
                ("display_name", "Eve"),
                ("password", PASSWORD),
                ("role", "admin"),
            ],
        )
        .assert_redirect("/settings/users");
    let list = admin.get("/settings/users");
    list.assert_page(200, "User eve@example.com created.");
    let (_, users) = json(Client::login(&app, "admin@example.com", PASSWORD).get("/api/users"));
    let id_of = |email: &str| {
        users
            .as_array()
            .expect("users")
            .iter()
            .chain(std::iter::empty())
            .find(|u| u["email"] == email)
            .map(|u| u["id"].as_str().expect("id").to_string())
    };
    let admin_id = id_of("admin@example.com").expect("admin id");
    let user_id = id_of("user@example.com").expect("user id");

    // Role change, disable (sign-in refused), enable.
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/role"),
            &[("role", "admin")],
        )
        .assert_redirect("/settings/users");
    admin
        .get("/settings/users")
        .assert_page(200, "user@example.com is now admin.");
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/disable"),
            &[],
        )
        .assert_redirect("/settings/users");
    let blocked = Web::new(&app);
    let csrf = blocked.get("/login").csrf();
    blocked
        .post(
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "user@example.com"),
                ("password", PASSWORD),
            ],
        )
        .assert_page(401, "Invalid email or password.");
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/enable"),
            &[],
        )
        .assert_redirect("/settings/users");
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{user_id}/role"),
            &[("role", "user")],
        )
        .assert_redirect("/settings/users");

    // Never self: disabling or resetting MFA of oneself is refused with a message.
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{admin_id}/disable"),
            &[],
        )
        .assert_redirect("/settings/users");
    admin
        .get("/settings/users")
        .assert_page(200, "You cannot disable or demote your own account.");
    admin
        .submit(
            "/settings/users",
            &format!("/settings/users/{admin_id}/reset-mfa"),
            &[],
        )
        .assert_redirect("/settings/users");
    let after = admin.get("/settings/users");
    assert!(after.body.contains("flash-error"), "{}", after.body);

    // A regular user: no Users entry, 403 on the page and its forms.
    let user = Web::new(&app);
    user.sign_in("user@example.com", PASSWORD);
    let account = user.get("/settings/account");
    assert!(!account.body.contains("href=\"/settings/users\""));
    user.get("/settings/users")
        .assert_page(403, "for administrators");
    user.submit(
        "/settings/account",
        "/settings/users",
        &[
            ("email", "mallory@example.com"),
            ("display_name", "M"),
            ("password", PASSWORD),
            ("role", "superadmin"),
        ],
    )
    .assert_page(403, "for administrators");
    user.submit(
        "/settings/account",
        &format!("/settings/users/{admin_id}/disable"),
        &[],
    )
    .assert_page(403, "for administrators");
    let (_, users) = json(Client::login(&app, "admin@example.com", PASSWORD).get("/api/users"));
    assert!(
        !users.to_string().contains("mallory@example.com"),
        "nothing created"
    );
}

#[test]
fn dashboard_integrations_static_assets_and_not_found() {
    let dir = TestDir::new("pages-misc");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);

    let dash = web.get("/");
    dash.assert_page(200, "No threat models yet");
    for id in [
        "kpi-models",
        "kpi-implemented",
        "kpi-at-risk",
        "kpi-not-started",
        "kpi-verified",
    ] {
        assert!(dash.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    web.get("/models").assert_page(200, "No threat models yet");
    web.get("/assurance")
        .assert_page(200, "No models to assure yet");

    let port = app.url.rsplit(':').next().expect("port");
    let integ = web.get("/settings/integrations");
    integ.assert_page(200, &format!("http://localhost:{port}/mcp"));
    for text in [
        "X-API-Key",
        "rampart verify run --all --signing-key",
        "RAMPART_URL",
        "RAMPART_API_KEY",
        "secrets.RAMPART_API_KEY",
        ".gitlab-ci.yml",
        "Jenkinsfile",
    ] {
        assert!(integ.body.contains(text), "{text}");
    }

    // Static assets: versioned URLs, long caching, ETag revalidation, no CDN.
    let css_url = between(&dash.body, "rel=\"stylesheet\" href=\"", "\"").to_string();
    assert!(css_url.starts_with("/static/app.css?v="), "{css_url}");
    let css = web.get(&css_url);
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.header("cache-control").contains("max-age=31536000"));
    let etag = css.header("etag");
    let again = web.send(
        web.http
            .get(format!("{}{css_url}", web.base))
            .header("If-None-Match", etag),
    );
    assert_eq!(again.status, 304);
    let htmx_url = between(&dash.body, "<script src=\"/static/vendor/htmx/", "\"").to_string();
    let htmx = web.get(&format!("/static/vendor/htmx/{htmx_url}"));
    assert_eq!(htmx.status, 200);
    assert!(htmx.header("content-type").starts_with("text/javascript"));
    assert!(htmx.body.contains("htmx"));
    assert!(!dash.body.contains("https://"), "no external resources");
    assert_eq!(web.get("/static/nope.js").status, 404);

    // Unknown paths: HTML 404 for browsers, JSON for the API and non-HTML clients.
    web.get("/no/such/page").assert_page(404, "Page not found");
    let (status, body) = json(app.client.get(app.url("/api/nope")).send().expect("get"));
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let api_html = web.get("/api/nope");
    assert_eq!(api_html.status, 404);
    assert!(api_html.body.contains("\"not_found\""));
}

#[test]
fn dashboard_and_models_list_show_real_models() {
    let dir = TestDir::new("pages-models");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, model) = json(api.post(
        "/api/models?wait=true",
        json!({"feature_description": "A web shop with a login page, a Postgres database of customer orders and a Stripe payment webhook."}),
    ));
    assert_eq!(status, 201, "{model}");
    let title = model["title"].as_str().expect("title").to_string();
    let (_, dash_json) = json(api.get("/api/dashboard"));

    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let dash = web.get("/");
    dash.assert_page(200, &title.replace('&', "&amp;"));
    assert!(dash.body.contains("id=\"kpi-models\">1<"), "{}", dash.body);
    assert!(!dash.body.contains("No threat models yet"));
    assert!(dash.body.contains("Defined") && dash.body.contains("critical"));
    assert!(dash.body.contains("class=\"badge badge-source\">"));
    // The KPIs match the JSON dashboard when that endpoint exists.
    if let Some(cos) = dash_json["portfolio"]["not_started"].as_u64() {
        assert!(
            dash.body
                .contains(&format!("id=\"kpi-not-started\">{cos}<")),
            "{}",
            dash.body
        );
    }
    let list = web.get("/models");
    list.assert_page(200, "models-table");
    assert!(list.body.contains(&title.replace('&', "&amp;")));
    web.get("/models?q=zzz-no-such-model")
        .assert_page(200, "No models match");

    // Another user's workspace shows none of it.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    other.get("/").assert_page(200, "No threat models yet");
    assert!(
        !other
            .get("/models")
            .body
            .contains(&title.replace('&', "&amp;"))
    );
}

#[test]
fn maintenance_page_for_browsers_superadmin_passes() {
    let dir = TestDir::new("pages-maintenance");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    let user = Web::new(&app);
    user.sign_in("user@example.com", PASSWORD);
    let admin = Web::new(&app);
    admin.sign_in("admin@example.com", PASSWORD);
    let out = dir
        .cmd()
        .args([
            "admin",
            "maintenance",
            "enable",
            "--reason",
            "Upgrading the database",
        ])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    // The gate re-reads the state at most every two seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let page = loop {
        let r = user.get("/");
        if r.status == 503 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    page.assert_page(503, "Upgrading the database. Please try again later.");
    assert_eq!(page.header("retry-after"), "60");
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert!(page.body.contains("href=\"/login\""));
    // Sign-in stays reachable, and a superadmin can still work.
    assert_eq!(
        user.get("/login").status,
        303,
        "signed in users are sent on"
    );
    admin.get("/").assert_page(200, "Dashboard");
}
