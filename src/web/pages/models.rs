//! Model pages: `/models/new` (description box that starts a generation job), the live
//! pipeline page `/models/jobs/{id}` (six steps streamed from `/api/jobs/{id}/events` by
//! `assets/static/job.js`), and the model page `/models/{id}`: the model's entities, the
//! trust-boundary diagram ([`diagram`]), controls with notes and evidence, and the
//! conversation panel. Every change goes through a named [`crate::models::ModelService`]
//! method; nothing here re-implements domain logic.
//!
//! Forms post normally (they work without JavaScript). Success redirects back with a flash
//! message; a refusal re-renders the page with that form open, the user's input kept and
//! the error next to its field, status 422, and nothing saved.

pub(crate) mod diagram;

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect, redirect_flash};
use crate::domain::{
    AssetPatch, AttackerPatch, AttackerPosition, ControlStatus, DomainError, Level, NewAsset,
    NewAttacker, NewEvidence, PropertySet, SecurityProperty, ThreatModel, VerificationMap,
};
use crate::engine::{Intent, Step};
use crate::models::{Source, StoredModel};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/new", web::get().to(new_page))
        .route("/models/new", web::post().to(new_submit))
        .route("/models/jobs/{id}", web::get().to(job_page))
        .route("/models/{id}", web::get().to(model_page))
        .route("/models/{id}/assets", web::post().to(add_asset))
        .route("/models/{id}/assets/{aid}/edit", web::post().to(edit_asset))
        .route(
            "/models/{id}/assets/{aid}/remove",
            web::post().to(remove_asset),
        )
        .route("/models/{id}/attackers", web::post().to(add_attacker))
        .route(
            "/models/{id}/attackers/{aid}/edit",
            web::post().to(edit_attacker),
        )
        .route(
            "/models/{id}/attackers/{aid}/remove",
            web::post().to(remove_attacker),
        )
        .route(
            "/models/{id}/controls/{cid}/status",
            web::post().to(control_status),
        )
        .route(
            "/models/{id}/controls/{cid}/evidence",
            web::post().to(add_evidence),
        )
        .route(
            "/models/{id}/controls/{cid}/evidence/{eid}/remove",
            web::post().to(remove_evidence),
        )
        .route("/models/{id}/conversation", web::post().to(converse))
        .route("/models/{id}/jira/export", web::post().to(jira_export))
        .route(
            "/models/{id}/confluence/sync",
            web::post().to(confluence_sync),
        );
}

#[derive(Template)]
#[template(path = "model_new.html")]
struct NewTpl {
    l: Layout,
    f: FormState,
    /// The workspace's org has Jira: offer "From a Jira issue".
    jira: bool,
}

async fn new_page(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let jira = jira_available(&state, &p).await?;
    p.respond(&NewTpl {
        l: p.layout("New model", Nav::Models, ""),
        f: FormState::new(),
        jira,
    })
}

async fn jira_available(state: &Data, p: &Page) -> Result<bool, PageError> {
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    Ok(web::block(move || svc.jira_available(&caller)).await?)
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    description: String,
    #[serde(default)]
    jira_issue: String,
}

/// Why a generation did not start, for the field it belongs to.
enum NewError {
    Field(&'static str, String),
    /// The issue is modelled already: go there.
    Exists(String),
    Other(PageError),
}

async fn new_submit(state: Data, form: PageForm<NewForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let st = state.clone();
    let caller = p.caller.clone();
    let (description, issue) = (f.description.clone(), f.jira_issue.trim().to_string());
    let started = web::block(move || start_new(&st, &caller, description, issue)).await?;
    let field = match started {
        Ok(job) => return Ok(redirect(&format!("/models/jobs/{job}"))),
        Err(NewError::Exists(id)) => {
            return Ok(redirect_flash(
                &format!("/models/{id}"),
                "info",
                format!(
                    "A model was already generated from {} in this workspace; here it is.",
                    f.jira_issue.trim().to_ascii_uppercase()
                ),
            ));
        }
        Err(NewError::Other(e)) => return Err(e),
        Err(NewError::Field(field, message)) => (field, message),
    };
    let mut fs = FormState::new()
        .value("description", f.description)
        .value("jira_issue", f.jira_issue);
    fs.error(field.0, field.1);
    let jira = jira_available(&state, &p).await?;
    p.respond_status(
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
        &NewTpl {
            l: p.layout("New model", Nav::Models, ""),
            f: fs,
            jira,
        },
    )
}

/// Starts a generation from the description, or from the Jira issue when one is given;
/// returns the job id.
fn start_new(
    state: &AppState,
    caller: &crate::auth::Caller,
    description: String,
    issue: String,
) -> Result<String, NewError> {
    let (brief, origin, field) = if issue.is_empty() {
        (
            description,
            crate::models::Origin::from(Source::Web),
            "description",
        )
    } else {
        let key = crate::integrations::jira::valid_issue_key(&issue).ok_or_else(|| {
            NewError::Field(
                "jira_issue",
                "Enter a Jira issue key such as SEC-12.".into(),
            )
        })?;
        match state.models.by_source_issue(caller, &key) {
            Ok(Some(id)) => return Err(NewError::Exists(id)),
            Ok(None) => {}
            Err(e) => return Err(NewError::Other(e.into())),
        }
        use crate::integrations::Error as E;
        let found = state
            .integrations
            .source_issue(caller, &key)
            .map_err(|e| match e {
                e @ (E::Invalid { .. }
                | E::NotFound(_)
                | E::Forbidden(_)
                | E::Unavailable(_)
                | E::Upstream { .. }) => NewError::Field("jira_issue", e.to_string()),
                other => NewError::Other(integration_error(other)),
            })?;
        (
            found.brief(),
            crate::models::Origin::jira(&found.key),
            "jira_issue",
        )
    };
    match state
        .models
        .start_generation(caller, &state.jobs, state.engine.clone(), &brief, origin)
    {
        Ok(job) => Ok(job.id().to_string()),
        Err(
            e @ (crate::models::Error::Invalid { .. }
            | crate::models::Error::Domain(_)
            | crate::models::Error::RateLimited(_)
            | crate::models::Error::CreditsExhausted(_)),
        ) => Err(NewError::Field(field, e.to_string())),
        Err(e) => Err(NewError::Other(e.into())),
    }
}

/// One pipeline step as the job page first renders it: from the job's recorded events, so a
/// page opened (or reloaded) after steps finished shows them finished, with or without JS.
struct StepView {
    name: &'static str,
    /// `pending`, `running` or `done` (the CSS class suffix and the visible state).
    state: &'static str,
    summary: String,
    thought: String,
}

/// The steps of a generation job as far as its recorded `events` go.
fn step_views(events: &[crate::jobs::Event]) -> Vec<StepView> {
    let mut steps: Vec<StepView> = Step::PIPELINE
        .iter()
        .map(|s| StepView {
            name: s.label(),
            state: "pending",
            summary: String::new(),
            thought: String::new(),
        })
        .collect();
    for event in events {
        let (n, state, text) = match event {
            crate::jobs::Event::StepStart { step, .. } => (*step, "running", None),
            crate::jobs::Event::StepResult {
                step,
                summary,
                thought,
                ..
            } => (*step, "done", Some((summary, thought))),
            _ => continue,
        };
        let Some(view) = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| steps.get_mut(i))
        else {
            continue;
        };
        view.state = state;
        if let Some((summary, thought)) = text {
            view.summary.clone_from(summary);
            view.thought.clone_from(thought);
        }
    }
    steps
}

#[derive(Template)]
#[template(path = "model_job.html")]
struct JobTpl {
    l: Layout,
    job_id: String,
    steps: Vec<StepView>,
    /// Model id when the job already finished.
    model_id: Option<String>,
    error: Option<String>,
}

async fn job_page(
    state: Data,
    p: Page,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let (snap, events, _) = state
        .jobs
        .subscribe(&id, &p.caller.workspace_id)
        .filter(|(s, _, _)| s.kind == "generate_threat_model")
        .ok_or_else(PageError::not_found)?;
    let model_id = snap
        .result
        .as_ref()
        .and_then(|r| r.get("model_id"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    p.respond(&JobTpl {
        l: p.layout("Generating a model", Nav::Models, ""),
        job_id: snap.job_id,
        steps: step_views(&events),
        model_id,
        error: snap.error,
    })
}

/// The snake_case wire name of an enum value (e.g. `not_implemented`), as the API shows it.
fn wire(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The form of the model page a failed submission re-renders: its kind (`add-asset`,
/// `edit-asset`, `remove-asset`, `add-attacker`, `edit-attacker`, `remove-attacker`,
/// `control`, `evidence`, `converse`), the entity id it belongs to ("" for add forms), and
/// the submitted values with their inline errors.
struct OpenForm {
    kind: &'static str,
    id: String,
    fs: FormState,
}

#[derive(Template)]
#[template(path = "model.html")]
struct ModelTpl {
    l: Layout,
    s: StoredModel,
    verification: VerificationMap,
    positions: Vec<String>,
    statuses: Vec<String>,
    /// Trust-boundary diagram (escaped SVG markup); `None` = no boundaries yet.
    diagram: Option<String>,
    /// Conversation history, oldest first.
    messages: Vec<crate::models::Message>,
    /// Mode chooser of the conversation panel: (value, label).
    modes: Vec<(&'static str, &'static str)>,
    max_message: usize,
    open: Option<OpenForm>,
    /// Jira issues, Confluence page and open integration work of the model.
    integ: crate::integrations::ModelIntegrations,
}

impl ModelTpl {
    fn m(&self) -> &ThreatModel {
        &self.s.model
    }

    fn props(&self, p: &PropertySet) -> String {
        crate::domain::format_properties(p)
    }

    fn wire<T: serde::Serialize>(&self, v: &T) -> String {
        wire(v)
    }

    fn name_of(&self, id: &str) -> String {
        let m = &self.s.model;
        m.assets
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.name.clone())
            .or_else(|| {
                m.attackers
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| a.name.clone())
            })
            .unwrap_or_else(|| id.to_string())
    }

    fn verification_of(&self, control_id: &str) -> String {
        self.verification
            .get(control_id)
            .map(wire)
            .unwrap_or_else(|| "unverified".into())
    }

    fn label(&self, wire: &str) -> String {
        wire.replace('_', " ")
    }

    fn form(&self, kind: &str, id: &str) -> Option<&FormState> {
        self.open
            .as_ref()
            .filter(|o| o.kind == kind && o.id == id)
            .map(|o| &o.fs)
    }

    /// True when this form is the one re-rendered with errors (its `<details>` opens).
    fn is_open(&self, kind: &str, id: &str) -> bool {
        self.form(kind, id).is_some()
    }

    /// The inline error of a field of a form.
    fn err(&self, kind: &str, id: &str, field: &str) -> Option<String> {
        self.form(kind, id)
            .and_then(|f| f.err(field))
            .map(str::to_string)
    }

    /// The submitted value of a field when the form is re-rendered, else `default`.
    fn val(&self, kind: &str, id: &str, field: &str, default: &str) -> String {
        match self.form(kind, id) {
            Some(f) => f.val(field).to_string(),
            None => default.to_string(),
        }
    }

    /// Whether a C/I/A/U checkbox is ticked: as submitted, else from the entity.
    fn checked(&self, kind: &str, id: &str, letter: &str, p: &PropertySet) -> bool {
        match self.form(kind, id) {
            Some(f) => !f.val(&letter.to_ascii_lowercase()).is_empty(),
            None => p.iter().any(|x| x.letter().to_string() == letter),
        }
    }

    fn evidence_count(&self, c: &crate::domain::Control) -> usize {
        c.evidence.len()
    }

    /// The Jira issue linked to a control, if any.
    fn jira_of(&self, control_id: &str) -> Option<&crate::integrations::queue::JiraLink> {
        self.integ
            .jira
            .issues
            .iter()
            .find(|l| l.control_id == control_id)
    }
}

/// Loads everything the model page shows, with `open` as the re-rendered form (if any).
async fn load_model(
    state: &Data,
    p: &Page,
    id: String,
    open: Option<OpenForm>,
) -> Result<ModelTpl, PageError> {
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let (s, verification, messages) = web::block(move || {
        let s = svc.get(&caller, &id)?;
        let v = svc.verification(&caller, &id)?;
        let msgs = svc.conversation(&caller, &id)?;
        Ok::<_, crate::models::Error>((s, v, msgs))
    })
    .await??;
    let integrations = state.integrations.clone();
    let caller = p.caller.clone();
    let model_id = s.model.id.clone();
    let integ = web::block(move || integrations.model_status(&caller, &model_id))
        .await?
        .map_err(integration_error)?;
    let diagram = diagram::render(&s.model);
    Ok(ModelTpl {
        l: p.layout(s.model.title.clone(), Nav::Models, ""),
        s,
        verification,
        positions: [
            AttackerPosition::External,
            AttackerPosition::Adjacent,
            AttackerPosition::Internal,
            AttackerPosition::Insider,
            AttackerPosition::SupplyChain,
            AttackerPosition::Physical,
        ]
        .iter()
        .map(wire)
        .collect(),
        statuses: [
            ControlStatus::NotImplemented,
            ControlStatus::InProgress,
            ControlStatus::Implemented,
            ControlStatus::NotApplicable,
        ]
        .iter()
        .map(wire)
        .collect(),
        diagram,
        messages,
        modes: MODES.to_vec(),
        max_message: crate::models::conversation::MAX_MESSAGE,
        open,
        integ,
    })
}

/// A failure of the integration service as a page error (404 for another tenant's model).
fn integration_error(e: crate::integrations::Error) -> PageError {
    use crate::integrations::Error as E;
    match e {
        E::NotFound(_) => PageError::not_found(),
        E::Forbidden(m) => PageError::forbidden(m),
        E::Gone(m) => PageError::Status {
            status: actix_web::http::StatusCode::GONE,
            title: "Data destroyed",
            message: m,
        },
        other => PageError::internal(other),
    }
}

#[derive(Deserialize)]
struct Empty {}

/// "Export to Jira" / "Sync to Confluence": runs the work now and says what happened; a
/// site that is down leaves it queued (retried by the server), a refusal says what to fix.
async fn run_integration(
    state: Data,
    form: PageForm<Empty>,
    path: web::Path<String>,
    jira: bool,
) -> Result<HttpResponse, PageError> {
    use crate::integrations::Error as E;
    let p = form.page;
    let id = path.into_inner();
    let back = format!("/models/{id}#integrations");
    let svc = state.integrations.clone();
    let caller = p.caller.clone();
    let model = id.clone();
    let outcome = web::block(move || {
        if jira {
            svc.export_jira(&caller, &model)
        } else {
            svc.sync_confluence(&caller, &model)
        }
    })
    .await?;
    let product = if jira { "Jira" } else { "Confluence" };
    Ok(match outcome {
        Ok(o) if o.status == "done" => {
            let r = &o.result;
            let msg = if jira {
                format!(
                    "Exported to Jira: {} created, {} updated, {} unchanged.",
                    r["created"], r["updated"], r["unchanged"]
                )
            } else {
                format!("Synced to Confluence (page version {}).", r["version"])
            };
            redirect_flash(&back, "success", msg)
        }
        Ok(o) => redirect_flash(
            &back,
            "info",
            format!(
                "{product} did not answer ({}); the work is queued and retried automatically.",
                o.error.unwrap_or_default()
            ),
        ),
        Err(E::Upstream { message, .. } | E::Unavailable(message)) => {
            redirect_flash(&back, "error", message)
        }
        Err(e) => return Err(integration_error(e)),
    })
}

async fn jira_export(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    run_integration(state, form, path, true).await
}

async fn confluence_sync(
    state: Data,
    path: web::Path<String>,
    form: PageForm<Empty>,
) -> Result<HttpResponse, PageError> {
    run_integration(state, form, path, false).await
}

async fn model_page(
    state: Data,
    p: Page,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let tpl = load_model(&state, &p, path.into_inner(), None).await?;
    p.respond(&tpl)
}

/// Re-renders the model page with one form open, its input kept and its errors inline:
/// status 422, nothing was changed.
async fn invalid(
    state: &Data,
    p: &Page,
    id: String,
    kind: &'static str,
    entity: String,
    fs: FormState,
) -> Result<HttpResponse, PageError> {
    let tpl = load_model(
        state,
        p,
        id,
        Some(OpenForm {
            kind,
            id: entity,
            fs,
        }),
    )
    .await?;
    p.respond_status(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, &tpl)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// "name", "must not be empty" → "Name must not be empty."
fn field_sentence(field: &str, reason: &str) -> String {
    let reason = reason.trim().trim_end_matches('.');
    let lower = reason.chars().next().is_some_and(char::is_lowercase);
    let label = capitalize(&field.replace('_', " "));
    if reason.starts_with("at most ") {
        format!("{label} must be {reason}.")
    } else if lower {
        format!("{label} {reason}.")
    } else {
        format!("{reason}.")
    }
}

/// Puts a service refusal next to the field it names (`fields` are the form's field names;
/// anything else lands on `general`). Unknown entities and storage failures are not form
/// errors and come back as the page error to show.
fn absorb(fs: &mut FormState, err: crate::models::Error, fields: &[&str]) -> Result<(), PageError> {
    use crate::models::Error as E;
    let place = |fs: &mut FormState, field: &str, message: String| {
        let target = if fields.contains(&field) {
            field
        } else {
            "general"
        };
        fs.error(target, message);
    };
    match err {
        E::Domain(d) => match d.root() {
            DomainError::Invalid { field, reason } => {
                let last = field.rsplit('.').next().unwrap_or(field);
                let name = match last {
                    "implementation_notes" => "notes",
                    "properties" | "threatens" => "props",
                    other => other,
                };
                let message = if name == "props" {
                    "Choose at least one property (C, I, A or U).".to_string()
                } else {
                    field_sentence(name, reason)
                };
                place(fs, name, message);
                Ok(())
            }
            DomainError::LastAsset { .. } => {
                fs.error("general", capitalize(&d.root().to_string()));
                Ok(())
            }
            DomainError::UnknownId { .. } | DomainError::UnknownEvidence { .. } => {
                Err(PageError::not_found())
            }
            DomainError::Within { .. } => Err(PageError::internal(d)),
        },
        E::Invalid { field, message } => {
            place(fs, &field, field_sentence(&field, &message));
            Ok(())
        }
        E::Forbidden(m) | E::RateLimited(m) | E::Engine(m) => {
            fs.error("general", capitalize(&m));
            Ok(())
        }
        E::CreditsExhausted(x) => {
            fs.error("general", capitalize(&x.to_string()));
            Ok(())
        }
        E::NotFound(_) => Err(PageError::not_found()),
        other @ E::Store(_) => Err(PageError::internal(other)),
    }
}

/// Finishes a change: success → back to the model page with a flash; a refusal → the page
/// again with the form's inline errors (422).
#[allow(clippy::too_many_arguments)]
async fn finish<T>(
    state: &Data,
    p: &Page,
    id: String,
    kind: &'static str,
    entity: String,
    mut fs: FormState,
    fields: &[&str],
    result: Result<T, crate::models::Error>,
    ok: impl FnOnce(T) -> String,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(v) => Ok(redirect_flash(&format!("/models/{id}"), "success", ok(v))),
        Err(e) => {
            absorb(&mut fs, e, fields)?;
            invalid(state, p, id, kind, entity, fs).await
        }
    }
}

/// Checkbox fields `c`, `i`, `a`, `u` of the asset and attacker forms.
#[derive(Deserialize, Default)]
struct Props {
    #[serde(default)]
    c: Option<String>,
    #[serde(default)]
    i: Option<String>,
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    u: Option<String>,
}

impl Props {
    fn set(&self) -> PropertySet {
        [
            (&self.c, SecurityProperty::Confidentiality),
            (&self.i, SecurityProperty::Integrity),
            (&self.a, SecurityProperty::Availability),
            (&self.u, SecurityProperty::Usage),
        ]
        .into_iter()
        .filter(|(v, _)| v.is_some())
        .map(|(_, p)| p)
        .collect()
    }

    /// Keeps the ticked boxes for a re-render.
    fn keep(&self, mut fs: FormState) -> FormState {
        for (k, v) in [
            ("c", &self.c),
            ("i", &self.i),
            ("a", &self.a),
            ("u", &self.u),
        ] {
            if v.is_some() {
                fs = fs.value(k, "1");
            }
        }
        fs
    }
}

/// Parses a select value the page offers; a tampered or missing one is an inline error.
fn choice<T: std::str::FromStr>(fs: &mut FormState, field: &str, v: &str, what: &str) -> Option<T> {
    match v.parse::<T>() {
        Ok(x) => Some(x),
        Err(_) => {
            fs.error(field, format!("Choose a valid {what}."));
            None
        }
    }
}

#[derive(Deserialize)]
struct AssetForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    impact: String,
    #[serde(default)]
    rationale: String,
    #[serde(flatten)]
    props: Props,
}

const ASSET_FIELDS: &[&str] = &["name", "description", "impact", "rationale", "props"];

impl AssetForm {
    fn state(&self) -> FormState {
        self.props.keep(
            FormState::new()
                .value("name", &self.name)
                .value("description", &self.description)
                .value("impact", &self.impact)
                .value("rationale", &self.rationale),
        )
    }
}

async fn add_asset(
    state: Data,
    form: PageForm<AssetForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let mut fs = f.state();
    let impact = choice::<Level>(&mut fs, "impact", &f.impact, "impact");
    let (Some(impact), false) = (impact, fs.has_errors()) else {
        return invalid(&state, &p, id, "add-asset", String::new(), fs).await;
    };
    let asset = NewAsset {
        name: f.name.trim().to_string(),
        description: f.description,
        properties: f.props.set(),
        impact,
        rationale: f.rationale,
        tags: Default::default(),
    };
    let (svc, caller, mid) = (state.models.clone(), p.caller.clone(), id.clone());
    let r = web::block(move || svc.add_asset(&caller, &mid, asset, Source::Web)).await?;
    finish(
        &state,
        &p,
        id,
        "add-asset",
        String::new(),
        fs,
        ASSET_FIELDS,
        r,
        |(s, aid)| {
            format!(
                "Asset {aid} \u{201c}{}\u{201d} added.",
                s.model.asset(&aid).map(|a| a.name.as_str()).unwrap_or("")
            )
        },
    )
    .await
}

async fn edit_asset(
    state: Data,
    form: PageForm<AssetForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let mut fs = f.state();
    let impact = choice::<Level>(&mut fs, "impact", &f.impact, "impact");
    let (Some(impact), false) = (impact, fs.has_errors()) else {
        return invalid(&state, &p, id, "edit-asset", aid, fs).await;
    };
    let patch = AssetPatch {
        name: Some(f.name.trim().to_string()),
        description: Some(f.description),
        properties: Some(f.props.set()),
        impact: Some(impact),
        rationale: Some(f.rationale),
    };
    let (svc, caller, mid, a) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        aid.clone(),
    );
    let r = web::block(move || svc.edit_asset(&caller, &mid, &a, patch, Source::Web)).await?;
    let done = format!("Asset {aid} updated.");
    finish(
        &state,
        &p,
        id,
        "edit-asset",
        aid,
        fs,
        ASSET_FIELDS,
        r,
        |_| done,
    )
    .await
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    reason: String,
}

fn reason(r: &str) -> String {
    let r = r.trim();
    if r.is_empty() {
        "removed by user".into()
    } else {
        r.to_string()
    }
}

async fn remove_asset(
    state: Data,
    form: PageForm<RemoveForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let fs = FormState::new().value("reason", &f.reason);
    let (svc, caller, mid, a) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        aid.clone(),
    );
    let why = reason(&f.reason);
    let r = web::block(move || svc.remove_asset(&caller, &mid, &a, &why, Source::Web)).await?;
    let done = format!("Asset {aid} removed.");
    finish(
        &state,
        &p,
        id,
        "remove-asset",
        aid,
        fs,
        &["reason"],
        r,
        |_| done,
    )
    .await
}

#[derive(Deserialize)]
struct AttackerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    capability: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    likelihood: String,
    #[serde(default)]
    rationale: String,
    #[serde(flatten)]
    props: Props,
}

const ATTACKER_FIELDS: &[&str] = &[
    "name",
    "description",
    "capability",
    "position",
    "likelihood",
    "rationale",
    "props",
];

impl AttackerForm {
    fn state(&self) -> FormState {
        self.props.keep(
            FormState::new()
                .value("name", &self.name)
                .value("description", &self.description)
                .value("capability", &self.capability)
                .value("position", &self.position)
                .value("likelihood", &self.likelihood)
                .value("rationale", &self.rationale),
        )
    }

    /// The select fields, parsed; errors go to `fs`.
    fn choices(&self, fs: &mut FormState) -> Option<(AttackerPosition, Level)> {
        let position = choice::<AttackerPosition>(fs, "position", &self.position, "position");
        let likelihood = choice::<Level>(fs, "likelihood", &self.likelihood, "likelihood");
        match (position, likelihood) {
            (Some(p), Some(l)) if !fs.has_errors() => Some((p, l)),
            _ => None,
        }
    }
}

async fn add_attacker(
    state: Data,
    form: PageForm<AttackerForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let mut fs = f.state();
    let Some((position, likelihood)) = f.choices(&mut fs) else {
        return invalid(&state, &p, id, "add-attacker", String::new(), fs).await;
    };
    let attacker = NewAttacker {
        name: f.name.trim().to_string(),
        description: f.description,
        capability: f.capability,
        position,
        archetype: String::new(),
        likelihood,
        threatens: f.props.set(),
        targets: None,
        rationale: f.rationale,
        tags: Default::default(),
    };
    let (svc, caller, mid) = (state.models.clone(), p.caller.clone(), id.clone());
    let r = web::block(move || svc.add_attacker(&caller, &mid, attacker, Source::Web)).await?;
    finish(
        &state,
        &p,
        id,
        "add-attacker",
        String::new(),
        fs,
        ATTACKER_FIELDS,
        r,
        |(s, aid)| {
            format!(
                "Attacker {aid} \u{201c}{}\u{201d} added.",
                s.model
                    .attacker(&aid)
                    .map(|a| a.name.as_str())
                    .unwrap_or("")
            )
        },
    )
    .await
}

async fn edit_attacker(
    state: Data,
    form: PageForm<AttackerForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let mut fs = f.state();
    let Some((position, likelihood)) = f.choices(&mut fs) else {
        return invalid(&state, &p, id, "edit-attacker", aid, fs).await;
    };
    let patch = AttackerPatch {
        name: Some(f.name.trim().to_string()),
        description: Some(f.description),
        capability: Some(f.capability),
        position: Some(position),
        likelihood: Some(likelihood),
        threatens: Some(f.props.set()),
        targets: None,
        rationale: Some(f.rationale),
    };
    let (svc, caller, mid, a) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        aid.clone(),
    );
    let r = web::block(move || svc.edit_attacker(&caller, &mid, &a, patch, Source::Web)).await?;
    let done = format!("Attacker {aid} updated.");
    finish(
        &state,
        &p,
        id,
        "edit-attacker",
        aid,
        fs,
        ATTACKER_FIELDS,
        r,
        |_| done,
    )
    .await
}

async fn remove_attacker(
    state: Data,
    form: PageForm<RemoveForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let fs = FormState::new().value("reason", &f.reason);
    let (svc, caller, mid, a) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        aid.clone(),
    );
    let why = reason(&f.reason);
    let r = web::block(move || svc.remove_attacker(&caller, &mid, &a, &why, Source::Web)).await?;
    let done = format!("Attacker {aid} removed.");
    finish(
        &state,
        &p,
        id,
        "remove-attacker",
        aid,
        fs,
        &["reason"],
        r,
        |_| done,
    )
    .await
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    notes: String,
}

/// Status and notes of a control. Notes are replaced as submitted (empty clears them); a
/// status change to `implemented` needs an assertion (see `set_control_status`), keeping
/// the status and editing only the notes does not re-check it.
async fn control_status(
    state: Data,
    form: PageForm<StatusForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, cid) = path.into_inner();
    let mut fs = FormState::new()
        .value("status", &f.status)
        .value("notes", &f.notes);
    let Some(status) = choice::<ControlStatus>(&mut fs, "status", &f.status, "control status")
    else {
        return invalid(&state, &p, id, "control", cid, fs).await;
    };
    let (svc, caller, mid, c) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        cid.clone(),
    );
    let notes = f.notes.trim().to_string();
    let r = web::block(move || {
        let current = svc
            .get(&caller, &mid)?
            .model
            .control(&c)
            .map(|x| x.status)
            .ok_or_else(|| crate::models::Error::NotFound(format!("control {c}")))?;
        if current == status {
            svc.set_control_notes(&caller, &mid, &c, &notes, Source::Web)
                .map(|_| false)
        } else {
            svc.set_control_status(&caller, &mid, &c, status, Some(&notes), Source::Web)
                .map(|_| true)
        }
    })
    .await?;
    let label = wire(&status).replace('_', " ");
    finish(
        &state,
        &p,
        id,
        "control",
        cid.clone(),
        fs,
        &["status", "notes"],
        r,
        move |changed| {
            if changed {
                format!("{cid} marked {label}.")
            } else {
                format!("Notes of {cid} saved.")
            }
        },
    )
    .await
}

#[derive(Deserialize)]
struct EvidenceForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    reference: String,
}

async fn add_evidence(
    state: Data,
    form: PageForm<EvidenceForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, cid) = path.into_inner();
    let fs = FormState::new()
        .value("title", &f.title)
        .value("reference", &f.reference);
    let ev = NewEvidence {
        title: f.title.trim().to_string(),
        reference: f.reference.trim().to_string(),
    };
    let (svc, caller, mid, c) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        cid.clone(),
    );
    let r = web::block(move || svc.add_evidence(&caller, &mid, &c, ev, Source::Web)).await?;
    let c = cid.clone();
    finish(
        &state,
        &p,
        id,
        "evidence",
        cid,
        fs,
        &["title", "reference"],
        r,
        move |(_, eid)| format!("Evidence {eid} added to {c}."),
    )
    .await
}

async fn remove_evidence(
    state: Data,
    form: PageForm<RemoveForm>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: _ } = form;
    let (id, cid, eid) = path.into_inner();
    let (svc, caller, mid, c, e) = (
        state.models.clone(),
        p.caller.clone(),
        id.clone(),
        cid.clone(),
        eid.clone(),
    );
    let r = web::block(move || svc.remove_evidence(&caller, &mid, &c, &e, Source::Web)).await?;
    let done = format!("Evidence {eid} removed from {cid}.");
    finish(
        &state,
        &p,
        id,
        "evidence",
        cid,
        FormState::new(),
        &[],
        r,
        |_| done,
    )
    .await
}

/// Modes of the conversation panel: automatic classification (as the spec describes) or
/// one intent chosen by the user.
const MODES: &[(&str, &str)] = &[
    ("auto", "Automatic"),
    ("refine", "Refine the model"),
    ("query", "Ask about the model"),
    ("general", "Methodology question"),
    ("generate", "Generate a new model"),
];

#[derive(Deserialize)]
struct ConverseForm {
    #[serde(default)]
    message: String,
    #[serde(default)]
    mode: String,
}

async fn converse(
    state: Data,
    form: PageForm<ConverseForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let mut fs = FormState::new()
        .value("message", &f.message)
        .value("mode", &f.mode);
    let intent = match f.mode.as_str() {
        "" | "auto" => None,
        "refine" => Some(Intent::Refine),
        "query" => Some(Intent::Query),
        "general" => Some(Intent::General),
        "generate" => Some(Intent::Generate),
        _ => {
            fs.error("mode", "Choose a valid mode.");
            return invalid(&state, &p, id, "converse", String::new(), fs).await;
        }
    };
    let (svc, caller, mid) = (state.models.clone(), p.caller.clone(), id.clone());
    let (engine, jobs) = (state.engine.clone(), state.jobs.clone());
    let message = f.message.clone();
    let r = web::block(move || {
        svc.converse_as(&caller, engine, &jobs, &mid, &message, intent, Source::Web)
    })
    .await?;
    match r {
        Ok(reply) => Ok(match reply.job_id {
            // A new model is being generated: follow it live on the job page.
            Some(job) => redirect(&format!("/models/jobs/{job}")),
            None if reply.changes.is_empty() => redirect_flash(
                &format!("/models/{id}"),
                "success",
                "Answered — see the conversation.",
            ),
            None => redirect_flash(
                &format!("/models/{id}"),
                "success",
                format!(
                    "Model updated to version {}: {}",
                    reply.version,
                    reply.changes.join("; ")
                ),
            ),
        }),
        Err(e) => {
            absorb(&mut fs, e, &["message"])?;
            invalid(&state, &p, id, "converse", String::new(), fs).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Error as E;

    #[test]
    fn refusals_land_next_to_their_field() {
        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Domain(DomainError::invalid("asset.name", "must not be empty")),
            ASSET_FIELDS,
        )
        .expect("form error");
        assert_eq!(fs.err("name"), Some("Name must not be empty."));

        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Domain(
                DomainError::invalid(
                    "implementation_notes",
                    "is 4001 characters, at most 4000 allowed",
                )
                .in_field("ops[0]"),
            ),
            &["status", "notes"],
        )
        .expect("form error");
        assert_eq!(
            fs.err("notes"),
            Some("Notes is 4001 characters, at most 4000 allowed.")
        );

        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Domain(DomainError::invalid(
                "attacker.threatens",
                "needs at least one",
            )),
            ATTACKER_FIELDS,
        )
        .expect("form error");
        assert_eq!(
            fs.err("props"),
            Some("Choose at least one property (C, I, A or U).")
        );

        // A field the form does not have, and refusals without a field, go to `general`.
        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Domain(DomainError::invalid(
                "archetype",
                "contains control characters",
            )),
            ATTACKER_FIELDS,
        )
        .expect("form error");
        assert_eq!(
            fs.err("general"),
            Some("Archetype contains control characters.")
        );
        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Forbidden("viewers cannot change models".into()),
            &[],
        )
        .expect("form error");
        assert_eq!(fs.err("general"), Some("Viewers cannot change models"));
        let mut fs = FormState::new();
        absorb(
            &mut fs,
            E::Invalid {
                field: "message".into(),
                message: "at most 4000 characters".into(),
            },
            &["message"],
        )
        .expect("form error");
        assert_eq!(
            fs.err("message"),
            Some("Message must be at most 4000 characters.")
        );

        // Unknown entities are a 404 page, not a form error.
        let mut fs = FormState::new();
        let err = absorb(
            &mut fs,
            E::Domain(DomainError::UnknownId {
                kind: crate::domain::EntityKind::Asset,
                id: "A99".into(),
            }),
            ASSET_FIELDS,
        )
        .expect_err("page error");
        assert!(
            matches!(err, PageError::Status { status, .. } if status == actix_web::http::StatusCode::NOT_FOUND)
        );
        assert!(!fs.has_errors());
    }

    #[test]
    fn sentences_read_naturally() {
        assert_eq!(
            field_sentence("title", "must not be empty"),
            "Title must not be empty."
        );
        assert_eq!(
            field_sentence("status", "CTRL-01 needs at least one assertion."),
            "CTRL-01 needs at least one assertion."
        );
    }
}
