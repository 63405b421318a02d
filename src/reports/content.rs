//! What the two reports say, as typed data: [`ThreatModelReport`] (the model, for review
//! meetings) and [`AssuranceReport`] (the evidence, for auditors), gathered through the
//! caller's tenant database, plus their [`Doc`] forms for HTML and PDF.
//!
//! Everything is ordered by id or time so that the same data gives the same report; only
//! the production time (and who produced it) changes between two exports.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::doc::{Cell, Doc};
use super::{Error, Result};
use crate::assurance::AssuranceService;
use crate::auth::Caller;
use crate::domain::{
    CoState, ControlStatus, ThreatModel, VerificationMap, VerificationStatus, format_properties,
};
use crate::models;
use crate::web::pages::models::diagram;

/// Version of the JSON documents' shape; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Who produced an export and when (RFC 3339, UTC, to the minute).
#[derive(Debug, Clone, Serialize)]
pub struct Producer {
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Production time.
    pub at: String,
}

impl Producer {
    /// The caller at `at`.
    pub fn new(caller: &Caller, at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            name: caller.display_name.clone(),
            email: caller.email.clone(),
            // To the minute: enough for a report, and two exports in the same minute are
            // byte-identical (REST and MCP give the same file).
            at: at.format("%Y-%m-%dT%H:%M:00Z").to_string(),
        }
    }

    fn line(&self) -> String {
        if self.name.trim().is_empty() || self.name == self.email {
            self.email.clone()
        } else {
            format!("{} <{}>", self.name, self.email)
        }
    }
}

/// The threat-model report: the stored model with its computed verification status.
#[derive(Debug, Clone, Serialize)]
pub struct ThreatModelReport {
    /// The model document as stored.
    pub model: ThreatModel,
    /// Computed verification status per control (absent = unverified).
    pub verification: VerificationMap,
    /// Who exported it, when.
    pub produced: Producer,
}

/// One tier's latest result of an assertion.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TierResult {
    /// `pending`, `pass`, `fail` or `skipped`.
    pub status: String,
    /// When CI reported it.
    pub at: Option<String>,
    /// The commit it was checked at (from the run that reported it).
    pub commit_sha: Option<String>,
    /// That run.
    pub run_id: Option<String>,
    /// The verifier's details.
    pub details: String,
}

/// An assertion with its results.
#[derive(Debug, Clone, Serialize)]
pub struct AssertionEvidence {
    /// `asrt_…`
    pub id: String,
    /// Assertion type.
    #[serde(rename = "type")]
    pub kind: String,
    /// What it proves.
    pub description: String,
    /// The file it names, if any.
    pub file: Option<String>,
    /// Coherent with its control.
    pub coherent: bool,
    /// Tier 1 (deterministic checks).
    pub tier1: TierResult,
    /// Tier 2 (semantic review).
    pub tier2: TierResult,
}

/// A control's sufficiency verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Sufficiency {
    /// `sufficient`, `insufficient` or `pending`.
    pub status: String,
    /// Why.
    pub details: String,
    /// `rules` or `llm:<model>`.
    pub evaluated_by: String,
}

/// One control in the assurance report.
#[derive(Debug, Clone, Serialize)]
pub struct ControlEvidence {
    /// `CTRL-01`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Implementation status as recorded.
    pub implementation_status: ControlStatus,
    /// Computed verification status.
    pub verification_status: VerificationStatus,
    /// Sufficiency verdict, when judged.
    pub sufficiency: Option<Sufficiency>,
    /// Its assertions.
    pub assertions: Vec<AssertionEvidence>,
}

/// An unresolved drift item.
#[derive(Debug, Clone, Serialize)]
pub struct DriftItem {
    /// Assertion that went from pass to fail.
    pub assertion_id: String,
    /// Its control.
    pub control_id: Option<String>,
    /// The run that saw it fail.
    pub run_id: String,
    /// Verifier details.
    pub details: String,
    /// When.
    pub detected_at: String,
}

/// A finding, as listed in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FindingItem {
    /// `fnd_…`
    pub id: String,
    /// Control.
    pub control_id: Option<String>,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: String,
    /// Lifecycle state.
    pub status: String,
    /// Created.
    pub created_at: String,
}

/// The latest verified commit of a repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoCommit {
    /// Repository ("" = default).
    pub repo: String,
    /// Commit.
    pub commit_sha: String,
    /// Branch.
    pub branch: String,
    /// Run that verified it.
    pub run_id: String,
    /// When.
    pub verified_at: String,
}

/// A signature over a run, with what an auditor needs to check it.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureItem {
    /// `ci` or `platform_notary`.
    pub signer: String,
    /// SHA-256 of the signer's DER SubjectPublicKeyInfo.
    pub fingerprint: String,
    /// Public key, PEM.
    pub public_key_pem: String,
    /// DER signature, base64.
    pub signature_b64: String,
    /// SHA-256 (hex) of the exact signed bytes.
    pub message_sha256: String,
    /// Shell commands that check the key fingerprint and the signature with openssl.
    pub verify_commands: String,
}

/// A verification run.
#[derive(Debug, Clone, Serialize)]
pub struct RunItem {
    /// `run_…`
    pub run_id: String,
    /// Tier.
    pub tier: i64,
    /// Attestation kind.
    pub attestation: String,
    /// Commit verified.
    pub commit_sha: String,
    /// Repository.
    pub repo: String,
    /// `sha256:` of the canonical results.
    pub content_hash: String,
    /// CI signer fingerprint, if signed.
    pub signer_fingerprint: Option<String>,
    /// Notary (this appliance) fingerprint.
    pub notary_fingerprint: Option<String>,
    /// Received.
    pub created_at: String,
    /// Signatures with verification commands (the newest runs only, see
    /// [`SIGNED_RUNS_DETAILED`]).
    pub signatures: Vec<SignatureItem>,
}

/// How many of the newest runs get their full signature evidence in the report (older runs
/// are listed with hashes and fingerprints; their audit bundles stay one request away).
pub const SIGNED_RUNS_DETAILED: usize = 20;

/// Coverage of one compliance framework selected for the model (see [`ComplianceCoverage`]).
#[derive(Debug, Clone, Serialize)]
pub struct FrameworkCoverage {
    /// Framework id.
    pub framework_id: String,
    /// Display name.
    pub name: String,
    /// Catalog version.
    pub version: String,
    /// Selected profile (level, baseline), if any.
    pub profile: Option<String>,
    /// Requirements covered (every mapped control implemented and verified).
    pub covered: usize,
    /// Partially covered.
    pub partial: usize,
    /// Not covered.
    pub uncovered: usize,
    /// Not applicable (outside the profile, or about assets the model lacks).
    pub not_applicable: usize,
    /// Covered ÷ applicable, in percent.
    pub percentage: f64,
}

/// The compliance service's view of a model's framework coverage. The assurance report
/// calls it once per export and shows a "Compliance coverage" section when it returns
/// frameworks; without an implementation (or with no framework selected) the section is
/// left out.
pub trait ComplianceCoverage: Send + Sync {
    /// Coverage of every framework selected for the model, in framework-id order.
    fn coverage(&self, caller: &Caller, model_id: &str) -> Result<Vec<FrameworkCoverage>>;
}

/// The compliance service (issue 16) computes coverage from the controls' own implementation
/// and CI verification status, through the caller's tenant database.
impl ComplianceCoverage for crate::compliance::ComplianceService {
    fn coverage(&self, caller: &Caller, model_id: &str) -> Result<Vec<FrameworkCoverage>> {
        let mut out: Vec<FrameworkCoverage> = self
            .reports(caller, model_id)?
            .into_iter()
            .map(|r| FrameworkCoverage {
                framework_id: r.framework_id,
                name: r.framework_name,
                version: r.framework_version,
                profile: r.profile,
                covered: r.counts.covered,
                partial: r.counts.partial,
                uncovered: r.counts.uncovered,
                not_applicable: r.counts.not_applicable,
                percentage: r.counts.percentage,
            })
            .collect();
        out.sort_by(|a, b| a.framework_id.cmp(&b.framework_id));
        Ok(out)
    }
}

/// Counts at the top of the assurance report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssuranceSummary {
    /// Controls in the model.
    pub controls: usize,
    /// Verified controls.
    pub verified: usize,
    /// Partially verified.
    pub partially_verified: usize,
    /// Pending CI.
    pub pending: usize,
    /// Without assertions.
    pub unverified: usize,
    /// Assertions.
    pub assertions: usize,
    /// Unresolved drift items.
    pub drift: usize,
    /// Findings not yet verified or dismissed.
    pub open_findings: usize,
    /// Verification runs received.
    pub runs: usize,
}

/// The assurance report.
#[derive(Debug, Clone, Serialize)]
pub struct AssuranceReport {
    /// Model id.
    pub model_id: String,
    /// Model title.
    pub title: String,
    /// Model version.
    pub version: u64,
    /// Who produced it, when.
    pub produced: Producer,
    /// Counts.
    pub summary: AssuranceSummary,
    /// Per control.
    pub controls: Vec<ControlEvidence>,
    /// Unresolved drift.
    pub drift: Vec<DriftItem>,
    /// Findings.
    pub findings: Vec<FindingItem>,
    /// Latest verified commit per repository.
    pub repos: Vec<RepoCommit>,
    /// Verification runs, newest first.
    pub runs: Vec<RunItem>,
    /// Compliance framework coverage (empty when not available).
    pub compliance: Vec<FrameworkCoverage>,
}

fn sql(e: rusqlite::Error) -> Error {
    Error::Store(crate::store::Error::Sqlite(e))
}

/// Gathers the threat-model report.
pub fn threat_model(
    caller: &Caller,
    model_id: &str,
    produced: Producer,
) -> Result<ThreatModelReport> {
    let conn = caller.tenant.conn()?;
    let stored = models::load(&conn, &caller.workspace_id, model_id)?;
    let verification = models::verification_map(&conn, model_id)?;
    Ok(ThreatModelReport {
        model: stored.model,
        verification,
        produced,
    })
}

fn file_param(params: &Value) -> Option<String> {
    ["file", "manifest"]
        .iter()
        .find_map(|k| params.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
}

/// Gathers the assurance report.
pub fn assurance(
    assurance: &AssuranceService,
    coverage: Option<&dyn ComplianceCoverage>,
    caller: &Caller,
    model_id: &str,
    produced: Producer,
) -> Result<AssuranceReport> {
    let conn = caller.tenant.conn()?;
    let stored = models::load(&conn, &caller.workspace_id, model_id)?;
    let model = &stored.model;
    let verification = models::verification_map(&conn, model_id)?;
    let assertions = assurance.list_assertions(caller, model_id, None)?;

    // The commit each assertion's latest result per tier was checked at, from the runs'
    // result rows (oldest run first, so later runs win).
    type RunRow = (String, i64, String, String);
    let mut stmt = conn
        .prepare(
            "SELECT id, tier, commit_sha, results FROM verification_runs WHERE model_id = ?1 ORDER BY created_at, rowid",
        )
        .map_err(sql)?;
    let rows: Vec<RunRow> = stmt
        .query_map([model_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    let mut checked_at: BTreeMap<(String, u64), (String, String)> = BTreeMap::new();
    for (run_id, _tier, commit, results) in &rows {
        let results: Value = serde_json::from_str(results).unwrap_or(Value::Null);
        for r in results.as_array().into_iter().flatten() {
            let (Some(a), Some(t)) = (
                r.get("assertion_id").and_then(Value::as_str),
                r.get("tier").and_then(Value::as_u64),
            ) else {
                continue;
            };
            checked_at.insert((a.to_string(), t), (run_id.clone(), commit.clone()));
        }
    }
    let tier = |id: &str, t: u64, status: &str, at: &Option<String>, details: &str| {
        let from = checked_at.get(&(id.to_string(), t));
        TierResult {
            status: status.to_string(),
            at: at.clone(),
            commit_sha: from.map(|f| f.1.clone()).filter(|c| !c.is_empty()),
            run_id: from.map(|f| f.0.clone()),
            details: details.to_string(),
        }
    };

    let mut suff_stmt = conn
        .prepare("SELECT control_id, status, details, evaluated_by FROM control_sufficiency WHERE model_id = ?1")
        .map_err(sql)?;
    let suff: BTreeMap<String, Sufficiency> = suff_stmt
        .query_map([model_id], |r| {
            Ok((
                r.get::<_, String>(0)?.to_ascii_uppercase(),
                Sufficiency {
                    status: r.get(1)?,
                    details: r.get(2)?,
                    evaluated_by: r.get(3)?,
                },
            ))
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;

    let mut controls = Vec::new();
    for c in &model.controls {
        let list: Vec<AssertionEvidence> = assertions
            .iter()
            .filter(|a| {
                a.control_id
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(&c.id))
            })
            .map(|a| AssertionEvidence {
                id: a.id.clone(),
                kind: a.kind.clone(),
                description: a.description.clone(),
                file: file_param(&a.params),
                coherent: a.coherent,
                tier1: tier(&a.id, 1, &a.tier1_status, &a.tier1_at, &a.tier1_details),
                tier2: tier(&a.id, 2, &a.tier2_status, &a.tier2_at, &a.tier2_details),
            })
            .collect();
        controls.push(ControlEvidence {
            id: c.id.clone(),
            name: c.name.clone(),
            implementation_status: c.status,
            verification_status: verification.get(&c.id).copied().unwrap_or_default(),
            sufficiency: suff.get(&c.id.to_ascii_uppercase()).cloned(),
            assertions: list,
        });
    }

    let mut drift_stmt = conn
        .prepare("SELECT assertion_id, control_id, run_id, details, detected_at FROM drift_items WHERE model_id = ?1 AND resolved_at IS NULL ORDER BY detected_at, id")
        .map_err(sql)?;
    let drift: Vec<DriftItem> = drift_stmt
        .query_map([model_id], |r| {
            Ok(DriftItem {
                assertion_id: r.get(0)?,
                control_id: r.get(1)?,
                run_id: r.get(2)?,
                details: r.get(3)?,
                detected_at: r.get(4)?,
            })
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;

    let findings: Vec<FindingItem> = assurance
        .list_findings(caller, model_id, None, None)?
        .into_iter()
        .map(|f| FindingItem {
            id: f.id,
            control_id: f.control_id,
            title: f.title,
            severity: f.severity,
            status: f.status,
            created_at: f.created_at,
        })
        .collect();

    let mut repo_stmt = conn
        .prepare("SELECT repo, commit_sha, branch, run_id, verified_at FROM repo_commits WHERE model_id = ?1 ORDER BY repo")
        .map_err(sql)?;
    let repos: Vec<RepoCommit> = repo_stmt
        .query_map([model_id], |r| {
            Ok(RepoCommit {
                repo: r.get(0)?,
                commit_sha: r.get(1)?,
                branch: r.get(2)?,
                run_id: r.get(3)?,
                verified_at: r.get(4)?,
            })
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;

    type ListRow = (
        String,
        i64,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    let mut run_stmt = conn
        .prepare(
            "SELECT id, tier, attestation, commit_sha, repo, content_hash, signer_fingerprint, notary_fingerprint, created_at \
             FROM verification_runs WHERE model_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT 200",
        )
        .map_err(sql)?;
    let listed: Vec<ListRow> = run_stmt
        .query_map(params![model_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .map_err(sql)?
        .collect::<rusqlite::Result<_>>()
        .map_err(sql)?;
    drop(stmt);
    drop(suff_stmt);
    drop(drift_stmt);
    drop(repo_stmt);
    drop(run_stmt);
    drop(conn);
    let mut runs = Vec::new();
    for (i, (id, tier, att, commit, repo, hash, signer, notary, at)) in
        listed.into_iter().enumerate()
    {
        let signatures = if i < SIGNED_RUNS_DETAILED {
            let bundle = assurance.audit_bundle(caller, model_id, &id)?;
            bundle
                .signatures
                .iter()
                .enumerate()
                .map(|(n, s)| signature_item(model_id, &id, n, s))
                .collect()
        } else {
            Vec::new()
        };
        runs.push(RunItem {
            run_id: id,
            tier,
            attestation: att,
            commit_sha: commit,
            repo,
            content_hash: hash,
            signer_fingerprint: signer,
            notary_fingerprint: notary,
            created_at: at,
            signatures,
        });
    }

    let compliance = match coverage {
        Some(c) => c.coverage(caller, model_id)?,
        None => Vec::new(),
    };

    let count = |s: VerificationStatus| {
        controls
            .iter()
            .filter(|c| c.verification_status == s)
            .count()
    };
    let summary = AssuranceSummary {
        controls: controls.len(),
        verified: count(VerificationStatus::Verified),
        partially_verified: count(VerificationStatus::PartiallyVerified),
        pending: count(VerificationStatus::Pending),
        unverified: count(VerificationStatus::Unverified),
        assertions: controls.iter().map(|c| c.assertions.len()).sum(),
        drift: drift.len(),
        open_findings: findings
            .iter()
            .filter(|f| !matches!(f.status.as_str(), "verified" | "dismissed"))
            .count(),
        runs: rows.len(),
    };
    Ok(AssuranceReport {
        model_id: model.id.clone(),
        title: model.title.clone(),
        version: model.version,
        produced,
        summary,
        controls,
        drift,
        findings,
        repos,
        runs,
        compliance,
    })
}

fn signature_item(
    model_id: &str,
    run_id: &str,
    index: usize,
    s: &crate::assurance::runs::SignatureEvidence,
) -> SignatureItem {
    use base64::Engine as _;
    let message = base64::engine::general_purpose::STANDARD
        .decode(s.message_b64.as_bytes())
        .unwrap_or_default();
    let digest = hex::encode(Sha256::digest(&message));
    // Every line fits the report's code block (about 110 monospace characters), so the
    // commands can be copied from the PDF as they are.
    let verify_commands = format!(
        "cat > signer.pem <<'EOF'\n{pem}\nEOF\n\
         openssl pkey -pubin -in signer.pem -outform DER | openssl dgst -sha256 -r\n\
         # expect {fp}\n\
         SIG='{sig}'\n\
         echo \"$SIG\" | base64 -d > signature.der\n\
         M={model_id}\n\
         R={run_id}\n\
         curl -s -H \"X-API-Key: $RAMPART_KEY\" \"$RAMPART_URL/api/models/$M/verification/runs/$R/audit\" \\\n  \
         | jq -r '.signatures[{index}].message_b64' | base64 -d > message.bin\n\
         openssl dgst -sha256 -r message.bin\n\
         # expect {digest}\n\
         openssl dgst -sha256 -verify signer.pem -signature signature.der message.bin\n\
         # expect: Verified OK",
        pem = s.public_key_pem.trim(),
        fp = s.fingerprint,
        sig = s.signature_b64,
    );
    SignatureItem {
        signer: s.signer.clone(),
        fingerprint: s.fingerprint.clone(),
        public_key_pem: s.public_key_pem.clone(),
        signature_b64: s.signature_b64.clone(),
        message_sha256: digest,
        verify_commands,
    }
}

fn status_text<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

fn co_state(model: &ThreatModel, verification: &VerificationMap) -> BTreeMap<String, String> {
    model
        .assess(verification)
        .into_iter()
        .map(|a| {
            let s = match (a.state, a.verified) {
                (_, true) => "verified",
                (CoState::Implemented, false) => "implemented",
                (CoState::AtRisk, _) => "at risk",
                (CoState::NotStarted, _) => "not started",
            };
            (a.co_id, s.to_string())
        })
        .collect()
}

impl ThreatModelReport {
    /// The report as a document.
    pub fn to_doc(&self) -> Doc {
        let m = &self.model;
        let v = &self.verification;
        let mut d = Doc::new(m.title.clone(), "Threat model report");
        d.cover = vec![
            ("Model".into(), m.id.clone()),
            ("Version".into(), m.version.to_string()),
            (
                "Last changed".into(),
                m.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
            (
                "Created".into(),
                m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            ),
            ("Produced".into(), self.produced.at.clone()),
            ("Produced by".into(), self.produced.line()),
        ];
        let s = m.summary(v);
        let c = &s.counts;
        d.section("summary", "Summary");
        d.blocks.push(super::doc::Block::Facts(vec![
            ("Assets".into(), m.assets.len().to_string()),
            ("Attackers".into(), m.attackers.len().to_string()),
            (
                "Trust boundaries".into(),
                m.trust_boundaries.len().to_string(),
            ),
            ("Control objectives".into(), c.objectives.to_string()),
            (
                "Risk tiers".into(),
                format!(
                    "{} critical, {} high, {} medium, {} low",
                    c.risk_tiers.critical, c.risk_tiers.high, c.risk_tiers.medium, c.risk_tiers.low
                ),
            ),
            ("Controls".into(), m.controls.len().to_string()),
            (
                "Objectives implemented".into(),
                format!(
                    "{} of {} ({:.0} %)",
                    c.implemented, c.objectives, c.implemented_pct
                ),
            ),
            (
                "Objectives verified".into(),
                format!(
                    "{} of {} ({:.0} %)",
                    c.verified, c.objectives, c.verified_pct
                ),
            ),
            (
                "Objectives at risk".into(),
                format!("{} (+{} not started)", c.at_risk, c.not_started),
            ),
        ]));
        d.section("description", "Description");
        d.para(m.feature_description.clone());

        d.section("boundaries", "Trust boundaries");
        match diagram::layout(m) {
            Some(diagram) => d.blocks.push(super::doc::Block::Diagram(Box::new(diagram))),
            None => d.note("The model has no trust boundaries, so there is no diagram."),
        }
        let name_of = |id: &str| {
            m.asset(id)
                .map(|a| format!("{id} {}", a.name))
                .unwrap_or_else(|| id.to_string())
        };
        d.table(
            &[
                ("ID", 0.6),
                ("Boundary", 1.6),
                ("Zones", 1.4),
                ("Protected assets", 1.8),
                ("Crossing", 1.4),
                ("Rationale", 2.2),
            ],
            m.trust_boundaries
                .iter()
                .map(|tb| {
                    vec![
                        Cell::mono(&tb.id),
                        Cell::text(&tb.name),
                        Cell::text(tb.zones.join(" ↔ ")),
                        Cell::text(
                            tb.assets
                                .iter()
                                .map(|a| name_of(a))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Cell::text(tb.crossing.join(", ")),
                        Cell::text(&tb.rationale),
                    ]
                })
                .collect(),
            "No trust boundaries.",
        );

        d.section("assets", "Assets");
        d.table(
            &[
                ("ID", 0.5),
                ("Asset", 1.5),
                ("Description", 2.6),
                ("Impact", 0.7),
                ("Props", 0.6),
                ("Rationale", 2.4),
            ],
            m.assets
                .iter()
                .map(|a| {
                    vec![
                        Cell::mono(&a.id),
                        Cell::text(&a.name),
                        Cell::text(&a.description),
                        Cell::text(a.impact.to_string()),
                        Cell::text(format_properties(&a.properties)),
                        Cell::text(&a.rationale),
                    ]
                })
                .collect(),
            "No assets.",
        );

        d.section("attackers", "Attackers");
        d.table(
            &[
                ("ID", 0.6),
                ("Attacker", 1.5),
                ("Position", 0.9),
                ("Likelihood", 0.8),
                ("Capability", 2.4),
                ("Rationale", 2.2),
            ],
            m.attackers
                .iter()
                .map(|a| {
                    let cap = if a.capability.trim().is_empty() {
                        a.description.clone()
                    } else {
                        a.capability.clone()
                    };
                    vec![
                        Cell::mono(&a.id),
                        Cell::text(&a.name),
                        Cell::text(a.position.to_string().replace('_', " ")),
                        Cell::text(a.likelihood.to_string()),
                        Cell::text(cap),
                        Cell::text(&a.rationale),
                    ]
                })
                .collect(),
            "No attackers.",
        );

        d.section("objectives", "Control objectives");
        d.note("Each objective protects security properties of one asset against one attacker; the risk tier is impact × likelihood.");
        let states = co_state(m, v);
        d.table(
            &[
                ("ID", 0.6),
                ("Objective", 3.4),
                ("Asset", 1.2),
                ("Attacker", 1.2),
                ("Risk", 0.7),
                ("State", 0.9),
            ],
            m.control_objectives
                .iter()
                .map(|o| {
                    vec![
                        Cell::mono(&o.id),
                        Cell::text(&o.statement),
                        Cell::text(
                            m.asset(&o.asset_id)
                                .map(|a| a.name.clone())
                                .unwrap_or_else(|| o.asset_id.clone()),
                        ),
                        Cell::text(
                            m.attacker(&o.attacker_id)
                                .map(|a| a.name.clone())
                                .unwrap_or_else(|| o.attacker_id.clone()),
                        ),
                        Cell::text(o.risk_tier.to_string()),
                        Cell::text(states.get(&o.id).cloned().unwrap_or_default()),
                    ]
                })
                .collect(),
            "No control objectives.",
        );

        d.section("assumptions", "Assumptions");
        d.table(
            &[
                ("ID", 0.6),
                ("Assumption", 3.4),
                ("Status", 0.9),
                ("Rationale", 2.6),
            ],
            m.assumptions
                .iter()
                .map(|a| {
                    vec![
                        Cell::mono(&a.id),
                        Cell::text(&a.text),
                        Cell::text(status_text(&a.status)),
                        Cell::text(&a.rationale),
                    ]
                })
                .collect(),
            "No assumptions.",
        );

        d.section("controls", "Controls");
        d.table(
            &[
                ("ID", 0.8),
                ("Control", 1.4),
                ("Description", 2.4),
                ("Status", 1.15),
                ("Verification", 1.15),
                ("Objectives", 0.9),
                ("Rationale", 1.8),
            ],
            m.controls
                .iter()
                .map(|c| {
                    let mut desc = c.description.clone();
                    if !c.framework_refs.is_empty() {
                        desc.push_str(&format!(
                            " [{}]",
                            c.framework_refs
                                .iter()
                                .map(|r| r.to_string())
                                .collect::<Vec<_>>()
                                .join("; ")
                        ));
                    }
                    vec![
                        Cell::mono(&c.id),
                        Cell::text(&c.name),
                        Cell::text(desc),
                        Cell::text(status_text(&c.status)),
                        Cell::text(status_text(&v.get(&c.id).copied().unwrap_or_default())),
                        Cell::mono(
                            m.objectives_of_control(&c.id)
                                .iter()
                                .map(|o| o.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                        Cell::text(&c.rationale),
                    ]
                })
                .collect(),
            "No controls yet.",
        );
        d
    }
}

/// A stored RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC, as the cover says), so it fits a
/// table column; anything else is shown as stored.
fn short_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

fn tier_cell(t: &TierResult) -> String {
    let mut s = t.status.clone();
    if let Some(c) = &t.commit_sha {
        s.push_str(&format!("\n@ {}", c.chars().take(12).collect::<String>()));
    }
    if let Some(at) = &t.at {
        s.push_str(&format!("\n{}", short_time(at)));
    }
    s
}

impl AssuranceReport {
    /// The report as a document.
    pub fn to_doc(&self) -> Doc {
        let mut d = Doc::new(self.title.clone(), "Assurance report");
        d.cover = vec![
            ("Model".into(), self.model_id.clone()),
            ("Model version".into(), self.version.to_string()),
            ("Produced".into(), self.produced.at.clone()),
            ("Produced by".into(), self.produced.line()),
            ("Times".into(), "UTC".into()),
            (
                "Reproducible".into(),
                "the same data gives the same report, apart from the production time and producer"
                    .into(),
            ),
        ];
        let s = &self.summary;
        d.section("summary", "Summary");
        d.blocks.push(super::doc::Block::Facts(vec![
            ("Controls".into(), s.controls.to_string()),
            ("Verified".into(), s.verified.to_string()),
            (
                "Partially verified".into(),
                s.partially_verified.to_string(),
            ),
            ("Pending CI".into(), s.pending.to_string()),
            (
                "Unverified (no assertions)".into(),
                s.unverified.to_string(),
            ),
            ("Assertions".into(), s.assertions.to_string()),
            ("Unresolved drift".into(), s.drift.to_string()),
            ("Open findings".into(), s.open_findings.to_string()),
            ("Verification runs".into(), s.runs.to_string()),
        ]));
        d.note("Verification status is computed by rampart from CI results (never set by hand): verified means every assertion passed tier 1 (deterministic checks) and tier 2 (semantic review), all are coherent with the control and the evidence is sufficient.");

        d.section("repos", "Verified commits");
        d.table(
            &[
                ("Repository / branch", 1.3),
                ("Commit", 3.1),
                ("Run", 1.7),
                ("Verified at", 1.6),
            ],
            self.repos
                .iter()
                .map(|r| {
                    let repo = if r.repo.is_empty() {
                        "(default)"
                    } else {
                        r.repo.as_str()
                    };
                    vec![
                        Cell::text(format!("{repo}\n{}", r.branch).trim_end().to_string()),
                        Cell::mono(&r.commit_sha),
                        Cell::mono(&r.run_id),
                        Cell::text(short_time(&r.verified_at)),
                    ]
                })
                .collect(),
            "No commit has been verified by CI yet.",
        );

        d.section("controls", "Controls and assertions");
        d.table(
            &[
                ("Control", 0.8),
                ("Name", 1.8),
                ("Implementation", 1.25),
                ("Verification", 1.15),
                ("Sufficiency", 2.1),
                ("Assertions", 0.85),
            ],
            self.controls
                .iter()
                .map(|c| {
                    vec![
                        Cell::mono(&c.id),
                        Cell::text(&c.name),
                        Cell::text(status_text(&c.implementation_status)),
                        Cell::text(status_text(&c.verification_status)),
                        Cell::text(
                            c.sufficiency
                                .as_ref()
                                .map(|s| {
                                    format!("{} — {} ({})", s.status, s.details, s.evaluated_by)
                                })
                                .unwrap_or_else(|| "not judged".into()),
                        ),
                        Cell::text(c.assertions.len().to_string()),
                    ]
                })
                .collect(),
            "The model has no controls.",
        );
        for c in self.controls.iter().filter(|c| !c.assertions.is_empty()) {
            d.subsection(&format!("control-{}", c.id), format!("{} {}", c.id, c.name));
            d.table(
                &[
                    ("Assertion", 1.75),
                    ("Type / file", 1.5),
                    ("Claim", 2.1),
                    ("Tier 1 @ commit", 1.5),
                    ("Tier 2 @ commit", 1.5),
                ],
                c.assertions
                    .iter()
                    .map(|a| {
                        let mut kind = a.kind.clone();
                        if let Some(f) = &a.file {
                            kind.push_str(&format!("\n{f}"));
                        }
                        if !a.coherent {
                            kind.push_str("\n(incoherent)");
                        }
                        vec![
                            Cell::mono(&a.id),
                            Cell::text(kind),
                            Cell::text(&a.description),
                            Cell::text(tier_cell(&a.tier1)),
                            Cell::text(tier_cell(&a.tier2)),
                        ]
                    })
                    .collect(),
                "No assertions.",
            );
        }

        d.section("drift", "Drift");
        d.table(
            &[
                ("Assertion", 1.5),
                ("Control", 0.8),
                ("Run", 1.45),
                ("Details", 2.0),
                ("Detected", 1.5),
            ],
            self.drift
                .iter()
                .map(|x| {
                    vec![
                        Cell::mono(&x.assertion_id),
                        Cell::mono(x.control_id.clone().unwrap_or_default()),
                        Cell::mono(&x.run_id),
                        Cell::text(&x.details),
                        Cell::text(short_time(&x.detected_at)),
                    ]
                })
                .collect(),
            "No unresolved drift: no assertion that passed before fails now.",
        );

        d.section("findings", "Findings");
        d.table(
            &[
                ("Finding", 1.5),
                ("Control", 0.8),
                ("Title", 2.6),
                ("Severity", 0.8),
                ("Status", 1.0),
                ("Recorded", 1.5),
            ],
            self.findings
                .iter()
                .map(|f| {
                    vec![
                        Cell::mono(&f.id),
                        Cell::mono(f.control_id.clone().unwrap_or_default()),
                        Cell::text(&f.title),
                        Cell::text(&f.severity),
                        Cell::text(&f.status),
                        Cell::text(short_time(&f.created_at)),
                    ]
                })
                .collect(),
            "No findings recorded.",
        );

        d.section("compliance", "Compliance coverage");
        d.table(
            &[
                ("Framework", 2.6),
                ("Covered", 0.8),
                ("Partial", 0.8),
                ("Uncovered", 0.9),
                ("N/A", 0.6),
                ("Coverage", 0.9),
            ],
            self.compliance
                .iter()
                .map(|f| {
                    let profile = f
                        .profile
                        .as_deref()
                        .map(|p| format!(", profile {p}"))
                        .unwrap_or_default();
                    vec![
                        Cell::text(format!(
                            "{} {} ({}{profile})",
                            f.name, f.version, f.framework_id
                        )),
                        Cell::text(f.covered.to_string()),
                        Cell::text(f.partial.to_string()),
                        Cell::text(f.uncovered.to_string()),
                        Cell::text(f.not_applicable.to_string()),
                        Cell::text(format!("{} %", crate::compliance::trim_pct(f.percentage))),
                    ]
                })
                .collect(),
            "No compliance framework is selected for this model (the model page's Compliance tab selects them).",
        );
        if !self.compliance.is_empty() {
            d.note("A requirement is covered when every control mapped to it is implemented and verified by CI, partial when some are not; coverage is covered ÷ applicable requirements. The model's Compliance tab lists each requirement with its controls.");
        }

        d.section("runs", "Verification runs");
        d.note("Each run's content hash is the SHA-256 of the canonical results text (contracts/mipiti-verify-wire.md). Fingerprints are SHA-256 of the signer's DER SubjectPublicKeyInfo.");
        d.table(
            &[
                ("Run, tier, received", 1.3),
                ("Commit, content hash, signer and notary fingerprints", 3.65),
            ],
            self.runs
                .iter()
                .map(|r| {
                    vec![
                        Cell::mono(format!(
                            "{}\ntier {}, {}\n{}",
                            r.run_id,
                            r.tier,
                            r.attestation,
                            short_time(&r.created_at)
                        )),
                        Cell::mono(format!(
                            "commit {}\nhash   {}\nsigner {}\nnotary {}",
                            r.commit_sha,
                            r.content_hash,
                            r.signer_fingerprint.as_deref().unwrap_or("(unsigned)"),
                            r.notary_fingerprint.as_deref().unwrap_or("(no notary)")
                        )),
                    ]
                })
                .collect(),
            "No verification runs yet.",
        );
        let detailed: Vec<&RunItem> = self
            .runs
            .iter()
            .filter(|r| !r.signatures.is_empty())
            .collect();
        if !detailed.is_empty() {
            d.section("signatures", "Checking the signatures");
            d.para(format!(
                "Every run is signed by this appliance's instance key (platform notary), and by the workspace's CI key when CI attested it. The commands below check each signature with openssl alone: the key's fingerprint, the signed bytes' SHA-256 (the bytes come from the run's audit bundle; set RAMPART_URL and RAMPART_KEY), and the ECDSA P-256 signature. The {SIGNED_RUNS_DETAILED} newest runs are listed."
            ));
            for r in detailed {
                d.subsection(
                    &format!("run-{}", r.run_id),
                    format!(
                        "Run {} (tier {}, {})",
                        r.run_id,
                        r.tier,
                        short_time(&r.created_at)
                    ),
                );
                for s in &r.signatures {
                    d.blocks.push(super::doc::Block::Facts(vec![
                        ("Signer".into(), s.signer.clone()),
                        ("Fingerprint".into(), s.fingerprint.clone()),
                        ("Signed bytes SHA-256".into(), s.message_sha256.clone()),
                        ("Signature (base64 DER)".into(), s.signature_b64.clone()),
                    ]));
                    d.blocks
                        .push(super::doc::Block::Code(s.verify_commands.clone()));
                }
            }
        }
        d
    }
}
