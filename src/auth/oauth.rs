//! OAuth 2.1 for agents (MCP authorization, issue 24): the appliance is its own
//! authorization server. This module holds the rules and the SQL; `web::oauth` only speaks
//! HTTP.
//!
//! - Dynamic Client Registration (RFC 7591) of public clients: redirect URIs must be `https`
//!   or loopback `http` (RFC 8252), and no client secret is issued (PKCE binds a code to the
//!   client that asked for it).
//! - Errors are [`OAuthError`]: the `{"error", "error_description"}` shape of the OAuth
//!   RFCs, not the `{"error": {"code", "message"}}` of the REST API, because OAuth clients
//!   read exactly that.

use rusqlite::params;
use serde_json::{Value, json};

use super::{AuthService, secrets, time_str};

/// Scopes a client may ask for: the two API key scopes.
pub const SCOPES: [&str; 2] = ["developer", "verifier"];

/// Longest accepted redirect URI.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;
/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 10;
/// Longest client name (characters).
pub const MAX_CLIENT_NAME: usize = 200;
/// Largest registration request body.
pub const MAX_REGISTRATION_BYTES: usize = 16 * 1024;
/// Registered clients kept at most; unused ones are pruned after a day.
pub const MAX_CLIENTS: i64 = 10_000;

/// An error answered in the OAuth shape (`{"error", "error_description"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// The registered error code (`invalid_request`, `invalid_grant`, …).
    pub error: &'static str,
    /// What to fix, for people.
    pub description: String,
}

impl OAuthError {
    /// Builds an error.
    pub fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400 `invalid_client_metadata` (RFC 7591).
    pub fn metadata(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_client_metadata", description)
    }

    /// 400 `invalid_redirect_uri` (RFC 7591).
    pub fn redirect(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_redirect_uri", description)
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

impl From<super::Error> for OAuthError {
    fn from(e: super::Error) -> Self {
        match e {
            super::Error::Store(s) if s.is_busy() => Self::new(
                503,
                "temporarily_unavailable",
                "the database is busy; retry shortly",
            ),
            other => {
                tracing::error!(error = %other, "oauth: internal error");
                Self::new(500, "server_error", "internal error; see the server log")
            }
        }
    }
}

impl From<rusqlite::Error> for OAuthError {
    fn from(e: rusqlite::Error) -> Self {
        super::Error::from(e).into()
    }
}

/// Result alias of the OAuth operations.
pub type OResult<T> = std::result::Result<T, OAuthError>;

/// True for the loopback hosts of RFC 8252 (IP literals, and `localhost`).
fn is_loopback_host(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Checks one redirect URI: absolute, no fragment, no user info, and `https`, `http` to a
/// loopback address (native apps and CLIs such as Claude Code listen there, RFC 8252 §7.3),
/// or a desktop application's private-use scheme (RFC 8252 §7.1), never a scheme a browser
/// would run or display itself (`javascript:`, `data:`, `file:`, …).
pub fn check_redirect_uri(uri: &str) -> std::result::Result<reqwest::Url, String> {
    if uri.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "a redirect URI is longer than {MAX_REDIRECT_URI_LEN} characters"
        ));
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!("{uri:?} contains whitespace or control characters"));
    }
    let url =
        reqwest::Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?} has a fragment (#…), which redirect URIs must not have"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{uri:?} carries user info"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback_host(&url) => Ok(url),
        "http" => Err(format!(
            "{uri:?} uses http to a non-loopback host: use https, or http://127.0.0.1 / http://[::1] / http://localhost for a local client"
        )),
        s if BLOCKED_SCHEMES.contains(&s) || s.len() < 3 => Err(format!(
            "{uri:?} uses the scheme {s:?}: use https, loopback http, or an application's own (private-use) scheme"
        )),
        // RFC 8252 §7.1: a desktop application's private-use scheme (Cursor registers
        // cursor://anysphere.cursor-mcp/oauth/callback). Matched exactly; PKCE protects the
        // code if another application claims the same scheme.
        _ => Ok(url),
    }
}

/// Schemes that are never an application's callback: browsers run, show or fetch them.
const BLOCKED_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "blob",
    "about",
    "filesystem",
    "view-source",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "tel",
    "sms",
    "intent",
];

/// Whether a redirect URI sent with a request matches a registered one: exactly, or — for
/// loopback `http` URIs — with any port (RFC 8252 §7.3: the client picks a free port at the
/// time of the request).
pub fn redirect_matches(registered: &str, given: &str) -> bool {
    if registered == given {
        return true;
    }
    let (Ok(r), Ok(g)) = (reqwest::Url::parse(registered), reqwest::Url::parse(given)) else {
        return false;
    };
    r.scheme() == "http"
        && g.scheme() == "http"
        && is_loopback_host(&r)
        && r.host_str() == g.host_str()
        && r.path() == g.path()
        && r.query() == g.query()
        && g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
}

/// A registered client, as the authorization endpoint needs it.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// `client_name`.
    pub name: String,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
}

fn string_list(v: &Value, field: &str) -> OResult<Option<Vec<String>>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(str::to_string).ok_or_else(|| {
                    OAuthError::metadata(format!("{field} must be an array of strings"))
                })
            })
            .collect::<OResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(OAuthError::metadata(format!(
            "{field} must be an array of strings"
        ))),
    }
}

fn optional_string(v: &Value, field: &str, max: usize) -> OResult<Option<String>> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                return Err(OAuthError::metadata(format!(
                    "{field} is longer than {max} characters"
                )));
            }
            if s.chars().any(char::is_control) {
                return Err(OAuthError::metadata(format!(
                    "{field} contains control characters"
                )));
            }
            Ok(Some(s.trim().to_string()))
        }
        Some(_) => Err(OAuthError::metadata(format!("{field} must be a string"))),
    }
}

/// Validates a registration request (RFC 7591 §2) and returns the metadata to store and
/// echo (without `client_id`). Unknown fields are ignored, as the RFC asks.
pub fn validate_registration(body: &[u8]) -> OResult<(Value, String, Vec<String>)> {
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(OAuthError::new(
            413,
            "invalid_client_metadata",
            format!("the registration request is larger than {MAX_REGISTRATION_BYTES} bytes"),
        ));
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| OAuthError::metadata(format!("the body is not JSON: {e}")))?;
    if !v.is_object() {
        return Err(OAuthError::metadata("the body must be a JSON object"));
    }
    let uris = string_list(&v, "redirect_uris")
        .map_err(|e| OAuthError::redirect(e.description))?
        .unwrap_or_default();
    if uris.is_empty() {
        return Err(OAuthError::redirect(
            "redirect_uris is required: at least one https or loopback http URI",
        ));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(OAuthError::redirect(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris may be registered"
        )));
    }
    for u in &uris {
        check_redirect_uri(u).map_err(OAuthError::redirect)?;
    }
    let auth_method =
        optional_string(&v, "token_endpoint_auth_method", 100)?.unwrap_or_else(|| "none".into());
    if auth_method != "none" {
        return Err(OAuthError::metadata(format!(
            "token_endpoint_auth_method {auth_method:?} is not supported: clients are public (\"none\") and use PKCE"
        )));
    }
    let grant_types = string_list(&v, "grant_types")?
        .unwrap_or_else(|| vec!["authorization_code".into(), "refresh_token".into()]);
    if grant_types.is_empty() || !grant_types.iter().any(|g| g == "authorization_code") {
        return Err(OAuthError::metadata(
            "grant_types must include \"authorization_code\"",
        ));
    }
    if let Some(g) = grant_types
        .iter()
        .find(|g| !["authorization_code", "refresh_token"].contains(&g.as_str()))
    {
        return Err(OAuthError::metadata(format!(
            "grant type {g:?} is not supported (authorization_code, refresh_token)"
        )));
    }
    let response_types = string_list(&v, "response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if response_types.iter().any(|r| r != "code") || response_types.is_empty() {
        return Err(OAuthError::metadata(
            "response_types must be [\"code\"] (authorization code flow only)",
        ));
    }
    let scope = optional_string(&v, "scope", 200)?;
    if let Some(s) = &scope
        && let Some(bad) = s.split_whitespace().find(|x| !SCOPES.contains(x))
    {
        return Err(OAuthError::metadata(format!(
            "scope {bad:?} is unknown (developer, verifier)"
        )));
    }
    let name = optional_string(&v, "client_name", MAX_CLIENT_NAME)?
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Unnamed client".into());
    let mut meta = json!({
        "client_name": name,
        "redirect_uris": uris,
        "grant_types": grant_types,
        "response_types": response_types,
        "token_endpoint_auth_method": "none",
    });
    for field in ["client_uri", "software_id", "software_version"] {
        if let Some(s) = optional_string(&v, field, MAX_REDIRECT_URI_LEN)? {
            meta[field] = json!(s);
        }
    }
    if let Some(s) = scope {
        meta["scope"] = json!(s);
    }
    Ok((meta, name, uris))
}

impl AuthService {
    /// Registers a public client (RFC 7591) and returns its metadata with `client_id`.
    /// Clients that never completed an authorization are pruned after a day, and at most
    /// [`MAX_CLIENTS`] are kept, so anonymous registration cannot fill the disk.
    pub fn oauth_register(&self, body: &[u8], ip: &str) -> OResult<Value> {
        let (mut meta, name, uris) = validate_registration(body)?;
        let conn = self.db.conn().map_err(super::Error::from)?;
        let day_ago = time_str(chrono::Utc::now() - chrono::Duration::hours(24));
        conn.execute(
            "DELETE FROM oauth_clients WHERE last_used_at IS NULL AND created_at < ?1 \
             AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id)",
            [&day_ago],
        )?;
        let count: i64 = conn.query_row("SELECT COUNT(*) FROM oauth_clients", [], |r| r.get(0))?;
        if count >= MAX_CLIENTS {
            return Err(OAuthError::new(
                503,
                "temporarily_unavailable",
                "too many registered clients; unused ones are removed after a day, retry later",
            ));
        }
        let id = format!("oc_{}", hex::encode(secrets::random_bytes::<16>()));
        let now = chrono::Utc::now();
        let stored = meta.to_string();
        conn.execute(
            "INSERT INTO oauth_clients (id, name, redirect_uris, metadata, created_at, created_ip) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                name,
                serde_json::to_string(&uris).unwrap_or_default(),
                stored,
                time_str(now),
                ip
            ],
        )?;
        AuthService::audit(&conn, None, "oauth.client.register", &id, &name);
        meta["client_id"] = json!(id);
        meta["client_id_issued_at"] = json!(now.timestamp());
        Ok(meta)
    }

    /// A registered, not revoked client.
    /// A URL `client_id` is a Client ID Metadata Document ([`super::oauth_cimd`]).
    pub fn oauth_client(&self, client_id: &str) -> OResult<Option<Client>> {
        use rusqlite::OptionalExtension as _;
        if super::oauth_cimd::is_url_client_id(client_id) {
            return self.oauth_url_client(client_id, "");
        }
        if client_id.is_empty() || client_id.len() > 100 {
            return Ok(None);
        }
        let conn = self.db.conn().map_err(super::Error::from)?;
        let row: Option<(String, String, String)> = conn
            .query_row(
                "SELECT id, name, redirect_uris FROM oauth_clients WHERE id = ?1 AND revoked_at IS NULL",
                [client_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.map(|(id, name, uris)| Client {
            id,
            name,
            redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_https_or_loopback_http() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:33418/callback").is_ok());
        assert!(check_redirect_uri("http://[::1]:8080/cb").is_ok());
        assert!(check_redirect_uri("http://localhost:9999/cb").is_ok());
        assert!(check_redirect_uri("cursor://anysphere.cursor-mcp/oauth/callback").is_ok());
        assert!(check_redirect_uri("com.example.app:/oauth2redirect").is_ok());
        for bad in [
            "http://evil.example/cb",
            "javascript:alert(1)",
            "cb",
            "https://app.example.com/cb#frag",
            "https://user:pw@app.example.com/cb",
            "ftp://127.0.0.1/cb",
            "data:text/html,hi",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "https://app.example.com/c b",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_REDIRECT_URI_LEN));
        assert!(check_redirect_uri(&long).is_err());
    }

    #[test]
    fn loopback_ports_may_vary_nothing_else() {
        let reg = "http://127.0.0.1:3000/callback";
        assert!(redirect_matches(reg, reg));
        assert!(redirect_matches(reg, "http://127.0.0.1:51234/callback"));
        assert!(redirect_matches(reg, "http://127.0.0.1/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:51234/other"));
        assert!(!redirect_matches(reg, "http://localhost:3000/callback"));
        assert!(!redirect_matches(reg, "http://127.0.0.1:3000/callback?x=1"));
        assert!(!redirect_matches(reg, "https://127.0.0.1:3000/callback"));
        let https = "https://app.example.com/cb";
        assert!(!redirect_matches(https, "https://app.example.com:8443/cb"));
        assert!(!redirect_matches(https, "https://app.example.com/cb/"));
    }

    #[test]
    fn registration_validation_names_the_problem() {
        let err = |b: &str| validate_registration(b.as_bytes()).expect_err(b).error;
        assert_eq!(err("{}"), "invalid_redirect_uri");
        assert_eq!(err(r#"{"redirect_uris": []}"#), "invalid_redirect_uri");
        assert_eq!(
            err(r#"{"redirect_uris": ["http://evil.example/cb"]}"#),
            "invalid_redirect_uri"
        );
        assert_eq!(
            err(r#"{"redirect_uris": "https://a.example/cb"}"#),
            "invalid_redirect_uri"
        );
        assert_eq!(err("not json"), "invalid_client_metadata");
        assert_eq!(
            err(
                r#"{"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}"#
            ),
            "invalid_client_metadata"
        );
        assert_eq!(
            err(
                r#"{"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}"#
            ),
            "invalid_client_metadata"
        );
        assert_eq!(
            err(r#"{"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}"#),
            "invalid_client_metadata"
        );
        assert_eq!(
            err(r#"{"redirect_uris": ["https://a.example/cb"], "scope": "admin"}"#),
            "invalid_client_metadata"
        );
        let long_name = format!(
            r#"{{"redirect_uris": ["https://a.example/cb"], "client_name": "{}"}}"#,
            "n".repeat(MAX_CLIENT_NAME + 1)
        );
        assert_eq!(err(&long_name), "invalid_client_metadata");
        let (meta, name, uris) = validate_registration(
            br#"{"redirect_uris": ["http://127.0.0.1:5555/cb"], "client_name": "Claude Code", "x_unknown": 1}"#,
        )
        .expect("valid");
        assert_eq!(name, "Claude Code");
        assert_eq!(uris, vec!["http://127.0.0.1:5555/cb".to_string()]);
        assert_eq!(meta["token_endpoint_auth_method"], "none");
        assert_eq!(
            meta["grant_types"],
            json!(["authorization_code", "refresh_token"])
        );
        assert!(meta.get("x_unknown").is_none());
    }
}
