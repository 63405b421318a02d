//! Local identity: users and roles, personal workspaces, password login with throttling,
//! server-side sessions with CSRF tokens, API keys, and the second factors (TOTP, WebAuthn,
//! recovery codes).
//!
//! [`AuthService`] is the one implementation used by the REST API, the web pages, MCP and the
//! admin CLI. Every method is blocking (SQLite); HTTP handlers call it inside `web::block`.
//! Errors are [`Error`] values whose messages are safe to show to the caller: login failures
//! never say whether the email exists.

pub mod api_keys;
pub mod memo;
pub mod mfa;
pub mod oauth;
pub mod oauth_admin;
pub mod oauth_cimd;
pub mod oauth_flow;
pub mod password;
pub mod reauth;
pub mod reset;
pub mod secrets;
pub mod sessions;
pub mod signup;
pub mod throttle;
pub mod users;
pub mod webauthn;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::store::{self, Db};
use crate::tenancy::{TenantDbs, WorkspaceRole};

/// What can go wrong in an identity operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong email or password (or a disabled account); deliberately unspecific.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failures; retry after the given number of seconds.
    #[error("too many failed attempts; try again in {0} seconds")]
    Throttled(u64),
    /// Every password-hashing slot stayed busy (`auth.argon2_max_concurrent`); retry after
    /// the given number of seconds. Nothing was checked or counted.
    #[error("the server is busy checking other passwords; try again in {0} seconds")]
    Busy(u64),
    /// No or an invalid session / API key.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// The session must enroll a second factor before doing anything else.
    #[error(
        "multi-factor authentication must be set up before using rampart (MFA_REQUIRED_FOR_LOCAL)"
    )]
    MfaEnrollmentRequired,
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The object does not exist or is not visible to the caller.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The workspace's data was crypto-shredded with its organization (HTTP 410).
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the current state (duplicate email, setup already done…).
    #[error("{0}")]
    Conflict(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Anything else unexpected (logged by the HTTP layer, hidden from clients).
    #[error("{0}")]
    Internal(String),
}

impl From<crate::tenancy::Error> for Error {
    fn from(e: crate::tenancy::Error) -> Self {
        use crate::tenancy::Error as T;
        match e {
            T::NotFound(_) => Error::NotFound("workspace"),
            T::Gone(m) => Error::Gone(m),
            T::Forbidden(m) | T::Limit(m) => Error::Forbidden(m),
            T::Invalid { field, message } => Error::Invalid { field, message },
            T::Conflict(m) => Error::Conflict(m),
            T::Confirmation(expected) => Error::Invalid {
                field: "confirm",
                message: format!("type exactly {expected:?}"),
            },
            T::Store(s) => Error::Store(s),
            T::Crypto(c) => Error::Internal(c.to_string()),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error::Invalid`].
pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}

/// Platform roles, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works in their own workspaces.
    User,
    /// Manages users of the appliance.
    Admin,
    /// Everything, including organizations, crypto-shred and maintenance.
    Superadmin,
}

impl Role {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Superadmin => "superadmin",
        }
    }

    /// Parses a stored or submitted name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "superadmin" => Some(Role::Superadmin),
            _ => None,
        }
    }

    /// Admin or above.
    pub fn is_admin(self) -> bool {
        self >= Role::Admin
    }
}

/// API key scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `mk_`: MCP and API use; cannot submit verification results.
    Developer,
    /// `mv_`: CI submissions; created by workspace owners only.
    Verifier,
}

impl Scope {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Developer => "developer",
            Scope::Verifier => "verifier",
        }
    }

    /// Key prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::Developer => "mk_",
            Scope::Verifier => "mv_",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "developer" => Some(Scope::Developer),
            "verifier" => Some(Scope::Verifier),
            _ => None,
        }
    }
}

/// How a session request names its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceChoice<'a> {
    /// The personal workspace.
    Default,
    /// `X-Workspace-Id`: must be accessible, else 404 (410 once shredded).
    Explicit(&'a str),
    /// The web app's remembered choice: used when still accessible, else the default.
    Preferred(&'a str),
}

/// How a request was authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A browser session (cookie); state changes need the CSRF token.
    Session {
        /// Hash of the session token (the row key).
        token_hash: String,
        /// The session's CSRF token.
        csrf_token: String,
    },
    /// An API key in `X-API-Key`.
    ApiKey {
        /// Key id.
        key_id: String,
        /// Key scope.
        scope: Scope,
    },
}

/// The authenticated caller of a request, with the workspace every lookup is scoped to.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Platform role.
    pub role: Role,
    /// Workspace of this request (the API key's, or the session's selection / personal one).
    pub workspace_id: String,
    /// The caller's effective role in `workspace_id` (membership, or org admin).
    pub workspace_role: WorkspaceRole,
    /// Organization of `workspace_id`, if it belongs to one.
    pub org_id: Option<String>,
    /// The database holding `workspace_id`'s data, resolved once per request: services use
    /// this handle and never pick a database themselves, so isolation cannot be bypassed.
    pub tenant: Db,
    /// How the request authenticated.
    pub via: Via,
    /// Set when MFA is required but not yet enrolled: only enrollment is allowed.
    pub mfa_enrollment_pending: bool,
}

impl Caller {
    /// The API key scope, if authenticated by key.
    pub fn scope(&self) -> Option<Scope> {
        match &self.via {
            Via::ApiKey { scope, .. } => Some(*scope),
            Via::Session { .. } => None,
        }
    }

    /// Admin or above.
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }

    /// Fails unless the caller is an admin.
    pub fn require_admin(&self) -> Result<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Error::Forbidden("administrator role required".into()))
        }
    }

    /// Fails unless the caller is a superadmin.
    pub fn require_superadmin(&self) -> Result<()> {
        if self.role == Role::Superadmin {
            Ok(())
        } else {
            Err(Error::Forbidden("superadmin role required".into()))
        }
    }

    /// True when the caller owns `workspace_id`.
    pub fn is_workspace_owner(&self) -> bool {
        self.workspace_role == WorkspaceRole::Owner
    }

    /// Fails unless the caller may change data of the workspace: viewers read only, and
    /// verifier keys only submit verification results.
    pub fn require_write(&self) -> Result<()> {
        self.require_not_verifier()?;
        if self.workspace_role.can_write() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "your role in this workspace is {}: it can read but not change anything",
                self.workspace_role
            )))
        }
    }

    /// Fails unless the caller is an owner or admin of the workspace (members, CI key,
    /// security settings, verifier keys).
    pub fn require_workspace_admin(&self) -> Result<()> {
        if self.workspace_role.can_manage() {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "this needs the owner or admin role in the workspace; yours is {}",
                self.workspace_role
            )))
        }
    }

    /// Fails for verifier keys, which may only submit verification data.
    fn require_not_verifier(&self) -> Result<()> {
        if self.scope() == Some(Scope::Verifier) {
            Err(Error::Forbidden(
                "verifier keys (mv_) may only read models and submit verification results".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Fails for developer keys, which never submit verification results.
    pub fn require_verifier_or_session(&self) -> Result<()> {
        if self.scope() == Some(Scope::Developer) {
            Err(Error::Forbidden(
                "developer keys (mk_) cannot submit verification results; use a verifier key (mv_)"
                    .into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// Tunables of the identity layer, taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Argon2id cost.
    pub cost: password::Cost,
    /// Idle session timeout.
    pub session_idle: chrono::Duration,
    /// Absolute session lifetime.
    pub session_absolute: chrono::Duration,
    /// Failures allowed per account before backoff.
    pub account_free_failures: u32,
    /// Failures allowed per IP before backoff.
    pub ip_free_failures: u32,
    /// Longest lockout.
    pub max_lockout_seconds: u64,
    /// Pre-auth token lifetime (between password and second factor).
    pub pre_auth_expiry: chrono::Duration,
    /// Recovery codes generated per set.
    pub recovery_code_count: usize,
    /// Password accounts must enroll a second factor.
    pub mfa_required: bool,
    /// Argon2 computations allowed at once (memory lever: each uses `cost.memory_kib`).
    pub argon2_max_concurrent: usize,
}

impl Settings {
    /// Reads the tunables from the configuration.
    pub fn from_config(c: &Config) -> Self {
        let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            cost: password::Cost {
                memory_kib: to_u32(c.auth.argon2_memory_kib),
                iterations: to_u32(c.auth.argon2_iterations),
                parallelism: to_u32(c.auth.argon2_parallelism),
            },
            session_idle: chrono::Duration::minutes(
                i64::try_from(c.auth.session_idle_minutes).unwrap_or(30),
            ),
            session_absolute: chrono::Duration::hours(
                i64::try_from(c.auth.session_absolute_hours).unwrap_or(12),
            ),
            account_free_failures: to_u32(c.auth.login_max_failures),
            ip_free_failures: to_u32(c.auth.login_ip_max_failures),
            max_lockout_seconds: c.auth.login_lockout_max_seconds,
            pre_auth_expiry: chrono::Duration::seconds(
                i64::try_from(c.mfa.pre_auth_expiry_seconds).unwrap_or(300),
            ),
            recovery_code_count: usize::try_from(c.mfa.recovery_code_count).unwrap_or(10),
            mfa_required: c.mfa.required_for_local,
            argon2_max_concurrent: usize::try_from(c.auth.argon2_max_concurrent).unwrap_or(4),
        }
    }
}

/// The identity service.
#[derive(Clone)]
pub struct AuthService {
    pub(crate) db: Db,
    pub(crate) tenants: TenantDbs,
    pub(crate) settings: Arc<Settings>,
    pub(crate) mfa_key: Arc<zeroize::Zeroizing<[u8; 32]>>,
    /// HMAC key of stored recovery codes, derived from the master key.
    pub(crate) recovery_key: Arc<zeroize::Zeroizing<[u8; 32]>>,
    /// Bounds concurrent argon2 work (see [`password::Limiter`]).
    pub(crate) argon2: Arc<password::Limiter>,
    /// `Err(reason)` when security keys cannot be offered with this configuration.
    pub(crate) webauthn: Arc<std::result::Result<webauthn::WebauthnSetup, String>>,
    /// The mail queue (password reset links, signup codes).
    pub(crate) outbox: crate::mail::Outbox,
    /// Base of emailed links.
    pub(crate) public_url: String,
    /// Self-service signup settings.
    pub(crate) signup: crate::config::SignupConfig,
    /// HMAC key of stored signup codes, derived from the master key.
    pub(crate) signup_key: Arc<zeroize::Zeroizing<[u8; 32]>>,
    /// Which OAuth client metadata documents may be fetched.
    pub(crate) oauth: crate::config::OAuthConfig,
    /// Key look-ups and account reads reused while the platform database is unchanged.
    pub(crate) memo: memo::PlatformMemo,
}

impl AuthService {
    /// Builds the service. The TOTP encryption key is `MFA_ENCRYPTION_KEY` when set, else
    /// derived from the master key (so it is "auto-generated and persisted" with the instance).
    pub fn new(
        tenants: &TenantDbs,
        config: &Config,
        master: &MasterKey,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let mfa_key = match config.mfa_encryption_key() {
            Some(k) => zeroize::Zeroizing::new(k),
            None => master.derive("mfa-totp"),
        };
        let settings = Settings::from_config(config);
        let argon2 = password::Limiter::new(
            settings.argon2_max_concurrent,
            std::time::Duration::from_secs(ARGON2_WAIT_SECONDS),
        );
        let svc = Self {
            db: tenants.platform().clone(),
            tenants: tenants.clone(),
            settings: Arc::new(settings),
            mfa_key: Arc::new(mfa_key),
            recovery_key: Arc::new(master.derive("mfa-recovery-codes")),
            argon2: Arc::new(argon2),
            webauthn: Arc::new(
                webauthn::WebauthnSetup::new(config, public_url).map_err(|e| {
                    tracing::warn!("security keys (WebAuthn) are unavailable: {e:#}");
                    format!("{e:#}")
                }),
            ),
            outbox: crate::mail::Outbox::new(tenants.platform().clone(), config, public_url),
            public_url: public_url.trim_end_matches('/').to_string(),
            signup: config.signup.clone(),
            signup_key: Arc::new(master.derive("signup-codes")),
            oauth: config.oauth.clone(),
            memo: memo::PlatformMemo::new(tenants.platform().clone()),
        };
        svc.rekey_legacy_recovery_codes(None)?;
        Ok(svc)
    }

    /// Runs `f` (an argon2 hash or verification) while holding one of the bounded permits.
    pub(crate) fn with_argon2<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        let _permit = self
            .argon2
            .acquire()
            .ok_or(Error::Busy(ARGON2_WAIT_SECONDS))?;
        Ok(f())
    }

    /// Verifies a password against a stored hash under the argon2 bound.
    pub(crate) fn verify_password_hash(&self, password_text: &str, phc: &str) -> Result<bool> {
        self.with_argon2(|| password::verify(password_text, phc))
    }

    /// Burns one dummy verification (unknown account) under the argon2 bound.
    pub(crate) fn verify_dummy(&self, password_text: &str) -> Result<()> {
        let cost = self.settings.cost;
        self.with_argon2(|| password::verify_dummy(password_text, cost))
    }

    /// Records a security event in the audit log (best effort: failures are logged).
    pub(crate) fn audit(
        conn: &rusqlite::Connection,
        actor: Option<&str>,
        action: &str,
        target: &str,
        detail: &str,
    ) {
        if let Err(e) = conn.execute(
            "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![now_str(), actor, action, target, detail],
        ) {
            tracing::error!(error = %e, action, "writing audit log failed");
        }
    }
}

/// Longest wait for an argon2 permit before answering "busy" (also the Retry-After).
const ARGON2_WAIT_SECONDS: u64 = 10;

/// Current time in the stored format (RFC 3339, UTC, milliseconds): sorts lexicographically.
pub fn now_str() -> String {
    time_str(chrono::Utc::now())
}

/// A time in the stored format.
pub fn time_str(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parses a stored time; malformed values are treated as the epoch (i.e. long expired).
pub fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}
