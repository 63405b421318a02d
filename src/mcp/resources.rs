//! MCP resources: each threat model of the caller's workspace as `rampart://models/{id}`,
//! with its controls, verification report and compliance reports beside it, so clients that
//! attach context (rather than call tools) can read them. Every read goes through the same
//! services and tenant checks as the tools; another workspace's model is "not found".

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::{Value, json};

use super::Services;
use crate::auth::Caller;

/// Scheme and prefix of every resource URI.
pub const PREFIX: &str = "rampart://models/";

/// What a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The model document.
    Model(String),
    /// Its controls with their verification.
    Controls(String),
    /// Its verification report.
    VerificationReport(String),
    /// The compliance reports of its selected frameworks.
    ComplianceReport(String),
}

/// Parses a `rampart://models/…` URI.
pub fn parse(uri: &str) -> Option<Target> {
    let rest = uri.strip_prefix(PREFIX)?;
    let mut parts = rest.split('/');
    let id = parts.next().filter(|s| !s.is_empty())?.to_string();
    let target = match (parts.next(), parts.next()) {
        (None, _) => Target::Model(id),
        (Some("controls"), None) => Target::Controls(id),
        (Some("verification-report"), None) => Target::VerificationReport(id),
        (Some("compliance-report"), None) => Target::ComplianceReport(id),
        _ => return None,
    };
    Some(target)
}

/// The URI templates clients can fill in.
pub fn templates() -> Vec<ResourceTemplate> {
    [
        (
            "rampart://models/{model_id}",
            "model",
            "Threat model: assets, attackers, trust boundaries, control objectives and controls",
        ),
        (
            "rampart://models/{model_id}/controls",
            "controls",
            "Controls of a model with status and verification",
        ),
        (
            "rampart://models/{model_id}/verification-report",
            "verification-report",
            "Verification report: verified, drifted and at-risk controls",
        ),
        (
            "rampart://models/{model_id}/compliance-report",
            "compliance-report",
            "Compliance reports of the frameworks selected for a model",
        ),
    ]
    .into_iter()
    .map(|(uri, name, description)| {
        ResourceTemplate::new(uri, name)
            .with_description(description)
            .with_mime_type("application/json")
    })
    .collect()
}

/// The caller's models (newest first, at most 500) as resources.
pub fn list(svc: &Services, caller: &Caller) -> crate::models::Result<Vec<Resource>> {
    let page = svc.models.list(
        caller,
        &crate::models::ListQuery {
            offset: None,
            limit: Some(500),
            search: None,
        },
    )?;
    Ok(page
        .items
        .into_iter()
        .map(|m| {
            Resource::new(format!("{PREFIX}{}", m.id), m.title.clone())
                .with_description(format!(
                    "Threat model \"{}\" (version {})",
                    m.title, m.version
                ))
                .with_mime_type("application/json")
        })
        .collect())
}

/// Reads one resource as JSON text.
pub fn read(
    svc: &Services,
    caller: &Caller,
    uri: &str,
    target: &Target,
) -> Result<ResourceContents, String> {
    let value: Value = match target {
        Target::Model(id) => {
            let stored = svc.models.get(caller, id).map_err(|e| e.to_string())?;
            serde_json::to_value(&stored.model).map_err(|e| e.to_string())?
        }
        Target::Controls(id) => {
            let stored = svc.models.get(caller, id).map_err(|e| e.to_string())?;
            let verification = svc
                .models
                .verification(caller, id)
                .map_err(|e| e.to_string())?;
            json!({
                "model_id": id,
                "controls": stored.model.controls,
                "verification": verification,
            })
        }
        Target::VerificationReport(id) => svc
            .assurance
            .report(caller, id)
            .map_err(|e| e.to_string())?,
        Target::ComplianceReport(id) => {
            let reports = svc
                .compliance
                .reports(caller, id)
                .map_err(|e| e.to_string())?;
            json!({"model_id": id, "reports": reports})
        }
    };
    let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    Ok(ResourceContents::text(text, uri).with_mime_type("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_to_their_targets() {
        assert_eq!(
            parse("rampart://models/m1"),
            Some(Target::Model("m1".into()))
        );
        assert_eq!(
            parse("rampart://models/m1/controls"),
            Some(Target::Controls("m1".into()))
        );
        assert_eq!(
            parse("rampart://models/m1/verification-report"),
            Some(Target::VerificationReport("m1".into()))
        );
        assert_eq!(
            parse("rampart://models/m1/compliance-report"),
            Some(Target::ComplianceReport("m1".into()))
        );
        for bad in [
            "rampart://models/",
            "rampart://models/m1/other",
            "rampart://models/m1/controls/x",
            "https://x/models/m1",
            "file:///etc/passwd",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
