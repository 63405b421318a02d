//! The CI side against a live appliance: `rampart verify` (signed, air-gapped flow) and the
//! published `mipiti-verify` 0.57.1 CLI, unmodified, both fetching assertions, verifying a
//! real source tree and submitting results the appliance accepts and reports.

use std::path::{Path, PathBuf};
use std::process::Command;

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_user, json, stdout,
};

const S3_API: &str = "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs.";

/// A small project the assertions talk about.
fn project(dir: &Path) -> PathBuf {
    let root = dir.join("project");
    std::fs::create_dir_all(root.join("app")).expect("mkdir");
    std::fs::create_dir_all(root.join("tests")).expect("mkdir");
    std::fs::write(
        root.join("app/upload.py"),
        "MAX_SIZE = 10 * 1024 * 1024\n\n\ndef handle_upload(request):\n    if len(request.body) > MAX_SIZE:\n        raise ValueError('too large')\n    return store(request.body)\n",
    )
    .expect("write");
    std::fs::write(
        root.join("tests/test_upload.py"),
        "def test_upload_rejects_large():\n    assert True\n",
    )
    .expect("write");
    root
}

/// What the two assertions of each model say they prove.
const IMPLEMENTED: &str = "The upload handler enforces the size limit";
const TESTED: &str = "Upload tests exist";

/// A control for which implementation + test evidence is sufficient.
fn pick_control(model: &Value) -> String {
    model["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| {
            let text = format!(
                "{}. {}",
                c["name"].as_str().unwrap_or(""),
                c["description"].as_str().unwrap_or("")
            );
            rampart::assurance::rules::sufficiency(
                &text,
                &[("function_exists", IMPLEMENTED), ("test_exists", TESTED)],
            )
            .status
                == "sufficient"
        })
        .and_then(|c| c["id"].as_str())
        .expect("a control that code + tests can prove")
        .to_string()
}

struct Setup {
    app: Appliance,
    dir: TestDir,
    owner: Client,
    verifier_key: String,
    developer_key: String,
    models: Vec<String>,
    workspace: String,
    root: PathBuf,
}

fn setup(name: &str, models: usize) -> Setup {
    let dir = TestDir::new(name);
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "ci@example.com", "user");
    let owner = Client::login(&app, "ci@example.com", PASSWORD);
    let root = project(dir.path());
    let mut ids = Vec::new();
    for i in 0..models {
        let (status, model) = json(owner.post(
            "/api/models?wait=true",
            json!({"feature_description": format!("{S3_API} Instance {i}.")}),
        ));
        assert_eq!(status, 201, "{model}");
        let id = model["id"].as_str().expect("id").to_string();
        let control = pick_control(&model);
        let (status, body) = json(owner.post(
            &format!("/api/models/{id}/assertions"),
            json!({"control_id": control, "assertions": [
                {"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": IMPLEMENTED, "repo": "acme/web"},
                {"type": "test_exists", "params": {"pattern": "tests/test_upload*.py"}, "description": TESTED}
            ]}),
        ));
        assert_eq!(status, 201, "{body}");
        ids.push(id);
    }
    let verifier_key = dir_key(&dir, "verifier");
    let developer_key = dir_key(&dir, "developer");
    let (_, me) = json(owner.get("/api/me"));
    Setup {
        workspace: me["workspace_id"].as_str().expect("ws").to_string(),
        app,
        owner,
        verifier_key,
        developer_key,
        models: ids,
        root,
        dir,
    }
}

fn dir_key(dir: &TestDir, scope: &str) -> String {
    let out = dir
        .cmd()
        .args([
            "admin",
            "api-key",
            "create",
            "--user",
            "ci@example.com",
            "--scope",
            scope,
        ])
        .assert_exit(0);
    stdout(&out).trim().to_string()
}

fn report(s: &Setup, model: &str) -> Value {
    let (status, r) = json(
        s.owner
            .get(&format!("/api/models/{model}/verification/report")),
    );
    assert_eq!(status, 200, "{r}");
    r
}

fn rampart_verify(s: &Setup, key: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(crate::harness::bin());
    cmd.arg("verify")
        .args(extra)
        .arg("--base-url")
        .arg(&s.app.url)
        .arg("--api-key")
        .arg(key)
        .arg("--project-root")
        .arg(&s.root)
        .arg("--repo")
        .arg("acme/web")
        .env_remove("RAMPART_URL")
        .env_remove("RAMPART_API_KEY")
        .env_remove("MIPITI_API_KEY")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("GITHUB_ACTIONS");
    cmd.output().expect("rampart verify")
}

#[test]
fn rampart_verify_signs_and_the_appliance_accepts() {
    let s = setup("e2e-rampart", 2);
    let key = SigningKey::from_slice(&[5u8; 32]).expect("key");
    let key_path = s.dir.path().join("ci.pem");
    std::fs::write(
        &key_path,
        key.to_pkcs8_pem(LineEnding::LF).expect("pem").as_bytes(),
    )
    .expect("write");
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let (status, _) = json(s.owner.post(
        &format!("/api/workspaces/{}/ci-key", s.workspace),
        json!({"public_key_pem": pem, "password": PASSWORD}),
    ));
    assert_eq!(status, 200);
    json(s.owner.patch(
        &format!("/api/workspaces/{}/security", s.workspace),
        json!({"require_attestation": true, "password": PASSWORD}),
    ));

    // A developer key runs everything but submits nothing.
    let out = rampart_verify(
        &s,
        &s.developer_key,
        &["run", &s.models[0], "--output", "json"],
    );
    assert!(
        out.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        report(&s, &s.models[0])["tier1"]["pass"],
        0,
        "developer keys never submit"
    );

    // A wrong signing key: refused by the appliance, nothing recorded, network/server exit code.
    let wrong = s.dir.path().join("wrong.pem");
    std::fs::write(
        &wrong,
        SigningKey::from_slice(&[6u8; 32])
            .expect("k")
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .as_bytes(),
    )
    .expect("write");
    let out = rampart_verify(
        &s,
        &s.verifier_key,
        &[
            "run",
            &s.models[0],
            "--signing-key",
            wrong.to_str().expect("path"),
        ],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(report(&s, &s.models[0])["tier1"]["pass"], 0);

    // The right key, every model of the workspace.
    let out = rampart_verify(
        &s,
        &s.verifier_key,
        &[
            "run",
            "--all",
            "--signing-key",
            key_path.to_str().expect("path"),
            "--output",
            "json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "exit {:?}\nstdout:\n{text}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for m in &s.models {
        let r = report(&s, m);
        assert_eq!(r["tier1"]["pass"], 2, "{r}");
        assert_eq!(r["tier1"]["fail"], 0, "{r}");
        assert_eq!(r["latest_run"]["attestation"], "workspace_ecdsa", "{r}");
    }
    // The report command reads the same data.
    let out = rampart_verify(&s, &s.verifier_key, &["report", &s.models[0]]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Local checks need no server and no key.
    let out = Command::new(crate::harness::bin())
        .args([
            "verify",
            "verify",
            "function_exists",
            "-p",
            "file=app/upload.py",
            "-p",
            "name=handle_upload",
            "--project-root",
        ])
        .arg(&s.root)
        .output()
        .expect("verify");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(crate::harness::bin())
        .args([
            "verify",
            "verify",
            "function_exists",
            "-p",
            "file=app/upload.py",
            "-p",
            "name=nope",
            "--project-root",
        ])
        .arg(&s.root)
        .output()
        .expect("verify");
    assert_eq!(out.status.code(), Some(1));
}

/// The virtualenv's mipiti-verify 0.57.1, installed by `scripts/test`
/// (via scripts/install-mipiti-verify.sh); tests never download it themselves.
fn mipiti_verify() -> PathBuf {
    crate::harness::require_tool("mipiti-verify")
}

#[test]
fn published_mipiti_verify_runs_unmodified_against_rampart() {
    let cli = mipiti_verify();
    let s = setup("e2e-mipiti", 1);
    let model = &s.models[0];
    let run = |key: &str, args: &[&str]| {
        let out = Command::new(&cli)
            .args(args)
            .env("MIPITI_BASE_URL", &s.app.url)
            .env("MIPITI_API_KEY", key)
            .env_remove("GITHUB_REPOSITORY")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("CI_PROJECT_PATH")
            .current_dir(&s.root)
            .output()
            .expect("mipiti-verify");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(
        &s.verifier_key,
        &[
            "run",
            model,
            "--project-root",
            ".",
            "--repo",
            "acme/web",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "stdout:\n{out}\nstderr:\n{err}");
    let r = report(&s, model);
    assert_eq!(
        r["tier1"]["pass"], 2,
        "the appliance recorded the CLI's verdicts: {r}\n{out}\n{err}"
    );
    assert_eq!(
        r["tier2"]["pending"], 2,
        "tier 2 skipped without a provider"
    );
    // list and report work and exit 0.
    let (code, out, err) = run(&s.verifier_key, &["list", model]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, out, err) = run(&s.verifier_key, &["report", model]);
    assert_eq!(code, Some(0), "{out}{err}");
    // --all with a developer key: runs, submits nothing.
    let (code, out, err) = run(
        &s.developer_key,
        &[
            "run",
            "--all",
            "--project-root",
            ".",
            "--repo",
            "acme/web",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("\"developer_key\": true") || out.contains("\"developer_key\":true"),
        "{out}"
    );
}
