//! Settings pages: Account (password, authenticator app, security keys, recovery codes),
//! API keys, Users (admins) and Integrations (MCP and CI snippets). Each POST is a
//! [`PageForm`]: validation errors re-render the page with inline messages (422), success
//! redirects with a flash message, and secrets (API keys, recovery codes) are rendered once
//! in the POST's own response, never stored for later display.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect, redirect_flash};
use super::signin::{RecoveryCodesTpl, TotpSetupTpl, set_rotated};
use crate::auth::api_keys::{ApiKey, CreatedKey, NewKeyRequest};
use crate::auth::mfa::MfaStatus;
use crate::auth::sessions::SessionInfo;
use crate::auth::users::{NewUser, User};
use crate::auth::{self, Role};
use crate::tenancy::workspaces::WorkspaceInfo as Workspace;
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings", web::get().to(settings_root))
        .route("/settings/account", web::get().to(account))
        .route(
            "/settings/account/password",
            web::post().to(change_password),
        )
        .route("/settings/account/totp", web::post().to(totp_start))
        .route("/settings/account/totp", web::get().to(totp_page))
        .route(
            "/settings/account/totp/confirm",
            web::post().to(totp_confirm),
        )
        .route("/settings/account/totp/remove", web::post().to(totp_remove))
        .route(
            "/settings/account/recovery-codes",
            web::post().to(recovery_codes),
        )
        .route(
            "/settings/account/keys/{id}/rename",
            web::post().to(key_rename),
        )
        .route(
            "/settings/account/keys/{id}/remove",
            web::post().to(key_remove),
        )
        .route(
            "/settings/account/sessions/{id}/revoke",
            web::post().to(session_revoke),
        )
        .route(
            "/settings/account/sessions/revoke-all",
            web::post().to(sessions_revoke_all),
        )
        .route(
            "/settings/account/apps/{id}/revoke",
            web::post().to(app_revoke),
        )
        .route("/settings/api-keys", web::get().to(api_keys))
        .route("/settings/api-keys", web::post().to(api_key_create))
        .route(
            "/settings/api-keys/{id}/revoke",
            web::post().to(api_key_revoke),
        )
        .route("/settings/users", web::get().to(users))
        .route("/settings/users", web::post().to(user_create))
        .route("/settings/users/{id}/role", web::post().to(user_role))
        .route("/settings/users/{id}/disable", web::post().to(user_disable))
        .route("/settings/users/{id}/enable", web::post().to(user_enable))
        .route(
            "/settings/users/{id}/reset-mfa",
            web::post().to(user_reset_mfa),
        )
        .route(
            "/settings/users/{id}/reset-link",
            web::post().to(user_reset_link),
        )
        .route("/settings/mail/{id}/retry", web::post().to(mail_retry))
        .route(
            "/settings/oauth-clients/{id}/revoke",
            web::post().to(oauth_client_revoke),
        )
        .route("/settings/integrations", web::get().to(integrations))
        .route(
            "/settings/integrations/{org}/jira/account",
            web::post().to(account_connect),
        )
        .route(
            "/settings/integrations/{org}/jira/account/delete",
            web::post().to(account_disconnect),
        )
        .route(
            "/settings/integrations/{org}/{kind}",
            web::post().to(integration_save),
        )
        .route(
            "/settings/integrations/{org}/{kind}/test",
            web::post().to(integration_test),
        );
}

async fn settings_root(_p: Page) -> HttpResponse {
    redirect("/settings/account")
}

/// Short date of a stored RFC 3339 time ("2026-11-23 10:42 UTC").
pub(super) fn when(t: &str) -> String {
    let parsed = auth::parse_time(t);
    if parsed.timestamp() == 0 {
        return "—".into();
    }
    parsed.format("%Y-%m-%d %H:%M UTC").to_string()
}

// ---------------------------------------------------------------- account

/// Which form of the account page a submission came from, for inline errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AccountForm {
    Password,
    Totp,
    TotpRemove,
    Recovery,
}

/// One authorized application as the account page shows it.
struct AuthorizedAppRow {
    id: String,
    name: String,
    workspace: String,
    scope: String,
    mcp_only: bool,
    created_at: String,
}

#[derive(Template)]
#[template(path = "settings_account.html")]
struct AccountTpl {
    l: Layout,
    user: User,
    mfa: MfaStatus,
    sessions: Vec<SessionInfo>,
    /// Applications (MCP clients) the user authorized with OAuth.
    apps: Vec<AuthorizedAppRow>,
    /// API keys of the account that are not revoked (they survive a password change).
    active_api_keys: usize,
    webauthn_available: bool,
    /// Inline errors of the submitted form; field names are prefixed by form
    /// (`pw.`, `totp.`, `totp_remove.`, `recovery.`, `key.<id>.`).
    f: FormState,
}

impl AccountTpl {
    fn key_when(&self, t: &str) -> String {
        when(t)
    }

    fn key_last_used(&self, t: Option<&str>) -> String {
        t.map_or_else(|| "never".to_string(), when)
    }

    fn key_err(&self, id: &str) -> Option<&str> {
        self.f.err(&format!("key.{id}"))
    }
}

async fn account_tpl(state: &Data, p: &Page, f: FormState) -> Result<AccountTpl, PageError> {
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let (user, mfa, sessions, keys, grants, workspaces) = web::block(move || {
        let id = caller.user_id.clone();
        Ok::<_, auth::Error>((
            auth.user(&id)?,
            auth.mfa_status(&caller)?,
            auth.list_sessions(&caller)?,
            auth.list_api_keys(&caller)?,
            auth.oauth_list_grants(&caller)?,
            auth.list_workspaces(&id)?,
        ))
    })
    .await??;
    let apps = grants
        .into_iter()
        .map(|g| AuthorizedAppRow {
            workspace: workspaces
                .iter()
                .find(|w| w.id == g.workspace_id)
                .map_or_else(|| g.workspace_id.clone(), |w| w.name.clone()),
            mcp_only: g.resource.ends_with("/mcp"),
            created_at: when(&g.created_at),
            id: g.id,
            name: g.client_name,
            scope: g.scope,
        })
        .collect();
    Ok(AccountTpl {
        l: p.layout("Account", Nav::Settings, "account"),
        user,
        mfa,
        sessions,
        apps,
        active_api_keys: keys.iter().filter(|k| k.revoked_at.is_none()).count(),
        webauthn_available: state.auth.webauthn.is_ok(),
        f,
    })
}

async fn account(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let tpl = account_tpl(&state, &p, FormState::new()).await?;
    p.respond(&tpl)
}

async fn account_errors(
    state: &Data,
    p: &Page,
    which: AccountForm,
    err: auth::Error,
    fields: &[(&str, &str)],
) -> Result<HttpResponse, PageError> {
    let prefix = match which {
        AccountForm::Password => "pw",
        AccountForm::Totp => "totp",
        AccountForm::TotpRemove => "totp_remove",
        AccountForm::Recovery => "recovery",
    };
    let mut raw = FormState::new();
    raw.absorb(err, fields)?;
    let mut f = FormState::new();
    for field in [
        "general",
        "current_password",
        "new_password",
        "new_password_confirm",
        "password",
        "code",
        "name",
    ] {
        if let Some(m) = raw.err(field) {
            f.error(format!("{prefix}.{field}"), m);
        }
    }
    let tpl = account_tpl(state, p, f).await?;
    p.respond_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
    /// Checkbox: also revoke every API key of the account.
    revoke_api_keys: Option<String>,
}

async fn change_password(
    state: Data,
    form: PageForm<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    if f.new_password != f.new_password_confirm {
        return account_errors(
            &state,
            &p,
            AccountForm::Password,
            auth::Error::Invalid {
                field: "new_password_confirm",
                message: "The two new passwords do not match".into(),
            },
            &[],
        )
        .await;
    }
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let revoke = f.revoke_api_keys.is_some();
    match web::block(move || {
        auth.change_password(&caller, &f.current_password, &f.new_password, revoke)
    })
    .await?
    {
        Ok(done) => {
            let keys = if done.api_keys_revoked > 0 {
                format!(" {} API key(s) were revoked.", done.api_keys_revoked)
            } else if done.api_keys_still_valid > 0 {
                format!(
                    " Your {} API key(s) stay valid: they do not depend on your password.",
                    done.api_keys_still_valid
                )
            } else {
                String::new()
            };
            Ok(redirect_flash(
                "/settings/account",
                "success",
                format!("Password changed. Your other sessions were signed out.{keys}"),
            ))
        }
        Err(e) => account_errors(&state, &p, AccountForm::Password, e, &[]).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TotpStartForm {
    password: String,
    code: String,
}

async fn totp_start(state: Data, form: PageForm<TotpStartForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let result = web::block(move || {
        let pw = (!f.password.is_empty()).then_some(f.password.as_str());
        let code = (!f.code.is_empty()).then_some(f.code.as_str());
        auth.start_totp(&caller, pw, code)
    })
    .await?;
    match result {
        Ok(_) => Ok(redirect("/settings/account/totp")),
        Err(e) => account_errors(&state, &p, AccountForm::Totp, e, &[]).await,
    }
}

async fn totp_page(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let Some(enrollment) = web::block(move || auth.pending_totp(&caller)).await?? else {
        return Ok(redirect("/settings/account"));
    };
    p.respond(&TotpSetupTpl {
        l: p.layout("Set up your authenticator app", Nav::Settings, "account"),
        f: FormState::new(),
        enrollment,
        action: "/settings/account/totp/confirm",
        cancel: "/settings/account",
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    code: String,
}

async fn totp_confirm(state: Data, form: PageForm<CodeForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    match web::block(move || auth.confirm_totp(&caller, &f.code)).await? {
        Ok(change) if change.recovery_codes.is_empty() => {
            let mut resp = redirect_flash(
                "/settings/account",
                "success",
                ended_note("Authenticator app enabled.", change.sessions_ended),
            );
            set_rotated(&mut resp, change.session.as_ref())?;
            Ok(resp)
        }
        Ok(change) => {
            let mut l = p.layout("Save your recovery codes", Nav::Settings, "account");
            if let Some(s) = &change.session {
                l.csrf = s.csrf_token.clone();
            }
            let mut resp = p.respond(&RecoveryCodesTpl {
                l,
                codes: change.recovery_codes,
                continue_to: "/settings/account",
                intro: "Your authenticator app is enabled.",
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
                return Ok(redirect("/settings/account"));
            };
            p.respond_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &TotpSetupTpl {
                    l: p.layout("Set up your authenticator app", Nav::Settings, "account"),
                    f: fs,
                    enrollment,
                    action: "/settings/account/totp/confirm",
                    cancel: "/settings/account",
                },
            )
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordOnly {
    password: String,
}

async fn totp_remove(state: Data, form: PageForm<PasswordOnly>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    match web::block(move || auth.remove_totp(&caller, &f.password)).await? {
        Ok(()) => Ok(redirect_flash(
            "/settings/account",
            "success",
            "Authenticator app removed.",
        )),
        Err(e) => account_errors(&state, &p, AccountForm::TotpRemove, e, &[]).await,
    }
}

async fn recovery_codes(
    state: Data,
    form: PageForm<PasswordOnly>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    match web::block(move || auth.regenerate_recovery_codes(&caller, &f.password)).await? {
        Ok(codes) => p.respond(&RecoveryCodesTpl {
            l: p.layout("New recovery codes", Nav::Settings, "account"),
            codes,
            continue_to: "/settings/account",
            intro: "Your previous recovery codes no longer work.",
        }),
        Err(e) => account_errors(&state, &p, AccountForm::Recovery, e, &[]).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RenameForm {
    name: String,
}

async fn key_rename(
    state: Data,
    path: web::Path<String>,
    form: PageForm<RenameForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let key_id = id.clone();
    match web::block(move || auth.rename_webauthn_key(&caller, &key_id, &f.name)).await? {
        Ok(k) => Ok(redirect_flash(
            "/settings/account",
            "success",
            format!("Security key renamed to “{}”.", k.name),
        )),
        Err(e) => key_error(&state, &p, &id, e).await,
    }
}

async fn key_error(
    state: &Data,
    p: &Page,
    id: &str,
    err: auth::Error,
) -> Result<HttpResponse, PageError> {
    let mut raw = FormState::new();
    raw.absorb(err, &[])?;
    let mut f = FormState::new();
    if let Some(m) = raw
        .err("name")
        .or_else(|| raw.err("password"))
        .or_else(|| raw.err("general"))
    {
        f.error(format!("key.{id}"), m);
    }
    let tpl = account_tpl(state, p, f).await?;
    p.respond_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
}

async fn key_remove(
    state: Data,
    path: web::Path<String>,
    form: PageForm<PasswordOnly>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let key_id = id.clone();
    match web::block(move || auth.remove_webauthn_key(&caller, &key_id, &f.password)).await? {
        Ok(()) => Ok(redirect_flash(
            "/settings/account",
            "success",
            "Security key removed.",
        )),
        Err(e) => key_error(&state, &p, &id, e).await,
    }
}

/// A success message plus how many other sessions a factor change ended.
fn ended_note(message: &str, ended: usize) -> String {
    if ended == 0 {
        message.to_string()
    } else {
        format!("{message} Your {ended} other session(s) were signed out.")
    }
}

async fn session_revoke(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    let current = match &p.caller.via {
        auth::Via::Session { token_hash, .. } => token_hash.starts_with(&id.to_ascii_lowercase()),
        auth::Via::ApiKey { .. } => false,
    };
    match web::block(move || auth.revoke_session(&caller, &id)).await? {
        Ok(()) if current => signed_out("You signed out this session."),
        Ok(()) => Ok(redirect_flash(
            "/settings/account#sessions",
            "success",
            "Session signed out.",
        )),
        Err(auth::Error::NotFound(_)) => Ok(redirect_flash(
            "/settings/account#sessions",
            "info",
            "That session had already ended.",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn app_revoke(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    match web::block(move || auth.oauth_revoke_grant(&caller, &id)).await? {
        Ok(()) => Ok(redirect_flash(
            "/settings/account#apps",
            "success",
            "Access revoked: the application's tokens stopped working. It has to ask you again to reconnect.",
        )),
        Err(auth::Error::NotFound(_)) => Ok(redirect_flash(
            "/settings/account#apps",
            "info",
            "That application had no access any more.",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn sessions_revoke_all(
    state: Data,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let n = web::block(move || auth.revoke_all_sessions(&caller)).await??;
    signed_out(&format!(
        "You were signed out everywhere ({n} session(s) ended). API keys stay valid; revoke them under Settings → API keys."
    ))
}

/// Back to sign-in after the current session ended, with the cookie removed.
fn signed_out(message: &str) -> Result<HttpResponse, PageError> {
    let mut resp = redirect_flash("/login", "success", message);
    resp.add_cookie(&crate::web::cookies::session_removal())
        .map_err(PageError::internal)?;
    Ok(resp)
}

// ---------------------------------------------------------------- API keys

#[derive(Template)]
#[template(path = "settings_api_keys.html")]
struct ApiKeysTpl {
    l: Layout,
    keys: Vec<ApiKey>,
    workspaces: Vec<Workspace>,
    current_workspace: String,
    created: Option<CreatedKey>,
    f: FormState,
}

impl ApiKeysTpl {
    fn when(&self, t: &str) -> String {
        when(t)
    }

    fn last_used(&self, t: Option<&str>) -> String {
        t.map_or_else(|| "never".to_string(), when)
    }

    fn workspace_name(&self, id: &str) -> String {
        self.workspaces
            .iter()
            .find(|w| w.id == id)
            .map_or_else(|| id.to_string(), |w| w.name.clone())
    }

    /// Verifier keys need an owner or admin role in some workspace.
    fn owns_any(&self) -> bool {
        self.workspaces.iter().any(|w| w.role.can_manage())
    }
}

async fn api_keys_tpl(
    state: &Data,
    p: &Page,
    created: Option<CreatedKey>,
    f: FormState,
) -> Result<ApiKeysTpl, PageError> {
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let (keys, workspaces) = web::block(move || {
        Ok::<_, auth::Error>((
            auth.list_api_keys(&caller)?,
            auth.list_workspaces(&caller.user_id)?,
        ))
    })
    .await??;
    Ok(ApiKeysTpl {
        l: p.layout("API keys", Nav::Settings, "api-keys"),
        keys: keys
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .collect(),
        workspaces,
        current_workspace: p.caller.workspace_id.clone(),
        created,
        f,
    })
}

async fn api_keys(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let tpl = api_keys_tpl(&state, &p, None, FormState::new()).await?;
    p.respond(&tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyForm {
    name: String,
    scope: String,
    workspace_id: String,
}

async fn api_key_create(state: Data, form: PageForm<KeyForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let req = NewKeyRequest {
        name: f.name.trim().to_string(),
        scope: f.scope.clone(),
        workspace_id: (!f.workspace_id.is_empty()).then(|| f.workspace_id.clone()),
    };
    match web::block(move || auth.create_api_key(&caller, &req)).await? {
        Ok(created) => {
            let mut tpl = api_keys_tpl(&state, &p, Some(created), FormState::new()).await?;
            tpl.l.flash = Some(super::page::Flash {
                kind: "success",
                message: "API key created. Copy it now: it is shown only once.".into(),
            });
            p.respond_status(StatusCode::CREATED, &tpl)
        }
        Err(e) => {
            let mut fs = FormState::new()
                .value("name", f.name.trim())
                .value("scope", f.scope.as_str())
                .value("workspace_id", f.workspace_id.as_str());
            match e {
                // An unknown or foreign workspace id is a form mistake here, not a 404.
                auth::Error::NotFound(_) => {
                    fs.error("workspace_id", "Choose one of your workspaces.");
                }
                other => fs.absorb(other, &[])?,
            }
            let tpl = api_keys_tpl(&state, &p, None, fs).await?;
            p.respond_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
        }
    }
}

#[derive(Deserialize, Default)]
struct Empty {}

async fn api_key_revoke(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    let key = web::block(move || auth.revoke_api_key(&caller, &id)).await??;
    Ok(redirect_flash(
        "/settings/api-keys",
        "success",
        format!(
            "API key “{}” revoked. It stops working immediately.",
            key.name
        ),
    ))
}

// ---------------------------------------------------------------- users

#[derive(Template)]
#[template(path = "settings_users.html")]
struct UsersTpl {
    l: Layout,
    users: Vec<User>,
    me: String,
    can_superadmin: bool,
    f: FormState,
    /// A reset link just issued (shown once, like an invitation link).
    reset: Option<auth::reset::ResetLink>,
    /// Outgoing mail is configured.
    smtp: bool,
    /// Mail queue counts.
    mail_stats: crate::mail::MailStats,
    /// Messages waiting for a retry or failed for good (never their bodies).
    mail: Vec<crate::mail::QueuedMail>,
    /// Registered OAuth clients (superadmins only; empty otherwise).
    oauth_clients: Vec<auth::oauth_admin::ClientInfo>,
}

impl UsersTpl {
    fn when(&self, t: &str) -> String {
        when(t)
    }

    fn roles(&self) -> Vec<(&'static str, &'static str)> {
        let mut r = vec![("user", "User"), ("admin", "Admin")];
        if self.can_superadmin {
            r.push(("superadmin", "Superadmin"));
        }
        r
    }
}

async fn users_tpl(state: &Data, p: &Page, f: FormState) -> Result<UsersTpl, PageError> {
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let users = web::block(move || auth.list_users(&caller)).await??;
    let outbox = state.outbox.clone();
    let smtp = outbox.enabled();
    let (mail_stats, mut mail) = web::block(move || {
        Ok::<_, crate::store::Error>((outbox.stats()?, outbox.list(Some("failed"), 50)?))
    })
    .await?
    .map_err(PageError::internal)?;
    let outbox = state.outbox.clone();
    mail.extend(
        web::block(move || outbox.list(Some("pending"), 50))
            .await?
            .map_err(PageError::internal)?,
    );
    let oauth_clients = if p.caller.role == Role::Superadmin {
        let auth = state.auth.clone();
        let caller = p.caller.clone();
        web::block(move || auth.oauth_list_clients(&caller)).await??
    } else {
        Vec::new()
    };
    Ok(UsersTpl {
        l: p.layout("Users", Nav::Settings, "users"),
        oauth_clients,
        users,
        me: p.caller.user_id.clone(),
        can_superadmin: p.caller.role == Role::Superadmin,
        f,
        reset: None,
        smtp,
        mail_stats,
        mail,
    })
}

/// Issues a password reset link for a user and shows it once (it is also emailed when SMTP
/// is configured).
async fn user_reset_link(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    p.require_admin()?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    match web::block(move || auth.issue_password_reset(&caller, &id)).await? {
        Ok(link) => {
            let mut tpl = users_tpl(&state, &p, FormState::new()).await?;
            tpl.reset = Some(link);
            p.respond(&tpl)
        }
        Err(auth::Error::Forbidden(m) | auth::Error::Conflict(m)) => Ok(redirect_flash(
            "/settings/users",
            "error",
            format!("{}.", capitalize_first(&m)),
        )),
        Err(auth::Error::Invalid { message, .. }) => Ok(redirect_flash(
            "/settings/users",
            "error",
            format!("{}.", capitalize_first(&message)),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Puts a failed message back in the mail queue.
async fn mail_retry(
    state: Data,
    path: web::Path<i64>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    p.require_admin()?;
    let outbox = state.outbox.clone();
    let id = path.into_inner();
    let user = p.caller.user_id.clone();
    let queued = web::block(move || outbox.retry(id, Some(&user)))
        .await?
        .map_err(PageError::internal)?;
    Ok(if queued {
        redirect_flash(
            "/settings/users",
            "success",
            "The message is queued again and will be sent shortly.",
        )
    } else {
        redirect_flash(
            "/settings/users",
            "error",
            "That message is not in the queue any more.",
        )
    })
}

fn capitalize_first(m: &str) -> String {
    let mut chars = m.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

async fn oauth_client_revoke(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    p.require_admin()?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    web::block(move || auth.oauth_revoke_client(&caller, &id)).await??;
    Ok(redirect_flash(
        "/settings/users#oauth-clients",
        "success",
        "OAuth client revoked: every token it held stopped working, and it cannot ask for access again.",
    ))
}

async fn users(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    p.require_admin()?;
    let tpl = users_tpl(&state, &p, FormState::new()).await?;
    p.respond(&tpl)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UserForm {
    email: String,
    display_name: String,
    password: String,
    role: String,
}

async fn user_create(state: Data, form: PageForm<UserForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    p.require_admin()?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let new = NewUser {
        email: f.email.trim().to_string(),
        display_name: f.display_name.trim().to_string(),
        password: f.password.clone(),
        role: Some(f.role.clone()).filter(|r| !r.is_empty()),
    };
    match web::block(move || auth.create_user(&caller, &new)).await? {
        Ok(u) => Ok(redirect_flash(
            "/settings/users",
            "success",
            format!(
                "User {} created. Share the password with them securely.",
                u.email
            ),
        )),
        Err(e) => {
            let mut fs = FormState::new()
                .value("email", f.email.trim())
                .value("display_name", f.display_name.trim())
                .value("role", f.role.as_str());
            fs.absorb(e, &[])?;
            let tpl = users_tpl(&state, &p, fs).await?;
            p.respond_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
        }
    }
}

/// Runs a user change and turns refusals into a flash message on the users page.
async fn user_change(
    state: Data,
    p: Page,
    id: String,
    change: impl FnOnce(&auth::AuthService, &auth::Caller, &str) -> auth::Result<User> + Send + 'static,
    done: impl FnOnce(&User) -> String,
) -> Result<HttpResponse, PageError> {
    p.require_admin()?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    match web::block(move || change(&auth, &caller, &id)).await? {
        Ok(u) => Ok(redirect_flash("/settings/users", "success", done(&u))),
        Err(auth::Error::Forbidden(m) | auth::Error::Conflict(m)) => {
            let mut chars = m.chars();
            let msg = match chars.next() {
                Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
                None => m,
            };
            Ok(redirect_flash(
                "/settings/users",
                "error",
                format!("{msg}."),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleForm {
    role: String,
}

async fn user_role(
    state: Data,
    path: web::Path<String>,
    form: PageForm<RoleForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let role = f.role;
    user_change(
        state,
        p,
        path.into_inner(),
        move |a, c, id| a.update_user(c, id, Some(&role), None, None),
        |u| format!("{} is now {}.", u.email, u.role.as_str()),
    )
    .await
}

async fn user_disable(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    user_change(
        state,
        form.page,
        path.into_inner(),
        |a, c, id| a.update_user(c, id, None, Some(true), None),
        |u| {
            format!(
                "{} is disabled; their sessions and API keys stopped working.",
                u.email
            )
        },
    )
    .await
}

async fn user_enable(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    user_change(
        state,
        form.page,
        path.into_inner(),
        |a, c, id| a.update_user(c, id, None, Some(false), None),
        |u| format!("{} is enabled again.", u.email),
    )
    .await
}

async fn user_reset_mfa(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    user_change(
        state,
        form.page,
        path.into_inner(),
        |a, c, id| a.reset_mfa(Some(c), id),
        |u| {
            format!(
                "MFA of {} was reset. They will set up a new second factor at their next sign-in.",
                u.email
            )
        },
    )
    .await
}

// ---------------------------------------------------------------- integrations

#[derive(Template)]
#[template(path = "settings_integrations.html")]
struct IntegrationsTpl {
    l: Layout,
    url: String,
    mcp_json: String,
    /// The organization of the current workspace, when the caller manages it.
    org: Option<OrgIntegrations>,
    /// Why the Jira/Confluence section is not shown (personal workspace, not an org admin).
    org_note: Option<String>,
    /// The caller's own Atlassian account in the workspace's org (members only).
    account: Option<AccountCard>,
}

/// "Your Atlassian account", from `GET …/jira/account`.
struct AccountCard {
    org: String,
    jira_configured: bool,
    connected: bool,
    stale: bool,
    display_name: String,
    jira_name: String,
    base_url: String,
    connected_at: String,
}

impl AccountCard {
    fn from_json(org: String, v: &serde_json::Value) -> Self {
        let s = |k: &str| v["account"][k].as_str().unwrap_or_default().to_string();
        Self {
            org,
            jira_configured: v["jira_configured"].as_bool().unwrap_or(false),
            connected: v["connected"].as_bool().unwrap_or(false),
            stale: v["stale"].as_bool().unwrap_or(false),
            display_name: s("display_name"),
            jira_name: s("jira_name"),
            base_url: s("base_url"),
            connected_at: s("connected_at"),
        }
    }
}

/// An org's Jira and Confluence settings as the API shows them (tokens masked).
struct OrgIntegrations {
    id: String,
    jira: serde_json::Value,
    confluence: serde_json::Value,
}

impl IntegrationsTpl {
    /// A string setting (empty when unset).
    fn jv(&self, which: &str, key: &str) -> String {
        let Some(o) = &self.org else {
            return String::new();
        };
        let v = if which == "jira" {
            &o.jira
        } else {
            &o.confluence
        };
        match v.pointer(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    }

    fn configured(&self, which: &str) -> bool {
        self.jv(which, "/configured") == "true"
    }
}

async fn integrations(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let url = state.config.public_url(Some(state.bound));
    let mcp = serde_json::json!({
        "mcpServers": {
            "rampart": {
                "type": "http",
                "url": format!("{url}/mcp"),
                "headers": { "X-API-Key": "mk_your_developer_key" }
            }
        }
    });
    let mcp_json = serde_json::to_string_pretty(&mcp).map_err(PageError::internal)?;
    let (org, org_note) = match p.caller.org_id.clone() {
        None => (
            None,
            Some("Jira and Confluence are organization features: switch to a workspace of an organization to set them up.".to_string()),
        ),
        Some(org_id) => {
            let svc = state.integrations.clone();
            let caller = p.caller.clone();
            let id = org_id.clone();
            let got = web::block(move || {
                Ok::<_, crate::integrations::Error>((
                    svc.jira_settings(&caller, &id)?,
                    svc.confluence_settings(&caller, &id)?,
                ))
            })
            .await?;
            match got {
                Ok((jira, confluence)) => (
                    Some(OrgIntegrations {
                        id: org_id,
                        jira,
                        confluence,
                    }),
                    None,
                ),
                Err(crate::integrations::Error::Forbidden(_) | crate::integrations::Error::NotFound(_)) => (
                    None,
                    Some("Jira and Confluence for this organization are set up by its org admins.".to_string()),
                ),
                Err(e) => return Err(PageError::internal(e)),
            }
        }
    };
    let account = match p.caller.org_id.clone() {
        None => None,
        Some(org_id) => {
            let svc = state.integrations.clone();
            let caller = p.caller.clone();
            let id = org_id.clone();
            match web::block(move || svc.jira_account(&caller, &id)).await? {
                Ok(v) => Some(AccountCard::from_json(org_id, &v)),
                // A superadmin looking at an org they are not a member of has no account there.
                Err(
                    crate::integrations::Error::Forbidden(_)
                    | crate::integrations::Error::NotFound(_),
                ) => None,
                Err(e) => return Err(PageError::internal(e)),
            }
        }
    };
    p.respond(&IntegrationsTpl {
        l: p.layout("Integrations", Nav::Settings, "integrations"),
        url,
        mcp_json,
        org,
        org_note,
        account,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AtlassianAccountForm {
    auth_type: String,
    email: String,
    token: String,
}

/// Connects the member's own Atlassian account (Jira checks the token first).
async fn account_connect(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AtlassianAccountForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let org = path.into_inner();
    let auth = crate::integrations::settings::AuthInput {
        kind: f.auth_type.trim().to_string(),
        token: opt(&f.token),
        email: opt(&f.email),
    };
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    let result = web::block(move || svc.connect_jira_account(&caller, &org, &auth)).await?;
    Ok(match result {
        Ok(v) => redirect_flash(
            "/settings/integrations",
            "success",
            format!(
                "Connected your Atlassian account: Jira knows you as {}.",
                v["account"]["display_name"].as_str().unwrap_or_default()
            ),
        ),
        Err(e) => integration_flash(e)?,
    })
}

/// Disconnects the member's own Atlassian account.
async fn account_disconnect(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let org = path.into_inner();
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    let result = web::block(move || svc.disconnect_jira_account(&caller, &org)).await?;
    Ok(match result {
        Ok(()) => redirect_flash(
            "/settings/integrations",
            "success",
            "Disconnected your Atlassian account; Jira work you ask for uses the organization's account again.",
        ),
        Err(e) => integration_flash(e)?,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AtlassianForm {
    base_url: String,
    auth_type: String,
    email: String,
    token: String,
    project_key: String,
    issue_type: String,
    done_statuses: String,
    wont_do_transition: String,
    rotate_webhook_secret: String,
    space_key: String,
    parent_page_id: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Saves an org's Jira or Confluence settings from the form (a blank token keeps the stored
/// one when the site and account stay the same).
async fn integration_save(
    state: Data,
    path: web::Path<(String, String)>,
    form: PageForm<AtlassianForm>,
) -> Result<HttpResponse, PageError> {
    use crate::integrations::settings::{AuthInput, ConfluenceInput, JiraInput};
    let PageForm { page: p, form: f } = form;
    let (org, kind) = path.into_inner();
    let auth = AuthInput {
        kind: f.auth_type.trim().to_string(),
        token: opt(&f.token),
        email: opt(&f.email),
    };
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    let result = match kind.as_str() {
        "jira" => {
            let input = JiraInput {
                base_url: f.base_url.trim().to_string(),
                auth,
                project_key: f.project_key.trim().to_string(),
                issue_type: opt(&f.issue_type),
                container_issue_type: None,
                done_statuses: opt(&f.done_statuses).map(|d| {
                    d.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                }),
                wont_do_transition: opt(&f.wont_do_transition),
                link_type: None,
                rotate_webhook_secret: !f.rotate_webhook_secret.is_empty(),
            };
            web::block(move || svc.put_jira(&caller, &org, &input)).await?
        }
        "confluence" => {
            let input = ConfluenceInput {
                base_url: f.base_url.trim().to_string(),
                auth,
                space_key: f.space_key.trim().to_string(),
                parent_page_id: opt(&f.parent_page_id),
            };
            web::block(move || svc.put_confluence(&caller, &org, &input)).await?
        }
        _ => return Err(PageError::not_found()),
    };
    let product = if kind == "jira" { "Jira" } else { "Confluence" };
    Ok(match result {
        Ok(_) => redirect_flash(
            "/settings/integrations",
            "success",
            format!("{product} settings saved. Use “Test connection” to check them."),
        ),
        Err(e) => integration_flash(e)?,
    })
}

fn integration_flash(e: crate::integrations::Error) -> Result<HttpResponse, PageError> {
    use crate::integrations::Error as E;
    let msg = match e {
        E::Invalid { field, message } => format!("{field} {message}"),
        E::Upstream { message, .. } | E::Unavailable(message) | E::Forbidden(message) => message,
        E::NotFound(_) => return Err(PageError::not_found()),
        other => return Err(PageError::internal(other)),
    };
    Ok(redirect_flash(
        "/settings/integrations",
        "error",
        capitalize_first(&msg),
    ))
}

/// "Test connection": who the token is and whether the project/space is there.
async fn integration_test(
    state: Data,
    path: web::Path<(String, String)>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let (org, kind) = path.into_inner();
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    let jira = match kind.as_str() {
        "jira" => true,
        "confluence" => false,
        _ => return Err(PageError::not_found()),
    };
    let result = web::block(move || {
        if jira {
            svc.test_jira(&caller, &org)
        } else {
            svc.test_confluence(&caller, &org)
        }
    })
    .await?;
    Ok(match result {
        Ok(v) if jira => {
            let problems: Vec<String> = v["problems"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let who = v["user"]["display_name"].as_str().unwrap_or_default();
            let project = format!(
                "{} ({})",
                v["project"]["name"].as_str().unwrap_or_default(),
                v["project"]["key"].as_str().unwrap_or_default()
            );
            if problems.is_empty() {
                redirect_flash(
                    "/settings/integrations",
                    "success",
                    format!("Connected to Jira as {who}; project {project} is ready."),
                )
            } else {
                redirect_flash(
                    "/settings/integrations",
                    "error",
                    format!(
                        "Connected to Jira as {who}, project {project}, but: {}",
                        problems.join("; ")
                    ),
                )
            }
        }
        Ok(v) => redirect_flash(
            "/settings/integrations",
            "success",
            format!(
                "Connected to Confluence; space {} ({}) is reachable.",
                v["space"]["name"].as_str().unwrap_or_default(),
                v["space"]["key"].as_str().unwrap_or_default()
            ),
        ),
        Err(e) => integration_flash(e)?,
    })
}
