//! An organization's Jira and Confluence settings: what an org admin submits, how it is
//! validated and stored (token sealed, never returned), and what `GET` shows.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::client::{Auth, Site};
use super::{Error, Result, invalid};
use crate::auth::now_str;
use crate::crypto::dek;

/// Which integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Jira.
    Jira,
    /// Confluence.
    Confluence,
}

impl Kind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jira => "jira",
            Kind::Confluence => "confluence",
        }
    }

    /// Product name in messages.
    pub fn product(self) -> &'static str {
        match self {
            Kind::Jira => "Jira",
            Kind::Confluence => "Confluence",
        }
    }
}

/// How the appliance signs in to the site, as submitted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthInput {
    /// `pat` (Data Center/Server personal access token) or `basic` (Cloud: email + API token).
    #[serde(rename = "type")]
    pub kind: String,
    /// The token; may be left out on an update that keeps the site and the account.
    #[serde(default)]
    pub token: Option<String>,
    /// Atlassian account email (`basic` only).
    #[serde(default)]
    pub email: Option<String>,
}

/// `PUT /api/organizations/{id}/integrations/jira`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraInput {
    /// Site URL, including a context path if Jira has one (`https://jira.example.com/jira`).
    pub base_url: String,
    /// Credentials.
    pub auth: AuthInput,
    /// Project the issues go to.
    pub project_key: String,
    /// Issue type of control issues (Story, Task, Sub-task, …); default Task.
    #[serde(default)]
    pub issue_type: Option<String>,
    /// Issue type of the model's container issue; default Task.
    #[serde(default)]
    pub container_issue_type: Option<String>,
    /// Statuses that mean "done" (→ control implemented); default Done, Closed, Resolved.
    #[serde(default)]
    pub done_statuses: Option<Vec<String>>,
    /// Transition (or target status) used for dropped controls; default "Won't Do".
    #[serde(default)]
    pub wont_do_transition: Option<String>,
    /// Link type joining control issues to the container when the issue type is not a
    /// sub-task; default Relates.
    #[serde(default)]
    pub link_type: Option<String>,
    /// Generate a new webhook secret (the old one stops working).
    #[serde(default)]
    pub rotate_webhook_secret: bool,
}

/// `PUT /api/organizations/{id}/integrations/confluence`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfluenceInput {
    /// Site URL, including a context path if Confluence has one (`…/confluence`; Cloud:
    /// `https://acme.atlassian.net/wiki`).
    pub base_url: String,
    /// Credentials.
    pub auth: AuthInput,
    /// Space the pages go to.
    pub space_key: String,
    /// Page the model pages are created under (optional).
    #[serde(default)]
    pub parent_page_id: Option<String>,
}

/// Stored Jira settings (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JiraSettings {
    /// Site URL without a trailing slash.
    pub base_url: String,
    /// `pat` or `basic`.
    pub auth_type: String,
    /// Account email (`basic`).
    #[serde(default)]
    pub email: Option<String>,
    /// Project key.
    pub project_key: String,
    /// Issue type of control issues.
    pub issue_type: String,
    /// Issue type of container issues.
    pub container_issue_type: String,
    /// Statuses meaning done.
    pub done_statuses: Vec<String>,
    /// Transition used for dropped controls.
    pub wont_do_transition: String,
    /// Link type to the container.
    pub link_type: String,
}

/// Stored Confluence settings (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConfluenceSettings {
    /// Site URL without a trailing slash.
    pub base_url: String,
    /// `pat` or `basic`.
    pub auth_type: String,
    /// Account email (`basic`).
    #[serde(default)]
    pub email: Option<String>,
    /// Space key.
    pub space_key: String,
    /// Parent page id.
    #[serde(default)]
    pub parent_page_id: Option<String>,
}

/// A stored integration with its secrets opened (server side only).
#[derive(Debug, Clone)]
pub struct Stored<S> {
    /// Settings.
    pub settings: S,
    /// API token / PAT.
    pub token: zeroize::Zeroizing<String>,
    /// Jira webhook secret.
    pub webhook_secret: Option<zeroize::Zeroizing<String>>,
    /// Last change.
    pub updated_at: String,
    /// Who changed it (user id).
    pub updated_by: Option<String>,
}

impl Stored<JiraSettings> {
    /// The site to call.
    pub fn site(&self) -> Site {
        site(
            &self.settings.base_url,
            &self.settings.auth_type,
            self.settings.email.as_deref(),
            &self.token,
            "Jira",
        )
    }
}

impl Stored<ConfluenceSettings> {
    /// The site to call.
    pub fn site(&self) -> Site {
        site(
            &self.settings.base_url,
            &self.settings.auth_type,
            self.settings.email.as_deref(),
            &self.token,
            "Confluence",
        )
    }
}

pub(crate) fn site(
    base: &str,
    auth_type: &str,
    email: Option<&str>,
    token: &str,
    product: &'static str,
) -> Site {
    Site {
        base_url: base.to_string(),
        auth: if auth_type == "basic" {
            Auth::Basic {
                email: email.unwrap_or_default().to_string(),
                token: token.to_string(),
            }
        } else {
            Auth::Pat(token.to_string())
        },
        product,
    }
}

/// Longest settings text accepted.
const MAX_FIELD: usize = 200;

fn text(field: &'static str, v: &str, required: bool) -> Result<String> {
    let v = v.trim();
    if required && v.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if v.chars().count() > MAX_FIELD || v.chars().any(char::is_control) {
        return Err(invalid(
            field,
            format!("must be at most {MAX_FIELD} characters without control characters"),
        ));
    }
    Ok(v.to_string())
}

/// Checks a base URL: http(s), a host, no credentials, query or fragment; the host must be
/// allowed by `integrations.allowed_hosts` (when set). Returns it without a trailing slash.
pub fn check_base_url(raw: &str, allowed_hosts: &[String]) -> Result<String> {
    let raw = raw.trim();
    let url =
        reqwest::Url::parse(raw).map_err(|e| invalid("base_url", format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("base_url", "must start with https:// (or http://)"));
    }
    let Some(host) = url.host_str() else {
        return Err(invalid("base_url", "has no host"));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "base_url",
            "must not contain credentials; put the token in auth.token",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("base_url", "must not have a query or fragment"));
    }
    if !allowed_hosts.is_empty() && !host_allowed(host, allowed_hosts) {
        return Err(invalid(
            "base_url",
            format!(
                "host {host} is not in integrations.allowed_hosts of this appliance ({})",
                allowed_hosts.join(", ")
            ),
        ));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// `host` matches an entry (`jira.example.com`, or `*.example.com` for subdomains).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => host == a,
        }
    })
}

pub(crate) fn check_auth(a: &AuthInput) -> Result<(String, Option<String>)> {
    let kind = a.kind.trim().to_ascii_lowercase();
    match kind.as_str() {
        "pat" => Ok((kind, None)),
        "basic" => {
            let email = a
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| e.contains('@') && e.len() <= 254 && !e.contains(char::is_whitespace))
                .ok_or_else(|| {
                    invalid(
                        "auth.email",
                        "is required for basic auth (the Atlassian account email)",
                    )
                })?;
            Ok((kind, Some(email.to_string())))
        }
        _ => Err(invalid(
            "auth.type",
            "must be pat (Data Center/Server personal access token) or basic (Cloud: email + API token)",
        )),
    }
}

pub(crate) fn check_token(t: Option<&str>) -> Result<Option<String>> {
    match t.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.len() > 4096 || t.chars().any(|c| c.is_control() || c.is_whitespace()) => {
            Err(invalid("auth.token", "is not a valid token"))
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

fn project_key(v: &str) -> Result<String> {
    let v = v.trim().to_ascii_uppercase();
    let ok = !v.is_empty()
        && v.len() <= 50
        && v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(v)
    } else {
        Err(invalid(
            "project_key",
            "must be a Jira project key (letters, digits, underscore; starting with a letter)",
        ))
    }
}

fn space_key(v: &str) -> Result<String> {
    let v = v.trim().to_string();
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '~' || c == '_' || c == '-');
    if ok {
        Ok(v)
    } else {
        Err(invalid(
            "space_key",
            "must be a Confluence space key (letters and digits; ~name for personal spaces)",
        ))
    }
}

/// Validated Jira settings and the token given with them (if any).
pub fn validate_jira(
    input: &JiraInput,
    allowed_hosts: &[String],
) -> Result<(JiraSettings, Option<String>)> {
    let base_url = check_base_url(&input.base_url, allowed_hosts)?;
    let (auth_type, email) = check_auth(&input.auth)?;
    let token = check_token(input.auth.token.as_deref())?;
    let done = match &input.done_statuses {
        None => vec!["Done".into(), "Closed".into(), "Resolved".into()],
        Some(list) => {
            let mut out = Vec::new();
            for s in list {
                out.push(text("done_statuses", s, true)?);
            }
            if out.is_empty() || out.len() > 20 {
                return Err(invalid("done_statuses", "must list 1 to 20 status names"));
            }
            out
        }
    };
    let or = |v: &Option<String>, field: &'static str, default: &str| -> Result<String> {
        match v {
            Some(v) => text(field, v, true),
            None => Ok(default.to_string()),
        }
    };
    Ok((
        JiraSettings {
            base_url,
            auth_type,
            email,
            project_key: project_key(&input.project_key)?,
            issue_type: or(&input.issue_type, "issue_type", "Task")?,
            container_issue_type: or(&input.container_issue_type, "container_issue_type", "Task")?,
            done_statuses: done,
            wont_do_transition: or(&input.wont_do_transition, "wont_do_transition", "Won't Do")?,
            link_type: or(&input.link_type, "link_type", "Relates")?,
        },
        token,
    ))
}

/// Validated Confluence settings and the token given with them (if any).
pub fn validate_confluence(
    input: &ConfluenceInput,
    allowed_hosts: &[String],
) -> Result<(ConfluenceSettings, Option<String>)> {
    let base_url = check_base_url(&input.base_url, allowed_hosts)?;
    let (auth_type, email) = check_auth(&input.auth)?;
    let token = check_token(input.auth.token.as_deref())?;
    let parent = match input.parent_page_id.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) if p.len() <= 40 && p.chars().all(|c| c.is_ascii_digit()) => Some(p.to_string()),
        Some(_) => {
            return Err(invalid(
                "parent_page_id",
                "must be the numeric id of a Confluence page",
            ));
        }
    };
    Ok((
        ConfluenceSettings {
            base_url,
            auth_type,
            email,
            space_key: space_key(&input.space_key)?,
            parent_page_id: parent,
        },
        token,
    ))
}

/// Associated data binding a sealed secret to its org, integration and purpose.
fn aad(org_id: &str, kind: Kind, what: &str) -> String {
    format!("org-integration:{org_id}:{}:{what}", kind.as_str())
}

/// settings JSON, sealed token, sealed webhook secret, updated_at, updated_by.
type SettingsRow = (String, Vec<u8>, Option<Vec<u8>>, String, Option<String>);

/// Reads an org's stored integration and opens its secrets.
pub fn load<S: serde::de::DeserializeOwned>(
    conn: &Connection,
    key: &[u8; 32],
    org_id: &str,
    kind: Kind,
) -> Result<Option<Stored<S>>> {
    let row: Option<SettingsRow> = conn
        .query_row(
            "SELECT settings, token_sealed, webhook_secret_sealed, updated_at, updated_by FROM org_integrations WHERE org_id = ?1 AND kind = ?2",
            params![org_id, kind.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let Some((settings, token, secret, updated_at, updated_by)) = row else {
        return Ok(None);
    };
    let settings: S = serde_json::from_str(&settings).map_err(|e| {
        Error::Internal(format!("stored {} settings unreadable: {e}", kind.as_str()))
    })?;
    let open = |sealed: &[u8], what: &str| -> Result<zeroize::Zeroizing<String>> {
        let plain = dek::open(key, sealed, aad(org_id, kind, what).as_bytes()).map_err(|e| {
            Error::Internal(format!(
                "cannot open the stored {} {what}: {e}",
                kind.as_str()
            ))
        })?;
        Ok(zeroize::Zeroizing::new(
            String::from_utf8_lossy(&plain).into_owned(),
        ))
    };
    Ok(Some(Stored {
        settings,
        token: open(&token, "token")?,
        webhook_secret: match secret {
            Some(s) => Some(open(&s, "webhook-secret")?),
            None => None,
        },
        updated_at,
        updated_by,
    }))
}

/// Writes an org's integration (insert or replace), sealing the secrets.
#[allow(clippy::too_many_arguments)]
pub fn save<S: Serialize>(
    conn: &Connection,
    key: &[u8; 32],
    org_id: &str,
    kind: Kind,
    settings: &S,
    token: &str,
    webhook_secret: Option<&str>,
    actor: &str,
) -> Result<()> {
    let json = serde_json::to_string(settings).map_err(|e| Error::Internal(e.to_string()))?;
    let seal = |plain: &str, what: &str| -> Result<Vec<u8>> {
        dek::seal(key, plain.as_bytes(), aad(org_id, kind, what).as_bytes())
            .map_err(|e| Error::Internal(format!("cannot seal the {what}: {e}")))
    };
    let token_sealed = seal(token, "token")?;
    let secret_sealed = match webhook_secret {
        Some(s) => Some(seal(s, "webhook-secret")?),
        None => None,
    };
    let now = now_str();
    conn.execute(
        "INSERT INTO org_integrations (org_id, kind, settings, token_sealed, webhook_secret_sealed, created_at, updated_at, updated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) \
         ON CONFLICT(org_id, kind) DO UPDATE SET settings = ?3, token_sealed = ?4, webhook_secret_sealed = ?5, updated_at = ?6, updated_by = ?7",
        params![org_id, kind.as_str(), json, token_sealed, secret_sealed, now, actor],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            check_base_url("https://jira.example.com/jira/", &[]).expect("ok"),
            "https://jira.example.com/jira"
        );
        for bad in [
            "ftp://jira.example.com",
            "jira.example.com",
            "https://user:pw@jira.example.com",
            "https://jira.example.com/?x=1",
        ] {
            assert!(check_base_url(bad, &[]).is_err(), "{bad}");
        }
        let allowed = vec!["*.example.com".to_string(), "jira.corp".to_string()];
        assert!(check_base_url("https://jira.example.com", &allowed).is_ok());
        assert!(check_base_url("https://jira.corp", &allowed).is_ok());
        assert!(check_base_url("https://example.com", &allowed).is_err());
        assert!(check_base_url("http://169.254.169.254", &allowed).is_err());
    }

    #[test]
    fn jira_defaults_and_refusals() {
        let input: JiraInput = serde_json::from_value(serde_json::json!({
            "base_url": "https://jira.example.com",
            "auth": {"type": "pat", "token": "abc"},
            "project_key": "sec"
        }))
        .expect("input");
        let (s, token) = validate_jira(&input, &[]).expect("valid");
        assert_eq!(s.project_key, "SEC");
        assert_eq!(s.issue_type, "Task");
        assert_eq!(s.wont_do_transition, "Won't Do");
        assert_eq!(s.done_statuses, vec!["Done", "Closed", "Resolved"]);
        assert_eq!(token.as_deref(), Some("abc"));
        let basic: JiraInput = serde_json::from_value(serde_json::json!({
            "base_url": "https://acme.atlassian.net",
            "auth": {"type": "basic", "token": "abc"},
            "project_key": "SEC"
        }))
        .expect("input");
        assert!(validate_jira(&basic, &[]).is_err(), "basic needs an email");
        let bad_key: JiraInput = serde_json::from_value(serde_json::json!({
            "base_url": "https://jira.example.com",
            "auth": {"type": "pat"},
            "project_key": "1 DROP"
        }))
        .expect("input");
        assert!(validate_jira(&bad_key, &[]).is_err());
    }

    #[test]
    fn secrets_are_sealed_to_their_org() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::store::Db::open(
            &dir.path().join("t.db"),
            &crate::crypto::DbKey::from_bytes([7; 32]),
            &crate::store::OpenOptions::default(),
        )
        .expect("db");
        let conn = db.conn().expect("conn");
        conn.execute(
            "INSERT INTO orgs (id, slug, name, created_at) VALUES ('o1', 'o1', 'O1', 'now'), ('o2', 'o2', 'O2', 'now')",
            [],
        )
        .expect("orgs");
        conn.execute(
            "INSERT INTO users (id, email, display_name, password_hash, role, created_at, updated_at, password_changed_at) VALUES ('u', 'u@example.com', 'U', 'x', 'admin', 'now', 'now', 'now')",
            [],
        )
        .expect("user");
        let key = [9u8; 32];
        let s = ConfluenceSettings {
            base_url: "https://c.example.com".into(),
            auth_type: "pat".into(),
            email: None,
            space_key: "SEC".into(),
            parent_page_id: None,
        };
        save(
            &conn,
            &key,
            "o1",
            Kind::Confluence,
            &s,
            "tok-123",
            None,
            "u",
        )
        .expect("save");
        let raw: Vec<u8> = conn
            .query_row("SELECT token_sealed FROM org_integrations", [], |r| {
                r.get(0)
            })
            .expect("row");
        assert!(
            !raw.windows(7).any(|w| w == b"tok-123"),
            "token stored in clear"
        );
        let back: Stored<ConfluenceSettings> = load(&conn, &key, "o1", Kind::Confluence)
            .expect("load")
            .expect("some");
        assert_eq!(back.token.as_str(), "tok-123");
        assert_eq!(back.settings, s);
        // The sealed token moved to another org does not open.
        conn.execute(
            "INSERT INTO org_integrations (org_id, kind, settings, token_sealed, created_at, updated_at) SELECT 'o2', kind, settings, token_sealed, created_at, updated_at FROM org_integrations",
            [],
        )
        .expect("copy");
        assert!(load::<ConfluenceSettings>(&conn, &key, "o2", Kind::Confluence).is_err());
    }
}
