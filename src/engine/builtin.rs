//! The built-in engine: offline, deterministic, driven by the [`Catalog`].
//!
//! Determinism: every list is built in catalog or text order, sets are ordered, no clock,
//! no randomness — the same description and catalog always give the same model.

use super::catalog::{AssetEntry, AttackerEntry, Catalog, CatalogError};
use super::conversation;
use super::text::{Text, match_triggers, quote_list};
use super::{Engine, Intent, Matrix, Refinement, Result, StepOutput};
use crate::domain::{
    ControlMapping, Level, NewAsset, NewAssumption, NewAttacker, NewControl, NewTrustBoundary,
    SecurityProperty, ThreatModel, VerificationMap,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The offline default engine.
#[derive(Debug, Clone)]
pub struct BuiltinEngine {
    catalog: Catalog,
}

impl BuiltinEngine {
    /// Loads the embedded catalog plus every `*.toml` in `extra_catalog_dir`. A bad extra
    /// file is an error naming the file and entry.
    pub fn new(
        extra_catalog_dir: Option<&Path>,
    ) -> std::result::Result<BuiltinEngine, CatalogError> {
        Ok(BuiltinEngine {
            catalog: Catalog::load(extra_catalog_dir)?,
        })
    }

    /// Uses an already loaded catalog.
    pub fn from_catalog(catalog: Catalog) -> BuiltinEngine {
        BuiltinEngine { catalog }
    }

    /// The catalog in use.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn asset_entry_for(&self, a: &NewAsset) -> Option<&AssetEntry> {
        self.catalog
            .assets
            .iter()
            .find(|e| a.tags.contains(&e.key) && e.name == a.name)
    }

    /// Catalog tags for an asset: its own tags, or (hand-made assets) the tags of catalog
    /// entries its name and description mention.
    pub fn asset_tags(
        &self,
        name: &str,
        description: &str,
        own: &BTreeSet<String>,
    ) -> BTreeSet<String> {
        if !own.is_empty() {
            return own.clone();
        }
        let joined = format!("{name}. {description}");
        let text = Text::new(&joined);
        self.catalog
            .assets
            .iter()
            .filter(|e| match_triggers(&text, &e.triggers).matched())
            .flat_map(|e| e.tags.iter().cloned())
            .collect()
    }

    /// The catalog archetype of an attacker: its `archetype` if it is a catalog key,
    /// otherwise the first archetype whose triggers its name/description mention.
    pub fn attacker_archetype(
        &self,
        archetype: &str,
        name: &str,
        description: &str,
    ) -> Option<&AttackerEntry> {
        if let Some(e) = self.catalog.attacker(archetype) {
            return Some(e);
        }
        let joined = format!("{name}. {description}");
        let text = Text::new(&joined);
        self.catalog
            .attackers
            .iter()
            .find(|e| match_triggers(&text, &e.triggers).matched())
    }

    fn model_tags(&self, model: &ThreatModel) -> BTreeMap<String, BTreeSet<String>> {
        model
            .assets
            .iter()
            .map(|a| {
                (
                    a.id.clone(),
                    self.asset_tags(&a.name, &a.description, &a.tags),
                )
            })
            .collect()
    }

    pub(crate) fn new_asset_from(&self, e: &AssetEntry, rationale: String) -> NewAsset {
        NewAsset {
            name: e.name.clone(),
            description: e.description.clone(),
            properties: e.properties.clone(),
            impact: e.impact,
            rationale,
            tags: e.tags.clone(),
        }
    }

    pub(crate) fn new_attacker_from(&self, e: &AttackerEntry, rationale: String) -> NewAttacker {
        NewAttacker {
            name: e.name.clone(),
            description: e.description.clone(),
            capability: e.capability.clone(),
            position: e.position,
            archetype: e.key.clone(),
            likelihood: e.likelihood,
            threatens: e.threatens.clone(),
            targets: None,
            rationale,
            tags: BTreeSet::new(),
        }
    }

    /// Asset entries matched by a text, in text order, and the ones it rules out.
    #[allow(clippy::type_complexity)]
    pub(crate) fn match_assets<'c>(
        &'c self,
        text: &Text<'_>,
    ) -> (
        Vec<(&'c AssetEntry, Vec<String>)>,
        Vec<(&'c AssetEntry, Vec<String>)>,
    ) {
        let mut found = Vec::new();
        let mut out = Vec::new();
        for (i, e) in self.catalog.assets.iter().enumerate() {
            let m = match_triggers(text, &e.triggers);
            if let Some(first) = m.first {
                found.push((first, i, e, m.hits, m.spans));
            } else if m.ruled_out() {
                out.push((e, m.negated));
            }
        }
        // An entry mentioned only inside a longer mention of another entry ("database" in
        // "vector database") is that other entry, not a second asset.
        let all: Vec<(usize, usize, usize)> = found
            .iter()
            .flat_map(|(_, i, _, _, sp)| sp.iter().map(move |&(a, b)| (*i, a, b)))
            .collect();
        found.retain(|(_, i, _, _, spans)| {
            !spans.iter().all(|&(a, b)| {
                all.iter()
                    .any(|&(j, c, d)| j != *i && c <= a && b <= d && d - c > b - a)
            })
        });
        found.sort_by_key(|(first, i, _, _, _)| (*first, *i));
        (
            found.into_iter().map(|(_, _, e, h, _)| (e, h)).collect(),
            out,
        )
    }

    /// Attacker entries selected by a text and a set of asset tags, and the ones ruled out.
    #[allow(clippy::type_complexity)]
    pub(crate) fn match_attackers<'c>(
        &'c self,
        text: &Text<'_>,
        tags: &BTreeSet<String>,
    ) -> (
        Vec<(&'c AttackerEntry, String)>,
        Vec<(&'c AttackerEntry, Vec<String>)>,
    ) {
        let mut found = Vec::new();
        let mut out = Vec::new();
        for (i, e) in self.catalog.attackers.iter().enumerate() {
            let m = match_triggers(text, &e.triggers);
            let tag_hits: Vec<&String> = e.when_tags.intersection(tags).collect();
            if m.ruled_out() {
                out.push((e, m.negated));
                continue;
            }
            if let Some(first) = m.first {
                found.push((
                    first,
                    i,
                    e,
                    format!("The description mentions {}.", quote_list(&m.hits)),
                ));
            } else if !tag_hits.is_empty() {
                let names: Vec<String> = tag_hits.iter().map(|t| t.to_string()).collect();
                found.push((
                    usize::MAX,
                    i,
                    e,
                    format!(
                        "The model has {} assets (catalog rule `{}`).",
                        names.join(", "),
                        e.key
                    ),
                ));
            }
        }
        found.sort_by_key(|(first, i, _, _)| (*first, *i));
        (found.into_iter().map(|(_, _, e, r)| (e, r)).collect(), out)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Engine for BuiltinEngine {
    fn name(&self) -> &str {
        "builtin"
    }

    fn suggest_title(&self, description: &str) -> Result<String> {
        let first = description
            .split(['.', ',', ';', '\n', ':'])
            .map(str::trim)
            .find(|s| !s.is_empty())
            .unwrap_or("Threat model");
        let mut words: Vec<&str> = first.split_whitespace().collect();
        while let Some(w) = words.first() {
            if ["a", "an", "the", "we", "our", "this", "my"]
                .contains(&w.to_ascii_lowercase().as_str())
                && words.len() > 1
            {
                words.remove(0);
            } else {
                break;
            }
        }
        let mut title = String::new();
        for w in words {
            if title.chars().count() + w.chars().count() + 1 > 60 {
                break;
            }
            if !title.is_empty() {
                title.push(' ');
            }
            title.push_str(w);
        }
        if title.is_empty() {
            title = first.chars().take(60).collect();
        }
        let mut chars = title.chars();
        let title = match chars.next() {
            Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
            None => "Threat model".to_string(),
        };
        Ok(title)
    }

    fn generate_assets(&self, description: &str) -> Result<StepOutput<Vec<NewAsset>>> {
        if description.trim().is_empty() {
            return Err(super::EngineError::InvalidInput(
                "the description is empty".into(),
            ));
        }
        let text = Text::new(description);
        let (found, ruled_out) = self.match_assets(&text);
        let mut assets: Vec<NewAsset> = found
            .iter()
            .map(|(e, hits)| {
                self.new_asset_from(
                    e,
                    format!(
                        "The description mentions {} (catalog entry `{}`).",
                        quote_list(hits),
                        e.key
                    ),
                )
            })
            .collect();
        let mut thought = format!(
            "Matched the description against {} catalog asset entries. ",
            self.catalog.assets.len()
        );
        if assets.is_empty() {
            assets.push(NewAsset {
                name: "Feature data and functionality".into(),
                description: "Everything the described feature stores or does; no catalog component was recognised.".into(),
                properties: SecurityProperty::ALL.into_iter().take(3).collect(),
                impact: Level::Medium,
                rationale: "No catalog entry matched the description, so one placeholder asset stands for the whole feature. Refine the model to name concrete components and data.".into(),
                tags: BTreeSet::new(),
            });
            thought.push_str("Nothing matched; using a single placeholder asset. ");
        } else {
            let list: Vec<String> = found
                .iter()
                .map(|(e, h)| format!("{} ({})", e.name, quote_list(h)))
                .collect();
            thought.push_str(&format!(
                "Found {}: {}. ",
                plural(list.len(), "asset", "assets"),
                list.join("; ")
            ));
        }
        if !ruled_out.is_empty() {
            let list: Vec<String> = ruled_out
                .iter()
                .map(|(e, q)| format!("{} ({})", e.name, quote_list(q)))
                .collect();
            thought.push_str(&format!(
                "Left out because the description negates them: {}.",
                list.join("; ")
            ));
        }
        Ok(StepOutput {
            data: assets,
            thought: thought.trim_end().to_string(),
        })
    }

    fn refine_assets(
        &self,
        description: &str,
        assets: Vec<NewAsset>,
    ) -> Result<StepOutput<Vec<NewAsset>>> {
        let _ = description;
        let mut notes = Vec::new();
        // 1. More specific entries replace the generic ones they supersede.
        let keys: BTreeMap<String, usize> = assets
            .iter()
            .enumerate()
            .filter_map(|(i, a)| self.asset_entry_for(a).map(|e| (e.key.clone(), i)))
            .collect();
        let mut drop = BTreeSet::new();
        for a in &assets {
            if let Some(e) = self.asset_entry_for(a) {
                for s in &e.supersedes {
                    if let Some(&j) = keys.get(s)
                        && drop.insert(j)
                    {
                        notes.push(format!(
                            "merged \"{}\" into \"{}\" (more specific)",
                            assets[j].name, a.name
                        ));
                    }
                }
            }
        }
        let mut out: Vec<NewAsset> = Vec::new();
        for (i, a) in assets.into_iter().enumerate() {
            if drop.contains(&i) {
                continue;
            }
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(&a.name)) {
                notes.push(format!("dropped duplicate \"{}\"", a.name));
                continue;
            }
            out.push(a);
        }
        // 2. Stores holding sensitive data inherit high impact.
        let sensitive: Vec<String> = out
            .iter()
            .filter(|a| a.tags.contains("sensitive-data"))
            .map(|a| a.name.clone())
            .collect();
        if !sensitive.is_empty() {
            for a in &mut out {
                if a.tags.contains("datastore") && a.impact != Level::High {
                    a.impact = Level::High;
                    a.rationale.push_str(&format!(
                        " Impact raised to high: it can hold {}.",
                        sensitive.join(", ")
                    ));
                    notes.push(format!(
                        "raised impact of \"{}\" to high (holds {})",
                        a.name,
                        sensitive.join(", ")
                    ));
                }
            }
        }
        // 3. Financial or regulated data needs accountable usage (who did what).
        let regulated = out.iter().any(|a| a.tags.contains("regulated"));
        if regulated {
            for a in &mut out {
                if a.tags.contains("regulated") && !a.properties.contains(&SecurityProperty::Usage)
                {
                    a.properties.insert(SecurityProperty::Usage);
                    a.rationale.push_str(" Accountable usage (U) added: regulated data requires attributable access.");
                    notes.push(format!("added U to \"{}\" (regulated data)", a.name));
                }
            }
        }
        let thought = if notes.is_empty() {
            format!(
                "Reviewed {}: no duplicates, merges or re-ratings needed.",
                plural(out.len(), "asset", "assets")
            )
        } else {
            format!(
                "Reviewed assets: {}. {} remain.",
                notes.join("; "),
                plural(out.len(), "asset", "assets")
            )
        };
        Ok(StepOutput { data: out, thought })
    }

    fn generate_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewAttacker>>> {
        let text = Text::new(description);
        let tags: BTreeSet<String> = self.model_tags(model).into_values().flatten().collect();
        let (found, ruled_out) = self.match_attackers(&text, &tags);
        let mut attackers: Vec<NewAttacker> = found
            .iter()
            .map(|(e, r)| self.new_attacker_from(e, r.clone()))
            .collect();
        let mut thought = format!(
            "Checked {} attacker archetypes against the description and the asset kinds. ",
            self.catalog.attackers.len()
        );
        if attackers.is_empty() {
            if let Some(e) = self.catalog.attackers.iter().find(|e| {
                e.position == crate::domain::AttackerPosition::External
                    && !ruled_out.iter().any(|(o, _)| o.key == e.key)
            }) {
                attackers.push(self.new_attacker_from(
                    e,
                    "No attacker-specific words were found; an external attacker is the minimum assumption for any system.".into(),
                ));
                thought.push_str(&format!(
                    "Nothing specific matched; kept the baseline \"{}\". ",
                    e.name
                ));
            }
        } else {
            let list: Vec<String> = found.iter().map(|(e, _)| e.name.clone()).collect();
            thought.push_str(&format!(
                "Selected {}: {}. ",
                plural(list.len(), "attacker", "attackers"),
                list.join(", ")
            ));
        }
        if !ruled_out.is_empty() {
            let list: Vec<String> = ruled_out
                .iter()
                .map(|(e, q)| format!("{} ({})", e.name, quote_list(q)))
                .collect();
            thought.push_str(&format!(
                "Ruled out by the description: {}.",
                list.join("; ")
            ));
        }
        Ok(StepOutput {
            data: attackers,
            thought: thought.trim_end().to_string(),
        })
    }

    fn refine_attackers(
        &self,
        description: &str,
        model: &ThreatModel,
        attackers: Vec<NewAttacker>,
    ) -> Result<StepOutput<Vec<NewAttacker>>> {
        let text = Text::new(description);
        let tags = self.model_tags(model);
        let mut notes = Vec::new();
        let mut out = Vec::new();
        for mut a in attackers {
            let Some(e) = self.attacker_archetype(&a.archetype, &a.name, &a.description) else {
                out.push(a);
                continue;
            };
            if !e.targets.is_empty() {
                let reach: BTreeSet<String> = tags
                    .iter()
                    .filter(|(_, t)| !t.is_disjoint(&e.targets))
                    .map(|(id, _)| id.clone())
                    .collect();
                if reach.is_empty() {
                    notes.push(format!(
                        "dropped \"{}\": none of its targets ({}) are in the model",
                        a.name,
                        e.targets.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                    continue;
                }
                if reach.len() < model.assets.len() {
                    let ids: Vec<String> = reach.iter().cloned().collect();
                    notes.push(format!("scoped \"{}\" to {}", a.name, ids.join(", ")));
                    a.rationale
                        .push_str(&format!(" In reach: {}.", ids.join(", ")));
                    a.targets = Some(reach);
                }
            }
            for r in &e.likelihood_rules {
                let m = match_triggers(&text, &r.triggers);
                if m.matched() {
                    if r.level != a.likelihood {
                        notes.push(format!(
                            "likelihood of \"{}\" {} → {} ({})",
                            a.name,
                            a.likelihood,
                            r.level,
                            quote_list(&m.hits)
                        ));
                        a.rationale.push_str(&format!(
                            " Likelihood {} because the description mentions {}.",
                            r.level,
                            quote_list(&m.hits)
                        ));
                        a.likelihood = r.level;
                    }
                    break;
                }
            }
            out.push(a);
        }
        let thought = if notes.is_empty() {
            format!(
                "Reviewed {}: reach and likelihood unchanged.",
                plural(out.len(), "attacker", "attackers")
            )
        } else {
            format!(
                "Reviewed attackers: {}. {} remain.",
                notes.join("; "),
                plural(out.len(), "attacker", "attackers")
            )
        };
        Ok(StepOutput { data: out, thought })
    }

    fn generate_matrix(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Matrix>> {
        let text = Text::new(description);
        let tags = self.model_tags(model);
        let all_tags: BTreeSet<String> = tags.values().flatten().cloned().collect();
        let mut boundaries = Vec::new();
        for b in &self.catalog.boundaries {
            let m = match_triggers(&text, &b.triggers);
            let tag_hit: Vec<String> = b.when_tags.intersection(&all_tags).cloned().collect();
            if m.ruled_out() || (!m.matched() && tag_hit.is_empty()) {
                continue;
            }
            let side: &BTreeSet<String> = if b.asset_tags.is_empty() {
                &b.when_tags
            } else {
                &b.asset_tags
            };
            let assets: BTreeSet<String> = tags
                .iter()
                .filter(|(_, t)| !t.is_disjoint(side))
                .map(|(id, _)| id.clone())
                .collect();
            if assets.is_empty() {
                continue;
            }
            let why = if m.matched() {
                format!("The description mentions {}.", quote_list(&m.hits))
            } else {
                format!(
                    "The model has {} assets (catalog rule `{}`).",
                    tag_hit.join(", "),
                    b.key
                )
            };
            boundaries.push(NewTrustBoundary {
                name: b.name.clone(),
                zones: b.zones.clone(),
                assets,
                crossing: b.crossing.clone(),
                rationale: why,
            });
        }
        let mut assumptions = Vec::new();
        for a in &self.catalog.assumptions {
            let m = match_triggers(&text, &a.triggers);
            let tag_hit: Vec<String> = a.when_tags.intersection(&all_tags).cloned().collect();
            if m.matched() {
                assumptions.push(NewAssumption {
                    text: a.text.clone(),
                    rationale: format!("The description mentions {}.", quote_list(&m.hits)),
                });
            } else if !tag_hit.is_empty() {
                assumptions.push(NewAssumption {
                    text: a.text.clone(),
                    rationale: format!(
                        "Applies to {} assets (catalog rule `{}`).",
                        tag_hit.join(", "),
                        a.key
                    ),
                });
            }
        }
        // What the description rules out becomes an explicit assumption.
        let (_, assets_out) = self.match_assets(&text);
        let (_, attackers_out) = self.match_attackers(&text, &all_tags);
        let mut seen = BTreeSet::new();
        for (name, quotes) in assets_out
            .iter()
            .map(|(e, q)| (&e.name, q))
            .chain(attackers_out.iter().map(|(e, q)| (&e.name, q)))
        {
            let q = quote_list(quotes);
            if seen.insert(q.clone()) {
                assumptions.push(NewAssumption {
                    text: format!("As stated ({q}), this holds and keeps \"{name}\" out of scope."),
                    rationale: "Derived from a negation in the description.".into(),
                });
            }
        }
        let tiers = model
            .control_objectives
            .iter()
            .fold(BTreeMap::new(), |mut m, co| {
                *m.entry(co.risk_tier).or_insert(0usize) += 1;
                m
            });
        let tier_text: Vec<String> = tiers.iter().map(|(t, n)| format!("{n} {t}")).collect();
        let thought = format!(
            "Crossed {} with {} into {} ({}). Placed {}: {}. Recorded {}.",
            plural(model.assets.len(), "asset", "assets"),
            plural(model.attackers.len(), "attacker", "attackers"),
            plural(
                model.control_objectives.len(),
                "control objective",
                "control objectives"
            ),
            if tier_text.is_empty() {
                "none".to_string()
            } else {
                tier_text.join(", ")
            },
            plural(boundaries.len(), "trust boundary", "trust boundaries"),
            if boundaries.is_empty() {
                "none".to_string()
            } else {
                boundaries
                    .iter()
                    .map(|b| b.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            plural(assumptions.len(), "assumption", "assumptions"),
        );
        Ok(StepOutput {
            data: Matrix {
                trust_boundaries: boundaries,
                assumptions,
            },
            thought,
        })
    }

    fn generate_controls(
        &self,
        description: &str,
        model: &ThreatModel,
    ) -> Result<StepOutput<Vec<NewControl>>> {
        let mut joined = description.to_string();
        for a in &model.assets {
            joined.push_str(&format!(".\n{}", a.name));
        }
        let text = Text::new(&joined);
        let tags = self.model_tags(model);
        let archetypes: BTreeMap<&str, Option<&str>> = model
            .attackers
            .iter()
            .map(|a| {
                (
                    a.id.as_str(),
                    self.attacker_archetype(&a.archetype, &a.name, &a.description)
                        .map(|e| e.key.as_str()),
                )
            })
            .collect();
        // control index → (mappings, hits)
        let mut chosen: BTreeMap<usize, (usize, Vec<ControlMapping>, Vec<String>)> =
            BTreeMap::new();
        let mut order = 0usize;
        let mut uncovered = Vec::new();
        // Description mentions per control, computed once (None = control has no triggers).
        let trigger_hits: Vec<Option<Vec<String>>> = self
            .catalog
            .controls
            .iter()
            .map(|c| (!c.triggers.is_empty()).then(|| match_triggers(&text, &c.triggers).hits))
            .collect();
        for co in &model.control_objectives {
            let empty = BTreeSet::new();
            let asset_tags = tags.get(&co.asset_id).unwrap_or(&empty);
            let archetype = archetypes.get(co.attacker_id.as_str()).copied().flatten();
            let mut any = false;
            for (ci, c) in self.catalog.controls.iter().enumerate() {
                if !c.asset_tags.is_empty() && c.asset_tags.is_disjoint(asset_tags) {
                    continue;
                }
                if !c.attackers.is_empty() && !archetype.is_some_and(|k| c.attackers.contains(k)) {
                    continue;
                }
                if !c.properties.is_empty() && c.properties.is_disjoint(&co.properties) {
                    continue;
                }
                let hits = match &trigger_hits[ci] {
                    None => Vec::new(),
                    Some(h) if h.is_empty() => continue,
                    Some(h) => h.clone(),
                };
                any = true;
                let entry = chosen.entry(ci).or_insert_with(|| {
                    order += 1;
                    (order, Vec::new(), hits)
                });
                entry.1.push(ControlMapping {
                    co_id: co.id.clone(),
                    group: c.group.clone(),
                });
            }
            if !any {
                uncovered.push(co.id.clone());
            }
        }
        let mut list: Vec<(usize, usize, Vec<ControlMapping>, Vec<String>)> = chosen
            .into_iter()
            .map(|(ci, (o, m, h))| (o, ci, m, h))
            .collect();
        list.sort_by_key(|(o, _, _, _)| *o);
        let mut controls = Vec::new();
        for (_, ci, mappings, hits) in list {
            let c = &self.catalog.controls[ci];
            let cos: Vec<&str> = mappings.iter().map(|m| m.co_id.as_str()).collect();
            let mut asset_names: Vec<String> = Vec::new();
            let mut attacker_names: Vec<String> = Vec::new();
            for id in &cos {
                if let Some(co) = model.objective(id) {
                    if let Some(a) = model.asset(&co.asset_id)
                        && !asset_names.contains(&a.name)
                    {
                        asset_names.push(a.name.clone());
                    }
                    if let Some(a) = model.attacker(&co.attacker_id)
                        && !attacker_names.contains(&a.name)
                    {
                        attacker_names.push(a.name.clone());
                    }
                }
            }
            let co_text = if cos.len() > 4 {
                format!("{} and {} more", cos[..4].join(", "), cos.len() - 4)
            } else {
                cos.join(", ")
            };
            let mut rationale = format!(
                "Protects {} against {} ({co_text}); catalog control `{}`.",
                asset_names.join(", "),
                attacker_names.join(", "),
                c.key
            );
            if !hits.is_empty() {
                rationale.push_str(&format!(
                    " Selected because the description mentions {}.",
                    quote_list(&hits)
                ));
            }
            controls.push(NewControl {
                catalog_key: Some(c.key.clone()),
                name: c.name.clone(),
                description: c.description.clone(),
                framework_refs: c.refs.clone(),
                rationale,
                mappings,
            });
        }
        let mut thought = format!(
            "Matched {} control objectives against {} library controls by asset kind, attacker archetype, properties and description words; selected {}.",
            model.control_objectives.len(),
            self.catalog.controls.len(),
            plural(controls.len(), "control", "controls")
        );
        if !uncovered.is_empty() {
            thought.push_str(&format!(
                " No library control fits {} (left not started for manual controls).",
                uncovered.join(", ")
            ));
        }
        Ok(StepOutput {
            data: controls,
            thought,
        })
    }

    fn classify_intent(&self, message: &str, model: Option<&ThreatModel>) -> Result<Intent> {
        Ok(conversation::classify(&self.catalog, message, model))
    }

    fn plan_refinement(
        &self,
        model: &ThreatModel,
        instruction: &str,
    ) -> Result<StepOutput<Refinement>> {
        conversation::plan_refinement(self, model, instruction)
    }

    fn answer_query(
        &self,
        model: &ThreatModel,
        verification: &VerificationMap,
        question: &str,
    ) -> Result<StepOutput<String>> {
        conversation::answer_query(self, model, verification, question)
    }

    fn answer_general(&self, question: &str) -> Result<StepOutput<String>> {
        conversation::answer_general(&self.catalog, question)
    }
}
