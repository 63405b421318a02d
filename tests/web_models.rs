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
    // Finished before the page was opened: every step is rendered done with its summary, no
    // step is left reading "pending" (the built-in engine is faster than the page load).
    assert_eq!(
        job.body.matches("class=\"step step-done\"").count(),
        6,
        "{}",
        job.body
    );
    assert!(!job.body.contains("step-pending"), "{}", job.body);
    assert!(
        !job.body.contains("<p class=\"step-summary\"></p>"),
        "every step has its summary: {}",
        job.body
    );
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
    let m = model_json(&web, &id);
    let aid = id_by_name(&m, "assets", "Audit log archive").expect("asset added");
    web.get(&page_path)
        .assert_page(200, &format!("Asset {aid} “Audit log archive” added."));
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

    // Invalid input is refused by the domain with an inline error, nothing changes.
    let bad = web.submit(
        &page_path,
        &format!("{page_path}/assets"),
        &[("name", ""), ("impact", "high"), ("c", "1")],
    );
    bad.assert_page(422, "Name must not be empty.");
    assert!(bad.body.contains("field-error"), "{}", bad.body);
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
    .assert_page(422, "needs at least one assertion");

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
    // The sufficiency verdict is explained on the page with the judge that gave it.
    let (_, report) = json(
        Client::login(&app, "admin@example.com", PASSWORD)
            .get(&format!("/api/models/{id}/verification/report")),
    );
    let verdict = report["control_details"]
        .as_array()
        .and_then(|d| d.iter().find(|x| x["control_id"] == cid.as_str()))
        .map(|x| {
            x["sufficiency"]["details"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .expect("sufficiency of the control");
    assert!(
        added
            .body
            .contains(&format!("Sufficiency (rules): {}", escape_html(&verdict))),
        "{verdict}\n{}",
        added.body
    );
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
        &[("public_key_pem", "not a key"), ("password", PASSWORD)],
    )
    .assert_redirect(path);
    web.get(path).assert_page(200, "public_key_pem");

    let pem = SigningKey::from_slice(&[7u8; 32])
        .expect("key")
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    // Without the password (or with a wrong one) nothing changes (issue 15 item 3).
    for creds in [&[][..], &[("password", "wrong-password-1")][..]] {
        let mut fields = vec![("public_key_pem", pem.as_str())];
        fields.extend_from_slice(creds);
        web.submit(path, "/settings/security/ci-key", &fields)
            .assert_redirect(path);
        let page = web.get(path);
        page.assert_page(200, "password");
        assert!(page.body.contains("No key uploaded"), "{}", page.body);
    }
    web.submit(
        path,
        "/settings/security/ci-key",
        &[("public_key_pem", &pem), ("password", PASSWORD)],
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
            ("password", PASSWORD),
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
        &[
            ("trusted_issuers", "http://insecure.example.com"),
            ("password", PASSWORD),
        ],
    )
    .assert_redirect(path);
    web.get(path).assert_page(200, "https://");
    web.submit(
        path,
        "/settings/security/policy",
        &[("trusted_issuers", ""), ("password", PASSWORD)],
    )
    .assert_redirect(path);
    let (_, sec) = json(api.get(&format!("/api/workspaces/{ws}/security")));
    assert_eq!(sec["require_attestation"], false);
}

/// The first control of a model (id) and the first asset and attacker ids.
fn first_ids(m: &serde_json::Value) -> (String, String, String) {
    let s = |v: &serde_json::Value| v.as_str().expect("id").to_string();
    (
        s(&m["controls"][0]["id"]),
        s(&m["assets"][0]["id"]),
        s(&m["attackers"][0]["id"]),
    )
}

/// A refused form submission: action, fields, the inline error expected, and submitted text
/// that must come back in the re-rendered form.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);

#[test]
fn model_page_forms_refuse_bad_input_inline_and_change_nothing() {
    let dir = TestDir::new("pages-model-invalid");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let page_path = format!("/models/{id}");
    let before = model_json(&web, &id);
    let (cid, aid, tid) = first_ids(&before);
    let long = "x".repeat(4001);
    let keep = "keep-this-input-42";

    // (action, fields, inline error expected, submitted text that must come back)
    let cases: Vec<Case> = vec![
        (
            format!("{page_path}/assets"),
            vec![
                ("name", ""),
                ("impact", "high"),
                ("c", "1"),
                ("description", keep),
            ],
            "Name must not be empty.",
            keep,
        ),
        (
            format!("{page_path}/assets"),
            vec![("name", keep), ("impact", "high")],
            "Choose at least one property (C, I, A or U).",
            keep,
        ),
        (
            format!("{page_path}/assets"),
            vec![("name", keep), ("impact", "catastrophic"), ("c", "1")],
            "Choose a valid impact.",
            keep,
        ),
        (
            format!("{page_path}/assets"),
            vec![
                ("name", keep),
                ("impact", "low"),
                ("c", "1"),
                ("description", &long),
            ],
            "Description is 4001 characters, at most 4000 allowed.",
            keep,
        ),
        (
            format!("{page_path}/assets/{aid}/edit"),
            vec![
                ("name", "  "),
                ("impact", "low"),
                ("c", "1"),
                ("rationale", keep),
            ],
            "Name must not be empty.",
            keep,
        ),
        (
            format!("{page_path}/assets/{aid}/remove"),
            vec![("reason", &long)],
            "Reason is 4001 characters, at most 4000 allowed.",
            &long,
        ),
        (
            format!("{page_path}/attackers"),
            vec![
                ("name", keep),
                ("position", "on the moon"),
                ("likelihood", "low"),
            ],
            "Choose a valid position.",
            keep,
        ),
        (
            format!("{page_path}/attackers/{tid}/edit"),
            vec![
                ("name", ""),
                ("position", "external"),
                ("likelihood", "high"),
                ("capability", keep),
                ("c", "1"),
            ],
            "Name must not be empty.",
            keep,
        ),
        (
            format!("{page_path}/attackers/{tid}/remove"),
            vec![("reason", &long)],
            "Reason is 4001 characters, at most 4000 allowed.",
            &long,
        ),
        (
            format!("{page_path}/controls/{cid}/status"),
            vec![("status", "done-ish"), ("notes", keep)],
            "Choose a valid control status.",
            keep,
        ),
        (
            format!("{page_path}/controls/{cid}/status"),
            vec![("status", "implemented"), ("notes", keep)],
            "needs at least one assertion",
            keep,
        ),
        (
            format!("{page_path}/controls/{cid}/status"),
            vec![("status", "not_implemented"), ("notes", &long)],
            "Notes is 4001 characters, at most 4000 allowed.",
            &long,
        ),
        (
            format!("{page_path}/controls/{cid}/evidence"),
            vec![("title", " "), ("reference", keep)],
            "Title must not be empty.",
            keep,
        ),
        (
            format!("{page_path}/conversation"),
            vec![("message", "   "), ("mode", "auto")],
            "Message must not be empty.",
            "",
        ),
        (
            format!("{page_path}/conversation"),
            vec![("message", &long), ("mode", "query")],
            "Message must be at most 4000 characters.",
            &long,
        ),
        (
            format!("{page_path}/conversation"),
            vec![("message", keep), ("mode", "shout")],
            "Choose a valid mode.",
            keep,
        ),
    ];
    for (action, fields, error, kept) in &cases {
        let r = web.submit(&page_path, action, fields);
        assert_eq!(r.status, 422, "{action} {fields:?}: {}", r.body);
        assert!(r.body.contains("field-error") || r.body.contains("form-general-error"));
        assert!(
            r.body.contains(error),
            "{action}: expected {error:?} in:\n{}",
            r.body
        );
        assert!(r.body.contains(kept), "{action}: input not kept");
        if ["/assets", "/attackers", "/evidence"]
            .iter()
            .any(|p| action.contains(p))
        {
            assert!(
                r.body.contains(" open>"),
                "{action}: the form is not opened"
            );
        }
        assert_eq!(
            model_json(&web, &id),
            before,
            "{action} {fields:?} changed the model"
        );
    }
    // The first control's status is still the generated one.
    assert_eq!(before["controls"][0]["status"], "not_implemented");
    let conv = web.get(&format!("/api/models/{id}/conversation"));
    assert_eq!(conv.body.trim(), "[]", "refused messages are not kept");

    // No CSRF token: refused, nothing changed.
    for (action, fields) in [
        (
            format!("{page_path}/controls/{cid}/evidence"),
            vec![("title", "x")],
        ),
        (
            format!("{page_path}/controls/{cid}/status"),
            vec![("status", "in_progress"), ("notes", "x")],
        ),
        (
            format!("{page_path}/conversation"),
            vec![
                ("message", "Add a database admin attacker"),
                ("mode", "refine"),
            ],
        ),
        (
            format!("{page_path}/assets/{aid}/remove"),
            vec![("reason", "x")],
        ),
    ] {
        web.post(&action, &fields)
            .assert_page(403, "This form has expired");
        let mut wrong = vec![("csrf_token", "not-the-token")];
        wrong.extend(fields.iter().copied());
        assert_eq!(web.post(&action, &wrong).status, 403);
    }
    assert_eq!(model_json(&web, &id), before);

    // The last asset cannot go: a form-level error on its remove form, nothing changes.
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let assets: Vec<String> = before["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_string())
        .collect();
    for a in &assets[1..] {
        let r = api.delete(&format!("/api/models/{id}/assets/{a}"));
        assert_eq!(r.status().as_u16(), 200);
    }
    let one_left = model_json(&web, &id);
    let last = &assets[0];
    let r = web.submit(
        &page_path,
        &format!("{page_path}/assets/{last}/remove"),
        &[("reason", "cleanup")],
    );
    r.assert_page(422, "a threat model must keep at least one asset");
    assert!(r.body.contains("form-general-error"));
    assert!(r.body.contains("value=\"cleanup\""));
    assert_eq!(model_json(&web, &id), one_left);
}

#[test]
fn control_notes_and_evidence_are_edited_on_the_model_page() {
    let dir = TestDir::new("pages-model-controls");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let page_path = format!("/models/{id}");
    let before = model_json(&web, &id);
    let (cid, _, _) = first_ids(&before);
    let control = |m: &serde_json::Value| {
        m["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .find(|c| c["id"] == cid.as_str())
            .expect("control")
            .clone()
    };

    // Notes only (status kept): saved, status unchanged.
    web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/status"),
        &[
            ("status", "not_implemented"),
            ("notes", "Rate limiter <nginx> & WAF"),
        ],
    )
    .assert_redirect(&page_path);
    let page = web.get(&page_path);
    page.assert_page(200, &format!("Notes of {cid} saved."));
    assert!(page.body.contains("Rate limiter &#60;nginx&#62; &#38; WAF"));
    let m = model_json(&web, &id);
    assert_eq!(
        control(&m)["implementation_notes"],
        "Rate limiter <nginx> & WAF"
    );
    assert_eq!(control(&m)["status"], "not_implemented");
    assert_eq!(
        m["version"].as_u64(),
        before["version"].as_u64().map(|v| v + 1)
    );

    // Status and notes together.
    web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/status"),
        &[("status", "in_progress"), ("notes", "rolling out")],
    )
    .assert_redirect(&page_path);
    web.get(&page_path)
        .assert_page(200, &format!("{cid} marked in progress."));
    let m = model_json(&web, &id);
    assert_eq!(control(&m)["status"], "in_progress");
    assert_eq!(control(&m)["implementation_notes"], "rolling out");

    // Evidence: add two, remove one.
    for (title, reference) in [
        ("Limiter middleware", "src/limits.rs"),
        ("Pen test report", "https://tickets.example/SEC-12"),
    ] {
        web.submit(
            &page_path,
            &format!("{page_path}/controls/{cid}/evidence"),
            &[("title", title), ("reference", reference)],
        )
        .assert_redirect(&page_path);
    }
    let page = web.get(&page_path);
    page.assert_page(200, &format!("Evidence EV2 added to {cid}."));
    assert!(page.body.contains(&format!("id=\"evidence-{cid}-EV1\"")));
    assert!(page.body.contains("https://tickets.example/SEC-12"));
    let m = model_json(&web, &id);
    let ev = control(&m)["evidence"].clone();
    assert_eq!(ev.as_array().map(Vec::len), Some(2), "{ev}");
    assert_eq!(ev[0]["title"], "Limiter middleware");
    assert_eq!(ev[0]["reference"], "src/limits.rs");
    web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/evidence/EV1/remove"),
        &[],
    )
    .assert_redirect(&page_path);
    let m = model_json(&web, &id);
    let ev = control(&m)["evidence"].clone();
    assert_eq!(ev.as_array().map(Vec::len), Some(1), "{ev}");
    assert_eq!(ev[0]["id"], "EV2");
    // An unknown evidence id is a 404, nothing changes.
    let r = web.submit(
        &page_path,
        &format!("{page_path}/controls/{cid}/evidence/EV9/remove"),
        &[],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(model_json(&web, &id), m);

    // The activity feed names the web as the source of these changes.
    let activity = web.get("/api/activity");
    assert!(
        activity.body.contains(&format!("notes of {cid} updated")),
        "{}",
        activity.body
    );
    assert!(activity.body.contains("\"source\":\"web\""));
}

#[test]
fn conversation_panel_answers_and_refines() {
    let dir = TestDir::new("pages-model-conversation");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let page_path = format!("/models/{id}");
    let page = web.get(&page_path);
    page.assert_page(200, "id=\"conversation-empty\"");
    assert!(
        page.body
            .contains(&format!("action=\"{page_path}/conversation\""))
    );

    // A query (chosen mode): answered in the page's history, the model unchanged.
    let before = model_json(&web, &id);
    web.submit(
        &page_path,
        &format!("{page_path}/conversation"),
        &[
            ("message", "What are the highest-risk assets?"),
            ("mode", "query"),
        ],
    )
    .assert_redirect(&page_path);
    let page = web.get(&page_path);
    page.assert_page(200, "Answered");
    let history = between(&page.body, "id=\"conversation-history\"", "</ol>");
    assert!(
        history.contains("What are the highest-risk assets?"),
        "{history}"
    );
    assert_eq!(
        history
            .matches("data-role=\"assistant\" data-intent=\"query\"")
            .count(),
        1
    );
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, conv) = json(api.get(&format!("/api/models/{id}/conversation")));
    let answer = conv[1]["content"].as_str().expect("answer");
    assert!(!answer.is_empty());
    // The longest run of plain words of the answer is shown as is.
    let words = answer
        .split(|c: char| !c.is_alphanumeric() && c != ' ')
        .max_by_key(|w| w.len())
        .expect("words");
    assert!(words.len() > 5, "{answer}");
    assert!(history.contains(words), "{words:?} not in {history}");
    assert_eq!(model_json(&web, &id), before);

    // A refinement (automatic mode): the model changes and the page shows the new version.
    let attackers = before["attackers"].as_array().expect("attackers").len();
    web.submit(
        &page_path,
        &format!("{page_path}/conversation"),
        &[
            ("message", "Add a database admin attacker"),
            ("mode", "auto"),
        ],
    )
    .assert_redirect(&page_path);
    let after = model_json(&web, &id);
    assert_eq!(
        after["attackers"].as_array().expect("attackers").len(),
        attackers + 1
    );
    let version = after["version"].as_u64().expect("version");
    assert!(version > before["version"].as_u64().expect("version"));
    let page = web.get(&page_path);
    page.assert_page(200, &format!("Model updated to version {version}"));
    assert!(
        page.body
            .contains(&format!("id=\"model-version\">{version}<"))
    );
    let new_attacker = after["attackers"]
        .as_array()
        .expect("attackers")
        .last()
        .expect("attacker");
    let new_id = new_attacker["id"].as_str().expect("id");
    assert!(page.body.contains(&format!("id=\"attacker-{new_id}\"")));
    assert!(page.body.contains("data-intent=\"refine\""));

    // Generate mode starts a job and follows it on the live page.
    let r = web.submit(
        &page_path,
        &format!("{page_path}/conversation"),
        &[
            (
                "message",
                "A mobile banking app with a REST API, a Postgres ledger and push notifications.",
            ),
            ("mode", "generate"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location().starts_with("/models/jobs/"),
        "{}",
        r.location()
    );
}

#[test]
fn trust_boundary_diagram_is_inline_svg_with_escaped_names() {
    let dir = TestDir::new("pages-model-diagram");
    let app = appliance_without_mfa(&dir);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let (_, id) = generate(&web);
    let page_path = format!("/models/{id}");
    let m = model_json(&web, &id);
    let boundaries = m["trust_boundaries"]
        .as_array()
        .expect("boundaries")
        .clone();
    assert!(
        !boundaries.is_empty(),
        "the built-in engine draws boundaries: {m}"
    );

    // A boundary asset gets a name full of markup.
    let aid = boundaries[0]["assets"][0]
        .as_str()
        .expect("asset in boundary")
        .to_string();
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let evil = "<img src=x onerror=alert(1)> & \"orders\"";
    let (status, body) = json(api.patch(
        &format!("/api/models/{id}/assets/{aid}"),
        serde_json::json!({"name": evil}),
    ));
    assert_eq!(status, 200, "{body}");

    let page = web.get(&page_path);
    page.assert_page(
        200,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tb-diagram\"",
    );
    let svg = between(&page.body, "<svg xmlns", "</svg>");
    assert!(svg.contains("role=\"img\""));
    assert!(svg.contains("aria-labelledby=\"tb-diagram-title tb-diagram-desc\""));
    for b in &boundaries {
        let bid = b["id"].as_str().expect("id");
        assert!(svg.contains(&format!("data-boundary=\"{bid}\"")), "{bid}");
        let name = b["name"].as_str().expect("name");
        let shown: String = name.chars().take(20).collect();
        assert!(
            svg.contains(&shown.replace('&', "&amp;").replace('<', "&lt;")),
            "{name}"
        );
    }
    assert!(svg.contains(&format!("data-asset=\"{aid}\"")));
    // Escaped in full inside the title, never raw.
    assert!(
        svg.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;orders&quot;"),
        "{svg}"
    );
    assert!(!page.body.contains("<img src=x"), "raw markup leaked");
    // Every attacker appears by id.
    for a in m["attackers"].as_array().expect("attackers") {
        let tid = a["id"].as_str().expect("id");
        assert!(svg.contains(&format!("data-attacker=\"{tid}\"")), "{tid}");
    }
    // Deterministic: the same model renders the same SVG.
    let again = web.get(&page_path);
    assert_eq!(between(&again.body, "<svg xmlns", "</svg>"), svg);
    // Strict CSP still holds (no inline style attribute).
    assert!(!svg.contains(" style="));
    assert!(
        page.header("content-security-policy")
            .contains("style-src 'self'")
    );
}

/// Text as askama's HTML escaper writes it (numeric entities).
fn escape_html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}
