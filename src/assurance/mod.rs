//! Assurance: proof that controls are implemented. Typed assertions submitted per control,
//! the CI protocol of the published `mipiti-verify` client (contracts/mipiti-verify-wire.md),
//! verification runs with hash recomputation and ECDSA attestation, computed verification
//! status, drift, sufficiency and coherence, negative findings and the review queue.
//!
//! Every lookup is scoped to the caller's workspace through the model: another tenant's
//! model, assertion, run or finding is "not found".

pub mod attestation;
pub mod findings;
pub mod judge;
pub mod oidc;
pub mod paging;
pub mod rules;
pub mod runs;
pub mod types;

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::{Caller, now_str};
use crate::domain::{ThreatModel, VerificationMap};
use crate::models::{self, Source};
use crate::store::{self, Db};

/// What can go wrong in an assurance operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown id, or another tenant's.
    #[error("{0} not found")]
    NotFound(String),
    /// Bad input, naming the field.
    #[error("{field}: {message}")]
    Invalid {
        /// Field path, e.g. `assertions[1].params.file`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Not allowed (scope, role, attestation policy).
    #[error("{0}")]
    Forbidden(String),
    /// Attestation present but not valid; nothing was recorded.
    #[error("{0}")]
    Attestation(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(store::Error::Sqlite(e))
    }
}

impl From<models::Error> for Error {
    fn from(e: models::Error) -> Self {
        match e {
            models::Error::NotFound(w) => Error::NotFound(w),
            models::Error::Store(s) => Error::Store(s),
            models::Error::Forbidden(m) => Error::Forbidden(m),
            other => Error::Invalid {
                field: "model".into(),
                message: other.to_string(),
            },
        }
    }
}

impl From<crate::auth::Error> for Error {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::Store(s) => Error::Store(s),
            other => Error::Forbidden(other.to_string()),
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// An assertion as submitted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAssertion {
    /// One of the 21 types.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific parameters.
    #[serde(default = "empty_object")]
    pub params: Value,
    /// Which aspect of the control this proves.
    #[serde(default)]
    pub description: String,
    /// Repository the assertion targets (`org/name`); empty for single-repo setups.
    #[serde(default)]
    pub repo: Option<String>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// An assertion as stored and shown.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    /// `asrt_…`
    pub id: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Params exactly as submitted.
    pub params: Value,
    /// Description.
    pub description: String,
    /// Repo tag.
    pub repo: Option<String>,
    /// Control it proves.
    pub control_id: Option<String>,
    /// Assumption it supports.
    pub assumption_id: Option<String>,
    /// Where it came from.
    pub origin: String,
    /// Author.
    pub created_by: Option<String>,
    /// Created.
    pub created_at: String,
    /// Coherent with its control.
    pub coherent: bool,
    /// Why (in)coherent.
    pub coherence_reason: String,
    /// Who judged coherence: `rules` or `llm:<model>`.
    pub coherence_by: String,
    /// Tier-2 prompt for CI.
    pub tier2_prompt: String,
    /// `pending|pass|fail|skipped`.
    pub tier1_status: String,
    /// Verifier's details.
    pub tier1_details: String,
    /// Same for tier 2.
    pub tier2_status: String,
    /// Tier-2 details.
    pub tier2_details: String,
    /// When tier 1 last ran.
    pub tier1_at: Option<String>,
    /// When tier 2 last ran.
    pub tier2_at: Option<String>,
}

const ASSERTION_COLUMNS: &str = "id, type, params, description, repo, control_id, assumption_id, origin, created_by, created_at, \
     coherent, coherence_reason, tier2_prompt, tier1_status, tier1_details, tier2_status, tier2_details, tier1_at, tier2_at, coherence_by";

fn assertion_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Assertion> {
    let params: String = r.get(2)?;
    Ok(Assertion {
        id: r.get(0)?,
        kind: r.get(1)?,
        params: serde_json::from_str(&params).unwrap_or(Value::Null),
        description: r.get(3)?,
        repo: r.get(4)?,
        control_id: r.get(5)?,
        assumption_id: r.get(6)?,
        origin: r.get(7)?,
        created_by: r.get(8)?,
        created_at: r.get(9)?,
        coherent: r.get(10)?,
        coherence_reason: r.get(11)?,
        tier2_prompt: r.get(12)?,
        tier1_status: r.get(13)?,
        tier1_details: r.get(14)?,
        tier2_status: r.get(15)?,
        tier2_details: r.get(16)?,
        tier1_at: r.get(17)?,
        tier2_at: r.get(18)?,
        coherence_by: r.get(19)?,
    })
}

/// Assertions of a model (optionally of one control), oldest first.
pub(crate) fn load_assertions(
    conn: &Connection,
    model_id: &str,
    control: Option<&str>,
) -> Result<Vec<Assertion>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ASSERTION_COLUMNS} FROM assertions WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE) ORDER BY created_at, rowid"
    ))?;
    let list = stmt
        .query_map(params![model_id, control], assertion_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(list)
}

/// One assertion of a model, if it exists.
pub(crate) fn load_assertion(
    conn: &Connection,
    model_id: &str,
    id: &str,
) -> Result<Option<Assertion>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ASSERTION_COLUMNS} FROM assertions WHERE id = ?1 AND model_id = ?2"),
            params![id, model_id],
            assertion_from_row,
        )
        .optional()?)
}

/// The text a control is judged by: its name and description.
pub(crate) fn control_text(model: &ThreatModel, control_id: &str) -> Option<String> {
    model
        .control(control_id)
        .map(|c| format!("{}. {}", c.name, c.description))
}

/// What assertions for `control_id` are judged against: `(control, assumption, text)`.
fn judged_target(
    model: &ThreatModel,
    control_id: &str,
) -> Result<(Option<String>, Option<String>, String)> {
    if let Some(text) = control_text(model, control_id) {
        Ok((model.control(control_id).map(|c| c.id.clone()), None, text))
    } else if let Some(a) = model.assumption(control_id) {
        Ok((None, Some(a.id.clone()), a.text.clone()))
    } else {
        Err(Error::NotFound(format!("control {control_id}")))
    }
}

/// Result of submitting assertions.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitResponse {
    /// The stored assertions.
    pub created: Vec<Assertion>,
    /// Coherence warnings (incoherent assertions stay pending in tier 2).
    pub warnings: Vec<String>,
    /// The control's sufficiency after the submission.
    pub sufficiency: Value,
}

/// The assurance service.
#[derive(Clone)]
pub struct AssuranceService {
    pub(crate) db: Db,
    /// Instance key used for platform notarization and audit bundles.
    pub(crate) notary: Option<std::sync::Arc<crate::crypto::signing::SigningKey>>,
    /// Where OIDC issuer keys come from.
    pub(crate) jwks: oidc::JwksSource,
    /// The appliance's public URL: the default audience of OIDC tokens.
    pub(crate) public_url: String,
    /// Judges coherence and sufficiency when configured (the LLM); `None` means the
    /// offline rules.
    pub(crate) judge: Option<std::sync::Arc<dyn judge::EvidenceJudge>>,
}

impl AssuranceService {
    /// Builds the service over the platform database.
    pub fn new(db: Db, notary: Option<std::sync::Arc<crate::crypto::signing::SigningKey>>) -> Self {
        Self {
            db,
            notary,
            jwks: oidc::JwksSource {
                file: None,
                fetch: true,
                allow_private: false,
            },
            public_url: String::new(),
            judge: None,
        }
    }

    /// Judges coherence and sufficiency with `judge` (the LLM engine when one is
    /// configured) instead of the offline rules; the rules remain the fallback.
    pub fn with_judge(mut self, judge: std::sync::Arc<dyn judge::EvidenceJudge>) -> Self {
        self.judge = Some(judge);
        self
    }

    /// Uses a local JWKS file (air-gapped), whether issuers may be fetched, and whether
    /// those fetches may reach private networks (see [`oidc::JwksSource`]).
    pub fn with_jwks(
        mut self,
        file: Option<std::path::PathBuf>,
        fetch: bool,
        allow_private: bool,
    ) -> Self {
        self.jwks = oidc::JwksSource {
            file,
            fetch,
            allow_private,
        };
        self
    }

    /// The appliance's public URL, the default audience OIDC tokens must name.
    pub fn with_public_url(mut self, url: &str) -> Self {
        self.public_url = url.trim_end_matches('/').to_string();
        self
    }

    /// Submits assertions for one control (or assumption). All or nothing: the first invalid
    /// assertion is reported by index and nothing is stored.
    ///
    /// Coherence and sufficiency are judged before and after the write transaction, never
    /// inside it: an LLM judge may take seconds and must not hold the database's write lock.
    pub fn submit_assertions(
        &self,
        caller: &Caller,
        model_id: &str,
        control_id: &str,
        items: &[NewAssertion],
        source: Source,
    ) -> Result<SubmitResponse> {
        caller.require_write()?;
        if items.is_empty() {
            return Err(invalid("assertions", "submit at least one assertion"));
        }
        if items.len() > 100 {
            return Err(invalid("assertions", "at most 100 assertions per request"));
        }
        let (_, _, text) = {
            let conn = caller.tenant.conn()?;
            let stored = models::load(&conn, &caller.workspace_id, model_id)?;
            judged_target(&stored.model, control_id)?
        };
        let mut prepared = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let t = types::validate(&item.kind, &item.params)
                .map_err(|e| invalid(format!("assertions[{i}].{}", e.field), e.message))?;
            let description = item.description.trim();
            if description.is_empty() {
                return Err(invalid(
                    format!("assertions[{i}].description"),
                    "say which aspect of the control this assertion proves",
                ));
            }
            if description.chars().count() > 2000 {
                return Err(invalid(
                    format!("assertions[{i}].description"),
                    "at most 2000 characters",
                ));
            }
            let repo = item
                .repo
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            prepared.push((t, item, description, repo));
        }
        let mut warnings = Vec::new();
        let verdicts: Vec<judge::Judged<judge::Coherence>> = crate::engine::with_tenant(
            &caller.user_id,
            &caller.workspace_id,
            &caller.tenant,
            || {
                prepared
                    .iter()
                    .map(|(t, item, description, _)| {
                        judge::coherence(
                            self.judge.as_deref(),
                            &text,
                            &judge::Evidence {
                                kind: t.name,
                                params: &item.params,
                                description,
                            },
                        )
                    })
                    .collect()
            },
        );
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = models::load(&tx, &caller.workspace_id, model_id)?;
        let model = &stored.model;
        let (control, assumption, now_text) = judged_target(model, control_id)?;
        if now_text != text {
            return Err(invalid(
                "control_id",
                "the control changed while its assertions were being evaluated; submit them again",
            ));
        }
        let mut created = Vec::new();
        for (i, ((t, item, description, repo), verdict)) in
            prepared.iter().zip(&verdicts).enumerate()
        {
            if let Some(why) = &verdict.fallback {
                warnings.push(format!(
                    "assertions[{i}] ({}): coherence judged by the offline rules: {why}",
                    t.name
                ));
            }
            if !verdict.verdict.coherent {
                warnings.push(format!(
                    "assertions[{i}] ({}): incoherent: {}",
                    t.name, verdict.verdict.reason
                ));
            }
            let prompt = types::tier2_prompt(t.name, &item.params, &text, description);
            let id = format!(
                "asrt_{}",
                hex::encode(crate::auth::secrets::random_bytes::<8>())
            );
            tx.execute(
                "INSERT INTO assertions (id, model_id, workspace_id, control_id, assumption_id, type, params, description, repo, origin, created_by, created_at, coherent, coherence_reason, tier2_prompt, coherence_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    id,
                    model.id,
                    caller.workspace_id,
                    control,
                    assumption,
                    t.name,
                    serde_json::to_string(&item.params).unwrap_or_default(),
                    description,
                    repo,
                    source.as_str(),
                    caller.user_id,
                    now_str(),
                    verdict.verdict.coherent,
                    verdict.verdict.reason,
                    prompt,
                    verdict.by
                ],
            )?;
            created.push(id);
        }
        let key = control.clone().or(assumption.clone()).unwrap_or_default();
        models::record_activity(
            &tx,
            &caller.workspace_id,
            Some(&model.id),
            "assertions",
            &format!("{} assertion(s) submitted for {key}", created.len()),
            source,
            Some(&caller.user_id),
        )?;
        tx.commit()?;
        let (sufficiency, fallback) = self.refresh_sufficiency(caller, model_id, &key)?;
        if let Some(why) = fallback {
            warnings.push(format!("sufficiency judged by the offline rules: {why}"));
        }
        let conn = caller.tenant.conn()?;
        let mut out = Vec::with_capacity(created.len());
        for id in &created {
            // A concurrent delete may have removed one since the commit.
            if let Some(a) = load_assertion(&conn, model_id, id)? {
                out.push(a);
            }
        }
        let created = out;
        Ok(SubmitResponse {
            created,
            warnings,
            sufficiency,
        })
    }

    /// Re-judges and stores the sufficiency of one control (or assumption) from its current
    /// coherent assertions, outside any write transaction (the judge may be an LLM). Returns
    /// the stored verdict and, when the configured judge failed, why the rules answered.
    pub(crate) fn refresh_sufficiency(
        &self,
        caller: &Caller,
        model_id: &str,
        control_id: &str,
    ) -> Result<(Value, Option<String>)> {
        let (text, list) = {
            let conn = caller.tenant.conn()?;
            let stored = models::load(&conn, &caller.workspace_id, model_id)?;
            // A control removed from the model since is judged on no text (nothing proves it).
            let text = judged_target(&stored.model, control_id)
                .map(|(_, _, text)| text)
                .unwrap_or_default();
            (text, load_assertions(&conn, model_id, Some(control_id))?)
        };
        let evidence: Vec<judge::Evidence<'_>> = list
            .iter()
            .filter(|a| a.coherent)
            .map(|a| judge::Evidence {
                kind: &a.kind,
                params: &a.params,
                description: &a.description,
            })
            .collect();
        let judged = crate::engine::with_tenant(
            &caller.user_id,
            &caller.workspace_id,
            &caller.tenant,
            || judge::sufficiency(self.judge.as_deref(), &text, &evidence),
        );
        let s = &judged.verdict;
        caller.tenant.conn()?.execute(
            "INSERT INTO control_sufficiency (model_id, control_id, status, details, evaluated_at, evaluated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT(model_id, control_id) DO UPDATE SET status = ?3, details = ?4, evaluated_at = ?5, evaluated_by = ?6",
            params![model_id, control_id, s.status, s.details, now_str(), judged.by],
        )?;
        Ok((
            json!({"status": s.status, "details": s.details, "evaluated_by": judged.by}),
            judged.fallback,
        ))
    }

    /// Assertions of a model, optionally of one control.
    pub fn list_assertions(
        &self,
        caller: &Caller,
        model_id: &str,
        control: Option<&str>,
    ) -> Result<Vec<Assertion>> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        load_assertions(&conn, model_id, control)
    }

    /// One page of the assertions of a model (optionally of one control), oldest first (see
    /// [`paging`]).
    pub fn list_assertions_page(
        &self,
        caller: &Caller,
        model_id: &str,
        control: Option<&str>,
        page: &paging::PageQuery,
    ) -> Result<paging::Paged<Assertion>> {
        let window = page.window()?;
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let total: u64 = conn.query_row(
            "SELECT count(*) FROM assertions WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE)",
            params![model_id, control],
            |r| r.get(0),
        )?;
        let (at, key) = window.after_params();
        let rowid: Option<i64> = match key {
            None => None,
            Some(k) => Some(k.parse().map_err(|_| {
                invalid(
                    "cursor",
                    "not a cursor of this list; pass the next_cursor of the previous page unchanged",
                )
            })?),
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {ASSERTION_COLUMNS}, rowid FROM assertions WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE) \
             AND (?3 IS NULL OR (created_at, rowid) > (?3, ?4)) ORDER BY created_at, rowid LIMIT ?5"
        ))?;
        let rows = stmt
            .query_map(params![model_id, control, at, rowid, window.fetch()], |r| {
                Ok((assertion_from_row(r)?, r.get::<_, i64>(20)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let p = window.page(rows, total, |(a, rowid)| paging::After {
            at: a.created_at.clone(),
            key: rowid.to_string(),
        });
        Ok(paging::Paged {
            items: p.items.into_iter().map(|(a, _)| a).collect(),
            total: p.total,
            limit: p.limit,
            next_cursor: p.next_cursor,
        })
    }

    /// Those of `ids` that are not assertions of the model, in the order given.
    pub fn unknown_assertions(
        &self,
        caller: &Caller,
        model_id: &str,
        ids: &[String],
    ) -> Result<Vec<String>> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let mut stmt = conn.prepare("SELECT 1 FROM assertions WHERE id = ?1 AND model_id = ?2")?;
        let mut out = Vec::new();
        for id in ids {
            if !stmt.exists(params![id, model_id])? {
                out.push(id.clone());
            }
        }
        Ok(out)
    }

    /// Deletes an assertion; the control's sufficiency is re-evaluated.
    pub fn delete_assertion(&self, caller: &Caller, model_id: &str, id: &str) -> Result<()> {
        caller.require_write()?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        models::load(&tx, &caller.workspace_id, model_id)?;
        let control: Option<Option<String>> = tx
            .query_row(
                "SELECT COALESCE(control_id, assumption_id) FROM assertions WHERE id = ?1 AND model_id = ?2",
                params![id, model_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(control) = control else {
            return Err(Error::NotFound(format!("assertion {id}")));
        };
        tx.execute("DELETE FROM assertions WHERE id = ?1", [id])?;
        tx.commit()?;
        if let Some(c) = control {
            self.refresh_sufficiency(caller, model_id, &c)?;
        }
        Ok(())
    }

    /// E3/E4: assertions for the CI client grouped by control and assumption, filtered by
    /// repo (tagged with it, or untagged), and for E4 only those still pending in `tier`
    /// (no result yet, skipped, or last result older than `stale_after_hours`).
    pub fn ci_assertions(
        &self,
        caller: &Caller,
        model_id: &str,
        repo: Option<&str>,
        pending_tier: Option<u8>,
        stale_after_hours: Option<u64>,
    ) -> Result<Value> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let all = load_assertions(&conn, model_id, None)?;
        let repo = repo.map(str::trim).filter(|r| !r.is_empty());
        let stale_before = stale_after_hours.map(|h| {
            crate::auth::time_str(
                chrono::Utc::now()
                    - chrono::Duration::hours(i64::try_from(h).unwrap_or(i64::MAX / 7200)),
            )
        });
        let mut controls: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut assumptions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for a in all {
            let tag = a.repo.as_deref().map(str::trim).unwrap_or("");
            if let Some(r) = repo
                && !(tag.is_empty() || tag == "no_repo" || tag == r)
            {
                continue;
            }
            if let Some(tier) = pending_tier {
                let (status, at) = if tier == 2 {
                    (a.tier2_status.as_str(), a.tier2_at.as_deref())
                } else {
                    (a.tier1_status.as_str(), a.tier1_at.as_deref())
                };
                let stale = match (&stale_before, at) {
                    (Some(before), Some(at)) => at < before.as_str(),
                    _ => false,
                };
                if !(status == "pending" || status == "skipped" || stale) {
                    continue;
                }
            }
            let obj = json!({
                "id": a.id,
                "type": a.kind,
                "params": a.params,
                "description": a.description,
                "repo": a.repo,
                "control_id": a.control_id,
                "assumption_id": a.assumption_id,
                "functional_test_id": null,
                "node_id": null,
                "origin": a.origin,
                "inherited_from_model_id": null,
                "created_by": a.created_by,
                "created_at": a.created_at,
                "tier2_prompt": a.tier2_prompt,
                "coherent": a.coherent,
            });
            match (&a.control_id, &a.assumption_id) {
                (Some(c), _) => controls.entry(c.clone()).or_default().push(obj),
                (None, Some(s)) => assumptions.entry(s.clone()).or_default().push(obj),
                (None, None) => {}
            }
        }
        Ok(json!({"model_id": model_id, "controls": controls, "assumptions": assumptions}))
    }
}

/// Computed verification status of every control of a model that has assertions. Counted
/// by SQL per control (no assertion is loaded): the model page, the model list and the
/// dashboard call this for every model they show, so it must not grow with the assertions.
pub fn verification_map(conn: &Connection, model_id: &str) -> Result<VerificationMap> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.control_id, count(*), \
         sum(a.tier1_status = 'pass' AND a.tier2_status = 'pass' AND a.coherent), \
         sum(a.tier1_status = 'fail' OR a.tier2_status = 'fail' OR NOT a.coherent), \
         (SELECT s.status FROM control_sufficiency s WHERE s.model_id = ?1 AND s.control_id = a.control_id) \
         FROM assertions a WHERE a.model_id = ?1 AND a.control_id IS NOT NULL GROUP BY a.control_id",
    )?;
    let mut rows = stmt.query([model_id])?;
    let mut map = VerificationMap::new();
    while let Some(r) = rows.next()? {
        let control: String = r.get(0)?;
        let counts = rules::StateCounts {
            assertions: r.get(1)?,
            passed: r.get(2)?,
            problems: r.get(3)?,
        };
        let suff: Option<String> = r.get(4)?;
        map.insert(
            control,
            rules::control_status_counted(&counts, suff.as_deref().unwrap_or("pending")),
        );
    }
    Ok(map)
}
