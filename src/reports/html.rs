//! HTML rendering of a report [`Doc`]: one self-contained file (inline CSS, inline SVG, no
//! scripts, no remote assets) that prints cleanly (A4, table headers repeat on each page,
//! headings never end a page).

use std::fmt::Write as _;

use super::doc::{Block, Doc};
use crate::web::pages::models::diagram::esc;

const CSS: &str = "\
@page{size:A4;margin:18mm 16mm}\
*{box-sizing:border-box}\
body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;font-size:10.5pt;line-height:1.4;color:#0f172a;margin:0 auto;max-width:1100px;padding:24px}\
header.cover{border-bottom:2px solid #1d4ed8;margin-bottom:18px;padding-bottom:10px}\
header.cover h1{font-size:22pt;margin:0 0 2px}\
header.cover p.sub{font-size:13pt;color:#1d4ed8;margin:0 0 10px}\
h2{font-size:15pt;border-bottom:1px solid #cbd5e1;padding-bottom:3px;margin:26px 0 8px;break-after:avoid}\
h3{font-size:12pt;margin:18px 0 6px;break-after:avoid}\
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:6px 0 10px}\
dl.facts dt{color:#475569}dl.facts dd{margin:0;overflow-wrap:anywhere}\
nav.toc ol{margin:4px 0;padding-left:20px}nav.toc li.sub{margin-left:16px;list-style:circle}\
nav.toc a{color:#1d4ed8;text-decoration:none}\
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:9pt}\
th,td{border:1px solid #cbd5e1;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#eff6ff}thead{display:table-header-group}tr{break-inside:avoid}\
td.mono,pre,code{font-family:'Liberation Mono','DejaVu Sans Mono',monospace;font-size:8.5pt}\
td{white-space:pre-line}\
p.note{color:#475569;font-size:9pt}\
pre{background:#f8fafc;border:1px solid #cbd5e1;padding:8px;white-space:pre-wrap;overflow-wrap:anywhere}\
figure{margin:8px 0 14px}svg{max-width:100%;height:auto}\
footer{margin-top:28px;color:#64748b;font-size:8.5pt;border-top:1px solid #cbd5e1;padding-top:6px}\
@media print{body{padding:0;max-width:none}a{color:inherit}nav.toc{break-after:page}}";

/// Renders the document.
pub fn render(doc: &Doc) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("{} — {}", doc.title, doc.subtitle);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"generator\" content=\"rampart {}\"><title>{}</title><style>{CSS}</style></head><body>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&title)
    );
    let _ = writeln!(
        h,
        "<header class=\"cover\"><h1>{}</h1><p class=\"sub\">{}</p>{}</header>",
        esc(&doc.title),
        esc(&doc.subtitle),
        facts(&doc.cover)
    );
    h.push_str("<nav class=\"toc\" aria-label=\"Contents\"><h2>Contents</h2><ol>");
    for (level, text, anchor) in doc.toc() {
        let _ = write!(
            h,
            "<li{}><a href=\"#{}\">{}</a></li>",
            if level > 1 { " class=\"sub\"" } else { "" },
            esc(anchor),
            esc(text)
        );
    }
    h.push_str("</ol></nav>\n<main>\n");
    for b in &doc.blocks {
        match b {
            Block::Heading {
                level,
                text,
                anchor,
            } => {
                let tag = if *level <= 1 { "h2" } else { "h3" };
                let _ = writeln!(h, "<{tag} id=\"{}\">{}</{tag}>", esc(anchor), esc(text));
            }
            Block::Para(t) => {
                let _ = writeln!(h, "<p>{}</p>", esc(t));
            }
            Block::Note(t) => {
                let _ = writeln!(h, "<p class=\"note\">{}</p>", esc(t));
            }
            Block::Facts(f) => {
                h.push_str(&facts(f));
                h.push('\n');
            }
            Block::Code(t) => {
                let _ = writeln!(h, "<pre>{}</pre>", esc_pre(t));
            }
            Block::Diagram(d) => {
                let _ = writeln!(
                    h,
                    "<figure>{}<figcaption class=\"note\">{}</figcaption></figure>",
                    d.to_svg(),
                    esc(&d.summary)
                );
            }
            Block::Table { columns, rows } => {
                let total: f32 = columns.iter().map(|c| c.weight).sum::<f32>().max(0.01);
                h.push_str("<table><colgroup>");
                for c in columns {
                    let _ = write!(h, "<col width=\"{:.0}%\">", c.weight / total * 100.0);
                }
                h.push_str("</colgroup><thead><tr>");
                for c in columns {
                    let _ = write!(h, "<th scope=\"col\">{}</th>", esc(&c.title));
                }
                h.push_str("</tr></thead><tbody>");
                for r in rows {
                    h.push_str("<tr>");
                    for c in r {
                        let _ = write!(
                            h,
                            "<td{}>{}</td>",
                            if c.mono { " class=\"mono\"" } else { "" },
                            esc_pre(&c.text)
                        );
                    }
                    h.push_str("</tr>");
                }
                h.push_str("</tbody></table>\n");
            }
        }
    }
    let _ = writeln!(
        h,
        "</main><footer>{} · produced by rampart {}</footer></body></html>",
        esc(&title),
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn facts(f: &[(String, String)]) -> String {
    let mut h = String::from("<dl class=\"facts\">");
    for (k, v) in f {
        let _ = write!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
    }
    h.push_str("</dl>");
    h
}

/// Escapes preformatted text, keeping line breaks (diagram `esc` turns controls into spaces).
fn esc_pre(s: &str) -> String {
    s.split('\n').map(esc).collect::<Vec<_>>().join("\n")
}
