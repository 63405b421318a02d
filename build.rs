//! Build metadata for `rampart version`: the source commit and the build date, so an operator
//! can tell exactly what is installed.
//!
//! The commit comes from, in order: `git` when this directory is the top of a git work tree;
//! `packaging/source-commit`, which `git archive` fills in (`export-subst` in
//! `.gitattributes`), so a release tarball without `.git` still knows its commit; else
//! `unknown`. The build date is `SOURCE_DATE_EPOCH` when set (reproducible builds), else the
//! time this script ran, in UTC.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

const ARCHIVE_COMMIT_FILE: &str = "packaging/source-commit";

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={ARCHIVE_COMMIT_FILE}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");

    let commit = git_commit(&root)
        .or_else(|| archive_commit(&root))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");

    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    println!("cargo:rustc-env=BUILD_DATE={}", utc_timestamp(epoch));
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The commit of the git work tree whose top is `root` (not of an enclosing repository, as when
/// a tarball is unpacked inside another checkout), and rebuild triggers for when it moves.
fn git_commit(root: &Path) -> Option<String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    let commit = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD itself (checkout), the branch it points at (commit), and
    // packed-refs. Only files that exist: a missing one would make cargo rerun every time.
    let abs = |p: String| {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { root.join(p) }
    };
    let mut watch = Vec::new();
    if let Some(dir) = git(root, &["rev-parse", "--git-dir"]) {
        watch.push(abs(dir).join("HEAD"));
    }
    if let Some(common) = git(root, &["rev-parse", "--git-common-dir"]) {
        let common = abs(common);
        watch.push(common.join("packed-refs"));
        if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
            watch.push(common.join(branch));
        }
    }
    for p in watch.iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    Some(commit)
}

/// The commit `git archive` wrote into [`ARCHIVE_COMMIT_FILE`] (`$Format:%H$` before that).
fn archive_commit(root: &Path) -> Option<String> {
    let text = std::fs::read_to_string(root.join(ARCHIVE_COMMIT_FILE)).ok()?;
    let hash = text.trim();
    (hash.len() >= 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hash[..12].to_ascii_lowercase())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian calendar).
fn utc_timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}
