//! The dashboard at `/` (KPI cards and the model overview) and the top-level Models and
//! Assurance entries. Until the threat-model store exists these show the KPIs of an empty
//! portfolio and an empty state saying how models get here; no numbers are invented.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::page::{Layout, Nav, Page, PageError};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard))
        .route("/models", web::get().to(models))
        .route("/assurance", web::get().to(assurance));
}

/// Portfolio KPIs of spec/01 "The Dashboard". Percentages are `None` when there are no
/// control objectives to divide by (shown as "—", not as 0 %).
#[derive(Debug, Clone, Default)]
pub struct Kpis {
    /// Number of threat models.
    pub models: u64,
    /// Share of COs with a fully implemented mitigation group.
    pub implemented_pct: Option<u8>,
    /// COs with controls but no complete group.
    pub at_risk: u64,
    /// COs without controls.
    pub not_started: u64,
    /// Share of COs with a fully CI-verified mitigation group.
    pub verified_pct: Option<u8>,
}

impl Kpis {
    fn pct(v: Option<u8>) -> String {
        v.map_or_else(|| "—".to_string(), |p| format!("{p}%"))
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardTpl {
    l: Layout,
    k: Kpis,
}

impl DashboardTpl {
    fn implemented(&self) -> String {
        Kpis::pct(self.k.implemented_pct)
    }

    fn verified(&self) -> String {
        Kpis::pct(self.k.verified_pct)
    }
}

async fn dashboard(p: Page) -> Result<HttpResponse, PageError> {
    p.respond(&DashboardTpl {
        l: p.layout("Dashboard", Nav::Dashboard, ""),
        k: Kpis::default(),
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

async fn models(p: Page) -> Result<HttpResponse, PageError> {
    p.respond(&EmptySectionTpl {
        l: p.layout("Models", Nav::Models, ""),
        heading: "No threat models yet",
        lead: "Threat models describe a feature's assets, attackers, trust boundaries, control \
               objectives and controls.",
        body: "Models created from the web app, over MCP (Settings → Integrations) or through \
               the REST API will be listed here with their maturity and risk breakdown.",
    })
}

async fn assurance(p: Page) -> Result<HttpResponse, PageError> {
    p.respond(&EmptySectionTpl {
        l: p.layout("Assurance", Nav::Assurance, ""),
        heading: "Nothing to verify yet",
        lead: "Assurance tracks each control's verification status, assertions, findings and \
               drift, fed by `rampart verify` runs in CI.",
        body: "Once a threat model has controls, add assertions to them and run the CI verifier \
               (Settings → Integrations has ready-made pipeline snippets).",
    })
}
