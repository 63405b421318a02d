//! Credits: admin-set monthly allowances and the balance LLM operations consume.
//!
//! On-prem nothing is bought (spec README): superadmins set a monthly allowance per user and
//! per organization (its pool), org pools can be split per member, and admins adjust a
//! balance up or down with a reason. The rules, also in `docs/decisions.md`:
//!
//! * **Cost rule.** Each user operation that reaches the LLM costs a fixed, documented number
//!   of credits for its type ([`Operation::cost`]), charged once when it succeeds if at least
//!   one of its calls was not answered from the cache. Cached answers, the built-in offline
//!   engine and failed operations cost nothing.
//! * **Who pays.** An operation in a workspace of an organization with a pool is paid by the
//!   pool (and, if the org's admins gave the member a share, by at most that share); otherwise
//!   by the user's own allowance. A user (or org) with no allowance set is not metered: their
//!   consumption is recorded but never refused.
//! * **Month.** Balances are computed per calendar month in UTC ([`period_of`]): allowance +
//!   this month's adjustments − this month's consumption. A new month starts with no rows, so
//!   the reset on the 1st needs no job, and nothing carries over ([`resets_at`]).
//! * **Refusal.** An operation whose cost exceeds the balance is refused before any work
//!   ([`Exhausted`], HTTP 402 `credits_exhausted`, with the balance and the reset date) —
//!   except queries of existing models, which still work at zero (recorded, not charged).
//!   The cost is reserved atomically with the check ([`metered`]), so concurrent operations
//!   never spend more than the balance.
//! * **Notices.** Once per month each, an email at 80% and at 100% of the month's credits
//!   used, to the user (or to the org admins for a pool), when SMTP is configured.

pub mod cli;

use std::cell::RefCell;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use crate::auth::now_str;
use crate::mail::{Content, Outbox};
use crate::store::{self, Db};

/// The operation types that consume credits when they use the LLM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// A new threat model (the six-step pipeline and its title).
    Generation,
    /// A refinement of a model (targeted or full).
    Refinement,
    /// A question about a model, or a methodology question.
    Query,
    /// Regenerating a model's controls.
    Controls,
    /// Gap analysis: computed by rules, never by the LLM, so it is free.
    GapAnalysis,
    /// LLM-proposed compliance mappings beyond the catalog crosswalks.
    ComplianceMapping,
}

impl Operation {
    /// Every operation type, in the documented order.
    pub const ALL: [Operation; 6] = [
        Operation::Generation,
        Operation::Refinement,
        Operation::Query,
        Operation::Controls,
        Operation::GapAnalysis,
        Operation::ComplianceMapping,
    ];

    /// Credits charged for one operation of this type that uses the LLM.
    pub fn cost(self) -> i64 {
        match self {
            Operation::Generation => 10,
            Operation::Refinement => 3,
            Operation::Query => 1,
            Operation::Controls => 3,
            Operation::GapAnalysis => 0,
            Operation::ComplianceMapping => 2,
        }
    }

    /// The stored and displayed name (`generation`, `compliance_mapping`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Generation => "generation",
            Operation::Refinement => "refinement",
            Operation::Query => "query",
            Operation::Controls => "controls",
            Operation::GapAnalysis => "gap_analysis",
            Operation::ComplianceMapping => "compliance_mapping",
        }
    }
}

/// The month a time counts in: `YYYY-MM` (UTC).
pub fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// When the month of `t` ends and allowances start afresh: the 1st of the next month,
/// 00:00 UTC.
pub fn resets_at(t: DateTime<Utc>) -> DateTime<Utc> {
    let (y, m) = if t.month() == 12 {
        (t.year() + 1, 1)
    } else {
        (t.year(), t.month() + 1)
    };
    Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(t)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Largest monthly allowance accepted.
pub const MAX_ALLOWANCE: i64 = 100_000_000;
/// Largest adjustment (either sign) accepted.
pub const MAX_ADJUSTMENT: i64 = 100_000_000;
/// Longest reason.
pub const MAX_REASON_CHARS: usize = 500;

/// An operation refused because the balance cannot pay for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exhausted {
    /// The operation refused.
    pub operation: &'static str,
    /// What it costs.
    pub cost: i64,
    /// The balance left this month.
    pub balance: i64,
    /// When the monthly allowance starts afresh (RFC 3339).
    pub resets_at: String,
    /// Whose credits: `your credits`, `the credit pool of Acme`, `your share of...`.
    pub account: String,
}

impl std::fmt::Display for Exhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not enough credits for {} ({} credits): {} has {} left this month; the monthly allowance resets at {}. Ask an administrator to adjust it; cached answers and the built-in engine stay free",
            self.operation.replace('_', " "),
            self.cost,
            self.account,
            self.balance,
            self.resets_at
        )
    }
}

/// Errors of the credit administration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown user or organization.
    #[error("{0} not found")]
    NotFound(String),
    /// Bad input; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Whose credits an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A user's own allowance.
    User,
    /// An organization's pool.
    Org,
}

impl SubjectKind {
    fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::Org => "org",
        }
    }
}

/// A user or an organization, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// User or org.
    pub kind: SubjectKind,
    /// Its id.
    pub id: String,
    /// Email (user) or name (org), as shown in summaries.
    pub label: String,
}

/// The state of an account this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Credits left this month; `null` when no allowance is set (not metered).
    pub balance: Option<i64>,
    /// The monthly allowance; `null` when none is set.
    pub monthly_allowance: Option<i64>,
    /// Credits consumed this month.
    pub used: i64,
    /// Sum of this month's admin adjustments.
    pub adjustments: i64,
    /// When the month ends and the allowance starts afresh (RFC 3339).
    pub resets_at: String,
    /// The month (`YYYY-MM`, UTC).
    pub period: String,
    /// Whether operations are refused when the balance runs out.
    pub metered: bool,
    /// Who pays: `user` or `org`.
    pub account: SubjectKind,
    /// The paying account's id.
    pub account_id: String,
    /// The paying account's email or org name.
    pub account_label: String,
    /// The member's share of the org pool, when the org's admins set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_share: Option<i64>,
}

impl Balance {
    /// Percentage of the month's credits used (0 when not metered), capped at 100.
    pub fn percent_used(&self) -> i64 {
        match self.monthly_allowance {
            Some(a) => {
                let total = (a + self.adjustments).max(0);
                if total == 0 {
                    if self.used > 0 { 100 } else { 0 }
                } else {
                    (self.used * 100 / total).clamp(0, 100)
                }
            }
            None => 0,
        }
    }
}

/// One ledger row, for the Usage page and the admin views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    /// Row id.
    pub id: i64,
    /// `usage` or `adjustment`.
    pub kind: String,
    /// The operation (usage).
    pub operation: String,
    /// Credits: negative consumed, positive granted.
    pub amount: i64,
    /// Why (adjustments).
    pub reason: String,
    /// Who paid: `user` or `org`.
    pub account: String,
    /// When.
    pub created_at: String,
}

/// A member's share of an org pool this month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberShare {
    /// The member.
    pub user_id: String,
    /// Their monthly share; `None`: no share set (they draw on the whole pool).
    pub share: Option<i64>,
    /// What their operations in the org's workspaces used this month.
    pub used: i64,
}

/// What an adjustment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjusted {
    /// The account adjusted.
    pub subject: Subject,
    /// The amount (signed).
    pub amount: i64,
    /// The reason.
    pub reason: String,
    /// The activity summary ("+100 credits to alice@example.com").
    pub summary: String,
    /// The account afterwards.
    pub balance: Balance,
    /// Emails queued (0 without SMTP).
    pub notified: usize,
}

/// The account paying for a user's operation in an org (or personal) workspace.
struct Payer {
    kind: SubjectKind,
    id: String,
    label: String,
    allowance: Option<i64>,
    /// (share, the member's user id) when the pool is split.
    share: Option<i64>,
    user_id: String,
}

fn allowance_of(
    conn: &Connection,
    kind: &str,
    id: &str,
    org: &str,
) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT monthly_allowance FROM credit_allowances WHERE subject_kind = ?1 AND subject_id = ?2 AND org_id = ?3",
        params![kind, id, org],
        |r| r.get(0),
    )
    .optional()
}

fn user_label(conn: &Connection, user_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT email FROM users WHERE id = ?1", [user_id], |r| {
        r.get(0)
    })
    .optional()
}

fn org_label(conn: &Connection, org_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT name FROM orgs WHERE id = ?1 AND shredded_at IS NULL",
        [org_id],
        |r| r.get(0),
    )
    .optional()
}

fn payer(conn: &Connection, user_id: &str, org_id: Option<&str>) -> rusqlite::Result<Payer> {
    if let Some(org) = org_id.filter(|o| !o.is_empty())
        && let Some(allowance) = allowance_of(conn, "org", org, "")?
    {
        return Ok(Payer {
            kind: SubjectKind::Org,
            id: org.to_string(),
            label: org_label(conn, org)?.unwrap_or_else(|| org.to_string()),
            allowance: Some(allowance),
            share: allowance_of(conn, "org_member", user_id, org)?,
            user_id: user_id.to_string(),
        });
    }
    Ok(Payer {
        kind: SubjectKind::User,
        id: user_id.to_string(),
        label: user_label(conn, user_id)?.unwrap_or_else(|| user_id.to_string()),
        allowance: allowance_of(conn, "user", user_id, "")?,
        share: None,
        user_id: user_id.to_string(),
    })
}

/// (adjustments, used) of an account in a month.
fn sums(
    conn: &Connection,
    kind: SubjectKind,
    id: &str,
    period: &str,
) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT COALESCE(SUM(CASE WHEN kind = 'adjustment' THEN amount ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN kind = 'usage' THEN -amount ELSE 0 END), 0)
         FROM credit_ledger WHERE subject_kind = ?1 AND subject_id = ?2 AND period = ?3",
        params![kind.as_str(), id, period],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

fn member_used(conn: &Connection, org: &str, user_id: &str, period: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(SUM(-amount), 0) FROM credit_ledger WHERE subject_kind = 'org' AND subject_id = ?1 AND user_id = ?2 AND kind = 'usage' AND period = ?3",
        params![org, user_id, period],
        |r| r.get(0),
    )
}

fn balance_of(conn: &Connection, p: &Payer, now: DateTime<Utc>) -> rusqlite::Result<Balance> {
    let period = period_of(now);
    let (adjustments, used) = sums(conn, p.kind, &p.id, &period)?;
    let mut balance = p.allowance.map(|a| a + adjustments - used);
    if let (Some(b), Some(share)) = (balance, p.share) {
        let left = share - member_used(conn, &p.id, &p.user_id, &period)?;
        balance = Some(b.min(left));
    }
    Ok(Balance {
        balance,
        monthly_allowance: p.allowance,
        used,
        adjustments,
        resets_at: rfc3339(resets_at(now)),
        period,
        metered: p.allowance.is_some(),
        account: p.kind,
        account_id: p.id.clone(),
        account_label: p.label.clone(),
        member_share: p.share,
    })
}

fn account_phrase(p: &Payer) -> String {
    match (p.kind, p.share) {
        (SubjectKind::User, _) => "your account".into(),
        (SubjectKind::Org, None) => format!("the credit pool of {}", p.label),
        (SubjectKind::Org, Some(_)) => format!("your share of the credit pool of {}", p.label),
    }
}

/// Refuses `op` when the account paying for it cannot (pure read).
fn check_at(
    conn: &Connection,
    user_id: &str,
    org_id: Option<&str>,
    op: Operation,
    now: DateTime<Utc>,
) -> rusqlite::Result<std::result::Result<(), Exhausted>> {
    let cost = op.cost();
    // Queries of existing models still work at zero (spec 01): never refused.
    if cost == 0 || op == Operation::Query {
        return Ok(Ok(()));
    }
    let p = payer(conn, user_id, org_id)?;
    let b = balance_of(conn, &p, now)?;
    match b.balance {
        Some(left) if left < cost => Ok(Err(Exhausted {
            operation: op.as_str(),
            cost,
            balance: left.max(0),
            resets_at: b.resets_at,
            account: account_phrase(&p),
        })),
        _ => Ok(Ok(())),
    }
}

/// The credit service over the platform database; cheap to clone.
#[derive(Clone, Debug)]
pub struct CreditService {
    db: Db,
    outbox: Option<Outbox>,
}

/// The operation being run on this thread, see [`metered`].
struct Meter {
    /// Set by the LLM engine when one of the operation's calls reached the LLM.
    used: Option<CreditService>,
    /// The charge reserved when the operation's credits were checked (its ledger row).
    reserved: Option<(CreditService, i64)>,
}

/// Marks a usage row reserved by a running operation (see [`CreditService::check`]).
const RESERVED: &str = "reserved";

thread_local! {
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

struct MeterGuard(Option<Meter>);

impl Drop for MeterGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        METER.with(|m| *m.borrow_mut() = prev);
    }
}

/// Runs `f` as one operation `op` of `user_id` in a workspace of `org_id` (if any).
///
/// A credit check made inside `f` ([`CreditService::check`], through `Engine::check_credits`)
/// reserves the cost in the same write transaction that reads the balance, so operations
/// running at the same time never spend more than the balance. When `f` returns, the
/// reservation is kept if `f` succeeded and one of its calls reached the LLM (not the cache),
/// and released otherwise (failure, cached answers, the built-in engine) — outside any model
/// write transaction `f` held. Without a check inside `f`, a successful operation that used
/// the LLM is charged afterwards.
pub fn metered<T, E>(
    op: Operation,
    user_id: &str,
    org_id: Option<&str>,
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let prev = METER.with(|m| {
        m.borrow_mut().replace(Meter {
            used: None,
            reserved: None,
        })
    });
    let guard = MeterGuard(prev);
    let out = f();
    let (used, reserved) = METER.with(|m| {
        m.borrow_mut()
            .as_mut()
            .map(|m| (m.used.take(), m.reserved.take()))
            .unwrap_or_default()
    });
    drop(guard);
    let res = match (reserved, used) {
        (Some((svc, id)), Some(_)) if out.is_ok() => svc.confirm(id, user_id, org_id),
        (Some((svc, id)), _) => svc.release(id),
        (None, Some(svc)) if out.is_ok() => svc.charge(user_id, org_id, op),
        (None, _) => Ok(()),
    };
    if let Err(e) = res {
        tracing::warn!(error = %e, operation = op.as_str(), "recording a credit charge failed");
    }
    out
}

impl CreditService {
    /// The service; `outbox` sends the notices (none: no emails).
    pub fn new(db: Db, outbox: Option<Outbox>) -> Self {
        Self { db, outbox }
    }

    /// Refuses `op` before any work when the account paying for it cannot. Inside
    /// [`metered`] the check also reserves the cost (once per operation), atomically with the
    /// balance it read; outside, it only reads (an early refusal before a job is created).
    /// Queries are never refused: at zero they are recorded without being charged.
    pub fn check(
        &self,
        user_id: &str,
        org_id: Option<&str>,
        op: Operation,
    ) -> std::result::Result<(), CheckError> {
        let unreserved = METER.with(|m| m.borrow().as_ref().map(|m| m.reserved.is_none()));
        match unreserved {
            Some(true) => {
                if let Some(id) = self.reserve(user_id, org_id, op, Utc::now())? {
                    let svc = self.clone();
                    METER.with(|m| {
                        if let Some(m) = m.borrow_mut().as_mut() {
                            m.reserved = Some((svc, id));
                        }
                    });
                }
                Ok(())
            }
            Some(false) => Ok(()),
            None => {
                let conn = self.db.conn()?;
                Ok(check_at(&conn, user_id, org_id, op, Utc::now())??)
            }
        }
    }

    /// Checks the balance and writes the operation's usage row in one immediate write
    /// transaction: a concurrent operation sees the reservation or waits for it. Marked
    /// `reserved` until [`CreditService::confirm`] or [`CreditService::release`]. A query
    /// reserves what the balance still covers (0 at zero: recorded, not charged).
    fn reserve(
        &self,
        user_id: &str,
        org_id: Option<&str>,
        op: Operation,
        now: DateTime<Utc>,
    ) -> std::result::Result<Option<i64>, CheckError> {
        let cost = op.cost();
        if cost == 0 {
            return Ok(None);
        }
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = payer(&tx, user_id, org_id)?;
        let b = balance_of(&tx, &p, now)?;
        let amount = match b.balance {
            Some(left) if op == Operation::Query => cost.min(left.max(0)),
            Some(left) if left < cost => {
                return Err(CheckError::Exhausted(Exhausted {
                    operation: op.as_str(),
                    cost,
                    balance: left.max(0),
                    resets_at: b.resets_at,
                    account: account_phrase(&p),
                }));
            }
            _ => cost,
        };
        tx.execute(
            "INSERT INTO credit_ledger (period, subject_kind, subject_id, user_id, kind, operation, amount, reason, created_at) VALUES (?1, ?2, ?3, ?4, 'usage', ?5, ?6, ?7, ?8)",
            params![period_of(now), p.kind.as_str(), p.id, user_id, op.as_str(), -amount, RESERVED, now_str()],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    /// Keeps a reservation as the operation's charge (and sends the 80%/100% notices).
    fn confirm(&self, id: i64, user_id: &str, org_id: Option<&str>) -> store::Result<()> {
        let p = {
            let conn = self.db.conn()?;
            conn.execute(
                "UPDATE credit_ledger SET reason = '' WHERE id = ?1 AND reason = ?2",
                params![id, RESERVED],
            )?;
            payer(&conn, user_id, org_id)?
        };
        if p.allowance.is_some() {
            self.notify_thresholds(&p, Utc::now())?;
        }
        Ok(())
    }

    /// Gives a reservation back: the operation failed or never reached the LLM.
    fn release(&self, id: i64) -> store::Result<()> {
        let conn = self.db.conn()?;
        conn.execute(
            "DELETE FROM credit_ledger WHERE id = ?1 AND reason = ?2",
            params![id, RESERVED],
        )?;
        Ok(())
    }

    /// Releases the reservations of operations that never finished (the server stopped in
    /// the middle of them); call once at start, before any operation runs. Returns how many.
    pub fn release_stale(&self) -> store::Result<usize> {
        let conn = self.db.conn()?;
        Ok(conn.execute(
            "DELETE FROM credit_ledger WHERE kind = 'usage' AND reason = ?1",
            [RESERVED],
        )?)
    }

    /// Marks the operation running on this thread (see [`metered`]) as having used the
    /// LLM. The LLM engine calls this after each successful call not answered from the cache.
    pub fn note_use(&self) {
        METER.with(|m| {
            if let Some(m) = m.borrow_mut().as_mut()
                && m.used.is_none()
            {
                m.used = Some(self.clone());
            }
        });
    }

    /// Records the charge of one operation that made no reservation (a query only what the
    /// balance still covers).
    fn charge(&self, user_id: &str, org_id: Option<&str>, op: Operation) -> store::Result<()> {
        if op.cost() == 0 {
            return Ok(());
        }
        let now = Utc::now();
        let p = {
            let conn = self.db.conn()?;
            let p = payer(&conn, user_id, org_id)?;
            let mut amount = op.cost();
            if op == Operation::Query
                && let Some(left) = balance_of(&conn, &p, now)?.balance
            {
                amount = amount.min(left.max(0));
            }
            conn.execute(
                "INSERT INTO credit_ledger (period, subject_kind, subject_id, user_id, kind, operation, amount, created_at) VALUES (?1, ?2, ?3, ?4, 'usage', ?5, ?6, ?7)",
                params![period_of(now), p.kind.as_str(), p.id, user_id, op.as_str(), -amount, now_str()],
            )?;
            p
        };
        if p.allowance.is_some() {
            self.notify_thresholds(&p, now)?;
        }
        Ok(())
    }

    /// The balance of the account paying for `user_id`'s operations in a workspace of
    /// `org_id` (or their own).
    pub fn balance_for(&self, user_id: &str, org_id: Option<&str>) -> Result<Balance> {
        let conn = self.db.conn()?;
        let p = payer(&conn, user_id, org_id)?;
        Ok(balance_of(&conn, &p, Utc::now())?)
    }

    /// A user's own account (not an org pool).
    pub fn user_balance(&self, user_id: &str) -> Result<Balance> {
        self.balance_for(user_id, None)
    }

    /// An organization's pool.
    pub fn org_balance(&self, org_id: &str) -> Result<Balance> {
        let conn = self.db.conn()?;
        let label =
            org_label(&conn, org_id)?.ok_or_else(|| Error::NotFound("organization".into()))?;
        let p = Payer {
            kind: SubjectKind::Org,
            id: org_id.to_string(),
            label,
            allowance: allowance_of(&conn, "org", org_id, "")?,
            share: None,
            user_id: String::new(),
        };
        Ok(balance_of(&conn, &p, Utc::now())?)
    }

    /// Every member of an org with their share of its pool (if the org's admins gave one)
    /// and what their operations in the org used this month, by user id.
    pub fn member_shares(&self, org_id: &str) -> Result<Vec<MemberShare>> {
        let conn = self.db.conn()?;
        let period = period_of(Utc::now());
        let mut stmt = conn.prepare(
            "SELECT m.user_id, a.monthly_allowance FROM org_members m
             LEFT JOIN credit_allowances a ON a.subject_kind = 'org_member' AND a.subject_id = m.user_id AND a.org_id = m.org_id
             WHERE m.org_id = ?1 ORDER BY m.user_id",
        )?;
        let rows = stmt
            .query_map([org_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, Option<i64>)>>>()?;
        rows.into_iter()
            .map(|(user_id, share)| {
                let used = member_used(&conn, org_id, &user_id, &period)?;
                Ok(MemberShare {
                    user_id,
                    share,
                    used,
                })
            })
            .collect()
    }

    /// The organizations (id, name) whose pools `user_id` may split: those they administer.
    pub fn administered_orgs(&self, user_id: &str) -> Result<Vec<(String, String)>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(
            "SELECT o.id, o.name FROM org_members m JOIN orgs o ON o.id = m.org_id
             WHERE m.user_id = ?1 AND m.role = 'org_admin' AND o.shredded_at IS NULL ORDER BY o.name",
        )?;
        let rows = stmt
            .query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// The most recent ledger rows of a user (their consumption anywhere, and adjustments
    /// of their own account), newest first.
    pub fn user_ledger(&self, user_id: &str, limit: u32) -> Result<Vec<LedgerEntry>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, kind, operation, amount, reason, subject_kind, created_at FROM credit_ledger
             WHERE (kind = 'usage' AND user_id = ?1) OR (kind = 'adjustment' AND subject_kind = 'user' AND subject_id = ?1)
             ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![user_id, limit.clamp(1, 500)], |r| {
                Ok(LedgerEntry {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    operation: r.get(2)?,
                    amount: r.get(3)?,
                    reason: r.get(4)?,
                    account: r.get(5)?,
                    created_at: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Resolves a user by id or email.
    pub fn find_user(&self, key: &str) -> Result<Subject> {
        let conn = self.db.conn()?;
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT id, email FROM users WHERE id = ?1 OR email = ?1 COLLATE NOCASE",
                [key.trim()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (id, label) = row.ok_or_else(|| Error::NotFound("user".into()))?;
        Ok(Subject {
            kind: SubjectKind::User,
            id,
            label,
        })
    }

    /// Resolves an organization by id or slug (shredded ones are gone).
    pub fn find_org(&self, key: &str) -> Result<Subject> {
        let conn = self.db.conn()?;
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT id, name FROM orgs WHERE (id = ?1 OR slug = ?1) AND shredded_at IS NULL",
                [key.trim()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (id, label) = row.ok_or_else(|| Error::NotFound("organization".into()))?;
        Ok(Subject {
            kind: SubjectKind::Org,
            id,
            label,
        })
    }

    fn subject_balance(&self, s: &Subject) -> Result<Balance> {
        match s.kind {
            SubjectKind::User => self.user_balance(&s.id),
            SubjectKind::Org => self.org_balance(&s.id),
        }
    }

    /// Sets (or with `None` removes: not metered) the monthly allowance of a user or an
    /// org pool. `actor` is a user id or a name (`cli`). Recorded in the audit log.
    pub fn set_allowance(
        &self,
        actor: &str,
        subject: &Subject,
        monthly_allowance: Option<i64>,
        reason: &str,
    ) -> Result<Balance> {
        if let Some(a) = monthly_allowance
            && !(0..=MAX_ALLOWANCE).contains(&a)
        {
            return Err(invalid(
                "monthly_allowance",
                format!("expected a whole number of credits from 0 to {MAX_ALLOWANCE}"),
            ));
        }
        let reason = check_reason(reason, false)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        match monthly_allowance {
            Some(a) => tx.execute(
                "INSERT INTO credit_allowances (subject_kind, subject_id, org_id, monthly_allowance, updated_by, updated_at) VALUES (?1, ?2, '', ?3, ?4, ?5)
                 ON CONFLICT (subject_kind, subject_id, org_id) DO UPDATE SET monthly_allowance = excluded.monthly_allowance, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                params![subject.kind.as_str(), subject.id, a, actor, now_str()],
            )?,
            None => tx.execute(
                "DELETE FROM credit_allowances WHERE subject_kind = ?1 AND subject_id = ?2 AND org_id = ''",
                params![subject.kind.as_str(), subject.id],
            )?,
        };
        let what = match monthly_allowance {
            Some(a) => format!("monthly allowance of {} set to {a} credits", subject.label),
            None => format!(
                "monthly allowance of {} removed (not metered)",
                subject.label
            ),
        };
        audit(
            &tx,
            actor,
            "admin.credit_allowance",
            &subject.id,
            &with_reason(&what, &reason),
        )?;
        tx.commit()?;
        self.subject_balance(subject)
    }

    /// Sets (or with `None` removes) a member's share of an org pool: at most that much of
    /// the pool per month for their operations in the org. The org's admins split the pool
    /// (superadmins may too); the shares together cannot exceed the pool's allowance.
    pub fn set_member_share(
        &self,
        actor: &str,
        actor_is_superadmin: bool,
        org_id: &str,
        user_id: &str,
        share: Option<i64>,
        reason: &str,
    ) -> Result<Balance> {
        let org = self.find_org(org_id)?;
        let mut conn = self.db.conn()?;
        let actor_role: Option<String> = conn
            .query_row(
                "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2",
                params![org.id, actor],
                |r| r.get(0),
            )
            .optional()?;
        if !actor_is_superadmin {
            match actor_role.as_deref() {
                None => return Err(Error::NotFound("organization".into())),
                Some("org_admin") => {}
                Some(_) => {
                    return Err(Error::Forbidden(
                        "only the organization's admins can split its credit pool".into(),
                    ));
                }
            }
        }
        let member: Option<String> = conn
            .query_row(
                "SELECT u.email FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND m.user_id = ?2",
                params![org.id, user_id],
                |r| r.get(0),
            )
            .optional()?;
        let email = member.ok_or_else(|| Error::NotFound("member".into()))?;
        let reason = check_reason(reason, false)?;
        let tx = conn.transaction()?;
        if let Some(s) = share {
            let pool = allowance_of(&tx, "org", &org.id, "")?.ok_or_else(|| {
                invalid(
                    "monthly_allowance",
                    "the organization has no credit pool yet; a superadmin sets its monthly allowance first",
                )
            })?;
            let others: i64 = tx.query_row(
                "SELECT COALESCE(SUM(monthly_allowance), 0) FROM credit_allowances WHERE subject_kind = 'org_member' AND org_id = ?1 AND subject_id != ?2",
                params![org.id, user_id],
                |r| r.get(0),
            )?;
            if s < 0 || s + others > pool {
                return Err(invalid(
                    "monthly_allowance",
                    format!(
                        "expected a whole number from 0 to {} (the pool's {pool} credits less {others} already given to other members)",
                        (pool - others).max(0)
                    ),
                ));
            }
            tx.execute(
                "INSERT INTO credit_allowances (subject_kind, subject_id, org_id, monthly_allowance, updated_by, updated_at) VALUES ('org_member', ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (subject_kind, subject_id, org_id) DO UPDATE SET monthly_allowance = excluded.monthly_allowance, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                params![user_id, org.id, s, actor, now_str()],
            )?;
        } else {
            tx.execute(
                "DELETE FROM credit_allowances WHERE subject_kind = 'org_member' AND subject_id = ?1 AND org_id = ?2",
                params![user_id, org.id],
            )?;
        }
        let what = match share {
            Some(s) => format!(
                "share of {email} in the credit pool of {} set to {s} credits",
                org.label
            ),
            None => format!(
                "share of {email} in the credit pool of {} removed",
                org.label
            ),
        };
        audit(
            &tx,
            actor,
            "admin.credit_allowance",
            &org.id,
            &with_reason(&what, &reason),
        )?;
        tx.commit()?;
        drop(conn);
        self.balance_for(user_id, Some(&org.id))
    }

    /// Adds (`amount` > 0) or deducts credits for this month. Deductions need a reason.
    /// Recorded in the ledger, the audit log (`admin.credit_adjustment`, the admin events
    /// feed) and, for a user, their personal workspace's activity feed; the user (or the
    /// org's admins) are emailed when SMTP is configured.
    pub fn adjust(
        &self,
        actor: &str,
        subject: &Subject,
        amount: i64,
        reason: &str,
    ) -> Result<Adjusted> {
        if amount == 0 || amount.abs() > MAX_ADJUSTMENT {
            return Err(invalid(
                "amount",
                format!(
                    "expected a whole number of credits, not 0, between -{MAX_ADJUSTMENT} and {MAX_ADJUSTMENT}"
                ),
            ));
        }
        let reason = check_reason(reason, amount < 0)?;
        let summary = match subject.kind {
            _ if amount > 0 => format!("+{amount} credits to {}", subject.label),
            _ => format!("{amount} credits from {}", subject.label),
        };
        let summary = if reason.is_empty() {
            summary
        } else {
            format!("{summary} (reason: {reason})")
        };
        let now = Utc::now();
        let actor_user = uuid::Uuid::parse_str(actor).is_ok().then_some(actor);
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO credit_ledger (period, subject_kind, subject_id, user_id, kind, amount, reason, actor_id, created_at) VALUES (?1, ?2, ?3, ?4, 'adjustment', ?5, ?6, ?7, ?8)",
            params![
                period_of(now),
                subject.kind.as_str(),
                subject.id,
                (subject.kind == SubjectKind::User).then_some(subject.id.as_str()),
                amount,
                reason,
                actor_user,
                now_str()
            ],
        )?;
        audit(&tx, actor, "admin.credit_adjustment", &subject.id, &summary)?;
        if subject.kind == SubjectKind::User {
            let ws: Option<String> = tx
                .query_row(
                    "SELECT id FROM workspaces WHERE personal_owner_id = ?1",
                    [&subject.id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(ws) = ws {
                tx.execute(
                    "INSERT INTO activity (workspace_id, model_id, kind, summary, source, actor_id, created_at) VALUES (?1, NULL, 'credit_adjustment', ?2, 'admin', ?3, ?4)",
                    params![ws, summary, actor_user, now_str()],
                )?;
            }
        }
        tx.commit()?;
        let balance = self.subject_balance(subject)?;
        let notified = self.notify_adjustment(subject, amount, &reason, &balance);
        Ok(Adjusted {
            subject: subject.clone(),
            amount,
            reason,
            summary,
            balance,
            notified,
        })
    }

    /// Who is emailed about an account: the user, or the org's admins.
    fn recipients(&self, kind: SubjectKind, id: &str) -> store::Result<Vec<String>> {
        let conn = self.db.conn()?;
        let rows = match kind {
            SubjectKind::User => user_label(&conn, id)?.into_iter().collect(),
            SubjectKind::Org => {
                let mut stmt = conn.prepare(
                    "SELECT u.email FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND m.role = 'org_admin' AND u.disabled = 0 ORDER BY u.email",
                )?;
                stmt.query_map([id], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?
            }
        };
        Ok(rows)
    }

    fn notify_adjustment(&self, s: &Subject, amount: i64, reason: &str, b: &Balance) -> usize {
        let Some(outbox) = self.outbox.as_ref().filter(|o| o.enabled()) else {
            return 0;
        };
        let whose = match s.kind {
            SubjectKind::User => "your account".to_string(),
            SubjectKind::Org => format!("the credit pool of {}", s.label),
        };
        let (subject, heading) = if amount > 0 {
            (
                format!("{amount} credits added to {whose}"),
                format!("Good news: an administrator added {amount} credits to {whose}."),
            )
        } else {
            (
                format!("{} credits deducted from {whose}", -amount),
                format!(
                    "An administrator deducted {} credits from {whose}.",
                    -amount
                ),
            )
        };
        let mut details = vec![("Amount".to_string(), format!("{amount:+}"))];
        if !reason.is_empty() {
            details.push(("Reason".into(), reason.to_string()));
        }
        if let Some(left) = b.balance {
            details.push(("Balance this month".into(), left.to_string()));
        }
        details.push(("Allowance resets".into(), b.resets_at.clone()));
        let content = Content {
            subject,
            heading,
            paragraphs: vec![
                "Adjustments count for the current month; the monthly allowance resets on the 1st (UTC) without carry-over.".into(),
            ],
            details,
            footer: "You receive this because credits of your account or organization changed.".into(),
            ..Default::default()
        };
        self.send_all(outbox, "credit_adjustment", s.kind, &s.id, &content, false)
    }

    fn send_all(
        &self,
        outbox: &Outbox,
        kind: &str,
        sk: SubjectKind,
        id: &str,
        content: &Content,
        queue_only: bool,
    ) -> usize {
        let to = match self.recipients(sk, id) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "finding credit notice recipients failed");
                return 0;
            }
        };
        let mut n = 0;
        for addr in to {
            let res = if queue_only {
                outbox.queue(kind, &addr, content).map(|_| ())
            } else {
                outbox.send(kind, &addr, content).map(|_| ())
            };
            match res {
                Ok(()) => n += 1,
                Err(e) => tracing::warn!(error = %e, "queuing a credit email failed"),
            }
        }
        n
    }

    /// Emails the 80% and 100% notices of the month, once each.
    fn notify_thresholds(&self, p: &Payer, now: DateTime<Utc>) -> store::Result<()> {
        let Some(outbox) = self.outbox.as_ref().filter(|o| o.enabled()) else {
            return Ok(());
        };
        let conn = self.db.conn()?;
        let whole = Payer {
            share: None,
            ..Payer {
                kind: p.kind,
                id: p.id.clone(),
                label: p.label.clone(),
                allowance: p.allowance,
                share: None,
                user_id: p.user_id.clone(),
            }
        };
        let b = balance_of(&conn, &whole, now)?;
        let pct = b.percent_used();
        for level in [80_i64, 100] {
            if pct < level {
                continue;
            }
            let fresh = conn.execute(
                "INSERT OR IGNORE INTO credit_notices (subject_kind, subject_id, period, level, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![p.kind.as_str(), p.id, b.period, level, now_str()],
            )?;
            if fresh == 0 {
                continue;
            }
            let whose = match p.kind {
                SubjectKind::User => "your account".to_string(),
                SubjectKind::Org => format!("the credit pool of {}", p.label),
            };
            let content = Content {
                subject: if level == 100 {
                    format!("Credits used up for {whose} this month")
                } else {
                    format!("{level}% of the monthly credits of {whose} used")
                },
                heading: format!(
                    "{whose} has used {pct}% of this month's credits ({} used, {} left).",
                    b.used,
                    b.balance.unwrap_or(0).max(0)
                ),
                paragraphs: vec![if level == 100 {
                    "Operations that use the LLM are refused until the allowance resets or an administrator adjusts it. Cached answers and the built-in engine stay free.".into()
                } else {
                    "When the credits run out, operations that use the LLM are refused until the allowance resets.".into()
                }],
                details: vec![
                    (
                        "Monthly allowance".into(),
                        b.monthly_allowance.unwrap_or(0).to_string(),
                    ),
                    ("Used".into(), b.used.to_string()),
                    ("Resets".into(), b.resets_at.clone()),
                ],
                footer: "You receive this once per month at 80% and at 100% of the allowance."
                    .into(),
                ..Default::default()
            };
            self.send_all(outbox, "credit_notice", p.kind, &p.id, &content, true);
        }
        Ok(())
    }
}

/// Why a check or charge refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Not enough credits.
    #[error("{0}")]
    Exhausted(Exhausted),
    /// Storage.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<Exhausted> for CheckError {
    fn from(e: Exhausted) -> Self {
        CheckError::Exhausted(e)
    }
}

impl From<rusqlite::Error> for CheckError {
    fn from(e: rusqlite::Error) -> Self {
        CheckError::Store(store::Error::Sqlite(e))
    }
}

fn check_reason(reason: &str, required: bool) -> Result<String> {
    let r = reason.trim();
    if required && r.is_empty() {
        return Err(invalid("reason", "a reason is required for a deduction"));
    }
    if r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control) {
        return Err(invalid(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters on one line"),
        ));
    }
    Ok(r.to_string())
}

fn with_reason(what: &str, reason: &str) -> String {
    if reason.is_empty() {
        what.to_string()
    } else {
        format!("{what} (reason: {reason})")
    }
}

/// An audit row in the admin events feed; a non-user actor (`cli`) is named in the detail.
fn audit(
    conn: &Connection,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    let is_user = uuid::Uuid::parse_str(actor).is_ok();
    let detail = if is_user || actor.is_empty() {
        detail.to_string()
    } else {
        format!("{detail} (by {actor})")
    };
    conn.execute(
        "INSERT INTO audit_log (at, actor_id, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_str(), is_user.then_some(actor), action, target, detail],
    )?;
    tracing::info!(action, actor, target, detail, "credit event");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn months_reset_on_the_first_utc_without_carry_over() {
        assert_eq!(period_of(at("2026-12-31T23:59:59Z")), "2026-12");
        assert_eq!(period_of(at("2027-01-01T00:00:00Z")), "2027-01");
        assert_eq!(
            resets_at(at("2026-12-07T18:00:00Z")),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            resets_at(at("2027-01-31T23:59:59Z")),
            at("2027-02-01T00:00:00Z")
        );
        assert_eq!(
            resets_at(at("2028-02-29T12:00:00Z")),
            at("2028-03-01T00:00:00Z")
        );
    }

    fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::crypto::DbKey::from_bytes([7u8; 32]);
        let db = Db::open(
            &dir.path().join("p.db"),
            &key,
            &crate::store::OpenOptions::default(),
        )
        .unwrap();
        (dir, db)
    }

    #[test]
    fn a_new_month_starts_from_the_allowance_and_refuses_past_it() {
        let (_d, db) = db();
        let conn = db.conn().unwrap();
        // No users row needed: the label falls back to the id.
        conn.execute(
            "INSERT INTO credit_allowances (subject_kind, subject_id, monthly_allowance, updated_at) VALUES ('user', 'u1', 12, 'now')",
            [],
        )
        .unwrap();
        // December: 10 used by a generation, 2 left; a generation is refused.
        conn.execute(
            "INSERT INTO credit_ledger (period, subject_kind, subject_id, user_id, kind, operation, amount, created_at) VALUES ('2026-12', 'user', 'u1', 'u1', 'usage', 'generation', -10, 'now')",
            [],
        )
        .unwrap();
        let dec = at("2026-12-31T23:59:59Z");
        let refused = check_at(&conn, "u1", None, Operation::Generation, dec)
            .unwrap()
            .unwrap_err();
        assert_eq!(refused.balance, 2);
        assert_eq!(refused.resets_at, "2027-01-01T00:00:00Z");
        assert!(
            check_at(&conn, "u1", None, Operation::Query, dec)
                .unwrap()
                .is_ok()
        );
        // January: the whole allowance again (not 12 + 2).
        let jan = at("2027-01-01T00:00:00Z");
        assert!(
            check_at(&conn, "u1", None, Operation::Generation, jan)
                .unwrap()
                .is_ok()
        );
        let p = payer(&conn, "u1", None).unwrap();
        assert_eq!(balance_of(&conn, &p, jan).unwrap().balance, Some(12));
        assert_eq!(balance_of(&conn, &p, dec).unwrap().balance, Some(2));
        // Gap analysis never costs; an unmetered user is never refused.
        assert!(
            check_at(&conn, "u2", None, Operation::Generation, dec)
                .unwrap()
                .is_ok()
        );
        assert_eq!(Operation::GapAnalysis.cost(), 0);
    }

    /// Runs one metered operation of `u1` on its own thread: checks (reserves), then uses
    /// the LLM (`uses`) and succeeds or fails (`ok`). Returns whether the check passed.
    fn operation(svc: &CreditService, op: Operation, uses: bool, ok: bool) -> bool {
        let svc = svc.clone();
        let mut passed = false;
        let _ = metered(op, "u1", None, || {
            if svc.check("u1", None, op).is_err() {
                return Err(());
            }
            passed = true;
            // Long enough for every thread to reach its check while the others run.
            std::thread::sleep(std::time::Duration::from_millis(200));
            if uses {
                svc.note_use();
            }
            if ok { Ok(()) } else { Err(()) }
        });
        passed
    }

    fn balance(svc: &CreditService) -> Option<i64> {
        svc.user_balance("u1").unwrap().balance
    }

    #[test]
    fn concurrent_operations_never_spend_more_than_the_balance() {
        let (_d, db) = db();
        db.conn()
            .unwrap()
            .execute(
                "INSERT INTO credit_allowances (subject_kind, subject_id, monthly_allowance, updated_at) VALUES ('user', 'u1', 10, 'now')",
                [],
            )
            .unwrap();
        let svc = CreditService::new(db, None);
        // A failed, a cached (no LLM use) and a succeeding operation: only the last is kept.
        assert!(operation(&svc, Operation::Generation, true, false));
        assert!(operation(&svc, Operation::Generation, false, true));
        assert_eq!(balance(&svc), Some(10), "released");
        // Five generations of cost 10 at once against a balance of 10: one runs.
        let passed = std::thread::scope(|s| {
            let runs: Vec<_> = (0..5)
                .map(|_| s.spawn(|| operation(&svc, Operation::Generation, true, true)))
                .collect();
            runs.into_iter()
                .filter_map(|r| r.join().ok())
                .filter(|p| *p)
                .count()
        });
        assert_eq!(passed, 1);
        assert_eq!(balance(&svc), Some(0));
        // At zero a query still runs: recorded, not charged; a refinement is refused.
        assert!(operation(&svc, Operation::Query, true, true));
        assert_eq!(balance(&svc), Some(0));
        let last = svc.user_ledger("u1", 1).unwrap();
        assert_eq!((last[0].operation.as_str(), last[0].amount), ("query", 0));
        assert!(!operation(&svc, Operation::Refinement, true, true));
        // A reservation left by a stopped server is given back at the next start.
        let u1 = Subject {
            kind: SubjectKind::User,
            id: "u1".into(),
            label: "u1".into(),
        };
        svc.adjust("cli", &u1, 10, "more").unwrap();
        svc.reserve("u1", None, Operation::Generation, Utc::now())
            .unwrap();
        assert_eq!(balance(&svc), Some(0));
        assert_eq!(svc.release_stale().unwrap(), 1);
        assert_eq!(balance(&svc), Some(10));
    }
}
