//! Layered configuration: built-in defaults < TOML file < environment < command-line flags.
//!
//! This module owns every configuration key of the appliance. [`KEYS`] is the single table
//! that maps each dotted key to its environment variable names (both `RAMPART_*` and the
//! names the product documentation uses, such as `ENCRYPTION_KEY`); the loader, the
//! `--check-config` report and the test that keeps `config/rampart.example.toml` complete
//! all read it. Everyone else receives a finished, validated [`Config`].
//!
//! Errors always name the offending key and where its value came from, so an operator can
//! fix the file or the unit's environment without guessing.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// The default location of the configuration file; a missing default file is not an error.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/rampart/rampart.toml";

/// Environment variables starting with `RAMPART_` that are not configuration keys but are
/// still legitimate (the CI client reads them). Anything else unknown is reported.
const CLIENT_ENV_VARS: &[&str] = &[
    "RAMPART_CONFIG",
    "RAMPART_URL",
    "RAMPART_API_KEY",
    "RAMPART_SIGNING_KEY",
    "RAMPART_ADMIN_PASSWORD",
];

/// Names the product documentation lists that rampart deliberately does not implement. Setting
/// one refuses the start with the reason, instead of silently ignoring what an operator
/// configured (docs/decisions.md, "Configuration names").
pub const REFUSED_ENV: &[(&str, &str)] = &[
    (
        "AWS_KMS_KEY_ID",
        "AWS KMS is not supported: the appliance runs without access to AWS; use KMS_PROVIDER=vault (Vault Transit on your network), static (ENCRYPTION_KEY) or none (master.key in the data dir)",
    ),
    (
        "AWS_KMS_REGION",
        "AWS KMS is not supported (see AWS_KMS_KEY_ID)",
    ),
    (
        "AWS_ACCESS_KEY_ID",
        "rampart uses AWS credentials for nothing (AWS KMS is not supported); remove them from its environment",
    ),
    (
        "AWS_SECRET_ACCESS_KEY",
        "rampart uses AWS credentials for nothing (AWS KMS is not supported); remove them from its environment",
    ),
    (
        "JIRA_CLIENT_ID",
        "Jira Cloud OAuth apps are not used: each organization's admin connects Jira with a personal access token or API token in Settings › Integrations",
    ),
    (
        "JIRA_CLIENT_SECRET",
        "Jira Cloud OAuth apps are not used (see JIRA_CLIENT_ID)",
    ),
    (
        "JIRA_REDIRECT_URI",
        "Jira Cloud OAuth apps are not used (see JIRA_CLIENT_ID)",
    ),
    (
        "JIRA_TOKEN_ENCRYPTION_KEY",
        "Jira tokens are sealed with a key derived from the master key; there is no separate key to set",
    ),
    (
        "JIRA_WEBHOOK_SECRET",
        "each organization has its own webhook secret, shown in Settings › Integrations (GET /api/organizations/{id}/integrations/jira)",
    ),
];

/// What a key's value looks like; used to parse environment strings and to check file values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (paths, URLs, enum names).
    Str,
    /// A non-negative integer.
    Int,
    /// `true`/`false` (environment also accepts `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A list of strings (environment: comma separated).
    List,
    /// A non-negative decimal number (`0.15`; integers too).
    Decimal,
}

/// One configuration key: its dotted path, environment names, value kind and whether it is a
/// secret (secrets are masked wherever configuration is printed or logged).
#[derive(Debug)]
pub struct KeyDef {
    /// Dotted path in the TOML file, e.g. `storage.kms_provider`.
    pub key: &'static str,
    /// Environment variables that set this key, highest precedence last.
    pub env: &'static [&'static str],
    /// Value kind.
    pub kind: Kind,
    /// Masked in reports.
    pub secret: bool,
}

const fn k(key: &'static str, env: &'static [&'static str], kind: Kind) -> KeyDef {
    KeyDef {
        key,
        env,
        kind,
        secret: false,
    }
}

const fn secret(key: &'static str, env: &'static [&'static str]) -> KeyDef {
    KeyDef {
        key,
        env,
        kind: Kind::Str,
        secret: true,
    }
}

/// Every configuration key. Keep in step with [`Config`] and `config/rampart.example.toml`
/// (a test checks both).
pub static KEYS: &[KeyDef] = &[
    k("data_dir", &["RAMPART_DATA_DIR"], Kind::Str),
    k("deployment_mode", &["DEPLOYMENT_MODE"], Kind::Str),
    k("server.bind", &["RAMPART_BIND"], Kind::Str),
    k("server.public_url", &["RAMPART_PUBLIC_URL"], Kind::Str),
    k(
        "server.tls_cert_file",
        &["RAMPART_TLS_CERT_FILE"],
        Kind::Str,
    ),
    k("server.tls_key_file", &["RAMPART_TLS_KEY_FILE"], Kind::Str),
    k("server.workers", &["RAMPART_WORKERS"], Kind::Int),
    k(
        "server.trusted_proxies",
        &["RAMPART_TRUSTED_PROXIES"],
        Kind::List,
    ),
    k(
        "server.shutdown_timeout_seconds",
        &["RAMPART_SHUTDOWN_TIMEOUT_SECONDS"],
        Kind::Int,
    ),
    k("log.level", &["RAMPART_LOG"], Kind::Str),
    k("log.dir", &["RAMPART_LOG_DIR"], Kind::Str),
    k(
        "storage.kms_provider",
        &["KMS_PROVIDER", "RAMPART_KMS_PROVIDER"],
        Kind::Str,
    ),
    secret(
        "storage.encryption_key",
        &["ENCRYPTION_KEY", "RAMPART_ENCRYPTION_KEY"],
    ),
    k(
        "storage.vault_addr",
        &["VAULT_ADDR", "RAMPART_VAULT_ADDR"],
        Kind::Str,
    ),
    secret(
        "storage.vault_token",
        &["VAULT_TOKEN", "RAMPART_VAULT_TOKEN"],
    ),
    k(
        "storage.vault_token_file",
        &["VAULT_TOKEN_FILE", "RAMPART_VAULT_TOKEN_FILE"],
        Kind::Str,
    ),
    k(
        "storage.vault_transit_key",
        &["VAULT_TRANSIT_KEY", "RAMPART_VAULT_TRANSIT_KEY"],
        Kind::Str,
    ),
    k(
        "storage.vault_cacert",
        &["VAULT_CACERT", "RAMPART_VAULT_CACERT"],
        Kind::Str,
    ),
    k(
        "storage.org_db_isolation",
        &["ORG_DB_ISOLATION", "RAMPART_ORG_DB_ISOLATION"],
        Kind::Bool,
    ),
    k(
        "storage.busy_timeout_ms",
        &["RAMPART_BUSY_TIMEOUT_MS"],
        Kind::Int,
    ),
    k("storage.pool_size", &["RAMPART_DB_POOL_SIZE"], Kind::Int),
    secret("auth.secret", &["AUTH_SECRET", "RAMPART_AUTH_SECRET"]),
    k("auth.local_enabled", &["LOCAL_AUTH_ENABLED"], Kind::Bool),
    k(
        "auth.argon2_memory_kib",
        &["RAMPART_ARGON2_MEMORY_KIB"],
        Kind::Int,
    ),
    k(
        "auth.argon2_iterations",
        &["RAMPART_ARGON2_ITERATIONS"],
        Kind::Int,
    ),
    k(
        "auth.argon2_parallelism",
        &["RAMPART_ARGON2_PARALLELISM"],
        Kind::Int,
    ),
    k(
        "auth.argon2_max_concurrent",
        &["RAMPART_ARGON2_MAX_CONCURRENT"],
        Kind::Int,
    ),
    k(
        "auth.session_idle_minutes",
        &["RAMPART_SESSION_IDLE_MINUTES"],
        Kind::Int,
    ),
    k(
        "auth.session_absolute_hours",
        &["RAMPART_SESSION_ABSOLUTE_HOURS"],
        Kind::Int,
    ),
    k(
        "auth.login_max_failures",
        &["RAMPART_LOGIN_MAX_FAILURES"],
        Kind::Int,
    ),
    k(
        "auth.login_ip_max_failures",
        &["RAMPART_LOGIN_IP_MAX_FAILURES"],
        Kind::Int,
    ),
    k(
        "auth.login_lockout_max_seconds",
        &["RAMPART_LOGIN_LOCKOUT_MAX_SECONDS"],
        Kind::Int,
    ),
    secret(
        "mfa.encryption_key",
        &["MFA_ENCRYPTION_KEY", "RAMPART_MFA_ENCRYPTION_KEY"],
    ),
    k(
        "mfa.pre_auth_expiry_seconds",
        &["MFA_PRE_AUTH_EXPIRY_SECONDS"],
        Kind::Int,
    ),
    k(
        "mfa.recovery_code_count",
        &["MFA_RECOVERY_CODE_COUNT"],
        Kind::Int,
    ),
    k(
        "mfa.required_for_local",
        &["MFA_REQUIRED_FOR_LOCAL"],
        Kind::Bool,
    ),
    k("webauthn.rp_id", &["WEBAUTHN_RP_ID"], Kind::Str),
    k("webauthn.rp_name", &["WEBAUTHN_RP_NAME"], Kind::Str),
    k("webauthn.origin", &["WEBAUTHN_ORIGIN"], Kind::Str),
    k(
        "assurance.oidc_jwks_file",
        &["RAMPART_OIDC_JWKS_FILE"],
        Kind::Str,
    ),
    k("assurance.oidc_fetch", &["RAMPART_OIDC_FETCH"], Kind::Bool),
    k(
        "assurance.oidc_allow_private_networks",
        &["RAMPART_OIDC_ALLOW_PRIVATE_NETWORKS"],
        Kind::Bool,
    ),
    k(
        "engine.extra_catalog_dir",
        &["RAMPART_EXTRA_CATALOG_DIR"],
        Kind::Str,
    ),
    k(
        "engine.extra_frameworks_dir",
        &["RAMPART_EXTRA_FRAMEWORKS_DIR"],
        Kind::Str,
    ),
    k(
        "limits.json_body_bytes",
        &["RAMPART_LIMIT_JSON_BODY_BYTES"],
        Kind::Int,
    ),
    k(
        "limits.form_body_bytes",
        &["RAMPART_LIMIT_FORM_BODY_BYTES"],
        Kind::Int,
    ),
    k(
        "limits.upload_body_bytes",
        &["RAMPART_LIMIT_UPLOAD_BODY_BYTES"],
        Kind::Int,
    ),
    k(
        "limits.restore_plaintext_bytes",
        &["RAMPART_LIMIT_RESTORE_PLAINTEXT_BYTES"],
        Kind::Int,
    ),
    k(
        "limits.running_jobs",
        &["RAMPART_LIMIT_RUNNING_JOBS"],
        Kind::Int,
    ),
    k("metrics.enabled", &["RAMPART_METRICS_ENABLED"], Kind::Bool),
    secret("metrics.token", &["RAMPART_METRICS_TOKEN"]),
    secret(
        "backup.signing_key",
        &["BACKUP_SIGNING_KEY", "RAMPART_BACKUP_SIGNING_KEY"],
    ),
    k(
        "license.key_file",
        &["LICENSE_KEY_FILE", "RAMPART_LICENSE_KEY_FILE"],
        Kind::Str,
    ),
    k(
        "license.extra_public_key",
        &["RAMPART_LICENSE_EXTRA_PUBLIC_KEY"],
        Kind::Str,
    ),
    k(
        "maintenance.alert_email",
        &["MAINTENANCE_ALERT_EMAIL", "RAMPART_MAINTENANCE_ALERT_EMAIL"],
        Kind::Str,
    ),
    k("llm.endpoint", &["RAMPART_LLM_ENDPOINT"], Kind::Str),
    k("llm.model", &["RAMPART_LLM_MODEL"], Kind::Str),
    secret("llm.api_key", &["OPENAI_API_KEY", "RAMPART_LLM_API_KEY"]),
    k(
        "llm.timeout_seconds",
        &["RAMPART_LLM_TIMEOUT_SECONDS"],
        Kind::Int,
    ),
    k("llm.cache_enabled", &["LLM_CACHE_ENABLED"], Kind::Bool),
    k("llm.cache_ttl_hours", &["LLM_CACHE_TTL_HOURS"], Kind::Int),
    k(
        "llm.cache_max_entries",
        &["LLM_CACHE_MAX_ENTRIES"],
        Kind::Int,
    ),
    k(
        "llm.daily_request_limit",
        &["RAMPART_FAIR_USE_DAILY_LIMIT"],
        Kind::Int,
    ),
    k(
        "llm.price_per_1k_prompt_tokens",
        &["RAMPART_LLM_PRICE_PER_1K_PROMPT_TOKENS"],
        Kind::Decimal,
    ),
    k(
        "llm.price_per_1k_completion_tokens",
        &["RAMPART_LLM_PRICE_PER_1K_COMPLETION_TOKENS"],
        Kind::Decimal,
    ),
    k(
        "llm.price_currency",
        &["RAMPART_LLM_PRICE_CURRENCY"],
        Kind::Str,
    ),
    k("telemetry.enabled", &["TELEMETRY_ENABLED"], Kind::Bool),
    k("telemetry.log_level", &["TELEMETRY_LOG_LEVEL"], Kind::Str),
    k("telemetry.log_file", &["TELEMETRY_LOG_FILE"], Kind::Str),
    k(
        "telemetry.retention_days",
        &["TELEMETRY_RETENTION_DAYS"],
        Kind::Int,
    ),
    k("smtp.host", &["SMTP_HOST", "RAMPART_SMTP_HOST"], Kind::Str),
    k("smtp.port", &["SMTP_PORT", "RAMPART_SMTP_PORT"], Kind::Int),
    k(
        "smtp.username",
        &["SMTP_USERNAME", "RAMPART_SMTP_USERNAME"],
        Kind::Str,
    ),
    secret("smtp.password", &["SMTP_PASSWORD", "RAMPART_SMTP_PASSWORD"]),
    k(
        "smtp.from_address",
        &["SMTP_FROM_ADDRESS", "RAMPART_SMTP_FROM_ADDRESS"],
        Kind::Str,
    ),
    k(
        "smtp.from_name",
        &["SMTP_FROM_NAME", "RAMPART_SMTP_FROM_NAME"],
        Kind::Str,
    ),
    k(
        "smtp.use_tls",
        &["SMTP_USE_TLS", "RAMPART_SMTP_USE_TLS"],
        Kind::Bool,
    ),
    k(
        "smtp.retry_base_seconds",
        &["RAMPART_SMTP_RETRY_BASE_SECONDS"],
        Kind::Int,
    ),
    k(
        "smtp.max_attempts",
        &["RAMPART_SMTP_MAX_ATTEMPTS"],
        Kind::Int,
    ),
    k(
        "signup.enabled",
        &["SIGNUP_ENABLED", "RAMPART_SIGNUP_ENABLED"],
        Kind::Bool,
    ),
    k(
        "signup.allowed_domains",
        &["SIGNUP_ALLOWED_DOMAINS", "RAMPART_SIGNUP_ALLOWED_DOMAINS"],
        Kind::List,
    ),
    k(
        "integrations.calls_per_minute",
        &["RAMPART_INTEGRATIONS_CALLS_PER_MINUTE"],
        Kind::Int,
    ),
    k(
        "integrations.timeout_seconds",
        &["RAMPART_INTEGRATIONS_TIMEOUT_SECONDS"],
        Kind::Int,
    ),
    k(
        "integrations.retry_base_seconds",
        &["RAMPART_INTEGRATIONS_RETRY_BASE_SECONDS"],
        Kind::Int,
    ),
    k(
        "integrations.max_attempts",
        &["RAMPART_INTEGRATIONS_MAX_ATTEMPTS"],
        Kind::Int,
    ),
    k(
        "integrations.reconcile_interval_seconds",
        &["RAMPART_INTEGRATIONS_RECONCILE_INTERVAL_SECONDS"],
        Kind::Int,
    ),
    k(
        "integrations.allowed_hosts",
        &["RAMPART_INTEGRATIONS_ALLOWED_HOSTS"],
        Kind::List,
    ),
    k(
        "oauth.client_metadata_documents",
        &["RAMPART_OAUTH_CLIENT_METADATA_DOCUMENTS"],
        Kind::Str,
    ),
    k(
        "oauth.client_metadata_allowed",
        &["RAMPART_OAUTH_CLIENT_METADATA_ALLOWED"],
        Kind::List,
    ),
];

/// A secret string: deserializes like a string, prints as `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is used, never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no secret was configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("***")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// The whole configuration, finished and validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the databases, key files and logs of this instance live.
    pub data_dir: PathBuf,
    /// Only `onprem` is supported; accepted so existing deployment notes keep working.
    pub deployment_mode: String,
    /// HTTP listener.
    pub server: ServerConfig,
    /// Logging.
    pub log: LogConfig,
    /// Encrypted storage.
    pub storage: StorageConfig,
    /// Authentication secrets and policies.
    pub auth: AuthConfig,
    /// Second factors.
    pub mfa: MfaConfig,
    /// WebAuthn relying party.
    pub webauthn: WebauthnConfig,
    /// Threat-model generation.
    pub engine: EngineConfig,
    /// CI attestation.
    pub assurance: AssuranceConfig,
    /// Request size limits.
    pub limits: LimitsConfig,
    /// Signed backups.
    pub backup: BackupConfig,
    /// On-prem license.
    pub license: LicenseConfig,
    /// Maintenance mode (circuit breaker) alerts.
    pub maintenance: MaintenanceConfig,
    /// Outgoing mail relay (alerts, verification codes).
    pub smtp: SmtpConfig,
    /// Self-service signup (off by default).
    pub signup: SignupConfig,
    /// Jira and Confluence connections of organizations: call rate, retries, reconcile.
    pub integrations: IntegrationsConfig,
    /// The appliance as OAuth authorization server for agents: client registration rules.
    pub oauth: OAuthConfig,
    /// Optional LLM engine (OpenAI-compatible endpoint), its cache and fair-use limit.
    pub llm: LlmConfig,
    /// Per-call LLM usage recording.
    pub telemetry: TelemetryConfig,
    /// The Prometheus `/metrics` endpoint (off unless enabled or a token is set).
    pub metrics: MetricsConfig,
}

/// `/metrics` exposure. Off by default: request counts, routes and latencies tell an
/// outsider what is used and when. `token` set: served to `Authorization: Bearer <token>`
/// only. `enabled` without a token: served to anyone who can reach the port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` (without a token: to everyone).
    pub enabled: bool,
    /// Bearer token required for `/metrics`; setting it also enables the endpoint.
    pub token: Secret,
}

/// LLM engine settings. An empty `endpoint` keeps the built-in offline engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// OpenAI-compatible base URL (`http://localhost:11434/v1`); empty = built-in engine.
    pub endpoint: String,
    /// Model name sent with every request.
    pub model: String,
    /// Bearer token; empty sends no Authorization header (local servers).
    pub api_key: Secret,
    /// Per-request timeout.
    pub timeout_seconds: u64,
    /// Per-user response cache on/off.
    pub cache_enabled: bool,
    /// Cache entry lifetime.
    pub cache_ttl_hours: u64,
    /// Entries kept before least-recently-used eviction.
    pub cache_max_entries: u64,
    /// Non-cached AI requests a user may make per UTC day (0 = unlimited).
    pub daily_request_limit: u64,
    /// Admin-set price per 1000 prompt tokens, for the usage cost estimate (0 = none).
    pub price_per_1k_prompt_tokens: f64,
    /// Admin-set price per 1000 completion tokens, for the usage cost estimate.
    pub price_per_1k_completion_tokens: f64,
    /// Currency label of the prices (shown beside the estimate; no conversion).
    pub price_currency: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            model: "gpt-4o-mini".into(),
            api_key: Secret::default(),
            timeout_seconds: 120,
            cache_enabled: true,
            cache_ttl_hours: 24,
            cache_max_entries: 10_000,
            daily_request_limit: 2000,
            price_per_1k_prompt_tokens: 0.0,
            price_per_1k_completion_tokens: 0.0,
            price_currency: "USD".into(),
        }
    }
}

/// LLM usage telemetry settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Record per-call LLM telemetry (model, step, tokens, latency, cache hit, error). Off:
    /// nothing about calls is kept; the fair-use limit still counts operations.
    pub enabled: bool,
    /// Records older than this many days are pruned (by the server's worker).
    pub retention_days: u64,
    /// `debug` (each call, with a preview of its prompt), `info` (each call), `warning` or
    /// `error` (failed calls only) — for the telemetry log file.
    pub log_level: String,
    /// A file that receives one JSON line per call (empty: none).
    pub log_file: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 30,
            log_level: "info".into(),
            log_file: String::new(),
        }
    }
}

/// Signed backup settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// PEM (PKCS#8) ECDSA P-256 private key that signs backups; empty: generated into the data dir.
    pub signing_key: Secret,
}

/// License settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LicenseConfig {
    /// Path of the license JWT; empty: the file installed with `rampart admin license install`.
    pub key_file: Option<PathBuf>,
    /// An additional PEM public key trusted to sign licenses (besides the built-in vendor key).
    pub extra_public_key: String,
}

/// Maintenance mode settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// Where the urgent alert goes when the circuit breaker trips; empty disables alerts.
    pub alert_email: String,
}

/// SMTP relay settings; mail is sent only when `host` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Relay host name; empty disables outgoing mail.
    pub host: String,
    /// Relay port (587 STARTTLS, 465 implicit TLS).
    pub port: u64,
    /// Login user; empty: no authentication.
    pub username: String,
    /// Login password or API key.
    pub password: Secret,
    /// Sender address.
    pub from_address: String,
    /// Sender display name.
    pub from_name: String,
    /// STARTTLS (port 465 always uses implicit TLS).
    pub use_tls: bool,
    /// Wait before the first retry of a message that could not be sent; doubles per
    /// attempt (capped at an hour).
    pub retry_base_seconds: u64,
    /// Attempts before a message is marked failed (admins see and can retry it).
    pub max_attempts: u64,
}

/// Self-service signup (`SIGNUP_ENABLED`): people create their own account with an emailed
/// 6-digit code. Needs SMTP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignupConfig {
    /// Allow self-service signup.
    pub enabled: bool,
    /// Only addresses at these domains may sign up (empty: any domain).
    pub allowed_domains: Vec<String>,
}

/// OAuth clients that identify themselves by a Client ID Metadata Document (an `https` URL
/// as `client_id`, MCP authorization 2025-11-25): whether the appliance fetches such
/// documents. Fetching is a request to a URL an unauthenticated caller chose, so it follows
/// the SSRF rules of [`crate::outbound`]; air-gapped appliances fetch only what is listed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    /// `public`: fetch from public `https` hosts, and from listed prefixes;
    /// `allow-list`: only from URLs under `client_metadata_allowed` (air-gapped);
    /// `off`: URL client ids are refused (Dynamic Client Registration still works).
    pub client_metadata_documents: String,
    /// URL prefixes (`https://tools.example.com/`) whose documents are fetched in every mode
    /// but `off`, even from private addresses (the operator vouches for them).
    pub client_metadata_allowed: Vec<String>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            client_metadata_documents: "public".into(),
            client_metadata_allowed: Vec::new(),
        }
    }
}

/// Jira/Confluence client behaviour (the connections themselves are per-org settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntegrationsConfig {
    /// Most calls per minute to one Jira or Confluence site (all orgs, all work together).
    pub calls_per_minute: u64,
    /// Per-request timeout.
    pub timeout_seconds: u64,
    /// Wait before a queued item is retried after a failure; doubles per attempt (capped
    /// at an hour).
    pub retry_base_seconds: u64,
    /// Attempts before a queued item is marked failed (shown to users and org admins).
    pub max_attempts: u64,
    /// How often linked Jira issues are re-read to catch missed webhooks (0 = never).
    pub reconcile_interval_seconds: u64,
    /// Hosts (or `*.suffix`) an org admin may point an integration at; empty = any. Set it
    /// when org admins should not be able to make the appliance call arbitrary hosts.
    pub allowed_hosts: Vec<String>,
}

impl Default for IntegrationsConfig {
    fn default() -> Self {
        Self {
            calls_per_minute: 300,
            timeout_seconds: 20,
            retry_base_seconds: 30,
            max_attempts: 10,
            reconcile_interval_seconds: 900,
            allowed_hosts: Vec::new(),
        }
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            username: String::new(),
            password: Secret::default(),
            from_address: "noreply@rampart.invalid".into(),
            from_name: "rampart".into(),
            use_tls: true,
            retry_base_seconds: 60,
            max_attempts: 8,
        }
    }
}

/// CI attestation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssuranceConfig {
    /// Local JWKS per OIDC issuer (`{"<issuer>": {"keys": [...]}}`), for air-gapped installs.
    pub oidc_jwks_file: Option<PathBuf>,
    /// Fetch issuer keys over HTTPS when they are not in the file.
    pub oidc_fetch: bool,
    /// Allow issuer discovery to reach private, loopback and link-local addresses (and plain
    /// `http://` issuers): only for self-hosted CI on an internal network. Off by default, so
    /// a workspace owner cannot make the appliance probe its own network (SSRF).
    pub oidc_allow_private_networks: bool,
}

impl Default for AssuranceConfig {
    fn default() -> Self {
        Self {
            oidc_jwks_file: None,
            oidc_fetch: true,
            oidc_allow_private_networks: false,
        }
    }
}

/// Threat-model generation settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Extra catalog `*.toml` files extending the built-in catalog, read at start.
    pub extra_catalog_dir: Option<PathBuf>,
    /// Extra compliance framework files (`*.toml`, same format as `assets/compliance/`),
    /// read at start; a framework id already known is replaced.
    pub extra_frameworks_dir: Option<PathBuf>,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Socket address to bind; port 0 picks a free port (the real address is printed).
    pub bind: String,
    /// The URL users and agents reach this appliance at (links, MCP Origin/Host checks, WebAuthn).
    pub public_url: String,
    /// PEM certificate chain; with `tls_key_file`, the server speaks HTTPS (rustls).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// HTTP worker threads; 0 means one per core.
    pub workers: u64,
    /// Reverse proxies (CIDRs or addresses) whose `X-Forwarded-For` is believed; empty: the
    /// header is ignored and the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_timeout_seconds: u64,
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// tracing filter directive, e.g. `info` or `rampart=debug,actix_web=info`.
    pub level: String,
    /// When set, JSON logs are also written to daily-rolling files in this directory.
    pub dir: Option<PathBuf>,
}

/// Encrypted storage settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `none`: master key generated into the data dir; `static`: master key from
    /// `encryption_key`; `vault`: master key wrapped by Vault Transit (`vault_*`).
    pub kms_provider: String,
    /// Base64 of 32 bytes; required when `kms_provider = "static"`.
    pub encryption_key: Secret,
    /// Vault base URL (`https://vault.internal:8200`); required with `vault`.
    pub vault_addr: String,
    /// Vault token; this or `vault_token_file` is required with `vault`.
    pub vault_token: Secret,
    /// File holding the Vault token (read at start).
    pub vault_token_file: String,
    /// Name of the Transit key that wraps the master key; required with `vault`.
    pub vault_transit_key: String,
    /// PEM CA bundle that signs the Vault server's certificate (internal CA).
    pub vault_cacert: String,
    /// Each organization in its own SQLCipher database under its own key.
    pub org_db_isolation: bool,
    /// How long a connection waits for a lock held by another process (e.g. `admin` beside `serve`).
    pub busy_timeout_ms: u64,
    /// Connections kept open to the platform database.
    pub pool_size: u64,
}

/// Authentication settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Accepted only empty: rampart signs no authentication tokens (AUTH_SECRET of the
    /// product documentation is refused with the reason).
    pub secret: Secret,
    /// Password sign-in (LOCAL_AUTH_ENABLED); the only sign-in method, so `false` is refused.
    pub local_enabled: bool,
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u64,
    /// Argon2id iterations (OWASP: 2).
    pub argon2_iterations: u64,
    /// Argon2id lanes (OWASP: 1).
    pub argon2_parallelism: u64,
    /// Password hashes computed at once; more wait (up to 10 s, then "busy"). Peak argon2
    /// memory is this times `argon2_memory_kib`.
    pub argon2_max_concurrent: u64,
    /// A session idle this long ends.
    pub session_idle_minutes: u64,
    /// A session ends this long after sign-in, active or not.
    pub session_absolute_hours: u64,
    /// Failed logins per account before exponential backoff starts.
    pub login_max_failures: u64,
    /// Failed logins per client IP before exponential backoff starts.
    pub login_ip_max_failures: u64,
    /// Longest backoff.
    pub login_lockout_max_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            secret: Secret::default(),
            local_enabled: true,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            argon2_max_concurrent: 4,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            login_max_failures: 5,
            login_ip_max_failures: 20,
            login_lockout_max_seconds: 900,
        }
    }
}

/// Multi-factor authentication settings (names as in the product documentation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// Base64 of 32 bytes encrypting TOTP secrets at rest; empty = derived from the master key.
    pub encryption_key: Secret,
    /// Lifetime of the token between the password step and the second factor.
    pub pre_auth_expiry_seconds: u64,
    /// Recovery codes per set.
    pub recovery_code_count: u64,
    /// Password accounts must enroll a second factor before using the appliance.
    pub required_for_local: bool,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            encryption_key: Secret::default(),
            pre_auth_expiry_seconds: 300,
            recovery_code_count: 10,
            required_for_local: true,
        }
    }
}

/// WebAuthn relying party.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// RP id: the host name users reach the appliance at; empty = the public URL's host.
    pub rp_id: String,
    /// Name shown by authenticators.
    pub rp_name: String,
    /// Expected origin; empty = the public URL.
    pub origin: String,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: String::new(),
            rp_name: "rampart".into(),
            origin: String::new(),
        }
    }
}

/// Size limits for request bodies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest JSON body accepted by API endpoints.
    pub json_body_bytes: u64,
    /// Largest urlencoded form body accepted by web forms.
    pub form_body_bytes: u64,
    /// Largest upload (backup restore, license, key files).
    pub upload_body_bytes: u64,
    /// Largest decompressed database a restore accepts (a gzip payload expands at most to
    /// this before the restore stops with a clear error).
    pub restore_plaintext_bytes: u64,
    /// Background jobs (generation, refinement, MCP async tools) running at once; more are
    /// refused with 429 until one finishes.
    pub running_jobs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            deployment_mode: "onprem".into(),
            server: ServerConfig::default(),
            log: LogConfig::default(),
            storage: StorageConfig::default(),
            auth: AuthConfig::default(),
            mfa: MfaConfig::default(),
            webauthn: WebauthnConfig::default(),
            engine: EngineConfig::default(),
            assurance: AssuranceConfig::default(),
            limits: LimitsConfig::default(),
            backup: BackupConfig::default(),
            license: LicenseConfig::default(),
            maintenance: MaintenanceConfig::default(),
            smtp: SmtpConfig::default(),
            signup: SignupConfig::default(),
            integrations: IntegrationsConfig::default(),
            oauth: OAuthConfig::default(),
            llm: LlmConfig::default(),
            telemetry: TelemetryConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
            tls_cert_file: None,
            tls_key_file: None,
            workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_timeout_seconds: 30,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            dir: None,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            kms_provider: "none".into(),
            encryption_key: Secret::default(),
            vault_addr: String::new(),
            vault_token: Secret::default(),
            vault_token_file: String::new(),
            vault_transit_key: String::new(),
            vault_cacert: String::new(),
            org_db_isolation: false,
            busy_timeout_ms: 5_000,
            pool_size: 8,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            json_body_bytes: 1024 * 1024,
            form_body_bytes: 256 * 1024,
            upload_body_bytes: 2 * 1024 * 1024 * 1024,
            restore_plaintext_bytes: 64 * 1024 * 1024 * 1024,
            running_jobs: 4,
        }
    }
}

/// `/var/lib/rampart` for root (the packaged service), `./rampart-data` for anyone else.
fn default_data_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        PathBuf::from("/var/lib/rampart")
    } else {
        PathBuf::from("rampart-data")
    }
}

impl Config {
    /// The URL this appliance is reached at: `server.public_url`, or derived from the bind address.
    pub fn public_url(&self, bound: Option<SocketAddr>) -> String {
        if !self.server.public_url.is_empty() {
            return self.server.public_url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        let addr = bound.or_else(|| self.server.bind.parse().ok());
        match addr {
            // Browsers treat localhost as a secure context (needed for WebAuthn), and an IP
            // address cannot be a WebAuthn relying party, so loopback binds use the name.
            Some(a) if a.ip().is_loopback() || a.ip().is_unspecified() => {
                format!("{scheme}://localhost:{}", a.port())
            }
            Some(a) => format!("{scheme}://{a}"),
            None => format!("{scheme}://{}", self.server.bind),
        }
    }

    /// Whether the listener speaks HTTPS.
    pub fn tls_enabled(&self) -> bool {
        self.server.tls_cert_file.is_some()
    }

    /// Whether browsers reach the appliance over https: the public URL is https (TLS here or
    /// at a reverse proxy), or the listener speaks TLS. Decides `Secure` cookies and HSTS.
    pub fn https(&self) -> bool {
        self.public_url(None).starts_with("https://")
    }

    /// `server.trusted_proxies` parsed (validated at load; a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Vec<ipnet::IpNet> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|s| parse_net(s).ok())
            .collect()
    }

    /// Whether `/metrics` is served (enabled, or a token set).
    pub fn metrics_served(&self) -> bool {
        self.metrics.enabled || !self.metrics.token.is_empty()
    }

    /// `MFA_ENCRYPTION_KEY` decoded, when set (validated to be 32 bytes).
    pub fn mfa_encryption_key(&self) -> Option<[u8; 32]> {
        (!self.mfa.encryption_key.is_empty())
            .then(|| decode_key32(self.mfa.encryption_key.expose()).ok())
            .flatten()
    }

    /// The static master key when `kms_provider = "static"` (validated to be 32 bytes).
    pub fn static_master_key(&self) -> Option<[u8; 32]> {
        if self.storage.kms_provider != "static" {
            return None;
        }
        decode_key32(self.storage.encryption_key.expose()).ok()
    }
}

/// A CIDR (`10.0.0.0/8`) or a single address (`192.0.2.7`, `::1`).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let t = s.trim();
    if let Ok(net) = t.parse::<ipnet::IpNet>() {
        return Ok(net);
    }
    t.parse::<std::net::IpAddr>()
        .map(ipnet::IpNet::from)
        .map_err(|_| format!("{t:?} is not an IP address or CIDR (e.g. 10.0.0.0/8)"))
}

fn decode_key32(b64: &str) -> Result<[u8; 32], String> {
    let text = b64.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .map_err(|e| format!("not valid base64 ({e})"))?;
    bytes
        .try_into()
        .map_err(|v: Vec<u8>| format!("must decode to 32 bytes, got {}", v.len()))
}

/// Where a key's effective value came from, for `--check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built-in default.
    Default,
    /// The TOML file.
    File(PathBuf),
    /// An environment variable (its name).
    Env(String),
    /// A command-line flag (its name).
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(n) => write!(f, "env {n}"),
            Source::Flag(n) => write!(f, "flag {n}"),
        }
    }
}

/// A configuration problem; always names the key (or file) so it can be fixed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// File path.
        path: PathBuf,
        /// Parser message with line/column.
        message: String,
    },
    /// A key the appliance does not know.
    #[error("unknown config key `{key}` in {origin}")]
    UnknownKey {
        /// Dotted key.
        key: String,
        /// Where it was found.
        origin: Source,
    },
    /// An unknown `RAMPART_*` environment variable (likely a typo).
    #[error(
        "unknown environment variable {name}: not a rampart setting (see config/rampart.example.toml)"
    )]
    UnknownEnv {
        /// Variable name.
        name: String,
    },
    /// A documented name this appliance deliberately does not implement.
    #[error("environment variable {name} is not supported: {reason}")]
    Refused {
        /// Variable name.
        name: String,
        /// Why, and what to use instead.
        reason: String,
    },
    /// A value of the wrong type or out of range.
    #[error("invalid value for config key `{key}` (from {origin}): {message}")]
    BadValue {
        /// Dotted key.
        key: String,
        /// Where the value came from.
        origin: Source,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// Values set by command-line flags, applied last. One per flag; `None` leaves the key alone.
#[derive(Debug, Default, Clone)]
pub struct FlagOverrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--bind`
    pub bind: Option<String>,
    /// `--public-url`
    pub public_url: Option<String>,
    /// `--tls-cert`
    pub tls_cert_file: Option<PathBuf>,
    /// `--tls-key`
    pub tls_key_file: Option<PathBuf>,
    /// `--log-dir`
    pub log_dir: Option<PathBuf>,
}

impl FlagOverrides {
    fn entries(&self) -> Vec<(&'static str, &'static str, toml::Value)> {
        let path = |p: &PathBuf| toml::Value::String(p.to_string_lossy().into_owned());
        let mut out = Vec::new();
        if let Some(v) = &self.data_dir {
            out.push(("data_dir", "--data-dir", path(v)));
        }
        if let Some(v) = &self.bind {
            out.push(("server.bind", "--bind", toml::Value::String(v.clone())));
        }
        if let Some(v) = &self.public_url {
            out.push((
                "server.public_url",
                "--public-url",
                toml::Value::String(v.clone()),
            ));
        }
        if let Some(v) = &self.tls_cert_file {
            out.push(("server.tls_cert_file", "--tls-cert", path(v)));
        }
        if let Some(v) = &self.tls_key_file {
            out.push(("server.tls_key_file", "--tls-key", path(v)));
        }
        if let Some(v) = &self.log_dir {
            out.push(("log.dir", "--log-dir", path(v)));
        }
        out
    }
}

/// The result of loading: the config plus where every non-default value came from.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Source of each key that is not at its default.
    pub sources: BTreeMap<&'static str, Source>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

impl Loaded {
    /// Lines `key = value  (source)` for every key, secrets masked; used by `--check-config`.
    pub fn report(&self) -> Vec<String> {
        let table = toml::Value::try_from(ReportView(&self.config)).ok();
        KEYS.iter()
            .map(|def| {
                let value = if def.secret {
                    let set = lookup(table.as_ref(), def.key)
                        .and_then(|v| v.as_str().map(|s| !s.is_empty()))
                        .unwrap_or(false);
                    if set {
                        "\"***\"".to_string()
                    } else {
                        "\"\"".to_string()
                    }
                } else {
                    lookup(table.as_ref(), def.key)
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(unset)".into())
                };
                let source = self
                    .sources
                    .get(def.key)
                    .cloned()
                    .unwrap_or(Source::Default);
                format!("{} = {}  ({})", def.key, value, source)
            })
            .collect()
    }
}

fn lookup<'a>(table: Option<&'a toml::Value>, dotted: &str) -> Option<&'a toml::Value> {
    let mut cur = table?;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// A serializable view of the config used only to print it (secrets stay inside, masked by `report`).
struct ReportView<'a>(&'a Config);

impl serde::Serialize for ReportView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let c = self.0;
        let mut flat: Vec<(&str, toml::Value)> = vec![
            ("data_dir", path_value(&c.data_dir)),
            ("deployment_mode", c.deployment_mode.clone().into()),
            ("server.bind", c.server.bind.clone().into()),
            ("server.public_url", c.server.public_url.clone().into()),
            ("server.workers", int(c.server.workers)),
            (
                "server.trusted_proxies",
                toml::Value::Array(
                    c.server
                        .trusted_proxies
                        .iter()
                        .map(|p| toml::Value::String(p.clone()))
                        .collect(),
                ),
            ),
            (
                "server.shutdown_timeout_seconds",
                int(c.server.shutdown_timeout_seconds),
            ),
            ("log.level", c.log.level.clone().into()),
            (
                "storage.kms_provider",
                c.storage.kms_provider.clone().into(),
            ),
            (
                "storage.encryption_key",
                c.storage.encryption_key.expose().to_string().into(),
            ),
            ("storage.vault_addr", c.storage.vault_addr.clone().into()),
            (
                "storage.vault_token",
                c.storage.vault_token.expose().to_string().into(),
            ),
            (
                "storage.vault_token_file",
                c.storage.vault_token_file.clone().into(),
            ),
            (
                "storage.vault_transit_key",
                c.storage.vault_transit_key.clone().into(),
            ),
            (
                "storage.vault_cacert",
                c.storage.vault_cacert.clone().into(),
            ),
            (
                "storage.org_db_isolation",
                c.storage.org_db_isolation.into(),
            ),
            ("storage.busy_timeout_ms", int(c.storage.busy_timeout_ms)),
            ("storage.pool_size", int(c.storage.pool_size)),
            ("auth.secret", c.auth.secret.expose().to_string().into()),
            ("auth.argon2_memory_kib", int(c.auth.argon2_memory_kib)),
            ("auth.argon2_iterations", int(c.auth.argon2_iterations)),
            ("auth.argon2_parallelism", int(c.auth.argon2_parallelism)),
            (
                "auth.argon2_max_concurrent",
                int(c.auth.argon2_max_concurrent),
            ),
            (
                "auth.session_idle_minutes",
                int(c.auth.session_idle_minutes),
            ),
            (
                "auth.session_absolute_hours",
                int(c.auth.session_absolute_hours),
            ),
            ("auth.login_max_failures", int(c.auth.login_max_failures)),
            (
                "auth.login_ip_max_failures",
                int(c.auth.login_ip_max_failures),
            ),
            (
                "auth.login_lockout_max_seconds",
                int(c.auth.login_lockout_max_seconds),
            ),
            (
                "mfa.encryption_key",
                c.mfa.encryption_key.expose().to_string().into(),
            ),
            (
                "mfa.pre_auth_expiry_seconds",
                int(c.mfa.pre_auth_expiry_seconds),
            ),
            ("mfa.recovery_code_count", int(c.mfa.recovery_code_count)),
            ("mfa.required_for_local", c.mfa.required_for_local.into()),
            ("webauthn.rp_id", c.webauthn.rp_id.clone().into()),
            ("webauthn.rp_name", c.webauthn.rp_name.clone().into()),
            ("webauthn.origin", c.webauthn.origin.clone().into()),
            ("limits.json_body_bytes", int(c.limits.json_body_bytes)),
            ("limits.form_body_bytes", int(c.limits.form_body_bytes)),
            ("limits.upload_body_bytes", int(c.limits.upload_body_bytes)),
            (
                "limits.restore_plaintext_bytes",
                int(c.limits.restore_plaintext_bytes),
            ),
            ("limits.running_jobs", int(c.limits.running_jobs)),
            ("metrics.enabled", c.metrics.enabled.into()),
            ("metrics.token", c.metrics.token.expose().to_string().into()),
            (
                "backup.signing_key",
                c.backup.signing_key.expose().to_string().into(),
            ),
            (
                "license.extra_public_key",
                c.license.extra_public_key.clone().into(),
            ),
            (
                "maintenance.alert_email",
                c.maintenance.alert_email.clone().into(),
            ),
            ("smtp.host", c.smtp.host.clone().into()),
            ("smtp.port", int(c.smtp.port)),
            ("smtp.username", c.smtp.username.clone().into()),
            ("smtp.password", c.smtp.password.expose().to_string().into()),
            ("smtp.from_address", c.smtp.from_address.clone().into()),
            ("smtp.from_name", c.smtp.from_name.clone().into()),
            ("smtp.use_tls", c.smtp.use_tls.into()),
            ("smtp.retry_base_seconds", int(c.smtp.retry_base_seconds)),
            ("smtp.max_attempts", int(c.smtp.max_attempts)),
            ("signup.enabled", c.signup.enabled.into()),
            (
                "signup.allowed_domains",
                toml::Value::Array(
                    c.signup
                        .allowed_domains
                        .iter()
                        .map(|p| toml::Value::String(p.clone()))
                        .collect(),
                ),
            ),
            (
                "integrations.calls_per_minute",
                int(c.integrations.calls_per_minute),
            ),
            (
                "integrations.timeout_seconds",
                int(c.integrations.timeout_seconds),
            ),
            (
                "integrations.retry_base_seconds",
                int(c.integrations.retry_base_seconds),
            ),
            (
                "integrations.max_attempts",
                int(c.integrations.max_attempts),
            ),
            (
                "integrations.reconcile_interval_seconds",
                int(c.integrations.reconcile_interval_seconds),
            ),
            (
                "integrations.allowed_hosts",
                toml::Value::Array(
                    c.integrations
                        .allowed_hosts
                        .iter()
                        .map(|p| toml::Value::String(p.clone()))
                        .collect(),
                ),
            ),
            (
                "oauth.client_metadata_documents",
                c.oauth.client_metadata_documents.clone().into(),
            ),
            (
                "oauth.client_metadata_allowed",
                toml::Value::Array(
                    c.oauth
                        .client_metadata_allowed
                        .iter()
                        .map(|p| toml::Value::String(p.clone()))
                        .collect(),
                ),
            ),
            ("llm.endpoint", c.llm.endpoint.clone().into()),
            ("llm.model", c.llm.model.clone().into()),
            ("llm.api_key", c.llm.api_key.expose().to_string().into()),
            ("llm.timeout_seconds", int(c.llm.timeout_seconds)),
            ("llm.cache_enabled", c.llm.cache_enabled.into()),
            ("llm.cache_ttl_hours", int(c.llm.cache_ttl_hours)),
            ("llm.cache_max_entries", int(c.llm.cache_max_entries)),
            ("llm.daily_request_limit", int(c.llm.daily_request_limit)),
            (
                "llm.price_per_1k_prompt_tokens",
                toml::Value::Float(c.llm.price_per_1k_prompt_tokens),
            ),
            (
                "llm.price_per_1k_completion_tokens",
                toml::Value::Float(c.llm.price_per_1k_completion_tokens),
            ),
            ("llm.price_currency", c.llm.price_currency.clone().into()),
            ("telemetry.enabled", c.telemetry.enabled.into()),
            ("telemetry.retention_days", int(c.telemetry.retention_days)),
            ("telemetry.log_level", c.telemetry.log_level.clone().into()),
            ("telemetry.log_file", c.telemetry.log_file.clone().into()),
            ("auth.local_enabled", c.auth.local_enabled.into()),
        ];
        if let Some(p) = &c.license.key_file {
            flat.push(("license.key_file", path_value(p)));
        }
        if let Some(p) = &c.server.tls_cert_file {
            flat.push(("server.tls_cert_file", path_value(p)));
        }
        if let Some(p) = &c.server.tls_key_file {
            flat.push(("server.tls_key_file", path_value(p)));
        }
        if let Some(p) = &c.log.dir {
            flat.push(("log.dir", path_value(p)));
        }
        flat.push(("assurance.oidc_fetch", c.assurance.oidc_fetch.into()));
        flat.push((
            "assurance.oidc_allow_private_networks",
            c.assurance.oidc_allow_private_networks.into(),
        ));
        if let Some(p) = &c.assurance.oidc_jwks_file {
            flat.push(("assurance.oidc_jwks_file", path_value(p)));
        }
        if let Some(p) = &c.engine.extra_catalog_dir {
            flat.push(("engine.extra_catalog_dir", path_value(p)));
        }
        if let Some(p) = &c.engine.extra_frameworks_dir {
            flat.push(("engine.extra_frameworks_dir", path_value(p)));
        }
        let mut root = toml::Table::new();
        for (key, value) in flat {
            insert_dotted(&mut root, key, value);
        }
        let mut map = s.serialize_map(Some(root.len()))?;
        for (k, v) in &root {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

fn path_value(p: &Path) -> toml::Value {
    toml::Value::String(p.to_string_lossy().into_owned())
}

fn int(v: u64) -> toml::Value {
    toml::Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn insert_dotted(root: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("dotted keys are never empty");
    let mut cur = root;
    for part in parts {
        cur = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("config sections are tables");
    }
    cur.insert(last.to_string(), value);
}

fn key_def(key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|d| d.key == key)
}

fn is_section(prefix: &str) -> bool {
    KEYS.iter().any(|d| {
        d.key
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('.'))
    })
}

/// Flattens a parsed TOML file into `(dotted key, value)` leaves, rejecting unknown keys.
fn flatten(
    table: &toml::Table,
    prefix: &str,
    file: &Path,
    out: &mut Vec<(&'static KeyDef, toml::Value)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let dotted = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if let Some(def) = key_def(&dotted) {
            out.push((def, value.clone()));
        } else if let (toml::Value::Table(inner), true) = (value, is_section(&dotted)) {
            flatten(inner, &dotted, file, out)?;
        } else {
            return Err(ConfigError::UnknownKey {
                key: dotted,
                origin: Source::File(file.to_path_buf()),
            });
        }
    }
    Ok(())
}

fn check_kind(def: &KeyDef, value: &toml::Value, source: &Source) -> Result<(), ConfigError> {
    let ok = match def.kind {
        Kind::Str => value.is_str(),
        Kind::Int => value.as_integer().is_some_and(|i| i >= 0),
        Kind::Bool => value.is_bool(),
        Kind::List => value
            .as_array()
            .is_some_and(|a| a.iter().all(toml::Value::is_str)),
        Kind::Decimal => match value {
            toml::Value::Float(f) => f.is_finite() && *f >= 0.0,
            toml::Value::Integer(i) => *i >= 0,
            _ => false,
        },
    };
    if ok {
        return Ok(());
    }
    let expected = match def.kind {
        Kind::Str => "a string",
        Kind::Int => "a non-negative integer",
        Kind::Bool => "true or false",
        Kind::List => "a list of strings",
        Kind::Decimal => "a non-negative number",
    };
    Err(ConfigError::BadValue {
        key: def.key.into(),
        origin: source.clone(),
        message: format!("expected {expected}, found {}", value.type_str()),
    })
}

fn parse_env(def: &KeyDef, name: &str, raw: &str) -> Result<toml::Value, ConfigError> {
    let bad = |message: String| ConfigError::BadValue {
        key: def.key.into(),
        origin: Source::Env(name.into()),
        message,
    };
    match def.kind {
        Kind::Str => Ok(toml::Value::String(raw.to_string())),
        Kind::Int => raw
            .trim()
            .parse::<u32>()
            .map(|v| toml::Value::Integer(v.into()))
            .or_else(|_| {
                raw.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .map(toml::Value::Integer)
                    .ok_or(())
            })
            .map_err(|_| bad(format!("expected a non-negative integer, got {raw:?}"))),
        Kind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(bad(format!("expected true or false, got {raw:?}"))),
        },
        Kind::Decimal => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(toml::Value::Float)
            .ok_or_else(|| bad(format!("expected a non-negative number, got {raw:?}"))),
        Kind::List => Ok(toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        )),
    }
}

/// Loads the configuration from the optional file, the given environment and the flags.
///
/// `explicit_file` is the `--config`/`RAMPART_CONFIG` path (must exist); without it the default
/// path is read only if present. `env` is the process environment (injected for tests).
pub fn load(
    explicit_file: Option<&Path>,
    env: &BTreeMap<String, String>,
    flags: &FlagOverrides,
) -> Result<Loaded, ConfigError> {
    let mut merged = toml::Table::new();
    let mut sources: BTreeMap<&'static str, Source> = BTreeMap::new();

    let file = match explicit_file {
        Some(p) => Some(p.to_path_buf()),
        None => env
            .get("RAMPART_CONFIG")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                let p = PathBuf::from(DEFAULT_CONFIG_PATH);
                p.exists().then_some(p)
            }),
    };
    if let Some(path) = &file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            path: path.clone(),
            message: e.to_string().trim().to_string(),
        })?;
        let mut leaves = Vec::new();
        flatten(&table, "", path, &mut leaves)?;
        for (def, value) in leaves {
            let source = Source::File(path.clone());
            check_kind(def, &value, &source)?;
            insert_dotted(&mut merged, def.key, value);
            sources.insert(def.key, source);
        }
    }

    for (name, why) in REFUSED_ENV {
        if env.get(*name).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError::Refused {
                name: (*name).to_string(),
                reason: (*why).to_string(),
            });
        }
    }
    for name in env.keys() {
        if name.starts_with("RAMPART_")
            && !CLIENT_ENV_VARS.contains(&name.as_str())
            && !KEYS.iter().any(|d| d.env.contains(&name.as_str()))
        {
            return Err(ConfigError::UnknownEnv { name: name.clone() });
        }
    }
    for def in KEYS {
        for name in def.env {
            if let Some(raw) = env.get(*name) {
                let value = parse_env(def, name, raw)?;
                insert_dotted(&mut merged, def.key, value);
                sources.insert(def.key, Source::Env((*name).to_string()));
            }
        }
    }

    for (key, flag, value) in flags.entries() {
        insert_dotted(&mut merged, key, value);
        let def = key_def(key).expect("flag keys are in KEYS");
        sources.insert(def.key, Source::Flag(flag));
    }

    let config: Config = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::BadValue {
            key: "(configuration)".into(),
            origin: Source::Default,
            message: e.to_string(),
        })?;
    validate(&config, &sources)?;
    Ok(Loaded {
        config,
        sources,
        file,
    })
}

/// Semantic checks that types alone cannot express.
fn validate(c: &Config, sources: &BTreeMap<&'static str, Source>) -> Result<(), ConfigError> {
    let bad = |key: &str, message: String| ConfigError::BadValue {
        key: key.into(),
        origin: sources.get(key).cloned().unwrap_or(Source::Default),
        message,
    };
    let endpoint = c.llm.endpoint.trim();
    if !(endpoint.is_empty() || endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(bad(
            "llm.endpoint",
            format!("expected an http:// or https:// base URL, got {endpoint:?}"),
        ));
    }
    if !c.auth.secret.expose().is_empty() {
        return Err(bad(
            "auth.secret",
            "is not used: rampart signs no authentication tokens (sessions, API keys and OAuth tokens are random values stored hashed), so there is no secret to share between instances; remove it".into(),
        ));
    }
    if !c.auth.local_enabled {
        return Err(bad(
            "auth.local_enabled",
            "false would disable password sign-in, the appliance's only way for people to sign in, and lock every account out; remove it (or set true)".into(),
        ));
    }
    if !["debug", "info", "warning", "error"]
        .contains(&c.telemetry.log_level.to_ascii_lowercase().as_str())
    {
        return Err(bad(
            "telemetry.log_level",
            format!(
                "expected DEBUG, INFO, WARNING or ERROR, got {:?}",
                c.telemetry.log_level
            ),
        ));
    }
    if c.deployment_mode != "onprem" {
        return Err(bad(
            "deployment_mode",
            format!("only \"onprem\" is supported, got {:?}", c.deployment_mode),
        ));
    }
    if c.data_dir.as_os_str().is_empty() {
        return Err(bad("data_dir", "must not be empty".into()));
    }
    c.server.bind.parse::<SocketAddr>().map_err(|_| {
        bad(
            "server.bind",
            format!(
                "expected IP:PORT such as 127.0.0.1:8080, got {:?}",
                c.server.bind
            ),
        )
    })?;
    let url = &c.server.public_url;
    if !url.is_empty() && !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(bad(
            "server.public_url",
            format!(
                "must start with http:// or https://, got {:?}",
                c.server.public_url
            ),
        ));
    }
    match (&c.server.tls_cert_file, &c.server.tls_key_file) {
        (Some(_), None) => {
            return Err(bad(
                "server.tls_key_file",
                "required when server.tls_cert_file is set".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "server.tls_cert_file",
                "required when server.tls_key_file is set".into(),
            ));
        }
        _ => {}
    }
    if c.log
        .level
        .parse::<tracing_subscriber::EnvFilter>()
        .is_err()
    {
        return Err(bad(
            "log.level",
            format!(
                "not a valid log filter: {:?} (try info, debug or rampart=debug)",
                c.log.level
            ),
        ));
    }
    match c.storage.kms_provider.as_str() {
        "none" => {}
        "static" => {
            if c.storage.encryption_key.is_empty() {
                return Err(bad(
                    "storage.encryption_key",
                    "required when storage.kms_provider is \"static\" (generate one with: openssl rand -base64 32)"
                        .into(),
                ));
            }
            decode_key32(c.storage.encryption_key.expose())
                .map_err(|m| bad("storage.encryption_key", m))?;
        }
        "vault" => {
            let s = &c.storage;
            let addr = s.vault_addr.trim();
            if !(addr.starts_with("http://") || addr.starts_with("https://")) {
                return Err(bad(
                    "storage.vault_addr",
                    format!(
                        "required when storage.kms_provider is \"vault\": the Vault base URL (https://vault.example:8200), got {addr:?}"
                    ),
                ));
            }
            if s.vault_transit_key.trim().is_empty()
                || s.vault_transit_key.contains(['/', '?', '#', ' '])
            {
                return Err(bad(
                    "storage.vault_transit_key",
                    "required when storage.kms_provider is \"vault\": the name of the Transit key that wraps the master key".into(),
                ));
            }
            match (
                s.vault_token.is_empty(),
                s.vault_token_file.trim().is_empty(),
            ) {
                (true, true) => {
                    return Err(bad(
                        "storage.vault_token",
                        "required when storage.kms_provider is \"vault\" (or storage.vault_token_file)".into(),
                    ));
                }
                (false, false) => {
                    return Err(bad(
                        "storage.vault_token_file",
                        "set either storage.vault_token or storage.vault_token_file, not both"
                            .into(),
                    ));
                }
                _ => {}
            }
        }
        "aws" => {
            return Err(bad(
                "storage.kms_provider",
                "\"aws\" is not supported: the appliance does not reach AWS; use \"vault\" (Vault Transit on your network), \"static\" (ENCRYPTION_KEY) or \"none\"".into(),
            ));
        }
        other => {
            return Err(bad(
                "storage.kms_provider",
                format!("expected \"none\", \"static\" or \"vault\", got {other:?}"),
            ));
        }
    }
    if !c.mfa.encryption_key.is_empty() {
        decode_key32(c.mfa.encryption_key.expose()).map_err(|m| bad("mfa.encryption_key", m))?;
    }
    // Saturating: a huge parallelism must be refused, not overflow (found by fuzzing).
    if c.auth.argon2_memory_kib < 8u64.saturating_mul(c.auth.argon2_parallelism.max(1))
        || c.auth.argon2_iterations == 0
        || c.auth.argon2_parallelism == 0
    {
        return Err(bad(
            "auth.argon2_memory_kib",
            "argon2 needs iterations >= 1, parallelism >= 1 and memory >= 8 KiB per lane".into(),
        ));
    }
    for (key, value, max) in [
        (
            "auth.argon2_memory_kib",
            c.auth.argon2_memory_kib,
            4 * 1024 * 1024,
        ),
        ("auth.argon2_iterations", c.auth.argon2_iterations, 1000),
        ("auth.argon2_parallelism", c.auth.argon2_parallelism, 255),
    ] {
        if value > max {
            return Err(bad(key, format!("at most {max}, got {value}")));
        }
    }
    if c.auth.argon2_memory_kib < 19_456 || c.auth.argon2_iterations < 2 {
        tracing::warn!("argon2 cost is below the OWASP recommendation (19456 KiB, 2 iterations)");
    }
    for p in &c.server.trusted_proxies {
        parse_net(p).map_err(|m| bad("server.trusted_proxies", m))?;
    }
    if c.auth.argon2_max_concurrent == 0 || c.auth.argon2_max_concurrent > 1024 {
        return Err(bad(
            "auth.argon2_max_concurrent",
            format!(
                "must be between 1 and 1024, got {}",
                c.auth.argon2_max_concurrent
            ),
        ));
    }
    if c.limits.running_jobs == 0 || c.limits.running_jobs > 1024 {
        return Err(bad(
            "limits.running_jobs",
            format!("must be between 1 and 1024, got {}", c.limits.running_jobs),
        ));
    }
    if c.limits.restore_plaintext_bytes < 1024 * 1024 {
        return Err(bad(
            "limits.restore_plaintext_bytes",
            "must be at least 1048576 (1 MiB)".into(),
        ));
    }
    if c.mfa.recovery_code_count == 0 || c.mfa.recovery_code_count > 50 {
        return Err(bad(
            "mfa.recovery_code_count",
            format!(
                "must be between 1 and 50, got {}",
                c.mfa.recovery_code_count
            ),
        ));
    }
    if c.storage.pool_size == 0 || c.storage.pool_size > 64 {
        return Err(bad(
            "storage.pool_size",
            format!("must be between 1 and 64, got {}", c.storage.pool_size),
        ));
    }
    if c.limits.json_body_bytes < 1024 {
        return Err(bad(
            "limits.json_body_bytes",
            "must be at least 1024".into(),
        ));
    }
    if c.smtp.port == 0 || c.smtp.port > 65535 {
        return Err(bad(
            "smtp.port",
            format!("must be between 1 and 65535, got {}", c.smtp.port),
        ));
    }
    if c.smtp.max_attempts == 0 || c.smtp.max_attempts > 100 {
        return Err(bad(
            "smtp.max_attempts",
            format!("must be between 1 and 100, got {}", c.smtp.max_attempts),
        ));
    }
    if !["public", "allow-list", "off"].contains(&c.oauth.client_metadata_documents.as_str()) {
        return Err(bad(
            "oauth.client_metadata_documents",
            format!(
                "must be public, allow-list or off, got {:?}",
                c.oauth.client_metadata_documents
            ),
        ));
    }
    if let Some(p) = c.oauth.client_metadata_allowed.iter().find(|p| {
        !(p.starts_with("https://") || p.starts_with("http://"))
            || p.split("://").nth(1).is_none_or(|rest| !rest.contains('/'))
    }) {
        return Err(bad(
            "oauth.client_metadata_allowed",
            format!("{p:?} must be a URL prefix with a path, like \"https://tools.example.com/\""),
        ));
    }
    if c.integrations.calls_per_minute == 0 || c.integrations.calls_per_minute > 60_000 {
        return Err(bad(
            "integrations.calls_per_minute",
            format!(
                "must be between 1 and 60000, got {}",
                c.integrations.calls_per_minute
            ),
        ));
    }
    if c.integrations.timeout_seconds == 0 || c.integrations.timeout_seconds > 600 {
        return Err(bad(
            "integrations.timeout_seconds",
            format!(
                "must be between 1 and 600, got {}",
                c.integrations.timeout_seconds
            ),
        ));
    }
    if c.integrations.max_attempts == 0 || c.integrations.max_attempts > 100 {
        return Err(bad(
            "integrations.max_attempts",
            format!(
                "must be between 1 and 100, got {}",
                c.integrations.max_attempts
            ),
        ));
    }
    for d in &c.signup.allowed_domains {
        let d = d.trim().trim_start_matches('@');
        if d.is_empty() || d.contains(['@', ' ', '/']) || !d.contains('.') {
            return Err(bad(
                "signup.allowed_domains",
                format!("{d:?} is not a domain name (write example.com)"),
            ));
        }
    }
    if c.limits.form_body_bytes < 1024 {
        return Err(bad(
            "limits.form_body_bytes",
            "must be at least 1024".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let p = dir.path().join("rampart.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(&dir, "[server]\nbind = \"127.0.0.1:9000\"\nworkers = 3\n");
        let loaded = load(
            Some(&file),
            &env(&[("RAMPART_BIND", "127.0.0.1:9100")]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        assert_eq!(loaded.config.server.bind, "127.0.0.1:9100");
        assert_eq!(loaded.config.server.workers, 3);
        let flags = FlagOverrides {
            bind: Some("127.0.0.1:9200".into()),
            ..Default::default()
        };
        let loaded = load(
            Some(&file),
            &env(&[("RAMPART_BIND", "127.0.0.1:9100")]),
            &flags,
        )
        .expect("loads");
        assert_eq!(loaded.config.server.bind, "127.0.0.1:9200");
        assert_eq!(
            loaded.sources.get("server.bind"),
            Some(&Source::Flag("--bind"))
        );
    }

    /// Found by `tests/fuzz`: `8 * argon2_parallelism` overflowed (a panic in debug builds,
    /// a wrapped check in release) for a huge parallelism.
    #[test]
    fn huge_argon2_values_are_refused_not_overflowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        for text in [
            "[auth]\nargon2_parallelism = 6646174309485872540\n",
            "[auth]\nargon2_parallelism = 300\nargon2_memory_kib = 1000000\n",
            "[auth]\nargon2_iterations = 1000000\n",
            "[auth]\nargon2_memory_kib = 99999999999\n",
        ] {
            let file = write(&dir, text);
            let err = load(Some(&file), &env(&[]), &FlagOverrides::default()).unwrap_err();
            assert!(err.to_string().contains("auth.argon2_"), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(&dir, "[server]\nbnd = \"x\"\n");
        let err = load(Some(&file), &env(&[]), &FlagOverrides::default()).unwrap_err();
        assert!(err.to_string().contains("`server.bnd`"), "{err}");
    }

    #[test]
    fn wrong_type_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(&dir, "[storage]\nbusy_timeout_ms = \"soon\"\n");
        let err = load(Some(&file), &env(&[]), &FlagOverrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`storage.busy_timeout_ms`") && msg.contains("integer"),
            "{msg}"
        );
    }

    #[test]
    fn spec_env_names_are_accepted() {
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let loaded = load(
            None,
            &env(&[("KMS_PROVIDER", "static"), ("ENCRYPTION_KEY", &key)]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        assert_eq!(loaded.config.static_master_key(), Some([7u8; 32]));
        assert!(!format!("{:?}", loaded.config).contains(&key));
    }

    #[test]
    fn bad_static_key_is_rejected() {
        let err = load(
            None,
            &env(&[("KMS_PROVIDER", "static"), ("ENCRYPTION_KEY", "c2hvcnQ=")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("storage.encryption_key"), "{err}");
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }

    #[test]
    fn unknown_rampart_env_is_reported() {
        let err = load(
            None,
            &env(&[("RAMPART_BINDD", "x")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("RAMPART_BINDD"), "{err}");
    }

    #[test]
    fn bad_bind_is_named() {
        let err = load(
            None,
            &env(&[("RAMPART_BIND", "localhost")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.bind"), "{err}");
    }

    #[test]
    fn example_file_documents_every_key_and_parses() {
        let text = include_str!("../config/rampart.example.toml");
        for def in KEYS {
            let leaf = def.key.rsplit('.').next().expect("non-empty");
            assert!(
                text.contains(&format!("{leaf} =")),
                "config/rampart.example.toml does not document `{}`",
                def.key
            );
            for name in def.env {
                assert!(
                    text.contains(name),
                    "config/rampart.example.toml does not name env var {name} for `{}`",
                    def.key
                );
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(&dir, text);
        load(Some(&file), &env(&[]), &FlagOverrides::default()).expect("example parses");
    }

    #[test]
    fn trusted_proxies_from_env_and_bad_entries_named() {
        let loaded = load(
            None,
            &env(&[("RAMPART_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        let nets = loaded.config.trusted_proxy_nets();
        assert_eq!(nets.len(), 2);
        assert!(nets[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().expect("ip")));
        let err = load(
            None,
            &env(&[("RAMPART_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]),
            &FlagOverrides::default(),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server.trusted_proxies") && msg.contains("proxy.local"),
            "{msg}"
        );
    }

    #[test]
    fn https_follows_the_public_url() {
        let plain = load(None, &env(&[]), &FlagOverrides::default()).expect("loads");
        assert!(!plain.config.https());
        let proxied = load(
            None,
            &env(&[("RAMPART_PUBLIC_URL", "https://rampart.example")]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        assert!(proxied.config.https(), "TLS at a proxy still means https");
    }

    #[test]
    fn metrics_are_off_unless_enabled_or_tokened() {
        let off = load(None, &env(&[]), &FlagOverrides::default()).expect("loads");
        assert!(!off.config.metrics_served());
        let token = load(
            None,
            &env(&[("RAMPART_METRICS_TOKEN", "s3cret")]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        assert!(token.config.metrics_served());
        assert!(!format!("{:?}", token.config).contains("s3cret"));
    }

    #[test]
    fn documented_names_that_are_not_implemented_are_refused() {
        for (name, _) in REFUSED_ENV {
            let err = load(None, &env(&[(name, "x")]), &FlagOverrides::default())
                .expect_err(name)
                .to_string();
            assert!(
                err.contains(name) && err.contains("not supported"),
                "{name}: {err}"
            );
        }
        // Empty values are not a setting.
        load(
            None,
            &env(&[("AWS_ACCESS_KEY_ID", " ")]),
            &FlagOverrides::default(),
        )
        .expect("empty is unset");
        for (pairs, key) in [
            (vec![("AUTH_SECRET", "s3cret")], "auth.secret"),
            (vec![("LOCAL_AUTH_ENABLED", "false")], "auth.local_enabled"),
            (
                vec![("TELEMETRY_LOG_LEVEL", "TRACE")],
                "telemetry.log_level",
            ),
        ] {
            let err = load(None, &env(&pairs), &FlagOverrides::default())
                .expect_err(key)
                .to_string();
            assert!(err.contains(key), "{err}");
        }
        let ok = load(
            None,
            &env(&[
                ("LOCAL_AUTH_ENABLED", "true"),
                ("TELEMETRY_LOG_LEVEL", "DEBUG"),
                ("TELEMETRY_LOG_FILE", "/var/log/rampart/telemetry.jsonl"),
            ]),
            &FlagOverrides::default(),
        )
        .expect("honoured");
        assert_eq!(ok.config.telemetry.log_level, "DEBUG");
        assert_eq!(
            ok.config.telemetry.log_file,
            "/var/log/rampart/telemetry.jsonl"
        );
    }

    #[test]
    fn secrets_are_masked_in_report() {
        let loaded = load(
            None,
            &env(&[("OPENAI_API_KEY", "supersecretvalue")]),
            &FlagOverrides::default(),
        )
        .expect("loads");
        let report = loaded.report().join("\n");
        assert!(!report.contains("supersecretvalue"));
        assert!(
            report.contains("llm.api_key = \"***\"  (env OPENAI_API_KEY)"),
            "{report}"
        );
    }
}
