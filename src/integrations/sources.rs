//! Models from Jira issues, and members' own Atlassian accounts.
//!
//! - Reading a source issue: `POST /api/models {jira_issue}` (and MCP, and the New model
//!   page) reads the issue's summary, description and labels and generates from them. With
//!   the member's own account connected, the read runs as them (Jira's own permissions decide
//!   what they may read); with the organization's service account it is limited to the
//!   configured project, so the service token does not become a way to read every project
//!   it can see.
//! - Whose account does the work: Jira work a member asks for (export, Won't Do caused by
//!   their change) runs as their own account when they connected one for the org's current
//!   Jira site, else as the organization's service account.

use serde_json::{Value, json};

use super::accounts::{self, AccountView};
use super::client::{CallError, Site};
use super::jira::{self, SourceIssue};
use super::settings::{AuthInput, JiraSettings, Kind, Stored};
use super::{Error, IntegrationService, Result, invalid};
use crate::auth::Caller;

/// The credentials a piece of Jira work runs with.
pub(crate) struct JiraActor {
    /// The site with the credentials.
    pub site: Site,
    /// The member's own account, when the work runs as them.
    pub account: Option<AccountView>,
}

impl IntegrationService {
    /// The member's own account for the org's current Jira site, if connected.
    fn own_account(
        &self,
        org_id: &str,
        user_id: &str,
        cfg: &Stored<JiraSettings>,
    ) -> Result<Option<(AccountView, zeroize::Zeroizing<String>)>> {
        let conn = self.platform().conn()?;
        Ok(accounts::load(&conn, &self.inner.key, org_id, user_id)?
            .filter(|(view, _)| view.base_url == cfg.settings.base_url))
    }

    /// Who Jira work asked for by `actor` runs as: their own account, else the org's.
    pub(crate) fn jira_actor(
        &self,
        org_id: &str,
        cfg: &Stored<JiraSettings>,
        actor: Option<&str>,
    ) -> Result<JiraActor> {
        if let Some(user) = actor
            && let Some((view, token)) = self.own_account(org_id, user, cfg)?
        {
            return Ok(JiraActor {
                site: view.site(&token),
                account: Some(view),
            });
        }
        Ok(JiraActor {
            site: cfg.site(),
            account: None,
        })
    }

    fn org_jira(&self, org_id: &str) -> Result<Stored<JiraSettings>> {
        self.load::<JiraSettings>(org_id, Kind::Jira)?
            .ok_or_else(|| Error::Unavailable("Jira is not configured for this organization; an org admin sets it up in Settings › Integrations".into()))
    }

    /// Whether the caller's workspace can generate from Jira issues (its org has Jira).
    pub fn jira_available(&self, caller: &Caller) -> bool {
        caller
            .org_id
            .as_deref()
            .is_some_and(|org| self.configured(org, Kind::Jira).unwrap_or(false))
    }

    /// Reads the issue a model is to be generated from (the caller must be able to write
    /// in a workspace of an org with Jira configured).
    pub fn source_issue(&self, caller: &Caller, raw_key: &str) -> Result<SourceIssue> {
        caller.require_write()?;
        let key = jira::valid_issue_key(raw_key).ok_or_else(|| {
            invalid(
                "jira_issue",
                "must be a Jira issue key such as SEC-12 (project key, dash, number)",
            )
        })?;
        let org = self.require_org(caller, Kind::Jira)?;
        let cfg = self.org_jira(&org)?;
        let who = self.jira_actor(&org, &cfg, Some(&caller.user_id))?;
        let project = key.split_once('-').map(|(p, _)| p).unwrap_or_default();
        if who.account.is_none() && project != cfg.settings.project_key {
            return Err(Error::Forbidden(format!(
                "{key} is outside project {}, the only project the organization's Jira account is used for; connect your own Atlassian account in Settings › Integrations to generate from issues of other projects",
                cfg.settings.project_key
            )));
        }
        match jira::source_issue(&self.inner.http, &who.site, &key) {
            Ok(issue) if issue.brief().trim().is_empty() => Err(invalid(
                "jira_issue",
                format!("{key} has neither a summary nor a description to model"),
            )),
            Ok(issue) => Ok(issue),
            Err(CallError::Permanent { status: 404, .. }) => Err(Error::NotFound(format!(
                "Jira issue {key} (or it is not visible to {})",
                who.account
                    .as_ref()
                    .map(|a| format!("your Atlassian account {}", a.display_name))
                    .unwrap_or_else(|| "the organization's Jira account".into())
            ))),
            Err(e) => Err(Error::Upstream {
                product: "Jira",
                status: e.status(),
                message: match (&who.account, e.status()) {
                    (Some(_), 401) => format!(
                        "{e} (your own Atlassian account's token was refused: reconnect it in Settings › Integrations)"
                    ),
                    _ => e.to_string(),
                },
            }),
        }
    }

    /// `GET /api/organizations/{org}/integrations/jira/account`: the member's own account.
    pub fn jira_account(&self, caller: &Caller, org: &str) -> Result<Value> {
        let org = self.inner.orgs.membership(caller, org)?;
        let site = self
            .load::<JiraSettings>(&org.id, Kind::Jira)?
            .map(|s| s.settings.base_url);
        let conn = self.platform().conn()?;
        let account = accounts::load(&conn, &self.inner.key, &org.id, &caller.user_id)?;
        Ok(account_json(site.as_deref(), account.map(|(v, _)| v)))
    }

    /// `PUT …/jira/account {auth: {type, token, email?}}`: connects the member's own account
    /// to the org's Jira site after Jira confirms the token (`/myself`). Session only: an API
    /// key cannot change whose name Jira work carries.
    pub fn connect_jira_account(
        &self,
        caller: &Caller,
        org: &str,
        auth: &AuthInput,
    ) -> Result<Value> {
        if caller.scope().is_some() {
            return Err(Error::Forbidden(
                "an Atlassian account is connected from a signed-in session, not with an API key"
                    .into(),
            ));
        }
        let org = self.inner.orgs.membership(caller, org)?;
        let cfg = self.org_jira(&org.id)?;
        let (auth_type, email) = super::settings::check_auth(auth)?;
        let token = super::settings::check_token(auth.token.as_deref())?
            .ok_or_else(|| invalid("auth.token", "is required"))?;
        let site = super::settings::site(
            &cfg.settings.base_url,
            &auth_type,
            email.as_deref(),
            &token,
            "Jira",
        );
        let me = jira::myself(&self.inner.http, &site).map_err(|e| Error::Upstream {
            product: "Jira",
            status: e.status(),
            message: format!("Jira did not accept the token: {e}"),
        })?;
        let view = AccountView {
            auth_type,
            email,
            jira_name: me.name,
            display_name: me.display_name,
            base_url: cfg.settings.base_url.clone(),
            connected_at: crate::auth::now_str(),
        };
        let conn = self.platform().conn()?;
        accounts::save(
            &conn,
            &self.inner.key,
            &org.id,
            &caller.user_id,
            &view,
            &token,
        )?;
        crate::auth::AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "org.integration.jira.account",
            &org.slug,
            &format!("connected as {} on {}", view.jira_name, view.base_url),
        );
        Ok(account_json(Some(&cfg.settings.base_url), Some(view)))
    }

    /// `DELETE …/jira/account`: disconnects the member's own account.
    pub fn disconnect_jira_account(&self, caller: &Caller, org: &str) -> Result<()> {
        if caller.scope().is_some() {
            return Err(Error::Forbidden(
                "an Atlassian account is disconnected from a signed-in session, not with an API key"
                    .into(),
            ));
        }
        let org = self.inner.orgs.membership(caller, org)?;
        let conn = self.platform().conn()?;
        if !accounts::delete(&conn, &org.id, &caller.user_id)? {
            return Err(Error::NotFound("connected Atlassian account".into()));
        }
        crate::auth::AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "org.integration.jira.account.delete",
            &org.slug,
            "",
        );
        Ok(())
    }
}

/// What `GET …/jira/account` answers.
fn account_json(site: Option<&str>, account: Option<AccountView>) -> Value {
    let current = |a: &AccountView| site == Some(a.base_url.as_str());
    json!({
        "jira_configured": site.is_some(),
        "connected": account.as_ref().is_some_and(current),
        "stale": account.as_ref().is_some_and(|a| !current(a)),
        "account": account.map(|a| json!({
            "auth_type": a.auth_type,
            "email": a.email,
            "jira_name": a.jira_name,
            "display_name": a.display_name,
            "base_url": a.base_url,
            "connected_at": a.connected_at,
            "token": "********",
        })),
    })
}
