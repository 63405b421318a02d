//! Accounts, sessions, MFA and API keys through the real binary and HTTP.

use serde_json::json;

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_setup, cli_user, json,
    session_cookie, stderr, stdout, stdout_json, totp_code,
};

#[test]
fn setup_wizard_runs_once_even_when_raced() {
    let dir = TestDir::new("setup-race");
    let app = Appliance::start(&dir);
    let anon = Client::anonymous(&app);
    assert_eq!(json(anon.get("/api/setup")).1["needed"], true);
    // Before setup nothing else is reachable.
    assert_eq!(anon.get("/api/users").status(), 401);

    let base = app.url.clone();
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let base = base.clone();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(format!("{base}/api/setup"))
                    .json(&json!({"email": format!("admin{i}@example.com"), "name": "A", "password": PASSWORD}))
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
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(json(anon.get("/api/setup")).1["needed"], false);
    let out = dir
        .cmd()
        .args(["admin", "user", "list", "--json"])
        .assert_exit(0);
    let users = stdout_json(&out);
    assert_eq!(users.as_array().expect("array").len(), 1);
    assert_eq!(users[0]["role"], "superadmin");
}

#[test]
fn cli_setup_and_user_management() {
    let dir = TestDir::new("cli-users");
    let out = dir
        .cmd()
        .args([
            "admin",
            "setup",
            "--email",
            "root@example.com",
            "--name",
            "Root",
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let again = dir
        .cmd()
        .args([
            "admin",
            "setup",
            "--email",
            "x@example.com",
            "--name",
            "X",
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("setup is already complete"),
        "{}",
        stderr(&again)
    );

    let weak = dir
        .cmd()
        .args([
            "admin",
            "user",
            "create",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password-stdin",
        ])
        .output_with_stdin("weakpass\n");
    assert_eq!(weak.status.code(), Some(1));
    let msg = stderr(&weak);
    assert!(
        msg.contains("upper-case letter") && msg.contains("digit"),
        "{msg}"
    );

    cli_user(&dir, "bob@example.com", "user");
    let list = stdout(&dir.cmd().args(["admin", "user", "list"]).assert_exit(0));
    assert!(
        list.contains("bob@example.com") && list.contains("root@example.com"),
        "{list}"
    );

    let app = Appliance::start_with(&dir, dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    Client::login(&app, "bob@example.com", PASSWORD);
    dir.cmd()
        .args(["admin", "user", "disable", "bob@example.com"])
        .assert_exit(0);
    let (status, body) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "bob@example.com", "password": PASSWORD}),
    ));
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "invalid email or password");
    dir.cmd()
        .args(["admin", "user", "enable", "bob@example.com"])
        .assert_exit(0);
    Client::login(&app, "bob@example.com", PASSWORD);
}

#[test]
fn password_policy_errors_name_the_field() {
    let dir = TestDir::new("policy");
    let app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    for (pw, needle) in [
        ("short1A", "at least 8 characters"),
        ("alllowercase1", "upper-case"),
        ("ALLUPPERCASE1", "lower-case"),
        ("NoDigitsHere", "digit"),
    ] {
        let (status, body) = json(admin.post(
            "/api/users",
            json!({"email": "p@example.com", "display_name": "P", "password": pw}),
        ));
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], "password");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("msg")
                .contains(needle),
            "{body}"
        );
    }
    let (status, body) = json(admin.post(
        "/api/users",
        json!({"email": "not-an-email", "display_name": "P", "password": PASSWORD}),
    ));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "email");
    // Nothing was created by the failures.
    let (_, users) = json(admin.get("/api/users"));
    assert_eq!(users.as_array().expect("list").len(), 1);
    // Malformed JSON and wrong types are clear 400s.
    let resp = admin
        .http
        .post(format!("{}/api/users", app.url))
        .header(
            "Cookie",
            format!("rampart_session={}", admin.cookie.clone().expect("cookie")),
        )
        .header("X-CSRF-Token", admin.csrf.clone().expect("csrf"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .expect("post");
    let (status, body) = json(resp);
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");
    let (status, body) = json(admin.post("/api/users", json!({"email": 5})));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn disabled_user_loses_sessions_and_keys_at_once() {
    let dir = TestDir::new("disable");
    let app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, user) = json(admin.post(
        "/api/users",
        json!({"email": "carol@example.com", "display_name": "Carol", "password": PASSWORD}),
    ));
    assert_eq!(status, 201, "{user}");
    let carol = Client::login(&app, "carol@example.com", PASSWORD);
    let (status, key) = json(carol.post(
        "/api/api-keys",
        json!({"name": "laptop", "scope": "developer"}),
    ));
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().expect("key").to_string();
    assert!(key.starts_with("mk_") && key.len() == 46, "{key}");
    let keyed = Client::with_key(&app, &key);
    assert_eq!(keyed.get("/api/workspaces").status(), 200);

    let id = user["id"].as_str().expect("id");
    let (status, _) = json(admin.post(&format!("/api/users/{id}/disable"), json!({})));
    assert_eq!(status, 200);
    assert_eq!(carol.get("/api/workspaces").status(), 401);
    assert_eq!(keyed.get("/api/workspaces").status(), 401);
    let (status, _) = json(admin.post(&format!("/api/users/{id}/enable"), json!({})));
    assert_eq!(status, 200);
    assert_eq!(keyed.get("/api/workspaces").status(), 200);
    // The old session stays ended; a new login works.
    assert_eq!(carol.get("/api/workspaces").status(), 401);
    Client::login(&app, "carol@example.com", PASSWORD);
    // Nobody can disable themself; an admin cannot touch a superadmin.
    let (_, me) = json(admin.get("/api/me"));
    let my_id = me["user"]["id"].as_str().expect("id");
    let (status, _) = json(admin.post(&format!("/api/users/{my_id}/disable"), json!({})));
    assert_eq!(status, 403);
}

#[test]
fn login_is_throttled_without_revealing_accounts() {
    let dir = TestDir::new("throttle");
    let app = appliance_without_mfa(&dir);
    let anon = Client::anonymous(&app);
    let (s1, unknown) = json(anon.post(
        "/api/auth/login",
        json!({"email": "nobody@example.com", "password": "Wrong-pass-1"}),
    ));
    let (s2, wrong) = json(anon.post(
        "/api/auth/login",
        json!({"email": "admin@example.com", "password": "Wrong-pass-1"}),
    ));
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(
        unknown, wrong,
        "unknown email and wrong password must look the same"
    );
    for _ in 0..4 {
        anon.post(
            "/api/auth/login",
            json!({"email": "admin@example.com", "password": "Wrong-pass-1"}),
        );
    }
    let resp = anon.post(
        "/api/auth/login",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    );
    assert_eq!(
        resp.status(),
        429,
        "the right password is refused while locked"
    );
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    let (_, body) = json(resp);
    assert_eq!(body["error"]["code"], "throttled");
    // The refused attempt counted too (the lockout grew); after waiting it out, it works.
    assert!(retry >= 2, "{retry}");
    std::thread::sleep(std::time::Duration::from_millis(retry * 1000 + 100));
    Client::login(&app, "admin@example.com", PASSWORD);
}

#[test]
fn totp_enrollment_login_replay_and_recovery_codes() {
    let dir = TestDir::new("totp");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir); // MFA required (the default)
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
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "no Secure flag over plain http"
    );
    let session = Client::from_signin(&app, resp);
    let (status, body) = json(session.get("/api/workspaces"));
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "mfa_enrollment_required");
    let (_, me) = json(session.get("/api/me"));
    assert_eq!(me["mfa_enrollment_required"], true);

    // Adding a factor needs the password again.
    let (status, body) = json(session.post("/api/mfa/totp/setup", json!({})));
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("password")),
        "{body}"
    );
    let (status, enroll) = json(session.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    assert_eq!(status, 200, "{enroll}");
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with("otpauth://totp/rampart:admin%40example.com"),
        "{url}"
    );
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(enroll["qr_png_base64"].as_str().expect("qr"))
        .expect("base64");
    assert!(png.starts_with(b"\x89PNG"));
    let (status, _) = json(session.post("/api/mfa/totp/confirm", json!({"code": "000000"})));
    assert_eq!(status, 400);
    let resp = session.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)}));
    let rotated = session_cookie(&resp).expect("enrollment rotates the session cookie");
    let (status, confirmed) = json(resp);
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(
        session.get("/api/me").status(),
        401,
        "the pre-enrollment cookie is dead"
    );
    let session = Client {
        cookie: Some(rotated),
        csrf: confirmed["csrf_token"].as_str().map(str::to_string),
        ..session
    };
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        session.get("/api/workspaces").status(),
        200,
        "enrolled session may work now"
    );

    let start_login = || {
        let (status, body) = json(Client::anonymous(&app).post(
            "/api/auth/login",
            json!({"email": "admin@example.com", "password": PASSWORD}),
        ));
        assert_eq!(status, 200);
        assert_eq!(body["mfa_required"], true, "{body}");
        assert_eq!(body["methods"], json!(["totp", "recovery"]));
        body["pre_auth_token"].as_str().expect("token").to_string()
    };
    // The code used to confirm cannot be replayed.
    let pre = start_login();
    let (status, _) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": pre, "code": totp_code(&url, 0)}),
    ));
    assert_eq!(status, 400);
    let next = totp_code(&url, 1);
    let resp = Client::anonymous(&app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": pre, "code": next}),
    );
    assert!(session_cookie(&resp).is_some());
    let fresh = Client::from_signin(&app, resp);
    assert_eq!(fresh.get("/api/workspaces").status(), 200);
    // The same code again, on a new attempt: refused (accepted once).
    let pre = start_login();
    let (status, body) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": pre, "code": next}),
    ));
    assert_eq!(status, 400, "{body}");
    // A used pre-auth token cannot be used twice either.
    // Recovery codes work once.
    let resp = Client::anonymous(&app).post(
        "/api/auth/mfa/recovery",
        json!({"pre_auth_token": pre, "code": codes[0]}),
    );
    Client::from_signin(&app, resp);
    let pre = start_login();
    let (status, _) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/recovery",
        json!({"pre_auth_token": pre, "code": codes[0]}),
    ));
    assert_eq!(status, 400);
    let (_, status_body) = json(fresh.get("/api/mfa"));
    assert_eq!(status_body["recovery_codes_remaining"], 9);

    // Reconfiguration needs the password and a current code; removing the last factor is refused.
    let (status, body) = json(fresh.post("/api/mfa/totp/setup", json!({})));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "password");
    let (status, body) = json(fresh.post("/api/mfa/totp/remove", json!({"password": PASSWORD})));
    assert_eq!(status, 409, "{body}");
}

#[test]
fn admin_resets_mfa_of_others_but_not_self() {
    let dir = TestDir::new("reset-mfa");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "dave@example.com", "user");
    let dave = Client::login(&app, "dave@example.com", PASSWORD);
    let (_, enroll) = json(dave.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    let resp = dave.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)}));
    let dave = Client {
        cookie: session_cookie(&resp),
        ..dave
    };
    let (status, _) = json(resp);
    assert_eq!(status, 200);
    let (_, body) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "dave@example.com", "password": PASSWORD}),
    ));
    assert_eq!(body["mfa_required"], true);

    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, users) = json(admin.get("/api/users"));
    let dave_id = users
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "dave@example.com")
        .expect("dave")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, user) = json(admin.post(&format!("/api/users/{dave_id}/reset-mfa"), json!({})));
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["totp_enabled"], false);
    assert_eq!(
        dave.get("/api/me").status(),
        401,
        "reset ends the user's sessions"
    );
    let (_, body) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "dave@example.com", "password": PASSWORD}),
    ));
    assert!(body.get("mfa_required").is_none(), "{body}");
    let (_, me) = json(admin.get("/api/me"));
    let my_id = me["user"]["id"].as_str().expect("id");
    let (status, _) = json(admin.post(&format!("/api/users/{my_id}/reset-mfa"), json!({})));
    assert_eq!(status, 403);
    // Also scriptable.
    dir.cmd()
        .args(["admin", "user", "reset-mfa", "dave@example.com"])
        .assert_exit(0);
}

#[test]
fn api_key_scopes_and_revocation() {
    let dir = TestDir::new("keys");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "erin@example.com", "user");
    let erin = Client::login(&app, "erin@example.com", PASSWORD);
    let (status, dev) = json(erin.post(
        "/api/api-keys",
        json!({"name": "mcp", "scope": "developer"}),
    ));
    assert_eq!(status, 201);
    let (status, ver) =
        json(erin.post("/api/api-keys", json!({"name": "ci", "scope": "verifier"})));
    assert_eq!(
        status, 201,
        "owners of their personal workspace may create verifier keys"
    );
    assert!(ver["key"].as_str().expect("key").starts_with("mv_"));
    let (status, body) = json(erin.post("/api/api-keys", json!({"name": "x", "scope": "admin"})));
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("scope"))
    );

    let dev_client = Client::with_key(&app, dev["key"].as_str().expect("key"));
    let (_, me) = json(dev_client.get("/api/me"));
    assert_eq!(me["auth"], "developer");
    assert_eq!(me["workspace_id"], dev["workspace_id"]);
    // A key cannot mint keys.
    let (status, _) =
        json(dev_client.post("/api/api-keys", json!({"name": "y", "scope": "developer"})));
    assert_eq!(status, 403);
    // Keys are listed without the secret.
    let (_, list) = json(erin.get("/api/api-keys"));
    assert_eq!(list.as_array().expect("list").len(), 2);
    assert!(list[0].get("key").is_none());
    assert!(!list.to_string().contains(dev["key"].as_str().expect("key")));
    // Revoked keys stop at once.
    let id = dev["id"].as_str().expect("id");
    assert_eq!(erin.delete(&format!("/api/api-keys/{id}")).status(), 200);
    let (status, body) = json(dev_client.get("/api/me"));
    assert_eq!(status, 401, "{body}");
    // Another user cannot revoke erin's key: 404, not 403.
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let vid = ver["id"].as_str().expect("id");
    assert_eq!(admin.delete(&format!("/api/api-keys/{vid}")).status(), 404);
    // Scriptable creation prints the key once.
    let out = dir
        .cmd()
        .args([
            "admin",
            "api-key",
            "create",
            "--user",
            "erin@example.com",
            "--scope",
            "verifier",
        ])
        .assert_exit(0);
    let key = stdout(&out).trim().to_string();
    assert!(key.starts_with("mv_"), "{key}");
    assert_eq!(Client::with_key(&app, &key).get("/api/me").status(), 200);
}

#[test]
fn csrf_is_required_for_cookie_state_changes() {
    let dir = TestDir::new("csrf");
    let app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let no_csrf = Client {
        csrf: None,
        ..admin.clone()
    };
    let (status, body) =
        json(no_csrf.post("/api/api-keys", json!({"name": "x", "scope": "developer"})));
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "csrf");
    let wrong = Client {
        csrf: Some("wrong".into()),
        ..admin.clone()
    };
    assert_eq!(
        wrong
            .post("/api/api-keys", json!({"name": "x", "scope": "developer"}))
            .status(),
        403
    );
    // Reads need no token.
    assert_eq!(no_csrf.get("/api/api-keys").status(), 200);
    assert_eq!(
        admin
            .post("/api/api-keys", json!({"name": "x", "scope": "developer"}))
            .status(),
        201
    );
}

#[test]
fn password_change_needs_current_and_ends_other_sessions() {
    let dir = TestDir::new("passwd");
    let app = appliance_without_mfa(&dir);
    let a = Client::login(&app, "admin@example.com", PASSWORD);
    let b = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, body) = json(a.post(
        "/api/me/password",
        json!({"current_password": "Wrong-pass-1", "new_password": "New-Password-2"}),
    ));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "current_password");
    let (status, done) = json(a.post(
        "/api/me/password",
        json!({"current_password": PASSWORD, "new_password": "New-Password-2"}),
    ));
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["sessions_ended"], 1);
    assert_eq!(done["api_keys_revoked"], 0);
    assert_eq!(a.get("/api/me").status(), 200, "the current session stays");
    assert_eq!(b.get("/api/me").status(), 401, "other sessions end");
    Client::login(&app, "admin@example.com", "New-Password-2");
    // Logout ends the session.
    assert_eq!(a.post("/api/auth/logout", json!({})).status(), 204);
    assert_eq!(a.get("/api/me").status(), 401);
}

/// Every identity route × {anonymous, user, admin, superadmin, other user's key}: the status
/// each must get. Object routes use ids that belong to someone else where it matters.
#[test]
fn authorization_matrix() {
    let dir = TestDir::new("authz");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    cli_user(&dir, "adm@example.com", "admin");
    cli_user(&dir, "other@example.com", "user");
    let anon = Client::anonymous(&app);
    let user = Client::login(&app, "user@example.com", PASSWORD);
    let admin = Client::login(&app, "adm@example.com", PASSWORD);
    let superadmin = Client::login(&app, "admin@example.com", PASSWORD);
    let other = Client::login(&app, "other@example.com", PASSWORD);
    let (_, other_key) =
        json(other.post("/api/api-keys", json!({"name": "k", "scope": "developer"})));
    let other_key_id = other_key["id"].as_str().expect("id").to_string();
    let (_, users) = json(superadmin.get("/api/users"));
    let id_of = |email: &str| {
        users
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["email"] == email)
            .expect("user")["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let other_id = id_of("other@example.com");
    let super_id = id_of("admin@example.com");

    type Case<'a> = (&'a str, String, serde_json::Value, [u16; 4]);
    // expected for [anonymous, user, admin, superadmin]
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/me".to_string(),
            json!(null),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/workspaces".to_string(),
            json!(null),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/api-keys".to_string(),
            json!(null),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/mfa".to_string(),
            json!(null),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/me/sessions".to_string(),
            json!(null),
            [401, 200, 200, 200],
        ),
        (
            "GET",
            "/api/users".to_string(),
            json!(null),
            [401, 403, 200, 200],
        ),
        (
            "GET",
            format!("/api/users/{other_id}"),
            json!(null),
            [401, 403, 200, 200],
        ),
        (
            "POST",
            "/api/users".to_string(),
            json!({"email": "n@example.com", "display_name": "N", "password": "Weak"}),
            [401, 403, 400, 400],
        ),
        (
            "POST",
            "/api/users".to_string(),
            json!({"email": "s@example.com", "display_name": "S", "password": PASSWORD, "role": "superadmin"}),
            [401, 403, 403, 201],
        ),
        (
            "PATCH",
            format!("/api/users/{super_id}"),
            json!({"role": "user"}),
            [401, 403, 403, 403],
        ),
        (
            "POST",
            format!("/api/users/{other_id}/reset-mfa"),
            json!({}),
            [401, 403, 200, 200],
        ),
        (
            "DELETE",
            format!("/api/api-keys/{other_key_id}"),
            json!(null),
            [401, 404, 404, 404],
        ),
        (
            "GET",
            "/api/setup".to_string(),
            json!(null),
            [200, 200, 200, 200],
        ),
        (
            "POST",
            "/api/setup".to_string(),
            json!({"email": "z@example.com", "name": "Z", "password": PASSWORD}),
            [409, 409, 409, 409],
        ),
    ];
    for (method, path, body, expected) in &cases {
        for (who, client, want) in [
            ("anonymous", &anon, expected[0]),
            ("user", &user, expected[1]),
            ("admin", &admin, expected[2]),
            ("superadmin", &superadmin, expected[3]),
        ] {
            let resp = match *method {
                "GET" => client.get(path),
                "POST" => client.post(path, body.clone()),
                "PATCH" => client.patch(path, body.clone()),
                "DELETE" => client.delete(path),
                _ => unreachable!(),
            };
            let (status, b) = json(resp);
            assert_eq!(status, want, "{method} {path} as {who}: {b}");
        }
    }
    // The other user's key sees only its own workspace.
    let keyed = Client::with_key(&app, other_key["key"].as_str().expect("key"));
    let (_, ws) = json(keyed.get("/api/workspaces"));
    assert_eq!(ws.as_array().expect("ws").len(), 1);
    let (_, mine) = json(user.get("/api/workspaces"));
    assert_ne!(ws[0]["id"], mine[0]["id"]);
    let ws_other = ws[0]["id"].as_str().expect("id");
    let sneaky = user
        .http
        .get(format!("{}/api/me", app.url))
        .header(
            "Cookie",
            format!("rampart_session={}", user.cookie.clone().expect("cookie")),
        )
        .header("X-Workspace-Id", ws_other)
        .send()
        .expect("get");
    assert_eq!(
        sneaky.status(),
        404,
        "another tenant's workspace is not found"
    );
}

#[test]
fn webauthn_security_key_register_login_rename_remove() {
    use crate::harness::softkey::SoftKey;
    let dir = TestDir::new("webauthn");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir); // MFA required: a security key alone satisfies it
    let origin = app.url.replace("127.0.0.1", "localhost");
    let session = Client::from_signin(
        &app,
        Client::anonymous(&app).post(
            "/api/auth/login",
            json!({"email": "admin@example.com", "password": PASSWORD}),
        ),
    );
    let mut key = SoftKey::new(&origin);
    let (status, body) = json(session.post(
        "/api/mfa/webauthn/register/start",
        json!({"password": "Wrong-Password-1"}),
    ));
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("password"))
    );
    let (status, start) = json(session.post(
        "/api/mfa/webauthn/register/start",
        json!({"password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{start}");
    assert_eq!(start["options"]["publicKey"]["rp"]["id"], "localhost");
    let credential = key.register(&start["options"]);
    let resp = session.post(
        "/api/mfa/webauthn/register/finish",
        json!({"ceremony_token": start["ceremony_token"], "name": "YubiKey 5", "credential": credential}),
    );
    let rotated = session_cookie(&resp);
    let (status, done) = json(resp);
    assert_eq!(status, 201, "{done}");
    assert_eq!(session.get("/api/me").status(), 401, "old cookie is dead");
    let session = Client {
        cookie: rotated,
        csrf: done["csrf_token"].as_str().map(str::to_string),
        ..session
    };
    assert_eq!(done["recovery_codes"].as_array().expect("codes").len(), 10);
    let key_id = done["key"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        session.get("/api/workspaces").status(),
        200,
        "enrollment satisfied"
    );
    // A ceremony token works once.
    let (status, _) = json(session.post(
        "/api/mfa/webauthn/register/finish",
        json!({"ceremony_token": start["ceremony_token"], "name": "again", "credential": key.register(&start["options"])}),
    ));
    assert_eq!(status, 401);

    let (status, renamed) = json(session.patch(
        &format!("/api/mfa/webauthn/{key_id}"),
        json!({"name": "Desk key"}),
    ));
    assert_eq!((status, renamed["name"].clone()), (200, json!("Desk key")));

    // Login: WebAuthn-only users get the webauthn method (plus recovery).
    let (_, login) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    ));
    assert_eq!(login["methods"], json!(["webauthn", "recovery"]));
    let pre = login["pre_auth_token"].clone();
    let (status, challenge) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/webauthn/start",
        json!({"pre_auth_token": pre}),
    ));
    assert_eq!(status, 200, "{challenge}");
    let answer = key.sign_in(&challenge["options"]);
    let resp = Client::anonymous(&app).post(
        "/api/auth/mfa/webauthn/finish",
        json!({"pre_auth_token": pre, "ceremony_token": challenge["ceremony_token"], "credential": answer}),
    );
    let signed_in = Client::from_signin(&app, resp);
    assert_eq!(signed_in.get("/api/workspaces").status(), 200);

    // A forged assertion (another key) is refused.
    let (_, login) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "admin@example.com", "password": PASSWORD}),
    ));
    let pre = login["pre_auth_token"].clone();
    let (_, challenge) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/webauthn/start",
        json!({"pre_auth_token": pre}),
    ));
    let mut impostor = SoftKey::new(&origin);
    let forged = impostor.sign_in(&challenge["options"]);
    let (status, body) = json(Client::anonymous(&app).post(
        "/api/auth/mfa/webauthn/finish",
        json!({"pre_auth_token": pre, "ceremony_token": challenge["ceremony_token"], "credential": forged}),
    ));
    assert_eq!(status, 400, "{body}");

    // The last factor cannot be removed while MFA is required.
    let (status, body) = json(signed_in.post(
        &format!("/api/mfa/webauthn/{key_id}/remove"),
        json!({"password": PASSWORD}),
    ));
    assert_eq!(status, 409, "{body}");
    let (_, mfa) = json(signed_in.get("/api/mfa"));
    assert_eq!(mfa["webauthn_keys"][0]["name"], "Desk key");
}
