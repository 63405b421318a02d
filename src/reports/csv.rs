//! CSV exports, one table per file: RFC 4180 (comma separated, CRLF line ends, a header
//! row, fields quoted when they hold a comma, quote, CR or LF, quotes doubled) with
//! formula-injection protection: a cell whose text starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return is prefixed with `'`, so a spreadsheet shows it as text instead of
//! evaluating it (OWASP "CSV injection").

use crate::domain::{ThreatModel, VerificationMap, format_properties};

use super::Table;
use super::content::AssuranceReport;

/// One field, neutralised and quoted as needed.
pub fn field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn push_row(out: &mut String, cells: &[String]) {
    let row: Vec<String> = cells.iter().map(|c| field(c)).collect();
    out.push_str(&row.join(","));
    out.push_str("\r\n");
}

fn status<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The table `table` of a model. Assertions come from the assurance report.
pub fn render(
    table: Table,
    model: &ThreatModel,
    verification: &VerificationMap,
    assurance: Option<&AssuranceReport>,
) -> String {
    let mut out = String::new();
    match table {
        Table::Assets => {
            push_row(
                &mut out,
                &[
                    "id",
                    "name",
                    "description",
                    "impact",
                    "properties",
                    "tags",
                    "rationale",
                ]
                .map(String::from),
            );
            for a in &model.assets {
                push_row(
                    &mut out,
                    &[
                        a.id.clone(),
                        a.name.clone(),
                        a.description.clone(),
                        a.impact.to_string(),
                        format_properties(&a.properties),
                        a.tags.iter().cloned().collect::<Vec<_>>().join("; "),
                        a.rationale.clone(),
                    ],
                );
            }
        }
        Table::Attackers => {
            push_row(
                &mut out,
                &[
                    "id",
                    "name",
                    "description",
                    "capability",
                    "position",
                    "likelihood",
                    "threatens",
                    "targets",
                    "rationale",
                ]
                .map(String::from),
            );
            for a in &model.attackers {
                push_row(
                    &mut out,
                    &[
                        a.id.clone(),
                        a.name.clone(),
                        a.description.clone(),
                        a.capability.clone(),
                        a.position.to_string(),
                        a.likelihood.to_string(),
                        format_properties(&a.threatens),
                        a.targets
                            .as_ref()
                            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("; "))
                            .unwrap_or_else(|| "all".into()),
                        a.rationale.clone(),
                    ],
                );
            }
        }
        Table::Objectives => {
            push_row(
                &mut out,
                &[
                    "id",
                    "statement",
                    "asset_id",
                    "asset",
                    "attacker_id",
                    "attacker",
                    "properties",
                    "risk_tier",
                    "implemented",
                    "verified",
                    "controls",
                ]
                .map(String::from),
            );
            let assessed = model.assess(verification);
            for o in &model.control_objectives {
                let a = assessed.iter().find(|x| x.co_id == o.id);
                let mut controls: Vec<&str> = o
                    .mitigation_groups
                    .iter()
                    .flat_map(|g| g.controls.iter().map(String::as_str))
                    .collect();
                controls.sort_unstable();
                controls.dedup();
                push_row(
                    &mut out,
                    &[
                        o.id.clone(),
                        o.statement.clone(),
                        o.asset_id.clone(),
                        model
                            .asset(&o.asset_id)
                            .map(|x| x.name.clone())
                            .unwrap_or_default(),
                        o.attacker_id.clone(),
                        model
                            .attacker(&o.attacker_id)
                            .map(|x| x.name.clone())
                            .unwrap_or_default(),
                        format_properties(&o.properties),
                        o.risk_tier.to_string(),
                        a.is_some_and(|a| a.implemented).to_string(),
                        a.is_some_and(|a| a.verified).to_string(),
                        controls.join("; "),
                    ],
                );
            }
        }
        Table::Controls => {
            push_row(
                &mut out,
                &[
                    "control_id",
                    "name",
                    "description",
                    "status",
                    "verification",
                    "control_objectives",
                    "assets",
                    "attackers",
                    "framework_refs",
                    "implementation_notes",
                    "rationale",
                ]
                .map(String::from),
            );
            for c in &model.controls {
                let cos = model.objectives_of_control(&c.id);
                let mut assets: Vec<&str> = cos
                    .iter()
                    .filter_map(|o| model.asset(&o.asset_id).map(|a| a.name.as_str()))
                    .collect();
                assets.sort_unstable();
                assets.dedup();
                let mut attackers: Vec<&str> = cos
                    .iter()
                    .filter_map(|o| model.attacker(&o.attacker_id).map(|a| a.name.as_str()))
                    .collect();
                attackers.sort_unstable();
                attackers.dedup();
                push_row(
                    &mut out,
                    &[
                        c.id.clone(),
                        c.name.clone(),
                        c.description.clone(),
                        status(&c.status),
                        status(&verification.get(&c.id).copied().unwrap_or_default()),
                        cos.iter()
                            .map(|o| o.id.as_str())
                            .collect::<Vec<_>>()
                            .join("; "),
                        assets.join("; "),
                        attackers.join("; "),
                        c.framework_refs
                            .iter()
                            .map(|r| r.to_string())
                            .collect::<Vec<_>>()
                            .join("; "),
                        c.implementation_notes.clone(),
                        c.rationale.clone(),
                    ],
                );
            }
        }
        Table::Assertions => {
            push_row(
                &mut out,
                &[
                    "assertion_id",
                    "control_id",
                    "type",
                    "description",
                    "file",
                    "coherent",
                    "tier1_status",
                    "tier1_at",
                    "tier1_commit",
                    "tier2_status",
                    "tier2_at",
                    "tier2_commit",
                ]
                .map(String::from),
            );
            for c in assurance.map(|r| r.controls.as_slice()).unwrap_or_default() {
                for a in &c.assertions {
                    push_row(
                        &mut out,
                        &[
                            a.id.clone(),
                            c.id.clone(),
                            a.kind.clone(),
                            a.description.clone(),
                            a.file.clone().unwrap_or_default(),
                            a.coherent.to_string(),
                            a.tier1.status.clone(),
                            a.tier1.at.clone().unwrap_or_default(),
                            a.tier1.commit_sha.clone().unwrap_or_default(),
                            a.tier2.status.clone(),
                            a.tier2.at.clone().unwrap_or_default(),
                            a.tier2.commit_sha.clone().unwrap_or_default(),
                        ],
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4180_quoting_and_formula_neutralising() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-2+3"), "'-2+3");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\t=1"), "'\t=1");
        assert_eq!(field("=1,2"), "\"'=1,2\"");
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a=b"), "a=b");
    }
}
