//! Pure compliance math: which requirements a model's controls map to through the catalog
//! crosswalks ([`derive_mappings`]), and the per-framework report ([`build_report`]) whose
//! statuses follow only from the controls' implementation status and their computed
//! verification status — nothing here can be set by hand.
//!
//! Status of a requirement:
//! - `not_applicable`: outside the selected profile (level/baseline/IG), or about an asset
//!   kind the model does not have (`applies`); the reason says which.
//! - `uncovered`: no control of the model is mapped to it (or only `not_applicable` ones).
//! - `covered`: every mapped control that applies is implemented and verified by CI.
//! - `partial`: mapped, but some mapped control is not implemented or not verified.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::catalog::{FrameworkDef, Profile, Requirement, control_keys};
use crate::domain::{ControlStatus, ThreatModel, VerificationMap, VerificationStatus};

/// Coverage status of one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReqStatus {
    /// All mapped controls implemented and verified.
    Covered,
    /// Mapped, but not all implemented or verified.
    Partial,
    /// Nothing mapped.
    Uncovered,
    /// Out of scope, with a reason.
    NotApplicable,
}

impl ReqStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReqStatus::Covered => "covered",
            ReqStatus::Partial => "partial",
            ReqStatus::Uncovered => "uncovered",
            ReqStatus::NotApplicable => "not_applicable",
        }
    }

    /// Parses a status filter.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "covered" => Some(ReqStatus::Covered),
            "partial" => Some(ReqStatus::Partial),
            "uncovered" => Some(ReqStatus::Uncovered),
            "not_applicable" | "n/a" | "na" => Some(ReqStatus::NotApplicable),
            _ => None,
        }
    }
}

/// Who made a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingSource {
    /// Derived offline from the control's references and the catalog crosswalks.
    Auto,
    /// Added by a person.
    Manual,
    /// Proposed by the configured LLM.
    Llm,
}

impl MappingSource {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingSource::Auto => "auto",
            MappingSource::Manual => "manual",
            MappingSource::Llm => "llm",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "manual" => MappingSource::Manual,
            "llm" => MappingSource::Llm,
            _ => MappingSource::Auto,
        }
    }
}

/// One control ↔ requirement link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Control id (`CTRL-03`).
    pub control_id: String,
    /// Framework id.
    pub framework_id: String,
    /// Requirement id.
    pub requirement_id: String,
    /// Who made it.
    pub source: MappingSource,
    /// `catalog`, the person's email, or `llm:<model>`.
    pub mapped_by: String,
    /// Why: the crosswalk path, or the person's/LLM's justification.
    pub reason: String,
}

/// A mapping the catalog derives, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// Control id.
    pub control_id: String,
    /// Requirement id.
    pub requirement_id: String,
    /// The references that connect them.
    pub reason: String,
}

/// Maps every control of `model` to the requirements of `fw` whose crosswalk references
/// intersect the control's references (800-53 enhancements also count for their base).
/// Deterministic: controls in model order, requirements in catalog order.
pub fn derive_mappings(fw: &FrameworkDef, model: &ThreatModel) -> Vec<Derived> {
    let req_keys: Vec<(&Requirement, BTreeSet<String>)> = fw
        .requirements
        .iter()
        .map(|r| (r, fw.match_keys(r)))
        .collect();
    let mut out = Vec::new();
    for c in &model.controls {
        let keys = control_keys(&c.framework_refs);
        if keys.is_empty() {
            continue;
        }
        for (r, rk) in &req_keys {
            let common: Vec<&String> = keys.intersection(rk).collect();
            if common.is_empty() {
                continue;
            }
            let via: Vec<String> = common
                .iter()
                .map(|k| {
                    k.replace("NIST:", "NIST SP 800-53 ")
                        .replace("ASVS:", "ASVS 4.0 ")
                })
                .collect();
            let reason = if fw.id == super::catalog::NIST_80053 {
                format!("control references {}", via.join(", "))
            } else {
                format!(
                    "control references {}; {} {} lists it in its crosswalk",
                    via.join(", "),
                    fw.name,
                    r.id
                )
            };
            out.push(Derived {
                control_id: c.id.clone(),
                requirement_id: r.id.clone(),
                reason,
            });
        }
    }
    out
}

/// One mapped control as the report shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MappedControl {
    /// Control id.
    pub control_id: String,
    /// Control name.
    pub name: String,
    /// Implementation status (`implemented`, …).
    pub status: ControlStatus,
    /// Computed verification status.
    pub verification_status: VerificationStatus,
    /// Who mapped it.
    pub source: MappingSource,
    /// `catalog`, an email or `llm:<model>`.
    pub mapped_by: String,
    /// Why.
    pub reason: String,
}

/// One requirement of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequirementReport {
    /// Requirement id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// Group id (`V8`, `AC`).
    pub group: String,
    /// Lowest profile rank (level) containing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// Coverage.
    pub status: ReqStatus,
    /// Why this status (what is missing, or why not applicable).
    pub reason: String,
    /// The mapped controls.
    pub controls: Vec<MappedControl>,
}

/// Counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportCounts {
    /// Requirements in the framework catalog.
    pub total: usize,
    /// Covered.
    pub covered: usize,
    /// Partial.
    pub partial: usize,
    /// Uncovered.
    pub uncovered: usize,
    /// Not applicable.
    pub not_applicable: usize,
    /// `covered / (total - not_applicable)` in percent, one decimal; 0 when nothing applies.
    pub percentage: f64,
}

/// A framework report of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComplianceReport {
    /// Model id.
    pub model_id: String,
    /// Model title.
    pub model_title: String,
    /// Model version the report was computed from.
    pub model_version: u64,
    /// Framework id.
    pub framework_id: String,
    /// Framework display name.
    pub framework_name: String,
    /// Framework version.
    pub framework_version: String,
    /// Selected profile, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Counts and percentage.
    pub counts: ReportCounts,
    /// Controls of the model with no mapping into this framework.
    pub unmapped_controls: Vec<String>,
    /// Every requirement, in catalog order.
    pub requirements: Vec<RequirementReport>,
    /// When computed (RFC 3339).
    pub generated_at: String,
}

fn label(s: &str) -> String {
    s.replace('_', " ")
}

/// Computes the report of `fw` for `model` from the stored `mappings` (already filtered to
/// this framework), the computed verification map and the selected profile.
pub fn build_report(
    fw: &FrameworkDef,
    profile: Option<&Profile>,
    model: &ThreatModel,
    verification: &VerificationMap,
    mappings: &[Mapping],
    generated_at: String,
) -> ComplianceReport {
    let model_tags: BTreeSet<&str> = model
        .assets
        .iter()
        .flat_map(|a| a.tags.iter().map(String::as_str))
        .collect();
    let mut by_req: BTreeMap<String, Vec<&Mapping>> = BTreeMap::new();
    let mut mapped_controls: BTreeSet<&str> = BTreeSet::new();
    for m in mappings {
        if model.control(&m.control_id).is_none() {
            continue;
        }
        mapped_controls.insert(&m.control_id);
        by_req
            .entry(m.requirement_id.to_ascii_uppercase())
            .or_default()
            .push(m);
    }
    let mut counts = ReportCounts {
        total: fw.requirements.len(),
        ..Default::default()
    };
    let mut reqs = Vec::with_capacity(fw.requirements.len());
    for r in &fw.requirements {
        let mut controls: Vec<MappedControl> = by_req
            .get(&r.id.to_ascii_uppercase())
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| {
                        let c = model.control(&m.control_id)?;
                        Some(MappedControl {
                            control_id: c.id.clone(),
                            name: c.name.clone(),
                            status: c.status,
                            verification_status: verification
                                .get(&c.id)
                                .copied()
                                .unwrap_or_default(),
                            source: m.source,
                            mapped_by: m.mapped_by.clone(),
                            reason: m.reason.clone(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        controls.sort_by_key(|a| id_order(&a.control_id));
        controls.dedup_by(|a, b| a.control_id == b.control_id);
        let (status, reason) = status_of(r, profile, &model_tags, &controls);
        match status {
            ReqStatus::Covered => counts.covered += 1,
            ReqStatus::Partial => counts.partial += 1,
            ReqStatus::Uncovered => counts.uncovered += 1,
            ReqStatus::NotApplicable => counts.not_applicable += 1,
        }
        reqs.push(RequirementReport {
            id: r.id.clone(),
            title: r.title.clone(),
            group: r.group.clone(),
            level: r.level,
            status,
            reason,
            controls,
        });
    }
    let applicable = counts.total - counts.not_applicable;
    counts.percentage = if applicable == 0 {
        0.0
    } else {
        ((counts.covered as f64) * 1000.0 / applicable as f64).round() / 10.0
    };
    let unmapped_controls = model
        .controls
        .iter()
        .filter(|c| !mapped_controls.contains(c.id.as_str()))
        .map(|c| c.id.clone())
        .collect();
    ComplianceReport {
        model_id: model.id.clone(),
        model_title: model.title.clone(),
        model_version: model.version,
        framework_id: fw.id.clone(),
        framework_name: fw.name.clone(),
        framework_version: fw.version.clone(),
        profile: profile.map(|p| p.id.clone()),
        counts,
        unmapped_controls,
        requirements: reqs,
        generated_at,
    }
}

/// Sort key of a control id (`CTRL-9` before `CTRL-10`).
fn id_order(id: &str) -> (String, u64) {
    let digits: String = id.chars().filter(|c| c.is_ascii_digit()).collect();
    (
        id.trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string(),
        digits.parse().unwrap_or(0),
    )
}

fn status_of(
    r: &Requirement,
    profile: Option<&Profile>,
    model_tags: &BTreeSet<&str>,
    controls: &[MappedControl],
) -> (ReqStatus, String) {
    if let Some(p) = profile {
        match r.level {
            None => {
                return (
                    ReqStatus::NotApplicable,
                    format!("not part of the selected profile {} ({})", p.id, p.name),
                );
            }
            Some(l) if l > p.rank => {
                return (
                    ReqStatus::NotApplicable,
                    format!(
                        "above the selected profile {} ({}): needed from level {l}",
                        p.id, p.name
                    ),
                );
            }
            _ => {}
        }
    }
    if !r.applies.is_empty() && !r.applies.iter().any(|t| model_tags.contains(t.as_str())) {
        return (
            ReqStatus::NotApplicable,
            format!("the model has no asset of kind {}", r.applies.join(" / ")),
        );
    }
    let live: Vec<&MappedControl> = controls
        .iter()
        .filter(|c| c.status != ControlStatus::NotApplicable)
        .collect();
    if controls.is_empty() {
        return (
            ReqStatus::Uncovered,
            "no control of the model is mapped to this requirement".into(),
        );
    }
    if live.is_empty() {
        return (
            ReqStatus::Uncovered,
            "every mapped control is marked not applicable".into(),
        );
    }
    let gaps: Vec<String> = live
        .iter()
        .filter_map(|c| {
            if c.status != ControlStatus::Implemented {
                Some(format!(
                    "{} is {}",
                    c.control_id,
                    label(wire(&c.status).as_str())
                ))
            } else if c.verification_status != VerificationStatus::Verified {
                Some(format!(
                    "{} is implemented but {}",
                    c.control_id,
                    label(wire(&c.verification_status).as_str())
                ))
            } else {
                None
            }
        })
        .collect();
    if gaps.is_empty() {
        let ids: Vec<&str> = live.iter().map(|c| c.control_id.as_str()).collect();
        (
            ReqStatus::Covered,
            format!("{} implemented and verified by CI", ids.join(", ")),
        )
    } else {
        (ReqStatus::Partial, gaps.join("; "))
    }
}

fn wire(v: &impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One CSV cell: quoted when needed; a leading formula character (`=`, `+`, `-`, `@`, tab,
/// carriage return) is prefixed with `'` so spreadsheets show text, never run a formula.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The report as CSV for auditors: a header, then one row per requirement and mapped
/// control (a requirement without controls has one row with empty control columns).
/// Only `requirements` are written, so a filtered report exports what was filtered.
pub fn csv(report: &ComplianceReport) -> String {
    let mut out = String::from(
        "framework,requirement_id,title,group,level,status,reason,control_id,control_name,control_status,verification_status,mapped_by,mapping_source,mapping_reason\r\n",
    );
    for r in &report.requirements {
        let head = [
            report.framework_id.clone(),
            r.id.clone(),
            r.title.clone(),
            r.group.clone(),
            r.level.map(|l| l.to_string()).unwrap_or_default(),
            r.status.as_str().to_string(),
            r.reason.clone(),
        ];
        let rows: Vec<[String; 7]> = if r.controls.is_empty() {
            vec![Default::default()]
        } else {
            r.controls
                .iter()
                .map(|c| {
                    [
                        c.control_id.clone(),
                        c.name.clone(),
                        wire(&c.status),
                        wire(&c.verification_status),
                        c.mapped_by.clone(),
                        c.source.as_str().to_string(),
                        c.reason.clone(),
                    ]
                })
                .collect()
        };
        for tail in rows {
            let cells: Vec<String> = head
                .iter()
                .chain(tail.iter())
                .map(|c| csv_cell(c))
                .collect();
            out.push_str(&cells.join(","));
            out.push_str("\r\n");
        }
    }
    out
}

/// A requirement a person declared not applicable to a model, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// Framework id.
    pub framework_id: String,
    /// Requirement id (canonical spelling).
    pub requirement_id: String,
    /// The justification auditors read.
    pub reason: String,
    /// Who declared it (email).
    pub excluded_by: String,
    /// When (RFC 3339).
    pub excluded_at: String,
}

/// Marks the excluded requirements `not_applicable` (reason: who excluded it and why) and
/// recomputes the counts. Requirements already out of scope keep their reason; mapped
/// controls stay listed so the drill-down still shows them.
pub fn apply_exclusions(rep: &mut ComplianceReport, exclusions: &[Exclusion]) {
    for r in &mut rep.requirements {
        if r.status == ReqStatus::NotApplicable {
            continue;
        }
        if let Some(e) = exclusions.iter().find(|e| {
            e.framework_id == rep.framework_id && e.requirement_id.eq_ignore_ascii_case(&r.id)
        }) {
            r.status = ReqStatus::NotApplicable;
            r.reason = format!("declared not applicable by {}: {}", e.excluded_by, e.reason);
        }
    }
    let mut counts = ReportCounts {
        total: rep.requirements.len(),
        ..Default::default()
    };
    for r in &rep.requirements {
        match r.status {
            ReqStatus::Covered => counts.covered += 1,
            ReqStatus::Partial => counts.partial += 1,
            ReqStatus::Uncovered => counts.uncovered += 1,
            ReqStatus::NotApplicable => counts.not_applicable += 1,
        }
    }
    let applicable = counts.total - counts.not_applicable;
    counts.percentage = if applicable == 0 {
        0.0
    } else {
        ((counts.covered as f64) * 1000.0 / applicable as f64).round() / 10.0
    };
    rep.counts = counts;
}

/// Applies the report filters (`status`, `group`, `requirement_id`) to the requirement
/// list; counts always describe the whole framework.
pub fn filter(
    rep: &mut ComplianceReport,
    status: Option<&str>,
    group: Option<&str>,
    requirement_id: Option<&str>,
) -> Result<(), crate::models::Error> {
    let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(
            ReqStatus::parse(s).ok_or_else(|| crate::models::Error::Invalid {
                field: "status".into(),
                message: format!(
                    "unknown status {s:?} (covered, partial, uncovered or not_applicable)"
                ),
            })?,
        ),
        None => None,
    };
    let group = group.map(str::trim).filter(|g| !g.is_empty());
    let rid = requirement_id.map(str::trim).filter(|g| !g.is_empty());
    if let Some(r) = rid
        && !rep
            .requirements
            .iter()
            .any(|x| x.id.eq_ignore_ascii_case(r))
    {
        return Err(crate::models::Error::NotFound(format!(
            "requirement {r} of {}",
            rep.framework_id
        )));
    }
    rep.requirements.retain(|r| {
        status.is_none_or(|s| r.status == s)
            && group.is_none_or(|g| r.group.eq_ignore_ascii_case(g))
            && rid.is_none_or(|i| r.id.eq_ignore_ascii_case(i))
    });
    Ok(())
}
