//! Moving an organization's data out of `platform.db` into its own encrypted database.
//!
//! Used when `ORG_DB_ISOLATION` is switched on for an instance that already has org data
//! (automatically when `rampart serve` starts) and by `rampart admin org isolate SLUG`.
//!
//! The move is crash-safe and resumable without a journal of its own:
//! 1. the org gets a DEK, a database and a sealed signing key if it has none (committed on
//!    the org row while its data location is still `platform`; a database file left by a
//!    crash before that commit holds nothing and is replaced);
//! 2. with the platform write lock held, the org database's copy of those workspaces is
//!    cleared and every tenant row is copied into it (committed in the org database);
//! 3. in one platform transaction the rows are deleted from `platform.db` (with
//!    `secure_delete`, so the freed pages are zeroed) and the org's location flips to `org`.
//!
//! A crash before 3 commits leaves `platform.db` authoritative and unchanged: the next run
//! starts again at 2. A crash after it leaves the move done. Requests that resolved the
//! workspace just before the flip and write just after it leave rows behind in
//! `platform.db`; [`sweep`] moves such stragglers and runs after every move and at start.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::resolver::{self, TenantDbs, signing_aad};
use super::{Error, Result};
use crate::crypto::dek;
use crate::crypto::signing::SigningKey;

/// What a move did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IsolationReport {
    /// Org id.
    pub org_id: String,
    /// Workspaces of the org.
    pub workspaces: usize,
    /// Tenant rows moved.
    pub rows_moved: u64,
    /// False when the org's data already lived in its own database.
    pub moved: bool,
}

/// Moves an org's tenant data into its own database (see the module docs).
pub fn isolate(tenants: &TenantDbs, org_id: &str) -> Result<IsolationReport> {
    let platform = tenants.platform();
    let row: Option<(Option<Vec<u8>>, String, Option<String>)> = platform
        .conn()?
        .query_row(
            "SELECT wrapped_dek, data_location, shredded_at FROM orgs WHERE id = ?1",
            [org_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (wrapped, location, shredded) =
        row.ok_or_else(|| Error::NotFound("organization".into()))?;
    if shredded.is_some() {
        return Err(Error::Gone(
            "the organization was crypto-shredded; there is nothing to isolate".into(),
        ));
    }
    let mut report = IsolationReport {
        org_id: org_id.to_string(),
        ..Default::default()
    };
    if location == "org" {
        report.rows_moved = sweep(tenants, org_id)?;
        return Ok(report);
    }
    // Step 1: key, database and signing key.
    if wrapped.is_none() {
        let (wrapped, key, db) = tenants.create_org_db(org_id)?;
        drop(db);
        let signing = SigningKey::generate();
        let sealed = dek::seal(
            &key,
            signing.to_pkcs8_pem().as_bytes(),
            signing_aad(org_id).as_bytes(),
        )?;
        platform.conn()?.execute(
            "UPDATE orgs SET wrapped_dek = ?1, signing_key_sealed = ?2, signing_key_fingerprint = ?3 \
             WHERE id = ?4 AND wrapped_dek IS NULL",
            params![
                wrapped,
                sealed,
                hex::encode(signing.fingerprint()),
                org_id
            ],
        )?;
        tenants.forget(org_id);
    }
    let org_db = tenants.org_db(org_id)?;
    // Step 2: copy under the platform write lock.
    let mut pconn = platform.conn()?;
    pconn.execute_batch("PRAGMA secure_delete = ON;")?;
    let ptx = pconn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let workspaces = org_workspaces(&ptx, org_id)?;
    report.workspaces = workspaces.len();
    {
        let mut oconn = org_db.conn()?;
        let otx = oconn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        resolver::delete_tenant_rows(&otx, &workspaces)?;
        report.rows_moved = resolver::copy_tenant_rows(&ptx, &otx, &workspaces)?;
        otx.commit()?;
    }
    // Step 3: delete from the platform and flip, atomically.
    resolver::delete_tenant_rows(&ptx, &workspaces)?;
    ptx.execute(
        "UPDATE orgs SET data_location = 'org' WHERE id = ?1",
        [org_id],
    )?;
    ptx.commit()?;
    report.moved = true;
    report.rows_moved += sweep(tenants, org_id)?;
    Ok(report)
}

/// Moves rows of an isolated org's workspaces that were written to `platform.db` after the
/// move (see the module docs). Returns how many.
pub fn sweep(tenants: &TenantDbs, org_id: &str) -> Result<u64> {
    let platform = tenants.platform();
    let workspaces = org_workspaces(&*platform.conn()?, org_id)?;
    if workspaces.is_empty() {
        return Ok(0);
    }
    let mut pconn = platform.conn()?;
    let leftover = {
        let ids = serde_json::to_string(&workspaces).unwrap_or_else(|_| "[]".into());
        let mut n = 0i64;
        for (table, filter) in resolver::TENANT_TABLES {
            n += pconn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE {filter}"),
                [&ids],
                |r| r.get::<_, i64>(0),
            )?;
        }
        n
    };
    if leftover == 0 {
        return Ok(0);
    }
    let org_db = tenants.org_db(org_id)?;
    pconn.execute_batch("PRAGMA secure_delete = ON;")?;
    let ptx = pconn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let moved = {
        let mut oconn = org_db.conn()?;
        let otx = oconn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = resolver::copy_tenant_rows(&ptx, &otx, &workspaces)?;
        otx.commit()?;
        n
    };
    resolver::delete_tenant_rows(&ptx, &workspaces)?;
    ptx.commit()?;
    tracing::warn!(org = %org_id, rows = moved, "moved late writes of an isolated org out of platform.db");
    Ok(moved)
}

/// `instance_meta` key holding the isolation setting of the last `rampart serve` start.
const SETTING_KEY: &str = "org_db_isolation";

/// Records the server's `ORG_DB_ISOLATION` in the platform database, so short-lived
/// processes (`rampart admin`) that lack it in their own environment follow the instance.
pub fn record_setting(platform: &crate::store::Db, enabled: bool) -> Result<()> {
    platform.conn()?.execute(
        "INSERT INTO instance_meta (key, value, updated_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![SETTING_KEY, if enabled { "1" } else { "0" }],
    )?;
    Ok(())
}

/// Whether new organizations get their own database: this process's setting, or the one
/// the server last started with.
pub fn enabled(platform: &crate::store::Db, configured: bool) -> Result<bool> {
    if configured {
        return Ok(true);
    }
    Ok(platform.instance_meta(SETTING_KEY)?.as_deref() == Some("1"))
}

/// With isolation configured: isolates every org whose data still lives in `platform.db`
/// and sweeps the isolated ones. Called when `rampart serve` starts.
pub fn isolate_all(tenants: &TenantDbs) -> Result<Vec<IsolationReport>> {
    let ids: Vec<String> = {
        let conn = tenants.platform().conn()?;
        let mut stmt =
            conn.prepare("SELECT id FROM orgs WHERE shredded_at IS NULL ORDER BY created_at")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut out = Vec::new();
    for id in ids {
        out.push(isolate(tenants, &id)?);
    }
    Ok(out)
}

fn org_workspaces(conn: &rusqlite::Connection, org_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM workspaces WHERE org_id = ?1 ORDER BY id")?;
    let ids = stmt
        .query_map([org_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}
