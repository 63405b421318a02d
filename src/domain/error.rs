//! The domain error type: every variant names the id or field at fault.

use super::types::EntityKind;

/// Why a domain operation was refused. The model is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// No live entity of this kind has this id (removed ids are also "unknown").
    #[error("unknown {kind} id {id:?}")]
    UnknownId {
        /// Kind looked up.
        kind: EntityKind,
        /// Id given.
        id: String,
    },
    /// No evidence item with this id on the control.
    #[error("control {control_id} has no evidence {evidence_id:?}")]
    UnknownEvidence {
        /// Control id.
        control_id: String,
        /// Evidence id given.
        evidence_id: String,
    },
    /// A field value is not acceptable.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Field path, e.g. `assets[2].name`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Removing this asset would leave the model without assets.
    #[error("cannot remove asset {id}: a threat model must keep at least one asset")]
    LastAsset {
        /// The asset id.
        id: String,
    },
    /// An error inside a larger input (batch op, list entry).
    #[error("{context}: {source}")]
    Within {
        /// Where (e.g. `ops[3]`).
        context: String,
        /// The underlying error.
        #[source]
        source: Box<DomainError>,
    },
}

impl DomainError {
    /// Shorthand for [`DomainError::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DomainError {
        DomainError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Wraps the error with the place it happened.
    pub fn in_field(self, context: &str) -> DomainError {
        DomainError::Within {
            context: context.to_string(),
            source: Box::new(self),
        }
    }

    /// The innermost error (without `Within` wrappers), for mapping to HTTP codes.
    pub fn root(&self) -> &DomainError {
        match self {
            DomainError::Within { source, .. } => source.root(),
            other => other,
        }
    }
}

/// Result alias for domain operations.
pub type Result<T> = std::result::Result<T, DomainError>;
