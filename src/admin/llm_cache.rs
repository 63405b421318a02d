//! The LLM response cache, administered: statistics and clearing, for one user or for
//! everyone, over every database that holds cached answers (the platform database and each
//! isolated organization's, since cached answers are tenant data and live beside it).
//!
//! The hit rate comes from the usage records (`llm_usage.cache_hit`) kept for the telemetry
//! retention period; with telemetry off there are none and the rate is unknown (`None`).
//! The size is approximate: the bytes of the stored text of each entry, without SQLite's
//! page and index overhead.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{AdminService, Error, Result};

/// Cache statistics, for one user or for everyone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheStats {
    /// The user the numbers are for (`None`: everyone).
    pub user: Option<CacheUser>,
    /// `llm.cache_enabled`.
    pub enabled: bool,
    /// Entries stored now.
    pub entries: u64,
    /// Approximate size of the entries in bytes (their stored text).
    pub size_bytes: u64,
    /// Creation time of the oldest entry.
    pub oldest: Option<String>,
    /// Last use of the most recently used entry.
    pub last_used: Option<String>,
    /// LLM calls recorded in the telemetry retention period.
    pub calls: u64,
    /// Of those, calls answered from the cache.
    pub cache_hits: u64,
    /// `cache_hits / calls`, `None` without recorded calls (or with telemetry off).
    pub hit_rate: Option<f64>,
    /// `llm.cache_ttl_hours`.
    pub ttl_hours: u64,
    /// `llm.cache_max_entries` (per database).
    pub max_entries: u64,
    /// Databases counted (the platform's and each isolated organization's).
    pub databases: u64,
}

/// A user named in cache statistics or a clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheUser {
    /// User id.
    pub id: String,
    /// Email.
    pub email: String,
}

/// What a clear removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheCleared {
    /// The user whose entries were removed (`None`: everyone's).
    pub user: Option<CacheUser>,
    /// Entries removed.
    pub removed: u64,
}

fn entry_stats(
    conn: &Connection,
    user_id: Option<&str>,
) -> rusqlite::Result<(u64, u64, Option<String>, Option<String>)> {
    conn.query_row(
        "SELECT COUNT(*),
                COALESCE(SUM(length(CAST(workspace_id AS BLOB)) + length(CAST(user_id AS BLOB))
                    + length(CAST(request_hash AS BLOB)) + length(CAST(response AS BLOB))
                    + length(created_at) + length(last_used)), 0),
                MIN(created_at), MAX(last_used)
         FROM llm_cache WHERE ?1 IS NULL OR user_id = ?1",
        [user_id],
        |r| {
            let n: i64 = r.get(0)?;
            let size: i64 = r.get(1)?;
            Ok((
                u64::try_from(n).unwrap_or(0),
                u64::try_from(size).unwrap_or(0),
                r.get(2)?,
                r.get(3)?,
            ))
        },
    )
}

impl AdminService {
    /// Resolves a user by id or email (case-insensitive).
    pub fn find_user(&self, user: &str) -> Result<CacheUser> {
        let conn = self.conn()?;
        conn.query_row(
            "SELECT id, email FROM users WHERE id = ?1 OR email = ?1 COLLATE NOCASE",
            [user.trim()],
            |r| {
                Ok(CacheUser {
                    id: r.get(0)?,
                    email: r.get(1)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| Error::Invalid(format!("user: no user {:?}", user.trim())))
    }

    /// Runs `f` on the platform database and on each isolated organization's database.
    fn each_cache_db<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<Vec<T>> {
        let mut out = vec![f(&*self.conn()?)?];
        let all = self.tenants.all().map_err(super::orgs::tenancy)?;
        for db in all.into_iter().skip(1) {
            out.push(f(&*db.conn()?)?);
        }
        Ok(out)
    }

    /// Cache statistics for `user` (id or email) or for everyone.
    pub fn cache_stats(&self, user: Option<&str>) -> Result<CacheStats> {
        let user = user.map(|u| self.find_user(u)).transpose()?;
        let uid = user.as_ref().map(|u| u.id.as_str());
        let per_db = self.each_cache_db(|conn| Ok(entry_stats(conn, uid)?))?;
        let (calls, cache_hits): (i64, i64) = self.conn()?.query_row(
            "SELECT COUNT(*), COALESCE(SUM(cache_hit), 0) FROM llm_usage
             WHERE model != '' AND (?1 IS NULL OR user_id = ?1)",
            [uid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let calls = u64::try_from(calls).unwrap_or(0);
        let cache_hits = u64::try_from(cache_hits).unwrap_or(0);
        let llm = &self.config.llm;
        #[allow(clippy::cast_precision_loss)]
        let hit_rate =
            (calls > 0).then(|| ((cache_hits as f64 / calls as f64) * 10_000.0).round() / 10_000.0);
        Ok(CacheStats {
            user,
            enabled: llm.cache_enabled,
            entries: per_db.iter().map(|s| s.0).sum(),
            size_bytes: per_db.iter().map(|s| s.1).sum(),
            oldest: per_db.iter().filter_map(|s| s.2.clone()).min(),
            last_used: per_db.iter().filter_map(|s| s.3.clone()).max(),
            calls,
            cache_hits,
            hit_rate,
            ttl_hours: llm.cache_ttl_hours,
            max_entries: llm.cache_max_entries,
            databases: per_db.len() as u64,
        })
    }

    /// Removes the cached answers of `user` (id or email), or everyone's; recorded in the
    /// audit log as `admin.llm_cache_clear`.
    pub fn clear_cache(&self, actor: &str, user: Option<&str>) -> Result<CacheCleared> {
        let user = user.map(|u| self.find_user(u)).transpose()?;
        let removed = self.delete_cache_entries(user.as_ref().map(|u| u.id.as_str()))?;
        let subject = user.as_ref().map_or("all users", |u| u.email.as_str());
        self.log_event(
            &*self.conn()?,
            "llm_cache_clear",
            actor,
            subject,
            &format!("{removed} cached LLM answers removed"),
        )?;
        Ok(CacheCleared { user, removed })
    }

    /// Removes the cached answers of the signed-in user `user_id` (self-service); recorded
    /// in the audit log as `llm_cache.clear_own`.
    pub fn clear_own_cache(&self, user_id: &str) -> Result<CacheCleared> {
        let user = self.find_user(user_id)?;
        let removed = self.delete_cache_entries(Some(&user.id))?;
        self.conn()?.execute(
            "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, 'llm_cache.clear_own', ?3, ?4)",
            params![
                super::now_rfc3339(),
                user.id,
                user.email,
                format!("{removed} cached LLM answers removed")
            ],
        )?;
        Ok(CacheCleared {
            user: Some(user),
            removed,
        })
    }

    fn delete_cache_entries(&self, user_id: Option<&str>) -> Result<u64> {
        let removed = self.each_cache_db(|conn| {
            Ok(conn.execute(
                "DELETE FROM llm_cache WHERE ?1 IS NULL OR user_id = ?1",
                [user_id],
            )?)
        })?;
        Ok(removed.into_iter().map(|n| n as u64).sum())
    }
}
