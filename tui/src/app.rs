//! The `App`: owns the screens, the popup stack, the action queue and the backend, and is
//! the only place that calls [`AdminBackend`].
//!
//! Input flows popup → focused screen → global keys; the first consumer wins. Backup,
//! restore and moving an org's data into its own database run on a worker thread that
//! borrows the backend for the duration of the job and hands it back over a channel, so the
//! UI keeps drawing; while a job runs, other backend calls are refused with a notice rather
//! than blocking.
//!
//! Backend errors open a message popup, except on the Orgs screen, which keeps the outcome
//! of its operations (errors included) in its own status line.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::action::{Action, FormKind, JobUpdate, Loaded, ScreenId, StatusLine};
use crate::backend::{
    AdminBackend, BackendError, BackendResult, BackupReport, IsolationReport, Overview, Progress,
    RestoreReport, RestoreRequest,
};
use crate::popup::{ConfirmPopup, FormPopup, HelpPopup, MessagePopup, Popup};
use crate::screens::{
    BackupScreen, Component, CreditsScreen, KeyOutcome, LicenseScreen, LogScreen,
    MaintenanceScreen, OrgsScreen, SetupScreen, SignersScreen, UsersScreen,
};
use crate::text;
use crate::ui;

/// How many event lines the Log/Status screen asks for.
const EVENT_LIMIT: usize = 500;

/// How often the Log/Status screen reloads itself while shown (a live tail).
const LIVE_REFRESH: Duration = Duration::from_secs(2);

enum JobEvent {
    Progress(Progress),
    Finished(Box<dyn AdminBackend>, JobResult),
}

enum JobResult {
    Backup(BackendResult<BackupReport>),
    Restore(BackendResult<RestoreReport>),
    Isolate(String, BackendResult<IsolationReport>),
    /// The backend panicked. The panic hook has already restored the terminal, so the App
    /// must stop drawing and exit with an error.
    Panicked,
}

enum JobWork {
    Backup(PathBuf),
    Restore(RestoreRequest),
    /// Slug of the org whose data moves into its own database.
    Isolate(String),
}

/// The admin TUI's state machine. Drive it with [`App::handle_event`], [`App::tick`] and
/// [`App::draw`]; `run` does exactly that against a real terminal, tests against
/// `TestBackend`.
pub struct App {
    /// `None` while a worker job holds it.
    backend: Option<Box<dyn AdminBackend>>,
    job: Option<Receiver<JobEvent>>,
    setup: SetupScreen,
    users: UsersScreen,
    license: LicenseScreen,
    backup: BackupScreen,
    signers: SignersScreen,
    orgs: OrgsScreen,
    maintenance: MaintenanceScreen,
    log: LogScreen,
    credits: CreditsScreen,
    current: ScreenId,
    popups: Vec<Popup>,
    queue: VecDeque<Action>,
    overview: Option<Overview>,
    maintenance_active: bool,
    notice: Option<(String, bool)>,
    tab_hits: Vec<(Rect, ScreenId)>,
    body_area: Rect,
    should_quit: bool,
    fatal: Option<String>,
    last_refresh: Instant,
}

impl App {
    /// Builds the App and loads the first data. Opens on Setup when there are no users.
    pub fn new(backend: Box<dyn AdminBackend>) -> Self {
        let mut app = Self {
            backend: Some(backend),
            job: None,
            setup: SetupScreen,
            users: UsersScreen::default(),
            license: LicenseScreen::default(),
            backup: BackupScreen::default(),
            signers: SignersScreen::default(),
            orgs: OrgsScreen::default(),
            maintenance: MaintenanceScreen::default(),
            log: LogScreen::default(),
            credits: CreditsScreen::default(),
            current: ScreenId::Users,
            popups: Vec::new(),
            queue: VecDeque::new(),
            overview: None,
            maintenance_active: false,
            notice: None,
            tab_hits: Vec::new(),
            body_area: Rect::default(),
            should_quit: false,
            fatal: None,
            last_refresh: Instant::now(),
        };
        app.load_overview();
        if app.needs_setup() {
            app.current = ScreenId::Setup;
        }
        if let Some(state) = app.call(|b| b.maintenance()) {
            app.dispatch(&Action::Loaded(Loaded::Maintenance(state)));
        }
        app.refresh_current();
        app
    }

    /// Whether the event loop should end.
    pub fn should_quit(&self) -> bool {
        self.should_quit
    }

    /// A failure that makes continuing unsafe (a worker thread died); `run` reports it.
    pub fn fatal(&self) -> Option<&str> {
        self.fatal.as_deref()
    }

    /// Whether a backup or restore is running on the worker thread.
    pub fn is_busy(&self) -> bool {
        self.job.is_some()
    }

    /// The screen shown now.
    pub fn current_screen(&self) -> ScreenId {
        self.current
    }

    /// Tabs in order; Setup only while there are no users.
    pub fn visible_screens(&self) -> Vec<ScreenId> {
        let setup = self.needs_setup();
        ScreenId::ALL
            .into_iter()
            .filter(|s| *s != ScreenId::Setup || setup)
            .collect()
    }

    /// The topmost popup, if any (for tests and the run loop).
    pub fn popup(&self) -> Option<&Popup> {
        self.popups.last()
    }

    fn needs_setup(&self) -> bool {
        self.overview.as_ref().is_some_and(|o| o.user_count == 0)
    }

    /// Feeds one terminal event through popups, the focused screen and global keys, then
    /// runs every queued action.
    pub fn handle_event(&mut self, event: &Event) {
        let action = match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(*key),
            Event::Mouse(mouse) => self.on_mouse(*mouse),
            Event::Paste(text) => {
                if let Some(Popup::Form(form)) = self.popups.last_mut() {
                    form.paste(text);
                }
                None
            }
            _ => None,
        };
        if let Some(action) = action {
            self.queue.push_back(action);
        }
        self.process_queue();
    }

    /// Collects worker progress and completion; call regularly from the event loop.
    pub fn tick(&mut self) {
        let mut events = Vec::new();
        let mut disconnected = false;
        if let Some(rx) = &self.job {
            loop {
                match rx.try_recv() {
                    Ok(ev) => events.push(ev),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
        }
        for ev in events {
            match ev {
                JobEvent::Progress(p) => self.dispatch(&Action::Job(JobUpdate::Progress(p))),
                JobEvent::Finished(backend, result) => {
                    self.backend = Some(backend);
                    self.job = None;
                    self.finish_job(result);
                }
            }
        }
        if disconnected && self.job.is_some() {
            self.job = None;
            self.fatal = Some(text::WORKER_LOST.to_owned());
            self.should_quit = true;
        }
        if self.current == ScreenId::Log
            && self.popups.is_empty()
            && self.last_refresh.elapsed() >= LIVE_REFRESH
        {
            self.refresh_current();
        }
        self.process_queue();
    }

    fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::ForceQuit);
        }
        self.notice = None;
        if let Some(popup) = self.popups.last_mut() {
            let action = popup.handle_key(key)?;
            self.popups.pop();
            return match action {
                Action::ClosePopup => None,
                other => Some(other),
            };
        }
        match self.screen_mut(self.current).handle_key(key) {
            KeyOutcome::Action(action) => return Some(action),
            KeyOutcome::Consumed => return None,
            KeyOutcome::Ignored => {}
        }
        let visible = self.visible_screens();
        match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Tab | KeyCode::Right | KeyCode::Char('l') => Some(Action::NextScreen),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Char('h') => Some(Action::PrevScreen),
            KeyCode::Char('?') => Some(Action::ShowHelp),
            KeyCode::F(5) => Some(Action::Refresh),
            KeyCode::Char(c @ '1'..='9') => {
                let i = c as usize - '1' as usize;
                visible.get(i).copied().map(Action::GoTo)
            }
            _ => None,
        }
    }

    fn on_mouse(&mut self, mouse: MouseEvent) -> Option<Action> {
        if let Some(popup) = self.popups.last() {
            // A click dismisses information popups; forms and confirmations need keys, so
            // a stray click can never submit or confirm anything.
            if matches!(popup, Popup::Message(_) | Popup::Help(_))
                && matches!(mouse.kind, MouseEventKind::Down(MouseButton::Left))
            {
                self.popups.pop();
            }
            return None;
        }
        let pos = Position::new(mouse.column, mouse.row);
        if let MouseEventKind::Down(MouseButton::Left) = mouse.kind
            && let Some((_, id)) = self.tab_hits.iter().find(|(r, _)| r.contains(pos))
        {
            return Some(Action::GoTo(*id));
        }
        if self.body_area.contains(pos) {
            return self.screen_mut(self.current).handle_mouse(mouse);
        }
        None
    }

    fn screen_mut(&mut self, id: ScreenId) -> &mut dyn Component {
        match id {
            ScreenId::Setup => &mut self.setup,
            ScreenId::Users => &mut self.users,
            ScreenId::License => &mut self.license,
            ScreenId::Backup => &mut self.backup,
            ScreenId::Signers => &mut self.signers,
            ScreenId::Orgs => &mut self.orgs,
            ScreenId::Maintenance => &mut self.maintenance,
            ScreenId::Log => &mut self.log,
            ScreenId::Credits => &mut self.credits,
        }
    }

    /// Sends data/job updates to every screen that may show them.
    fn dispatch(&mut self, action: &Action) {
        match action {
            Action::Loaded(Loaded::Overview(o)) => self.overview = Some(o.clone()),
            Action::Loaded(Loaded::Maintenance(m)) => self.maintenance_active = m.active,
            _ => {}
        }
        for id in ScreenId::ALL {
            self.screen_mut(id).update(action);
        }
    }

    fn process_queue(&mut self) {
        while let Some(action) = self.queue.pop_front() {
            self.apply(action);
        }
    }

    /// Calls the backend; an error opens a message popup. `None` when busy or failed.
    fn call<T>(&mut self, f: impl FnOnce(&mut dyn AdminBackend) -> BackendResult<T>) -> Option<T> {
        let Some(backend) = self.backend.as_mut() else {
            self.notice = Some((text::BUSY.to_owned(), true));
            return None;
        };
        match f(backend.as_mut()) {
            Ok(v) => Some(v),
            Err(err) => {
                self.show_error(&err);
                None
            }
        }
    }

    /// Like [`App::call`], but a failure goes to the Orgs screen's status line instead of a
    /// popup.
    fn call_org<T>(
        &mut self,
        f: impl FnOnce(&mut dyn AdminBackend) -> BackendResult<T>,
    ) -> Option<T> {
        let Some(backend) = self.backend.as_mut() else {
            self.notice = Some((text::BUSY.to_owned(), true));
            return None;
        };
        match f(backend.as_mut()) {
            Ok(v) => Some(v),
            Err(err) => {
                self.org_status(StatusLine::Failed {
                    title: text::error_title(&err).to_owned(),
                    message: err.to_string(),
                });
                None
            }
        }
    }

    fn org_status(&mut self, line: StatusLine) {
        self.dispatch(&Action::Status {
            screen: ScreenId::Orgs,
            line,
        });
    }

    /// Reloads the org list and, when an org is open, its members and workspaces.
    fn refresh_orgs(&mut self) {
        if let Some(orgs) = self.call_org(|b| b.list_orgs()) {
            self.dispatch(&Action::Loaded(Loaded::Orgs(orgs)));
        }
        if let Some(slug) = self.orgs.open_slug().map(str::to_owned) {
            self.load_org_detail(slug);
        }
    }

    fn load_org_detail(&mut self, slug: String) {
        let Some(members) = self.call_org(|b| b.org_members(&slug)) else {
            return;
        };
        let Some(workspaces) = self.call_org(|b| b.org_workspaces(&slug)) else {
            return;
        };
        self.dispatch(&Action::Loaded(Loaded::OrgDetail {
            slug,
            members,
            workspaces,
        }));
    }

    fn show_error(&mut self, err: &BackendError) {
        self.popups.push(Popup::Message(MessagePopup::error(
            text::error_title(err),
            err.to_string(),
        )));
    }

    fn ok_notice(&mut self, msg: String) {
        self.notice = Some((msg, false));
    }

    fn load_overview(&mut self) {
        if self.backend.is_none() {
            return;
        }
        if let Some(o) = self.call(|b| b.overview()) {
            self.dispatch(&Action::Loaded(Loaded::Overview(o)));
        }
        // Users may appear from elsewhere (CLI, web) while Setup is shown.
        if self.current == ScreenId::Setup && !self.needs_setup() {
            self.current = ScreenId::Users;
        }
    }

    fn refresh_current(&mut self) {
        if self.backend.is_none() {
            return;
        }
        self.last_refresh = Instant::now();
        self.load_overview();
        let loaded = match self.current {
            ScreenId::Setup | ScreenId::Backup => return,
            ScreenId::Users => self.call(|b| b.list_users()).map(Loaded::Users),
            ScreenId::License => self.call(|b| b.license()).map(Loaded::License),
            ScreenId::Signers => {
                if let Some(k) = self.call(|b| b.signing_key()) {
                    self.dispatch(&Action::Loaded(Loaded::SigningKey(k)));
                }
                self.call(|b| b.list_signers()).map(Loaded::Signers)
            }
            ScreenId::Orgs => {
                self.refresh_orgs();
                return;
            }
            ScreenId::Maintenance => {
                // Without these facts (an older backend) the screen just shows none.
                if let Some(Ok(ops)) = self.backend.as_mut().map(|b| b.llm_ops()) {
                    self.dispatch(&Action::Loaded(Loaded::LlmOps(ops)));
                }
                self.call(|b| b.maintenance()).map(Loaded::Maintenance)
            }
            ScreenId::Log => self
                .call(|b| b.recent_events(EVENT_LIMIT))
                .map(Loaded::Events),
            ScreenId::Credits => self.call(|b| b.credit_accounts()).map(Loaded::Credits),
        };
        if let Some(l) = loaded {
            self.dispatch(&Action::Loaded(l));
        }
    }

    fn go_to(&mut self, id: ScreenId) {
        if self.visible_screens().contains(&id) {
            self.current = id;
            self.refresh_current();
        }
    }

    fn step_screen(&mut self, forward: bool) {
        let visible = self.visible_screens();
        let i = visible.iter().position(|s| *s == self.current).unwrap_or(0);
        let n = visible.len();
        let next = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.go_to(visible[next]);
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Quit if self.is_busy() => {
                self.notice = Some((text::BUSY_QUIT.to_owned(), true));
            }
            Action::Quit | Action::ForceQuit => self.should_quit = true,
            Action::NextScreen => self.step_screen(true),
            Action::PrevScreen => self.step_screen(false),
            Action::GoTo(id) => self.go_to(id),
            Action::Refresh => self.refresh_current(),
            Action::ShowHelp => {
                let keys = self.screen_mut(self.current).keys();
                self.popups.push(Popup::Help(HelpPopup::new(keys)));
            }
            Action::ClosePopup => {
                self.popups.pop();
            }
            Action::OpenForm(kind) => {
                let default_path = match kind {
                    FormKind::Backup => text::DEFAULT_BACKUP_DIR,
                    _ => "",
                };
                self.popups
                    .push(Popup::Form(FormPopup::new(kind, default_path)));
            }
            Action::AskConfirm(inner) => {
                self.popups.push(Popup::Confirm(ConfirmPopup::new(*inner)));
            }
            Action::Confirmed(inner) => self.queue.push_front(*inner),
            Action::Notice(msg) => self.notice = Some((msg, false)),
            Action::Loaded(_) | Action::Job(_) | Action::Status { .. } => self.dispatch(&action),

            Action::Setup(req) => {
                if let Some(user) = self.call(|b| b.setup(&req)) {
                    self.load_overview();
                    self.popups.push(Popup::Message(MessagePopup::info(
                        text::SETUP_DONE_TITLE,
                        text::setup_done(&user.email),
                    )));
                    self.go_to(ScreenId::Users);
                }
            }
            Action::CreateUser(user) => {
                if let Some(created) = self.call(|b| b.create_user(&user)) {
                    self.ok_notice(text::user_created(&created.email, created.role));
                    self.refresh_current();
                }
            }
            Action::SetRole {
                user_id,
                email,
                role,
            } => {
                if self.call(|b| b.set_role(&user_id, role)).is_some() {
                    self.ok_notice(text::role_changed(&email, role));
                    self.refresh_current();
                }
            }
            Action::SetDisabled {
                user_id,
                email,
                disabled,
            } => {
                if self.call(|b| b.set_disabled(&user_id, disabled)).is_some() {
                    self.ok_notice(text::user_disabled(&email, disabled));
                    self.refresh_current();
                }
            }
            Action::ResetMfa { user_id, email } => {
                if self.call(|b| b.reset_mfa(&user_id)).is_some() {
                    self.ok_notice(text::mfa_reset(&email));
                    self.refresh_current();
                }
            }
            Action::InstallLicense(path) => {
                if let Some(status) = self.call(|b| b.install_license(&path)) {
                    self.dispatch(&Action::Loaded(Loaded::License(status)));
                    self.ok_notice(text::LICENSE_INSTALLED.to_owned());
                }
            }
            Action::Backup(path) => self.start_job(JobWork::Backup(path)),
            Action::Restore(req) => self.start_job(JobWork::Restore(req)),
            Action::AddSigner { label, pem_file } => {
                if let Some(s) = self.call(|b| b.add_signer(&label, &pem_file)) {
                    self.ok_notice(text::signer_added(&s.label, &s.fingerprint));
                    self.refresh_current();
                }
            }
            Action::RemoveSigner { fingerprint, label } => {
                if self.call(|b| b.remove_signer(&fingerprint)).is_some() {
                    self.ok_notice(text::signer_removed(&label));
                    self.refresh_current();
                }
            }
            Action::OpenOrg(slug) => self.load_org_detail(slug),
            Action::CreateOrg(new) => {
                if let Some(org) = self.call_org(|b| b.create_org(&new)) {
                    self.org_status(StatusLine::Done(text::org_created(&org.name, &org.slug)));
                    self.refresh_current();
                    self.orgs.select(&org.slug);
                }
            }
            Action::UpdateOrg { slug, patch } => {
                if self.call_org(|b| b.update_org(&slug, &patch)).is_some() {
                    self.org_status(StatusLine::Done(text::org_updated(&slug, &patch)));
                    self.refresh_current();
                }
            }
            Action::DeleteOrg { slug, confirmation } => {
                if self
                    .call_org(|b| b.delete_org(&slug, &confirmation))
                    .is_some()
                {
                    self.org_status(StatusLine::Done(text::org_deleted(&slug)));
                    self.refresh_current();
                }
            }
            Action::IsolateOrg { slug, .. } => self.start_job(JobWork::Isolate(slug)),
            Action::ShredOrg { slug, confirmation } => {
                if self
                    .call_org(|b| b.shred_org(&slug, &confirmation))
                    .is_some()
                {
                    self.org_status(StatusLine::Done(text::shred_done(&slug)));
                    self.refresh_current();
                }
            }
            Action::SetOrgMember { slug, email, role } => {
                if let Some(m) = self.call_org(|b| b.set_org_member(&slug, &email, role)) {
                    self.org_status(StatusLine::Done(text::org_member_set(
                        &m.email, m.role, &slug,
                    )));
                    self.refresh_current();
                }
            }
            Action::RemoveOrgMember {
                slug,
                user_id,
                email,
            } => {
                if self
                    .call_org(|b| b.remove_org_member(&slug, &user_id))
                    .is_some()
                {
                    self.org_status(StatusLine::Done(text::org_member_removed(&email, &slug)));
                    self.refresh_current();
                }
            }
            Action::EnableMaintenance { reason } => {
                if let Some(state) = self.call(|b| b.enable_maintenance(&reason)) {
                    self.dispatch(&Action::Loaded(Loaded::Maintenance(state)));
                    self.ok_notice(text::MAINT_ENABLED.to_owned());
                }
            }
            Action::ClearMaintenance => {
                if let Some(state) = self.call(|b| b.clear_maintenance()) {
                    self.dispatch(&Action::Loaded(Loaded::Maintenance(state)));
                    self.ok_notice(text::MAINT_CLEARED.to_owned());
                }
            }
            Action::ClearLlmCache => {
                if let Some(removed) = self.call(|b| b.clear_llm_cache()) {
                    self.ok_notice(text::llm_cache_cleared(removed));
                    self.refresh_current();
                }
            }
            Action::RewrapKms => {
                if let Some(ops) = self.call(|b| b.rewrap_kms()) {
                    self.ok_notice(text::kms_rewrapped(ops.kms_key_version));
                    self.dispatch(&Action::Loaded(Loaded::LlmOps(ops)));
                }
            }
            Action::SetCreditAllowance {
                kind,
                key,
                label,
                allowance,
                reason,
            } => {
                if self
                    .call(|b| b.set_credit_allowance(kind, &key, allowance, &reason))
                    .is_some()
                {
                    self.ok_notice(text::allowance_set(&label, allowance));
                    self.refresh_current();
                }
            }
            Action::AdjustCredits {
                kind,
                key,
                amount,
                note,
            } => {
                if let Some(summary) = self.call(|b| b.adjust_credits(kind, &key, amount, &note)) {
                    self.ok_notice(format!("{summary}."));
                    self.refresh_current();
                }
            }
            Action::CheckDatabases => {
                if let Some(checks) = self.call(|b| b.check_databases()) {
                    let failed = checks.iter().filter(|c| !c.ok).count();
                    let msg = text::check_done(checks.len(), failed);
                    self.dispatch(&Action::Loaded(Loaded::Checks(checks)));
                    if failed == 0 {
                        self.ok_notice(msg);
                    } else {
                        self.notice = Some((msg, true));
                    }
                }
            }
        }
    }

    fn start_job(&mut self, work: JobWork) {
        let Some(mut backend) = self.backend.take() else {
            self.notice = Some((text::BUSY.to_owned(), true));
            return;
        };
        let started = match &work {
            JobWork::Backup(p) => JobUpdate::BackupStarted(p.clone()),
            JobWork::Restore(r) => JobUpdate::RestoreStarted(r.path.clone()),
            JobWork::Isolate(slug) => JobUpdate::IsolateStarted(slug.clone()),
        };
        // Backup and restore show their gauge on the Backup screen; a data move reports in
        // the Orgs screen's status line, where it was started.
        let screen = match &work {
            JobWork::Isolate(_) => ScreenId::Orgs,
            JobWork::Backup(_) | JobWork::Restore(_) => ScreenId::Backup,
        };
        let (tx, rx) = mpsc::channel();
        let progress_tx = tx.clone();
        let spawned = thread::Builder::new()
            .name("rampart-admin-job".into())
            .spawn(move || {
                let mut report = |p: Progress| {
                    // The UI may have quit; a closed channel only means nobody watches.
                    let _ = progress_tx.send(JobEvent::Progress(p));
                };
                let result = panic::catch_unwind(AssertUnwindSafe(|| match &work {
                    JobWork::Backup(path) => JobResult::Backup(backend.backup(path, &mut report)),
                    JobWork::Restore(req) => JobResult::Restore(backend.restore(req, &mut report)),
                    JobWork::Isolate(slug) => {
                        JobResult::Isolate(slug.clone(), backend.isolate_org(slug))
                    }
                }));
                let result = result.unwrap_or(JobResult::Panicked);
                let _ = tx.send(JobEvent::Finished(backend, result));
            });
        match spawned {
            Ok(_) => {
                self.job = Some(rx);
                self.current = screen;
                self.dispatch(&Action::Job(started));
            }
            Err(e) => {
                // The closure (and the backend in it) is dropped with the failed spawn.
                self.fatal = Some(text::spawn_failed(&e.to_string()));
                self.should_quit = true;
            }
        }
    }

    fn finish_job(&mut self, result: JobResult) {
        match result {
            JobResult::Panicked => {
                self.fatal = Some(text::WORKER_PANICKED.to_owned());
                self.should_quit = true;
                return;
            }
            JobResult::Backup(Ok(report)) => {
                let lines = text::backup_done(&report);
                self.dispatch(&Action::Job(JobUpdate::BackupDone(Ok(report))));
                self.popups.push(Popup::Message(MessagePopup::info(
                    text::BACKUP_DONE_TITLE,
                    lines,
                )));
            }
            JobResult::Restore(Ok(report)) => {
                let lines = text::restore_done(&report);
                self.dispatch(&Action::Job(JobUpdate::RestoreDone(Ok(report))));
                self.popups.push(Popup::Message(MessagePopup::info(
                    text::RESTORE_DONE_TITLE,
                    lines,
                )));
            }
            JobResult::Backup(Err(err)) => {
                self.dispatch(&Action::Job(JobUpdate::BackupDone(Err(err.to_string()))));
                self.show_error(&err);
            }
            JobResult::Restore(Err(err)) => {
                self.dispatch(&Action::Job(JobUpdate::RestoreDone(Err(err.to_string()))));
                self.show_error(&err);
            }
            JobResult::Isolate(slug, result) => {
                self.dispatch(&Action::Job(JobUpdate::IsolateDone { slug, result }));
            }
        }
        self.refresh_current();
        if let Some(state) = self.call(|b| b.maintenance()) {
            self.dispatch(&Action::Loaded(Loaded::Maintenance(state)));
        }
    }

    /// Draws header, tabs, the current screen, the help bar and popups into the frame.
    pub fn draw(&mut self, frame: &mut Frame) {
        let area = frame.area();
        let [header, tabs, body, help] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_header(frame, header);
        self.draw_tabs(frame, tabs);
        self.body_area = body;
        let current = self.current;
        self.screen_mut(current).draw(frame, body);
        self.draw_help(frame, help);
        for popup in &mut self.popups {
            popup.draw(frame, area);
        }
    }

    fn draw_header(&self, frame: &mut Frame, area: Rect) {
        let sep = Span::styled(" │ ", Style::new().fg(ui::DIM));
        let mut spans = vec![Span::styled(
            text::APP_NAME,
            Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD),
        )];
        if self.maintenance_active {
            spans.push(Span::raw(" "));
            spans.push(Span::styled(
                text::MAINT_BADGE,
                Style::new()
                    .fg(ui::BAD)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ));
        }
        if let Some(o) = &self.overview {
            let (server, color) = match o.server_reachable {
                Some(true) => (text::SERVER_UP, ui::OK),
                Some(false) => (text::SERVER_DOWN, ui::BAD),
                None => (text::SERVER_UNKNOWN, ui::DIM),
            };
            spans.extend([
                sep.clone(),
                Span::raw(o.instance.clone()),
                sep.clone(),
                Span::styled(text::version(&o.version), Style::new().fg(ui::DIM)),
                sep.clone(),
                Span::raw(text::users_count(o.user_count)),
                sep.clone(),
                Span::raw(text::db_size(o.db_size_bytes)),
                sep.clone(),
                Span::styled(format!("● {server}"), Style::new().fg(color)),
                sep,
                Span::styled(o.data_dir.display().to_string(), Style::new().fg(ui::DIM)),
            ]);
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_tabs(&mut self, frame: &mut Frame, area: Rect) {
        self.tab_hits.clear();
        let visible = self.visible_screens();
        // Full names, then short names, then numbers only: the row never wraps and every
        // tab stays clickable on narrow terminals.
        let label_sets: [fn(usize, ScreenId) -> String; 4] = [
            |i, id| format!(" {} {} ", i + 1, text::screen_name(id)),
            // Only the long names shortened ("Maintenance" → "Maint"): every tab still
            // reads as a word at 80 columns.
            |i, id| {
                let name = text::screen_name(id);
                let name = if name.len() > 8 {
                    text::screen_short_name(id)
                } else {
                    name
                };
                format!(" {} {name} ", i + 1)
            },
            |i, id| format!(" {} {} ", i + 1, text::screen_short_name(id)),
            |i, _| format!(" {} ", i + 1),
        ];
        let fits = |make: &fn(usize, ScreenId) -> String| {
            let total: usize = visible
                .iter()
                .enumerate()
                .map(|(i, id)| make(i, *id).chars().count())
                .sum();
            total <= usize::from(area.width)
        };
        let make = label_sets
            .iter()
            .find(|m| fits(m))
            .unwrap_or(&label_sets[3]);
        let mut spans = Vec::new();
        let mut x = area.x;
        for (i, id) in visible.into_iter().enumerate() {
            let label = make(i, id);
            let width = label.chars().count() as u16;
            let style = if id == self.current {
                Style::new()
                    .fg(ui::ACCENT)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED)
            } else {
                Style::new().fg(ui::DIM)
            };
            let visible_w = width.min(area.right().saturating_sub(x));
            if visible_w > 0 {
                self.tab_hits.push((Rect::new(x, area.y, visible_w, 1), id));
            }
            x = x.saturating_add(width);
            spans.push(Span::styled(label, style));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_help(&mut self, frame: &mut Frame, area: Rect) {
        let key_style = Style::new().fg(ui::ACCENT).add_modifier(Modifier::BOLD);
        let label_style = Style::new().fg(ui::DIM);
        let line = if let Some((msg, warn)) = &self.notice {
            let color = if *warn { ui::WARN } else { ui::OK };
            Line::styled(format!(" {msg}"), Style::new().fg(color))
        } else {
            let popup_keys: Option<&[(&str, &str)]> = match self.popups.last() {
                Some(Popup::Form(form)) => Some(form.keys()),
                Some(Popup::Confirm(_)) => Some(text::CONFIRM_KEYS),
                Some(_) => Some(text::MESSAGE_KEYS),
                None => None,
            };
            let mut keys: Vec<(&str, &str)> = match popup_keys {
                Some(k) => k.to_vec(),
                None => {
                    let mut k = self.screen_mut(self.current).keys();
                    k.extend_from_slice(text::GLOBAL_KEYS_BAR);
                    k
                }
            };
            if self.is_busy() {
                keys.insert(0, (text::BUSY_BADGE, ""));
            }
            let mut spans = vec![Span::raw(" ")];
            for (k, l) in keys {
                spans.push(Span::styled(k, key_style));
                spans.push(Span::styled(format!(" {l}  "), label_style));
            }
            Line::from(spans)
        };
        frame.render_widget(Paragraph::new(line), area);
    }
}
