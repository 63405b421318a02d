//! Test fixtures: a temp data dir, a command wrapper over the real binary with a clean
//! environment, and `Appliance`, a running `rampart serve` on port 0 that is SIGTERMed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rampart")
}

/// Environment variables the appliance reads that must not leak in from the developer's shell.
const SPEC_ENV: &[&str] = &[
    "ENCRYPTION_KEY",
    "KMS_PROVIDER",
    "AUTH_SECRET",
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
