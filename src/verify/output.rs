//! Rendering of `run` outcomes: text, JSON (contract §8 keys), GitHub workflow commands
//! and SARIF 2.1.0 for code-scanning upload.

use super::client::{CheckedRow, ModelOutcome};
use serde_json::{Value, json};

/// Output format of `run` and `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human summary with counts and every failure.
    Text,
    /// One JSON object per model (a list with `--all`).
    Json,
    /// GitHub Actions workflow commands (annotations), plus `content_hash=` in $GITHUB_OUTPUT.
    Github,
    /// SARIF 2.1.0 log for code-scanning upload.
    Sarif,
}

fn counts(rows: &[CheckedRow]) -> (usize, usize, usize) {
    let pass = rows.iter().filter(|r| r.row.result == "pass").count();
    let fail = rows.iter().filter(|r| r.row.result == "fail").count();
    let skip = rows.iter().filter(|r| r.row.result == "skipped").count();
    (pass, fail, skip)
}

/// The JSON object of one model (contract §8 keys).
pub fn model_json(o: &ModelOutcome) -> Value {
    let (p1, f1, s1) = counts(&o.tier1);
    let (p2, f2, s2) = counts(&o.tier2);
    let suff = |st: &str| o.sufficiency.iter().filter(|(_, s, _)| s == st).count();
    let details: Vec<Value> = o
        .tier1
        .iter()
        .chain(o.tier2.iter())
        .map(|r| {
            json!({"assertion_id": r.row.assertion_id, "type": r.kind, "tier": r.row.tier,
                "passed": r.row.result == "pass", "skipped": r.row.result == "skipped", "details": r.row.details,
                "reasoning": r.row.reasoning})
        })
        .collect();
    let mut v = json!({
        "model_id": o.model_id,
        "title": o.title,
        "tier1_pass": p1, "tier1_fail": f1, "tier1_skip": s1,
        "tier2_pass": p2, "tier2_fail": f2, "tier2_skip": s2,
        "suff_sufficient": suff("sufficient"), "suff_insufficient": suff("insufficient"),
        "suff_skip": o.sufficiency.len() - suff("sufficient") - suff("insufficient"),
        "tier1_run_id": o.tier1_run_id, "tier2_run_id": o.tier2_run_id,
        "content_hash": {"tier1": o.content_hash_tier1, "tier2": o.content_hash_tier2},
        "dry_run": o.dry_run, "developer_key": o.developer_key,
        "details": details,
        "suff_details": o.sufficiency.iter().map(|(c, s, d)| json!({"control_id": c, "result": s, "details": d})).collect::<Vec<_>>(),
        "repo_bound_assertions": o.repo_bound_assertions,
        "drift_items": o.drift,
        "error": o.error,
        "skipped_reason": o.skipped_reason,
    });
    if o.repo_bound_assertions == 0 && !o.tier1.is_empty() {
        v["unbound_note"] =
            json!("No assertion is bound to this repository; all checked assertions are unscoped.");
    }
    v
}

/// Text rendering: one block per model, failures listed with details.
pub fn text(outs: &[ModelOutcome]) -> String {
    let mut s = String::new();
    for o in outs {
        let title = o
            .title
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default();
        s.push_str(&format!("Model {}{title}\n", o.model_id));
        if let Some(r) = &o.skipped_reason {
            s.push_str(&format!("  skipped: {r}\n\n"));
            continue;
        }
        for (tier, rows) in [(1, &o.tier1), (2, &o.tier2)] {
            let (p, f, k) = counts(rows);
            s.push_str(&format!(
                "  Tier {tier}: {p} passed, {f} failed, {k} skipped\n"
            ));
            for r in rows.iter().filter(|r| {
                r.row.result != "pass"
                    && !(tier == 2 && r.row.details == "No --tier2-provider specified")
            }) {
                s.push_str(&format!(
                    "    {} {} [{}]: {}\n",
                    r.row.result.to_uppercase(),
                    r.row.assertion_id,
                    r.kind,
                    r.row.details
                ));
            }
            if tier == 2
                && k > 0
                && rows
                    .iter()
                    .all(|r| r.row.details == "No --tier2-provider specified")
            {
                s.push_str(
                    "    (tier 2 not run: no --tier2-provider given; tier-1 results only)\n",
                );
            }
        }
        for (c, st, d) in o
            .sufficiency
            .iter()
            .filter(|(_, st, _)| st == "insufficient")
        {
            s.push_str(&format!("  Sufficiency {c}: {st}: {d}\n"));
        }
        if o.drift > 0 {
            s.push_str(&format!(
                "  Drift: {} previously passing assertion(s) now fail\n",
                o.drift
            ));
        }
        if o.developer_key {
            s.push_str(
                "  Not submitted: developer key (mk_); use a verifier key (mv_) in CI to submit.\n",
            );
        } else if o.dry_run {
            s.push_str("  Not submitted: --dry-run.\n");
        } else if !o.tier1_run_id.is_empty() {
            s.push_str(&format!(
                "  Submitted: tier 1 run {}, tier 2 run {}\n",
                o.tier1_run_id, o.tier2_run_id
            ));
        }
        if !o.content_hash_tier1.is_empty() {
            s.push_str(&format!("  content_hash tier1 {}\n", o.content_hash_tier1));
        }
        if let Some(e) = &o.error {
            s.push_str(&format!("  ERROR: {e}\n"));
        }
        s.push('\n');
    }
    s
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_prop(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn location(r: &CheckedRow) -> (String, usize) {
    let file = ["file", "manifest", "pattern"]
        .iter()
        .find_map(|k| r.params.get(*k).and_then(Value::as_str))
        .filter(|f| !f.contains('*'))
        .unwrap_or(".")
        .to_string();
    let line = regex::Regex::new(r"line (\d+)")
        .ok()
        .and_then(|re| re.captures(&r.row.details).and_then(|c| c[1].parse().ok()))
        .unwrap_or(1);
    (file, line)
}

/// GitHub Actions workflow commands.
pub fn github(outs: &[ModelOutcome]) -> String {
    let mut s = String::new();
    for o in outs {
        for (tier, rows) in [(1, &o.tier1), (2, &o.tier2)] {
            s.push_str(&format!("::group::{} tier {tier}\n", o.model_id));
            for r in rows {
                let (file, line) = location(r);
                let title = escape_prop(&format!("{} {}", r.row.assertion_id, r.kind));
                match r.row.result.as_str() {
                    "fail" => s.push_str(&format!(
                        "::error file={},line={line},title={title}::{}\n",
                        escape_prop(&file),
                        escape_data(&r.row.details)
                    )),
                    "skipped" => s.push_str(&format!(
                        "::warning title={title}::{}\n",
                        escape_data(&r.row.details)
                    )),
                    _ => s.push_str(&format!(
                        "pass {} {}: {}\n",
                        r.row.assertion_id, r.kind, r.row.details
                    )),
                }
            }
            s.push_str("::endgroup::\n");
        }
        if let Some(e) = &o.error {
            s.push_str(&format!(
                "::error title=rampart verify::{}\n",
                escape_data(e)
            ));
        }
        let (p1, f1, k1) = counts(&o.tier1);
        let (p2, f2, k2) = counts(&o.tier2);
        s.push_str(&format!("{}: tier 1 {p1} passed / {f1} failed / {k1} skipped; tier 2 {p2} passed / {f2} failed / {k2} skipped\n", o.model_id));
    }
    s
}

/// Appends `content_hash=<tier-1 hash>` (first model) to `$GITHUB_OUTPUT` when set.
pub fn write_github_output(outs: &[ModelOutcome]) -> std::io::Result<()> {
    let Ok(path) = std::env::var("GITHUB_OUTPUT") else {
        return Ok(());
    };
    let Some(h) = outs
        .iter()
        .map(|o| o.content_hash_tier1.as_str())
        .find(|h| !h.is_empty())
    else {
        return Ok(());
    };
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "content_hash={h}")
}

/// SARIF 2.1.0 log: failures as `error`, skips as `note`; one rule per assertion type.
pub fn sarif(outs: &[ModelOutcome]) -> Value {
    let mut rules: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for o in outs {
        for r in o.tier1.iter().chain(o.tier2.iter()) {
            let level = match r.row.result.as_str() {
                "fail" => "error",
                "skipped" => "note",
                _ => continue,
            };
            if !rules.contains(&r.kind) {
                rules.push(r.kind.clone());
            }
            let (file, line) = location(r);
            results.push(json!({
                "ruleId": r.kind,
                "ruleIndex": rules.iter().position(|k| k == &r.kind).unwrap_or(0),
                "level": level,
                "message": {"text": format!("[{} tier {}] {}: {}", o.model_id, r.row.tier, r.row.assertion_id, r.row.details)},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": file, "uriBaseId": "%SRCROOT%"}, "region": {"startLine": line}}}],
                "partialFingerprints": {"assertionId/v1": format!("{}/{}/{}", o.model_id, r.row.assertion_id, r.row.tier)},
            }));
        }
    }
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart-verify",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://example.invalid/rampart",
                "rules": rules.iter().map(|k| json!({"id": k, "name": k, "shortDescription": {"text": format!("Assertion type {k}")}})).collect::<Vec<_>>(),
            }},
            "results": results,
        }]
    })
}
