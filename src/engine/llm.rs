//! The optional LLM engine: the six pipeline steps through any OpenAI-compatible chat
//! endpoint (`POST {endpoint}/chat/completions`: Ollama, vLLM, llama.cpp server, OpenAI).
//!
//! Owns the prompts, the parsing and validation of the answers against the domain, the
//! per-user response cache (`llm_cache`), the per-call usage records (`llm_usage`, for the
//! admin usage endpoint and the fair-use limit) and the quota circuit-breaker hook.
//!
//! * Each step sends a strict system prompt with the exact JSON shape of the domain `New*`
//!   values (rendered from real values, so it cannot drift from serde) and asks for JSON mode
//!   (`response_format: json_object`; dropped for servers that refuse it). A malformed or
//!   invalid answer is retried once with the error quoted; a second failure is
//!   [`EngineError::Step`] and the pipeline saves nothing.
//! * Every step uses the LLM: the six pipeline steps here, the title, intent classification,
//!   refinement planning, query and methodology answers in
//!   [`llm_conversation`](super::llm_conversation), and the assurance evidence judge in
//!   [`llm_judge`](super::llm_judge) (coherence and sufficiency). The pipeline steps fail
//!   when the LLM does (nothing half-generated is saved); the other calls fall back to the
//!   built-in engine, which answers and says so, as the judge falls back to its rules.
//! * The [`Engine`] trait has no caller argument, so the user of an operation is carried in a
//!   thread-local context set by [`with_user`] around engine calls (the model services do this
//!   on the thread that runs the pipeline). Without a context calls are neither cached nor
//!   limited, and are recorded without a user.
//! * Fair use counts *operations* (traces): a user may start at most `daily_request_limit`
//!   operations with at least one non-cached call per UTC day; more fail with
//!   [`EngineError::RateLimited`] (HTTP 429). Cache hits cost nothing.
//! * An `insufficient_quota` answer trips maintenance mode through the
//!   [`AdminService`](crate::admin::AdminService) and fails the step.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    BuiltinEngine, Engine, EngineError, Intent, Matrix, Refinement, Result, Step, StepOutput,
};
use crate::admin::AdminService;
use crate::config::{LlmConfig, TelemetryConfig};
use crate::domain::{
    ControlMapping, FrameworkRef, Level, NewAsset, NewAssumption, NewAttacker, NewControl,
    NewTrustBoundary, SecurityProperty, ThreatModel, VerificationMap,
};
use crate::store::Db;

/// Who the current engine calls are for; see [`with_user`].
#[derive(Debug, Clone)]
struct CallContext {
    user_id: String,
    trace_id: String,
    /// Where cached answers live: the workspace's database (cached answers quote tenant
    /// data, so they sit beside it and go with it on delete or crypto-shred).
    cache: Option<(String, Db)>,
    /// The operation type of this trace, set by its first call.
    operation: Option<&'static str>,
}

thread_local! {
    static CONTEXT: RefCell<Option<CallContext>> = const { RefCell::new(None) };
}

struct ContextGuard(Option<CallContext>);

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        CONTEXT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Runs `f` as one user operation (one trace) of `user_id`: LLM calls made by `f` on this
/// thread are cached per user, counted for the user's fair-use limit and recorded under the
/// user. The model services wrap their engine calls in this; other engines ignore it.
/// Without a workspace nothing is cached.
pub fn with_user<T>(user_id: &str, f: impl FnOnce() -> T) -> T {
    run_in_context(
        CallContext {
            user_id: user_id.to_string(),
            trace_id: uuid::Uuid::new_v4().to_string(),
            cache: None,
            operation: None,
        },
        f,
    )
}

/// Like [`with_user`], for an operation in a workspace whose data lives in `db`: answers are
/// cached there, per workspace and user.
pub fn with_tenant<T>(user_id: &str, workspace_id: &str, db: &Db, f: impl FnOnce() -> T) -> T {
    run_in_context(
        CallContext {
            user_id: user_id.to_string(),
            trace_id: uuid::Uuid::new_v4().to_string(),
            cache: Some((workspace_id.to_string(), db.clone())),
            operation: None,
        },
        f,
    )
}

/// A write of the LLM engine waiting for the end of a [`deferring_writes`] scope.
type Deferred = Box<dyn FnOnce()>;

thread_local! {
    /// The LLM engine's own writes queued while this thread holds a write transaction
    /// (see [`deferring_writes`]); `None` outside such a scope.
    static DEFERRED: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
}

/// Runs `f`, which holds a write transaction (a model change calls the LLM inside it): the
/// LLM engine's own writes meanwhile — usage records and cache entries — are queued and made
/// when `f` returns, after its transaction ended. Made at once they would wait for that
/// transaction from a second connection of the same database (the platform database of
/// personal and non-isolated workspaces) until the busy timeout, then be lost with a
/// warning. Nested scopes leave the writes to the outermost one.
pub fn deferring_writes<T>(f: impl FnOnce() -> T) -> T {
    let outermost = DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_some() {
            false
        } else {
            *d = Some(Vec::new());
            true
        }
    });
    if !outermost {
        return f();
    }
    struct Flush;
    impl Drop for Flush {
        fn drop(&mut self) {
            let queued = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
            if !std::thread::panicking() {
                for write in queued {
                    write();
                }
            }
        }
    }
    let _flush = Flush;
    f()
}

/// Runs `write` now, or queues it while a [`deferring_writes`] scope is open on this thread.
fn write_soon(write: impl FnOnce() + 'static) {
    let write: Deferred = Box::new(write);
    let now = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(queue) => {
            queue.push(write);
            None
        }
        None => Some(write),
    });
    if let Some(write) = now {
        write();
    }
}

fn run_in_context<T>(ctx: CallContext, f: impl FnOnce() -> T) -> T {
    let prev = CONTEXT.with(|c| c.borrow_mut().replace(ctx));
    let _guard = ContextGuard(prev);
    f()
}

fn current_context() -> Option<CallContext> {
    CONTEXT.with(|c| c.borrow().clone())
}

/// The operation type a call of `template` belongs to (the `operation` of usage records and
/// the usage endpoint's `operation` filter).
pub fn operation_of(template: &str) -> &'static str {
    match template {
        "suggest_title" | "generate_assets" | "refine_assets" | "generate_attackers"
        | "refine_attackers" | "generate_matrix" => "generation",
        "generate_controls" => "controls",
        // Routing a chat message (the turn's own operation follows as its own trace).
        "classify_intent" => "conversation",
        "plan_refinement" => "refinement",
        "answer_query" | "answer_general" => "query",
        "judge_coherence" | "judge_sufficiency" => "evidence_review",
        "compliance_map" => "compliance_mapping",
        _ => "other",
    }
}

/// Every operation type [`operation_of`] names.
pub const OPERATIONS: &[&str] = &[
    "generation",
    "refinement",
    "query",
    "controls",
    "conversation",
    "evidence_review",
    "compliance_mapping",
    "other",
];

/// Every prompt template (pipeline step or conversation/judge prompt) usage records name.
pub const TEMPLATES: &[&str] = &[
    "suggest_title",
    "generate_assets",
    "refine_assets",
    "generate_attackers",
    "refine_attackers",
    "generate_matrix",
    "generate_controls",
    "classify_intent",
    "plan_refinement",
    "answer_query",
    "answer_general",
    "judge_coherence",
    "judge_sufficiency",
    "compliance_map",
];

/// The operation of the current trace for a call of `template`: the first call's operation
/// sticks for the whole trace (control generation inside a generation is generation).
fn trace_operation(template: &str) -> &'static str {
    let op = operation_of(template);
    CONTEXT.with(|c| match c.borrow_mut().as_mut() {
        Some(ctx) => *ctx.operation.get_or_insert(op),
        None => op,
    })
}

/// UTC timestamp that sorts as text (the format of the `llm_*` tables).
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The LLM engine (see the module documentation).
pub struct LlmEngine {
    name: String,
    chat_url: String,
    llm: LlmConfig,
    telemetry: TelemetryConfig,
    client: reqwest::blocking::Client,
    db: Db,
    admin: Option<AdminService>,
    fallback: BuiltinEngine,
    json_mode: AtomicBool,
    records: AtomicU64,
    /// The telemetry log file (`telemetry.log_file`), when set and telemetry is on.
    log: Option<std::sync::Mutex<std::fs::File>>,
    /// Credits charged per operation (see [`crate::credits`]); none: not metered.
    credits: Option<crate::credits::CreditService>,
}

impl std::fmt::Debug for LlmEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmEngine")
            .field("name", &self.name)
            .field("chat_url", &self.chat_url)
            .finish_non_exhaustive()
    }
}

/// One message of a chat completion request.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ChatMessage {
    pub(super) role: &'static str,
    pub(super) content: String,
}

/// The answer to one completion call.
struct Completion {
    content: String,
    cached: bool,
    cache_key: Option<(CallContext, String)>,
}

/// One usage record.
struct UsageRow<'a> {
    user_id: Option<&'a str>,
    /// The workspace of the operation (its org is looked up when recording).
    workspace_id: Option<&'a str>,
    /// Operation type (see [`trace_operation`]).
    operation: &'static str,
    trace_id: &'a str,
    template: &'a str,
    tokens: (i64, i64, i64),
    latency_ms: i64,
    cache_hit: bool,
    error: Option<&'a str>,
    /// The messages of the call, for the DEBUG telemetry log's prompt preview.
    messages: &'a [ChatMessage],
}

/// Longest prompt preview in a DEBUG telemetry log line.
const PREVIEW_CHARS: usize = 200;

/// Opens the telemetry log for appending (created 0600: it may hold prompt previews).
fn open_log(path: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Drops telemetry records older than `retention_days` (the server's worker calls this).
pub fn prune_usage(conn: &rusqlite::Connection, retention_days: u64) -> rusqlite::Result<usize> {
    let days = i64::try_from(retention_days.max(1))
        .unwrap_or(3650)
        .min(36_500);
    let cutoff = ts(Utc::now() - chrono::Duration::days(days));
    conn.execute("DELETE FROM llm_usage WHERE created_at < ?1", [&cutoff])
}

impl LlmEngine {
    /// Builds the engine for `llm.endpoint` (must be set). `db` holds the cache and usage
    /// tables, `admin` trips maintenance on quota exhaustion, `fallback` answers the
    /// non-pipeline calls. Must be called outside an async runtime (blocking HTTP client).
    pub fn new(
        llm: LlmConfig,
        telemetry: TelemetryConfig,
        db: Db,
        admin: Option<AdminService>,
        fallback: BuiltinEngine,
    ) -> std::result::Result<LlmEngine, EngineError> {
        let base = llm.endpoint.trim().trim_end_matches('/');
        if base.is_empty() {
            return Err(EngineError::InvalidInput(
                "llm.endpoint is empty; the LLM engine needs an OpenAI-compatible base URL".into(),
            ));
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(llm.timeout_seconds.max(1)))
            .build()
            .map_err(|e| EngineError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        let mut engine = LlmEngine {
            name: format!("llm:{}", llm.model),
            chat_url: format!("{base}/chat/completions"),
            llm,
            telemetry,
            client,
            db,
            admin,
            fallback,
            json_mode: AtomicBool::new(true),
            records: AtomicU64::new(0),
            log: None,
            credits: None,
        };
        let path = engine.telemetry.log_file.trim().to_string();
        if engine.telemetry.enabled && !path.is_empty() {
            let file = open_log(&path).map_err(|e| {
                EngineError::Unavailable(format!(
                    "cannot open the telemetry log file {path} (telemetry.log_file / TELEMETRY_LOG_FILE): {e}"
                ))
            })?;
            engine.log = Some(std::sync::Mutex::new(file));
        }
        engine.prune();
        Ok(engine)
    }

    /// Charges operations run under [`crate::credits::metered`] against `credits`.
    pub fn with_credits(mut self, credits: crate::credits::CreditService) -> Self {
        self.credits = Some(credits);
        self
    }

    /// The built-in engine that answers when a conversational LLM call fails.
    pub(super) fn fallback(&self) -> &BuiltinEngine {
        &self.fallback
    }

    fn storage(e: impl std::fmt::Display) -> EngineError {
        EngineError::Unavailable(format!("LLM cache/usage storage failed: {e}"))
    }

    /// Drops usage records past retention and expired cache entries.
    fn prune(&self) {
        let now = Utc::now();
        let days = i64::try_from(self.telemetry.retention_days.max(1)).unwrap_or(3650);
        let hours = i64::try_from(self.llm.cache_ttl_hours).unwrap_or(i64::MAX / 7200);
        let usage_cutoff = ts(now - chrono::Duration::days(days.min(36_500)));
        let cache_cutoff = ts(now - chrono::Duration::hours(hours.min(24 * 36_500)));
        let res = self.db.conn().map_err(Self::storage).and_then(|conn| {
            conn.execute(
                "DELETE FROM llm_usage WHERE created_at < ?1",
                [&usage_cutoff],
            )
            .map_err(Self::storage)?;
            conn.execute(
                "DELETE FROM llm_cache WHERE created_at < ?1",
                [&cache_cutoff],
            )
            .map_err(Self::storage)
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "pruning LLM usage and cache failed");
        }
    }

    fn record(&self, row: UsageRow<'_>) {
        if !self.telemetry.enabled {
            self.count_for_fair_use(&row);
            return;
        }
        self.log_line(&row);
        let db = self.db.clone();
        let (user_id, trace_id, model, template) = (
            row.user_id.map(str::to_owned),
            row.trace_id.to_owned(),
            self.llm.model.clone(),
            row.template.to_owned(),
        );
        let (tokens, latency_ms, cache_hit, operation) =
            (row.tokens, row.latency_ms, row.cache_hit, row.operation);
        let (error, workspace_id) = (
            row.error.map(str::to_owned),
            row.workspace_id.map(str::to_owned),
        );
        let created_at = ts(Utc::now());
        write_soon(move || {
            let res = db.conn().map_err(Self::storage).and_then(|conn| {
                conn.execute(
                    "INSERT INTO llm_usage (user_id, trace_id, model, template, prompt_tokens, completion_tokens, total_tokens, latency_ms, cache_hit, error, created_at, workspace_id, org_id, operation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, (SELECT org_id FROM workspaces WHERE id = ?12), ?13)",
                    params![
                        user_id,
                        trace_id,
                        model,
                        template,
                        tokens.0,
                        tokens.1,
                        tokens.2,
                        latency_ms,
                        cache_hit,
                        error,
                        created_at,
                        workspace_id,
                        operation
                    ],
                )
                .map_err(Self::storage)
            });
            if let Err(e) = res {
                tracing::warn!(error = %e, "recording LLM usage failed");
            }
        });
        let deferring = DEFERRED.with(|d| d.borrow().is_some());
        if !deferring && self.records.fetch_add(1, Ordering::Relaxed) % 200 == 199 {
            self.prune();
        }
    }

    /// Telemetry off: only what the fair-use limit counts is kept — a user's uncached call
    /// in an operation, and when — with no model, step, tokens, latency or error.
    fn count_for_fair_use(&self, row: &UsageRow<'_>) {
        if row.cache_hit || row.user_id.is_none() {
            return;
        }
        let db = self.db.clone();
        let (user_id, trace_id) = (row.user_id.map(str::to_owned), row.trace_id.to_owned());
        let created_at = ts(Utc::now());
        write_soon(move || {
            let res = db.conn().map_err(Self::storage).and_then(|conn| {
                conn.execute(
                    "INSERT INTO llm_usage (user_id, trace_id, model, template, cache_hit, created_at) VALUES (?1, ?2, '', '', 0, ?3)",
                    params![user_id, trace_id, created_at],
                )
                .map_err(Self::storage)
            });
            if let Err(e) = res {
                tracing::warn!(error = %e, "counting an LLM call for the fair-use limit failed");
            }
        });
    }

    /// One JSON line per call in the telemetry log, filtered by `telemetry.log_level`.
    fn log_line(&self, row: &UsageRow<'_>) {
        let Some(file) = &self.log else {
            return;
        };
        let level = self.telemetry.log_level.to_ascii_lowercase();
        if matches!(level.as_str(), "warning" | "error") && row.error.is_none() {
            return;
        }
        let mut line = json!({
            "ts": ts(Utc::now()),
            "level": if row.error.is_some() { "ERROR" } else { "INFO" },
            "user_id": row.user_id,
            "trace_id": row.trace_id,
            "model": self.llm.model,
            "template": row.template,
            "prompt_tokens": row.tokens.0,
            "completion_tokens": row.tokens.1,
            "total_tokens": row.tokens.2,
            "latency_ms": row.latency_ms,
            "cache_hit": row.cache_hit,
            "error": row.error,
        });
        if level == "debug" {
            let prompt = row
                .messages
                .iter()
                .rev()
                .find(|m| m.role == "user")
                .map(|m| m.content.chars().take(PREVIEW_CHARS).collect::<String>())
                .unwrap_or_default();
            line["prompt_preview"] = json!(prompt);
        }
        let mut text = line.to_string();
        text.push('\n');
        let mut f = file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = std::io::Write::write_all(&mut *f, text.as_bytes()) {
            tracing::warn!(error = %e, "writing the telemetry log failed");
        }
    }

    fn cache_get(&self, ctx: &CallContext, hash: &str) -> Result<Option<String>> {
        let Some((workspace, db)) = &ctx.cache else {
            return Ok(None);
        };
        let user_id = &ctx.user_id;
        let hours = i64::try_from(self.llm.cache_ttl_hours).unwrap_or(i64::MAX / 7200);
        let now = Utc::now();
        let cutoff = ts(now - chrono::Duration::hours(hours.min(24 * 36_500)));
        let conn = db.conn().map_err(Self::storage)?;
        let hit: Option<String> = conn
            .query_row(
                "SELECT response FROM llm_cache WHERE workspace_id = ?4 AND user_id = ?1 AND request_hash = ?2 AND created_at >= ?3",
                params![user_id, hash, cutoff, workspace],
                |r| r.get(0),
            )
            .optional()
            .map_err(Self::storage)?;
        if hit.is_some() {
            let (db, user_id, hash, workspace) = (
                db.clone(),
                user_id.clone(),
                hash.to_owned(),
                workspace.clone(),
            );
            write_soon(move || {
                let res = db.conn().map_err(Self::storage).and_then(|conn| {
                    conn.execute(
                        "UPDATE llm_cache SET last_used = ?3 WHERE workspace_id = ?4 AND user_id = ?1 AND request_hash = ?2",
                        params![user_id, hash, ts(now), workspace],
                    )
                    .map_err(Self::storage)
                });
                if let Err(e) = res {
                    tracing::warn!(error = %e, "marking an LLM cache entry used failed");
                }
            });
        }
        Ok(hit)
    }

    fn cache_put(&self, ctx: &CallContext, hash: &str, response: &str) {
        let Some((workspace, db)) = &ctx.cache else {
            return;
        };
        let now = ts(Utc::now());
        let max = i64::try_from(self.llm.cache_max_entries).unwrap_or(i64::MAX);
        let (db, user_id, hash, response, workspace) = (
            db.clone(),
            ctx.user_id.clone(),
            hash.to_owned(),
            response.to_owned(),
            workspace.clone(),
        );
        write_soon(move || {
            let res = db.conn().map_err(Self::storage).and_then(|conn| {
                conn.execute(
                    "INSERT OR REPLACE INTO llm_cache (workspace_id, user_id, request_hash, response, created_at, last_used) VALUES (?5, ?1, ?2, ?3, ?4, ?4)",
                    params![user_id, hash, response, now, workspace],
                )
                .map_err(Self::storage)?;
                // Least recently used entries beyond the maximum go.
                conn.execute(
                    "DELETE FROM llm_cache WHERE rowid IN (SELECT rowid FROM llm_cache ORDER BY last_used ASC LIMIT MAX(0, (SELECT COUNT(*) FROM llm_cache) - ?1))",
                    [max],
                )
                .map_err(Self::storage)
            });
            if let Err(e) = res {
                tracing::warn!(error = %e, "storing an LLM cache entry failed");
            }
        });
    }

    /// Refuses a new operation of a user who already started `daily_request_limit`
    /// operations with non-cached calls today (UTC).
    fn check_fair_use(&self, ctx: &CallContext) -> Result<()> {
        let limit = self.llm.daily_request_limit;
        if limit == 0 {
            return Ok(());
        }
        let day_start = format!("{}T00:00:00.000000Z", Utc::now().format("%Y-%m-%d"));
        let conn = self.db.conn().map_err(Self::storage)?;
        let own: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM llm_usage WHERE user_id = ?1 AND trace_id = ?2 AND cache_hit = 0",
                params![ctx.user_id, ctx.trace_id],
                |r| r.get(0),
            )
            .map_err(Self::storage)?;
        if own > 0 {
            return Ok(());
        }
        let used: i64 = conn
            .query_row(
                "SELECT COUNT(DISTINCT trace_id) FROM llm_usage WHERE user_id = ?1 AND cache_hit = 0 AND created_at >= ?2",
                params![ctx.user_id, day_start],
                |r| r.get(0),
            )
            .map_err(Self::storage)?;
        if u64::try_from(used).unwrap_or(0) >= limit {
            return Err(EngineError::RateLimited(format!(
                "fair use limit reached: {limit} AI requests per day; cached answers still work, new requests are accepted again after midnight UTC"
            )));
        }
        Ok(())
    }

    fn request_body(&self, messages: &[ChatMessage], json_mode: bool) -> Value {
        let mut body = json!({
            "model": self.llm.model,
            "messages": messages,
            "temperature": 0,
        });
        if json_mode {
            body["response_format"] = json!({"type": "json_object"});
        }
        body
    }

    /// One chat completion (from the cache when possible). Records usage under `template`
    /// (the step or judge prompt's name).
    fn complete(&self, template: &'static str, messages: &[ChatMessage]) -> Result<Completion> {
        let ctx = current_context();
        let hash = hex::encode(Sha256::digest(
            serde_json::to_vec(&json!({"model": self.llm.model, "messages": messages}))
                .unwrap_or_default(),
        ));
        let anonymous_trace;
        let (user_id, trace_id) = match &ctx {
            Some(c) => (Some(c.user_id.as_str()), c.trace_id.as_str()),
            None => {
                anonymous_trace = uuid::Uuid::new_v4().to_string();
                (None, anonymous_trace.as_str())
            }
        };
        let workspace_id = ctx
            .as_ref()
            .and_then(|c| c.cache.as_ref())
            .map(|(w, _)| w.as_str());
        let operation = trace_operation(template);
        let cache_ctx = ctx
            .as_ref()
            .filter(|c| self.llm.cache_enabled && c.cache.is_some());
        if let Some(c) = cache_ctx
            && let Some(content) = self.cache_get(c, &hash)?
        {
            self.record(UsageRow {
                user_id,
                workspace_id,
                operation,
                trace_id,
                template,
                tokens: (0, 0, 0),
                latency_ms: 0,
                cache_hit: true,
                error: None,
                messages,
            });
            return Ok(Completion {
                content,
                cached: true,
                cache_key: None,
            });
        }
        if let Some(c) = &ctx {
            self.check_fair_use(c)?;
        }
        let started = Instant::now();
        let outcome = self.post(messages);
        if outcome.is_ok()
            && let Some(credits) = &self.credits
        {
            // Charged when the operation ends well (`credits::metered`), not here: a model
            // write transaction may be open on this thread.
            credits.note_use();
        }
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (tokens, error) = match &outcome {
            Ok((_, tokens)) => (*tokens, None),
            Err(e) => ((0, 0, 0), Some(e.to_string())),
        };
        self.record(UsageRow {
            user_id,
            workspace_id,
            operation,
            trace_id,
            template,
            tokens,
            latency_ms,
            cache_hit: false,
            error: error.as_deref(),
            messages,
        });
        let (content, _) = outcome?;
        Ok(Completion {
            content,
            cached: false,
            cache_key: cache_ctx.map(|c| (c.clone(), hash)),
        })
    }

    /// POSTs the request; falls back to no JSON mode once if the server refuses it.
    fn post(&self, messages: &[ChatMessage]) -> Result<(String, (i64, i64, i64))> {
        let json_mode = self.json_mode.load(Ordering::Relaxed);
        match self.post_once(messages, json_mode) {
            Err(PostError::Status(400, body))
                if json_mode && body.to_ascii_lowercase().contains("response_format") =>
            {
                self.json_mode.store(false, Ordering::Relaxed);
                tracing::info!(
                    "LLM endpoint refused response_format; continuing without JSON mode"
                );
                self.post_once(messages, false).map_err(|e| self.fail(e))
            }
            other => other.map_err(|e| self.fail(e)),
        }
    }

    fn post_once(
        &self,
        messages: &[ChatMessage],
        json_mode: bool,
    ) -> std::result::Result<(String, (i64, i64, i64)), PostError> {
        let mut req = self
            .client
            .post(&self.chat_url)
            .json(&self.request_body(messages, json_mode));
        if !self.llm.api_key.is_empty() {
            req = req.bearer_auth(self.llm.api_key.expose());
        }
        let resp = req
            .send()
            .map_err(|e| PostError::Transport(e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .map_err(|e| PostError::Transport(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(PostError::Status(status, text));
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| PostError::Protocol(format!("the answer is not JSON: {e}")))?;
        let content = v["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                PostError::Protocol("the answer has no choices[0].message.content".into())
            })?
            .to_string();
        let usage = &v["usage"];
        let n = |k: &str| usage[k].as_i64().unwrap_or(0);
        let (p, c) = (n("prompt_tokens"), n("completion_tokens"));
        let total = match usage["total_tokens"].as_i64() {
            Some(t) => t,
            None => p + c,
        };
        Ok((content, (p, c, total)))
    }

    /// Turns an HTTP failure into an engine error; quota exhaustion trips maintenance.
    fn fail(&self, e: PostError) -> EngineError {
        match e {
            PostError::Transport(m) => {
                EngineError::Unavailable(format!("LLM endpoint unreachable: {m}"))
            }
            PostError::Protocol(m) => {
                EngineError::Unavailable(format!("LLM endpoint answered unexpectedly: {m}"))
            }
            PostError::Status(status, body) => {
                if crate::admin::maintenance::is_quota_exhausted(status, &body) {
                    let reason = "LLM provider quota exhausted (insufficient_quota)";
                    if let Some(admin) = &self.admin {
                        match admin.trip_on_quota_exhausted(reason) {
                            Ok(_) => tracing::error!("{reason}: maintenance mode enabled"),
                            Err(err) => {
                                tracing::error!(error = %err, "tripping maintenance mode failed")
                            }
                        }
                    }
                    return EngineError::Unavailable(format!(
                        "{reason}; the appliance is now in maintenance mode until an administrator clears it"
                    ));
                }
                let snippet: String = body.chars().take(300).collect();
                EngineError::Unavailable(format!("LLM endpoint answered HTTP {status}: {snippet}"))
            }
        }
    }

    /// Runs one step: ask, parse, validate; one retry on a malformed answer.
    fn ask<T: DeserializeOwned>(
        &self,
        step: Step,
        field: &str,
        shape: &Value,
        rules: &str,
        input: Value,
        validate: impl Fn(&T) -> std::result::Result<(), String>,
    ) -> Result<StepOutput<T>> {
        let system = format!(
            "You are the threat-modeling engine of rampart. rampart step {key}: {label}.\n\
             Answer with ONE JSON object and nothing else (no prose, no markdown fences), of exactly this shape:\n{shape}\n\
             Field values: security properties are \"C\", \"I\", \"A\" or \"U\"; levels are \"high\", \"medium\" or \"low\"; \
             attacker positions are \"external\", \"adjacent\", \"internal\", \"insider\", \"supply_chain\" or \"physical\"; \
             framework is \"nist80053\", \"owasp_asvs\" or \"cwe\". \"thought\" is a short explanation for the user. \
             Every item's \"rationale\" quotes the words of the description that justify it.\n{rules}",
            key = step_key(step),
            label = step.label(),
        );
        let user = serde_json::to_string_pretty(&input).unwrap_or_default();
        let messages = vec![
            ChatMessage {
                role: "system",
                content: system,
            },
            ChatMessage {
                role: "user",
                content: user,
            },
        ];
        match self.answer_checked(step_key(step), messages, |content| {
            let (data, thought) = parse_reply::<T>(content, field)?;
            validate(&data)?;
            Ok(StepOutput { data, thought })
        })? {
            Ok(output) => Ok(output),
            Err(last_error) => Err(EngineError::Step {
                step,
                message: format!(
                    "the LLM returned malformed output twice ({last_error}); nothing was saved"
                ),
            }),
        }
    }

    /// Sends `messages` and turns the answer into a value with `check`; a malformed answer is
    /// retried once with the problem quoted, and only an accepted answer is cached. The outer
    /// error is the transport's; the inner one is the last reason an answer was refused.
    pub(super) fn answer_checked<V>(
        &self,
        template: &'static str,
        mut messages: Vec<ChatMessage>,
        check: impl Fn(&str) -> std::result::Result<V, String>,
    ) -> Result<std::result::Result<V, String>> {
        let mut last_error = String::new();
        for attempt in 0..2 {
            let completion = self.complete(template, &messages)?;
            match check(&completion.content) {
                Ok(value) => {
                    if let Some((ctx, hash)) = &completion.cache_key {
                        self.cache_put(ctx, hash, &completion.content);
                    }
                    return Ok(Ok(value));
                }
                Err(e) => {
                    tracing::warn!(template, attempt, cached = completion.cached, error = %e, "malformed LLM answer");
                    messages.push(ChatMessage {
                        role: "assistant",
                        content: completion.content,
                    });
                    messages.push(ChatMessage {
                        role: "user",
                        content: format!(
                            "That answer was invalid: {e}. Answer again with only the JSON object of the required shape."
                        ),
                    });
                    last_error = e;
                }
            }
        }
        Ok(Err(last_error))
    }
}

enum PostError {
    Transport(String),
    Status(u16, String),
    Protocol(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Transport(m) | PostError::Protocol(m) => f.write_str(m),
            PostError::Status(s, b) => {
                write!(f, "HTTP {s}: {}", b.chars().take(300).collect::<String>())
            }
        }
    }
}

/// The step's name in prompts and usage records (`generate_assets`...).
pub fn step_key(step: Step) -> &'static str {
    match step {
        Step::GenerateAssets => "generate_assets",
        Step::RefineAssets => "refine_assets",
        Step::GenerateAttackers => "generate_attackers",
        Step::RefineAttackers => "refine_attackers",
        Step::GenerateMatrix => "generate_matrix",
        Step::GenerateControls => "generate_controls",
    }
}

/// Extracts the JSON object of an answer (tolerating fences or text around it) and
/// deserializes `field` from it.
fn parse_reply<T: DeserializeOwned>(
    content: &str,
    field: &str,
) -> std::result::Result<(T, String), String> {
    let start = content.find('{');
    let end = content.rfind('}');
    let json = match (start, end) {
        (Some(s), Some(e)) if e > s => &content[s..=e],
        _ => return Err("the answer contains no JSON object".into()),
    };
    let mut v: Value =
        serde_json::from_str(json).map_err(|e| format!("the answer is not valid JSON: {e}"))?;
    let thought = v["thought"].as_str().unwrap_or_default().trim().to_string();
    let data = v
        .get_mut(field)
        .map(Value::take)
        .ok_or_else(|| format!("the answer has no \"{field}\" field"))?;
    let data =
        serde_json::from_value(data).map_err(|e| format!("\"{field}\" does not match: {e}"))?;
    Ok((data, thought))
}

fn check_assets(assets: &[NewAsset]) -> std::result::Result<(), String> {
    if assets.is_empty() {
        return Err("\"assets\" is empty; name at least one asset".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, a) in assets.iter().enumerate() {
        if a.name.trim().is_empty() {
            return Err(format!("assets[{i}] has an empty name"));
        }
        if a.properties.is_empty() {
            return Err(format!("assets[{i}] ({}) has no properties", a.name));
        }
        if !seen.insert(a.name.trim().to_lowercase()) {
            return Err(format!("asset name {:?} appears twice", a.name));
        }
    }
    Ok(())
}

fn check_attackers(
    model: &ThreatModel,
    attackers: &[NewAttacker],
) -> std::result::Result<(), String> {
    if attackers.is_empty() {
        return Err("\"attackers\" is empty; name at least one attacker".into());
    }
    for (i, a) in attackers.iter().enumerate() {
        if a.name.trim().is_empty() {
            return Err(format!("attackers[{i}] has an empty name"));
        }
        for t in a.targets.iter().flatten() {
            if !model.assets.iter().any(|x| &x.id == t) {
                return Err(format!(
                    "attackers[{i}] targets unknown asset id {t:?} (use the ids given)"
                ));
            }
        }
    }
    Ok(())
}

fn model_input(description: &str, model: &ThreatModel, with_cos: bool) -> Value {
    let assets: Vec<Value> = model
        .assets
        .iter()
        .map(|a| json!({"id": a.id, "name": a.name, "description": a.description, "properties": a.properties, "impact": a.impact}))
        .collect();
    let attackers: Vec<Value> = model
        .attackers
        .iter()
        .map(|a| json!({"id": a.id, "name": a.name, "position": a.position, "likelihood": a.likelihood, "threatens": a.threatens, "targets": a.targets}))
        .collect();
    let mut v = json!({"description": description, "assets": assets, "attackers": attackers});
    if with_cos {
        v["control_objectives"] = model
            .control_objectives
            .iter()
            .map(|c| json!({"id": c.id, "asset_id": c.asset_id, "attacker_id": c.attacker_id, "properties": c.properties, "risk_tier": c.risk_tier, "statement": c.statement}))
            .collect();
    }
    v
}

fn example_asset() -> NewAsset {
    NewAsset {
        name: "Customer records database".into(),
        description: "PostgreSQL database holding customer profiles".into(),
        properties: [
            SecurityProperty::Confidentiality,
            SecurityProperty::Integrity,
        ]
        .into_iter()
        .collect(),
        impact: Level::High,
        rationale: "description: \"stores customer profiles in Postgres\"".into(),
        tags: Default::default(),
    }
}

fn example_attacker() -> NewAttacker {
    NewAttacker {
        name: "External attacker".into(),
        description: "Anonymous party on the internet".into(),
        capability: "Sends crafted requests to public endpoints".into(),
        position: crate::domain::AttackerPosition::External,
        archetype: "external".into(),
        likelihood: Level::High,
        threatens: [SecurityProperty::Confidentiality].into_iter().collect(),
        targets: Some(["A1".to_string()].into_iter().collect()),
        rationale: "description: \"public REST API\"".into(),
        tags: Default::default(),
    }
}

impl Engine for LlmEngine {
    fn name(&self) -> &str {
        &self.name
    }

    fn check_credits(
        &self,
        user_id: &str,
        org_id: Option<&str>,
        op: crate::credits::Operation,
    ) -> Result<()> {
        let Some(credits) = &self.credits else {
            return Ok(());
        };
        credits.check(user_id, org_id, op).map_err(|e| match e {
            crate::credits::CheckError::Exhausted(x) => EngineError::CreditsExhausted(x),
            crate::credits::CheckError::Store(s) => Self::storage(s),
        })
    }

    fn suggest_title(&self, description: &str) -> Result<String> {
        self.title_or_builtin(description)
    }

    fn generate_assets(&self, description: &str) -> Result<StepOutput<Vec<NewAsset>>> {
        self.ask(
            Step::GenerateAssets,
            "assets",
            &json!({"thought": "...", "assets": [example_asset()]}),
            "List the assets (data, components, credentials, services) the description names or clearly implies. Do not pad with generic items.",
            json!({"description": description}),
            |a: &Vec<NewAsset>| check_assets(a),
        )
    }

    fn refine_assets(
        &self,
        description: &str,
        assets: Vec<NewAsset>,
    ) -> Result<StepOutput<Vec<NewAsset>>> {
        self.ask(
            Step::RefineAssets,
            "assets",
            &json!({"thought": "...", "assets": [example_asset()]}),
            "Refine the given assets: merge duplicates, drop weak ones, re-rate impact. Return the full final list.",
            json!({"description": description, "assets": assets}),
            |a: &Vec<NewAsset>| check_assets(a),
        )
    }

    fn generate_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewAttacker>>> {
        self.ask(
            Step::GenerateAttackers,
            "attackers",
            &json!({"thought": "...", "attackers": [example_attacker()]}),
            "List realistic attackers of this system. \"targets\" lists asset ids from the input (null = all assets); \"threatens\" lists the properties they threaten.",
            model_input(description, model, false),
            |a: &Vec<NewAttacker>| check_attackers(model, a),
        )
    }

    fn refine_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
        attackers: Vec<NewAttacker>,
    ) -> Result<StepOutput<Vec<NewAttacker>>> {
        let mut input = model_input(description, model, false);
        input["candidate_attackers"] = serde_json::to_value(&attackers).unwrap_or_default();
        self.ask(
            Step::RefineAttackers,
            "attackers",
            &json!({"thought": "...", "attackers": [example_attacker()]}),
            "Refine candidate_attackers: scope \"targets\" to the asset ids in their reach, re-rate likelihood, drop implausible ones. Return the full final list.",
            input,
            |a: &Vec<NewAttacker>| check_attackers(model, a),
        )
    }

    fn generate_matrix(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Matrix>> {
        let shape = json!({
            "thought": "...",
            "matrix": Matrix {
                trust_boundaries: vec![NewTrustBoundary {
                    name: "Internet / API".into(),
                    zones: vec!["internet".into(), "application".into()],
                    assets: ["A1".to_string()].into_iter().collect(),
                    crossing: vec!["HTTPS requests".into()],
                    rationale: "description: \"public REST API\"".into(),
                }],
                assumptions: vec![NewAssumption {
                    text: "TLS terminates at the load balancer".into(),
                    rationale: "not stated in the description".into(),
                }],
            }
        });
        self.ask(
            Step::GenerateMatrix,
            "matrix",
            &shape,
            "Give the trust boundaries (each with at least two zones; \"assets\" are asset ids from the input on the protected side) and the assumptions the model rests on.",
            model_input(description, model, true),
            |m: &Matrix| {
                for (i, b) in m.trust_boundaries.iter().enumerate() {
                    if b.name.trim().is_empty() {
                        return Err(format!("trust_boundaries[{i}] has an empty name"));
                    }
                    for a in &b.assets {
                        if !model.assets.iter().any(|x| &x.id == a) {
                            return Err(format!(
                                "trust_boundaries[{i}] names unknown asset id {a:?}"
                            ));
                        }
                    }
                }
                if m.assumptions.iter().any(|a| a.text.trim().is_empty()) {
                    return Err("an assumption has empty text".into());
                }
                Ok(())
            },
        )
    }

    fn generate_controls(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewControl>>> {
        let shape = json!({"thought": "...", "controls": [NewControl {
            catalog_key: None,
            name: "Parameterised queries".into(),
            description: "All database access uses bound parameters".into(),
            framework_refs: vec![FrameworkRef { framework: crate::domain::Framework::Cwe, id: "CWE-89".into() }],
            rationale: "description: \"Postgres\"".into(),
            mappings: vec![ControlMapping { co_id: "CO1".into(), group: "primary".into() }],
        }]});
        self.ask(
            Step::GenerateControls,
            "controls",
            &shape,
            "Give concrete controls for the control objectives. Each control maps to at least one control objective id from the input; controls with the same group label on one objective are all required together, different groups are alternatives.",
            model_input(description, model, true),
            |cs: &Vec<NewControl>| {
                if cs.is_empty() && !model.control_objectives.is_empty() {
                    return Err("\"controls\" is empty".into());
                }
                for (i, c) in cs.iter().enumerate() {
                    if c.name.trim().is_empty() || c.description.trim().is_empty() {
                        return Err(format!("controls[{i}] needs a name and a description"));
                    }
                    if c.mappings.is_empty() {
                        return Err(format!("controls[{i}] ({}) has no mappings", c.name));
                    }
                    for m in &c.mappings {
                        if !model.control_objectives.iter().any(|co| co.id == m.co_id) {
                            return Err(format!(
                                "controls[{i}] maps to unknown control objective {:?}",
                                m.co_id
                            ));
                        }
                    }
                }
                Ok(())
            },
        )
    }

    fn classify_intent(&self, message: &str, model: Option<&ThreatModel>) -> Result<Intent> {
        self.intent_or_builtin(message, model)
    }

    fn plan_refinement(
        &self,
        model: &ThreatModel,
        instruction: &str,
    ) -> Result<StepOutput<Refinement>> {
        self.plan_or_builtin(model, instruction)
    }

    fn answer_query(
        &self,
        model: &ThreatModel,
        verification: &VerificationMap,
        question: &str,
    ) -> Result<StepOutput<String>> {
        self.query_or_builtin(model, verification, question)
    }

    fn answer_general(&self, question: &str) -> Result<StepOutput<String>> {
        self.general_or_builtin(question)
    }
}

/// One user's LLM usage over a period (the spec's usage endpoint row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUsage {
    /// User id.
    pub user_id: String,
    /// Email (empty if the user was deleted).
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Operations (generation, refinement...) that called the LLM.
    pub traces: i64,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Total tokens.
    pub total_tokens: i64,
    /// Calls answered from the cache.
    pub cache_hits: i64,
    /// Estimated cost at the configured prices per 1k tokens (`llm.price_per_1k_*`), rounded
    /// to 1/10000 of the currency unit; 0 when no price is set.
    pub estimated_cost: f64,
}

/// What `GET /api/admin/usage` counts: records in `[from, to)` (timestamps in the `llm_*`
/// format), optionally of one user, one organization and one operation type or template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// First instant counted.
    pub from: Option<DateTime<Utc>>,
    /// First instant no longer counted.
    pub to: Option<DateTime<Utc>>,
    /// User id.
    pub user_id: Option<String>,
    /// Organization id.
    pub org_id: Option<String>,
    /// Operation type ([`OPERATIONS`]) or template ([`TEMPLATES`]).
    pub operation: Option<String>,
}

/// Prices per 1000 tokens for the cost estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prices {
    /// Per 1000 prompt tokens.
    pub prompt_per_1k: f64,
    /// Per 1000 completion tokens.
    pub completion_per_1k: f64,
}

impl Prices {
    /// The prices configured in `llm`.
    pub fn of(llm: &LlmConfig) -> Prices {
        Prices {
            prompt_per_1k: llm.price_per_1k_prompt_tokens,
            completion_per_1k: llm.price_per_1k_completion_tokens,
        }
    }

    /// Estimated cost of the tokens, rounded to 1/10000.
    pub fn cost(&self, prompt_tokens: i64, completion_tokens: i64) -> f64 {
        let raw = (prompt_tokens as f64) * self.prompt_per_1k / 1000.0
            + (completion_tokens as f64) * self.completion_per_1k / 1000.0;
        (raw * 10_000.0).round() / 10_000.0
    }
}

/// Per-user usage totals matching `filter`, most tokens first (for `GET /api/admin/usage`,
/// the CLI and the TUI).
pub fn usage_report(
    conn: &rusqlite::Connection,
    filter: &UsageFilter,
    prices: Prices,
) -> rusqlite::Result<Vec<UserUsage>> {
    let from = filter.from.map(ts);
    let to = filter.to.map(ts);
    let mut stmt = conn.prepare_cached(
        "SELECT u.user_id, COALESCE(us.email, ''), COALESCE(us.display_name, ''),
                COUNT(DISTINCT u.trace_id), SUM(u.prompt_tokens), SUM(u.completion_tokens),
                SUM(u.total_tokens), SUM(u.cache_hit)
         FROM llm_usage u LEFT JOIN users us ON us.id = u.user_id
         WHERE u.user_id IS NOT NULL
           AND (?1 IS NULL OR u.created_at >= ?1)
           AND (?2 IS NULL OR u.created_at < ?2)
           AND (?3 IS NULL OR u.user_id = ?3)
           AND (?4 IS NULL OR u.org_id = ?4)
           AND (?5 IS NULL OR u.operation = ?5 OR u.template = ?5)
         GROUP BY u.user_id
         ORDER BY SUM(u.total_tokens) DESC, u.user_id",
    )?;
    let rows = stmt.query_map(
        params![from, to, filter.user_id, filter.org_id, filter.operation],
        |r| {
            let prompt_tokens: i64 = r.get(4)?;
            let completion_tokens: i64 = r.get(5)?;
            Ok(UserUsage {
                user_id: r.get(0)?,
                email: r.get(1)?,
                display_name: r.get(2)?,
                traces: r.get(3)?,
                prompt_tokens,
                completion_tokens,
                total_tokens: r.get(6)?,
                cache_hits: r.get(7)?,
                estimated_cost: prices.cost(prompt_tokens, completion_tokens),
            })
        },
    )?;
    rows.collect()
}

/// Per-user usage totals of the last `days` days, most tokens first, without prices.
pub fn usage_by_user(conn: &rusqlite::Connection, days: u32) -> rusqlite::Result<Vec<UserUsage>> {
    let filter = UsageFilter {
        from: Some(Utc::now() - chrono::Duration::days(i64::from(days))),
        ..UsageFilter::default()
    };
    usage_report(conn, &filter, Prices::default())
}

/// The usage rows as CSV (RFC 4180: a header row, CRLF line ends, fields with commas, quotes
/// or line breaks quoted, quotes doubled). Text that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab or CR) is prefixed with `'`.
pub fn usage_csv(rows: &[UserUsage]) -> String {
    fn cell(s: &str) -> String {
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let mut out = String::from(
        "user_id,email,display_name,traces,prompt_tokens,completion_tokens,total_tokens,cache_hits,estimated_cost\r\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{:.4}\r\n",
            cell(&r.user_id),
            cell(&r.email),
            cell(&r.display_name),
            r.traces,
            r.prompt_tokens,
            r.completion_tokens,
            r.total_tokens,
            r.cache_hits,
            r.estimated_cost
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reply_accepts_fenced_json_and_rejects_garbage() {
        let text = "```json\n{\"thought\": \"t\", \"assets\": [{\"name\": \"DB\", \"properties\": [\"C\"], \"impact\": \"high\"}]}\n```";
        let (assets, thought) = parse_reply::<Vec<NewAsset>>(text, "assets").expect("parses");
        assert_eq!(thought, "t");
        assert_eq!(assets[0].name, "DB");
        assert_eq!(assets[0].impact, Level::High);
        assert!(parse_reply::<Vec<NewAsset>>("sorry, I can't", "assets").is_err());
        let wrong =
            "{\"assets\": [{\"name\": \"DB\", \"properties\": [\"X\"], \"impact\": \"high\"}]}";
        let err = parse_reply::<Vec<NewAsset>>(wrong, "assets").unwrap_err();
        assert!(err.contains("assets"), "{err}");
        assert!(check_assets(&[]).is_err());
    }

    #[test]
    fn usage_csv_quotes_and_defuses_formulas() {
        let row = UserUsage {
            user_id: "u1".into(),
            email: "a@example.com".into(),
            display_name: "=HYPERLINK(\"x\"), Bob".into(),
            traces: 2,
            prompt_tokens: 1500,
            completion_tokens: 500,
            total_tokens: 2000,
            cache_hits: 1,
            estimated_cost: Prices {
                prompt_per_1k: 0.5,
                completion_per_1k: 1.5,
            }
            .cost(1500, 500),
        };
        let csv = usage_csv(&[row]);
        let mut lines = csv.split("\r\n");
        assert_eq!(
            lines.next(),
            Some(
                "user_id,email,display_name,traces,prompt_tokens,completion_tokens,total_tokens,cache_hits,estimated_cost"
            )
        );
        assert_eq!(
            lines.next(),
            Some("u1,a@example.com,\"'=HYPERLINK(\"\"x\"\"), Bob\",2,1500,500,2000,1,1.5000")
        );
    }

    #[test]
    fn the_first_call_names_the_operation_of_its_trace() {
        with_user("u1", || {
            assert_eq!(trace_operation("suggest_title"), "generation");
            assert_eq!(trace_operation("generate_controls"), "generation");
        });
        with_user("u1", || {
            assert_eq!(trace_operation("generate_controls"), "controls");
        });
        assert_eq!(trace_operation("answer_query"), "query");
    }

    #[test]
    fn with_user_sets_and_restores_the_context() {
        assert!(current_context().is_none());
        let (outer, inner) = with_user("u1", || {
            let outer = current_context().expect("set");
            let inner = with_user("u2", || current_context().expect("set"));
            assert_eq!(current_context().expect("restored").user_id, "u1");
            (outer, inner)
        });
        assert_eq!(outer.user_id, "u1");
        assert_eq!(inner.user_id, "u2");
        assert_ne!(outer.trace_id, inner.trace_id);
        assert!(current_context().is_none());
    }
}
