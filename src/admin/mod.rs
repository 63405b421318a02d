//! AdminService: every administrative operation of an instance, in one place.
//!
//! The admin CLI (`rampart admin <subcommand>`), the admin TUI (through the `rampart-tui`
//! `AdminBackend` trait) and the `/api/admin/*` handlers are three faces of this service;
//! each operation is one method call here. The service owns signed backup and restore,
//! the instance backup signing key, trusted signers, the license, the maintenance circuit
//! breaker, and organizations with their per-org keys and crypto-shred.
//!
//! It does not authenticate callers: faces check who is calling (admin session, local
//! shell) before calling in. Mutating methods take an `actor` string that goes into the
//! admin event log. Methods block (SQLite, file I/O): HTTP handlers call them inside
//! `web::block`.

pub mod backup;
pub mod check;
pub mod cli;
pub mod kms;
pub mod license;
pub mod llm_cache;
pub mod maintenance;
pub mod orgs;
pub mod signers;
pub mod tui_backend;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;
use serde::Serialize;

use crate::config::Config;
use crate::crypto::signing::SigningKey;
use crate::crypto::{self, DbKey, MasterKey};
use crate::instance::Instance;
use crate::store::{self, Db};

pub use backup::{
    BackupSummary, NoLocalAccounts, PasswordCheck, Phase, Progress, RESTORE_CONFIRMATION,
    RestoreRequest, RestoreSummary, SuperadminPassword, VerifiedBackup, backup_filename,
};
pub use license::{LicenseState, LicenseStatus};
pub use maintenance::{AlertHandle, MaintenanceState};
pub use orgs::{NewOrg, Org};
pub use signers::{SigningKeyInfo, TrustedSigner};

/// Administrative failures. Each variant says what the operator can do about it; faces map
/// them with [`Error::kind`] (HTTP status) or [`Error::is_usage`] (CLI exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as given (bad slug, empty label, malformed PEM).
    #[error("{0}")]
    Invalid(String),
    /// An input file or value was examined and refused (bad license, not a P-256 key).
    #[error("{0}")]
    Refused(String),
    /// A typed confirmation did not match.
    #[error("confirmation does not match: type exactly {expected:?}")]
    Confirmation {
        /// What must be typed.
        expected: String,
    },
    /// The admin password was missing or wrong.
    #[error("admin password rejected: {0}")]
    Password(String),
    /// The file is not a valid signed backup, or its signature does not verify.
    #[error("backup refused: {0}")]
    BadBackup(String),
    /// The backup is signed by a key this instance does not trust.
    #[error(
        "backup refused: signed by an untrusted key (fingerprint {fingerprint}); import the source instance's public key with `rampart admin signers add` first"
    )]
    UntrustedSigner {
        /// Lower-hex fingerprint from the trailer.
        fingerprint: String,
    },
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with existing state (duplicate, already shredded).
    #[error("{0}")]
    Conflict(String),
    /// A license limit forbids the operation (HTTP 403).
    #[error("{0}")]
    Limit(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Key material failure.
    #[error(transparent)]
    Crypto(#[from] crypto::Error),
    /// File system failure, with the path.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// How a face should report an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: bad input, wrong confirmation, bad backup file.
    BadRequest,
    /// 401/403: password rejected.
    Unauthorized,
    /// 403: license limit.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
    /// 500: logged in full, generic message to clients.
    Internal,
}

impl Error {
    /// The class of error, for mapping to HTTP status codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_)
            | Error::Refused(_)
            | Error::Confirmation { .. }
            | Error::BadBackup(_)
            | Error::UntrustedSigner { .. } => ErrorKind::BadRequest,
            Error::Password(_) => ErrorKind::Unauthorized,
            Error::Limit(_) => ErrorKind::Forbidden,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Store(_) | Error::Crypto(_) | Error::Io { .. } => ErrorKind::Internal,
        }
    }

    /// HTTP status for this error (`/api/admin/*` handlers).
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Internal => 500,
        }
    }

    /// Stable machine-readable code for `{"error":{"code","message"}}`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Confirmation { .. } => "confirmation_mismatch",
            Error::Password(_) => "password_rejected",
            Error::BadBackup(_) => "bad_backup",
            Error::UntrustedSigner { .. } => "untrusted_signer",
            Error::Limit(_) => "license_limit",
            _ => match self.kind() {
                ErrorKind::BadRequest => "bad_request",
                ErrorKind::Unauthorized => "unauthorized",
                ErrorKind::Forbidden => "forbidden",
                ErrorKind::NotFound => "not_found",
                ErrorKind::Conflict => "conflict",
                ErrorKind::Internal => "internal",
            },
        }
    }

    /// True when the command line itself was wrong (CLI exit code 2): nothing was attempted.
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Invalid(_) | Error::Confirmation { .. })
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The administrative service of one instance. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct AdminService {
    config: Arc<Config>,
    master_key: Arc<MasterKey>,
    db: Db,
    tenants: crate::tenancy::TenantDbs,
    signing_key: Arc<SigningKey>,
    direct: bool,
}

/// A connection to the platform DB: from the pool, or opened for this call only.
pub(crate) enum Conn {
    Pooled(store::PooledConn),
    Direct(Connection),
}

impl std::ops::Deref for Conn {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Direct(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Connection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Direct(c) => c,
        }
    }
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService")
            .field("db", &self.db)
            .field("signing_key", &self.signing_key)
            .finish()
    }
}

impl AdminService {
    /// Builds the service over an open instance; loads (or generates) the backup signing key.
    pub fn new(
        config: Arc<Config>,
        master_key: Arc<MasterKey>,
        tenants: crate::tenancy::TenantDbs,
    ) -> Result<Self> {
        let signing_key =
            SigningKey::load_or_create(&config.data_dir, config.backup.signing_key.expose())?;
        Ok(Self {
            config,
            master_key,
            db: tenants.platform().clone(),
            tenants,
            signing_key: Arc::new(signing_key),
            direct: false,
        })
    }

    /// For short-lived processes (the admin CLI): every call opens its own connection
    /// instead of borrowing from the pool. Borrowing makes r2d2 open a replacement idle
    /// connection on a background thread, and a process exiting while that thread is
    /// inside SQLCipher's key derivation races OpenSSL's exit-time cleanup.
    pub fn for_short_lived_process(mut self) -> Self {
        self.direct = true;
        self
    }

    /// A connection to the platform database.
    pub(crate) fn conn(&self) -> Result<Conn> {
        if self.direct {
            let conn = open_encrypted(
                self.db.path(),
                &self.platform_key(),
                self.config.storage.busy_timeout_ms,
            )?;
            conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
            Ok(Conn::Direct(conn))
        } else {
            Ok(Conn::Pooled(self.db.conn()?))
        }
    }

    /// Convenience for faces that hold an [`Instance`].
    pub fn from_instance(instance: &Instance) -> Result<Self> {
        Self::new(
            instance.config.clone(),
            instance.master_key.clone(),
            instance.tenants.clone(),
        )
    }

    /// The instance's ECDSA key, also used to notarize OIDC-attested verification runs.
    pub fn instance_signing_key(&self) -> Arc<SigningKey> {
        self.signing_key.clone()
    }

    /// `rampart admin check` for the TUI: every database of this instance, read-only.
    pub fn check_databases(&self) -> Vec<check::DbCheck> {
        check::check_instance(&self.config, Ok(&self.master_key))
    }

    /// Path of the platform database file.
    pub fn platform_db_path(&self) -> PathBuf {
        self.config.data_dir.join(store::PLATFORM_DB_FILE)
    }

    /// A value of `instance_meta` (instance id, creation time).
    pub fn instance_meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT value FROM instance_meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Workspaces that count against the license (personal workspaces do not).
    pub fn count_shared_workspaces(&self) -> Result<u64> {
        let conn = self.conn()?;
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM workspaces WHERE personal_owner_id IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The workspace-to-database resolver this service shares with the others.
    pub fn tenants(&self) -> &crate::tenancy::TenantDbs {
        &self.tenants
    }

    /// The configuration this service runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    fn platform_key(&self) -> DbKey {
        self.master_key.platform_db_key()
    }

    /// Records an administrative event in the audit trail (`audit_log`, action `admin.<kind>`).
    /// `actor` is a user id (HTTP faces) or a name such as `cli` or `llm-quota`; a name is
    /// kept in the detail since `actor_id` refers to users.
    fn log_event(
        &self,
        conn: &Connection,
        kind: &str,
        actor: &str,
        subject: &str,
        detail: &str,
    ) -> Result<()> {
        let is_user = uuid::Uuid::parse_str(actor).is_ok();
        let detail = if is_user || actor.is_empty() {
            detail.to_string()
        } else if detail.is_empty() {
            format!("by {actor}")
        } else {
            format!("{detail} (by {actor})")
        };
        conn.execute(
            "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                now_rfc3339(),
                is_user.then_some(actor),
                format!("admin.{kind}"),
                subject,
                detail
            ],
        )?;
        tracing::info!(kind, actor, subject, detail, "admin event");
        Ok(())
    }

    /// The most recent administrative events (`admin.*` actions of the audit trail), newest first.
    pub fn recent_events(&self, limit: u32) -> Result<Vec<AdminEvent>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, at, substr(action, 7), coalesce(actor_id, ''), target, detail FROM audit_log
             WHERE action LIKE 'admin.%' ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit], |r| {
                Ok(AdminEvent {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    actor: r.get(3)?,
                    subject: r.get(4)?,
                    detail: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// One entry of the admin event log.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AdminEvent {
    /// Sequence number.
    pub id: i64,
    /// RFC 3339 UTC time.
    pub at: String,
    /// `backup`, `restore`, `org_create`, `org_shred`, `maintenance_enable`, ...
    pub kind: String,
    /// The acting user's id; empty for the CLI and automatic trips (named in `detail`).
    pub actor: String,
    /// What it was done to (slug, fingerprint, file name).
    pub subject: String,
    /// Free text.
    pub detail: String,
}

/// Opens a raw connection to an encrypted database with `key` (no pool, no migrations).
/// Like pooled connections, its transactions take the write lock up front (`IMMEDIATE`), so
/// the admin CLI waits for a busy `serve` instead of failing with "database is locked".
pub(crate) fn open_encrypted(path: &Path, key: &DbKey, busy_ms: u64) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    conn.execute_batch(&crate::store::key_pragmas(key))?;
    conn.busy_timeout(std::time::Duration::from_millis(busy_ms))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            Error::Store(store::Error::WrongKey {
                path: path.to_path_buf(),
            })
        }
        other => other.into(),
    })?;
    Ok(conn)
}

/// The `x'..'` raw-key literal for `ATTACH ... KEY ?`.
pub(crate) fn attach_key(key: &DbKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(key.pragma_value().trim_matches('"').to_string())
}

/// Current UTC time as RFC 3339 with milliseconds, like the SQL defaults.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Temp files that are removed (with their -wal/-shm/-journal companions) when dropped.
pub(crate) struct TempFiles(Vec<PathBuf>);

impl TempFiles {
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }
    /// A new unique path in `dir` that will be cleaned up.
    pub(crate) fn path(&mut self, dir: &Path, label: &str) -> PathBuf {
        let p = dir.join(format!(".{label}-{}.tmp", uuid::Uuid::new_v4().simple()));
        self.0.push(p.clone());
        p
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut s = p.clone().into_os_string();
                s.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(s));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// A fresh instance in a temp dir with `edit` applied to its config.
    pub(crate) fn service(
        dir: &Path,
        edit: impl FnOnce(&mut Config),
    ) -> (AdminService, Arc<MasterKey>, Db) {
        let mut config = Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        edit(&mut config);
        let inst = Instance::open(config).expect("open instance");
        let svc = AdminService::from_instance(&inst).expect("service");
        (svc, inst.master_key.clone(), inst.db.clone())
    }
}
