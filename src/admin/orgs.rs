//! Organizations: the tenant records, their limits and members, their per-org keys and
//! databases, deletion and crypto-shred. These methods do not authorize: the admin CLI and
//! TUI (the operator on the box) call them directly, HTTP callers go through
//! `tenancy::orgs`, which checks org admin / superadmin first.
//!
//! With `storage.org_db_isolation`, creating an org generates a random 256-bit DEK, wraps
//! it with the master key (AES-256-GCM, bound to the org id), creates `orgs/<id>.db` under
//! it (SQLCipher, same migration set as the platform DB), and gives the org its own ECDSA
//! P-256 backup signing key sealed by the DEK. Crypto-shred destroys the wrapped DEK and the
//! sealed signing key, deletes the org's database files, and keeps the record with
//! `shredded_at`, so the data is unrecoverable even from old disk blocks.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

use super::backup::Target;
use super::{AdminService, Error, Result};
use crate::crypto::signing::SigningKey;
use crate::crypto::{DbKey, dek};
use crate::store::Db;
use crate::tenancy::OrgRole;
use crate::tenancy::resolver::{self, dek_aad, remove_db_files, signing_aad};

pub use crate::tenancy::resolver::ORGS_DIR;

/// An organization, as listed to superadmins.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Org {
    /// UUIDv4.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercase-hyphen identifier used in paths; never changes.
    pub slug: String,
    /// Free text.
    pub description: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Set once crypto-shredded.
    pub shredded_at: Option<String>,
    /// Whether the org's data lives in its own encrypted database (not shredded).
    pub isolated: bool,
    /// Fingerprint of the org's backup signing key (isolation mode).
    pub signing_key_fingerprint: Option<String>,
    /// Most team workspaces in the org (0: unlimited).
    pub max_workspaces: u64,
    /// Most members of the org (0: unlimited).
    pub max_members: u64,
    /// Workspaces in the org now.
    pub workspace_count: u64,
    /// Members of the org now.
    pub member_count: u64,
}

/// Changes to an organization; absent fields stay.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrgPatch {
    /// New display name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New workspace limit (0: unlimited).
    pub max_workspaces: Option<u64>,
    /// New member limit (0: unlimited).
    pub max_members: Option<u64>,
}

/// A member of an organization.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgMember {
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `org_admin` or `member`.
    pub role: OrgRole,
    /// When they joined.
    pub added_at: String,
}

/// A workspace of an organization, for its admins.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OrgWorkspace {
    /// Workspace id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Members.
    pub member_count: u64,
    /// Created.
    pub created_at: String,
}

/// What is needed to create an organization.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewOrg {
    /// Display name (required).
    pub name: String,
    /// Slug; derived from the name when `None`.
    pub slug: Option<String>,
    /// Optional description.
    pub description: String,
}

/// Longest name / slug.
const MAX_NAME: usize = 100;
const MAX_SLUG: usize = 63;

/// Derives a slug from a name: lowercase ASCII letters and digits, runs of anything else
/// become one hyphen, no leading/trailing hyphen.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut pending_hyphen = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !out.is_empty() {
                out.push('-');
            }
            pending_hyphen = false;
            out.push(c);
        } else {
            pending_hyphen = true;
        }
    }
    out.truncate(MAX_SLUG);
    out.trim_end_matches('-').to_string()
}

/// Checks a slug: 1-63 chars of `a-z`, `0-9`, `-`, not starting or ending with `-`.
pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid slug {slug:?}: use 1-{MAX_SLUG} lowercase letters, digits and hyphens, not starting or ending with a hyphen"
        )))
    }
}

fn org_from_row(r: &Row<'_>) -> rusqlite::Result<Org> {
    let has_dek: bool = r.get(6)?;
    let location: String = r.get(8)?;
    let count =
        |i: usize| -> rusqlite::Result<u64> { Ok(u64::try_from(r.get::<_, i64>(i)?).unwrap_or(0)) };
    Ok(Org {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        description: r.get(3)?,
        created_at: r.get(4)?,
        shredded_at: r.get(5)?,
        isolated: has_dek && location == "org",
        signing_key_fingerprint: r.get(7)?,
        max_workspaces: count(9)?,
        max_members: count(10)?,
        workspace_count: count(11)?,
        member_count: count(12)?,
    })
}

const ORG_COLUMNS: &str = "o.id, o.name, o.slug, o.description, o.created_at, o.shredded_at, \
     o.wrapped_dek IS NOT NULL, o.signing_key_fingerprint, o.data_location, o.max_workspaces, o.max_members, \
     (SELECT count(*) FROM workspaces w WHERE w.org_id = o.id), \
     (SELECT count(*) FROM org_members m WHERE m.org_id = o.id)";

fn member_row(r: &Row<'_>) -> rusqlite::Result<OrgMember> {
    let role: String = r.get(3)?;
    Ok(OrgMember {
        user_id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        role: OrgRole::parse(&role).unwrap_or(OrgRole::Member),
        added_at: r.get(4)?,
    })
}

impl AdminService {
    /// All organizations (shredded ones included), by slug.
    pub fn list_orgs(&self) -> Result<Vec<Org>> {
        let conn = self.conn()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {ORG_COLUMNS} FROM orgs o ORDER BY o.slug"))?;
        let rows = stmt
            .query_map([], org_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One organization by slug.
    pub fn get_org(&self, slug: &str) -> Result<Org> {
        let conn = self.conn()?;
        conn.query_row(
            &format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.slug = ?1 OR o.id = ?1"),
            [slug],
            org_from_row,
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no organization with slug {slug:?}")))
    }

    fn org_db_path(&self, org_id: &str) -> PathBuf {
        self.tenants.org_db_path(org_id)
    }

    /// Creates an organization, respecting the license's `max_orgs` (active orgs count).
    /// In isolation mode also its DEK, encrypted database and signing key.
    pub fn create_org(&self, actor: &str, new: &NewOrg) -> Result<Org> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(Error::Invalid(format!(
                "an organization name of 1-{MAX_NAME} characters is required"
            )));
        }
        let slug = match &new.slug {
            Some(s) => s.trim().to_string(),
            None => slugify(name),
        };
        if slug.is_empty() && new.slug.is_none() {
            return Err(Error::Invalid(format!(
                "cannot derive a slug from {name:?}; pass --slug"
            )));
        }
        validate_slug(&slug)?;
        let active: u64 = {
            let conn = self.conn()?;
            conn.query_row(
                "SELECT count(*) FROM orgs WHERE shredded_at IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )?
            .try_into()
            .unwrap_or(0)
        };
        self.check_can_create_org(active)?;
        if self.get_org(&slug).is_ok() {
            return Err(Error::Conflict(format!(
                "an organization with slug {slug:?} already exists"
            )));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let created_at = super::now_rfc3339();
        let mut keys: Option<(Vec<u8>, Vec<u8>, String)> = None;
        let mut created_db: Option<PathBuf> = None;
        let isolate = crate::tenancy::isolate::enabled(
            self.tenants.platform(),
            self.config.storage.org_db_isolation,
        )
        .map_err(tenancy)?;
        if isolate {
            let (wrapped, dek_bytes, org_db) = self.tenants.create_org_db(&id).map_err(tenancy)?;
            drop(org_db);
            created_db = Some(self.org_db_path(&id));
            let signing = SigningKey::generate();
            let sealed = dek::seal(
                &dek_bytes,
                signing.to_pkcs8_pem().as_bytes(),
                signing_aad(&id).as_bytes(),
            )?;
            keys = Some((wrapped, sealed, hex::encode(signing.fingerprint())));
        }
        let insert = || -> Result<()> {
            let mut conn = self.conn()?;
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO orgs (id, name, slug, description, created_at, updated_at, wrapped_dek, signing_key_sealed, signing_key_fingerprint, data_location)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    id,
                    name,
                    slug,
                    new.description.trim(),
                    created_at,
                    keys.as_ref().map(|k| k.0.clone()),
                    keys.as_ref().map(|k| k.1.clone()),
                    keys.as_ref().map(|k| k.2.clone()),
                    if keys.is_some() { "org" } else { "platform" },
                ],
            )?;
            self.log_event(&tx, "org_create", actor, &slug, &id)?;
            tx.commit()?;
            Ok(())
        };
        if let Err(e) = insert() {
            if let Some(p) = &created_db {
                remove_db_files(p);
            }
            return Err(e);
        }
        self.get_org(&slug)
    }

    /// Opens an isolated org's database with its unwrapped DEK (for the services that keep
    /// org data there).
    pub fn open_org_db(&self, slug: &str) -> Result<Db> {
        let org = self.get_org(slug)?;
        if org.shredded_at.is_some() {
            return Err(Error::Conflict(format!(
                "organization {slug:?} was crypto-shredded; its data no longer exists"
            )));
        }
        self.tenants.org_db(&org.id).map_err(|e| match e {
            crate::tenancy::Error::Conflict(_) => Error::Conflict(format!(
                "organization {slug:?} has no separate database (created without storage.org_db_isolation)"
            )),
            other => tenancy(other),
        })
    }

    /// Crypto-shreds an organization: `confirm` must repeat the slug. Destroys the wrapped
    /// DEK and sealed signing key (one transaction, logged), then deletes the org's
    /// database files. The org record stays with `shredded_at` set.
    pub fn shred_org(&self, actor: &str, slug: &str, confirm: &str) -> Result<Org> {
        if confirm != slug {
            return Err(Error::Confirmation {
                expected: slug.to_string(),
            });
        }
        let org = self.get_org(slug)?;
        if org.shredded_at.is_some() {
            return Err(Error::Conflict(format!(
                "organization {slug:?} was already crypto-shredded at {}",
                org.shredded_at.unwrap_or_default()
            )));
        }
        if !org.isolated {
            return Err(Error::Conflict(format!(
                "organization {slug:?} has no separate encrypted database, so it cannot be crypto-shredded; move its data into one first with `rampart admin org isolate {slug}` (or delete the organization)"
            )));
        }
        {
            let mut conn = self.conn()?;
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE orgs SET wrapped_dek = NULL, signing_key_sealed = NULL, shredded_at = ?2 WHERE id = ?1",
                rusqlite::params![org.id, super::now_rfc3339()],
            )?;
            // Its Jira/Confluence tokens go with its key: nothing of the org stays usable.
            tx.execute("DELETE FROM org_integrations WHERE org_id = ?1", [&org.id])?;
            tx.execute(
                "DELETE FROM atlassian_accounts WHERE org_id = ?1",
                [&org.id],
            )?;
            self.log_event(
                &tx,
                "org_shred",
                actor,
                slug,
                &format!(
                    "org {} crypto-shredded: DEK and signing key destroyed, database deleted",
                    org.id
                ),
            )?;
            tx.commit()?;
        }
        self.tenants.forget(&org.id);
        remove_db_files(&self.org_db_path(&org.id));
        self.get_org(slug)
    }

    /// Changes an organization's name, description or limits (faces decide who may change
    /// what: limits are superadmin-only).
    pub fn update_org(&self, actor: &str, slug: &str, patch: &OrgPatch) -> Result<Org> {
        let org = self.get_org(slug)?;
        if org.shredded_at.is_some() {
            return Err(Error::Conflict(format!(
                "organization {slug:?} was crypto-shredded; it can only be deleted"
            )));
        }
        let name = match &patch.name {
            Some(n) => {
                let n = n.trim();
                if n.is_empty() || n.chars().count() > MAX_NAME {
                    return Err(Error::Invalid(format!(
                        "an organization name of 1-{MAX_NAME} characters is required"
                    )));
                }
                n.to_string()
            }
            None => org.name.clone(),
        };
        let description = patch
            .description
            .as_deref()
            .map(str::trim)
            .unwrap_or(&org.description)
            .to_string();
        if description.chars().count() > 1000 {
            return Err(Error::Invalid(
                "the description may have at most 1000 characters".into(),
            ));
        }
        let limit = |v: Option<u64>, current: u64| -> Result<i64> {
            let v = v.unwrap_or(current);
            i64::try_from(v)
                .ok()
                .filter(|v| *v <= 1_000_000)
                .ok_or_else(|| {
                    Error::Invalid("limits must be between 0 (unlimited) and 1000000".into())
                })
        };
        let max_ws = limit(patch.max_workspaces, org.max_workspaces)?;
        let max_members = limit(patch.max_members, org.max_members)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE orgs SET name = ?1, description = ?2, max_workspaces = ?3, max_members = ?4, updated_at = ?5 WHERE id = ?6",
            params![name, description, max_ws, max_members, super::now_rfc3339(), org.id],
        )?;
        self.log_event(
            &tx,
            "org_update",
            actor,
            &org.slug,
            &format!("name={name:?} max_workspaces={max_ws} max_members={max_members}"),
        )?;
        tx.commit()?;
        self.get_org(&org.slug)
    }

    /// Deletes an organization with all its workspaces and their data; `confirm` must repeat
    /// the slug. Its own database (if any) and key are destroyed like a shred; unlike a
    /// shred, the record goes too.
    pub fn delete_org(&self, actor: &str, slug: &str, confirm: &str) -> Result<()> {
        if confirm != slug {
            return Err(Error::Confirmation {
                expected: slug.to_string(),
            });
        }
        let org = self.get_org(slug)?;
        let workspaces: Vec<String> = {
            let conn = self.conn()?;
            let mut stmt = conn.prepare("SELECT id FROM workspaces WHERE org_id = ?1")?;
            stmt.query_map([&org.id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
        };
        // Data held in the platform database goes first (an org never isolated, or one
        // whose isolation was interrupted).
        {
            let mut conn = self.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            resolver::delete_tenant_rows(&tx, &workspaces).map_err(tenancy)?;
            tx.commit()?;
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM api_keys WHERE workspace_id IN (SELECT id FROM workspaces WHERE org_id = ?1)",
            [&org.id],
        )?;
        tx.execute("DELETE FROM workspaces WHERE org_id = ?1", [&org.id])?;
        tx.execute("DELETE FROM orgs WHERE id = ?1", [&org.id])?;
        self.log_event(
            &tx,
            "org_delete",
            actor,
            slug,
            &format!(
                "org {} deleted with {} workspace(s) and their data",
                org.id,
                workspaces.len()
            ),
        )?;
        tx.commit()?;
        self.tenants.forget(&org.id);
        remove_db_files(&self.org_db_path(&org.id));
        Ok(())
    }

    /// Moves an organization's data out of the platform database into its own encrypted
    /// database (see `tenancy::isolate`); idempotent and resumable.
    pub fn isolate_org(
        &self,
        actor: &str,
        slug: &str,
    ) -> Result<crate::tenancy::isolate::IsolationReport> {
        let org = self.get_org(slug)?;
        let report = crate::tenancy::isolate::isolate(&self.tenants, &org.id).map_err(tenancy)?;
        if report.moved || report.rows_moved > 0 {
            let conn = self.conn()?;
            self.log_event(
                &conn,
                "org_isolate",
                actor,
                slug,
                &format!(
                    "{} row(s) of {} workspace(s) moved into the org's own database",
                    report.rows_moved, report.workspaces
                ),
            )?;
        }
        Ok(report)
    }

    /// Members of an organization, admins first.
    pub fn org_members(&self, slug: &str) -> Result<Vec<OrgMember>> {
        let org = self.get_org(slug)?;
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT u.id, u.email, u.display_name, m.role, m.added_at FROM org_members m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 \
             ORDER BY m.role = 'member', u.email",
        )?;
        let rows = stmt
            .query_map([&org.id], member_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Workspaces of an organization, by name.
    pub fn org_workspaces(&self, slug: &str) -> Result<Vec<OrgWorkspace>> {
        let org = self.get_org(slug)?;
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT w.id, w.name, (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id), w.created_at \
             FROM workspaces w WHERE w.org_id = ?1 ORDER BY w.name COLLATE NOCASE",
        )?;
        let rows = stmt
            .query_map([&org.id], |r| {
                Ok(OrgWorkspace {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    member_count: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    created_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Adds an account to an organization (or changes its role there), within
    /// `max_members`.
    pub fn set_org_member(
        &self,
        actor: &str,
        slug: &str,
        email: &str,
        role: OrgRole,
    ) -> Result<OrgMember> {
        let org = self.get_org(slug)?;
        if org.shredded_at.is_some() {
            return Err(Error::Conflict(format!(
                "organization {slug:?} was crypto-shredded"
            )));
        }
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let user = crate::auth::users::find_by_email(&tx, email.trim())
            .map_err(|e| Error::Invalid(e.to_string()))?
            .ok_or_else(|| Error::NotFound(format!("no account with email {:?}", email.trim())))?;
        crate::tenancy::workspaces::ensure_org_member(&tx, &org.id, &user.id).map_err(tenancy)?;
        tx.execute(
            "UPDATE org_members SET role = ?1 WHERE org_id = ?2 AND user_id = ?3",
            params![role.as_str(), org.id, user.id],
        )?;
        self.log_event(
            &tx,
            "org_member_set",
            actor,
            slug,
            &format!("{} as {}", user.email, role.as_str()),
        )?;
        tx.commit()?;
        self.org_members(slug)?
            .into_iter()
            .find(|m| m.user_id == user.id)
            .ok_or_else(|| Error::NotFound("member".into()))
    }

    /// Removes an account from an organization and from every workspace of it (revoking its
    /// API keys there).
    pub fn remove_org_member(&self, actor: &str, slug: &str, user_id: &str) -> Result<()> {
        let org = self.get_org(slug)?;
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let email: String = tx
            .query_row(
                "SELECT u.email FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND m.user_id = ?2",
                params![org.id, user_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound("member not found".into()))?;
        let sole_owner: Option<String> = tx
            .query_row(
                "SELECT w.name FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id \
                 WHERE w.org_id = ?1 AND m.user_id = ?2 AND m.role = 'owner' \
                 AND (SELECT count(*) FROM workspace_members o WHERE o.workspace_id = w.id AND o.role = 'owner') = 1 LIMIT 1",
                params![org.id, user_id],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(ws) = sole_owner {
            return Err(Error::Conflict(format!(
                "{email} is the last owner of workspace {ws:?}; make someone else its owner first"
            )));
        }
        tx.execute(
            "UPDATE api_keys SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL \
             AND workspace_id IN (SELECT id FROM workspaces WHERE org_id = ?3)",
            params![super::now_rfc3339(), user_id, org.id],
        )?;
        tx.execute(
            "DELETE FROM workspace_members WHERE user_id = ?1 AND workspace_id IN (SELECT id FROM workspaces WHERE org_id = ?2)",
            params![user_id, org.id],
        )?;
        tx.execute(
            "DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2",
            params![org.id, user_id],
        )?;
        // Their own Atlassian account was connected for this org's Jira: it leaves with them.
        tx.execute(
            "DELETE FROM atlassian_accounts WHERE org_id = ?1 AND user_id = ?2",
            params![org.id, user_id],
        )?;
        self.log_event(&tx, "org_member_remove", actor, slug, &email)?;
        tx.commit()?;
        Ok(())
    }
}

/// Maps a tenancy failure into an admin error.
pub(crate) fn tenancy(e: crate::tenancy::Error) -> Error {
    match e {
        crate::tenancy::Error::Store(s) => Error::Store(s),
        crate::tenancy::Error::Crypto(c) => Error::Crypto(c),
        crate::tenancy::Error::Limit(m) => Error::Limit(m),
        crate::tenancy::Error::NotFound(m) => Error::NotFound(format!("{m} not found")),
        crate::tenancy::Error::Invalid { field, message } => {
            Error::Invalid(format!("{field}: {message}"))
        }
        other => Error::Conflict(other.to_string()),
    }
}

impl AdminService {
    /// An isolated organization's database as a backup target, with its unsealed signing key.
    pub(crate) fn org_target(&self, slug: &str) -> Result<(Target, SigningKey)> {
        let org = self.get_org(slug)?;
        if org.shredded_at.is_some() {
            return Err(Error::Conflict(format!(
                "organization {slug:?} was crypto-shredded; its data no longer exists"
            )));
        }
        let conn = self.conn()?;
        let (wrapped, sealed): (Option<Vec<u8>>, Option<Vec<u8>>) = conn.query_row(
            "SELECT wrapped_dek, signing_key_sealed FROM orgs WHERE id = ?1",
            [&org.id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (Some(wrapped), Some(sealed)) = (wrapped, sealed) else {
            return Err(Error::Conflict(format!(
                "organization {slug:?} has no separate database (created without storage.org_db_isolation); back up the platform instead"
            )));
        };
        let dek_bytes = dek::unwrap_dek(&self.master_key, &wrapped, dek_aad(&org.id).as_bytes())?;
        let pem = dek::open(&dek_bytes, &sealed, signing_aad(&org.id).as_bytes())?;
        let pem = std::str::from_utf8(&pem).map_err(|_| {
            Error::Conflict(format!(
                "organization {slug:?}: sealed signing key is damaged"
            ))
        })?;
        let signer = SigningKey::from_pem(pem)
            .map_err(|m| Error::Conflict(format!("organization {slug:?}: signing key: {m}")))?;
        Ok((
            Target {
                path: self.org_db_path(&org.id),
                key: DbKey::from_bytes(*dek_bytes),
                org: Some(slug.to_string()),
            },
            signer,
        ))
    }

    /// An isolated organization's backup signing public key and fingerprint (per-org mode
    /// of `GET /api/admin/signing-key`).
    pub fn org_signing_key(&self, slug: &str) -> Result<super::SigningKeyInfo> {
        let (_, signer) = self.org_target(slug)?;
        let pk = signer.public_key();
        Ok(super::SigningKeyInfo {
            fingerprint: pk.fingerprint_hex(),
            public_key_pem: pk.to_pem(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::testutil::service;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  --Ünïcode & Co 2 "), "n-code-co-2");
        assert!(validate_slug("acme-corp").is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-a").is_err());
        assert!(validate_slug("").is_err());
    }

    #[test]
    fn isolated_create_open_and_shred() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |c| c.storage.org_db_isolation = true);
        let org = svc
            .create_org(
                "t",
                &NewOrg {
                    name: "Acme Corp".into(),
                    ..Default::default()
                },
            )
            .expect("create");
        assert_eq!(org.slug, "acme-corp");
        assert!(org.isolated && org.signing_key_fingerprint.is_some());
        // Evaluation mode allows one org.
        let err = svc
            .create_org(
                "t",
                &NewOrg {
                    name: "Second".into(),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert!(matches!(err, Error::Limit(_)), "{err}");
        let db = svc.open_org_db("acme-corp").expect("open org db");
        db.conn()
            .expect("conn")
            .execute(
                "INSERT INTO instance_meta (key, value) VALUES ('org-data', 'x')",
                [],
            )
            .expect("write");
        drop(db);
        let path = svc.org_db_path(&org.id);
        assert!(path.exists());
        assert!(matches!(
            svc.shred_org("t", "acme-corp", "acme").unwrap_err(),
            Error::Confirmation { .. }
        ));
        let shredded = svc.shred_org("t", "acme-corp", "acme-corp").expect("shred");
        assert!(shredded.shredded_at.is_some() && !shredded.isolated);
        assert!(!path.exists());
        assert!(svc.open_org_db("acme-corp").is_err());
        assert!(matches!(
            svc.shred_org("t", "acme-corp", "acme-corp").unwrap_err(),
            Error::Conflict(_)
        ));
        // The shredded org no longer counts against the limit.
        svc.create_org(
            "t",
            &NewOrg {
                name: "Second".into(),
                ..Default::default()
            },
        )
        .expect("second after shred");
    }
}
