//! `/api/systems`: named groups of threat models in the caller's workspace, the REST side
//! of the MCP tools `list_systems`, `get_system`, `create_system` and `add_model_to_system`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::auth::Caller;
use crate::models::systems;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/systems", web::get().to(list))
        .route("/api/systems", web::post().to(create))
        .route("/api/systems/{id}", web::get().to(get))
        .route("/api/systems/{id}/models", web::post().to(add_model));
}

async fn list(caller: Caller) -> Result<HttpResponse, ApiError> {
    let list = web::block(move || systems::list(&caller)).await??;
    Ok(HttpResponse::Ok().json(json!({"total": list.len(), "systems": list})))
}

async fn get(caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let system = web::block(move || systems::get(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(system))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSystem {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    model_ids: Vec<String>,
}

async fn create(caller: Caller, body: web::Json<NewSystem>) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let system =
        web::block(move || systems::create(&caller, &b.name, &b.description, &b.model_ids))
            .await??;
    Ok(HttpResponse::Created().json(system))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddModel {
    model_id: String,
}

async fn add_model(
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<AddModel>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let model_id = body.into_inner().model_id;
    let system = web::block(move || systems::add_model(&caller, &id, &model_id)).await??;
    Ok(HttpResponse::Ok().json(system))
}
