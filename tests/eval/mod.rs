//! tm_eval: the threat-model evaluation we steer the offline engine by (issue 19).
//!
//! `tests/eval/briefs/*.toml` hold feature briefs of 130–170 words written for this
//! evaluation (domains other than the held-out set's), each with the reference lists of
//! assets, attackers and controls an expert would write. Every brief belongs to one half:
//! `tune` (the engine may be improved by looking at its misses) or `holdout` (never looked
//! at in detail while tuning; only its summary figures are printed by default). Both halves
//! are reported so over-fitting shows as a gap between them.
//!
//! Metrics, the issue's (macro averages over briefs):
//! - `asset_recall`, `attacker_recall`, `control_recall`: share of reference items that some
//!   generated item of the same kind matches.
//! - `precision`: share of generated assets and attackers that match a reference item of
//!   their kind.
//! - `generic_dup`: share of generated assets that are generic catalog items (a web
//!   application, a REST API, user accounts, stored credentials…) either standing for
//!   nothing the expert listed or doubling a reference item a specific generated asset
//!   already covers.
//!
//! Matching: a reference item lists phrases; a generated item matches when every word of
//! one phrase occurs among the words of its name (any order; case and plural `s` ignored;
//! a word ending in `*` is a prefix). Names only — descriptions are catalog text and would
//! make anything match.
//!
//! The report (`tm_eval: …` summary line, per-half lines, per-brief lines and, for the tune
//! half, misses and unmatched items) is printed and written to `target/tm-eval.txt`, which
//! CI prints; `TM_EVAL_DETAIL=all` also details the holdout half. It is a report, not a
//! gate: the test fails only if the evaluation cannot run.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Which half of the evaluation a brief belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Half {
    /// Used to steer the engine.
    Tune,
    /// Held back: only summary figures while tuning.
    Holdout,
}

/// One reference item: a readable name and the phrases that count as naming it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefItem {
    /// What the expert wrote.
    pub name: String,
    /// Alternative phrasings (see the module documentation).
    #[serde(rename = "match")]
    pub phrases: Vec<String>,
}

/// One brief with its reference lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brief {
    /// File stem, filled in after loading.
    #[serde(skip)]
    pub id: String,
    /// Business domain.
    pub domain: String,
    /// Tune or holdout.
    pub half: Half,
    /// The feature description given to the engine.
    pub brief: String,
    /// Reference assets.
    pub assets: Vec<RefItem>,
    /// Reference attackers.
    pub attackers: Vec<RefItem>,
    /// Reference controls.
    pub controls: Vec<RefItem>,
}

impl Brief {
    /// The description as a user would type it: the file's hard-wrapped lines joined.
    pub fn text(&self) -> String {
        self.brief.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Names of what an engine produced for one brief.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// Asset names.
    pub assets: Vec<String>,
    /// Attacker names.
    pub attackers: Vec<String>,
    /// Control names.
    pub controls: Vec<String>,
}

/// Catalog assets that stand for a kind of thing rather than this system's thing. They are
/// fine when the expert lists that component; they are noise when they stand for nothing
/// listed or repeat what a specific asset already covers.
pub const GENERIC_ASSETS: &[&str] = &[
    "Web application",
    "REST API",
    "User accounts",
    "Stored credentials",
    "Relational database",
    "Internal microservices",
    "Personal data (PII)",
    "API keys",
    "Roles and permissions",
    "Third-party API integration",
    "Uploaded files",
    "Outbound email",
    "User sessions",
    "Reports and data exports",
    "Configuration and feature flags",
    "Feature data and functionality",
];

/// Scores of one brief (or an average).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    /// Reference assets found.
    pub asset_recall: f64,
    /// Reference attackers found.
    pub attacker_recall: f64,
    /// Reference controls found.
    pub control_recall: f64,
    /// Generated assets and attackers that match a reference item.
    pub precision: f64,
    /// Generated assets that are generic duplicates or generic noise.
    pub generic_dup: f64,
}

impl Scores {
    /// Macro average.
    pub fn mean(all: &[Scores]) -> Scores {
        let n = all.len().max(1) as f64;
        let sum = |f: fn(&Scores) -> f64| all.iter().map(f).sum::<f64>() / n;
        Scores {
            asset_recall: sum(|s| s.asset_recall),
            attacker_recall: sum(|s| s.attacker_recall),
            control_recall: sum(|s| s.control_recall),
            precision: sum(|s| s.precision),
            generic_dup: sum(|s| s.generic_dup),
        }
    }

    /// The issue's summary format.
    pub fn line(&self) -> String {
        format!(
            "asset_recall={:.2} attacker_recall={:.2} control_recall={:.2} precision={:.2} generic_dup={:.2}",
            self.asset_recall,
            self.attacker_recall,
            self.control_recall,
            self.precision,
            self.generic_dup
        )
    }

    /// The issue's goals.
    pub fn meets_goals(&self) -> bool {
        self.asset_recall >= 0.85
            && self.attacker_recall >= 0.9
            && self.control_recall >= 0.9
            && self.precision >= 0.75
            && self.generic_dup <= 0.10
    }
}

/// A scored brief with what explains the figures.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// The figures.
    pub scores: Scores,
    /// Reference items no generated item matched, per kind ("asset: …").
    pub missed: Vec<String>,
    /// Generated assets/attackers matching no reference item.
    pub unmatched: Vec<String>,
    /// Generated assets counted as generic duplicates.
    pub generic: Vec<String>,
}

fn singular(w: &str) -> String {
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    // "addresses", "passes", "taxes": the "-es" plural of a word ending in "ss" or "x".
    if n > 5 && (w.ends_with("sses") || w.ends_with("xes")) {
        return w[..w.len() - 2].to_string();
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// Words of a name: lower case, split at anything not a letter or digit, plural `s` dropped.
pub fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| singular(&w.to_lowercase()))
        .collect()
}

/// One word of a reference phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PhraseWord {
    Exact(String),
    Prefix(String),
}

fn phrase_words(phrase: &str) -> Vec<PhraseWord> {
    phrase
        .split(|c: char| !c.is_alphanumeric() && c != '*')
        .filter(|w| !w.is_empty() && *w != "*")
        .map(|w| match w.strip_suffix('*') {
            Some(p) => PhraseWord::Prefix(p.to_lowercase()),
            None => PhraseWord::Exact(singular(&w.to_lowercase())),
        })
        .collect()
}

/// True when `name` names the reference item (see the module documentation).
pub fn matches(name: &str, item: &RefItem) -> bool {
    let have = words(name);
    item.phrases.iter().any(|p| {
        let want = phrase_words(p);
        !want.is_empty()
            && want.iter().all(|w| match w {
                PhraseWord::Exact(e) => have.iter().any(|h| h == e),
                PhraseWord::Prefix(pre) => have.iter().any(|h| h.starts_with(pre.as_str())),
            })
    })
}

fn is_generic(name: &str) -> bool {
    GENERIC_ASSETS.iter().any(|g| g.eq_ignore_ascii_case(name))
}

fn recall(refs: &[RefItem], names: &[String], kind: &str, missed: &mut Vec<String>) -> f64 {
    if refs.is_empty() {
        return 1.0;
    }
    let mut found = 0usize;
    for r in refs {
        if names.iter().any(|n| matches(n, r)) {
            found += 1;
        } else {
            missed.push(format!("{kind}: {}", r.name));
        }
    }
    found as f64 / refs.len() as f64
}

/// Scores one engine output against a brief's references.
pub fn score(brief: &Brief, out: &Output) -> Scored {
    let mut s = Scored::default();
    s.scores.asset_recall = recall(&brief.assets, &out.assets, "asset", &mut s.missed);
    s.scores.attacker_recall = recall(&brief.attackers, &out.attackers, "attacker", &mut s.missed);
    s.scores.control_recall = recall(&brief.controls, &out.controls, "control", &mut s.missed);

    let mut generated = 0usize;
    let mut matched = 0usize;
    for (names, refs) in [
        (&out.assets, &brief.assets),
        (&out.attackers, &brief.attackers),
    ] {
        for n in names {
            generated += 1;
            if refs.iter().any(|r| matches(n, r)) {
                matched += 1;
            } else {
                s.unmatched.push(n.clone());
            }
        }
    }
    s.scores.precision = if generated == 0 {
        0.0
    } else {
        matched as f64 / generated as f64
    };

    // Generic duplicates: a generic asset matching nothing, or matching only reference
    // items that a non-generic generated asset also matches.
    let mut dups = 0usize;
    for n in out.assets.iter().filter(|n| is_generic(n)) {
        let refs: Vec<&RefItem> = brief.assets.iter().filter(|r| matches(n, r)).collect();
        let covered = refs.iter().all(|r| {
            out.assets
                .iter()
                .any(|o| o != n && !is_generic(o) && matches(o, r))
        });
        if refs.is_empty() || covered {
            dups += 1;
            s.generic.push(n.clone());
        }
    }
    s.scores.generic_dup = if out.assets.is_empty() {
        0.0
    } else {
        dups as f64 / out.assets.len() as f64
    };
    s
}

/// The briefs directory.
pub fn briefs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eval/briefs")
}

/// Loads every brief, in file-name order.
pub fn load_briefs() -> Result<Vec<Brief>, String> {
    let dir = briefs_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let mut b: Brief = toml::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        b.id = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(b);
    }
    Ok(out)
}

/// Runs the built-in engine's full pipeline on a brief.
pub fn run_builtin(
    engine: &rampart::engine::BuiltinEngine,
    brief: &Brief,
) -> Result<Output, String> {
    let mut ignore = |_| {};
    let g = rampart::engine::generate_model(
        engine,
        "eval",
        &brief.text(),
        chrono::Utc::now(),
        &mut ignore,
    )
    .map_err(|e| format!("{}: {e}", brief.id))?;
    Ok(Output {
        assets: g.model.assets.iter().map(|a| a.name.clone()).collect(),
        attackers: g.model.attackers.iter().map(|a| a.name.clone()).collect(),
        controls: g.model.controls.iter().map(|c| c.name.clone()).collect(),
    })
}

/// Scores every brief with `run` and renders the report.
pub fn report(
    briefs: &[Brief],
    mut run: impl FnMut(&Brief) -> Result<Output, String>,
    detail_all: bool,
) -> Result<(Scores, String), String> {
    let mut text = String::new();
    let mut rows: Vec<(Half, Scores)> = Vec::new();
    let mut details = String::new();
    for b in briefs {
        let out = run(b)?;
        let s = score(b, &out);
        rows.push((b.half, s.scores));
        let half = match b.half {
            Half::Tune => "tune",
            Half::Holdout => "holdout",
        };
        let _ = writeln!(
            details,
            "  {:<28} {:<7} {}  (assets {}, attackers {}, controls {})",
            b.id,
            half,
            s.scores.line(),
            out.assets.len(),
            out.attackers.len(),
            out.controls.len()
        );
        if b.half == Half::Tune || detail_all {
            for m in &s.missed {
                let _ = writeln!(details, "      missed    {m}");
            }
            for u in &s.unmatched {
                let _ = writeln!(details, "      unmatched {u}");
            }
            for g in &s.generic {
                let _ = writeln!(details, "      generic   {g}");
            }
        }
    }
    let all: Vec<Scores> = rows.iter().map(|(_, s)| *s).collect();
    let pick = |h: Half| -> Vec<Scores> {
        rows.iter()
            .filter(|(x, _)| *x == h)
            .map(|(_, s)| *s)
            .collect()
    };
    let total = Scores::mean(&all);
    let tune = Scores::mean(&pick(Half::Tune));
    let holdout = Scores::mean(&pick(Half::Holdout));
    let _ = writeln!(text, "tm_eval: {}", total.line());
    let _ = writeln!(
        text,
        "tm_eval[tune, {} briefs]: {}",
        pick(Half::Tune).len(),
        tune.line()
    );
    let _ = writeln!(
        text,
        "tm_eval[holdout, {} briefs]: {}",
        pick(Half::Holdout).len(),
        holdout.line()
    );
    let _ = writeln!(
        text,
        "goals (asset_recall>=0.85 attacker_recall>=0.9 control_recall>=0.9 precision>=0.75 generic_dup<=0.10): all={} tune={} holdout={}",
        total.meets_goals(),
        tune.meets_goals(),
        holdout.meets_goals()
    );
    text.push_str("per brief:\n");
    text.push_str(&details);
    Ok((total, text))
}

fn item(name: &str, phrases: &[&str]) -> RefItem {
    RefItem {
        name: name.into(),
        phrases: phrases.iter().map(|p| p.to_string()).collect(),
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn scorer_matches_words_plurals_and_prefixes() {
    let r = item("Payout secret", &["payout secret", "payout key"]);
    assert!(matches("Payouts provider API secret", &r));
    assert!(matches("API key of the payouts provider", &r));
    assert!(!matches("Payouts", &r), "every word of a phrase is needed");
    assert!(!matches("Stored credentials", &r));
    let p = item("Policies", &["access polic*"]);
    assert!(matches("Access policies", &p));
    assert!(matches("Access policy engine", &p));
    assert!(!matches("Access logs", &p));
    let e = item("Loads", &["load record"]);
    assert!(
        !matches("Upload records", &e),
        "whole words, not substrings"
    );
    assert!(matches("Load Records", &e));
    assert_eq!(
        words("Carriers' bank-accounts"),
        ["carrier", "bank", "account"]
    );
    assert_eq!(words("Policies"), ["policy"]);
    assert_eq!(words("Delivery addresses"), ["delivery", "address"]);
}

#[test]
fn scorer_computes_the_issue_metrics_on_a_fixture() {
    let brief = Brief {
        id: "fixture".into(),
        domain: "test".into(),
        half: Half::Tune,
        brief: String::new(),
        assets: vec![
            item("Orders", &["order"]),
            item("Stripe signing secret", &["signing secret"]),
            item("Refund capability", &["refund"]),
            item("Postgres", &["postgres", "database"]),
        ],
        attackers: vec![
            item("Support agent", &["support agent", "insider"]),
            item("Fraudster", &["fraud*"]),
        ],
        controls: vec![
            item("Webhook signatures", &["webhook signature"]),
            item("Audit", &["audit"]),
        ],
    };
    let out = Output {
        assets: names(&[
            "Customer orders",
            "Stripe webhook signing secret",
            "Stored credentials",
            "PostgreSQL database",
            "Relational database",
            "Web application",
        ]),
        attackers: names(&["Malicious insider", "Payment fraudster", "Nation state"]),
        controls: names(&["Verify webhook signatures and timestamps", "Rate limits"]),
    };
    let s = score(&brief, &out);
    // 3 of 4 assets (no refund), 2 of 2 attackers, 1 of 2 controls.
    assert_eq!(s.scores.asset_recall, 0.75);
    assert_eq!(s.scores.attacker_recall, 1.0);
    assert_eq!(s.scores.control_recall, 0.5);
    // Matched: orders, signing secret, postgres, relational database (database), insider,
    // fraudster = 6 of 9.
    assert!(
        (s.scores.precision - 6.0 / 9.0).abs() < 1e-9,
        "{:?}",
        s.scores
    );
    // Generic: stored credentials (matches nothing), relational database (Postgres covers
    // it), web application (matches nothing) = 3 of 6 assets.
    assert_eq!(s.scores.generic_dup, 0.5);
    assert_eq!(
        s.generic,
        [
            "Stored credentials",
            "Relational database",
            "Web application"
        ]
    );
    assert_eq!(
        s.missed,
        ["asset: Refund capability", "control: Audit"],
        "misses are named"
    );
    let m = Scores::mean(&[s.scores, Scores::default()]);
    assert_eq!(m.asset_recall, 0.375);
    assert!(!m.meets_goals());
    assert!(
        m.line()
            .contains("attacker_recall=0.50 control_recall=0.25 precision=0.33"),
        "{}",
        m.line()
    );
}

#[test]
fn briefs_are_well_formed() {
    let briefs = load_briefs().expect("briefs load");
    assert!(briefs.len() >= 20, "at least 20 briefs");
    let tune = briefs.iter().filter(|b| b.half == Half::Tune).count();
    let holdout = briefs.len() - tune;
    assert!(tune >= 10 && holdout >= 10, "both halves: {tune}/{holdout}");
    let mut domains = BTreeSet::new();
    for b in &briefs {
        let n = b.text().split(' ').count();
        assert!((130..=170).contains(&n), "{}: {n} words", b.id);
        assert!(
            domains.insert(b.domain.clone()),
            "{}: domain repeated",
            b.id
        );
        assert!(b.assets.len() >= 6 && b.attackers.len() >= 4 && b.controls.len() >= 5);
        for r in b.assets.iter().chain(&b.attackers).chain(&b.controls) {
            assert!(
                !r.phrases.is_empty() && r.phrases.iter().all(|p| !phrase_words(p).is_empty()),
                "{}: {} has no usable phrase",
                b.id,
                r.name
            );
        }
    }
}

/// The report itself: runs the built-in engine over every brief and prints the figures.
#[test]
fn tm_eval_report() {
    let briefs = load_briefs().expect("briefs load");
    let engine = rampart::engine::BuiltinEngine::new(None).expect("catalog");
    let detail_all = std::env::var("TM_EVAL_DETAIL").is_ok_and(|v| v == "all");
    let (total, text) =
        report(&briefs, |b| run_builtin(&engine, b), detail_all).expect("the evaluation runs");
    println!("{text}");
    // `TM_EVAL_DUMP=<brief id prefix>`: every generated asset and attacker with its rationale.
    if let Ok(prefix) = std::env::var("TM_EVAL_DUMP") {
        for b in briefs.iter().filter(|b| b.id.starts_with(prefix.as_str())) {
            println!("== {}", b.id);
            let mut ignore = |_| {};
            let g = rampart::engine::generate_model(
                &engine,
                "eval",
                &b.text(),
                chrono::Utc::now(),
                &mut ignore,
            )
            .expect("generates");
            for a in &g.model.assets {
                println!("  asset    {} — {}", a.name, a.rationale);
            }
            for a in &g.model.attackers {
                println!("  attacker {} — {}", a.name, a.rationale);
            }
        }
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    if std::fs::create_dir_all(&target).is_ok() {
        let _ = std::fs::write(target.join("tm-eval.txt"), &text);
    }
    assert!(total.asset_recall > 0.0, "the engine produced something");
}
