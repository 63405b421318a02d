//! Admin operations through the real binary: signed backup and restore (round trip, while
//! `serve` runs, every refusal changing nothing, cross-instance trust), the backup format
//! checked with openssl and sqlite3, trusted signers, license, maintenance with an alert
//! email to a local SMTP sink, and organizations: crypto-shred, limits, members, workspaces,
//! isolation of their data and deletion.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jwt_simple::prelude::*;

use crate::harness::{
    Appliance, Client, Cmd, PASSWORD, TestDir, cli_setup, cli_user, json, mode, require_tool,
    stderr, stdout, stdout_json,
};

/// Variables the admin area reads that must not leak in from the developer's shell.
const ADMIN_ENV: &[&str] = &[
    "BACKUP_SIGNING_KEY",
    "LICENSE_KEY_FILE",
    "MAINTENANCE_ALERT_EMAIL",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_FROM_ADDRESS",
    "SMTP_FROM_NAME",
    "SMTP_USE_TLS",
];

/// One instance under test: a data dir plus the environment every command gets.
struct Inst {
    dir: TestDir,
    env: Vec<(String, String)>,
}

impl Inst {
    fn new(name: &str) -> Self {
        Self {
            dir: TestDir::new(name),
            env: Vec::new(),
        }
    }

    fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn cmd(&self) -> Cmd {
        let mut c = self.dir.cmd();
        for v in ADMIN_ENV {
            c.cmd.env_remove(v);
        }
        for (k, v) in &self.env {
            c.cmd.env(k, v);
        }
        c
    }

    fn admin(&self, args: &[&str], code: i32) -> Output {
        self.cmd().arg("admin").args(args).assert_exit(code)
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        stdout_json(&self.admin(&a, 0))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn backup(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        self.admin(&["backup", "--out", out.to_str().expect("utf-8 path")], 0);
        out
    }

    fn restore(&self, file: &Path, confirm: &str, code: i32) -> Output {
        self.cmd()
            .args(["admin", "restore"])
            .arg_path(file)
            .args(["--confirm", confirm, "--password-stdin"])
            .output_with_stdin("admin-password\n")
            .check(code)
    }

    fn slugs(&self) -> Vec<String> {
        self.json(&["org", "list"])
            .as_array()
            .expect("array")
            .iter()
            .map(|o| o["slug"].as_str().expect("slug").to_string())
            .collect()
    }

    fn create_org(&self, name: &str) {
        self.admin(&["org", "create", "--name", name], 0);
    }
}

trait Check {
    fn check(self, code: i32) -> Output;
}

impl Check for Output {
    fn check(self, code: i32) -> Output {
        assert_eq!(
            self.status.code(),
            Some(code),
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            stdout(&self),
            stderr(&self)
        );
        self
    }
}

/// Extension: Cmd has `arg` for a single OsStr.
trait CmdExt {
    fn arg(self, a: &str) -> Cmd;
}

impl CmdExt for Cmd {
    fn arg(mut self, a: &str) -> Cmd {
        self.cmd.arg(a);
        self
    }
}

/// A license-signing test key and its PEM public key (for RAMPART_LICENSE_EXTRA_PUBLIC_KEY).
fn license_key() -> (ES256KeyPair, String) {
    let kp = ES256KeyPair::generate();
    let pem = kp.public_key().to_pem().expect("pem");
    (kp, pem)
}

fn mint(kp: &ES256KeyPair, custom: serde_json::Value, exp: Option<u64>) -> String {
    let mut claims =
        Claims::with_custom_claims(custom, Duration::from_days(365)).with_subject("Acme Corp");
    if let Some(e) = exp {
        claims.expires_at = Some(Duration::from_secs(e));
        claims.issued_at = Some(Duration::from_secs(e.saturating_sub(1000)));
    }
    kp.sign(claims).expect("sign license")
}

/// An instance with a license allowing `max_orgs` organizations.
fn licensed(name: &str, max_orgs: u64) -> Inst {
    let (kp, pem) = license_key();
    let inst = Inst::new(name).with_env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem);
    let lic = inst.dir.write(
        "license.jwt",
        &mint(
            &kp,
            serde_json::json!({"max_workspaces": 10, "max_orgs": max_orgs}),
            None,
        ),
    );
    inst.admin(&["license", "install", lic.to_str().expect("utf-8")], 0);
    inst
}

/// Splits a signed backup into (gzip payload, fingerprint, DER signature).
fn split(file: &Path) -> (Vec<u8>, [u8; 32], Vec<u8>) {
    let mut f = std::fs::File::open(file).expect("open backup");
    let t = rampart::crypto::backup_format::read(&mut f)
        .expect("io")
        .expect("trailer");
    let bytes = std::fs::read(file).expect("read backup");
    let payload = bytes[..usize::try_from(t.payload_len).expect("len")].to_vec();
    // The trailer layout, byte for byte.
    let tail = &bytes[payload.len()..];
    assert_eq!(&tail[..8], b"MIPIBAK\x02");
    assert_eq!(&tail[8..40], &t.fingerprint);
    assert_eq!(
        u16::from_be_bytes([tail[40], tail[41]]) as usize,
        t.signature.len()
    );
    assert_eq!(&tail[42..], &t.signature[..]);
    (payload, t.fingerprint, t.signature)
}

/// The plaintext SQLite image inside a backup, as a `.dump` from the system sqlite3, without
/// the admin event log (which records the backups and restores themselves).
fn dump(inst: &Inst, file: &Path) -> String {
    let (payload, _, _) = split(file);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&payload[..])
        .read_to_end(&mut plain)
        .expect("gunzip");
    let db = inst.path(&format!("dump-{}.db", uuid::Uuid::new_v4()));
    std::fs::write(&db, plain).expect("write plain");
    let out = Command::new(require_tool("sqlite3"))
        .arg(&db)
        .arg(".dump")
        .output()
        .expect("run sqlite3 (install the sqlite3 shell)");
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.contains("audit_log"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The instance id, read from a fresh backup (the `admin status` command belongs to the spine).
fn instance_id(inst: &Inst) -> String {
    let file = inst.path(&format!("id-{}.signed", uuid::Uuid::new_v4()));
    inst.admin(&["backup", "--out", file.to_str().expect("utf-8")], 0);
    let d = dump(inst, &file);
    let re = regex::Regex::new(r"INSERT INTO instance_meta VALUES\('instance_id','([0-9a-f]+)'")
        .expect("re");
    re.captures(&d).expect("instance_id row")[1].to_string()
}

fn temp_leftovers(inst: &Inst) -> Vec<String> {
    std::fs::read_dir(inst.dir.data_dir())
        .expect("read data dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.contains(".tmp-"))
        .collect()
}

#[test]
fn backup_restore_round_trip_data_identical() {
    let inst = licensed("roundtrip", 5);
    inst.create_org("Alpha");
    inst.create_org("Beta");
    let b1 = inst.backup("b1.db.gz.signed");
    assert_eq!(mode(&b1), 0o600);
    inst.create_org("Gamma");
    assert_eq!(inst.slugs(), ["alpha", "beta", "gamma"]);
    let out = inst.restore(&b1, "CONFIRM RESTORE", 0);
    assert!(stdout(&out).contains("restored"), "{}", stdout(&out));
    assert_eq!(inst.slugs(), ["alpha", "beta"]);
    let b2 = inst.backup("b2.db.gz.signed");
    assert_eq!(dump(&inst, &b1), dump(&inst, &b2));
    assert!(
        temp_leftovers(&inst).is_empty(),
        "{:?}",
        temp_leftovers(&inst)
    );
    // Both operations are in the event log of the restored database.
    let b3 = inst.backup("b3.db.gz.signed");
    let (payload, _, _) = split(&b3);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&payload[..])
        .read_to_end(&mut plain)
        .expect("gunzip");
    let text = String::from_utf8_lossy(&plain);
    assert!(text.contains("restored backup signed by this instance"));
}

#[test]
fn backup_default_name_progress_and_no_overwrite() {
    let inst = Inst::new("backupname");
    let outdir = inst.path("out");
    std::fs::create_dir(&outdir).expect("mkdir");
    let out = inst.admin(&["backup", "--out", outdir.to_str().expect("utf-8")], 0);
    let names: Vec<String> = std::fs::read_dir(&outdir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let re = regex::Regex::new(r"^rampart-backup-\d{8}-\d{6}\.db\.gz\.signed$").expect("re");
    assert!(re.is_match(&names[0]), "{names:?}");
    let err = stderr(&out);
    assert!(err.contains("compress") && err.contains("100%"), "{err}");
    let existing = outdir.join(&names[0]);
    let before = std::fs::read(&existing).expect("read");
    let out = inst.admin(&["backup", "--out", existing.to_str().expect("utf-8")], 1);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(before, std::fs::read(&existing).expect("read"));
}

#[test]
fn openssl_verifies_the_backup_signature_and_sqlite3_opens_the_image() {
    let inst = Inst::new("openssl");
    inst.create_org("Alpha");
    let file = inst.backup("b.db.gz.signed");
    let key = inst.json(&["signing-key"]);
    let pem = key["public_key_pem"].as_str().expect("pem");
    let fp = key["fingerprint"].as_str().expect("fingerprint");
    let (payload, trailer_fp, sig) = split(&file);
    assert_eq!(hex::encode(trailer_fp), fp);
    let pub_pem = inst.dir.write("pub.pem", pem);
    let payload_path = inst.path("payload.gz");
    std::fs::write(&payload_path, &payload).expect("write");
    let sig_path = inst.path("sig.der");
    std::fs::write(&sig_path, &sig).expect("write");
    let verify = |payload: &Path| {
        Command::new(require_tool("openssl"))
            .args(["dgst", "-sha256", "-verify"])
            .arg(&pub_pem)
            .arg("-signature")
            .arg(&sig_path)
            .arg(payload)
            .output()
            .expect("run openssl")
    };
    let out = verify(&payload_path);
    assert!(
        out.status.success() && stdout(&out).contains("Verified OK"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The fingerprint is SHA-256 of the DER SubjectPublicKeyInfo, as openssl encodes it.
    let der = Command::new(require_tool("openssl"))
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(&pub_pem)
        .output()
        .expect("openssl pkey");
    assert!(der.status.success());
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&der.stdout)), fp);
    // A modified payload does not verify.
    let mut bad = payload.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    let bad_path = inst.path("bad.gz");
    std::fs::write(&bad_path, &bad).expect("write");
    assert!(!verify(&bad_path).status.success());
    // gzip -dc + the plain sqlite3 shell read the image: it is plaintext SQLite.
    let plain = inst.path("plain.db");
    let gz = Command::new(require_tool("gzip"))
        .arg("-dc")
        .arg(&payload_path)
        .output()
        .expect("gzip");
    assert!(gz.status.success());
    std::fs::write(&plain, &gz.stdout).expect("write");
    let q = Command::new(require_tool("sqlite3"))
        .arg(&plain)
        .arg("PRAGMA integrity_check; SELECT slug FROM orgs; PRAGMA user_version;")
        .output()
        .expect("sqlite3");
    assert_eq!(
        stdout(&q).lines().collect::<Vec<_>>(),
        [
            "ok",
            "alpha",
            &rampart::store::migrations::latest().to_string()
        ],
        "{}",
        stderr(&q)
    );
}

#[test]
fn every_bad_restore_is_refused_and_changes_nothing() {
    let inst = licensed("refusals", 5);
    inst.create_org("Alpha");
    let good = inst.backup("good.db.gz.signed");
    inst.create_org("Beta");
    let other = Inst::new("refusals-other");
    other.create_org("Mallory");
    let untrusted = other.backup("untrusted.db.gz.signed");

    let bytes = std::fs::read(&good).expect("read");
    let (payload, _, _) = split(&good);
    let tampered = inst.path("tampered.signed");
    let mut t = bytes.clone();
    t[payload.len() / 2] ^= 0x40;
    std::fs::write(&tampered, &t).expect("write");
    let truncated = inst.path("truncated.signed");
    std::fs::write(&truncated, &bytes[..bytes.len() - 5]).expect("write");
    let half = inst.path("half.signed");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).expect("write");
    let unsigned = inst.path("unsigned.db.gz");
    std::fs::write(&unsigned, &payload).expect("write");
    let empty = inst.path("empty.signed");
    std::fs::write(&empty, b"").expect("write");

    let state = |i: &Inst| {
        (
            i.json(&["org", "list"]),
            i.json(&["signers", "list"]),
            i.json(&["maintenance", "status"]),
        )
    };
    let before = state(&inst);
    let cases: [(&Path, &str, i32, &str); 8] = [
        (&tampered, "CONFIRM RESTORE", 1, "signature does not match"),
        (&truncated, "CONFIRM RESTORE", 1, "no signature trailer"),
        (&half, "CONFIRM RESTORE", 1, "no signature trailer"),
        (&unsigned, "CONFIRM RESTORE", 1, "no signature trailer"),
        (&empty, "CONFIRM RESTORE", 1, "too short"),
        (&untrusted, "CONFIRM RESTORE", 1, "untrusted key"),
        (&good, "confirm restore", 2, "CONFIRM RESTORE"),
        (&good, "", 2, "CONFIRM RESTORE"),
    ];
    for (file, phrase, code, needle) in cases {
        let out = inst.restore(file, phrase, code);
        assert!(
            stderr(&out).contains(needle),
            "{}: {}",
            file.display(),
            stderr(&out)
        );
        assert_eq!(state(&inst), before, "{} changed data", file.display());
        assert_eq!(inst.slugs(), ["alpha", "beta"]);
        assert!(
            temp_leftovers(&inst).is_empty(),
            "{:?}",
            temp_leftovers(&inst)
        );
    }
    // --json errors are machine-readable too.
    let out = inst
        .cmd()
        .args(["admin", "restore", "--json"])
        .arg_path(&tampered)
        .args(["--confirm", "CONFIRM RESTORE"])
        .assert_exit(1);
    assert_eq!(stdout_json(&out)["error"]["code"], "bad_backup");
    // --verify-only accepts the good file and changes nothing.
    inst.cmd()
        .args(["admin", "restore", "--verify-only"])
        .arg_path(&good)
        .assert_exit(0);
    assert_eq!(inst.slugs(), ["alpha", "beta"]);
}

#[test]
fn cross_instance_restore_after_importing_the_source_signer() {
    let src = Inst::new("cross-src");
    src.create_org("Source Org");
    let file = src.backup("src.db.gz.signed");
    let src_key = src.json(&["signing-key"]);
    let pem = src
        .dir
        .write("src.pem", src_key["public_key_pem"].as_str().expect("pem"));

    let dst = Inst::new("cross-dst");
    let dst_id = instance_id(&dst);
    let dst_key = dst.json(&["signing-key"]);
    let out = dst.restore(&file, "CONFIRM RESTORE", 1);
    assert!(
        stderr(&out).contains(src_key["fingerprint"].as_str().expect("fp")),
        "{}",
        stderr(&out)
    );
    assert!(dst.slugs().is_empty());

    let added = dst.json(&[
        "signers",
        "add",
        "--label",
        "Source instance",
        "--pem",
        pem.to_str().expect("utf-8"),
    ]);
    assert_eq!(added["fingerprint"], src_key["fingerprint"]);
    let out = dst.restore(&file, "CONFIRM RESTORE", 0);
    assert!(stdout(&out).contains("Source instance"), "{}", stdout(&out));
    assert_eq!(dst.slugs(), ["source-org"]);
    // The destination keeps its identity, its signing key and its trust configuration.
    assert_eq!(instance_id(&dst), dst_id);
    assert_ne!(instance_id(&src), dst_id);
    assert_eq!(dst.json(&["signing-key"]), dst_key);
    let signers = dst.json(&["signers", "list"]);
    assert_eq!(signers.as_array().expect("array").len(), 1);
    assert_eq!(signers[0]["label"], "Source instance");
}

#[test]
fn restore_while_serve_runs_is_seen_without_restart() {
    let inst = licensed("live", 5);
    inst.create_org("Alpha");
    let file = inst.backup("b.db.gz.signed");
    inst.create_org("Beta");
    let mut app = Appliance::start_with(&inst.dir, inst.cmd());
    assert_eq!(app.get("/ready").status(), 200);
    // A backup taken while the server runs is a consistent, verifiable snapshot.
    let during = inst.backup("during.db.gz.signed");
    inst.cmd()
        .args(["admin", "restore", "--verify-only"])
        .arg_path(&during)
        .assert_exit(0);
    inst.restore(&file, "CONFIRM RESTORE", 0);
    let ready = app.get("/ready");
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().expect("json");
    let version = stdout(&inst.cmd().arg("version").assert_exit(0));
    let schema = regex::Regex::new(r"schema (\d+)")
        .expect("re")
        .captures(&version)
        .and_then(|c| c[1].parse::<u64>().ok())
        .expect("schema in version output");
    assert_eq!(ready["schema_version"], schema);
    assert_eq!(inst.slugs(), ["alpha"]);
    // The server keeps working on the restored file and shuts down cleanly.
    for _ in 0..5 {
        assert_eq!(app.get("/ready").status(), 200);
    }
    assert!(app.stop().success(), "{}", app.log());
    assert_eq!(inst.slugs(), ["alpha"]);
    // Restoring the snapshot taken while serving brings Beta back.
    inst.restore(&during, "CONFIRM RESTORE", 0);
    assert_eq!(inst.slugs(), ["alpha", "beta"]);
}

#[test]
fn trusted_signers_accept_only_foreign_p256_keys() {
    let inst = Inst::new("signers");
    let gen_key = |args: &[&str], name: &str| -> PathBuf {
        let key = inst.path(&format!("{name}.key"));
        let st = Command::new(require_tool("openssl"))
            .args(args)
            .arg("-out")
            .arg(&key)
            .status()
            .expect("openssl");
        assert!(st.success());
        let pubp = inst.path(&format!("{name}.pub.pem"));
        let st = Command::new(require_tool("openssl"))
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&pubp)
            .status()
            .expect("openssl");
        assert!(st.success());
        pubp
    };
    let p256 = gen_key(
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
        "p256",
    );
    let ed = gen_key(&["genpkey", "-algorithm", "ed25519"], "ed");
    let p384 = gen_key(
        &["ecparam", "-name", "secp384r1", "-genkey", "-noout"],
        "p384",
    );
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();

    for bad in [&ed, &p384] {
        let out = inst.admin(&["signers", "add", "--label", "X", "--pem", &s(bad)], 1);
        assert!(stderr(&out).contains("P-256"), "{}", stderr(&out));
    }
    let own = inst.dir.write(
        "own.pem",
        inst.json(&["signing-key"])["public_key_pem"]
            .as_str()
            .expect("pem"),
    );
    let out = inst.admin(&["signers", "add", "--label", "Me", "--pem", &s(&own)], 1);
    assert!(stderr(&out).contains("own signing key"), "{}", stderr(&out));
    inst.admin(&["signers", "add", "--label", " ", "--pem", &s(&p256)], 2);

    let added = inst.json(&["signers", "add", "--label", "Staging", "--pem", &s(&p256)]);
    let fp = added["fingerprint"].as_str().expect("fp").to_string();
    let out = inst.admin(
        &["signers", "add", "--label", "Again", "--pem", &s(&p256)],
        1,
    );
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let list = inst.json(&["signers", "list"]);
    assert_eq!(list.as_array().expect("array").len(), 1);
    assert_eq!(list[0]["label"], "Staging");
    inst.admin(&["signers", "remove", &fp], 0);
    assert_eq!(inst.json(&["signers", "list"]), serde_json::json!([]));
    inst.admin(&["signers", "remove", &fp], 1);
    inst.admin(&["signers", "remove", "not-hex"], 2);
}

#[test]
fn signing_key_from_backup_signing_key_env() {
    let inst = Inst::new("signkey-env");
    let key = inst.path("k.pem");
    assert!(
        Command::new(require_tool("openssl"))
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out"
            ])
            .arg(&key)
            .status()
            .expect("openssl")
            .success()
    );
    let pem = std::fs::read_to_string(&key).expect("read");
    let inst = inst.with_env("BACKUP_SIGNING_KEY", &pem);
    let info = inst.json(&["signing-key"]);
    let pubout = Command::new(require_tool("openssl"))
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .expect("openssl");
    assert_eq!(
        info["public_key_pem"].as_str().expect("pem"),
        stdout(&pubout)
    );
    assert!(!inst.dir.data_dir().join("backup-signing-key.pem").exists());
    // Without it, a key is generated into the data dir with mode 0600 and kept.
    let plain = Inst::new("signkey-gen");
    let a = plain.json(&["signing-key"]);
    let b = plain.json(&["signing-key"]);
    assert_eq!(a, b);
    assert_eq!(
        mode(&plain.dir.data_dir().join("backup-signing-key.pem")),
        0o600
    );
    assert_ne!(a["fingerprint"], info["fingerprint"]);
}

#[test]
fn license_statuses_install_and_limits() {
    let (kp, pem) = license_key();
    let inst = Inst::new("license").with_env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem);
    let s = inst.json(&["license", "status"]);
    assert_eq!(s["state"], "missing");
    assert_eq!(s["effective_max_orgs"], 1);

    let garbage = inst.dir.write("garbage.jwt", "not-a-jwt");
    let out = inst.admin(&["license", "install", garbage.to_str().expect("utf-8")], 1);
    assert!(stderr(&out).contains("license refused"), "{}", stderr(&out));
    assert_eq!(inst.json(&["license", "status"])["state"], "missing");

    let good = inst.dir.write(
        "good.jwt",
        &mint(
            &kp,
            serde_json::json!({"max_workspaces": 7, "max_orgs": 2}),
            None,
        ),
    );
    let s = inst.json(&["license", "install", good.to_str().expect("utf-8")]);
    assert_eq!(s["state"], "valid", "{s}");
    assert_eq!(s["licensee"], "Acme Corp");
    assert_eq!(s["max_workspaces"], 7);
    assert_eq!(s["max_orgs"], 2);
    assert_eq!(mode(&inst.dir.data_dir().join("license.jwt")), 0o600);
    assert_eq!(inst.json(&["license", "status"])["state"], "valid");

    // max_orgs is enforced with a clear message.
    inst.create_org("One");
    inst.create_org("Two");
    let out = inst.admin(&["org", "create", "--name", "Three"], 1);
    assert!(
        stderr(&out).contains("organization limit reached"),
        "{}",
        stderr(&out)
    );
    assert_eq!(inst.slugs(), ["one", "two"]);

    // max_orgs defaults to 1.
    let default_orgs = inst.dir.write(
        "default.jwt",
        &mint(&kp, serde_json::json!({"max_workspaces": 3}), None),
    );
    let s = stdout_json(
        &inst
            .cmd()
            .env("LICENSE_KEY_FILE", default_orgs.to_str().expect("utf-8"))
            .args(["admin", "--json", "license", "status"])
            .assert_exit(0),
    );
    assert_eq!(s["max_orgs"], 1);

    let expired = inst.dir.write(
        "expired.jwt",
        &mint(
            &kp,
            serde_json::json!({"max_workspaces": 3}),
            Some(1_600_000_000),
        ),
    );
    let s = stdout_json(
        &inst
            .cmd()
            .env("LICENSE_KEY_FILE", expired.to_str().expect("utf-8"))
            .args(["admin", "--json", "license", "status"])
            .assert_exit(0),
    );
    assert_eq!(s["state"], "expired", "{s}");
    assert!(
        s["reason"].as_str().expect("reason").contains("2020-09-13"),
        "{s}"
    );
    let out = inst.admin(&["license", "install", expired.to_str().expect("utf-8")], 1);
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));

    let (other, _) = license_key();
    let forged = inst.dir.write(
        "forged.jwt",
        &mint(
            &other,
            serde_json::json!({"max_workspaces": 999, "max_orgs": 99}),
            None,
        ),
    );
    let s = stdout_json(
        &inst
            .cmd()
            .env("LICENSE_KEY_FILE", forged.to_str().expect("utf-8"))
            .args(["admin", "--json", "license", "status"])
            .assert_exit(0),
    );
    assert_eq!(s["state"], "invalid", "{s}");
    assert_eq!(s["effective_max_orgs"], 1);
    // The installed license is still the valid one.
    assert_eq!(inst.json(&["license", "status"])["state"], "valid");
}

/// A minimal SMTP sink: accepts one session and returns the raw transcript.
fn smtp_sink() -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        let mut w = stream.try_clone().expect("clone");
        let mut r = BufReader::new(stream);
        let mut transcript = String::new();
        w.write_all(b"220 sink ESMTP\r\n").expect("greet");
        let mut in_data = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            transcript.push_str(&line);
            if in_data {
                if line == ".\r\n" {
                    in_data = false;
                    w.write_all(b"250 queued\r\n").expect("write");
                }
                continue;
            }
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("DATA") {
                in_data = true;
                b"354 go ahead\r\n"
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").expect("write");
                break;
            } else {
                b"250 ok\r\n"
            };
            w.write_all(reply).expect("write");
        }
        transcript
    });
    (port, handle)
}

#[test]
fn maintenance_enable_alert_and_clear() {
    let (port, sink) = smtp_sink();
    let inst = Inst::new("maintenance")
        .with_env("MAINTENANCE_ALERT_EMAIL", "ops@example.com")
        .with_env("SMTP_HOST", "127.0.0.1")
        .with_env("SMTP_PORT", &port.to_string())
        .with_env("SMTP_USE_TLS", "false")
        .with_env("SMTP_FROM_ADDRESS", "rampart@example.com");
    let s = inst.json(&["maintenance", "status"]);
    assert_eq!(s["active"], false);
    inst.admin(&["maintenance", "enable"], 2);
    let out = inst.admin(
        &["maintenance", "enable", "--reason", "LLM quota exhausted"],
        0,
    );
    assert!(
        stderr(&out).contains("alert email sent"),
        "{}",
        stderr(&out)
    );
    let mail = sink.join().expect("sink");
    assert!(mail.contains("RCPT TO:<ops@example.com>"), "{mail}");
    assert!(mail.contains("MAIL FROM:<rampart@example.com>"), "{mail}");
    assert!(mail.contains("maintenance mode is active"), "{mail}");
    assert!(mail.contains("LLM quota exhausted"), "{mail}");

    let s = inst.json(&["maintenance", "status"]);
    assert_eq!(s["active"], true);
    assert_eq!(s["reason"], "LLM quota exhausted");
    assert_eq!(s["tripped_by"], "cli");
    assert!(s["tripped_at"].as_str().expect("time").starts_with("20"));
    let s = inst.json(&["maintenance", "clear"]);
    assert_eq!(s["active"], false);
    assert_eq!(inst.json(&["maintenance", "status"])["active"], false);
}

#[test]
fn maintenance_alert_failure_never_blocks() {
    // Nothing listens on this port: the alert fails, the state change still succeeds.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let inst = Inst::new("maintenance-nosmtp")
        .with_env("MAINTENANCE_ALERT_EMAIL", "ops@example.com")
        .with_env("SMTP_HOST", "127.0.0.1")
        .with_env("SMTP_PORT", &port.to_string())
        .with_env("SMTP_USE_TLS", "false");
    let out = inst.admin(&["maintenance", "enable", "--reason", "disk"], 0);
    assert!(
        stderr(&out).contains("alert email not sent"),
        "{}",
        stderr(&out)
    );
    assert_eq!(inst.json(&["maintenance", "status"])["active"], true);
}

#[test]
fn org_isolation_create_and_crypto_shred() {
    let inst = Inst::new("orgs").with_env("ORG_DB_ISOLATION", "true");
    inst.admin(&["org", "create", "--name", "X", "--slug", "Bad Slug"], 2);
    let org = inst.json(&["org", "create", "--name", "Acme Corp", "--description", "d"]);
    assert_eq!(org["slug"], "acme-corp");
    assert_eq!(org["isolated"], true);
    let id = org["id"].as_str().expect("id").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let db = inst.dir.data_dir().join("orgs").join(format!("{id}.db"));
    assert!(db.exists());
    assert!(
        !std::fs::read(&db)
            .expect("read")
            .starts_with(b"SQLite format 3")
    );
    // The slug is unique.
    inst.admin(&["org", "create", "--name", "Acme Corp"], 1);

    let out = inst.admin(&["org", "shred", "acme-corp", "--confirm", "acme"], 2);
    assert!(stderr(&out).contains("acme-corp"), "{}", stderr(&out));
    assert!(db.exists());
    inst.admin(&["org", "shred", "nope", "--confirm", "nope"], 1);

    let shredded = inst.json(&["org", "shred", "acme-corp", "--confirm", "acme-corp"]);
    assert!(shredded["shredded_at"].is_string(), "{shredded}");
    assert!(!db.exists());
    let list = inst.json(&["org", "list"]);
    assert_eq!(list[0]["slug"], "acme-corp");
    assert_eq!(list[0]["isolated"], false);
    assert!(list[0]["shredded_at"].is_string());
    inst.admin(&["org", "shred", "acme-corp", "--confirm", "acme-corp"], 1);

    // The shred is in the audit log (read from a backup's plaintext image).
    let file = inst.backup("b.db.gz.signed");
    let (payload, _, _) = split(&file);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&payload[..])
        .read_to_end(&mut plain)
        .expect("gunzip");
    assert!(String::from_utf8_lossy(&plain).contains("crypto-shredded"));
    // No wrapped key survives in the platform DB.
    let dumped = dump(&inst, &file);
    let row = dumped
        .lines()
        .find(|l| l.starts_with("INSERT INTO orgs"))
        .expect("org row");
    assert_eq!(row.matches("NULL").count(), 2, "{row}");
}

#[test]
fn packaging_mint_license_script_produces_licenses_rampart_accepts() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/mint-license.sh");
    let inst = Inst::new("mint-script");
    let key = inst.path("vendor.key");
    let keygen = Command::new(&script)
        .arg("keygen")
        .arg(&key)
        .output()
        .expect("run mint-license.sh");
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    assert_eq!(mode(&key), 0o600);
    let inst = inst.with_env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &stdout(&keygen));
    let lic = inst.path("lic.jwt");
    let st = Command::new(&script)
        .args(["mint", "--key"])
        .arg(&key)
        .args([
            "--licensee",
            "Script Co",
            "--max-workspaces",
            "4",
            "--max-orgs",
            "2",
        ])
        .args(["--days", "10", "--out"])
        .arg(&lic)
        .status()
        .expect("mint");
    assert!(st.success());
    let s = inst.json(&["license", "install", lic.to_str().expect("utf-8")]);
    assert_eq!(s["state"], "valid", "{s}");
    assert_eq!(s["licensee"], "Script Co");
    assert_eq!(s["max_orgs"], 2);
    let expired = inst.path("old.jwt");
    let st = Command::new(&script)
        .args(["mint", "--key"])
        .arg(&key)
        .args([
            "--licensee",
            "Old",
            "--max-workspaces",
            "4",
            "--expires",
            "1000",
        ])
        .arg("--out")
        .arg(&expired)
        .status()
        .expect("mint");
    assert!(st.success());
    let out = inst
        .cmd()
        .env("LICENSE_KEY_FILE", expired.to_str().expect("utf-8"))
        .args(["admin", "--json", "license", "status"])
        .assert_exit(0);
    assert_eq!(stdout_json(&out)["state"], "expired");
}

#[test]
fn per_org_backup_is_signed_by_the_org_key_and_restores_only_into_that_org() {
    let (kp, pem) = license_key();
    let inst = Inst::new("orgbackup")
        .with_env("ORG_DB_ISOLATION", "true")
        .with_env("RAMPART_LICENSE_EXTRA_PUBLIC_KEY", &pem);
    let lic = inst.dir.write(
        "lic.jwt",
        &mint(
            &kp,
            serde_json::json!({"max_workspaces": 5, "max_orgs": 3}),
            None,
        ),
    );
    inst.admin(&["license", "install", lic.to_str().expect("utf-8")], 0);
    inst.create_org("Acme");
    inst.create_org("Globex");
    let file = inst.path("acme.signed");
    inst.admin(
        &[
            "backup",
            "--org",
            "acme",
            "--out",
            file.to_str().expect("utf-8"),
        ],
        0,
    );
    let org_key = inst.json(&["signing-key", "--org", "acme"]);
    let instance_key = inst.json(&["signing-key"]);
    assert_ne!(org_key["fingerprint"], instance_key["fingerprint"]);
    let (payload, fp, sig) = split(&file);
    assert_eq!(
        hex::encode(fp),
        org_key["fingerprint"].as_str().expect("fp")
    );
    let pub_pem = inst
        .dir
        .write("org.pem", org_key["public_key_pem"].as_str().expect("pem"));
    let payload_path = inst.path("p.gz");
    std::fs::write(&payload_path, &payload).expect("write");
    let sig_path = inst.path("s.der");
    std::fs::write(&sig_path, &sig).expect("write");
    let out = Command::new(require_tool("openssl"))
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pub_pem)
        .arg("-signature")
        .arg(&sig_path)
        .arg(&payload_path)
        .output()
        .expect("openssl");
    assert!(stdout(&out).contains("Verified OK"), "{}", stderr(&out));

    // Into its own org: accepted. Into another org or the platform: refused.
    let ok = inst
        .cmd()
        .args([
            "admin",
            "restore",
            "--org",
            "acme",
            "--confirm",
            "CONFIRM RESTORE",
        ])
        .arg_path(&file)
        .assert_exit(0);
    assert!(stdout(&ok).contains("organization acme"), "{}", stdout(&ok));
    let out = inst
        .cmd()
        .args([
            "admin",
            "restore",
            "--org",
            "globex",
            "--confirm",
            "CONFIRM RESTORE",
        ])
        .arg_path(&file)
        .assert_exit(1);
    assert!(stderr(&out).contains("untrusted"), "{}", stderr(&out));
    let out = inst.restore(&file, "CONFIRM RESTORE", 1);
    assert!(stderr(&out).contains("untrusted"), "{}", stderr(&out));
    // Shredded orgs can neither be backed up nor restored.
    inst.admin(&["org", "shred", "acme", "--confirm", "acme"], 0);
    let out = inst.admin(
        &[
            "backup",
            "--org",
            "acme",
            "--out",
            inst.path("x").to_str().expect("utf-8"),
        ],
        1,
    );
    assert!(stderr(&out).contains("crypto-shredded"), "{}", stderr(&out));
    inst.cmd()
        .args([
            "admin",
            "restore",
            "--org",
            "acme",
            "--confirm",
            "CONFIRM RESTORE",
        ])
        .arg_path(&file)
        .assert_exit(1);
}

#[test]
fn restore_needs_the_restoring_superadmins_password_once_users_exist_and_ends_sessions() {
    use crate::harness::{Client, PASSWORD};
    let inst = Inst::new("restore-auth");
    let out = inst
        .cmd()
        .args([
            "admin",
            "setup",
            "--email",
            "root@example.com",
            "--name",
            "Root",
        ])
        .arg("--password-stdin")
        .output_with_stdin(&format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    // An admin with a different password: neither their identity nor their password helps.
    let out = inst
        .cmd()
        .args([
            "admin",
            "user",
            "create",
            "--email",
            "adm@example.com",
            "--name",
            "Adm",
            "--role",
            "admin",
        ])
        .arg("--password-stdin")
        .output_with_stdin("Admin-Password-8\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let file = inst.backup("b.db.gz.signed");
    let app = Appliance::start_with(&inst.dir, inst.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    let client = Client::login(&app, "root@example.com", PASSWORD);
    assert_ne!(client.get("/api/me").status(), 401);

    let restore = |user: Option<&str>, stdin: Option<&str>| {
        let mut c = inst
            .cmd()
            .args(["admin", "restore", "--confirm", "CONFIRM RESTORE"])
            .arg_path(&file);
        if let Some(u) = user {
            c = c.args(["--user", u]);
        }
        match stdin {
            Some(p) => c.arg("--password-stdin").output_with_stdin(p),
            None => c.output(),
        }
    };
    let out = restore(None, Some(&format!("{PASSWORD}\n"))).check(1);
    assert!(
        stderr(&out).contains("name the superadmin restoring"),
        "{}",
        stderr(&out)
    );
    let out = restore(Some("root@example.com"), None).check(1);
    assert!(
        stderr(&out).contains("own password is required"),
        "{}",
        stderr(&out)
    );
    let out = restore(Some("root@example.com"), Some("Wrong-Password-1\n")).check(1);
    assert!(
        stderr(&out).contains("password rejected"),
        "{}",
        stderr(&out)
    );
    // Any other admin's password is not the restoring person's password.
    let out = restore(Some("root@example.com"), Some("Admin-Password-8\n")).check(1);
    assert!(
        stderr(&out).contains("password rejected"),
        "{}",
        stderr(&out)
    );
    // An admin cannot restore at all, even with their own password.
    let out = restore(Some("adm@example.com"), Some("Admin-Password-8\n")).check(1);
    assert!(
        stderr(&out).contains("not an enabled superadmin"),
        "{}",
        stderr(&out)
    );
    // Refusals changed nothing: the session still works.
    assert_ne!(client.get("/api/me").status(), 401);

    restore(Some("root@example.com"), Some(&format!("{PASSWORD}\n"))).check(0);
    // The running server sees the restored data at once: sessions are gone, the account
    // (restored from the backup) still signs in.
    assert_eq!(client.get("/api/me").status(), 401);
    let again = Client::login(&app, "root@example.com", PASSWORD);
    assert_ne!(again.get("/api/me").status(), 401);
    // The audit log names the person and the operator's OS account.
    let (_, events) = crate::harness::json(again.get("/api/admin/events"));
    let restore_event = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"] == "restore")
        .expect("restore event")
        .clone();
    let detail = restore_event["detail"].as_str().expect("detail");
    assert!(
        detail.contains("root@example.com via cli (uid "),
        "{restore_event}"
    );
    assert!(!restore_event["actor"].as_str().expect("actor").is_empty());
    // The refused attempts before it survive the restore (the live audit log is kept).
    let refused = events
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "restore_refused")
        .count();
    assert!(refused >= 4, "{events}");
}

/// A REST request as `client` inside workspace `ws` (the `X-Workspace-Id` header).
fn in_workspace(
    client: &Client,
    method: reqwest::Method,
    path: &str,
    ws: &str,
) -> reqwest::blocking::RequestBuilder {
    let mut r = client
        .http
        .request(method, format!("{}{path}", client.base))
        .header("X-Workspace-Id", ws);
    if let Some(c) = &client.cookie {
        r = r.header("Cookie", format!("rampart_session={c}"));
    }
    if let Some(t) = &client.csrf {
        r = r.header("X-CSRF-Token", t);
    }
    r
}

#[test]
fn org_cli_update_members_workspaces_isolate_and_delete() {
    let inst = Inst::new("orgcli");
    cli_setup(&inst.dir, "admin@example.com");
    cli_user(&inst.dir, "bob@example.com", "user");
    let org = inst.json(&["org", "create", "--name", "Acme", "--description", "first"]);
    let org_id = org["id"].as_str().expect("id").to_string();
    assert_eq!(org["isolated"], false);
    assert_eq!(
        (org["max_workspaces"].as_u64(), org["max_members"].as_u64()),
        (Some(0), Some(0))
    );

    // update: at least one change; bad values and unknown orgs change nothing.
    let out = inst.admin(&["org", "update", "acme"], 2);
    assert!(
        stderr(&out).contains("nothing to change"),
        "{}",
        stderr(&out)
    );
    inst.admin(&["org", "update", "acme", "--max-members", "-1"], 2);
    inst.admin(&["org", "update", "acme", "--max-members", "2000000"], 2);
    inst.admin(&["org", "update", "acme", "--name", " "], 2);
    inst.admin(&["org", "update", "nope", "--name", "X"], 1);
    assert_eq!(inst.json(&["org", "list"])[0]["name"], "Acme");
    let updated = inst.json(&[
        "org",
        "update",
        "acme",
        "--name",
        "Acme Inc",
        "--max-members",
        "1",
        "--max-workspaces",
        "1",
    ]);
    assert_eq!(updated["name"], "Acme Inc");
    assert_eq!(updated["description"], "first", "untouched fields stay");
    assert_eq!(
        (
            updated["max_workspaces"].as_u64(),
            updated["max_members"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let text = stdout(&inst.admin(&["org", "list"], 0));
    assert!(text.contains("workspaces 0/1  members 0/1"), "{text}");

    // Members: add with a role, the member limit names itself, unknown accounts and roles.
    let m = inst.json(&[
        "org",
        "add-member",
        "acme",
        "--email",
        "bob@example.com",
        "--role",
        "org_admin",
    ]);
    assert_eq!(
        (m["email"].as_str(), m["role"].as_str()),
        (Some("bob@example.com"), Some("org_admin"))
    );
    let out = inst.admin(
        &["org", "add-member", "acme", "--email", "admin@example.com"],
        1,
    );
    assert!(
        stderr(&out).contains("member limit reached") && stderr(&out).contains("max_members = 1"),
        "{}",
        stderr(&out)
    );
    inst.admin(
        &["org", "add-member", "acme", "--email", "nobody@example.com"],
        1,
    );
    inst.admin(
        &[
            "org",
            "add-member",
            "acme",
            "--email",
            "bob@example.com",
            "--role",
            "owner",
        ],
        2,
    );
    let m = inst.json(&[
        "org",
        "add-member",
        "acme",
        "--email",
        "bob@example.com",
        "--role",
        "member",
    ]);
    assert_eq!(
        m["role"], "member",
        "an existing member changes role, within the limit"
    );
    let members = inst.json(&["org", "members", "acme"]);
    assert_eq!(members.as_array().expect("members").len(), 1);
    assert_eq!(members[0]["role"], "member");
    assert!(
        stdout(&inst.admin(&["org", "members", "acme"], 0)).contains("bob@example.com  member")
    );
    inst.admin(&["org", "members", "nope"], 1);

    // A workspace in the org, with a model, made by bob through the REST API.
    let app = Appliance::start_with(&inst.dir, inst.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false"));
    let bob = Client::login(&app, "bob@example.com", PASSWORD);
    let (status, ws) = json(bob.post(
        "/api/workspaces",
        serde_json::json!({"name": "Payments", "organization_id": org_id}),
    ));
    assert_eq!(status, 201, "{ws}");
    let ws = ws["id"].as_str().expect("workspace id").to_string();
    let (status, body) = json(bob.post(
        "/api/workspaces",
        serde_json::json!({"name": "Second", "organization_id": org_id}),
    ));
    assert_eq!(status, 403, "the org limit set by the CLI applies: {body}");
    assert!(body.to_string().contains("max_workspaces"), "{body}");
    let resp = in_workspace(&bob, reqwest::Method::POST, "/api/models?wait=true", &ws)
        .json(&serde_json::json!({"feature_description": "A REST API that stores uploaded invoices in S3 for the payments team."}))
        .send()
        .expect("POST model");
    let (status, model) = json(resp);
    assert_eq!(status, 201, "{model}");
    let model_path = format!("/api/models/{}", model["id"].as_str().expect("model id"));
    let get_model = || {
        in_workspace(&bob, reqwest::Method::GET, &model_path, &ws)
            .send()
            .expect("GET model")
            .status()
            .as_u16()
    };
    assert_eq!(get_model(), 200);

    let list = inst.json(&["org", "workspaces", "acme"]);
    assert_eq!(list.as_array().expect("workspaces").len(), 1);
    assert_eq!(list[0]["id"], ws.as_str());
    assert_eq!(list[0]["name"], "Payments");
    assert_eq!(list[0]["member_count"], 1);
    assert!(
        stdout(&inst.admin(&["org", "workspaces", "acme"], 0)).contains("Payments  1 member(s)")
    );

    // Isolate: the data moves into the org's own encrypted file while serve runs; the
    // model stays readable; a second run has nothing to move.
    let report = inst.json(&["org", "isolate", "acme"]);
    assert_eq!(report["moved"], true, "{report}");
    assert_eq!(report["workspaces"], 1);
    assert!(report["rows_moved"].as_u64().expect("rows") > 0, "{report}");
    let org_db = inst
        .dir
        .data_dir()
        .join("orgs")
        .join(format!("{org_id}.db"));
    assert!(org_db.exists());
    assert_eq!(inst.json(&["org", "list"])[0]["isolated"], true);
    assert_eq!(get_model(), 200, "served from the org database now");
    let again = inst.json(&["org", "isolate", "acme"]);
    assert_eq!(
        (again["moved"].as_bool(), again["rows_moved"].as_u64()),
        (Some(false), Some(0))
    );
    assert!(stdout(&inst.admin(&["org", "isolate", "acme"], 0)).contains("nothing to move"));
    inst.admin(&["org", "isolate", "nope"], 1);

    // remove-member refuses to orphan a workspace, and names non-members.
    let out = inst.admin(
        &["org", "remove-member", "acme", "--email", "bob@example.com"],
        1,
    );
    assert!(stderr(&out).contains("last owner"), "{}", stderr(&out));
    assert_eq!(
        inst.json(&["org", "members", "acme"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let out = inst.admin(
        &[
            "org",
            "remove-member",
            "acme",
            "--email",
            "admin@example.com",
            "--json",
        ],
        1,
    );
    assert_eq!(stdout_json(&out)["error"]["code"], "not_found");

    // delete: typed slug; a wrong one changes nothing.
    let out = inst.admin(&["org", "delete", "acme", "--confirm", "Acme"], 2);
    assert!(
        stderr(&out).contains("confirmation does not match"),
        "{}",
        stderr(&out)
    );
    assert_eq!(get_model(), 200);
    assert!(org_db.exists());
    inst.admin(&["org", "delete", "nope", "--confirm", "nope"], 1);
    let deleted = inst.json(&["org", "delete", "acme", "--confirm", "acme"]);
    assert_eq!(deleted["deleted"], "acme");
    assert_eq!(inst.json(&["org", "list"]), serde_json::json!([]));
    assert!(!org_db.exists(), "its database file is gone");
    assert_ne!(get_model(), 200, "the workspace and its model are gone");
    let (_, mine) = json(bob.get("/api/workspaces"));
    assert!(
        !mine.to_string().contains(&ws),
        "bob no longer has the workspace: {mine}"
    );
    drop(app);

    // remove-member on a fresh org: bob leaves the org (no workspace to orphan).
    inst.create_org("Beta");
    inst.admin(
        &["org", "add-member", "beta", "--email", "bob@example.com"],
        0,
    );
    let removed = inst.json(&["org", "remove-member", "beta", "--email", "BOB@example.com"]);
    assert_eq!(removed["removed"], "bob@example.com");
    assert_eq!(
        inst.json(&["org", "members", "beta"]),
        serde_json::json!([])
    );
    assert!(stdout(&inst.admin(&["org", "members", "beta"], 0)).contains("no members"));
}
