//! The LLM as the evidence judge of the assurance service (spec/03: "with an LLM
//! configured, the LLM evaluation"): coherence of one assertion with its control and
//! sufficiency of a control's assertions together.
//!
//! Same transport, cache, usage records and fair-use limit as the pipeline steps (templates
//! `judge_coherence` and `judge_sufficiency`). The answer must be one JSON object of the
//! documented shape with a non-empty reason; a malformed answer is retried once with the
//! error quoted, and a second failure is an error the assurance service turns into its
//! offline-rules fallback (see [`crate::assurance::judge`]). Only validated answers are
//! cached.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::Engine;
use super::llm::{ChatMessage, LlmEngine};
use crate::assurance::judge::{Coherence, Evidence, EvidenceJudge};
use crate::assurance::rules::Sufficiency;
use crate::assurance::types;

/// Longest reason kept from an answer; verdicts are shown in tables and reports.
const MAX_REASON: usize = 1000;

const COHERENCE_SYSTEM: &str = "You are the evidence reviewer of rampart, a security-assurance appliance. \
Decide whether ONE assertion is a coherent way to prove that ONE security control is implemented. \
An assertion is coherent when what its type checks (with these parameters) would show the mechanism or behaviour the control demands, \
or a clearly identified part of it. It is incoherent when it checks something unrelated or merely nearby \
(for example a file hash pins content but does not prove input validation; a dependency being present does not prove it is used). \
Judge the assertion, not the code: you do not see the repository. \
Answer with ONE JSON object and nothing else, of exactly this shape: \
{\"coherent\": true or false, \"reason\": \"one or two sentences a security reviewer can check\"}";

const SUFFICIENCY_SYSTEM: &str = "You are the evidence reviewer of rampart, a security-assurance appliance. \
Decide whether the assertions listed, taken together and assuming each of them passes, are sufficient to show that the security control is implemented: \
every facet the control's text demands must be covered by at least one assertion, and a control that demands behaviour needs evidence of behaviour (tests), not only of structure. \
Answer with ONE JSON object and nothing else, of exactly this shape: \
{\"sufficient\": true or false, \"missing\": [\"each facet of the control no assertion covers\"], \"reason\": \"one or two sentences\"}";

#[derive(Debug, Deserialize)]
struct CoherenceReply {
    coherent: bool,
    reason: String,
}

#[derive(Debug, Deserialize)]
struct SufficiencyReply {
    sufficient: bool,
    #[serde(default)]
    missing: Vec<String>,
    reason: String,
}

fn evidence_json(e: &Evidence<'_>) -> Value {
    json!({
        "type": e.kind,
        "what_the_type_checks": types::lookup(e.kind).map(|t| t.claims).unwrap_or_default(),
        "params": e.params,
        "description": e.description,
    })
}

/// Parses one JSON object out of an answer (tolerating fences or prose around it).
pub(super) fn parse<T: DeserializeOwned>(content: &str) -> Result<T, String> {
    let json = match (content.find('{'), content.rfind('}')) {
        (Some(s), Some(e)) if e > s => &content[s..=e],
        _ => return Err("the answer contains no JSON object".into()),
    };
    serde_json::from_str(json).map_err(|e| format!("the answer does not match the shape: {e}"))
}

fn reason(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("\"reason\" is empty".into());
    }
    Ok(text.chars().take(MAX_REASON).collect())
}

impl LlmEngine {
    /// Asks one judge question (see [`LlmEngine::answer_checked`] for retry and caching);
    /// also the compliance mapper's question (`llm_compliance`).
    pub(super) fn judge<T: DeserializeOwned, V>(
        &self,
        template: &'static str,
        system: &str,
        input: Value,
        check: impl Fn(T) -> Result<V, String>,
    ) -> Result<V, String> {
        let messages = vec![
            ChatMessage {
                role: "system",
                content: system.to_string(),
            },
            ChatMessage {
                role: "user",
                content: serde_json::to_string_pretty(&input).unwrap_or_default(),
            },
        ];
        self.answer_checked(template, messages, |content| {
            parse::<T>(content).and_then(&check)
        })
        .map_err(|e| e.to_string())?
        .map_err(|last| format!("the LLM returned malformed verdicts twice ({last})"))
    }
}

impl EvidenceJudge for LlmEngine {
    fn judge_name(&self) -> String {
        self.name().to_string()
    }

    fn coherence(&self, control_text: &str, evidence: &Evidence<'_>) -> Result<Coherence, String> {
        self.judge(
            "judge_coherence",
            COHERENCE_SYSTEM,
            json!({"control": control_text, "assertion": evidence_json(evidence)}),
            |r: CoherenceReply| {
                Ok(Coherence {
                    coherent: r.coherent,
                    reason: reason(&r.reason)?,
                })
            },
        )
    }

    fn sufficiency(
        &self,
        control_text: &str,
        evidence: &[Evidence<'_>],
    ) -> Result<Sufficiency, String> {
        self.judge(
            "judge_sufficiency",
            SUFFICIENCY_SYSTEM,
            json!({
                "control": control_text,
                "assertions": evidence.iter().map(evidence_json).collect::<Vec<_>>(),
            }),
            |r: SufficiencyReply| {
                let why = reason(&r.reason)?;
                let missing: Vec<&str> = r
                    .missing
                    .iter()
                    .map(|m| m.trim())
                    .filter(|m| !m.is_empty())
                    .collect();
                if r.sufficient {
                    Ok(Sufficiency {
                        status: "sufficient",
                        details: why,
                    })
                } else {
                    let details = if missing.is_empty() {
                        why
                    } else {
                        format!("{why} Missing: {}.", missing.join("; "))
                    };
                    Ok(Sufficiency {
                        status: "insufficient",
                        details: details.chars().take(MAX_REASON * 2).collect(),
                    })
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_and_checked() {
        let r: CoherenceReply =
            parse("```json\n{\"coherent\": false, \"reason\": \"a hash is not validation\"}\n```")
                .expect("parses");
        assert!(!r.coherent);
        assert!(parse::<CoherenceReply>("I think it is fine").is_err());
        assert!(parse::<CoherenceReply>("{\"coherent\": \"yes\", \"reason\": \"x\"}").is_err());
        assert!(reason("  ").is_err());
        assert_eq!(reason(&"x".repeat(5000)).map(|r| r.len()), Ok(MAX_REASON));
        let s: SufficiencyReply = parse("{\"sufficient\": false, \"reason\": \"r\"}").expect("ok");
        assert!(s.missing.is_empty());
    }
}
