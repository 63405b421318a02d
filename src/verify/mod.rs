//! CI-side verifier used by `rampart verify`: the 21 tier-1 checks, optional tier-2 via an
//! LLM provider, workspace ECDSA signing, and the appliance client speaking the protocol
//! of contracts/mipiti-verify-wire.md.
//!
//! This module owns the `rampart verify …` command line ([`VerifyArgs`], [`run`]) and
//! everything below it. It never touches the server's store; it talks to an appliance
//! only over HTTP, and only in `run`, `list` and `report`.
//!
//! Exit codes ([`Exit`]): 0 success; 1 assertion failures (per `--fail-on`), model errors
//! or bad keys; 2 usage errors; 3 server or network errors (HTTP ≥ 400, unreachable host,
//! bad response). The published CLI exits 1 for the last group; rampart separates them so
//! CI can tell "the code is wrong" from "the appliance is unreachable". Unlike the
//! published CLI, `--output github` does not exit 1 merely because tier 2 was skipped.
//!
//! # Air-gapped CI setup (ECDSA, any CI system)
//!
//! ```text
//! openssl ecparam -genkey -name prime256v1 -noout -out private.pem   # keep secret
//! openssl ec -in private.pem -pubout -out public.pem                  # upload to the workspace
//! ```
//! Store `private.pem` as a CI secret, a verifier key `mv_…` as another, then:
//!
//! GitHub Actions:
//! ```text
//! - run: rampart verify run --all --base-url https://rampart.internal --output sarif > verify.sarif
//!   env: { RAMPART_API_KEY: ${{ secrets.RAMPART_API_KEY }}, RAMPART_SIGNING_KEY: ${{ secrets.RAMPART_SIGNING_KEY }} }
//! - uses: github/codeql-action/upload-sarif@v3
//!   with: { sarif_file: verify.sarif }
//! ```
//! GitLab CI:
//! ```text
//! verify-controls:
//!   script: rampart verify run --all --base-url https://rampart.internal --output json
//!   # RAMPART_API_KEY and RAMPART_SIGNING_KEY as masked, protected CI/CD variables
//! ```
//! Jenkins:
//! ```text
//! withCredentials([string(credentialsId: 'rampart-key', variable: 'RAMPART_API_KEY'),
//!                  file(credentialsId: 'rampart-signing', variable: 'KEYFILE')]) {
//!   sh 'rampart verify run "$MODEL_ID" --base-url https://rampart.internal --repo team/app --signing-key "$KEYFILE"'
//! }
//! ```
//! `RAMPART_SIGNING_KEY` may hold a path or the PEM text itself. Each results POST then
//! carries `signature` (base64 DER ECDSA-P256-SHA256 over the 32 bytes of the
//! `content_hash` digest) and `signed_hash`, which the appliance checks against the
//! uploaded public key. On-prem git hosts need `--repo owner/name`.
//!
//! # Extensions over the published CLI
//! - `test_passes` runs the project's test runner (see [`testrun`]) instead of skipping.
//! - `pattern_matches`, `pattern_absent` and `no_plaintext_secret` accept a glob in `file`
//!   (`**/*.py`) and search every matching, non-ignored file in parallel.
//! - `-p key=value` reads values starting with `[`, `{` or `"` as JSON.
//! - Tier-1 rows carry `reviewer: "rampart-verify:<type>"`.

pub mod checks;
pub mod client;
pub mod comments;
pub mod config;
pub mod extent;
pub mod lang;
pub mod output;
pub mod testrun;
pub mod tier2;
pub mod workspace;

pub use checks::{TYPES, Verdict, run_check};
pub use output::OutputFormat;
pub use workspace::Workspace;

use clap::{Args, Subcommand, ValueEnum};
use client::ModelOutcome;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Exit codes of `rampart verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything passed (or `--fail-on none`).
    Ok = 0,
    /// Failures, model errors, bad signing key.
    Failed = 1,
    /// Usage error.
    Usage = 2,
    /// Server or network error.
    Server = 3,
}

/// When `run` exits 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any failed assertion (tier 1 or 2) or insufficient control (default).
    Fail,
    /// Only drift: the report lists previously passing assertions that now fail.
    Drift,
    /// Never for verdicts (errors still exit non-zero).
    None,
}

/// Tier-2 providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tier2ProviderName {
    /// OpenAI-compatible API: OPENAI_API_KEY, optional OPENAI_BASE_URL.
    Openai,
    /// Anthropic API: ANTHROPIC_API_KEY, optional ANTHROPIC_BASE_URL.
    Anthropic,
    /// Local Ollama: OLLAMA_HOST (default http://localhost:11434).
    Ollama,
}

const LONG_ABOUT: &str = "\
Verify a threat model's security assertions against this source tree, in CI.

`run` pulls the assertions of a model from the appliance, checks each one locally with
the 21 tier-1 verifiers (no source code leaves the machine), optionally asks an LLM for
tier 2, signs the results with the workspace ECDSA key and submits them. `verify` and
`check` run checks locally with no server and no key.

Keys: a verifier key (mv_...) submits results; a developer key (mk_...) runs everything
but never submits. --dry-run never submits either.

Air-gapped signing (Option B, ECDSA P-256):
  openssl ecparam -genkey -name prime256v1 -noout -out private.pem
  openssl ec -in private.pem -pubout -out public.pem   # upload public.pem to the workspace
  rampart verify run MODEL_ID --base-url https://rampart.internal --repo team/app \\
      --signing-key private.pem        # or RAMPART_SIGNING_KEY=<path or PEM text>

Repository scope: taken from --repo, GITHUB_REPOSITORY, CI_PROJECT_PATH or a GitHub/GitLab
origin remote; on-prem git hosts need --repo owner/name.

Internal CA: --ca-bundle ca.pem (or RAMPART_CA_BUNDLE) adds trusted CA certificates.
Tier 2 is optional: without --tier2-provider only tier 1 runs and tier-2 rows are reported
as skipped (No --tier2-provider specified); source excerpts go only to that provider.

Exit codes: 0 ok; 1 failed assertions (see --fail-on), model errors or a bad signing key;
2 usage error (bad flags, missing model id, API key or signing key file); 3 appliance or
network error (HTTP status >= 400, unreachable, invalid response).";

/// `rampart verify …` arguments; the lead mounts this as a subcommand.
#[derive(Debug, Args)]
#[command(about = "CI verifier: check security assertions against this source tree and submit signed results", long_about = LONG_ABOUT)]
pub struct VerifyArgs {
    /// Appliance base URL (a path prefix is kept; one trailing '/' is stripped).
    #[arg(long, global = true, env = "RAMPART_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// API key: mv_... submits, mk_... (developer) never submits. Also read from MIPITI_API_KEY.
    #[arg(
        long,
        global = true,
        env = "RAMPART_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// PEM bundle of extra CA certificates to trust for the appliance (internal CA).
    /// Also MIPITI_CA_BUNDLE.
    #[arg(long, global = true, env = "RAMPART_CA_BUNDLE", value_name = "PEM")]
    pub ca_bundle: Option<PathBuf>,
    /// Root of the source tree the assertion paths are relative to.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project_root: PathBuf,
    /// Repository scope owner/name (required on on-prem git hosts).
    #[arg(long, global = true, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Run every check but submit nothing, even with a verifier key.
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Tier-2 LLM provider; without it tier 2 is reported as skipped (tier 1 only).
    #[arg(long, global = true, value_enum)]
    pub tier2_provider: Option<Tier2ProviderName>,
    /// Model name for the tier-2 provider (defaults: gpt-4o-mini, claude-3-5-haiku-latest, llama3.1).
    #[arg(long, global = true, value_name = "MODEL")]
    pub tier2_model: Option<String>,
    /// Workspace ECDSA P-256 private key (PEM path). Also RAMPART_SIGNING_KEY or
    /// MIPITI_WORKSPACE_SIGNING_KEY (a path, or the PEM text itself).
    #[arg(long, global = true, value_name = "PEM")]
    pub signing_key: Option<PathBuf>,
    /// File listing changed paths (one per line, e.g. `git diff --name-only`): `run` then
    /// checks only assertions whose `params.file` is listed (and those without a file).
    #[arg(long, global = true, value_name = "FILE")]
    pub changed_files: Option<PathBuf>,
    /// Verify one component of the model: the project root moves to the component's path
    /// and only its controls are checked.
    #[arg(long, global = true, value_name = "COMPONENT_ID")]
    pub component: Option<String>,
    /// Customer DSSE signing key (unencrypted P-256 PEM path or PEM text); preferred over
    /// --signing-key. Also RAMPART_CUSTOMER_SIGNING_KEY or MIPITI_CUSTOMER_SIGNING_KEY.
    #[arg(long, global = true, value_name = "PEM")]
    pub customer_key: Option<PathBuf>,
    /// What makes `run` exit 1.
    #[arg(long, global = true, value_enum, default_value_t = FailOn::Fail)]
    pub fail_on: FailOn,
    /// Environment variable that `test_passes` commands may see besides the built-in
    /// allow-list (PATH, HOME, toolchain variables); repeatable. Test commands run with an
    /// otherwise empty environment; RAMPART_* and MIPITI_* are never passed.
    #[arg(long = "test-env", global = true, value_name = "NAME")]
    pub test_env: Vec<String>,
    /// Subcommand.
    #[command(subcommand)]
    pub command: VerifyCommand,
}

/// Subcommands of `rampart verify`.
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Verify one model (or every model with --all) and submit the results.
    Run {
        /// Model id.
        model_id: Option<String>,
        /// Verify every model of the key's workspace.
        #[arg(long, conflicts_with = "model_id")]
        all: bool,
    },
    /// Show pending tier-1 and tier-2 assertions of a model.
    List {
        /// Model id.
        model_id: String,
    },
    /// Show the verification report of a model.
    Report {
        /// Model id.
        model_id: String,
    },
    /// Check one assertion locally (no server, no key).
    Verify {
        /// Assertion type, e.g. function_exists.
        #[arg(value_name = "TYPE")]
        kind: String,
        /// Param as key=value (repeatable). Values starting with [ { or " are JSON, e.g. -p 'patterns=["AKIA[0-9A-Z]{16}"]'; all others are strings.
        #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
        params: Vec<String>,
    },
    /// Check a local JSON array of assertions {id?, type, params, description}.
    Check {
        /// JSON file.
        file: PathBuf,
    },
}

/// Runs one assertion locally against `root` (used by `verify` and `check`).
pub fn run_local(root: &Path, kind: &str, params: &Value) -> Verdict {
    match Workspace::new(root) {
        Ok(ws) => run_check(&ws, kind, params),
        Err(e) => Verdict::fail(format!("Verifier error: project root: {e}")),
    }
}

/// Opens the project root as the verifier's workspace, with the `--test-env` names checked.
fn open_workspace(args: &VerifyArgs) -> Result<Workspace, u8> {
    for name in &args.test_env {
        testrun::check_env_name(name).map_err(|e| err(Exit::Usage, e))?;
    }
    Workspace::new(&args.project_root)
        .map(|ws| ws.with_test_env(args.test_env.clone()))
        .map_err(|e| err(Exit::Usage, format!("project root: {e}")))
}

/// Parses `-p key=value` pairs. A value starting with `[`, `{` or `"` is read as JSON (so
/// list params such as `patterns` can be given); every other value stays a string, as in
/// the published CLI (a hex hash such as `12e4…` must not turn into a number).
pub fn parse_params(pairs: &[String]) -> Result<Value, String> {
    let mut m = serde_json::Map::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("bad -p '{pair}': expected key=value"));
        };
        if k.trim().is_empty() {
            return Err(format!("bad -p '{pair}': empty key"));
        }
        let value = if v.trim_start().starts_with(['[', '{', '"']) {
            serde_json::from_str::<Value>(v)
                .map_err(|e| format!("bad -p '{k}': value looks like JSON but is not: {e}"))?
        } else {
            Value::String(v.to_string())
        };
        m.insert(k.trim().to_string(), value);
    }
    Ok(Value::Object(m))
}

fn env_any(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

fn err(code: Exit, msg: impl std::fmt::Display) -> u8 {
    eprintln!("rampart verify: {msg}");
    code as u8
}

/// Entry point of `rampart verify`; prints its own output and errors, returns the exit code.
pub fn run(args: VerifyArgs) -> u8 {
    match &args.command {
        VerifyCommand::Verify { kind, params } => {
            let params = match parse_params(params) {
                Ok(p) => p,
                Err(e) => return err(Exit::Usage, e),
            };
            let v = match open_workspace(&args) {
                Ok(ws) => run_check(&ws, kind, &params),
                Err(code) => return code,
            };
            if args.output == OutputFormat::Json {
                print_json(
                    &serde_json::json!({"passed": v.passed, "skipped": v.skipped, "type": kind, "params": params, "details": v.details}),
                );
            } else {
                println!("{} {kind}: {}", v.result().to_uppercase(), v.details);
            }
            if v.passed {
                Exit::Ok as u8
            } else {
                Exit::Failed as u8
            }
        }
        VerifyCommand::Check { file } => check_file(&args, file),
        // reqwest's blocking client panics when used on a tokio runtime thread, so the
        // network commands run on a plain thread whatever the caller's context is.
        VerifyCommand::Run { .. } | VerifyCommand::List { .. } | VerifyCommand::Report { .. } => {
            std::thread::spawn(move || match &args.command {
                VerifyCommand::Run { model_id, all } => {
                    run_remote(&args, model_id.as_deref(), *all)
                }
                VerifyCommand::List { model_id } => list(&args, model_id),
                VerifyCommand::Report { model_id } => report(&args, model_id),
                _ => Exit::Usage as u8,
            })
            .join()
            .unwrap_or_else(|_| err(Exit::Failed, "internal error: verifier thread panicked"))
        }
    }
}

fn check_file(args: &VerifyArgs, file: &Path) -> u8 {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return err(Exit::Usage, format!("cannot read {}: {e}", file.display())),
    };
    let list: Vec<Value> = match serde_json::from_str(&text) {
        Ok(Value::Array(a)) => a,
        Ok(_) => {
            return err(
                Exit::Usage,
                format!("{}: expected a JSON array of assertions", file.display()),
            );
        }
        Err(e) => {
            return err(
                Exit::Usage,
                format!("{}: invalid JSON: {e}", file.display()),
            );
        }
    };
    let ws = match open_workspace(args) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let items: Vec<(String, Value)> = list
        .iter()
        .map(|a| {
            (
                a.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                a.get("params").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let verdicts = client::check_all(&ws, &items);
    let mut failed = 0;
    let mut rows = Vec::new();
    for (i, (a, v)) in list.iter().zip(&verdicts).enumerate() {
        let id = a
            .get("id")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("#{}", i + 1));
        if !v.passed {
            failed += 1;
        }
        rows.push(serde_json::json!({"id": id, "type": items[i].0, "passed": v.passed, "skipped": v.skipped, "details": v.details}));
        if args.output != OutputFormat::Json {
            println!(
                "{} {id} [{}]: {}",
                v.result().to_uppercase(),
                items[i].0,
                v.details
            );
        }
    }
    if args.output == OutputFormat::Json {
        print_json(&Value::Array(rows));
    } else {
        println!(
            "{} checked, {} passed, {failed} not passed",
            list.len(),
            list.len() - failed
        );
    }
    if failed > 0 {
        Exit::Failed as u8
    } else {
        Exit::Ok as u8
    }
}

fn connect(args: &VerifyArgs) -> Result<client::Client, u8> {
    let base = args
        .base_url
        .clone()
        .or_else(|| env_any(&["MIPITI_BASE_URL"]))
        .ok_or_else(|| {
            err(
                Exit::Usage,
                "no appliance URL: pass --base-url or set RAMPART_URL",
            )
        })?;
    let key = args
        .api_key
        .clone()
        .filter(|k| !k.trim().is_empty())
        .or_else(|| env_any(&["MIPITI_API_KEY"]))
        .ok_or_else(|| {
            err(
                Exit::Usage,
                "no API key: pass --api-key or set RAMPART_API_KEY (mv_... to submit)",
            )
        })?;
    let ca_path = args
        .ca_bundle
        .clone()
        .or_else(|| env_any(&["MIPITI_CA_BUNDLE"]).map(PathBuf::from));
    let ca = match ca_path {
        Some(p) => Some(
            std::fs::read(&p)
                .map_err(|e| err(Exit::Usage, format!("CA bundle {}: {e}", p.display())))?,
        ),
        None => None,
    };
    client::Client::with_ca(&base, &key, ca.as_deref()).map_err(|e| err(Exit::Usage, e))
}

fn load_key(
    flag: Option<&PathBuf>,
    envs: &[&str],
    what: &str,
) -> Result<Option<p256::ecdsa::SigningKey>, u8> {
    let source = match flag {
        Some(p) => Some(p.to_string_lossy().into_owned()),
        None => env_any(envs),
    };
    let Some(source) = source else {
        return Ok(None);
    };
    let pem = if source.trim_start().starts_with("-----BEGIN") {
        source
    } else {
        std::fs::read_to_string(&source)
            .map_err(|e| err(Exit::Usage, format!("{what} {source}: {e}")))?
    };
    crate::wire::load_signing_key_pem(&pem)
        .map(Some)
        .map_err(|e| err(Exit::Failed, format!("{what}: {e}")))
}

fn load_signing_key(args: &VerifyArgs) -> Result<Option<p256::ecdsa::SigningKey>, u8> {
    load_key(
        args.signing_key.as_ref(),
        &["RAMPART_SIGNING_KEY", "MIPITI_WORKSPACE_SIGNING_KEY"],
        "signing key",
    )
}

fn run_remote(args: &VerifyArgs, model_id: Option<&str>, all: bool) -> u8 {
    if model_id.is_none() && !all {
        return err(Exit::Usage, "give a MODEL_ID or --all");
    }
    let client = match connect(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let signing_key = match load_signing_key(args) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let customer_key = match load_key(
        args.customer_key.as_ref(),
        &[
            "RAMPART_CUSTOMER_SIGNING_KEY",
            "MIPITI_CUSTOMER_SIGNING_KEY",
        ],
        "customer key",
    ) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let provider = match args.tier2_provider {
        None => None,
        Some(p) => {
            let name = match p {
                Tier2ProviderName::Openai => "openai",
                Tier2ProviderName::Anthropic => "anthropic",
                Tier2ProviderName::Ollama => "ollama",
            };
            match tier2::Provider::from_env(name, args.tier2_model.as_deref()) {
                Ok(p) => Some(p),
                Err(e) => return err(Exit::Usage, e),
            }
        }
    };
    let ws = match open_workspace(args) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let changed_files = match &args.changed_files {
        None => None,
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(
                t.lines()
                    .map(|l| l.trim().trim_start_matches("./").to_string())
                    .filter(|l| !l.is_empty())
                    .collect(),
            ),
            Err(e) => return err(Exit::Usage, format!("--changed-files {}: {e}", p.display())),
        },
    };
    let settings = client::RunSettings {
        ws: &ws,
        repo: client::detect_repo(args.repo.as_deref(), ws.root()),
        dry_run: args.dry_run,
        provider,
        signing_key,
        customer_key,
        verbose: args.output == OutputFormat::Text,
        changed_files,
        component: args.component.clone(),
    };
    let outs = if all {
        match client::run_all(&client, &settings) {
            Ok(o) => o,
            Err(e) => return err(Exit::Server, e),
        }
    } else {
        vec![client::run_model(
            &client,
            model_id.unwrap_or_default(),
            None,
            &settings,
        )]
    };
    match args.output {
        OutputFormat::Text => print!("{}", output::text(&outs)),
        OutputFormat::Json => {
            let list: Vec<Value> = outs.iter().map(output::model_json).collect();
            if all {
                print_json(&Value::Array(list))
            } else {
                print_json(&list[0])
            }
        }
        OutputFormat::Github => {
            print!("{}", output::github(&outs));
            if let Err(e) = output::write_github_output(&outs) {
                eprintln!("rampart verify: cannot append to $GITHUB_OUTPUT: {e}");
            }
        }
        OutputFormat::Sarif => print_json(&output::sarif(&outs)),
    }
    exit_code(&outs, args.fail_on)
}

/// Exit code of a `run` from its outcomes and `--fail-on`.
pub fn exit_code(outs: &[ModelOutcome], fail_on: FailOn) -> u8 {
    if outs.iter().any(|o| o.network_error) {
        return Exit::Server as u8;
    }
    if outs.iter().any(|o| o.error.is_some()) {
        return Exit::Failed as u8;
    }
    let failed = |o: &ModelOutcome| {
        o.tier1
            .iter()
            .chain(o.tier2.iter())
            .any(|r| r.row.result == "fail")
            || o.sufficiency.iter().any(|(_, s, _)| s == "insufficient")
    };
    let bad = match fail_on {
        FailOn::Fail => outs.iter().any(failed),
        FailOn::Drift => outs.iter().any(|o| o.drift > 0),
        FailOn::None => false,
    };
    if bad {
        Exit::Failed as u8
    } else {
        Exit::Ok as u8
    }
}

fn list(args: &VerifyArgs, model_id: &str) -> u8 {
    let client = match connect(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    for tier in [1u8, 2] {
        match client.pending(model_id, tier) {
            Ok(resp) => {
                let total: usize = resp
                    .controls
                    .values()
                    .chain(resp.assumptions.values())
                    .map(Vec::len)
                    .sum();
                println!("Tier {tier}: {total} pending assertion(s)");
                for (cid, list) in resp.controls.iter().chain(resp.assumptions.iter()) {
                    println!("  {cid}: {}", list.len());
                }
            }
            Err(e) => return err(Exit::Server, e),
        }
    }
    Exit::Ok as u8
}

fn report(args: &VerifyArgs, model_id: &str) -> u8 {
    let client = match connect(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match client.report(model_id) {
        Ok(r) => {
            let mut v = serde_json::to_value(&r).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.remove("control_details");
            }
            if args.output == OutputFormat::Json {
                print_json(&v);
            } else if let Value::Object(m) = v {
                for (k, val) in m {
                    println!("{k}: {val}");
                }
            }
            Exit::Ok as u8
        }
        Err(e) => err(Exit::Server, e),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod client_tests;

#[cfg(test)]
mod judgement_tests;
