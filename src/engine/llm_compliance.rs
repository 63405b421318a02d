//! The LLM as the compliance mapper (issue 16: "with an LLM configured, the LLM may add
//! mappings, each marked with who mapped it and why"): given the controls the offline
//! crosswalk could not place in a framework and the framework's applicable requirements
//! (ids and rampart's short titles), which requirements does each control serve?
//!
//! Same transport, cache, usage records and fair-use limit as the other LLM questions
//! (template `compliance_map`). The answer must name only offered ids and give a reason for
//! each link; otherwise it is asked again once with the error quoted, then the auto-map
//! summary reports the failure and only the catalog mappings are made.

use serde::Deserialize;
use serde_json::json;

use super::Engine;
use super::llm::LlmEngine;
use crate::compliance::mapper::{
    ControlBrief, MAX_PER_CONTROL, Proposal, RequirementBrief, RequirementMapper, check_answer,
};

const MAP_SYSTEM: &str = "You are the compliance analyst of rampart, a security-assurance appliance. \
You get security controls of one system's threat model and the requirements of one compliance framework (ids and short titles). \
For each control, name the requirements whose intent the control directly helps to meet; name none when no requirement fits. \
Be strict: a link must be one an auditor would accept as evidence for that requirement, not a loose association. \
Use only the control ids and requirement ids given. \
Answer with ONE JSON object and nothing else, of exactly this shape: \
{\"mappings\": [{\"control_id\": \"CTRL-1\", \"requirement_id\": \"an id from the list\", \"reason\": \"one sentence: what the control does that the requirement asks for\"}]}";

#[derive(Debug, Deserialize)]
struct MapReply {
    mappings: Vec<MapItem>,
}

#[derive(Debug, Deserialize)]
struct MapItem {
    control_id: String,
    requirement_id: String,
    reason: String,
}

impl RequirementMapper for LlmEngine {
    fn mapper_name(&self) -> String {
        self.name().to_string()
    }

    fn check_credits(&self, user_id: &str, org_id: Option<&str>) -> Result<(), String> {
        Engine::check_credits(
            self,
            user_id,
            org_id,
            crate::credits::Operation::ComplianceMapping,
        )
        .map_err(|e| e.to_string())
    }

    fn propose(
        &self,
        framework: &str,
        controls: &[ControlBrief],
        requirements: &[RequirementBrief],
    ) -> Result<Vec<Proposal>, String> {
        if controls.is_empty() || requirements.is_empty() {
            return Ok(Vec::new());
        }
        self.judge(
            "compliance_map",
            MAP_SYSTEM,
            json!({
                "framework": framework,
                "max_requirements_per_control": MAX_PER_CONTROL,
                "controls": controls,
                "requirements": requirements,
            }),
            |r: MapReply| {
                let raw: Vec<(String, String, String)> = r
                    .mappings
                    .into_iter()
                    .map(|m| (m.control_id, m.requirement_id, m.reason))
                    .collect();
                check_answer(&raw, controls, requirements)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::llm_judge::parse;
    use super::*;

    #[test]
    fn the_reply_shape_is_parsed() {
        let r: MapReply = parse(
            "Here you go: {\"mappings\": [{\"control_id\": \"CTRL-1\", \"requirement_id\": \"A.8.6\", \"reason\": \"quotas\"}]}",
        )
        .expect("parses");
        assert_eq!(r.mappings.len(), 1);
        assert_eq!(r.mappings[0].requirement_id, "A.8.6");
        assert_eq!(r.mappings[0].control_id, "CTRL-1");
        assert_eq!(r.mappings[0].reason, "quotas");
        assert!(parse::<MapReply>("{\"mappings\": [{\"control_id\": \"CTRL-1\"}]}").is_err());
    }
}
