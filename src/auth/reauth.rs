//! Re-authentication for sensitive changes: a signed-in user re-enters their password or a
//! current authenticator code in the request itself. A stolen session cookie, a CSRF-able
//! form or an API key handed to an AI agent is then not enough to change what the appliance
//! trusts (CI keys, OIDC issuers and claims, the attestation requirement).
//!
//! [`AuthService::reauthenticate`] is the only way to obtain a [`Reauthenticated`] proof, so a
//! service method that takes one cannot be called without the check. Failures are throttled
//! per user with the login backoff (subject `reauth:<user id>`), counted before the password
//! hash is checked so parallel guesses cannot outrun the counter.

use chrono::Utc;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{AuthService, Caller, Error, Result, Via, invalid, parse_time, throttle, time_str};

/// What the user re-entered: the account password, or a code from their authenticator app.
#[derive(Debug, Clone, Default)]
pub struct Credential {
    /// The account password.
    pub password: Option<String>,
    /// A current 6-digit authenticator (TOTP) code.
    pub totp_code: Option<String>,
}

impl Credential {
    /// Takes `password` and `totp_code` out of a JSON request object (so the rest can be
    /// parsed with `deny_unknown_fields`). Non-string values are left in place and so are
    /// reported as unknown fields by the caller's parser.
    pub fn take_from(body: &mut serde_json::Value) -> Self {
        let mut take = |k: &str| {
            let obj = body.as_object_mut()?;
            if obj.get(k)?.is_string() {
                obj.remove(k)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .filter(|s| !s.is_empty())
            } else {
                None
            }
        };
        Credential {
            password: take("password"),
            totp_code: take("totp_code"),
        }
    }
}

/// Proof that `user_id` re-entered a credential in this request.
#[derive(Debug, Clone)]
pub struct Reauthenticated {
    user_id: String,
    method: &'static str,
}

impl Reauthenticated {
    /// The user who re-authenticated.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// `password` or `totp`, for the audit log.
    pub fn method(&self) -> &'static str {
        self.method
    }
}

impl AuthService {
    /// Checks a re-entered credential of the caller, who must be signed in with a session
    /// (API keys are refused: no key, `mk_` or `mv_`, may change what the appliance trusts).
    /// A TOTP code is accepted once (replay guard shared with sign-in).
    pub fn reauthenticate(&self, caller: &Caller, cred: &Credential) -> Result<Reauthenticated> {
        if !matches!(caller.via, Via::Session { .. }) {
            return Err(Error::Forbidden(
                "this change needs a signed-in session and your password; API keys (mk_, mv_) cannot make it"
                    .into(),
            ));
        }
        if cred.password.is_none() && cred.totp_code.is_none() {
            return Err(invalid(
                "password",
                "re-enter your password (or send totp_code with a current authenticator code) to confirm this change",
            ));
        }
        let subject = format!("reauth:{}", caller.user_id);
        // Count the attempt first, atomically, then check: parallel guesses each pay.
        {
            let mut conn = self.db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(u32, Option<String>)> = tx
                .query_row(
                    "SELECT failures, locked_until FROM login_throttle WHERE subject = ?1",
                    [&subject],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (failures, locked) = row.unwrap_or((0, None));
            if let Some(until) = locked {
                let left = (parse_time(&until) - Utc::now()).num_milliseconds();
                if left > 0 {
                    return Err(Error::Throttled((left as u64).div_ceil(1000)));
                }
            }
            let failures = failures + 1;
            let wait = throttle::lockout_seconds(
                failures,
                self.settings.account_free_failures,
                self.settings.max_lockout_seconds,
            );
            let until = (wait > 0).then(|| {
                time_str(Utc::now() + chrono::Duration::seconds(i64::try_from(wait).unwrap_or(900)))
            });
            tx.execute(
                "INSERT INTO login_throttle (subject, failures, last_failure_at, locked_until) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(subject) DO UPDATE SET failures = ?2, last_failure_at = ?3, locked_until = ?4",
                params![subject, failures, time_str(Utc::now()), until],
            )?;
            tx.commit()?;
        }
        let method = match (&cred.password, &cred.totp_code) {
            (Some(p), _) => {
                if !self.check_password(&caller.user_id, p)? {
                    self.audit_reauth_failure(caller, "password");
                    return Err(invalid("password", "is not correct"));
                }
                "password"
            }
            (None, Some(code)) => {
                let mut conn = self.db.conn()?;
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let Some((secret, last)) = self.load_totp(&tx, &caller.user_id)? else {
                    return Err(invalid(
                        "totp_code",
                        "no authenticator app is set up for this account; re-enter your password instead",
                    ));
                };
                let Some(step) = self.check_totp_code(&secret, &caller.email, code, last) else {
                    drop(tx);
                    self.audit_reauth_failure(caller, "totp");
                    return Err(invalid(
                        "totp_code",
                        "the code is not valid or was already used",
                    ));
                };
                tx.execute(
                    "UPDATE mfa_totp SET last_used_step = ?1 WHERE user_id = ?2",
                    params![step, caller.user_id],
                )?;
                tx.commit()?;
                "totp"
            }
            (None, None) => return Err(invalid("password", "re-enter your password")),
        };
        self.db
            .conn()?
            .execute("DELETE FROM login_throttle WHERE subject = ?1", [&subject])?;
        Ok(Reauthenticated {
            user_id: caller.user_id.clone(),
            method,
        })
    }

    fn audit_reauth_failure(&self, caller: &Caller, method: &str) {
        if let Ok(conn) = self.db.conn() {
            AuthService::audit(
                &conn,
                Some(&caller.user_id),
                "reauth.failure",
                &caller.email,
                method,
            );
        }
    }
}
