//! Threat-model generation behind the [`Engine`] trait: the pipeline steps of spec/01
//! (assets, refine assets, attackers, refine attackers, matrix, controls), refinement,
//! query answering, intent classification and methodology answers.
//!
//! Owns no storage and no HTTP: engines take a description and earlier step outputs and
//! return domain inputs (`New*` values) plus a short "thought process" text per step.
//! [`generate_model`], [`refine_model`] and [`regenerate_controls`] drive an engine and
//! apply its output to a [`ThreatModel`] atomically (nothing is half-applied on error).
//! The built-in, offline, deterministic engine is [`BuiltinEngine`]; an LLM engine can
//! implement the same trait; [`LlmEngine`] does so over an OpenAI-compatible endpoint.

mod builtin;
pub mod catalog;
mod conversation;
mod ground;
pub mod llm;
mod llm_compliance;
mod llm_conversation;
mod llm_judge;
pub mod text;

#[cfg(test)]
mod tests;

pub use builtin::BuiltinEngine;
pub use catalog::{Catalog, CatalogError};
pub use llm::{LlmEngine, with_tenant, with_user};

use crate::domain::{
    ControlsChange, DomainError, ModelOp, NewAsset, NewAssumption, NewAttacker, NewControl,
    NewTrustBoundary, ThreatModel, VerificationMap,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input is unusable (empty description, empty instruction…).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A pipeline step failed (e.g. the LLM returned malformed output twice).
    #[error("step {step} failed: {message}")]
    Step {
        /// The step.
        step: Step,
        /// What went wrong.
        message: String,
    },
    /// The engine's output broke a domain rule when applied.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The catalog could not be loaded.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The engine's backend is unreachable or refused (LLM endpoint down, rate limited).
    #[error("engine unavailable: {0}")]
    Unavailable(String),
    /// The user's fair-use limit of AI requests for the current UTC day is used up (HTTP 429).
    #[error("{0}")]
    RateLimited(String),
    /// The credits paying for the operation cannot (HTTP 402 `credits_exhausted`).
    #[error("{0}")]
    CreditsExhausted(crate::credits::Exhausted),
}

/// Result alias for engine calls.
pub type Result<T> = std::result::Result<T, EngineError>;

/// The generation pipeline steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Find the assets.
    GenerateAssets,
    /// Merge, drop and re-rate assets.
    RefineAssets,
    /// Find the attackers.
    GenerateAttackers,
    /// Scope and re-rate attackers.
    RefineAttackers,
    /// Trust boundaries, control objectives, assumptions.
    GenerateMatrix,
    /// Controls mapped to COs in mitigation groups.
    GenerateControls,
}

impl Step {
    /// All steps of a full generation, in order.
    pub const PIPELINE: [Step; 6] = [
        Step::GenerateAssets,
        Step::RefineAssets,
        Step::GenerateAttackers,
        Step::RefineAttackers,
        Step::GenerateMatrix,
        Step::GenerateControls,
    ];

    /// Label for progress messages.
    pub fn label(self) -> &'static str {
        match self {
            Step::GenerateAssets => "Generate Assets",
            Step::RefineAssets => "Refine Assets",
            Step::GenerateAttackers => "Generate Attackers",
            Step::RefineAttackers => "Refine Attackers",
            Step::GenerateMatrix => "Generate Matrix",
            Step::GenerateControls => "Generate Controls",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A step's data plus the short explanation shown in the UI's thought-process view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepOutput<T> {
    /// The result.
    pub data: T,
    /// What the step considered and why.
    pub thought: String,
}

/// Output of the matrix step. Control objectives themselves are derived by the domain from
/// assets × attackers (see [`ThreatModel`]); the thought text summarises them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    /// Trust boundaries (asset ids refer to the model passed in).
    pub trust_boundaries: Vec<NewTrustBoundary>,
    /// Assumptions.
    pub assumptions: Vec<NewAssumption>,
}

/// What a conversation message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Create a new threat model from the message.
    Generate,
    /// Change the current model.
    Refine,
    /// Answer from the current model's data.
    Query,
    /// Answer a methodology question.
    General,
}

/// A planned refinement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refinement {
    /// Operations to apply atomically.
    pub ops: Vec<ModelOp>,
    /// True when the instruction was a single-entity (fast, targeted) operation.
    pub targeted: bool,
    /// Re-run matrix and controls after the ops (broad refinements).
    pub regenerate: bool,
}

/// A pluggable generation engine. Implementations must be deterministic where they can and
/// must never return partial data: a step either returns its full output or an error.
pub trait Engine: Send + Sync {
    /// Short engine name for logs and the UI (`builtin`, `llm:<model>`).
    fn name(&self) -> &str;
    /// Refuses operation `op` of `user_id` (in a workspace of `org_id`) before any work when
    /// its credits cannot pay for it. Only the LLM engine charges credits; the built-in
    /// engine is free, so this default accepts.
    fn check_credits(
        &self,
        _user_id: &str,
        _org_id: Option<&str>,
        _op: crate::credits::Operation,
    ) -> Result<()> {
        Ok(())
    }
    /// A short model title for the description.
    fn suggest_title(&self, description: &str) -> Result<String>;
    /// Step 1: assets named or implied by the description.
    fn generate_assets(&self, description: &str) -> Result<StepOutput<Vec<NewAsset>>>;
    /// Step 2: merge duplicates, drop weak ones, re-rate impact.
    fn refine_assets(
        &self,
        description: &str,
        assets: Vec<NewAsset>,
    ) -> Result<StepOutput<Vec<NewAsset>>>;
    /// Step 3: attackers for the model's assets (asset ids exist in `model`).
    fn generate_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewAttacker>>>;
    /// Step 4: scope attackers to assets in reach and re-rate likelihood.
    fn refine_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
        attackers: Vec<NewAttacker>,
    ) -> Result<StepOutput<Vec<NewAttacker>>>;
    /// Step 5: trust boundaries and assumptions for a model with assets, attackers and COs.
    fn generate_matrix(&self, description: &str, model: &ThreatModel)
    -> Result<StepOutput<Matrix>>;
    /// Step 6: controls mapped to the model's COs in mitigation groups.
    fn generate_controls(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewControl>>>;
    /// Classifies a conversation message (the model is `None` before one exists).
    fn classify_intent(&self, message: &str, model: Option<&ThreatModel>) -> Result<Intent>;
    /// Plans a refinement of `model` from an instruction.
    fn plan_refinement(
        &self,
        model: &ThreatModel,
        instruction: &str,
    ) -> Result<StepOutput<Refinement>>;
    /// Answers a question from the model's data.
    fn answer_query(
        &self,
        model: &ThreatModel,
        verification: &VerificationMap,
        question: &str,
    ) -> Result<StepOutput<String>>;
    /// Answers a methodology question.
    fn answer_general(&self, question: &str) -> Result<StepOutput<String>>;
}

/// Progress of a pipeline run, for SSE and the job registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PipelineEvent {
    /// A step begins (`index` is 1-based).
    StepStart {
        /// The step.
        step: Step,
        /// Position, 1-based.
        index: usize,
        /// Number of steps.
        total: usize,
    },
    /// A step finished.
    StepResult {
        /// The step.
        step: Step,
        /// Position, 1-based.
        index: usize,
        /// Number of steps.
        total: usize,
        /// Its thought text.
        thought: String,
    },
    /// A step failed; the run stops and nothing is returned.
    Error {
        /// The step.
        step: Step,
        /// Position, 1-based.
        index: usize,
        /// Number of steps.
        total: usize,
        /// The error message.
        message: String,
    },
    /// The run finished; the model is in the returned [`Generated`].
    Done {
        /// The model id.
        model_id: String,
    },
}

/// The thought text of one step, kept with the model for the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: Step,
    /// Its thought text.
    pub thought: String,
}

/// Result of [`generate_model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generated {
    /// The new model (version 1).
    pub model: ThreatModel,
    /// Thought text per step.
    pub steps: Vec<StepRecord>,
}

fn run_step<T>(
    step: Step,
    index: usize,
    on_event: &mut dyn FnMut(PipelineEvent),
    steps: &mut Vec<StepRecord>,
    f: impl FnOnce() -> Result<StepOutput<T>>,
) -> Result<T> {
    let total = Step::PIPELINE.len();
    on_event(PipelineEvent::StepStart { step, index, total });
    let out = match f() {
        Ok(out) => out,
        Err(e) => {
            on_event(PipelineEvent::Error {
                step,
                index,
                total,
                message: e.to_string(),
            });
            return Err(e);
        }
    };
    on_event(PipelineEvent::StepResult {
        step,
        index,
        total,
        thought: out.thought.clone(),
    });
    steps.push(StepRecord {
        step,
        thought: out.thought,
    });
    Ok(out.data)
}

/// Runs the full pipeline and builds a model with id `model_id`. On any error nothing is
/// returned (the caller saves nothing).
pub fn generate_model(
    engine: &dyn Engine,
    model_id: &str,
    description: &str,
    now: DateTime<Utc>,
    on_event: &mut dyn FnMut(PipelineEvent),
) -> Result<Generated> {
    crate::domain::validate_feature_description(description)?;
    let title = engine.suggest_title(description)?;
    let mut steps = Vec::new();
    let assets = run_step(Step::GenerateAssets, 1, on_event, &mut steps, || {
        engine.generate_assets(description)
    })?;
    let assets = run_step(Step::RefineAssets, 2, on_event, &mut steps, || {
        engine.refine_assets(description, assets)
    })?;
    let mut model = ThreatModel::new(model_id, title, description, assets, now)?;
    let attackers = run_step(Step::GenerateAttackers, 3, on_event, &mut steps, || {
        engine.generate_attackers(description, &model)
    })?;
    let attackers = run_step(Step::RefineAttackers, 4, on_event, &mut steps, || {
        engine.refine_attackers(description, &model, attackers)
    })?;
    model.add_attackers(attackers, now)?;
    let matrix = run_step(Step::GenerateMatrix, 5, on_event, &mut steps, || {
        engine.generate_matrix(description, &model)
    })?;
    apply_matrix(&mut model, matrix, now)?;
    let controls = run_step(Step::GenerateControls, 6, on_event, &mut steps, || {
        engine.generate_controls(description, &model)
    })?;
    model.set_controls(controls, now)?;
    model.version = 1;
    model.updated_at = now;
    on_event(PipelineEvent::Done {
        model_id: model.id.clone(),
    });
    Ok(Generated { model, steps })
}

fn apply_matrix(model: &mut ThreatModel, matrix: Matrix, now: DateTime<Utc>) -> Result<()> {
    model.set_trust_boundaries(matrix.trust_boundaries, "regenerated", now)?;
    let old: Vec<String> = model
        .assumptions
        .iter()
        .filter(|a| a.status == crate::domain::AssumptionStatus::Unconfirmed)
        .map(|a| a.id.clone())
        .collect();
    let kept_texts: Vec<String> = model.assumptions.iter().map(|a| a.text.clone()).collect();
    // Unreviewed assumptions that the engine no longer states go; reviewed ones stay.
    for id in old {
        let text = model
            .assumption(&id)
            .map(|a| a.text.clone())
            .unwrap_or_default();
        if !matrix.assumptions.iter().any(|n| n.text == text) {
            model.remove_assumption(&id, "no longer produced by generation", now)?;
        }
    }
    for a in matrix.assumptions {
        if !kept_texts.contains(&a.text) {
            model.add_assumption(a, now)?;
        }
    }
    Ok(())
}

/// Re-runs the control step on a model (keeps status/evidence of controls produced again).
pub fn regenerate_controls(
    engine: &dyn Engine,
    model: &mut ThreatModel,
    now: DateTime<Utc>,
) -> Result<(ControlsChange, String)> {
    let out = engine.generate_controls(&model.feature_description, model)?;
    let change = model.set_controls(out.data, now)?;
    Ok((change, out.thought))
}

/// Outcome of [`refine_model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refined {
    /// What each applied op did.
    pub applied: Vec<String>,
    /// Whether the fast targeted path was used.
    pub targeted: bool,
    /// Thought texts (plan, then matrix and controls if regenerated).
    pub steps: Vec<String>,
}

/// Plans and applies a refinement atomically: on error the model is unchanged.
pub fn refine_model(
    engine: &dyn Engine,
    model: &mut ThreatModel,
    instruction: &str,
    now: DateTime<Utc>,
) -> Result<Refined> {
    let plan = engine.plan_refinement(model, instruction)?;
    let mut work = model.clone();
    let mut steps = vec![plan.thought];
    let applied = work.apply_ops(&plan.data.ops, now)?;
    if plan.data.regenerate {
        let matrix = engine.generate_matrix(&work.feature_description, &work)?;
        steps.push(matrix.thought);
        apply_matrix(&mut work, matrix.data, now)?;
        let controls = engine.generate_controls(&work.feature_description, &work)?;
        steps.push(controls.thought);
        work.set_controls(controls.data, now)?;
    }
    *model = work;
    Ok(Refined {
        applied,
        targeted: plan.data.targeted,
        steps,
    })
}
