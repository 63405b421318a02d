//! Pure threat-model domain: entities, id allocation with tombstones, the operations that
//! change a model, and the assurance math behind the dashboard.
//!
//! Owns no I/O and no async; time comes in as a `now` argument. Storage serialises
//! [`ThreatModel`] as JSON (every type here is serde); engines produce the `New*` inputs.

mod assurance;
mod error;
mod gaps;
mod model;
mod types;

#[cfg(test)]
mod tests;

pub use assurance::*;
pub use error::{DomainError, Result};
pub use gaps::*;
pub use model::*;
pub use types::*;
