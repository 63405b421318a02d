//! Organizations screen. The list shows every org with its limits and usage and where its
//! data lives; `n` creates, `e` edits name/description/limits, `i` moves the data into the
//! org's own database (confirm popup), `d` deletes and `s` crypto-shreds (both after the
//! slug is typed again). `↵` opens an org: its facts, members (with roles; add, re-role,
//! remove) and workspaces (with member counts); `Esc` goes back.
//!
//! The outcome of the last org operation, including backend errors, stays in a status line
//! under the content until the next operation, so a long refusal can be read in full.

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Wrap};

use super::{Component, KeyOutcome, block, empty_hint};
use crate::action::{Action, FormKind, JobUpdate, Loaded, ScreenId, StatusLine};
use crate::backend::{OrgMember, OrgRole, OrgSummary, OrgWorkspace};
use crate::text;
use crate::ui::{self, TableNav, kv};

/// Which list of the detail view the selection keys move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Focus {
    #[default]
    Members,
    Workspaces,
}

/// One org opened with `↵`.
#[derive(Debug, Default)]
struct Detail {
    slug: String,
    members: Vec<OrgMember>,
    workspaces: Vec<OrgWorkspace>,
    member_nav: TableNav,
    ws_nav: TableNav,
    focus: Focus,
}

impl Detail {
    fn selected_member(&self) -> Option<&OrgMember> {
        self.member_nav.selected().and_then(|i| self.members.get(i))
    }
}

/// Organizations.
#[derive(Debug, Default)]
pub struct OrgsScreen {
    orgs: Vec<OrgSummary>,
    nav: TableNav,
    detail: Option<Detail>,
    status: Option<StatusLine>,
}

const LABEL_W: usize = 13;

impl OrgsScreen {
    /// Slug of the org whose detail view is open, so the App reloads its members and
    /// workspaces along with the list.
    pub fn open_slug(&self) -> Option<&str> {
        self.detail.as_ref().map(|d| d.slug.as_str())
    }

    /// Moves the list selection to `slug` (after creating it, the new row is selected).
    pub fn select(&mut self, slug: &str) {
        if let Some(i) = self.orgs.iter().position(|o| o.slug == slug) {
            self.nav.state.select(Some(i));
        }
    }

    fn selected(&self) -> Option<&OrgSummary> {
        self.nav.selected().and_then(|i| self.orgs.get(i))
    }

    fn org(&self, slug: &str) -> Option<&OrgSummary> {
        self.orgs.iter().find(|o| o.slug == slug)
    }

    fn edit(org: &OrgSummary) -> Action {
        if org.shredded {
            Action::Notice(text::shredded_read_only(&org.slug))
        } else {
            Action::OpenForm(FormKind::EditOrg(org.clone()))
        }
    }

    fn list_action(&self, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('n') {
            return Some(Action::OpenForm(FormKind::CreateOrg));
        }
        let org = self.selected()?;
        let slug = org.slug.clone();
        Some(match key.code {
            KeyCode::Enter => Action::OpenOrg(slug),
            KeyCode::Char('e') => Self::edit(org),
            KeyCode::Char('i') if org.shredded => Action::Notice(text::already_shredded(&slug)),
            KeyCode::Char('i') if org.isolated => Action::Notice(text::already_isolated(&slug)),
            KeyCode::Char('i') => Action::AskConfirm(Box::new(Action::IsolateOrg {
                slug,
                name: org.name.clone(),
                workspaces: org.workspace_count,
            })),
            KeyCode::Char('d') => Action::OpenForm(FormKind::DeleteOrg {
                slug,
                name: org.name.clone(),
                workspaces: org.workspace_count,
            }),
            KeyCode::Char('s') if org.shredded => Action::Notice(text::already_shredded(&slug)),
            KeyCode::Char('s') if !org.isolated => {
                Action::Notice(text::shred_needs_isolation(&slug))
            }
            KeyCode::Char('s') => Action::OpenForm(FormKind::ShredOrg {
                slug,
                name: org.name.clone(),
            }),
            _ => return None,
        })
    }

    fn detail_key(&mut self, key: KeyEvent) -> KeyOutcome {
        let Some(detail) = self.detail.as_mut() else {
            return KeyOutcome::Ignored;
        };
        match key.code {
            KeyCode::Esc | KeyCode::Backspace => {
                self.detail = None;
                return KeyOutcome::Consumed;
            }
            KeyCode::Char('w') => {
                detail.focus = match detail.focus {
                    Focus::Members => Focus::Workspaces,
                    Focus::Workspaces => Focus::Members,
                };
                return KeyOutcome::Consumed;
            }
            _ => {}
        }
        let nav = match detail.focus {
            Focus::Members => &mut detail.member_nav,
            Focus::Workspaces => &mut detail.ws_nav,
        };
        if nav.handle_key(key) {
            return KeyOutcome::Consumed;
        }
        let slug = detail.slug.clone();
        let member = match detail.focus {
            Focus::Members => detail.selected_member().cloned(),
            Focus::Workspaces => None,
        };
        let org = self.org(&slug);
        let shredded = org.is_some_and(|o| o.shredded);
        match key.code {
            KeyCode::Char('e') => org.map(Self::edit).into(),
            KeyCode::Char('a') if shredded => {
                KeyOutcome::Action(Action::Notice(text::shredded_read_only(&slug)))
            }
            KeyCode::Char('a') => {
                KeyOutcome::Action(Action::OpenForm(FormKind::AddOrgMember { slug }))
            }
            KeyCode::Enter => member
                .map(|m| {
                    Action::OpenForm(FormKind::SetOrgRole {
                        slug,
                        email: m.email,
                        role: m.role,
                    })
                })
                .into(),
            KeyCode::Char('d') | KeyCode::Char('r') => member
                .map(|m| {
                    Action::AskConfirm(Box::new(Action::RemoveOrgMember {
                        slug,
                        user_id: m.user_id,
                        email: m.email,
                    }))
                })
                .into(),
            _ => KeyOutcome::Ignored,
        }
    }

    fn draw_list(&mut self, frame: &mut Frame, area: Rect) {
        self.nav.set_area(area);
        let title = text::orgs_title(self.orgs.len());
        if self.orgs.is_empty() {
            empty_hint(frame, area, block(&title), text::ORGS_EMPTY);
            return;
        }
        // Narrow terminals drop the creation date before squeezing slugs and names.
        let columns = if area.width < 72 { 5 } else { 6 };
        let header = Row::new(text::ORGS_HEADER[..columns].iter().map(|h| Cell::from(*h)))
            .style(ui::header_style());
        let rows = self.orgs.iter().map(|o| {
            let (data, data_style) = if o.shredded {
                (text::SHREDDED, Style::new().fg(ui::BAD))
            } else if o.isolated {
                (text::DATA_OWN_DB, Style::new().fg(ui::OK))
            } else {
                (text::DATA_PLATFORM, Style::new())
            };
            let dim = if o.shredded {
                Style::new().fg(ui::DIM)
            } else {
                Style::new()
            };
            let mut cells = vec![
                Cell::from(o.slug.as_str()).style(dim),
                Cell::from(o.name.as_str()).style(dim),
                usage_cell(o.workspace_count, o.max_workspaces),
                usage_cell(o.member_count, o.max_members),
                Cell::from(data).style(data_style),
                Cell::from(o.created_at.chars().take(10).collect::<String>())
                    .style(Style::new().fg(ui::DIM)),
            ];
            cells.truncate(columns);
            Row::new(cells)
        });
        let widths = [
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(10),
        ];
        let table = Table::new(rows, &widths[..columns])
            .header(header)
            .block(block(&title))
            .row_highlight_style(ui::selected_style())
            .highlight_symbol("▶ ");
        frame.render_stateful_widget(table, area, &mut self.nav.state);
    }

    fn draw_detail(&mut self, frame: &mut Frame, area: Rect) {
        let Some(detail) = self.detail.as_mut() else {
            return;
        };
        let org = self.orgs.iter().find(|o| o.slug == detail.slug);
        let [info_area, lists] =
            Layout::vertical([Constraint::Length(8), Constraint::Min(0)]).areas(area);

        let mut lines = Vec::new();
        if let Some(o) = org {
            let (data, color) = if o.shredded {
                (text::DATA_SHREDDED_LONG, ui::BAD)
            } else if o.isolated {
                (text::DATA_OWN_DB_LONG, ui::OK)
            } else {
                (text::DATA_PLATFORM_LONG, ui::WARN)
            };
            let description = if o.description.is_empty() {
                Span::styled(text::NONE, ui::label_style())
            } else {
                Span::raw(o.description.as_str())
            };
            lines.extend([
                kv(text::L_NAME, LABEL_W, Span::raw(o.name.as_str())),
                kv(text::L_DESCRIPTION, LABEL_W, description),
                kv(
                    text::L_WORKSPACES,
                    LABEL_W,
                    usage_span(o.workspace_count, o.max_workspaces),
                ),
                kv(
                    text::L_MEMBERS,
                    LABEL_W,
                    usage_span(o.member_count, o.max_members),
                ),
                kv(
                    text::L_DATA,
                    LABEL_W,
                    Span::styled(data, Style::new().fg(color)),
                ),
                kv(
                    text::L_CREATED,
                    LABEL_W,
                    Span::styled(o.created_at.as_str(), ui::label_style()),
                ),
            ]);
        }
        frame.render_widget(
            Paragraph::new(lines)
                .block(block(&text::org_title(&detail.slug)))
                .wrap(Wrap { trim: true }),
            info_area,
        );

        // Side by side when there is room, stacked otherwise.
        let [members_area, ws_area] = if lists.width >= 70 {
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(lists)
        } else {
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(lists)
        };
        detail.member_nav.set_area(members_area);
        detail.ws_nav.set_area(ws_area);

        let members_block = focus_block(
            text::org_members_title(detail.members.len()),
            detail.focus == Focus::Members,
        );
        if detail.members.is_empty() {
            empty_hint(frame, members_area, members_block, text::ORG_MEMBERS_EMPTY);
        } else {
            let columns = if members_area.width < 56 { 2 } else { 3 };
            let header = Row::new(
                text::ORG_MEMBERS_HEADER
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| columns == 3 || *i != 1)
                    .map(|(_, h)| Cell::from(*h)),
            )
            .style(ui::header_style());
            let rows = detail.members.iter().map(|m| {
                let role_style = match m.role {
                    OrgRole::OrgAdmin => Style::new().fg(ui::ACCENT),
                    OrgRole::Member => Style::new(),
                };
                let mut cells = vec![Cell::from(m.email.as_str())];
                if columns == 3 {
                    cells.push(Cell::from(m.name.as_str()));
                }
                cells.push(Cell::from(text::org_role(m.role)).style(role_style));
                Row::new(cells)
            });
            let widths: &[Constraint] = if columns == 3 {
                &[
                    Constraint::Fill(3),
                    Constraint::Fill(2),
                    Constraint::Length(9),
                ]
            } else {
                &[Constraint::Fill(1), Constraint::Length(9)]
            };
            let table = Table::new(rows, widths)
                .header(header)
                .block(members_block)
                .row_highlight_style(if detail.focus == Focus::Members {
                    ui::selected_style()
                } else {
                    Style::new()
                })
                .highlight_symbol("▶ ");
            frame.render_stateful_widget(table, members_area, &mut detail.member_nav.state);
        }

        let ws_block = focus_block(
            text::org_workspaces_title(detail.workspaces.len()),
            detail.focus == Focus::Workspaces,
        );
        if detail.workspaces.is_empty() {
            empty_hint(frame, ws_area, ws_block, text::ORG_WORKSPACES_EMPTY);
        } else {
            let columns = if ws_area.width < 44 { 2 } else { 3 };
            let header = Row::new(
                text::ORG_WORKSPACES_HEADER[..columns]
                    .iter()
                    .map(|h| Cell::from(*h)),
            )
            .style(ui::header_style());
            let rows = detail.workspaces.iter().map(|w| {
                let mut cells = vec![
                    Cell::from(w.name.as_str()),
                    Cell::from(w.member_count.to_string()),
                    Cell::from(w.created_at.chars().take(10).collect::<String>())
                        .style(Style::new().fg(ui::DIM)),
                ];
                cells.truncate(columns);
                Row::new(cells)
            });
            let widths = [
                Constraint::Fill(1),
                Constraint::Length(7),
                Constraint::Length(10),
            ];
            let table = Table::new(rows, &widths[..columns])
                .header(header)
                .block(ws_block)
                .row_highlight_style(if detail.focus == Focus::Workspaces {
                    ui::selected_style()
                } else {
                    Style::new()
                })
                .highlight_symbol("▶ ");
            frame.render_stateful_widget(table, ws_area, &mut detail.ws_nav.state);
        }
    }

    fn status_lines(&self, width: u16) -> Option<(Vec<Line<'static>>, u16)> {
        let status = self.status.as_ref()?;
        let line = match status {
            StatusLine::Done(msg) => Line::styled(msg.clone(), Style::new().fg(ui::OK)),
            StatusLine::Working(msg) => Line::styled(
                msg.clone(),
                Style::new().fg(ui::WARN).add_modifier(Modifier::BOLD),
            ),
            StatusLine::Failed { title, message } => Line::from(vec![
                Span::styled(
                    format!("✗ {title}: "),
                    Style::new().fg(ui::BAD).add_modifier(Modifier::BOLD),
                ),
                Span::styled(message.clone(), Style::new().fg(ui::BAD)),
            ]),
        };
        let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
        let rows = ui::wrapped_rows(&text, usize::from(width.max(1))).min(4);
        Some((vec![line], rows as u16))
    }
}

fn usage_style(used: u64, max: u64) -> Style {
    if max > 0 && used >= max {
        Style::new().fg(ui::WARN)
    } else {
        Style::new()
    }
}

fn usage_cell(used: u64, max: u64) -> Cell<'static> {
    Cell::from(text::org_usage(used, max)).style(usage_style(used, max))
}

fn usage_span(used: u64, max: u64) -> Span<'static> {
    Span::styled(text::org_usage(used, max), usage_style(used, max))
}

/// A screen block whose border shows whether its list has the selection keys.
fn focus_block(title: String, focused: bool) -> Block<'static> {
    let color = if focused { ui::ACCENT } else { ui::DIM };
    Block::bordered()
        .border_type(ratatui::widgets::BorderType::Rounded)
        .border_style(Style::new().fg(color))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().add_modifier(Modifier::BOLD),
        ))
}

impl Component for OrgsScreen {
    fn handle_key(&mut self, key: KeyEvent) -> KeyOutcome {
        if self.detail.is_some() {
            return self.detail_key(key);
        }
        if self.nav.handle_key(key) {
            return KeyOutcome::Consumed;
        }
        self.list_action(key).into()
    }

    fn handle_mouse(&mut self, mouse: MouseEvent) -> Option<Action> {
        let Some(detail) = self.detail.as_mut() else {
            self.nav.handle_mouse(mouse);
            return None;
        };
        if detail.member_nav.handle_mouse(mouse) {
            if matches!(mouse.kind, MouseEventKind::Down(MouseButton::Left)) {
                detail.focus = Focus::Members;
            }
        } else if detail.ws_nav.handle_mouse(mouse)
            && matches!(mouse.kind, MouseEventKind::Down(MouseButton::Left))
        {
            detail.focus = Focus::Workspaces;
        }
        None
    }

    fn update(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::Orgs(orgs)) => {
                self.orgs = orgs.clone();
                self.nav.set_len(self.orgs.len());
                // An org deleted here or elsewhere closes its detail view.
                if let Some(slug) = self.open_slug()
                    && !self.orgs.iter().any(|o| o.slug == slug)
                {
                    self.detail = None;
                }
            }
            Action::Loaded(Loaded::OrgDetail {
                slug,
                members,
                workspaces,
            }) => {
                let detail = match self.detail.take() {
                    Some(d) if &d.slug == slug => Detail {
                        members: members.clone(),
                        workspaces: workspaces.clone(),
                        ..d
                    },
                    _ => Detail {
                        slug: slug.clone(),
                        members: members.clone(),
                        workspaces: workspaces.clone(),
                        ..Detail::default()
                    },
                };
                let mut detail = detail;
                detail.member_nav.set_len(detail.members.len());
                detail.ws_nav.set_len(detail.workspaces.len());
                self.detail = Some(detail);
            }
            Action::Status {
                screen: ScreenId::Orgs,
                line,
            } => self.status = Some(line.clone()),
            Action::Job(JobUpdate::IsolateStarted(slug)) => {
                self.status = Some(StatusLine::Working(text::isolating(slug)));
            }
            Action::Job(JobUpdate::IsolateDone { slug, result }) => {
                self.status = Some(match result {
                    Ok(report) => StatusLine::Done(text::isolated(slug, report)),
                    Err(err) => StatusLine::Failed {
                        title: text::error_title(err).to_owned(),
                        message: err.to_string(),
                    },
                });
            }
            _ => {}
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        // The status line takes the bottom rows when there is room for a table above it.
        let content = match self.status_lines(area.width) {
            Some((lines, rows)) if area.height > rows + 3 => {
                let [content, status] =
                    Layout::vertical([Constraint::Min(0), Constraint::Length(rows)]).areas(area);
                frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), status);
                content
            }
            _ => area,
        };
        if self.detail.is_some() {
            self.draw_detail(frame, content);
        } else {
            self.draw_list(frame, content);
        }
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.detail.is_some() {
            text::ORG_DETAIL_KEYS.to_vec()
        } else {
            text::ORGS_KEYS.to_vec()
        }
    }
}
