//! Generation of new models as jobs: the engine's pipeline runs on a worker thread, each step
//! is reported to the job registry (and from there to SSE and pollers), and only a complete
//! model is saved — a failing step saves nothing.

use std::sync::Arc;

use chrono::Utc;
use serde_json::json;

use super::{Error, ModelService, Origin, Result, StoredModel};
use crate::auth::Caller;
use crate::credits::{self, Operation};
use crate::engine::{self, Engine, PipelineEvent};
use crate::jobs::{Handle, Registry};

/// Number of events a generation job reports: the six pipeline steps.
const STEPS: u32 = 6;

impl ModelService {
    /// Starts generating a model from a description and returns the job at once. Bad input
    /// (empty or oversize description, verifier key) is refused before any job exists.
    pub fn start_generation(
        &self,
        caller: &Caller,
        jobs: &Registry,
        engine: Arc<dyn Engine>,
        description: &str,
        origin: impl Into<Origin>,
    ) -> Result<Handle> {
        let origin = origin.into();
        caller.require_write()?;
        crate::domain::validate_feature_description(description)?;
        // Credits are checked before the job exists: a refusal leaves nothing behind.
        engine.check_credits(
            &caller.user_id,
            caller.org_id.as_deref(),
            Operation::Generation,
        )?;
        let job = jobs.create("generate_threat_model", &caller.workspace_id, STEPS)?;
        let svc = self.clone();
        let caller = caller.clone();
        let description = description.to_string();
        let handle = job.clone();
        std::thread::Builder::new()
            .name(format!("gen-{}", job.id()))
            .spawn(move || {
                // The outcome is reported through the job handle.
                let _ = svc.generate(&caller, engine.as_ref(), &description, origin, &handle);
            })
            .map_err(|e| Error::Engine(format!("cannot start generation: {e}")))?;
        Ok(job)
    }

    /// Runs the whole pipeline now, reporting to `job`, and saves the model.
    pub fn generate(
        &self,
        caller: &Caller,
        engine: &dyn Engine,
        description: &str,
        origin: impl Into<Origin>,
        job: &Handle,
    ) -> Result<StoredModel> {
        let origin = origin.into();
        caller.require_write()?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut on_event = |event: PipelineEvent| match event {
            PipelineEvent::StepStart { step, index, .. } => {
                job.step(u32::try_from(index).unwrap_or(0), step.label());
            }
            PipelineEvent::StepResult {
                step,
                index,
                thought,
                ..
            } => {
                let summary = thought.lines().next().unwrap_or_default().to_string();
                job.step_result(
                    u32::try_from(index).unwrap_or(0),
                    step.label(),
                    &summary,
                    &thought,
                    serde_json::Value::Null,
                );
            }
            // The job ends only once the model is saved (or the failure is reported) below.
            PipelineEvent::Error { .. } | PipelineEvent::Done { .. } => {}
        };
        let mut run = || {
            credits::metered(
                Operation::Generation,
                &caller.user_id,
                caller.org_id.as_deref(),
                || {
                    // Inside the metered operation the check reserves the cost atomically.
                    engine.check_credits(
                        &caller.user_id,
                        caller.org_id.as_deref(),
                        Operation::Generation,
                    )?;
                    engine::with_tenant(
                        &caller.user_id,
                        &caller.workspace_id,
                        &caller.tenant,
                        || {
                            engine::generate_model(
                                engine,
                                &id,
                                description,
                                Utc::now(),
                                &mut on_event,
                            )
                        },
                    )
                },
            )
        };
        let generated = match run() {
            Ok(g) => g,
            Err(engine::EngineError::RateLimited(m)) => {
                job.fail(&m);
                return Err(Error::RateLimited(m));
            }
            Err(engine::EngineError::CreditsExhausted(x)) => {
                job.fail(&x.to_string());
                return Err(Error::CreditsExhausted(x));
            }
            Err(e) => {
                let message = format!("generation failed: {e}");
                job.fail(&message);
                return Err(Error::Engine(message));
            }
        };
        let model = generated.model;
        let summary = format!(
            "generated \"{}\": {} assets, {} attackers, {} control objectives, {} controls",
            model.title,
            model.assets.len(),
            model.attackers.len(),
            model.control_objectives.len(),
            model.controls.len()
        );
        // The thought process is saved with the model (one write); it is bookkeeping, so a
        // failure to encode it saves the model without it, as before.
        let steps = serde_json::to_string(&generated.steps).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "saving the thought process failed");
            "[]".into()
        });
        let stored = match self.create_with_steps(caller, model, origin, &summary, &steps) {
            Ok(s) => s,
            Err(e) => {
                job.fail(
                    "generation finished but the model could not be saved; see the server log",
                );
                tracing::error!(error = %e, "saving a generated model failed");
                return Err(e);
            }
        };
        job.complete(json!({
            "model_id": stored.model.id,
            "title": stored.model.title,
            "assets": stored.model.assets.len(),
            "attackers": stored.model.attackers.len(),
            "trust_boundaries": stored.model.trust_boundaries.len(),
            "control_objectives": stored.model.control_objectives.len(),
            "controls": stored.model.controls.len(),
        }));
        Ok(stored)
    }

    /// The thought process of a model's generation, per step.
    pub fn generation_steps(&self, caller: &Caller, id: &str) -> Result<serde_json::Value> {
        let conn = caller.tenant.conn()?;
        super::load(&conn, &caller.workspace_id, id)?;
        let json: String = conn.query_row(
            "SELECT generation_steps FROM models WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        serde_json::from_str(&json).map_err(|e| Error::Engine(e.to_string()))
    }
}
