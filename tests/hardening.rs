//! Account hardening (issue 15, accounts half) through the real binary: second-factor
//! guessing limits, sessions that cannot be upgraded by enrolling elsewhere, login throttling
//! under parallel attempts, trusted proxies, cookie policy and HSTS, keyed recovery codes,
//! session revocation, password changes and API keys, re-authentication for factor changes.
//! Each test fails on the code before the fix it covers.

use std::sync::{Arc, Barrier};

use serde_json::{Value, json};

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_setup, cli_user, json,
    session_cookie, text, totp_code,
};
use crate::web_pages::Web;

/// Enables TOTP for a signed-in client; returns the rotated client, the otpauth URL and the
/// recovery codes.
fn enable_totp(client: &Client) -> (Client, String, Vec<String>) {
    let (status, enroll) = json(client.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    assert_eq!(status, 200, "{enroll}");
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    let resp = client.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)}));
    let cookie = session_cookie(&resp);
    let (status, body) = json(resp);
    assert_eq!(status, 200, "{body}");
    let codes = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    let rotated = Client {
        cookie,
        csrf: body["csrf_token"].as_str().map(str::to_string),
        ..client.clone()
    };
    (rotated, url, codes)
}

/// The password step of a login that needs a second factor: the pre-auth token.
fn pre_auth(app: &Appliance, email: &str) -> String {
    let (status, body) = json(Client::anonymous(app).post(
        "/api/auth/login",
        json!({"email": email, "password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mfa_required"], true, "{body}");
    body["pre_auth_token"].as_str().expect("token").to_string()
}

fn totp_attempt(app: &Appliance, pre: &str, code: &str) -> (u16, Value) {
    json(Client::anonymous(app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": pre, "code": code}),
    ))
}

/// A six-digit code that is not valid now (nor in the neighbouring time steps).
fn wrong_code(url: &str) -> String {
    let valid: Vec<String> = (-2..=2).map(|s| totp_code(url, s)).collect();
    (0..1000u32)
        .map(|n| format!("{:06}", 100_000 + n * 7))
        .find(|c| !valid.contains(c))
        .expect("a wrong code")
}

#[test]
fn thirty_wrong_codes_do_not_precede_a_right_one() {
    let dir = TestDir::new("mfa-guess-token");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "gina@example.com", "user");
    let gina = Client::login(&app, "gina@example.com", PASSWORD);
    let (_, url, _) = enable_totp(&gina);
    let bad = wrong_code(&url);

    // One pre-auth token: four wrong codes are answered as wrong, the fifth kills the token.
    let pre = pre_auth(&app, "gina@example.com");
    for i in 1..=4 {
        let (status, body) = totp_attempt(&app, &pre, &bad);
        assert_eq!(status, 400, "attempt {i}: {body}");
    }
    let (status, body) = totp_attempt(&app, &pre, &bad);
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("too many wrong answers"),
        "{body}"
    );
    // Recovery codes go through the same account counter (five failures: locked now).
    let pre2 = pre_auth(&app, "gina@example.com");
    let (status, body) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/recovery",
        json!({"pre_auth_token": pre2, "code": "aaaaa-bbbbb"}),
    ));
    assert_eq!(status, 429, "the account is locked by now: {body}");
    // The reproduction: more guesses, then the right code, on the same token.
    for _ in 0..25 {
        assert_eq!(totp_attempt(&app, &pre, &bad).0, 401);
    }
    let (status, _) = totp_attempt(&app, &pre, &totp_code(&url, 1));
    assert_eq!(
        status, 401,
        "the dead token never signs in, even with the right code"
    );
}

#[test]
fn second_factor_is_throttled_per_account_across_tokens() {
    let dir = TestDir::new("mfa-guess-account");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "hal@example.com", "user");
    let hal = Client::login(&app, "hal@example.com", PASSWORD);
    let (_, url, codes) = enable_totp(&hal);
    let bad = wrong_code(&url);

    // Five wrong codes spread over three sign-in attempts (no token reaches its own limit).
    for n in [2, 2, 1] {
        let pre = pre_auth(&app, "hal@example.com");
        for _ in 0..n {
            assert_eq!(totp_attempt(&app, &pre, &bad).0, 400);
        }
    }
    // A fresh password step does not reset the second-factor counter: the right code waits.
    let pre = pre_auth(&app, "hal@example.com");
    let resp = Client::anonymous(&app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": pre, "code": totp_code(&url, 1)}),
    );
    assert_eq!(resp.status(), 429);
    let resp = Client::anonymous(&app).post(
        "/api/auth/mfa/recovery",
        json!({"pre_auth_token": pre, "code": codes[0]}),
    );
    assert_eq!(resp.status(), 429, "a right recovery code waits as well");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 4, "refused answers grow the lockout: {retry}");

    // After the lockout the right code signs in and clears the counter.
    std::thread::sleep(std::time::Duration::from_millis(retry * 1000 + 200));
    let (status, body) = totp_attempt(&app, &pre, &totp_code(&url, 1));
    assert_eq!(status, 200, "{body}");
    let pre = pre_auth(&app, "hal@example.com");
    assert_eq!(totp_attempt(&app, &pre, &bad).0, 400, "counter cleared");
}

#[test]
fn web_sign_in_mfa_step_is_limited_too() {
    let dir = TestDir::new("mfa-guess-web");
    let app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, url, _) = enable_totp(&admin);
    let bad = wrong_code(&url);
    let web = Web::new(&app);
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
    for _ in 0..4 {
        web.post("/login/mfa/totp", &[("csrf_token", &csrf), ("code", &bad)])
            .assert_page(422, "The code is not valid");
    }
    let r = web.post("/login/mfa/totp", &[("csrf_token", &csrf), ("code", &bad)]);
    r.assert_redirect("/login");
    use base64::Engine as _;
    let flash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(web.cookie("rampart_flash").expect("flash"))
        .expect("base64");
    assert!(
        String::from_utf8_lossy(&flash).contains("Too many wrong codes for this sign-in attempt"),
        "{}",
        String::from_utf8_lossy(&flash)
    );
    // The pre-auth cookie still holds the dead token: the right code does not sign in.
    let r = web.post(
        "/login/mfa/totp",
        &[("csrf_token", &csrf), ("code", &totp_code(&url, 1))],
    );
    r.assert_redirect("/login");
    assert!(web.cookie("rampart_session").is_none());
    // A new password step: the account counter (5 failures) now answers 429 on the form.
    web.post(
        "/login",
        &[
            ("csrf_token", &csrf),
            ("email", "admin@example.com"),
            ("password", PASSWORD),
        ],
    )
    .assert_redirect("/login/mfa?next=/");
    web.post(
        "/login/mfa/totp",
        &[("csrf_token", &csrf), ("code", &totp_code(&url, 1))],
    )
    .assert_page(429, "Too many wrong codes for this account");
}

#[test]
fn webauthn_failures_count_like_codes() {
    use crate::harness::softkey::SoftKey;
    let dir = TestDir::new("mfa-guess-webauthn");
    let app = appliance_without_mfa(&dir);
    let origin = app.url.replace("127.0.0.1", "localhost");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let mut key = SoftKey::new(&origin);
    let (_, start) = json(admin.post(
        "/api/mfa/webauthn/register/start",
        json!({"password": PASSWORD}),
    ));
    let credential = key.register(&start["options"]);
    let (status, body) = json(admin.post(
        "/api/mfa/webauthn/register/finish",
        json!({"ceremony_token": start["ceremony_token"], "name": "k", "credential": credential}),
    ));
    assert_eq!(status, 201, "{body}");

    let pre = pre_auth(&app, "admin@example.com");
    let mut impostor = SoftKey::new(&origin);
    let forge = |pre: &str, signer: &mut SoftKey| {
        let (_, challenge) = json(Client::anonymous(&app).post(
            "/api/auth/mfa/webauthn/start",
            json!({"pre_auth_token": pre}),
        ));
        let answer = signer.sign_in(&challenge["options"]);
        json(Client::anonymous(&app).post(
            "/api/auth/mfa/webauthn/finish",
            json!({"pre_auth_token": pre, "ceremony_token": challenge["ceremony_token"], "credential": answer}),
        ))
    };
    for _ in 0..4 {
        assert_eq!(forge(&pre, &mut impostor).0, 400);
    }
    let (status, body) = forge(&pre, &mut impostor);
    assert_eq!(status, 401, "{body}");
    let (status, _) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/webauthn/start",
        json!({"pre_auth_token": pre}),
    ));
    assert_eq!(status, 401, "the token is gone");
}

#[test]
fn enrolling_elsewhere_never_upgrades_an_old_password_session() {
    let dir = TestDir::new("enroll-elsewhere");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir); // MFA required
    let login = || {
        Client::from_signin(
            &app,
            Client::anonymous(&app).post(
                "/api/auth/login",
                json!({"email": "admin@example.com", "password": PASSWORD}),
            ),
        )
    };
    let attacker = login(); // knows the password, opened a session before enrollment
    let victim = login();
    assert_eq!(
        attacker.get("/api/models").status(),
        403,
        "enrollment pending"
    );

    let (status, enroll) = json(victim.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    assert_eq!(status, 200, "{enroll}");
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    // The other session cannot see or finish the victim's pending setup.
    let (_, mfa) = json(attacker.get("/api/mfa"));
    assert!(mfa.get("secret").is_none() && !mfa.to_string().contains("otpauth"));
    assert_eq!(mfa["totp_pending"], false, "another session's setup: {mfa}");
    assert_eq!(json(victim.get("/api/mfa")).1["totp_pending"], true);
    let (status, body) =
        json(attacker.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)})));
    assert_eq!(status, 409, "{body}");
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    web.get("/mfa/enroll/totp").assert_redirect("/mfa/enroll");

    // The victim confirms: every other session ends, the victim's own is rotated.
    let resp = victim.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)}));
    let new_cookie = session_cookie(&resp).expect("rotated cookie");
    let (status, body) = json(resp);
    assert_eq!(status, 200, "{body}");
    assert!(
        body["sessions_ended"].as_u64().expect("count") >= 2,
        "{body}"
    );
    assert_eq!(
        attacker.get("/api/models").status(),
        401,
        "old session is not upgraded"
    );
    assert_eq!(attacker.get("/api/me").status(), 401);
    assert_eq!(
        victim.get("/api/me").status(),
        401,
        "the enrolling cookie was rotated"
    );
    let fresh = Client {
        cookie: Some(new_cookie.clone()),
        csrf: body["csrf_token"].as_str().map(str::to_string),
        ..victim.clone()
    };
    assert_ne!(Some(new_cookie), victim.cookie);
    assert_eq!(fresh.get("/api/models").status(), 200);
}

#[test]
fn password_only_session_dies_when_a_factor_appears_without_mfa_required() {
    let dir = TestDir::new("enroll-optional");
    let app = appliance_without_mfa(&dir);
    let a = Client::login(&app, "admin@example.com", PASSWORD);
    let b = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, _, _) = enable_totp(&b);
    assert_eq!(a.get("/api/models").status(), 401);
}

#[test]
fn parallel_wrong_passwords_get_at_most_the_free_failures() {
    let dir = TestDir::new("login-race");
    cli_setup(&dir, "admin@example.com");
    // One argon2 at a time exercises the bounded hashing path as well.
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env("RAMPART_ARGON2_MAX_CONCURRENT", "1"),
    );
    let n = 50;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (base, barrier) = (app.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                barrier.wait();
                client
                    .post(format!("{base}/api/auth/login"))
                    .json(&json!({"email": "admin@example.com", "password": "Wrong-Password-1"}))
                    .send()
                    .expect("post")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let statuses: Vec<u16> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(unauthorized + throttled, n, "{statuses:?}");
    assert!(
        unauthorized <= 5,
        "{unauthorized} wrong passwords were checked; at most the 5 free failures may be: {statuses:?}"
    );
}

#[test]
fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let attempt = |app: &Appliance, email: &str, from: &str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("X-Forwarded-For", from)
            .json(&json!({"email": email, "password": "Wrong-Password-1"}))
            .send()
            .expect("post")
            .status()
            .as_u16()
    };
    // Without trusted proxies the header is ignored: all attempts share the peer address.
    let dir = TestDir::new("proxy-untrusted");
    let app = Appliance::start_with(&dir, dir.cmd().env("RAMPART_LOGIN_IP_MAX_FAILURES", "3"));
    for i in 0..3 {
        assert_eq!(
            attempt(
                &app,
                &format!("u{i}@example.com"),
                &format!("198.51.100.{i}")
            ),
            401
        );
    }
    assert_eq!(
        attempt(&app, "u9@example.com", "198.51.100.9"),
        429,
        "a forged X-Forwarded-For does not escape the per-address throttle"
    );
    drop(app);

    // With the loopback proxy trusted, each forwarded client has its own counter.
    let dir = TestDir::new("proxy-trusted");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("RAMPART_LOGIN_IP_MAX_FAILURES", "3")
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env("RAMPART_TRUSTED_PROXIES", "127.0.0.0/8"),
    );
    for i in 0..3 {
        assert_eq!(
            attempt(&app, &format!("u{i}@example.com"), "198.51.100.1"),
            401
        );
    }
    assert_eq!(attempt(&app, "u9@example.com", "198.51.100.1"), 429);
    assert_eq!(
        attempt(&app, "u9@example.com", "6.6.6.6, 198.51.100.2"),
        401,
        "another client behind the proxy is not locked out; the forged left entry is ignored"
    );
    // Sessions record the forwarded address.
    let resp = app
        .client
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", "203.0.113.77")
        .json(&json!({"email": "admin@example.com", "password": PASSWORD}))
        .send()
        .expect("post");
    let admin = Client::from_signin(&app, resp);
    let (_, sessions) = json(admin.get("/api/me/sessions"));
    assert_eq!(sessions[0]["ip"], "203.0.113.77", "{sessions}");
}

#[test]
fn https_public_url_gives_secure_host_cookies_and_hsts() {
    let dir = TestDir::new("cookies-https");
    cli_setup(&dir, "admin@example.com");
    // TLS ends at a proxy: the listener is plain http, the public URL is https.
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env("RAMPART_PUBLIC_URL", "https://rampart.example"),
    );
    let hsts = app.get("/health");
    assert_eq!(
        hsts.headers()
            .get("strict-transport-security")
            .and_then(|v| v.to_str().ok()),
        Some("max-age=63072000")
    );
    let resp = Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    );
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_string();
    assert!(
        set_cookie.starts_with("__Host-rampart_session="),
        "{set_cookie}"
    );
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attr), "{attr} missing: {set_cookie}");
    }
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let token = set_cookie
        .trim_start_matches("__Host-rampart_session=")
        .split(';')
        .next()
        .expect("value")
        .to_string();
    let me = |cookie: String| {
        app.client
            .get(app.url("/api/me"))
            .header("Cookie", cookie)
            .send()
            .expect("GET")
            .status()
    };
    assert_eq!(me(format!("__Host-rampart_session={token}")), 200);
    assert_eq!(
        me(format!("rampart_session={token}")),
        401,
        "only the prefixed name counts"
    );
    // The pre-session CSRF cookie of the sign-in page is prefixed and Secure as well.
    let page = app
        .client
        .get(app.url("/login"))
        .header("Accept", "text/html")
        .send()
        .expect("GET");
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("login_csrf"))
        .expect("csrf cookie")
        .to_string();
    assert!(
        csrf_cookie.starts_with("__Host-rampart_login_csrf=") && csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );
    drop(app);
    // Plain http public URL: no HSTS, no prefix (browsers would drop Secure cookies).
    let app = Appliance::start_with(&dir, dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    assert!(
        app.get("/health")
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    Client::login(&app, "admin@example.com", PASSWORD);
}

#[test]
fn recovery_codes_are_stored_keyed_and_old_hashes_are_rekeyed() {
    use sha2::Digest as _;
    let dir = TestDir::new("recovery-keyed");
    let mut app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, _, codes) = enable_totp(&admin);
    app.stop();

    let sha = |c: &str| hex::encode(sha2::Sha256::digest(c.as_bytes()));
    let open = || {
        rampart::instance::Instance::open(rampart::config::Config {
            data_dir: dir.data_dir(),
            ..Default::default()
        })
        .expect("open instance")
    };
    {
        let inst = open();
        let conn = inst.db.conn().expect("conn");
        let mut stmt = conn
            .prepare("SELECT code_hash FROM mfa_recovery_codes")
            .expect("prepare");
        let stored: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(stored.len(), 10);
        for code in &codes {
            assert!(
                !stored.contains(&sha(code)),
                "a bare SHA-256 of a code is stored"
            );
        }
        assert!(stored.iter().all(|h| h.starts_with("h1:")), "{stored:?}");
        // Simulate the table as an earlier version wrote it: bare SHA-256 of the code
        // without its dash, for the first code only.
        let user: String = conn
            .query_row("SELECT user_id FROM mfa_recovery_codes LIMIT 1", [], |r| {
                r.get(0)
            })
            .expect("user");
        conn.execute("DELETE FROM mfa_recovery_codes", [])
            .expect("clear");
        conn.execute(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
            [user, sha(&codes[0].replace('-', ""))],
        )
        .expect("legacy row");
    }
    // The server re-keys it at start; the old code still works once.
    let app = Appliance::start_with(&dir, dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    let pre = pre_auth(&app, "admin@example.com");
    let (status, body) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/recovery",
        json!({"pre_auth_token": pre, "code": codes[0]}),
    ));
    assert_eq!(status, 200, "{body}");
    drop(app);
    let inst = open();
    let conn = inst.db.conn().expect("conn");
    let bare: i64 = conn
        .query_row(
            "SELECT count(*) FROM mfa_recovery_codes WHERE code_hash NOT LIKE 'h1:%'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(bare, 0, "no bare hashes remain");
    let used: i64 = conn
        .query_row(
            "SELECT count(*) FROM mfa_recovery_codes WHERE used_at IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(used, 1, "the re-keyed code was the one used");
}

#[test]
fn sessions_are_listed_and_revocable() {
    let dir = TestDir::new("sessions-revoke");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "ivy@example.com", "user");
    let a = Client::login(&app, "admin@example.com", PASSWORD);
    let b = Client::login(&app, "admin@example.com", PASSWORD);
    let c = Client::login(&app, "admin@example.com", PASSWORD);
    let ivy = Client::login(&app, "ivy@example.com", PASSWORD);
    let (_, list) = json(a.get("/api/me/sessions"));
    let list = list.as_array().expect("list").clone();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let (_, b_list) = json(b.get("/api/me/sessions"));
    let b_id = b_list
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["current"] == true)
        .expect("current")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(
        !b_list
            .to_string()
            .contains(b.cookie.as_deref().expect("cookie"))
    );
    // Another user cannot end it (unknown id for them).
    assert_eq!(
        ivy.delete(&format!("/api/me/sessions/{b_id}")).status(),
        404
    );
    assert_eq!(b.get("/api/me").status(), 200);
    // Revoke one: it stops at once; the others stay.
    assert_eq!(a.delete(&format!("/api/me/sessions/{b_id}")).status(), 204);
    assert_eq!(b.get("/api/me").status(), 401);
    assert_eq!(c.get("/api/me").status(), 200);
    // An API key may not manage sessions.
    let (_, key) = json(a.post("/api/api-keys", json!({"name": "k", "scope": "developer"})));
    let keyed = Client::with_key(&app, key["key"].as_str().expect("key"));
    assert_eq!(keyed.delete("/api/me/sessions").status(), 403);
    // Sign out everywhere: this session too; the cookie is removed.
    let resp = a.delete("/api/me/sessions");
    assert!(
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or_default().contains("Max-Age=0")),
        "cookie removal"
    );
    let (status, body) = json(resp);
    assert_eq!((status, body["sessions_ended"].clone()), (200, json!(2)));
    assert_eq!(a.get("/api/me").status(), 401);
    assert_eq!(c.get("/api/me").status(), 401);
    assert_eq!(
        ivy.get("/api/me").status(),
        200,
        "other users are untouched"
    );
    assert_eq!(
        keyed.get("/api/me").status(),
        200,
        "API keys are not sessions"
    );
}

#[test]
fn settings_page_revokes_sessions_and_signs_out_everywhere() {
    let dir = TestDir::new("sessions-page");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let other = Client::login(&app, "admin@example.com", PASSWORD);
    let page = web.get("/settings/account");
    page.assert_page(200, "this session");
    assert!(page.body.contains("Sign out everywhere"));
    // Revoke the other session (the row that is not marked current).
    let (_, list) = json(other.get("/api/me/sessions"));
    let other_id = list
        .as_array()
        .expect("list")
        .iter()
        .find(|s| s["current"] == true)
        .expect("current")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(
        page.body
            .contains(&format!("/settings/account/sessions/{other_id}/revoke"))
    );
    web.submit(
        "/settings/account",
        &format!("/settings/account/sessions/{other_id}/revoke"),
        &[],
    )
    .assert_redirect("/settings/account#sessions");
    assert_eq!(other.get("/api/me").status(), 401);
    web.submit(
        "/settings/account",
        "/settings/account/sessions/revoke-all",
        &[],
    )
    .assert_redirect("/login");
    web.get("/settings/account")
        .assert_redirect("/login?next=/settings/account");
}

#[test]
fn password_change_reports_and_optionally_revokes_api_keys() {
    let dir = TestDir::new("passwd-keys");
    let app = appliance_without_mfa(&dir);
    let a = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, key) = json(a.post("/api/api-keys", json!({"name": "k", "scope": "developer"})));
    let keyed = Client::with_key(&app, key["key"].as_str().expect("key"));
    // A key cannot change the account's password.
    let (status, _) = json(keyed.post(
        "/api/me/password",
        json!({"current_password": PASSWORD, "new_password": "New-Password-2"}),
    ));
    assert_eq!(status, 403);
    let (status, done) = json(a.post(
        "/api/me/password",
        json!({"current_password": PASSWORD, "new_password": "New-Password-2"}),
    ));
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["api_keys_still_valid"], 1, "{done}");
    assert_eq!(
        keyed.get("/api/me").status(),
        200,
        "keys stay valid unless revoked"
    );
    let (status, done) = json(a.post(
        "/api/me/password",
        json!({"current_password": "New-Password-2", "new_password": "New-Password-3", "revoke_api_keys": true}),
    ));
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (
            done["api_keys_revoked"].clone(),
            done["api_keys_still_valid"].clone()
        ),
        (json!(1), json!(0))
    );
    assert_eq!(keyed.get("/api/me").status(), 401);
    // The page says so.
    let web = Web::new(&app);
    web.sign_in("admin@example.com", "New-Password-3");
    let (_, key) = json(
        Client::login(&app, "admin@example.com", "New-Password-3")
            .post("/api/api-keys", json!({"name": "k2", "scope": "developer"})),
    );
    web.get("/settings/account")
        .assert_page(200, "Also revoke my 1 API key(s)");
    web.submit(
        "/settings/account",
        "/settings/account/password",
        &[
            ("current_password", "New-Password-3"),
            ("new_password", "New-Password-4"),
            ("new_password_confirm", "New-Password-4"),
        ],
    )
    .assert_redirect("/settings/account");
    web.get("/settings/account")
        .assert_page(200, "Your 1 API key(s) stay valid");
    assert_eq!(
        Client::with_key(&app, key["key"].as_str().expect("key"))
            .get("/api/me")
            .status(),
        200
    );
}

#[test]
fn factor_changes_need_the_password_and_end_other_sessions() {
    let dir = TestDir::new("factor-reauth");
    let app = appliance_without_mfa(&dir);
    let a = Client::login(&app, "admin@example.com", PASSWORD);
    // Guessing the password through re-authentication is throttled like sign-in.
    for _ in 0..5 {
        let (status, body) = json(a.post(
            "/api/mfa/totp/setup",
            json!({"password": "Wrong-Password-1"}),
        ));
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = json(a.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    assert_eq!(status, 429, "{body}");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (a, url, _) = enable_totp(&a);
    // A second session (with the second factor), then removing the factor from the first.
    let pre = pre_auth(&app, "admin@example.com");
    let b = Client::from_signin(
        &app,
        Client::anonymous(&app).post(
            "/api/auth/mfa/totp",
            json!({"pre_auth_token": pre, "code": totp_code(&url, 1)}),
        ),
    );
    assert_eq!(b.get("/api/me").status(), 200);
    let (status, body) = json(a.post("/api/mfa/totp/remove", json!({"password": PASSWORD})));
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        b.get("/api/me").status(),
        401,
        "a factor change ends other sessions"
    );
    assert_eq!(a.get("/api/me").status(), 200);
}

#[test]
fn metrics_body_is_not_served_by_default() {
    let dir = TestDir::new("metrics-default");
    let app = Appliance::start(&dir);
    let resp = app.get("/metrics");
    assert_eq!(resp.status(), 404);
    assert!(!text(resp).contains("rampart_http_requests_total"));
}

fn restore_upload(client: &Client, file: Vec<u8>, password: &str) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .text("confirmation", "CONFIRM RESTORE")
        .text("password", password.to_string())
        .part(
            "backup_file",
            reqwest::blocking::multipart::Part::bytes(file).file_name("b.db.gz.signed"),
        );
    json(
        client
            .http
            .post(format!("{}/api/admin/restore", client.base))
            .header(
                "Cookie",
                format!("rampart_session={}", client.cookie.clone().expect("cookie")),
            )
            .header("X-CSRF-Token", client.csrf.clone().expect("csrf"))
            .multipart(form)
            .send()
            .expect("restore"),
    )
}

fn events(client: &Client) -> Vec<Value> {
    let (status, list) = json(client.get("/api/admin/events"));
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("events").clone()
}

#[test]
fn signers_and_restore_are_superadmin_only_and_audited() {
    let dir = TestDir::new("superadmin-only");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "adm@example.com", "admin");
    let out = dir
        .cmd()
        .args([
            "admin",
            "user",
            "create",
            "--email",
            "sup2@example.com",
            "--name",
            "Sup2",
            "--role",
            "superadmin",
        ])
        .args(["--password-stdin"])
        .output_with_stdin("Other-Super-5\n");
    assert!(out.status.success());
    let root = Client::login(&app, "admin@example.com", PASSWORD);
    let adm = Client::login(&app, "adm@example.com", PASSWORD);
    let pem = rampart::crypto::signing::SigningKey::generate()
        .public_key()
        .to_pem();
    let backup = root
        .get("/api/admin/backup")
        .bytes()
        .expect("backup")
        .to_vec();

    // An admin may look, not change what restore trusts, and not restore.
    assert_eq!(adm.get("/api/admin/trusted-signers").status(), 200);
    let (status, body) = json(adm.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": pem, "label": "rogue"}),
    ));
    assert_eq!(status, 403, "{body}");
    let (status, body) = restore_upload(&adm, backup.clone(), PASSWORD);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("superadmin")
    );

    // A superadmin may; the change names them in the audit log.
    let (status, added) = json(root.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": pem, "label": "old box"}),
    ));
    assert_eq!(status, 201, "{added}");
    let fp = added["fingerprint"].as_str().expect("fp").to_string();
    assert_eq!(
        adm.delete(&format!("/api/admin/trusted-signers/{fp}"))
            .status(),
        403
    );
    let (_, me) = json(root.get("/api/me"));
    let root_id = me["user"]["id"].as_str().expect("id").to_string();
    let add = events(&root)
        .into_iter()
        .find(|e| e["kind"] == "signer_add")
        .expect("signer_add event");
    assert_eq!(add["actor"], root_id.as_str(), "{add}");

    // Restore needs the restoring superadmin's own password, not another superadmin's.
    let (status, body) = restore_upload(&root, backup.clone(), "Other-Super-5");
    assert_eq!(status, 401, "{body}");
    let refused = events(&root)
        .into_iter()
        .find(|e| e["kind"] == "restore_refused")
        .expect("refusal recorded");
    assert!(
        refused["detail"]
            .as_str()
            .expect("detail")
            .contains("admin@example.com via api"),
        "{refused}"
    );

    // From the box, signer changes are the operator's and record the OS account.
    dir.cmd()
        .args(["admin", "signers", "remove", &fp])
        .assert_exit(0);
    let removed = events(&root)
        .into_iter()
        .find(|e| e["kind"] == "signer_remove")
        .expect("signer_remove event");
    assert!(
        removed["detail"]
            .as_str()
            .expect("detail")
            .contains("by cli (uid "),
        "{removed}"
    );

    let (status, body) = restore_upload(&root, backup, PASSWORD);
    assert_eq!(status, 200, "{body}");
    let again = Client::login(&app, "admin@example.com", PASSWORD);
    let done = events(&again)
        .into_iter()
        .find(|e| e["kind"] == "restore")
        .expect("restore event");
    assert_eq!(done["actor"], root_id.as_str(), "{done}");
    assert!(
        events(&again)
            .iter()
            .any(|e| e["kind"] == "restore_refused"),
        "the refusal before the restore is still in the log"
    );
}

#[test]
fn restore_stops_a_payload_that_expands_past_the_limit() {
    use sha2::Digest as _;
    use std::io::Write as _;
    let dir = TestDir::new("restore-bomb");
    dir.cmd().args(["admin", "status"]).assert_exit(0);
    // A key the instance trusts signs a payload of 4 MiB of zeros (a few KiB compressed).
    let key = rampart::crypto::signing::SigningKey::generate();
    let pem = dir.write("signer.pem", &key.public_key().to_pem());
    dir.cmd()
        .args(["admin", "signers", "add", "--label", "bomb", "--pem"])
        .arg_path(&pem)
        .assert_exit(0);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 4 * 1024 * 1024]).expect("gzip");
    let mut file = gz.finish().expect("gzip");
    let digest: [u8; 32] = sha2::Sha256::digest(&file).into();
    let sig = key.sign_sha256(&digest);
    file.extend(rampart::crypto::backup_format::encode(
        &key.fingerprint(),
        &sig,
    ));
    let bomb = dir.path().join("bomb.db.gz.signed");
    std::fs::write(&bomb, &file).expect("write");

    let out = dir
        .cmd()
        .env("RAMPART_LIMIT_RESTORE_PLAINTEXT_BYTES", "1048576")
        .args(["admin", "restore", "--confirm", "CONFIRM RESTORE"])
        .arg_path(&bomb)
        .output();
    assert_eq!(out.status.code(), Some(1));
    let err = crate::harness::stderr(&out);
    assert!(
        err.contains("expands to more than 1048576 bytes")
            && err.contains("restore_plaintext_bytes"),
        "{err}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.data_dir())
        .expect("data dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Nothing changed: the signer is still there, the instance works.
    let list = dir
        .cmd()
        .args(["admin", "signers", "list", "--json"])
        .assert_exit(0);
    assert!(crate::harness::stdout(&list).contains("bomb"));
}

#[test]
fn background_jobs_are_bounded_and_answer_429_when_full() {
    // An LLM endpoint that accepts connections and never answers keeps a generation busy.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let dir = TestDir::new("jobs-bounded");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env(
                "RAMPART_LLM_ENDPOINT",
                &format!("http://127.0.0.1:{port}/v1"),
            )
            .env("RAMPART_LLM_TIMEOUT_SECONDS", "2")
            .env("RAMPART_LIMIT_RUNNING_JOBS", "1"),
    );
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let body = json!({"feature_description": "A payroll service: employees sign in, upload timesheets, managers approve them and a batch job pays salaries."});
    let (status, first) = json(admin.post("/api/models", body.clone()));
    assert_eq!(status, 202, "{first}");
    let (status, refused) = json(admin.post("/api/models", body.clone()));
    assert_eq!(status, 429, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .expect("message")
            .contains("limits.running_jobs"),
        "{refused}"
    );
    let (status, _) = json(admin.post("/api/models?wait=true", body.clone()));
    assert_eq!(status, 429, "waiting generations take a slot too");
    // When the running job ends, its slot comes back.
    let id = first["job_id"].as_str().expect("job id");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let (_, job) = json(admin.get(&format!("/api/jobs/{id}")));
        if job["status"] == "failed" || job["status"] == "completed" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job never ended: {job}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, again) = json(admin.post("/api/models", body));
    assert_eq!(status, 202, "{again}");
}
