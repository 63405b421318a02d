//! The LLM engine beyond the pipeline: the model title, the intent of a conversation message,
//! refinement planning, query answers and methodology answers (issue 19: with
//! `llm.endpoint` set, every step uses the LLM).
//!
//! Same transport, cache, usage records and fair-use limit as the pipeline steps (templates
//! `suggest_title`, `classify_intent`, `plan_refinement`, `answer_query`,
//! `answer_general`). Every answer is one JSON object checked before use — a title is one
//! short line, an intent is one of the four and possible for the situation, a refinement's
//! operations must apply cleanly to a copy of the model, an answer may name only ids the
//! model has — and a malformed answer is retried once with the problem quoted.
//!
//! When the LLM still fails (unreachable, HTTP error, malformed twice) the built-in engine
//! answers instead, as the assurance judge falls back to its offline rules, and says so: the
//! refinement's thought and the text of query and methodology answers carry "answered by the
//! built-in engine: <why>"; a fallback title or intent is logged with its reason. The
//! fair-use limit is not a failure: it stays an error (HTTP 429), as for generation.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::llm::{ChatMessage, LlmEngine};
use super::{Engine, EngineError, Intent, Refinement, Result, StepOutput};
use crate::domain::{
    AssetPatch, AttackerPosition, Level, ModelOp, NewAsset, NewAttacker, SecurityProperty,
    ThreatModel, VerificationMap, assess_objective,
};

/// Longest title kept (the built-in engine's limit too).
const MAX_TITLE: usize = 60;
/// Longest answer kept from the LLM.
const MAX_ANSWER: usize = 8000;

/// Parses one JSON object out of an answer (tolerating fences or prose around it).
fn object(content: &str) -> std::result::Result<Value, String> {
    let json = match (content.find('{'), content.rfind('}')) {
        (Some(s), Some(e)) if e > s => &content[s..=e],
        _ => return Err("the answer contains no JSON object".into()),
    };
    let v: Value =
        serde_json::from_str(json).map_err(|e| format!("the answer is not valid JSON: {e}"))?;
    if !v.is_object() {
        return Err("the answer is not a JSON object".into());
    }
    Ok(v)
}

fn text_field(v: &Value, field: &str) -> std::result::Result<String, String> {
    match v.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::String(_)) => Err(format!("\"{field}\" is empty")),
        Some(_) => Err(format!("\"{field}\" must be a string")),
        None => Err(format!("the answer has no \"{field}\" field")),
    }
}

/// A title: one line, at most [`MAX_TITLE`] characters (cut at a word boundary).
pub(super) fn check_title(v: &Value) -> std::result::Result<String, String> {
    let t = text_field(v, "title")?;
    let t = t.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    if t.contains('\n') {
        return Err("\"title\" must be one line".into());
    }
    if t.chars().count() > 2 * MAX_TITLE {
        return Err(format!(
            "\"title\" is {} characters; at most {MAX_TITLE}",
            t.chars().count()
        ));
    }
    let mut out = String::new();
    for w in t.split_whitespace() {
        if !out.is_empty() && out.chars().count() + w.chars().count() + 1 > MAX_TITLE {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    if out.is_empty() {
        return Err("\"title\" is empty".into());
    }
    Ok(out.chars().take(MAX_TITLE).collect())
}

/// An intent that is possible: refining or querying needs a model.
pub(super) fn check_intent(v: &Value, has_model: bool) -> std::result::Result<Intent, String> {
    let name = text_field(v, "intent")?.to_ascii_lowercase();
    let intent = match name.as_str() {
        "generate" => Intent::Generate,
        "refine" => Intent::Refine,
        "query" => Intent::Query,
        "general" => Intent::General,
        other => {
            return Err(format!(
                "\"intent\" is {other:?}; expected generate, refine, query or general"
            ));
        }
    };
    if !has_model && matches!(intent, Intent::Refine | Intent::Query) {
        return Err(format!(
            "\"intent\" is {name:?} but there is no model yet; choose generate or general"
        ));
    }
    Ok(intent)
}

#[derive(Debug, Deserialize)]
struct PlanReply {
    #[serde(default)]
    thought: String,
    ops: Vec<ModelOp>,
    #[serde(default)]
    regenerate: bool,
}

/// A refinement plan whose operations apply cleanly to a copy of the model. No operations
/// is the LLM saying it found no change to make: an invalid instruction, with its reason.
pub(super) fn check_plan(
    v: Value,
    model: &ThreatModel,
) -> std::result::Result<std::result::Result<StepOutput<Refinement>, String>, String> {
    let reply: PlanReply = serde_json::from_value(v)
        .map_err(|e| format!("the answer does not match the shape: {e}"))?;
    if reply.ops.is_empty() {
        let why = if reply.thought.trim().is_empty() {
            "the instruction names no change to the model".to_string()
        } else {
            reply.thought.trim().to_string()
        };
        return Ok(Err(why));
    }
    let mut copy = model.clone();
    copy.apply_ops(&reply.ops, Utc::now())
        .map_err(|e| format!("the ops do not apply to the model: {e}"))?;
    let targeted = reply.ops.len() == 1 && !reply.regenerate;
    Ok(Ok(StepOutput {
        data: Refinement {
            ops: reply.ops,
            targeted,
            regenerate: reply.regenerate,
        },
        thought: if reply.thought.trim().is_empty() {
            "Planned by the LLM.".to_string()
        } else {
            reply.thought.trim().to_string()
        },
    }))
}

/// Ids the model has (assets, attackers, boundaries, objectives, assumptions, controls).
fn model_ids(model: &ThreatModel) -> std::collections::BTreeSet<&str> {
    model
        .assets
        .iter()
        .map(|a| a.id.as_str())
        .chain(model.attackers.iter().map(|a| a.id.as_str()))
        .chain(model.trust_boundaries.iter().map(|b| b.id.as_str()))
        .chain(model.control_objectives.iter().map(|c| c.id.as_str()))
        .chain(model.assumptions.iter().map(|a| a.id.as_str()))
        .chain(model.controls.iter().map(|c| c.id.as_str()))
        .collect()
}

/// An answer that names only ids the model has (no invented objectives or controls).
pub(super) fn check_answer(
    v: &Value,
    model: Option<&ThreatModel>,
) -> std::result::Result<StepOutput<String>, String> {
    let answer = text_field(v, "answer")?;
    if let Some(model) = model {
        let ids = model_ids(model);
        let re = regex::Regex::new(r"\b(?:ATK|CO|TB|AS|A)\d+\b|\bCTRL-\d+\b")
            .map_err(|e| e.to_string())?;
        if let Some(bad) = re
            .find_iter(&answer)
            .map(|m| m.as_str())
            .find(|id| !ids.contains(id))
        {
            return Err(format!(
                "the answer names {bad}, which is not in the model; use only the ids given"
            ));
        }
    }
    let thought = v
        .get("thought")
        .and_then(Value::as_str)
        .unwrap_or("Answered by the LLM.")
        .trim()
        .to_string();
    Ok(StepOutput {
        data: answer.chars().take(MAX_ANSWER).collect(),
        thought,
    })
}

/// What the LLM sees of a model: every entity with its id, and the state of each objective.
fn model_view(model: &ThreatModel, verification: Option<&VerificationMap>) -> Value {
    let controls: std::collections::BTreeMap<&str, &crate::domain::Control> =
        model.controls.iter().map(|c| (c.id.as_str(), c)).collect();
    let empty = VerificationMap::new();
    let ver = verification.unwrap_or(&empty);
    json!({
        "title": model.title,
        "description": model.feature_description,
        "assets": model.assets.iter().map(|a| json!({"id": a.id, "name": a.name, "description": a.description, "properties": a.properties, "impact": a.impact})).collect::<Vec<_>>(),
        "attackers": model.attackers.iter().map(|a| json!({"id": a.id, "name": a.name, "position": a.position, "likelihood": a.likelihood, "threatens": a.threatens, "targets": a.targets})).collect::<Vec<_>>(),
        "trust_boundaries": model.trust_boundaries.iter().map(|b| json!({"id": b.id, "name": b.name, "zones": b.zones, "assets": b.assets})).collect::<Vec<_>>(),
        "control_objectives": model.control_objectives.iter().map(|co| {
            let a = assess_objective(co, &controls, ver);
            json!({"id": co.id, "asset_id": co.asset_id, "attacker_id": co.attacker_id, "risk_tier": co.risk_tier, "statement": co.statement, "state": a.state, "verified": a.verified,
                   "mitigation_groups": co.mitigation_groups.iter().map(|g| g.controls.clone()).collect::<Vec<_>>()})
        }).collect::<Vec<_>>(),
        "controls": model.controls.iter().map(|c| json!({"id": c.id, "name": c.name, "status": c.status, "verification": ver.get(&c.id)})).collect::<Vec<_>>(),
        "assumptions": model.assumptions.iter().map(|a| json!({"id": a.id, "text": a.text, "status": a.status})).collect::<Vec<_>>(),
    })
}

/// The JSON shapes of refinement operations, rendered from real values so they cannot drift
/// from serde.
fn op_examples() -> Value {
    json!([
        ModelOp::AddAsset {
            asset: NewAsset {
                name: "Billing export".into(),
                description: "Nightly CSV export of invoices".into(),
                properties: [SecurityProperty::Confidentiality].into_iter().collect(),
                impact: Level::Medium,
                rationale: "instruction: \"add a billing export asset\"".into(),
                tags: Default::default(),
            }
        },
        ModelOp::EditAsset {
            id: "A1".into(),
            patch: AssetPatch {
                impact: Some(Level::Low),
                ..Default::default()
            }
        },
        ModelOp::RemoveAsset {
            id: "A3".into(),
            reason: "out of scope per the instruction".into()
        },
        ModelOp::AddAttacker {
            attacker: NewAttacker {
                name: "Rogue SRE".into(),
                description: "Site reliability engineer misusing production access".into(),
                capability: "Shell on production hosts".into(),
                position: AttackerPosition::Insider,
                archetype: "malicious-insider".into(),
                likelihood: Level::Low,
                threatens: [SecurityProperty::Integrity].into_iter().collect(),
                targets: None,
                rationale: "instruction: \"add a rogue SRE\"".into(),
                tags: Default::default(),
            }
        },
        ModelOp::RemoveAttacker {
            id: "ATK2".into(),
            reason: "not plausible".into()
        },
        ModelOp::Rename {
            title: "Payments API".into()
        },
    ])
}

fn messages(system: String, input: &Value) -> Vec<ChatMessage> {
    vec![
        ChatMessage {
            role: "system",
            content: system,
        },
        ChatMessage {
            role: "user",
            content: serde_json::to_string_pretty(input).unwrap_or_default(),
        },
    ]
}

fn system(template: &str, task: &str, shape: &Value, rules: &str) -> String {
    format!(
        "You are the threat-modeling assistant of rampart, a security-assurance appliance. rampart step {template}: {task}\n\
         Answer with ONE JSON object and nothing else (no prose, no markdown fences), of exactly this shape:\n{shape}\n{rules}"
    )
}

impl LlmEngine {
    /// One checked conversational call: the outer error is the transport's, a second
    /// malformed answer becomes [`EngineError::Unavailable`] naming the last problem.
    fn converse_call<V>(
        &self,
        template: &'static str,
        system: String,
        input: &Value,
        check: impl Fn(Value) -> std::result::Result<V, String>,
    ) -> Result<V> {
        match self.answer_checked(template, messages(system, input), |content| {
            object(content).and_then(&check)
        })? {
            Ok(v) => Ok(v),
            Err(last) => Err(EngineError::Unavailable(format!(
                "the LLM returned a malformed {template} answer twice ({last})"
            ))),
        }
    }

    /// The built-in engine answers when the LLM call failed (not when the user's fair-use
    /// limit is reached); `note` attaches the reason to the answer.
    fn or_builtin<T>(
        &self,
        what: &str,
        llm: Result<T>,
        builtin: impl FnOnce(&super::BuiltinEngine) -> Result<T>,
        note: impl FnOnce(T, &str) -> T,
    ) -> Result<T> {
        match llm {
            Ok(v) => Ok(v),
            Err(e @ EngineError::RateLimited(_)) => Err(e),
            Err(e @ EngineError::CreditsExhausted(_)) => Err(e),
            Err(e @ EngineError::InvalidInput(_)) => Err(e),
            Err(e) => {
                let why = format!("{} failed for {what}: {e}", self.name());
                tracing::warn!(engine = %self.name(), step = what, error = %e, "LLM call failed; the built-in engine answers");
                let v = builtin(self.fallback())?;
                Ok(note(v, &why))
            }
        }
    }

    fn llm_title(&self, description: &str) -> Result<String> {
        self.converse_call(
            "suggest_title",
            system(
                "suggest_title",
                "give the threat model of this feature description a short title.",
                &json!({"title": "Card checkout with Stripe webhooks"}),
                "The title names the feature (not \"Threat model\"), at most 60 characters, one line, in the description's language.",
            ),
            &json!({"description": description}),
            |v| check_title(&v),
        )
    }

    fn llm_intent(&self, message: &str, model: Option<&ThreatModel>) -> Result<Intent> {
        let input = match model {
            Some(m) => json!({
                "message": message,
                "model": {"title": m.title, "assets": m.assets.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
                          "attackers": m.attackers.iter().map(|a| json!({"id": a.id, "name": a.name})).collect::<Vec<_>>(),
                          "controls": m.controls.len(), "control_objectives": m.control_objectives.len()}
            }),
            None => json!({"message": message, "model": null}),
        };
        self.converse_call(
            "classify_intent",
            system(
                "classify_intent",
                "classify what a message of the conversation panel asks for.",
                &json!({"intent": "refine"}),
                "\"generate\": describes a new feature or system to model from scratch. \
                 \"refine\": asks to change the current model (add, remove, edit, rename assets, attackers, controls or assumptions). \
                 \"query\": asks about the current model's content or assurance state. \
                 \"general\": asks about threat-modeling methodology or terms, not this model. \
                 With \"model\": null only \"generate\" and \"general\" are possible.",
            ),
            &input,
            |v| check_intent(&v, model.is_some()),
        )
    }

    fn llm_plan(&self, model: &ThreatModel, instruction: &str) -> Result<StepOutput<Refinement>> {
        let shape = json!({"thought": "what will change and why", "ops": op_examples(), "regenerate": false});
        let outcome = self.converse_call(
            "plan_refinement",
            system(
                "plan_refinement",
                "turn an instruction into operations on the threat model.",
                &shape,
                "\"ops\" are applied in order, atomically; use only the operation kinds shown (op: add_asset, edit_asset, remove_asset, add_attacker, edit_attacker, remove_attacker, add_assumption, rename) and only ids present in the model. \
                 Security properties are \"C\", \"I\", \"A\" or \"U\"; levels \"high\", \"medium\" or \"low\"; positions \"external\", \"adjacent\", \"internal\", \"insider\", \"supply_chain\" or \"physical\". \
                 \"regenerate\": true when the change is broad enough that trust boundaries, assumptions and controls must be derived again. \
                 If the instruction names no change to make, answer with \"ops\": [] and say why in \"thought\".",
            ),
            &json!({"instruction": instruction, "model": model_view(model, None)}),
            |v| check_plan(v, model),
        )?;
        outcome.map_err(|why| {
            EngineError::InvalidInput(format!("no change planned for that instruction: {why}"))
        })
    }

    fn llm_query(
        &self,
        model: &ThreatModel,
        verification: &VerificationMap,
        question: &str,
    ) -> Result<StepOutput<String>> {
        self.converse_call(
            "answer_query",
            system(
                "answer_query",
                "answer a question about this threat model from its data only.",
                &json!({"thought": "which entities answer it", "answer": "CO3 (A1 × ATK2, critical) is at risk: CTRL-04 is not implemented."}),
                "Answer from the model given, citing ids (A1, ATK2, CO3, CTRL-04…) exactly as they appear; never invent entities, states or numbers. Say so when the model does not contain the answer.",
            ),
            &json!({"question": question, "model": model_view(model, Some(verification))}),
            |v| check_answer(&v, Some(model)),
        )
    }

    fn llm_general(&self, question: &str) -> Result<StepOutput<String>> {
        self.converse_call(
            "answer_general",
            system(
                "answer_general",
                "answer a threat-modeling methodology question.",
                &json!({"thought": "…", "answer": "A trust boundary is …"}),
                "Answer in a few sentences for a security engineer, in rampart's terms: assets with security properties (C, I, A, U), attackers with positions and likelihood, control objectives (asset × attacker), mitigation groups of controls (controls in one group are all required; groups are alternatives), trust boundaries and assumptions.",
            ),
            &json!({"question": question}),
            |v| check_answer(&v, None),
        )
    }

    /// Title from the LLM, else the built-in engine's (logged).
    pub(super) fn title_or_builtin(&self, description: &str) -> Result<String> {
        self.or_builtin(
            "the title",
            self.llm_title(description),
            |b| b.suggest_title(description),
            |t, _| t,
        )
    }

    /// Intent from the LLM, else the built-in engine's (logged).
    pub(super) fn intent_or_builtin(
        &self,
        message: &str,
        model: Option<&ThreatModel>,
    ) -> Result<Intent> {
        self.or_builtin(
            "intent classification",
            self.llm_intent(message, model),
            |b| b.classify_intent(message, model),
            |i, _| i,
        )
    }

    /// Refinement plan from the LLM, else the built-in engine's (its thought says why).
    pub(super) fn plan_or_builtin(
        &self,
        model: &ThreatModel,
        instruction: &str,
    ) -> Result<StepOutput<Refinement>> {
        self.or_builtin(
            "refinement planning",
            self.llm_plan(model, instruction),
            |b| b.plan_refinement(model, instruction),
            |mut out, why| {
                out.thought = format!("{} (planned by the built-in engine: {why})", out.thought);
                out
            },
        )
    }

    /// Query answer from the LLM, else the built-in engine's (its text says why).
    pub(super) fn query_or_builtin(
        &self,
        model: &ThreatModel,
        verification: &VerificationMap,
        question: &str,
    ) -> Result<StepOutput<String>> {
        self.or_builtin(
            "the query answer",
            self.llm_query(model, verification, question),
            |b| b.answer_query(model, verification, question),
            attribute_answer,
        )
    }

    /// Methodology answer from the LLM, else the built-in engine's (its text says why).
    pub(super) fn general_or_builtin(&self, question: &str) -> Result<StepOutput<String>> {
        self.or_builtin(
            "the methodology answer",
            self.llm_general(question),
            |b| b.answer_general(question),
            attribute_answer,
        )
    }
}

fn attribute_answer(mut out: StepOutput<String>, why: &str) -> StepOutput<String> {
    out.data = format!("{}\n\n(Answered by the built-in engine: {why}.)", out.data);
    out.thought = format!("{} (built-in engine: {why})", out.thought);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_intents_are_checked() {
        assert_eq!(
            check_title(&json!({"title": "  \"Card checkout\" "})).as_deref(),
            Ok("Card checkout")
        );
        assert!(check_title(&json!({"title": ""})).is_err());
        assert!(check_title(&json!({"title": "a\nb"})).is_err());
        assert!(check_title(&json!({"name": "x"})).is_err());
        let long = "word ".repeat(20);
        let t = check_title(&json!({ "title": long })).expect("cut");
        assert!(t.chars().count() <= MAX_TITLE, "{t}");
        assert_eq!(
            check_intent(&json!({"intent": "Query"}), true),
            Ok(Intent::Query)
        );
        assert!(check_intent(&json!({"intent": "refine"}), false).is_err());
        assert!(check_intent(&json!({"intent": "delete"}), true).is_err());
        assert!(object("Sure! {\"intent\": \"general\"} hope it helps").is_ok());
        assert!(object("[1, 2]").is_err());
    }
}
