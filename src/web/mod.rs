//! The HTTP face of the appliance: builds the actix-web app (API, health, metrics), binds the
//! listener (plain or TLS), and runs it until SIGTERM/SIGINT, letting in-flight requests finish.
//!
//! Handlers here only extract, call one service, and respond; rules and SQL live elsewhere.

mod api_admin;
mod api_assurance;
mod api_auth;
mod api_compliance;
mod api_coverage;
mod api_credits;
mod api_integrations;
mod api_models;
mod api_systems;
pub mod api_tenancy;
pub mod caller;
pub mod cookies;
pub mod drain;
pub mod error;
pub mod maintenance;
pub mod metrics;
pub mod oauth;
mod oauth_flow;
pub mod openapi;
mod ops;
pub mod pages;
mod tls;
pub mod ttl_cache;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, web};

use crate::config::Config;
use crate::store::Db;

pub use error::ApiError;
pub use metrics::Metrics;

/// Shared state of the running server, handed to every handler as `web::Data<AppState>`.
pub struct AppState {
    /// The finished configuration.
    pub config: Arc<Config>,
    /// The platform database.
    pub db: Db,
    /// Identity: users, sessions, MFA, API keys.
    pub auth: crate::auth::AuthService,
    /// Threat models.
    pub models: crate::models::ModelService,
    /// Compliance frameworks, mappings and reports.
    pub compliance: crate::compliance::ComplianceService,
    /// Assertions, verification, findings.
    pub assurance: crate::assurance::AssuranceService,
    /// Background jobs.
    pub jobs: crate::jobs::Registry,
    /// Reports and exports (PDF, HTML, CSV, JSON, SARIF).
    pub exports: crate::reports::ExportService,
    /// Workspaces, members and invitations.
    pub workspaces: crate::tenancy::WorkspaceService,
    /// Organizations as seen by their admins and members.
    pub orgs: crate::tenancy::orgs::OrgService,
    /// Administration: backups, signers, license, maintenance, organizations.
    pub admin: crate::admin::AdminService,
    /// Jira and Confluence.
    pub integrations: crate::integrations::IntegrationService,
    /// The outgoing mail queue (admins see failures).
    pub outbox: crate::mail::Outbox,
    /// The maintenance circuit breaker's cached state.
    pub maintenance: std::sync::Arc<maintenance::Gate>,
    /// The generation engine (built-in catalog engine, or an LLM).
    pub engine: std::sync::Arc<dyn crate::engine::Engine>,
    /// Credit allowances, balances and adjustments.
    pub credits: crate::credits::CreditService,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The address actually bound (port 0 resolved).
    pub bound: SocketAddr,
    /// Shutdown state: once draining, new requests get 503.
    pub drain: drain::Drain,
}

/// Records metrics and logs one line per request: method, path without query string, status,
/// latency, peer. Never headers, cookies, query strings or bodies, which may carry secrets.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_string();
    let peer = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let res = next.call(req).await?;
    let status = res.status().as_u16();
    let elapsed = start.elapsed();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    if let Some(m) = metrics {
        m.observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    }
    tracing::info!(
        target: "rampart::http",
        method = %method,
        path = %path,
        status,
        ms = format!("{:.1}", elapsed.as_secs_f64() * 1000.0),
        peer = %peer,
        "request"
    );
    Ok(res)
}

/// Registers every route of the appliance. Later capabilities add their scopes here.
pub fn configure(cfg: &mut web::ServiceConfig, config: &Config) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(usize::try_from(config.limits.json_body_bytes).unwrap_or(usize::MAX))
            .error_handler(error::json_error),
    )
    .app_data(
        web::FormConfig::default()
            .limit(usize::try_from(config.limits.form_body_bytes).unwrap_or(usize::MAX))
            .error_handler(error::form_error),
    )
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error))
    .app_data(
        web::PayloadConfig::default()
            .limit(usize::try_from(config.limits.json_body_bytes).unwrap_or(usize::MAX)),
    )
    .configure(ops::configure)
    .configure(api_auth::configure)
    .configure(api_models::configure)
    .configure(api_admin::configure)
    .configure(api_credits::configure)
    .configure(api_assurance::configure)
    .configure(api_tenancy::configure)
    .configure(api_integrations::configure)
    .configure(api_compliance::configure)
    .configure(api_coverage::configure)
    .configure(api_systems::configure)
    .configure(oauth::configure)
    .configure(oauth_flow::configure)
    .configure(openapi::configure)
    .configure(pages::configure);
}

/// `Strict-Transport-Security` sent on every response when the public URL is https.
pub const HSTS: &str = "max-age=63072000";

/// Runs the server on an already-bound listener until a shutdown signal arrives.
///
/// Returns after every worker has stopped; the caller then closes the database.
pub async fn serve(state: AppState, listener: TcpListener) -> anyhow::Result<()> {
    let config = state.config.clone();
    let https = config.https();
    cookies::install(https);
    let data = web::Data::new(state);
    let (drain, jobs) = (data.drain.clone(), data.jobs.clone());
    let app_config = config.clone();
    let mcp = crate::mcp::http_service(&data);
    let mut server = HttpServer::new(move || {
        let mut headers = DefaultHeaders::new()
            .add(("X-Content-Type-Options", "nosniff"))
            .add(("X-Frame-Options", "DENY"))
            .add(("Referrer-Policy", "no-referrer"));
        if https {
            // Browsers that saw the appliance over https once refuse plain http for two
            // years. No includeSubDomains: other hosts of the domain are not ours to decide.
            headers = headers.add(("Strict-Transport-Security", HSTS));
        }
        App::new()
            .app_data(data.clone())
            .wrap(from_fn(maintenance::gate))
            .wrap(from_fn(drain::gate))
            .wrap(from_fn(oauth::challenge_401))
            .wrap(from_fn(observe))
            .wrap(headers)
            .configure(|cfg| configure(cfg, &app_config))
            .configure(|cfg| crate::mcp::mount(cfg, mcp.clone()))
            .default_service(web::to(pages::not_found))
    })
    .shutdown_timeout(config.server.shutdown_timeout_seconds)
    .client_request_timeout(Duration::from_secs(30))
    // Signals are handled by `drain::run`, which refuses new requests before stopping.
    .disable_signals();
    if config.server.workers > 0 {
        server = server.workers(usize::try_from(config.server.workers).unwrap_or(1));
    }
    let server = match (&config.server.tls_cert_file, &config.server.tls_key_file) {
        (Some(cert), Some(key)) => {
            let tls = tls::server_config(cert, key)?;
            server.listen_rustls_0_23(listener, tls)?
        }
        _ => server.listen(listener)?,
    };
    let server = server.run();
    actix_web::rt::spawn(drain::run(
        drain,
        jobs,
        server.handle(),
        Duration::from_secs(config.server.shutdown_timeout_seconds),
        drain::signal(),
    ));
    server.await?;
    Ok(())
}
