//! CI attestation: per-workspace ECDSA P-256 public keys (upload rotates, history kept for
//! audit), the workspace's attestation policy, ES256 JWTs for the spec's manual flow, and
//! verification of the signatures a results submission carries. Every check fails closed:
//! a signature that is present but does not verify rejects the submission.

use base64::Engine as _;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AssuranceService, Error, Result, invalid};
use crate::auth::reauth::Reauthenticated;
use crate::auth::{Caller, Via, now_str};
use crate::crypto::signing::PublicKey;

/// A workspace CI key, current or past.
#[derive(Debug, Clone, Serialize)]
pub struct CiKey {
    /// SHA-256 of the DER SPKI, hex.
    pub fingerprint: String,
    /// The public key.
    pub public_key_pem: String,
    /// Uploaded.
    pub created_at: String,
    /// Replaced by a newer key (kept to verify old audit bundles).
    pub revoked_at: Option<String>,
}

/// Attestation policy and keys of a workspace.
#[derive(Debug, Clone, Serialize)]
pub struct Security {
    /// Workspace.
    pub workspace_id: String,
    /// The active key, if any.
    pub ci_key: Option<CiKey>,
    /// Every key ever uploaded, newest first.
    pub key_history: Vec<CiKey>,
    /// Unattested submissions are refused.
    pub require_attestation: bool,
    /// Custom OIDC issuers trusted besides the platform defaults.
    pub trusted_issuers: Vec<String>,
    /// Claims OIDC tokens must carry (e.g. repository, environment).
    pub required_claims: serde_json::Map<String, Value>,
    /// The `aud` OIDC tokens must name: the workspace's own setting, or the appliance's
    /// public URL.
    pub oidc_audience: String,
    /// True when `oidc_audience` is the default (the public URL), not a workspace setting.
    pub oidc_audience_is_default: bool,
    /// Why OIDC tokens cannot attest for this workspace yet (no repository binding, no
    /// audience), or `None` when they can.
    pub oidc_unbound_reason: Option<String>,
}

/// Changes to the policy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityPatch {
    /// Refuse unattested submissions.
    #[serde(default)]
    pub require_attestation: Option<bool>,
    /// Replace the custom issuers.
    #[serde(default)]
    pub trusted_issuers: Option<Vec<String>>,
    /// Replace the required claims.
    #[serde(default)]
    pub required_claims: Option<serde_json::Map<String, Value>>,
    /// Replace the OIDC audience; `""` goes back to the appliance's public URL.
    #[serde(default)]
    pub oidc_audience: Option<String>,
}

/// How a verification run was attested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attested {
    /// `workspace_ecdsa`, `customer_dsse`, `sigstore` (stored, not verified offline) or `unsigned`.
    pub kind: &'static str,
    /// Fingerprint of the key that verified.
    pub fingerprint: Option<String>,
    /// Exactly the bytes the signature covers (for the audit bundle's openssl command).
    pub signed_bytes: Option<Vec<u8>>,
}

fn keys(conn: &Connection, workspace: &str) -> Result<Vec<CiKey>> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, public_key_pem, created_at, revoked_at FROM ci_keys WHERE workspace_id = ?1 ORDER BY created_at DESC",
    )?;
    let list = stmt
        .query_map([workspace], |r| {
            Ok(CiKey {
                fingerprint: r.get(0)?,
                public_key_pem: r.get(1)?,
                created_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(list)
}

/// The active CI key of a workspace.
pub fn active_key(conn: &Connection, workspace: &str) -> Result<Option<PublicKey>> {
    Ok(keys(conn, workspace)?
        .into_iter()
        .find(|k| k.revoked_at.is_none())
        .and_then(|k| PublicKey::from_pem(&k.public_key_pem).ok()))
}

/// A key of the workspace's history by fingerprint (for audit bundles of old runs).
pub fn key_by_fingerprint(conn: &Connection, workspace: &str, fp: &str) -> Result<Option<CiKey>> {
    Ok(keys(conn, workspace)?
        .into_iter()
        .find(|k| k.fingerprint == fp))
}

/// The OIDC settings of a workspace: issuers, required claims and the audience (its own, or
/// `default_audience`, the appliance's public URL).
pub fn load_policy(conn: &Connection, workspace: &str, default_audience: &str) -> Result<Security> {
    load_security(conn, workspace, default_audience)
}

/// Whether the workspace refuses unattested submissions.
pub fn requires_attestation(conn: &Connection, workspace: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT require_attestation FROM workspace_security WHERE workspace_id = ?1",
            [workspace],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(false))
}

fn b64(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| Error::Attestation("signature is not valid base64".into()))
}

/// What an attestation must be bound to: the submission it arrived with.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    /// The model the results are for.
    pub model_id: &'a str,
    /// The tier of every row, or `None` when the rows mix tiers.
    pub tier: Option<u8>,
    /// The recomputed `content_hash` of the received rows (CLI flow).
    pub content_hash: &'a str,
    /// The exact text of the `results` array (the spec's manual flow signs its SHA-256).
    pub raw_results: &'a str,
}

/// Checks the attestation fields of a results submission against the workspace's active key,
/// and that what they sign is this submission (results, model and tier).
pub fn verify_submission(
    conn: &Connection,
    workspace: &str,
    body: &Value,
    sub: &Submitted<'_>,
) -> Result<Attested> {
    let (content_hash, raw_results) = (sub.content_hash, sub.raw_results);
    let field = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(bundle) = field("dsse_bundle") {
        return verify_dsse(conn, workspace, bundle, sub);
    }
    if let (Some(signature), Some(signed_hash)) = (field("signature"), field("signed_hash")) {
        let key = active_key(conn, workspace)?.ok_or_else(|| {
            Error::Attestation(
                "the submission is signed, but this workspace has no CI signing key; upload the public key in workspace security settings".into(),
            )
        })?;
        let der = b64(signature)?;
        let (digest, signed): ([u8; 32], Vec<u8>) =
            if let Some(hex_part) = signed_hash.strip_prefix("sha256:") {
                // Manual flow: signed_hash = "sha256:" + hex(sha256(raw results text)), and the
                // signature covers that ASCII text.
                let expected = format!(
                    "sha256:{}",
                    hex::encode(Sha256::digest(raw_results.as_bytes()))
                );
                if signed_hash != expected || hex_part.len() != 64 {
                    return Err(Error::Attestation(
                        "signed_hash does not match the SHA-256 of the submitted results".into(),
                    ));
                }
                (
                    Sha256::digest(signed_hash.as_bytes()).into(),
                    signed_hash.as_bytes().to_vec(),
                )
            } else {
                // CLI flow: signed_hash is content_hash without its prefix; the signature covers
                // the 32 digest bytes.
                if Some(signed_hash) != content_hash.strip_prefix("sha256:") {
                    return Err(Error::Attestation(
                        "signed_hash does not match the recomputed content_hash".into(),
                    ));
                }
                let raw = hex::decode(signed_hash)
                    .map_err(|_| Error::Attestation("signed_hash is not hex".into()))?;
                (Sha256::digest(&raw).into(), raw)
            };
        if !key.verify_sha256(&digest, &der) {
            return Err(Error::Attestation(
                "signature does not verify with the workspace's CI key".into(),
            ));
        }
        return Ok(Attested {
            kind: "workspace_ecdsa",
            fingerprint: Some(key.fingerprint_hex()),
            signed_bytes: Some(signed),
        });
    }
    if field("signature").is_some() || field("signed_hash").is_some() {
        return Err(invalid(
            "signature",
            "signature and signed_hash must be sent together",
        ));
    }
    if field("bundle").is_some() {
        return Ok(Attested {
            kind: "sigstore",
            fingerprint: None,
            signed_bytes: None,
        });
    }
    Ok(Attested {
        kind: "unsigned",
        fingerprint: None,
        signed_bytes: None,
    })
}

fn verify_dsse(
    conn: &Connection,
    workspace: &str,
    bundle: &str,
    sub: &Submitted<'_>,
) -> Result<Attested> {
    let key = active_key(conn, workspace)?.ok_or_else(|| {
        Error::Attestation("dsse_bundle given, but this workspace has no registered CI key".into())
    })?;
    let Some(tier) = sub.tier else {
        return Err(Error::Attestation(
            "a dsse_bundle attests one tier; submit tier 1 and tier 2 results separately".into(),
        ));
    };
    let verifying = crate::wire::load_verifying_key_pem(&key.to_pem())
        .map_err(|e| Error::Attestation(e.to_string()))?;
    crate::wire::verify_dsse_binding(&verifying, bundle, sub.content_hash, sub.model_id, tier)
        .map_err(|e| match e {
            crate::wire::SignError::Mismatch => Error::Attestation(
                "dsse_bundle signature does not verify with the workspace's registered key"
                    .into(),
            ),
            crate::wire::SignError::Unbound(m) => {
                Error::Attestation(format!("dsse_bundle is not bound to this submission: {m}"))
            }
            _ => Error::Attestation(
                "dsse_bundle is malformed: expected {payloadType, payload, signature} with base64 payload and DER signature".into(),
            ),
        })?;
    // What an auditor re-verifies: the PAE of the payload, exactly as signed.
    let v: Value = serde_json::from_str(bundle)
        .map_err(|_| Error::Attestation("dsse_bundle is not JSON".into()))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
    let message = crate::wire::dsse::pae(s("payloadType"), &b64(s("payload"))?);
    Ok(Attested {
        kind: "customer_dsse",
        fingerprint: Some(key.fingerprint_hex()),
        signed_bytes: Some(message),
    })
}

/// The (unverified) workspace a bearer token names in `sub`: only used to find the database
/// holding that workspace's CI key; [`verify_bearer`] then checks the token properly.
pub fn bearer_subject(token: &str) -> Result<String> {
    let bad = |m: &str| Error::Attestation(format!("invalid bearer token: {m}"));
    let payload = token.split('.').nth(1).ok_or_else(|| bad("malformed"))?;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad("malformed"))?,
    )
    .map_err(|_| bad("malformed"))?;
    claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad("no sub"))
}

/// Verifies an ES256 bearer token of the manual flow: signed by the workspace's active CI
/// key, `sub` = workspace id, lifetime at most 5 minutes, and a `jti` never seen before for
/// this workspace (each token is accepted once; ids are remembered until the token expires).
/// Returns the workspace id.
pub fn verify_bearer(conn: &Connection, token: &str) -> Result<String> {
    use jwt_simple::prelude::*;
    let bad = |m: &str| Error::Attestation(format!("invalid bearer token: {m}"));
    let metadata = Token::decode_metadata(token).map_err(|_| bad("malformed"))?;
    if metadata.algorithm() != "ES256" {
        return Err(bad("only ES256 is accepted"));
    }
    // Peek at the (untrusted) subject to find the workspace, then verify properly.
    let payload = token.split('.').nth(1).ok_or_else(|| bad("malformed"))?;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad("malformed"))?,
    )
    .map_err(|_| bad("malformed"))?;
    let workspace = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no sub"))?
        .to_string();
    let key = active_key(conn, &workspace)?.ok_or_else(|| bad("workspace has no CI key"))?;
    let public = ES256PublicKey::from_pem(&key.to_pem()).map_err(|_| bad("key"))?;
    let opts = VerificationOptions {
        time_tolerance: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let verified = public
        .verify_token::<NoCustomClaims>(token, Some(opts))
        .map_err(|e| bad(&e.to_string()))?;
    match (verified.issued_at, verified.expires_at) {
        (Some(iat), Some(exp)) if exp.as_secs() <= iat.as_secs() + 300 => {}
        _ => {
            return Err(bad(
                "iat and exp are required and the lifetime may be at most 300 seconds",
            ));
        }
    }
    if verified.subject.as_deref() != Some(workspace.as_str()) {
        return Err(bad("sub mismatch"));
    }
    let jti = verified
        .jwt_id
        .filter(|j| !j.is_empty() && j.len() <= 200)
        .ok_or_else(|| {
            bad("a unique jti (JWT id) is required, at most 200 characters; mint a new token per request")
        })?;
    let expires = verified
        .expires_at
        .map(|e| e.as_secs())
        .and_then(|s| i64::try_from(s).ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .ok_or_else(|| bad("exp out of range"))?;
    let now = now_str();
    conn.execute("DELETE FROM bearer_jti WHERE expires_at < ?1", [&now])?;
    let fresh = conn.execute(
        "INSERT INTO bearer_jti (workspace_id, jti, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![
            workspace,
            jti,
            crate::auth::time_str(expires + chrono::Duration::seconds(60))
        ],
    )?;
    if fresh == 0 {
        return Err(bad(
            "this token was already used (replay); mint a new one per request",
        ));
    }
    Ok(workspace)
}

impl AssuranceService {
    /// The workspace's attestation settings (members may read; it holds no secrets).
    pub fn security(&self, caller: &Caller, workspace: &str) -> Result<Security> {
        let conn = caller.tenant.conn()?;
        member(caller, workspace)?;
        load_security(&conn, workspace, &self.public_url)
    }

    /// Uploads a CI public key; the previous key is revoked for new submissions but kept.
    /// Only a workspace owner/admin signed in with a session who re-entered a credential in
    /// this request ([`Reauthenticated`]); recorded in the audit log.
    pub fn upload_ci_key(
        &self,
        caller: &Caller,
        workspace: &str,
        pem: &str,
        proof: &Reauthenticated,
    ) -> Result<Security> {
        let mut conn = caller.tenant.conn()?;
        require_security_admin(caller, workspace, proof)?;
        let key = PublicKey::from_pem(pem).map_err(|m| invalid("public_key_pem", m))?;
        let fp = key.fingerprint_hex();
        let tx = conn.transaction()?;
        let now = now_str();
        if keys(&tx, workspace)?
            .iter()
            .any(|k| k.fingerprint == fp && k.revoked_at.is_none())
        {
            return Err(Error::Invalid {
                field: "public_key_pem".into(),
                message: "this key is already the active CI key".into(),
            });
        }
        tx.execute(
            "UPDATE ci_keys SET revoked_at = ?1 WHERE workspace_id = ?2 AND revoked_at IS NULL",
            params![now, workspace],
        )?;
        tx.execute(
            "INSERT INTO ci_keys (fingerprint, workspace_id, public_key_pem, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(workspace_id, fingerprint) DO UPDATE SET revoked_at = NULL, created_at = ?5",
            params![fp, workspace, key.to_pem(), caller.user_id, now],
        )?;
        tx.commit()?;
        crate::auth::AuthService::audit(
            &*self.db.conn()?,
            Some(&caller.user_id),
            "ci_key.upload",
            workspace,
            &format!("fingerprint={fp} reauth={}", proof.method()),
        );
        load_security(&conn, workspace, &self.public_url)
    }

    /// Changes the attestation policy: same rule as [`upload_ci_key`](Self::upload_ci_key)
    /// (session of a workspace owner/admin, credential re-entered); audited.
    pub fn update_security(
        &self,
        caller: &Caller,
        workspace: &str,
        patch: &SecurityPatch,
        proof: &Reauthenticated,
    ) -> Result<Security> {
        let mut conn = caller.tenant.conn()?;
        require_security_admin(caller, workspace, proof)?;
        let mut current = load_security(&conn, workspace, &self.public_url)?;
        if let Some(r) = patch.require_attestation {
            current.require_attestation = r;
        }
        if let Some(list) = &patch.trusted_issuers {
            if list.len() > 20 {
                return Err(invalid("trusted_issuers", "at most 20 issuers"));
            }
            for (i, iss) in list.iter().enumerate() {
                super::oidc::check_issuer_url(iss, self.jwks.allow_private)
                    .map_err(|m| invalid(format!("trusted_issuers[{i}]"), m))?;
            }
            current.trusted_issuers = list.clone();
        }
        if let Some(claims) = &patch.required_claims {
            if claims.len() > 20 {
                return Err(invalid("required_claims", "at most 20 claims"));
            }
            for (k, v) in claims {
                if k.is_empty() || k.len() > 100 || v.to_string().len() > 500 {
                    return Err(invalid(
                        format!("required_claims.{k}"),
                        "claim names are 1-100 characters and values at most 500",
                    ));
                }
            }
            current.required_claims = claims.clone();
        }
        let mut audience = None;
        if let Some(aud) = &patch.oidc_audience {
            let aud = aud.trim();
            if aud.len() > 300 || aud.chars().any(char::is_control) {
                return Err(invalid(
                    "oidc_audience",
                    "at most 300 characters, no control characters",
                ));
            }
            audience = Some(aud.to_string());
        }
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO workspace_security (workspace_id, require_attestation, trusted_issuers, required_claims, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(workspace_id) DO UPDATE SET require_attestation = ?2, trusted_issuers = ?3, required_claims = ?4, updated_at = ?5",
            params![
                workspace,
                current.require_attestation,
                serde_json::to_string(&current.trusted_issuers).unwrap_or_default(),
                serde_json::to_string(&current.required_claims).unwrap_or_default(),
                now_str()
            ],
        )?;
        if let Some(aud) = &audience {
            tx.execute(
                "UPDATE workspace_security SET oidc_audience = ?1 WHERE workspace_id = ?2",
                params![aud, workspace],
            )?;
        }
        tx.commit()?;
        crate::auth::AuthService::audit(
            &*self.db.conn()?,
            Some(&caller.user_id),
            "workspace.security.update",
            workspace,
            &format!(
                "require_attestation={} trusted_issuers=[{}] required_claims=[{}] oidc_audience={} reauth={}",
                current.require_attestation,
                current.trusted_issuers.join(","),
                current
                    .required_claims
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(","),
                audience.as_deref().unwrap_or("(unchanged)"),
                proof.method()
            ),
        );
        load_security(&conn, workspace, &self.public_url)
    }
}

/// The caller was resolved into the workspace of the path (see `AuthService::in_workspace`);
/// any other workspace is unknown to it.
fn member(caller: &Caller, workspace: &str) -> Result<()> {
    if caller.workspace_id != workspace {
        return Err(Error::NotFound(format!("workspace {workspace}")));
    }
    Ok(())
}

/// The one rule for changing what a workspace trusts as CI evidence (keys, issuers, claims,
/// audience, the attestation requirement): a signed-in session (never an API key, `mk_` or
/// `mv_`) of the workspace's owner or admin, who re-entered a credential in this request.
fn require_security_admin(caller: &Caller, workspace: &str, proof: &Reauthenticated) -> Result<()> {
    if !matches!(caller.via, Via::Session { .. }) {
        return Err(Error::Forbidden(
            "changing CI keys and attestation policy needs a signed-in session of a workspace owner or admin; API keys (mk_, mv_) cannot".into(),
        ));
    }
    member(caller, workspace)?;
    caller.require_write()?;
    caller.require_workspace_admin()?;
    if proof.user_id() != caller.user_id {
        return Err(Error::Forbidden(
            "the re-entered credential belongs to another user".into(),
        ));
    }
    Ok(())
}

fn load_security(conn: &Connection, workspace: &str, default_audience: &str) -> Result<Security> {
    let row: Option<(bool, String, String, String)> = conn
        .query_row(
            "SELECT require_attestation, trusted_issuers, required_claims, oidc_audience FROM workspace_security WHERE workspace_id = ?1",
            [workspace],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (require, issuers, claims, audience) =
        row.unwrap_or((false, "[]".into(), "{}".into(), String::new()));
    let history = keys(conn, workspace)?;
    let is_default = audience.trim().is_empty();
    let mut sec = Security {
        workspace_id: workspace.to_string(),
        ci_key: history.iter().find(|k| k.revoked_at.is_none()).cloned(),
        key_history: history,
        require_attestation: require,
        trusted_issuers: serde_json::from_str(&issuers).unwrap_or_default(),
        required_claims: serde_json::from_str(&claims).unwrap_or_default(),
        oidc_audience: if is_default {
            default_audience.to_string()
        } else {
            audience
        },
        oidc_audience_is_default: is_default,
        oidc_unbound_reason: None,
    };
    sec.oidc_unbound_reason = super::oidc::policy_gap(&sec.oidc_policy());
    Ok(sec)
}

impl Security {
    /// The OIDC policy these settings define.
    pub fn oidc_policy(&self) -> super::oidc::Policy<'_> {
        super::oidc::Policy {
            trusted_issuers: &self.trusted_issuers,
            required_claims: &self.required_claims,
            audience: &self.oidc_audience,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::reauth::Credential;
    use crate::auth::sessions::{ClientInfo, LoginOutcome};

    const PW: &str = "Correct-Horse-9";

    /// A real appliance store in a temp dir, its first user signed in with a session.
    fn signed_in() -> (
        tempfile::TempDir,
        crate::auth::AuthService,
        AssuranceService,
        Caller,
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let mut config = crate::config::Config {
            data_dir: dir.path().join("data"),
            ..Default::default()
        };
        config.auth.argon2_memory_kib = 64;
        config.auth.argon2_iterations = 1;
        config.mfa.required_for_local = false;
        let instance = crate::instance::Instance::open(config).expect("instance");
        let auth = crate::auth::AuthService::new(
            &instance.tenants,
            &instance.config,
            &instance.master_key,
            "http://localhost:8080",
        )
        .expect("auth");
        auth.setup("owner@example.com", "Owner", PW).expect("setup");
        let LoginOutcome::Session { session, .. } = auth
            .login("owner@example.com", PW, &ClientInfo::default())
            .expect("login")
        else {
            panic!("no MFA in this test");
        };
        let caller = auth
            .authenticate_session(&session.token, crate::auth::WorkspaceChoice::Default)
            .expect("session");
        let svc = AssuranceService::new(instance.db.clone(), None);
        (dir, auth, svc, caller)
    }

    fn audit_rows(svc: &AssuranceService, action: &str) -> Vec<(Option<String>, String)> {
        let conn = svc.db.conn().expect("conn");
        let mut stmt = conn
            .prepare("SELECT actor_id, detail FROM audit_log WHERE action = ?1 ORDER BY id")
            .expect("prepare");
        stmt.query_map([action], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("rows")
    }

    /// Issue 15 item 3: CI trust changes need a session, the password again, and are audited.
    #[test]
    fn ci_trust_changes_need_a_session_reauth_and_are_audited() {
        let (_dir, auth, svc, caller) = signed_in();
        let ws = caller.workspace_id.clone();
        let pw = |p: &str| Credential {
            password: Some(p.into()),
            totp_code: None,
        };
        // API keys cannot re-authenticate, whatever they send.
        for scope in [crate::auth::Scope::Developer, crate::auth::Scope::Verifier] {
            let key_caller = Caller {
                via: Via::ApiKey {
                    key_id: "k".into(),
                    scope,
                },
                ..caller.clone()
            };
            assert!(matches!(
                auth.reauthenticate(&key_caller, &pw(PW)),
                Err(crate::auth::Error::Forbidden(_))
            ));
        }
        assert!(matches!(
            auth.reauthenticate(&caller, &Credential::default()),
            Err(crate::auth::Error::Invalid {
                field: "password",
                ..
            })
        ));
        assert!(matches!(
            auth.reauthenticate(&caller, &pw("wrong-password-1")),
            Err(crate::auth::Error::Invalid {
                field: "password",
                ..
            })
        ));
        assert_eq!(audit_rows(&svc, "reauth.failure").len(), 1);
        let proof = auth.reauthenticate(&caller, &pw(PW)).expect("reauth");
        assert_eq!(proof.method(), "password");

        let key = crate::crypto::signing::SigningKey::generate();
        let pem = key.public_key().to_pem();
        svc.upload_ci_key(&caller, &ws, &pem, &proof)
            .expect("upload");
        let rows = audit_rows(&svc, "ci_key.upload");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.as_deref(), Some(caller.user_id.as_str()));
        assert!(
            rows[0].1.contains(&key.public_key().fingerprint_hex()),
            "{rows:?}"
        );
        assert!(rows[0].1.contains("reauth=password"), "{rows:?}");

        let patch = SecurityPatch {
            require_attestation: Some(false),
            ..Default::default()
        };
        svc.update_security(&caller, &ws, &patch, &proof)
            .expect("update");
        let rows = audit_rows(&svc, "workspace.security.update");
        assert_eq!(rows.len(), 1);
        assert!(rows[0].1.contains("require_attestation=false"), "{rows:?}");

        // A proof belongs to its user; a session of the same user is still required.
        let other = Caller {
            user_id: "someone-else".into(),
            ..caller.clone()
        };
        assert!(svc.update_security(&other, &ws, &patch, &proof).is_err());

        // Guessing is throttled like sign-in (5 free failures, then backoff).
        let mut throttled = false;
        for _ in 0..8 {
            if let Err(crate::auth::Error::Throttled(_)) =
                auth.reauthenticate(&caller, &pw("wrong-password-1"))
            {
                throttled = true;
                break;
            }
        }
        assert!(throttled, "repeated wrong passwords must be throttled");
        assert!(matches!(
            auth.reauthenticate(&caller, &pw(PW)),
            Err(crate::auth::Error::Throttled(_))
        ));
    }

    #[test]
    fn pae_matches_the_dsse_spec() {
        assert_eq!(
            crate::wire::dsse::pae("a/b", b"hello"),
            b"DSSEv1 3 a/b 5 hello".to_vec()
        );
    }
}
