//! Roles inside a workspace and inside an organization, and how they combine into the
//! access a user has to one workspace.
//!
//! A workspace role comes from membership. Organization admins additionally act as `admin`
//! in every workspace of their org (they manage the org's workspaces and members, and the
//! spec gives them full access to its threat models). Superadmins manage every org, but do
//! not read tenant data by virtue of their platform role: they may manage a team
//! workspace's lifecycle and members (to repair a lock-out), never open its models unless
//! they are a member. Personal workspaces are their owner's alone.

use serde::{Deserialize, Serialize};

/// A role in a workspace, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceRole {
    /// Reads everything of the workspace, changes nothing.
    Viewer,
    /// Creates and edits models, assertions and findings.
    Member,
    /// Also manages members, invitations, the CI key, security settings and verifier keys.
    Admin,
    /// Also deletes the workspace and grants or removes ownership.
    Owner,
}

impl WorkspaceRole {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Viewer => "viewer",
            WorkspaceRole::Member => "member",
            WorkspaceRole::Admin => "admin",
            WorkspaceRole::Owner => "owner",
        }
    }

    /// Parses a stored or submitted name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(WorkspaceRole::Viewer),
            "member" => Some(WorkspaceRole::Member),
            "admin" => Some(WorkspaceRole::Admin),
            "owner" => Some(WorkspaceRole::Owner),
            _ => None,
        }
    }

    /// Every role, least privileged first (for forms and help texts).
    pub const ALL: [WorkspaceRole; 4] = [
        WorkspaceRole::Viewer,
        WorkspaceRole::Member,
        WorkspaceRole::Admin,
        WorkspaceRole::Owner,
    ];

    /// May change the workspace's data (models, assertions, findings).
    pub fn can_write(self) -> bool {
        self >= WorkspaceRole::Member
    }

    /// May manage members, invitations and the workspace's security settings.
    pub fn can_manage(self) -> bool {
        self >= WorkspaceRole::Admin
    }
}

impl std::fmt::Display for WorkspaceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Belongs to the org; may create workspaces in it.
    Member,
    /// Manages the org's workspaces and members, and nothing outside the org.
    OrgAdmin,
}

impl OrgRole {
    /// Stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "member",
            OrgRole::OrgAdmin => "org_admin",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "member" => Some(OrgRole::Member),
            "org_admin" => Some(OrgRole::OrgAdmin),
            _ => None,
        }
    }
}

/// Why a user has access to a workspace; decides whether the access covers its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessVia {
    /// An explicit membership.
    Membership,
    /// Admin of the workspace's organization.
    OrgAdmin,
    /// Platform superadmin: lifecycle and membership management only, never data.
    Superadmin,
}

/// A user's effective access to one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The role the user acts with.
    pub role: WorkspaceRole,
    /// Where the role comes from.
    pub via: AccessVia,
}

impl Access {
    /// Whether this access opens the workspace's data (models, assertions, …).
    pub fn covers_data(self) -> bool {
        self.via != AccessVia::Superadmin
    }
}

/// Combines what is known about a user and a workspace into their effective access.
///
/// `member` is the explicit membership role, `org_role` the user's role in the workspace's
/// org, `personal` whether it is someone's personal workspace, `superadmin` the platform role.
pub fn effective_access(
    member: Option<WorkspaceRole>,
    org_role: Option<OrgRole>,
    personal: bool,
    superadmin: bool,
) -> Option<Access> {
    let mut best = member.map(|role| Access {
        role,
        via: AccessVia::Membership,
    });
    if personal {
        return best;
    }
    if org_role == Some(OrgRole::OrgAdmin) && best.is_none_or(|a| a.role < WorkspaceRole::Admin) {
        best = Some(Access {
            role: WorkspaceRole::Admin,
            via: AccessVia::OrgAdmin,
        });
    }
    if superadmin && best.is_none() {
        best = Some(Access {
            role: WorkspaceRole::Admin,
            via: AccessVia::Superadmin,
        });
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(WorkspaceRole::Owner > WorkspaceRole::Admin);
        assert!(WorkspaceRole::Admin > WorkspaceRole::Member);
        assert!(WorkspaceRole::Member > WorkspaceRole::Viewer);
        for r in WorkspaceRole::ALL {
            assert_eq!(WorkspaceRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(WorkspaceRole::parse("superuser"), None);
        assert!(!WorkspaceRole::Viewer.can_write());
        assert!(WorkspaceRole::Member.can_write() && !WorkspaceRole::Member.can_manage());
        assert_eq!(OrgRole::parse("org_admin"), Some(OrgRole::OrgAdmin));
    }

    #[test]
    fn org_admin_gets_admin_but_not_in_personal_workspaces() {
        let a = effective_access(None, Some(OrgRole::OrgAdmin), false, false).expect("access");
        assert_eq!((a.role, a.via), (WorkspaceRole::Admin, AccessVia::OrgAdmin));
        assert!(a.covers_data());
        assert_eq!(
            effective_access(None, Some(OrgRole::OrgAdmin), true, false),
            None
        );
        // An explicit owner stays owner.
        let o = effective_access(
            Some(WorkspaceRole::Owner),
            Some(OrgRole::OrgAdmin),
            false,
            false,
        )
        .expect("access");
        assert_eq!(o.role, WorkspaceRole::Owner);
        // A viewer who is org admin acts as admin.
        let v = effective_access(
            Some(WorkspaceRole::Viewer),
            Some(OrgRole::OrgAdmin),
            false,
            false,
        )
        .expect("access");
        assert_eq!(v.role, WorkspaceRole::Admin);
    }

    #[test]
    fn superadmin_manages_but_does_not_read() {
        let s = effective_access(None, None, false, true).expect("access");
        assert_eq!(s.via, AccessVia::Superadmin);
        assert!(!s.covers_data());
        assert_eq!(effective_access(None, None, true, true), None);
        assert_eq!(
            effective_access(None, Some(OrgRole::Member), false, false),
            None
        );
        let m = effective_access(Some(WorkspaceRole::Viewer), None, false, true).expect("m");
        assert_eq!(m.via, AccessVia::Membership);
    }
}
