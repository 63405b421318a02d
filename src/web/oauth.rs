//! OAuth 2.1 over HTTP (issue 24): discovery documents, client registration, and the
//! `WWW-Authenticate` challenge that starts an MCP client's authorization flow.
//!
//! - `/.well-known/oauth-protected-resource` (RFC 9728): the appliance as a protected
//!   resource (`/api` and `/mcp`); `/.well-known/oauth-protected-resource/mcp`: the MCP
//!   endpoint alone, for clients that look up the path-suffixed document first.
//! - `/.well-known/oauth-authorization-server` (RFC 8414): the appliance as its own
//!   authorization server.
//! - `POST /oauth/register` (RFC 7591).
//!
//! OAuth endpoints answer errors in the OAuth shape (`{"error", "error_description"}`,
//! `Cache-Control: no-store`); the REST API keeps its own.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::auth::oauth::{OAuthError, SCOPES};

type Data = web::Data<AppState>;

/// Path of the Protected Resource Metadata of the whole appliance.
pub const PRM_PATH: &str = "/.well-known/oauth-protected-resource";
/// Path of the Authorization Server Metadata.
pub const ASM_PATH: &str = "/.well-known/oauth-authorization-server";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PRM_PATH, web::get().to(resource_metadata))
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            web::get().to(mcp_resource_metadata),
        )
        .route(ASM_PATH, web::get().to(server_metadata))
        .route("/oauth/register", web::post().to(register))
        .route(
            "/oauth/register",
            web::method(actix_web::http::Method::OPTIONS).to(preflight),
        );
}

/// The base URL every OAuth identifier is built from: the configured public URL, else the
/// bound address. It is the issuer and the resource of `/api`.
pub fn base(state: &AppState) -> String {
    state.config.public_url(Some(state.bound))
}

/// A JSON answer of the OAuth endpoints: not cached, readable by browser-based clients (no
/// credentials are involved in these requests, so any origin may read them).
fn oauth_json(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(body)
}

/// An [`OAuthError`] as an HTTP response.
pub fn oauth_error(e: &OAuthError) -> HttpResponse {
    oauth_json(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        e.body(),
    )
}

/// CORS preflight of the OAuth endpoints (browser-based clients such as MCP Inspector).
pub(super) async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Authorization, MCP-Protocol-Version",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .finish()
}

fn prm(state: &AppState, resource: String) -> HttpResponse {
    let base = base(state);
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .json(json!({
            "resource": resource,
            "authorization_servers": [base],
            "scopes_supported": SCOPES,
            "bearer_methods_supported": ["header"],
            "resource_name": "rampart",
            "resource_documentation": format!("{base}/settings/api-keys"),
        }))
}

/// RFC 9728 metadata of the appliance (`/api` and `/mcp`).
async fn resource_metadata(state: Data) -> HttpResponse {
    let resource = base(&state);
    prm(&state, resource)
}

/// RFC 9728 metadata of the MCP endpoint alone.
async fn mcp_resource_metadata(state: Data) -> HttpResponse {
    let resource = format!("{}/mcp", base(&state));
    prm(&state, resource)
}

/// RFC 8414 metadata of the authorization server.
async fn server_metadata(state: Data) -> HttpResponse {
    let base = base(&state);
    HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .json(json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "registration_endpoint": format!("{base}/oauth/register"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES,
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": state.config.oauth.client_metadata_documents != "off",
            "service_documentation": format!("{base}/settings/api-keys"),
        }))
}

/// `POST /oauth/register`: Dynamic Client Registration (RFC 7591), public clients only.
async fn register(req: HttpRequest, state: Data, body: web::Bytes) -> HttpResponse {
    let json_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json_type {
        return oauth_error(&OAuthError::metadata(
            "send the client metadata as JSON (Content-Type: application/json)",
        ));
    }
    let ip = super::caller::client_info(&req).ip;
    let auth = state.auth.clone();
    match web::block(move || auth.oauth_register(&body, &ip)).await {
        Ok(Ok(meta)) => oauth_json(StatusCode::CREATED, meta),
        Ok(Err(e)) => oauth_error(&e),
        Err(_) => oauth_error(&OAuthError::new(
            503,
            "temporarily_unavailable",
            "server busy; retry",
        )),
    }
}

/// Whether the request carried `Authorization: Bearer …`.
fn has_bearer(req: &actix_web::HttpRequest) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "))
}

/// The `WWW-Authenticate` value of a 401 from `/api` or `/mcp`: where the protected
/// resource metadata is (RFC 9728 §5.1), and `error="invalid_token"` when a bearer token
/// was sent and refused (RFC 6750 §3.1).
pub fn challenge(base: &str, invalid_token: bool) -> String {
    let meta = format!("{base}{PRM_PATH}");
    if invalid_token {
        format!(
            "Bearer error=\"invalid_token\", error_description=\"the access token is invalid, expired, revoked or not for this resource\", resource_metadata=\"{meta}\""
        )
    } else {
        format!("Bearer resource_metadata=\"{meta}\"")
    }
}

/// Middleware: every `401` under `/api` and `/mcp` carries the bearer challenge, so an MCP
/// client that connects without credentials finds the authorization server. Bodies are
/// untouched (the REST and MCP clients keep reading the same JSON).
pub async fn challenge_401(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let protected = path.starts_with("/api/") || path == "/mcp" || path.starts_with("/mcp/");
    let bearer = has_bearer(req.request());
    let base = req.app_data::<Data>().map(|s| base(s));
    let mut res = next.call(req).await?;
    if protected
        && res.status() == StatusCode::UNAUTHORIZED
        && !res.headers().contains_key(header::WWW_AUTHENTICATE)
        && let Some(base) = base
        && let Ok(v) = HeaderValue::from_str(&challenge(&base, bearer))
    {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_values() {
        assert_eq!(
            challenge("https://r.example", false),
            "Bearer resource_metadata=\"https://r.example/.well-known/oauth-protected-resource\""
        );
        let bad = challenge("https://r.example", true);
        assert!(bad.starts_with("Bearer error=\"invalid_token\""), "{bad}");
        assert!(bad.ends_with(
            "resource_metadata=\"https://r.example/.well-known/oauth-protected-resource\""
        ));
    }
}
