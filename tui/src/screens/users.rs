//! Users screen: the account table and the keys that create, re-role, disable/enable and
//! reset MFA. Disable and MFA reset go through a confirm popup.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::{Component, KeyOutcome, block, empty_hint};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::{Role, UserSummary};
use crate::text;
use crate::ui::{self, TableNav};

/// The user list.
#[derive(Debug, Default)]
pub struct UsersScreen {
    users: Vec<UserSummary>,
    nav: TableNav,
}

impl UsersScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('n') {
            return Some(Action::OpenForm(FormKind::CreateUser));
        }
        let user = self.selected()?;
        let user_id = user.id.clone();
        let email = user.email.clone();
        match key.code {
            KeyCode::Enter => Some(Action::OpenForm(FormKind::SetRole {
                user_id,
                email,
                role: user.role,
            })),
            KeyCode::Char('d') if user.disabled => {
                Some(Action::Notice(text::already_disabled(&email)))
            }
            KeyCode::Char('d') => Some(Action::AskConfirm(Box::new(Action::SetDisabled {
                user_id,
                email,
                disabled: true,
            }))),
            KeyCode::Char('e') if !user.disabled => {
                Some(Action::Notice(text::already_enabled(&email)))
            }
            KeyCode::Char('e') => Some(Action::SetDisabled {
                user_id,
                email,
                disabled: false,
            }),
            KeyCode::Char('r') if !user.has_mfa() => Some(Action::Notice(text::no_mfa(&email))),
            KeyCode::Char('r') => Some(Action::AskConfirm(Box::new(Action::ResetMfa {
                user_id,
                email,
            }))),
            _ => None,
        }
    }

    fn selected(&self) -> Option<&UserSummary> {
        self.nav.selected().and_then(|i| self.users.get(i))
    }
}

fn role_style(role: Role) -> Style {
    match role {
        Role::Superadmin => Style::new().fg(ui::WARN),
        Role::Admin => Style::new().fg(ui::ACCENT),
        Role::User => Style::new(),
    }
}

impl Component for UsersScreen {
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
        if let Action::Loaded(Loaded::Users(users)) = action {
            self.users = users.clone();
            self.nav.set_len(self.users.len());
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        self.nav.set_area(area);
        let title = text::users_title(self.users.len());
        if self.users.is_empty() {
            empty_hint(frame, area, block(&title), text::USERS_EMPTY);
            return;
        }
        // Narrow terminals drop the least useful column instead of squeezing emails.
        let columns = if area.width < 72 { 5 } else { 6 };
        let header = Row::new(text::USERS_HEADER[..columns].iter().map(|h| Cell::from(*h)))
            .style(ui::header_style());
        let rows = self.users.iter().map(|u| {
            let status = if u.disabled {
                Span::styled(text::DISABLED, Style::new().fg(ui::BAD))
            } else {
                Span::styled(text::ACTIVE, Style::new().fg(ui::OK))
            };
            let mfa = text::mfa_summary(u.totp, u.webauthn_keys);
            let mfa_style = if u.has_mfa() {
                Style::new()
            } else {
                Style::new().fg(ui::DIM)
            };
            let dim_if_disabled = if u.disabled {
                Style::new().fg(ui::DIM)
            } else {
                Style::new()
            };
            let mut cells = vec![
                Cell::from(u.email.as_str()).style(dim_if_disabled),
                Cell::from(u.name.as_str()).style(dim_if_disabled),
                Cell::from(Span::styled(text::role(u.role), role_style(u.role))),
                Cell::from(Line::from(status)),
                Cell::from(Span::styled(mfa, mfa_style)),
                Cell::from(u.created_at.chars().take(10).collect::<String>())
                    .style(Style::new().fg(ui::DIM)),
            ];
            cells.truncate(columns);
            Row::new(cells)
        });
        let widths = [
            Constraint::Fill(3),
            Constraint::Fill(2),
            Constraint::Length(10),
            Constraint::Length(8),
            Constraint::Length(11),
            Constraint::Length(10),
        ];
        let table = Table::new(rows, &widths[..columns])
            .header(header)
            .block(block(&title))
            .row_highlight_style(ui::selected_style())
            .highlight_symbol("▶ ");
        frame.render_stateful_widget(table, area, &mut self.nav.state);
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::USERS_KEYS.to_vec()
    }
}
