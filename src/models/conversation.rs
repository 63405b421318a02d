//! Talking to a model: the conversation panel's one input box (intent classified as
//! generate / refine / query / general), and the operations behind it that REST and MCP also
//! expose — refinement (targeted single-entity changes or the broad pipeline), queries
//! answered from the model's data, methodology answers from the built-in glossary, control
//! regeneration, and control refinement with an evaluation of whether the mitigation group
//! still covers its objectives. Every change is atomic: on error nothing is saved.

use std::collections::BTreeSet;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Error, ModelService, Result, Source, StoredModel};
use crate::auth::Caller;
use crate::credits::{self, Operation};
use crate::engine::{self, Engine, EngineError, Intent};

/// Runs `f` as operation `op` in the caller's workspace, its cost reserved first (see
/// [`credits::metered`]).
fn charged<T>(
    caller: &Caller,
    engine: &dyn Engine,
    op: Operation,
    f: impl FnOnce() -> std::result::Result<T, EngineError>,
) -> std::result::Result<T, EngineError> {
    credits::metered(op, &caller.user_id, caller.org_id.as_deref(), || {
        engine.check_credits(&caller.user_id, caller.org_id.as_deref(), op)?;
        engine::with_tenant(&caller.user_id, &caller.workspace_id, &caller.tenant, f)
    })
}

impl From<EngineError> for Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidInput(m) => Error::Invalid {
                field: "message".into(),
                message: m,
            },
            EngineError::RateLimited(m) => Error::RateLimited(m),
            EngineError::CreditsExhausted(x) => Error::CreditsExhausted(x),
            other => Error::Engine(other.to_string()),
        }
    }
}

/// The answer to one conversation message.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    /// How the message was understood.
    pub intent: Intent,
    /// The assistant's answer, shown in the panel.
    pub reply: String,
    /// What changed (refinements).
    pub changes: Vec<String>,
    /// The model's version after the message.
    pub version: u64,
    /// For a generate intent: the job creating the new model.
    pub job_id: Option<String>,
}

/// Outcome of a control refinement.
#[derive(Debug, Clone, Serialize)]
pub struct ControlRefinement {
    /// Whether the new description was applied.
    pub accepted: bool,
    /// Why: which facets of the control objectives the new text keeps or loses.
    pub evaluation: String,
    /// The control objectives the control is mapped to.
    pub control_objectives: Vec<String>,
}

/// Longest conversation message (characters), also the panel's `maxlength`.
pub const MAX_MESSAGE: usize = 4000;

fn check_message(field: &str, text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::Invalid {
            field: field.into(),
            message: "must not be empty".into(),
        });
    }
    if t.chars().count() > MAX_MESSAGE {
        return Err(Error::Invalid {
            field: field.into(),
            message: format!("at most {MAX_MESSAGE} characters"),
        });
    }
    Ok(t.to_string())
}

impl ModelService {
    /// Applies a refinement instruction ("add a database admin attacker", "remove asset A3",
    /// or broader changes that re-run the matrix and controls).
    pub fn refine(
        &self,
        caller: &Caller,
        engine: &dyn Engine,
        id: &str,
        instruction: &str,
        source: Source,
    ) -> Result<(StoredModel, engine::Refined)> {
        let instruction = check_message("instruction", instruction)?;
        // Metered around the model's write: the cost is reserved before the write transaction
        // opens and kept (or given back) once it is over.
        credits::metered(
            Operation::Refinement,
            &caller.user_id,
            caller.org_id.as_deref(),
            || {
                engine.check_credits(
                    &caller.user_id,
                    caller.org_id.as_deref(),
                    Operation::Refinement,
                )?;
                self.update_with(caller, id, source, "refinement", |m| {
                    let r = engine::with_tenant(
                        &caller.user_id,
                        &caller.workspace_id,
                        &caller.tenant,
                        || engine::refine_model(engine, m, &instruction, Utc::now()),
                    )?;
                    let summary = if r.applied.is_empty() {
                        format!("refined: {instruction}")
                    } else {
                        r.applied.join("; ")
                    };
                    Ok((r, summary))
                })
            },
        )
    }

    /// Answers a question from the model's data ("what are the highest-risk assets?").
    pub fn query(
        &self,
        caller: &Caller,
        engine: &dyn Engine,
        id: &str,
        question: &str,
    ) -> Result<String> {
        let question = check_message("question", question)?;
        let stored = self.get(caller, id)?;
        let verification = self.verification(caller, id)?;
        let answer = charged(caller, engine, Operation::Query, || {
            engine.answer_query(&stored.model, &verification, &question)
        })?;
        Ok(answer.data)
    }

    /// Re-runs control generation (status and evidence of controls produced again are kept;
    /// dropped controls are tombstoned).
    pub fn regenerate_controls(
        &self,
        caller: &Caller,
        engine: &dyn Engine,
        id: &str,
        source: Source,
    ) -> Result<(StoredModel, crate::domain::ControlsChange)> {
        credits::metered(
            Operation::Controls,
            &caller.user_id,
            caller.org_id.as_deref(),
            || {
                engine.check_credits(
                    &caller.user_id,
                    caller.org_id.as_deref(),
                    Operation::Controls,
                )?;
                self.update_with(caller, id, source, "refinement", |m| {
                    let (change, _thought) = engine::with_tenant(
                        &caller.user_id,
                        &caller.workspace_id,
                        &caller.tenant,
                        || engine::regenerate_controls(engine, m, Utc::now()),
                    )?;
                    let summary = format!(
                        "controls regenerated: {} added, {} kept, {} removed",
                        change.added.len(),
                        change.kept.len(),
                        change.removed.len()
                    );
                    Ok((change, summary))
                })
            },
        )
    }

    /// Proposes a less prescriptive description for a control. It is applied only if it still
    /// speaks to every security facet the control's objectives need (the facets named by the
    /// original description), so the mitigation group keeps satisfying its objectives.
    pub fn refine_control(
        &self,
        caller: &Caller,
        id: &str,
        control_id: &str,
        new_description: &str,
        justification: &str,
        source: Source,
    ) -> Result<ControlRefinement> {
        let new_description = check_message("description", new_description)?;
        let justification = check_message("justification", justification)?;
        let stored = self.get(caller, id)?;
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
        let before: BTreeSet<_> = crate::assurance::rules::facets_of(&format!(
            "{} {}",
            control.name, control.description
        ));
        let after: BTreeSet<_> =
            crate::assurance::rules::facets_of(&format!("{} {new_description}", control.name));
        let lost: Vec<&str> = before.difference(&after).map(|f| f.label()).collect();
        if !lost.is_empty() {
            return Ok(ControlRefinement {
                accepted: false,
                evaluation: format!(
                    "rejected: the new description no longer addresses {} which {} of {} rely on; keep those aspects or add another control to the mitigation group",
                    lost.join(", "),
                    if cos.len() == 1 {
                        "the objective"
                    } else {
                        "the objectives"
                    },
                    cos.join(", ")
                ),
                control_objectives: cos,
            });
        }
        let cid = control.id.clone();
        let text = new_description.clone();
        self.update_with(caller, id, source, "refinement", move |m| {
            let c = m
                .controls
                .iter_mut()
                .find(|c| c.id == cid)
                .ok_or_else(|| Error::NotFound(format!("control {cid}")))?;
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

    /// One message of the conversation panel: classify, act, answer, and keep the history.
    pub fn converse(
        &self,
        caller: &Caller,
        engine: std::sync::Arc<dyn Engine>,
        jobs: &crate::jobs::Registry,
        id: &str,
        message: &str,
        source: Source,
    ) -> Result<Reply> {
        self.converse_as(caller, engine, jobs, id, message, None, source)
    }

    /// Like [`converse`](Self::converse), with the intent chosen by the user (the web
    /// panel's mode chooser) instead of classified when `intent` is `Some`.
    #[allow(clippy::too_many_arguments)]
    pub fn converse_as(
        &self,
        caller: &Caller,
        engine: std::sync::Arc<dyn Engine>,
        jobs: &crate::jobs::Registry,
        id: &str,
        message: &str,
        intent: Option<Intent>,
        source: Source,
    ) -> Result<Reply> {
        // Every message is kept in the model's history: a change, so viewers (and verifier
        // keys) cannot send one. They can still ask questions with `query`.
        caller.require_write()?;
        let message = check_message("message", message)?;
        let stored = self.get(caller, id)?;
        let intent = match intent {
            Some(i) => i,
            None => engine::with_tenant(
                &caller.user_id,
                &caller.workspace_id,
                &caller.tenant,
                || engine.classify_intent(&message, Some(&stored.model)),
            )?,
        };
        let (reply, changes, version, job_id) = match intent {
            Intent::Refine => {
                let (after, refined) =
                    self.refine(caller, engine.as_ref(), id, &message, source)?;
                let reply = if refined.applied.is_empty() {
                    "I could not find a change to make from that instruction; name the asset, attacker or control (e.g. \"remove asset A3\").".to_string()
                } else {
                    format!(
                        "Done ({}): {}",
                        if refined.targeted {
                            "targeted change"
                        } else {
                            "full refinement"
                        },
                        refined.applied.join("; ")
                    )
                };
                (reply, refined.applied, after.model.version, None)
            }
            Intent::Query => (
                self.query(caller, engine.as_ref(), id, &message)?,
                Vec::new(),
                stored.model.version,
                None,
            ),
            Intent::General => (
                charged(caller, engine.as_ref(), Operation::Query, || {
                    engine.answer_general(&message)
                })?
                .data,
                Vec::new(),
                stored.model.version,
                None,
            ),
            Intent::Generate => {
                let job = self.start_generation(caller, jobs, engine.clone(), &message, source)?;
                (
                    format!(
                        "Generating a new threat model for that description (job {}).",
                        job.id()
                    ),
                    Vec::new(),
                    stored.model.version,
                    Some(job.id().to_string()),
                )
            }
        };
        let intent_name = serde_json::to_value(intent)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.add_message(caller, id, "user", &intent_name, &message)?;
        self.add_message(caller, id, "assistant", &intent_name, &reply)?;
        Ok(Reply {
            intent,
            reply,
            changes,
            version,
            job_id,
        })
    }
}

/// JSON summary of a refinement for API answers.
pub fn refined_json(stored: &StoredModel, r: &engine::Refined) -> Value {
    json!({
        "model_id": stored.model.id,
        "version": stored.model.version,
        "targeted": r.targeted,
        "applied": r.applied,
        "thought": r.steps,
    })
}
