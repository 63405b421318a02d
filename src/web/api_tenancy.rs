//! `/api/workspaces`, `/api/invitations` and `/api/organizations`: team workspaces, members,
//! invitations, organizations with their members and limits, and crypto-shred. Each handler
//! extracts, calls one tenancy service method (which checks roles), and answers.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::admin::NewOrg;
use crate::admin::orgs::OrgPatch;
use crate::auth::Caller;
use crate::tenancy::{self, OrgRole, WorkspaceRole};

type Data = web::Data<AppState>;

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/workspaces", web::get().to(list))
        .route("/api/workspaces", web::post().to(create))
        .route("/api/workspaces/{id}", web::get().to(get))
        .route("/api/workspaces/{id}", web::patch().to(rename))
        .route("/api/workspaces/{id}", web::delete().to(delete))
        .route("/api/workspaces/{id}/members", web::get().to(members))
        .route("/api/workspaces/{id}/members", web::post().to(add_member))
        .route(
            "/api/workspaces/{id}/members/{user}",
            web::patch().to(update_member),
        )
        .route(
            "/api/workspaces/{id}/members/{user}",
            web::delete().to(remove_member),
        )
        .route(
            "/api/workspaces/{id}/invitations",
            web::get().to(invitations),
        )
        .route("/api/workspaces/{id}/invitations", web::post().to(invite))
        .route(
            "/api/workspaces/{id}/invitations/{inv}",
            web::delete().to(revoke_invitation),
        )
        .route("/api/invitations/{token}", web::get().to(invitation))
        .route("/api/invitations/{token}/accept", web::post().to(accept))
        .route("/api/organizations", web::get().to(list_orgs))
        .route("/api/organizations", web::post().to(create_org))
        .route("/api/organizations/{org}", web::get().to(get_org))
        .route("/api/organizations/{org}", web::patch().to(update_org))
        .route("/api/organizations/{org}", web::delete().to(delete_org))
        .route(
            "/api/organizations/{org}/members",
            web::get().to(org_members),
        )
        .route(
            "/api/organizations/{org}/members",
            web::post().to(add_org_member),
        )
        .route(
            "/api/organizations/{org}/members/{user}",
            web::patch().to(update_org_member),
        )
        .route(
            "/api/organizations/{org}/members/{user}",
            web::delete().to(remove_org_member),
        )
        .route(
            "/api/organizations/{org}/workspaces",
            web::get().to(org_workspaces),
        )
        .route("/api/organizations/{org}/data", web::delete().to(shred_org));
}

impl From<tenancy::Error> for ApiError {
    fn from(e: tenancy::Error) -> Self {
        use tenancy::Error as E;
        match e {
            E::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            E::Gone(m) => ApiError::new(StatusCode::GONE, "gone", m),
            E::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            E::Limit(m) => ApiError::new(StatusCode::FORBIDDEN, "limit_reached", m),
            E::Invalid { field, message } => ApiError {
                field: Some(field.to_string()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    format!("{field}: {message}"),
                )
            },
            E::Confirmation(_) => ApiError {
                field: Some("confirm".into()),
                ..ApiError::new(StatusCode::BAD_REQUEST, "confirmation", e.to_string())
            },
            E::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            E::Store(s) => s.into(),
            E::Crypto(c) => ApiError::internal(c),
        }
    }
}

fn parse_role(s: &str) -> Result<WorkspaceRole, ApiError> {
    WorkspaceRole::parse(s).ok_or_else(|| ApiError {
        field: Some("role".into()),
        ..ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "role: must be one of owner, admin, member, viewer",
        )
    })
}

fn parse_org_role(s: &str) -> Result<OrgRole, ApiError> {
    OrgRole::parse(s).ok_or_else(|| ApiError {
        field: Some("role".into()),
        ..ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "role: must be org_admin or member",
        )
    })
}

async fn list(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let list = web::block(move || svc.list(&caller)).await??;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    organization_id: Option<String>,
}

async fn create(
    state: Data,
    caller: Caller,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let b = body.into_inner();
    let ws =
        web::block(move || svc.create(&caller, &b.name, b.organization_id.as_deref())).await??;
    Ok(HttpResponse::Created().json(ws))
}

async fn get(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let ws = web::block(move || svc.get(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(ws))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    name: String,
}

async fn rename(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<RenameBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let name = body.into_inner().name;
    let ws = web::block(move || svc.rename(&caller, &id, &name)).await??;
    Ok(HttpResponse::Ok().json(ws))
}

async fn delete(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    web::block(move || svc.delete(&caller, &id)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn members(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let list = web::block(move || svc.members(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberBody {
    email: String,
    role: String,
}

async fn add_member(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let role = parse_role(&b.role)?;
    let m = web::block(move || svc.add_member(&caller, &id, &b.email, role)).await??;
    Ok(HttpResponse::Created().json(m))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

async fn update_member(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let (id, user) = path.into_inner();
    let role = parse_role(&body.into_inner().role)?;
    let m = web::block(move || svc.update_member(&caller, &id, &user, role)).await??;
    Ok(HttpResponse::Ok().json(m))
}

async fn remove_member(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let (id, user) = path.into_inner();
    web::block(move || svc.remove_member(&caller, &id, &user)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn invitations(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let list = web::block(move || svc.invitations(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(list))
}

async fn invite(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let role = parse_role(&b.role)?;
    let created = web::block(move || svc.invite(&caller, &id, &b.email, role)).await??;
    Ok(HttpResponse::Created().json(created))
}

async fn revoke_invitation(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let (id, inv) = path.into_inner();
    let out = web::block(move || svc.revoke_invitation(&caller, &id, &inv)).await??;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /api/invitations/{token}`: what a link is for (no sign-in needed: the token is the
/// secret, and it only reveals the workspace name, role and inviter).
async fn invitation(state: Data, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let svc = state.workspaces.clone();
    let token = path.into_inner();
    let view = web::block(move || svc.invitation_view(&token)).await??;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct AcceptBody {
    display_name: Option<String>,
    password: Option<String>,
}

/// `POST /api/invitations/{token}/accept`: signed in (session with the invited email) joins;
/// without a session, `{display_name, password}` creates the invited account and joins. The
/// new account then signs in with `POST /api/auth/login` (and enrolls a second factor when
/// required).
async fn accept(
    req: HttpRequest,
    state: Data,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let body: AcceptBody = if body.iter().all(u8::is_ascii_whitespace) {
        AcceptBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid JSON body: {e}"),
            )
        })?
    };
    let has_session = req.cookie(super::cookies::session_name()).is_some()
        || req.headers().contains_key("X-API-Key");
    if has_session {
        let caller = <Caller as actix_web::FromRequest>::extract(&req).await?;
        let svc = state.workspaces.clone();
        let ws = web::block(move || svc.accept(&caller, &token)).await??;
        return Ok(HttpResponse::Ok().json(json!({"joined": true, "workspace": ws})));
    }
    let (Some(name), Some(password)) = (body.display_name, body.password) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in to accept the invitation, or send {display_name, password} to create the invited account",
        ));
    };
    let svc = state.workspaces.clone();
    let auth = state.auth.clone();
    let member =
        web::block(move || svc.accept_new_account(&auth, &token, &name, &password)).await??;
    Ok(HttpResponse::Created().json(json!({
        "joined": true,
        "user_id": member.user_id,
        "email": member.email,
        "workspace_id": member.workspace_id,
    })))
}

async fn list_orgs(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let list = web::block(move || svc.list(&caller)).await??;
    Ok(HttpResponse::Ok().json(list))
}

async fn create_org(
    state: Data,
    caller: Caller,
    body: web::Json<NewOrg>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let new = body.into_inner();
    let org = web::block(move || svc.create(&caller, &new)).await??;
    Ok(HttpResponse::Created().json(org))
}

async fn get_org(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let org = web::block(move || svc.get(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(org))
}

async fn update_org(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<OrgPatch>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let patch = body.into_inner();
    let org = web::block(move || svc.update(&caller, &id, &patch)).await??;
    Ok(HttpResponse::Ok().json(org))
}

#[derive(Deserialize)]
struct ConfirmQuery {
    #[serde(default)]
    confirm: Option<String>,
}

/// `DELETE /api/organizations/{org}?confirm=<slug>`: deletes the org, its workspaces and data.
async fn delete_org(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let confirm = q.into_inner().confirm.unwrap_or_default();
    web::block(move || svc.delete(&caller, &id, &confirm)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn org_members(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let list = web::block(move || svc.members(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(list))
}

async fn add_org_member(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let role = parse_org_role(&b.role)?;
    let m = web::block(move || svc.set_member(&caller, &id, &b.email, role)).await??;
    Ok(HttpResponse::Created().json(m))
}

async fn update_org_member(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let (id, user) = path.into_inner();
    let role = parse_org_role(&body.into_inner().role)?;
    let m = web::block(move || svc.update_member(&caller, &id, &user, role)).await??;
    Ok(HttpResponse::Ok().json(m))
}

async fn remove_org_member(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let (id, user) = path.into_inner();
    web::block(move || svc.remove_member(&caller, &id, &user)).await??;
    Ok(HttpResponse::NoContent().finish())
}

async fn org_workspaces(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let list = web::block(move || svc.workspaces(&caller, &id)).await??;
    Ok(HttpResponse::Ok().json(list))
}

/// `DELETE /api/organizations/{org}/data?confirm=<slug>`: crypto-shred. `{org}` is the id or
/// the slug; the slug must be typed again as `confirm`.
async fn shred_org(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, ApiError> {
    let svc = state.orgs.clone();
    let id = path.into_inner();
    let confirm = q.into_inner().confirm.unwrap_or_default();
    let org = web::block(move || svc.shred(&caller, &id, &confirm)).await??;
    Ok(HttpResponse::Ok().json(json!({"shredded": true, "organization": org})))
}
