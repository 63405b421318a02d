//! The authorization code flow of [`super::oauth`]: authorization requests, consent,
//! codes with PKCE, access and refresh tokens, revocation, and bearer authentication.
//!
//! - Authorization codes: single use, [`CODE_MINUTES`] minutes, bound to the client, the
//!   exact redirect URI of the request, the PKCE S256 challenge, the user, workspace, scope
//!   and audience the user consented to. A replayed code revokes what it produced.
//! - Access tokens (`rat_…`, [`ACCESS_SECONDS`]) and refresh tokens (`rrt_…`,
//!   [`REFRESH_DAYS`] days) are opaque random strings, stored as SHA-256 only. A refresh
//!   token works once: it is rotated on use, and presenting a rotated one again revokes the
//!   grant (the whole token family) — a stolen refresh token is useless once either party
//!   has used it.
//! - An access token acts with exactly the rights of an API key of its scope in its
//!   workspace ([`Via::ApiKey`] with `key_id` `oauth:<grant id>`), rechecked on every
//!   request: a disabled user, a lost membership or a lost owner/admin role (verifier) ends
//!   it like it ends a key. Its audience (RFC 8707 resource) is checked on every request.

use base64::Engine as _;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::Digest as _;

use super::oauth::{Client, OAuthError, OResult, redirect_matches};
use super::{
    AuthService, Caller, Error, Result, Role, Scope, Via, now_str, secrets, time_str, users,
};
use crate::tenancy::workspaces;

/// Lifetime of an access token.
pub const ACCESS_SECONDS: i64 = 3600;
/// Lifetime of a refresh token (each rotation starts a new one).
pub const REFRESH_DAYS: i64 = 30;
/// Lifetime of an authorization code.
pub const CODE_MINUTES: i64 = 5;
/// Prefix of access tokens (tells them apart from the CI's ES256 JWTs on E5).
pub const ACCESS_PREFIX: &str = "rat_";
/// Prefix of refresh tokens.
pub const REFRESH_PREFIX: &str = "rrt_";
/// Longest accepted `state`.
const MAX_STATE: usize = 1000;

/// The parameters of an authorization request (query of `GET /oauth/authorize`, hidden
/// fields of the consent form).
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    #[serde(default)]
    pub response_type: String,
    /// The registered client.
    #[serde(default)]
    pub client_id: String,
    /// One of the client's registered redirect URIs (loopback: any port).
    #[serde(default)]
    pub redirect_uri: String,
    /// BASE64URL(SHA-256(code_verifier)).
    #[serde(default)]
    pub code_challenge: String,
    /// Must be `S256`.
    #[serde(default)]
    pub code_challenge_method: String,
    /// Opaque value returned to the client.
    #[serde(default)]
    pub state: Option<String>,
    /// `developer` or `verifier` (a preselection; the user decides).
    #[serde(default)]
    pub scope: Option<String>,
    /// RFC 8707 resource indicator: the appliance or its MCP endpoint.
    #[serde(default)]
    pub resource: Option<String>,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    /// The client.
    pub client: Client,
    /// The redirect URI to answer to (as sent).
    pub redirect_uri: String,
    /// PKCE challenge.
    pub code_challenge: String,
    /// `state`, if sent.
    pub state: Option<String>,
    /// Scope the client asked for (default developer).
    pub scope: Scope,
    /// Normalized audience.
    pub resource: String,
}

/// Why an authorization request failed.
#[derive(Debug, Clone)]
pub enum AuthorizeError {
    /// Unknown client or unregistered redirect URI: shown to the user, never redirected
    /// (RFC 6749 §4.1.2.1 — an attacker must not get an open redirector).
    Show(String),
    /// Any other problem: sent back to the client at its redirect URI.
    Redirect {
        /// Where to send it.
        redirect_uri: String,
        /// OAuth error code.
        error: &'static str,
        /// Description.
        description: String,
        /// The request's `state`.
        state: Option<String>,
    },
}

/// Audiences tokens may be issued for: the appliance (`/api` and `/mcp`) and `/mcp` alone.
pub fn audiences(base: &str) -> [String; 2] {
    let base = base.trim_end_matches('/');
    [base.to_string(), format!("{base}/mcp")]
}

/// A resource indicator without a trailing slash (clients differ on it).
pub fn normalize_resource(r: &str) -> String {
    r.trim().trim_end_matches('/').to_string()
}

/// The URI to send the user agent to: `redirect_uri` with `params` added to its query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match reqwest::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_string(),
    }
}

/// The error redirect of an [`AuthorizeError::Redirect`].
pub fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
    issuer: &str,
) -> String {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    redirect_with(redirect_uri, &p)
}

/// True for a PKCE code verifier of RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// BASE64URL(SHA-256(verifier)), the S256 challenge.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

/// The token response of RFC 6749 §5.1.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// Opaque access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque refresh token (rotated on use).
    pub refresh_token: String,
    /// The granted scope.
    pub scope: String,
}

/// The form of `POST /oauth/token`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenForm {
    /// `authorization_code` or `refresh_token`.
    #[serde(default)]
    pub grant_type: String,
    /// The code (authorization_code).
    #[serde(default)]
    pub code: Option<String>,
    /// The redirect URI of the authorization request (authorization_code).
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// PKCE verifier (authorization_code).
    #[serde(default)]
    pub code_verifier: Option<String>,
    /// The refresh token (refresh_token).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// RFC 8707: must name the audience of the grant when sent.
    #[serde(default)]
    pub resource: Option<String>,
    /// May only repeat the granted scope.
    #[serde(default)]
    pub scope: Option<String>,
}

/// The form of `POST /oauth/revoke` (RFC 7009).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct RevokeForm {
    /// The token to revoke.
    #[serde(default)]
    pub token: String,
    /// `access_token` or `refresh_token` (a hint only).
    #[serde(default)]
    pub token_type_hint: Option<String>,
    /// The client the token was issued to.
    #[serde(default)]
    pub client_id: Option<String>,
}

fn invalid_grant(description: impl Into<String>) -> OAuthError {
    OAuthError::new(400, "invalid_grant", description)
}

fn new_secret(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        secrets::base62(&secrets::random_bytes::<32>())
    )
}

/// The user's access to a workspace for a scope: `Err(reason)` when it no longer holds.
fn check_access(
    conn: &rusqlite::Connection,
    user_id: &str,
    workspace_id: &str,
    scope: Scope,
) -> Result<std::result::Result<(users::User, workspaces::Resolved), String>> {
    let user = users::get(conn, user_id)?;
    if user.disabled {
        return Ok(Err("the account is disabled".into()));
    }
    let Some(ws) = workspaces::resolve(conn, user_id, user.role, workspace_id)?
        .filter(|r| r.access.covers_data())
    else {
        return Ok(Err("the user is no longer a member of the workspace".into()));
    };
    if matches!(ws.location, crate::tenancy::Location::Shredded { .. }) {
        return Ok(Err(
            "the workspace's organization was crypto-shredded".into()
        ));
    }
    if scope == Scope::Verifier && !ws.access.role.can_manage() {
        return Ok(Err(
            "the verifier scope needs the owner or admin role in the workspace".into(),
        ));
    }
    Ok(Ok((user, ws)))
}

impl AuthService {
    /// Checks an authorization request (RFC 6749 §4.1.1, PKCE, RFC 8707) against the
    /// registered client. `base` is the issuer.
    pub fn oauth_check_request(
        &self,
        p: &AuthorizeParams,
        base: &str,
    ) -> std::result::Result<ValidRequest, AuthorizeError> {
        let internal = |e: OAuthError| AuthorizeError::Show(e.description);
        let client = self
            .oauth_client(p.client_id.trim())
            .map_err(internal)?
            .ok_or_else(|| {
                AuthorizeError::Show(
                    "The application that sent you here is not registered with this appliance (unknown client_id). Start the connection again from the application.".into(),
                )
            })?;
        let redirect_uri = p.redirect_uri.trim().to_string();
        if redirect_uri.is_empty()
            || !client
                .redirect_uris
                .iter()
                .any(|r| redirect_matches(r, &redirect_uri))
        {
            return Err(AuthorizeError::Show(
                "The application asked to return to an address it did not register (redirect_uri mismatch), so this request was stopped.".into(),
            ));
        }
        let state = p.state.clone().filter(|s| !s.is_empty());
        let fail = |error: &'static str, description: String| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            error,
            description,
            state: state.clone(),
        };
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
            return Err(fail(
                "invalid_request",
                format!("state is longer than {MAX_STATE} characters"),
            ));
        }
        if p.response_type != "code" {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            ));
        }
        if p.code_challenge.is_empty() {
            return Err(fail(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256".into(),
            ));
        }
        if p.code_challenge_method != "S256" {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)".into(),
            ));
        }
        let challenge_ok = p.code_challenge.len() == 43
            && p.code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !challenge_ok {
            return Err(fail(
                "invalid_request",
                "code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters".into(),
            ));
        }
        let scopes: Vec<&str> = p
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let scope = match scopes.as_slice() {
            [] => Scope::Developer,
            [one] => Scope::parse(one).ok_or_else(|| {
                fail(
                    "invalid_scope",
                    format!("scope {one:?} is unknown (developer or verifier)"),
                )
            })?,
            _ => {
                return Err(fail(
                    "invalid_scope",
                    "ask for one scope: developer or verifier".into(),
                ));
            }
        };
        let allowed = audiences(base);
        let resource = match p.resource.as_deref().map(normalize_resource) {
            None => allowed[0].clone(),
            Some(r) if r.is_empty() => allowed[0].clone(),
            Some(r) if allowed.contains(&r) => r,
            Some(r) => {
                return Err(fail(
                    "invalid_target",
                    format!(
                        "resource {r:?} is not served here; use {} or {}",
                        allowed[0], allowed[1]
                    ),
                ));
            }
        };
        Ok(ValidRequest {
            client,
            redirect_uri,
            code_challenge: p.code_challenge.clone(),
            state,
            scope,
            resource,
        })
    }

    /// Records the user's consent and issues an authorization code; returns the code.
    /// Fails with a message for the consent page when the user may not grant this
    /// workspace or scope.
    pub fn oauth_issue_code(
        &self,
        caller: &Caller,
        req: &ValidRequest,
        workspace_id: &str,
        scope: Scope,
    ) -> Result<String> {
        if !matches!(caller.via, Via::Session { .. }) {
            return Err(Error::Forbidden(
                "applications are authorized from a signed-in browser session".into(),
            ));
        }
        let conn = self.db.conn()?;
        match check_access(&conn, &caller.user_id, workspace_id, scope)? {
            Ok(_) => {}
            Err(reason) if reason.starts_with("the verifier") => {
                return Err(Error::Forbidden(
                    "the verifier scope can only be granted by an owner or admin of the workspace"
                        .into(),
                ));
            }
            Err(_) => return Err(Error::NotFound("workspace")),
        }
        let code = secrets::base62(&secrets::random_bytes::<32>());
        let now = chrono::Utc::now();
        conn.execute(
            "INSERT INTO oauth_codes (code_hash, client_id, user_id, workspace_id, scope, resource, \
             redirect_uri, code_challenge, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                secrets::sha256_hex(&code),
                req.client.id,
                caller.user_id,
                workspace_id,
                scope.as_str(),
                req.resource,
                req.redirect_uri,
                req.code_challenge,
                time_str(now),
                time_str(now + chrono::Duration::minutes(CODE_MINUTES)),
            ],
        )?;
        conn.execute(
            "UPDATE oauth_clients SET last_used_at = ?1 WHERE id = ?2",
            params![time_str(now), req.client.id],
        )?;
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "oauth.authorize",
            &req.client.id,
            &format!(
                "client={:?} workspace={workspace_id} scope={} resource={}",
                req.client.name,
                scope.as_str(),
                req.resource
            ),
        );
        Ok(code)
    }

    /// Records that the user refused an authorization request.
    pub fn oauth_audit_denied(&self, caller: &Caller, client_id: &str) -> Result<()> {
        let conn = self.db.conn()?;
        AuthService::audit(&conn, Some(&caller.user_id), "oauth.deny", client_id, "");
        Ok(())
    }

    /// Inserts a new access + refresh token pair of a grant.
    fn issue_pair(
        tx: &rusqlite::Transaction<'_>,
        grant_id: &str,
        scope: Scope,
    ) -> rusqlite::Result<TokenResponse> {
        let now = chrono::Utc::now();
        let access = new_secret(ACCESS_PREFIX);
        let refresh = new_secret(REFRESH_PREFIX);
        for (token, kind, expires) in [
            (
                &access,
                "access",
                now + chrono::Duration::seconds(ACCESS_SECONDS),
            ),
            (
                &refresh,
                "refresh",
                now + chrono::Duration::days(REFRESH_DAYS),
            ),
        ] {
            tx.execute(
                "INSERT INTO oauth_tokens (token_hash, grant_id, kind, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    secrets::sha256_hex(token),
                    grant_id,
                    kind,
                    time_str(now),
                    time_str(expires)
                ],
            )?;
        }
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_SECONDS,
            refresh_token: refresh,
            scope: scope.as_str().to_string(),
        })
    }

    /// Revokes a grant and every token of it.
    pub(super) fn revoke_grant(
        conn: &rusqlite::Connection,
        grant_id: &str,
        reason: &str,
    ) -> rusqlite::Result<()> {
        let now = now_str();
        conn.execute(
            "UPDATE oauth_grants SET revoked_at = COALESCE(revoked_at, ?1), \
             revoked_reason = COALESCE(revoked_reason, ?2) WHERE id = ?3",
            params![now, reason, grant_id],
        )?;
        conn.execute(
            "UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE grant_id = ?2",
            params![now, grant_id],
        )?;
        Ok(())
    }

    /// `POST /oauth/token` (RFC 6749 §4.1.3 and §6, PKCE, RFC 8707).
    pub fn oauth_token(&self, f: &TokenForm) -> OResult<TokenResponse> {
        let client_id = f.client_id.as_deref().unwrap_or_default().trim();
        if client_id.is_empty() {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "client_id is required (public clients identify themselves with it)",
            ));
        }
        if self.oauth_client(client_id)?.is_none() {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "unknown or revoked client_id",
            ));
        }
        match f.grant_type.as_str() {
            "authorization_code" => self.exchange_code(client_id, f),
            "refresh_token" => self.refresh(client_id, f),
            "" => Err(OAuthError::new(
                400,
                "invalid_request",
                "grant_type is required",
            )),
            other => Err(OAuthError::new(
                400,
                "unsupported_grant_type",
                format!(
                    "grant_type {other:?} is not supported (authorization_code, refresh_token)"
                ),
            )),
        }
    }

    fn exchange_code(&self, client_id: &str, f: &TokenForm) -> OResult<TokenResponse> {
        let code = f.code.as_deref().unwrap_or_default();
        if code.is_empty() || code.len() > 200 {
            return Err(OAuthError::new(400, "invalid_request", "code is required"));
        }
        let verifier = f.code_verifier.as_deref().unwrap_or_default();
        if verifier.is_empty() {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "code_verifier is required (PKCE)",
            ));
        }
        let mut conn = self.db.conn().map_err(Error::from)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = tx
            .query_row(
                "SELECT client_id, user_id, workspace_id, scope, resource, redirect_uri, \
                 code_challenge, expires_at, used_at, grant_id FROM oauth_codes WHERE code_hash = ?1",
                [secrets::sha256_hex(code)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            code_client,
            user_id,
            workspace_id,
            scope,
            resource,
            redirect_uri,
            challenge,
            expires_at,
            used_at,
            grant_id,
        )) = row
        else {
            return Err(invalid_grant(
                "unknown, expired or already used authorization code",
            ));
        };
        if code_client != client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        if used_at.is_some() {
            // RFC 6749 §4.1.2: a replayed code revokes the tokens it produced.
            if let Some(g) = &grant_id {
                Self::revoke_grant(&tx, g, "authorization code replayed")?;
            }
            AuthService::audit(
                &tx,
                Some(&user_id),
                "oauth.code_reuse",
                client_id,
                "an authorization code was presented twice; its grant was revoked",
            );
            tx.commit()?;
            return Err(invalid_grant(
                "unknown, expired or already used authorization code",
            ));
        }
        if super::parse_time(&expires_at) <= chrono::Utc::now() {
            return Err(invalid_grant(
                "the authorization code expired; authorize again",
            ));
        }
        if f.redirect_uri.as_deref().unwrap_or_default() != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri must be exactly the one of the authorization request",
            ));
        }
        if !valid_verifier(verifier) || !secrets::ct_eq(&s256(verifier), &challenge) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge (PKCE)",
            ));
        }
        if let Some(r) = f.resource.as_deref().filter(|r| !r.trim().is_empty())
            && normalize_resource(r) != resource
        {
            return Err(OAuthError::new(
                400,
                "invalid_target",
                format!("the code was issued for the resource {resource:?}"),
            ));
        }
        let scope = Scope::parse(&scope).unwrap_or(Scope::Developer);
        if let Err(reason) = check_access(&tx, &user_id, &workspace_id, scope)? {
            return Err(invalid_grant(reason));
        }
        let grant = uuid::Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO oauth_grants (id, client_id, user_id, workspace_id, scope, resource, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![grant, client_id, user_id, workspace_id, scope.as_str(), resource, now_str()],
        )?;
        tx.execute(
            "UPDATE oauth_codes SET used_at = ?1, grant_id = ?2 WHERE code_hash = ?3",
            params![now_str(), grant, secrets::sha256_hex(code)],
        )?;
        let out = Self::issue_pair(&tx, &grant, scope)?;
        AuthService::audit(
            &tx,
            Some(&user_id),
            "oauth.token.issue",
            client_id,
            &format!(
                "grant={grant} workspace={workspace_id} scope={}",
                scope.as_str()
            ),
        );
        tx.commit()?;
        Ok(out)
    }

    fn refresh(&self, client_id: &str, f: &TokenForm) -> OResult<TokenResponse> {
        let token = f.refresh_token.as_deref().unwrap_or_default();
        if !token.starts_with(REFRESH_PREFIX) || token.len() > 200 {
            return Err(invalid_grant("unknown, expired or revoked refresh token"));
        }
        let hash = secrets::sha256_hex(token);
        let mut conn = self.db.conn().map_err(Error::from)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        type Row = (
            String,
            String,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
        );
        let row: Option<Row> = tx
            .query_row(
                "SELECT t.grant_id, t.expires_at, t.used_at, t.revoked_at, g.client_id, g.user_id, \
                 g.workspace_id, g.scope, g.resource, g.revoked_at FROM oauth_tokens t \
                 JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = ?1 AND t.kind = 'refresh'",
                [&hash],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                        r.get(9)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            grant,
            expires_at,
            used_at,
            revoked_at,
            grant_client,
            user_id,
            workspace_id,
            scope,
            resource,
            grant_revoked,
        )) = row
        else {
            return Err(invalid_grant("unknown, expired or revoked refresh token"));
        };
        if grant_client != client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        if used_at.is_some() && grant_revoked.is_none() {
            // Reuse detection: a rotated refresh token came back. Either the client or a
            // thief holds a copy; revoke the family so neither can go on.
            Self::revoke_grant(&tx, &grant, "refresh token reused")?;
            AuthService::audit(
                &tx,
                Some(&user_id),
                "oauth.refresh_reuse",
                client_id,
                &format!(
                    "grant={grant}: a rotated refresh token was presented again; every token of the grant was revoked"
                ),
            );
            tx.commit()?;
            return Err(invalid_grant(
                "the refresh token was already used; every token of this authorization was revoked, authorize again",
            ));
        }
        if used_at.is_some() || revoked_at.is_some() || grant_revoked.is_some() {
            return Err(invalid_grant("unknown, expired or revoked refresh token"));
        }
        if super::parse_time(&expires_at) <= chrono::Utc::now() {
            return Err(invalid_grant("the refresh token expired; authorize again"));
        }
        if let Some(r) = f.resource.as_deref().filter(|r| !r.trim().is_empty())
            && normalize_resource(r) != resource
        {
            return Err(OAuthError::new(
                400,
                "invalid_target",
                format!("the grant is for the resource {resource:?}"),
            ));
        }
        let scope = Scope::parse(&scope).unwrap_or(Scope::Developer);
        if let Some(s) = f.scope.as_deref().filter(|s| !s.trim().is_empty())
            && s.trim() != scope.as_str()
        {
            return Err(OAuthError::new(
                400,
                "invalid_scope",
                format!(
                    "the grant's scope is {}; a refresh cannot change it",
                    scope.as_str()
                ),
            ));
        }
        if let Err(reason) = check_access(&tx, &user_id, &workspace_id, scope)? {
            Self::revoke_grant(&tx, &grant, &reason)?;
            tx.commit()?;
            return Err(invalid_grant(reason));
        }
        let rotated = tx.execute(
            "UPDATE oauth_tokens SET used_at = ?1 WHERE token_hash = ?2 AND used_at IS NULL",
            params![now_str(), hash],
        )?;
        if rotated != 1 {
            return Err(invalid_grant("unknown, expired or revoked refresh token"));
        }
        let out = Self::issue_pair(&tx, &grant, scope)?;
        AuthService::audit(
            &tx,
            Some(&user_id),
            "oauth.token.refresh",
            client_id,
            &format!("grant={grant}"),
        );
        tx.commit()?;
        Ok(out)
    }

    /// `POST /oauth/revoke` (RFC 7009): a refresh token revokes its whole grant, an access
    /// token itself. Unknown tokens are not an error.
    pub fn oauth_revoke(&self, f: &RevokeForm) -> OResult<()> {
        let client_id = f.client_id.as_deref().unwrap_or_default().trim();
        if client_id.is_empty() {
            return Err(OAuthError::new(
                401,
                "invalid_client",
                "client_id is required (public clients identify themselves with it)",
            ));
        }
        if f.token.is_empty() {
            return Err(OAuthError::new(400, "invalid_request", "token is required"));
        }
        if f.token.len() > 200 {
            return Ok(());
        }
        let conn = self.db.conn().map_err(Error::from)?;
        let row: Option<(String, String, String, String)> = conn
            .query_row(
                "SELECT t.grant_id, t.kind, g.client_id, g.user_id FROM oauth_tokens t \
                 JOIN oauth_grants g ON g.id = t.grant_id WHERE t.token_hash = ?1",
                [secrets::sha256_hex(&f.token)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((grant, kind, owner, user_id)) = row else {
            return Ok(());
        };
        if owner != client_id {
            return Err(OAuthError::new(
                400,
                "unauthorized_client",
                "the token was issued to another client",
            ));
        }
        if kind == "refresh" {
            Self::revoke_grant(&conn, &grant, "revoked by the client")?;
        } else {
            conn.execute(
                "UPDATE oauth_tokens SET revoked_at = COALESCE(revoked_at, ?1) WHERE token_hash = ?2",
                params![now_str(), secrets::sha256_hex(&f.token)],
            )?;
        }
        AuthService::audit(
            &conn,
            Some(&user_id),
            "oauth.revoke",
            client_id,
            &format!("grant={grant} {kind} token"),
        );
        Ok(())
    }

    /// Authenticates an OAuth access token for a resource whose accepted audiences are
    /// `audiences`; the caller has the rights of an API key of the token's scope.
    pub fn authenticate_oauth_token(&self, token: &str, audiences: &[String]) -> Result<Caller> {
        let invalid = || Error::Unauthenticated("invalid, expired or revoked access token".into());
        if !token.starts_with(ACCESS_PREFIX) || token.len() > 200 {
            return Err(invalid());
        }
        let conn = self.db.conn()?;
        type Row = (
            String,
            Option<String>,
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = conn
            .query_row(
                "SELECT t.expires_at, t.revoked_at, g.id, g.user_id, g.workspace_id, g.scope, \
                 g.resource, g.revoked_at, c.revoked_at FROM oauth_tokens t \
                 JOIN oauth_grants g ON g.id = t.grant_id JOIN oauth_clients c ON c.id = g.client_id \
                 WHERE t.token_hash = ?1 AND t.kind = 'access'",
                [secrets::sha256_hex(token)],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            expires_at,
            revoked,
            grant,
            user_id,
            workspace_id,
            scope,
            resource,
            g_rev,
            c_rev,
        )) = row
        else {
            return Err(invalid());
        };
        if revoked.is_some() || g_rev.is_some() || c_rev.is_some() {
            return Err(invalid());
        }
        if super::parse_time(&expires_at) <= chrono::Utc::now() {
            return Err(Error::Unauthenticated(
                "the access token expired; refresh it".into(),
            ));
        }
        if !audiences.contains(&resource) {
            return Err(Error::Unauthenticated(format!(
                "the access token's audience is {resource}; it is not valid for this resource"
            )));
        }
        let scope = Scope::parse(&scope).unwrap_or(Scope::Developer);
        let (user, ws) = match check_access(&conn, &user_id, &workspace_id, scope)? {
            Ok(x) => x,
            Err(reason) => {
                return Err(Error::Unauthenticated(format!(
                    "access token refused: {reason}"
                )));
            }
        };
        let tenant = self.tenants.db_at(&ws.location)?;
        Ok(Caller {
            user_id: user.id,
            email: user.email,
            display_name: user.display_name,
            // Like keys: tokens act in their workspace; platform administration needs a session.
            role: if user.role.is_admin() {
                Role::User
            } else {
                user.role
            },
            workspace_id,
            workspace_role: ws.access.role,
            org_id: ws.org_id,
            tenant,
            via: Via::ApiKey {
                key_id: format!("oauth:{grant}"),
                scope,
            },
            mfa_enrollment_pending: false,
        })
    }
}

/// An application the user authorized (an active grant), as listed to them.
#[derive(Debug, Clone, Serialize)]
pub struct AuthorizedApp {
    /// Grant id (for revocation).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Its registered name.
    pub client_name: String,
    /// The workspace it acts in.
    pub workspace_id: String,
    /// `developer` or `verifier`.
    pub scope: String,
    /// The audience of its tokens.
    pub resource: String,
    /// When the user allowed it.
    pub created_at: String,
}

impl AuthService {
    /// The caller's authorized applications (active grants), newest first.
    pub fn oauth_list_grants(&self, caller: &Caller) -> Result<Vec<AuthorizedApp>> {
        let conn = self.db.conn()?;
        let mut stmt = conn.prepare(
            "SELECT g.id, g.client_id, c.name, g.workspace_id, g.scope, g.resource, g.created_at \
             FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id \
             WHERE g.user_id = ?1 AND g.revoked_at IS NULL AND c.revoked_at IS NULL \
             ORDER BY g.created_at DESC",
        )?;
        let apps = stmt
            .query_map([&caller.user_id], |r| {
                Ok(AuthorizedApp {
                    id: r.get(0)?,
                    client_id: r.get(1)?,
                    client_name: r.get(2)?,
                    workspace_id: r.get(3)?,
                    scope: r.get(4)?,
                    resource: r.get(5)?,
                    created_at: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(apps)
    }

    /// Revokes one of the caller's authorized applications: every token of the grant stops
    /// working at once. Another user's grant is "not found".
    pub fn oauth_revoke_grant(&self, caller: &Caller, id: &str) -> Result<()> {
        let conn = self.db.conn()?;
        let owner: Option<String> = conn
            .query_row(
                "SELECT client_id FROM oauth_grants WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
                params![id, caller.user_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(client_id) = owner else {
            return Err(Error::NotFound("authorized application"));
        };
        Self::revoke_grant(&conn, id, "revoked by the user")?;
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "oauth.grant.revoke",
            &client_id,
            &format!("grant={id}"),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_example() {
        // RFC 7636 appendix B.
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn redirects_keep_their_query_and_encode_values() {
        assert_eq!(
            redirect_with(
                "http://127.0.0.1:5000/cb?x=1",
                &[("code", "a b"), ("state", "s&t")]
            ),
            "http://127.0.0.1:5000/cb?x=1&code=a+b&state=s%26t"
        );
        assert_eq!(
            normalize_resource("https://h.example/mcp/"),
            "https://h.example/mcp"
        );
        assert_eq!(
            audiences("https://h.example/"),
            [
                "https://h.example".to_string(),
                "https://h.example/mcp".to_string()
            ]
        );
    }
}
