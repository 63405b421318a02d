//! Compliance frameworks as a service: the offline catalogs ([`catalog`]), per-model
//! framework selection, control ↔ requirement mappings (derived offline from the catalog
//! crosswalks, added by hand, or proposed by an LLM — each row records who and why), the
//! per-framework report ([`report`]) computed from the controls' implementation and
//! verification status, gap remediation ([`remediation`]) and the framework badge.
//!
//! Selections, mappings and remediations are tenant data: every method takes the
//! [`Caller`] and reads and writes only through `caller.tenant`; another workspace's model
//! is [`Error::NotFound`]. Writes need `require_write`. Errors are the model service's
//! ([`crate::models::Error`]) so REST, MCP and pages answer them the same way.

pub mod catalog;
pub mod mapper;
pub mod remediation;
pub mod report;

use std::collections::BTreeSet;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{Caller, now_str};
use crate::engine::BuiltinEngine;
use crate::jobs::{Handle, Registry};
use crate::models::{self, Error, ModelService, Result, Source, StoredModel};

pub use catalog::{ComplianceCatalog, FrameworkDef, Profile, Requirement};
pub use remediation::{Plan, Suggestion, SuggestionKind, Unresolved};
pub use report::{
    ComplianceReport, Exclusion, Mapping, MappingSource, ReportCounts, ReqStatus, RequirementReport,
};

/// Longest justification of a manual mapping.
pub const MAX_REASON_CHARS: usize = 1000;

/// A framework as listed (without its requirements).
#[derive(Debug, Clone, Serialize)]
pub struct FrameworkSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Publisher.
    pub publisher: String,
    /// What the catalog holds.
    pub description: String,
    /// Number of requirements.
    pub requirement_count: usize,
    /// Levels/baselines that can be selected.
    pub profiles: Vec<Profile>,
    /// Chapters/families.
    pub groups: Vec<catalog::Group>,
}

impl From<&FrameworkDef> for FrameworkSummary {
    fn from(f: &FrameworkDef) -> Self {
        Self {
            id: f.id.clone(),
            name: f.name.clone(),
            version: f.version.clone(),
            publisher: f.publisher.clone(),
            description: f.description.clone(),
            requirement_count: f.requirements.len(),
            profiles: f.profiles.clone(),
            groups: f.groups.clone(),
        }
    }
}

/// A framework selected for a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Framework id.
    pub framework_id: String,
    /// Profile (level/baseline) limiting the applicable requirements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// What the caller asks to select: a framework id, optionally with `:profile`
/// (`owasp-asvs-5:L2`), or the structured form.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SelectionInput {
    /// `framework[:profile]`.
    Text(String),
    /// `{framework_id, profile}`.
    Full(Selection),
}

/// The outcome of an auto-mapping run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AutoMapSummary {
    /// Model id.
    pub model_id: String,
    /// Frameworks mapped.
    pub frameworks: Vec<String>,
    /// Catalog mappings added.
    pub added: usize,
    /// Catalog mappings dropped (their control or reference is gone).
    pub removed: usize,
    /// Catalog mappings kept.
    pub kept: usize,
    /// Mappings a person removed, not re-added.
    pub suppressed: usize,
    /// Total mappings now (all sources).
    pub total: usize,
    /// Mappings the configured LLM added (0 without an LLM).
    pub llm_added: usize,
    /// Who proposed them (`llm:<model>`), when an LLM was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<String>,
    /// Why the LLM added nothing when it was asked and failed (endpoint down, fair-use
    /// limit, malformed answers); the catalog mappings were made regardless.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A stored remediation proposal.
#[derive(Debug, Clone, Serialize)]
pub struct Remediation {
    /// `rem_<hex>`.
    pub id: String,
    /// Model id.
    pub model_id: String,
    /// Framework id.
    pub framework_id: String,
    /// The proposal.
    pub plan: Plan,
    /// When it was made.
    pub created_at: String,
    /// Suggestion ids applied so far.
    pub applied: Vec<String>,
}

/// The compliance service.
#[derive(Clone)]
pub struct ComplianceService {
    catalog: Arc<ComplianceCatalog>,
    engine: Arc<BuiltinEngine>,
    models: ModelService,
    mapper: Option<Arc<dyn mapper::RequirementMapper>>,
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

impl ComplianceService {
    /// Builds the service over the loaded catalogs and the built-in engine (used to
    /// simulate remediation).
    pub fn new(
        catalog: Arc<ComplianceCatalog>,
        engine: Arc<BuiltinEngine>,
        models: ModelService,
    ) -> Self {
        Self {
            catalog,
            engine,
            models,
            mapper: None,
        }
    }

    /// Lets `auto_map` ask `mapper` (the configured LLM) for mappings of the controls the
    /// catalog crosswalk cannot place.
    pub fn with_mapper(mut self, mapper: Arc<dyn mapper::RequirementMapper>) -> Self {
        self.mapper = Some(mapper);
        self
    }

    /// The loaded catalogs.
    pub fn catalog(&self) -> &ComplianceCatalog {
        &self.catalog
    }

    /// Every framework (no tenant data; any signed-in caller may list them).
    pub fn frameworks(&self) -> Vec<FrameworkSummary> {
        self.catalog.frameworks().iter().map(Into::into).collect()
    }

    /// One framework or a clear `NotFound` listing the known ids.
    pub fn framework(&self, id: &str) -> Result<&FrameworkDef> {
        self.catalog.framework(id).ok_or_else(|| {
            let ids: Vec<&str> = self
                .catalog
                .frameworks()
                .iter()
                .map(|f| f.id.as_str())
                .collect();
            Error::NotFound(format!("framework {id:?} (known: {})", ids.join(", ")))
        })
    }

    fn load(&self, conn: &Connection, caller: &Caller, model_id: &str) -> Result<StoredModel> {
        models::load(conn, &caller.workspace_id, model_id)
    }

    /// Frameworks selected for a model.
    pub fn selections(&self, caller: &Caller, model_id: &str) -> Result<Vec<Selection>> {
        let conn = caller.tenant.conn()?;
        self.load(&conn, caller, model_id)?;
        selections(&conn, model_id)
    }

    /// Parses and checks selection inputs against the catalog.
    pub fn parse_selections(&self, inputs: &[SelectionInput]) -> Result<Vec<Selection>> {
        if inputs.len() > 50 {
            return Err(invalid("framework_ids", "at most 50 frameworks"));
        }
        let mut out: Vec<Selection> = Vec::new();
        for (i, s) in inputs.iter().enumerate() {
            let (fid, prof) = match s {
                SelectionInput::Text(t) => match t.split_once(':') {
                    Some((f, p)) => (f.trim().to_string(), Some(p.trim().to_string())),
                    None => (t.trim().to_string(), None),
                },
                SelectionInput::Full(s) => (s.framework_id.trim().to_string(), s.profile.clone()),
            };
            let fw = self.catalog.framework(&fid).ok_or_else(|| {
                let ids: Vec<&str> = self
                    .catalog
                    .frameworks()
                    .iter()
                    .map(|f| f.id.as_str())
                    .collect();
                invalid(
                    &format!("framework_ids[{i}]"),
                    format!("unknown framework {fid:?} (known: {})", ids.join(", ")),
                )
            })?;
            let profile = match prof.filter(|p| !p.trim().is_empty()) {
                None => None,
                Some(p) => Some(
                    fw.profile(&p)
                        .ok_or_else(|| {
                            let ps: Vec<&str> = fw.profiles.iter().map(|p| p.id.as_str()).collect();
                            invalid(
                                &format!("framework_ids[{i}]"),
                                if ps.is_empty() {
                                    format!("{} has no profiles", fw.id)
                                } else {
                                    format!(
                                        "unknown profile {p:?} of {} (known: {})",
                                        fw.id,
                                        ps.join(", ")
                                    )
                                },
                            )
                        })?
                        .id
                        .clone(),
                ),
            };
            if out.iter().any(|o| o.framework_id == fw.id) {
                return Err(invalid(
                    &format!("framework_ids[{i}]"),
                    format!("{} is listed twice", fw.id),
                ));
            }
            out.push(Selection {
                framework_id: fw.id.clone(),
                profile,
            });
        }
        Ok(out)
    }

    /// Replaces the model's selected frameworks with `inputs` (an empty list clears them)
    /// and auto-maps the newly selected ones. Bad input changes nothing.
    pub fn select(
        &self,
        caller: &Caller,
        model_id: &str,
        inputs: &[SelectionInput],
    ) -> Result<(Vec<Selection>, AutoMapSummary)> {
        caller.require_write()?;
        let wanted = self.parse_selections(inputs)?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let before = selections(&tx, model_id)?;
        tx.execute(
            "DELETE FROM compliance_selections WHERE model_id = ?1",
            [model_id],
        )?;
        let now = now_str();
        for s in &wanted {
            tx.execute(
                "INSERT INTO compliance_selections (model_id, framework_id, profile, selected_by, selected_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![model_id, s.framework_id, s.profile, caller.email, now],
            )?;
        }
        let new: Vec<&FrameworkDef> = wanted
            .iter()
            .filter(|s| !before.iter().any(|b| b.framework_id == s.framework_id))
            .filter_map(|s| self.catalog.framework(&s.framework_id))
            .collect();
        let summary = automap(&tx, &stored, &new)?;
        let names: Vec<String> = wanted
            .iter()
            .map(|s| match &s.profile {
                Some(p) => format!("{}:{p}", s.framework_id),
                None => s.framework_id.clone(),
            })
            .collect();
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &if names.is_empty() {
                "compliance frameworks cleared".to_string()
            } else {
                format!("compliance frameworks selected: {}", names.join(", "))
            },
            source_of(caller),
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok((wanted, summary))
    }

    /// Maps every control to the requirements of the selected frameworks (or only
    /// `framework`, which must be selected) from the catalog references and crosswalks.
    /// Manual and LLM mappings are kept; mappings a person removed are not re-added. With an
    /// LLM configured, it is then asked about the controls the crosswalk left unmapped in
    /// each framework; its links are stored as `llm` mappings with its reason.
    pub fn auto_map(
        &self,
        caller: &Caller,
        model_id: &str,
        framework: Option<&str>,
    ) -> Result<AutoMapSummary> {
        caller.require_write()?;
        let fw_ids = {
            let conn = caller.tenant.conn()?;
            self.load(&conn, caller, model_id)?;
            let sel = selections(&conn, model_id)?;
            match framework.map(str::trim).filter(|f| !f.is_empty()) {
                Some(f) => {
                    let fw = self.framework(f)?;
                    if !sel.iter().any(|s| s.framework_id == fw.id) {
                        return Err(invalid(
                            "framework_id",
                            format!("{} is not selected for this model; select it first", fw.id),
                        ));
                    }
                    vec![fw.id.clone()]
                }
                None => sel
                    .iter()
                    .filter(|s| self.catalog.framework(&s.framework_id).is_some())
                    .map(|s| s.framework_id.clone())
                    .collect(),
            }
        };
        if fw_ids.is_empty() {
            return Err(invalid(
                "framework_ids",
                "no framework is selected for this model; select one first (select_compliance_frameworks)",
            ));
        }
        let fws: Vec<&FrameworkDef> = fw_ids
            .iter()
            .filter_map(|f| self.catalog.framework(f))
            .collect();
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let mut summary = automap(&tx, &stored, &fws)?;
        tx.commit()?;
        // The LLM is asked outside any transaction (it may take a while); its answers are
        // stored in a second one, checked against the model as it is then.
        if let Some(mapper) = &self.mapper {
            summary.llm = Some(mapper.mapper_name());
            let mut asked: Vec<(&FrameworkDef, Vec<mapper::Proposal>)> = Vec::new();
            // One operation for credits, charged once if any question reached the LLM.
            // Without credits the LLM part is skipped with a warning and the (free)
            // catalog mappings stand, as when the fair-use limit is reached.
            crate::credits::metered(
                crate::credits::Operation::ComplianceMapping,
                &caller.user_id,
                caller.org_id.as_deref(),
                || {
                    // Inside the operation the check reserves the cost (given back if no
                    // question reaches the LLM).
                    let credits =
                        mapper.check_credits(&caller.user_id, caller.org_id.as_deref());
                    if let Err(e) = &credits {
                        summary.warnings.push(format!(
                            "{} was not asked: {e}; only the catalog mappings were made",
                            mapper.mapper_name()
                        ));
                    }
                    let fws_asked: &[&FrameworkDef] = if credits.is_ok() { &fws } else { &[] };
                    for fw in fws_asked {
                        match self.ask_mapper(caller, mapper.as_ref(), &conn, &stored, fw) {
                            Ok(p) => asked.push((fw, p)),
                            Err(e) => summary.warnings.push(format!(
                                "{} could not map controls to {}: {e}; only the catalog mappings were made",
                                mapper.mapper_name(),
                                fw.id
                            )),
                        }
                    }
                    Ok::<(), std::convert::Infallible>(())
                },
            )
            .unwrap_or(());
            let tx = conn.transaction()?;
            let now_model = self.load(&tx, caller, model_id)?;
            let by = mapper.mapper_name();
            for (fw, proposals) in asked {
                for p in proposals {
                    if now_model.model.control(&p.control_id).is_none() {
                        continue;
                    }
                    summary.llm_added += tx.execute(
                        "INSERT INTO compliance_mappings (model_id, control_id, framework_id, requirement_id, source, mapped_by, reason, removed, created_at) \
                         VALUES (?1, ?2, ?3, ?4, 'llm', ?5, ?6, 0, ?7) ON CONFLICT DO NOTHING",
                        params![model_id, p.control_id, fw.id, p.requirement_id, by, p.reason, now_str()],
                    )?;
                }
            }
            summary.total = tx.query_row(
                "SELECT count(*) FROM compliance_mappings WHERE model_id = ?1 AND removed = 0",
                [model_id],
                |r| r.get(0),
            )?;
            tx.commit()?;
        }
        models::record_activity(
            &conn,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &format!(
                "controls auto-mapped to {}: {} added, {} removed{}",
                summary.frameworks.join(", "),
                summary.added,
                summary.removed,
                match &summary.llm {
                    Some(by) => format!(", {} proposed by {by}", summary.llm_added),
                    None => String::new(),
                }
            ),
            source_of(caller),
            Some(&caller.user_id),
        )?;
        Ok(summary)
    }

    /// One question to the mapper: the controls with no mapping into `fw` (skipping those
    /// marked not applicable) and the applicable requirements. Pairs that exist in any form
    /// (including ones a person removed) are dropped from the answer.
    fn ask_mapper(
        &self,
        caller: &Caller,
        mapper: &dyn mapper::RequirementMapper,
        conn: &Connection,
        stored: &StoredModel,
        fw: &FrameworkDef,
    ) -> std::result::Result<Vec<mapper::Proposal>, String> {
        let rep = self
            .report_on(conn, stored, &fw.id)
            .map_err(|e| e.to_string())?;
        let controls: Vec<mapper::ControlBrief> = rep
            .unmapped_controls
            .iter()
            .filter_map(|id| stored.model.control(id))
            .filter(|c| c.status != crate::domain::ControlStatus::NotApplicable)
            .take(mapper::MAX_CONTROLS_PER_QUESTION)
            .map(|c| mapper::ControlBrief {
                id: c.id.clone(),
                name: c.name.clone(),
                description: c.description.clone(),
            })
            .collect();
        if controls.is_empty() {
            return Ok(Vec::new());
        }
        let requirements: Vec<mapper::RequirementBrief> = rep
            .requirements
            .iter()
            .filter(|r| r.status != ReqStatus::NotApplicable)
            .map(|r| mapper::RequirementBrief {
                id: r.id.clone(),
                title: r.title.clone(),
            })
            .collect();
        let label = format!("{} {}", fw.name, fw.version);
        let proposals = crate::engine::with_tenant(
            &caller.user_id,
            &caller.workspace_id,
            &caller.tenant,
            || mapper.propose(&label, &controls, &requirements),
        )?;
        let mut stmt = conn
            .prepare(
                "SELECT control_id, requirement_id FROM compliance_mappings WHERE model_id = ?1 AND framework_id = ?2",
            )
            .map_err(|e| e.to_string())?;
        let existing: BTreeSet<(String, String)> = stmt
            .query_map(params![stored.model.id, fw.id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| e.to_string())?;
        Ok(proposals
            .into_iter()
            .filter(|p| !existing.contains(&(p.control_id.clone(), p.requirement_id.clone())))
            .collect())
    }

    /// Adds a manual mapping (control and requirement must exist; the framework must be
    /// selected). Re-adding a removed catalog mapping turns it into a manual one.
    pub fn map(
        &self,
        caller: &Caller,
        model_id: &str,
        control_id: &str,
        framework_id: &str,
        requirement_id: &str,
        reason: Option<&str>,
    ) -> Result<Mapping> {
        caller.require_write()?;
        let reason = reason.map(str::trim).unwrap_or("");
        if reason.chars().count() > MAX_REASON_CHARS
            || reason.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters, no control characters"),
            ));
        }
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let (control, fw, req) =
            self.check_target(&tx, &stored, control_id, framework_id, requirement_id)?;
        let reason = if reason.is_empty() {
            format!("mapped by hand by {}", caller.email)
        } else {
            reason.to_string()
        };
        tx.execute(
            "INSERT INTO compliance_mappings (model_id, control_id, framework_id, requirement_id, source, mapped_by, reason, removed, created_at) \
             VALUES (?1, ?2, ?3, ?4, 'manual', ?5, ?6, 0, ?7) \
             ON CONFLICT (model_id, control_id, framework_id, requirement_id) DO UPDATE SET source = 'manual', mapped_by = excluded.mapped_by, reason = excluded.reason, removed = 0, created_at = excluded.created_at",
            params![model_id, control, fw, req, caller.email, reason, now_str()],
        )?;
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &format!("mapped {control} to {fw} {req}"),
            source_of(caller),
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok(Mapping {
            control_id: control,
            framework_id: fw,
            requirement_id: req,
            source: MappingSource::Manual,
            mapped_by: caller.email.clone(),
            reason,
        })
    }

    /// Removes a mapping. A catalog or LLM mapping stays suppressed (auto-map will not add
    /// it again); a manual one is deleted. Unknown mappings are `NotFound`.
    pub fn unmap(
        &self,
        caller: &Caller,
        model_id: &str,
        control_id: &str,
        framework_id: &str,
        requirement_id: &str,
    ) -> Result<()> {
        caller.require_write()?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let (control, fw, req) =
            self.check_target(&tx, &stored, control_id, framework_id, requirement_id)?;
        let source: Option<String> = tx
            .query_row(
                "SELECT source FROM compliance_mappings WHERE model_id = ?1 AND control_id = ?2 AND framework_id = ?3 AND requirement_id = ?4 AND removed = 0",
                params![model_id, control, fw, req],
                |r| r.get(0),
            )
            .optional()?;
        match source.as_deref() {
            None => {
                return Err(Error::NotFound(format!("mapping {control} → {fw} {req}")));
            }
            Some("manual") => {
                tx.execute(
                    "DELETE FROM compliance_mappings WHERE model_id = ?1 AND control_id = ?2 AND framework_id = ?3 AND requirement_id = ?4",
                    params![model_id, control, fw, req],
                )?;
            }
            Some(_) => {
                tx.execute(
                    "UPDATE compliance_mappings SET removed = 1, mapped_by = ?5, created_at = ?6 WHERE model_id = ?1 AND control_id = ?2 AND framework_id = ?3 AND requirement_id = ?4",
                    params![model_id, control, fw, req, caller.email, now_str()],
                )?;
            }
        }
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &format!("unmapped {control} from {fw} {req}"),
            source_of(caller),
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Canonical (control, framework, requirement) ids, or a clear error naming the field.
    fn check_target(
        &self,
        conn: &Connection,
        stored: &StoredModel,
        control_id: &str,
        framework_id: &str,
        requirement_id: &str,
    ) -> Result<(String, String, String)> {
        let control = stored
            .model
            .controls
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(control_id.trim()))
            .ok_or_else(|| Error::NotFound(format!("control {}", control_id.trim())))?;
        let fw = self.framework(framework_id)?;
        let sel = selections(conn, &stored.model.id)?;
        if !sel.iter().any(|s| s.framework_id == fw.id) {
            return Err(invalid(
                "framework_id",
                format!("{} is not selected for this model; select it first", fw.id),
            ));
        }
        let req = fw.requirement(requirement_id).ok_or_else(|| {
            Error::NotFound(format!(
                "requirement {} of {}",
                requirement_id.trim(),
                fw.id
            ))
        })?;
        Ok((control.id.clone(), fw.id.clone(), req.id.clone()))
    }

    /// Active mappings of a model (optionally of one framework).
    pub fn mappings(
        &self,
        caller: &Caller,
        model_id: &str,
        framework: Option<&str>,
    ) -> Result<Vec<Mapping>> {
        let conn = caller.tenant.conn()?;
        self.load(&conn, caller, model_id)?;
        let fw = match framework {
            Some(f) => Some(self.framework(f)?.id.clone()),
            None => None,
        };
        mappings(&conn, model_id, fw.as_deref())
    }

    /// The report of one selected framework.
    pub fn report(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
    ) -> Result<ComplianceReport> {
        let conn = caller.tenant.conn()?;
        let stored = self.load(&conn, caller, model_id)?;
        self.report_on(&conn, &stored, framework_id)
    }

    fn report_on(
        &self,
        conn: &Connection,
        stored: &StoredModel,
        framework_id: &str,
    ) -> Result<ComplianceReport> {
        let fw = self.framework(framework_id)?;
        let sel = selections(conn, &stored.model.id)?;
        let Some(s) = sel.iter().find(|s| s.framework_id == fw.id) else {
            return Err(invalid(
                "framework",
                format!(
                    "{} is not selected for this model; select it first (selected: {})",
                    fw.id,
                    if sel.is_empty() {
                        "none".to_string()
                    } else {
                        sel.iter()
                            .map(|s| s.framework_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            ));
        };
        let profile = s.profile.as_deref().and_then(|p| fw.profile(p));
        let verification = models::verification_map(conn, &stored.model.id)?;
        let maps = mappings(conn, &stored.model.id, Some(&fw.id))?;
        let mut rep =
            report::build_report(fw, profile, &stored.model, &verification, &maps, now_str());
        report::apply_exclusions(&mut rep, &exclusions(conn, &stored.model.id, &fw.id)?);
        Ok(rep)
    }

    /// Declares a requirement of a selected framework not applicable to the model, with the
    /// justification auditors read (required). Replaces an earlier declaration. The report
    /// then shows it `not_applicable` with who declared it and why.
    pub fn exclude(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
        requirement_id: &str,
        reason: &str,
    ) -> Result<Exclusion> {
        caller.require_write()?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(invalid(
                "reason",
                "say why the requirement does not apply (auditors read it)",
            ));
        }
        if reason.chars().count() > MAX_REASON_CHARS
            || reason.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON_CHARS} characters, no control characters"),
            ));
        }
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let (fw, req) = self.check_requirement(&tx, &stored, framework_id, requirement_id)?;
        let now = now_str();
        tx.execute(
            "INSERT INTO compliance_exclusions (model_id, framework_id, requirement_id, reason, excluded_by, excluded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (model_id, framework_id, requirement_id) DO UPDATE SET reason = excluded.reason, excluded_by = excluded.excluded_by, excluded_at = excluded.excluded_at",
            params![model_id, fw, req, reason, caller.email, now],
        )?;
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &format!("{fw} {req} declared not applicable: {reason}"),
            source_of(caller),
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok(Exclusion {
            framework_id: fw,
            requirement_id: req,
            reason: reason.to_string(),
            excluded_by: caller.email.clone(),
            excluded_at: now,
        })
    }

    /// Withdraws a not-applicable declaration (`NotFound` when there is none).
    pub fn include(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
        requirement_id: &str,
    ) -> Result<()> {
        caller.require_write()?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = self.load(&tx, caller, model_id)?;
        let (fw, req) = self.check_requirement(&tx, &stored, framework_id, requirement_id)?;
        let n = tx.execute(
            "DELETE FROM compliance_exclusions WHERE model_id = ?1 AND framework_id = ?2 AND requirement_id = ?3",
            params![model_id, fw, req],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "not-applicable declaration of {fw} {req}"
            )));
        }
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(model_id),
            "compliance",
            &format!("{fw} {req} applicable again"),
            source_of(caller),
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Not-applicable declarations of a model for one framework.
    pub fn exclusions(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
    ) -> Result<Vec<Exclusion>> {
        let conn = caller.tenant.conn()?;
        self.load(&conn, caller, model_id)?;
        let fw = self.framework(framework_id)?;
        exclusions(&conn, model_id, &fw.id)
    }

    /// Canonical (framework, requirement) of a selected framework, or a clear error.
    fn check_requirement(
        &self,
        conn: &Connection,
        stored: &StoredModel,
        framework_id: &str,
        requirement_id: &str,
    ) -> Result<(String, String)> {
        let fw = self.framework(framework_id)?;
        let sel = selections(conn, &stored.model.id)?;
        if !sel.iter().any(|s| s.framework_id == fw.id) {
            return Err(invalid(
                "framework_id",
                format!("{} is not selected for this model; select it first", fw.id),
            ));
        }
        let req = fw.requirement(requirement_id).ok_or_else(|| {
            Error::NotFound(format!(
                "requirement {} of {}",
                requirement_id.trim(),
                fw.id
            ))
        })?;
        Ok((fw.id.clone(), req.id.clone()))
    }

    /// Reports of every selected framework (the dashboard's next steps, issue 17's
    /// assurance report).
    pub fn reports(&self, caller: &Caller, model_id: &str) -> Result<Vec<ComplianceReport>> {
        let conn = caller.tenant.conn()?;
        let stored = self.load(&conn, caller, model_id)?;
        let sel = selections(&conn, model_id)?;
        sel.iter()
            .filter(|s| self.catalog.framework(&s.framework_id).is_some())
            .map(|s| self.report_on(&conn, &stored, &s.framework_id))
            .collect()
    }

    /// Starts planning the remediation of a framework's uncovered requirements as a job
    /// (three steps); the result holds the stored remediation.
    pub fn start_remediation(
        &self,
        caller: &Caller,
        jobs: &Registry,
        model_id: &str,
        framework_id: &str,
    ) -> Result<Handle> {
        caller.require_write()?;
        // Refuse bad input before a job exists.
        let conn = caller.tenant.conn()?;
        let stored = self.load(&conn, caller, model_id)?;
        self.report_on(&conn, &stored, framework_id)?;
        drop(conn);
        let job = jobs.create("suggest_compliance_remediation", &caller.workspace_id, 3)?;
        let svc = self.clone();
        let caller = caller.clone();
        let (model_id, framework_id) = (model_id.to_string(), framework_id.to_string());
        let handle = job.clone();
        std::thread::Builder::new()
            .name(format!("rem-{}", job.id()))
            .spawn(
                move || match svc.suggest(&caller, &model_id, &framework_id, Some(&handle)) {
                    Ok(r) => handle.complete(serde_json::to_value(&r).unwrap_or(Value::Null)),
                    Err(e) => handle.fail(&e.to_string()),
                },
            )
            .map_err(|e| Error::Engine(format!("cannot start the remediation job: {e}")))?;
        Ok(job)
    }

    /// Plans the remediation now (reporting steps to `job`), stores and returns it.
    pub fn suggest(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
        job: Option<&Handle>,
    ) -> Result<Remediation> {
        caller.require_write()?;
        let step = |n: u32, name: &str| {
            if let Some(j) = job {
                j.step(n, name);
            }
        };
        step(1, "Computing the compliance gaps");
        let conn = caller.tenant.conn()?;
        let stored = self.load(&conn, caller, model_id)?;
        let rep = self.report_on(&conn, &stored, framework_id)?;
        let fw = self.framework(framework_id)?;
        let plan = remediation::plan(&self.engine, fw, &stored.model, &rep, |n, s| step(n, s));
        let id = format!("rem_{}", hex::encode(rand::random::<[u8; 8]>()));
        let now = now_str();
        let doc = serde_json::to_string(&plan).map_err(|e| Error::Engine(e.to_string()))?;
        conn.execute(
            "INSERT INTO compliance_remediations (id, model_id, framework_id, plan, created_by, created_at, applied) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '[]')",
            params![id, model_id, fw.id, doc, caller.user_id, now],
        )?;
        Ok(Remediation {
            id,
            model_id: model_id.to_string(),
            framework_id: fw.id.clone(),
            plan,
            created_at: now,
            applied: Vec::new(),
        })
    }

    /// A stored remediation of a model.
    pub fn remediation(&self, caller: &Caller, model_id: &str, id: &str) -> Result<Remediation> {
        let conn = caller.tenant.conn()?;
        self.load(&conn, caller, model_id)?;
        load_remediation(&conn, model_id, id)
    }

    /// The newest remediation of a model for a framework, if any.
    pub fn latest_remediation(
        &self,
        caller: &Caller,
        model_id: &str,
        framework_id: &str,
    ) -> Result<Option<Remediation>> {
        let conn = caller.tenant.conn()?;
        self.load(&conn, caller, model_id)?;
        let id: Option<String> = conn
            .query_row(
                "SELECT id FROM compliance_remediations WHERE model_id = ?1 AND framework_id = ?2 ORDER BY created_at DESC, rowid DESC LIMIT 1",
                params![model_id, framework_id],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| load_remediation(&conn, model_id, &id))
            .transpose()
    }

    /// Applies the approved asset and attacker suggestions of a remediation in one model
    /// change (control suggestions come from `regenerate_controls`, the next step). Unknown
    /// suggestion ids are refused and nothing changes; already applied ones are skipped.
    pub fn apply(
        &self,
        caller: &Caller,
        model_id: &str,
        remediation_id: &str,
        approved: &[String],
        source: Source,
    ) -> Result<Value> {
        caller.require_write()?;
        let rem = self.remediation(caller, model_id, remediation_id)?;
        if approved.is_empty() {
            return Err(invalid(
                "suggestion_ids",
                "name at least one suggestion to apply",
            ));
        }
        let mut chosen: Vec<&Suggestion> = Vec::new();
        for (i, sid) in approved.iter().enumerate() {
            let s = rem
                .plan
                .suggestions
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(sid.trim()))
                .ok_or_else(|| {
                    invalid(
                        &format!("suggestion_ids[{i}]"),
                        format!("{sid:?} is not a suggestion of {}", rem.id),
                    )
                })?;
            if !chosen.iter().any(|c| c.id == s.id) {
                chosen.push(s);
            }
        }
        let fresh: Vec<&Suggestion> = chosen
            .iter()
            .copied()
            .filter(|s| !rem.applied.contains(&s.id))
            .collect();
        let assets: Vec<crate::domain::NewAsset> =
            fresh.iter().filter_map(|s| s.asset.clone()).collect();
        let attackers: Vec<crate::domain::NewAttacker> =
            fresh.iter().filter_map(|s| s.attacker.clone()).collect();
        let mut added_assets = Vec::new();
        let mut added_attackers = Vec::new();
        if !assets.is_empty() || !attackers.is_empty() {
            let rid = rem.id.clone();
            let (_, ids) =
                self.models
                    .update(caller, model_id, source, "refinement", move |m| {
                        let now = chrono::Utc::now();
                        let mut a_ids = Vec::new();
                        for a in assets {
                            a_ids.push(m.add_asset(a, now)?);
                        }
                        let k_ids = if attackers.is_empty() {
                            Vec::new()
                        } else {
                            m.add_attackers(attackers, now)?
                        };
                        let summary = format!(
                            "compliance remediation {rid}: added {} asset(s), {} attacker(s)",
                            a_ids.len(),
                            k_ids.len()
                        );
                        Ok(((a_ids, k_ids), summary))
                    })?;
            added_assets = ids.0;
            added_attackers = ids.1;
        }
        let mut applied = rem.applied.clone();
        for s in &chosen {
            if !applied.contains(&s.id) {
                applied.push(s.id.clone());
            }
        }
        let conn = caller.tenant.conn()?;
        conn.execute(
            "UPDATE compliance_remediations SET applied = ?1, applied_at = ?2 WHERE id = ?3 AND model_id = ?4",
            params![
                serde_json::to_string(&applied).unwrap_or_else(|_| "[]".into()),
                now_str(),
                rem.id,
                model_id
            ],
        )?;
        let stored = self.models.get(caller, model_id)?;
        Ok(json!({
            "remediation_id": rem.id,
            "model_id": model_id,
            "version": stored.model.version,
            "applied": chosen.iter().map(|s| &s.id).collect::<Vec<_>>(),
            "added_assets": added_assets,
            "added_attackers": added_attackers,
            "control_objectives": stored.model.control_objectives.len(),
            "next": "regenerate_controls generates controls for the new control objectives; then auto_map_controls maps them and get_compliance_report shows the result",
        }))
    }

    /// The public framework badge (Shields.io endpoint JSON): same opt-in as the model
    /// badge; an unknown model, a model without the badge, or a framework not selected for
    /// it are all `NotFound`, so callers answer them identically.
    pub fn badge(&self, model_id: &str, framework_id: &str) -> Result<Value> {
        let db = self.models.badge_db(model_id)?;
        let conn = db.conn()?;
        let row: Option<(String, String, bool)> = conn
            .query_row(
                "SELECT document, workspace_id, badge_enabled FROM models WHERE id = ?1",
                [model_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((_, ws, true)) = row else {
            return Err(Error::NotFound("badge".into()));
        };
        let stored = models::load(&conn, &ws, model_id)?;
        let fw = self
            .catalog
            .framework(framework_id)
            .ok_or_else(|| Error::NotFound("badge".into()))?;
        let rep = self
            .report_on(&conn, &stored, &fw.id)
            .map_err(|_| Error::NotFound("badge".into()))?;
        let c = rep.counts;
        let applicable = c.total - c.not_applicable;
        let color = if applicable > 0 && c.covered == applicable {
            "brightgreen"
        } else if c.percentage >= 75.0 {
            "green"
        } else if c.percentage >= 40.0 {
            "yellow"
        } else if c.covered + c.partial > 0 {
            "orange"
        } else {
            "red"
        };
        Ok(json!({
            "schemaVersion": 1,
            "label": fw.name,
            "message": format!("{}% covered ({}/{applicable})", trim_pct(c.percentage), c.covered),
            "color": color,
        }))
    }

    /// Dashboard next steps per model: `(model id, text, link)` tied to the selected
    /// frameworks (the lowest coverage first), or `None` for models without a selection.
    pub fn next_step(&self, caller: &Caller, model_id: &str) -> Result<Option<(String, String)>> {
        let reps = self.reports(caller, model_id)?;
        let Some(worst) = reps.iter().min_by(|a, b| {
            a.counts
                .percentage
                .partial_cmp(&b.counts.percentage)
                .unwrap_or(std::cmp::Ordering::Equal)
        }) else {
            return Ok(None);
        };
        let c = worst.counts;
        let base = format!(
            "/models/{model_id}/compliance?framework={}",
            worst.framework_id
        );
        let text = if c.uncovered > 0 {
            format!(
                "{}: {} requirement(s) uncovered ({}% covered) — plan remediation",
                worst.framework_name,
                c.uncovered,
                trim_pct(c.percentage)
            )
        } else if c.partial > 0 {
            format!(
                "{}: {} requirement(s) partial — implement and verify their controls",
                worst.framework_name, c.partial
            )
        } else {
            format!(
                "{}: every applicable requirement covered",
                worst.framework_name
            )
        };
        let link = if c.uncovered > 0 {
            format!("{base}&status=uncovered")
        } else if c.partial > 0 {
            format!("{base}&status=partial")
        } else {
            base
        };
        Ok(Some((text, link)))
    }
}

/// `87.5` → `87.5`, `100.0` → `100`.
pub fn trim_pct(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

fn source_of(caller: &Caller) -> Source {
    match caller.via {
        crate::auth::Via::Session { .. } => Source::Web,
        crate::auth::Via::ApiKey { .. } => Source::Api,
    }
}

fn selections(conn: &Connection, model_id: &str) -> Result<Vec<Selection>> {
    let mut stmt = conn.prepare(
        "SELECT framework_id, profile FROM compliance_selections WHERE model_id = ?1 ORDER BY framework_id",
    )?;
    let rows = stmt
        .query_map([model_id], |r| {
            Ok(Selection {
                framework_id: r.get(0)?,
                profile: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn exclusions(conn: &Connection, model_id: &str, framework: &str) -> Result<Vec<Exclusion>> {
    let mut stmt = conn.prepare(
        "SELECT framework_id, requirement_id, reason, excluded_by, excluded_at FROM compliance_exclusions \
         WHERE model_id = ?1 AND framework_id = ?2 ORDER BY requirement_id",
    )?;
    let rows = stmt
        .query_map(params![model_id, framework], |r| {
            Ok(Exclusion {
                framework_id: r.get(0)?,
                requirement_id: r.get(1)?,
                reason: r.get(2)?,
                excluded_by: r.get(3)?,
                excluded_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn mappings(conn: &Connection, model_id: &str, framework: Option<&str>) -> Result<Vec<Mapping>> {
    let mut stmt = conn.prepare(
        "SELECT control_id, framework_id, requirement_id, source, mapped_by, reason FROM compliance_mappings \
         WHERE model_id = ?1 AND removed = 0 AND (?2 IS NULL OR framework_id = ?2) ORDER BY framework_id, rowid",
    )?;
    let rows = stmt
        .query_map(params![model_id, framework], |r| {
            Ok(Mapping {
                control_id: r.get(0)?,
                framework_id: r.get(1)?,
                requirement_id: r.get(2)?,
                source: MappingSource::parse(&r.get::<_, String>(3)?),
                mapped_by: r.get(4)?,
                reason: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Recomputes the catalog mappings of `fws` for a model inside the caller's transaction.
fn automap(
    conn: &Connection,
    stored: &StoredModel,
    fws: &[&FrameworkDef],
) -> Result<AutoMapSummary> {
    let model_id = &stored.model.id;
    let mut s = AutoMapSummary {
        model_id: model_id.clone(),
        ..Default::default()
    };
    let now = now_str();
    for fw in fws {
        s.frameworks.push(fw.id.clone());
        let derived = report::derive_mappings(fw, &stored.model);
        let wanted: BTreeSet<(String, String)> = derived
            .iter()
            .map(|d| (d.control_id.clone(), d.requirement_id.clone()))
            .collect();
        // Existing catalog rows: keep those still derived, drop the rest.
        let mut stmt = conn.prepare(
            "SELECT control_id, requirement_id, source, removed FROM compliance_mappings WHERE model_id = ?1 AND framework_id = ?2",
        )?;
        let existing: Vec<(String, String, String, bool)> = stmt
            .query_map(params![model_id, fw.id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut present: BTreeSet<(String, String)> = BTreeSet::new();
        for (c, r, source, removed) in existing {
            let key = (c.clone(), r.clone());
            present.insert(key.clone());
            if source == "auto" && !wanted.contains(&key) {
                conn.execute(
                    "DELETE FROM compliance_mappings WHERE model_id = ?1 AND framework_id = ?2 AND control_id = ?3 AND requirement_id = ?4",
                    params![model_id, fw.id, c, r],
                )?;
                if !removed {
                    s.removed += 1;
                }
            } else if source == "auto" && removed {
                s.suppressed += 1;
            } else if source == "auto" {
                s.kept += 1;
            }
        }
        for d in &derived {
            let key = (d.control_id.clone(), d.requirement_id.clone());
            if present.contains(&key) {
                continue;
            }
            conn.execute(
                "INSERT INTO compliance_mappings (model_id, control_id, framework_id, requirement_id, source, mapped_by, reason, removed, created_at) VALUES (?1, ?2, ?3, ?4, 'auto', 'catalog', ?5, 0, ?6)",
                params![model_id, d.control_id, fw.id, d.requirement_id, d.reason, now],
            )?;
            present.insert(key);
            s.added += 1;
        }
    }
    s.total = conn.query_row(
        "SELECT count(*) FROM compliance_mappings WHERE model_id = ?1 AND removed = 0",
        [model_id],
        |r| r.get(0),
    )?;
    Ok(s)
}

fn load_remediation(conn: &Connection, model_id: &str, id: &str) -> Result<Remediation> {
    let row: Option<(String, String, String, String)> = conn
        .query_row(
            "SELECT framework_id, plan, created_at, applied FROM compliance_remediations WHERE id = ?1 AND model_id = ?2",
            params![id.trim(), model_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (framework_id, plan, created_at, applied) =
        row.ok_or_else(|| Error::NotFound(format!("remediation {}", id.trim())))?;
    let plan: Plan = serde_json::from_str(&plan)
        .map_err(|e| Error::Engine(format!("stored remediation: {e}")))?;
    let applied: Vec<String> = serde_json::from_str(&applied).unwrap_or_default();
    Ok(Remediation {
        id: id.trim().to_string(),
        model_id: model_id.to_string(),
        framework_id,
        plan,
        created_at,
        applied,
    })
}

#[cfg(test)]
mod tests;
