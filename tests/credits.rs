//! Credits through the real binary: an admin-set allowance consumed by LLM operations (the
//! fake OpenAI-compatible server of `llm.rs`), refusal at zero with 402 before any work,
//! cached answers and the built-in engine free, adjustments in the activity feed and the
//! audit log, bad input refused with nothing changed, and the CLI.

use chrono::Datelike as _;
use serde_json::{Value, json};

use crate::harness::{
    Client, PASSWORD, TestDir, appliance_without_mfa, cli_user, json, stdout_json,
};
use crate::llm::{FakeLlm, LEDGER, OTHER, generate, start, user};

const THIRD: &str =
    "A ticketing system where support agents read customer emails and issue refunds.";

fn me_id(client: &Client) -> String {
    let (status, me) = json(client.get("/api/me"));
    assert_eq!(status, 200, "{me}");
    me["user"]["id"].as_str().expect("user id").to_string()
}

fn credits(client: &Client) -> Value {
    let (status, c) = json(client.get("/api/me/credits"));
    assert_eq!(status, 200, "{c}");
    c
}

/// `(operation, amount)` of the newest ledger entry of a `/api/me/credits` answer.
fn latest_entry(c: &Value) -> (Value, Value) {
    (
        c["recent"][0]["operation"].clone(),
        c["recent"][0]["amount"].clone(),
    )
}

fn put(client: &Client, path: &str, body: Value) -> (u16, Value) {
    json(client.send("PUT", path, Some(&body)))
}

#[test]
fn llm_operations_consume_the_allowance_and_are_refused_at_zero_with_402() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("credits-llm");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let alice_id = me_id(&alice);

    // No allowance: not metered, the display still works.
    let c = credits(&alice);
    assert_eq!(c["balance"], Value::Null, "{c}");
    assert_eq!(c["metered"], false);
    assert_eq!(c["costs"]["generation"], 10);
    assert!(
        c["resets_at"]
            .as_str()
            .expect("resets_at")
            .ends_with("-01T00:00:00Z")
    );

    let path = format!("/api/admin/credits/users/{alice_id}");
    let (status, body) = put(
        &admin,
        &path,
        json!({"monthly_allowance": 25, "reason": "pilot"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["credits"]["balance"], 25);

    // A generation through the LLM costs 10; the same one again comes from the cache: free.
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let c = credits(&alice);
    assert_eq!(
        (c["balance"].clone(), c["used"].clone()),
        (json!(15), json!(10)),
        "{c}"
    );
    assert_eq!(latest_entry(&c), (json!("generation"), json!(-10)), "{c}");
    let (status, again) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        credits(&alice)["balance"],
        15,
        "a cached generation is free"
    );
    let (status, other) = generate(&alice, OTHER);
    assert_eq!(status, 201, "{other}");
    let c = credits(&alice);
    assert_eq!(c["balance"], 5, "{c}");

    // Settings › Usage shows the same account from the same service: balance, use, the
    // two charged generations (the cached one is not there) and the cost table.
    let web = crate::web_pages::Web::new(&app);
    web.sign_in("alice@example.com", PASSWORD);
    let page = web.get("/settings/usage");
    page.assert_page(200, "your own allowance");
    let balance = crate::web_pages::between(&page.body, "id=\"credit-balance\">", "</dd>");
    assert_eq!(balance, "5 credits", "{}", page.body);
    let used = crate::web_pages::between(&page.body, "id=\"credit-used\">", "</dd>");
    assert_eq!(used, "20 credits (80%)");
    let ledger = crate::web_pages::between(&page.body, "id=\"credit-ledger\"", "</table>");
    assert_eq!(ledger.matches("<td>generation</td>").count(), 2, "{ledger}");
    assert_eq!(ledger.matches("<td>-10</td>").count(), 2, "{ledger}");
    assert!(
        page.body.contains("<td>compliance_mapping</td><td>2</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("w-80"), "the bar shows 80%");

    // 5 left: a new generation is refused before any work, with the balance and the reset.
    let calls = fake.count();
    for wait in [true, false] {
        let path = if wait {
            "/api/models?wait=true"
        } else {
            "/api/models"
        };
        let (status, err) = json(alice.post(path, json!({"feature_description": THIRD})));
        assert_eq!(status, 402, "{err}");
        assert_eq!(err["error"]["code"], "credits_exhausted");
        assert_eq!(err["error"]["balance"], 5);
        assert_eq!(err["error"]["cost"], 10);
        let message = err["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("has 5 left") && message.contains("resets at"),
            "{message}"
        );
        assert_eq!(err["error"]["resets_at"], c["resets_at"]);
        assert!(err.get("job_id").is_none());
    }
    assert_eq!(
        fake.count(),
        calls,
        "the refused generations never reached the LLM"
    );
    let (_, list) = json(alice.get("/api/models"));
    assert_eq!(
        list.as_array().expect("list").len(),
        3,
        "nothing saved: {list}"
    );

    // A question costs 1.
    let id = model["id"].as_str().expect("id");
    let (status, answer) = json(alice.post(
        &format!("/api/models/{id}/query"),
        json!({"question": "which assets are most at risk?"}),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(credits(&alice)["balance"], 4);

    // Bad input changes nothing.
    let adj = format!("{path}/adjustments");
    for (body, field) in [
        (json!({"amount": "ten"}), "amount"),
        (json!({"amount": 1.5}), "amount"),
        (json!({"amount": 0}), "amount"),
        (json!({"amount": 1_000_000_000_000i64}), "amount"),
        (json!({"amount": -3}), "reason"),
        (json!({"amount": -3, "reason": "   "}), "reason"),
        (json!({"amount": 3, "note": "x"}), "note"),
    ] {
        let (status, err) = json(admin.post(&adj, body.clone()));
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    for (body, field) in [
        (json!({"monthly_allowance": "lots"}), "monthly_allowance"),
        (json!({"monthly_allowance": -1}), "monthly_allowance"),
        (json!({"reason": "x"}), "monthly_allowance"),
    ] {
        let (status, err) = put(&admin, &path, body.clone());
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"]["field"], field, "{body} → {err}");
    }
    let (status, _) = json(admin.post(
        "/api/admin/credits/users/00000000-0000-4000-8000-000000000000/adjustments",
        json!({"amount": 5}),
    ));
    assert_eq!(status, 404);
    let (status, _) = json(admin.post(
        "/api/admin/credits/orgs/nope/adjustments",
        json!({"amount": 5}),
    ));
    assert_eq!(status, 404);
    let (status, _) = json(alice.post(&adj, json!({"amount": 500})));
    assert_eq!(status, 403, "users cannot grant themselves credits");
    let (status, _) = put(&alice, &path, json!({"monthly_allowance": 1000}));
    assert_eq!(status, 403);
    assert_eq!(credits(&alice)["balance"], 4, "nothing changed");

    // An adjustment: in the ledger, the user's activity feed and the admin audit events.
    let (status, done) = json(admin.post(&adj, json!({"amount": 100, "reason": "quarter start"})));
    assert_eq!(status, 201, "{done}");
    assert_eq!(
        done["summary"],
        "+100 credits to alice@example.com (reason: quarter start)"
    );
    assert_eq!(done["balance"]["balance"], 104);
    let (_, feed) = json(alice.get("/api/activity"));
    assert!(
        feed.as_array()
            .expect("feed")
            .iter()
            .any(|a| a["kind"] == "credit_adjustment"
                && a["summary"] == "+100 credits to alice@example.com (reason: quarter start)"),
        "{feed}"
    );
    let (_, events) = json(admin.get("/api/admin/events"));
    assert!(
        events
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "credit_adjustment"
                && e["subject"] == alice_id.as_str()
                && e["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("+100 credits to alice")),
        "{events}"
    );

    // A deduction to zero: generation is refused before the LLM sees it; querying the
    // existing model still works (spec 01), recorded without a charge.
    let (status, done) = json(admin.post(&adj, json!({"amount": -104, "reason": "trial expired"})));
    assert_eq!(status, 201, "{done}");
    assert_eq!(
        done["summary"],
        "-104 credits from alice@example.com (reason: trial expired)"
    );
    let calls = fake.count();
    let (status, err) = generate(&alice, THIRD);
    assert_eq!(status, 402, "{err}");
    assert_eq!(err["error"]["balance"], 0);
    assert_eq!(fake.count(), calls);
    let (status, answer) = json(alice.post(
        &format!("/api/models/{id}/query"),
        json!({"question": "what changed since yesterday?"}),
    ));
    assert_eq!(status, 200, "{answer}");
    assert!(fake.count() > calls, "the question reached the LLM");
    let c = credits(&alice);
    assert_eq!(c["balance"], 0, "{c}");
    assert_eq!(latest_entry(&c), (json!("query"), json!(0)), "{c}");
    // Another user without an allowance is not affected.
    let bob = user(&app, &dir, "bob@example.com");
    let (status, body) = generate(&bob, OTHER);
    assert_eq!(status, 201, "{body}");
}

#[test]
fn the_builtin_engine_is_free_and_the_cli_sets_and_adjusts() {
    let dir = TestDir::new("credits-builtin");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let alice = Client::login(&app, "alice@example.com", PASSWORD);

    let cli = |args: &[&str]| {
        dir.cmd()
            .args(["admin", "--json", "credits"])
            .args(args)
            .output()
    };
    let out = cli(&[
        "set",
        "--user",
        "alice@example.com",
        "--monthly",
        "0",
        "--reason",
        "no LLM budget",
    ]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(v["credits"]["balance"], 0, "{v}");
    assert_eq!(v["credits"]["monthly_allowance"], 0);

    // Zero credits, but the built-in engine costs nothing.
    let (status, body) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{body}");
    let c = credits(&alice);
    assert_eq!(
        (c["balance"].clone(), c["used"].clone()),
        (json!(0), json!(0)),
        "{c}"
    );

    let out = cli(&[
        "adjust",
        "--user",
        "alice@example.com",
        "--amount",
        "25",
        "--reason",
        "welcome",
    ]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let v = stdout_json(&out);
    assert_eq!(
        v["summary"],
        "+25 credits to alice@example.com (reason: welcome)"
    );
    assert_eq!(v["balance"]["balance"], 25);
    let out = cli(&[
        "adjust",
        "--user",
        "alice@example.com",
        "--amount",
        "-5",
        "--reason",
        "typo",
    ]);
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    assert_eq!(credits(&alice)["balance"], 20);

    // Refusals: exit 2 for bad input, 1 for an unknown account; nothing changes.
    let out = cli(&["adjust", "--user", "alice@example.com", "--amount", "-5"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_json(&out)["error"]["code"], "invalid_field");
    let out = cli(&["adjust", "--user", "alice@example.com", "--amount", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cli(&["adjust", "--user", "nobody@example.com", "--amount", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout_json(&out)["error"]["code"], "not_found");
    let out = cli(&["set", "--org", "no-such-org", "--monthly", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(credits(&alice)["balance"], 20);

    // The CLI's adjustments are in the audit events, by the operator.
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, events) = json(admin.get("/api/admin/events"));
    assert!(
        events
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "credit_adjustment"
                && e["detail"].as_str().unwrap_or("").contains("(by cli")),
        "{events}"
    );
}

#[test]
fn an_org_pool_pays_for_work_in_its_workspaces_and_org_admins_split_it() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("credits-org");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let bob = user(&app, &dir, "bob@example.com");
    let out = dir
        .cmd()
        .args([
            "admin", "--json", "org", "create", "--name", "Acme", "--slug", "acme",
        ])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let org = stdout_json(&out)["id"]
        .as_str()
        .expect("org id")
        .to_string();
    for (email, role) in [
        ("alice@example.com", "member"),
        ("bob@example.com", "org_admin"),
    ] {
        let out = dir
            .cmd()
            .args([
                "admin",
                "org",
                "add-member",
                "acme",
                "--email",
                email,
                "--role",
                role,
            ])
            .output();
        assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    }
    let ws = crate::tenancy::team(
        &bob,
        "Acme team",
        Some(&org),
        &[("alice@example.com", "member")],
    );
    let out = dir
        .cmd()
        .args([
            "admin",
            "--json",
            "credits",
            "set",
            "--org",
            "acme",
            "--monthly",
            "30",
        ])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));

    // The org admin splits the pool; the shares cannot exceed it; members cannot split.
    let alice_id = me_id(&alice);
    let share = format!("/api/admin/credits/orgs/{org}/members/{alice_id}");
    let (status, err) = put(&bob, &share, json!({"monthly_allowance": 40}));
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "monthly_allowance");
    let (status, _) = put(&alice, &share, json!({"monthly_allowance": 30}));
    assert_eq!(status, 403);
    let (status, body) = put(&bob, &share, json!({"monthly_allowance": 12}));
    assert_eq!(status, 200, "{body}");

    // Alice's generation in the org workspace is paid by the pool, within her share.
    let alice_org = alice.in_workspace(&ws);
    let (status, model) = generate(&alice_org, LEDGER);
    assert_eq!(status, 201, "{model}");
    let c = credits(&alice_org);
    assert_eq!(c["account"], "org", "{c}");
    assert_eq!(c["balance"], 2, "her share's 12 less 10: {c}");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, pool) = json(admin.get(&format!("/api/admin/credits/orgs/{org}")));
    assert_eq!(status, 200, "{pool}");
    assert_eq!(pool["credits"]["balance"], 20, "{pool}");
    let (status, err) = generate(&alice_org, OTHER);
    assert_eq!(status, 402, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("your share of the credit pool of Acme"),
        "{err}"
    );
    // Her personal workspace has no allowance: not metered.
    let (status, body) = generate(&alice, OTHER);
    assert_eq!(status, 201, "{body}");
    assert_eq!(credits(&alice)["account"], "user");
}

#[test]
fn mcp_tools_get_the_same_clear_credits_error() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("credits-mcp");
    let app = start(&dir, &fake, &[]);
    cli_user(&dir, "alice@example.com", "user");
    let out = dir
        .cmd()
        .args([
            "admin",
            "credits",
            "set",
            "--user",
            "alice@example.com",
            "--monthly",
            "5",
        ])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let key = crate::mcp::api_key(&dir, "alice@example.com", "developer");
    let calls = fake.count();
    crate::mcp::runtime().block_on(async {
        let client = crate::mcp::connect(&app, &key).await;
        let msg = crate::mcp::tool_error(
            &client,
            "generate_threat_model",
            json!({"feature_description": THIRD}),
        )
        .await;
        assert!(
            msg.contains("credits_exhausted") && msg.contains("has 5 left"),
            "{msg}"
        );
        client.cancel().await.expect("close");
    });
    assert_eq!(fake.count(), calls, "the LLM was not asked");
}

#[test]
fn notices_at_80_and_100_percent_and_adjustments_are_emailed_once() {
    let dir = TestDir::new("credits-mail");
    let smtp = crate::harness::smtp::Smtp::start(&dir);
    let port = smtp.port.to_string();
    let fake = FakeLlm::start();
    let app = start(
        &dir,
        &fake,
        &[
            ("SMTP_HOST", "127.0.0.1"),
            ("SMTP_PORT", &port),
            ("SMTP_USE_TLS", "false"),
            ("SMTP_FROM_ADDRESS", "rampart@example.com"),
        ],
    );
    let alice = user(&app, &dir, "alice@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let path = format!("/api/admin/credits/users/{}", me_id(&alice));
    let (status, body) = put(&admin, &path, json!({"monthly_allowance": 12}));
    assert_eq!(status, 200, "{body}");
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let m = smtp.wait_for("alice@example.com", 20);
    assert!(
        m.contains("80% of the monthly credits of your account used"),
        "{m}"
    );
    let id = model["id"].as_str().expect("id");
    for q in ["which assets matter most?", "who attacks the ledger?"] {
        let (status, a) =
            json(alice.post(&format!("/api/models/{id}/query"), json!({"question": q})));
        assert_eq!(status, 200, "{a}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !smtp
        .messages()
        .iter()
        .any(|m| m.contains("Credits used up for your account"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            smtp.messages()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (status, done) = json(admin.post(
        &format!("{path}/adjustments"),
        json!({"amount": 50, "reason": "more work"}),
    ));
    assert_eq!(status, 201, "{done}");
    assert!(done["notified"].as_u64().unwrap_or(0) >= 1, "{done}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !smtp
        .messages()
        .iter()
        .any(|m| m.contains("50 credits added to your account"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            smtp.messages()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let eighty = smtp
        .messages()
        .iter()
        .filter(|m| m.contains("80% of the monthly credits"))
        .count();
    assert_eq!(eighty, 1, "the 80% notice is sent once a month");
}

/// Settings › Credits: a superadmin sees every user's balance and sets allowances and
/// adjustments through CSRF-protected forms (the same service as the API: audit log and
/// balances follow); a deduction without a note and a non-number change nothing; other users
/// get 403.
#[test]
fn superadmins_set_allowances_and_adjust_credits_in_the_web_app() {
    use crate::web_pages::{Web, between};
    let dir = TestDir::new("credits-web");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let alice = Client::login(&app, "alice@example.com", PASSWORD);
    let alice_id = me_id(&alice);
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let page = web.get("/settings/credits");
    page.assert_page(200, "alice@example.com");
    assert!(page.body.contains("not metered"), "{}", page.body);
    let allowance = format!("/settings/credits/users/{alice_id}/allowance");
    let adjust = format!("/settings/credits/users/{alice_id}/adjust");

    let r = web.submit(
        "/settings/credits",
        &allowance,
        &[("monthly_allowance", "40"), ("reason", "pilot")],
    );
    r.assert_redirect("/settings/credits");
    let page = web.get("/settings/credits");
    page.assert_page(
        200,
        "Monthly allowance of alice@example.com set to 40 credits.",
    );
    assert_eq!(credits(&alice)["balance"], 40);

    // A deduction needs a note; a word is not a number: nothing changes either time.
    for fields in [
        [("amount", "-5"), ("reason", "")],
        [("amount", "lots"), ("reason", "x")],
    ] {
        web.submit("/settings/credits", &adjust, &fields)
            .assert_redirect("/settings/credits");
        let page = web.get("/settings/credits");
        page.assert_page(200, "Nothing changed");
        assert_eq!(credits(&alice)["balance"], 40);
    }
    web.submit(
        "/settings/credits",
        &adjust,
        &[("amount", "-5"), ("reason", "trial over")],
    )
    .assert_redirect("/settings/credits");
    let page = web.get("/settings/credits");
    page.assert_page(200, "-5 credits from alice@example.com");
    let row = between(&page.body, "data-user=\"alice@example.com\"", "</tr>");
    assert!(row.contains("<td class=\"num balance\">35</td>"), "{row}");
    assert_eq!(credits(&alice)["balance"], 35);

    // The form needs the session's CSRF token, and the page is for superadmins.
    let r = web.post(&adjust, &[("amount", "100"), ("reason", "x")]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(credits(&alice)["balance"], 35);
    let other = Web::new(&app);
    other.sign_in("alice@example.com", PASSWORD);
    assert_eq!(other.get("/settings/credits").status, 403);
    let r = other.submit(
        "/settings/usage",
        &adjust,
        &[("amount", "100"), ("reason", "me")],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(credits(&alice)["balance"], 35);
    let usage = other.get("/settings/usage");
    usage.assert_page(200, "Adjustment: trial over");
}

/// Creates org `name` through the API as `admin` and adds `members` (email, role); its id.
fn api_org(admin: &Client, name: &str, members: &[(&str, &str)]) -> String {
    let (status, org) = json(admin.post("/api/organizations", json!({"name": name})));
    assert_eq!(status, 201, "{org}");
    let id = org["id"].as_str().expect("org id").to_string();
    for (email, role) in members {
        let (status, body) = json(admin.post(
            &format!("/api/organizations/{id}/members"),
            json!({"email": email, "role": role}),
        ));
        assert_eq!(status, 201, "{body}");
    }
    id
}

#[test]
fn org_pools_are_set_by_superadmins_and_split_by_org_admins_in_the_web_app() {
    use crate::web_pages::{Web, between};
    let dir = TestDir::new("credits-web-org");
    let app = crate::tenancy::licensed(&dir, &[]);
    for email in ["alice@example.com", "bob@example.com", "carol@example.com"] {
        cli_user(&dir, email, "user");
    }
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let org = api_org(
        &admin,
        "Acme",
        &[
            ("alice@example.com", "member"),
            ("bob@example.com", "org_admin"),
        ],
    );
    let other = api_org(&admin, "Globex", &[("carol@example.com", "org_admin")]);
    let alice = Client::login(&app, "alice@example.com", PASSWORD);
    let alice_id = me_id(&alice);
    let pool = |id: &str| {
        let (status, body) = json(admin.get(&format!("/api/admin/credits/orgs/{id}")));
        assert_eq!(status, 200, "{body}");
        body["credits"].clone()
    };

    // Superadmin: every org's pool on Settings › Credits, set and adjusted there.
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let page = web.get("/settings/credits");
    page.assert_page(200, "Organization pools");
    let row = between(&page.body, "data-org=\"acme\"", "</tr>");
    assert!(row.contains("no pool"), "{row}");
    let allowance = format!("/settings/credits/orgs/{org}/allowance");
    let adjust = format!("/settings/credits/orgs/{org}/adjust");
    web.submit(
        "/settings/credits",
        &allowance,
        &[("monthly_allowance", "50")],
    )
    .assert_redirect("/settings/credits");
    web.get("/settings/credits")
        .assert_page(200, "Monthly allowance of Acme set to 50 credits.");
    for fields in [
        [("amount", "-5"), ("reason", "")],
        [("amount", "many"), ("reason", "x")],
    ] {
        web.submit("/settings/credits", &adjust, &fields)
            .assert_redirect("/settings/credits");
        web.get("/settings/credits")
            .assert_page(200, "Nothing changed");
    }
    web.submit(
        "/settings/credits",
        &allowance,
        &[("monthly_allowance", "-3")],
    )
    .assert_redirect("/settings/credits");
    web.get("/settings/credits")
        .assert_page(200, "Nothing changed");
    assert_eq!(pool(&org)["balance"], 50);
    web.submit(
        "/settings/credits",
        &adjust,
        &[("amount", "-8"), ("reason", "pilot ended early")],
    )
    .assert_redirect("/settings/credits");
    let page = web.get("/settings/credits");
    page.assert_page(200, "-8 credits from Acme");
    let row = between(&page.body, "data-org=\"acme\"", "</tr>");
    assert!(row.contains("<td class=\"num balance\">42</td>"), "{row}");
    assert_eq!(pool(&org)["balance"], 42);
    let r = web.post(&adjust, &[("amount", "100"), ("reason", "x")]);
    assert_eq!(r.status, 403, "no CSRF token: {}", r.body);
    assert_eq!(pool(&org)["balance"], 42);
    let (_, events) = json(admin.get("/api/admin/events"));
    assert!(
        events
            .to_string()
            .contains("-8 credits from Acme (reason: pilot ended early)"),
        "{events}"
    );

    // The org admin: a link on Usage, the pool and a share form per member.
    let bob = Web::new(&app);
    bob.sign_in("bob@example.com", PASSWORD);
    let pool_page = format!("/settings/orgs/{org}/credits");
    bob.get("/settings/usage")
        .assert_page(200, &format!("href=\"{pool_page}\""));
    let page = bob.get(&pool_page);
    page.assert_page(200, "Credits of Acme");
    assert!(
        page.body.contains("id=\"pool-balance\">42 credits"),
        "{}",
        page.body
    );
    let share = format!("/settings/orgs/{org}/credits/members/{alice_id}");
    // More than the pool, a negative share, a word: nothing changes.
    for value in ["60", "-1", "ten"] {
        bob.submit(&pool_page, &share, &[("monthly_allowance", value)])
            .assert_redirect(&pool_page);
        bob.get(&pool_page).assert_page(200, "Nothing changed");
    }
    let row = between(
        &bob.get(&pool_page).body,
        "data-member=\"alice@example.com\"",
        "</tr>",
    )
    .to_string();
    assert!(row.contains("whole pool"), "{row}");
    bob.submit(
        &pool_page,
        &share,
        &[("monthly_allowance", "15"), ("reason", "intern")],
    )
    .assert_redirect(&pool_page);
    let page = bob.get(&pool_page);
    page.assert_page(200, "Share of alice@example.com set to 15 credits a month.");
    let row = between(&page.body, "data-member=\"alice@example.com\"", "</tr>");
    assert!(row.contains("<td class=\"num share\">15</td>"), "{row}");
    assert!(
        page.body.contains("id=\"pool-shared\">15 credits"),
        "{}",
        page.body
    );
    let r = bob.post(&share, &[("monthly_allowance", "1")]);
    assert_eq!(r.status, 403, "no CSRF token: {}", r.body);

    // Another org's page and form: the same 404 as an unknown org, nothing changes.
    let other_page = format!("/settings/orgs/{other}/credits");
    assert_eq!(bob.get(&other_page).status, 404);
    assert_eq!(bob.get("/settings/orgs/nope/credits").status, 404);
    let carol_id = {
        let carol = Client::login(&app, "carol@example.com", PASSWORD);
        me_id(&carol)
    };
    let r = bob.submit(
        &pool_page,
        &format!("/settings/orgs/{other}/credits/members/{carol_id}"),
        &[("monthly_allowance", "1")],
    );
    assert_eq!(r.status, 404, "{}", r.body);
    // Not a member of this org: 404 on the share form of Acme too.
    let r = bob.submit(
        &pool_page,
        &format!("/settings/orgs/{org}/credits/members/{carol_id}"),
        &[("monthly_allowance", "1")],
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // A plain member: 403 on the page and the form, no link; an outsider: 404.
    let member = Web::new(&app);
    member.sign_in("alice@example.com", PASSWORD);
    assert_eq!(member.get(&pool_page).status, 403);
    let usage = member.get("/settings/usage");
    assert!(!usage.body.contains("credit-pools"), "{}", usage.body);
    let r = member.submit("/settings/usage", &share, &[("monthly_allowance", "40")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let outsider = Web::new(&app);
    outsider.sign_in("carol@example.com", PASSWORD);
    assert_eq!(outsider.get(&pool_page).status, 404);
    let r = outsider.submit("/settings/usage", &share, &[("monthly_allowance", "40")]);
    assert_eq!(r.status, 404, "{}", r.body);
    // Org admins do not set pools: Settings › Credits stays for superadmins.
    assert_eq!(bob.get("/settings/credits").status, 403);
    let r = bob.submit(&pool_page, &allowance, &[("monthly_allowance", "999")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let row = between(
        &bob.get(&pool_page).body,
        "data-member=\"alice@example.com\"",
        "</tr>",
    )
    .to_string();
    assert!(row.contains("<td class=\"num share\">15</td>"), "{row}");
    assert_eq!(pool(&org)["balance"], 42);
    assert_eq!(pool(&org)["monthly_allowance"], 50);
    // The superadmin may open any org's pool page (and splits the same way).
    web.get(&other_page).assert_page(200, "Credits of Globex");
}

#[test]
fn concurrent_generations_never_overdraw_and_queries_still_work_at_zero() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("credits-race");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let alice_id = me_id(&alice);
    // A model made while not metered, to query at zero later.
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("model id").to_string();
    let (status, body) = put(
        &admin,
        &format!("/api/admin/credits/users/{alice_id}"),
        json!({"monthly_allowance": 20}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(credits(&alice)["balance"], 10, "{}", credits(&alice));

    // Four generations of cost 10 at once (different descriptions, so no cache) against a
    // balance of 10: exactly one runs, the others are refused with 402; nothing overdraws.
    let descriptions = [
        OTHER,
        THIRD,
        "A mobile banking app where customers view balances and move money between accounts.",
        "An HR portal where employees upload documents and managers approve leave requests.",
    ];
    let statuses: Vec<(u16, Value)> = std::thread::scope(|s| {
        let runs: Vec<_> = descriptions
            .iter()
            .map(|d| s.spawn(|| generate(&alice, d)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("thread"))
            .collect()
    });
    let created = statuses.iter().filter(|(s, _)| *s == 201).count();
    let refused: Vec<_> = statuses.iter().filter(|(s, _)| *s == 402).collect();
    let seen: Vec<_> = statuses.iter().map(|(s, b)| (s, &b["error"])).collect();
    assert_eq!((created, refused.len()), (1, 3), "{seen:?}");
    assert_eq!(refused[0].1["error"]["code"], "credits_exhausted");
    let c = credits(&alice);
    assert_eq!(
        (c["balance"].clone(), c["used"].clone()),
        (json!(0), json!(20)),
        "{c}"
    );

    // At zero: querying an existing model works (recorded, not charged); changes are 402.
    let (status, answer) = json(alice.post(
        &format!("/api/models/{id}/query"),
        json!({"question": "Which assets have the highest impact?"}),
    ));
    assert_eq!(status, 200, "{answer}");
    let c = credits(&alice);
    assert_eq!(c["balance"], 0, "{c}");
    assert_eq!(latest_entry(&c), (json!("query"), json!(0)), "{c}");
    let (status, err) = json(alice.post(
        &format!("/api/models/{id}/refine"),
        json!({"instruction": "Add a database administrator attacker"}),
    ));
    assert_eq!(status, 402, "{err}");
    let (status, err) = generate(
        &alice,
        "A library catalogue where members reserve books online.",
    );
    assert_eq!(status, 402, "{err}");
}

/// The monthly reset through the real binary. Instead of a clock that jumps a month (the
/// binary has no test clock), this month's ledger rows are moved to last month in the
/// database: the same state the server sees on the 1st. The balance is the whole allowance
/// again — neither last month's use nor its unused rest carries over — and it is consumed
/// and refused as usual.
#[test]
fn a_new_month_starts_again_from_the_allowance() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("credits-month");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let alice_id = me_id(&alice);
    let (status, body) = put(
        &admin,
        &format!("/api/admin/credits/users/{alice_id}"),
        json!({"monthly_allowance": 25, "reason": "pilot"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{body}");
    assert_eq!(credits(&alice)["balance"], 15);

    // The 1st of the next month, as the database sees it.
    let now = chrono::Utc::now();
    let this_month = rampart::credits::period_of(now);
    let last_month = rampart::credits::period_of(
        now.with_day(1).expect("first of the month") - chrono::Duration::days(1),
    );
    let db = crate::harness::platform_db(&dir);
    let moved = db
        .conn()
        .expect("conn")
        .execute(
            "UPDATE credit_ledger SET period = ?1 WHERE subject_id = ?2 AND period = ?3",
            [&last_month, &alice_id, &this_month],
        )
        .expect("move the ledger");
    assert!(moved >= 1, "this month's use was in the ledger");

    let c = credits(&alice);
    assert_eq!(
        c["balance"], 25,
        "the whole allowance, not 15 and not 40: {c}"
    );
    assert_eq!(c["used"], 0, "{c}");
    // Consumed and refused as in any month: 25 → 15 → 5 → refused.
    assert_eq!(generate(&alice, OTHER).0, 201);
    assert_eq!(generate(&alice, THIRD).0, 201);
    assert_eq!(credits(&alice)["balance"], 5);
    let (status, err) = generate(
        &alice,
        "A fourth system: a kiosk that prints boarding passes.",
    );
    assert_eq!(status, 402, "{err}");
    assert_eq!(err["error"]["code"], "credits_exhausted");
}
