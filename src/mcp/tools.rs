//! The MCP tools: argument structs (their doc comments are the JSON-schema descriptions the
//! agent sees) and one method per tool that resolves the caller, calls one service on a
//! blocking thread, and shapes the answer. Errors become tool results with `isError`.

use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::args::Parameters;
use super::{McpServer, Services};
use crate::auth::{Caller, Scope};
use crate::domain::{
    AssetPatch, AssuranceFilter, AttackerPatch, ControlStatus, NewAsset, NewAttacker, NewEvidence,
};
use crate::models::{self, ListQuery, Source, systems};

/// A tool failure the agent can act on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    /// A bad argument, naming it.
    #[error("invalid argument `{field}`: {message}")]
    Invalid {
        /// The argument.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Unknown (or another workspace's) object.
    #[error("{0} not found")]
    NotFound(String),
    /// Not allowed with this key.
    #[error("{0}")]
    Forbidden(String),
    /// A capability this appliance does not have.
    #[error("{0}")]
    Unavailable(String),
    /// The operation failed.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    fn code(&self) -> &'static str {
        match self {
            ToolError::Invalid { .. } => "invalid_argument",
            ToolError::NotFound(_) => "not_found",
            ToolError::Forbidden(_) => "forbidden",
            ToolError::Unavailable(_) => "not_available",
            ToolError::Failed(_) => "failed",
        }
    }

    fn into_result(self) -> CallToolResult {
        let message = self.to_string();
        let mut err = json!({"code": self.code(), "message": message});
        if let ToolError::Invalid { field, .. } = &self {
            err["field"] = json!(field);
        }
        let mut r = CallToolResult::error(vec![ContentBlock::text(message)]);
        r.structured_content = Some(json!({ "error": err }));
        r
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ToolError {
    ToolError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

impl From<models::Error> for ToolError {
    fn from(e: models::Error) -> Self {
        use crate::domain::DomainError as D;
        match e {
            models::Error::NotFound(w) => ToolError::NotFound(w),
            models::Error::Invalid { field, message } => ToolError::Invalid { field, message },
            models::Error::Forbidden(m) => ToolError::Forbidden(m),
            models::Error::Domain(d) => match d.root() {
                D::UnknownId { .. } | D::UnknownEvidence { .. } => {
                    ToolError::NotFound(d.to_string().replace(" not found", ""))
                }
                D::Invalid { field, reason } => ToolError::Invalid {
                    field: field.clone(),
                    message: reason.clone(),
                },
                _ => ToolError::Failed(d.to_string()),
            },
            models::Error::Engine(m) | models::Error::RateLimited(m) => ToolError::Failed(m),
            models::Error::CreditsExhausted(x) => {
                ToolError::Failed(format!("credits_exhausted: {x}"))
            }
            models::Error::Store(s) => {
                tracing::error!(error = %s, "MCP tool storage failure");
                ToolError::Failed("storage failure; see the server log".into())
            }
        }
    }
}

impl From<crate::assurance::Error> for ToolError {
    fn from(e: crate::assurance::Error) -> Self {
        use crate::assurance::Error as A;
        match e {
            A::NotFound(w) => ToolError::NotFound(w),
            A::Invalid { field, message } => ToolError::Invalid { field, message },
            A::Forbidden(m) | A::Attestation(m) => ToolError::Forbidden(m),
            A::Store(s) => {
                tracing::error!(error = %s, "MCP tool storage failure");
                ToolError::Failed("storage failure; see the server log".into())
            }
        }
    }
}

impl From<crate::integrations::Error> for ToolError {
    fn from(e: crate::integrations::Error) -> Self {
        use crate::integrations::Error as I;
        match e {
            I::NotFound(w) => ToolError::NotFound(w),
            I::Forbidden(m) | I::Unauthorized(m) => ToolError::Forbidden(m),
            I::Invalid { field, message } => ToolError::Invalid {
                field: field.to_string(),
                message,
            },
            I::Unavailable(m) | I::Gone(m) => ToolError::Unavailable(m),
            I::Upstream { message, .. } => ToolError::Failed(message),
            I::Store(s) => {
                tracing::error!(error = %s, "MCP tool storage failure");
                ToolError::Failed("storage failure; see the server log".into())
            }
            I::Internal(m) => {
                tracing::error!(error = %m, "MCP tool failure");
                ToolError::Failed("internal error; see the server log".into())
            }
        }
    }
}

impl From<crate::reports::Error> for ToolError {
    fn from(e: crate::reports::Error) -> Self {
        use crate::reports::Error as R;
        match e {
            R::NotFound(w) => ToolError::NotFound(w),
            R::Invalid { field, message } => ToolError::Invalid { field, message },
            R::Render(m) => {
                tracing::error!(error = %m, "export rendering failed");
                ToolError::Failed("rendering the export failed; see the server log".into())
            }
            R::Store(s) => {
                tracing::error!(error = %s, "MCP tool storage failure");
                ToolError::Failed("storage failure; see the server log".into())
            }
        }
    }
}

impl From<crate::auth::Error> for ToolError {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::Store(s) => {
                tracing::error!(error = %s, "MCP tool storage failure");
                ToolError::Failed("storage failure; see the server log".into())
            }
            other => ToolError::Forbidden(other.to_string()),
        }
    }
}

type ToolResult = Result<CallToolResult, rmcp::ErrorData>;

fn ok(value: Value) -> ToolResult {
    let value = if value.is_object() {
        value
    } else {
        json!({ "result": value })
    };
    Ok(CallToolResult::structured(value))
}

fn done(r: Result<Value, ToolError>) -> ToolResult {
    match r {
        Ok(v) => ok(v),
        Err(e) => Ok(e.into_result()),
    }
}

fn parse_status(field: &str, s: &str) -> Result<ControlStatus, ToolError> {
    serde_json::from_value(json!(s.trim().to_ascii_lowercase())).map_err(|_| {
        invalid(
            field,
            format!(
                "unknown status {s:?}; use one of not_implemented, in_progress, implemented, not_applicable"
            ),
        )
    })
}

fn parse_filter(s: &str) -> Result<AssuranceFilter, ToolError> {
    serde_json::from_value(json!(s.trim().to_ascii_lowercase())).map_err(|_| {
        invalid(
            "status",
            format!(
                "unknown status {s:?}; use one of implemented, at_risk, not_started, verified, unverified"
            ),
        )
    })
}

fn from_json<T: serde::de::DeserializeOwned>(field: &str, v: Value) -> Result<T, ToolError> {
    serde_json::from_value(v).map_err(|e| invalid(field, e.to_string()))
}

fn page_bounds(offset: Option<u32>, limit: Option<u32>, default: u32) -> (usize, usize) {
    (
        offset.unwrap_or(0) as usize,
        limit.unwrap_or(default).clamp(1, 500) as usize,
    )
}

fn wants_async(async_mode: Option<bool>, default: bool) -> bool {
    async_mode.unwrap_or(default)
}

// ----- argument structs -----

/// Arguments naming only a model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelArgs {
    /// Threat model id (from list_threat_models or generate_threat_model).
    pub model_id: String,
}

/// Arguments of generate_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// What is being built: the feature or system, its data, users, interfaces and deployment (plain text; more detail gives a better model). Leave empty when giving jira_issue.
    #[serde(default)]
    pub feature_description: String,
    /// Instead of a description: a Jira issue key (e.g. SEC-12) whose summary, description and labels are the brief; needs the organization's Jira integration. Controls exported later go under that issue.
    #[serde(default)]
    pub jira_issue: Option<String>,
    /// true (default): return {job_id} at once and poll get_operation_status; false: wait for the finished model.
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of refine_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefineArgs {
    /// Threat model id.
    pub model_id: String,
    /// The change in plain language, e.g. "add an admin API reachable only from the VPN".
    pub instruction: String,
    /// true (default): return {job_id}; false: wait for the result.
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of regenerate_controls.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateArgs {
    /// Threat model id.
    pub model_id: String,
    /// false (default): wait for the result; true: return {job_id}.
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of list_threat_models.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListArgs {
    /// Skip this many models (default 0).
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many (default 50, max 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Case-insensitive text to find in the title or description.
    #[serde(default)]
    pub search: Option<String>,
}

/// Arguments of get_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetModelArgs {
    /// Threat model id.
    pub model_id: String,
    /// Include the control objectives inline (default false: only their count).
    #[serde(default)]
    pub include_cos: Option<bool>,
}

/// Arguments of get_controls.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlsArgs {
    /// Threat model id.
    pub model_id: String,
    /// Full details of one control, e.g. "CTRL-01".
    #[serde(default)]
    pub control_id: Option<String>,
    /// Only controls with this status: not_implemented, in_progress, implemented or not_applicable.
    #[serde(default)]
    pub status: Option<String>,
    /// Only controls mapped to this control objective, e.g. "CO3".
    #[serde(default)]
    pub co_id: Option<String>,
    /// Skip this many matching controls.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many controls (default 20, max 500).
    #[serde(default)]
    pub limit: Option<u32>,
    /// Run in the background and return {job_id} (default false).
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of paged per-model lists.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagedModelArgs {
    /// Threat model id.
    pub model_id: String,
    /// Skip this many items.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many items (default 50, max 500).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of assess_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessArgs {
    /// Threat model id.
    pub model_id: String,
    /// List the control objectives in this state: implemented, at_risk, not_started, verified or unverified (default: summary counts only).
    #[serde(default)]
    pub status: Option<String>,
    /// Skip this many objectives.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many objectives (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of get_review_queue.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewArgs {
    /// Threat model id.
    pub model_id: String,
    /// Verification older than this many hours counts as stale (default 168).
    #[serde(default)]
    pub stale_after_hours: Option<u64>,
}

/// Arguments of rename_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameArgs {
    /// Threat model id.
    pub model_id: String,
    /// The new title.
    pub title: String,
}

/// Arguments of query_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryArgs {
    /// Threat model id.
    pub model_id: String,
    /// The question, e.g. "which controls protect the session tokens?".
    pub question: String,
    /// Run in the background and return {job_id} (default false).
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of update_control_status.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlStatusArgs {
    /// Threat model id.
    pub model_id: String,
    /// Control id, e.g. "CTRL-01".
    pub control_id: String,
    /// not_implemented, in_progress, implemented or not_applicable.
    pub status: String,
    /// How it is implemented (or why it does not apply).
    #[serde(default)]
    pub notes: Option<String>,
}

/// Arguments of refine_control.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefineControlArgs {
    /// Threat model id.
    pub model_id: String,
    /// Control id, e.g. "CTRL-04".
    pub control_id: String,
    /// The proposed, less prescriptive description.
    pub new_description: String,
    /// Why the change is right (e.g. what the codebase does instead).
    pub justification: String,
}

/// Arguments of add_evidence.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEvidenceArgs {
    /// Threat model id.
    pub model_id: String,
    /// Control id.
    pub control_id: String,
    /// Short title of the evidence, e.g. "Rate limiter middleware".
    pub title: String,
    /// Where it is: a URL, file path or ticket.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Arguments of remove_evidence.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveEvidenceArgs {
    /// Threat model id.
    pub model_id: String,
    /// Control id.
    pub control_id: String,
    /// Evidence id (from get_controls with control_id).
    pub evidence_id: String,
}

/// Arguments of add_asset.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAssetArgs {
    /// Threat model id.
    pub model_id: String,
    /// Short name, e.g. "Session tokens".
    pub name: String,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
    /// Security properties it needs, any of "C" (confidentiality), "I" (integrity), "A" (availability), "U" (accountable usage).
    pub properties: Vec<String>,
    /// Impact of a compromise: low, medium or high.
    pub impact: String,
    /// Why it belongs in the model.
    #[serde(default)]
    pub rationale: Option<String>,
}

/// Arguments of edit_asset (omitted fields are kept).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditAssetArgs {
    /// Threat model id.
    pub model_id: String,
    /// Asset id, e.g. "A1".
    pub asset_id: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New properties (C, I, A, U).
    #[serde(default)]
    pub properties: Option<Vec<String>>,
    /// New impact: low, medium or high.
    #[serde(default)]
    pub impact: Option<String>,
    /// New rationale.
    #[serde(default)]
    pub rationale: Option<String>,
}

/// Arguments of remove_asset / remove_attacker.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveEntityArgs {
    /// Threat model id.
    pub model_id: String,
    /// Asset id (remove_asset) or attacker id (remove_attacker).
    #[serde(alias = "asset_id", alias = "attacker_id")]
    pub entity_id: String,
    /// Why it is removed (kept in the model history).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Arguments of add_attacker.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAttackerArgs {
    /// Threat model id.
    pub model_id: String,
    /// Short name, e.g. "External attacker".
    pub name: String,
    /// Who they are.
    #[serde(default)]
    pub description: Option<String>,
    /// What they can do.
    #[serde(default)]
    pub capability: Option<String>,
    /// Where they stand: external, adjacent, internal, insider, supply_chain or physical.
    pub position: String,
    /// How likely they act: low, medium or high.
    pub likelihood: String,
    /// Properties they threaten (C, I, A, U); empty means all.
    #[serde(default)]
    pub threatens: Option<Vec<String>>,
    /// Why they belong in the model.
    #[serde(default)]
    pub rationale: Option<String>,
}

/// Arguments of edit_attacker (omitted fields are kept).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditAttackerArgs {
    /// Threat model id.
    pub model_id: String,
    /// Attacker id, e.g. "ATK1".
    pub attacker_id: String,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New capability.
    #[serde(default)]
    pub capability: Option<String>,
    /// New position: external, adjacent, internal, insider, supply_chain or physical.
    #[serde(default)]
    pub position: Option<String>,
    /// New likelihood: low, medium or high.
    #[serde(default)]
    pub likelihood: Option<String>,
    /// New threatened properties (C, I, A, U).
    #[serde(default)]
    pub threatens: Option<Vec<String>>,
}

/// Arguments of submit_assertions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitAssertionsArgs {
    /// Threat model id.
    pub model_id: String,
    /// The control (e.g. "CTRL-07") or assumption the assertions prove.
    pub control_id: String,
    /// Array (or JSON text of an array) of {"type", "params", "description", "repo"?}, e.g. [{"type": "function_exists", "params": {"file": "auth/middleware.py", "name": "require_auth"}, "description": "Authentication middleware exists"}].
    pub assertions_json: Value,
}

/// Arguments filtering by control.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlFilterArgs {
    /// Threat model id.
    pub model_id: String,
    /// Only this control, e.g. "CTRL-07".
    #[serde(default)]
    pub control_id: Option<String>,
}

/// Arguments of list_assertions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAssertionsArgs {
    /// Threat model id.
    pub model_id: String,
    /// Only this control, e.g. "CTRL-07".
    #[serde(default)]
    pub control_id: Option<String>,
    /// Assertions per page, 1 to 500 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The next_cursor of the previous page, to read the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of delete_assertion.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAssertionArgs {
    /// Threat model id.
    pub model_id: String,
    /// Assertion id ("asrt_…").
    pub assertion_id: String,
}

/// Arguments of submit_findings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitFindingsArgs {
    /// Threat model id.
    pub model_id: String,
    /// Array (or JSON text) of findings: {"title", "severity" (critical|high|medium|low|info), "control_id"?, "description"?, "checked_locations"?: [{"file", "start_line"?, "end_line"?, "snippet"?}], "checked_patterns"?: [..], "expected_evidence"?}.
    pub findings_json: Value,
}

/// Arguments of list_findings.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFindingsArgs {
    /// Threat model id.
    pub model_id: String,
    /// Only findings of this control.
    #[serde(default)]
    pub control_id: Option<String>,
    /// Only findings in this state: discovered, acknowledged, remediated, verified or dismissed.
    #[serde(default)]
    pub status: Option<String>,
    /// Findings per page, 1 to 500 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The next_cursor of the previous page, to read the next one.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Arguments of update_finding.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFindingArgs {
    /// Threat model id.
    pub model_id: String,
    /// Finding id ("fnd_…").
    pub finding_id: String,
    /// Target state: acknowledged, remediated or dismissed (forward only).
    pub status: String,
    /// Required when dismissing.
    #[serde(default)]
    pub reason: Option<String>,
    /// Assertion ids that prove the remediation.
    #[serde(default)]
    pub linked_assertions: Option<Vec<String>>,
}

/// Arguments of list_compliance_frameworks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFrameworksArgs {
    /// A framework id: list its requirements instead of the frameworks.
    #[serde(default)]
    pub framework_id: Option<String>,
    /// Only requirements of this group (chapter/family, e.g. "V8", "AC", "A.8").
    #[serde(default)]
    pub group: Option<String>,
    /// Only requirements of this profile (e.g. "L1", "moderate", "IG1").
    #[serde(default)]
    pub profile: Option<String>,
    /// Skip this many requirements.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many requirements (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of select_compliance_frameworks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectFrameworksArgs {
    /// Threat model id.
    pub model_id: String,
    /// Framework ids, each optionally with ":profile" (e.g. "owasp-asvs-5:L2"); replaces the selection.
    pub framework_ids: Vec<String>,
}

/// Arguments of get_compliance_report.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceReportArgs {
    /// Threat model id.
    pub model_id: String,
    /// A framework selected for the model.
    pub framework_id: String,
    /// Only requirements with this status: covered, partial, uncovered or not_applicable.
    #[serde(default)]
    pub status: Option<String>,
    /// Only requirements of this group.
    #[serde(default)]
    pub group: Option<String>,
    /// One requirement with its controls.
    #[serde(default)]
    pub requirement_id: Option<String>,
    /// Skip this many requirements.
    #[serde(default)]
    pub offset: Option<u32>,
    /// At most this many requirements (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Arguments of map_control_to_requirement.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapControlArgs {
    /// Threat model id.
    pub model_id: String,
    /// Control id ("CTRL-03").
    pub control_id: String,
    /// A framework selected for the model.
    pub framework_id: String,
    /// Requirement id in that framework ("V8.2.1", "AC-3", "A.8.3").
    pub requirement_id: String,
    /// "add" (default) or "remove".
    #[serde(default)]
    pub action: Option<String>,
    /// Why the control serves the requirement (recorded with the mapping).
    #[serde(default)]
    pub reason: Option<String>,
}

/// Arguments of auto_map_controls.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoMapArgs {
    /// Threat model id.
    pub model_id: String,
    /// Only this selected framework (default: every selected one).
    #[serde(default)]
    pub framework_id: Option<String>,
    /// Run as a background job.
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of suggest_compliance_remediation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestRemediationArgs {
    /// Threat model id.
    pub model_id: String,
    /// A framework selected for the model.
    pub framework_id: String,
    /// Background job (default true); false waits for the result.
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of apply_compliance_remediation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRemediationArgs {
    /// Threat model id.
    pub model_id: String,
    /// The remediation id from suggest_compliance_remediation ("rem_…").
    pub remediation_id: String,
    /// Approved suggestion ids ("S1", "S2", …).
    pub suggestion_ids: Vec<String>,
}

/// Arguments of get_system.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemArgs {
    /// System id ("sys_…").
    pub system_id: String,
}

/// Arguments of create_system.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSystemArgs {
    /// Name of the system, e.g. "Payments platform".
    pub name: String,
    /// What the system is.
    #[serde(default)]
    pub description: Option<String>,
    /// Threat models to put in it now.
    #[serde(default)]
    pub model_ids: Option<Vec<String>>,
}

/// Arguments of add_model_to_system.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddModelToSystemArgs {
    /// System id.
    pub system_id: String,
    /// Threat model id.
    pub model_id: String,
}

/// Arguments of export_threat_model.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportArgs {
    /// Threat model id.
    pub model_id: String,
    /// pdf, html, csv (default), json or sarif; jira or confluence push the model to the
    /// organization's Jira project or Confluence space.
    #[serde(default)]
    pub format: Option<String>,
    /// threat-model (default) or assurance (the audit-ready evidence report); for pdf, html and json.
    #[serde(default)]
    pub report: Option<String>,
    /// For csv: assets, attackers, objectives, controls (default) or assertions.
    #[serde(default)]
    pub table: Option<String>,
}

/// Arguments of get_operation_status.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobArgs {
    /// Job id ("job_…") returned by an async tool.
    pub job_id: String,
}

/// Arguments of tools that take none.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NoArgs {}

/// Arguments of import_controls.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportControlsArgs {
    /// Threat model id.
    pub model_id: String,
    /// Array (or JSON text) of controls to add: {"name", "description", "rationale"?, "co_ids": ["CO1", ...], "group"?}. Each must map to at least one existing control objective; group names the mitigation group inside the CO (default "imported"). Existing controls are kept; a control with the same name as an existing one updates it.
    pub controls_json: Value,
    /// Run in the background and return {job_id} (default false).
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Arguments of check_control_gaps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GapArgs {
    /// Threat model id.
    pub model_id: String,
    /// Run in the background and return {job_id} (default false).
    #[serde(default)]
    pub async_mode: Option<bool>,
}

/// Accepts a JSON array or the JSON text of one.
fn json_array(field: &str, v: Value) -> Result<Vec<Value>, ToolError> {
    let v = match v {
        Value::String(s) => {
            serde_json::from_str(&s).map_err(|e| invalid(field, format!("not valid JSON: {e}")))?
        }
        other => other,
    };
    match v {
        Value::Array(a) => Ok(a),
        Value::Object(_) => Ok(vec![v]),
        _ => Err(invalid(field, "expected an array of objects")),
    }
}

fn control_json(
    model: &crate::domain::ThreatModel,
    v: &crate::domain::VerificationMap,
    c: &crate::domain::Control,
) -> Value {
    let mut out = serde_json::to_value(c).unwrap_or_default();
    if let Value::Object(m) = &mut out {
        m.insert(
            "control_objectives".into(),
            json!(
                model
                    .objectives_of_control(&c.id)
                    .iter()
                    .map(|o| &o.id)
                    .collect::<Vec<_>>()
            ),
        );
        m.insert(
            "verification_status".into(),
            json!(v.get(&c.id).copied().unwrap_or_default()),
        );
    }
    out
}

impl McpServer {
    pub(super) fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, ToolError> {
        if let Some(c) = &self.fixed_caller {
            return Ok(c.clone());
        }
        rmcp_actix_web::transport::on_request_extensions(&ctx.extensions)
            .and_then(|e| e.get::<Caller>())
            .or_else(|| ctx.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| ToolError::Forbidden("not authenticated: send X-API-Key".into()))
    }

    /// The caller of a mutating tool: verifier keys are refused with the scope named.
    fn writer(&self, ctx: &RequestContext<RoleServer>, tool: &str) -> Result<Caller, ToolError> {
        let c = self.caller(ctx)?;
        if c.scope() == Some(Scope::Verifier) {
            return Err(ToolError::Forbidden(format!(
                "{tool} needs a developer key (mk_): verifier keys (mv_) are limited to read and verification tools"
            )));
        }
        // The services check again; refusing here saves a viewer from waiting for work that
        // could never be saved (generation).
        c.require_write()
            .map_err(|e| ToolError::Forbidden(format!("{tool}: {e}")))?;
        Ok(c)
    }

    fn source(&self) -> Source {
        Source::Mcp
    }

    /// Runs blocking service code off the async runtime.
    async fn run(
        &self,
        caller: Result<Caller, ToolError>,
        f: impl FnOnce(Services, Caller) -> Result<Value, ToolError> + Send + 'static,
    ) -> ToolResult {
        let caller = match caller {
            Ok(c) => c,
            Err(e) => return Ok(e.into_result()),
        };
        let svc = self.svc.clone();
        match tokio::task::spawn_blocking(move || f(svc, caller)).await {
            Ok(r) => done(r),
            Err(e) => {
                tracing::error!(error = %e, "MCP tool task failed");
                Ok(ToolError::Failed("internal error; see the server log".into()).into_result())
            }
        }
    }

    /// Runs `f` as a background job and returns `{job_id}` at once.
    fn start_job(
        &self,
        caller: &Caller,
        kind: &str,
        f: impl FnOnce(Services, Caller) -> Result<Value, ToolError> + Send + 'static,
    ) -> Result<Value, ToolError> {
        let job = self
            .svc
            .jobs
            .create(kind, &caller.workspace_id, 1)
            .map_err(|busy| ToolError::Failed(busy.to_string()))?;
        let handle = job.clone();
        let svc = self.svc.clone();
        let caller = caller.clone();
        let label = kind.replace('_', " ");
        std::thread::Builder::new()
            .name(format!("mcp-{}", job.id()))
            .spawn(move || {
                handle.step(1, &label);
                match f(svc, caller) {
                    Ok(v) => handle.complete(v),
                    Err(e) => handle.fail(&e.to_string()),
                }
            })
            .map_err(|e| ToolError::Failed(format!("cannot start job: {e}")))?;
        Ok(json!({
            "job_id": job.id(),
            "status": "queued",
            "hint": "poll get_operation_status with this job_id until status is completed or failed",
        }))
    }

    /// Sync or async execution of a job-capable tool.
    async fn maybe_async(
        &self,
        ctx: &RequestContext<RoleServer>,
        caller: Result<Caller, ToolError>,
        async_mode: bool,
        kind: &str,
        f: impl FnOnce(Services, Caller) -> Result<Value, ToolError> + Send + 'static,
    ) -> ToolResult {
        let _ = ctx;
        if async_mode {
            let caller = match caller {
                Ok(c) => c,
                Err(e) => return Ok(e.into_result()),
            };
            done(self.start_job(&caller, kind, f))
        } else {
            self.run(caller, f).await
        }
    }
}

/// For generate_threat_model with `jira_issue`: the issue's brief and key, read through the
/// org's Jira integration on a blocking thread (its HTTP client blocks). `None` without
/// `jira_issue`. Giving both or neither of description and issue is refused, and an issue
/// already modelled in the workspace names that model.
async fn jira_brief(
    svc: &Services,
    caller: &Caller,
    a: &GenerateArgs,
) -> Result<Option<(String, String)>, ToolError> {
    let Some(raw) = a.jira_issue.as_deref() else {
        return Ok(None);
    };
    if !a.feature_description.trim().is_empty() {
        return Err(invalid(
            "jira_issue",
            "give either feature_description or jira_issue, not both",
        ));
    }
    let key = crate::integrations::jira::valid_issue_key(raw).ok_or_else(|| {
        invalid(
            "jira_issue",
            "must be a Jira issue key such as SEC-12 (project key, dash, number)",
        )
    })?;
    let (svc, caller) = (svc.clone(), caller.clone());
    tokio::task::spawn_blocking(move || {
        if let Some(id) = svc.models.by_source_issue(&caller, &key)? {
            return Err(invalid(
                "jira_issue",
                format!("a model was already generated from {key} in this workspace: {id} (use get_threat_model or refine_threat_model)"),
            ));
        }
        let issue = svc.integrations.source_issue(&caller, &key)?;
        Ok(Some((issue.brief(), issue.key)))
    })
    .await
    .map_err(|e| ToolError::Failed(format!("reading the Jira issue failed: {e}")))?
}

fn generation_summary(stored: &models::StoredModel) -> Value {
    json!({
        "model_id": stored.model.id,
        "title": stored.model.title,
        "version": stored.model.version,
        "assets": stored.model.assets.len(),
        "attackers": stored.model.attackers.len(),
        "trust_boundaries": stored.model.trust_boundaries.len(),
        "control_objectives": stored.model.control_objectives.len(),
        "controls": stored.model.controls.len(),
        "next": "get_controls with status=\"not_implemented\" lists what to implement",
    })
}

#[tool_router(vis = "pub(super)")]
impl McpServer {
    // ----- generation -----

    #[tool(
        description = "Generate a threat model (assets, attackers, control objectives, controls) from a feature description. Async by default: returns {job_id}; poll get_operation_status until status=completed, whose result holds model_id. Set async_mode=false to wait (30-120 s; progress notifications are sent when you pass a progress token)."
    )]
    async fn generate_threat_model(
        &self,
        Parameters(a): Parameters<GenerateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = match self.writer(&ctx, "generate_threat_model") {
            Ok(c) => c,
            Err(e) => return Ok(e.into_result()),
        };
        let svc = self.svc.clone();
        let (description, origin) = match jira_brief(&svc, &caller, &a).await {
            Ok(Some((brief, key))) => (brief, models::Origin::jira(&key)),
            Ok(None) => (
                a.feature_description.clone(),
                models::Origin::from(self.source()),
            ),
            Err(e) => return Ok(e.into_result()),
        };
        if let Err(e) = crate::domain::validate_feature_description(&description) {
            return Ok(ToolError::from(models::Error::from(e)).into_result());
        }
        if wants_async(a.async_mode, true) {
            let r = svc
                .models
                .start_generation(
                    &caller,
                    &svc.jobs,
                    svc.engine.clone(),
                    &description,
                    origin,
                )
                .map(|job| {
                    json!({
                        "job_id": job.id(),
                        "status": "queued",
                        "hint": "poll get_operation_status with this job_id until status is completed; the result holds model_id",
                    })
                })
                .map_err(ToolError::from);
            return done(r);
        }
        // Synchronous: run the pipeline on a blocking thread and forward its steps as
        // progress notifications when the client asked for them.
        let job = match svc
            .jobs
            .create("generate_threat_model", &caller.workspace_id, 6)
        {
            Ok(job) => job,
            Err(busy) => return done(Err(ToolError::Failed(busy.to_string()))),
        };
        let token = ctx.meta.get_progress_token();
        let mut events = token
            .as_ref()
            .and_then(|_| svc.jobs.subscribe(job.id(), &caller.workspace_id))
            .map(|(_, _, rx)| rx);
        let worker_svc = svc.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            worker_svc.models.generate(
                &caller,
                worker_svc.engine.as_ref(),
                &description,
                origin,
                &job,
            )
        });
        let outcome = loop {
            match events.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        r = &mut task => break r,
                        ev = rx.recv() => match ev {
                            Ok(crate::jobs::Event::StepStart { step, total, name }) => {
                                if let Some(t) = &token {
                                    let _ = ctx.peer.notify_progress(
                                        ProgressNotificationParam::new(t.clone(), f64::from(step))
                                            .with_total(f64::from(total))
                                            .with_message(name),
                                    ).await;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => events = None,
                        }
                    }
                }
                None => break (&mut task).await,
            }
        };
        match outcome {
            Ok(Ok(stored)) => ok(generation_summary(&stored)),
            Ok(Err(e)) => Ok(ToolError::from(e).into_result()),
            Err(_) => Ok(ToolError::Failed("generation task failed".into()).into_result()),
        }
    }

    #[tool(
        description = "Refine an existing threat model with a plain-language instruction (add/remove/change assets, attackers, scope). Async by default: returns {job_id} to poll with get_operation_status; async_mode=false waits."
    )]
    async fn refine_threat_model(
        &self,
        Parameters(a): Parameters<RefineArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "refine_threat_model");
        let asynchronous = wants_async(a.async_mode, true);
        self.maybe_async(
            &ctx,
            caller,
            asynchronous,
            "refine_threat_model",
            move |svc, c| {
                let (stored, r) = svc.models.refine(
                    &c,
                    svc.engine.as_ref(),
                    &a.model_id,
                    &a.instruction,
                    Source::Mcp,
                )?;
                let mut out = models::conversation::refined_json(&stored, &r);
                out["assets"] = json!(stored.model.assets.len());
                out["attackers"] = json!(stored.model.attackers.len());
                out["control_objectives"] = json!(stored.model.control_objectives.len());
                out["controls"] = json!(stored.model.controls.len());
                Ok(out)
            },
        )
        .await
    }

    #[tool(
        description = "Re-run control generation for a model (e.g. after adding assets or attackers). Controls produced again keep their id, status and evidence. Sync by default; async_mode=true returns {job_id}."
    )]
    async fn regenerate_controls(
        &self,
        Parameters(a): Parameters<RegenerateArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "regenerate_controls");
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(
            &ctx,
            caller,
            asynchronous,
            "regenerate_controls",
            move |svc, c| {
                let (stored, change) = svc.models.regenerate_controls(
                    &c,
                    svc.engine.as_ref(),
                    &a.model_id,
                    Source::Mcp,
                )?;
                Ok(json!({
                    "model_id": stored.model.id,
                    "version": stored.model.version,
                    "added": change.added,
                    "kept": change.kept,
                    "removed": change.removed,
                    "controls": stored.model.controls.len(),
                }))
            },
        )
        .await
    }

    // ----- retrieval -----

    #[tool(
        description = "List the threat models of your workspace with summary counts (newest change first). Paged with offset/limit; search filters by title or description."
    )]
    async fn list_threat_models(
        &self,
        Parameters(a): Parameters<ListArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let page = svc.models.list(
                &c,
                &ListQuery {
                    offset: a.offset,
                    limit: a.limit,
                    search: a.search,
                },
            )?;
            Ok(json!({
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "models": page.items,
            }))
        })
        .await
    }

    #[tool(
        description = "Get one threat model: description, assets, attackers, trust boundaries, assumptions, a compact control list and summary counts. Control objectives only with include_cos=true (else their count). Use get_controls for control details."
    )]
    async fn get_threat_model(
        &self,
        Parameters(a): Parameters<GetModelArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let stored = svc.models.get(&c, &a.model_id)?;
            let v = svc.models.verification(&c, &a.model_id)?;
            let summary = stored.model.summary(&v);
            let m = &stored.model;
            let mut out = json!({
                "id": m.id,
                "title": m.title,
                "feature_description": m.feature_description,
                "version": m.version,
                "created_at": m.created_at,
                "updated_at": m.updated_at,
                "source": stored.source,
                "assets": m.assets,
                "attackers": m.attackers,
                "trust_boundaries": m.trust_boundaries,
                "assumptions": m.assumptions,
                "controls": m.controls.iter().map(|c| json!({"id": c.id, "name": c.name, "status": c.status})).collect::<Vec<_>>(),
                "summary": summary,
            });
            if a.include_cos.unwrap_or(false) {
                out["control_objectives"] = json!(m.control_objectives);
            } else {
                out["control_objectives_count"] = json!(m.control_objectives.len());
            }
            Ok(out)
        })
        .await
    }

    #[tool(
        description = "Controls of a model. Without filters returns only counts (total, implemented, in_progress, not_implemented, not_applicable). Pass control_id for one control's full details, or status / co_id / offset / limit to list matching controls."
    )]
    async fn get_controls(
        &self,
        Parameters(a): Parameters<ControlsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let status = match a
            .status
            .as_deref()
            .map(|s| parse_status("status", s))
            .transpose()
        {
            Ok(s) => s,
            Err(e) => return Ok(e.into_result()),
        };
        let caller = self.caller(&ctx);
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(&ctx, caller, asynchronous, "get_controls", move |svc, c| {
            let stored = svc.models.get(&c, &a.model_id)?;
            let v = svc.models.verification(&c, &a.model_id)?;
            let model = &stored.model;
            let count = |s: ControlStatus| model.controls.iter().filter(|c| c.status == s).count();
            let mut out = json!({
                "model_id": model.id,
                "total": model.controls.len(),
                "implemented": count(ControlStatus::Implemented),
                "in_progress": count(ControlStatus::InProgress),
                "not_implemented": count(ControlStatus::NotImplemented),
                "not_applicable": count(ControlStatus::NotApplicable),
            });
            if let Some(cid) = &a.control_id {
                let ctl = model
                    .control(cid)
                    .ok_or_else(|| ToolError::NotFound(format!("control {cid}")))?;
                out["control"] = control_json(model, &v, ctl);
                return Ok(out);
            }
            if let Some(co) = &a.co_id
                && model.objective(co).is_none()
            {
                return Err(ToolError::NotFound(format!("control objective {co}")));
            }
            if status.is_none() && a.co_id.is_none() && a.offset.is_none() && a.limit.is_none() {
                out["hint"] =
                    json!("pass status, co_id, control_id or offset/limit to list controls");
                return Ok(out);
            }
            let matching: Vec<&crate::domain::Control> = model
                .controls
                .iter()
                .filter(|c| status.is_none_or(|s| c.status == s))
                .filter(|c| {
                    a.co_id.as_deref().is_none_or(|co| {
                        model
                            .objectives_of_control(&c.id)
                            .iter()
                            .any(|o| o.id.eq_ignore_ascii_case(co))
                    })
                })
                .collect();
            let (offset, limit) = page_bounds(a.offset, a.limit, 20);
            out["matching"] = json!(matching.len());
            out["offset"] = json!(offset);
            out["limit"] = json!(limit);
            out["controls"] = json!(
                matching
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .map(|ctl| control_json(model, &v, ctl))
                    .collect::<Vec<_>>()
            );
            Ok(out)
        })
        .await
    }

    #[tool(
        description = "Control objectives of a model (asset x attacker pairs with the properties to protect, risk tier and mitigating controls), paged with offset/limit."
    )]
    async fn get_control_objectives(
        &self,
        Parameters(a): Parameters<PagedModelArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let stored = svc.models.get(&c, &a.model_id)?;
            let (offset, limit) = page_bounds(a.offset, a.limit, 50);
            let cos = &stored.model.control_objectives;
            Ok(json!({
                "model_id": stored.model.id,
                "total": cos.len(),
                "offset": offset,
                "limit": limit,
                "control_objectives": cos.iter().skip(offset).take(limit).collect::<Vec<_>>(),
            }))
        })
        .await
    }

    #[tool(
        description = "Assurance posture of a model. Returns summary counts only, unless status is given (implemented, at_risk, not_started, verified, unverified): then lists those control objectives with their assurance (paged with offset/limit)."
    )]
    async fn assess_model(
        &self,
        Parameters(a): Parameters<AssessArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let filter = match a.status.as_deref().map(parse_filter).transpose() {
            Ok(f) => f,
            Err(e) => return Ok(e.into_result()),
        };
        self.run(self.caller(&ctx), move |svc, c| {
            let (summary, cos) = svc.models.assess(&c, &a.model_id, filter)?;
            let mut out = json!({ "model_id": a.model_id, "summary": summary });
            if filter.is_some() {
                let (offset, limit) = page_bounds(a.offset, a.limit, 50);
                out["total"] = json!(cos.len());
                out["control_objectives"] =
                    json!(cos.into_iter().skip(offset).take(limit).collect::<Vec<_>>());
            }
            Ok(out)
        })
        .await
    }

    #[tool(
        description = "Controls needing re-verification: stale verification (older than stale_after_hours, default 168), failing or drifted assertions."
    )]
    async fn get_review_queue(
        &self,
        Parameters(a): Parameters<ReviewArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let q =
                svc.assurance
                    .review_queue(&c, &a.model_id, a.stale_after_hours.unwrap_or(168))?;
            Ok(json!({"model_id": a.model_id, "total": q.len(), "controls": q}))
        })
        .await
    }

    #[tool(
        description = "Import existing controls into a model, each mapped to control objectives (co_ids). Existing controls are kept. Sync by default; async_mode=true returns {job_id}."
    )]
    async fn import_controls(
        &self,
        Parameters(a): Parameters<ImportControlsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "import_controls");
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(&ctx, caller, asynchronous, "import_controls", move |svc, c| {
            let raw = json_array("controls_json", a.controls_json)?;
            let items = raw
                .into_iter()
                .enumerate()
                .map(|(i, v)| from_json(&format!("controls_json[{i}]"), v))
                .collect::<Result<Vec<crate::domain::ImportedControl>, _>>()?;
            let imported = crate::domain::imported_controls("controls_json", items, "imported via MCP")
                .map_err(|e| ToolError::from(models::Error::from(e)))?;
            let (s, change) = svc.models.import_controls(&c, &a.model_id, imported, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "version": s.model.version, "added": change.added, "kept": change.kept, "removed": change.removed, "controls": s.model.controls.len()}))
        })
        .await
    }

    #[tool(
        description = "Find control gaps: control objectives with no mitigation, or whose every mitigating control is still not implemented. Read only. Sync by default; async_mode=true returns {job_id}."
    )]
    async fn check_control_gaps(
        &self,
        Parameters(a): Parameters<GapArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.caller(&ctx);
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(
            &ctx,
            caller,
            asynchronous,
            "check_control_gaps",
            move |svc, c| {
                let stored = svc.models.get(&c, &a.model_id)?;
                Ok(
                    serde_json::to_value(crate::domain::control_gaps(&stored.model))
                        .unwrap_or_default(),
                )
            },
        )
        .await
    }

    // ----- manage -----

    #[tool(description = "Rename a threat model.")]
    async fn rename_threat_model(
        &self,
        Parameters(a): Parameters<RenameArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "rename_threat_model"), move |svc, c| {
            let s = svc.models.rename(&c, &a.model_id, &a.title, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "title": s.model.title, "version": s.model.version}))
        })
        .await
    }

    #[tool(
        description = "Delete a threat model permanently (with its assertions and findings).",
        annotations(destructive_hint = true)
    )]
    async fn delete_threat_model(
        &self,
        Parameters(a): Parameters<ModelArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "delete_threat_model"), move |svc, c| {
            svc.models.delete(&c, &a.model_id, Source::Mcp)?;
            Ok(json!({"model_id": a.model_id, "deleted": true}))
        })
        .await
    }

    // ----- queries -----

    #[tool(
        description = "Ask a question about a threat model in plain language (e.g. which controls protect an asset, what is at risk). Read only. Sync by default; async_mode=true returns {job_id}."
    )]
    async fn query_threat_model(
        &self,
        Parameters(a): Parameters<QueryArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.caller(&ctx);
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(
            &ctx,
            caller,
            asynchronous,
            "query_threat_model",
            move |svc, c| {
                let answer = svc
                    .models
                    .query(&c, svc.engine.as_ref(), &a.model_id, &a.question)?;
                Ok(json!({"model_id": a.model_id, "answer": answer}))
            },
        )
        .await
    }

    // ----- updates -----

    #[tool(
        description = "Set a control's implementation status (not_implemented, in_progress, implemented, not_applicable) with optional notes. Submit assertions (submit_assertions) to prove implemented controls."
    )]
    async fn update_control_status(
        &self,
        Parameters(a): Parameters<ControlStatusArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let status = match parse_status("status", &a.status) {
            Ok(s) => s,
            Err(e) => return Ok(e.into_result()),
        };
        self.run(self.writer(&ctx, "update_control_status"), move |svc, c| {
            let cid = a.control_id.clone();
            let notes = a.notes.clone();
            let s = svc.models.record_control_status(
                &c,
                &a.model_id,
                &cid,
                status,
                notes.as_deref(),
                Source::Mcp,
            )?;
            Ok(json!({"model_id": s.model.id, "control_id": a.control_id, "status": status, "version": s.model.version}))
        })
        .await
    }

    #[tool(
        description = "Propose a refined (less prescriptive) description for a control with a justification. It is accepted only if the control still addresses every security aspect its control objectives rely on; the answer says accepted or rejected and why."
    )]
    async fn refine_control(
        &self,
        Parameters(a): Parameters<RefineControlArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "refine_control"), move |svc, c| {
            let r = svc
                .models
                .refine_control(
                &c,
                &a.model_id,
                &a.control_id,
                &a.new_description,
                &a.justification,
                Source::Mcp,
            )
                .map_err(|e| match e {
                    models::Error::Invalid { field, message } if field == "description" => {
                        ToolError::Invalid { field: "new_description".into(), message }
                    }
                    other => ToolError::from(other),
                })?;
            Ok(json!({"model_id": a.model_id, "control_id": a.control_id, "accepted": r.accepted, "evaluation": r.evaluation, "control_objectives": r.control_objectives}))
        })
        .await
    }

    #[tool(
        description = "Attach an evidence item (title and reference such as a URL or file path) to a control."
    )]
    async fn add_evidence(
        &self,
        Parameters(a): Parameters<AddEvidenceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "add_evidence"), move |svc, c| {
            let ev = NewEvidence {
                title: a.title,
                reference: a.reference.unwrap_or_default(),
            };
            let cid = a.control_id.clone();
            let (s, eid) = svc
                .models
                .add_evidence(&c, &a.model_id, &cid, ev, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "control_id": a.control_id, "evidence_id": eid, "version": s.model.version}))
        })
        .await
    }

    #[tool(description = "Remove an evidence item from a control.")]
    async fn remove_evidence(
        &self,
        Parameters(a): Parameters<RemoveEvidenceArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "remove_evidence"), move |svc, c| {
            let (cid, eid) = (a.control_id.clone(), a.evidence_id.clone());
            let s = svc
                .models
                .remove_evidence(&c, &a.model_id, &cid, &eid, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "evidence_id": a.evidence_id, "removed": true, "version": s.model.version}))
        })
        .await
    }

    // ----- entity management -----

    #[tool(
        description = "Add an asset to a model. Control objectives for it are derived; call regenerate_controls afterwards to get controls for them."
    )]
    async fn add_asset(
        &self,
        Parameters(a): Parameters<AddAssetArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "add_asset"), move |svc, c| {
            let asset: NewAsset = from_json(
                "asset",
                json!({
                    "name": a.name,
                    "description": a.description.unwrap_or_default(),
                    "properties": a.properties,
                    "impact": a.impact.trim().to_ascii_lowercase(),
                    "rationale": a.rationale.unwrap_or_default(),
                }),
            )?;
            let (s, id) = svc.models.add_asset(&c, &a.model_id, asset, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "asset_id": id, "version": s.model.version, "control_objectives": s.model.control_objectives.len()}))
        })
        .await
    }

    #[tool(description = "Edit an asset; omitted fields are kept.")]
    async fn edit_asset(
        &self,
        Parameters(a): Parameters<EditAssetArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "edit_asset"), move |svc, c| {
            let patch: AssetPatch = from_json(
                "asset",
                json!({
                    "name": a.name,
                    "description": a.description,
                    "properties": a.properties,
                    "impact": a.impact.map(|s| s.trim().to_ascii_lowercase()),
                    "rationale": a.rationale,
                }),
            )?;
            let aid = a.asset_id.clone();
            let s = svc
                .models
                .edit_asset(&c, &a.model_id, &aid, patch, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "asset_id": a.asset_id, "version": s.model.version}))
        })
        .await
    }

    #[tool(
        description = "Remove an asset (its control objectives go too; controls only serving them are dropped). Pass asset_id and an optional reason.",
        annotations(destructive_hint = true)
    )]
    async fn remove_asset(
        &self,
        Parameters(a): Parameters<RemoveEntityArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "remove_asset"), move |svc, c| {
            let id = a.entity_id.clone();
            let reason = a.reason.unwrap_or_else(|| "removed via MCP".into());
            let s = svc
                .models
                .remove_asset(&c, &a.model_id, &id, &reason, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "asset_id": a.entity_id, "removed": true, "version": s.model.version}))
        })
        .await
    }

    #[tool(
        description = "Add an attacker to a model. Control objectives are derived; call regenerate_controls afterwards for their controls."
    )]
    async fn add_attacker(
        &self,
        Parameters(a): Parameters<AddAttackerArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "add_attacker"), move |svc, c| {
            let attacker: NewAttacker = from_json(
                "attacker",
                json!({
                    "name": a.name,
                    "description": a.description.unwrap_or_default(),
                    "capability": a.capability.unwrap_or_default(),
                    "position": a.position.trim().to_ascii_lowercase(),
                    "likelihood": a.likelihood.trim().to_ascii_lowercase(),
                    "threatens": a.threatens.unwrap_or_default(),
                    "rationale": a.rationale.unwrap_or_default(),
                }),
            )?;
            let (s, id) = svc
                .models
                .add_attacker(&c, &a.model_id, attacker, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "attacker_id": id, "version": s.model.version, "control_objectives": s.model.control_objectives.len()}))
        })
        .await
    }

    #[tool(description = "Edit an attacker; omitted fields are kept.")]
    async fn edit_attacker(
        &self,
        Parameters(a): Parameters<EditAttackerArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "edit_attacker"), move |svc, c| {
            let patch: AttackerPatch = from_json(
                "attacker",
                json!({
                    "name": a.name,
                    "description": a.description,
                    "capability": a.capability,
                    "position": a.position.map(|s| s.trim().to_ascii_lowercase()),
                    "likelihood": a.likelihood.map(|s| s.trim().to_ascii_lowercase()),
                    "threatens": a.threatens,
                }),
            )?;
            let aid = a.attacker_id.clone();
            let s = svc
                .models
                .edit_attacker(&c, &a.model_id, &aid, patch, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "attacker_id": a.attacker_id, "version": s.model.version}))
        })
        .await
    }

    #[tool(
        description = "Remove an attacker (its control objectives go too). Pass attacker_id and an optional reason.",
        annotations(destructive_hint = true)
    )]
    async fn remove_attacker(
        &self,
        Parameters(a): Parameters<RemoveEntityArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "remove_attacker"), move |svc, c| {
            let id = a.entity_id.clone();
            let reason = a.reason.unwrap_or_else(|| "removed via MCP".into());
            let s = svc
                .models
                .remove_attacker(&c, &a.model_id, &id, &reason, Source::Mcp)?;
            Ok(json!({"model_id": s.model.id, "attacker_id": a.entity_id, "removed": true, "version": s.model.version}))
        })
        .await
    }

    // ----- evidence verification -----

    #[tool(
        description = "Submit typed, machine-verifiable assertions proving a control is implemented (e.g. function_exists, test_passes, config_key_exists, http_header_set). All-or-nothing; errors name the failing assertions[i].field. Verify each locally first: `rampart verify verify <type> -p key=value --project-root .`. Returns the stored assertions, coherence warnings and the control's sufficiency."
    )]
    async fn submit_assertions(
        &self,
        Parameters(a): Parameters<SubmitAssertionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "submit_assertions"), move |svc, c| {
            let items: Vec<crate::assurance::NewAssertion> =
                json_array("assertions_json", a.assertions_json)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| from_json(&format!("assertions_json[{i}]"), v))
                    .collect::<Result<_, _>>()?;
            let out = svc.assurance.submit_assertions(
                &c,
                &a.model_id,
                &a.control_id,
                &items,
                Source::Mcp,
            )?;
            Ok(serde_json::to_value(out).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "List the assertions of a model, optionally of one control, with their tier-1/tier-2 verification status. One page at a time (limit, default 100, max 500): when next_cursor is not null, call again with cursor=next_cursor for the rest; total counts all pages."
    )]
    async fn list_assertions(
        &self,
        Parameters(a): Parameters<ListAssertionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let page = crate::assurance::paging::PageQuery {
                limit: a.limit,
                cursor: a.cursor.clone(),
            };
            let p = svc.assurance.list_assertions_page(
                &c,
                &a.model_id,
                a.control_id.as_deref(),
                &page,
            )?;
            Ok(
                json!({"model_id": a.model_id, "total": p.total, "limit": p.limit, "next_cursor": p.next_cursor, "assertions": p.items}),
            )
        })
        .await
    }

    #[tool(
        description = "Delete an assertion (the control's sufficiency is re-evaluated).",
        annotations(destructive_hint = true)
    )]
    async fn delete_assertion(
        &self,
        Parameters(a): Parameters<DeleteAssertionArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "delete_assertion"), move |svc, c| {
            svc.assurance
                .delete_assertion(&c, &a.model_id, &a.assertion_id)?;
            Ok(json!({"model_id": a.model_id, "assertion_id": a.assertion_id, "deleted": true}))
        })
        .await
    }

    #[tool(
        description = "Verification report of a model: assertion counts per tier and status, per-control verification, drift and the latest CI runs."
    )]
    async fn get_verification_report(
        &self,
        Parameters(a): Parameters<ModelArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            Ok(svc.assurance.report(&c, &a.model_id)?)
        })
        .await
    }

    // ----- gap discovery -----

    #[tool(
        description = "Record negative findings (gaps): what was expected, where you looked (checked_locations) and what you searched for (checked_patterns). Get guidance first with get_scan_prompt."
    )]
    async fn submit_findings(
        &self,
        Parameters(a): Parameters<SubmitFindingsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "submit_findings"), move |svc, c| {
            let raw = match a.findings_json {
                Value::Object(mut o) if o.contains_key("findings") => {
                    o.remove("findings").unwrap_or_default()
                }
                other => other,
            };
            let items: Vec<crate::assurance::findings::NewFinding> =
                json_array("findings_json", raw)?
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| from_json(&format!("findings_json[{i}]"), v))
                    .collect::<Result<_, _>>()?;
            let out = svc.assurance.submit_findings(&c, &a.model_id, &items)?;
            Ok(json!({"model_id": a.model_id, "findings": out}))
        })
        .await
    }

    #[tool(
        description = "List findings of a model, optionally by control_id and status. One page at a time (limit, default 100, max 500): when next_cursor is not null, call again with cursor=next_cursor for the rest; total counts all pages."
    )]
    async fn list_findings(
        &self,
        Parameters(a): Parameters<ListFindingsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let page = crate::assurance::paging::PageQuery {
                limit: a.limit,
                cursor: a.cursor.clone(),
            };
            let p = svc.assurance.list_findings_page(
                &c,
                &a.model_id,
                a.control_id.as_deref(),
                a.status.as_deref(),
                &page,
            )?;
            Ok(
                json!({"model_id": a.model_id, "total": p.total, "limit": p.limit, "next_cursor": p.next_cursor, "findings": p.items}),
            )
        })
        .await
    }

    #[tool(
        description = "Move a finding forward in its lifecycle: discovered -> acknowledged -> remediated (link assertion ids proving the fix; it becomes verified when they pass CI), or dismissed with a reason."
    )]
    async fn update_finding(
        &self,
        Parameters(a): Parameters<UpdateFindingArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "update_finding"), move |svc, c| {
            let t = crate::assurance::findings::Transition {
                status: a.status,
                reason: a.reason,
                linked_assertions: a.linked_assertions,
            };
            let f = svc
                .assurance
                .transition_finding(&c, &a.model_id, &a.finding_id, &t)?;
            Ok(serde_json::to_value(f).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "A structured guide for scanning your codebase for gaps against not-implemented controls (optionally one control). Deterministic; costs nothing."
    )]
    async fn get_scan_prompt(
        &self,
        Parameters(a): Parameters<ControlFilterArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let p = svc
                .assurance
                .scan_prompt(&c, &a.model_id, a.control_id.as_deref())?;
            Ok(json!({"model_id": a.model_id, "prompt": p}))
        })
        .await
    }

    // ----- compliance -----

    #[tool(
        description = "List the offline compliance framework catalogs (OWASP ASVS 5.0, NIST SP 800-53 Rev. 5, NIST CSF 2.0, ISO/IEC 27001:2022 Annex A, SOC 2 TSC, PCI DSS v4.0, CIS Controls v8.1, HIPAA Security Rule, plus any configured extras) with requirement counts and profiles (levels/baselines). Pass framework_id to list its requirements (paged with offset/limit, filter by group or profile)."
    )]
    async fn list_compliance_frameworks(
        &self,
        Parameters(a): Parameters<ListFrameworksArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.caller(&ctx);
        self.run(caller, move |svc, _c| {
            let Some(fid) = a.framework_id.as_deref().filter(|f| !f.trim().is_empty()) else {
                let list = svc.compliance.frameworks();
                return Ok(json!({
                    "total": list.len(),
                    "frameworks": list.iter().map(|f| json!({
                        "id": f.id, "name": f.name, "version": f.version, "publisher": f.publisher,
                        "requirement_count": f.requirement_count,
                        "profiles": f.profiles.iter().map(|p| &p.id).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "next": "select_compliance_frameworks links frameworks to a model (framework_ids like \"owasp-asvs-5:L2\" or \"nist-800-53-r5:moderate\")",
                }));
            };
            let fw = svc.compliance.framework(fid)?;
            let profile = match a.profile.as_deref().filter(|p| !p.trim().is_empty()) {
                Some(p) => Some(fw.profile(p).ok_or_else(|| {
                    invalid("profile", format!("unknown profile {p:?} of {}", fw.id))
                })?),
                None => None,
            };
            let items: Vec<_> = fw
                .requirements
                .iter()
                .filter(|r| a.group.as_deref().is_none_or(|g| r.group.eq_ignore_ascii_case(g.trim())))
                .filter(|r| profile.is_none_or(|p| r.level.is_some_and(|l| l <= p.rank)))
                .collect();
            let offset = a.offset.unwrap_or(0) as usize;
            let limit = a.limit.unwrap_or(50).clamp(1, 500) as usize;
            Ok(json!({
                "framework": crate::compliance::FrameworkSummary::from(fw),
                "total": items.len(), "offset": offset, "limit": limit,
                "requirements": items.into_iter().skip(offset).take(limit).collect::<Vec<_>>(),
            }))
        })
        .await
    }

    #[tool(
        description = "Link compliance frameworks to a model: framework_ids replaces the model's selection (an empty list clears it); an item may name a profile after a colon (\"owasp-asvs-5:L2\", \"nist-800-53-r5:moderate\", \"cis-controls-8.1:IG1\") to limit the report to that level/baseline. Newly selected frameworks are auto-mapped at once."
    )]
    async fn select_compliance_frameworks(
        &self,
        Parameters(a): Parameters<SelectFrameworksArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "select_compliance_frameworks");
        self.run(caller, move |svc, c| {
            let inputs: Vec<crate::compliance::SelectionInput> = a
                .framework_ids
                .into_iter()
                .map(crate::compliance::SelectionInput::Text)
                .collect();
            let (sel, summary) = svc.compliance.select(&c, &a.model_id, &inputs)?;
            Ok(json!({
                "model_id": a.model_id, "frameworks": sel, "auto_map": summary,
                "next": "get_compliance_report with framework_id (and status=\"uncovered\") shows the gaps",
            }))
        })
        .await
    }

    #[tool(
        description = "Compliance report of a model for one selected framework: each requirement is covered (mapped controls implemented and verified by CI), partial (mapped but not all implemented/verified), uncovered (nothing mapped) or not_applicable (with a reason). Summary first: counts, percentage and per-group counts; pass status, group, requirement_id or offset/limit for the requirements with their controls."
    )]
    async fn get_compliance_report(
        &self,
        Parameters(a): Parameters<ComplianceReportArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.caller(&ctx);
        self.run(caller, move |svc, c| {
            let mut rep = svc.compliance.report(&c, &a.model_id, &a.framework_id)?;
            let detail = a.status.is_some()
                || a.group.is_some()
                || a.requirement_id.is_some()
                || a.offset.is_some()
                || a.limit.is_some();
            let mut groups: std::collections::BTreeMap<String, std::collections::BTreeMap<&str, usize>> =
                std::collections::BTreeMap::new();
            for r in &rep.requirements {
                *groups.entry(r.group.clone()).or_default().entry(r.status.as_str()).or_default() += 1;
            }
            let summary = json!({
                "model_id": rep.model_id, "framework_id": rep.framework_id,
                "framework": rep.framework_name, "profile": rep.profile,
                "counts": rep.counts, "unmapped_controls": rep.unmapped_controls.len(),
                "by_group": groups,
            });
            if !detail {
                let mut s = summary;
                s["next"] = json!("pass status=\"uncovered\" (or partial) for the requirements; suggest_compliance_remediation proposes fixes");
                return Ok(s);
            }
            crate::compliance::report::filter(
                &mut rep,
                a.status.as_deref(),
                a.group.as_deref(),
                a.requirement_id.as_deref(),
            )?;
            let total = rep.requirements.len();
            let offset = a.offset.unwrap_or(0) as usize;
            let limit = a.limit.unwrap_or(50).clamp(1, 500) as usize;
            let mut s = summary;
            s["total"] = json!(total);
            s["offset"] = json!(offset);
            s["limit"] = json!(limit);
            s["requirements"] = json!(rep.requirements.into_iter().skip(offset).take(limit).collect::<Vec<_>>());
            Ok(s)
        })
        .await
    }

    #[tool(
        description = "Add (action=\"add\", the default) or remove (action=\"remove\") a manual mapping between a control and a requirement of a selected framework. reason records why (shown to auditors). Removing a catalog mapping keeps auto_map_controls from adding it back."
    )]
    async fn map_control_to_requirement(
        &self,
        Parameters(a): Parameters<MapControlArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "map_control_to_requirement");
        self.run(caller, move |svc, c| {
            match a.action.as_deref().map(str::trim).unwrap_or("add") {
                "add" | "" => {
                    let m = svc.compliance.map(
                        &c,
                        &a.model_id,
                        &a.control_id,
                        &a.framework_id,
                        &a.requirement_id,
                        a.reason.as_deref(),
                    )?;
                    Ok(json!({"action": "added", "mapping": m}))
                }
                "remove" => {
                    svc.compliance.unmap(
                        &c,
                        &a.model_id,
                        &a.control_id,
                        &a.framework_id,
                        &a.requirement_id,
                    )?;
                    Ok(json!({"action": "removed", "control_id": a.control_id, "framework_id": a.framework_id, "requirement_id": a.requirement_id}))
                }
                other => Err(invalid("action", format!("{other:?}: use \"add\" or \"remove\""))),
            }
        })
        .await
    }

    #[tool(
        description = "Map every control of a model to the requirements of its selected frameworks (or only framework_id), offline from the controls' NIST SP 800-53 / ASVS / CWE references and the catalog crosswalks. With an LLM configured, the LLM is then asked about the controls the crosswalk left unmapped (its links are marked source=llm, mapped_by=llm:<model>, with its reason; llm_added counts them, warnings say when it could not answer). Each mapping records who mapped it and why; manual mappings are kept and removed ones stay removed. Sync by default; async_mode=true runs it as a job."
    )]
    async fn auto_map_controls(
        &self,
        Parameters(a): Parameters<AutoMapArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "auto_map_controls");
        let asynchronous = wants_async(a.async_mode, false);
        self.maybe_async(
            &ctx,
            caller,
            asynchronous,
            "auto_map_controls",
            move |svc, c| {
                let s = svc
                    .compliance
                    .auto_map(&c, &a.model_id, a.framework_id.as_deref())?;
                Ok(serde_json::to_value(s).unwrap_or_default())
            },
        )
        .await
    }

    #[tool(
        description = "Propose assets, attackers and the catalog controls they bring that would cover a framework's uncovered requirements, each naming the requirements it serves (offline, proven by simulating control regeneration). Async by default: returns {job_id}; poll get_operation_status (3 steps); the result holds remediation_id and the suggestions. Then apply_compliance_remediation with the approved suggestion ids."
    )]
    async fn suggest_compliance_remediation(
        &self,
        Parameters(a): Parameters<SuggestRemediationArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = match self.writer(&ctx, "suggest_compliance_remediation") {
            Ok(c) => c,
            Err(e) => return Ok(e.into_result()),
        };
        if wants_async(a.async_mode, true) {
            let r = self
                .svc
                .compliance
                .start_remediation(&caller, &self.svc.jobs, &a.model_id, &a.framework_id)
                .map(|job| {
                    json!({
                        "job_id": job.id(),
                        "status": "queued",
                        "hint": "poll get_operation_status with this job_id until status is completed; the result holds remediation_id and suggestions",
                    })
                })
                .map_err(ToolError::from);
            return done(r);
        }
        self.run(Ok(caller), move |svc, c| {
            let rem = svc
                .compliance
                .suggest(&c, &a.model_id, &a.framework_id, None)?;
            Ok(serde_json::to_value(rem).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "Apply the approved suggestions (suggestion_ids) of a remediation from suggest_compliance_remediation: adds the suggested assets and attackers in one model change (their control objectives follow). Then call regenerate_controls to generate controls for the new objectives, and auto_map_controls to map them."
    )]
    async fn apply_compliance_remediation(
        &self,
        Parameters(a): Parameters<ApplyRemediationArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let caller = self.writer(&ctx, "apply_compliance_remediation");
        self.run(caller, move |svc, c| {
            Ok(svc.compliance.apply(
                &c,
                &a.model_id,
                &a.remediation_id,
                &a.suggestion_ids,
                Source::Mcp,
            )?)
        })
        .await
    }

    // ----- workspaces -----

    #[tool(
        description = "Workspaces you belong to; the one your API key is scoped to is marked current."
    )]
    async fn list_workspaces(
        &self,
        Parameters(_a): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |svc, c| {
            let list = svc.auth.list_workspaces(&c.user_id)?;
            let items: Vec<Value> = list
                .into_iter()
                .map(|w| {
                    let mut v = serde_json::to_value(&w).unwrap_or_default();
                    let current =
                        v.get("id").and_then(Value::as_str) == Some(c.workspace_id.as_str());
                    v["current"] = json!(current);
                    v
                })
                .collect();
            Ok(json!({"current_workspace_id": c.workspace_id, "workspaces": items}))
        })
        .await
    }

    // ----- systems -----

    #[tool(
        description = "Systems (named groups of threat models) of your workspace, with their models."
    )]
    async fn list_systems(
        &self,
        Parameters(_a): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |_svc, c| {
            let list = systems::list(&c)?;
            Ok(json!({"total": list.len(), "systems": list}))
        })
        .await
    }

    #[tool(description = "One system with its threat models.")]
    async fn get_system(
        &self,
        Parameters(a): Parameters<SystemArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.caller(&ctx), move |_svc, c| {
            Ok(serde_json::to_value(systems::get(&c, &a.system_id)?).unwrap_or_default())
        })
        .await
    }

    #[tool(
        description = "Create a system (a named group of threat models), optionally with initial model_ids."
    )]
    async fn create_system(
        &self,
        Parameters(a): Parameters<CreateSystemArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "create_system"), move |_svc, c| {
            let s = systems::create(
                &c,
                &a.name,
                a.description.as_deref().unwrap_or_default(),
                &a.model_ids.unwrap_or_default(),
            )?;
            Ok(serde_json::to_value(s).unwrap_or_default())
        })
        .await
    }

    #[tool(description = "Add a threat model to a system.")]
    async fn add_model_to_system(
        &self,
        Parameters(a): Parameters<AddModelToSystemArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        self.run(self.writer(&ctx, "add_model_to_system"), move |_svc, c| {
            let s = systems::add_model(&c, &a.system_id, &a.model_id)?;
            Ok(serde_json::to_value(s).unwrap_or_default())
        })
        .await
    }

    // ----- export -----

    #[tool(
        description = "Export a threat model: format pdf, html, csv (one table: assets, attackers, objectives, controls or assertions), json (the full model document with its schema version) or sarif (controls at risk, drifted or unverified, for code scanning); report threat-model (default) or assurance (the audit-ready evidence report: verification status, assertions with their commits, drift, findings, runs with hashes, signatures and openssl commands). Returns {format, report, filename, media_type, bytes, sha256} plus content (text formats) or content_base64 (pdf); the same bytes as GET /api/models/{id}/export. format=jira creates or updates one Jira issue per control under the model's container issue (idempotent), format=confluence creates or updates the model's Confluence page; both need a workspace in an organization whose admin configured the integration, and return what was done plus the links."
    )]
    async fn export_threat_model(
        &self,
        Parameters(a): Parameters<ExportArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let format_name = a
            .format
            .as_deref()
            .unwrap_or("csv")
            .trim()
            .to_ascii_lowercase();
        if matches!(format_name.as_str(), "jira" | "confluence") {
            let format = format_name;
            return self
                .run(self.caller(&ctx), move |svc, c| {
                    let outcome = if format == "jira" {
                        svc.integrations.export_jira(&c, &a.model_id)?
                    } else {
                        svc.integrations.sync_confluence(&c, &a.model_id)?
                    };
                    let links = svc.integrations.model_status(&c, &a.model_id)?;
                    Ok(json!({
                        "model_id": a.model_id,
                        "format": format,
                        "outcome": outcome,
                        "jira": links.jira,
                        "confluence": links.confluence,
                    }))
                })
                .await;
        }
        let req = match crate::reports::ExportRequest::parse(
            Some(&format_name),
            a.report.as_deref(),
            a.table.as_deref(),
        ) {
            Ok(r) => r,
            Err(crate::reports::Error::Invalid { field, message }) => {
                return Ok(invalid(&field, message).into_result());
            }
            Err(e) => return Ok(ToolError::Failed(e.to_string()).into_result()),
        };
        self.run(self.caller(&ctx), move |svc, c| {
            let out = svc
                .exports
                .export(&c, &a.model_id, req, Source::Mcp)
                .map_err(ToolError::from)?;
            use base64::Engine as _;
            use sha2::Digest as _;
            let mut body = json!({
                "model_id": out.model_id,
                "format": req.format.as_str(),
                "report": req.report.as_str(),
                "table": req.table.map(crate::reports::Table::as_str),
                "filename": out.filename,
                "media_type": out.media_type,
                "bytes": out.bytes.len(),
                "sha256": hex::encode(sha2::Sha256::digest(&out.bytes)),
            });
            if req.format == crate::reports::Format::Pdf {
                body["content_base64"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(&out.bytes));
            } else {
                body["content"] = json!(String::from_utf8_lossy(&out.bytes));
            }
            Ok(body)
        })
        .await
    }

    // ----- async -----

    #[tool(
        description = "Status of a background job started by an async tool: {status: queued|running|completed|failed, progress, total, message, result (when completed), error (when failed)}. Jobs expire one hour after they finish; their results (models) stay saved."
    )]
    async fn get_operation_status(
        &self,
        Parameters(a): Parameters<JobArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> ToolResult {
        let c = match self.caller(&ctx) {
            Ok(c) => c,
            Err(e) => return Ok(e.into_result()),
        };
        done(
            self.svc
                .jobs
                .get(a.job_id.trim(), &c.workspace_id)
                .map(|s| serde_json::to_value(s).unwrap_or_default())
                .ok_or_else(|| {
                    ToolError::NotFound(format!(
                        "job {} (jobs expire one hour after they finish)",
                        a.job_id
                    ))
                }),
        )
    }
}
