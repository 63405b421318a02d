//! MCP through the real binary: an rmcp client over streamable HTTP against `rampart serve`
//! (`/mcp`, API-key auth, Host/Origin checks, the tool list, async generation polled with
//! get_operation_status, summary-first get_controls, assertions, verification report,
//! export, systems, verifier-key limits) and over stdio (`rampart mcp --stdio`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::harness::{Appliance, TestDir, appliance_without_mfa, cli_user, stderr, stdout};

const S3_API: &str = "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs.";

/// Every tool named in spec/02 (the 44 of the tools table plus import_controls and
/// check_control_gaps from its async section), sorted.
const SPEC_TOOLS: &[&str] = &[
    "add_asset",
    "add_attacker",
    "add_evidence",
    "add_model_to_system",
    "apply_compliance_remediation",
    "assess_model",
    "auto_map_controls",
    "check_control_gaps",
    "create_system",
    "delete_assertion",
    "delete_threat_model",
    "edit_asset",
    "edit_attacker",
    "export_threat_model",
    "generate_threat_model",
    "get_compliance_report",
    "get_control_objectives",
    "get_controls",
    "get_operation_status",
    "get_review_queue",
    "get_scan_prompt",
    "get_system",
    "get_threat_model",
    "get_verification_report",
    "import_controls",
    "list_assertions",
    "list_compliance_frameworks",
    "list_findings",
    "list_systems",
    "list_threat_models",
    "list_workspaces",
    "map_control_to_requirement",
    "query_threat_model",
    "refine_control",
    "refine_threat_model",
    "regenerate_controls",
    "remove_asset",
    "remove_attacker",
    "remove_evidence",
    "rename_threat_model",
    "select_compliance_frameworks",
    "submit_assertions",
    "submit_findings",
    "suggest_compliance_remediation",
    "update_control_status",
    "update_finding",
];

pub(crate) type Client = RunningService<RoleClient, ()>;
pub(crate) type PeerRef = rmcp::service::Peer<RoleClient>;

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct ProgressLog(std::sync::Arc<std::sync::Mutex<Vec<Progress>>>);

/// One progress notification: progress value and message.
type Progress = (f64, Option<String>);

impl rmcp::ClientHandler for ProgressLog {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        if let Ok(mut log) = self.0.lock() {
            log.push((params.progress, params.message));
        }
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub(crate) fn api_key(dir: &TestDir, email: &str, scope: &str) -> String {
    let out = dir
        .cmd()
        .args([
            "admin", "api-key", "create", "--user", email, "--scope", scope,
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

pub(crate) async fn connect(app: &Appliance, key: &str) -> Client {
    connect_with(app, key, ()).await
}

/// [`connect`] with a client handler that records what the server sends.
async fn connect_with<H: rmcp::ClientHandler>(
    app: &Appliance,
    key: &str,
    handler: H,
) -> RunningService<RoleClient, H> {
    let mut headers = HashMap::new();
    headers.insert(
        reqwest::header::HeaderName::from_static("x-api-key"),
        reqwest::header::HeaderValue::from_str(key).expect("header"),
    );
    let config =
        StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).custom_headers(headers);
    let transport = StreamableHttpClientTransport::from_config(config);
    handler
        .serve(transport)
        .await
        .expect("MCP initialize over HTTP")
}

/// A client that records the URIs of `notifications/resources/updated`.
#[derive(Clone, Default)]
struct UpdateLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl UpdateLog {
    fn count(&self, uri: &str) -> usize {
        self.0
            .lock()
            .map(|l| l.iter().filter(|u| *u == uri).count())
            .unwrap_or(0)
    }

    /// Waits until `uri` has been announced `n` times, or fails after `secs`.
    async fn wait_for(&self, uri: &str, n: usize, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.count(uri) < n {
            assert!(
                Instant::now() < until,
                "no update #{n} for {uri} in {secs} s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl rmcp::ClientHandler for UpdateLog {
    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        if let Ok(mut log) = self.0.lock() {
            log.push(params.uri);
        }
    }
}

pub(crate) async fn call(client: &PeerRef, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(map) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(map))
        .await
        .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"))
}

pub(crate) fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The structured result of a successful call.
pub(crate) async fn ok(client: &PeerRef, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text(&r));
    let t = text(&r);
    r.structured_content
        .unwrap_or_else(|| serde_json::from_str(&t).expect("json text"))
}

/// The message of a call that must fail as a tool error.
pub(crate) async fn tool_error(client: &PeerRef, tool: &str, args: Value) -> String {
    let r = call(client, tool, args).await;
    assert_eq!(r.is_error, Some(true), "{tool} should fail: {}", text(&r));
    text(&r)
}

async fn tool_names(client: &PeerRef) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn mcp_over_http_workflow() {
    let dir = TestDir::new("mcp-http");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let key = api_key(&dir, "alice@example.com", "developer");
    let verifier = api_key(&dir, "alice@example.com", "verifier");
    runtime().block_on(async {
        let client = connect(&app, &key).await;
        let info = client.peer_info().expect("server info");
        assert_eq!(info.protocol_version.as_str(), "2025-11-25");
        assert!(
            info.instructions
                .as_deref()
                .unwrap_or_default()
                .contains("rampart verify verify <type> -p key=value --project-root .")
        );

        // The tool list is exactly the spec's, each with an object input schema.
        let tools = client.list_all_tools().await.expect("tools/list");
        let names = tool_names(&client).await;
        assert_eq!(names, SPEC_TOOLS);
        for t in &tools {
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 20), "{}", t.name);
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{}", t.name);
        }
        let gen_tool = tools.iter().find(|t| t.name == "generate_threat_model").expect("tool");
        let props = gen_tool.input_schema.get("properties").expect("properties");
        assert!(props.get("feature_description").is_some() && props.get("async_mode").is_some());

        // Async generation: job id at once, then poll until completed.
        let started = ok(&client, "generate_threat_model", json!({"feature_description": S3_API})).await;
        let job_id = started["job_id"].as_str().expect("job_id").to_string();
        assert!(job_id.starts_with("job_") && job_id.len() == 16, "{job_id}");
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            let s = ok(&client, "get_operation_status", json!({"job_id": job_id})).await;
            assert!(s.get("progress").is_some() && s.get("total").is_some(), "{s}");
            if s["status"] == "completed" || s["status"] == "failed" {
                break s;
            }
            assert!(Instant::now() < deadline, "job did not finish: {s}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(status["status"], "completed", "{status}");
        let model_id = status["result"]["model_id"].as_str().expect("model_id").to_string();
        let msg = tool_error(&client, "get_operation_status", json!({"job_id": "job_000000000000"})).await;
        assert!(msg.contains("not found"), "{msg}");

        // Summary first: counts only without filters.
        let summary = ok(&client, "get_controls", json!({"model_id": model_id})).await;
        let total = summary["total"].as_u64().expect("total");
        assert!(total > 0);
        assert_eq!(summary["not_implemented"].as_u64(), Some(total));
        assert!(summary.get("controls").is_none(), "{summary}");
        // Filters and paging.
        let page = ok(
            &client,
            "get_controls",
            json!({"model_id": model_id, "status": "not_implemented", "limit": 3}),
        )
        .await;
        let listed = page["controls"].as_array().expect("controls");
        assert_eq!(listed.len(), 3.min(total as usize));
        assert_eq!(page["matching"].as_u64(), Some(total));
        assert!(listed.iter().all(|c| c["status"] == "not_implemented"));
        let control_id = listed[0]["id"].as_str().expect("id").to_string();
        let one = ok(&client, "get_controls", json!({"model_id": model_id, "control_id": control_id})).await;
        assert_eq!(one["control"]["id"], control_id.as_str());
        let co = one["control"]["control_objectives"][0].as_str().expect("co").to_string();
        let by_co = ok(&client, "get_controls", json!({"model_id": model_id, "co_id": co})).await;
        assert!(
            by_co["controls"]
                .as_array()
                .expect("controls")
                .iter()
                .any(|c| c["id"] == control_id.as_str())
        );

        // Bad arguments and unknown objects are tool errors naming the problem.
        let msg = tool_error(&client, "get_controls", json!({"model_id": model_id, "status": "done"})).await;
        assert!(msg.contains("status"), "{msg}");
        let msg = tool_error(&client, "get_controls", json!({})).await;
        assert!(msg.contains("model_id"), "{msg}");
        let msg = tool_error(&client, "get_controls", json!({"model_id": model_id, "limit": "ten"})).await;
        assert!(msg.contains("`limit`"), "{msg}");
        let msg = tool_error(&client, "get_controls", json!({"model_id": model_id, "colour": "red"})).await;
        assert!(msg.contains("colour"), "{msg}");
        let msg = tool_error(&client, "get_threat_model", json!({"model_id": "no-such-model"})).await;
        assert!(msg.contains("not found"), "{msg}");
        let msg = tool_error(&client, "generate_threat_model", json!({"feature_description": "   "})).await;
        assert!(msg.contains("feature_description"), "{msg}");

        // get_threat_model hides COs unless asked.
        let m = ok(&client, "get_threat_model", json!({"model_id": model_id})).await;
        assert!(m.get("control_objectives").is_none() && m["control_objectives_count"].as_u64() > Some(0));
        let m = ok(&client, "get_threat_model", json!({"model_id": model_id, "include_cos": true})).await;
        assert!(m["control_objectives"].as_array().is_some_and(|a| !a.is_empty()));

        // Evidence: assertions, status, report.
        let submitted = ok(
            &client,
            "submit_assertions",
            json!({
                "model_id": model_id,
                "control_id": control_id,
                "assertions_json": [{
                    "type": "function_exists",
                    "params": {"file": "src/auth.rs", "name": "require_auth"},
                    "description": "Authentication middleware exists"
                }]
            }),
        )
        .await;
        assert_eq!(submitted["created"].as_array().map(Vec::len), Some(1), "{submitted}");
        let msg = tool_error(
            &client,
            "submit_assertions",
            json!({"model_id": model_id, "control_id": control_id, "assertions_json": "[{\"type\": \"no_such_type\", \"params\": {}, \"description\": \"x\"}]"}),
        )
        .await;
        assert!(msg.contains("assertions[0]"), "{msg}");
        let listed = ok(&client, "list_assertions", json!({"model_id": model_id, "control_id": control_id})).await;
        assert_eq!(listed["total"], 1);
        assert!(listed["next_cursor"].is_null(), "{listed}");

        // Findings page like the REST list: limit, then cursor = next_cursor.
        let found = ok(
            &client,
            "submit_findings",
            json!({"model_id": model_id, "findings_json": [
                {"title": "No rate limit", "severity": "high", "control_id": control_id},
                {"title": "No audit log", "severity": "medium"},
                {"title": "Verbose errors", "severity": "low"}
            ]}),
        )
        .await;
        assert_eq!(found["findings"].as_array().map(Vec::len), Some(3), "{found}");
        let first = ok(&client, "list_findings", json!({"model_id": model_id, "limit": 2})).await;
        assert_eq!((first["total"].as_u64(), first["findings"].as_array().map(Vec::len)), (Some(3), Some(2)), "{first}");
        let cursor = first["next_cursor"].as_str().expect("next_cursor").to_string();
        let rest = ok(&client, "list_findings", json!({"model_id": model_id, "limit": 2, "cursor": cursor})).await;
        assert_eq!(rest["findings"].as_array().map(Vec::len), Some(1), "{rest}");
        assert!(rest["next_cursor"].is_null(), "{rest}");
        let msg = tool_error(&client, "list_findings", json!({"model_id": model_id, "limit": 0})).await;
        assert!(msg.contains("limit"), "{msg}");
        let msg = tool_error(&client, "list_assertions", json!({"model_id": model_id, "cursor": "bogus"})).await;
        assert!(msg.contains("cursor"), "{msg}");
        ok(
            &client,
            "update_control_status",
            json!({"model_id": model_id, "control_id": control_id, "status": "implemented", "notes": "middleware"}),
        )
        .await;
        let implemented = ok(&client, "get_controls", json!({"model_id": model_id, "status": "implemented"})).await;
        assert_eq!(implemented["matching"], 1);
        let report = ok(&client, "get_verification_report", json!({"model_id": model_id})).await;
        assert!(report.is_object() && report.to_string().contains(&control_id), "{report}");
        let assessed = ok(&client, "assess_model", json!({"model_id": model_id})).await;
        assert!(assessed.get("summary").is_some() && assessed.get("control_objectives").is_none());

        // Conversation services: query, refine (sync), regenerate, refine_control.
        let answer = ok(&client, "query_threat_model", json!({"model_id": model_id, "question": "Which controls protect the uploaded files?"})).await;
        assert!(answer["answer"].as_str().is_some_and(|a| !a.is_empty()), "{answer}");
        let before = ok(&client, "get_threat_model", json!({"model_id": model_id})).await;
        let refined = ok(
            &client,
            "refine_threat_model",
            json!({"model_id": model_id, "instruction": "Add an admin API reachable only from the VPN", "async_mode": false}),
        )
        .await;
        assert!(refined["version"].as_u64() > before["version"].as_u64(), "{refined}");
        let job = ok(&client, "refine_threat_model", json!({"model_id": model_id, "instruction": "Remove nothing; clarify scope"})).await;
        assert!(job["job_id"].as_str().is_some_and(|j| j.starts_with("job_")), "{job}");
        let regen = ok(&client, "regenerate_controls", json!({"model_id": model_id})).await;
        assert!(regen["kept"].as_array().is_some_and(|k| k.iter().any(|c| c == control_id.as_str())), "{regen}");
        let rc = ok(
            &client,
            "refine_control",
            json!({"model_id": model_id, "control_id": control_id, "new_description": "Do something", "justification": "testing"}),
        )
        .await;
        assert!(rc["accepted"].is_boolean() && rc["evaluation"].is_string(), "{rc}");
        let msg = tool_error(&client, "refine_control", json!({"model_id": model_id, "control_id": control_id, "new_description": " ", "justification": "x"})).await;
        assert!(msg.contains("new_description"), "{msg}");

        // Export, compliance, systems, workspaces.
        let csv = ok(&client, "export_threat_model", json!({"model_id": model_id, "format": "csv"})).await;
        let content = csv["content"].as_str().expect("csv");
        assert!(content.starts_with("control_id,name,"), "{content}");
        let now_total = ok(&client, "get_controls", json!({"model_id": model_id})).await["total"]
            .as_u64()
            .expect("total");
        assert_eq!(content.lines().count() as u64, now_total + 1);
        let html = ok(&client, "export_threat_model", json!({"model_id": model_id, "format": "html"})).await;
        assert!(html["content"].as_str().expect("html").contains(&control_id));
        let pdf = ok(&client, "export_threat_model", json!({"model_id": model_id, "format": "pdf"})).await;
        assert_eq!(pdf["media_type"], "application/pdf");
        assert!(pdf["content_base64"].as_str().expect("base64").starts_with("JVBERi0"), "%PDF-");
        let msg = tool_error(&client, "export_threat_model", json!({"model_id": model_id, "format": "docx"})).await;
        assert!(msg.contains("format"), "{msg}");
        let fws = ok(&client, "list_compliance_frameworks", json!({})).await;
        assert_eq!(fws["total"], 8, "{fws}");
        let sys = ok(&client, "create_system", json!({"name": "Uploads", "model_ids": [model_id]})).await;
        let sys_id = sys["id"].as_str().expect("system id").to_string();
        let systems = ok(&client, "list_systems", json!({})).await;
        assert_eq!(systems["total"], 1);
        let got = ok(&client, "get_system", json!({"system_id": sys_id})).await;
        assert_eq!(got["models"][0]["id"], model_id.as_str());
        let ws = ok(&client, "list_workspaces", json!({})).await;
        assert!(ws["workspaces"].as_array().is_some_and(|w| w.iter().any(|x| x["current"] == true)));

        // Verifier keys read, but cannot change anything.
        let vclient = connect(&app, &verifier).await;
        let msg = tool_error(&vclient, "generate_threat_model", json!({"feature_description": S3_API})).await;
        assert!(msg.contains("verifier keys (mv_)"), "{msg}");
        let msg = tool_error(&vclient, "update_control_status", json!({"model_id": model_id, "control_id": control_id, "status": "not_implemented"})).await;
        assert!(msg.contains("developer key"), "{msg}");
        let read = ok(&vclient, "get_verification_report", json!({"model_id": model_id})).await;
        assert!(read.is_object());
        vclient.cancel().await.expect("close");
        client.cancel().await.expect("close");
    });

    // Without a key: 401 with a clear message; foreign Origin: rejected.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("X-API-Key")
    );
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("X-API-Key", "mk_not_a_real_key")
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 401);
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("X-API-Key", &key)
        .header("Origin", "http://evil.example")
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 403);
    // An older client revision is negotiated, not refused.
    let mut old = init.clone();
    old["params"]["protocolVersion"] = json!("2025-03-26");
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("X-API-Key", &key)
        .header("Accept", "application/json, text/event-stream")
        .json(&old)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text()
            .expect("body")
            .contains("\"protocolVersion\":\"2025-03-26\"")
    );
}

/// Starts a `rampart mcp --stdio …` command and connects an MCP client to its stdio that
/// records progress notifications; stderr is piped when `capture_stderr`.
async fn stdio_client(
    cmd: std::process::Command,
    capture_stderr: bool,
) -> (
    tokio::process::Child,
    RunningService<RoleClient, ProgressLog>,
    ProgressLog,
) {
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(if capture_stderr {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::inherit()
        })
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn rampart mcp --stdio");
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take().expect("stdin");
    let progress = ProgressLog::default();
    let client = progress
        .clone()
        .serve((stdout, stdin))
        .await
        .expect("MCP initialize over stdio");
    (child, client, progress)
}

/// A synchronous generate_threat_model call that asks for progress notifications.
fn generate_with_progress(token: &str) -> CallToolRequestParams {
    let mut params = CallToolRequestParams::new("generate_threat_model").with_arguments(
        json!({"feature_description": S3_API, "async_mode": false})
            .as_object()
            .cloned()
            .expect("object"),
    );
    let mut meta = rmcp::model::RequestMetaObject::default();
    meta.set_progress_token(rmcp::model::ProgressToken(
        rmcp::model::NumberOrString::String(token.into()),
    ));
    params.meta = Some(meta);
    params
}

#[test]
fn mcp_over_stdio() {
    let dir = TestDir::new("mcp-stdio");
    crate::harness::cli_setup(&dir, "admin@example.com");
    cli_user(&dir, "bob@example.com", "user");
    let key = api_key(&dir, "bob@example.com", "developer");
    // Without a key the command refuses to start.
    let out = dir.cmd().args(["mcp", "--stdio"]).output();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("RAMPART_API_KEY"), "{}", stderr(&out));

    runtime().block_on(async {
        let (mut child, client, progress) = stdio_client(
            dir.cmd()
                .args(["mcp", "--stdio"])
                .env("RAMPART_API_KEY", &key)
                .cmd,
            false,
        )
        .await;
        assert_eq!(tool_names(&client).await, SPEC_TOOLS);
        let empty = ok(&client, "list_threat_models", json!({})).await;
        assert_eq!(empty["total"], 0);
        // Synchronous generation with a progress token: one notification per pipeline step.
        let params = generate_with_progress("gen-1");
        let made = client.call_tool(params).await.expect("generate");
        assert_ne!(made.is_error, Some(true), "{}", text(&made));
        let made = made.structured_content.expect("structured");
        let model_id = made["model_id"].as_str().expect("model_id");
        // Notifications are handled concurrently with the tool's answer: on a loaded machine
        // the last ones may land after it, so wait for them (bounded) instead of a fixed nap.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while progress.0.lock().expect("log").len() < 6 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen = progress.0.lock().expect("log").clone();
        // The server sends the notifications in order, but the rmcp client runs its
        // notification handlers concurrently, so arrival order in this log can vary: every
        // step must be reported exactly once.
        let mut steps = seen.iter().map(|(p, _)| *p).collect::<Vec<_>>();
        steps.sort_by(f64::total_cmp);
        assert_eq!(steps, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "{seen:?}");
        assert!(seen[0].1.as_deref().is_some_and(|m| !m.is_empty()));
        let list = ok(&client, "list_threat_models", json!({})).await;
        assert_eq!(list["total"], 1);
        assert_eq!(list["models"][0]["id"], model_id);
        assert_eq!(list["models"][0]["source"], "mcp");
        client.cancel().await.expect("close");
        let _ = child.wait().await;
    });
}

/// `rampart mcp --stdio --url`: a stdio client reaches a remote appliance through the
/// proxy (no local data dir), with the tool list, progress notifications of a synchronous
/// generation, tool errors, and writes the appliance itself then serves over REST. A wrong
/// key, an unreachable appliance or a bad URL stop it with one clear line.
#[test]
fn mcp_stdio_proxies_to_a_remote_appliance() {
    let dir = TestDir::new("mcp-proxy");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "carol@example.com", "user");
    let key = api_key(&dir, "carol@example.com", "developer");
    // The proxy runs somewhere else: its own (empty) data dir must stay untouched.
    let elsewhere = TestDir::new("mcp-proxy-client");
    let base = app.url("").trim_end_matches('/').to_string();

    for (args, env_key, want) in [
        (
            vec!["mcp", "--stdio", "--url", base.as_str()],
            "mk_wrong",
            "refused the key",
        ),
        (
            vec!["mcp", "--stdio", "--url", "http://127.0.0.1:9"],
            key.as_str(),
            "cannot reach the appliance",
        ),
        (
            vec!["mcp", "--stdio", "--url", "rampart.internal"],
            key.as_str(),
            "not a URL",
        ),
    ] {
        let out = elsewhere
            .cmd()
            .args(args.clone())
            .env("RAMPART_API_KEY", env_key)
            .output();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    }

    let model_id = runtime().block_on(async {
        let (mut child, client, progress) = stdio_client(
            elsewhere
                .cmd()
                .args(["mcp", "--stdio", "--url", &format!("{base}/mcp")])
                .env("RAMPART_API_KEY", &key)
                .cmd,
            true,
        )
        .await;
        let info = client.peer_info().expect("server info");
        assert_eq!(info.protocol_version.as_str(), "2025-11-25");
        assert_eq!(tool_names(&client).await, SPEC_TOOLS);
        let params = generate_with_progress("proxied");
        let made = client.call_tool(params).await.expect("generate");
        assert_ne!(made.is_error, Some(true), "{}", text(&made));
        let model_id = made.structured_content.expect("structured")["model_id"]
            .as_str()
            .expect("model_id")
            .to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        while progress.0.lock().expect("log").len() < 6 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            progress.0.lock().expect("log").len(),
            6,
            "progress through the proxy"
        );
        // Tool errors come through as tool errors.
        let err = tool_error(&client, "get_threat_model", json!({"model_id": "nope"})).await;
        assert!(err.contains("not found"), "{err}");
        client.cancel().await.expect("close");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the proxy exits when stdin closes")
            .expect("wait");
        assert!(status.success());
        let mut err = String::new();
        use tokio::io::AsyncReadExt as _;
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut err)
            .await
            .expect("stderr");
        assert!(err.contains("as carol@example.com"), "{err}");

        model_id
    });
    // The write happened on the appliance, as the key's user, from MCP.
    let rest = crate::harness::Client::with_key(&app, &key);
    let (status, m) = crate::harness::json(rest.get(&format!("/api/models/{model_id}")));
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["source"], "mcp");
    assert!(
        !elsewhere.data_dir().exists(),
        "the proxy created a local data dir"
    );
}

/// Prompts for the spec's workflows and each model as resources, through a real MCP client
/// over HTTP: listed, rendered with their arguments, refused without them; model, controls,
/// verification and compliance resources read as JSON; another workspace's model and
/// unknown URIs are errors that reveal nothing.
#[test]
fn prompts_and_resources_over_mcp() {
    use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
    let dir = TestDir::new("mcp-prompts");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "pat@example.com", "user");
    cli_user(&dir, "quinn@example.com", "user");
    let key = api_key(&dir, "pat@example.com", "developer");
    let other = api_key(&dir, "quinn@example.com", "developer");
    runtime().block_on(async {
        let client = connect(&app, &key).await;
        let caps = client.peer_info().expect("info").capabilities.clone();
        assert!(
            caps.prompts.is_some() && caps.resources.is_some(),
            "{caps:?}"
        );

        let prompts = client.list_all_prompts().await.expect("prompts/list");
        let mut names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "close_compliance_gaps",
                "prove_controls",
                "scan_for_gaps",
                "threat_model_feature"
            ]
        );
        let args = |v: Value| v.as_object().cloned().expect("object");
        let got = client
            .get_prompt(
                GetPromptRequestParams::new("threat_model_feature")
                    .with_arguments(args(json!({"feature_description": S3_API}))),
            )
            .await
            .expect("prompts/get");
        let text = serde_json::to_string(&got.messages).expect("json");
        assert!(
            text.contains("pre-signed URLs") && text.contains("generate_threat_model"),
            "{text}"
        );
        let missing = client
            .get_prompt(GetPromptRequestParams::new("prove_controls"))
            .await
            .expect_err("model_id is required");
        assert!(missing.to_string().contains("model_id"), "{missing}");
        assert!(
            client
                .get_prompt(GetPromptRequestParams::new("nope"))
                .await
                .is_err()
        );

        let made = ok(
            &client,
            "generate_threat_model",
            json!({"feature_description": S3_API, "async_mode": false}),
        )
        .await;
        let model = made["model_id"].as_str().expect("model_id").to_string();
        let listed = client.list_all_resources().await.expect("resources/list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].uri, format!("rampart://models/{model}"));
        let templates = client
            .list_all_resource_templates()
            .await
            .expect("resources/templates/list");
        assert_eq!(templates.len(), 4);
        for (suffix, field) in [
            ("", "assets"),
            ("/controls", "controls"),
            ("/verification-report", "model_id"),
            ("/compliance-report", "reports"),
        ] {
            let uri = format!("rampart://models/{model}{suffix}");
            let read = client
                .read_resource(ReadResourceRequestParams::new(uri.clone()))
                .await
                .unwrap_or_else(|e| panic!("{uri}: {e}"));
            let body = serde_json::to_value(&read.contents[0]).expect("json");
            assert_eq!(body["uri"], json!(uri));
            assert_eq!(body["mimeType"], "application/json");
            let doc: Value =
                serde_json::from_str(body["text"].as_str().expect("text")).expect("JSON text");
            assert!(!doc[field].is_null(), "{uri}: {doc}");
        }
        for bad in [
            "rampart://models/nope",
            "rampart://models/x/other",
            "file:///etc/passwd",
        ] {
            let err = client
                .read_resource(ReadResourceRequestParams::new(bad))
                .await
                .expect_err(bad);
            assert!(!err.to_string().is_empty());
        }
        // Another workspace's key sees none of it.
        let outsider = connect(&app, &other).await;
        assert!(
            outsider
                .list_all_resources()
                .await
                .expect("list")
                .is_empty()
        );
        let hidden = outsider
            .read_resource(ReadResourceRequestParams::new(format!(
                "rampart://models/{model}"
            )))
            .await
            .expect_err("another workspace's model");
        let unknown = outsider
            .read_resource(ReadResourceRequestParams::new(
                "rampart://models/6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
            ))
            .await
            .expect_err("unknown model");
        assert_eq!(
            hidden.to_string().replace(&model, "ID"),
            unknown
                .to_string()
                .replace("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "ID")
        );
        let _ = outsider.cancel().await;
        let _ = client.cancel().await;
    });
}

/// `resources/subscribe`: a subscribed model and its controls are announced when they change
/// (through REST or a tool), not when nothing changed; unsubscribing stops it; a deletion is
/// announced; URIs the caller cannot read are refused like reads, with the same message.
#[test]
#[allow(deprecated)] // resources/subscribe is the 2025-11-25 method; rmcp calls it legacy
fn subscribed_resources_announce_their_changes() {
    use rmcp::model::{SubscribeRequestParams, UnsubscribeRequestParams};
    let dir = TestDir::new("mcp-subscribe");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "sol@example.com", "user");
    cli_user(&dir, "ty@example.com", "user");
    let key = api_key(&dir, "sol@example.com", "developer");
    let other = api_key(&dir, "ty@example.com", "developer");
    let http = reqwest::blocking::Client::new();
    let rt = runtime();
    let log = UpdateLog::default();
    let client = rt.block_on(connect_with(&app, &key, log.clone()));
    let caps = client.peer_info().expect("info").capabilities.clone();
    assert_eq!(
        caps.resources.and_then(|r| r.subscribe),
        Some(true),
        "subscribe is advertised"
    );
    let made = rt.block_on(ok(
        &client,
        "generate_threat_model",
        json!({"feature_description": S3_API, "async_mode": false}),
    ));
    let model = made["model_id"].as_str().expect("model_id").to_string();
    let model_uri = format!("rampart://models/{model}");
    let controls_uri = format!("{model_uri}/controls");
    for uri in [&model_uri, &controls_uri] {
        rt.block_on(client.subscribe(SubscribeRequestParams::new(uri.clone())))
            .unwrap_or_else(|e| panic!("subscribe {uri}: {e}"));
    }
    // Subscribing twice keeps one watcher (no double announcements below).
    rt.block_on(client.subscribe(SubscribeRequestParams::new(model_uri.clone())))
        .expect("second subscribe");

    // Nothing changed: nothing is announced (report timestamps do not count as changes).
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(log.count(&model_uri) + log.count(&controls_uri), 0);

    // A rename through REST is announced for the model.
    let renamed = http
        .patch(app.url(&format!("/api/models/{model}")))
        .header("X-API-Key", &key)
        .json(&json!({"title": "Renamed through REST"}))
        .send()
        .expect("PATCH");
    assert!(renamed.status().is_success(), "{}", renamed.status());
    rt.block_on(log.wait_for(&model_uri, 1, 15));

    // A control status change through a tool is announced for the controls.
    let controls = rt.block_on(ok(
        &client,
        "get_controls",
        json!({"model_id": model, "limit": 1}),
    ));
    let control_id = controls["controls"][0]["id"]
        .as_str()
        .expect("control id")
        .to_string();
    rt.block_on(ok(
        &client,
        "update_control_status",
        json!({"model_id": model, "control_id": control_id, "status": "implemented"}),
    ));
    rt.block_on(log.wait_for(&controls_uri, 1, 15));

    // Unsubscribed: a further rename is not announced.
    rt.block_on(client.unsubscribe(UnsubscribeRequestParams::new(model_uri.clone())))
        .expect("unsubscribe");
    let before = log.count(&model_uri);
    let again = http
        .patch(app.url(&format!("/api/models/{model}")))
        .header("X-API-Key", &key)
        .json(&json!({"title": "Renamed again"}))
        .send()
        .expect("PATCH");
    assert!(again.status().is_success());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(log.count(&model_uri), before, "no update after unsubscribe");

    // Another workspace cannot subscribe, and learns no more than from an unknown id.
    let outsider = rt.block_on(connect(&app, &other));
    let hidden = rt
        .block_on(outsider.subscribe(SubscribeRequestParams::new(model_uri.clone())))
        .expect_err("another workspace's model");
    let unknown = rt
        .block_on(outsider.subscribe(SubscribeRequestParams::new(
            "rampart://models/6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
        )))
        .expect_err("unknown model");
    assert_eq!(
        hidden.to_string().replace(&model, "ID"),
        unknown
            .to_string()
            .replace("6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "ID")
    );
    assert!(
        rt.block_on(client.subscribe(SubscribeRequestParams::new("file:///etc/passwd")))
            .is_err()
    );

    // Deleting the model is announced to the remaining subscription.
    let seen = log.count(&controls_uri);
    rt.block_on(ok(
        &client,
        "delete_threat_model",
        json!({"model_id": model}),
    ));
    rt.block_on(log.wait_for(&controls_uri, seen + 1, 15));
    rt.block_on(async {
        let _ = outsider.cancel().await;
        let _ = client.cancel().await;
    });
}

/// The tools no other test calls through an MCP client (entities, evidence, review queue,
/// scan prompt, finding lifecycle, deletions, systems membership), each with its effect
/// checked through another tool. With the workflow tests this calls all 46.
#[test]
fn remaining_tools_through_a_real_mcp_client() {
    let dir = TestDir::new("mcp-every-tool");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "rae@example.com", "user");
    let key = api_key(&dir, "rae@example.com", "developer");
    runtime().block_on(async {
        let c = connect(&app, &key).await;
        let made = ok(&c, "generate_threat_model", json!({"feature_description": S3_API, "async_mode": false})).await;
        let m = made["model_id"].as_str().expect("model_id").to_string();
        let model = |v: &Value| v.to_string();

        // Entities: add, edit, remove; objectives follow.
        let asset = ok(&c, "add_asset", json!({"model_id": m, "name": "Signing key of pre-signed URLs", "properties": ["C", "I"], "impact": "high", "rationale": "Forges download links"})).await;
        let aid = asset["asset_id"].as_str().expect("asset_id").to_string();
        ok(&c, "edit_asset", json!({"model_id": m, "asset_id": aid, "description": "HMAC key that signs S3 URLs"})).await;
        let attacker = ok(&c, "add_attacker", json!({"model_id": m, "name": "Former contractor with old credentials", "position": "external", "likelihood": "medium", "threatens": ["C"]})).await;
        let atk = attacker["attacker_id"].as_str().expect("attacker_id").to_string();
        ok(&c, "edit_attacker", json!({"model_id": m, "attacker_id": atk, "likelihood": "low"})).await;
        let doc = ok(&c, "get_threat_model", json!({"model_id": m})).await;
        assert!(model(&doc).contains("HMAC key that signs S3 URLs"), "{doc}");
        assert!(model(&doc).contains("Former contractor"), "{doc}");
        ok(&c, "remove_attacker", json!({"model_id": m, "attacker_id": atk, "reason": "covered by ATK1"})).await;
        ok(&c, "remove_asset", json!({"model_id": m, "asset_id": aid, "reason": "keys are in the KMS model"})).await;
        let doc = ok(&c, "get_threat_model", json!({"model_id": m})).await;
        assert!(!model(&doc).contains("Former contractor") && !model(&doc).contains("HMAC key"), "{doc}");
        let msg = tool_error(&c, "remove_asset", json!({"model_id": m, "asset_id": aid})).await;
        assert!(msg.contains(&aid), "{msg}");

        // Evidence on a control: add, see it, remove it.
        let controls = ok(&c, "get_controls", json!({"model_id": m, "limit": 1})).await;
        let ctl = controls["controls"][0]["id"].as_str().unwrap_or_else(|| panic!("a control in {controls}")).to_string();
        let ev = ok(&c, "add_evidence", json!({"model_id": m, "control_id": ctl, "title": "PR #42 adds the check", "reference": "https://git.example/pr/42"})).await;
        let eid = ev["evidence_id"].as_str().expect("evidence_id").to_string();
        let one = ok(&c, "get_controls", json!({"model_id": m, "control_id": ctl})).await;
        assert!(model(&one).contains("PR #42 adds the check"), "{one}");
        ok(&c, "remove_evidence", json!({"model_id": m, "control_id": ctl, "evidence_id": eid})).await;
        let one = ok(&c, "get_controls", json!({"model_id": m, "control_id": ctl})).await;
        assert!(!model(&one).contains("PR #42 adds the check"), "{one}");

        // Assertions: submit, delete; the review queue and the scan prompt answer for the model.
        let sub = ok(&c, "submit_assertions", json!({"model_id": m, "control_id": ctl, "assertions_json": [{"type": "file_exists", "params": {"file": "src/upload.rs"}, "description": "The upload module exists"}]})).await;
        let asrt = sub["created"][0]["id"].as_str().unwrap_or_else(|| panic!("assertion id in {sub}")).to_string();
        ok(&c, "delete_assertion", json!({"model_id": m, "assertion_id": asrt})).await;
        assert_eq!(ok(&c, "list_assertions", json!({"model_id": m})).await["total"], 0);
        let queue = ok(&c, "get_review_queue", json!({"model_id": m, "stale_after_hours": 1})).await;
        assert_eq!(queue["model_id"], json!(m));
        assert!(queue["controls"].is_array(), "{queue}");
        let prompt = ok(&c, "get_scan_prompt", json!({"model_id": m})).await;
        assert!(prompt["prompt"].as_str().is_some_and(|p| p.contains(&ctl)), "{prompt}");

        // A finding through its lifecycle; a transition the lifecycle forbids is refused.
        let f = ok(&c, "submit_findings", json!({"model_id": m, "findings_json": [{"title": "Unsigned URLs accepted", "severity": "high", "control_id": ctl}]})).await;
        let fid = f["findings"][0]["id"].as_str().unwrap_or_else(|| panic!("finding id in {f}")).to_string();
        ok(&c, "update_finding", json!({"model_id": m, "finding_id": fid, "status": "acknowledged"})).await;
        let msg = tool_error(&c, "update_finding", json!({"model_id": m, "finding_id": fid, "status": "discovered"})).await;
        assert!(msg.contains("acknowledged"), "{msg}");
        let listed = ok(&c, "list_findings", json!({"model_id": m, "status": "acknowledged"})).await;
        assert_eq!(listed["total"], 1, "{listed}");

        // Systems membership, then the model's deletion.
        let sys = ok(&c, "create_system", json!({"name": "Storage"})).await;
        let sid = sys["id"].as_str().expect("system id").to_string();
        let added = ok(&c, "add_model_to_system", json!({"system_id": sid, "model_id": m})).await;
        assert_eq!(added["models"][0]["id"], json!(m));
        ok(&c, "delete_threat_model", json!({"model_id": m})).await;
        let msg = tool_error(&c, "get_threat_model", json!({"model_id": m})).await;
        assert!(msg.contains("not found"), "{msg}");
        assert_eq!(ok(&c, "list_threat_models", json!({})).await["total"], 0);
        let _ = c.cancel().await;
    });
}

#[test]
fn shared_workspace_over_mcp_viewer_reads_member_writes() {
    let dir = TestDir::new("mcp-team");
    let app = appliance_without_mfa(&dir);
    for u in ["lead@example.com", "dev@example.com", "auditor@example.com"] {
        cli_user(&dir, u, "user");
    }
    let lead = crate::harness::Client::login(&app, "lead@example.com", crate::harness::PASSWORD);
    let ws = crate::tenancy::team(
        &lead,
        "Platform",
        None,
        &[
            ("dev@example.com", "member"),
            ("auditor@example.com", "viewer"),
        ],
    );
    let dev = crate::tenancy::key_for(&dir, "dev@example.com", "developer", &ws);
    let auditor = crate::tenancy::key_for(&dir, "auditor@example.com", "developer", &ws);
    runtime().block_on(async {
        let d = connect(&app, &dev).await;
        let a = connect(&app, &auditor).await;
        // Both see the workspace as current, with their role.
        for (c, role) in [(&d, "member"), (&a, "viewer")] {
            let w = ok(c, "list_workspaces", json!({})).await;
            assert_eq!(w["current_workspace_id"], ws.as_str(), "{w}");
            let cur = w["workspaces"]
                .as_array()
                .expect("list")
                .iter()
                .find(|x| x["current"] == true)
                .cloned()
                .expect("current");
            assert_eq!(cur["role"], role, "{w}");
        }
        // The member generates; the viewer sees it and can read everything of it.
        let m = ok(&d, "generate_threat_model", json!({"feature_description": S3_API, "async_mode": false})).await;
        let model_id = m["model_id"]
            .as_str()
            .or_else(|| m["id"].as_str())
            .unwrap_or_else(|| panic!("model id in {m}"))
            .to_string();
        let list = ok(&a, "list_threat_models", json!({})).await;
        assert!(list.to_string().contains(&model_id), "{list}");
        ok(&a, "get_threat_model", json!({"model_id": model_id})).await;
        // Every write the viewer tries is refused and changes nothing.
        let msg = tool_error(&a, "rename_threat_model", json!({"model_id": model_id, "title": "hijacked"})).await;
        assert!(msg.contains("viewer"), "{msg}");
        let msg = tool_error(
            &a,
            "submit_assertions",
            json!({"model_id": model_id, "control_id": "CTRL-01", "assertions_json": json!([{"type": "function_exists", "params": {"file": "a.py", "name": "f"}, "description": "x"}]).to_string()}),
        )
        .await;
        assert!(msg.contains("viewer"), "{msg}");
        let msg = tool_error(&a, "generate_threat_model", json!({"feature_description": S3_API})).await;
        assert!(msg.contains("viewer"), "{msg}");
        let m = ok(&d, "get_threat_model", json!({"model_id": model_id})).await;
        assert_ne!(m["title"], "hijacked");
        // The member writes.
        ok(&d, "rename_threat_model", json!({"model_id": model_id, "title": "Uploads (team)"})).await;
    });
}
