//! API keys: `mk_` developer keys (any user) and `mv_` verifier keys (workspace owners only),
//! each bound to one workspace at creation. The key is shown once; only its SHA-256 is kept.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{AuthService, Caller, Error, Result, Scope, invalid, now_str, secrets, users};

/// Key metadata as listed (never the key itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    /// Key id (for revocation).
    pub id: String,
    /// Label chosen at creation.
    pub name: String,
    /// `developer` or `verifier`.
    pub scope: Scope,
    /// First characters of the key, to recognize it.
    pub prefix: String,
    /// Workspace the key acts in.
    pub workspace_id: String,
    /// Created.
    pub created_at: String,
    /// Last successful use.
    pub last_used_at: Option<String>,
    /// Set when revoked.
    pub revoked_at: Option<String>,
}

/// A freshly created key: the only time the secret is visible.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    /// The key to copy now.
    pub key: String,
    /// Its metadata.
    #[serde(flatten)]
    pub meta: ApiKey,
}

/// Request to create a key.
#[derive(Debug, Clone, Deserialize)]
pub struct NewKeyRequest {
    /// Label, e.g. "Claude Code laptop" or "GitHub Actions".
    pub name: String,
    /// `developer` or `verifier`.
    pub scope: String,
    /// Workspace; default: the caller's current workspace.
    #[serde(default)]
    pub workspace_id: Option<String>,
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let scope: String = r.get(2)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Developer),
        prefix: r.get(3)?,
        workspace_id: r.get(4)?,
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

const KEY_COLUMNS: &str =
    "id, name, scope, prefix, workspace_id, created_at, last_used_at, revoked_at";

impl AuthService {
    /// Creates a key for the caller. Verifier keys need ownership of the workspace.
    /// API-key callers cannot mint keys (a leaked key must not be able to multiply itself).
    pub fn create_api_key(&self, caller: &Caller, req: &NewKeyRequest) -> Result<CreatedKey> {
        if caller.scope().is_some() {
            return Err(Error::Forbidden(
                "API keys are created from a signed-in session, not with another key".into(),
            ));
        }
        let workspace = req
            .workspace_id
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| caller.workspace_id.clone());
        self.create_api_key_for(&caller.user_id, &req.name, &req.scope, Some(&workspace))
    }

    /// Creates a key for a user (also used by `rampart admin api-key create`).
    pub fn create_api_key_for(
        &self,
        user_id: &str,
        name: &str,
        scope: &str,
        workspace: Option<&str>,
    ) -> Result<CreatedKey> {
        let scope = Scope::parse(scope)
            .ok_or_else(|| invalid("scope", "must be \"developer\" or \"verifier\""))?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        let conn = self.db.conn()?;
        let user = users::get(&conn, user_id)?;
        if user.disabled {
            return Err(Error::Forbidden("the account is disabled".into()));
        }
        let workspace = match workspace {
            Some(w) => w.to_string(),
            None => users::personal_workspace(&conn, user_id)?,
        };
        let ws = crate::tenancy::workspaces::resolve(&conn, user_id, user.role, &workspace)?
            .filter(|r| r.access.covers_data())
            .ok_or(Error::NotFound("workspace"))?;
        if matches!(ws.location, crate::tenancy::Location::Shredded { .. }) {
            return Err(Error::Gone(
                "the workspace's organization was crypto-shredded".into(),
            ));
        }
        if scope == Scope::Verifier && !ws.access.role.can_manage() {
            return Err(Error::Forbidden(
                "verifier keys can only be created by an owner or admin of the workspace".into(),
            ));
        }
        let key = format!(
            "{}{}",
            scope.prefix(),
            secrets::base62(&secrets::random_bytes::<32>())
        );
        let meta = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            scope,
            prefix: key.chars().take(10).collect(),
            workspace_id: workspace,
            created_at: now_str(),
            last_used_at: None,
            revoked_at: None,
        };
        conn.execute(
            "INSERT INTO api_keys (id, user_id, workspace_id, scope, name, prefix, key_hash, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                meta.id,
                user_id,
                meta.workspace_id,
                scope.as_str(),
                meta.name,
                meta.prefix,
                secrets::sha256_hex(&key),
                meta.created_at
            ],
        )?;
        AuthService::audit(
            &conn,
            Some(user_id),
            "api_key.create",
            &meta.prefix,
            scope.as_str(),
        );
        Ok(CreatedKey { key, meta })
    }

    /// The caller's keys, newest first.
    pub fn list_api_keys(&self, caller: &Caller) -> Result<Vec<ApiKey>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY created_at DESC"
        ))?;
        let keys = stmt
            .query_map([&caller.user_id], key_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(keys)
    }

    /// Revokes one of the caller's keys; it stops working immediately.
    pub fn revoke_api_key(&self, caller: &Caller, id: &str) -> Result<ApiKey> {
        let conn = self.db.conn()?;
        let key = conn
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND user_id = ?2"),
                params![id, caller.user_id],
                key_from_row,
            )
            .optional()?
            .ok_or(Error::NotFound("API key"))?;
        conn.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?1) WHERE id = ?2",
            params![now_str(), id],
        )?;
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "api_key.revoke",
            &key.prefix,
            "",
        );
        Ok(ApiKey {
            revoked_at: Some(key.revoked_at.unwrap_or_else(now_str)),
            ..key
        })
    }
}
