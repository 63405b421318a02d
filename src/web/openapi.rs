//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the REST surface.
//!
//! The document is built from [`OPERATIONS`], one row per registered route. Each row names
//! the MCP tools it serves (`x-mcp-tools`), so agents and humans can move between the two
//! surfaces; the integration test `openapi::` checks the table against the routes the
//! server really registers (in both directions) and against the MCP tool list.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};

use super::AppState;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(document));
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Anyone (sign-in, setup, public badges, health).
    Public,
    /// A signed-in browser session only (account, MFA, key and admin management).
    Session,
    /// A session, an API key (`X-API-Key`) or an OAuth access token (`Authorization: Bearer`).
    Caller,
    /// CI: a verifier key, a session, or the workspace's ES256 JWT.
    Verifier,
}

/// One operation of the REST surface.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template with `{name}` parameters, as registered.
    pub path: &'static str,
    /// Group in the document.
    pub tag: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Who may call it.
    pub auth: Auth,
    /// MCP tools that make the same service call.
    pub tools: &'static [&'static str],
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Auth,
    tools: &'static [&'static str],
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        auth,
        tools,
    }
}

use Auth::{Caller, Public, Session, Verifier};

/// Every operation under `/api`, plus the OAuth endpoints agents call.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    // setup and sign-in
    op("GET", "/api/setup", "auth", "Whether the first administrator still has to be created", Public, &[]),
    op("POST", "/api/setup", "auth", "Create the first administrator (once)", Public, &[]),
    op("POST", "/api/auth/login", "auth", "Sign in with email and password; answers which second factor is needed", Public, &[]),
    op("POST", "/api/auth/logout", "auth", "Sign out of this session", Session, &[]),
    op("GET", "/api/auth/signup", "auth", "Whether self sign-up is open, and for which email domains", Public, &[]),
    op("POST", "/api/auth/signup", "auth", "Sign up (when SIGNUP_ENABLED); sends a verification code", Public, &[]),
    op("POST", "/api/auth/signup/verify", "auth", "Confirm a sign-up with the emailed code", Public, &[]),
    op("GET", "/api/auth/password-reset/{token}", "auth", "Whether a password-reset link is still valid", Public, &[]),
    op("POST", "/api/auth/password-reset/{token}", "auth", "Set a new password with a reset link", Public, &[]),
    op("POST", "/api/auth/mfa/totp", "auth", "Second factor: a TOTP code", Public, &[]),
    op("POST", "/api/auth/mfa/recovery", "auth", "Second factor: a recovery code", Public, &[]),
    op("POST", "/api/auth/mfa/webauthn/start", "auth", "Second factor: start a WebAuthn assertion", Public, &[]),
    op("POST", "/api/auth/mfa/webauthn/finish", "auth", "Second factor: finish a WebAuthn assertion", Public, &[]),
    // the caller's own account
    op("GET", "/api/me", "account", "The caller: user, workspace, role and scope", Caller, &[]),
    op("POST", "/api/me/password", "account", "Change the password (current password required)", Session, &[]),
    op("GET", "/api/me/sessions", "account", "The caller's signed-in sessions", Session, &[]),
    op("DELETE", "/api/me/sessions", "account", "Sign out every other session", Session, &[]),
    op("DELETE", "/api/me/llm-cache", "account", "Clear the caller's own cached LLM answers", Session, &[]),
    op("DELETE", "/api/me/sessions/{id}", "account", "Sign out one session", Session, &[]),
    op("GET", "/api/me/credits", "account", "The caller's credits: balance, monthly allowance, used, reset date, recent consumption", Caller, &[]),
    op("GET", "/api/oauth/grants", "account", "Applications the caller authorized with OAuth", Session, &[]),
    op("DELETE", "/api/oauth/grants/{id}", "account", "Revoke an authorized application and all its tokens", Session, &[]),
    op("GET", "/api/mfa", "mfa", "Second factors of the caller", Session, &[]),
    op("POST", "/api/mfa/totp/setup", "mfa", "Start TOTP enrolment (secret and otpauth URI)", Session, &[]),
    op("POST", "/api/mfa/totp/confirm", "mfa", "Confirm TOTP enrolment with a code", Session, &[]),
    op("POST", "/api/mfa/totp/remove", "mfa", "Remove TOTP (password required)", Session, &[]),
    op("POST", "/api/mfa/recovery-codes", "mfa", "Issue new recovery codes (the old ones stop working)", Session, &[]),
    op("POST", "/api/mfa/webauthn/register/start", "mfa", "Start registering a security key or passkey", Session, &[]),
    op("POST", "/api/mfa/webauthn/register/finish", "mfa", "Finish registering a security key or passkey", Session, &[]),
    op("PATCH", "/api/mfa/webauthn/{id}", "mfa", "Rename a security key", Session, &[]),
    op("POST", "/api/mfa/webauthn/{id}/remove", "mfa", "Remove a security key (password required)", Session, &[]),
    op("GET", "/api/api-keys", "api-keys", "The caller's API keys (prefixes only)", Session, &[]),
    op("POST", "/api/api-keys", "api-keys", "Create a developer (mk_) or verifier (mv_) key for a workspace; shown once", Session, &[]),
    op("DELETE", "/api/api-keys/{id}", "api-keys", "Revoke an API key", Session, &[]),
    // users (superadmin)
    op("GET", "/api/users", "users", "Users of the appliance (superadmin)", Session, &[]),
    op("POST", "/api/users", "users", "Create a user (superadmin)", Session, &[]),
    op("GET", "/api/users/{id}", "users", "One user (superadmin)", Session, &[]),
    op("PATCH", "/api/users/{id}", "users", "Change a user's name or role (superadmin)", Session, &[]),
    op("POST", "/api/users/{id}/disable", "users", "Disable a user and end their sessions, keys and tokens", Session, &[]),
    op("POST", "/api/users/{id}/enable", "users", "Enable a user again", Session, &[]),
    op("POST", "/api/users/{id}/reset-mfa", "users", "Remove a user's second factors", Session, &[]),
    op("POST", "/api/users/{id}/password-reset", "users", "Issue a password-reset link for a user", Session, &[]),
    // threat models
    op("GET", "/api/models", "models", "Threat models of the workspace (bare array; filters and paging in the query)", Caller, &["list_threat_models"]),
    op("POST", "/api/models", "models", "Generate a threat model from a feature description or a Jira issue (202 with a job, or ?wait=true)", Caller, &["generate_threat_model"]),
    op("GET", "/api/models/{id}", "models", "One threat model (assets, attackers, trust boundaries, assumptions; objectives with include_cos=true)", Caller, &["get_threat_model"]),
    op("PATCH", "/api/models/{id}", "models", "Rename a threat model", Caller, &["rename_threat_model"]),
    op("DELETE", "/api/models/{id}", "models", "Delete a threat model and its assurance data", Caller, &["delete_threat_model"]),
    op("GET", "/api/models/{id}/steps", "models", "Generation steps of a model (what the engine did)", Caller, &[]),
    op("PATCH", "/api/models/{id}/badge", "models", "Turn the public status badge of a model on or off", Caller, &[]),
    op("POST", "/api/models/{id}/assets", "models", "Add an asset (its control objectives are derived)", Caller, &["add_asset"]),
    op("PATCH", "/api/models/{id}/assets/{aid}", "models", "Edit an asset", Caller, &["edit_asset"]),
    op("DELETE", "/api/models/{id}/assets/{aid}", "models", "Remove an asset and its objectives", Caller, &["remove_asset"]),
    op("POST", "/api/models/{id}/attackers", "models", "Add an attacker (its control objectives are derived)", Caller, &["add_attacker"]),
    op("PATCH", "/api/models/{id}/attackers/{aid}", "models", "Edit an attacker", Caller, &["edit_attacker"]),
    op("DELETE", "/api/models/{id}/attackers/{aid}", "models", "Remove an attacker and its objectives", Caller, &["remove_attacker"]),
    op("GET", "/api/models/{id}/control-objectives", "models", "Control objectives of a model, paged with offset and limit", Caller, &["get_control_objectives"]),
    op("GET", "/api/models/{id}/controls", "controls", "Controls of a model with status and verification (summary first; filters in the query)", Caller, &["get_controls"]),
    op("POST", "/api/models/{id}/controls/import", "controls", "Import existing controls, each mapped to control objectives", Caller, &["import_controls"]),
    op("POST", "/api/models/{id}/controls/regenerate", "controls", "Regenerate the controls of a model (kept where unchanged)", Caller, &["regenerate_controls"]),
    op("PATCH", "/api/models/{id}/controls/{cid}", "controls", "Set a control's implementation status", Caller, &["update_control_status"]),
    op("POST", "/api/models/{id}/controls/{cid}/refine", "controls", "Rewrite a control's description with a justification", Caller, &["refine_control"]),
    op("POST", "/api/models/{id}/controls/{cid}/evidence", "controls", "Attach evidence (a link, a document) to a control", Caller, &["add_evidence"]),
    op("DELETE", "/api/models/{id}/controls/{cid}/evidence/{eid}", "controls", "Remove evidence from a control", Caller, &["remove_evidence"]),
    op("GET", "/api/models/{id}/gaps", "controls", "Objectives without controls, or with no control implemented", Caller, &["check_control_gaps"]),
    op("GET", "/api/models/{id}/assess", "assurance", "Assurance posture: summary counts, or the objectives of one status", Caller, &["assess_model"]),
    op("GET", "/api/models/{id}/export", "models", "Export as pdf, html, csv, json or sarif (threat-model or assurance report)", Caller, &["export_threat_model"]),
    op("GET", "/api/models/{id}/conversation", "models", "The refinement conversation of a model", Caller, &[]),
    op("POST", "/api/models/{id}/conversation", "models", "Add a message to the conversation (the engine answers or refines)", Caller, &[]),
    op("POST", "/api/models/{id}/refine", "models", "Refine a model with an instruction (new version)", Caller, &["refine_threat_model"]),
    op("POST", "/api/models/{id}/query", "models", "Ask a question about a model (read only)", Caller, &["query_threat_model"]),
    op("GET", "/api/dashboard", "models", "Workspace dashboard: models with their assurance figures", Caller, &[]),
    op("GET", "/api/activity", "models", "Recent activity in the workspace", Caller, &[]),
    op("GET", "/api/jobs/{id}", "jobs", "Status of a background job", Caller, &["get_operation_status"]),
    op("GET", "/api/jobs/{id}/events", "jobs", "Progress of a background job as server-sent events", Caller, &[]),
    // systems
    op("GET", "/api/systems", "systems", "Systems (named groups of models) of the workspace", Caller, &["list_systems"]),
    op("POST", "/api/systems", "systems", "Create a system, optionally with models", Caller, &["create_system"]),
    op("GET", "/api/systems/{id}", "systems", "One system with its models", Caller, &["get_system"]),
    op("POST", "/api/systems/{id}/models", "systems", "Add a model to a system", Caller, &["add_model_to_system"]),
    // assurance and CI
    op("POST", "/api/models/{id}/assertions", "assurance", "Submit assertions (machine-checkable claims) for a control", Caller, &["submit_assertions"]),
    op("GET", "/api/models/{id}/assertions", "assurance", "Assertions of a model, paged with a cursor", Caller, &["list_assertions"]),
    op("DELETE", "/api/models/{id}/assertions/{aid}", "assurance", "Delete an assertion", Caller, &["delete_assertion"]),
    op("GET", "/api/models/{id}/verification/assertions", "verification", "CI: the assertions to verify, per tier (mipiti-verify wire contract)", Verifier, &[]),
    op("GET", "/api/models/{id}/verification/pending", "verification", "CI: assertions not yet verified at the current commit", Verifier, &[]),
    op("POST", "/api/models/{id}/verification/results", "verification", "CI: submit signed verification results", Verifier, &[]),
    op("GET", "/api/models/{id}/verification/report", "verification", "Verification report: what is verified, drifted and at risk", Caller, &["get_verification_report"]),
    op("GET", "/api/models/{id}/verification/runs", "verification", "Verification runs, newest first (paging in Link headers)", Caller, &[]),
    op("GET", "/api/models/{id}/verification/runs/{run}/audit", "verification", "Audit bundle of one run, with its signature and openssl commands", Caller, &[]),
    op("GET", "/api/models/{id}/review-queue", "assurance", "Controls needing re-verification (stale, failing, drifted)", Caller, &["get_review_queue"]),
    op("GET", "/api/models/{id}/scan-prompt", "assurance", "The prompt an agent uses to scan code for findings", Caller, &["get_scan_prompt"]),
    op("POST", "/api/models/{id}/findings", "findings", "Submit findings from a scan", Caller, &["submit_findings"]),
    op("GET", "/api/models/{id}/findings", "findings", "Findings of a model, paged with a cursor", Caller, &["list_findings"]),
    op("GET", "/api/models/{id}/findings/summary", "findings", "Counts of findings by status and severity", Caller, &[]),
    op("GET", "/api/models/{id}/findings/{fid}", "findings", "One finding with its history", Caller, &[]),
    op("PATCH", "/api/models/{id}/findings/{fid}", "findings", "Move a finding through its lifecycle", Caller, &["update_finding"]),
    op("DELETE", "/api/models/{id}/findings/{fid}", "findings", "Delete a finding", Caller, &[]),
    op("GET", "/api/badge/{id}", "assurance", "Public status badge of a model (SVG), when enabled", Public, &[]),
    // compliance
    op("GET", "/api/compliance/frameworks", "compliance", "Compliance frameworks the appliance knows", Caller, &["list_compliance_frameworks"]),
    op("GET", "/api/compliance/frameworks/{fw}/requirements", "compliance", "Requirements of one framework", Caller, &[]),
    op("GET", "/api/models/{id}/compliance/frameworks", "compliance", "Frameworks selected for a model", Caller, &[]),
    op("PUT", "/api/models/{id}/compliance/frameworks", "compliance", "Select the frameworks of a model", Caller, &["select_compliance_frameworks"]),
    op("GET", "/api/models/{id}/compliance/report", "compliance", "Compliance report: requirements met, gaps and evidence", Caller, &["get_compliance_report"]),
    op("POST", "/api/models/{id}/compliance/auto-map", "compliance", "Map controls to requirements automatically", Caller, &["auto_map_controls"]),
    op("GET", "/api/models/{id}/compliance/mappings", "compliance", "Control-to-requirement mappings of a model", Caller, &[]),
    op("POST", "/api/models/{id}/compliance/mappings", "compliance", "Map a control to a requirement", Caller, &["map_control_to_requirement"]),
    op("DELETE", "/api/models/{id}/compliance/mappings", "compliance", "Remove a control-to-requirement mapping", Caller, &[]),
    op("GET", "/api/models/{id}/compliance/exclusions", "compliance", "Requirements excluded from a model, with reasons", Caller, &[]),
    op("PUT", "/api/models/{id}/compliance/exclusions", "compliance", "Exclude a requirement (with a reason)", Caller, &[]),
    op("DELETE", "/api/models/{id}/compliance/exclusions", "compliance", "Include an excluded requirement again", Caller, &[]),
    op("POST", "/api/models/{id}/compliance/remediation", "compliance", "Suggest controls that close compliance gaps", Caller, &["suggest_compliance_remediation"]),
    op("POST", "/api/models/{id}/compliance/remediation/apply", "compliance", "Apply approved remediation suggestions", Caller, &["apply_compliance_remediation"]),
    op("GET", "/api/models/{id}/compliance/remediation/{rid}", "compliance", "One remediation with its suggestions", Caller, &[]),
    // workspaces and organizations
    op("GET", "/api/workspaces", "workspaces", "Workspaces the caller belongs to", Caller, &["list_workspaces"]),
    op("POST", "/api/workspaces", "workspaces", "Create a team workspace", Session, &[]),
    op("GET", "/api/workspaces/{id}", "workspaces", "One workspace", Caller, &[]),
    op("PATCH", "/api/workspaces/{id}", "workspaces", "Rename a workspace (owner or admin)", Session, &[]),
    op("DELETE", "/api/workspaces/{id}", "workspaces", "Delete a workspace and its data (owner)", Session, &[]),
    op("GET", "/api/workspaces/{id}/members", "workspaces", "Members of a workspace", Caller, &[]),
    op("POST", "/api/workspaces/{id}/members", "workspaces", "Add a member (owner or admin)", Session, &[]),
    op("PATCH", "/api/workspaces/{id}/members/{user}", "workspaces", "Change a member's role", Session, &[]),
    op("DELETE", "/api/workspaces/{id}/members/{user}", "workspaces", "Remove a member, or leave", Session, &[]),
    op("GET", "/api/workspaces/{id}/invitations", "workspaces", "Open invitations of a workspace", Session, &[]),
    op("POST", "/api/workspaces/{id}/invitations", "workspaces", "Invite someone by email", Session, &[]),
    op("DELETE", "/api/workspaces/{id}/invitations/{inv}", "workspaces", "Withdraw an invitation", Session, &[]),
    op("GET", "/api/workspaces/{ws}/security", "workspaces", "CI trust settings of a workspace (signing policy, CI key)", Caller, &[]),
    op("PATCH", "/api/workspaces/{ws}/security", "workspaces", "Change the CI trust settings (owner, password required)", Session, &[]),
    op("POST", "/api/workspaces/{ws}/ci-key", "workspaces", "Upload the workspace's CI public key (owner, password required)", Session, &[]),
    op("GET", "/api/invitations/{token}", "workspaces", "What an invitation is for", Public, &[]),
    op("POST", "/api/invitations/{token}/accept", "workspaces", "Accept an invitation", Session, &[]),
    op("GET", "/api/organizations", "organizations", "Organizations the caller belongs to (all, for superadmins)", Session, &[]),
    op("POST", "/api/organizations", "organizations", "Create an organization (superadmin)", Session, &[]),
    op("GET", "/api/organizations/{org}", "organizations", "One organization", Session, &[]),
    op("PATCH", "/api/organizations/{org}", "organizations", "Rename an organization or change its policies", Session, &[]),
    op("DELETE", "/api/organizations/{org}", "organizations", "Delete an organization (superadmin)", Session, &[]),
    op("GET", "/api/organizations/{org}/members", "organizations", "Members of an organization", Session, &[]),
    op("POST", "/api/organizations/{org}/members", "organizations", "Add a member to an organization", Session, &[]),
    op("PATCH", "/api/organizations/{org}/members/{user}", "organizations", "Change an organization member's role", Session, &[]),
    op("DELETE", "/api/organizations/{org}/members/{user}", "organizations", "Remove a member from an organization", Session, &[]),
    op("GET", "/api/organizations/{org}/workspaces", "organizations", "Workspaces of an organization", Session, &[]),
    op("DELETE", "/api/organizations/{org}/data", "organizations", "Crypto-shred an organization's data (superadmin, confirmation required)", Session, &[]),
    // integrations
    op("GET", "/api/organizations/{org}/integrations/jira", "integrations", "Jira settings of an organization (token masked)", Session, &[]),
    op("PUT", "/api/organizations/{org}/integrations/jira", "integrations", "Configure Jira for an organization (org admin)", Session, &[]),
    op("DELETE", "/api/organizations/{org}/integrations/jira", "integrations", "Remove the Jira settings", Session, &[]),
    op("POST", "/api/organizations/{org}/integrations/jira/test", "integrations", "Test the Jira connection", Session, &[]),
    op("GET", "/api/organizations/{org}/integrations/jira/account", "integrations", "The caller's own Atlassian account (token masked)", Session, &[]),
    op("PUT", "/api/organizations/{org}/integrations/jira/account", "integrations", "Connect the caller's own Atlassian account", Session, &[]),
    op("DELETE", "/api/organizations/{org}/integrations/jira/account", "integrations", "Disconnect the caller's own Atlassian account", Session, &[]),
    op("GET", "/api/organizations/{org}/integrations/confluence", "integrations", "Confluence settings of an organization (token masked)", Session, &[]),
    op("PUT", "/api/organizations/{org}/integrations/confluence", "integrations", "Configure Confluence for an organization (org admin)", Session, &[]),
    op("DELETE", "/api/organizations/{org}/integrations/confluence", "integrations", "Remove the Confluence settings", Session, &[]),
    op("POST", "/api/organizations/{org}/integrations/confluence/test", "integrations", "Test the Confluence connection", Session, &[]),
    op("GET", "/api/models/{id}/integrations", "integrations", "Jira issues and Confluence page linked to a model", Caller, &[]),
    op("POST", "/api/models/{id}/jira/export", "integrations", "Create or update one Jira issue per control", Caller, &["export_threat_model"]),
    op("POST", "/api/models/{id}/confluence/sync", "integrations", "Create or update the model's Confluence page", Caller, &["export_threat_model"]),
    op("POST", "/api/integrations/jira/webhook/{org}", "integrations", "Jira webhook (signed with the organization's webhook secret)", Public, &[]),
    // administration
    op("GET", "/api/admin/backup", "admin", "Download a signed, encrypted backup (superadmin)", Session, &[]),
    op("POST", "/api/admin/restore", "admin", "Restore a signed backup (superadmin, password and confirmation)", Session, &[]),
    op("GET", "/api/admin/signing-key", "admin", "The appliance's public signing key (PEM) for openssl", Session, &[]),
    op("GET", "/api/admin/trusted-signers", "admin", "Keys trusted to sign backups", Session, &[]),
    op("POST", "/api/admin/trusted-signers", "admin", "Trust another appliance's signing key", Session, &[]),
    op("DELETE", "/api/admin/trusted-signers/{fingerprint}", "admin", "Stop trusting a signing key", Session, &[]),
    op("GET", "/api/admin/license", "admin", "License status", Session, &[]),
    op("GET", "/api/admin/maintenance", "admin", "Maintenance mode status", Session, &[]),
    op("POST", "/api/admin/maintenance/enable", "admin", "Enter maintenance mode (writes refused with 503)", Session, &[]),
    op("POST", "/api/admin/maintenance/clear", "admin", "Leave maintenance mode", Session, &[]),
    op("GET", "/api/admin/events", "admin", "Audit log events", Session, &[]),
    op("GET", "/api/admin/usage", "admin", "LLM and operation usage", Session, &[]),
    op("GET", "/api/admin/cache/stats", "admin", "LLM response cache statistics", Session, &[]),
    op("DELETE", "/api/admin/cache", "admin", "Clear the LLM response cache (one user or all)", Session, &[]),
    op("GET", "/api/admin/mail", "admin", "Outgoing mail queue", Session, &[]),
    op("POST", "/api/admin/mail/{id}/retry", "admin", "Retry a failed mail", Session, &[]),
    op("GET", "/api/admin/credits/users/{user_id}", "admin", "A user's credits this month (superadmin)", Session, &[]),
    op("PUT", "/api/admin/credits/users/{user_id}", "admin", "Set a user's monthly credit allowance (superadmin)", Session, &[]),
    op("POST", "/api/admin/credits/users/{user_id}/adjustments", "admin", "Add or deduct a user's credits with a reason (superadmin)", Session, &[]),
    op("GET", "/api/admin/credits/orgs/{org_id}", "admin", "An organization's credit pool this month (superadmin)", Session, &[]),
    op("PUT", "/api/admin/credits/orgs/{org_id}", "admin", "Set an organization's monthly credit pool (superadmin)", Session, &[]),
    op("POST", "/api/admin/credits/orgs/{org_id}/adjustments", "admin", "Add or deduct credits of an organization's pool (superadmin)", Session, &[]),
    op("PUT", "/api/admin/credits/orgs/{org_id}/members/{user_id}", "admin", "Set a member's share of the organization's credit pool (org admin)", Session, &[]),
    op("GET", "/api/admin/oauth/clients", "admin", "Registered OAuth clients with their active grants (superadmin)", Session, &[]),
    op("DELETE", "/api/admin/oauth/clients/{id}", "admin", "Revoke an OAuth client: its grants and tokens end (superadmin)", Session, &[]),
    op("GET", "/api/openapi.json", "meta", "This document", Public, &[]),
    // OAuth for agents
    op("POST", "/oauth/register", "oauth", "Dynamic client registration (RFC 7591), public clients only", Public, &[]),
    op("GET", "/oauth/authorize", "oauth", "Authorization request (code + PKCE S256); shows the consent page", Session, &[]),
    op("POST", "/oauth/authorize", "oauth", "Consent form: approve or deny, with the chosen workspace and scope (CSRF token required)", Session, &[]),
    op("POST", "/oauth/token", "oauth", "Exchange a code or rotate a refresh token", Public, &[]),
    op("POST", "/oauth/revoke", "oauth", "Revoke an access or refresh token (RFC 7009)", Public, &[]),
    op("GET", "/.well-known/oauth-protected-resource", "oauth", "Protected resource metadata of /api (RFC 9728)", Public, &[]),
    op("GET", "/.well-known/oauth-protected-resource/mcp", "oauth", "Protected resource metadata of /mcp (RFC 9728)", Public, &[]),
    op("GET", "/.well-known/oauth-authorization-server", "oauth", "Authorization server metadata (RFC 8414)", Public, &[]),
    // operations
    op("GET", "/health", "ops", "Liveness", Public, &[]),
    op("GET", "/ready", "ops", "Readiness: database open and migrations done", Public, &[]),
    op("GET", "/metrics", "ops", "Prometheus metrics, when enabled in the configuration (otherwise it answers like an unknown path)", Public, &[]),
];

fn security(auth: Auth) -> Value {
    match auth {
        Auth::Public => json!([]),
        Auth::Session => json!([{"session": []}]),
        Auth::Caller => json!([{"session": []}, {"apiKey": []}, {"bearer": []}]),
        Auth::Verifier => {
            json!([{"session": []}, {"apiKey": []}, {"bearer": []}, {"ciJwt": []}])
        }
    }
}

fn parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

fn operation_id(o: &Operation) -> String {
    let mut id = o.method.to_ascii_lowercase();
    for seg in o.path.split('/').filter(|s| !s.is_empty() && *s != "api") {
        id.push('_');
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        id.extend(
            seg.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

/// Builds the document for this appliance (its public URL is the server).
pub fn build(public_url: &str) -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let mut operation = json!({
            "operationId": operation_id(o),
            "summary": o.summary,
            "tags": [o.tag],
            "security": security(o.auth),
            "responses": {
                "2XX": {"description": "Success", "content": {"application/json": {"schema": {}}}},
                "4XX": {"$ref": "#/components/responses/Error"},
            },
        });
        let params = parameters(o.path);
        if !params.is_empty() {
            operation["parameters"] = Value::Array(params);
        }
        if matches!(o.method, "POST" | "PUT" | "PATCH") {
            operation["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {"type": "object"}}},
            });
        }
        if !o.tools.is_empty() {
            operation["x-mcp-tools"] = json!(o.tools);
        }
        let entry = paths
            .entry(o.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[o.method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "rampart",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST API of the rampart appliance. Every MCP tool has an operation here with the same service call (x-mcp-tools). Authenticate with a signed-in session, an API key in X-API-Key, or an OAuth access token in Authorization: Bearer; X-Workspace-Id picks the workspace of a session.",
        },
        "servers": [{"url": public_url}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::cookies::SESSION, "description": "Browser session after password and second factor; writes also need the X-CSRF-Token header."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "Developer (mk_) or verifier (mv_) key of one workspace."},
                "bearer": {"type": "oauth2", "flows": {"authorizationCode": {
                    "authorizationUrl": format!("{public_url}/oauth/authorize"),
                    "tokenUrl": format!("{public_url}/oauth/token"),
                    "refreshUrl": format!("{public_url}/oauth/token"),
                    "scopes": {"developer": "Read and change the workspace's models", "verifier": "Read models and submit verification results"},
                }}},
                "ciJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "ES256 JWT signed by the workspace's CI key."},
            },
            "responses": {
                "Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string", "description": "Stable machine-readable code, e.g. not_found, invalid_field"},
                            "message": {"type": "string", "description": "What is wrong and what to do"},
                            "field": {"type": "string", "description": "The request field at fault"},
                        },
                    }},
                },
            },
        },
    })
}

async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(build(&state.config.public_url(Some(state.bound))))
}
