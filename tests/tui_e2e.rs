//! The real admin TUI in a real terminal (tmux): first-run setup, create a user, write a
//! signed backup, quit — then the data is really there and the backup restores.

use crate::harness::{TestDir, stdout_json};

#[test]
fn admin_tui_setup_user_and_backup_under_tmux() {
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
}
