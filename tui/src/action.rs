//! Everything that can happen in the TUI, as values.
//!
//! Components turn input into an [`Action`]; only the `App` interprets actions, and only the
//! `App` calls the backend. Destructive work stays an `Action` value inside a confirm popup
//! until the operator confirms it, which is what makes "Esc changes nothing" checkable.

use std::path::PathBuf;

use crate::backend::{
    BackupReport, LicenseStatus, LogLine, MaintenanceState, NewUser, OrgSummary, Overview,
    Progress, RestoreReport, RestoreRequest, Role, SetupRequest, SigningKey, TrustedSigner,
    UserSummary,
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
    /// Organizations and crypto-shred.
    Orgs,
    /// Maintenance-mode circuit breaker.
    Maintenance,
    /// Overview and recent events.
    Log,
}

impl ScreenId {
    /// Screens in tab order (Setup is filtered out once users exist).
    pub const ALL: [ScreenId; 8] = [
        ScreenId::Setup,
        ScreenId::Users,
        ScreenId::License,
        ScreenId::Backup,
        ScreenId::Signers,
        ScreenId::Orgs,
        ScreenId::Maintenance,
        ScreenId::Log,
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
    /// Typed confirmation of an org slug.
    ShredOrg {
        /// Slug the operator must type again.
        slug: String,
        /// Shown in the warning.
        name: String,
    },
    /// Reason for manual maintenance mode.
    EnableMaintenance,
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
    /// Maintenance state.
    Maintenance(MaintenanceState),
    /// Recent events.
    Events(Vec<LogLine>),
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
}
