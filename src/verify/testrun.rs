//! `test_passes`: runs the project's own test command for the matching tests.
//!
//! The runner is chosen from the test file's extension: pytest for Python, `cargo test`
//! for Rust, `go test -run` for Go, Jest (when installed in `node_modules`) or
//! `node --test` for JavaScript/TypeScript. The test runs in the project root with a
//! timeout (param `timeout` seconds, default 300). The verdict is `pass` when at least
//! one matching test ran and none failed, `fail` on failures, no matching test or a
//! timeout, and `skipped` with the reason when the runner is not installed or the file
//! type has no known runner. This executes project code, as any CI test step does.

use super::checks::{CheckError, Params, Verdict};
use super::lang::shorten;
use super::workspace::Workspace;
use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Default timeout of one test run.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

pub(crate) fn test_passes(ws: &Workspace, p: &Params) -> Result<Verdict, CheckError> {
    let file = p.req("file")?;
    let name = p
        .get_opt("test_name")
        .or_else(|| p.get_opt("name"))
        .ok_or(CheckError::Missing("test_name"))?;
    let timeout = p
        .get_opt("timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !ws.is_file(&file)? {
        return Ok(Verdict::fail(format!("Test file '{file}' not found")));
    }
    let prefix = name.split(['*', '?']).next().unwrap_or(&name).to_string();
    let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let (program, args, kind): (String, Vec<String>, Kind) = match ext {
        "py" => {
            let select = if name.contains(['*', '?']) {
                vec![file.clone(), "-k".into(), prefix.clone()]
            } else {
                vec![format!("{file}::{name}")]
            };
            let mut a = vec![
                "-m".into(),
                "pytest".into(),
                "-q".into(),
                "--no-header".into(),
                "-p".into(),
                "no:cacheprovider".into(),
            ];
            a.extend(select);
            ("python3".into(), a, Kind::Pytest)
        }
        "rs" => (
            "cargo".into(),
            vec!["test".into(), "--quiet".into(), prefix.clone()],
            Kind::Cargo,
        ),
        "go" => {
            let dir = file
                .rsplit_once('/')
                .map(|(d, _)| format!("./{d}"))
                .unwrap_or_else(|| ".".into());
            let re = if name.contains(['*', '?']) {
                format!("^{}", regex::escape(&prefix))
            } else {
                format!("^{}$", regex::escape(&name))
            };
            (
                "go".into(),
                vec![
                    "test".into(),
                    "-count=1".into(),
                    "-v".into(),
                    "-run".into(),
                    re,
                    dir,
                ],
                Kind::Go,
            )
        }
        "js" | "mjs" | "cjs" | "ts" | "jsx" | "tsx" | "mts" | "cts" => {
            if ws.root().join("node_modules/.bin/jest").exists() {
                (
                    ws.root()
                        .join("node_modules/.bin/jest")
                        .to_string_lossy()
                        .into_owned(),
                    vec!["--ci".into(), "-t".into(), prefix.clone(), file.clone()],
                    Kind::Jest,
                )
            } else {
                (
                    "node".into(),
                    vec![
                        "--test".into(),
                        format!("--test-name-pattern={}", regex::escape(&prefix)),
                        file.clone(),
                    ],
                    Kind::NodeTest,
                )
            }
        }
        other => {
            return Ok(Verdict::skip(format!(
                "No known test runner for '.{other}' files ({file}); run this test in CI and use test_exists or test_attested"
            )));
        }
    };
    let outcome = match run_with_timeout(ws, &program, &args, Duration::from_secs(timeout)) {
        Ok(o) => o,
        Err(reason) => return Ok(Verdict::skip(format!("Cannot run `{program}`: {reason}"))),
    };
    let cmdline = format!("{program} {}", args.join(" "));
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
    Ok(kind.judge(code, &output, &cmdline, &tail))
}

#[derive(Clone, Copy)]
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

/// Runs `program args` in the project root, capturing combined output.
/// `Ok(None)` on timeout (the child is killed); `Err` when it cannot start.
fn run_with_timeout(
    ws: &Workspace,
    program: &str,
    args: &[String],
    timeout: Duration,
) -> Result<Option<(i32, String)>, String> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(ws.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
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
