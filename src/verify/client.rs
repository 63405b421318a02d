//! The appliance client of `rampart verify run|list|report` (contract §1–§2).
//!
//! Request sequences follow contract §2 exactly: `X-API-Key` on every request and no
//! other credential, no redirects followed, 10 s connect and 120 s read timeouts, JSON
//! bodies. Developer keys (anything but `mv_…`) and `--dry-run` never POST.

use super::checks::{Verdict, run_check};
use super::tier2::{self, Provider};
use super::workspace::Workspace;
use crate::wire::{
    self, AssertionsResponse, ModelListItem, ModelResponse, Pipeline, ReportResponse, ResultRow,
    ResultsRequest,
};
use p256::ecdsa::SigningKey;
use serde_json::Value;
use std::time::Duration;

/// A failed request; carries what to print (status and up to 2000 chars of body).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered ≥ 300 (redirects are not followed).
    #[error("{method} {url} failed: HTTP {status}: {body}")]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        body: String,
    },
    /// Network failure (DNS, TLS, connect, timeout).
    #[error("{method} {url} failed: {reason}")]
    Network {
        method: &'static str,
        url: String,
        reason: String,
    },
    /// 2xx without a JSON body of the expected shape.
    #[error("{method} {url}: response is not the expected JSON: {reason}")]
    BadBody {
        method: &'static str,
        url: String,
        reason: String,
    },
}

/// HTTP client bound to one appliance and API key.
pub struct Client {
    base: String,
    key: String,
    http: reqwest::blocking::Client,
}

/// Percent-encodes a query value (RFC 3986 unreserved kept).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Creates a client; one trailing `/` of `base_url` is stripped, a path prefix is kept.
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, ClientError> {
        Self::with_ca(base_url, api_key, None)
    }

    /// As [`Client::new`], additionally trusting the CA certificates of a PEM bundle (for
    /// appliances whose TLS certificate is issued by an internal CA).
    pub fn with_ca(
        base_url: &str,
        api_key: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let base = base_url.strip_suffix('/').unwrap_or(base_url).to_string();
        let mut builder = reqwest::blocking::Client::builder();
        if let Some(pem) = ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ClientError::Network {
                    method: "INIT",
                    url: base.clone(),
                    reason: format!("CA bundle: {e}"),
                })?;
            if certs.is_empty() {
                return Err(ClientError::Network {
                    method: "INIT",
                    url: base.clone(),
                    reason: "CA bundle holds no certificate".into(),
                });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("rampart-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Network {
                method: "INIT",
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base,
            key: api_key.to_string(),
            http,
        })
    }

    /// `mv_` keys are verifier keys and may submit; everything else is a developer key.
    pub fn is_verifier_key(&self) -> bool {
        self.key.starts_with("mv_")
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut u = format!("{}{path}", self.base);
        for (i, (k, v)) in query.iter().enumerate() {
            u.push(if i == 0 { '?' } else { '&' });
            u.push_str(&format!("{k}={}", encode(v)));
        }
        u
    }

    fn send(
        &self,
        method: &'static str,
        url: String,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut req = match method {
            "POST" => self.http.post(&url),
            _ => self.http.get(&url),
        };
        req = req
            .header("X-API-Key", &self.key)
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().map_err(|e| ClientError::Network {
            method,
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        let status = resp.status();
        let text = resp.text().map_err(|e| ClientError::Network {
            method,
            url: url.clone(),
            reason: e.to_string(),
        })?;
        if !status.is_success() {
            let body: String = text.chars().take(2000).collect();
            return Err(ClientError::Status {
                method,
                url,
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_str(&text).map_err(|e| ClientError::BadBody {
            method,
            url,
            reason: e.to_string(),
        })
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let url = self.url(path, query);
        let v = self.send("GET", url.clone(), None)?;
        serde_json::from_value(v).map_err(|e| ClientError::BadBody {
            method: "GET",
            url,
            reason: e.to_string(),
        })
    }

    /// E1: the models of the key's workspace.
    pub fn models(&self) -> Result<Vec<ModelListItem>, ClientError> {
        self.get("/api/models", &[])
    }
    /// E2: one model (optional in every sequence).
    pub fn model(&self, id: &str) -> Result<ModelResponse, ClientError> {
        self.get(&format!("/api/models/{}", encode(id)), &[])
    }
    /// E3: assertions scoped to `repo`.
    pub fn assertions(&self, id: &str, repo: &str) -> Result<AssertionsResponse, ClientError> {
        self.get(
            &format!("/api/models/{}/verification/assertions", encode(id)),
            &[("repo", repo)],
        )
    }
    /// E4: pending assertions of a tier.
    pub fn pending(&self, id: &str, tier: u8) -> Result<AssertionsResponse, ClientError> {
        let t = tier.to_string();
        self.get(
            &format!("/api/models/{}/verification/pending", encode(id)),
            &[("tier", &t), ("stale_after", "24")],
        )
    }
    /// E7: control ids of one component (only with `--component`).
    pub fn component_controls(
        &self,
        id: &str,
        component: &str,
    ) -> Result<crate::wire::ControlsResponse, ClientError> {
        self.get(
            &format!("/api/models/{}/controls", encode(id)),
            &[("component_id", component)],
        )
    }
    /// E6: verification report.
    pub fn report(&self, id: &str) -> Result<ReportResponse, ClientError> {
        self.get(
            &format!("/api/models/{}/verification/report", encode(id)),
            &[],
        )
    }
    /// E5: submit one tier's results; returns the server's `run_id`.
    pub fn submit(&self, id: &str, body: &ResultsRequest) -> Result<String, ClientError> {
        let url = self.url(
            &format!("/api/models/{}/verification/results", encode(id)),
            &[],
        );
        let v = serde_json::to_value(body).map_err(|e| ClientError::BadBody {
            method: "POST",
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let resp = self.send("POST", url.clone(), Some(&v))?;
        match resp.get("run_id") {
            Some(Value::String(s)) => Ok(s.clone()),
            _ if resp.is_object() => Ok(String::new()),
            _ => Err(ClientError::BadBody {
                method: "POST",
                url,
                reason: "expected a JSON object with run_id".into(),
            }),
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Finds the repository scope (contract §4): `--repo`, `GITHUB_REPOSITORY`,
/// `CI_PROJECT_PATH`, then the GitHub/GitLab `origin` remote. `None` means on-prem hosts
/// must pass `--repo owner/name`.
pub fn detect_repo(explicit: Option<&str>, root: &std::path::Path) -> Option<String> {
    if let Some(r) = explicit.filter(|r| !r.is_empty()) {
        return Some(r.to_string());
    }
    for var in ["GITHUB_REPOSITORY", "CI_PROJECT_PATH"] {
        if let Ok(v) = std::env::var(var)
            && !v.trim().is_empty()
        {
            return Some(v);
        }
    }
    let out = std::process::Command::new("git")
        .args(["remote", "get-url", "origin"])
        .current_dir(root)
        .output()
        .ok()?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    for prefix in [
        "git@github.com:",
        "https://github.com/",
        "git@gitlab.com:",
        "https://gitlab.com/",
    ] {
        if let Some(rest) = url.strip_prefix(prefix) {
            return Some(rest.strip_suffix(".git").unwrap_or(rest).to_string());
        }
    }
    None
}

/// Whether an assertion's `repo` keeps it in this run: empty/absent/null/`no_repo`, or
/// exactly `repo` (case-sensitive).
pub fn repo_matches(assertion: &Value, repo: &str) -> bool {
    match assertion.get("repo") {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => {
            let t = s.trim();
            t.is_empty() || t == "no_repo" || t == repo
        }
        Some(_) => false,
    }
}

/// Lower-cased slug of a repo URL or `owner/name`: scheme, host, trailing `/` and `.git` cut.
pub fn repo_slug(s: &str) -> String {
    let s = s.trim().trim_end_matches('/');
    let s = s.strip_suffix(".git").unwrap_or(s);
    let s = if let Some((_, rest)) = s.split_once("://") {
        rest.split_once('/').map(|(_, p)| p).unwrap_or("")
    } else if let Some((host, rest)) = s.split_once(':').filter(|(h, _)| h.contains('@')) {
        let _ = host;
        rest
    } else {
        s
    };
    s.to_ascii_lowercase()
}

/// The `pipeline` object from CI environment variables (contract §3 E5).
pub fn pipeline_from_env(source_digest: String) -> Pipeline {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if !env("GITHUB_ACTIONS").is_empty() || !env("GITHUB_RUN_ID").is_empty() {
        let server =
            std::env::var("GITHUB_SERVER_URL").unwrap_or_else(|_| "https://github.com".into());
        return Pipeline {
            provider: "github_actions".into(),
            run_id: env("GITHUB_RUN_ID"),
            run_url: format!(
                "{server}/{}/actions/runs/{}",
                env("GITHUB_REPOSITORY"),
                env("GITHUB_RUN_ID")
            ),
            commit_sha: env("GITHUB_SHA"),
            branch: env("GITHUB_REF"),
            source_digest,
        };
    }
    if !env("GITLAB_CI").is_empty() || !env("CI_PIPELINE_ID").is_empty() {
        return Pipeline {
            provider: "gitlab_ci".into(),
            run_id: env("CI_PIPELINE_ID"),
            run_url: env("CI_PIPELINE_URL"),
            commit_sha: env("CI_COMMIT_SHA"),
            branch: env("CI_COMMIT_REF_NAME"),
            source_digest,
        };
    }
    if ["SOURCE_REVISION", "SOURCE_REPO", "SOURCE_BRANCH"]
        .iter()
        .any(|k| !env(k).is_empty())
    {
        return Pipeline {
            provider: std::env::var("SOURCE_PROVIDER")
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "generic".into()),
            run_id: env("BUILD_NUMBER"),
            run_url: env("BUILD_URL"),
            commit_sha: env("SOURCE_REVISION"),
            branch: env("SOURCE_BRANCH"),
            source_digest,
        };
    }
    Pipeline {
        provider: "local".into(),
        source_digest,
        ..Default::default()
    }
}

/// Settings of one `run`.
pub struct RunSettings<'a> {
    /// Project tree.
    pub ws: &'a Workspace,
    /// Repository scope.
    pub repo: Option<String>,
    /// Never POST.
    pub dry_run: bool,
    /// Tier-2 provider, if any.
    pub provider: Option<Provider>,
    /// Workspace signing key, if any.
    pub signing_key: Option<SigningKey>,
    /// Customer DSSE key, if any; preferred over the workspace key (contract §5.3).
    pub customer_key: Option<SigningKey>,
    /// Progress lines to stderr.
    pub verbose: bool,
    /// `--changed-files`: when set, assertions whose `params.file` is not listed are dropped
    /// (assertions without `params.file` are kept).
    pub changed_files: Option<std::collections::HashSet<String>>,
    /// `--component C`: the root is rebased to the component's path (E2) and only the
    /// component's controls (E7) are kept.
    pub component: Option<String>,
}

/// One checked assertion of a run.
#[derive(Debug, Clone)]
pub struct CheckedRow {
    /// Wire row as submitted.
    pub row: ResultRow,
    /// Assertion type.
    pub kind: String,
    /// Raw params (for locations in outputs).
    pub params: Value,
}

/// Outcome of `run` for one model.
#[derive(Debug, Clone, Default)]
pub struct ModelOutcome {
    /// Model id.
    pub model_id: String,
    /// Title, when E2 answered.
    pub title: Option<String>,
    /// Tier-1 rows.
    pub tier1: Vec<CheckedRow>,
    /// Tier-2 rows.
    pub tier2: Vec<CheckedRow>,
    /// Run ids returned by the POSTs (empty when not submitted).
    pub tier1_run_id: String,
    /// Tier-2 run id.
    pub tier2_run_id: String,
    /// Local content hashes per tier.
    pub content_hash_tier1: String,
    /// Tier-2 content hash.
    pub content_hash_tier2: String,
    /// True when nothing was submitted because of `--dry-run`.
    pub dry_run: bool,
    /// True when the key is a developer key.
    pub developer_key: bool,
    /// Sufficiency details from the report: (control_id, status, details).
    pub sufficiency: Vec<(String, String, String)>,
    /// Number of drift items in the report.
    pub drift: usize,
    /// Assertions bound to this repo explicitly.
    pub repo_bound_assertions: usize,
    /// Assertions dropped for repo mismatch.
    pub skipped_other_repo: Vec<String>,
    /// Model-level error (the model counts as failed).
    pub error: Option<String>,
    /// The model was skipped (`--all` and another repo).
    pub skipped_reason: Option<String>,
    /// Whether the error came from the server/network (exit 3) or not (exit 1).
    pub network_error: bool,
}

fn row(id: &str, tier: u8, v: &Verdict, reasoning: String, reviewer: String) -> ResultRow {
    ResultRow {
        assertion_id: id.to_string(),
        tier,
        result: v.result().to_string(),
        details: v.details.clone(),
        reasoning,
        reviewer,
        provenance: None,
        evidence_hash: None,
        reached: None,
        depends: None,
        mechanism_found: None,
        sites: None,
        allowlisted: None,
        tier2_evidence_hash: None,
        tier2_consistency_n: None,
    }
}

/// Checks many assertions in parallel over one shared workspace (results in input order).
///
/// The work is split into units: all assertions naming the same single file (not a glob)
/// form one unit, run back to back on one thread, after which that file's cached text and
/// blanked code are dropped ([`Workspace::forget`]). Each file is still read and blanked
/// once, memory stays bounded by the files in flight, and the allocator reuses the freed
/// buffers instead of faulting in fresh pages for every file. Every other assertion
/// (globs, manifests, no file) is a unit of its own; those run first and leave the cache
/// as it is. Verdicts do not depend on the grouping.
pub fn check_all(ws: &Workspace, items: &[(String, Value)]) -> Vec<Verdict> {
    let mut units: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    let mut by_file: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut file_units: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for (i, (_, params)) in items.iter().enumerate() {
        match params.get("file").and_then(Value::as_str) {
            Some(f) if !f.contains(['*', '?']) => match by_file.get(f) {
                Some(&u) => file_units[u].1.push(i),
                None => {
                    by_file.insert(f, file_units.len());
                    file_units.push((Some(f), vec![i]));
                }
            },
            _ => units.push((None, vec![i])),
        }
    }
    units.extend(file_units);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(units.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Verdict>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let u = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((file, members)) = units.get(u) else {
                        break;
                    };
                    for &i in members {
                        let (kind, params) = &items[i];
                        let v = run_check(ws, kind, params);
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(v);
                        }
                    }
                    if let Some(f) = file {
                        ws.forget(f);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Verdict::fail("Verifier error: internal worker failure"))
        })
        .collect()
}

fn filtered(
    resp: &AssertionsResponse,
    repo: &str,
    changed: Option<&std::collections::HashSet<String>>,
    out: &mut ModelOutcome,
) -> Vec<(String, Value)> {
    let mut kept = Vec::new();
    out.skipped_other_repo.clear();
    out.repo_bound_assertions = 0;
    for (cid, a) in resp.flattened() {
        let id = a
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let (Some(set), Some(file)) =
            (changed, a.pointer("/params/file").and_then(Value::as_str))
            && !set.contains(file.trim_start_matches("./"))
        {
            continue;
        }
        if repo_matches(&a, repo) {
            if a.get("repo")
                .and_then(Value::as_str)
                .is_some_and(|r| r.trim() == repo)
            {
                out.repo_bound_assertions += 1;
            }
            kept.push((cid, a));
        } else {
            out.skipped_other_repo.push(id);
        }
    }
    kept
}

/// Attaches exactly one attestation form: a customer DSSE bundle when a customer key is
/// set, else the workspace ECDSA signature, else none (unsigned).
fn sign_body(
    body: &mut ResultsRequest,
    s: &RunSettings,
    model_id: &str,
    tier: u8,
    assertions: &[Value],
) -> Result<(), String> {
    let Some(h) = body.content_hash.clone() else {
        return Ok(());
    };
    if let Some(k) = &s.customer_key {
        let pipeline = serde_json::to_value(&body.pipeline).map_err(|e| e.to_string())?;
        let rows: Vec<Value> = body
            .results
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect();
        let bundle = wire::build_dsse_bundle(k, model_id, tier, &h, &pipeline, assertions, &rows)
            .map_err(|e| e.to_string())?;
        body.dsse_bundle = Some(bundle);
        return Ok(());
    }
    if let Some(k) = &s.signing_key {
        let (sig, signed) = wire::sign_digest(k, &h).map_err(|e| e.to_string())?;
        body.signature = Some(sig);
        body.signed_hash = Some(signed);
    }
    Ok(())
}

fn digest_paths(items: &[(String, Value)]) -> Vec<String> {
    items
        .iter()
        .filter_map(|(_, a)| {
            let p = a.get("params")?;
            p.get("file")
                .or_else(|| p.get("scope"))
                .and_then(Value::as_str)
                .map(String::from)
        })
        .collect()
}

/// Runs one model: contract §2.1 steps 1–6. `prefetched` is `Some(E2 answer)` when the
/// caller (`--all`) already made the optional E2 read, so it is not repeated.
pub fn run_model(
    client: &Client,
    id: &str,
    prefetched: Option<Option<ModelResponse>>,
    s: &RunSettings,
) -> ModelOutcome {
    let mut out = ModelOutcome {
        model_id: id.to_string(),
        developer_key: !client.is_verifier_key(),
        dry_run: s.dry_run,
        ..Default::default()
    };
    let submit = client.is_verifier_key() && !s.dry_run;
    // Step 1 (optional).
    let model = prefetched.unwrap_or_else(|| client.model(id).ok());
    out.title = model.as_ref().and_then(|m| m.title.clone());
    let Some(repo) = s.repo.clone() else {
        out.error = Some("Repository scope is required: pass --repo owner/name (on-prem git hosts are not auto-detected)".into());
        return out;
    };
    let fail_net = |out: &mut ModelOutcome, e: ClientError| {
        out.network_error = true;
        out.error = Some(e.to_string());
    };
    // --component: optional E2 path (rebases the root) and optional E7 control filter.
    let rebased;
    let mut ws = s.ws;
    let mut keep_controls: Option<std::collections::HashSet<String>> = None;
    if let Some(comp) = &s.component {
        let path = model
            .as_ref()
            .and_then(|m| m.components.as_ref())
            .and_then(|cs| cs.iter().find(|c| &c.id == comp))
            .and_then(|c| c.path.clone())
            .filter(|p| !p.trim().is_empty());
        if let Some(path) = path {
            match s.ws.subdir(&path) {
                Ok(w) => {
                    rebased = w;
                    ws = &rebased;
                }
                Err(e) => {
                    out.error = Some(format!("component '{comp}' path: {e}"));
                    return out;
                }
            }
        }
        if let Ok(c) = client.component_controls(id, comp) {
            keep_controls = Some(c.controls.into_iter().map(|c| c.id).collect());
        }
    }
    let keep = |items: Vec<(String, Value)>| -> Vec<(String, Value)> {
        match &keep_controls {
            Some(set) => items
                .into_iter()
                .filter(|(cid, _)| set.contains(cid))
                .collect(),
            None => items,
        }
    };
    // Step 2.
    let resp = match client.assertions(id, &repo) {
        Ok(r) => r,
        Err(e) => {
            fail_net(&mut out, e);
            return out;
        }
    };
    let items = keep(filtered(&resp, &repo, s.changed_files.as_ref(), &mut out));
    if s.verbose {
        for skipped in &out.skipped_other_repo {
            eprintln!("[skip] {skipped}: repo mismatch (not {repo})");
        }
    }
    let digest = wire::source_digest(digest_paths(&items).iter().map(String::as_str), |p| {
        ws.read_bytes(p).ok()
    });
    let pipeline = pipeline_from_env(digest);
    let checks: Vec<(String, Value)> = items
        .iter()
        .map(|(_, a)| {
            let kind = a
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (kind, a.get("params").cloned().unwrap_or(Value::Null))
        })
        .collect();
    let verdicts = check_all(ws, &checks);
    for ((_, a), ((kind, params), v)) in items.iter().zip(checks.iter().zip(verdicts.iter())) {
        let aid = a.get("id").and_then(Value::as_str).unwrap_or("");
        out.tier1.push(CheckedRow {
            row: row(aid, 1, v, String::new(), format!("rampart-verify:{kind}")),
            kind: kind.clone(),
            params: params.clone(),
        });
    }
    let raw: Vec<Value> = items.iter().map(|(_, a)| a.clone()).collect();
    let rows1: Vec<Value> = out
        .tier1
        .iter()
        .filter_map(|r| serde_json::to_value(&r.row).ok())
        .collect();
    out.content_hash_tier1 = wire::content_hash(&raw, &rows1);
    // Step 3.
    if submit && !out.tier1.is_empty() {
        let mut body = ResultsRequest {
            pipeline: pipeline.clone(),
            results: out.tier1.iter().map(|r| r.row.clone()).collect(),
            content_hash: Some(out.content_hash_tier1.clone()),
            signature: None,
            signed_hash: None,
            bundle: None,
            dsse_bundle: None,
        };
        if let Err(e) = sign_body(&mut body, s, id, 1, &raw) {
            out.error = Some(format!("signing failed: {e}"));
            return out;
        }
        match client.submit(id, &body) {
            Ok(run_id) => out.tier1_run_id = run_id,
            Err(e) => {
                fail_net(&mut out, e);
                return out;
            }
        }
    }
    // Step 4: the same GET, for tier 2.
    let resp2 = match client.assertions(id, &repo) {
        Ok(r) => r,
        Err(e) => {
            fail_net(&mut out, e);
            return out;
        }
    };
    let mut scratch = ModelOutcome::default();
    let items2 = keep(filtered(
        &resp2,
        &repo,
        s.changed_files.as_ref(),
        &mut scratch,
    ));
    for (cid, a) in &items2 {
        let aid = a.get("id").and_then(Value::as_str).unwrap_or("");
        let kind = a
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let params = a.get("params").cloned().unwrap_or(Value::Null);
        let (verdict, reasoning, reviewer) = match &s.provider {
            None => (
                Verdict::skip("No --tier2-provider specified"),
                String::new(),
                format!("rampart-verify:{kind}"),
            ),
            Some(p) => {
                let prompt = a
                    .get("tier2_prompt")
                    .and_then(Value::as_str)
                    .map(String::from)
                    .unwrap_or_else(|| tier2::render_prompt(a, &format!("Control {cid}")));
                let full = match tier2::excerpt(ws, a) {
                    Some(x) => format!("{prompt}\n\nSource excerpt:\n{x}"),
                    None => prompt,
                };
                match p.ask(&full).and_then(|ans| tier2::parse_answer(&ans)) {
                    Ok((true, why)) => (
                        Verdict {
                            passed: true,
                            skipped: false,
                            details: "Tier 2: YES".into(),
                        },
                        why,
                        p.reviewer(),
                    ),
                    Ok((false, why)) => (
                        Verdict {
                            passed: false,
                            skipped: false,
                            details: "Tier 2: NO".into(),
                        },
                        why,
                        p.reviewer(),
                    ),
                    Err(e) => (
                        Verdict::skip(format!("Tier 2 not evaluated: {e}")),
                        String::new(),
                        p.reviewer(),
                    ),
                }
            }
        };
        out.tier2.push(CheckedRow {
            row: row(aid, 2, &verdict, reasoning, reviewer),
            kind,
            params,
        });
    }
    let raw2: Vec<Value> = items2.iter().map(|(_, a)| a.clone()).collect();
    let rows2: Vec<Value> = out
        .tier2
        .iter()
        .filter_map(|r| serde_json::to_value(&r.row).ok())
        .collect();
    out.content_hash_tier2 = wire::content_hash(&raw2, &rows2);
    // Step 5.
    if submit && !out.tier2.is_empty() {
        let mut body = ResultsRequest {
            pipeline,
            results: out.tier2.iter().map(|r| r.row.clone()).collect(),
            content_hash: Some(out.content_hash_tier2.clone()),
            signature: None,
            signed_hash: None,
            bundle: None,
            dsse_bundle: None,
        };
        if let Err(e) = sign_body(&mut body, s, id, 2, &raw2) {
            out.error = Some(format!("signing failed: {e}"));
            return out;
        }
        match client.submit(id, &body) {
            Ok(run_id) => out.tier2_run_id = run_id,
            Err(e) => {
                fail_net(&mut out, e);
                return out;
            }
        }
    }
    // Step 6 (optional).
    if let Ok(report) = client.report(id) {
        out.drift = report.drift_items.as_ref().map_or(0, Vec::len);
        for d in report.control_details.unwrap_or_default() {
            if let Some(suff) = d.sufficiency {
                out.sufficiency
                    .push((d.control_id, suff.status, suff.details));
            }
        }
    }
    out
}

/// `run --all`: E1, then per model E2 (skipping models bound to another repo) and §2.1.
pub fn run_all(client: &Client, s: &RunSettings) -> Result<Vec<ModelOutcome>, ClientError> {
    let models = client.models()?;
    let mut outs = Vec::new();
    for m in models {
        let detail = client.model(&m.id).ok();
        let url = detail
            .as_ref()
            .and_then(|d| d.description_provenance.as_ref())
            .and_then(|p| p.repo_url.clone());
        if let (Some(url), Some(repo)) = (url.filter(|u| !u.trim().is_empty()), s.repo.as_deref())
            && repo_slug(&url) != repo_slug(repo)
        {
            outs.push(ModelOutcome {
                model_id: m.id.clone(),
                title: m.title.clone(),
                skipped_reason: Some(format!("bound to {url}, not {repo}")),
                ..Default::default()
            });
            continue;
        }
        let mut o = run_model(client, &m.id, Some(detail), s);
        if o.title.is_none() {
            o.title = m.title.clone();
        }
        outs.push(o);
    }
    Ok(outs)
}
