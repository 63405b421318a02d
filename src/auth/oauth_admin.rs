//! The administrators' view of OAuth clients: anyone may register a client (RFC 7591), so
//! superadmins need to see what registered, who uses it, and to shut a client out.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{AuthService, Caller, Error, Result, now_str};

/// A registered client as administrators see it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientInfo {
    /// `client_id`.
    pub id: String,
    /// Registered name (what the consent page showed).
    pub name: String,
    /// Redirect URIs, exactly as registered.
    pub redirect_uris: Vec<String>,
    /// When and from where it registered.
    pub created_at: String,
    /// Address it registered from.
    pub created_ip: String,
    /// Last authorization through it.
    pub last_used_at: Option<String>,
    /// Users with an active authorization of it.
    pub active_grants: i64,
    /// When an administrator revoked it.
    pub revoked_at: Option<String>,
}

impl AuthService {
    /// Every registered client, newest first (superadmins).
    pub fn oauth_list_clients(&self, caller: &Caller) -> Result<Vec<ClientInfo>> {
        caller.require_superadmin()?;
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(
            "SELECT c.id, c.name, c.redirect_uris, c.created_at, c.created_ip, c.last_used_at, \
             c.revoked_at, (SELECT count(*) FROM oauth_grants g WHERE g.client_id = c.id \
             AND g.revoked_at IS NULL) FROM oauth_clients c ORDER BY c.created_at DESC, c.id",
        )?;
        let list = stmt
            .query_map([], |r| {
                let uris: String = r.get(2)?;
                Ok(ClientInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
                    created_at: r.get(3)?,
                    created_ip: r.get(4)?,
                    last_used_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                    active_grants: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(list)
    }

    /// Revokes a client (superadmins): every grant and token of it stops at once, and it can
    /// no longer start an authorization. Idempotent; an unknown id is "not found".
    pub fn oauth_revoke_client(&self, caller: &Caller, id: &str) -> Result<()> {
        caller.require_superadmin()?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        let known: Option<String> = tx
            .query_row("SELECT name FROM oauth_clients WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(name) = known else {
            return Err(Error::NotFound("OAuth client"));
        };
        tx.execute(
            "UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
            params![now_str(), id],
        )?;
        let grants: Vec<String> = tx
            .prepare("SELECT id FROM oauth_grants WHERE client_id = ?1 AND revoked_at IS NULL")?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for g in &grants {
            Self::revoke_grant(&tx, g, "client revoked by an administrator")?;
        }
        Self::audit(
            &tx,
            Some(&caller.user_id),
            "admin.oauth_client_revoke",
            id,
            &format!("name={name} grants={}", grants.len()),
        );
        tx.commit()?;
        Ok(())
    }
}
