//! Conversation support for the built-in engine: intent classification, targeted and broad
//! refinement planning, answering questions from a model, and the methodology glossary.

use super::builtin::BuiltinEngine;
use super::catalog::Catalog;
use super::text::{Text, match_triggers, phrase_tokens, quote_list};
use super::{EngineError, Intent, Refinement, Result, StepOutput};
use crate::domain::{
    AssetPatch, AttackerPatch, AttackerPosition, CoState, ControlStatus, EntityKind, Level,
    ModelOp, NewAsset, NewAttacker, RiskTier, SecurityProperty, ThreatModel, VerificationMap,
    format_properties,
};
use regex::Regex;
use std::collections::BTreeSet;
use std::sync::LazyLock;

const QUESTION_WORDS: &[&str] = &[
    "what", "which", "how", "who", "where", "why", "when", "list", "show", "is", "are", "does",
    "do", "can", "explain", "define", "describe", "tell", "give",
];
const REFINE_VERBS: &[&str] = &[
    "add",
    "remove",
    "delete",
    "drop",
    "rename",
    "change",
    "set",
    "update",
    "include",
    "exclude",
    "make",
    "mark",
    "replace",
    "also",
    "consider",
    "refine",
    "edit",
    "lower",
    "raise",
    "increase",
    "decrease",
    "merge",
    "split",
    "introduce",
    "regenerate",
    "assume",
];
const MODEL_WORDS: &[&str] = &[
    "asset",
    "attacker",
    "control",
    "objective",
    "co",
    "risk",
    "risky",
    "riskiest",
    "assumption",
    "boundary",
    "model",
    "our",
    "my",
    "implemented",
    "verified",
    "mitigation",
    "assets",
    "attackers",
    "controls",
    "objectives",
    "assumptions",
    "boundaries",
    "cos",
    "tier",
    "protect",
    "protects",
    "threat actor",
    "at risk",
    "status",
    "summary",
];

static ID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(ctrl-\d+|atk\d+|as\d+|tb\d+|co\d+|a\d+)\b").expect("static regex")
});
static REMOVE_ID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:please\s+)?(?:remove|delete|drop)\s+(?:the\s+)?(?:(?:asset|attacker)\s+)?(atk\d+|a\d+)\b\s*\.?\s*$").expect("static regex")
});
static REMOVE_NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:please\s+)?(?:remove|delete|drop)\s+(?:the\s+)?(.+?)\s+(asset|attacker)\s*\.?\s*$").expect("static regex")
});
static RENAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)^\s*(?:please\s+)?rename\s+(?:the\s+)?(?:(?:asset|attacker)\s+)?(atk\d+|a\d+)\s+(?:to|as)\s+["'“]?(.+?)["'”]?\s*\.?\s*$"#)
        .expect("static regex")
});
static RENAME_MODEL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)^\s*(?:please\s+)?rename\s+(?:the\s+|this\s+)?(?:threat\s+)?model\s+(?:to|as)\s+["'“]?(.+?)["'”]?\s*\.?\s*$"#).expect("static regex")
});
static LEVEL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:please\s+)?(?:set|change|make|mark)\s+(?:the\s+)?(impact|likelihood)\s+of\s+(atk\d+|a\d+)\s+(?:to|as)\s+(high|medium|low)\s*\.?\s*$")
        .expect("static regex")
});
static ADD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:please\s+)?(?:add|include|create)\s+(?:an?\s+|the\s+|another\s+|one\s+more\s+)?(?:(.+?)\s+)?(attacker|threat actor|adversary|asset)\s*\.?\s*$")
        .expect("static regex")
});

static ADD_NAMED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)^\s*(?:please\s+)?(?:add|include|create)\s+(?:an?\s+|another\s+|one\s+more\s+)?(?:new\s+)?(attacker|threat actor|adversary|asset)\s+(?:called|named)\s+["'“]?(.+?)["'”]?\s*\.?\s*$"#)
        .expect("static regex")
});

static ASSUME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:please\s+)?(?:assume\s+(?:that\s+)?|add\s+(?:an?\s+)?assumption\s*(?:that\s+|:\s*)?)(.+?)\s*$").expect("static regex")
});

fn words(message: &str) -> Vec<String> {
    Text::new(message)
        .tokens
        .into_iter()
        .map(|t| t.norm)
        .collect()
}

fn glossary_hit(catalog: &Catalog, text: &Text<'_>) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, t) in catalog.terms.iter().enumerate() {
        for tr in &t.triggers {
            if !text.find(&tr.tokens).is_empty() && best.is_none_or(|(_, n)| tr.tokens.len() > n) {
                best = Some((i, tr.tokens.len()));
            }
        }
    }
    best.map(|(i, _)| i)
}

fn mentions_model(text: &Text<'_>, raw: &str) -> bool {
    ID_RE.is_match(raw)
        || MODEL_WORDS
            .iter()
            .any(|w| !text.find(&phrase_tokens(w)).is_empty())
}

/// Classifies a message (see [`super::Engine::classify_intent`]).
pub fn classify(catalog: &Catalog, message: &str, model: Option<&ThreatModel>) -> Intent {
    let text = Text::new(message);
    let w = words(message);
    let first = w.first().map(String::as_str).unwrap_or("");
    let question = message.trim_end().ends_with('?') || QUESTION_WORDS.contains(&first);
    let generate_cue = [
        "threat model",
        "create a model",
        "new model",
        "generate a model",
        "model a",
        "model an",
        "model the",
    ]
    .iter()
    .any(|p| {
        text.find(&phrase_tokens(p))
            .first()
            .is_some_and(|(i, _)| *i <= 2)
    });
    let glossary = glossary_hit(catalog, &text).is_some();
    match model {
        None => {
            if question && !generate_cue {
                Intent::General
            } else {
                Intent::Generate
            }
        }
        Some(_) => {
            if generate_cue && !question && !REFINE_VERBS.contains(&first) {
                return Intent::Generate;
            }
            if REFINE_VERBS.contains(&first) || (first == "we" && !question) || first == "actually"
            {
                return Intent::Refine;
            }
            let about_model = mentions_model(&text, message);
            let lower = message.to_lowercase();
            let definitional = [
                "what is",
                "what's",
                "whats",
                "what are",
                "what does",
                "define",
                "explain",
                "meaning of",
                "tell me about",
            ]
            .iter()
            .any(|p| lower.trim_start().starts_with(p));
            let model_specific = ID_RE.is_match(message)
                || [
                    "our ",
                    "my ",
                    "this model",
                    "the model",
                    "which",
                    "highest",
                    "lowest",
                    "riskiest",
                    "not implemented",
                    "at risk",
                    "list ",
                    "show ",
                ]
                .iter()
                .any(|p| lower.contains(p));
            if question && glossary && definitional && !model_specific {
                return Intent::General;
            }
            if question {
                return if glossary && !about_model {
                    Intent::General
                } else {
                    Intent::Query
                };
            }
            // A statement naming components or data ("the API also writes to Redis",
            // "card data is never stored") describes the system: refine.
            let describes_system = catalog.assets.iter().any(|e| {
                let m = match_triggers(&text, &e.triggers);
                m.matched() || m.ruled_out()
            });
            if describes_system {
                Intent::Refine
            } else if glossary && !about_model {
                Intent::General
            } else {
                Intent::Query
            }
        }
    }
}

fn title_case(s: &str) -> String {
    let mut c = s.trim().chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn canonical(model: &ThreatModel, id: &str) -> Option<(EntityKind, String)> {
    match EntityKind::of_id(id)? {
        EntityKind::Asset => model.asset(id).map(|a| (EntityKind::Asset, a.id.clone())),
        EntityKind::Attacker => model
            .attacker(id)
            .map(|a| (EntityKind::Attacker, a.id.clone())),
        _ => None,
    }
}

fn unknown(id: &str) -> EngineError {
    let kind = EntityKind::of_id(id).unwrap_or(EntityKind::Asset);
    EngineError::Domain(crate::domain::DomainError::UnknownId {
        kind,
        id: id.to_string(),
    })
}

fn targeted(
    engine: &BuiltinEngine,
    model: &ThreatModel,
    instruction: &str,
) -> Result<Option<(ModelOp, String)>> {
    if let Some(c) = REMOVE_ID_RE.captures(instruction) {
        let id = &c[1];
        let (kind, id) = canonical(model, id).ok_or_else(|| unknown(id))?;
        let reason = format!("removed on request: \"{}\"", instruction.trim());
        let op = if kind == EntityKind::Asset {
            ModelOp::RemoveAsset {
                id: id.clone(),
                reason,
            }
        } else {
            ModelOp::RemoveAttacker {
                id: id.clone(),
                reason,
            }
        };
        return Ok(Some((op, format!("Targeted removal of {id}."))));
    }
    if let Some(c) = ASSUME_RE.captures(instruction) {
        let text = c[1].trim().trim_end_matches('.').to_string();
        let mut chars = text.chars();
        let text = match chars.next() {
            Some(f) => f.to_uppercase().collect::<String>() + chars.as_str() + ".",
            None => return Ok(None),
        };
        let assumption = crate::domain::NewAssumption {
            text,
            rationale: format!("Added on request: \"{}\".", instruction.trim()),
        };
        return Ok(Some((
            ModelOp::AddAssumption { assumption },
            "Targeted addition of one assumption.".into(),
        )));
    }
    if let Some(c) = RENAME_MODEL_RE.captures(instruction) {
        return Ok(Some((
            ModelOp::Rename {
                title: c[1].to_string(),
            },
            "Targeted rename of the model.".into(),
        )));
    }
    if let Some(c) = RENAME_RE.captures(instruction) {
        let (kind, id) = canonical(model, &c[1]).ok_or_else(|| unknown(&c[1]))?;
        let name = c[2].to_string();
        let op = if kind == EntityKind::Asset {
            ModelOp::EditAsset {
                id: id.clone(),
                patch: AssetPatch {
                    name: Some(name),
                    ..Default::default()
                },
            }
        } else {
            ModelOp::EditAttacker {
                id: id.clone(),
                patch: AttackerPatch {
                    name: Some(name),
                    ..Default::default()
                },
            }
        };
        return Ok(Some((op, format!("Targeted rename of {id}."))));
    }
    if let Some(c) = LEVEL_RE.captures(instruction) {
        let (kind, id) = canonical(model, &c[2]).ok_or_else(|| unknown(&c[2]))?;
        let level: Level = c[3].parse().map_err(EngineError::InvalidInput)?;
        let field = c[1].to_ascii_lowercase();
        let op = match (kind, field.as_str()) {
            (EntityKind::Asset, "impact") => ModelOp::EditAsset {
                id: id.clone(),
                patch: AssetPatch {
                    impact: Some(level),
                    ..Default::default()
                },
            },
            (EntityKind::Attacker, "likelihood") => ModelOp::EditAttacker {
                id: id.clone(),
                patch: AttackerPatch {
                    likelihood: Some(level),
                    ..Default::default()
                },
            },
            _ => {
                return Err(EngineError::InvalidInput(format!(
                    "{id} has no {field}: assets have an impact, attackers a likelihood"
                )));
            }
        };
        return Ok(Some((
            op,
            format!("Targeted change of the {field} of {id} to {level}."),
        )));
    }
    if let Some(c) = REMOVE_NAME_RE.captures(instruction) {
        let needle = c[1].to_lowercase();
        let is_asset = c[2].eq_ignore_ascii_case("asset");
        let hit = if is_asset {
            model
                .assets
                .iter()
                .find(|a| a.name.to_lowercase().contains(&needle))
                .map(|a| a.id.clone())
        } else {
            model
                .attackers
                .iter()
                .find(|a| a.name.to_lowercase().contains(&needle))
                .map(|a| a.id.clone())
        };
        if let Some(id) = hit {
            let reason = format!("removed on request: \"{}\"", instruction.trim());
            let op = if is_asset {
                ModelOp::RemoveAsset {
                    id: id.clone(),
                    reason,
                }
            } else {
                ModelOp::RemoveAttacker {
                    id: id.clone(),
                    reason,
                }
            };
            return Ok(Some((
                op,
                format!("Targeted removal of {id} (name matches \"{}\").", &c[1]),
            )));
        }
    }
    let add = ADD_NAMED_RE
        .captures(instruction)
        .map(|c| (c[2].trim().to_string(), c[1].to_ascii_lowercase(), true))
        .or_else(|| {
            ADD_RE.captures(instruction).map(|c| {
                (
                    c.get(1)
                        .map(|m| m.as_str().trim().to_string())
                        .unwrap_or_default(),
                    c[2].to_ascii_lowercase(),
                    false,
                )
            })
        });
    if let Some((phrase, kind, named)) = add {
        let rationale = format!("Added on request: \"{}\".", instruction.trim());
        if kind == "asset" {
            let text = Text::new(&phrase);
            let (found, _) = engine.match_assets(&text);
            let name = if phrase.is_empty() {
                "Additional asset".to_string()
            } else {
                title_case(&phrase)
            };
            let asset = match found.first() {
                Some((e, _)) => {
                    let mut a = engine.new_asset_from(
                        e,
                        format!("{rationale} Attributes from catalog entry `{}`.", e.key),
                    );
                    a.name = name;
                    a
                }
                None => NewAsset {
                    name,
                    description: String::new(),
                    properties: [
                        SecurityProperty::Confidentiality,
                        SecurityProperty::Integrity,
                        SecurityProperty::Availability,
                    ]
                    .into(),
                    impact: Level::Medium,
                    rationale: format!(
                        "{rationale} No catalog entry matched; default C/I/A, medium impact."
                    ),
                    tags: BTreeSet::new(),
                },
            };
            return Ok(Some((
                ModelOp::AddAsset { asset },
                "Targeted addition of one asset.".into(),
            )));
        }
        let name = if phrase.is_empty() {
            "Additional attacker".to_string()
        } else if named {
            title_case(&phrase)
        } else {
            format!("{} attacker", title_case(&phrase))
        };
        let attacker = match engine.attacker_archetype("", &phrase, "") {
            Some(e) if !phrase.is_empty() => {
                let mut a = engine.new_attacker_from(
                    e,
                    format!("{rationale} Attributes from archetype `{}`.", e.key),
                );
                a.name = name;
                a
            }
            _ => NewAttacker {
                name,
                description: String::new(),
                capability: String::new(),
                position: AttackerPosition::External,
                archetype: "custom".into(),
                likelihood: Level::Medium,
                threatens: BTreeSet::new(),
                targets: None,
                rationale: format!(
                    "{rationale} No archetype matched; external, medium likelihood, all properties."
                ),
                tags: BTreeSet::new(),
            },
        };
        return Ok(Some((
            ModelOp::AddAttacker { attacker },
            "Targeted addition of one attacker.".into(),
        )));
    }
    Ok(None)
}

/// Plans a refinement (see [`super::Engine::plan_refinement`]).
pub fn plan_refinement(
    engine: &BuiltinEngine,
    model: &ThreatModel,
    instruction: &str,
) -> Result<StepOutput<Refinement>> {
    if instruction.trim().is_empty() {
        return Err(EngineError::InvalidInput(
            "the refinement instruction is empty".into(),
        ));
    }
    if let Some((op, thought)) = targeted(engine, model, instruction)? {
        return Ok(StepOutput {
            data: Refinement {
                ops: vec![op],
                targeted: true,
                regenerate: false,
            },
            thought,
        });
    }
    let text = Text::new(instruction);
    let w = words(instruction);
    let removing = w
        .first()
        .is_some_and(|f| ["remove", "delete", "drop", "exclude"].contains(&f.as_str()));
    let present_assets: BTreeSet<&str> = model
        .assets
        .iter()
        .flat_map(|a| a.tags.iter().map(String::as_str))
        .collect();
    let present_attackers: BTreeSet<&str> = model
        .attackers
        .iter()
        .map(|a| a.archetype.as_str())
        .collect();
    let mut ops = Vec::new();
    let mut notes = Vec::new();
    let (found, ruled_out) = engine.match_assets(&text);
    let mut remaining_assets = model.assets.len();
    let mut remove_assets =
        |entry_key: &str, quote: &str, ops: &mut Vec<ModelOp>, notes: &mut Vec<String>| {
            for a in model.assets.iter().filter(|a| a.tags.contains(entry_key)) {
                if remaining_assets <= 1 {
                    notes.push(format!("kept {} (a model needs at least one asset)", a.id));
                    continue;
                }
                remaining_assets -= 1;
                ops.push(ModelOp::RemoveAsset {
                    id: a.id.clone(),
                    reason: format!("refinement: {quote}"),
                });
                notes.push(format!("remove {} {}", a.id, a.name));
            }
        };
    for (e, hits) in &found {
        if removing {
            remove_assets(&e.key, &quote_list(hits), &mut ops, &mut notes);
        } else if !present_assets.contains(e.key.as_str()) {
            ops.push(ModelOp::AddAsset {
                asset: engine.new_asset_from(
                    e,
                    format!(
                        "Added by refinement: the instruction mentions {}.",
                        quote_list(hits)
                    ),
                ),
            });
            notes.push(format!("add asset {}", e.name));
        }
    }
    for (e, quotes) in &ruled_out {
        remove_assets(&e.key, &quote_list(quotes), &mut ops, &mut notes);
    }
    // Asset tags after the planned asset ops; new assets get the next ids in op order.
    let mut next_asset = model.counters.asset;
    let mut tags_by_asset: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut new_tags = BTreeSet::new();
    let removed: BTreeSet<String> = ops
        .iter()
        .filter_map(|o| {
            if let ModelOp::RemoveAsset { id, .. } = o {
                Some(id.clone())
            } else {
                None
            }
        })
        .collect();
    for a in model.assets.iter().filter(|a| !removed.contains(&a.id)) {
        tags_by_asset.push((
            a.id.clone(),
            engine.asset_tags(&a.name, &a.description, &a.tags),
        ));
    }
    for o in &ops {
        if let ModelOp::AddAsset { asset } = o {
            next_asset += 1;
            new_tags.extend(asset.tags.iter().cloned());
            tags_by_asset.push((EntityKind::Asset.format_id(next_asset), asset.tags.clone()));
        }
    }
    let (atk_found, atk_out) = engine.match_attackers(&text, &new_tags);
    for (e, why) in &atk_found {
        if removing {
            for a in model.attackers.iter().filter(|a| a.archetype == e.key) {
                ops.push(ModelOp::RemoveAttacker {
                    id: a.id.clone(),
                    reason: format!("refinement: {}", instruction.trim()),
                });
                notes.push(format!("remove {} {}", a.id, a.name));
            }
        } else if !present_attackers.contains(e.key.as_str()) {
            let mut attacker = engine.new_attacker_from(e, format!("Added by refinement. {why}"));
            if !e.targets.is_empty() {
                let reach: BTreeSet<String> = tags_by_asset
                    .iter()
                    .filter(|(_, t)| !t.is_disjoint(&e.targets))
                    .map(|(id, _)| id.clone())
                    .collect();
                if reach.is_empty() {
                    notes.push(format!("skipped attacker {}: nothing in reach", e.name));
                    continue;
                }
                if reach.len() < tags_by_asset.len() {
                    attacker.targets = Some(reach);
                }
            }
            ops.push(ModelOp::AddAttacker { attacker });
            notes.push(format!("add attacker {}", e.name));
        }
    }
    for (e, quotes) in &atk_out {
        for a in model.attackers.iter().filter(|a| a.archetype == e.key) {
            ops.push(ModelOp::RemoveAttacker {
                id: a.id.clone(),
                reason: format!("refinement: {}", quote_list(quotes)),
            });
            notes.push(format!("remove {} {}", a.id, a.name));
        }
    }
    let wants_regen = [
        "control",
        "regenerate",
        "refresh",
        "matrix",
        "boundar",
        "assumption",
    ]
    .iter()
    .any(|k| instruction.to_lowercase().contains(k));
    if ops.is_empty() && !wants_regen {
        return Err(EngineError::InvalidInput(format!(
            "nothing in \"{}\" names a component, data kind or attacker the built-in engine knows; try \"add a <name> attacker\", \"remove asset A3\", \"rename asset A2 to <name>\", or name the technology (e.g. \"we also use Redis\")",
            instruction.trim()
        )));
    }
    let thought = if notes.is_empty() {
        "Broad refinement: no entity changes; regenerating matrix and controls.".to_string()
    } else {
        format!(
            "Broad refinement: {}; then regenerating matrix and controls.",
            notes.join("; ")
        )
    };
    Ok(StepOutput {
        data: Refinement {
            ops,
            targeted: false,
            regenerate: true,
        },
        thought,
    })
}

fn tier_of_asset(model: &ThreatModel, asset_id: &str) -> Option<RiskTier> {
    model
        .control_objectives
        .iter()
        .filter(|c| c.asset_id == asset_id)
        .map(|c| c.risk_tier)
        .max_by_key(|t| t.rank())
}

fn has(lower: &str, keys: &[&str]) -> bool {
    keys.iter().any(|k| lower.contains(k))
}

/// Answers a question from the model (see [`super::Engine::answer_query`]).
pub fn answer_query(
    engine: &BuiltinEngine,
    model: &ThreatModel,
    verification: &VerificationMap,
    question: &str,
) -> Result<StepOutput<String>> {
    let _ = engine;
    if question.trim().is_empty() {
        return Err(EngineError::InvalidInput("the question is empty".into()));
    }
    let lower = question.to_lowercase();
    let ids: Vec<String> = ID_RE
        .find_iter(question)
        .map(|m| m.as_str().to_uppercase())
        .collect();
    let assess = model.assess(verification);
    let ok = |answer: String, how: &str| {
        Ok(StepOutput {
            data: answer,
            thought: format!("Answered from the model's data ({how})."),
        })
    };

    if has(
        &lower,
        &[
            "highest-risk",
            "highest risk",
            "riskiest",
            "most critical",
            "top risk",
            "most at risk",
            "highest-priority",
            "most important",
            "critical",
        ],
    ) {
        if lower.contains("attacker") || lower.contains("threat actor") {
            let mut v: Vec<_> = model.attackers.iter().collect();
            v.sort_by_key(|a| {
                (
                    std::cmp::Reverse(a.likelihood.rank()),
                    EntityKind::Attacker.parse_id(&a.id),
                )
            });
            let lines: Vec<String> = v
                .iter()
                .take(5)
                .map(|a| {
                    format!(
                        "- {} {} — likelihood {}, {}",
                        a.id, a.name, a.likelihood, a.position
                    )
                })
                .collect();
            return ok(
                format!("Attackers by likelihood:\n{}", lines.join("\n")),
                "attackers ranked by likelihood",
            );
        }
        let mut v: Vec<_> = model
            .assets
            .iter()
            .map(|a| (tier_of_asset(model, &a.id), a))
            .collect();
        v.sort_by_key(|(t, a)| {
            (
                std::cmp::Reverse(t.map(|t| t.rank()).unwrap_or(0)),
                std::cmp::Reverse(a.impact.rank()),
                EntityKind::Asset.parse_id(&a.id),
            )
        });
        let lines: Vec<String> = v
            .iter()
            .take(5)
            .map(|(t, a)| {
                let n = model
                    .control_objectives
                    .iter()
                    .filter(|c| c.asset_id == a.id && Some(c.risk_tier) == *t)
                    .count();
                match t {
                    Some(t) => format!(
                        "- {} {} — highest tier {t} ({n} CO{}), impact {}",
                        a.id,
                        a.name,
                        if n == 1 { "" } else { "s" },
                        a.impact
                    ),
                    None => format!(
                        "- {} {} — no control objectives, impact {}",
                        a.id, a.name, a.impact
                    ),
                }
            })
            .collect();
        return ok(
            format!(
                "Highest-risk assets (by the worst risk tier of their control objectives, then impact):\n{}",
                lines.join("\n")
            ),
            "assets ranked by risk tier",
        );
    }
    if has(
        &lower,
        &[
            "not implemented",
            "unimplemented",
            "missing control",
            "open control",
            "outstanding",
            "not done",
            "still to do",
            "remaining control",
        ],
    ) {
        let v: Vec<String> = model
            .controls
            .iter()
            .filter(|c| {
                matches!(
                    c.status,
                    ControlStatus::NotImplemented | ControlStatus::InProgress
                )
            })
            .map(|c| format!("- {} {} ({})", c.id, c.name, c.status))
            .collect();
        let ans = if v.is_empty() {
            "Every control is implemented or not applicable.".to_string()
        } else {
            format!(
                "{} of {} controls are not implemented yet:\n{}",
                v.len(),
                model.controls.len(),
                v.join("\n")
            )
        };
        return ok(ans, "control statuses");
    }
    let protect_q = has(
        &lower,
        &[
            "protect",
            "mitigat",
            "controls for",
            "controls on",
            "cover",
            "defend",
            "secure",
        ],
    );
    let mut ids = ids;
    if protect_q && ids.is_empty() {
        // No id given: pick the asset whose name shares the most words with the question.
        let q: BTreeSet<String> = Text::new(question)
            .tokens
            .into_iter()
            .map(|t| t.norm)
            .filter(|w| w.len() > 2)
            .collect();
        let best = model
            .assets
            .iter()
            .map(|a| {
                (
                    Text::new(&a.name)
                        .tokens
                        .iter()
                        .filter(|t| q.contains(&t.norm))
                        .count(),
                    a,
                )
            })
            .filter(|(n, _)| *n > 0)
            .max_by_key(|(n, a)| (*n, std::cmp::Reverse(EntityKind::Asset.parse_id(&a.id))));
        if let Some((_, a)) = best {
            ids.push(a.id.clone());
        }
    }
    if protect_q && !ids.is_empty() {
        let id = &ids[0];
        let mut out = Vec::new();
        match EntityKind::of_id(id) {
            Some(EntityKind::Asset) => {
                let a = model.asset(id).ok_or_else(|| unknown(id))?;
                for c in model.controls_protecting_asset(&a.id) {
                    out.push(format!("- {} {} ({})", c.id, c.name, c.status));
                }
                let head = format!("Controls protecting {} {}", a.id, a.name);
                let ans = if out.is_empty() {
                    format!("{head}: none yet — its control objectives are not started.")
                } else {
                    format!("{head}:\n{}", out.join("\n"))
                };
                return ok(ans, "controls mapped to the asset's control objectives");
            }
            Some(EntityKind::ControlObjective) => {
                let co = model.objective(id).ok_or_else(|| unknown(id))?;
                for (i, g) in co.mitigation_groups.iter().enumerate() {
                    let names: Vec<String> = g
                        .controls
                        .iter()
                        .filter_map(|c| model.control(c))
                        .map(|c| format!("{} {} ({})", c.id, c.name, c.status))
                        .collect();
                    out.push(format!(
                        "- group {} \"{}\": {}",
                        i + 1,
                        g.label,
                        names.join(" AND ")
                    ));
                }
                let ans = if out.is_empty() {
                    format!("{}: no controls yet.", co.id)
                } else {
                    format!(
                        "{} — {}\nAny one complete group achieves it:\n{}",
                        co.id,
                        co.statement,
                        out.join("\n")
                    )
                };
                return ok(ans, "mitigation groups of the control objective");
            }
            Some(EntityKind::Attacker) => {
                let a = model.attacker(id).ok_or_else(|| unknown(id))?;
                let mut seen = BTreeSet::new();
                for co in model
                    .control_objectives
                    .iter()
                    .filter(|c| c.attacker_id == a.id)
                {
                    for c in co.mitigation_groups.iter().flat_map(|g| g.controls.iter()) {
                        if seen.insert(c.clone())
                            && let Some(c) = model.control(c)
                        {
                            out.push(format!("- {} {} ({})", c.id, c.name, c.status));
                        }
                    }
                }
                return ok(
                    format!(
                        "Controls countering {} {}:\n{}",
                        a.id,
                        a.name,
                        out.join("\n")
                    ),
                    "controls on the attacker's control objectives",
                );
            }
            _ => {}
        }
    }
    let list_cos = |filter: &dyn Fn(CoState, bool) -> bool, title: &str| -> String {
        let v: Vec<String> = model
            .control_objectives
            .iter()
            .zip(&assess)
            .filter(|(_, a)| filter(a.state, a.verified))
            .map(|(co, _)| format!("- {} [{}] {}", co.id, co.risk_tier, co.statement))
            .collect();
        if v.is_empty() {
            format!("{title}: none.")
        } else {
            format!("{title} ({}):\n{}", v.len(), v.join("\n"))
        }
    };
    if has(&lower, &["at risk", "at-risk"]) {
        return ok(
            list_cos(&|s, _| s == CoState::AtRisk, "At-risk control objectives"),
            "assurance state",
        );
    }
    if has(
        &lower,
        &[
            "not started",
            "unassessed",
            "no controls",
            "without controls",
        ],
    ) {
        return ok(
            list_cos(
                &|s, _| s == CoState::NotStarted,
                "Not-started control objectives",
            ),
            "assurance state",
        );
    }
    if has(&lower, &["unverified", "not verified"]) {
        return ok(
            list_cos(&|_, v| !v, "Control objectives without a verified group"),
            "verification state",
        );
    }
    if lower.contains("verified") {
        return ok(
            list_cos(&|_, v| v, "Verified control objectives"),
            "verification state",
        );
    }
    if has(
        &lower,
        &[
            "summary",
            "status",
            "progress",
            "how are we",
            "how is",
            "overall",
            "posture",
            "kpi",
            "dashboard",
        ],
    ) {
        let s = model.summary(verification);
        let c = &s.counts;
        return ok(
            format!(
                "{}: {} assets, {} attackers, {} control objectives ({} critical, {} high, {} medium, {} low). Implemented {}% ({}), at risk {}, not started {}, verified {}%. Controls: {} total, {} implemented, {} in progress, {} not implemented, {} not applicable.",
                model.title,
                s.assets,
                s.attackers,
                c.objectives,
                c.risk_tiers.critical,
                c.risk_tiers.high,
                c.risk_tiers.medium,
                c.risk_tiers.low,
                c.implemented_pct,
                c.implemented,
                c.at_risk,
                c.not_started,
                c.verified_pct,
                c.controls.total,
                c.controls.implemented,
                c.controls.in_progress,
                c.controls.not_implemented,
                c.controls.not_applicable
            ),
            "model summary",
        );
    }
    if let Some(id) = ids.first() {
        let ans = match EntityKind::of_id(id) {
            Some(EntityKind::Asset) => model.asset(id).map(|a| {
                format!(
                    "{} {} — {} Properties {}, impact {}. Why: {}",
                    a.id,
                    a.name,
                    a.description,
                    format_properties(&a.properties),
                    a.impact,
                    a.rationale
                )
            }),
            Some(EntityKind::Attacker) => model.attacker(id).map(|a| {
                format!(
                    "{} {} — {} Capability: {} Position {}, likelihood {}. Why: {}",
                    a.id,
                    a.name,
                    a.description,
                    a.capability,
                    a.position,
                    a.likelihood,
                    a.rationale
                )
            }),
            Some(EntityKind::ControlObjective) => model
                .objective(id)
                .map(|c| format!("{} [{}] {}", c.id, c.risk_tier, c.statement)),
            Some(EntityKind::Control) => model.control(id).map(|c| {
                let refs: Vec<String> = c.framework_refs.iter().map(|r| r.to_string()).collect();
                format!(
                    "{} {} ({}) — {} References: {}. Why: {}",
                    c.id,
                    c.name,
                    c.status,
                    c.description,
                    refs.join(", "),
                    c.rationale
                )
            }),
            Some(EntityKind::Assumption) => model
                .assumption(id)
                .map(|a| format!("{} ({:?}): {}", a.id, a.status, a.text)),
            Some(EntityKind::TrustBoundary) => model.trust_boundary(id).map(|b| {
                format!(
                    "{} {} — separates {}; crossing: {}",
                    b.id,
                    b.name,
                    b.zones.join(" | "),
                    b.crossing.join(", ")
                )
            }),
            None => None,
        };
        let ans = match ans {
            Some(a) => a,
            None => match model.tombstone(id) {
                Some(t) => format!(
                    "{} ({}) was removed in version {}: {}",
                    t.id, t.name, t.removed_in_version, t.reason
                ),
                None => return Err(unknown(id)),
            },
        };
        return ok(ans, "entity details");
    }
    let listing: Option<(String, &str)> =
        if lower.contains("attacker") || lower.contains("threat actor") {
            Some((
                model
                    .attackers
                    .iter()
                    .map(|a| {
                        format!(
                            "- {} {} ({}, likelihood {})",
                            a.id, a.name, a.position, a.likelihood
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Attackers",
            ))
        } else if lower.contains("boundar") {
            Some((
                model
                    .trust_boundaries
                    .iter()
                    .map(|b| format!("- {} {} ({})", b.id, b.name, b.zones.join(" | ")))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Trust boundaries",
            ))
        } else if lower.contains("assumption") {
            Some((
                model
                    .assumptions
                    .iter()
                    .map(|a| format!("- {} {}", a.id, a.text))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Assumptions",
            ))
        } else if lower.contains("objective") || lower.contains(" cos") {
            Some((
                model
                    .control_objectives
                    .iter()
                    .map(|c| format!("- {} [{}] {}", c.id, c.risk_tier, c.statement))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Control objectives",
            ))
        } else if lower.contains("control") {
            Some((
                model
                    .controls
                    .iter()
                    .map(|c| format!("- {} {} ({})", c.id, c.name, c.status))
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Controls",
            ))
        } else if lower.contains("asset") {
            Some((
                model
                    .assets
                    .iter()
                    .map(|a| {
                        format!(
                            "- {} {} (impact {}, {})",
                            a.id,
                            a.name,
                            a.impact,
                            format_properties(&a.properties)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                "Assets",
            ))
        } else {
            None
        };
    if let Some((body, title)) = listing {
        return ok(format!("{title}:\n{body}"), "entity list");
    }
    // Keyword search over names.
    let text = Text::new(question);
    let stop: BTreeSet<&str> = [
        "what", "which", "the", "a", "an", "is", "are", "of", "to", "for", "in", "on", "do",
        "does", "we", "our", "how", "about", "there", "any", "with", "and", "or",
    ]
    .into();
    let keys: Vec<&str> = text
        .tokens
        .iter()
        .map(|t| t.norm.as_str())
        .filter(|w| !stop.contains(w) && w.len() > 2)
        .collect();
    let hit = |s: &str| {
        let t = Text::new(s);
        keys.iter().any(|k| t.tokens.iter().any(|x| x.norm == *k))
    };
    let mut found = Vec::new();
    found.extend(
        model
            .assets
            .iter()
            .filter(|a| hit(&a.name))
            .map(|a| format!("- asset {} {}", a.id, a.name)),
    );
    found.extend(
        model
            .attackers
            .iter()
            .filter(|a| hit(&a.name))
            .map(|a| format!("- attacker {} {}", a.id, a.name)),
    );
    found.extend(
        model
            .controls
            .iter()
            .filter(|c| hit(&c.name))
            .map(|c| format!("- control {} {} ({})", c.id, c.name, c.status)),
    );
    if !found.is_empty() {
        return ok(
            format!(
                "Items in this model matching your question:\n{}",
                found.join("\n")
            ),
            "name search",
        );
    }
    ok(
        "I could not answer that from this model. I can answer: highest-risk assets or attackers, which controls are not implemented, what protects an asset/CO/attacker (e.g. \"what protects A2?\"), at-risk / not-started / verified objectives, a status summary, details of any id (A1, ATK2, CO3, CTRL-04), and lists of assets, attackers, boundaries, assumptions, objectives or controls."
            .into(),
        "no matching question pattern",
    )
}

/// Answers a methodology question from the glossary.
pub fn answer_general(catalog: &Catalog, question: &str) -> Result<StepOutput<String>> {
    if question.trim().is_empty() {
        return Err(EngineError::InvalidInput("the question is empty".into()));
    }
    let text = Text::new(question);
    match glossary_hit(catalog, &text) {
        Some(i) => {
            let t = &catalog.terms[i];
            let also = if t.aliases.is_empty() {
                String::new()
            } else {
                format!(" (also: {})", t.aliases.join(", "))
            };
            Ok(StepOutput {
                data: format!("{}{also}: {}", t.term, t.definition),
                thought: format!("Answered from the built-in glossary entry \"{}\".", t.term),
            })
        }
        None => {
            let terms: Vec<&str> = catalog.terms.iter().map(|t| t.term.as_str()).collect();
            Ok(StepOutput {
                data: format!(
                    "The built-in glossary has no entry for that question. Terms it covers: {}.",
                    terms.join(", ")
                ),
                thought: "No glossary term matched the question.".into(),
            })
        }
    }
}
