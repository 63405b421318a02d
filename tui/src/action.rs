//! Everything that can happen in the TUI, as values.
//!
//! Components turn input into an [`Action`]; only the `App` interprets actions, and only the
//! `App` calls the backend. Destructive work stays an `Action` value inside a confirm popup
//! until the operator confirms it, which is what makes "Esc changes nothing" checkable.

use std::path::PathBuf;

use crate::backend::{
    BackendError, BackupReport, CreditAccount, CreditKind, DatabaseCheck, IsolationReport,
    LicenseStatus, LogLine, MaintenanceState, NewOrg, NewUser, OrgMember, OrgPatch, OrgRole,
    OrgSummary, OrgWorkspace, Overview, Progress, RestoreReport, RestoreRequest, Role,
    SetupRequest, SigningKey, TrustedSigner, UserSummary,
};

/// One screen (tab) of the TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScreenId {
    /// First-run setup; only listed while there are no users.
    Setup,
    /// User accounts.
    Users,
    /// License status and install.
    License,
    /// Signed backup and restore.
    Backup,
    /// Instance signing key and trusted signers.
    Signers,
    /// Organizations: limits, members, workspaces, isolation, delete and crypto-shred.
    Orgs,
    /// Maintenance-mode circuit breaker.
    Maintenance,
    /// Overview and recent events.
    Log,
    /// AI credits: allowances, use and balances of users and org pools.
    Credits,
}

impl ScreenId {
    /// Screens in tab order (Setup is filtered out once users exist).
    pub const ALL: [ScreenId; 9] = [
        ScreenId::Setup,
        ScreenId::Users,
        ScreenId::License,
        ScreenId::Backup,
        ScreenId::Signers,
        ScreenId::Orgs,
        ScreenId::Maintenance,
        ScreenId::Log,
        ScreenId::Credits,
    ];
}

/// Which form popup to open, with the context the form needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKind {
    /// First superadmin: email, name, password twice.
    Setup,
    /// New user: email, name, password twice, role.
    CreateUser,
    /// Role selector for one user.
    SetRole {
        /// User to change.
        user_id: String,
        /// Shown in the title.
        email: String,
        /// Preselected role.
        role: Role,
    },
    /// Path of a license JWT.
    InstallLicense,
    /// Destination of a backup.
    Backup,
    /// Typed confirmation: file, `CONFIRM RESTORE`, admin password.
    Restore,
    /// Label and PEM file of a trusted signer.
    AddSigner,
    /// Typed confirmation of an org slug before crypto-shred.
    ShredOrg {
        /// Slug the operator must type again.
        slug: String,
        /// Shown in the warning.
        name: String,
    },
    /// Name, optional slug and description of a new organization.
    CreateOrg,
    /// Name, description and limits of an organization, prefilled with its current values.
    EditOrg(OrgSummary),
    /// Typed confirmation of an org slug before deleting the org and all its data.
    DeleteOrg {
        /// Slug the operator must type again.
        slug: String,
        /// Shown in the warning.
        name: String,
        /// Shown in the warning: how many workspaces go with it.
        workspaces: u64,
    },
    /// Email and role of a new org member.
    AddOrgMember {
        /// Org slug.
        slug: String,
    },
    /// Org role selector for one member.
    SetOrgRole {
        /// Org slug.
        slug: String,
        /// Member's email (what the backend call takes).
        email: String,
        /// Preselected role.
        role: OrgRole,
    },
    /// Reason for manual maintenance mode.
    EnableMaintenance,
    /// Monthly allowance of a credit account (empty: not metered) with an optional reason.
    SetAllowance(CreditAccount),
    /// Add or deduct credits of an account, with a note (required to deduct).
    AdjustCredits(CreditAccount),
}

/// Data fetched by the `App` and handed to the screens through `update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// Header / status facts.
    Overview(Overview),
    /// User list.
    Users(Vec<UserSummary>),
    /// License status.
    License(LicenseStatus),
    /// This instance's key.
    SigningKey(SigningKey),
    /// Trusted signers.
    Signers(Vec<TrustedSigner>),
    /// Organizations.
    Orgs(Vec<OrgSummary>),
    /// Members and workspaces of one organization (opens its detail view).
    OrgDetail {
        /// Org slug.
        slug: String,
        /// Its members.
        members: Vec<OrgMember>,
        /// Its workspaces.
        workspaces: Vec<OrgWorkspace>,
    },
    /// Maintenance state.
    Maintenance(MaintenanceState),
    /// Result of the database check.
    Checks(Vec<DatabaseCheck>),
    /// LLM cache, usage and KMS facts.
    LlmOps(crate::backend::LlmOps),
    /// Recent events.
    Events(Vec<LogLine>),
    /// Credit accounts (users, then org pools).
    Credits(Vec<CreditAccount>),
}

/// Progress and outcome of the worker-thread job, for the Backup screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobUpdate {
    /// A backup started.
    BackupStarted(PathBuf),
    /// A restore started.
    RestoreStarted(PathBuf),
    /// The running job reported progress.
    Progress(Progress),
    /// Backup finished.
    BackupDone(Result<BackupReport, String>),
    /// Restore finished.
    RestoreDone(Result<RestoreReport, String>),
    /// Moving an org's data into its own database started (org slug).
    IsolateStarted(String),
    /// Moving an org's data finished.
    IsolateDone {
        /// Org slug.
        slug: String,
        /// What was moved, or why it failed.
        result: Result<IsolationReport, BackendError>,
    },
}

/// The outcome line a screen keeps under its content (the Orgs screen): it stays until the
/// next operation, so a long backend error can be read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusLine {
    /// The last operation succeeded.
    Done(String),
    /// An operation is running on the worker thread.
    Working(String),
    /// The last operation failed; `title` names the kind of failure.
    Failed {
        /// "Denied", "Conflict", … (from the error variant).
        title: String,
        /// The backend's sentence, verbatim.
        message: String,
    },
}

/// Something the App should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave (refused while a job runs).
    Quit,
    /// Leave now (Ctrl-C).
    ForceQuit,
    /// Next tab.
    NextScreen,
    /// Previous tab.
    PrevScreen,
    /// Jump to a tab.
    GoTo(ScreenId),
    /// Reload the current screen's data.
    Refresh,
    /// Show the key help popup.
    ShowHelp,
    /// Close the topmost popup.
    ClosePopup,
    /// Open a form popup.
    OpenForm(FormKind),
    /// Ask before running the inner (destructive) action.
    AskConfirm(Box<Action>),
    /// The operator confirmed; run the inner action.
    Confirmed(Box<Action>),
    /// Short feedback in the help bar.
    Notice(String),
    /// Fresh data for the screens.
    Loaded(Loaded),
    /// Worker job progress for the screens.
    Job(JobUpdate),
    /// New outcome line for `screen`.
    Status {
        /// Screen that shows it.
        screen: ScreenId,
        /// The line.
        line: StatusLine,
    },

    /// Create the first superadmin.
    Setup(SetupRequest),
    /// Create a user.
    CreateUser(NewUser),
    /// Change a user's role.
    SetRole {
        /// User id.
        user_id: String,
        /// For messages.
        email: String,
        /// New role.
        role: Role,
    },
    /// Disable or enable a user.
    SetDisabled {
        /// User id.
        user_id: String,
        /// For messages.
        email: String,
        /// `true` disables.
        disabled: bool,
    },
    /// Remove a user's second factors.
    ResetMfa {
        /// User id.
        user_id: String,
        /// For messages.
        email: String,
    },
    /// Install a license file.
    InstallLicense(PathBuf),
    /// Start a backup on the worker thread.
    Backup(PathBuf),
    /// Start a restore on the worker thread.
    Restore(RestoreRequest),
    /// Import a trusted signer.
    AddSigner {
        /// Operator label.
        label: String,
        /// PEM file.
        pem_file: PathBuf,
    },
    /// Remove a trusted signer.
    RemoveSigner {
        /// Signer fingerprint.
        fingerprint: String,
        /// For messages.
        label: String,
    },
    /// Load an org's members and workspaces and show its detail view.
    OpenOrg(String),
    /// Create an organization.
    CreateOrg(NewOrg),
    /// Change an organization's name, description or limits.
    UpdateOrg {
        /// Org slug.
        slug: String,
        /// Only the changed fields.
        patch: OrgPatch,
    },
    /// Delete an org with all its workspaces and data.
    DeleteOrg {
        /// Org slug.
        slug: String,
        /// What the operator typed (equal to `slug`).
        confirmation: String,
    },
    /// Move an org's data into its own encrypted database (worker thread).
    IsolateOrg {
        /// Org slug.
        slug: String,
        /// For the confirmation text.
        name: String,
        /// For the confirmation text.
        workspaces: u64,
    },
    /// Add a member to an org, or change a member's role.
    SetOrgMember {
        /// Org slug.
        slug: String,
        /// Account email.
        email: String,
        /// Role in the org.
        role: OrgRole,
    },
    /// Remove a member from an org (and its workspaces).
    RemoveOrgMember {
        /// Org slug.
        slug: String,
        /// Member's user id.
        user_id: String,
        /// For messages.
        email: String,
    },
    /// Crypto-shred an org.
    ShredOrg {
        /// Org slug.
        slug: String,
        /// What the operator typed (equal to `slug`).
        confirmation: String,
    },
    /// Trip maintenance mode.
    EnableMaintenance {
        /// Operator reason.
        reason: String,
    },
    /// Clear maintenance mode.
    ClearMaintenance,
    /// Run the database check (read-only).
    CheckDatabases,
    /// Remove every user's cached LLM answers.
    ClearLlmCache,
    /// Rewrap the master key under the newest Vault Transit key version.
    RewrapKms,
    /// Sets the monthly allowance of a credit account.
    SetCreditAllowance {
        /// User or org pool.
        kind: CreditKind,
        /// Email or slug.
        key: String,
        /// As shown in the notice.
        label: String,
        /// `None`: not metered.
        allowance: Option<i64>,
        /// Why (optional).
        reason: String,
    },
    /// Adds or deducts credits of an account for this month.
    AdjustCredits {
        /// User or org pool.
        kind: CreditKind,
        /// Email or slug.
        key: String,
        /// Positive adds, negative deducts.
        amount: i64,
        /// Why (required to deduct).
        note: String,
    },
}
