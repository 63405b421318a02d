//! Systems: named groups of threat models of one workspace (tables `systems` and
//! `system_models`), for `list_systems`, `get_system`, `create_system` and
//! `add_model_to_system`. Every lookup is scoped to the caller's workspace.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::auth::{Caller, now_str};
use crate::models::{self, Error, Result};

/// A system with the models it groups.
#[derive(Debug, Clone, Serialize)]
pub struct System {
    /// `sys_…`
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Created.
    pub created_at: String,
    /// Member models: `{id, title}`.
    pub models: Vec<serde_json::Value>,
}

fn members(conn: &rusqlite::Connection, system_id: &str) -> Result<Vec<serde_json::Value>> {
    let mut stmt = conn.prepare(
        "SELECT m.id, m.title FROM system_models s JOIN models m ON m.id = s.model_id WHERE s.system_id = ?1 ORDER BY m.title",
    )?;
    let list = stmt
        .query_map([system_id], |r| {
            Ok(serde_json::json!({"id": r.get::<_, String>(0)?, "title": r.get::<_, String>(1)?}))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(list)
}

fn load(conn: &rusqlite::Connection, caller: &Caller, id: &str) -> Result<System> {
    let row = conn
        .query_row(
            "SELECT id, name, description, created_at FROM systems WHERE id = ?1 AND workspace_id = ?2",
            params![id, caller.workspace_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("system {id}")))?;
    let (id, name, description, created_at): (String, String, String, String) = row;
    let models = members(conn, &id)?;
    Ok(System {
        id,
        name,
        description,
        created_at,
        models,
    })
}

/// Systems of the caller's workspace, by name.
pub fn list(caller: &Caller) -> Result<Vec<System>> {
    let conn = caller.tenant.conn()?;
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM systems WHERE workspace_id = ?1 ORDER BY name, id")?
        .query_map([&caller.workspace_id], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    ids.iter().map(|id| load(&conn, caller, id)).collect()
}

/// One system.
pub fn get(caller: &Caller, id: &str) -> Result<System> {
    let conn = caller.tenant.conn()?;
    load(&conn, caller, id)
}

/// Creates a system, optionally with initial models (all must be the caller's).
pub fn create(
    caller: &Caller,
    name: &str,
    description: &str,
    model_ids: &[String],
) -> Result<System> {
    caller.require_write()?;
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::Invalid {
            field: "name".into(),
            message: "1 to 200 characters".into(),
        });
    }
    if description.chars().count() > 4000 {
        return Err(Error::Invalid {
            field: "description".into(),
            message: "at most 4000 characters".into(),
        });
    }
    let mut conn = caller.tenant.conn()?;
    let tx = conn.transaction()?;
    let id = format!(
        "sys_{}",
        hex::encode(crate::auth::secrets::random_bytes::<6>())
    );
    tx.execute(
        "INSERT INTO systems (id, workspace_id, name, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, caller.workspace_id, name, description.trim(), now_str()],
    )?;
    for m in model_ids {
        models::load(&tx, &caller.workspace_id, m)?;
        tx.execute(
            "INSERT OR IGNORE INTO system_models (system_id, model_id) VALUES (?1, ?2)",
            params![id, m],
        )?;
    }
    let out = load(&tx, caller, &id)?;
    tx.commit()?;
    Ok(out)
}

/// Adds a model to a system (idempotent).
pub fn add_model(caller: &Caller, system_id: &str, model_id: &str) -> Result<System> {
    caller.require_write()?;
    let mut conn = caller.tenant.conn()?;
    let tx = conn.transaction()?;
    load(&tx, caller, system_id)?;
    models::load(&tx, &caller.workspace_id, model_id)?;
    tx.execute(
        "INSERT OR IGNORE INTO system_models (system_id, model_id) VALUES (?1, ?2)",
        params![system_id, model_id],
    )?;
    let out = load(&tx, caller, system_id)?;
    tx.commit()?;
    Ok(out)
}
