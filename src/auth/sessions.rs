//! Password login (with throttling and the MFA branch), server-side sessions with idle and
//! absolute timeouts, logout, and resolving a request's credential into a [`Caller`].

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::users::{self, User};
use super::{
    AuthService, Caller, Error, Result, Role, Scope, Via, WorkspaceChoice, now_str, parse_time,
    secrets, throttle, time_str,
};
use crate::tenancy::workspaces;

/// Wrong second-factor answers one pre-auth token survives: the answer that reaches this
/// count deletes the token, and the user must give the password again.
pub const PRE_AUTH_MAX_FAILURES: u32 = 5;

/// A new browser session: the cookie value (shown once) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Cookie value; only its hash is stored.
    pub token: String,
    /// CSRF token to echo in `X-CSRF-Token` / `csrf_token` on state changes.
    pub csrf_token: String,
}

/// What the password step of a login produced.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Logged in.
    Session {
        /// The session to set as cookie.
        session: NewSession,
        /// The user.
        user: User,
        /// True when the user must enroll a second factor before anything else.
        mfa_enrollment_required: bool,
    },
    /// Password accepted; a second factor is needed.
    MfaRequired {
        /// Token for the MFA step (short-lived, single use).
        pre_auth_token: String,
        /// Available methods: `totp`, `webauthn`, `recovery`.
        methods: Vec<&'static str>,
    },
}

/// Session metadata for listing.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Handle for revocation: the first hex characters of the token's hash (never the token).
    pub id: String,
    /// True for the session making the request.
    pub current: bool,
    /// Created.
    pub created_at: String,
    /// Last request.
    pub last_seen_at: String,
    /// Client address.
    pub ip: String,
    /// Browser (User-Agent, truncated).
    pub user_agent: String,
}

/// Length of a listed session id (hex characters of the token hash: 64 bits).
const SESSION_ID_LEN: usize = 16;

fn session_id(token_hash: &str) -> String {
    token_hash.chars().take(SESSION_ID_LEN).collect()
}

/// Refuses API-key callers for operations on the account's own sessions and factors.
pub(crate) fn require_session(caller: &Caller) -> Result<()> {
    match caller.via {
        Via::Session { .. } => Ok(()),
        Via::ApiKey { .. } => Err(Error::Forbidden(
            "account security settings need a signed-in session, not an API key".into(),
        )),
    }
}

/// Request context used for throttling and session metadata.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Peer IP.
    pub ip: String,
    /// User-Agent (truncated).
    pub user_agent: String,
}

impl AuthService {
    /// Checks the password with per-account and per-IP throttling. Unknown emails and wrong
    /// passwords take the same time and give the same answer.
    ///
    /// The attempt is counted as a failure *before* the password is checked, in one immediate
    /// transaction together with the lockout check, and cleared only when the password turns
    /// out right. Concurrent attempts therefore serialize on the counter: with `free` allowed
    /// failures, at most `free` wrong passwords are ever checked before the lockout answers
    /// 429, however many arrive at once. Attempts refused while locked still count, so a
    /// burst keeps the lockout growing instead of probing at its edge.
    pub fn login(
        &self,
        email: &str,
        password_text: &str,
        client: &ClientInfo,
    ) -> Result<LoginOutcome> {
        let account = throttle::account_subject(email);
        let ip = throttle::ip_subject(&client.ip);
        let row: Option<(String, String, bool)> = {
            let mut conn = self.db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let wait = self
                .throttle_wait(&tx, &account)?
                .max(self.throttle_wait(&tx, &ip)?);
            let account_wait =
                self.record_failure(&tx, &account, self.settings.account_free_failures)?;
            let ip_wait = self.record_failure(&tx, &ip, self.settings.ip_free_failures)?;
            if wait > 0 {
                tx.commit()?;
                return Err(Error::Throttled(account_wait.max(ip_wait).max(1)));
            }
            let row = tx
                .query_row(
                    "SELECT id, password_hash, disabled FROM users WHERE email = ?1",
                    [email.trim()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            tx.commit()?;
            row
        };
        let ok_user = match &row {
            Some((id, hash, disabled)) => {
                let ok = self.verify_password_hash(password_text, hash)?;
                (ok && !disabled).then(|| id.clone())
            }
            None => {
                self.verify_dummy(password_text)?;
                None
            }
        };
        let conn = self.db.conn()?;
        let Some(user_id) = ok_user else {
            // Already counted above.
            AuthService::audit(&conn, None, "login.failure", email.trim(), &client.ip);
            return Err(Error::InvalidCredentials);
        };
        conn.execute(
            "DELETE FROM login_throttle WHERE subject IN (?1, ?2)",
            params![account, ip],
        )?;
        let methods = mfa_methods(&conn, &user_id)?;
        if !methods.is_empty() {
            let token = self.create_challenge(
                &conn,
                &user_id,
                "pre_auth",
                "",
                self.settings.pre_auth_expiry,
            )?;
            return Ok(LoginOutcome::MfaRequired {
                pre_auth_token: token,
                methods,
            });
        }
        let session = self.create_session(&conn, &user_id, false, client)?;
        AuthService::audit(
            &conn,
            Some(&user_id),
            "login.success",
            email.trim(),
            &client.ip,
        );
        Ok(LoginOutcome::Session {
            session,
            user: users::get(&conn, &user_id)?,
            mfa_enrollment_required: self.settings.mfa_required,
        })
    }

    /// Seconds `subject` must still wait (0 when not locked).
    pub(crate) fn throttle_wait(&self, conn: &Connection, subject: &str) -> Result<u64> {
        let until: Option<Option<String>> = conn
            .query_row(
                "SELECT locked_until FROM login_throttle WHERE subject = ?1",
                [subject],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match until.flatten() {
            Some(t) => {
                let left = (parse_time(&t) - Utc::now()).num_milliseconds();
                if left > 0 {
                    (left as u64).div_ceil(1000)
                } else {
                    0
                }
            }
            None => 0,
        })
    }

    /// Counts one failure of `subject` and returns the lockout it now has (seconds, 0 while
    /// within the `free` failures).
    pub(crate) fn record_failure(
        &self,
        conn: &Connection,
        subject: &str,
        free: u32,
    ) -> Result<u64> {
        let failures: u32 = conn
            .query_row(
                "SELECT failures FROM login_throttle WHERE subject = ?1",
                [subject],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0u32)
            .saturating_add(1);
        let wait = throttle::lockout_seconds(failures, free, self.settings.max_lockout_seconds);
        let until = (wait > 0).then(|| {
            time_str(Utc::now() + chrono::Duration::seconds(i64::try_from(wait).unwrap_or(900)))
        });
        conn.execute(
            "INSERT INTO login_throttle (subject, failures, last_failure_at, locked_until) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(subject) DO UPDATE SET failures = ?2, last_failure_at = ?3, locked_until = ?4",
            params![subject, failures, now_str(), until],
        )?;
        Ok(wait)
    }

    /// Creates a session row and returns the cookie value and CSRF token.
    pub(crate) fn create_session(
        &self,
        conn: &Connection,
        user_id: &str,
        mfa_satisfied: bool,
        client: &ClientInfo,
    ) -> Result<NewSession> {
        let token = secrets::token();
        let csrf_token = secrets::token();
        let now = Utc::now();
        let ua: String = client.user_agent.chars().take(200).collect();
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, mfa_satisfied, created_at, last_seen_at, absolute_expiry, ip, user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
            params![
                secrets::sha256_hex(&token),
                user_id,
                csrf_token,
                mfa_satisfied,
                time_str(now),
                time_str(now + self.settings.session_absolute),
                client.ip,
                ua
            ],
        )?;
        Ok(NewSession { token, csrf_token })
    }

    /// Ends a session (logout). Unknown tokens are fine: logging out twice is not an error.
    pub fn logout(&self, session_token: &str) -> Result<()> {
        let conn = self.db.conn()?;
        conn.execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [secrets::sha256_hex(session_token)],
        )?;
        Ok(())
    }

    /// Resolves a session cookie into a caller, enforcing timeouts and account state.
    /// `workspace` selects a workspace the user is a member of (default: personal).
    pub fn authenticate_session(
        &self,
        token: &str,
        workspace: WorkspaceChoice<'_>,
    ) -> Result<Caller> {
        let conn = self.db.conn()?;
        let hash = secrets::sha256_hex(token);
        let row: Option<(String, String, bool, String, String)> = conn
            .query_row(
                "SELECT user_id, csrf_token, mfa_satisfied, last_seen_at, absolute_expiry FROM sessions WHERE token_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((user_id, csrf_token, mfa_satisfied, last_seen, absolute)) = row else {
            return Err(Error::Unauthenticated("not signed in".into()));
        };
        let now = Utc::now();
        let last_seen = parse_time(&last_seen);
        if now > parse_time(&absolute) || now - last_seen > self.settings.session_idle {
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])?;
            return Err(Error::Unauthenticated(
                "session expired; sign in again".into(),
            ));
        }
        // Write the idle timestamp at most once a minute to keep reads cheap. Bookkeeping,
        // not data: when it cannot be written (data volume full, a long lock held by a
        // restore) the request still proceeds, so reads keep working.
        if now - last_seen > chrono::Duration::seconds(60)
            && let Err(e) = conn.execute(
                "UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2",
                params![time_str(now), hash],
            )
        {
            tracing::warn!(error = %e, "could not record session activity");
        }
        let user = users::get(&conn, &user_id)?;
        if user.disabled {
            return Err(Error::Unauthenticated("account disabled".into()));
        }
        let has_factor = !mfa_methods(&conn, &user_id)?.is_empty();
        if !mfa_satisfied && has_factor {
            // A password-only session of an account that has a second factor now: it was
            // opened before the factor was enrolled (somewhere else, since enrolling rotates
            // the enrolling session). It never becomes a full session.
            conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])?;
            return Err(Error::Unauthenticated(
                "a second factor was set up for this account; sign in again".into(),
            ));
        }
        let enrollment_pending = self.settings.mfa_required && !mfa_satisfied && !has_factor;
        let (ws, tenant) = self.resolve_workspace(&conn, &user, workspace)?;
        Ok(Caller {
            user_id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
            workspace_id: ws.workspace_id,
            workspace_role: ws.access.role,
            org_id: ws.org_id,
            tenant,
            via: Via::Session {
                token_hash: hash,
                csrf_token,
            },
            mfa_enrollment_pending: enrollment_pending,
        })
    }

    /// The caller of a key that authenticated since the platform database last changed (see
    /// [`super::memo`]): no database read and no blocking hop. `None` means: take the full
    /// path, [`AuthService::authenticate_api_key`].
    pub fn cached_api_key(&self, key: &str) -> Option<Caller> {
        if !plausible_key(key) {
            return None;
        }
        self.memo.get(&api_key_memo(key))
    }

    /// Resolves an `X-API-Key` into a caller (workspace fixed by the key).
    pub fn authenticate_api_key(&self, key: &str) -> Result<Caller> {
        let invalid = || Error::Unauthenticated("invalid or revoked API key".into());
        if !plausible_key(key) {
            return Err(invalid());
        }
        // Before any read: an answer read across a commit is not kept.
        let seen = self.memo.seen();
        let conn = self.db.conn()?;
        type KeyRow = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<KeyRow> = conn
            .prepare_cached(
                "SELECT id, user_id, workspace_id, scope, revoked_at, last_used_at FROM api_keys WHERE key_hash = ?1",
            )?
            .query_row([secrets::sha256_hex(key)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .optional()?;
        let Some((key_id, user_id, workspace_id, scope, revoked, last_used)) = row else {
            return Err(invalid());
        };
        if revoked.is_some() {
            return Err(invalid());
        }
        let user = users::get(&conn, &user_id)?;
        if user.disabled {
            return Err(Error::Unauthenticated(
                "the key's account is disabled".into(),
            ));
        }
        let Some(ws) = workspaces::resolve(&conn, &user_id, user.role, &workspace_id)?
            .filter(|r| r.access.covers_data())
        else {
            return Err(Error::Unauthenticated(
                "the key's user is no longer a member of its workspace".into(),
            ));
        };
        let scope = Scope::parse(&scope).unwrap_or(Scope::Developer);
        if scope == Scope::Verifier && !ws.access.role.can_manage() {
            return Err(Error::Unauthenticated(
                "verifier key of a user who is no longer an owner or admin of the workspace".into(),
            ));
        }
        let tenant = self.tenants.db_at(&ws.location)?;
        // Last use is recorded at most once a minute per key (every CI call writing the
        // platform database made all API traffic contend for its write lock), and it is
        // bookkeeping: a failure to record it (data volume full) does not fail the request.
        // The UPDATE is only tried when it can change something: an UPDATE that matches no
        // row still takes the platform database's write lock, which every keyed request
        // then queued for (issue 18).
        let stale = time_str(Utc::now() - chrono::Duration::seconds(60));
        if last_used.as_deref().is_none_or(|t| t < stale.as_str())
            && let Err(e) = conn.execute(
                "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 \
                 AND (last_used_at IS NULL OR last_used_at < ?3)",
                params![now_str(), key_id, stale],
            )
        {
            tracing::warn!(error = %e, "could not record API key use");
        }
        let caller = Caller {
            user_id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: if user.role == Role::Superadmin || user.role == Role::Admin {
                // Keys act in their workspace; platform administration needs a session.
                Role::User
            } else {
                user.role
            },
            workspace_id,
            workspace_role: ws.access.role,
            org_id: ws.org_id,
            tenant,
            via: Via::ApiKey { key_id, scope },
            mfa_enrollment_pending: false,
        };
        self.memo.put(seen, api_key_memo(key), caller.clone());
        Ok(caller)
    }

    /// Sessions of the caller's account, newest first; `current` marks the caller's own.
    pub fn list_sessions(&self, caller: &Caller) -> Result<Vec<SessionInfo>> {
        let conn = self.db.conn()?;
        let current = match &caller.via {
            Via::Session { token_hash, .. } => token_hash.as_str(),
            Via::ApiKey { .. } => "",
        };
        let mut stmt = conn.prepare(
            "SELECT token_hash, created_at, last_seen_at, ip, user_agent FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC",
        )?;
        let list = stmt
            .query_map([&caller.user_id], |r| {
                let hash: String = r.get(0)?;
                Ok(SessionInfo {
                    id: session_id(&hash),
                    current: hash == current,
                    created_at: r.get(1)?,
                    last_seen_at: r.get(2)?,
                    ip: r.get(3)?,
                    user_agent: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(list)
    }

    /// Ends one of the caller's sessions by its listed id (the caller's own included). Another
    /// user's session id is unknown here: `NotFound`.
    pub fn revoke_session(&self, caller: &Caller, id: &str) -> Result<()> {
        require_session(caller)?;
        let id = id.trim().to_ascii_lowercase();
        if id.len() != SESSION_ID_LEN || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NotFound("session"));
        }
        let conn = self.db.conn()?;
        let n = conn.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND substr(token_hash, 1, ?2) = ?3",
            params![caller.user_id, SESSION_ID_LEN, id],
        )?;
        if n == 0 {
            return Err(Error::NotFound("session"));
        }
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "session.revoke",
            &caller.email,
            &id,
        );
        Ok(())
    }

    /// "Sign out everywhere": ends every session of the caller, the current one included.
    /// Returns how many ended. API keys are not sessions and stay valid.
    pub fn revoke_all_sessions(&self, caller: &Caller) -> Result<usize> {
        require_session(caller)?;
        let conn = self.db.conn()?;
        let n = conn.execute("DELETE FROM sessions WHERE user_id = ?1", [&caller.user_id])?;
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "session.revoke_all",
            &caller.email,
            &n.to_string(),
        );
        Ok(n)
    }

    /// Ends every session of `user_id` except `keep` (a token hash; "" keeps none). Used when
    /// a factor or the password changes. Returns how many ended.
    pub(crate) fn end_other_sessions(
        &self,
        conn: &Connection,
        user_id: &str,
        keep: &str,
    ) -> Result<usize> {
        Ok(conn.execute(
            "DELETE FROM sessions WHERE user_id = ?1 AND token_hash != ?2",
            params![user_id, keep],
        )?)
    }

    /// Replaces the caller's session by a new one (new cookie and CSRF token) that counts as
    /// MFA-satisfied, keeping its absolute expiry; the old token stops working. Done when the
    /// session's privileges grow (a second factor was enrolled), so a token seen before
    /// cannot ride along. `None` for callers without a session.
    pub(crate) fn rotate_session(
        &self,
        conn: &Connection,
        caller: &Caller,
    ) -> Result<Option<NewSession>> {
        let Via::Session { token_hash, .. } = &caller.via else {
            return Ok(None);
        };
        let row: Option<(String, String, String)> = conn
            .query_row(
                "SELECT absolute_expiry, ip, user_agent FROM sessions WHERE token_hash = ?1",
                [token_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((absolute, ip, user_agent)) = row else {
            return Err(Error::Unauthenticated("not signed in".into()));
        };
        let token = secrets::token();
        let csrf_token = secrets::token();
        let now = time_str(Utc::now());
        conn.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, mfa_satisfied, created_at, last_seen_at, absolute_expiry, ip, user_agent) \
             VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5, ?6, ?7)",
            params![
                secrets::sha256_hex(&token),
                caller.user_id,
                csrf_token,
                now,
                absolute,
                ip,
                user_agent
            ],
        )?;
        conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(Some(NewSession { token, csrf_token }))
    }

    /// Stores a short-lived, single-use challenge (pre-auth token, WebAuthn state) and returns
    /// its token.
    pub(crate) fn create_challenge(
        &self,
        conn: &Connection,
        user_id: &str,
        kind: &str,
        state: &str,
        ttl: chrono::Duration,
    ) -> Result<String> {
        conn.execute(
            "DELETE FROM auth_challenges WHERE expires_at < ?1",
            [now_str()],
        )?;
        let token = secrets::token();
        conn.execute(
            "INSERT INTO auth_challenges (token_hash, user_id, kind, state, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                secrets::sha256_hex(&token),
                user_id,
                kind,
                state,
                time_str(Utc::now() + ttl)
            ],
        )?;
        Ok(token)
    }

    /// Looks up a live challenge: (user id, state). Does not consume it.
    pub(crate) fn peek_challenge(
        &self,
        conn: &Connection,
        token: &str,
        kind: &str,
    ) -> Result<(String, String)> {
        let row: Option<(String, String, String)> = conn
            .query_row(
                "SELECT user_id, state, expires_at FROM auth_challenges WHERE token_hash = ?1 AND kind = ?2",
                params![secrets::sha256_hex(token), kind],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match row {
            Some((user, state, exp)) if parse_time(&exp) > Utc::now() => Ok((user, state)),
            _ => Err(Error::Unauthenticated(
                "the sign-in attempt expired; enter your email and password again".into(),
            )),
        }
    }

    /// Deletes a challenge (after use).
    pub(crate) fn consume_challenge(&self, conn: &Connection, token: &str) -> Result<()> {
        conn.execute(
            "DELETE FROM auth_challenges WHERE token_hash = ?1",
            [secrets::sha256_hex(token)],
        )?;
        Ok(())
    }

    /// Refuses the second-factor step while the account's MFA throttle is active; like a
    /// password attempt, an answer refused while locked counts as a failure. `Some(error)`
    /// is the refusal: the caller commits its transaction (keeping the count) and answers it.
    pub(crate) fn mfa_gate(&self, conn: &Connection, user_id: &str) -> Result<Option<Error>> {
        let subject = throttle::mfa_subject(user_id);
        if self.throttle_wait(conn, &subject)? > 0 {
            let wait = self.record_failure(conn, &subject, self.settings.account_free_failures)?;
            return Ok(Some(Error::Throttled(wait.max(1))));
        }
        Ok(None)
    }

    /// Records a wrong second factor given with `pre_auth_token`: counts it against the
    /// account (exponential backoff like passwords, across pre-auth tokens) and against the
    /// token, which is deleted once it reaches [`PRE_AUTH_MAX_FAILURES`]; audits it. Returns
    /// the error to answer: `wrong` while the token lives, "sign in again" once it died.
    /// The caller commits its transaction before answering.
    pub(crate) fn mfa_failed(
        &self,
        conn: &Connection,
        pre_auth_token: &str,
        user_id: &str,
        method: &str,
        wrong: Error,
    ) -> Result<Error> {
        self.record_failure(
            conn,
            &throttle::mfa_subject(user_id),
            self.settings.account_free_failures,
        )?;
        let hash = secrets::sha256_hex(pre_auth_token);
        conn.execute(
            "UPDATE auth_challenges SET failures = failures + 1 WHERE token_hash = ?1",
            [&hash],
        )?;
        let failures: i64 = conn
            .query_row(
                "SELECT failures FROM auth_challenges WHERE token_hash = ?1",
                [&hash],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(i64::MAX);
        let email = users::get(conn, user_id)
            .map(|u| u.email)
            .unwrap_or_default();
        AuthService::audit(conn, Some(user_id), "login.mfa_failure", &email, method);
        if failures >= i64::from(PRE_AUTH_MAX_FAILURES) {
            self.consume_challenge(conn, pre_auth_token)?;
            return Ok(Error::Unauthenticated(
                "too many wrong answers for this sign-in attempt; enter your email and password again"
                    .into(),
            ));
        }
        Ok(wrong)
    }

    /// Completes an MFA login: consumes the pre-auth token and opens a session.
    pub(crate) fn finish_mfa_login(
        &self,
        conn: &Connection,
        pre_auth_token: &str,
        user_id: &str,
        method: &str,
        client: &ClientInfo,
    ) -> Result<(NewSession, User)> {
        self.consume_challenge(conn, pre_auth_token)?;
        let user = users::get(conn, user_id)?;
        if user.disabled {
            return Err(Error::InvalidCredentials);
        }
        conn.execute(
            "DELETE FROM login_throttle WHERE subject = ?1",
            [throttle::mfa_subject(user_id)],
        )?;
        let session = self.create_session(conn, user_id, true, client)?;
        AuthService::audit(conn, Some(user_id), "login.success", &user.email, method);
        Ok((session, user))
    }
}

/// Second factors a user has set up, in chooser order.
pub fn mfa_methods(conn: &Connection, user_id: &str) -> Result<Vec<&'static str>> {
    let totp: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM mfa_totp WHERE user_id = ?1)",
        [user_id],
        |r| r.get(0),
    )?;
    let keys: i64 = conn.query_row(
        "SELECT count(*) FROM webauthn_credentials WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    let codes: i64 = conn.query_row(
        "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        [user_id],
        |r| r.get(0),
    )?;
    let mut methods = Vec::new();
    if totp {
        methods.push("totp");
    }
    if keys > 0 {
        methods.push("webauthn");
    }
    if !methods.is_empty() && codes > 0 {
        methods.push("recovery");
    }
    Ok(methods)
}

impl AuthService {
    /// Resolves the workspace of a session request and the database holding it. Only
    /// access that covers data counts (a superadmin's management access does not).
    fn resolve_workspace(
        &self,
        conn: &Connection,
        user: &User,
        choice: WorkspaceChoice<'_>,
    ) -> Result<(workspaces::Resolved, crate::store::Db)> {
        let pick = |id: &str| -> Result<Option<workspaces::Resolved>> {
            Ok(workspaces::resolve(conn, &user.id, user.role, id)?
                .filter(|r| r.access.covers_data()))
        };
        let personal = || -> Result<workspaces::Resolved> {
            let id = users::personal_workspace(conn, &user.id)?;
            pick(&id)?.ok_or(Error::NotFound("workspace"))
        };
        let ws = match choice {
            WorkspaceChoice::Explicit(id) if !id.is_empty() => {
                pick(id)?.ok_or(Error::NotFound("workspace"))?
            }
            WorkspaceChoice::Preferred(id) if !id.is_empty() => match pick(id)? {
                Some(r) if !matches!(r.location, crate::tenancy::Location::Shredded { .. }) => r,
                _ => personal()?,
            },
            _ => personal()?,
        };
        let db = self.tenants.db_at(&ws.location)?;
        Ok((ws, db))
    }

    /// The same caller acting in another workspace (paths like `/api/workspaces/{id}/…`).
    /// API keys are bound to their workspace: any other is not found.
    pub fn in_workspace(&self, caller: &Caller, workspace_id: &str) -> Result<Caller> {
        if caller.workspace_id == workspace_id {
            return Ok(caller.clone());
        }
        if caller.scope().is_some() {
            return Err(Error::NotFound("workspace"));
        }
        let conn = self.db.conn()?;
        let user = users::get(&conn, &caller.user_id)?;
        let (ws, tenant) =
            self.resolve_workspace(&conn, &user, WorkspaceChoice::Explicit(workspace_id))?;
        let mut out = caller.clone();
        out.workspace_id = ws.workspace_id;
        out.workspace_role = ws.access.role;
        out.org_id = ws.org_id;
        out.tenant = tenant;
        Ok(out)
    }
}

/// Whether `key` has the shape of an API key (`mk_`/`mv_`, bounded length); anything else
/// is refused without a look-up.
fn plausible_key(key: &str) -> bool {
    (key.starts_with("mk_") || key.starts_with("mv_")) && key.len() <= 100
}

/// Memo key of an API key's caller: the key's hash, as stored, never the key itself.
fn api_key_memo(key: &str) -> String {
    format!("api-key:{}", secrets::sha256_hex(key))
}
