//! The built-in engine: offline, deterministic, driven by the [`Catalog`].
//!
//! Determinism: every list is built in catalog or text order, sets are ordered, no clock,
//! no randomness — the same description and catalog always give the same model.

use super::catalog::{AssetEntry, AttackerEntry, Catalog, CatalogError};
use super::conversation;
use super::ground::{self, Chunks, Np};
use super::text::{MatchResult, Text, match_triggers, normalize_word, quote_list};
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

    /// The catalog entry an asset stands for: the entry of its name among its tags, else
    /// the first entry whose key is one of its tags (grounded assets carry the brief's name).
    fn asset_entry_for(&self, a: &NewAsset) -> Option<&AssetEntry> {
        let tagged = || {
            self.catalog
                .assets
                .iter()
                .filter(|e| a.tags.contains(&e.key))
        };
        tagged()
            .find(|e| e.name == a.name)
            .or_else(|| tagged().next())
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

    /// The asset a catalog entry stands for (used by refinement and by benchmarks that
    /// build large models).
    pub fn new_asset_from(&self, e: &AssetEntry, rationale: String) -> NewAsset {
        NewAsset {
            name: e.name.clone(),
            description: e.description.clone(),
            properties: e.properties.clone(),
            impact: e.impact,
            rationale,
            tags: e.tags.clone(),
        }
    }

    /// The attacker a catalog entry stands for.
    pub fn new_attacker_from(&self, e: &AttackerEntry, rationale: String) -> NewAttacker {
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
        let (found, out) = self.match_asset_spans(text);
        (found.into_iter().map(|(e, h, _)| (e, h)).collect(), out)
    }

    /// Like [`BuiltinEngine::match_assets`], with the token spans of each entry's mentions.
    #[allow(clippy::type_complexity)]
    fn match_asset_spans<'c>(
        &'c self,
        text: &Text<'_>,
    ) -> (
        Vec<(&'c AssetEntry, Vec<String>, Vec<(usize, usize)>)>,
        Vec<(&'c AssetEntry, Vec<String>)>,
    ) {
        let mut found = Vec::new();
        let mut out = Vec::new();
        let chunks = Chunks::new(text);
        for (i, e) in self.catalog.assets.iter().enumerate() {
            let m = without_verbs(&chunks, match_triggers(text, &e.triggers));
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
            found
                .into_iter()
                .map(|(_, _, e, h, sp)| (e, h, sp))
                .collect(),
            out,
        )
    }

    /// True when a phrase names people of the system (users, staff, administrators), not a
    /// third party: who may be granted an action.
    fn person_role(&self, c: &Chunks<'_, '_>, np: Np) -> bool {
        self.role_archetype(c, np)
            .is_some_and(|a| !matches!(a.position, crate::domain::AttackerPosition::SupplyChain))
    }

    /// The attacker archetype whose `roles` name the head of a phrase, if any (first in
    /// catalog order; `role_exclude` modifiers disqualify).
    pub(crate) fn role_archetype(&self, c: &Chunks<'_, '_>, np: Np) -> Option<&AttackerEntry> {
        let words = c.words(np);
        let head = &words[np.head - np.from..];
        let mods = &words[..np.head - np.from];
        self.catalog.attackers.iter().find(|e| {
            e.roles.iter().any(|r| {
                let n = r.tokens.len();
                n <= words.len()
                    && n >= head.len()
                    && words[words.len() - n..]
                        .iter()
                        .zip(&r.tokens)
                        .all(|(a, b)| *a == b.as_str())
            }) && !mods.iter().any(|m| e.role_exclude.contains(*m))
        })
    }

    /// People and parties the description names whose heads are `roles` of an archetype:
    /// at most three per archetype (first mentioned, distinct head words), in text order.
    fn grounded_roles(&self, c: &Chunks<'_, '_>) -> Vec<(&AttackerEntry, Np)> {
        let mut out: Vec<(&AttackerEntry, Np)> = Vec::new();
        for e in self
            .catalog
            .attackers
            .iter()
            .filter(|e| !e.roles.is_empty())
        {
            let mut mine: Vec<Np> = Vec::new();
            for r in &e.roles {
                for np in c.head_phrases(&r.tokens) {
                    if self.role_archetype(c, np).is_none_or(|a| a.key != e.key) {
                        continue;
                    }
                    let head = c.words(np)[np.head - np.from..].join(" ");
                    if mine
                        .iter()
                        .any(|m| c.words(*m)[m.head - m.from..].join(" ") == head || m.to == np.to)
                    {
                        continue;
                    }
                    mine.push(np);
                }
            }
            mine.sort();
            out.extend(mine.into_iter().take(MAX_ROLES).map(|np| (e, np)));
        }
        out.sort_by_key(|(_, np)| np.from);
        out
    }

    /// Assets the description names: catalog mentions (named after the phrase they head
    /// when it says more than the catalog keyword), phrases ending in a `heads` word, and
    /// privileged actions granted to people. In text order; same-named ones merged.
    fn grounded_assets<'c>(
        &'c self,
        text: &Text<'_>,
    ) -> (Vec<Found<'c>>, Vec<(&'c AssetEntry, Vec<String>)>) {
        let mut chunks = Chunks::new(text);
        // Granted actions first: their verbs ("issue credits") are not modifiers.
        let grants = {
            let is_person = |np: Np| self.person_role(&chunks, np);
            ground::grants(&chunks, &is_person)
        };
        chunks.mark_verbs(grants.iter().flat_map(|g| g.verb_at.iter().copied()));
        let chunks = chunks;
        let (found, ruled_out) = self.match_asset_spans(text);
        let mut out: Vec<Found<'c>> = Vec::new();
        // Token index of every head already claimed by a catalog mention.
        let mut claimed: BTreeSet<usize> = BTreeSet::new();
        for (e, hits, spans) in &found {
            let own: BTreeSet<&str> = e
                .triggers
                .iter()
                .flat_map(|t| t.tokens.iter().map(String::as_str))
                .collect();
            let mut grounded: Vec<Np> = Vec::new();
            let mut plain = false;
            let mut first = usize::MAX;
            for &(s, t) in spans {
                claimed.insert(t - 1);
                first = first.min(s);
                // A mention opening with a function word ("over the air") takes no modifiers.
                if chunks.ends_before(t) && !chunks.verbal(s) && chunks.is_content(s) {
                    let np = chunks.phrase(s, t);
                    if names_more(&chunks, np, &own) {
                        if !grounded.iter().any(|g| same_words(&chunks, *g, np)) {
                            grounded.push(np);
                        }
                        continue;
                    }
                }
                // The mention names the kind of a channel: "an EDI connection", "an SFTP
                // export", "a data feed over a websocket" → named after the channel.
                // ("Voice assistants link to an account": a verb after a plural subject.)
                let verb_after_plural = t + 1 < text.tokens.len()
                    && ["to", "with", "into"].contains(&text.tokens[t + 1].norm.as_str())
                    && text.quote(t - 1, t).ends_with('s');
                if t < text.tokens.len()
                    && !verb_after_plural
                    && CHANNELS.contains(&text.tokens[t].norm.as_str())
                    && chunks.ends_before(t + 1)
                    && !chunks.verbal(s)
                    && !chunks.verbal(t)
                {
                    let np = chunks.phrase(t, t + 1);
                    claimed.insert(t);
                    if !grounded.iter().any(|g| same_words(&chunks, *g, np)) {
                        grounded.push(np);
                    }
                    continue;
                }
                plain = true;
            }
            if grounded.is_empty() {
                out.push(Found {
                    entry: e,
                    extra: Vec::new(),
                    name: e.name.clone(),
                    first,
                    rationale: format!(
                        "The description mentions {} (catalog entry `{}`).",
                        quote_list(hits),
                        e.key
                    ),
                    head: None,
                });
                continue;
            }
            for (k, np) in grounded.iter().enumerate() {
                let phrase = chunks.quote(*np);
                let mut rationale = format!(
                    "The description names \"{phrase}\": {} (catalog entry `{}`).",
                    lower_first(&e.name),
                    e.key
                );
                if k == 0 && plain {
                    rationale.push_str(&format!(" Also mentioned as {}.", quote_list(hits)));
                }
                // Whose secret: "a payouts provider whose API secret …".
                let owner = if e.tags.contains("secrets") || e.tags.contains("credentials") {
                    owner_of(&chunks, *np)
                } else {
                    None
                };
                if let Some(o) = &owner {
                    rationale.push_str(&format!(" It belongs to \"{o}\"."));
                }
                out.push(Found {
                    entry: e,
                    extra: Vec::new(),
                    name: match &owner {
                        Some(o) => format!("{} ({o})", ground::capitalize(&phrase)),
                        None => ground::capitalize(&phrase),
                    },
                    first: np.from,
                    rationale,
                    head: None,
                });
            }
        }
        // Phrases ending in a head word of an entry with `heads`.
        for e in self
            .catalog
            .assets
            .iter()
            .filter(|e| !e.heads.is_empty() || !e.lone_heads.is_empty())
        {
            if ruled_out.iter().any(|(o, _)| o.key == e.key) {
                continue;
            }
            // Longest heads first: "key pair" before "key".
            let mut heads: Vec<_> = e
                .lone_heads
                .iter()
                .map(|h| (h, true))
                .chain(e.heads.iter().map(|h| (h, false)))
                .collect();
            heads.sort_by_key(|(h, _)| std::cmp::Reverse(h.tokens.len()));
            for (h, alone) in heads {
                // A gerund head ("reading", "setting") is not the verb ("reads", "sets").
                let gerund = h.text.ends_with("ing");
                for np in chunks.head_phrases(&h.tokens) {
                    if (np.head..np.to).any(|k| claimed.contains(&k))
                        || !(alone || np.modified())
                        || (gerund
                            && !text
                                .quote(np.to - 1, np.to)
                                .to_ascii_lowercase()
                                .contains("ing"))
                    {
                        continue;
                    }
                    let words = chunks.words(np);
                    let mods = &words[..np.head - np.from];
                    // "Our food delivery app …" opening the description is the system
                    // itself, not one of its components.
                    let itself = e.key == SYSTEM_COMPONENT
                        && chunks.sentence_of(np.from) == 0
                        && np.from > 0
                        && text.tokens[np.from - 1].norm == "our";
                    // People are attackers, not assets: "support agents" is no component.
                    if itself
                        || self.person_role(&chunks, np)
                        || mods.iter().any(|m| e.head_exclude.contains(*m))
                        || (!alone && mods.iter().all(|m| generic_modifier(m)))
                    {
                        continue;
                    }
                    // "approval from a platform engineer": whose capability it is.
                    let np = match chunks.phrase_after(np.to + 1) {
                        Some(who)
                            if e.key == PRIVILEGED_CAPABILITY
                                && np.to < text.tokens.len()
                                && ["from", "by"].contains(&text.tokens[np.to].norm.as_str())
                                && self.person_role(&chunks, who) =>
                        {
                            Np { to: who.to, ..np }
                        }
                        _ => np,
                    };
                    claimed.extend(np.head..np.to);
                    let phrase = chunks.quote(np);
                    let owner = if e.tags.contains("secrets") {
                        owner_of(&chunks, np)
                    } else {
                        None
                    };
                    let name = match &owner {
                        Some(o) => format!("{} ({o})", ground::capitalize(&phrase)),
                        None => ground::capitalize(&phrase),
                    };
                    let mut rationale = format!(
                        "The description names \"{phrase}\"; a phrase ending in \"{}\" is {} (catalog entry `{}`).",
                        h.text,
                        lower_first(&e.name),
                        e.key
                    );
                    if let Some(o) = owner {
                        rationale.push_str(&format!(" It belongs to \"{o}\"."));
                    }
                    out.push(Found {
                        entry: e,
                        extra: Vec::new(),
                        name,
                        first: np.from,
                        rationale,
                        head: Some((
                            chunks.words(np)[np.head - np.from..].join(" "),
                            bare(&chunks, np),
                        )),
                    });
                    // Coordinated phrases of the same kind: "limits, whitelists and quorum
                    // rules", "grades and attendance", "allow and block lists".
                    for (c, shared) in chunks.conjuncts(np) {
                        let cw = chunks.words(c);
                        // A capability is an action, not a list ("after 24 hours and
                        // approval"); vague heads name nothing.
                        if e.key == PRIVILEGED_CAPABILITY
                            || (c.from..c.to).any(|k| claimed.contains(&k))
                            || self.person_role(&chunks, c)
                            || self.role_archetype(&chunks, c).is_some()
                            || cw.iter().all(|w| generic_modifier(w))
                            || ground::vague_head(cw[cw.len() - 1])
                        {
                            continue;
                        }
                        claimed.extend(c.from..c.to);
                        let cq = chunks.quote(c);
                        let name = if shared {
                            format!(
                                "{cq} {}",
                                chunks.quote(Np {
                                    from: np.head,
                                    ..np
                                })
                            )
                        } else {
                            cq.clone()
                        };
                        out.push(Found {
                            entry: e,
                            extra: Vec::new(),
                            name: ground::capitalize(&name),
                            first: c.from,
                            rationale: format!(
                                "The description names \"{cq}\" together with \"{phrase}\", so it is of the same kind: {} (catalog entry `{}`).",
                                lower_first(&e.name),
                                e.key
                            ),
                            head: None,
                        });
                    }
                }
            }
        }
        // What the description says the system keeps, moves or acts on ("camera clips are
        // uploaded", "returns are graded", "keeps a local schedule") when no entry above
        // claimed it: records of the system (`business-record`), named as written, with an
        // "of" tail ("segments of members").
        if let Some(rec) = self
            .catalog
            .assets
            .iter()
            .find(|e| e.key == DATA_FRAME_ENTRY)
            .filter(|e| !ruled_out.iter().any(|(o, _)| o.key == e.key))
        {
            // Verbs that named the kind of the thing they are said of ("clips are
            // *uploaded*"): catalog entries mentioned only by them are that thing's kinds.
            let mut absorbed: BTreeSet<usize> = BTreeSet::new();
            for (np, v, passive) in chunks.data_frames() {
                // Only the head need be free: "Terraform state files" is not the
                // "Terraform" a catalog entry claimed.
                let head_claimed = (np.head..np.to).any(|k| claimed.contains(&k));
                let np = Np {
                    to: chunks.of_tail(np).map_or(np.to, |t| t.to),
                    ..np
                };
                if head_claimed
                    || self.person_role(&chunks, np)
                    || self.role_archetype(&chunks, np).is_some()
                    || chunks.words(np).iter().all(|w| generic_modifier(w))
                {
                    continue;
                }
                let mut all = vec![(np, false)];
                all.extend(chunks.conjuncts(np));
                for (c, _) in all {
                    if (c.head..c.to).any(|k| claimed.contains(&k))
                        || ground::vague_head(chunks.words(c)[c.to - c.from - 1])
                        || self.person_role(&chunks, c)
                        || self.role_archetype(&chunks, c).is_some()
                        || chunks.words(c).iter().all(|w| generic_modifier(w))
                    {
                        continue;
                    }
                    claimed.extend(c.from..c.to);
                    absorbed.insert(v);
                    let phrase = chunks.quote(c);
                    let said = if passive {
                        format!(
                            "says \"{phrase}\" {} {}",
                            text.quote(v - 1, v).to_ascii_lowercase(),
                            text.quote(v, v + 1).to_ascii_lowercase()
                        )
                    } else {
                        format!(
                            "names \"{phrase}\" after \"{}\"",
                            text.quote(v, v + 1).to_ascii_lowercase()
                        )
                    };
                    let kinds: Vec<&AssetEntry> = found
                        .iter()
                        .filter(|(e, _, spans)| e.key != rec.key && spans.contains(&(v, v + 1)))
                        .map(|(e, _, _)| *e)
                        .collect();
                    out.push(Found {
                        entry: rec,
                        extra: kinds,
                        name: ground::capitalize(&phrase),
                        first: c.from,
                        rationale: format!(
                            "The description {said}: something the system keeps or acts on, {} (catalog entry `{}`).",
                            lower_first(&rec.name),
                            rec.key
                        ),
                        head: None,
                    });
                }
            }
            // A catalog entry mentioned only by such verbs stands in no longer: the things
            // named carry its kind.
            for (e, _, spans) in &found {
                if spans
                    .iter()
                    .all(|&(a, b)| b == a + 1 && absorbed.contains(&a))
                {
                    out.retain(|f| !(f.entry.key == e.key && f.name == e.name));
                }
            }
        }
        // Privileged actions granted to people ("support agents can refund orders").
        if let Some(cap) = self
            .catalog
            .assets
            .iter()
            .find(|e| e.key == PRIVILEGED_CAPABILITY)
        {
            for g in grants {
                let staff = g
                    .who
                    .and_then(|np| self.role_archetype(&chunks, np))
                    .is_some_and(|a| {
                        matches!(a.position, crate::domain::AttackerPosition::Insider)
                    });
                if !(g.privileged() || staff) {
                    continue;
                }
                let action = shorten_words(&g.action, 80);
                let who = g.who.map(|np| chunks.quote(np));
                let name = match &who {
                    Some(w) => format!("{} ({})", ground::capitalize(&action), lower_first(w)),
                    None => ground::capitalize(&action),
                };
                let rationale = match &who {
                    Some(w) => format!(
                        "The description lets \"{w}\" \"{}\": a privileged capability (catalog entry `{}`).",
                        g.action, cap.key
                    ),
                    None => format!(
                        "The description grants the ability to \"{}\": a privileged capability (catalog entry `{}`).",
                        g.action, cap.key
                    ),
                };
                out.push(Found {
                    entry: cap,
                    extra: Vec::new(),
                    name,
                    first: g.span.0,
                    rationale,
                    head: None,
                });
            }
        }
        // The generic user accounts are the accounts of the users the description names:
        // "User accounts (household members, guests)".
        let users: Vec<String> = self
            .grounded_roles(&chunks)
            .into_iter()
            .filter(|(a, _)| a.key == USER_ROLES)
            .map(|(_, np)| chunks.quote(np).to_lowercase())
            .collect();
        if !users.is_empty() {
            for f in out
                .iter_mut()
                .filter(|f| f.entry.key == USER_ACCOUNTS && f.name == f.entry.name)
            {
                f.name = format!("{} ({})", f.entry.name, users.join(", "));
                f.rationale.push_str(&format!(
                    " The description names these users: {}.",
                    users.join(", ")
                ));
            }
        }
        out.sort_by_key(|f| f.first);
        let out = merge_same_heads(out);
        // Same name (case-insensitive): one asset with both entries' kinds.
        let mut merged: Vec<Found<'c>> = Vec::new();
        for f in out {
            if let Some(m) = merged
                .iter_mut()
                .find(|m| m.name.eq_ignore_ascii_case(&f.name))
            {
                if m.entry.key != f.entry.key && !m.extra.iter().any(|x| x.key == f.entry.key) {
                    m.extra.push(f.entry);
                    m.rationale.push_str(&format!(" {}", f.rationale));
                }
                continue;
            }
            merged.push(f);
        }
        (merged, ruled_out)
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
        let chunks = Chunks::new(text);
        for (i, e) in self.catalog.attackers.iter().enumerate() {
            let m = without_verbs(&chunks, match_triggers(text, &e.triggers));
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

/// A mention that is one verb ("and *report* to auditors", "the specialist *reviews* the
/// run") does not name the catalog thing: such spans are dropped.
fn without_verbs(c: &Chunks<'_, '_>, m: MatchResult) -> MatchResult {
    if !m.spans.iter().any(|&(s, e)| e == s + 1 && c.verbal(s)) {
        return m;
    }
    let mut r = MatchResult {
        negated: m.negated,
        ..MatchResult::default()
    };
    for &(s, e) in m
        .spans
        .iter()
        .filter(|&&(s, e)| !(e == s + 1 && c.verbal(s)))
    {
        r.first.get_or_insert(s);
        r.spans.push((s, e));
        let q = c.text.quote(s, e).to_string();
        if !r.hits.iter().any(|h| h.eq_ignore_ascii_case(&q)) {
            r.hits.push(q);
        }
    }
    r
}

/// The social-engineering archetype.
const SOCIAL_ENGINEER: &str = "social-engineer";

/// Words of a granted action that change what protects a customer's account.
const ACCOUNT_WORDS: &[&str] = &[
    "account",
    "password",
    "phone",
    "email",
    "address",
    "limit",
    "card",
    "pin",
    "mfa",
    "point",
    "balance",
    "credential",
];

/// The catalog entry of user accounts, named after the users the description names.
const USER_ACCOUNTS: &str = "user-accounts";

/// The archetype whose roles are the system's users.
const USER_ROLES: &str = "authenticated-user";

/// The catalog entry of what the description says the system keeps or acts on.
const DATA_FRAME_ENTRY: &str = "business-record";

/// The catalog entry of components the description names ("door controllers").
const SYSTEM_COMPONENT: &str = "system-component";

/// Nouns of data channels a catalog mention can modify ("EDI connection", "SFTP export").
const CHANNELS: &[&str] = &[
    "connection",
    "link",
    "feed",
    "channel",
    "interface",
    "export",
    "import",
    "tunnel",
    "integration",
    "transfer",
    "upload",
];

/// Generic attackers left out when only asset kinds select them and specific external
/// attackers stand (see [`Engine::generate_attackers`]).
const TAG_ONLY_GENERIC: &[&str] = &["external-unauthenticated", "xss-attacker"];

/// Most attackers named after roles of one archetype.
const MAX_ROLES: usize = 3;

/// The catalog entry that privileged actions granted to people become assets of.
const PRIVILEGED_CAPABILITY: &str = "privileged-capability";

/// Modifiers that say nothing about what a thing is ("internal API", "new database").
const GENERIC_MODIFIERS: &[&str] = &[
    "public",
    "private",
    "internal",
    "external",
    "new",
    "main",
    "existing",
    "single",
    "separate",
    "central",
    "dedicated",
    "custom",
    "simple",
    "modern",
    "same",
    "various",
    "multiple",
    "entire",
    "whole",
    "full",
    "local",
    "remote",
    "online",
    "offline",
    "secure",
    "own",
    "certain",
    "specific",
    "relevant",
    "additional",
    "related",
    "current",
    "old",
    "second",
    "other",
    "small",
    "large",
    "big",
    "few",
    "standard",
    "default",
    "primary",
    "core",
    "key",
    "real",
    "live",
    "daily",
    "each",
    "given",
    "necessary",
    "usual",
    "general",
    // Counts say how many, not what ("six confirmations", "three fulfilment centres").
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "dozen",
    "hundreds",
    "thousands",
    "millions",
];

fn generic_modifier(word: &str) -> bool {
    static S: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        GENERIC_MODIFIERS
            .iter()
            .map(|w| normalize_word(w))
            .collect()
    })
    .contains(word)
}

/// An asset found in the description (see [`BuiltinEngine::grounded_assets`]).
struct Found<'c> {
    entry: &'c AssetEntry,
    /// Entries of same-named assets merged into this one.
    extra: Vec<&'c AssetEntry>,
    name: String,
    first: usize,
    rationale: String,
    /// Head words of a head-word phrase, and whether the phrase is bare (no modifier but
    /// possessives and generic adjectives: "grades", "the child's grades").
    head: Option<(String, bool)>,
}

/// True when the phrase has no modifier that says what kind of thing it is.
fn bare(c: &Chunks<'_, '_>, np: Np) -> bool {
    let words = c.words(np);
    (np.from..np.head).all(|i| c.possessive(i) || generic_modifier(words[i - np.from]))
}

/// Same-head assets of one kind become one when the description also names the bare
/// thing: "grades", "final grades", "the child's grades" and "a locked grade" are the
/// grades. Named after the bare phrase (plural preferred), first position kept.
fn merge_same_heads(found: Vec<Found<'_>>) -> Vec<Found<'_>> {
    let mut out: Vec<Found<'_>> = Vec::new();
    for f in found {
        let Some((head, is_bare)) = f.head.clone() else {
            out.push(f);
            continue;
        };
        let same = out.iter_mut().find(|o| {
            o.entry.key == f.entry.key
                && o.head
                    .as_ref()
                    .is_some_and(|(h, b)| *h == head && (*b || is_bare))
        });
        let Some(o) = same else {
            out.push(f);
            continue;
        };
        let o_bare = o.head.as_ref().is_some_and(|(_, b)| *b);
        let take_name = is_bare && (!o_bare || (f.name.ends_with('s') && !o.name.ends_with('s')));
        let also = if take_name {
            o.name.clone()
        } else {
            f.name.clone()
        };
        if take_name {
            o.name = f.name.clone();
            o.head = f.head.clone();
        }
        o.rationale
            .push_str(&format!(" Also named \"{}\".", also.to_lowercase()));
    }
    out
}

/// True when the phrase says more than the entry's own keywords: a modifier that is not
/// one of the entry's trigger words nor a generic adjective ("carrier API", not "REST API").
fn names_more(c: &Chunks<'_, '_>, np: Np, own: &BTreeSet<&str>) -> bool {
    let words = c.words(np);
    words[..np.head - np.from]
        .iter()
        .any(|w| !own.contains(w) && !generic_modifier(w))
}

fn same_words(c: &Chunks<'_, '_>, a: Np, b: Np) -> bool {
    c.words(a) == c.words(b)
}

/// Whose secret a phrase is: "a payouts provider whose API secret" → "payouts provider";
/// "the API key of the licensing board" → "licensing board"; "the board's API with a shared
/// API key" → "board's API".
fn owner_of(c: &Chunks<'_, '_>, np: Np) -> Option<String> {
    let tokens = &c.text.tokens;
    if np.from >= 2 && tokens[np.from - 1].norm == "whose" {
        return c.phrase_before(np.from - 1).map(|o| c.quote(o));
    }
    if np.to + 1 < tokens.len() && tokens[np.to].norm == "of" {
        return c.phrase_after(np.to + 1).map(|o| c.quote(o));
    }
    if np.from >= 2
        && ["with", "using", "via", "by"].contains(&tokens[np.from - 1].norm.as_str())
        && let Some(o) = c.phrase_before(np.from - 1)
        && [
            "api",
            "service",
            "provider",
            "gateway",
            "platform",
            "connector",
            "integration",
        ]
        .contains(&tokens[o.to - 1].norm.as_str())
        && o.modified()
    {
        return Some(c.quote(o));
    }
    None
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // Keep acronyms and proper names ("SAML", "Stripe ...") as written.
        Some(f) if f.is_uppercase() && !c.clone().next().is_some_and(char::is_uppercase) => {
            f.to_lowercase().collect::<String>() + c.as_str()
        }
        Some(f) => f.to_string() + c.as_str(),
        None => String::new(),
    }
}

/// At most `max` characters, cut at a word boundary.
fn shorten_words(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    for w in s.split_whitespace() {
        if out.chars().count() + w.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.trim_end_matches([',', ';']).to_string() + "…"
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
        let (found, ruled_out) = self.grounded_assets(&text);
        let mut assets: Vec<NewAsset> = found
            .iter()
            .map(|f| {
                let mut a = self.new_asset_from(f.entry, f.rationale.clone());
                a.name = f.name.clone();
                for x in &f.extra {
                    a.tags.extend(x.tags.iter().cloned());
                    a.properties.extend(x.properties.iter().copied());
                    if x.impact.rank() > a.impact.rank() {
                        a.impact = x.impact;
                    }
                }
                a
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
                .map(|f| {
                    if f.name == f.entry.name {
                        f.name.clone()
                    } else {
                        format!("{} (`{}`)", f.name, f.entry.key)
                    }
                })
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
        // 1. More specific entries replace the generic ones they supersede (only assets that
        // still carry the generic entry's catalog name; a grounded name is specific).
        let keys: BTreeMap<String, usize> = assets
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                self.asset_entry_for(a)
                    .filter(|e| e.name == a.name)
                    .map(|e| (e.key.clone(), i))
            })
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
        let chunks = Chunks::new(&text);
        let roles = self.grounded_roles(&chunks);
        let grants = ground::grants(&chunks, &|np| self.role_archetype(&chunks, np).is_some());
        // Archetypes in order: selected ones first (text order), then archetypes only the
        // named roles select. A named role replaces its archetype's generic attacker.
        let mut order: Vec<(&AttackerEntry, Option<String>)> =
            found.iter().map(|(e, r)| (*e, Some(r.clone()))).collect();
        for (e, _) in &roles {
            if !order.iter().any(|(o, _)| o.key == e.key)
                && !ruled_out.iter().any(|(o, _)| o.key == e.key)
            {
                order.push((*e, None));
            }
        }
        let mut attackers: Vec<NewAttacker> = Vec::new();
        for (e, why) in order {
            let named: Vec<Np> = roles
                .iter()
                .filter(|(r, _)| r.key == e.key)
                .map(|(_, np)| *np)
                .collect();
            if named.is_empty() {
                attackers.push(self.new_attacker_from(e, why.unwrap_or_default()));
                continue;
            }
            for np in named {
                let phrase = chunks.quote(np);
                let mut a = self.new_attacker_from(
                    e,
                    format!(
                        "The description names \"{phrase}\" (archetype `{}`: {}).",
                        e.key,
                        lower_first(&e.name)
                    ),
                );
                a.name = ground::capitalize(&e.role_name.replace("{}", &phrase));
                let can: Vec<&str> = grants
                    .iter()
                    .filter(|g| g.who.is_some_and(|w| w.to == np.to))
                    .map(|g| g.action.as_str())
                    .collect();
                if !can.is_empty() {
                    a.capability = format!(
                        "{} The description lets them {}.",
                        a.capability,
                        can.join("; ")
                    );
                }
                // The same role named twice ("HR administrators" as subject and object).
                if !attackers
                    .iter()
                    .any(|o| o.name.eq_ignore_ascii_case(&a.name))
                {
                    attackers.push(a);
                }
            }
        }
        let mut thought = format!(
            "Checked {} attacker archetypes against the description and the asset kinds. ",
            self.catalog.attackers.len()
        );
        // Staff who may change a customer's account ("call-centre agents can merge duplicate
        // accounts", "support can reset passwords") are whom a social engineer calls,
        // pretending to be the customer.
        if !attackers.iter().any(|a| a.archetype == SOCIAL_ENGINEER)
            && !ruled_out.iter().any(|(o, _)| o.key == SOCIAL_ENGINEER)
            && let Some(se) = self.catalog.attacker(SOCIAL_ENGINEER)
            && let Some((who, action)) = grants.iter().find_map(|g| {
                let who = g.who?;
                let staff = self.role_archetype(&chunks, who).is_some_and(|a| {
                    matches!(a.position, crate::domain::AttackerPosition::Insider)
                });
                let lower = g.action.to_lowercase();
                (staff && ACCOUNT_WORDS.iter().any(|w| lower.contains(w)))
                    .then(|| (chunks.quote(who), g.action.clone()))
            })
        {
            attackers.push(self.new_attacker_from(
                se,
                format!(
                    "The description lets \"{who}\" \"{action}\": whoever convinces them to act for a customer takes the customer's account (archetype `{}`).",
                    se.key
                ),
            ));
            thought.push_str(&format!(
                "Added \"{}\": staff may change customers' accounts. ",
                se.name
            ));
        }
        // Generic attackers selected only because the model has internet-facing or web
        // assets (the internet attacker, the client-side injection attacker) say nothing the
        // specific external attackers (account takeover, fraud, scraping, phishing…) do not:
        // left out when two or more of those stand. Their controls still apply (see
        // `generate_controls`).
        let specific_external = attackers
            .iter()
            .filter(|a| {
                !TAG_ONLY_GENERIC.contains(&a.archetype.as_str())
                    && a.position == crate::domain::AttackerPosition::External
            })
            .count();
        if specific_external >= 2 {
            for g in self
                .catalog
                .attackers
                .iter()
                .filter(|e| TAG_ONLY_GENERIC.contains(&e.key.as_str()))
            {
                if !without_verbs(&chunks, match_triggers(&text, &g.triggers)).matched()
                    && attackers.iter().any(|a| a.archetype == g.key)
                {
                    attackers.retain(|a| a.archetype != g.key);
                    thought.push_str(&format!(
                        "Left out \"{}\": only the asset kinds select it and {specific_external} specific external attackers cover it. ",
                        g.name
                    ));
                }
            }
        }
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
        // Without the generic internet or client-side attacker (left out when specific
        // external attackers cover them), the external attackers stand for them: their
        // controls still apply.
        let absent_generic: Vec<&str> = TAG_ONLY_GENERIC
            .iter()
            .copied()
            .filter(|g| !archetypes.values().any(|k| *k == Some(*g)))
            .collect();
        let external: BTreeSet<&str> = model
            .attackers
            .iter()
            .filter(|a| a.position == crate::domain::AttackerPosition::External)
            .map(|a| a.id.as_str())
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
                if !c.attackers.is_empty()
                    && !archetype.is_some_and(|k| c.attackers.contains(k))
                    && (!external.contains(co.attacker_id.as_str())
                        || !absent_generic.iter().any(|g| c.attackers.contains(*g)))
                {
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
