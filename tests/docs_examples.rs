//! Documented commands run as written: the README's shell examples and the usage examples in
//! the scripts' headers are executed here, verbatim, with `rampart` on `PATH` being the binary
//! under test. Every ```sh block of the README must be classified below (run here, or why
//! not), so a new example cannot slip in untested. Lines that talk to another host
//! (`https://…`) need a network and are left out; `localhost:8080` becomes the port the test
//! appliance got.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{TOOLS, TestDir, bin, require_tool};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// What this test does with a README ```sh block, keyed by the start of its first line.
enum Block {
    /// Run, in order, in one shell (later blocks use the variables of earlier ones).
    Run,
    /// Not run here, and why.
    Skip(&'static str),
}

const README_BLOCKS: &[(&str, Block)] = &[
    (
        "cargo run --release -- serve",
        Block::Skip(
            "cargo commands; scripts/test is this suite, and the serve banner is checked by serve_banner_says_what_to_do_next",
        ),
    ),
    ("rampart serve", Block::Run),
    ("ID=$(curl", Block::Run),
    (
        "curl -s -X POST \"localhost:8080/api/models/$ID/assertions\"",
        Block::Run,
    ),
    (
        "curl -s \"localhost:8080/api/models/$ID/export?format=pdf\"",
        Block::Run,
    ),
    ("openssl ecparam", Block::Run),
    (
        "claude mcp add",
        Block::Skip("needs Claude Code and the appliance at a public URL"),
    ),
    ("mkdir -p backups", Block::Run),
    (
        "# the lead, signed in",
        Block::Skip(
            "needs a browser session with a second factor; tests/tenancy.rs makes the same calls",
        ),
    ),
    (
        "curl -s -X PUT localhost:8080/api/organizations/$ORG/integrations/jira",
        Block::Skip(
            "needs a Jira and a Confluence site and an org admin session; tests/integrations.rs makes the same calls against a fake Atlassian server",
        ),
    ),
    (
        "packaging/build-static.sh",
        Block::Skip("release builds: packaging/check-release.sh runs and checks them"),
    ),
    (
        "cargo build --release && bench/startup.py",
        Block::Skip("benchmarks of a release build print figures, they are not tests"),
    ),
];

/// The ```sh blocks of a markdown text, with continuation lines (`\` at the end) joined.
fn sh_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        let trimmed = line.trim();
        match &mut current {
            None if trimmed == "```sh" => current = Some(Vec::new()),
            None => {}
            Some(_) if trimmed == "```" => blocks.extend(current.take()),
            Some(lines) => match lines.last_mut() {
                Some(prev) if prev.ends_with('\\') => {
                    prev.pop();
                    prev.truncate(prev.trim_end().len());
                    prev.push(' ');
                    prev.push_str(trimmed);
                }
                _ => lines.push(line.to_string()),
            },
        }
    }
    blocks
}

/// A directory holding `rampart` (a link to the binary under test), for the front of `PATH`.
fn path_with_rampart(dir: &TestDir) -> String {
    let bindir = dir.path().join("bin");
    std::fs::create_dir_all(&bindir).expect("mkdir bin");
    symlink(bin(), bindir.join("rampart")).expect("link rampart");
    format!(
        "{}:{}",
        bindir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A free loopback port (bound and released; the appliance binds it right after).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Runs a bash script in `cwd` with a clean environment (no `RAMPART_*` or product
/// variables from the developer's shell) plus `env`, killing it after `limit`.
fn run_bash(cwd: &Path, script: &str, env: &[(&str, String)], limit: Duration) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(script).current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("RAMPART_")
            || [
                "ENCRYPTION_KEY",
                "KMS_PROVIDER",
                "AUTH_SECRET",
                "ORG_DB_ISOLATION",
            ]
            .contains(&k.as_str())
        {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn bash");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

fn show(script: &str, out: &Output, extra: &str) -> String {
    format!(
        "status {:?}\n---- script ----\n{script}\n---- stdout ----\n{}\n---- stderr ----\n{}\n{extra}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn every_readme_sh_block_is_classified() {
    for block in sh_blocks(&read("README.md")) {
        let first = block.first().map(String::as_str).unwrap_or_default();
        assert!(
            README_BLOCKS
                .iter()
                .any(|(start, _)| first.trim_start().starts_with(start)),
            "README has an unclassified ```sh block starting {first:?}: add it to README_BLOCKS"
        );
    }
}

#[test]
fn readme_examples_run_as_written() {
    require_tool("curl");
    require_tool("jq");
    require_tool("openssl");
    let dir = TestDir::new("readme");
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("app")).expect("mkdir");
    // The file the README's local `rampart verify verify` example checks.
    std::fs::write(
        work.join("app/upload.py"),
        "def handle_upload(request):\n    return store(request.body)\n",
    )
    .expect("write");
    let port = free_port();

    let mut script = String::from(
        "set -euo pipefail\n\
         curl() { command curl --fail-with-body \"$@\"; }   # an HTTP error fails the example\n\
         trap '[ -n \"${SERVE:-}\" ] && kill $SERVE 2>/dev/null; true' EXIT\n",
    );
    let mut ran = 0;
    for block in sh_blocks(&read("README.md")) {
        let first = block.first().cloned().unwrap_or_default();
        let Some((_, kind)) = README_BLOCKS
            .iter()
            .find(|(s, _)| first.trim_start().starts_with(s))
        else {
            continue; // every_readme_sh_block_is_classified reports it
        };
        if let Block::Skip(why) = kind {
            script.push_str(&format!("# not run ({why}): {first}\n"));
            continue;
        }
        ran += 1;
        for line in block {
            if line.contains("https://") {
                script.push_str(&format!("# needs a network, not run: {line}\n"));
            } else if line.starts_with("rampart serve") {
                // "terminal 1": in the background, until this script ends.
                script.push_str(
                    "rampart serve > serve.out 2> serve.log & SERVE=$!\n\
                     for _ in $(seq 100); do curl -s localhost:8080/ready >/dev/null 2>&1 && break; sleep 0.1; done\n",
                );
            } else {
                script.push_str(&line);
                script.push('\n');
            }
        }
    }
    assert_eq!(ran, 6, "README blocks run");
    // The inline local-verification example of "`rampart verify` in an air-gapped CI".
    let readme = read("README.md");
    let local = readme
        .split('`')
        .find(|s| s.starts_with("rampart verify verify function_exists"))
        .expect("README's local verify example");
    script.push_str(local);
    script.push('\n');
    // What the examples left behind, for the checks below.
    script.push_str(
        "echo \"MODEL=$ID\"\n\
         curl -s localhost:8080/api/models -H \"X-API-Key: $K\" | jq -r '.[].id' | sed 's/^/LISTED=/'\n",
    );
    let script = script.replace("localhost:8080", &format!("localhost:{port}"));

    let env = [
        ("PATH", path_with_rampart(&dir)),
        ("HOME", dir.path().display().to_string()),
        // As root, the default data dir is /var/lib/rampart: keep the test's own.
        ("RAMPART_DATA_DIR", dir.data_dir().display().to_string()),
        ("RAMPART_BIND", format!("127.0.0.1:{port}")),
        ("RAMPART_ARGON2_MEMORY_KIB", "256".into()),
        ("RAMPART_ARGON2_ITERATIONS", "1".into()),
    ];
    let out = run_bash(&work, &script, &env, Duration::from_secs(240));
    let log = std::fs::read_to_string(work.join("serve.log")).unwrap_or_default();
    let text = show(&script, &out, &format!("---- serve.log ----\n{log}"));
    assert!(out.status.success(), "{text}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let model = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MODEL="))
        .unwrap_or_default();
    assert!(
        model.len() > 8,
        "no model id from the README's POST\n{text}"
    );
    assert!(
        stdout.lines().any(|l| l == format!("LISTED={model}")),
        "{text}"
    );
    // The files the export example downloads.
    for (file, magic) in [
        ("threat-model.pdf", &b"%PDF-"[..]),
        ("assurance.pdf", &b"%PDF-"[..]),
        ("rampart.sarif", &b"{"[..]),
    ] {
        let bytes = std::fs::read(work.join(file)).unwrap_or_default();
        assert!(
            bytes.starts_with(magic),
            "{file} from the export example\n{text}"
        );
    }
    // The signing key pair of the CI example, and a signed backup from the admin example.
    assert!(work.join("private.pem").is_file() && work.join("public.pem").is_file());
    assert!(
        std::fs::read_dir(work.join("backups"))
            .expect("backups")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".signed"))),
        "{text}"
    );
}

#[test]
fn mint_license_example_runs_as_written() {
    require_tool("openssl");
    let dir = TestDir::new("mint-example");
    let header = read("packaging/mint-license.sh");
    let example: Vec<String> = header
        .lines()
        .skip_while(|l| !l.starts_with("# Example"))
        .skip(1)
        .take_while(|l| l.starts_with("#   "))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect();
    assert_eq!(example.len(), 4, "{example:?}");
    let tmp = dir.path().display().to_string();
    let mut script = String::from("set -euo pipefail\n");
    let mut joined = String::new();
    for line in example {
        joined.push_str(line.trim_end_matches('\\').trim_end());
        if line.ends_with('\\') {
            joined.push(' ');
        } else {
            script.push_str(&joined.replace("/tmp/", &format!("{tmp}/")));
            script.push('\n');
            joined.clear();
        }
    }
    script.push_str("rampart admin license status\n");
    let env = [
        ("PATH", path_with_rampart(&dir)),
        ("RAMPART_DATA_DIR", dir.data_dir().display().to_string()),
    ];
    let out = run_bash(repo(), &script, &env, Duration::from_secs(60));
    let text = show(&script, &out, "");
    assert!(out.status.success(), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Acme"),
        "{text}"
    );
}

/// `RAMPART_BIN=… scripts/mcp-conformance.sh`, as its header says. The appliance refuses
/// unknown `RAMPART_*` variables, so the script must not hand its own knobs on to it. The
/// npm registry is the one thing this test cannot reach: an `npm` that fails stands in for
/// it, so the script must get through setup, serve and the key proxy to that step.
#[test]
fn mcp_conformance_script_accepts_rampart_bin() {
    let dir = TestDir::new("mcp-conformance");
    require_tool("curl");
    let node = require_tool("node");
    let fake = dir.path().join("fake");
    std::fs::create_dir_all(&fake).expect("mkdir");
    std::fs::write(
        fake.join("npm"),
        "#!/bin/sh\necho 'npm: no registry in this test' >&2\nexit 1\n",
    )
    .expect("write npm");
    set_executable(&fake.join("npm"));
    symlink(&node, fake.join("node")).expect("link node");
    let script = format!(
        "RAMPART_BIN={} MCP_PORT={} PROXY_PORT={} scripts/mcp-conformance.sh",
        bin(),
        free_port(),
        free_port()
    );
    let env = [(
        "PATH",
        format!(
            "{}:{}",
            fake.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )];
    let out = run_bash(repo(), &script, &env, Duration::from_secs(120));
    let text = show(&script, &out, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unknown environment variable"), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("== appliance ready"),
        "{text}"
    );
    assert!(stderr.contains("npm: no registry in this test"), "{text}");
    assert!(!out.status.success(), "{text}");
}

fn set_executable(p: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[test]
fn every_tool_the_tests_need_is_installed_by_scripts_test() {
    let installers = format!(
        "{}\n{}",
        read("scripts/test"),
        read("scripts/install-mipiti-verify.sh")
    );
    for (name, location) in TOOLS {
        let ok = if let Some(rel) = location.strip_prefix("target/") {
            // A virtualenv tool: its venv directory and its package are named by an installer.
            let venv = rel.split('/').next().unwrap_or_default();
            installers.contains(venv) && installers.contains(name)
        } else {
            installers.lines().any(|l| {
                l.trim_start_matches([' ', '"'])
                    .starts_with(&format!("{location} "))
            })
        };
        assert!(
            ok,
            "{name} ({location}) is in harness::TOOLS but scripts/test does not install it"
        );
    }
}

#[test]
fn serve_banner_says_what_to_do_next() {
    let dir = TestDir::new("banner");
    let mut child = dir
        .cmd()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all).to_string();
            if text.contains("  stop ") {
                let _ = tx.send(text);
                break;
            }
        }
    });
    let banner = rx.recv_timeout(Duration::from_secs(30));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let banner = banner.expect("serve printed its banner");
    let first = banner.lines().next().unwrap_or_default();
    let port = first
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("first line: {banner}"));
    let data = std::path::absolute(dir.data_dir()).expect("abs");
    for expected in [
        format!("http://localhost:{port}/setup"),
        format!(
            "rampart --data-dir {} admin setup --email you@example.com",
            data.display()
        ),
        format!("data dir    {}", data.display()),
        format!("master key  {}", data.join("master.key").display()),
    ] {
        assert!(banner.contains(&expected), "{expected:?} not in:\n{banner}");
    }
}
