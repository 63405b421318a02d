//! In-memory `AdminBackend` with fixed data that records every call. Used by the screen
//! tests and by `examples/demo.rs`; it keeps the rules the real backend must keep (exact
//! restore phrase, admin password, slug confirmation, duplicate checks) so that flows can
//! be exercised end to end without the appliance.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rampart_tui::{
    AdminBackend, BackendError, BackendResult, BackupReport, CreditAccount, CreditKind,
    DatabaseCheck, IsolationReport, LicenseState, LicenseStatus, LlmOps, LogLevel, LogLine,
    MaintenanceState, NewOrg, NewUser, OrgMember, OrgPatch, OrgRole, OrgSummary, OrgWorkspace,
    Overview, Progress, RESTORE_PHRASE, RestoreReport, RestoreRequest, Role, SetupRequest,
    SigningKey, TrustedSigner, UserSummary,
};

/// The admin password the fake accepts for restore.
pub const ADMIN_PASSWORD: &str = "Admin-Pass-1";

/// Fingerprint of the fake instance key.
pub const OWN_FP: &str = "3f9a1c0e5b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468";

/// One recorded backend call with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Overview,
    Setup(SetupRequest),
    ListUsers,
    CreateUser(NewUser),
    SetRole(String, Role),
    SetDisabled(String, bool),
    ResetMfa(String),
    License,
    InstallLicense(PathBuf),
    Backup(PathBuf),
    Restore(RestoreRequest),
    SigningKey,
    ListSigners,
    AddSigner(String, PathBuf),
    RemoveSigner(String),
    ListOrgs,
    CreateOrg(NewOrg),
    UpdateOrg(String, OrgPatch),
    DeleteOrg(String, String),
    IsolateOrg(String),
    ShredOrg(String, String),
    OrgMembers(String),
    OrgWorkspaces(String),
    SetOrgMember(String, String, OrgRole),
    RemoveOrgMember(String, String),
    Maintenance,
    EnableMaintenance(String),
    ClearMaintenance,
    CheckDatabases,
    RecentEvents(usize),
    LlmOps,
    ClearLlmCache,
    RewrapKms,
    CreditAccounts,
    SetCreditAllowance(CreditKind, String, Option<i64>, String),
    AdjustCredits(CreditKind, String, i64, String),
}

impl Call {
    /// Whether the call changes state (reads are excluded from "no backend call" checks).
    pub fn is_mutation(&self) -> bool {
        !matches!(
            self,
            Call::Overview
                | Call::ListUsers
                | Call::License
                | Call::SigningKey
                | Call::ListSigners
                | Call::ListOrgs
                | Call::OrgMembers(_)
                | Call::OrgWorkspaces(_)
                | Call::Maintenance
                | Call::CheckDatabases
                | Call::RecentEvents(_)
                | Call::LlmOps
                | Call::CreditAccounts
        )
    }
}

/// Everything the fake holds.
#[derive(Debug)]
pub struct FakeState {
    pub users: Vec<UserSummary>,
    pub license: LicenseStatus,
    pub signers: Vec<TrustedSigner>,
    pub orgs: Vec<OrgSummary>,
    /// Members per org slug.
    pub org_members: Vec<(String, OrgMember)>,
    /// Workspaces per org slug.
    pub org_workspaces: Vec<(String, OrgWorkspace)>,
    pub maintenance: MaintenanceState,
    pub events: Vec<LogLine>,
    /// Credit accounts this month (users, then org pools).
    pub credits: Vec<CreditAccount>,
    pub calls: Vec<Call>,
    /// Returned (once) by the next mutating call.
    pub fail_next: Option<BackendError>,
    /// Sleep per progress step of backup/restore (the demo uses it to show the gauge).
    pub step_delay: Duration,
    /// Makes backup/restore panic mid-way (a backend bug the TUI must survive).
    pub panic_in_job: bool,
    /// Makes `list_orgs` panic on the UI thread (checks the terminal-restoring hook).
    pub panic_on_list_orgs: bool,
    /// Sleep inside `isolate_org` (the demo uses it to show the running state).
    pub isolate_delay: Duration,
    next_id: u32,
}

fn org(id: &str, slug: &str, name: &str, isolated: bool, created_at: &str) -> OrgSummary {
    OrgSummary {
        id: id.to_owned(),
        slug: slug.to_owned(),
        name: name.to_owned(),
        description: String::new(),
        max_workspaces: 0,
        max_members: 0,
        workspace_count: 0,
        member_count: 0,
        isolated,
        shredded: false,
        created_at: created_at.to_owned(),
    }
}

fn account(
    kind: CreditKind,
    key: &str,
    label: &str,
    allowance: Option<i64>,
    used: i64,
) -> CreditAccount {
    CreditAccount {
        kind,
        key: key.to_owned(),
        label: label.to_owned(),
        allowance,
        used,
        balance: allowance.map(|a| a - used),
    }
}

fn member(user: &UserSummary, role: OrgRole) -> OrgMember {
    OrgMember {
        user_id: user.id.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        role,
        added_at: "2026-10-01T08:00:00Z".to_owned(),
    }
}

fn workspace(id: &str, name: &str, members: u64) -> OrgWorkspace {
    OrgWorkspace {
        id: id.to_owned(),
        name: name.to_owned(),
        member_count: members,
        created_at: "2026-10-02T08:00:00Z".to_owned(),
    }
}

/// The slug the real backend derives from a name: lowercase ASCII letters and digits, runs
/// of anything else become one hyphen.
fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut hyphen = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            if hyphen && !out.is_empty() {
                out.push('-');
            }
            hyphen = false;
            out.push(c);
        } else {
            hyphen = true;
        }
    }
    out
}

fn user(
    id: &str,
    email: &str,
    name: &str,
    role: Role,
    disabled: bool,
    totp: bool,
    keys: u32,
) -> UserSummary {
    UserSummary {
        id: id.to_owned(),
        email: email.to_owned(),
        name: name.to_owned(),
        role,
        disabled,
        totp,
        webauthn_keys: keys,
        created_at: "2026-11-02T09:14:00Z".to_owned(),
    }
}

impl FakeState {
    /// A populated instance: four users, a valid license, one signer, two orgs.
    pub fn populated() -> Self {
        let mut state = Self {
            users: vec![
                user(
                    "u-1",
                    "root@acme.test",
                    "Rita Root",
                    Role::Superadmin,
                    false,
                    true,
                    1,
                ),
                user(
                    "u-2",
                    "alice@acme.test",
                    "Alice Archer",
                    Role::Admin,
                    false,
                    true,
                    0,
                ),
                user(
                    "u-3",
                    "bob@acme.test",
                    "Bob Builder",
                    Role::User,
                    false,
                    false,
                    0,
                ),
                user(
                    "u-4",
                    "carol@acme.test",
                    "Carol Chen",
                    Role::User,
                    true,
                    false,
                    2,
                ),
            ],
            license: LicenseStatus {
                state: LicenseState::Valid,
                licensee: Some("Acme Corp".to_owned()),
                expires_at: Some("2027-06-30".to_owned()),
                max_workspaces: Some(10),
                max_orgs: Some(2),
                workspaces_used: 7,
                orgs_used: 2,
                detail: None,
            },
            signers: vec![TrustedSigner {
                fingerprint: "b1e2d3c4a5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00"
                    .to_owned(),
                label: "Staging instance".to_owned(),
                added_at: "2026-10-11T08:00:00Z".to_owned(),
            }],
            orgs: Vec::new(),
            org_members: Vec::new(),
            org_workspaces: Vec::new(),
            maintenance: MaintenanceState {
                active: false,
                reason: None,
                tripped_at: None,
            },
            events: vec![
                LogLine {
                    at: "2026-11-23T09:00:01Z".to_owned(),
                    level: LogLevel::Info,
                    message: "server started on 0.0.0.0:8443".to_owned(),
                },
                LogLine {
                    at: "2026-11-23T09:12:44Z".to_owned(),
                    level: LogLevel::Warn,
                    message: "login rate limit hit for bob@acme.test".to_owned(),
                },
                LogLine {
                    at: "2026-11-23T09:30:10Z".to_owned(),
                    level: LogLevel::Info,
                    message: "backup written by admin CLI".to_owned(),
                },
            ],
            credits: vec![
                account(
                    CreditKind::User,
                    "root@acme.test",
                    "root@acme.test",
                    None,
                    12,
                ),
                account(
                    CreditKind::User,
                    "alice@acme.test",
                    "alice@acme.test",
                    Some(100),
                    30,
                ),
                account(
                    CreditKind::User,
                    "bob@acme.test",
                    "bob@acme.test",
                    Some(20),
                    20,
                ),
                account(
                    CreditKind::User,
                    "carol@acme.test",
                    "carol@acme.test",
                    None,
                    0,
                ),
                account(
                    CreditKind::Org,
                    "acme-platform",
                    "Acme Platform",
                    Some(500),
                    120,
                ),
                account(CreditKind::Org, "acme-labs", "Acme Labs", None, 0),
            ],
            calls: Vec::new(),
            fail_next: None,
            step_delay: Duration::ZERO,
            panic_in_job: false,
            panic_on_list_orgs: false,
            isolate_delay: Duration::ZERO,
            next_id: 10,
        };
        // Two orgs: one isolated with members, limits and workspaces, one still in the
        // platform database and empty.
        let mut platform = org(
            "o-1",
            "acme-platform",
            "Acme Platform",
            true,
            "2026-09-01T10:00:00Z",
        );
        platform.description = "Core platform and payments".to_owned();
        platform.max_workspaces = 3;
        platform.max_members = 0;
        state.orgs = vec![
            platform,
            org(
                "o-2",
                "acme-labs",
                "Acme Labs",
                false,
                "2026-09-15T10:00:00Z",
            ),
        ];
        let (root, alice, bob) = (
            state.users[0].clone(),
            state.users[1].clone(),
            state.users[2].clone(),
        );
        state.org_members = vec![
            (
                "acme-platform".to_owned(),
                member(&alice, OrgRole::OrgAdmin),
            ),
            ("acme-platform".to_owned(), member(&bob, OrgRole::Member)),
            ("acme-platform".to_owned(), member(&root, OrgRole::Member)),
        ];
        state.org_workspaces = vec![
            (
                "acme-platform".to_owned(),
                workspace("w-1", "Payments API", 3),
            ),
            (
                "acme-platform".to_owned(),
                workspace("w-2", "Checkout web", 2),
            ),
        ];
        state.recount();
        state
    }

    /// A fresh instance: no users and no organizations (first-run setup pending).
    pub fn empty() -> Self {
        Self {
            users: Vec::new(),
            orgs: Vec::new(),
            org_members: Vec::new(),
            org_workspaces: Vec::new(),
            credits: Vec::new(),
            ..Self::populated()
        }
    }

    /// Recomputes each org's member and workspace counts from the lists.
    pub fn recount(&mut self) {
        for o in &mut self.orgs {
            o.member_count = self
                .org_members
                .iter()
                .filter(|(s, _)| *s == o.slug)
                .count() as u64;
            o.workspace_count = self
                .org_workspaces
                .iter()
                .filter(|(s, _)| *s == o.slug)
                .count() as u64;
        }
    }

    fn org_mut(&mut self, slug: &str) -> BackendResult<&mut OrgSummary> {
        self.orgs
            .iter_mut()
            .find(|o| o.slug == slug)
            .ok_or_else(|| BackendError::NotFound(format!("no organization with slug {slug:?}")))
    }
}

/// Cheap handle: the test keeps one clone, the App owns another.
#[derive(Clone)]
pub struct FakeBackend(pub Arc<Mutex<FakeState>>);

impl FakeBackend {
    pub fn new(state: FakeState) -> Self {
        Self(Arc::new(Mutex::new(state)))
    }

    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().expect("fake state lock")
    }

    /// Mutating calls recorded so far.
    pub fn mutations(&self) -> Vec<Call> {
        self.state()
            .calls
            .iter()
            .filter(|c| c.is_mutation())
            .cloned()
            .collect()
    }

    fn record(&self, call: Call) -> BackendResult<MutexGuard<'_, FakeState>> {
        let mut st = self.state();
        let mutation = call.is_mutation();
        st.calls.push(call);
        if mutation && let Some(err) = st.fail_next.take() {
            return Err(err);
        }
        Ok(st)
    }

    fn user_mut<'a>(st: &'a mut FakeState, id: &str) -> BackendResult<&'a mut UserSummary> {
        st.users
            .iter_mut()
            .find(|u| u.id == id)
            .ok_or_else(|| BackendError::NotFound(format!("No user with id {id}.")))
    }

    fn run_steps(&self, stage: &str, progress: &mut dyn FnMut(Progress)) {
        let (delay, panic) = {
            let st = self.state();
            (st.step_delay, st.panic_in_job)
        };
        for i in 0..=10u64 {
            assert!(
                !(panic && i == 5),
                "fake backend: injected panic in {stage}"
            );
            progress(Progress {
                stage: stage.to_owned(),
                done: i * 4096,
                total: Some(40960),
            });
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
        }
    }
}

impl AdminBackend for FakeBackend {
    fn overview(&mut self) -> BackendResult<Overview> {
        let st = self.record(Call::Overview)?;
        Ok(Overview {
            instance: "rampart.acme.test".to_owned(),
            data_dir: PathBuf::from("/var/lib/rampart"),
            version: "0.1.0".to_owned(),
            user_count: st.users.len() as u64,
            db_size_bytes: 12_900_000,
            server_reachable: Some(true),
        })
    }

    fn setup(&mut self, request: &SetupRequest) -> BackendResult<UserSummary> {
        let mut st = self.record(Call::Setup(request.clone()))?;
        if !st.users.is_empty() {
            return Err(BackendError::Conflict("Setup is already done.".to_owned()));
        }
        let u = user(
            "u-1",
            &request.email,
            &request.name,
            Role::Superadmin,
            false,
            false,
            0,
        );
        st.users.push(u.clone());
        Ok(u)
    }

    fn list_users(&mut self) -> BackendResult<Vec<UserSummary>> {
        Ok(self.record(Call::ListUsers)?.users.clone())
    }

    fn create_user(&mut self, new: &NewUser) -> BackendResult<UserSummary> {
        let mut st = self.record(Call::CreateUser(new.clone()))?;
        if st.users.iter().any(|u| u.email == new.email) {
            return Err(BackendError::Conflict(format!(
                "{} already exists.",
                new.email
            )));
        }
        st.next_id += 1;
        let id = format!("u-{}", st.next_id);
        let u = user(&id, &new.email, &new.name, new.role, false, false, 0);
        st.users.push(u.clone());
        Ok(u)
    }

    fn set_role(&mut self, user_id: &str, role: Role) -> BackendResult<()> {
        let mut st = self.record(Call::SetRole(user_id.to_owned(), role))?;
        Self::user_mut(&mut st, user_id)?.role = role;
        Ok(())
    }

    fn set_disabled(&mut self, user_id: &str, disabled: bool) -> BackendResult<()> {
        let mut st = self.record(Call::SetDisabled(user_id.to_owned(), disabled))?;
        Self::user_mut(&mut st, user_id)?.disabled = disabled;
        Ok(())
    }

    fn reset_mfa(&mut self, user_id: &str) -> BackendResult<()> {
        let mut st = self.record(Call::ResetMfa(user_id.to_owned()))?;
        let u = Self::user_mut(&mut st, user_id)?;
        u.totp = false;
        u.webauthn_keys = 0;
        Ok(())
    }

    fn license(&mut self) -> BackendResult<LicenseStatus> {
        Ok(self.record(Call::License)?.license.clone())
    }

    fn install_license(&mut self, path: &Path) -> BackendResult<LicenseStatus> {
        let mut st = self.record(Call::InstallLicense(path.to_owned()))?;
        st.license.expires_at = Some("2028-06-30".to_owned());
        Ok(st.license.clone())
    }

    fn backup(
        &mut self,
        dest: &Path,
        progress: &mut dyn FnMut(Progress),
    ) -> BackendResult<BackupReport> {
        drop(self.record(Call::Backup(dest.to_owned()))?);
        self.run_steps("compressing", progress);
        Ok(BackupReport {
            path: dest.join("rampart-backup-20261123-101500.db.gz.signed"),
            bytes: 3_400_000,
            signer_fingerprint: OWN_FP.to_owned(),
        })
    }

    fn restore(
        &mut self,
        request: &RestoreRequest,
        progress: &mut dyn FnMut(Progress),
    ) -> BackendResult<RestoreReport> {
        drop(self.record(Call::Restore(request.clone()))?);
        if request.confirmation != RESTORE_PHRASE {
            return Err(BackendError::Invalid(
                "Confirmation must be CONFIRM RESTORE.".to_owned(),
            ));
        }
        if request.password != ADMIN_PASSWORD {
            return Err(BackendError::Denied(
                "Wrong admin password; nothing was changed.".to_owned(),
            ));
        }
        self.run_steps("verifying", progress);
        Ok(RestoreReport {
            signer_fingerprint: OWN_FP.to_owned(),
            signer_label: "this instance".to_owned(),
            bytes: 12_900_000,
        })
    }

    fn signing_key(&mut self) -> BackendResult<SigningKey> {
        drop(self.record(Call::SigningKey)?);
        Ok(SigningKey {
            fingerprint: OWN_FP.to_owned(),
            public_key_pem: "-----BEGIN PUBLIC KEY-----\n\
                MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEq1w9nWc7rYd2C0HkJpX8Yv1Zb0Tg\n\
                3m4q8s1Vx0cW5oR2Jf7KpLd9eQa6Uz3Hn4Mi1Bt8Xy2Ck5Lw0Ps7Ro9Aa==\n\
                -----END PUBLIC KEY-----"
                .to_owned(),
        })
    }

    fn list_signers(&mut self) -> BackendResult<Vec<TrustedSigner>> {
        Ok(self.record(Call::ListSigners)?.signers.clone())
    }

    fn add_signer(&mut self, label: &str, pem_file: &Path) -> BackendResult<TrustedSigner> {
        let mut st = self.record(Call::AddSigner(label.to_owned(), pem_file.to_owned()))?;
        let s = TrustedSigner {
            fingerprint: format!("{:064x}", st.signers.len() + 0xabc),
            label: label.to_owned(),
            added_at: "2026-11-23T10:00:00Z".to_owned(),
        };
        st.signers.push(s.clone());
        Ok(s)
    }

    fn remove_signer(&mut self, fingerprint: &str) -> BackendResult<()> {
        let mut st = self.record(Call::RemoveSigner(fingerprint.to_owned()))?;
        let before = st.signers.len();
        st.signers.retain(|s| s.fingerprint != fingerprint);
        if st.signers.len() == before {
            return Err(BackendError::NotFound(format!(
                "No trusted signer {fingerprint}."
            )));
        }
        Ok(())
    }

    fn list_orgs(&mut self) -> BackendResult<Vec<OrgSummary>> {
        let st = self.record(Call::ListOrgs)?;
        assert!(
            !st.panic_on_list_orgs,
            "fake backend: injected panic in list_orgs"
        );
        Ok(st.orgs.clone())
    }

    fn create_org(&mut self, new: &NewOrg) -> BackendResult<OrgSummary> {
        let mut st = self.record(Call::CreateOrg(new.clone()))?;
        let slug = new.slug.clone().unwrap_or_else(|| slugify(&new.name));
        if st.orgs.iter().any(|o| o.slug == slug) {
            return Err(BackendError::Conflict(format!(
                "an organization with slug {slug:?} already exists"
            )));
        }
        let active = st.orgs.iter().filter(|o| !o.shredded).count() as u64;
        if let Some(max) = st.license.max_orgs
            && active >= max
        {
            return Err(BackendError::Denied(format!(
                "organization limit reached: the license allows {max} organization(s) and {active} exist"
            )));
        }
        st.next_id += 1;
        let mut o = org(
            &format!("o-{}", st.next_id),
            &slug,
            new.name.trim(),
            true,
            "2026-11-23T10:30:00Z",
        );
        o.description = new.description.clone();
        st.orgs.push(o.clone());
        Ok(o)
    }

    fn update_org(&mut self, slug: &str, patch: &OrgPatch) -> BackendResult<OrgSummary> {
        let mut st = self.record(Call::UpdateOrg(slug.to_owned(), patch.clone()))?;
        let o = st.org_mut(slug)?;
        if o.shredded {
            return Err(BackendError::Conflict(format!(
                "organization {slug:?} was crypto-shredded; it can only be deleted"
            )));
        }
        if let Some(n) = &patch.name {
            o.name = n.clone();
        }
        if let Some(d) = &patch.description {
            o.description = d.clone();
        }
        if let Some(v) = patch.max_workspaces {
            o.max_workspaces = v;
        }
        if let Some(v) = patch.max_members {
            o.max_members = v;
        }
        Ok(o.clone())
    }

    fn delete_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()> {
        let mut st = self.record(Call::DeleteOrg(slug.to_owned(), confirmation.to_owned()))?;
        if slug != confirmation {
            return Err(BackendError::Invalid(format!(
                "confirmation does not match: type exactly {slug:?}"
            )));
        }
        st.org_mut(slug)?;
        st.orgs.retain(|o| o.slug != slug);
        st.org_members.retain(|(s, _)| s != slug);
        st.org_workspaces.retain(|(s, _)| s != slug);
        Ok(())
    }

    fn isolate_org(&mut self, slug: &str) -> BackendResult<IsolationReport> {
        let delay = {
            let mut st = self.record(Call::IsolateOrg(slug.to_owned()))?;
            let o = st.org_mut(slug)?;
            if o.shredded {
                return Err(BackendError::Conflict(
                    "the organization was crypto-shredded; there is nothing to isolate".into(),
                ));
            }
            st.isolate_delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let mut st = self.state();
        let workspaces = st.org_workspaces.iter().filter(|(s, _)| s == slug).count() as u64;
        let o = st.org_mut(slug)?;
        let moved = !o.isolated;
        o.isolated = true;
        Ok(IsolationReport {
            workspaces,
            rows_moved: if moved { 40 * workspaces } else { 0 },
            moved,
        })
    }

    fn shred_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()> {
        let mut st = self.record(Call::ShredOrg(slug.to_owned(), confirmation.to_owned()))?;
        if slug != confirmation {
            return Err(BackendError::Invalid(
                "Confirmation does not match the slug.".to_owned(),
            ));
        }
        let org = st.org_mut(slug)?;
        if !org.isolated {
            return Err(BackendError::Conflict(format!(
                "organization {slug:?} has no separate encrypted database, so it cannot be crypto-shredded"
            )));
        }
        org.shredded = true;
        org.isolated = false;
        Ok(())
    }

    fn org_members(&mut self, slug: &str) -> BackendResult<Vec<OrgMember>> {
        let mut st = self.record(Call::OrgMembers(slug.to_owned()))?;
        st.org_mut(slug)?;
        let mut members: Vec<OrgMember> = st
            .org_members
            .iter()
            .filter(|(s, _)| s == slug)
            .map(|(_, m)| m.clone())
            .collect();
        members.sort_by_key(|m| (m.role == OrgRole::Member, m.email.clone()));
        Ok(members)
    }

    fn org_workspaces(&mut self, slug: &str) -> BackendResult<Vec<OrgWorkspace>> {
        let mut st = self.record(Call::OrgWorkspaces(slug.to_owned()))?;
        st.org_mut(slug)?;
        Ok(st
            .org_workspaces
            .iter()
            .filter(|(s, _)| s == slug)
            .map(|(_, w)| w.clone())
            .collect())
    }

    fn set_org_member(
        &mut self,
        slug: &str,
        email: &str,
        role: OrgRole,
    ) -> BackendResult<OrgMember> {
        let mut st = self.record(Call::SetOrgMember(slug.to_owned(), email.to_owned(), role))?;
        let o = st.org_mut(slug)?.clone();
        let user = st
            .users
            .iter()
            .find(|u| u.email == email)
            .cloned()
            .ok_or_else(|| BackendError::NotFound(format!("no account with email {email:?}")))?;
        if let Some((_, m)) = st
            .org_members
            .iter_mut()
            .find(|(s, m)| s == slug && m.user_id == user.id)
        {
            m.role = role;
            return Ok(m.clone());
        }
        if o.max_members > 0 && o.member_count >= o.max_members {
            return Err(BackendError::Denied(format!(
                "member limit reached: organization {:?} allows max_members = {} and has {}",
                o.name, o.max_members, o.member_count
            )));
        }
        let m = member(&user, role);
        st.org_members.push((slug.to_owned(), m.clone()));
        st.recount();
        Ok(m)
    }

    fn remove_org_member(&mut self, slug: &str, user_id: &str) -> BackendResult<()> {
        let mut st = self.record(Call::RemoveOrgMember(slug.to_owned(), user_id.to_owned()))?;
        let before = st.org_members.len();
        st.org_members
            .retain(|(s, m)| !(s == slug && m.user_id == user_id));
        if st.org_members.len() == before {
            return Err(BackendError::NotFound("member not found".to_owned()));
        }
        st.recount();
        Ok(())
    }

    fn maintenance(&mut self) -> BackendResult<MaintenanceState> {
        Ok(self.record(Call::Maintenance)?.maintenance.clone())
    }

    fn enable_maintenance(&mut self, reason: &str) -> BackendResult<MaintenanceState> {
        let mut st = self.record(Call::EnableMaintenance(reason.to_owned()))?;
        st.maintenance = MaintenanceState {
            active: true,
            reason: Some(reason.to_owned()),
            tripped_at: Some("2026-11-23T10:20:00Z".to_owned()),
        };
        Ok(st.maintenance.clone())
    }

    fn check_databases(&mut self) -> BackendResult<Vec<DatabaseCheck>> {
        drop(self.record(Call::CheckDatabases)?);
        Ok(vec![
            DatabaseCheck {
                name: "platform".into(),
                path: "/var/lib/rampart/platform.db".into(),
                ok: true,
                summary: "schema 12/12, integrity ok, foreign keys ok, 3 model(s) whole".into(),
            },
            DatabaseCheck {
                name: "org acme".into(),
                path: "/var/lib/rampart/orgs/org_1.db".into(),
                ok: false,
                summary: "integrity_check: 1 problem(s), first: page 7: btree corrupt".into(),
            },
        ])
    }

    fn clear_maintenance(&mut self) -> BackendResult<MaintenanceState> {
        let mut st = self.record(Call::ClearMaintenance)?;
        st.maintenance = MaintenanceState {
            active: false,
            reason: None,
            tripped_at: None,
        };
        Ok(st.maintenance.clone())
    }

    fn llm_ops(&mut self) -> BackendResult<LlmOps> {
        let st = self.record(Call::LlmOps)?;
        Ok(fake_llm_ops(&st.calls))
    }

    fn clear_llm_cache(&mut self) -> BackendResult<u64> {
        let st = self.record(Call::ClearLlmCache)?;
        let cleared_before = st
            .calls
            .iter()
            .filter(|c| **c == Call::ClearLlmCache)
            .count()
            > 1;
        Ok(if cleared_before { 0 } else { 42 })
    }

    fn rewrap_kms(&mut self) -> BackendResult<LlmOps> {
        let st = self.record(Call::RewrapKms)?;
        Ok(fake_llm_ops(&st.calls))
    }

    fn credit_accounts(&mut self) -> BackendResult<Vec<CreditAccount>> {
        let st = self.record(Call::CreditAccounts)?;
        Ok(st.credits.clone())
    }

    fn set_credit_allowance(
        &mut self,
        kind: CreditKind,
        key: &str,
        allowance: Option<i64>,
        reason: &str,
    ) -> BackendResult<CreditAccount> {
        let mut st = self.record(Call::SetCreditAllowance(
            kind,
            key.to_owned(),
            allowance,
            reason.to_owned(),
        ))?;
        let a = credit_mut(&mut st, kind, key)?;
        a.allowance = allowance;
        a.balance = allowance.map(|n| n - a.used);
        Ok(a.clone())
    }

    fn adjust_credits(
        &mut self,
        kind: CreditKind,
        key: &str,
        amount: i64,
        note: &str,
    ) -> BackendResult<String> {
        let mut st = self.record(Call::AdjustCredits(
            kind,
            key.to_owned(),
            amount,
            note.to_owned(),
        ))?;
        if amount < 0 && note.trim().is_empty() {
            return Err(BackendError::Invalid(
                "reason: a reason is required for a deduction".into(),
            ));
        }
        let a = credit_mut(&mut st, kind, key)?;
        a.balance = a.balance.map(|b| b + amount);
        Ok(if amount > 0 {
            format!("+{amount} credits to {}", a.label)
        } else {
            format!("{amount} credits from {}", a.label)
        })
    }

    fn recent_events(&mut self, limit: usize) -> BackendResult<Vec<LogLine>> {
        let st = self.record(Call::RecentEvents(limit))?;
        let skip = st.events.len().saturating_sub(limit);
        Ok(st.events[skip..].to_vec())
    }
}

fn credit_mut<'a>(
    st: &'a mut FakeState,
    kind: CreditKind,
    key: &str,
) -> BackendResult<&'a mut CreditAccount> {
    st.credits
        .iter_mut()
        .find(|a| a.kind == kind && a.key == key)
        .ok_or_else(|| BackendError::NotFound(format!("no credit account {key:?}")))
}

/// LLM facts of the fake: 42 cached answers until a clear, Transit key version 1 plus one
/// per rewrap.
fn fake_llm_ops(calls: &[Call]) -> LlmOps {
    let cleared = calls.contains(&Call::ClearLlmCache);
    let rewraps = calls.iter().filter(|c| **c == Call::RewrapKms).count() as u64;
    LlmOps {
        cache_entries: if cleared { 0 } else { 42 },
        cache_bytes: if cleared { 0 } else { 86_016 },
        hit_rate: Some("25.0%".into()),
        tokens_30d: 120_000,
        cost_30d: "0.1200 USD".into(),
        kms_provider: "vault".into(),
        kms_key_version: Some(1 + rewraps),
    }
}
