//! Credits screen: every user's and org pool's monthly AI credits (allowance, used,
//! balance); `a` sets the selected account's allowance, `c` adds or deducts credits with a
//! note. Both go through the same service as `rampart admin credits` and are audited.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{Component, KeyOutcome, block, empty_hint};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::{CreditAccount, CreditKind};
use crate::text;
use crate::ui::{self, TableNav};

/// The credit accounts.
#[derive(Debug, Default)]
pub struct CreditsScreen {
    accounts: Vec<CreditAccount>,
    nav: TableNav,
}

impl CreditsScreen {
    fn selected(&self) -> Option<&CreditAccount> {
        self.nav.selected().and_then(|i| self.accounts.get(i))
    }

    fn action_for(&self, key: KeyEvent) -> Option<Action> {
        let account = self.selected()?.clone();
        match key.code {
            KeyCode::Char('a') | KeyCode::Enter => {
                Some(Action::OpenForm(FormKind::SetAllowance(account)))
            }
            KeyCode::Char('c') => Some(Action::OpenForm(FormKind::AdjustCredits(account))),
            _ => None,
        }
    }
}

impl Component for CreditsScreen {
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
        if let Action::Loaded(Loaded::Credits(accounts)) = action {
            self.accounts = accounts.clone();
            self.nav.set_len(self.accounts.len());
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let [table_area, help_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
        frame.render_widget(
            Paragraph::new(Span::styled(text::CREDITS_HELP, ui::label_style())),
            help_area,
        );
        self.nav.set_area(table_area);
        let orgs = self
            .accounts
            .iter()
            .filter(|a| a.kind == CreditKind::Org)
            .count();
        let title = text::credits_title(self.accounts.len() - orgs, orgs);
        if self.accounts.is_empty() {
            empty_hint(frame, table_area, block(&title), text::CREDITS_EMPTY);
            return;
        }
        let header =
            Row::new(text::CREDITS_HEADER.iter().map(|h| Cell::from(*h))).style(ui::header_style());
        let rows = self.accounts.iter().map(|a| {
            let (kind, name) = match a.kind {
                CreditKind::User => ("user", a.label.clone()),
                CreditKind::Org => ("org pool", format!("{} ({})", a.label, a.key)),
            };
            let allowance = match a.allowance {
                Some(n) => Cell::from(n.to_string()),
                None => Cell::from(Span::styled(text::NOT_METERED, ui::label_style())),
            };
            let balance_style = match a.balance {
                Some(b) if b <= 0 => Style::new().fg(ui::BAD),
                _ => Style::new(),
            };
            Row::new(vec![
                Cell::from(name),
                Cell::from(kind),
                allowance,
                Cell::from(a.used.to_string()),
                Cell::from(Span::styled(
                    text::credits_or_dash(a.balance),
                    balance_style,
                )),
            ])
        });
        let widths = [
            Constraint::Fill(3),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(8),
        ];
        let table = Table::new(rows, widths)
            .header(header)
            .block(block(&title))
            .row_highlight_style(ui::selected_style())
            .highlight_symbol("▶ ");
        frame.render_stateful_widget(table, table_area, &mut self.nav.state);
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::CREDITS_KEYS.to_vec()
    }
}
