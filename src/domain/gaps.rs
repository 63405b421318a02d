//! Control gaps and imported controls: the two read/write helpers the MCP tools
//! `check_control_gaps` and `import_controls` share with their REST endpoints, so both
//! surfaces answer from the same rule.

use serde::{Deserialize, Serialize};

use super::error::{DomainError, Result};
use super::model::{ControlMapping, NewControl, ThreatModel};
use super::types::ControlStatus;

/// A control objective no control mitigates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncoveredObjective {
    /// Control objective id.
    pub co_id: String,
    /// What must be protected from whom.
    pub statement: String,
}

/// A control objective whose every mitigating control is still not started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnimplementedObjective {
    /// Control objective id.
    pub co_id: String,
    /// What must be protected from whom.
    pub statement: String,
    /// The mitigating controls, none of them implemented or in progress.
    pub controls: Vec<String>,
}

/// Where a model's controls leave objectives unprotected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlGaps {
    /// Model id.
    pub model_id: String,
    /// Number of control objectives in the model.
    pub control_objectives: usize,
    /// Objectives without any control.
    pub without_controls: Vec<UncoveredObjective>,
    /// Objectives whose controls are all not implemented (or not applicable).
    pub without_implemented_controls: Vec<UnimplementedObjective>,
    /// What to do next, for agents.
    pub hint: &'static str,
}

/// Finds the gaps: objectives without controls, and objectives none of whose controls is
/// implemented or in progress.
pub fn control_gaps(m: &ThreatModel) -> ControlGaps {
    let mut without_controls = Vec::new();
    let mut without_implemented_controls = Vec::new();
    for co in &m.control_objectives {
        let ids: Vec<String> = co
            .mitigation_groups
            .iter()
            .flat_map(|g| g.controls.iter().cloned())
            .collect();
        if ids.is_empty() {
            without_controls.push(UncoveredObjective {
                co_id: co.id.clone(),
                statement: co.statement.clone(),
            });
            continue;
        }
        let any_done = ids.iter().any(|id| {
            m.control(id).is_some_and(|ctl| {
                matches!(
                    ctl.status,
                    ControlStatus::Implemented | ControlStatus::InProgress
                )
            })
        });
        if !any_done {
            without_implemented_controls.push(UnimplementedObjective {
                co_id: co.id.clone(),
                statement: co.statement.clone(),
                controls: ids,
            });
        }
    }
    ControlGaps {
        model_id: m.id.clone(),
        control_objectives: m.control_objectives.len(),
        without_controls,
        without_implemented_controls,
        hint: "regenerate_controls or import_controls fills objectives without controls; update_control_status records progress",
    }
}

/// A control brought in from elsewhere (an existing catalogue, a spreadsheet), mapped to
/// the control objectives it mitigates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedControl {
    /// Short name.
    pub name: String,
    /// What the control does.
    pub description: String,
    /// Why it is in the model (default: where it was imported from).
    #[serde(default)]
    pub rationale: Option<String>,
    /// Control objectives it mitigates (at least one).
    #[serde(default)]
    pub co_ids: Vec<String>,
    /// Mitigation group within each objective (default `imported`).
    #[serde(default)]
    pub group: Option<String>,
}

/// Turns imported controls into domain inputs; `field` names the list in errors and
/// `rationale` is used where an item gives none. Unknown objective ids are refused later,
/// by the model itself.
pub fn imported_controls(
    field: &str,
    items: Vec<ImportedControl>,
    rationale: &str,
) -> Result<Vec<NewControl>> {
    if items.is_empty() {
        return Err(DomainError::invalid(field, "import at least one control"));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            if item.co_ids.is_empty() {
                return Err(DomainError::invalid(
                    format!("{field}[{i}].co_ids"),
                    "map the control to at least one control objective",
                ));
            }
            let group = item.group.unwrap_or_else(|| "imported".into());
            Ok(NewControl {
                catalog_key: None,
                name: item.name,
                description: item.description,
                framework_refs: Vec::new(),
                rationale: item.rationale.unwrap_or_else(|| rationale.into()),
                mappings: item
                    .co_ids
                    .into_iter()
                    .map(|co_id| ControlMapping {
                        co_id,
                        group: group.clone(),
                    })
                    .collect(),
            })
        })
        .collect()
}
