//! Model pages: `/models/new` (description box that starts a generation job), the live
//! pipeline page `/models/jobs/{id}` (six steps streamed from `/api/jobs/{id}/events` by
//! `assets/static/job.js`), and the model page `/models/{id}`. Every change goes through
//! [`crate::models::ModelService`]; nothing here re-implements domain logic.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect, redirect_flash};
use crate::domain::{
    AssetPatch, AttackerPatch, AttackerPosition, ControlStatus, DomainError, Level, NewAsset,
    NewAttacker, PropertySet, SecurityProperty, ThreatModel, VerificationMap,
};
use crate::engine::Step;
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
        );
}

#[derive(Template)]
#[template(path = "model_new.html")]
struct NewTpl {
    l: Layout,
    f: FormState,
}

async fn new_page(p: Page) -> Result<HttpResponse, PageError> {
    p.respond(&NewTpl {
        l: p.layout("New model", Nav::Models, ""),
        f: FormState::new(),
    })
}

#[derive(Deserialize)]
struct NewForm {
    #[serde(default)]
    description: String,
}

async fn new_submit(state: Data, form: PageForm<NewForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let svc = state.models.clone();
    let jobs = state.jobs.clone();
    let engine = state.engine.clone();
    let caller = p.caller.clone();
    let description = f.description.clone();
    let started =
        web::block(move || svc.start_generation(&caller, &jobs, engine, &description, Source::Web))
            .await?;
    match started {
        Ok(job) => Ok(redirect(&format!("/models/jobs/{}", job.id()))),
        Err(
            e @ (crate::models::Error::Invalid { .. }
            | crate::models::Error::Domain(_)
            | crate::models::Error::RateLimited(_)),
        ) => {
            let mut fs = FormState::new().value("description", f.description);
            fs.error("description", e.to_string());
            p.respond_status(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                &NewTpl {
                    l: p.layout("New model", Nav::Models, ""),
                    f: fs,
                },
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "model_job.html")]
struct JobTpl {
    l: Layout,
    job_id: String,
    steps: Vec<&'static str>,
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
    let snap = state
        .jobs
        .get(&id, &p.caller.workspace_id)
        .filter(|s| s.kind == "generate_threat_model")
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
        steps: Step::PIPELINE.iter().map(|s| s.label()).collect(),
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

#[derive(Template)]
#[template(path = "model.html")]
struct ModelTpl {
    l: Layout,
    s: StoredModel,
    verification: VerificationMap,
    positions: Vec<String>,
    statuses: Vec<String>,
}

impl ModelTpl {
    fn m(&self) -> &ThreatModel {
        &self.s.model
    }

    fn props(&self, p: &PropertySet) -> String {
        crate::domain::format_properties(p)
    }

    fn has(&self, p: &PropertySet, letter: &str) -> bool {
        p.iter().any(|x| x.letter().to_string() == letter)
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
}

async fn load_model(state: &Data, p: &Page, id: String) -> Result<ModelTpl, PageError> {
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let (s, verification) = web::block(move || {
        let s = svc.get(&caller, &id)?;
        let v = svc.verification(&caller, &id)?;
        Ok::<_, crate::models::Error>((s, v))
    })
    .await??;
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
    })
}

async fn model_page(
    state: Data,
    p: Page,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let tpl = load_model(&state, &p, path.into_inner()).await?;
    p.respond(&tpl)
}

/// Runs one domain change through [`crate::models::ModelService::update`] (as REST does) and
/// redirects back to the model page with the outcome: domain refusals become an error flash.
async fn change(
    state: Data,
    p: Page,
    id: String,
    kind: &'static str,
    ok: String,
    f: impl FnOnce(&mut ThreatModel) -> Result<((), String), DomainError> + Send + 'static,
) -> Result<HttpResponse, PageError> {
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let mid = id.clone();
    let back = format!("/models/{id}");
    match web::block(move || svc.update(&caller, &mid, Source::Web, kind, f)).await? {
        Ok(_) => Ok(redirect_flash(&back, "success", ok)),
        Err(
            e @ (crate::models::Error::Domain(_)
            | crate::models::Error::Invalid { .. }
            | crate::models::Error::Forbidden(_)),
        ) => Ok(redirect_flash(&back, "error", e.to_string())),
        Err(e) => Err(e.into()),
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
}

fn level(v: &str) -> Result<Level, DomainError> {
    v.parse::<Level>()
        .map_err(|m| DomainError::invalid("level", m))
}

fn position(v: &str) -> Result<AttackerPosition, DomainError> {
    v.parse::<AttackerPosition>()
        .map_err(|m| DomainError::invalid("position", m))
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

async fn add_asset(
    state: Data,
    form: PageForm<AssetForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let ok = format!("Asset \u{201c}{}\u{201d} added.", f.name.trim());
    change(state, p, path.into_inner(), "refinement", ok, move |m| {
        let asset = NewAsset {
            name: f.name.trim().to_string(),
            description: f.description,
            properties: f.props.set(),
            impact: level(&f.impact)?,
            rationale: f.rationale,
            tags: Default::default(),
        };
        let name = asset.name.clone();
        let id = m.add_asset(asset, chrono::Utc::now())?;
        Ok(((), format!("added asset {id} \"{name}\"")))
    })
    .await
}

async fn edit_asset(
    state: Data,
    form: PageForm<AssetForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let ok = format!("Asset {aid} updated.");
    change(state, p, id, "refinement", ok, move |m| {
        let patch = AssetPatch {
            name: Some(f.name.trim().to_string()),
            description: Some(f.description),
            properties: Some(f.props.set()),
            impact: Some(level(&f.impact)?),
            rationale: Some(f.rationale),
        };
        m.edit_asset(&aid, patch, chrono::Utc::now())?;
        Ok(((), format!("edited asset {aid}")))
    })
    .await
}

#[derive(Deserialize)]
struct RemoveForm {
    #[serde(default)]
    reason: String,
}

fn reason(r: String) -> String {
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
    let ok = format!("Asset {aid} removed.");
    change(state, p, id, "refinement", ok, move |m| {
        m.remove_asset(&aid, &reason(f.reason), chrono::Utc::now())?;
        Ok(((), format!("removed asset {aid}")))
    })
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

async fn add_attacker(
    state: Data,
    form: PageForm<AttackerForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let ok = format!("Attacker \u{201c}{}\u{201d} added.", f.name.trim());
    change(state, p, path.into_inner(), "refinement", ok, move |m| {
        let attacker = NewAttacker {
            name: f.name.trim().to_string(),
            description: f.description,
            capability: f.capability,
            position: position(&f.position)?,
            archetype: String::new(),
            likelihood: level(&f.likelihood)?,
            threatens: f.props.set(),
            targets: None,
            rationale: f.rationale,
            tags: Default::default(),
        };
        let name = attacker.name.clone();
        let id = m.add_attacker(attacker, chrono::Utc::now())?;
        Ok(((), format!("added attacker {id} \"{name}\"")))
    })
    .await
}

async fn edit_attacker(
    state: Data,
    form: PageForm<AttackerForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let ok = format!("Attacker {aid} updated.");
    change(state, p, id, "refinement", ok, move |m| {
        let patch = AttackerPatch {
            name: Some(f.name.trim().to_string()),
            description: Some(f.description),
            capability: Some(f.capability),
            position: Some(position(&f.position)?),
            likelihood: Some(level(&f.likelihood)?),
            threatens: Some(f.props.set()),
            targets: None,
            rationale: Some(f.rationale),
        };
        m.edit_attacker(&aid, patch, chrono::Utc::now())?;
        Ok(((), format!("edited attacker {aid}")))
    })
    .await
}

async fn remove_attacker(
    state: Data,
    form: PageForm<RemoveForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, aid) = path.into_inner();
    let ok = format!("Attacker {aid} removed.");
    change(state, p, id, "refinement", ok, move |m| {
        m.remove_attacker(&aid, &reason(f.reason), chrono::Utc::now())?;
        Ok(((), format!("removed attacker {aid}")))
    })
    .await
}

#[derive(Deserialize)]
struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    notes: String,
}

async fn control_status(
    state: Data,
    form: PageForm<StatusForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, cid) = path.into_inner();
    let back = format!("/models/{id}");
    let Ok(status) = f.status.parse::<ControlStatus>() else {
        return Ok(redirect_flash(
            &back,
            "error",
            "Choose a valid control status.",
        ));
    };
    let svc = state.models.clone();
    let caller = p.caller.clone();
    let c = cid.clone();
    let result = web::block(move || {
        let notes = (!f.notes.trim().is_empty()).then_some(f.notes.trim());
        svc.set_control_status(&caller, &id, &c, status, notes, Source::Web)
    })
    .await?;
    match result {
        Ok(_) => Ok(redirect_flash(
            &back,
            "success",
            format!("{cid} marked {}.", wire(&status).replace('_', " ")),
        )),
        Err(
            e @ (crate::models::Error::Domain(_)
            | crate::models::Error::Invalid { .. }
            | crate::models::Error::Forbidden(_)),
        ) => Ok(redirect_flash(&back, "error", e.to_string())),
        Err(e) => Err(e.into()),
    }
}
