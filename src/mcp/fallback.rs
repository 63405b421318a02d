//! Conversation operations the MCP tools need (refine, query, regenerate controls, refine a
//! control), written as thin wrappers over the engine inside [`ModelService::update`]. They
//! stand in for the `ModelService` conversation services that were not on `main` when the
//! MCP server was built; once those exist, the tools should call them instead.

use std::collections::BTreeSet;

use chrono::Utc;
use serde::Serialize;

use crate::auth::Caller;
use crate::domain::{ControlsChange, DomainError};
use crate::engine::{self, Engine, Refined};
use crate::models::{Error, ModelService, Result, Source, StoredModel};

fn check_text(field: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Invalid {
            field: field.into(),
            message: "must not be empty".into(),
        });
    }
    if t.chars().count() > 4000 {
        return Err(Error::Invalid {
            field: field.into(),
            message: "at most 4000 characters".into(),
        });
    }
    Ok(t.to_string())
}

fn engine_failure(e: engine::EngineError) -> DomainError {
    DomainError::invalid("engine", e.to_string())
}

/// Applies a natural-language refinement to a model atomically.
pub fn refine(
    svc: &ModelService,
    caller: &Caller,
    engine: &dyn Engine,
    id: &str,
    instruction: &str,
    source: Source,
) -> Result<(StoredModel, Refined)> {
    let instruction = check_text("instruction", instruction)?;
    svc.update(caller, id, source, "refinement", |m| {
        let r =
            engine::refine_model(engine, m, &instruction, Utc::now()).map_err(engine_failure)?;
        let summary = if r.applied.is_empty() {
            format!("refined: {instruction}")
        } else {
            r.applied.join("; ")
        };
        Ok((r, summary))
    })
}

/// Answers a question about a model (read only).
pub fn query(
    svc: &ModelService,
    caller: &Caller,
    engine: &dyn Engine,
    id: &str,
    question: &str,
) -> Result<String> {
    let question = check_text("question", question)?;
    let stored = svc.get(caller, id)?;
    let verification = svc.verification(caller, id)?;
    engine
        .answer_query(&stored.model, &verification, &question)
        .map(|o| o.data)
        .map_err(|e| Error::Engine(e.to_string()))
}

/// Re-runs the control step of a model.
pub fn regenerate_controls(
    svc: &ModelService,
    caller: &Caller,
    engine: &dyn Engine,
    id: &str,
    source: Source,
) -> Result<(StoredModel, ControlsChange)> {
    svc.update(caller, id, source, "refinement", |m| {
        let (change, _thought) =
            engine::regenerate_controls(engine, m, Utc::now()).map_err(engine_failure)?;
        let summary = format!(
            "controls regenerated: {} added, {} kept, {} removed",
            change.added.len(),
            change.kept.len(),
            change.removed.len()
        );
        Ok((change, summary))
    })
}

/// Outcome of a proposed control refinement.
#[derive(Debug, Clone, Serialize)]
pub struct ControlRefinement {
    /// Whether the new description was applied.
    pub accepted: bool,
    /// Why.
    pub evaluation: String,
    /// The control objectives the control is mapped to.
    pub control_objectives: Vec<String>,
}

/// Replaces a control's description when the new text still covers every security aspect
/// (facet) the old one addressed, so the mitigation group keeps satisfying its COs.
pub fn refine_control(
    svc: &ModelService,
    caller: &Caller,
    id: &str,
    control_id: &str,
    new_description: &str,
    justification: &str,
    source: Source,
) -> Result<ControlRefinement> {
    let new_description = check_text("new_description", new_description)?;
    let justification = check_text("justification", justification)?;
    let stored = svc.get(caller, id)?;
    let control = stored
        .model
        .control(control_id)
        .ok_or_else(|| Error::NotFound(format!("control {control_id}")))?
        .clone();
    let cos: Vec<String> = stored
        .model
        .objectives_of_control(&control.id)
        .iter()
        .map(|o| o.id.clone())
        .collect();
    let before: BTreeSet<_> =
        crate::assurance::rules::facets_of(&format!("{} {}", control.name, control.description));
    let after: BTreeSet<_> =
        crate::assurance::rules::facets_of(&format!("{} {new_description}", control.name));
    let lost: Vec<&str> = before.difference(&after).map(|f| f.label()).collect();
    if !lost.is_empty() {
        return Ok(ControlRefinement {
            accepted: false,
            evaluation: format!(
                "rejected: the new description no longer addresses {}, which {} relies on; keep those aspects or add another control to the mitigation group",
                lost.join(", "),
                cos.join(", ")
            ),
            control_objectives: cos,
        });
    }
    let cid = control.id.clone();
    let text = new_description.clone();
    svc.update(caller, id, source, "refinement", move |m| {
        let c =
            m.controls.iter_mut().find(|c| c.id == cid).ok_or_else(|| {
                DomainError::invalid("control_id", format!("unknown control {cid}"))
            })?;
        c.description = text;
        c.rationale = format!("{} Refined: {justification}", c.rationale)
            .trim()
            .to_string();
        m.updated_at = Utc::now();
        Ok(((), format!("control {cid} refined")))
    })?;
    Ok(ControlRefinement {
        accepted: true,
        evaluation: format!(
            "accepted: the new description still addresses {} for {}",
            if before.is_empty() {
                "the control's purpose".to_string()
            } else {
                before
                    .iter()
                    .map(|f| f.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            cos.join(", ")
        ),
        control_objectives: cos,
    })
}
