//! `/api` endpoints of the identity layer: setup, login with MFA, logout, me, password,
//! MFA enrollment, users (admins), workspaces, API keys. Each handler extracts, makes one
//! [`AuthService`](crate::auth::AuthService) call in `web::block`, and responds.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::caller::{Enrolling, client_info};
use super::{ApiError, AppState, cookies};
use crate::auth::api_keys::NewKeyRequest;
use crate::auth::sessions::{LoginOutcome, NewSession};
use crate::auth::users::{NewUser, User};
use crate::auth::{Caller, Via};
use actix_web::FromRequest as _;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/setup", web::get().to(setup_status))
        .route("/api/setup", web::post().to(setup))
        .route("/api/auth/login", web::post().to(login))
        .route("/api/auth/logout", web::post().to(logout))
        .route("/api/auth/signup", web::get().to(signup_policy))
        .route("/api/auth/signup", web::post().to(signup))
        .route("/api/auth/signup/verify", web::post().to(signup_verify))
        .route(
            "/api/auth/password-reset/{token}",
            web::get().to(password_reset_info),
        )
        .route(
            "/api/auth/password-reset/{token}",
            web::post().to(password_reset),
        )
        .route("/api/auth/mfa/totp", web::post().to(login_totp))
        .route("/api/auth/mfa/recovery", web::post().to(login_recovery))
        .route(
            "/api/auth/mfa/webauthn/start",
            web::post().to(login_webauthn_start),
        )
        .route(
            "/api/auth/mfa/webauthn/finish",
            web::post().to(login_webauthn_finish),
        )
        .route("/api/me", web::get().to(me))
        .route("/api/me/password", web::post().to(change_password))
        .route("/api/me/sessions", web::get().to(my_sessions))
        .route("/api/me/sessions", web::delete().to(revoke_all_sessions))
        .route("/api/me/sessions/{id}", web::delete().to(revoke_session))
        .route("/api/mfa", web::get().to(mfa_status))
        .route("/api/mfa/totp/setup", web::post().to(totp_setup))
        .route("/api/mfa/totp/confirm", web::post().to(totp_confirm))
        .route("/api/mfa/totp/remove", web::post().to(totp_remove))
        .route("/api/mfa/recovery-codes", web::post().to(recovery_codes))
        .route(
            "/api/mfa/webauthn/register/start",
            web::post().to(webauthn_register_start),
        )
        .route(
            "/api/mfa/webauthn/register/finish",
            web::post().to(webauthn_register_finish),
        )
        .route("/api/mfa/webauthn/{id}", web::patch().to(webauthn_rename))
        .route(
            "/api/mfa/webauthn/{id}/remove",
            web::post().to(webauthn_remove),
        )
        .route("/api/users", web::get().to(list_users))
        .route("/api/users", web::post().to(create_user))
        .route("/api/users/{id}", web::get().to(get_user))
        .route("/api/users/{id}", web::patch().to(update_user))
        .route("/api/users/{id}/disable", web::post().to(disable_user))
        .route("/api/users/{id}/enable", web::post().to(enable_user))
        .route("/api/users/{id}/reset-mfa", web::post().to(reset_mfa))
        .route(
            "/api/users/{id}/password-reset",
            web::post().to(issue_password_reset),
        )
        .route("/api/api-keys", web::get().to(list_keys))
        .route("/api/api-keys", web::post().to(create_key))
        .route("/api/api-keys/{id}", web::delete().to(revoke_key));
}

type Data = web::Data<AppState>;

fn session_cookie(token: &str) -> Cookie<'static> {
    cookies::session(token)
}

fn signed_in(session: NewSession, user: User, enroll: bool) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(session_cookie(&session.token))
        .json(json!({
            "user": user,
            "csrf_token": session.csrf_token,
            "mfa_enrollment_required": enroll,
        }))
}

#[derive(Deserialize)]
struct SetupRequest {
    email: String,
    #[serde(alias = "display_name")]
    name: String,
    password: String,
}

async fn setup_status(state: Data) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let needed = web::block(move || auth.setup_needed()).await??;
    Ok(HttpResponse::Ok().json(json!({ "needed": needed })))
}

async fn setup(state: Data, body: web::Json<SetupRequest>) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let b = body.into_inner();
    let user = web::block(move || auth.setup(&b.email, &b.name, &b.password)).await??;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

async fn login(
    req: HttpRequest,
    state: Data,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let outcome = web::block(move || auth.login(&b.email, &b.password, &client)).await??;
    Ok(match outcome {
        LoginOutcome::Session {
            session,
            user,
            mfa_enrollment_required,
        } => signed_in(session, user, mfa_enrollment_required),
        LoginOutcome::MfaRequired {
            pre_auth_token,
            methods,
        } => HttpResponse::Ok().json(json!({
            "mfa_required": true,
            "methods": methods,
            "pre_auth_token": pre_auth_token,
        })),
    })
}

#[derive(Deserialize)]
struct MfaCodeRequest {
    pre_auth_token: String,
    code: String,
}

async fn login_totp(
    req: HttpRequest,
    state: Data,
    body: web::Json<MfaCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let (session, user) =
        web::block(move || auth.login_totp(&b.pre_auth_token, &b.code, &client)).await??;
    Ok(signed_in(session, user, false))
}

async fn login_recovery(
    req: HttpRequest,
    state: Data,
    body: web::Json<MfaCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let (session, user) =
        web::block(move || auth.login_recovery(&b.pre_auth_token, &b.code, &client)).await??;
    Ok(signed_in(session, user, false))
}

#[derive(Deserialize)]
struct PreAuth {
    pre_auth_token: String,
}

async fn login_webauthn_start(
    state: Data,
    body: web::Json<PreAuth>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token = body.into_inner().pre_auth_token;
    let ceremony = web::block(move || auth.start_webauthn_login(&token)).await??;
    Ok(HttpResponse::Ok().json(ceremony))
}

#[derive(Deserialize)]
struct WebauthnLoginFinish {
    pre_auth_token: String,
    ceremony_token: String,
    credential: PublicKeyCredential,
}

async fn login_webauthn_finish(
    req: HttpRequest,
    state: Data,
    body: web::Json<WebauthnLoginFinish>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let (session, user) = web::block(move || {
        auth.finish_webauthn_login(&b.pre_auth_token, &b.ceremony_token, &b.credential, &client)
    })
    .await??;
    Ok(signed_in(session, user, false))
}

/// `GET /api/auth/signup`: whether self-service signup is open, and for which domains.
async fn signup_policy(state: Data) -> HttpResponse {
    HttpResponse::Ok().json(state.auth.signup_policy())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    #[serde(alias = "display_name")]
    name: String,
    password: String,
}

/// `POST /api/auth/signup {email, name, password}` → 202: a 6-digit code was emailed.
async fn signup(
    req: HttpRequest,
    state: Data,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let started =
        web::block(move || auth.signup(&b.email, &b.name, &b.password, &client)).await??;
    Ok(HttpResponse::Accepted().json(started))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupVerify {
    email: String,
    code: String,
}

/// `POST /api/auth/signup/verify {email, code}` → 201 and a session, like a sign-in.
async fn signup_verify(
    req: HttpRequest,
    state: Data,
    body: web::Json<SignupVerify>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let client = client_info(&req);
    let b = body.into_inner();
    let (session, user, enroll) =
        web::block(move || auth.verify_signup(&b.email, &b.code, &client)).await??;
    let mut resp = signed_in(session, user, enroll);
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// `GET /api/auth/password-reset/{token}`: the account a reset link is for.
async fn password_reset_info(
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token = path.into_inner();
    let info = web::block(move || auth.password_reset_info(&token)).await??;
    Ok(HttpResponse::Ok().json(info))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    password: String,
}

/// `POST /api/auth/password-reset/{token} {password}`: sets the password; every session of
/// the account ends (sign in again).
async fn password_reset(
    state: Data,
    path: web::Path<String>,
    body: web::Json<NewPassword>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let token = path.into_inner();
    let password = body.into_inner().password;
    let user = web::block(move || auth.complete_password_reset(&token, &password)).await??;
    Ok(HttpResponse::Ok().json(json!({"reset": true, "email": user.email})))
}

/// `POST /api/users/{id}/password-reset` (admins): issues a one-time reset link, emailed
/// when SMTP is configured and returned either way.
async fn issue_password_reset(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let link = web::block(move || auth.issue_password_reset(&caller, &id)).await??;
    Ok(HttpResponse::Created().json(link))
}

async fn logout(req: HttpRequest, state: Data) -> Result<HttpResponse, ApiError> {
    // Logging out needs the CSRF token like any other state change (via the extractor);
    // without a session there is nothing to end.
    if let Some(cookie) = req.cookie(cookies::session_name()) {
        let Enrolling(_caller) = Enrolling::extract(&req).await?;
        let auth = state.auth.clone();
        let token = cookie.value().to_string();
        web::block(move || auth.logout(&token)).await??;
    }
    Ok(HttpResponse::NoContent()
        .cookie(cookies::session_removal())
        .finish())
}

async fn me(state: Data, caller: Enrolling) -> Result<HttpResponse, ApiError> {
    let caller = caller.0;
    // A key's answer depends only on the platform database: reused while it is unchanged
    // (issue 18). Sessions carry their own CSRF token and MFA enrollment state: not reused.
    let memo_key = match &caller.via {
        Via::ApiKey { key_id, .. } => Some(format!("me:{key_id}")),
        Via::Session { .. } => None,
    };
    let memo = &state.auth.memo;
    if let Some(body) = memo_key.as_deref().and_then(|k| memo.get::<web::Bytes>(k)) {
        return Ok(json_body(body));
    }
    let seen = memo.seen();
    let auth = state.auth.clone();
    let id = caller.user_id.clone();
    let who = caller.clone();
    let (user, mfa, workspaces) = web::block(move || {
        let user = auth.user(&id)?;
        let mfa = auth.mfa_status(&who)?;
        let ws = auth.list_workspaces(&id)?;
        Ok::<_, crate::auth::Error>((user, mfa, ws))
    })
    .await??;
    let csrf = match &caller.via {
        Via::Session { csrf_token, .. } => Some(csrf_token.clone()),
        Via::ApiKey { .. } => None,
    };
    let body = serde_json::to_vec(&json!({
        "user": user,
        "workspace_id": caller.workspace_id,
        "workspaces": workspaces,
        "auth": match caller.scope() { Some(s) => s.as_str(), None => "session" },
        "csrf_token": csrf,
        "mfa": mfa,
        "mfa_enrollment_required": caller.mfa_enrollment_pending,
    }))
    .map_err(|e| ApiError::internal(format!("serializing /api/me: {e}")))?;
    let body = web::Bytes::from(body);
    if let Some(k) = memo_key {
        memo.put(seen, k, body.clone());
    }
    Ok(json_body(body))
}

fn json_body(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    new_password: String,
    /// Also revoke every API key of the account (they do not depend on the password).
    #[serde(default)]
    revoke_api_keys: bool,
}

/// `POST /api/me/password`: `{current_password, new_password, revoke_api_keys?}` →
/// `{sessions_ended, api_keys_revoked, api_keys_still_valid}`.
async fn change_password(
    state: Data,
    caller: Enrolling,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let b = body.into_inner();
    let done = web::block(move || {
        auth.change_password(
            &caller.0,
            &b.current_password,
            &b.new_password,
            b.revoke_api_keys,
        )
    })
    .await??;
    Ok(HttpResponse::Ok().json(done))
}

async fn my_sessions(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let list = web::block(move || auth.list_sessions(&caller)).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// `DELETE /api/me/sessions/{id}`: ends one of the caller's sessions (their own included,
/// which also removes the cookie).
async fn revoke_session(
    state: Data,
    caller: Enrolling,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let current = match &caller.0.via {
        Via::Session { token_hash, .. } => token_hash.starts_with(&id.to_ascii_lowercase()),
        Via::ApiKey { .. } => false,
    };
    web::block(move || auth.revoke_session(&caller.0, &id)).await??;
    let mut resp = HttpResponse::NoContent();
    if current {
        resp.cookie(cookies::session_removal());
    }
    Ok(resp.finish())
}

/// `DELETE /api/me/sessions`: "sign out everywhere", this session included.
async fn revoke_all_sessions(state: Data, caller: Enrolling) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let n = web::block(move || auth.revoke_all_sessions(&caller.0)).await??;
    Ok(HttpResponse::Ok()
        .cookie(cookies::session_removal())
        .json(json!({ "sessions_ended": n })))
}

async fn mfa_status(state: Data, caller: Enrolling) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let status = web::block(move || auth.mfa_status(&caller.0)).await??;
    Ok(HttpResponse::Ok().json(status))
}

#[derive(Deserialize, Default)]
struct TotpSetup {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

fn require_session(caller: &Caller) -> Result<(), ApiError> {
    match caller.via {
        Via::Session { .. } => Ok(()),
        Via::ApiKey { .. } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "account security settings need a signed-in session, not an API key",
        )),
    }
}

async fn totp_setup(
    state: Data,
    caller: Enrolling,
    body: Option<web::Json<TotpSetup>>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller.0)?;
    let auth = state.auth.clone();
    let b = body.map(web::Json::into_inner).unwrap_or_default();
    let enrollment =
        web::block(move || auth.start_totp(&caller.0, b.password.as_deref(), b.code.as_deref()))
            .await??;
    Ok(HttpResponse::Ok().json(enrollment))
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

async fn totp_confirm(
    state: Data,
    caller: Enrolling,
    body: web::Json<Code>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller.0)?;
    let auth = state.auth.clone();
    let code = body.into_inner().code;
    let change = web::block(move || auth.confirm_totp(&caller.0, &code)).await??;
    Ok(factor_added(
        HttpResponse::Ok(),
        json!({ "enabled": true }),
        change,
    ))
}

/// The answer to an added factor: the rotated session as a new cookie (the old one no longer
/// works) and its CSRF token, the recovery codes, and how many other sessions ended.
fn factor_added(
    mut resp: actix_web::HttpResponseBuilder,
    mut body: serde_json::Value,
    change: crate::auth::mfa::FactorChange,
) -> HttpResponse {
    body["recovery_codes"] = json!(change.recovery_codes);
    body["sessions_ended"] = json!(change.sessions_ended);
    if let Some(session) = change.session {
        body["csrf_token"] = json!(session.csrf_token);
        resp.cookie(session_cookie(&session.token));
    }
    resp.json(body)
}

#[derive(Deserialize)]
struct Password {
    /// Missing is the same as empty: "password is required".
    #[serde(default)]
    password: String,
}

async fn totp_remove(
    state: Data,
    caller: Caller,
    body: web::Json<Password>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller)?;
    let auth = state.auth.clone();
    let pw = body.into_inner().password;
    web::block(move || auth.remove_totp(&caller, &pw)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn recovery_codes(
    state: Data,
    caller: Caller,
    body: web::Json<Password>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller)?;
    let auth = state.auth.clone();
    let pw = body.into_inner().password;
    let codes = web::block(move || auth.regenerate_recovery_codes(&caller, &pw)).await??;
    Ok(HttpResponse::Ok().json(json!({ "recovery_codes": codes })))
}

async fn webauthn_register_start(
    state: Data,
    caller: Enrolling,
    body: web::Json<Password>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller.0)?;
    let auth = state.auth.clone();
    let pw = body.into_inner().password;
    let ceremony = web::block(move || auth.start_webauthn_registration(&caller.0, &pw)).await??;
    Ok(HttpResponse::Ok().json(ceremony))
}

#[derive(Deserialize)]
struct WebauthnRegisterFinish {
    ceremony_token: String,
    name: String,
    credential: RegisterPublicKeyCredential,
}

async fn webauthn_register_finish(
    state: Data,
    caller: Enrolling,
    body: web::Json<WebauthnRegisterFinish>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller.0)?;
    let auth = state.auth.clone();
    let b = body.into_inner();
    let (key, change) = web::block(move || {
        auth.finish_webauthn_registration(&caller.0, &b.ceremony_token, &b.name, &b.credential)
    })
    .await??;
    Ok(factor_added(
        HttpResponse::Created(),
        json!({ "key": key }),
        change,
    ))
}

#[derive(Deserialize)]
struct Rename {
    name: String,
}

async fn webauthn_rename(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Rename>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller)?;
    let auth = state.auth.clone();
    let name = body.into_inner().name;
    let id = path.into_inner();
    let key = web::block(move || auth.rename_webauthn_key(&caller, &id, &name)).await??;
    Ok(HttpResponse::Ok().json(key))
}

async fn webauthn_remove(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Password>,
) -> Result<HttpResponse, ApiError> {
    require_session(&caller)?;
    let auth = state.auth.clone();
    let pw = body.into_inner().password;
    let id = path.into_inner();
    web::block(move || auth.remove_webauthn_key(&caller, &id, &pw)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn list_users(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let users = web::block(move || auth.list_users(&caller)).await??;
    Ok(HttpResponse::Ok().json(users))
}

async fn create_user(
    state: Data,
    caller: Caller,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let new = body.into_inner();
    let user = web::block(move || auth.create_user(&caller, &new)).await??;
    Ok(HttpResponse::Created().json(user))
}

async fn get_user(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let user = web::block(move || auth.get_user(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    display_name: Option<String>,
}

async fn update_user(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let p = body.into_inner();
    let user = web::block(move || {
        auth.update_user(
            &caller,
            &id,
            p.role.as_deref(),
            p.disabled,
            p.display_name.as_deref(),
        )
    })
    .await??;
    Ok(HttpResponse::Ok().json(user))
}

async fn set_disabled(
    state: Data,
    caller: Caller,
    id: String,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let user =
        web::block(move || auth.update_user(&caller, &id, None, Some(disabled), None)).await??;
    Ok(HttpResponse::Ok().json(user))
}

async fn disable_user(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(state, caller, path.into_inner(), true).await
}

async fn enable_user(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(state, caller, path.into_inner(), false).await
}

async fn reset_mfa(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let user = web::block(move || auth.reset_mfa(Some(&caller), &id)).await??;
    Ok(HttpResponse::Ok().json(user))
}

async fn list_keys(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let keys = web::block(move || auth.list_api_keys(&caller)).await??;
    Ok(HttpResponse::Ok().json(keys))
}

async fn create_key(
    state: Data,
    caller: Caller,
    body: web::Json<NewKeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let req = body.into_inner();
    let key = web::block(move || auth.create_api_key(&caller, &req)).await??;
    Ok(HttpResponse::Created().json(key))
}

async fn revoke_key(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let id = path.into_inner();
    let key = web::block(move || auth.revoke_api_key(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(key))
}
