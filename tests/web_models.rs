//! HTTP-level tests of the model pages through the real binary: new model → live job page
//! (SSE) → model page, tenant isolation, CSRF.

use crate::harness::{Client, PASSWORD, TestDir, appliance_without_mfa, cli_user, json};
use crate::web_pages::{Web, between};

const DESCRIPTION: &str = "A web shop with a login page, a Postgres database of customer \
                           orders and a Stripe payment webhook.";

/// Creates a model through the web form and returns (job id, model id).
fn generate(web: &Web) -> (String, String) {
    let r = web.submit(
        "/models/new",
        "/models/new",
        &[("description", DESCRIPTION)],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let job_path = r.location();
    assert!(job_path.starts_with("/models/jobs/"), "{job_path}");
    let job_id = job_path.trim_start_matches("/models/jobs/").to_string();
    // The event stream ends once the job is done.
    let events = web.get(&format!("/api/jobs/{job_id}/events"));
    assert_eq!(events.status, 200, "{}", events.body);
    assert_eq!(
        events.body.matches("event: step_start").count(),
        6,
        "{}",
        events.body
    );
    assert_eq!(
        events.body.matches("event: result").count(),
        6,
        "{}",
        events.body
    );
    assert!(events.body.contains("event: done"), "{}", events.body);
    let model_id = between(&events.body, "\"model_id\":\"", "\"").to_string();
    (job_id, model_id)
}

#[test]
fn new_model_form_live_job_page_and_isolation() {
    let dir = TestDir::new("pages-new-model");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);

    let list = web.get("/models");
    list.assert_page(200, "href=\"/models/new\"");
    let form = web.get("/models/new");
    form.assert_page(200, "name=\"description\"");

    // Validation: an empty description is an inline error, nothing starts.
    let bad = web.submit("/models/new", "/models/new", &[("description", "  ")]);
    bad.assert_page(422, "field-error");
    // CSRF is enforced.
    assert_eq!(
        web.post("/models/new", &[("description", DESCRIPTION)])
            .status,
        403
    );

    let (job_id, model_id) = generate(&web);
    let job = web.get(&format!("/models/jobs/{job_id}"));
    job.assert_page(
        200,
        &format!("data-job-events=\"/api/jobs/{job_id}/events\""),
    );
    for step in [
        "Generate Assets",
        "Refine Assets",
        "Generate Attackers",
        "Refine Attackers",
        "Generate Matrix",
        "Generate Controls",
    ] {
        assert!(job.body.contains(step), "{step}");
    }
    assert!(job.body.contains("/static/job.js?v="), "{}", job.body);
    // Finished: the page links to the model.
    assert!(
        job.body.contains(&format!("href=\"/models/{model_id}\"")),
        "{}",
        job.body
    );
    let js_query = between(&job.body, "<script src=\"/static/job.js", "\"");
    let js = web.get(&format!("/static/job.js{js_query}"));
    assert_eq!(js.status, 200);
    assert!(js.body.contains("EventSource"));

    // Another user sees neither the job nor the model.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    other
        .get(&format!("/models/jobs/{job_id}"))
        .assert_page(404, "Page not found");
    other
        .get("/models/jobs/nope")
        .assert_page(404, "Page not found");
}

/// The model as the REST API returns it (the session cookie authenticates `GET`s).
fn model_json(web: &Web, id: &str) -> serde_json::Value {
    let r = web.get(&format!("/api/models/{id}?include_cos=true"));
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).expect("model JSON")
}

fn id_by_name(model: &serde_json::Value, list: &str, name: &str) -> Option<String> {
    model[list]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["id"].as_str())
        .map(str::to_string)
}

#[test]
fn model_page_shows_the_model_and_edits_it_like_rest() {
    let dir = TestDir::new("pages-model");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let before = model_json(&web, &id);
    let page_path = format!("/models/{id}");

    let page = web.get(&page_path);
    let title = before["title"].as_str().expect("title");
    page.assert_page(200, &title.replace('&', "&amp;"));
    for marker in [
        "id=\"assets-table\"",
        "id=\"attackers-table\"",
        "id=\"objectives-table\"",
        "id=\"controls-table\"",
        "id=\"trust-boundaries\"",
        "id=\"assumptions\"",
        "data-verification=\"unverified\"",
    ] {
        assert!(page.body.contains(marker), "{marker}");
    }
    let first_co = before["control_objectives"][0]["id"].as_str().expect("co");
    assert!(page.body.contains(first_co));
    // The list links here.
    assert!(
        web.get("/models")
            .body
            .contains(&format!("href=\"{page_path}\""))
    );

    // Add an asset.
    let r = web.submit(
        &page_path,
        &format!("{page_path}/assets"),
        &[
            ("name", "Audit log archive"),
            ("description", "Write-once archive of audit events"),
            ("impact", "high"),
            ("i", "1"),
            ("a", "1"),
            ("rationale", "tamper evidence"),
        ],
    );
    r.assert_redirect(&page_path);
    web.get(&page_path)
        .assert_page(200, "Asset “Audit log archive” added.");
    let m = model_json(&web, &id);
    let aid = id_by_name(&m, "assets", "Audit log archive").expect("asset added");
    let asset = m["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .find(|a| a["id"] == aid.as_str())
        .expect("asset");
    assert_eq!(asset["impact"], "high");
    assert_eq!(
        m["version"].as_u64(),
        before["version"].as_u64().map(|v| v + 1)
    );

    // Edit it.
    web.submit(
        &page_path,
        &format!("{page_path}/assets/{aid}/edit"),
        &[
            ("name", "Audit archive"),
            ("description", "WORM bucket"),
            ("impact", "low"),
            ("c", "1"),
        ],
    )
    .assert_redirect(&page_path);
    let m = model_json(&web, &id);
    assert_eq!(
        id_by_name(&m, "assets", "Audit archive").as_deref(),
        Some(aid.as_str())
    );

    // Invalid input is refused by the domain with an error message, nothing changes.
    web.submit(
        &page_path,
        &format!("{page_path}/assets"),
        &[("name", ""), ("impact", "high"), ("c", "1")],
    )
    .assert_redirect(&page_path);
    let after_bad = web.get(&page_path);
    assert!(
        after_bad.body.contains("flash-error") || after_bad.body.contains("alert-error"),
        "{}",
        after_bad.body
    );
    assert_eq!(model_json(&web, &id)["version"], m["version"]);

    // Remove it.
    web.submit(
        &page_path,
        &format!("{page_path}/assets/{aid}/remove"),
        &[("reason", "merged")],
    )
    .assert_redirect(&page_path);
    assert!(id_by_name(&model_json(&web, &id), "assets", "Audit archive").is_none());

    // Add, edit and remove an attacker.
    web.submit(
        &page_path,
        &format!("{page_path}/attackers"),
        &[
            ("name", "Rogue contractor"),
            ("position", "insider"),
            ("likelihood", "medium"),
            ("c", "1"),
            ("capability", "VPN access"),
        ],
    )
    .assert_redirect(&page_path);
    let tid = id_by_name(&model_json(&web, &id), "attackers", "Rogue contractor")
        .expect("attacker added");
    web.submit(
        &page_path,
        &format!("{page_path}/attackers/{tid}/edit"),
        &[
            ("name", "Rogue admin"),
            ("position", "internal"),
            ("likelihood", "high"),
            ("i", "1"),
        ],
    )
    .assert_redirect(&page_path);
    let m = model_json(&web, &id);
    let att = m["attackers"]
        .as_array()
        .expect("attackers")
        .iter()
        .find(|a| a["id"] == tid.as_str())
        .expect("attacker")
        .clone();
    assert_eq!(att["name"], "Rogue admin");
    assert_eq!(att["position"], "internal");
    web.submit(
        &page_path,
        &format!("{page_path}/attackers/{tid}/remove"),
        &[],
    )
    .assert_redirect(&page_path);
    assert!(id_by_name(&model_json(&web, &id), "attackers", "Rogue admin").is_none());

    // Control status: in progress works; implemented needs an assertion first.
    let cid = m["controls"][0]["id"]
        .as_str()
        .expect("control")
        .to_string();
    web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/status"),
        &[("status", "in_progress"), ("notes", "rolling out")],
    )
    .assert_redirect(&page_path);
    let m = model_json(&web, &id);
    let ctl = m["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["id"] == cid.as_str())
        .expect("control")
        .clone();
    assert_eq!(ctl["status"], "in_progress");
    web.get(&page_path);
    web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/status"),
        &[("status", "implemented")],
    )
    .assert_redirect(&page_path);
    web.get(&page_path)
        .assert_page(200, "needs at least one assertion");

    // Another user: the friendly 404, and their forms cannot touch it.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    other.get(&page_path).assert_page(404, "Page not found");
    let r = other.submit(
        "/models",
        &format!("{page_path}/assets"),
        &[("name", "x"), ("impact", "high"), ("c", "1")],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    // And no CSRF token, no change.
    assert_eq!(
        web.post(&format!("{page_path}/attackers/{tid}/remove"), &[])
            .status,
        403
    );
}

#[test]
fn assurance_page_assertions_and_finding_lifecycle() {
    let dir = TestDir::new("pages-assurance");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "other@example.com", "user");
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let m = model_json(&web, &id);
    let cid = m["controls"][0]["id"]
        .as_str()
        .expect("control")
        .to_string();
    let path = format!("/models/{id}/assurance");

    let page = web.get(&path);
    page.assert_page(200, &format!("id=\"control-{cid}\""));
    for marker in [
        "id=\"no-repos\"",
        "id=\"types-table\"",
        "function_exists",
        "data-verification=\"unverified\"",
    ] {
        assert!(page.body.contains(marker), "{marker}");
    }
    assert!(
        web.get(&format!("/models/{id}"))
            .body
            .contains(&format!("href=\"{path}\""))
    );
    web.get("/assurance")
        .assert_page(200, &format!("href=\"{path}\""));

    // Add an assertion from key=value lines; it is stored through the assurance service.
    web.submit(
        &path,
        &format!("{path}/assertions"),
        &[
            ("control_id", &cid),
            ("type", "function_exists"),
            ("params", "file=src/auth.py\nname=check_password"),
            ("description", "password check exists"),
        ],
    )
    .assert_redirect(&path);
    let added = web.get(&path);
    added.assert_page(200, &format!("Assertion added to {cid}."));
    assert!(added.body.contains("check_password"), "{}", added.body);
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, list) = json(api.get(&format!("/api/models/{id}/assertions")));
    assert_eq!(status, 200, "{list}");
    let text = list.to_string();
    assert!(
        text.contains("check_password") && text.contains("function_exists"),
        "{text}"
    );
    let aid = between(&added.body, "id=\"assertion-", "\"").to_string();

    // An unknown type or bad params line is refused inline (422), nothing stored.
    web.submit(
        &path,
        &format!("{path}/assertions"),
        &[
            ("control_id", &cid),
            ("type", "no_such_type"),
            ("params", "a=b"),
        ],
    )
    .assert_page(422, "Unknown assertion type");
    web.submit(
        &path,
        &format!("{path}/assertions"),
        &[
            ("control_id", &cid),
            ("type", "function_exists"),
            ("params", "just words"),
        ],
    )
    .assert_page(422, "expected key=value");

    // Delete it.
    web.submit(&path, &format!("{path}/assertions/{aid}/delete"), &[])
        .assert_redirect(&path);
    assert!(
        !web.get(&path)
            .body
            .contains(&format!("id=\"assertion-{aid}\""))
    );

    // Findings: acknowledge, then dismissing needs a reason.
    let (status, fnd) = json(api.post(
        &format!("/api/models/{id}/findings"),
        serde_json::json!({"findings": [{"title": "No rate limit on login", "severity": "high", "control_id": cid}]}),
    ));
    assert_eq!(status, 201, "{fnd}");
    let fid = fnd["findings"][0]["id"].as_str().expect("id").to_string();
    let page = web.get(&path);
    assert!(page.body.contains("No rate limit on login"));
    assert!(page.body.contains("data-finding-status=\"discovered\""));
    let tr = format!("{path}/findings/{fid}/transition");
    web.submit(&path, &tr, &[("status", "acknowledged")])
        .assert_redirect(&path);
    assert!(
        web.get(&path)
            .body
            .contains("data-finding-status=\"acknowledged\"")
    );
    web.submit(&path, &tr, &[("status", "dismissed"), ("reason", "")])
        .assert_page(422, "requires a reason");
    web.submit(
        &path,
        &tr,
        &[("status", "dismissed"), ("reason", "handled by the WAF")],
    )
    .assert_redirect(&path);
    let page = web.get(&path);
    assert!(page.body.contains("data-finding-status=\"dismissed\""));
    assert!(page.body.contains("handled by the WAF"));

    // Another tenant: the friendly 404, and no writes.
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    other.get(&path).assert_page(404, "Page not found");
    let r = other.submit(
        "/models",
        &format!("{path}/assertions"),
        &[
            ("control_id", &cid),
            ("type", "function_exists"),
            ("params", "file=a\nname=b"),
        ],
    );
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn workspace_security_settings() {
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::{EncodePublicKey, LineEnding};

    let dir = TestDir::new("pages-security");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let path = "/settings/security";
    let page = web.get(path);
    page.assert_page(200, "No key uploaded");
    assert!(
        web.get("/settings/account")
            .body
            .contains("href=\"/settings/security\"")
    );

    // A bad key is refused with a message.
    web.submit(
        path,
        "/settings/security/ci-key",
        &[("public_key_pem", "not a key")],
    )
    .assert_redirect(path);
    web.get(path).assert_page(200, "public_key_pem");

    let pem = SigningKey::from_slice(&[7u8; 32])
        .expect("key")
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    web.submit(
        path,
        "/settings/security/ci-key",
        &[("public_key_pem", &pem)],
    )
    .assert_redirect(path);
    let page = web.get(path);
    page.assert_page(200, "CI public key uploaded");
    assert!(
        page.body.contains("id=\"ci-key-fingerprint\""),
        "{}",
        page.body
    );
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let ws = between(&page.body, "data-workspace=\"", "\"").to_string();
    let (status, sec) = json(api.get(&format!("/api/workspaces/{ws}/security")));
    assert_eq!(status, 200, "{sec}");
    let fp = sec["ci_key"]["fingerprint"].as_str().expect("fingerprint");
    assert!(page.body.contains(fp));

    // Policy: toggle, issuers and claims round-trip through the service.
    web.submit(
        path,
        "/settings/security/policy",
        &[
            ("require_attestation", "1"),
            ("trusted_issuers", "https://gitlab.example.com\n"),
            ("required_claims", "repository=acme/shop"),
        ],
    )
    .assert_redirect(path);
    let (_, sec) = json(api.get(&format!("/api/workspaces/{ws}/security")));
    assert_eq!(sec["require_attestation"], true);
    assert_eq!(sec["trusted_issuers"][0], "https://gitlab.example.com");
    assert_eq!(sec["required_claims"]["repository"], "acme/shop");
    let page = web.get(path);
    assert!(page.body.contains("id=\"require-attestation\" checked"));
    // Non-https issuers are refused; the toggle goes off when unchecked.
    web.submit(
        path,
        "/settings/security/policy",
        &[("trusted_issuers", "http://insecure.example.com")],
    )
    .assert_redirect(path);
    web.get(path).assert_page(200, "https://");
    web.submit(
        path,
        "/settings/security/policy",
        &[("trusted_issuers", "")],
    )
    .assert_redirect(path);
    let (_, sec) = json(api.get(&format!("/api/workspaces/{ws}/security")));
    assert_eq!(sec["require_attestation"], false);
}
