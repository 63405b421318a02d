//! Embedded, numbered schema migrations.
//!
//! Each migration is a SQL file under `src/store/migrations/NNNN_name.sql`, compiled into the
//! binary. Pending ones are applied in order, each in its own `BEGIN IMMEDIATE` transaction
//! that also bumps `PRAGMA user_version`, so a crash or a failing statement leaves the
//! previous version intact, and two processes opening a fresh data dir at once cannot both
//! apply the same migration. The same set applies to the platform DB and to per-org DBs.
//!
//! Numbers only ever grow: a new migration takes a number above the highest one here, so an
//! existing database never skips one (1 core, 2 accounts, 3 threat models, 4 admin/orgs,
//! 5 assurance, 6 llm, 7 evidence judge, 10 account hardening, 11 evidence hardening,
//! 12 tenancy, 18 Jira/Confluence, mail queue, password reset and signup, 19 compliance,
//! 20 compliance exclusions, 21 OAuth clients, codes and tokens,
//! 22 Jira sources, 23 usage filters, 24 credits (allowances, ledger, notices), 25 covering indexes of models; the gaps are numbers reserved by parallel work that landed in
//! another order).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Error, Result};

/// One migration: its number, a short name, and its SQL.
struct Migration {
    version: u32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("migrations/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "accounts",
        sql: include_str!("migrations/0002_accounts.sql"),
    },
    Migration {
        version: 3,
        name: "models",
        sql: include_str!("migrations/0003_models.sql"),
    },
    Migration {
        version: 4,
        name: "admin",
        sql: include_str!("migrations/0004_admin.sql"),
    },
    Migration {
        version: 5,
        name: "assurance",
        sql: include_str!("migrations/0005_assurance.sql"),
    },
    Migration {
        version: 6,
        name: "llm",
        sql: include_str!("migrations/0006_llm.sql"),
    },
    Migration {
        version: 7,
        name: "evidence_judge",
        sql: include_str!("migrations/0007_evidence_judge.sql"),
    },
    Migration {
        version: 10,
        name: "account_hardening",
        sql: include_str!("migrations/0010_account_hardening.sql"),
    },
    Migration {
        version: 11,
        name: "evidence_hardening",
        sql: include_str!("migrations/0011_evidence_hardening.sql"),
    },
    Migration {
        version: 12,
        name: "tenancy",
        sql: include_str!("migrations/0012_tenancy.sql"),
    },
    Migration {
        version: 18,
        name: "integrations_mail",
        sql: include_str!("migrations/0018_integrations_mail.sql"),
    },
    Migration {
        version: 19,
        name: "compliance",
        sql: include_str!("migrations/0019_compliance.sql"),
    },
    Migration {
        version: 20,
        name: "compliance_exclusions",
        sql: include_str!("migrations/0020_compliance_exclusions.sql"),
    },
    Migration {
        version: 21,
        name: "oauth",
        sql: include_str!("migrations/0021_oauth.sql"),
    },
    Migration {
        version: 22,
        name: "jira_sources",
        sql: include_str!("migrations/0022_jira_sources.sql"),
    },
    Migration {
        version: 23,
        name: "usage_filters",
        sql: include_str!("migrations/0023_usage_filters.sql"),
    },
    Migration {
        version: 24,
        name: "credits",
        sql: include_str!("migrations/0024_credits.sql"),
    },
    Migration {
        version: 25,
        name: "model_indexes",
        sql: include_str!("migrations/0025_model_indexes.sql"),
    },
];

/// Environment variable for fault injection by the reliability suite: hold each migration's
/// transaction open this many milliseconds before committing, so a test can kill the process
/// in the middle of a migration and prove that the next start finishes or rolls it back.
/// Not a setting (no `RAMPART_` prefix); it only ever slows a migration down.
pub const FAULT_PAUSE_ENV: &str = "FAULT_INJECT_MIGRATION_PAUSE_MS";

fn fault_pause() -> Option<std::time::Duration> {
    std::env::var(FAULT_PAUSE_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

/// The schema version this binary writes.
pub fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Applies every pending migration; refuses a database newer than this binary.
pub fn apply(conn: &mut Connection, path: &Path) -> Result<()> {
    debug_assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    let supported = latest();
    let current: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > supported {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found: current,
            supported,
        });
    }
    let pause = fault_pause();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now >= m.version {
            continue;
        }
        let fail = |source| Error::Migration {
            path: path.to_path_buf(),
            version: m.version,
            name: m.name,
            source,
        };
        tx.execute_batch(m.sql).map_err(fail)?;
        tx.pragma_update(None, "user_version", m.version)
            .map_err(fail)?;
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
        tx.commit().map_err(fail)?;
        tracing::info!(db = %path.display(), version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}
