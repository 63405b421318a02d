//! The assurance page of a model, `/models/{id}/assurance`: per control its status, computed
//! verification status and sufficiency, assertions (list, add with a type dropdown, delete),
//! negative findings with their lifecycle buttons, unresolved drift, and the latest verified
//! commit per repository. Everything is read from and written through
//! [`crate::assurance::AssuranceService`]; nothing here computes a status.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::page::{Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::assurance::findings::{Finding, Transition};
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
            "/models/{id}/assurance/findings/{fid}/transition",
            web::post().to(transition),
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

#[derive(Template)]
#[template(path = "model_assurance.html")]
struct AssuranceTpl {
    l: Layout,
    s: StoredModel,
    verification: VerificationMap,
    assertions: Vec<Assertion>,
    findings: Vec<Finding>,
    report: Value,
    types: &'static [AssertionType],
}

impl AssuranceTpl {
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
            .iter()
            .filter(|a| a.control_id.as_deref() == Some(control_id))
            .collect()
    }

    fn findings_of(&self, control_id: &str) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.control_id.as_deref() == Some(control_id))
            .collect()
    }

    /// Findings not tied to a control.
    fn loose_findings(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| f.control_id.is_none())
            .collect()
    }

    fn sufficiency_of(&self, control_id: &str) -> String {
        self.report["control_details"]
            .as_array()
            .and_then(|d| d.iter().find(|x| x["control_id"] == control_id))
            .and_then(|x| x["sufficiency"]["status"].as_str())
            .unwrap_or("not assessed")
            .to_string()
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

    /// Lifecycle moves a finding in `status` can make from this page.
    fn moves(&self, status: &str) -> Vec<&'static str> {
        match status {
            "discovered" => vec!["acknowledged", "remediated"],
            "acknowledged" => vec!["remediated"],
            _ => vec![],
        }
    }

    fn dismissable(&self, status: &str) -> bool {
        matches!(status, "discovered" | "acknowledged")
    }
}

async fn page(state: Data, p: Page, path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let models = state.models.clone();
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let (s, verification, assertions, findings, report) = web::block(move || {
        let s = models.get(&caller, &id)?;
        let v = models.verification(&caller, &id)?;
        let a = svc.list_assertions(&caller, &id, None)?;
        let f = svc.list_findings(&caller, &id, None, None)?;
        let r = svc.report(&caller, &id)?;
        Ok::<_, PageError>((s, v, a, f, r))
    })
    .await??;
    p.respond(&AssuranceTpl {
        l: p.layout(format!("Assurance · {}", s.model.title), Nav::Assurance, ""),
        s,
        verification,
        assertions,
        findings,
        report,
        types: TYPES,
    })
}

/// Parameters from the form: a JSON object, or `key=value` lines (list parameters split on
/// commas). Type checking is left to the assertion validator.
fn parse_params(kind: &str, text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("params: invalid JSON: {e}"))?;
        if !v.is_object() {
            return Err("params: the JSON must be an object".into());
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
            return Err(format!(
                "params line {}: expected key=value, got {line:?}",
                n + 1
            ));
        };
        let (k, v) = (k.trim(), v.trim());
        let list = t
            .and_then(|t| t.params.iter().find(|p| p.name == k))
            .is_some_and(|p| p.kind == ParamKind::TextList);
        let value = if list {
            Value::Array(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            )
        } else {
            Value::String(v.to_string())
        };
        map.insert(k.to_string(), value);
    }
    Ok(Value::Object(map))
}

fn back(id: &str) -> String {
    format!("/models/{id}/assurance")
}

/// Refusals the user can fix become an error flash on the page; the rest are error pages.
fn outcome<T>(r: assurance::Result<T>, to: &str, ok: String) -> Result<HttpResponse, PageError> {
    match r {
        Ok(_) => Ok(redirect_flash(to, "success", ok)),
        Err(
            e @ (assurance::Error::Invalid { .. }
            | assurance::Error::Forbidden(_)
            | assurance::Error::Attestation(_)),
        ) => Ok(redirect_flash(to, "error", e.to_string())),
        Err(e) => Err(e.into()),
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
}

async fn add_assertion(
    state: Data,
    form: PageForm<AssertionForm>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let id = path.into_inner();
    let to = back(&id);
    let params = match parse_params(&f.kind, &f.params) {
        Ok(v) => v,
        Err(m) => return Ok(redirect_flash(&to, "error", m)),
    };
    let item = NewAssertion {
        kind: f.kind.trim().to_string(),
        params,
        description: f.description.trim().to_string(),
        repo: Some(f.repo.trim().to_string()).filter(|r| !r.is_empty()),
    };
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let control = f.control_id.trim().to_string();
    let ok = format!("Assertion added to {control}.");
    let r = web::block(move || svc.submit_assertions(&caller, &id, &control, &[item], Source::Web))
        .await?;
    outcome(r, &to, ok)
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
    let r = web::block(move || svc.delete_assertion(&caller, &id, &aid)).await?;
    outcome(r, &to, ok)
}

#[derive(Deserialize)]
struct TransitionForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    reason: String,
}

async fn transition(
    state: Data,
    form: PageForm<TransitionForm>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (id, fid) = path.into_inner();
    let to = back(&id);
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let ok = format!("Finding {fid} moved to {}.", f.status.trim());
    let t = Transition {
        status: f.status,
        reason: Some(f.reason).filter(|r| !r.trim().is_empty()),
        linked_assertions: None,
    };
    let r = web::block(move || svc.transition_finding(&caller, &id, &fid, &t)).await?;
    outcome(r, &to, ok)
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
}
