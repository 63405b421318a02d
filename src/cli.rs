//! The command line: argument definitions (clap), dispatch to each command, and the mapping
//! of outcomes to exit codes. Errors are printed once as `rampart: <error>: <cause>…`.
//!
//! Exit codes are interface: 0 success, 1 operational failure, 2 usage or configuration
//! error. (`rampart verify` has its own documented set.)

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{self, ConfigError, FlagOverrides, Loaded};
use crate::instance::Instance;

/// Exit codes of `rampart` (except `verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The command ran and failed; the reason was printed.
    Failed = 1,
    /// Bad arguments or configuration; nothing was done.
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

const ABOUT: &str = "On-prem threat-modeling and security-assurance appliance";

const LONG_ABOUT: &str = "\
rampart builds threat models of the systems you describe, tracks which security controls
are implemented, and proves it with CI-verified, ECDSA-signed evidence.

Run the appliance:      rampart serve            (then open the printed URL)
Administer the box:     rampart admin            (terminal UI; scriptable subcommands too)
Verify in CI:           rampart verify run --all (see `rampart verify --help`)

Configuration comes from defaults < TOML file (--config) < environment < flags;
see config/rampart.example.toml for every key.";

/// Top-level arguments.
#[derive(Debug, Parser)]
#[command(name = "rampart", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Data directory (databases, key files). Default: /var/lib/rampart as root, ./rampart-data otherwise.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Configuration file (TOML). Default: $RAMPART_CONFIG, else /etc/rampart/rampart.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the appliance: web app, REST API, MCP endpoint, health and metrics.
    Serve(ServeArgs),
    /// Administer this instance (terminal UI without a subcommand; scriptable subcommands).
    Admin(AdminArgs),
    /// Verify assertions against a source tree and submit signed results (the CI verifier).
    Verify(crate::verify::VerifyArgs),
    /// Serve MCP to a local AI agent over stdin/stdout.
    Mcp(McpArgs),
    /// Print the version of this binary and of its embedded components.
    Version,
}

/// `rampart serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:8443. Port 0 picks a free port (the real address is printed).
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<String>,

    /// The URL users reach this appliance at (used for links, MCP and WebAuthn origin checks).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Also write JSON logs to daily-rolling files in this directory.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// Validate the configuration, print the effective settings (secrets masked), and exit.
    #[arg(long)]
    pub check_config: bool,
}

/// `rampart admin`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Operation to run; without one, the terminal UI opens (needs an interactive terminal).
    #[command(subcommand)]
    pub command: Option<AdminCommand>,
}

/// Scriptable admin operations.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Show this instance: id, data dir, schema version, database file sizes.
    Status,
    /// Check every database (platform and each organization's): key, schema version,
    /// integrity, foreign keys, whole model versions. One line each; exit 1 if any fails.
    /// Only reads: safe while `rampart serve` runs, creates and migrates nothing.
    Check,
    /// Write a signed backup of the platform database (progress on stderr).
    Backup(crate::admin::cli::BackupArgs),
    /// Restore a signed backup into this instance (replaces all data; verified first).
    Restore(crate::admin::cli::RestoreArgs),
    /// Print this instance's backup signing public key and fingerprint.
    SigningKey(crate::admin::cli::SigningKeyArgs),
    /// Manage trusted signers: instances whose backups this instance accepts.
    #[command(subcommand)]
    Signers(crate::admin::cli::SignersCommand),
    /// Show or install the license.
    #[command(subcommand)]
    License(crate::admin::cli::LicenseCommand),
    /// Show, enable or clear maintenance mode (the circuit breaker).
    #[command(subcommand)]
    Maintenance(crate::admin::cli::MaintenanceCommand),
    /// Organizations: list, create, update limits, members, workspaces, isolate, delete,
    /// crypto-shred.
    #[command(subcommand)]
    Org(crate::admin::cli::OrgCommand),
    /// The LLM response cache: statistics and clearing, for one user or everyone.
    #[command(subcommand)]
    Cache(crate::admin::cli::CacheCommand),
    /// The master key's KMS: status, and rewrap after rotating the Vault Transit key.
    #[command(subcommand)]
    Kms(crate::admin::cli::KmsCommand),
    /// Credits: monthly allowances of users and organization pools, adjustments, balances.
    #[command(subcommand)]
    Credits(crate::credits::cli::CreditsCommand),
    /// First-run setup: create the first superadmin (only while there are no users).
    Setup(SetupArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCommand),
}

/// `rampart admin setup`
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Email of the first superadmin.
    #[arg(long)]
    pub email: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// Read the password from standard input (first line), so it stays out of shell history.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// `rampart admin user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input.
    Create {
        /// Login email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// user, admin or superadmin.
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
    /// Disable an account: it cannot sign in, its sessions end and its API keys stop working.
    Disable {
        /// Email of the account.
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        /// Email of the account.
        email: String,
    },
    /// Remove every second factor of an account (lost phone/key); sessions end too.
    ResetMfa {
        /// Email of the account.
        email: String,
    },
    /// Set a new password (read from standard input); ends the account's sessions.
    SetPassword {
        /// Email of the account.
        email: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// `rampart admin api-key ...`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key for a user and print it once.
    Create {
        /// Email of the key's owner.
        #[arg(long)]
        user: String,
        /// developer (mk_) or verifier (mv_).
        #[arg(long)]
        scope: String,
        /// Workspace id; default: the user's personal workspace.
        #[arg(long)]
        workspace: Option<String>,
        /// Label shown in the key list.
        #[arg(long, default_value = "created by rampart admin")]
        name: String,
    },
}

/// `rampart mcp`
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Speak MCP over stdin/stdout (for Claude Desktop, Cursor and other local clients).
    #[arg(long)]
    pub stdio: bool,
    /// Proxy to a remote appliance (its base URL, e.g. https://rampart.internal) instead of
    /// opening the local data dir; the key in RAMPART_API_KEY is the remote one.
    #[arg(long, value_name = "URL", env = "RAMPART_URL")]
    pub url: Option<String>,
    /// PEM bundle of extra CA certificates to trust for --url (internal CA).
    #[arg(long, value_name = "PEM", env = "RAMPART_CA_BUNDLE", requires = "url")]
    pub ca_bundle: Option<std::path::PathBuf>,
}

/// Parses `std::env::args`; prints help/usage and exits (0 for help, 2 for errors) as clap does.
pub fn parse() -> Cli {
    Cli::parse()
}

/// Replaces the default panic output (with its backtrace hint) by one clear line; a panic is
/// always a bug, and the user should see that, not a stack dump. `RUST_BACKTRACE=1` still works.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            default(info);
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("rampart: internal error: {msg}{at} (this is a bug; please report it)");
    }));
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    // `verify` is a CI client with its own documented exit codes (0/1/2/3).
    let cli = match cli.command {
        Command::Verify(args) => return ExitCode::from(crate::verify::run(args)),
        command => Cli { command, ..cli },
    };
    let result = match &cli.command {
        Command::Serve(args) => run_serve(&cli, args),
        Command::Admin(args) => run_admin(&cli, args),
        Command::Verify(_) => unreachable!("handled above"),
        Command::Mcp(args) => run_mcp(&cli, args),
        Command::Version => run_version(),
    };
    match result {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("rampart: {err:#}");
            if err
                .chain()
                .any(|c| c.downcast_ref::<ConfigError>().is_some())
            {
                Exit::Usage.into()
            } else {
                Exit::Failed.into()
            }
        }
    }
}

fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Loads configuration for a command that opens the data dir.
fn load_config(cli: &Cli, mut flags: FlagOverrides) -> anyhow::Result<Loaded> {
    flags.data_dir = cli.data_dir.clone();
    Ok(config::load(cli.config.as_deref(), &process_env(), &flags)?)
}

/// Files created from here on are private to the service user (0600 files, 0700 dirs),
/// including SQLite's -wal and -shm files.
fn restrict_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

fn run_serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<Exit> {
    let loaded = load_config(
        cli,
        FlagOverrides {
            bind: args.bind.clone(),
            public_url: args.public_url.clone(),
            tls_cert_file: args.tls_cert.clone(),
            tls_key_file: args.tls_key.clone(),
            log_dir: args.log_dir.clone(),
            ..Default::default()
        },
    )?;
    if args.check_config {
        let mut out = std::io::stdout().lock();
        match &loaded.file {
            Some(f) => writeln!(out, "configuration OK (file {})", f.display())?,
            None => writeln!(
                out,
                "configuration OK (no config file; defaults and environment)"
            )?,
        }
        for line in loaded.report() {
            writeln!(out, "  {line}")?;
        }
        return Ok(Exit::Ok);
    }
    let loaded_file = loaded.file.clone();
    let config = loaded.config;
    let _log = crate::logging::init(&config.log.level, config.log.dir.as_deref())?;
    restrict_umask();
    let bind = config.server.bind.clone();
    let instance = Instance::open(config)?;
    // The server's setting is the instance's: `rampart admin` (CLI, TUI) run without the
    // setting in its own environment still creates isolated orgs.
    crate::tenancy::isolate::record_setting(&instance.db, instance.config.storage.org_db_isolation)
        .context("recording ORG_DB_ISOLATION in platform.db")?;
    if instance.config.storage.org_db_isolation {
        // Switching isolation on moves existing org data into the orgs' own databases
        // before anything is served (resumable if interrupted; see tenancy::isolate).
        for r in crate::tenancy::isolate::isolate_all(&instance.tenants)
            .context("moving organization data into per-org databases (ORG_DB_ISOLATION)")?
        {
            if r.moved || r.rows_moved > 0 {
                println!(
                    "org {}: moved {} row(s) of {} workspace(s) into its own encrypted database",
                    r.org_id, r.rows_moved, r.workspaces
                );
                tracing::info!(org = %r.org_id, rows = r.rows_moved, workspaces = r.workspaces, "organization data isolated");
            }
        }
    }
    let listener = TcpListener::bind(&bind).with_context(|| format!("cannot listen on {bind}"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let url = instance.config.public_url(Some(bound));
    let scheme = if instance.config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    println!("listening on {scheme}://{bound}");
    std::io::stdout().flush().ok();
    tracing::info!(address = %bound, url = %url, data_dir = %instance.config.data_dir.display(), "rampart serving");

    let auth = crate::auth::AuthService::new(
        &instance.tenants,
        &instance.config,
        &instance.master_key,
        &url,
    )?;
    print_serve_banner(loaded_file.as_deref(), &instance, &auth, &url);
    std::io::stdout().flush().ok();
    let admin = crate::admin::AdminService::from_instance(&instance)?;
    let credits = crate::credits::CreditService::new(
        instance.db.clone(),
        Some(crate::mail::Outbox::new(
            instance.db.clone(),
            &instance.config,
            &url,
        )),
    );
    // Operations cut short by the last stop never finished: their reserved credits go back.
    match credits.release_stale() {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            released = n,
            "released credits reserved by unfinished operations"
        ),
        Err(e) => tracing::warn!(error = %e, "releasing unfinished credit reservations failed"),
    }
    let builtin =
        crate::engine::BuiltinEngine::new(instance.config.engine.extra_catalog_dir.as_deref())
            .context("loading the threat-model catalog")?;
    // An LLM endpoint in config selects the LLM engine; otherwise the offline built-in one.
    // The LLM also judges assertion coherence and sufficiency (the rules stay the fallback).
    // It also proposes compliance mappings beyond the catalog crosswalks.
    let (engine, llm): (
        std::sync::Arc<dyn crate::engine::Engine>,
        Option<std::sync::Arc<crate::engine::LlmEngine>>,
    ) = if instance.config.llm.endpoint.trim().is_empty() {
        (std::sync::Arc::new(builtin), None)
    } else {
        let llm = std::sync::Arc::new(
            crate::engine::LlmEngine::new(
                instance.config.llm.clone(),
                instance.config.telemetry.clone(),
                instance.db.clone(),
                Some(admin.clone()),
                builtin,
            )
            .context("starting the LLM engine")?
            .with_credits(credits.clone()),
        );
        tracing::info!(endpoint = %instance.config.llm.endpoint, model = %instance.config.llm.model, "using the LLM engine");
        (llm.clone(), Some(llm))
    };
    let mut assurance = crate::assurance::AssuranceService::new(
        instance.db.clone(),
        Some(admin.instance_signing_key()),
    )
    .with_jwks(
        instance.config.assurance.oidc_jwks_file.clone(),
        instance.config.assurance.oidc_fetch,
        instance.config.assurance.oidc_allow_private_networks,
    )
    .with_public_url(&url);
    if let Some(judge) = &llm {
        assurance = assurance.with_judge(judge.clone());
    }
    let workspaces = crate::tenancy::WorkspaceService::new(
        instance.tenants.clone(),
        admin.clone(),
        &instance.config,
        &url,
    );
    let orgs = crate::tenancy::orgs::OrgService::new(admin.clone());
    let integrations = crate::integrations::IntegrationService::new(
        instance.tenants.clone(),
        admin.clone(),
        &instance.master_key,
        &instance.config,
        &url,
    )
    .context("starting the Jira/Confluence client")?;
    let outbox = crate::mail::Outbox::new(instance.db.clone(), &instance.config, &url);
    let worker = crate::worker::Worker::start(crate::worker::Queues {
        mail: outbox.clone(),
        platform: instance.db.clone(),
        integrations: Some(integrations.clone()),
        telemetry_retention_days: instance.config.telemetry.retention_days,
        tenants: Some(instance.tenants.clone()),
    })
    .context("starting the background worker")?;
    let models = crate::models::ModelService::new(instance.tenants.clone());
    let mut compliance = compliance_service(&instance.config, &models)?;
    if let Some(mapper) = llm {
        compliance = compliance.with_mapper(mapper);
    }
    let exports = crate::reports::ExportService::new(assurance.clone(), instance.db.clone(), &url)
        .with_compliance(std::sync::Arc::new(compliance.clone()));
    let state = crate::web::AppState {
        exports,
        compliance,
        integrations,
        outbox,
        assurance,
        workspaces,
        orgs,
        maintenance: std::sync::Arc::new(crate::web::maintenance::Gate::new(admin.clone())),
        admin,
        engine,
        credits,
        config: instance.config.clone(),
        db: instance.db.clone(),
        auth,
        models,
        jobs: crate::jobs::Registry::with_limit(
            crate::jobs::DEFAULT_TTL,
            usize::try_from(instance.config.limits.running_jobs)
                .unwrap_or(crate::jobs::DEFAULT_RUNNING),
        ),
        metrics: crate::web::Metrics::new(),
        bound,
        drain: crate::web::drain::Drain::new(),
    };
    let served = actix_web::rt::System::new().block_on(crate::web::serve(state, listener));
    worker.stop(std::time::Duration::from_secs(25));
    served?;
    tracing::info!("server stopped; closing database");
    if let Err(e) = instance.db.checkpoint() {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    drop(instance);
    tracing::info!("shutdown complete");
    Ok(Exit::Ok)
}

/// The compliance service over the embedded framework catalogs plus
/// `engine.extra_frameworks_dir`; a bad framework file stops the start naming it.
fn compliance_service(
    config: &crate::config::Config,
    models: &crate::models::ModelService,
) -> anyhow::Result<crate::compliance::ComplianceService> {
    let catalog =
        crate::compliance::ComplianceCatalog::load(config.engine.extra_frameworks_dir.as_deref())
            .context("loading the compliance framework catalogs")?;
    let engine = crate::engine::BuiltinEngine::new(config.engine.extra_catalog_dir.as_deref())
        .context("loading the threat-model catalog")?;
    Ok(crate::compliance::ComplianceService::new(
        std::sync::Arc::new(catalog),
        std::sync::Arc::new(engine),
        models.clone(),
    ))
}

/// What someone who just ran `rampart serve` needs next: the URL, how to create the first
/// superadmin while there is none (the web setup wizard, or the CLI), and where the data and
/// the master key are (the key must be backed up separately). Printed to stdout after the
/// `listening on` line, which scripts and tests parse.
fn print_serve_banner(
    config_file: Option<&std::path::Path>,
    instance: &Instance,
    auth: &crate::auth::AuthService,
    url: &str,
) {
    let config = &instance.config;
    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    println!("  web app     {url}/");
    match auth.setup_needed() {
        Ok(true) => {
            let mut admin = String::from("rampart");
            if let Some(f) = config_file {
                let f = std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf());
                admin.push_str(&format!(
                    " --config {}",
                    shell_quote(&f.display().to_string())
                ));
            }
            // The data dir explicitly, so the command works from any directory and terminal.
            admin.push_str(&format!(
                " --data-dir {}",
                shell_quote(&data_dir.display().to_string())
            ));
            println!("  first admin no accounts yet: open {url}/setup (setup wizard), or run");
            println!(
                "              printf '%s\\n' \"$PASSWORD\" | {admin} admin setup --email you@example.com --name \"Your Name\" --password-stdin"
            );
        }
        Ok(false) => println!("  sign in     {url}/login"),
        Err(e) => tracing::warn!(error = %e, "cannot tell whether setup is needed"),
    }
    println!("  data dir    {}", data_dir.display());
    if config.storage.kms_provider == "static" {
        println!(
            "  master key  from ENCRYPTION_KEY (kms_provider = \"static\"; keep it safe, it is not stored here)"
        );
    } else {
        println!(
            "  master key  {} (back it up separately from the data: without it the data cannot be read)",
            data_dir.join(crate::crypto::MASTER_KEY_FILE).display()
        );
    }
    println!("  stop        Ctrl-C or SIGTERM (in-flight requests finish first)");
}

/// Quotes a value for a POSIX shell when it needs it, so printed commands can be pasted.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@,=".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn run_admin(cli: &Cli, args: &AdminArgs) -> anyhow::Result<Exit> {
    let loaded = load_config(cli, FlagOverrides::default())?;
    let _log = crate::logging::init("warn", None)?;
    restrict_umask();
    if let Some(AdminCommand::Check) = &args.command {
        // Before `Instance::open`, which would create a missing key and apply migrations.
        return admin_check(&loaded.config, args.json);
    }
    let instance = Instance::open(loaded.config)?;
    let auth = crate::auth::AuthService::new(
        &instance.tenants,
        &instance.config,
        &instance.master_key,
        &instance.config.public_url(None),
    )?;
    match &args.command {
        None => {
            let admin =
                crate::admin::AdminService::from_instance(&instance)?.for_short_lived_process();
            let outbox = crate::mail::Outbox::new(
                instance.db.clone(),
                &instance.config,
                &instance.config.public_url(None),
            );
            let credits = crate::credits::CreditService::new(instance.db.clone(), Some(outbox));
            let backend = crate::admin::tui_backend::TuiBackend::new(
                admin,
                auth,
                credits,
                instance.config.clone(),
            );
            rampart_tui::run(Box::new(backend)).context("running the admin terminal UI")?;
            Ok(Exit::Ok)
        }
        Some(AdminCommand::Status) => admin_status(&instance, args.json),
        Some(AdminCommand::Check) => admin_check(&instance.config, args.json),
        Some(AdminCommand::Backup(a)) => crate::admin::cli::backup(&instance, a, args.json),
        Some(AdminCommand::Restore(a)) => {
            crate::admin::cli::restore(&instance, &auth, a, args.json)
        }
        Some(AdminCommand::SigningKey(a)) => {
            crate::admin::cli::signing_key(&instance, a, args.json)
        }
        Some(AdminCommand::Signers(c)) => crate::admin::cli::signers(&instance, c, args.json),
        Some(AdminCommand::License(c)) => crate::admin::cli::license(&instance, c, args.json),
        Some(AdminCommand::Maintenance(c)) => {
            crate::admin::cli::maintenance(&instance, c, args.json)
        }
        Some(AdminCommand::Org(c)) => crate::admin::cli::org(&instance, c, args.json),
        Some(AdminCommand::Cache(c)) => crate::admin::cli::cache(&instance, c, args.json),
        Some(AdminCommand::Kms(c)) => crate::admin::cli::kms(&instance, c, args.json),
        Some(AdminCommand::Credits(c)) => crate::credits::cli::run(&instance, c, args.json),
        Some(AdminCommand::Setup(a)) => {
            let password = read_password_stdin()?;
            let user = auth.setup(&a.email, &a.name, &password)?;
            print_user(&user, args.json, "created superadmin")
        }
        Some(AdminCommand::User(cmd)) => admin_user(&auth, cmd, args.json),
        Some(AdminCommand::ApiKey(ApiKeyCommand::Create {
            user,
            scope,
            workspace,
            name,
        })) => {
            let owner = auth.user_by_email(user)?;
            let key = auth.create_api_key_for(&owner.id, name, scope, workspace.as_deref())?;
            if args.json {
                println!("{}", serde_json::to_string(&key)?);
            } else {
                println!("{}", key.key);
                eprintln!(
                    "{} key for {} in workspace {} (shown once; store it now)",
                    key.meta.scope.as_str(),
                    owner.email,
                    key.meta.workspace_id
                );
            }
            Ok(Exit::Ok)
        }
    }
}

fn admin_user(
    auth: &crate::auth::AuthService,
    cmd: &UserCommand,
    json: bool,
) -> anyhow::Result<Exit> {
    match cmd {
        UserCommand::Create {
            email, name, role, ..
        } => {
            let role = crate::auth::Role::parse(role)
                .ok_or_else(|| anyhow::anyhow!("--role must be user, admin or superadmin"))?;
            let password = read_password_stdin()?;
            let new = crate::auth::users::NewUser {
                email: email.clone(),
                display_name: name.clone(),
                password,
                role: None,
            };
            let user = auth.create_user_unchecked(None, &new, role)?;
            print_user(&user, json, "created user")
        }
        UserCommand::List => {
            let users = auth.list_users_unchecked()?;
            if json {
                println!("{}", serde_json::to_string(&users)?);
            } else {
                println!(
                    "{:<36}  {:<32}  {:<10}  {:<8}  MFA",
                    "ID", "EMAIL", "ROLE", "STATE"
                );
                for u in users {
                    let mfa = match (u.totp_enabled, u.webauthn_keys) {
                        (false, 0) => "-".to_string(),
                        (t, k) => format!(
                            "{}{}",
                            if t { "totp " } else { "" },
                            if k > 0 {
                                format!("{k} key(s)")
                            } else {
                                String::new()
                            }
                        ),
                    };
                    println!(
                        "{:<36}  {:<32}  {:<10}  {:<8}  {}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        if u.disabled { "disabled" } else { "active" },
                        mfa.trim()
                    );
                }
            }
            Ok(Exit::Ok)
        }
        UserCommand::Disable { email } | UserCommand::Enable { email } => {
            let disable = matches!(cmd, UserCommand::Disable { .. });
            let target = auth.user_by_email(email)?;
            let user = auth.update_user_as(None, &target.id, None, Some(disable), None)?;
            print_user(&user, json, if disable { "disabled" } else { "enabled" })
        }
        UserCommand::ResetMfa { email } => {
            let target = auth.user_by_email(email)?;
            let user = auth.reset_mfa(None, &target.id)?;
            print_user(&user, json, "MFA reset for")
        }
        UserCommand::SetPassword { email, .. } => {
            let target = auth.user_by_email(email)?;
            let password = read_password_stdin()?;
            auth.set_password_unchecked(&target.id, &password)?;
            print_user(&target, json, "password set for")
        }
    }
}

fn print_user(user: &crate::auth::users::User, json: bool, what: &str) -> anyhow::Result<Exit> {
    if json {
        println!("{}", serde_json::to_string(user)?);
    } else {
        println!(
            "{what} {} ({}, {})",
            user.email,
            user.role.as_str(),
            user.id
        );
    }
    Ok(Exit::Ok)
}

/// Reads one line (the password) from standard input, without the line ending.
fn read_password_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\n', '\r']).to_string();
    if pw.is_empty() {
        anyhow::bail!(
            "no password on standard input (pipe it in: printf '%s\\n' \"$PW\" | rampart admin ...)"
        );
    }
    Ok(pw)
}

/// `rampart admin check`: one line per database, exit 1 when any check failed.
fn admin_check(config: &crate::config::Config, json: bool) -> anyhow::Result<Exit> {
    if !config.data_dir.is_dir() {
        anyhow::bail!(
            "no data directory at {} (nothing to check; is --data-dir right?)",
            config.data_dir.display()
        );
    }
    let master = crate::admin::check::existing_master_key(config);
    let report = crate::admin::check::check_instance(config, master.as_ref().map_err(Clone::clone));
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        for r in &report {
            writeln!(out, "{}", r.line())?;
        }
    }
    Ok(if report.iter().all(|r| r.ok) {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

fn admin_status(instance: &Instance, json: bool) -> anyhow::Result<Exit> {
    let db = &instance.db;
    let id = db.instance_meta("instance_id")?.unwrap_or_default();
    let created = db.instance_meta("created_at")?.unwrap_or_default();
    let version = db.schema_version()?;
    let size = std::fs::metadata(db.path()).map(|m| m.len()).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "instance_id": id,
            "created_at": created,
            "data_dir": instance.config.data_dir,
            "schema_version": version,
            "platform_db_bytes": size,
            "version": env!("CARGO_PKG_VERSION"),
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(out, "instance      {id}")?;
        writeln!(out, "created       {created}")?;
        writeln!(out, "data dir      {}", instance.config.data_dir.display())?;
        writeln!(out, "schema        {version}")?;
        writeln!(out, "platform.db   {size} bytes")?;
    }
    Ok(Exit::Ok)
}

/// `rampart mcp --stdio --url …`: no local data dir is opened; the remote appliance checks
/// the key, and this process only relays messages.
fn run_mcp_proxy(
    url: &str,
    key: String,
    ca_bundle: Option<&std::path::Path>,
) -> anyhow::Result<Exit> {
    let ca = ca_bundle
        .map(|p| std::fs::read(p).with_context(|| format!("reading the CA bundle {}", p.display())))
        .transpose()?;
    let remote = crate::mcp::proxy::Remote::new(url, key, ca)?;
    let _log = crate::logging::init("warn", None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let who = crate::mcp::proxy::check(&remote).await?;
        eprintln!(
            "rampart mcp: relaying stdio to {}/mcp as {} (workspace {})",
            remote.base, who.email, who.workspace
        );
        crate::mcp::proxy::run(remote).await
    })?;
    Ok(Exit::Ok)
}

fn run_mcp(cli: &Cli, args: &McpArgs) -> anyhow::Result<Exit> {
    if !args.stdio {
        anyhow::bail!(
            "choose a transport: `rampart mcp --stdio` (add --url https://<appliance> to reach a remote one; HTTP clients use <public_url>/mcp of `rampart serve`)"
        );
    }
    let key = ["RAMPART_API_KEY", "MIPITI_API_KEY"]
        .iter()
        .find_map(|k| std::env::var(k).ok().map(|v| v.trim().to_string()))
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "rampart mcp --stdio needs an API key in RAMPART_API_KEY (or MIPITI_API_KEY)"
            )
        })?;
    if let Some(url) = &args.url {
        return run_mcp_proxy(url, key, args.ca_bundle.as_deref());
    }
    let loaded = load_config(cli, FlagOverrides::default())?;
    // stdout carries the protocol: logs go to stderr only, and only warnings.
    let _log = crate::logging::init("warn", None)?;
    restrict_umask();
    let instance = Instance::open(loaded.config)?;
    let auth = crate::auth::AuthService::new(
        &instance.tenants,
        &instance.config,
        &instance.master_key,
        &instance.config.public_url(None),
    )?;
    let caller = auth
        .authenticate_api_key(&key)
        .map_err(|e| anyhow::anyhow!("API key rejected: {e}"))?;
    let admin = crate::admin::AdminService::from_instance(&instance)?.for_short_lived_process();
    let engine: std::sync::Arc<dyn crate::engine::Engine> = std::sync::Arc::new(
        crate::engine::BuiltinEngine::new(instance.config.engine.extra_catalog_dir.as_deref())
            .context("loading the threat-model catalog")?,
    );
    let models = crate::models::ModelService::new(instance.tenants.clone());
    let compliance = compliance_service(&instance.config, &models)?;
    let assurance = crate::assurance::AssuranceService::new(
        instance.db.clone(),
        Some(admin.instance_signing_key()),
    )
    .with_jwks(
        instance.config.assurance.oidc_jwks_file.clone(),
        instance.config.assurance.oidc_fetch,
        instance.config.assurance.oidc_allow_private_networks,
    )
    .with_public_url(&instance.config.public_url(None));
    let svc = crate::mcp::Services {
        models,
        exports: crate::reports::ExportService::new(
            assurance.clone(),
            instance.db.clone(),
            &instance.config.public_url(None),
        )
        .with_compliance(std::sync::Arc::new(compliance.clone())),
        compliance,
        assurance,
        jobs: crate::jobs::Registry::with_limit(
            crate::jobs::DEFAULT_TTL,
            usize::try_from(instance.config.limits.running_jobs)
                .unwrap_or(crate::jobs::DEFAULT_RUNNING),
        ),
        engine,
        auth,
        integrations: crate::integrations::IntegrationService::new(
            instance.tenants.clone(),
            admin.clone(),
            &instance.master_key,
            &instance.config,
            &instance.config.public_url(None),
        )
        .context("starting the Jira/Confluence client")?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::mcp::serve_stdio(svc, caller))?;
    if let Err(e) = instance.db.checkpoint() {
        tracing::warn!(error = %e, "final WAL checkpoint failed");
    }
    Ok(Exit::Ok)
}

/// The source commit this binary was built from (12 hex digits, or `unknown` when built
/// from a plain copy without git metadata); set by build.rs.
pub const BUILD_COMMIT: &str = env!("BUILD_GIT_COMMIT");

/// When this binary was built (UTC, `SOURCE_DATE_EPOCH` when set); set by build.rs.
pub const BUILD_DATE: &str = env!("BUILD_DATE");

fn run_version() -> anyhow::Result<Exit> {
    let conn = rusqlite::Connection::open_in_memory()?;
    let sqlite: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    let cipher: String = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .unwrap_or_else(|_| "unknown".into());
    println!("rampart {}", env!("CARGO_PKG_VERSION"));
    println!("commit {BUILD_COMMIT} · built {BUILD_DATE}");
    println!(
        "schema {} · SQLite {sqlite} · SQLCipher {cipher}",
        crate::store::migrations::latest()
    );
    Ok(Exit::Ok)
}
