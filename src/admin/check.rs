//! `rampart admin check`: is every database of this instance sound? For the platform
//! database and each organization database it checks that the key opens it, that its schema
//! version is one this binary can run (current, or migrations pending), `PRAGMA
//! integrity_check`, `PRAGMA foreign_key_check`, and that every model's current version is
//! stored whole in its history (no partial model version). One line per database.
//!
//! The check only reads. It never creates a database, a key or a directory, and never
//! applies a migration, so it is safe on a data dir that `rampart serve` is using and on one
//! that something is wrong with.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::config::Config;
use crate::crypto::{DbKey, MasterKey, dek};
use crate::store::{self, migrations};
use crate::tenancy::resolver::{ORGS_DIR, dek_aad};

/// The verdict on one database.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DbCheck {
    /// `platform`, or `org <slug>`.
    pub name: String,
    /// The database file.
    pub path: PathBuf,
    /// True when every check passed.
    pub ok: bool,
    /// Schema version found (None when the file could not be opened).
    pub schema: Option<u32>,
    /// What was found, as one line: each check's result, or the first failure.
    pub summary: String,
}

impl DbCheck {
    fn failed(name: &str, path: &Path, summary: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            ok: false,
            schema: None,
            summary: summary.into(),
        }
    }

    /// The report line: `ok   platform  <path>  <summary>` (FAIL instead of ok). Always one
    /// line: line breaks in what SQLite reported become spaces.
    pub fn line(&self) -> String {
        format!(
            "{:<4}  {:<20}  {}  {}",
            if self.ok { "ok" } else { "FAIL" },
            self.name,
            self.path.display(),
            self.summary.replace(['\r', '\n'], " ")
        )
    }
}

/// The master key as it is, without creating one: `None` with the reason when it cannot be
/// had (then nothing can be decrypted, which the report says).
pub fn existing_master_key(config: &Config) -> Result<MasterKey, String> {
    if config.storage.kms_provider == "static" {
        return MasterKey::load(config).map_err(|e| e.to_string());
    }
    if config.storage.kms_provider == "vault" {
        let path = config.data_dir.join(crate::crypto::vault::WRAPPED_KEY_FILE);
        return match path.try_exists() {
            Ok(true) => MasterKey::load(config).map_err(|e| e.to_string()),
            Ok(false) => Err(format!(
                "wrapped master key {} is missing: restore it from your key backup",
                path.display()
            )),
            Err(e) => Err(format!("wrapped master key {}: {e}", path.display())),
        };
    }
    let path = config.data_dir.join(crate::crypto::MASTER_KEY_FILE);
    match path.try_exists() {
        Ok(true) => MasterKey::load(config).map_err(|e| e.to_string()),
        Ok(false) => Err(format!(
            "master key {} is missing: restore it from your key backup",
            path.display()
        )),
        Err(e) => Err(format!("master key {}: {e}", path.display())),
    }
}

/// An isolated organization as listed for the check: id, slug, wrapped DEK, data location.
type OrgRow = (String, String, Vec<u8>, String);

/// Checks the platform database and every organization database of the instance.
pub fn check_instance(config: &Config, master: Result<&MasterKey, String>) -> Vec<DbCheck> {
    let busy = Duration::from_millis(config.storage.busy_timeout_ms);
    let platform_path = config.data_dir.join(store::PLATFORM_DB_FILE);
    let master = match master {
        Ok(m) => m,
        Err(why) => return vec![DbCheck::failed("platform", &platform_path, why)],
    };
    let (platform, conn) = check_one(
        "platform",
        &platform_path,
        &master.platform_db_key(),
        busy,
        None,
    );
    let mut out = vec![platform];
    let Some(conn) = conn else {
        return out;
    };
    let orgs: rusqlite::Result<Vec<OrgRow>> = conn
        .prepare(
            "SELECT id, slug, wrapped_dek, data_location FROM orgs \
             WHERE wrapped_dek IS NOT NULL AND shredded_at IS NULL ORDER BY slug",
        )
        .and_then(|mut stmt| {
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        });
    let orgs = match orgs {
        Ok(o) => o,
        Err(e) => {
            out[0].ok = false;
            out[0].summary = format!("cannot list organizations: {e}");
            return out;
        }
    };
    for (id, slug, wrapped, location) in orgs {
        let name = format!("org {slug}");
        let path = config.data_dir.join(ORGS_DIR).join(format!("{id}.db"));
        if !path.exists() {
            if location == "org" {
                out.push(DbCheck::failed(
                    &name,
                    &path,
                    "database file is missing (its data lives nowhere else)",
                ));
            }
            continue;
        }
        let key = match dek::unwrap_dek(master, &wrapped, dek_aad(&id).as_bytes()) {
            Ok(k) => DbKey::from_bytes(*k),
            Err(e) => {
                out.push(DbCheck::failed(
                    &name,
                    &path,
                    format!("the organization's key does not unwrap with this master key: {e}"),
                ));
                continue;
            }
        };
        out.push(check_one(&name, &path, &key, busy, Some(&id)).0);
    }
    out
}

/// Checks one database; also returns the open connection when it opened (the platform's
/// is used to list the organizations).
fn check_one(
    name: &str,
    path: &Path,
    key: &DbKey,
    busy: Duration,
    org_id: Option<&str>,
) -> (DbCheck, Option<Connection>) {
    if !path.exists() {
        return (
            DbCheck::failed(name, path, "database file does not exist"),
            None,
        );
    }
    // No CREATE flag: a missing file stays missing.
    let conn = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(c) => c,
        Err(e) => {
            return (
                DbCheck::failed(name, path, format!("cannot open: {e}")),
                None,
            );
        }
    };
    let keyed = conn
        .execute_batch(&crate::store::key_pragmas(key))
        .and_then(|()| conn.busy_timeout(busy))
        .and_then(|()| {
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
        });
    if let Err(e) = keyed {
        let why = if matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase)
        {
            "the key does not open it (wrong key, or not a rampart database)".to_string()
        } else {
            format!("cannot read: {e}")
        };
        return (DbCheck::failed(name, path, why), None);
    }
    let mut report = DbCheck {
        name: name.to_string(),
        path: path.to_path_buf(),
        ok: true,
        schema: None,
        summary: String::new(),
    };
    let mut parts = Vec::new();
    let fail = |report: &mut DbCheck, parts: &mut Vec<String>, what: String| {
        report.ok = false;
        parts.push(what);
    };
    let latest = migrations::latest();
    match conn.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0)) {
        Ok(v) => {
            report.schema = Some(v);
            if v > latest {
                fail(
                    &mut report,
                    &mut parts,
                    format!("schema {v} is newer than this rampart ({latest}): upgrade rampart"),
                );
            } else if v < latest {
                parts.push(format!(
                    "schema {v}/{latest} (migrations pending; applied at the next start)"
                ));
            } else {
                parts.push(format!("schema {v}/{latest}"));
            }
        }
        Err(e) => fail(&mut report, &mut parts, format!("schema unreadable: {e}")),
    }
    match integrity(&conn) {
        Ok(errors) if errors.is_empty() => parts.push("integrity ok".into()),
        Ok(errors) => fail(
            &mut report,
            &mut parts,
            format!(
                "integrity_check: {} problem(s), first: {}",
                errors.len(),
                errors[0]
            ),
        ),
        Err(e) => fail(
            &mut report,
            &mut parts,
            format!("integrity_check failed: {e}"),
        ),
    }
    match count(&conn, "SELECT count(*) FROM pragma_foreign_key_check") {
        Ok(0) => parts.push("foreign keys ok".into()),
        Ok(n) => fail(
            &mut report,
            &mut parts,
            format!("{n} row(s) violate foreign keys"),
        ),
        Err(e) => fail(
            &mut report,
            &mut parts,
            format!("foreign_key_check failed: {e}"),
        ),
    }
    if has_table(&conn, "model_versions") {
        let models = count(&conn, "SELECT count(*) FROM models").unwrap_or(0);
        match count(
            &conn,
            "SELECT count(*) FROM models m WHERE NOT EXISTS (SELECT 1 FROM model_versions v \
             WHERE v.model_id = m.id AND v.version = m.version AND v.document = m.document)",
        ) {
            Ok(0) => parts.push(format!("{models} model(s) whole")),
            Ok(n) => fail(
                &mut report,
                &mut parts,
                format!("{n} of {models} model(s) differ from their recorded version"),
            ),
            Err(e) => fail(&mut report, &mut parts, format!("model check failed: {e}")),
        }
    }
    if let Some(org_id) = org_id {
        let meta = |k: &str| -> Option<String> {
            conn.query_row("SELECT value FROM instance_meta WHERE key = ?1", [k], |r| {
                r.get(0)
            })
            .optional()
            .ok()
            .flatten()
        };
        if meta("db_role").as_deref() != Some("org") || meta("org_id").as_deref() != Some(org_id) {
            fail(
                &mut report,
                &mut parts,
                "the file is not this organization's database".into(),
            );
        }
    }
    report.summary = parts.join(", ");
    (report, Some(conn))
}

/// The problems `PRAGMA integrity_check` reports, one per line: SQLite may pack several
/// problems into one row, one per line under a `*** in database main ***` header, and the
/// report prints one line per database.
fn integrity(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .iter()
        .flat_map(|r| r.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "ok" && !l.starts_with("*** in database"))
        .map(str::to_string)
        .collect())
}

fn count(conn: &Connection, sql: &str) -> rusqlite::Result<i64> {
    conn.query_row(sql, [], |r| r.get(0))
}

fn has_table(conn: &Connection, name: &str) -> bool {
    conn.query_row(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
        |_| Ok(()),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Db, OpenOptions};

    fn config(dir: &Path) -> Config {
        Config {
            data_dir: dir.to_path_buf(),
            ..Config::default()
        }
    }

    #[test]
    fn sound_database_passes_and_damage_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path());
        let master = MasterKey::from_bytes([7; 32]);
        let db = Db::open(
            &dir.path().join(store::PLATFORM_DB_FILE),
            &master.platform_db_key(),
            &OpenOptions::default(),
        )
        .expect("open");
        let report = check_instance(&cfg, Ok(&master));
        assert_eq!(report.len(), 1);
        assert!(report[0].ok, "{}", report[0].line());
        assert!(
            report[0].summary.contains("integrity ok"),
            "{}",
            report[0].line()
        );

        // A model whose current document was never recorded as a version.
        let conn = db.conn().expect("conn");
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO models (id, workspace_id, title, source, version, document, created_by, created_at, updated_at)
                 VALUES ('m1', 'w', 't', 'web', 2, '{}', 'u', 'now', 'now');",
        )
        .expect("insert");
        drop(conn);
        let report = check_instance(&cfg, Ok(&master));
        assert!(!report[0].ok);
        assert!(
            report[0]
                .summary
                .contains("differ from their recorded version"),
            "{}",
            report[0].line()
        );

        // The wrong key is a clear failure, not a crash, and creates nothing.
        let other = MasterKey::from_bytes([8; 32]);
        let report = check_instance(&cfg, Ok(&other));
        assert!(!report[0].ok);
        assert!(
            report[0].summary.contains("key does not open it"),
            "{}",
            report[0].line()
        );
    }

    /// Regression: a damaged page made `integrity_check` answer one row with several
    /// problems on separate lines, which broke the one-line-per-database report.
    #[test]
    fn damage_reported_on_one_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path());
        let master = MasterKey::from_bytes([7; 32]);
        let path = dir.path().join(store::PLATFORM_DB_FILE);
        {
            let db =
                Db::open(&path, &master.platform_db_key(), &OpenOptions::default()).expect("open");
            let conn = db.conn().expect("conn");
            conn.execute_batch(
                "CREATE TABLE filler (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
                 INSERT INTO filler SELECT printf('%0500d', i) FROM n;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .expect("fill");
        }
        let mut bytes = std::fs::read(&path).expect("read");
        let len = bytes.len();
        for b in &mut bytes[len - 40_960..len - 1024] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bytes).expect("write");
        let report = check_instance(&cfg, Ok(&master));
        assert!(!report[0].ok, "{}", report[0].line());
        assert_eq!(report[0].line().lines().count(), 1, "{}", report[0].line());
    }

    #[test]
    fn missing_files_are_reported_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = config(dir.path());
        assert!(existing_master_key(&cfg).is_err());
        let report = check_instance(
            &cfg,
            existing_master_key(&cfg).as_ref().map_err(|e| e.clone()),
        );
        assert!(!report[0].ok);
        assert!(
            report[0].summary.contains("master key"),
            "{}",
            report[0].line()
        );
        let master = MasterKey::from_bytes([7; 32]);
        let report = check_instance(&cfg, Ok(&master));
        assert!(report[0].summary.contains("does not exist"));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            0,
            "nothing was created"
        );
    }
}
