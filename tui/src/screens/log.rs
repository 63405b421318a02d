//! Log/Status screen: the overview facts and the recent events, newest at the bottom.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Component, KeyOutcome, block};
use crate::action::{Action, Loaded};
use crate::backend::{LogLevel, LogLine, Overview};
use crate::text;
use crate::ui::{self, kv};

/// Overview and event log.
#[derive(Debug, Default)]
pub struct LogScreen {
    overview: Option<Overview>,
    events: Vec<LogLine>,
    /// Lines scrolled up from the bottom.
    scroll_back: usize,
}

impl LogScreen {
    fn scroll(&mut self, up: isize) {
        let max = self.events.len().saturating_sub(1) as isize;
        self.scroll_back = (self.scroll_back as isize + up).clamp(0, max) as usize;
    }
}

impl Component for LogScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.scroll(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll(-1),
            KeyCode::PageUp => self.scroll(10),
            KeyCode::PageDown => self.scroll(-10),
            KeyCode::Home | KeyCode::Char('g') => self.scroll(isize::MAX / 2),
            KeyCode::End | KeyCode::Char('G') => self.scroll_back = 0,
            _ => return KeyOutcome::Ignored,
        }
        KeyOutcome::Consumed
    }

    fn handle_mouse(&mut self, mouse: MouseEvent) -> Option<Action> {
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scroll(1),
            MouseEventKind::ScrollDown => self.scroll(-1),
            _ => {}
        }
        None
    }

    fn update(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::Overview(o)) => self.overview = Some(o.clone()),
            Action::Loaded(Loaded::Events(e)) => {
                // A reader scrolled up keeps their place while new lines arrive below.
                if self.scroll_back > 0 {
                    let added = e.len().saturating_sub(self.events.len());
                    self.scroll_back += added;
                }
                self.events = e.clone();
                self.scroll(0);
            }
            _ => {}
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let [status_area, log_area] =
            Layout::vertical([Constraint::Length(8), Constraint::Min(0)]).areas(area);
        let mut lines = Vec::new();
        match &self.overview {
            None => lines.push(Line::styled(text::LOADING, ui::label_style())),
            Some(o) => {
                const W: usize = 12;
                lines.push(kv(text::L_INSTANCE, W, Span::raw(o.instance.as_str())));
                lines.push(kv(text::L_VERSION, W, Span::raw(o.version.as_str())));
                lines.push(kv(
                    text::L_DATA_DIR,
                    W,
                    Span::raw(o.data_dir.display().to_string()),
                ));
                lines.push(kv(text::L_USERS, W, Span::raw(o.user_count.to_string())));
                lines.push(kv(
                    text::L_DB_SIZE,
                    W,
                    Span::raw(ui::fmt_bytes(o.db_size_bytes)),
                ));
                let (server, color) = match o.server_reachable {
                    Some(true) => (text::SERVER_UP, ui::OK),
                    Some(false) => (text::SERVER_DOWN, ui::BAD),
                    None => (text::SERVER_UNKNOWN, ui::DIM),
                };
                lines.push(kv(
                    text::L_SERVER,
                    W,
                    Span::styled(server, Style::new().fg(color)),
                ));
            }
        }
        frame.render_widget(
            Paragraph::new(lines).block(block(text::STATUS_TITLE)),
            status_area,
        );

        let log_block = block(text::EVENTS_TITLE);
        let inner = log_block.inner(log_area);
        frame.render_widget(log_block, log_area);
        if self.events.is_empty() {
            frame.render_widget(
                Paragraph::new(text::EVENTS_EMPTY).style(ui::label_style()),
                inner,
            );
            return;
        }
        let height = inner.height as usize;
        let end = self.events.len() - self.scroll_back.min(self.events.len());
        let start = end.saturating_sub(height);
        let lines: Vec<Line> = self.events[start..end]
            .iter()
            .map(|e| {
                let lvl = text::log_level(e.level);
                let color = match e.level {
                    LogLevel::Info => ui::DIM,
                    LogLevel::Warn => ui::WARN,
                    LogLevel::Error => ui::BAD,
                };
                Line::from(vec![
                    Span::styled(format!("{} ", e.at), ui::label_style()),
                    Span::styled(format!("{lvl} "), Style::new().fg(color)),
                    Span::raw(e.message.as_str()),
                ])
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        vec![text::K_SCROLL]
    }
}
