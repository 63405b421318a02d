//! Operational endpoints: `/health` (the process answers), `/ready` (the database is open and
//! migrated), `/metrics` (Prometheus text), and the JSON 404 for unknown paths.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::{ApiError, AppState};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    let version = web::block(move || {
        db.ping()?;
        db.schema_version()
    })
    .await?
    .map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("database not available")
    })?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "schema_version": version})))
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

pub(super) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}
