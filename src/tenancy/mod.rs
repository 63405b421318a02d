//! Teams and tenancy: workspaces (personal and team) with roles, invitations, organizations
//! with members and limits, where each workspace's data lives, and moving an org's data into
//! its own encrypted database.
//!
//! Everything here is blocking (SQLite); HTTP handlers call it inside `web::block`.
//! Lookups of objects the caller may not see answer [`Error::NotFound`], never a "forbidden"
//! that would confirm the object exists.

pub mod invitations;
pub mod isolate;
pub mod orgs;
pub mod resolver;
pub mod roles;
pub mod workspaces;

pub use resolver::{Location, TenantDbs};
pub use roles::{Access, AccessVia, OrgRole, WorkspaceRole};
pub use workspaces::WorkspaceService;

use crate::store;

/// What can go wrong in a tenancy operation. Messages are safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown, or not visible to the caller.
    #[error("{0} not found")]
    NotFound(String),
    /// The data was crypto-shredded (HTTP 410).
    #[error("{0}")]
    Gone(String),
    /// Visible, but the caller's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// A workspace, member or organization limit is reached (HTTP 403, names the limit).
    #[error("{0}")]
    Limit(String),
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A typed confirmation did not match (HTTP 400).
    #[error("confirmation does not match: type exactly {0:?}")]
    Confirmation(String),
    /// Conflicts with the current state (last owner, already a member, …).
    #[error("{0}")]
    Conflict(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// Key material failure.
    #[error(transparent)]
    Crypto(#[from] crate::crypto::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Builds an [`Error::Invalid`].
pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        message: message.into(),
    }
}
