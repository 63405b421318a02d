//! `test_passes`: runs the project's own test command for the matching tests.
//!
//! The runner is chosen from the test file's extension: pytest for Python, `cargo test`
//! for Rust, `go test -run` for Go, Jest (when installed in `node_modules`) or
//! `node --test` for JavaScript/TypeScript. The test runs in the project root with a
//! timeout (param `timeout` seconds, default 300, at most 3600). The verdict is `pass` when
//! at least one matching test ran and none failed, `fail` on failures, no matching test or a
//! timeout, and `skipped` with the reason when the runner is not installed or the file type
//! has no known runner. This executes the project's code, as any CI test step does.
//!
//! # Sandboxing (the assertion is untrusted input)
//!
//! Assertions are written by whoever holds a developer key (often an AI agent), but they run
//! on the CI runner that holds the signing key and the verifier key. So no assertion
//! parameter may ever become a command-line option, a path outside the project, or see the
//! runner's secrets:
//! - `test_name` must match a strict grammar for its runner ([`check_test_name`]): identifier
//!   paths for pytest, cargo and go; plain words for JavaScript test titles. Nothing that
//!   starts with `-`, no `=`, quotes, brackets, shell or control characters.
//! - `file` must be a plain relative path inside the project ([`check_test_file`]); it is
//!   passed as `./<path>`, so it can never read as an option, after the runner's own
//!   end-of-options marker (`--`) where the runner has one.
//! - Names reach the runner only as option values (`-k NAME`, `-run=^NAME$`,
//!   `--testNamePattern=…`, `--test-name-pattern=…`) or as libtest's filter after `--`.
//! - The child gets an empty environment plus an explicit allow-list ([`ENV_ALLOW`] and the
//!   run's `--test-env` names); `RAMPART_*`, `MIPITI_*` and every other variable are absent.

use super::checks::{CheckError, Params, Verdict};
use super::lang::shorten;
use super::workspace::Workspace;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default timeout of one test run.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Longest timeout an assertion may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 3600;
/// Longest accepted test name.
const MAX_NAME: usize = 200;

/// Environment variables a test command inherits from the runner (when set): what compilers,
/// interpreters and package managers need to find themselves, nothing else.
pub const ENV_ALLOW: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TERM",
    "TMPDIR",
    "TEMP",
    "TMP",
    "CI",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    // Rust
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "CARGO_TARGET_DIR",
    // Python
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "CONDA_PREFIX",
    // Go
    "GOPATH",
    "GOROOT",
    "GOCACHE",
    "GOMODCACHE",
    "GOPROXY",
    "GOPRIVATE",
    "GONOSUMDB",
    "GONOPROXY",
    "GOSUMDB",
    "GOTOOLCHAIN",
    // Node
    "NODE_PATH",
    "NVM_DIR",
];

/// True for variable names that may never be passed to a test command, even when an
/// operator lists them with `--test-env`: the verifier's own credentials.
pub fn is_secret_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("RAMPART_") || upper.starts_with("MIPITI_")
}

/// Checks an operator-supplied `--test-env` name: a plain variable name that is not one of
/// the verifier's own credentials.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(format!(
            "--test-env '{name}': expected an environment variable name (letters, digits, _)"
        ));
    }
    if is_secret_env(name) {
        return Err(format!(
            "--test-env '{name}': RAMPART_* and MIPITI_* variables (the verifier's keys) are never passed to test commands"
        ));
    }
    Ok(())
}

/// The test runner chosen from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// `python3 -m pytest`.
    Pytest,
    /// `cargo test`.
    Cargo,
    /// `go test`.
    Go,
    /// Jest or `node --test`.
    JavaScript,
}

impl Runner {
    /// The runner for a test file, by extension.
    pub fn of(file: &str) -> Option<Self> {
        match file.rsplit_once('.').map(|(_, e)| e).unwrap_or("") {
            "py" => Some(Runner::Pytest),
            "rs" => Some(Runner::Cargo),
            "go" => Some(Runner::Go),
            "js" | "mjs" | "cjs" | "ts" | "jsx" | "tsx" | "mts" | "cts" => Some(Runner::JavaScript),
            _ => None,
        }
    }
}

fn ident_segment(seg: &str, allow_glob: bool) -> bool {
    let mut chars = seg.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let ok_char =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || (allow_glob && matches!(c, '*' | '?'));
    (first.is_ascii_alphabetic() || first == '_' || (allow_glob && matches!(first, '*' | '?')))
        && chars.all(ok_char)
}

/// Validates `test_name` for `runner`; the error says what the grammar is.
///
/// - pytest: `name` or `Class::name` (identifiers), `*`/`?` as globs, optionally one
///   parametrization suffix `[id]` of letters, digits, `_`, `.` and `-`.
/// - cargo: a test path `module::name` (identifiers), `*`/`?` as globs.
/// - go: `TestName` or `TestName/subtest` (identifiers), `*`/`?` as globs.
/// - JavaScript: a test title of letters, digits, spaces and `_ . , : / # ( ) $ -`, `*`/`?`
///   as globs, not starting with a space or `-`.
///
/// Every name is at most 200 characters and has a non-glob prefix (`*` alone would select
/// every test and prove nothing about a particular one).
pub fn check_test_name(runner: Runner, name: &str) -> Result<(), String> {
    let bad = |grammar: &str| {
        Err(format!(
            "test_name '{}' is not a valid {} test name ({grammar})",
            shorten(name, 60),
            match runner {
                Runner::Pytest => "pytest",
                Runner::Cargo => "cargo",
                Runner::Go => "go",
                Runner::JavaScript => "JavaScript",
            }
        ))
    };
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return bad("1 to 200 characters");
    }
    if name.starts_with(['*', '?']) {
        return bad("it must start with the literal beginning of the name, not a glob");
    }
    match runner {
        Runner::Pytest => {
            let (path, param) = match name.split_once('[') {
                Some((p, rest)) => match rest.strip_suffix(']') {
                    Some(id)
                        if !id.is_empty()
                            && id.chars().all(|c| {
                                c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
                            }) =>
                    {
                        (p, Some(id))
                    }
                    _ => return bad("a parametrization suffix is [letters, digits, _ . -]"),
                },
                None => (name, None),
            };
            if param.is_some() && path.contains(['*', '?']) {
                return bad("globs and a parametrization suffix cannot be combined");
            }
            if path.split("::").all(|s| ident_segment(s, true)) {
                Ok(())
            } else {
                bad("identifiers separated by ::, e.g. TestAuth::test_rejects_expired")
            }
        }
        Runner::Cargo => {
            if name.split("::").all(|s| ident_segment(s, true)) {
                Ok(())
            } else {
                bad("a test path of identifiers separated by ::, e.g. auth::tests::rejects_expired")
            }
        }
        Runner::Go => {
            if name.split('/').all(|s| ident_segment(s, true)) {
                Ok(())
            } else {
                bad("identifiers separated by /, e.g. TestAuth/expired")
            }
        }
        Runner::JavaScript => {
            let ok = name.chars().all(|c| {
                c.is_alphanumeric()
                    || matches!(
                        c,
                        ' ' | '_' | '.' | ',' | ':' | '/' | '#' | '(' | ')' | '$' | '-' | '*' | '?'
                    )
            }) && !name.starts_with([' ', '-']);
            if ok {
                Ok(())
            } else {
                bad(
                    "letters, digits, spaces and _ . , : / # ( ) $ -, not starting with a space or -",
                )
            }
        }
    }
}

/// Validates the `file` of a `test_passes` assertion and returns it normalized
/// (`a/b/test_x.py`): relative, inside the project, each component made of letters, digits
/// and `_ . @ + -`, none starting with `-` or equal to `.`/`..`.
pub fn check_test_file(file: &str) -> Result<String, String> {
    let trimmed = file.strip_prefix("./").unwrap_or(file);
    let parts: Vec<&str> = trimmed.split('/').collect();
    let ok = !trimmed.is_empty()
        && trimmed.len() <= 1024
        && parts.iter().all(|p| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && !p.starts_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-'))
        });
    if ok {
        Ok(parts.join("/"))
    } else {
        Err(format!(
            "file '{}' is not a plain relative path inside the project (letters, digits, _ . @ + - separated by /, no component starting with - and no . or ..)",
            shorten(file, 80)
        ))
    }
}

/// The test command for one assertion: program, arguments and how to read its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCommand {
    /// Program (looked up on `PATH`, or the project's `node_modules/.bin/jest`).
    pub program: String,
    /// Arguments; no element comes from an assertion except as validated above.
    pub args: Vec<String>,
    kind: Kind,
}

/// Builds the command for a validated `file` (normalized) and `name`.
pub fn build_command(ws: &Workspace, runner: Runner, file: &str, name: &str) -> TestCommand {
    let glob = name.contains(['*', '?']);
    let prefix = name.split(['*', '?']).next().unwrap_or(name).to_string();
    let dot_file = format!("./{file}");
    match runner {
        Runner::Pytest => {
            let mut args: Vec<String> = [
                "-m",
                "pytest",
                "-q",
                "--no-header",
                "-p",
                "no:cacheprovider",
            ]
            .map(String::from)
            .to_vec();
            if glob {
                // `-k` takes a keyword expression; an identifier prefix is a plain keyword.
                let keyword = prefix.rsplit("::").next().unwrap_or(&prefix).to_string();
                args.extend(["-k".to_string(), keyword, "--".into(), dot_file]);
            } else {
                args.extend(["--".to_string(), format!("{dot_file}::{name}")]);
            }
            TestCommand {
                program: "python3".into(),
                args,
                kind: Kind::Pytest,
            }
        }
        Runner::Cargo => TestCommand {
            program: "cargo".into(),
            args: vec!["test".into(), "--quiet".into(), "--".into(), prefix],
            kind: Kind::Cargo,
        },
        Runner::Go => {
            let dir = file
                .rsplit_once('/')
                .map(|(d, _)| format!("./{d}"))
                .unwrap_or_else(|| ".".into());
            let segs: Vec<String> = name
                .split('/')
                .map(|s| {
                    if s.contains(['*', '?']) {
                        format!(
                            "^{}",
                            regex::escape(s.split(['*', '?']).next().unwrap_or(s))
                        )
                    } else {
                        format!("^{}$", regex::escape(s))
                    }
                })
                .collect();
            TestCommand {
                program: "go".into(),
                args: vec![
                    "test".into(),
                    "-count=1".into(),
                    "-v".into(),
                    format!("-run={}", segs.join("/")),
                    "--".into(),
                    dir,
                ],
                kind: Kind::Go,
            }
        }
        Runner::JavaScript => {
            let jest = ws.root().join("node_modules/.bin/jest");
            if jest.exists() {
                TestCommand {
                    program: jest.to_string_lossy().into_owned(),
                    args: vec![
                        "--ci".into(),
                        format!("--testNamePattern={}", regex::escape(&prefix)),
                        "--runTestsByPath".into(),
                        "--".into(),
                        dot_file,
                    ],
                    kind: Kind::Jest,
                }
            } else {
                TestCommand {
                    program: "node".into(),
                    args: vec![
                        "--test".into(),
                        format!("--test-name-pattern={}", regex::escape(&prefix)),
                        dot_file,
                    ],
                    kind: Kind::NodeTest,
                }
            }
        }
    }
}

pub(crate) fn test_passes(ws: &Workspace, p: &Params) -> Result<Verdict, CheckError> {
    let raw_file = p.req("file")?;
    let name = p
        .get_opt("test_name")
        .or_else(|| p.get_opt("name"))
        .ok_or(CheckError::Missing("test_name"))?;
    let timeout = match p.get_opt("timeout") {
        None => DEFAULT_TIMEOUT_SECS,
        Some(t) => match t.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_TIMEOUT_SECS).contains(&n) => n,
            _ => {
                return Err(CheckError::Bad(
                    "timeout",
                    format!("'{t}' is not a number of seconds from 1 to {MAX_TIMEOUT_SECS}"),
                ));
            }
        },
    };
    let file = check_test_file(&raw_file).map_err(|m| CheckError::Bad("file", m))?;
    let Some(runner) = Runner::of(&file) else {
        let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        return Ok(Verdict::skip(format!(
            "No known test runner for '.{ext}' files ({file}); run this test in CI and use test_exists or test_attested"
        )));
    };
    check_test_name(runner, &name).map_err(|m| CheckError::Bad("test_name", m))?;
    if !ws.is_file(&file)? {
        return Ok(Verdict::fail(format!(
            "Test file '{file}' not found (or not a regular file)"
        )));
    }
    let cmd = build_command(ws, runner, &file, &name);
    let outcome = match run_with_timeout(ws, &cmd.program, &cmd.args, Duration::from_secs(timeout))
    {
        Ok(o) => o,
        Err(reason) => {
            return Ok(Verdict::skip(format!(
                "Cannot run `{}`: {reason}",
                cmd.program
            )));
        }
    };
    let cmdline = format!("{} {}", cmd.program, cmd.args.join(" "));
    let Some((code, output)) = outcome else {
        return Ok(Verdict::fail(format!(
            "`{cmdline}` timed out after {timeout}s"
        )));
    };
    let tail = shorten(
        output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim(),
        160,
    );
    Ok(cmd.kind.judge(code, &output, &cmdline, &tail))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pytest,
    Cargo,
    Go,
    Jest,
    NodeTest,
}

impl Kind {
    fn judge(self, code: i32, out: &str, cmd: &str, tail: &str) -> Verdict {
        let fail = |why: &str| Verdict::fail(format!("`{cmd}` {why}: {tail}"));
        match self {
            Kind::Pytest => match code {
                _ if out.contains("No module named pytest") => {
                    Verdict::skip("pytest is not installed (python3 -m pytest failed)")
                }
                0 => Verdict::pass(format!("`{cmd}` passed: {tail}")),
                1 => fail("reported failing tests"),
                5 => fail("collected no matching test"),
                _ => fail(&format!("exited {code}")),
            },
            Kind::Cargo => {
                let re = regex::Regex::new(r"(\d+) passed; (\d+) failed").ok();
                let (mut passed, mut failed) = (0u64, 0u64);
                if let Some(re) = re {
                    for c in re.captures_iter(out) {
                        passed += c[1].parse::<u64>().unwrap_or(0);
                        failed += c[2].parse::<u64>().unwrap_or(0);
                    }
                }
                if code == 0 && passed > 0 && failed == 0 {
                    Verdict::pass(format!("`{cmd}`: {passed} test(s) passed"))
                } else if code == 0 {
                    fail("ran no matching test")
                } else {
                    fail(&format!("failed ({failed} failed)"))
                }
            }
            Kind::Go => {
                if code == 0 && out.contains("--- PASS") {
                    Verdict::pass(format!("`{cmd}` passed: {tail}"))
                } else if code == 0 {
                    fail("ran no matching test")
                } else {
                    fail(&format!("exited {code}"))
                }
            }
            Kind::Jest | Kind::NodeTest => {
                let none = out.contains("No tests found")
                    || out.contains("# pass 0")
                    || out.contains("ℹ pass 0");
                if code == 0 && !none {
                    Verdict::pass(format!("`{cmd}` passed: {tail}"))
                } else if none {
                    fail("ran no matching test")
                } else {
                    fail(&format!("exited {code}"))
                }
            }
        }
    }
}

/// The environment of a test command: the allow-listed variables that are set on the
/// runner, plus the run's `--test-env` names, never a `RAMPART_*` or `MIPITI_*` one.
pub fn allowed_env(ws: &Workspace) -> Vec<(String, std::ffi::OsString)> {
    ENV_ALLOW
        .iter()
        .map(|n| n.to_string())
        .chain(ws.test_env().iter().cloned())
        .filter(|n| !is_secret_env(n))
        .filter_map(|n| std::env::var_os(&n).map(|v| (n, v)))
        .collect()
}

/// Runs `program args` in the project root, capturing combined output.
/// `Ok(None)` on timeout (the child is killed); `Err` when it cannot start.
fn run_with_timeout(
    ws: &Workspace,
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<Option<(i32, String)>, String> {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(ws.root())
        .env_clear()
        .envs(allowed_env(ws))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so a timeout ends the runner's children too (cargo's test
    // binaries, pytest workers), not just the runner.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "not installed (not on PATH)".to_string()
        } else {
            e.to_string()
        }
    })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() >= timeout => {
                #[cfg(unix)]
                if let Ok(pid) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let out = format!(
        "{}{}",
        out_t.join().unwrap_or_default(),
        err_t.join().unwrap_or_default()
    );
    Ok(status.map(|s| (s.code().unwrap_or(-1), out)))
}
