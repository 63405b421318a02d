//! The MCP face of the appliance: the tools of spec/02 over streamable HTTP at `/mcp`
//! (inside the actix app, `X-API-Key` or OAuth bearer auth, Host/Origin checks against the public URL) and
//! over stdio (`rampart mcp --stdio`, key from the environment, local data dir).
//!
//! Tools only translate arguments and call the same services the REST API calls
//! ([`ModelService`], [`AssuranceService`], [`AuthService`], the job [`Registry`]); rules
//! and SQL live there. Tool failures are tool results with `isError: true` naming the field
//! or object; the protocol layer never sees a panic or a service error.

pub mod args;
pub mod prompts;
pub mod proxy;
pub mod resources;
pub mod subscriptions;
mod tools;

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, HttpResponse, web};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{Implementation, ProtocolVersion, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, tool_handler};
use rmcp_actix_web::transport::StreamableHttpService;
use serde_json::json;

use crate::assurance::AssuranceService;
use crate::auth::{AuthService, Caller};
use crate::engine::Engine;
use crate::jobs::Registry;
use crate::models::ModelService;

/// The newest protocol revision served; clients asking for older ones are answered with
/// theirs (down to 2024-11-05).
pub const MAX_PROTOCOL: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// What the server tells agents about the intended workflow (sent in `initialize`).
pub const INSTRUCTIONS: &str = "\
rampart is an on-prem threat-modeling and security-assurance appliance. Intended workflow:
1. Planning: call generate_threat_model with a description of the feature or system (async by \
default: it returns {job_id}; poll get_operation_status until status is \"completed\"; the result \
holds model_id). Review with get_threat_model, get_controls (counts first; drill in with status, \
control_id, co_id, offset/limit) and assess_model.
2. Implementation: as you implement controls, call update_control_status, then submit_assertions \
(typed, machine-verifiable claims such as function_exists or test_passes) for each implemented \
control. Before submitting, verify each assertion locally with \
`rampart verify verify <type> -p key=value --project-root .` and read the target code to confirm \
it really implements the control.
3. Verification: CI runs `rampart verify run` to check assertions; call get_verification_report \
to see status and drift. Use get_scan_prompt + submit_findings to record gaps and update_finding \
to move them through acknowledged -> remediated.
Retrieval tools return summaries and counts by default; pass filters or offset/limit for details. \
Verifier keys (mv_) may only read and use verification tools.";

/// The services the tools call, shared by every session.
#[derive(Clone)]
pub struct Services {
    /// Threat models.
    pub models: ModelService,
    /// Compliance frameworks, mappings and reports.
    pub compliance: crate::compliance::ComplianceService,
    /// Assertions, verification and findings.
    pub assurance: AssuranceService,
    /// Background jobs.
    pub jobs: Registry,
    /// Reports and exports.
    pub exports: crate::reports::ExportService,
    /// The generation engine.
    pub engine: Arc<dyn Engine>,
    /// Identity (workspaces).
    pub auth: AuthService,
    /// Jira and Confluence (export_threat_model formats `jira` and `confluence`).
    pub integrations: crate::integrations::IntegrationService,
}

impl Services {
    /// The services of a running web server.
    pub fn from_state(state: &crate::web::AppState) -> Self {
        Self {
            models: state.models.clone(),
            compliance: state.compliance.clone(),
            assurance: state.assurance.clone(),
            jobs: state.jobs.clone(),
            exports: state.exports.clone(),
            engine: state.engine.clone(),
            auth: state.auth.clone(),
            integrations: state.integrations.clone(),
        }
    }
}

/// One MCP session's handler.
#[derive(Clone)]
pub struct McpServer {
    svc: Services,
    /// The caller of a stdio session (HTTP sessions take it from each request).
    fixed_caller: Option<Caller>,
    /// The session's `resources/subscribe` watchers (they end with the session).
    subscriptions: subscriptions::Subscriptions,
    tool_router: ToolRouter<McpServer>,
}

impl McpServer {
    /// A handler for HTTP sessions: the caller comes from each request's extensions.
    pub fn new(svc: Services) -> Self {
        Self {
            svc,
            fixed_caller: None,
            subscriptions: Default::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// A handler whose every request is made by `caller` (stdio).
    pub fn for_caller(svc: Services, caller: Caller) -> Self {
        Self {
            svc,
            fixed_caller: Some(caller),
            subscriptions: Default::default(),
            tool_router: Self::tool_router(),
        }
    }

    /// Names of every tool, sorted (for documentation and tests).
    pub fn tool_names() -> Vec<String> {
        let mut names: Vec<String> = Self::tool_router()
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .build(),
        )
        .with_protocol_version(MAX_PROTOCOL)
        .with_server_info(
            Implementation::new("rampart", env!("CARGO_PKG_VERSION"))
                .with_title("rampart threat modeling"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&MAX_PROTOCOL))
    }

    async fn list_prompts(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListPromptsResult::with_all_items(
            prompts::list(),
        ))
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, rmcp::ErrorData> {
        prompts::render(&request.name, request.arguments.as_ref())
            .map(Into::into)
            .map_err(|e| rmcp::ErrorData::invalid_params(e.0, None))
    }

    async fn list_resources(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, rmcp::ErrorData> {
        let caller = self.resource_caller(&context)?;
        let svc = self.svc.clone();
        let list = tokio::task::spawn_blocking(move || resources::list(&svc, &caller))
            .await
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?
            .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?;
        Ok(rmcp::model::ListResourcesResult::with_all_items(list))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<rmcp::model::PaginatedRequestParams>,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, rmcp::ErrorData> {
        Ok(rmcp::model::ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, rmcp::ErrorData> {
        let uri = request.uri;
        let target = resources::parse(&uri).ok_or_else(|| {
            rmcp::ErrorData::resource_not_found(
                format!("unknown resource {uri}; resources/templates/list shows the URIs"),
                None,
            )
        })?;
        let caller = self.resource_caller(&context)?;
        let svc = self.svc.clone();
        let u = uri.clone();
        let contents =
            tokio::task::spawn_blocking(move || resources::read(&svc, &caller, &u, &target))
                .await
                .map_err(|e| rmcp::ErrorData::internal_error(e.to_string(), None))?
                .map_err(|message| {
                    rmcp::ErrorData::resource_not_found(format!("{uri}: {message}"), None)
                })?;
        Ok(rmcp::model::ReadResourceResult::new(vec![contents]).into())
    }

    // `resources/subscribe` is the 2025-11-25 way (the newest revision served); rmcp marks it
    // legacy in favour of the 2026-07-28 `subscriptions/listen`.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        let caller = self.resource_caller(&context)?;
        self.subscriptions
            .subscribe(self.svc.clone(), caller, request.uri, context.peer.clone())
            .await
            .map_err(|refusal| match refusal {
                subscriptions::Refusal::NotFound(message) => {
                    rmcp::ErrorData::resource_not_found(message, None)
                }
                subscriptions::Refusal::TooMany => rmcp::ErrorData::invalid_request(
                    format!(
                        "a session may hold at most {} subscriptions; unsubscribe from one first",
                        subscriptions::MAX_PER_SESSION
                    ),
                    None,
                ),
            })
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        _context: rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<(), rmcp::ErrorData> {
        self.subscriptions.unsubscribe(&request.uri);
        Ok(())
    }
}

impl McpServer {
    /// The caller of a resource request, as a protocol error when there is none.
    fn resource_caller(
        &self,
        context: &rmcp::service::RequestContext<rmcp::RoleServer>,
    ) -> Result<Caller, rmcp::ErrorData> {
        self.caller(context)
            .map_err(|e| rmcp::ErrorData::invalid_request(e.to_string(), None))
    }
}

/// Hosts and origins `/mcp` accepts: the public URL's, the bound address, and loopback.
pub fn allowed_hosts_and_origins(public_url: &str, port: u16) -> (Vec<String>, Vec<String>) {
    let mut hosts = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let mut origins = vec![
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        format!("https://127.0.0.1:{port}"),
    ];
    let trimmed = public_url.trim_end_matches('/');
    if let Some((scheme, rest)) = trimmed.split_once("://") {
        let authority = rest.split('/').next().unwrap_or_default();
        if !authority.is_empty() {
            let (host, has_port) = if let Some(rest) = authority.strip_prefix('[') {
                let h = rest.split(']').next().unwrap_or_default();
                (h.to_string(), rest.contains("]:"))
            } else if let Some((h, _)) = authority.rsplit_once(':') {
                (h.to_string(), true)
            } else {
                (authority.to_string(), false)
            };
            hosts.push(host);
            let default_port = if scheme == "https" { 443 } else { 80 };
            let origin = if has_port {
                format!("{scheme}://{authority}")
            } else {
                format!("{scheme}://{authority}:{default_port}")
            };
            origins.push(origin);
        }
    }
    hosts.dedup();
    (hosts, origins)
}

/// Builds the streamable HTTP service once per server (sessions are shared by workers).
pub fn http_service(state: &crate::web::AppState) -> StreamableHttpService<McpServer> {
    let svc = Services::from_state(state);
    let url = state.config.public_url(Some(state.bound));
    let (hosts, origins) = allowed_hosts_and_origins(&url, state.bound.port());
    StreamableHttpService::builder()
        .service_factory(Arc::new(move || Ok(McpServer::new(svc.clone()))))
        .session_manager(Arc::new(
            rmcp::transport::streamable_http_server::session::local::LocalSessionManager::default(),
        ))
        .allowed_hosts(hosts)
        .allowed_origins(origins)
        .on_request_fn(|req, ext| {
            if let Some(caller) = req.extensions().get::<Caller>() {
                ext.insert(caller.clone());
            }
        })
        .build()
}

/// A 401; the app-wide middleware adds the OAuth `WWW-Authenticate` challenge
/// ([`crate::web::oauth::challenge_401`]).
fn unauthorized(message: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .json(json!({"error": {"code": "unauthenticated", "message": message}}))
}

/// Credentials of an MCP request.
enum Credential {
    /// `X-API-Key`.
    Key(String),
    /// `Authorization: Bearer` with an OAuth access token.
    Bearer(String),
}

/// Authenticates `X-API-Key` or an OAuth access token (`Authorization: Bearer`, audience
/// the appliance or its `/mcp` endpoint) before the MCP transport sees the request and
/// stores the [`Caller`] in the request extensions; anything else is a 401 with a clear
/// message (and the OAuth challenge, see [`crate::web::oauth::challenge_401`]).
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let credential = match (header("X-API-Key"), header("Authorization")) {
        (Some(key), _) => Some(Credential::Key(key)),
        (None, Some(v)) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => {
            Some(Credential::Bearer(v[7..].trim().to_string()))
        }
        _ => None,
    };
    let Some(credential) = credential else {
        let resp = unauthorized(
            "MCP requires authorization: connect with an OAuth-capable client (it signs you in through the browser), or send an API key in the X-API-Key header (create one in Settings or with `rampart admin api-key create`)",
        );
        return Ok(req.into_response(resp));
    };
    let Some(state) = req.app_data::<web::Data<crate::web::AppState>>().cloned() else {
        return Ok(req.into_response(HttpResponse::InternalServerError().json(
            json!({"error": {"code": "internal", "message": "application state missing"}}),
        )));
    };
    let auth = state.auth.clone();
    let audiences = crate::auth::oauth_flow::audiences(&crate::web::oauth::base(&state));
    let what = match credential {
        Credential::Key(_) => "API key",
        Credential::Bearer(_) => "access token",
    };
    match web::block(move || match credential {
        Credential::Key(key) => auth.authenticate_api_key(&key),
        Credential::Bearer(token) => auth.authenticate_oauth_token(&token, &audiences),
    })
    .await
    {
        Ok(Ok(caller)) => {
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(Err(e)) => {
            let msg = format!("invalid {what}: {e}");
            Ok(req.into_response(unauthorized(&msg)))
        }
        Err(_) => Ok(req.into_response(
            HttpResponse::ServiceUnavailable()
                .json(json!({"error": {"code": "busy", "message": "server busy; retry"}})),
        )),
    }
}

/// Mounts `/mcp` (authenticated) into an app.
pub fn mount(cfg: &mut web::ServiceConfig, service: StreamableHttpService<McpServer>) {
    cfg.service(
        service
            .scope_with_path("/mcp")
            .wrap(actix_web::middleware::from_fn(authenticate)),
    );
}

/// Serves MCP over stdin/stdout for `caller` until the client disconnects.
pub async fn serve_stdio(svc: Services, caller: Caller) -> anyhow::Result<()> {
    use rmcp::ServiceExt as _;
    let server = McpServer::for_caller(svc, caller)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("starting MCP over stdio: {e}"))?;
    server
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("MCP over stdio: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins_from_public_url() {
        let (h, o) = allowed_hosts_and_origins("https://rampart.example.com", 8443);
        assert!(h.contains(&"rampart.example.com".to_string()));
        assert!(o.contains(&"https://rampart.example.com:443".to_string()));
        assert!(o.contains(&"http://127.0.0.1:8443".to_string()));
        let (h, o) = allowed_hosts_and_origins("http://10.0.0.5:8080/", 8080);
        assert!(h.contains(&"10.0.0.5".to_string()));
        assert!(o.contains(&"http://10.0.0.5:8080".to_string()));
    }
}
