//! Settings → Workspace security (`/settings/security`) for the signed-in workspace: the CI
//! public key (upload, fingerprint badge, history), the require-attestation toggle, trusted
//! OIDC issuers and required claims. Every change asks for the user's password (or a current
//! authenticator code) in the same form; reads and writes go through
//! [`crate::assurance::AssuranceService`] (which enforces that only owners/admins change them).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::page::{Layout, Nav, Page, PageError, PageForm, redirect_flash};
use crate::assurance::{self, attestation::Security, attestation::SecurityPatch};
use crate::auth::{self, reauth::Credential};
use crate::web::AppState;

type Data = web::Data<AppState>;

const PATH: &str = "/settings/security";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(page))
        .route("/settings/security/ci-key", web::post().to(upload_key))
        .route("/settings/security/policy", web::post().to(policy));
}

#[derive(Template)]
#[template(path = "settings_security.html")]
struct SecurityTpl {
    l: Layout,
    sec: Security,
}

impl SecurityTpl {
    fn issuers(&self) -> String {
        self.sec.trusted_issuers.join("\n")
    }

    fn claims(&self) -> String {
        self.sec
            .required_claims
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The audience field's value: empty when the default (the public URL) applies.
    fn audience_value(&self) -> &str {
        if self.sec.oidc_audience_is_default {
            ""
        } else {
            &self.sec.oidc_audience
        }
    }

    fn short(&self, fp: &str) -> String {
        fp.chars().take(16).collect()
    }
}

async fn page(state: Data, p: Page) -> Result<HttpResponse, PageError> {
    let svc = state.assurance.clone();
    let caller = p.caller.clone();
    let ws = p.caller.workspace_id.clone();
    let sec = web::block(move || svc.security(&caller, &ws)).await??;
    p.respond(&SecurityTpl {
        l: p.layout("Workspace security", Nav::Settings, "security"),
        sec,
    })
}

/// Why a change was refused: the re-authentication or the service.
enum Refusal {
    Auth(auth::Error),
    Service(assurance::Error),
}

fn outcome<T>(r: Result<T, Refusal>, ok: &str) -> Result<HttpResponse, PageError> {
    match r {
        Ok(_) => Ok(redirect_flash(PATH, "success", ok)),
        Err(Refusal::Service(
            e @ (assurance::Error::Invalid { .. } | assurance::Error::Forbidden(_)),
        )) => Ok(redirect_flash(PATH, "error", e.to_string())),
        Err(Refusal::Service(e)) => Err(e.into()),
        Err(Refusal::Auth(
            e @ (auth::Error::Invalid { .. }
            | auth::Error::Forbidden(_)
            | auth::Error::Throttled(_)),
        )) => Ok(redirect_flash(PATH, "error", e.to_string())),
        Err(Refusal::Auth(e)) => Err(e.into()),
    }
}

/// The password (or authenticator code) re-entered in a form.
fn credential(password: String, totp_code: String) -> Credential {
    let some = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    Credential {
        // Passwords are taken as typed; only an empty field means "not given".
        password: Some(password).filter(|p| !p.is_empty()),
        totp_code: some(totp_code),
    }
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    public_key_pem: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp_code: String,
}

async fn upload_key(state: Data, form: PageForm<KeyForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let (auth, svc) = (state.auth.clone(), state.assurance.clone());
    let caller = p.caller.clone();
    let ws = p.caller.workspace_id.clone();
    let cred = credential(f.password, f.totp_code);
    let r = web::block(move || {
        let proof = auth.reauthenticate(&caller, &cred).map_err(Refusal::Auth)?;
        svc.upload_ci_key(&caller, &ws, f.public_key_pem.trim(), &proof)
            .map_err(Refusal::Service)
    })
    .await?;
    outcome(r, "CI public key uploaded; the previous key is revoked.")
}

#[derive(Deserialize)]
struct PolicyForm {
    #[serde(default)]
    require_attestation: Option<String>,
    #[serde(default)]
    trusted_issuers: String,
    #[serde(default)]
    required_claims: String,
    #[serde(default)]
    oidc_audience: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp_code: String,
}

/// `key=value` lines into a claims map.
fn parse_claims(text: &str) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (n, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "required claims line {}: expected claim=value, got {line:?}",
                n + 1
            ));
        };
        map.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(map)
}

async fn policy(state: Data, form: PageForm<PolicyForm>) -> Result<HttpResponse, PageError> {
    let PageForm { page: p, form: f } = form;
    let claims = match parse_claims(&f.required_claims) {
        Ok(c) => c,
        Err(m) => return Ok(redirect_flash(PATH, "error", m)),
    };
    let patch = SecurityPatch {
        require_attestation: Some(f.require_attestation.is_some()),
        trusted_issuers: Some(
            f.trusted_issuers
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        required_claims: Some(claims),
        oidc_audience: Some(f.oidc_audience.trim().to_string()),
    };
    let (auth, svc) = (state.auth.clone(), state.assurance.clone());
    let caller = p.caller.clone();
    let ws = p.caller.workspace_id.clone();
    let cred = credential(f.password, f.totp_code);
    let r = web::block(move || {
        let proof = auth.reauthenticate(&caller, &cred).map_err(Refusal::Auth)?;
        svc.update_security(&caller, &ws, &patch, &proof)
            .map_err(Refusal::Service)
    })
    .await?;
    outcome(r, "Workspace security policy saved.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_lines() {
        let m = parse_claims("repository = acme/shop\n\nenvironment=prod").expect("ok");
        assert_eq!(m["repository"], "acme/shop");
        assert_eq!(m["environment"], "prod");
        assert!(parse_claims("nope").is_err());
    }
}
