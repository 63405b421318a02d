//! `/api` endpoints for compliance frameworks (paths fixed in DESIGN.md "HTTP surface"):
//! the catalogs (`/api/compliance/frameworks…`) and, per model, framework selection,
//! auto-mapping, manual mappings, the report (JSON, or CSV with `format=csv`), and gap
//! remediation (a job) with its apply step. Every handler extracts, calls one
//! [`crate::compliance::ComplianceService`] method and responds.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::compliance::{SelectionInput, report};
use crate::models::{self, Source};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/compliance/frameworks", web::get().to(frameworks))
        .route(
            "/api/compliance/frameworks/{fw}/requirements",
            web::get().to(requirements),
        )
        .route(
            "/api/models/{id}/compliance/frameworks",
            web::get().to(selections),
        )
        .route(
            "/api/models/{id}/compliance/frameworks",
            web::put().to(select),
        )
        .route("/api/models/{id}/compliance/report", web::get().to(report))
        .route(
            "/api/models/{id}/compliance/auto-map",
            web::post().to(auto_map),
        )
        .route(
            "/api/models/{id}/compliance/mappings",
            web::get().to(mappings),
        )
        .route("/api/models/{id}/compliance/mappings", web::post().to(map))
        .route(
            "/api/models/{id}/compliance/mappings",
            web::delete().to(unmap),
        )
        .route(
            "/api/models/{id}/compliance/exclusions",
            web::get().to(exclusions),
        )
        .route(
            "/api/models/{id}/compliance/exclusions",
            web::put().to(exclude),
        )
        .route(
            "/api/models/{id}/compliance/exclusions",
            web::delete().to(include),
        )
        .route(
            "/api/models/{id}/compliance/remediation",
            web::post().to(remediation),
        )
        .route(
            "/api/models/{id}/compliance/remediation/apply",
            web::post().to(apply),
        )
        .route(
            "/api/models/{id}/compliance/remediation/{rid}",
            web::get().to(get_remediation),
        );
}

type Data = web::Data<AppState>;

fn source_of(caller: &Caller) -> Source {
    match caller.via {
        crate::auth::Via::Session { .. } => Source::Web,
        crate::auth::Via::ApiKey { .. } => Source::Api,
    }
}

/// `GET /api/compliance/frameworks`: the catalogs (ids, versions, profiles, groups, counts).
async fn frameworks(state: Data, _caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.compliance.frameworks()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementsQuery {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /api/compliance/frameworks/{fw}/requirements`: requirement ids, titles, levels and
/// crosswalk references; filters `group`, `profile`; paged with `offset`/`limit`.
async fn requirements(
    state: Data,
    _caller: Caller,
    path: web::Path<String>,
    q: web::Query<RequirementsQuery>,
) -> Result<HttpResponse, ApiError> {
    let fw = state
        .compliance
        .framework(&path.into_inner())
        .map_err(ApiError::from)?;
    let profile = match q.profile.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(fw.profile(p).ok_or_else(|| {
            ApiError::from(models::Error::Invalid {
                field: "profile".into(),
                message: format!("unknown profile {p:?} of {}", fw.id),
            })
        })?),
        None => None,
    };
    let items: Vec<_> = fw
        .requirements
        .iter()
        .filter(|r| {
            q.group
                .as_deref()
                .is_none_or(|g| r.group.eq_ignore_ascii_case(g.trim()))
        })
        .filter(|r| profile.is_none_or(|p| r.level.is_some_and(|l| l <= p.rank)))
        .collect();
    let total = items.len();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(500).clamp(1, 1000);
    let page: Vec<_> = items.into_iter().skip(offset).take(limit).collect();
    Ok(HttpResponse::Ok().json(json!({
        "framework_id": fw.id, "total": total, "offset": offset, "limit": limit, "requirements": page,
    })))
}

async fn selections(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let sel = web::block(move || svc.selections(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(json!({ "frameworks": sel })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectRequest {
    framework_ids: Vec<SelectionInput>,
}

/// `PUT /api/models/{id}/compliance/frameworks {framework_ids}`: replaces the selection
/// (`"owasp-asvs-5:L2"` or `{framework_id, profile}` items) and auto-maps new frameworks.
async fn select(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<SelectRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let inputs = body.into_inner().framework_ids;
    let (sel, summary) = web::block(move || svc.select(&caller, &id, &inputs)).await??;
    Ok(HttpResponse::Ok().json(json!({ "frameworks": sel, "auto_map": summary })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    framework: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    requirement_id: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// `GET /api/models/{id}/compliance/report?framework=&status=`: the report of a selected
/// framework; `format=csv` answers `text/csv` for auditors.
async fn report(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(models::Error::Invalid {
                field: "format".into(),
                message: format!("unknown format {other:?} (json or csv)"),
            }
            .into());
        }
    };
    let fw = q.framework.clone();
    let mut rep = web::block(move || svc.report(&caller, &id, &fw)).await??;
    report::filter(
        &mut rep,
        q.status.as_deref(),
        q.group.as_deref(),
        q.requirement_id.as_deref(),
    )?;
    if csv {
        let name = format!(
            "compliance-{}-{}.csv",
            rep.framework_id,
            short(&rep.model_id)
        );
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"{name}\""),
            ))
            .body(report::csv(&rep)));
    }
    Ok(HttpResponse::Ok().json(rep))
}

/// First 8 characters of an id, for file names.
fn short(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(8)
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AutoMapRequest {
    #[serde(default)]
    framework_id: Option<String>,
}

/// `POST /api/models/{id}/compliance/auto-map {framework_id?}`.
async fn auto_map(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: Option<web::Json<AutoMapRequest>>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let fw = body
        .map(|b| b.into_inner())
        .unwrap_or_default()
        .framework_id;
    let summary = web::block(move || svc.auto_map(&caller, &id, fw.as_deref())).await??;
    Ok(HttpResponse::Ok().json(summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingsQuery {
    #[serde(default)]
    framework: Option<String>,
}

async fn mappings(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<MappingsQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let fw = q.into_inner().framework;
    let list = web::block(move || svc.mappings(&caller, &id, fw.as_deref())).await??;
    Ok(HttpResponse::Ok().json(json!({ "total": list.len(), "mappings": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingRequest {
    control_id: String,
    framework_id: String,
    requirement_id: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/models/{id}/compliance/mappings`: a manual mapping (201).
async fn map(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MappingRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let m = web::block(move || {
        svc.map(
            &caller,
            &id,
            &b.control_id,
            &b.framework_id,
            &b.requirement_id,
            b.reason.as_deref(),
        )
    })
    .await??;
    Ok(HttpResponse::Created().json(m))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmapRequest {
    control_id: String,
    framework_id: String,
    requirement_id: String,
}

/// `DELETE /api/models/{id}/compliance/mappings {control_id, framework_id, requirement_id}`.
async fn unmap(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UnmapRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    web::block(move || {
        svc.unmap(
            &caller,
            &id,
            &b.control_id,
            &b.framework_id,
            &b.requirement_id,
        )
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExclusionsQuery {
    framework: String,
}

/// `GET /api/models/{id}/compliance/exclusions?framework=`: the requirements declared not
/// applicable, with who and why.
async fn exclusions(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ExclusionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let fw = q.into_inner().framework;
    let list = web::block(move || svc.exclusions(&caller, &id, &fw)).await??;
    Ok(HttpResponse::Ok().json(json!({ "total": list.len(), "exclusions": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExcludeRequest {
    framework_id: String,
    requirement_id: String,
    #[serde(default)]
    reason: String,
}

/// `PUT /api/models/{id}/compliance/exclusions {framework_id, requirement_id, reason}`:
/// declares a requirement not applicable (the reason is required).
async fn exclude(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ExcludeRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let e = web::block(move || {
        svc.exclude(&caller, &id, &b.framework_id, &b.requirement_id, &b.reason)
    })
    .await??;
    Ok(HttpResponse::Ok().json(e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IncludeRequest {
    framework_id: String,
    requirement_id: String,
}

/// `DELETE /api/models/{id}/compliance/exclusions {framework_id, requirement_id}`: the
/// requirement applies again.
async fn include(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<IncludeRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    web::block(move || svc.include(&caller, &id, &b.framework_id, &b.requirement_id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RemediationRequest {
    framework_id: String,
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: Option<bool>,
}

/// `POST /api/models/{id}/compliance/remediation {framework_id}`: plans remediation of the
/// uncovered requirements as a job (`202 {job_id}`), or with `?wait=true` answers `201`
/// with the stored remediation.
async fn remediation(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<WaitQuery>,
    body: web::Json<RemediationRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let jobs = state.jobs.clone();
    let id = path.into_inner();
    let fw = body.into_inner().framework_id;
    if q.wait.unwrap_or(false) {
        let rem = web::block(move || svc.suggest(&caller, &id, &fw, None)).await??;
        return Ok(HttpResponse::Created().json(rem));
    }
    let job = web::block(move || svc.start_remediation(&caller, &jobs, &id, &fw)).await??;
    Ok(HttpResponse::Accepted().json(json!({ "job_id": job.id(), "status": "queued" })))
}

async fn get_remediation(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let (id, rid) = path.into_inner();
    let rem = web::block(move || svc.remediation(&caller, &id, &rid)).await??;
    Ok(HttpResponse::Ok().json(rem))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyRequest {
    remediation_id: String,
    suggestion_ids: Vec<String>,
}

/// `POST /api/models/{id}/compliance/remediation/apply {remediation_id, suggestion_ids}`.
async fn apply(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ApplyRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.compliance.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let source = source_of(&caller);
    let out =
        web::block(move || svc.apply(&caller, &id, &b.remediation_id, &b.suggestion_ids, source))
            .await??;
    Ok(HttpResponse::Ok().json(out))
}
