//! Jira and Confluence, Data Center/Server and Cloud: organization settings, exporting a
//! model's controls as Jira issues, syncing issue status back (webhook and reconcile job),
//! "Won't Do" for dropped controls, and a Confluence page per model.
//!
//! These are organization features: settings belong to an org (org admins and superadmins
//! configure them from a signed-in session; tokens are sealed and never returned), and a
//! personal workspace, which has no org, cannot use them. Everything a model has in Jira or
//! Confluence (links, page, queued work) is tenant data in the model's workspace database.
//!
//! Every call to Jira or Confluence runs as an item of the tenant-side queue
//! ([`queue`]): a request ("Export to Jira", "Sync to Confluence") queues its item and runs
//! it at once; a model change queues what it causes (a dropped control's "Won't Do", a page
//! re-sync) in its own transaction; the server's worker runs what is due and retries
//! failures with backoff. Retryable failures (unreachable, 429, 5xx) stay queued; permanent
//! ones (401, 403, 404, a missing transition) are marked failed with a message that says
//! what to fix, shown on the model and to org admins.

pub mod accounts;
pub mod brief;
pub mod client;
pub mod confluence;
pub mod jira;
pub mod queue;
pub mod settings;
mod sources;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::config::{Config, IntegrationsConfig};
use crate::crypto::MasterKey;
use crate::domain::{ControlStatus, EntityKind, ThreatModel};
use crate::models::{self, Source};
use crate::store::{self, Db};
use crate::tenancy::TenantDbs;
use client::{CallError, Http};
use queue::{WorkItem, WorkKind};
use settings::{ConfluenceInput, ConfluenceSettings, JiraInput, JiraSettings, Kind, Stored};

/// What can go wrong. Messages are safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown, or not visible to the caller.
    #[error("{0} not found")]
    NotFound(String),
    /// Visible, but the caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The integration cannot be used here (personal workspace, not configured).
    #[error("{0}")]
    Unavailable(String),
    /// Jira or Confluence refused the request; retrying will not help until the settings
    /// (token, permissions, project, workflow) are fixed. The work is marked failed.
    #[error("{message}")]
    Upstream {
        /// "Jira" or "Confluence".
        product: &'static str,
        /// What the site answered (HTTP status; 0 when it was not an HTTP answer).
        status: u16,
        /// What to fix.
        message: String,
    },
    /// The webhook's secret or signature did not match.
    #[error("{0}")]
    Unauthorized(String),
    /// The data was crypto-shredded.
    #[error("{0}")]
    Gone(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Anything unexpected (logged, hidden from clients).
    #[error("{0}")]
    Internal(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

impl From<crate::tenancy::Error> for Error {
    fn from(e: crate::tenancy::Error) -> Self {
        use crate::tenancy::Error as T;
        match e {
            T::NotFound(w) => Error::NotFound(w),
            T::Gone(m) => Error::Gone(m),
            T::Forbidden(m) | T::Limit(m) => Error::Forbidden(m),
            T::Invalid { field, message } => Error::Invalid { field, message },
            T::Conflict(m) => Error::Unavailable(m),
            T::Confirmation(m) => Error::Invalid {
                field: "confirm",
                message: m,
            },
            T::Store(s) => Error::Store(s),
            T::Crypto(c) => Error::Internal(c.to_string()),
        }
    }
}

impl From<models::Error> for Error {
    fn from(e: models::Error) -> Self {
        match e {
            models::Error::NotFound(w) => Error::NotFound(w),
            models::Error::Forbidden(m) => Error::Forbidden(m),
            models::Error::Store(s) => Error::Store(s),
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<crate::auth::Error> for Error {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::Store(s) => Error::Store(s),
            crate::auth::Error::NotFound(w) => Error::NotFound(w.to_string()),
            other => Error::Forbidden(other.to_string()),
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}

/// Why one queue item did not finish.
#[derive(Debug)]
enum WorkError {
    /// A call failed.
    Call(&'static str, CallError),
    /// A configuration problem found before calling (issue type missing from the project).
    Config(&'static str, String),
    /// The integration is not configured (any more) for the model's org.
    NotConfigured(String),
    /// Storage failure.
    Store(store::Error),
}

impl From<store::Error> for WorkError {
    fn from(e: store::Error) -> Self {
        WorkError::Store(e)
    }
}

impl From<rusqlite::Error> for WorkError {
    fn from(e: rusqlite::Error) -> Self {
        WorkError::Store(store::Error::Sqlite(e))
    }
}

impl WorkError {
    fn message(&self) -> String {
        match self {
            WorkError::Call(_, e) => e.to_string(),
            WorkError::Config(_, m) | WorkError::NotConfigured(m) => m.clone(),
            WorkError::Store(e) => format!("storage error: {e}"),
        }
    }
}

/// The outcome of running one item now.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// `done`, or `queued` (it will be retried; `error` says why it did not finish now).
    pub status: &'static str,
    /// Queue item id.
    pub work_id: i64,
    /// What was done (counts, page).
    pub result: Value,
    /// Why it did not finish now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it is tried next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// A model's integrations, for its page, its card and `GET /api/models/{id}/integrations`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelIntegrations {
    /// The workspace belongs to an organization (Jira/Confluence can be used at all).
    pub available: bool,
    /// Why not, when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_reason: Option<String>,
    /// Jira.
    pub jira: JiraStatus,
    /// Confluence.
    pub confluence: ConfluenceStatus,
    /// Open queue items (pending or failed) of the model, newest first.
    pub work: Vec<WorkItem>,
}

/// Jira side of a model.
#[derive(Debug, Clone, Serialize)]
pub struct JiraStatus {
    /// The org has Jira settings.
    pub configured: bool,
    /// Issues linked to live controls.
    pub issue_count: u32,
    /// The container (or source) issue.
    pub container: Option<queue::JiraLink>,
    /// Every control link, dropped ones included.
    pub issues: Vec<queue::JiraLink>,
}

/// Confluence side of a model.
#[derive(Debug, Clone, Serialize)]
pub struct ConfluenceStatus {
    /// The org has Confluence settings.
    pub configured: bool,
    /// The model's page.
    pub page: Option<queue::ConfluencePage>,
}

struct Inner {
    tenants: TenantDbs,
    orgs: crate::tenancy::orgs::OrgService,
    http: Http,
    key: zeroize::Zeroizing<[u8; 32]>,
    config: IntegrationsConfig,
    public_url: String,
    busy: Mutex<HashSet<String>>,
}

/// The integration service; cheap to clone.
#[derive(Clone)]
pub struct IntegrationService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for IntegrationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationService").finish()
    }
}

/// Holds a model for one piece of work; released on drop.
struct ModelGuard<'a> {
    busy: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for ModelGuard<'_> {
    fn drop(&mut self) {
        let mut b = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        b.remove(&self.id);
    }
}

fn random_secret() -> String {
    crate::auth::secrets::base62(&crate::auth::secrets::random_bytes::<32>())
}

/// Work queued by a model change, in the change's transaction: a dropped control with a
/// Jira issue gets its "Won't Do"; a model with a Confluence page is re-synced.
pub(crate) fn on_model_change(
    tx: &Connection,
    workspace_id: &str,
    before: &ThreatModel,
    after: &ThreatModel,
    actor: Option<&str>,
) -> models::Result<()> {
    for c in &before.controls {
        if after.control(&c.id).is_some() {
            continue;
        }
        let reason = after
            .tombstone(&c.id)
            .filter(|t| t.kind == EntityKind::Control)
            .map(|t| t.reason.clone())
            .unwrap_or_else(|| "removed from the model".into());
        if queue::mark_dropped(tx, &after.id, &c.id, &reason)? {
            queue::enqueue(
                tx,
                workspace_id,
                &after.id,
                WorkKind::JiraWontDo,
                &c.id,
                &reason,
                actor,
                false,
            )?;
        }
    }
    if queue::page(tx, &after.id)?.is_some() {
        queue::enqueue(
            tx,
            workspace_id,
            &after.id,
            WorkKind::ConfluenceSync,
            "",
            "",
            actor,
            false,
        )?;
    }
    Ok(())
}

impl IntegrationService {
    /// Builds the service: the token-sealing key is derived from the master key.
    pub fn new(
        tenants: TenantDbs,
        admin: crate::admin::AdminService,
        master: &MasterKey,
        config: &Config,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                tenants,
                orgs: crate::tenancy::orgs::OrgService::new(admin),
                http: Http::new(
                    config.integrations.calls_per_minute,
                    Duration::from_secs(config.integrations.timeout_seconds),
                )?,
                key: master.derive("integration-tokens"),
                config: config.integrations.clone(),
                public_url: public_url.trim_end_matches('/').to_string(),
                busy: Mutex::new(HashSet::new()),
            }),
        })
    }

    fn platform(&self) -> &Db {
        self.inner.tenants.platform()
    }

    fn load<S: serde::de::DeserializeOwned>(
        &self,
        org_id: &str,
        kind: Kind,
    ) -> Result<Option<Stored<S>>> {
        let conn = self.platform().conn()?;
        settings::load(&conn, &self.inner.key, org_id, kind)
    }

    fn model_url(&self, model_id: &str) -> String {
        format!("{}/models/{model_id}", self.inner.public_url)
    }

    fn webhook_url(&self, org_id: &str, secret: &str) -> String {
        format!(
            "{}/api/integrations/jira/webhook/{org_id}?token={secret}",
            self.inner.public_url
        )
    }

    // ------------------------------------------------------------ org settings

    /// `GET …/integrations/jira`: the settings with the token masked, the webhook to set up
    /// in Jira, and the org's queue (org admins and superadmins).
    pub fn jira_settings(&self, caller: &Caller, org: &str) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        let Some(s) = self.load::<JiraSettings>(&org.id, Kind::Jira)? else {
            return Ok(json!({"configured": false}));
        };
        let secret = s
            .webhook_secret
            .as_deref()
            .map(String::as_str)
            .unwrap_or_default();
        let stats = self.org_queue_stats(&org.id, "jira_")?;
        Ok(json!({
            "configured": true,
            "base_url": s.settings.base_url,
            "auth": {"type": s.settings.auth_type, "email": s.settings.email, "token": "********", "token_set": true},
            "project_key": s.settings.project_key,
            "issue_type": s.settings.issue_type,
            "container_issue_type": s.settings.container_issue_type,
            "done_statuses": s.settings.done_statuses,
            "wont_do_transition": s.settings.wont_do_transition,
            "link_type": s.settings.link_type,
            "webhook": {
                "url": self.webhook_url(&org.id, secret),
                "secret": secret,
                "events": ["jira:issue_updated", "jira:issue_deleted"],
            },
            "updated_at": s.updated_at,
            "updated_by": s.updated_by,
            "queue": stats,
        }))
    }

    /// `PUT …/integrations/jira`. The token may be left out only when the site, the auth
    /// type and the account stay the same: a token is never sent to a host it was not
    /// entered for.
    pub fn put_jira(&self, caller: &Caller, org: &str, input: &JiraInput) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        if org.shredded_at.is_some() {
            return Err(Error::Gone("the organization was crypto-shredded".into()));
        }
        let (s, token) = settings::validate_jira(input, &self.inner.config.allowed_hosts)?;
        let old = self.load::<JiraSettings>(&org.id, Kind::Jira)?;
        let token = self.token_for(
            token,
            old.as_ref().map(|o| {
                (
                    &o.settings.base_url,
                    &o.settings.auth_type,
                    &o.settings.email,
                    &o.token,
                )
            }),
            &s.base_url,
            &s.auth_type,
            &s.email,
        )?;
        let secret = match (&old, input.rotate_webhook_secret) {
            (Some(o), false) => o
                .webhook_secret
                .as_deref()
                .map(|x| x.to_string())
                .unwrap_or_else(random_secret),
            _ => random_secret(),
        };
        let conn = self.platform().conn()?;
        settings::save(
            &conn,
            &self.inner.key,
            &org.id,
            Kind::Jira,
            &s,
            &token,
            Some(&secret),
            &caller.user_id,
        )?;
        crate::auth::AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "org.integration.jira",
            &org.slug,
            &format!(
                "{} project {}{}",
                s.base_url,
                s.project_key,
                if input.rotate_webhook_secret {
                    "; webhook secret rotated"
                } else {
                    ""
                }
            ),
        );
        drop(conn);
        self.jira_settings(caller, &org.id)
    }

    /// `GET …/integrations/confluence`.
    pub fn confluence_settings(&self, caller: &Caller, org: &str) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        let Some(s) = self.load::<ConfluenceSettings>(&org.id, Kind::Confluence)? else {
            return Ok(json!({"configured": false}));
        };
        let stats = self.org_queue_stats(&org.id, "confluence_")?;
        Ok(json!({
            "configured": true,
            "base_url": s.settings.base_url,
            "auth": {"type": s.settings.auth_type, "email": s.settings.email, "token": "********", "token_set": true},
            "space_key": s.settings.space_key,
            "parent_page_id": s.settings.parent_page_id,
            "updated_at": s.updated_at,
            "updated_by": s.updated_by,
            "queue": stats,
        }))
    }

    /// `PUT …/integrations/confluence` (same token rule as Jira).
    pub fn put_confluence(
        &self,
        caller: &Caller,
        org: &str,
        input: &ConfluenceInput,
    ) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        if org.shredded_at.is_some() {
            return Err(Error::Gone("the organization was crypto-shredded".into()));
        }
        let (s, token) = settings::validate_confluence(input, &self.inner.config.allowed_hosts)?;
        let old = self.load::<ConfluenceSettings>(&org.id, Kind::Confluence)?;
        let token = self.token_for(
            token,
            old.as_ref().map(|o| {
                (
                    &o.settings.base_url,
                    &o.settings.auth_type,
                    &o.settings.email,
                    &o.token,
                )
            }),
            &s.base_url,
            &s.auth_type,
            &s.email,
        )?;
        let conn = self.platform().conn()?;
        settings::save(
            &conn,
            &self.inner.key,
            &org.id,
            Kind::Confluence,
            &s,
            &token,
            None,
            &caller.user_id,
        )?;
        crate::auth::AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "org.integration.confluence",
            &org.slug,
            &format!("{} space {}", s.base_url, s.space_key),
        );
        drop(conn);
        self.confluence_settings(caller, &org.id)
    }

    /// `DELETE …/integrations/jira|confluence`: forgets the settings and the token. Links
    /// and pages of models stay (they still point at real issues and pages).
    pub fn delete_settings(&self, caller: &Caller, org: &str, kind: Kind) -> Result<()> {
        let org = self.inner.orgs.managed(caller, org)?;
        let conn = self.platform().conn()?;
        let n = conn.execute(
            "DELETE FROM org_integrations WHERE org_id = ?1 AND kind = ?2",
            params![org.id, kind.as_str()],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("{} settings", kind.product())));
        }
        crate::auth::AuthService::audit(
            &conn,
            Some(&caller.user_id),
            &format!("org.integration.{}.delete", kind.as_str()),
            &org.slug,
            "",
        );
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn token_for(
        &self,
        given: Option<String>,
        old: Option<(
            &String,
            &String,
            &Option<String>,
            &zeroize::Zeroizing<String>,
        )>,
        base_url: &str,
        auth_type: &str,
        email: &Option<String>,
    ) -> Result<String> {
        if let Some(t) = given {
            return Ok(t);
        }
        match old {
            Some((b, a, e, t)) if b == base_url && a == auth_type && e == email => {
                Ok(t.to_string())
            }
            Some(_) => Err(invalid(
                "auth.token",
                "is required when base_url, auth.type or auth.email change (the stored token is never sent to another site or account)",
            )),
            None => Err(invalid("auth.token", "is required")),
        }
    }

    /// `POST …/integrations/jira/test`: who the token is, the project and whether the
    /// configured issue types and statuses exist there.
    pub fn test_jira(&self, caller: &Caller, org: &str) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        let s = self
            .load::<JiraSettings>(&org.id, Kind::Jira)?
            .ok_or_else(|| {
                Error::Unavailable("Jira is not configured for this organization".into())
            })?;
        let site = s.site();
        let up = |e: CallError| Error::Upstream {
            product: "Jira",
            status: e.status(),
            message: e.to_string(),
        };
        let me = jira::myself(&self.inner.http, &site).map_err(up)?;
        let project =
            jira::project(&self.inner.http, &site, &s.settings.project_key).map_err(up)?;
        let mut problems = Vec::new();
        for (field, t) in [
            ("issue_type", &s.settings.issue_type),
            ("container_issue_type", &s.settings.container_issue_type),
        ] {
            match project.issue_type(t) {
                None => problems.push(format!(
                    "{field} {t:?} is not an issue type of project {} (available: {})",
                    project.key,
                    project.issue_types.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                )),
                Some(true) if field == "container_issue_type" => problems.push(format!(
                    "container_issue_type {t:?} is a sub-task type; the container must be a standard issue type"
                )),
                _ => {}
            }
        }
        Ok(json!({
            "ok": problems.is_empty(),
            "user": me,
            "project": {"key": project.key, "name": project.name, "issue_types": project.issue_types.iter().map(|(n, s)| json!({"name": n, "subtask": s})).collect::<Vec<_>>()},
            "problems": problems,
        }))
    }

    /// `POST …/integrations/confluence/test`: the space is reachable with the token.
    pub fn test_confluence(&self, caller: &Caller, org: &str) -> Result<Value> {
        let org = self.inner.orgs.managed(caller, org)?;
        let s = self
            .load::<ConfluenceSettings>(&org.id, Kind::Confluence)?
            .ok_or_else(|| {
                Error::Unavailable("Confluence is not configured for this organization".into())
            })?;
        let name =
            confluence::space(&self.inner.http, &s.site(), &s.settings.space_key).map_err(|e| {
                Error::Upstream {
                    product: "Confluence",
                    status: e.status(),
                    message: e.to_string(),
                }
            })?;
        Ok(json!({"ok": true, "space": {"key": s.settings.space_key, "name": name}}))
    }

    /// Pending and failed work of an org's workspaces for one product.
    fn org_queue_stats(&self, org_id: &str, prefix: &str) -> Result<queue::QueueStats> {
        let mut total = queue::QueueStats::default();
        for (db, workspaces) in self.org_dbs(org_id)? {
            let conn = db.conn()?;
            let s = queue::stats(&conn, &workspaces, prefix)?;
            total.pending += s.pending;
            total.failed += s.failed;
            if total.last_error.is_none() {
                total.last_error = s.last_error;
            }
        }
        Ok(total)
    }

    /// The databases holding an org's workspaces, each with its workspace ids.
    fn org_dbs(&self, org_id: &str) -> Result<Vec<(Db, Vec<String>)>> {
        let ids: Vec<String> = {
            let conn = self.platform().conn()?;
            let mut stmt =
                conn.prepare("SELECT id FROM workspaces WHERE org_id = ?1 ORDER BY id")?;
            stmt.query_map([org_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut out: Vec<(Db, Vec<String>)> = Vec::new();
        for ws in ids {
            let db = match self.inner.tenants.workspace_db(&ws) {
                Ok(db) => db,
                Err(e) => {
                    tracing::debug!(workspace = %ws, error = %e, "workspace database unavailable");
                    continue;
                }
            };
            match out.iter_mut().find(|(d, _)| d.path() == db.path()) {
                Some((_, list)) => list.push(ws),
                None => out.push((db, vec![ws])),
            }
        }
        Ok(out)
    }

    fn org_of(&self, workspace_id: &str) -> Result<Option<String>> {
        let conn = self.platform().conn()?;
        Ok(conn
            .query_row(
                "SELECT org_id FROM workspaces WHERE id = ?1",
                [workspace_id],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    fn configured(&self, org_id: &str, kind: Kind) -> Result<bool> {
        let conn = self.platform().conn()?;
        Ok(conn
            .query_row(
                "SELECT 1 FROM org_integrations WHERE org_id = ?1 AND kind = ?2",
                params![org_id, kind.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    // ------------------------------------------------------------ models

    /// `GET /api/models/{id}/integrations`: links, page and open work of a model (anyone
    /// who can read the model).
    pub fn model_status(&self, caller: &Caller, model_id: &str) -> Result<ModelIntegrations> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let links = queue::links(&conn, model_id)?;
        let page = queue::page(&conn, model_id)?;
        let work = queue::open_items(&conn, model_id)?;
        drop(conn);
        let (available, reason, jira_on, confluence_on) = match &caller.org_id {
            None => (
                false,
                Some("Jira and Confluence are organization features; this workspace is not in an organization".to_string()),
                false,
                false,
            ),
            Some(org) => (
                true,
                None,
                self.configured(org, Kind::Jira)?,
                self.configured(org, Kind::Confluence)?,
            ),
        };
        let container = links.iter().find(|l| l.control_id.is_empty()).cloned();
        let issues: Vec<_> = links
            .into_iter()
            .filter(|l| !l.control_id.is_empty())
            .collect();
        let issue_count = issues.iter().filter(|l| l.dropped_at.is_none()).count() as u32;
        Ok(ModelIntegrations {
            available,
            unavailable_reason: reason,
            jira: JiraStatus {
                configured: jira_on,
                issue_count,
                container,
                issues,
            },
            confluence: ConfluenceStatus {
                configured: confluence_on,
                page,
            },
            work,
        })
    }

    /// The caller's org, for a model request: personal workspaces have none.
    fn require_org(&self, caller: &Caller, kind: Kind) -> Result<String> {
        let org = caller.org_id.clone().ok_or_else(|| {
            Error::Unavailable(format!(
                "{} integration is an organization feature; it is not available in a personal workspace (join an organization whose admin has configured it)",
                kind.product()
            ))
        })?;
        if !self.configured(&org, kind)? {
            return Err(Error::Unavailable(format!(
                "{} is not configured for this organization; an org admin sets it up in Settings › Integrations",
                kind.product()
            )));
        }
        Ok(org)
    }

    /// `POST /api/models/{id}/jira/export`: creates or updates the model's issues now.
    pub fn export_jira(&self, caller: &Caller, model_id: &str) -> Result<RunOutcome> {
        self.run_now(caller, model_id, Kind::Jira, WorkKind::JiraExport)
    }

    /// `POST /api/models/{id}/confluence/sync`: creates or updates the model's page now.
    pub fn sync_confluence(&self, caller: &Caller, model_id: &str) -> Result<RunOutcome> {
        self.run_now(caller, model_id, Kind::Confluence, WorkKind::ConfluenceSync)
    }

    fn run_now(
        &self,
        caller: &Caller,
        model_id: &str,
        kind: Kind,
        work: WorkKind,
    ) -> Result<RunOutcome> {
        caller.require_write()?;
        {
            let conn = caller.tenant.conn()?;
            models::load(&conn, &caller.workspace_id, model_id)?;
        }
        self.require_org(caller, kind)?;
        let id = {
            let conn = caller.tenant.conn()?;
            queue::enqueue(
                &conn,
                &caller.workspace_id,
                model_id,
                work,
                "",
                "",
                Some(&caller.user_id),
                true,
            )?
        };
        let item = {
            let conn = caller.tenant.conn()?;
            queue::get(&conn, id)?.ok_or_else(|| Error::Internal("queued item vanished".into()))?
        };
        let guard = self
            .lock_model(model_id, Duration::from_secs(30))
            .ok_or_else(|| {
                Error::Unavailable(
                    "another export or sync of this model is running; try again in a moment".into(),
                )
            })?;
        let result = self.run_item(&caller.tenant, &item);
        drop(guard);
        let conn = caller.tenant.conn()?;
        match result {
            Ok(v) => {
                queue::done(&conn, &item)?;
                Ok(RunOutcome {
                    status: "done",
                    work_id: id,
                    result: v,
                    error: None,
                    next_attempt_at: None,
                })
            }
            Err(e) => {
                let (retry, permanent) = self.record_failure(&conn, &item, &e)?;
                match (permanent, e) {
                    (true, WorkError::Call(product, c)) => Err(Error::Upstream {
                        product,
                        status: c.status(),
                        message: c.to_string(),
                    }),
                    (true, WorkError::Config(product, m)) => Err(Error::Upstream {
                        product,
                        status: 0,
                        message: m,
                    }),
                    (true, WorkError::NotConfigured(m)) => Err(Error::Unavailable(m)),
                    (_, e) => Ok(RunOutcome {
                        status: "queued",
                        work_id: id,
                        result: Value::Null,
                        error: Some(e.message()),
                        next_attempt_at: retry,
                    }),
                }
            }
        }
    }

    /// Records a failed attempt; returns (next attempt time, permanent).
    fn record_failure(
        &self,
        conn: &Connection,
        item: &WorkItem,
        e: &WorkError,
    ) -> store::Result<(Option<String>, bool)> {
        let (permanent, retry_after) = match e {
            WorkError::Call(_, CallError::Permanent { .. }) => (true, None),
            WorkError::Call(_, CallError::Transient { retry_after, .. }) => (false, *retry_after),
            WorkError::Call(_, CallError::Conflict(_)) => (false, None),
            WorkError::Config(..) | WorkError::NotConfigured(_) => (true, None),
            WorkError::Store(_) => (false, None),
        };
        let attempts = item.attempts + 1;
        let give_up = permanent || u64::from(attempts) >= self.inner.config.max_attempts;
        let wait = crate::mail::backoff_seconds(self.inner.config.retry_base_seconds, attempts)
            .max(retry_after.unwrap_or(0));
        let message = e.message();
        queue::failed(conn, item, &message, wait, give_up)?;
        if give_up {
            tracing::warn!(work = item.id, kind = item.kind.as_str(), model = %item.model_id, error = %message, "integration work failed");
        } else {
            tracing::info!(work = item.id, kind = item.kind.as_str(), model = %item.model_id, retry_in = wait, error = %message, "integration work will be retried");
        }
        let next = (!give_up).then(|| {
            crate::auth::time_str(
                chrono::Utc::now() + chrono::Duration::seconds(i64::try_from(wait).unwrap_or(3600)),
            )
        });
        Ok((next, give_up))
    }

    fn lock_model(&self, model_id: &str, wait: Duration) -> Option<ModelGuard<'_>> {
        let deadline = Instant::now() + wait;
        loop {
            {
                let mut b = self.inner.busy.lock().unwrap_or_else(|p| p.into_inner());
                if b.insert(model_id.to_string()) {
                    return Some(ModelGuard {
                        busy: &self.inner.busy,
                        id: model_id.to_string(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one claimed item against its org's settings.
    fn run_item(&self, db: &Db, item: &WorkItem) -> std::result::Result<Value, WorkError> {
        let org = self
            .org_of(&item.workspace_id)
            .map_err(|e| {
                WorkError::Store(store::Error::Io {
                    path: "workspaces".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            })?
            .ok_or_else(|| {
                WorkError::NotConfigured("the workspace is no longer in an organization".into())
            })?;
        match item.kind {
            WorkKind::JiraExport | WorkKind::JiraWontDo => {
                let cfg = self
                    .load::<JiraSettings>(&org, Kind::Jira)
                    .map_err(|e| WorkError::NotConfigured(e.to_string()))?
                    .ok_or_else(|| {
                        WorkError::NotConfigured(
                            "Jira is not configured for the organization (any more)".into(),
                        )
                    })?;
                // Work a member asked for runs as their own Atlassian account if they
                // connected one for this site.
                let who = self
                    .jira_actor(&org, &cfg, item.actor_id.as_deref())
                    .map_err(|e| WorkError::Config("Jira", e.to_string()))?;
                let result = if item.kind == WorkKind::JiraExport {
                    self.jira_export(db, item, &cfg, &who.site)
                } else {
                    self.jira_wont_do(db, item, &cfg, &who.site)
                };
                match (result, &who.account) {
                    (
                        Err(WorkError::Call(_, CallError::Permanent { status: 401, .. })),
                        Some(a),
                    ) => Err(WorkError::Config(
                        "Jira",
                        format!(
                            "Jira refused the token of {}'s own Atlassian account (401); they reconnect it in Settings › Integrations, or disconnect it to use the organization's account",
                            a.display_name
                        ),
                    )),
                    (r, _) => r,
                }
            }
            WorkKind::ConfluenceSync => {
                let cfg = self
                    .load::<ConfluenceSettings>(&org, Kind::Confluence)
                    .map_err(|e| WorkError::NotConfigured(e.to_string()))?
                    .ok_or_else(|| {
                        WorkError::NotConfigured(
                            "Confluence is not configured for the organization (any more)".into(),
                        )
                    })?;
                self.confluence_sync(db, item, &cfg)
            }
        }
    }

    fn jira_export(
        &self,
        db: &Db,
        item: &WorkItem,
        cfg: &Stored<JiraSettings>,
        site: &client::Site,
    ) -> std::result::Result<Value, WorkError> {
        let http = &self.inner.http;
        let s = &cfg.settings;
        let call = |e: CallError| WorkError::Call("Jira", e);
        let stored = {
            let conn = db.conn()?;
            match models::load(&conn, &item.workspace_id, &item.model_id) {
                Ok(m) => m,
                Err(models::Error::NotFound(_)) => {
                    return Ok(json!({"skipped": "the model was deleted"}));
                }
                Err(e) => return Err(WorkError::Config("Jira", e.to_string())),
            }
        };
        let model = &stored.model;
        let url = self.model_url(&model.id);
        let project = jira::project(http, site, &s.project_key).map_err(call)?;
        let types = || {
            project
                .issue_types
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let subtask = project.issue_type(&s.issue_type).ok_or_else(|| {
            WorkError::Config(
                "Jira",
                format!("issue type {:?} does not exist in project {} (available: {}); change issue_type in Settings › Integrations", s.issue_type, project.key, types()),
            )
        })?;
        // A repeated attempt looks for issues an earlier attempt may have created.
        // (`last_error` survives a fresh request merged into a failed-and-retried item.)
        let careful = item.attempts > 0 || item.last_error.is_some();
        let (mut created, mut updated, mut unchanged) = (0u32, 0u32, 0u32);
        let existing = {
            let conn = db.conn()?;
            queue::link(&conn, &model.id, "")?
        };
        let container = match (&stored.source_issue, existing) {
            (Some(src), _) => {
                let conn = db.conn()?;
                if queue::link(&conn, &model.id, "")?.is_none() {
                    queue::put_link(
                        &conn,
                        &item.workspace_id,
                        &model.id,
                        "",
                        "source",
                        src,
                        "",
                        &jira::browse_url(site, src),
                        "",
                    )?;
                }
                src.clone()
            }
            (None, Some(l)) => {
                let content = jira::container_content(model, &url);
                if l.content_hash != content.hash() {
                    jira::update_issue(http, site, &l.issue_key, content.fields()).map_err(call)?;
                    let conn = db.conn()?;
                    queue::set_hash(&conn, &model.id, "", &content.hash())?;
                    updated += 1;
                } else {
                    unchanged += 1;
                }
                l.issue_key
            }
            (None, None) => {
                match project.issue_type(&s.container_issue_type) {
                    Some(false) => {}
                    Some(true) => {
                        return Err(WorkError::Config(
                            "Jira",
                            format!(
                                "container_issue_type {:?} is a sub-task type; the container must be a standard issue type",
                                s.container_issue_type
                            ),
                        ));
                    }
                    None => {
                        return Err(WorkError::Config(
                            "Jira",
                            format!(
                                "container issue type {:?} does not exist in project {} (available: {}); change container_issue_type in Settings › Integrations",
                                s.container_issue_type,
                                project.key,
                                types()
                            ),
                        ));
                    }
                }
                let content = jira::container_content(model, &url);
                let found = if careful {
                    jira::find_by_label(http, site, &project.key, &jira::label(&model.id, ""))
                        .map_err(call)?
                } else {
                    None
                };
                let (key, id) = match found {
                    Some(f) => f,
                    None => {
                        let mut fields = content.fields();
                        fields["project"] = json!({"key": project.key});
                        fields["issuetype"] = json!({"name": s.container_issue_type});
                        created += 1;
                        jira::create_issue(http, site, fields).map_err(call)?
                    }
                };
                let conn = db.conn()?;
                queue::put_link(
                    &conn,
                    &item.workspace_id,
                    &model.id,
                    "",
                    "container",
                    &key,
                    &id,
                    &jira::browse_url(site, &key),
                    &content.hash(),
                )?;
                key
            }
        };
        for c in &model.controls {
            let Some(content) = jira::control_content(model, &c.id, &url) else {
                continue;
            };
            let hash = content.hash();
            let link = {
                let conn = db.conn()?;
                queue::link(&conn, &model.id, &c.id)?
            };
            match link {
                Some(l) if l.content_hash == hash => unchanged += 1,
                Some(l) => {
                    jira::update_issue(http, site, &l.issue_key, content.fields()).map_err(call)?;
                    if l.content_hash.is_empty() && !subtask {
                        jira::link_issues(http, site, &s.link_type, &container, &l.issue_key)
                            .map_err(call)?;
                    }
                    let conn = db.conn()?;
                    queue::set_hash(&conn, &model.id, &c.id, &hash)?;
                    updated += 1;
                }
                None => {
                    let found = if careful {
                        jira::find_by_label(
                            http,
                            site,
                            &project.key,
                            &jira::label(&model.id, &c.id),
                        )
                        .map_err(call)?
                    } else {
                        None
                    };
                    let (key, id) = match found {
                        Some(f) => f,
                        None => {
                            let mut fields = content.fields();
                            fields["project"] = json!({"key": project.key});
                            fields["issuetype"] = json!({"name": s.issue_type});
                            if subtask {
                                fields["parent"] = json!({"key": container});
                            }
                            jira::create_issue(http, site, fields).map_err(call)?
                        }
                    };
                    created += 1;
                    // Stored before linking: a failure after this point updates (and links)
                    // this issue on the next attempt instead of creating another.
                    {
                        let conn = db.conn()?;
                        queue::put_link(
                            &conn,
                            &item.workspace_id,
                            &model.id,
                            &c.id,
                            "control",
                            &key,
                            &id,
                            &jira::browse_url(site, &key),
                            "",
                        )?;
                    }
                    if !subtask {
                        jira::link_issues(http, site, &s.link_type, &container, &key)
                            .map_err(call)?;
                    }
                    let conn = db.conn()?;
                    queue::set_hash(&conn, &model.id, &c.id, &hash)?;
                }
            }
        }
        let conn = db.conn()?;
        models::record_activity(
            &conn,
            &item.workspace_id,
            Some(&model.id),
            "export",
            &format!("exported to Jira {}: {created} issue(s) created, {updated} updated, {unchanged} unchanged", project.key),
            if item.actor_id.is_some() { Source::Web } else { Source::Jira },
            item.actor_id.as_deref(),
        )
        .map_err(|e| WorkError::Config("Jira", e.to_string()))?;
        Ok(
            json!({"created": created, "updated": updated, "unchanged": unchanged, "container": container, "project": project.key}),
        )
    }

    fn jira_wont_do(
        &self,
        db: &Db,
        item: &WorkItem,
        cfg: &Stored<JiraSettings>,
        site: &client::Site,
    ) -> std::result::Result<Value, WorkError> {
        let http = &self.inner.http;
        let call = |e: CallError| WorkError::Call("Jira", e);
        let (link, model) = {
            let conn = db.conn()?;
            let link = queue::link(&conn, &item.model_id, &item.control_id)?;
            let model = models::load(&conn, &item.workspace_id, &item.model_id).ok();
            (link, model)
        };
        let Some(link) = link else {
            return Ok(json!({"skipped": "no linked issue"}));
        };
        if link.wont_do_at.is_some() {
            return Ok(json!({"skipped": "already won't do", "issue": link.issue_key}));
        }
        let (title, name) = match &model {
            Some(m) => (
                m.model.title.clone(),
                m.model
                    .tombstone(&item.control_id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
            ),
            None => (String::new(), String::new()),
        };
        jira::transition(
            http,
            site,
            &link.issue_key,
            &cfg.settings.wont_do_transition,
        )
        .map_err(call)?;
        let reason = if item.detail.is_empty() {
            link.dropped_reason.clone().unwrap_or_default()
        } else {
            item.detail.clone()
        };
        jira::comment(
            http,
            site,
            &link.issue_key,
            &jira::dropped_comment(
                &item.control_id,
                &name,
                &reason,
                &title,
                &self.model_url(&item.model_id),
            ),
        )
        .map_err(call)?;
        let conn = db.conn()?;
        queue::mark_wont_do(
            &conn,
            &item.model_id,
            &item.control_id,
            &cfg.settings.wont_do_transition,
        )?;
        Ok(json!({"issue": link.issue_key, "status": cfg.settings.wont_do_transition}))
    }

    fn confluence_sync(
        &self,
        db: &Db,
        item: &WorkItem,
        cfg: &Stored<ConfluenceSettings>,
    ) -> std::result::Result<Value, WorkError> {
        let http = &self.inner.http;
        let site = cfg.site();
        let call = |e: CallError| WorkError::Call("Confluence", e);
        let (stored, verification, links, page) = {
            let conn = db.conn()?;
            let stored = match models::load(&conn, &item.workspace_id, &item.model_id) {
                Ok(m) => m,
                Err(models::Error::NotFound(_)) => {
                    return Ok(json!({"skipped": "the model was deleted"}));
                }
                Err(e) => return Err(WorkError::Config("Confluence", e.to_string())),
            };
            let v = models::verification_map(&conn, &item.model_id)
                .map_err(|e| WorkError::Config("Confluence", e.to_string()))?;
            (
                stored,
                v,
                queue::links(&conn, &item.model_id)?,
                queue::page(&conn, &item.model_id)?,
            )
        };
        let model = &stored.model;
        let jira_map: BTreeMap<String, (String, String)> = links
            .into_iter()
            .filter(|l| !l.control_id.is_empty() && l.dropped_at.is_none())
            .map(|l| (l.control_id.clone(), (l.issue_key, l.issue_url)))
            .collect();
        let svg = crate::web::pages::models::diagram::render(model);
        let body = confluence::storage(
            model,
            &verification,
            &jira_map,
            &self.model_url(&model.id),
            svg.is_some(),
        );
        let title: String = format!("Threat model: {}", model.title)
            .chars()
            .take(240)
            .collect();
        let short: String = model.id.chars().take(8).collect();
        let alt = format!("{title} ({short})");
        let message = format!("rampart: model version {}", model.version);
        let written = match &page {
            Some(p) => match confluence::update(
                http,
                &site,
                &cfg.settings.space_key,
                &p.page_id,
                &title,
                &body,
                &message,
            ) {
                Err(CallError::Permanent { status: 404, .. }) => {
                    // Deleted in Confluence: make a new one.
                    confluence::create(
                        http,
                        &site,
                        &cfg.settings.space_key,
                        cfg.settings.parent_page_id.as_deref(),
                        &title,
                        &alt,
                        &body,
                    )
                    .map_err(call)?
                }
                other => other.map_err(call)?,
            },
            None => confluence::create(
                http,
                &site,
                &cfg.settings.space_key,
                cfg.settings.parent_page_id.as_deref(),
                &title,
                &alt,
                &body,
            )
            .map_err(call)?,
        };
        let diagram_hash = svg
            .as_deref()
            .map(crate::auth::secrets::sha256_hex)
            .unwrap_or_default();
        let same_page = page.as_ref().is_some_and(|p| p.page_id == written.id);
        if let Some(svg) = &svg
            && !(same_page
                && page
                    .as_ref()
                    .is_some_and(|p| p.diagram_hash == diagram_hash))
        {
            confluence::upload_diagram(http, &site, &written.id, svg).map_err(call)?;
        }
        let conn = db.conn()?;
        let p = queue::ConfluencePage {
            page_id: written.id.clone(),
            page_url: written.url.clone(),
            title: written.title.clone(),
            page_version: written.version,
            synced_model_version: i64::try_from(model.version).unwrap_or(i64::MAX),
            diagram_hash,
            synced_at: crate::auth::now_str(),
        };
        queue::put_page(&conn, &item.workspace_id, &model.id, &p)?;
        Ok(json!({"page_id": p.page_id, "page_url": p.page_url, "version": p.page_version}))
    }

    // ------------------------------------------------------------ status sync

    /// Applies a Jira status to a control: a done status marks it implemented (if it has an
    /// assertion; otherwise in progress with a note), leaving done or starting work marks it
    /// in progress. Returns a description of the change, if any.
    fn apply_status(
        &self,
        db: &Db,
        workspace_id: &str,
        model_id: &str,
        link: &queue::JiraLink,
        st: &jira::IssueStatus,
        cfg: &JiraSettings,
    ) -> Result<Option<String>> {
        let conn = db.conn()?;
        if link.kind != "control" || link.dropped_at.is_some() || st.name.is_empty() {
            queue::set_status(&conn, model_id, &link.control_id, &st.name, &link.sync_note)?;
            return Ok(None);
        }
        let stored = models::load(&conn, workspace_id, model_id)?;
        let Some(control) = stored.model.control(&link.control_id) else {
            return Ok(None);
        };
        let current = control.status;
        let done = cfg
            .done_statuses
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&st.name));
        let wont = st.name.eq_ignore_ascii_case(&cfg.wont_do_transition);
        let (target, note) = if current == ControlStatus::NotApplicable || wont {
            (None, String::new())
        } else if done {
            let assertions: i64 = conn.query_row(
                "SELECT count(*) FROM assertions WHERE model_id = ?1 AND control_id = ?2 COLLATE NOCASE",
                params![model_id, link.control_id],
                |r| r.get(0),
            )?;
            if assertions > 0 {
                (
                    (current != ControlStatus::Implemented).then_some(ControlStatus::Implemented),
                    String::new(),
                )
            } else {
                (
                    (current == ControlStatus::NotImplemented).then_some(ControlStatus::InProgress),
                    format!(
                        "Jira says {}, but marking the control implemented needs at least one assertion that CI can check",
                        st.name
                    ),
                )
            }
        } else if current == ControlStatus::Implemented {
            (
                Some(ControlStatus::InProgress),
                format!("reopened in Jira ({})", st.name),
            )
        } else if st.category == "indeterminate" && current == ControlStatus::NotImplemented {
            (Some(ControlStatus::InProgress), String::new())
        } else {
            (None, String::new())
        };
        queue::set_status(&conn, model_id, &link.control_id, &st.name, &note)?;
        drop(conn);
        let Some(target) = target else {
            return Ok(None);
        };
        let cid = link.control_id.clone();
        let key = link.issue_key.clone();
        let status_name = st.name.clone();
        models::apply_update(
            db,
            workspace_id,
            None,
            model_id,
            Source::Jira,
            "control_update",
            move |m| {
                m.update_control_status(&cid, target, None, chrono::Utc::now())?;
                Ok((
                    (),
                    format!("{cid} marked {target} (Jira {key}: {status_name})"),
                ))
            },
        )?;
        Ok(Some(format!("{}: {target}", link.control_id)))
    }

    /// `POST /api/integrations/jira/webhook/{org}`: checks the HMAC signature
    /// (`X-Hub-Signature: sha256=…`, when Jira signs) or the `token` query parameter, then
    /// applies the issue's status to the linked control. Unknown orgs and wrong secrets get
    /// the same answer.
    pub fn jira_webhook(
        &self,
        org_id: &str,
        token: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Value> {
        let denied = || Error::Unauthorized("webhook signature or token does not match".into());
        let cfg = self
            .load::<JiraSettings>(org_id, Kind::Jira)
            .ok()
            .flatten()
            .ok_or_else(denied)?;
        let secret = cfg.webhook_secret.as_deref().ok_or_else(denied)?;
        let ok = match (signature, token) {
            (Some(sig), _) => verify_signature(secret, sig, body),
            (None, Some(t)) => crate::auth::secrets::ct_eq(t, secret),
            (None, None) => false,
        };
        if !ok {
            return Err(denied());
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|e| invalid("body", format!("not JSON: {e}")))?;
        let event = v["webhookEvent"].as_str().unwrap_or_default().to_string();
        let Some(key) = v["issue"]["key"].as_str().map(str::to_string) else {
            return Ok(json!({"ok": true, "changed": 0, "ignored": "no issue in the event"}));
        };
        let mut changed = 0u32;
        for (db, workspaces) in self.org_dbs(org_id)? {
            let found = {
                let conn = db.conn()?;
                queue::links_by_issue(&conn, &workspaces, &key)?
            };
            for (ws, model, link) in found {
                if event == "jira:issue_deleted" {
                    let conn = db.conn()?;
                    if link.kind == "control" {
                        conn.execute(
                            "DELETE FROM jira_links WHERE model_id = ?1 AND control_id = ?2",
                            params![model, link.control_id],
                        )?;
                        models::record_activity(
                            &conn,
                            &ws,
                            Some(&model),
                            "export",
                            &format!(
                                "Jira issue {key} of {} was deleted in Jira; export again to recreate it",
                                link.control_id
                            ),
                            Source::Jira,
                            None,
                        )?;
                        changed += 1;
                    }
                    continue;
                }
                let st = jira::parse_status(&v["issue"]["fields"]["status"]);
                if self
                    .apply_status(&db, &ws, &model, &link, &st, &cfg.settings)?
                    .is_some()
                {
                    changed += 1;
                }
            }
        }
        Ok(json!({"ok": true, "changed": changed}))
    }

    // ------------------------------------------------------------ worker

    /// How often the reconcile job runs (zero: never).
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.inner.config.reconcile_interval_seconds)
    }

    /// Runs every due queue item of every database (the worker's tick).
    pub fn process_due(&self, stop: &AtomicBool) {
        let dbs = match self.inner.tenants.all() {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "integration queue: databases unavailable");
                return;
            }
        };
        for db in dbs {
            let due = match db
                .conn()
                .map_err(Error::from)
                .and_then(|c| Ok(queue::due(&c, 20)?))
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(db = %db.path().display(), error = %e, "integration queue");
                    continue;
                }
            };
            for item in due {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                if let Err(e) = self.work_on(&db, &item) {
                    tracing::warn!(work = item.id, error = %e, "integration queue item");
                }
            }
        }
    }

    fn work_on(&self, db: &Db, item: &WorkItem) -> Result<()> {
        {
            let conn = db.conn()?;
            if !queue::claim(&conn, item)? {
                return Ok(());
            }
        }
        let Some(_guard) = self.lock_model(&item.model_id, Duration::ZERO) else {
            // Someone is working on this model right now; try again shortly.
            let conn = db.conn()?;
            conn.execute(
                "UPDATE integration_outbox SET next_attempt_at = ?1 WHERE id = ?2",
                params![
                    crate::auth::time_str(chrono::Utc::now() + chrono::Duration::seconds(2)),
                    item.id
                ],
            )?;
            return Ok(());
        };
        let result = self.run_item(db, item);
        let conn = db.conn()?;
        match result {
            Ok(_) => {
                if !queue::done(&conn, item)? {
                    tracing::debug!(
                        work = item.id,
                        "asked for again while running; runs once more"
                    );
                }
            }
            Err(e) => {
                self.record_failure(&conn, item, &e)?;
            }
        }
        Ok(())
    }

    /// Re-reads the status of linked issues (catching webhooks that never arrived), and
    /// re-queues "Won't Do" and page syncs that were missed.
    pub fn reconcile(&self, stop: &AtomicBool) {
        if let Err(e) = self.reconcile_inner(stop) {
            tracing::warn!(error = %e, "integration reconcile");
        }
    }

    fn reconcile_inner(&self, stop: &AtomicBool) -> Result<()> {
        let orgs: Vec<(String, String)> = {
            let conn = self.platform().conn()?;
            let mut stmt = conn.prepare(
                "SELECT i.org_id, i.kind FROM org_integrations i JOIN orgs o ON o.id = i.org_id WHERE o.shredded_at IS NULL ORDER BY i.org_id",
            )?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        for (org, kind) in orgs {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let dbs = self.org_dbs(&org)?;
            if kind == "confluence" {
                for (db, workspaces) in &dbs {
                    let conn = db.conn()?;
                    for (ws, model) in queue::stale_pages(&conn, workspaces)? {
                        queue::enqueue(
                            &conn,
                            &ws,
                            &model,
                            WorkKind::ConfluenceSync,
                            "",
                            "",
                            None,
                            false,
                        )?;
                    }
                }
                continue;
            }
            let Some(cfg) = self.load::<JiraSettings>(&org, Kind::Jira)? else {
                continue;
            };
            let site = cfg.site();
            let mut checked = 0u32;
            for (db, workspaces) in &dbs {
                let (links, dropped) = {
                    let conn = db.conn()?;
                    (
                        queue::live_control_links(&conn, workspaces)?,
                        queue::dropped_without_work(&conn, workspaces)?,
                    )
                };
                {
                    let conn = db.conn()?;
                    for (ws, model, control, reason) in dropped {
                        queue::enqueue(
                            &conn,
                            &ws,
                            &model,
                            WorkKind::JiraWontDo,
                            &control,
                            &reason,
                            None,
                            false,
                        )?;
                    }
                }
                for (ws, model, link) in links {
                    if stop.load(Ordering::SeqCst) || checked >= MAX_RECONCILE_PER_ORG {
                        break;
                    }
                    checked += 1;
                    match jira::status(&self.inner.http, &site, &link.issue_key) {
                        Ok(st) => {
                            if st.name != link.jira_status || link.sync_note.is_empty() {
                                if let Some(change) =
                                    self.apply_status(db, &ws, &model, &link, &st, &cfg.settings)?
                                {
                                    tracing::info!(org = %org, issue = %link.issue_key, change = %change, "reconcile applied a missed Jira status");
                                }
                            } else {
                                // Touch the link so the oldest are checked first next time.
                                let conn = db.conn()?;
                                queue::set_status(
                                    &conn,
                                    &model,
                                    &link.control_id,
                                    &st.name,
                                    &link.sync_note,
                                )?;
                            }
                        }
                        Err(CallError::Permanent { status: 404, .. }) => {
                            let conn = db.conn()?;
                            queue::set_status(
                                &conn,
                                &model,
                                &link.control_id,
                                &link.jira_status,
                                "the issue no longer exists in Jira (or the token cannot see it)",
                            )?;
                        }
                        Err(e) => {
                            tracing::warn!(org = %org, error = %e, "reconcile: Jira unavailable; next run tries again");
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes finished queue items older than a week.
    pub fn prune(&self) {
        match self.inner.tenants.all() {
            Ok(dbs) => {
                for db in dbs {
                    if let Err(e) = db
                        .conn()
                        .map_err(Error::from)
                        .and_then(|c| Ok(queue::prune(&c)?))
                    {
                        tracing::warn!(error = %e, "pruning the integration queue");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning the integration queue"),
        }
    }
}

/// Issues checked per org and reconcile run (the call rate bounds the rest).
const MAX_RECONCILE_PER_ORG: u32 = 500;

/// Checks `X-Hub-Signature: sha256=<hex>` (HMAC-SHA256 of the body with the secret).
pub fn verify_signature(secret: &str, header: &str, body: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_signatures() {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"s3cret").expect("mac");
        mac.update(b"{\"a\":1}");
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(verify_signature("s3cret", &good, b"{\"a\":1}"));
        assert!(!verify_signature("s3cret", &good, b"{\"a\":2}"));
        assert!(!verify_signature("other", &good, b"{\"a\":1}"));
        assert!(!verify_signature("s3cret", "sha1=abcd", b"{\"a\":1}"));
        assert!(!verify_signature("s3cret", "sha256=zz", b"{\"a\":1}"));
    }
}
