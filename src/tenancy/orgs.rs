//! Organizations as seen by signed-in people: who may see and change which org.
//!
//! Superadmins manage every org (create, limits, delete, crypto-shred, members). An
//! `org_admin` manages its own org's name, description, members and workspaces, and
//! nothing outside it. Org members see their org and its member list. Everyone else gets
//! `NotFound` for an org, never a hint that it exists. All changes need a session (API keys
//! never administer) and land in the audit log through [`AdminService`].

use rusqlite::OptionalExtension;

use super::roles::OrgRole;
use super::{Error, Result};
use crate::admin::orgs::{OrgMember, OrgPatch, OrgWorkspace};
use crate::admin::{AdminService, NewOrg, Org};
use crate::auth::{Caller, Role};

/// The org-facing service.
#[derive(Clone, Debug)]
pub struct OrgService {
    admin: AdminService,
}

fn admin_error(e: crate::admin::Error) -> Error {
    use crate::admin::Error as A;
    match e {
        A::NotFound(_) => Error::NotFound("organization".into()),
        A::Limit(m) => Error::Limit(m),
        A::Invalid(m) | A::Refused(m) => Error::Invalid {
            field: "organization",
            message: m,
        },
        A::Confirmation { expected } => Error::Confirmation(expected),
        A::Store(s) => Error::Store(s),
        A::Crypto(c) => Error::Crypto(c),
        other => Error::Conflict(other.to_string()),
    }
}

fn require_session(caller: &Caller) -> Result<()> {
    if caller.scope().is_some() {
        return Err(Error::Forbidden(
            "organizations are managed from a signed-in session, not with an API key".into(),
        ));
    }
    Ok(())
}

impl OrgService {
    /// Builds the service.
    pub fn new(admin: AdminService) -> Self {
        Self { admin }
    }

    /// The caller's role in an org (`None`: not a member).
    fn role_in(&self, caller: &Caller, org_id: &str) -> Result<Option<OrgRole>> {
        let conn = self.admin.tenants().platform().conn()?;
        let role: Option<String> = conn
            .query_row(
                "SELECT role FROM org_members WHERE org_id = ?1 AND user_id = ?2",
                [org_id, &caller.user_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(role.as_deref().and_then(OrgRole::parse))
    }

    /// The org if the caller may see it: superadmins all, members their own.
    fn visible(&self, caller: &Caller, id: &str) -> Result<(Org, Option<OrgRole>)> {
        let org = self.admin.get_org(id).map_err(admin_error)?;
        if org.id != id && org.slug != id {
            return Err(Error::NotFound("organization".into()));
        }
        let role = self.role_in(caller, &org.id)?;
        if caller.role != Role::Superadmin && role.is_none() {
            return Err(Error::NotFound("organization".into()));
        }
        Ok((org, role))
    }

    /// The org if the caller may manage it: superadmins, and its org admins.
    pub(crate) fn managed(&self, caller: &Caller, id: &str) -> Result<Org> {
        require_session(caller)?;
        let (org, role) = self.visible(caller, id)?;
        if caller.role != Role::Superadmin && role != Some(OrgRole::OrgAdmin) {
            return Err(Error::Forbidden(
                "this needs the org_admin role in the organization".into(),
            ));
        }
        Ok(org)
    }

    /// The org if the caller is one of its members (whatever their role); a superadmin who
    /// is not a member is refused: member-owned settings (an own Atlassian account) need a
    /// membership to belong to.
    pub(crate) fn membership(&self, caller: &Caller, id: &str) -> Result<Org> {
        let (org, role) = self.visible(caller, id)?;
        if role.is_none() {
            return Err(Error::Forbidden(
                "only members of the organization can do this; join it first".into(),
            ));
        }
        Ok(org)
    }

    fn superadmin(caller: &Caller) -> Result<()> {
        require_session(caller)?;
        if caller.role != Role::Superadmin {
            return Err(Error::Forbidden("superadmin role required".into()));
        }
        Ok(())
    }

    /// Orgs the caller may see.
    pub fn list(&self, caller: &Caller) -> Result<Vec<Org>> {
        let all = self.admin.list_orgs().map_err(admin_error)?;
        if caller.role == Role::Superadmin {
            return Ok(all);
        }
        let mut out = Vec::new();
        for org in all {
            if self.role_in(caller, &org.id)?.is_some() {
                out.push(org);
            }
        }
        Ok(out)
    }

    /// One org.
    pub fn get(&self, caller: &Caller, id: &str) -> Result<Org> {
        Ok(self.visible(caller, id)?.0)
    }

    /// Creates an org (superadmins).
    pub fn create(&self, caller: &Caller, new: &NewOrg) -> Result<Org> {
        Self::superadmin(caller)?;
        self.admin
            .create_org(&caller.user_id, new)
            .map_err(admin_error)
    }

    /// Changes an org: org admins its name and description, superadmins also its limits.
    pub fn update(&self, caller: &Caller, id: &str, patch: &OrgPatch) -> Result<Org> {
        let org = self.managed(caller, id)?;
        if (patch.max_workspaces.is_some() || patch.max_members.is_some())
            && caller.role != Role::Superadmin
        {
            return Err(Error::Forbidden(
                "only superadmins change an organization's limits".into(),
            ));
        }
        self.admin
            .update_org(&caller.user_id, &org.slug, patch)
            .map_err(admin_error)
    }

    /// Deletes an org with its workspaces and data (superadmins; `confirm` = the slug).
    pub fn delete(&self, caller: &Caller, id: &str, confirm: &str) -> Result<()> {
        let (org, _) = self.visible(caller, id)?;
        Self::superadmin(caller)?;
        self.admin
            .delete_org(&caller.user_id, &org.slug, confirm)
            .map_err(admin_error)
    }

    /// Members (org members may look).
    pub fn members(&self, caller: &Caller, id: &str) -> Result<Vec<OrgMember>> {
        let (org, _) = self.visible(caller, id)?;
        self.admin.org_members(&org.slug).map_err(admin_error)
    }

    /// Workspaces of the org (org admins and superadmins).
    pub fn workspaces(&self, caller: &Caller, id: &str) -> Result<Vec<OrgWorkspace>> {
        let org = self.managed(caller, id)?;
        self.admin.org_workspaces(&org.slug).map_err(admin_error)
    }

    /// Adds an account to the org or changes its role (org admins, superadmins).
    pub fn set_member(
        &self,
        caller: &Caller,
        id: &str,
        email: &str,
        role: OrgRole,
    ) -> Result<OrgMember> {
        let org = self.managed(caller, id)?;
        self.admin
            .set_org_member(&caller.user_id, &org.slug, email, role)
            .map_err(admin_error)
    }

    /// Changes a member's org role by user id.
    pub fn update_member(
        &self,
        caller: &Caller,
        id: &str,
        user_id: &str,
        role: OrgRole,
    ) -> Result<OrgMember> {
        let org = self.managed(caller, id)?;
        let member = self
            .admin
            .org_members(&org.slug)
            .map_err(admin_error)?
            .into_iter()
            .find(|m| m.user_id == user_id)
            .ok_or_else(|| Error::NotFound("member".into()))?;
        self.admin
            .set_org_member(&caller.user_id, &org.slug, &member.email, role)
            .map_err(admin_error)
    }

    /// Removes an account from the org and its workspaces (org admins, superadmins; anyone
    /// may leave).
    pub fn remove_member(&self, caller: &Caller, id: &str, user_id: &str) -> Result<()> {
        let org = if user_id == caller.user_id {
            require_session(caller)?;
            self.visible(caller, id)?.0
        } else {
            self.managed(caller, id)?
        };
        self.admin
            .remove_org_member(&caller.user_id, &org.slug, user_id)
            .map_err(|e| match e {
                crate::admin::Error::NotFound(_) => Error::NotFound("member".into()),
                other => admin_error(other),
            })
    }

    /// Crypto-shreds an org (superadmins; `confirm` = the slug).
    pub fn shred(&self, caller: &Caller, id: &str, confirm: &str) -> Result<Org> {
        let (org, _) = self.visible(caller, id)?;
        Self::superadmin(caller)?;
        self.admin
            .shred_org(&caller.user_id, &org.slug, confirm)
            .map_err(admin_error)
    }
}
