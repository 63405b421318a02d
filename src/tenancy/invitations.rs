//! Invitations: one-time links that add someone to a workspace.
//!
//! An owner or admin invites an email with a role. The link (`<public_url>/invite/<token>`)
//! is shown once to the inviter and, when SMTP is configured, emailed to the invitee. Only
//! the SHA-256 of the token is stored; a link works once and expires after
//! [`INVITATION_TTL_DAYS`]. A known user accepts it signed in with the invited email; an
//! unknown email accepting it creates a local account (password policy applies, and the new
//! account then enrolls a second factor when `MFA_REQUIRED_FOR_LOCAL` is on).

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::roles::WorkspaceRole;
use super::workspaces::{
    WorkspaceInfo, WorkspaceService, check_org_member_room, ensure_org_member, require_session,
    resolve,
};
use super::{Error, Result, invalid};
use crate::auth::{AuthService, Caller, Role, now_str, parse_time, secrets, time_str};

/// How long an invitation link stays valid.
pub const INVITATION_TTL_DAYS: i64 = 7;

/// An invitation as listed to workspace admins (never the token).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Invitation {
    /// `inv_<hex>`.
    pub id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Invited address.
    pub email: String,
    /// Role given on acceptance.
    pub role: WorkspaceRole,
    /// `pending`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
    /// Who invited.
    pub invited_by: Option<String>,
    /// Created.
    pub created_at: String,
    /// Expires.
    pub expires_at: String,
    /// When the email went out, if it did.
    pub emailed_at: Option<String>,
}

/// A new invitation with its link, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedInvitation {
    /// The invitation.
    #[serde(flatten)]
    pub invitation: Invitation,
    /// The one-time link.
    pub invite_url: String,
    /// Whether the email was sent.
    pub emailed: bool,
    /// Why it was not, when SMTP is configured but sending failed.
    pub email_error: Option<String>,
}

/// An account created from an invitation.
#[derive(Debug, Clone, Serialize)]
pub struct NewMember {
    /// The new user's id.
    pub user_id: String,
    /// Their email (the invited one).
    pub email: String,
    /// The workspace they joined.
    pub workspace_id: String,
}

/// What the accept page shows about a link.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    /// Workspace name.
    pub workspace_name: String,
    /// Invited address.
    pub email: String,
    /// Role on acceptance.
    pub role: WorkspaceRole,
    /// Inviter's display name.
    pub invited_by: String,
    /// Expiry.
    pub expires_at: String,
    /// Whether an account with this email exists (sign in) or not (create one).
    pub account_exists: bool,
}

fn status(accepted: &Option<String>, revoked: &Option<String>, expires: &str) -> &'static str {
    if accepted.is_some() {
        "accepted"
    } else if revoked.is_some() {
        "revoked"
    } else if parse_time(expires) <= Utc::now() {
        "expired"
    } else {
        "pending"
    }
}

const INVITATION_COLUMNS: &str = "i.id, i.workspace_id, i.email, i.role, u.email, i.created_at, i.expires_at, i.emailed_at, i.accepted_at, i.revoked_at";

fn invitation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Invitation> {
    let role: String = r.get(3)?;
    let expires: String = r.get(6)?;
    let accepted: Option<String> = r.get(8)?;
    let revoked: Option<String> = r.get(9)?;
    Ok(Invitation {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        email: r.get(2)?,
        role: WorkspaceRole::parse(&role).unwrap_or(WorkspaceRole::Viewer),
        status: status(&accepted, &revoked, &expires),
        invited_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: expires,
        emailed_at: r.get(7)?,
    })
}

fn validate_email(email: &str) -> Result<String> {
    let email = email.trim().to_string();
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(email)
    } else {
        Err(invalid(
            "email",
            "must be an email address like name@example.com",
        ))
    }
}

/// A pending, unexpired invitation by token, with the row id.
struct Pending {
    id: String,
    workspace_id: String,
    email: String,
    role: WorkspaceRole,
    invited_by: Option<String>,
    expires_at: String,
}

fn pending(conn: &Connection, token: &str) -> Result<Pending> {
    let gone =
        || Error::NotFound("invitation (the link is wrong, used, revoked or expired)".into());
    if token.is_empty() || token.len() > 100 {
        return Err(gone());
    }
    let row = conn
        .query_row(
            "SELECT id, workspace_id, email, role, invited_by, expires_at, accepted_at, revoked_at \
             FROM workspace_invitations WHERE token_hash = ?1",
            [secrets::sha256_hex(token)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(gone)?;
    let (id, workspace_id, email, role, invited_by, expires_at, accepted, revoked) = row;
    if status(&accepted, &revoked, &expires_at) != "pending" {
        return Err(gone());
    }
    Ok(Pending {
        id,
        workspace_id,
        email,
        role: WorkspaceRole::parse(&role).unwrap_or(WorkspaceRole::Viewer),
        invited_by,
        expires_at,
    })
}

impl WorkspaceService {
    /// Invites an email to a workspace (owners and admins; only owners invite owners).
    /// Returns the one-time link; emails it when SMTP is configured.
    pub fn invite(
        &self,
        caller: &Caller,
        workspace_id: &str,
        email: &str,
        role: WorkspaceRole,
    ) -> Result<CreatedInvitation> {
        require_session(caller, "inviting someone")?;
        let email = validate_email(email)?;
        let token = secrets::base62(&secrets::random_bytes::<32>());
        let id = format!("inv_{}", hex::encode(secrets::random_bytes::<8>()));
        let now = Utc::now();
        let expires = now + chrono::Duration::days(INVITATION_TTL_DAYS);
        let ws_name;
        {
            let mut conn = self.tenants.platform().conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let r = resolve(&tx, &caller.user_id, caller.role, workspace_id)?
                .ok_or_else(|| Error::NotFound("workspace".into()))?;
            if !r.access.role.can_manage() {
                return Err(Error::Forbidden(format!(
                    "this needs the owner or admin role in the workspace; yours is {}",
                    r.access.role
                )));
            }
            if r.personal {
                return Err(Error::Conflict(
                    "a personal workspace cannot be shared; create a team workspace".into(),
                ));
            }
            if role == WorkspaceRole::Owner
                && r.access.role != WorkspaceRole::Owner
                && r.access.via == super::AccessVia::Membership
            {
                return Err(Error::Forbidden(
                    "only an owner can invite another owner".into(),
                ));
            }
            let already = tx
                .query_row(
                    "SELECT 1 FROM workspace_members m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1 AND u.email = ?2",
                    params![workspace_id, email],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if already {
                return Err(Error::Conflict(format!("{email} is already a member")));
            }
            if let Some(org) = &r.org_id {
                check_org_member_room(&tx, org, &email)?;
            }
            tx.execute(
                "INSERT INTO workspace_invitations (id, workspace_id, email, role, token_hash, invited_by, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    id,
                    workspace_id,
                    email,
                    role.as_str(),
                    secrets::sha256_hex(&token),
                    caller.user_id,
                    time_str(now),
                    time_str(expires)
                ],
            )?;
            AuthService::audit(
                &tx,
                Some(&caller.user_id),
                "workspace.invite",
                workspace_id,
                &format!("{email} as {role} ({id})"),
            );
            tx.commit()?;
            ws_name = r.name;
        }
        let invite_url = format!("{}/invite/{token}", self.public_url);
        let content = crate::mail::Content {
            subject: format!("[rampart] You are invited to {ws_name}"),
            heading: format!("You are invited to the workspace \"{ws_name}\""),
            paragraphs: vec![
                format!(
                    "{} invited you to the workspace \"{ws_name}\" on rampart as {role}.",
                    caller.display_name
                ),
                "The link works once. If you did not expect this, ignore this message.".into(),
            ],
            action: Some(crate::mail::Action {
                label: "Accept the invitation".into(),
                url: invite_url.clone(),
            }),
            details: vec![(
                "Expires".into(),
                expires.format("%Y-%m-%d %H:%M UTC").to_string(),
            )],
            footer: format!("You get this because {} invited {email}.", caller.email),
            ..Default::default()
        };
        let delivery = self.outbox.send("invitation", &email, &content)?;
        if delivery.sent {
            let conn = self.tenants.platform().conn()?;
            conn.execute(
                "UPDATE workspace_invitations SET emailed_at = ?1 WHERE id = ?2",
                params![now_str(), id],
            )?;
        } else if let Some(e) = &delivery.error {
            tracing::warn!(invitation = %id, error = %e, "invitation email not sent yet; queued for retry");
        }
        let (emailed, email_error) = (delivery.sent, delivery.error);
        let conn = self.tenants.platform().conn()?;
        let invitation = get(&conn, &id)?;
        Ok(CreatedInvitation {
            invitation,
            invite_url,
            emailed,
            email_error,
        })
    }

    /// Invitations of a workspace, newest first (owners and admins).
    pub fn invitations(&self, caller: &Caller, workspace_id: &str) -> Result<Vec<Invitation>> {
        let conn = self.tenants.platform().conn()?;
        let r = resolve(&conn, &caller.user_id, caller.role, workspace_id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        if !r.access.role.can_manage() {
            return Err(Error::Forbidden(format!(
                "this needs the owner or admin role in the workspace; yours is {}",
                r.access.role
            )));
        }
        let mut stmt = conn.prepare(&format!(
            "SELECT {INVITATION_COLUMNS} FROM workspace_invitations i LEFT JOIN users u ON u.id = i.invited_by \
             WHERE i.workspace_id = ?1 ORDER BY i.created_at DESC"
        ))?;
        let rows = stmt
            .query_map([workspace_id], invitation_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Revokes a pending invitation; its link stops working.
    pub fn revoke_invitation(
        &self,
        caller: &Caller,
        workspace_id: &str,
        id: &str,
    ) -> Result<Invitation> {
        require_session(caller, "revoking an invitation")?;
        let conn = self.tenants.platform().conn()?;
        let r = resolve(&conn, &caller.user_id, caller.role, workspace_id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        if !r.access.role.can_manage() {
            return Err(Error::Forbidden(format!(
                "this needs the owner or admin role in the workspace; yours is {}",
                r.access.role
            )));
        }
        let inv = get(&conn, id)?;
        if inv.workspace_id != workspace_id {
            return Err(Error::NotFound("invitation".into()));
        }
        if inv.status != "pending" {
            return Err(Error::Conflict(format!(
                "the invitation is already {}",
                inv.status
            )));
        }
        conn.execute(
            "UPDATE workspace_invitations SET revoked_at = ?1 WHERE id = ?2",
            params![now_str(), id],
        )?;
        AuthService::audit(
            &conn,
            Some(&caller.user_id),
            "workspace.invite_revoke",
            workspace_id,
            &format!("{} ({id})", inv.email),
        );
        get(&conn, id)
    }

    /// What an invitation link is for (the accept page); unknown, used, revoked and
    /// expired links all answer the same `NotFound`.
    pub fn invitation_view(&self, token: &str) -> Result<InvitationView> {
        let conn = self.tenants.platform().conn()?;
        let p = pending(&conn, token)?;
        let (workspace_name, invited_by): (String, Option<String>) = conn.query_row(
            "SELECT w.name, (SELECT display_name FROM users WHERE id = ?2) FROM workspaces w WHERE w.id = ?1",
            params![p.workspace_id, p.invited_by],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let account_exists = crate::auth::users::find_by_email(&conn, &p.email)
            .map_err(|e| Error::Conflict(e.to_string()))?
            .is_some();
        Ok(InvitationView {
            workspace_name,
            email: p.email,
            role: p.role,
            invited_by: invited_by.unwrap_or_else(|| "a workspace admin".into()),
            expires_at: p.expires_at,
            account_exists,
        })
    }

    /// Accepts an invitation as a signed-in user whose email is the invited one.
    pub fn accept(&self, caller: &Caller, token: &str) -> Result<WorkspaceInfo> {
        require_session(caller, "accepting an invitation")?;
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let p = pending(&tx, token)?;
        if !p.email.eq_ignore_ascii_case(&caller.email) {
            return Err(Error::Forbidden(format!(
                "this invitation is for {}; sign in with that account to accept it",
                p.email
            )));
        }
        join(&tx, &p, &caller.user_id)?;
        tx.commit()?;
        let r = resolve(&conn, &caller.user_id, caller.role, &p.workspace_id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        super::workspaces::list_for_user(&conn, &caller.user_id)?
            .into_iter()
            .find(|w| w.id == r.workspace_id)
            .ok_or_else(|| Error::NotFound("workspace".into()))
    }

    /// Accepts an invitation for an email without an account: creates a local user with the
    /// invited email (password policy applies) and adds them.
    pub fn accept_new_account(
        &self,
        auth: &AuthService,
        token: &str,
        display_name: &str,
        password: &str,
    ) -> Result<NewMember> {
        let p = {
            let conn = self.tenants.platform().conn()?;
            pending(&conn, token)?
        };
        let user = auth
            .create_user_unchecked(
                p.invited_by.as_deref(),
                &crate::auth::users::NewUser {
                    email: p.email.clone(),
                    display_name: display_name.to_string(),
                    password: password.to_string(),
                    role: None,
                },
                Role::User,
            )
            .map_err(|e| match e {
                crate::auth::Error::Invalid { field, message } => Error::Invalid { field, message },
                crate::auth::Error::Conflict(_) => Error::Conflict(
                    "an account with this email already exists; sign in to accept the invitation"
                        .into(),
                ),
                crate::auth::Error::Store(s) => Error::Store(s),
                other => Error::Conflict(other.to_string()),
            })?;
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Re-read: the link may have been used or revoked meanwhile.
        let p = pending(&tx, token)?;
        join(&tx, &p, &user.id)?;
        tx.commit()?;
        Ok(NewMember {
            user_id: user.id,
            email: user.email,
            workspace_id: p.workspace_id,
        })
    }
}

/// Adds the user with the invitation's role and marks it accepted (caller's transaction).
fn join(conn: &Connection, p: &Pending, user_id: &str) -> Result<()> {
    let org: Option<String> = conn
        .query_row(
            "SELECT org_id FROM workspaces WHERE id = ?1",
            [&p.workspace_id],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound("workspace".into()))?;
    if let Some(org) = org {
        ensure_org_member(conn, &org, user_id)?;
    }
    let now = now_str();
    conn.execute(
        "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT(workspace_id, user_id) DO UPDATE SET role = CASE \
           WHEN (CASE excluded.role WHEN 'owner' THEN 3 WHEN 'admin' THEN 2 WHEN 'member' THEN 1 ELSE 0 END) > \
                (CASE workspace_members.role WHEN 'owner' THEN 3 WHEN 'admin' THEN 2 WHEN 'member' THEN 1 ELSE 0 END) \
           THEN excluded.role ELSE workspace_members.role END",
        params![p.workspace_id, user_id, p.role.as_str(), now],
    )?;
    conn.execute(
        "UPDATE workspace_invitations SET accepted_at = ?1, accepted_by = ?2 WHERE id = ?3",
        params![now, user_id, p.id],
    )?;
    AuthService::audit(
        conn,
        Some(user_id),
        "workspace.invite_accept",
        &p.workspace_id,
        &format!("{} as {} ({})", p.email, p.role, p.id),
    );
    Ok(())
}

fn get(conn: &Connection, id: &str) -> Result<Invitation> {
    conn.query_row(
        &format!(
            "SELECT {INVITATION_COLUMNS} FROM workspace_invitations i LEFT JOIN users u ON u.id = i.invited_by WHERE i.id = ?1"
        ),
        [id],
        invitation_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound("invitation".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        assert_eq!(validate_email(" a@b.example ").expect("ok"), "a@b.example");
        for bad in ["", "a", "a@b", "@b.c", "a b@c.d", "a@.c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_order() {
        let future = time_str(Utc::now() + chrono::Duration::hours(1));
        let past = time_str(Utc::now() - chrono::Duration::hours(1));
        assert_eq!(status(&None, &None, &future), "pending");
        assert_eq!(status(&None, &None, &past), "expired");
        assert_eq!(status(&Some(past.clone()), &None, &past), "accepted");
        assert_eq!(status(&None, &Some(past.clone()), &future), "revoked");
    }
}
