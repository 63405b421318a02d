//! Jira and Confluence over REST: org settings (`/api/organizations/{org}/integrations/…`,
//! org admins and superadmins, signed-in sessions), a model's integrations, "Export to Jira"
//! and "Sync to Confluence" (`/api/models/{id}/…`, members; viewers read), and Jira's
//! webhook (`/api/integrations/jira/webhook/{org}`, authenticated by the org's secret).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::integrations::settings::{AuthInput, ConfluenceInput, JiraInput, Kind};
use crate::integrations::{self, Error};

type Data = web::Data<AppState>;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/api/organizations/{org}/integrations/jira",
        web::get().to(get_jira),
    )
    .route(
        "/api/organizations/{org}/integrations/jira",
        web::put().to(put_jira),
    )
    .route(
        "/api/organizations/{org}/integrations/jira",
        web::delete().to(delete_jira),
    )
    .route(
        "/api/organizations/{org}/integrations/jira/test",
        web::post().to(test_jira),
    )
    .route(
        "/api/organizations/{org}/integrations/jira/account",
        web::get().to(get_jira_account),
    )
    .route(
        "/api/organizations/{org}/integrations/jira/account",
        web::put().to(put_jira_account),
    )
    .route(
        "/api/organizations/{org}/integrations/jira/account",
        web::delete().to(delete_jira_account),
    )
    .route(
        "/api/organizations/{org}/integrations/confluence",
        web::get().to(get_confluence),
    )
    .route(
        "/api/organizations/{org}/integrations/confluence",
        web::put().to(put_confluence),
    )
    .route(
        "/api/organizations/{org}/integrations/confluence",
        web::delete().to(delete_confluence),
    )
    .route(
        "/api/organizations/{org}/integrations/confluence/test",
        web::post().to(test_confluence),
    )
    .route(
        "/api/models/{id}/integrations",
        web::get().to(model_integrations),
    )
    .route("/api/models/{id}/jira/export", web::post().to(export_jira))
    .route(
        "/api/models/{id}/confluence/sync",
        web::post().to(sync_confluence),
    )
    .route(
        "/api/integrations/jira/webhook/{org}",
        web::post().to(jira_webhook),
    );
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            Error::Invalid { field, message } => ApiError {
                field: Some(field.to_string()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            Error::Unavailable(m) => {
                ApiError::new(StatusCode::CONFLICT, "integration_unavailable", m)
            }
            Error::Upstream {
                product, message, ..
            } => ApiError::new(
                StatusCode::BAD_GATEWAY,
                if product == "Jira" {
                    "jira_error"
                } else {
                    "confluence_error"
                },
                message,
            ),
            Error::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m),
            Error::Gone(m) => ApiError::new(StatusCode::GONE, "gone", m),
            Error::Store(s) => s.into(),
            Error::Internal(m) => ApiError::internal(m),
        }
    }
}

async fn get_jira(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let v = web::block(move || svc.jira_settings(&caller, &org)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn put_jira(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<JiraInput>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let input = body.into_inner();
    let v = web::block(move || svc.put_jira(&caller, &org, &input)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn delete_jira(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    web::block(move || svc.delete_settings(&caller, &org, Kind::Jira)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn test_jira(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let v = web::block(move || svc.test_jira(&caller, &org)).await??;
    Ok(HttpResponse::Ok().json(v))
}

/// `PUT …/jira/account`: a member's own Atlassian account for the org's Jira site.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountInput {
    auth: AuthInput,
}

async fn get_jira_account(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let v = web::block(move || svc.jira_account(&caller, &org)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn put_jira_account(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<AccountInput>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let input = body.into_inner();
    let v = web::block(move || svc.connect_jira_account(&caller, &org, &input.auth)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn delete_jira_account(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    web::block(move || svc.disconnect_jira_account(&caller, &org)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn get_confluence(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let v = web::block(move || svc.confluence_settings(&caller, &org)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn put_confluence(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<ConfluenceInput>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let input = body.into_inner();
    let v = web::block(move || svc.put_confluence(&caller, &org, &input)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn delete_confluence(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    web::block(move || svc.delete_settings(&caller, &org, Kind::Confluence)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn test_confluence(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let v = web::block(move || svc.test_confluence(&caller, &org)).await??;
    Ok(HttpResponse::Ok().json(v))
}

async fn model_integrations(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let id = path.into_inner();
    let v = web::block(move || svc.model_status(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(v))
}

/// 200 with what was done, or 202 when Jira could not be reached and the export is queued
/// (retried with backoff; the model's integrations show the error).
fn outcome(o: integrations::RunOutcome) -> HttpResponse {
    if o.status == "done" {
        HttpResponse::Ok().json(o)
    } else {
        HttpResponse::Accepted().json(o)
    }
}

async fn export_jira(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let id = path.into_inner();
    let o = web::block(move || svc.export_jira(&caller, &id)).await??;
    Ok(outcome(o))
}

async fn sync_confluence(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let id = path.into_inner();
    let o = web::block(move || svc.sync_confluence(&caller, &id)).await??;
    Ok(outcome(o))
}

#[derive(Deserialize)]
struct WebhookQuery {
    token: Option<String>,
}

async fn jira_webhook(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    q: web::Query<WebhookQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let svc = state.integrations.clone();
    let org = path.into_inner();
    let token = q.into_inner().token;
    let signature = req
        .headers()
        .get("X-Hub-Signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let v =
        web::block(move || svc.jira_webhook(&org, token.as_deref(), signature.as_deref(), &body))
            .await??;
    Ok(HttpResponse::Ok().json(v))
}
