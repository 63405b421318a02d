//! Credits over HTTP: the caller's balance (`GET /api/me/credits`) and their administration
//! under `/api/admin/credits/…` (see [`crate::credits`] for the rules).
//!
//! Allowances and adjustments of users and org pools are superadmin operations from a
//! signed-in session; an org's admins may split its pool among members
//! (`PUT /api/admin/credits/orgs/{org_id}/members/{user_id}`). Bodies are read as JSON values
//! so a wrong type is answered 400 naming the field; nothing changes on any error.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use super::{ApiError, AppState};
use crate::auth::Caller;
use crate::credits::{self, Subject};

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/me/credits", web::get().to(my_credits))
        .route(
            "/api/admin/credits/users/{user_id}",
            web::get().to(user_credits),
        )
        .route(
            "/api/admin/credits/users/{user_id}",
            web::put().to(set_user_allowance),
        )
        .route(
            "/api/admin/credits/users/{user_id}/adjustments",
            web::post().to(adjust_user),
        )
        .route(
            "/api/admin/credits/orgs/{org_id}",
            web::get().to(org_credits),
        )
        .route(
            "/api/admin/credits/orgs/{org_id}",
            web::put().to(set_org_allowance),
        )
        .route(
            "/api/admin/credits/orgs/{org_id}/adjustments",
            web::post().to(adjust_org),
        )
        .route(
            "/api/admin/credits/orgs/{org_id}/members/{user_id}",
            web::put().to(set_member_share),
        );
}

impl From<credits::Error> for ApiError {
    fn from(e: credits::Error) -> Self {
        match e {
            credits::Error::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            credits::Error::Invalid { field, message } => invalid(&field, &message),
            credits::Error::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            credits::Error::Store(s) => s.into(),
        }
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError {
        field: Some(field.to_string()),
        ..ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {message}"),
        )
    }
}

fn require_superadmin(caller: &Caller) -> Result<(), ApiError> {
    if caller.scope().is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "administration needs a signed-in admin session, not an API key",
        ));
    }
    caller.require_superadmin()?;
    Ok(())
}

/// The body as an object whose keys are all in `allowed`.
fn object(body: Value, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("expected a JSON object"));
    };
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            k,
            &format!("unknown field; expected {}", allowed.join(", ")),
        ));
    }
    Ok(map)
}

/// A whole number field; `null` allowed when `nullable`.
fn integer(map: &Map<String, Value>, field: &str, nullable: bool) -> Result<Option<i64>, ApiError> {
    match map.get(field) {
        None if nullable => Err(invalid(field, "required (a whole number, or null)")),
        None => Err(invalid(field, "required (a whole number)")),
        Some(Value::Null) if nullable => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(field, "expected a whole number of credits")),
    }
}

fn reason(map: &Map<String, Value>) -> Result<String, ApiError> {
    match map.get("reason") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid("reason", "expected a string")),
    }
}

/// `GET /api/me/credits`: `{balance, monthly_allowance, used, resets_at, …, recent}` of the
/// account paying for the caller's operations in the current workspace (`balance` and
/// `monthly_allowance` are `null` when no allowance is set: not metered).
async fn my_credits(state: Data, caller: Caller) -> Result<HttpResponse, ApiError> {
    let svc = state.credits.clone();
    let (balance, recent) = web::block(move || {
        Ok::<_, credits::Error>((
            svc.balance_for(&caller.user_id, caller.org_id.as_deref())?,
            svc.user_ledger(&caller.user_id, 50)?,
        ))
    })
    .await
    .map_err(ApiError::internal)??;
    let mut v = serde_json::to_value(&balance).map_err(ApiError::internal)?;
    v["recent"] = json!(recent);
    v["costs"] = costs();
    Ok(HttpResponse::Ok().json(v))
}

/// The documented cost of each operation type.
pub(crate) fn costs() -> Value {
    Value::Object(
        credits::Operation::ALL
            .iter()
            .map(|op| (op.as_str().to_string(), json!(op.cost())))
            .collect(),
    )
}

async fn resolve(
    state: &Data,
    kind: credits::SubjectKind,
    key: String,
) -> Result<Subject, ApiError> {
    let svc = state.credits.clone();
    Ok(web::block(move || match kind {
        credits::SubjectKind::User => svc.find_user(&key),
        credits::SubjectKind::Org => svc.find_org(&key),
    })
    .await
    .map_err(ApiError::internal)??)
}

async fn show(
    state: Data,
    caller: Caller,
    kind: credits::SubjectKind,
    key: String,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let subject = resolve(&state, kind, key).await?;
    let svc = state.credits.clone();
    let s = subject.clone();
    let balance = web::block(move || match s.kind {
        credits::SubjectKind::User => svc.user_balance(&s.id),
        credits::SubjectKind::Org => svc.org_balance(&s.id),
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(json!({"subject": subject, "credits": balance})))
}

async fn set(
    state: Data,
    caller: Caller,
    kind: credits::SubjectKind,
    key: String,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let map = object(body, &["monthly_allowance", "reason"])?;
    let allowance = integer(&map, "monthly_allowance", true)?;
    let reason = reason(&map)?;
    let subject = resolve(&state, kind, key).await?;
    let svc = state.credits.clone();
    let s = subject.clone();
    let balance = web::block(move || svc.set_allowance(&caller.user_id, &s, allowance, &reason))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(json!({"subject": subject, "credits": balance})))
}

async fn adjust(
    state: Data,
    caller: Caller,
    kind: credits::SubjectKind,
    key: String,
    body: Value,
) -> Result<HttpResponse, ApiError> {
    require_superadmin(&caller)?;
    let map = object(body, &["amount", "reason"])?;
    let amount = integer(&map, "amount", false)?.unwrap_or(0);
    let reason = reason(&map)?;
    let subject = resolve(&state, kind, key).await?;
    let svc = state.credits.clone();
    let done = web::block(move || svc.adjust(&caller.user_id, &subject, amount, &reason))
        .await
        .map_err(ApiError::internal)??;
    Ok(HttpResponse::Created().json(done))
}

/// `GET /api/admin/credits/users/{user_id}` (superadmin).
async fn user_credits(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    show(state, caller, credits::SubjectKind::User, path.into_inner()).await
}

/// `PUT /api/admin/credits/users/{user_id}` `{monthly_allowance, reason}` (superadmin).
async fn set_user_allowance(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        credits::SubjectKind::User,
        path.into_inner(),
        body.into_inner(),
    )
    .await
}

/// `POST /api/admin/credits/users/{user_id}/adjustments` `{amount, reason}` (superadmin).
async fn adjust_user(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    adjust(
        state,
        caller,
        credits::SubjectKind::User,
        path.into_inner(),
        body.into_inner(),
    )
    .await
}

/// `GET /api/admin/credits/orgs/{org_id}` (superadmin).
async fn org_credits(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    show(state, caller, credits::SubjectKind::Org, path.into_inner()).await
}

/// `PUT /api/admin/credits/orgs/{org_id}` `{monthly_allowance, reason}` (superadmin).
async fn set_org_allowance(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    set(
        state,
        caller,
        credits::SubjectKind::Org,
        path.into_inner(),
        body.into_inner(),
    )
    .await
}

/// `POST /api/admin/credits/orgs/{org_id}/adjustments` `{amount, reason}` (superadmin).
async fn adjust_org(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    adjust(
        state,
        caller,
        credits::SubjectKind::Org,
        path.into_inner(),
        body.into_inner(),
    )
    .await
}

/// `PUT /api/admin/credits/orgs/{org_id}/members/{user_id}` `{monthly_allowance}`: a member's
/// share of the org pool (`null` removes it). Superadmins and the org's admins.
async fn set_member_share(
    state: Data,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    if caller.scope().is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "administration needs a signed-in session, not an API key",
        ));
    }
    let (org_id, user_id) = path.into_inner();
    let map = object(body.into_inner(), &["monthly_allowance", "reason"])?;
    let share = integer(&map, "monthly_allowance", true)?;
    let reason = reason(&map)?;
    let svc = state.credits.clone();
    let superadmin = caller.require_superadmin().is_ok();
    let balance = web::block(move || {
        svc.set_member_share(
            &caller.user_id,
            superadmin,
            &org_id,
            &user_id,
            share,
            &reason,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(HttpResponse::Ok().json(json!({"credits": balance})))
}
