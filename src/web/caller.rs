//! Authentication as extractors. [`Caller`] resolves `X-API-Key` or the session cookie, checks
//! the CSRF token on state-changing cookie requests, and refuses sessions that still have to
//! enroll a second factor. [`Enrolling`] is the same without that last check, for the few
//! endpoints such a session may use (me, MFA enrollment, logout).

use std::future::Future;
use std::pin::Pin;

use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::{ApiError, AppState};
use crate::auth::{self, Caller, Via, secrets};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "rampart_session";
/// Header carrying the CSRF token on cookie-authenticated state changes.
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// Cookie in which the web app remembers the chosen workspace (a preference: when it is no
/// longer accessible, the personal workspace is used).
pub const WORKSPACE_COOKIE: &str = "rampart_workspace";
/// Header choosing the workspace of a session request (API clients).
pub const WORKSPACE_HEADER: &str = "X-Workspace-Id";

/// A caller that may still be enrolling MFA.
pub struct Enrolling(pub Caller);

struct Raw {
    api_key: Option<String>,
    session: Option<String>,
    csrf: Option<String>,
    workspace: Option<String>,
    preferred_workspace: Option<String>,
    unsafe_method: bool,
}

fn raw(req: &HttpRequest) -> Raw {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    Raw {
        api_key: header("X-API-Key"),
        session: req.cookie(SESSION_COOKIE).map(|c| c.value().to_string()),
        csrf: header(CSRF_HEADER),
        workspace: header(WORKSPACE_HEADER),
        preferred_workspace: req.cookie(WORKSPACE_COOKIE).map(|c| c.value().to_string()),
        unsafe_method: !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS),
    }
}

async fn resolve(req: HttpRequest, allow_enrolling: bool) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let raw = raw(&req);
    let auth = state.auth.clone();
    let (api_key, session, workspace, preferred) = (
        raw.api_key,
        raw.session,
        raw.workspace,
        raw.preferred_workspace,
    );
    let caller = web::block(move || match (api_key, session) {
        (Some(key), _) => {
            let caller = auth.authenticate_api_key(&key)?;
            // A key is bound to its workspace; naming another one is a mistake, not a switch.
            match workspace.as_deref() {
                Some(w) if w != caller.workspace_id => Err(auth::Error::NotFound("workspace")),
                _ => Ok(caller),
            }
        }
        (None, Some(token)) => {
            let choice = match (&workspace, &preferred) {
                (Some(w), _) => auth::WorkspaceChoice::Explicit(w),
                (None, Some(p)) => auth::WorkspaceChoice::Preferred(p),
                (None, None) => auth::WorkspaceChoice::Default,
            };
            auth.authenticate_session(&token, choice)
        }
        (None, None) => Err(auth::Error::Unauthenticated(
            "authentication required: sign in, or send an API key in X-API-Key".into(),
        )),
    })
    .await??;
    if let Via::Session { csrf_token, .. } = &caller.via
        && raw.unsafe_method
        && !raw
            .csrf
            .as_deref()
            .is_some_and(|t| secrets::ct_eq(t, csrf_token))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            format!("missing or wrong {CSRF_HEADER} header (get the token from GET /api/me)"),
        ));
    }
    if caller.mfa_enrollment_pending && !allow_enrolling {
        return Err(auth::Error::MfaEnrollmentRequired.into());
    }
    Ok(caller)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(resolve(req.clone(), false))
    }
}

impl FromRequest for Enrolling {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(req, true).await.map(Enrolling) })
    }
}

/// Peer address and user agent for throttling and session metadata.
pub fn client_info(req: &HttpRequest) -> crate::auth::sessions::ClientInfo {
    crate::auth::sessions::ClientInfo {
        ip: req
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        user_agent: req
            .headers()
            .get("User-Agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
    }
}
