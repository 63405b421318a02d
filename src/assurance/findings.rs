//! Negative findings (gap discovery): structured records of what was checked and not found,
//! with a strict forward-only lifecycle (discovered → acknowledged → remediated → verified;
//! dismissed with a reason from the first two), the remediation bridge (a remediated finding
//! linked to assertions becomes verified when they all pass both tiers), and the
//! deterministic scan prompt that guides an agent's search.
//!
//! [`paging`]: super::paging

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::paging::{After, PageQuery, Paged};
use super::{AssuranceService, Error, Result, invalid};
use crate::auth::{Caller, now_str};
use crate::domain::ControlStatus;
use crate::models;

/// A submitted finding.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFinding {
    /// Short summary of the gap.
    pub title: String,
    /// What was expected but not found.
    #[serde(default)]
    pub description: String,
    /// critical, high, medium, low or info.
    pub severity: String,
    /// The control the gap belongs to.
    #[serde(default)]
    pub control_id: Option<String>,
    /// Where the agent looked: `{file, start_line?, end_line?, snippet?}`.
    #[serde(default)]
    pub checked_locations: Vec<Value>,
    /// Functions, decorators or patterns searched for.
    #[serde(default)]
    pub checked_patterns: Vec<String>,
    /// What a correct implementation would look like.
    #[serde(default)]
    pub expected_evidence: String,
}

/// A finding as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `fnd_…`
    pub id: String,
    /// Model.
    pub model_id: String,
    /// Control.
    pub control_id: Option<String>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Severity.
    pub severity: String,
    /// Lifecycle state.
    pub status: String,
    /// Checked locations.
    pub checked_locations: Value,
    /// Checked patterns.
    pub checked_patterns: Value,
    /// Expected evidence.
    pub expected_evidence: String,
    /// Assertions that prove the fix.
    pub linked_assertions: Value,
    /// Why it was dismissed.
    pub dismiss_reason: Option<String>,
    /// Transitions: `{from, to, at, by, reason?}`.
    pub history: Value,
    /// Created.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A lifecycle transition request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// Target status.
    pub status: String,
    /// Required when dismissing.
    #[serde(default)]
    pub reason: Option<String>,
    /// Assertion ids proving the remediation.
    #[serde(default)]
    pub linked_assertions: Option<Vec<String>>,
}

const SEVERITIES: &[&str] = &["critical", "high", "medium", "low", "info"];

fn allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("discovered", "acknowledged")
            | ("discovered", "dismissed")
            | ("acknowledged", "remediated")
            | ("acknowledged", "dismissed")
            | ("discovered", "remediated")
    )
}

const COLUMNS: &str = "id, model_id, control_id, title, description, severity, status, checked_locations, checked_patterns, expected_evidence, linked_assertions, dismiss_reason, history, created_at, updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Finding> {
    let j = |i: usize| -> rusqlite::Result<Value> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or(Value::Null))
    };
    Ok(Finding {
        id: r.get(0)?,
        model_id: r.get(1)?,
        control_id: r.get(2)?,
        title: r.get(3)?,
        description: r.get(4)?,
        severity: r.get(5)?,
        status: r.get(6)?,
        checked_locations: j(7)?,
        checked_patterns: j(8)?,
        expected_evidence: r.get(9)?,
        linked_assertions: j(10)?,
        dismiss_reason: r.get(11)?,
        history: j(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

fn load(conn: &Connection, model_id: &str, id: &str) -> Result<Finding> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM findings WHERE id = ?1 AND model_id = ?2"),
        params![id, model_id],
        from_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("finding {id}")))
}

/// Remediation bridge: remediated findings whose linked assertions all pass both tiers
/// become verified. Called after every verification run.
pub(crate) fn auto_verify(conn: &Connection, model_id: &str) -> Result<()> {
    let mut passed = conn.prepare(
        "SELECT 1 FROM assertions WHERE id = ?1 AND model_id = ?2 AND tier1_status = 'pass' AND tier2_status = 'pass'",
    )?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM findings WHERE model_id = ?1 AND status = 'remediated'"
    ))?;
    let list = stmt
        .query_map([model_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for f in list {
        let linked: Vec<String> =
            serde_json::from_value(f.linked_assertions.clone()).unwrap_or_default();
        if linked.is_empty() {
            continue;
        }
        let mut all_pass = true;
        for id in &linked {
            if !passed.exists(params![id, model_id])? {
                all_pass = false;
                break;
            }
        }
        if all_pass {
            let mut history = f.history.as_array().cloned().unwrap_or_default();
            history.push(json!({"from": "remediated", "to": "verified", "at": now_str(), "by": "ci", "reason": "linked assertions passed tier 1 and tier 2"}));
            conn.execute(
                "UPDATE findings SET status = 'verified', history = ?1, updated_at = ?2 WHERE id = ?3",
                params![Value::Array(history).to_string(), now_str(), f.id],
            )?;
        }
    }
    Ok(())
}

impl AssuranceService {
    /// Records findings (all or nothing).
    pub fn submit_findings(
        &self,
        caller: &Caller,
        model_id: &str,
        items: &[NewFinding],
    ) -> Result<Vec<Finding>> {
        caller.require_write()?;
        if items.is_empty() || items.len() > 100 {
            return Err(invalid("findings", "submit 1 to 100 findings"));
        }
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        let stored = models::load(&tx, &caller.workspace_id, model_id)?;
        let mut ids = Vec::new();
        for (i, f) in items.iter().enumerate() {
            let field = |k: &str| format!("findings[{i}].{k}");
            let title = f.title.trim();
            if title.is_empty() || title.chars().count() > 300 {
                return Err(invalid(field("title"), "must be 1 to 300 characters"));
            }
            let severity = f.severity.trim().to_lowercase();
            if !SEVERITIES.contains(&severity.as_str()) {
                return Err(invalid(
                    field("severity"),
                    "must be critical, high, medium, low or info",
                ));
            }
            let control = match &f.control_id {
                Some(c) => Some(
                    stored
                        .model
                        .control(c)
                        .map(|c| c.id.clone())
                        .ok_or_else(|| Error::NotFound(format!("control {c}")))?,
                ),
                None => None,
            };
            for (j, loc) in f.checked_locations.iter().enumerate() {
                if !loc.get("file").is_some_and(Value::is_string) {
                    return Err(invalid(
                        format!("findings[{i}].checked_locations[{j}].file"),
                        "is required (string)",
                    ));
                }
            }
            let id = format!(
                "fnd_{}",
                hex::encode(crate::auth::secrets::random_bytes::<8>())
            );
            let now = now_str();
            tx.execute(
                "INSERT INTO findings (id, model_id, workspace_id, control_id, title, description, severity, status, checked_locations, checked_patterns, expected_evidence, history, created_by, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'discovered', ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                params![
                    id,
                    model_id,
                    caller.workspace_id,
                    control,
                    title,
                    f.description,
                    severity,
                    Value::Array(f.checked_locations.clone()).to_string(),
                    serde_json::to_string(&f.checked_patterns).unwrap_or_default(),
                    f.expected_evidence,
                    json!([{"from": null, "to": "discovered", "at": now, "by": caller.user_id}]).to_string(),
                    caller.user_id,
                    now
                ],
            )?;
            ids.push(id);
        }
        let out = ids
            .iter()
            .map(|id| load(&tx, model_id, id))
            .collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(out)
    }

    /// Findings of a model, filtered.
    pub fn list_findings(
        &self,
        caller: &Caller,
        model_id: &str,
        control: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<Finding>> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM findings WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE) AND (?3 IS NULL OR status = ?3) ORDER BY created_at, id"
        ))?;
        let list = stmt
            .query_map(params![model_id, control, status], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(list)
    }

    /// One page of the findings of a model, filtered, oldest first (see [`paging`]).
    pub fn list_findings_page(
        &self,
        caller: &Caller,
        model_id: &str,
        control: Option<&str>,
        status: Option<&str>,
        page: &PageQuery,
    ) -> Result<Paged<Finding>> {
        let window = page.window()?;
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let total: u64 = conn.query_row(
            "SELECT count(*) FROM findings WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE) AND (?3 IS NULL OR status = ?3)",
            params![model_id, control, status],
            |r| r.get(0),
        )?;
        let (at, key) = window.after_params();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM findings WHERE model_id = ?1 AND (?2 IS NULL OR control_id = ?2 COLLATE NOCASE) AND (?3 IS NULL OR status = ?3) \
             AND (?4 IS NULL OR (created_at, id) > (?4, ?5)) ORDER BY created_at, id LIMIT ?6"
        ))?;
        let rows = stmt
            .query_map(
                params![model_id, control, status, at, key, window.fetch()],
                from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(window.page(rows, total, |f| After {
            at: f.created_at.clone(),
            key: f.id.clone(),
        }))
    }

    /// One finding.
    pub fn get_finding(&self, caller: &Caller, model_id: &str, id: &str) -> Result<Finding> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        load(&conn, model_id, id)
    }

    /// Moves a finding forward. `verified` is computed, never requested.
    pub fn transition_finding(
        &self,
        caller: &Caller,
        model_id: &str,
        id: &str,
        t: &Transition,
    ) -> Result<Finding> {
        caller.require_write()?;
        let mut conn = caller.tenant.conn()?;
        let tx = conn.transaction()?;
        models::load(&tx, &caller.workspace_id, model_id)?;
        let f = load(&tx, model_id, id)?;
        let to = t.status.trim().to_lowercase();
        if to == "verified" {
            return Err(invalid(
                "status",
                "verified is set automatically when linked assertions pass CI; move the finding to remediated and link assertions",
            ));
        }
        if !allowed(&f.status, &to) {
            return Err(invalid(
                "status",
                format!(
                    "cannot move a {} finding to {to}; the lifecycle is discovered → acknowledged → remediated → verified, or dismissed from discovered/acknowledged, never backwards",
                    f.status
                ),
            ));
        }
        let reason = t.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
        if to == "dismissed" && reason.is_none() {
            return Err(invalid("reason", "dismissing a finding requires a reason"));
        }
        let mut linked: Vec<String> =
            serde_json::from_value(f.linked_assertions.clone()).unwrap_or_default();
        if let Some(new) = &t.linked_assertions {
            let mut known =
                tx.prepare("SELECT 1 FROM assertions WHERE id = ?1 AND model_id = ?2")?;
            for a in new {
                if !known.exists(params![a, model_id])? {
                    return Err(Error::NotFound(format!("assertion {a}")));
                }
            }
            linked = new.clone();
        }
        let mut history = f.history.as_array().cloned().unwrap_or_default();
        history.push(json!({"from": f.status, "to": to, "at": now_str(), "by": caller.user_id, "reason": reason}));
        tx.execute(
            "UPDATE findings SET status = ?1, dismiss_reason = COALESCE(?2, dismiss_reason), linked_assertions = ?3, history = ?4, updated_at = ?5 WHERE id = ?6",
            params![to, if to == "dismissed" { reason } else { None }, serde_json::to_string(&linked).unwrap_or_default(), Value::Array(history).to_string(), now_str(), id],
        )?;
        auto_verify(&tx, model_id)?;
        let out = load(&tx, model_id, id)?;
        tx.commit()?;
        Ok(out)
    }

    /// Deletes a finding.
    pub fn delete_finding(&self, caller: &Caller, model_id: &str, id: &str) -> Result<()> {
        caller.require_write()?;
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let n = conn.execute(
            "DELETE FROM findings WHERE id = ?1 AND model_id = ?2",
            params![id, model_id],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("finding {id}")));
        }
        Ok(())
    }

    /// Counts by status and severity, counted by SQL (no finding is loaded).
    pub fn findings_summary(&self, caller: &Caller, model_id: &str) -> Result<Value> {
        let conn = caller.tenant.conn()?;
        models::load(&conn, &caller.workspace_id, model_id)?;
        let mut by_status = serde_json::Map::new();
        for s in [
            "discovered",
            "acknowledged",
            "remediated",
            "verified",
            "dismissed",
        ] {
            by_status.insert(s.into(), json!(0));
        }
        let mut by_severity = serde_json::Map::new();
        for s in SEVERITIES {
            by_severity.insert((*s).into(), json!(0));
        }
        let mut total = 0u64;
        let mut stmt = conn.prepare(
            "SELECT status, severity, count(*) FROM findings WHERE model_id = ?1 GROUP BY status, severity",
        )?;
        let mut rows = stmt.query([model_id])?;
        while let Some(r) = rows.next()? {
            let (status, severity, n): (String, String, u64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            total += n;
            for (map, k) in [(&mut by_status, status), (&mut by_severity, severity)] {
                if let Some(v) = map.get_mut(&k) {
                    *v = json!(v.as_u64().unwrap_or(0) + n);
                }
            }
        }
        Ok(json!({"total": total, "by_status": by_status, "by_severity": by_severity}))
    }

    /// A deterministic guide for an agent scanning the codebase for the gaps of the model's
    /// not-implemented controls (or one control).
    pub fn scan_prompt(
        &self,
        caller: &Caller,
        model_id: &str,
        control: Option<&str>,
    ) -> Result<String> {
        let conn = caller.tenant.conn()?;
        let stored = models::load(&conn, &caller.workspace_id, model_id)?;
        let m = &stored.model;
        let controls: Vec<&crate::domain::Control> = match control {
            Some(id) => vec![
                m.control(id)
                    .ok_or_else(|| Error::NotFound(format!("control {id}")))?,
            ],
            None => m
                .controls
                .iter()
                .filter(|c| {
                    c.status != ControlStatus::Implemented
                        && c.status != ControlStatus::NotApplicable
                })
                .collect(),
        };
        let mut out = format!(
            "# Gap scan for threat model \"{}\"\n\nScan the codebase for each control below. For every control that is not (fully) implemented, \
             submit a finding with `submit_findings` recording:\n- checked_locations: each file you read, with start_line/end_line and a short snippet;\n\
             - checked_patterns: the function names, decorators and regexes you searched for;\n- expected_evidence: what a correct implementation would look like.\n\n\
             Severity: use the highest risk tier of the control objectives it protects (Critical → critical, High → high, Medium → medium, Low → low); use info for hardening suggestions.\n\
             Do not record a finding for a control you found implemented — submit assertions for it instead.\n",
            m.title
        );
        if controls.is_empty() {
            out.push_str(
                "\nEvery control is marked implemented or not applicable; nothing to scan.\n",
            );
        }
        for c in controls {
            let cos = m.objectives_of_control(&c.id);
            let tier = cos
                .iter()
                .map(|co| co.risk_tier)
                .min()
                .map(|t| format!("{t:?}"))
                .unwrap_or_else(|| "Low".into());
            out.push_str(&format!(
                "\n## {} — {}\n{}\nHighest risk tier: {tier}\nControl objectives:\n",
                c.id, c.name, c.description
            ));
            for co in cos {
                out.push_str(&format!("- {}: {}\n", co.id, co.statement));
            }
            out.push_str("Look for: the code paths handling the protected assets, the middleware/decorators/validators the control requires, configuration that enables it, and tests that exercise it.\n");
        }
        Ok(out)
    }
}
