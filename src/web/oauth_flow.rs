//! The authorization code flow over HTTP (issue 24): the consent page at
//! `/oauth/authorize` (a signed-in web app page: the session exists only after the second
//! factor, and the form carries the session's CSRF token), `POST /oauth/token` and
//! `POST /oauth/revoke`. Rules live in [`crate::auth::oauth_flow`].

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AppState;
use super::oauth::{base, oauth_error};
use super::pages::page::{error_page, render_status};
use super::pages::{Layout, Nav, Page, PageError, PageForm};
use crate::auth::oauth::OAuthError;
use crate::auth::oauth_flow::{
    AuthorizeError, AuthorizeParams, RevokeForm, TokenForm, ValidRequest, error_redirect,
    redirect_with,
};
use crate::auth::{self, Scope};
use crate::tenancy::workspaces::WorkspaceInfo;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    let options = || web::method(actix_web::http::Method::OPTIONS);
    cfg.route("/oauth/authorize", web::get().to(authorize_page))
        .route("/oauth/authorize", web::post().to(authorize_submit))
        .route("/oauth/token", web::post().to(token))
        .route("/oauth/token", options().to(super::oauth::preflight))
        .route("/oauth/revoke", web::post().to(revoke))
        .route("/oauth/revoke", options().to(super::oauth::preflight))
        .route("/api/oauth/grants", web::get().to(list_grants))
        .route("/api/oauth/grants/{id}", web::delete().to(revoke_grant))
        .route("/api/admin/oauth/clients", web::get().to(list_clients))
        .route(
            "/api/admin/oauth/clients/{id}",
            web::delete().to(revoke_client),
        );
}

/// `GET /api/oauth/grants`: the caller's authorized applications.
async fn list_grants(state: Data, caller: auth::Caller) -> Result<HttpResponse, super::ApiError> {
    let auth = state.auth.clone();
    let apps = web::block(move || auth.oauth_list_grants(&caller)).await??;
    Ok(HttpResponse::Ok().json(apps))
}

/// `DELETE /api/oauth/grants/{id}`: revokes one of them (every token of it).
async fn revoke_grant(
    state: Data,
    caller: auth::Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, super::ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    web::block(move || auth.oauth_revoke_grant(&caller, &id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Platform administration needs a signed-in superadmin, never a key or a token.
fn require_admin_session(caller: &auth::Caller) -> Result<(), super::ApiError> {
    if caller.scope().is_some() {
        return Err(super::ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "forbidden",
            "administration needs a signed-in admin session, not an API key or token",
        ));
    }
    Ok(())
}

/// `GET /api/admin/oauth/clients`: every registered client (superadmins).
async fn list_clients(state: Data, caller: auth::Caller) -> Result<HttpResponse, super::ApiError> {
    require_admin_session(&caller)?;
    let auth = state.auth.clone();
    let clients = web::block(move || auth.oauth_list_clients(&caller)).await??;
    Ok(HttpResponse::Ok().json(clients))
}

/// `DELETE /api/admin/oauth/clients/{id}`: shuts a client out (its grants and tokens end).
async fn revoke_client(
    state: Data,
    caller: auth::Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, super::ApiError> {
    require_admin_session(&caller)?;
    let auth = state.auth.clone();
    let id = path.into_inner();
    web::block(move || auth.oauth_revoke_client(&caller, &id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Template)]
#[template(path = "oauth_consent.html")]
struct ConsentTpl {
    l: Layout,
    client_name: String,
    client_id: String,
    redirect_host: String,
    workspaces: Vec<WorkspaceInfo>,
    selected_workspace: String,
    selected_scope: &'static str,
    error: Option<String>,
    p: AuthorizeParams,
    resource: String,
}

impl ConsentTpl {
    /// The caller may grant the verifier scope in at least one workspace.
    fn manages_any(&self) -> bool {
        self.workspaces.iter().any(|w| w.role.can_manage())
    }

    fn state(&self) -> &str {
        self.p.state.as_deref().unwrap_or_default()
    }

    fn scope_param(&self) -> &str {
        self.p.scope.as_deref().unwrap_or_default()
    }

    fn resource_param(&self) -> &str {
        self.p.resource.as_deref().unwrap_or_default()
    }
}

/// `host[:port]` of an http(s) redirect URI, `scheme://host` of an application's own
/// scheme: shown so the user sees where the code goes.
fn redirect_host(uri: &str) -> String {
    let Ok(u) = reqwest::Url::parse(uri) else {
        return uri.to_string();
    };
    let host = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        (None, _) => String::new(),
    };
    if matches!(u.scheme(), "http" | "https") {
        host
    } else {
        format!("{}://{host}", u.scheme())
    }
}

/// What the consent form's `form-action` must allow besides 'self': browsers apply it to
/// the redirect that follows the submission too. The origin of an http(s) redirect URI, the
/// scheme of an application's own one.
fn redirect_source(uri: &str) -> Option<String> {
    let u = reqwest::Url::parse(uri).ok()?;
    if matches!(u.scheme(), "http" | "https") {
        let origin = u.origin().ascii_serialization();
        (origin != "null").then_some(origin)
    } else {
        Some(format!("{}:", u.scheme()))
    }
}

fn consent_page(
    p: &Page,
    v: &ValidRequest,
    params: AuthorizeParams,
    selected_workspace: String,
    selected_scope: Scope,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let tpl = ConsentTpl {
        l: p.layout("Authorize an application", Nav::None, ""),
        client_name: v.client.name.clone(),
        client_id: v.client.id.clone(),
        redirect_host: redirect_host(&v.redirect_uri),
        workspaces: p
            .workspaces
            .iter()
            .filter(|w| !w.shredded)
            .cloned()
            .collect(),
        selected_workspace,
        selected_scope: selected_scope.as_str(),
        error: error.clone(),
        p: params,
        resource: v.resource.clone(),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut resp = render_status(status, &tpl)?;
    if let Some(origin) = redirect_source(&v.redirect_uri) {
        let csp = super::pages::page::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn to_client(redirect: String) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, redirect))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn request_error(e: AuthorizeError, issuer: &str) -> HttpResponse {
    match e {
        AuthorizeError::Show(message) => error_page(
            StatusCode::BAD_REQUEST,
            "Authorization request refused",
            &message,
        ),
        AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state,
        } => to_client(error_redirect(
            &redirect_uri,
            error,
            &description,
            state.as_deref(),
            issuer,
        )),
    }
}

/// `GET /oauth/authorize`: the consent page (sign-in first, via the page redirects).
async fn authorize_page(
    state: Data,
    p: Page,
    q: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, PageError> {
    let issuer = base(&state);
    let params = q.into_inner();
    let auth = state.auth.clone();
    let (check_params, check_base) = (params.clone(), issuer.clone());
    let checked = web::block(move || auth.oauth_check_request(&check_params, &check_base)).await?;
    let v = match checked {
        Ok(v) => v,
        Err(e) => return Ok(request_error(e, &issuer)),
    };
    let workspace = p.caller.workspace_id.clone();
    consent_page(&p, &v, params, workspace, v.scope, None)
}

/// The consent form: the request's parameters (hidden) and the user's choices.
#[derive(Deserialize)]
struct ConsentForm {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    workspace_id: String,
    #[serde(default)]
    grant_scope: String,
    #[serde(default)]
    decision: String,
}

/// `POST /oauth/authorize`: allow (a code to the client) or deny (`access_denied`).
async fn authorize_submit(
    state: Data,
    form: PageForm<ConsentForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let issuer = base(&state);
    let some = |s: String| (!s.is_empty()).then_some(s);
    let params = AuthorizeParams {
        response_type: f.response_type,
        client_id: f.client_id,
        redirect_uri: f.redirect_uri,
        code_challenge: f.code_challenge,
        code_challenge_method: f.code_challenge_method,
        state: some(f.state),
        scope: some(f.scope),
        resource: some(f.resource),
    };
    let auth = state.auth.clone();
    let (check_params, check_base) = (params.clone(), issuer.clone());
    let checked = web::block(move || auth.oauth_check_request(&check_params, &check_base)).await?;
    let v = match checked {
        Ok(v) => v,
        Err(e) => return Ok(request_error(e, &issuer)),
    };
    if f.decision != "allow" {
        let auth = state.auth.clone();
        let (caller, client) = (p.caller.clone(), v.client.id.clone());
        web::block(move || auth.oauth_audit_denied(&caller, &client)).await??;
        return Ok(to_client(error_redirect(
            &v.redirect_uri,
            "access_denied",
            "the user denied the request",
            v.state.as_deref(),
            &issuer,
        )));
    }
    let Some(scope) = Scope::parse(&f.grant_scope) else {
        return consent_page(
            &p,
            &v,
            params,
            f.workspace_id,
            v.scope,
            Some("Choose the scope: developer or verifier.".into()),
        );
    };
    let auth = state.auth.clone();
    let (caller, req, ws) = (p.caller.clone(), v.clone(), f.workspace_id.clone());
    let issued = web::block(move || auth.oauth_issue_code(&caller, &req, &ws, scope)).await?;
    match issued {
        Ok(code) => {
            let mut q = vec![("code", code.as_str())];
            if let Some(s) = v.state.as_deref() {
                q.push(("state", s));
            }
            q.push(("iss", issuer.as_str()));
            Ok(to_client(redirect_with(&v.redirect_uri, &q)))
        }
        Err(auth::Error::Forbidden(m)) => {
            consent_page(&p, &v, params, f.workspace_id, scope, Some(m))
        }
        Err(auth::Error::NotFound(_)) => consent_page(
            &p,
            &v,
            params,
            f.workspace_id,
            scope,
            Some("Choose one of your workspaces.".into()),
        ),
        Err(e) => Err(e.into()),
    }
}

fn no_store(mut resp: HttpResponse) -> HttpResponse {
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Parses an urlencoded OAuth request body (RFC 6749 §3.2: form parameters only).
fn parse_form<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, OAuthError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    if body.len() > 16 * 1024 {
        return Err(OAuthError::new(
            400,
            "invalid_request",
            "the request is too large",
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::new(400, "invalid_request", format!("unreadable form: {e}")))
}

fn busy() -> OAuthError {
    OAuthError::new(503, "temporarily_unavailable", "server busy; retry")
}

/// `POST /oauth/token`.
async fn token(req: HttpRequest, state: Data, body: web::Bytes) -> HttpResponse {
    let form: TokenForm = match parse_form(&req, &body) {
        Ok(f) => f,
        Err(e) => return no_store(oauth_error(&e)),
    };
    let auth = state.auth.clone();
    let out = match web::block(move || auth.oauth_token(&form)).await {
        Ok(r) => r,
        Err(_) => Err(busy()),
    };
    no_store(match out {
        Ok(t) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .json(t),
        Err(e) => oauth_error(&e),
    })
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token existed.
async fn revoke(req: HttpRequest, state: Data, body: web::Bytes) -> HttpResponse {
    let form: RevokeForm = match parse_form(&req, &body) {
        Ok(f) => f,
        Err(e) => return oauth_error(&e),
    };
    let auth = state.auth.clone();
    let out = match web::block(move || auth.oauth_revoke(&form)).await {
        Ok(r) => r,
        Err(_) => Err(busy()),
    };
    match out {
        Ok(()) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .finish(),
        Err(e) => oauth_error(&e),
    }
}
