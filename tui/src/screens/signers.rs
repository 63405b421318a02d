//! Trusted signers screen: this instance's fingerprint and public key PEM (to copy to other
//! instances), and the table of imported signers. `n` imports, `d` removes (confirmed).

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Component, KeyOutcome, block, empty_hint};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::{SigningKey, TrustedSigner};
use crate::text;
use crate::ui::{self, TableNav, kv};

/// Signing key and trusted signers.
#[derive(Debug, Default)]
pub struct SignersScreen {
    key: Option<SigningKey>,
    signers: Vec<TrustedSigner>,
    nav: TableNav,
}

impl SignersScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('n') | KeyCode::Char('i') => Some(Action::OpenForm(FormKind::AddSigner)),
            KeyCode::Char('d') => {
                let s = self.nav.selected().and_then(|i| self.signers.get(i))?;
                Some(Action::AskConfirm(Box::new(Action::RemoveSigner {
                    fingerprint: s.fingerprint.clone(),
                    label: s.label.clone(),
                })))
            }
            _ => None,
        }
    }
}

impl Component for SignersScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        if self.nav.handle_key(key) {
            return KeyOutcome::Consumed;
        }
        self.action_for(key).into()
    }

    fn handle_mouse(&mut self, mouse: MouseEvent) -> Option<Action> {
        self.nav.handle_mouse(mouse);
        None
    }

    fn update(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::SigningKey(k)) => self.key = Some(k.clone()),
            Action::Loaded(Loaded::Signers(s)) => {
                self.signers = s.clone();
                self.nav.set_len(self.signers.len());
            }
            _ => {}
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let pem_lines: Vec<&str> = self
            .key
            .as_ref()
            .map(|k| k.public_key_pem.lines().collect())
            .unwrap_or_default();
        let key_height = (pem_lines.len() as u16).saturating_add(3);
        let [key_area, list_area] =
            Layout::vertical([Constraint::Length(key_height), Constraint::Min(0)]).areas(area);

        let mut lines = Vec::new();
        match &self.key {
            Some(k) => {
                lines.push(kv(
                    text::L_FINGERPRINT,
                    13,
                    Span::styled(k.fingerprint.as_str(), Style::new().fg(ui::ACCENT)),
                ));
                lines.extend(
                    pem_lines
                        .iter()
                        .map(|l| Line::styled(*l, Style::new().fg(ui::DIM))),
                );
            }
            None => lines.push(Line::styled(text::LOADING, ui::label_style())),
        }
        frame.render_widget(
            Paragraph::new(lines).block(block(text::THIS_INSTANCE)),
            key_area,
        );

        self.nav.set_area(list_area);
        let title = text::signers_title(self.signers.len());
        if self.signers.is_empty() {
            empty_hint(frame, list_area, block(&title), text::SIGNERS_EMPTY);
            return;
        }
        let header = Row::new(text::SIGNERS_HEADER.map(Cell::from)).style(ui::header_style());
        let rows = self.signers.iter().map(|s| {
            Row::new(vec![
                Cell::from(s.label.as_str()),
                Cell::from(s.fingerprint.as_str()).style(Style::new().fg(ui::DIM)),
                Cell::from(s.added_at.chars().take(10).collect::<String>())
                    .style(Style::new().fg(ui::DIM)),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Fill(2),
                Constraint::Length(10),
            ],
        )
        .header(header)
        .block(block(&title))
        .row_highlight_style(ui::selected_style())
        .highlight_symbol("▶ ");
        frame.render_stateful_widget(table, list_area, &mut self.nav.state);
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::SIGNERS_KEYS.to_vec()
    }
}
