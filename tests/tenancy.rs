//! Teams and tenancy against the real binary: a workspace shared by owner, member and viewer
//! over REST, MCP and pages; invitations by email (a real SMTP server) and by copied link;
//! license and org limits; org isolation that really holds the data; crypto-shred; and the
//! move of existing org data into per-org databases.

use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};

use crate::harness::smtp::Smtp;
use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, cli_setup, cli_user, json, stderr, stdout, text,
};

/// A workspace-bound API key made with the admin CLI.
pub fn key_for(dir: &TestDir, email: &str, scope: &str, workspace: &str) -> String {
    let out = dir
        .cmd()
        .args([
            "admin",
            "api-key",
            "create",
            "--user",
            email,
            "--scope",
            scope,
            "--workspace",
            workspace,
        ])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .next()
        .expect("key line")
        .trim()
        .to_string()
}

/// Generates a model with the given title through `client` (waits for it).
pub fn model(client: &Client, title: &str) -> String {
    let (status, body) = json(client.post(
        "/api/models?wait=true",
        json!({"feature_description": format!("{title}: a REST API that accepts file uploads from authenticated users, stores them in S3 and serves them via pre-signed URLs.")}),
    ));
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let (status, body) = json(client.patch(&format!("/api/models/{id}"), json!({"title": title})));
    assert_eq!(status, 200, "{body}");
    id
}

/// Creates a team workspace as `owner` and adds the others with their roles.
pub fn team(owner: &Client, name: &str, org: Option<&str>, members: &[(&str, &str)]) -> String {
    let mut body = json!({"name": name});
    if let Some(o) = org {
        body["organization_id"] = json!(o);
    }
    let (status, ws) = json(owner.post("/api/workspaces", body));
    assert_eq!(status, 201, "{ws}");
    assert_eq!(ws["role"], "owner");
    let id = ws["id"].as_str().expect("id").to_string();
    for (email, role) in members {
        let (status, m) = json(owner.post(
            &format!("/api/workspaces/{id}/members"),
            json!({"email": email, "role": role}),
        ));
        assert_eq!(status, 201, "{m}");
        assert_eq!(m["role"], *role);
    }
    id
}

pub fn appliance(dir: &TestDir, extra: &[(&str, &str)]) -> Appliance {
    cli_setup(dir, "admin@example.com");
    let mut cmd = dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false");
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    Appliance::start_with(dir, cmd)
}

#[test]
fn shared_workspace_owner_member_viewer_over_rest_and_pages() {
    let dir = TestDir::new("tenancy-shared");
    let app = appliance(&dir, &[]);
    for u in [
        "owner@example.com",
        "member@example.com",
        "viewer@example.com",
        "out@example.com",
    ] {
        cli_user(&dir, u, "user");
    }
    let owner = Client::login(&app, "owner@example.com", PASSWORD);
    let ws = team(
        &owner,
        "Payments",
        None,
        &[
            ("member@example.com", "member"),
            ("viewer@example.com", "viewer"),
        ],
    );
    // Session requests choose the workspace with X-Workspace-Id.
    let owner_ws = owner.in_workspace(&ws);
    let id = model(&owner_ws, "Ledger service zq41");
    // The owner's personal workspace does not see it.
    let (_, personal) = json(owner.get("/api/models"));
    assert!(!personal.to_string().contains("zq41"), "{personal}");

    let member = Client::login(&app, "member@example.com", PASSWORD).in_workspace(&ws);
    let viewer = Client::login(&app, "viewer@example.com", PASSWORD).in_workspace(&ws);
    for c in [&member, &viewer] {
        let (status, list) = json(c.get("/api/models"));
        assert_eq!(status, 200);
        assert!(list.to_string().contains("zq41"), "{list}");
        assert_eq!(c.get(&format!("/api/models/{id}")).status(), 200);
        assert_eq!(c.get(&format!("/api/models/{id}/controls")).status(), 200);
    }
    // The member edits; the viewer is refused every write and nothing changes.
    let (status, body) = json(member.patch(
        &format!("/api/models/{id}"),
        json!({"title": "Ledger service zq41 v2"}),
    ));
    assert_eq!(status, 200, "{body}");
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/models/{id}"),
            json!({"title": "hijacked"}),
        ),
        ("DELETE", format!("/api/models/{id}"), Value::Null),
        (
            "POST",
            "/api/models?wait=true".to_string(),
            json!({"feature_description": "A payments API with card tokenization and refunds."}),
        ),
        (
            "POST",
            format!("/api/models/{id}/assertions"),
            json!({"control_id": "CTRL-01", "assertions": [{"type": "function_exists", "params": {"file": "a.py", "name": "f"}, "description": "x"}]}),
        ),
        (
            "POST",
            format!("/api/models/{id}/findings"),
            json!({"findings": [{"title": "t", "description": "d", "severity": "low"}]}),
        ),
        (
            "POST",
            format!("/api/models/{id}/conversation"),
            json!({"message": "Add a database admin attacker"}),
        ),
        (
            "PATCH",
            format!("/api/models/{id}/badge"),
            json!({"enabled": true}),
        ),
    ] {
        let b = (!body.is_null()).then_some(&body);
        let (status, out) = json(viewer.send(method, &path, b));
        assert_eq!(status, 403, "viewer {method} {path}: {out}");
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("viewer"),
            "{out}"
        );
    }
    let (_, got) = json(owner_ws.get(&format!("/api/models/{id}")));
    assert_eq!(got["title"], "Ledger service zq41 v2");

    // Viewers and members do not manage the workspace.
    for c in [&member, &viewer] {
        let (status, _) = json(c.post(
            &format!("/api/workspaces/{ws}/members"),
            json!({"email": "out@example.com", "role": "viewer"}),
        ));
        assert_eq!(status, 403);
        assert_eq!(
            c.post(
                &format!("/api/workspaces/{ws}/invitations"),
                json!({"email": "x@example.com", "role": "member"})
            )
            .status(),
            403
        );
    }
    // Members can list members; the outsider cannot even see the workspace.
    let (status, members) = json(member.get(&format!("/api/workspaces/{ws}/members")));
    assert_eq!(status, 200);
    assert_eq!(members.as_array().expect("members").len(), 3);
    let out = Client::login(&app, "out@example.com", PASSWORD);
    assert_eq!(out.get(&format!("/api/workspaces/{ws}")).status(), 404);
    assert_eq!(out.in_workspace(&ws).get("/api/models").status(), 404);
    assert_eq!(out.get(&format!("/api/models/{id}")).status(), 404);

    // API keys are bound to one workspace and carry the user's role there.
    let vkey = key_for(&dir, "viewer@example.com", "developer", &ws);
    let vk = Client::with_key(&app, &vkey);
    assert_eq!(vk.get(&format!("/api/models/{id}")).status(), 200);
    assert_eq!(
        vk.patch(&format!("/api/models/{id}"), json!({"title": "x"}))
            .status(),
        403
    );
    // Naming another workspace with a key is not a switch.
    assert_eq!(
        vk.in_workspace("00000000-0000-4000-8000-000000000000")
            .get("/api/models")
            .status(),
        404
    );
    // A verifier key needs owner or admin.
    let out = dir
        .cmd()
        .args([
            "admin",
            "api-key",
            "create",
            "--user",
            "member@example.com",
            "--scope",
            "verifier",
            "--workspace",
            &ws,
        ])
        .output();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("owner or admin"), "{}", stderr(&out));

    // Promote the viewer; the key follows the role at once. Remove them: the key dies.
    let viewer_id = members
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == "viewer@example.com")
        .and_then(|m| m["user_id"].as_str())
        .expect("viewer id")
        .to_string();
    let (status, m) = json(owner.patch(
        &format!("/api/workspaces/{ws}/members/{viewer_id}"),
        json!({"role": "member"}),
    ));
    assert_eq!((status, m["role"].clone()), (200, json!("member")));
    assert_eq!(
        vk.patch(
            &format!("/api/models/{id}"),
            json!({"title": "Ledger service zq41 v3"})
        )
        .status(),
        200
    );
    assert_eq!(
        owner
            .delete(&format!("/api/workspaces/{ws}/members/{viewer_id}"))
            .status(),
        204
    );
    assert_eq!(vk.get("/api/models").status(), 401);

    // The last owner can neither leave nor be demoted.
    let (_, me) = json(owner.get("/api/me"));
    let owner_id = me["user"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        owner
            .delete(&format!("/api/workspaces/{ws}/members/{owner_id}"))
            .status(),
        409
    );
    assert_eq!(
        owner
            .patch(
                &format!("/api/workspaces/{ws}/members/{owner_id}"),
                json!({"role": "admin"})
            )
            .status(),
        409
    );
    // Bad input changes nothing.
    assert_eq!(
        owner
            .patch(
                &format!("/api/workspaces/{ws}/members/{owner_id}"),
                json!({"role": "god"})
            )
            .status(),
        400
    );
    assert_eq!(
        owner.post("/api/workspaces", json!({"name": ""})).status(),
        400
    );
    assert_eq!(
        owner.post("/api/workspaces", json!({"nom": "x"})).status(),
        400
    );

    // Pages: the member switches to the workspace and sees the model; the list is scoped.
    let page_member = Client::login(&app, "member@example.com", PASSWORD);
    let resp = page_member
        .http
        .post(app.url("/workspace/switch"))
        .header(
            "Cookie",
            format!(
                "rampart_session={}",
                page_member.cookie.clone().expect("cookie")
            ),
        )
        .form(&[
            ("csrf_token", page_member.csrf.clone().expect("csrf")),
            ("workspace_id", ws.clone()),
        ])
        .send()
        .expect("switch");
    assert_eq!(resp.status(), 303);
    let ws_cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("rampart_workspace="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .expect("workspace cookie");
    assert_eq!(ws_cookie, ws);
    let html = text(
        page_member
            .http
            .get(app.url("/models"))
            .header(
                "Cookie",
                format!(
                    "rampart_session={}; rampart_workspace={ws}",
                    page_member.cookie.clone().expect("cookie")
                ),
            )
            .send()
            .expect("models page"),
    );
    assert!(html.contains("zq41"), "models page of the team workspace");
    assert!(html.contains("id=\"workspace-switcher\""));
    let members_page = text(
        page_member
            .http
            .get(app.url("/settings/workspace"))
            .header(
                "Cookie",
                format!(
                    "rampart_session={}; rampart_workspace={ws}",
                    page_member.cookie.clone().expect("cookie")
                ),
            )
            .send()
            .expect("workspace page"),
    );
    assert!(members_page.contains("owner@example.com") && members_page.contains("Payments"));
    assert!(
        !members_page.contains("id=\"invite-form\""),
        "members do not see the invite form"
    );
    // The outsider cannot switch to it.
    let out_page = Client::login(&app, "out@example.com", PASSWORD);
    let resp = out_page
        .http
        .post(app.url("/workspace/switch"))
        .header(
            "Cookie",
            format!(
                "rampart_session={}",
                out_page.cookie.clone().expect("cookie")
            ),
        )
        .form(&[
            ("csrf_token", out_page.csrf.clone().expect("csrf")),
            ("workspace_id", ws.clone()),
        ])
        .send()
        .expect("switch");
    assert_eq!(resp.status(), 404);

    // Deleting needs the owner; it takes the data with it.
    assert_eq!(
        member.delete(&format!("/api/workspaces/{ws}")).status(),
        403
    );
    assert_eq!(owner.delete(&format!("/api/workspaces/{ws}")).status(), 204);
    assert_eq!(owner_ws.get(&format!("/api/models/{id}")).status(), 404);
    let (_, list) = json(member.get("/api/workspaces"));
    assert!(!list.to_string().contains("Payments"), "{list}");
}

fn invite_token(url: &str) -> String {
    url.rsplit('/').next().expect("token").to_string()
}

#[test]
fn invitations_by_email_and_by_copied_link() {
    let dir = TestDir::new("tenancy-invite");
    let smtp = Smtp::start(&dir);
    let port = smtp.port.to_string();
    let app = appliance(
        &dir,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &port),
            ("SMTP_USE_TLS", "false"),
            ("SMTP_FROM_ADDRESS", "rampart@example.com"),
        ],
    );
    cli_user(&dir, "lead@example.com", "user");
    cli_user(&dir, "known@example.com", "user");
    cli_user(&dir, "other@example.com", "user");
    let lead = Client::login(&app, "lead@example.com", PASSWORD);
    let ws = team(&lead, "Identity", None, &[]);

    // By email, to someone without an account.
    let (status, inv) = json(lead.post(
        &format!("/api/workspaces/{ws}/invitations"),
        json!({"email": "new.person@example.com", "role": "member"}),
    ));
    assert_eq!(status, 201, "{inv}");
    assert_eq!(inv["emailed"], true, "{inv}");
    let url = inv["invite_url"].as_str().expect("url").to_string();
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(mail.contains("X-RcptTo: new.person@example.com"), "{mail}");
    assert!(
        mail.contains(&url),
        "the emailed link is the one shown: {mail}"
    );
    let token = invite_token(&url);
    // Only the hash is stored.
    let (_, list) = json(lead.get(&format!("/api/workspaces/{ws}/invitations")));
    assert!(!list.to_string().contains(&token), "{list}");
    assert_eq!(list[0]["status"], "pending");

    let anon = Client::anonymous(&app);
    let (status, view) = json(anon.get(&format!("/api/invitations/{token}")));
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["account_exists"], false);
    assert_eq!(view["workspace_name"], "Identity");
    // Password policy applies; a weak password creates nothing.
    let (status, body) = json(anon.post(
        &format!("/api/invitations/{token}/accept"),
        json!({"display_name": "New Person", "password": "weak"}),
    ));
    assert_eq!(status, 400, "{body}");
    let (status, body) = json(anon.post(
        &format!("/api/invitations/{token}/accept"),
        json!({"display_name": "New Person", "password": PASSWORD}),
    ));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["workspace_id"], ws);
    let newbie = Client::login(&app, "new.person@example.com", PASSWORD);
    let (_, list) = json(newbie.get("/api/workspaces"));
    let team_ws = list
        .as_array()
        .expect("list")
        .iter()
        .find(|w| w["id"] == ws)
        .expect("joined");
    assert_eq!(team_ws["role"], "member");
    // Single use.
    assert_eq!(anon.get(&format!("/api/invitations/{token}")).status(), 404);
    assert_eq!(
        anon.post(
            &format!("/api/invitations/{token}/accept"),
            json!({"display_name": "Again", "password": PASSWORD})
        )
        .status(),
        404
    );

    // By copied link, to someone with an account: only that account can use it.
    let (status, inv) = json(lead.post(
        &format!("/api/workspaces/{ws}/invitations"),
        json!({"email": "known@example.com", "role": "viewer"}),
    ));
    assert_eq!(status, 201, "{inv}");
    let token = invite_token(inv["invite_url"].as_str().expect("url"));
    let (_, view) = json(anon.get(&format!("/api/invitations/{token}")));
    assert_eq!(view["account_exists"], true);
    assert_eq!(
        anon.post(&format!("/api/invitations/{token}/accept"), json!({}))
            .status(),
        401
    );
    let other = Client::login(&app, "other@example.com", PASSWORD);
    assert_eq!(
        other
            .post(&format!("/api/invitations/{token}/accept"), json!({}))
            .status(),
        403
    );
    let known = Client::login(&app, "known@example.com", PASSWORD);
    let (status, body) = json(known.post(&format!("/api/invitations/{token}/accept"), json!({})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workspace"]["role"], "viewer");

    // Revoked links stop working; the accept page says so.
    let (_, inv) = json(lead.post(
        &format!("/api/workspaces/{ws}/invitations"),
        json!({"email": "late@example.com", "role": "member"}),
    ));
    let inv_id = inv["id"].as_str().expect("id").to_string();
    let token = invite_token(inv["invite_url"].as_str().expect("url"));
    let resp = anon
        .http
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .expect("page");
    assert_eq!(resp.status(), 200);
    assert!(text(resp).contains("Create account and join"));
    assert_eq!(
        lead.delete(&format!("/api/workspaces/{ws}/invitations/{inv_id}"))
            .status(),
        200
    );
    assert_eq!(anon.get(&format!("/api/invitations/{token}")).status(), 404);
    let resp = anon
        .http
        .get(app.url(&format!("/invite/{token}")))
        .send()
        .expect("page");
    assert_eq!(resp.status(), 404);
    // Bad input: not an email, unknown role.
    assert_eq!(
        lead.post(
            &format!("/api/workspaces/{ws}/invitations"),
            json!({"email": "nope", "role": "member"})
        )
        .status(),
        400
    );
    assert_eq!(
        lead.post(
            &format!("/api/workspaces/{ws}/invitations"),
            json!({"email": "a@example.com", "role": "root"})
        )
        .status(),
        400
    );
    // API keys never invite.
    let key = key_for(&dir, "lead@example.com", "developer", &ws);
    assert_eq!(
        Client::with_key(&app, &key)
            .post(
                &format!("/api/workspaces/{ws}/invitations"),
                json!({"email": "a@example.com", "role": "member"})
            )
            .status(),
        403
    );
    assert_eq!(smtp.messages().len(), 3, "one email per invitation");
}

#[test]
fn license_and_org_limits_on_every_create_path() {
    let dir = TestDir::new("tenancy-limits");
    let app = appliance(&dir, &[]);
    for u in ["a@example.com", "b@example.com", "c@example.com"] {
        cli_user(&dir, u, "user");
    }
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, org) = json(admin.post("/api/organizations", json!({"name": "Acme"})));
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().expect("id").to_string();
    // Without a license, one organization.
    let (status, body) = json(admin.post("/api/organizations", json!({"name": "Second"})));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("organization limit")
    );

    // Org limits are superadmin-only and enforced on workspace creation and membership.
    let (status, org) = json(admin.patch(
        &format!("/api/organizations/{org_id}"),
        json!({"max_workspaces": 1, "max_members": 2}),
    ));
    assert_eq!(status, 200, "{org}");
    assert_eq!(
        (org["max_workspaces"].clone(), org["max_members"].clone()),
        (json!(1), json!(2))
    );
    let (status, _) = json(admin.post(
        &format!("/api/organizations/{org_id}/members"),
        json!({"email": "a@example.com", "role": "org_admin"}),
    ));
    assert_eq!(status, 201);
    let a = Client::login(&app, "a@example.com", PASSWORD);
    // An org admin may rename but not raise limits.
    assert_eq!(
        a.patch(
            &format!("/api/organizations/{org_id}"),
            json!({"max_workspaces": 50})
        )
        .status(),
        403
    );
    assert_eq!(
        a.patch(
            &format!("/api/organizations/{org_id}"),
            json!({"description": "Our org"})
        )
        .status(),
        200
    );
    let ws = team(&a, "First", Some(&org_id), &[("b@example.com", "member")]);
    let (status, body) = json(a.post(
        "/api/workspaces",
        json!({"name": "Second", "organization_id": org_id}),
    ));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("max_workspaces = 1"),
        "{body}"
    );
    // Two members (a, b); a third is refused, whether added or invited.
    let (status, body) = json(a.post(
        &format!("/api/workspaces/{ws}/members"),
        json!({"email": "c@example.com", "role": "member"}),
    ));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("max_members = 2")
    );
    let (status, _) = json(a.post(
        &format!("/api/workspaces/{ws}/invitations"),
        json!({"email": "c@example.com", "role": "member"}),
    ));
    assert_eq!(status, 403);
    // 0 removes the limit.
    assert_eq!(
        admin
            .patch(
                &format!("/api/organizations/{org_id}"),
                json!({"max_members": 0})
            )
            .status(),
        200
    );
    assert_eq!(
        a.post(
            &format!("/api/workspaces/{ws}/members"),
            json!({"email": "c@example.com", "role": "viewer"})
        )
        .status(),
        201
    );

    // The license's max_workspaces (10 without a license) counts team workspaces.
    let b = Client::login(&app, "b@example.com", PASSWORD);
    let mut made = 1;
    loop {
        let (status, body) = json(b.post("/api/workspaces", json!({"name": format!("T{made}")})));
        if status == 403 {
            assert!(
                body["error"]["message"]
                    .as_str()
                    .expect("msg")
                    .contains("workspace limit reached"),
                "{body}"
            );
            break;
        }
        assert_eq!(status, 201, "{body}");
        made += 1;
        assert!(
            made <= 10,
            "the evaluation limit of 10 team workspaces was not enforced"
        );
    }
    assert_eq!(made, 10);
    // Personal workspaces do not count: accounts can still be created.
    cli_user(&dir, "d@example.com", "user");
}

/// Every plaintext byte of the platform database: a signed backup's gzip payload is the
/// decrypted SQLite image (free pages included).
fn decrypted_platform(dir: &TestDir) -> String {
    let out_file = dir.path().join(format!(
        "p-{}.db.gz.signed",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_nanos()
    ));
    let out = dir
        .cmd()
        .args(["admin", "backup", "--out"])
        .arg_path(&out_file)
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    gunzip_backup(&out_file)
}

fn decrypted_org(dir: &TestDir, slug: &str) -> String {
    let out_file = dir.path().join(format!("org-{slug}.db.gz.signed"));
    let _ = std::fs::remove_file(&out_file);
    let out = dir
        .cmd()
        .args(["admin", "backup", "--org", slug, "--out"])
        .arg_path(&out_file)
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    gunzip_backup(&out_file)
}

fn gunzip_backup(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("backup");
    let magic = b"MIPIBAK\x02";
    let at = bytes
        .windows(magic.len())
        .rposition(|w| w == magic)
        .expect("trailer");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..at])
        .read_to_end(&mut plain)
        .expect("gunzip");
    String::from_utf8_lossy(&plain).into_owned()
}

/// An appliance whose license allows two organizations (for "the other org is intact").
pub fn licensed(dir: &TestDir, extra: &[(&str, &str)]) -> Appliance {
    use jwt_simple::prelude::*;
    let kp = ES256KeyPair::generate();
    let pem = kp.public_key().to_pem().expect("pem");
    let claims = Claims::with_custom_claims(
        json!({"max_workspaces": 20, "max_orgs": 2}),
        jwt_simple::prelude::Duration::from_days(30),
    )
    .with_subject("Tenancy tests");
    let lic = dir.write("license.jwt", &kp.sign(claims).expect("sign"));
    let out = dir
        .cmd()
        .env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem)
        .args(["admin", "license", "install"])
        .arg_path(&lic)
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    // Kept for tests that restart the appliance (the license verifies against this key).
    dir.write("license-public.pem", &pem);
    let mut all: Vec<(&str, &str)> = extra.to_vec();
    all.push(("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem));
    appliance(dir, &all)
}

#[test]
fn isolation_holds_the_data_and_shred_erases_it() {
    let dir = TestDir::new("tenancy-iso");
    let app = licensed(&dir, &[("ORG_DB_ISOLATION", "true")]);
    cli_user(&dir, "sec@example.com", "user");
    cli_user(&dir, "other@example.com", "user");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let mut orgs = Vec::new();
    for (name, email) in [("Acme", "sec@example.com"), ("Other", "other@example.com")] {
        let (status, org) = json(admin.post("/api/organizations", json!({"name": name})));
        assert_eq!(status, 201, "{org}");
        assert_eq!(org["isolated"], true, "{org}");
        let org_id = org["id"].as_str().expect("id").to_string();
        let (status, _) = json(admin.post(
            &format!("/api/organizations/{org_id}/members"),
            json!({"email": email, "role": "member"}),
        ));
        assert_eq!(status, 201);
        orgs.push(org_id);
    }
    let sec = Client::login(&app, "sec@example.com", PASSWORD);
    let ws = team(&sec, "Acme security", Some(&orgs[0]), &[]);
    let k = Client::with_key(&app, &key_for(&dir, "sec@example.com", "developer", &ws));
    let id = model(&k, "Quantum vault xq7f2 unique");
    let personal = model(&sec, "Personal notes kp93");
    let (status, f) = json(k.post(
        &format!("/api/models/{id}/findings"),
        json!({"findings": [{"title": "Finding fz88 unique", "description": "d", "severity": "low"}]}),
    ));
    assert_eq!(status, 201, "{f}");
    let other = Client::login(&app, "other@example.com", PASSWORD);
    let other_ws = team(&other, "Other apps", Some(&orgs[1]), &[]);
    let ok = Client::with_key(
        &app,
        &key_for(&dir, "other@example.com", "developer", &other_ws),
    );
    let other_model = model(&ok, "Other org model ob61");

    let platform = decrypted_platform(&dir);
    assert!(
        !platform.contains("xq7f2"),
        "an org model title leaked into platform.db"
    );
    assert!(
        !platform.contains("fz88"),
        "an org finding leaked into platform.db"
    );
    assert!(
        !platform.contains("ob61"),
        "an org model title leaked into platform.db"
    );
    assert!(
        platform.contains("kp93"),
        "personal workspaces stay in platform.db"
    );
    let acme = decrypted_org(&dir, "acme");
    assert!(acme.contains("xq7f2") && acme.contains("fz88"));
    assert!(
        !acme.contains("kp93"),
        "personal data never goes into an org backup"
    );
    assert!(
        !acme.contains("ob61"),
        "another org's data never goes into this org's backup"
    );
    let org_file = dir.data_dir().join("orgs").join(format!("{}.db", orgs[0]));
    let raw = std::fs::read(&org_file).expect("org db");
    assert!(!raw.starts_with(b"SQLite format 3"));
    assert!(!String::from_utf8_lossy(&raw).contains("xq7f2"));

    // Shred: only a superadmin (org members see their org but get 403; others 404), only
    // with the slug typed again.
    assert_eq!(
        sec.delete(&format!("/api/organizations/{}/data?confirm=acme", orgs[0]))
            .status(),
        403
    );
    assert_eq!(
        other
            .delete(&format!("/api/organizations/{}/data?confirm=acme", orgs[0]))
            .status(),
        404
    );
    assert_eq!(
        admin
            .delete(&format!("/api/organizations/{}/data?confirm=acm", orgs[0]))
            .status(),
        400
    );
    let (status, body) =
        json(admin.delete(&format!("/api/organizations/{}/data?confirm=acme", orgs[0])));
    assert_eq!(status, 200, "{body}");
    assert!(!org_file.exists());
    // The org's workspaces answer 410 everywhere; other data keeps working.
    let (status, body) = json(k.get(&format!("/api/models/{id}")));
    assert_eq!(status, 410, "{body}");
    assert_eq!(sec.in_workspace(&ws).get("/api/models").status(), 410);
    let (status, list) = json(sec.get("/api/models"));
    assert_eq!(status, 200);
    assert!(list.to_string().contains(&personal));
    let (status, got) = json(ok.get(&format!("/api/models/{other_model}")));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["title"], "Other org model ob61");
    assert!(decrypted_org(&dir, "other").contains("ob61"));
    // Nothing of the shredded org is readable: not in platform.db, and its key is gone.
    let platform = decrypted_platform(&dir);
    assert!(!platform.contains("xq7f2") && !platform.contains("fz88"));
    let out = dir
        .cmd()
        .args(["admin", "backup", "--org", "acme", "--out"])
        .arg_path(&dir.path().join("x.signed"))
        .output();
    assert!(!out.status.success(), "a shredded org cannot be backed up");
    assert!(stderr(&out).contains("crypto-shredded"), "{}", stderr(&out));
    // The audit log says who shredded what.
    let (_, events) = json(admin.get("/api/admin/events"));
    let shred = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e.to_string().contains("org_shred"))
        .unwrap_or_else(|| panic!("no shred event: {events}"));
    assert!(shred.to_string().contains("acme"), "{shred}");
}

#[test]
fn switching_isolation_on_moves_existing_org_data() {
    let dir = TestDir::new("tenancy-migrate");
    let mut app = appliance(&dir, &[]);
    cli_user(&dir, "sec@example.com", "user");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, org) = json(admin.post("/api/organizations", json!({"name": "Beta"})));
    let org_id = org["id"].as_str().expect("id").to_string();
    assert_eq!(org["isolated"], false);
    json(admin.post(
        &format!("/api/organizations/{org_id}/members"),
        json!({"email": "sec@example.com", "role": "member"}),
    ));
    let sec = Client::login(&app, "sec@example.com", PASSWORD);
    let ws = team(&sec, "Beta apps", Some(&org_id), &[]);
    let key = key_for(&dir, "sec@example.com", "developer", &ws);
    let id = model(&Client::with_key(&app, &key), "Migrating model mq55");
    assert!(decrypted_platform(&dir).contains("mq55"));
    // Without isolation, shred is refused (there is no separate key to destroy).
    assert_eq!(
        admin
            .delete(&format!("/api/organizations/{org_id}/data?confirm=beta"))
            .status(),
        409
    );
    app.stop();

    // Restart with isolation on: the start moves the data.
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("MFA_REQUIRED_FOR_LOCAL", "false")
            .env("ORG_DB_ISOLATION", "true"),
    );
    assert!(
        app.log().contains("organization data isolated"),
        "{}",
        app.log()
    );
    let (status, got) = json(Client::with_key(&app, &key).get(&format!("/api/models/{id}")));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["title"], "Migrating model mq55");
    assert!(
        !decrypted_platform(&dir).contains("mq55"),
        "moved out of platform.db"
    );
    assert!(decrypted_org(&dir, "beta").contains("mq55"));
    // Idempotent: the CLI reports nothing left to move.
    let out = dir.cmd().args(["admin", "org", "list", "--json"]).output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("\"isolated\": true") || stdout(&out).contains("\"isolated\":true")
    );
}

#[test]
fn admin_cli_follows_the_servers_isolation_setting() {
    let dir = TestDir::new("tenancy-cli-iso");
    let app = appliance(&dir, &[("ORG_DB_ISOLATION", "true")]);
    // The CLI runs without ORG_DB_ISOLATION in its environment, as an operator's shell would.
    let out = dir
        .cmd()
        .args(["admin", "--json", "org", "create", "--name", "Cli Org"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let org: Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(org["isolated"], true, "{org}");
    let out = dir.cmd().args(["admin", "org", "list"]).output();
    assert!(stdout(&out).contains("cli-org"), "{}", stdout(&out));
    drop(app);
}

/// Keyed requests reuse the key's resolved caller and its `/api/me` while the platform
/// database is unchanged (issue 18). Every kind of change must still show on the very next
/// request, whether this server made it or `rampart admin` did from another process.
#[test]
fn remembered_keys_follow_every_change_at_once() {
    let dir = TestDir::new("key-memo");
    let app = appliance(&dir, &[]);
    cli_user(&dir, "owner@example.com", "user");
    cli_user(&dir, "dev@example.com", "user");
    let owner = Client::login(&app, "owner@example.com", PASSWORD);
    let ws = team(&owner, "Memo team", None, &[("dev@example.com", "member")]);
    let key = key_for(&dir, "dev@example.com", "developer", &ws);
    let dev = Client::with_key(&app, &key);
    let role_seen = |c: &Client| {
        let (status, me) = json(c.get("/api/me"));
        assert_eq!(status, 200, "{me}");
        me["workspaces"]
            .as_array()
            .expect("workspaces")
            .iter()
            .find(|w| w["id"] == ws.as_str())
            .map(|w| w["role"].clone())
            .expect("team listed")
    };
    // Warm: the first request records the key's use (a commit), the next ones are reused.
    for _ in 0..3 {
        assert_eq!(role_seen(&dev), json!("member"));
    }
    let (_, members) = json(owner.get(&format!("/api/workspaces/{ws}/members")));
    let dev_id = members
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["email"] == "dev@example.com")
        .and_then(|m| m["user_id"].as_str())
        .expect("dev id")
        .to_string();

    // A role change by this server.
    let (status, _) = json(owner.patch(
        &format!("/api/workspaces/{ws}/members/{dev_id}"),
        json!({"role": "viewer"}),
    ));
    assert_eq!(status, 200);
    assert_eq!(role_seen(&dev), json!("viewer"));
    assert_eq!(role_seen(&dev), json!("viewer"));

    // An account disabled by `rampart admin` in another process, then enabled again.
    dir.cmd()
        .args(["admin", "user", "disable", "dev@example.com"])
        .assert_exit(0);
    assert_eq!(dev.get("/api/me").status(), 401);
    assert_eq!(dev.get("/api/workspaces").status(), 401);
    dir.cmd()
        .args(["admin", "user", "enable", "dev@example.com"])
        .assert_exit(0);
    assert_eq!(role_seen(&dev), json!("viewer"));
    assert_eq!(dev.get("/api/workspaces").status(), 200);

    // A key revoked by its owner.
    let personal = Client::with_key(
        &app,
        &key_for(&dir, "owner@example.com", "developer", &personal_of(&owner)),
    );
    for _ in 0..3 {
        assert_eq!(personal.get("/api/workspaces").status(), 200);
    }
    let (_, keys) = json(owner.get("/api/api-keys"));
    for k in keys.as_array().expect("keys") {
        let id = k["id"].as_str().expect("id");
        assert_eq!(owner.delete(&format!("/api/api-keys/{id}")).status(), 200);
    }
    assert_eq!(personal.get("/api/workspaces").status(), 401);

    // Removal from the workspace ends the member's key.
    assert_eq!(
        owner
            .delete(&format!("/api/workspaces/{ws}/members/{dev_id}"))
            .status(),
        204
    );
    assert_eq!(dev.get("/api/me").status(), 401);
}

/// The personal workspace id of a signed-in client.
fn personal_of(client: &Client) -> String {
    let (_, me) = json(client.get("/api/me"));
    me["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .find(|w| w["personal"] == true)
        .and_then(|w| w["id"].as_str())
        .expect("personal workspace")
        .to_string()
}
