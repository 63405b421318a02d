//! The on-prem license: a JWT (ES256) signed by the vendor key compiled into this binary,
//! or by the optional extra key `license.extra_public_key`. Claims: `sub` (licensee),
//! `max_workspaces` (required), `max_orgs` (default 1), `exp` (optional; absent means no
//! expiry).
//!
//! Without a valid license (missing, expired or invalid) the instance runs with the
//! evaluation limits [`UNLICENSED_MAX_WORKSPACES`] and [`UNLICENSED_MAX_ORGS`]; the status
//! says why. Limit checks return [`Error::Limit`], which the HTTP face maps to 403.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey, VerificationOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AdminService, Error, Result, io_err};

/// The vendor's license-signing public key, compiled in. Its private key is never in this
/// repository.
pub const VENDOR_PUBLIC_KEY_PEM: &str = include_str!("license_vendor_key.pem");

/// File name of an installed license inside the data dir.
pub const LICENSE_FILE: &str = "license.jwt";

/// Workspaces allowed without a valid license.
pub const UNLICENSED_MAX_WORKSPACES: u64 = 10;

/// Organizations allowed without a valid license.
pub const UNLICENSED_MAX_ORGS: u64 = 1;

/// Largest license file read.
const MAX_LICENSE_BYTES: u64 = 64 * 1024;

/// Overall state of the license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// Signed by a trusted key, not expired, claims complete.
    Valid,
    /// Correctly signed but past `exp`.
    Expired,
    /// Unreadable, badly signed, or missing required claims.
    Invalid,
    /// No license file.
    Missing,
}

/// License status, as the TUI and `GET /api/admin/license` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LicenseStatus {
    /// valid / expired / invalid / missing.
    pub state: LicenseState,
    /// Why it is not valid (absent when valid).
    pub reason: Option<String>,
    /// The file read.
    pub path: PathBuf,
    /// `sub` claim.
    pub licensee: Option<String>,
    /// `max_workspaces` claim.
    pub max_workspaces: Option<u64>,
    /// `max_orgs` claim (1 when absent).
    pub max_orgs: Option<u64>,
    /// `exp` as RFC 3339 UTC.
    pub expires_at: Option<String>,
    /// Which key signed it: `vendor` or `extra`.
    pub signed_by: Option<String>,
    /// Workspace limit in force now (license or evaluation limit).
    pub effective_max_workspaces: u64,
    /// Organization limit in force now.
    pub effective_max_orgs: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LicenseClaims {
    #[serde(default)]
    max_workspaces: Option<u64>,
    #[serde(default)]
    max_orgs: Option<u64>,
}

impl AdminService {
    /// Where the license is read from: `license.key_file`, else the installed copy.
    pub fn license_path(&self) -> PathBuf {
        self.config
            .license
            .key_file
            .clone()
            .unwrap_or_else(|| self.data_dir().join(LICENSE_FILE))
    }

    /// Reads and judges the license now.
    pub fn license_status(&self) -> LicenseStatus {
        let path = self.license_path();
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return unlicensed(path, LicenseState::Missing, "no license file".into());
            }
            Err(e) => {
                let msg = format!("cannot read {}: {e}", path.display());
                return unlicensed(path, LicenseState::Invalid, msg);
            }
            Ok(m) if m.len() > MAX_LICENSE_BYTES => {
                return unlicensed(
                    path,
                    LicenseState::Invalid,
                    "file is too large to be a license".into(),
                );
            }
            Ok(_) => {}
        }
        match std::fs::read_to_string(&path) {
            Ok(token) => self.evaluate(&token, path),
            Err(e) => {
                let msg = format!("cannot read {}: {e}", path.display());
                unlicensed(path, LicenseState::Invalid, msg)
            }
        }
    }

    fn license_keys(&self) -> Vec<(&'static str, std::result::Result<ES256PublicKey, String>)> {
        let mut keys = vec![(
            "vendor",
            ES256PublicKey::from_pem(VENDOR_PUBLIC_KEY_PEM.trim())
                .map_err(|e| format!("built-in vendor key: {e}")),
        )];
        let extra = self.config.license.extra_public_key.trim();
        if !extra.is_empty() {
            keys.push((
                "extra",
                ES256PublicKey::from_pem(extra)
                    .map_err(|_| "license.extra_public_key is not a P-256 PEM public key".into()),
            ));
        }
        keys
    }

    /// Judges a license token (its signature, claims and expiry).
    fn evaluate(&self, token: &str, path: PathBuf) -> LicenseStatus {
        let token = token.trim();
        let mut last_err = "not signed by a trusted license key".to_string();
        for (name, key) in self.license_keys() {
            let key = match key {
                Ok(k) => k,
                Err(e) => {
                    last_err = e;
                    continue;
                }
            };
            // Expiry is judged below so an expired license is reported as such, not as invalid.
            let opts = VerificationOptions {
                time_tolerance: Some(jwt_simple::prelude::Clock::now_since_epoch()),
                accept_future: true,
                ..Default::default()
            };
            let claims = match key.verify_token::<LicenseClaims>(token, Some(opts)) {
                Ok(c) => c,
                Err(e) => {
                    if !e.to_string().contains("signature") {
                        last_err = format!("not a valid license token: {e}");
                    }
                    continue;
                }
            };
            let licensee = claims.subject.clone();
            let exp = claims.expires_at.map(|t| t.as_secs());
            let expires_at = exp.and_then(|s| {
                chrono::DateTime::from_timestamp(i64::try_from(s).ok()?, 0)
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            });
            let Some(max_workspaces) = claims.custom.max_workspaces else {
                let mut s = unlicensed(
                    path,
                    LicenseState::Invalid,
                    "the license has no max_workspaces claim".into(),
                );
                s.licensee = licensee;
                s.signed_by = Some(name.into());
                return s;
            };
            let max_orgs = claims.custom.max_orgs.unwrap_or(1);
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            let expired = exp.is_some_and(|e| e <= now);
            let mut status = LicenseStatus {
                state: LicenseState::Valid,
                reason: None,
                path,
                licensee,
                max_workspaces: Some(max_workspaces),
                max_orgs: Some(max_orgs),
                expires_at,
                signed_by: Some(name.into()),
                effective_max_workspaces: max_workspaces,
                effective_max_orgs: max_orgs,
            };
            if expired {
                status.state = LicenseState::Expired;
                status.reason = Some(format!(
                    "the license expired at {}",
                    status.expires_at.clone().unwrap_or_default()
                ));
                status.effective_max_workspaces = UNLICENSED_MAX_WORKSPACES;
                status.effective_max_orgs = UNLICENSED_MAX_ORGS;
            }
            return status;
        }
        unlicensed(path, LicenseState::Invalid, last_err)
    }

    /// Validates `file` as a license and installs it as `<data_dir>/license.jwt` (0600),
    /// recording the install. An invalid or expired license is refused and nothing changes.
    pub fn install_license(&self, actor: &str, file: &Path) -> Result<LicenseStatus> {
        let meta = std::fs::metadata(file).map_err(io_err(file))?;
        if meta.len() > MAX_LICENSE_BYTES {
            return Err(Error::Invalid(format!(
                "{} is too large to be a license",
                file.display()
            )));
        }
        let token = std::fs::read_to_string(file).map_err(io_err(file))?;
        let dest = self.data_dir().join(LICENSE_FILE);
        let status = self.evaluate(&token, dest.clone());
        if status.state != LicenseState::Valid {
            return Err(Error::Refused(format!(
                "license refused ({}): {}",
                serde_json::to_value(status.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                status.reason.unwrap_or_default()
            )));
        }
        let tmp = dest.with_extension(format!("jwt.tmp{}", std::process::id()));
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(io_err(&tmp))?;
            f.write_all(token.trim().as_bytes()).map_err(io_err(&tmp))?;
            f.write_all(b"\n").map_err(io_err(&tmp))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        std::fs::rename(&tmp, &dest).map_err(io_err(&dest))?;
        let sha = hex::encode(Sha256::digest(token.trim().as_bytes()));
        let licensee = status.licensee.clone().unwrap_or_default();
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT OR REPLACE INTO license_install (id, path, sha256, licensee, installed_at) VALUES (1, ?1, ?2, ?3, ?4)",
            rusqlite::params![dest.to_string_lossy(), sha, licensee, super::now_rfc3339()],
        )?;
        self.log_event(&tx, "license_install", actor, &licensee, &sha)?;
        tx.commit()?;
        if self
            .config
            .license
            .key_file
            .as_deref()
            .is_some_and(|p| p != dest)
        {
            tracing::warn!(
                "license.key_file is set and takes precedence over the installed license"
            );
        }
        Ok(self.license_status())
    }

    /// May one more workspace be created when `current` exist? `Error::Limit` (403) if not.
    pub fn check_can_create_workspace(&self, current: u64) -> Result<()> {
        let s = self.license_status();
        if current >= s.effective_max_workspaces {
            return Err(Error::Limit(format!(
                "workspace limit reached: {} allows {} workspace(s) and {current} exist{}",
                limit_source(&s),
                s.effective_max_workspaces,
                hint(&s)
            )));
        }
        Ok(())
    }

    /// May one more organization be created when `current` exist? `Error::Limit` (403) if not.
    pub fn check_can_create_org(&self, current: u64) -> Result<()> {
        let s = self.license_status();
        if current >= s.effective_max_orgs {
            return Err(Error::Limit(format!(
                "organization limit reached: {} allows {} organization(s) and {current} exist{}",
                limit_source(&s),
                s.effective_max_orgs,
                hint(&s)
            )));
        }
        Ok(())
    }
}

fn limit_source(s: &LicenseStatus) -> &'static str {
    if s.state == LicenseState::Valid {
        "the license"
    } else {
        "the evaluation mode (no valid license)"
    }
}

fn hint(s: &LicenseStatus) -> String {
    match s.state {
        LicenseState::Valid => "; install a license with a higher limit".into(),
        _ => format!(
            " ({}); install a license with `rampart admin license install FILE`",
            s.reason.clone().unwrap_or_default()
        ),
    }
}

fn unlicensed(path: PathBuf, state: LicenseState, reason: String) -> LicenseStatus {
    LicenseStatus {
        state,
        reason: Some(reason),
        path,
        licensee: None,
        max_workspaces: None,
        max_orgs: None,
        expires_at: None,
        signed_by: None,
        effective_max_workspaces: UNLICENSED_MAX_WORKSPACES,
        effective_max_orgs: UNLICENSED_MAX_ORGS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::testutil::service;
    use jwt_simple::prelude::*;

    fn mint(kp: &ES256KeyPair, custom: serde_json::Value, valid_for: Option<Duration>) -> String {
        let claims = match valid_for {
            Some(d) => Claims::with_custom_claims(custom, d),
            None => Claims::with_custom_claims(custom, Duration::from_days(1))
                .invalid_before(Clock::now_since_epoch()),
        }
        .with_subject("Acme Corp");
        kp.sign(claims).expect("sign")
    }

    #[test]
    fn statuses_and_limits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kp = ES256KeyPair::generate();
        let pem = kp.public_key().to_pem().expect("pem");
        let (svc, _, _) = service(dir.path(), |c| c.license.extra_public_key = pem);
        assert_eq!(svc.license_status().state, LicenseState::Missing);
        svc.check_can_create_org(0).expect("one org in evaluation");
        assert!(matches!(svc.check_can_create_org(1), Err(Error::Limit(_))));

        let good = dir.path().join("good.jwt");
        std::fs::write(
            &good,
            mint(
                &kp,
                serde_json::json!({"max_workspaces": 3, "max_orgs": 2}),
                Some(Duration::from_days(30)),
            ),
        )
        .expect("write");
        let s = svc.install_license("t", &good).expect("install");
        assert_eq!(s.state, LicenseState::Valid, "{s:?}");
        assert_eq!(s.licensee.as_deref(), Some("Acme Corp"));
        assert_eq!(s.signed_by.as_deref(), Some("extra"));
        svc.check_can_create_workspace(2).expect("below limit");
        let err = svc.check_can_create_workspace(3).unwrap_err();
        assert!(err.to_string().contains("allows 3 workspace"), "{err}");
        svc.check_can_create_org(1).expect("second org");

        let no_ws = dir.path().join("nows.jwt");
        std::fs::write(
            &no_ws,
            mint(
                &kp,
                serde_json::json!({"max_orgs": 2}),
                Some(Duration::from_days(30)),
            ),
        )
        .expect("write");
        assert!(matches!(
            svc.install_license("t", &no_ws),
            Err(Error::Refused(_))
        ));
        assert_eq!(
            svc.license_status().state,
            LicenseState::Valid,
            "refused install changed nothing"
        );

        let other = ES256KeyPair::generate();
        let forged = dir.path().join("forged.jwt");
        std::fs::write(
            &forged,
            mint(
                &other,
                serde_json::json!({"max_workspaces": 99}),
                Some(Duration::from_days(30)),
            ),
        )
        .expect("write");
        let e = svc.install_license("t", &forged).unwrap_err();
        assert!(e.to_string().contains("invalid"), "{e}");
    }

    #[test]
    fn expired_is_reported_as_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kp = ES256KeyPair::generate();
        let pem = kp.public_key().to_pem().expect("pem");
        let claims = Claims::with_custom_claims(
            serde_json::json!({"max_workspaces": 5}),
            Duration::from_secs(1),
        )
        .with_subject("Old Co");
        let mut claims = claims;
        claims.expires_at = Some(Duration::from_secs(1_000_000));
        claims.issued_at = Some(Duration::from_secs(900_000));
        let token = kp.sign(claims).expect("sign");
        let path = dir.path().join("lic.jwt");
        std::fs::write(&path, token).expect("write");
        let (svc, _, _) = service(dir.path(), |c| {
            c.license.extra_public_key = pem;
            c.license.key_file = Some(path.clone());
        });
        let s = svc.license_status();
        assert_eq!(s.state, LicenseState::Expired, "{s:?}");
        assert_eq!(s.effective_max_workspaces, UNLICENSED_MAX_WORKSPACES);
        assert_eq!(s.expires_at.as_deref(), Some("1970-01-12T13:46:40Z"));
    }
}
