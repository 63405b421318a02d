//! Pages reached from an email: the password reset link an admin issued
//! (`/reset/{token}`), and self-service signup with its emailed 6-digit code (`/signup`,
//! only when `SIGNUP_ENABLED` and SMTP are on; otherwise a 404 like any unknown page).
//!
//! Both are pre-session forms (double-submit CSRF like the sign-in page); every rule (link
//! validity, password policy, code attempts, throttling) lives in [`crate::auth`], these
//! handlers only translate forms and outcomes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, LoginForm, PageError, login_csrf, redirect, redirect_flash};
use super::signin::{anon_layout, anon_page, session_cookie};
use crate::auth;
use crate::web::AppState;
use crate::web::caller::client_info;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/reset/{token}", web::get().to(reset_page))
        .route("/reset/{token}", web::post().to(reset_submit))
        .route("/signup", web::get().to(signup_page))
        .route("/signup", web::post().to(signup_submit))
        .route("/signup/verify", web::post().to(verify_submit));
}

// ---------------------------------------------------------------- password reset

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetTpl {
    l: Layout,
    f: FormState,
    token: String,
    email: String,
    expires_at: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetForm {
    password: String,
    password_confirm: String,
}

fn link_not_valid() -> HttpResponse {
    super::page::error_page(
        StatusCode::NOT_FOUND,
        "Reset link not valid",
        "This password reset link is wrong, was already used, was replaced by a newer one or has expired (links work once, for 24 hours). Ask an administrator for a new one.",
    )
}

async fn render_reset(
    req: &HttpRequest,
    state: &Data,
    token: String,
    f: FormState,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let auth = state.auth.clone();
    let t = token.clone();
    let info = match web::block(move || auth.password_reset_info(&t)).await? {
        Ok(i) => i,
        Err(auth::Error::NotFound(_)) => return Ok(link_not_valid()),
        Err(e) => return Err(e.into()),
    };
    let csrf = login_csrf(req);
    let tpl = ResetTpl {
        l: anon_layout(req, "Choose a new password", &csrf.0),
        f,
        token,
        email: info.email,
        expires_at: info.expires_at,
    };
    anon_page(req, status, csrf, &tpl)
}

async fn reset_page(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_reset(
        &req,
        &state,
        path.into_inner(),
        FormState::new(),
        StatusCode::OK,
    )
    .await
}

async fn reset_submit(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    form: LoginForm<ResetForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let f = form.form;
    let mut fs = FormState::new();
    if f.password != f.password_confirm {
        fs.error("password_confirm", "The passwords do not match.");
        return render_reset(&req, &state, token, fs, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let auth = state.auth.clone();
    let (t, pw) = (token.clone(), f.password);
    match web::block(move || auth.complete_password_reset(&t, &pw)).await? {
        Ok(_) => Ok(redirect_flash(
            "/login",
            "success",
            "Your password was changed and every other session of your account ended. Sign in with the new password.",
        )),
        Err(auth::Error::NotFound(_)) => Ok(link_not_valid()),
        Err(e) => {
            fs.absorb(e, &[])?;
            render_reset(&req, &state, token, fs, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

// ---------------------------------------------------------------- signup

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupTpl {
    l: Layout,
    f: FormState,
    /// Show the code step (the code was sent to `f.val("email")`).
    verify: bool,
    allowed_domains: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignupForm {
    email: String,
    display_name: String,
    password: String,
    password_confirm: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyForm {
    email: String,
    code: String,
}

/// The signup policy, or `None` when signup is closed (the pages then do not exist).
async fn open_policy(state: &Data) -> Result<Option<auth::signup::SignupPolicy>, PageError> {
    let auth = state.auth.clone();
    let p = web::block(move || auth.signup_policy()).await?;
    Ok(p.enabled.then_some(p))
}

fn render_signup(
    req: &HttpRequest,
    policy: auth::signup::SignupPolicy,
    f: FormState,
    verify: bool,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let csrf = login_csrf(req);
    let title = if verify {
        "Check your email"
    } else {
        "Create an account"
    };
    let tpl = SignupTpl {
        l: anon_layout(req, title, &csrf.0),
        f,
        verify,
        allowed_domains: policy.allowed_domains,
    };
    anon_page(req, status, csrf, &tpl)
}

async fn signup_page(req: HttpRequest, state: Data) -> Result<HttpResponse, PageError> {
    let Some(policy) = open_policy(&state).await? else {
        return Err(PageError::not_found());
    };
    render_signup(&req, policy, FormState::new(), false, StatusCode::OK)
}

async fn signup_submit(
    req: HttpRequest,
    state: Data,
    form: LoginForm<SignupForm>,
) -> Result<HttpResponse, PageError> {
    let Some(policy) = open_policy(&state).await? else {
        return Err(PageError::not_found());
    };
    let f = form.form;
    let mut fs = FormState::new()
        .value("email", f.email.trim())
        .value("display_name", f.display_name.trim());
    if f.password != f.password_confirm {
        fs.error("password_confirm", "The passwords do not match.");
        return render_signup(&req, policy, fs, false, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let auth = state.auth.clone();
    let client = client_info(&req);
    let (email, name, pw) = (f.email.clone(), f.display_name.clone(), f.password.clone());
    match web::block(move || auth.signup(&email, &name, &pw, &client)).await? {
        Ok(started) => {
            let fs = FormState::new().value("email", started.email);
            render_signup(&req, policy, fs, true, StatusCode::OK)
        }
        Err(e @ auth::Error::Throttled(_)) => {
            fs.error("general", capitalize(&e.to_string()));
            render_signup(&req, policy, fs, false, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(e) => {
            fs.absorb(e, &[("name", "display_name")])?;
            render_signup(&req, policy, fs, false, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn verify_submit(
    req: HttpRequest,
    state: Data,
    form: LoginForm<VerifyForm>,
) -> Result<HttpResponse, PageError> {
    let Some(policy) = open_policy(&state).await? else {
        return Err(PageError::not_found());
    };
    let f = form.form;
    let auth = state.auth.clone();
    let client = client_info(&req);
    let (email, code) = (f.email.clone(), f.code.clone());
    match web::block(move || auth.verify_signup(&email, &code, &client)).await? {
        Ok((session, _user, mfa_required)) => {
            let mut resp = if mfa_required {
                redirect("/mfa/enroll")
            } else {
                redirect_flash("/", "success", "Welcome! Your account is ready.")
            };
            resp.add_cookie(&session_cookie(&session.token))
                .map_err(PageError::internal)?;
            Ok(resp)
        }
        Err(e) => {
            let mut fs = FormState::new().value("email", f.email.trim());
            fs.absorb(e, &[])?;
            render_signup(&req, policy, fs, true, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
