//! Every string the admin TUI shows, in one place, so wording stays consistent and can be
//! reviewed (or translated) without reading drawing code. No logic beyond formatting.

use crate::action::{Action, FormKind, ScreenId};
use crate::backend::{
    BackendError, BackupReport, IsolationReport, OrgPatch, OrgRole, RESTORE_PHRASE, RestoreReport,
    Role,
};
use crate::ui::fmt_bytes;

/// Key + label pairs for help bars.
pub type Keys = &'static [(&'static str, &'static str)];

pub const APP_NAME: &str = " rampart admin";
pub const MAINT_BADGE: &str = " MAINTENANCE ";
pub const BUSY_BADGE: &str = "⏳ job running";
pub const LOADING: &str = "Loading…";
pub const NONE: &str = "—";

pub const SERVER_UP: &str = "server up";
pub const SERVER_DOWN: &str = "server down";
pub const SERVER_UNKNOWN: &str = "server ?";

/// Tab label of a screen.
pub fn screen_name(id: ScreenId) -> &'static str {
    match id {
        ScreenId::Setup => "Setup",
        ScreenId::Users => "Users",
        ScreenId::License => "License",
        ScreenId::Backup => "Backup",
        ScreenId::Signers => "Signers",
        ScreenId::Orgs => "Orgs",
        ScreenId::Maintenance => "Maintenance",
        ScreenId::Log => "Log",
        ScreenId::Credits => "Credits",
    }
}

/// Tab label of a screen on narrow terminals.
pub fn screen_short_name(id: ScreenId) -> &'static str {
    match id {
        ScreenId::Setup => "Setup",
        ScreenId::Users => "Users",
        ScreenId::License => "Lic",
        ScreenId::Backup => "Bkp",
        ScreenId::Signers => "Sign",
        ScreenId::Orgs => "Orgs",
        ScreenId::Maintenance => "Maint",
        ScreenId::Log => "Log",
        ScreenId::Credits => "Cred",
    }
}

/// Display name of a role.
pub fn role(role: Role) -> &'static str {
    match role {
        Role::User => "User",
        Role::Admin => "Admin",
        Role::Superadmin => "Superadmin",
    }
}

/// Display name of an org role.
pub fn org_role(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Member => "Member",
        OrgRole::OrgAdmin => "Org admin",
    }
}

/// Fixed-width severity label of an event line.
pub fn log_level(level: crate::backend::LogLevel) -> &'static str {
    match level {
        crate::backend::LogLevel::Info => "INFO ",
        crate::backend::LogLevel::Warn => "WARN ",
        crate::backend::LogLevel::Error => "ERROR",
    }
}

pub fn db_size(bytes: u64) -> String {
    format!("DB {}", fmt_bytes(bytes))
}

pub fn version(v: &str) -> String {
    format!("v{v}")
}

pub fn users_count(n: u64) -> String {
    if n == 1 {
        "1 user".to_owned()
    } else {
        format!("{n} users")
    }
}

// ---- keys -------------------------------------------------------------------------------

pub const GLOBAL_KEYS_BAR: Keys = &[("?", "help"), ("q", "quit")];
pub const GLOBAL_KEYS_HELP: Keys = &[
    ("Tab/S-Tab", "next / previous screen (also ←/→, h/l)"),
    ("1-8", "jump to screen"),
    ("↑↓ / j k", "move selection, scroll"),
    ("F5", "reload data"),
    ("?", "this help"),
    ("q", "quit (Ctrl-C always quits)"),
    ("mouse", "click tabs and rows, wheel scrolls"),
];
pub const FORM_KEYS: Keys = &[
    ("↵", "next / submit"),
    ("Tab", "next field"),
    ("Esc", "cancel"),
];
pub const FORM_KEYS_SINGLE: Keys = &[("↵", "submit"), ("Esc", "cancel")];
pub const FORM_KEYS_CHOICE_SINGLE: Keys = &[("←→", "choose"), ("↵", "submit"), ("Esc", "cancel")];
pub const FORM_KEYS_CHOICE: Keys = &[
    ("↵", "next / submit"),
    ("Tab", "next field"),
    ("←→", "choose"),
    ("Esc", "cancel"),
];
pub const CONFIRM_KEYS: Keys = &[("y/↵", "yes"), ("n/Esc", "no")];
pub const MESSAGE_KEYS: Keys = &[("↵/Esc", "close")];
pub const K_SETUP: (&str, &str) = ("↵", "create first superadmin");
pub const USERS_KEYS: Keys = &[
    ("n", "new"),
    ("↵", "role"),
    ("d", "disable"),
    ("e", "enable"),
    ("r", "reset MFA"),
];
pub const K_INSTALL: (&str, &str) = ("i", "install license file");
pub const BACKUP_KEYS: Keys = &[("b", "backup"), ("r", "restore")];
pub const SIGNERS_KEYS: Keys = &[("n", "import PEM"), ("d", "remove")];
pub const ORGS_KEYS: Keys = &[
    ("n", "new"),
    ("↵", "open"),
    ("e", "edit"),
    ("i", "isolate"),
    ("d", "delete"),
    ("s", "shred"),
];
pub const ORG_DETAIL_KEYS: Keys = &[
    ("a", "add member"),
    ("↵", "role"),
    ("d", "remove"),
    ("w", "switch list"),
    ("e", "edit"),
    ("Esc", "back"),
];
pub const MAINT_KEYS: Keys = &[
    ("e", "enable"),
    ("c", "clear"),
    ("k", "check databases"),
    ("x", "clear LLM cache"),
    ("w", "rewrap KMS key"),
];
pub const CREDITS_KEYS: Keys = &[("a", "set allowance"), ("c", "add or deduct")];
pub const K_SCROLL: (&str, &str) = ("↑↓", "scroll");

pub const HELP_TITLE: &str = "Keys";
pub const HELP_SCREEN: &str = "This screen";
pub const HELP_GLOBAL: &str = "Everywhere";

// ---- setup ------------------------------------------------------------------------------

pub const SETUP_TITLE: &str = "First-run setup";
pub const SETUP_BODY: &[&str] = &[
    "This instance has no user accounts yet.",
    "",
    "Create the first superadmin. It can then create other users on the Users screen or with `rampart admin user create`; there is no self-registration.",
    "",
    "Passwords need at least 8 characters with an upper-case letter, a lower-case letter and a digit.",
];
pub const SETUP_CALL: &str = "Press ↵ to create the first superadmin.";
pub const SETUP_DONE_TITLE: &str = "Setup complete";

pub fn setup_done(email: &str) -> Vec<String> {
    vec![
        format!("Superadmin {email} created."),
        "Sign in on the web UI; MFA enrolment is asked at first login.".to_owned(),
    ]
}

// ---- users ------------------------------------------------------------------------------

pub const USERS_HEADER: [&str; 6] = ["Email", "Name", "Role", "Status", "MFA", "Created"];
pub const USERS_EMPTY: &str = "No users yet. Press n to create one.";
pub const ACTIVE: &str = "active";
pub const DISABLED: &str = "disabled";

pub fn users_title(n: usize) -> String {
    format!("Users ({n})")
}

/// Compact MFA column: `TOTP+2 keys`, `TOTP`, `1 key`, or `off`.
pub fn mfa_summary(totp: bool, keys: u32) -> String {
    let keys_text = match keys {
        0 => String::new(),
        1 => "1 key".to_owned(),
        n => format!("{n} keys"),
    };
    match (totp, keys) {
        (false, 0) => "off".to_owned(),
        (true, 0) => "TOTP".to_owned(),
        (false, _) => keys_text,
        (true, _) => format!("TOTP+{keys_text}"),
    }
}

pub fn already_disabled(email: &str) -> String {
    format!("{email} is already disabled (e enables).")
}
pub fn already_enabled(email: &str) -> String {
    format!("{email} is already enabled.")
}
pub fn no_mfa(email: &str) -> String {
    format!("{email} has no MFA to reset.")
}
pub fn user_created(email: &str, r: Role) -> String {
    format!("✓ Created {email} ({}).", role(r))
}
pub fn role_changed(email: &str, r: Role) -> String {
    format!("✓ {email} is now {}.", role(r))
}
pub fn user_disabled(email: &str, disabled: bool) -> String {
    if disabled {
        format!("✓ {email} disabled.")
    } else {
        format!("✓ {email} enabled.")
    }
}
pub fn mfa_reset(email: &str) -> String {
    format!("✓ MFA of {email} reset.")
}

// ---- license ----------------------------------------------------------------------------

pub const LICENSE_TITLE: &str = "License";
pub const LIC_VALID: &str = "valid";
pub const LIC_EXPIRED: &str = "expired";
pub const LIC_MISSING: &str = "missing";
pub const LIC_INVALID: &str = "invalid";
pub const L_STATUS: &str = "Status";
pub const L_LICENSEE: &str = "Licensee";
pub const L_EXPIRES: &str = "Expires";
pub const L_MAX_WS: &str = "Max WS";
pub const L_MAX_ORGS: &str = "Max orgs";
pub const L_DETAIL: &str = "Detail";
pub const L_WORKSPACES: &str = "Workspaces";
pub const L_ORGS: &str = "Orgs";
pub const LICENSE_HINT: &str =
    "A license is an ES256-signed JWT (LICENSE_KEY_FILE). Press i to verify and install one.";
pub const LICENSE_INSTALLED: &str = "✓ License installed.";

/// `used / max` (or `used / ∞` without a limit).
pub fn usage(used: u64, max: Option<u64>) -> String {
    match max {
        Some(m) => format!("{used} / {m}"),
        None => format!("{used} / ∞"),
    }
}

// ---- backup -----------------------------------------------------------------------------

pub const BACKUP_TITLE: &str = "Signed backup";
pub const L_DATA_DIR: &str = "Data dir";
pub const L_DB_SIZE: &str = "DB size";
pub const L_FORMAT: &str = "Format";
pub const L_FILENAME: &str = "File name";
pub const BACKUP_FORMAT: &str = "gzip(SQLite snapshot) + MIPIBAK\\x02 trailer, ECDSA P-256";
pub const BACKUP_FILENAME: &str = "rampart-backup-YYYYMMDD-HHMMSS.db.gz.signed";
pub const BACKUP_HINTS: &[&str] = &[
    "b  write a signed backup to a file or directory",
    "r  restore (superadmin: your email and password): verifies the signature first",
];
pub const DEFAULT_BACKUP_DIR: &str = ".";
pub const JOB_TITLE: &str = "Job";
pub const JOB_IDLE: &str = "No backup or restore has run in this session.";
pub const BACKING_UP: &str = "Backing up to";
pub const RESTORING: &str = "Restoring from";
pub const STARTING: &str = "starting…";
pub const BACKUP_DONE_TITLE: &str = "Backup written";
pub const RESTORE_DONE_TITLE: &str = "Restore complete";

pub fn backup_done(r: &BackupReport) -> Vec<String> {
    vec![
        format!("Backup written to {}", r.path.display()),
        format!("Size {}", fmt_bytes(r.bytes)),
        format!("Signed by {}", r.signer_fingerprint),
    ]
}

pub fn restore_done(r: &RestoreReport) -> Vec<String> {
    vec![
        format!("Restored {} of data.", fmt_bytes(r.bytes)),
        format!("Signed by {} ({})", r.signer_label, r.signer_fingerprint),
        "A running server serves the restored data now.".to_owned(),
    ]
}

// ---- signers ----------------------------------------------------------------------------

pub const THIS_INSTANCE: &str = "This instance's backup signing key";
pub const L_FINGERPRINT: &str = "Fingerprint";
pub const SIGNERS_HEADER: [&str; 3] = ["Label", "Fingerprint (SHA-256)", "Added"];
pub const SIGNERS_EMPTY: &str =
    "No trusted signers. Press n to import another instance's public key PEM.";

pub fn signers_title(n: usize) -> String {
    format!("Trusted signers ({n}) · superadmin operation, audited")
}

/// Who may change trusted signers, said wherever they are changed.
pub const SIGNERS_OPERATOR: &str = "Superadmin operation; audited as tui with your OS user.";
pub fn signer_added(label: &str, fp: &str) -> String {
    format!(
        "✓ Trusted {label} ({}…).",
        fp.chars().take(16).collect::<String>()
    )
}
pub fn signer_removed(label: &str) -> String {
    format!("✓ Removed trusted signer {label}.")
}

// ---- orgs -------------------------------------------------------------------------------

pub const ORGS_HEADER: [&str; 6] = ["Slug", "Name", "Workspaces", "Members", "Data", "Created"];
pub const ORGS_EMPTY: &str = "No organizations. Press n to create one.";
pub const SHREDDED: &str = "shredded";
pub const DATA_OWN_DB: &str = "own DB";
pub const DATA_PLATFORM: &str = "platform";
pub const ORG_MEMBERS_HEADER: [&str; 3] = ["Email", "Name", "Role"];
pub const ORG_WORKSPACES_HEADER: [&str; 3] = ["Name", "Members", "Created"];
pub const ORG_MEMBERS_EMPTY: &str = "No members. Press a to add an account by email.";
pub const ORG_WORKSPACES_EMPTY: &str =
    "No workspaces. Org members create them in the web app (within Max workspaces).";
pub const L_NAME: &str = "Name";
pub const L_DESCRIPTION: &str = "Description";
pub const L_MEMBERS: &str = "Members";
pub const L_DATA: &str = "Data";
pub const L_CREATED: &str = "Created";
pub const DATA_OWN_DB_LONG: &str = "its own encrypted database (can be crypto-shredded)";
pub const DATA_PLATFORM_LONG: &str = "the platform database (press i on the list to isolate)";
pub const DATA_SHREDDED_LONG: &str = "crypto-shredded: key and database destroyed";
pub const NOTHING_CHANGED: &str = "Nothing changed.";

pub fn orgs_title(n: usize) -> String {
    format!("Organizations ({n})")
}
pub fn org_title(slug: &str) -> String {
    format!("Organization {slug}")
}
pub fn org_members_title(n: usize) -> String {
    format!("Members ({n})")
}
pub fn org_workspaces_title(n: usize) -> String {
    format!("Workspaces ({n})")
}
/// `used / max`, where a max of 0 means unlimited (`used / ∞`).
pub fn org_usage(used: u64, max: u64) -> String {
    usage(used, (max > 0).then_some(max))
}
pub fn already_shredded(slug: &str) -> String {
    format!("{slug} is already shredded.")
}
pub fn shredded_read_only(slug: &str) -> String {
    format!("{slug} was crypto-shredded; it can only be deleted (d).")
}
pub fn already_isolated(slug: &str) -> String {
    format!("{slug} already keeps its data in its own database.")
}
pub fn shred_needs_isolation(slug: &str) -> String {
    format!("{slug} has no own database to shred: isolate it first (i), or delete it (d).")
}
pub fn org_created(name: &str, slug: &str) -> String {
    format!("✓ Created organization {name} ({slug}).")
}
pub fn org_updated(slug: &str, patch: &OrgPatch) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &patch.name {
        parts.push(format!("name {n}"));
    }
    if patch.description.is_some() {
        parts.push("description".to_owned());
    }
    let limit = |v: u64| {
        if v == 0 {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    if let Some(v) = patch.max_workspaces {
        parts.push(format!("max workspaces {}", limit(v)));
    }
    if let Some(v) = patch.max_members {
        parts.push(format!("max members {}", limit(v)));
    }
    format!("✓ Updated {slug}: {}.", parts.join(", "))
}
pub fn org_deleted(slug: &str) -> String {
    format!("✓ Deleted organization {slug} with its workspaces and all their data.")
}
pub fn shred_done(slug: &str) -> String {
    format!("✓ {slug} crypto-shredded: its key and database are destroyed; the record is kept.")
}
pub fn isolating(slug: &str) -> String {
    format!("⏳ Moving the data of {slug} into its own encrypted database…")
}
pub fn isolated(slug: &str, r: &IsolationReport) -> String {
    if r.moved {
        format!(
            "✓ {slug} now keeps its data in its own encrypted database: {} row(s) of {} workspace(s) moved.",
            r.rows_moved, r.workspaces
        )
    } else if r.rows_moved > 0 {
        format!(
            "✓ {slug} already had its own database; {} leftover row(s) moved into it.",
            r.rows_moved
        )
    } else {
        format!("✓ {slug} already keeps its data in its own database; nothing to move.")
    }
}
pub fn org_member_set(email: &str, role: OrgRole, slug: &str) -> String {
    format!("✓ {email} is {} of {slug}.", org_role(role))
}
pub fn org_member_removed(email: &str, slug: &str) -> String {
    format!("✓ Removed {email} from {slug}.")
}

// ---- maintenance ------------------------------------------------------------------------

pub const MAINT_TITLE: &str = "Maintenance mode";
pub const MAINT_ACTIVE: &str = "ACTIVE — non-admin requests get 503";
pub const MAINT_OFF: &str = "off";
pub const L_STATE: &str = "State";
pub const L_REASON: &str = "Reason";
pub const L_TRIPPED_AT: &str = "Tripped at";
pub const MAINT_HELP: &[&str] = &[
    "Trips automatically when the LLM endpoint reports exhausted quota.",
    "While active, the API, MCP and SSE answer 503 to everyone but superadmins.",
    "e  enable with a reason      c  clear      k  check every database (read-only)",
];
pub const LLM_TITLE: &str = "LLM and keys";
pub const L_CACHE: &str = "LLM cache";
pub const L_USAGE: &str = "Usage 30 d";
pub const L_KMS: &str = "Master key";
pub const LLM_HELP: &str =
    "x  clear every user's cached LLM answers      w  rewrap the master key (Vault)";
pub const KMS_NOT_VAULT: &str = "Rewrap needs KMS_PROVIDER=vault.";

/// `N entries, S bytes, hit rate R`.
pub fn llm_cache_line(entries: u64, bytes: u64, hit_rate: Option<&str>) -> String {
    format!(
        "{entries} entries, {bytes} bytes, hit rate {}",
        hit_rate.unwrap_or("-")
    )
}

/// Notice after clearing the cache.
pub fn llm_cache_cleared(removed: u64) -> String {
    format!("Removed {removed} cached LLM answers.")
}

/// Notice after a rewrap.
pub fn kms_rewrapped(version: Option<u64>) -> String {
    match version {
        Some(v) => format!("Master key rewrapped by Vault Transit key version {v}."),
        None => "Master key rewrapped.".to_owned(),
    }
}

pub const CHECK_TITLE: &str = "Database check";
pub const CHECK_NOT_RUN: &str =
    "not run yet (k): key, schema, integrity, foreign keys, whole model versions";

/// Notice after the database check.
pub fn check_done(total: usize, failed: usize) -> String {
    if failed == 0 {
        format!("✓ All {total} database(s) passed the check.")
    } else {
        format!("✗ {failed} of {total} database(s) failed the check; see the Maintenance screen.")
    }
}
pub const MAINT_ALREADY: &str = "Maintenance mode is already active.";
pub const MAINT_NOT_ACTIVE: &str = "Maintenance mode is not active.";
pub const MAINT_ENABLED: &str = "✓ Maintenance mode enabled.";
pub const MAINT_CLEARED: &str = "✓ Maintenance mode cleared.";

// ---- log / status -----------------------------------------------------------------------

pub const STATUS_TITLE: &str = "Status";
pub const EVENTS_TITLE: &str = "Recent events";
pub const EVENTS_EMPTY: &str = "No events.";
pub const L_INSTANCE: &str = "Instance";
pub const L_VERSION: &str = "Version";
pub const L_USERS: &str = "Users";
pub const L_SERVER: &str = "Server";

// ---- forms ------------------------------------------------------------------------------

pub const F_EMAIL: &str = "Email";
pub const F_NAME: &str = "Name";
pub const F_PASSWORD: &str = "Password";
pub const F_PASSWORD_AGAIN: &str = "Repeat password";
pub const F_ROLE: &str = "Role";
pub const F_LICENSE_FILE: &str = "License file";
pub const F_BACKUP_DEST: &str = "File or dir";
pub const F_BACKUP_FILE: &str = "Backup file";
pub const F_PHRASE: &str = "Type phrase";
pub const F_SUPERADMIN_EMAIL: &str = "Your email";
pub const F_ADMIN_PASSWORD: &str = "Your password";
pub const F_LABEL: &str = "Label";
pub const F_PEM_FILE: &str = "PEM file";
pub const F_SLUG: &str = "Type slug";
pub const F_ORG_SLUG: &str = "Slug (optional)";
pub const F_DESCRIPTION: &str = "Description";
pub const F_MAX_WORKSPACES: &str = "Max workspaces";
pub const F_MAX_MEMBERS: &str = "Max members";
pub const F_ORG_ROLE: &str = "Org role";
pub const F_REASON: &str = "Reason";
pub const F_REASON_OPTIONAL: &str = "Reason (opt.)";
pub const F_ALLOWANCE: &str = "Credits/month";
pub const F_AMOUNT: &str = "Credits (+/-)";
pub const F_NOTE: &str = "Note";

pub const BAD_EMAIL: &str = "Email must look like name@domain.";
pub const PASSWORDS_DIFFER: &str = "The two passwords differ.";
pub const PHRASE_MISMATCH: &str = "Type the phrase exactly: CONFIRM RESTORE";
pub const BAD_SLUG: &str =
    "Slug: lowercase letters, digits and hyphens, not starting or ending with a hyphen.";

pub const BAD_ALLOWANCE: &str = "Credits/month: a whole number from 0, or empty for not metered.";
pub const BAD_AMOUNT: &str = "Credits: a whole number, not 0 (e.g. 100 to add, -50 to deduct).";
pub const NOTE_REQUIRED: &str = "A note is required to deduct credits.";

pub fn bad_limit(label: &str) -> String {
    format!("{label} must be a whole number (0 = unlimited).")
}

pub fn required(label: &str) -> String {
    format!("{label} is required.")
}
pub fn slug_mismatch(slug: &str) -> String {
    format!("Type the slug exactly: {slug}")
}

/// Title, explanatory lines and whether the form is destructive (red frame).
pub fn form_intro(kind: &FormKind) -> (&'static str, Vec<String>, bool) {
    match kind {
        FormKind::Setup => (
            "Create first superadmin",
            vec!["The first account gets the Superadmin role.".to_owned()],
            false,
        ),
        FormKind::CreateUser => (
            "New user",
            vec!["The user is asked to enrol MFA at first login.".to_owned()],
            false,
        ),
        FormKind::SetRole { email, .. } => {
            ("Change role", vec![format!("Role of {email}:")], false)
        }
        FormKind::InstallLicense => (
            "Install license",
            vec![
                "Path of the license JWT; it is verified before it replaces the current one."
                    .to_owned(),
            ],
            false,
        ),
        FormKind::Backup => (
            "Create signed backup",
            vec!["A directory gets a timestamped file name; a file path is used as is.".to_owned()],
            false,
        ),
        FormKind::Restore => (
            "Restore from backup",
            vec![
                "This REPLACES ALL DATA with the backup's contents.".to_owned(),
                "Superadmins only: give your email and your own password.".to_owned(),
                format!("Type {RESTORE_PHRASE} to proceed. Audited with your account."),
            ],
            true,
        ),
        FormKind::AddSigner => (
            "Import trusted signer",
            vec![
                "P-256 public key PEM of the other instance (its Signers screen shows it)."
                    .to_owned(),
                SIGNERS_OPERATOR.to_owned(),
            ],
            false,
        ),
        FormKind::ShredOrg { slug, name } => (
            "Crypto-shred organization",
            vec![
                format!("Destroys the encryption key and database of {name} ({slug})."),
                "This cannot be undone. Type the slug to confirm.".to_owned(),
            ],
            true,
        ),
        FormKind::DeleteOrg {
            slug,
            name,
            workspaces,
        } => (
            "Delete organization",
            vec![
                format!(
                    "Deletes {name} ({slug}) with its {workspaces} workspace(s) and ALL their data: models, assertions, runs, findings, CI keys."
                ),
                "Its own database and key, if any, are destroyed. This cannot be undone. Type the slug to confirm.".to_owned(),
            ],
            true,
        ),
        FormKind::CreateOrg => (
            "New organization",
            vec!["A blank slug is derived from the name (lowercase, hyphens).".to_owned()],
            false,
        ),
        FormKind::EditOrg(org) => (
            "Edit organization",
            vec![format!(
                "{} ({}). Limits: 0 = unlimited; they apply to new workspaces and members.",
                org.name, org.slug
            )],
            false,
        ),
        FormKind::AddOrgMember { slug } => (
            "Add org member",
            vec![format!(
                "An existing account joins {slug}. Org admins manage its workspaces and members."
            )],
            false,
        ),
        FormKind::SetOrgRole { slug, email, .. } => {
            ("Change org role", vec![format!("Role of {email} in {slug}:")], false)
        }
        FormKind::EnableMaintenance => (
            "Enable maintenance mode",
            vec!["Non-admin requests get 503 until you clear it.".to_owned()],
            true,
        ),
        FormKind::SetAllowance(a) => (
            "Set monthly allowance",
            vec![
                format!("Monthly credits of {}.", credit_account_name(a)),
                "Empty: not metered (use is recorded, nothing is refused).".to_owned(),
            ],
            false,
        ),
        FormKind::AdjustCredits(a) => (
            "Add or deduct credits",
            vec![
                format!(
                    "Credits of {} this month (balance {}).",
                    credit_account_name(a),
                    credits_or_dash(a.balance)
                ),
                "Positive adds, negative deducts (a note is required to deduct).".to_owned(),
            ],
            false,
        ),
    }
}

// ---- credits ----------------------------------------------------------------------------

pub const CREDITS_HEADER: [&str; 5] = ["Account", "Kind", "Allowance", "Used", "Balance"];
pub const CREDITS_EMPTY: &str = "No users or organizations yet.";
pub const NOT_METERED: &str = "not metered";
pub const CREDITS_HELP: &str =
    "Monthly AI credits, reset on the 1st (UTC); org pools pay for their workspaces.";

pub fn credits_title(users: usize, orgs: usize) -> String {
    format!("Credits this month ({users} users, {orgs} org pools)")
}

/// `alice@example.com` or `the pool of Acme (acme)`.
pub fn credit_account_name(a: &crate::backend::CreditAccount) -> String {
    match a.kind {
        crate::backend::CreditKind::User => a.label.clone(),
        crate::backend::CreditKind::Org => format!("the pool of {} ({})", a.label, a.key),
    }
}

/// A number of credits, or `—` when not metered.
pub fn credits_or_dash(n: Option<i64>) -> String {
    n.map_or_else(|| "—".to_owned(), |n| n.to_string())
}

/// Notice after an allowance change.
pub fn allowance_set(label: &str, allowance: Option<i64>) -> String {
    match allowance {
        Some(a) => format!("Monthly allowance of {label} set to {a} credits."),
        None => format!("{label} is no longer metered."),
    }
}

// ---- confirm / messages -----------------------------------------------------------------

pub const CONFIRM_TITLE: &str = "Confirm";

/// The question a confirm popup asks about `action`.
pub fn confirm_question(action: &Action) -> Vec<String> {
    match action {
        Action::SetDisabled { email, .. } => vec![
            format!("Disable {email}?"),
            "They can no longer sign in; their data stays. e re-enables.".to_owned(),
        ],
        Action::ResetMfa { email, .. } => vec![
            format!("Reset MFA of {email}?"),
            "Removes their authenticator app and all security keys.".to_owned(),
        ],
        Action::RemoveSigner { label, fingerprint } => vec![
            format!("Remove trusted signer {label}?"),
            format!("Backups signed by {fingerprint} will be refused."),
            SIGNERS_OPERATOR.to_owned(),
        ],
        Action::IsolateOrg {
            slug,
            name,
            workspaces,
        } => vec![
            format!("Move the data of {name} ({slug}) into its own encrypted database?"),
            format!(
                "The models, assertions, runs, findings, activity and CI keys of its {workspaces} workspace(s) move out of platform.db into a database under the org's own key (wrapped by the master key)."
            ),
            "Each step is one transaction; an interrupted move resumes when run again. Afterwards the org can be backed up on its own and crypto-shredded.".to_owned(),
        ],
        Action::RemoveOrgMember { slug, email, .. } => vec![
            format!("Remove {email} from {slug}?"),
            "They leave every workspace of the org; their API keys there stop working.".to_owned(),
        ],
        Action::ClearLlmCache => vec![
            "Clear every user's cached LLM answers?".to_owned(),
            "Identical requests ask the LLM again (and cost tokens) until the cache refills.".to_owned(),
        ],
        Action::RewrapKms => vec![
            "Rewrap the master key with the newest Vault Transit key version?".to_owned(),
            "Vault re-encrypts the wrapped key; the master key and the data do not change.".to_owned(),
        ],
        Action::ClearMaintenance => vec![
            "Clear maintenance mode?".to_owned(),
            "All users regain access immediately.".to_owned(),
        ],
        other => vec![format!("Proceed with {other:?}?")],
    }
}

/// Message popup title for a backend error.
pub fn error_title(err: &BackendError) -> &'static str {
    match err {
        BackendError::Invalid(_) => "Invalid input",
        BackendError::NotFound(_) => "Not found",
        BackendError::Conflict(_) => "Conflict",
        BackendError::Denied(_) => "Denied",
        BackendError::Failed(_) => "Failed",
    }
}

pub const BUSY: &str = "A backup, restore or data move is running; wait for it to finish.";
pub const BUSY_QUIT: &str =
    "A backup, restore or data move is running; wait, or Ctrl-C to abandon it.";
pub const WORKER_PANICKED: &str =
    "The background worker (backup, restore, data move) crashed; see the log.";
pub const WORKER_LOST: &str =
    "The background worker (backup, restore, data move) stopped without reporting a result.";

pub fn spawn_failed(err: &str) -> String {
    format!("could not start the background worker thread: {err}")
}
