//! The one answer to "which database holds this workspace's data".
//!
//! Personal workspaces, team workspaces outside an organization, and workspaces of an org
//! whose data has not been isolated live in `platform.db`. With per-org isolation an org's
//! workspaces live in `orgs/<org_id>.db`, a SQLCipher file keyed by the org's DEK, which is
//! stored wrapped by the master key in the org's row. A crypto-shredded org has neither:
//! its workspaces are [`Error::Gone`].
//!
//! Services never choose a database themselves: the caller of a request is resolved once
//! (see `auth`), and the [`Db`] handle of its workspace travels with it. Opened org
//! databases are cached here; the location is read from the platform database on every
//! resolution, so a shred or an isolation done by `rampart admin` in another process is seen
//! at the next request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Result};
use crate::config::Config;
use crate::crypto::{DbKey, MasterKey, dek};
use crate::store::{Db, OpenOptions};

/// Directory (inside the data dir) of per-org databases.
pub const ORGS_DIR: &str = "orgs";

/// Where a workspace's tenant data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `platform.db`.
    Platform,
    /// The org's own encrypted database.
    Org {
        /// Org id.
        org_id: String,
    },
    /// The org was crypto-shredded; the data no longer exists.
    Shredded {
        /// Org id.
        org_id: String,
    },
}

/// Tables that hold tenant data, with the condition selecting the rows of a set of
/// workspaces (`?1` is a JSON array of workspace ids). Parents come before children: copy
/// in this order, delete in reverse.
pub(crate) const TENANT_TABLES: &[(&str, &str)] = &[
    (
        "models",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "model_versions",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "compliance_selections",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "compliance_mappings",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "compliance_remediations",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "compliance_exclusions",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "conversation_messages",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "activity",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "systems",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "system_models",
        "system_id IN (SELECT id FROM systems WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "assertions",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "verification_runs",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "drift_items",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "control_sufficiency",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "repo_commits",
        "model_id IN (SELECT id FROM models WHERE workspace_id IN (SELECT value FROM json_each(?1)))",
    ),
    (
        "ci_keys",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "workspace_security",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "findings",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "llm_cache",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "bearer_jti",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "jira_links",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "confluence_pages",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
    (
        "integration_outbox",
        "workspace_id IN (SELECT value FROM json_each(?1))",
    ),
];

/// Tables that only ever hold platform data (identity, orgs, administration, usage
/// telemetry without content). In an org database they stay empty. Listed so that a test
/// fails when a new table is not classified as tenant or platform data.
#[cfg(test)]
pub(crate) const PLATFORM_TABLES: &[&str] = &[
    "instance_meta",
    "users",
    "workspaces",
    "workspace_members",
    "workspace_invitations",
    "org_members",
    "sessions",
    "api_keys",
    "login_throttle",
    "mfa_totp",
    "mfa_totp_pending",
    "mfa_recovery_codes",
    "webauthn_credentials",
    "auth_challenges",
    "audit_log",
    "trusted_signers",
    "maintenance_state",
    "license_install",
    "orgs",
    "llm_usage",
    "org_integrations",
    "atlassian_accounts",
    "mail_outbox",
    "password_resets",
    "signup_requests",
    "oauth_clients",
    "oauth_grants",
    "oauth_codes",
    "oauth_tokens",
    "credit_allowances",
    "credit_ledger",
    "credit_notices",
];

/// Associated data binding a wrapped DEK to its org.
pub(crate) fn dek_aad(org_id: &str) -> String {
    format!("org-dek:{org_id}")
}

/// Associated data binding an org's sealed signing key to its org.
pub(crate) fn signing_aad(org_id: &str) -> String {
    format!("org-signing-key:{org_id}")
}

struct Inner {
    platform: Db,
    master: Arc<MasterKey>,
    orgs_dir: PathBuf,
    busy: Duration,
    open: Mutex<HashMap<String, Db>>,
}

/// Resolves workspaces to the database holding their data; cheap to clone.
#[derive(Clone)]
pub struct TenantDbs {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TenantDbs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantDbs")
            .field("platform", &self.inner.platform)
            .finish()
    }
}

impl TenantDbs {
    /// Builds the resolver for an instance.
    pub fn new(platform: Db, master: Arc<MasterKey>, config: &Config) -> Self {
        Self {
            inner: Arc::new(Inner {
                platform,
                master,
                orgs_dir: config.data_dir.join(ORGS_DIR),
                busy: Duration::from_millis(config.storage.busy_timeout_ms),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The platform database (identity, orgs, administration, personal workspaces).
    pub fn platform(&self) -> &Db {
        &self.inner.platform
    }

    /// Path of an org's database file.
    pub fn org_db_path(&self, org_id: &str) -> PathBuf {
        self.inner.orgs_dir.join(format!("{org_id}.db"))
    }

    /// Directory of org databases.
    pub fn orgs_dir(&self) -> &Path {
        &self.inner.orgs_dir
    }

    /// Where a workspace's data lives; `None` for an unknown workspace.
    pub fn locate(conn: &Connection, workspace_id: &str) -> Result<Option<Location>> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = conn
            .prepare_cached(
                "SELECT w.org_id, o.data_location, o.shredded_at FROM workspaces w \
                 LEFT JOIN orgs o ON o.id = w.org_id WHERE w.id = ?1",
            )?
            .query_row([workspace_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        Ok(row.map(|(org, location, shredded)| match org {
            None => Location::Platform,
            Some(org_id) if shredded.is_some() => Location::Shredded { org_id },
            Some(org_id) if location.as_deref() == Some("org") => Location::Org { org_id },
            Some(_) => Location::Platform,
        }))
    }

    /// The database of a location.
    pub fn db_at(&self, location: &Location) -> Result<Db> {
        match location {
            Location::Platform => Ok(self.inner.platform.clone()),
            Location::Org { org_id } => self.org_db(org_id),
            Location::Shredded { .. } => Err(Error::Gone(
                "this workspace belonged to an organization that was crypto-shredded; its data no longer exists".into(),
            )),
        }
    }

    /// The database holding a workspace's data.
    pub fn workspace_db(&self, workspace_id: &str) -> Result<Db> {
        let conn = self.inner.platform.conn()?;
        let location = Self::locate(&conn, workspace_id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        drop(conn);
        self.db_at(&location)
    }

    /// An isolated org's database, opened with its unwrapped DEK (cached).
    pub fn org_db(&self, org_id: &str) -> Result<Db> {
        if let Some(db) = self.cached(org_id) {
            return Ok(db);
        }
        let conn = self.inner.platform.conn()?;
        let wrapped: Option<Option<Vec<u8>>> = conn
            .query_row(
                "SELECT wrapped_dek FROM orgs WHERE id = ?1 AND shredded_at IS NULL",
                [org_id],
                |r| r.get(0),
            )
            .optional()?;
        drop(conn);
        let wrapped = wrapped
            .ok_or_else(|| Error::Gone("the organization's data no longer exists".into()))?
            .ok_or_else(|| Error::Conflict("the organization has no database of its own".into()))?;
        let key = dek::unwrap_dek(&self.inner.master, &wrapped, dek_aad(org_id).as_bytes())?;
        let db = Db::open(
            &self.org_db_path(org_id),
            &DbKey::from_bytes(*key),
            &self.org_open_options(),
        )?;
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        Ok(open.entry(org_id.to_string()).or_insert(db).clone())
    }

    fn cached(&self, org_id: &str) -> Option<Db> {
        let open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(org_id).cloned()
    }

    /// The databases open in this process: the platform and each org database opened since
    /// start (for upkeep such as WAL checkpoints, which must not open anything new).
    pub fn open_now(&self) -> Vec<Db> {
        let mut out = vec![self.inner.platform.clone()];
        let open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        out.extend(open.values().cloned());
        out
    }

    /// Drops the cached handle of an org (after shred or delete), so no pool keeps the
    /// deleted file open.
    pub fn forget(&self, org_id: &str) {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        open.remove(org_id);
    }

    /// Options for org databases: a small pool each (many orgs, few busy at once).
    pub fn org_open_options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: self.inner.busy,
            pool_size: 4,
        }
    }

    /// Creates an org's database under a fresh DEK. Returns the wrapped DEK (to be stored in
    /// the org's row), the raw DEK (to seal the org's signing key) and the open database.
    /// A leftover file at the path (from a creation that crashed before its row was written)
    /// cannot hold data anyone can read, and is replaced.
    pub fn create_org_db(
        &self,
        org_id: &str,
    ) -> Result<(Vec<u8>, zeroize::Zeroizing<[u8; 32]>, Db)> {
        let key = dek::generate_key()?;
        let wrapped = dek::wrap_dek(&self.inner.master, &key, dek_aad(org_id).as_bytes())?;
        crate::crypto::ensure_private_dir(&self.inner.orgs_dir)?;
        let path = self.org_db_path(org_id);
        remove_db_files(&path);
        let db = Db::open(&path, &DbKey::from_bytes(*key), &self.org_open_options())?;
        // Marks the file as an org database, so backups of it cannot be restored as the
        // platform database and vice versa.
        db.conn()?.execute(
            "INSERT OR REPLACE INTO instance_meta (key, value) VALUES ('db_role', 'org'), ('org_id', ?1)",
            [org_id],
        )?;
        Ok((wrapped, key, db))
    }

    /// Every database that holds tenant data now: the platform and each isolated org that
    /// was not shredded. For lookups that come without a workspace (the public badge).
    pub fn all(&self) -> Result<Vec<Db>> {
        let ids: Vec<String> = {
            let conn = self.inner.platform.conn()?;
            let mut stmt = conn.prepare(
                "SELECT id FROM orgs WHERE data_location = 'org' AND shredded_at IS NULL AND wrapped_dek IS NOT NULL ORDER BY id",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        let mut out = vec![self.inner.platform.clone()];
        for id in ids {
            match self.org_db(&id) {
                Ok(db) => out.push(db),
                Err(e) => tracing::warn!(org = %id, error = %e, "org database unavailable"),
            }
        }
        Ok(out)
    }
}

/// Deletes a database file and its WAL companions; missing files are fine.
pub(crate) fn remove_db_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        let p = PathBuf::from(s);
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "could not delete database file");
        }
    }
}

/// Deletes every tenant row of the given workspaces from `conn` (children first). The
/// caller owns the transaction.
pub(crate) fn delete_tenant_rows(conn: &Connection, workspaces: &[String]) -> Result<u64> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut n = 0u64;
    for (table, filter) in TENANT_TABLES.iter().rev() {
        let changed = conn.execute(&format!("DELETE FROM {table} WHERE {filter}"), [&ids])?;
        n += changed as u64;
    }
    Ok(n)
}

/// Copies every tenant row of the given workspaces from `from` into `to` (parents first),
/// replacing rows with the same key. Both databases must have the same schema version.
pub(crate) fn copy_tenant_rows(
    from: &Connection,
    to: &Connection,
    workspaces: &[String],
) -> Result<u64> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut n = 0u64;
    for (table, filter) in TENANT_TABLES {
        let mut read = from.prepare(&format!("SELECT * FROM {table} WHERE {filter}"))?;
        let columns = read.column_count();
        let placeholders = vec!["?"; columns].join(", ");
        let mut write = to.prepare(&format!(
            "INSERT OR REPLACE INTO {table} VALUES ({placeholders})"
        ))?;
        let mut rows = read.query([&ids])?;
        while let Some(row) = rows.next()? {
            let values = (0..columns)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            write.execute(rusqlite::params_from_iter(values))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_classified_as_tenant_or_platform() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(
            &dir.path().join("t.db"),
            &DbKey::from_bytes([3; 32]),
            &OpenOptions::default(),
        )
        .expect("open");
        let conn = db.conn().expect("conn");
        let mut stmt = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .expect("prepare");
        let tables: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        for t in &tables {
            let tenant = TENANT_TABLES.iter().any(|(n, _)| n == t);
            let platform = PLATFORM_TABLES.contains(&t.as_str());
            assert!(
                tenant ^ platform,
                "table {t} must be listed exactly once in TENANT_TABLES or PLATFORM_TABLES (src/tenancy/resolver.rs)"
            );
        }
        for (t, filter) in TENANT_TABLES {
            assert!(tables.contains(&t.to_string()), "{t} does not exist");
            conn.prepare(&format!("SELECT count(*) FROM {t} WHERE {filter}"))
                .unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }
}
