//! The dashboard at `/` (portfolio KPIs, model cards with maturity bars and risk breakdown,
//! activity feed) and the Models list, both read from [`crate::models::ModelService`], and the
//! Assurance entry (models linking to their assurance pages). Numbers are computed by
//! the domain layer; nothing here invents one.
//!
//! Every KPI card links to its drill-down: Models → `/models`, the other four →
//! `/objectives?filter=…`, which lists exactly the control objectives the card counts
//! (across all models of the workspace, via [`crate::domain::ThreatModel::objectives_where`]).
//! Model cards rename inline (`POST /models/{id}/title`, CSRF-checked; an invalid title
//! re-renders the dashboard with the error in that card, status 422).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::domain::{AssuranceFilter, DomainError, PortfolioSummary, RiskTier};
use crate::models::{self, ActivityItem, Dashboard, ListItem, ListQuery, Source};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(dashboard))
        .route("/objectives", web::get().to(objectives))
        .route("/models/{id}/title", web::post().to(rename))
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
    /// All control objectives (the denominator of the percentages).
    pub objectives: u64,
    /// COs with a fully implemented mitigation group.
    pub implemented: u64,
    /// COs with a fully CI-verified mitigation group.
    pub verified: u64,
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
            objectives: u64::from(p.counts.objectives),
            implemented: u64::from(p.counts.implemented),
            verified: u64::from(p.counts.verified),
        }
    }

    fn pct(v: Option<f64>) -> String {
        v.map_or_else(|| "—".to_string(), |p| format!("{}%", p.round()))
    }
}

/// The next step towards compliance for a model with these counts, and where to take it:
/// map controls to objectives without any, implement controls of at-risk objectives, prove
/// implemented objectives in CI, or nothing left.
fn next_step(model_id: &str, c: &crate::domain::AssuranceCounts) -> (String, String) {
    let model = format!("/models/{model_id}");
    let plural = |n: u32| if n == 1 { "" } else { "s" };
    if c.objectives == 0 {
        return (
            "Describe the system to derive control objectives.".into(),
            model,
        );
    }
    if c.not_started > 0 {
        return (
            format!(
                "Map controls to {} objective{} without any.",
                c.not_started,
                plural(c.not_started)
            ),
            model,
        );
    }
    if c.at_risk > 0 {
        return (
            format!(
                "Implement the controls of {} at-risk objective{}.",
                c.at_risk,
                plural(c.at_risk)
            ),
            format!("{model}/assurance"),
        );
    }
    let unverified = c.objectives.saturating_sub(c.verified);
    if unverified > 0 {
        return (
            format!(
                "Prove {} objective{} in CI with assertions and rampart verify.",
                unverified,
                plural(unverified)
            ),
            format!("{model}/assurance"),
        );
    }
    (
        "Every objective is implemented and CI-verified.".into(),
        format!("{model}/assurance"),
    )
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
    /// A refused rename: the model id and the form state.
    rename: Option<(String, FormState)>,
    /// Next steps of models with selected compliance frameworks.
    compliance_steps: BTreeMap<String, (String, String)>,
}

impl DashboardTpl {
    /// The rename error of a model card, if that card's form was refused.
    fn rename_err(&self, id: &str) -> Option<String> {
        self.rename
            .as_ref()
            .filter(|(m, _)| m == id)
            .and_then(|(_, f)| f.err("title").map(str::to_string))
    }

    /// The compliance next step of a model card: `(text, link)`, from the model's counts
    /// (spec/01: cards show "compliance next-steps"). The most basic gap comes first.
    /// With selected frameworks, the step comes from the framework with the lowest coverage
    /// (uncovered requirements → remediation, partial ones → implement and verify).
    fn next_step(&self, m: &ListItem) -> (String, String) {
        self.compliance_steps
            .get(&m.id)
            .cloned()
            .unwrap_or_else(|| next_step(&m.id, &m.summary.counts))
    }

    /// The title to show in a model card's rename field (the refused one, kept).
    fn rename_val(&self, m: &ListItem) -> String {
        match &self.rename {
            Some((id, f)) if *id == m.id => f.val("title").to_string(),
            _ => m.title.clone(),
        }
    }

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
    let d = load_dashboard(&state, &p).await?;
    render_dashboard(&p, d, None)
}

/// The dashboard read model plus each model's compliance next step (from its selected
/// frameworks; models without a selection keep the assurance-based step).
async fn load_dashboard(
    state: &Data,
    p: &Page,
) -> Result<(Dashboard, BTreeMap<String, (String, String)>), PageError> {
    let svc = state.models.clone();
    let compliance = state.compliance.clone();
    let caller = p.caller.clone();
    Ok(web::block(move || {
        let d = svc.dashboard(&caller)?;
        let mut steps = BTreeMap::new();
        for m in &d.models {
            if let Some(step) = compliance.next_step(&caller, &m.id)? {
                steps.insert(m.id.clone(), step);
            }
        }
        Ok::<_, crate::models::Error>((d, steps))
    })
    .await??)
}

fn render_dashboard(
    p: &Page,
    (d, steps): (Dashboard, BTreeMap<String, (String, String)>),
    rename: Option<(String, FormState)>,
) -> Result<HttpResponse, PageError> {
    let status = if rename.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut l = p.layout("Dashboard", Nav::Dashboard, "");
    if rename.is_some() {
        l.flash = None;
    }
    p.respond_status(
        status,
        &DashboardTpl {
            l,
            k: Kpis::from_portfolio(&d.portfolio),
            models: d.models,
            activity: d.activity,
            rename,
            compliance_steps: steps,
        },
    )
}

#[derive(Deserialize)]
struct RenameForm {
    #[serde(default)]
    title: String,
}

/// `POST /models/{id}/title`: inline rename from a dashboard model card through
/// [`crate::models::ModelService::rename`]. Invalid titles re-render the dashboard (422)
/// with the error in that card; another workspace's model is a 404.
async fn rename(
    state: Data,
    form: PageForm<RenameForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let title = f.title.clone();
    let model_id = id.clone();
    let r = web::block(move || svc.rename(&caller, &model_id, &title, Source::Web)).await?;
    let message = match r {
        Ok(s) => {
            return Ok(redirect_flash(
                "/",
                "success",
                format!("Model renamed to “{}”.", s.model.title),
            ));
        }
        Err(models::Error::Domain(DomainError::Invalid { reason, .. })) => {
            format!("The title {}.", reason.trim_end_matches('.'))
        }
        Err(models::Error::Invalid { message, .. }) => message,
        Err(e) => return Err(e.into()),
    };
    let mut fs = FormState::new().value("title", f.title);
    fs.error("title", message);
    let d = load_dashboard(&state, &p).await?;
    render_dashboard(&p, d, Some((id, fs)))
}

/// One row of a KPI drill-down: a control objective and the model it belongs to.
struct ObjectiveRow {
    model_id: String,
    model_title: String,
    co_id: String,
    statement: String,
    tier: RiskTier,
}

#[derive(Template)]
#[template(path = "objectives.html")]
struct ObjectivesTpl {
    l: Layout,
    filter: &'static str,
    heading: &'static str,
    lead: &'static str,
    rows: Vec<ObjectiveRow>,
}

impl ObjectivesTpl {
    fn tier(&self, t: &RiskTier) -> String {
        serde_json::to_value(t)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct FilterQuery {
    #[serde(default)]
    filter: Option<String>,
}

/// The KPI filters: query value, domain filter, heading, explanation.
const FILTERS: &[(&str, AssuranceFilter, &str, &str)] = &[
    (
        "implemented",
        AssuranceFilter::Implemented,
        "Implemented control objectives",
        "Objectives with at least one mitigation group whose controls are all implemented.",
    ),
    (
        "at_risk",
        AssuranceFilter::AtRisk,
        "Control objectives at risk",
        "Objectives that have controls but no fully implemented mitigation group yet.",
    ),
    (
        "not_started",
        AssuranceFilter::NotStarted,
        "Control objectives not started",
        "Objectives without any controls: decide how each one is mitigated.",
    ),
    (
        "verified",
        AssuranceFilter::Verified,
        "Verified control objectives",
        "Objectives with at least one mitigation group whose controls are all verified by CI.",
    ),
];

/// `GET /objectives?filter=implemented|at_risk|not_started|verified`: the control
/// objectives behind a dashboard KPI card, across every model of the workspace.
async fn objectives(
    state: Data,
    p: Page,
    q: web::Query<FilterQuery>,
) -> Result<HttpResponse, PageError> {
    let wanted = q.into_inner().filter.unwrap_or_default();
    let Some(&(name, filter, heading, lead)) = FILTERS.iter().find(|f| f.0 == wanted) else {
        return Err(PageError::bad_request(
            "Unknown filter: use implemented, at_risk, not_started or verified.",
        ));
    };
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let rows = web::block(move || {
        let list = svc.list(
            &caller,
            &ListQuery {
                offset: None,
                limit: Some(500),
                search: None,
            },
        )?;
        let mut rows = Vec::new();
        for item in list.items {
            let stored = svc.get(&caller, &item.id)?;
            let v = svc.verification(&caller, &item.id)?;
            for co in stored.model.objectives_where(filter, &v) {
                rows.push(ObjectiveRow {
                    model_id: stored.model.id.clone(),
                    model_title: stored.model.title.clone(),
                    co_id: co.id.clone(),
                    statement: co.statement.clone(),
                    tier: co.risk_tier,
                });
            }
        }
        Ok::<_, models::Error>(rows)
    })
    .await??;
    p.respond(&ObjectivesTpl {
        l: p.layout(heading, Nav::Dashboard, ""),
        filter: name,
        heading,
        lead,
        rows,
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
    fn next_steps_follow_the_most_basic_gap() {
        use crate::domain::AssuranceCounts;
        let c = |objectives, not_started, at_risk, verified| AssuranceCounts {
            objectives,
            not_started,
            at_risk,
            verified,
            ..Default::default()
        };
        assert_eq!(next_step("m", &c(0, 0, 0, 0)).1, "/models/m");
        let (text, href) = next_step("m", &c(5, 1, 2, 0));
        assert_eq!(text, "Map controls to 1 objective without any.");
        assert_eq!(href, "/models/m");
        let (text, href) = next_step("m", &c(5, 0, 2, 0));
        assert_eq!(text, "Implement the controls of 2 at-risk objectives.");
        assert_eq!(href, "/models/m/assurance");
        assert!(
            next_step("m", &c(5, 0, 0, 3))
                .0
                .starts_with("Prove 2 objectives")
        );
        assert!(
            next_step("m", &c(5, 0, 0, 5))
                .0
                .starts_with("Every objective")
        );
    }

    #[test]
    fn every_kpi_filter_has_a_domain_filter() {
        let names: Vec<&str> = FILTERS.iter().map(|f| f.0).collect();
        assert_eq!(names, ["implemented", "at_risk", "not_started", "verified"]);
        assert_eq!(FILTERS[1].1, AssuranceFilter::AtRisk);
    }

    #[test]
    fn percentages_without_objectives_are_dashes() {
        assert_eq!(Kpis::pct(None), "—");
        assert_eq!(Kpis::pct(Some(66.7)), "67%");
    }
}
