//! Assurance math: the state of each control objective from its mitigation groups, and the
//! model / portfolio summaries behind the dashboard KPIs and maturity bars.
//!
//! Rules (DESIGN.md "Threat model semantics"):
//! - A mitigation group is **implemented** when every control in it is `implemented` or
//!   `not_applicable` and at least one is `implemented`. A group made only of
//!   `not_applicable` controls protects nothing, so it does not count.
//! - A group is **verified** when every control in it is verified (per the verification map
//!   from the assurance layer; absent = unverified) or `not_applicable`, and at least one is
//!   verified. `partially_verified` and `pending` are not verified.
//! - CO **implemented** ⇔ some group implemented; **verified** ⇔ some group verified;
//!   **at risk** ⇔ it has controls but no implemented group; **not started** ⇔ no controls.
//!   Verified is independent of implemented (CI can verify before the status is set).
//! - Percentages are of all COs, rounded to one decimal; 0 when there are no COs.

use super::model::{Control, ControlObjective, MitigationGroup, ThreatModel};
use super::types::{ControlStatus, RiskTier, VerificationStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Verification status per control id, computed by the assurance layer. Missing = unverified.
pub type VerificationMap = BTreeMap<String, VerificationStatus>;

/// Implementation state of a control objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoState {
    /// No controls mapped.
    NotStarted,
    /// Controls mapped but no complete group.
    AtRisk,
    /// Some group fully implemented.
    Implemented,
}

/// Filter for drill-down lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssuranceFilter {
    /// COs with an implemented group.
    Implemented,
    /// COs with controls but no implemented group.
    AtRisk,
    /// COs without controls.
    NotStarted,
    /// COs with a verified group.
    Verified,
    /// COs without a verified group.
    Unverified,
}

/// Assurance of one control objective.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoAssurance {
    /// The CO.
    pub co_id: String,
    /// Its risk tier.
    pub risk_tier: RiskTier,
    /// Implementation state.
    pub state: CoState,
    /// Some group implemented.
    pub implemented: bool,
    /// Some group verified.
    pub verified: bool,
    /// Indexes of implemented groups.
    pub implemented_groups: Vec<usize>,
    /// Indexes of verified groups.
    pub verified_groups: Vec<usize>,
}

/// Counts per risk tier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierCounts {
    /// Critical COs.
    pub critical: u32,
    /// High COs.
    pub high: u32,
    /// Medium COs.
    pub medium: u32,
    /// Low COs.
    pub low: u32,
}

impl TierCounts {
    fn add(&mut self, t: RiskTier) {
        match t {
            RiskTier::Critical => self.critical += 1,
            RiskTier::High => self.high += 1,
            RiskTier::Medium => self.medium += 1,
            RiskTier::Low => self.low += 1,
        }
    }
    fn merge(&mut self, o: &TierCounts) {
        self.critical += o.critical;
        self.high += o.high;
        self.medium += o.medium;
        self.low += o.low;
    }
}

/// Counts of controls by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlCounts {
    /// All controls.
    pub total: u32,
    /// `not_implemented`.
    pub not_implemented: u32,
    /// `in_progress`.
    pub in_progress: u32,
    /// `implemented`.
    pub implemented: u32,
    /// `not_applicable`.
    pub not_applicable: u32,
    /// Verified per the verification map.
    pub verified: u32,
}

impl ControlCounts {
    fn merge(&mut self, o: &ControlCounts) {
        self.total += o.total;
        self.not_implemented += o.not_implemented;
        self.in_progress += o.in_progress;
        self.implemented += o.implemented;
        self.not_applicable += o.not_applicable;
        self.verified += o.verified;
    }
}

/// The three progressive maturity bars, in percent of COs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Maturity {
    /// COs with at least one mitigation group (controls defined).
    pub defined_pct: f64,
    /// COs implemented.
    pub implemented_pct: f64,
    /// COs verified.
    pub verified_pct: f64,
}

/// Counts shared by model and portfolio summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssuranceCounts {
    /// Number of COs.
    pub objectives: u32,
    /// COs with controls defined.
    pub defined: u32,
    /// Implemented COs.
    pub implemented: u32,
    /// At-risk COs.
    pub at_risk: u32,
    /// Not-started COs.
    pub not_started: u32,
    /// Verified COs.
    pub verified: u32,
    /// Implemented / objectives, percent.
    pub implemented_pct: f64,
    /// Verified / objectives, percent.
    pub verified_pct: f64,
    /// Maturity bars.
    pub maturity: Maturity,
    /// COs per risk tier.
    pub risk_tiers: TierCounts,
    /// At-risk COs per tier (what needs attention first).
    pub at_risk_tiers: TierCounts,
    /// Controls by status.
    pub controls: ControlCounts,
}

impl AssuranceCounts {
    fn finish(&mut self) {
        self.implemented_pct = pct(self.implemented, self.objectives);
        self.verified_pct = pct(self.verified, self.objectives);
        self.maturity = Maturity {
            defined_pct: pct(self.defined, self.objectives),
            implemented_pct: self.implemented_pct,
            verified_pct: self.verified_pct,
        };
    }
}

/// Dashboard summary of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model id.
    pub model_id: String,
    /// Model title.
    pub title: String,
    /// Model version.
    pub version: u64,
    /// Number of assets.
    pub assets: u32,
    /// Number of attackers.
    pub attackers: u32,
    /// The counts.
    #[serde(flatten)]
    pub counts: AssuranceCounts,
}

/// Dashboard summary across many models (sums; percentages recomputed from the sums).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioSummary {
    /// Number of models.
    pub models: u32,
    /// The counts.
    #[serde(flatten)]
    pub counts: AssuranceCounts,
}

fn pct(n: u32, d: u32) -> f64 {
    if d == 0 {
        0.0
    } else {
        (f64::from(n) * 1000.0 / f64::from(d)).round() / 10.0
    }
}

fn group_ok<F: Fn(&Control) -> bool>(
    g: &MitigationGroup,
    controls: &BTreeMap<&str, &Control>,
    ok: F,
) -> bool {
    let mut any_real = false;
    for id in &g.controls {
        let Some(c) = controls.get(id.as_str()) else {
            return false;
        };
        if c.status == ControlStatus::NotApplicable {
            continue;
        }
        if !ok(c) {
            return false;
        }
        any_real = true;
    }
    any_real
}

/// Assurance of one CO given the model's controls and the verification map.
pub fn assess_objective(
    co: &ControlObjective,
    controls: &BTreeMap<&str, &Control>,
    verification: &VerificationMap,
) -> CoAssurance {
    let mut implemented_groups = Vec::new();
    let mut verified_groups = Vec::new();
    for (i, g) in co.mitigation_groups.iter().enumerate() {
        if group_ok(g, controls, |c| c.status == ControlStatus::Implemented) {
            implemented_groups.push(i);
        }
        if group_ok(g, controls, |c| {
            verification.get(&c.id).copied().unwrap_or_default() == VerificationStatus::Verified
        }) {
            verified_groups.push(i);
        }
    }
    let has_controls = co.mitigation_groups.iter().any(|g| !g.controls.is_empty());
    let implemented = !implemented_groups.is_empty();
    let state = if !has_controls {
        CoState::NotStarted
    } else if implemented {
        CoState::Implemented
    } else {
        CoState::AtRisk
    };
    CoAssurance {
        co_id: co.id.clone(),
        risk_tier: co.risk_tier,
        state,
        implemented,
        verified: !verified_groups.is_empty(),
        implemented_groups,
        verified_groups,
    }
}

impl ThreatModel {
    fn control_index(&self) -> BTreeMap<&str, &Control> {
        self.controls.iter().map(|c| (c.id.as_str(), c)).collect()
    }

    /// Assurance of every CO, in CO order.
    pub fn assess(&self, verification: &VerificationMap) -> Vec<CoAssurance> {
        let idx = self.control_index();
        self.control_objectives
            .iter()
            .map(|co| assess_objective(co, &idx, verification))
            .collect()
    }

    /// Drill-down: the COs matching `filter`, in CO order.
    pub fn objectives_where(
        &self,
        filter: AssuranceFilter,
        verification: &VerificationMap,
    ) -> Vec<&ControlObjective> {
        let idx = self.control_index();
        self.control_objectives
            .iter()
            .filter(|co| {
                let a = assess_objective(co, &idx, verification);
                match filter {
                    AssuranceFilter::Implemented => a.implemented,
                    AssuranceFilter::AtRisk => a.state == CoState::AtRisk,
                    AssuranceFilter::NotStarted => a.state == CoState::NotStarted,
                    AssuranceFilter::Verified => a.verified,
                    AssuranceFilter::Unverified => !a.verified,
                }
            })
            .collect()
    }

    /// Dashboard summary of this model.
    pub fn summary(&self, verification: &VerificationMap) -> ModelSummary {
        let mut counts = AssuranceCounts::default();
        for a in self.assess(verification) {
            counts.objectives += 1;
            counts.risk_tiers.add(a.risk_tier);
            match a.state {
                CoState::NotStarted => counts.not_started += 1,
                CoState::AtRisk => {
                    counts.at_risk += 1;
                    counts.at_risk_tiers.add(a.risk_tier);
                }
                CoState::Implemented => counts.implemented += 1,
            }
            if a.state != CoState::NotStarted {
                counts.defined += 1;
            }
            if a.verified {
                counts.verified += 1;
            }
        }
        for c in &self.controls {
            counts.controls.total += 1;
            match c.status {
                ControlStatus::NotImplemented => counts.controls.not_implemented += 1,
                ControlStatus::InProgress => counts.controls.in_progress += 1,
                ControlStatus::Implemented => counts.controls.implemented += 1,
                ControlStatus::NotApplicable => counts.controls.not_applicable += 1,
            }
            if verification.get(&c.id).copied().unwrap_or_default() == VerificationStatus::Verified
            {
                counts.controls.verified += 1;
            }
        }
        counts.finish();
        ModelSummary {
            model_id: self.id.clone(),
            title: self.title.clone(),
            version: self.version,
            assets: self.assets.len() as u32,
            attackers: self.attackers.len() as u32,
            counts,
        }
    }
}

/// Aggregates model summaries into the portfolio KPIs.
pub fn portfolio<'a>(summaries: impl IntoIterator<Item = &'a ModelSummary>) -> PortfolioSummary {
    let mut models = 0;
    let mut c = AssuranceCounts::default();
    for s in summaries {
        models += 1;
        let o = &s.counts;
        c.objectives += o.objectives;
        c.defined += o.defined;
        c.implemented += o.implemented;
        c.at_risk += o.at_risk;
        c.not_started += o.not_started;
        c.verified += o.verified;
        c.risk_tiers.merge(&o.risk_tiers);
        c.at_risk_tiers.merge(&o.at_risk_tiers);
        c.controls.merge(&o.controls);
    }
    c.finish();
    PortfolioSummary { models, counts: c }
}
