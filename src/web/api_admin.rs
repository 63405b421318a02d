//! `/api/admin/*` and `/api/organizations`: signed backup download, restore upload, signing
//! key, trusted signers, license, maintenance, organizations and crypto-shred. Each handler
//! checks the role, then makes one [`AdminService`](crate::admin::AdminService) call.
//!
//! Platform administration needs a signed-in session (API keys act only inside their
//! workspace). Restoring a backup and adding or removing trusted signers are superadmin
//! operations (a restore replaces the users table; a trusted signer decides which backups a
//! restore accepts); restore re-checks the signed-in superadmin's own password, and both are
//! recorded in the audit log with the person's id.

use std::io::Write;

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::admin::{self, RestoreRequest, SuperadminPassword};
use crate::auth::Caller;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/backup", web::get().to(backup))
        .route("/api/admin/restore", web::post().to(restore))
        .route("/api/admin/signing-key", web::get().to(signing_key))
        .route("/api/admin/trusted-signers", web::get().to(list_signers))
        .route("/api/admin/trusted-signers", web::post().to(add_signer))
        .route(
            "/api/admin/trusted-signers/{fingerprint}",
            web::delete().to(remove_signer),
        )
        .route("/api/admin/license", web::get().to(license))
        .route("/api/admin/maintenance", web::get().to(maintenance))
        .route(
            "/api/admin/maintenance/enable",
            web::post().to(maintenance_enable),
        )
        .route(
            "/api/admin/maintenance/clear",
            web::post().to(maintenance_clear),
        )
        .route("/api/admin/events", web::get().to(events))
        .route("/api/admin/usage", web::get().to(usage))
        .route("/api/admin/cache/stats", web::get().to(cache_stats))
        .route("/api/admin/cache", web::delete().to(cache_clear))
        .route("/api/me/llm-cache", web::delete().to(own_cache_clear))
        .route("/api/admin/mail", web::get().to(mail))
        .route("/api/admin/mail/{id}/retry", web::post().to(mail_retry));
}

type Data = web::Data<AppState>;

impl From<admin::Error> for ApiError {
    fn from(err: admin::Error) -> Self {
        if let admin::Error::Store(e) = err {
            return e.into();
        }
        if let admin::Error::Io { source, .. } = &err
            && source.raw_os_error() == Some(28)
        {
            tracing::error!(error = %err, "data volume full");
            return ApiError::disk_full();
        }
        let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal(err);
        }
        ApiError::new(status, err.code(), err.to_string())
    }
}

fn require_session_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.scope().is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "administration needs a signed-in admin session, not an API key",
        ));
    }
    caller.require_admin()?;
    Ok(())
}

fn require_superadmin(caller: &Caller) -> Result<(), ApiError> {
    require_session_admin(caller)?;
    caller.require_superadmin()?;
    Ok(())
}

#[derive(Deserialize)]
struct OrgQuery {
    #[serde(default)]
    org_id: Option<String>,
}

/// `GET /api/admin/backup`: the signed backup as a download. Written to a private temp file
/// first (so a failure is a clean error, not a truncated download), then streamed.
async fn backup(
    state: Data,
    caller: Caller,
    q: web::Query<OrgQuery>,
) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let org = q.into_inner().org_id;
    if org.is_some() {
        require_superadmin(&caller)?;
    }
    let svc = state.admin.clone();
    let dir = state.config.data_dir.clone();
    let actor = caller.user_id.clone();
    let (path, summary) = web::block(move || {
        let tmp = tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(&dir)
            .map_err(|e| admin::Error::Io {
                path: dir.clone(),
                source: e,
            })?;
        let (file, path) = tmp.keep().map_err(|e| admin::Error::Io {
            path: dir.clone(),
            source: e.error,
        })?;
        let mut w = std::io::BufWriter::new(file);
        let result = match &org {
            Some(slug) => svc.backup_org_to_writer(&actor, slug, &mut w, &mut |_| {}),
            None => svc.backup_to_writer(&actor, &mut w, &mut |_| {}),
        };
        let flushed = w.flush().map_err(|e| admin::Error::Io {
            path: path.clone(),
            source: e,
        });
        match result.and_then(|s| flushed.map(|()| s)) {
            Ok(s) => Ok((path, s)),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    })
    .await??;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, std::io::Error>>(8);
    std::thread::spawn(move || {
        use std::io::Read;
        let sent = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::open(&path)?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                if tx
                    .blocking_send(Ok(web::Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    return Ok(());
                }
            }
        })();
        if let Err(e) = sent {
            let _ = tx.blocking_send(Err(e));
        }
        let _ = std::fs::remove_file(&path);
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}\"",
                admin::backup::backup_filename(chrono::Utc::now())
            ),
        ))
        .insert_header(("X-Backup-Signer", summary.signer_fingerprint.clone()))
        .no_chunking(size)
        .streaming(stream))
}

/// `POST /api/admin/restore`: multipart with `confirmation`, `password`, `backup_file`
/// (and `org_id` for one organization). Superadmins only, with their own password. Verified
/// before anything changes.
async fn restore(
    state: Data,
    caller: Caller,
    mut form: Multipart,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let max = state.config.limits.upload_body_bytes;
    let mut confirmation = String::new();
    let mut password = None;
    let mut org_id = None;
    let mut upload: Option<tempfile::NamedTempFile> = None;
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|e| ApiError::bad_request(format!("invalid multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        if name == "backup_file" {
            let dir = state.config.data_dir.clone();
            let mut file =
                web::block(move || tempfile::Builder::new().prefix(".upload-").tempfile_in(dir))
                    .await?
                    .map_err(ApiError::internal)?;
            let mut written: u64 = 0;
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("upload interrupted: {e}")))?;
                written += chunk.len() as u64;
                if written > max {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!("backup file is larger than the limit of {max} bytes"),
                    ));
                }
                file = web::block(move || file.write_all(&chunk).map(|()| file))
                    .await?
                    .map_err(ApiError::internal)?;
            }
            upload = Some(file);
        } else {
            let mut text = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::bad_request(format!("invalid form field: {e}")))?;
                if text.len() + chunk.len() > 4096 {
                    return Err(ApiError::bad_request(format!(
                        "form field {name} is too long"
                    )));
                }
                text.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(text)
                .map_err(|_| ApiError::bad_request(format!("form field {name} is not UTF-8")))?;
            match name.as_str() {
                "confirmation" => confirmation = text,
                "password" => password = Some(text),
                "org_id" => org_id = Some(text).filter(|s| !s.is_empty()),
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unexpected form field {other:?}"
                    )));
                }
            }
        }
    }
    let upload = upload.ok_or_else(|| ApiError::bad_request("backup_file is missing"))?;
    let svc = state.admin.clone();
    let check = SuperadminPassword {
        auth: state.auth.clone(),
        user_id: caller.user_id.clone(),
    };
    let request = RestoreRequest {
        confirmation,
        password,
        actor: caller.user_id.clone(),
        note: format!("{} via api", caller.email),
    };
    let summary = web::block(move || {
        let mut reader =
            std::io::BufReader::new(upload.reopen().map_err(|e| admin::Error::Io {
                path: upload.path().to_path_buf(),
                source: e,
            })?);
        svc.restore_from_reader(
            org_id.as_deref(),
            &mut reader,
            max,
            &request,
            &check,
            &mut |_| {},
        )
    })
    .await??;
    Ok(HttpResponse::Ok().json(summary))
}

async fn signing_key(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    Ok(HttpResponse::Ok().json(state.admin.signing_key()))
}

async fn list_signers(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let svc = state.admin.clone();
    let list = web::block(move || svc.list_trusted_signers()).await??;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSigner {
    public_key_pem: String,
    label: String,
}

/// `POST /api/admin/trusted-signers`: superadmins only (a trusted signer's backups can be
/// restored here).
async fn add_signer(
    state: Data,
    caller: Caller,
    body: web::Json<NewSigner>,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let b = body.into_inner();
    let signer =
        web::block(move || svc.add_trusted_signer(&caller.user_id, &b.label, &b.public_key_pem))
            .await??;
    Ok(HttpResponse::Created().json(signer))
}

/// `DELETE /api/admin/trusted-signers/{fingerprint}`: superadmins only.
async fn remove_signer(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let fp = path.into_inner();
    web::block(move || svc.remove_trusted_signer(&caller.user_id, &fp)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn license(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let svc = state.admin.clone();
    let status = web::block(move || svc.license_status()).await?;
    Ok(HttpResponse::Ok().json(status))
}

async fn maintenance(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let s = web::block(move || svc.maintenance_status()).await??;
    Ok(HttpResponse::Ok().json(s))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

async fn maintenance_enable(
    state: Data,
    caller: Caller,
    body: web::Json<Reason>,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let reason = body.into_inner().reason;
    let (s, _alert) =
        web::block(move || svc.enable_maintenance(&caller.user_id, &reason)).await??;
    state.maintenance.invalidate();
    Ok(HttpResponse::Ok().json(s))
}

async fn maintenance_clear(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let s = web::block(move || svc.clear_maintenance(&caller.user_id)).await??;
    state.maintenance.invalidate();
    Ok(HttpResponse::Ok().json(s))
}

async fn events(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let svc = state.admin.clone();
    let list = web::block(move || svc.recent_events(100)).await??;
    Ok(HttpResponse::Ok().json(list))
}

fn invalid_field(field: &str, message: String) -> ApiError {
    ApiError {
        field: Some(field.into()),
        ..ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {message}"),
        )
    }
}

/// The usage endpoint's query, checked: the filter, the `days` it answers with (`None` for a
/// date range) and whether CSV was asked for.
struct UsageRequest {
    filter: crate::engine::llm::UsageFilter,
    days: Option<u32>,
    range: (Option<String>, Option<String>),
    csv: bool,
}

fn parse_day(field: &str, value: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| invalid_field(field, format!("expected a date YYYY-MM-DD, got {value:?}")))
}

/// Checks the usage query and resolves `user` (id or email) and `org` (id or slug) against
/// the platform database.
fn usage_request(
    conn: &rusqlite::Connection,
    q: &std::collections::HashMap<String, String>,
) -> Result<UsageRequest, ApiError> {
    use crate::engine::llm::{OPERATIONS, TEMPLATES, UsageFilter};
    use rusqlite::OptionalExtension as _;
    for key in q.keys() {
        if !["days", "from", "to", "user", "org", "operation", "format"].contains(&key.as_str()) {
            return Err(invalid_field(
                key,
                "unknown filter; use days, from, to, user, org, operation or format".into(),
            ));
        }
    }
    let mut filter = UsageFilter::default();
    let from = q.get("from").map(|v| parse_day("from", v)).transpose()?;
    let to = q.get("to").map(|v| parse_day("to", v)).transpose()?;
    let days = match q.get("days") {
        Some(_) if from.is_some() || to.is_some() => {
            return Err(invalid_field(
                "days",
                "give either days or a from/to date range, not both".into(),
            ));
        }
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    invalid_field("days", "expected a number of days from 1 to 3650".into())
                })?,
        ),
        None if from.is_some() || to.is_some() => None,
        None => Some(30),
    };
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return Err(invalid_field("to", format!("{t} is before from ({f})")));
    }
    let midnight = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    if let Some(d) = days {
        filter.from = Some(chrono::Utc::now() - chrono::Duration::days(i64::from(d)));
    }
    filter.from = filter.from.or(from.map(midnight));
    // `to` is inclusive: the whole day counts.
    filter.to = to.and_then(|t| t.succ_opt()).map(midnight);
    if let Some(user) = q.get("user").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM users WHERE id = ?1 OR email = ?1 COLLATE NOCASE",
                [user],
                |r| r.get(0),
            )
            .optional()
            .map_err(ApiError::internal)?;
        filter.user_id =
            Some(id.ok_or_else(|| invalid_field("user", format!("no user {user:?}")))?);
    }
    if let Some(org) = q.get("org").map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM orgs WHERE id = ?1 OR slug = ?1",
                [org],
                |r| r.get(0),
            )
            .optional()
            .map_err(ApiError::internal)?;
        filter.org_id =
            Some(id.ok_or_else(|| invalid_field("org", format!("no organization {org:?}")))?);
    }
    if let Some(op) = q
        .get("operation")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        if !OPERATIONS.contains(&op) && !TEMPLATES.contains(&op) {
            return Err(invalid_field(
                "operation",
                format!(
                    "expected an operation type ({}) or a step ({}), got {op:?}",
                    OPERATIONS.join(", "),
                    TEMPLATES.join(", ")
                ),
            ));
        }
        filter.operation = Some(op.to_string());
    }
    let csv = match q.get("format").map(|s| s.trim()) {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(invalid_field(
                "format",
                format!("expected json or csv, got {other:?}"),
            ));
        }
    };
    Ok(UsageRequest {
        filter,
        days,
        range: (from.map(|d| d.to_string()), to.map(|d| d.to_string())),
        csv,
    })
}

/// `GET /api/admin/usage`: per-user LLM token usage with an estimated cost (admin session).
/// Filters: `days` (default 30) or a `from`/`to` date range (inclusive UTC days), `user`
/// (id or email), `org` (id or slug), `operation` (operation type or step); `format=csv`
/// downloads the same rows as CSV.
async fn usage(
    state: Data,
    caller: Caller,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let enabled = state.config.telemetry.enabled;
    let prices = crate::engine::llm::Prices::of(&state.config.llm);
    let currency = state.config.llm.price_currency.clone();
    let db = state.db.clone();
    let q = q.into_inner();
    let (req, users) = web::block(move || {
        let conn = db.conn().map_err(ApiError::internal)?;
        let req = usage_request(&conn, &q)?;
        let users = if enabled {
            crate::engine::llm::usage_report(&conn, &req.filter, prices)
                .map_err(ApiError::internal)?
        } else {
            Vec::new()
        };
        Ok::<_, ApiError>((req, users))
    })
    .await
    .map_err(ApiError::internal)??;
    if req.csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8; header=present")
            .insert_header((
                "Content-Disposition",
                format!(
                    "attachment; filename=\"rampart-usage-{}.csv\"",
                    chrono::Utc::now().format("%Y%m%d-%H%M%S")
                ),
            ))
            .body(crate::engine::llm::usage_csv(&users)));
    }
    let mut body = json!({ "enabled": enabled, "days": req.days, "users": users });
    if req.days.is_none() {
        body["from"] = json!(req.range.0);
        body["to"] = json!(req.range.1);
    }
    if enabled {
        body["prices"] = json!({
            "prompt_per_1k_tokens": prices.prompt_per_1k,
            "completion_per_1k_tokens": prices.completion_per_1k,
            "currency": currency,
        });
        body["estimated_cost"] = json!(
            (users.iter().map(|u| u.estimated_cost).sum::<f64>() * 10_000.0).round() / 10_000.0
        );
    }
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheQuery {
    user: Option<String>,
}

/// A cache call's `user` that names nobody is a 400 on the `user` field.
fn cache_error(e: admin::Error) -> ApiError {
    match e {
        admin::Error::Invalid(m) if m.starts_with("user:") => ApiError {
            field: Some("user".into()),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", m)
        },
        other => other.into(),
    }
}

/// `GET /api/admin/cache/stats[?user=]`: entries, approximate size and hit rate of the LLM
/// response cache, for one user (id or email) or everyone (admin session).
async fn cache_stats(
    state: Data,
    caller: Caller,
    q: web::Query<CacheQuery>,
) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let svc = state.admin.clone();
    let user = q.into_inner().user.filter(|u| !u.trim().is_empty());
    let stats = web::block(move || svc.cache_stats(user.as_deref()))
        .await?
        .map_err(cache_error)?;
    Ok(HttpResponse::Ok().json(stats))
}

/// `DELETE /api/admin/cache[?user=]`: removes one user's cached LLM answers, or everyone's
/// (superadmin session; audit event `admin.llm_cache_clear`).
async fn cache_clear(
    state: Data,
    caller: Caller,
    q: web::Query<CacheQuery>,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let svc = state.admin.clone();
    let user = q.into_inner().user.filter(|u| !u.trim().is_empty());
    let cleared = web::block(move || svc.clear_cache(&caller.user_id, user.as_deref()))
        .await?
        .map_err(cache_error)?;
    Ok(HttpResponse::Ok().json(cleared))
}

/// `DELETE /api/me/llm-cache`: the signed-in user removes their own cached LLM answers in
/// every workspace (session only; audit event `llm_cache.clear_own`). The next identical
/// request asks the LLM again.
async fn own_cache_clear(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    if caller.scope().is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "clearing your LLM cache needs a signed-in session, not an API key",
        ));
    }
    let svc = state.admin.clone();
    let cleared = web::block(move || svc.clear_own_cache(&caller.user_id)).await??;
    Ok(HttpResponse::Ok().json(cleared))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MailQuery {
    status: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/admin/mail?status=failed|pending|sent`: the outgoing mail queue, newest first,
/// with counts (admin session). Bodies are never shown.
async fn mail(
    state: Data,
    caller: Caller,
    q: web::Query<MailQuery>,
) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let q = q.into_inner();
    if let Some(s) = &q.status
        && !["pending", "sent", "failed"].contains(&s.as_str())
    {
        return Err(ApiError {
            field: Some("status".into()),
            ..ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "status: expected pending, sent or failed",
            )
        });
    }
    let outbox = state.outbox.clone();
    let configured = outbox.enabled();
    let (stats, items) = web::block(move || {
        Ok::<_, crate::store::Error>((
            outbox.stats()?,
            outbox.list(q.status.as_deref(), q.limit.unwrap_or(100))?,
        ))
    })
    .await??;
    Ok(HttpResponse::Ok()
        .json(json!({"smtp_configured": configured, "stats": stats, "messages": items})))
}

/// `POST /api/admin/mail/{id}/retry`: puts a failed message back in the queue with a fresh
/// attempt budget (admin session).
async fn mail_retry(
    state: Data,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_session_admin(&caller)?;
    let outbox = state.outbox.clone();
    let id = path.into_inner();
    let queued = web::block(move || outbox.retry(id, Some(&caller.user_id))).await??;
    if !queued {
        return Err(ApiError::not_found("message not found (or already sent)"));
    }
    Ok(HttpResponse::Ok().json(json!({"queued": true, "id": id})))
}
