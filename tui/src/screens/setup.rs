//! First-run setup screen: explains and opens the form for the first superadmin.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Component, KeyOutcome, block};
use crate::action::{Action, FormKind};
use crate::{text, ui};

/// Shown first while the platform has no users.
#[derive(Debug, Default)]
pub struct SetupScreen;

impl SetupScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Enter | KeyCode::Char('n') => Some(Action::OpenForm(FormKind::Setup)),
            _ => None,
        }
    }
}

impl Component for SetupScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        self.action_for(key).into()
    }

    fn handle_mouse(&mut self, mouse: MouseEvent) -> Option<Action> {
        matches!(mouse.kind, MouseEventKind::Down(MouseButton::Left))
            .then_some(Action::OpenForm(FormKind::Setup))
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let mut lines: Vec<Line> = text::SETUP_BODY.iter().map(|l| Line::from(*l)).collect();
        lines.push(Line::default());
        lines.push(Line::styled(
            text::SETUP_CALL,
            Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD),
        ));
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(text::SETUP_TITLE))
                .wrap(Wrap { trim: false }),
            area,
        );
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        vec![text::K_SETUP]
    }
}
