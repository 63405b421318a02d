//! A real SMTP server for the tests: aiosmtpd (from PyPI, installed by scripts/test) writing
//! every message it receives into a maildir, so tests read exactly what was delivered.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TestDir;

/// A running aiosmtpd; killed on drop.
pub struct Smtp {
    child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    maildir: PathBuf,
}

impl Smtp {
    /// Starts on a free port.
    pub fn start(dir: &TestDir) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        Self::start_on(dir, port)
    }

    /// Starts on a given port (a relay that comes up after the appliance queued mail).
    pub fn start_on(dir: &TestDir, port: u16) -> Self {
        let aiosmtpd = super::require_tool("aiosmtpd");
        let maildir = dir.path().join(format!("maildir-{port}"));
        let child = Command::new(aiosmtpd)
            .args(["-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    /// Every message received so far (raw RFC 5322 text with aiosmtpd's X-RcptTo header).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in entries.flatten() {
                    let mut s = String::new();
                    if std::fs::File::open(e.path())
                        .and_then(|mut f| f.read_to_string(&mut s))
                        .is_ok()
                    {
                        out.push(s);
                    }
                }
            }
        }
        out
    }

    /// Waits until a message to `to` arrives (or panics after `secs`); returns it.
    pub fn wait_for(&self, to: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m.contains(&format!("X-RcptTo: {to}")))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} within {secs} s; received: {:?}",
                self.messages()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The decoded text of one MIME part (`text/plain` or `text/html`) of a message: handles
/// quoted-printable and base64 transfer encodings, which lettre picks per part.
pub fn part(message: &str, content_type: &str) -> Option<String> {
    let at = message.find(&format!("Content-Type: {content_type}"))?;
    let rest = &message[at..];
    let header_end = rest
        .find("\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| rest.find("\n\n").map(|i| (i, 2)))?;
    let headers = &rest[..header_end.0];
    let body = &rest[header_end.0 + header_end.1..];
    let body = body.split("\n--").next().unwrap_or(body);
    if headers.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine as _;
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        Some(decode_qp(body))
    } else {
        Some(body.to_string())
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
