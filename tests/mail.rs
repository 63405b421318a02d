//! Email against a real SMTP server (aiosmtpd): password reset by an admin-issued link,
//! self-service signup with an emailed 6-digit code (off by default, domain allowlist),
//! plain-text + HTML messages, and the mail queue: retried with backoff when the relay is
//! down, failures visible to admins, retried on demand.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::smtp::{Smtp, part};
use crate::harness::{Client, PASSWORD, TestDir, cli_user, json, session_cookie};
use crate::tenancy::appliance;
use crate::web_pages::Web;

fn smtp_env(port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SMTP_HOST", "127.0.0.1".into()),
        ("SMTP_PORT", port.to_string()),
        ("SMTP_USE_TLS", "false".into()),
        ("SMTP_FROM_ADDRESS", "rampart@example.com".into()),
    ]
}

fn user_id(admin: &Client, email: &str) -> String {
    let (status, users) = json(admin.get("/api/users"));
    assert_eq!(status, 200, "{users}");
    users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["id"].as_str())
        .expect("user id")
        .to_string()
}

fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn password_reset_by_admin_issued_link() {
    let dir = TestDir::new("mail-reset");
    let smtp = Smtp::start(&dir);
    let port = smtp.port.to_string();
    let env = smtp_env(&port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = appliance(&dir, &env);
    cli_user(&dir, "dev@example.com", "user");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let dev = Client::login(&app, "dev@example.com", PASSWORD);
    let dev_id = user_id(&admin, "dev@example.com");
    let admin_id = user_id(&admin, "admin@example.com");

    // Only admins issue links, and not for themselves (they change their password instead).
    assert_eq!(
        dev.post(&format!("/api/users/{admin_id}/password-reset"), json!({}))
            .status(),
        403
    );
    let (status, b) = json(admin.post(&format!("/api/users/{admin_id}/password-reset"), json!({})));
    assert_eq!(status, 400, "{b}");

    let (status, link) =
        json(admin.post(&format!("/api/users/{dev_id}/password-reset"), json!({})));
    assert_eq!(status, 201, "{link}");
    assert_eq!(link["emailed"], true, "{link}");
    let url = link["reset_url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with(&app.url.replace("127.0.0.1", "localhost")) || url.contains("/reset/"),
        "{url}"
    );
    let token = url.rsplit('/').next().expect("token").to_string();

    // One message, plain text and HTML alternatives, both carrying the link.
    let mail = smtp.wait_for("dev@example.com", 10);
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(
        mail.contains("Subject: [rampart] Choose a new password"),
        "{mail}"
    );
    let text = part(&mail, "text/plain").expect("text part");
    let html = part(&mail, "text/html").expect("html part");
    assert!(text.contains(&url), "{text}");
    assert!(html.contains(&url) && html.contains("<a href="), "{html}");
    assert!(text.contains("Expires: "), "{text}");

    // The link says whose it is; a weak password changes nothing.
    let anon = Client::anonymous(&app);
    let (status, info) = json(anon.get(&format!("/api/auth/password-reset/{token}")));
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["email"], "dev@example.com");
    let (status, b) = json(anon.post(
        &format!("/api/auth/password-reset/{token}"),
        json!({"password": "weak"}),
    ));
    assert_eq!(status, 400, "{b}");
    assert_eq!(dev.get("/api/me").status(), 200, "nothing changed yet");

    let new_password = "Another-Horse-7";
    let (status, b) = json(anon.post(
        &format!("/api/auth/password-reset/{token}"),
        json!({"password": new_password}),
    ));
    assert_eq!(status, 200, "{b}");
    // Every session of the account ended; the old password is gone, the new one works.
    assert_eq!(dev.get("/api/me").status(), 401);
    let (status, _) = json(anon.post(
        "/api/auth/login",
        json!({"email": "dev@example.com", "password": PASSWORD}),
    ));
    assert_eq!(status, 401);
    Client::login(&app, "dev@example.com", new_password);
    // Single use.
    let (status, _) = json(anon.post(
        &format!("/api/auth/password-reset/{token}"),
        json!({"password": "Third-Horse-77"}),
    ));
    assert_eq!(status, 404);
    assert_eq!(
        anon.get(&format!("/api/auth/password-reset/{token}"))
            .status(),
        404
    );
    // A newer link replaces an older one.
    let (_, l1) = json(admin.post(&format!("/api/users/{dev_id}/password-reset"), json!({})));
    let (_, l2) = json(admin.post(&format!("/api/users/{dev_id}/password-reset"), json!({})));
    let t1 = l1["reset_url"]
        .as_str()
        .expect("url")
        .rsplit('/')
        .next()
        .expect("t")
        .to_string();
    let t2 = l2["reset_url"]
        .as_str()
        .expect("url")
        .rsplit('/')
        .next()
        .expect("t")
        .to_string();
    assert_eq!(
        anon.get(&format!("/api/auth/password-reset/{t1}")).status(),
        404
    );
    assert_eq!(
        anon.get(&format!("/api/auth/password-reset/{t2}")).status(),
        200
    );

    // The emailed link opens a page in the web app that sets the password.
    let web = Web::new(&app);
    let page = web.get(&format!("/reset/{t2}"));
    page.assert_page(200, "Choose a new password");
    assert!(page.body.contains("dev@example.com"), "{}", page.body);
    let path = format!("/reset/{t2}");
    web.submit(
        &path,
        &path,
        &[
            ("password", "Fourth-Horse-44"),
            ("password_confirm", "Other-Horse-44"),
        ],
    )
    .assert_page(422, "The passwords do not match.");
    web.submit(
        &path,
        &path,
        &[("password", "weak"), ("password_confirm", "weak")],
    )
    .assert_page(422, "Password");
    // Without the form's CSRF token nothing changes.
    web.post(
        &path,
        &[
            ("password", "Fourth-Horse-44"),
            ("password_confirm", "Fourth-Horse-44"),
        ],
    )
    .assert_page(403, "This form has expired");
    Client::login(&app, "dev@example.com", new_password);
    web.submit(
        &path,
        &path,
        &[
            ("password", "Fourth-Horse-44"),
            ("password_confirm", "Fourth-Horse-44"),
        ],
    )
    .assert_redirect("/login");
    Client::login(&app, "dev@example.com", "Fourth-Horse-44");
    web.get(&path).assert_page(404, "Reset link not valid");
    web.get("/reset/not-a-token")
        .assert_page(404, "Reset link not valid");

    // Admins issue links from Settings › Users too; the link is shown once and emailed.
    let aweb = Web::new(&app);
    aweb.sign_in("admin@example.com", PASSWORD);
    let shown = aweb.submit(
        "/settings/users",
        &format!("/settings/users/{dev_id}/reset-link"),
        &[],
    );
    shown.assert_page(200, "Password reset link for dev@example.com");
    let url = crate::web_pages::between(&shown.body, "<pre id=\"reset-url\"><code>", "</code>")
        .to_string();
    assert!(url.contains("/reset/"), "{url}");
    assert!(
        shown.body.contains("Emailed to dev@example.com"),
        "{}",
        shown.body
    );
    let token = url.rsplit('/').next().expect("token");
    assert_eq!(
        anon.get(&format!("/api/auth/password-reset/{token}"))
            .status(),
        200
    );
}

fn code_in(mail: &str) -> String {
    let subject = mail
        .lines()
        .find(|l| l.starts_with("Subject:"))
        .expect("subject");
    subject
        .split_whitespace()
        .last()
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in {subject}"))
        .to_string()
}

#[test]
fn self_service_signup_with_emailed_code() {
    // Off by default.
    let off = TestDir::new("signup-off");
    let app_off = appliance(&off, &[]);
    let anon = Client::anonymous(&app_off);
    assert_eq!(json(anon.get("/api/auth/signup")).1["enabled"], false);
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "a@example.com", "name": "A", "password": PASSWORD}),
    ));
    assert_eq!(status, 403, "{b}");
    let web_off = Web::new(&app_off);
    web_off.get("/signup").assert_page(404, "Page not found");
    assert!(!web_off.get("/login").body.contains("/signup"));
    drop(app_off);

    let dir = TestDir::new("signup");
    let smtp = Smtp::start(&dir);
    let port = smtp.port.to_string();
    let mut env = smtp_env(&port);
    env.push(("SIGNUP_ENABLED", "true".into()));
    env.push(("SIGNUP_ALLOWED_DOMAINS", "example.com".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = appliance(&dir, &env);
    let anon = Client::anonymous(&app);
    let (_, policy) = json(anon.get("/api/auth/signup"));
    assert_eq!(
        policy,
        json!({"enabled": true, "allowed_domains": ["example.com"]})
    );

    // The allowlist and the password policy refuse before anything is sent.
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "x@elsewhere.org", "name": "X", "password": PASSWORD}),
    ));
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["field"], "email");
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "new@example.com", "name": "New", "password": "weak"}),
    ));
    assert_eq!(status, 400, "{b}");
    assert!(smtp.messages().is_empty());

    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "new@example.com", "name": "New Person", "password": PASSWORD}),
    ));
    assert_eq!(status, 202, "{b}");
    assert_eq!(b["status"], "verification_sent");
    let mail = smtp.wait_for("new@example.com", 10);
    let code = code_in(&mail);
    assert!(part(&mail, "text/plain").expect("text").contains(&code));
    assert!(part(&mail, "text/html").expect("html").contains(&code));
    // No account before the code.
    assert_eq!(
        json(anon.post(
            "/api/auth/login",
            json!({"email": "new@example.com", "password": PASSWORD})
        ))
        .0,
        401
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, b) = json(anon.post(
        "/api/auth/signup/verify",
        json!({"email": "new@example.com", "code": wrong}),
    ));
    assert_eq!(status, 400, "{b}");
    let resp = anon.post(
        "/api/auth/signup/verify",
        json!({"email": "new@example.com", "code": code}),
    );
    assert_eq!(resp.status(), 201);
    assert!(session_cookie(&resp).is_some(), "signed in");
    let me = Client::from_signin(&app, {
        let r = anon.post(
            "/api/auth/login",
            json!({"email": "new@example.com", "password": PASSWORD}),
        );
        assert_eq!(r.status(), 200);
        r
    });
    let (_, who) = json(me.get("/api/me"));
    assert_eq!(who["user"]["role"], "user", "{who}");
    assert_eq!(who["user"]["display_name"], "New Person");
    // The code is used up.
    let (status, _) = json(anon.post(
        "/api/auth/signup/verify",
        json!({"email": "new@example.com", "code": code}),
    ));
    assert_eq!(status, 400);

    // Signing up again with a taken address answers the same, and the owner is told.
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "new@example.com", "name": "Someone", "password": PASSWORD}),
    ));
    assert_eq!(status, 202, "{b}");
    wait_until(10, "the notice to the existing account", || {
        smtp.messages()
            .iter()
            .filter(|m| m.contains("X-RcptTo: new@example.com"))
            .count()
            == 2
    });
    assert!(
        smtp.messages()
            .iter()
            .any(|m| m.contains("You already have an account") || m.contains("already has one"))
    );

    // Five wrong codes end the request: even the right code no longer works.
    let (status, _) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "guess@example.com", "name": "G", "password": PASSWORD}),
    ));
    assert_eq!(status, 202);
    let code = code_in(&smtp.wait_for("guess@example.com", 10));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            json(anon.post(
                "/api/auth/signup/verify",
                json!({"email": "guess@example.com", "code": wrong})
            ))
            .0,
            400
        );
    }
    assert_eq!(
        json(anon.post(
            "/api/auth/signup/verify",
            json!({"email": "guess@example.com", "code": code})
        ))
        .0,
        400
    );
    // A new code needs a minute between sends.
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "guess@example.com", "name": "G", "password": PASSWORD}),
    ));
    assert_eq!(status, 202, "the deleted request starts over: {b}");
    let (status, b) = json(anon.post(
        "/api/auth/signup",
        json!({"email": "guess@example.com", "name": "G", "password": PASSWORD}),
    ));
    assert_eq!(status, 429, "{b}");

    // The same in the web app: the sign-in page links to signup, the code step follows.
    let web = Web::new(&app);
    assert!(web.get("/login").body.contains("href=\"/signup\""));
    web.get("/signup").assert_page(200, "Create an account");
    web.submit(
        "/signup",
        "/signup",
        &[
            ("email", "x@elsewhere.org"),
            ("display_name", "X"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .assert_page(422, "example.com");
    let sent = web.submit(
        "/signup",
        "/signup",
        &[
            ("email", "web@example.com"),
            ("display_name", "Web Person"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    );
    sent.assert_page(200, "Check your email");
    let code = code_in(&smtp.wait_for("web@example.com", 10));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    web.submit(
        "/signup",
        "/signup/verify",
        &[("email", "web@example.com"), ("code", wrong)],
    )
    .assert_page(422, "wrong or has expired");
    let done = web.submit(
        "/signup",
        "/signup/verify",
        &[("email", "web@example.com"), ("code", &code)],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(web.cookie("rampart_session").is_some(), "signed in");
    let home = web.get("/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.body.contains("Web Person"),
        "signed in as the new account"
    );
}

#[test]
fn mail_queue_retries_and_shows_failures_to_admins() {
    let dir = TestDir::new("mail-queue");
    // A relay that is not there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut env = smtp_env(&port.to_string());
    env.push(("RAMPART_SMTP_RETRY_BASE_SECONDS", "1".into()));
    env.push(("RAMPART_SMTP_MAX_ATTEMPTS", "3".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = appliance(&dir, &env);
    cli_user(&dir, "dev@example.com", "user");
    cli_user(&dir, "ops@example.com", "user");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let dev = Client::login(&app, "dev@example.com", PASSWORD);
    assert_eq!(dev.get("/api/admin/mail").status(), 403);

    // First message: fails three times (inline, then the worker twice) and is marked failed.
    let ops = user_id(&admin, "ops@example.com");
    let (status, link) = json(admin.post(&format!("/api/users/{ops}/password-reset"), json!({})));
    assert_eq!(status, 201, "{link}");
    assert_eq!(link["emailed"], false);
    assert!(
        link["email_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{link}"
    );
    let failed = |admin: &Client| -> Value {
        let (_, m) = json(admin.get("/api/admin/mail?status=failed"));
        m
    };
    wait_until(20, "the message to be marked failed", || {
        failed(&admin)["stats"]["failed"] == 1
    });
    let m = failed(&admin);
    let row = &m["messages"][0];
    assert_eq!(row["recipient"], "ops@example.com");
    assert_eq!(row["attempts"], 3, "{m}");
    assert!(
        row["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&port.to_string())),
        "{m}"
    );
    assert!(
        !m.to_string().contains("/reset/"),
        "bodies are never listed: {m}"
    );
    let failed_id = row["id"].as_i64().expect("id");
    // Admins see the failure in the web app too (Settings › Users), with a retry button.
    let aweb = Web::new(&app);
    aweb.sign_in("admin@example.com", PASSWORD);
    let users_page = aweb.get("/settings/users");
    users_page.assert_page(200, "Outgoing mail");
    let queue = crate::web_pages::between(&users_page.body, "id=\"mail-queue\"", "</section>");
    assert!(
        queue.contains("ops@example.com") && queue.contains("Failed"),
        "{queue}"
    );
    assert!(
        queue.contains(&format!("/settings/mail/{failed_id}/retry")),
        "{queue}"
    );
    assert!(
        !queue.contains("/reset/"),
        "bodies are never shown: {queue}"
    );

    // Second message: queued while the relay is down, delivered once it is up.
    let dev_id = user_id(&admin, "dev@example.com");
    let (_, link) = json(admin.post(&format!("/api/users/{dev_id}/password-reset"), json!({})));
    assert_eq!(link["emailed"], false);
    let smtp = Smtp::start_on(&dir, port);
    let mail = smtp.wait_for("dev@example.com", 20);
    assert!(
        mail.contains(link["reset_url"].as_str().expect("url"))
            || part(&mail, "text/plain")
                .is_some_and(|t| t.contains(link["reset_url"].as_str().expect("url")))
    );
    // The failed one stays failed until an admin retries it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !smtp
            .messages()
            .iter()
            .any(|m| m.contains("X-RcptTo: ops@example.com"))
    );
    let (status, b) = json(admin.post(&format!("/api/admin/mail/{failed_id}/retry"), json!({})));
    assert_eq!(status, 200, "{b}");
    smtp.wait_for("ops@example.com", 20);
    wait_until(10, "both messages to show as sent", || {
        let (_, m) = json(admin.get("/api/admin/mail"));
        m["stats"]["failed"] == 0
            && m["stats"]["pending"] == 0
            && m["stats"]["sent_last_7_days"] == 2
    });
    assert_eq!(
        json(admin.post("/api/admin/mail/999999/retry", json!({}))).0,
        404
    );
}
