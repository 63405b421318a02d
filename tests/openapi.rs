//! One REST surface for every tool: `GET /api/openapi.json` against the routes the server
//! really registers (both ways), every MCP tool of a real MCP client's `tools/list` mapped to
//! a REST operation, and the REST endpoints added for parity answering exactly what their
//! tools answer.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{Client, TestDir, appliance_without_mfa, cli_user, json};
use crate::mcp::{api_key, connect, ok, runtime};

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

#[test]
fn openapi_document_matches_the_registered_routes_and_every_tool() {
    let dir = TestDir::new("openapi");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let key = api_key(&dir, "alice@example.com", "developer");
    let anonymous = Client::anonymous(&app);

    let (status, doc) = json(anonymous.get("/api/openapi.json"));
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["openapi"], "3.1.0");
    let port = app
        .url("")
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .map(str::to_string);
    assert!(
        doc["servers"][0]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://")
                && Some(u.rsplit(':').next().unwrap_or_default().to_string()) == port),
        "{}",
        doc["servers"]
    );
    for scheme in ["session", "apiKey", "bearer", "ciJwt"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }

    // Every registered route is documented, and nothing is documented that is not served.
    // (The metadata routes under /.well-known are registered by constant, so only the
    // routing probe below checks them.)
    let registered = crate::harness::registered_routes(|_| true);
    let docs = documented(&doc);
    let well_known = |(_, p): &&(String, String)| !p.starts_with("/.well-known/");
    assert!(
        registered.len() > 150,
        "only {} routes found",
        registered.len()
    );
    let undocumented: Vec<_> = registered.difference(&docs).filter(well_known).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from src/web/openapi.rs: {undocumented:?}"
    );
    let unregistered: Vec<_> = docs.difference(&registered).filter(well_known).collect();
    assert!(
        unregistered.is_empty(),
        "documented but not registered in src/web: {unregistered:?}"
    );
    // The server really routes each documented operation: without credentials and with
    // made-up ids, no answer is the catch-all "no such endpoint" or a 405.
    // (/metrics is off by default and then answers exactly like an unknown path, on purpose.)
    let param = regex::Regex::new(r"\{[a-z_]+\}").expect("regex");
    for (method, path) in docs.iter().filter(|(_, p)| p != "/metrics") {
        let concrete = param.replace_all(path, "x0");
        let resp = anonymous.send(method, &concrete, Some(&json!({})));
        let status = resp.status().as_u16();
        let body = crate::harness::text(resp);
        assert!(
            status != 405 && !body.contains("no such endpoint"),
            "{method} {path} is documented but not routed: {status} {body}"
        );
    }
    // Parameters, ids and security are there for agents to use.
    let get_model = &doc["paths"]["/api/models/{id}"]["get"];
    assert_eq!(get_model["parameters"][0]["name"], "id");
    assert_eq!(get_model["x-mcp-tools"], json!(["get_threat_model"]));
    assert!(
        get_model["security"]
            .as_array()
            .is_some_and(|s| s.len() == 3)
    );
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .map(|op| op["operationId"].as_str().expect("operationId"))
        .collect();
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "operationIds must be unique");

    // Every tool a real MCP client lists has a REST operation, and every operation's tool
    // exists.
    let mapped: BTreeSet<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .flat_map(|op| op["x-mcp-tools"].as_array().cloned().unwrap_or_default())
        .map(|t| t.as_str().expect("tool name").to_string())
        .collect();
    let tools: BTreeSet<String> = runtime().block_on(async {
        let client = connect(&app, &key).await;
        let tools = client.list_all_tools().await.expect("tools/list");
        let _ = client.cancel().await;
        tools.into_iter().map(|t| t.name.to_string()).collect()
    });
    assert_eq!(tools.len(), 46);
    let without_rest: Vec<_> = tools.difference(&mapped).collect();
    assert!(
        without_rest.is_empty(),
        "tools without a REST operation: {without_rest:?}"
    );
    let unknown: Vec<_> = mapped.difference(&tools).collect();
    assert!(unknown.is_empty(), "x-mcp-tools names no tool: {unknown:?}");
}

#[test]
fn rest_endpoints_answer_what_their_tools_answer() {
    let dir = TestDir::new("rest-parity");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let key = api_key(&dir, "alice@example.com", "developer");
    let rest = Client::with_key(&app, &key);
    let (status, model) = json(rest.post(
        "/api/models?wait=true",
        json!({"feature_description": "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs."}),
    ));
    assert_eq!(status, 201, "{model}");
    let m = model["id"].as_str().expect("id").to_string();
    let version = |c: &Client| json(c.get(&format!("/api/models/{m}"))).1["version"].clone();

    let rt = runtime();
    let mcp = rt.block_on(connect(&app, &key));
    let tool = |name: &str, args: Value| rt.block_on(ok(&mcp, name, args));
    {
        // Control objectives, paged the same way.
        let (status, rest_cos) = json(rest.get(&format!(
            "/api/models/{m}/control-objectives?offset=1&limit=3"
        )));
        assert_eq!(status, 200, "{rest_cos}");
        let mcp_cos = tool(
            "get_control_objectives",
            json!({"model_id": m, "offset": 1, "limit": 3}),
        );
        assert_eq!(rest_cos, mcp_cos);
        assert_eq!(
            rest_cos["control_objectives"].as_array().map(Vec::len),
            Some(3)
        );
        let (status, err) = json(rest.get(&format!("/api/models/{m}/control-objectives?limit=0")));
        assert_eq!(
            (status, err["error"]["field"].clone()),
            (400, json!("limit")),
            "{err}"
        );

        // Gaps: identical answers; with no control implemented every covered objective is
        // a gap.
        let (status, rest_gaps) = json(rest.get(&format!("/api/models/{m}/gaps")));
        assert_eq!(status, 200, "{rest_gaps}");
        let mcp_gaps = tool("check_control_gaps", json!({"model_id": m}));
        assert_eq!(rest_gaps, mcp_gaps);
        let total = rest_gaps["control_objectives"].as_u64().expect("count");
        let gaps = rest_gaps["without_controls"].as_array().map_or(0, Vec::len)
            + rest_gaps["without_implemented_controls"]
                .as_array()
                .map_or(0, Vec::len);
        assert_eq!(gaps as u64, total, "{rest_gaps}");
        let first_co = rest_gaps["without_implemented_controls"][0]["co_id"]
            .as_str()
            .expect("a gap")
            .to_string();

        // Import: bad input changes nothing and names the field.
        let before = version(&rest);
        for (body, field) in [
            (json!({"controls": []}), "controls"),
            (
                json!({"controls": [{"name": "WAF", "description": "d"}]}),
                "controls[0].co_ids",
            ),
        ] {
            let (status, err) = json(rest.post(&format!("/api/models/{m}/controls/import"), body));
            assert_eq!(status, 400, "{err}");
            assert_eq!(err["error"]["field"], field, "{err}");
        }
        let (status, err) = json(rest.post(
            &format!("/api/models/{m}/controls/import"),
            json!({"controls": [{"name": "WAF", "description": "d", "co_ids": ["CO999"]}]}),
        ));
        assert!((400..500).contains(&status), "{status} {err}");
        assert!(err.to_string().contains("CO999"), "{err}");
        let (status, err) = json(rest.post(
            &format!("/api/models/{m}/controls/import"),
            json!({"controls": [{"name": "WAF", "description": "d", "co_ids": [first_co], "owner": "x"}]}),
        ));
        assert_eq!(status, 400, "{err}");
        assert_eq!(version(&rest), before, "a refused import changed the model");
        let (status, err) = json(rest.post(
            "/api/models/6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b/controls/import",
            json!({"controls": [{"name": "WAF", "description": "d", "co_ids": [first_co]}]}),
        ));
        assert_eq!(status, 404, "{err}");

        // A good import through REST is what the tool then reads.
        let (status, imported) = json(rest.post(
            &format!("/api/models/{m}/controls/import"),
            json!({"controls": [{"name": "Upload malware scanning", "description": "Every upload is scanned before it is served.", "co_ids": [first_co], "group": "scanning"}]}),
        ));
        assert_eq!(status, 200, "{imported}");
        assert_eq!(
            imported["added"].as_array().map(Vec::len),
            Some(1),
            "{imported}"
        );
        let new_id = imported["added"][0]
            .as_str()
            .expect("new control id")
            .to_string();
        let controls = tool("get_controls", json!({"model_id": m, "control_id": new_id}));
        assert!(
            controls.to_string().contains("Upload malware scanning"),
            "{controls}"
        );
        assert!(
            controls.to_string().contains("imported via the API"),
            "{controls}"
        );
        // And the same import through the tool makes the same change.
        let by_tool = tool(
            "import_controls",
            json!({"model_id": m, "controls_json": [{"name": "Upload size limit", "description": "Uploads over 50 MB are refused.", "co_ids": [first_co]}]}),
        );
        assert_eq!(
            by_tool["added"].as_array().map(Vec::len),
            Some(1),
            "{by_tool}"
        );
        assert_eq!(
            by_tool["version"].as_u64(),
            imported["version"].as_u64().map(|v| v + 1)
        );

        // Systems: REST and tools see and change the same systems.
        let (status, sys) = json(rest.post(
            "/api/systems",
            json!({"name": "Storage", "description": "Everything that stores uploads", "model_ids": [m]}),
        ));
        assert_eq!(status, 201, "{sys}");
        let sid = sys["id"].as_str().expect("system id").to_string();
        let by_tool = tool("get_system", json!({"system_id": sid}));
        let (status, by_rest) = json(rest.get(&format!("/api/systems/{sid}")));
        assert_eq!(status, 200);
        assert_eq!(by_rest, by_tool);
        assert_eq!(by_rest["models"][0]["id"], json!(m));
        let listed = tool("list_systems", json!({}));
        let (_, rest_list) = json(rest.get("/api/systems"));
        assert_eq!(rest_list, listed);
        assert_eq!(rest_list["total"], 1);
        let made = tool("create_system", json!({"name": "Empty"}));
        let (status, added) = json(rest.post(
            &format!("/api/systems/{}/models", made["id"].as_str().expect("id")),
            json!({"model_id": m}),
        ));
        assert_eq!(status, 200, "{added}");
        assert_eq!(added["models"][0]["id"], json!(m));
        for (body, want) in [
            (json!({"name": ""}), 400),
            (
                json!({"name": "x", "model_ids": ["6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"]}),
                404,
            ),
            (json!({"name": "x", "colour": "red"}), 400),
        ] {
            let (status, err) = json(rest.post("/api/systems", body.clone()));
            assert_eq!(status, want, "{body}: {err}");
        }
        assert_eq!(
            json(rest.get("/api/systems")).1["total"],
            2,
            "refused creates made systems"
        );
        assert_eq!(
            rest.get("/api/systems/sys_001122334455").status().as_u16(),
            404
        );
    }
    rt.block_on(async {
        let _ = mcp.cancel().await;
    });
}
