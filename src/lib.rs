//! rampart library.

pub mod verify;
pub mod wire;
