//! Integration tests: every test runs the real `rampart` binary against a real SQLCipher
//! data dir in a temp directory, and servers on port 0. `eval` is the exception: the
//! threat-model evaluation (tm_eval) calls the engine library directly over its briefs.

mod accounts;
mod admin_api;
mod admin_ops;
mod assurance;
mod authz_matrix;
mod browser;
mod compliance;
mod credits;
mod docs_examples;
mod eval;
mod evidence;
mod exports;
mod hardening;
mod harness;
mod integrations;
mod kms_vault;
mod llm;
mod mail;
mod mcp;
mod models;
mod oauth;
mod openapi;
mod reliability;
mod spine;
mod tenancy;
mod tui_e2e;
mod verify_e2e;
mod verify_judgement;
mod verify_sandbox;
mod web_models;
mod web_pages;
