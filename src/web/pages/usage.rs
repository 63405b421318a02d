//! Settings › Usage: the signed-in user's AI credits this month — who pays (their own
//! allowance or their organization's pool), balance, allowance, what was used, when the month
//! resets, what each operation type costs, and the recent consumption and adjustments. The
//! numbers come from the same service as `GET /api/me/credits`; the page only reads.
//!
//! Settings › Credits (superadmins): every user's balance, with forms to set the monthly
//! allowance and to add or deduct credits with a note — the same service calls as
//! `/api/admin/credits/users/…`, so the audit log, activity feed and emails follow. The same
//! for every organization's pool (`/api/admin/credits/orgs/…`).
//!
//! Settings › Usage › an org's credit pool (`/settings/orgs/{org}/credits`, the org's admins
//! and superadmins): the pool's balance and each member's share and use, with a form per
//! member to set their share (`PUT /api/admin/credits/orgs/{org}/members/{user}`). Members
//! who are not admins get 403, everyone else the same 404 as an unknown org.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::auth::Role;
use crate::credits::{self, Balance, LedgerEntry, Subject, SubjectKind};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/usage", web::get().to(usage))
        .route("/settings/credits", web::get().to(admin_credits))
        .route(
            "/settings/credits/users/{id}/allowance",
            web::post().to(set_allowance),
        )
        .route(
            "/settings/credits/users/{id}/adjust",
            web::post().to(adjust),
        )
        .route(
            "/settings/credits/orgs/{id}/allowance",
            web::post().to(set_org_allowance),
        )
        .route(
            "/settings/credits/orgs/{id}/adjust",
            web::post().to(adjust_org),
        )
        .route("/settings/orgs/{org}/credits", web::get().to(org_pool))
        .route(
            "/settings/orgs/{org}/credits/members/{user}",
            web::post().to(set_share),
        );
}

const BACK: &str = "/settings/credits";

fn require_superadmin(p: &Page) -> Result<(), PageError> {
    if p.caller.role == Role::Superadmin {
        Ok(())
    } else {
        Err(PageError::forbidden(
            "Credits are set by the appliance's superadmins.",
        ))
    }
}

/// One user's row on the admin page.
struct CreditRow {
    id: String,
    email: String,
    name: String,
    b: Balance,
}

#[derive(Template)]
#[template(path = "settings_credits.html")]
struct CreditsTpl {
    l: Layout,
    rows: Vec<CreditRow>,
    orgs: Vec<OrgRow>,
}

/// One organization's pool on the admin page.
struct OrgRow {
    id: String,
    name: String,
    slug: String,
    b: Balance,
}

async fn admin_credits(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    require_superadmin(&p)?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let users = web::block(move || auth.list_users(&caller)).await??;
    let orgs = state.orgs.clone();
    let caller = p.caller.clone();
    let all_orgs = web::block(move || orgs.list(&caller)).await??;
    let svc = state.credits.clone();
    let (rows, orgs) = web::block(move || {
        let rows = users
            .into_iter()
            .map(|u| {
                Ok(CreditRow {
                    b: svc.user_balance(&u.id)?,
                    id: u.id,
                    email: u.email,
                    name: u.display_name,
                })
            })
            .collect::<Result<Vec<_>, credits::Error>>()?;
        let orgs = all_orgs
            .into_iter()
            .filter(|o| o.shredded_at.is_none())
            .map(|o| {
                Ok(OrgRow {
                    b: svc.org_balance(&o.id)?,
                    id: o.id,
                    name: o.name,
                    slug: o.slug,
                })
            })
            .collect::<Result<Vec<_>, credits::Error>>()?;
        Ok::<_, credits::Error>((rows, orgs))
    })
    .await?
    .map_err(PageError::internal)?;
    p.respond(&CreditsTpl {
        l: p.layout("Credits", Nav::Settings, "credits"),
        rows,
        orgs,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AllowanceForm {
    monthly_allowance: String,
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AdjustForm {
    amount: String,
    reason: String,
}

/// The answer to a credit change: a flash on `back` with the summary on success or the
/// service's own message for bad input (nothing changed); 404 and 403 stay errors.
fn answer(back: &str, done: credits::Result<String>) -> Result<HttpResponse, PageError> {
    match done {
        Ok(summary) => Ok(redirect_flash(back, "success", summary)),
        Err(credits::Error::NotFound(_)) => Err(PageError::not_found()),
        Err(credits::Error::Invalid { field, message }) => Ok(redirect_flash(
            back,
            "error",
            format!("Nothing changed: {field} {message}."),
        )),
        Err(credits::Error::Forbidden(m)) => Err(PageError::forbidden(m)),
        Err(e) => Err(PageError::internal(e)),
    }
}

/// Runs one credit change for user or org `id` (superadmins) and answers on the admin page.
async fn change(
    state: Data,
    p: Page,
    kind: SubjectKind,
    id: String,
    act: impl FnOnce(&credits::CreditService, &str, &Subject) -> credits::Result<String>
    + Send
    + 'static,
) -> Result<HttpResponse, PageError> {
    require_superadmin(&p)?;
    let svc = state.credits.clone();
    let actor = p.caller.user_id.clone();
    let done = web::block(move || {
        let subject = match kind {
            SubjectKind::User => svc.find_user(&id)?,
            SubjectKind::Org => svc.find_org(&id)?,
        };
        act(&svc, &actor, &subject)
    })
    .await?;
    answer(BACK, done)
}

/// A whole number of credits from a form field; empty is `None` (not metered / no share).
fn optional_credits(text: &str) -> Result<Option<i64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        Ok(None)
    } else {
        text.parse::<i64>().map(Some).map_err(|_| ())
    }
}

async fn set_allowance_of(
    state: Data,
    kind: SubjectKind,
    id: String,
    form: PageForm<AllowanceForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let Ok(allowance) = optional_credits(&f.monthly_allowance) else {
        return Ok(redirect_flash(
            BACK,
            "error",
            "Nothing changed: the monthly allowance must be a whole number of credits (empty: not metered).",
        ));
    };
    change(state, p, kind, id, move |svc, actor, subject| {
        svc.set_allowance(actor, subject, allowance, &f.reason)
            .map(|_| match allowance {
                Some(a) => format!("Monthly allowance of {} set to {a} credits.", subject.label),
                None => format!("{} is no longer metered.", subject.label),
            })
    })
    .await
}

async fn adjust_of(
    state: Data,
    kind: SubjectKind,
    id: String,
    form: PageForm<AdjustForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let Ok(amount) = f.amount.trim().parse::<i64>() else {
        return Ok(redirect_flash(
            BACK,
            "error",
            "Nothing changed: the amount must be a whole number of credits (negative to deduct).",
        ));
    };
    change(state, p, kind, id, move |svc, actor, subject| {
        svc.adjust(actor, subject, amount, &f.reason)
            .map(|a| format!("{}.", a.summary))
    })
    .await
}

async fn set_allowance(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AllowanceForm>,
) -> Result<HttpResponse, PageError> {
    set_allowance_of(state, SubjectKind::User, path.into_inner(), form).await
}

async fn adjust(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AdjustForm>,
) -> Result<HttpResponse, PageError> {
    adjust_of(state, SubjectKind::User, path.into_inner(), form).await
}

async fn set_org_allowance(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AllowanceForm>,
) -> Result<HttpResponse, PageError> {
    set_allowance_of(state, SubjectKind::Org, path.into_inner(), form).await
}

async fn adjust_org(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AdjustForm>,
) -> Result<HttpResponse, PageError> {
    adjust_of(state, SubjectKind::Org, path.into_inner(), form).await
}

/// One member's row on an org's pool page.
struct ShareRow {
    id: String,
    email: String,
    name: String,
    role: &'static str,
    share: Option<i64>,
    used: i64,
}

#[derive(Template)]
#[template(path = "settings_org_credits.html")]
struct OrgPoolTpl {
    l: Layout,
    org_id: String,
    org_name: String,
    b: Balance,
    members: Vec<ShareRow>,
    /// The shares given so far.
    shared: i64,
}

/// An org's pool and member shares, for its admins and superadmins (members 403, others 404).
async fn org_pool(
    state: Data,
    p: Page,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let orgs = state.orgs.clone();
    let caller = p.caller.clone();
    let (org, members) = web::block(move || -> crate::tenancy::Result<_> {
        let org = orgs.managed(&caller, &id)?;
        let members = orgs.members(&caller, &org.id)?;
        Ok((org, members))
    })
    .await??;
    let svc = state.credits.clone();
    let org_id = org.id.clone();
    let (b, shares) = web::block(move || {
        Ok::<_, credits::Error>((svc.org_balance(&org_id)?, svc.member_shares(&org_id)?))
    })
    .await?
    .map_err(PageError::internal)?;
    let rows: Vec<ShareRow> = members
        .into_iter()
        .map(|m| {
            let s = shares.iter().find(|s| s.user_id == m.user_id);
            ShareRow {
                share: s.and_then(|s| s.share),
                used: s.map_or(0, |s| s.used),
                role: m.role.as_str(),
                id: m.user_id,
                email: m.email,
                name: m.display_name,
            }
        })
        .collect();
    let shared = rows.iter().filter_map(|r| r.share).sum();
    p.respond(&OrgPoolTpl {
        l: p.layout(format!("Credits of {}", org.name), Nav::Settings, "usage"),
        org_id: org.id,
        org_name: org.name,
        b,
        members: rows,
        shared,
    })
}

/// Sets a member's share of the org's pool (empty: no share), for the org's admins.
async fn set_share(
    state: Data,
    path: web::Path<(String, String)>,
    form: PageForm<AllowanceForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, user) = path.into_inner();
    let orgs = state.orgs.clone();
    let caller = p.caller.clone();
    let org = web::block(move || orgs.managed(&caller, &id)).await??;
    let back = format!("/settings/orgs/{}/credits", org.id);
    let Ok(share) = optional_credits(&f.monthly_allowance) else {
        return Ok(redirect_flash(
            &back,
            "error",
            "Nothing changed: the share must be a whole number of credits (empty: no share).",
        ));
    };
    let svc = state.credits.clone();
    let actor = p.caller.user_id.clone();
    let superadmin = p.caller.role == Role::Superadmin;
    let done = web::block(move || {
        svc.set_member_share(&actor, superadmin, &org.id, &user, share, &f.reason)?;
        let who = svc.find_user(&user)?.label;
        Ok(match share {
            Some(s) => format!("Share of {who} set to {s} credits a month."),
            None => format!("{who} has no share any more and draws on the whole pool."),
        })
    })
    .await?;
    answer(&back, done)
}

#[derive(Template)]
#[template(path = "settings_usage.html")]
struct UsageTpl {
    l: Layout,
    b: Balance,
    recent: Vec<LedgerEntry>,
    costs: Vec<(&'static str, i64)>,
    /// Organizations whose pools the caller administers: (id, name).
    pools: Vec<(String, String)>,
}

impl UsageTpl {
    /// The progress bar's width class (steps of 5%).
    fn bar(&self) -> String {
        format!("w-{}", (self.b.percent_used() / 5 * 5).clamp(0, 100))
    }

    /// No credits left (only when metered).
    fn exhausted(&self) -> bool {
        self.b.balance.is_some_and(|b| b <= 0)
    }

    fn when(&self, t: &str) -> String {
        super::settings::when(t)
    }

    fn payer(&self) -> String {
        match self.b.account {
            credits::SubjectKind::User => "your own allowance".to_string(),
            credits::SubjectKind::Org => format!("the credit pool of {}", self.b.account_label),
        }
    }

    fn signed(&self, n: &i64) -> String {
        if *n > 0 {
            format!("+{n}")
        } else {
            n.to_string()
        }
    }
}

async fn usage(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let svc = state.credits.clone();
    let caller = p.caller.clone();
    let (b, recent, pools) = web::block(move || {
        Ok::<_, credits::Error>((
            svc.balance_for(&caller.user_id, caller.org_id.as_deref())?,
            svc.user_ledger(&caller.user_id, 50)?,
            svc.administered_orgs(&caller.user_id)?,
        ))
    })
    .await?
    .map_err(PageError::internal)?;
    let costs = credits::Operation::ALL
        .iter()
        .map(|op| (op.as_str(), op.cost()))
        .collect();
    p.respond(&UsageTpl {
        l: p.layout("Usage", Nav::Settings, "usage"),
        b,
        recent,
        costs,
        pools,
    })
}
