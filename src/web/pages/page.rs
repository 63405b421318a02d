//! Page authentication and the plumbing every HTML handler shares: the [`Page`] /
//! [`PageForm`] extractors (sign-in, first-run setup and MFA-enrollment redirects, CSRF),
//! the [`Layout`] every template extends, flash messages, the friendly error page, and the
//! security headers of HTML responses.
//!
//! Redirect rules of every signed-in page, in this order:
//! 1. zero users on the appliance → `303 /setup` (nothing else is reachable before setup);
//! 2. no valid session → `303 /login?next=<path>` (`next` only for GET, always a local path);
//! 3. the session must still enroll a second factor → `303 /mfa/enroll`
//!    ([`EnrollPage`] / [`EnrollForm`] are the exceptions that serve that page itself).
//!
//! CSRF: every state-changing form carries a hidden `csrf_token` field (or htmx sends the
//! `X-CSRF-Token` header, set once on `<body hx-headers>`), compared in constant time with
//! the session's token. Forms used before a session exists (setup, login, the MFA step) use a
//! double-submit cookie instead, see [`LOGIN_CSRF_COOKIE`].

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use askama::Template;
use base64::Engine as _;
use serde::de::DeserializeOwned;

use super::assets;
use crate::auth::{self, Caller, Via, secrets};
use crate::tenancy::WorkspaceRole;
use crate::tenancy::workspaces::WorkspaceInfo;
use crate::web::AppState;
use crate::web::caller::CSRF_HEADER;
use crate::web::cookies;

/// Content-Security-Policy of every HTML page: no inline script or style anywhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
     object-src 'none'";

/// Cookie carrying a one-shot flash message to the next page (set on redirects after POST);
/// the plain-http name, `__Host-rampart_flash` over https ([`cookies::flash_name`]).
pub const FLASH_COOKIE: &str = "rampart_flash";

/// Double-submit cookie protecting the pre-session forms (setup, login, MFA step).
///
/// Login CSRF choice: a random value set as an `HttpOnly; SameSite=Strict` cookie when the
/// form is rendered and echoed in the form's hidden `csrf_token` field; the POST must carry
/// both and they must match (constant-time). A cross-site page can neither read the cookie
/// nor make the browser send it (SameSite=Strict), so it cannot forge a login. This works
/// behind any reverse proxy, unlike an Origin/Host comparison. Over https the cookie is
/// `__Host-rampart_login_csrf` ([`cookies::login_csrf_name`]).
pub const LOGIN_CSRF_COOKIE: &str = "rampart_login_csrf";

/// Which top-level navigation entry is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// `/`
    Dashboard,
    /// `/models`
    Models,
    /// `/assurance`
    Assurance,
    /// `/settings/*`
    Settings,
    /// Pages outside the main navigation (setup, login, errors).
    None,
}

/// A one-shot message shown at the top of the next page.
#[derive(Debug, Clone)]
pub struct Flash {
    /// `success`, `error` or `info` (also the CSS modifier).
    pub kind: &'static str,
    /// The text (escaped by the template).
    pub message: String,
}

impl Flash {
    fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}\n{}", self.kind, self.message))
    }

    fn decode(value: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (kind, message) = text.split_once('\n')?;
        let kind = match kind {
            "success" => "success",
            "error" => "error",
            _ => "info",
        };
        let message: String = message.chars().take(300).collect();
        Some(Self { kind, message })
    }
}

/// Everything `base.html` needs; every page template has a `l: Layout` field.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<title>` and the page heading.
    pub title: String,
    /// Active navigation entry.
    pub nav: Nav,
    /// Active settings sub-page (`account`, `api-keys`, `users`, `integrations`), or "".
    pub sub: &'static str,
    /// Signed in (shows the navigation and the user menu).
    pub signed_in: bool,
    /// Signed in but still enrolling MFA: navigation hidden except sign-out.
    pub enrolling: bool,
    /// Display name of the caller.
    pub user_name: String,
    /// Email of the caller.
    pub user_email: String,
    /// Role name of the caller.
    pub role: &'static str,
    /// Admin or above: shows Settings > Users.
    pub is_admin: bool,
    /// Superadmin: shows the Credits settings.
    pub is_superadmin: bool,
    /// CSRF token for forms and the `hx-headers` attribute.
    pub csrf: String,
    /// Message carried over from the previous request.
    pub flash: Option<Flash>,
    /// Workspaces of the caller, for the switcher in the header.
    pub workspaces: Vec<WorkspaceInfo>,
    /// The workspace this page shows.
    pub workspace_id: String,
    /// The caller's role in it.
    pub workspace_role: WorkspaceRole,
}

impl Layout {
    /// Layout of a page seen before sign-in (setup, login, MFA step, errors).
    pub fn anonymous(title: impl Into<String>, csrf: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            nav: Nav::None,
            sub: "",
            signed_in: false,
            enrolling: false,
            user_name: String::new(),
            user_email: String::new(),
            role: "",
            is_admin: false,
            is_superadmin: false,
            csrf: csrf.into(),
            flash: None,
            workspaces: Vec::new(),
            workspace_id: String::new(),
            workspace_role: WorkspaceRole::Viewer,
        }
    }

    /// Name of the workspace this page shows.
    pub fn workspace_name(&self) -> &str {
        self.workspaces
            .iter()
            .find(|w| w.id == self.workspace_id)
            .map_or("", |w| w.name.as_str())
    }

    /// The caller may change data here (hides edit controls from viewers).
    pub fn can_write(&self) -> bool {
        self.workspace_role.can_write()
    }

    /// A data page (dashboard, models, assurance) seen by a viewer: shown with a read-only
    /// notice and without edit controls (the services refuse writes anyway).
    pub fn read_only_view(&self) -> bool {
        self.signed_in
            && !self.enrolling
            && !self.workspace_id.is_empty()
            && !self.can_write()
            && matches!(self.nav, Nav::Dashboard | Nav::Models | Nav::Assurance)
    }

    /// The caller manages this workspace (members, security).
    pub fn can_manage(&self) -> bool {
        self.workspace_role.can_manage()
    }

    /// URL of the stylesheet, with its content hash for cache busting.
    pub fn css(&self) -> &'static str {
        assets::url("app.css")
    }

    /// URL of the page script.
    pub fn app_js(&self) -> &'static str {
        assets::url("app.js")
    }

    /// URL of the WebAuthn script.
    pub fn webauthn_js(&self) -> &'static str {
        assets::url("webauthn.js")
    }

    /// URL of the live job-progress script (model generation).
    pub fn job_js(&self) -> &'static str {
        assets::url("job.js")
    }

    /// URL of the vendored htmx.
    pub fn htmx_js(&self) -> &'static str {
        assets::url("vendor/htmx/htmx.min.js")
    }

    /// JSON for `hx-headers` so htmx requests carry the CSRF token.
    pub fn hx_headers(&self) -> String {
        serde_json::json!({ CSRF_HEADER: self.csrf }).to_string()
    }

    /// True when `nav` is the active entry (for `aria-current`).
    pub fn is(&self, nav: &str) -> bool {
        let current = match self.nav {
            Nav::Dashboard => "dashboard",
            Nav::Models => "models",
            Nav::Assurance => "assurance",
            Nav::Settings => "settings",
            Nav::None => "",
        };
        current == nav
    }
}

/// Inline form state: submitted values to show again and per-field error messages.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    errors: Vec<(String, String)>,
    values: Vec<(String, String)>,
}

impl FormState {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error for a field (the first one per field is shown).
    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push((field.into(), message.into()));
    }

    /// Keeps a submitted value to pre-fill the field again (never for secrets).
    pub fn value(mut self, field: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.push((field.into(), value.into()));
        self
    }

    /// The error of a field, for the template.
    pub fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// The value of a field, or "".
    pub fn val(&self, field: &str) -> &str {
        self.values
            .iter()
            .find(|(f, _)| f == field)
            .map_or("", |(_, v)| v.as_str())
    }

    /// True when any field has an error.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Maps an identity-layer error onto a field of this form. Validation errors land on
    /// their field (renamed through `fields`, e.g. `("password", "new_password")`), refusals
    /// and conflicts on `general`; anything else is returned for the error page.
    pub fn absorb(&mut self, err: auth::Error, fields: &[(&str, &str)]) -> Result<(), PageError> {
        match err {
            auth::Error::Invalid { field, message } => {
                let target = fields
                    .iter()
                    .find(|(from, _)| *from == field)
                    .map_or(field, |(_, to)| to);
                self.error(target, sentence(field, &message));
                Ok(())
            }
            auth::Error::Forbidden(m) | auth::Error::Conflict(m) => {
                self.error("general", capitalize(&m));
                Ok(())
            }
            other => Err(other.into()),
        }
    }
}

/// "password", "is not correct" → "Password is not correct."; messages that already read as
/// a sentence are kept.
fn sentence(field: &str, message: &str) -> String {
    let m = message.trim().trim_end_matches('.');
    let starts_with_verb = ["is ", "must ", "are ", "was "]
        .iter()
        .any(|p| m.starts_with(p));
    if starts_with_verb {
        let label = field.replace('_', " ");
        format!("{} {m}.", capitalize(&label))
    } else {
        format!("{}.", capitalize(m))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Why a page request did not produce its page: a redirect or a friendly error page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// `303 See Other` to a local path (sign-in, setup, enrollment).
    #[error("redirect to {0}")]
    Redirect(String),
    /// An error page with a status, a short title and an explanation.
    #[error("{status}: {message}")]
    Status {
        /// HTTP status.
        status: StatusCode,
        /// Heading of the error page.
        title: &'static str,
        /// What happened and what to do.
        message: String,
    },
}

impl PageError {
    /// 404 page.
    pub fn not_found() -> Self {
        Self::Status {
            status: StatusCode::NOT_FOUND,
            title: "Page not found",
            message: "The page you asked for does not exist, or you do not have access to it."
                .into(),
        }
    }

    /// 403 page with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Status {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: message.into(),
        }
    }

    /// 403 page for a missing or wrong CSRF token.
    pub fn csrf() -> Self {
        Self::Status {
            status: StatusCode::FORBIDDEN,
            title: "This form has expired",
            message: "The security token of the form was missing or out of date, so nothing \
                      was changed. Go back, reload the page and submit it again."
                .into(),
        }
    }

    /// 400 page for a malformed submission.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Status {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            message: message.into(),
        }
    }

    /// 500 page; the cause is logged, never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error on a page");
        Self::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "The server could not complete this request. The details are in the \
                      server log; try again, and tell your administrator if it keeps happening."
                .into(),
        }
    }
}

impl From<auth::Error> for PageError {
    fn from(err: auth::Error) -> Self {
        use auth::Error as E;
        match err {
            E::NotFound(_) => PageError::not_found(),
            E::Gone(m) => PageError::Status {
                status: StatusCode::GONE,
                title: "Data erased",
                message: capitalize(&m),
            },
            E::Forbidden(m) => PageError::forbidden(capitalize(&m)),
            E::Unauthenticated(_) | E::InvalidCredentials => PageError::Redirect("/login".into()),
            E::MfaEnrollmentRequired => PageError::Redirect("/mfa/enroll".into()),
            E::Invalid { field, message } => PageError::bad_request(sentence(field, &message)),
            E::Conflict(m) => PageError::Status {
                status: StatusCode::CONFLICT,
                title: "Conflict",
                message: capitalize(&m),
            },
            E::Throttled(secs) => PageError::Status {
                status: StatusCode::TOO_MANY_REQUESTS,
                title: "Too many attempts",
                message: format!("Too many failed attempts. Try again in {secs} seconds."),
            },
            E::Busy(secs) => PageError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                title: "Server busy",
                message: format!(
                    "The server is busy checking other passwords. Try again in {secs} seconds."
                ),
            },
            E::Store(crate::store::Error::NotFound) => PageError::not_found(),
            E::Store(e) => PageError::internal(e),
            E::Internal(m) => PageError::internal(m),
        }
    }
}

impl From<actix_web::error::BlockingError> for PageError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        PageError::internal(err)
    }
}

impl From<askama::Error> for PageError {
    fn from(err: askama::Error) -> Self {
        PageError::internal(format!("template: {err}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    l: Layout,
    status: u16,
    heading: &'a str,
    message: &'a str,
    action_href: &'a str,
    action_label: &'a str,
}

/// Renders the friendly error page (also used for HTML 404s of unknown paths).
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    error_page_with_action(status, title, message, "/", "Go to the dashboard")
}

/// The error page with its main button pointing elsewhere (e.g. the maintenance page's
/// administrator sign-in).
pub fn error_page_with_action(
    status: StatusCode,
    title: &str,
    message: &str,
    action_href: &str,
    action_label: &str,
) -> HttpResponse {
    let page = ErrorPage {
        l: Layout::anonymous(title, ""),
        status: status.as_u16(),
        heading: title,
        message,
        action_href,
        action_label,
    };
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "rendering the error page failed");
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(message.to_string())
        }
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Redirect(_) => StatusCode::SEE_OTHER,
            PageError::Status { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            PageError::Redirect(to) => redirect(to),
            PageError::Status {
                status,
                title,
                message,
            } => error_page(*status, title, message),
        }
    }
}

/// An HTML response with the page security headers and no caching.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", CSP))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body)
}

/// Renders a template into a 200 page.
pub fn render(tpl: &impl Template) -> Result<HttpResponse, PageError> {
    render_status(StatusCode::OK, tpl)
}

/// Renders a template with a status (422 for forms with inline errors).
pub fn render_status(status: StatusCode, tpl: &impl Template) -> Result<HttpResponse, PageError> {
    Ok(html(status, tpl.render()?))
}

/// `303 See Other` to a local path.
pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish()
}

/// `303` to a local path, showing `message` there once.
pub fn redirect_flash(to: &str, kind: &'static str, message: impl Into<String>) -> HttpResponse {
    let flash = Flash {
        kind,
        message: message.into(),
    };
    let mut resp = redirect(to);
    let cookie = Cookie::build(cookies::flash_name(), flash.encode())
        .path("/")
        .http_only(true)
        .secure(cookies::secure())
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(60))
        .finish();
    if let Err(e) = resp.add_cookie(&cookie) {
        tracing::warn!(error = %e, "setting the flash cookie failed");
    }
    resp
}

/// Reads the flash message of a request, if any.
pub fn flash_of(req: &HttpRequest) -> Option<Flash> {
    req.cookie(cookies::flash_name())
        .and_then(|c| Flash::decode(c.value()))
}

/// Adds the removal of the flash cookie to a response that displayed it.
pub fn clear_flash(resp: &mut HttpResponse, req: &HttpRequest) {
    if req.cookie(cookies::flash_name()).is_some() {
        let mut gone = Cookie::build(cookies::flash_name(), "")
            .path("/")
            .secure(cookies::secure())
            .finish();
        gone.make_removal();
        if let Err(e) = resp.add_cookie(&gone) {
            tracing::warn!(error = %e, "clearing the flash cookie failed");
        }
    }
}

/// The application state of a request.
pub fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, PageError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| PageError::internal("application state missing"))
}

/// Percent-encodes a local path for the `next` parameter.
pub fn encode_next(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `next` target is followed only when it is a local path (no scheme, no `//host`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login")
                && !n.starts_with("/logout")
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// A signed-in browser user on an HTML page.
///
/// Use it as a handler argument for GET pages; use [`PageForm`] for POSTs. Build the
/// template's [`Layout`] with [`Page::layout`], and finish with [`Page::respond`] so a shown
/// flash message is cleared.
pub struct Page {
    /// The authenticated caller (scope every lookup with it).
    pub caller: Caller,
    /// The session's CSRF token.
    pub csrf: String,
    /// The session cookie value (needed for logout).
    pub session_token: String,
    /// The request, for flash handling and the path.
    pub req: HttpRequest,
    /// The caller's workspaces (header switcher).
    pub workspaces: Vec<WorkspaceInfo>,
}

impl Page {
    /// The layout for a template of this page.
    pub fn layout(&self, title: impl Into<String>, nav: Nav, sub: &'static str) -> Layout {
        Layout {
            title: title.into(),
            nav,
            sub,
            signed_in: true,
            enrolling: self.caller.mfa_enrollment_pending,
            user_name: self.caller.display_name.clone(),
            user_email: self.caller.email.clone(),
            role: self.caller.role.as_str(),
            is_admin: self.caller.is_admin(),
            is_superadmin: self.caller.role == crate::auth::Role::Superadmin,
            csrf: self.csrf.clone(),
            flash: flash_of(&self.req),
            workspaces: self.workspaces.clone(),
            workspace_id: self.caller.workspace_id.clone(),
            workspace_role: self.caller.workspace_role,
        }
    }

    /// Renders a template (status 200) and clears a flash message it displayed.
    pub fn respond(&self, tpl: &impl Template) -> Result<HttpResponse, PageError> {
        self.respond_status(StatusCode::OK, tpl)
    }

    /// Same as [`respond`](Self::respond) with an explicit status (422 for inline errors).
    pub fn respond_status(
        &self,
        status: StatusCode,
        tpl: &impl Template,
    ) -> Result<HttpResponse, PageError> {
        let mut resp = render_status(status, tpl)?;
        clear_flash(&mut resp, &self.req);
        Ok(resp)
    }

    /// Fails with a 403 page unless the caller is an admin.
    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.caller.is_admin() {
            Ok(())
        } else {
            Err(PageError::forbidden(
                "This page is for administrators. Ask an admin of this appliance if you need \
                 access.",
            ))
        }
    }
}

async fn resolve(req: HttpRequest, allow_enrolling: bool) -> Result<Page, PageError> {
    let state = state_of(&req)?;
    let token = req
        .cookie(cookies::session_name())
        .map(|c| c.value().to_string());
    let preferred = req
        .cookie(crate::web::cookies::workspace_name())
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let auth = state.auth.clone();
    let lookup_token = token.clone();
    let found = web::block(
        move || -> auth::Result<Result<(Caller, Vec<WorkspaceInfo>), bool>> {
            if auth.setup_needed()? {
                return Ok(Err(true));
            }
            let Some(t) = lookup_token else {
                return Ok(Err(false));
            };
            match auth.authenticate_session(&t, auth::WorkspaceChoice::Preferred(&preferred)) {
                Ok(c) => {
                    let list = auth.list_workspaces(&c.user_id)?;
                    Ok(Ok((c, list)))
                }
                Err(
                    auth::Error::Unauthenticated(_)
                    | auth::Error::Forbidden(_)
                    | auth::Error::InvalidCredentials,
                ) => Ok(Err(false)),
                Err(e) => Err(e),
            }
        },
    )
    .await??;
    let (caller, workspaces) = match found {
        Ok(c) => c,
        Err(true) => return Err(PageError::Redirect("/setup".into())),
        Err(false) => {
            let to = if req.method() == actix_web::http::Method::GET && req.path() != "/" {
                let mut next = req.path().to_string();
                if !req.query_string().is_empty() {
                    next.push('?');
                    next.push_str(req.query_string());
                }
                format!("/login?next={}", encode_next(&next))
            } else {
                "/login".to_string()
            };
            return Err(PageError::Redirect(to));
        }
    };
    if caller.mfa_enrollment_pending && !allow_enrolling {
        return Err(PageError::Redirect("/mfa/enroll".into()));
    }
    let csrf = match &caller.via {
        Via::Session { csrf_token, .. } => csrf_token.clone(),
        Via::ApiKey { .. } => return Err(PageError::Redirect("/login".into())),
    };
    Ok(Page {
        caller,
        csrf,
        session_token: token.unwrap_or_default(),
        req,
        workspaces,
    })
}

impl FromRequest for Page {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(resolve(req.clone(), false))
    }
}

/// A [`Page`] that a session still enrolling MFA may open (the enrollment page itself).
pub struct EnrollPage(pub Page);

impl FromRequest for EnrollPage {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { resolve(req, true).await.map(EnrollPage) })
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: Option<String>,
}

/// Reads an urlencoded body (with the configured form limit) into `T` plus the CSRF field.
async fn read_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<(T, Option<String>), PageError> {
    let limit = state_of(req)
        .map(|s| usize::try_from(s.config.limits.form_body_bytes).unwrap_or(usize::MAX))
        .unwrap_or(64 * 1024);
    let body = web::Bytes::from_request(req, payload)
        .await
        .map_err(|_| PageError::bad_request("The form could not be read."))?;
    if body.len() > limit {
        return Err(PageError::Status {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            title: "Form too large",
            message: format!("The form is larger than the limit of {limit} bytes."),
        });
    }
    let csrf: CsrfField = serde_urlencoded::from_bytes(&body)
        .map_err(|_| PageError::bad_request("The form could not be read."))?;
    let form: T = serde_urlencoded::from_bytes(&body)
        .map_err(|e| PageError::bad_request(format!("The form is incomplete: {e}.")))?;
    let header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok((form, csrf.csrf_token.or(header)))
}

/// A signed-in POST of an HTML form: the [`Page`] plus the parsed form `T`, after the CSRF
/// token (hidden `csrf_token` field or `X-CSRF-Token` header) matched the session's.
///
/// `T` is any `Deserialize` struct of the other fields; give them `#[serde(default)]` so a
/// missing field becomes an inline error instead of a 400.
pub struct PageForm<T> {
    /// The signed-in page.
    pub page: Page,
    /// The submitted fields.
    pub form: T,
}

async fn resolve_form<T: DeserializeOwned>(
    req: HttpRequest,
    mut payload: Payload,
    allow_enrolling: bool,
) -> Result<PageForm<T>, PageError> {
    let page = resolve(req.clone(), allow_enrolling).await?;
    let (form, token) = read_form::<T>(&req, &mut payload).await?;
    if !token.is_some_and(|t| secrets::ct_eq(&t, &page.csrf)) {
        return Err(PageError::csrf());
    }
    Ok(PageForm { page, form })
}

impl<T: DeserializeOwned + 'static> FromRequest for PageForm<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(resolve_form(req.clone(), payload.take(), false))
    }
}

/// A [`PageForm`] that a session still enrolling MFA may submit (enrollment, sign-out).
pub struct EnrollForm<T>(pub PageForm<T>);

impl<T: DeserializeOwned + 'static> FromRequest for EnrollForm<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move { resolve_form(req, payload, true).await.map(EnrollForm) })
    }
}

/// A pre-session form (setup, login, MFA step) whose double-submit CSRF token matched.
pub struct LoginForm<T> {
    /// The submitted fields.
    pub form: T,
}

impl<T: DeserializeOwned + 'static> FromRequest for LoginForm<T> {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let (form, token) = read_form::<T>(&req, &mut payload).await?;
            check_login_csrf(&req, token.as_deref())?;
            Ok(LoginForm { form })
        })
    }
}

/// Checks the double-submit token of a pre-session request.
pub fn check_login_csrf(req: &HttpRequest, submitted: Option<&str>) -> Result<(), PageError> {
    let cookie = req.cookie(cookies::login_csrf_name());
    match (cookie, submitted) {
        (Some(c), Some(t)) if !t.is_empty() && secrets::ct_eq(c.value(), t) => Ok(()),
        _ => Err(PageError::csrf()),
    }
}

/// The pre-session CSRF token of a request, or a fresh one to set with
/// [`login_csrf_cookie`].
pub fn login_csrf(req: &HttpRequest) -> (String, bool) {
    match req.cookie(cookies::login_csrf_name()) {
        Some(c) if c.value().len() >= 20 => (c.value().to_string(), false),
        _ => (secrets::token(), true),
    }
}

/// The double-submit cookie for pre-session forms.
pub fn login_csrf_cookie(value: &str) -> Cookie<'static> {
    Cookie::build(cookies::login_csrf_name(), value.to_string())
        .path("/")
        .http_only(true)
        .secure(cookies::secure())
        .same_site(SameSite::Strict)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_stay_local() {
        assert_eq!(safe_next(Some("/settings/account")), "/settings/account");
        assert_eq!(safe_next(Some("//evil.example/x")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/logout")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn flash_roundtrip_and_unknown_kind() {
        let f = Flash {
            kind: "success",
            message: "Saved; done ✓".into(),
        };
        let back = Flash::decode(&f.encode()).expect("decode");
        assert_eq!(back.kind, "success");
        assert_eq!(back.message, "Saved; done ✓");
        let odd = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("weird\nhi");
        assert_eq!(Flash::decode(&odd).expect("decode").kind, "info");
        assert!(Flash::decode("%%%").is_none());
    }

    #[test]
    fn error_sentences_read_naturally() {
        assert_eq!(
            sentence("current_password", "is not correct"),
            "Current password is not correct."
        );
        assert_eq!(
            sentence("code", "the code is not valid or was already used"),
            "The code is not valid or was already used."
        );
    }

    #[test]
    fn next_is_percent_encoded() {
        assert_eq!(encode_next("/a b?x=1&y"), "/a%20b%3Fx%3D1%26y");
    }
}
