//! The terminal UI's backend: implements `rampart_tui::AdminBackend` over the same services
//! the admin CLI and `/api/admin/*` use ([`AdminService`] and [`AuthService`]), so no
//! operation exists twice. Only type mapping lives here.

use std::path::Path;

use rampart_tui as ui;
use ui::{BackendError, BackendResult};

use super::cli::{operator, restore_authority};
use super::{AdminService, LicenseState, RestoreRequest};
use crate::auth::{AuthService, Role};
use crate::config::Config;
use crate::credits::{self, CreditService, Subject, SubjectKind};
use crate::tenancy::OrgRole;

/// Everything the TUI talks to.
pub struct TuiBackend {
    admin: AdminService,
    auth: AuthService,
    credits: CreditService,
    config: std::sync::Arc<Config>,
}

impl TuiBackend {
    /// Builds the backend over opened services.
    pub fn new(
        admin: AdminService,
        auth: AuthService,
        credits: CreditService,
        config: std::sync::Arc<Config>,
    ) -> Self {
        Self {
            admin,
            auth,
            credits,
            config,
        }
    }
}

const ACTOR: &str = "tui";

impl TuiBackend {
    /// Cache, 30-day usage with its estimated cost, and the KMS state (asks Vault).
    fn llm_ops_now(&self) -> BackendResult<ui::LlmOps> {
        use crate::engine::llm::{Prices, UsageFilter, usage_report};
        let stats = self.admin.cache_stats(None).map_err(admin_err)?;
        let prices = Prices::of(&self.config.llm);
        let filter = UsageFilter {
            from: Some(chrono::Utc::now() - chrono::Duration::days(30)),
            ..UsageFilter::default()
        };
        let rows = {
            let conn = self.admin.conn().map_err(admin_err)?;
            usage_report(&conn, &filter, prices)
                .map_err(|e| ui::BackendError::Failed(e.to_string()))?
        };
        let tokens: i64 = rows.iter().map(|r| r.total_tokens).sum();
        let cost: f64 = rows.iter().map(|r| r.estimated_cost).sum();
        let kms = self.admin.kms_status().map_err(admin_err)?;
        Ok(ui::LlmOps {
            cache_entries: stats.entries,
            cache_bytes: stats.size_bytes,
            hit_rate: stats.hit_rate.map(|r| format!("{:.1}%", r * 100.0)),
            tokens_30d: u64::try_from(tokens).unwrap_or(0),
            cost_30d: format!("{cost:.4} {}", self.config.llm.price_currency),
            kms_provider: kms.provider,
            kms_key_version: kms.key_version,
        })
    }
}

fn credits_err(e: credits::Error) -> BackendError {
    let msg = e.to_string();
    match e {
        credits::Error::NotFound(_) => BackendError::NotFound(msg),
        credits::Error::Invalid { .. } => BackendError::Invalid(msg),
        credits::Error::Forbidden(_) => BackendError::Denied(msg),
        credits::Error::Store(_) => BackendError::Failed(msg),
    }
}

fn account_to_ui(
    kind: ui::CreditKind,
    key: String,
    label: String,
    b: &credits::Balance,
) -> ui::CreditAccount {
    ui::CreditAccount {
        kind,
        key,
        label,
        allowance: b.monthly_allowance,
        used: b.used,
        balance: b.balance,
    }
}

impl TuiBackend {
    fn credit_subject(&self, kind: ui::CreditKind, key: &str) -> BackendResult<Subject> {
        match kind {
            ui::CreditKind::User => self.credits.find_user(key),
            ui::CreditKind::Org => self.credits.find_org(key),
        }
        .map_err(credits_err)
    }

    fn credit_account(&self, s: &Subject, key: &str) -> BackendResult<ui::CreditAccount> {
        let (kind, b) = match s.kind {
            SubjectKind::User => (ui::CreditKind::User, self.credits.user_balance(&s.id)),
            SubjectKind::Org => (ui::CreditKind::Org, self.credits.org_balance(&s.id)),
        };
        let b = b.map_err(credits_err)?;
        Ok(account_to_ui(kind, key.to_string(), s.label.clone(), &b))
    }
}

fn admin_err(e: super::Error) -> BackendError {
    use super::ErrorKind as K;
    let msg = e.to_string();
    match e.kind() {
        K::BadRequest => BackendError::Invalid(msg),
        K::Unauthorized | K::Forbidden => BackendError::Denied(msg),
        K::NotFound => BackendError::NotFound(msg),
        K::Conflict => BackendError::Conflict(msg),
        K::Internal => BackendError::Failed(msg),
    }
}

fn auth_err(e: crate::auth::Error) -> BackendError {
    use crate::auth::Error as E;
    let msg = e.to_string();
    match e {
        E::Invalid { .. } => BackendError::Invalid(msg),
        E::NotFound(_) | E::Gone(_) => BackendError::NotFound(msg),
        E::Conflict(_) => BackendError::Conflict(msg),
        E::Forbidden(_)
        | E::InvalidCredentials
        | E::Unauthenticated(_)
        | E::Throttled(_)
        | E::MfaEnrollmentRequired => BackendError::Denied(msg),
        E::Store(_) | E::Internal(_) | E::Busy(_) => BackendError::Failed(msg),
    }
}

fn role_to_ui(r: Role) -> ui::Role {
    match r {
        Role::User => ui::Role::User,
        Role::Admin => ui::Role::Admin,
        Role::Superadmin => ui::Role::Superadmin,
    }
}

fn role_name(r: ui::Role) -> &'static str {
    match r {
        ui::Role::User => "user",
        ui::Role::Admin => "admin",
        ui::Role::Superadmin => "superadmin",
    }
}

fn user_to_ui(u: crate::auth::users::User) -> ui::UserSummary {
    ui::UserSummary {
        id: u.id,
        email: u.email,
        name: u.display_name,
        role: role_to_ui(u.role),
        disabled: u.disabled,
        totp: u.totp_enabled,
        webauthn_keys: u.webauthn_keys,
        created_at: u.created_at,
    }
}

fn progress_to_ui(p: super::backup::Progress) -> ui::Progress {
    ui::Progress {
        stage: format!("{:?}", p.phase).to_lowercase(),
        done: p.done,
        total: (p.total > 0).then_some(p.total),
    }
}

impl ui::AdminBackend for TuiBackend {
    fn overview(&mut self) -> BackendResult<ui::Overview> {
        let db = self.admin.platform_db_path();
        let users = self.auth.list_users_unchecked().map_err(auth_err)?.len() as u64;
        let instance = self
            .admin
            .instance_meta("instance_id")
            .map_err(admin_err)?
            .unwrap_or_default();
        Ok(ui::Overview {
            instance,
            data_dir: self.config.data_dir.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            user_count: users,
            db_size_bytes: std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0),
            server_reachable: None,
        })
    }

    fn setup(&mut self, r: &ui::SetupRequest) -> BackendResult<ui::UserSummary> {
        self.auth
            .setup(&r.email, &r.name, &r.password)
            .map(user_to_ui)
            .map_err(auth_err)
    }

    fn list_users(&mut self) -> BackendResult<Vec<ui::UserSummary>> {
        Ok(self
            .auth
            .list_users_unchecked()
            .map_err(auth_err)?
            .into_iter()
            .map(user_to_ui)
            .collect())
    }

    fn create_user(&mut self, u: &ui::NewUser) -> BackendResult<ui::UserSummary> {
        let role = Role::parse(role_name(u.role)).unwrap_or(Role::User);
        let new = crate::auth::users::NewUser {
            email: u.email.clone(),
            display_name: u.name.clone(),
            password: u.password.clone(),
            role: None,
        };
        self.auth
            .create_user_unchecked(None, &new, role)
            .map(user_to_ui)
            .map_err(auth_err)
    }

    fn set_role(&mut self, user_id: &str, role: ui::Role) -> BackendResult<()> {
        self.auth
            .update_user_as(None, user_id, Some(role_name(role)), None, None)
            .map(|_| ())
            .map_err(auth_err)
    }

    fn set_disabled(&mut self, user_id: &str, disabled: bool) -> BackendResult<()> {
        self.auth
            .update_user_as(None, user_id, None, Some(disabled), None)
            .map(|_| ())
            .map_err(auth_err)
    }

    fn reset_mfa(&mut self, user_id: &str) -> BackendResult<()> {
        self.auth
            .reset_mfa(None, user_id)
            .map(|_| ())
            .map_err(auth_err)
    }

    fn license(&mut self) -> BackendResult<ui::LicenseStatus> {
        let s = self.admin.license_status();
        // Only orgs that are not crypto-shredded count against max_orgs (as create enforces).
        let orgs_used = self
            .admin
            .list_orgs()
            .map_err(admin_err)?
            .iter()
            .filter(|o| o.shredded_at.is_none())
            .count() as u64;
        let workspaces_used = self.admin.count_shared_workspaces().map_err(admin_err)?;
        Ok(ui::LicenseStatus {
            state: match s.state {
                LicenseState::Valid => ui::LicenseState::Valid,
                LicenseState::Expired => ui::LicenseState::Expired,
                LicenseState::Invalid => ui::LicenseState::Invalid,
                LicenseState::Missing => ui::LicenseState::Missing,
            },
            licensee: s.licensee,
            expires_at: s.expires_at,
            max_workspaces: Some(s.effective_max_workspaces),
            max_orgs: Some(s.effective_max_orgs),
            workspaces_used,
            orgs_used,
            detail: s.reason,
        })
    }

    fn install_license(&mut self, path: &Path) -> BackendResult<ui::LicenseStatus> {
        self.admin.install_license(ACTOR, path).map_err(admin_err)?;
        self.license()
    }

    fn backup(
        &mut self,
        dest: &Path,
        progress: &mut dyn FnMut(ui::Progress),
    ) -> BackendResult<ui::BackupReport> {
        let path = if dest.is_dir() {
            super::backup::backup_path_in(dest, chrono::Utc::now())
        } else {
            dest.to_path_buf()
        };
        let s = self
            .admin
            .backup_to_file(ACTOR, &path, &mut |p| progress(progress_to_ui(p)))
            .map_err(admin_err)?;
        Ok(ui::BackupReport {
            path,
            bytes: s.bytes,
            signer_fingerprint: s.signer_fingerprint,
        })
    }

    fn restore(
        &mut self,
        r: &ui::RestoreRequest,
        progress: &mut dyn FnMut(ui::Progress),
    ) -> BackendResult<ui::RestoreReport> {
        let (actor, note, check) =
            restore_authority(&self.auth, "tui", Some(&r.email)).map_err(admin_err)?;
        let request = RestoreRequest {
            confirmation: r.confirmation.clone(),
            password: Some(r.password.clone()),
            actor,
            note,
        };
        let s = self
            .admin
            .restore(&r.path, &request, check.as_ref(), &mut |p| {
                progress(progress_to_ui(p))
            })
            .map_err(admin_err)?;
        Ok(ui::RestoreReport {
            signer_fingerprint: s.signer.signer_fingerprint,
            signer_label: s.signer.signer_label,
            bytes: s.plaintext_bytes,
        })
    }

    fn signing_key(&mut self) -> BackendResult<ui::SigningKey> {
        let k = self.admin.signing_key();
        Ok(ui::SigningKey {
            fingerprint: k.fingerprint,
            public_key_pem: k.public_key_pem,
        })
    }

    fn list_signers(&mut self) -> BackendResult<Vec<ui::TrustedSigner>> {
        Ok(self
            .admin
            .list_trusted_signers()
            .map_err(admin_err)?
            .into_iter()
            .map(|s| ui::TrustedSigner {
                fingerprint: s.fingerprint,
                label: s.label,
                added_at: s.added_at,
            })
            .collect())
    }

    fn add_signer(&mut self, label: &str, pem_file: &Path) -> BackendResult<ui::TrustedSigner> {
        let pem = std::fs::read_to_string(pem_file).map_err(|e| {
            BackendError::Invalid(format!("cannot read {}: {e}", pem_file.display()))
        })?;
        let s = self
            .admin
            .add_trusted_signer(&operator(ACTOR), label, &pem)
            .map_err(admin_err)?;
        Ok(ui::TrustedSigner {
            fingerprint: s.fingerprint,
            label: s.label,
            added_at: s.added_at,
        })
    }

    fn remove_signer(&mut self, fingerprint: &str) -> BackendResult<()> {
        self.admin
            .remove_trusted_signer(&operator(ACTOR), fingerprint)
            .map_err(admin_err)
    }

    fn list_orgs(&mut self) -> BackendResult<Vec<ui::OrgSummary>> {
        Ok(self
            .admin
            .list_orgs()
            .map_err(admin_err)?
            .into_iter()
            .map(org_to_ui)
            .collect())
    }

    fn create_org(&mut self, org: &ui::NewOrg) -> BackendResult<ui::OrgSummary> {
        let new = super::NewOrg {
            name: org.name.clone(),
            slug: org.slug.clone(),
            description: org.description.clone(),
        };
        self.admin
            .create_org(ACTOR, &new)
            .map(org_to_ui)
            .map_err(admin_err)
    }

    fn update_org(&mut self, slug: &str, patch: &ui::OrgPatch) -> BackendResult<ui::OrgSummary> {
        let patch = super::orgs::OrgPatch {
            name: patch.name.clone(),
            description: patch.description.clone(),
            max_workspaces: patch.max_workspaces,
            max_members: patch.max_members,
        };
        self.admin
            .update_org(ACTOR, slug, &patch)
            .map(org_to_ui)
            .map_err(admin_err)
    }

    fn delete_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()> {
        self.admin
            .delete_org(ACTOR, slug, confirmation)
            .map_err(admin_err)
    }

    fn isolate_org(&mut self, slug: &str) -> BackendResult<ui::IsolationReport> {
        let r = self.admin.isolate_org(ACTOR, slug).map_err(admin_err)?;
        Ok(ui::IsolationReport {
            workspaces: r.workspaces as u64,
            rows_moved: r.rows_moved,
            moved: r.moved,
        })
    }

    fn shred_org(&mut self, slug: &str, confirmation: &str) -> BackendResult<()> {
        self.admin
            .shred_org(ACTOR, slug, confirmation)
            .map(|_| ())
            .map_err(admin_err)
    }

    fn org_members(&mut self, slug: &str) -> BackendResult<Vec<ui::OrgMember>> {
        Ok(self
            .admin
            .org_members(slug)
            .map_err(admin_err)?
            .into_iter()
            .map(member_to_ui)
            .collect())
    }

    fn org_workspaces(&mut self, slug: &str) -> BackendResult<Vec<ui::OrgWorkspace>> {
        Ok(self
            .admin
            .org_workspaces(slug)
            .map_err(admin_err)?
            .into_iter()
            .map(|w| ui::OrgWorkspace {
                id: w.id,
                name: w.name,
                member_count: w.member_count,
                created_at: w.created_at,
            })
            .collect())
    }

    fn set_org_member(
        &mut self,
        slug: &str,
        email: &str,
        role: ui::OrgRole,
    ) -> BackendResult<ui::OrgMember> {
        let role = match role {
            ui::OrgRole::Member => OrgRole::Member,
            ui::OrgRole::OrgAdmin => OrgRole::OrgAdmin,
        };
        self.admin
            .set_org_member(ACTOR, slug, email, role)
            .map(member_to_ui)
            .map_err(admin_err)
    }

    fn remove_org_member(&mut self, slug: &str, user_id: &str) -> BackendResult<()> {
        self.admin
            .remove_org_member(ACTOR, slug, user_id)
            .map_err(admin_err)
    }

    fn maintenance(&mut self) -> BackendResult<ui::MaintenanceState> {
        self.admin
            .maintenance_status()
            .map(maint_to_ui)
            .map_err(admin_err)
    }

    fn enable_maintenance(&mut self, reason: &str) -> BackendResult<ui::MaintenanceState> {
        self.admin
            .enable_maintenance(ACTOR, reason)
            .map(|(s, _alert)| maint_to_ui(s))
            .map_err(admin_err)
    }

    fn clear_maintenance(&mut self) -> BackendResult<ui::MaintenanceState> {
        self.admin
            .clear_maintenance(ACTOR)
            .map(maint_to_ui)
            .map_err(admin_err)
    }

    fn check_databases(&mut self) -> BackendResult<Vec<ui::DatabaseCheck>> {
        Ok(self
            .admin
            .check_databases()
            .into_iter()
            .map(|c| ui::DatabaseCheck {
                name: c.name,
                path: c.path.display().to_string(),
                ok: c.ok,
                summary: c.summary,
            })
            .collect())
    }

    fn recent_events(&mut self, limit: usize) -> BackendResult<Vec<ui::LogLine>> {
        let mut events = self
            .admin
            .recent_events(u32::try_from(limit).unwrap_or(500))
            .map_err(admin_err)?;
        events.reverse();
        Ok(events
            .into_iter()
            .map(|e| ui::LogLine {
                at: e.at,
                level: if e.kind.contains("fail") || e.kind.contains("refus") {
                    ui::LogLevel::Warn
                } else {
                    ui::LogLevel::Info
                },
                message: format!("{} {} {} {}", e.kind, e.actor, e.subject, e.detail)
                    .trim()
                    .to_string(),
            })
            .collect())
    }

    fn llm_ops(&mut self) -> BackendResult<ui::LlmOps> {
        self.llm_ops_now()
    }

    fn clear_llm_cache(&mut self) -> BackendResult<u64> {
        let cleared = self
            .admin
            .clear_cache(&operator(ACTOR), None)
            .map_err(admin_err)?;
        Ok(cleared.removed)
    }

    fn rewrap_kms(&mut self) -> BackendResult<ui::LlmOps> {
        self.admin.kms_rewrap(&operator(ACTOR)).map_err(admin_err)?;
        self.llm_ops_now()
    }

    fn credit_accounts(&mut self) -> BackendResult<Vec<ui::CreditAccount>> {
        let mut out = Vec::new();
        for u in self.auth.list_users_unchecked().map_err(auth_err)? {
            let b = self.credits.user_balance(&u.id).map_err(credits_err)?;
            out.push(account_to_ui(
                ui::CreditKind::User,
                u.email.clone(),
                u.email,
                &b,
            ));
        }
        for o in self.admin.list_orgs().map_err(admin_err)? {
            if o.shredded_at.is_some() {
                continue;
            }
            let b = self.credits.org_balance(&o.id).map_err(credits_err)?;
            out.push(account_to_ui(ui::CreditKind::Org, o.slug, o.name, &b));
        }
        Ok(out)
    }

    fn set_credit_allowance(
        &mut self,
        kind: ui::CreditKind,
        key: &str,
        allowance: Option<i64>,
        reason: &str,
    ) -> BackendResult<ui::CreditAccount> {
        let s = self.credit_subject(kind, key)?;
        self.credits
            .set_allowance(&operator(ACTOR), &s, allowance, reason)
            .map_err(credits_err)?;
        self.credit_account(&s, key)
    }

    fn adjust_credits(
        &mut self,
        kind: ui::CreditKind,
        key: &str,
        amount: i64,
        note: &str,
    ) -> BackendResult<String> {
        let s = self.credit_subject(kind, key)?;
        let done = self
            .credits
            .adjust(&operator(ACTOR), &s, amount, note)
            .map_err(credits_err)?;
        Ok(done.summary)
    }
}

fn org_to_ui(o: super::Org) -> ui::OrgSummary {
    ui::OrgSummary {
        id: o.id,
        slug: o.slug,
        name: o.name,
        description: o.description,
        max_workspaces: o.max_workspaces,
        max_members: o.max_members,
        workspace_count: o.workspace_count,
        member_count: o.member_count,
        isolated: o.isolated,
        shredded: o.shredded_at.is_some(),
        created_at: o.created_at,
    }
}

fn member_to_ui(m: super::orgs::OrgMember) -> ui::OrgMember {
    ui::OrgMember {
        user_id: m.user_id,
        email: m.email,
        name: m.display_name,
        role: match m.role {
            OrgRole::Member => ui::OrgRole::Member,
            OrgRole::OrgAdmin => ui::OrgRole::OrgAdmin,
        },
        added_at: m.added_at,
    }
}

fn maint_to_ui(s: super::MaintenanceState) -> ui::MaintenanceState {
    ui::MaintenanceState {
        active: s.active,
        reason: s.reason,
        tripped_at: s.tripped_at,
    }
}
