//! Workspaces: the unit of sharing. Listing, creating (inside an organization or not),
//! renaming and deleting team workspaces, and managing their members.
//!
//! Rules (checked here, so REST, MCP, pages and the CLI share them):
//! - members of any role list the workspace's members; owners and admins (and admins of the
//!   workspace's org, and superadmins for team workspaces) add, change and remove members;
//! - only owners grant, change or remove the owner role; the last owner can neither leave nor
//!   be demoted; personal workspaces have exactly their one owner and cannot be shared or
//!   deleted;
//! - membership, lifecycle and invitation changes need a signed-in session, never an API key
//!   (an agent's key must not be able to invite someone), and are written to the audit log;
//! - removing a member revokes their API keys bound to the workspace at once;
//! - creating a team workspace respects the license's `max_workspaces` (team workspaces
//!   count; personal ones come with accounts) and the org's `max_workspaces`; adding a
//!   member of an org workspace makes them an org member, within the org's `max_members`.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

use super::resolver::{self, Location, TenantDbs};
use super::roles::{Access, AccessVia, OrgRole, WorkspaceRole, effective_access};
use super::{Error, Result, invalid};
use crate::admin::AdminService;
use crate::auth::{AuthService, Caller, Role, now_str};

/// Longest workspace name.
const MAX_NAME: usize = 100;

/// A user's resolved access to a workspace and where its data lives.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Workspace id.
    pub workspace_id: String,
    /// Name.
    pub name: String,
    /// A personal workspace.
    pub personal: bool,
    /// Organization, if any.
    pub org_id: Option<String>,
    /// Effective access.
    pub access: Access,
    /// Where its data lives.
    pub location: Location,
}

/// Resolves a user's access to a workspace; `None` when the workspace is unknown or the
/// user has no access at all (the two are indistinguishable to callers).
pub fn resolve(
    conn: &Connection,
    user_id: &str,
    platform_role: Role,
    workspace_id: &str,
) -> Result<Option<Resolved>> {
    /// name, personal, org id, membership role, org role.
    type Row = (String, bool, Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT w.name, w.personal_owner_id IS NOT NULL, w.org_id, m.role, om.role \
             FROM workspaces w \
             LEFT JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = ?2 \
             LEFT JOIN org_members om ON om.org_id = w.org_id AND om.user_id = ?2 \
             WHERE w.id = ?1",
        )?
        .query_row(params![workspace_id, user_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((name, personal, org_id, member, org_role)) = row else {
        return Ok(None);
    };
    let Some(access) = effective_access(
        member.as_deref().and_then(WorkspaceRole::parse),
        org_role.as_deref().and_then(OrgRole::parse),
        personal,
        platform_role == Role::Superadmin,
    ) else {
        return Ok(None);
    };
    let location = TenantDbs::locate(conn, workspace_id)?
        .ok_or_else(|| Error::NotFound("workspace".into()))?;
    Ok(Some(Resolved {
        workspace_id: workspace_id.to_string(),
        name,
        personal,
        org_id,
        access,
        location,
    }))
}

/// A workspace as listed to a user.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WorkspaceInfo {
    /// UUIDv4.
    pub id: String,
    /// Name.
    pub name: String,
    /// The user's personal workspace (not shareable).
    pub personal: bool,
    /// The user's effective role there.
    pub role: WorkspaceRole,
    /// Why they have it: `membership` or `org_admin`.
    pub access: AccessVia,
    /// Organization id, if any.
    pub organization_id: Option<String>,
    /// Organization name, if any.
    pub organization_name: Option<String>,
    /// Number of members.
    pub member_count: u32,
    /// Crypto-shredded with its org: listed so members know, but its data is gone.
    pub shredded: bool,
    /// Creation time.
    pub created_at: String,
}

/// A member of a workspace.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Member {
    /// User id.
    pub user_id: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: WorkspaceRole,
    /// When they joined.
    pub added_at: String,
}

/// Workspaces and their members.
#[derive(Clone)]
pub struct WorkspaceService {
    pub(crate) tenants: TenantDbs,
    pub(crate) admin: AdminService,
    /// Base of invitation links.
    pub(crate) public_url: String,
    /// The mail queue (invitation emails).
    pub(crate) outbox: crate::mail::Outbox,
}

impl std::fmt::Debug for WorkspaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceService").finish_non_exhaustive()
    }
}

/// Refuses API-key callers for management operations.
pub(crate) fn require_session(caller: &Caller, what: &str) -> Result<()> {
    if caller.scope().is_some() {
        return Err(Error::Forbidden(format!(
            "{what} needs a signed-in session; API keys cannot manage workspaces"
        )));
    }
    Ok(())
}

fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid(
            "name",
            format!("must be 1 to {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name", "must not contain control characters"));
    }
    Ok(name.to_string())
}

fn count(conn: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<u64> {
    let n: i64 = conn.query_row(sql, p, |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn admin_error(e: crate::admin::Error) -> Error {
    match e {
        crate::admin::Error::Limit(m) => Error::Limit(m),
        crate::admin::Error::Store(s) => Error::Store(s),
        crate::admin::Error::NotFound(m) => Error::NotFound(m),
        other => Error::Conflict(other.to_string()),
    }
}

/// The org's limits: (max_workspaces, max_members), 0 meaning unlimited.
fn org_limits(conn: &Connection, org_id: &str) -> Result<(u64, u64, String)> {
    conn.query_row(
        "SELECT max_workspaces, max_members, name FROM orgs WHERE id = ?1 AND shredded_at IS NULL",
        [org_id],
        |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                r.get(2)?,
            ))
        },
    )
    .optional()?
    .ok_or_else(|| Error::NotFound("organization".into()))
}

/// Makes `user_id` a member of the org unless they already are, within `max_members`.
/// `pending` counts invitations that will add org members when accepted.
pub(crate) fn ensure_org_member(conn: &Connection, org_id: &str, user_id: &str) -> Result<()> {
    let already = conn
        .query_row(
            "SELECT 1 FROM org_members WHERE org_id = ?1 AND user_id = ?2",
            params![org_id, user_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if already {
        return Ok(());
    }
    let (_, max_members, org_name) = org_limits(conn, org_id)?;
    let members = count(
        conn,
        "SELECT count(*) FROM org_members WHERE org_id = ?1",
        [org_id],
    )?;
    if max_members > 0 && members >= max_members {
        return Err(Error::Limit(format!(
            "member limit reached: organization {org_name:?} allows max_members = {max_members} and has {members}"
        )));
    }
    conn.execute(
        "INSERT INTO org_members (org_id, user_id, role, added_at) VALUES (?1, ?2, 'member', ?3)",
        params![org_id, user_id, now_str()],
    )?;
    Ok(())
}

/// Checks the org's `max_members` before inviting someone who is not yet an org member.
pub(crate) fn check_org_member_room(conn: &Connection, org_id: &str, email: &str) -> Result<()> {
    let (_, max_members, org_name) = org_limits(conn, org_id)?;
    if max_members == 0 {
        return Ok(());
    }
    let is_member = conn
        .query_row(
            "SELECT 1 FROM org_members om JOIN users u ON u.id = om.user_id WHERE om.org_id = ?1 AND u.email = ?2",
            params![org_id, email],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if is_member {
        return Ok(());
    }
    let members = count(
        conn,
        "SELECT count(*) FROM org_members WHERE org_id = ?1",
        [org_id],
    )?;
    if members >= max_members {
        return Err(Error::Limit(format!(
            "member limit reached: organization {org_name:?} allows max_members = {max_members} and has {members}"
        )));
    }
    Ok(())
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    let role: String = r.get(3)?;
    Ok(Member {
        user_id: r.get(0)?,
        email: r.get(1)?,
        display_name: r.get(2)?,
        role: WorkspaceRole::parse(&role).unwrap_or(WorkspaceRole::Viewer),
        added_at: r.get(4)?,
    })
}

fn owners(conn: &Connection, workspace_id: &str) -> Result<u64> {
    count(
        conn,
        "SELECT count(*) FROM workspace_members WHERE workspace_id = ?1 AND role = 'owner'",
        [workspace_id],
    )
}

impl WorkspaceService {
    /// Builds the service; `public_url` is the base of invitation links.
    pub fn new(
        tenants: TenantDbs,
        admin: AdminService,
        config: &crate::config::Config,
        public_url: &str,
    ) -> Self {
        Self {
            outbox: crate::mail::Outbox::new(tenants.platform().clone(), config, public_url),
            tenants,
            admin,
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The caller's access to a workspace for management: unknown or inaccessible is
    /// `NotFound`, too weak a role is `Forbidden`.
    fn manage(&self, conn: &Connection, caller: &Caller, id: &str) -> Result<Resolved> {
        let r = resolve(conn, &caller.user_id, caller.role, id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        if !r.access.role.can_manage() {
            return Err(Error::Forbidden(format!(
                "this needs the owner or admin role in the workspace; yours is {}",
                r.access.role
            )));
        }
        Ok(r)
    }

    /// Every workspace the caller belongs to (or administers through its org), personal
    /// first, then by name.
    pub fn list(&self, caller: &Caller) -> Result<Vec<WorkspaceInfo>> {
        let conn = self.tenants.platform().conn()?;
        list_for_user(&conn, &caller.user_id)
    }

    /// One workspace as the caller sees it.
    pub fn get(&self, caller: &Caller, id: &str) -> Result<WorkspaceInfo> {
        let conn = self.tenants.platform().conn()?;
        let r = resolve(&conn, &caller.user_id, caller.role, id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        info(&conn, &r)
    }

    /// Creates a team workspace; the caller becomes its owner. With `org_id` the caller must
    /// belong to that org (or be a superadmin) and the org's limit applies.
    pub fn create(
        &self,
        caller: &Caller,
        name: &str,
        org_id: Option<&str>,
    ) -> Result<WorkspaceInfo> {
        require_session(caller, "creating a workspace")?;
        let name = validate_name(name)?;
        let org_id = org_id.map(str::trim).filter(|s| !s.is_empty());
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let team = count(
            &tx,
            "SELECT count(*) FROM workspaces WHERE personal_owner_id IS NULL",
            [],
        )?;
        self.admin
            .check_can_create_workspace(team)
            .map_err(admin_error)?;
        if let Some(org) = org_id {
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2",
                    params![org, caller.user_id],
                    |r| r.get(0),
                )
                .optional()?;
            if role.is_none() && caller.role != Role::Superadmin {
                return Err(Error::NotFound("organization".into()));
            }
            let (max_ws, _, org_name) = org_limits(&tx, org)?;
            let existing = count(
                &tx,
                "SELECT count(*) FROM workspaces WHERE org_id = ?1",
                [org],
            )?;
            if max_ws > 0 && existing >= max_ws {
                return Err(Error::Limit(format!(
                    "workspace limit reached: organization {org_name:?} allows max_workspaces = {max_ws} and has {existing}"
                )));
            }
            ensure_org_member(&tx, org, &caller.user_id)?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_str();
        tx.execute(
            "INSERT INTO workspaces (id, name, personal_owner_id, org_id, created_at, created_by) VALUES (?1, ?2, NULL, ?3, ?4, ?5)",
            params![id, name, org_id, now, caller.user_id],
        )?;
        tx.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) VALUES (?1, ?2, 'owner', ?3)",
            params![id, caller.user_id, now],
        )?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "workspace.create",
            &id,
            &format!("org={}", org_id.unwrap_or("")),
        );
        tx.commit()?;
        let r = resolve(&conn, &caller.user_id, caller.role, &id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        info(&conn, &r)
    }

    /// Renames a workspace (owners and admins; personal workspaces by their owner).
    pub fn rename(&self, caller: &Caller, id: &str, name: &str) -> Result<WorkspaceInfo> {
        require_session(caller, "renaming a workspace")?;
        let name = validate_name(name)?;
        let conn = self.tenants.platform().conn()?;
        let r = self.manage(&conn, caller, id)?;
        conn.execute(
            "UPDATE workspaces SET name = ?1 WHERE id = ?2",
            params![name, id],
        )?;
        AuthService::audit(&conn, Some(&caller.user_id), "workspace.rename", id, "");
        let r = resolve(&conn, &caller.user_id, caller.role, &r.workspace_id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        info(&conn, &r)
    }

    /// Deletes a team workspace and all its data (owners; org admins of its org and
    /// superadmins too). The data goes first, from whichever database holds it, then the
    /// workspace row with its members, keys and invitations.
    pub fn delete(&self, caller: &Caller, id: &str) -> Result<()> {
        require_session(caller, "deleting a workspace")?;
        let conn = self.tenants.platform().conn()?;
        let r = resolve(&conn, &caller.user_id, caller.role, id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        if r.personal {
            return Err(Error::Conflict(
                "a personal workspace cannot be deleted; it goes with its account".into(),
            ));
        }
        let allowed = r.access.role == WorkspaceRole::Owner
            || matches!(r.access.via, AccessVia::OrgAdmin | AccessVia::Superadmin);
        if !allowed {
            return Err(Error::Forbidden(format!(
                "only an owner can delete the workspace; your role is {}",
                r.access.role
            )));
        }
        drop(conn);
        self.delete_unchecked(Some(&caller.user_id), &r)
    }

    /// Deletes a workspace without a caller check (org deletion, the admin CLI).
    pub(crate) fn delete_unchecked(&self, actor: Option<&str>, r: &Resolved) -> Result<()> {
        if let Location::Platform | Location::Org { .. } = r.location {
            let db = self.tenants.db_at(&r.location)?;
            let mut conn = db.conn()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            resolver::delete_tenant_rows(&tx, std::slice::from_ref(&r.workspace_id))?;
            tx.commit()?;
        }
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM api_keys WHERE workspace_id = ?1",
            [&r.workspace_id],
        )?;
        tx.execute("DELETE FROM workspaces WHERE id = ?1", [&r.workspace_id])?;
        AuthService::audit(&tx, actor, "workspace.delete", &r.workspace_id, &r.name);
        tx.commit()?;
        Ok(())
    }

    /// Members of a workspace (any member may list them).
    pub fn members(&self, caller: &Caller, id: &str) -> Result<Vec<Member>> {
        let conn = self.tenants.platform().conn()?;
        resolve(&conn, &caller.user_id, caller.role, id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        if caller.scope().is_some() && caller.workspace_id != id {
            return Err(Error::NotFound("workspace".into()));
        }
        members_of(&conn, id)
    }

    /// Adds an existing account as a member (owners and admins; only owners add owners).
    pub fn add_member(
        &self,
        caller: &Caller,
        id: &str,
        email: &str,
        role: WorkspaceRole,
    ) -> Result<Member> {
        require_session(caller, "adding a member")?;
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = self.manage(&tx, caller, id)?;
        if r.personal {
            return Err(Error::Conflict(
                "a personal workspace cannot be shared; create a team workspace".into(),
            ));
        }
        require_owner_for(&r, role)?;
        let user = crate::auth::users::find_by_email(&tx, email.trim())
            .map_err(auth_error)?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "account {:?} (send an invitation instead)",
                    email.trim()
                ))
            })?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT role FROM workspace_members WHERE workspace_id = ?1 AND user_id = ?2",
                params![id, user.id],
                |r| r.get(0),
            )
            .optional()?;
        if existing.is_some() {
            return Err(Error::Conflict(format!(
                "{} is already a member; change their role instead",
                user.email
            )));
        }
        if let Some(org) = &r.org_id {
            ensure_org_member(&tx, org, &user.id)?;
        }
        tx.execute(
            "INSERT INTO workspace_members (workspace_id, user_id, role, added_at) VALUES (?1, ?2, ?3, ?4)",
            params![id, user.id, role.as_str(), now_str()],
        )?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "workspace.member_add",
            id,
            &format!("{} as {role}", user.email),
        );
        tx.commit()?;
        member(&conn, id, &user.id)
    }

    /// Changes a member's role. Only owners touch the owner role; the last owner cannot be
    /// demoted.
    pub fn update_member(
        &self,
        caller: &Caller,
        id: &str,
        user_id: &str,
        role: WorkspaceRole,
    ) -> Result<Member> {
        require_session(caller, "changing a member's role")?;
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = self.manage(&tx, caller, id)?;
        let current = member(&tx, id, user_id)?;
        require_owner_for(&r, current.role.max(role))?;
        if current.role == WorkspaceRole::Owner
            && role != WorkspaceRole::Owner
            && owners(&tx, id)? <= 1
        {
            return Err(Error::Conflict(
                "the last owner cannot be demoted; make someone else an owner first".into(),
            ));
        }
        tx.execute(
            "UPDATE workspace_members SET role = ?1 WHERE workspace_id = ?2 AND user_id = ?3",
            params![role.as_str(), id, user_id],
        )?;
        if !role.can_manage() {
            revoke_verifier_keys(&tx, id, user_id)?;
        }
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "workspace.member_role",
            id,
            &format!("{}: {} -> {role}", current.email, current.role),
        );
        tx.commit()?;
        member(&conn, id, user_id)
    }

    /// Removes a member (owners and admins; anyone may remove themselves). Their API keys
    /// bound to the workspace are revoked at once. The last owner cannot leave.
    pub fn remove_member(&self, caller: &Caller, id: &str, user_id: &str) -> Result<()> {
        require_session(caller, "removing a member")?;
        let mut conn = self.tenants.platform().conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = resolve(&tx, &caller.user_id, caller.role, id)?
            .ok_or_else(|| Error::NotFound("workspace".into()))?;
        let current = member(&tx, id, user_id)?;
        if user_id != caller.user_id {
            if !r.access.role.can_manage() {
                return Err(Error::Forbidden(format!(
                    "this needs the owner or admin role in the workspace; yours is {}",
                    r.access.role
                )));
            }
            require_owner_for(&r, current.role)?;
        }
        if r.personal {
            return Err(Error::Conflict(
                "the owner of a personal workspace cannot leave it".into(),
            ));
        }
        if current.role == WorkspaceRole::Owner && owners(&tx, id)? <= 1 {
            return Err(Error::Conflict(
                "the last owner cannot leave; make someone else an owner first (or delete the workspace)".into(),
            ));
        }
        tx.execute(
            "DELETE FROM workspace_members WHERE workspace_id = ?1 AND user_id = ?2",
            params![id, user_id],
        )?;
        let revoked = tx.execute(
            "UPDATE api_keys SET revoked_at = ?1 WHERE workspace_id = ?2 AND user_id = ?3 AND revoked_at IS NULL",
            params![now_str(), id, user_id],
        )?;
        AuthService::audit(
            &tx,
            Some(&caller.user_id),
            "workspace.member_remove",
            id,
            &format!("{} ({revoked} API key(s) revoked)", current.email),
        );
        tx.commit()?;
        Ok(())
    }
}

fn auth_error(e: crate::auth::Error) -> Error {
    match e {
        crate::auth::Error::Store(s) => Error::Store(s),
        other => Error::Conflict(other.to_string()),
    }
}

/// Only owners grant, change or remove the owner role.
fn require_owner_for(r: &Resolved, role: WorkspaceRole) -> Result<()> {
    if role == WorkspaceRole::Owner
        && r.access.role != WorkspaceRole::Owner
        && r.access.via == AccessVia::Membership
    {
        return Err(Error::Forbidden(
            "only an owner can grant, change or remove the owner role".into(),
        ));
    }
    Ok(())
}

/// A verifier key needs an owner or admin; a demoted member's verifier keys stop at once.
fn revoke_verifier_keys(conn: &Connection, workspace_id: &str, user_id: &str) -> Result<()> {
    conn.execute(
        "UPDATE api_keys SET revoked_at = ?1 WHERE workspace_id = ?2 AND user_id = ?3 AND scope = 'verifier' AND revoked_at IS NULL",
        params![now_str(), workspace_id, user_id],
    )?;
    Ok(())
}

fn member(conn: &Connection, workspace_id: &str, user_id: &str) -> Result<Member> {
    conn.query_row(
        "SELECT u.id, u.email, u.display_name, m.role, m.added_at FROM workspace_members m \
         JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1 AND m.user_id = ?2",
        params![workspace_id, user_id],
        member_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound("member".into()))
}

/// Members of a workspace, owners first.
pub(crate) fn members_of(conn: &Connection, workspace_id: &str) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare(
        "SELECT u.id, u.email, u.display_name, m.role, m.added_at FROM workspace_members m \
         JOIN users u ON u.id = m.user_id WHERE m.workspace_id = ?1 \
         ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END, u.email",
    )?;
    let rows = stmt
        .query_map([workspace_id], member_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn info(conn: &Connection, r: &Resolved) -> Result<WorkspaceInfo> {
    let (created_at, org_name, members): (String, Option<String>, i64) = conn.query_row(
        "SELECT w.created_at, o.name, (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id) \
         FROM workspaces w LEFT JOIN orgs o ON o.id = w.org_id WHERE w.id = ?1",
        [&r.workspace_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    Ok(WorkspaceInfo {
        id: r.workspace_id.clone(),
        name: r.name.clone(),
        personal: r.personal,
        role: r.access.role,
        access: r.access.via,
        organization_id: r.org_id.clone(),
        organization_name: org_name,
        member_count: u32::try_from(members).unwrap_or(0),
        shredded: matches!(r.location, Location::Shredded { .. }),
        created_at,
    })
}

/// Workspaces a user belongs to, plus those of orgs they administer; personal first.
pub fn list_for_user(conn: &Connection, user_id: &str) -> Result<Vec<WorkspaceInfo>> {
    let ids: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT w.id FROM workspaces w WHERE w.id IN ( \
               SELECT workspace_id FROM workspace_members WHERE user_id = ?1 \
               UNION SELECT w2.id FROM workspaces w2 JOIN org_members om ON om.org_id = w2.org_id \
                     WHERE om.user_id = ?1 AND om.role = 'org_admin') \
             ORDER BY w.personal_owner_id IS NULL, w.name COLLATE NOCASE, w.id",
        )?;
        stmt.query_map([user_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
    };
    let role: String = conn.query_row("SELECT role FROM users WHERE id = ?1", [user_id], |r| {
        r.get(0)
    })?;
    let platform_role = Role::parse(&role).unwrap_or(Role::User);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = resolve(conn, user_id, platform_role, &id)?
            && r.access.covers_data()
        {
            out.push(info(conn, &r)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            validate_name("  Payments team ").expect("ok"),
            "Payments team"
        );
        assert!(validate_name("").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
        assert!(validate_name("a\nb").is_err());
    }
}
