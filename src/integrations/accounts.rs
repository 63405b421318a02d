//! Members' own Atlassian accounts (Settings › Integrations › Jira › "Your Atlassian
//! account"): a member of an organization whose admin configured Jira can connect their own
//! token for that site, and the Jira work they ask for runs as them.
//!
//! - The account belongs to one user in one org and to the org's Jira site as configured when
//!   it was connected: the base URL is not the member's to choose (so a member cannot send a
//!   token to another host), and an account connected to an earlier site is not used after
//!   the org admin points Jira elsewhere (it shows as "reconnect").
//! - The token is sealed like the org's (AES-256-GCM under the integration key) with the org
//!   and user as associated data; it is never returned.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::client::Site;
use super::{Error, Result};
use crate::crypto::dek;

/// What a member sees of their connected account (never the token).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AccountView {
    /// `pat` or `basic`.
    pub auth_type: String,
    /// Account email (`basic`).
    pub email: Option<String>,
    /// Jira login name or account id, as `/myself` reported it when connected.
    pub jira_name: String,
    /// Jira display name.
    pub display_name: String,
    /// The Jira site it was connected to.
    pub base_url: String,
    /// When it was connected.
    pub connected_at: String,
}

impl AccountView {
    /// The site to call as this account.
    pub fn site(&self, token: &str) -> Site {
        super::settings::site(
            &self.base_url,
            &self.auth_type,
            self.email.as_deref(),
            token,
            "Jira",
        )
    }
}

fn aad(org_id: &str, user_id: &str) -> String {
    format!("atlassian-account:{org_id}:{user_id}")
}

/// The member's account in an org, with its token opened.
pub fn load(
    conn: &Connection,
    key: &[u8; 32],
    org_id: &str,
    user_id: &str,
) -> Result<Option<(AccountView, zeroize::Zeroizing<String>)>> {
    let row = conn
        .query_row(
            "SELECT auth_type, email, token_sealed, jira_name, display_name, base_url, connected_at \
             FROM atlassian_accounts WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id],
            |r| {
                Ok((
                    AccountView {
                        auth_type: r.get(0)?,
                        email: r.get(1)?,
                        jira_name: r.get(3)?,
                        display_name: r.get(4)?,
                        base_url: r.get(5)?,
                        connected_at: r.get(6)?,
                    },
                    r.get::<_, Vec<u8>>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((view, sealed)) = row else {
        return Ok(None);
    };
    let plain = dek::open(key, &sealed, aad(org_id, user_id).as_bytes()).map_err(|e| {
        Error::Internal(format!("cannot open a stored Atlassian account token: {e}"))
    })?;
    Ok(Some((
        view,
        zeroize::Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()),
    )))
}

/// Connects (or replaces) the member's account.
pub fn save(
    conn: &Connection,
    key: &[u8; 32],
    org_id: &str,
    user_id: &str,
    view: &AccountView,
    token: &str,
) -> Result<()> {
    let sealed = dek::seal(key, token.as_bytes(), aad(org_id, user_id).as_bytes())
        .map_err(|e| Error::Internal(format!("cannot seal the token: {e}")))?;
    conn.execute(
        "INSERT INTO atlassian_accounts (org_id, user_id, auth_type, email, token_sealed, jira_name, display_name, base_url, connected_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT(org_id, user_id) DO UPDATE SET auth_type = ?3, email = ?4, token_sealed = ?5, \
         jira_name = ?6, display_name = ?7, base_url = ?8, connected_at = ?9",
        params![
            org_id,
            user_id,
            view.auth_type,
            view.email,
            sealed,
            view.jira_name,
            view.display_name,
            view.base_url,
            view.connected_at
        ],
    )?;
    Ok(())
}

/// Disconnects the member's account; whether there was one.
pub fn delete(conn: &Connection, org_id: &str, user_id: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM atlassian_accounts WHERE org_id = ?1 AND user_id = ?2",
        params![org_id, user_id],
    )? > 0)
}
