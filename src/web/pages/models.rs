//! Model pages: `/models/new` (description box that starts a generation job), the live
//! pipeline page `/models/jobs/{id}` (six steps streamed from `/api/jobs/{id}/events` by
//! `assets/static/job.js`), and the model page `/models/{id}`. Every change goes through
//! [`crate::models::ModelService`]; nothing here re-implements domain logic.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect};
use crate::engine::Step;
use crate::models::Source;
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/new", web::get().to(new_page))
        .route("/models/new", web::post().to(new_submit))
        .route("/models/jobs/{id}", web::get().to(job_page));
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
