//! Offline compliance gap remediation: for each uncovered requirement, find the
//! threat-model catalog controls whose references reach it through the crosswalk, work out
//! which catalog assets and attackers the model lacks for the built-in engine to produce
//! such a control, and prove the plan by simulation — apply the additions to a copy of the
//! model, regenerate its controls with the built-in engine and re-derive the mappings. Only
//! additions that make a requirement mapped in the simulation are suggested, each naming
//! the requirements it serves; the catalog controls regeneration will add are listed too.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::catalog::{FrameworkDef, control_keys};
use super::report::{ComplianceReport, ReqStatus, derive_mappings};
use crate::domain::{NewAsset, NewAttacker, ThreatModel};
use crate::engine::{BuiltinEngine, Engine};

/// What a suggestion adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// A catalog asset (its control objectives follow).
    Asset,
    /// A catalog attacker archetype.
    Attacker,
    /// A catalog control that `regenerate_controls` adds once the assets/attackers exist.
    Control,
}

/// One proposed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// `S1..` within its remediation.
    pub id: String,
    /// Asset, attacker or control.
    pub kind: SuggestionKind,
    /// Catalog key of the entry.
    pub catalog_key: String,
    /// Display name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Requirement ids it serves.
    pub serves: Vec<String>,
    /// Why it is proposed.
    pub rationale: String,
    /// The asset to add (asset suggestions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<NewAsset>,
    /// The attacker to add (attacker suggestions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attacker: Option<NewAttacker>,
}

/// An uncovered requirement the offline catalog cannot close, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    /// Requirement id.
    pub requirement_id: String,
    /// Why (no catalog control reaches it, or the controls that do need description words).
    pub reason: String,
}

/// The outcome of planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Proposed additions, assets first, then attackers, then the resulting controls.
    pub suggestions: Vec<Suggestion>,
    /// Gaps left for manual controls.
    pub unresolved: Vec<Unresolved>,
}

/// Plans the remediation of `report`'s uncovered requirements (progress via `on_step`).
pub fn plan(
    engine: &BuiltinEngine,
    fw: &FrameworkDef,
    model: &ThreatModel,
    report: &ComplianceReport,
    mut on_step: impl FnMut(u32, &str),
) -> Plan {
    let cat = engine.catalog();
    let uncovered: Vec<&str> = report
        .requirements
        .iter()
        .filter(|r| r.status == ReqStatus::Uncovered)
        .map(|r| r.id.as_str())
        .collect();
    on_step(2, "Matching catalog controls to uncovered requirements");
    let have_tags: BTreeSet<String> = model
        .assets
        .iter()
        .flat_map(|a| engine.asset_tags(&a.name, &a.description, &a.tags))
        .collect();
    let have_archetypes: BTreeSet<String> = model
        .attackers
        .iter()
        .filter_map(|a| {
            engine
                .attacker_archetype(&a.archetype, &a.name, &a.description)
                .map(|e| e.key.clone())
        })
        .collect();
    // requirement → (assets to add, attackers to add); keys of catalog entries.
    let mut plans: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    let mut unresolved = Vec::new();
    for rid in &uncovered {
        let Some(r) = fw.requirement(rid) else {
            continue;
        };
        let keys = fw.match_keys(r);
        let candidates: Vec<_> = cat
            .controls
            .iter()
            .filter(|c| !control_keys(&c.refs).is_disjoint(&keys))
            .collect();
        if candidates.is_empty() {
            unresolved.push(Unresolved {
                requirement_id: r.id.clone(),
                reason: "no control of the threat-model catalog references it; add a manual control and map it".into(),
            });
            continue;
        }
        // The candidate needing the fewest additions wins; ties go to catalog order.
        let mut best: Option<(usize, Option<String>, Option<String>)> = None;
        for c in candidates {
            if !c.triggers.is_empty() {
                continue;
            }
            let asset = if c.asset_tags.is_empty() || !c.asset_tags.is_disjoint(&have_tags) {
                None
            } else {
                match cat.assets.iter().find(|e| {
                    !e.tags.is_disjoint(&c.asset_tags)
                        && (c.properties.is_empty() || !c.properties.is_disjoint(&e.properties))
                }) {
                    Some(e) => Some(e.key.clone()),
                    None => continue,
                }
            };
            let attacker = if c.attackers.is_empty()
                || c.attackers.iter().any(|k| have_archetypes.contains(k))
            {
                None
            } else {
                match c.attackers.iter().find_map(|k| cat.attacker(k)) {
                    Some(e) => Some(e.key.clone()),
                    None => continue,
                }
            };
            // Attackers fit almost any system; an asset the description never mentions is
            // a bigger claim about the system, so it costs more than an attacker.
            let cost = 2 * usize::from(asset.is_some()) + usize::from(attacker.is_some());
            if best.as_ref().is_none_or(|(b, _, _)| cost < *b) {
                best = Some((cost, asset, attacker));
            }
        }
        match best {
            Some((_, a, k)) => {
                plans.insert(r.id.clone(), (a, k));
            }
            None => unresolved.push(Unresolved {
                requirement_id: r.id.clone(),
                reason: "the catalog controls that reference it are chosen only when the feature description mentions them; add a manual control and map it".into(),
            }),
        }
    }

    on_step(3, "Simulating the additions and control regeneration");
    let mut sim = model.clone();
    let now = Utc::now();
    let mut asset_keys: Vec<String> = plans.values().filter_map(|p| p.0.clone()).collect();
    asset_keys.sort();
    asset_keys.dedup();
    let mut attacker_keys: Vec<String> = plans.values().filter_map(|p| p.1.clone()).collect();
    attacker_keys.sort();
    attacker_keys.dedup();
    let mut new_assets = BTreeMap::new();
    for k in &asset_keys {
        if let Some(e) = cat.assets.iter().find(|e| &e.key == k) {
            let a = engine.new_asset_from(
                e,
                format!(
                    "Added by compliance remediation for {}: the controls that serve its requirements protect this kind of asset.",
                    fw.name
                ),
            );
            if sim.add_asset(a.clone(), now).is_ok() {
                new_assets.insert(k.clone(), a);
            }
        }
    }
    let mut new_attackers = BTreeMap::new();
    for k in &attacker_keys {
        if let Some(e) = cat.attacker(k) {
            let a = engine.new_attacker_from(
                e,
                format!(
                    "Added by compliance remediation for {}: the controls that serve its requirements defend against this attacker.",
                    fw.name
                ),
            );
            if sim.add_attacker(a.clone(), now).is_ok() {
                new_attackers.insert(k.clone(), a);
            }
        }
    }
    let before: BTreeSet<Option<String>> = model
        .controls
        .iter()
        .map(|c| c.catalog_key.clone())
        .collect();
    let mapped_after: BTreeMap<String, BTreeSet<String>> = match engine
        .generate_controls(&sim.feature_description, &sim)
        .ok()
        .and_then(|out| sim.set_controls(out.data, now).ok())
    {
        Some(_) => {
            let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for d in derive_mappings(fw, &sim) {
                m.entry(d.requirement_id).or_default().insert(d.control_id);
            }
            m
        }
        None => BTreeMap::new(),
    };
    let mut asset_serves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut attacker_serves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut control_serves: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (rid, (a, k)) in &plans {
        let Some(ctrls) = mapped_after.get(rid) else {
            unresolved.push(Unresolved {
                requirement_id: rid.clone(),
                reason: "adding the catalog assets and attackers would still not produce a control for it; add a manual control and map it".into(),
            });
            continue;
        };
        if let Some(a) = a {
            asset_serves.entry(a.clone()).or_default().push(rid.clone());
        }
        if let Some(k) = k {
            attacker_serves
                .entry(k.clone())
                .or_default()
                .push(rid.clone());
        }
        for cid in ctrls {
            if let Some(c) = sim.control(cid)
                && !before.contains(&c.catalog_key)
                && let Some(key) = &c.catalog_key
            {
                control_serves
                    .entry(key.clone())
                    .or_default()
                    .push(rid.clone());
            }
        }
    }
    let mut suggestions = Vec::new();
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("S{n}")
    };
    for (k, serves) in asset_serves {
        if let Some(a) = new_assets.get(&k) {
            suggestions.push(Suggestion {
                id: next_id(),
                kind: SuggestionKind::Asset,
                catalog_key: k.clone(),
                name: a.name.clone(),
                description: a.description.clone(),
                rationale: format!(
                    "Catalog controls that serve {} protect a {} asset; the model has none. Approve it only if the system really has one: adding assets it lacks to close gaps would make the report claim coverage the system does not need.",
                    serves.join(", "),
                    a.name
                ),
                serves,
                asset: Some(a.clone()),
                attacker: None,
            });
        }
    }
    for (k, serves) in attacker_serves {
        if let Some(a) = new_attackers.get(&k) {
            suggestions.push(Suggestion {
                id: next_id(),
                kind: SuggestionKind::Attacker,
                catalog_key: k.clone(),
                name: a.name.clone(),
                description: a.description.clone(),
                rationale: format!(
                    "Catalog controls that serve {} defend against a {}; the model has no such attacker.",
                    serves.join(", "),
                    a.name
                ),
                serves,
                asset: None,
                attacker: Some(a.clone()),
            });
        }
    }
    for (k, mut serves) in control_serves {
        serves.sort();
        serves.dedup();
        if let Some(c) = cat.controls.iter().find(|c| c.key == k) {
            suggestions.push(Suggestion {
                id: next_id(),
                kind: SuggestionKind::Control,
                catalog_key: k.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
                rationale: format!(
                    "regenerate_controls adds it once the suggested assets and attackers exist; it maps to {}.",
                    serves.join(", ")
                ),
                serves,
                asset: None,
                attacker: None,
            });
        }
    }
    unresolved.sort_by(|a, b| a.requirement_id.cmp(&b.requirement_id));
    Plan {
        suggestions,
        unresolved,
    }
}
