//! WebAuthn security keys (webauthn-rs passkeys): registration, rename, removal and the MFA
//! login step. Relying party: WEBAUTHN_RP_ID / WEBAUTHN_RP_NAME / WEBAUTHN_ORIGIN, with the
//! origin defaulting to the appliance's public URL.
//!
//! Ceremony state lives in `auth_challenges` (single use, short-lived), keyed by a token the
//! client echoes back, so no server memory is needed between the two halves.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::mfa::{FactorChange, session_hash};
use super::sessions::{ClientInfo, NewSession, require_session};
use super::users::User;
use super::{AuthService, Caller, Error, Result, invalid, now_str};

/// How long a browser has to complete a WebAuthn ceremony.
const CEREMONY_SECONDS: i64 = 300;

/// The configured relying party.
pub struct WebauthnSetup {
    webauthn: Webauthn,
    /// RP id in use (for diagnostics and the settings page).
    pub rp_id: String,
    /// Origin in use.
    pub origin: String,
}

impl WebauthnSetup {
    /// Builds the relying party from config; the origin defaults to the public URL and the
    /// RP id to the origin's host.
    pub fn new(config: &crate::config::Config, public_url: &str) -> anyhow::Result<Self> {
        let origin = if config.webauthn.origin.is_empty() {
            public_url.to_string()
        } else {
            config.webauthn.origin.clone()
        };
        let url = Url::parse(&origin)
            .map_err(|e| anyhow::anyhow!("webauthn.origin {origin:?} is not a URL: {e}"))?;
        let rp_id = if config.webauthn.rp_id.is_empty() {
            url.host_str().unwrap_or_default().to_string()
        } else {
            config.webauthn.rp_id.clone()
        };
        let webauthn = WebauthnBuilder::new(&rp_id, &url)
            .and_then(|b| b.rp_name(&config.webauthn.rp_name).build())
            .map_err(|e| {
                anyhow::anyhow!(
                    "WebAuthn relying party {rp_id:?} cannot be used with origin {origin:?} ({e}); set WEBAUTHN_RP_ID to the host name users browse to and WEBAUTHN_ORIGIN to its URL"
                )
            })?;
        Ok(Self {
            webauthn,
            rp_id,
            origin,
        })
    }
}

/// A registered key as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Credential id (base64url).
    pub id: String,
    /// User-chosen name.
    pub name: String,
    /// Registered.
    pub created_at: String,
    /// Last used to sign in.
    pub last_used_at: Option<String>,
}

/// Challenge handed to the browser plus the token to send back with the answer.
#[derive(Debug, Clone, Serialize)]
pub struct Ceremony<T> {
    /// Echo this with the browser's answer.
    pub ceremony_token: String,
    /// Pass to `navigator.credentials.create/get` (after base64url decoding of buffers).
    pub options: T,
}

/// Keys of a user.
pub fn list_keys(conn: &Connection, user_id: &str) -> Result<Vec<KeyInfo>> {
    let mut stmt = conn.prepare(
        "SELECT id, name, created_at, last_used_at FROM webauthn_credentials WHERE user_id = ?1 ORDER BY created_at",
    )?;
    let keys = stmt
        .query_map([user_id], |r| {
            Ok(KeyInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                last_used_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(keys)
}

fn passkeys(conn: &Connection, user_id: &str) -> Result<Vec<(String, Passkey)>> {
    let mut stmt =
        conn.prepare("SELECT id, passkey FROM webauthn_credentials WHERE user_id = ?1")?;
    let rows = stmt
        .query_map([user_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, json)| {
            serde_json::from_str(&json)
                .map(|pk| (id, pk))
                .map_err(|e| Error::Internal(format!("stored security key is unreadable: {e}")))
        })
        .collect()
}

fn user_uuid(user_id: &str) -> Result<Uuid> {
    Uuid::parse_str(user_id).map_err(|_| Error::Internal("user id is not a UUID".into()))
}

fn cred_id_string(pk: &Passkey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pk.cred_id().as_slice())
}

fn validate_key_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(invalid("name", "must be 1 to 64 printable characters"));
    }
    Ok(n.to_string())
}

impl AuthService {
    fn relying_party(&self) -> Result<&Webauthn> {
        match self.webauthn.as_ref() {
            Ok(setup) => Ok(&setup.webauthn),
            Err(reason) => Err(Error::Conflict(format!(
                "security keys are not available on this appliance: {reason}"
            ))),
        }
    }

    /// Starts registering a security key for the caller's session; the password is required
    /// (re-authentication, throttled like sign-in).
    pub fn start_webauthn_registration(
        &self,
        caller: &Caller,
        password_text: &str,
    ) -> Result<Ceremony<CreationChallengeResponse>> {
        require_session(caller)?;
        self.reauthenticate_password(&caller.user_id, password_text, "password")?;
        let conn = self.db.conn()?;
        let existing = passkeys(&conn, &caller.user_id)?
            .into_iter()
            .map(|(_, pk)| pk.cred_id().clone())
            .collect::<Vec<_>>();
        let (options, state) = self
            .relying_party()?
            .start_passkey_registration(
                user_uuid(&caller.user_id)?,
                &caller.email,
                &caller.display_name,
                Some(existing),
            )
            .map_err(|e| Error::Internal(format!("WebAuthn registration start failed: {e}")))?;
        let state = serde_json::to_string(&state)
            .map_err(|e| Error::Internal(format!("WebAuthn state: {e}")))?;
        let token = self.create_challenge(
            &conn,
            &caller.user_id,
            "webauthn_register",
            &state,
            chrono::Duration::seconds(CEREMONY_SECONDS),
        )?;
        Ok(Ceremony {
            ceremony_token: token,
            options,
        })
    }

    /// Completes registration with the browser's answer; stores the key under `name`. Like
    /// every added factor, this ends the account's other sessions and rotates the caller's
    /// (see [`FactorChange`]).
    pub fn finish_webauthn_registration(
        &self,
        caller: &Caller,
        ceremony_token: &str,
        name: &str,
        credential: &RegisterPublicKeyCredential,
    ) -> Result<(KeyInfo, FactorChange)> {
        require_session(caller)?;
        let name = validate_key_name(name)?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (user_id, state) = self.peek_challenge(&tx, ceremony_token, "webauthn_register")?;
        if user_id != caller.user_id {
            return Err(Error::Unauthenticated(
                "this registration belongs to another session".into(),
            ));
        }
        self.consume_challenge(&tx, ceremony_token)?;
        let state: PasskeyRegistration = serde_json::from_str(&state)
            .map_err(|e| Error::Internal(format!("WebAuthn state: {e}")))?;
        let passkey = self
            .relying_party()?
            .finish_passkey_registration(credential, &state)
            .map_err(|e| {
                invalid(
                    "credential",
                    format!("security key registration failed: {e}"),
                )
            })?;
        let info = KeyInfo {
            id: cred_id_string(&passkey),
            name,
            created_at: now_str(),
            last_used_at: None,
        };
        let json = serde_json::to_string(&passkey)
            .map_err(|e| Error::Internal(format!("WebAuthn credential: {e}")))?;
        tx.execute(
            "INSERT INTO webauthn_credentials (id, user_id, name, passkey, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![info.id, caller.user_id, info.name, json, info.created_at],
        )
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
                Error::Conflict("this security key is already registered".into())
            }
            other => other.into(),
        })?;
        let change = self.factor_added(&tx, caller)?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "mfa.webauthn.add",
            &caller.email,
            &info.name,
        );
        tx.commit()?;
        Ok((info, change))
    }

    /// Renames one of the caller's keys.
    pub fn rename_webauthn_key(&self, caller: &Caller, id: &str, name: &str) -> Result<KeyInfo> {
        let name = validate_key_name(name)?;
        let conn = self.db.conn()?;
        let n = conn.execute(
            "UPDATE webauthn_credentials SET name = ?1 WHERE id = ?2 AND user_id = ?3",
            params![name, id, caller.user_id],
        )?;
        if n == 0 {
            return Err(Error::NotFound("security key"));
        }
        list_keys(&conn, &caller.user_id)?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or(Error::NotFound("security key"))
    }

    /// Removes one of the caller's keys (password required); the account's other sessions
    /// end. Blocked when it is the last factor and MFA is required.
    pub fn remove_webauthn_key(
        &self,
        caller: &Caller,
        id: &str,
        password_text: &str,
    ) -> Result<()> {
        require_session(caller)?;
        self.reauthenticate_password(&caller.user_id, password_text, "password")?;
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let exists: Option<String> = tx
            .query_row(
                "SELECT id FROM webauthn_credentials WHERE id = ?1 AND user_id = ?2",
                params![id, caller.user_id],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(Error::NotFound("security key"));
        }
        let keys = list_keys(&tx, &caller.user_id)?.len();
        let totp: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM mfa_totp WHERE user_id = ?1)",
            [&caller.user_id],
            |r| r.get(0),
        )?;
        let last = keys == 1 && !totp;
        if last && self.settings.mfa_required {
            return Err(Error::Conflict(
                "this is your last second factor and MFA is required; add another first".into(),
            ));
        }
        tx.execute("DELETE FROM webauthn_credentials WHERE id = ?1", [id])?;
        if last {
            tx.execute(
                "DELETE FROM mfa_recovery_codes WHERE user_id = ?1",
                [&caller.user_id],
            )?;
        }
        self.end_other_sessions(&tx, &caller.user_id, &session_hash(caller))?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "mfa.webauthn.remove",
            &caller.email,
            id,
        );
        tx.commit()?;
        Ok(())
    }

    /// MFA login step, part 1: a challenge for the user's security keys.
    pub fn start_webauthn_login(
        &self,
        pre_auth_token: &str,
    ) -> Result<Ceremony<RequestChallengeResponse>> {
        let conn = self.db.conn()?;
        let (user_id, _) = self.peek_challenge(&conn, pre_auth_token, "pre_auth")?;
        let keys: Vec<Passkey> = passkeys(&conn, &user_id)?
            .into_iter()
            .map(|(_, pk)| pk)
            .collect();
        if keys.is_empty() {
            return Err(invalid(
                "method",
                "no security key is registered for this account",
            ));
        }
        let (options, state) = self
            .relying_party()?
            .start_passkey_authentication(&keys)
            .map_err(|e| Error::Internal(format!("WebAuthn login start failed: {e}")))?;
        let state = serde_json::to_string(&state)
            .map_err(|e| Error::Internal(format!("WebAuthn state: {e}")))?;
        let token = self.create_challenge(
            &conn,
            &user_id,
            "webauthn_login",
            &state,
            chrono::Duration::seconds(CEREMONY_SECONDS),
        )?;
        Ok(Ceremony {
            ceremony_token: token,
            options,
        })
    }

    /// MFA login step, part 2: verifies the assertion, updates the signature counter, opens a
    /// session. Failures count like wrong codes (per pre-auth token and per account).
    pub fn finish_webauthn_login(
        &self,
        pre_auth_token: &str,
        ceremony_token: &str,
        credential: &PublicKeyCredential,
        client: &ClientInfo,
    ) -> Result<(NewSession, User)> {
        let mut conn = self.db.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (user_id, _) = self.peek_challenge(&tx, pre_auth_token, "pre_auth")?;
        if let Some(refused) = self.mfa_gate(&tx, &user_id)? {
            tx.commit()?;
            return Err(refused);
        }
        let (ceremony_user, state) = self.peek_challenge(&tx, ceremony_token, "webauthn_login")?;
        if ceremony_user != user_id {
            return Err(Error::Unauthenticated("mismatched sign-in attempt".into()));
        }
        self.consume_challenge(&tx, ceremony_token)?;
        let state: PasskeyAuthentication = serde_json::from_str(&state)
            .map_err(|e| Error::Internal(format!("WebAuthn state: {e}")))?;
        let result = match self
            .relying_party()?
            .finish_passkey_authentication(credential, &state)
        {
            Ok(r) => r,
            Err(e) => {
                let err = self.mfa_failed(
                    &tx,
                    pre_auth_token,
                    &user_id,
                    "webauthn",
                    invalid(
                        "credential",
                        format!("security key verification failed: {e}"),
                    ),
                )?;
                tx.commit()?;
                return Err(err);
            }
        };
        for (id, mut pk) in passkeys(&tx, &user_id)? {
            if pk.update_credential(&result).is_some() {
                let json = serde_json::to_string(&pk)
                    .map_err(|e| Error::Internal(format!("WebAuthn credential: {e}")))?;
                tx.execute(
                    "UPDATE webauthn_credentials SET passkey = ?1, last_used_at = ?2 WHERE id = ?3",
                    params![json, now_str(), id],
                )?;
            }
        }
        let out = self.finish_mfa_login(&tx, pre_auth_token, &user_id, "webauthn", client)?;
        tx.commit()?;
        Ok(out)
    }
}
