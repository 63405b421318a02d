//! Mappings beyond the catalog crosswalks: with an LLM configured, `auto_map` asks it which
//! requirements the controls the crosswalk could not place serve. The offline crosswalk
//! stays the base; the LLM only adds rows, each stored with `source = llm`,
//! `mapped_by = llm:<model>` and the LLM's reason, so an auditor sees which links a person
//! or the catalog vouches for and which a model proposed (and can remove them; removed ones
//! are never proposed again).
//!
//! The trait keeps the compliance service independent of the engine; the LLM engine
//! implements it (`src/engine/llm_compliance.rs`).

use serde::Serialize;

/// A control as the mapper sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ControlBrief {
    /// `CTRL-07`.
    pub id: String,
    /// Name.
    pub name: String,
    /// What it demands.
    pub description: String,
}

/// A requirement the mapper may choose (id and rampart's short title, never the text).
#[derive(Debug, Clone, Serialize)]
pub struct RequirementBrief {
    /// Requirement id (`A.8.24`).
    pub id: String,
    /// Short title.
    pub title: String,
}

/// One proposed link, already checked against the ids offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// One of the offered control ids.
    pub control_id: String,
    /// One of the offered requirement ids (canonical spelling).
    pub requirement_id: String,
    /// Why the control serves the requirement.
    pub reason: String,
}

/// Proposes control ↔ requirement mappings. Implementations may do I/O; an error is a
/// message for the auto-map summary (the catalog mappings are made regardless).
pub trait RequirementMapper: Send + Sync {
    /// Stored as `mapped_by`: `llm:<model>`.
    fn mapper_name(&self) -> String;

    /// Which of `requirements` of `framework` (its display name) each of `controls` serves.
    /// Every proposal names an offered control and requirement.
    fn propose(
        &self,
        framework: &str,
        controls: &[ControlBrief],
        requirements: &[RequirementBrief],
    ) -> Result<Vec<Proposal>, String>;

    /// Whether the caller's credits can pay for a mapping operation (the LLM mapper
    /// checks; others are free).
    fn check_credits(&self, _user_id: &str, _org_id: Option<&str>) -> Result<(), String> {
        Ok(())
    }
}

/// Most controls sent in one question (the rest wait for the next auto-map run).
pub const MAX_CONTROLS_PER_QUESTION: usize = 40;

/// Most requirements one control may be mapped to by one answer.
pub const MAX_PER_CONTROL: usize = 5;

/// Checks an answer against what was offered: known ids (case-insensitive, returned in
/// their canonical spelling), a non-empty reason (trimmed to 1000 characters), at most
/// [`MAX_PER_CONTROL`] per control, no duplicates. Any bad item rejects the answer, so the
/// caller can ask again quoting the error.
pub fn check_answer(
    raw: &[(String, String, String)],
    controls: &[ControlBrief],
    requirements: &[RequirementBrief],
) -> Result<Vec<Proposal>, String> {
    let mut out: Vec<Proposal> = Vec::new();
    for (i, (c, r, why)) in raw.iter().enumerate() {
        let control = controls
            .iter()
            .find(|k| k.id.eq_ignore_ascii_case(c.trim()))
            .ok_or_else(|| format!("mappings[{i}].control_id {c:?} is not one of the controls"))?;
        let req = requirements
            .iter()
            .find(|k| k.id.eq_ignore_ascii_case(r.trim()))
            .ok_or_else(|| {
                format!("mappings[{i}].requirement_id {r:?} is not one of the requirements")
            })?;
        let why = why.trim();
        if why.is_empty() {
            return Err(format!("mappings[{i}].reason is empty"));
        }
        if out
            .iter()
            .any(|p| p.control_id == control.id && p.requirement_id == req.id)
        {
            continue;
        }
        if out.iter().filter(|p| p.control_id == control.id).count() >= MAX_PER_CONTROL {
            return Err(format!(
                "{} has more than {MAX_PER_CONTROL} requirements; keep the strongest",
                control.id
            ));
        }
        out.push(Proposal {
            control_id: control.id.clone(),
            requirement_id: req.id.clone(),
            reason: why
                .chars()
                .filter(|ch| !ch.is_control())
                .take(super::MAX_REASON_CHARS)
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief() -> (Vec<ControlBrief>, Vec<RequirementBrief>) {
        (
            vec![ControlBrief {
                id: "CTRL-07".into(),
                name: "Rate limits".into(),
                description: "Per-client quotas".into(),
            }],
            vec![RequirementBrief {
                id: "A.8.6".into(),
                title: "Capacity managed".into(),
            }],
        )
    }

    #[test]
    fn answers_are_checked_against_the_offered_ids() {
        let (c, r) = brief();
        let ok = check_answer(
            &[(
                "ctrl-07".into(),
                "a.8.6".into(),
                " quotas bound use ".into(),
            )],
            &c,
            &r,
        )
        .expect("valid");
        assert_eq!(
            ok,
            vec![Proposal {
                control_id: "CTRL-07".into(),
                requirement_id: "A.8.6".into(),
                reason: "quotas bound use".into()
            }]
        );
        let e = check_answer(&[("CTRL-07".into(), "A.9.9".into(), "x".into())], &c, &r)
            .expect_err("unknown requirement");
        assert!(e.contains("A.9.9"), "{e}");
        let e = check_answer(&[("CTRL-99".into(), "A.8.6".into(), "x".into())], &c, &r)
            .expect_err("unknown control");
        assert!(e.contains("CTRL-99"), "{e}");
        let e = check_answer(&[("CTRL-07".into(), "A.8.6".into(), "  ".into())], &c, &r)
            .expect_err("no reason");
        assert!(e.contains("reason"), "{e}");
    }
}
