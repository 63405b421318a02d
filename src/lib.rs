//! rampart: an on-prem threat-modeling and security-assurance appliance.
//!
//! The library holds every capability; `main.rs` only parses the command line and calls
//! [`cli::run`]. Dependencies point inward: `web`, `cli` and the admin TUI are faces over the
//! services, which use `store` and `crypto`; `domain` is pure.
#![forbid(unsafe_code)]

pub mod admin;
pub mod assurance;
pub mod auth;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod credits;
pub mod crypto;
pub mod domain;
pub mod engine;
pub mod instance;
pub mod integrations;
pub mod jobs;
pub mod logging;
pub mod mail;
pub mod mcp;
pub mod models;
pub mod outbound;
pub mod reports;
pub mod store;
pub mod tenancy;
pub mod verify;
pub mod web;
pub mod wire;
pub mod worker;
