//! Backup screen: what a backup contains, the running job's progress gauge, and the last
//! outcome. `b` creates a signed backup, `r` restores one (typed confirmation).

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};

use super::{Component, KeyOutcome, block};
use crate::action::{Action, FormKind, JobUpdate, Loaded};
use crate::backend::{Overview, Progress};
use crate::text;
use crate::ui::{self, kv};

#[derive(Debug)]
enum JobState {
    Idle,
    Running {
        restore: bool,
        path: PathBuf,
        progress: Option<Progress>,
    },
    Finished {
        ok: bool,
        lines: Vec<String>,
    },
}

/// Backup and restore.
#[derive(Debug)]
pub struct BackupScreen {
    overview: Option<Overview>,
    job: JobState,
}

impl Default for BackupScreen {
    fn default() -> Self {
        Self {
            overview: None,
            job: JobState::Idle,
        }
    }
}

const LABEL_W: usize = 12;

impl BackupScreen {
    fn action_for(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('b') | KeyCode::Char('n') => Some(Action::OpenForm(FormKind::Backup)),
            KeyCode::Char('r') => Some(Action::OpenForm(FormKind::Restore)),
            _ => None,
        }
    }
}

impl Component for BackupScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        self.action_for(key).into()
    }

    fn update(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::Overview(o)) => self.overview = Some(o.clone()),
            // A data move is the Orgs screen's job; it leaves this screen's last outcome.
            Action::Job(JobUpdate::IsolateStarted(_) | JobUpdate::IsolateDone { .. }) => {}
            Action::Job(update) => {
                self.job = match update {
                    JobUpdate::BackupStarted(path) => JobState::Running {
                        restore: false,
                        path: path.clone(),
                        progress: None,
                    },
                    JobUpdate::RestoreStarted(path) => JobState::Running {
                        restore: true,
                        path: path.clone(),
                        progress: None,
                    },
                    JobUpdate::Progress(p) => {
                        match std::mem::replace(&mut self.job, JobState::Idle) {
                            JobState::Running { restore, path, .. } => JobState::Running {
                                restore,
                                path,
                                progress: Some(p.clone()),
                            },
                            other => other,
                        }
                    }
                    JobUpdate::BackupDone(Ok(r)) => JobState::Finished {
                        ok: true,
                        lines: text::backup_done(r),
                    },
                    JobUpdate::RestoreDone(Ok(r)) => JobState::Finished {
                        ok: true,
                        lines: text::restore_done(r),
                    },
                    JobUpdate::BackupDone(Err(e)) | JobUpdate::RestoreDone(Err(e)) => {
                        JobState::Finished {
                            ok: false,
                            lines: vec![e.clone()],
                        }
                    }
                    JobUpdate::IsolateStarted(_) | JobUpdate::IsolateDone { .. } => return,
                };
            }
            _ => {}
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let [info_area, job_area] =
            Layout::vertical([Constraint::Length(9), Constraint::Min(0)]).areas(area);

        let info_block = block(text::BACKUP_TITLE);
        let mut lines = Vec::new();
        if let Some(o) = &self.overview {
            lines.push(kv(
                text::L_DATA_DIR,
                LABEL_W,
                Span::raw(o.data_dir.display().to_string()),
            ));
            lines.push(kv(
                text::L_DB_SIZE,
                LABEL_W,
                Span::raw(ui::fmt_bytes(o.db_size_bytes)),
            ));
        }
        lines.push(kv(text::L_FORMAT, LABEL_W, Span::raw(text::BACKUP_FORMAT)));
        lines.push(kv(
            text::L_FILENAME,
            LABEL_W,
            Span::raw(text::BACKUP_FILENAME),
        ));
        lines.push(Line::default());
        for l in text::BACKUP_HINTS {
            lines.push(Line::styled(*l, ui::label_style()));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .block(info_block)
                .wrap(Wrap { trim: false }),
            info_area,
        );

        let job_block = block(text::JOB_TITLE);
        let inner = job_block.inner(job_area);
        frame.render_widget(job_block, job_area);
        match &self.job {
            JobState::Idle => {
                frame.render_widget(
                    Paragraph::new(text::JOB_IDLE).style(ui::label_style()),
                    inner,
                );
            }
            JobState::Running {
                restore,
                path,
                progress,
            } => {
                let [head, gauge] =
                    Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(inner);
                let what = if *restore {
                    text::RESTORING
                } else {
                    text::BACKING_UP
                };
                frame.render_widget(
                    Paragraph::new(Line::from(vec![
                        Span::styled(what, Style::new().fg(ui::WARN).add_modifier(Modifier::BOLD)),
                        Span::raw(format!(" {}", path.display())),
                    ])),
                    head,
                );
                let (ratio, label) = match progress {
                    Some(p) => match p.total {
                        Some(t) if t > 0 => (
                            (p.done as f64 / t as f64).clamp(0.0, 1.0),
                            format!("{} {}%", p.stage, p.done.saturating_mul(100) / t),
                        ),
                        _ => (0.0, format!("{} {}", p.stage, ui::fmt_bytes(p.done))),
                    },
                    None => (0.0, text::STARTING.to_owned()),
                };
                frame.render_widget(
                    Gauge::default()
                        .ratio(ratio)
                        .label(label)
                        .gauge_style(Style::new().fg(ui::ACCENT).bg(ui::DIM)),
                    gauge,
                );
            }
            JobState::Finished { ok, lines } => {
                let color = if *ok { ui::OK } else { ui::BAD };
                let mark = if *ok { "✓ " } else { "✗ " };
                let body: Vec<Line> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let prefix = if i == 0 { mark } else { "  " };
                        Line::styled(format!("{prefix}{l}"), Style::new().fg(color))
                    })
                    .collect();
                frame.render_widget(Paragraph::new(body).wrap(Wrap { trim: false }), inner);
            }
        }
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        text::BACKUP_KEYS.to_vec()
    }
}
