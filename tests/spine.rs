//! The appliance spine through the real binary: health/ready/metrics, configuration errors,
//! encryption at rest, restart, clean shutdown, TLS, exit codes.

use std::process::Command;

use base64::Engine as _;

use crate::harness::{Appliance, TestDir, mode, require_tool, stderr, stdout, stdout_json, text};

fn static_key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

#[test]
fn health_ready_and_metrics() {
    let dir = TestDir::new("health");
    let app = Appliance::start(&dir);
    let health: serde_json::Value = app.get("/health").json().expect("json");
    assert_eq!(health["status"], "ok");
    let ready = app.get("/ready");
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().expect("json");
    assert_eq!(ready["status"], "ready");
    assert!(ready["schema_version"].as_u64().expect("version") >= 1);
    // /metrics is off by default.
    assert_eq!(app.get("/metrics").status(), 404);
    drop(app);
    // With a token it needs the bearer; the request counters are there.
    let app = Appliance::start_with(&dir, dir.cmd().env("RAMPART_METRICS_TOKEN", "scrape-me"));
    app.get("/health");
    assert_eq!(app.get("/metrics").status(), 401);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .header("Authorization", "Bearer scrape-you")
        .send()
        .expect("GET");
    assert_eq!(wrong.status(), 401);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .header("Authorization", "Bearer scrape-me")
        .send()
        .expect("GET");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let body = text(metrics);
    assert!(
        body.contains(
            "rampart_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"} 2"
        ),
        "{body}"
    );
    assert!(body.contains("rampart_build_info"), "{body}");
    drop(app);
    // Explicitly enabled without a token: public.
    let app = Appliance::start_with(&dir, dir.cmd().env("RAMPART_METRICS_ENABLED", "true"));
    assert_eq!(app.get("/metrics").status(), 200);
}

#[test]
fn unknown_path_is_a_json_404() {
    let dir = TestDir::new("404");
    let app = Appliance::start(&dir);
    let resp = app.get("/api/nope");
    assert_eq!(resp.status(), 404);
    let body: serde_json::Value = resp.json().expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("/api/nope")
    );
}

#[test]
fn data_dir_and_key_files_are_private_and_db_is_encrypted() {
    let dir = TestDir::new("perms");
    let mut app = Appliance::start(&dir);
    assert!(app.stop().success());
    let data = dir.data_dir();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("master.key")), 0o600);
    assert_eq!(mode(&data.join("platform.db")), 0o600);
    let bytes = std::fs::read(data.join("platform.db")).expect("read db");
    assert!(
        !bytes.starts_with(b"SQLite format 3"),
        "platform.db has a plaintext header"
    );
    // Plain SQLite (no key) must not be able to read it.
    let plain = rusqlite::Connection::open(data.join("platform.db")).expect("open plain");
    let err = plain
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .expect_err("plain sqlite must fail");
    assert!(err.to_string().contains("not a database"), "{err}");
    // And neither can the sqlite3 shell.
    let out = Command::new(require_tool("sqlite3"))
        .arg(data.join("platform.db"))
        .arg("SELECT * FROM instance_meta;")
        .output()
        .expect("run sqlite3");
    assert!(!out.status.success(), "sqlite3 read the encrypted database");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a database"));
}

#[test]
fn restart_keeps_data_and_keys() {
    let dir = TestDir::new("restart");
    let mut app = Appliance::start(&dir);
    assert!(app.stop().success());
    let key1 = std::fs::read(dir.data_dir().join("master.key")).expect("key");
    let first = stdout_json(&dir.cmd().args(["admin", "status", "--json"]).assert_exit(0));
    let mut app = Appliance::start(&dir);
    assert!(app.stop().success());
    let second = stdout_json(&dir.cmd().args(["admin", "status", "--json"]).assert_exit(0));
    assert_eq!(first["instance_id"], second["instance_id"]);
    assert!(!first["instance_id"].as_str().expect("id").is_empty());
    assert_eq!(
        key1,
        std::fs::read(dir.data_dir().join("master.key")).expect("key")
    );
}

#[test]
fn wrong_encryption_key_is_a_clear_error() {
    let dir = TestDir::new("wrongkey");
    let key_a = static_key(1);
    let key_b = static_key(2);
    dir.cmd()
        .env("KMS_PROVIDER", "static")
        .env("ENCRYPTION_KEY", &key_a)
        .args(["admin", "status"])
        .assert_exit(0);
    let out = dir
        .cmd()
        .env("KMS_PROVIDER", "static")
        .env("ENCRYPTION_KEY", &key_b)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .assert_exit(1);
    let err = stderr(&out);
    assert!(
        err.contains("cannot open database: wrong encryption key"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The right key still works: nothing was damaged.
    dir.cmd()
        .env("KMS_PROVIDER", "static")
        .env("ENCRYPTION_KEY", &key_a)
        .args(["admin", "status"])
        .assert_exit(0);
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = TestDir::new("sigterm");
    let mut app = Appliance::start(&dir);
    assert_eq!(app.get("/health").status(), 200);
    let status = app.stop();
    assert!(status.success(), "exit status {status:?}\n{}", app.log());
    let log = app.log();
    assert!(log.contains("shutdown complete"), "{log}");
    // A clean close checkpoints the WAL: nothing is left in it.
    let wal = dir.data_dir().join("platform.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).expect("meta").len() == 0);
}

#[test]
fn in_flight_request_finishes_after_sigterm() {
    use std::io::{Read, Write};
    let dir = TestDir::new("inflight");
    let mut app = Appliance::start(&dir);
    let addr = app.url.trim_start_matches("http://").to_string();
    // A login whose body is still arriving is a request in flight: the handler is waiting for
    // its JSON. SIGTERM must let it finish instead of cutting the connection.
    let body = br#"{"email":"nobody@example.com","password":"Wrong-pass-1"}"#;
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("write head");
    stream.write_all(&body[..10]).expect("write part");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(app.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
    std::thread::sleep(std::time::Duration::from_millis(300));
    stream.write_all(&body[10..]).expect("finish body");
    let mut resp = String::new();
    stream.read_to_string(&mut resp).expect("read response");
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(resp.contains("invalid email or password"), "{resp}");
    assert!(app.stop().success());
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let dir = TestDir::new("config");
    let file = dir.write("bad.toml", "[server]\nbnid = \"127.0.0.1:1\"\n");
    let out = dir
        .cmd()
        .args(["--config"])
        .arg_path(&file)
        .args(["serve", "--check-config"])
        .assert_exit(2);
    assert!(
        stderr(&out).contains("unknown config key `server.bnid`"),
        "{}",
        stderr(&out)
    );

    let file = dir.write("bad2.toml", "[storage]\nkms_provider = 7\n");
    let out = dir
        .cmd()
        .args(["--config"])
        .arg_path(&file)
        .args(["serve"])
        .assert_exit(2);
    assert!(
        stderr(&out).contains("`storage.kms_provider`"),
        "{}",
        stderr(&out)
    );

    let out = dir
        .cmd()
        .env("RAMPART_BUSY_TIMEOUT_MS", "soon")
        .args(["serve"])
        .assert_exit(2);
    assert!(
        stderr(&out).contains("storage.busy_timeout_ms"),
        "{}",
        stderr(&out)
    );

    let out = dir
        .cmd()
        .env("RAMPART_BIMD", "x")
        .args(["serve", "--check-config"])
        .assert_exit(2);
    assert!(stderr(&out).contains("RAMPART_BIMD"), "{}", stderr(&out));

    let out = dir
        .cmd()
        .env("KMS_PROVIDER", "static")
        .args(["serve", "--check-config"])
        .assert_exit(2);
    assert!(
        stderr(&out).contains("storage.encryption_key"),
        "{}",
        stderr(&out)
    );
    // Nothing was created by a failed start.
    assert!(!dir.data_dir().exists());
}

#[test]
fn check_config_reports_sources_and_masks_secrets() {
    let dir = TestDir::new("checkcfg");
    let file = dir.write("ok.toml", "[server]\nworkers = 2\n");
    let out = dir
        .cmd()
        .args(["--config"])
        .arg_path(&file)
        .env("OPENAI_API_KEY", "do-not-print-me")
        .args(["serve", "--check-config", "--bind", "127.0.0.1:9999"])
        .assert_exit(0);
    let text = stdout(&out);
    assert!(text.contains("configuration OK"), "{text}");
    assert!(
        text.contains("server.bind = \"127.0.0.1:9999\"  (flag --bind)"),
        "{text}"
    );
    assert!(text.contains("server.workers = 2  (file"), "{text}");
    assert!(
        text.contains("llm.api_key = \"***\"  (env OPENAI_API_KEY)"),
        "{text}"
    );
    assert!(!text.contains("do-not-print-me"));
    assert!(
        !dir.data_dir().exists(),
        "--check-config must not create the data dir"
    );
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = TestDir::new("usage");
    let out = dir.cmd().args(["frobnicate"]).assert_exit(2);
    assert!(stderr(&out).contains("frobnicate"));
    let out = dir.cmd().args(["--help"]).assert_exit(0);
    for cmd in ["serve", "admin", "mcp", "version"] {
        assert!(stdout(&out).contains(cmd), "help lacks {cmd}");
    }
    let out = dir.cmd().args(["version"]).assert_exit(0);
    assert!(stdout(&out).contains("SQLCipher"), "{}", stdout(&out));
}

/// `rampart version` tells an operator what is installed: version, source commit, build date.
#[test]
fn version_names_the_commit_and_build_date() {
    let dir = TestDir::new("version");
    let out = stdout(&dir.cmd().args(["version"]).assert_exit(0));
    let re = regex::Regex::new(
        r"(?m)^rampart (\S+)\ncommit ([0-9a-f]{12}|unknown) · built (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)$",
    )
    .expect("regex");
    let caps = re.captures(&out).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(&caps[1], env!("CARGO_PKG_VERSION"));
    // Built from a git checkout (as here and in CI): the commit is the checkout's HEAD.
    let head = Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(&caps[2], head, "{out}");
    }
}

#[test]
fn busy_port_is_an_operational_error() {
    let dir = TestDir::new("busyport");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = holder.local_addr().expect("addr").to_string();
    let out = dir.cmd().args(["serve", "--bind", &addr]).assert_exit(1);
    assert!(
        stderr(&out).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_file_logs_have_requests_without_query_strings() {
    let dir = TestDir::new("logs");
    let logs = dir.path().join("logs");
    let cmd = dir
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--log-dir"])
        .arg_path(&logs);
    let mut app = Appliance::try_start(&dir, cmd).expect("start");
    assert_eq!(app.get("/health?token=SUPERSECRET").status(), 200);
    assert!(app.stop().success());
    let mut all = String::new();
    for entry in std::fs::read_dir(&logs).expect("log dir") {
        all.push_str(&std::fs::read_to_string(entry.expect("entry").path()).expect("read"));
    }
    let request_line = all
        .lines()
        .find(|l| l.contains("\"path\":\"/health\""))
        .unwrap_or_else(|| panic!("no request line in JSON logs:\n{all}"));
    serde_json::from_str::<serde_json::Value>(request_line).expect("JSON log line");
    assert!(!all.contains("SUPERSECRET"));
    assert!(!app.log().contains("SUPERSECRET"));
}

#[test]
fn tls_serves_https() {
    let dir = TestDir::new("tls");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let made = Command::new(require_tool("openssl"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed for this test (installed by .ci/run)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let cmd = dir
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg_path(&cert)
        .args(["--tls-key"])
        .arg_path(&key);
    let app = Appliance::try_start(&dir, cmd).expect("start");
    assert!(app.url.starts_with("https://"), "{}", app.url);
    assert_eq!(app.get("/health").status(), 200);
}
