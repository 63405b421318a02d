//! The LLM engine through the real binary against a fake OpenAI-compatible server started by
//! the test: generation from the fake's answers, one retry on malformed output then a clear
//! error with nothing saved, the per-user cache, the usage endpoint, the fair-use limit (429),
//! quota exhaustion tripping maintenance mode (503), and every other step (title, intent,
//! refinement plan, query and methodology answers) from the LLM, with the built-in engine
//! answering — and saying so — when the LLM fails, measured over the tm_eval briefs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Appliance, Client, PASSWORD, TestDir, cli_setup, cli_user, json};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Valid JSON for every step.
    Good,
    /// Prose instead of JSON for the asset step.
    MalformedAssets,
    /// HTTP 429 `insufficient_quota` for everything.
    Quota,
    /// Pipeline steps answered, evidence-judge questions get HTTP 500.
    JudgeDown,
    /// Pipeline steps answered, evidence-judge questions get prose instead of JSON.
    JudgeRambles,
    /// Pipeline steps answered, compliance-mapping questions name a requirement that was
    /// not offered.
    MapperInvents,
    /// Pipeline steps answered; title, intent, plan and answers get HTTP 500.
    ConverseDown,
    /// Pipeline steps answered; title, intent, plan and answers get prose instead of JSON.
    ConverseRambles,
    /// Everything answered, but query answers cite an id the model does not have.
    InventsIds,
}

/// A fake `/v1/chat/completions` server on 127.0.0.1:0 that records every request body.
pub(crate) struct FakeLlm {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeLlm {
    pub(crate) fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake llm");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(Mutex::new(Mode::Good));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (m, r) = (mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (m, r) = (m.clone(), r.clone());
                std::thread::spawn(move || serve(stream, &m, &r));
            }
        });
        FakeLlm {
            port,
            mode,
            requests,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    pub(crate) fn count(&self) -> usize {
        self.requests.lock().expect("requests").len()
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("requests").clone()
    }
}

fn serve(stream: TcpStream, mode: &Mutex<Mode>, requests: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mode = *mode.lock().expect("mode");
    let (status, answer) = if !request_line.starts_with("POST /v1/chat/completions ") {
        (404, json!({"error": {"message": "not found"}}))
    } else {
        requests.lock().expect("requests").push(body.clone());
        answer(mode, &body)
    };
    let text = answer.to_string();
    let reason = if status == 200 { "OK" } else { "Error" };
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
    })
}

/// The canned answer for the step named in the system prompt.
fn answer(mode: Mode, body: &Value) -> (u16, Value) {
    if mode == Mode::Quota {
        return (
            429,
            json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
        );
    }
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    let input: Value = body["messages"][1]["content"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null);
    if system.contains("compliance analyst") {
        return (200, completion(&mapper_answer(mode, &input).to_string()));
    }
    if system.contains("evidence reviewer") {
        if mode == Mode::JudgeDown {
            return (500, json!({"error": {"message": "judge model overloaded"}}));
        }
        if mode == Mode::JudgeRambles {
            return (200, completion("It depends on how you look at it."));
        }
        return (200, completion(&judge_answer(system, &input).to_string()));
    }
    let step = system
        .split("rampart step ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or_default();
    if CONVERSE_STEPS.contains(&step) {
        return match mode {
            Mode::ConverseDown => (
                500,
                json!({"error": {"message": "conversation model overloaded"}}),
            ),
            Mode::ConverseRambles => (200, completion("Let me think about that for a while.")),
            _ => (
                200,
                completion(&converse_answer(mode, step, &input).to_string()),
            ),
        };
    }
    let assets = json!({"thought": "fake assets", "assets": [
        {"name": "Fake ledger vault", "description": "Holds the ledger", "properties": ["C", "I"], "impact": "high", "rationale": "fake"},
        {"name": "Fake payment gateway", "description": "Takes payments", "properties": ["A"], "impact": "medium", "rationale": "fake"}
    ]});
    let content = match step {
        "generate_assets" if mode == Mode::MalformedAssets => {
            return (
                200,
                completion("Sure! Here are the assets: a vault and a gateway."),
            );
        }
        "generate_assets" | "refine_assets" => assets,
        "generate_attackers" | "refine_attackers" => {
            json!({"thought": "fake attackers", "attackers": [
                {"name": "Fake fraudster", "description": "Steals money", "capability": "Crafted payments", "position": "external", "archetype": "external", "likelihood": "high", "threatens": ["C", "I", "A"], "targets": null, "rationale": "fake"}
            ]})
        }
        "generate_matrix" => {
            let first = input["assets"][0]["id"].clone();
            json!({"thought": "fake matrix", "matrix": {
                "trust_boundaries": [{"name": "Fake boundary", "zones": ["internet", "core"], "assets": [first], "crossing": ["API calls"], "rationale": "fake"}],
                "assumptions": [{"text": "Fake assumption: the ledger host is patched", "rationale": "fake"}]
            }})
        }
        "generate_controls" => {
            let mappings: Vec<Value> = input["control_objectives"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|co| json!({"co_id": co["id"], "group": "primary"}))
                .collect();
            json!({"thought": "fake controls", "controls": [
                {"name": "Fake ledger signing", "description": "Sign every ledger entry", "framework_refs": [{"framework": "cwe", "id": "CWE-345"}], "rationale": "fake", "mappings": mappings}
            ]})
        }
        _ => {
            return (
                400,
                json!({"error": {"message": format!("unknown step {step:?}")}}),
            );
        }
    };
    (200, completion(&content.to_string()))
}

/// The templates of the steps beyond the pipeline.
const CONVERSE_STEPS: [&str; 5] = [
    "suggest_title",
    "classify_intent",
    "plan_refinement",
    "answer_query",
    "answer_general",
];

/// The fake's title for a description: recognisably not the built-in engine's.
fn fake_title(description: &str) -> String {
    let words: Vec<&str> = description.split_whitespace().take(4).collect();
    format!("LLM: {}", words.join(" "))
}

/// The fake conversational answers: intents by simple rules the test knows, a plan that
/// adds one asset, an answer citing the model's first asset.
fn converse_answer(mode: Mode, step: &str, input: &Value) -> Value {
    match step {
        "suggest_title" => {
            json!({"title": fake_title(input["description"].as_str().unwrap_or_default())})
        }
        "classify_intent" => {
            let m = input["message"].as_str().unwrap_or_default().to_lowercase();
            let intent = if m.starts_with("add ") || m.starts_with("remove ") {
                "refine"
            } else if m.starts_with("what is a ") {
                "general"
            } else if m.ends_with('?') {
                "query"
            } else {
                "generate"
            };
            json!({"intent": intent})
        }
        "plan_refinement" => {
            let instruction = input["instruction"].as_str().unwrap_or_default();
            json!({"thought": "fake plan", "ops": [{"op": "add_asset", "asset": {
                "name": format!("LLM-planned: {instruction}"), "description": "planned by the fake",
                "properties": ["C", "I"], "impact": "medium", "rationale": "fake"}}], "regenerate": false})
        }
        "answer_query" => {
            let id = if mode == Mode::InventsIds {
                "A999".to_string()
            } else {
                input["model"]["assets"][0]["id"]
                    .as_str()
                    .unwrap_or("A1")
                    .to_string()
            };
            json!({"thought": "fake query", "answer": format!("LLM answer: {id} matters most.")})
        }
        _ => json!({"thought": "fake general", "answer": "LLM methodology answer."}),
    }
}

/// The fake evidence judge: an assertion whose description says "unrelated" is incoherent
/// (whatever its type); a control is sufficient once it has two coherent assertions.
fn judge_answer(system: &str, input: &Value) -> Value {
    if system.contains("ONE assertion") {
        let description = input["assertion"]["description"]
            .as_str()
            .unwrap_or_default();
        let coherent = !description.contains("unrelated");
        json!({"coherent": coherent, "reason": format!("fake judge: {} {}", input["assertion"]["type"], if coherent {"shows the signing"} else {"checks something else"})})
    } else {
        let n = input["assertions"].as_array().map_or(0, Vec::len);
        if n >= 2 {
            json!({"sufficient": true, "missing": [], "reason": format!("fake judge: {n} assertions cover signing and its test")})
        } else {
            json!({"sufficient": false, "missing": ["a test of signature verification"], "reason": "fake judge: one assertion is not enough."})
        }
    }
}

/// The fake compliance mapper: every offered control serves the first offered requirement
/// (or, when inventing, a requirement that was not offered).
fn mapper_answer(mode: Mode, input: &Value) -> Value {
    let first = input["requirements"][0]["id"].as_str().unwrap_or_default();
    let requirement = if mode == Mode::MapperInvents {
        "Z.99.99"
    } else {
        first
    };
    let mappings: Vec<Value> = input["controls"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| json!({"control_id": c["id"], "requirement_id": requirement, "reason": format!("fake mapper: {} supports {requirement}", c["name"].as_str().unwrap_or_default())}))
        .collect();
    json!({"mappings": mappings})
}

pub(crate) fn start(dir: &TestDir, fake: &FakeLlm, extra: &[(&str, &str)]) -> Appliance {
    cli_setup(dir, "admin@example.com");
    let mut cmd = dir
        .cmd()
        .env("MFA_REQUIRED_FOR_LOCAL", "false")
        .env("RAMPART_LLM_ENDPOINT", &fake.endpoint())
        .env("RAMPART_LLM_MODEL", "fake-model");
    for (k, v) in extra {
        cmd = cmd.env(k, v);
    }
    Appliance::start_with(dir, cmd)
}

pub(crate) fn user(app: &Appliance, dir: &TestDir, email: &str) -> Client {
    cli_user(dir, email, "user");
    Client::login(app, email, PASSWORD)
}

pub(crate) fn generate(client: &Client, description: &str) -> (u16, Value) {
    json(client.post(
        "/api/models?wait=true",
        json!({"feature_description": description}),
    ))
}

pub(crate) const LEDGER: &str =
    "A payment service that records transfers in a ledger and calls a card gateway.";
pub(crate) const OTHER: &str =
    "A chat bot that answers questions about opening hours of a library.";

#[test]
fn generation_retry_cache_and_usage_through_a_fake_llm() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-main");
    let mut app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");

    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let names: Vec<&str> = model["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["Fake ledger vault", "Fake payment gateway"]);
    assert_eq!(model["attackers"][0]["name"], "Fake fraudster");
    assert_eq!(model["controls"][0]["name"], "Fake ledger signing");
    assert_eq!(
        model["title"],
        fake_title(LEDGER),
        "the title comes from the LLM"
    );
    assert_eq!(
        fake.count(),
        7,
        "the title, then one request per pipeline step"
    );
    let first = &fake.requests()[1];
    assert_eq!(first["model"], "fake-model");
    assert_eq!(first["response_format"]["type"], "json_object");
    assert!(
        first["messages"][1]["content"]
            .as_str()
            .expect("user message")
            .contains("records transfers in a ledger")
    );

    // The same description again: every step from the cache, the fake sees nothing new.
    let (status, again) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["id"], model["id"]);
    assert_eq!(
        fake.count(),
        7,
        "second identical generation must hit the cache"
    );

    // Malformed output: one retry, then a clear error and nothing saved.
    fake.set(Mode::MalformedAssets);
    let (status, err) = generate(&alice, OTHER);
    assert_eq!(status, 422, "{err}");
    let message = err["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("Generate Assets") && message.contains("malformed"),
        "{message}"
    );
    assert_eq!(fake.count(), 10, "the title, then exactly one retry");
    let retry = &fake.requests()[9];
    assert_eq!(retry["messages"].as_array().expect("messages").len(), 4);
    assert!(
        retry["messages"][3]["content"]
            .as_str()
            .expect("correction")
            .contains("invalid"),
        "the retry quotes the problem: {retry}"
    );
    let (_, list) = json(alice.get("/api/models"));
    assert_eq!(
        list.as_array().expect("list").len(),
        2,
        "nothing saved: {list}"
    );

    // Usage: one user, two operations that reached the LLM plus the cached one.
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, usage) = json(admin.get("/api/admin/usage?days=30"));
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["enabled"], true);
    assert_eq!(usage["days"], 30);
    let users = usage["users"].as_array().expect("users");
    assert_eq!(users.len(), 1, "{usage}");
    let row = &users[0];
    assert_eq!(row["email"], "alice@example.com");
    assert_eq!(row["traces"], 3);
    assert_eq!(row["prompt_tokens"], 1000);
    assert_eq!(row["completion_tokens"], 200);
    assert_eq!(row["total_tokens"], 1200);
    assert_eq!(row["cache_hits"], 7);
    let (status, _) = json(alice.get("/api/admin/usage"));
    assert_eq!(status, 403, "usage is for admins only");
    assert!(app.stop().success(), "clean shutdown with the LLM engine");
}

#[test]
fn fair_use_limit_returns_429_but_cache_hits_are_free() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-fair-use");
    let app = start(
        &dir,
        &fake,
        &[
            ("RAMPART_FAIR_USE_DAILY_LIMIT", "1"),
            ("TELEMETRY_ENABLED", "false"),
        ],
    );
    let alice = user(&app, &dir, "alice@example.com");
    let (status, body) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{body}");
    let (status, body) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "cached generation costs no quota: {body}");
    let (status, body) = generate(&alice, OTHER);
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("fair use limit"),
        "{body}"
    );
    assert_eq!(fake.count(), 7, "the refused request never reached the LLM");
    // Another user has their own allowance.
    let bob = user(&app, &dir, "bob@example.com");
    let (status, body) = generate(&bob, OTHER);
    assert_eq!(status, 201, "{body}");
    // Telemetry off: the usage endpoint reports nothing (calls still count for fair use).
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, usage) = json(admin.get("/api/admin/usage?days=7"));
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage, json!({"enabled": false, "days": 7, "users": []}));
    let (status, _) = json(admin.get("/api/admin/usage?days=0"));
    assert_eq!(status, 400);
}

#[test]
fn telemetry_log_file_levels_and_telemetry_off() {
    let fake = FakeLlm::start();
    // DEBUG: one JSON line per call, with a preview of the prompt; the file is private.
    let dir = TestDir::new("llm-telemetry");
    let log = dir.path().join("telemetry.jsonl");
    let log_s = log.to_string_lossy().to_string();
    let mut app = start(
        &dir,
        &fake,
        &[
            ("TELEMETRY_LOG_LEVEL", "DEBUG"),
            ("TELEMETRY_LOG_FILE", &log_s),
        ],
    );
    let alice = user(&app, &dir, "alice@example.com");
    let (status, body) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{body}");
    let text = std::fs::read_to_string(&log).expect("telemetry log");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), fake.count(), "one line per call:\n{text}");
    for l in &lines {
        assert_eq!(l["model"], "fake-model");
        assert!(l["template"].as_str().is_some_and(|t| !t.is_empty()), "{l}");
        assert!(l["total_tokens"].as_i64().is_some(), "{l}");
        assert_eq!(l["cache_hit"], false);
        assert!(
            l["prompt_preview"]
                .as_str()
                .is_some_and(|p| !p.is_empty() && p.chars().count() <= 200),
            "{l}"
        );
    }
    assert_eq!(
        crate::harness::mode(&log) & 0o077,
        0,
        "telemetry log is private"
    );
    assert!(app.stop().success());

    // INFO: the same lines without prompt content.
    let dir = TestDir::new("llm-telemetry-info");
    let log = dir.path().join("telemetry.jsonl");
    let log_s = log.to_string_lossy().to_string();
    let mut app = start(&dir, &fake, &[("TELEMETRY_LOG_FILE", &log_s)]);
    let bob = user(&app, &dir, "bob@example.com");
    let (status, body) = generate(&bob, OTHER);
    assert_eq!(status, 201, "{body}");
    let text = std::fs::read_to_string(&log).expect("telemetry log");
    assert!(!text.is_empty());
    assert!(!text.contains("prompt_preview"), "{text}");
    assert!(!text.contains("library"), "no prompt content at INFO");
    assert!(app.stop().success());

    // Telemetry off: no log file at all, and the usage endpoint reports nothing.
    let dir = TestDir::new("llm-telemetry-off");
    let log = dir.path().join("telemetry.jsonl");
    let log_s = log.to_string_lossy().to_string();
    let mut app = start(
        &dir,
        &fake,
        &[
            ("TELEMETRY_ENABLED", "false"),
            ("TELEMETRY_LOG_FILE", &log_s),
        ],
    );
    let carol = user(&app, &dir, "carol@example.com");
    let (status, body) = generate(&carol, LEDGER);
    assert_eq!(status, 201, "{body}");
    assert!(!log.exists(), "nothing is logged with telemetry off");
    assert!(app.stop().success());

    // A documented name this appliance does not implement stops the start with the reason.
    let dir = TestDir::new("llm-refused-env");
    let out = dir
        .cmd()
        .env("AWS_KMS_KEY_ID", "arn:aws:kms:us-east-1:1:key/x")
        .args(["serve", "--check-config"])
        .output();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        crate::harness::stderr(&out)
    );
    let err = crate::harness::stderr(&out);
    assert!(
        err.contains("AWS_KMS_KEY_ID")
            && err.contains("not supported")
            && err.contains("KMS_PROVIDER"),
        "{err}"
    );
}

#[test]
fn insufficient_quota_trips_maintenance_mode() {
    let fake = FakeLlm::start();
    fake.set(Mode::Quota);
    let dir = TestDir::new("llm-quota");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let (status, body) = generate(&alice, LEDGER);
    assert!(status >= 400, "{body}");
    assert!(
        body.to_string().contains("quota"),
        "the error names the quota: {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = json(alice.get("/api/models"));
        if status == 503 {
            assert_eq!(body["error"]["code"], "maintenance");
            break;
        }
        assert!(Instant::now() < deadline, "still {status}: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (_, state) = json(admin.get("/api/admin/maintenance"));
    assert_eq!(state["active"], true, "{state}");
}

#[test]
fn cache_evicts_least_recently_used_and_honours_ttl() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-cache-lru");
    let app = start(&dir, &fake, &[("LLM_CACHE_MAX_ENTRIES", "7")]);
    let alice = user(&app, &dir, "alice@example.com");
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(fake.count(), 7);
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(fake.count(), 7, "cached");
    // Seven new entries (title and six steps) push the seven older ones out.
    assert_eq!(generate(&alice, OTHER).0, 201);
    assert_eq!(fake.count(), 14);
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(fake.count(), 21, "evicted entries are asked again");
    // The cache is per user: bob never gets alice's answers.
    let bob = user(&app, &dir, "bob@example.com");
    assert_eq!(generate(&bob, LEDGER).0, 201);
    assert_eq!(fake.count(), 28, "no cross-user cache hits");
    drop(app);

    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-cache-ttl");
    let app = start(&dir, &fake, &[("LLM_CACHE_TTL_HOURS", "0")]);
    let alice = user(&app, &dir, "alice@example.com");
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(fake.count(), 14, "expired entries are not used");
}

#[test]
fn the_llm_judges_coherence_and_sufficiency_and_the_rules_stand_in_when_it_fails() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-judge");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id").to_string();
    let control = model["controls"][0]["id"]
        .as_str()
        .expect("control")
        .to_string();
    let url = format!("/api/models/{id}/assertions");
    let asserting = |kind: &str, params: Value, description: &str| {
        json(alice.post(
            &url,
            json!({"control_id": control, "assertions": [{"type": kind, "params": params, "description": description}]}),
        ))
    };

    // The LLM's verdict is stored, attributed and returned.
    let before = fake.count();
    let (status, first) = asserting(
        "function_exists",
        json!({"file": "src/ledger.py", "name": "sign_entry"}),
        "the signing function exists",
    );
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        fake.count(),
        before + 2,
        "one coherence and one sufficiency question"
    );
    let created = &first["created"][0];
    assert_eq!(created["coherent"], true, "{first}");
    assert_eq!(created["coherence_by"], "llm:fake-model");
    assert!(
        created["coherence_reason"]
            .as_str()
            .expect("reason")
            .starts_with("fake judge: \"function_exists\""),
        "{first}"
    );
    assert_eq!(first["sufficiency"]["status"], "insufficient");
    assert_eq!(first["sufficiency"]["evaluated_by"], "llm:fake-model");
    assert!(
        first["sufficiency"]["details"]
            .as_str()
            .expect("details")
            .contains("Missing: a test of signature verification."),
        "{first}"
    );
    assert!(
        first["warnings"].as_array().expect("warnings").is_empty(),
        "{first}"
    );
    let judged = &fake.requests()[before];
    let question = judged["messages"][1]["content"].as_str().expect("question");
    assert!(
        question.contains("sign_entry") && question.contains("Fake ledger signing"),
        "{question}"
    );

    // The LLM can call an assertion incoherent: a warning, tier 2 stays pending.
    let (status, odd) = asserting(
        "file_exists",
        json!({"file": "README.md"}),
        "an unrelated readme",
    );
    assert_eq!(status, 201, "{odd}");
    assert_eq!(odd["created"][0]["coherent"], false);
    let warning = odd["warnings"][0].as_str().expect("warning");
    assert!(warning.contains("incoherent: fake judge"), "{warning}");

    // A second coherent assertion makes the control sufficient in the LLM's judgement.
    let (status, second) = asserting(
        "test_exists",
        json!({"pattern": "tests/**/test_ledger*.py"}),
        "the verification of signatures is tested",
    );
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["sufficiency"]["status"], "sufficient", "{second}");
    let (_, report) = json(alice.get(&format!("/api/models/{id}/verification/report")));
    let row = report["control_details"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["control_id"] == control.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("control in report: {report}"));
    assert_eq!(
        row["sufficiency"]["evaluated_by"], "llm:fake-model",
        "{row}"
    );

    // The judge fails: the offline rules answer, attributed to them, with a warning saying why.
    fake.set(Mode::JudgeDown);
    let (status, fallback) = asserting(
        "function_exists",
        json!({"file": "src/ledger.py", "name": "verify_entry"}),
        "the verification function exists",
    );
    assert_eq!(status, 201, "{fallback}");
    let created = &fallback["created"][0];
    assert_eq!(created["coherence_by"], "rules", "{fallback}");
    assert!(
        created["coherence_reason"]
            .as_str()
            .expect("reason")
            .contains("llm:fake-model unavailable"),
        "{fallback}"
    );
    let warnings = fallback["warnings"].to_string();
    assert!(
        warnings.contains("coherence judged by the offline rules"),
        "{warnings}"
    );
    assert!(
        warnings.contains("sufficiency judged by the offline rules"),
        "{warnings}"
    );
    assert_eq!(fallback["sufficiency"]["evaluated_by"], "rules");

    // Prose instead of a verdict: one retry quoting the problem, then the rules, and the
    // refused answer is not cached (the same question asks the LLM again).
    fake.set(Mode::JudgeRambles);
    let before = fake.count();
    let (status, rambling) = asserting(
        "function_exists",
        json!({"file": "src/ledger.py", "name": "sign_batch"}),
        "batches are signed",
    );
    assert_eq!(status, 201, "{rambling}");
    assert_eq!(
        fake.count(),
        before + 4,
        "two tries for coherence, two for sufficiency"
    );
    let retry = &fake.requests()[before + 1];
    assert!(
        retry["messages"][3]["content"]
            .as_str()
            .expect("correction")
            .contains("invalid"),
        "{retry}"
    );
    let created = &rambling["created"][0];
    assert_eq!(created["coherence_by"], "rules");
    assert!(
        created["coherence_reason"]
            .as_str()
            .expect("reason")
            .contains("malformed verdicts twice"),
        "{rambling}"
    );
    fake.set(Mode::Good);
    let before = fake.count();
    let (status, again) = asserting(
        "function_exists",
        json!({"file": "src/ledger.py", "name": "sign_batch"}),
        "batches are signed",
    );
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["created"][0]["coherence_by"], "llm:fake-model",
        "{again}"
    );
    assert!(fake.count() > before, "a refused answer was not cached");
}

#[test]
fn the_llm_adds_compliance_mappings_marked_with_who_and_why() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-compliance");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id").to_string();
    let signing = model["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["name"] == "Fake ledger signing")
        .and_then(|c| c["id"].as_str())
        .expect("the fake's control")
        .to_string();

    // Selecting maps from the catalog only: no LLM question.
    let asked = fake.count();
    let (status, sel) = json(alice.send(
        "PUT",
        &format!("/api/models/{id}/compliance/frameworks"),
        Some(&json!({"framework_ids": ["iso-27001-2022"]})),
    ));
    assert_eq!(status, 200, "{sel}");
    assert_eq!(fake.count(), asked, "selection asks no LLM");
    assert_eq!(sel["auto_map"]["llm_added"], 0, "{sel}");

    // Auto-mapping asks the LLM about the controls the crosswalk could not place (the
    // fake's CWE-only control) and stores its links with who and why.
    let (status, sum) = json(alice.post(
        &format!("/api/models/{id}/compliance/auto-map"),
        json!({"framework_id": "iso-27001-2022"}),
    ));
    assert_eq!(status, 200, "{sum}");
    assert_eq!(sum["llm"], "llm:fake-model", "{sum}");
    assert!(sum["llm_added"].as_u64().expect("llm_added") >= 1, "{sum}");
    assert!(sum.get("warnings").is_none(), "{sum}");
    let question = fake
        .requests()
        .into_iter()
        .rev()
        .find(|r| {
            r["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .contains("compliance analyst")
        })
        .expect("a mapping question");
    let input: Value = serde_json::from_str(
        question["messages"][1]["content"]
            .as_str()
            .expect("user message"),
    )
    .expect("json input");
    let offered: Vec<&str> = input["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(offered.contains(&signing.as_str()), "{input}");
    let reqs = input["requirements"].as_array().expect("requirements");
    assert_eq!(
        reqs.len(),
        93,
        "every applicable ISO requirement, id and title"
    );
    assert!(reqs[0]["title"].is_string(), "{}", reqs[0]);
    let (_, maps) = json(alice.get(&format!(
        "/api/models/{id}/compliance/mappings?framework=iso-27001-2022"
    )));
    let llm_map = maps["mappings"]
        .as_array()
        .expect("mappings")
        .iter()
        .find(|m| m["control_id"] == signing.as_str())
        .cloned()
        .expect("the LLM's mapping of the fake control");
    assert_eq!(llm_map["source"], "llm", "{llm_map}");
    assert_eq!(llm_map["mapped_by"], "llm:fake-model", "{llm_map}");
    assert!(
        llm_map["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("fake mapper: Fake ledger signing"),
        "{llm_map}"
    );
    let req = llm_map["requirement_id"]
        .as_str()
        .expect("requirement")
        .to_string();
    let (_, rep) = json(alice.get(&format!(
        "/api/models/{id}/compliance/report?framework=iso-27001-2022&requirement_id={req}"
    )));
    let row = &rep["requirements"][0];
    assert_eq!(row["id"], req.as_str(), "{rep}");
    assert!(
        row["controls"]
            .as_array()
            .expect("controls")
            .iter()
            .any(|c| c["control_id"] == signing.as_str() && c["source"] == "llm"),
        "{row}"
    );

    // A person removes it: it stays removed across auto-mapping.
    let (status, _) = json(alice.send(
        "DELETE",
        &format!("/api/models/{id}/compliance/mappings"),
        Some(&json!({"control_id": signing, "framework_id": "iso-27001-2022", "requirement_id": req})),
    ));
    assert_eq!(status, 204);
    let (_, sum) = json(alice.post(
        &format!("/api/models/{id}/compliance/auto-map"),
        json!({"framework_id": "iso-27001-2022"}),
    ));
    let (_, maps) = json(alice.get(&format!(
        "/api/models/{id}/compliance/mappings?framework=iso-27001-2022"
    )));
    assert!(
        !maps["mappings"]
            .as_array()
            .expect("mappings")
            .iter()
            .any(|m| m["control_id"] == signing.as_str() && m["requirement_id"] == req.as_str()),
        "removed stays removed: {sum} {maps}"
    );

    // An LLM that names requirements it was not offered is asked again once, then the
    // summary says so; the catalog mappings are made regardless and nothing invented lands.
    fake.set(Mode::MapperInvents);
    let (status, _) = json(alice.send(
        "PUT",
        &format!("/api/models/{id}/compliance/frameworks"),
        Some(&json!({"framework_ids": ["iso-27001-2022", "soc2-tsc"]})),
    ));
    assert_eq!(status, 200);
    let asked = fake.count();
    let (status, sum) = json(alice.post(
        &format!("/api/models/{id}/compliance/auto-map"),
        json!({"framework_id": "soc2-tsc"}),
    ));
    assert_eq!(status, 200, "{sum}");
    assert_eq!(fake.count(), asked + 2, "one question, asked again once");
    assert_eq!(sum["llm_added"], 0, "{sum}");
    let warning = sum["warnings"][0].as_str().unwrap_or_default();
    assert!(
        warning.contains("soc2-tsc") && warning.contains("Z.99.99"),
        "{sum}"
    );
    let (_, maps) = json(alice.get(&format!(
        "/api/models/{id}/compliance/mappings?framework=soc2-tsc"
    )));
    assert!(
        maps["mappings"]
            .as_array()
            .expect("mappings")
            .iter()
            .all(|m| m["source"] != "llm"),
        "{maps}"
    );
}

/// Requests the fake received per template since `from`.
fn templates(fake: &FakeLlm, from: usize) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for r in fake.requests().iter().skip(from) {
        let system = r["messages"][0]["content"].as_str().unwrap_or_default();
        let t = if system.contains("evidence reviewer") {
            "judge".to_string()
        } else {
            system
                .split("rampart step ")
                .nth(1)
                .and_then(|s| s.split(':').next())
                .unwrap_or("?")
                .to_string()
        };
        *out.entry(t).or_insert(0) += 1;
    }
    out
}

fn say(client: &Client, id: &str, message: &str) -> Value {
    let (status, reply) = json(client.post(
        &format!("/api/models/{id}/conversation"),
        json!({ "message": message }),
    ));
    assert_eq!(status, 200, "{message}: {reply}");
    reply
}

#[test]
fn every_step_uses_the_llm_and_the_builtin_engine_stands_in_with_attribution() {
    let briefs = crate::eval::load_briefs().expect("tm_eval briefs");
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-every-step");
    let mut app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");

    // Over the tm_eval briefs: the title and every pipeline step from the LLM; then each
    // conversational step on the model.
    let mut from_llm = [0usize; 5];
    let mut ids = Vec::new();
    for b in &briefs {
        let text = b.text();
        let description = text.as_str();
        let (status, model) = generate(&alice, description);
        assert_eq!(status, 201, "{}: {model}", b.id);
        let id = model["id"].as_str().expect("id").to_string();
        if model["title"] == fake_title(description) {
            from_llm[0] += 1;
        }
        let before = model["assets"].as_array().map_or(0, Vec::len);
        let r = say(
            &alice,
            &id,
            &format!("Add an asset for the {} audit log", b.domain),
        );
        if r["intent"] == "refine" {
            from_llm[1] += 1;
        }
        let (_, after) = json(alice.get(&format!("/api/models/{id}")));
        let names: Vec<&str> = after["assets"]
            .as_array()
            .expect("assets")
            .iter()
            .filter_map(|a| a["name"].as_str())
            .collect();
        if names.len() == before + 1
            && names
                .iter()
                .any(|n| n.starts_with("LLM-planned: Add an asset"))
        {
            from_llm[2] += 1;
        }
        let q = say(&alice, &id, "Which asset matters most?");
        if q["intent"] == "query" && q["reply"] == "LLM answer: A1 matters most." {
            from_llm[3] += 1;
        }
        let g = say(&alice, &id, "What is a trust boundary?");
        if g["intent"] == "general" && g["reply"] == "LLM methodology answer." {
            from_llm[4] += 1;
        }
        ids.push(id);
    }
    let n = briefs.len();
    let counts = templates(&fake, 0);
    println!(
        "llm_every_step over {n} tm_eval briefs: title {}/{n}, intent {}/{n}, refinement {}/{n}, query {}/{n}, methodology {}/{n}; requests {counts:?}",
        from_llm[0], from_llm[1], from_llm[2], from_llm[3], from_llm[4]
    );
    assert_eq!(from_llm, [n; 5], "every step answered by the LLM");
    // Methodology questions do not depend on the model: the same one is answered once and
    // then from the cache.
    for (t, least) in [
        ("suggest_title", n),
        ("classify_intent", 3 * n),
        ("plan_refinement", n),
        ("answer_query", n),
        ("answer_general", 1),
    ] {
        assert!(
            counts.get(t).copied().unwrap_or(0) >= least,
            "{t}: {counts:?}"
        );
    }

    // The LLM fails (HTTP 500, or prose twice): the built-in engine answers and says so.
    for mode in [Mode::ConverseDown, Mode::ConverseRambles] {
        fake.set(mode);
        let before = fake.count();
        let description = "A ticket desk where agents can refund orders stored in Postgres.";
        let (status, model) = generate(&alice, description);
        assert_eq!(status, 201, "{mode:?}: {model}");
        assert_eq!(
            model["title"], "Ticket desk where agents can refund orders stored in",
            "{mode:?}: the built-in title"
        );
        let id = model["id"].as_str().expect("id");
        let q = say(&alice, id, "Which assets are at risk?");
        let reply = q["reply"].as_str().expect("reply");
        assert!(
            reply.contains("Answered by the built-in engine") && reply.contains("llm:fake-model"),
            "{mode:?}: attributed fallback: {reply}"
        );
        // A methodology question not asked before (answers are cached per question).
        let general = if mode == Mode::ConverseDown {
            "What is a control objective?"
        } else {
            "What are mitigation groups?"
        };
        let g = say(&alice, id, general);
        assert!(
            g["reply"]
                .as_str()
                .expect("reply")
                .contains("Answered by the built-in engine"),
            "{mode:?}: {g}"
        );
        let (status, refined) = json(alice.post(
            &format!("/api/models/{id}/refine"),
            json!({"instruction": "add a database admin attacker"}),
        ));
        assert_eq!(status, 200, "{mode:?}: {refined}");
        let thought = refined["thought"].to_string();
        assert!(
            thought.contains("planned by the built-in engine"),
            "{mode:?}: {thought}"
        );
        let per = templates(&fake, before);
        let retries = if mode == Mode::ConverseRambles { 2 } else { 1 };
        assert_eq!(
            per.get("suggest_title"),
            Some(&retries),
            "{mode:?}: {per:?}"
        );
        assert_eq!(
            per.get("plan_refinement"),
            Some(&retries),
            "{mode:?}: {per:?}"
        );
    }

    // An answer naming an id the model does not have is refused, retried, then replaced.
    fake.set(Mode::InventsIds);
    let before = fake.count();
    let q = say(&alice, &ids[0], "Which asset is riskiest?");
    let reply = q["reply"].as_str().expect("reply");
    // The invented answer is not passed on (the attribution may quote the id it named).
    assert!(!reply.contains("LLM answer: A999"), "{reply}");
    assert!(reply.contains("Answered by the built-in engine"), "{reply}");
    let retry = &fake.requests()[before + 2];
    assert!(
        retry["messages"][3]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("A999"),
        "the retry quotes the invented id: {retry}"
    );
    assert!(app.stop().success());
}

#[test]
fn usage_filters_cost_estimate_and_csv_export() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-usage-filters");
    let app = start(
        &dir,
        &fake,
        &[
            ("RAMPART_LLM_PRICE_PER_1K_PROMPT_TOKENS", "0.5"),
            ("RAMPART_LLM_PRICE_PER_1K_COMPLETION_TOKENS", "1.5"),
            ("RAMPART_LLM_PRICE_CURRENCY", "EUR"),
        ],
    );
    let alice = user(&app, &dir, "alice@example.com");
    let bob = user(&app, &dir, "bob@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, org) = json(admin.post("/api/organizations", json!({"name": "Acme"})));
    assert_eq!(status, 201, "{org}");
    let org_id = org["id"].as_str().expect("org id").to_string();
    let (status, _) = json(admin.post(
        &format!("/api/organizations/{org_id}/members"),
        json!({"email": "bob@example.com", "role": "member"}),
    ));
    assert_eq!(status, 201);
    let (status, ws) = json(bob.post(
        "/api/workspaces",
        json!({"name": "Acme team", "organization_id": org_id}),
    ));
    assert_eq!(status, 201, "{ws}");
    let bob_team = bob.in_workspace(ws["id"].as_str().expect("ws id"));

    // Alice: one generation in her personal workspace, then a question in the chat (routed
    // by one "conversation" call, then answered as a "query").
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id");
    say(&alice, id, "Which asset matters most?");
    // Bob: one generation in the org's workspace.
    let (status, body) = generate(&bob_team, OTHER);
    assert_eq!(status, 201, "{body}");

    let usage = |query: &str| {
        let (status, body) = json(admin.get(&format!("/api/admin/usage{query}")));
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    let emails = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .expect("users")
            .iter()
            .map(|u| u["email"].as_str().expect("email").to_string())
            .collect()
    };
    let all = usage("");
    assert_eq!(all["days"], 30);
    assert_eq!(
        all["prices"],
        json!({"prompt_per_1k_tokens": 0.5, "completion_per_1k_tokens": 1.5, "currency": "EUR"})
    );
    let rows = all["users"].as_array().expect("users");
    assert_eq!(rows.len(), 2, "{all}");
    for row in rows {
        let p = row["prompt_tokens"].as_f64().expect("p");
        let c = row["completion_tokens"].as_f64().expect("c");
        let expected = p * 0.5 / 1000.0 + c * 1.5 / 1000.0;
        let cost = row["estimated_cost"].as_f64().expect("cost");
        assert!((cost - expected).abs() < 1e-9, "{row}");
        assert!(cost > 0.0, "{row}");
    }
    // Alice: title + 6 steps (7 calls) and 2 chat calls, 100 prompt / 20 completion each.
    let alice_row = rows
        .iter()
        .find(|r| r["email"] == "alice@example.com")
        .expect("alice");
    assert_eq!(alice_row["traces"], 3, "{alice_row}");
    assert_eq!(alice_row["prompt_tokens"], 900);
    assert_eq!(alice_row["estimated_cost"], 0.72);

    // user: by email or id.
    assert_eq!(
        emails(&usage("?user=ALICE@example.com")),
        ["alice@example.com"]
    );
    let bob_id = rows
        .iter()
        .find(|r| r["email"] == "bob@example.com")
        .expect("bob")["user_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        emails(&usage(&format!("?user={bob_id}"))),
        ["bob@example.com"]
    );
    // org: by slug or id; only calls made in the org's workspaces.
    assert_eq!(emails(&usage("?org=acme")), ["bob@example.com"]);
    assert_eq!(
        emails(&usage(&format!("?org={org_id}"))),
        ["bob@example.com"]
    );
    // operation: a type or a step.
    let q = usage("?operation=query");
    assert_eq!(emails(&q), ["alice@example.com"]);
    assert_eq!(q["users"][0]["traces"], 1);
    assert_eq!(q["users"][0]["prompt_tokens"], 100, "{q}");
    assert_eq!(usage("?operation=conversation")["users"][0]["traces"], 1);
    assert_eq!(
        emails(&usage("?operation=answer_query")),
        ["alice@example.com"]
    );
    assert_eq!(
        usage("?operation=generation")["users"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(usage("?operation=refinement")["users"], json!([]));
    // Date range (inclusive UTC days) instead of days.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let range = usage(&format!("?from={today}&to={today}&user=bob@example.com"));
    assert_eq!(emails(&range), ["bob@example.com"], "{range}");
    assert_eq!(range["days"], Value::Null);
    assert_eq!(range["from"], today.as_str());
    assert_eq!(usage("?from=2020-01-01&to=2020-01-31")["users"], json!([]));
    assert_eq!(
        usage(&format!("?from={today}"))["users"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // CSV export of the same rows.
    let resp = admin.get("/api/admin/usage?format=csv&org=acme");
    assert_eq!(resp.status().as_u16(), 200);
    let ctype = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .expect("cd")
        .to_string();
    assert!(
        disposition.starts_with("attachment; filename=\"rampart-usage-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let csv = resp.text().expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "user_id,email,display_name,traces,prompt_tokens,completion_tokens,total_tokens,cache_hits,estimated_cost"
    );
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{bob_id},bob@example.com,")),
        "{csv}"
    );

    // Bad filters: 400 naming the field.
    for (query, field) in [
        ("?user=nobody@example.com", "user"),
        ("?org=no-such-org", "org"),
        ("?operation=dancing", "operation"),
        ("?from=2026-13-01", "from"),
        ("?to=yesterday", "to"),
        ("?from=2026-02-02&to=2026-02-01", "to"),
        ("?days=7&from=2026-02-01", "days"),
        ("?days=0", "days"),
        ("?format=xml", "format"),
        ("?colour=red", "colour"),
    ] {
        let (status, body) = json(admin.get(&format!("/api/admin/usage{query}")));
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with(&format!("{field}:")),
            "{query}: {body}"
        );
    }
    let (status, _) = json(alice.get("/api/admin/usage?format=csv"));
    assert_eq!(status, 403, "usage is for admins only");
}

#[test]
fn cache_stats_and_clear_per_user_and_globally() {
    use crate::harness::stdout_json;
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-cache-admin");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let bob = user(&app, &dir, "bob@example.com");
    cli_user(&dir, "ops@example.com", "admin");
    let ops = Client::login(&app, "ops@example.com", PASSWORD);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let stats = |query: &str| {
        let (status, body) = json(admin.get(&format!("/api/admin/cache/stats{query}")));
        assert_eq!(status, 200, "{query}: {body}");
        body
    };
    assert_eq!(stats("")["entries"], 0);
    assert_eq!(stats("")["hit_rate"], Value::Null, "no calls yet");

    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(generate(&bob, OTHER).0, 201);
    assert_eq!(fake.count(), 14);
    assert_eq!(generate(&alice, LEDGER).0, 201, "from the cache");
    assert_eq!(fake.count(), 14);
    let all = stats("");
    assert_eq!(all["entries"], 14, "{all}");
    assert!(all["size_bytes"].as_u64().expect("size") > 14 * 64, "{all}");
    assert_eq!(all["calls"], 21);
    assert_eq!(all["cache_hits"], 7);
    assert_eq!(all["hit_rate"], 0.3333);
    assert_eq!(all["enabled"], true);
    assert_eq!(all["user"], Value::Null);
    let a = stats("?user=alice@example.com");
    assert_eq!(
        (
            a["entries"].clone(),
            a["calls"].clone(),
            a["hit_rate"].clone()
        ),
        (json!(7), json!(14), json!(0.5)),
        "{a}"
    );
    assert_eq!(a["user"]["email"], "alice@example.com");
    let (status, body) = json(admin.get("/api/admin/cache/stats?user=nobody@example.com"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "user");

    // Admins see the numbers; clearing is for superadmins; users see neither.
    let (status, _) = json(ops.get("/api/admin/cache/stats"));
    assert_eq!(status, 200);
    let (status, _) = json(ops.delete("/api/admin/cache"));
    assert_eq!(status, 403);
    let (status, _) = json(alice.get("/api/admin/cache/stats"));
    assert_eq!(status, 403);
    let (status, _) = json(alice.delete("/api/admin/cache?user=bob@example.com"));
    assert_eq!(status, 403);
    assert_eq!(
        stats("")["entries"],
        14,
        "nothing was removed by refused calls"
    );

    // One user's entries: the next identical request asks the LLM again.
    let (status, cleared) = json(admin.delete("/api/admin/cache?user=alice@example.com"));
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["removed"], 7);
    assert_eq!(stats("")["entries"], 7, "bob's entries stay");
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(fake.count(), 21, "alice's cache was cleared");

    // A user clears their own cache.
    let (status, own) = json(bob.delete("/api/me/llm-cache"));
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["removed"], 7);
    assert_eq!(own["user"]["email"], "bob@example.com");
    assert_eq!(stats("?user=bob@example.com")["entries"], 0);
    assert_eq!(stats("")["entries"], 7);

    // The CLI, while the server runs.
    let out = dir
        .cmd()
        .args([
            "admin",
            "cache",
            "stats",
            "--user",
            "alice@example.com",
            "--json",
        ])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    assert_eq!(stdout_json(&out)["entries"], 7);
    let out = dir.cmd().args(["admin", "cache", "stats"]).output();
    let text = crate::harness::stdout(&out);
    assert!(
        text.contains("entries     7") && text.contains("hit rate"),
        "{text}"
    );
    dir.cmd()
        .args(["admin", "cache", "stats", "--user", "nobody@example.com"])
        .assert_exit(2);
    let out = dir
        .cmd()
        .args(["admin", "cache", "clear", "--json"])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    assert_eq!(stdout_json(&out)["removed"], 7);
    assert_eq!(stats("")["entries"], 0);
    let (status, cleared) = json(admin.delete("/api/admin/cache"));
    assert_eq!(status, 200);
    assert_eq!(cleared["removed"], 0);

    // Every clear is in the audit log.
    let (_, events) = json(admin.get("/api/admin/events"));
    let text = events.to_string();
    assert_eq!(text.matches("llm_cache_clear").count(), 3, "{events}");
}

#[test]
fn telemetry_past_retention_is_purged() {
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-retention");
    let mut app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    assert_eq!(generate(&alice, LEDGER).0, 201);
    assert_eq!(generate(&alice, OTHER).0, 201);
    drop(alice);
    assert!(app.stop().success());

    // Backdate the records of one operation by 40 days (straight in the database).
    {
        let db = crate::harness::platform_db(&dir);
        let conn = db.conn().expect("conn");
        let old = (chrono::Utc::now() - chrono::Duration::days(40))
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let changed = conn
            .execute(
                "UPDATE llm_usage SET created_at = ?1 WHERE trace_id = (SELECT trace_id FROM llm_usage ORDER BY id LIMIT 1)",
                [&old],
            )
            .expect("backdate");
        assert_eq!(changed, 7, "one generation: title and six steps");
    }

    // With a 30-day retention the old operation is gone at the next start; the recent stays.
    let app = start(&dir, &fake, &[("TELEMETRY_RETENTION_DAYS", "30")]);
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, usage) = json(admin.get("/api/admin/usage?from=2020-01-01"));
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["users"][0]["traces"], 1, "{usage}");
    assert_eq!(usage["users"][0]["prompt_tokens"], 700, "{usage}");
}

#[test]
fn a_refinement_records_its_llm_usage_and_cache_entries_without_waiting() {
    // Regression: a refinement calls the LLM inside the model's write transaction; in a
    // personal workspace (the platform database) its usage and cache writes used to wait
    // for that transaction from a second connection until the busy timeout (5 s), then
    // were lost with a warning.
    let fake = FakeLlm::start();
    let dir = TestDir::new("llm-refine-writes");
    let app = start(&dir, &fake, &[]);
    let alice = user(&app, &dir, "alice@example.com");
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, model) = generate(&alice, LEDGER);
    assert_eq!(status, 201, "{model}");
    let id = model["id"].as_str().expect("id");
    let entries = || {
        let (status, body) = json(admin.get("/api/admin/cache/stats?user=alice@example.com"));
        assert_eq!(status, 200, "{body}");
        body["entries"].as_u64().expect("entries")
    };
    let before = entries();
    let calls = fake.count();

    let started = Instant::now();
    let (status, refined) = json(alice.post(
        &format!("/api/models/{id}/refine"),
        json!({"instruction": "add a database admin attacker"}),
    ));
    let took = started.elapsed();
    assert_eq!(status, 200, "{refined}");
    assert!(fake.count() > calls, "the refinement asked the LLM");
    assert!(
        took < Duration::from_secs(4),
        "the refinement waited out the busy timeout: {took:?}"
    );
    assert!(entries() > before, "its answers are cached");
    let (status, usage) = json(admin.get("/api/admin/usage?operation=refinement"));
    assert_eq!(status, 200, "{usage}");
    let rows = usage["users"].as_array().expect("users");
    assert!(
        rows.iter()
            .any(|r| r["email"] == "alice@example.com" && r["traces"].as_u64() >= Some(1)),
        "{usage}"
    );
    let log = app.log();
    for warning in [
        "recording LLM usage failed",
        "storing an LLM cache entry failed",
    ] {
        assert!(!log.contains(warning), "{warning}:\n{log}");
    }
}
