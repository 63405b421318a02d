//! Re-authentication for sensitive changes: a signed-in user re-enters their password or a
//! current authenticator code in the request itself. A stolen session cookie, a CSRF-able
//! form or an API key handed to an AI agent is then not enough to change what the appliance
//! trusts (CI keys, OIDC issuers and claims, the attestation requirement).
//!
//! [`AuthService::reauthenticate`] is the only way to obtain a [`Reauthenticated`] proof, so a
//! service method that takes one cannot be called without the check. A password goes through
//! [`AuthService::reauthenticate_password`] (the account's login throttle, charged before the
//! hash is checked); an authenticator code through the account's second-factor throttle, as
//! at sign-in, and is accepted once.

use rusqlite::{TransactionBehavior, params};

use super::{AuthService, Caller, Error, Result, Via, invalid, throttle};

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
    pub fn reauthenticate(&self, caller: &Caller, cred: &Credential) -> Result<Reauthenticated> {
        if !matches!(caller.via, Via::Session { .. }) {
            return Err(Error::Forbidden(
                "this change needs a signed-in session and your password; API keys (mk_, mv_) cannot make it"
                    .into(),
            ));
        }
        let method = match (&cred.password, &cred.totp_code) {
            (Some(p), _) => {
                self.reauthenticate_password(&caller.user_id, p, "password")?;
                "password"
            }
            (None, Some(code)) => {
                self.reauthenticate_totp(caller, code)?;
                "totp"
            }
            (None, None) => {
                return Err(invalid(
                    "password",
                    "re-enter your password (or send totp_code with a current authenticator code) to confirm this change",
                ));
            }
        };
        Ok(Reauthenticated {
            user_id: caller.user_id.clone(),
            method,
        })
    }

    /// A current authenticator code, under the account's second-factor throttle; the code
    /// cannot be used again (shared replay guard with sign-in).
    fn reauthenticate_totp(&self, caller: &Caller, code: &str) -> Result<()> {
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(refusal) = self.mfa_gate(&tx, &caller.user_id)? {
            tx.commit()?;
            return Err(refusal);
        }
        let Some((secret, last)) = self.load_totp(&tx, &caller.user_id)? else {
            return Err(invalid(
                "totp_code",
                "no authenticator app is set up for this account; re-enter your password instead",
            ));
        };
        let subject = throttle::mfa_subject(&caller.user_id);
        let Some(step) = self.check_totp_code(&secret, &caller.email, code, last) else {
            self.record_failure(&tx, &subject, self.settings.account_free_failures)?;
            AuthService::audit(
                &tx,
                Some(&caller.user_id),
                "reauth.failure",
                "totp_code",
                "",
            );
            tx.commit()?;
            return Err(invalid(
                "totp_code",
                "the code is not valid or was already used",
            ));
        };
        tx.execute(
            "UPDATE mfa_totp SET last_used_step = ?1 WHERE user_id = ?2",
            params![step, caller.user_id],
        )?;
        tx.execute("DELETE FROM login_throttle WHERE subject = ?1", [&subject])?;
        tx.commit()?;
        Ok(())
    }
}
