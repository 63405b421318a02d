//! Test fixtures: a temp data dir, a command wrapper over the real binary with a clean
//! environment, and `Appliance`, a running `rampart serve` on port 0 that is SIGTERMed on drop.
#![allow(dead_code)]

pub mod atlassian;
pub mod smtp;
pub mod softkey;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The external tools the tests drive, and where each is found: a name looked up on `PATH`,
/// or a path (relative ones are under the repository). `scripts/test` installs every one of
/// them; `docs_examples::every_tool_the_tests_need_is_installed_by_scripts_test` keeps the
/// two lists in step.
pub const TOOLS: &[(&str, &str)] = &[
    ("openssl", "openssl"),
    ("sqlite3", "sqlite3"),
    ("tmux", "tmux"),
    ("file", "file"),
    ("gzip", "gzip"),
    ("jq", "jq"),
    ("curl", "curl"),
    ("node", "node"),
    ("pdftotext", "pdftotext"),
    ("pdfinfo", "pdfinfo"),
    ("pdftoppm", "pdftoppm"),
    ("chromium", "/usr/bin/chromium"),
    ("mipiti-verify", "target/mipiti-venv/bin/mipiti-verify"),
    ("aiosmtpd", "target/py-tools/bin/aiosmtpd"),
];

/// The path of an external tool a test needs. A missing tool fails the test with one line
/// naming the command that installs it: never a silent skip that would hide the gap.
pub fn require_tool(name: &str) -> PathBuf {
    let (_, location) = TOOLS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| {
        panic!("{name} is not in harness::TOOLS (add it there and to scripts/test)")
    });
    let found = if location.contains('/') {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(location);
        is_executable(&p).then_some(p)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(location))
                .find(|p| is_executable(p))
        })
    };
    found.unwrap_or_else(|| {
        panic!("{name} is missing: run scripts/test (it installs every tool the tests use, then runs them)")
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The binary under test: the one cargo built with the tests, or `RAMPART_TEST_BIN` (read by
/// the test process only; `bench/reliability.sh` points it at a release build so the tests
/// themselves need not be built in release).
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("RAMPART_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_rampart").to_string())
    })
}

/// Environment variables the appliance reads that must not leak in from the developer's shell.
const SPEC_ENV: &[&str] = &[
    "ENCRYPTION_KEY",
    "KMS_PROVIDER",
    "AUTH_SECRET",
    "LOCAL_AUTH_ENABLED",
    "TELEMETRY_ENABLED",
    "TELEMETRY_LOG_LEVEL",
    "TELEMETRY_LOG_FILE",
    "TELEMETRY_RETENTION_DAYS",
    "AWS_KMS_KEY_ID",
    "AWS_KMS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_TRANSIT_KEY",
    "VAULT_TOKEN_FILE",
    "VAULT_CACERT",
    "JIRA_CLIENT_ID",
    "JIRA_CLIENT_SECRET",
    "JIRA_REDIRECT_URI",
    "JIRA_TOKEN_ENCRYPTION_KEY",
    "JIRA_WEBHOOK_SECRET",
    "ORG_DB_ISOLATION",
    "DEPLOYMENT_MODE",
    "RUST_LOG",
    "RUST_BACKTRACE",
];

/// A unique temp directory for one test; kept on failure for inspection is not needed since
/// failures print the server log.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("rampart-{name}-"))
            .tempdir()
            .expect("create temp dir");
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The data dir used by commands of this test (created by the binary itself).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A `rampart` command with `--data-dir` preset and a clean environment.
    pub fn cmd(&self) -> Cmd {
        let mut cmd = Command::new(bin());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("RAMPART_") || SPEC_ENV.contains(&k.as_str()) {
                cmd.env_remove(&k);
            }
        }
        cmd.arg("--data-dir").arg(self.data_dir());
        cmd.env("RAMPART_LOG", "info");
        // Cheap password hashing keeps tests fast; production uses OWASP's cost.
        cmd.env("RAMPART_ARGON2_MEMORY_KIB", "256");
        cmd.env("RAMPART_ARGON2_ITERATIONS", "1");
        Cmd { cmd }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write file");
        p
    }
}

/// A command under test.
pub struct Cmd {
    pub cmd: Command,
}

impl Cmd {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg_path(mut self, p: &Path) -> Self {
        self.cmd.arg(p);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Runs to completion with no stdin.
    pub fn output(mut self) -> Output {
        self.cmd.stdin(Stdio::null());
        self.cmd.output().expect("run rampart")
    }

    /// Runs, feeding `input` on stdin.
    pub fn output_with_stdin(mut self, input: &str) -> Output {
        use std::io::Write;
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn rampart");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait rampart")
    }

    /// Runs and asserts the exit code, printing everything on mismatch.
    pub fn assert_exit(self, code: i32) -> Output {
        let desc = format!("{:?}", self.cmd);
        let out = self.output();
        assert_eq!(
            out.status.code(),
            Some(code),
            "command {desc}\nstatus {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(out),
            stderr(out)
        )
    })
}

/// A running `rampart serve` on 127.0.0.1:0.
pub struct Appliance {
    child: Option<Child>,
    pub url: String,
    log_path: PathBuf,
    pub client: reqwest::blocking::Client,
}

impl Appliance {
    /// Starts `serve` with the test's data dir and extra args, waits for `/ready`.
    pub fn start(dir: &TestDir) -> Self {
        Self::start_with(dir, dir.cmd())
    }

    /// Starts `serve` from a prepared command (extra env), adding `serve --bind 127.0.0.1:0`.
    pub fn start_with(dir: &TestDir, cmd: Cmd) -> Self {
        Self::try_start(dir, cmd.args(["serve", "--bind", "127.0.0.1:0"]))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a prepared full command line (including `serve` and its flags).
    pub fn try_start(dir: &TestDir, mut cmd: Cmd) -> Result<Self, String> {
        let log_path = dir.path().join(format!("serve-{}.log", now_nanos()));
        let log = std::fs::File::create(&log_path).expect("create log");
        cmd.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.cmd.spawn().expect("spawn rampart serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(rest) = line.trim().strip_prefix("listening on ") {
                    let _ = tx.send(rest.to_string());
                }
                line.clear();
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                return Err(format!(
                    "serve did not print its address (status {status:?}); log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
        };
        let client = reqwest::blocking::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let app = Self {
            child: Some(child),
            url,
            log_path,
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = app.client.get(app.url("/ready")).send()
                && r.status().is_success()
            {
                return Ok(app);
            }
            if Instant::now() > deadline {
                return Err(format!("/ready never succeeded; log:\n{}", app.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.url, path)
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.client.get(self.url(path)).send().expect("GET")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Sends SIGKILL (a crash: no cleanup of any kind) and waits for the process to be gone.
    pub fn kill9(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        child.wait().expect("wait after SIGKILL")
    }

    /// Sends SIGTERM without waiting (the caller watches the drain); see [`Self::wait`].
    pub fn sigterm(&self) {
        if let Some(child) = &self.child {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Waits for the process to exit by itself (after [`Self::sigterm`]), at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM and waits for exit; returns the status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "serve did not stop within 40 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", self.log());
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

/// Reads a whole response body as text.
pub fn text(resp: reqwest::blocking::Response) -> String {
    let mut s = String::new();
    let mut r = resp;
    r.read_to_string(&mut s).expect("read body");
    s
}

/// Unix mode bits of a path.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// The password every test account gets unless a test says otherwise.
pub const PASSWORD: &str = "Correct-Horse-9";

/// A signed-in API client: session cookie plus CSRF token, or an API key.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub api_key: Option<String>,
    /// An OAuth access token, sent as `Authorization: Bearer`.
    pub bearer: Option<String>,
    /// Sent as `X-Workspace-Id` (session requests choosing a workspace).
    pub workspace: Option<String>,
}

impl Client {
    pub fn anonymous(app: &Appliance) -> Self {
        Self {
            base: app.url.clone(),
            http: app.client.clone(),
            cookie: None,
            csrf: None,
            api_key: None,
            bearer: None,
            workspace: None,
        }
    }

    /// The same client acting in another workspace (`X-Workspace-Id`).
    pub fn in_workspace(&self, id: &str) -> Self {
        Self {
            workspace: Some(id.to_string()),
            ..self.clone()
        }
    }

    pub fn with_key(app: &Appliance, key: &str) -> Self {
        Self {
            api_key: Some(key.to_string()),
            ..Self::anonymous(app)
        }
    }

    /// A client authenticated by an OAuth access token.
    pub fn with_bearer(app: &Appliance, token: &str) -> Self {
        Self {
            bearer: Some(token.to_string()),
            ..Self::anonymous(app)
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::blocking::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(c) = &self.cookie {
            r = r.header("Cookie", format!("rampart_session={c}"));
        }
        if let Some(t) = &self.csrf {
            r = r.header("X-CSRF-Token", t);
        }
        if let Some(k) = &self.api_key {
            r = r.header("X-API-Key", k);
        }
        if let Some(t) = &self.bearer {
            r = r.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(w) = &self.workspace {
            r = r.header("X-Workspace-Id", w);
        }
        r
    }

    /// A request with any method and an optional JSON body (the authorization matrix).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> reqwest::blocking::Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.req(m, path);
        if let Some(b) = body {
            r = r.json(b);
        }
        r.send().expect("request")
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.req(reqwest::Method::GET, path).send().expect("GET")
    }

    pub fn post(&self, path: &str, body: serde_json::Value) -> reqwest::blocking::Response {
        self.req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .expect("POST")
    }

    pub fn patch(&self, path: &str, body: serde_json::Value) -> reqwest::blocking::Response {
        self.req(reqwest::Method::PATCH, path)
            .json(&body)
            .send()
            .expect("PATCH")
    }

    pub fn delete(&self, path: &str) -> reqwest::blocking::Response {
        self.req(reqwest::Method::DELETE, path)
            .send()
            .expect("DELETE")
    }

    /// Signs in with email and password (no second factor configured); panics otherwise.
    pub fn login(app: &Appliance, email: &str, password: &str) -> Self {
        let anon = Self::anonymous(app);
        let resp = anon.post(
            "/api/auth/login",
            serde_json::json!({"email": email, "password": password}),
        );
        let status = resp.status();
        let cookie = session_cookie(&resp);
        let body: serde_json::Value = resp.json().expect("login json");
        assert_eq!(status, 200, "login failed: {body}");
        Self {
            cookie: Some(cookie.unwrap_or_else(|| panic!("no session cookie: {body}"))),
            csrf: body["csrf_token"].as_str().map(str::to_string),
            ..anon
        }
    }

    /// Builds a session client from a successful sign-in response.
    pub fn from_signin(app: &Appliance, resp: reqwest::blocking::Response) -> Self {
        let status = resp.status();
        let cookie = session_cookie(&resp);
        let body: serde_json::Value = resp.json().expect("json");
        assert_eq!(status, 200, "sign-in failed: {body}");
        Self {
            cookie,
            csrf: body["csrf_token"].as_str().map(str::to_string),
            ..Self::anonymous(app)
        }
    }
}

/// The `rampart_session` value from a Set-Cookie header.
pub fn session_cookie(resp: &reqwest::blocking::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("rampart_session="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .filter(|v| !v.is_empty())
}

/// JSON body and status of a response.
pub fn json(resp: reqwest::blocking::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = text(resp);
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// The appliance's platform database, opened with its master key from the data dir, for
/// tests that must read or arrange what no interface shows (history rows, backdated records).
pub fn platform_db(dir: &TestDir) -> rampart::store::Db {
    let master = std::fs::read(dir.data_dir().join("master.key")).expect("master.key");
    let master = rampart::crypto::MasterKey::from_bytes(master.try_into().expect("32 bytes"));
    rampart::store::Db::open(
        &dir.data_dir().join(rampart::store::PLATFORM_DB_FILE),
        &master.platform_db_key(),
        &rampart::store::OpenOptions::default(),
    )
    .expect("open platform.db")
}

/// Creates the first superadmin through the CLI (before or while serving).
pub fn cli_setup(dir: &TestDir, email: &str) {
    dir.cmd()
        .args([
            "admin",
            "setup",
            "--email",
            email,
            "--name",
            "Admin",
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
}

/// Creates a user through the CLI.
pub fn cli_user(dir: &TestDir, email: &str, role: &str) {
    let out = dir
        .cmd()
        .args([
            "admin",
            "user",
            "create",
            "--email",
            email,
            "--name",
            email,
            "--role",
            role,
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// An appliance where MFA is optional (most tests), with a superadmin `admin@example.com`.
pub fn appliance_without_mfa(dir: &TestDir) -> Appliance {
    cli_setup(dir, "admin@example.com");
    Appliance::start_with(dir, dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"))
}

/// The current TOTP code for an otpauth URL, shifted by `steps` time steps.
pub fn totp_code(otpauth_url: &str, steps: i64) -> String {
    let totp = totp_rs::Totp::from_url(otpauth_url).expect("otpauth url");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    totp.generate((now + steps * 30) as u64).to_string()
}

/// Routes registered in `src/web/*.rs` files whose name passes `keep`, as (METHOD, path
/// template) read from the source (`.route("…", web::get()…)` and `web::resource("…")`), for
/// the tests that hold the authorization matrix and the OpenAPI document to them.
pub fn registered_routes(
    keep: impl Fn(&str) -> bool,
) -> std::collections::BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let re = regex::Regex::new(
        r#"(?s)(?:\.route\(\s*"([^"]+)",\s*web::(get|post|patch|delete|put)\(\)|web::resource\(\s*"([^"]+)"\s*\).*?\.route\(web::(get|post|patch|delete|put)\(\))"#,
    )
    .expect("regex");
    let mut out = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/web") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".rs") || !keep(name) {
            continue;
        }
        let src = std::fs::read_to_string(&path).expect("read");
        for c in re.captures_iter(&src) {
            let (p, m) = match (c.get(1), c.get(2), c.get(3), c.get(4)) {
                (Some(p), Some(m), _, _) | (_, _, Some(p), Some(m)) => (p.as_str(), m.as_str()),
                _ => continue,
            };
            out.insert((m.to_uppercase(), p.to_string()));
        }
    }
    out
}
