//! Verification runs: accepting CI results (E5) with content-hash recomputation, attestation
//! and policy checks, per-tier status updates, drift detection and the latest commit per repo;
//! the verification report (E6); the review queue; and the audit bundle of a run, whose
//! `openssl` command verifies its signature independently of rampart.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{AssuranceService, Error, Result, attestation, invalid, load_assertions};
use crate::auth::{Caller, Scope, now_str};
use crate::models::{self, Source};

/// Who submits results.
#[derive(Debug, Clone)]
pub enum Submitter {
    /// An API key or session.
    Caller(Caller),
    /// The spec's manual flow: an ES256 JWT signed by the workspace's CI key.
    WorkspaceKey {
        /// The workspace the token's `sub` names.
        workspace_id: String,
        /// The database holding that workspace's data.
        tenant: crate::store::Db,
    },
}

impl Submitter {
    fn workspace(&self) -> &str {
        match self {
            Submitter::Caller(c) => &c.workspace_id,
            Submitter::WorkspaceKey { workspace_id, .. } => workspace_id,
        }
    }

    fn tenant(&self) -> &crate::store::Db {
        match self {
            Submitter::Caller(c) => &c.tenant,
            Submitter::WorkspaceKey { tenant, .. } => tenant,
        }
    }

    fn actor(&self) -> Option<&str> {
        match self {
            Submitter::Caller(c) => Some(&c.user_id),
            Submitter::WorkspaceKey { .. } => None,
        }
    }
}

/// A submitted result row, validated.
struct Row {
    assertion_id: String,
    tier: u8,
    result: String,
    details: String,
    reasoning: String,
}

fn parse_rows(results: &Value) -> Result<Vec<Row>> {
    let list = results
        .as_array()
        .ok_or_else(|| invalid("results", "must be an array of result rows"))?;
    if list.is_empty() {
        return Err(invalid("results", "must not be empty"));
    }
    if list.len() > 10_000 {
        return Err(invalid("results", "at most 10000 rows per submission"));
    }
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let s = |k: &str| r.get(k).and_then(Value::as_str);
            let assertion_id = s("assertion_id").ok_or_else(|| {
                invalid(format!("results[{i}].assertion_id"), "is required (string)")
            })?;
            let tier = r
                .get("tier")
                .and_then(Value::as_u64)
                .filter(|t| *t == 1 || *t == 2)
                .ok_or_else(|| invalid(format!("results[{i}].tier"), "must be 1 or 2"))?;
            let result = s("result")
                .filter(|v| matches!(*v, "pass" | "fail" | "skipped"))
                .ok_or_else(|| {
                    invalid(
                        format!("results[{i}].result"),
                        "must be pass, fail or skipped",
                    )
                })?;
            Ok(Row {
                assertion_id: assertion_id.to_string(),
                tier: tier as u8,
                result: result.to_string(),
                details: s("details")
                    .unwrap_or_default()
                    .chars()
                    .take(10_000)
                    .collect(),
                reasoning: s("reasoning")
                    .unwrap_or_default()
                    .chars()
                    .take(10_000)
                    .collect(),
            })
        })
        .collect()
}

/// The exact text of the top-level `results` member (the manual flow signs its SHA-256).
fn raw_results_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        results: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Raw<'_>>(body)
        .ok()
        .and_then(|r| r.results.map(|v| v.get().to_string()))
        .unwrap_or_default()
}

/// Repository a run verified: the common repo tag of its assertions, else the one in a
/// GitHub/GitLab run URL, else "" (the default repository).
fn run_repo(tags: &BTreeSet<String>, run_url: &str) -> String {
    if tags.len() == 1 {
        return tags.iter().next().cloned().unwrap_or_default();
    }
    for host in ["https://github.com/", "https://gitlab.com/"] {
        if let Some(rest) = run_url.strip_prefix(host) {
            let parts: Vec<&str> = rest.split('/').take(2).collect();
            if parts.len() == 2 {
                return parts.join("/");
            }
        }
    }
    String::new()
}

impl AssuranceService {
    /// E5: records CI results. Checks scope, assertion ids, the content hash and any
    /// attestation before changing anything; then updates statuses, detects drift, and
    /// stores the run (notarized with the instance key).
    pub fn submit_results(
        &self,
        who: &Submitter,
        model_id: &str,
        body_bytes: &[u8],
        ci_token: Option<&str>,
    ) -> Result<Value> {
        if let Submitter::Caller(c) = who {
            if c.scope() == Some(Scope::Developer) {
                return Err(Error::Forbidden(
                    "developer keys (mk_) cannot submit verification results; use a verifier key (mv_)"
                        .into(),
                ));
            }
            // A session submits as a person of the workspace: viewers read only.
            if c.scope().is_none() {
                c.require_write()?;
            }
        }
        let body: Value = serde_json::from_slice(body_bytes)
            .map_err(|e| invalid("body", format!("invalid JSON: {e}")))?;
        if !body.is_object() {
            return Err(invalid("body", "must be a JSON object"));
        }
        let rows = parse_rows(body.get("results").unwrap_or(&Value::Null))?;
        let pipeline = body.get("pipeline").cloned().unwrap_or_else(|| json!({}));
        if !pipeline.is_object() {
            return Err(invalid("pipeline", "must be an object"));
        }
        let pstr = |k: &str| {
            pipeline
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let workspace = who.workspace().to_string();
        let mut conn = who.tenant().conn()?;
        let tx = conn.transaction()?;
        let stored = models::load(&tx, &workspace, model_id)?;
        // Only the assertions the results name (a run must not load the whole model's).
        let mut assertions: BTreeMap<String, super::Assertion> = BTreeMap::new();
        for row in &rows {
            if !assertions.contains_key(&row.assertion_id)
                && let Some(a) = super::load_assertion(&tx, model_id, &row.assertion_id)?
            {
                assertions.insert(a.id.clone(), a);
            }
        }
        // Rebuild the hashed set from the received rows (contract §5.2).
        let mut seen = BTreeSet::new();
        let mut hashed = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let a = assertions.get(&row.assertion_id).ok_or_else(|| {
                invalid(
                    format!("results[{i}].assertion_id"),
                    format!("unknown assertion {} in model {model_id}", row.assertion_id),
                )
            })?;
            if seen.insert(a.id.clone()) {
                hashed.push(json!({"id": a.id, "type": a.kind, "params": a.params, "description": a.description}));
            }
        }
        let received: Vec<Value> = body["results"].as_array().cloned().unwrap_or_default();
        let content_hash = crate::wire::canonical::content_hash(&hashed, &received);
        if let Some(sent) = body
            .get("content_hash")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            && sent != content_hash
        {
            return Err(invalid(
                "content_hash",
                format!(
                    "does not match the results and the assertions as stored (expected {content_hash}, got {sent}); were the results or assertions modified?"
                ),
            ));
        }
        let raw_results = raw_results_text(body_bytes);
        let tiers: BTreeSet<u8> = rows.iter().map(|r| r.tier).collect();
        let mut attested = attestation::verify_submission(
            &tx,
            &workspace,
            &body,
            &attestation::Submitted {
                model_id,
                tier: tiers.first().copied().filter(|_| tiers.len() == 1),
                content_hash: &content_hash,
                raw_results: &raw_results,
            },
        )?;
        // An OIDC identity token must verify whenever it is sent (fail closed); it attests
        // the run when no signature does.
        let oidc_claims = match ci_token {
            Some(token) => {
                let sec = attestation::load_policy(&tx, &workspace, &self.public_url)?;
                let claims = super::oidc::verify(token, &sec.oidc_policy(), &self.jwks)?;
                if matches!(attested.kind, "unsigned" | "sigstore") {
                    attested.kind = "ci_oidc";
                }
                Some(Value::Object(claims).to_string())
            }
            None => None,
        };
        if matches!(attested.kind, "unsigned" | "sigstore")
            && attestation::requires_attestation(&tx, &workspace)?
        {
            return Err(Error::Forbidden(
                "this workspace requires CI attestation: sign the results with the workspace's CI key (rampart verify --signing-key, or mipiti-verify --workspace-signing-key)".into(),
            ));
        }

        let run_id = format!(
            "run_{}",
            hex::encode(crate::auth::secrets::random_bytes::<8>())
        );
        let now = now_str();
        let tier = rows.first().map_or(1, |r| r.tier);
        let mut last: BTreeMap<(String, u8), &Row> = BTreeMap::new();
        for r in &rows {
            last.insert((r.assertion_id.clone(), r.tier), r);
        }
        let mut drift = Vec::new();
        let mut touched_controls = BTreeSet::new();
        let mut repo_tags = BTreeSet::new();
        for ((id, t), row) in &last {
            let a = &assertions[id];
            if let Some(c) = &a.control_id {
                touched_controls.insert(c.clone());
            }
            repo_tags.insert(a.repo.clone().unwrap_or_default());
            if *t == 1 {
                if row.result == "fail" && a.tier1_status == "pass" {
                    drift.push((a.id.clone(), a.control_id.clone(), row.details.clone()));
                }
                tx.execute(
                    "UPDATE assertions SET tier1_status = ?1, tier1_details = ?2, tier1_at = ?3, tier1_run_id = ?4, ever_passed = ever_passed OR ?5 WHERE id = ?6",
                    params![row.result, row.details, now, run_id, row.result == "pass", id],
                )?;
                if row.result == "pass" {
                    tx.execute(
                        "UPDATE drift_items SET resolved_at = ?1 WHERE assertion_id = ?2 AND resolved_at IS NULL",
                        params![now, id],
                    )?;
                }
            } else {
                // Incoherent assertions never leave tier-2 pending (type-shopping gate).
                let status = if !a.coherent && row.result == "pass" {
                    "pending"
                } else {
                    row.result.as_str()
                };
                tx.execute(
                    "UPDATE assertions SET tier2_status = ?1, tier2_details = ?2, tier2_reasoning = ?3, tier2_at = ?4, tier2_run_id = ?5 WHERE id = ?6",
                    params![status, row.details, row.reasoning, now, run_id, id],
                )?;
            }
        }
        for (assertion, control, details) in &drift {
            tx.execute(
                "INSERT INTO drift_items (model_id, assertion_id, control_id, run_id, details, detected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![model_id, assertion, control, run_id, details, now],
            )?;
            let cos: Vec<String> = control
                .as_deref()
                .map(|c| {
                    stored
                        .model
                        .objectives_of_control(c)
                        .iter()
                        .map(|o| o.id.clone())
                        .collect()
                })
                .unwrap_or_default();
            models::record_activity(
                &tx,
                &workspace,
                Some(model_id),
                "drift",
                &format!(
                    "drift: {assertion} ({}) passed before and now fails; affects {}",
                    control.as_deref().unwrap_or("-"),
                    if cos.is_empty() {
                        "-".to_string()
                    } else {
                        cos.join(", ")
                    }
                ),
                Source::Api,
                who.actor(),
            )?;
        }
        let repo = run_repo(&repo_tags, &pstr("run_url"));
        let commit = pstr("commit_sha");
        if tier == 1 && !commit.is_empty() && rows.iter().all(|r| r.result != "fail") {
            tx.execute(
                "INSERT INTO repo_commits (model_id, repo, commit_sha, branch, run_id, verified_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(model_id, repo) DO UPDATE SET commit_sha = ?3, branch = ?4, run_id = ?5, verified_at = ?6",
                params![model_id, repo, commit, pstr("branch"), run_id, now],
            )?;
        }
        // Notarization: the instance key signs the canonical results, so an auditor can check
        // that they were not modified after the appliance received them.
        let canonical = crate::wire::canonical::canonical_records_text(&hashed, &received);
        let (notary_sig, notary_fp) = match &self.notary {
            Some(key) => {
                let digest: [u8; 32] = Sha256::digest(canonical.as_bytes()).into();
                (
                    Some(
                        base64::engine::general_purpose::STANDARD.encode(key.sign_sha256(&digest)),
                    ),
                    Some(hex::encode(key.fingerprint())),
                )
            }
            None => (None, None),
        };
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        tx.execute(
            "INSERT INTO verification_runs (id, model_id, workspace_id, tier, pipeline, commit_sha, branch, repo, content_hash, attestation, signature, signed_hash, signer_fingerprint, signed_text, bundle, dsse_bundle, notary_signature, notary_fingerprint, results, submitted_by, created_at, oidc_claims) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            params![
                run_id,
                model_id,
                workspace,
                tier,
                pipeline.to_string(),
                commit,
                pstr("branch"),
                repo,
                content_hash,
                attested.kind,
                text("signature"),
                text("signed_hash"),
                attested.fingerprint,
                attested.signed_bytes.as_ref().map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                text("bundle"),
                text("dsse_bundle"),
                notary_sig,
                notary_fp,
                Value::Array(received).to_string(),
                who.actor(),
                now,
                oidc_claims
            ],
        )?;
        super::findings::auto_verify(&tx, model_id)?;
        models::record_activity(
            &tx,
            &workspace,
            Some(model_id),
            "verification",
            &format!(
                "tier {tier} results for {} assertion(s), {} ({}){}",
                seen.len(),
                attested.kind,
                if commit.is_empty() {
                    "no commit".into()
                } else {
                    format!("commit {}", &commit[..commit.len().min(12)])
                },
                if drift.is_empty() {
                    String::new()
                } else {
                    format!(", {} drift item(s)", drift.len())
                }
            ),
            Source::Api,
            who.actor(),
        )?;
        tx.commit()?;
        Ok(json!({
            "run_id": run_id,
            "attestation": attested.kind,
            "content_hash": content_hash,
            "drift_items": drift.len(),
            "controls": touched_controls,
        }))
    }

    /// E6: the verification report of a model.
    pub fn report(&self, caller: &Caller, model_id: &str) -> Result<Value> {
        let conn = caller.tenant.conn()?;
        let stored = models::load(&conn, &caller.workspace_id, model_id)?;
        // Counted by SQL: the report is read by every CI run and the assurance page, and
        // must not load every assertion of the model.
        let totals: [u64; 7] = conn.query_row(
            "SELECT coalesce(sum(tier1_status = 'pass'), 0), coalesce(sum(tier1_status = 'fail'), 0), \
             coalesce(sum(tier1_status IN ('pending', 'skipped')), 0), coalesce(sum(tier2_status = 'pass'), 0), \
             coalesce(sum(tier2_status = 'fail'), 0), coalesce(sum(tier2_status IN ('pending', 'skipped')), 0), \
             coalesce(sum(NOT coherent), 0) FROM assertions WHERE model_id = ?1",
            [model_id],
            |r| {
                Ok([
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ])
            },
        )?;
        // Per control: assertions, tier-1 pass, tier-1 fail, tier-2 pass, tier-2 fail.
        let mut per_control: BTreeMap<String, [u64; 5]> = BTreeMap::new();
        {
            let mut stmt = conn.prepare(
                "SELECT control_id, count(*), sum(tier1_status = 'pass'), sum(tier1_status = 'fail'), \
                 sum(tier2_status = 'pass'), sum(tier2_status = 'fail') FROM assertions \
                 WHERE model_id = ?1 AND control_id IS NOT NULL GROUP BY control_id",
            )?;
            let mut rows = stmt.query([model_id])?;
            while let Some(r) = rows.next()? {
                per_control.insert(
                    r.get(0)?,
                    [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                );
            }
        }
        let statuses = super::verification_map(&conn, model_id)?;
        let mut suff_counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut details = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT control_id, status, details, evaluated_by FROM control_sufficiency WHERE model_id = ?1 ORDER BY control_id",
        )?;
        let rows = stmt
            .query_map([model_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (control, status, text, judged_by) in &rows {
            if stored.model.control(control).is_none() {
                continue;
            }
            *suff_counts
                .entry(match status.as_str() {
                    "sufficient" => "sufficient",
                    "insufficient" => "insufficient",
                    _ => "pending",
                })
                .or_default() += 1;
            let c = per_control.get(control).copied().unwrap_or_default();
            details.push(json!({
                "control_id": control,
                "verification_status": statuses.get(control).copied().unwrap_or_default(),
                "sufficiency": {"status": status, "details": text, "evaluated_by": judged_by},
                "assertions": c[0],
                "tier1": {"pass": c[1], "fail": c[2]},
                "tier2": {"pass": c[3], "fail": c[4]},
            }));
        }
        let by =
            |s: crate::domain::VerificationStatus| statuses.values().filter(|v| **v == s).count();
        use crate::domain::VerificationStatus as V;
        let controls_with = statuses.len();
        let mut drift_stmt = conn.prepare(
            "SELECT assertion_id, control_id, run_id, details, detected_at FROM drift_items WHERE model_id = ?1 AND resolved_at IS NULL ORDER BY id",
        )?;
        let drift: Vec<Value> = drift_stmt
            .query_map([model_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .into_iter()
            .map(|(a, c, run, d, at)| {
                let cos: Vec<String> = c
                    .as_deref()
                    .map(|c| stored.model.objectives_of_control(c).iter().map(|o| o.id.clone()).collect())
                    .unwrap_or_default();
                json!({"assertion_id": a, "control_id": c, "control_objectives": cos, "run_id": run, "details": d, "detected_at": at})
            })
            .collect();
        let mut repo_stmt = conn.prepare(
            "SELECT repo, commit_sha, branch, run_id, verified_at FROM repo_commits WHERE model_id = ?1 ORDER BY repo",
        )?;
        let repos: Vec<Value> = repo_stmt
            .query_map([model_id], |r| {
                Ok(json!({"repo": r.get::<_, String>(0)?, "commit_sha": r.get::<_, String>(1)?, "branch": r.get::<_, String>(2)?, "run_id": r.get::<_, String>(3)?, "verified_at": r.get::<_, String>(4)?}))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let latest: Option<(String, String, String, Option<String>)> = conn
            .query_row(
                "SELECT id, attestation, content_hash, notary_fingerprint FROM verification_runs WHERE model_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [model_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(json!({
            "model_id": model_id,
            "tier1": {"pass": totals[0], "fail": totals[1], "pending": totals[2]},
            "tier2": {"pass": totals[3], "fail": totals[4], "pending": totals[5]},
            "controls_fully_verified": by(V::Verified),
            "controls_partially_verified": by(V::PartiallyVerified),
            "controls_pending": by(V::Pending),
            "controls_unverified": stored.model.controls.len().saturating_sub(controls_with) + by(V::Unverified),
            "drift_items": drift,
            "sufficiency": {
                "sufficient": suff_counts.get("sufficient").copied().unwrap_or(0),
                "insufficient": suff_counts.get("insufficient").copied().unwrap_or(0),
                "pending": suff_counts.get("pending").copied().unwrap_or(0),
                "total_marked": rows.iter().filter(|(c, _, _, _)| stored.model.control(c).is_some()).count(),
            },
            "coherence_warnings": totals[6],
            "control_details": details,
            "repos": repos,
            "latest_run": latest.map(|(id, att, hash, fp)| json!({"run_id": id, "attestation": att, "content_hash": hash, "notary_fingerprint": fp})),
        }))
    }

    /// Controls whose evidence is stale (no passing tier-1 result within `stale_after_hours`)
    /// or drifted, for re-verification.
    pub fn review_queue(
        &self,
        caller: &Caller,
        model_id: &str,
        stale_after_hours: u64,
    ) -> Result<Vec<Value>> {
        let conn = caller.tenant.conn()?;
        let stored = models::load(&conn, &caller.workspace_id, model_id)?;
        let cutoff = crate::auth::time_str(
            chrono::Utc::now()
                - chrono::Duration::hours(i64::try_from(stale_after_hours).unwrap_or(168)),
        );
        let assertions = load_assertions(&conn, model_id, None)?;
        let drifted: BTreeSet<String> = conn
            .prepare("SELECT DISTINCT control_id FROM drift_items WHERE model_id = ?1 AND resolved_at IS NULL AND control_id IS NOT NULL")?
            .query_map([model_id], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut queue = Vec::new();
        for c in &stored.model.controls {
            let list: Vec<&super::Assertion> = assertions
                .iter()
                .filter(|a| a.control_id.as_deref() == Some(c.id.as_str()))
                .collect();
            if list.is_empty() {
                continue;
            }
            let last_pass = list
                .iter()
                .filter(|a| a.tier1_status == "pass")
                .filter_map(|a| a.tier1_at.clone())
                .max();
            let mut reasons = Vec::new();
            if drifted.contains(&c.id) {
                reasons.push("drift: a previously passing assertion now fails".to_string());
            }
            match &last_pass {
                None => reasons.push("never verified by CI".into()),
                Some(at) if *at < cutoff => {
                    reasons.push(format!("stale: last passing CI result {at}"))
                }
                Some(_) => {}
            }
            if !reasons.is_empty() {
                queue.push(json!({
                    "control_id": c.id,
                    "name": c.name,
                    "status": c.status,
                    "reasons": reasons,
                    "last_verified_at": last_pass,
                }));
            }
        }
        Ok(queue)
    }

    /// One page of the runs of a model, newest first (see [`super::paging`]).
    pub fn list_runs(
        &self,
        caller: &Caller,
        model_id: &str,
        page: &super::paging::PageQuery,
    ) -> Result<super::paging::Paged<Value>> {
        let window = page.window()?;
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let total: u64 = conn.query_row(
            "SELECT count(*) FROM verification_runs WHERE model_id = ?1",
            [model_id],
            |r| r.get(0),
        )?;
        let (at, key) = window.after_params();
        let rowid: Option<i64> = match key {
            None => None,
            Some(k) => Some(k.parse().map_err(|_| {
                super::invalid(
                    "cursor",
                    "not a cursor of this list; pass the next_cursor of the previous page unchanged",
                )
            })?),
        };
        let mut stmt = conn.prepare(
            "SELECT id, tier, attestation, commit_sha, branch, repo, content_hash, created_at, rowid FROM verification_runs \
             WHERE model_id = ?1 AND (?2 IS NULL OR (created_at, rowid) < (?2, ?3)) ORDER BY created_at DESC, rowid DESC LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(params![model_id, at, rowid, window.fetch()], |r| {
                Ok((
                    json!({"run_id": r.get::<_, String>(0)?, "tier": r.get::<_, i64>(1)?, "attestation": r.get::<_, String>(2)?, "commit_sha": r.get::<_, String>(3)?, "branch": r.get::<_, String>(4)?, "repo": r.get::<_, String>(5)?, "content_hash": r.get::<_, String>(6)?, "created_at": r.get::<_, String>(7)?}),
                    r.get::<_, i64>(8)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let p = window.page(rows, total, |(run, rowid)| super::paging::After {
            at: run["created_at"].as_str().unwrap_or_default().to_string(),
            key: rowid.to_string(),
        });
        Ok(super::paging::Paged {
            items: p.items.into_iter().map(|(r, _)| r).collect(),
            total: p.total,
            limit: p.limit,
            next_cursor: p.next_cursor,
        })
    }

    /// The audit bundle of one run: results, hash, signatures, signer keys and the exact
    /// shell commands that verify them with openssl.
    pub fn audit_bundle(
        &self,
        caller: &Caller,
        model_id: &str,
        run_id: &str,
    ) -> Result<AuditBundle> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        type RunRow = (
            String,
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
        );
        let row: Option<RunRow> = conn
            .query_row(
                "SELECT id, tier, attestation, content_hash, commit_sha, repo, signature, signer_fingerprint, signed_text, notary_signature, notary_fingerprint, results, pipeline, created_at \
                 FROM verification_runs WHERE id = ?1 AND model_id = ?2",
                params![run_id, model_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?)),
            )
            .optional()?;
        let Some((
            id,
            tier,
            kind,
            hash,
            commit,
            repo,
            signature,
            signer_fp,
            signed_b64,
            notary_sig,
            notary_fp,
            results,
            pipeline,
            created_at,
        )) = row
        else {
            return Err(Error::NotFound(format!("verification run {run_id}")));
        };
        let results: Value = serde_json::from_str(&results).unwrap_or(Value::Null);
        let mut signatures = Vec::new();
        if let (Some(sig), Some(fp), Some(msg)) = (signature, signer_fp, signed_b64)
            && let Some(key) = attestation::key_by_fingerprint(&conn, &caller.workspace_id, &fp)?
        {
            signatures.push(SignatureEvidence::new(
                "ci",
                &fp,
                &key.public_key_pem,
                &sig,
                &msg,
            ));
        }
        if let (Some(sig), Some(fp), Some(key)) = (notary_sig, notary_fp, &self.notary) {
            // The notary signed the canonical records text; rebuild it from the stored rows.
            let assertions = load_assertions(&conn, model_id, None)?;
            let rows = results.as_array().cloned().unwrap_or_default();
            let mut seen = BTreeSet::new();
            let hashed: Vec<Value> = rows
                .iter()
                .filter_map(|r| r.get("assertion_id").and_then(Value::as_str))
                .filter(|id| seen.insert(id.to_string()))
                .filter_map(|id| assertions.iter().find(|a| a.id == id))
                .map(|a| json!({"id": a.id, "type": a.kind, "params": a.params, "description": a.description}))
                .collect();
            let text = crate::wire::canonical::canonical_records_text(&hashed, &rows);
            let pem = crate::crypto::signing::SigningKey::public_key(key).to_pem();
            let msg = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            signatures.push(SignatureEvidence::new(
                "platform_notary",
                &fp,
                &pem,
                &sig,
                &msg,
            ));
        }
        Ok(AuditBundle {
            run_id: id,
            model_id: model_id.to_string(),
            tier,
            attestation: kind,
            content_hash: hash,
            commit_sha: commit,
            repo,
            pipeline: serde_json::from_str(&pipeline).unwrap_or(Value::Null),
            created_at,
            results,
            signatures,
        })
    }
}

/// Everything an auditor needs to check one run without trusting rampart.
#[derive(Debug, Clone, Serialize)]
pub struct AuditBundle {
    /// Run id.
    pub run_id: String,
    /// Model.
    pub model_id: String,
    /// Tier.
    pub tier: i64,
    /// `workspace_ecdsa`, `customer_dsse`, `sigstore` or `unsigned`.
    pub attestation: String,
    /// `sha256:` hash of the canonical results.
    pub content_hash: String,
    /// Commit verified.
    pub commit_sha: String,
    /// Repository.
    pub repo: String,
    /// CI provenance as submitted.
    pub pipeline: Value,
    /// Received.
    pub created_at: String,
    /// Result rows as submitted.
    pub results: Value,
    /// Signatures with their keys and verification commands.
    pub signatures: Vec<SignatureEvidence>,
}

/// One signature in an audit bundle.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureEvidence {
    /// `ci` (the workspace's key) or `platform_notary` (this appliance's instance key).
    pub signer: String,
    /// Key fingerprint (SHA-256 of the DER SPKI).
    pub fingerprint: String,
    /// Public key, PEM.
    pub public_key_pem: String,
    /// DER signature, base64.
    pub signature_b64: String,
    /// The exact signed bytes, base64.
    pub message_b64: String,
    /// Shell commands that recreate the files and verify with openssl ("Verified OK").
    pub verify_command: String,
}

impl SignatureEvidence {
    fn new(signer: &str, fp: &str, pem: &str, sig: &str, msg: &str) -> Self {
        let verify_command = format!(
            "cat > signer.pem <<'EOF'\n{}\nEOF\necho '{sig}' | base64 -d > signature.der\necho '{msg}' | base64 -d > message.bin\nopenssl dgst -sha256 -verify signer.pem -signature signature.der message.bin",
            pem.trim()
        );
        Self {
            signer: signer.into(),
            fingerprint: fp.into(),
            public_key_pem: pem.into(),
            signature_b64: sig.into(),
            message_b64: msg.into(),
            verify_command,
        }
    }
}
