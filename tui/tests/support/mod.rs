//! Test support shared by the screen tests.
pub mod fake;
