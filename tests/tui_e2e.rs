//! The real admin TUI in a real terminal (tmux): first-run setup, create a user, write a
//! signed backup, then on the Orgs screen create an org, set a workspace limit, open it and
//! add the user as org admin, delete it; on the Maintenance screen see the LLM cache and
//! master-key facts and clear the cache; on the Credits screen set an allowance and deduct
//! credits with a note; quit — then the data is really there, the backup restores, and the
//! admin event log holds each org and credit operation with its values.

use std::io::Read;

use crate::harness::{TestDir, stdout_json};

#[test]
fn admin_tui_setup_user_backup_and_org_lifecycle_under_tmux() {
    let dir = TestDir::new("tui-e2e");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tui/scripts/tmux-smoke.sh");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).expect("mkdir");
    crate::harness::require_tool("tmux");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(crate::harness::bin())
        .arg("--data-dir")
        .arg(dir.data_dir())
        .arg("admin")
        .env("BACKUP_DIR", &backups)
        .env("RAMPART_ARGON2_MEMORY_KIB", "256")
        .env("RAMPART_ARGON2_ITERATIONS", "1")
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let users = stdout_json(
        &dir.cmd()
            .args(["admin", "user", "list", "--json"])
            .assert_exit(0),
    );
    let emails: Vec<&str> = users
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert_eq!(emails, ["root@example.test", "bob@example.test"]);
    let backup = std::fs::read_dir(&backups)
        .expect("backups")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".db.gz.signed"))
        .expect("the TUI wrote a signed backup");
    dir.cmd()
        .args(["admin", "restore"])
        .arg_path(&backup)
        .args(["--verify-only"])
        .assert_exit(0);

    // The org flow went through the real backend: no org is left, and the event log (read
    // from the plaintext image of a fresh backup) records each step with the operator's values.
    let orgs = stdout_json(
        &dir.cmd()
            .args(["admin", "org", "list", "--json"])
            .assert_exit(0),
    );
    assert_eq!(orgs, serde_json::json!([]));
    let after = dir.path().join("after.db.gz.signed");
    dir.cmd()
        .args(["admin", "backup", "--out"])
        .arg_path(&after)
        .assert_exit(0);
    let log = plaintext(&after);
    for needle in [
        "org_create",
        "name=\"Acme Corp\" max_workspaces=3 max_members=0 (by tui)",
        "bob@example.test as org_admin",
        "org_delete",
        "llm_cache_clear",
        "monthly allowance of root@example.test set to 100 credits (reason: pilot)",
        "-5 credits from root@example.test (reason: trial over)",
    ] {
        assert!(log.contains(needle), "{needle:?} not in the event log");
    }
}

/// The decompressed database image of a signed backup, as (lossy) text.
fn plaintext(file: &std::path::Path) -> String {
    let mut f = std::fs::File::open(file).expect("open backup");
    let trailer = rampart::crypto::backup_format::read(&mut f)
        .expect("io")
        .expect("trailer");
    let bytes = std::fs::read(file).expect("read backup");
    let payload = &bytes[..usize::try_from(trailer.payload_len).expect("len")];
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(payload)
        .read_to_end(&mut plain)
        .expect("gunzip");
    String::from_utf8_lossy(&plain).into_owned()
}
