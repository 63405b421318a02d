//! SARIF 2.1.0 export for code-scanning tools: one result per control and problem — at
//! risk (not implemented while an objective it serves is at risk), drifted (an assertion
//! that passed now fails), or not verified (no assertions, partial, or waiting for CI).
//! Where a control's assertions name files, those files are the result's locations, so a
//! code-scanning UI shows the finding next to the code that is supposed to implement it.

use serde_json::{Value, json};

use super::content::AssuranceReport;
use crate::domain::{ControlStatus, RiskTier, ThreatModel, VerificationStatus};

/// The rules: id, short description, default level, help.
const RULES: &[(&str, &str, &str, &str)] = &[
    (
        "rampart/control-at-risk",
        "Control not implemented while an objective it protects is at risk",
        "error",
        "Implement the control (or another complete mitigation group of the objective), then submit assertions that prove it.",
    ),
    (
        "rampart/control-drift",
        "Verified evidence regressed: an assertion that passed now fails",
        "error",
        "A previously passing assertion fails at the latest commit. Fix the regression or update the assertion.",
    ),
    (
        "rampart/control-unverified",
        "Control has no assertions, so nothing proves it is implemented",
        "warning",
        "Submit typed assertions (submit_assertions) for the control and let CI verify them.",
    ),
    (
        "rampart/control-partially-verified",
        "Control's evidence is incomplete: a failure, an incoherent assertion or insufficient evidence",
        "warning",
        "Read the control's assertions and sufficiency verdict in the assurance report and complete the evidence.",
    ),
    (
        "rampart/control-pending",
        "Control's assertions are waiting for a CI verification run",
        "note",
        "Run `rampart verify run` (or mipiti-verify) in CI.",
    ),
];

fn rule_index(id: &str) -> usize {
    RULES.iter().position(|r| r.0 == id).unwrap_or(0)
}

/// The SARIF log of a model.
pub fn render(model: &ThreatModel, report: &AssuranceReport, info_uri: &str) -> Value {
    let assessed = model.assess(&report_map(report));
    let mut results = Vec::new();
    for c in &report.controls {
        if c.implementation_status == ControlStatus::NotApplicable {
            continue;
        }
        let mut files: Vec<&str> = c
            .assertions
            .iter()
            .filter_map(|a| a.file.as_deref())
            .filter(|f| !f.contains(['*', '?', '[']))
            .collect();
        files.sort_unstable();
        files.dedup();
        let locations = |files: &[&str]| -> Vec<Value> {
            files
                .iter()
                .take(10)
                .map(|f| {
                    json!({"physicalLocation": {"artifactLocation": {"uri": f.trim_start_matches("./"), "uriBaseId": "%SRCROOT%"}}})
                })
                .collect()
        };
        let logical = json!([{"name": c.id, "fullyQualifiedName": format!("{}/{}", model.id, c.id), "kind": "control"}]);
        let mut push = |rule: &str, level: &str, text: String, files: &[&str]| {
            let mut r = json!({
                "ruleId": rule,
                "ruleIndex": rule_index(rule),
                "level": level,
                "message": {"text": text},
                "partialFingerprints": {"rampartControl/v1": format!("{}/{}/{rule}", model.id, c.id)},
                "properties": {"model_id": model.id, "control_id": c.id, "verification_status": c.verification_status},
            });
            let locs = locations(files);
            let mut locs = if locs.is_empty() {
                vec![json!({"logicalLocations": logical})]
            } else {
                locs.into_iter()
                    .map(|mut l| {
                        l["logicalLocations"] = logical.clone();
                        l
                    })
                    .collect()
            };
            r["locations"] = Value::Array(std::mem::take(&mut locs));
            results.push(r);
        };
        if c.implementation_status != ControlStatus::Implemented {
            let at_risk: Vec<_> = model
                .objectives_of_control(&c.id)
                .into_iter()
                .filter(|o| assessed.iter().any(|a| a.co_id == o.id && !a.implemented))
                .collect();
            if !at_risk.is_empty() {
                let severe = at_risk
                    .iter()
                    .any(|o| matches!(o.risk_tier, RiskTier::Critical | RiskTier::High));
                let ids: Vec<String> = at_risk
                    .iter()
                    .map(|o| format!("{} ({})", o.id, o.risk_tier))
                    .collect();
                push(
                    "rampart/control-at-risk",
                    if severe { "error" } else { "warning" },
                    format!(
                        "{} {} is not implemented; objectives at risk: {}.",
                        c.id,
                        c.name,
                        ids.join(", ")
                    ),
                    &files,
                );
            }
        }
        let drifted: Vec<&super::content::DriftItem> = report
            .drift
            .iter()
            .filter(|d| d.control_id.as_deref() == Some(c.id.as_str()))
            .collect();
        if !drifted.is_empty() {
            let mut dfiles: Vec<&str> = drifted
                .iter()
                .filter_map(|d| {
                    c.assertions
                        .iter()
                        .find(|a| a.id == d.assertion_id)
                        .and_then(|a| a.file.as_deref())
                })
                .collect();
            dfiles.sort_unstable();
            dfiles.dedup();
            push(
                "rampart/control-drift",
                "error",
                format!(
                    "{} {}: {} assertion(s) that passed now fail ({}).",
                    c.id,
                    c.name,
                    drifted.len(),
                    drifted
                        .iter()
                        .map(|d| format!("{} in {}", d.assertion_id, d.run_id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                if dfiles.is_empty() { &files } else { &dfiles },
            );
        }
        let (rule, level, what) = match c.verification_status {
            VerificationStatus::Verified => continue,
            VerificationStatus::Unverified => (
                "rampart/control-unverified",
                "warning",
                "has no assertions".to_string(),
            ),
            VerificationStatus::PartiallyVerified => (
                "rampart/control-partially-verified",
                "warning",
                "is only partially verified".to_string(),
            ),
            VerificationStatus::Pending => (
                "rampart/control-pending",
                "note",
                "awaits CI verification".to_string(),
            ),
        };
        push(rule, level, format!("{} {} {what}.", c.id, c.name), &files);
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": info_uri,
                "rules": RULES.iter().map(|(id, short, level, help)| json!({
                    "id": id,
                    "name": id.trim_start_matches("rampart/"),
                    "shortDescription": {"text": short},
                    "help": {"text": help},
                    "defaultConfiguration": {"level": level},
                })).collect::<Vec<_>>(),
            }},
            "automationDetails": {"id": format!("rampart/{}/", model.id)},
            "properties": {"model_id": model.id, "model_title": model.title, "model_version": model.version},
            "results": results,
        }]
    })
}

fn report_map(report: &AssuranceReport) -> crate::domain::VerificationMap {
    report
        .controls
        .iter()
        .map(|c| (c.id.clone(), c.verification_status))
        .collect()
}
