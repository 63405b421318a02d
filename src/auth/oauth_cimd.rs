//! Client ID Metadata Documents (MCP authorization 2025-11-25, draft-ietf-oauth-client-id-
//! metadata-document): a client may use an `https` URL as its `client_id`; the JSON document
//! at that URL describes it (`client_id` equal to the URL, `client_name`, `redirect_uris`).
//! The appliance fetches it at the first authorization, keeps it as a client row (so admins
//! list and revoke it like a registered one) and re-reads it when older than [`FRESH_FOR`].
//!
//! The URL comes from an unauthenticated request, so the fetch follows [`crate::outbound`]:
//! `https` only, public addresses only, no redirects, at most [`MAX_DOCUMENT`] bytes, a short
//! timeout, and one generic message whatever the network did. `oauth.client_metadata_documents`
//! turns it off, or limits it to the prefixes of `oauth.client_metadata_allowed` (the setting
//! for air-gapped appliances); listed prefixes may live on private addresses because the
//! operator vouched for them. A revoked URL client stays revoked: re-fetching never revives it.
//!
//! The consent page shows the document's name with the URL's host, so a document cannot
//! borrow another product's name unnoticed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension as _, params};
use serde_json::{Value, json};

use super::oauth::{Client, OAuthError, OResult, validate_registration};
use super::{AuthService, time_str};

/// Largest metadata document read (the draft suggests 5 kB).
pub const MAX_DOCUMENT: u64 = 5 * 1024;
/// A stored document older than this is fetched again at the next use.
pub const FRESH_FOR: chrono::Duration = chrono::Duration::hours(1);
/// A URL that failed is not fetched again for this long.
const FAILURE_TTL: Duration = Duration::from_secs(60);

static FAILURES: Mutex<Option<HashMap<String, Instant>>> = Mutex::new(None);

/// Whether a `client_id` is a URL (a metadata document) rather than a registered id.
pub fn is_url_client_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

fn invalid(description: impl Into<String>) -> OAuthError {
    OAuthError::new(400, "invalid_client", description)
}

/// Whether the configuration lets this URL be fetched; `Ok(true)` when an allow-listed
/// prefix covers it (it may then be `http` or private).
pub fn admitted(cfg: &crate::config::OAuthConfig, url: &str) -> OResult<bool> {
    let listed = cfg
        .client_metadata_allowed
        .iter()
        .any(|prefix| url.starts_with(prefix.as_str()));
    match cfg.client_metadata_documents.as_str() {
        "off" => Err(invalid(
            "this appliance does not accept URL client ids (Client ID Metadata Documents are turned off); the application must register (POST /oauth/register)",
        )),
        "allow-list" if !listed => Err(invalid(format!(
            "the client's metadata document {url} is not under a prefix the administrator allowed (oauth.client_metadata_allowed)"
        ))),
        _ => Ok(listed),
    }
}

/// Checks the URL's shape: `https` (or `http` when listed), a path, no credentials, query,
/// fragment or dot segments.
pub fn check_client_id_url(url: &str, listed: bool) -> OResult<reqwest::Url> {
    let parsed = crate::outbound::check_url(url, listed, false)
        .map_err(|e| invalid(format!("the client_id URL {e}")))?;
    if parsed.path() == "/" || parsed.path().is_empty() {
        return Err(invalid(
            "the client_id URL must have a path (for example https://app.example.com/oauth/client.json)",
        ));
    }
    if url.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(invalid(
            "the client_id URL must not contain . or .. segments",
        ));
    }
    Ok(parsed)
}

/// Validates a fetched document for `url`: the same rules as a registration, plus the
/// document's own `client_id` must be exactly the URL and it may carry no secret. Returns the
/// metadata to store, the name to show and the redirect URIs.
pub fn validate_document(url: &str, doc: &Value) -> OResult<(Value, String, Vec<String>)> {
    if !doc.is_object() {
        return Err(invalid(
            "the client's metadata document is not a JSON object",
        ));
    }
    if doc.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(invalid(format!(
            "the client's metadata document must name itself: its client_id must be exactly {url}"
        )));
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if doc.get(field).is_some() {
            return Err(invalid(format!(
                "the client's metadata document must not contain {field} (clients are public and use PKCE)"
            )));
        }
    }
    let bytes = serde_json::to_vec(doc).map_err(|e| invalid(e.to_string()))?;
    let (mut meta, name, uris) = validate_registration(&bytes)
        .map_err(|e| invalid(format!("the client's metadata document: {}", e.description)))?;
    let host = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let shown = format!("{name} ({host})");
    meta["client_id"] = json!(url);
    meta["client_name"] = json!(shown);
    Ok((meta, shown, uris))
}

fn recently_failed(url: &str) -> bool {
    let mut guard = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    map.retain(|_, at| at.elapsed() < FAILURE_TTL);
    map.contains_key(url)
}

fn remember_failure(url: &str) {
    FAILURES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(url.to_string(), Instant::now());
}

/// Fetches the document under the SSRF rules; the error is a detail for the log.
fn fetch(url: &reqwest::Url, listed: bool) -> Result<Value, String> {
    let client = crate::outbound::pinned_client(
        url,
        crate::outbound::Rules {
            allow_private: listed,
            max_redirects: 0,
            max_body: MAX_DOCUMENT,
            timeout: Duration::from_secs(5),
        },
    )?;
    crate::outbound::get_json(&client, url.as_str(), MAX_DOCUMENT)
}

impl AuthService {
    /// The client a metadata-document URL names: the stored copy while fresh, else fetched
    /// (and stored) now. `Ok(None)` when an administrator revoked it.
    pub(crate) fn oauth_url_client(&self, url: &str, ip: &str) -> OResult<Option<Client>> {
        let listed = admitted(&self.oauth, url)?;
        let parsed = check_client_id_url(url, listed)?;
        let conn = self.db.conn().map_err(super::Error::from)?;
        let row: Option<(String, String, String, Option<String>)> = conn
            .query_row(
                "SELECT name, redirect_uris, metadata, revoked_at FROM oauth_clients WHERE id = ?1",
                [url],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        if let Some((name, uris, meta, revoked)) = &row {
            if revoked.is_some() {
                return Ok(None);
            }
            let fetched_at = serde_json::from_str::<Value>(meta)
                .ok()
                .and_then(|m| m["fetched_at"].as_str().map(str::to_string))
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
            if fetched_at.is_some_and(|t| chrono::Utc::now() - t.to_utc() < FRESH_FOR) {
                return Ok(Some(Client {
                    id: url.to_string(),
                    name: name.clone(),
                    redirect_uris: serde_json::from_str(uris).unwrap_or_default(),
                }));
            }
        }
        let unavailable = || {
            invalid(format!(
                "the client's metadata document {url} could not be fetched (see the appliance log)"
            ))
        };
        if recently_failed(url) {
            return Err(unavailable());
        }
        let doc = fetch(&parsed, listed).map_err(|detail| {
            tracing::warn!(client_id = %url, error = %detail, "OAuth client metadata document could not be fetched");
            remember_failure(url);
            unavailable()
        })?;
        let (mut meta, name, uris) = validate_document(url, &doc).inspect_err(|_| {
            remember_failure(url);
        })?;
        let now = chrono::Utc::now();
        meta["fetched_at"] = json!(now.to_rfc3339());
        let uris_json = serde_json::to_string(&uris).unwrap_or_default();
        conn.execute(
            "INSERT INTO oauth_clients (id, name, redirect_uris, metadata, created_at, created_ip) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(id) DO UPDATE SET name = excluded.name, \
               redirect_uris = excluded.redirect_uris, metadata = excluded.metadata",
            params![url, name, uris_json, meta.to_string(), time_str(now), ip],
        )?;
        if row.is_none() {
            AuthService::audit(&conn, None, "oauth.client.register", url, &name);
        }
        Ok(Some(Client {
            id: url.to_string(),
            name,
            redirect_uris: uris,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OAuthConfig;

    fn cfg(mode: &str, allowed: &[&str]) -> OAuthConfig {
        OAuthConfig {
            client_metadata_documents: mode.into(),
            client_metadata_allowed: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn modes_decide_which_urls_may_be_fetched() {
        let url = "https://tools.example.com/agents/claude.json";
        assert_eq!(admitted(&cfg("public", &[]), url), Ok(false));
        assert_eq!(
            admitted(&cfg("public", &["https://tools.example.com/agents/"]), url),
            Ok(true)
        );
        assert!(admitted(&cfg("allow-list", &[]), url).is_err());
        assert_eq!(
            admitted(&cfg("allow-list", &["https://tools.example.com/"]), url),
            Ok(true)
        );
        let off = admitted(&cfg("off", &["https://tools.example.com/"]), url).expect_err("off");
        assert!(off.description.contains("/oauth/register"), "{off:?}");
    }

    #[test]
    fn client_id_urls_need_https_and_a_path() {
        assert!(check_client_id_url("https://app.example.com/client.json", false).is_ok());
        for bad in [
            "https://app.example.com",
            "https://app.example.com/",
            "http://app.example.com/client.json",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/client.json?x=1",
            "https://app.example.com/client.json#f",
            "https://127.0.0.1/client.json",
        ] {
            assert!(check_client_id_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_client_id_url("http://127.0.0.1:9/client.json", true).is_ok());
    }

    #[test]
    fn documents_must_name_themselves_and_hold_no_secret() {
        let url = "https://app.example.com/client.json";
        let good = json!({
            "client_id": url,
            "client_name": "Example Agent",
            "redirect_uris": ["http://127.0.0.1/callback"],
        });
        let (meta, name, uris) = validate_document(url, &good).expect("valid");
        assert_eq!(name, "Example Agent (app.example.com)");
        assert_eq!(meta["client_id"], url);
        assert_eq!(uris, ["http://127.0.0.1/callback"]);
        let mut other = good.clone();
        other["client_id"] = json!("https://evil.example.com/client.json");
        assert!(
            validate_document(url, &other)
                .expect_err("mismatch")
                .description
                .contains("exactly")
        );
        let mut secret = good.clone();
        secret["client_secret"] = json!("s");
        assert!(validate_document(url, &secret).is_err());
        let mut no_uris = good.clone();
        no_uris["redirect_uris"] = json!([]);
        assert!(validate_document(url, &no_uris).is_err());
        let mut confidential = good;
        confidential["token_endpoint_auth_method"] = json!("private_key_jwt");
        assert!(validate_document(url, &confidential).is_err());
        assert!(validate_document(url, &json!(["not", "an", "object"])).is_err());
    }
}
