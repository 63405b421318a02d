//! Compliance frameworks through the real binary: the catalogs over REST, selection with
//! profiles, auto-mapping, manual mappings (add, remove, suppression), the report moving
//! from partial to covered when CI verifies the mapped control, CSV export, the framework
//! badge, the remediation round trip through a real MCP client, the Compliance tab and the
//! dashboard next step, and bad input changing nothing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::assurance::{fixture, results_body, served};
use crate::harness::{Client, PASSWORD, TestDir, appliance_without_mfa, json};
use crate::mcp::{api_key, connect, ok, runtime, tool_error};
use crate::web_pages::Web;

fn put(c: &Client, path: &str, body: Value) -> (u16, Value) {
    json(c.send("PUT", path, Some(&body)))
}

fn requirement<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {report}"))
}

#[test]
fn selection_report_mappings_ci_coverage_csv_and_badge() {
    let f = fixture("compliance-rest");
    let m = f.model.clone();
    let owner = &f.owner;

    // The catalogs.
    let (status, fws) = json(owner.get("/api/compliance/frameworks"));
    assert_eq!(status, 200, "{fws}");
    let counts: Vec<(String, u64)> = fws
        .as_array()
        .expect("list")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().expect("id").to_string(),
                f["requirement_count"].as_u64().expect("count"),
            )
        })
        .collect();
    for (id, n) in [
        ("owasp-asvs-5", 345),
        ("nist-800-53-r5", 488),
        ("nist-csf-2", 106),
        ("iso-27001-2022", 93),
        ("soc2-tsc", 61),
        ("pci-dss-4", 205),
        ("cis-controls-8.1", 153),
        ("hipaa-security", 65),
    ] {
        assert!(counts.contains(&(id.to_string(), n)), "{id}: {counts:?}");
    }
    let (status, low) = json(
        owner.get("/api/compliance/frameworks/nist-800-53-r5/requirements?profile=low&limit=1000"),
    );
    assert_eq!(status, 200, "{low}");
    assert_eq!(low["total"], 149);
    let (_, ac) =
        json(owner.get("/api/compliance/frameworks/nist-800-53-r5/requirements?group=AC"));
    assert!(
        ac["requirements"]
            .as_array()
            .expect("ac")
            .iter()
            .all(|r| r["id"].as_str().expect("id").starts_with("AC-")),
        "{ac}"
    );
    let (status, _) = json(owner.get("/api/compliance/frameworks/iso-9001/requirements"));
    assert_eq!(status, 404);

    // Bad selections are refused and change nothing.
    let sel_path = format!("/api/models/{m}/compliance/frameworks");
    let (status, body) = put(owner, &sel_path, json!({"framework_ids": ["iso-9001"]}));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("iso-27001-2022"),
        "{body}"
    );
    let (status, body) = put(
        owner,
        &sel_path,
        json!({"framework_ids": ["owasp-asvs-5:L9"]}),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("L1"),
        "{body}"
    );
    let (status, body) = put(owner, &sel_path, json!({"framework_ids": "iso-27001-2022"}));
    assert_eq!(status, 400, "{body}");
    let (_, sel) = json(owner.get(&sel_path));
    assert_eq!(
        sel["frameworks"],
        json!([]),
        "refused selections changed nothing"
    );
    let report_path = |fw: &str| format!("/api/models/{m}/compliance/report?framework={fw}");
    let (status, body) = json(owner.get(&report_path("iso-27001-2022")));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("not selected"),
        "{body}"
    );

    // Select two frameworks, one with a profile: the new ones are auto-mapped at once.
    let (status, body) = put(
        owner,
        &sel_path,
        json!({"framework_ids": ["iso-27001-2022", {"framework_id": "owasp-asvs-5", "profile": "L1"}]}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["auto_map"]["added"].as_u64().expect("added") > 10,
        "{body}"
    );
    let (status, iso) = json(owner.get(&report_path("iso-27001-2022")));
    assert_eq!(status, 200, "{iso}");
    let c = &iso["counts"];
    assert_eq!(c["total"], 93);
    let sum: u64 = ["covered", "partial", "uncovered", "not_applicable"]
        .iter()
        .map(|k| c[k].as_u64().expect("count"))
        .sum();
    assert_eq!(sum, 93, "{c}");
    assert_eq!(c["covered"], 0, "nothing is implemented yet: {c}");
    assert!(c["partial"].as_u64().expect("partial") > 0 && c["uncovered"].as_u64().expect("u") > 0);
    let a83 = requirement(&iso, "A.8.3");
    assert_eq!(a83["status"], "partial", "{a83}");
    assert!(a83["controls"][0]["mapped_by"] == "catalog" && a83["controls"][0]["source"] == "auto");
    let (_, asvs) = json(owner.get(&report_path("owasp-asvs-5")));
    assert_eq!(asvs["profile"], "L1");
    let v2 = requirement(&asvs, "V2.3.5");
    assert_eq!(v2["status"], "not_applicable");
    assert!(
        v2["reason"].as_str().expect("reason").contains("L1"),
        "{v2}"
    );

    // Status filter; counts stay those of the whole framework.
    let (_, only) = json(owner.get(&format!(
        "{}&status=uncovered",
        report_path("iso-27001-2022")
    )));
    let list = only["requirements"].as_array().expect("list");
    assert_eq!(list.len() as u64, c["uncovered"].as_u64().expect("u"));
    assert!(list.iter().all(|r| r["status"] == "uncovered"));
    let (status, body) =
        json(owner.get(&format!("{}&status=green", report_path("iso-27001-2022"))));
    assert_eq!(status, 400, "{body}");

    // A manual mapping to an uncovered requirement: partial until CI verifies the control.
    let target = list
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .find(|id| id == "A.5.32")
        .unwrap_or_else(|| list[0]["id"].as_str().expect("id").to_string());
    let maps = format!("/api/models/{m}/compliance/mappings");
    let (status, body) = json(owner.post(
        &maps,
        json!({"control_id": f.control, "framework_id": "iso-27001-2022", "requirement_id": "A.99.1"}),
    ));
    assert_eq!(status, 404, "{body}");
    let (status, body) = json(owner.post(
        &maps,
        json!({"control_id": "CTRL-999", "framework_id": "iso-27001-2022", "requirement_id": target}),
    ));
    assert_eq!(status, 404, "{body}");
    let (status, body) = json(owner.post(
        &maps,
        json!({"control_id": f.control, "framework_id": "soc2-tsc", "requirement_id": "CC6.1"}),
    ));
    assert_eq!(status, 400, "not selected: {body}");
    let (status, body) = json(owner.post(
        &maps,
        json!({"control_id": f.control, "framework_id": "iso-27001-2022", "requirement_id": target, "reason": "The upload guard also enforces licence terms"}),
    ));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source"], "manual");
    assert_eq!(body["mapped_by"], "dev@example.com");
    let one = |id: &str| {
        let (_, r) = json(owner.get(&format!(
            "{}&requirement_id={id}",
            report_path("iso-27001-2022")
        )));
        r["requirements"][0].clone()
    };
    let r = one(&target);
    assert_eq!(r["status"], "partial", "{r}");
    assert_eq!(
        r["controls"][0]["reason"],
        "The upload guard also enforces licence terms"
    );

    // Prove the control: assertions covering it, implemented, CI passes both tiers.
    let (_, ctl) = json(owner.get(&format!(
        "/api/models/{m}/controls?control_id={}",
        f.control
    )));
    let ctl = &ctl["controls"][0];
    let aspect = format!(
        "{}. {}",
        ctl["name"].as_str().expect("name"),
        ctl["description"].as_str().expect("description")
    );
    let (status, body) = json(f.developer.post(
        &format!("/api/models/{m}/assertions"),
        json!({"control_id": f.control, "assertions": [
            {"type": "function_exists", "params": {"file": "src/guard.rs", "name": "enforce"}, "description": format!("implements: {aspect}")},
            {"type": "test_passes", "params": {"file": "tests/guard.rs", "test_name": "enforces"}, "description": format!("tests: {aspect}")}
        ]}),
    ));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sufficiency"]["status"], "sufficient", "{body}");
    let (status, body) = json(owner.patch(
        &format!("/api/models/{m}/controls/{}", f.control),
        json!({"status": "implemented"}),
    ));
    assert_eq!(status, 200, "{body}");
    let r = one(&target);
    assert_eq!(r["status"], "partial", "implemented but not verified: {r}");
    assert!(
        r["reason"]
            .as_str()
            .expect("reason")
            .contains("implemented but"),
        "{r}"
    );
    let all = served(&f);
    for tier in [1, 2] {
        let (s, b) = json(f.verifier.post(
            &format!("/api/models/{m}/verification/results"),
            results_body(&all, tier, "pass"),
        ));
        assert_eq!(s, 200, "{b}");
    }
    let r = one(&target);
    assert_eq!(
        r["status"], "covered",
        "CI verified the only mapped control: {r}"
    );
    let (_, iso2) = json(owner.get(&report_path("iso-27001-2022")));
    assert!(iso2["counts"]["covered"].as_u64().expect("covered") >= 1);
    assert!(iso2["counts"]["percentage"].as_f64().expect("pct") > 0.0);

    // CSV for auditors.
    let resp = owner.get(&format!("{}&format=csv", report_path("iso-27001-2022")));
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .expect("cd")
            .contains("attachment")
    );
    let csv = resp.text().expect("csv");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("framework,requirement_id,title")
    );
    assert!(csv.lines().count() > 93, "one row per requirement at least");
    assert!(csv.contains(&format!("iso-27001-2022,{target},")), "{csv}");
    assert!(csv.contains(",covered,"));
    let (status, _) = json(owner.get(&format!("{}&format=pdf", report_path("iso-27001-2022"))));
    assert_eq!(status, 400);

    // Removing mappings: manual ones go, catalog ones stay suppressed across auto-mapping.
    let del = |body: Value| json(owner.send("DELETE", &maps, Some(&body)));
    let (status, _) = del(
        json!({"control_id": f.control, "framework_id": "iso-27001-2022", "requirement_id": target}),
    );
    assert_eq!(status, 204);
    let (status, _) = del(
        json!({"control_id": f.control, "framework_id": "iso-27001-2022", "requirement_id": target}),
    );
    assert_eq!(status, 404);
    let auto = requirement(&iso, "A.8.3")["controls"][0]["control_id"]
        .as_str()
        .expect("control")
        .to_string();
    let (status, _) = del(
        json!({"control_id": auto, "framework_id": "iso-27001-2022", "requirement_id": "A.8.3"}),
    );
    assert_eq!(status, 204);
    let (status, s) = json(owner.post(
        &format!("/api/models/{m}/compliance/auto-map"),
        json!({"framework_id": "iso-27001-2022"}),
    ));
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["added"], 0, "{s}");
    assert!(s["suppressed"].as_u64().expect("suppressed") >= 1, "{s}");
    let (_, ml) = json(owner.get(&format!("{maps}?framework=iso-27001-2022")));
    assert!(
        !ml["mappings"]
            .as_array()
            .expect("mappings")
            .iter()
            .any(|x| x["control_id"] == auto.as_str() && x["requirement_id"] == "A.8.3"),
        "a removed catalog mapping came back: {ml}"
    );

    // The framework badge: opt-in like the model badge; unknown otherwise.
    let anon = Client::anonymous(&f.app);
    let badge =
        |model: &str, fw: &str| json(anon.get(&format!("/api/badge/{model}?framework={fw}"))).1;
    let (status, other) = json(owner.post(
        "/api/models?wait=true",
        json!({"feature_description": "An internal HR portal where employees view payslips."}),
    ));
    assert_eq!(status, 201, "{other}");
    let other = other["id"].as_str().expect("id").to_string();
    put(
        owner,
        &format!("/api/models/{other}/compliance/frameworks"),
        json!({"framework_ids": ["iso-27001-2022"]}),
    );
    let unknown = badge("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "iso-27001-2022");
    assert_eq!(unknown["message"], "unknown");
    assert_eq!(
        badge(&other, "iso-27001-2022"),
        unknown,
        "badge not enabled"
    );
    let (status, _) =
        json(owner.patch(&format!("/api/models/{m}/badge"), json!({"enabled": true})));
    assert_eq!(status, 200);
    assert_eq!(badge(&m, "pci-dss-4"), unknown, "framework not selected");
    let b = badge(&m, "iso-27001-2022");
    assert_eq!(b["schemaVersion"], 1);
    assert_eq!(b["label"], "ISO/IEC 27001:2022 Annex A");
    assert!(
        b["message"]
            .as_str()
            .expect("message")
            .contains("% covered"),
        "{b}"
    );
}

#[test]
fn remediation_round_trip_through_mcp() {
    let dir = TestDir::new("compliance-mcp");
    let app = appliance_without_mfa(&dir);
    let key = api_key(&dir, "admin@example.com", "developer");
    let verifier = api_key(&dir, "admin@example.com", "verifier");
    runtime().block_on(async {
        let client = connect(&app, &key).await;
        let generated = ok(
            &client,
            "generate_threat_model",
            json!({"feature_description": "A static marketing website served from a CDN.", "async_mode": false}),
        )
        .await;
        let model = generated["model_id"].as_str().expect("model id").to_string();
        let list = ok(&client, "list_compliance_frameworks", json!({})).await;
        assert_eq!(list["total"], 8, "{list}");
        let reqs = ok(&client, "list_compliance_frameworks", json!({"framework_id": "cis-controls-8.1", "profile": "IG1", "limit": 500})).await;
        assert_eq!(reqs["total"], 56, "{}", reqs["total"]);
        let msg = tool_error(&client, "select_compliance_frameworks", json!({"model_id": model, "framework_ids": ["nope"]})).await;
        assert!(msg.contains("framework_ids[0]"), "{msg}");
        let sel = ok(&client, "select_compliance_frameworks", json!({"model_id": model, "framework_ids": ["iso-27001-2022"]})).await;
        assert_eq!(sel["frameworks"][0]["framework_id"], "iso-27001-2022");

        // Summary first; details with a status filter.
        let summary = ok(&client, "get_compliance_report", json!({"model_id": model, "framework_id": "iso-27001-2022"})).await;
        assert!(summary.get("requirements").is_none(), "{summary}");
        let uncovered_before = summary["counts"]["uncovered"].as_u64().expect("uncovered");
        assert!(uncovered_before > 0);
        assert!(summary["by_group"]["A.8"].is_object(), "{summary}");
        let gaps = ok(&client, "get_compliance_report", json!({"model_id": model, "framework_id": "iso-27001-2022", "status": "uncovered", "limit": 200})).await;
        assert_eq!(gaps["total"].as_u64(), Some(uncovered_before));

        // Suggest (a job with progress), then apply, regenerate, map.
        let job = ok(&client, "suggest_compliance_remediation", json!({"model_id": model, "framework_id": "iso-27001-2022"})).await;
        let job_id = job["job_id"].as_str().expect("job id").to_string();
        let start = Instant::now();
        let result = loop {
            let st = ok(&client, "get_operation_status", json!({"job_id": job_id})).await;
            match st["status"].as_str() {
                Some("completed") => {
                    assert_eq!(st["total"], 3, "{st}");
                    break st["result"].clone();
                }
                Some("failed") => panic!("remediation failed: {st}"),
                _ => {}
            }
            assert!(start.elapsed() < Duration::from_secs(60), "job did not finish: {st}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let rem_id = result["id"].as_str().expect("remediation id").to_string();
        let suggestions = result["plan"]["suggestions"].as_array().expect("suggestions").clone();
        assert!(!suggestions.is_empty(), "{result}");
        let additions: Vec<&Value> = suggestions.iter().filter(|s| s["kind"] != "control").collect();
        assert!(!additions.is_empty(), "{result}");
        let served: Vec<String> = additions
            .iter()
            .flat_map(|s| s["serves"].as_array().expect("serves").iter().map(|r| r.as_str().expect("id").to_string()))
            .collect();
        let ids: Vec<&str> = additions.iter().map(|s| s["id"].as_str().expect("id")).collect();
        let msg = tool_error(&client, "apply_compliance_remediation", json!({"model_id": model, "remediation_id": rem_id, "suggestion_ids": ["S999"]})).await;
        assert!(msg.contains("suggestion_ids[0]"), "{msg}");
        let before = ok(&client, "get_threat_model", json!({"model_id": model})).await;
        let applied = ok(&client, "apply_compliance_remediation", json!({"model_id": model, "remediation_id": rem_id, "suggestion_ids": ids})).await;
        assert!(applied["version"].as_u64() > before["version"].as_u64(), "{applied}");
        let regen = ok(&client, "regenerate_controls", json!({"model_id": model})).await;
        assert!(!regen["added"].as_array().expect("added").is_empty(), "{regen}");
        let mapped = ok(&client, "auto_map_controls", json!({"model_id": model})).await;
        assert!(mapped["added"].as_u64().expect("added") > 0, "{mapped}");
        let after = ok(&client, "get_compliance_report", json!({"model_id": model, "framework_id": "iso-27001-2022", "status": "uncovered", "limit": 200})).await;
        let still: Vec<&str> = after["requirements"].as_array().expect("list").iter().map(|r| r["id"].as_str().expect("id")).collect();
        assert!((after["total"].as_u64().expect("total")) < uncovered_before, "{after}");
        for r in &served {
            assert!(!still.contains(&r.as_str()), "{r} is still uncovered after remediation");
        }

        // Manual mapping through MCP; bad input is a tool error naming the field.
        let ctl = regen["added"][0].as_str().expect("control").to_string();
        let added = ok(&client, "map_control_to_requirement", json!({"model_id": model, "control_id": ctl, "framework_id": "iso-27001-2022", "requirement_id": "A.5.1", "reason": "policy is enforced by this control"})).await;
        assert_eq!(added["mapping"]["source"], "manual");
        let removed = ok(&client, "map_control_to_requirement", json!({"model_id": model, "control_id": ctl, "framework_id": "iso-27001-2022", "requirement_id": "A.5.1", "action": "remove"})).await;
        assert_eq!(removed["action"], "removed");
        let msg = tool_error(&client, "map_control_to_requirement", json!({"model_id": model, "control_id": ctl, "framework_id": "iso-27001-2022", "requirement_id": "A.5.1", "action": "toggle"})).await;
        assert!(msg.contains("action"), "{msg}");

        // Verifier keys read reports but change nothing.
        let v = connect(&app, &verifier).await;
        ok(&v, "get_compliance_report", json!({"model_id": model, "framework_id": "iso-27001-2022"})).await;
        let msg = tool_error(&v, "select_compliance_frameworks", json!({"model_id": model, "framework_ids": []})).await;
        assert!(msg.contains("developer key"), "{msg}");
        v.cancel().await.ok();
        client.cancel().await.ok();
    });
}

#[test]
fn compliance_tab_and_dashboard_next_step() {
    let dir = TestDir::new("compliance-pages");
    let app = appliance_without_mfa(&dir);
    let api = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, model) = json(api.post(
        "/api/models?wait=true",
        json!({"feature_description": "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs."}),
    ));
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id").to_string();
    let web = Web::new(&app);
    web.sign_in("admin@example.com", PASSWORD);
    let page = format!("/models/{id}/compliance");
    // The model page links the tab; with nothing selected the picker is open.
    web.get(&format!("/models/{id}"))
        .assert_page(200, &format!("href=\"{page}\""));
    let empty = web.get(&page);
    empty.assert_page(200, "id=\"no-frameworks\"");
    assert!(
        empty.body.contains("value=\"hipaa-security\""),
        "every framework is offered"
    );

    // Select through the form (a profile for ASVS).
    let r = web.submit(
        &page,
        &format!("{page}/frameworks"),
        &[
            ("fw", "iso-27001-2022"),
            ("fw", "owasp-asvs-5"),
            ("profile.owasp-asvs-5", "L1"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let iso = web.get(&format!("{page}?framework=iso-27001-2022"));
    iso.assert_page(200, "id=\"requirements-table\"");
    assert!(iso.body.contains("id=\"framework-picker\""));
    assert!(iso.body.contains("OWASP ASVS 5.0 (L1)"), "{}", iso.body);
    assert!(
        iso.body
            .contains("id=\"req-A.8.3\" data-status=\"partial\""),
        "{}",
        iso.body
    );
    let link = crate::web_pages::between(
        &iso.body,
        "class=\"btn btn-secondary btn-sm\" href=\"",
        "\" id=\"csv-export\"",
    );
    assert!(
        link.contains("compliance") && link.contains("format=csv"),
        "{link}"
    );
    // Drill-down: the requirement lists its controls with their status and why they map.
    let row = crate::web_pages::between(&iso.body, "id=\"req-A.8.3\"", "</tr>");
    assert!(
        row.contains("data-verification=\"unverified\"") && row.contains("Mapped by catalog"),
        "{row}"
    );
    // Status filter.
    let partial = web.get(&format!("{page}?framework=iso-27001-2022&status=partial"));
    let rows: Vec<&str> = partial.body.split("<tr id=\"req-").skip(1).collect();
    assert!(!rows.is_empty(), "{}", partial.body);
    for row in rows {
        let head = row.split('>').next().unwrap_or_default();
        assert!(
            head.contains("data-status=\"partial\""),
            "only partial rows: {head}"
        );
    }
    assert_eq!(
        web.get(&format!("{page}?framework=iso-27001-2022&status=bogus"))
            .status,
        400
    );
    assert_eq!(
        web.get(&format!("{page}?framework=pci-dss-4")).status,
        400,
        "not selected"
    );

    // A manual mapping from the drill-down: the row links to the one mapping form with
    // its requirement preselected.
    let row = crate::web_pages::between(&iso.body, "id=\"req-A.5.32\"", "</tr>");
    let map_link =
        crate::web_pages::between(row, "class=\"btn btn-secondary btn-sm\" href=\"", "\"")
            .replace("&#38;", "&")
            .replace("&amp;", "&");
    assert!(map_link.contains("map=A.5.32"), "{row}");
    let preselected = web.get(&map_link);
    let form = crate::web_pages::between(&preselected.body, "id=\"map-form\"", "</form>");
    assert!(
        form.contains("<option value=\"A.5.32\" selected>"),
        "{map_link} {form}"
    );
    let first_control = model["controls"][0]["id"].as_str().expect("control");
    assert_eq!(
        iso.body
            .matches(&format!("<option value=\"{first_control}\">"))
            .count(),
        1,
        "one control list per page, not one per requirement"
    );
    let ctl = model["controls"][0]["id"]
        .as_str()
        .expect("control")
        .to_string();
    let r = web.submit(
        &page,
        &format!("{page}/mappings"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.5.32"),
            ("control_id", &ctl),
            ("reason", "page test"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let after = web.get(&format!("{page}?framework=iso-27001-2022"));
    let row = crate::web_pages::between(&after.body, "id=\"req-A.5.32\"", "</tr>");
    assert!(
        row.contains("page test") && row.contains("data-status=\"partial\""),
        "{row}"
    );
    let r = web.submit(
        &page,
        &format!("{page}/mappings"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.99"),
            ("control_id", &ctl),
        ],
    );
    assert_eq!(r.status, 303);
    assert!(r.header("location").contains("framework=iso-27001-2022"));
    let flashed = web.get(&r.location());
    assert!(
        flashed
            .body
            .contains("requirement A.99 of iso-27001-2022 not found"),
        "{}",
        flashed.body
    );
    let r = web.submit(
        &page,
        &format!("{page}/mappings/remove"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.5.32"),
            ("control_id", &ctl),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);

    // Remediation planned and applied from the page (apply regenerates and maps).
    let r = web.submit(
        &page,
        &format!("{page}/remediation"),
        &[("framework_id", "iso-27001-2022")],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let planned = web.get(&format!("{page}?framework=iso-27001-2022"));
    planned.assert_page(200, "id=\"remediation\"");
    let (_, rep) = json(api.get(&format!(
        "/api/models/{id}/compliance/report?framework=iso-27001-2022"
    )));
    let uncovered_before = rep["counts"]["uncovered"].as_u64().expect("uncovered");
    assert!(
        planned.body.contains("id=\"apply-remediation\""),
        "ISO 27001 gaps of an upload API have offline suggestions: {}",
        planned.body
    );
    // Nothing is pre-approved: each suggestion is a claim about the system to confirm.
    let form = crate::web_pages::between(&planned.body, "id=\"apply-remediation\"", "</form>");
    assert!(!form.contains(" checked"), "{form}");
    {
        let rem_id =
            crate::web_pages::between(&planned.body, "name=\"remediation_id\" value=\"", "\"")
                .to_string();
        let first = crate::web_pages::between(&planned.body, "name=\"suggestion\" value=\"", "\"")
            .to_string();
        let r = web.submit(
            &page,
            &format!("{page}/remediation/apply"),
            &[
                ("framework_id", "iso-27001-2022"),
                ("remediation_id", &rem_id),
                ("suggestion", &first),
            ],
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let (_, rep) = json(api.get(&format!(
            "/api/models/{id}/compliance/report?framework=iso-27001-2022"
        )));
        assert!(
            rep["counts"]["uncovered"].as_u64().expect("uncovered") < uncovered_before,
            "{}",
            rep["counts"]
        );
    }

    // The dashboard card's next step is tied to the selected frameworks.
    let dash = web.get("/");
    assert!(
        dash.body
            .contains(&format!("/models/{id}/compliance?framework=")),
        "{}",
        dash.body
    );
    assert!(dash.body.contains("requirement(s)"), "{}", dash.body);

    // Another user's session gets the 404 page for this model's tab and forms.
    crate::harness::cli_user(&dir, "other@example.com", "user");
    let other = Web::new(&app);
    other.sign_in("other@example.com", PASSWORD);
    assert_eq!(other.get(&page).status, 404);
    let r = other.submit("/", &format!("{page}/frameworks"), &[("fw", "soc2-tsc")]);
    assert_eq!(r.status, 404, "{}", r.body);
    let (_, sel) = json(api.get(&format!("/api/models/{id}/compliance/frameworks")));
    assert_eq!(
        sel["frameworks"].as_array().expect("list").len(),
        2,
        "unchanged"
    );
}

#[test]
fn requirements_declared_not_applicable_with_a_reason() {
    let f = fixture("compliance-exclusions");
    let m = f.model.clone();
    let owner = &f.owner;
    let (status, _) = put(
        owner,
        &format!("/api/models/{m}/compliance/frameworks"),
        json!({"framework_ids": ["iso-27001-2022"]}),
    );
    assert_eq!(status, 200);
    let report = |c: &Client| {
        json(c.get(&format!(
            "/api/models/{m}/compliance/report?framework=iso-27001-2022"
        )))
        .1
    };
    let before = report(owner);
    assert_eq!(requirement(&before, "A.7.1")["status"], "uncovered");
    let path = format!("/api/models/{m}/compliance/exclusions");

    // Bad input is refused and changes nothing: no reason, unknown requirement, a framework
    // not selected, unknown fields.
    for (body, want) in [
        (
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1", "reason": "  "}),
            400,
        ),
        (
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1"}),
            400,
        ),
        (
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.99", "reason": "x"}),
            404,
        ),
        (
            json!({"framework_id": "soc2-tsc", "requirement_id": "CC6.1", "reason": "x"}),
            400,
        ),
        (
            json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1", "reason": "x", "status": "covered"}),
            400,
        ),
    ] {
        let (status, b) = put(owner, &path, body.clone());
        assert_eq!(status, want, "{body}: {b}");
    }
    assert_eq!(report(owner)["counts"], before["counts"], "nothing changed");

    // Declared: not applicable with who and why; the percentage's base shrinks.
    let (status, e) = put(
        owner,
        &path,
        json!({"framework_id": "iso-27001-2022", "requirement_id": "a.7.1", "reason": "No premises: hosted by the cloud provider"}),
    );
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["requirement_id"], "A.7.1", "canonical id: {e}");
    let after = report(owner);
    let a71 = requirement(&after, "A.7.1");
    assert_eq!(a71["status"], "not_applicable", "{a71}");
    let why = a71["reason"].as_str().expect("reason");
    assert!(
        why.contains("dev@example.com") && why.contains("No premises"),
        "{why}"
    );
    assert_eq!(
        after["counts"]["not_applicable"].as_u64(),
        before["counts"]["not_applicable"].as_u64().map(|n| n + 1)
    );
    let (_, list) = json(owner.get(&format!("{path}?framework=iso-27001-2022")));
    assert_eq!(list["total"], 1, "{list}");
    // CSV carries the justification for auditors.
    let csv = owner
        .get(&format!(
            "/api/models/{m}/compliance/report?framework=iso-27001-2022&format=csv&requirement_id=A.7.1"
        ))
        .text()
        .expect("csv");
    assert!(
        csv.contains("not_applicable") && csv.contains("No premises"),
        "{csv}"
    );

    // Withdrawn: it applies again; withdrawing twice is a 404.
    let (status, _) = json(owner.send(
        "DELETE",
        &path,
        Some(&json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1"})),
    ));
    assert_eq!(status, 204);
    assert_eq!(requirement(&report(owner), "A.7.1")["status"], "uncovered");
    let (status, _) = json(owner.send(
        "DELETE",
        &path,
        Some(&json!({"framework_id": "iso-27001-2022", "requirement_id": "A.7.1"})),
    ));
    assert_eq!(status, 404);

    // From the tab: the row's form declares it; an empty reason is an error flash.
    let web = Web::new(&f.app);
    web.sign_in("dev@example.com", PASSWORD);
    let page = format!("/models/{m}/compliance");
    let r = web.submit(
        &page,
        &format!("{page}/exclusions"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.7.2"),
            ("reason", ""),
        ],
    );
    assert_eq!(r.status, 303);
    let flashed = web.get(&r.location());
    assert!(flashed.body.contains("say why"), "{}", flashed.body);
    assert_eq!(requirement(&report(owner), "A.7.2")["status"], "uncovered");
    let r = web.submit(
        &page,
        &format!("{page}/exclusions"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.7.2"),
            ("reason", "No physical entry points of our own"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let na = web.get(&format!(
        "{page}?framework=iso-27001-2022&status=not_applicable"
    ));
    let row = crate::web_pages::between(&na.body, "id=\"req-A.7.2\"", "</tr>");
    assert!(
        row.contains("No physical entry points") && row.contains("Applicable again"),
        "{row}"
    );
    let r = web.submit(
        &page,
        &format!("{page}/exclusions/remove"),
        &[
            ("framework_id", "iso-27001-2022"),
            ("requirement_id", "A.7.2"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(requirement(&report(owner), "A.7.2")["status"], "uncovered");
}
