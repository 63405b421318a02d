//! Signed backup and restore of the platform database.
//!
//! Backup: a consistent snapshot is exported to a plaintext SQLite file in the data dir
//! (`sqlcipher_export` inside one read transaction; with SQLCipher 4.6, `VACUUM INTO`
//! writes an encrypted copy under the same key, and the backup API refuses
//! encrypted-to-plaintext copies, so neither can produce the plaintext image), gzip-streamed to the output while its
//! SHA-256 is computed, and the trailer (`MIPIBAK\x02`, signer fingerprint, DER signature)
//! is appended. The plaintext temp file is 0600 and removed afterwards.
//!
//! Restore, in this order, stopping at the first failure with nothing changed:
//! 1. the typed confirmation must be exactly [`RESTORE_CONFIRMATION`], and the
//!    [`PasswordCheck`] must accept the admin password;
//! 2. the trailer is parsed and the signer must be this instance's key or a trusted
//!    signer; the signature over the gzip payload is verified (first pass over the file);
//! 3. the payload is decompressed to a 0600 temp file while re-hashed (second pass; the
//!    file must not have changed in between), and must be a healthy SQLite database whose
//!    schema version this binary supports;
//! 4. it is re-encrypted with this instance's platform key into a staging file, migrated
//!    to the current schema, and this instance's own trust configuration is carried over
//!    (see below);
//! 5. the staging database is copied into the live `platform.db` with SQLite's online
//!    backup API in one write transaction, so a running `rampart serve` sees the restored
//!    data on its next query, and a crash mid-copy rolls back to the old data.
//!
//! Kept from the live instance, not taken from the backup (they are this instance's trust
//! and identity, not data): `trusted_signers`, `license_install`, `maintenance_state`, and
//! the `instance_id`/`created_at` rows of `instance_meta`. The audit log is merged: the
//! backup's rows plus every live row the backup does not have, so a restore never erases
//! the history that led to it (refused attempts, signer changes, sign-ins since the
//! backup). The instance backup signing key and the master key are files outside the
//! database and are never touched. A restore
//! never resurrects a crypto-shredded organization: orgs shredded in the live database
//! stay shredded (no key) whatever the backup holds. Sessions and pending sign-in
//! challenges of the backup are dropped: everyone signs in again, and a session revoked
//! after the backup was taken never comes back.
//!
//! Per-org databases (`orgs/<id>.db`, with `storage.org_db_isolation`) are not part of the
//! platform backup; they have their own backups ([`AdminService::backup_org_to_writer`],
//! [`AdminService::restore_org`]), signed with the organization's own key and re-encrypted
//! on restore with the target organization's key, so an organization moves between
//! instances by creating it on the target, trusting the source org's key, and restoring.
//! An image is marked as platform or org (`db_role` in `instance_meta`) and only restores
//! into its own kind. A platform restore on an isolated instance keeps the org rows of the
//! backup: org databases created after the backup stay on disk unreferenced.
//!
//! Space: a restore needs about twice the plaintext size free in the data dir (the
//! plaintext image and the re-encrypted staging copy), a backup once.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{AdminService, Error, Result, TempFiles, attach_key, io_err, open_encrypted};
use crate::crypto::backup_format::{self, Trailer};
use crate::crypto::signing::{PublicKey, SigningKey};
use crate::store::{self, migrations};

/// A database that backups are taken from and restored into.
pub(crate) struct Target {
    /// The live encrypted file.
    pub(crate) path: PathBuf,
    /// Its key.
    pub(crate) key: crate::crypto::DbKey,
    /// `Some(slug)` for an isolated organization's database.
    pub(crate) org: Option<String>,
}

impl Target {
    fn subject(&self) -> &str {
        self.org.as_deref().unwrap_or("")
    }
}

/// The exact phrase a restore must be confirmed with.
pub const RESTORE_CONFIRMATION: &str = "CONFIRM RESTORE";

/// Copy granularity of the streaming phases (and of progress reports).
const CHUNK: usize = 256 * 1024;

/// SQLite pages copied per online-backup step.
const PAGES_PER_STEP: i32 = 1024;

/// Which part of a long operation a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Exporting the consistent plaintext snapshot (no byte counts).
    Snapshot,
    /// Compressing the snapshot into the output (bytes of plaintext).
    Compress,
    /// Checking the signature (bytes of the backup file).
    Verify,
    /// Decompressing the payload (bytes of the gzip payload).
    Decompress,
    /// Copying pages into the live database (pages).
    Apply,
}

/// A progress report: `done` of `total` units of the current phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Current phase.
    pub phase: Phase,
    /// Units done.
    pub done: u64,
    /// Units in total (0 when unknown).
    pub total: u64,
}

/// What a backup produced.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupSummary {
    /// Bytes of the plaintext SQLite image.
    pub plaintext_bytes: u64,
    /// Bytes written in total (gzip payload + trailer).
    pub bytes: u64,
    /// Signer fingerprint (this instance), lower hex.
    pub signer_fingerprint: String,
    /// Schema version of the backed-up database.
    pub schema_version: u32,
    /// Where it was written, when written to a file.
    pub path: Option<PathBuf>,
}

/// A backup whose signature verified.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifiedBackup {
    /// Signer fingerprint, lower hex.
    pub signer_fingerprint: String,
    /// `this instance` or the trusted signer's label.
    pub signer_label: String,
    /// Length of the gzip payload.
    pub payload_bytes: u64,
    /// SHA-256 of the payload (what was signed), lower hex.
    pub payload_sha256: String,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Who signed the restored backup.
    pub signer: VerifiedBackup,
    /// Schema version found in the backup.
    pub backup_schema_version: u32,
    /// Schema version after restore (migrated to this binary's).
    pub schema_version: u32,
    /// Bytes of the restored plaintext image.
    pub plaintext_bytes: u64,
}

/// What the operator typed to authorize a restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// Must be exactly [`RESTORE_CONFIRMATION`].
    pub confirmation: String,
    /// The restoring person's own password; `None` when not given.
    pub password: Option<String>,
    /// Who asks: the user id of the person restoring, or the face's name (`cli (uid …)`) on
    /// an instance without accounts (event log).
    pub actor: String,
    /// Who and through which face, for the audit row: e.g. `alice@example.com via api`.
    pub note: String,
}

/// Re-authentication for destructive operations. The accounts module implements it for
/// the calling admin; until local accounts exist, [`NoLocalAccounts`] is used.
pub trait PasswordCheck {
    /// `Ok` when `password` authorizes the caller; `Err(reason)` otherwise.
    fn check(&self, password: Option<&str>) -> std::result::Result<(), String>;
}

/// There are no local accounts on this instance yet, so there is no password to check:
/// any (or no) password is accepted. Once accounts exist the CLI and HTTP faces pass the
/// admin's real check and `--password-stdin` becomes mandatory.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLocalAccounts;

impl PasswordCheck for NoLocalAccounts {
    fn check(&self, _password: Option<&str>) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// Restore authorization of a person: `user_id` must be an enabled superadmin and the
/// password must be their own (re-authentication, throttled like sign-in). Used by the HTTP
/// face for the signed-in caller and by the CLI and TUI for the person who named themself.
/// A restore replaces the users table, so nobody below superadmin may run one, and "some
/// admin's password" is not enough: the audit log names who it was.
#[derive(Clone)]
pub struct SuperadminPassword {
    /// The identity service holding the account.
    pub auth: crate::auth::AuthService,
    /// The person restoring.
    pub user_id: String,
}

impl PasswordCheck for SuperadminPassword {
    fn check(&self, password: Option<&str>) -> std::result::Result<(), String> {
        let pw = password.ok_or("the restoring superadmin's own password is required")?;
        self.auth
            .verify_superadmin_password(&self.user_id, pw)
            .map(|_| ())
            .map_err(|e| match e {
                crate::auth::Error::Invalid { .. } => "the password is not correct".to_string(),
                other => other.to_string(),
            })
    }
}

impl<F: Fn(&str) -> bool> PasswordCheck for F {
    fn check(&self, password: Option<&str>) -> std::result::Result<(), String> {
        match password {
            None => Err("the admin password is required".into()),
            Some(p) if self(p) => Ok(()),
            Some(_) => Err("wrong password".into()),
        }
    }
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The default file name of a backup made at `now`.
pub fn backup_filename(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "rampart-backup-{}.db.gz.signed",
        now.format("%Y%m%d-%H%M%S")
    )
}

/// Where a backup made at `now` goes in directory `dir`: [`backup_filename`], or that name
/// with `-2`, `-3` … before the extension when a backup of the same second is already there
/// (a scheduled and a manual backup can start in one second; the second one used to be
/// refused with "already exists").
pub fn backup_path_in(dir: &Path, now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    let name = backup_filename(now);
    let first = dir.join(&name);
    if !first.exists() {
        return first;
    }
    let stem = name.trim_end_matches(".db.gz.signed");
    (2u32..)
        .map(|n| dir.join(format!("{stem}-{n}.db.gz.signed")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn create_private(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))
}

impl AdminService {
    /// The platform database as a backup/restore target.
    fn platform_target(&self) -> Target {
        Target {
            path: self.db.path().to_path_buf(),
            key: self.platform_key(),
            org: None,
        }
    }

    /// Exports a consistent plaintext snapshot of `target` to `dest` (must not exist).
    fn export_plaintext(&self, target: &Target, dest: &Path) -> Result<u32> {
        let conn = open_encrypted(
            &target.path,
            &target.key,
            self.config.storage.busy_timeout_ms,
        )?;
        conn.execute(
            "ATTACH DATABASE ?1 AS plaintext KEY ''",
            [dest.to_string_lossy()],
        )?;
        // One read transaction: every table comes from the same snapshot even while
        // `serve` keeps writing (WAL readers never block writers).
        conn.execute_batch("BEGIN")?;
        let version: u32 = conn.pragma_query_value(Some("main"), "user_version", |r| r.get(0))?;
        // sqlcipher_export copies schema and rows but not user_version, which restore
        // relies on to judge the schema.
        let exported = conn
            .query_row("SELECT sqlcipher_export('plaintext')", [], |_| Ok(()))
            .and_then(|()| conn.pragma_update(Some("plaintext"), "user_version", version));
        let end = conn.execute_batch(if exported.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        });
        exported?;
        end?;
        conn.execute_batch("DETACH DATABASE plaintext")?;
        Ok(version)
    }

    /// Writes a signed backup of the platform database to `out`: gzip of a consistent
    /// plaintext snapshot, then the trailer signed with the instance key. Progress is
    /// reported in plaintext bytes compressed. `GET /api/admin/backup` streams this.
    pub fn backup_to_writer(
        &self,
        actor: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupSummary> {
        let signer = self.signing_key.clone();
        self.backup_target(&self.platform_target(), &signer, actor, out, progress)
    }

    /// Writes a signed backup of one isolated organization's database to `out`, signed
    /// with that organization's own key (per-org mode of `GET /api/admin/backup`).
    pub fn backup_org_to_writer(
        &self,
        actor: &str,
        slug: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupSummary> {
        let (target, signer) = self.org_target(slug)?;
        self.backup_target(&target, &signer, actor, out, progress)
    }

    fn backup_target(
        &self,
        target: &Target,
        signer: &SigningKey,
        actor: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupSummary> {
        let mut temps = TempFiles::new();
        let plain = temps.path(self.data_dir(), "backup-plain");
        progress(Progress {
            phase: Phase::Snapshot,
            done: 0,
            total: 0,
        });
        let schema_version = self.export_plaintext(target, &plain)?;
        let mut input = File::open(&plain).map_err(io_err(&plain))?;
        let total = input.metadata().map_err(io_err(&plain))?.len();
        let out_err = |source| Error::Io {
            path: PathBuf::from("(backup output)"),
            source,
        };
        let hashing = HashingWriter {
            inner: &mut *out,
            hasher: Sha256::new(),
            count: 0,
        };
        let mut gz = GzEncoder::new(hashing, Compression::fast());
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        loop {
            let n = input.read(&mut buf).map_err(io_err(&plain))?;
            if n == 0 {
                break;
            }
            gz.write_all(&buf[..n]).map_err(out_err)?;
            done += n as u64;
            progress(Progress {
                phase: Phase::Compress,
                done,
                total,
            });
        }
        let hashing = gz.finish().map_err(out_err)?;
        let payload_len = hashing.count;
        let digest: [u8; 32] = hashing.hasher.finalize().into();
        let signature = signer.sign_sha256(&digest);
        let trailer = backup_format::encode(&signer.fingerprint(), &signature);
        out.write_all(&trailer).map_err(out_err)?;
        out.flush().map_err(out_err)?;
        let conn = self.conn()?;
        self.log_event(
            &conn,
            "backup",
            actor,
            target.subject(),
            &format!("{total} bytes plaintext, schema {schema_version}"),
        )?;
        Ok(BackupSummary {
            plaintext_bytes: total,
            bytes: payload_len + trailer.len() as u64,
            signer_fingerprint: hex::encode(signer.fingerprint()),
            schema_version,
            path: None,
        })
    }

    /// Writes a signed backup to `path` (atomically: a temp file renamed into place, 0600).
    /// An existing file is not overwritten.
    pub fn backup_to_file(
        &self,
        actor: &str,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupSummary> {
        write_atomically(path, &mut |w| self.backup_to_writer(actor, w, progress))
    }

    /// Like [`Self::backup_to_file`] for one isolated organization (see
    /// [`Self::backup_org_to_writer`]).
    pub fn backup_org_to_file(
        &self,
        actor: &str,
        slug: &str,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<BackupSummary> {
        write_atomically(path, &mut |w| {
            self.backup_org_to_writer(actor, slug, w, progress)
        })
    }

    /// The public key that signed `fingerprint`, if this instance trusts it.
    fn trusted_key(
        &self,
        fingerprint: &[u8; 32],
        own: &SigningKey,
        own_label: &str,
    ) -> Result<Option<(PublicKey, String)>> {
        if *fingerprint == own.fingerprint() {
            return Ok(Some((own.public_key(), own_label.to_string())));
        }
        let conn = self.conn()?;
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT public_key_pem, label FROM trusted_signers WHERE fingerprint = ?1",
                [hex::encode(fingerprint)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((pem, label)) => {
                let key = PublicKey::from_pem(&pem).map_err(|m| {
                    Error::BadBackup(format!("stored trusted signer {label:?} is unusable: {m}"))
                })?;
                Ok(Some((key, label)))
            }
        }
    }

    /// Checks a platform backup file's trailer, signer trust (this instance's key or a
    /// trusted signer) and signature without changing anything.
    pub fn verify_backup(
        &self,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<VerifiedBackup> {
        let own = self.signing_key.clone();
        self.verify_signed(path, &own, "this instance", progress)
    }

    /// Checks an organization backup: signed by that organization's key or a trusted signer.
    pub fn verify_org_backup(
        &self,
        slug: &str,
        path: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<VerifiedBackup> {
        let (_, own) = self.org_target(slug)?;
        self.verify_signed(path, &own, &format!("organization {slug}"), progress)
    }

    fn verify_signed(
        &self,
        path: &Path,
        own: &SigningKey,
        own_label: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<VerifiedBackup> {
        let mut file = File::open(path).map_err(io_err(path))?;
        let trailer = backup_format::read(&mut file)
            .map_err(io_err(path))?
            .map_err(|e| Error::BadBackup(e.to_string()))?;
        let Some((key, label)) = self.trusted_key(&trailer.fingerprint, own, own_label)? else {
            return Err(Error::UntrustedSigner {
                fingerprint: hex::encode(trailer.fingerprint),
            });
        };
        let digest = hash_payload(&mut file, path, &trailer, &mut |done| {
            progress(Progress {
                phase: Phase::Verify,
                done,
                total: trailer.payload_len,
            })
        })?;
        if !key.verify_sha256(&digest, &trailer.signature) {
            return Err(Error::BadBackup(
                "signature does not match the content: the file was modified or damaged".into(),
            ));
        }
        Ok(VerifiedBackup {
            signer_fingerprint: hex::encode(trailer.fingerprint),
            signer_label: label,
            payload_bytes: trailer.payload_len,
            payload_sha256: hex::encode(digest),
        })
    }

    /// Restores `path` into the live platform database. See the module docs for the order
    /// of checks; on any error the live data is unchanged.
    pub fn restore(
        &self,
        path: &Path,
        request: &RestoreRequest,
        password: &dyn PasswordCheck,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RestoreSummary> {
        let own = self.signing_key.clone();
        let target = self.platform_target();
        self.restore_target(
            &target,
            &own,
            "this instance",
            path,
            request,
            password,
            progress,
        )
    }

    /// Restores a backup arriving as a stream (the `backup_file` part of the multipart
    /// `POST /api/admin/restore`): it is first stored, at most `max_bytes`, in a 0600 temp
    /// file in the data dir (removed afterwards), then restored as [`Self::restore`] does,
    /// or into organization `org` (per-org mode) when given.
    pub fn restore_from_reader(
        &self,
        org: Option<&str>,
        upload: &mut dyn Read,
        max_bytes: u64,
        request: &RestoreRequest,
        password: &dyn PasswordCheck,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RestoreSummary> {
        if request.confirmation != RESTORE_CONFIRMATION {
            return Err(Error::Confirmation {
                expected: RESTORE_CONFIRMATION.into(),
            });
        }
        let mut temps = TempFiles::new();
        let path = temps.path(self.data_dir(), "restore-upload");
        {
            let mut file = BufWriter::with_capacity(CHUNK, create_private(&path)?);
            let copied =
                std::io::copy(&mut upload.take(max_bytes + 1), &mut file).map_err(io_err(&path))?;
            if copied > max_bytes {
                return Err(Error::BadBackup(format!(
                    "the upload is larger than the limit of {max_bytes} bytes (limits.upload_body_bytes)"
                )));
            }
            file.flush().map_err(io_err(&path))?;
        }
        match org {
            Some(slug) => self.restore_org(slug, &path, request, password, progress),
            None => self.restore(&path, request, password, progress),
        }
    }

    /// Restores an organization backup into that isolated organization's database (per-org
    /// mode of `POST /api/admin/restore` with `org_id`). Same checks as [`Self::restore`];
    /// the signer must be the organization's own key or a trusted signer, and the image
    /// must be an organization database.
    pub fn restore_org(
        &self,
        slug: &str,
        path: &Path,
        request: &RestoreRequest,
        password: &dyn PasswordCheck,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RestoreSummary> {
        if request.confirmation != RESTORE_CONFIRMATION {
            return Err(Error::Confirmation {
                expected: RESTORE_CONFIRMATION.into(),
            });
        }
        let (target, own) = self.org_target(slug)?;
        let label = format!("organization {slug}");
        let summary =
            self.restore_target(&target, &own, &label, path, request, password, progress)?;
        let conn = self.conn()?;
        self.log_event(
            &conn,
            "org_restore",
            &request.actor,
            slug,
            &format!(
                "restored backup signed by {} ({}); {}",
                summary.signer.signer_label, summary.signer.signer_fingerprint, request.note
            ),
        )?;
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn restore_target(
        &self,
        target: &Target,
        own: &SigningKey,
        own_label: &str,
        path: &Path,
        request: &RestoreRequest,
        password: &dyn PasswordCheck,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RestoreSummary> {
        if request.confirmation != RESTORE_CONFIRMATION {
            return Err(Error::Confirmation {
                expected: RESTORE_CONFIRMATION.into(),
            });
        }
        if let Err(reason) = password.check(request.password.as_deref()) {
            // A refused attempt is recorded in the live database (nothing else changes).
            let conn = self.conn()?;
            self.log_event(
                &conn,
                "restore_refused",
                &request.actor,
                target.subject(),
                &format!("{reason}; {}", request.note),
            )?;
            return Err(Error::Password(reason));
        }
        let verified = self.verify_signed(path, own, own_label, progress)?;

        let mut temps = TempFiles::new();
        let plain = temps.path(self.data_dir(), "restore-plain");
        let plaintext_bytes = self.decompress_verified(
            path,
            &verified,
            &plain,
            self.config.limits.restore_plaintext_bytes,
            progress,
        )?;
        let backup_schema_version = check_plaintext(&plain, target.org.is_some())?;

        let stage = temps.path(self.data_dir(), "restore-stage");
        self.build_stage(
            &plain,
            &stage,
            backup_schema_version,
            target,
            request,
            &verified,
        )?;
        self.apply_stage(&stage, target, progress)?;
        let schema_version: u32 = open_encrypted(
            &target.path,
            &target.key,
            self.config.storage.busy_timeout_ms,
        )?
        .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(RestoreSummary {
            signer: verified,
            backup_schema_version,
            schema_version,
            plaintext_bytes,
        })
    }

    /// Second pass: decompress the payload into `dest` (0600) while re-hashing it; the hash
    /// must equal the verified one, so a file swapped after verification is refused. At most
    /// `max_plaintext` bytes are written: a payload that expands beyond it (a compression
    /// bomb, even a signed one) stops the restore with a clear error before the disk fills.
    fn decompress_verified(
        &self,
        path: &Path,
        verified: &VerifiedBackup,
        dest: &Path,
        max_plaintext: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64> {
        let file = File::open(path).map_err(io_err(path))?;
        let total = verified.payload_bytes;
        let mut reader = HashingReader {
            inner: BufReader::with_capacity(CHUNK, file).take(total),
            hasher: Sha256::new(),
            count: 0,
        };
        let out = create_private(dest)?;
        let mut out = BufWriter::with_capacity(CHUNK, out);
        let mut written = 0u64;
        {
            let mut gz = flate2::read::MultiGzDecoder::new(&mut reader);
            let mut buf = vec![0u8; CHUNK];
            let mut last = Instant::now();
            loop {
                let n = gz.read(&mut buf).map_err(|e| {
                    Error::BadBackup(format!("the payload is not valid gzip data: {e}"))
                })?;
                if n == 0 {
                    break;
                }
                written += n as u64;
                if written > max_plaintext {
                    return Err(Error::BadBackup(format!(
                        "the backup expands to more than {max_plaintext} bytes \
                         (limits.restore_plaintext_bytes); nothing was restored"
                    )));
                }
                out.write_all(&buf[..n]).map_err(io_err(dest))?;
                if last.elapsed() > Duration::from_millis(100) {
                    last = Instant::now();
                    progress(Progress {
                        phase: Phase::Decompress,
                        done: gz.get_ref().count,
                        total,
                    });
                }
            }
        }
        // Anything the decoder did not consume still belongs to the signed payload.
        std::io::copy(&mut reader, &mut std::io::sink()).map_err(io_err(path))?;
        out.flush().map_err(io_err(dest))?;
        let digest: [u8; 32] = reader.hasher.finalize().into();
        if reader.count != total || hex::encode(digest) != verified.payload_sha256 {
            return Err(Error::BadBackup(
                "the file changed while it was being restored".into(),
            ));
        }
        progress(Progress {
            phase: Phase::Decompress,
            done: total,
            total,
        });
        Ok(written)
    }

    /// Re-encrypts the plaintext image into `stage` with the target's key, migrates it, and
    /// carries over the target's identity (and, for the platform, this instance's trust
    /// configuration).
    fn build_stage(
        &self,
        plain: &Path,
        stage: &Path,
        version: u32,
        target: &Target,
        request: &RestoreRequest,
        verified: &VerifiedBackup,
    ) -> Result<()> {
        let key = target.key.clone();
        {
            let conn = Connection::open(plain)?;
            conn.execute(
                "ATTACH DATABASE ?1 AS staged KEY ?2",
                params![stage.to_string_lossy(), attach_key(&key).as_str()],
            )?;
            conn.query_row("SELECT sqlcipher_export('staged')", [], |_| Ok(()))?;
            // Not copied by sqlcipher_export; migrations need it.
            conn.pragma_update(Some("staged"), "user_version", version)?;
            conn.execute_batch("DETACH DATABASE staged")?;
        }
        let mut conn = open_encrypted(stage, &key, self.config.storage.busy_timeout_ms)?;
        migrations::apply(&mut conn, stage)?;
        conn.execute(
            "ATTACH DATABASE ?1 AS live KEY ?2",
            params![target.path.to_string_lossy(), attach_key(&key).as_str()],
        )?;
        let tx = conn.transaction()?;
        // The database's own identity rows stay those of the live file.
        tx.execute_batch(
            "UPDATE main.instance_meta
                 SET value = l.value, updated_at = l.updated_at
                 FROM (SELECT key, value, updated_at FROM live.instance_meta) AS l
                 WHERE l.key = main.instance_meta.key
                   AND main.instance_meta.key IN ('instance_id', 'created_at', 'db_role', 'org_id');
             INSERT OR IGNORE INTO main.instance_meta (key, value, updated_at)
                 SELECT key, value, updated_at FROM live.instance_meta
                 WHERE key IN ('instance_id', 'created_at', 'db_role', 'org_id');",
        )?;
        if target.org.is_some() {
            tx.commit()?;
            conn.execute_batch("DETACH DATABASE live")?;
            return Ok(());
        }
        tx.execute_batch(
            "DELETE FROM main.trusted_signers;
             INSERT INTO main.trusted_signers (fingerprint, label, public_key_pem, added_at)
                 SELECT fingerprint, label, public_key_pem, added_at FROM live.trusted_signers;
             DELETE FROM main.license_install;
             INSERT INTO main.license_install (id, path, sha256, licensee, installed_at)
                 SELECT id, path, sha256, licensee, installed_at FROM live.license_install;
             DELETE FROM main.maintenance_state;
             INSERT INTO main.maintenance_state (id, active, reason, tripped_at, tripped_by)
                 SELECT id, active, reason, tripped_at, tripped_by FROM live.maintenance_state;
             INSERT INTO main.audit_log (at, actor_id, action, target, detail, ip)
                 SELECT l.at, l.actor_id, l.action, l.target, l.detail, l.ip FROM live.audit_log l
                 WHERE NOT EXISTS (SELECT 1 FROM main.audit_log m WHERE m.at = l.at
                     AND m.action = l.action AND m.target = l.target AND m.detail = l.detail)
                 ORDER BY l.id;
             DELETE FROM main.sessions;
             DELETE FROM main.auth_challenges;
             UPDATE main.orgs
                 SET wrapped_dek = NULL, signing_key_sealed = NULL, shredded_at = l.shredded_at
                 FROM (SELECT id, shredded_at FROM live.orgs WHERE shredded_at IS NOT NULL) AS l
                 WHERE l.id = main.orgs.id;",
        )?;
        self.log_event(
            &tx,
            "restore",
            &request.actor,
            &verified.signer_fingerprint,
            &format!(
                "restored backup signed by {} ({} bytes payload); {}",
                verified.signer_label, verified.payload_bytes, request.note
            ),
        )?;
        tx.commit()?;
        conn.execute_batch("DETACH DATABASE live")?;
        Ok(())
    }

    /// Copies the staging database into the live platform database with the online backup
    /// API: one write transaction on the live file, so readers see old or new, never a mix.
    fn apply_stage(
        &self,
        stage: &Path,
        target: &Target,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<()> {
        use rusqlite::backup::{Backup, StepResult};
        let key = &target.key;
        let src = open_encrypted(stage, key, self.config.storage.busy_timeout_ms)?;
        let mut dst = open_encrypted(&target.path, key, self.config.storage.busy_timeout_ms)?;
        let backup = Backup::new(&src, &mut dst)?;
        let deadline = Instant::now()
            + Duration::from_millis(self.config.storage.busy_timeout_ms.max(1000) * 6);
        loop {
            let step = backup.step(PAGES_PER_STEP)?;
            let p = backup.progress();
            let total = u64::try_from(p.pagecount).unwrap_or(0);
            let remaining = u64::try_from(p.remaining).unwrap_or(0);
            progress(Progress {
                phase: Phase::Apply,
                done: total.saturating_sub(remaining),
                total,
            });
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    if Instant::now() > deadline {
                        return Err(Error::Store(store::Error::Sqlite(
                            rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                Some(format!(
                                    "{} stayed locked by another process; nothing was restored",
                                    target.path.display()
                                )),
                            ),
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {}
            }
        }
        drop(backup);
        Ok(())
    }
}

/// Writes a new file at `path` through `write` atomically (temp file in the same directory,
/// 0600, fsync, then linked into place); an existing file is never overwritten.
fn write_atomically(
    path: &Path,
    write: &mut dyn FnMut(&mut dyn Write) -> Result<BackupSummary>,
) -> Result<BackupSummary> {
    if path.exists() {
        return Err(Error::Conflict(format!(
            "{} already exists; choose another --out",
            path.display()
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temps = TempFiles::new();
    let tmp = temps.path(dir, "rampart-backup-partial");
    let file = create_private(&tmp)?;
    let mut w = BufWriter::new(file);
    let mut summary = write(&mut w)?;
    let file = w.into_inner().map_err(|e| Error::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::hard_link(&tmp, path).map_err(io_err(path))?;
    summary.path = Some(path.to_path_buf());
    Ok(summary)
}

/// A reader that hashes and counts what passes through.
struct HashingReader<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// SHA-256 of the first `trailer.payload_len` bytes of `file`.
fn hash_payload(
    file: &mut File,
    path: &Path,
    trailer: &Trailer,
    progress: &mut dyn FnMut(u64),
) -> Result<[u8; 32]> {
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::with_capacity(CHUNK, &mut *file).take(trailer.payload_len);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress(done);
    }
    if done != trailer.payload_len {
        return Err(Error::BadBackup(
            "the file is shorter than its trailer says".into(),
        ));
    }
    Ok(hasher.finalize().into())
}

/// Checks that `plain` is a healthy plaintext SQLite database from rampart with a schema
/// version this binary supports; returns that version.
fn check_plaintext(plain: &Path, want_org: bool) -> Result<u32> {
    let bad = |m: String| Error::BadBackup(m);
    let mut header = [0u8; 16];
    File::open(plain)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|_| bad("the payload is not a SQLite database".into()))?;
    if &header != b"SQLite format 3\0" {
        return Err(bad("the payload is not a SQLite database".into()));
    }
    let conn = Connection::open_with_flags(plain, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| bad(format!("the database in the backup is damaged: {e}")))?;
    if check != "ok" {
        return Err(bad(format!(
            "the database in the backup is damaged: {check}"
        )));
    }
    let version: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = migrations::latest();
    if version == 0 {
        return Err(bad(
            "the database in the backup has no rampart schema".into()
        ));
    }
    if version > supported {
        return Err(bad(format!(
            "the backup has schema version {version}, but this rampart supports up to {supported}: upgrade rampart first"
        )));
    }
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'instance_meta'",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Err(bad(
            "the database in the backup is not a rampart database".into()
        ));
    }
    let role: Option<String> = conn
        .query_row(
            "SELECT value FROM instance_meta WHERE key = 'db_role'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let is_org = role.as_deref() == Some("org");
    if is_org != want_org {
        return Err(bad(if want_org {
            "this is a platform backup, not an organization backup".into()
        } else {
            "this is an organization backup; restore it with --org SLUG".into()
        }));
    }
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::testutil::service;

    fn meta(conn: &Connection, key: &str) -> Option<String> {
        conn.query_row(
            "SELECT value FROM instance_meta WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .expect("query")
    }

    #[test]
    fn plaintext_export_opens_with_plain_sqlite_and_matches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, db) = service(dir.path(), |_| {});
        db.conn()
            .expect("conn")
            .execute(
                "INSERT INTO instance_meta (key, value) VALUES ('probe', 'one')",
                [],
            )
            .expect("insert");
        let out = dir.path().join("plain.db");
        let v = svc
            .export_plaintext(&svc.platform_target(), &out)
            .expect("export");
        assert_eq!(v, migrations::latest());
        let bytes = std::fs::read(&out).expect("read");
        assert!(bytes.starts_with(b"SQLite format 3\0"));
        assert_eq!(check_plaintext(&out, false).expect("check"), v);
        let conn = Connection::open(&out).expect("open plain");
        assert_eq!(meta(&conn, "probe").as_deref(), Some("one"));
    }

    #[test]
    fn backup_then_restore_round_trip_and_live_pool_sees_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, db) = service(dir.path(), |_| {});
        let conn = db.conn().expect("conn");
        conn.execute(
            "INSERT INTO instance_meta (key, value) VALUES ('probe', 'before')",
            [],
        )
        .expect("insert");
        let file = dir.path().join("b.signed");
        let mut reports = 0;
        let summary = svc
            .backup_to_file("test", &file, &mut |_| reports += 1)
            .expect("backup");
        assert!(reports > 1);
        assert_eq!(summary.bytes, std::fs::metadata(&file).expect("meta").len());
        conn.execute(
            "UPDATE instance_meta SET value = 'after' WHERE key = 'probe'",
            [],
        )
        .expect("update");
        assert_eq!(meta(&conn, "probe").as_deref(), Some("after"));
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "test".into(),
            note: String::new(),
        };
        svc.restore(&file, &req, &NoLocalAccounts, &mut |_| {})
            .expect("restore");
        // The pooled connection that was open the whole time sees the restored value.
        assert_eq!(meta(&conn, "probe").as_deref(), Some("before"));
        let events = svc.recent_events(10).expect("events");
        assert!(events.iter().any(|e| e.kind == "restore"), "{events:?}");
    }

    #[test]
    fn password_hook_is_enforced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |_| {});
        let file = dir.path().join("b.signed");
        svc.backup_to_file("test", &file, &mut |_| {})
            .expect("backup");
        let check = |p: &str| p == "s3cret";
        let mut req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: Some("nope".into()),
            actor: "t".into(),
            note: String::new(),
        };
        let err = svc.restore(&file, &req, &check, &mut |_| {}).unwrap_err();
        assert!(matches!(err, Error::Password(_)), "{err}");
        req.password = None;
        assert!(matches!(
            svc.restore(&file, &req, &check, &mut |_| {}).unwrap_err(),
            Error::Password(_)
        ));
        req.password = Some("s3cret".into());
        svc.restore(&file, &req, &check, &mut |_| {})
            .expect("restore");
    }

    #[test]
    fn refused_restore_is_audited_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |_| {});
        let file = dir.path().join("b.signed");
        svc.backup_to_file("test", &file, &mut |_| {})
            .expect("backup");
        let check = |p: &str| p == "s3cret";
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: Some("nope".into()),
            actor: "t".into(),
            note: "mallory@example.com via api".into(),
        };
        assert!(svc.restore(&file, &req, &check, &mut |_| {}).is_err());
        let events = svc.recent_events(10).expect("events");
        let refused = events
            .iter()
            .find(|e| e.kind == "restore_refused")
            .expect("refusal recorded");
        assert!(
            refused.detail.contains("mallory@example.com via api"),
            "{refused:?}"
        );
        assert!(!events.iter().any(|e| e.kind == "restore"));
    }

    #[test]
    fn restore_stops_at_the_plaintext_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, db) = service(dir.path(), |c| c.limits.restore_plaintext_bytes = 4096);
        let file = dir.path().join("b.signed");
        svc.backup_to_file("test", &file, &mut |_| {})
            .expect("backup");
        let conn = db.conn().expect("conn");
        conn.execute(
            "INSERT INTO instance_meta (key, value) VALUES ('probe', 'live')",
            [],
        )
        .expect("probe");
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "t".into(),
            note: String::new(),
        };
        let err = svc
            .restore(&file, &req, &NoLocalAccounts, &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(&err, Error::BadBackup(m) if m.contains("restore_plaintext_bytes")),
            "{err}"
        );
        assert_eq!(
            meta(&conn, "probe").as_deref(),
            Some("live"),
            "nothing changed"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".restore-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files removed");
    }

    #[test]
    fn backups_in_one_second_get_distinct_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = chrono::DateTime::parse_from_rfc3339("2026-02-20T14:30:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let first = backup_path_in(dir.path(), t);
        assert_eq!(
            first,
            dir.path()
                .join("rampart-backup-20260220-143000.db.gz.signed")
        );
        std::fs::write(&first, b"x").expect("write");
        let second = backup_path_in(dir.path(), t);
        assert_eq!(
            second,
            dir.path()
                .join("rampart-backup-20260220-143000-2.db.gz.signed")
        );
        std::fs::write(&second, b"x").expect("write");
        assert!(
            backup_path_in(dir.path(), t)
                .to_string_lossy()
                .ends_with("143000-3.db.gz.signed")
        );
    }

    #[test]
    fn filename_format() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-02-20T14:30:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        assert_eq!(
            backup_filename(t),
            "rampart-backup-20260220-143000.db.gz.signed"
        );
    }

    #[test]
    fn org_backup_round_trip_and_role_checks() {
        use crate::admin::NewOrg;
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |c| c.storage.org_db_isolation = true);
        svc.create_org(
            "t",
            &NewOrg {
                name: "Acme".into(),
                ..Default::default()
            },
        )
        .expect("org");
        let org_db = svc.open_org_db("acme").expect("org db");
        let conn = org_db.conn().expect("conn");
        conn.execute(
            "INSERT INTO instance_meta (key, value) VALUES ('probe', 'before')",
            [],
        )
        .expect("insert");
        let file = dir.path().join("org.signed");
        let summary = svc
            .backup_org_to_file("t", "acme", &file, &mut |_| {})
            .expect("org backup");
        assert_eq!(
            summary.signer_fingerprint,
            svc.org_signing_key("acme").expect("key").fingerprint
        );
        assert_ne!(summary.signer_fingerprint, svc.signing_key().fingerprint);
        conn.execute(
            "UPDATE instance_meta SET value = 'after' WHERE key = 'probe'",
            [],
        )
        .expect("update");
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "t".into(),
            note: String::new(),
        };
        // An org backup is not a platform backup (its signer is not trusted there either).
        assert!(
            svc.restore(&file, &req, &NoLocalAccounts, &mut |_| {})
                .is_err()
        );
        let platform = dir.path().join("platform.signed");
        svc.backup_to_file("t", &platform, &mut |_| {})
            .expect("platform backup");
        assert!(matches!(
            svc.restore_org("acme", &platform, &req, &NoLocalAccounts, &mut |_| {}),
            Err(Error::UntrustedSigner { .. })
        ));
        svc.restore_org("acme", &file, &req, &NoLocalAccounts, &mut |_| {})
            .expect("org restore");
        assert_eq!(meta(&conn, "probe").as_deref(), Some("before"));
        assert_eq!(meta(&conn, "db_role").as_deref(), Some("org"));
        // Trusting the instance key does not make a platform image restorable into an org.
        let (_, org_key) = svc.org_target("acme").expect("target");
        let err = svc
            .restore_target(
                &svc.org_target("acme").expect("target").0,
                &svc.signing_key.clone(),
                "x",
                &platform,
                &req,
                &NoLocalAccounts,
                &mut |_| {},
            )
            .unwrap_err();
        assert!(err.to_string().contains("platform backup"), "{err}");
        drop(org_key);
    }

    #[test]
    fn restore_never_resurrects_a_shredded_org() {
        use crate::admin::NewOrg;
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |c| c.storage.org_db_isolation = true);
        svc.create_org(
            "t",
            &NewOrg {
                name: "Acme".into(),
                ..Default::default()
            },
        )
        .expect("org");
        let file = dir.path().join("b.signed");
        svc.backup_to_file("t", &file, &mut |_| {}).expect("backup");
        svc.shred_org("t", "acme", "acme").expect("shred");
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "t".into(),
            note: String::new(),
        };
        svc.restore(&file, &req, &NoLocalAccounts, &mut |_| {})
            .expect("restore");
        let org = svc.get_org("acme").expect("org");
        assert!(org.shredded_at.is_some() && !org.isolated, "{org:?}");
        let conn = svc.conn().expect("conn");
        let keys: i64 = conn
            .query_row(
                "SELECT count(*) FROM orgs WHERE wrapped_dek IS NOT NULL OR signing_key_sealed IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(keys, 0);
    }

    #[test]
    fn restore_from_reader_stores_limits_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, db) = service(dir.path(), |_| {});
        let mut bytes = Vec::new();
        svc.backup_to_writer("t", &mut bytes, &mut |_| {})
            .expect("backup");
        let req = RestoreRequest {
            confirmation: RESTORE_CONFIRMATION.into(),
            password: None,
            actor: "t".into(),
            note: String::new(),
        };
        let err = svc
            .restore_from_reader(
                None,
                &mut &bytes[..],
                10,
                &req,
                &NoLocalAccounts,
                &mut |_| {},
            )
            .unwrap_err();
        assert!(err.to_string().contains("larger than the limit"), "{err}");
        let conn = db.conn().expect("conn");
        conn.execute(
            "INSERT INTO instance_meta (key, value) VALUES ('probe', 'x')",
            [],
        )
        .expect("insert");
        svc.restore_from_reader(
            None,
            &mut &bytes[..],
            1 << 30,
            &req,
            &NoLocalAccounts,
            &mut |_| {},
        )
        .expect("restore");
        assert_eq!(meta(&conn, "probe"), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
