//! Jira and Confluence against a fake Atlassian server inside the test suite
//! (`harness::atlassian`), which implements the documented REST endpoints and records every
//! request: org settings (token sealed and never returned), export (create once, update on
//! re-export), webhook status sync (token and HMAC), "Won't Do" on dropped controls, retry
//! after a 503, a 401 surfaced, the queue surviving a restart while Jira is down, the call
//! rate bound, and Confluence pages with version handling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::atlassian::{FakeAtlassian, TOKEN};
use crate::harness::{Appliance, Client, PASSWORD, TestDir, cli_user, json};
use crate::tenancy::{licensed, model, team};

/// An org with an org admin and a member who owns a team workspace with one model.
struct Org {
    org: String,
    oa: Client,
    member: Client,
    ws: String,
    model: String,
}

fn org(app: &Appliance, dir: &TestDir) -> Org {
    cli_user(dir, "oa@example.com", "user");
    cli_user(dir, "own@example.com", "user");
    cli_user(dir, "vie@example.com", "user");
    let sa = Client::login(app, "admin@example.com", PASSWORD);
    let (status, o) = json(sa.post("/api/organizations", json!({"name": "Acme"})));
    assert_eq!(status, 201, "{o}");
    let org = o["id"].as_str().expect("id").to_string();
    for (email, role) in [
        ("oa@example.com", "org_admin"),
        ("own@example.com", "member"),
    ] {
        let (status, b) = json(sa.post(
            &format!("/api/organizations/{org}/members"),
            json!({"email": email, "role": role}),
        ));
        assert_eq!(status, 201, "{b}");
    }
    let own = Client::login(app, "own@example.com", PASSWORD);
    let ws = team(
        &own,
        "Payments",
        Some(&org),
        &[("vie@example.com", "viewer")],
    );
    let member = own.in_workspace(&ws);
    let model = model(&member, "Payments API");
    Org {
        org,
        oa: Client::login(app, "oa@example.com", PASSWORD),
        member,
        ws,
        model,
    }
}

fn jira_body(url: &str, token: &str) -> Value {
    json!({"base_url": url, "auth": {"type": "pat", "token": token}, "project_key": "SEC", "issue_type": "Task"})
}

fn put(c: &Client, path: &str, body: &Value) -> (u16, Value) {
    json(c.send("PUT", path, Some(body)))
}

/// Control ids and statuses of a model.
fn controls(c: &Client, model: &str) -> Vec<(String, String)> {
    let (status, m) = json(c.get(&format!("/api/models/{model}")));
    assert_eq!(status, 200, "{m}");
    m["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .map(|x| {
            (
                x["id"].as_str().expect("id").to_string(),
                x["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn status_of(c: &Client, model: &str, control: &str) -> String {
    controls(c, model)
        .into_iter()
        .find(|(id, _)| id == control)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("{control} not in model"))
}

fn integrations(c: &Client, model: &str) -> Value {
    let (status, v) = json(c.get(&format!("/api/models/{model}/integrations")));
    assert_eq!(status, 200, "{v}");
    v
}

fn webhook_payload(key: &str, status: &str, category: &str) -> Value {
    json!({
        "webhookEvent": "jira:issue_updated",
        "issue": {"key": key, "fields": {"status": {"name": status, "statusCategory": {"key": category}}}},
        "changelog": {"items": [{"field": "status", "toString": status}]}
    })
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

fn exact(fake: &FakeAtlassian, method: &str, path: &str) -> usize {
    fake.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.method == method && r.path.split('?').next() == Some(path))
            .count()
    })
}

#[test]
fn jira_export_status_sync_and_wont_do() {
    let dir = TestDir::new("jira");
    let fake = FakeAtlassian::start();
    let app = licensed(&dir, &[("RAMPART_INTEGRATIONS_RETRY_BASE_SECONDS", "1")]);
    let o = org(&app, &dir);
    let settings = format!("/api/organizations/{}/integrations/jira", o.org);
    let export = format!("/api/models/{}/jira/export", o.model);

    // Not configured yet: a clear 409, and nothing was called.
    let (status, b) = json(o.member.post(&export, json!({})));
    assert_eq!(status, 409, "{b}");
    assert_eq!(b["error"]["code"], "integration_unavailable", "{b}");
    // Only org admins (and superadmins) configure; members get 403.
    let (status, b) = put(&o.member, &settings, &jira_body(&fake.url, TOKEN));
    assert_eq!(status, 403, "{b}");
    // A bad project key is refused before anything is stored.
    let mut bad = jira_body(&fake.url, TOKEN);
    bad["project_key"] = json!("1 DROP");
    let (status, b) = put(&o.oa, &settings, &bad);
    assert_eq!(status, 400, "{b}");
    assert_eq!(json(o.oa.get(&settings)).1["configured"], false);

    let (status, cfg) = put(&o.oa, &settings, &jira_body(&fake.url, TOKEN));
    assert_eq!(status, 200, "{cfg}");
    assert!(
        !cfg.to_string().contains(TOKEN),
        "the token is never returned: {cfg}"
    );
    assert_eq!(cfg["auth"]["token"], "********");
    let secret = cfg["webhook"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert!(
        cfg["webhook"]["url"]
            .as_str()
            .expect("url")
            .contains(&format!(
                "/api/integrations/jira/webhook/{}?token={secret}",
                o.org
            )),
        "{cfg}"
    );
    let (_, again) = json(o.oa.get(&settings));
    assert!(!again.to_string().contains(TOKEN), "{again}");
    assert_eq!(again["project_key"], "SEC");

    // Security: pointing the stored token at another host needs the token again, so an
    // org admin cannot redirect it to a server that collects it.
    let mut moved = jira_body("http://127.0.0.1:9", TOKEN);
    moved["auth"].as_object_mut().expect("auth").remove("token");
    let (status, b) = put(&o.oa, &settings, &moved);
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["field"], "auth.token", "{b}");
    assert_eq!(json(o.oa.get(&settings)).1["base_url"], fake.url.as_str());

    // Test connection: who the token is and the project.
    let (status, t) = json(o.oa.post(&format!("{settings}/test"), json!({})));
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["ok"], true, "{t}");
    assert_eq!(t["user"]["name"], "svc-rampart");
    assert_eq!(t["project"]["key"], "SEC");

    // Export: one container and one issue per control, each linked to the container.
    let ctrl = controls(&o.member, &o.model);
    let n = ctrl.len();
    assert!(n >= 3, "the model has controls: {ctrl:?}");
    let (status, r) = json(o.member.post(&export, json!({})));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["status"], "done", "{r}");
    assert_eq!(r["result"]["created"], n as u64 + 1, "{r}");
    assert_eq!(exact(&fake, "POST", "/rest/api/2/issue"), n + 1);
    assert_eq!(fake.with(|s| s.links.len()), n);
    let container = r["result"]["container"]
        .as_str()
        .expect("container")
        .to_string();
    fake.with(|s| {
        let c = &s.issues[&container];
        assert!(
            c.fields["summary"]
                .as_str()
                .expect("summary")
                .contains("Payments API")
        );
        assert!(c.links_back(&o.model), "container links back to the model");
        assert!(
            s.links
                .iter()
                .all(|(t, inward, _)| t == "Relates" && inward == &container)
        );
        let first = s
            .issues
            .values()
            .find(|i| {
                i.fields["summary"]
                    .as_str()
                    .is_some_and(|x| x.starts_with("CTRL-01 "))
            })
            .expect("CTRL-01 issue");
        let d = first.fields["description"].as_str().expect("description");
        assert!(
            d.contains("h3. Control objectives") && d.contains("h3. What to do"),
            "{d}"
        );
        assert!(
            d.contains(&format!("/models/{}#control-CTRL-01", o.model)),
            "{d}"
        );
        assert!(
            s.requests
                .iter()
                .all(|r| r.auth == format!("Bearer {TOKEN}"))
        );
    });

    // Re-export: nothing created twice, nothing rewritten.
    let (status, r) = json(o.member.post(&export, json!({})));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["created"], 0, "{r}");
    assert_eq!(r["result"]["unchanged"], n as u64 + 1, "{r}");
    assert_eq!(exact(&fake, "POST", "/rest/api/2/issue"), n + 1);
    assert_eq!(fake.count("PUT /rest/api/2/issue/"), 0);
    // After a rename every issue names the new title: all are updated, none created.
    let (status, _) = json(o.member.patch(
        &format!("/api/models/{}", o.model),
        json!({"title": "Payments API v2"}),
    ));
    assert_eq!(status, 200);
    let (status, r) = json(o.member.post(&export, json!({})));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["updated"], n as u64 + 1, "{r}");
    assert_eq!(fake.count("PUT /rest/api/2/issue/"), n + 1);
    assert_eq!(exact(&fake, "POST", "/rest/api/2/issue"), n + 1);

    // Links are shown on the model and counted on its card.
    let i = integrations(&o.member, &o.model);
    assert_eq!(i["jira"]["configured"], true);
    assert_eq!(i["jira"]["issue_count"], n as u64, "{i}");
    assert_eq!(i["jira"]["container"]["issue_key"], container.as_str());
    let key01 = fake.issue_with_label("-ctrl-01").expect("CTRL-01 issue");
    let browse = format!("{}/browse/{key01}", fake.url);
    assert!(
        i["jira"]["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .any(|l| l["control_id"] == "CTRL-01" && l["issue_url"] == browse.as_str()),
        "{i}"
    );
    let (_, list) = json(o.member.get("/api/models"));
    let card = list
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["id"] == o.model.as_str())
        .expect("card")
        .clone();
    assert_eq!(card["integrations"]["jira_issues"], n as u64, "{card}");
    // Viewers read the links but cannot export.
    let vie = Client::login(&app, "vie@example.com", PASSWORD).in_workspace(&o.ws);
    assert_eq!(
        integrations(&vie, &o.model)["jira"]["issue_count"],
        n as u64
    );
    assert_eq!(vie.post(&export, json!({})).status(), 403);

    // Status sync by webhook. A wrong token changes nothing.
    let anon = Client::anonymous(&app);
    let hook = format!("/api/integrations/jira/webhook/{}", o.org);
    fake.set_status(&key01, "Done", "done");
    let (status, b) = json(anon.post(
        &format!("{hook}?token=wrong"),
        webhook_payload(&key01, "Done", "done"),
    ));
    assert_eq!(status, 401, "{b}");
    let (status, b) = json(anon.post(
        &format!("{hook}?token=1{secret}"),
        webhook_payload(&key01, "Done", "done"),
    ));
    assert_eq!(status, 401, "{b}");
    let (status, b) = json(anon.post(
        &format!(
            "/api/integrations/jira/webhook/0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b?token={secret}"
        ),
        webhook_payload(&key01, "Done", "done"),
    ));
    assert_eq!(status, 401, "unknown org answers like a wrong secret: {b}");
    assert_eq!(status_of(&o.member, &o.model, "CTRL-01"), "not_implemented");
    // Done without an assertion: in progress, with a note saying why not implemented.
    let (status, b) = json(anon.post(
        &format!("{hook}?token={secret}"),
        webhook_payload(&key01, "Done", "done"),
    ));
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["changed"], 1, "{b}");
    assert_eq!(status_of(&o.member, &o.model, "CTRL-01"), "in_progress");
    let i = integrations(&o.member, &o.model);
    let l01 = i["jira"]["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .find(|l| l["control_id"] == "CTRL-01")
        .expect("link")
        .clone();
    assert_eq!(l01["jira_status"], "Done");
    assert!(
        l01["sync_note"]
            .as_str()
            .expect("note")
            .contains("assertion"),
        "{l01}"
    );
    // With an assertion, done means implemented; this time the webhook is HMAC-signed.
    let (status, b) = json(o.member.post(
        &format!("/api/models/{}/assertions", o.model),
        json!({"control_id": "CTRL-01", "assertions": [{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "The upload handler exists"}]}),
    ));
    assert!(status == 200 || status == 201, "{b}");
    let body = serde_json::to_vec(&webhook_payload(&key01, "Done", "done")).expect("body");
    let signed = |secret: &str| {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("mac");
        mac.update(&body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let post_signed = |sig: String| {
        app.client
            .post(app.url(&hook))
            .header("Content-Type", "application/json")
            .header("X-Hub-Signature", sig)
            .body(body.clone())
            .send()
            .expect("webhook")
    };
    assert_eq!(post_signed(signed("not the secret")).status(), 401);
    assert_eq!(status_of(&o.member, &o.model, "CTRL-01"), "in_progress");
    let (status, b) = json(post_signed(signed(&secret)));
    assert_eq!(status, 200, "{b}");
    assert_eq!(status_of(&o.member, &o.model, "CTRL-01"), "implemented");
    // Reopened → in progress.
    let (status, _) = json(anon.post(
        &format!("{hook}?token={secret}"),
        webhook_payload(&key01, "To Do", "new"),
    ));
    assert_eq!(status, 200);
    assert_eq!(status_of(&o.member, &o.model, "CTRL-01"), "in_progress");
    // The change came from Jira (activity source).
    let (_, act) = json(o.member.get("/api/activity"));
    assert!(act.to_string().contains("\"source\":\"jira\""), "{act}");

    // Dropping controls (removing assets) moves their issues to Won't Do with a comment.
    let before: Vec<String> = controls(&o.member, &o.model)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let (_, m) = json(o.member.get(&format!("/api/models/{}", o.model)));
    let assets: Vec<String> = m["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    let mut dropped: Vec<String> = Vec::new();
    for a in assets.iter().take(assets.len().saturating_sub(1)) {
        let (status, b) = json(
            o.member
                .delete(&format!("/api/models/{}/assets/{a}", o.model)),
        );
        assert_eq!(status, 200, "{b}");
        let now: Vec<String> = controls(&o.member, &o.model)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        dropped = before
            .iter()
            .filter(|c| !now.contains(c))
            .cloned()
            .collect();
        if !dropped.is_empty() {
            break;
        }
    }
    assert!(!dropped.is_empty(), "removing assets dropped no control");
    for c in &dropped {
        let key = fake
            .issue_with_label(&format!("-{}", c.to_ascii_lowercase()))
            .expect("issue of dropped control");
        wait_until(20, &format!("{key} in Won't Do"), || {
            fake.with(|s| {
                s.issues[&key].status == "Won't Do" && !s.issues[&key].comments.is_empty()
            })
        });
        fake.with(|s| {
            let comment = &s.issues[&key].comments[0];
            assert!(
                comment.contains(c) && comment.contains("dropped"),
                "{comment}"
            );
        });
    }
    wait_until(10, "Won't Do recorded on the links", || {
        let i = integrations(&o.member, &o.model);
        i["jira"]["issues"]
            .as_array()
            .expect("issues")
            .iter()
            .filter(|l| dropped.contains(&l["control_id"].as_str().unwrap_or_default().to_string()))
            .all(|l| !l["wont_do_at"].is_null())
    });
    // Dropped issues no longer count on the card.
    assert_eq!(
        integrations(&o.member, &o.model)["jira"]["issue_count"],
        (n - dropped.len()) as u64
    );
}

trait LinksBack {
    fn links_back(&self, model: &str) -> bool;
}

impl LinksBack for crate::harness::atlassian::Issue {
    fn links_back(&self, model: &str) -> bool {
        self.fields["description"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("/models/{model}")))
    }
}

#[test]
fn jira_retries_surfaces_401_and_keeps_queued_work_across_a_restart() {
    let dir = TestDir::new("jira-retry");
    let fake = FakeAtlassian::start();
    let env = [
        ("RAMPART_INTEGRATIONS_RETRY_BASE_SECONDS", "1"),
        ("RAMPART_INTEGRATIONS_CALLS_PER_MINUTE", "600"),
    ];
    let mut app = licensed(&dir, &env);
    let o = org(&app, &dir);
    let settings = format!("/api/organizations/{}/integrations/jira", o.org);
    let (status, b) = put(&o.oa, &settings, &jira_body(&fake.url, TOKEN));
    assert_eq!(status, 200, "{b}");

    // A 503 on the first create is retried inside the call; the issue is created once.
    fake.with(|s| {
        s.fail_next
            .push_back(("POST".into(), "/rest/api/2/issue".into(), 503))
    });
    let n = controls(&o.member, &o.model).len();
    let (status, r) = json(
        o.member
            .post(&format!("/api/models/{}/jira/export", o.model), json!({})),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["created"], n as u64 + 1, "{r}");
    let creates: Vec<u16> = fake.with(|s| {
        s.requests
            .iter()
            .filter(|q| q.method == "POST" && q.path == "/rest/api/2/issue")
            .map(|q| q.status)
            .collect()
    });
    assert_eq!(creates.first(), Some(&503), "{creates:?}");
    assert_eq!(
        creates.iter().filter(|s| **s == 201).count(),
        n + 1,
        "{creates:?}"
    );
    assert_eq!(fake.with(|s| s.issues.len()), n + 1);
    // The call rate is bounded: 600 calls/min means calls leave at least 100 ms apart. They
    // are timed here on arrival, which adds scheduling jitter to single gaps, so the bound is
    // checked over every run of 10 consecutive calls (at least 900 ms less 100 ms of jitter)
    // and over the whole export.
    let at: Vec<Instant> = fake.with(|s| s.requests.iter().map(|r| r.at).collect());
    let span = |a: &Instant, b: &Instant| b.duration_since(*a);
    let tightest = at
        .windows(10)
        .map(|w| span(&w[0], &w[9]))
        .min()
        .expect("10 calls");
    let total = span(&at[0], &at[at.len() - 1]);
    eprintln!(
        "measured: {} calls in {total:?}; tightest 10 consecutive calls took {tightest:?} (bound 900 ms)",
        at.len()
    );
    assert!(
        tightest >= Duration::from_millis(800),
        "a burst above the bound: {tightest:?}"
    );
    let floor = Duration::from_millis(100) * (at.len() as u32 - 1);
    assert!(
        total + Duration::from_millis(100) >= floor,
        "{total:?} < {floor:?}"
    );

    // A wrong token is a clear 401, not a retry loop; the failure shows on the model.
    let (status, b) = put(&o.oa, &settings, &jira_body(&fake.url, "wrong-token"));
    assert_eq!(status, 200, "{b}");
    let second = model(&o.member, "Ledger service");
    let export2 = format!("/api/models/{second}/jira/export");
    let before = fake.with(|s| s.requests.len());
    let (status, b) = json(o.member.post(&export2, json!({})));
    assert_eq!(status, 502, "{b}");
    assert_eq!(b["error"]["code"], "jira_error", "{b}");
    let msg = b["error"]["message"].as_str().expect("message");
    assert!(
        msg.contains("401") && msg.contains("personal access token"),
        "{msg}"
    );
    assert_eq!(
        fake.with(|s| s.requests.len()) - before,
        1,
        "no retries of a 401"
    );
    let i = integrations(&o.member, &second);
    assert_eq!(i["work"][0]["status"], "failed", "{i}");
    assert!(
        i["work"][0]["last_error"]
            .as_str()
            .expect("error")
            .contains("401"),
        "{i}"
    );
    let (_, cfg) = json(o.oa.get(&settings));
    assert_eq!(
        cfg["queue"]["failed"], 1,
        "org admins see the failure: {cfg}"
    );

    // Jira down: the export is queued (202) and survives a restart of the appliance.
    let (status, b) = put(&o.oa, &settings, &jira_body(&fake.url, TOKEN));
    assert_eq!(status, 200, "{b}");
    fake.with(|s| s.down = true);
    let (status, b) = json(o.member.post(&export2, json!({})));
    assert_eq!(status, 202, "{b}");
    assert_eq!(b["status"], "queued", "{b}");
    assert!(b["error"].as_str().expect("error").contains("503"), "{b}");
    let m2 = controls(&o.member, &second).len();
    app.stop();
    drop(app);
    let pem = std::fs::read_to_string(dir.path().join("license-public.pem")).expect("license key");
    let mut cmd = dir
        .cmd()
        .env("MFA_REQUIRED_FOR_LOCAL", "false")
        .env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem);
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let app = Appliance::start_with(&dir, cmd);
    let issues_before = fake.with(|s| s.issues.len());
    fake.with(|s| s.down = false);
    wait_until(30, "the queued export to run after the restart", || {
        fake.with(|s| s.issues.len()) > issues_before + m2
    });
    let member = Client::login(&app, "own@example.com", PASSWORD).in_workspace(&o.ws);
    wait_until(10, "the queue item to finish", || {
        let i = integrations(&member, &second);
        i["work"].as_array().is_some_and(|w| w.is_empty()) && i["jira"]["issue_count"] == m2 as u64
    });
    // The retry looked for issues an earlier attempt might have created before creating.
    assert!(fake.count("GET /rest/api/2/search") >= 1);
    assert_eq!(
        fake.with(|s| s.issues.len()),
        issues_before + m2 + 1,
        "nothing created twice"
    );
}

#[test]
fn confluence_pages_follow_the_model_with_version_handling() {
    let dir = TestDir::new("confluence");
    let fake = FakeAtlassian::start();
    let app = licensed(&dir, &[("RAMPART_INTEGRATIONS_RETRY_BASE_SECONDS", "1")]);
    let o = org(&app, &dir);
    let settings = format!("/api/organizations/{}/integrations/confluence", o.org);
    let sync = format!("/api/models/{}/confluence/sync", o.model);
    // A personal workspace has no org: not available there.
    let personal = Client::login(&app, "own@example.com", PASSWORD);
    let mine = model(&personal, "Personal model");
    let (status, b) =
        json(personal.post(&format!("/api/models/{mine}/confluence/sync"), json!({})));
    assert_eq!(status, 409, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("organization"),
        "{b}"
    );
    assert_eq!(integrations(&personal, &mine)["available"], false);

    let body = json!({"base_url": fake.url, "auth": {"type": "basic", "email": "svc@example.com", "token": TOKEN}, "space_key": "SEC", "parent_page_id": "4242"});
    let (status, cfg) = put(&o.oa, &settings, &body);
    assert_eq!(status, 200, "{cfg}");
    assert!(!cfg.to_string().contains(TOKEN), "{cfg}");
    let (status, t) = json(o.oa.post(&format!("{settings}/test"), json!({})));
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["space"]["name"], "Security");

    let (status, r) = json(o.member.post(&sync, json!({})));
    assert_eq!(status, 200, "{r}");
    let page_id = r["result"]["page_id"].as_str().expect("page").to_string();
    let (_, m) = json(o.member.get(&format!("/api/models/{}", o.model)));
    fake.with(|s| {
        let p = &s.pages[&page_id];
        assert_eq!(p.title, "Threat model: Payments API");
        assert_eq!(p.ancestors, vec!["4242".to_string()]);
        assert_eq!(p.version, 1);
        for needle in [
            "<h2>Assets</h2>",
            "<h2>Attackers</h2>",
            "<h2>Control objectives</h2>",
            "<h2>Controls</h2>",
            "CTRL-01",
            "ac:name=\"status\"",
        ] {
            assert!(p.body.contains(needle), "page lacks {needle}: {}", p.body);
        }
        let first_asset = m["assets"][0]["name"].as_str().expect("asset");
        let escaped = first_asset
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        assert!(p.body.contains(&escaped), "{first_asset}");
        if p.body.contains("<ac:image") {
            assert!(
                p.attachments.contains_key("threat-model.svg"),
                "{:?}",
                p.attachments
            );
        }
        assert!(s.requests.iter().all(|r| r.auth.starts_with("Basic ")));
    });
    let page_url = format!("http://wiki.example/spaces/SEC/pages/{page_id}");
    assert_eq!(
        integrations(&o.member, &o.model)["confluence"]["page"]["page_url"],
        page_url.as_str()
    );
    let (_, list) = json(o.member.get("/api/models"));
    let card = list
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == o.model.as_str())
        .expect("card")
        .clone();
    assert_eq!(
        card["integrations"]["confluence_url"],
        page_url.as_str(),
        "{card}"
    );

    // A change to the model re-syncs the page by itself (version + 1).
    let (status, _) = json(o.member.patch(
        &format!("/api/models/{}", o.model),
        json!({"title": "Payments API v2"}),
    ));
    assert_eq!(status, 200);
    wait_until(20, "the page to follow the rename", || {
        fake.with(|s| {
            s.pages[&page_id].version == 2 && s.pages[&page_id].body.contains("Payments API v2")
        })
    });
    // Someone edits the page at the same moment: the 409 is answered by re-reading the
    // version and writing on top of it.
    fake.with(|s| s.conflicts = 1);
    let (status, b) = json(o.member.patch(
        &format!("/api/models/{}/controls/CTRL-02", o.model),
        json!({"status": "in_progress"}),
    ));
    assert_eq!(status, 200, "{b}");
    wait_until(20, "the page to be written after the conflict", || {
        fake.with(|s| s.pages[&page_id].version == 4)
    });
    assert!(fake.with(|s| {
        s.requests
            .iter()
            .any(|r| r.method == "PUT" && r.status == 409)
    }));
    assert_eq!(fake.with(|s| s.pages.len()), 1, "never a second page");
    let i = integrations(&o.member, &o.model);
    assert_eq!(i["confluence"]["page"]["page_version"], 4, "{i}");
    assert!(i["work"].as_array().expect("work").is_empty(), "{i}");
}

#[test]
fn jira_and_confluence_in_the_web_app() {
    use crate::web_pages::{Web, between};
    let dir = TestDir::new("atlassian-web");
    let fake = FakeAtlassian::start();
    let app = licensed(&dir, &[("RAMPART_INTEGRATIONS_RETRY_BASE_SECONDS", "1")]);
    let o = org(&app, &dir);
    let switch = |web: &Web| {
        web.submit("/", "/workspace/switch", &[("workspace_id", &o.ws)])
            .assert_redirect("/");
    };

    // The org admin connects Jira and Confluence in Settings › Integrations.
    let admin = Web::new(&app);
    admin.sign_in("oa@example.com", PASSWORD);
    switch(&admin);
    let page = admin.get("/settings/integrations");
    page.assert_page(200, "Jira and Confluence");
    assert!(page.body.contains("id=\"jira-settings\""), "{}", page.body);
    let jira_form = format!("/settings/integrations/{}/jira", o.org);
    // A bad project key is refused with a message; nothing is stored.
    let r = admin.submit(
        "/settings/integrations",
        &jira_form,
        &[
            ("base_url", &fake.url),
            ("auth_type", "pat"),
            ("token", TOKEN),
            ("project_key", "1 DROP"),
        ],
    );
    r.assert_redirect("/settings/integrations");
    assert!(
        admin
            .get("/settings/integrations")
            .body
            .contains("project_key")
    );
    assert_eq!(
        json(o.oa.get(&format!("/api/organizations/{}/integrations/jira", o.org))).1["configured"],
        false
    );
    admin
        .submit(
            "/settings/integrations",
            &jira_form,
            &[
                ("base_url", &fake.url),
                ("auth_type", "pat"),
                ("token", TOKEN),
                ("project_key", "SEC"),
                ("issue_type", "Task"),
                ("done_statuses", "Done, Closed"),
            ],
        )
        .assert_redirect("/settings/integrations");
    let page = admin.get("/settings/integrations");
    assert!(!page.body.contains(TOKEN), "the token is never shown");
    assert!(
        page.body
            .contains(&format!("/api/integrations/jira/webhook/{}?token=", o.org)),
        "webhook URL shown"
    );
    admin
        .submit("/settings/integrations", &format!("{jira_form}/test"), &[])
        .assert_redirect("/settings/integrations");
    let flash = admin.get("/settings/integrations");
    assert!(
        flash.body.contains("Connected to Jira as rampart service"),
        "{}",
        flash.body
    );
    // Saving again without the token keeps it (same site and account).
    admin
        .submit(
            "/settings/integrations",
            &jira_form,
            &[
                ("base_url", &fake.url),
                ("auth_type", "pat"),
                ("project_key", "SEC"),
                ("wont_do_transition", "Won't Do"),
            ],
        )
        .assert_redirect("/settings/integrations");
    admin
        .submit("/settings/integrations", &format!("{jira_form}/test"), &[])
        .assert_redirect("/settings/integrations");
    assert!(
        admin
            .get("/settings/integrations")
            .body
            .contains("Connected to Jira")
    );
    admin
        .submit(
            "/settings/integrations",
            &format!("/settings/integrations/{}/confluence", o.org),
            &[
                ("base_url", &fake.url),
                ("auth_type", "pat"),
                ("token", TOKEN),
                ("space_key", "SEC"),
            ],
        )
        .assert_redirect("/settings/integrations");

    // A member does not see the org settings forms.
    let member = Web::new(&app);
    member.sign_in("own@example.com", PASSWORD);
    switch(&member);
    let page = member.get("/settings/integrations");
    assert!(!page.body.contains("id=\"jira-settings\""));
    assert!(
        page.body.contains("set up by its org admins"),
        "{}",
        page.body
    );
    // The member exports from the model page; the issues show per control and on the card.
    let model_page = format!("/models/{}", o.model);
    let page = member.get(&model_page);
    page.assert_page(200, "Export to Jira");
    let r = member.submit(&model_page, &format!("{model_page}/jira/export"), &[]);
    r.assert_redirect(&format!("{model_page}#integrations"));
    let page = member.get(&model_page);
    assert!(
        page.body.contains("Exported to Jira:"),
        "{}",
        between(&page.body, "<main", "</header>")
    );
    let key01 = fake.issue_with_label("-ctrl-01").expect("CTRL-01 issue");
    let row = between(&page.body, "id=\"control-CTRL-01\"", "</tr>");
    assert!(
        row.contains(&format!("{}/browse/{key01}", fake.url)),
        "{row}"
    );
    let n = controls(&o.member, &o.model).len();
    assert!(
        between(&page.body, "id=\"jira-status\"", "</dd>").contains(&format!("{n} issues linked"))
    );
    let list = member.get("/models");
    assert!(
        list.body.contains(&format!("Jira: {n} issues")),
        "model card shows the count"
    );
    // Confluence sync from the page; the card links the page.
    member
        .submit(&model_page, &format!("{model_page}/confluence/sync"), &[])
        .assert_redirect(&format!("{model_page}#integrations"));
    assert!(
        member
            .get(&model_page)
            .body
            .contains("Synced to Confluence")
    );
    assert!(
        member
            .get("/models")
            .body
            .contains("http://wiki.example/spaces/SEC/pages/")
    );
    // Jira refusing the token: the page says what to fix.
    fake.with(|s| {
        s.fail_next
            .push_back(("GET".into(), "/rest/api/2/project".into(), 401))
    });
    member.submit(&model_page, &format!("{model_page}/jira/export"), &[]);
    let page = member.get(&model_page);
    assert!(
        page.body.contains("personal access token"),
        "{}",
        between(&page.body, "<main", "</header>")
    );

    // A viewer sees the links but no export button.
    let viewer = Web::new(&app);
    viewer.sign_in("vie@example.com", PASSWORD);
    switch(&viewer);
    let page = viewer.get(&model_page);
    assert!(!page.body.contains("id=\"jira-export\""));
    assert!(page.body.contains(&key01));
}

#[test]
fn mcp_export_threat_model_to_jira_and_confluence() {
    use crate::mcp::{connect, ok, runtime, tool_error};
    let dir = TestDir::new("atlassian-mcp");
    let fake = FakeAtlassian::start();
    let app = licensed(&dir, &[("RAMPART_INTEGRATIONS_CALLS_PER_MINUTE", "6000")]);
    let o = org(&app, &dir);
    let (status, b) = put(
        &o.oa,
        &format!("/api/organizations/{}/integrations/jira", o.org),
        &jira_body(&fake.url, TOKEN),
    );
    assert_eq!(status, 200, "{b}");
    let key = crate::tenancy::key_for(&dir, "own@example.com", "developer", &o.ws);
    let n = controls(&o.member, &o.model).len();
    let made = runtime().block_on(async {
        let c = connect(&app, &key).await;
        let r = ok(
            &c,
            "export_threat_model",
            json!({"model_id": o.model, "format": "jira"}),
        )
        .await;
        assert_eq!(r["outcome"]["status"], "done", "{r}");
        assert_eq!(r["outcome"]["result"]["created"], n as u64 + 1, "{r}");
        assert_eq!(r["jira"]["issue_count"], n as u64, "{r}");
        // Idempotent: nothing created the second time.
        let r = ok(
            &c,
            "export_threat_model",
            json!({"model_id": o.model, "format": "jira"}),
        )
        .await;
        assert_eq!(r["outcome"]["result"]["created"], 0, "{r}");
        // Confluence is not configured for the org: a clear error, nothing called.
        let before = fake.with(|s| s.requests.len());
        let msg = tool_error(
            &c,
            "export_threat_model",
            json!({"model_id": o.model, "format": "confluence"}),
        )
        .await;
        assert!(msg.contains("Confluence is not configured"), "{msg}");
        assert_eq!(fake.with(|s| s.requests.len()), before);
        // generate_threat_model from a Jira issue: the model says where it came from, and
        // asking again names it instead of making a second one.
        fake.insert_issue(
            "SEC-500",
            "Partner API keys",
            "Partners call our *orders* API with keys we issue.",
            &[],
        );
        let made = ok(
            &c,
            "generate_threat_model",
            json!({"jira_issue": "SEC-500", "async_mode": false}),
        )
        .await;
        let id = made["model_id"].as_str().expect("model_id").to_string();
        let msg = tool_error(
            &c,
            "generate_threat_model",
            json!({"jira_issue": "SEC-500", "async_mode": false}),
        )
        .await;
        assert!(msg.contains(&id), "{msg}");
        let msg = tool_error(
            &c,
            "generate_threat_model",
            json!({"jira_issue": "SEC-500", "feature_description": "also this"}),
        )
        .await;
        assert!(msg.contains("not both"), "{msg}");
        id
    });
    // (Blocking HTTP runs outside the MCP client's runtime.)
    let (_, m) = json(o.member.get(&format!("/api/models/{made}")));
    assert_eq!(m["source_issue"], "SEC-500", "{m}");
    assert_eq!(m["source"], "jira");
    assert_eq!(exact(&fake, "POST", "/rest/api/2/issue"), n + 1);
}

#[test]
fn models_from_jira_issues_and_own_atlassian_accounts() {
    use crate::harness::atlassian::USER_TOKEN;
    let dir = TestDir::new("jira-sources");
    let fake = FakeAtlassian::start();
    let app = licensed(&dir, &[]);
    let o = org(&app, &dir);
    let (status, b) = put(
        &o.oa,
        &format!("/api/organizations/{}/integrations/jira", o.org),
        &jira_body(&fake.url, TOKEN),
    );
    assert_eq!(status, 200, "{b}");
    fake.insert_issue(
        "SEC-100",
        "Checkout with saved cards",
        "h2. Goal\n*Customers* store their cards with the [payment provider|https://psp.example] and \
         pay in one click; _support agents_ can refund orders.\n{code}\nlet secret = psp_key();\n{code}\n!flow.png!",
        &["payments"],
    );
    fake.insert_issue(
        "OPS-7",
        "Rotate the database credentials nightly",
        "A scheduler rotates the Postgres passwords stored in Vault and restarts the API pods.",
        &[],
    );

    // A model from a Jira issue: the issue is the brief (markup gone), the model says Jira.
    let (status, m) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": " sec-100 "})),
    );
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().expect("id").to_string();
    assert_eq!(m["source"], "jira", "{m}");
    assert_eq!(m["source_issue"], "SEC-100");
    let brief = m["feature_description"].as_str().expect("brief");
    assert!(
        brief.starts_with("Checkout with saved cards.")
            && brief.contains("Customers store their cards with the payment provider"),
        "{brief}"
    );
    for markup in ["*", "{code}", "h2.", "!flow.png!", "https://psp.example"] {
        assert!(!brief.contains(markup), "{markup:?} left in {brief}");
    }
    assert!(!m["assets"].as_array().expect("assets").is_empty());
    let reads = fake.auth_of("GET", "/rest/api/2/issue/SEC-100");
    assert_eq!(reads.len(), 1, "one read of the issue");
    assert!(reads[0].contains(TOKEN), "the org's account read it");

    // The same issue again answers with the model that exists.
    let (status, b) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": "SEC-100"})),
    );
    assert_eq!(status, 409, "{b}");
    assert_eq!(b["error"]["code"], "already_generated");
    assert_eq!(b["model_id"], id.as_str());
    // Bad input: both, neither, not a key, an unknown issue; nothing is created or read.
    let before = fake.with(|s| s.requests.len());
    for (body, code) in [
        (
            json!({"jira_issue": "SEC-1", "feature_description": "x"}),
            400,
        ),
        (json!({}), 400),
        (json!({"jira_issue": "SEC 1/../../myself"}), 400),
        (json!({"jira_issue": 12}), 400),
    ] {
        let (status, b) = json(o.member.post("/api/models?wait=true", body.clone()));
        assert_eq!(status, code, "{body} → {b}");
    }
    assert_eq!(
        fake.with(|s| s.requests.len()),
        before,
        "no call for bad input"
    );
    let (status, b) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": "SEC-999"})),
    );
    assert_eq!(status, 404, "{b}");
    // The org's account reads only its configured project.
    let (status, b) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": "OPS-7"})),
    );
    assert_eq!(status, 403, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connect your own Atlassian account")),
        "{b}"
    );
    assert!(fake.auth_of("GET", "/rest/api/2/issue/OPS-7").is_empty());

    // The member connects their own account; Jira checks the token first.
    let account = format!("/api/organizations/{}/integrations/jira/account", o.org);
    let (status, b) = json(o.member.get(&account));
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["connected"], false);
    assert_eq!(b["jira_configured"], true);
    let (status, b) = put(
        &o.member,
        &account,
        &json!({"auth": {"type": "pat", "token": "wrong-token"}}),
    );
    assert_eq!(status, 502, "{b}");
    assert_eq!(json(o.member.get(&account)).1["connected"], false);
    let (status, b) = put(
        &o.member,
        &account,
        &json!({"auth": {"type": "pat", "token": USER_TOKEN}}),
    );
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["account"]["display_name"], "Jane Doe");
    let (_, shown) = json(o.member.get(&account));
    assert_eq!(shown["connected"], true);
    assert_eq!(shown["account"]["jira_name"], "jdoe");
    assert!(!shown.to_string().contains(USER_TOKEN), "never returned");
    // The org admin has no account of their own yet; another member's is not theirs to see.
    assert_eq!(json(o.oa.get(&account)).1["connected"], false);
    // An API key cannot connect one.
    let key = crate::tenancy::key_for(&dir, "own@example.com", "developer", &o.ws);
    let keyed = Client::with_key(&app, &key);
    let (status, b) = put(
        &keyed,
        &account,
        &json!({"auth": {"type": "pat", "token": USER_TOKEN}}),
    );
    assert_eq!(status, 403, "{b}");

    // With it, issues of other projects can be modelled, read as the member.
    let (status, ops) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": "OPS-7"})),
    );
    assert_eq!(status, 201, "{ops}");
    let reads = fake.auth_of("GET", "/rest/api/2/issue/OPS-7");
    assert!(reads.iter().all(|a| a.contains(USER_TOKEN)), "{reads:?}");
    let ops_id = ops["id"].as_str().expect("id").to_string();
    // Its export runs as the member and puts the controls under the source issue.
    let (status, out) = json(
        o.member
            .post(&format!("/api/models/{ops_id}/jira/export"), json!({})),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["result"]["container"], "OPS-7", "{out}");
    let creates = fake.auth_of("POST", "/rest/api/2/issue");
    assert!(!creates.is_empty());
    assert!(
        creates.iter().all(|a| a.contains(USER_TOKEN)),
        "issues created as the member"
    );
    assert!(
        fake.with(|s| s.links.iter().any(|(_, inward, _)| inward == "OPS-7")),
        "control issues linked to the source issue"
    );
    assert!(
        fake.with(|s| !s.issues.values().any(|i| i.fields["summary"]
            .as_str()
            .is_some_and(|t| t.starts_with("Threat model")))),
        "no container issue for a model from Jira"
    );

    // The model list and page say where the model came from.
    let (_, list) = json(o.member.get("/api/models"));
    assert!(list.to_string().contains("jira"), "{list}");

    // Disconnect: back to the org's account (which may not read OPS).
    let (status, _) = json(o.member.delete(&account));
    assert_eq!(status, 204);
    assert_eq!(json(o.member.get(&account)).1["connected"], false);
    assert_eq!(json(o.member.delete(&account)).0, 404);
    fake.insert_issue("OPS-8", "Another ops change", "A cron job.", &[]);
    let (status, _) = json(
        o.member
            .post("/api/models?wait=true", json!({"jira_issue": "OPS-8"})),
    );
    assert_eq!(status, 403);

    // A personal workspace has no Jira.
    let (status, b) = json(
        Client::login(&app, "vie@example.com", PASSWORD)
            .post("/api/models?wait=true", json!({"jira_issue": "SEC-100"})),
    );
    assert_eq!(status, 409, "{b}");
    assert_eq!(b["error"]["code"], "integration_unavailable");

    // The web app: "From a Jira issue" on the New model page, "Your Atlassian account" in
    // Settings › Integrations.
    use crate::web_pages::Web;
    let web = Web::new(&app);
    web.sign_in("own@example.com", PASSWORD);
    web.submit("/", "/workspace/switch", &[("workspace_id", &o.ws)])
        .assert_redirect("/");
    web.get("/models/new").assert_page(200, "From a Jira issue");
    let r = web.submit("/models/new", "/models/new", &[("jira_issue", "SEC-100")]);
    r.assert_redirect(&format!("/models/{id}"));
    let r = web.submit("/models/new", "/models/new", &[("jira_issue", "OPS-8")]);
    r.assert_page(422, "connect your own Atlassian account");
    assert!(r.body.contains("value=\"OPS-8\""), "input kept");
    let settings = web.get("/settings/integrations");
    settings.assert_page(200, "Your Atlassian account");
    assert!(settings.body.contains("id=\"own-account-form\""));
    web.submit(
        "/settings/integrations",
        &format!("/settings/integrations/{}/jira/account", o.org),
        &[("auth_type", "pat"), ("token", USER_TOKEN)],
    )
    .assert_redirect("/settings/integrations");
    let settings = web.get("/settings/integrations");
    settings.assert_page(200, "Connected as <strong>Jane Doe</strong>");
    assert!(!settings.body.contains(USER_TOKEN));
    let r = web.submit("/models/new", "/models/new", &[("jira_issue", "OPS-8")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/models/jobs/"),
        "{}",
        r.location()
    );
    web.submit(
        "/settings/integrations",
        &format!("/settings/integrations/{}/jira/account/delete", o.org),
        &[],
    )
    .assert_redirect("/settings/integrations");
    assert!(
        web.get("/settings/integrations")
            .body
            .contains("id=\"own-account-form\"")
    );
    // A personal workspace's New model page does not offer Jira.
    let personal = Web::new(&app);
    personal.sign_in("vie@example.com", PASSWORD);
    let page = personal.get("/models/new");
    page.assert_page(200, "New threat model");
    assert!(!page.body.contains("From a Jira issue"));
}
