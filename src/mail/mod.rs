//! Outgoing email: what a message says ([`Content`], rendered to plain text and HTML from
//! `assets/templates/mail/`), and the queue every message goes through ([`Outbox`]).
//!
//! Nothing sends directly: a message is written to `mail_outbox` in the platform database,
//! then tried once at once (so an invitation can answer "emailed"), and otherwise retried
//! by the server's worker with exponential backoff (`smtp.retry_base_seconds`, up to
//! `smtp.max_attempts`). A message that keeps failing ends `failed` with its last error,
//! which admins see (Settings › Users, `GET /api/admin/mail`) and can retry. The
//! queue lives in the database, so it survives a restart; bodies of sent messages are
//! blanked because they may carry single-use links or codes.

pub mod transport;

use askama::Template;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::auth::{now_str, time_str};
use crate::config::{Config, SmtpConfig};
use crate::store::{self, Db};

pub use transport::enabled;

/// One email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body (same content); empty sends plain text only.
    pub html: String,
}

/// A call to action: a button in HTML, a labelled link in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Button label.
    pub label: String,
    /// Absolute URL.
    pub url: String,
}

/// What a message says, independent of its format. Both templates render every field, so
/// the plain-text and HTML versions always carry the same information.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Content {
    /// Subject line (also the HTML title).
    pub subject: String,
    /// First line / heading.
    pub heading: String,
    /// Body paragraphs, in order.
    pub paragraphs: Vec<String>,
    /// A one-time code shown large (signup verification).
    pub code: Option<String>,
    /// A link to follow.
    pub action: Option<Action>,
    /// Label/value rows (reason, time, who).
    pub details: Vec<(String, String)>,
    /// Closing line (why the recipient got this).
    pub footer: String,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextTpl<'a> {
    c: &'a Content,
    instance: &'a str,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlTpl<'a> {
    c: &'a Content,
    instance: &'a str,
}

impl Content {
    /// Renders both bodies for `to`. `instance` is the appliance's public URL, named in the
    /// footer so the recipient knows which box wrote.
    pub fn render(&self, to: &str, instance: &str) -> Email {
        let text = TextTpl { c: self, instance }
            .render()
            .unwrap_or_else(|e| format!("{}\n\n(template error: {e})", self.heading));
        let html = HtmlTpl { c: self, instance }.render().unwrap_or_default();
        Email {
            to: to.to_string(),
            subject: self.subject.clone(),
            text,
            html,
        }
    }
}

/// The outcome of queuing a message and trying it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Row id in the queue (`None` when SMTP is not configured and nothing was queued).
    pub id: Option<i64>,
    /// Sent by the first attempt.
    pub sent: bool,
    /// Why the first attempt failed (the worker retries).
    pub error: Option<String>,
}

/// A queued message as admins see it (never the body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedMail {
    /// Row id.
    pub id: i64,
    /// What kind of message (invitation, password_reset, signup_code, maintenance_alert...).
    pub kind: String,
    /// Recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// pending, sent or failed.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt (pending only).
    pub next_attempt_at: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// Queued at.
    pub created_at: String,
    /// Sent at.
    pub sent_at: Option<String>,
}

/// Counts by status, for the admin overview.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailStats {
    /// Waiting for a (re)try.
    pub pending: u32,
    /// Gave up; needs an admin.
    pub failed: u32,
    /// Delivered in the last 7 days.
    pub sent_last_7_days: u32,
}

/// How long a claimed message is left alone by other senders (one SMTP attempt takes at
/// most the 20 s transport timeout).
const CLAIM_SECONDS: i64 = 120;
/// Longest wait between two attempts.
const MAX_BACKOFF_SECONDS: u64 = 3600;

/// The mail queue on the platform database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Db,
    smtp: SmtpConfig,
    instance: String,
}

/// Delay before attempt `attempts + 1` after `attempts` failures: base · 2^(attempts−1),
/// capped at an hour.
pub fn backoff_seconds(base: u64, attempts: u32) -> u64 {
    let exp = attempts.saturating_sub(1).min(20);
    base.max(1)
        .saturating_mul(1u64 << exp)
        .min(MAX_BACKOFF_SECONDS)
}

fn later(seconds: i64) -> String {
    time_str(chrono::Utc::now() + chrono::Duration::seconds(seconds))
}

impl Outbox {
    /// The queue of an instance: its platform database, `[smtp]` settings and the public
    /// URL named in footers.
    pub fn new(db: Db, config: &Config, public_url: &str) -> Self {
        Self {
            db,
            smtp: config.smtp.clone(),
            instance: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// Whether SMTP is configured (otherwise nothing is queued).
    pub fn enabled(&self) -> bool {
        transport::enabled(&self.smtp)
    }

    /// The public URL named in message footers.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Queues `content` for `to` and tries it once now. Without SMTP configured nothing is
    /// queued (`id: None`). A failed first attempt stays queued for the worker.
    pub fn send(&self, kind: &str, to: &str, content: &Content) -> store::Result<Delivery> {
        if !self.enabled() {
            return Ok(Delivery {
                id: None,
                sent: false,
                error: None,
            });
        }
        let email = content.render(to, &self.instance);
        let id = self.enqueue(kind, &email, true)?;
        let error = self.attempt(id, &email)?;
        Ok(Delivery {
            id: Some(id),
            sent: error.is_none(),
            error,
        })
    }

    /// Queues a message for the worker without trying it now.
    pub fn queue(&self, kind: &str, to: &str, content: &Content) -> store::Result<Option<i64>> {
        if !self.enabled() {
            return Ok(None);
        }
        let email = content.render(to, &self.instance);
        self.enqueue(kind, &email, false).map(Some)
    }

    /// Inserts a pending row; `claimed` keeps the worker away while the caller tries it.
    fn enqueue(&self, kind: &str, email: &Email, claimed: bool) -> store::Result<i64> {
        let conn = self.db.conn()?;
        enqueue(&conn, kind, email, claimed)
    }

    /// One attempt of a claimed row; records the outcome. Returns the error, if any.
    fn attempt(&self, id: i64, email: &Email) -> store::Result<Option<String>> {
        let result = transport::send_email(&self.smtp, email);
        let conn = self.db.conn()?;
        record_attempt(&conn, &self.smtp, id, &email.to, result)
    }

    /// Sends every due message (the worker calls this every few seconds). Each row is
    /// claimed first, so two processes never send the same message twice at once.
    /// Returns how many were sent.
    pub fn deliver_due(&self, limit: u32) -> store::Result<usize> {
        if !self.enabled() {
            return Ok(0);
        }
        let due: Vec<(i64, String)> = {
            let conn = self.db.conn()?;
            let mut stmt = conn.prepare(
                "SELECT id, next_attempt_at FROM mail_outbox WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
            )?;
            stmt.query_map(params![now_str(), limit], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut sent = 0;
        for (id, at) in due {
            let email = {
                let conn = self.db.conn()?;
                let claimed = conn.execute(
                    "UPDATE mail_outbox SET next_attempt_at = ?1 WHERE id = ?2 AND status = 'pending' AND next_attempt_at = ?3",
                    params![later(CLAIM_SECONDS), id, at],
                )?;
                if claimed == 0 {
                    continue;
                }
                conn.query_row(
                    "SELECT recipient, subject, text_body, html_body FROM mail_outbox WHERE id = ?1",
                    [id],
                    |r| {
                        Ok(Email {
                            to: r.get(0)?,
                            subject: r.get(1)?,
                            text: r.get(2)?,
                            html: r.get(3)?,
                        })
                    },
                )?
            };
            if self.attempt(id, &email)?.is_none() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Recent messages, newest first, optionally of one status (admins).
    pub fn list(&self, status: Option<&str>, limit: u32) -> store::Result<Vec<QueuedMail>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, kind, recipient, subject, status, attempts, next_attempt_at, last_error, created_at, sent_at \
             FROM mail_outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![status, limit.clamp(1, 500)], |r| {
                let status: String = r.get(4)?;
                let next: String = r.get(6)?;
                Ok(QueuedMail {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    recipient: r.get(2)?,
                    subject: r.get(3)?,
                    next_attempt_at: (status == "pending").then_some(next),
                    status,
                    attempts: r.get(5)?,
                    last_error: r.get(7)?,
                    created_at: r.get(8)?,
                    sent_at: r.get(9)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Counts by status.
    pub fn stats(&self) -> store::Result<MailStats> {
        let conn = self.db.conn()?;
        let week_ago = time_str(chrono::Utc::now() - chrono::Duration::days(7));
        Ok(conn.query_row(
            "SELECT \
               (SELECT count(*) FROM mail_outbox WHERE status = 'pending'), \
               (SELECT count(*) FROM mail_outbox WHERE status = 'failed'), \
               (SELECT count(*) FROM mail_outbox WHERE status = 'sent' AND sent_at >= ?1)",
            [week_ago],
            |r| {
                Ok(MailStats {
                    pending: r.get(0)?,
                    failed: r.get(1)?,
                    sent_last_7_days: r.get(2)?,
                })
            },
        )?)
    }

    /// Puts a failed (or pending) message back at the front of the queue with a fresh
    /// attempt budget, recorded in the audit log with `actor`. `false` when there is no such
    /// unsent message.
    pub fn retry(&self, id: i64, actor: Option<&str>) -> store::Result<bool> {
        let conn = self.db.conn()?;
        let n = conn.execute(
            "UPDATE mail_outbox SET status = 'pending', attempts = 0, next_attempt_at = ?1 WHERE id = ?2 AND status IN ('pending', 'failed')",
            params![now_str(), id],
        )?;
        if n == 1 {
            crate::auth::AuthService::audit(&conn, actor, "mail.retry", &id.to_string(), "");
        }
        Ok(n == 1)
    }

    /// Deletes sent messages older than 30 days (the worker calls this now and then).
    pub fn prune(&self) -> store::Result<usize> {
        let conn = self.db.conn()?;
        let cutoff = time_str(chrono::Utc::now() - chrono::Duration::days(30));
        Ok(conn.execute(
            "DELETE FROM mail_outbox WHERE status = 'sent' AND sent_at < ?1",
            [cutoff],
        )?)
    }

    /// The status of one message (tests and the CLI).
    pub fn status_of(&self, id: i64) -> store::Result<Option<String>> {
        let conn = self.db.conn()?;
        Ok(conn
            .query_row("SELECT status FROM mail_outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

/// Inserts a pending message on `conn` (for callers that manage their own connection, such
/// as the short-lived admin CLI); `claimed` keeps the worker away while the caller tries it.
pub(crate) fn enqueue(
    conn: &rusqlite::Connection,
    kind: &str,
    email: &Email,
    claimed: bool,
) -> store::Result<i64> {
    let now = now_str();
    let next = if claimed {
        later(CLAIM_SECONDS)
    } else {
        now.clone()
    };
    conn.execute(
        "INSERT INTO mail_outbox (kind, recipient, subject, text_body, html_body, status, attempts, next_attempt_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?7)",
        params![kind, email.to, email.subject, email.text, email.html, next, now],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records the outcome of one attempt of message `id`: sent (bodies blanked), or the error
/// with the next attempt time, or failed for good after `smtp.max_attempts`. Returns the
/// error, if any.
pub(crate) fn record_attempt(
    conn: &rusqlite::Connection,
    smtp: &SmtpConfig,
    id: i64,
    to: &str,
    result: std::result::Result<(), String>,
) -> store::Result<Option<String>> {
    match result {
        Ok(()) => {
            conn.execute(
                "UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?1, last_error = NULL, \
                 text_body = '', html_body = '' WHERE id = ?2",
                params![now_str(), id],
            )?;
            tracing::info!(mail = id, to = %to, "email sent");
            Ok(None)
        }
        Err(e) => {
            let attempts: u32 = conn.query_row(
                "SELECT attempts + 1 FROM mail_outbox WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?;
            let give_up = u64::from(attempts) >= smtp.max_attempts.max(1);
            let wait = backoff_seconds(smtp.retry_base_seconds, attempts);
            conn.execute(
                "UPDATE mail_outbox SET status = ?1, attempts = ?2, last_error = ?3, next_attempt_at = ?4 WHERE id = ?5",
                params![
                    if give_up { "failed" } else { "pending" },
                    attempts,
                    e,
                    later(i64::try_from(wait).unwrap_or(3600)),
                    id
                ],
            )?;
            if give_up {
                tracing::error!(mail = id, to = %to, attempts, error = %e, "email failed for good");
            } else {
                tracing::warn!(mail = id, to = %to, attempts, retry_in = wait, error = %e, "email not sent; will retry");
            }
            Ok(Some(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_bodies_carry_the_same_content_and_html_is_escaped() {
        let c = Content {
            subject: "Reset your password".into(),
            heading: "Reset <your> password".into(),
            paragraphs: vec!["An admin issued a link & it expires.".into()],
            code: Some("123456".into()),
            action: Some(Action {
                label: "Choose a new password".into(),
                url: "https://rampart.example/reset/abc?x=1&y=2".into(),
            }),
            details: vec![("Expires".into(), "2030-01-01 10:00 UTC".into())],
            footer: "You get this because an admin asked.".into(),
        };
        let e = c.render("dev@example.com", "https://rampart.example");
        assert_eq!(e.to, "dev@example.com");
        for needle in [
            "Reset <your> password",
            "An admin issued a link & it expires.",
            "123456",
            "https://rampart.example/reset/abc?x=1&y=2",
            "Expires: 2030-01-01 10:00 UTC",
            "https://rampart.example",
        ] {
            assert!(
                e.text.contains(needle),
                "text lacks {needle:?}:\n{}",
                e.text
            );
        }
        // askama escapes to numeric character references.
        let escaped = |s: &str| {
            e.html.contains(s)
                || e.html.contains(
                    &s.replace("&#60;", "&lt;")
                        .replace("&#62;", "&gt;")
                        .replace("&#38;", "&amp;"),
                )
        };
        assert!(escaped("Reset &#60;your&#62; password"), "{}", e.html);
        assert!(escaped("link &#38; it expires"), "{}", e.html);
        assert!(e.html.contains("123456"));
        assert!(e.html.contains("Choose a new password"));
        assert!(!e.html.contains("<your>"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_seconds(60, 1), 60);
        assert_eq!(backoff_seconds(60, 2), 120);
        assert_eq!(backoff_seconds(60, 4), 480);
        assert_eq!(backoff_seconds(60, 30), 3600);
        assert_eq!(backoff_seconds(0, 1), 1);
    }
}
