//! Request-sequence tests of the client against a tiny in-process HTTP server that logs
//! every request and answers canned JSON (contract §2.1, §2.2).

use super::client::{Client, RunSettings, run_all, run_model};
use super::output;
use super::workspace::Workspace;
use super::{Exit, FailOn, exit_code};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
struct Logged {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Logged {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Responder = Arc<dyn Fn(&str, &str) -> (u16, String) + Send + Sync>;

/// Starts a server; returns its base URL and the request log.
fn serve(respond: Responder) -> (String, Arc<Mutex<Vec<Logged>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log: Arc<Mutex<Vec<Logged>>> = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, reply) = respond(&method, &target);
            log2.lock().expect("log").push(Logged {
                method,
                target,
                headers,
                body,
            });
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (format!("http://{addr}"), log)
}

fn assertions_body() -> Value {
    json!({"model_id":"M1","controls":{"CTRL-01":[
        {"id":"asrt_001","type":"function_exists","params":{"file":"app/auth.py","name":"verify_token"},"description":"Token check — exists","repo":"acme/web"},
        {"id":"asrt_002","type":"pattern_matches","params":{"file":"nginx.conf","pattern":"Strict-Transport-Security"},"description":"HSTS","repo":null},
        {"id":"asrt_009","type":"file_exists","params":{"file":"other.txt"},"description":"other repo","repo":"acme/other"}
    ]},"assumptions":{"AS-01":[{"id":"asrt_003","type":"sink_default_deny","params":{"scope":"src"},"description":"not a tier-1 type here"}]}})
}

fn responder(fail_assertions: bool) -> Responder {
    Arc::new(move |method, target| {
        let path = target.split('?').next().unwrap_or("");
        match (method, path) {
            ("GET", p) if p.ends_with("/verification/assertions") => {
                if fail_assertions { (500, "{\"detail\":\"boom\"}".into()) } else { (200, assertions_body().to_string()) }
            }
            ("POST", p) if p.ends_with("/verification/results") => (200, "{\"run_id\":\"run_42\"}".into()),
            ("GET", p) if p.ends_with("/verification/report") => (
                200,
                json!({"control_details":[{"control_id":"CTRL-01","sufficiency":{"status":"sufficient","details":"ok"}}],"drift_items":[]}).to_string(),
            ),
            ("POST", "/v1/chat/completions") => (
                200,
                json!({"choices":[{"message":{"role":"assistant","content":"YES\nThe function returns the token after checking it."}}]}).to_string(),
            ),
            ("GET", p) if p.ends_with("/api/models/M3") => (
                200,
                json!({"id":"M3","components":[{"id":"C1","path":"svc"}]}).to_string(),
            ),
            ("GET", p) if p.ends_with("/controls") => (200, json!({"controls":[{"id":"CTRL-01"}]}).to_string()),
            ("GET", p) if p.ends_with("/verification/pending") => (200, json!({"controls":{"CTRL-01":[{"id":"a"},{"id":"b"}]},"assumptions":{}}).to_string()),
            ("GET", "/p/api/models") | ("GET", "/api/models") => (200, json!([{"id":"M1","title":"Web"},{"id":"M2","title":null}]).to_string()),
            ("GET", p) if p.ends_with("/api/models/M2") => (200, json!({"id":"M2","description_provenance":{"repo_url":"https://github.com/Acme/Other.git"}}).to_string()),
            ("GET", p) if p.contains("/api/models/") => (200, json!({"id":"M1","title":"Web","description_provenance":{"repo_url":"https://github.com/acme/web"}}).to_string()),
            _ => (404, "{\"detail\":\"not found\"}".into()),
        }
    })
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(d.path().join("app")).expect("mkdir");
    std::fs::write(
        d.path().join("app/auth.py"),
        "def verify_token(t):\n    return t\n",
    )
    .expect("w");
    std::fs::write(
        d.path().join("nginx.conf"),
        "add_header X-Frame-Options DENY;\n",
    )
    .expect("w");
    d
}

fn settings<'a>(
    ws: &'a Workspace,
    dry_run: bool,
    key: Option<p256::ecdsa::SigningKey>,
) -> RunSettings<'a> {
    RunSettings {
        ws,
        repo: Some("acme/web".into()),
        dry_run,
        provider: None,
        signing_key: key,
        customer_key: None,
        verbose: false,
        changed_files: None,
        component: None,
    }
}

fn test_key() -> p256::ecdsa::SigningKey {
    let bytes = hex::decode("67ed0e033360e34e1a9064eac9f74f2b77550ec7075cfa88b5eb9e7031b1de0f")
        .expect("hex");
    p256::ecdsa::SigningKey::from_slice(&bytes).expect("key")
}

#[test]
fn verifier_key_run_follows_contract_sequence_and_signs() {
    let (base, log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    // Path prefix plus one trailing slash: the slash is stripped, the prefix kept.
    let client = Client::new(&format!("{base}/p/"), "mv_secret").expect("client");
    let out = run_model(&client, "M1", None, &settings(&ws, false, Some(test_key())));
    assert!(out.error.is_none(), "{:?}", out.error);
    let log = log.lock().expect("log").clone();
    let seq: Vec<String> = log
        .iter()
        .map(|l| format!("{} {}", l.method, l.target))
        .collect();
    assert_eq!(
        seq,
        [
            "GET /p/api/models/M1",
            "GET /p/api/models/M1/verification/assertions?repo=acme%2Fweb",
            "POST /p/api/models/M1/verification/results",
            "GET /p/api/models/M1/verification/assertions?repo=acme%2Fweb",
            "POST /p/api/models/M1/verification/results",
            "GET /p/api/models/M1/verification/report",
        ]
    );
    for l in &log {
        assert_eq!(l.header("x-api-key"), Some("mv_secret"));
        assert!(l.header("authorization").is_none());
    }
    // Tier-1 POST: repo filter dropped asrt_009; hash and signature check out.
    let body1: Value = serde_json::from_str(&log[2].body).expect("json");
    let rows = body1["results"].as_array().expect("rows");
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["assertion_id"].as_str())
        .collect();
    assert_eq!(ids, ["asrt_001", "asrt_002", "asrt_003"]);
    assert_eq!(rows[0]["result"], "pass");
    assert_eq!(rows[1]["result"], "fail");
    assert_eq!(rows[2]["result"], "skipped");
    assert_eq!(
        rows[2]["details"],
        "No verifier for type 'sink_default_deny'"
    );
    assert_eq!(rows[0]["tier"], 1);
    assert_eq!(rows[0]["reasoning"], "");
    let served: Vec<Value> = assertions_body()["controls"]["CTRL-01"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["id"] != "asrt_009")
        .cloned()
        .chain(
            assertions_body()["assumptions"]["AS-01"]
                .as_array()
                .expect("a")
                .iter()
                .cloned(),
        )
        .collect();
    let expected = crate::wire::content_hash(&served, rows);
    assert_eq!(body1["content_hash"], expected);
    let vk = crate::wire::load_verifying_key_pem(
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEynJd8+iBzsi0sYq3qzPs2X33+bAN\nZxeafhICpkocodVx7V42DJSuDepREvURdy+lYu/Jcy9PtP+GtRMGRChrZA==\n-----END PUBLIC KEY-----\n",
    )
    .expect("vk");
    assert_eq!(
        body1["signed_hash"].as_str(),
        expected.strip_prefix("sha256:")
    );
    crate::wire::verify_signature(
        &vk,
        body1["signed_hash"].as_str().expect("sh"),
        body1["signature"].as_str().expect("sig"),
    )
    .expect("signature verifies");
    assert!(
        body1["pipeline"]["source_digest"]
            .as_str()
            .expect("digest")
            .starts_with("sha256:")
    );
    // Tier-2 POST: all skipped without a provider.
    let body2: Value = serde_json::from_str(&log[4].body).expect("json");
    for r in body2["results"].as_array().expect("rows") {
        assert_eq!(r["tier"], 2);
        assert_eq!(r["result"], "skipped");
        assert_eq!(r["details"], "No --tier2-provider specified");
    }
    assert_eq!(
        body1["pipeline"]["source_digest"],
        body2["pipeline"]["source_digest"]
    );
    assert_eq!(out.tier1_run_id, "run_42");
    assert_eq!(
        exit_code(std::slice::from_ref(&out), FailOn::Fail),
        Exit::Failed as u8
    );
    assert_eq!(
        exit_code(std::slice::from_ref(&out), FailOn::None),
        Exit::Ok as u8
    );
    assert_eq!(
        exit_code(std::slice::from_ref(&out), FailOn::Drift),
        Exit::Ok as u8
    );
    let j = output::model_json(&out);
    for k in [
        "tier1_pass",
        "tier1_fail",
        "tier1_skip",
        "tier2_skip",
        "suff_sufficient",
        "tier1_run_id",
        "content_hash",
        "dry_run",
        "developer_key",
        "details",
        "suff_details",
        "repo_bound_assertions",
        "model_id",
    ] {
        assert!(j.get(k).is_some(), "json output lacks {k}");
    }
    assert_eq!(j["tier1_fail"], 1);
    assert_eq!(j["repo_bound_assertions"], 1);
}

#[test]
fn developer_key_and_dry_run_never_post() {
    for (key, dry) in [("mk_dev", false), ("mv_ci", true)] {
        let (base, log) = serve(responder(false));
        let d = project();
        let ws = Workspace::new(d.path()).expect("ws");
        let client = Client::new(&base, key).expect("client");
        let out = run_model(&client, "M1", None, &settings(&ws, dry, Some(test_key())));
        let log = log.lock().expect("log").clone();
        assert!(
            log.iter().all(|l| l.method == "GET"),
            "{key} dry={dry} posted"
        );
        assert_eq!(log.len(), 4);
        assert_eq!(out.tier1.len(), 3);
        assert_eq!(out.developer_key, key.starts_with("mk_"));
        assert!(out.tier1_run_id.is_empty());
    }
}

#[test]
fn run_all_skips_models_of_other_repos() {
    let (base, log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mk_dev").expect("client");
    let outs = run_all(&client, &settings(&ws, false, None)).expect("all");
    assert_eq!(outs.len(), 2);
    assert!(outs[1].skipped_reason.is_some());
    let seq: Vec<String> = log
        .lock()
        .expect("log")
        .iter()
        .map(|l| format!("{} {}", l.method, l.target))
        .collect();
    assert_eq!(seq[0], "GET /api/models");
    assert_eq!(seq[1], "GET /api/models/M1");
    assert_eq!(
        seq.iter()
            .filter(|s| s.starts_with("GET /api/models/M1"))
            .count(),
        4,
        "{seq:?}"
    );
    assert!(seq.contains(&"GET /api/models/M2".to_string()));
    assert!(!seq.iter().any(|s| s.starts_with("GET /api/models/M2/")));
}

#[test]
fn server_error_is_exit_3_and_no_repo_is_exit_1() {
    let (base, _log) = serve(responder(true));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mv_ci").expect("client");
    let out = run_model(&client, "M1", None, &settings(&ws, false, None));
    let e = out.error.clone().expect("error");
    assert!(e.contains("500") && e.contains("boom"), "{e}");
    assert_eq!(exit_code(&[out], FailOn::None), Exit::Server as u8);
    let mut s = settings(&ws, false, None);
    s.repo = None;
    let out = run_model(&client, "M1", None, &s);
    assert!(out.error.expect("err").contains("--repo"));
    let unreachable = Client::new("http://127.0.0.1:9", "mv_ci").expect("client");
    let out = run_model(&unreachable, "M1", None, &settings(&ws, false, None));
    assert!(out.network_error);
}

#[test]
fn sarif_and_github_outputs() {
    let (base, _log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mk_dev").expect("client");
    let out = run_model(&client, "M1", None, &settings(&ws, false, None));
    let s = output::sarif(std::slice::from_ref(&out));
    assert_eq!(s["version"], "2.1.0");
    assert!(
        s["$schema"]
            .as_str()
            .expect("schema")
            .contains("sarif-2.1.0")
    );
    let run = &s["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "rampart-verify");
    let results = run["results"].as_array().expect("results");
    assert!(!results.is_empty());
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for r in results {
        let rule = r["ruleId"].as_str().expect("ruleId");
        assert!(rules.contains(&rule));
        assert_eq!(rules[r["ruleIndex"].as_u64().expect("idx") as usize], rule);
        assert!(
            ["error", "warning", "note", "none"].contains(&r["level"].as_str().expect("level"))
        );
        assert!(!r["message"]["text"].as_str().expect("text").is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"].is_string());
        assert!(loc["region"]["startLine"].as_u64().expect("line") >= 1);
    }
    let fail = results
        .iter()
        .find(|r| r["level"] == "error")
        .expect("one failure");
    assert_eq!(fail["ruleId"], "pattern_matches");
    assert_eq!(
        fail["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "nginx.conf"
    );
    let gh = output::github(std::slice::from_ref(&out));
    assert!(gh.contains("::group::M1 tier 1"));
    assert!(gh.contains("::error file=nginx.conf,line=1,title=asrt_002 pattern_matches::"));
    assert!(gh.contains("::warning title=asrt_001 function_exists::No --tier2-provider specified"));
    let text = output::text(std::slice::from_ref(&out));
    assert!(
        text.contains("Tier 1: 1 passed, 1 failed, 1 skipped"),
        "{text}"
    );
    assert!(text.contains("developer key"));
}

#[test]
fn tier2_provider_answers_become_rows() {
    let (base, log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mv_ci").expect("client");
    let mut s = settings(&ws, false, None);
    s.provider = Some(super::tier2::Provider::OpenAi {
        base_url: format!("{base}/v1"),
        api_key: "sk-test".into(),
        model: "m1".into(),
    });
    let out = run_model(&client, "M1", None, &s);
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.tier2.len(), 3);
    for r in &out.tier2 {
        assert_eq!(r.row.result, "pass");
        assert_eq!(r.row.reviewer, "ai:openai/m1");
        assert!(r.row.reasoning.contains("checking it"));
    }
    let log = log.lock().expect("log").clone();
    let llm: Vec<&Logged> = log
        .iter()
        .filter(|l| l.target == "/v1/chat/completions")
        .collect();
    assert_eq!(llm.len(), 3);
    assert_eq!(llm[0].header("authorization"), Some("Bearer sk-test"));
    // The prompt carries the control scope and the source excerpt, and never the API key.
    let body: Value = serde_json::from_str(&llm[0].body).expect("json");
    let prompt = body["messages"][1]["content"].as_str().expect("prompt");
    assert!(
        prompt.contains("verify_token") && prompt.contains("def verify_token(t):"),
        "{prompt}"
    );
    assert!(llm[0].header("x-api-key").is_none());
    // The tier-2 POST carries the provider rows.
    let posts: Vec<&Logged> = log
        .iter()
        .filter(|l| l.method == "POST" && l.target.ends_with("/results"))
        .collect();
    assert_eq!(posts.len(), 2);
    let b2: Value = serde_json::from_str(&posts[1].body).expect("json");
    assert_eq!(b2["results"][0]["reviewer"], "ai:openai/m1");
}

#[derive(clap::Parser, Debug)]
struct Cli {
    #[command(flatten)]
    verify: super::VerifyArgs,
}

fn cli_run(args: &[&str]) -> u8 {
    use clap::Parser as _;
    let mut argv = vec!["rampart-verify"];
    argv.extend_from_slice(args);
    super::run(Cli::try_parse_from(argv).expect("parses").verify)
}

#[test]
fn cli_list_report_and_run_exit_codes() {
    let (base, log) = serve(responder(false));
    let d = project();
    let root = d.path().to_str().expect("utf8");
    assert_eq!(
        cli_run(&["list", "M1", "--base-url", &base, "--api-key", "mk_dev"]),
        0
    );
    assert_eq!(
        cli_run(&[
            "report",
            "M1",
            "--base-url",
            &base,
            "--api-key",
            "mk_dev",
            "--output",
            "json"
        ]),
        0
    );
    let seq: Vec<String> = log
        .lock()
        .expect("log")
        .drain(..)
        .map(|l| format!("{} {}", l.method, l.target))
        .collect();
    assert_eq!(
        seq,
        [
            "GET /api/models/M1/verification/pending?tier=1&stale_after=24",
            "GET /api/models/M1/verification/pending?tier=2&stale_after=24",
            "GET /api/models/M1/verification/report",
        ]
    );
    // A signed run with a verifier key: one tier-1 failure -> exit 1; --fail-on none -> 0.
    let key = d.path().join("private.pem");
    std::fs::write(
        &key,
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIGftDgMzYONOGpBk6sn3Tyt3VQ7HB1z6iLXrnnAxsd4PoAoGCCqGSM49\nAwEHoUQDQgAEynJd8+iBzsi0sYq3qzPs2X33+bANZxeafhICpkocodVx7V42DJSu\nDepREvURdy+lYu/Jcy9PtP+GtRMGRChrZA==\n-----END EC PRIVATE KEY-----\n",
    )
    .expect("w");
    let key_s = key.to_str().expect("utf8");
    let common = [
        "--base-url",
        base.as_str(),
        "--api-key",
        "mv_ci",
        "--repo",
        "acme/web",
        "--project-root",
        root,
    ];
    let mut a = vec!["run", "M1", "--signing-key", key_s, "--output", "json"];
    a.extend_from_slice(&common);
    assert_eq!(cli_run(&a), 1);
    let posts: Vec<Logged> = log
        .lock()
        .expect("log")
        .drain(..)
        .filter(|l| l.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    let b: Value = serde_json::from_str(&posts[0].body).expect("json");
    assert!(b["signature"].is_string() && b["signed_hash"].is_string());
    let mut a = vec!["run", "M1", "--fail-on", "none", "--dry-run"];
    a.extend_from_slice(&common);
    assert_eq!(cli_run(&a), 0);
    assert!(log.lock().expect("log").iter().all(|l| l.method == "GET"));
    // Missing key file: usage (2); a file that is not a P-256 key: 1; no appliance: 3.
    let mut a = vec!["run", "M1", "--signing-key", "/nonexistent/key.pem"];
    a.extend_from_slice(&common);
    assert_eq!(cli_run(&a), 2);
    let bad = d.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .expect("w");
    let mut a = vec!["run", "M1", "--signing-key", bad.to_str().expect("utf8")];
    a.extend_from_slice(&common);
    assert_eq!(cli_run(&a), 1);
    assert_eq!(
        cli_run(&[
            "run",
            "M1",
            "--base-url",
            "http://127.0.0.1:9",
            "--api-key",
            "mv_x",
            "--repo",
            "a/b",
            "--project-root",
            root
        ]),
        3
    );
    assert_eq!(
        cli_run(&[
            "report",
            "M1",
            "--base-url",
            "http://127.0.0.1:9",
            "--api-key",
            "mv_x"
        ]),
        3
    );
}

#[test]
fn run_is_safe_inside_a_tokio_runtime() {
    let (base, _log) = serve(responder(false));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let code =
        rt.block_on(async { cli_run(&["list", "M1", "--base-url", &base, "--api-key", "mk_dev"]) });
    assert_eq!(code, 0);
}

#[test]
fn ca_bundle_must_hold_certificates() {
    assert!(Client::with_ca("https://rampart.internal", "mv_x", Some(b"not pem")).is_err());
    let d = project();
    let bundle = d.path().join("ca.pem");
    std::fs::write(&bundle, "garbage").expect("w");
    let code = cli_run(&[
        "list",
        "M1",
        "--base-url",
        "https://rampart.internal",
        "--api-key",
        "mv_x",
        "--ca-bundle",
        bundle.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 2);
    let missing = [
        "list",
        "M1",
        "--base-url",
        "https://x",
        "--api-key",
        "mv_x",
        "--ca-bundle",
        "/nonexistent.pem",
    ];
    assert_eq!(cli_run(&missing), 2);
}

#[test]
fn changed_files_narrow_the_run_and_the_hash_follows() {
    let (base, log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mv_ci").expect("client");
    let mut s = settings(&ws, false, None);
    s.changed_files = Some(["app/auth.py".to_string()].into_iter().collect());
    let out = run_model(&client, "M1", None, &s);
    let ids: Vec<&str> = out
        .tier1
        .iter()
        .map(|r| r.row.assertion_id.as_str())
        .collect();
    // nginx.conf is not listed; asrt_003 has no params.file and stays.
    assert_eq!(ids, ["asrt_001", "asrt_003"]);
    let post = log
        .lock()
        .expect("log")
        .iter()
        .find(|l| l.method == "POST")
        .cloned()
        .expect("post");
    let body: Value = serde_json::from_str(&post.body).expect("json");
    let served: Vec<Value> = vec![
        assertions_body()["controls"]["CTRL-01"][0].clone(),
        assertions_body()["assumptions"]["AS-01"][0].clone(),
    ];
    assert_eq!(
        body["content_hash"],
        crate::wire::content_hash(&served, body["results"].as_array().expect("rows"))
    );
}

#[test]
fn component_rebases_root_and_keeps_its_controls() {
    let (base, log) = serve(responder(false));
    let d = project();
    std::fs::create_dir_all(d.path().join("svc/app")).expect("mkdir");
    std::fs::write(d.path().join("svc/app/auth.py"), "def other():\n    pass\n").expect("w");
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mk_dev").expect("client");
    let mut s = settings(&ws, false, None);
    s.component = Some("C1".into());
    let out = run_model(&client, "M3", None, &s);
    assert!(out.error.is_none(), "{:?}", out.error);
    let seq: Vec<String> = log
        .lock()
        .expect("log")
        .iter()
        .map(|l| format!("{} {}", l.method, l.target))
        .collect();
    assert_eq!(seq[0], "GET /api/models/M3");
    assert_eq!(seq[1], "GET /api/models/M3/controls?component_id=C1");
    // Only CTRL-01 assertions remain (AS-01 dropped), checked under svc/.
    let ids: Vec<&str> = out
        .tier1
        .iter()
        .map(|r| r.row.assertion_id.as_str())
        .collect();
    assert_eq!(ids, ["asrt_001", "asrt_002"]);
    assert_eq!(
        out.tier1[0].row.result, "fail",
        "verify_token is not defined under svc/app/auth.py"
    );
}

#[test]
fn customer_key_sends_only_a_dsse_bundle() {
    let (base, log) = serve(responder(false));
    let d = project();
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mv_ci").expect("client");
    let customer = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("key");
    let mut s = settings(&ws, false, Some(test_key()));
    s.customer_key = Some(customer.clone());
    let out = run_model(&client, "M1", None, &s);
    assert!(out.error.is_none(), "{:?}", out.error);
    let posts: Vec<Logged> = log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.method == "POST")
        .cloned()
        .collect();
    assert_eq!(posts.len(), 2);
    for (i, p) in posts.iter().enumerate() {
        let b: Value = serde_json::from_str(&p.body).expect("json");
        assert!(b.get("signature").is_none() && b.get("signed_hash").is_none());
        let bundle = b["dsse_bundle"].as_str().expect("bundle");
        let st = crate::wire::verify_dsse_bundle(
            customer.verifying_key(),
            bundle,
            b["content_hash"].as_str(),
        )
        .expect("verifies under the customer key");
        assert_eq!(
            st["subject"][0]["name"],
            format!("mipiti:verification:tier{}:M1", i + 1)
        );
    }
}

/// A project and model whose real tier-1 results include passes, failures (single file,
/// glob, missing file, a file name with `,` and `:`, details with `%`) and skips.
fn output_fixture() -> (tempfile::TempDir, super::client::ModelOutcome) {
    let d = project();
    std::fs::create_dir_all(d.path().join("src")).expect("mkdir");
    std::fs::write(
        d.path().join("src/lib.rs"),
        "pub struct S;\nimpl S {\n    pub fn new() -> Self {\n        S\n    }\n}\n",
    )
    .expect("w");
    std::fs::write(
        d.path().join("odd,name:1.conf"),
        "# settings\nuser = \"app\"\npassword = \"hunter2\"\n",
    )
    .expect("w");
    let body = json!({"model_id":"M1","controls":{"CTRL-01":[
        {"id":"asrt_001","type":"function_exists","params":{"file":"app/auth.py","name":"verify_token"},"description":"d","repo":"acme/web"},
        {"id":"asrt_002","type":"pattern_matches","params":{"file":"nginx.conf","pattern":"Strict-Transport-Security"},"description":"d","repo":null},
        {"id":"asrt_003","type":"pattern_absent","params":{"file":"odd,name:1.conf","pattern":"password\\s*=\\s*\"[^\"]+\""},"description":"d","repo":null},
        {"id":"asrt_004","type":"pattern_absent","params":{"file":"**/*.conf","pattern":"hunter2"},"description":"d","repo":null},
        {"id":"asrt_005","type":"file_exists","params":{"file":"missing.txt"},"description":"d","repo":null},
        {"id":"asrt_006","type":"pattern_matches","params":{"file":"nginx.conf","pattern":"rate=50%"},"description":"d","repo":null},
        {"id":"asrt_007","type":"function_exists","params":{"file":"src/lib.rs","name":"new"},"description":"d","repo":null}
    ]},"assumptions":{"AS-01":[{"id":"asrt_008","type":"sink_default_deny","params":{"scope":"src"},"description":"d"}]}});
    let inner = responder(false);
    let (base, _log) = serve(Arc::new(move |method, target| {
        if method == "GET" && target.contains("/verification/assertions") {
            (200, body.to_string())
        } else {
            inner(method, target)
        }
    }));
    let ws = Workspace::new(d.path()).expect("ws");
    let client = Client::new(&base, "mk_dev").expect("client");
    let out = run_model(&client, "M1", None, &settings(&ws, false, None));
    assert!(out.error.is_none(), "{:?}", out.error);
    let results: Vec<(&str, &str)> = out
        .tier1
        .iter()
        .map(|r| (r.row.assertion_id.as_str(), r.row.result.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            ("asrt_001", "pass"),
            ("asrt_002", "fail"),
            ("asrt_003", "fail"),
            ("asrt_004", "fail"),
            ("asrt_005", "fail"),
            ("asrt_006", "fail"),
            ("asrt_007", "pass"),
            ("asrt_008", "skipped"),
        ]
    );
    (d, out)
}

fn schema_validator(schema_text: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema_text).expect("schema is JSON");
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The official OASIS SARIF 2.1.0 schema (tests/fixtures/README.md says where it is from).
const SARIF_SCHEMA: &str = include_str!("../../tests/fixtures/sarif-schema-2.1.0.json");

#[test]
fn sarif_output_is_valid_against_the_oasis_schema() {
    let (_d, out) = output_fixture();
    let validator = schema_validator(SARIF_SCHEMA);
    let doc = output::sarif(std::slice::from_ref(&out));
    let errors = schema_errors(&validator, &doc);
    assert!(errors.is_empty(), "SARIF invalid: {errors:#?}\n{doc:#}");
    // Also after a round trip through the printed text (what CI uploads).
    let printed: Value =
        serde_json::from_str(&serde_json::to_string_pretty(&doc).expect("print")).expect("parse");
    assert!(validator.is_valid(&printed));
    // Every failure and skip of both tiers is a result, with its location.
    let results = doc["runs"][0]["results"].as_array().expect("results");
    let not_passed = out
        .tier1
        .iter()
        .chain(out.tier2.iter())
        .filter(|r| r.row.result != "pass")
        .count();
    assert_eq!(results.len(), not_passed);
    let odd = results
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("asrt_003"))
        })
        .expect("asrt_003");
    assert_eq!(odd["level"], "error");
    let loc = &odd["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "odd,name:1.conf");
    assert_eq!(loc["region"]["startLine"], 3);
    // The test can fail: documents that break the schema in different ways are rejected.
    let mut broken = Vec::new();
    let mut b = doc.clone();
    b.as_object_mut().expect("obj").remove("version");
    broken.push(("no version", b));
    let mut b = doc.clone();
    b["version"] = json!("2.0.0");
    broken.push(("wrong version", b));
    let mut b = doc.clone();
    b["runs"][0]["results"][0]["level"] = json!("fatal");
    broken.push(("unknown level", b));
    let mut b = doc.clone();
    b["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        json!(0);
    broken.push(("startLine 0", b));
    let mut b = doc.clone();
    b["runs"][0]["tool"]["driver"]
        .as_object_mut()
        .expect("driver")
        .remove("name");
    broken.push(("driver without name", b));
    let mut b = doc.clone();
    b["runs"][0]["results"][0]["message"] = json!("plain string");
    broken.push(("message not an object", b));
    let mut b = doc.clone();
    b["bogus"] = json!(1);
    broken.push(("unknown top-level property", b));
    for (what, b) in broken {
        assert!(
            !schema_errors(&validator, &b).is_empty(),
            "schema accepted a broken SARIF log ({what})"
        );
    }
}

/// Undoes the GitHub workflow-command escaping of a property value or message.
fn gh_unescape(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[test]
fn github_annotations_follow_the_workflow_command_format() {
    let (_d, mut out) = output_fixture();
    // A multi-line detail must stay on one annotation line.
    out.tier1[1].row.details.push_str("\nsecond line\r\n100%");
    let gh = output::github(std::slice::from_ref(&out));
    let command = regex::Regex::new(
        r"^::(error|warning|notice|group|endgroup)(?: ([A-Za-z]+=[^,:]*(?:,[A-Za-z]+=[^,:]*)*))?::(.*)$",
    )
    .expect("re");
    let mut depth = 0i32;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for line in gh.lines() {
        assert!(!line.contains('\r'), "raw CR in {line:?}");
        if !line.starts_with("::") {
            assert!(
                !line.contains("::error") && !line.contains("::warning"),
                "{line}"
            );
            continue;
        }
        let c = command
            .captures(line)
            .unwrap_or_else(|| panic!("bad command {line:?}"));
        let props: Vec<(String, String)> = c
            .get(2)
            .map(|p| {
                p.as_str()
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), gh_unescape(v)))
                    .collect()
            })
            .unwrap_or_default();
        for (k, _) in &props {
            assert!(
                ["file", "line", "endLine", "col", "endColumn", "title"].contains(&k.as_str()),
                "unknown property {k} in {line}"
            );
        }
        let message = c.get(3).map_or("", |m| m.as_str());
        // The message may contain ':' but never the raw characters GitHub would split on.
        assert!(!message.contains('\n') && !message.contains('\r'));
        assert!(
            message
                .match_indices('%')
                .all(|(i, _)| ["%25", "%0D", "%0A"]
                    .iter()
                    .any(|e| message[i..].starts_with(e))),
            "unescaped % in {message:?}"
        );
        match &c[1] {
            "group" => depth += 1,
            "endgroup" => depth -= 1,
            "error" => errors.push((props, gh_unescape(message))),
            _ => warnings.push((props, gh_unescape(message))),
        }
        assert!((0..=1).contains(&depth), "unbalanced groups");
    }
    assert_eq!(depth, 0);
    let failed: Vec<&super::client::CheckedRow> = out
        .tier1
        .iter()
        .chain(out.tier2.iter())
        .filter(|r| r.row.result == "fail")
        .collect();
    let skipped = out
        .tier1
        .iter()
        .chain(out.tier2.iter())
        .filter(|r| r.row.result == "skipped")
        .count();
    assert_eq!(errors.len(), failed.len());
    assert_eq!(warnings.len(), skipped);
    // Each ::error carries the row's exact details, a title naming the assertion, a file and
    // a line >= 1; the file with ',' and ':' survives escaping.
    for (r, (props, message)) in failed.iter().zip(&errors) {
        assert_eq!(message, &r.row.details);
        let get = |k: &str| props.iter().find(|(p, _)| p == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("title"),
            Some(format!("{} {}", r.row.assertion_id, r.kind).as_str())
        );
        assert!(
            get("line")
                .and_then(|l| l.parse::<u32>().ok())
                .is_some_and(|l| l >= 1)
        );
        assert!(get("file").is_some());
    }
    let odd = errors
        .iter()
        .find(|(p, _)| {
            p.iter()
                .any(|(k, v)| k == "title" && v.starts_with("asrt_003"))
        })
        .expect("asrt_003");
    assert!(
        odd.0
            .contains(&("file".to_string(), "odd,name:1.conf".to_string()))
    );
    assert!(odd.0.contains(&("line".to_string(), "3".to_string())));
}

#[test]
fn json_output_has_the_contract_structure() {
    let (_d, out) = output_fixture();
    let schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "required": ["model_id", "tier1_pass", "tier1_fail", "tier1_skip", "tier2_pass",
            "tier2_fail", "tier2_skip", "suff_sufficient", "suff_insufficient", "suff_skip",
            "tier1_run_id", "tier2_run_id", "content_hash", "dry_run", "developer_key",
            "details", "suff_details", "repo_bound_assertions"],
        "properties": {
            "model_id": {"type": "string", "minLength": 1},
            "tier1_pass": {"type": "integer", "minimum": 0},
            "tier1_fail": {"type": "integer", "minimum": 0},
            "tier1_skip": {"type": "integer", "minimum": 0},
            "tier2_pass": {"type": "integer", "minimum": 0},
            "tier2_fail": {"type": "integer", "minimum": 0},
            "tier2_skip": {"type": "integer", "minimum": 0},
            "suff_sufficient": {"type": "integer", "minimum": 0},
            "suff_insufficient": {"type": "integer", "minimum": 0},
            "suff_skip": {"type": "integer", "minimum": 0},
            "tier1_run_id": {"type": "string"},
            "tier2_run_id": {"type": "string"},
            "content_hash": {"type": "object", "required": ["tier1", "tier2"],
                "properties": {"tier1": {"type": "string"}, "tier2": {"type": "string"}}},
            "dry_run": {"type": "boolean"},
            "developer_key": {"type": "boolean"},
            "repo_bound_assertions": {"type": "integer", "minimum": 0},
            "unbound_note": {"type": "string"},
            "details": {"type": "array", "items": {
                "type": "object",
                "required": ["assertion_id", "type", "tier", "passed", "skipped", "details"],
                "properties": {
                    "assertion_id": {"type": "string", "minLength": 1},
                    "type": {"type": "string", "minLength": 1},
                    "tier": {"enum": [1, 2]},
                    "passed": {"type": "boolean"},
                    "skipped": {"type": "boolean"},
                    "details": {"type": "string", "minLength": 1}
                }
            }},
            "suff_details": {"type": "array", "items": {
                "type": "object",
                "required": ["control_id", "result", "details"],
                "properties": {
                    "control_id": {"type": "string"},
                    "result": {"type": "string"},
                    "details": {"type": "string"}
                }
            }}
        }
    });
    let validator = schema_validator(&schema.to_string());
    let j = output::model_json(&out);
    let errors = schema_errors(&validator, &j);
    assert!(errors.is_empty(), "{errors:#?}\n{j:#}");
    // Counts agree with the rows.
    let details = j["details"].as_array().expect("details");
    for tier in [1, 2] {
        let rows: Vec<&Value> = details.iter().filter(|d| d["tier"] == tier).collect();
        let pass = rows.iter().filter(|d| d["passed"] == true).count();
        let skip = rows.iter().filter(|d| d["skipped"] == true).count();
        assert_eq!(j[format!("tier{tier}_pass")], pass);
        assert_eq!(j[format!("tier{tier}_skip")], skip);
        assert_eq!(j[format!("tier{tier}_fail")], rows.len() - pass - skip);
    }
    assert_eq!(j["tier1_fail"], 5);
    assert_eq!(j["content_hash"]["tier1"], out.content_hash_tier1);
    assert!(!out.content_hash_tier1.is_empty());
    // The schema can fail: a row without its verdict is rejected.
    let mut bad = j.clone();
    bad["details"][0]
        .as_object_mut()
        .expect("row")
        .remove("passed");
    assert!(!validator.is_valid(&bad));
}
