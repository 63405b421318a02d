//! Pages before and around a session: the first-run setup wizard, sign-in, the MFA step
//! (authenticator code, security key, recovery code, method chooser), sign-out, and the
//! MFA enrollment page for sessions that must add a second factor first.
//!
//! Between the password and the second factor the pre-auth token lives in an `HttpOnly;
//! SameSite=Strict` cookie scoped to `/login` ([`cookies::preauth_name`]: `rampart_preauth`,
//! `__Secure-rampart_preauth` over https) holding `methods~pre_auth_token`, never in the page; the
//! security-key step talks to `/login/mfa/webauthn/{start,finish}`, which read it from there.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::PublicKeyCredential;

use super::page::{
    self, EnrollForm, EnrollPage, FormState, Layout, LoginForm, Nav, PageError, PageForm,
    check_login_csrf, flash_of, login_csrf, login_csrf_cookie, redirect, redirect_flash, safe_next,
};
use crate::auth::mfa::TotpEnrollment;
use crate::auth::sessions::{LoginOutcome, NewSession};
use crate::auth::{self};
use crate::web::caller::{CSRF_HEADER, client_info};
use crate::web::{ApiError, AppState, cookies};

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(setup_page))
        .route("/setup", web::post().to(setup_submit))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login_submit))
        .route("/login/mfa", web::get().to(mfa_page))
        .route("/login/mfa/totp", web::post().to(mfa_totp))
        .route("/login/mfa/recovery", web::post().to(mfa_recovery))
        .route(
            "/login/mfa/webauthn/start",
            web::post().to(mfa_webauthn_start),
        )
        .route(
            "/login/mfa/webauthn/finish",
            web::post().to(mfa_webauthn_finish),
        )
        .route("/logout", web::post().to(logout))
        .route("/mfa/enroll", web::get().to(enroll_page))
        .route("/mfa/enroll/totp", web::post().to(enroll_totp_start))
        .route("/mfa/enroll/totp", web::get().to(enroll_totp_page))
        .route(
            "/mfa/enroll/totp/confirm",
            web::post().to(enroll_totp_confirm),
        );
}

pub(super) fn session_cookie(token: &str) -> Cookie<'static> {
    cookies::session(token)
}

fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    let mut c = Cookie::build(name, "")
        .path(path)
        .secure(cookies::secure())
        .finish();
    c.make_removal();
    c
}

/// Renders a pre-session page, setting the double-submit CSRF cookie when it is new and
/// clearing a displayed flash message.
pub(super) fn anon_page(
    req: &HttpRequest,
    status: StatusCode,
    csrf: (String, bool),
    tpl: &impl Template,
) -> Result<HttpResponse, PageError> {
    let mut resp = page::render_status(status, tpl)?;
    if csrf.1 {
        let cookie = login_csrf_cookie(&csrf.0);
        resp.add_cookie(&cookie).map_err(PageError::internal)?;
    }
    page::clear_flash(&mut resp, req);
    Ok(resp)
}

pub(super) fn anon_layout(req: &HttpRequest, title: &str, csrf: &str) -> Layout {
    let mut l = Layout::anonymous(title, csrf);
    l.flash = flash_of(req);
    l
}

async fn setup_needed(state: &Data) -> Result<bool, PageError> {
    let auth = state.auth.clone();
    Ok(web::block(move || auth.setup_needed()).await??)
}

// ---------------------------------------------------------------- setup

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupTpl {
    l: Layout,
    f: FormState,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SetupForm {
    email: String,
    name: String,
    password: String,
    password_confirm: String,
}

async fn setup_page(req: HttpRequest, state: Data) -> Result<HttpResponse, PageError> {
    if !setup_needed(&state).await? {
        return Err(PageError::not_found());
    }
    let csrf = login_csrf(&req);
    let tpl = SetupTpl {
        l: anon_layout(&req, "Set up rampart", &csrf.0),
        f: FormState::new(),
    };
    anon_page(&req, StatusCode::OK, csrf, &tpl)
}

async fn setup_submit(
    req: HttpRequest,
    state: Data,
    form: LoginForm<SetupForm>,
) -> Result<HttpResponse, PageError> {
    if !setup_needed(&state).await? {
        return Err(PageError::not_found());
    }
    let f = form.form;
    let mut fs = FormState::new()
        .value("email", f.email.trim())
        .value("name", f.name.trim());
    if f.password != f.password_confirm {
        fs.error("password_confirm", "The two passwords do not match.");
    }
    if !fs.has_errors() {
        let auth = state.auth.clone();
        let (email, name, pw) = (f.email.clone(), f.name.clone(), f.password.clone());
        match web::block(move || auth.setup(&email, &name, &pw)).await? {
            Ok(_) => {
                // Sign the new superadmin in right away; MFA enrollment follows if required.
                let auth = state.auth.clone();
                let client = client_info(&req);
                let (email, pw) = (f.email.clone(), f.password.clone());
                let outcome = web::block(move || auth.login(&email, &pw, &client)).await??;
                return Ok(match outcome {
                    LoginOutcome::Session {
                        session,
                        mfa_enrollment_required,
                        ..
                    } => {
                        let to = if mfa_enrollment_required {
                            "/mfa/enroll"
                        } else {
                            "/"
                        };
                        let mut resp =
                            redirect_flash(to, "success", "Your administrator account is ready.");
                        resp.add_cookie(&session_cookie(&session.token))
                            .map_err(PageError::internal)?;
                        resp
                    }
                    LoginOutcome::MfaRequired { .. } => redirect("/login"),
                });
            }
            Err(auth::Error::Conflict(_)) => return Err(PageError::not_found()),
            Err(e) => fs.absorb(e, &[("display_name", "name")])?,
        }
    }
    let csrf = login_csrf(&req);
    let tpl = SetupTpl {
        l: anon_layout(&req, "Set up rampart", &csrf.0),
        f: fs,
    };
    anon_page(&req, StatusCode::UNPROCESSABLE_ENTITY, csrf, &tpl)
}

// ---------------------------------------------------------------- login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginTpl {
    l: Layout,
    f: FormState,
    next: String,
    /// Self-service signup is open (link to `/signup`).
    signup: bool,
}

async fn signup_open(state: &Data) -> Result<bool, PageError> {
    let auth = state.auth.clone();
    Ok(web::block(move || auth.signup_policy().enabled).await?)
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn signed_in(req: &HttpRequest, state: &Data) -> Result<bool, PageError> {
    let Some(token) = req
        .cookie(cookies::session_name())
        .map(|c| c.value().to_string())
    else {
        return Ok(false);
    };
    let auth = state.auth.clone();
    Ok(web::block(move || {
        auth.authenticate_session(&token, crate::auth::WorkspaceChoice::Default)
            .is_ok()
    })
    .await?)
}

async fn login_page(
    req: HttpRequest,
    state: Data,
    q: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    if setup_needed(&state).await? {
        return Ok(redirect("/setup"));
    }
    if signed_in(&req, &state).await? {
        return Ok(redirect(&safe_next(q.next.as_deref())));
    }
    let csrf = login_csrf(&req);
    let tpl = LoginTpl {
        l: anon_layout(&req, "Sign in", &csrf.0),
        f: FormState::new(),
        next: safe_next(q.next.as_deref()),
        signup: signup_open(&state).await?,
    };
    anon_page(&req, StatusCode::OK, csrf, &tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginFields {
    email: String,
    password: String,
    next: String,
}

async fn login_submit(
    req: HttpRequest,
    state: Data,
    form: LoginForm<LoginFields>,
) -> Result<HttpResponse, PageError> {
    if setup_needed(&state).await? {
        return Ok(redirect("/setup"));
    }
    let f = form.form;
    let next = safe_next(Some(&f.next));
    let auth = state.auth.clone();
    let client = client_info(&req);
    let (email, pw) = (f.email.clone(), f.password.clone());
    let outcome = web::block(move || auth.login(&email, &pw, &client)).await?;
    let mut fs = FormState::new().value("email", f.email.trim());
    let status = match outcome {
        Ok(LoginOutcome::Session { session, .. }) => {
            // An enrolling session is sent on to /mfa/enroll by the page extractor.
            let mut resp = redirect(&next);
            resp.add_cookie(&session_cookie(&session.token))
                .map_err(PageError::internal)?;
            return Ok(resp);
        }
        Ok(LoginOutcome::MfaRequired {
            pre_auth_token,
            methods,
        }) => {
            let value = format!("{}~{pre_auth_token}", methods.join("."));
            let cookie = Cookie::build(cookies::preauth_name(), value)
                .path("/login")
                .http_only(true)
                .secure(cookies::secure())
                .same_site(SameSite::Strict)
                .max_age(CookieDuration::seconds(
                    i64::try_from(state.config.mfa.pre_auth_expiry_seconds).unwrap_or(300),
                ))
                .finish();
            let mut resp = redirect(&format!("/login/mfa?next={}", page::encode_next(&next)));
            resp.add_cookie(&cookie).map_err(PageError::internal)?;
            return Ok(resp);
        }
        Err(auth::Error::InvalidCredentials) => {
            fs.error("general", "Invalid email or password.");
            StatusCode::UNAUTHORIZED
        }
        Err(auth::Error::Throttled(secs)) => {
            fs.error(
                "general",
                format!(
                    "Too many failed sign-in attempts. Wait {secs} seconds before trying again."
                ),
            );
            StatusCode::TOO_MANY_REQUESTS
        }
        Err(e) => return Err(e.into()),
    };
    let csrf = login_csrf(&req);
    let tpl = LoginTpl {
        l: anon_layout(&req, "Sign in", &csrf.0),
        f: fs,
        next,
        signup: signup_open(&state).await?,
    };
    anon_page(&req, status, csrf, &tpl)
}

// ---------------------------------------------------------------- MFA step

struct PreAuth {
    methods: Vec<String>,
    token: String,
}

fn preauth(req: &HttpRequest) -> Option<PreAuth> {
    let c = req.cookie(cookies::preauth_name())?;
    let (methods, token) = c.value().split_once('~')?;
    if token.is_empty() {
        return None;
    }
    Some(PreAuth {
        methods: methods.split('.').map(str::to_string).collect(),
        token: token.to_string(),
    })
}

fn expired() -> HttpResponse {
    redirect_flash(
        "/login",
        "info",
        "Your sign-in attempt expired. Enter your email and password again.",
    )
}

/// Back to the password step, saying why (expired, or too many wrong codes).
fn expired_because(message: &str) -> HttpResponse {
    if message.starts_with("too many") {
        redirect_flash(
            "/login",
            "error",
            "Too many wrong codes for this sign-in attempt. Enter your email and password again.",
        )
    } else {
        expired()
    }
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaTpl {
    l: Layout,
    f: FormState,
    /// `choose`, `totp`, `webauthn` or `recovery`.
    method: String,
    has_totp: bool,
    has_webauthn: bool,
    next: String,
}

#[derive(Deserialize)]
struct MfaQuery {
    method: Option<String>,
    next: Option<String>,
}

fn mfa_tpl(req: &HttpRequest, csrf: &str, pre: &PreAuth, method: &str, next: String) -> MfaTpl {
    let has = |m: &str| pre.methods.iter().any(|x| x == m);
    let (has_totp, has_webauthn) = (has("totp"), has("webauthn"));
    let method = match method {
        "totp" if has_totp => "totp",
        "webauthn" if has_webauthn => "webauthn",
        "recovery" => "recovery",
        _ if has_totp && has_webauthn => "choose",
        _ if has_webauthn => "webauthn",
        _ if has_totp => "totp",
        _ => "recovery",
    };
    MfaTpl {
        l: anon_layout(req, "Two-step verification", csrf),
        f: FormState::new(),
        method: method.to_string(),
        has_totp,
        has_webauthn,
        next,
    }
}

async fn mfa_page(req: HttpRequest, q: web::Query<MfaQuery>) -> Result<HttpResponse, PageError> {
    let Some(pre) = preauth(&req) else {
        return Ok(expired());
    };
    let csrf = login_csrf(&req);
    let tpl = mfa_tpl(
        &req,
        &csrf.0,
        &pre,
        q.method.as_deref().unwrap_or_default(),
        safe_next(q.next.as_deref()),
    );
    anon_page(&req, StatusCode::OK, csrf, &tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
    next: String,
}

fn finish_login(session: &NewSession, next: &str) -> Result<HttpResponse, PageError> {
    let mut resp = redirect(next);
    resp.add_cookie(&session_cookie(&session.token))
        .map_err(PageError::internal)?;
    resp.add_cookie(&removal(cookies::preauth_name(), "/login"))
        .map_err(PageError::internal)?;
    Ok(resp)
}

async fn mfa_code(
    req: HttpRequest,
    state: Data,
    form: CodeForm,
    recovery: bool,
) -> Result<HttpResponse, PageError> {
    let Some(pre) = preauth(&req) else {
        return Ok(expired());
    };
    let next = safe_next(Some(&form.next));
    let auth = state.auth.clone();
    let client = client_info(&req);
    let (token, code) = (pre.token.clone(), form.code.clone());
    let result = web::block(move || {
        if recovery {
            auth.login_recovery(&token, &code, &client)
        } else {
            auth.login_totp(&token, &code, &client)
        }
    })
    .await?;
    let err = match result {
        Ok((session, _)) => return finish_login(&session, &next),
        Err(auth::Error::Unauthenticated(m)) => return Ok(expired_because(&m)),
        Err(e) => e,
    };
    let csrf = login_csrf(&req);
    let method = if recovery { "recovery" } else { "totp" };
    let mut tpl = mfa_tpl(&req, &csrf.0, &pre, method, next);
    let status = match err {
        auth::Error::Throttled(secs) => {
            tpl.f.error(
                "code",
                format!(
                    "Too many wrong codes for this account. Wait {secs} seconds and try again."
                ),
            );
            StatusCode::TOO_MANY_REQUESTS
        }
        other => {
            tpl.f.absorb(other, &[])?;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    anon_page(&req, status, csrf, &tpl)
}

async fn mfa_totp(
    req: HttpRequest,
    state: Data,
    form: LoginForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    mfa_code(req, state, form.form, false).await
}

async fn mfa_recovery(
    req: HttpRequest,
    state: Data,
    form: LoginForm<CodeForm>,
) -> Result<HttpResponse, PageError> {
    mfa_code(req, state, form.form, true).await
}

fn json_csrf(req: &HttpRequest) -> Result<(), ApiError> {
    let header = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    check_login_csrf(req, header).map_err(|_| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "the sign-in form expired; reload the page",
        )
    })
}

fn preauth_json(req: &HttpRequest) -> Result<PreAuth, ApiError> {
    preauth(req).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the sign-in attempt expired; sign in again",
        )
    })
}

async fn mfa_webauthn_start(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    json_csrf(&req)?;
    let pre = preauth_json(&req)?;
    let auth = state.auth.clone();
    let ceremony = web::block(move || auth.start_webauthn_login(&pre.token)).await??;
    Ok(HttpResponse::Ok().json(ceremony))
}

#[derive(Deserialize)]
struct WebauthnFinish {
    ceremony_token: String,
    credential: PublicKeyCredential,
    #[serde(default)]
    next: Option<String>,
}

async fn mfa_webauthn_finish(
    req: HttpRequest,
    state: Data,
    body: web::Json<WebauthnFinish>,
) -> Result<HttpResponse, ApiError> {
    json_csrf(&req)?;
    let pre = preauth_json(&req)?;
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let next = safe_next(b.next.as_deref());
    let (session, _) = web::block(move || {
        auth.finish_webauthn_login(&pre.token, &b.ceremony_token, &b.credential, &client)
    })
    .await??;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&session.token))
        .cookie(removal(cookies::preauth_name(), "/login"))
        .json(json!({ "redirect": next })))
}

// ---------------------------------------------------------------- logout

#[derive(Deserialize, Default)]
struct Empty {}

async fn logout(
    state: Data,
    form: Result<EnrollForm<Empty>, PageError>,
) -> Result<HttpResponse, PageError> {
    let form = match form {
        Ok(f) => f.0,
        // No session (expired already): nothing to end.
        Err(PageError::Redirect(_)) => return Ok(redirect("/login")),
        Err(e) => return Err(e),
    };
    let auth = state.auth.clone();
    let token = form.page.session_token.clone();
    web::block(move || auth.logout(&token)).await??;
    let mut resp = redirect_flash("/login", "success", "You have been signed out.");
    let mut gone = session_cookie("");
    gone.make_removal();
    resp.add_cookie(&gone).map_err(PageError::internal)?;
    Ok(resp)
}

// ---------------------------------------------------------------- MFA enrollment

#[derive(Template)]
#[template(path = "enroll.html")]
struct EnrollTpl {
    l: Layout,
    totp_pending: bool,
    webauthn_available: bool,
    /// Inline errors of the authenticator form (`password`).
    f: FormState,
}

async fn enroll_tpl(state: &Data, p: &page::Page, f: FormState) -> Result<EnrollTpl, PageError> {
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    // Only a setup started by this very session counts as pending here.
    let pending = web::block(move || auth.pending_totp(&caller)).await??;
    Ok(EnrollTpl {
        l: p.layout("Protect your account", Nav::None, ""),
        totp_pending: pending.is_some(),
        webauthn_available: state.auth.webauthn.is_ok(),
        f,
    })
}

async fn enroll_page(state: Data, p: EnrollPage) -> Result<HttpResponse, PageError> {
    let p = p.0;
    if !p.caller.mfa_enrollment_pending {
        return Ok(redirect("/settings/account"));
    }
    let tpl = enroll_tpl(&state, &p, FormState::new()).await?;
    p.respond(&tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    password: String,
}

async fn enroll_totp_start(
    state: Data,
    form: EnrollForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form.0;
    if !p.caller.mfa_enrollment_pending {
        return Ok(redirect("/settings/account"));
    }
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    match web::block(move || auth.start_totp(&caller, Some(&f.password), None)).await? {
        Ok(_) => Ok(redirect("/mfa/enroll/totp")),
        Err(e) => {
            let mut fs = FormState::new();
            let status = if matches!(e, auth::Error::Throttled(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            match e {
                auth::Error::Throttled(secs) => fs.error(
                    "password",
                    format!("Too many wrong passwords. Wait {secs} seconds and try again."),
                ),
                other => fs.absorb(other, &[])?,
            }
            let tpl = enroll_tpl(&state, &p, fs).await?;
            p.respond_status(status, &tpl)
        }
    }
}

/// The authenticator-app setup step (QR, secret, confirm form), shared with Settings.
#[derive(Template)]
#[template(path = "totp_setup.html")]
pub(super) struct TotpSetupTpl {
    pub l: Layout,
    pub f: FormState,
    pub enrollment: TotpEnrollment,
    pub action: &'static str,
    pub cancel: &'static str,
}

/// Sets the cookie of a session rotated by a factor change (the old cookie is dead).
pub(super) fn set_rotated(
    resp: &mut HttpResponse,
    session: Option<&NewSession>,
) -> Result<(), PageError> {
    if let Some(s) = session {
        resp.add_cookie(&session_cookie(&s.token))
            .map_err(PageError::internal)?;
    }
    Ok(())
}

/// Shows the recovery codes once (after the first factor or a regeneration).
#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(super) struct RecoveryCodesTpl {
    pub l: Layout,
    pub codes: Vec<String>,
    pub continue_to: &'static str,
    pub intro: &'static str,
}

async fn enroll_totp_page(state: Data, p: EnrollPage) -> Result<HttpResponse, PageError> {
    let p = p.0;
    if !p.caller.mfa_enrollment_pending {
        return Ok(redirect("/settings/account"));
    }
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let Some(enrollment) = web::block(move || auth.pending_totp(&caller)).await?? else {
        return Ok(redirect("/mfa/enroll"));
    };
    let tpl = TotpSetupTpl {
        l: p.layout("Set up your authenticator app", Nav::None, ""),
        f: FormState::new(),
        enrollment,
        action: "/mfa/enroll/totp/confirm",
        cancel: "/mfa/enroll",
    };
    p.respond(&tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmForm {
    code: String,
}

async fn enroll_totp_confirm(
    state: Data,
    form: EnrollForm<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form.0;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let code = f.code.clone();
    match web::block(move || auth.confirm_totp(&caller, &code)).await? {
        Ok(change) if change.recovery_codes.is_empty() => {
            let mut resp = redirect_flash("/", "success", "Authenticator app enabled.");
            set_rotated(&mut resp, change.session.as_ref())?;
            Ok(resp)
        }
        Ok(change) => {
            // The session is enrolled now (under a new cookie): full navigation again.
            let mut l = p.layout("Save your recovery codes", Nav::None, "");
            l.enrolling = false;
            if let Some(s) = &change.session {
                l.csrf = s.csrf_token.clone();
            }
            l.flash = Some(page::Flash {
                kind: "success",
                message: "Authenticator app enabled.".into(),
            });
            let mut resp = p.respond(&RecoveryCodesTpl {
                l,
                codes: change.recovery_codes,
                continue_to: "/",
                intro: "Your account is now protected by your authenticator app.",
            })?;
            set_rotated(&mut resp, change.session.as_ref())?;
            Ok(resp)
        }
        Err(e) => {
            let mut fs = FormState::new();
            fs.absorb(e, &[])?;
            let auth = state.auth.clone();
            let caller = p.caller.clone();
            let Some(enrollment) = web::block(move || auth.pending_totp(&caller)).await?? else {
                return Ok(redirect("/mfa/enroll"));
            };
            p.respond_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &TotpSetupTpl {
                    l: p.layout("Set up your authenticator app", Nav::None, ""),
                    f: fs,
                    enrollment,
                    action: "/mfa/enroll/totp/confirm",
                    cancel: "/mfa/enroll",
                },
            )
        }
    }
}
