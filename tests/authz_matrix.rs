//! The authorization matrix: every tenant-scoped route × every role × every tenant, against
//! the real binary with per-org isolation on.
//!
//! - Everyone outside the workspace (a user of another workspace, of another org, the admin
//!   of another org, a superadmin who is not a member, and API keys and OAuth access tokens of
//!   other workspaces) must
//!   get exactly the answer an unknown id gets: same status, same body. That is "0 leaks":
//!   not even the existence of an object can be learned.
//! - Inside, viewers read everything and every write is refused (403); members cannot
//!   manage the workspace; admins cannot delete it.
//! - The route list is read from the source, so a new route that is not in the matrix (or
//!   in its short list of deliberate exemptions) fails this test.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{Client, PASSWORD, TestDir, cli_user, json};
use crate::tenancy::{key_for, model, team};

/// What a route does, for the expectations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Any member reads it.
    Read,
    /// Members and up change data.
    Write,
    /// Owners and admins manage the workspace.
    Manage,
}

struct Route {
    method: &'static str,
    /// Path with `{model}`, `{finding}`, `{assertion}`, `{run}`, `{ws}`, `{job}`, `{user}`,
    /// `{inv}`, `{org}` placeholders.
    path: &'static str,
    body: Value,
    kind: Kind,
}

fn r(method: &'static str, path: &'static str, body: Value, kind: Kind) -> Route {
    Route {
        method,
        path,
        body,
        kind,
    }
}

/// Every route that reaches tenant data, with a body that is valid for it.
fn routes() -> Vec<Route> {
    use Kind::*;
    let none = Value::Null;
    vec![
        r("GET", "/api/models", none.clone(), Read),
        r("GET", "/api/activity", none.clone(), Read),
        r("GET", "/api/dashboard", none.clone(), Read),
        r(
            "POST",
            "/api/models",
            json!({"feature_description": "A payments API with card tokenization, refunds and webhooks from the card processor."}),
            Write,
        ),
        r("GET", "/api/models/{model}", none.clone(), Read),
        r(
            "PATCH",
            "/api/models/{model}",
            json!({"title": "renamed by the matrix"}),
            Write,
        ),
        r("DELETE", "/api/models/{model}", none.clone(), Write),
        r("GET", "/api/models/{model}/assess", none.clone(), Read),
        r(
            "GET",
            "/api/models/{model}/export?format=json",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/export?format=json&report=assurance",
            none.clone(),
            Read,
        ),
        r("GET", "/api/models/{model}/controls", none.clone(), Read),
        r("GET", "/api/models/{model}/steps", none.clone(), Read),
        r(
            "GET",
            "/api/models/{model}/conversation",
            none.clone(),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/conversation",
            json!({"message": "Which controls are not implemented?"}),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/query",
            json!({"question": "Which controls are not implemented?"}),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/refine",
            json!({"instruction": "Add a database admin attacker"}),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/assets",
            json!({"name": "Audit log", "properties": ["I"], "impact": "low"}),
            Write,
        ),
        r(
            "PATCH",
            "/api/models/{model}/assets/A1",
            json!({"impact": "high"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/assets/A1",
            none.clone(),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/attackers",
            json!({"name": "Insider", "description": "d", "capability": "c", "position": "internal", "archetype": "insider", "likelihood": "low"}),
            Write,
        ),
        r(
            "PATCH",
            "/api/models/{model}/attackers/ATK1",
            json!({"likelihood": "high"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/attackers/ATK1",
            none.clone(),
            Write,
        ),
        r(
            "PATCH",
            "/api/models/{model}/badge",
            json!({"enabled": true}),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/controls/regenerate",
            json!({}),
            Write,
        ),
        r(
            "PATCH",
            "/api/models/{model}/controls/CTRL-01",
            json!({"status": "not_applicable", "notes": "n/a"}),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/controls/CTRL-01/evidence",
            json!({"title": "PR #1", "reference": "https://git.example/pr/1"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/controls/CTRL-01/evidence/E1",
            none.clone(),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/controls/CTRL-01/refine",
            json!({"description": "Use any equivalent mechanism.", "justification": "less prescriptive"}),
            Write,
        ),
        r("GET", "/api/models/{model}/assertions", none.clone(), Read),
        r(
            "POST",
            "/api/models/{model}/assertions",
            json!({"control_id": "CTRL-01", "assertions": [{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "The upload handler exists"}]}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/assertions/{assertion}",
            none.clone(),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/verification/assertions",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/verification/pending",
            none.clone(),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/verification/results",
            json!({"results": [{"assertion_id": "{assertion}", "tier": 1, "result": "pass", "details": "ok"}]}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/verification/report",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/verification/runs",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/verification/runs/{run}/audit",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/review-queue",
            none.clone(),
            Read,
        ),
        r("GET", "/api/models/{model}/scan-prompt", none.clone(), Read),
        r(
            "GET",
            "/api/models/{model}/control-objectives",
            none.clone(),
            Read,
        ),
        r("GET", "/api/models/{model}/gaps", none.clone(), Read),
        r(
            "POST",
            "/api/models/{model}/controls/import",
            json!({"controls": [{"name": "Imported WAF", "description": "A web application firewall in front of uploads", "co_ids": ["CO1"]}]}),
            Write,
        ),
        r("GET", "/api/systems", none.clone(), Read),
        r(
            "POST",
            "/api/systems",
            json!({"name": "Another system"}),
            Write,
        ),
        r("GET", "/api/systems/{sys}", none.clone(), Read),
        r(
            "POST",
            "/api/systems/{sys}/models",
            json!({"model_id": "{model}"}),
            Write,
        ),
        r("GET", "/api/models/{model}/findings", none.clone(), Read),
        r(
            "POST",
            "/api/models/{model}/findings",
            json!({"findings": [{"title": "No rate limit", "description": "d", "severity": "low"}]}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/findings/summary",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/models/{model}/findings/{finding}",
            none.clone(),
            Read,
        ),
        r(
            "PATCH",
            "/api/models/{model}/findings/{finding}",
            json!({"status": "acknowledged"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/findings/{finding}",
            none.clone(),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/integrations",
            none.clone(),
            Read,
        ),
        r("POST", "/api/models/{model}/jira/export", json!({}), Write),
        r(
            "POST",
            "/api/models/{model}/confluence/sync",
            json!({}),
            Write,
        ),
        r("GET", "/api/jobs/{job}", none.clone(), Read),
        r("GET", "/api/workspaces/{ws}", none.clone(), Read),
        r(
            "PATCH",
            "/api/workspaces/{ws}",
            json!({"name": "renamed"}),
            Manage,
        ),
        r("GET", "/api/workspaces/{ws}/members", none.clone(), Read),
        r(
            "POST",
            "/api/workspaces/{ws}/members",
            json!({"email": "spare@example.com", "role": "viewer"}),
            Manage,
        ),
        r(
            "PATCH",
            "/api/workspaces/{ws}/members/{user}",
            json!({"role": "viewer"}),
            Manage,
        ),
        r(
            "DELETE",
            "/api/workspaces/{ws}/members/{user}",
            none.clone(),
            Manage,
        ),
        r(
            "GET",
            "/api/workspaces/{ws}/invitations",
            none.clone(),
            Manage,
        ),
        r(
            "POST",
            "/api/workspaces/{ws}/invitations",
            json!({"email": "spare2@example.com", "role": "member"}),
            Manage,
        ),
        r(
            "DELETE",
            "/api/workspaces/{ws}/invitations/{inv}",
            none.clone(),
            Manage,
        ),
        r("GET", "/api/workspaces/{ws}/security", none.clone(), Read),
        r(
            "PATCH",
            "/api/workspaces/{ws}/security",
            json!({"require_attestation": false, "password": PASSWORD}),
            Manage,
        ),
        r(
            "POST",
            "/api/workspaces/{ws}/ci-key",
            json!({"public_key_pem": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n", "password": PASSWORD}),
            Manage,
        ),
        r(
            "GET",
            "/api/models/{model}/compliance/frameworks",
            none.clone(),
            Read,
        ),
        r(
            "PUT",
            "/api/models/{model}/compliance/frameworks",
            json!({"framework_ids": ["iso-27001-2022", "owasp-asvs-5:L2"]}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/compliance/report?framework=iso-27001-2022",
            none.clone(),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/compliance/auto-map",
            json!({"framework_id": "iso-27001-2022"}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/compliance/mappings",
            none.clone(),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/compliance/mappings",
            json!({"control_id": "CTRL-01", "framework_id": "iso-27001-2022", "requirement_id": "A.5.1", "reason": "matrix"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/compliance/mappings",
            json!({"control_id": "CTRL-01", "framework_id": "iso-27001-2022", "requirement_id": "A.5.1"}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/compliance/exclusions?framework=iso-27001-2022",
            none.clone(),
            Read,
        ),
        r(
            "PUT",
            "/api/models/{model}/compliance/exclusions",
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1", "reason": "matrix: no premises"}),
            Write,
        ),
        r(
            "DELETE",
            "/api/models/{model}/compliance/exclusions",
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1"}),
            Write,
        ),
        r(
            "POST",
            "/api/models/{model}/compliance/remediation",
            json!({"framework_id": "iso-27001-2022"}),
            Write,
        ),
        r(
            "GET",
            "/api/models/{model}/compliance/remediation/{rem}",
            none.clone(),
            Read,
        ),
        r(
            "POST",
            "/api/models/{model}/compliance/remediation/apply",
            json!({"remediation_id": "{rem}", "suggestion_ids": ["S1"]}),
            Write,
        ),
        r("GET", "/api/organizations/{org}", none.clone(), Read),
        r(
            "GET",
            "/api/organizations/{org}/members",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/organizations/{org}/workspaces",
            none.clone(),
            Manage,
        ),
        r(
            "PATCH",
            "/api/organizations/{org}",
            json!({"description": "changed"}),
            Manage,
        ),
        r(
            "POST",
            "/api/organizations/{org}/members",
            json!({"email": "spare@example.com", "role": "member"}),
            Manage,
        ),
        r(
            "PATCH",
            "/api/organizations/{org}/members/{user}",
            json!({"role": "member"}),
            Manage,
        ),
        r(
            "DELETE",
            "/api/organizations/{org}/members/{user}",
            none.clone(),
            Manage,
        ),
        r(
            "GET",
            "/api/organizations/{org}/integrations/jira",
            none.clone(),
            Manage,
        ),
        r(
            "PUT",
            "/api/organizations/{org}/integrations/jira",
            json!({"base_url": "https://jira.example.com", "auth": {"type": "pat", "token": "matrix-token"}, "project_key": "SEC"}),
            Manage,
        ),
        r(
            "POST",
            "/api/organizations/{org}/integrations/jira/test",
            json!({}),
            Manage,
        ),
        r(
            "DELETE",
            "/api/organizations/{org}/integrations/jira",
            none.clone(),
            Manage,
        ),
        r(
            "GET",
            "/api/organizations/{org}/integrations/jira/account",
            none.clone(),
            Read,
        ),
        r(
            "GET",
            "/api/organizations/{org}/integrations/confluence",
            none.clone(),
            Manage,
        ),
        r(
            "PUT",
            "/api/organizations/{org}/integrations/confluence",
            json!({"base_url": "https://wiki.example.com", "auth": {"type": "pat", "token": "matrix-token"}, "space_key": "SEC"}),
            Manage,
        ),
        r(
            "POST",
            "/api/organizations/{org}/integrations/confluence/test",
            json!({}),
            Manage,
        ),
        r(
            "DELETE",
            "/api/organizations/{org}/integrations/confluence",
            none.clone(),
            Manage,
        ),
    ]
}

/// Routes deliberately outside the matrix, with the reason.
const EXEMPT: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/api/badge/{id}",
        "public by design once the owner enables the badge",
    ),
    ("GET", "/api/invitations/{token}", "the token is the secret"),
    (
        "POST",
        "/api/invitations/{token}/accept",
        "the token is the secret; tested in tenancy.rs",
    ),
    (
        "GET",
        "/api/jobs/{id}/events",
        "same lookup as /api/jobs/{id}, streamed",
    ),
    (
        "DELETE",
        "/api/workspaces/{id}",
        "destructive; owner-only rule tested in tenancy.rs",
    ),
    (
        "DELETE",
        "/api/organizations/{org}",
        "superadmin-only, destructive; tested in tenancy.rs",
    ),
    (
        "DELETE",
        "/api/organizations/{org}/data",
        "superadmin-only crypto-shred; tested in tenancy.rs",
    ),
    (
        "DELETE",
        "/api/api-keys/{id}",
        "own keys only; tested in accounts.rs",
    ),
    (
        "DELETE",
        "/api/admin/trusted-signers/{fingerprint}",
        "platform administration",
    ),
    (
        "PATCH",
        "/api/mfa/webauthn/{id}",
        "own factors only; tested in accounts.rs",
    ),
    (
        "PUT",
        "/api/organizations/{org}/integrations/jira/account",
        "the caller's own Atlassian account, checked against Jira; tested in integrations.rs",
    ),
    (
        "DELETE",
        "/api/organizations/{org}/integrations/jira/account",
        "the caller's own Atlassian account; tested in integrations.rs",
    ),
];

/// Normalizes a route template of the source (`{id}`, `{aid}`, …) for comparison.
fn shape(path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') || ["A1", "ATK1", "CTRL-01", "E1"].contains(&seg) {
                "{}".to_string()
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every route registered in src/web/api_*.rs, as (METHOD, shape).
fn source_routes() -> BTreeSet<(String, String)> {
    crate::harness::registered_routes(|name| name.starts_with("api_"))
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .collect()
}

/// Tenant-scoped: takes an object id, or lists the caller's workspace data.
fn tenant_scoped(path: &str) -> bool {
    path.contains('{')
        && (path.starts_with("/api/models")
            || path.starts_with("/api/workspaces")
            || path.starts_with("/api/jobs")
            || path.starts_with("/api/organizations")
            || path.starts_with("/api/badge")
            || path.starts_with("/api/systems")
            || path.starts_with("/api/invitations"))
}

#[test]
fn every_tenant_route_is_in_the_matrix() {
    let covered: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), shape(r.path)))
        .chain(EXEMPT.iter().map(|(m, p, _)| (m.to_string(), shape(p))))
        .collect();
    let missing: Vec<_> = source_routes()
        .into_iter()
        .filter(|(_, p)| {
            tenant_scoped(p)
                || [
                    "/api/models",
                    "/api/activity",
                    "/api/dashboard",
                    "/api/systems",
                ]
                .contains(&p.as_str())
        })
        .filter(|r| !covered.contains(r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes reaching tenant data but missing from the authorization matrix (tests/authz_matrix.rs): {missing:?}"
    );
}

struct Ids {
    model: String,
    finding: String,
    assertion: String,
    run: String,
    ws: String,
    job: String,
    user: String,
    inv: String,
    org: String,
    rem: String,
    sys: String,
}

fn fill(template: &str, ids: &Ids) -> String {
    template
        .replace("{model}", &ids.model)
        .replace("{finding}", &ids.finding)
        .replace("{assertion}", &ids.assertion)
        .replace("{run}", &ids.run)
        .replace("{ws}", &ids.ws)
        .replace("{job}", &ids.job)
        .replace("{user}", &ids.user)
        .replace("{inv}", &ids.inv)
        .replace("{org}", &ids.org)
        .replace("{rem}", &ids.rem)
        .replace("{sys}", &ids.sys)
}

fn fill_body(body: &Value, ids: &Ids) -> Option<Value> {
    if body.is_null() {
        return None;
    }
    Some(serde_json::from_str(&fill(&body.to_string(), ids)).expect("body"))
}

/// Sends a route; returns status and body with the ids of `ids` replaced by placeholders, so
/// answers for real and for unknown ids can be compared.
fn call(client: &Client, route: &Route, ids: &Ids) -> (u16, String) {
    let path = fill(route.path, ids);
    let body = fill_body(&route.body, ids);
    let (status, out) = json(client.send(route.method, &path, body.as_ref()));
    let mut text = out.to_string();
    for (id, name) in [
        (&ids.model, "{model}"),
        (&ids.finding, "{finding}"),
        (&ids.assertion, "{assertion}"),
        (&ids.run, "{run}"),
        (&ids.ws, "{ws}"),
        (&ids.job, "{job}"),
        (&ids.user, "{user}"),
        (&ids.inv, "{inv}"),
        (&ids.org, "{org}"),
        (&ids.rem, "{rem}"),
        (&ids.sys, "{sys}"),
    ] {
        text = text.replace(id.as_str(), name);
    }
    (status, text)
}

#[test]
fn authorization_matrix_every_route_role_and_tenant() {
    let dir = TestDir::new("authz-matrix");
    let app = crate::tenancy::licensed(&dir, &[("ORG_DB_ISOLATION", "true")]);
    for u in [
        "own@example.com",
        "adm@example.com",
        "mem@example.com",
        "vie@example.com",
        "oa@example.com",
        "ob@example.com",
        "bown@example.com",
        "out@example.com",
        "spare@example.com",
        "super2@example.com",
        "same@example.com",
    ] {
        cli_user(
            &dir,
            u,
            if u == "super2@example.com" {
                "superadmin"
            } else {
                "user"
            },
        );
    }
    let superadmin = Client::login(&app, "admin@example.com", PASSWORD);
    let mut orgs = Vec::new();
    for (name, admin) in [("Org A", "oa@example.com"), ("Org B", "ob@example.com")] {
        let (status, org) = json(superadmin.post("/api/organizations", json!({"name": name})));
        assert_eq!(status, 201, "{org}");
        let id = org["id"].as_str().expect("id").to_string();
        let (status, _) = json(superadmin.post(
            &format!("/api/organizations/{id}/members"),
            json!({"email": admin, "role": "org_admin"}),
        ));
        assert_eq!(status, 201);
        orgs.push(id);
    }
    let own = Client::login(&app, "own@example.com", PASSWORD);
    let (status, _) = json(superadmin.post(
        &format!("/api/organizations/{}/members", orgs[0]),
        json!({"email": "own@example.com", "role": "member"}),
    ));
    assert_eq!(status, 201);
    let ws = team(
        &own,
        "Secret workspace",
        Some(&orgs[0]),
        &[
            ("adm@example.com", "admin"),
            ("mem@example.com", "member"),
            ("vie@example.com", "viewer"),
        ],
    );
    let own_ws = own.in_workspace(&ws);
    let m = model(&own_ws, "Matrix secret mx77");
    let (_, f) = json(own_ws.post(
        &format!("/api/models/{m}/findings"),
        json!({"findings": [{"title": "Secret finding mx88", "description": "d", "severity": "low"}]}),
    ));
    let finding = f["findings"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("finding id in {f}"))
        .to_string();
    let (_, a) = json(own_ws.post(
        &format!("/api/models/{m}/assertions"),
        json!({"control_id": "CTRL-01", "assertions": [{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "The upload handler exists"}]}),
    ));
    let assertion = a["created"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("assertion id in {a}"))
        .to_string();
    let (status, run) = json(own_ws.post(
        &format!("/api/models/{m}/verification/results"),
        json!({"results": [{"assertion_id": assertion, "tier": 1, "result": "pass", "details": "ok"}]}),
    ));
    assert_eq!(status, 200, "{run}");
    let run = run["run_id"].as_str().expect("run id").to_string();
    let (status, job) = json(own_ws.post(
        "/api/models",
        json!({"feature_description": "An internal HR portal where employees view payslips and managers approve leave."}),
    ));
    assert_eq!(status, 202, "{job}");
    let job = job["job_id"].as_str().expect("job").to_string();
    let (_, members) = json(own_ws.get(&format!("/api/workspaces/{ws}/members")));
    // The owner: viewers and members may neither change nor remove them (and a principal's
    // own id would mean "leave", which anyone may do).
    let user = members
        .as_array()
        .expect("members")
        .iter()
        .find(|x| x["email"] == "own@example.com")
        .and_then(|x| x["user_id"].as_str())
        .expect("owner id")
        .to_string();
    let (_, inv) = json(own_ws.post(
        &format!("/api/workspaces/{ws}/invitations"),
        json!({"email": "later@example.com", "role": "member"}),
    ));
    let inv = inv["id"].as_str().expect("inv").to_string();
    let (status, sel) = json(own_ws.send(
        "PUT",
        &format!("/api/models/{m}/compliance/frameworks"),
        Some(&json!({"framework_ids": ["iso-27001-2022"]})),
    ));
    assert_eq!(status, 200, "{sel}");
    let (status, rem) = json(own_ws.post(
        &format!("/api/models/{m}/compliance/remediation?wait=true"),
        json!({"framework_id": "iso-27001-2022"}),
    ));
    assert_eq!(status, 201, "{rem}");
    let rem = rem["id"].as_str().expect("remediation id").to_string();
    let (status, sys) = json(own_ws.post(
        "/api/systems",
        json!({"name": "Secret system mx77", "model_ids": [m]}),
    ));
    assert_eq!(status, 201, "{sys}");
    let sys = sys["id"].as_str().expect("system id").to_string();
    let real = Ids {
        model: m.clone(),
        finding,
        assertion,
        run,
        ws: ws.clone(),
        job,
        user,
        inv,
        org: orgs[0].clone(),
        rem,
        sys,
    };
    let fake = Ids {
        model: "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
        finding: "fnd_00112233445566778899aabb".into(),
        assertion: "asrt_00112233445566778899aabb".into(),
        run: "run_00112233445566778899aabb".into(),
        ws: "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
        job: "job_001122334455".into(),
        user: "1f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
        inv: "inv_0011223344556677".into(),
        org: "2f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b".into(),
        rem: "rem_0011223344556677".into(),
        sys: "sys_001122334455".into(),
    };
    // Another org's workspace, with its own data, for its users.
    let bown = Client::login(&app, "bown@example.com", PASSWORD);
    json(superadmin.post(
        &format!("/api/organizations/{}/members", orgs[1]),
        json!({"email": "bown@example.com", "role": "member"}),
    ));
    let wb = team(&bown, "Other org workspace", Some(&orgs[1]), &[]);
    model(&bown.in_workspace(&wb), "Other org model");

    // A user of another workspace of the same org: its data sits in the same org database,
    // so only the workspace checks of every query keep them apart.
    json(superadmin.post(
        &format!("/api/organizations/{}/members", orgs[0]),
        json!({"email": "same@example.com", "role": "member"}),
    ));
    let same = Client::login(&app, "same@example.com", PASSWORD);
    let wa2 = team(&same, "Neighbour workspace", Some(&orgs[0]), &[]);
    model(&same.in_workspace(&wa2), "Neighbour model");

    // ---- outsiders: exactly the answer of an unknown id, and never the secret titles.
    let outsiders: Vec<(&str, Client)> = vec![
        (
            "user of another workspace in the same org",
            same.in_workspace(&wa2),
        ),
        (
            "key of another workspace in the same org",
            Client::with_key(&app, &key_for(&dir, "same@example.com", "developer", &wa2)),
        ),
        (
            "user of another workspace",
            Client::login(&app, "out@example.com", PASSWORD),
        ),
        ("user of another org", bown.in_workspace(&wb)),
        (
            "admin of another org",
            Client::login(&app, "ob@example.com", PASSWORD),
        ),
        ("superadmin, not a member", superadmin.clone()),
        (
            "key of another workspace",
            Client::with_key(&app, &key_for(&dir, "bown@example.com", "developer", &wb)),
        ),
        (
            "verifier key of another workspace",
            Client::with_key(&app, &key_for(&dir, "bown@example.com", "verifier", &wb)),
        ),
        (
            "OAuth token of another workspace",
            Client::with_bearer(
                &app,
                &crate::oauth::token_for(&app, &bown, &wb, "developer"),
            ),
        ),
        (
            "OAuth token of another workspace in the same org",
            Client::with_bearer(
                &app,
                &crate::oauth::token_for(&app, &same, &wa2, "developer"),
            ),
        ),
    ];
    let mut checked = 0;
    for (who, client) in &outsiders {
        for route in routes() {
            // Superadmins manage every org by design; workspace management is theirs too.
            if *who == "superadmin, not a member"
                && (route.path.starts_with("/api/organizations")
                    || route.kind == Kind::Manage
                    || route.path.starts_with("/api/workspaces/{ws}"))
            {
                continue;
            }
            // Members of org A see org A itself (its name and members) by design.
            if who.contains("same org") && route.path.starts_with("/api/organizations") {
                continue;
            }
            // Collection routes carry no id: what matters is that they show none of it.
            let (s_real, b_real) = call(client, &route, &real);
            if !route.path.contains('{') {
                assert!(
                    !b_real.contains("mx77")
                        && !b_real.contains("mx88")
                        && !b_real.contains("{model}"),
                    "{who}: {} {} leaks: {b_real}",
                    route.method,
                    route.path
                );
                continue;
            }
            let (s_fake, b_fake) = call(client, &route, &fake);
            assert_eq!(
                (s_real, &b_real),
                (s_fake, &b_fake),
                "{who}: {} {} answers differently for a real id than for an unknown one",
                route.method,
                route.path
            );
            assert!(
                s_real >= 400,
                "{who}: {} {} succeeded: {b_real}",
                route.method,
                route.path
            );
            assert!(!b_real.contains("mx77") && !b_real.contains("mx88"));
            checked += 1;
        }
        // Naming the workspace explicitly is a 404 for sessions.
        if client.api_key.is_none() && *who != "superadmin, not a member" {
            for route in routes()
                .iter()
                .filter(|r| r.path.starts_with("/api/models"))
            {
                let (s, b) = call(&client.in_workspace(&ws), route, &real);
                assert_eq!(
                    s, 404,
                    "{who} with X-Workspace-Id: {} {}: {b}",
                    route.method, route.path
                );
            }
        }
    }
    assert!(checked > 200, "only {checked} outsider checks ran");

    // ---- insiders: viewers never write, members never manage.
    let vie = Client::login(&app, "vie@example.com", PASSWORD).in_workspace(&ws);
    let vie_key = Client::with_key(&app, &key_for(&dir, "vie@example.com", "developer", &ws));
    let vie_session = Client::login(&app, "vie@example.com", PASSWORD);
    let vie_token = Client::with_bearer(
        &app,
        &crate::oauth::token_for(&app, &vie_session, &ws, "developer"),
    );
    let mem = Client::login(&app, "mem@example.com", PASSWORD).in_workspace(&ws);
    let adm = Client::login(&app, "adm@example.com", PASSWORD).in_workspace(&ws);
    let oa = Client::login(&app, "oa@example.com", PASSWORD).in_workspace(&ws);
    let (_, before) = json(own_ws.get(&format!("/api/models/{m}?include_cos=true")));
    for route in routes() {
        match route.kind {
            Kind::Read => {
                for (who, c) in [
                    ("viewer", &vie),
                    ("viewer key", &vie_key),
                    ("viewer OAuth token", &vie_token),
                    ("member", &mem),
                    ("admin", &adm),
                    ("org admin", &oa),
                ] {
                    let (s, b) = call(c, &route, &real);
                    assert!(
                        (200..300).contains(&s),
                        "{who}: {} {} should be readable, got {s}: {b}",
                        route.method,
                        route.path
                    );
                }
            }
            Kind::Write => {
                for (who, c) in [
                    ("viewer", &vie),
                    ("viewer key", &vie_key),
                    ("viewer OAuth token", &vie_token),
                ] {
                    let (s, b) = call(c, &route, &real);
                    assert_eq!(s, 403, "{who}: {} {}: {b}", route.method, route.path);
                }
            }
            Kind::Manage => {
                for (who, c) in [("viewer", &vie), ("member", &mem)] {
                    let (s, b) = call(c, &route, &real);
                    assert!(
                        s == 403,
                        "{who}: {} {} must be refused, got {s}: {b}",
                        route.method,
                        route.path
                    );
                }
            }
        }
    }
    // Nothing the refused requests tried changed the model.
    let (_, after) = json(own_ws.get(&format!("/api/models/{m}?include_cos=true")));
    assert_eq!(before, after, "a refused write changed the model");
    // An admin cannot delete the workspace; the owner can (tested in tenancy.rs).
    assert_eq!(adm.delete(&format!("/api/workspaces/{ws}")).status(), 403);
}
