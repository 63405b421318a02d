//! Exports of a threat model for `export_threat_model`: CSV (one row per control, with its
//! control objectives, assets and attackers) and a self-contained HTML report. Both are
//! generated from the stored model and its computed verification status.

use std::fmt::Write as _;

use crate::domain::{ThreatModel, VerificationMap};

fn csv_field(s: &str) -> String {
    // Cells starting with a formula character are prefixed so spreadsheets show text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
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

fn status_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One CSV row per control.
pub fn csv(model: &ThreatModel, verification: &VerificationMap) -> String {
    let mut out = String::from(
        "control_id,name,description,status,verification,control_objectives,assets,attackers,implementation_notes\n",
    );
    for c in &model.controls {
        let cos = model.objectives_of_control(&c.id);
        let co_ids: Vec<&str> = cos.iter().map(|o| o.id.as_str()).collect();
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
        let row = [
            c.id.clone(),
            c.name.clone(),
            c.description.clone(),
            status_name(&c.status),
            status_name(&verification.get(&c.id).copied().unwrap_or_default()),
            co_ids.join("; "),
            assets.join("; "),
            attackers.join("; "),
            c.implementation_notes.clone(),
        ];
        let cells: Vec<String> = row.iter().map(|s| csv_field(s)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A self-contained HTML report: assets, attackers, control objectives and controls.
pub fn html(model: &ThreatModel, verification: &VerificationMap) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}</style></head><body>\
         <h1>{t}</h1><p>Version {v} · updated {u}</p><h2>Feature description</h2><p>{d}</p>",
        t = esc(&model.title),
        v = model.version,
        u = model.updated_at.to_rfc3339(),
        d = esc(&model.feature_description)
    );
    h.push_str("<h2>Assets</h2><table><tr><th>ID</th><th>Name</th><th>Description</th><th>Impact</th></tr>");
    for a in &model.assets {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.id),
            esc(&a.name),
            esc(&a.description),
            esc(&status_name(&a.impact))
        );
    }
    h.push_str("</table><h2>Attackers</h2><table><tr><th>ID</th><th>Name</th><th>Description</th><th>Capability</th></tr>");
    for a in &model.attackers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.id),
            esc(&a.name),
            esc(&a.description),
            esc(&a.capability)
        );
    }
    h.push_str("</table><h2>Control objectives</h2><table><tr><th>ID</th><th>Statement</th><th>Asset</th><th>Attacker</th><th>Risk</th></tr>");
    for o in &model.control_objectives {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&o.id),
            esc(&o.statement),
            esc(&o.asset_id),
            esc(&o.attacker_id),
            esc(&status_name(&o.risk_tier))
        );
    }
    h.push_str("</table><h2>Controls</h2><table><tr><th>ID</th><th>Name</th><th>Description</th><th>Status</th><th>Verification</th><th>Objectives</th></tr>");
    for c in &model.controls {
        let cos: Vec<String> = model
            .objectives_of_control(&c.id)
            .iter()
            .map(|o| o.id.clone())
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.name),
            esc(&c.description),
            esc(&status_name(&c.status)),
            esc(&status_name(
                &verification.get(&c.id).copied().unwrap_or_default()
            )),
            esc(&cos.join(", "))
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_neutralises_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn html_escapes() {
        assert_eq!(esc("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
    }
}
