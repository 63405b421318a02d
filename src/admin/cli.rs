//! The scriptable face of [`AdminService`]: `rampart admin backup|restore|signing-key|
//! signers|license|maintenance|org`. Argument types live here so `cli.rs` only lists the
//! variants. Every command prints text, or one JSON document with `--json`; errors go to
//! stderr as `rampart: <reason>` (and, with `--json`, as `{"error":{"code","message"}}` on
//! stdout). Exit codes: 0 ok, 1 failed with a reason, 2 usage (wrong confirmation, invalid
//! argument; nothing was done).
//!
//! Who this CLI is: the operator of the box. It opens the databases with the master key in
//! the data dir, so only root or the service account can run it at all, and whoever can has
//! every key anyway; it is not a signed-in user and needs no session. It is audited instead:
//! trusted-signer changes and restores record `cli (uid N name, sudo by USER)` from the
//! process's real user and `SUDO_USER`. Where the operation identifies a person (a restore
//! once accounts exist), that person names themself with `--user` and gives their own
//! password, and must be an enabled superadmin, as over HTTP.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{
    AdminService, Error, NewOrg, NoLocalAccounts, PasswordCheck, Phase, Progress, RestoreRequest,
    SuperadminPassword,
};
use crate::auth::AuthService;
use crate::cli::Exit;
use crate::instance::Instance;
use crate::tenancy::OrgRole;

/// Actor recorded in the admin event log for operations run from this shell.
const ACTOR: &str = "cli";

/// The operator as the audit log names them: the face, the process's real uid and user name,
/// and `SUDO_USER` when run through sudo. Shared with the TUI (`face` = "tui").
pub fn operator(face: &str) -> String {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "?".into());
    match std::env::var("SUDO_USER") {
        Ok(sudo) if !sudo.is_empty() => format!("{face} (uid {uid} {name}, sudo by {sudo})"),
        _ => format!("{face} (uid {uid} {name})"),
    }
}

/// Who authorizes a restore from the box itself (CLI or TUI). Once any account exists, the
/// person restoring must name themself (`email`) and be an enabled superadmin; their own
/// password is then checked, and the restore is recorded under their id. On an instance
/// without accounts (disaster recovery onto a fresh install) there is nobody to identify:
/// the operator restores alone, recorded as `face (uid …)`.
pub fn restore_authority(
    auth: &AuthService,
    face: &str,
    email: Option<&str>,
) -> Result<(String, String, Box<dyn PasswordCheck>), Error> {
    let operator = operator(face);
    let users = auth
        .list_users_unchecked()
        .map_err(|e| Error::Invalid(format!("cannot read the accounts: {e}")))?;
    if users.is_empty() {
        return Ok((operator.clone(), operator, Box::new(NoLocalAccounts)));
    }
    let email = email.map(str::trim).filter(|e| !e.is_empty()).ok_or_else(|| {
        Error::Password(format!(
            "name the superadmin restoring (--user EMAIL in the CLI, the email field in the TUI) and give their password ({face} is audited as {operator})"
        ))
    })?;
    let user = users
        .into_iter()
        .find(|u| u.email.eq_ignore_ascii_case(email))
        .ok_or_else(|| Error::Password(format!("no account {email}")))?;
    let note = format!("{} via {operator}", user.email);
    let check = SuperadminPassword {
        auth: auth.clone(),
        user_id: user.id.clone(),
    };
    Ok((user.id, note, Box::new(check)))
}

/// `rampart admin backup`
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Output file, or an existing directory to write rampart-backup-YYYYMMDD-HHMMSS.db.gz.signed
    /// into (`-2`, `-3` … appended when a backup of that second is there). Default: that name
    /// in the current directory. An existing file is never overwritten.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Back up one isolated organization's database instead (signed with its own key).
    #[arg(long, value_name = "SLUG")]
    pub org: Option<String>,
}

/// `rampart admin signing-key`
#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    /// Show an isolated organization's backup signing key instead of the instance's.
    #[arg(long, value_name = "SLUG")]
    pub org: Option<String>,
}

/// `rampart admin restore`
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The signed backup file (*.db.gz.signed).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Must be exactly "CONFIRM RESTORE": restore replaces all data of this instance.
    #[arg(long, value_name = "PHRASE", required_unless_present = "verify_only")]
    pub confirm: Option<String>,
    /// The superadmin restoring (their email). Required once any account exists, together
    /// with their own password on stdin; recorded in the audit log.
    #[arg(long, value_name = "EMAIL")]
    pub user: Option<String>,
    /// Read the restoring superadmin's password from stdin (first line). Required once any
    /// user exists (before first-run setup there is no password to check).
    #[arg(long)]
    pub password_stdin: bool,
    /// Only check the file (trailer, signer trust, signature); change nothing.
    #[arg(long)]
    pub verify_only: bool,
    /// Restore an organization backup into this isolated organization's database.
    #[arg(long, value_name = "SLUG")]
    pub org: Option<String>,
}

/// `rampart admin signers`
#[derive(Debug, Subcommand)]
pub enum SignersCommand {
    /// List the instances whose backups this instance accepts.
    List,
    /// Trust another instance's backups: import its public key (from its `admin signing-key`).
    Add {
        /// A name for the signer, e.g. "Production instance".
        #[arg(long)]
        label: String,
        /// PEM public key file (-----BEGIN PUBLIC KEY-----, ECDSA P-256 only); `-` reads stdin.
        #[arg(long, value_name = "FILE")]
        pem: PathBuf,
    },
    /// Stop trusting a signer.
    Remove {
        /// Its fingerprint (64 hex characters).
        #[arg(value_name = "FINGERPRINT")]
        fingerprint: String,
    },
}

/// `rampart admin license`
#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Show the license state, licensee, limits and expiry.
    Status,
    /// Validate a license file and install it into the data dir.
    Install {
        /// The license file (JWT).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `rampart admin maintenance`
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Show whether maintenance mode is on, why and since when.
    Status,
    /// Turn maintenance mode on: non-admin users get 503 until cleared.
    Enable {
        /// Why (shown to admins and in the alert email).
        #[arg(long)]
        reason: String,
    },
    /// Turn maintenance mode off.
    Clear,
}

/// `rampart admin cache`
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Entries, approximate size and hit rate of the LLM response cache.
    Stats {
        /// Only this user's entries and calls (email or id).
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove cached LLM answers: one user's, or everyone's.
    Clear {
        /// Only this user's entries (email or id).
        #[arg(long)]
        user: Option<String>,
    },
}

/// `rampart admin kms`
#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Which KMS wraps the master key; with Vault, the Transit key version (checked with Vault).
    Status,
    /// Re-encrypt the wrapped master key under the newest Transit key version (after a
    /// rotation in Vault). The master key and the data do not change.
    Rewrap,
}

/// `rampart admin org`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List organizations (crypto-shredded ones included).
    List,
    /// Create an organization (limited by the license's max_orgs).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// URL identifier (lowercase, digits, hyphens); derived from the name by default.
        #[arg(long)]
        slug: Option<String>,
        /// Optional description.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Crypto-shred an organization: destroy its key and database. Irreversible.
    Shred {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
        /// Type the slug again to confirm.
        #[arg(long, value_name = "SLUG")]
        confirm: String,
    },
    /// Move an organization's data out of platform.db into its own encrypted database
    /// (idempotent; an interrupted move resumes when run again).
    Isolate {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
    },
    /// Delete an organization with all its workspaces and their data. Irreversible.
    Delete {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
        /// Type the slug again to confirm.
        #[arg(long, value_name = "SLUG")]
        confirm: String,
    },
    /// Change an organization's name, description or limits (at least one option).
    Update {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New description ("" clears it).
        #[arg(long)]
        description: Option<String>,
        /// Most team workspaces in the org; 0 = unlimited.
        #[arg(long, value_name = "N")]
        max_workspaces: Option<u64>,
        /// Most members of the org; 0 = unlimited.
        #[arg(long, value_name = "N")]
        max_members: Option<u64>,
    },
    /// List an organization's members with their org roles.
    Members {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
    },
    /// List an organization's workspaces with their member counts.
    Workspaces {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
    },
    /// Add an existing account to an organization, or change its role there.
    AddMember {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
        /// Email of the account.
        #[arg(long)]
        email: String,
        /// Role in the organization.
        #[arg(long, value_parser = ["org_admin", "member"], default_value = "member")]
        role: String,
    },
    /// Remove an account from an organization and from every workspace of it (its API keys
    /// there are revoked).
    RemoveMember {
        /// The organization's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
        /// Email of the member.
        #[arg(long)]
        email: String,
    },
}

/// A limit as shown in text output: `used/max`, or `used/unlimited` for a max of 0.
fn usage(used: u64, max: u64) -> String {
    if max == 0 {
        format!("{used}/unlimited")
    } else {
        format!("{used}/{max}")
    }
}

fn service(instance: &Instance) -> anyhow::Result<AdminService> {
    Ok(AdminService::from_instance(instance)?.for_short_lived_process())
}

/// Prints `value` as JSON, or `text` otherwise. A closed stdout is not an error.
fn emit<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Exit {
    let mut out = std::io::stdout().lock();
    let _ = if json {
        serde_json::to_writer(&mut out, value)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
    } else {
        text(&mut out)
    };
    Exit::Ok
}

/// Reports an admin error and picks the exit code.
fn fail(json: bool, err: &Error) -> Exit {
    eprintln!("rampart: {err}");
    if json {
        println!(
            "{}",
            serde_json::json!({"error": {"code": err.code(), "message": err.to_string()}})
        );
    }
    if err.is_usage() {
        Exit::Usage
    } else {
        Exit::Failed
    }
}

fn finish<T>(json: bool, r: super::Result<T>, ok: impl FnOnce(T) -> Exit) -> anyhow::Result<Exit> {
    Ok(match r {
        Ok(v) => ok(v),
        Err(e) => fail(json, &e),
    })
}

/// Progress printer for stderr: a live line on a terminal, a line per 10 % otherwise.
struct ProgressPrinter {
    tty: bool,
    last_phase: Option<Phase>,
    last_decile: u64,
}

impl ProgressPrinter {
    fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            last_phase: None,
            last_decile: 0,
        }
    }

    fn report(&mut self, p: Progress) {
        let label = match p.phase {
            Phase::Snapshot => "snapshot",
            Phase::Compress => "compress",
            Phase::Verify => "verify",
            Phase::Decompress => "decompress",
            Phase::Apply => "apply",
        };
        let pct = (p.done.saturating_mul(100))
            .checked_div(p.total)
            .unwrap_or(0);
        let mut err = std::io::stderr().lock();
        if self.last_phase != Some(p.phase) {
            if self.tty && self.last_phase.is_some() {
                let _ = writeln!(err);
            }
            self.last_phase = Some(p.phase);
            self.last_decile = u64::MAX;
        }
        if self.tty {
            let _ = write!(
                err,
                "\r{label:<10} {pct:>3}%  {} / {}",
                human(p.done),
                human(p.total)
            );
            let _ = err.flush();
        } else if pct / 10 != self.last_decile {
            self.last_decile = pct / 10;
            let _ = writeln!(
                err,
                "{label:<10} {pct:>3}%  {} / {}",
                human(p.done),
                human(p.total)
            );
        }
    }

    fn done(&self) {
        if self.tty && self.last_phase.is_some() {
            eprintln!();
        }
    }
}

fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{bytes}")
    }
}

/// `rampart admin backup [--out FILE]`
pub fn backup(instance: &Instance, args: &BackupArgs, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let now = chrono::Utc::now();
    let path = match &args.out {
        Some(p) if p.is_dir() => super::backup::backup_path_in(p, now),
        Some(p) => p.clone(),
        None => super::backup::backup_path_in(std::path::Path::new(""), now),
    };
    let mut printer = ProgressPrinter::new();
    let r = match &args.org {
        Some(slug) => svc.backup_org_to_file(ACTOR, slug, &path, &mut |p| printer.report(p)),
        None => svc.backup_to_file(ACTOR, &path, &mut |p| printer.report(p)),
    };
    printer.done();
    finish(json, r, |s| {
        emit(json, &s, |o| {
            writeln!(o, "backup written to {}", path.display())?;
            writeln!(
                o,
                "  {} bytes (plaintext {} bytes), schema {}",
                s.bytes, s.plaintext_bytes, s.schema_version
            )?;
            writeln!(o, "  signed by {}", s.signer_fingerprint)
        })
    })
}

fn read_password_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut s)
        .map_err(|e| anyhow::anyhow!("reading the password from stdin: {e}"))?;
    Ok(s.lines().next().unwrap_or("").to_string())
}

/// `rampart admin restore FILE --confirm "CONFIRM RESTORE" [--user EMAIL --password-stdin]`
pub fn restore(
    instance: &Instance,
    auth: &AuthService,
    args: &RestoreArgs,
    json: bool,
) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let mut printer = ProgressPrinter::new();
    if args.verify_only {
        let r = match &args.org {
            Some(slug) => svc.verify_org_backup(slug, &args.file, &mut |p| printer.report(p)),
            None => svc.verify_backup(&args.file, &mut |p| printer.report(p)),
        };
        printer.done();
        return finish(json, r, |v| {
            emit(json, &v, |o| {
                writeln!(
                    o,
                    "signature OK: signed by {} ({})",
                    v.signer_label, v.signer_fingerprint
                )
            })
        });
    }
    let password = if args.password_stdin {
        Some(read_password_stdin()?)
    } else {
        None
    };
    let (actor, note, check) = match restore_authority(auth, "cli", args.user.as_deref()) {
        Ok(a) => a,
        Err(e) => return Ok(fail(json, &e)),
    };
    let request = RestoreRequest {
        confirmation: args.confirm.clone().unwrap_or_default(),
        password,
        actor,
        note,
    };
    let r = match &args.org {
        Some(slug) => svc.restore_org(slug, &args.file, &request, check.as_ref(), &mut |p| {
            printer.report(p)
        }),
        None => svc.restore(&args.file, &request, check.as_ref(), &mut |p| {
            printer.report(p)
        }),
    };
    printer.done();
    finish(json, r, |s| {
        emit(json, &s, |o| {
            writeln!(
                o,
                "restored {} (signed by {}, {})",
                args.file.display(),
                s.signer.signer_label,
                s.signer.signer_fingerprint
            )?;
            writeln!(
                o,
                "  schema {} (backup had {}), {} bytes",
                s.schema_version, s.backup_schema_version, s.plaintext_bytes
            )
        })
    })
}

/// `rampart admin signing-key`
pub fn signing_key(instance: &Instance, args: &SigningKeyArgs, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let k = match &args.org {
        Some(slug) => svc.org_signing_key(slug),
        None => Ok(svc.signing_key()),
    };
    finish(json, k, |k| {
        emit(json, &k, |o| {
            writeln!(o, "fingerprint {}", k.fingerprint)?;
            write!(o, "{}", k.public_key_pem)
        })
    })
}

/// `rampart admin signers list|add|remove`. Changing trusted signers is a superadmin
/// operation over HTTP; here it is the operator's, recorded as [`operator`].
pub fn signers(instance: &Instance, cmd: &SignersCommand, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let actor = operator("cli");
    match cmd {
        SignersCommand::List => finish(json, svc.list_trusted_signers(), |list| {
            emit(json, &list, |o| {
                if list.is_empty() {
                    writeln!(
                        o,
                        "no trusted signers (only this instance's own backups are accepted)"
                    )?;
                }
                for s in &list {
                    writeln!(o, "{}  {}  (added {})", s.fingerprint, s.label, s.added_at)?;
                }
                Ok(())
            })
        }),
        SignersCommand::Add { label, pem } => {
            let text = if pem.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .lock()
                    .take(64 * 1024)
                    .read_to_string(&mut s)?;
                s
            } else {
                match std::fs::read_to_string(pem) {
                    Ok(s) => s,
                    Err(e) => {
                        return Ok(fail(
                            json,
                            &Error::Refused(format!("cannot read {}: {e}", pem.display())),
                        ));
                    }
                }
            };
            finish(json, svc.add_trusted_signer(&actor, label, &text), |s| {
                emit(json, &s, |o| {
                    writeln!(o, "trusted signer added: {}  {}", s.fingerprint, s.label)
                })
            })
        }
        SignersCommand::Remove { fingerprint } => {
            finish(json, svc.remove_trusted_signer(&actor, fingerprint), |()| {
                emit(
                    json,
                    &serde_json::json!({"removed": fingerprint.to_ascii_lowercase()}),
                    |o| writeln!(o, "trusted signer removed: {fingerprint}"),
                )
            })
        }
    }
}

/// `rampart admin license status|install FILE`
pub fn license(instance: &Instance, cmd: &LicenseCommand, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let print = |s: super::LicenseStatus| {
        emit(json, &s, |o| {
            let state = serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            writeln!(
                o,
                "license     {state}{}",
                s.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )?;
            writeln!(o, "file        {}", s.path.display())?;
            if let Some(l) = &s.licensee {
                writeln!(o, "licensee    {l}")?;
            }
            if let Some(e) = &s.expires_at {
                writeln!(o, "expires     {e}")?;
            }
            writeln!(o, "workspaces  {} allowed", s.effective_max_workspaces)?;
            writeln!(o, "orgs        {} allowed", s.effective_max_orgs)
        })
    };
    match cmd {
        LicenseCommand::Status => Ok(print(svc.license_status())),
        LicenseCommand::Install { file } => finish(json, svc.install_license(ACTOR, file), print),
    }
}

/// `rampart admin maintenance status|enable --reason R|clear`
pub fn maintenance(
    instance: &Instance,
    cmd: &MaintenanceCommand,
    json: bool,
) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let print = |s: super::MaintenanceState| {
        emit(json, &s, |o| {
            if s.active {
                writeln!(
                    o,
                    "maintenance ACTIVE since {} by {}: {}",
                    s.tripped_at.as_deref().unwrap_or("?"),
                    s.tripped_by.as_deref().unwrap_or("?"),
                    s.reason.as_deref().unwrap_or("")
                )
            } else {
                writeln!(o, "maintenance off")
            }
        })
    };
    match cmd {
        MaintenanceCommand::Status => finish(json, svc.maintenance_status(), print),
        MaintenanceCommand::Enable { reason } => {
            finish(json, svc.enable_maintenance(ACTOR, reason), |(s, alert)| {
                let code = print(s);
                // This process exits right away: give the alert email a moment to go out.
                if let Some(alert) = alert {
                    match alert.wait(Duration::from_secs(30)) {
                        Some(Ok(())) => eprintln!("alert email sent"),
                        Some(Err(e)) => eprintln!("rampart: warning: alert email not sent: {e}"),
                        None => eprintln!("rampart: warning: alert email still sending; giving up"),
                    }
                }
                code
            })
        }
        MaintenanceCommand::Clear => finish(json, svc.clear_maintenance(ACTOR), print),
    }
}

/// `rampart admin cache stats|clear [--user E]`
pub fn cache(instance: &Instance, cmd: &CacheCommand, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    match cmd {
        CacheCommand::Stats { user } => finish(json, svc.cache_stats(user.as_deref()), |s| {
            emit(json, &s, |o| {
                let who = s.user.as_ref().map_or("all users", |u| u.email.as_str());
                writeln!(
                    o,
                    "cache       {} ({})",
                    if s.enabled { "enabled" } else { "disabled" },
                    who
                )?;
                writeln!(o, "entries     {}", s.entries)?;
                writeln!(o, "size        {} bytes (approximate)", s.size_bytes)?;
                match s.hit_rate {
                    Some(r) => writeln!(
                        o,
                        "hit rate    {:.1}% ({} of {} calls)",
                        r * 100.0,
                        s.cache_hits,
                        s.calls
                    )?,
                    None => writeln!(o, "hit rate    - (no calls recorded)")?,
                }
                writeln!(
                    o,
                    "limits      {} h lifetime, {} entries",
                    s.ttl_hours, s.max_entries
                )
            })
        }),
        CacheCommand::Clear { user } => {
            let actor = operator("cli");
            finish(json, svc.clear_cache(&actor, user.as_deref()), |c| {
                emit(json, &c, |o| {
                    let who = c.user.as_ref().map_or("all users", |u| u.email.as_str());
                    writeln!(o, "removed {} cached LLM answers ({who})", c.removed)
                })
            })
        }
    }
}

/// `rampart admin kms status|rewrap`
pub fn kms(instance: &Instance, cmd: &KmsCommand, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    let print = |s: crate::crypto::vault::KmsStatus| {
        emit(json, &s, |o| {
            writeln!(o, "provider    {}", s.provider)?;
            if let (Some(addr), Some(key)) = (&s.vault_addr, &s.transit_key) {
                writeln!(o, "vault       {addr} transit key {key}")?;
            }
            if let Some(p) = &s.wrapped_key_file {
                writeln!(o, "wrapped     {}", p.display())?;
            }
            match (s.previous_key_version, s.key_version) {
                (Some(from), Some(to)) => writeln!(o, "rewrapped   key version {from} -> {to}"),
                (None, Some(v)) => writeln!(o, "wrapped by  key version {v}"),
                _ => Ok(()),
            }
        })
    };
    match cmd {
        KmsCommand::Status => finish(json, svc.kms_status(), print),
        KmsCommand::Rewrap => finish(json, svc.kms_rewrap(&operator("cli")), print),
    }
}

/// `rampart admin org list|create|update|members|workspaces|add-member|remove-member|
/// isolate|delete|shred`
pub fn org(instance: &Instance, cmd: &OrgCommand, json: bool) -> anyhow::Result<Exit> {
    let svc = service(instance)?;
    match cmd {
        OrgCommand::List => finish(json, svc.list_orgs(), |list| {
            emit(json, &list, |o| {
                if list.is_empty() {
                    writeln!(o, "no organizations")?;
                }
                for g in &list {
                    let state = match (&g.shredded_at, g.isolated) {
                        (Some(at), _) => format!("shredded {at}"),
                        (None, true) => "isolated".into(),
                        (None, false) => "shared".into(),
                    };
                    writeln!(
                        o,
                        "{}  {}  {}  ({state})  workspaces {}  members {}",
                        g.slug,
                        g.id,
                        g.name,
                        usage(g.workspace_count, g.max_workspaces),
                        usage(g.member_count, g.max_members)
                    )?;
                }
                Ok(())
            })
        }),
        OrgCommand::Create {
            name,
            slug,
            description,
        } => {
            let new = NewOrg {
                name: name.clone(),
                slug: slug.clone(),
                description: description.clone(),
            };
            finish(json, svc.create_org(ACTOR, &new), |g| {
                emit(json, &g, |o| {
                    writeln!(
                        o,
                        "organization created: {} ({}); its data lives {}",
                        g.slug,
                        g.id,
                        if g.isolated {
                            "in its own encrypted database"
                        } else {
                            "in platform.db (ORG_DB_ISOLATION is off; `rampart admin org isolate` moves it later)"
                        }
                    )
                })
            })
        }
        OrgCommand::Shred { slug, confirm } => {
            finish(json, svc.shred_org(ACTOR, slug, confirm), |g| {
                emit(json, &g, |o| {
                    writeln!(
                        o,
                        "organization {} crypto-shredded at {}",
                        g.slug,
                        g.shredded_at.as_deref().unwrap_or("")
                    )
                })
            })
        }
        OrgCommand::Isolate { slug } => finish(json, svc.isolate_org(ACTOR, slug), |r| {
            emit(json, &r, |o| {
                if r.moved {
                    writeln!(
                        o,
                        "organization {slug}: {} row(s) of {} workspace(s) moved into its own encrypted database",
                        r.rows_moved, r.workspaces
                    )
                } else if r.rows_moved > 0 {
                    writeln!(
                        o,
                        "organization {slug} already had its own database; {} leftover row(s) moved into it",
                        r.rows_moved
                    )
                } else {
                    writeln!(
                        o,
                        "organization {slug} already keeps its data in its own database; nothing to move"
                    )
                }
            })
        }),
        OrgCommand::Delete { slug, confirm } => {
            finish(json, svc.delete_org(ACTOR, slug, confirm), |()| {
                emit(json, &serde_json::json!({"deleted": slug}), |o| {
                    writeln!(
                        o,
                        "organization {slug} deleted with its workspaces and their data"
                    )
                })
            })
        }
        OrgCommand::Update {
            slug,
            name,
            description,
            max_workspaces,
            max_members,
        } => {
            let patch = super::orgs::OrgPatch {
                name: name.clone(),
                description: description.clone(),
                max_workspaces: *max_workspaces,
                max_members: *max_members,
            };
            if patch.name.is_none()
                && patch.description.is_none()
                && patch.max_workspaces.is_none()
                && patch.max_members.is_none()
            {
                return Ok(fail(
                    json,
                    &Error::Invalid(
                        "nothing to change: pass --name, --description, --max-workspaces or --max-members".into(),
                    ),
                ));
            }
            finish(json, svc.update_org(ACTOR, slug, &patch), |g| {
                emit(json, &g, |o| {
                    writeln!(
                        o,
                        "organization {} updated: {}, workspaces {}, members {}",
                        g.slug,
                        g.name,
                        usage(g.workspace_count, g.max_workspaces),
                        usage(g.member_count, g.max_members)
                    )
                })
            })
        }
        OrgCommand::Members { slug } => finish(json, svc.org_members(slug), |list| {
            emit(json, &list, |o| {
                if list.is_empty() {
                    writeln!(o, "no members")?;
                }
                for m in &list {
                    writeln!(
                        o,
                        "{}  {}  {}  (since {})",
                        m.email,
                        m.role.as_str(),
                        m.display_name,
                        m.added_at
                    )?;
                }
                Ok(())
            })
        }),
        OrgCommand::Workspaces { slug } => finish(json, svc.org_workspaces(slug), |list| {
            emit(json, &list, |o| {
                if list.is_empty() {
                    writeln!(o, "no workspaces")?;
                }
                for w in &list {
                    writeln!(
                        o,
                        "{}  {}  {} member(s)  (created {})",
                        w.id, w.name, w.member_count, w.created_at
                    )?;
                }
                Ok(())
            })
        }),
        OrgCommand::AddMember { slug, email, role } => {
            let Some(role) = OrgRole::parse(role) else {
                return Ok(fail(
                    json,
                    &Error::Invalid(format!(
                        "unknown org role {role:?}: use org_admin or member"
                    )),
                ));
            };
            finish(json, svc.set_org_member(ACTOR, slug, email, role), |m| {
                emit(json, &m, |o| {
                    writeln!(o, "{} is {} of {slug}", m.email, m.role.as_str())
                })
            })
        }
        OrgCommand::RemoveMember { slug, email } => {
            let removed = svc.org_members(slug).and_then(|members| {
                let m = members
                    .into_iter()
                    .find(|m| m.email.eq_ignore_ascii_case(email.trim()))
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "{:?} is not a member of organization {slug:?}",
                            email.trim()
                        ))
                    })?;
                svc.remove_org_member(ACTOR, slug, &m.user_id)?;
                Ok(m)
            });
            finish(json, removed, |m| {
                emit(
                    json,
                    &serde_json::json!({"removed": m.email, "user_id": m.user_id, "organization": slug}),
                    |o| writeln!(o, "{} removed from {slug}", m.email),
                )
            })
        }
    }
}
