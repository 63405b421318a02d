//! The assurance page of a model, `/models/{id}/assurance`: per control its status, computed
//! verification status and sufficiency, assertions (list, add with per-type parameter fields,
//! delete), negative findings (list, expand, lifecycle buttons, add), unresolved drift, the
//! latest verified commit per repository, and the verification runs with their audit bundle
//! downloads. Everything is read from and written through
//! [`crate::assurance::AssuranceService`]; nothing here computes a status.
//!
//! Forms: invalid input re-renders the whole page with `422`, the submitted values kept and
//! the error next to its field in the form that was posted (identified by a [`Posted`] key
//! such as `assertion:CTRL-01`); nothing is stored. Success redirects back with a flash.
//! The forms are also htmx forms (`hx-post` + `hx-select` of their own id): with JavaScript
//! only the refused form (or finding row) is swapped from the 422 page, and success answers
//! `200` + `HX-Redirect` so htmx loads the page with its flash. Without JavaScript the plain
//! POST / 303 / 422 cycle above applies.
//! Another workspace's model, finding or run is the friendly 404.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::page::{FormState, Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::assurance::findings::{Finding, NewFinding, Transition};
use crate::assurance::paging::{PageQuery, Paged};
use crate::assurance::types::{AssertionType, ParamKind, TYPES};
use crate::assurance::{self, Assertion, NewAssertion};
use crate::domain::{Control, VerificationMap};
use crate::models::{Source, StoredModel};
use crate::web::AppState;

type Data = web::Data<AppState>;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/models/{id}/assurance", web::get().to(page))
        .route(
            "/models/{id}/assurance/assertions",
            web::post().to(add_assertion),
        )
        .route(
            "/models/{id}/assurance/assertions/{aid}/delete",
            web::post().to(delete_assertion),
        )
        .route(
            "/models/{id}/assurance/findings",
            web::post().to(add_finding),
        )
        .route(
            "/models/{id}/assurance/findings/{fid}/transition",
            web::post().to(transition),
        )
        .route(
            "/models/{id}/assurance/runs/{run}/audit",
            web::get().to(audit_bundle),
        );
}

impl From<assurance::Error> for PageError {
    fn from(err: assurance::Error) -> Self {
        match err {
            assurance::Error::NotFound(_) => PageError::not_found(),
            assurance::Error::Forbidden(m) => PageError::forbidden(m),
            assurance::Error::Invalid { message, .. } => PageError::bad_request(message),
            other => PageError::internal(other),
        }
    }
}

/// The snake_case wire name of an enum value.
fn wire(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Severities a finding can have, most severe first (the service's list).
const SEVERITIES: &[&str] = &["critical", "high", "medium", "low", "info"];

/// The form a refused submission came from and its state, so the page re-renders with the
/// errors in that form only. `key` is `assertion:<control>`, `finding:<control or "">` or
/// `transition:<finding id>`.
struct Posted {
    key: String,
    f: FormState,
}

/// Everything the page shows, loaded with the caller's workspace scope. Assertions and
/// findings are one page each ([`PAGE_LIMIT`], from the cursors of the query string), so the
/// page stays bounded however many a model collects; the summary links to the next pages.
struct Loaded {
    s: StoredModel,
    verification: VerificationMap,
    assertions: Paged<Assertion>,
    findings: Paged<Finding>,
    report: Value,
    runs: Vec<Value>,
    cursors: Cursors,
}

/// Items of each list the page shows at once.
const PAGE_LIMIT: u32 = 200;
/// Verification runs the page shows (newest first).
const RUNS_SHOWN: u32 = 50;

/// Where the assertion and finding lists of the page start (`next_cursor` values).
#[derive(Debug, Clone, Default, Deserialize)]
struct Cursors {
    #[serde(default)]
    assertions_cursor: Option<String>,
    #[serde(default)]
    findings_cursor: Option<String>,
}

fn page_of(cursor: &Option<String>, limit: u32) -> PageQuery {
    PageQuery {
        limit: Some(limit),
        cursor: cursor.clone(),
    }
}

async fn load(state: &Data, p: &Page, id: String, cursors: Cursors) -> Result<Loaded, PageError> {
    let models = state.models.clone();
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    web::block(move || {
        let s = models.get(&caller, &id)?;
        let verification = models.verification(&caller, &id)?;
        let assertions = svc.list_assertions_page(
            &caller,
            &id,
            None,
            &page_of(&cursors.assertions_cursor, PAGE_LIMIT),
        )?;
        let findings = svc.list_findings_page(
            &caller,
            &id,
            None,
            None,
            &page_of(&cursors.findings_cursor, PAGE_LIMIT),
        )?;
        let report = svc.report(&caller, &id)?;
        let runs = svc
            .list_runs(&caller, &id, &page_of(&None, RUNS_SHOWN))?
            .items;
        Ok::<_, PageError>(Loaded {
            s,
            verification,
            assertions,
            findings,
            report,
            runs,
            cursors,
        })
    })
    .await?
}

/// One input of the per-type parameter fields.
struct ParamField {
    name: &'static str,
    required: bool,
    /// `text`, `list` or `flag`.
    kind: &'static str,
    help: &'static str,
    value: String,
    error: Option<String>,
}

fn kind_name(k: ParamKind) -> &'static str {
    match k {
        ParamKind::Text => "text",
        ParamKind::TextList => "list",
        ParamKind::Flag => "flag",
    }
}

/// The assertion types as JSON for `assurance.js`, which swaps the parameter fields when
/// the type changes (the server renders the fields of the selected type).
fn types_json() -> String {
    Value::Array(
        TYPES
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "params": t.params.iter().map(|p| json!({
                        "name": p.name, "required": p.required,
                        "kind": kind_name(p.kind), "help": p.help,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
    .to_string()
}

#[derive(Template)]
#[template(path = "model_assurance.html")]
struct AssuranceTpl {
    l: Layout,
    s: StoredModel,
    verification: VerificationMap,
    assertions: Paged<Assertion>,
    findings: Paged<Finding>,
    report: Value,
    runs: Vec<Value>,
    cursors: Cursors,
    types: &'static [AssertionType],
    types_json: String,
    posted: Option<Posted>,
}

impl AssuranceTpl {
    /// URL of the script that swaps the parameter fields when the assertion type changes.
    fn assurance_js(&self) -> &'static str {
        super::assets::url("assurance.js")
    }

    fn controls(&self) -> &[Control] {
        &self.s.model.controls
    }

    fn verification_of(&self, control_id: &str) -> String {
        self.verification
            .get(control_id)
            .map(wire)
            .unwrap_or_else(|| "unverified".into())
    }

    fn status_of(&self, c: &Control) -> String {
        wire(&c.status)
    }

    fn assertions_of(&self, control_id: &str) -> Vec<&Assertion> {
        self.assertions
            .items
            .iter()
            .filter(|a| a.control_id.as_deref() == Some(control_id))
            .collect()
    }

    fn findings_of(&self, control_id: &str) -> Vec<&Finding> {
        self.findings
            .items
            .iter()
            .filter(|f| f.control_id.as_deref() == Some(control_id))
            .collect()
    }

    /// Findings not tied to a control.
    fn loose_findings(&self) -> Vec<&Finding> {
        self.findings
            .items
            .iter()
            .filter(|f| f.control_id.is_none())
            .collect()
    }

    /// Whether the assertions or findings do not fit on one page (or a later page is shown).
    fn paged(&self) -> bool {
        self.assertions.next_cursor.is_some()
            || self.findings.next_cursor.is_some()
            || self.cursors.assertions_cursor.is_some()
            || self.cursors.findings_cursor.is_some()
    }

    /// `(shown, total, link to the next page)` of the assertions.
    fn assertions_paging(&self) -> (usize, u64, Option<String>) {
        let next = self
            .assertions
            .next_cursor
            .as_ref()
            .map(|c| self.page_link(Some(c.as_str()), self.cursors.findings_cursor.as_deref()));
        (self.assertions.items.len(), self.assertions.total, next)
    }

    /// `(shown, total, link to the next page)` of the findings.
    fn findings_paging(&self) -> (usize, u64, Option<String>) {
        let next =
            self.findings.next_cursor.as_ref().map(|c| {
                self.page_link(self.cursors.assertions_cursor.as_deref(), Some(c.as_str()))
            });
        (self.findings.items.len(), self.findings.total, next)
    }

    fn page_link(&self, assertions: Option<&str>, findings: Option<&str>) -> String {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if let Some(c) = assertions {
            q.push(("assertions_cursor", c));
        }
        if let Some(c) = findings {
            q.push(("findings_cursor", c));
        }
        format!(
            "{}?{}",
            back(&self.s.model.id),
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    }

    fn first_page(&self) -> String {
        back(&self.s.model.id)
    }

    fn sufficiency_of(&self, control_id: &str) -> String {
        self.report["control_details"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["control_id"] == control_id))
            .and_then(|x| x["sufficiency"]["status"].as_str())
            .unwrap_or("not assessed")
            .to_string()
    }

    /// What the sufficiency verdict says is covered or missing, and who judged it (`rules`
    /// or `llm:<model>`), when the control has been assessed.
    fn sufficiency_details_of(&self, control_id: &str) -> Option<(String, String)> {
        let row = self.report["control_details"]
            .as_array()?
            .iter()
            .find(|x| x["control_id"] == control_id)?;
        let details = row["sufficiency"]["details"].as_str()?.to_string();
        let by = row["sufficiency"]["evaluated_by"]
            .as_str()
            .unwrap_or("rules")
            .to_string();
        Some((details, by))
    }

    fn drift_of(&self, control_id: &str) -> Vec<String> {
        self.report["drift_items"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|x| x["control_id"] == control_id)
                    .map(|x| {
                        format!(
                            "{}: {} (run {}, {})",
                            x["assertion_id"].as_str().unwrap_or_default(),
                            x["details"].as_str().unwrap_or_default(),
                            x["run_id"].as_str().unwrap_or_default(),
                            x["detected_at"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn drift_count(&self) -> usize {
        self.report["drift_items"].as_array().map_or(0, Vec::len)
    }

    /// `(repo, commit, branch, verified_at)` of each repository's latest verified commit.
    fn repos(&self) -> Vec<(String, String, String, String)> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        self.report["repos"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| {
                        (
                            s(&x["repo"]),
                            s(&x["commit_sha"]),
                            s(&x["branch"]),
                            s(&x["verified_at"]),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(run id, tier, attestation, repo, commit, created)` of the latest runs.
    fn run_rows(&self) -> Vec<(String, String, String, String, String, String)> {
        let s = |v: &Value| match v {
            Value::String(x) => x.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        self.runs
            .iter()
            .take(50)
            .map(|r| {
                (
                    s(&r["run_id"]),
                    s(&r["tier"]),
                    s(&r["attestation"]),
                    s(&r["repo"]),
                    s(&r["commit_sha"]),
                    s(&r["created_at"]),
                )
            })
            .collect()
    }

    fn tier(&self, tier: &str, what: &str) -> u64 {
        self.report[tier][what].as_u64().unwrap_or(0)
    }

    fn params(&self, v: &Value) -> String {
        v.to_string()
    }

    fn param_help(&self, t: &AssertionType) -> String {
        t.params
            .iter()
            .map(|p| {
                let kind = match p.kind {
                    ParamKind::Text => "",
                    ParamKind::TextList => " (list, comma-separated)",
                    ParamKind::Flag => " (true/false)",
                };
                format!("{}{}{}", p.name, if p.required { "*" } else { "" }, kind)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn label(&self, wire: &str) -> String {
        wire.replace('_', " ")
    }

    /// Forward moves (other than dismissal) a finding in `status` can make from this page.
    fn can_acknowledge(&self, status: &str) -> bool {
        status == "discovered"
    }

    fn can_remediate(&self, status: &str) -> bool {
        matches!(status, "discovered" | "acknowledged")
    }

    fn dismissable(&self, status: &str) -> bool {
        matches!(status, "discovered" | "acknowledged")
    }

    fn severities(&self) -> &'static [&'static str] {
        SEVERITIES
    }

    /// Text of a JSON list of strings, one per line (checked patterns, linked assertions).
    fn lines_of(&self, v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Checked locations as `file:start-end` (+ snippet) lines.
    fn locations_of(&self, v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(location_text).collect())
            .unwrap_or_default()
    }

    /// The element id of the refused form, for the error summary's link.
    fn posted_anchor(&self) -> Option<String> {
        let key = &self.posted.as_ref()?.key;
        let (form, id) = key.split_once(':')?;
        Some(match (form, id) {
            ("assertion", c) => format!("add-assertion-{c}"),
            ("finding", c) => self.finding_form_id(c),
            (_, f) => format!("finding-{f}"),
        })
    }

    /// A refusal not tied to a field (e.g. an unknown control), for the error summary.
    fn posted_general(&self) -> Option<String> {
        self.posted
            .as_ref()
            .and_then(|p| p.f.err("general"))
            .map(str::to_string)
    }

    /// The state of the form `key` when it was the one posted.
    fn state(&self, key: &str) -> Option<&FormState> {
        self.posted.as_ref().filter(|p| p.key == key).map(|p| &p.f)
    }

    fn key(&self, form: &str, id: &str) -> String {
        format!("{form}:{id}")
    }

    /// Element id of an "add finding" form (`add-finding-<control>` or `add-finding-general`).
    fn finding_form_id(&self, control_id: &str) -> String {
        if control_id.is_empty() {
            "add-finding-general".to_string()
        } else {
            format!("add-finding-{control_id}")
        }
    }

    /// Prefix of the element ids of an "add finding" form (`f-<control>` or `f-general`).
    fn finding_prefix(&self, control_id: &str) -> String {
        if control_id.is_empty() {
            "f-general".to_string()
        } else {
            format!("f-{control_id}")
        }
    }

    /// The error of `field` in form `form:id`.
    fn err(&self, form: &str, id: &str, field: &str) -> Option<String> {
        self.state(&self.key(form, id))
            .and_then(|f| f.err(field))
            .map(str::to_string)
    }

    /// The submitted value of `field` in form `form:id` ("" when not posted).
    fn val(&self, form: &str, id: &str, field: &str) -> String {
        self.state(&self.key(form, id))
            .map(|f| f.val(field).to_string())
            .unwrap_or_default()
    }

    /// The form `form:id` was posted with errors: render it open.
    fn open(&self, form: &str, id: &str) -> bool {
        self.state(&self.key(form, id)).is_some()
    }

    /// The selected assertion type of the control's form.
    fn type_of(&self, control_id: &str) -> String {
        let v = self.val("assertion", control_id, "type");
        if v.is_empty() {
            TYPES
                .first()
                .map(|t| t.name.to_string())
                .unwrap_or_default()
        } else {
            v
        }
    }

    /// Parameter inputs of the selected type, with submitted values and errors.
    fn param_fields(&self, control_id: &str) -> Vec<ParamField> {
        let selected = self.type_of(control_id);
        let Some(t) = crate::assurance::types::lookup(&selected) else {
            return Vec::new();
        };
        t.params
            .iter()
            .map(|p| {
                let field = format!("param.{}", p.name);
                ParamField {
                    name: p.name,
                    required: p.required,
                    kind: kind_name(p.kind),
                    help: p.help,
                    value: self.val("assertion", control_id, &field),
                    error: self.err("assertion", control_id, &field),
                }
            })
            .collect()
    }
}

fn location_text(loc: &Value) -> String {
    let file = loc["file"].as_str().unwrap_or_default();
    let mut out = file.to_string();
    match (loc["start_line"].as_u64(), loc["end_line"].as_u64()) {
        (Some(a), Some(b)) if a != b => out.push_str(&format!(":{a}-{b}")),
        (Some(a), _) => out.push_str(&format!(":{a}")),
        _ => {}
    }
    if let Some(s) = loc["snippet"].as_str().filter(|s| !s.is_empty()) {
        out.push_str(" | ");
        out.push_str(s);
    }
    out
}

async fn page(
    state: Data,
    p: Page,
    path: web::Path<String>,
    q: web::Query<Cursors>,
) -> Result<HttpResponse, PageError> {
    let d = load(&state, &p, path.into_inner(), q.into_inner()).await?;
    respond(&p, d, None)
}

/// Renders the page; with a [`Posted`] form it is the 422 re-render of a refused form.
fn respond(p: &Page, d: Loaded, posted: Option<Posted>) -> Result<HttpResponse, PageError> {
    let status = if posted.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut l = p.layout(
        format!("Assurance · {}", d.s.model.title),
        Nav::Assurance,
        "",
    );
    if posted.is_some() {
        // The flash of an earlier action is stale next to a refused form.
        l.flash = None;
    }
    p.respond_status(
        status,
        &AssuranceTpl {
            l,
            s: d.s,
            verification: d.verification,
            assertions: d.assertions,
            findings: d.findings,
            report: d.report,
            runs: d.runs,
            cursors: d.cursors,
            types: TYPES,
            types_json: types_json(),
            posted,
        },
    )
}

/// Parameters from the form: a JSON object, or `key=value` lines (list parameters split on
/// commas). Type checking is left to the assertion validator.
fn parse_params(kind: &str, text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("Invalid JSON: {e}."))?;
        if !v.is_object() {
            return Err("The JSON must be an object.".into());
        }
        return Ok(v);
    }
    let t = crate::assurance::types::lookup(kind);
    let mut map = Map::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("Line {}: expected key=value, got {line:?}.", n + 1));
        };
        let (k, v) = (k.trim(), v.trim());
        let kind = t
            .and_then(|t| t.params.iter().find(|p| p.name == k))
            .map(|p| p.kind);
        map.insert(k.to_string(), param_value(kind, v));
    }
    Ok(Value::Object(map))
}

/// A form value as the JSON the validator expects for the parameter kind.
fn param_value(kind: Option<ParamKind>, v: &str) -> Value {
    match kind {
        Some(ParamKind::TextList) => Value::Array(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        Some(ParamKind::Flag) if matches!(v, "true" | "false") => Value::Bool(v == "true"),
        _ => Value::String(v.to_string()),
    }
}

/// The parameters of an assertion form: the free-text box (if filled) overlaid with the
/// per-type `param.<name>` fields of the selected type. Fields of other types (left over
/// when the type was switched without JavaScript) are ignored.
fn assemble_params(
    kind: &str,
    text: &str,
    fields: &BTreeMap<String, String>,
) -> Result<Value, String> {
    let mut params = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        parse_params(kind, text)?
    };
    if let (Some(t), Value::Object(map)) = (crate::assurance::types::lookup(kind), &mut params) {
        for p in t.params {
            let v = fields
                .get(&format!("param.{}", p.name))
                .map_or("", |v| v.trim());
            if !v.is_empty() {
                map.insert(p.name.to_string(), param_value(Some(p.kind), v));
            }
        }
    }
    Ok(params)
}

fn back(id: &str) -> String {
    format!("/models/{id}/assurance")
}

/// After a successful form post: `303` with a success flash for a plain form; for an htmx
/// request `200` with `HX-Redirect` (and the same flash cookie), so htmx loads the page itself
/// instead of swapping the redirected page into the form.
fn done(p: &Page, to: &str, message: String) -> HttpResponse {
    let mut resp = redirect_flash(to, "success", message);
    if p.req.headers().contains_key("hx-request")
        && let Ok(v) = HeaderValue::from_str(to)
    {
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut()
            .insert(HeaderName::from_static("hx-redirect"), v);
    }
    resp
}

/// The part of a service field path after the item index: `assertions[0].params.file` →
/// `params.file`.
fn field_tail(field: &str) -> &str {
    match field.find("].") {
        Some(i) => &field[i + 2..],
        None => field,
    }
}

/// What a refused service call means for the page: a field error to show inline (`Ok`),
/// or an error page (`Err`: not found is the friendly 404).
fn absorb(
    f: &mut FormState,
    err: assurance::Error,
    map: impl Fn(&str) -> String,
) -> Result<(), PageError> {
    match err {
        assurance::Error::Invalid { field, message } => {
            f.error(map(field_tail(&field)), sentence(&message));
            Ok(())
        }
        assurance::Error::Forbidden(m) | assurance::Error::Attestation(m) => {
            f.error("general", sentence(&m));
            Ok(())
        }
        other => Err(other.into()),
    }
}

/// "must be 1 to 300 characters" → "Must be 1 to 300 characters."
fn sentence(m: &str) -> String {
    let m = m.trim().trim_end_matches('.');
    let mut c = m.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}

#[derive(Deserialize)]
struct AssertionForm {
    #[serde(default)]
    control_id: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    params: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    repo: String,
    /// `param.<name>` fields of the selected type (and the CSRF token).
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

async fn add_assertion(
    state: Data,
    form: PageForm<AssertionForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let d = load(&state, &p, id.clone(), Cursors::default()).await?;
    let control = f.control_id.trim().to_string();
    let kind = f.kind.trim().to_string();
    let mut st = FormState::new()
        .value("type", &kind)
        .value("params", &f.params)
        .value("description", &f.description)
        .value("repo", &f.repo);
    for (k, v) in f.fields.iter().filter(|(k, _)| k.starts_with("param.")) {
        st = st.value(k, v);
    }
    let known = d.s.model.control(&control).is_some() || d.s.model.assumption(&control).is_some();
    if !known {
        st.error("general", format!("Unknown control {control:?}."));
    }
    let t = crate::assurance::types::lookup(&kind);
    if t.is_none() {
        st.error(
            "type",
            format!("Unknown assertion type {kind:?}: choose one from the list."),
        );
    }
    if f.description.trim().is_empty() {
        st.error(
            "description",
            "Say which aspect of the control this assertion proves.",
        );
    }
    let params = match assemble_params(&kind, &f.params, &f.fields) {
        Ok(v) => Some(v),
        Err(m) => {
            st.error("params", m);
            None
        }
    };
    if let (Some(t), Some(Value::Object(map))) = (t, &params) {
        for p in t.params.iter().filter(|p| p.required) {
            if !map.contains_key(p.name) {
                st.error(
                    format!("param.{}", p.name),
                    format!("Required: {}.", p.help),
                );
            }
        }
    }
    let key = format!("assertion:{control}");
    let (Some(params), false) = (params, st.has_errors()) else {
        return respond(&p, d, Some(Posted { key, f: st }));
    };
    let item = NewAssertion {
        kind: kind.clone(),
        params,
        description: f.description.trim().to_string(),
        repo: Some(f.repo.trim().to_string()).filter(|r| !r.is_empty()),
    };
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let cid = control.clone();
    let r =
        web::block(move || svc.submit_assertions(&caller, &id, &cid, &[item], Source::Web)).await?;
    match r {
        Ok(out) => {
            let mut msg = format!("Assertion added to {control}.");
            if let Some(w) = out.warnings.first() {
                msg.push_str(&format!(" Warning: {w}"));
            }
            Ok(done(&p, &back(&d.s.model.id), msg))
        }
        Err(e) => {
            let has_param = |name: &str| t.is_some_and(|t| t.params.iter().any(|p| p.name == name));
            absorb(&mut st, e, |field| match field.strip_prefix("params.") {
                Some(name) if has_param(name) => format!("param.{name}"),
                Some(_) => "params".into(),
                None => field.to_string(),
            })?;
            respond(&p, d, Some(Posted { key, f: st }))
        }
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn delete_assertion(
    state: Data,
    form: PageForm<Empty>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let p = form.page;
    let (id, aid) = path.into_inner();
    let to = back(&id);
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let ok = format!("Assertion {aid} deleted.");
    match web::block(move || svc.delete_assertion(&caller, &id, &aid)).await? {
        Ok(()) => Ok(redirect_flash(&to, "success", ok)),
        Err(e @ assurance::Error::Forbidden(_)) => Ok(redirect_flash(&to, "error", e.to_string())),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct FindingForm {
    #[serde(default)]
    control_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    checked_locations: String,
    #[serde(default)]
    checked_patterns: String,
    #[serde(default)]
    expected_evidence: String,
    /// The control whose panel holds the form ("" for the general form): where the errors
    /// of a refused submission are shown.
    #[serde(default)]
    panel: String,
}

/// One checked location from a form line: `file`, `file:10` or `file:10-20`, optionally
/// followed by ` | snippet`.
fn parse_location(line: &str) -> Result<Value, String> {
    let (place, snippet) = match line.split_once(" | ") {
        Some((a, b)) => (a.trim(), Some(b.trim()).filter(|s| !s.is_empty())),
        None => (line.trim(), None),
    };
    let (file, range) = match place.rsplit_once(':') {
        Some((f, r)) if !r.is_empty() && r.chars().all(|c| c.is_ascii_digit() || c == '-') => {
            (f.trim(), Some(r))
        }
        _ => (place, None),
    };
    if file.is_empty() || file.chars().any(char::is_whitespace) {
        return Err(format!(
            "{line:?}: start with a file path without spaces, e.g. src/api.py:10-20"
        ));
    }
    let mut loc = Map::new();
    loc.insert("file".into(), Value::String(file.to_string()));
    if let Some(r) = range {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (a, b) = match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) if a >= 1 && b >= a => (a, b),
            _ => {
                return Err(format!(
                    "{line:?}: the line range must be N or N-M with 1 ≤ N ≤ M"
                ));
            }
        };
        loc.insert("start_line".into(), json!(a));
        loc.insert("end_line".into(), json!(b));
    }
    if let Some(s) = snippet {
        loc.insert("snippet".into(), Value::String(s.to_string()));
    }
    Ok(Value::Object(loc))
}

/// Validates a finding form against the model; errors land on their fields.
fn finding_from_form(
    f: &FindingForm,
    model: &crate::domain::ThreatModel,
    st: &mut FormState,
) -> NewFinding {
    let title = f.title.trim();
    if title.is_empty() {
        st.error("title", "Give the finding a short title.");
    } else if title.chars().count() > 300 {
        st.error("title", "At most 300 characters.");
    }
    let severity = f.severity.trim().to_lowercase();
    if !SEVERITIES.contains(&severity.as_str()) {
        st.error("severity", "Choose critical, high, medium, low or info.");
    }
    let control = f.control_id.trim();
    let control_id = if control.is_empty() {
        None
    } else if let Some(c) = model.control(control) {
        Some(c.id.clone())
    } else {
        st.error("control_id", format!("Unknown control {control:?}."));
        None
    };
    let mut locations = Vec::new();
    for line in f.checked_locations.lines().filter(|l| !l.trim().is_empty()) {
        match parse_location(line) {
            Ok(v) => locations.push(v),
            Err(m) => {
                st.error("checked_locations", format!("{m}."));
                break;
            }
        }
    }
    let patterns: Vec<String> = f
        .checked_patterns
        .split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if patterns.len() > 100 || patterns.iter().any(|p| p.chars().count() > 300) {
        st.error(
            "checked_patterns",
            "At most 100 patterns of up to 300 characters each.",
        );
    }
    for (field, text) in [
        ("description", &f.description),
        ("expected_evidence", &f.expected_evidence),
    ] {
        if text.chars().count() > 5000 {
            st.error(field, "At most 5000 characters.");
        }
    }
    NewFinding {
        title: title.to_string(),
        description: f.description.trim().to_string(),
        severity,
        control_id,
        checked_locations: locations,
        checked_patterns: patterns,
        expected_evidence: f.expected_evidence.trim().to_string(),
    }
}

async fn add_finding(
    state: Data,
    form: PageForm<FindingForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let d = load(&state, &p, id.clone(), Cursors::default()).await?;
    let mut st = FormState::new()
        .value("control_id", &f.control_id)
        .value("title", &f.title)
        .value("severity", &f.severity)
        .value("description", &f.description)
        .value("checked_locations", &f.checked_locations)
        .value("checked_patterns", &f.checked_patterns)
        .value("expected_evidence", &f.expected_evidence);
    // The form in a control's panel posts that control; the general form may pick one.
    let key = format!("finding:{}", f.panel.trim());
    let item = finding_from_form(&f, &d.s.model, &mut st);
    if st.has_errors() {
        return respond(&p, d, Some(Posted { key, f: st }));
    }
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let title = item.title.clone();
    let r = web::block(move || svc.submit_findings(&caller, &id, &[item])).await?;
    match r {
        Ok(_) => Ok(done(
            &p,
            &back(&d.s.model.id),
            format!("Finding “{title}” recorded."),
        )),
        Err(e) => {
            absorb(&mut st, e, |field| match field {
                f if f.starts_with("checked_locations") => "checked_locations".into(),
                f => f.to_string(),
            })?;
            respond(&p, d, Some(Posted { key, f: st }))
        }
    }
}

#[derive(Deserialize)]
struct TransitionForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
    /// Assertion ids proving a remediation, separated by commas or spaces.
    #[serde(default)]
    linked_assertions: String,
}

async fn transition(
    state: Data,
    form: PageForm<TransitionForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, fid) = path.into_inner();
    let mut d = load(&state, &p, id.clone(), Cursors::default()).await?;
    // The finding may be on a later page than the first one loaded: fetch it (a refused
    // transition re-renders its row).
    let current = match d.findings.items.iter().find(|x| x.id == fid) {
        Some(f) => f.clone(),
        None => {
            let (svc, caller, id, fid) = (
                state.assurance.clone(),
                p.caller.clone(),
                id.clone(),
                fid.clone(),
            );
            let f = web::block(move || svc.get_finding(&caller, &id, &fid)).await??;
            d.findings.items.push(f.clone());
            f
        }
    };
    let to = f.status.trim().to_lowercase();
    let mut st = FormState::new()
        .value("status", &to)
        .value("reason", &f.reason)
        .value("linked_assertions", &f.linked_assertions);
    let linked: Vec<String> = f
        .linked_assertions
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if to == "dismissed" && f.reason.trim().is_empty() {
        st.error("reason", "Dismissing a finding requires a reason.");
    }
    let unknown = {
        let (svc, caller, id, linked) = (
            state.assurance.clone(),
            p.caller.clone(),
            id.clone(),
            linked.clone(),
        );
        web::block(move || svc.unknown_assertions(&caller, &id, &linked)).await??
    };
    if let Some(unknown) = unknown.first() {
        st.error(
            "linked_assertions",
            format!("Unknown assertion {unknown:?} in this model."),
        );
    }
    let key = format!("transition:{fid}");
    if st.has_errors() {
        return respond(&p, d, Some(Posted { key, f: st }));
    }
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let t = Transition {
        status: to.clone(),
        reason: Some(f.reason.trim().to_string()).filter(|r| !r.is_empty()),
        linked_assertions: (!linked.is_empty()).then_some(linked),
    };
    let title = current.title.clone();
    let r = web::block(move || svc.transition_finding(&caller, &id, &fid, &t)).await?;
    match r {
        Ok(out) => Ok(done(
            &p,
            &back(&d.s.model.id),
            format!("Finding “{title}” is now {}.", out.status),
        )),
        Err(e) => {
            absorb(&mut st, e, str::to_string)?;
            respond(&p, d, Some(Posted { key, f: st }))
        }
    }
}

/// `GET /models/{id}/assurance/runs/{run}/audit`: the same audit bundle as the REST
/// endpoint, as a JSON attachment.
async fn audit_bundle(
    state: Data,
    p: Page,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, run) = path.into_inner();
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let bundle = web::block(move || svc.audit_bundle(&caller, &id, &run)).await??;
    let body = serde_json::to_vec(&bundle).map_err(PageError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"audit-{}.json\"", bundle.run_id),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_from_lines_and_json() {
        let v = parse_params("function_exists", "file = src/a.rs\nname=check\n\n").expect("ok");
        assert_eq!(v, serde_json::json!({"file": "src/a.rs", "name": "check"}));
        let v = parse_params("x", "{\"a\": [1]}").expect("json");
        assert_eq!(v["a"][0], 1);
        assert!(parse_params("x", "[1]").is_err());
        assert!(parse_params("x", "no equals sign").is_err());
    }

    #[test]
    fn per_type_fields_overlay_the_text_box_and_ignore_other_types() {
        let mut fields = BTreeMap::new();
        fields.insert("param.name".to_string(), " check ".to_string());
        fields.insert("param.pattern".to_string(), "leftover".to_string());
        fields.insert("csrf_token".to_string(), "x".to_string());
        let v = assemble_params("function_exists", "file=a.rs\nname=old", &fields).expect("ok");
        assert_eq!(v, json!({"file": "a.rs", "name": "check"}));
        let v = assemble_params("function_exists", "", &BTreeMap::new()).expect("ok");
        assert_eq!(v, json!({}));
    }

    #[test]
    fn checked_locations_parse_and_refuse_bad_ranges() {
        assert_eq!(
            parse_location("src/api.py:10-20 | def upload(").expect("ok"),
            json!({"file": "src/api.py", "start_line": 10, "end_line": 20, "snippet": "def upload("})
        );
        assert_eq!(
            parse_location("main.py:7").expect("ok"),
            json!({"file": "main.py", "start_line": 7, "end_line": 7})
        );
        assert_eq!(
            parse_location("README").expect("ok"),
            json!({"file": "README"})
        );
        assert!(parse_location("a.py:20-10").is_err());
        assert!(parse_location("a.py:0").is_err());
        assert!(parse_location("two words:3").is_err());
        assert_eq!(field_tail("findings[0].title"), "title");
        assert_eq!(field_tail("assertions[2].params.file"), "params.file");
        assert_eq!(field_tail("reason"), "reason");
    }
}
