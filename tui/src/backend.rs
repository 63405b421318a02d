//! The contract between the admin TUI and the appliance: the [`AdminBackend`] trait and the
//! plain data it exchanges.
//!
//! This module owns only types. It must not do I/O or know about storage: the root crate's
//! `admin` service implements the trait (one implementation shared with the admin CLI and
//! `/api/admin/*`), and the tests implement it with fixed data. Times are pre-formatted
//! strings (RFC 3339 or any human form the backend prefers) so this crate needs no clock.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Result of every backend call; the error carries the message the operator sees.
pub type BackendResult<T> = Result<T, BackendError>;

/// Why a backend call failed. Each variant carries a complete human sentence that the TUI
/// shows verbatim in a message popup; the variant only picks the popup's title.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BackendError {
    /// The operator's input is wrong (weak password, bad PEM, wrong confirmation phrase).
    #[error("{0}")]
    Invalid(String),
    /// The named user, signer, org or file does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with existing state (duplicate email, signer already trusted).
    #[error("{0}")]
    Conflict(String),
    /// The operation is not allowed (wrong admin password, license limit reached).
    #[error("{0}")]
    Denied(String),
    /// Anything else: I/O, database, crypto. The message should say what was attempted.
    #[error("{0}")]
    Failed(String),
}

/// Platform role of a user account, as in spec/04 "Creating Users".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Standard access.
    User,
    /// Org-level administrative access.
    Admin,
    /// Platform-wide access: orgs, crypto-shred, maintenance.
    Superadmin,
}

impl Role {
    /// Every role in display order, used by the role selector.
    pub const ALL: [Role; 3] = [Role::User, Role::Admin, Role::Superadmin];
}

/// Facts shown in the header and on the Log/Status screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    /// Instance name or base URL, whatever identifies this appliance to the operator.
    pub instance: String,
    /// Data directory the admin session opened.
    pub data_dir: PathBuf,
    /// Version of the running binary.
    pub version: String,
    /// Number of user accounts; zero means first-run setup is pending.
    pub user_count: u64,
    /// Size of the platform database (plus org databases if the backend counts them).
    pub db_size_bytes: u64,
    /// Whether `rampart serve` answered on its configured address; `None` when unknown.
    pub server_reachable: Option<bool>,
}

/// First superadmin account, created by first-run setup.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRequest {
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password in clear; the backend enforces the password policy.
    pub password: String,
}

/// A new account created by an administrator.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Password in clear; the backend enforces the password policy.
    pub password: String,
    /// Role of the new account.
    pub role: Role,
}

/// One row of the user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// UUIDv4 of the user; what the mutating calls take.
    pub id: String,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Platform role.
    pub role: Role,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Whether TOTP is enrolled.
    pub totp: bool,
    /// Number of registered WebAuthn credentials.
    pub webauthn_keys: u32,
    /// Creation time, pre-formatted.
    pub created_at: String,
}

impl UserSummary {
    /// True when any second factor is enrolled (what "reset MFA" would remove).
    pub fn has_mfa(&self) -> bool {
        self.totp || self.webauthn_keys > 0
    }
}

/// Validity of the installed license.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenseState {
    /// Signature and expiry check out.
    Valid,
    /// Correctly signed but past its expiry.
    Expired,
    /// No license file configured or present.
    Missing,
    /// Present but unreadable or wrongly signed; `LicenseStatus::detail` says why.
    Invalid,
}

/// License status and usage against its limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseStatus {
    /// Overall validity.
    pub state: LicenseState,
    /// Who the license was issued to.
    pub licensee: Option<String>,
    /// Expiry, pre-formatted; `None` for a perpetual or missing license.
    pub expires_at: Option<String>,
    /// `max_workspaces` claim.
    pub max_workspaces: Option<u64>,
    /// `max_orgs` claim (defaults to 1 in the backend when absent from the JWT).
    pub max_orgs: Option<u64>,
    /// Workspaces that count against the limit.
    pub workspaces_used: u64,
    /// Organizations that count against the limit.
    pub orgs_used: u64,
    /// Extra explanation, e.g. why a license is invalid or where it was loaded from.
    pub detail: Option<String>,
}

/// Progress of a long operation (backup or restore), reported many times per call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Short phrase for the current step, e.g. "snapshot", "compressing", "verifying signature".
    pub stage: String,
    /// Units done so far (bytes or pages; the TUI only uses the ratio).
    pub done: u64,
    /// Total units if known; `None` shows an indeterminate gauge.
    pub total: Option<u64>,
}

/// Outcome of a finished backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReport {
    /// Final file written (the backend picks the timestamped name when given a directory).
    pub path: PathBuf,
    /// Size of the signed file.
    pub bytes: u64,
    /// Fingerprint (hex SHA-256 of the DER public key) of the key that signed it.
    pub signer_fingerprint: String,
}

/// A restore order, already typed-confirmed in the TUI; the backend checks it again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    /// Signed backup file to restore.
    pub path: PathBuf,
    /// Must be exactly [`RESTORE_PHRASE`].
    pub confirmation: String,
    /// Email of the superadmin restoring (empty on an instance without accounts).
    pub email: String,
    /// That superadmin's own password.
    pub password: String,
}

/// The literal phrase a restore must be confirmed with (spec/04, same as the CLI and API).
pub const RESTORE_PHRASE: &str = "CONFIRM RESTORE";

/// Outcome of a finished restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreReport {
    /// Fingerprint of the key that signed the restored backup.
    pub signer_fingerprint: String,
    /// "this instance" or the trusted signer's label, as the backend names it.
    pub signer_label: String,
    /// Bytes of the restored (uncompressed) database image.
    pub bytes: u64,
}

/// This instance's backup signing key, for export to other instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey {
    /// Hex SHA-256 of the DER SubjectPublicKeyInfo.
    pub fingerprint: String,
    /// Public key as PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
}

/// Another instance whose backups this one accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedSigner {
    /// Hex SHA-256 of the DER public key; the key for removal.
    pub fingerprint: String,
    /// Operator-given label, e.g. "Production instance".
    pub label: String,
    /// When it was imported, pre-formatted.
    pub added_at: String,
}

/// One organization row, with its limits, usage and where its data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSummary {
    /// UUIDv4 of the org.
    pub id: String,
    /// URL slug; what delete and crypto-shred ask the operator to type again.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text shown on the org's detail view.
    pub description: String,
    /// Most team workspaces the org may have; 0 means unlimited.
    pub max_workspaces: u64,
    /// Most members the org may have; 0 means unlimited.
    pub max_members: u64,
    /// Workspaces in the org now.
    pub workspace_count: u64,
    /// Members of the org now.
    pub member_count: u64,
    /// Whether the org's data lives in its own encrypted database (what crypto-shred needs).
    pub isolated: bool,
    /// Whether its DEK and database were destroyed; the record stays.
    pub shredded: bool,
    /// Creation time, pre-formatted.
    pub created_at: String,
}

/// A new organization, as the create form collects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrg {
    /// Display name (required).
    pub name: String,
    /// Slug; `None` lets the backend derive it from the name.
    pub slug: Option<String>,
    /// Optional free text (may be empty).
    pub description: String,
}

/// Changes to an organization; `None` fields stay as they are, so the TUI sends only what
/// the operator changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgPatch {
    /// New display name.
    pub name: Option<String>,
    /// New description (empty clears it).
    pub description: Option<String>,
    /// New workspace limit (0: unlimited).
    pub max_workspaces: Option<u64>,
    /// New member limit (0: unlimited).
    pub max_members: Option<u64>,
}

impl OrgPatch {
    /// True when the patch would change nothing (no backend call is needed).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.max_workspaces.is_none()
            && self.max_members.is_none()
    }
}

/// Role of a user inside one organization (spec/04 "Roles"); distinct from the platform
/// [`Role`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Belongs to the org; may create workspaces in it.
    Member,
    /// Manages the org's workspaces and members, nothing outside the org.
    OrgAdmin,
}

impl OrgRole {
    /// Every org role in display order, used by the role selector.
    pub const ALL: [OrgRole; 2] = [OrgRole::Member, OrgRole::OrgAdmin];
}

/// One member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgMember {
    /// User id; what removal takes.
    pub user_id: String,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role in the org.
    pub role: OrgRole,
    /// When they joined the org, pre-formatted.
    pub added_at: String,
}

/// One workspace of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgWorkspace {
    /// Workspace id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Members of the workspace.
    pub member_count: u64,
    /// Creation time, pre-formatted.
    pub created_at: String,
}

/// Outcome of moving an org's data into its own database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationReport {
    /// Workspaces of the org.
    pub workspaces: u64,
    /// Tenant rows moved out of the platform database.
    pub rows_moved: u64,
    /// False when the data already lived in the org's own database (nothing to move).
    pub moved: bool,
}

/// Maintenance-mode circuit breaker, as `GET /api/admin/maintenance` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceState {
    /// Non-admin traffic gets 503 while active.
    pub active: bool,
    /// Why it was tripped (operator reason or the LLM quota error).
    pub reason: Option<String>,
    /// When it was tripped, pre-formatted.
    pub tripped_at: Option<String>,
}

/// The LLM side of the appliance, for the Maintenance screen: response cache, usage with
/// its estimated cost, and which KMS wraps the master key. Numbers are pre-formatted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmOps {
    /// Cached LLM answers (all users, every database).
    pub cache_entries: u64,
    /// Their approximate size in bytes.
    pub cache_bytes: u64,
    /// Hit rate over the recorded calls (`33.3%`), `None` without recorded calls.
    pub hit_rate: Option<String>,
    /// Tokens of the last 30 days (all users).
    pub tokens_30d: u64,
    /// Estimated cost of those tokens at the configured prices (`1.2345 USD`).
    pub cost_30d: String,
    /// KMS provider of the master key (`none`, `static`, `vault`).
    pub kms_provider: String,
    /// With Vault: the Transit key version that wraps the master key.
    pub kms_key_version: Option<u64>,
}

/// Whose credits an account is: a user's own allowance or an organization's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreditKind {
    /// A user's own monthly allowance.
    User,
    /// An organization's pool (pays for work in its workspaces).
    Org,
}

/// One credit account this month, for the Credits screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAccount {
    /// User or org pool.
    pub kind: CreditKind,
    /// What the mutating calls take: the user's email or the org's slug.
    pub key: String,
    /// Email or org name, as shown and in summaries.
    pub label: String,
    /// Monthly allowance; `None`: not metered (use is recorded, nothing refused).
    pub allowance: Option<i64>,
    /// Credits used this month.
    pub used: i64,
    /// Credits left this month; `None` when not metered.
    pub balance: Option<i64>,
}

/// One database's verdict from the integrity check (`rampart admin check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseCheck {
    /// `platform`, or `org <slug>`.
    pub name: String,
    /// The database file.
    pub path: String,
    /// True when every check passed.
    pub ok: bool,
    /// Each check's result, or the first failure.
    pub summary: String,
}

/// Severity of an event line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Routine event.
    Info,
    /// Needs attention.
    Warn,
    /// Something failed.
    Error,
}

/// One line of the recent events / log view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Event time, pre-formatted.
    pub at: String,
    /// Severity.
    pub level: LogLevel,
    /// Human text of the event.
    pub message: String,
}

/// Every admin operation the TUI can ask for. Implemented once in the root crate over the
/// same service as the admin CLI; the TUI never reaches storage any other way.
///
/// Object-safe and `Send`: the TUI holds a `Box<dyn AdminBackend>` and moves it to a worker
/// thread for the duration of a backup or restore (so the UI keeps drawing), then takes it
/// back. No call is made concurrently with another.
pub trait AdminBackend: Send {
    /// Header and status facts; called on start and after every change.
    fn overview(&mut self) -> BackendResult<Overview>;

    /// Creates the first superadmin. Must fail with `Conflict` once any user exists.
    fn setup(&mut self, request: &SetupRequest) -> BackendResult<UserSummary>;

    /// All user accounts, in the order to show them.
    fn list_users(&mut self) -> BackendResult<Vec<UserSummary>>;
    /// Creates an account.
    fn create_user(&mut self, user: &NewUser) -> BackendResult<UserSummary>;
    /// Changes a user's role.
    fn set_role(&mut self, user_id: &str, role: Role) -> BackendResult<()>;
    /// Disables (`true`) or re-enables (`false`) a user's login.
    fn set_disabled(&mut self, user_id: &str, disabled: bool) -> BackendResult<()>;
    /// Removes TOTP and all WebAuthn credentials of a user.
    fn reset_mfa(&mut self, user_id: &str) -> BackendResult<()>;

    /// Current license state and usage.
    fn license(&mut self) -> BackendResult<LicenseStatus>;
    /// Verifies the license JWT at `path` and installs it; returns the new status.
    fn install_license(&mut self, path: &std::path::Path) -> BackendResult<LicenseStatus>;

    /// Writes a signed backup to `dest`: a file path, or an existing directory in which the
    /// backend creates `rampart-backup-YYYYMMDD-HHMMSS.db.gz.signed`. Runs on a worker
    /// thread; call `progress` as often as useful.
    fn backup(
        &mut self,
        dest: &std::path::Path,
        progress: &mut dyn FnMut(Progress),
    ) -> BackendResult<BackupReport>;
    /// Verifies and restores a signed backup. Must check `confirmation == RESTORE_PHRASE`,
    /// that `email` is an enabled superadmin and `password` is theirs (once accounts exist),
    /// and change nothing on any failure. Runs on a worker thread.
    fn restore(
        &mut self,
        request: &RestoreRequest,
        progress: &mut dyn FnMut(Progress),
    ) -> BackendResult<RestoreReport>;

    /// This instance's backup signing key.
    fn signing_key(&mut self) -> BackendResult<SigningKey>;
    /// Trusted signers.
    fn list_signers(&mut self) -> BackendResult<Vec<TrustedSigner>>;
    /// Imports the P-256 public key PEM in `pem_file` under `label`. Rejects other key
    /// types, duplicates and this instance's own key.
    fn add_signer(
        &mut self,
        label: &str,
        pem_file: &std::path::Path,
    ) -> BackendResult<TrustedSigner>;
    /// Removes a trusted signer by fingerprint.
    fn remove_signer(&mut self, fingerprint: &str) -> BackendResult<()>;

    /// All organizations, shredded ones included.
    fn list_orgs(&mut self) -> BackendResult<Vec<OrgSummary>>;
    /// Creates an organization (within the license's `max_orgs`).
    fn create_org(&mut self, org: &NewOrg) -> BackendResult<OrgSummary>;
    /// Changes name, description or limits of the org `slug`; returns the updated row.
    fn update_org(&mut self, slug: &str, patch: &OrgPatch) -> BackendResult<OrgSummary>;
    /// Deletes the org `slug` with all its workspaces and their data; `confirmation` must
    /// equal `slug` (checked again here).
    fn delete_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()>;
    /// Moves the org's data out of the platform database into its own encrypted database.
    /// Idempotent and resumable. Runs on a worker thread (it may move a lot of rows).
    fn isolate_org(&mut self, slug: &str) -> BackendResult<IsolationReport>;
    /// Crypto-shreds the org `slug`; `confirmation` must equal `slug` (checked again here).
    fn shred_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()>;
    /// Members of the org `slug`, in the order to show them.
    fn org_members(&mut self, slug: &str) -> BackendResult<Vec<OrgMember>>;
    /// Workspaces of the org `slug`, in the order to show them.
    fn org_workspaces(&mut self, slug: &str) -> BackendResult<Vec<OrgWorkspace>>;
    /// Adds the account `email` to the org with `role`, or changes its role if it already
    /// is a member (within the org's `max_members`).
    fn set_org_member(
        &mut self,
        slug: &str,
        email: &str,
        role: OrgRole,
    ) -> BackendResult<OrgMember>;
    /// Removes a member from the org and from every workspace of it.
    fn remove_org_member(&mut self, slug: &str, user_id: &str) -> BackendResult<()>;

    /// Maintenance-mode state.
    fn maintenance(&mut self) -> BackendResult<MaintenanceState>;
    /// Trips maintenance mode manually with a reason.
    fn enable_maintenance(&mut self, reason: &str) -> BackendResult<MaintenanceState>;
    /// Clears maintenance mode.
    fn clear_maintenance(&mut self) -> BackendResult<MaintenanceState>;

    /// Checks every database (key, schema, integrity, foreign keys, whole model versions);
    /// read-only, one entry per database.
    fn check_databases(&mut self) -> BackendResult<Vec<DatabaseCheck>>;

    /// The most recent `limit` events, newest last.
    fn recent_events(&mut self, limit: usize) -> BackendResult<Vec<LogLine>>;

    /// LLM cache, usage and KMS facts (none by default: a backend without them shows none).
    fn llm_ops(&mut self) -> BackendResult<LlmOps> {
        Err(BackendError::NotFound("not available".into()))
    }
    /// Removes every user's cached LLM answers; returns how many.
    fn clear_llm_cache(&mut self) -> BackendResult<u64> {
        Err(BackendError::Failed("not available".into()))
    }
    /// Rewraps the master key under the newest Vault Transit key version (Vault only).
    fn rewrap_kms(&mut self) -> BackendResult<LlmOps> {
        Err(BackendError::Failed("not available".into()))
    }

    /// Every user's and org pool's credits this month (none by default).
    fn credit_accounts(&mut self) -> BackendResult<Vec<CreditAccount>> {
        Err(BackendError::NotFound("not available".into()))
    }
    /// Sets (`Some`) or removes (`None`: not metered) the monthly allowance of the user or
    /// org pool `key`, with an optional reason; recorded in the audit log.
    fn set_credit_allowance(
        &mut self,
        _kind: CreditKind,
        _key: &str,
        _allowance: Option<i64>,
        _reason: &str,
    ) -> BackendResult<CreditAccount> {
        Err(BackendError::Failed("not available".into()))
    }
    /// Adds (positive) or deducts (negative; the note is required) credits for this month;
    /// returns the summary (`+100 credits to alice@example.com`). Audited.
    fn adjust_credits(
        &mut self,
        _kind: CreditKind,
        _key: &str,
        _amount: i64,
        _note: &str,
    ) -> BackendResult<String> {
        Err(BackendError::Failed("not available".into()))
    }
}

// Passwords never reach logs or panic messages through `Debug`.
impl fmt::Debug for SetupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetupRequest")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &"***")
            .finish()
    }
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("name", &self.name)
            .field("password", &"***")
            .field("role", &self.role)
            .finish()
    }
}

impl fmt::Debug for RestoreRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreRequest")
            .field("path", &self.path)
            .field("confirmation", &self.confirmation)
            .field("email", &self.email)
            .field("password", &"***")
            .finish()
    }
}
