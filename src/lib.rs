//! rampart: an on-prem threat-modeling and security-assurance appliance.
#![forbid(unsafe_code)]

pub mod domain;
pub mod engine;
