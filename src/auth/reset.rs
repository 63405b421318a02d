//! Password reset by an admin-issued link. There is no "forgot password" form that anyone
//! can trigger: an admin (or the operator with `rampart admin user reset-link`) issues a
//! link for one account, which is emailed when SMTP is configured and shown to the admin
//! either way (to hand over by another channel when mail is down).
//!
//! The link (`<public_url>/reset/<token>`) carries 32 random bytes; only their SHA-256 is
//! stored. It works once, expires after [`RESET_TTL_HOURS`], and a newer link replaces older
//! ones. Using it sets the password (policy-checked), ends every session of the account and
//! clears its sign-in throttle; second factors are untouched (an admin resets those
//! separately).

use chrono::Utc;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::users::{self, User};
use super::{AuthService, Caller, Error, Result, Role, invalid, now_str, parse_time, password};
use super::{secrets, time_str};

/// How long a reset link works.
pub const RESET_TTL_HOURS: i64 = 24;

/// A freshly issued link, shown once to the admin who asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct ResetLink {
    /// The account.
    pub user_id: String,
    /// Its email.
    pub email: String,
    /// The one-time link.
    pub reset_url: String,
    /// When it stops working.
    pub expires_at: String,
    /// Whether the email went out at the first attempt.
    pub emailed: bool,
    /// Why not, when SMTP is configured but the first attempt failed (it stays queued and is
    /// retried).
    pub email_error: Option<String>,
}

/// What the reset page shows before a new password is chosen.
#[derive(Debug, Clone, Serialize)]
pub struct ResetInfo {
    /// The account's email.
    pub email: String,
    /// When the link stops working.
    pub expires_at: String,
}

impl AuthService {
    /// Issues a reset link for `user_id` (admins, from a signed-in session). Only a
    /// superadmin may reset a superadmin; nobody resets their own password this way (they
    /// change it in Settings › Account, which asks for the current one).
    pub fn issue_password_reset(&self, caller: &Caller, user_id: &str) -> Result<ResetLink> {
        super::sessions::require_session(caller)?;
        caller.require_admin()?;
        let target = {
            let conn = self.db.conn()?;
            users::get(&conn, user_id)?
        };
        if target.role == Role::Superadmin {
            caller.require_superadmin()?;
        }
        if target.id == caller.user_id {
            return Err(invalid(
                "user",
                "you cannot issue a reset link for yourself; change your password in Settings › Account",
            ));
        }
        self.issue_reset(Some(&caller.user_id), &caller.display_name, &target)
    }

    /// Issues a reset link by email address without a caller (the admin CLI on the server).
    pub fn issue_password_reset_unchecked(&self, email: &str) -> Result<ResetLink> {
        let target = {
            let conn = self.db.conn()?;
            users::find_by_email(&conn, email.trim())?.ok_or(Error::NotFound("user"))?
        };
        self.issue_reset(None, "The administrator of this appliance", &target)
    }

    fn issue_reset(&self, actor: Option<&str>, issuer: &str, target: &User) -> Result<ResetLink> {
        let token = secrets::base62(&secrets::random_bytes::<32>());
        let now = Utc::now();
        let expires = now + chrono::Duration::hours(RESET_TTL_HOURS);
        {
            let mut conn = self.db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A newer link replaces older ones.
            tx.execute(
                "DELETE FROM password_resets WHERE user_id = ?1",
                [&target.id],
            )?;
            tx.execute(
                "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    secrets::sha256_hex(&token),
                    target.id,
                    actor,
                    time_str(now),
                    time_str(expires)
                ],
            )?;
            AuthService::audit(
                &tx,
                actor,
                "user.password_reset_link",
                &target.email,
                "reset link issued",
            );
            tx.commit()?;
        }
        let reset_url = format!("{}/reset/{token}", self.public_url);
        let expiry = expires.format("%Y-%m-%d %H:%M UTC").to_string();
        let content = crate::mail::Content {
            subject: "[rampart] Choose a new password".into(),
            heading: "Choose a new password".into(),
            paragraphs: vec![
                format!(
                    "{issuer} issued a link to set a new password for your rampart account {}.",
                    target.email
                ),
                "The link works once. Using it signs you out everywhere; your second factors stay as they are.".into(),
                "If you did not ask for this, tell your administrator and ignore this message.".into(),
            ],
            action: Some(crate::mail::Action {
                label: "Choose a new password".into(),
                url: reset_url.clone(),
            }),
            details: vec![("Expires".into(), expiry)],
            footer: "You get this because an administrator issued a password reset link for your account.".into(),
            ..Default::default()
        };
        let delivery = self
            .outbox
            .send("password_reset", &target.email, &content)?;
        Ok(ResetLink {
            user_id: target.id.clone(),
            email: target.email.clone(),
            reset_url,
            expires_at: time_str(expires),
            emailed: delivery.sent,
            email_error: delivery.error,
        })
    }

    /// What a reset link is for; unknown, used and expired links are all "not found".
    pub fn password_reset_info(&self, token: &str) -> Result<ResetInfo> {
        let conn = self.db.conn()?;
        let (user_id, expires_at) = valid_reset(&conn, token)?;
        let user = users::get(&conn, &user_id)?;
        Ok(ResetInfo {
            email: user.email,
            expires_at,
        })
    }

    /// Sets a new password through a reset link: policy-checked, the link is used up, every
    /// session of the account ends and its sign-in throttle is cleared.
    pub fn complete_password_reset(&self, token: &str, new_password: &str) -> Result<User> {
        {
            let conn = self.db.conn()?;
            valid_reset(&conn, token)?;
        }
        password::check_policy(new_password).map_err(|e| invalid("password", e.0))?;
        let hash = self.hash_password(new_password)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-checked inside the transaction: two submissions of one link set one password.
        let (user_id, _) = valid_reset(&tx, token)?;
        let now = now_str();
        tx.execute(
            "UPDATE users SET password_hash = ?1, password_changed_at = ?2, updated_at = ?2 WHERE id = ?3",
            params![hash, now, user_id],
        )?;
        tx.execute(
            "UPDATE password_resets SET used_at = ?1 WHERE token_hash = ?2",
            params![now, secrets::sha256_hex(token)],
        )?;
        tx.execute(
            "DELETE FROM password_resets WHERE user_id = ?1 AND used_at IS NULL",
            [&user_id],
        )?;
        let ended = tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&user_id])?;
        let user = users::get(&tx, &user_id)?;
        tx.execute(
            "DELETE FROM login_throttle WHERE subject = ?1",
            [super::throttle::account_subject(&user.email)],
        )?;
        AuthService::audit(
            &tx,
            Some(&user_id),
            "user.password_reset",
            &user.email,
            &format!("reset link used; {ended} session(s) ended"),
        );
        tx.commit()?;
        Ok(user)
    }
}

/// The account and expiry of a usable link.
fn valid_reset(conn: &rusqlite::Connection, token: &str) -> Result<(String, String)> {
    let row: Option<(String, String, Option<String>)> = conn
        .query_row(
            "SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?1",
            [secrets::sha256_hex(token.trim())],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match row {
        Some((user, expires, None)) if parse_time(&expires) > Utc::now() => Ok((user, expires)),
        _ => Err(Error::NotFound("reset link")),
    }
}
