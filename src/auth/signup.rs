//! Self-service signup (`SIGNUP_ENABLED=true`, off by default): `POST /api/auth/signup
//! {email, name, password}` emails a 6-digit code, `POST /api/auth/signup/verify {email,
//! code}` creates the account (role `user`, with its personal workspace) and signs it in.
//!
//! - Optional domain allowlist (`signup.allowed_domains`): other addresses are refused
//!   before anything is stored or sent.
//! - The answer to a signup never says whether the address already has an account: an
//!   existing account gets an email saying someone tried, a new address gets the code.
//! - The code comes from the OS RNG (uniform over 000000–999999), is stored only as
//!   HMAC-SHA256 under a key derived from the master key, expires after
//!   [`CODE_TTL_MINUTES`], and allows [`MAX_CODE_ATTEMPTS`] wrong guesses before the
//!   request is deleted. A new code for the same address needs [`RESEND_SECONDS`] between
//!   sends and at most [`MAX_SENDS`] per request; each client IP may start
//!   [`IP_FREE_SIGNUPS`] signups an hour before exponential backoff.
//! - The password is policy-checked and hashed when the request is made; the account is
//!   created only when the code matches. `MFA_REQUIRED_FOR_LOCAL` applies to the new session
//!   like to any password sign-in.

use chrono::Utc;
use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::Sha256;

use super::sessions::{ClientInfo, NewSession};
use super::users::{self, User};
use super::{AuthService, Error, Result, Role, invalid, now_str, parse_time, password};
use super::{secrets, time_str};

/// How long an emailed code works.
pub const CODE_TTL_MINUTES: i64 = 15;
/// Wrong codes allowed per request before it is deleted.
pub const MAX_CODE_ATTEMPTS: u32 = 5;
/// Least time between two codes sent to one address.
pub const RESEND_SECONDS: i64 = 60;
/// Most codes sent for one request.
pub const MAX_SENDS: u32 = 5;
/// Signups one client IP may start per hour before backoff.
pub const IP_FREE_SIGNUPS: u32 = 10;

/// The answer to a signup request (the same whether or not the address has an account).
#[derive(Debug, Clone, Serialize)]
pub struct SignupStarted {
    /// Always `verification_sent`.
    pub status: &'static str,
    /// The address the code went to (normalized).
    pub email: String,
    /// How long the code works.
    pub expires_in_seconds: i64,
}

/// Whether signup is open and for which domains (the sign-in page links to it).
#[derive(Debug, Clone, Serialize)]
pub struct SignupPolicy {
    /// `SIGNUP_ENABLED` and outgoing mail configured.
    pub enabled: bool,
    /// Allowed domains (empty: any).
    pub allowed_domains: Vec<String>,
}

fn normalize_domain(d: &str) -> String {
    d.trim().trim_start_matches('@').to_ascii_lowercase()
}

impl AuthService {
    /// Whether self-service signup is available.
    pub fn signup_policy(&self) -> SignupPolicy {
        SignupPolicy {
            enabled: self.signup.enabled && self.outbox.enabled(),
            allowed_domains: self
                .signup
                .allowed_domains
                .iter()
                .map(|d| normalize_domain(d))
                .collect(),
        }
    }

    fn require_signup_open(&self) -> Result<()> {
        if !self.signup.enabled {
            return Err(Error::Forbidden(
                "self-service signup is disabled on this appliance; ask an administrator for an account".into(),
            ));
        }
        if !self.outbox.enabled() {
            return Err(Error::Forbidden(
                "self-service signup needs outgoing mail, which is not configured (SMTP_HOST); ask an administrator for an account".into(),
            ));
        }
        Ok(())
    }

    /// Keyed hash of a code for one address.
    fn code_hash(&self, email: &str, code: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.signup_key.as_slice())
            .expect("HMAC accepts any key length");
        mac.update(email.to_lowercase().as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Starts a signup: validates, throttles, stores the pending request and emails the code
    /// (or, for an address that already has an account, a notice). Nothing is stored for a
    /// refused request.
    pub fn signup(
        &self,
        email: &str,
        name: &str,
        password_text: &str,
        client: &ClientInfo,
    ) -> Result<SignupStarted> {
        self.require_signup_open()?;
        if self.setup_needed()? {
            return Err(Error::Conflict(
                "this appliance has no administrator yet; finish the first-run setup first".into(),
            ));
        }
        let email = users::validate_email(email)?;
        let domain = email
            .rsplit('@')
            .next()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let policy = self.signup_policy();
        if !policy.allowed_domains.is_empty() && !policy.allowed_domains.contains(&domain) {
            return Err(invalid(
                "email",
                format!(
                    "signup is limited to addresses at {}",
                    policy.allowed_domains.join(", ")
                ),
            ));
        }
        let name = users::validate_name(name)?;
        password::check_policy(password_text).map_err(|e| invalid("password", e.0))?;
        self.charge_signup_ip(client)?;
        let existing = {
            let conn = self.db.conn()?;
            users::find_by_email(&conn, &email)?
        };
        let started = SignupStarted {
            status: "verification_sent",
            email: email.clone(),
            expires_in_seconds: CODE_TTL_MINUTES * 60,
        };
        if let Some(user) = existing {
            // Same answer as for a new address; the owner learns someone tried.
            let content = crate::mail::Content {
                subject: "[rampart] Someone tried to sign up with your address".into(),
                heading: "You already have an account".into(),
                paragraphs: vec![
                    format!(
                        "Someone asked to create a rampart account for {}, which already has one.",
                        user.email
                    ),
                    "If this was you, sign in instead; if you forgot your password, ask an administrator for a reset link. If it was not you, you can ignore this message: nothing was changed.".into(),
                ],
                footer: "You get this because your address was entered on the signup form.".into(),
                ..Default::default()
            };
            self.outbox
                .queue("signup_existing_account", &user.email, &content)?;
            let conn = self.db.conn()?;
            AuthService::audit(&conn, None, "signup.existing_account", &email, &client.ip);
            return Ok(started);
        }
        let hash = self.hash_password(password_text)?;
        let code = six_digit_code();
        let now = Utc::now();
        {
            let mut conn = self.db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, u32)> = tx
                .query_row(
                    "SELECT last_sent_at, sends FROM signup_requests WHERE email = ?1 AND expires_at > ?2",
                    params![email, time_str(now)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let sends = match row {
                Some((last, sends)) => {
                    let since = (now - parse_time(&last)).num_seconds();
                    if since < RESEND_SECONDS {
                        return Err(Error::Throttled(
                            u64::try_from(RESEND_SECONDS - since).unwrap_or(1).max(1),
                        ));
                    }
                    if sends >= MAX_SENDS {
                        return Err(Error::Throttled(
                            u64::try_from(CODE_TTL_MINUTES * 60).unwrap_or(900),
                        ));
                    }
                    sends + 1
                }
                None => 1,
            };
            tx.execute(
                "INSERT INTO signup_requests (email, display_name, password_hash, code_hash, attempts, sends, created_at, last_sent_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?6, ?7) \
                 ON CONFLICT(email) DO UPDATE SET display_name = ?2, password_hash = ?3, code_hash = ?4, attempts = 0, sends = ?5, last_sent_at = ?6, expires_at = ?7",
                params![
                    email,
                    name,
                    hash,
                    self.code_hash(&email, &code),
                    sends,
                    time_str(now),
                    time_str(now + chrono::Duration::minutes(CODE_TTL_MINUTES))
                ],
            )?;
            AuthService::audit(&tx, None, "signup.requested", &email, &client.ip);
            tx.commit()?;
        }
        let content = crate::mail::Content {
            subject: format!("[rampart] Your verification code: {code}"),
            heading: "Confirm your email address".into(),
            paragraphs: vec![
                format!("Enter this code to finish creating your rampart account, {name}:"),
            ],
            code: Some(code),
            details: vec![(
                "Expires".into(),
                format!("in {CODE_TTL_MINUTES} minutes"),
            )],
            footer: "You get this because your address was entered on the signup form. If it was not you, ignore this message: no account is created without the code.".into(),
            ..Default::default()
        };
        self.outbox.send("signup_code", &email, &content)?;
        Ok(started)
    }

    /// Finishes a signup with the emailed code: creates the account and signs it in.
    /// Wrong, expired and unknown codes get the same answer; the fifth wrong code deletes
    /// the request.
    pub fn verify_signup(
        &self,
        email: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(NewSession, User, bool)> {
        self.require_signup_open()?;
        let email = users::validate_email(email)?;
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let wrong = || {
            invalid(
                "code",
                "the code is wrong or has expired; request a new one",
            )
        };
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(String, String, String, u32, String)> = tx
            .query_row(
                "SELECT display_name, password_hash, code_hash, attempts, expires_at FROM signup_requests WHERE email = ?1",
                [&email],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((name, hash, code_hash, attempts, expires)) = row else {
            return Err(wrong());
        };
        if parse_time(&expires) <= Utc::now() {
            tx.execute("DELETE FROM signup_requests WHERE email = ?1", [&email])?;
            tx.commit()?;
            return Err(wrong());
        }
        let ok = code.len() == 6
            && code.bytes().all(|b| b.is_ascii_digit())
            && secrets::ct_eq(&self.code_hash(&email, &code), &code_hash);
        if !ok {
            if attempts + 1 >= MAX_CODE_ATTEMPTS {
                tx.execute("DELETE FROM signup_requests WHERE email = ?1", [&email])?;
                AuthService::audit(&tx, None, "signup.code_locked", &email, &client.ip);
            } else {
                tx.execute(
                    "UPDATE signup_requests SET attempts = attempts + 1 WHERE email = ?1",
                    [&email],
                )?;
            }
            tx.commit()?;
            return Err(wrong());
        }
        if users::find_by_email(&tx, &email)?.is_some() {
            tx.execute("DELETE FROM signup_requests WHERE email = ?1", [&email])?;
            tx.commit()?;
            return Err(Error::Conflict(format!(
                "an account for {email} already exists; sign in instead"
            )));
        }
        let user_id = users::insert_user(&tx, &email, &name, &hash, Role::User)?;
        tx.execute("DELETE FROM signup_requests WHERE email = ?1", [&email])?;
        AuthService::audit(&tx, Some(&user_id), "signup.verified", &email, &client.ip);
        let session = self.create_session(&tx, &user_id, false, client)?;
        let user = users::get(&tx, &user_id)?;
        tx.commit()?;
        Ok((session, user, self.settings.mfa_required))
    }

    /// Counts one signup from the client's IP; refuses with the wait once the hourly free
    /// allowance is used up (the count starts over an hour after the last signup).
    fn charge_signup_ip(&self, client: &ClientInfo) -> Result<()> {
        let subject = format!("signup-ip:{}", client.ip);
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hour_ago = time_str(Utc::now() - chrono::Duration::hours(1));
        tx.execute(
            "DELETE FROM login_throttle WHERE subject = ?1 AND last_failure_at < ?2",
            params![subject, hour_ago],
        )?;
        let wait = self.throttle_wait(&tx, &subject)?;
        let after = self.record_failure(&tx, &subject, IP_FREE_SIGNUPS)?;
        tx.commit()?;
        if wait > 0 {
            return Err(Error::Throttled(after.max(1)));
        }
        Ok(())
    }
}

/// A uniformly random 6-digit code from the OS RNG (rejection sampling, no modulo bias).
fn six_digit_code() -> String {
    const LIMIT: u32 = 4_294_000_000; // largest multiple of 10^6 below 2^32
    loop {
        let n = u32::from_be_bytes(secrets::random_bytes::<4>());
        if n < LIMIT {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Deletes expired signup requests (the mail worker calls this now and then).
pub fn prune_expired(conn: &rusqlite::Connection) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM signup_requests WHERE expires_at <= ?1",
        [now_str()],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::BTreeSet<String> =
            (0..200).map(|_| six_digit_code()).collect();
        assert!(codes.len() > 190, "codes repeat too often: {}", codes.len());
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
    }
}
