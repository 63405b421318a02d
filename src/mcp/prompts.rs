//! MCP prompts: the specification's workflows (threat-model a feature, prove a model's
//! controls, scan for gaps, close compliance gaps) as reusable, parameterised messages an
//! agent's user can pick from a menu. Pure text: the tools do the work.

use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

struct Spec {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// (name, description, required)
    args: &'static [(&'static str, &'static str, bool)],
}

const PROMPTS: &[Spec] = &[
    Spec {
        name: "threat_model_feature",
        title: "Threat-model a feature",
        description: "Generate a threat model for a feature you are planning, review it, and fill the gaps before code is written.",
        args: &[
            (
                "feature_description",
                "What the feature does: components, data, users, third parties (a paragraph or more).",
                true,
            ),
            ("title", "A short title for the model.", false),
        ],
    },
    Spec {
        name: "prove_controls",
        title: "Prove the controls of a model",
        description: "Turn a model's implemented controls into machine-checkable assertions, check them locally with rampart verify, and read the verification report.",
        args: &[(
            "model_id",
            "The threat model (see list_threat_models).",
            true,
        )],
    },
    Spec {
        name: "scan_for_gaps",
        title: "Scan the code for gaps",
        description: "Scan the repository against a model's controls and record what is missing as findings.",
        args: &[(
            "model_id",
            "The threat model (see list_threat_models).",
            true,
        )],
    },
    Spec {
        name: "close_compliance_gaps",
        title: "Close compliance gaps",
        description: "Find the requirements of a compliance framework a model does not meet yet and close them with mapped or new controls.",
        args: &[
            (
                "model_id",
                "The threat model (see list_threat_models).",
                true,
            ),
            (
                "framework_id",
                "The framework, e.g. iso-27001-2022 (see list_compliance_frameworks).",
                true,
            ),
        ],
    },
];

/// Why a prompt could not be rendered (an invalid-params error for the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptError(pub String);

/// Every prompt with its arguments.
pub fn list() -> Vec<Prompt> {
    PROMPTS
        .iter()
        .map(|p| {
            let args = p
                .args
                .iter()
                .map(|(name, description, required)| {
                    PromptArgument::new(*name)
                        .with_description(*description)
                        .with_required(*required)
                })
                .collect();
            Prompt::new(p.name, Some(p.description), Some(args)).with_title(p.title)
        })
        .collect()
}

/// Renders one prompt with the client's arguments; unknown prompts, missing required or
/// unknown arguments are refused.
pub fn render(
    name: &str,
    args: Option<&Map<String, Value>>,
) -> Result<GetPromptResult, PromptError> {
    let spec = PROMPTS
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| PromptError(format!("unknown prompt {name:?}; prompts/list names them")))?;
    let empty = Map::new();
    let args = args.unwrap_or(&empty);
    if let Some(unknown) = args
        .keys()
        .find(|k| !spec.args.iter().any(|(n, _, _)| n == k))
    {
        return Err(PromptError(format!("{name} takes no argument {unknown:?}")));
    }
    let get = |key: &str| -> Result<String, PromptError> {
        let v = args
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        let required = spec.args.iter().any(|(n, _, r)| *n == key && *r);
        if v.is_empty() && required {
            return Err(PromptError(format!("{name} needs the argument {key}")));
        }
        Ok(v.to_string())
    };
    let text = match name {
        "threat_model_feature" => {
            let description = get("feature_description")?;
            let title = get("title")?;
            let title_line = if title.is_empty() {
                String::new()
            } else {
                format!(" Then rename it to \"{title}\" with rename_threat_model.")
            };
            format!(
                "Threat-model this feature with rampart before it is built.\n\n\
                 Feature:\n{description}\n\n\
                 1. Call generate_threat_model with this description (async_mode=false waits and reports progress).{title_line}\n\
                 2. Read the assets and attackers with get_threat_model. Add what the description names but the model misses (add_asset, add_attacker) and correct what is wrong (edit_asset, edit_attacker).\n\
                 3. Call check_control_gaps and fill objectives without controls (regenerate_controls or import_controls).\n\
                 4. Summarise the highest-risk control objectives (assess_model) and the controls to build first."
            )
        }
        "prove_controls" => {
            let model = get("model_id")?;
            format!(
                "Prove the controls of threat model {model} against this repository.\n\n\
                 1. Call get_controls with model_id={model} and status=implemented to see what claims to be done.\n\
                 2. For each control, find the code that implements it and call submit_assertions with machine-checkable assertions (file paths relative to the repository root).\n\
                 3. Check each assertion locally: rampart verify verify <type> -p key=value --project-root .\n\
                 4. Fix or withdraw (delete_assertion) what fails, then read get_verification_report and list what is verified, drifted and still unproven."
            )
        }
        "scan_for_gaps" => {
            let model = get("model_id")?;
            format!(
                "Scan this repository for security gaps against threat model {model}.\n\n\
                 1. Call get_scan_prompt with model_id={model} and follow it.\n\
                 2. Record each gap with submit_findings (title, description, severity, the control it concerns, file and line).\n\
                 3. Call list_findings to confirm, and summarise the findings by severity."
            )
        }
        "close_compliance_gaps" => {
            let model = get("model_id")?;
            let framework = get("framework_id")?;
            format!(
                "Close the {framework} compliance gaps of threat model {model}.\n\n\
                 1. Call select_compliance_frameworks if {framework} is not selected yet, then auto_map_controls.\n\
                 2. Read get_compliance_report with status=gap.\n\
                 3. Call suggest_compliance_remediation, review the suggestions with the user, and apply the approved ones with apply_compliance_remediation.\n\
                 4. Map remaining controls by hand (map_control_to_requirement) where they meet a requirement, and report what is still open."
            )
        }
        other => return Err(PromptError(format!("unknown prompt {other:?}"))),
    };
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(spec.description),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn every_prompt_renders_with_its_required_arguments() {
        let listed = list();
        assert_eq!(listed.len(), 4);
        for p in &listed {
            let required: Map<String, Value> = p
                .arguments
                .iter()
                .flatten()
                .filter(|a| a.required == Some(true))
                .map(|a| (a.name.clone(), json!("x1")))
                .collect();
            let out = render(&p.name, Some(&required)).expect("renders");
            assert_eq!(out.messages.len(), 1, "{}", p.name);
            // Without them it is refused, naming the argument.
            if let Some(first) = required.keys().next() {
                let err = render(&p.name, None).expect_err("missing argument");
                assert!(err.0.contains(first.as_str()), "{err:?}");
            }
        }
    }

    #[test]
    fn unknown_prompts_and_arguments_are_refused() {
        assert!(render("nope", None).is_err());
        let err = render(
            "scan_for_gaps",
            Some(&args(json!({"model_id": "m", "colour": "red"}))),
        )
        .expect_err("unknown argument");
        assert!(err.0.contains("colour"), "{err:?}");
        let out = render(
            "threat_model_feature",
            Some(&args(
                json!({"feature_description": "A refunds portal", "title": "Refunds"}),
            )),
        )
        .expect("ok");
        let text = serde_json::to_string(&out.messages[0]).expect("json");
        assert!(
            text.contains("A refunds portal") && text.contains("\\\"Refunds\\\""),
            "{text}"
        );
    }
}
