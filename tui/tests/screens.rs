//! Screen tests: the App driven by key and mouse events against the recording fake backend,
//! rendered into ratatui's `TestBackend`.

mod support;

use std::time::{Duration, Instant};

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use rampart_tui::popup::Popup;
use rampart_tui::{
    Action, App, BackendError, CreditKind, FormKind, NewOrg, NewUser, OrgPatch, OrgRole,
    OrgWorkspace, RestoreRequest, Role, ScreenId, SetupRequest,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use support::fake::{ADMIN_PASSWORD, Call, FakeBackend, FakeState};

fn app_with(state: FakeState) -> (App, FakeBackend) {
    let fake = FakeBackend::new(state);
    let app = App::new(Box::new(fake.clone()));
    (app, fake)
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_event(&Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn press_mod(app: &mut App, code: KeyCode, modifiers: KeyModifiers) {
    app.handle_event(&Event::Key(KeyEvent::new(code, modifiers)));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn click(app: &mut App, column: u16, row: u16) {
    app.handle_event(&Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }));
}

/// Renders at `w`x`h` and returns the screen as text lines (styles ignored).
fn render_size(app: &mut App, w: u16, h: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|f| app.draw(f)).expect("draw");
    let buffer = terminal.backend().buffer();
    (0..h)
        .map(|y| {
            let mut line = String::new();
            for x in 0..w {
                line.push_str(buffer[(x, y)].symbol());
            }
            line
        })
        .collect()
}

fn render(app: &mut App) -> Vec<String> {
    render_size(app, 80, 24)
}

fn screen_contains(app: &mut App, needle: &str) -> bool {
    render(app).iter().any(|l| l.contains(needle))
}

fn wait_idle(app: &mut App) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.is_busy() {
        assert!(Instant::now() < deadline, "job did not finish");
        std::thread::sleep(Duration::from_millis(5));
        app.tick();
    }
}

fn workspace_row(id: &str, name: &str, members: u64) -> OrgWorkspace {
    OrgWorkspace {
        id: id.into(),
        name: name.into(),
        member_count: members,
        created_at: "2026-11-01T08:00:00Z".into(),
    }
}

fn message(app: &App) -> Option<(String, Vec<String>, bool)> {
    match app.popup() {
        Some(Popup::Message(m)) => Some((m.title().to_owned(), m.body().to_vec(), m.is_error())),
        _ => None,
    }
}

#[test]
#[ignore = "prints every screen for eyeballing: cargo test -p rampart-tui -- --ignored --nocapture"]
fn dump_screens() {
    let (mut app, _fake) = app_with(FakeState::populated());
    for i in 1..=7 {
        press(&mut app, KeyCode::Char(char::from(b'0' + i)));
        println!("{}", render(&mut app).join("\n"));
    }
    let (mut app, _fake) = app_with(FakeState::empty());
    println!("{}", render(&mut app).join("\n"));
    press(&mut app, KeyCode::Enter);
    println!("{}", render(&mut app).join("\n"));
}

fn ctrl(app: &mut App, c: char) {
    press_mod(app, KeyCode::Char(c), KeyModifiers::CONTROL);
}

/// Column where `needle` starts on screen row `row`.
fn column_of(app: &mut App, row: usize, needle: &str) -> u16 {
    let line = &render(app)[row];
    let byte = line.find(needle).expect("needle on row");
    line[..byte].chars().count() as u16
}

#[test]
fn setup_screen_comes_first_when_there_are_no_users_and_creates_the_superadmin() {
    let (mut app, fake) = app_with(FakeState::empty());
    assert_eq!(app.current_screen(), ScreenId::Setup);
    assert_eq!(app.visible_screens()[0], ScreenId::Setup);
    let screen = render(&mut app);
    assert!(screen[1].starts_with(" 1 Setup  2 Users "), "{}", screen[1]);
    assert!(screen[2].contains("First-run setup"));

    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "root@acme.test");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Rita Root");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Adm1n-Secret");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Adm1n-Secret");
    press(&mut app, KeyCode::Enter);

    assert_eq!(
        fake.mutations(),
        vec![Call::Setup(SetupRequest {
            email: "root@acme.test".into(),
            name: "Rita Root".into(),
            password: "Adm1n-Secret".into(),
        })]
    );
    assert_eq!(app.current_screen(), ScreenId::Users);
    assert!(!app.visible_screens().contains(&ScreenId::Setup));
    let (title, body, error) = message(&app).expect("success popup");
    assert_eq!(title, "Setup complete");
    assert!(!error);
    assert!(body[0].contains("root@acme.test"));
    press(&mut app, KeyCode::Enter);
    let screen = render(&mut app);
    assert!(
        screen[1].starts_with(" 1 Users  2 License "),
        "{}",
        screen[1]
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("root@acme.test") && l.contains("Superadmin"))
    );
}

#[test]
fn setup_form_masks_password_and_refuses_differing_passwords() {
    let (mut app, fake) = app_with(FakeState::empty());
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "root@acme.test");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "Rita");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "hunter2-Pass");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "hunter3-Pass");
    press(&mut app, KeyCode::Enter);
    let screen = render(&mut app).join("\n");
    assert!(!screen.contains("hunter"), "password visible:\n{screen}");
    assert!(screen.contains("••••••••••••"));
    assert!(screen.contains("The two passwords differ."));
    assert!(fake.mutations().is_empty());
}

#[test]
fn navigation_by_tab_number_arrow_and_mouse() {
    let (mut app, _fake) = app_with(FakeState::populated());
    assert_eq!(app.current_screen(), ScreenId::Users);
    assert!(!app.visible_screens().contains(&ScreenId::Setup));

    press(&mut app, KeyCode::Tab);
    assert_eq!(app.current_screen(), ScreenId::License);
    assert!(render(&mut app)[2].contains("License"));
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(
        app.current_screen(),
        ScreenId::Credits,
        "BackTab wraps around"
    );
    press(&mut app, KeyCode::Char('4'));
    assert_eq!(app.current_screen(), ScreenId::Signers);
    press(&mut app, KeyCode::Right);
    assert_eq!(app.current_screen(), ScreenId::Orgs);
    press(&mut app, KeyCode::Char('9'));
    assert_eq!(app.current_screen(), ScreenId::Orgs, "no ninth tab");

    let col = column_of(&mut app, 1, "Maint");
    click(&mut app, col + 2, 1);
    assert_eq!(app.current_screen(), ScreenId::Maintenance);
    assert!(render(&mut app)[2].contains("Maintenance mode"));
    let col = column_of(&mut app, 1, "Users");
    click(&mut app, col, 1);
    assert_eq!(app.current_screen(), ScreenId::Users);
}

#[test]
fn user_list_renders_roles_status_and_mfa() {
    let (mut app, _fake) = app_with(FakeState::populated());
    let screen = render(&mut app);
    assert_eq!(
        screen[..9].to_vec(),
        vec![
            " rampart admin │ rampart.acme.test │ v0.1.0 │ 4 users │ DB 12.3 MB │ ● server up",
            " 1 Users  2 License  3 Backup  4 Signers  5 Orgs  6 Maint  7 Log  8 Credits     ",
            "╭ Users (4) ───────────────────────────────────────────────────────────────────╮",
            "│  Email               Name          Role       Status   MFA         Created   │",
            "│▶ root@acme.test      Rita Root     Superadmin active   TOTP+1 key  2026-11-02│",
            "│  alice@acme.test     Alice Archer  Admin      active   TOTP        2026-11-02│",
            "│  bob@acme.test       Bob Builder   User       active   off         2026-11-02│",
            "│  carol@acme.test     Carol Chen    User       disabled 2 keys      2026-11-02│",
            "│                                                                              │",
        ]
    );
    assert_eq!(
        screen[23],
        " n new  ↵ role  d disable  e enable  r reset MFA  ? help  q quit                "
    );
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert!(render(&mut app)[6].starts_with("│▶ bob@acme.test"));
    press(&mut app, KeyCode::Char('G'));
    assert!(render(&mut app)[7].starts_with("│▶ carol@acme.test"));
}

#[test]
fn creating_a_user_through_the_form_sends_exact_values() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('n'));
    assert!(screen_contains(&mut app, "New user"));
    type_text(&mut app, "dave@acme.test");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "Dave Doe");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, " S3cret pass ");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, " S3cret pass ");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    assert!(fake.mutations().is_empty(), "nothing sent before submit");
    press(&mut app, KeyCode::Enter);

    assert_eq!(
        fake.mutations(),
        vec![Call::CreateUser(NewUser {
            email: "dave@acme.test".into(),
            name: "Dave Doe".into(),
            password: " S3cret pass ".into(),
            role: Role::Superadmin,
        })]
    );
    assert!(app.popup().is_none());
    let screen = render(&mut app);
    assert!(
        screen
            .iter()
            .any(|l| l.contains("dave@acme.test") && l.contains("Superadmin"))
    );
    assert!(screen[23].contains("✓ Created dave@acme.test (Superadmin)."));
}

#[test]
fn changing_a_role_uses_the_selector() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(&mut app, "Role of bob@acme.test"));
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::SetRole("u-3".into(), Role::Admin)]
    );
}

#[test]
fn esc_on_a_confirm_popup_makes_no_backend_call() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('d'));
    // The destructive work is a value held by the popup, not yet run.
    match app.popup() {
        Some(Popup::Confirm(c)) => assert_eq!(
            c.action(),
            &Action::SetDisabled {
                user_id: "u-3".into(),
                email: "bob@acme.test".into(),
                disabled: true,
            }
        ),
        other => panic!("expected a confirm popup, got {other:?}"),
    }
    assert!(screen_contains(&mut app, "Disable bob@acme.test?"));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup().is_none());
    press(&mut app, KeyCode::Char('r'));
    assert!(app.popup().is_none(), "bob has no MFA: notice, no popup");
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Char('r'));
    assert!(screen_contains(&mut app, "Reset MFA of alice@acme.test?"));
    press(&mut app, KeyCode::Char('n'));
    assert!(fake.mutations().is_empty());
    assert!(!app.should_quit(), "Esc/n in a popup does not quit");

    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('d'));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        fake.mutations(),
        vec![Call::SetDisabled("u-3".into(), true)]
    );
    assert!(render(&mut app)[6].contains("disabled"));
    // Enabling is not destructive: no confirmation.
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(
        fake.mutations(),
        vec![
            Call::SetDisabled("u-3".into(), true),
            Call::SetDisabled("u-3".into(), false)
        ]
    );
}

#[test]
fn restore_is_refused_without_the_exact_phrase() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('r'));
    assert!(screen_contains(&mut app, "REPLACES ALL DATA"));
    type_text(&mut app, "/srv/b.db.gz.signed");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "confirm restore");
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(&mut app, "Superadmins only"));
    type_text(&mut app, "root@acme.test");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, ADMIN_PASSWORD);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.popup(), Some(Popup::Form(f)) if f.error().is_some()));
    assert!(screen_contains(
        &mut app,
        "Type the phrase exactly: CONFIRM RESTORE"
    ));
    assert!(
        !screen_contains(&mut app, ADMIN_PASSWORD),
        "password is masked"
    );

    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    ctrl(&mut app, 'u');
    type_text(&mut app, "CONFIRM RESTORE ");
    ctrl(&mut app, 's');
    assert!(
        screen_contains(&mut app, "Type the phrase exactly"),
        "trailing space refused"
    );
    assert!(fake.mutations().is_empty());

    press(&mut app, KeyCode::Backspace);
    ctrl(&mut app, 's');
    assert!(app.is_busy());
    wait_idle(&mut app);
    assert_eq!(
        fake.mutations(),
        vec![Call::Restore(RestoreRequest {
            path: "/srv/b.db.gz.signed".into(),
            confirmation: "CONFIRM RESTORE".into(),
            email: "root@acme.test".into(),
            password: ADMIN_PASSWORD.into(),
        })]
    );
    let (title, body, error) = message(&app).expect("result popup");
    assert_eq!(title, "Restore complete");
    assert!(!error);
    assert!(body[1].contains("this instance"));
}

#[test]
fn wrong_restore_password_shows_the_backend_error() {
    let (mut app, _fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('r'));
    type_text(&mut app, "/srv/b.db.gz.signed");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "CONFIRM RESTORE");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "root@acme.test");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "wrong");
    press(&mut app, KeyCode::Enter);
    wait_idle(&mut app);
    let (title, body, error) = message(&app).expect("error popup");
    assert_eq!(title, "Denied");
    assert!(error);
    assert_eq!(
        body,
        vec!["Wrong admin password; nothing was changed.".to_owned()]
    );
    press(&mut app, KeyCode::Esc);
    assert!(screen_contains(&mut app, "✗ Wrong admin password"));
}

#[test]
fn backup_runs_on_a_worker_with_a_progress_gauge() {
    let mut state = FakeState::populated();
    state.step_delay = Duration::from_millis(30);
    let (mut app, fake) = app_with(state);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('b'));
    ctrl(&mut app, 'u');
    type_text(&mut app, "/srv/backups");
    press(&mut app, KeyCode::Enter);
    assert!(app.is_busy());
    // The UI stays live while the job runs: it draws, navigates and refuses to quit.
    std::thread::sleep(Duration::from_millis(100));
    app.tick();
    let screen = render(&mut app).join("\n");
    assert!(screen.contains("Backing up to /srv/backups"), "{screen}");
    assert!(screen.contains("compressing"), "{screen}");
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit());
    press(&mut app, KeyCode::Char('1'));
    assert_eq!(app.current_screen(), ScreenId::Users);
    press(&mut app, KeyCode::Char('3'));
    wait_idle(&mut app);

    assert_eq!(fake.mutations(), vec![Call::Backup("/srv/backups".into())]);
    let (title, body, _) = message(&app).expect("result popup");
    assert_eq!(title, "Backup written");
    assert_eq!(
        body[0],
        "Backup written to /srv/backups/rampart-backup-20261123-101500.db.gz.signed"
    );
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit());
}

#[test]
fn shred_requires_the_exact_slug() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('s'));
    assert!(matches!(
        app.popup(),
        Some(Popup::Form(f)) if f.kind() == &FormKind::ShredOrg {
            slug: "acme-platform".into(),
            name: "Acme Platform".into(),
        }
    ));
    assert!(screen_contains(&mut app, "Crypto-shred organization"));
    type_text(&mut app, "acme-platfor");
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(
        &mut app,
        "Type the slug exactly: acme-platform"
    ));
    type_text(&mut app, "mx");
    press(&mut app, KeyCode::Enter);
    assert!(fake.mutations().is_empty());
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::ShredOrg(
            "acme-platform".into(),
            "acme-platform".into()
        )]
    );
    assert!(app.popup().is_none(), "the outcome goes to the status line");
    let screen = render(&mut app);
    assert!(screen[4].contains("shredded"), "{}", screen[4]);
    assert!(
        screen
            .iter()
            .any(|l| l.contains("✓ acme-platform crypto-shredded")),
        "{screen:#?}"
    );
    // A shredded org cannot be shredded again, nor edited; an org without its own database
    // cannot be shredded (it would only be refused after typing the slug).
    press(&mut app, KeyCode::Char('s'));
    assert!(app.popup().is_none());
    press(&mut app, KeyCode::Char('e'));
    assert!(app.popup().is_none());
    assert!(screen_contains(&mut app, "can only be deleted"));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('s'));
    assert!(app.popup().is_none());
    assert!(screen_contains(&mut app, "isolate it first"));
    assert_eq!(fake.mutations().len(), 1);
}

/// Text of the Orgs screen's status line (the rows between the table's bottom border and
/// the help bar), joined.
fn status_text(app: &mut App) -> String {
    let screen = render(app);
    let bottom = screen
        .iter()
        .rposition(|l| l.starts_with('╰'))
        .expect("a bordered block");
    screen[bottom + 1..screen.len() - 1]
        .iter()
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        // A wide glyph fills two cells; the buffer shows the second one as a space.
        .replace("⏳  ", "⏳ ")
}

#[test]
fn org_list_shows_limits_usage_and_where_the_data_lives() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    let screen = render(&mut app);
    assert_eq!(
        screen[2..6].to_vec(),
        vec![
            "╭ Organizations (2) ───────────────────────────────────────────────────────────╮",
            "│  Slug              Name              Workspaces Members   Data     Created   │",
            "│▶ acme-platform     Acme Platform     2 / 3      3 / ∞     own DB   2026-09-01│",
            "│  acme-labs         Acme Labs         0 / ∞      0 / ∞     platform 2026-09-15│",
        ]
    );
    assert_eq!(
        screen[23].trim_end(),
        " n new  ↵ open  e edit  i isolate  d delete  s shred  ? help  q quit"
    );
    assert!(fake.state().calls.contains(&Call::ListOrgs));
    // Narrow terminals drop the creation date first.
    let narrow = render_size(&mut app, 60, 12);
    assert!(!narrow[3].contains("Created"), "{}", narrow[3]);
    assert!(narrow[4].contains("2 / 3"), "{}", narrow[4]);
}

#[test]
fn creating_an_org_is_refused_at_the_license_limit_then_sends_exact_values() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('n'));
    assert!(screen_contains(&mut app, "New organization"));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(&mut app, "Name is required."));
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    type_text(&mut app, "Globex Research");
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "Globex_R");
    press(&mut app, KeyCode::Tab);
    ctrl(&mut app, 's');
    assert!(screen_contains(&mut app, "Slug: lowercase letters"));
    assert!(fake.mutations().is_empty(), "nothing sent while invalid");
    press(&mut app, KeyCode::BackTab);
    ctrl(&mut app, 'u');
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "  R&D for Globex ");
    press(&mut app, KeyCode::Enter);
    let sent = Call::CreateOrg(NewOrg {
        name: "Globex Research".into(),
        slug: None,
        description: "R&D for Globex".into(),
    });
    assert_eq!(fake.mutations(), vec![sent.clone()]);
    // The license allows two orgs: the refusal is shown in the status line, not a popup.
    assert!(app.popup().is_none());
    assert_eq!(
        status_text(&mut app),
        "✗ Denied: organization limit reached: the license allows 2 organization(s) and 2 exist"
    );
    assert!(
        screen_contains(&mut app, "Organizations (2)"),
        "nothing changed"
    );

    fake.state().license.max_orgs = Some(5);
    press(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "Globex Research");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "R&D for Globex");
    press(&mut app, KeyCode::Enter);
    assert_eq!(fake.mutations(), vec![sent.clone(), sent]);
    assert_eq!(
        status_text(&mut app),
        "✓ Created organization Globex Research (globex-research)."
    );
    let screen = render(&mut app);
    assert!(screen[2].contains("Organizations (3)"));
    assert!(
        screen[6].starts_with("│▶ globex-research"),
        "the new org is selected: {}",
        screen[6]
    );
}

#[test]
fn editing_an_org_sends_only_the_changed_fields() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('e'));
    assert!(
        matches!(app.popup(), Some(Popup::Form(f)) if matches!(f.kind(), FormKind::EditOrg(o) if o.slug == "acme-platform"))
    );
    let screen = render(&mut app).join("\n");
    assert!(screen.contains("Acme Platform___"), "prefilled:\n{screen}");
    assert!(screen.contains("Max workspaces  3___"), "{screen}");
    // Unchanged: no backend call.
    ctrl(&mut app, 's');
    assert!(app.popup().is_none());
    assert!(screen_contains(&mut app, "Nothing changed."));
    assert!(fake.mutations().is_empty());

    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    ctrl(&mut app, 'u');
    ctrl(&mut app, 's');
    assert!(
        screen_contains(
            &mut app,
            "Max members must be a whole number (0 = unlimited)."
        ),
        "blank is refused, not read as unlimited"
    );
    type_text(&mut app, "-1");
    ctrl(&mut app, 's');
    assert!(screen_contains(
        &mut app,
        "Max members must be a whole number"
    ));
    ctrl(&mut app, 'u');
    type_text(&mut app, "5");
    ctrl(&mut app, 's');
    assert_eq!(
        fake.mutations(),
        vec![Call::UpdateOrg(
            "acme-platform".into(),
            OrgPatch {
                max_members: Some(5),
                ..OrgPatch::default()
            }
        )]
    );
    assert_eq!(
        status_text(&mut app),
        "✓ Updated acme-platform: max members 5."
    );
    assert!(render(&mut app)[4].contains("3 / 5"));

    press(&mut app, KeyCode::Char('e'));
    ctrl(&mut app, 'u');
    type_text(&mut app, "Acme Core");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    ctrl(&mut app, 'u');
    type_text(&mut app, "0");
    ctrl(&mut app, 's');
    assert_eq!(
        fake.mutations()[1],
        Call::UpdateOrg(
            "acme-platform".into(),
            OrgPatch {
                name: Some("Acme Core".into()),
                max_workspaces: Some(0),
                ..OrgPatch::default()
            }
        )
    );
    assert_eq!(
        status_text(&mut app),
        "✓ Updated acme-platform: name Acme Core, max workspaces unlimited."
    );
    assert!(render(&mut app)[4].contains("2 / ∞"));
}

#[test]
fn deleting_an_org_needs_the_exact_slug_and_says_what_goes() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('d'));
    let screen = render(&mut app).join("\n");
    assert!(screen.contains("Delete organization"), "{screen}");
    assert!(screen.contains("with its 2 workspace(s)"), "{screen}");
    type_text(&mut app, "ACME-PLATFORM");
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(
        &mut app,
        "Type the slug exactly: acme-platform"
    ));
    press(&mut app, KeyCode::Esc);
    assert!(fake.mutations().is_empty(), "Esc changes nothing");

    press(&mut app, KeyCode::Char('d'));
    type_text(&mut app, "acme-platform ");
    press(&mut app, KeyCode::Enter);
    assert!(
        screen_contains(&mut app, "Type the slug exactly"),
        "trailing space refused"
    );
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::DeleteOrg(
            "acme-platform".into(),
            "acme-platform".into()
        )]
    );
    assert_eq!(
        status_text(&mut app),
        "✓ Deleted organization acme-platform with its workspaces and all their data."
    );
    let screen = render(&mut app);
    assert!(screen[2].contains("Organizations (1)"));
    assert!(screen[4].starts_with("│▶ acme-labs"), "{}", screen[4]);
    assert!(!screen[5].contains("acme"), "{}", screen[5]);
}

#[test]
fn isolation_asks_first_explains_and_runs_on_the_worker() {
    let mut state = FakeState::populated();
    state.isolate_delay = Duration::from_millis(150);
    state
        .org_workspaces
        .push(("acme-labs".into(), workspace_row("w-9", "Lab notes", 1)));
    state.recount();
    let (mut app, fake) = app_with(state);
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Char('i'));
    assert!(app.popup().is_none(), "acme-platform is isolated already");
    assert!(screen_contains(
        &mut app,
        "already keeps its data in its own database"
    ));

    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('i'));
    let screen = render(&mut app).join("\n");
    assert!(
        screen.contains("Move the data of Acme Labs (acme-labs) into its own encrypted"),
        "{screen}"
    );
    assert!(screen.contains("interrupted move resumes"), "{screen}");
    press(&mut app, KeyCode::Esc);
    assert!(fake.mutations().is_empty());

    press(&mut app, KeyCode::Char('i'));
    press(&mut app, KeyCode::Char('y'));
    assert!(app.is_busy(), "the move runs on the worker thread");
    assert_eq!(app.current_screen(), ScreenId::Orgs);
    assert_eq!(
        status_text(&mut app),
        "⏳ Moving the data of acme-labs into its own encrypted database…"
    );
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit(), "no quitting in the middle of a move");
    wait_idle(&mut app);
    assert_eq!(fake.mutations(), vec![Call::IsolateOrg("acme-labs".into())]);
    assert_eq!(
        status_text(&mut app),
        "✓ acme-labs now keeps its data in its own encrypted database: 40 row(s) of 1 workspace(s) moved."
    );
    assert!(render(&mut app)[5].contains("own DB"));
}

#[test]
fn org_detail_lists_members_and_workspaces_and_manages_members() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    assert!(
        fake.state()
            .calls
            .contains(&Call::OrgMembers("acme-platform".into()))
    );
    assert!(
        fake.state()
            .calls
            .contains(&Call::OrgWorkspaces("acme-platform".into()))
    );
    let screen = render(&mut app);
    assert!(
        screen[2].contains("Organization acme-platform"),
        "{}",
        screen[2]
    );
    assert!(screen[4].contains("Core platform and payments"));
    assert!(screen[5].contains("2 / 3"));
    let members = |screen: &[String]| -> Vec<String> {
        screen[11..]
            .iter()
            .map(|l| l.split("││").next().unwrap_or("").to_owned())
            .collect()
    };
    let m = members(&screen);
    assert!(
        m[1].contains("alice@acme.test") && m[1].contains("Org admin"),
        "{m:#?}"
    );
    assert!(
        m[2].contains("bob@acme.test") && m[2].contains("Member"),
        "{m:#?}"
    );
    assert!(screen[10].contains("Workspaces (2)"));
    assert!(screen[12].contains("Payments API") && screen[12].contains(" 3 "));
    assert_eq!(
        screen[23].trim_end(),
        " a add member  ↵ role  d remove  w switch list  e edit  Esc back  ? help  q quit"
    );

    // Add an existing account as org admin.
    press(&mut app, KeyCode::Char('a'));
    type_text(&mut app, "carol@acme.test");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::SetOrgMember(
            "acme-platform".into(),
            "carol@acme.test".into(),
            OrgRole::OrgAdmin
        )]
    );
    assert_eq!(
        status_text(&mut app),
        "✓ carol@acme.test is Org admin of acme-platform."
    );
    assert!(screen_contains(&mut app, "Members (4)"));

    // Change bob's role (members are listed admins first: alice, carol, bob, root).
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(
        &mut app,
        "Role of bob@acme.test in acme-platform"
    ));
    press(&mut app, KeyCode::Enter);
    assert!(app.popup().is_none(), "same role: no call");
    assert_eq!(fake.mutations().len(), 1);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations()[1],
        Call::SetOrgMember(
            "acme-platform".into(),
            "bob@acme.test".into(),
            OrgRole::OrgAdmin
        )
    );

    // Remove root (last row now), with a confirmation; Esc first changes nothing.
    press(&mut app, KeyCode::Char('G'));
    press(&mut app, KeyCode::Char('d'));
    assert!(screen_contains(
        &mut app,
        "Remove root@acme.test from acme-platform?"
    ));
    press(&mut app, KeyCode::Esc);
    assert_eq!(fake.mutations().len(), 2);
    press(&mut app, KeyCode::Char('d'));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        fake.mutations()[2],
        Call::RemoveOrgMember("acme-platform".into(), "u-1".into())
    );
    assert_eq!(
        status_text(&mut app),
        "✓ Removed root@acme.test from acme-platform."
    );
    assert!(screen_contains(&mut app, "Members (3)"));

    // w moves the selection keys to the workspace list; member keys then do nothing.
    press(&mut app, KeyCode::Char('w'));
    press(&mut app, KeyCode::Char('j'));
    let screen = render(&mut app);
    assert!(screen[13].contains("▶ Checkout web"), "{}", screen[13]);
    press(&mut app, KeyCode::Char('d'));
    assert!(app.popup().is_none());

    // Esc goes back to the list; the list shows the new member count.
    press(&mut app, KeyCode::Esc);
    let screen = render(&mut app);
    assert!(screen[2].contains("Organizations (2)"));
    assert!(screen[4].contains("3 / ∞"), "{}", screen[4]);
    assert!(!app.should_quit());
}

#[test]
fn org_errors_stay_in_the_status_line_in_full() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    fake.state().orgs[0].max_members = 3;
    press(&mut app, KeyCode::F(5));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('a'));
    type_text(&mut app, "carol@acme.test");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(app.popup().is_none());
    assert_eq!(
        status_text(&mut app),
        "✗ Denied: member limit reached: organization \"Acme Platform\" allows max_members = 3 and has 3"
    );
    // Unknown account.
    press(&mut app, KeyCode::Char('a'));
    type_text(&mut app, "nobody@acme.test");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        status_text(&mut app),
        "✗ Not found: no account with email \"nobody@acme.test\""
    );
    // A long failure wraps and is readable to its last word, and keys keep working.
    let long = "database is locked: another rampart admin process holds the write lock on platform.db; wait for it to finish or stop it, then try again (nothing was changed)";
    fake.state().fail_next = Some(BackendError::Failed(long.into()));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "!");
    ctrl(&mut app, 's');
    assert_eq!(status_text(&mut app), format!("✗ Failed: {long}"));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('k'));
    assert!(
        status_text(&mut app).ends_with("(nothing was changed)"),
        "the status line stays until the next operation"
    );
    assert_eq!(
        fake.mutations().last(),
        Some(&Call::UpdateOrg(
            "acme-platform".into(),
            OrgPatch {
                description: Some("Core platform and payments!".into()),
                ..OrgPatch::default()
            }
        ))
    );
    assert!(!app.should_quit());
}

#[test]
fn an_org_deleted_elsewhere_closes_its_detail_view() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(&mut app, "Organization acme-platform"));
    fake.state().orgs.retain(|o| o.slug != "acme-platform");
    press(&mut app, KeyCode::F(5));
    let screen = render(&mut app);
    assert!(screen[2].contains("Organizations (1)"), "{}", screen[2]);
    assert!(screen[4].starts_with("│▶ acme-labs"));
}
#[test]
fn llm_cache_usage_cost_and_kms_rewrap_on_the_maintenance_screen() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('6'));
    let screen = render(&mut app);
    assert!(
        screen
            .iter()
            .any(|l| l.contains("42 entries, 86016 bytes, hit rate 25.0%")),
        "{screen:#?}"
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("120000 tokens, est. cost 0.1200 USD"))
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("vault (Transit key version 1)"))
    );

    // x asks first; Esc changes nothing.
    press(&mut app, KeyCode::Char('x'));
    assert!(screen_contains(
        &mut app,
        "Clear every user's cached LLM answers?"
    ));
    press(&mut app, KeyCode::Esc);
    assert!(fake.mutations().is_empty());
    press(&mut app, KeyCode::Char('x'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(fake.mutations(), vec![Call::ClearLlmCache]);
    assert!(screen_contains(&mut app, "Removed 42 cached LLM answers."));
    assert!(screen_contains(&mut app, "0 entries, 0 bytes"));

    // w rewraps after a confirmation; the new key version is shown.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('w'));
    assert!(screen_contains(&mut app, "Rewrap the master key"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(fake.mutations()[1], Call::RewrapKms);
    assert!(screen_contains(&mut app, "vault (Transit key version 2)"));
}

#[test]
fn credits_screen_sets_allowances_and_adjusts_with_a_note() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('8'));
    assert_eq!(app.current_screen(), ScreenId::Credits);
    let screen = render(&mut app);
    assert!(
        screen[2].contains("Credits this month (4 users, 2 org pools)"),
        "{screen:#?}"
    );
    let row = |screen: &[String], needle: &str| {
        screen
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {screen:#?}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(row(&screen, "root@acme.test").ends_with("user not metered 12 — │"));
    assert!(row(&screen, "alice@acme.test").ends_with("user 100 30 70 │"));
    assert!(row(&screen, "Acme Platform").ends_with("org pool 500 120 380 │"));

    // a on alice: the form is prefilled; a negative number is refused in the form.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('a'));
    assert!(screen_contains(
        &mut app,
        "Monthly credits of alice@acme.test."
    ));
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "-4");
    ctrl(&mut app, 's');
    assert!(screen_contains(
        &mut app,
        "Credits/month: a whole number from 0"
    ));
    for _ in 0..2 {
        press(&mut app, KeyCode::Backspace);
    }
    type_text(&mut app, "150");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "pilot");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::SetCreditAllowance(
            CreditKind::User,
            "alice@acme.test".into(),
            Some(150),
            "pilot".into()
        )]
    );
    assert!(screen_contains(
        &mut app,
        "Monthly allowance of alice@acme.test set to 150 credits."
    ));
    assert!(row(&render(&mut app), "alice@acme.test").ends_with("user 150 30 120 │"));

    // c: a deduction needs a note (checked before any call); then it goes through.
    press(&mut app, KeyCode::Char('c'));
    assert!(screen_contains(&mut app, "Add or deduct credits"));
    type_text(&mut app, "-20");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(
        &mut app,
        "A note is required to deduct credits."
    ));
    assert_eq!(fake.mutations().len(), 1);
    type_text(&mut app, "trial over");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations()[1],
        Call::AdjustCredits(
            CreditKind::User,
            "alice@acme.test".into(),
            -20,
            "trial over".into()
        )
    );
    assert!(screen_contains(
        &mut app,
        "-20 credits from alice@acme.test."
    ));
    assert!(row(&render(&mut app), "alice@acme.test").ends_with("user 150 30 100 │"));

    // An org pool: empty allowance removes it (not metered); Esc changes nothing.
    for _ in 0..3 {
        press(&mut app, KeyCode::Char('j'));
    }
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Esc);
    assert_eq!(fake.mutations().len(), 2);
    press(&mut app, KeyCode::Char('a'));
    assert!(screen_contains(
        &mut app,
        "Monthly credits of the pool of Acme Platform (acme-platform)."
    ));
    for _ in 0..3 {
        press(&mut app, KeyCode::Backspace);
    }
    ctrl(&mut app, 's');
    assert_eq!(
        fake.mutations()[2],
        Call::SetCreditAllowance(CreditKind::Org, "acme-platform".into(), None, String::new())
    );
    assert!(screen_contains(
        &mut app,
        "Acme Platform is no longer metered."
    ));
    assert!(row(&render(&mut app), "Acme Platform").ends_with("org pool not metered 120 — │"));

    // A backend refusal shows its message; nothing is claimed done.
    fake.state().fail_next = Some(BackendError::Invalid(
        "amount: expected a whole number of credits".into(),
    ));
    press(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "5");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    let (_, body, error) = message(&app).expect("error popup");
    assert!(error);
    assert!(
        body.join(" ").contains("expected a whole number"),
        "{body:?}"
    );
}

#[test]
fn maintenance_enable_and_clear() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('6'));
    assert!(screen_contains(&mut app, "● off"));
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::Enter);
    assert!(screen_contains(&mut app, "Reason is required."));
    type_text(&mut app, "LLM quota exhausted");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::EnableMaintenance("LLM quota exhausted".into())]
    );
    let screen = render(&mut app);
    assert!(
        screen[0].contains("MAINTENANCE"),
        "header badge: {}",
        screen[0]
    );
    assert!(screen.iter().any(|l| l.contains("● ACTIVE")));
    assert!(screen.iter().any(|l| l.contains("LLM quota exhausted")));
    assert!(screen.iter().any(|l| l.contains("2026-11-23T10:20:00Z")));

    press(&mut app, KeyCode::Char('c'));
    assert!(screen_contains(&mut app, "Clear maintenance mode?"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(fake.mutations().len(), 1);
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(fake.mutations()[1], Call::ClearMaintenance);
    let screen = render(&mut app);
    assert!(!screen[0].contains("MAINTENANCE"));
    assert!(screen.iter().any(|l| l.contains("● off")));
}

#[test]
fn backend_error_opens_a_message_popup() {
    let (mut app, fake) = app_with(FakeState::populated());
    fake.state().fail_next = Some(BackendError::Failed(
        "database is locked (platform.db)".into(),
    ));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('d'));
    press(&mut app, KeyCode::Char('y'));
    let (title, body, error) = message(&app).expect("error popup");
    assert_eq!(title, "Failed");
    assert!(error);
    assert_eq!(body, vec!["database is locked (platform.db)".to_owned()]);
    assert!(screen_contains(
        &mut app,
        "database is locked (platform.db)"
    ));
    press(&mut app, KeyCode::Enter);
    assert!(app.popup().is_none());
    assert!(render(&mut app)[5].contains("active"), "nothing changed");
}

#[test]
fn signers_import_and_remove() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('4'));
    assert!(screen_contains(&mut app, "-----BEGIN PUBLIC KEY-----"));
    press(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "Prod instance");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "/tmp/prod.pem");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::AddSigner(
            "Prod instance".into(),
            "/tmp/prod.pem".into()
        )]
    );
    assert!(screen_contains(&mut app, "Trusted signers (2)"));
    press(&mut app, KeyCode::Char('d'));
    assert!(screen_contains(
        &mut app,
        "Remove trusted signer Staging instance?"
    ));
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        fake.mutations()[1],
        Call::RemoveSigner(
            "b1e2d3c4a5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00".into()
        )
    );
    assert!(screen_contains(&mut app, "Trusted signers (1)"));
}

#[test]
fn license_status_and_install() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('2'));
    let screen = render(&mut app).join("\n");
    for needle in ["● valid", "Acme Corp", "2027-06-30", "7 / 10", "2 / 2"] {
        assert!(screen.contains(needle), "{needle} missing:\n{screen}");
    }
    press(&mut app, KeyCode::Char('i'));
    type_text(&mut app, "/etc/rampart/license.jwt");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::InstallLicense("/etc/rampart/license.jwt".into())]
    );
    assert!(screen_contains(&mut app, "2028-06-30"));
}

#[test]
fn mouse_selects_rows_and_wheel_scrolls() {
    let (mut app, _fake) = app_with(FakeState::populated());
    render(&mut app);
    click(&mut app, 10, 6);
    assert!(render(&mut app)[6].starts_with("│▶ bob@acme.test"));
    app.handle_event(&Event::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    }));
    assert!(render(&mut app)[7].starts_with("│▶ carol@acme.test"));
}

#[test]
fn help_popup_lists_screen_and_global_keys() {
    let (mut app, _fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('?'));
    let screen = render(&mut app).join("\n");
    assert!(screen.contains("reset MFA"));
    assert!(screen.contains("jump to screen"));
    press(&mut app, KeyCode::Esc);
    assert!(app.popup().is_none());
    assert!(!app.should_quit());
}

#[test]
fn log_screen_shows_status_and_events() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('7'));
    let screen = render(&mut app).join("\n");
    assert!(screen.contains("/var/lib/rampart"));
    assert!(screen.contains("WARN  login rate limit hit for bob@acme.test"));
    assert!(fake.state().calls.contains(&Call::RecentEvents(500)));
}

#[test]
fn ctrl_c_and_q_quit() {
    let (mut app, _fake) = app_with(FakeState::populated());
    ctrl(&mut app, 'c');
    assert!(app.should_quit());
    let (mut app, _fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('n'));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit(), "q types into the form");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit());
}

#[test]
fn tiny_terminals_render_without_panic() {
    let (mut app, _fake) = app_with(FakeState::populated());
    let sizes = [(20, 5), (1, 1), (0, 0), (10, 2), (80, 3), (3, 40)];
    for screen in 1..=7u8 {
        press(&mut app, KeyCode::Char(char::from(b'0' + screen)));
        for (w, h) in sizes {
            render_size(&mut app, w, h);
        }
    }
    // With popups open too: form, confirm, help, message.
    press(&mut app, KeyCode::Char('1'));
    press(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "a-long-email-address@example.test");
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('d'));
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    // The org detail view with a long status line, and the org forms.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    app.handle_event(&Event::Key(KeyEvent::new(
        KeyCode::Char('a'),
        KeyModifiers::NONE,
    )));
    type_text(&mut app, "nobody-with-a-very-long-address@example.test");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter);
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    press(&mut app, KeyCode::Char('a'));
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('e'));
    for (w, h) in sizes {
        render_size(&mut app, w, h);
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    let lines = render_size(&mut app, 20, 5);
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l.chars().count() == 20));
}

#[test]
fn a_panicking_backend_job_ends_the_app_with_an_error() {
    let mut state = FakeState::populated();
    state.panic_in_job = true;
    let (mut app, fake) = app_with(state);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('b'));
    press(&mut app, KeyCode::Enter);
    wait_idle(&mut app);
    assert!(app.should_quit());
    assert!(app.fatal().is_some_and(|m| m.contains("crashed")));
    assert_eq!(fake.mutations(), vec![Call::Backup(".".into())]);
}

#[test]
fn narrow_user_table_drops_the_created_column() {
    let (mut app, _fake) = app_with(FakeState::populated());
    let screen = render_size(&mut app, 60, 12);
    assert!(!screen[3].contains("Created"), "{}", screen[3]);
    assert!(screen[4].contains("root@acme.test"), "{}", screen[4]);
    assert!(render(&mut app)[3].contains("Created"));
}

#[test]
fn log_screen_tails_new_events() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('7'));
    fake.state().events.push(rampart_tui::LogLine {
        at: "2026-11-23T10:40:00Z".into(),
        level: rampart_tui::LogLevel::Error,
        message: "restore refused: untrusted signer".into(),
    });
    app.tick();
    assert!(
        !screen_contains(&mut app, "untrusted signer"),
        "not before the interval"
    );
    std::thread::sleep(Duration::from_millis(2100));
    app.tick();
    assert!(screen_contains(
        &mut app,
        "ERROR restore refused: untrusted signer"
    ));
}

#[test]
fn pasted_text_goes_into_the_focused_field_without_line_breaks() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('i'));
    app.handle_event(&Event::Paste("/etc/rampart/\nlicense.jwt\n".into()));
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        fake.mutations(),
        vec![Call::InstallLicense("/etc/rampart/license.jwt".into())]
    );
}

#[test]
fn setup_screen_disappears_when_users_appear_elsewhere() {
    let (mut app, fake) = app_with(FakeState::empty());
    assert_eq!(app.current_screen(), ScreenId::Setup);
    fake.state().users = FakeState::populated().users;
    press(&mut app, KeyCode::F(5));
    assert_eq!(app.current_screen(), ScreenId::Users);
    assert!(screen_contains(&mut app, "Users (4)"));
}

/// Compares `lines` with `tests/snapshots/<name>.txt`; `UPDATE_SNAPSHOTS=1` rewrites it.
/// Trailing spaces are trimmed so the files stay readable.
fn assert_snapshot(name: &str, lines: &[String]) {
    let actual: String = lines
        .iter()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("snapshot dir")).expect("mkdir");
        std::fs::write(&path, &actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1)", path.display()));
    assert!(
        expected == actual,
        "snapshot {name} differs\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn database_check_lists_every_database_and_changes_nothing() {
    let (mut app, fake) = app_with(FakeState::populated());
    press(&mut app, KeyCode::Char('6'));
    assert!(screen_contains(&mut app, "not run yet (k)"));
    press(&mut app, KeyCode::Char('k'));
    let screen = render(&mut app);
    assert!(
        screen
            .iter()
            .any(|l| l.contains("ok") && l.contains("platform") && l.contains("platform.db")),
        "{screen:#?}"
    );
    assert!(
        screen.iter().any(|l| l.contains("integrity ok")),
        "{screen:#?}"
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("FAIL") && l.contains("org acme")),
        "{screen:#?}"
    );
    assert!(
        screen.iter().any(|l| l.contains("page 7: btree corrupt")),
        "{screen:#?}"
    );
    assert!(
        screen
            .iter()
            .any(|l| l.contains("1 of 2 database(s) failed the check")),
        "{screen:#?}"
    );
    assert!(fake.mutations().is_empty(), "the check only reads");
}

#[test]
fn snapshots_of_every_screen_and_popup_kind() {
    let (mut app, _fake) = app_with(FakeState::populated());
    let names = [
        "users",
        "license",
        "backup",
        "signers",
        "orgs",
        "maintenance",
        "log",
        "credits",
    ];
    for (i, name) in names.iter().enumerate() {
        press(&mut app, KeyCode::Char(char::from(b'1' + i as u8)));
        assert_snapshot(name, &render(&mut app));
    }
    press(&mut app, KeyCode::Char('1'));
    press(&mut app, KeyCode::Char('n'));
    type_text(&mut app, "dave@acme.test");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    type_text(&mut app, "secret");
    assert_snapshot("form_new_user", &render(&mut app));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('d'));
    assert_snapshot("confirm_disable", &render(&mut app));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('r'));
    type_text(&mut app, "/srv/b.signed");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "CONFIRM");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "root@acme.test");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "pw");
    press(&mut app, KeyCode::Enter);
    assert_snapshot("form_restore_refused", &render(&mut app));

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('5'));
    press(&mut app, KeyCode::Enter);
    assert_snapshot("org_detail", &render(&mut app));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('d'));
    assert_snapshot("form_delete_org", &render(&mut app));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('i'));
    assert_snapshot("confirm_isolate", &render(&mut app));

    let (mut app, _fake) = app_with(FakeState::empty());
    assert_snapshot("setup", &render(&mut app));
    assert_snapshot("tiny_20x5", &render_size(&mut app, 20, 5));
}

#[test]
fn clicks_close_messages_but_never_confirm() {
    let (mut app, fake) = app_with(FakeState::populated());
    render(&mut app);
    press(&mut app, KeyCode::Char('d'));
    click(&mut app, 40, 12);
    assert!(matches!(app.popup(), Some(Popup::Confirm(_))));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('?'));
    click(&mut app, 40, 12);
    assert!(app.popup().is_none());
    assert!(fake.mutations().is_empty());
}

#[test]
fn tabs_shorten_on_narrow_terminals_and_stay_clickable() {
    let (mut app, _fake) = app_with(FakeState::populated());
    let line = render_size(&mut app, 66, 12)[1].clone();
    assert!(
        line.contains(" 6 Maint ") && line.contains(" 7 Log ") && line.contains(" 8 Cred "),
        "{line}"
    );
    let line = render_size(&mut app, 30, 12)[1].clone();
    assert!(line.starts_with(" 1  2  3  4  5  6  7 "), "{line}");
    // Tab 6 is at columns 15..18 in the numbers-only row.
    click(&mut app, 16, 1);
    assert_eq!(app.current_screen(), ScreenId::Maintenance);
}
