//! `/api` endpoints of assurance: assertions, the CI verification protocol (paths and shapes
//! of contracts/mipiti-verify-wire.md), report, runs and audit bundles, review queue,
//! findings, scan prompt, workspace attestation settings, and the public badge.

use std::sync::Mutex;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{FromRequest as _, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ttl_cache::TtlCache;
use super::{ApiError, AppState};
use crate::assurance::attestation::SecurityPatch;
use crate::assurance::findings::{NewFinding, Transition};
use crate::assurance::paging::{MAX_LIMIT, PageQuery, Paged};
use crate::assurance::runs::Submitter;
use crate::assurance::{self, NewAssertion};
use crate::auth::Caller;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/models/{id}/assertions",
        web::post().to(submit_assertions),
    )
    .route(
        "/api/models/{id}/assertions",
        web::get().to(list_assertions),
    )
    .route(
        "/api/models/{id}/assertions/{aid}",
        web::delete().to(delete_assertion),
    )
    .route(
        "/api/models/{id}/verification/assertions",
        web::get().to(ci_assertions),
    )
    .route(
        "/api/models/{id}/verification/pending",
        web::get().to(ci_pending),
    )
    .service(
        web::resource("/api/models/{id}/verification/results")
            .app_data(web::PayloadConfig::default().limit(16 * 1024 * 1024))
            .route(web::post().to(submit_results)),
    )
    .route(
        "/api/models/{id}/verification/report",
        web::get().to(report),
    )
    .route("/api/models/{id}/verification/runs", web::get().to(runs))
    .route(
        "/api/models/{id}/verification/runs/{run}/audit",
        web::get().to(audit),
    )
    .route("/api/models/{id}/review-queue", web::get().to(review_queue))
    .route("/api/models/{id}/scan-prompt", web::get().to(scan_prompt))
    .route("/api/models/{id}/findings", web::post().to(submit_findings))
    .route("/api/models/{id}/findings", web::get().to(list_findings))
    .route(
        "/api/models/{id}/findings/summary",
        web::get().to(findings_summary),
    )
    .route(
        "/api/models/{id}/findings/{fid}",
        web::get().to(get_finding),
    )
    .route(
        "/api/models/{id}/findings/{fid}",
        web::patch().to(transition_finding),
    )
    .route(
        "/api/models/{id}/findings/{fid}",
        web::delete().to(delete_finding),
    )
    .route("/api/workspaces/{ws}/security", web::get().to(security))
    .route(
        "/api/workspaces/{ws}/security",
        web::patch().to(update_security),
    )
    .route("/api/workspaces/{ws}/ci-key", web::post().to(upload_key))
    .route("/api/badge/{id}", web::get().to(badge));
}

type Data = web::Data<AppState>;

impl From<assurance::Error> for ApiError {
    fn from(err: assurance::Error) -> Self {
        match err {
            assurance::Error::NotFound(w) => ApiError::not_found(format!("{w} not found")),
            assurance::Error::Invalid { field, message } => ApiError {
                field: Some(field.clone()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            assurance::Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            assurance::Error::Attestation(m) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "attestation_failed", m)
            }
            assurance::Error::Store(e) => e.into(),
        }
    }
}

fn source_of(caller: &Caller) -> crate::models::Source {
    match caller.via {
        crate::auth::Via::Session { .. } => crate::models::Source::Web,
        crate::auth::Via::ApiKey { .. } => crate::models::Source::Api,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitAssertions {
    control_id: String,
    #[serde(alias = "assertions_json")]
    assertions: AssertionList,
}

/// Agents sometimes send the list as a JSON string (the MCP parameter is `assertions_json`).
#[derive(Deserialize)]
#[serde(untagged)]
enum AssertionList {
    List(Vec<NewAssertion>),
    Text(String),
}

async fn submit_assertions(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<SubmitAssertions>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let items = match b.assertions {
        AssertionList::List(l) => l,
        AssertionList::Text(t) => serde_json::from_str(&t).map_err(|e| ApiError {
            field: Some("assertions".into()),
            ..ApiError::bad_request(format!("assertions: not a JSON array of assertions: {e}"))
        })?,
    };
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let source = source_of(&caller);
    let out =
        web::block(move || svc.submit_assertions(&caller, &id, &b.control_id, &items, source))
            .await??;
    Ok(HttpResponse::Created().json(out))
}

#[derive(Deserialize)]
struct ControlFilter {
    #[serde(default)]
    control_id: Option<String>,
}

/// Filters and paging of the assertion and finding lists.
#[derive(Deserialize)]
struct ListFilter {
    #[serde(default)]
    control_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Parsed here, so that a non-number gets the same clear error as one out of range.
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

impl ListFilter {
    fn page(&self) -> Result<PageQuery, ApiError> {
        let limit = match self.limit.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(l) => Some(l.parse::<u32>().map_err(|_| {
                ApiError::from(assurance::invalid(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT} (got {l:?})"),
                ))
            })?),
        };
        Ok(PageQuery {
            limit,
            cursor: self.cursor.clone(),
        })
    }

    /// The URL of the next page: the same path and filters with the next cursor.
    fn next_link(&self, path: &str, limit: u32, cursor: Option<&str>) -> Option<String> {
        let cursor = cursor?;
        let mut q: Vec<(&str, String)> = Vec::new();
        if let Some(c) = &self.control_id {
            q.push(("control_id", c.clone()));
        }
        if let Some(s) = &self.status {
            q.push(("status", s.clone()));
        }
        q.push(("limit", limit.to_string()));
        q.push(("cursor", cursor.to_string()));
        Some(format!(
            "{path}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        ))
    }

    /// The JSON of a page: the list under `key` (as before paging) with `total` (all
    /// matches), `limit`, `next_cursor` and `next` beside it.
    fn body<T: serde::Serialize>(&self, req: &HttpRequest, key: &str, p: Paged<T>) -> Value {
        let next = self.next_link(req.path(), p.limit, p.next_cursor.as_deref());
        json!({
            "total": p.total,
            "limit": p.limit,
            "next_cursor": p.next_cursor,
            "next": next,
            key: p.items,
        })
    }
}

async fn list_assertions(
    req: HttpRequest,
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ListFilter>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let (control, page) = (q.control_id.clone(), q.page()?);
    let p = web::block(move || svc.list_assertions_page(&caller, &id, control.as_deref(), &page))
        .await??;
    Ok(HttpResponse::Ok().json(q.body(&req, "assertions", p)))
}

async fn delete_assertion(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let (id, aid) = path.into_inner();
    web::block(move || svc.delete_assertion(&caller, &id, &aid)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
struct CiQuery {
    #[serde(default)]
    repo: Option<String>,
    #[serde(default)]
    tier: Option<u8>,
    #[serde(default)]
    stale_after: Option<u64>,
}

async fn ci_assertions(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<CiQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let out = web::block(move || svc.ci_assertions(&caller, &id, q.repo.as_deref(), None, None))
        .await??;
    Ok(HttpResponse::Ok().json(out))
}

async fn ci_pending(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<CiQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let tier = q.tier.unwrap_or(1);
    if tier != 1 && tier != 2 {
        return Err(ApiError::bad_request("tier must be 1 or 2"));
    }
    let out = web::block(move || {
        svc.ci_assertions(&caller, &id, q.repo.as_deref(), Some(tier), q.stale_after)
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

/// E5. Authenticated by `X-API-Key` (verifier keys; developer keys are refused), a session,
/// or — the spec's manual flow — `Authorization: Bearer <ES256 JWT>` signed by the
/// workspace's CI key.
async fn submit_results(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let bearer = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let submitter = match (req.headers().contains_key("X-API-Key"), bearer) {
        // OAuth access tokens are callers like keys; other bearers are the CI key's JWT.
        (false, Some(token)) if !token.starts_with(crate::auth::oauth_flow::ACCESS_PREFIX) => {
            let tenants = state.admin.tenants().clone();
            let (workspace_id, tenant) = web::block(move || {
                // The token names its workspace; its CI key lives with the workspace's data.
                let ws = assurance::attestation::bearer_subject(&token)?;
                let tenant = tenants.workspace_db(&ws).map_err(|_| {
                    assurance::Error::Attestation(
                        "invalid bearer token: workspace has no CI key".into(),
                    )
                })?;
                let ws = assurance::attestation::verify_bearer(&*tenant.conn()?, &token)?;
                Ok::<_, assurance::Error>((ws, tenant))
            })
            .await??;
            Submitter::WorkspaceKey {
                workspace_id,
                tenant,
            }
        }
        _ => Submitter::Caller(Caller::extract(&req).await?),
    };
    let ci_token = req
        .headers()
        .get("X-CI-Attestation")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let out = web::block(move || svc.submit_results(&submitter, &id, &body, ci_token.as_deref()))
        .await??;
    Ok(HttpResponse::Ok().json(out))
}

async fn report(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let out = web::block(move || svc.report(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(out))
}

/// Runs, newest first, one page: a bare array as before paging, with `X-Total-Count`,
/// `X-Next-Cursor` and a `Link: <…>; rel="next"` header when there are more.
async fn runs(
    req: HttpRequest,
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ListFilter>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    // Runs have no filters; only the paging parameters carry over to the next link.
    let q = ListFilter {
        control_id: None,
        status: None,
        ..q.into_inner()
    };
    let page = q.page()?;
    let p = web::block(move || svc.list_runs(&caller, &id, &page)).await??;
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("X-Total-Count", p.total.to_string()));
    if let Some(next) = q.next_link(req.path(), p.limit, p.next_cursor.as_deref()) {
        resp.insert_header(("Link", format!("<{next}>; rel=\"next\"")));
        resp.insert_header(("X-Next-Cursor", p.next_cursor.unwrap_or_default()));
    }
    Ok(resp.json(p.items))
}

async fn audit(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let (id, run) = path.into_inner();
    let out = web::block(move || svc.audit_bundle(&caller, &id, &run)).await??;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-{}.json\"", out.run_id),
        ))
        .json(out))
}

#[derive(Deserialize)]
struct QueueQuery {
    #[serde(default)]
    stale_after_hours: Option<u64>,
}

async fn review_queue(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let hours = q.stale_after_hours.unwrap_or(168);
    let out = web::block(move || svc.review_queue(&caller, &id, hours)).await??;
    Ok(HttpResponse::Ok().json(json!({"total": out.len(), "controls": out})))
}

async fn scan_prompt(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ControlFilter>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let control = q.into_inner().control_id;
    let prompt = web::block(move || svc.scan_prompt(&caller, &id, control.as_deref())).await??;
    Ok(HttpResponse::Ok().json(json!({"prompt": prompt})))
}

/// Accepts `{findings: [...]}`, a bare array, or a single finding object.
#[derive(Deserialize)]
#[serde(untagged)]
enum FindingsBody {
    Wrapped { findings: Vec<NewFinding> },
    List(Vec<NewFinding>),
    One(Box<NewFinding>),
}

async fn submit_findings(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let parsed: FindingsBody = serde_json::from_value(body.into_inner()).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"findings\": [...]}} with title, severity, ...: {e}"
        ))
    })?;
    let items = match parsed {
        FindingsBody::Wrapped { findings } | FindingsBody::List(findings) => findings,
        FindingsBody::One(f) => vec![*f],
    };
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let out = web::block(move || svc.submit_findings(&caller, &id, &items)).await??;
    Ok(HttpResponse::Created().json(json!({"findings": out})))
}

async fn list_findings(
    req: HttpRequest,
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ListFilter>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let (control, status, page) = (q.control_id.clone(), q.status.clone(), q.page()?);
    let p = web::block(move || {
        svc.list_findings_page(&caller, &id, control.as_deref(), status.as_deref(), &page)
    })
    .await??;
    Ok(HttpResponse::Ok().json(q.body(&req, "findings", p)))
}

async fn findings_summary(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let id = path.into_inner();
    let out = web::block(move || svc.findings_summary(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(out))
}

async fn get_finding(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let (id, fid) = path.into_inner();
    let out = web::block(move || svc.get_finding(&caller, &id, &fid)).await??;
    Ok(HttpResponse::Ok().json(out))
}

async fn transition_finding(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<Transition>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let (id, fid) = path.into_inner();
    let t = body.into_inner();
    let out = web::block(move || svc.transition_finding(&caller, &id, &fid, &t)).await??;
    Ok(HttpResponse::Ok().json(out))
}

async fn delete_finding(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let (id, fid) = path.into_inner();
    web::block(move || svc.delete_finding(&caller, &id, &fid)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn security(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.assurance.clone();
    let auth = state.auth.clone();
    let ws = path.into_inner();
    let out = web::block(move || {
        let caller = auth.in_workspace(&caller, &ws)?;
        Ok::<_, ApiError>(svc.security(&caller, &ws)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

/// Splits the re-entered credential (`password` or `totp_code`) off a JSON body and parses
/// the rest as `T` (whose unknown fields are refused).
fn with_credential<T: serde::de::DeserializeOwned>(
    body: Value,
) -> Result<(T, crate::auth::reauth::Credential), ApiError> {
    let mut raw = body;
    let cred = crate::auth::reauth::Credential::take_from(&mut raw);
    let parsed =
        serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    Ok((parsed, cred))
}

/// `PATCH /api/workspaces/{ws}/security`: session of a workspace owner/admin plus
/// `password` (or `totp_code`) in the body; API keys are refused.
async fn update_security(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (patch, cred) = with_credential::<SecurityPatch>(body.into_inner())?;
    let (auth, svc) = (state.auth.clone(), state.assurance.clone());
    let ws = path.into_inner();
    let out = web::block(move || -> Result<_, ApiError> {
        let caller = auth.in_workspace(&caller, &ws)?;
        let proof = auth.reauthenticate(&caller, &cred)?;
        Ok(svc.update_security(&caller, &ws, &patch, &proof)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyUpload {
    public_key_pem: String,
}

/// `POST /api/workspaces/{ws}/ci-key`: same rule as the policy (session, owner/admin,
/// credential re-entered).
async fn upload_key(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (upload, cred) = with_credential::<KeyUpload>(body.into_inner())?;
    let (auth, svc) = (state.auth.clone(), state.assurance.clone());
    let ws = path.into_inner();
    let out = web::block(move || -> Result<_, ApiError> {
        let caller = auth.in_workspace(&caller, &ws)?;
        let proof = auth.reauthenticate(&caller, &cred)?;
        Ok(svc.upload_ci_key(&caller, &ws, &upload.public_key_pem, &proof)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

/// Badge answers are cached for five minutes per model id, at most [`BADGE_CACHE_ENTRIES`]
/// of them: the endpoint is public and the id comes from the client.
static BADGE_CACHE: Mutex<Option<TtlCache<Value>>> = Mutex::new(None);
const BADGE_TTL: Duration = Duration::from_secs(300);
/// Most badge answers kept (a few hundred bytes each).
const BADGE_CACHE_ENTRIES: usize = 10_000;

/// `GET /api/badge/{model_id}`: unauthenticated Shields.io endpoint JSON. Unknown models and
/// models without the badge enabled get the same "unknown" answer.
async fn badge(
    state: Data,
    path: web::Path<String>,
    q: web::Query<BadgeQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    // Bounded so a client cannot grow cache keys without limit; longer is never a framework.
    let framework = q
        .into_inner()
        .framework
        .map(|f| f.trim().to_ascii_lowercase())
        .filter(|f| !f.is_empty() && f.len() <= 64);
    let cache_key = match &framework {
        Some(f) => format!("{id}?framework={f}"),
        None => id.clone(),
    };
    let cached = BADGE_CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|c| c.get(&cache_key));
    let body = match cached {
        Some(v) => v,
        None => {
            let key = id.clone();
            let v = match framework {
                None => {
                    let svc = state.models.clone();
                    web::block(move || svc.badge(&key))
                        .await?
                        .unwrap_or_else(|_| unknown_badge())
                }
                Some(f) => {
                    let svc = state.compliance.clone();
                    web::block(move || svc.badge(&key, &f))
                        .await?
                        .unwrap_or_else(|_| unknown_badge())
                }
            };
            BADGE_CACHE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| TtlCache::new(BADGE_TTL, BADGE_CACHE_ENTRIES))
                .insert(cache_key, v.clone());
            v
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(body))
}

/// `?framework=ID` of the badge: the compliance badge of that framework instead.
#[derive(Deserialize)]
struct BadgeQuery {
    #[serde(default)]
    framework: Option<String>,
}

fn unknown_badge() -> Value {
    json!({"schemaVersion": 1, "label": "threat model", "message": "unknown", "color": "lightgrey"})
}
