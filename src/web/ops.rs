//! Operational endpoints: `/health` (the process answers), `/ready` (the database is open and
//! migrated), `/metrics` (Prometheus text; opt-in or token-protected, see
//! [`crate::config::MetricsConfig`]), and the JSON 404 for unknown paths.

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
    if state.drain.is_draining() {
        return Err(super::drain::shutting_down());
    }
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

/// `/metrics`: 404 unless `metrics.enabled` or `metrics.token` is set; with a token, only
/// to `Authorization: Bearer <token>` (compared in constant time).
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.config.metrics_served() {
        return not_found(req).await;
    }
    let token = state.config.metrics.token.expose();
    if !token.is_empty() {
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        if !crate::auth::secrets::ct_eq(given, token) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "metrics need Authorization: Bearer <metrics.token>",
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render()))
}

pub(super) async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no such endpoint: {} {}",
        req.method(),
        req.path()
    )))
}
