//! Who judges evidence: whether an assertion is coherent with its control and whether a
//! control's coherent assertions are sufficient together (spec/03).
//!
//! Offline, the deterministic [`rules`](super::rules) judge. With an LLM configured, the LLM
//! engine implements [`EvidenceJudge`] and is asked first; when it cannot answer (endpoint
//! down, fair-use limit, malformed answer twice) the assurance service falls back to the rules
//! and says so in the reason and in the submission's warnings, so a verdict is never missing
//! and never silently attributed to the wrong judge. Which judge decided is stored with every
//! verdict (`coherence_by`, `evaluated_by`).

use serde_json::Value;

use super::rules::{self, Sufficiency};

/// One assertion as a judge sees it.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    /// Assertion type, e.g. `function_exists`.
    pub kind: &'a str,
    /// Its parameters.
    pub params: &'a Value,
    /// What the submitter says it proves.
    pub description: &'a str,
}

/// A coherence verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coherence {
    /// The assertion can prove (part of) the control.
    pub coherent: bool,
    /// Why, in words a reviewer can check.
    pub reason: String,
}

/// Judges evidence. Implementations may do I/O (the LLM); errors are messages for the
/// fallback note, never shown as a verdict.
pub trait EvidenceJudge: Send + Sync {
    /// Stored with each verdict: `rules` or `llm:<model>`.
    fn judge_name(&self) -> String;

    /// Is `evidence` a reasonable way to prove the control described by `control_text`?
    fn coherence(&self, control_text: &str, evidence: &Evidence<'_>) -> Result<Coherence, String>;

    /// Do the (coherent, non-empty) `evidence` items together prove the whole control?
    fn sufficiency(
        &self,
        control_text: &str,
        evidence: &[Evidence<'_>],
    ) -> Result<Sufficiency, String>;
}

/// The offline judge: the deterministic rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules;

impl EvidenceJudge for Rules {
    fn judge_name(&self) -> String {
        "rules".into()
    }

    fn coherence(&self, control_text: &str, evidence: &Evidence<'_>) -> Result<Coherence, String> {
        let (coherent, reason) = rules::coherence(evidence.kind, control_text);
        Ok(Coherence { coherent, reason })
    }

    fn sufficiency(
        &self,
        control_text: &str,
        evidence: &[Evidence<'_>],
    ) -> Result<Sufficiency, String> {
        let stated: Vec<(&str, &str)> = evidence.iter().map(|e| (e.kind, e.description)).collect();
        Ok(rules::sufficiency(control_text, &stated))
    }
}

/// A verdict with the name of the judge that gave it and, when the configured judge could not
/// answer, why the rules were used instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged<T> {
    /// The verdict.
    pub verdict: T,
    /// `rules` or `llm:<model>`.
    pub by: String,
    /// Set when the configured judge failed and the rules answered.
    pub fallback: Option<String>,
}

/// Asks `judge` (when configured), falling back to the rules on error.
pub fn coherence(
    judge: Option<&dyn EvidenceJudge>,
    control_text: &str,
    evidence: &Evidence<'_>,
) -> Judged<Coherence> {
    ask(
        judge,
        |j| j.coherence(control_text, evidence),
        |fallback| {
            let mut verdict =
                Rules
                    .coherence(control_text, evidence)
                    .unwrap_or_else(|e| Coherence {
                        coherent: false,
                        reason: e,
                    });
            if let Some(why) = fallback {
                verdict.reason = format!("{} (offline rules; {why})", verdict.reason);
            }
            verdict
        },
    )
}

/// Sufficiency of a control's coherent assertions; no assertions is `pending` without asking
/// anyone.
pub fn sufficiency(
    judge: Option<&dyn EvidenceJudge>,
    control_text: &str,
    evidence: &[Evidence<'_>],
) -> Judged<Sufficiency> {
    if evidence.is_empty() {
        return Judged {
            verdict: rules::sufficiency(control_text, &[]),
            by: Rules.judge_name(),
            fallback: None,
        };
    }
    ask(
        judge,
        |j| j.sufficiency(control_text, evidence),
        |fallback| {
            let mut verdict = Rules
                .sufficiency(control_text, evidence)
                .unwrap_or_else(|e| Sufficiency {
                    status: "insufficient",
                    details: e,
                });
            if let Some(why) = fallback {
                verdict.details = format!("{} (offline rules; {why})", verdict.details);
            }
            verdict
        },
    )
}

fn ask<T>(
    judge: Option<&dyn EvidenceJudge>,
    with: impl FnOnce(&dyn EvidenceJudge) -> Result<T, String>,
    rules: impl FnOnce(Option<&str>) -> T,
) -> Judged<T> {
    let Some(judge) = judge else {
        return Judged {
            verdict: rules(None),
            by: Rules.judge_name(),
            fallback: None,
        };
    };
    match with(judge) {
        Ok(verdict) => Judged {
            verdict,
            by: judge.judge_name(),
            fallback: None,
        },
        Err(e) => {
            let why = format!("{} unavailable: {e}", judge.judge_name());
            tracing::warn!(judge = %judge.judge_name(), error = %e, "evidence judge failed; using the offline rules");
            Judged {
                verdict: rules(Some(&why)),
                by: Rules.judge_name(),
                fallback: Some(why),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fixed(Result<bool, String>);

    impl EvidenceJudge for Fixed {
        fn judge_name(&self) -> String {
            "llm:test".into()
        }
        fn coherence(&self, _: &str, _: &Evidence<'_>) -> Result<Coherence, String> {
            self.0.clone().map(|coherent| Coherence {
                coherent,
                reason: "judged".into(),
            })
        }
        fn sufficiency(&self, _: &str, _: &[Evidence<'_>]) -> Result<Sufficiency, String> {
            self.0.clone().map(|ok| Sufficiency {
                status: if ok { "sufficient" } else { "insufficient" },
                details: "judged".into(),
            })
        }
    }

    const CONTROL: &str = "Input validation. Validate all request parameters against a schema";

    fn hash() -> (Value, &'static str) {
        (json!({"file": "a.py", "sha256": "00"}), "pins the file")
    }

    #[test]
    fn without_a_judge_the_rules_decide() {
        let (params, description) = hash();
        let e = Evidence {
            kind: "file_hash",
            params: &params,
            description,
        };
        let j = coherence(None, CONTROL, &e);
        assert_eq!(j.by, "rules");
        assert!(
            !j.verdict.coherent,
            "file_hash cannot prove input validation"
        );
        assert!(j.fallback.is_none());
    }

    #[test]
    fn a_configured_judge_overrides_the_rules() {
        let (params, description) = hash();
        let e = Evidence {
            kind: "file_hash",
            params: &params,
            description,
        };
        let judge = Fixed(Ok(true));
        let j = coherence(Some(&judge), CONTROL, &e);
        assert_eq!(j.by, "llm:test");
        assert!(j.verdict.coherent);
        let s = sufficiency(Some(&judge), CONTROL, &[e]);
        assert_eq!(
            (s.verdict.status, s.by.as_str()),
            ("sufficient", "llm:test")
        );
    }

    #[test]
    fn a_failing_judge_falls_back_to_the_rules_and_says_so() {
        let (params, description) = hash();
        let e = Evidence {
            kind: "file_hash",
            params: &params,
            description,
        };
        let judge = Fixed(Err("connection refused".into()));
        let j = coherence(Some(&judge), CONTROL, &e);
        assert_eq!(j.by, "rules");
        assert!(!j.verdict.coherent);
        assert!(
            j.verdict
                .reason
                .contains("llm:test unavailable: connection refused")
        );
        let s = sufficiency(Some(&judge), CONTROL, &[e]);
        assert_eq!(s.by, "rules");
        assert!(s.fallback.is_some());
        assert!(s.verdict.details.contains("offline rules"));
    }

    #[test]
    fn no_evidence_is_pending_without_asking() {
        let judge = Fixed(Err("must not be asked".into()));
        let s = sufficiency(Some(&judge), CONTROL, &[]);
        assert_eq!(s.verdict.status, "pending");
        assert!(s.fallback.is_none());
    }
}
