//! Settings › Usage: the signed-in user's AI credits this month — who pays (their own
//! allowance or their organization's pool), balance, allowance, what was used, when the month
//! resets, what each operation type costs, and the recent consumption and adjustments. The
//! numbers come from the same service as `GET /api/me/credits`; the page only reads.
//!
//! Settings › Credits (superadmins): every user's balance, with forms to set the monthly
//! allowance and to add or deduct credits with a note — the same service calls as
//! `/api/admin/credits/users/…`, so the audit log, activity feed and emails follow.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::auth::Role;
use crate::credits::{self, Balance, LedgerEntry, Subject};
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
}

async fn admin_credits(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    require_superadmin(&p)?;
    let auth = state.auth.clone();
    let caller = p.caller.clone();
    let users = web::block(move || auth.list_users(&caller)).await??;
    let svc = state.credits.clone();
    let rows = web::block(move || {
        users
            .into_iter()
            .map(|u| {
                Ok(CreditRow {
                    b: svc.user_balance(&u.id)?,
                    id: u.id,
                    email: u.email,
                    name: u.display_name,
                })
            })
            .collect::<Result<Vec<_>, credits::Error>>()
    })
    .await?
    .map_err(PageError::internal)?;
    p.respond(&CreditsTpl {
        l: p.layout("Credits", Nav::Settings, "credits"),
        rows,
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

/// Runs one credit change for user `id` and answers with a flash on the admin page: the
/// service's own message for bad input (nothing changed), the summary on success.
async fn change(
    state: Data,
    p: Page,
    id: String,
    act: impl FnOnce(&credits::CreditService, &str, &Subject) -> credits::Result<String>
    + Send
    + 'static,
) -> Result<HttpResponse, PageError> {
    require_superadmin(&p)?;
    let svc = state.credits.clone();
    let actor = p.caller.user_id.clone();
    let done = web::block(move || {
        let subject = svc.find_user(&id)?;
        act(&svc, &actor, &subject)
    })
    .await?;
    match done {
        Ok(summary) => Ok(redirect_flash(BACK, "success", summary)),
        Err(credits::Error::NotFound(_)) => Err(PageError::not_found()),
        Err(credits::Error::Invalid { field, message }) => Ok(redirect_flash(
            BACK,
            "error",
            format!("Nothing changed: {field} {message}."),
        )),
        Err(credits::Error::Forbidden(m)) => Err(PageError::forbidden(m)),
        Err(e) => Err(PageError::internal(e)),
    }
}

async fn set_allowance(
    state: Data,
    path: web::Path<String>,
    form: PageForm<AllowanceForm>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let text = f.monthly_allowance.trim().to_string();
    let allowance = if text.is_empty() {
        None
    } else {
        match text.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Ok(redirect_flash(
                    BACK,
                    "error",
                    "Nothing changed: the monthly allowance must be a whole number of credits (empty: not metered).",
                ));
            }
        }
    };
    change(state, p, path.into_inner(), move |svc, actor, subject| {
        svc.set_allowance(actor, subject, allowance, &f.reason)
            .map(|_| match allowance {
                Some(a) => format!("Monthly allowance of {} set to {a} credits.", subject.label),
                None => format!("{} is no longer metered.", subject.label),
            })
    })
    .await
}

async fn adjust(
    state: Data,
    path: web::Path<String>,
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
    change(state, p, path.into_inner(), move |svc, actor, subject| {
        svc.adjust(actor, subject, amount, &f.reason)
            .map(|a| format!("{}.", a.summary))
    })
    .await
}

#[derive(Template)]
#[template(path = "settings_usage.html")]
struct UsageTpl {
    l: Layout,
    b: Balance,
    recent: Vec<LedgerEntry>,
    costs: Vec<(&'static str, i64)>,
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
    let (b, recent) = web::block(move || {
        Ok::<_, credits::Error>((
            svc.balance_for(&caller.user_id, caller.org_id.as_deref())?,
            svc.user_ledger(&caller.user_id, 50)?,
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
    })
}
