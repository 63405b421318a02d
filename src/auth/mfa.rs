//! Second factors: TOTP (enrollment with a code, reconfiguration as an atomic swap, replay
//! guard), recovery codes (single use, stored hashed, regenerable), removal rules, admin
//! reset, and the MFA step of login for TOTP and recovery codes. WebAuthn lives in
//! [`super::webauthn`].
//!
//! TOTP secrets are AES-256-GCM encrypted at rest with the MFA key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::sessions::{ClientInfo, NewSession, mfa_methods, require_session};
use super::users::{self, User};
use super::{AuthService, Caller, Error, Result, Via, invalid, now_str, secrets};

/// Issuer shown in authenticator apps.
const ISSUER: &str = "rampart";

/// What the user needs to add the authenticator: the secret, the otpauth URL and a QR code.
#[derive(Debug, Clone, Serialize)]
pub struct TotpEnrollment {
    /// Base32 secret for manual entry.
    pub secret: String,
    /// `otpauth://totp/...` URL.
    pub otpauth_url: String,
    /// QR code of the URL, PNG, base64.
    pub qr_png_base64: String,
}

/// What enrolling or changing a second factor from a session did.
#[derive(Debug, Clone)]
pub struct FactorChange {
    /// Fresh recovery codes (shown once) when the account had none, else empty.
    pub recovery_codes: Vec<String>,
    /// The caller's session under a new cookie and CSRF token; the old cookie is dead.
    pub session: Option<NewSession>,
    /// Other sessions of the account that were ended.
    pub sessions_ended: usize,
}

/// Prefix of recovery-code hashes keyed with the recovery key (HMAC-SHA256 over SHA-256 of
/// the normalized code). Rows without it are legacy bare SHA-256 and are re-keyed.
const RECOVERY_HASH_PREFIX: &str = "h1:";

/// MFA state of an account.
#[derive(Debug, Clone, Serialize)]
pub struct MfaStatus {
    /// Authenticator app active.
    pub totp_enabled: bool,
    /// This session is setting up a new authenticator (awaiting its first code).
    pub totp_pending: bool,
    /// Registered security keys.
    pub webauthn_keys: Vec<super::webauthn::KeyInfo>,
    /// Unused recovery codes.
    pub recovery_codes_remaining: u32,
    /// MFA is required for password accounts on this appliance.
    pub required: bool,
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new_from_slice(key).expect("32-byte AES-256 key")
}

/// Encrypts with a random 96-bit nonce: output is `nonce || ciphertext+tag`.
pub(crate) fn seal(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let nonce = secrets::random_bytes::<12>();
    let mut out = nonce.to_vec();
    out.extend(
        cipher(key)
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of a short secret cannot fail"),
    );
    out
}

/// Decrypts [`seal`] output; a wrong key or damaged data is an error, never garbage.
pub(crate) fn open(key: &[u8; 32], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return Err(Error::Internal("stored MFA secret is truncated".into()));
    }
    let (nonce, ct) = sealed.split_at(12);
    cipher(key)
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| {
            Error::Internal(
                "stored MFA secret cannot be decrypted (was MFA_ENCRYPTION_KEY changed?)".into(),
            )
        })
}

fn totp_for(secret: &[u8], account: &str) -> Result<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| Error::Internal(format!("TOTP setup failed: {e}")))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

impl AuthService {
    /// MFA state of the caller's account; `totp_pending` is about a setup started by the
    /// caller's own session (another session's setup is not this session's business).
    pub fn mfa_status(&self, caller: &Caller) -> Result<MfaStatus> {
        let user_id = caller.user_id.as_str();
        let conn = self.db.conn()?;
        let totp_enabled: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM mfa_totp WHERE user_id = ?1)",
            [user_id],
            |r| r.get(0),
        )?;
        let totp_pending: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM mfa_totp_pending WHERE user_id = ?1 AND session_hash = ?2)",
            params![user_id, session_hash(caller)],
            |r| r.get(0),
        )?;
        let remaining: u32 = conn.query_row(
            "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            [user_id],
            |r| r.get(0),
        )?;
        Ok(MfaStatus {
            totp_enabled,
            totp_pending,
            webauthn_keys: super::webauthn::list_keys(&conn, user_id)?,
            recovery_codes_remaining: remaining,
            required: self.settings.mfa_required,
        })
    }

    /// Starts TOTP enrollment from a signed-in session. The password is always required
    /// (re-authentication, throttled like sign-in). When TOTP is already on, this is a
    /// reconfiguration and also needs a current code; the old secret stays active until the
    /// new one is confirmed (atomic swap in [`confirm_totp`](Self::confirm_totp)). The
    /// pending secret belongs to this session only.
    pub fn start_totp(
        &self,
        caller: &Caller,
        password_text: Option<&str>,
        current_code: Option<&str>,
    ) -> Result<TotpEnrollment> {
        require_session(caller)?;
        let session_hash = session_hash(caller);
        self.reauthenticate_password(
            &caller.user_id,
            password_text.unwrap_or_default(),
            "password",
        )?;
        let mut conn = self.db.conn()?;
        let existing = self.load_totp(&conn, &caller.user_id)?;
        if let Some((secret, last_step)) = existing {
            let code = current_code.unwrap_or_default();
            let step = self
                .check_totp_code(&secret, &caller.email, code, last_step)
                .ok_or_else(|| {
                    invalid(
                        "code",
                        "a current code from your existing authenticator is required",
                    )
                })?;
            conn.execute(
                "UPDATE mfa_totp SET last_used_step = ?1 WHERE user_id = ?2",
                params![step, caller.user_id],
            )?;
        }
        let secret = secrets::random_bytes::<20>();
        let totp = totp_for(&secret, &caller.email)?;
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO mfa_totp_pending (user_id, secret_enc, created_at, session_hash) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(user_id) DO UPDATE SET secret_enc = ?2, created_at = ?3, session_hash = ?4",
            params![
                caller.user_id,
                seal(&self.mfa_key, &secret),
                now_str(),
                session_hash
            ],
        )?;
        tx.commit()?;
        enrollment_of(&totp)
    }

    /// The authenticator setup this session started (QR code and secret), so a page can show
    /// it again after a reload or a mistyped code without generating a new secret. `None`
    /// when no setup is pending for this session: another session of the same user (which
    /// may be someone who only knows the password) never sees it.
    pub fn pending_totp(&self, caller: &Caller) -> Result<Option<TotpEnrollment>> {
        let conn = self.db.conn()?;
        let Some(sealed) = self.pending_secret(&conn, caller)? else {
            return Ok(None);
        };
        let secret = open(&self.mfa_key, &sealed)?;
        let totp = totp_for(&secret, &caller.email)?;
        enrollment_of(&totp).map(Some)
    }

    fn pending_secret(&self, conn: &Connection, caller: &Caller) -> Result<Option<Vec<u8>>> {
        let hash = session_hash(caller);
        if hash.is_empty() {
            return Ok(None);
        }
        Ok(conn
            .query_row(
                "SELECT secret_enc FROM mfa_totp_pending WHERE user_id = ?1 AND session_hash = ?2",
                params![caller.user_id, hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Activates the pending authenticator with a code from it. Every other session of the
    /// account ends and the caller's session is rotated (new cookie): see [`FactorChange`].
    /// Fresh recovery codes come back when the account had none.
    pub fn confirm_totp(&self, caller: &Caller, code: &str) -> Result<FactorChange> {
        require_session(caller)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sealed = self.pending_secret(&tx, caller)?.ok_or_else(|| {
            Error::Conflict("no authenticator setup in progress; start the setup first".into())
        })?;
        let secret = open(&self.mfa_key, &sealed)?;
        let step = self
            .check_totp_code(&secret, &caller.email, code, 0)
            .ok_or_else(|| {
                invalid(
                    "code",
                    "the code is not valid; check the device's clock and try the current code",
                )
            })?;
        tx.execute(
            "INSERT INTO mfa_totp (user_id, secret_enc, enabled_at, last_used_step) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(user_id) DO UPDATE SET secret_enc = ?2, enabled_at = ?3, last_used_step = ?4",
            params![caller.user_id, sealed, now_str(), step],
        )?;
        tx.execute(
            "DELETE FROM mfa_totp_pending WHERE user_id = ?1",
            [&caller.user_id],
        )?;
        let change = self.factor_added(&tx, caller)?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "mfa.totp.enable",
            &caller.email,
            &format!("other sessions ended: {}", change.sessions_ended),
        );
        tx.commit()?;
        Ok(change)
    }

    /// After a factor was added: recovery codes if the account has none, every other session
    /// ended, the caller's session rotated. Runs inside the caller's transaction.
    pub(crate) fn factor_added(&self, conn: &Connection, caller: &Caller) -> Result<FactorChange> {
        let has_codes: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM mfa_recovery_codes WHERE user_id = ?1 AND used_at IS NULL)",
            [&caller.user_id],
            |r| r.get(0),
        )?;
        let recovery_codes = if has_codes {
            Vec::new()
        } else {
            self.replace_recovery_codes(conn, &caller.user_id)?
        };
        let sessions_ended =
            self.end_other_sessions(conn, &caller.user_id, &session_hash(caller))?;
        let session = self.rotate_session(conn, caller)?;
        Ok(FactorChange {
            recovery_codes,
            session,
            sessions_ended,
        })
    }

    /// Removes the authenticator after checking the password; the account's other sessions
    /// end. Blocked when it is the last factor and MFA is required.
    pub fn remove_totp(&self, caller: &Caller, password_text: &str) -> Result<()> {
        require_session(caller)?;
        self.reauthenticate_password(&caller.user_id, password_text, "password")?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if self.load_totp(&tx, &caller.user_id)?.is_none() {
            return Err(Error::NotFound("authenticator"));
        }
        let keys = super::webauthn::list_keys(&tx, &caller.user_id)?.len();
        if self.settings.mfa_required && keys == 0 {
            return Err(Error::Conflict(
                "this is your last second factor and MFA is required; add a security key first"
                    .into(),
            ));
        }
        tx.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [&caller.user_id])?;
        if keys == 0 {
            tx.execute(
                "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
                [&caller.user_id],
            )?;
        }
        // A factor change ends the account's other sessions.
        self.end_other_sessions(&tx, &caller.user_id, &session_hash(caller))?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "mfa.totp.remove",
            &caller.email,
            "",
        );
        tx.commit()?;
        Ok(())
    }

    /// Replaces the caller's recovery codes (password required); returns the new codes once.
    pub fn regenerate_recovery_codes(
        &self,
        caller: &Caller,
        password_text: &str,
    ) -> Result<Vec<String>> {
        require_session(caller)?;
        self.reauthenticate_password(&caller.user_id, password_text, "password")?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        if mfa_methods(&tx, &caller.user_id)?.is_empty() {
            return Err(Error::Conflict(
                "set up an authenticator app or security key before generating recovery codes"
                    .into(),
            ));
        }
        let codes = self.replace_recovery_codes(&tx, &caller.user_id)?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "mfa.recovery.regenerate",
            &caller.email,
            "",
        );
        tx.commit()?;
        Ok(codes)
    }

    /// Admin reset of another user's MFA (all TOTP, security keys and recovery codes).
    /// Admins cannot reset their own MFA.
    pub fn reset_mfa(&self, caller: Option<&Caller>, user_id: &str) -> Result<User> {
        if let Some(c) = caller {
            c.require_admin()?;
            if c.user_id == user_id {
                return Err(Error::Forbidden(
                    "you cannot reset your own MFA; use Settings > Account to reconfigure it"
                        .into(),
                ));
            }
        }
        let mut conn = self.db.conn()?;
        let tx = conn.transaction()?;
        let target = users::get(&tx, user_id)?;
        if let Some(c) = caller
            && target.role == super::Role::Superadmin
            && c.role != super::Role::Superadmin
        {
            return Err(Error::Forbidden(
                "only a superadmin can reset a superadmin's MFA".into(),
            ));
        }
        for table in [
            "mfa_totp",
            "mfa_totp_pending",
            "mfa_recovery_codes",
            "webauthn_credentials",
            "auth_challenges",
            "sessions",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE user_id = ?1"),
                [user_id],
            )?;
        }
        AuthService::audit(
            &tx,
            caller.map(|c| c.user_id.as_str()),
            "mfa.reset",
            &target.email,
            "",
        );
        tx.commit()?;
        users::get(&conn, user_id)
    }

    /// MFA login step with an authenticator code. A code is accepted once (replay guard).
    /// Wrong codes are counted per pre-auth token (it dies after a few) and per account
    /// (backoff across tokens), see [`AuthService::mfa_failed`].
    pub fn login_totp(
        &self,
        pre_auth_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(NewSession, User)> {
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (user_id, _) = self.peek_challenge(&tx, pre_auth_token, "pre_auth")?;
        if let Some(refused) = self.mfa_gate(&tx, &user_id)? {
            tx.commit()?;
            return Err(refused);
        }
        let user = users::get(&tx, &user_id)?;
        let (secret, last_step) = self
            .load_totp(&tx, &user_id)?
            .ok_or_else(|| invalid("method", "no authenticator app is set up for this account"))?;
        let Some(step) = self.check_totp_code(&secret, &user.email, code, last_step) else {
            let err = self.mfa_failed(
                &tx,
                pre_auth_token,
                &user_id,
                "totp",
                invalid("code", "the code is not valid or was already used"),
            )?;
            tx.commit()?;
            return Err(err);
        };
        tx.execute(
            "UPDATE mfa_totp SET last_used_step = ?1 WHERE user_id = ?2",
            params![step, user_id],
        )?;
        let out = self.finish_mfa_login(&tx, pre_auth_token, &user_id, "totp", client)?;
        tx.commit()?;
        Ok(out)
    }

    /// MFA login step with a recovery code (each code works once); counted like
    /// [`login_totp`](Self::login_totp).
    pub fn login_recovery(
        &self,
        pre_auth_token: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(NewSession, User)> {
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (user_id, _) = self.peek_challenge(&tx, pre_auth_token, "pre_auth")?;
        if let Some(refused) = self.mfa_gate(&tx, &user_id)? {
            tx.commit()?;
            return Err(refused);
        }
        self.rekey_legacy_in(&tx, Some(&user_id))?;
        let hash = self.recovery_hash(code);
        let used = tx.execute(
            "UPDATE mfa_recovery_codes SET used_at = ?1 WHERE user_id = ?2 AND code_hash = ?3 AND used_at IS NULL",
            params![now_str(), user_id, hash],
        )?;
        if used == 0 {
            let err = self.mfa_failed(
                &tx,
                pre_auth_token,
                &user_id,
                "recovery",
                invalid("code", "the recovery code is not valid or was already used"),
            )?;
            tx.commit()?;
            return Err(err);
        }
        let out = self.finish_mfa_login(&tx, pre_auth_token, &user_id, "recovery", client)?;
        tx.commit()?;
        Ok(out)
    }

    /// The stored form of a recovery code: `h1:` + hex HMAC-SHA256(recovery key, SHA-256 of
    /// the normalized code). The inner SHA-256 is what earlier versions stored, so their rows
    /// can be re-keyed without knowing the codes ([`Self::rekey_legacy_recovery_codes`]);
    /// without the key (derived from the master key, never in the database) a copy of the
    /// table does not allow testing guesses offline.
    pub(crate) fn recovery_hash(&self, code: &str) -> String {
        let inner = Sha256::digest(normalize_code(code).to_lowercase().as_bytes());
        self.rekeyed(&inner)
    }

    fn rekeyed(&self, inner_sha256: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.recovery_key.as_slice())
            .expect("HMAC accepts any key length");
        mac.update(inner_sha256);
        format!(
            "{RECOVERY_HASH_PREFIX}{}",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    /// Re-keys recovery codes stored by earlier versions (bare SHA-256, unsalted) into the
    /// keyed form, for one user or (at start) for everyone. Existing codes keep working; the
    /// bare hashes are gone afterwards. Idempotent.
    pub(crate) fn rekey_legacy_recovery_codes(&self, user_id: Option<&str>) -> Result<usize> {
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = self.rekey_legacy_in(&tx, user_id)?;
        tx.commit()?;
        if n > 0 {
            tracing::info!(codes = n, "re-keyed legacy recovery code hashes");
        }
        Ok(n)
    }

    fn rekey_legacy_in(&self, conn: &Connection, user_id: Option<&str>) -> Result<usize> {
        let mut stmt = conn.prepare(
            "SELECT id, code_hash FROM mfa_recovery_codes WHERE code_hash NOT LIKE 'h1:%' \
             AND (?1 IS NULL OR user_id = ?1)",
        )?;
        let rows = stmt
            .query_map([user_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(stmt);
        for (id, legacy) in &rows {
            let inner = hex::decode(legacy).map_err(|_| {
                Error::Internal(format!("recovery code row {id} holds an unreadable hash"))
            })?;
            conn.execute(
                "UPDATE mfa_recovery_codes SET code_hash = ?1 WHERE id = ?2",
                params![self.rekeyed(&inner), id],
            )?;
        }
        Ok(rows.len())
    }

    pub(crate) fn load_totp(
        &self,
        conn: &Connection,
        user_id: &str,
    ) -> Result<Option<(Vec<u8>, u64)>> {
        let row: Option<(Vec<u8>, i64)> = conn
            .query_row(
                "SELECT secret_enc, last_used_step FROM mfa_totp WHERE user_id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(sealed, step)| {
            Ok((
                open(&self.mfa_key, &sealed)?,
                u64::try_from(step).unwrap_or(0),
            ))
        })
        .transpose()
    }

    /// Returns the matched time step if `code` is valid and newer than `last_step`.
    pub(crate) fn check_totp_code(
        &self,
        secret: &[u8],
        account: &str,
        code: &str,
        last_step: u64,
    ) -> Option<u64> {
        let code = normalize_code(code);
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = totp_for(secret, account).ok()?;
        let step = totp.check(&code, unix_now())?;
        (step > last_step).then_some(step)
    }

    pub(crate) fn replace_recovery_codes(
        &self,
        conn: &Connection,
        user_id: &str,
    ) -> Result<Vec<String>> {
        conn.execute(
            "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
            [user_id],
        )?;
        let mut codes = Vec::with_capacity(self.settings.recovery_code_count);
        for _ in 0..self.settings.recovery_code_count {
            // 10 base32 characters (50 bits) shown as xxxxx-xxxxx.
            let raw = base32_lower(&secrets::random_bytes::<7>());
            let code = format!("{}-{}", &raw[..5], &raw[5..10]);
            conn.execute(
                "INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
                params![user_id, self.recovery_hash(&code)],
            )?;
            codes.push(code);
        }
        Ok(codes)
    }
}

/// The token hash of the caller's session ("" for API keys).
pub(crate) fn session_hash(caller: &Caller) -> String {
    match &caller.via {
        Via::Session { token_hash, .. } => token_hash.clone(),
        Via::ApiKey { .. } => String::new(),
    }
}

fn enrollment_of(totp: &totp_rs::Totp) -> Result<TotpEnrollment> {
    Ok(TotpEnrollment {
        secret: totp.secret().to_base32(),
        otpauth_url: totp
            .to_url()
            .map_err(|e| Error::Internal(format!("otpauth URL: {e}")))?,
        qr_png_base64: totp
            .to_qr_base64()
            .map_err(|e| Error::Internal(format!("QR code: {e}")))?,
    })
}

fn base32_lower(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    out
}

/// Decodes a base64 PNG for tests and the web page.
pub fn qr_png_bytes(enrollment: &TotpEnrollment) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(&enrollment.qr_png_base64)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrip_and_wrong_key_fails() {
        let key = [3u8; 32];
        let sealed = seal(&key, b"secret");
        assert_eq!(open(&key, &sealed).expect("open"), b"secret");
        assert!(open(&[4u8; 32], &sealed).is_err());
        assert!(open(&key, &sealed[..10]).is_err());
    }

    #[test]
    fn recovery_code_alphabet_has_no_ambiguous_chars() {
        let s = base32_lower(&[0xFF; 7]);
        assert_eq!(s.len(), 11);
        assert!(!s.contains('l') && !s.contains('o') && !s.contains('0') && !s.contains('1'));
    }
}
