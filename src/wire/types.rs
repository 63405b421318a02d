//! Serde types for every JSON shape of contract §3–§4 (E1–E7 and the assertion object).
//!
//! Optional keys are `Option` + `skip_serializing_if`, so the server can emit exactly the
//! keys the published CLI expects and the client tolerates anything the contract allows.
//! `params` stays a raw [`serde_json::Value`]: it is hashed as served (§5.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// E1 `GET /api/models` item (the response is a bare JSON array of these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelListItem {
    /// Model id; required by the CLI.
    pub id: String,
    /// Cosmetic title; may be null.
    #[serde(default)]
    pub title: Option<String>,
}

/// `description_provenance` of E2; only `repo_url` is read (by `run --all`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DescriptionProvenance {
    /// Source repository URL the model was described from, if any.
    #[serde(default)]
    pub repo_url: Option<String>,
}

/// A component of E2 (`--component` rebases the project root to `path`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRef {
    /// Component id.
    pub id: String,
    /// Path of the component inside the repository.
    #[serde(default)]
    pub path: Option<String>,
}

/// E2 `GET /api/models/{id}`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Title (cosmetic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Where the description came from; `repo_url` scopes `run --all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_provenance: Option<DescriptionProvenance>,
    /// Components with their repo paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentRef>>,
}

/// Cached tier-2 verdict attached to an assertion (read only with a provider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tier2Cached {
    /// Hash of the evidence the cached verdict was made on.
    #[serde(default)]
    pub evidence_hash: Option<String>,
    /// Cached status (`pass`/`fail`).
    #[serde(default)]
    pub status: Option<String>,
    /// Cached reasoning.
    #[serde(default)]
    pub reasoning: Option<String>,
    /// How many consistent answers produced it.
    #[serde(default)]
    pub consistency_n: Option<i64>,
}

/// Assertion object (§4). `id` and `type` are required; the rest is optional and, apart
/// from `params`/`description` (hashed) and the attestation fields, ignored by the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assertion {
    /// Assertion id (`asrt_…`).
    pub id: String,
    /// Assertion type, e.g. `function_exists`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific params, kept verbatim (never re-normalized).
    #[serde(default = "empty_object")]
    pub params: Value,
    /// Human description; hashed. A null description hashes as `null`.
    #[serde(default)]
    pub description: Option<String>,
    /// Repository scope (`owner/name`), or null/absent/`""`/`"no_repo"` for any repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Linked control id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_id: Option<String>,
    /// Linked assumption id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumption_id: Option<String>,
    /// Linked functional test id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functional_test_id: Option<String>,
    /// Linked graph node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Origin of the assertion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Model it was inherited from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited_from_model_id: Option<String>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Server-rendered tier-2 prompt (spec's manual flow); the CLI renders its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier2_prompt: Option<String>,
    /// Cached tier-2 verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier2_cached: Option<Tier2Cached>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// E3/E4 response: assertions grouped by control and by assumption. Both maps must be
/// objects (`{}`, never null), and their keys must be disjoint.
///
/// The groups are kept as raw JSON so that `content_hash` sees missing and null keys
/// exactly as served; use [`AssertionsResponse::typed`] for typed access.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssertionsResponse {
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Control id → assertions.
    #[serde(default)]
    pub controls: BTreeMap<String, Vec<Value>>,
    /// Assumption id → assertions.
    #[serde(default)]
    pub assumptions: BTreeMap<String, Vec<Value>>,
}

impl AssertionsResponse {
    /// All assertions in CLI order: control groups first, then assumption groups, each group
    /// in key order as received (BTreeMap keeps keys sorted, matching a sorted server).
    pub fn flattened(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (cid, list) in self.controls.iter().chain(self.assumptions.iter()) {
            for a in list {
                out.push((cid.clone(), a.clone()));
            }
        }
        out
    }

    /// Typed view of one raw assertion; fails when `id` or `type` is missing.
    pub fn typed(raw: &Value) -> Result<Assertion, serde_json::Error> {
        serde_json::from_value(raw.clone())
    }
}

/// `pipeline` of the E5 body; all values are strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pipeline {
    /// `github_actions`, `gitlab_ci`, `$SOURCE_PROVIDER`/`generic` or `local`.
    pub provider: String,
    /// CI run id.
    #[serde(default)]
    pub run_id: String,
    /// CI run URL.
    #[serde(default)]
    pub run_url: String,
    /// Commit verified.
    #[serde(default)]
    pub commit_sha: String,
    /// Branch or ref verified.
    #[serde(default)]
    pub branch: String,
    /// Opaque digest of the files the assertions read (`""` when none).
    #[serde(default)]
    pub source_digest: String,
}

/// One result row of the E5 body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// Assertion id.
    pub assertion_id: String,
    /// 1 or 2.
    pub tier: u8,
    /// `pass`, `fail` or `skipped`.
    pub result: String,
    /// Human-actionable details.
    #[serde(default)]
    pub details: String,
    /// Tier-2 reasoning (`""` in tier 1).
    #[serde(default)]
    pub reasoning: String,
    /// `mipiti-verify:<type>` / `rampart-verify:<type>`, `ai:<prov>/<model>` or `cache`.
    #[serde(default)]
    pub reviewer: String,
    /// `ci_oidc`, `customer_key` or `unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// Evidence hash (test attestations, tier 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_hash: Option<String>,
    /// Test attestation: mechanism reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<bool>,
    /// Test attestation: depends on mechanism.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends: Option<bool>,
    /// Test attestation: mechanism found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mechanism_found: Option<bool>,
    /// Scope types: number of sites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<i64>,
    /// Scope types: number allowlisted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlisted: Option<i64>,
    /// Tier-2 evidence hash (provider only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier2_evidence_hash: Option<String>,
    /// Tier-2 consistency count (provider only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier2_consistency_n: Option<i64>,
}

/// E5 `POST …/verification/results` body. At most one attestation form is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRequest {
    /// CI context.
    pub pipeline: Pipeline,
    /// Result rows of one tier.
    pub results: Vec<ResultRow>,
    /// `sha256:<hex>` per §5.1; optional only in the spec's manual flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// Base64 DER workspace ECDSA signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// What was signed: 64 hex (CLI flow) or `sha256:<hex>` (manual flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_hash: Option<String>,
    /// Sigstore bundle as a JSON string (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// Customer DSSE bundle as a JSON string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_bundle: Option<String>,
}

/// E5 response; only `run_id` is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsResponse {
    /// Id of the stored verification run.
    #[serde(default)]
    pub run_id: String,
}

/// Pass/fail/pending counters of one tier in E6.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierCounts {
    /// Passed assertions.
    #[serde(default)]
    pub pass: i64,
    /// Failed assertions.
    #[serde(default)]
    pub fail: i64,
    /// Pending assertions.
    #[serde(default)]
    pub pending: i64,
}

/// Sufficiency summary of E6.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SufficiencySummary {
    /// Controls judged sufficient.
    #[serde(default)]
    pub sufficient: i64,
    /// Controls judged insufficient.
    #[serde(default)]
    pub insufficient: i64,
    /// Controls pending judgment.
    #[serde(default)]
    pub pending: i64,
    /// Controls marked implemented.
    #[serde(default)]
    pub total_marked: i64,
}

/// Per-control sufficiency status in E6 `control_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SufficiencyStatus {
    /// `sufficient`, `insufficient` or `pending`; `insufficient` makes `run` exit 1.
    #[serde(default)]
    pub status: String,
    /// Human explanation (must be a string).
    #[serde(default)]
    pub details: String,
}

/// One entry of E6 `control_details`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlDetail {
    /// Control id.
    pub control_id: String,
    /// Sufficiency verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sufficiency: Option<SufficiencyStatus>,
}

/// E6 `GET …/verification/report`; every key optional, but typed when present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// Tier-1 counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier1: Option<TierCounts>,
    /// Tier-2 counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier2: Option<TierCounts>,
    /// Controls with every gate passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls_fully_verified: Option<i64>,
    /// Controls with some evidence verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls_partially_verified: Option<i64>,
    /// Controls without verified evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controls_unverified: Option<i64>,
    /// Previously passing assertions that now fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_items: Option<Vec<Value>>,
    /// Sufficiency counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sufficiency: Option<SufficiencySummary>,
    /// Number of incoherent assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coherence_warnings: Option<i64>,
    /// Per-control sufficiency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_details: Option<Vec<ControlDetail>>,
}

/// One control id of E7.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRef {
    /// Control id.
    pub id: String,
}

/// E7 `GET /api/models/{id}/controls?component_id=C`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlsResponse {
    /// Controls of the component.
    #[serde(default)]
    pub controls: Vec<ControlRef>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn assertion_round_trip_and_required_fields() {
        let raw = json!({"id":"asrt_001","type":"function_exists","params":{"file":"a.py","name":"f"},
            "description":"d","repo":null,"control_id":"CTRL-01"});
        let a: Assertion = serde_json::from_value(raw).expect("parses");
        assert_eq!(a.kind, "function_exists");
        assert_eq!(a.repo, None);
        assert!(serde_json::from_value::<Assertion>(json!({"type":"x"})).is_err());
    }

    #[test]
    fn results_request_omits_absent_attestation() {
        let body = ResultsRequest {
            pipeline: Pipeline {
                provider: "local".into(),
                ..Default::default()
            },
            results: vec![ResultRow {
                assertion_id: "a".into(),
                tier: 1,
                result: "pass".into(),
                details: "ok".into(),
                reasoning: String::new(),
                reviewer: "mipiti-verify:file_exists".into(),
                provenance: None,
                evidence_hash: None,
                reached: None,
                depends: None,
                mechanism_found: None,
                sites: None,
                allowlisted: None,
                tier2_evidence_hash: None,
                tier2_consistency_n: None,
            }],
            content_hash: Some("sha256:00".into()),
            signature: None,
            signed_hash: None,
            bundle: None,
            dsse_bundle: None,
        };
        let v = serde_json::to_value(&body).expect("ser");
        assert!(v.get("signature").is_none());
        assert_eq!(v["results"][0]["reasoning"], "");
        assert!(v["results"][0].get("reached").is_none());
    }

    #[test]
    fn report_and_lists_parse() {
        let r: ReportResponse = serde_json::from_value(json!({"tier1":{"pass":2,"fail":1,"pending":0},
            "control_details":[{"control_id":"C","sufficiency":{"status":"insufficient","details":"x"}}]}))
            .expect("report");
        assert_eq!(r.tier1.expect("t1").fail, 1);
        let m: Vec<ModelListItem> =
            serde_json::from_value(json!([{"id":"1","title":null}])).expect("models");
        assert_eq!(m[0].title, None);
        let e: AssertionsResponse =
            serde_json::from_value(json!({"controls":{"C2":[{"id":"b"}],"C1":[{"id":"a"}]},"assumptions":{"AS":[{"id":"z"}]}}))
                .expect("assertions");
        let ids: Vec<String> = e
            .flattened()
            .iter()
            .map(|(_, a)| a["id"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(ids, ["a", "b", "z"]);
    }
}
