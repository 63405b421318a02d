//! HTTP-level tests of the model pages through the real binary: new model → live job page
//! (SSE) → model page, tenant isolation, CSRF.

use crate::harness::{PASSWORD, TestDir, appliance_without_mfa, cli_user};
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
