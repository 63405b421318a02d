//! Tenant-side rows of the integrations, all in the workspace's own database: Jira links of
//! a model, its Confluence page, and the queue of integration work (`integration_outbox`).
//!
//! Work is queued in the same transaction as the change that causes it (a dropped control,
//! a changed model with a Confluence page), so a crash or an unreachable Jira loses nothing.
//! A queue item is claimed (its `next_attempt_at` pushed into the future) before it is worked
//! on, so the worker and an inline attempt never run the same item at once.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::auth::{now_str, time_str};
use crate::store;

/// How long a claimed item is left alone by other workers.
pub const CLAIM_SECONDS: i64 = 300;

/// What a queue item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkKind {
    /// Create or update the model's issues.
    JiraExport,
    /// Transition a dropped control's issue to "Won't Do" and comment why.
    JiraWontDo,
    /// Create or update the model's Confluence page.
    ConfluenceSync,
}

impl WorkKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkKind::JiraExport => "jira_export",
            WorkKind::JiraWontDo => "jira_wont_do",
            WorkKind::ConfluenceSync => "confluence_sync",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "jira_export" => Some(WorkKind::JiraExport),
            "jira_wont_do" => Some(WorkKind::JiraWontDo),
            "confluence_sync" => Some(WorkKind::ConfluenceSync),
            _ => None,
        }
    }
}

/// One queue item.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    /// Row id.
    pub id: i64,
    /// Workspace of the model.
    pub workspace_id: String,
    /// Model.
    pub model_id: String,
    /// What to do.
    pub kind: WorkKind,
    /// Control (Won't Do), else empty.
    pub control_id: String,
    /// Why (Won't Do reason).
    pub detail: String,
    /// pending, done or failed.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it is tried next (pending).
    pub next_attempt_at: String,
    /// Last error.
    pub last_error: Option<String>,
    /// Who asked (user id), when a person did.
    pub actor_id: Option<String>,
    /// Last change.
    pub updated_at: String,
    /// Requests merged into this item so far (see [`enqueue`]).
    #[serde(skip)]
    pub generation: i64,
}

const ITEM_COLUMNS: &str = "id, workspace_id, model_id, kind, control_id, detail, status, attempts, next_attempt_at, last_error, actor_id, updated_at, generation";

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkItem> {
    let kind: String = r.get(3)?;
    Ok(WorkItem {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        model_id: r.get(2)?,
        kind: WorkKind::parse(&kind).unwrap_or(WorkKind::JiraExport),
        control_id: r.get(4)?,
        detail: r.get(5)?,
        status: r.get(6)?,
        attempts: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        actor_id: r.get(10)?,
        updated_at: r.get(11)?,
        generation: r.get(12)?,
    })
}

fn later(seconds: i64) -> String {
    time_str(chrono::Utc::now() + chrono::Duration::seconds(seconds))
}

/// Queues work unless the same work is already pending; returns the pending item's id.
/// `claim` pushes it into the future so the caller can run it at once without the worker.
///
/// Merging into a pending item bumps its `generation`: an attempt that started before (and
/// so may not see this change) then leaves the item pending when it finishes ([`done`],
/// [`failed`]), and the newer request is run too.
#[allow(clippy::too_many_arguments)]
pub fn enqueue(
    conn: &Connection,
    workspace_id: &str,
    model_id: &str,
    kind: WorkKind,
    control_id: &str,
    detail: &str,
    actor: Option<&str>,
    claim: bool,
) -> store::Result<i64> {
    let now = now_str();
    let next = if claim {
        later(CLAIM_SECONDS)
    } else {
        now.clone()
    };
    let existing: Option<i64> = conn
        .query_row(
            "SELECT id FROM integration_outbox WHERE model_id = ?1 AND kind = ?2 AND control_id = ?3 AND status = 'pending'",
            params![model_id, kind.as_str(), control_id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = existing {
        // Due now (or claimed for the caller); a fresh request also resets the budget.
        conn.execute(
            "UPDATE integration_outbox SET next_attempt_at = ?1, detail = CASE WHEN ?2 = '' THEN detail ELSE ?2 END, attempts = 0, generation = generation + 1, updated_at = ?3 WHERE id = ?4",
            params![next, detail, now, id],
        )?;
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO integration_outbox (workspace_id, model_id, kind, control_id, detail, status, attempts, next_attempt_at, actor_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7, ?8, ?8)",
        params![workspace_id, model_id, kind.as_str(), control_id, detail, next, actor, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Items due now (oldest first).
pub fn due(conn: &Connection, limit: u32) -> store::Result<Vec<WorkItem>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM integration_outbox WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![now_str(), limit], item_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Claims a due item: true when this caller got it.
pub fn claim(conn: &Connection, item: &WorkItem) -> store::Result<bool> {
    let n = conn.execute(
        "UPDATE integration_outbox SET next_attempt_at = ?1 WHERE id = ?2 AND status = 'pending' AND next_attempt_at = ?3",
        params![later(CLAIM_SECONDS), item.id, item.next_attempt_at],
    )?;
    Ok(n == 1)
}

/// One item by id.
pub fn get(conn: &Connection, id: i64) -> store::Result<Option<WorkItem>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ITEM_COLUMNS} FROM integration_outbox WHERE id = ?1"),
            [id],
            item_row,
        )
        .optional()?)
}

/// Marks an item done; older failed items of the same work are superseded. When the same
/// work was asked for again meanwhile (its generation moved), the item stays pending and
/// due, so the newer request runs as well; returns false then.
pub fn done(conn: &Connection, item: &WorkItem) -> store::Result<bool> {
    let now = now_str();
    let n = conn.execute(
        "UPDATE integration_outbox SET status = 'done', attempts = attempts + 1, last_error = NULL, updated_at = ?1 WHERE id = ?2 AND generation = ?3",
        params![now, item.id, item.generation],
    )?;
    if n == 0 {
        conn.execute(
            "UPDATE integration_outbox SET last_error = NULL, updated_at = ?1 WHERE id = ?2 AND status = 'pending'",
            params![now, item.id],
        )?;
        return Ok(false);
    }
    conn.execute(
        "DELETE FROM integration_outbox WHERE model_id = ?1 AND kind = ?2 AND control_id = ?3 AND status = 'failed'",
        params![item.model_id, item.kind.as_str(), item.control_id],
    )?;
    Ok(true)
}

/// Records a failed attempt: retried after `retry_in` seconds, or failed for good when
/// `give_up`. Returns the attempts made. When the same work was asked for again meanwhile,
/// only the error is recorded: the newer request stays pending and due.
pub fn failed(
    conn: &Connection,
    item: &WorkItem,
    error: &str,
    retry_in: u64,
    give_up: bool,
) -> store::Result<u32> {
    let (attempts, generation): (u32, i64) = conn.query_row(
        "SELECT attempts + 1, generation FROM integration_outbox WHERE id = ?1",
        [item.id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if generation != item.generation {
        conn.execute(
            "UPDATE integration_outbox SET last_error = ?1, updated_at = ?2 WHERE id = ?3",
            params![error, now_str(), item.id],
        )?;
        return Ok(attempts - 1);
    }
    conn.execute(
        "UPDATE integration_outbox SET status = ?1, attempts = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id = ?6",
        params![
            if give_up { "failed" } else { "pending" },
            attempts,
            error,
            later(i64::try_from(retry_in).unwrap_or(3600)),
            now_str(),
            item.id
        ],
    )?;
    Ok(attempts)
}

/// Open work of a model (pending and failed), newest first.
pub fn open_items(conn: &Connection, model_id: &str) -> store::Result<Vec<WorkItem>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM integration_outbox WHERE model_id = ?1 AND status IN ('pending', 'failed') ORDER BY id DESC LIMIT 50"
    ))?;
    let rows = stmt
        .query_map([model_id], item_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Counts of open work and the newest failure, for a set of workspaces.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting for a (re)try.
    pub pending: u32,
    /// Gave up (permanent error or too many attempts).
    pub failed: u32,
    /// The most recent error, if any.
    pub last_error: Option<String>,
}

/// Queue counts of some workspaces' work of one product (`jira_%` or `confluence_%`).
pub fn stats(conn: &Connection, workspaces: &[String], prefix: &str) -> store::Result<QueueStats> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let pattern = format!("{prefix}%");
    let (pending, failed): (u32, u32) = conn.query_row(
        "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'failed'), 0) FROM integration_outbox \
         WHERE workspace_id IN (SELECT value FROM json_each(?1)) AND kind LIKE ?2",
        params![ids, pattern],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let last_error: Option<String> = conn
        .query_row(
            "SELECT last_error FROM integration_outbox WHERE workspace_id IN (SELECT value FROM json_each(?1)) AND kind LIKE ?2 \
             AND status IN ('pending', 'failed') AND last_error IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
            params![ids, pattern],
            |r| r.get(0),
        )
        .optional()?;
    Ok(QueueStats {
        pending,
        failed,
        last_error,
    })
}

/// Deletes finished items older than a week.
pub fn prune(conn: &Connection) -> store::Result<usize> {
    let cutoff = time_str(chrono::Utc::now() - chrono::Duration::days(7));
    Ok(conn.execute(
        "DELETE FROM integration_outbox WHERE status = 'done' AND updated_at < ?1",
        [cutoff],
    )?)
}

/// A Jira issue linked to a model.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JiraLink {
    /// Control id; empty for the container or source issue.
    pub control_id: String,
    /// container, source or control.
    pub kind: String,
    /// Issue key (`SEC-12`).
    pub issue_key: String,
    /// Issue id.
    #[serde(skip)]
    pub issue_id: String,
    /// Browse URL.
    pub issue_url: String,
    /// Hash of the exported summary and description (skips unchanged updates).
    #[serde(skip)]
    pub content_hash: String,
    /// Last known Jira status.
    pub jira_status: String,
    /// Note from the last status sync (e.g. done without an assertion).
    pub sync_note: String,
    /// When the control was dropped from the model.
    pub dropped_at: Option<String>,
    /// Why.
    pub dropped_reason: Option<String>,
    /// When the issue was moved to "Won't Do".
    pub wont_do_at: Option<String>,
    /// Last change of the link.
    pub updated_at: String,
}

const LINK_COLUMNS: &str = "control_id, kind, issue_key, issue_id, issue_url, content_hash, jira_status, sync_note, dropped_at, dropped_reason, wont_do_at, updated_at";

fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JiraLink> {
    Ok(JiraLink {
        control_id: r.get(0)?,
        kind: r.get(1)?,
        issue_key: r.get(2)?,
        issue_id: r.get(3)?,
        issue_url: r.get(4)?,
        content_hash: r.get(5)?,
        jira_status: r.get(6)?,
        sync_note: r.get(7)?,
        dropped_at: r.get(8)?,
        dropped_reason: r.get(9)?,
        wont_do_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

/// Every Jira link of a model (container first, then controls by id).
pub fn links(conn: &Connection, model_id: &str) -> store::Result<Vec<JiraLink>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {LINK_COLUMNS} FROM jira_links WHERE model_id = ?1 ORDER BY control_id <> '', control_id"
    ))?;
    let rows = stmt
        .query_map([model_id], link_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The link of one control (or `""` for the container).
pub fn link(
    conn: &Connection,
    model_id: &str,
    control_id: &str,
) -> store::Result<Option<JiraLink>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {LINK_COLUMNS} FROM jira_links WHERE model_id = ?1 AND control_id = ?2"
            ),
            params![model_id, control_id],
            link_row,
        )
        .optional()?)
}

/// Stores (or replaces) a link.
#[allow(clippy::too_many_arguments)]
pub fn put_link(
    conn: &Connection,
    workspace_id: &str,
    model_id: &str,
    control_id: &str,
    kind: &str,
    issue_key: &str,
    issue_id: &str,
    issue_url: &str,
    content_hash: &str,
) -> store::Result<()> {
    let now = now_str();
    conn.execute(
        "INSERT INTO jira_links (workspace_id, model_id, control_id, kind, issue_key, issue_id, issue_url, content_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) \
         ON CONFLICT(model_id, control_id) DO UPDATE SET kind = ?4, issue_key = ?5, issue_id = ?6, issue_url = ?7, content_hash = ?8, updated_at = ?9",
        params![workspace_id, model_id, control_id, kind, issue_key, issue_id, issue_url, content_hash, now],
    )?;
    Ok(())
}

/// Records the content hash after an update.
pub fn set_hash(
    conn: &Connection,
    model_id: &str,
    control_id: &str,
    hash: &str,
) -> store::Result<()> {
    conn.execute(
        "UPDATE jira_links SET content_hash = ?1, updated_at = ?2 WHERE model_id = ?3 AND control_id = ?4",
        params![hash, now_str(), model_id, control_id],
    )?;
    Ok(())
}

/// Records what a status sync saw.
pub fn set_status(
    conn: &Connection,
    model_id: &str,
    control_id: &str,
    jira_status: &str,
    note: &str,
) -> store::Result<()> {
    conn.execute(
        "UPDATE jira_links SET jira_status = ?1, sync_note = ?2, updated_at = ?3 WHERE model_id = ?4 AND control_id = ?5",
        params![jira_status, note, now_str(), model_id, control_id],
    )?;
    Ok(())
}

fn scoped_link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, JiraLink)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        JiraLink {
            control_id: r.get(2)?,
            kind: r.get(3)?,
            issue_key: r.get(4)?,
            issue_id: r.get(5)?,
            issue_url: r.get(6)?,
            content_hash: r.get(7)?,
            jira_status: r.get(8)?,
            sync_note: r.get(9)?,
            dropped_at: r.get(10)?,
            dropped_reason: r.get(11)?,
            wont_do_at: r.get(12)?,
            updated_at: r.get(13)?,
        },
    ))
}

/// Links whose issue has this key, in the given workspaces: (workspace, model, link).
pub fn links_by_issue(
    conn: &Connection,
    workspaces: &[String],
    issue_key: &str,
) -> store::Result<Vec<(String, String, JiraLink)>> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare(&format!(
        "SELECT workspace_id, model_id, {LINK_COLUMNS} FROM jira_links WHERE issue_key = ?1 AND workspace_id IN (SELECT value FROM json_each(?2))"
    ))?;
    let rows = stmt
        .query_map(params![issue_key, ids], scoped_link_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Live control links (not dropped) of some workspaces, least recently updated first, for
/// the reconcile job: (workspace, model, link).
pub fn live_control_links(
    conn: &Connection,
    workspaces: &[String],
) -> store::Result<Vec<(String, String, JiraLink)>> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare(&format!(
        "SELECT workspace_id, model_id, {LINK_COLUMNS} FROM jira_links WHERE kind = 'control' AND dropped_at IS NULL \
         AND workspace_id IN (SELECT value FROM json_each(?1)) ORDER BY updated_at"
    ))?;
    let rows = stmt
        .query_map([ids], scoped_link_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Marks a control's link dropped (in the model change's transaction).
pub fn mark_dropped(
    conn: &Connection,
    model_id: &str,
    control_id: &str,
    reason: &str,
) -> store::Result<bool> {
    let n = conn.execute(
        "UPDATE jira_links SET dropped_at = ?1, dropped_reason = ?2, updated_at = ?1 WHERE model_id = ?3 AND control_id = ?4 AND kind = 'control' AND dropped_at IS NULL",
        params![now_str(), reason, model_id, control_id],
    )?;
    Ok(n == 1)
}

/// Records that a dropped control's issue reached "Won't Do".
pub fn mark_wont_do(
    conn: &Connection,
    model_id: &str,
    control_id: &str,
    status: &str,
) -> store::Result<()> {
    conn.execute(
        "UPDATE jira_links SET wont_do_at = ?1, jira_status = ?2, updated_at = ?1 WHERE model_id = ?3 AND control_id = ?4",
        params![now_str(), status, model_id, control_id],
    )?;
    Ok(())
}

/// The Confluence page of a model.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConfluencePage {
    /// Page id.
    pub page_id: String,
    /// Web URL.
    pub page_url: String,
    /// Title.
    pub title: String,
    /// Confluence's version number after our last write.
    pub page_version: i64,
    /// Model version the page shows.
    pub synced_model_version: i64,
    /// Hash of the diagram attachment last uploaded (unchanged diagrams are not re-uploaded).
    #[serde(skip)]
    pub diagram_hash: String,
    /// When.
    pub synced_at: String,
}

/// The page of a model, if it was synced.
pub fn page(conn: &Connection, model_id: &str) -> store::Result<Option<ConfluencePage>> {
    Ok(conn
        .query_row(
            "SELECT page_id, page_url, title, page_version, synced_model_version, diagram_hash, synced_at FROM confluence_pages WHERE model_id = ?1",
            [model_id],
            |r| {
                Ok(ConfluencePage {
                    page_id: r.get(0)?,
                    page_url: r.get(1)?,
                    title: r.get(2)?,
                    page_version: r.get(3)?,
                    synced_model_version: r.get(4)?,
                    diagram_hash: r.get(5)?,
                    synced_at: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Stores a model's page after a write.
pub fn put_page(
    conn: &Connection,
    workspace_id: &str,
    model_id: &str,
    p: &ConfluencePage,
) -> store::Result<()> {
    conn.execute(
        "INSERT INTO confluence_pages (workspace_id, model_id, page_id, page_url, title, page_version, synced_model_version, diagram_hash, synced_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(model_id) DO UPDATE SET page_id = ?3, page_url = ?4, title = ?5, page_version = ?6, synced_model_version = ?7, diagram_hash = ?8, synced_at = ?9",
        params![workspace_id, model_id, p.page_id, p.page_url, p.title, p.page_version, p.synced_model_version, p.diagram_hash, p.synced_at],
    )?;
    Ok(())
}

/// Models of some workspaces whose page shows an older version than the model (missed
/// syncs, for the reconcile job).
pub fn stale_pages(
    conn: &Connection,
    workspaces: &[String],
) -> store::Result<Vec<(String, String)>> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare(
        "SELECT p.workspace_id, p.model_id FROM confluence_pages p JOIN models m ON m.id = p.model_id \
         WHERE p.workspace_id IN (SELECT value FROM json_each(?1)) AND m.version > p.synced_model_version",
    )?;
    let rows = stmt
        .query_map([ids], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Dropped controls whose issue has not reached "Won't Do" and has no open work (the
/// reconcile job re-queues them).
pub fn dropped_without_work(
    conn: &Connection,
    workspaces: &[String],
) -> store::Result<Vec<(String, String, String, String)>> {
    let ids = serde_json::to_string(workspaces).unwrap_or_else(|_| "[]".into());
    let mut stmt = conn.prepare(
        "SELECT l.workspace_id, l.model_id, l.control_id, coalesce(l.dropped_reason, '') FROM jira_links l \
         WHERE l.workspace_id IN (SELECT value FROM json_each(?1)) AND l.kind = 'control' AND l.dropped_at IS NOT NULL AND l.wont_do_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM integration_outbox o WHERE o.model_id = l.model_id AND o.control_id = l.control_id AND o.kind = 'jira_wont_do' AND o.status IN ('pending', 'failed'))",
    )?;
    let rows = stmt
        .query_map([ids], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Deletes every integration row of a deleted model (links, page, queued work).
pub fn forget_model(conn: &Connection, model_id: &str) -> store::Result<()> {
    conn.execute("DELETE FROM jira_links WHERE model_id = ?1", [model_id])?;
    conn.execute(
        "DELETE FROM confluence_pages WHERE model_id = ?1",
        [model_id],
    )?;
    conn.execute(
        "DELETE FROM integration_outbox WHERE model_id = ?1",
        [model_id],
    )?;
    Ok(())
}
