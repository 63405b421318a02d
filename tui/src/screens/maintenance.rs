//! Maintenance screen: circuit-breaker state; `e` trips it with a reason, `c` clears it
//! (confirmed, since it re-opens the platform to all users); `k` runs the read-only
//! database check (the same as `rampart admin check`) and lists one line per database.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Component, KeyOutcome, block};
use crate::action::{Action, FormKind, Loaded};
use crate::backend::{DatabaseCheck, LlmOps, MaintenanceState};
use crate::text;
use crate::ui::{self, kv};

/// Maintenance mode.
#[derive(Debug, Default)]
pub struct MaintenanceScreen {
    state: Option<MaintenanceState>,
    checks: Option<Vec<DatabaseCheck>>,
    llm: Option<LlmOps>,
}

impl MaintenanceScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        let active = self.state.as_ref().is_some_and(|s| s.active);
        match key.code {
            KeyCode::Char('e') if active => Some(Action::Notice(text::MAINT_ALREADY.to_owned())),
            KeyCode::Char('e') => Some(Action::OpenForm(FormKind::EnableMaintenance)),
            KeyCode::Char('c') if !active => {
                Some(Action::Notice(text::MAINT_NOT_ACTIVE.to_owned()))
            }
            KeyCode::Char('c') => Some(Action::AskConfirm(Box::new(Action::ClearMaintenance))),
            KeyCode::Char('k') => Some(Action::CheckDatabases),
            KeyCode::Char('x') => Some(Action::AskConfirm(Box::new(Action::ClearLlmCache))),
            KeyCode::Char('w') if self.llm.as_ref().is_some_and(|l| l.kms_provider != "vault") => {
                Some(Action::Notice(text::KMS_NOT_VAULT.to_owned()))
            }
            KeyCode::Char('w') => Some(Action::AskConfirm(Box::new(Action::RewrapKms))),
            _ => None,
        }
    }
}

impl Component for MaintenanceScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        self.action_for(key).into()
    }

    fn update(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::Maintenance(s)) => self.state = Some(s.clone()),
            Action::Loaded(Loaded::Checks(c)) => self.checks = Some(c.clone()),
            Action::Loaded(Loaded::LlmOps(l)) => self.llm = Some(l.clone()),
            _ => {}
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let mut lines = Vec::new();
        match &self.state {
            None => lines.push(Line::styled(text::LOADING, ui::label_style())),
            Some(s) => {
                let (state, color) = if s.active {
                    (text::MAINT_ACTIVE, ui::BAD)
                } else {
                    (text::MAINT_OFF, ui::OK)
                };
                let none = || Span::styled(text::NONE, ui::label_style());
                lines.push(kv(
                    text::L_STATE,
                    12,
                    Span::styled(
                        format!("● {state}"),
                        Style::new().fg(color).add_modifier(Modifier::BOLD),
                    ),
                ));
                lines.push(kv(
                    text::L_REASON,
                    12,
                    s.reason.as_deref().map_or_else(none, Span::raw),
                ));
                lines.push(kv(
                    text::L_TRIPPED_AT,
                    12,
                    s.tripped_at.as_deref().map_or_else(none, Span::raw),
                ));
            }
        }
        if let Some(l) = &self.llm {
            lines.push(Line::default());
            lines.push(Line::styled(
                text::LLM_TITLE,
                Style::new().add_modifier(Modifier::BOLD),
            ));
            lines.push(kv(
                text::L_CACHE,
                12,
                Span::raw(text::llm_cache_line(
                    l.cache_entries,
                    l.cache_bytes,
                    l.hit_rate.as_deref(),
                )),
            ));
            lines.push(kv(
                text::L_USAGE,
                12,
                Span::raw(format!("{} tokens, est. cost {}", l.tokens_30d, l.cost_30d)),
            ));
            let kms = match l.kms_key_version {
                Some(v) => format!("{} (Transit key version {v})", l.kms_provider),
                None => l.kms_provider.clone(),
            };
            lines.push(kv(text::L_KMS, 12, Span::raw(kms)));
            lines.push(Line::styled(text::LLM_HELP, ui::label_style()));
        }
        lines.push(Line::default());
        lines.push(Line::styled(
            text::CHECK_TITLE,
            Style::new().add_modifier(Modifier::BOLD),
        ));
        match &self.checks {
            None => lines.push(Line::styled(text::CHECK_NOT_RUN, ui::label_style())),
            Some(checks) => {
                for c in checks {
                    let (mark, color) = if c.ok {
                        ("ok  ", ui::OK)
                    } else {
                        ("FAIL", ui::BAD)
                    };
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!("{mark}  "),
                            Style::new().fg(color).add_modifier(Modifier::BOLD),
                        ),
                        Span::raw(format!("{:<20}  ", c.name)),
                        Span::styled(c.path.clone(), ui::label_style()),
                    ]));
                    lines.push(Line::raw(format!("      {}", c.summary)));
                }
            }
        }
        lines.push(Line::default());
        lines.extend(
            text::MAINT_HELP
                .iter()
                .map(|l| Line::styled(*l, ui::label_style())),
        );
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(text::MAINT_TITLE))
                .wrap(Wrap { trim: false }),
            area,
        );
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::MAINT_KEYS.to_vec()
    }
}
