//! Modal popups: confirmation (holding the destructive [`Action`]), forms with text inputs
//! (including the typed confirmations for restore and shred), messages, and key help.
//!
//! A popup only turns keys into actions. Any action it returns closes it; validation
//! failures keep it open with an inline error and produce no action, so nothing reaches the
//! backend until the input is acceptable.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use crate::action::{Action, FormKind};
use crate::backend::{
    NewOrg, NewUser, OrgPatch, OrgRole, RESTORE_PHRASE, RestoreRequest, Role, SetupRequest,
};
use crate::input::TextInput;
use crate::text;
use crate::ui;

/// The modal layer on top of the screens.
#[derive(Debug)]
pub enum Popup {
    /// Yes/no before a destructive action.
    Confirm(ConfirmPopup),
    /// Inputs, then an action.
    Form(FormPopup),
    /// Error or success text.
    Message(MessagePopup),
    /// Key reference.
    Help(HelpPopup),
}

impl Popup {
    /// Turns a key into an action; `Some` closes the popup.
    pub fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        match self {
            Popup::Confirm(p) => p.handle_key(key),
            Popup::Form(p) => p.handle_key(key),
            Popup::Message(_) | Popup::Help(_) => match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char(' ') => {
                    Some(Action::ClosePopup)
                }
                KeyCode::Char('?') if matches!(self, Popup::Help(_)) => Some(Action::ClosePopup),
                _ => None,
            },
        }
    }

    /// Draws the popup over `area` (the whole screen).
    pub fn draw(&mut self, frame: &mut Frame, area: Rect) {
        match self {
            Popup::Confirm(p) => p.draw(frame, area),
            Popup::Form(p) => p.draw(frame, area),
            Popup::Message(p) => p.draw(frame, area),
            Popup::Help(p) => p.draw(frame, area),
        }
    }
}

fn popup_block(title: &str, danger: bool) -> Block<'_> {
    let color = if danger { ui::BAD } else { ui::ACCENT };
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(color))
        .title(Span::styled(
            format!(" {title} "),
            Style::new().fg(color).add_modifier(Modifier::BOLD),
        ))
}

fn footer(keys: &[(&'static str, &'static str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (key, label) in keys {
        spans.push(Span::styled(
            *key,
            Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(
            format!(" {label}  "),
            Style::new().fg(ui::DIM),
        ));
    }
    Line::from(spans)
}

/// Draws a bordered, wrapped text box sized to its content.
fn draw_text_box(frame: &mut Frame, area: Rect, block: Block<'_>, lines: Vec<Line<'_>>) {
    let width = 64.min(area.width);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            ui::wrapped_rows(&text, inner_width)
        })
        .sum();
    let height = (rows as u16).saturating_add(2);
    let rect = ui::centered(area, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// Asks before running a destructive action; holds the action until confirmed.
#[derive(Debug)]
pub struct ConfirmPopup {
    action: Action,
}

impl ConfirmPopup {
    /// A confirmation for `action` (the question text derives from it).
    pub fn new(action: Action) -> Self {
        Self { action }
    }

    /// The action that confirming would run.
    pub fn action(&self) -> &Action {
        &self.action
    }

    fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                Some(Action::Confirmed(Box::new(self.action.clone())))
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                Some(Action::ClosePopup)
            }
            _ => None,
        }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let mut lines: Vec<Line> = text::confirm_question(&self.action)
            .into_iter()
            .map(Line::from)
            .collect();
        lines.push(Line::default());
        lines.push(footer(text::CONFIRM_KEYS));
        draw_text_box(frame, area, popup_block(text::CONFIRM_TITLE, true), lines);
    }
}

/// Error or success message.
#[derive(Debug)]
pub struct MessagePopup {
    title: String,
    body: Vec<String>,
    error: bool,
}

impl MessagePopup {
    /// An error message (red frame).
    pub fn error(title: &str, body: impl Into<String>) -> Self {
        Self {
            title: title.to_owned(),
            body: vec![body.into()],
            error: true,
        }
    }

    /// A success or information message.
    pub fn info(title: &str, body: Vec<String>) -> Self {
        Self {
            title: title.to_owned(),
            body,
            error: false,
        }
    }

    /// Title, for tests and logs.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// Body lines, for tests.
    pub fn body(&self) -> &[String] {
        &self.body
    }

    /// Whether this reports a failure.
    pub fn is_error(&self) -> bool {
        self.error
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let mut lines: Vec<Line> = self.body.iter().map(|l| Line::from(l.as_str())).collect();
        lines.push(Line::default());
        lines.push(footer(text::MESSAGE_KEYS));
        draw_text_box(frame, area, popup_block(&self.title, self.error), lines);
    }
}

/// Key reference for the current screen plus global keys.
#[derive(Debug)]
pub struct HelpPopup {
    screen_keys: Vec<(&'static str, &'static str)>,
}

impl HelpPopup {
    /// Help listing `screen_keys` above the global keys.
    pub fn new(screen_keys: Vec<(&'static str, &'static str)>) -> Self {
        Self { screen_keys }
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let key_style = Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD);
        let mut lines = vec![Line::styled(text::HELP_SCREEN, ui::label_style())];
        let row = |(k, l): &(&'static str, &'static str)| {
            Line::from(vec![
                Span::styled(format!("  {k:<12}"), key_style),
                Span::raw(*l),
            ])
        };
        lines.extend(self.screen_keys.iter().map(row));
        lines.push(Line::styled(text::HELP_GLOBAL, ui::label_style()));
        lines.extend(text::GLOBAL_KEYS_HELP.iter().map(row));
        draw_text_box(frame, area, popup_block(text::HELP_TITLE, false), lines);
    }
}

/// What one form row edits. A choice holds display labels; the form maps the chosen index
/// back to its value (`Role::ALL`, `OrgRole::ALL`), so the order of both must match.
#[derive(Debug)]
enum FieldInput {
    Text(TextInput),
    Choice {
        options: Vec<&'static str>,
        index: usize,
    },
}

#[derive(Debug)]
struct Field {
    label: &'static str,
    input: FieldInput,
}

impl Field {
    fn text(label: &'static str, value: &str) -> Self {
        Self {
            label,
            input: FieldInput::Text(TextInput::new(value, false)),
        }
    }

    fn secret(label: &'static str) -> Self {
        Self {
            label,
            input: FieldInput::Text(TextInput::new("", true)),
        }
    }

    fn role(label: &'static str, selected: Role) -> Self {
        Self {
            label,
            input: FieldInput::Choice {
                options: Role::ALL.iter().map(|r| text::role(*r)).collect(),
                index: Role::ALL.iter().position(|r| *r == selected).unwrap_or(0),
            },
        }
    }

    fn org_role(label: &'static str, selected: OrgRole) -> Self {
        Self {
            label,
            input: FieldInput::Choice {
                options: OrgRole::ALL.iter().map(|r| text::org_role(*r)).collect(),
                index: OrgRole::ALL
                    .iter()
                    .position(|r| *r == selected)
                    .unwrap_or(0),
            },
        }
    }

    fn value(&self) -> &str {
        match &self.input {
            FieldInput::Text(t) => t.value(),
            FieldInput::Choice { .. } => "",
        }
    }

    fn choice_index(&self) -> usize {
        match &self.input {
            FieldInput::Choice { index, .. } => *index,
            FieldInput::Text(_) => 0,
        }
    }

    fn role_value(&self) -> Role {
        Role::ALL
            .get(self.choice_index())
            .copied()
            .unwrap_or(Role::User)
    }

    fn org_role_value(&self) -> OrgRole {
        OrgRole::ALL
            .get(self.choice_index())
            .copied()
            .unwrap_or(OrgRole::Member)
    }
}

/// A form of labelled inputs that produces one action when its input is acceptable.
#[derive(Debug)]
pub struct FormPopup {
    kind: FormKind,
    fields: Vec<Field>,
    focus: usize,
    error: Option<String>,
}

impl FormPopup {
    /// The form for `kind`; `default_path` prefills path fields.
    pub fn new(kind: FormKind, default_path: &str) -> Self {
        let fields = match &kind {
            FormKind::Setup => vec![
                Field::text(text::F_EMAIL, ""),
                Field::text(text::F_NAME, ""),
                Field::secret(text::F_PASSWORD),
                Field::secret(text::F_PASSWORD_AGAIN),
            ],
            FormKind::CreateUser => vec![
                Field::text(text::F_EMAIL, ""),
                Field::text(text::F_NAME, ""),
                Field::secret(text::F_PASSWORD),
                Field::secret(text::F_PASSWORD_AGAIN),
                Field::role(text::F_ROLE, Role::User),
            ],
            FormKind::SetRole { role, .. } => vec![Field::role(text::F_ROLE, *role)],
            FormKind::InstallLicense => vec![Field::text(text::F_LICENSE_FILE, "")],
            FormKind::Backup => vec![Field::text(text::F_BACKUP_DEST, default_path)],
            FormKind::Restore => vec![
                Field::text(text::F_BACKUP_FILE, ""),
                Field::text(text::F_PHRASE, ""),
                Field::text(text::F_SUPERADMIN_EMAIL, ""),
                Field::secret(text::F_ADMIN_PASSWORD),
            ],
            FormKind::AddSigner => vec![
                Field::text(text::F_LABEL, ""),
                Field::text(text::F_PEM_FILE, ""),
            ],
            FormKind::ShredOrg { .. } | FormKind::DeleteOrg { .. } => {
                vec![Field::text(text::F_SLUG, "")]
            }
            FormKind::CreateOrg => vec![
                Field::text(text::F_NAME, ""),
                Field::text(text::F_ORG_SLUG, ""),
                Field::text(text::F_DESCRIPTION, ""),
            ],
            FormKind::EditOrg(org) => vec![
                Field::text(text::F_NAME, &org.name),
                Field::text(text::F_DESCRIPTION, &org.description),
                Field::text(text::F_MAX_WORKSPACES, &org.max_workspaces.to_string()),
                Field::text(text::F_MAX_MEMBERS, &org.max_members.to_string()),
            ],
            FormKind::AddOrgMember { .. } => vec![
                Field::text(text::F_EMAIL, ""),
                Field::org_role(text::F_ORG_ROLE, OrgRole::Member),
            ],
            FormKind::SetOrgRole { role, .. } => vec![Field::org_role(text::F_ORG_ROLE, *role)],
            FormKind::EnableMaintenance => vec![Field::text(text::F_REASON, "")],
            FormKind::SetAllowance(account) => vec![
                Field::text(
                    text::F_ALLOWANCE,
                    &account.allowance.map(|a| a.to_string()).unwrap_or_default(),
                ),
                Field::text(text::F_REASON_OPTIONAL, ""),
            ],
            FormKind::AdjustCredits(_) => vec![
                Field::text(text::F_AMOUNT, ""),
                Field::text(text::F_NOTE, ""),
            ],
        };
        Self {
            kind,
            fields,
            focus: 0,
            error: None,
        }
    }

    /// Which form this is.
    pub fn kind(&self) -> &FormKind {
        &self.kind
    }

    /// The inline validation error, if the last submit was refused.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Keys that apply to this form (shown in its footer and the help bar).
    pub fn keys(&self) -> text::Keys {
        let has_choice = self
            .fields
            .iter()
            .any(|f| matches!(f.input, FieldInput::Choice { .. }));
        match (self.fields.len() > 1, has_choice) {
            (true, true) => text::FORM_KEYS_CHOICE,
            (true, false) => text::FORM_KEYS,
            (false, true) => text::FORM_KEYS_CHOICE_SINGLE,
            (false, false) => text::FORM_KEYS_SINGLE,
        }
    }

    /// Inserts bracketed-paste text into the focused text field.
    pub fn paste(&mut self, text: &str) {
        if let Some(Field {
            input: FieldInput::Text(input),
            ..
        }) = self.fields.get_mut(self.focus)
        {
            input.insert_str(text);
            self.error = None;
        }
    }

    fn handle_key(&mut self, key: KeyEvent) -> Option<Action> {
        let last = self.fields.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => return Some(Action::ClosePopup),
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1).min(last),
            KeyCode::BackTab | KeyCode::Up => self.focus = self.focus.saturating_sub(1),
            KeyCode::Enter if self.focus < last => self.focus += 1,
            KeyCode::Enter => return self.submit(),
            KeyCode::Char('s') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                return self.submit();
            }
            _ => {
                let field = self.fields.get_mut(self.focus)?;
                match &mut field.input {
                    FieldInput::Text(input) => {
                        if input.handle_key(key) {
                            self.error = None;
                        }
                    }
                    FieldInput::Choice { options, index } => match key.code {
                        KeyCode::Left | KeyCode::Char('h') => {
                            *index = index.checked_sub(1).unwrap_or(options.len() - 1);
                        }
                        KeyCode::Right | KeyCode::Char('l') | KeyCode::Char(' ') => {
                            *index = (*index + 1) % options.len();
                        }
                        _ => {}
                    },
                }
            }
        }
        None
    }

    fn field(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", Field::value)
    }

    /// Validates and builds the action; on failure keeps the form open with the reason.
    fn submit(&mut self) -> Option<Action> {
        match self.validate() {
            Ok(action) => Some(action),
            Err(reason) => {
                self.error = Some(reason);
                None
            }
        }
    }

    fn validate(&self) -> Result<Action, String> {
        let required = |i: usize, label: &str| -> Result<String, String> {
            let v = self.field(i).trim();
            if v.is_empty() {
                Err(text::required(label))
            } else {
                Ok(v.to_owned())
            }
        };
        let email = |i: usize| -> Result<String, String> {
            let v = required(i, text::F_EMAIL)?;
            if v.contains('@') && !v.contains(char::is_whitespace) {
                Ok(v)
            } else {
                Err(text::BAD_EMAIL.to_owned())
            }
        };
        // Passwords are taken exactly as typed (no trimming); the backend applies policy.
        let password_pair = |a: usize, b: usize| -> Result<String, String> {
            let p = self.field(a);
            if p.is_empty() {
                return Err(text::required(text::F_PASSWORD));
            }
            if p != self.field(b) {
                return Err(text::PASSWORDS_DIFFER.to_owned());
            }
            Ok(p.to_owned())
        };
        Ok(match &self.kind {
            FormKind::Setup => Action::Setup(SetupRequest {
                email: email(0)?,
                name: required(1, text::F_NAME)?,
                password: password_pair(2, 3)?,
            }),
            FormKind::CreateUser => Action::CreateUser(NewUser {
                email: email(0)?,
                name: required(1, text::F_NAME)?,
                password: password_pair(2, 3)?,
                role: self.fields[4].role_value(),
            }),
            FormKind::SetRole {
                user_id,
                email,
                role,
            } => {
                let new_role = self.fields[0].role_value();
                if new_role == *role {
                    Action::ClosePopup
                } else {
                    Action::SetRole {
                        user_id: user_id.clone(),
                        email: email.clone(),
                        role: new_role,
                    }
                }
            }
            FormKind::InstallLicense => {
                Action::InstallLicense(required(0, text::F_LICENSE_FILE)?.into())
            }
            FormKind::Backup => Action::Backup(required(0, text::F_BACKUP_DEST)?.into()),
            FormKind::Restore => {
                let path = required(0, text::F_BACKUP_FILE)?;
                // The phrase must match exactly: no trimming, no case folding.
                if self.field(1) != RESTORE_PHRASE {
                    return Err(text::PHRASE_MISMATCH.to_owned());
                }
                let password = self.field(3);
                if password.is_empty() {
                    return Err(text::required(text::F_ADMIN_PASSWORD));
                }
                Action::Restore(RestoreRequest {
                    path: path.into(),
                    confirmation: self.field(1).to_owned(),
                    email: self.field(2).trim().to_owned(),
                    password: password.to_owned(),
                })
            }
            FormKind::AddSigner => Action::AddSigner {
                label: required(0, text::F_LABEL)?,
                pem_file: required(1, text::F_PEM_FILE)?.into(),
            },
            FormKind::ShredOrg { slug, .. } => {
                if self.field(0) != slug {
                    return Err(text::slug_mismatch(slug));
                }
                Action::ShredOrg {
                    slug: slug.clone(),
                    confirmation: self.field(0).to_owned(),
                }
            }
            FormKind::DeleteOrg { slug, .. } => {
                // Exactly as typed, like shred: no trimming, no case folding.
                if self.field(0) != slug {
                    return Err(text::slug_mismatch(slug));
                }
                Action::DeleteOrg {
                    slug: slug.clone(),
                    confirmation: self.field(0).to_owned(),
                }
            }
            FormKind::CreateOrg => {
                let name = required(0, text::F_NAME)?;
                let slug = self.field(1).trim();
                if !slug.is_empty() && !valid_slug(slug) {
                    return Err(text::BAD_SLUG.to_owned());
                }
                Action::CreateOrg(NewOrg {
                    name,
                    slug: (!slug.is_empty()).then(|| slug.to_owned()),
                    description: self.field(2).trim().to_owned(),
                })
            }
            FormKind::EditOrg(org) => {
                let name = required(0, text::F_NAME)?;
                let description = self.field(1).trim().to_owned();
                let max_workspaces = limit(self.field(2), text::F_MAX_WORKSPACES)?;
                let max_members = limit(self.field(3), text::F_MAX_MEMBERS)?;
                let patch = OrgPatch {
                    name: (name != org.name).then_some(name),
                    description: (description != org.description).then_some(description),
                    max_workspaces: (max_workspaces != org.max_workspaces)
                        .then_some(max_workspaces),
                    max_members: (max_members != org.max_members).then_some(max_members),
                };
                if patch.is_empty() {
                    Action::Notice(text::NOTHING_CHANGED.to_owned())
                } else {
                    Action::UpdateOrg {
                        slug: org.slug.clone(),
                        patch,
                    }
                }
            }
            FormKind::AddOrgMember { slug } => Action::SetOrgMember {
                slug: slug.clone(),
                email: email(0)?,
                role: self.fields[1].org_role_value(),
            },
            FormKind::SetOrgRole { slug, email, role } => {
                let new_role = self.fields[0].org_role_value();
                if new_role == *role {
                    Action::ClosePopup
                } else {
                    Action::SetOrgMember {
                        slug: slug.clone(),
                        email: email.clone(),
                        role: new_role,
                    }
                }
            }
            FormKind::EnableMaintenance => Action::EnableMaintenance {
                reason: required(0, text::F_REASON)?,
            },
            FormKind::SetAllowance(account) => {
                let value = self.field(0).trim();
                let allowance = if value.is_empty() {
                    None
                } else {
                    match value.parse::<i64>() {
                        Ok(n) if n >= 0 => Some(n),
                        _ => return Err(text::BAD_ALLOWANCE.to_owned()),
                    }
                };
                Action::SetCreditAllowance {
                    kind: account.kind,
                    key: account.key.clone(),
                    label: account.label.clone(),
                    allowance,
                    reason: self.field(1).trim().to_owned(),
                }
            }
            FormKind::AdjustCredits(account) => {
                let amount = match self.field(0).trim().trim_start_matches('+').parse::<i64>() {
                    Ok(n) if n != 0 => n,
                    _ => return Err(text::BAD_AMOUNT.to_owned()),
                };
                let note = self.field(1).trim().to_owned();
                if amount < 0 && note.is_empty() {
                    return Err(text::NOTE_REQUIRED.to_owned());
                }
                Action::AdjustCredits {
                    kind: account.kind,
                    key: account.key.clone(),
                    amount,
                    note,
                }
            }
        })
    }

    fn draw(&mut self, frame: &mut Frame, area: Rect) {
        let (title, intro, danger) = text::form_intro(&self.kind);
        let width = 66.min(area.width);
        let inner_w = width.saturating_sub(2).max(1) as usize;
        let intro_rows: u16 = intro
            .iter()
            .map(|l| ui::wrapped_rows(l, inner_w) as u16)
            .sum();
        let error_rows = u16::from(self.error.is_some());
        let fields = self.fields.len() as u16;
        // intro, blank, fields, error, blank, footer, borders
        let height = intro_rows + 1 + fields + error_rows + 1 + 1 + 2;
        let rect = ui::centered(area, width, height);
        frame.render_widget(Clear, rect);
        let block = popup_block(title, danger);
        let inner = block.inner(rect);
        frame.render_widget(block, rect);

        let mut lines: Vec<Line> = intro.iter().map(|l| Line::from(l.as_str())).collect();
        lines.push(Line::default());
        let label_w = 16usize;
        let value_w = inner.width as usize - label_w.min(inner.width as usize);
        let value_w = value_w.saturating_sub(1);
        let fields_top = inner.y + intro_rows + 1;
        let mut cursor = None;
        for (i, field) in self.fields.iter().enumerate() {
            let focused = i == self.focus;
            let label_style = if focused {
                Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD)
            } else {
                ui::label_style()
            };
            let mut spans = vec![Span::styled(
                format!("{:<label_w$}", field.label),
                label_style,
            )];
            match &field.input {
                FieldInput::Text(input) => {
                    let (shown, col) = input.visible(value_w);
                    let pad = value_w.saturating_sub(shown.chars().count());
                    spans.push(Span::styled(
                        format!("{shown}{}", "_".repeat(pad)),
                        if focused {
                            Style::new().add_modifier(Modifier::BOLD)
                        } else {
                            Style::new()
                        },
                    ));
                    if focused {
                        cursor = Some((label_w + col, i));
                    }
                }
                FieldInput::Choice { options, index } => {
                    for (j, label) in options.iter().enumerate() {
                        // A marker as well as colour, so the choice reads in monochrome too.
                        let (mark, style) = if j == *index {
                            (
                                "●",
                                Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD),
                            )
                        } else {
                            ("○", Style::new().fg(ui::DIM))
                        };
                        spans.push(Span::styled(format!("{mark} {label}  "), style));
                    }
                }
            }
            lines.push(Line::from(spans));
        }
        if let Some(err) = &self.error {
            lines.push(Line::styled(format!("✗ {err}"), Style::new().fg(ui::BAD)));
        }
        lines.push(Line::default());
        lines.push(footer(self.keys()));
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);

        if let Some((col, row)) = cursor {
            let pos = Position::new(inner.x + col as u16, fields_top + row as u16);
            if inner.contains(pos) {
                frame.set_cursor_position(pos);
            }
        }
    }
}

/// The slug rule of the backend (1-63 of `a-z`, `0-9`, `-`, no hyphen at either end), checked
/// here only to point at the mistake before submitting; the backend checks again.
fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-')
}

/// A limit field: a whole number, 0 meaning unlimited. Blank is refused rather than read as
/// "unlimited", so clearing the field by accident cannot lift a limit.
fn limit(value: &str, label: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| text::bad_limit(label))
}
