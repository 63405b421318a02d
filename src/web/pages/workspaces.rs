//! Team pages: the workspace switcher, Settings → Workspace (name, members and their roles,
//! invitations, leave, delete), "new workspace", and the invitation accept page.
//!
//! Every change goes through [`crate::tenancy::WorkspaceService`], which checks roles; these
//! handlers only translate forms and outcomes. The invitation link is a secret: like API
//! keys, it is shown only in the response to the POST that created it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{
    self, FormState, Layout, LoginForm, Nav, Page, PageError, PageForm, flash_of, login_csrf,
    login_csrf_cookie, redirect_flash,
};
use crate::auth::{self, sessions::LoginOutcome};
use crate::tenancy::invitations::{CreatedInvitation, Invitation, InvitationView};
use crate::tenancy::workspaces::{Member, WorkspaceInfo};
use crate::tenancy::{self, WorkspaceRole};
use crate::web::AppState;
use crate::web::caller::client_info;
use crate::web::cookies;

type Data = web::Data<AppState>;

const PATH: &str = "/settings/workspace";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/workspace/switch", web::post().to(switch))
        .route(PATH, web::get().to(page))
        .route("/settings/workspace/rename", web::post().to(rename))
        .route("/settings/workspace/members", web::post().to(add_member))
        .route(
            "/settings/workspace/members/{user}/role",
            web::post().to(change_role),
        )
        .route(
            "/settings/workspace/members/{user}/remove",
            web::post().to(remove_member),
        )
        .route("/settings/workspace/invitations", web::post().to(invite))
        .route(
            "/settings/workspace/invitations/{id}/revoke",
            web::post().to(revoke),
        )
        .route("/settings/workspace/leave", web::post().to(leave))
        .route("/settings/workspace/delete", web::post().to(delete))
        .route("/settings/workspaces/new", web::get().to(new_page))
        .route("/settings/workspaces/new", web::post().to(create))
        .route("/invite/{token}", web::get().to(invite_page))
        .route("/invite/{token}/accept", web::post().to(accept))
        .route("/invite/{token}/signup", web::post().to(signup));
}

impl From<tenancy::Error> for PageError {
    fn from(e: tenancy::Error) -> Self {
        use tenancy::Error as E;
        match e {
            E::NotFound(_) => PageError::not_found(),
            E::Gone(m) => PageError::Status {
                status: StatusCode::GONE,
                title: "Data erased",
                message: m,
            },
            E::Forbidden(m) | E::Limit(m) => PageError::forbidden(m),
            E::Invalid { field, message } => PageError::bad_request(format!("{field}: {message}")),
            E::Confirmation(expected) => {
                PageError::bad_request(format!("Type exactly {expected:?} to confirm."))
            }
            E::Conflict(m) => PageError::Status {
                status: StatusCode::CONFLICT,
                title: "Conflict",
                message: m,
            },
            E::Store(s) => PageError::internal(s),
            E::Crypto(c) => PageError::internal(c),
        }
    }
}

/// A refused change becomes a flash message on the page (the page stays usable); storage
/// failures stay errors.
fn outcome<T>(
    r: tenancy::Result<T>,
    to: &str,
    ok: impl FnOnce(T) -> String,
) -> Result<HttpResponse, PageError> {
    match r {
        Ok(v) => Ok(redirect_flash(to, "success", ok(v))),
        Err(
            e @ (tenancy::Error::Invalid { .. }
            | tenancy::Error::Forbidden(_)
            | tenancy::Error::Limit(_)
            | tenancy::Error::Conflict(_)
            | tenancy::Error::NotFound(_)),
        ) => Ok(redirect_flash(to, "error", capitalize(&e.to_string()))),
        Err(e) => Err(e.into()),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

// ---------------------------------------------------------------- switcher

#[derive(Deserialize)]
struct SwitchForm {
    #[serde(default)]
    workspace_id: String,
}

/// Switches the web app to another workspace the caller can open (remembered in a cookie).
async fn switch(state: Data, form: PageForm<SwitchForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let id = f.workspace_id.trim().to_string();
    let target = web::block(move || auth.in_workspace(&caller, &id)).await??;
    let name = p
        .workspaces
        .iter()
        .find(|w| w.id == target.workspace_id)
        .map(|w| w.name.clone())
        .unwrap_or_default();
    let mut resp = redirect_flash("/", "success", format!("Switched to {name}."));
    resp.add_cookie(&cookies::workspace(&target.workspace_id))
        .map_err(PageError::internal)?;
    Ok(resp)
}

// ---------------------------------------------------------------- settings page

#[derive(Template)]
#[template(path = "settings_workspace.html")]
struct WorkspaceTpl {
    l: Layout,
    ws: WorkspaceInfo,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    created: Option<CreatedInvitation>,
    me: String,
    f: FormState,
}

impl WorkspaceTpl {
    fn roles(&self) -> &'static [WorkspaceRole] {
        &WorkspaceRole::ALL
    }

    fn pending(&self) -> Vec<&Invitation> {
        self.invitations
            .iter()
            .filter(|i| i.status == "pending")
            .collect()
    }

    fn is_owner(&self) -> bool {
        self.ws.role == WorkspaceRole::Owner
    }
}

async fn workspace_tpl(
    state: &Data,
    p: &Page,
    created: Option<CreatedInvitation>,
    f: FormState,
) -> Result<WorkspaceTpl, PageError> {
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let (ws, members, invitations) = web::block(move || -> tenancy::Result<_> {
        let ws = svc.get(&caller, &caller.workspace_id)?;
        let members = svc.members(&caller, &caller.workspace_id)?;
        let invitations = if ws.role.can_manage() && !ws.personal {
            svc.invitations(&caller, &caller.workspace_id)?
        } else {
            Vec::new()
        };
        Ok((ws, members, invitations))
    })
    .await??;
    Ok(WorkspaceTpl {
        l: p.layout("Workspace", Nav::Settings, "workspace"),
        ws,
        members,
        invitations,
        created,
        me: p.caller.user_id.clone(),
        f,
    })
}

async fn page(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let tpl = workspace_tpl(&state, &p, None, FormState::new()).await?;
    p.respond(&tpl)
}

#[derive(Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn rename(state: Data, form: PageForm<NameForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let r = web::block(move || svc.rename(&caller, &caller.workspace_id, &f.name)).await?;
    outcome(r, PATH, |w| format!("Workspace renamed to {}.", w.name))
}

#[derive(Deserialize)]
struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

fn role_of(s: &str) -> tenancy::Result<WorkspaceRole> {
    WorkspaceRole::parse(s).ok_or_else(|| tenancy::Error::Invalid {
        field: "role",
        message: "choose owner, admin, member or viewer".into(),
    })
}

async fn add_member(state: Data, form: PageForm<MemberForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let r = web::block(move || {
        let role = role_of(&f.role)?;
        svc.add_member(&caller, &caller.workspace_id, &f.email, role)
    })
    .await?;
    outcome(r, PATH, |m| format!("{} added as {}.", m.email, m.role))
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn change_role(
    state: Data,
    path: web::Path<String>,
    form: PageForm<RoleForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let user = path.into_inner();
    let r = web::block(move || {
        let role = role_of(&f.role)?;
        svc.update_member(&caller, &caller.workspace_id, &user, role)
    })
    .await?;
    outcome(r, PATH, |m| format!("{} is now {}.", m.email, m.role))
}

#[derive(Deserialize)]
struct Empty {}

async fn remove_member(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let user = path.into_inner();
    let r = web::block(move || svc.remove_member(&caller, &caller.workspace_id, &user)).await?;
    outcome(r, PATH, |()| {
        "Member removed; their API keys for this workspace are revoked.".into()
    })
}

async fn invite(state: Data, form: PageForm<MemberForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let (email, role) = (f.email.clone(), f.role.clone());
    let r = web::block(move || {
        let role = role_of(&role)?;
        svc.invite(&caller, &caller.workspace_id, &email, role)
    })
    .await?;
    match r {
        Ok(created) => {
            let tpl = workspace_tpl(&state, &p, Some(created), FormState::new()).await?;
            p.respond_status(StatusCode::CREATED, &tpl)
        }
        Err(
            e @ (tenancy::Error::Invalid { .. }
            | tenancy::Error::Conflict(_)
            | tenancy::Error::Limit(_)),
        ) => {
            let mut fs = FormState::new()
                .value("invite_email", f.email.trim())
                .value("invite_role", f.role.trim());
            let field = match &e {
                tenancy::Error::Invalid { field: "role", .. } => "invite_role",
                _ => "invite_email",
            };
            fs.error(field, capitalize(&e.to_string()));
            let tpl = workspace_tpl(&state, &p, None, fs).await?;
            p.respond_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let id = path.into_inner();
    let r = web::block(move || svc.revoke_invitation(&caller, &caller.workspace_id, &id)).await?;
    outcome(r, PATH, |i| format!("Invitation for {} revoked.", i.email))
}

fn forget_workspace(mut resp: HttpResponse) -> Result<HttpResponse, PageError> {
    resp.add_cookie(&cookies::workspace_removal())
        .map_err(PageError::internal)?;
    Ok(resp)
}

async fn leave(state: Data, form: PageForm<Empty>) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let me = p.caller.user_id.clone();
    let r = web::block(move || svc.remove_member(&caller, &caller.workspace_id, &me)).await?;
    match r {
        Ok(()) => forget_workspace(redirect_flash(
            "/",
            "success",
            format!("You left {}.", p.layout("", Nav::None, "").workspace_name()),
        )),
        Err(e) => outcome::<()>(Err(e), PATH, |()| String::new()),
    }
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm_name: String,
}

/// Deleting needs the workspace's name typed again.
async fn delete(state: Data, form: PageForm<DeleteForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let layout = p.layout("", Nav::None, "");
    let name = layout.workspace_name().to_string();
    if f.confirm_name.trim() != name {
        return Ok(redirect_flash(
            PATH,
            "error",
            format!("Type the workspace name exactly ({name}) to delete it."),
        ));
    }
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let r = web::block(move || svc.delete(&caller, &caller.workspace_id)).await?;
    match r {
        Ok(()) => forget_workspace(redirect_flash(
            "/",
            "success",
            format!("Workspace {name} and all its data were deleted."),
        )),
        Err(e) => outcome::<()>(Err(e), PATH, |()| String::new()),
    }
}

// ---------------------------------------------------------------- new workspace

#[derive(Template)]
#[template(path = "workspace_new.html")]
struct NewTpl {
    l: Layout,
    orgs: Vec<crate::admin::Org>,
    f: FormState,
}

async fn new_tpl(state: &Data, p: &Page, f: FormState) -> Result<NewTpl, PageError> {
    let svc = state.orgs.clone();
    let caller = p.caller.clone();
    let orgs = web::block(move || svc.list(&caller)).await??;
    Ok(NewTpl {
        l: p.layout("New workspace", Nav::Settings, "workspace"),
        orgs: orgs
            .into_iter()
            .filter(|o| o.shredded_at.is_none())
            .collect(),
        f,
    })
}

async fn new_page(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let tpl = new_tpl(&state, &p, FormState::new()).await?;
    p.respond(&tpl)
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    organization_id: String,
}

async fn create(state: Data, form: PageForm<NewForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let (name, org) = (f.name.clone(), f.organization_id.clone());
    let r = web::block(move || {
        let org = Some(org.trim()).filter(|o| !o.is_empty());
        svc.create(&caller, &name, org)
    })
    .await?;
    match r {
        Ok(ws) => {
            let mut resp = redirect_flash(
                PATH,
                "success",
                format!("Workspace {} created; invite your team below.", ws.name),
            );
            resp.add_cookie(&cookies::workspace(&ws.id))
                .map_err(PageError::internal)?;
            Ok(resp)
        }
        Err(
            e @ (tenancy::Error::Invalid { .. }
            | tenancy::Error::Limit(_)
            | tenancy::Error::NotFound(_)
            | tenancy::Error::Forbidden(_)),
        ) => {
            let mut fs = FormState::new()
                .value("name", f.name.trim())
                .value("organization_id", f.organization_id.trim());
            let field = match &e {
                tenancy::Error::Invalid { field: "name", .. } => "name",
                _ => "general",
            };
            fs.error(field, capitalize(&e.to_string()));
            let status = if matches!(e, tenancy::Error::Limit(_)) {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let tpl = new_tpl(&state, &p, fs).await?;
            p.respond_status(status, &tpl)
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- accepting invitations

#[derive(Template)]
#[template(path = "invite.html")]
struct InviteTpl {
    l: Layout,
    token: String,
    view: InvitationView,
    /// Email of the signed-in user, when someone is signed in.
    signed_in_as: Option<String>,
    f: FormState,
}

/// Who is signed in on this browser, if anyone (the accept page works either way).
async fn current_email(req: &HttpRequest, state: &Data) -> Result<Option<String>, PageError> {
    let Some(token) = req
        .cookie(cookies::session_name())
        .map(|c| c.value().to_string())
    else {
        return Ok(None);
    };
    let auth = state.auth.clone();
    let caller =
        web::block(move || auth.authenticate_session(&token, auth::WorkspaceChoice::Default))
            .await?;
    Ok(caller
        .ok()
        .filter(|c| !c.mfa_enrollment_pending)
        .map(|c| c.email))
}

async fn render_invite(
    req: &HttpRequest,
    state: &Data,
    token: String,
    f: FormState,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let svc = state.workspaces.clone();
    let t = token.clone();
    let view = web::block(move || svc.invitation_view(&t)).await?;
    let view = match view {
        Ok(v) => v,
        Err(tenancy::Error::NotFound(_)) => {
            return Ok(page::error_page(
                StatusCode::NOT_FOUND,
                "Invitation not valid",
                "This invitation link is wrong, was already used, was revoked or has expired. Ask a workspace admin for a new one.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let signed_in_as = current_email(req, state).await?;
    let csrf = login_csrf(req);
    let mut l = Layout::anonymous(format!("Join {}", view.workspace_name), csrf.0.clone());
    l.flash = flash_of(req);
    let tpl = InviteTpl {
        l,
        token,
        view,
        signed_in_as,
        f,
    };
    let mut resp = page::render_status(status, &tpl)?;
    if csrf.1 {
        resp.add_cookie(&login_csrf_cookie(&csrf.0))
            .map_err(PageError::internal)?;
    }
    page::clear_flash(&mut resp, req);
    Ok(resp)
}

async fn invite_page(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    render_invite(
        &req,
        &state,
        path.into_inner(),
        FormState::new(),
        StatusCode::OK,
    )
    .await
}

/// A signed-in user with the invited email joins.
async fn accept(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let svc = state.workspaces.clone();
    let caller = p.caller.clone();
    let token = path.into_inner();
    let t = token.clone();
    match web::block(move || svc.accept(&caller, &t)).await? {
        Ok(ws) => {
            let mut resp = redirect_flash(
                "/",
                "success",
                format!("You joined {} as {}.", ws.name, ws.role),
            );
            resp.add_cookie(&cookies::workspace(&ws.id))
                .map_err(PageError::internal)?;
            Ok(resp)
        }
        Err(tenancy::Error::Forbidden(m)) => Ok(redirect_flash(
            &format!("/invite/{token}"),
            "error",
            capitalize(&m),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SignupForm {
    display_name: String,
    password: String,
    password_confirm: String,
}

/// Someone without an account creates it from the invitation, is signed in (password only)
/// and continues with second-factor enrollment when the appliance requires it.
async fn signup(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    form: LoginForm<SignupForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let f = form.form;
    let mut fs = FormState::new().value("display_name", f.display_name.trim());
    if f.password != f.password_confirm {
        fs.error("password_confirm", "The passwords do not match.");
        return render_invite(&req, &state, token, fs, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let svc = state.workspaces.clone();
    let auth = state.auth.clone();
    let (t, name, pw) = (token.clone(), f.display_name.clone(), f.password.clone());
    let created = web::block(move || svc.accept_new_account(&auth, &t, &name, &pw)).await?;
    let member = match created {
        Ok(m) => m,
        Err(tenancy::Error::Invalid { field, message }) => {
            let key = if field == "password" {
                "password"
            } else {
                "display_name"
            };
            fs.error(key, capitalize(&message));
            return render_invite(&req, &state, token, fs, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Err(tenancy::Error::Conflict(m)) => {
            fs.error("general", capitalize(&m));
            return render_invite(&req, &state, token, fs, StatusCode::CONFLICT).await;
        }
        Err(e) => return Err(e.into()),
    };
    // Sign the new account in with the password it just chose; the page extractor then
    // sends it to second-factor enrollment when the appliance requires one.
    let auth = state.auth.clone();
    let client = client_info(&req);
    let (email, pw) = (member.email.clone(), f.password.clone());
    let outcome = web::block(move || auth.login(&email, &pw, &client)).await??;
    let mut resp = match outcome {
        LoginOutcome::Session { session, .. } => {
            let mut resp = redirect_flash(
                "/",
                "success",
                "Welcome! Your account is ready and you joined the workspace.",
            );
            resp.add_cookie(&cookies::session(&session.token))
                .map_err(PageError::internal)?;
            resp
        }
        LoginOutcome::MfaRequired { .. } => {
            redirect_flash("/login", "success", "Your account is ready: sign in.")
        }
    };
    resp.add_cookie(&cookies::workspace(&member.workspace_id))
        .map_err(PageError::internal)?;
    Ok(resp)
}
