//! In-memory `AdminBackend` with fixed data that records every call. Used by the screen
//! tests and by `examples/demo.rs`; it keeps the rules the real backend must keep (exact
//! restore phrase, admin password, slug confirmation, duplicate checks) so that flows can
//! be exercised end to end without the appliance.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rampart_tui::{
    AdminBackend, BackendError, BackendResult, BackupReport, LicenseState, LicenseStatus, LogLevel,
    LogLine, MaintenanceState, NewUser, OrgSummary, Overview, Progress, RESTORE_PHRASE,
    RestoreReport, RestoreRequest, Role, SetupRequest, SigningKey, TrustedSigner, UserSummary,
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
    ShredOrg(String, String),
    Maintenance,
    EnableMaintenance(String),
    ClearMaintenance,
    RecentEvents(usize),
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
                | Call::Maintenance
                | Call::RecentEvents(_)
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
    pub maintenance: MaintenanceState,
    pub events: Vec<LogLine>,
    pub calls: Vec<Call>,
    /// Returned (once) by the next mutating call.
    pub fail_next: Option<BackendError>,
    /// Sleep per progress step of backup/restore (the demo uses it to show the gauge).
    pub step_delay: Duration,
    /// Makes backup/restore panic mid-way (a backend bug the TUI must survive).
    pub panic_in_job: bool,
    /// Makes `list_orgs` panic on the UI thread (checks the terminal-restoring hook).
    pub panic_on_list_orgs: bool,
    next_id: u32,
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
        Self {
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
            orgs: vec![
                OrgSummary {
                    id: "o-1".to_owned(),
                    slug: "acme-platform".to_owned(),
                    name: "Acme Platform".to_owned(),
                    shredded: false,
                    created_at: "2026-09-01T10:00:00Z".to_owned(),
                },
                OrgSummary {
                    id: "o-2".to_owned(),
                    slug: "acme-labs".to_owned(),
                    name: "Acme Labs".to_owned(),
                    shredded: false,
                    created_at: "2026-09-15T10:00:00Z".to_owned(),
                },
            ],
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
            calls: Vec::new(),
            fail_next: None,
            step_delay: Duration::ZERO,
            panic_in_job: false,
            panic_on_list_orgs: false,
            next_id: 10,
        }
    }

    /// A fresh instance: no users at all (first-run setup pending).
    pub fn empty() -> Self {
        Self {
            users: Vec::new(),
            ..Self::populated()
        }
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

    fn shred_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()> {
        let mut st = self.record(Call::ShredOrg(slug.to_owned(), confirmation.to_owned()))?;
        if slug != confirmation {
            return Err(BackendError::Invalid(
                "Confirmation does not match the slug.".to_owned(),
            ));
        }
        let org = st
            .orgs
            .iter_mut()
            .find(|o| o.slug == slug)
            .ok_or_else(|| BackendError::NotFound(format!("No org {slug}.")))?;
        org.shredded = true;
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

    fn clear_maintenance(&mut self) -> BackendResult<MaintenanceState> {
        let mut st = self.record(Call::ClearMaintenance)?;
        st.maintenance = MaintenanceState {
            active: false,
            reason: None,
            tripped_at: None,
        };
        Ok(st.maintenance.clone())
    }

    fn recent_events(&mut self, limit: usize) -> BackendResult<Vec<LogLine>> {
        let st = self.record(Call::RecentEvents(limit))?;
        let skip = st.events.len().saturating_sub(limit);
        Ok(st.events[skip..].to_vec())
    }
}
