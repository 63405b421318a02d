//! `KMS_PROVIDER=vault` through the real binary against a fake Vault Transit server.
//!
//! There is no Vault binary and no network here, so [`FakeVault`] is a stand-in for the
//! external service, written from Vault's documented Transit API: `POST
//! /v1/transit/encrypt/<key>`, `/decrypt/<key>` and `/rewrap/<key>` with the token in
//! `X-Vault-Token`, base64 plaintext, `vault:vN:<base64(nonce ‖ AES-256-GCM ciphertext)>`
//! ciphertexts under numbered key versions, `{"errors": [...]}` with 403 for a bad token and
//! 400 for a bad ciphertext. It is not Vault: it has no policies, leases or mounts beyond
//! these three endpoints. Tests: first start wraps a new master key and keeps only the
//! wrapped blob, restart unwraps it (data still readable), a wrong token is refused with one
//! line, Vault down at start exits with one line, `rampart admin kms rewrap` after a key
//! rotation moves the blob to the new version and the instance still starts, and a Vault
//! behind TLS with an internal CA (made with openssl) is trusted through VAULT_CACERT only.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Appliance, Client, PASSWORD, TestDir, json, stderr, stdout_json};

const TOKEN: &str = "s.fake-root-token";
const KEY: &str = "rampart-kek";

struct State {
    /// Key versions 1..=n of the one Transit key.
    versions: Vec<[u8; 32]>,
    /// (operation, answered status) of every request.
    log: Vec<(String, u16)>,
}

/// The fake Vault Transit server on 127.0.0.1:0.
struct FakeVault {
    port: u16,
    state: Arc<Mutex<State>>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl FakeVault {
    fn start() -> FakeVault {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake vault");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            versions: vec![[7u8; 32]],
            log: Vec::new(),
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        FakeVault { port, state }
    }

    /// The same server behind TLS with `cert`/`key` (PEM), for the VAULT_CACERT test.
    fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> FakeVault {
        let certs = rustls_pemfile::certs(&mut std::fs::read(cert).expect("cert").as_slice())
            .collect::<Result<Vec<_>, _>>()
            .expect("certs");
        let key = rustls_pemfile::private_key(&mut std::fs::read(key).expect("key").as_slice())
            .expect("key pem")
            .expect("a key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("server config"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake vault");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            versions: vec![[7u8; 32]],
            log: Vec::new(),
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (s, config) = (s.clone(), config.clone());
                std::thread::spawn(move || {
                    let Ok(conn) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    serve(rustls::StreamOwned::new(conn, stream), &s);
                });
            }
        });
        FakeVault { port, state }
    }

    fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `vault write -f transit/keys/<key>/rotate`: a new newest version.
    fn rotate(&self) {
        let mut s = self.state.lock().expect("state");
        let n = u8::try_from(s.versions.len()).expect("few versions") + 7;
        s.versions.push([n; 32]);
    }

    fn ops(&self) -> Vec<(String, u16)> {
        self.state.lock().expect("state").log.clone()
    }
}

fn encrypt(state: &State, plaintext: &[u8]) -> String {
    let version = state.versions.len();
    let cipher = Aes256Gcm::new_from_slice(&state.versions[version - 1]).expect("key");
    let nonce: [u8; 12] = rand_nonce();
    let mut out = nonce.to_vec();
    out.extend(
        cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("encrypt"),
    );
    format!("vault:v{version}:{}", b64().encode(out))
}

fn rand_nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_nanos();
    n[..12].copy_from_slice(&t.to_le_bytes()[..12]);
    n
}

fn decrypt(state: &State, ciphertext: &str) -> Result<Vec<u8>, String> {
    let rest = ciphertext
        .strip_prefix("vault:v")
        .ok_or("invalid ciphertext: no prefix")?;
    let (version, data) = rest.split_once(':').ok_or("invalid ciphertext")?;
    let version: usize = version.parse().map_err(|_| "invalid key version")?;
    let key = state
        .versions
        .get(version.wrapping_sub(1))
        .ok_or("invalid key version")?;
    let raw = b64()
        .decode(data)
        .map_err(|_| "invalid ciphertext: not base64")?;
    if raw.len() < 12 {
        return Err("invalid ciphertext: too short".into());
    }
    let cipher = Aes256Gcm::new_from_slice(key).expect("key");
    cipher
        .decrypt(Nonce::from_slice(&raw[..12]), &raw[12..])
        .map_err(|_| "cipher: message authentication failed".into())
}

fn serve<S: Read + Write>(stream: S, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let (mut length, mut token) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("x-vault-token") {
                token = v.trim().to_string();
            }
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let op = path
        .strip_prefix("/v1/transit/")
        .and_then(|rest| rest.strip_suffix(&format!("/{KEY}")))
        .unwrap_or("?")
        .to_string();
    let mut s = state.lock().expect("state");
    let (status, answer) = if !request_line.starts_with("POST ") || op == "?" {
        (404, json!({"errors": []}))
    } else if token != TOKEN {
        (403, json!({"errors": ["permission denied"]}))
    } else {
        match op.as_str() {
            "encrypt" => match body["plaintext"].as_str().map(|p| b64().decode(p)) {
                Some(Ok(plain)) => (200, json!({"data": {"ciphertext": encrypt(&s, &plain)}})),
                _ => (400, json!({"errors": ["invalid plaintext"]})),
            },
            "decrypt" => match decrypt(&s, body["ciphertext"].as_str().unwrap_or_default()) {
                Ok(plain) => (200, json!({"data": {"plaintext": b64().encode(plain)}})),
                Err(e) => (400, json!({"errors": [e]})),
            },
            "rewrap" => match decrypt(&s, body["ciphertext"].as_str().unwrap_or_default()) {
                Ok(plain) => (200, json!({"data": {"ciphertext": encrypt(&s, &plain)}})),
                Err(e) => (400, json!({"errors": [e]})),
            },
            _ => (404, json!({"errors": []})),
        }
    };
    s.log.push((op, status));
    drop(s);
    let text = answer.to_string();
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

fn vault_env(vault: &FakeVault) -> Vec<(&'static str, String)> {
    vec![
        ("KMS_PROVIDER", "vault".to_string()),
        ("VAULT_ADDR", vault.addr()),
        ("VAULT_TOKEN", TOKEN.to_string()),
        ("VAULT_TRANSIT_KEY", KEY.to_string()),
    ]
}

fn with_env(mut cmd: crate::harness::Cmd, env: &[(&str, String)]) -> crate::harness::Cmd {
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd
}

/// Every file under the data dir, recursively, with its bytes.
fn data_files(dir: &std::path::Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn vault_transit_wraps_the_master_key_and_the_instance_survives_restart_and_rewrap() {
    let vault = FakeVault::start();
    let dir = TestDir::new("kms-vault");
    let env = vault_env(&vault);
    let out = with_env(dir.cmd(), &env)
        .args([
            "admin",
            "setup",
            "--email",
            "admin@example.com",
            "--name",
            "Admin",
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let ops = vault.ops();
    assert_eq!(
        ops[..2],
        [("encrypt".to_string(), 200), ("decrypt".to_string(), 200)],
        "first start wraps a new key, then proves it unwraps: {ops:?}"
    );

    // Only the wrapped blob is on disk: no master.key, and no file holds the key.
    let data = dir.data_dir();
    assert!(!data.join("master.key").exists());
    let blob = std::fs::read_to_string(data.join("master.key.vault")).expect("blob");
    assert!(blob.starts_with("vault:v1:"), "{blob}");
    assert_eq!(crate::harness::mode(&data.join("master.key.vault")), 0o600);

    let app = Appliance::start_with(
        &dir,
        with_env(dir.cmd(), &env).env("MFA_REQUIRED_FOR_LOCAL", "false"),
    );
    let out = with_env(dir.cmd(), &env)
        .args([
            "admin",
            "user",
            "create",
            "--email",
            "alice@example.com",
            "--name",
            "Alice",
            "--role",
            "user",
            "--password-stdin",
        ])
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let alice = Client::login(&app, "alice@example.com", PASSWORD);
    let id = crate::tenancy::model(&alice, "Vault wrapped ledger vq71");
    drop(alice);
    let mut app = app;
    assert!(app.stop().success());

    // The unwrapped key is nowhere on disk: decrypt the blob with the fake's key version 1
    // and look for its bytes (and their hex and base64) in every file of the data dir.
    let key = {
        let s = vault.state.lock().expect("state");
        decrypt(&s, blob.trim()).expect("fake unwraps")
    };
    assert_eq!(key.len(), 32);
    let hex_key = hex::encode(&key);
    let b64_key = b64().encode(&key);
    for (path, bytes) in data_files(&data) {
        assert!(
            !bytes.windows(32).any(|w| w == key.as_slice()),
            "{} holds the plaintext master key",
            path.display()
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&hex_key) && !text.contains(&b64_key),
            "{} holds the master key encoded",
            path.display()
        );
    }

    // Rotation: a new key version in Vault, then rewrap from the CLI; the blob moves to v2.
    vault.rotate();
    let out = with_env(dir.cmd(), &env)
        .args(["admin", "kms", "rewrap", "--json"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert_eq!(report["previous_key_version"], 1, "{report}");
    assert_eq!(report["key_version"], 2, "{report}");
    let blob2 = std::fs::read_to_string(data.join("master.key.vault")).expect("blob");
    assert!(blob2.starts_with("vault:v2:"), "{blob2}");
    let out = with_env(dir.cmd(), &env)
        .args(["admin", "kms", "status"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(crate::harness::stdout(&out).contains("key version 2"));

    // Restart after the rewrap: same data.
    let app = Appliance::start_with(
        &dir,
        with_env(dir.cmd(), &env).env("MFA_REQUIRED_FOR_LOCAL", "false"),
    );
    let alice = Client::login(&app, "alice@example.com", PASSWORD);
    let (status, model) = json(alice.get(&format!("/api/models/{id}")));
    assert_eq!(status, 200, "{model}");
    assert_eq!(model["title"], "Vault wrapped ledger vq71");
    drop(alice);
    let mut app = app;
    assert!(app.stop().success());

    // A wrong token: the start is refused with one line naming the token, exit 1.
    let mut bad = env.clone();
    bad[2] = ("VAULT_TOKEN", "s.wrong".to_string());
    let out = with_env(dir.cmd(), &bad).args(["serve"]).output();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("refused the token") && last.contains("VAULT_TOKEN"),
        "{err}"
    );
    // The token from a file works the same.
    let token_file = dir.write("vault-token", &format!("{TOKEN}\n"));
    let mut from_file: Vec<(&str, String)> = env
        .iter()
        .filter(|(k, _)| *k != "VAULT_TOKEN")
        .cloned()
        .collect();
    from_file.push(("VAULT_TOKEN_FILE", token_file.display().to_string()));
    let out = with_env(dir.cmd(), &from_file)
        .args(["admin", "kms", "status", "--json"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["key_version"], 2);
}

#[test]
fn vault_down_at_start_is_one_clear_line_and_nothing_is_created() {
    let dir = TestDir::new("kms-vault-down");
    // A port nothing listens on.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = dir
        .cmd()
        .env("KMS_PROVIDER", "vault")
        .env("VAULT_ADDR", &format!("http://127.0.0.1:{port}"))
        .env("VAULT_TOKEN", TOKEN)
        .env("VAULT_TRANSIT_KEY", KEY)
        .args(["serve"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("unreachable") && last.contains("VAULT_ADDR"),
        "{err}"
    );
    assert!(!dir.data_dir().join("master.key.vault").exists());
    assert!(!dir.data_dir().join("master.key").exists());
    assert!(!dir.data_dir().join("platform.db").exists());

    // Missing settings are a configuration error (exit 2) naming the key.
    let out = dir
        .cmd()
        .env("KMS_PROVIDER", "vault")
        .env("VAULT_ADDR", &format!("http://127.0.0.1:{port}"))
        .env("VAULT_TOKEN", TOKEN)
        .args(["serve", "--check-config"])
        .output();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("vault_transit_key"),
        "{}",
        stderr(&out)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it (openssl), as (ca.pem, cert, key).
fn internal_ca(dir: &TestDir) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let openssl = crate::harness::require_tool("openssl");
    let p = |n: &str| dir.path().join(n);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&openssl)
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-days",
        "1",
        "-subj",
        "/CN=Test internal CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&ca);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "vault.key",
        "-out",
        "vault.csr",
    ]);
    run(&csr);
    dir.write(
        "vault.ext",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "vault.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "vault.ext",
        "-out",
        "vault.pem",
    ]);
    (p("ca.pem"), p("vault.pem"), p("vault.key"))
}

#[test]
fn an_internal_vault_is_trusted_through_vault_cacert_only() {
    let dir = TestDir::new("kms-vault-tls");
    let (ca, cert, key) = internal_ca(&dir);
    let vault = FakeVault::start_tls(&cert, &key);
    let mut env = vault_env(&vault);
    env[1] = ("VAULT_ADDR", format!("https://127.0.0.1:{}", vault.port));

    // Without the CA the certificate is not trusted: one line, exit 1, nothing created.
    let out = with_env(dir.cmd(), &env).args(["serve"]).output();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("unreachable") && last.contains("VAULT_ADDR"),
        "{err}"
    );
    assert!(!dir.data_dir().join("master.key.vault").exists());

    // With VAULT_CACERT the same Vault is reached over TLS and wraps the key.
    env.push(("VAULT_CACERT", ca.display().to_string()));
    let out = with_env(dir.cmd(), &env)
        .args(["admin", "kms", "status", "--json"])
        .output();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout_json(&out)["key_version"], 1);
    let blob = std::fs::read_to_string(dir.data_dir().join("master.key.vault")).expect("blob");
    assert!(blob.starts_with("vault:v1:"), "{blob}");
}
