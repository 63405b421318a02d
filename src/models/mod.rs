//! Threat models as a service: tenant-scoped storage of [`ThreatModel`] documents with
//! version history, the activity feed, the conversation history, and the read models the
//! dashboard and REST/MCP need (lists with summaries, assessments, drill-downs).
//!
//! Every method takes the [`Caller`] and only ever sees rows of the caller's workspace: an
//! id from another workspace is [`Error::NotFound`], indistinguishable from an unknown id.
//! Changes go through [`ModelService::update`], which loads, applies a pure domain operation,
//! bumps the version and saves in one transaction. Entity operations the web pages, REST and
//! MCP share (assets, attackers, control status/notes, evidence) are named methods in
//! `entities.rs`, so the three faces record the same change the same way.

mod cache;
pub mod conversation;
mod entities;
pub mod generate;
pub mod systems;
mod view;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, now_str};
use crate::domain::{
    AssuranceFilter, DomainError, ModelSummary, PortfolioSummary, ThreatModel, VerificationMap,
};
use crate::store;
use crate::tenancy::TenantDbs;

/// What can go wrong in a model operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown id, or another workspace's.
    #[error("{0} not found")]
    NotFound(String),
    /// The domain refused the change (names the field).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Bad request parameter.
    #[error("{field}: {message}")]
    Invalid {
        /// Field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The generation engine failed; nothing was saved.
    #[error("{0}")]
    Engine(String),
    /// Too many AI requests today.
    #[error("{0}")]
    RateLimited(String),
    /// The credits paying for the operation cannot (HTTP 402); nothing was done.
    #[error("{0}")]
    CreditsExhausted(crate::credits::Exhausted),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

impl From<crate::jobs::Busy> for Error {
    /// All job slots taken: answered like other "too many requests" (429).
    fn from(e: crate::jobs::Busy) -> Self {
        Error::RateLimited(e.to_string())
    }
}

impl From<crate::auth::Error> for Error {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::Forbidden(m) => Error::Forbidden(m),
            crate::auth::Error::Store(s) => Error::Store(s),
            other => Error::Forbidden(other.to_string()),
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Maps a resolver failure; the only expected one here is storage.
fn tenancy_error(e: crate::tenancy::Error) -> Error {
    match e {
        crate::tenancy::Error::Store(s) => Error::Store(s),
        other => Error::NotFound(other.to_string()),
    }
}

/// Where a change came from; shown as the source badge and in the activity feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The web app.
    Web,
    /// An MCP client.
    Mcp,
    /// The REST API.
    Api,
    /// Jira: a status synced back from an issue, or a model generated from an issue.
    Jira,
}

impl Source {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Web => "web",
            Source::Mcp => "mcp",
            Source::Api => "api",
            Source::Jira => "jira",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "web" => Source::Web,
            "mcp" => Source::Mcp,
            "jira" => Source::Jira,
            _ => Source::Api,
        }
    }
}

/// Where a new model comes from: the channel it was asked for through and, for a model
/// generated from a Jira issue, that issue (its key is stored, one model per issue and
/// workspace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Channel (a Jira-sourced model says `Jira`).
    pub source: Source,
    /// Key of the Jira issue it was generated from.
    pub issue: Option<String>,
}

impl Origin {
    /// A model generated from a Jira issue.
    pub fn jira(issue: &str) -> Self {
        Self {
            source: Source::Jira,
            issue: Some(issue.to_string()),
        }
    }
}

impl From<Source> for Origin {
    fn from(source: Source) -> Self {
        Self {
            source,
            issue: None,
        }
    }
}

/// The `models.source` value of a new model. The column's CHECK predates Jira (SQLite cannot
/// alter a CHECK without rebuilding a table other tables reference), so a model generated
/// from a Jira issue is stored as `api` with `source_issue` set, which reads back as Jira.
fn stored_source(source: Source) -> &'static str {
    match source {
        Source::Jira => Source::Api.as_str(),
        other => other.as_str(),
    }
}

/// A model with its storage metadata.
#[derive(Debug, Clone, Serialize)]
pub struct StoredModel {
    /// The domain aggregate.
    #[serde(flatten)]
    pub model: ThreatModel,
    /// Owning workspace.
    pub workspace_id: String,
    /// Where it was created.
    pub source: Source,
    /// Public badge opt-in.
    pub badge_enabled: bool,
    /// Repository the model describes, if known.
    pub repo_url: Option<String>,
    /// The Jira issue the model was generated from (its source badge says Jira).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_issue: Option<String>,
}

/// One row of a model list.
#[derive(Debug, Clone, Serialize)]
pub struct ListItem {
    /// Model id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Where it was created.
    pub source: Source,
    /// Version.
    pub version: u64,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Counts behind the maturity bars and risk breakdown.
    pub summary: ModelSummary,
    /// Integration status on the model card: linked Jira issues and the Confluence page.
    pub integrations: CardIntegrations,
}

/// What a model card shows of its integrations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CardIntegrations {
    /// Jira issues linked to live controls.
    pub jira_issues: u32,
    /// The Confluence page, if the model is synced to one.
    pub confluence_url: Option<String>,
}

/// Query of a model list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// Skip this many.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many (default 50, max 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Case-insensitive substring of the title or description.
    #[serde(default)]
    pub search: Option<String>,
}

/// A page of results.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Matches in all.
    pub total: u32,
    /// Offset used.
    pub offset: u32,
    /// Limit used.
    pub limit: u32,
}

/// An activity feed entry.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityItem {
    /// Feed id (increasing).
    pub id: i64,
    /// Model it concerns (may be deleted since).
    pub model_id: Option<String>,
    /// Event kind: generation, refinement, deletion, export, rename, …
    pub kind: String,
    /// Human summary.
    pub summary: String,
    /// Web, MCP or API.
    pub source: String,
    /// When.
    pub created_at: String,
}

/// A conversation message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    /// Classified intent (generate, refine, query, general).
    pub intent: String,
    /// Text.
    pub content: String,
    /// When.
    pub created_at: String,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// KPIs across the workspace.
    pub portfolio: PortfolioSummary,
    /// Model cards.
    pub models: Vec<ListItem>,
    /// Recent activity.
    pub activity: Vec<ActivityItem>,
}

/// The model service.
#[derive(Clone)]
pub struct ModelService {
    /// Finds the database of a model when no caller says which (the public badge).
    pub(crate) tenants: TenantDbs,
}

const MAX_LIMIT: u32 = 500;

fn parse_document(json: &str) -> Result<ThreatModel> {
    serde_json::from_str(json).map_err(|e| {
        Error::Store(store::Error::Io {
            path: "models.document".into(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    })
}

/// The columns of a model row besides its document.
#[derive(Debug, Clone)]
pub(crate) struct RowMeta {
    workspace_id: String,
    source: String,
    badge_enabled: bool,
    repo_url: Option<String>,
    source_issue: Option<String>,
    version: i64,
    updated_at: String,
}

impl RowMeta {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            workspace_id: r.get(0)?,
            source: r.get(1)?,
            badge_enabled: r.get(2)?,
            repo_url: r.get(3)?,
            source_issue: r.get(4)?,
            version: r.get(5)?,
            updated_at: r.get(6)?,
        })
    }

    /// Where the model came from (a model generated from a Jira issue says Jira).
    fn source(&self) -> Source {
        if self.source_issue.is_some() {
            Source::Jira
        } else {
            Source::parse(&self.source)
        }
    }

    fn into_stored(self, model: ThreatModel) -> StoredModel {
        StoredModel {
            model,
            source: self.source(),
            workspace_id: self.workspace_id,
            badge_enabled: self.badge_enabled,
            repo_url: self.repo_url,
            source_issue: self.source_issue,
        }
    }
}

/// The decoded document of a model row: from the cache when the row's
/// `(id, version, updated_at)` is there, else read (with the same columns, in one statement,
/// so key and document belong together) and parsed.
fn decoded(
    conn: &Connection,
    id: &str,
    version: i64,
    updated_at: &str,
) -> Result<std::sync::Arc<cache::Decoded>> {
    let key = cache::Key {
        db: conn.path().unwrap_or_default().to_string(),
        id: id.to_string(),
        version,
        updated_at: updated_at.to_string(),
    };
    if let Some(d) = cache::global().get(&key) {
        return Ok(d);
    }
    let (doc, version, updated_at): (String, i64, String) = conn
        .prepare_cached("SELECT document, version, updated_at FROM models WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("model {id}")))?;
    let d = std::sync::Arc::new(cache::Decoded::new(parse_document(&doc)?));
    cache::global().insert(
        cache::Key {
            version,
            updated_at,
            ..key
        },
        d.clone(),
    );
    Ok(d)
}

/// The metadata of one model behind the tenant check. `INDEXED BY`: the planner would take
/// the primary key and then read the row, walking the document's overflow pages to reach
/// the columns after it; the covering index has them all (migration 25, issue 18).
const META_BY_ID: &str = "SELECT workspace_id, source, badge_enabled, repo_url, source_issue, version, updated_at \
     FROM models INDEXED BY models_meta WHERE id = ?1 AND workspace_id = ?2";

/// A model of a workspace, decoded once and shared (read-only uses).
pub(crate) fn load_shared(
    conn: &Connection,
    workspace_id: &str,
    id: &str,
) -> Result<(RowMeta, std::sync::Arc<cache::Decoded>)> {
    let meta = conn
        .prepare_cached(META_BY_ID)?
        .query_row(params![id, workspace_id], RowMeta::read)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("model {id}")))?;
    let d = decoded(conn, id, meta.version, &meta.updated_at)?;
    if d.model.version as i64 != meta.version {
        // Changed between the two reads (outside a transaction): read both together.
        let mut stmt = conn.prepare_cached(
            "SELECT workspace_id, source, badge_enabled, repo_url, source_issue, version, updated_at, document FROM models WHERE id = ?1 AND workspace_id = ?2",
        )?;
        let (meta, doc) = stmt
            .query_row(params![id, workspace_id], |r| {
                Ok((RowMeta::read(r)?, r.get::<_, String>(7)?))
            })
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("model {id}")))?;
        return Ok((
            meta,
            std::sync::Arc::new(cache::Decoded::new(parse_document(&doc)?)),
        ));
    }
    Ok((meta, d))
}

/// Loads a model of a workspace.
pub fn load(conn: &Connection, workspace_id: &str, id: &str) -> Result<StoredModel> {
    let (meta, d) = load_shared(conn, workspace_id, id)?;
    Ok(meta.into_stored(d.model.clone()))
}

/// Whether model `id` is in the workspace (the tenant check of calls that need no document).
pub fn exists(conn: &Connection, workspace_id: &str, id: &str) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM models WHERE id = ?1 AND workspace_id = ?2")?
        .query_row(params![id, workspace_id], |_| Ok(()))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("model {id}")))
}

/// Applies a change to a model of `workspace_id` in `db` atomically: load, change, bump the
/// version, save, keep the old version, record activity, and queue the integration work the
/// change causes (Jira "Won't Do" for dropped controls, a Confluence re-sync) in the same
/// transaction. Callers check roles first; the Jira status sync (no person) calls it with
/// no actor.
pub(crate) fn apply_update<T>(
    db: &store::Db,
    workspace_id: &str,
    actor: Option<&str>,
    id: &str,
    source: Source,
    kind: &str,
    change: impl FnOnce(&mut ThreatModel) -> Result<(T, String)>,
) -> Result<(StoredModel, T)> {
    // The change may call the LLM inside the transaction: its usage and cache writes wait
    // until the transaction is over (see `deferring_writes`).
    crate::engine::llm::deferring_writes(|| {
        apply_update_now(db, workspace_id, actor, id, source, kind, change)
    })
}

fn apply_update_now<T>(
    db: &store::Db,
    workspace_id: &str,
    actor: Option<&str>,
    id: &str,
    source: Source,
    kind: &str,
    change: impl FnOnce(&mut ThreatModel) -> Result<(T, String)>,
) -> Result<(StoredModel, T)> {
    let _turn = db.write_turn();
    let mut conn = db.conn()?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (meta, before_model) = load_shared(&tx, workspace_id, id)?;
    let mut stored = meta.into_stored(before_model.model.clone());
    let before_model = &before_model.model;
    let before = stored.model.version;
    let (out, summary) = change(&mut stored.model)?;
    stored.model.check_invariants()?;
    if stored.model.version == before {
        stored.model.version += 1;
    }
    let doc = serde_json::to_string(&stored.model).map_err(|e| Error::Engine(e.to_string()))?;
    let now = now_str();
    tx.prepare_cached(
        "UPDATE models SET title = ?1, version = ?2, document = ?3, updated_at = ?4 WHERE id = ?5",
    )?
    .execute(params![
        stored.model.title,
        stored.model.version as i64,
        doc,
        now,
        id
    ])?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO model_versions (model_id, version, document, change, actor_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, stored.model.version as i64, doc, summary, actor, now])?;
    record_activity(&tx, workspace_id, Some(id), kind, &summary, source, actor)?;
    crate::integrations::on_model_change(&tx, workspace_id, before_model, &stored.model, actor)?;
    let key = cache::Key {
        db: tx.path().unwrap_or_default().to_string(),
        id: id.to_string(),
        version: stored.model.version as i64,
        updated_at: now,
    };
    tx.commit()?;
    // The next read of the model finds it decoded.
    cache::global().insert(
        key,
        std::sync::Arc::new(cache::Decoded::new(stored.model.clone())),
    );
    Ok((stored, out))
}

/// Appends an activity feed entry.
pub fn record_activity(
    conn: &Connection,
    workspace_id: &str,
    model_id: Option<&str>,
    kind: &str,
    summary: &str,
    source: Source,
    actor: Option<&str>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO activity (workspace_id, model_id, kind, summary, source, actor_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![workspace_id, model_id, kind, summary, source.as_str(), actor, now_str()])?;
    Ok(())
}

/// Computed verification status per control of a model, from the assurance tables.
pub fn verification_map(conn: &Connection, model_id: &str) -> Result<VerificationMap> {
    crate::assurance::verification_map(conn, model_id).map_err(|e| match e {
        crate::assurance::Error::Store(s) => Error::Store(s),
        other => Error::Engine(other.to_string()),
    })
}

/// One list row from its columns and the (cached) decoded document.
fn list_item(conn: &Connection, r: &rusqlite::Row<'_>) -> Result<ListItem> {
    let id: String = r.get(0)?;
    let updated_at: String = r.get(5)?;
    let d = decoded(conn, &id, r.get(3)?, &updated_at)?;
    let model = &d.model;
    let verification = verification_map(conn, &id)?;
    let source_issue: Option<String> = r.get(6)?;
    Ok(ListItem {
        title: r.get(1)?,
        source: if source_issue.is_some() {
            Source::Jira
        } else {
            Source::parse(&r.get::<_, String>(2)?)
        },
        version: model.version,
        created_at: r.get(4)?,
        updated_at,
        summary: d.summary(&verification),
        integrations: CardIntegrations {
            jira_issues: r.get(7)?,
            confluence_url: r.get(8)?,
        },
        id,
    })
}

/// Columns of a list row (the document comes from the cache).
const LIST_COLUMNS: &str = "SELECT id, title, source, version, created_at, updated_at, source_issue, \
     (SELECT count(*) FROM jira_links l WHERE l.model_id = models.id AND l.kind = 'control' AND l.dropped_at IS NULL), \
     (SELECT page_url FROM confluence_pages p WHERE p.model_id = models.id) FROM models";

/// Rows matching a search: the title or the description contains it (`?2`, a LIKE pattern).
const SEARCH: &str = "(title LIKE ?2 ESCAPE '\\' OR json_extract(document, '$.feature_description') LIKE ?2 ESCAPE '\\')";

impl ModelService {
    /// Builds the service. Requests use the database their caller was resolved to.
    pub fn new(tenants: TenantDbs) -> Self {
        Self { tenants }
    }

    /// Models of the caller's workspace, newest change first.
    pub fn list(&self, caller: &Caller, q: &ListQuery) -> Result<Page<ListItem>> {
        let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
        let offset = q.offset.unwrap_or(0);
        let mut conn = caller.tenant.conn()?;
        // One read snapshot: the rows and the documents read for them belong together.
        let conn = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let mut items = Vec::new();
        let total: u32 = match q.search.as_deref() {
            // No search matches every row (titles are NOT NULL): no document is read.
            None => {
                let total = conn
                    .prepare_cached("SELECT count(*) FROM models WHERE workspace_id = ?1")?
                    .query_row(params![caller.workspace_id], |r| r.get(0))?;
                let mut stmt = conn.prepare_cached(&format!(
                    "{LIST_COLUMNS} WHERE workspace_id = ?1 ORDER BY updated_at DESC, id LIMIT ?2 OFFSET ?3"
                ))?;
                let mut rows = stmt.query(params![caller.workspace_id, limit, offset])?;
                while let Some(r) = rows.next()? {
                    items.push(list_item(&conn, r)?);
                }
                total
            }
            Some(search) => {
                let pattern = format!(
                    "%{}%",
                    search.trim().replace('%', "\\%").replace('_', "\\_")
                );
                let total = conn
                    .prepare_cached(&format!(
                        "SELECT count(*) FROM models WHERE workspace_id = ?1 AND {SEARCH}"
                    ))?
                    .query_row(params![caller.workspace_id, pattern], |r| r.get(0))?;
                let mut stmt = conn.prepare_cached(&format!(
                    "{LIST_COLUMNS} WHERE workspace_id = ?1 AND {SEARCH} ORDER BY updated_at DESC, id LIMIT ?3 OFFSET ?4"
                ))?;
                let mut rows = stmt.query(params![caller.workspace_id, pattern, limit, offset])?;
                while let Some(r) = rows.next()? {
                    items.push(list_item(&conn, r)?);
                }
                total
            }
        };
        Ok(Page {
            items,
            total,
            offset,
            limit,
        })
    }

    /// One model of the caller's workspace.
    pub fn get(&self, caller: &Caller, id: &str) -> Result<StoredModel> {
        let conn = caller.tenant.conn()?;
        load(&conn, &caller.workspace_id, id)
    }

    /// The verification map of a model (tenant-checked).
    pub fn verification(&self, caller: &Caller, id: &str) -> Result<VerificationMap> {
        let conn = caller.tenant.conn()?;
        exists(&conn, &caller.workspace_id, id)?;
        verification_map(&conn, id)
    }

    /// The body of `GET /api/models/{id}`: the model with its summary and verification
    /// (control objectives themselves only with `include_cos`), from one connection.
    pub fn get_body(&self, caller: &Caller, id: &str, include_cos: bool) -> Result<String> {
        let conn = caller.tenant.conn()?;
        let (meta, decoded) = load_shared(&conn, &caller.workspace_id, id)?;
        let verification = verification_map(&conn, id)?;
        drop(conn);
        view::model_body(&meta, &decoded, &verification, include_cos)
    }

    /// Saves a newly generated model in the caller's workspace.
    pub fn create(
        &self,
        caller: &Caller,
        model: ThreatModel,
        origin: impl Into<Origin>,
        summary: &str,
    ) -> Result<StoredModel> {
        self.create_with_steps(caller, model, origin, summary, "[]")
    }

    /// [`create`](Self::create) with the generation's thought process (JSON) saved in the
    /// same row, instead of rewriting the row (and its document) right after.
    pub(crate) fn create_with_steps(
        &self,
        caller: &Caller,
        model: ThreatModel,
        origin: impl Into<Origin>,
        summary: &str,
        steps: &str,
    ) -> Result<StoredModel> {
        let Origin {
            source,
            issue: source_issue,
        } = origin.into();
        caller.require_write()?;
        model.check_invariants()?;
        let doc = serde_json::to_string(&model).map_err(|e| Error::Engine(e.to_string()))?;
        let now = now_str();
        let _turn = caller.tenant.write_turn();
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let inserted = tx
            .prepare_cached(
                "INSERT INTO models (id, workspace_id, title, source, version, document, created_by, created_at, updated_at, source_issue, generation_steps) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
            )?
            .execute(params![model.id, caller.workspace_id, model.title, stored_source(source), model.version as i64, doc, caller.user_id, now, source_issue, steps]);
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && source_issue.is_some() =>
            {
                return Err(Error::Invalid {
                    field: "jira_issue".into(),
                    message: format!(
                        "a model was already generated from {} in this workspace",
                        source_issue.unwrap_or_default()
                    ),
                });
            }
            other => {
                other?;
            }
        }
        tx.prepare_cached(
            "INSERT INTO model_versions (model_id, version, document, change, actor_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![model.id, model.version as i64, doc, "generated", caller.user_id, now])?;
        record_activity(
            &tx,
            &caller.workspace_id,
            Some(&model.id),
            "generation",
            summary,
            source,
            Some(&caller.user_id),
        )?;
        let key = cache::Key {
            db: tx.path().unwrap_or_default().to_string(),
            id: model.id.clone(),
            version: model.version as i64,
            updated_at: now,
        };
        tx.commit()?;
        cache::global().insert(key, std::sync::Arc::new(cache::Decoded::new(model.clone())));
        Ok(StoredModel {
            model,
            workspace_id: caller.workspace_id.clone(),
            source,
            badge_enabled: false,
            repo_url: None,
            source_issue,
        })
    }

    /// The model generated from a Jira issue in the caller's workspace, if there is one.
    pub fn by_source_issue(&self, caller: &Caller, issue: &str) -> Result<Option<String>> {
        let conn = caller.tenant.conn()?;
        Ok(conn
            .query_row(
                "SELECT id FROM models WHERE workspace_id = ?1 AND source_issue = ?2",
                params![caller.workspace_id, issue],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Applies a domain change to a model atomically: load, change, bump the version, save,
    /// keep the old version, record activity. A failing change saves nothing.
    pub fn update<T>(
        &self,
        caller: &Caller,
        id: &str,
        source: Source,
        kind: &str,
        change: impl FnOnce(&mut ThreatModel) -> std::result::Result<(T, String), DomainError>,
    ) -> Result<(StoredModel, T)> {
        self.update_with(caller, id, source, kind, |m| change(m).map_err(Error::from))
    }

    /// Like [`update`](Self::update) for changes that can fail in other ways (the engine).
    pub fn update_with<T>(
        &self,
        caller: &Caller,
        id: &str,
        source: Source,
        kind: &str,
        change: impl FnOnce(&mut ThreatModel) -> Result<(T, String)>,
    ) -> Result<(StoredModel, T)> {
        caller.require_write()?;
        apply_update(
            &caller.tenant,
            &caller.workspace_id,
            Some(&caller.user_id),
            id,
            source,
            kind,
            change,
        )
    }

    /// Sets a control's implementation status (with notes). Marking a control implemented
    /// needs at least one assertion: "implemented" is a claim CI must be able to check.
    pub fn set_control_status(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        status: crate::domain::ControlStatus,
        notes: Option<&str>,
        source: Source,
    ) -> Result<StoredModel> {
        if status == crate::domain::ControlStatus::Implemented {
            let conn = caller.tenant.conn()?;
            let stored = load(&conn, &caller.workspace_id, id)?;
            if stored.model.control(control_id).is_none() {
                return Err(Error::NotFound(format!("control {control_id}")));
            }
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM assertions WHERE model_id = ?1 AND control_id = ?2 COLLATE NOCASE",
                params![id, control_id],
                |r| r.get(0),
            )?;
            if n == 0 {
                return Err(Error::Invalid {
                    field: "status".into(),
                    message: format!(
                        "{control_id} needs at least one assertion before it can be marked implemented; submit assertions that prove it first"
                    ),
                });
            }
        }
        self.record_control_status(caller, id, control_id, status, notes, source)
    }

    /// Renames a model.
    pub fn rename(
        &self,
        caller: &Caller,
        id: &str,
        title: &str,
        source: Source,
    ) -> Result<StoredModel> {
        let title = title.to_string();
        self.update(caller, id, source, "rename", move |m| {
            m.rename(&title, chrono::Utc::now())?;
            Ok(((), format!("renamed to \"{title}\"")))
        })
        .map(|(s, ())| s)
    }

    /// Deletes a model (the activity feed keeps a deletion entry).
    pub fn delete(&self, caller: &Caller, id: &str, source: Source) -> Result<()> {
        caller.require_write()?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = load(&tx, &caller.workspace_id, id)?;
        tx.execute("DELETE FROM models WHERE id = ?1", [id])?;
        crate::integrations::queue::forget_model(&tx, id)?;
        record_activity(
            &tx,
            &caller.workspace_id,
            Some(id),
            "deletion",
            &format!("deleted \"{}\"", stored.model.title),
            source,
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Turns the public badge on or off.
    pub fn set_badge(&self, caller: &Caller, id: &str, enabled: bool) -> Result<StoredModel> {
        caller.require_write()?;
        let conn = caller.tenant.conn()?;
        load(&conn, &caller.workspace_id, id)?;
        conn.execute(
            "UPDATE models SET badge_enabled = ?1 WHERE id = ?2",
            params![enabled, id],
        )?;
        load(&conn, &caller.workspace_id, id)
    }

    /// The public badge of a model: Shields.io endpoint JSON. Errors for unknown models and
    /// models whose badge is off, so callers answer both the same way.
    pub fn badge(&self, id: &str) -> Result<serde_json::Value> {
        self.badge_for(id)
    }

    /// The database holding model `id`, found without a caller (the public badges, which
    /// have none). An unknown id is `NotFound("badge")`.
    pub fn badge_db(&self, id: &str) -> Result<store::Db> {
        for db in self.tenants.all().map_err(tenancy_error)? {
            let conn = db.conn()?;
            let found: Option<i64> = conn
                .query_row("SELECT 1 FROM models WHERE id = ?1", [id], |r| r.get(0))
                .optional()?;
            drop(conn);
            if found.is_some() {
                return Ok(db);
            }
        }
        Err(Error::NotFound("badge".into()))
    }

    fn badge_for(&self, id: &str) -> Result<serde_json::Value> {
        let mut found = None;
        for db in self.tenants.all().map_err(tenancy_error)? {
            let conn = db.conn()?;
            let row: Option<(String, bool)> = conn
                .query_row(
                    "SELECT document, badge_enabled FROM models WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some(row) = row {
                found = Some((row, db));
                break;
            }
        }
        let ((doc, enabled), db) = found.ok_or_else(|| Error::NotFound("badge".into()))?;
        let conn = db.conn()?;
        if !enabled {
            return Err(Error::NotFound("badge".into()));
        }
        let model = parse_document(&doc)?;
        let v = verification_map(&conn, id)?;
        let s = model.summary(&v);
        let c = &s.counts;
        let cos = c.objectives;
        let (message, color) = if model.controls.is_empty() {
            ("no controls".to_string(), "lightgrey")
        } else if cos > 0 && c.verified == cos {
            (format!("{cos}/{cos} COs verified"), "brightgreen")
        } else if cos > 0 && c.implemented == cos {
            (
                format!("implemented, {}/{cos} verified", c.verified),
                "green",
            )
        } else {
            (
                format!("{} of {cos} COs at risk", c.at_risk + c.not_started),
                "orange",
            )
        };
        Ok(
            serde_json::json!({"schemaVersion": 1, "label": "threat model", "message": message, "color": color}),
        )
    }

    /// Recent activity of the workspace, newest first.
    pub fn activity(&self, caller: &Caller, limit: u32) -> Result<Vec<ActivityItem>> {
        let conn = caller.tenant.conn()?;
        activity(&conn, &caller.workspace_id, limit)
    }

    /// Conversation history of a model, oldest first.
    pub fn conversation(&self, caller: &Caller, id: &str) -> Result<Vec<Message>> {
        let conn = caller.tenant.conn()?;
        load(&conn, &caller.workspace_id, id)?;
        let mut stmt = conn.prepare(
            "SELECT role, intent, content, created_at FROM conversation_messages WHERE model_id = ?1 ORDER BY id",
        )?;
        let msgs = stmt
            .query_map([id], |r| {
                Ok(Message {
                    role: r.get(0)?,
                    intent: r.get(1)?,
                    content: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(msgs)
    }

    /// Appends a message to a model's conversation.
    pub fn add_message(
        &self,
        caller: &Caller,
        id: &str,
        role: &str,
        intent: &str,
        content: &str,
    ) -> Result<()> {
        caller.require_write()?;
        let conn = caller.tenant.conn()?;
        load(&conn, &caller.workspace_id, id)?;
        conn.execute(
            "INSERT INTO conversation_messages (model_id, role, intent, content, actor_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, role, intent, content, caller.user_id, now_str()],
        )?;
        Ok(())
    }

    /// The dashboard: portfolio KPIs, model cards and recent activity.
    pub fn dashboard(&self, caller: &Caller) -> Result<Dashboard> {
        let page = self.list(
            caller,
            &ListQuery {
                limit: Some(MAX_LIMIT),
                ..Default::default()
            },
        )?;
        let portfolio = crate::domain::portfolio(page.items.iter().map(|i| &i.summary));
        let conn = caller.tenant.conn()?;
        Ok(Dashboard {
            portfolio,
            models: page.items,
            activity: activity(&conn, &caller.workspace_id, 20)?,
        })
    }

    /// Control objectives of a model matching a filter, with their assurance.
    pub fn assess(
        &self,
        caller: &Caller,
        id: &str,
        filter: Option<AssuranceFilter>,
    ) -> Result<(ModelSummary, Vec<crate::domain::CoAssurance>)> {
        let conn = caller.tenant.conn()?;
        let stored = load(&conn, &caller.workspace_id, id)?;
        let verification = verification_map(&conn, id)?;
        let summary = stored.model.summary(&verification);
        let all = stored.model.assess(&verification);
        let cos = match filter {
            None => all,
            Some(f) => {
                let keep: std::collections::BTreeSet<String> = stored
                    .model
                    .objectives_where(f, &verification)
                    .into_iter()
                    .map(|co| co.id.clone())
                    .collect();
                all.into_iter()
                    .filter(|a| keep.contains(&a.co_id))
                    .collect()
            }
        };
        Ok((summary, cos))
    }
}

fn activity(conn: &Connection, workspace_id: &str, limit: u32) -> Result<Vec<ActivityItem>> {
    let mut stmt = conn.prepare(
        "SELECT id, model_id, kind, summary, source, created_at FROM activity WHERE workspace_id = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let items = stmt
        .query_map(params![workspace_id, limit.clamp(1, MAX_LIMIT)], |r| {
            Ok(ActivityItem {
                id: r.get(0)?,
                model_id: r.get(1)?,
                kind: r.get(2)?,
                summary: r.get(3)?,
                source: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` (`EXPLAIN QUERY PLAN`), one detail line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let n = stmt.parameter_count();
        let args: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows")
            .join("\n")
    }

    #[test]
    fn list_and_metadata_reads_stay_in_their_covering_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = store::Db::open(
            &dir.path().join("p.db"),
            &crate::crypto::DbKey::from_bytes([3; 32]),
            &store::OpenOptions::default(),
        )
        .expect("open");
        let conn = db.conn().expect("conn");
        let list = plan(
            &conn,
            &format!(
                "{LIST_COLUMNS} WHERE workspace_id = ?1 ORDER BY updated_at DESC, id LIMIT ?2 OFFSET ?3"
            ),
        );
        assert!(
            list.contains("USING COVERING INDEX models_list") && !list.contains("TEMP B-TREE"),
            "{list}"
        );
        let meta = plan(&conn, META_BY_ID);
        assert!(meta.contains("USING COVERING INDEX models_meta"), "{meta}");
    }
}
