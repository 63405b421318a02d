//! `/api/admin/*` over HTTP: backup download and restore upload, signing key, trusted
//! signers, maintenance gate, organizations — and who may call them.

use serde_json::json;

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_user, json, stderr,
};

fn restore_form(
    file: Vec<u8>,
    confirmation: &str,
    password: &str,
) -> reqwest::blocking::multipart::Form {
    reqwest::blocking::multipart::Form::new()
        .text("confirmation", confirmation.to_string())
        .text("password", password.to_string())
        .part(
            "backup_file",
            reqwest::blocking::multipart::Part::bytes(file).file_name("backup.db.gz.signed"),
        )
}

fn post_restore(
    client: &Client,
    form: reqwest::blocking::multipart::Form,
) -> (u16, serde_json::Value) {
    let resp = client
        .http
        .post(format!("{}/api/admin/restore", client.base))
        .header(
            "Cookie",
            format!("rampart_session={}", client.cookie.clone().expect("cookie")),
        )
        .header("X-CSRF-Token", client.csrf.clone().expect("csrf"))
        .multipart(form)
        .send()
        .expect("restore");
    json(resp)
}

#[test]
fn backup_download_and_restore_upload_round_trip() {
    let dir = TestDir::new("admin-api-backup");
    let app = appliance_without_mfa(&dir);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, key) = json(admin.get("/api/admin/signing-key"));
    assert_eq!(status, 200);
    assert_eq!(key["fingerprint"].as_str().expect("fp").len(), 64);

    let resp = admin.get("/api/admin/backup");
    assert_eq!(resp.status(), 200);
    let disposition = resp
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .expect("disposition")
        .to_string();
    assert!(
        disposition.contains("rampart-backup-") && disposition.ends_with(".db.gz.signed\""),
        "{disposition}"
    );
    let backup = resp.bytes().expect("body").to_vec();
    assert!(backup.starts_with(&[0x1f, 0x8b]), "gzip payload first");
    assert!(backup.windows(8).any(|w| w == b"MIPIBAK\x02"));

    // A user created after the backup disappears on restore.
    cli_user(&dir, "late@example.com", "user");
    // Wrong phrase, wrong password, tampered file: refused, nothing changes.
    let (status, body) = post_restore(
        &admin,
        restore_form(backup.clone(), "confirm restore", PASSWORD),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "confirmation_mismatch");
    let (status, body) = post_restore(
        &admin,
        restore_form(backup.clone(), "CONFIRM RESTORE", "Wrong-pass-1"),
    );
    assert_eq!(status, 401, "{body}");
    let mut tampered = backup.clone();
    tampered[20] ^= 0xff;
    let (status, body) = post_restore(&admin, restore_form(tampered, "CONFIRM RESTORE", PASSWORD));
    assert_eq!(status, 400, "{body}");
    Client::login(&app, "late@example.com", PASSWORD);

    let (status, body) = post_restore(&admin, restore_form(backup, "CONFIRM RESTORE", PASSWORD));
    assert_eq!(status, 200, "{body}");
    // The running server serves the restored data: the late user is gone, and sessions
    // (which are never restored) have ended.
    let (status, _) = json(Client::anonymous(&app).post(
        "/api/auth/login",
        json!({"email": "late@example.com", "password": PASSWORD}),
    ));
    assert_eq!(status, 401);
    assert_eq!(admin.get("/api/me").status(), 401);
    Client::login(&app, "admin@example.com", PASSWORD);
}

#[test]
fn trusted_signers_and_roles() {
    let dir = TestDir::new("admin-api-signers");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let user = Client::login(&app, "user@example.com", PASSWORD);
    for path in [
        "/api/admin/backup",
        "/api/admin/signing-key",
        "/api/admin/trusted-signers",
        "/api/admin/maintenance",
    ] {
        assert_eq!(user.get(path).status(), 403, "{path}");
        assert_eq!(Client::anonymous(&app).get(path).status(), 401, "{path}");
    }
    // Organizations: a user sees only the orgs they belong to (none), never the others.
    let (status, orgs) = json(user.get("/api/organizations"));
    assert_eq!((status, orgs), (200, json!([])));
    assert_eq!(
        user.post("/api/organizations", json!({"name": "Mine"}))
            .status(),
        403
    );
    assert_eq!(
        Client::anonymous(&app).get("/api/organizations").status(),
        401
    );
    // Another instance's key can be trusted; our own key and junk cannot.
    let other = TestDir::new("admin-api-signers-other");
    let out = other
        .cmd()
        .args(["admin", "signing-key", "--json"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let other_key: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pem = other_key["public_key_pem"].as_str().expect("pem");
    let (status, added) = json(admin.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": pem, "label": "old box"}),
    ));
    assert_eq!(status, 201, "{added}");
    let (status, _) = json(admin.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": pem, "label": "again"}),
    ));
    assert_eq!(status, 409);
    let (_, ours) = json(admin.get("/api/admin/signing-key"));
    let (status, _) = json(admin.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": ours["public_key_pem"], "label": "self"}),
    ));
    assert!(
        status == 400 || status == 409,
        "own key must be refused, got {status}"
    );
    let (status, _) = json(admin.post(
        "/api/admin/trusted-signers",
        json!({"public_key_pem": "not a key", "label": "junk"}),
    ));
    assert_eq!(status, 400);
    let (_, list) = json(admin.get("/api/admin/trusted-signers"));
    assert_eq!(list.as_array().expect("list").len(), 1);
    let fp = added["fingerprint"].as_str().expect("fp");
    assert_eq!(
        admin
            .delete(&format!("/api/admin/trusted-signers/{fp}"))
            .status(),
        204
    );
}

#[test]
fn maintenance_gate_blocks_everyone_but_superadmins() {
    let dir = TestDir::new("admin-api-maint");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "user@example.com", "user");
    let superadmin = Client::login(&app, "admin@example.com", PASSWORD);
    let user = Client::login(&app, "user@example.com", PASSWORD);
    assert_eq!(user.get("/api/workspaces").status(), 200);
    let (status, s) = json(superadmin.post(
        "/api/admin/maintenance/enable",
        json!({"reason": "LLM quota exhausted"}),
    ));
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["active"], true);
    let (status, body) = json(user.get("/api/workspaces"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "maintenance");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("LLM quota exhausted")
    );
    assert_eq!(
        superadmin.get("/api/workspaces").status(),
        200,
        "superadmins pass"
    );
    assert_eq!(Client::anonymous(&app).get("/health").status(), 200);
    let (_, state) = json(superadmin.get("/api/admin/maintenance"));
    assert_eq!(state["active"], true);
    assert!(state["tripped_at"].is_string());
    // The CLI on the box sees and clears the same state.
    let out = dir
        .cmd()
        .args(["admin", "maintenance", "status", "--json"])
        .output();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"active\":true"));
    dir.cmd()
        .args(["admin", "maintenance", "clear"])
        .assert_exit(0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(user.get("/api/workspaces").status(), 200);
}

#[test]
fn organizations_create_and_crypto_shred() {
    let dir = TestDir::new("admin-api-orgs");
    crate::harness::cli_setup(&dir, "admin@example.com");
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env("ORG_DB_ISOLATION", "true"),
    );
    let superadmin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, org) = json(superadmin.post("/api/organizations", json!({"name": "Acme Corp"})));
    assert_eq!(status, 201, "{org}");
    assert_eq!(org["slug"], "acme-corp");
    let id = org["id"].as_str().expect("id");
    let (status, body) =
        json(superadmin.delete(&format!("/api/organizations/{id}/data?confirm=wrong")));
    assert_eq!(status, 400, "{body}");
    let (status, body) =
        json(superadmin.delete(&format!("/api/organizations/{id}/data?confirm=acme-corp")));
    assert_eq!(status, 200, "{body}");
    let (_, list) = json(superadmin.get("/api/organizations"));
    assert!(list[0]["shredded_at"].is_string(), "{list}");
    assert!(
        !dir.data_dir()
            .join("orgs")
            .join(format!("{id}.db"))
            .exists(),
        "org database destroyed"
    );
}
