//! The threat model aggregate and every operation on it.
//!
//! All operations are pure: they take the current time as an argument (`now`) instead of
//! reading a clock, validate everything first, and either change the model completely or
//! return an error and leave it untouched. Each successful change bumps `version` by one and
//! sets `updated_at`. The store decides where models live; `created_at`/`updated_at` here are
//! the model's own timestamps and are set from the `now` the caller passes.
//!
//! Ids inside a model come from per-kind counters that only grow, and removed entities
//! become [`Tombstone`]s, so an id is never reused and old links (Jira, exports) still
//! resolve to what they meant.

use super::error::{DomainError, Result};
use super::types::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Longest entity name.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest free text field (descriptions, rationales, notes).
pub const MAX_TEXT_CHARS: usize = 4_000;
/// Longest feature description a model can be generated from.
pub const MAX_FEATURE_DESCRIPTION_CHARS: usize = 20_000;
/// Most evidence items on one control.
pub const MAX_EVIDENCE_PER_CONTROL: usize = 200;

/// Something worth protecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    /// `A1..`, never reused.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Properties it needs (never empty).
    pub properties: PropertySet,
    /// How bad a compromise would be.
    pub impact: Level,
    /// Why it is in the model (words of the description or rule that produced it).
    pub rationale: String,
    /// Catalog kinds (e.g. `object-storage`, `pii`) used by engines to pick attackers and
    /// controls; empty for hand-made assets.
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

/// Input for a new asset (the model assigns the id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAsset {
    /// Short name.
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// Properties it needs (never empty).
    pub properties: PropertySet,
    /// How bad a compromise would be.
    pub impact: Level,
    /// Why it is in the model.
    #[serde(default)]
    pub rationale: String,
    /// Catalog kinds.
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

/// Partial update of an asset; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New property set.
    pub properties: Option<PropertySet>,
    /// New impact.
    pub impact: Option<Level>,
    /// New rationale.
    pub rationale: Option<String>,
}

/// Someone who may attack the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attacker {
    /// `ATK1..`, never reused.
    pub id: String,
    /// Short name.
    pub name: String,
    /// Who they are.
    pub description: String,
    /// What they can do.
    pub capability: String,
    /// Where they stand.
    pub position: AttackerPosition,
    /// Catalog archetype key or a free label (`authenticated-user`, `malicious-insider`).
    pub archetype: String,
    /// How likely they act.
    pub likelihood: Level,
    /// Properties this attacker threatens (never empty). COs use asset properties ∩ these.
    pub threatens: PropertySet,
    /// Assets in reach; `None` means every asset. Removed assets drop out of this set.
    #[serde(default)]
    pub targets: Option<BTreeSet<String>>,
    /// Why they are in the model.
    pub rationale: String,
    /// Catalog kinds.
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

/// Input for a new attacker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAttacker {
    /// Short name.
    pub name: String,
    /// Who they are.
    #[serde(default)]
    pub description: String,
    /// What they can do.
    #[serde(default)]
    pub capability: String,
    /// Where they stand.
    pub position: AttackerPosition,
    /// Archetype label.
    #[serde(default)]
    pub archetype: String,
    /// How likely they act.
    pub likelihood: Level,
    /// Properties threatened; an empty set means all four.
    #[serde(default)]
    pub threatens: PropertySet,
    /// Asset ids in reach; `None` = all.
    #[serde(default)]
    pub targets: Option<BTreeSet<String>>,
    /// Why they are in the model.
    #[serde(default)]
    pub rationale: String,
    /// Catalog kinds.
    #[serde(default)]
    pub tags: BTreeSet<String>,
}

/// Partial update of an attacker; `None` keeps the field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackerPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New capability.
    pub capability: Option<String>,
    /// New position.
    pub position: Option<AttackerPosition>,
    /// New likelihood.
    pub likelihood: Option<Level>,
    /// New threatened properties.
    pub threatens: Option<PropertySet>,
    /// New reach (`Some(None)` = all assets).
    pub targets: Option<Option<BTreeSet<String>>>,
    /// New rationale.
    pub rationale: Option<String>,
}

/// A line across which trust changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustBoundary {
    /// `TB1..`
    pub id: String,
    /// Short name.
    pub name: String,
    /// The zones it separates (usually two, e.g. "Internet", "API tier").
    pub zones: Vec<String>,
    /// Assets on the protected side.
    pub assets: BTreeSet<String>,
    /// What crosses it (requests, tokens, files, messages).
    pub crossing: Vec<String>,
    /// Why it is in the model.
    pub rationale: String,
}

/// Input for a trust boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTrustBoundary {
    /// Short name.
    pub name: String,
    /// Zones separated.
    pub zones: Vec<String>,
    /// Asset ids on the protected side (must exist).
    #[serde(default)]
    pub assets: BTreeSet<String>,
    /// What crosses it.
    #[serde(default)]
    pub crossing: Vec<String>,
    /// Why it is in the model.
    #[serde(default)]
    pub rationale: String,
}

/// A set of controls that together (AND) achieve a control objective. A CO is met when
/// any one of its groups is (OR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MitigationGroup {
    /// Label shown to users ("primary", "alternative: client-side encryption").
    pub label: String,
    /// Control ids, all required.
    pub controls: Vec<String>,
}

/// Protect `properties` of `asset_id` against `attacker_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlObjective {
    /// `CO1..`
    pub id: String,
    /// The asset.
    pub asset_id: String,
    /// The attacker.
    pub attacker_id: String,
    /// Asset properties ∩ properties the attacker threatens (never empty).
    pub properties: PropertySet,
    /// From asset impact × attacker likelihood (see [`RiskTier`]).
    pub risk_tier: RiskTier,
    /// One-sentence statement of the objective.
    pub statement: String,
    /// Ways to achieve it.
    #[serde(default)]
    pub mitigation_groups: Vec<MitigationGroup>,
}

/// Something the model takes for granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumption {
    /// `AS1..`
    pub id: String,
    /// The assumption.
    pub text: String,
    /// Review status.
    pub status: AssumptionStatus,
    /// Where it comes from.
    pub rationale: String,
}

/// Input for an assumption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAssumption {
    /// The assumption.
    pub text: String,
    /// Where it comes from.
    #[serde(default)]
    pub rationale: String,
}

/// A piece of evidence attached to a control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// `EV1..`, unique within its control, never reused.
    pub id: String,
    /// Short description.
    pub title: String,
    /// URL, file path, ticket or other pointer.
    pub reference: String,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// Input for evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvidence {
    /// Short description.
    pub title: String,
    /// Pointer.
    #[serde(default)]
    pub reference: String,
}

/// A safeguard that contributes to one or more control objectives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// `CTRL-01..`
    pub id: String,
    /// Short name.
    pub name: String,
    /// What to do.
    pub description: String,
    /// Implementation status.
    pub status: ControlStatus,
    /// Free notes about how it is implemented.
    #[serde(default)]
    pub implementation_notes: String,
    /// Evidence items.
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// Framework references.
    #[serde(default)]
    pub framework_refs: Vec<FrameworkRef>,
    /// Why it is in the model.
    pub rationale: String,
    /// Catalog key when generated; regeneration keeps a control (and its status) when the
    /// same key is produced again.
    #[serde(default)]
    pub catalog_key: Option<String>,
    /// Counter behind evidence ids.
    #[serde(default)]
    pub evidence_counter: u32,
}

/// Where a new control goes: a CO and the label of the mitigation group inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlMapping {
    /// Control objective id (must exist).
    pub co_id: String,
    /// Group label; controls with the same label on one CO are ANDed.
    pub group: String,
}

/// Input for a control produced by an engine or a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewControl {
    /// Catalog key (stable identity across regenerations).
    #[serde(default)]
    pub catalog_key: Option<String>,
    /// Short name.
    pub name: String,
    /// What to do.
    pub description: String,
    /// Framework references.
    #[serde(default)]
    pub framework_refs: Vec<FrameworkRef>,
    /// Why it is in the model.
    #[serde(default)]
    pub rationale: String,
    /// COs and groups it belongs to (at least one).
    pub mappings: Vec<ControlMapping>,
}

/// Partial update of a control's text; `None` keeps the field. Status has its own method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New framework references.
    pub framework_refs: Option<Vec<FrameworkRef>>,
    /// New rationale.
    pub rationale: Option<String>,
}

/// A removed entity, kept so its id is never reused and history stays readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Kind of the removed entity.
    pub kind: EntityKind,
    /// Its id.
    pub id: String,
    /// Its display name (or statement/text) at removal time.
    pub name: String,
    /// When it was removed.
    pub removed_at: DateTime<Utc>,
    /// Model version that no longer contains it.
    pub removed_in_version: u64,
    /// Why (user reason or the rule that removed it).
    pub reason: String,
    /// The entity as it was.
    pub entity: RemovedEntity,
}

/// The full removed entity inside a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedEntity {
    /// An asset.
    Asset(Asset),
    /// An attacker.
    Attacker(Attacker),
    /// A trust boundary.
    TrustBoundary(TrustBoundary),
    /// A control objective.
    ControlObjective(ControlObjective),
    /// An assumption.
    Assumption(Assumption),
    /// A control.
    Control(Control),
}

/// Per-kind id counters: the last number handed out. They only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdCounters {
    /// Last asset number.
    pub asset: u32,
    /// Last attacker number.
    pub attacker: u32,
    /// Last trust boundary number.
    pub trust_boundary: u32,
    /// Last control objective number.
    pub control_objective: u32,
    /// Last assumption number.
    pub assumption: u32,
    /// Last control number.
    pub control: u32,
}

impl IdCounters {
    fn slot(&mut self, kind: EntityKind) -> &mut u32 {
        match kind {
            EntityKind::Asset => &mut self.asset,
            EntityKind::Attacker => &mut self.attacker,
            EntityKind::TrustBoundary => &mut self.trust_boundary,
            EntityKind::ControlObjective => &mut self.control_objective,
            EntityKind::Assumption => &mut self.assumption,
            EntityKind::Control => &mut self.control,
        }
    }

    /// Hands out the next id of `kind`.
    pub fn next(&mut self, kind: EntityKind) -> String {
        let slot = self.slot(kind);
        *slot += 1;
        kind.format_id(*slot)
    }
}

/// One targeted change, used by conversation refinement and batch APIs
/// ([`ThreatModel::apply_ops`] applies a list atomically).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModelOp {
    /// Add an asset.
    AddAsset {
        /// The asset.
        asset: NewAsset,
    },
    /// Edit an asset.
    EditAsset {
        /// Asset id.
        id: String,
        /// Changes.
        patch: AssetPatch,
    },
    /// Remove an asset.
    RemoveAsset {
        /// Asset id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Add an attacker.
    AddAttacker {
        /// The attacker.
        attacker: NewAttacker,
    },
    /// Edit an attacker.
    EditAttacker {
        /// Attacker id.
        id: String,
        /// Changes.
        patch: AttackerPatch,
    },
    /// Remove an attacker.
    RemoveAttacker {
        /// Attacker id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Add an assumption.
    AddAssumption {
        /// The assumption.
        assumption: NewAssumption,
    },
    /// Rename the model.
    Rename {
        /// New title.
        title: String,
    },
}

/// What [`ThreatModel::set_controls`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlsChange {
    /// Ids of newly created controls.
    pub added: Vec<String>,
    /// Ids kept (same catalog key or name), status and evidence preserved.
    pub kept: Vec<String>,
    /// Ids tombstoned.
    pub removed: Vec<String>,
}

/// A threat model: the aggregate every other module reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatModel {
    /// UUIDv4 string, chosen by the caller.
    pub id: String,
    /// Display name.
    pub title: String,
    /// What the user described.
    pub feature_description: String,
    /// Bumped by every successful change; 1 after generation.
    pub version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Assets (at least one).
    pub assets: Vec<Asset>,
    /// Attackers.
    pub attackers: Vec<Attacker>,
    /// Trust boundaries.
    pub trust_boundaries: Vec<TrustBoundary>,
    /// Control objectives, derived from assets × attackers; ordered by id number.
    pub control_objectives: Vec<ControlObjective>,
    /// Assumptions.
    pub assumptions: Vec<Assumption>,
    /// Controls.
    pub controls: Vec<Control>,
    /// Removed entities.
    #[serde(default)]
    pub tombstones: Vec<Tombstone>,
    /// Id counters.
    #[serde(default)]
    pub counters: IdCounters,
}

fn check_text(field: &str, value: &str, required: bool, max: usize) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    let n = value.chars().count();
    if n > max {
        return Err(DomainError::invalid(
            field,
            format!("is {n} characters, at most {max} allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(DomainError::invalid(field, "contains control characters"));
    }
    Ok(())
}

fn check_name(field: &str, value: &str) -> Result<()> {
    check_text(field, value, true, MAX_NAME_CHARS)?;
    if value.contains('\n') {
        return Err(DomainError::invalid(field, "must be a single line"));
    }
    Ok(())
}

/// Validates a feature description (non-empty, bounded).
pub fn validate_feature_description(description: &str) -> Result<()> {
    check_text(
        "feature_description",
        description,
        true,
        MAX_FEATURE_DESCRIPTION_CHARS,
    )
}

fn validate_new_asset(field: &str, a: &NewAsset) -> Result<()> {
    check_name(&format!("{field}.name"), &a.name)?;
    check_text(
        &format!("{field}.description"),
        &a.description,
        false,
        MAX_TEXT_CHARS,
    )?;
    check_text(
        &format!("{field}.rationale"),
        &a.rationale,
        false,
        MAX_TEXT_CHARS,
    )?;
    if a.properties.is_empty() {
        return Err(DomainError::invalid(
            format!("{field}.properties"),
            "needs at least one of C, I, A, U",
        ));
    }
    Ok(())
}

fn validate_new_attacker(field: &str, a: &NewAttacker) -> Result<()> {
    check_name(&format!("{field}.name"), &a.name)?;
    check_text(
        &format!("{field}.description"),
        &a.description,
        false,
        MAX_TEXT_CHARS,
    )?;
    check_text(
        &format!("{field}.capability"),
        &a.capability,
        false,
        MAX_TEXT_CHARS,
    )?;
    check_text(
        &format!("{field}.archetype"),
        &a.archetype,
        false,
        MAX_NAME_CHARS,
    )?;
    check_text(
        &format!("{field}.rationale"),
        &a.rationale,
        false,
        MAX_TEXT_CHARS,
    )?;
    Ok(())
}

impl ThreatModel {
    /// Creates a model from its first assets (a model always has at least one asset).
    /// Version starts at 1. Attackers, boundaries and controls are added afterwards.
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        feature_description: impl Into<String>,
        assets: Vec<NewAsset>,
        now: DateTime<Utc>,
    ) -> Result<ThreatModel> {
        let title = title.into();
        let feature_description = feature_description.into();
        check_name("title", &title)?;
        validate_feature_description(&feature_description)?;
        if assets.is_empty() {
            return Err(DomainError::invalid(
                "assets",
                "a threat model needs at least one asset",
            ));
        }
        for (i, a) in assets.iter().enumerate() {
            validate_new_asset(&format!("assets[{i}]"), a)?;
        }
        let mut model = ThreatModel {
            id: id.into(),
            title,
            feature_description,
            version: 1,
            created_at: now,
            updated_at: now,
            assets: Vec::new(),
            attackers: Vec::new(),
            trust_boundaries: Vec::new(),
            control_objectives: Vec::new(),
            assumptions: Vec::new(),
            controls: Vec::new(),
            tombstones: Vec::new(),
            counters: IdCounters::default(),
        };
        for a in assets {
            model.push_asset(a);
        }
        Ok(model)
    }

    // ----- lookups -----

    /// The asset with this id.
    pub fn asset(&self, id: &str) -> Option<&Asset> {
        self.assets.iter().find(|a| a.id.eq_ignore_ascii_case(id))
    }
    /// The attacker with this id.
    pub fn attacker(&self, id: &str) -> Option<&Attacker> {
        self.attackers
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(id))
    }
    /// The control objective with this id.
    pub fn objective(&self, id: &str) -> Option<&ControlObjective> {
        self.control_objectives
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }
    /// The control with this id.
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id.eq_ignore_ascii_case(id))
    }
    /// The assumption with this id.
    pub fn assumption(&self, id: &str) -> Option<&Assumption> {
        self.assumptions
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }
    /// The trust boundary with this id.
    pub fn trust_boundary(&self, id: &str) -> Option<&TrustBoundary> {
        self.trust_boundaries
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(id))
    }
    /// The tombstone for a removed id, if it was removed.
    pub fn tombstone(&self, id: &str) -> Option<&Tombstone> {
        self.tombstones
            .iter()
            .rev()
            .find(|t| t.id.eq_ignore_ascii_case(id))
    }
    /// COs a control is mapped to.
    pub fn objectives_of_control(&self, control_id: &str) -> Vec<&ControlObjective> {
        self.control_objectives
            .iter()
            .filter(|co| {
                co.mitigation_groups
                    .iter()
                    .any(|g| g.controls.iter().any(|c| c == control_id))
            })
            .collect()
    }
    /// Controls mapped to any CO of this asset.
    pub fn controls_protecting_asset(&self, asset_id: &str) -> Vec<&Control> {
        let ids: BTreeSet<&str> = self
            .control_objectives
            .iter()
            .filter(|co| co.asset_id == asset_id)
            .flat_map(|co| {
                co.mitigation_groups
                    .iter()
                    .flat_map(|g| g.controls.iter().map(String::as_str))
            })
            .collect();
        self.controls
            .iter()
            .filter(|c| ids.contains(c.id.as_str()))
            .collect()
    }

    fn canonical_id(&self, kind: EntityKind, id: &str) -> Result<String> {
        let found = match kind {
            EntityKind::Asset => self.asset(id).map(|x| x.id.clone()),
            EntityKind::Attacker => self.attacker(id).map(|x| x.id.clone()),
            EntityKind::TrustBoundary => self.trust_boundary(id).map(|x| x.id.clone()),
            EntityKind::ControlObjective => self.objective(id).map(|x| x.id.clone()),
            EntityKind::Assumption => self.assumption(id).map(|x| x.id.clone()),
            EntityKind::Control => self.control(id).map(|x| x.id.clone()),
        };
        found.ok_or_else(|| DomainError::UnknownId {
            kind,
            id: id.to_string(),
        })
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_at = now;
    }

    fn bury(
        &mut self,
        kind: EntityKind,
        id: String,
        name: String,
        reason: &str,
        entity: RemovedEntity,
        now: DateTime<Utc>,
    ) {
        self.tombstones.push(Tombstone {
            kind,
            id,
            name,
            removed_at: now,
            removed_in_version: self.version + 1,
            reason: reason.to_string(),
            entity,
        });
    }

    fn push_asset(&mut self, a: NewAsset) -> String {
        let id = self.counters.next(EntityKind::Asset);
        self.assets.push(Asset {
            id: id.clone(),
            name: a.name.trim().to_string(),
            description: a.description,
            properties: a.properties,
            impact: a.impact,
            rationale: a.rationale,
            tags: a.tags,
        });
        id
    }

    fn push_attacker(&mut self, a: NewAttacker) -> String {
        let id = self.counters.next(EntityKind::Attacker);
        let threatens = if a.threatens.is_empty() {
            SecurityProperty::ALL.into_iter().collect()
        } else {
            a.threatens
        };
        self.attackers.push(Attacker {
            id: id.clone(),
            name: a.name.trim().to_string(),
            description: a.description,
            capability: a.capability,
            position: a.position,
            archetype: a.archetype,
            likelihood: a.likelihood,
            threatens,
            targets: a.targets,
            rationale: a.rationale,
            tags: a.tags,
        });
        id
    }

    fn check_targets(
        &self,
        field: &str,
        targets: &Option<BTreeSet<String>>,
    ) -> Result<Option<BTreeSet<String>>> {
        match targets {
            None => Ok(None),
            Some(set) => {
                let mut out = BTreeSet::new();
                for t in set {
                    let id =
                        self.asset(t)
                            .map(|a| a.id.clone())
                            .ok_or_else(|| DomainError::UnknownId {
                                kind: EntityKind::Asset,
                                id: t.clone(),
                            });
                    match id {
                        Ok(id) => {
                            out.insert(id);
                        }
                        Err(e) => return Err(e.in_field(field)),
                    }
                }
                Ok(Some(out))
            }
        }
    }

    // ----- assets -----

    /// Adds an asset and the COs it forms with existing attackers. Returns the new id.
    pub fn add_asset(&mut self, asset: NewAsset, now: DateTime<Utc>) -> Result<String> {
        validate_new_asset("asset", &asset)?;
        let id = self.push_asset(asset);
        self.recompute_objectives("asset added", now);
        self.touch(now);
        Ok(id)
    }

    /// Edits an asset; COs are recomputed (properties and tier follow the asset).
    pub fn edit_asset(&mut self, id: &str, patch: AssetPatch, now: DateTime<Utc>) -> Result<()> {
        let id = self.canonical_id(EntityKind::Asset, id)?;
        if let Some(n) = &patch.name {
            check_name("name", n)?;
        }
        if let Some(d) = &patch.description {
            check_text("description", d, false, MAX_TEXT_CHARS)?;
        }
        if let Some(r) = &patch.rationale {
            check_text("rationale", r, false, MAX_TEXT_CHARS)?;
        }
        if let Some(p) = &patch.properties
            && p.is_empty()
        {
            return Err(DomainError::invalid(
                "properties",
                "needs at least one of C, I, A, U",
            ));
        }
        let asset = self
            .assets
            .iter_mut()
            .find(|a| a.id == id)
            .expect("canonical id exists");
        if let Some(n) = patch.name {
            asset.name = n.trim().to_string();
        }
        if let Some(d) = patch.description {
            asset.description = d;
        }
        if let Some(p) = patch.properties {
            asset.properties = p;
        }
        if let Some(i) = patch.impact {
            asset.impact = i;
        }
        if let Some(r) = patch.rationale {
            asset.rationale = r;
        }
        self.recompute_objectives(&format!("asset {id} edited"), now);
        self.touch(now);
        Ok(())
    }

    /// Removes an asset (tombstoned with `reason`), its COs, and controls left unmapped.
    /// Removing the last asset is an error.
    pub fn remove_asset(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let id = self.canonical_id(EntityKind::Asset, id)?;
        check_text("reason", reason, false, MAX_TEXT_CHARS)?;
        if self.assets.len() == 1 {
            return Err(DomainError::LastAsset { id });
        }
        let pos = self
            .assets
            .iter()
            .position(|a| a.id == id)
            .expect("canonical id exists");
        let asset = self.assets.remove(pos);
        let reason = if reason.trim().is_empty() {
            "removed by user"
        } else {
            reason
        };
        self.bury(
            EntityKind::Asset,
            id.clone(),
            asset.name.clone(),
            reason,
            RemovedEntity::Asset(asset),
            now,
        );
        for atk in &mut self.attackers {
            if let Some(t) = &mut atk.targets {
                t.remove(&id);
            }
        }
        for tb in &mut self.trust_boundaries {
            tb.assets.remove(&id);
        }
        self.recompute_objectives(&format!("asset {id} removed"), now);
        self.touch(now);
        Ok(())
    }

    // ----- attackers -----

    /// Adds an attacker and its COs. Returns the new id.
    pub fn add_attacker(&mut self, attacker: NewAttacker, now: DateTime<Utc>) -> Result<String> {
        validate_new_attacker("attacker", &attacker)?;
        let mut attacker = attacker;
        attacker.targets = self.check_targets("targets", &attacker.targets)?;
        let id = self.push_attacker(attacker);
        self.recompute_objectives("attacker added", now);
        self.touch(now);
        Ok(id)
    }

    /// Adds several attackers at once (one version bump); all are validated first.
    pub fn add_attackers(
        &mut self,
        attackers: Vec<NewAttacker>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut checked = Vec::with_capacity(attackers.len());
        for (i, mut a) in attackers.into_iter().enumerate() {
            validate_new_attacker(&format!("attackers[{i}]"), &a)?;
            a.targets = self.check_targets(&format!("attackers[{i}].targets"), &a.targets)?;
            checked.push(a);
        }
        let ids = checked.into_iter().map(|a| self.push_attacker(a)).collect();
        self.recompute_objectives("attackers added", now);
        self.touch(now);
        Ok(ids)
    }

    /// Edits an attacker; COs are recomputed.
    pub fn edit_attacker(
        &mut self,
        id: &str,
        patch: AttackerPatch,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = self.canonical_id(EntityKind::Attacker, id)?;
        if let Some(n) = &patch.name {
            check_name("name", n)?;
        }
        for (f, v) in [
            ("description", &patch.description),
            ("capability", &patch.capability),
            ("rationale", &patch.rationale),
        ] {
            if let Some(v) = v {
                check_text(f, v, false, MAX_TEXT_CHARS)?;
            }
        }
        if let Some(t) = &patch.threatens
            && t.is_empty()
        {
            return Err(DomainError::invalid(
                "threatens",
                "needs at least one of C, I, A, U",
            ));
        }
        let targets = match &patch.targets {
            Some(t) => Some(self.check_targets("targets", t)?),
            None => None,
        };
        let atk = self
            .attackers
            .iter_mut()
            .find(|a| a.id == id)
            .expect("canonical id exists");
        if let Some(v) = patch.name {
            atk.name = v.trim().to_string();
        }
        if let Some(v) = patch.description {
            atk.description = v;
        }
        if let Some(v) = patch.capability {
            atk.capability = v;
        }
        if let Some(v) = patch.position {
            atk.position = v;
        }
        if let Some(v) = patch.likelihood {
            atk.likelihood = v;
        }
        if let Some(v) = patch.threatens {
            atk.threatens = v;
        }
        if let Some(v) = targets {
            atk.targets = v;
        }
        if let Some(v) = patch.rationale {
            atk.rationale = v;
        }
        self.recompute_objectives(&format!("attacker {id} edited"), now);
        self.touch(now);
        Ok(())
    }

    /// Removes an attacker (tombstoned), its COs and controls left unmapped.
    pub fn remove_attacker(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let id = self.canonical_id(EntityKind::Attacker, id)?;
        check_text("reason", reason, false, MAX_TEXT_CHARS)?;
        let pos = self
            .attackers
            .iter()
            .position(|a| a.id == id)
            .expect("canonical id exists");
        let atk = self.attackers.remove(pos);
        let reason = if reason.trim().is_empty() {
            "removed by user"
        } else {
            reason
        };
        self.bury(
            EntityKind::Attacker,
            id.clone(),
            atk.name.clone(),
            reason,
            RemovedEntity::Attacker(atk),
            now,
        );
        self.recompute_objectives(&format!("attacker {id} removed"), now);
        self.touch(now);
        Ok(())
    }

    // ----- derived objectives -----

    fn objective_statement(asset: &Asset, attacker: &Attacker, props: &PropertySet) -> String {
        format!(
            "Protect the {} of {} ({}) against {} ({}).",
            describe_properties(props),
            asset.name,
            asset.id,
            attacker.name,
            attacker.id
        )
    }

    /// Recomputes COs from assets × attackers. Existing (asset, attacker) pairs keep their id
    /// and mitigation groups; vanished pairs are tombstoned; new pairs get new ids. Controls
    /// no longer mapped to any CO are tombstoned. Does not bump the version.
    fn recompute_objectives(&mut self, why: &str, now: DateTime<Utc>) {
        let mut existing: BTreeMap<(String, String), ControlObjective> =
            std::mem::take(&mut self.control_objectives)
                .into_iter()
                .map(|co| ((co.asset_id.clone(), co.attacker_id.clone()), co))
                .collect();
        let mut result = Vec::new();
        let mut fresh = Vec::new();
        for asset in &self.assets {
            for atk in &self.attackers {
                if let Some(t) = &atk.targets
                    && !t.contains(&asset.id)
                {
                    continue;
                }
                let props: PropertySet = asset
                    .properties
                    .intersection(&atk.threatens)
                    .copied()
                    .collect();
                if props.is_empty() {
                    continue;
                }
                let tier = RiskTier::from_impact_likelihood(asset.impact, atk.likelihood);
                let statement = Self::objective_statement(asset, atk, &props);
                match existing.remove(&(asset.id.clone(), atk.id.clone())) {
                    Some(mut co) => {
                        co.properties = props;
                        co.risk_tier = tier;
                        co.statement = statement;
                        result.push(co);
                    }
                    None => fresh.push((asset.id.clone(), atk.id.clone(), props, tier, statement)),
                }
            }
        }
        for (asset_id, attacker_id, properties, risk_tier, statement) in fresh {
            let id = self.counters.next(EntityKind::ControlObjective);
            result.push(ControlObjective {
                id,
                asset_id,
                attacker_id,
                properties,
                risk_tier,
                statement,
                mitigation_groups: Vec::new(),
            });
        }
        // Remaining entries in `existing` vanished: tombstone them in id order.
        let mut gone: Vec<ControlObjective> = existing.into_values().collect();
        gone.sort_by_key(|co| {
            EntityKind::ControlObjective
                .parse_id(&co.id)
                .unwrap_or(u32::MAX)
        });
        for co in gone {
            let name = co.statement.clone();
            self.bury(
                EntityKind::ControlObjective,
                co.id.clone(),
                name,
                why,
                RemovedEntity::ControlObjective(co),
                now,
            );
        }
        result.sort_by_key(|co| {
            EntityKind::ControlObjective
                .parse_id(&co.id)
                .unwrap_or(u32::MAX)
        });
        self.control_objectives = result;
        self.prune_unmapped_controls(why, now);
    }

    fn prune_unmapped_controls(&mut self, why: &str, now: DateTime<Utc>) {
        let mapped: BTreeSet<String> = self
            .control_objectives
            .iter()
            .flat_map(|co| {
                co.mitigation_groups
                    .iter()
                    .flat_map(|g| g.controls.iter().cloned())
            })
            .collect();
        let (keep, drop): (Vec<Control>, Vec<Control>) = std::mem::take(&mut self.controls)
            .into_iter()
            .partition(|c| mapped.contains(&c.id));
        self.controls = keep;
        for c in drop {
            let reason = format!("no longer mapped to any control objective ({why})");
            self.bury(
                EntityKind::Control,
                c.id.clone(),
                c.name.clone(),
                &reason,
                RemovedEntity::Control(c),
                now,
            );
        }
    }

    // ----- boundaries and assumptions -----

    /// Replaces all trust boundaries. A new boundary with the name of an existing one keeps
    /// its id; existing boundaries not in the new list are tombstoned. Asset ids must exist.
    pub fn set_trust_boundaries(
        &mut self,
        boundaries: Vec<NewTrustBoundary>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let mut checked = Vec::new();
        for (i, b) in boundaries.into_iter().enumerate() {
            let f = format!("trust_boundaries[{i}]");
            check_name(&format!("{f}.name"), &b.name)?;
            check_text(
                &format!("{f}.rationale"),
                &b.rationale,
                false,
                MAX_TEXT_CHARS,
            )?;
            for (j, z) in b.zones.iter().enumerate() {
                check_name(&format!("{f}.zones[{j}]"), z)?;
            }
            for (j, c) in b.crossing.iter().enumerate() {
                check_text(&format!("{f}.crossing[{j}]"), c, true, MAX_TEXT_CHARS)?;
            }
            let assets = self
                .check_targets(&format!("{f}.assets"), &Some(b.assets.clone()))?
                .unwrap_or_default();
            checked.push(NewTrustBoundary { assets, ..b });
        }
        // A boundary with the same name keeps its id; the others are tombstoned.
        let mut old: Vec<Option<TrustBoundary>> = std::mem::take(&mut self.trust_boundaries)
            .into_iter()
            .map(Some)
            .collect();
        let mut ids = Vec::new();
        let mut fresh = Vec::new();
        for b in checked {
            let reuse = old
                .iter_mut()
                .find(|o| {
                    o.as_ref()
                        .is_some_and(|o| o.name.eq_ignore_ascii_case(&b.name))
                })
                .and_then(Option::take);
            let id = match reuse {
                Some(o) => o.id,
                None => self.counters.next(EntityKind::TrustBoundary),
            };
            ids.push(id.clone());
            fresh.push(TrustBoundary {
                id,
                name: b.name,
                zones: b.zones,
                assets: b.assets,
                crossing: b.crossing,
                rationale: b.rationale,
            });
        }
        for tb in old.into_iter().flatten() {
            self.bury(
                EntityKind::TrustBoundary,
                tb.id.clone(),
                tb.name.clone(),
                reason,
                RemovedEntity::TrustBoundary(tb),
                now,
            );
        }
        self.trust_boundaries = fresh;
        self.touch(now);
        Ok(ids)
    }

    /// Adds an assumption (status unconfirmed). Returns its id.
    pub fn add_assumption(&mut self, a: NewAssumption, now: DateTime<Utc>) -> Result<String> {
        check_text("assumption.text", &a.text, true, MAX_TEXT_CHARS)?;
        check_text("assumption.rationale", &a.rationale, false, MAX_TEXT_CHARS)?;
        let id = self.counters.next(EntityKind::Assumption);
        self.assumptions.push(Assumption {
            id: id.clone(),
            text: a.text,
            status: AssumptionStatus::Unconfirmed,
            rationale: a.rationale,
        });
        self.touch(now);
        Ok(id)
    }

    /// Sets an assumption's review status.
    pub fn set_assumption_status(
        &mut self,
        id: &str,
        status: AssumptionStatus,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = self.canonical_id(EntityKind::Assumption, id)?;
        let a = self
            .assumptions
            .iter_mut()
            .find(|a| a.id == id)
            .expect("canonical id exists");
        a.status = status;
        self.touch(now);
        Ok(())
    }

    /// Removes an assumption (tombstoned).
    pub fn remove_assumption(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let id = self.canonical_id(EntityKind::Assumption, id)?;
        let pos = self
            .assumptions
            .iter()
            .position(|a| a.id == id)
            .expect("canonical id exists");
        let a = self.assumptions.remove(pos);
        self.bury(
            EntityKind::Assumption,
            id,
            a.text.clone(),
            reason,
            RemovedEntity::Assumption(a),
            now,
        );
        self.touch(now);
        Ok(())
    }

    // ----- controls -----

    /// Adds controls to the existing set (import): every existing control keeps its id,
    /// status, notes, evidence and mitigation-group mappings; the new ones are mapped as
    /// given. Same validation as [`set_controls`](Self::set_controls).
    pub fn add_controls(
        &mut self,
        imported: Vec<NewControl>,
        now: DateTime<Utc>,
    ) -> Result<ControlsChange> {
        let mut all: Vec<NewControl> = self
            .controls
            .iter()
            .map(|ctl| NewControl {
                catalog_key: ctl.catalog_key.clone(),
                name: ctl.name.clone(),
                description: ctl.description.clone(),
                framework_refs: ctl.framework_refs.clone(),
                rationale: ctl.rationale.clone(),
                mappings: self
                    .control_objectives
                    .iter()
                    .flat_map(|co| {
                        co.mitigation_groups
                            .iter()
                            .filter(|g| g.controls.contains(&ctl.id))
                            .map(|g| ControlMapping {
                                co_id: co.id.clone(),
                                group: g.label.clone(),
                            })
                    })
                    .collect(),
            })
            .filter(|nc| !nc.mappings.is_empty())
            .collect();
        all.extend(imported);
        self.set_controls(all, now)
    }

    /// Replaces the control set (regeneration). A new control with the same catalog key
    /// (or, without keys, the same name) as an existing one keeps the existing id, status,
    /// notes and evidence; other existing controls are tombstoned. Mitigation groups of all
    /// COs are rebuilt from the mappings. Every mapping must name an existing CO.
    pub fn set_controls(
        &mut self,
        controls: Vec<NewControl>,
        now: DateTime<Utc>,
    ) -> Result<ControlsChange> {
        let mut canon_maps = Vec::with_capacity(controls.len());
        for (i, c) in controls.iter().enumerate() {
            let f = format!("controls[{i}]");
            check_name(&format!("{f}.name"), &c.name)?;
            check_text(
                &format!("{f}.description"),
                &c.description,
                true,
                MAX_TEXT_CHARS,
            )?;
            check_text(
                &format!("{f}.rationale"),
                &c.rationale,
                false,
                MAX_TEXT_CHARS,
            )?;
            if c.mappings.is_empty() {
                return Err(DomainError::invalid(
                    format!("{f}.mappings"),
                    "a control must map to at least one control objective",
                ));
            }
            let mut maps = Vec::new();
            for (j, m) in c.mappings.iter().enumerate() {
                let co = self
                    .canonical_id(EntityKind::ControlObjective, &m.co_id)
                    .map_err(|e| e.in_field(&format!("{f}.mappings[{j}].co_id")))?;
                check_name(&format!("{f}.mappings[{j}].group"), &m.group)?;
                maps.push((co, m.group.trim().to_string()));
            }
            canon_maps.push(maps);
        }
        let mut old: Vec<Option<Control>> = std::mem::take(&mut self.controls)
            .into_iter()
            .map(Some)
            .collect();
        let mut change = ControlsChange::default();
        let mut new_controls = Vec::new();
        let mut groups: BTreeMap<String, Vec<MitigationGroup>> = BTreeMap::new();
        for (c, maps) in controls.into_iter().zip(canon_maps) {
            let reuse = old.iter().position(|o| {
                o.as_ref()
                    .is_some_and(|o| match (&o.catalog_key, &c.catalog_key) {
                        (Some(a), Some(b)) => a == b,
                        (None, None) => o.name.eq_ignore_ascii_case(&c.name),
                        _ => false,
                    })
            });
            let control = match reuse.and_then(|p| old[p].take()) {
                Some(mut o) => {
                    o.name = c.name;
                    o.description = c.description;
                    o.framework_refs = c.framework_refs;
                    o.rationale = c.rationale;
                    change.kept.push(o.id.clone());
                    o
                }
                None => {
                    let id = self.counters.next(EntityKind::Control);
                    change.added.push(id.clone());
                    Control {
                        id,
                        name: c.name,
                        description: c.description,
                        status: ControlStatus::NotImplemented,
                        implementation_notes: String::new(),
                        evidence: Vec::new(),
                        framework_refs: c.framework_refs,
                        rationale: c.rationale,
                        catalog_key: c.catalog_key,
                        evidence_counter: 0,
                    }
                }
            };
            new_controls.push(control.clone());
            for (co, group) in maps {
                let gs = groups.entry(co).or_default();
                match gs.iter_mut().find(|g| g.label == group) {
                    Some(g) => {
                        if !g.controls.contains(&control.id) {
                            g.controls.push(control.id.clone());
                        }
                    }
                    None => gs.push(MitigationGroup {
                        label: group,
                        controls: vec![control.id.clone()],
                    }),
                }
            }
        }
        for o in old.into_iter().flatten() {
            change.removed.push(o.id.clone());
            self.bury(
                EntityKind::Control,
                o.id.clone(),
                o.name.clone(),
                "not produced by control regeneration",
                RemovedEntity::Control(o),
                now,
            );
        }
        for co in &mut self.control_objectives {
            co.mitigation_groups = groups.remove(&co.id).unwrap_or_default();
        }
        self.controls = new_controls;
        self.touch(now);
        Ok(change)
    }

    /// Edits a control's text fields (e.g. the MCP `refine_control` tool); `None` keeps a field.
    pub fn edit_control(
        &mut self,
        id: &str,
        patch: ControlPatch,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = self.canonical_id(EntityKind::Control, id)?;
        if let Some(n) = &patch.name {
            check_name("name", n)?;
        }
        if let Some(d) = &patch.description {
            check_text("description", d, true, MAX_TEXT_CHARS)?;
        }
        if let Some(r) = &patch.rationale {
            check_text("rationale", r, false, MAX_TEXT_CHARS)?;
        }
        let c = self
            .controls
            .iter_mut()
            .find(|c| c.id == id)
            .expect("canonical id exists");
        if let Some(n) = patch.name {
            c.name = n.trim().to_string();
        }
        if let Some(d) = patch.description {
            c.description = d;
        }
        if let Some(r) = patch.framework_refs {
            c.framework_refs = r;
        }
        if let Some(r) = patch.rationale {
            c.rationale = r;
        }
        self.touch(now);
        Ok(())
    }

    /// Removes a control (tombstoned) from every mitigation group; groups left empty are
    /// dropped, so their COs may become not started.
    pub fn remove_control(&mut self, id: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let id = self.canonical_id(EntityKind::Control, id)?;
        check_text("reason", reason, false, MAX_TEXT_CHARS)?;
        for co in &mut self.control_objectives {
            for g in &mut co.mitigation_groups {
                g.controls.retain(|c| c != &id);
            }
            co.mitigation_groups.retain(|g| !g.controls.is_empty());
        }
        let pos = self
            .controls
            .iter()
            .position(|c| c.id == id)
            .expect("canonical id exists");
        let c = self.controls.remove(pos);
        let reason = if reason.trim().is_empty() {
            "removed by user"
        } else {
            reason
        };
        self.bury(
            EntityKind::Control,
            id,
            c.name.clone(),
            reason,
            RemovedEntity::Control(c),
            now,
        );
        self.touch(now);
        Ok(())
    }

    /// Sets a control's status, optionally replacing its implementation notes.
    pub fn update_control_status(
        &mut self,
        id: &str,
        status: ControlStatus,
        notes: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = self.canonical_id(EntityKind::Control, id)?;
        if let Some(n) = notes {
            check_text("implementation_notes", n, false, MAX_TEXT_CHARS)?;
        }
        let c = self
            .controls
            .iter_mut()
            .find(|c| c.id == id)
            .expect("canonical id exists");
        c.status = status;
        if let Some(n) = notes {
            c.implementation_notes = n.to_string();
        }
        self.touch(now);
        Ok(())
    }

    /// Attaches evidence to a control. Returns the evidence id (`EV1..`, never reused).
    pub fn add_evidence(
        &mut self,
        control_id: &str,
        ev: NewEvidence,
        now: DateTime<Utc>,
    ) -> Result<String> {
        let id = self.canonical_id(EntityKind::Control, control_id)?;
        check_name("evidence.title", &ev.title)?;
        check_text("evidence.reference", &ev.reference, false, MAX_TEXT_CHARS)?;
        let c = self
            .controls
            .iter_mut()
            .find(|c| c.id == id)
            .expect("canonical id exists");
        if c.evidence.len() >= MAX_EVIDENCE_PER_CONTROL {
            return Err(DomainError::invalid(
                "evidence",
                format!("control {id} already has {MAX_EVIDENCE_PER_CONTROL} evidence items"),
            ));
        }
        c.evidence_counter += 1;
        let ev_id = format!("EV{}", c.evidence_counter);
        c.evidence.push(Evidence {
            id: ev_id.clone(),
            title: ev.title.trim().to_string(),
            reference: ev.reference,
            added_at: now,
        });
        self.touch(now);
        Ok(ev_id)
    }

    /// Removes evidence from a control.
    pub fn remove_evidence(
        &mut self,
        control_id: &str,
        evidence_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let id = self.canonical_id(EntityKind::Control, control_id)?;
        let c = self
            .controls
            .iter_mut()
            .find(|c| c.id == id)
            .expect("canonical id exists");
        let pos = c
            .evidence
            .iter()
            .position(|e| e.id.eq_ignore_ascii_case(evidence_id))
            .ok_or_else(|| DomainError::UnknownEvidence {
                control_id: id.clone(),
                evidence_id: evidence_id.to_string(),
            })?;
        c.evidence.remove(pos);
        self.touch(now);
        Ok(())
    }

    /// Renames the model.
    pub fn rename(&mut self, title: &str, now: DateTime<Utc>) -> Result<()> {
        check_name("title", title)?;
        self.title = title.trim().to_string();
        self.touch(now);
        Ok(())
    }

    /// Applies a list of operations atomically: all succeed (one version bump per op) or
    /// the model is unchanged and the error names the failing op index.
    pub fn apply_ops(&mut self, ops: &[ModelOp], now: DateTime<Utc>) -> Result<Vec<String>> {
        let mut work = self.clone();
        let mut notes = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let r = match op.clone() {
                ModelOp::AddAsset { asset } => work
                    .add_asset(asset, now)
                    .map(|id| format!("added asset {id}")),
                ModelOp::EditAsset { id, patch } => work
                    .edit_asset(&id, patch, now)
                    .map(|_| format!("edited asset {id}")),
                ModelOp::RemoveAsset { id, reason } => work
                    .remove_asset(&id, &reason, now)
                    .map(|_| format!("removed asset {id}")),
                ModelOp::AddAttacker { attacker } => work
                    .add_attacker(attacker, now)
                    .map(|id| format!("added attacker {id}")),
                ModelOp::EditAttacker { id, patch } => work
                    .edit_attacker(&id, patch, now)
                    .map(|_| format!("edited attacker {id}")),
                ModelOp::RemoveAttacker { id, reason } => work
                    .remove_attacker(&id, &reason, now)
                    .map(|_| format!("removed attacker {id}")),
                ModelOp::AddAssumption { assumption } => work
                    .add_assumption(assumption, now)
                    .map(|id| format!("added assumption {id}")),
                ModelOp::Rename { title } => work
                    .rename(&title, now)
                    .map(|_| format!("renamed model to {title:?}")),
            };
            match r {
                Ok(n) => notes.push(n),
                Err(e) => return Err(e.in_field(&format!("ops[{i}]"))),
            }
        }
        *self = work;
        Ok(notes)
    }

    /// Every id ever handed out in this model (live and tombstoned).
    pub fn all_ids(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        v.extend(self.assets.iter().map(|x| x.id.clone()));
        v.extend(self.attackers.iter().map(|x| x.id.clone()));
        v.extend(self.trust_boundaries.iter().map(|x| x.id.clone()));
        v.extend(self.control_objectives.iter().map(|x| x.id.clone()));
        v.extend(self.assumptions.iter().map(|x| x.id.clone()));
        v.extend(self.controls.iter().map(|x| x.id.clone()));
        v.extend(self.tombstones.iter().map(|x| x.id.clone()));
        v
    }

    /// Checks the structural invariants (used by tests and after loading from storage):
    /// ids unique and never reused, COs reference live assets/attackers, groups reference
    /// live controls, every control is mapped, at least one asset.
    pub fn check_invariants(&self) -> Result<()> {
        let ids = self.all_ids();
        let mut seen = BTreeSet::new();
        for id in &ids {
            if !seen.insert(id.clone()) {
                return Err(DomainError::invalid(
                    "ids",
                    format!("id {id} is used twice"),
                ));
            }
        }
        if self.assets.is_empty() {
            return Err(DomainError::invalid(
                "assets",
                "a threat model needs at least one asset",
            ));
        }
        let mut mapped = BTreeSet::new();
        for co in &self.control_objectives {
            if self.asset(&co.asset_id).is_none() {
                return Err(DomainError::UnknownId {
                    kind: EntityKind::Asset,
                    id: co.asset_id.clone(),
                }
                .in_field(&co.id));
            }
            if self.attacker(&co.attacker_id).is_none() {
                return Err(DomainError::UnknownId {
                    kind: EntityKind::Attacker,
                    id: co.attacker_id.clone(),
                }
                .in_field(&co.id));
            }
            for g in &co.mitigation_groups {
                for c in &g.controls {
                    if self.control(c).is_none() {
                        return Err(DomainError::UnknownId {
                            kind: EntityKind::Control,
                            id: c.clone(),
                        }
                        .in_field(&co.id));
                    }
                    mapped.insert(c.clone());
                }
            }
        }
        for c in &self.controls {
            if !mapped.contains(&c.id) {
                return Err(DomainError::invalid(
                    format!("controls.{}", c.id),
                    "is not mapped to any control objective",
                ));
            }
        }
        for (kind, counter) in [
            (EntityKind::Asset, self.counters.asset),
            (EntityKind::Attacker, self.counters.attacker),
            (EntityKind::TrustBoundary, self.counters.trust_boundary),
            (
                EntityKind::ControlObjective,
                self.counters.control_objective,
            ),
            (EntityKind::Assumption, self.counters.assumption),
            (EntityKind::Control, self.counters.control),
        ] {
            for id in &ids {
                if let Some(n) = kind.parse_id(id)
                    && EntityKind::of_id(id) == Some(kind)
                    && n > counter
                {
                    return Err(DomainError::invalid(
                        "counters",
                        format!("id {id} is above the {kind} counter {counter}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
