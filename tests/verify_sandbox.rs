//! `rampart verify` treats assertions as untrusted input (issue 15, item 5): the issue's
//! reproduction fails safely, and test commands run without the verifier's secrets.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::TestDir;

/// A one-crate Cargo project with `src/main.rs` holding `tests`.
fn cargo_project(dir: &Path, tests: &str) -> PathBuf {
    let root = dir.join("proj");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::write(
        root.join("Cargo.toml"),
        "[package]\nname = \"sandboxed\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    )
    .expect("write");
    std::fs::write(root.join("src/main.rs"), format!("fn main() {{}}\n{tests}")).expect("write");
    root
}

fn verify(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::harness::bin());
    cmd.arg("verify")
        .args(args)
        .arg("--project-root")
        .arg(root)
        .current_dir(root)
        // Keep the fixture's build out of the shared target dir.
        .env("CARGO_TARGET_DIR", root.join("target"));
    cmd
}

#[test]
fn issue_reproduction_runs_nothing() {
    let dir = TestDir::new("sandbox-rce");
    let root = cargo_project(dir.path(), "#[test]\nfn t_ok() {}\n");
    let out = verify(
        &root,
        &[
            "verify",
            "test_passes",
            "-p",
            "file=src/main.rs",
            "-p",
            "test_name=--config=target.'cfg(all())'.runner=['sh','-c','touch pwned']",
        ],
    )
    .output()
    .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("is not a valid cargo test name"), "{text}");
    assert!(!root.join("pwned").exists(), "the injected runner executed");
}

#[test]
fn test_commands_run_without_the_verifiers_secrets() {
    let dir = TestDir::new("sandbox-env");
    let root = cargo_project(
        dir.path(),
        r#"
#[test]
fn env_is_scrubbed() {
    for name in ["RAMPART_SIGNING_KEY", "RAMPART_API_KEY", "MIPITI_API_KEY", "MIPITI_WORKSPACE_SIGNING_KEY", "DEPLOY_TOKEN"] {
        assert!(std::env::var_os(name).is_none(), "{name} leaked into the test command");
    }
}

#[test]
fn allowed_extra_is_visible() {
    assert_eq!(std::env::var("DATABASE_URL").as_deref(), Ok("sqlite::memory:"));
}
"#,
    );
    let secrets = [
        ("RAMPART_SIGNING_KEY", "-----BEGIN PRIVATE KEY-----secret"),
        ("RAMPART_API_KEY", "mv_secret"),
        ("MIPITI_API_KEY", "mv_secret"),
        ("MIPITI_WORKSPACE_SIGNING_KEY", "/ci/private.pem"),
        ("DEPLOY_TOKEN", "ghp_secret"),
        ("DATABASE_URL", "sqlite::memory:"),
    ];
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec!["verify", "test_passes", "-p", "file=src/main.rs", "-p"];
        let test = format!("test_name={name}");
        args.push(&test);
        args.extend_from_slice(extra);
        let mut cmd = verify(&root, &args);
        cmd.envs(secrets);
        cmd.output().expect("run")
    };
    let out = run("env_is_scrubbed", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Not on the allow-list: absent; listed with --test-env: present.
    assert_eq!(run("allowed_extra_is_visible", &[]).status.code(), Some(1));
    let out = run("allowed_extra_is_visible", &["--test-env", "DATABASE_URL"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The verifier's own keys cannot be allow-listed.
    let out = run("env_is_scrubbed", &["--test-env", "RAMPART_SIGNING_KEY"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never passed"));
}
