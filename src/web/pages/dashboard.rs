//! The dashboard at `/` (portfolio KPIs, model cards with maturity bars and risk breakdown,
//! activity feed) and the Models list, both read from [`crate::models::ModelService`], and the
//! Assurance entry (models linking to their assurance pages). Numbers are computed by
//! the domain layer; nothing here invents one.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{Layout, Nav, Page, PageError};
use crate::domain::PortfolioSummary;
use crate::models::{self, ActivityItem, ListItem, ListQuery};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard))
        .route("/models", web::get().to(models_list))
        .route("/assurance", web::get().to(assurance));
}

impl From<models::Error> for PageError {
    fn from(err: models::Error) -> Self {
        match err {
            models::Error::NotFound(_) => PageError::not_found(),
            models::Error::Forbidden(m) => PageError::forbidden(m),
            models::Error::Invalid { message, .. } => PageError::bad_request(message),
            models::Error::Domain(e) => PageError::bad_request(e.to_string()),
            other => PageError::internal(other),
        }
    }
}

/// Portfolio KPIs of spec/01 "The Dashboard". Percentages are `None` when there are no
/// control objectives to divide by (shown as "—", not as 0 %).
#[derive(Debug, Clone, Default)]
pub struct Kpis {
    /// Number of threat models.
    pub models: u64,
    /// Share of COs with a fully implemented mitigation group.
    pub implemented_pct: Option<f64>,
    /// COs with controls but no complete group.
    pub at_risk: u64,
    /// COs without controls.
    pub not_started: u64,
    /// Share of COs with a fully CI-verified mitigation group.
    pub verified_pct: Option<f64>,
}

impl Kpis {
    /// KPIs of a portfolio summary.
    pub fn from_portfolio(p: &PortfolioSummary) -> Self {
        let has_cos = p.counts.objectives > 0;
        Self {
            models: u64::from(p.models),
            implemented_pct: has_cos.then_some(p.counts.implemented_pct),
            at_risk: u64::from(p.counts.at_risk),
            not_started: u64::from(p.counts.not_started),
            verified_pct: has_cos.then_some(p.counts.verified_pct),
        }
    }

    fn pct(v: Option<f64>) -> String {
        v.map_or_else(|| "—".to_string(), |p| format!("{}%", p.round()))
    }
}

/// Width class (0, 5, …, 100) for a CSS bar: no inline styles under the CSP.
fn bar(pct: f64) -> u32 {
    let clamped = pct.clamp(0.0, 100.0);
    // Round to the nearest 5 so the stylesheet needs 21 classes only.
    ((clamped / 5.0).round() as u32) * 5
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardTpl {
    l: Layout,
    k: Kpis,
    models: Vec<ListItem>,
    activity: Vec<ActivityItem>,
}

impl DashboardTpl {
    fn implemented(&self) -> String {
        Kpis::pct(self.k.implemented_pct)
    }

    fn verified(&self) -> String {
        Kpis::pct(self.k.verified_pct)
    }

    // askama passes field arguments by reference.
    fn bar(&self, pct: &f64) -> u32 {
        bar(*pct)
    }

    fn pct(&self, pct: &f64) -> String {
        format!("{}%", pct.round())
    }

    fn when(&self, t: &str) -> String {
        super::settings::when(t)
    }
}

async fn dashboard(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let d = web::block(move || svc.dashboard(&caller)).await??;
    p.respond(&DashboardTpl {
        l: p.layout("Dashboard", Nav::Dashboard, ""),
        k: Kpis::from_portfolio(&d.portfolio),
        models: d.models,
        activity: d.activity,
    })
}

#[derive(Template)]
#[template(path = "models.html")]
struct ModelsTpl {
    l: Layout,
    items: Vec<ListItem>,
    total: u32,
    search: String,
}

impl ModelsTpl {
    fn when(&self, t: &str) -> String {
        super::settings::when(t)
    }

    fn pct(&self, pct: &f64) -> String {
        format!("{}%", pct.round())
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: Option<String>,
}

async fn models_list(
    state: Data,
    p: Page,
    q: web::Query<SearchQuery>,
) -> Result<HttpResponse, PageError> {
    let search = q.into_inner().q.unwrap_or_default().trim().to_string();
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let query = ListQuery {
        offset: None,
        limit: Some(200),
        search: (!search.is_empty()).then(|| search.clone()),
    };
    let page = web::block(move || svc.list(&caller, &query)).await??;
    p.respond(&ModelsTpl {
        l: p.layout("Models", Nav::Models, ""),
        items: page.items,
        total: page.total,
        search,
    })
}

#[derive(Template)]
#[template(path = "empty_section.html")]
struct EmptySectionTpl {
    l: Layout,
    heading: &'static str,
    lead: &'static str,
    body: &'static str,
}

#[derive(Template)]
#[template(path = "assurance_index.html")]
struct AssuranceIndexTpl {
    l: Layout,
    items: Vec<ListItem>,
}

impl AssuranceIndexTpl {
    fn pct(&self, pct: &f64) -> String {
        format!("{}%", pct.round())
    }
}

/// The Assurance entry: every model with its verification numbers, linking to its
/// per-control assurance page; an empty state when there is no model yet.
async fn assurance(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let query = ListQuery {
        offset: None,
        limit: Some(200),
        search: None,
    };
    let page = web::block(move || svc.list(&caller, &query)).await??;
    if page.items.is_empty() {
        return p.respond(&EmptySectionTpl {
            l: p.layout("Assurance", Nav::Assurance, ""),
            heading: "No models to assure yet",
            lead: "Assurance tracks each control's verification status, assertions, findings and \
                   drift, fed by `rampart verify` runs in CI.",
            body: "Create a threat model first; each model then has an assurance page where you \
                   add assertions for its controls. Settings → Integrations has ready-made CI \
                   snippets.",
        });
    }
    p.respond(&AssuranceIndexTpl {
        l: p.layout("Assurance", Nav::Assurance, ""),
        items: page.items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_round_to_steps_of_five_and_clamp() {
        assert_eq!(bar(0.0), 0);
        assert_eq!(bar(33.3), 35);
        assert_eq!(bar(97.4), 95);
        assert_eq!(bar(140.0), 100);
        assert_eq!(bar(-3.0), 0);
    }

    #[test]
    fn percentages_without_objectives_are_dashes() {
        assert_eq!(Kpis::pct(None), "—");
        assert_eq!(Kpis::pct(Some(66.7)), "67%");
    }
}
