//! `rampart admin credits set|adjust|show`: credits from the appliance's shell, on the data
//! dir like the other admin subcommands (recorded with the operator as actor).

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use super::{CreditService, Error, Subject};
use crate::cli::Exit;
use crate::instance::Instance;

/// `rampart admin credits`
#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Set the monthly allowance of a user (`--user EMAIL`) or an organization's pool
    /// (`--org SLUG`); `--monthly none` removes it (not metered).
    Set {
        /// The user's email (or id).
        #[arg(
            long,
            value_name = "EMAIL",
            conflicts_with = "org",
            required_unless_present = "org"
        )]
        user: Option<String>,
        /// The organization's slug (or id).
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
        /// Credits per month (a whole number), or `none`.
        #[arg(long, value_name = "N")]
        monthly: String,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Add (positive) or deduct (negative, reason required) credits for this month.
    Adjust {
        /// The user's email (or id).
        #[arg(
            long,
            value_name = "EMAIL",
            conflicts_with = "org",
            required_unless_present = "org"
        )]
        user: Option<String>,
        /// The organization's slug (or id).
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
        /// Credits: positive to add, negative to deduct.
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        amount: String,
        /// Why (required for deductions).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Show the balance of a user or an organization's pool this month.
    Show {
        /// The user's email (or id).
        #[arg(
            long,
            value_name = "EMAIL",
            conflicts_with = "org",
            required_unless_present = "org"
        )]
        user: Option<String>,
        /// The organization's slug (or id).
        #[arg(long, value_name = "SLUG")]
        org: Option<String>,
    },
}

fn fail(json: bool, code: &str, message: &str, exit: Exit) -> Exit {
    eprintln!("rampart: {message}");
    if json {
        println!("{}", json!({"error": {"code": code, "message": message}}));
    }
    exit
}

fn report(json: bool, e: &Error) -> Exit {
    match e {
        Error::NotFound(_) => fail(json, "not_found", &e.to_string(), Exit::Failed),
        Error::Invalid { .. } => fail(json, "invalid_field", &e.to_string(), Exit::Usage),
        Error::Forbidden(_) => fail(json, "forbidden", &e.to_string(), Exit::Failed),
        Error::Store(_) => fail(json, "storage", &e.to_string(), Exit::Failed),
    }
}

fn whole(field: &str, text: &str) -> Result<i64, Error> {
    text.trim().parse::<i64>().map_err(|_| Error::Invalid {
        field: field.into(),
        message: format!("expected a whole number of credits, got {text:?}"),
    })
}

fn subject(
    svc: &CreditService,
    user: Option<&String>,
    org: Option<&String>,
) -> Result<Subject, Error> {
    match (user, org) {
        (Some(u), _) => svc.find_user(u),
        (None, Some(o)) => svc.find_org(o),
        (None, None) => Err(Error::Invalid {
            field: "user".into(),
            message: "give --user EMAIL or --org SLUG".into(),
        }),
    }
}

fn line(s: &Subject, b: &super::Balance) -> String {
    match (b.monthly_allowance, b.balance) {
        (Some(a), Some(left)) => format!(
            "{}: {left} of {a} credits left this month ({} used, {:+} adjusted); resets {}",
            s.label, b.used, b.adjustments, b.resets_at
        ),
        _ => format!(
            "{}: no allowance set (not metered); {} used this month",
            s.label, b.used
        ),
    }
}

/// Runs one `rampart admin credits` command.
pub fn run(instance: &Instance, cmd: &CreditsCommand, json: bool) -> anyhow::Result<Exit> {
    let outbox = crate::mail::Outbox::new(
        instance.db.clone(),
        &instance.config,
        &instance.config.public_url(None),
    );
    let svc = CreditService::new(instance.db.clone(), Some(outbox));
    let actor = crate::admin::cli::operator("cli");
    let balance = |s: &Subject| match s.kind {
        super::SubjectKind::User => svc.user_balance(&s.id),
        super::SubjectKind::Org => svc.org_balance(&s.id),
    };
    let out = match cmd {
        CreditsCommand::Set {
            user,
            org,
            monthly,
            reason,
        } => (|| {
            let allowance = if monthly.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                Some(whole("monthly_allowance", monthly)?)
            };
            let s = subject(&svc, user.as_ref(), org.as_ref())?;
            let b = svc.set_allowance(&actor, &s, allowance, reason)?;
            Ok((json!({"subject": s, "credits": b}), line(&s, &b)))
        })(),
        CreditsCommand::Adjust {
            user,
            org,
            amount,
            reason,
        } => (|| {
            let amount = whole("amount", amount)?;
            let s = subject(&svc, user.as_ref(), org.as_ref())?;
            let done = svc.adjust(&actor, &s, amount, reason)?;
            let text = format!("{}\n{}", done.summary, line(&s, &done.balance));
            Ok((serde_json::to_value(&done).unwrap_or_default(), text))
        })(),
        CreditsCommand::Show { user, org } => (|| {
            let s = subject(&svc, user.as_ref(), org.as_ref())?;
            let b = balance(&s)?;
            Ok((json!({"subject": s, "credits": b}), line(&s, &b)))
        })(),
    };
    Ok(match out {
        Ok((value, text)) => {
            let mut o = std::io::stdout().lock();
            let _ = if json {
                writeln!(o, "{value}")
            } else {
                writeln!(o, "{text}")
            };
            Exit::Ok
        }
        Err(e) => report(json, &e),
    })
}
