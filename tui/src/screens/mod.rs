//! The screens (tabs) of the admin TUI. Each screen keeps the data it shows, turns keys and
//! mouse events into [`Action`]s, applies `update(&Action)` (fresh data, job progress) and
//! draws into a `Rect`. Screens never call the backend.

mod backup;
mod credits;
mod license;
mod log;
mod maintenance;
mod orgs;
mod setup;
mod signers;
mod users;

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::action::Action;

pub use backup::BackupScreen;
pub use credits::CreditsScreen;
pub use license::LicenseScreen;
pub use log::LogScreen;
pub use maintenance::MaintenanceScreen;
pub use orgs::OrgsScreen;
pub use setup::SetupScreen;
pub use signers::SignersScreen;
pub use users::UsersScreen;

/// What a screen did with a key. Only `Ignored` lets the App try its global keys, so a
/// key a screen uses (even without an action, like moving the selection) is never also
/// taken as a global shortcut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Not a key of this screen.
    Ignored,
    /// Used for local state only (selection, scrolling).
    Consumed,
    /// Used, and the App should run this action.
    Action(Action),
}

impl From<Option<Action>> for KeyOutcome {
    fn from(action: Option<Action>) -> Self {
        action.map_or(KeyOutcome::Ignored, KeyOutcome::Action)
    }
}

/// Behaviour shared by every screen.
pub trait Component {
    /// Turns a key into an outcome; see [`KeyOutcome`].
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome;
    /// Turns a mouse event inside the screen area into an action.
    fn handle_mouse(&mut self, _mouse: MouseEvent) -> Option<Action> {
        None
    }
    /// Applies data and job updates.
    fn update(&mut self, _action: &Action) {}
    /// Draws into `area`.
    fn draw(&mut self, frame: &mut Frame, area: Rect);
    /// Keys shown in the help bar and the help popup.
    fn keys(&self) -> Vec<(&'static str, &'static str)>;
}

/// Draws a dim one-line hint centred-ish inside a block area, used for empty lists.
pub(crate) fn empty_hint(
    frame: &mut Frame,
    area: Rect,
    block: ratatui::widgets::Block,
    hint: &str,
) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(
        ratatui::widgets::Paragraph::new(hint)
            .style(ratatui::style::Style::new().fg(crate::ui::DIM))
            .wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}

/// A bordered block with the screen's title.
pub(crate) fn block(title: &str) -> ratatui::widgets::Block<'_> {
    use ratatui::style::{Modifier, Style};
    ratatui::widgets::Block::bordered()
        .border_type(ratatui::widgets::BorderType::Rounded)
        .border_style(Style::new().fg(crate::ui::DIM))
        .title(ratatui::text::Span::styled(
            format!(" {title} "),
            Style::new().add_modifier(Modifier::BOLD),
        ))
}
