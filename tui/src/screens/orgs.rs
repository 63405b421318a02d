//! Organizations screen: org table with shred state; `d` crypto-shreds the selected org
//! after the operator types its slug again.

use crossterm::event::{KeyCode, KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Cell, Row, Table};

use super::{Component, KeyOutcome, block, empty_hint};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::OrgSummary;
use crate::text;
use crate::ui::{self, TableNav};

/// Organizations.
#[derive(Debug, Default)]
pub struct OrgsScreen {
    orgs: Vec<OrgSummary>,
    nav: TableNav,
}

impl OrgsScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('d') | KeyCode::Char('x') => {
                let org = self.nav.selected().and_then(|i| self.orgs.get(i))?;
                if org.shredded {
                    return Some(Action::Notice(text::already_shredded(&org.slug)));
                }
                Some(Action::OpenForm(FormKind::ShredOrg {
                    slug: org.slug.clone(),
                    name: org.name.clone(),
                }))
            }
            _ => None,
        }
    }
}

impl Component for OrgsScreen {
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
        if let Action::Loaded(Loaded::Orgs(orgs)) = action {
            self.orgs = orgs.clone();
            self.nav.set_len(self.orgs.len());
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        self.nav.set_area(area);
        let title = text::orgs_title(self.orgs.len());
        if self.orgs.is_empty() {
            empty_hint(frame, area, block(&title), text::ORGS_EMPTY);
            return;
        }
        let header = Row::new(text::ORGS_HEADER.map(Cell::from)).style(ui::header_style());
        let rows = self.orgs.iter().map(|o| {
            let (status, style) = if o.shredded {
                (text::SHREDDED, Style::new().fg(ui::BAD))
            } else {
                (text::ACTIVE, Style::new().fg(ui::OK))
            };
            Row::new(vec![
                Cell::from(o.slug.as_str()),
                Cell::from(o.name.as_str()),
                Cell::from(status).style(style),
                Cell::from(o.created_at.chars().take(10).collect::<String>())
                    .style(Style::new().fg(ui::DIM)),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Fill(2),
                Constraint::Length(9),
                Constraint::Length(10),
            ],
        )
        .header(header)
        .block(block(&title))
        .row_highlight_style(ui::selected_style())
        .highlight_symbol("▶ ");
        frame.render_stateful_widget(table, area, &mut self.nav.state);
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::ORGS_KEYS.to_vec()
    }
}
