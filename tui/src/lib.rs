//! `rampart-tui`: the presentation layer of `rampart admin`.
//!
//! This crate owns the admin TUI (ratatui + crossterm) and the [`AdminBackend`] trait it
//! drives. It never touches storage, crypto or the network: the root crate implements
//! [`AdminBackend`] over its admin service and calls [`run`]. It must not depend on the
//! root crate `rampart` (that would be a dependency cycle).
//!
//! Structure (after the ratatui component template): [`App`] owns the screens, a popup
//! stack, an action queue and the backend; components turn input into [`Action`]s; only
//! the `App` calls the backend. All UI text lives in `text`.

#![forbid(unsafe_code)]

pub mod action;
mod app;
pub mod backend;
mod input;
pub mod popup;
mod screens;
mod terminal;
mod text;
mod ui;

pub use action::{Action, FormKind, ScreenId, StatusLine};
pub use app::App;
pub use backend::*;
pub use terminal::run;
