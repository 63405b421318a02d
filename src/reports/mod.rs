//! Reports and exports of a threat model (issue 17): the threat-model report and the
//! audit-ready assurance report as PDF or HTML, CSV tables, the JSON document, and SARIF
//! for code-scanning tools. REST (`GET /api/models/{id}/export`), MCP
//! (`export_threat_model`) and the export buttons of the web pages all call
//! [`ExportService::export`], so the three give the same bytes for the same data.
//!
//! Exports are reads: viewers may export. Data comes only through the caller's tenant
//! database (`caller.tenant`). Every export writes an activity event in the workspace and an
//! audit-log entry (who, what, which format) in the platform database.

pub mod content;
pub mod csv;
pub mod doc;
pub mod html;
pub mod pdf;
pub mod sarif;

use std::sync::Arc;

use serde_json::json;

use crate::assurance::AssuranceService;
use crate::auth::{AuthService, Caller};
use crate::models::{self, Source};
use crate::store::{self, Db};

pub use content::{ComplianceCoverage, FrameworkCoverage};

/// What can go wrong in an export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown model (or another workspace's).
    #[error("{0} not found")]
    NotFound(String),
    /// A bad parameter, naming it.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Rendering failed (a bug, logged; the client gets a generic message).
    #[error("rendering the export failed: {0}")]
    Render(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

impl From<models::Error> for Error {
    fn from(e: models::Error) -> Self {
        match e {
            models::Error::NotFound(w) => Error::NotFound(w),
            models::Error::Store(s) => Error::Store(s),
            other => Error::Render(other.to_string()),
        }
    }
}

impl From<crate::assurance::Error> for Error {
    fn from(e: crate::assurance::Error) -> Self {
        match e {
            crate::assurance::Error::NotFound(w) => Error::NotFound(w),
            crate::assurance::Error::Store(s) => Error::Store(s),
            other => Error::Render(other.to_string()),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PDF document.
    Pdf,
    /// Self-contained HTML document.
    Html,
    /// One CSV table.
    Csv,
    /// JSON document with a schema version.
    Json,
    /// SARIF 2.1.0 log.
    Sarif,
}

impl Format {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Sarif => "sarif",
        }
    }

    /// Media type of the bytes.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Html => "text/html; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Json => "application/json",
            Format::Sarif => "application/sarif+json",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Sarif => "sarif",
            other => other.as_str(),
        }
    }
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// The model for review: diagram, assets, attackers, objectives, controls.
    ThreatModel,
    /// The evidence for auditors: verification, runs, signatures.
    Assurance,
}

impl ReportKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::ThreatModel => "threat-model",
            ReportKind::Assurance => "assurance",
        }
    }
}

/// A CSV table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Assets.
    Assets,
    /// Attackers.
    Attackers,
    /// Control objectives.
    Objectives,
    /// Controls (the default).
    Controls,
    /// Assertions with their results.
    Assertions,
}

impl Table {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Assets => "assets",
            Table::Attackers => "attackers",
            Table::Objectives => "objectives",
            Table::Controls => "controls",
            Table::Assertions => "assertions",
        }
    }
}

/// A validated export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportRequest {
    /// Format.
    pub format: Format,
    /// Report (PDF, HTML and JSON differ by report; CSV and SARIF do not).
    pub report: ReportKind,
    /// CSV table (`None` for other formats).
    pub table: Option<Table>,
}

impl ExportRequest {
    /// Parses the query parameters (`format` required; `report` defaults to threat-model;
    /// `table` only with csv, default controls). Unknown values are refused by name.
    pub fn parse(format: Option<&str>, report: Option<&str>, table: Option<&str>) -> Result<Self> {
        let norm = |s: &str| s.trim().to_ascii_lowercase();
        let format = match format.map(norm).as_deref() {
            None | Some("") => {
                return Err(invalid(
                    "format",
                    "is required: one of pdf, html, csv, json, sarif",
                ));
            }
            Some("pdf") => Format::Pdf,
            Some("html") => Format::Html,
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            Some("sarif") => Format::Sarif,
            Some(other) => {
                return Err(invalid(
                    "format",
                    format!("unknown format {other:?}; use pdf, html, csv, json or sarif"),
                ));
            }
        };
        let report = match report.map(norm).as_deref() {
            None | Some("") | Some("threat-model") | Some("threat_model") => {
                ReportKind::ThreatModel
            }
            Some("assurance") => ReportKind::Assurance,
            Some(other) => {
                return Err(invalid(
                    "report",
                    format!("unknown report {other:?}; use threat-model or assurance"),
                ));
            }
        };
        let table = match (format, table.map(norm).as_deref()) {
            (Format::Csv, None | Some("")) => Some(Table::Controls),
            (Format::Csv, Some(t)) => Some(match t {
                "assets" => Table::Assets,
                "attackers" => Table::Attackers,
                "objectives" => Table::Objectives,
                "controls" => Table::Controls,
                "assertions" => Table::Assertions,
                other => {
                    return Err(invalid(
                        "table",
                        format!(
                            "unknown table {other:?}; use assets, attackers, objectives, controls or assertions"
                        ),
                    ));
                }
            }),
            (_, None | Some("")) => None,
            (_, Some(_)) => return Err(invalid("table", "applies to format=csv only")),
        };
        Ok(Self {
            format,
            report,
            table,
        })
    }
}

/// A finished export.
#[derive(Debug, Clone)]
pub struct Export {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: &'static str,
    /// Suggested file name (model title, what, date).
    pub filename: String,
    /// What was exported.
    pub request: ExportRequest,
    /// The model.
    pub model_id: String,
}

/// `threat-model-shop-api` style: lowercase ASCII letters and digits joined by `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 60 {
            break;
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "model".into() } else { out }
}

/// The file name of an export: `<title>-<report or table>-<YYYY-MM-DD>.<ext>`.
pub fn filename(title: &str, req: &ExportRequest, day: chrono::NaiveDate) -> String {
    let what = match (req.format, req.table) {
        (Format::Csv, Some(t)) => t.as_str(),
        (Format::Sarif, _) => "findings",
        _ => req.report.as_str(),
    };
    format!(
        "{}-{what}-{}.{}",
        slug(title),
        day.format("%Y-%m-%d"),
        req.format.extension()
    )
}

/// Renders a threat-model export from gathered data (pure; used by the service and the
/// benchmark).
pub fn render_threat_model(
    report: &content::ThreatModelReport,
    assurance: Option<&content::AssuranceReport>,
    req: &ExportRequest,
    info_uri: &str,
) -> Result<Vec<u8>> {
    Ok(match req.format {
        Format::Pdf => pdf::render(&report.to_doc()).map_err(Error::Render)?,
        Format::Html => html::render(&report.to_doc()).into_bytes(),
        Format::Csv => csv::render(
            req.table.unwrap_or(Table::Controls),
            &report.model,
            &report.verification,
            assurance,
        )
        .into_bytes(),
        Format::Json => json_bytes(&json!({
            "schema": "rampart.threat-model",
            "schema_version": content::SCHEMA_VERSION,
            "produced_at": report.produced.at,
            "produced_by": {"name": report.produced.name, "email": report.produced.email},
            "model": report.model,
            "verification": report.verification,
        }))?,
        Format::Sarif => match assurance {
            Some(a) => json_bytes(&sarif::render(&report.model, a, info_uri))?,
            None => return Err(Error::Render("SARIF needs the assurance data".into())),
        },
    })
}

/// Renders an assurance export from gathered data (pure).
pub fn render_assurance(report: &content::AssuranceReport, format: Format) -> Result<Vec<u8>> {
    Ok(match format {
        Format::Pdf => pdf::render(&report.to_doc()).map_err(Error::Render)?,
        Format::Html => html::render(&report.to_doc()).into_bytes(),
        Format::Json => {
            let mut v = serde_json::to_value(report).map_err(|e| Error::Render(e.to_string()))?;
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("schema".into(), json!("rampart.assurance-report"));
                m.insert("schema_version".into(), json!(content::SCHEMA_VERSION));
            }
            json_bytes(&v)?
        }
        Format::Csv | Format::Sarif => {
            return Err(Error::Render(
                "CSV and SARIF are rendered from the model".into(),
            ));
        }
    })
}

fn json_bytes(v: &serde_json::Value) -> Result<Vec<u8>> {
    let mut b = serde_json::to_vec_pretty(v).map_err(|e| Error::Render(e.to_string()))?;
    b.push(b'\n');
    Ok(b)
}

/// The export service.
#[derive(Clone)]
pub struct ExportService {
    assurance: AssuranceService,
    platform: Db,
    public_url: String,
    coverage: Option<Arc<dyn ComplianceCoverage>>,
}

impl ExportService {
    /// Builds the service: assurance data through `assurance`, audit entries into the
    /// platform database `platform`; `public_url` is the SARIF tool's information URI.
    pub fn new(assurance: AssuranceService, platform: Db, public_url: &str) -> Self {
        Self {
            assurance,
            platform,
            public_url: public_url.trim_end_matches('/').to_string(),
            coverage: None,
        }
    }

    /// Adds the compliance framework coverage section to assurance reports.
    pub fn with_compliance(mut self, coverage: Arc<dyn ComplianceCoverage>) -> Self {
        self.coverage = Some(coverage);
        self
    }

    /// Exports a model for `caller` (a read: every workspace role may export) and records
    /// the export in the activity feed and the audit log.
    pub fn export(
        &self,
        caller: &Caller,
        model_id: &str,
        req: ExportRequest,
        source: Source,
    ) -> Result<Export> {
        let now = chrono::Utc::now();
        let produced = content::Producer::new(caller, now);
        let info_uri = if self.public_url.is_empty() {
            "https://example.invalid/rampart".to_string()
        } else {
            self.public_url.clone()
        };
        let (title, bytes) = match (req.report, req.format) {
            (ReportKind::Assurance, Format::Pdf | Format::Html | Format::Json) => {
                let r = content::assurance(
                    &self.assurance,
                    self.coverage.as_deref(),
                    caller,
                    model_id,
                    produced,
                )?;
                (r.title.clone(), render_assurance(&r, req.format)?)
            }
            _ => {
                let tm = content::threat_model(caller, model_id, produced.clone())?;
                let needs_assurance = req.format == Format::Sarif
                    || (req.format == Format::Csv && req.table == Some(Table::Assertions));
                let a = if needs_assurance {
                    Some(content::assurance(
                        &self.assurance,
                        None,
                        caller,
                        model_id,
                        produced,
                    )?)
                } else {
                    None
                };
                (
                    tm.model.title.clone(),
                    render_threat_model(&tm, a.as_ref(), &req, &info_uri)?,
                )
            }
        };
        let what = match req.table {
            Some(t) => format!("{} table", t.as_str()),
            None if req.format == Format::Sarif => "SARIF findings".to_string(),
            None => format!("{} report", req.report.as_str()),
        };
        let summary = format!(
            "exported the {what} of \"{title}\" as {}",
            req.format.as_str()
        );
        {
            let conn = caller.tenant.conn()?;
            models::record_activity(
                &conn,
                &caller.workspace_id,
                Some(model_id),
                "export",
                &summary,
                source,
                Some(&caller.user_id),
            )?;
        }
        AuthService::audit(
            &*self.platform.conn()?,
            Some(&caller.user_id),
            "model.export",
            model_id,
            &format!(
                "workspace={} format={} report={} table={} bytes={} via={}",
                caller.workspace_id,
                req.format.as_str(),
                req.report.as_str(),
                req.table.map(Table::as_str).unwrap_or("-"),
                bytes.len(),
                source.as_str()
            ),
        );
        Ok(Export {
            filename: filename(&title, &req, now.date_naive()),
            media_type: req.format.media_type(),
            bytes,
            request: req,
            model_id: model_id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_refuse_by_name() {
        let r = ExportRequest::parse(Some("CSV"), None, None).expect("csv");
        assert_eq!(r.table, Some(Table::Controls));
        assert_eq!(r.report, ReportKind::ThreatModel);
        let r = ExportRequest::parse(Some("pdf"), Some("assurance"), None).expect("pdf");
        assert_eq!(
            (r.format, r.report, r.table),
            (Format::Pdf, ReportKind::Assurance, None)
        );
        for (f, rep, t, field) in [
            (None, None, None, "format"),
            (Some("docx"), None, None, "format"),
            (Some("pdf"), Some("audit"), None, "report"),
            (Some("csv"), None, Some("users"), "table"),
            (Some("pdf"), None, Some("assets"), "table"),
        ] {
            match ExportRequest::parse(f, rep, t) {
                Err(Error::Invalid { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{f:?} {rep:?} {t:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn filenames_name_model_what_and_day() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 4).expect("day");
        let req = ExportRequest::parse(Some("csv"), None, Some("assets")).expect("req");
        assert_eq!(
            filename("Shop API <beta> \"x\"", &req, day),
            "shop-api-beta-x-assets-2026-03-04.csv"
        );
        let req = ExportRequest::parse(Some("pdf"), Some("assurance"), None).expect("req");
        assert_eq!(
            filename("../../", &req, day),
            "model-assurance-2026-03-04.pdf"
        );
        let req = ExportRequest::parse(Some("sarif"), None, None).expect("req");
        assert_eq!(filename("A", &req, day), "a-findings-2026-03-04.sarif");
    }
}
