//! The maintenance circuit breaker at the HTTP edge: while maintenance is active, every API,
//! MCP and page request of anyone but a superadmin gets 503 (JSON for API clients, a page for
//! browsers). Health, readiness, metrics, static files and sign-in stay reachable so a
//! superadmin can get in and clear it.
//!
//! The state is persisted by the admin service and may be changed by another process
//! (`rampart admin maintenance enable`), so it is re-read at most every two seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web;

use super::{ApiError, AppState};
use crate::admin::{AdminService, MaintenanceState};

const REFRESH: Duration = Duration::from_secs(2);

/// Cached maintenance state.
pub struct Gate {
    admin: AdminService,
    cache: Mutex<Option<(Instant, MaintenanceState)>>,
}

impl Gate {
    /// A gate reading the admin service's persisted state.
    pub fn new(admin: AdminService) -> Self {
        Self {
            admin,
            cache: Mutex::new(None),
        }
    }

    /// Forgets the cached state (after this process changed it).
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn cached(&self) -> Option<MaintenanceState> {
        let guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < REFRESH)
            .map(|(_, s)| s.clone())
    }

    /// The current state (blocking: reads the database when the cache is stale). A read
    /// failure counts as "not in maintenance": the breaker must not take the site down.
    pub fn state(&self) -> MaintenanceState {
        if let Some(s) = self.cached() {
            return s;
        }
        let state = self.admin.maintenance_status().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading maintenance state failed");
            MaintenanceState {
                active: false,
                reason: None,
                tripped_at: None,
                tripped_by: None,
            }
        });
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), state.clone()));
        state
    }
}

fn exempt(path: &str) -> bool {
    matches!(
        path,
        "/health"
            | "/ready"
            | "/metrics"
            | "/login"
            | "/logout"
            | "/setup"
            | "/api/setup"
            | "/api/me"
    ) || path.starts_with("/static/")
        || path.starts_with("/api/auth/")
        || path.starts_with("/login/")
}

/// Middleware: lets requests through unless maintenance is active and the caller is not a
/// signed-in superadmin.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if exempt(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let st = state.clone();
    let maintenance = web::block(move || st.maintenance.state()).await?;
    if !maintenance.active {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let session = req
        .cookie(super::cookies::session_name())
        .map(|c| c.value().to_string());
    let auth = state.auth.clone();
    let superadmin = match session {
        Some(token) => web::block(move || {
            auth.authenticate_session(&token, crate::auth::WorkspaceChoice::Default)
        })
        .await?
        .is_ok_and(|c| c.role == crate::auth::Role::Superadmin),
        None => false,
    };
    if superadmin {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    let reason = maintenance
        .reason
        .unwrap_or_else(|| "the appliance is under maintenance".into());
    let wants_html = !req.path().starts_with("/api/")
        && !req.path().starts_with("/mcp")
        && req
            .headers()
            .get("Accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    let response = if wants_html {
        // The styled error page: strict CSP, no inline styles, a link to sign in.
        let mut page = super::pages::page::error_page_with_action(
            StatusCode::SERVICE_UNAVAILABLE,
            "System under maintenance",
            &format!("{}. Please try again later.", reason.trim_end_matches('.')),
            "/login",
            "Administrator sign-in",
        );
        page.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from_static("60"),
        );
        page
    } else {
        let mut err = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "maintenance",
            format!("system under maintenance: {reason}"),
        );
        err.retry_after = Some(60);
        actix_web::ResponseError::error_response(&err)
    };
    Ok(req.into_response(response))
}
