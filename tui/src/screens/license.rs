//! License screen: validity, licensee, expiry, limits against current usage; `i` installs a
//! license file.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};

use super::{Component, KeyOutcome, block};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::{LicenseState, LicenseStatus};
use crate::text;
use crate::ui::{self, kv};

/// License status view.
#[derive(Debug, Default)]
pub struct LicenseScreen {
    status: Option<LicenseStatus>,
}

const LABEL_W: usize = 12;

fn usage_gauge<'a>(label: &'a str, used: u64, max: Option<u64>) -> LineGauge<'a> {
    let (ratio, text) = match max {
        Some(0) | None => (0.0, text::usage(used, max)),
        Some(m) => ((used as f64 / m as f64).min(1.0), text::usage(used, max)),
    };
    let color = if ratio >= 1.0 {
        ui::BAD
    } else if ratio >= 0.8 {
        ui::WARN
    } else {
        ui::OK
    };
    LineGauge::default()
        .ratio(ratio)
        .label(Line::from(vec![
            Span::styled(format!("{label:<LABEL_W$}"), ui::label_style()),
            Span::raw(format!("{text:<9}")),
        ]))
        .filled_style(Style::new().fg(color))
        .unfilled_style(Style::new().fg(ui::DIM))
}

impl LicenseScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('i') | KeyCode::Char('n') => {
                Some(Action::OpenForm(FormKind::InstallLicense))
            }
            _ => None,
        }
    }
}

impl Component for LicenseScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        self.action_for(key).into()
    }

    fn update(&mut self, action: &Action) {
        if let Action::Loaded(Loaded::License(status)) = action {
            self.status = Some(status.clone());
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let outer = block(text::LICENSE_TITLE);
        let inner = outer.inner(area);
        frame.render_widget(outer, area);
        let Some(st) = &self.status else {
            frame.render_widget(
                Paragraph::new(text::LOADING).style(ui::label_style()),
                inner,
            );
            return;
        };
        let (state_text, color) = match st.state {
            LicenseState::Valid => (text::LIC_VALID, ui::OK),
            LicenseState::Expired => (text::LIC_EXPIRED, ui::BAD),
            LicenseState::Missing => (text::LIC_MISSING, ui::WARN),
            LicenseState::Invalid => (text::LIC_INVALID, ui::BAD),
        };
        let none = || Span::styled(text::NONE, ui::label_style());
        fn opt(v: &Option<String>) -> Span<'_> {
            v.as_deref()
                .map_or_else(|| Span::styled(text::NONE, ui::label_style()), Span::raw)
        }
        let limit = |v: Option<u64>| v.map_or_else(none, |n| Span::raw(n.to_string()));
        let mut lines = vec![
            kv(
                text::L_STATUS,
                LABEL_W,
                Span::styled(
                    format!("● {state_text}"),
                    Style::new().fg(color).add_modifier(Modifier::BOLD),
                ),
            ),
            kv(text::L_LICENSEE, LABEL_W, opt(&st.licensee)),
            kv(text::L_EXPIRES, LABEL_W, opt(&st.expires_at)),
            kv(text::L_MAX_WS, LABEL_W, limit(st.max_workspaces)),
            kv(text::L_MAX_ORGS, LABEL_W, limit(st.max_orgs)),
        ];
        if let Some(detail) = &st.detail {
            lines.push(kv(text::L_DETAIL, LABEL_W, Span::raw(detail.as_str())));
        }
        let rows = Layout::vertical([
            Constraint::Length(lines.len() as u16),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
        ])
        .split(inner);
        frame.render_widget(Paragraph::new(lines), rows[0]);
        let gauge_w = rows[2].width.min(60);
        let g1 = Rect {
            width: gauge_w,
            ..rows[2]
        };
        let g2 = Rect {
            width: gauge_w,
            ..rows[3]
        };
        frame.render_widget(
            usage_gauge(text::L_WORKSPACES, st.workspaces_used, st.max_workspaces),
            g1,
        );
        frame.render_widget(usage_gauge(text::L_ORGS, st.orgs_used, st.max_orgs), g2);
        frame.render_widget(
            Paragraph::new(text::LICENSE_HINT)
                .style(ui::label_style())
                .wrap(ratatui::widgets::Wrap { trim: true }),
            rows[5],
        );
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        vec![text::K_INSTALL]
    }
}
