//! `/api` endpoints for threat models: list/get/rename/delete, assets and attackers, control
//! status and evidence, assessments, dashboard, activity and jobs. Shapes the published
//! `mipiti-verify` client reads (the bare model list, `GET /api/models/{id}`,
//! `GET /api/models/{id}/controls`) follow contracts/mipiti-verify-wire.md.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::domain::{
    AssetPatch, AssuranceFilter, AttackerPatch, ControlStatus, NewAsset, NewAttacker, NewEvidence,
};
use crate::models::{self, ListQuery, Source};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/models", web::get().to(list))
        .route("/api/models", web::post().to(create))
        .route("/api/models/{id}/steps", web::get().to(steps))
        .route("/api/jobs/{id}/events", web::get().to(job_events))
        .route("/api/models/{id}", web::get().to(get))
        .route("/api/models/{id}", web::patch().to(rename))
        .route("/api/models/{id}", web::delete().to(delete))
        .route("/api/models/{id}/badge", web::patch().to(badge))
        .route("/api/models/{id}/assets", web::post().to(add_asset))
        .route("/api/models/{id}/assets/{aid}", web::patch().to(edit_asset))
        .route(
            "/api/models/{id}/assets/{aid}",
            web::delete().to(remove_asset),
        )
        .route("/api/models/{id}/attackers", web::post().to(add_attacker))
        .route(
            "/api/models/{id}/attackers/{aid}",
            web::patch().to(edit_attacker),
        )
        .route(
            "/api/models/{id}/attackers/{aid}",
            web::delete().to(remove_attacker),
        )
        .route("/api/models/{id}/controls", web::get().to(controls))
        .route(
            "/api/models/{id}/controls/{cid}",
            web::patch().to(control_status),
        )
        .route(
            "/api/models/{id}/controls/{cid}/evidence",
            web::post().to(add_evidence),
        )
        .route(
            "/api/models/{id}/controls/{cid}/evidence/{eid}",
            web::delete().to(remove_evidence),
        )
        .route("/api/models/{id}/assess", web::get().to(assess))
        .route("/api/models/{id}/export", web::get().to(export))
        .route("/api/models/{id}/conversation", web::get().to(conversation))
        .route("/api/models/{id}/conversation", web::post().to(converse))
        .route("/api/models/{id}/refine", web::post().to(refine))
        .route("/api/models/{id}/query", web::post().to(query))
        .route(
            "/api/models/{id}/controls/regenerate",
            web::post().to(regenerate),
        )
        .route(
            "/api/models/{id}/controls/{cid}/refine",
            web::post().to(refine_control),
        )
        .route("/api/dashboard", web::get().to(dashboard))
        .route("/api/activity", web::get().to(activity))
        .route("/api/jobs/{id}", web::get().to(job));
}

type Data = web::Data<AppState>;

impl From<models::Error> for ApiError {
    fn from(err: models::Error) -> Self {
        match err {
            models::Error::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            models::Error::Domain(e) => domain_error(e),
            models::Error::Invalid { field, message } => ApiError {
                field: Some(field.clone()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            models::Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            models::Error::Engine(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "generation_failed", m)
            }
            models::Error::RateLimited(m) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m)
            }
            models::Error::CreditsExhausted(x) => ApiError::credits_exhausted(&x),
            models::Error::Store(e) => e.into(),
        }
    }
}

fn domain_error(e: crate::domain::DomainError) -> ApiError {
    use crate::domain::DomainError as D;
    let root = e.root();
    let status = if matches!(root, D::UnknownId { .. } | D::UnknownEvidence { .. }) {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    let code = if status == StatusCode::NOT_FOUND {
        "not_found"
    } else {
        "invalid_field"
    };
    let field = match root {
        D::Invalid { field, .. } => Some(field.clone()),
        _ => None,
    };
    ApiError {
        field,
        ..ApiError::new(status, code, e.to_string())
    }
}

/// The source of a REST call: the web app uses sessions, everything else keys.
pub(super) fn source_of(caller: &Caller) -> Source {
    match caller.via {
        crate::auth::Via::Session { .. } => Source::Web,
        crate::auth::Via::ApiKey { .. } => Source::Api,
    }
}

async fn list(
    state: Data,
    caller: Caller,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let page = web::block(move || svc.list(&caller, &q.into_inner())).await??;
    // The published verify client reads a bare array (wire contract E1).
    Ok(HttpResponse::Ok()
        .insert_header(("X-Total-Count", page.total.to_string()))
        .json(page.items))
}

#[derive(Deserialize)]
struct GetQuery {
    #[serde(default)]
    include_cos: Option<bool>,
}

async fn get(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<GetQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let include_cos = q.include_cos.unwrap_or(false);
    let body = web::block(move || svc.get_body(&caller, &id, include_cos)).await??;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    title: String,
}

async fn rename(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RenameRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let title = body.into_inner().title;
    let source = source_of(&caller);
    let stored = web::block(move || svc.rename(&caller, &id, &title, source)).await??;
    Ok(HttpResponse::Ok().json(json!({"id": stored.model.id, "title": stored.model.title, "version": stored.model.version})))
}

async fn delete(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let source = source_of(&caller);
    web::block(move || svc.delete(&caller, &id, source)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BadgeRequest {
    enabled: bool,
}

async fn badge(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<BadgeRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let enabled = body.enabled;
    let stored = web::block(move || svc.set_badge(&caller, &id, enabled)).await??;
    Ok(HttpResponse::Ok()
        .json(json!({"id": stored.model.id, "badge_enabled": stored.badge_enabled})))
}

/// Answers an entity change with the changed entity id and the model's new version.
fn changed(stored: &models::StoredModel, entity: &str, created: bool) -> HttpResponse {
    let body = json!({"id": entity, "model_id": stored.model.id, "version": stored.model.version});
    if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}

async fn add_asset(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewAsset>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let id = path.into_inner();
    let asset = body.into_inner();
    let (stored, aid) = web::block(move || svc.add_asset(&caller, &id, asset, source)).await??;
    Ok(changed(&stored, &aid, true))
}

async fn edit_asset(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<AssetPatch>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, aid) = path.into_inner();
    let patch = body.into_inner();
    let a = aid.clone();
    let stored = web::block(move || svc.edit_asset(&caller, &id, &a, patch, source)).await??;
    Ok(changed(&stored, &aid, false))
}

#[derive(Deserialize, Default)]
struct RemoveQuery {
    #[serde(default)]
    reason: Option<String>,
}

async fn remove_asset(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, aid) = path.into_inner();
    let reason = q
        .into_inner()
        .reason
        .unwrap_or_else(|| "removed by user".into());
    let a = aid.clone();
    let stored = web::block(move || svc.remove_asset(&caller, &id, &a, &reason, source)).await??;
    Ok(changed(&stored, &aid, false))
}

async fn add_attacker(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<NewAttacker>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let id = path.into_inner();
    let attacker = body.into_inner();
    let (stored, aid) =
        web::block(move || svc.add_attacker(&caller, &id, attacker, source)).await??;
    Ok(changed(&stored, &aid, true))
}

async fn edit_attacker(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<AttackerPatch>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, aid) = path.into_inner();
    let patch = body.into_inner();
    let a = aid.clone();
    let stored = web::block(move || svc.edit_attacker(&caller, &id, &a, patch, source)).await??;
    Ok(changed(&stored, &aid, false))
}

async fn remove_attacker(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<RemoveQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, aid) = path.into_inner();
    let reason = q
        .into_inner()
        .reason
        .unwrap_or_else(|| "removed by user".into());
    let a = aid.clone();
    let stored =
        web::block(move || svc.remove_attacker(&caller, &id, &a, &reason, source)).await??;
    Ok(changed(&stored, &aid, false))
}

#[derive(Deserialize)]
struct ControlsQuery {
    #[serde(default)]
    status: Option<ControlStatus>,
    #[serde(default)]
    co_id: Option<String>,
    #[serde(default)]
    control_id: Option<String>,
    #[serde(default)]
    component_id: Option<String>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn controls(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ControlsQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let (stored, verification) = web::block(move || {
        let s = svc.get(&caller, &id)?;
        let v = svc.verification(&caller, &id)?;
        Ok::<_, models::Error>((s, v))
    })
    .await??;
    let q = q.into_inner();
    let _ = &q.component_id; // components are not modelled yet: every control is returned
    let model = &stored.model;
    if let Some(cid) = &q.control_id
        && model.control(cid).is_none()
    {
        return Err(ApiError::not_found(format!("control {cid} not found")));
    }
    if let Some(co) = &q.co_id
        && model.objective(co).is_none()
    {
        return Err(ApiError::not_found(format!(
            "control objective {co} not found"
        )));
    }
    let matching: Vec<&crate::domain::Control> = model
        .controls
        .iter()
        .filter(|c| q.status.is_none_or(|s| c.status == s))
        .filter(|c| {
            q.control_id
                .as_deref()
                .is_none_or(|id| c.id.eq_ignore_ascii_case(id))
        })
        .filter(|c| {
            q.co_id.as_deref().is_none_or(|co| {
                model
                    .objectives_of_control(&c.id)
                    .iter()
                    .any(|o| o.id.eq_ignore_ascii_case(co))
            })
        })
        .collect();
    let total = matching.len();
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let items: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            if let Value::Object(m) = &mut v {
                m.insert(
                    "control_objectives".into(),
                    json!(
                        model
                            .objectives_of_control(&c.id)
                            .iter()
                            .map(|o| &o.id)
                            .collect::<Vec<_>>()
                    ),
                );
                m.insert(
                    "verification_status".into(),
                    json!(verification.get(&c.id).copied().unwrap_or_default()),
                );
            }
            v
        })
        .collect();
    let count = |s: ControlStatus| model.controls.iter().filter(|c| c.status == s).count();
    Ok(HttpResponse::Ok().json(json!({
        "model_id": model.id,
        "total": model.controls.len(),
        "implemented": count(ControlStatus::Implemented),
        "in_progress": count(ControlStatus::InProgress),
        "not_implemented": count(ControlStatus::NotImplemented),
        "not_applicable": count(ControlStatus::NotApplicable),
        "matching": total,
        "offset": offset,
        "limit": limit,
        "controls": items,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    status: ControlStatus,
    #[serde(default)]
    notes: Option<String>,
}

async fn control_status(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<StatusRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, cid) = path.into_inner();
    let b = body.into_inner();
    let svc = state.models.clone();
    let source = source_of(&caller);
    let stored = web::block(move || {
        svc.set_control_status(&caller, &id, &cid, b.status, b.notes.as_deref(), source)
            .map(|s| (s, cid))
    })
    .await??;
    let (stored, cid) = stored;
    Ok(HttpResponse::Ok()
        .json(json!({"id": cid, "model_id": stored.model.id, "version": stored.model.version})))
}

async fn add_evidence(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<NewEvidence>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, cid) = path.into_inner();
    let ev = body.into_inner();
    let (stored, eid) =
        web::block(move || svc.add_evidence(&caller, &id, &cid, ev, source)).await??;
    Ok(changed(&stored, &eid, true))
}

async fn remove_evidence(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let source = source_of(&caller);
    let (id, cid, eid) = path.into_inner();
    let e = eid.clone();
    let stored = web::block(move || svc.remove_evidence(&caller, &id, &cid, &e, source)).await??;
    Ok(changed(&stored, &eid, false))
}

#[derive(Deserialize)]
struct AssessQuery {
    #[serde(default)]
    status: Option<AssuranceFilter>,
    #[serde(default)]
    offset: Option<usize>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn assess(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<AssessQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let q = q.into_inner();
    let filter = q.status;
    let (summary, cos) = web::block(move || svc.assess(&caller, &id, filter)).await??;
    let mut body = json!({ "summary": summary });
    if filter.is_some() {
        let offset = q.offset.unwrap_or(0);
        let limit = q.limit.unwrap_or(100).clamp(1, 500);
        body["total"] = json!(cos.len());
        body["control_objectives"] =
            json!(cos.into_iter().skip(offset).take(limit).collect::<Vec<_>>());
    }
    Ok(HttpResponse::Ok().json(body))
}

async fn conversation(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let msgs = web::block(move || svc.conversation(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(msgs))
}

async fn dashboard(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let d = web::block(move || svc.dashboard(&caller)).await??;
    Ok(HttpResponse::Ok().json(d))
}

#[derive(Deserialize)]
struct ActivityQuery {
    #[serde(default)]
    limit: Option<u32>,
}

async fn activity(
    state: Data,
    caller: Caller,
    q: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let limit = q.limit.unwrap_or(50);
    let items = web::block(move || svc.activity(&caller, limit)).await??;
    Ok(HttpResponse::Ok().json(items))
}

async fn job(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    state
        .jobs
        .get(&id, &caller.workspace_id)
        .map(|s| HttpResponse::Ok().json(s))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "job {id} not found (jobs expire one hour after they finish)"
            ))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    /// The feature to model, in prose.
    #[serde(default)]
    feature_description: Option<String>,
    /// Or a Jira issue to model ("SEC-12"), read through the org's Jira integration.
    #[serde(default)]
    jira_issue: Option<String>,
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: Option<bool>,
}

/// What a model is generated from: a description, or a Jira issue read now.
enum Brief {
    Text(String),
    Jira(String),
}

/// `POST /api/models`: generate a model from `feature_description` or from `jira_issue`.
/// Returns `202 {job_id}` at once, or with `?wait=true` runs to completion and returns `201`
/// with the model. A Jira issue already modelled in the workspace answers `409
/// already_generated` with that model's id.
async fn create(
    state: Data,
    caller: Caller,
    q: web::Query<WaitQuery>,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let brief = match body.into_inner() {
        CreateRequest {
            feature_description: Some(d),
            jira_issue: None,
        } => Brief::Text(d),
        CreateRequest {
            feature_description: None,
            jira_issue: Some(k),
        } => Brief::Jira(k),
        _ => {
            return Err(ApiError {
                field: Some("feature_description".into()),
                ..ApiError::bad_request(
                    "give exactly one of feature_description (the feature in prose) or jira_issue (an issue key such as SEC-12)",
                )
            });
        }
    };
    let (description, origin) = match brief {
        Brief::Text(d) => (d, crate::models::Origin::from(source_of(&caller))),
        Brief::Jira(raw) => {
            let key = crate::integrations::jira::valid_issue_key(&raw).ok_or_else(|| ApiError {
                field: Some("jira_issue".into()),
                ..ApiError::bad_request(
                    "jira_issue: must be a Jira issue key such as SEC-12 (project key, dash, number)",
                )
            })?;
            let models = state.models.clone();
            let integrations = state.integrations.clone();
            let c = caller.clone();
            let found = web::block(move || -> Result<_, ApiError> {
                if let Some(id) = models.by_source_issue(&c, &key)? {
                    return Ok(Err((key, id)));
                }
                Ok(Ok(integrations.source_issue(&c, &key)?))
            })
            .await??;
            match found {
                Ok(issue) => (issue.brief(), crate::models::Origin::jira(&issue.key)),
                Err((key, id)) => {
                    return Ok(HttpResponse::Conflict().json(json!({
                        "error": {
                            "code": "already_generated",
                            "message": format!("a model was already generated from {key} in this workspace: {id}"),
                            "field": "jira_issue",
                        },
                        "model_id": id,
                    })));
                }
            }
        }
    };
    let svc = state.models.clone();
    let jobs = state.jobs.clone();
    let engine = state.engine.clone();
    if q.wait.unwrap_or(false) {
        let stored = web::block(move || {
            caller.require_write()?;
            crate::domain::validate_feature_description(&description)?;
            engine
                .check_credits(
                    &caller.user_id,
                    caller.org_id.as_deref(),
                    crate::credits::Operation::Generation,
                )
                .map_err(crate::models::Error::from)?;
            let job = jobs.create("generate_threat_model", &caller.workspace_id, 6)?;
            let stored = svc.generate(&caller, engine.as_ref(), &description, origin, &job);
            // The answer carries the model, never the job id: nobody can ask for this job.
            jobs.forget(job.id());
            stored
        })
        .await??;
        return Ok(HttpResponse::Created().json(stored));
    }
    let job =
        web::block(move || svc.start_generation(&caller, &jobs, engine, &description, origin))
            .await??;
    Ok(HttpResponse::Accepted().json(json!({ "job_id": job.id(), "status": "queued" })))
}

async fn steps(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let steps = web::block(move || svc.generation_steps(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(steps))
}

/// `GET /api/jobs/{id}/events`: the job's events as Server-Sent Events — the backlog first,
/// then live events until the job finishes.
async fn job_events(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<impl actix_web::Responder, ApiError> {
    use actix_web_lab::sse;
    let id = path.into_inner();
    let (snapshot, backlog, mut live) = state
        .jobs
        .subscribe(&id, &caller.workspace_id)
        .ok_or_else(|| ApiError::not_found(format!("job {id} not found")))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<sse::Event>(64);
    let to_sse = |e: &crate::jobs::Event| -> Option<sse::Event> {
        let name = match e {
            crate::jobs::Event::StepStart { .. } => "step_start",
            crate::jobs::Event::StepResult { .. } => "result",
            crate::jobs::Event::Error { .. } => "error",
            crate::jobs::Event::Done { .. } => "done",
        };
        sse::Data::new_json(e).ok().map(|d| d.event(name).into())
    };
    let finished = matches!(
        snapshot.status,
        crate::jobs::Status::Completed | crate::jobs::Status::Failed
    );
    actix_web::rt::spawn(async move {
        for e in &backlog {
            if let Some(ev) = to_sse(e)
                && tx.send(ev).await.is_err()
            {
                return;
            }
        }
        if finished {
            return;
        }
        while let Ok(e) = live.recv().await {
            let last = matches!(
                e,
                crate::jobs::Event::Done { .. } | crate::jobs::Event::Error { .. }
            );
            if let Some(ev) = to_sse(&e)
                && tx.send(ev).await.is_err()
            {
                return;
            }
            if last {
                return;
            }
        }
    });
    Ok(sse::Sse::from_infallible_receiver(rx).with_keep_alive(std::time::Duration::from_secs(15)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageRequest {
    message: String,
}

/// `POST /api/models/{id}/conversation`: one message of the conversation panel.
async fn converse(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let engine = state.engine.clone();
    let jobs = state.jobs.clone();
    let id = path.into_inner();
    let msg = body.into_inner().message;
    let source = source_of(&caller);
    let reply =
        web::block(move || svc.converse(&caller, engine, &jobs, &id, &msg, source)).await??;
    Ok(HttpResponse::Ok().json(reply))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstructionRequest {
    instruction: String,
}

async fn refine(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<InstructionRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let engine = state.engine.clone();
    let id = path.into_inner();
    let text = body.into_inner().instruction;
    let source = source_of(&caller);
    let (stored, r) =
        web::block(move || svc.refine(&caller, engine.as_ref(), &id, &text, source)).await??;
    Ok(HttpResponse::Ok().json(crate::models::conversation::refined_json(&stored, &r)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionRequest {
    question: String,
}

async fn query(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<QuestionRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let engine = state.engine.clone();
    let id = path.into_inner();
    let q = body.into_inner().question;
    let answer = web::block(move || svc.query(&caller, engine.as_ref(), &id, &q)).await??;
    Ok(HttpResponse::Ok().json(json!({"answer": answer})))
}

async fn regenerate(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let engine = state.engine.clone();
    let id = path.into_inner();
    let source = source_of(&caller);
    let (stored, change) =
        web::block(move || svc.regenerate_controls(&caller, engine.as_ref(), &id, source))
            .await??;
    Ok(HttpResponse::Ok().json(
        json!({"model_id": stored.model.id, "version": stored.model.version, "change": change}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefineControlRequest {
    description: String,
    justification: String,
}

async fn refine_control(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RefineControlRequest>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let (id, cid) = path.into_inner();
    let b = body.into_inner();
    let source = source_of(&caller);
    let out = web::block(move || {
        svc.refine_control(&caller, &id, &cid, &b.description, &b.justification, source)
    })
    .await??;
    Ok(HttpResponse::Ok().json(out))
}

impl From<crate::reports::Error> for ApiError {
    fn from(err: crate::reports::Error) -> Self {
        use crate::reports::Error as R;
        match err {
            R::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            R::Invalid { field, message } => ApiError {
                field: Some(field.clone()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            R::Render(m) => ApiError::internal(m),
            R::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    report: Option<String>,
    #[serde(default)]
    table: Option<String>,
}

/// The export as a download: its media type, and a Content-Disposition naming the model, what
/// was exported and the date. `no-store`: reports hold tenant data.
pub(super) fn download(out: crate::reports::Export) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(out.media_type)
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", out.filename),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(out.bytes)
}

async fn export(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let req = crate::reports::ExportRequest::parse(
        q.format.as_deref(),
        q.report.as_deref(),
        q.table.as_deref(),
    )?;
    let svc = state.exports.clone();
    let id = path.into_inner();
    let source = source_of(&caller);
    let out = web::block(move || svc.export(&caller, &id, req, source)).await??;
    Ok(download(out))
}
