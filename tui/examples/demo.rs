//! Runs the admin TUI on the in-memory fake backend used by the screen tests, for manual
//! and tmux smoke runs: `cargo run -p rampart-tui --example demo [-- --empty]`.
//! `--empty` starts with no users (first-run setup); `--panic` makes opening the Orgs
//! screen panic, to check that the terminal is restored. The restore password is
//! `Admin-Pass-1`; backup/restore steps are slowed so the progress gauge is visible.

#[path = "../tests/support/fake.rs"]
mod fake;

use std::time::Duration;

use fake::{FakeBackend, FakeState};

fn main() -> std::io::Result<()> {
    let empty = std::env::args().any(|a| a == "--empty");
    let mut state = if empty {
        FakeState::empty()
    } else {
        FakeState::populated()
    };
    state.step_delay = Duration::from_millis(250);
    state.panic_on_list_orgs = std::env::args().any(|a| a == "--panic");
    rampart_tui::run(Box::new(FakeBackend::new(state)))
}
