//! Browser tests: the real binary driven by headless Chromium (Debian's `/usr/bin/chromium`,
//! installed by `scripts/test`; nothing is downloaded) over the DevTools protocol.
//!
//! The browser opens the appliance at `http://localhost:PORT`, the appliance's own public URL
//! for a loopback bind, so WebAuthn's relying party id (`localhost`) matches the origin.
//! With `RAMPART_SCREENSHOTS=1` the main pages are saved to `docs/screenshots/*.png`.
//!
//! The end-to-end flow (setup → TOTP → login → new model with live progress → edit an asset
//! → assurance → API key) runs against a slow OpenAI-compatible fake ([`SlowLlm`]) so the
//! pipeline is still running when the progress page opens: the steps must arrive over SSE.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use headless_chrome::protocol::cdp::Page;
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Log, WebAuthn};
use headless_chrome::{Browser, LaunchOptions, Tab};

use crate::harness::{Appliance, Client, PASSWORD, TestDir, cli_setup, json, totp_code};

const WAIT: Duration = Duration::from_secs(30);

struct Session {
    // Field order matters: the tab and browser go before the profile dir is deleted.
    tab: Arc<Tab>,
    /// Errors the page logged (CSP violations, failed loads, script errors).
    console: Arc<Mutex<Vec<String>>>,
    _browser: Browser,
    _profile: tempfile::TempDir,
    base: String,
}

impl Session {
    fn start(app: &Appliance) -> Self {
        let chromium = crate::harness::require_tool("chromium");
        let profile = tempfile::Builder::new()
            .prefix("rampart-chromium-")
            .tempdir()
            .expect("profile dir");
        let args: Vec<&OsStr> = [
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-gpu",
        ]
        .iter()
        .map(OsStr::new)
        .collect();
        let options = LaunchOptions::default_builder()
            .path(Some(chromium))
            .headless(true)
            .sandbox(false)
            .enable_gpu(false)
            .window_size(Some((1280, 900)))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .args(args)
            .idle_browser_timeout(Duration::from_secs(300))
            .build()
            .expect("launch options");
        let browser = Browser::new(options).expect("start chromium");
        let tab = browser.new_tab().expect("tab");
        tab.set_default_timeout(WAIT);
        let console = Arc::new(Mutex::new(Vec::new()));
        let sink = console.clone();
        tab.enable_log().expect("Log.enable");
        tab.add_event_listener(Arc::new(move |event: &Event| {
            if let Event::LogEntryAdded(e) = event
                && e.params.entry.level == Log::LogEntryLevel::Error
            {
                // Deliberate 4xx answers (wrong password, invalid code) are not page errors.
                let provoked = e.params.entry.source == Log::LogEntrySource::Network
                    && e.params.entry.text.contains("status of 4");
                if provoked {
                    return;
                }
                if let Ok(mut v) = sink.lock() {
                    v.push(format!(
                        "{:?}: {}",
                        e.params.entry.source, e.params.entry.text
                    ));
                }
            }
        }))
        .expect("log listener");
        let port = app.url.rsplit(':').next().expect("port").to_string();
        Self {
            tab,
            console,
            _browser: browser,
            _profile: profile,
            base: format!("http://localhost:{port}"),
        }
    }

    fn go(&self, path: &str) {
        self.tab
            .navigate_to(&format!("{}{path}", self.base))
            .expect("navigate")
            .wait_until_navigated()
            .expect("navigated");
    }

    /// Waits for an element; on timeout fails with the URL and the page text.
    fn wait(&self, selector: &str) {
        if self
            .tab
            .wait_for_element_with_custom_timeout(selector, WAIT)
            .is_err()
        {
            panic!(
                "timed out waiting for `{selector}` on {}\n---\n{}",
                self.tab.get_url(),
                self.text("body")
            );
        }
    }

    fn js(&self, expr: &str) -> serde_json::Value {
        self.tab
            .evaluate(expr, false)
            .unwrap_or_else(|e| panic!("evaluate {expr}: {e}"))
            .value
            .unwrap_or(serde_json::Value::Null)
    }

    fn set(&self, selector: &str, value: &str) {
        self.wait(selector);
        let sel = serde_json::to_string(selector).expect("json");
        let val = serde_json::to_string(value).expect("json");
        self.js(&format!(
            "(() => {{ const e = document.querySelector({sel}); e.value = {val}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
        ));
    }

    /// Clicks through the DOM (no coordinates: robust against sticky headers).
    fn click(&self, selector: &str) {
        self.wait(selector);
        let sel = serde_json::to_string(selector).expect("json");
        self.js(&format!("document.querySelector({sel}).click()"));
    }

    fn text(&self, selector: &str) -> String {
        let sel = serde_json::to_string(selector).expect("json");
        self.js(&format!(
            "(() => {{ const e = document.querySelector({sel}); return e ? e.innerText : ''; }})()"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    fn exists(&self, selector: &str) -> bool {
        let sel = serde_json::to_string(selector).expect("json");
        self.js(&format!("document.querySelector({sel}) !== null"))
            .as_bool()
            .unwrap_or(false)
    }

    fn path(&self) -> String {
        self.js("location.pathname")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits until `location.pathname` is `path`.
    fn wait_path(&self, path: &str) {
        let deadline = Instant::now() + WAIT;
        while self.path() != path {
            if Instant::now() > deadline {
                panic!(
                    "expected to reach {path}, still on {}\n---\n{}",
                    self.tab.get_url(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page fits the 1280 px window: no horizontal scrolling.
    fn assert_fits(&self) {
        let overflow = self.js("document.documentElement.scrollWidth - window.innerWidth");
        assert!(
            overflow.as_f64().unwrap_or(1.0) <= 0.0,
            "{} scrolls horizontally by {overflow} px",
            self.tab.get_url()
        );
    }

    fn screenshot(&self, name: &str) {
        self.assert_fits();
        // The whole page (up to 1600 px tall), not just the viewport.
        let height = self
            .js("document.documentElement.scrollHeight")
            .as_f64()
            .unwrap_or(900.0)
            .clamp(600.0, 1600.0);
        let shot = self
            .tab
            .call_method(Page::CaptureScreenshot {
                format: Some(CaptureScreenshotFormatOption::Png),
                quality: None,
                clip: Some(Page::Viewport {
                    x: 0.0,
                    y: 0.0,
                    width: 1280.0,
                    height,
                    scale: 1.0,
                }),
                from_surface: Some(true),
                capture_beyond_viewport: Some(true),
                optimize_for_speed: None,
            })
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.data)
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if std::env::var_os("RAMPART_SCREENSHOTS").is_some() {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&dir).expect("screenshot dir");
            std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        }
    }

    /// Fails if any page logged an error, e.g. a Content-Security-Policy violation.
    fn assert_clean_console(&self) {
        let errors = self.console.lock().map(|v| v.clone()).unwrap_or_default();
        assert!(
            errors.is_empty(),
            "browser console errors:\n{}",
            errors.join("\n")
        );
    }

    fn sign_out(&self) {
        self.click("form[action='/logout'] button");
        self.wait_path("/login");
    }
}

/// An OpenAI-compatible fake that answers each pipeline step with a realistic, valid model
/// after `DELAY`, so a generation takes a few seconds and its progress can be watched.
struct SlowLlm {
    port: u16,
}

impl SlowLlm {
    const DELAY: Duration = Duration::from_millis(900);

    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake llm");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
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
                    let body: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    std::thread::sleep(Self::DELAY);
                    let (status, answer) = slow_answer(&body);
                    let text = answer.to_string();
                    let mut stream = reader.into_inner();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = stream.flush();
                });
            }
        });
        Self { port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

/// The answer of the step named in the system prompt (`rampart step <name>:`).
fn slow_answer(body: &serde_json::Value) -> (u16, serde_json::Value) {
    use serde_json::json;
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    let input: serde_json::Value = body["messages"][1]["content"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(serde_json::Value::Null);
    let step = system
        .split("rampart step ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or_default();
    let content = match step {
        "generate_assets" | "refine_assets" => json!({
            "thought": "The portal stores customer accounts and invoices, and keeps admin exports. Each is a separate asset with its own impact.",
            "assets": [
                {"name": "Customer accounts", "description": "Email addresses and password hashes of portal users", "properties": ["C", "I"], "impact": "high", "rationale": "Account takeover exposes every invoice"},
                {"name": "Invoice files", "description": "PDF invoices uploaded to object storage", "properties": ["C", "I", "A"], "impact": "high", "rationale": "Contains billing and tax data"},
                {"name": "Report exports", "description": "CSV reports generated by the admin console", "properties": ["C"], "impact": "medium", "rationale": "Aggregated customer data"}
            ]
        }),
        "generate_attackers" | "refine_attackers" => json!({
            "thought": "An internet attacker reaches the sign-in and upload endpoints; a malicious insider can use the admin console.",
            "attackers": [
                {"name": "Credential stuffer", "description": "Replays leaked passwords against the sign-in form", "capability": "Automated login attempts from botnets", "position": "external", "archetype": "external", "likelihood": "high", "threatens": ["C", "I"], "targets": null, "rationale": "Sign-in is public"},
                {"name": "Curious administrator", "description": "Exports more data than the job needs", "capability": "Valid admin session", "position": "insider", "archetype": "insider", "likelihood": "medium", "threatens": ["C"], "targets": null, "rationale": "The admin console exports reports"}
            ]
        }),
        "generate_matrix" => {
            let first = input["assets"][0]["id"].clone();
            json!({"thought": "Requests cross from the internet into the portal; the storage bucket sits behind it.", "matrix": {
                "trust_boundaries": [{"name": "Internet to portal", "zones": ["internet", "portal"], "assets": [first], "crossing": ["HTTPS requests"], "rationale": "All user traffic enters here"}],
                "assumptions": [{"text": "The object storage bucket is private and only the portal role can read it", "rationale": "Set by the platform team"}]
            }})
        }
        "generate_controls" => {
            let mappings: Vec<serde_json::Value> = input["control_objectives"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|co| json!({"co_id": co["id"], "group": "primary"}))
                .collect();
            json!({"thought": "One control covers authentication and authorization on every path to the assets.", "controls": [
                {"name": "Rate-limited sign-in with MFA", "description": "Throttle failed sign-ins per account and IP and require a second factor", "framework_refs": [{"framework": "cwe", "id": "CWE-307"}], "rationale": "Stops credential stuffing", "mappings": mappings}
            ]})
        }
        other => {
            return (
                400,
                json!({"error": {"message": format!("unknown step {other:?}")}}),
            );
        }
    };
    (
        200,
        json!({
            "id": "chatcmpl-slow", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        }),
    )
}

fn otpauth(secret: &str) -> String {
    format!("otpauth://totp/rampart:browser?secret={secret}&issuer=rampart")
}

#[test]
fn setup_totp_login_model_assurance_and_api_key_in_chromium() {
    let dir = TestDir::new("browser-totp");
    let llm = SlowLlm::start();
    // Zero users, MFA required (the default); generation through the slow fake LLM.
    let app = Appliance::start_with(
        &dir,
        dir.cmd()
            .env("RAMPART_LLM_ENDPOINT", &llm.endpoint())
            .env("RAMPART_LLM_MODEL", "fake-model"),
    );
    let s = Session::start(&app);

    // Every page leads to the setup wizard while there are no users.
    s.go("/settings/api-keys");
    s.wait_path("/setup");
    s.set("#email", "admin@example.com");
    s.set("#name", "Ada Admin");
    s.set("#password", PASSWORD);
    s.set("#password_confirm", "Something-else-1");
    s.click("button[type=submit]");
    s.wait("#password_confirm-error");
    assert!(s.text("#password_confirm-error").contains("do not match"));
    s.screenshot("setup");
    s.set("#password", PASSWORD);
    s.set("#password_confirm", PASSWORD);
    s.click("button[type=submit]");

    // MFA is required: the new admin lands on enrollment and sets up an authenticator app.
    s.wait_path("/mfa/enroll");
    s.wait("#enroll-totp");
    s.screenshot("mfa-enroll");
    // Adding a factor needs the password again.
    s.set("#enroll-password", PASSWORD);
    s.click("#enroll-totp");
    s.wait_path("/mfa/enroll/totp");
    s.wait("#totp-secret");
    let secret = s.text("#totp-secret").trim().to_string();
    assert!(secret.len() >= 16, "secret: {secret}");
    assert!(s.exists("img[src^='data:image/png;base64,']"), "QR image");
    s.screenshot("totp-setup");
    s.set("#code", &totp_code(&otpauth(&secret), 0));
    s.click("form[action='/mfa/enroll/totp/confirm'] button[type=submit]");
    s.wait("#recovery-codes");
    let codes = s.js("document.querySelectorAll('#recovery-codes li').length");
    assert_eq!(codes, serde_json::json!(10));
    s.screenshot("recovery-codes");
    s.click("#codes-continue");
    s.wait_path("/");
    s.wait("#kpi-models");
    assert_eq!(s.text("#kpi-models"), "0");
    // Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    s.js("document.activeElement && document.activeElement.blur()");
    s.tab.press_key("Tab").expect("Tab");
    assert_eq!(
        s.js("document.activeElement.className"),
        serde_json::json!("skip-link")
    );
    s.tab.press_key("Enter").expect("Enter");
    let deadline = Instant::now() + WAIT;
    while s.js("document.activeElement.id") != serde_json::json!("main") {
        assert!(Instant::now() < deadline, "skip link did not focus <main>");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.text("main").contains("No threat models yet"));
    s.screenshot("dashboard-empty");

    // Sign out, then sign in again with password + authenticator code.
    s.sign_out();
    assert!(s.text(".flash").contains("signed out"));
    s.set("#email", "admin@example.com");
    s.set("#password", "Wrong-password-1");
    s.click("button[type=submit]");
    s.wait("#login-error");
    assert!(s.text("#login-error").contains("Invalid email or password"));
    s.set("#password", PASSWORD);
    s.screenshot("login");
    s.click("button[type=submit]");
    s.wait_path("/login/mfa");
    s.wait("#code");
    s.screenshot("mfa-totp");
    // The enrollment code's time step is used up (replay guard); the next one is accepted.
    s.set("#code", &totp_code(&otpauth(&secret), 1));
    s.click("button[type=submit]");
    s.wait_path("/");
    s.wait("#kpi-models");

    // Create a model: the pipeline steps arrive live over SSE, then the model page opens.
    s.go("/models/new");
    s.set(
        "#description",
        "A customer portal: users sign in with passwords and upload invoices to object storage; an admin console exports reports.",
    );
    s.screenshot("model-new");
    s.click("#generate");
    let deadline = Instant::now() + WAIT;
    while !s.path().starts_with("/models/jobs/") {
        assert!(Instant::now() < deadline, "no job page: {}", s.path());
        std::thread::sleep(Duration::from_millis(50));
    }
    let job_path = s.path();
    s.wait("#job-steps");
    // The server renders every step as pending; only the event stream (job.js) moves them.
    assert_eq!(
        s.text("#job-status"),
        "Running",
        "the pipeline must still be running"
    );
    s.wait("#job-steps .step-done");
    assert_eq!(
        s.path(),
        job_path,
        "a step finished while the page stayed open"
    );
    // …while later steps were still to come: the results arrive live, one by one.
    let snapshot: serde_json::Value = serde_json::from_str(
        s.js(
            "JSON.stringify([document.querySelectorAll('#job-steps .step-done').length, \
              document.querySelectorAll('#job-steps .step-pending, #job-steps .step-running').length, \
              document.getElementById('job-done').hidden])",
        )
        .as_str()
        .unwrap_or("null"),
    )
    .expect("snapshot json");
    assert!(
        snapshot[1].as_u64().unwrap_or(0) >= 1 && snapshot[2] == serde_json::json!(true),
        "steps done / still to come / done-box hidden: {snapshot}"
    );
    assert!(
        !s.js("document.querySelector('#job-steps .step-done .step-thought').textContent")
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "the thought process of a finished step arrives with its result"
    );
    s.js("document.querySelector('#job-steps .step-done details').open = true");
    s.screenshot("model-progress");
    s.wait("#job-done:not([hidden])");
    assert_eq!(s.text("#job-status"), "Done");
    let done = s.js("document.querySelectorAll('#job-steps .step-done').length");
    assert_eq!(
        done,
        s.js("document.querySelectorAll('#job-steps .step').length"),
        "every step reported its result"
    );
    // job.js opens the model by itself.
    let deadline = Instant::now() + WAIT;
    while s.path().starts_with("/models/jobs/") || !s.path().starts_with("/models/") {
        assert!(Instant::now() < deadline, "the model page did not open");
        std::thread::sleep(Duration::from_millis(100));
    }
    let model_path = s.path();
    s.wait("#assets-table");
    assert!(s.text("#assets-table").contains("Invoice files"));
    s.screenshot("model");

    // Edit an asset with the model page's edit form.
    s.js("document.querySelector('#assets-table tbody tr details.row-edit').open = true");
    s.set(
        "#assets-table tbody tr form[action$='/edit'] input[name=name]",
        "Customer accounts and sessions",
    );
    s.click("#assets-table tbody tr form[action$='/edit'] button[type=submit]");
    let deadline = Instant::now() + WAIT;
    while !s
        .text("#assets-table")
        .contains("Customer accounts and sessions")
    {
        assert!(
            Instant::now() < deadline,
            "the edited asset name is not shown"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.path(), model_path);

    // Assurance: add an assertion with the per-type parameter fields, see it listed.
    s.go(&format!("{model_path}/assurance"));
    s.wait("form.assertion-form");
    s.js("document.querySelector('details.add-assertion').open = true");
    let select = "form.assertion-form select[data-assertion-type]";
    s.js(&format!(
        "(() => {{ const e = document.querySelector(\"{select}\"); e.value = 'file_exists'; \
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
    ));
    assert!(s.exists("form.assertion-form input[name='param.file']"));
    assert!(
        !s.exists("form.assertion-form input[name='param.name']"),
        "the fields follow the selected type"
    );
    s.js(&format!(
        "(() => {{ const e = document.querySelector(\"{select}\"); e.value = 'function_exists'; \
         e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
    ));
    s.set(
        "form.assertion-form input[name='param.file']",
        "src/auth/login.py",
    );
    // Missing required parameter: refused inline, the typed values kept.
    s.set(
        "form.assertion-form input[name=description]",
        "Sign-in is rate limited",
    );
    s.js("window.rampartNoReload = true");
    s.click("form.assertion-form button[type=submit]");
    s.wait("form.assertion-form .field-error");
    assert_eq!(
        s.js("window.rampartNoReload === true"),
        serde_json::json!(true),
        "the refused form is swapped in place (htmx), the page is not reloaded"
    );
    assert!(
        s.text("form.assertion-form .field-error")
            .contains("Required")
    );
    assert_eq!(
        s.js("document.querySelector(\"form.assertion-form input[name='param.file']\").value"),
        serde_json::json!("src/auth/login.py")
    );
    s.set(
        "form.assertion-form input[name='param.name']",
        "throttle_login",
    );
    s.click("form.assertion-form button[type=submit]");
    s.wait(".flash-success");
    assert!(s.text(".flash-success").contains("Assertion added"));
    s.wait("tr[id^='assertion-']");
    assert!(s.text(".assertions-table").contains("throttle_login"));
    // Record a finding by hand in the control's findings panel and expand it.
    s.js("document.querySelector('details.add-finding').open = true");
    s.set(
        "form.finding-form input[name=title]",
        "No lockout after repeated failed sign-ins",
    );
    s.set("form.finding-form select[name=severity]", "high");
    s.set(
        "form.finding-form textarea[name=checked_locations]",
        "src/auth/login.py:40-88 | def login(request):",
    );
    s.set(
        "form.finding-form textarea[name=checked_patterns]",
        "lockout, throttle",
    );
    s.set(
        "form.finding-form textarea[name=expected_evidence]",
        "A per-account failure counter that blocks sign-in for a while",
    );
    s.click("form.finding-form button[type=submit]");
    s.wait("tr[id^='finding-'] .finding-detail");
    assert!(s.text(".flash-success").contains("recorded"));
    s.js("document.querySelector('.finding-detail').open = true");
    assert!(
        s.text(".findings-table")
            .contains("src/auth/login.py:40-88")
    );
    s.screenshot("assurance");

    // Create an API key: it is shown once, works, and is only listed by prefix afterwards.
    s.go("/settings/api-keys");
    s.wait("#key-name");
    s.set("#key-name", "GitHub Actions");
    s.click("#create-key");
    s.wait("#new-api-key");
    let key = s.text("#new-api-key").trim().to_string();
    assert!(key.starts_with("mk_"), "key: {key}");
    s.screenshot("api-keys");
    let (status, me) = json(Client::with_key(&app, &key).get("/api/me"));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "admin@example.com");
    s.go("/settings/api-keys");
    s.wait("#api-keys-table");
    assert!(!s.exists("#new-api-key"), "the key must not be shown again");
    assert!(s.text("#api-keys-table").contains("GitHub Actions"));
    assert!(!s.text("body").contains(&key));

    // The other settings pages render for the admin (screenshots for the README).
    s.go("/settings/users");
    s.set("#u-email", "dev@example.com");
    s.set("#u-name", "Dana Developer");
    s.set("#u-password", PASSWORD);
    s.click("#create-user");
    s.wait("tr[data-user='dev@example.com']");
    s.screenshot("users");
    s.go("/settings/account");
    s.wait("#keys-h");
    assert!(s.text("#totp").contains("Enabled"));
    assert!(s.text("#sessions").contains("127.0.0.1"));
    s.screenshot("account");
    s.go("/settings/integrations");
    s.wait("#snippet-mcp");
    assert!(s.text("#snippet-mcp").contains(&format!("{}/mcp", s.base)));
    s.screenshot("integrations");

    // A model created over the API with that key shows up on the dashboard and in Models.
    let (status, model) = json(Client::with_key(&app, &key).post(
        "/api/models?wait=true",
        serde_json::json!({"feature_description": "A customer portal: users sign in with passwords, upload invoices to S3, and an admin console exports reports from a Postgres database."}),
    ));
    assert_eq!(status, 201, "{model}");
    s.go("/");
    s.wait(".model-card");
    assert_eq!(s.text("#kpi-models"), "2");
    // Inline rename from a model card (pencil → field → Save).
    s.click(".model-card details.rename-title > summary");
    s.set(
        ".model-card details.rename-title input[name=title]",
        "Invoice portal (API)",
    );
    s.click(".model-card details.rename-title button[type=submit]");
    s.wait(".flash-success");
    assert!(s.text(".flash-success").contains("Invoice portal (API)"));
    assert!(s.text(".model-cards").contains("Invoice portal (API)"));
    s.screenshot("dashboard");
    // Every KPI card drills down to exactly the objectives it counts.
    for (card, link) in [
        ("#kpi-at-risk", "#kpi-at-risk-link"),
        ("#kpi-not-started", "#kpi-not-started-link"),
        ("#kpi-implemented-count", "#kpi-implemented-link"),
        ("#kpi-verified-count", "#kpi-verified-link"),
    ] {
        s.go("/");
        s.wait(card);
        let on_card = s.text(card);
        s.click(link);
        s.wait_path("/objectives");
        s.wait("#drill-count");
        let rows = s.js("document.querySelectorAll('.drill-row').length");
        assert_eq!(rows.to_string(), on_card, "{card}");
        assert_eq!(s.text("#drill-count"), on_card, "{card}");
        if card == "#kpi-at-risk" {
            s.screenshot("drill-down");
        }
    }
    s.go("/models");
    s.wait("#models-table");
    s.screenshot("models");
    s.assert_clean_console();
}

#[test]
fn security_key_enrollment_and_login_with_virtual_authenticator() {
    let dir = TestDir::new("browser-webauthn");
    cli_setup(&dir, "admin@example.com");
    let app = Appliance::start(&dir);
    let s = Session::start(&app);
    s.tab
        .call_method(WebAuthn::Enable {
            enable_ui: Some(false),
        })
        .expect("WebAuthn.enable");
    s.tab
        .call_method(WebAuthn::AddVirtualAuthenticator {
            options: WebAuthn::VirtualAuthenticatorOptions {
                protocol: WebAuthn::AuthenticatorProtocol::Ctap2,
                ctap_2_version: None,
                transport: WebAuthn::AuthenticatorTransport::Usb,
                has_resident_key: Some(true),
                has_user_verification: Some(true),
                has_large_blob: None,
                has_cred_blob: None,
                has_min_pin_length: None,
                has_prf: None,
                automatic_presence_simulation: Some(true),
                is_user_verified: Some(true),
                default_backup_eligibility: None,
                default_backup_state: None,
            },
        })
        .expect("WebAuthn.addVirtualAuthenticator");

    s.go("/login");
    s.wait("#email");
    // The console check can fail: an off-site image is refused by the page's CSP and logged.
    s.js("document.body.insertAdjacentHTML('beforeend', '<img src=\"https://example.invalid/x.png\">')");
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = s.console.lock().map(|v| v.join("\n")).unwrap_or_default();
        if seen.contains("Content Security Policy") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "CSP violation not reported: {seen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    if let Ok(mut v) = s.console.lock() {
        v.clear();
    }
    s.set("#email", "admin@example.com");
    s.set("#password", PASSWORD);
    s.click("button[type=submit]");
    s.wait_path("/mfa/enroll");
    s.set("#key-name", "Virtual key");
    s.set("#key-password", PASSWORD);
    s.click("#add-security-key");
    // First factor: the server issues recovery codes, shown in place.
    s.wait("#recovery-panel:not([hidden]) #webauthn-recovery-codes li");
    let codes = s.js("document.querySelectorAll('#webauthn-recovery-codes li').length");
    assert_eq!(codes, serde_json::json!(10));
    s.click("#recovery-panel [data-continue]");
    s.wait_path("/");
    s.wait("#kpi-models");

    s.go("/settings/account");
    s.wait("#keys-h");
    assert!(
        s.js("document.querySelector('input[name=name][value=\"Virtual key\"]') !== null")
            .as_bool()
            .unwrap_or(false),
        "the registered key is listed"
    );

    // Rename the key; removing the only second factor is refused inline.
    s.set("#key-1", "YubiKey 5C");
    s.click("form.rename-form button[type=submit]");
    s.wait(".flash-success");
    assert!(s.text(".flash-success").contains("YubiKey 5C"));
    s.js("window.confirm = () => true");
    s.js("document.querySelector('details.popover').open = true");
    s.set("#rm-1", PASSWORD);
    s.click("details.popover button[type=submit]");
    s.wait("#keys .field-error");
    assert!(
        s.text("#keys .field-error").to_lowercase().contains("last"),
        "{}",
        s.text("#keys .field-error")
    );

    // Sign out and back in: the security key step starts by itself.
    s.sign_out();
    s.set("#email", "admin@example.com");
    s.set("#password", PASSWORD);
    s.click("button[type=submit]");
    s.wait_path("/");
    s.wait("#kpi-models");
    assert!(s.text(".usermenu").contains("Admin"));

    // With an authenticator app as well, sign-in offers a choice of method.
    s.go("/settings/account");
    s.wait("#enable-totp-password");
    s.set("#enable-totp-password", PASSWORD);
    s.click("#enable-totp");
    s.wait_path("/settings/account/totp");
    s.wait("#totp-secret");
    let secret = s.text("#totp-secret").trim().to_string();
    s.set("#code", &totp_code(&otpauth(&secret), 0));
    s.click("form[action='/settings/account/totp/confirm'] button[type=submit]");
    s.wait_path("/settings/account");
    s.wait(".flash-success");
    s.sign_out();
    s.set("#email", "admin@example.com");
    s.set("#password", PASSWORD);
    s.click("button[type=submit]");
    s.wait("#choose-webauthn");
    assert!(s.exists("#choose-totp"));
    s.screenshot("mfa-choose");
    s.click("#choose-webauthn");
    s.wait_path("/");
    s.wait("#kpi-models");
    s.assert_clean_console();
}

/// Signs in through the login form (no second factor in this test).
fn sign_in(s: &Session, email: &str) {
    s.go("/login");
    s.set("#email", email);
    s.set("#password", PASSWORD);
    s.click("form[action='/login'] button[type=submit]");
    s.wait_path("/");
}

#[test]
fn team_workspace_invitation_and_switcher_in_chromium() {
    let dir = TestDir::new("browser-team");
    cli_setup(&dir, "admin@example.com");
    crate::harness::cli_user(&dir, "lead@example.com", "user");
    let app = Appliance::start_with(&dir, dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    let lead = Session::start(&app);
    sign_in(&lead, "lead@example.com");

    // New workspace: the lead becomes its owner and the app switches to it.
    lead.go("/settings/workspaces/new");
    lead.set("#ws-new-name", "");
    lead.click("form[action='/settings/workspaces/new'] button[type=submit]");
    lead.wait(".field-error");
    lead.set("#ws-new-name", "Payments team");
    lead.click("form[action='/settings/workspaces/new'] button[type=submit]");
    lead.wait_path("/settings/workspace");
    lead.wait("#ws-title");
    assert_eq!(lead.text("#ws-title"), "Payments team");
    assert_eq!(lead.text("#my-role"), "owner");
    let selected = lead.js("document.querySelector('#ws-select').selectedOptions[0].textContent");
    assert!(
        selected
            .as_str()
            .unwrap_or_default()
            .contains("Payments team"),
        "{selected}"
    );
    // The fallback button of the switcher is hidden once the script runs.
    assert_eq!(
        lead.js("document.querySelector('[data-autosubmit-fallback]').hidden"),
        serde_json::json!(true)
    );

    // A model in the team workspace, made over REST by the lead.
    let (_, ws_list) =
        json(Client::login(&app, "lead@example.com", PASSWORD).get("/api/workspaces"));
    let ws = ws_list
        .as_array()
        .expect("list")
        .iter()
        .find(|w| w["name"] == "Payments team")
        .and_then(|w| w["id"].as_str())
        .expect("ws id")
        .to_string();
    let api = Client::login(&app, "lead@example.com", PASSWORD).in_workspace(&ws);
    let (status, m) = json(api.post(
        "/api/models?wait=true",
        serde_json::json!({"feature_description": "Team ledger bw71: a REST API for card refunds with webhooks from the card processor and an admin back office."}),
    ));
    assert_eq!(status, 201, "{m}");

    // Invite a viewer: the one-time link is shown once.
    lead.go("/settings/workspace");
    lead.set("#invite-email", "new.viewer@example.com");
    lead.js("document.querySelector('#invite-role').value = 'viewer'");
    lead.click("#invite-form button[type=submit]");
    lead.wait("#invite-url");
    let url = lead.text("#invite-url").trim().to_string();
    assert!(url.contains("/invite/"), "{url}");
    assert!(
        lead.text("#invitations-table")
            .contains("new.viewer@example.com")
    );
    lead.screenshot("workspace-members");
    lead.assert_clean_console();

    // The invitee opens the link in another browser, creates the account and lands in the
    // workspace as a viewer: the model is there, edit controls are not.
    let guest = Session::start(&app);
    let path = url
        .split_once("/invite/")
        .map(|(_, t)| format!("/invite/{t}"))
        .expect("path");
    guest.go(&path);
    guest.wait("#invite-signup");
    assert!(guest.text("#invite-card").contains("Payments team"));
    guest.set("#inv-name", "New Viewer");
    guest.set("#inv-password", PASSWORD);
    guest.set("#inv-password2", "Not-the-same-1");
    guest.click("#create-account");
    guest.wait(".field-error");
    guest.set("#inv-password", PASSWORD);
    guest.set("#inv-password2", PASSWORD);
    guest.click("#create-account");
    guest.wait_path("/");
    guest.wait("#read-only-notice");
    assert!(
        guest.text("body").contains("bw71"),
        "{}",
        guest.text("body")
    );
    guest.go("/models");
    guest.wait("#read-only-notice");
    assert!(
        !guest.js("[...document.querySelectorAll('main form[method=post]')].some(f => f.offsetParent !== null)")
            .as_bool()
            .unwrap_or(true),
        "a viewer sees no edit form"
    );
    // Switching to the personal workspace through the header select (auto-submits).
    let personal = guest
        .js("[...document.querySelectorAll('#ws-select option')].find(o => o.textContent.includes('(personal)')).value")
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!personal.is_empty());
    guest.js(&format!(
        "(() => {{ const s = document.querySelector('#ws-select'); s.value = '{personal}'; s.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()"
    ));
    guest.wait_path("/");
    let deadline = Instant::now() + WAIT;
    while guest.exists("#read-only-notice") {
        assert!(Instant::now() < deadline, "still in the team workspace");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !guest.text("body").contains("bw71"),
        "the personal workspace shows no team model"
    );
    guest.assert_clean_console();

    // The link is used up.
    let again = Session::start(&app);
    again.go(&path);
    again.wait("body");
    assert!(
        again.text("body").contains("Invitation not valid"),
        "{}",
        again.text("body")
    );
}
