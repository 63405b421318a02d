//! The built-in engine's knowledge: a catalog of assets (components, technologies, data
//! kinds), attacker archetypes, trust-boundary patterns, assumptions, controls and glossary
//! terms, read from TOML.
//!
//! The default catalog (`assets/catalog/*.toml`) is embedded in the binary. Extra `*.toml`
//! files from a directory (config) are loaded after it, in file-name order; an extra entry
//! with the same kind and key as an earlier one replaces it, so users can both add and
//! override entries without rebuilding. Every file may hold any mix of
//! `[[asset]]`, `[[attacker]]`, `[[boundary]]`, `[[assumption]]`, `[[control]]` and `[[term]]`
//! tables; unknown fields are errors. Loading validates every entry and cross-reference
//! (control attacker keys, asset tags, supersedes keys) and names file and entry on error.
//!
//! Entry fields (lists default to empty):
//! - `[[asset]]` key, name, description, triggers (phrases), properties ("CIAU" letters),
//!   impact (high/medium/low), tags, supersedes (keys of less specific entries). The key is
//!   also a tag. Tag `sensitive-data` raises datastores to high impact; `regulated` adds U.
//!   Optional grounding (see [`super::ground`]): `heads` (head words: a noun phrase of the
//!   description ending in one, with at least one modifier, becomes an asset of this entry
//!   named after the phrase, e.g. head "secret" → "Stripe signing secret") and
//!   `lone_heads` (head words that count without a modifier: "orders") and `head_exclude`
//!   (modifier words that disqualify a phrase: "primary" key). An entry needs triggers or
//!   heads.
//! - `[[attacker]]` key, name, description, capability, position (external, adjacent,
//!   internal, insider, supply_chain, physical), likelihood, threatens ("CIA"), triggers,
//!   when_tags (asset tags that select it), targets (asset tags in reach; empty = all),
//!   `[[attacker.likelihood_rule]]` {triggers, level} (first mentioned rule wins) and
//!   optional grounding: `roles` (head words of the people or parties the description names,
//!   e.g. "adjusters", "vendor"), `role_exclude` (modifiers that disqualify) and `role_name`
//!   (the attacker's name with `{}` for the phrase, e.g. "{} abusing legitimate access").
//! - `[[boundary]]` key, name, zones (≥2), triggers, when_tags, asset_tags, crossing.
//! - `[[assumption]]` key, text, triggers, when_tags.
//! - `[[control]]` key, name, description, refs (`NIST:AC-3`, `ASVS:V4.1.1`, `CWE-862`),
//!   asset_tags, attackers (archetype keys), properties, triggers, group (default "primary";
//!   same label on a CO = AND, different labels = alternative groups). A control needs at
//!   least one of asset_tags / attackers / triggers, so nothing applies to everything.
//! - `[[term]]` term, aliases, definition (the methodology glossary).

use super::text::phrase_tokens;
use crate::domain::{AttackerPosition, FrameworkRef, Level, PropertySet, SecurityProperty};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The embedded catalog files (name, contents).
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "components.toml",
        include_str!("../../assets/catalog/components.toml"),
    ),
    ("data.toml", include_str!("../../assets/catalog/data.toml")),
    (
        "business.toml",
        include_str!("../../assets/catalog/business.toml"),
    ),
    (
        "attackers.toml",
        include_str!("../../assets/catalog/attackers.toml"),
    ),
    (
        "boundaries.toml",
        include_str!("../../assets/catalog/boundaries.toml"),
    ),
    (
        "assumptions.toml",
        include_str!("../../assets/catalog/assumptions.toml"),
    ),
    (
        "controls-app.toml",
        include_str!("../../assets/catalog/controls-app.toml"),
    ),
    (
        "controls-data.toml",
        include_str!("../../assets/catalog/controls-data.toml"),
    ),
    (
        "controls-platform.toml",
        include_str!("../../assets/catalog/controls-platform.toml"),
    ),
    (
        "controls-special.toml",
        include_str!("../../assets/catalog/controls-special.toml"),
    ),
    (
        "glossary.toml",
        include_str!("../../assets/catalog/glossary.toml"),
    ),
];

/// Why a catalog could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The extra catalog directory could not be read.
    #[error("cannot read catalog directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read catalog file {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid catalog TOML.
    #[error("catalog file {file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// An entry is invalid.
    #[error("catalog file {file}, {kind} {key:?}: {message}")]
    Entry {
        /// The file.
        file: String,
        /// Entry kind (`asset`, `control`, …).
        kind: &'static str,
        /// Entry key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    asset: Vec<RawAsset>,
    #[serde(default)]
    attacker: Vec<RawAttacker>,
    #[serde(default)]
    boundary: Vec<RawBoundary>,
    #[serde(default)]
    assumption: Vec<RawAssumption>,
    #[serde(default)]
    control: Vec<RawControl>,
    #[serde(default)]
    term: Vec<RawTerm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAsset {
    key: String,
    name: String,
    description: String,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    heads: Vec<String>,
    #[serde(default)]
    lone_heads: Vec<String>,
    #[serde(default)]
    head_exclude: Vec<String>,
    properties: String,
    impact: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    supersedes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLikelihoodRule {
    triggers: Vec<String>,
    level: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttacker {
    key: String,
    name: String,
    description: String,
    capability: String,
    position: String,
    likelihood: String,
    threatens: String,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    when_tags: Vec<String>,
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    likelihood_rule: Vec<RawLikelihoodRule>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    role_exclude: Vec<String>,
    #[serde(default)]
    role_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoundary {
    key: String,
    name: String,
    zones: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    when_tags: Vec<String>,
    #[serde(default)]
    asset_tags: Vec<String>,
    crossing: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumption {
    key: String,
    text: String,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    when_tags: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    key: String,
    name: String,
    description: String,
    refs: Vec<String>,
    #[serde(default)]
    asset_tags: Vec<String>,
    #[serde(default)]
    attackers: Vec<String>,
    #[serde(default)]
    properties: Option<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    group: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTerm {
    term: String,
    #[serde(default)]
    aliases: Vec<String>,
    definition: String,
}

/// A trigger phrase: as written, and normalised.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// As written in the catalog.
    pub text: String,
    /// Normalised tokens.
    pub tokens: Vec<String>,
}

impl AsRef<[String]> for Trigger {
    fn as_ref(&self) -> &[String] {
        &self.tokens
    }
}

/// An asset template.
#[derive(Debug, Clone)]
pub struct AssetEntry {
    /// Unique key.
    pub key: String,
    /// Asset name.
    pub name: String,
    /// Asset description.
    pub description: String,
    /// Phrases that select it.
    pub triggers: Vec<Trigger>,
    /// Head words: a modified noun phrase ending in one becomes an asset of this entry.
    pub heads: Vec<Trigger>,
    /// Head words that count even without a modifier ("orders", "impersonation").
    pub lone_heads: Vec<Trigger>,
    /// Normalised modifier words that disqualify a head phrase.
    pub head_exclude: BTreeSet<String>,
    /// Properties.
    pub properties: PropertySet,
    /// Impact.
    pub impact: Level,
    /// Kinds (used by attackers, boundaries, controls).
    pub tags: BTreeSet<String>,
    /// Less specific entries this one replaces when both match.
    pub supersedes: Vec<String>,
    /// File it came from.
    pub source: String,
}

/// A likelihood override: if any trigger is mentioned, use `level`.
#[derive(Debug, Clone)]
pub struct LikelihoodRule {
    /// Phrases.
    pub triggers: Vec<Trigger>,
    /// Resulting likelihood.
    pub level: Level,
}

/// An attacker archetype.
#[derive(Debug, Clone)]
pub struct AttackerEntry {
    /// Unique key (the archetype).
    pub key: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Capability.
    pub capability: String,
    /// Position.
    pub position: AttackerPosition,
    /// Default likelihood.
    pub likelihood: Level,
    /// Threatened properties.
    pub threatens: PropertySet,
    /// Phrases that select it.
    pub triggers: Vec<Trigger>,
    /// Asset tags that select it.
    pub when_tags: BTreeSet<String>,
    /// Asset tags in reach (empty = all assets).
    pub targets: BTreeSet<String>,
    /// Likelihood overrides, first match wins.
    pub likelihood_rules: Vec<LikelihoodRule>,
    /// Head words of the people or parties that stand for this archetype.
    pub roles: Vec<Trigger>,
    /// Normalised modifier words that disqualify a role phrase.
    pub role_exclude: BTreeSet<String>,
    /// Name of a grounded attacker, `{}` standing for the role phrase.
    pub role_name: String,
    /// File it came from.
    pub source: String,
}

/// A trust-boundary pattern.
#[derive(Debug, Clone)]
pub struct BoundaryEntry {
    /// Unique key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Zones separated.
    pub zones: Vec<String>,
    /// Phrases that select it.
    pub triggers: Vec<Trigger>,
    /// Asset tags that select it.
    pub when_tags: BTreeSet<String>,
    /// Asset tags on the protected side (empty = `when_tags`).
    pub asset_tags: BTreeSet<String>,
    /// What crosses it.
    pub crossing: Vec<String>,
    /// File it came from.
    pub source: String,
}

/// An assumption template.
#[derive(Debug, Clone)]
pub struct AssumptionEntry {
    /// Unique key.
    pub key: String,
    /// Text.
    pub text: String,
    /// Phrases that select it.
    pub triggers: Vec<Trigger>,
    /// Asset tags that select it.
    pub when_tags: BTreeSet<String>,
    /// File it came from.
    pub source: String,
}

/// A control in the library.
#[derive(Debug, Clone)]
pub struct ControlEntry {
    /// Unique key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Framework references.
    pub refs: Vec<FrameworkRef>,
    /// Asset tags it protects (any; empty = every asset).
    pub asset_tags: BTreeSet<String>,
    /// Attacker archetype keys it counters (any; empty = every attacker).
    pub attackers: BTreeSet<String>,
    /// Properties it protects (any; empty = all).
    pub properties: PropertySet,
    /// If non-empty, the description must mention one of these.
    pub triggers: Vec<Trigger>,
    /// Mitigation group label.
    pub group: String,
    /// File it came from.
    pub source: String,
}

/// A glossary term.
#[derive(Debug, Clone)]
pub struct TermEntry {
    /// The term.
    pub term: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Phrases (term + aliases) normalised.
    pub triggers: Vec<Trigger>,
    /// Definition.
    pub definition: String,
}

/// The loaded, validated catalog.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Asset templates in load order.
    pub assets: Vec<AssetEntry>,
    /// Attacker archetypes.
    pub attackers: Vec<AttackerEntry>,
    /// Boundary patterns.
    pub boundaries: Vec<BoundaryEntry>,
    /// Assumption templates.
    pub assumptions: Vec<AssumptionEntry>,
    /// Control library.
    pub controls: Vec<ControlEntry>,
    /// Glossary.
    pub terms: Vec<TermEntry>,
}

fn triggers(
    file: &str,
    kind: &'static str,
    key: &str,
    raw: &[String],
) -> Result<Vec<Trigger>, CatalogError> {
    raw.iter()
        .map(|t| {
            let tokens = phrase_tokens(t);
            if tokens.is_empty() {
                return Err(CatalogError::Entry {
                    file: file.into(),
                    kind,
                    key: key.into(),
                    message: format!("trigger {t:?} has no words"),
                });
            }
            Ok(Trigger {
                text: t.clone(),
                tokens,
            })
        })
        .collect()
}

/// Head words with their "-es" plurals, which the normaliser keeps apart from the singular
/// ("addresses" → "addresse", "bonuses" → "bonuse", "passes" → "passe").
fn with_es_plurals(mut heads: Vec<Trigger>) -> Vec<Trigger> {
    let mut extra = Vec::new();
    for h in &heads {
        let t = h.text.to_lowercase();
        if ["s", "x", "z", "ch", "sh"].iter().any(|e| t.ends_with(e)) {
            let plural = format!("{}es", h.text);
            let tokens = phrase_tokens(&plural);
            if tokens != h.tokens && !heads.iter().any(|o| o.tokens == tokens) {
                extra.push(Trigger {
                    text: plural,
                    tokens,
                });
            }
        }
    }
    heads.extend(extra);
    heads
}

/// Normalised single words (modifier lists), each phrase split into its words.
fn words(raw: &[String]) -> BTreeSet<String> {
    raw.iter().flat_map(|w| phrase_tokens(w)).collect()
}

fn props(file: &str, kind: &'static str, key: &str, s: &str) -> Result<PropertySet, CatalogError> {
    let mut out = PropertySet::new();
    for c in s.chars().filter(|c| !c.is_whitespace() && *c != ',') {
        let p: SecurityProperty =
            c.to_string()
                .parse()
                .map_err(|m: String| CatalogError::Entry {
                    file: file.into(),
                    kind,
                    key: key.into(),
                    message: m,
                })?;
        out.insert(p);
    }
    Ok(out)
}

fn err(file: &str, kind: &'static str, key: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Entry {
        file: file.into(),
        kind,
        key: key.into(),
        message: message.into(),
    }
}

fn check_key(file: &str, kind: &'static str, key: &str) -> Result<(), CatalogError> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(err(
            file,
            kind,
            key,
            "key must be non-empty lower-case letters, digits and '-'",
        ));
    }
    Ok(())
}

fn nonempty(
    file: &str,
    kind: &'static str,
    key: &str,
    field: &str,
    v: &str,
) -> Result<(), CatalogError> {
    if v.trim().is_empty() {
        return Err(err(file, kind, key, format!("{field} must not be empty")));
    }
    Ok(())
}

fn upsert<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter().position(same) {
        Some(p) => list[p] = item,
        None => list.push(item),
    }
}

impl Catalog {
    /// The embedded catalog plus, if given, every `*.toml` in `extra_dir`.
    pub fn load(extra_dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut cat = Catalog::default();
        for (name, text) in EMBEDDED {
            cat.add_file(&format!("embedded:{name}"), text)?;
        }
        if let Some(dir) = extra_dir {
            let rd = std::fs::read_dir(dir).map_err(|source| CatalogError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
            let mut files: Vec<PathBuf> = Vec::new();
            for e in rd {
                let e = e.map_err(|source| CatalogError::Dir {
                    path: dir.to_path_buf(),
                    source,
                })?;
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            for p in files {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(&p).map_err(|source| CatalogError::Read {
                    file: name.clone(),
                    source,
                })?;
                cat.add_file(&name, &text)?;
            }
        }
        cat.cross_check()?;
        Ok(cat)
    }

    /// Parses and adds one file (entries with an existing key replace the old entry).
    /// Call [`Catalog::cross_check`] after the last file.
    pub fn add_file(&mut self, file: &str, text: &str) -> Result<(), CatalogError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| CatalogError::Parse {
            file: file.into(),
            message: e.to_string(),
        })?;
        let mut seen: BTreeSet<(&'static str, String)> = BTreeSet::new();
        let mut dup = |kind: &'static str, key: &str| -> Result<(), CatalogError> {
            if !seen.insert((kind, key.to_string())) {
                return Err(err(file, kind, key, "duplicate key in this file"));
            }
            Ok(())
        };
        for a in raw.asset {
            const K: &str = "asset";
            check_key(file, K, &a.key)?;
            dup(K, &a.key)?;
            nonempty(file, K, &a.key, "name", &a.name)?;
            if a.triggers.is_empty() && a.heads.is_empty() && a.lone_heads.is_empty() {
                return Err(err(file, K, &a.key, "needs at least one trigger or head"));
            }
            let properties = props(file, K, &a.key, &a.properties)?;
            if properties.is_empty() {
                return Err(err(file, K, &a.key, "properties must not be empty"));
            }
            let impact: Level = a
                .impact
                .parse()
                .map_err(|m: String| err(file, K, &a.key, m))?;
            let mut tags: BTreeSet<String> = a.tags.into_iter().collect();
            tags.insert(a.key.clone());
            let entry = AssetEntry {
                triggers: triggers(file, K, &a.key, &a.triggers)?,
                heads: with_es_plurals(triggers(file, K, &a.key, &a.heads)?),
                lone_heads: with_es_plurals(triggers(file, K, &a.key, &a.lone_heads)?),
                head_exclude: words(&a.head_exclude),
                key: a.key,
                name: a.name,
                description: a.description,
                properties,
                impact,
                tags,
                supersedes: a.supersedes,
                source: file.into(),
            };
            let key = entry.key.clone();
            upsert(&mut self.assets, entry, |e| e.key == key);
        }
        for a in raw.attacker {
            const K: &str = "attacker";
            check_key(file, K, &a.key)?;
            dup(K, &a.key)?;
            nonempty(file, K, &a.key, "name", &a.name)?;
            if a.triggers.is_empty() && a.when_tags.is_empty() {
                return Err(err(file, K, &a.key, "needs triggers or when_tags"));
            }
            let mut rules = Vec::new();
            for r in &a.likelihood_rule {
                rules.push(LikelihoodRule {
                    triggers: triggers(file, K, &a.key, &r.triggers)?,
                    level: r
                        .level
                        .parse()
                        .map_err(|m: String| err(file, K, &a.key, m))?,
                });
            }
            let threatens = props(file, K, &a.key, &a.threatens)?;
            if threatens.is_empty() {
                return Err(err(file, K, &a.key, "threatens must not be empty"));
            }
            let role_name = a.role_name.clone().unwrap_or_else(|| "{}".into());
            if role_name.matches("{}").count() != 1 {
                return Err(err(
                    file,
                    K,
                    &a.key,
                    "role_name must contain {} exactly once",
                ));
            }
            let roles = triggers(file, K, &a.key, &a.roles)?;
            let entry = AttackerEntry {
                triggers: triggers(file, K, &a.key, &a.triggers)?,
                position: a
                    .position
                    .parse()
                    .map_err(|m: String| err(file, K, &a.key, m))?,
                likelihood: a
                    .likelihood
                    .parse()
                    .map_err(|m: String| err(file, K, &a.key, m))?,
                threatens,
                key: a.key,
                name: a.name,
                description: a.description,
                capability: a.capability,
                when_tags: a.when_tags.into_iter().collect(),
                targets: a.targets.into_iter().collect(),
                likelihood_rules: rules,
                roles,
                role_exclude: words(&a.role_exclude),
                role_name,
                source: file.into(),
            };
            let key = entry.key.clone();
            upsert(&mut self.attackers, entry, |e| e.key == key);
        }
        for b in raw.boundary {
            const K: &str = "boundary";
            check_key(file, K, &b.key)?;
            dup(K, &b.key)?;
            nonempty(file, K, &b.key, "name", &b.name)?;
            if b.triggers.is_empty() && b.when_tags.is_empty() {
                return Err(err(file, K, &b.key, "needs triggers or when_tags"));
            }
            if b.zones.len() < 2 {
                return Err(err(file, K, &b.key, "needs at least two zones"));
            }
            let entry = BoundaryEntry {
                triggers: triggers(file, K, &b.key, &b.triggers)?,
                key: b.key,
                name: b.name,
                zones: b.zones,
                when_tags: b.when_tags.into_iter().collect(),
                asset_tags: b.asset_tags.into_iter().collect(),
                crossing: b.crossing,
                source: file.into(),
            };
            let key = entry.key.clone();
            upsert(&mut self.boundaries, entry, |e| e.key == key);
        }
        for a in raw.assumption {
            const K: &str = "assumption";
            check_key(file, K, &a.key)?;
            dup(K, &a.key)?;
            nonempty(file, K, &a.key, "text", &a.text)?;
            if a.triggers.is_empty() && a.when_tags.is_empty() {
                return Err(err(file, K, &a.key, "needs triggers or when_tags"));
            }
            let entry = AssumptionEntry {
                triggers: triggers(file, K, &a.key, &a.triggers)?,
                key: a.key,
                text: a.text,
                when_tags: a.when_tags.into_iter().collect(),
                source: file.into(),
            };
            let key = entry.key.clone();
            upsert(&mut self.assumptions, entry, |e| e.key == key);
        }
        for c in raw.control {
            const K: &str = "control";
            check_key(file, K, &c.key)?;
            dup(K, &c.key)?;
            nonempty(file, K, &c.key, "name", &c.name)?;
            nonempty(file, K, &c.key, "description", &c.description)?;
            if c.refs.is_empty() {
                return Err(err(
                    file,
                    K,
                    &c.key,
                    "needs at least one framework reference",
                ));
            }
            let refs = c
                .refs
                .iter()
                .map(|r| {
                    r.parse::<FrameworkRef>()
                        .map_err(|m| err(file, K, &c.key, m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if c.asset_tags.is_empty() && c.attackers.is_empty() && c.triggers.is_empty() {
                return Err(err(
                    file,
                    K,
                    &c.key,
                    "needs asset_tags, attackers or triggers (a control that applies to everything is padding)",
                ));
            }
            let entry = ControlEntry {
                triggers: triggers(file, K, &c.key, &c.triggers)?,
                properties: match &c.properties {
                    Some(p) => props(file, K, &c.key, p)?,
                    None => PropertySet::new(),
                },
                key: c.key,
                name: c.name,
                description: c.description,
                refs,
                asset_tags: c.asset_tags.into_iter().collect(),
                attackers: c.attackers.into_iter().collect(),
                group: c.group.unwrap_or_else(|| "primary".into()),
                source: file.into(),
            };
            let key = entry.key.clone();
            upsert(&mut self.controls, entry, |e| e.key == key);
        }
        for t in raw.term {
            nonempty(file, "term", &t.term, "term", &t.term)?;
            nonempty(file, "term", &t.term, "definition", &t.definition)?;
            let mut all = vec![t.term.clone()];
            all.extend(t.aliases.iter().cloned());
            let entry = TermEntry {
                triggers: triggers(file, "term", &t.term, &all)?,
                term: t.term,
                aliases: t.aliases,
                definition: t.definition,
            };
            let term = entry.term.to_lowercase();
            upsert(&mut self.terms, entry, |e| e.term.to_lowercase() == term);
        }
        Ok(())
    }

    /// Checks references between entries: attacker keys named by controls, asset tags named
    /// by attackers, boundaries, assumptions and controls, and `supersedes` keys.
    pub fn cross_check(&self) -> Result<(), CatalogError> {
        let tags: BTreeSet<&str> = self
            .assets
            .iter()
            .flat_map(|a| a.tags.iter().map(String::as_str))
            .collect();
        let asset_keys: BTreeSet<&str> = self.assets.iter().map(|a| a.key.as_str()).collect();
        let attacker_keys: BTreeSet<&str> = self.attackers.iter().map(|a| a.key.as_str()).collect();
        let unknown_tag = |file: &str,
                           kind: &'static str,
                           key: &str,
                           set: &BTreeSet<String>|
         -> Result<(), CatalogError> {
            for t in set {
                if !tags.contains(t.as_str()) {
                    return Err(err(
                        file,
                        kind,
                        key,
                        format!("asset tag {t:?} is not used by any asset entry"),
                    ));
                }
            }
            Ok(())
        };
        for a in &self.assets {
            for s in &a.supersedes {
                if !asset_keys.contains(s.as_str()) {
                    return Err(err(
                        &a.source,
                        "asset",
                        &a.key,
                        format!("supersedes unknown asset {s:?}"),
                    ));
                }
            }
        }
        for a in &self.attackers {
            unknown_tag(&a.source, "attacker", &a.key, &a.when_tags)?;
            unknown_tag(&a.source, "attacker", &a.key, &a.targets)?;
        }
        for b in &self.boundaries {
            unknown_tag(&b.source, "boundary", &b.key, &b.when_tags)?;
            unknown_tag(&b.source, "boundary", &b.key, &b.asset_tags)?;
        }
        for a in &self.assumptions {
            unknown_tag(&a.source, "assumption", &a.key, &a.when_tags)?;
        }
        for c in &self.controls {
            unknown_tag(&c.source, "control", &c.key, &c.asset_tags)?;
            for k in &c.attackers {
                if !attacker_keys.contains(k.as_str()) {
                    return Err(err(
                        &c.source,
                        "control",
                        &c.key,
                        format!("unknown attacker archetype {k:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Entry counts per kind (for diagnostics and tests).
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("assets", self.assets.len()),
            ("attackers", self.attackers.len()),
            ("boundaries", self.boundaries.len()),
            ("assumptions", self.assumptions.len()),
            ("controls", self.controls.len()),
            ("terms", self.terms.len()),
        ])
    }

    /// Attacker archetype by key.
    pub fn attacker(&self, key: &str) -> Option<&AttackerEntry> {
        self.attackers.iter().find(|a| a.key == key)
    }
}
