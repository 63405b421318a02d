//! Settings › Usage: the signed-in user's AI credits this month — who pays (their own
//! allowance or their organization's pool), balance, allowance, what was used, when the month
//! resets, what each operation type costs, and the recent consumption and adjustments. The
//! numbers come from the same service as `GET /api/me/credits`; the page only reads.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::page::{Layout, Nav, Page, PageError};
use crate::credits::{self, Balance, LedgerEntry};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/settings/usage", web::get().to(usage));
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
