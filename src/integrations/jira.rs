//! Jira: the REST calls rampart makes (API v2, the same on Data Center/Server and Cloud) and
//! what an export writes.
//!
//! | call | used for |
//! |---|---|
//! | `GET /rest/api/2/myself` | test connection: who the token belongs to |
//! | `GET /rest/api/2/project/{key}` | test connection and export: project and its issue types |
//! | `POST /rest/api/2/issue` | create the container issue and one issue per control |
//! | `PUT /rest/api/2/issue/{key}` | re-export: update summary, description, labels |
//! | `POST /rest/api/2/issueLink` | join a control issue to its container (non-sub-task types) |
//! | `GET /rest/api/2/search?jql=labels=…` | before re-creating after an ambiguous failure |
//! | `GET /rest/api/2/issue/{key}?fields=status` | reconcile job; Won't Do |
//! | `GET/POST /rest/api/2/issue/{key}/transitions` | move a dropped control's issue to "Won't Do" |
//! | `POST /rest/api/2/issue/{key}/comment` | explain why it was dropped |
//!
//! Descriptions are Jira wiki markup (API v2 takes it on both editions); model text is
//! escaped so it cannot open macros or links.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{CallError, Http, Site};
use crate::domain::{ThreatModel, format_properties};

/// Longest Jira summary.
const MAX_SUMMARY: usize = 250;

/// The account behind a token, as `GET /rest/api/2/myself` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Myself {
    /// Login name (Data Center) or account id (Cloud).
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Email, when visible.
    pub email: Option<String>,
}

/// A project and its issue types.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Project {
    /// Key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Issue types: (name, is sub-task).
    pub issue_types: Vec<(String, bool)>,
}

impl Project {
    /// Whether the project has an issue type (case-insensitive); `Some(subtask)` if so.
    pub fn issue_type(&self, name: &str) -> Option<bool> {
        self.issue_types
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, s)| *s)
    }
}

/// An issue's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueStatus {
    /// Status name ("Done").
    pub name: String,
    /// Status category key: `new`, `indeterminate` or `done`.
    pub category: String,
}

/// `GET /rest/api/2/myself`.
pub fn myself(http: &Http, site: &Site) -> Result<Myself, CallError> {
    let v = http.json(site, Method::GET, "/rest/api/2/myself", None)?;
    Ok(Myself {
        name: v["name"]
            .as_str()
            .or_else(|| v["accountId"].as_str())
            .unwrap_or_default()
            .to_string(),
        display_name: v["displayName"].as_str().unwrap_or_default().to_string(),
        email: v["emailAddress"].as_str().map(str::to_string),
    })
}

/// `GET /rest/api/2/project/{key}`.
pub fn project(http: &Http, site: &Site, key: &str) -> Result<Project, CallError> {
    let v = http.json(
        site,
        Method::GET,
        &format!("/rest/api/2/project/{}", enc(key)),
        None,
    )?;
    Ok(Project {
        key: v["key"].as_str().unwrap_or(key).to_string(),
        name: v["name"].as_str().unwrap_or_default().to_string(),
        issue_types: v["issueTypes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        Some((
                            t["name"].as_str()?.to_string(),
                            t["subtask"].as_bool().unwrap_or(false),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Creates an issue; returns (key, id).
pub fn create_issue(
    http: &Http,
    site: &Site,
    fields: Value,
) -> Result<(String, String), CallError> {
    let v = http.json(
        site,
        Method::POST,
        "/rest/api/2/issue",
        Some(&json!({ "fields": fields })),
    )?;
    let key = v["key"].as_str().unwrap_or_default().to_string();
    if key.is_empty() {
        return Err(CallError::Permanent {
            status: 200,
            message: format!(
                "{} answered the issue creation without an issue key",
                site.product
            ),
        });
    }
    Ok((key, v["id"].as_str().unwrap_or_default().to_string()))
}

/// Updates an issue's fields.
pub fn update_issue(http: &Http, site: &Site, key: &str, fields: Value) -> Result<(), CallError> {
    http.json(
        site,
        Method::PUT,
        &format!("/rest/api/2/issue/{}", enc(key)),
        Some(&json!({ "fields": fields })),
    )
    .map(|_| ())
}

/// Links two issues (`outward` relates to `inward`).
pub fn link_issues(
    http: &Http,
    site: &Site,
    link_type: &str,
    inward: &str,
    outward: &str,
) -> Result<(), CallError> {
    http.json(
        site,
        Method::POST,
        "/rest/api/2/issueLink",
        Some(&json!({
            "type": {"name": link_type},
            "inwardIssue": {"key": inward},
            "outwardIssue": {"key": outward},
        })),
    )
    .map(|_| ())
}

/// The first issue of the project carrying `label` (to find an issue whose creation may
/// have succeeded although the answer was lost).
pub fn find_by_label(
    http: &Http,
    site: &Site,
    project: &str,
    label: &str,
) -> Result<Option<(String, String)>, CallError> {
    let jql = format!("project = \"{project}\" AND labels = \"{label}\"");
    let path = format!(
        "/rest/api/2/search?jql={}&fields=summary&maxResults=1",
        enc(&jql)
    );
    let v = match http.json(site, Method::GET, &path, None) {
        Ok(v) => v,
        // Editions without the v2 search answer 404/410: behave as "not found".
        Err(CallError::Permanent {
            status: 404 | 410, ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(v["issues"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|i| {
            Some((
                i["key"].as_str()?.to_string(),
                i["id"].as_str().unwrap_or_default().to_string(),
            ))
        }))
}

/// An issue's current status.
pub fn status(http: &Http, site: &Site, key: &str) -> Result<IssueStatus, CallError> {
    let v = http.json(
        site,
        Method::GET,
        &format!("/rest/api/2/issue/{}?fields=status", enc(key)),
        None,
    )?;
    Ok(parse_status(&v["fields"]["status"]))
}

/// Reads `{name, statusCategory: {key}}`.
pub fn parse_status(s: &Value) -> IssueStatus {
    IssueStatus {
        name: s["name"].as_str().unwrap_or_default().to_string(),
        category: s["statusCategory"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Moves an issue through the transition named `wanted` (matching the transition's name or
/// its target status, case-insensitive). `Ok(false)` when the issue is already in that
/// status. The error names the transitions that are available.
pub fn transition(http: &Http, site: &Site, key: &str, wanted: &str) -> Result<bool, CallError> {
    let current = status(http, site, key)?;
    if current.name.eq_ignore_ascii_case(wanted) {
        return Ok(false);
    }
    let path = format!("/rest/api/2/issue/{}/transitions", enc(key));
    let v = http.json(site, Method::GET, &path, None)?;
    let list = v["transitions"].as_array().cloned().unwrap_or_default();
    let found = list.iter().find(|t| {
        t["name"]
            .as_str()
            .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            || t["to"]["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
    });
    let Some(t) = found else {
        let names: Vec<&str> = list.iter().filter_map(|t| t["name"].as_str()).collect();
        return Err(CallError::Permanent {
            status: 400,
            message: format!(
                "{key} has no transition {wanted:?} from status {:?} (available: {}); set wont_do_transition in Settings › Integrations or add the transition to the workflow",
                current.name,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        });
    };
    let id = t["id"].as_str().unwrap_or_default().to_string();
    http.json(
        site,
        Method::POST,
        &path,
        Some(&json!({"transition": {"id": id}})),
    )?;
    Ok(true)
}

/// A Jira issue a model is generated from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceIssue {
    /// Issue key as Jira spells it ("SEC-12").
    pub key: String,
    /// Key of the issue's project.
    pub project: String,
    /// Summary.
    pub summary: String,
    /// Description (wiki markup; empty when none).
    pub description: String,
    /// Labels.
    pub labels: Vec<String>,
}

impl SourceIssue {
    /// Reads `GET /rest/api/2/issue/{key}` (fields summary, description, labels, project).
    pub fn from_json(v: &Value) -> Option<Self> {
        let f = &v["fields"];
        let key = v["key"].as_str()?.to_string();
        Some(Self {
            project: f["project"]["key"]
                .as_str()
                .map(str::to_string)
                .or_else(|| key.split_once('-').map(|(p, _)| p.to_string()))
                .unwrap_or_default(),
            summary: f["summary"].as_str().unwrap_or_default().to_string(),
            description: f["description"].as_str().unwrap_or_default().to_string(),
            labels: f["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            key,
        })
    }

    /// The feature brief generation reads.
    pub fn brief(&self) -> String {
        super::brief::from_issue(&self.summary, &self.description, &self.labels)
    }
}

/// `GET /rest/api/2/issue/{key}`: the fields a brief is made of.
pub fn source_issue(http: &Http, site: &Site, key: &str) -> Result<SourceIssue, CallError> {
    let v = http.json(
        site,
        Method::GET,
        &format!(
            "/rest/api/2/issue/{}?fields=summary,description,labels,project",
            enc(key)
        ),
        None,
    )?;
    SourceIssue::from_json(&v).ok_or_else(|| CallError::Permanent {
        status: 200,
        message: format!("{} answered issue {key} without an issue key", site.product),
    })
}

/// Normalises a Jira issue key ("sec-12" → "SEC-12"); `None` when it is not one.
pub fn valid_issue_key(raw: &str) -> Option<String> {
    let key = raw.trim().to_ascii_uppercase();
    let (project, number) = key.split_once('-')?;
    let project_ok = !project.is_empty()
        && project.len() <= 50
        && project.starts_with(|c: char| c.is_ascii_alphabetic())
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    let number_ok = !number.is_empty()
        && number.len() <= 12
        && number.chars().all(|c| c.is_ascii_digit())
        && !number.starts_with('0');
    (project_ok && number_ok).then_some(key)
}

/// Adds a comment.
pub fn comment(http: &Http, site: &Site, key: &str, body: &str) -> Result<(), CallError> {
    http.json(
        site,
        Method::POST,
        &format!("/rest/api/2/issue/{}/comment", enc(key)),
        Some(&json!({ "body": body })),
    )
    .map(|_| ())
}

/// Browse URL of an issue.
pub fn browse_url(site: &Site, key: &str) -> String {
    format!("{}/browse/{key}", site.base_url)
}

/// Percent-encodes a path or query component.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes text for Jira wiki markup: characters that start macros, links, tables or
/// formatting are backslash-escaped, so model text is shown as written.
pub fn wiki_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '{' | '}' | '[' | ']' | '|' | '*' | '_' | '^' | '~' | '+' | '#' | '!' | '\\'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The label that identifies a model's issue for `control_id` ("" = the container).
pub fn label(model_id: &str, control_id: &str) -> String {
    let short: String = model_id.chars().filter(|c| *c != '-').take(12).collect();
    if control_id.is_empty() {
        format!("rampart-{short}")
    } else {
        format!("rampart-{short}-{}", control_id.to_ascii_lowercase())
    }
}

/// What an exported issue says: summary, description (wiki markup) and labels, with a hash
/// of them so unchanged issues are not updated.
#[derive(Debug, Clone)]
pub struct IssueContent {
    /// Summary.
    pub summary: String,
    /// Description.
    pub description: String,
    /// Labels.
    pub labels: Vec<String>,
}

impl IssueContent {
    /// Hash of everything written.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.summary.as_bytes());
        h.update([0]);
        h.update(self.description.as_bytes());
        h.update([0]);
        h.update(self.labels.join(",").as_bytes());
        hex::encode(h.finalize())
    }

    /// The fields of an update.
    pub fn fields(&self) -> Value {
        json!({"summary": self.summary, "description": self.description, "labels": self.labels})
    }
}

/// The container issue of a model.
pub fn container_content(model: &ThreatModel, model_url: &str) -> IssueContent {
    let mut d = String::new();
    d.push_str("h3. Threat model\n");
    d.push_str(&wiki_escape(&truncate(&model.feature_description, 4000)));
    d.push_str("\n\n");
    d.push_str(&format!(
        "{} assets, {} attackers, {} control objectives, {} controls. Each control is an issue linked to this one.\n\n",
        model.assets.len(),
        model.attackers.len(),
        model.control_objectives.len(),
        model.controls.len()
    ));
    d.push_str(&format!(
        "----\nManaged by rampart: [{}|{model_url}] (edits to this description are replaced on the next export).",
        wiki_escape(&truncate(&model.title, 200))
    ));
    IssueContent {
        summary: truncate(&format!("Threat model: {}", model.title), MAX_SUMMARY),
        description: d,
        labels: vec!["rampart".into(), label(&model.id, "")],
    }
}

/// A control's issue: summary, the objectives it serves, what to do, why, references and a
/// link back. `None` for an unknown control.
pub fn control_content(
    model: &ThreatModel,
    control_id: &str,
    model_url: &str,
) -> Option<IssueContent> {
    let c = model.control(control_id)?;
    let mut d = String::new();
    let cos = model.objectives_of_control(&c.id);
    if !cos.is_empty() {
        d.push_str("h3. Control objectives\n");
        for co in cos {
            let asset = model
                .asset(&co.asset_id)
                .map(|a| a.name.as_str())
                .unwrap_or("?");
            let attacker = model
                .attacker(&co.attacker_id)
                .map(|a| a.name.as_str())
                .unwrap_or("?");
            d.push_str(&format!(
                "* *{}* ({} risk): {} — protects {} of {} against {}\n",
                co.id,
                co.risk_tier,
                wiki_escape(&co.statement),
                format_properties(&co.properties),
                wiki_escape(asset),
                wiki_escape(attacker)
            ));
        }
        d.push('\n');
    }
    d.push_str("h3. What to do\n");
    d.push_str(&wiki_escape(&c.description));
    d.push_str("\n\n");
    if !c.rationale.trim().is_empty() {
        d.push_str("h3. Rationale\n");
        d.push_str(&wiki_escape(&c.rationale));
        d.push_str("\n\n");
    }
    if !c.framework_refs.is_empty() {
        d.push_str("h3. References\n");
        for r in &c.framework_refs {
            d.push_str(&format!("* {}\n", wiki_escape(&r.to_string())));
        }
        d.push('\n');
    }
    d.push_str(&format!(
        "----\nControl {} of the threat model [{}|{model_url}#control-{}] in rampart. Mark this issue done when the control is implemented; rampart then needs an assertion that CI can check. Edits to this description are replaced on the next export.",
        c.id,
        wiki_escape(&truncate(&model.title, 200)),
        c.id
    ));
    Some(IssueContent {
        summary: truncate(&format!("{} {}", c.id, c.name), MAX_SUMMARY),
        description: d,
        labels: vec!["rampart".into(), label(&model.id, &c.id)],
    })
}

/// The comment on a dropped control's issue.
pub fn dropped_comment(
    control_id: &str,
    name: &str,
    reason: &str,
    model_title: &str,
    model_url: &str,
) -> String {
    format!(
        "rampart dropped control {control_id} ({}) from the threat model [{}|{model_url}]: {}. This issue was moved to Won't Do; no work is needed for it any more.",
        wiki_escape(name),
        wiki_escape(model_title),
        wiki_escape(if reason.trim().is_empty() {
            "removed from the model"
        } else {
            reason
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_keys_are_checked() {
        assert_eq!(valid_issue_key(" sec-12 ").as_deref(), Some("SEC-12"));
        assert_eq!(valid_issue_key("AB_2-7").as_deref(), Some("AB_2-7"));
        for bad in [
            "",
            "SEC",
            "SEC-",
            "-12",
            "12-12",
            "SEC-012",
            "SEC-1a",
            "SEC 1",
            "SEC-1/../x",
        ] {
            assert_eq!(valid_issue_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn source_issues_are_read() {
        let v = json!({"key": "SEC-3", "fields": {
            "summary": "Saved cards", "description": "h1. Why\n*Cards* are stored.",
            "labels": ["payments"], "project": {"key": "SEC"}}});
        let i = SourceIssue::from_json(&v).expect("issue");
        assert_eq!(i.project, "SEC");
        assert_eq!(
            i.brief(),
            "Saved cards.\n\nWhy\nCards are stored.\n\nLabels: payments."
        );
        assert!(SourceIssue::from_json(&json!({"fields": {}})).is_none());
    }

    #[test]
    fn wiki_text_cannot_open_macros_or_links() {
        let e = wiki_escape("{html}<script>{html} [click|http://evil] *bold*");
        assert!(!e.contains("{html}"));
        assert!(e.contains("\\{html\\}"));
        assert!(e.contains("\\[click\\|http://evil\\]"));
    }

    #[test]
    fn labels_are_stable_and_jira_safe() {
        let l = label("0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b", "CTRL-07");
        assert_eq!(l, "rampart-0f1e2d3c4b5a-ctrl-07");
        assert!(!l.contains(' '));
        assert_eq!(label("0f1e2d3c-4b5a", ""), "rampart-0f1e2d3c4b5a");
    }

    #[test]
    fn path_components_are_encoded() {
        assert_eq!(enc("SEC-1"), "SEC-1");
        assert_eq!(enc("a b/\"c\""), "a%20b%2F%22c%22");
    }
}
