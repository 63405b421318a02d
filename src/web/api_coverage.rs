//! `/api` endpoints for how a model's controls cover its objectives: the objectives
//! themselves (paged), the gaps, and controls imported from an existing catalogue. They
//! answer from the same domain rules as the MCP tools `get_control_objectives`,
//! `check_control_gaps` and `import_controls`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::domain::{self, ImportedControl};
use crate::models::Source;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/models/{id}/control-objectives",
        web::get().to(objectives),
    )
    .route("/api/models/{id}/gaps", web::get().to(gaps))
    .route("/api/models/{id}/controls/import", web::post().to(import));
}

/// Offset paging, as in the MCP tool (objectives are part of one document, not a table).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

async fn objectives(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(crate::models::Error::Invalid {
            field: "limit".into(),
            message: "between 1 and 500".into(),
        }
        .into());
    }
    let offset = q.offset.unwrap_or(0) as usize;
    let svc = state.models.clone();
    let id = path.into_inner();
    let stored = web::block(move || svc.get(&caller, &id)).await??;
    let cos = &stored.model.control_objectives;
    Ok(HttpResponse::Ok().json(json!({
        "model_id": stored.model.id,
        "total": cos.len(),
        "offset": offset,
        "limit": limit,
        "control_objectives": cos.iter().skip(offset).take(limit as usize).collect::<Vec<_>>(),
    })))
}

async fn gaps(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.models.clone();
    let id = path.into_inner();
    let stored = web::block(move || svc.get(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(domain::control_gaps(&stored.model)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    controls: Vec<ImportedControl>,
}

async fn import(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ImportRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = super::api_models::source_of(&caller);
    let rationale = match source {
        Source::Web => "imported in the web app",
        _ => "imported via the API",
    };
    let controls = domain::imported_controls("controls", body.into_inner().controls, rationale)
        .map_err(crate::models::Error::from)?;
    let svc = state.models.clone();
    let id = path.into_inner();
    let (stored, change) =
        web::block(move || svc.import_controls(&caller, &id, controls, source)).await??;
    Ok(HttpResponse::Ok().json(json!({
        "model_id": stored.model.id,
        "version": stored.model.version,
        "added": change.added,
        "kept": change.kept,
        "removed": change.removed,
        "controls": stored.model.controls.len(),
    })))
}
