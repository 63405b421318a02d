//! Users, roles and personal workspaces: first-run setup, admin-managed accounts (self-service
//! signup, when enabled, is in `signup.rs`), disable/enable, password changes, and the
//! workspaces a user sees.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::{AuthService, Caller, Error, Result, Role, invalid, now_str, password};

/// Longest email and display name accepted.
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 100;

/// A user as shown to clients (never the password hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    /// UUIDv4.
    pub id: String,
    /// Login email.
    pub email: String,
    /// Shown in the UI.
    pub display_name: String,
    /// Platform role.
    pub role: Role,
    /// Disabled users cannot log in; their sessions and keys stop working.
    pub disabled: bool,
    /// Creation time.
    pub created_at: String,
    /// TOTP enabled.
    pub totp_enabled: bool,
    /// Number of registered security keys.
    pub webauthn_keys: u32,
}

/// A new account.
#[derive(Debug, Clone, Deserialize)]
pub struct NewUser {
    /// Login email.
    pub email: String,
    /// Display name.
    #[serde(alias = "name")]
    pub display_name: String,
    /// Initial password (policy-checked).
    pub password: String,
    /// Role; defaults to `user`.
    #[serde(default)]
    pub role: Option<String>,
}

/// What a password change did besides changing the password.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PasswordChanged {
    /// Other sessions of the account that were ended.
    pub sessions_ended: usize,
    /// API keys revoked because the caller asked for it.
    pub api_keys_revoked: usize,
    /// API keys that remain valid: keys do not depend on the password.
    pub api_keys_still_valid: usize,
}

const USER_COLUMNS: &str = "u.id, u.email, u.display_name, u.role, u.disabled, u.created_at, \
     EXISTS(SELECT 1 FROM mfa_totp t WHERE t.user_id = u.id), \
     (SELECT count(*) FROM webauthn_credentials w WHERE w.user_id = u.id)";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::User),
        disabled: r.get(4)?,
        created_at: r.get(5)?,
        totp_enabled: r.get(6)?,
        webauthn_keys: r.get(7)?,
    })
}

/// Loads a user by id.
pub fn get(conn: &Connection, id: &str) -> Result<User> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1"
    ))?
    .query_row([id], user_from_row)
    .optional()?
    .ok_or(Error::NotFound("user"))
}

/// Loads a user by email (case-insensitive).
pub fn find_by_email(conn: &Connection, email: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = ?1"),
            [email.trim()],
            user_from_row,
        )
        .optional()?)
}

/// Number of accounts; zero means first-run setup is open.
pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

pub(crate) fn validate_email(email: &str) -> Result<String> {
    let e = email.trim();
    let at = e.find('@');
    let ok = e.len() <= MAX_EMAIL
        && !e.chars().any(char::is_whitespace)
        && at.is_some_and(|i| i > 0 && i < e.len() - 1 && !e[i + 1..].contains('@'));
    if ok {
        Ok(e.to_string())
    } else {
        Err(invalid("email", "must be a valid email address"))
    }
}

pub(crate) fn validate_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() {
        return Err(invalid("display_name", "must not be empty"));
    }
    if n.chars().count() > MAX_NAME {
        return Err(invalid(
            "display_name",
            format!("must be at most {MAX_NAME} characters"),
        ));
    }
    if n.chars().any(char::is_control) {
        return Err(invalid(
            "display_name",
            "must not contain control characters",
        ));
    }
    Ok(n.to_string())
}

impl AuthService {
    /// True while no account exists (the setup wizard is open).
    pub fn setup_needed(&self) -> Result<bool> {
        let conn = self.db.conn()?;
        Ok(count(&conn)? == 0)
    }

    /// First-run setup: creates the first superadmin. Runs in an immediate transaction that
    /// re-checks the user count, so concurrent setups create exactly one account.
    pub fn setup(&self, email: &str, name: &str, password_text: &str) -> Result<User> {
        let email = validate_email(email)?;
        let name = validate_name(name)?;
        password::check_policy(password_text).map_err(|e| invalid("password", e.0))?;
        let hash = self.hash_password(password_text)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if count(&tx)? > 0 {
            return Err(Error::Conflict(
                "setup is already complete; sign in instead".into(),
            ));
        }
        let id = insert_user(&tx, &email, &name, &hash, Role::Superadmin)?;
        AuthService::audit(&tx, Some(&id), "setup", &email, "first superadmin created");
        tx.commit()?;
        get(&conn, &id)
    }

    /// Creates an account (admins only). Only a superadmin may create another superadmin.
    pub fn create_user(&self, caller: &Caller, new: &NewUser) -> Result<User> {
        caller.require_admin()?;
        let role = match &new.role {
            None => Role::User,
            Some(r) => Role::parse(r)
                .ok_or_else(|| invalid("role", "must be one of user, admin, superadmin"))?,
        };
        if role == Role::Superadmin {
            caller.require_superadmin()?;
        }
        self.create_user_unchecked(Some(&caller.user_id), new, role)
    }

    /// Creates an account without a caller (the admin CLI on the server itself).
    pub fn create_user_unchecked(
        &self,
        actor: Option<&str>,
        new: &NewUser,
        role: Role,
    ) -> Result<User> {
        let email = validate_email(&new.email)?;
        let name = validate_name(&new.display_name)?;
        password::check_policy(&new.password).map_err(|e| invalid("password", e.0))?;
        let hash = self.hash_password(&new.password)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if find_by_email(&tx, &email)?.is_some() {
            return Err(Error::Conflict(format!(
                "a user with email {email} already exists"
            )));
        }
        let id = insert_user(&tx, &email, &name, &hash, role)?;
        AuthService::audit(&tx, actor, "user.create", &email, role.as_str());
        tx.commit()?;
        get(&conn, &id)
    }

    /// Every account (admins only).
    pub fn list_users(&self, caller: &Caller) -> Result<Vec<User>> {
        caller.require_admin()?;
        self.list_users_unchecked()
    }

    /// Every account, for the admin CLI/TUI on the server.
    pub fn list_users_unchecked(&self) -> Result<Vec<User>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.created_at, u.email"
        ))?;
        let users = stmt
            .query_map([], user_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(users)
    }

    /// One account by id, without an authorization check (the caller's own record, CLI).
    pub fn user(&self, id: &str) -> Result<User> {
        let conn = self.db.conn()?;
        get(&conn, id)
    }

    /// One account by email, without an authorization check (admin CLI).
    pub fn user_by_email(&self, email: &str) -> Result<User> {
        let conn = self.db.conn()?;
        find_by_email(&conn, email)?.ok_or(Error::NotFound("user"))
    }

    /// One account (admins, or the user themself).
    pub fn get_user(&self, caller: &Caller, id: &str) -> Result<User> {
        if caller.user_id != id {
            caller.require_admin()?;
        }
        let conn = self.db.conn()?;
        get(&conn, id)
    }

    /// Changes role and/or disabled state. Admins cannot act on superadmins, nobody can
    /// disable or demote themself, and at least one enabled superadmin always remains.
    pub fn update_user(
        &self,
        caller: &Caller,
        id: &str,
        role: Option<&str>,
        disabled: Option<bool>,
        display_name: Option<&str>,
    ) -> Result<User> {
        caller.require_admin()?;
        self.update_user_as(Some(caller), id, role, disabled, display_name)
    }

    /// Same as [`update_user`](Self::update_user); `caller = None` is the server's admin CLI.
    pub fn update_user_as(
        &self,
        caller: Option<&Caller>,
        id: &str,
        role: Option<&str>,
        disabled: Option<bool>,
        display_name: Option<&str>,
    ) -> Result<User> {
        let role = role
            .map(|r| {
                Role::parse(r)
                    .ok_or_else(|| invalid("role", "must be one of user, admin, superadmin"))
            })
            .transpose()?;
        let name = display_name.map(validate_name).transpose()?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let target = get(&tx, id)?;
        if let Some(c) = caller {
            if c.user_id == id && (disabled == Some(true) || role.is_some_and(|r| r < c.role)) {
                return Err(Error::Forbidden(
                    "you cannot disable or demote your own account".into(),
                ));
            }
            if c.role != Role::Superadmin
                && (target.role == Role::Superadmin || role == Some(Role::Superadmin))
            {
                return Err(Error::Forbidden(
                    "only a superadmin can change a superadmin account".into(),
                ));
            }
        }
        let losing_superadmin = target.role == Role::Superadmin
            && !target.disabled
            && (disabled == Some(true) || role.is_some_and(|r| r != Role::Superadmin));
        if losing_superadmin {
            let others: i64 = tx.query_row(
                "SELECT count(*) FROM users WHERE role = 'superadmin' AND disabled = 0 AND id != ?1",
                [id],
                |r| r.get(0),
            )?;
            if others == 0 {
                return Err(Error::Conflict(
                    "this is the last enabled superadmin; create or enable another first".into(),
                ));
            }
        }
        let now = now_str();
        if let Some(r) = role {
            tx.execute(
                "UPDATE users SET role = ?1, updated_at = ?2 WHERE id = ?3",
                params![r.as_str(), now, id],
            )?;
        }
        if let Some(n) = &name {
            tx.execute(
                "UPDATE users SET display_name = ?1, updated_at = ?2 WHERE id = ?3",
                params![n, now, id],
            )?;
        }
        if let Some(d) = disabled {
            tx.execute(
                "UPDATE users SET disabled = ?1, updated_at = ?2 WHERE id = ?3",
                params![d, now, id],
            )?;
            if d {
                // Disabling ends every session at once; API keys are refused while disabled.
                tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])?;
            }
        }
        let actor = caller.map(|c| c.user_id.as_str());
        let detail = format!(
            "role={} disabled={} name={}",
            role.map_or("-", Role::as_str),
            disabled.map_or("-".to_string(), |d| d.to_string()),
            name.is_some()
        );
        AuthService::audit(&tx, actor, "user.update", &target.email, &detail);
        tx.commit()?;
        get(&conn, id)
    }

    /// Changes the caller's password after checking the current one (throttled like
    /// sign-in); ends the caller's other sessions (the current one stays). API keys do not
    /// depend on the password: they stay valid unless `revoke_api_keys` is set, and the
    /// answer says how many were revoked or remain.
    pub fn change_password(
        &self,
        caller: &Caller,
        current: &str,
        new: &str,
        revoke_api_keys: bool,
    ) -> Result<PasswordChanged> {
        super::sessions::require_session(caller)?;
        password::check_policy(new).map_err(|e| invalid("new_password", e.0))?;
        self.reauthenticate_password(&caller.user_id, current, "current_password")?;
        let hash = self.hash_password(new)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        let now = now_str();
        tx.execute(
            "UPDATE users SET password_hash = ?1, password_changed_at = ?2, updated_at = ?2 WHERE id = ?3",
            params![hash, now, caller.user_id],
        )?;
        let keep = super::mfa::session_hash(caller);
        let sessions_ended = self.end_other_sessions(&tx, &caller.user_id, &keep)?;
        let api_keys_revoked = if revoke_api_keys {
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                params![now, caller.user_id],
            )?
        } else {
            0
        };
        let api_keys_still_valid: usize = tx.query_row(
            "SELECT count(*) FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL",
            [&caller.user_id],
            |r| r.get(0),
        )?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "user.password_change",
            &caller.email,
            &format!(
                "sessions ended: {sessions_ended}, api keys revoked: {api_keys_revoked}, still valid: {api_keys_still_valid}"
            ),
        );
        tx.commit()?;
        Ok(PasswordChanged {
            sessions_ended,
            api_keys_revoked,
            api_keys_still_valid,
        })
    }

    /// Sets a password without knowing the old one (the admin CLI on the server); ends all
    /// of that user's sessions.
    pub fn set_password_unchecked(&self, user_id: &str, new: &str) -> Result<()> {
        password::check_policy(new).map_err(|e| invalid("password", e.0))?;
        let hash = self.hash_password(new)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?1, password_changed_at = ?2, updated_at = ?2 WHERE id = ?3",
            params![hash, now_str(), user_id],
        )?;
        if n == 0 {
            return Err(Error::NotFound("user"));
        }
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        AuthService::audit(&tx, None, "user.password_reset", user_id, "admin cli");
        tx.commit()?;
        Ok(())
    }

    /// True if `password` is the user's current password (disabled users included).
    /// Not throttled: for checks that are throttled elsewhere or run by the operator. Where a
    /// signed-in caller re-enters their password, use
    /// [`reauthenticate_password`](Self::reauthenticate_password).
    pub fn check_password(&self, user_id: &str, password_text: &str) -> Result<bool> {
        let conn = self.db.conn()?;
        let hash: Option<String> = conn
            .query_row(
                "SELECT password_hash FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()?;
        match hash {
            Some(h) => self.verify_password_hash(password_text, &h),
            None => {
                self.verify_dummy(password_text)?;
                Ok(false)
            }
        }
    }

    /// Re-authentication of a signed-in user (before adding a second factor, removing one,
    /// changing the password, restoring a backup...). Shares the account's login throttle:
    /// the attempt is counted before the check and cleared when the password is right, so a
    /// stolen session cannot be used to guess the password faster than the sign-in form
    /// allows. `field` names the form field in the error.
    pub fn reauthenticate_password(
        &self,
        user_id: &str,
        password_text: &str,
        field: &'static str,
    ) -> Result<()> {
        if password_text.is_empty() {
            return Err(invalid(field, "is required: enter your current password"));
        }
        let (subject, hash) = {
            let mut conn = self.db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row: Option<(String, String)> = tx
                .query_row(
                    "SELECT email, password_hash FROM users WHERE id = ?1",
                    [user_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((email, hash)) = row else {
                return Err(Error::NotFound("user"));
            };
            let subject = super::throttle::account_subject(&email);
            let wait = self.throttle_wait(&tx, &subject)?;
            let after = self.record_failure(&tx, &subject, self.settings.account_free_failures)?;
            tx.commit()?;
            if wait > 0 {
                return Err(Error::Throttled(after.max(1)));
            }
            (subject, hash)
        };
        if !self.verify_password_hash(password_text, &hash)? {
            let conn = self.db.conn()?;
            AuthService::audit(&conn, Some(user_id), "reauth.failure", field, "");
            return Err(invalid(field, "is not correct"));
        }
        let conn = self.db.conn()?;
        conn.execute("DELETE FROM login_throttle WHERE subject = ?1", [subject])?;
        Ok(())
    }

    /// Checks that `user_id` may run a superadmin-only operation that identifies a person
    /// (platform restore): an enabled superadmin who re-entered their own password
    /// ([`reauthenticate_password`](Self::reauthenticate_password), throttled like sign-in).
    pub fn verify_superadmin_password(&self, user_id: &str, password_text: &str) -> Result<User> {
        let user = self.user(user_id)?;
        if user.disabled || user.role != Role::Superadmin {
            return Err(Error::Forbidden(format!(
                "{} is not an enabled superadmin; only a superadmin can do this",
                user.email
            )));
        }
        self.reauthenticate_password(user_id, password_text, "password")?;
        Ok(user)
    }

    pub(crate) fn hash_password(&self, password_text: &str) -> Result<String> {
        let cost = self.settings.cost;
        self.with_argon2(|| password::hash(password_text, cost))?
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    }

    /// Workspaces the user belongs to (or administers through an org), personal first.
    pub fn list_workspaces(
        &self,
        user_id: &str,
    ) -> Result<Vec<crate::tenancy::workspaces::WorkspaceInfo>> {
        let conn = self.db.conn()?;
        Ok(crate::tenancy::workspaces::list_for_user(&conn, user_id)?)
    }
}

/// The personal workspace of a user.
pub fn personal_workspace(conn: &Connection, user_id: &str) -> Result<String> {
    conn.query_row(
        "SELECT id FROM workspaces WHERE personal_owner_id = ?1",
        [user_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or(Error::NotFound("workspace"))
}

/// Inserts a user with their personal workspace (owner). Caller owns the transaction.
pub(crate) fn insert_user(
    conn: &Connection,
    email: &str,
    name: &str,
    hash: &str,
    role: Role,
) -> Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    let ws = uuid::Uuid::new_v4().to_string();
    let now = now_str();
    conn.execute(
        "INSERT INTO users (id, email, display_name, password_hash, role, disabled, created_at, updated_at, password_changed_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6, ?6)",
        params![id, email, name, hash, role.as_str(), now],
    )?;
    conn.execute(
        "INSERT INTO workspaces (id, name, personal_owner_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![ws, format!("{name}'s workspace"), id, now],
    )?;
    conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)",
        params![ws, id, now],
    )?;
    Ok(id)
}
