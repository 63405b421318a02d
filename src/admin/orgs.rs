//! Organizations: the tenant records, their per-org keys and databases, and crypto-shred.
//!
//! With `storage.org_db_isolation`, creating an org generates a random 256-bit DEK, wraps
//! it with the master key (AES-256-GCM, bound to the org id), creates `orgs/<id>.db` under
//! it (SQLCipher, same migration set as the platform DB), and gives the org its own ECDSA
//! P-256 backup signing key sealed by the DEK. Crypto-shred destroys the wrapped DEK and the
//! sealed signing key, deletes the org's database files, and keeps the record with
//! `shredded_at`, so the data is unrecoverable even from old disk blocks.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

use super::backup::Target;
use super::{AdminService, Error, Result};
use crate::crypto::signing::SigningKey;
use crate::crypto::{DbKey, dek};
use crate::store::{Db, OpenOptions};

/// Directory (inside the data dir) of per-org databases.
pub const ORGS_DIR: &str = "orgs";

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
    /// Whether the org has its own encrypted database (isolation mode, not shredded).
    pub isolated: bool,
    /// Fingerprint of the org's backup signing key (isolation mode).
    pub signing_key_fingerprint: Option<String>,
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
    let wrapped: Option<Vec<u8>> = r.get(6)?;
    Ok(Org {
        id: r.get(0)?,
        name: r.get(1)?,
        slug: r.get(2)?,
        description: r.get(3)?,
        created_at: r.get(4)?,
        shredded_at: r.get(5)?,
        isolated: wrapped.is_some(),
        signing_key_fingerprint: r.get(7)?,
    })
}

const ORG_COLUMNS: &str =
    "id, name, slug, description, created_at, shredded_at, wrapped_dek, signing_key_fingerprint";

impl AdminService {
    /// All organizations (shredded ones included), by slug.
    pub fn list_orgs(&self) -> Result<Vec<Org>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY slug"))?;
        let rows = stmt
            .query_map([], org_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// One organization by slug.
    pub fn get_org(&self, slug: &str) -> Result<Org> {
        let conn = self.conn()?;
        conn.query_row(
            &format!("SELECT {ORG_COLUMNS} FROM orgs WHERE slug = ?1"),
            [slug],
            org_from_row,
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no organization with slug {slug:?}")))
    }

    fn org_db_path(&self, org_id: &str) -> PathBuf {
        self.data_dir().join(ORGS_DIR).join(format!("{org_id}.db"))
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
        if self.config.storage.org_db_isolation {
            let dek_bytes = dek::generate_key()?;
            let wrapped = dek::wrap_dek(&self.master_key, &dek_bytes, dek_aad(&id).as_bytes())?;
            let signing = SigningKey::generate();
            let sealed = dek::seal(
                &dek_bytes,
                signing.to_pkcs8_pem().as_bytes(),
                signing_aad(&id).as_bytes(),
            )?;
            let dir = self.data_dir().join(ORGS_DIR);
            crate::crypto::ensure_private_dir(&dir)?;
            let path = self.org_db_path(&id);
            let org_db = Db::open(
                &path,
                &DbKey::from_bytes(*dek_bytes),
                &self.org_open_options(),
            )?;
            // Marks the file as an org database, so backups of it cannot be restored as
            // the platform database and vice versa.
            org_db.conn()?.execute_batch(&format!(
                "INSERT OR REPLACE INTO instance_meta (key, value) VALUES ('db_role', 'org'), ('org_id', '{id}');"
            ))?;
            drop(org_db);
            created_db = Some(path);
            keys = Some((wrapped, sealed, hex::encode(signing.fingerprint())));
        }
        let insert = || -> Result<()> {
            let mut conn = self.conn()?;
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO orgs (id, name, slug, description, created_at, wrapped_dek, signing_key_sealed, signing_key_fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    id,
                    name,
                    slug,
                    new.description.trim(),
                    created_at,
                    keys.as_ref().map(|k| k.0.clone()),
                    keys.as_ref().map(|k| k.1.clone()),
                    keys.as_ref().map(|k| k.2.clone()),
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

    fn org_open_options(&self) -> OpenOptions {
        OpenOptions {
            busy_timeout: Duration::from_millis(self.config.storage.busy_timeout_ms),
            pool_size: 2,
        }
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
        let conn = self.conn()?;
        let wrapped: Option<Vec<u8>> = conn.query_row(
            "SELECT wrapped_dek FROM orgs WHERE id = ?1",
            [&org.id],
            |r| r.get(0),
        )?;
        let wrapped = wrapped.ok_or_else(|| {
            Error::Conflict(format!(
                "organization {slug:?} has no separate database (created without storage.org_db_isolation)"
            ))
        })?;
        let dek_bytes = dek::unwrap_dek(&self.master_key, &wrapped, dek_aad(&org.id).as_bytes())?;
        Ok(Db::open(
            &self.org_db_path(&org.id),
            &DbKey::from_bytes(*dek_bytes),
            &self.org_open_options(),
        )?)
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
                "organization {slug:?} has no separate encrypted database (created without storage.org_db_isolation), so it cannot be crypto-shredded"
            )));
        }
        {
            let mut conn = self.conn()?;
            let tx = conn.transaction()?;
            tx.execute(
                "UPDATE orgs SET wrapped_dek = NULL, signing_key_sealed = NULL, shredded_at = ?2 WHERE id = ?1",
                rusqlite::params![org.id, super::now_rfc3339()],
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
        remove_db_files(&self.org_db_path(&org.id));
        self.get_org(slug)
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

fn dek_aad(org_id: &str) -> String {
    format!("org-dek:{org_id}")
}

fn signing_aad(org_id: &str) -> String {
    format!("org-signing-key:{org_id}")
}

/// Deletes a database file and its WAL companions; missing files are fine.
fn remove_db_files(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = path.as_os_str().to_owned();
        s.push(suffix);
        let p = PathBuf::from(s);
        if let Err(e) = std::fs::remove_file(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "could not delete org database file");
        }
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
