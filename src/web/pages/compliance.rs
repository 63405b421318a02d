//! The Compliance tab of a model, `/models/{id}/compliance`: pick frameworks (with a
//! profile), then per selected framework the report — coverage summary, status filters, and
//! a table whose rows open to the requirement's mapped controls, each with its status,
//! computed verification status, who mapped it and why, and the assertions that prove it.
//! Forms: select frameworks, auto-map, add/remove a mapping, plan remediation and apply the
//! chosen suggestions (apply also regenerates the controls and re-maps, the whole workflow
//! of spec/02 in one step). Everything goes through
//! [`crate::compliance::ComplianceService`]; nothing here computes a status. Works without
//! JavaScript (plain forms, `<details>` drill-down). Another workspace's model is the 404.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::assurance::Assertion;
use crate::compliance::{
    ComplianceReport, FrameworkSummary, Remediation, ReqStatus, RequirementReport, Selection,
    SelectionInput, report,
};
use crate::models::{Source, StoredModel};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/{id}/compliance", web::get().to(page))
        .route("/models/{id}/compliance/frameworks", web::post().to(select))
        .route("/models/{id}/compliance/auto-map", web::post().to(auto_map))
        .route("/models/{id}/compliance/mappings", web::post().to(map))
        .route(
            "/models/{id}/compliance/mappings/remove",
            web::post().to(unmap),
        )
        .route(
            "/models/{id}/compliance/exclusions",
            web::post().to(exclude),
        )
        .route(
            "/models/{id}/compliance/exclusions/remove",
            web::post().to(include),
        )
        .route(
            "/models/{id}/compliance/remediation",
            web::post().to(remediate),
        )
        .route(
            "/models/{id}/compliance/remediation/apply",
            web::post().to(apply),
        );
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    framework: Option<String>,
    #[serde(default)]
    status: Option<String>,
    /// Requirement preselected in the "Map a control" form (the row's link sets it).
    #[serde(default)]
    map: Option<String>,
}

#[derive(Template)]
#[template(path = "model_compliance.html")]
struct ComplianceTpl {
    l: Layout,
    s: StoredModel,
    frameworks: Vec<FrameworkSummary>,
    selected: Vec<Selection>,
    current: Option<String>,
    status: String,
    report: Option<ComplianceReport>,
    /// Counts of the unfiltered report by status.
    rows: Vec<RequirementReport>,
    assertions: BTreeMap<String, Vec<Assertion>>,
    remediation: Option<Remediation>,
    /// Requirement preselected in the mapping form.
    map: String,
    /// Requirements a person declared not applicable (ids).
    excluded: Vec<String>,
}

impl ComplianceTpl {
    /// Link of a row's "Map a control" action: the same view with the requirement
    /// preselected in the one mapping form (one form instead of a control list per row keeps
    /// a 300-requirement page small).
    fn map_link(&self, requirement: &str) -> String {
        let mut l = self.filter_link(&self.status);
        l.push_str("&map=");
        l.push_str(&query_value(requirement));
        l.push_str("#map-form");
        l
    }

    /// Whether a person declared `requirement` not applicable (it can be withdrawn).
    fn is_excluded(&self, requirement: &str) -> bool {
        self.excluded.iter().any(|e| e == requirement)
    }

    /// Requirements a control can be mapped to (everything applicable).
    fn mappable(&self) -> Vec<&RequirementReport> {
        self.report
            .as_ref()
            .map(|r| {
                r.requirements
                    .iter()
                    .filter(|q| q.status != ReqStatus::NotApplicable)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn is_selected(&self, fw: &str) -> bool {
        self.selected.iter().any(|s| s.framework_id == fw)
    }

    fn profile_of(&self, fw: &str) -> String {
        self.selected
            .iter()
            .find(|s| s.framework_id == fw)
            .and_then(|s| s.profile.clone())
            .unwrap_or_default()
    }

    fn name_of(&self, fw: &str) -> String {
        self.frameworks
            .iter()
            .find(|f| f.id == fw)
            .map(|f| f.name.clone())
            .unwrap_or_else(|| fw.to_string())
    }

    fn pct(&self) -> String {
        self.report
            .as_ref()
            .map(|r| crate::compliance::trim_pct(r.counts.percentage))
            .unwrap_or_default()
    }

    /// Width class of the coverage bar (`w-0` … `w-100` in steps of 5).
    fn bar(&self) -> String {
        let p = self
            .report
            .as_ref()
            .map(|r| r.counts.percentage)
            .unwrap_or(0.0);
        format!("w-{}", ((p / 5.0).round() as u32 * 5).min(100))
    }

    fn label(&self, s: &str) -> String {
        s.replace('_', " ")
    }

    fn status_class(&self, s: &ReqStatus) -> &'static str {
        match s {
            ReqStatus::Covered => "badge-success",
            ReqStatus::Partial => "badge-warning",
            ReqStatus::Uncovered => "badge-danger",
            ReqStatus::NotApplicable => "badge-neutral",
        }
    }

    fn wire(&self, v: &impl serde::Serialize) -> String {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn filter_link(&self, status: &str) -> String {
        let fw = self.current.clone().unwrap_or_default();
        if status.is_empty() {
            format!("/models/{}/compliance?framework={fw}", self.s.model.id)
        } else {
            format!(
                "/models/{}/compliance?framework={fw}&status={status}",
                self.s.model.id
            )
        }
    }

    fn count(&self, status: &str) -> usize {
        let Some(r) = &self.report else { return 0 };
        match status {
            "covered" => r.counts.covered,
            "partial" => r.counts.partial,
            "uncovered" => r.counts.uncovered,
            "not_applicable" => r.counts.not_applicable,
            _ => r.counts.total,
        }
    }

    fn assertions_of(&self, control_id: &str) -> Vec<&Assertion> {
        self.assertions
            .get(control_id)
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    fn csv_link(&self) -> String {
        let fw = self.current.clone().unwrap_or_default();
        let mut l = format!(
            "/api/models/{}/compliance/report?framework={fw}&format=csv",
            self.s.model.id
        );
        if !self.status.is_empty() {
            l.push_str(&format!("&status={}", self.status));
        }
        l
    }

    fn badge_link(&self) -> String {
        format!(
            "/api/badge/{}?framework={}",
            self.s.model.id,
            self.current.clone().unwrap_or_default()
        )
    }
}

async fn page(
    state: Data,
    p: Page,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let q = q.into_inner();
    let svc = state.compliance.clone();
    let models = state.models.clone();
    let assurance = state.assurance.clone();
    let caller = p.caller.clone();
    let status = q
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            ReqStatus::parse(s)
                .map(|st| st.as_str().to_string())
                .ok_or_else(|| PageError::bad_request(format!("unknown status {s:?}")))
        })
        .transpose()?
        .unwrap_or_default();
    let st = status.clone();
    let map = q
        .map
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect::<String>();
    let tpl = web::block(move || {
        let s = models.get(&caller, &id)?;
        let selected = svc.selections(&caller, &id)?;
        let current = match q
            .framework
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty())
        {
            Some(f) => {
                let fw = svc.framework(f)?;
                if !selected.iter().any(|s| s.framework_id == fw.id) {
                    return Err(PageError::bad_request(format!(
                        "{} is not selected for this model",
                        fw.id
                    )));
                }
                Some(fw.id.clone())
            }
            None => selected.first().map(|s| s.framework_id.clone()),
        };
        let (report, rows, remediation, excluded) = match &current {
            Some(fw) => {
                let rep = svc.report(&caller, &id, fw)?;
                let mut filtered = rep.clone();
                report::filter(&mut filtered, Some(&st), None, None)?;
                let rem = svc.latest_remediation(&caller, &id, fw)?;
                let excluded = svc
                    .exclusions(&caller, &id, fw)?
                    .into_iter()
                    .map(|e| e.requirement_id)
                    .collect();
                (Some(rep), filtered.requirements, rem, excluded)
            }
            None => (None, Vec::new(), None, Vec::new()),
        };
        let mut assertions: BTreeMap<String, Vec<Assertion>> = BTreeMap::new();
        for a in assurance.list_assertions(&caller, &id, None)? {
            if let Some(c) = a.control_id.clone() {
                assertions.entry(c).or_default().push(a);
            }
        }
        Ok::<_, PageError>((
            s,
            selected,
            current,
            report,
            rows,
            assertions,
            remediation,
            excluded,
        ))
    })
    .await??;
    let (s, selected, current, report, rows, assertions, remediation, excluded) = tpl;
    let l = p.layout(format!("Compliance · {}", s.model.title), Nav::Models, "");
    p.respond(&ComplianceTpl {
        l,
        s,
        frameworks: state.compliance.frameworks(),
        selected,
        current,
        status,
        report,
        rows,
        assertions,
        remediation,
        map,
        excluded,
    })
}

/// Percent-encodes a query value (RFC 3986 unreserved kept): requirement ids carry
/// parentheses and spaces (`AC-2(1)`).
fn query_value(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn back(id: &str, fw: Option<&str>) -> String {
    match fw.filter(|f| !f.is_empty()) {
        Some(f) => format!("/models/{id}/compliance?framework={f}"),
        None => format!("/models/{id}/compliance"),
    }
}

/// A service refusal becomes an error flash on the page (nothing changed); an unknown or
/// foreign model stays the 404 page.
fn refused(to: &str, e: crate::models::Error) -> Result<HttpResponse, PageError> {
    match e {
        crate::models::Error::NotFound(ref w) if w.starts_with("model ") => {
            Err(PageError::not_found())
        }
        crate::models::Error::Store(_) => Err(PageError::internal(e)),
        other => Ok(redirect_flash(to, "error", other.to_string())),
    }
}

/// The framework form: one `fw` value per checked framework, `profile.<id>` per framework.
struct SelectForm {
    fw: Vec<String>,
    rest: BTreeMap<String, String>,
}

async fn select(
    state: Data,
    form: PageForm<Vec<(String, String)>>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm {
        page: p,
        form: pairs,
    } = form;
    let id = path.into_inner();
    // `fw` repeats, so the form is read as pairs.
    let mut f = SelectForm {
        fw: Vec::new(),
        rest: BTreeMap::new(),
    };
    for (k, v) in pairs {
        if k == "fw" {
            f.fw.push(v);
        } else {
            f.rest.insert(k, v);
        }
    }
    let inputs: Vec<SelectionInput> =
        f.fw.iter()
            .map(|fw| {
                let prof = f
                    .rest
                    .get(&format!("profile.{fw}"))
                    .map(|p| p.trim().to_string())
                    .unwrap_or_default();
                SelectionInput::Text(if prof.is_empty() {
                    fw.clone()
                } else {
                    format!("{fw}:{prof}")
                })
            })
            .collect();
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let first = f.fw.first().cloned();
    match web::block(move || svc.select(&caller, &mid, &inputs)).await? {
        Ok((sel, sum)) => Ok(redirect_flash(
            &back(&id, first.as_deref()),
            "success",
            if sel.is_empty() {
                "No framework selected.".to_string()
            } else {
                format!(
                    "{} framework(s) selected; {} mapping(s) added by the catalog crosswalks.",
                    sel.len(),
                    sum.added
                )
            },
        )),
        Err(e) => refused(&back(&id, None), e),
    }
}

#[derive(Deserialize)]
struct FwForm {
    #[serde(default)]
    framework_id: String,
}

async fn auto_map(
    state: Data,
    form: PageForm<FwForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id, Some(&f.framework_id));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let fw = f.framework_id.clone();
    match web::block(move || svc.auto_map(&caller, &mid, Some(&fw))).await? {
        Ok(s) => {
            let mut msg = format!(
                "Auto-mapped: {} added, {} removed, {} kept ({} removed by hand stay removed).",
                s.added, s.removed, s.kept, s.suppressed
            );
            if let Some(by) = &s.llm {
                msg.push_str(&format!(" {} proposed by {by}.", s.llm_added));
            }
            for w in &s.warnings {
                msg.push(' ');
                msg.push_str(w);
            }
            let kind = if s.warnings.is_empty() {
                "success"
            } else {
                "info"
            };
            Ok(redirect_flash(&to, kind, msg))
        }
        Err(e) => refused(&to, e),
    }
}

#[derive(Deserialize)]
struct MapForm {
    #[serde(default)]
    framework_id: String,
    #[serde(default)]
    requirement_id: String,
    #[serde(default)]
    control_id: String,
    #[serde(default)]
    reason: String,
}

async fn map(
    state: Data,
    form: PageForm<MapForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id, Some(&f.framework_id));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let msg = format!("{} mapped to {}.", f.control_id, f.requirement_id);
    match web::block(move || {
        svc.map(
            &caller,
            &mid,
            &f.control_id,
            &f.framework_id,
            &f.requirement_id,
            Some(&f.reason),
        )
    })
    .await?
    {
        Ok(_) => Ok(redirect_flash(&to, "success", msg)),
        Err(e) => refused(&to, e),
    }
}

#[derive(Deserialize)]
struct ExcludeForm {
    #[serde(default)]
    framework_id: String,
    #[serde(default)]
    requirement_id: String,
    #[serde(default)]
    reason: String,
}

async fn exclude(
    state: Data,
    form: PageForm<ExcludeForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id, Some(&f.framework_id));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let msg = format!("{} declared not applicable.", f.requirement_id);
    match web::block(move || {
        svc.exclude(&caller, &mid, &f.framework_id, &f.requirement_id, &f.reason)
    })
    .await?
    {
        Ok(_) => Ok(redirect_flash(&to, "success", msg)),
        Err(e) => refused(&to, e),
    }
}

async fn include(
    state: Data,
    form: PageForm<ExcludeForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id, Some(&f.framework_id));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let msg = format!("{} applies again.", f.requirement_id);
    match web::block(move || svc.include(&caller, &mid, &f.framework_id, &f.requirement_id)).await?
    {
        Ok(_) => Ok(redirect_flash(&to, "success", msg)),
        Err(e) => refused(&to, e),
    }
}

async fn unmap(
    state: Data,
    form: PageForm<MapForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id, Some(&f.framework_id));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    let msg = format!("{} no longer mapped to {}.", f.control_id, f.requirement_id);
    match web::block(move || {
        svc.unmap(
            &caller,
            &mid,
            &f.control_id,
            &f.framework_id,
            &f.requirement_id,
        )
    })
    .await?
    {
        Ok(()) => Ok(redirect_flash(&to, "success", msg)),
        Err(e) => refused(&to, e),
    }
}

async fn remediate(
    state: Data,
    form: PageForm<FwForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = format!("{}#remediation", back(&id, Some(&f.framework_id)));
    let (svc, caller, mid) = (state.compliance.clone(), p.caller.clone(), id.clone());
    match web::block(move || svc.suggest(&caller, &mid, &f.framework_id, None)).await? {
        Ok(r) => Ok(redirect_flash(
            &to,
            "success",
            format!(
                "Remediation {}: {} suggestion(s), {} requirement(s) need manual controls.",
                r.id,
                r.plan.suggestions.len(),
                r.plan.unresolved.len()
            ),
        )),
        Err(e) => refused(&to, e),
    }
}

async fn apply(
    state: Data,
    form: PageForm<Vec<(String, String)>>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm {
        page: p,
        form: pairs,
    } = form;
    let id = path.into_inner();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let fw = get("framework_id");
    let rid = get("remediation_id");
    let chosen: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "suggestion")
        .map(|(_, v)| v.clone())
        .collect();
    let to = back(&id, Some(&fw));
    let (svc, models, engine, caller, mid) = (
        state.compliance.clone(),
        state.models.clone(),
        state.engine.clone(),
        p.caller.clone(),
        id.clone(),
    );
    let r = web::block(move || {
        svc.apply(&caller, &mid, &rid, &chosen, Source::Web)?;
        let (_, change) =
            models.regenerate_controls(&caller, engine.as_ref(), &mid, Source::Web)?;
        let sum = svc.auto_map(&caller, &mid, Some(&fw))?;
        Ok::<_, crate::models::Error>((change, sum))
    })
    .await?;
    match r {
        Ok((change, sum)) => Ok(redirect_flash(
            &to,
            "success",
            format!(
                "Applied: controls regenerated ({} added), {} new mapping(s).",
                change.added.len(),
                sum.added
            ),
        )),
        Err(e) => refused(&to, e),
    }
}
