//! The server-rendered web app: askama templates from `assets/templates/`, static files from
//! `assets/static/` (embedded), htmx for partial updates and small scripts for WebAuthn.
//!
//! Conventions for page handlers (other areas add their pages the same way):
//! - Take a [`Page`] (GET) or [`PageForm<T>`] (POST, CSRF-checked) argument; both redirect to
//!   `/setup`, `/login` or `/mfa/enroll` as needed, so a handler only ever sees a signed-in,
//!   enrolled user. Scope every lookup with `page.caller`.
//! - A template struct has `l: Layout` (from [`Page::layout`]) and `{% extends "base.html" %}`;
//!   render it with [`Page::respond`] (clears a displayed flash message) or
//!   [`Page::respond_status`] (422 when the form has inline errors, via [`FormState`]).
//! - After a successful POST, [`redirect_flash`] to the page with a one-line message.
//! - Errors: return [`PageError`] (`?` works on `auth::Error` and `web::block`): a friendly
//!   HTML page with the right status; another tenant's object is a 404.
//! - Every HTML response carries the strict [`page::CSP`]: no inline `<script>` or `style=`;
//!   put behaviour in `assets/static/*.js` (data attributes) and styles in `app.css`.

mod assets;
mod assurance;
mod compliance;
mod dashboard;
pub(crate) mod models;
pub mod page;
mod security;
mod selfservice;
mod settings;
mod signin;
mod usage;
mod workspaces;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

pub use dashboard::Kpis;
pub use page::{
    EnrollForm, EnrollPage, Flash, FormState, Layout, LoginForm, Nav, Page, PageError, PageForm,
    redirect, redirect_flash,
};

/// Registers every page route and `/static/`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{path:.*}", web::get().to(assets::serve))
        .configure(signin::configure)
        .configure(selfservice::configure)
        .configure(settings::configure)
        .configure(usage::configure)
        .configure(assurance::configure)
        .configure(compliance::configure)
        .configure(security::configure)
        .configure(workspaces::configure)
        .configure(models::configure)
        .configure(dashboard::configure);
}

/// Fallback for unknown paths: a friendly HTML 404 for browsers, the JSON 404 for `/api`,
/// `/mcp` and non-HTML clients.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, crate::web::ApiError> {
    let path = req.path();
    let api = path.starts_with("/api") || path.starts_with("/mcp");
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if api || !wants_html {
        return super::ops::not_found(req).await;
    }
    let err = PageError::not_found();
    Ok(match &err {
        PageError::Status { title, message, .. } => {
            page::error_page(StatusCode::NOT_FOUND, title, message)
        }
        PageError::Redirect(to) => redirect(to),
    })
}
