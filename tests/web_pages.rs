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
    // Adding the factor needs the password again (inline error without it).
    web.submit("/mfa/enroll", "/mfa/enroll/totp", &[])
        .assert_page(422, "Password is required");
    web.submit(
        "/mfa/enroll",
        "/mfa/enroll/totp",
        &[("password", "Wrong-Password-1")],
    )
    .assert_page(422, "Password is not correct.");
    web.submit("/mfa/enroll", "/mfa/enroll/totp", &[("password", PASSWORD)])
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
    let (_, enroll) = json(api.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
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
    web.submit(
        "/settings/account",
        "/settings/account/totp",
        &[("password", "New-Password-77")],
    )
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
    .assert_page(422, "Password is not correct.");

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

/// An invalid form submission: its fields, the inline error marker expected on the 422
/// page, and a submitted value that must be kept.
type Case<'a> = (Vec<(&'a str, &'a str)>, String, &'a str);

/// A model created over the REST API by `api`, returned as JSON.
fn api_model(api: &Client, description: &str) -> serde_json::Value {
    let (status, model) = json(api.post(
        "/api/models?wait=true",
        json!({ "feature_description": description }),
    ));
    assert_eq!(status, 201, "{model}");
    model
}

/// The number right after `marker` in a page, e.g. `id="kpi-at-risk">` → 3.
fn number_after(body: &str, marker: &str) -> u64 {
    between(body, marker, "<")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{marker}: {e}"))
}

/// Posts a passing CI run of `tier` for every assertion the verifier key is served, the way
/// `rampart verify` does (content hash over the served assertions and the results).
fn ci_run(ci: &Client, id: &str, tier: u8) -> String {
    let (status, served) = json(ci.get(&format!("/api/models/{id}/verification/assertions")));
    assert_eq!(status, 200, "{served}");
    let served: Vec<serde_json::Value> = served["controls"]
        .as_object()
        .expect("controls")
        .values()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect();
    let rows: Vec<serde_json::Value> = served
        .iter()
        .map(|a| json!({"assertion_id": a["id"], "tier": tier, "result": "pass", "details": "checked", "reasoning": "", "reviewer": format!("mipiti-verify:{}", a["type"].as_str().unwrap_or(""))}))
        .collect();
    let hash = rampart::wire::canonical::content_hash(&served, &rows);
    let (status, run) = json(ci.post(
        &format!("/api/models/{id}/verification/results"),
        json!({
            "pipeline": {"provider": "generic", "run_id": "7", "run_url": "", "commit_sha": "0123456789abcdef0123456789abcdef01234567", "branch": "main", "source_digest": ""},
            "results": rows,
            "content_hash": hash,
        }),
    ));
    assert_eq!(status, 200, "{run}");
    run["run_id"].as_str().expect("run").to_string()
}

/// Count of assertions / findings of a model through the REST API.
fn api_count(api: &Client, path: &str, key: &str) -> usize {
    let (status, body) = json(api.get(path));
    assert_eq!(status, 200, "{body}");
    body[key]
        .as_array()
        .map(Vec::len)
        .or_else(|| body.as_array().map(Vec::len))
        .unwrap_or_else(|| panic!("no {key} in {body}"))
}

#[test]
fn assurance_forms_inline_errors_findings_and_audit_bundle() {
    let dir = TestDir::new("pages-assurance-forms");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let model = api_model(
        &api,
        "An upload API: users sign in with passwords and upload files to S3; an admin console lists uploads.",
    );
    let id = model["id"].as_str().expect("id").to_string();
    let cid = model["controls"][0]["id"]
        .as_str()
        .expect("control")
        .to_string();
    let cid2 = model["controls"][1]["id"]
        .as_str()
        .expect("control")
        .to_string();
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let path = format!("/models/{id}/assurance");
    let assertions_api = format!("/api/models/{id}/assertions");
    let findings_api = format!("/api/models/{id}/findings");
    let add_a = format!("{path}/assertions");
    let add_f = format!("{path}/findings");

    let page = web.get(&path);
    page.assert_page(200, &format!("id=\"add-finding-{cid}\""));
    assert!(page.body.contains("id=\"add-finding-general\""));
    assert!(page.body.contains("id=\"no-runs\""));
    // The per-type fields of the default type are rendered server-side, and the type list
    // for the script that swaps them is on the page.
    assert!(page.body.contains("name=\"param.file\""), "{}", page.body);
    assert!(page.body.contains("data-types=\"[{"));
    assert!(page.body.contains("/static/assurance.js?v="));

    // A tampered control id: refused with the reason in the error summary, nothing stored.
    let r = web.submit(
        &path,
        &add_a,
        &[
            ("control_id", "CTRL-NOPE"),
            ("type", "file_exists"),
            ("param.file", "a.py"),
            ("description", "d"),
        ],
    );
    r.assert_page(
        422,
        "Nothing was saved. Unknown control &#34;CTRL-NOPE&#34;.",
    );

    // Assertion from the per-type fields.
    web.submit(
        &path,
        &add_a,
        &[
            ("control_id", &cid),
            ("type", "function_exists"),
            ("param.file", "src/auth.py"),
            ("param.name", "check_password"),
            ("description", "password check exists"),
        ],
    )
    .assert_redirect(&path);
    web.get(&path)
        .assert_page(200, &format!("Assertion added to {cid}."));
    let (_, list) = json(api.get(&assertions_api));
    let stored = list.to_string();
    assert!(
        stored.contains("\"file\":\"src/auth.py\"") && stored.contains("check_password"),
        "{stored}"
    );
    let aid = list["assertions"][0]["id"]
        .as_str()
        .expect("aid")
        .to_string();
    let n_assertions = api_count(&api, &assertions_api, "assertions");
    assert_eq!(n_assertions, 1);

    // Each invalid assertion: 422, the error next to its field, input kept, nothing stored.
    let cases: Vec<Case> = vec![
        (
            vec![
                ("type", "function_exists"),
                ("param.file", "kept/path.py"),
                ("description", "d"),
            ],
            format!("id=\"p-{cid}-name-error\""),
            "value=\"kept/path.py\"",
        ),
        (
            vec![
                ("type", "function_exists"),
                ("param.file", "a.py"),
                ("param.name", "f"),
                ("description", ""),
            ],
            format!("id=\"d-{cid}-error\""),
            "value=\"f\"",
        ),
        (
            vec![
                ("type", "no_such_type"),
                ("description", "kept description"),
            ],
            format!("id=\"t-{cid}-error\""),
            "value=\"kept description\"",
        ),
        (
            vec![
                ("type", "function_exists"),
                ("params", "just words"),
                ("description", "d"),
            ],
            format!("id=\"p-{cid}-error\""),
            "just words",
        ),
        (
            vec![
                ("type", "function_exists"),
                ("params", "file=a.py\nname=f\nbogus=1"),
                ("description", "d"),
            ],
            format!("id=\"p-{cid}-error\""),
            "bogus=1",
        ),
    ];
    for (fields, marker, kept) in cases {
        let mut all = vec![("control_id", cid.as_str())];
        all.extend(fields);
        let r = web.submit(&path, &add_a, &all);
        assert_eq!(r.status, 422, "{marker}: {}", r.body);
        assert!(r.body.contains(&marker), "{marker} missing:\n{}", r.body);
        assert!(r.body.contains(kept), "{kept} not kept:\n{}", r.body);
        assert!(r.body.contains("field-error"));
        assert!(
            r.body.contains(&format!(
                "href=\"#add-assertion-{cid}\">Fix the highlighted field"
            )),
            "the error summary links to the refused form"
        );
        assert_eq!(api_count(&api, &assertions_api, "assertions"), n_assertions);
    }

    // Add a finding in the control's panel, with every field of spec 03.
    web.submit(
        &path,
        &add_f,
        &[
            ("control_id", &cid),
            ("title", "No length check on messages"),
            ("severity", "high"),
            ("description", "Expected a max length on the messages field"),
            (
                "checked_locations",
                "src/api.py:1680-1720 | def post_message(\nsrc/limits.py",
            ),
            ("checked_patterns", "validate_length, @limit"),
            ("expected_evidence", "A length check before storing"),
        ],
    )
    .assert_redirect(&path);
    let shown = web.get(&path);
    shown.assert_page(200, "No length check on messages");
    assert!(shown.body.contains("recorded."), "success flash");
    assert!(
        shown
            .body
            .contains("src/api.py:1680-1720 | def post_message(")
    );
    assert!(shown.body.contains("A length check before storing"));
    let (_, fl) = json(api.get(&findings_api));
    let f0 = &fl["findings"][0];
    assert_eq!(f0["control_id"], cid.as_str(), "{fl}");
    assert_eq!(f0["severity"], "high");
    assert_eq!(
        f0["checked_locations"],
        json!([{"file": "src/api.py", "start_line": 1680, "end_line": 1720, "snippet": "def post_message("}, {"file": "src/limits.py"}])
    );
    assert_eq!(f0["checked_patterns"], json!(["validate_length", "@limit"]));
    let fid = f0["id"].as_str().expect("fid").to_string();
    // The general form links a control from a dropdown (or none).
    web.submit(
        &path,
        &add_f,
        &[
            ("control_id", &cid2),
            ("title", "Admin console without MFA"),
            ("severity", "critical"),
        ],
    )
    .assert_redirect(&path);
    web.submit(
        &path,
        &add_f,
        &[
            ("control_id", ""),
            ("title", "Unowned gap"),
            ("severity", "low"),
        ],
    )
    .assert_redirect(&path);
    let (_, fl) = json(api.get(&findings_api));
    let by_title = |t: &str| {
        fl["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["title"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("{t} not stored: {fl}"))
    };
    assert_eq!(
        by_title("Admin console without MFA")["control_id"],
        cid2.as_str()
    );
    assert!(by_title("Unowned gap")["control_id"].is_null());
    // The same forms over htmx: a refusal is the 422 page holding the form by its id (htmx
    // swaps just that form); success answers 200 + HX-Redirect and sets the flash.
    let htmx = |fields: &[(&str, &str)]| {
        let csrf = web.get(&path).csrf();
        let mut all = vec![("csrf_token", csrf.as_str())];
        all.extend_from_slice(fields);
        web.send(
            web.http
                .post(format!("{}{add_f}", web.base))
                .header("HX-Request", "true")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&all).expect("form")),
        )
    };
    let r = htmx(&[
        ("panel", &cid),
        ("control_id", &cid),
        ("title", ""),
        ("severity", "low"),
    ]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains(&format!("id=\"add-finding-{cid}\"")));
    assert!(
        r.body
            .contains(&format!("hx-select=\"#add-finding-{cid}\""))
    );
    assert!(r.body.contains(&format!("id=\"f-{cid}-title-error\"")));
    assert_eq!(api_count(&api, &findings_api, "findings"), 3);
    let r = htmx(&[
        ("panel", &cid),
        ("control_id", &cid),
        ("title", "Found over htmx"),
        ("severity", "info"),
    ]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("hx-redirect"), path);
    web.get(&path)
        .assert_page(200, "Finding “Found over htmx” recorded.");
    let n_findings = api_count(&api, &findings_api, "findings");
    assert_eq!(n_findings, 4);

    // Invalid findings: 422 with the error at the field, values kept, nothing stored.
    let cases: Vec<Case> = vec![
        (
            vec![
                ("panel", &cid),
                ("control_id", &cid),
                ("title", " "),
                ("severity", "high"),
                ("expected_evidence", "kept evidence"),
            ],
            format!("id=\"f-{cid}-title-error\""),
            "kept evidence",
        ),
        (
            vec![
                ("panel", &cid),
                ("control_id", &cid),
                ("title", "Kept title"),
                ("severity", "urgent"),
            ],
            format!("id=\"f-{cid}-severity-error\""),
            "value=\"Kept title\"",
        ),
        (
            vec![
                ("panel", &cid),
                ("control_id", &cid),
                ("title", "T"),
                ("severity", "low"),
                ("checked_locations", "a.py:20-10"),
            ],
            format!("id=\"f-{cid}-locations-error\""),
            "a.py:20-10",
        ),
        (
            vec![
                ("control_id", "CTRL-NOPE"),
                ("title", "T"),
                ("severity", "low"),
            ],
            "id=\"f-general-control-error\"".to_string(),
            "value=\"T\"",
        ),
        (
            vec![("control_id", ""), ("title", ""), ("severity", "")],
            "id=\"f-general-title-error\"".to_string(),
            "id=\"f-general-severity-error\"",
        ),
    ];
    for (fields, marker, kept) in cases {
        let r = web.submit(&path, &add_f, &fields);
        assert_eq!(r.status, 422, "{marker}: {}", r.body);
        assert!(r.body.contains(&marker), "{marker} missing:\n{}", r.body);
        assert!(r.body.contains(kept), "{kept} not kept:\n{}", r.body);
        assert_eq!(api_count(&api, &findings_api, "findings"), n_findings);
    }
    // No CSRF token: refused, nothing stored.
    let r = web.post(
        &add_f,
        &[("control_id", &cid), ("title", "x"), ("severity", "low")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = web.post(
        &add_a,
        &[
            ("control_id", &cid),
            ("type", "file_exists"),
            ("param.file", "a"),
            ("description", "d"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(api_count(&api, &findings_api, "findings"), n_findings);
    assert_eq!(api_count(&api, &assertions_api, "assertions"), n_assertions);

    // Transitions: dismissing needs a reason, unknown linked assertions are refused inline.
    let tr = format!("{path}/findings/{fid}/transition");
    let r = web.submit(&path, &tr, &[("status", "dismissed"), ("reason", "  ")]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(&format!("id=\"dr-{fid}-error\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains("requires a reason"));
    assert!(r.body.contains(&format!("href=\"#finding-{fid}\"")));
    let r = web.submit(
        &path,
        &tr,
        &[("status", "remediated"), ("linked_assertions", "asrt_nope")],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains(&format!("id=\"la-{fid}-error\"")),
        "{}",
        r.body
    );
    assert!(r.body.contains("value=\"asrt_nope\""));
    assert_eq!(
        web.post(&tr, &[("status", "acknowledged")]).status,
        403,
        "no CSRF token"
    );
    assert_eq!(
        web.post(&format!("{path}/assertions/{aid}/delete"), &[])
            .status,
        403
    );
    let (_, one) = json(api.get(&format!("{findings_api}/{fid}")));
    assert_eq!(one["status"], "discovered", "{one}");
    web.submit(&path, &tr, &[("status", "acknowledged")])
        .assert_redirect(&path);
    web.get(&path).assert_page(200, "is now acknowledged");
    // Backwards is refused by the lifecycle, inline.
    let r = web.submit(&path, &tr, &[("status", "acknowledged")]);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("never backwards"), "{}", r.body);
    web.submit(
        &path,
        &tr,
        &[("status", "remediated"), ("linked_assertions", &aid)],
    )
    .assert_redirect(&path);
    let (_, one) = json(api.get(&format!("{findings_api}/{fid}")));
    assert_eq!(one["status"], "remediated", "{one}");
    assert_eq!(one["linked_assertions"], json!([aid.clone()]));

    // A verification run: its audit bundle downloads from the page, byte for byte the
    // REST endpoint's bundle.
    let (_, key) = json(api.post("/api/api-keys", json!({"name": "ci", "scope": "verifier"})));
    let ci = Client::with_key(&app, key["key"].as_str().expect("key"));
    let run_id = ci_run(&ci, &id, 1);
    let page = web.get(&path);
    assert!(
        page.body.contains(&format!("id=\"run-{run_id}\"")),
        "{}",
        page.body
    );
    let link = format!("{path}/runs/{run_id}/audit");
    assert!(page.body.contains(&format!("href=\"{link}\"")));
    let download = web.get(&link);
    assert_eq!(download.status, 200, "{}", download.body);
    assert_eq!(
        download.header("content-disposition"),
        format!("attachment; filename=\"audit-{run_id}.json\"")
    );
    assert!(
        download
            .header("content-type")
            .starts_with("application/json")
    );
    let rest = api
        .get(&format!(
            "/api/models/{id}/verification/runs/{run_id}/audit"
        ))
        .text()
        .expect("rest bundle");
    assert_eq!(download.body, rest, "the page serves the REST bundle");
    assert!(download.body.contains(&run_id));
    assert_eq!(web.get(&format!("{path}/runs/run_nope/audit")).status, 404);

    // Another workspace: every form and the download are the friendly 404, nothing changes.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    other.get(&link).assert_page(404, "Page not found");
    let r = other.submit(
        "/",
        &add_f,
        &[("control_id", &cid), ("title", "x"), ("severity", "low")],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    let r = other.submit("/", &tr, &[("status", "dismissed"), ("reason", "mine now")]);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = other.submit(
        "/",
        &add_a,
        &[
            ("control_id", &cid),
            ("type", "file_exists"),
            ("param.file", "a"),
            ("description", "d"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(api_count(&api, &findings_api, "findings"), n_findings);
    assert_eq!(api_count(&api, &assertions_api, "assertions"), n_assertions);
    let (_, one) = json(api.get(&format!("{findings_api}/{fid}")));
    assert_eq!(one["status"], "remediated");
}

#[test]
fn dashboard_kpis_drill_down_and_inline_rename() {
    let dir = TestDir::new("pages-drilldown");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let a = api_model(
        &api,
        "A web shop with a login page, a Postgres database of customer orders and a Stripe payment webhook.",
    );
    let b = api_model(
        &api,
        "An internal HR tool: employees sign in with SSO, upload payslips, admins export reports.",
    );
    // Implement every control of the first group of a's first objective: one CO implemented.
    let id_a = a["id"].as_str().expect("id").to_string();
    for c in a["control_objectives"][0]["mitigation_groups"][0]["controls"]
        .as_array()
        .expect("group controls")
    {
        let c = c.as_str().expect("control id");
        // Implemented needs assertions that prove it first (implementation and behaviour),
        // each stating which aspect of the control it proves: here, all of it.
        let control = a["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|x| x["id"] == c)
            .expect("control");
        let aspect = format!(
            "{}. {}",
            control["name"].as_str().expect("name"),
            control["description"].as_str().expect("description")
        );
        let (status, body) = json(api.post(
            &format!("/api/models/{id_a}/assertions"),
            json!({"control_id": c, "assertions": [
                {"type": "function_exists", "params": {"file": "src/guard.rs", "name": "enforce"}, "description": format!("implements: {aspect}")},
                {"type": "test_passes", "params": {"file": "tests/guard.rs", "test_name": "enforces"}, "description": format!("tests: {aspect}")}
            ]}),
        ));
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["sufficiency"]["status"], "sufficient", "{body}");
        let (status, body) = json(api.patch(
            &format!("/api/models/{id_a}/controls/{c}"),
            json!({"status": "implemented"}),
        ));
        assert_eq!(status, 200, "{body}");
    }
    // CI passes both tiers for those assertions: the objective becomes verified too.
    let (_, key) = json(api.post("/api/api-keys", json!({"name": "ci", "scope": "verifier"})));
    let ci = Client::with_key(&app, key["key"].as_str().expect("key"));
    ci_run(&ci, &id_a, 1);
    ci_run(&ci, &id_a, 2);
    let (_, dash_json) = json(api.get("/api/dashboard"));
    let portfolio = &dash_json["portfolio"];

    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let dash = web.get("/");
    dash.assert_page(200, "id=\"kpi-models\">2<");
    for (link, href) in [
        ("kpi-models-link", "/models"),
        ("kpi-implemented-link", "/objectives?filter=implemented"),
        ("kpi-at-risk-link", "/objectives?filter=at_risk"),
        ("kpi-not-started-link", "/objectives?filter=not_started"),
        ("kpi-verified-link", "/objectives?filter=verified"),
    ] {
        assert!(
            dash.body
                .contains(&format!("href=\"{href}\" id=\"{link}\"")),
            "{link} → {href}:\n{}",
            dash.body
        );
    }
    let cards = [
        (
            "implemented",
            number_after(&dash.body, "id=\"kpi-implemented-count\">"),
            "implemented",
        ),
        (
            "at_risk",
            number_after(&dash.body, "id=\"kpi-at-risk\">"),
            "at_risk",
        ),
        (
            "not_started",
            number_after(&dash.body, "id=\"kpi-not-started\">"),
            "not_started",
        ),
        (
            "verified",
            number_after(&dash.body, "id=\"kpi-verified-count\">"),
            "verified",
        ),
    ];
    assert!(cards[0].1 >= 1, "one CO was implemented");
    assert!(cards[1].1 >= 1, "the rest of the generated COs are at risk");
    assert!(
        cards[3].1 >= 1,
        "the CI-verified CO is counted: {portfolio}"
    );
    for (filter, on_card, json_key) in cards {
        assert_eq!(
            Some(on_card),
            portfolio[json_key].as_u64(),
            "{filter}: card vs API"
        );
        let drill = web.get(&format!("/objectives?filter={filter}"));
        assert_eq!(drill.status, 200, "{}", drill.body);
        let rows = drill.body.matches("class=\"drill-row\"").count() as u64;
        assert_eq!(
            rows, on_card,
            "{filter}: rows on the drill-down page vs the card"
        );
        assert_eq!(number_after(&drill.body, "id=\"drill-count\">"), on_card);
        assert!(drill.body.contains(&format!(
            "href=\"/objectives?filter={filter}\" aria-current=\"page\""
        )));
    }
    // The implemented drill-down lists exactly the CO that was implemented.
    let co = a["control_objectives"][0]["id"].as_str().expect("co");
    let drill = web.get("/objectives?filter=implemented");
    assert!(
        drill
            .body
            .contains(&format!("data-model=\"{id_a}\" data-co=\"{co}\"")),
        "{}",
        drill.body
    );
    let verified = web.get("/objectives?filter=verified");
    assert!(
        verified
            .body
            .contains(&format!("data-model=\"{id_a}\" data-co=\"{co}\"")),
        "{}",
        verified.body
    );
    let at_risk = web.get("/objectives?filter=at_risk");
    assert!(
        !at_risk
            .body
            .contains(&format!("data-model=\"{id_a}\" data-co=\"{co}\""))
    );
    assert_eq!(web.get("/objectives?filter=bogus").status, 400);
    assert_eq!(web.get("/objectives").status, 400);

    // Inline rename from the model card; each card names its next compliance step.
    let id_b = b["id"].as_str().expect("id").to_string();
    assert!(
        dash.body
            .contains(&format!("Next:</span> <a href=\"/models/{id_b}")),
        "{}",
        dash.body
    );
    let action = format!("/models/{id_b}/title");
    assert!(dash.body.contains(&format!("action=\"{action}\"")));
    let title_b = b["title"].as_str().expect("title").to_string();
    let long = "x".repeat(201);
    for bad in ["   ", long.as_str(), "two\nlines"] {
        let r = web.submit("/", &action, &[("title", bad)]);
        assert_eq!(r.status, 422, "{bad:?}: {}", r.body);
        assert!(
            r.body.contains(&format!("id=\"title-{id_b}-error\"")),
            "{}",
            r.body
        );
        let (_, now) = json(api.get(&format!("/api/models/{id_b}")));
        assert_eq!(
            now["title"],
            title_b.as_str(),
            "nothing changed for {bad:?}"
        );
    }
    let r = web.submit("/", &action, &[("title", "x".repeat(201).as_str())]);
    assert!(
        r.body.contains(&format!("value=\"{}\"", "x".repeat(201))),
        "input kept"
    );
    assert_eq!(web.post(&action, &[("title", "No token")]).status, 403);
    web.submit("/", &action, &[("title", "HR portal")])
        .assert_redirect("/");
    let dash = web.get("/");
    dash.assert_page(200, "Model renamed to “HR portal”.");
    assert!(
        dash.body
            .contains(&format!("<a href=\"/models/{id_b}\">HR portal</a>"))
    );
    let (_, now) = json(api.get(&format!("/api/models/{id_b}")));
    assert_eq!(now["title"], "HR portal");

    // Another workspace can neither rename nor see the drill-down rows.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    let r = other.submit("/", &action, &[("title", "Mine")]);
    assert_eq!(r.status, 404, "{}", r.body);
    let drill = other.get("/objectives?filter=at_risk");
    drill.assert_page(200, "id=\"drill-count\">0<");
    let (_, now) = json(api.get(&format!("/api/models/{id_b}")));
    assert_eq!(now["title"], "HR portal");
}
