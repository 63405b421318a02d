//! Grounding: what a description actually names, in its own words.
//!
//! Catalog keywords alone give every model the same few generic assets ("REST API", "Stored
//! credentials") and miss what the catalog has no keyword for. This module finds the noun
//! phrases of the description (a head word with the modifiers before it: "per-carrier API
//! keys", "proof-of-delivery photos") so that
//! - a catalog entry mentioned as the head of a longer phrase is named after it ("carrier API"
//!   → asset "Carrier API" of entry `rest-api`);
//! - entries with `heads` turn phrases ending in a head word into assets ("Stripe signing
//!   secret", "routing rules", "rate confirmations"), with the owner of a secret attached
//!   ("a payouts provider whose API secret …" → "API secret (payouts provider)");
//! - the actions the description grants to people ("support agents can refund orders and
//!   issue credits") become privileged-capability assets;
//! - attacker archetypes with `roles` become attackers named after the people and parties
//!   the description names ("Claims adjusters abusing legitimate access").
//!
//! A heuristic chunker over the engine's tokens (word lists for determiners, prepositions,
//! auxiliaries and common verbs; punctuation ends a phrase; hyphens join words), not a
//! parser. Pure and deterministic.

use super::text::{Text, normalize_word};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Words that never belong to a noun phrase: determiners, pronouns, prepositions,
/// conjunctions, auxiliaries, modals and frequent adverbs.
const STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "this",
    "that",
    "these",
    "those",
    "each",
    "every",
    "any",
    "all",
    "its",
    "it",
    "their",
    "our",
    "your",
    "his",
    "her",
    "my",
    "some",
    "own",
    "they",
    "them",
    "we",
    "us",
    "you",
    "he",
    "she",
    "who",
    "whom",
    "whose",
    "which",
    "what",
    "where",
    "when",
    "why",
    "how",
    "there",
    "here",
    "of",
    "in",
    "on",
    "at",
    "to",
    "from",
    "for",
    "with",
    "by",
    "through",
    "via",
    "over",
    "under",
    "into",
    "onto",
    "about",
    "across",
    "against",
    "between",
    "after",
    "before",
    "during",
    "within",
    "without",
    "as",
    "than",
    "per",
    "and",
    "or",
    "but",
    "nor",
    "if",
    "then",
    "else",
    "so",
    "also",
    "only",
    "often",
    "just",
    "even",
    "still",
    "both",
    "either",
    "neither",
    "not",
    "no",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "has",
    "have",
    "had",
    "do",
    "does",
    "did",
    "can",
    "could",
    "may",
    "might",
    "must",
    "shall",
    "should",
    "will",
    "would",
    "cannot",
    "other",
    "another",
    "such",
    "several",
    "many",
    "much",
    "more",
    "most",
    "less",
    "least",
    "few",
    "up",
    "out",
    "off",
    "down",
    "back",
    "again",
    "never",
    "always",
    "once",
    "while",
    "until",
    "unless",
    "because",
    "whether",
    "every",
    "new",
    "same",
    "themselves",
    "itself",
    "directly",
    "automatically",
    "remotely",
    "manually",
    "immediately",
    "first",
    "later",
    "now",
    "today",
    "sometimes",
    "usually",
    "together",
    "alongside",
    "whenever",
    "anyone",
    "someone",
    "everyone",
    "nobody",
    "something",
    "anything",
    "everything",
    "nothing",
    "like",
    "using",
    "including",
    "regarding",
    "following",
    "according",
    "via",
    "whereas",
    "although",
];

/// Frequent verbs of feature descriptions (any form; compared normalised): they end a noun
/// phrase. Verbs that are also frequent noun modifiers are in [`NOUN_VERBS`].
const VERBS: &[&str] = &[
    "assign",
    "receive",
    "authenticate",
    "produce",
    "store",
    "upload",
    "keep",
    "kept",
    "decide",
    "see",
    "use",
    "send",
    "sent",
    "create",
    "manage",
    "download",
    "configure",
    "define",
    "submit",
    "connect",
    "sync",
    "read",
    "write",
    "wrote",
    "written",
    "enter",
    "verify",
    "reach",
    "forward",
    "push",
    "expose",
    "look",
    "answer",
    "join",
    "require",
    "generate",
    "deliver",
    "get",
    "got",
    "give",
    "gave",
    "given",
    "leave",
    "left",
    "affect",
    "handle",
    "pass",
    "accrue",
    "tick",
    "contain",
    "include",
    "mount",
    "sit",
    "sat",
    "arrive",
    "apply",
    "evaluate",
    "maintain",
    "expire",
    "replicate",
    "transform",
    "restrict",
    "fed",
    "collect",
    "enforce",
    "distribute",
    "rebalance",
    "reconcile",
    "derive",
    "resell",
    "fail",
    "sell",
    "sold",
    "redeem",
    "buy",
    "bought",
    "earn",
    "make",
    "made",
    "take",
    "took",
    "taken",
    "find",
    "found",
    "held",
    "help",
    "listen",
    "ship",
    "carry",
    "provide",
    "serve",
    "persist",
    "become",
    "became",
    "remain",
    "seem",
    "say",
    "said",
    "tell",
    "know",
    "knew",
    "think",
    "want",
    "try",
    "continue",
    "keep",
    "bring",
    "brought",
    "put",
    "mean",
    "meant",
    "appear",
    "lead",
    "led",
    "follow",
    "belong",
    "depend",
    "exist",
    "happen",
    "occur",
    "rely",
    "relie",
    "respond",
    "fall",
    "fell",
    "operate",
    "pretend",
    "frequently",
    "nightly",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
    "pull",
    "obtain",
    "poll",
    "detect",
    "emit",
    "consume",
    "ingest",
    "mirror",
    "protect",
    "govern",
    "reduce",
    "prevent",
    "ensure",
    "guarantee",
    "validate",
    "authorize",
    "authorise",
    "remind",
    "register",
    "enrol",
    "enroll",
    "attach",
    "embed",
    "extract",
    "translate",
    "convert",
    "calculate",
    "pair",
    "print",
    "confirm",
    "pause",
    "resume",
    "revoke",
    "renew",
    "assess",
    "determine",
    "compare",
    "combine",
    "split",
    "merge",
    "sort",
    "filter",
    "choose",
    "pick",
    "select",
    "move",
    "copy",
    "replace",
    "wait",
    "retry",
    "fetche",
    "sends",
    "gets",
    "identify",
    "exchange",
    "commands",
    "decrypt",
    "rewrite",
    "rewritten",
    "detonate",
    "claw",
    "reach",
    "see",
    "saw",
    "seen",
];

/// Verbs that are also common noun modifiers ("load record", "audit trail", "pay rules"):
/// they start a granted action but do not end a noun phrase.
const NOUN_VERBS: &[&str] = &[
    "trade",
    "farm",
    "order",
    "import",
    "publish",
    "file",
    "score",
    "rank",
    "price",
    "book",
    "reserve",
    "claim",
    "bill",
    "invoice",
    "list",
    "schedule",
    "plan",
    "test",
    "train",
    "accept",
    "act",
    "add",
    "alert",
    "allow",
    "approve",
    "archive",
    "audit",
    "ban",
    "begin",
    "bid",
    "block",
    "broadcast",
    "build",
    "built",
    "burn",
    "call",
    "change",
    "check",
    "compute",
    "countersign",
    "decrypt",
    "delete",
    "deny",
    "deploy",
    "deposit",
    "detonate",
    "disable",
    "disconnect",
    "drop",
    "edit",
    "enable",
    "encrypt",
    "end",
    "escalate",
    "export",
    "fan",
    "feed",
    "fetch",
    "freeze",
    "go",
    "goes",
    "grant",
    "hand",
    "hash",
    "hold",
    "host",
    "immobilise",
    "immobilize",
    "impersonate",
    "inspect",
    "install",
    "invite",
    "issue",
    "let",
    "lift",
    "live",
    "load",
    "lock",
    "log",
    "match",
    "mint",
    "monitor",
    "need",
    "notify",
    "offer",
    "open",
    "override",
    "paid",
    "parse",
    "pay",
    "permit",
    "place",
    "post",
    "process",
    "publish",
    "purge",
    "quarantine",
    "query",
    "raise",
    "ran",
    "reassign",
    "reconnect",
    "record",
    "refund",
    "reject",
    "release",
    "remove",
    "render",
    "reopen",
    "report",
    "reprint",
    "request",
    "resolve",
    "restore",
    "retain",
    "return",
    "review",
    "rewrite",
    "rotate",
    "route",
    "run",
    "save",
    "scan",
    "set",
    "share",
    "sign",
    "start",
    "stop",
    "stream",
    "subscribe",
    "support",
    "suspend",
    "tamper",
    "track",
    "transcribe",
    "transfer",
    "trigger",
    "tune",
    "unlock",
    "update",
    "view",
    "void",
    "waive",
    "watch",
    "went",
    "withdraw",
    "work",
];

/// Words after which a verb-like word is the verb: modals, "to", subject pronouns.
const SUBJECT_OR_MODAL: &[&str] = &[
    "to", "can", "may", "must", "will", "would", "should", "could", "we", "they", "it", "who",
    "which", "also", "then", "he", "she", "you", "i",
];

/// Words that start the object of a verb ("reads the …", "reviews those …").
const OBJECT_START: &[&str] = &[
    "a", "an", "the", "this", "these", "those", "its", "their", "our", "your", "his", "her",
    "them", "it", "each", "every", "all", "any", "some", "no",
];

/// Particles that make a verb phrasal ("sign in", "log on"): not a granted action.
const PARTICLES: &[&str] = &["in", "on", "up", "out", "off", "into"];

/// Prepositions: a phrase right after one is not a subject.
const PREPOSITIONS: &[&str] = &[
    "of", "to", "for", "with", "by", "from", "in", "on", "at", "into", "onto", "through", "via",
    "over", "under", "about", "against", "between", "after", "before", "during", "within",
    "without", "per", "like", "than", "as",
];

/// Auxiliaries: a participle after one is a verb ("are pushed"), not an adjective.
const AUXILIARIES: &[&str] = &[
    "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "get", "gets", "got",
];

/// Heads whose phrase continues with "of …" ("bill of lading", "chain of custody").
const OF_HEADS: &[&str] = &[
    "bill",
    "proof",
    "chain",
    "statement",
    "certificate",
    "date",
    "power",
    "letter",
    "notice",
    "record",
];

/// Verbs that make an action privileged when people other than the data's owner can do it.
const PRIVILEGED_VERBS: &[&str] = &[
    "override",
    "impersonate",
    "approve",
    "countersign",
    "reopen",
    "unlock",
    "immobilise",
    "immobilize",
    "disconnect",
    "reconnect",
    "grant",
    "ban",
    "suspend",
    "waive",
    "void",
    "refund",
    "reassign",
    "rebalance",
    "lift",
    "raise",
    "release",
    "block",
    "reprint",
    "tune",
    "hold",
    "credit",
    "issue",
    "delete",
    "purge",
    "escalate",
    "disable",
    "freeze",
    "unfreeze",
    "transfer",
    "withdraw",
    "mint",
    "revoke",
    "reset",
    "bypass",
    "adjust",
    "rebook",
    "cancel",
    "export",
    "access",
    "sign",
    "push",
    "edit",
];

/// Words that end a granted action ("can view addresses *to* resolve disputes").
const ACTION_END: &[&str] = &[
    "to", "that", "who", "which", "when", "after", "before", "through", "only", "if", "unless",
    "so", "for", "while", "because", "once", "until", "all", "from", "in", "on", "at", "via",
    "using", "by", "during", "where", "whose", "but", "then", "under", "as",
];

/// Participles after which the passive's subject is something the system keeps, moves or
/// acts on ("camera clips *are uploaded*", "returns *are graded*", "state files … *are
/// stored*"), in the form the normaliser gives them.
const DATA_PARTICIPLES: &[&str] = &[
    "stored",
    "kept",
    "retained",
    "archived",
    "uploaded",
    "downloaded",
    "encrypted",
    "hashed",
    "signed",
    "sealed",
    "sent",
    "emailed",
    "exported",
    "imported",
    "synced",
    "replicated",
    "cached",
    "logged",
    "recorded",
    "streamed",
    "posted",
    "published",
    "shared",
    "generated",
    "issued",
    "printed",
    "written",
    "transferred",
    "transmitted",
    "forwarded",
    "saved",
    "persisted",
    "held",
    "graded",
    "scanned",
    "attached",
    "delivered",
    "reported",
    "deleted",
    "purged",
    "approved",
    "reviewed",
    "released",
    "settled",
    "adjusted",
    "voided",
    "calculated",
    "computed",
    "bought",
    "redeemed",
    "credited",
    "restocked",
    "fetched",
    "pushed",
    "mirrored",
    "versioned",
];

/// Verbs whose object is something the system keeps ("keeps a local schedule", "exports
/// segments of members"), normalised.
const DATA_VERBS: &[&str] = &[
    "store", "keep", "retain", "archive", "export", "upload", "encrypt", "back",
];

/// Heads that name no particular thing ("the data is encrypted", "everything is logged").
const VAGUE_HEADS: &[&str] = &[
    "data",
    "information",
    "info",
    "thing",
    "everything",
    "anything",
    "something",
    "change",
    "one",
    "rest",
    "part",
    "copy",
    "time",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "year",
    "way",
    "case",
    "result",
    "output",
    "input",
    "detail",
    "lot",
];

fn data_participles() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(DATA_PARTICIPLES))
}

fn data_verbs() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(DATA_VERBS))
}

fn vague_heads() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(VAGUE_HEADS))
}

/// True when a (normalised) head word names no particular thing ("data", "hours").
pub fn vague_head(w: &str) -> bool {
    vague_heads().contains(w)
}

/// True when `set` holds the word, or the verb of an "-es" form the normaliser leaves with
/// its "e" ("publishes" → "publishe" → "publish", "fetches", "processes").
fn has(set: &HashSet<String>, w: &str) -> bool {
    set.contains(w)
        || (["she", "che", "xe", "sse", "zze"]
            .iter()
            .any(|e| w.ends_with(e))
            && set.contains(&w[..w.len() - 1]))
}

fn set(list: &'static [&'static str]) -> HashSet<String> {
    list.iter().map(|w| normalize_word(w)).collect()
}

fn stop() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(STOP))
}

fn verbs() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(VERBS))
}

/// Words after which a verb-like noun ("record", "pay") is a modifier, not a verb: "the
/// load record", "those pay rules".
const DETERMINERS: &[&str] = &[
    "a", "an", "the", "this", "these", "those", "each", "every", "any", "all", "its", "their",
    "our", "your", "his", "her", "my", "some", "no", "own", "per", "whose", "both", "either",
    "other", "another", "several", "many", "such", "of", "in", "on", "at", "from", "for", "with",
    "by", "through", "via", "into", "up", "out", "off", "down", "back",
];

fn determiners() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(DETERMINERS))
}

fn noun_verbs() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(NOUN_VERBS))
}

fn action_verbs() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v = set(VERBS);
        v.extend(set(NOUN_VERBS));
        v.extend(set(PRIVILEGED_VERBS));
        v
    })
}

fn privileged_verbs() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(PRIVILEGED_VERBS))
}

fn action_end() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(ACTION_END))
}

fn of_heads() -> &'static HashSet<String> {
    static S: OnceLock<HashSet<String>> = OnceLock::new();
    S.get_or_init(|| set(OF_HEADS))
}

/// A noun phrase: tokens `from..to`, its head `head..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Np {
    /// First token.
    pub from: usize,
    /// First token of the head word(s).
    pub head: usize,
    /// One past the last token.
    pub to: usize,
}

impl Np {
    /// True when the phrase has words before its head.
    pub fn modified(&self) -> bool {
        self.from < self.head
    }
}

/// The description's tokens with what separates them.
pub struct Chunks<'t, 'a> {
    /// The tokenised text.
    pub text: &'t Text<'a>,
    /// `brk[i]`: punctuation (a phrase boundary) between token `i-1` and `i`.
    brk: Vec<bool>,
    /// `joined[i]`: token `i` is hyphen- or slash-joined to token `i-1` ("per-carrier").
    joined: Vec<bool>,
    /// Sentence number of each token.
    sentence: Vec<usize>,
    /// Tokens known to be verbs (see [`Chunks::mark_verbs`]).
    marked: HashSet<usize>,
}

impl<'t, 'a> Chunks<'t, 'a> {
    /// Computes the separators of a tokenised text.
    pub fn new(text: &'t Text<'a>) -> Chunks<'t, 'a> {
        let n = text.tokens.len();
        let mut brk = vec![true; n];
        let mut joined = vec![false; n];
        let mut sentence = vec![0usize; n];
        let mut s = 0usize;
        for i in 1..n {
            let gap = text
                .raw
                .get(text.tokens[i - 1].end..text.tokens[i].start)
                .unwrap_or(" ");
            let g = gap.trim();
            joined[i] = matches!(g, "-" | "/" | "‐" | "‑");
            brk[i] = !joined[i] && !g.is_empty();
            // A single line break is white space (hard-wrapped text); a blank line or a
            // full stop ends a sentence.
            if gap.contains(['.', '!', '?', ';']) || gap.contains("\n\n") || gap.contains("\n\r\n")
            {
                s += 1;
            }
            sentence[i] = s;
        }
        Chunks {
            text,
            brk,
            joined,
            sentence,
            marked: HashSet::new(),
        }
    }

    fn norm(&self, i: usize) -> &str {
        self.text.tokens[i].norm.as_str()
    }

    fn raw(&self, i: usize) -> &'a str {
        let t = &self.text.tokens[i];
        &self.text.raw[t.start..t.end]
    }

    /// Number of tokens.
    pub(crate) fn len(&self) -> usize {
        self.text.tokens.len()
    }

    /// Sentence number of token `i`.
    pub fn sentence_of(&self, i: usize) -> usize {
        self.sentence.get(i).copied().unwrap_or(0)
    }

    fn is_function_word(&self, i: usize) -> bool {
        let n = self.norm(i);
        stop().contains(n) || has(verbs(), n)
    }

    /// True when token `i` can be part of a noun phrase (no function word, number or
    /// adverb).
    pub fn is_content(&self, i: usize) -> bool {
        let raw = self.raw(i);
        let adverb = raw.len() > 4 && raw.ends_with("ly");
        !(self.is_function_word(i) || raw.chars().all(|c| c.is_ascii_digit()) || adverb)
    }

    /// True when token `i` is a verb in its clause rather than a noun or a modifier:
    /// - after a modal, "to" or a subject pronoun ("can refund", "which commands");
    /// - a base form after a plural noun ("customers order from", "employees log in");
    /// - a third-person form between a singular noun (or a comma) and its object ("the
    ///   unit reads the CAN bus", "the specialist reviews the run", ", tracks GPS position");
    /// - marked by [`Chunks::mark_verbs`] (the verbs of granted actions).
    ///
    /// Only words of the verb lists qualify.
    pub fn verbal(&self, i: usize) -> bool {
        if i >= self.len() {
            return false;
        }
        if self.marked.contains(&i) {
            return true;
        }
        let n = self.norm(i);
        if !(has(verbs(), n) || has(noun_verbs(), n) || has(privileged_verbs(), n)) {
            return false;
        }
        let raw = self.raw(i).to_ascii_lowercase();
        if raw.ends_with("ing") || (raw.ends_with("ed") && !n.ends_with("ed")) {
            return false;
        }
        let linked = i > 0 && !self.brk[i] && !self.joined[i];
        if linked && SUBJECT_OR_MODAL.contains(&self.norm(i - 1)) {
            return true;
        }
        let prev_content = linked && self.is_content(i - 1) && !self.participle(i - 1);
        let prev_plural = prev_content && {
            let p = self.raw(i - 1).to_ascii_lowercase();
            p.ends_with('s') && !p.ends_with("ss")
        };
        let third_person = raw.ends_with('s') && !raw.ends_with("ss");
        if prev_plural && !third_person {
            return true;
        }
        let next_object = i + 1 < self.len()
            && !self.brk[i + 1]
            && !self.joined[i + 1]
            && (OBJECT_START.contains(&self.norm(i + 1)) || self.is_content(i + 1));
        third_person && next_object && ((prev_content && !prev_plural) || (i > 0 && self.brk[i]))
    }

    /// True when token `i` is written with a possessive ("Contractors'", "adjuster's").
    pub fn possessive(&self, i: usize) -> bool {
        let t = &self.text.tokens[i];
        let after = self.text.raw.get(t.end..).unwrap_or("");
        let raw = self.text.raw.get(t.start..t.end).unwrap_or("");
        after.starts_with(['\'', '’'])
            || raw.ends_with(['\'', '’'])
            || raw.ends_with("'s")
            || raw.ends_with("’s")
    }

    /// True when the phrase is the object of a verb or a preposition before it (determiners
    /// skipped): "remove *residents*", "to *carriers*", "in our *operations team*".
    pub fn is_object(&self, np: Np) -> bool {
        let mut j = np.from;
        while j > 0 && !self.brk[j] && OBJECT_START.contains(&self.norm(j - 1)) {
            j -= 1;
        }
        if j == 0 || self.brk[j] {
            return false;
        }
        let p = self.norm(j - 1);
        PREPOSITIONS.contains(&p)
            || self.verbal(j - 1)
            || has(verbs(), p)
            || has(noun_verbs(), p)
            || has(privileged_verbs(), p)
    }

    /// Marks tokens as verbs (see [`Chunks::verbal`]).
    pub fn mark_verbs(&mut self, positions: impl IntoIterator<Item = usize>) {
        self.marked.extend(positions);
    }

    fn participle(&self, i: usize) -> bool {
        let r = self.raw(i).to_ascii_lowercase();
        r.len() > 4 && r.ends_with("ed") && !r.ends_with("eed")
    }

    /// True when a phrase may end before token `to` (end of text, punctuation, or a word
    /// that cannot continue a noun phrase).
    pub fn ends_before(&self, to: usize) -> bool {
        to >= self.len()
            || self.brk[to]
            || (!self.joined[to]
                && (self.is_function_word(to) || self.participle(to) || self.verbal(to)))
            || self.raw(to).chars().all(|c| c.is_ascii_digit())
    }

    /// The phrase whose head is tokens `head..to`: modifiers are taken leftwards while they
    /// are content words in the same clause (at most four; hyphen-joined words always).
    pub fn phrase(&self, head: usize, to: usize) -> Np {
        let mut from = head;
        let mut taken = 0;
        while from > 0 && taken < 4 {
            let i = from - 1;
            if self.joined[from] {
                from = i;
                continue;
            }
            if self.brk[from] {
                break;
            }
            if self.verbal(i) {
                break;
            }
            if self.participle(i) {
                // "the signed PDFs": a participle right after a determiner is an adjective;
                // after an auxiliary ("are pushed over the air") it is the verb.
                if i == 0
                    || self.brk[i]
                    || (stop().contains(self.norm(i - 1))
                        && !AUXILIARIES.contains(&self.norm(i - 1)))
                {
                    from = i;
                }
                break;
            }
            // "Teachers record scores", "agents can refund orders": a verb-like noun right
            // after a content word or a modal is the verb; after a determiner or a
            // preposition ("the load record") it modifies the head.
            let lower = self.raw(i).to_ascii_lowercase();
            if has(noun_verbs(), self.norm(i))
                && !lower.ends_with("ing")
                && !(i == 0 || self.brk[i] || determiners().contains(self.norm(i - 1)))
            {
                break;
            }
            // "signing secret", "routing rules": an -ing word before a noun modifies it.
            let gerund =
                lower.len() > 5 && lower.ends_with("ing") && !stop().contains(self.norm(i));
            if !gerund && !self.is_content(i) {
                break;
            }
            from = i;
            taken += 1;
        }
        // "of" phrases: "bill of lading", "proof of delivery".
        let mut to = to;
        if of_heads().contains(self.norm(to - 1))
            && to + 1 < self.len()
            && self.norm(to) == "of"
            && !self.brk[to]
            && !self.brk[to + 1]
            && self.is_content(to + 1)
        {
            to += 2;
        }
        Np { from, head, to }
    }

    /// The gap between tokens `i - 1` and `i` is a lone comma.
    fn comma(&self, i: usize) -> bool {
        i > 0
            && self
                .text
                .raw
                .get(self.text.tokens[i - 1].end..self.text.tokens[i].start)
                .is_some_and(|g| g.trim() == ",")
    }

    /// Coordinated phrases that share the kind of `np`: "limits, whitelists and *quorum
    /// rules*" (whitelists, limits), "*grades* and attendance" (attendance). A one-word
    /// singular conjunct before the phrase shares its head ("allow and *block lists*": allow
    /// lists), returned with `true`. Only plain noun phrases of the same clause (no verb,
    /// at most three words) qualify.
    pub fn conjuncts(&self, np: Np) -> Vec<(Np, bool)> {
        let mut out = Vec::new();
        // "allow and block lists": "lists" cut from its verb-like modifier is no conjunct.
        let plain = |c: Np| {
            let cut = c.from > 0
                && !self.brk[c.from]
                && !self.joined[c.from]
                && has(noun_verbs(), self.norm(c.from - 1));
            !cut && c.to - c.from <= 3
                && (c.from..c.to).all(|k| {
                    (self.is_content(k) || self.joined[k]) && !self.verbal(k) && !self.participle(k)
                })
        };
        // Before: "X, Y and <np>" / "X or <np>".
        let mut at = np.from;
        let mut first = true;
        loop {
            let conj = at >= 2
                && first
                && !self.brk[at]
                && matches!(self.norm(at - 1), "and" | "or")
                && !self.brk[at - 1];
            let comma = !first && self.comma(at);
            if !(conj || comma) {
                break;
            }
            let end = if conj { at - 1 } else { at };
            let Some(c) = self.phrase_before(end) else {
                break;
            };
            if !plain(c) {
                break;
            }
            let single = c.to - c.from == 1;
            let raw = self.raw(c.from).to_ascii_lowercase();
            let shared = first && single && !raw.ends_with('s');
            out.push((c, shared));
            if shared {
                break;
            }
            at = c.from;
            first = false;
        }
        // After: "<np> and X" at the end of the clause.
        if np.to + 1 < self.len()
            && !self.brk[np.to]
            && matches!(self.norm(np.to), "and" | "or")
            && !self.brk[np.to + 1]
        {
            let mut to = np.to + 1;
            while to < self.len() && !self.ends_before(to) && to - np.to <= 3 {
                to += 1;
            }
            // The list ends the clause or comes before its verb ("… and drop-off notes
            // are kept").
            let ends_list = to >= self.len()
                || self.brk[to]
                || AUXILIARIES.contains(&self.norm(to))
                || ["can", "may", "must", "will", "would", "should", "could"]
                    .contains(&self.norm(to));
            if to > np.to + 1 && self.ends_before(to) && ends_list {
                let c = self.phrase(to - 1, to);
                if c.from == np.to + 1 && plain(c) {
                    out.push((c, false));
                }
            }
        }
        out
    }

    /// The phrase ending right before token `end` (`end - 1` is its head), if there is one.
    pub fn phrase_before(&self, end: usize) -> Option<Np> {
        if end == 0 || end > self.len() || !self.is_content(end - 1) || self.verbal(end - 1) {
            return None;
        }
        Some(self.phrase(end - 1, end))
    }

    /// The phrase starting at or after `start` (determiners skipped), up to its head.
    pub fn phrase_after(&self, start: usize) -> Option<Np> {
        let mut i = start;
        while i < self.len() && stop().contains(self.norm(i)) && !self.brk[i] {
            i += 1;
        }
        if i >= self.len() || (i > start && self.brk[i]) || !self.is_content(i) {
            return None;
        }
        let from = i;
        let mut to = i + 1;
        while to < self.len() && !self.ends_before(to) && to - from < 5 {
            to += 1;
        }
        Some(Np {
            from,
            head: to - 1,
            to,
        })
    }

    /// Token index of the participle when token `i` is an auxiliary starting a passive of a
    /// [`DATA_PARTICIPLES`] verb ("are uploaded", "is also kept").
    pub fn data_passive(&self, i: usize) -> Option<usize> {
        if !AUXILIARIES.contains(&self.norm(i)) || ["get", "gets", "got"].contains(&self.norm(i)) {
            return None;
        }
        let mut v = i + 1;
        while v < self.len()
            && !self.brk[v]
            && ["also", "then", "only", "first", "later"].contains(&self.norm(v))
        {
            v += 1;
        }
        (v < self.len()
            && !self.brk[v]
            && !self.text.tokens[v].negated
            && data_participles().contains(self.norm(v)))
        .then_some(v)
    }

    /// Things the description says the system keeps, moves or acts on, with the index of
    /// the verb that says so and whether it is a passive:
    /// - the subject of a data passive ([`Chunks::data_passive`]): "Camera clips are
    ///   uploaded", "Templates with prefilled clauses are shared" (a prepositional phrase
    ///   after the subject skipped), "Terraform state files, which contain …, are stored"
    ///   (a relative clause skipped);
    /// - the object of a storing verb ([`DATA_VERBS`]): "keeps a local schedule", "exports
    ///   segments of members".
    ///
    /// Phrases with a vague head ("the data", "everything") are left out; the caller
    /// decides about people and phrases other entries already claim.
    pub fn data_frames(&self) -> Vec<(Np, usize, bool)> {
        let mut out = Vec::new();
        for i in 1..self.len() {
            if let Some(v) = self.data_passive(i) {
                let mut end = i;
                // ", which contain database passwords, are stored": back to the comma
                // before the relative pronoun.
                if self.brk[i] {
                    let mut k = i - 1;
                    let mut found = None;
                    while k > 0 && self.sentence_of(k) == self.sentence_of(i) && i - k < 14 {
                        if self.brk[k] && ["which", "that", "who"].contains(&self.norm(k)) {
                            found = Some(k);
                            break;
                        }
                        k -= 1;
                    }
                    let Some(k) = found else { continue };
                    end = k;
                }
                let Some(mut np) = self.phrase_before(end) else {
                    continue;
                };
                // "Templates with prefilled clauses are shared", "Firmware for the hub and
                // the devices is signed": the subject is before the prepositional phrase.
                let mut j = np.from;
                while j > 1 && !self.brk[j] && np.from - j < 8 && !self.verbal(j - 1) {
                    if ["with", "of", "for", "from", "to", "in", "on"].contains(&self.norm(j - 1)) {
                        if let Some(outer) = self.phrase_before(j - 1) {
                            np = outer;
                        }
                        break;
                    }
                    j -= 1;
                }
                out.push((np, v, true));
            } else if has(data_verbs(), self.norm(i)) {
                let raw = self.raw(i).to_ascii_lowercase();
                // A verb: after a subject pronoun, a modal, "and", or in verb position
                // ("the team exports segments"), not a noun ("the home store", "app store").
                let after_subject = !self.brk[i]
                    && (SUBJECT_OR_MODAL.contains(&self.norm(i - 1))
                        || ["and", "or"].contains(&self.norm(i - 1)));
                if raw.ends_with("ing")
                    || raw.ends_with("ed")
                    || self.joined[i]
                    || !(after_subject || self.verbal(i))
                    || (i + 1 < self.len() && (self.joined[i + 1] || self.brk[i + 1]))
                    || self.possessive(i - 1)
                    || self.text.tokens[i].negated
                {
                    continue;
                }
                // "backs up the keys": the particle belongs to the verb.
                let mut o = i + 1;
                if self.norm(i) == "back" {
                    if o >= self.len() || self.norm(o) != "up" {
                        continue;
                    }
                    o += 1;
                }
                while o < self.len() && !self.brk[o] && OBJECT_START.contains(&self.norm(o)) {
                    o += 1;
                }
                if o < self.len()
                    && !self.brk[o]
                    && !stop().contains(self.norm(o))
                    && let Some(np) = self.phrase_after(o)
                {
                    out.push((np, i, false));
                }
            }
        }
        out.retain(|(np, _, _)| {
            let head = self.norm(np.to - 1);
            !vague_heads().contains(head) && self.is_content(np.to - 1)
        });
        out
    }

    /// "X of Y" continuing a phrase: the phrase after "of" ("allowlist *of NFC fob IDs*",
    /// "segments *of members*"), if the phrase is followed by one.
    pub fn of_tail(&self, np: Np) -> Option<Np> {
        if np.to + 1 < self.len()
            && self.norm(np.to) == "of"
            && !self.brk[np.to]
            && !self.brk[np.to + 1]
        {
            self.phrase_after(np.to + 1)
        } else {
            None
        }
    }

    /// Original text of a phrase (possessive determiners and leading "per"/"the" kept as
    /// written, surrounding punctuation dropped).
    pub fn quote(&self, np: Np) -> String {
        self.text
            .quote(np.from, np.to)
            .trim_matches(|c: char| !c.is_alphanumeric())
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Normalised words of a phrase.
    pub fn words(&self, np: Np) -> Vec<&str> {
        (np.from..np.to).map(|i| self.norm(i)).collect()
    }

    /// Occurrences of the normalised `head` phrase that end a noun phrase (not negated).
    /// A participle or gerund is not its stem ("partnered" is not a "partner"), and a
    /// verb-like head right after a plural subject is the verb ("customers order from …").
    pub fn head_phrases(&self, head: &[String]) -> Vec<Np> {
        self.text
            .find(head)
            .into_iter()
            .filter(|&(i, negated)| {
                let last = i + head.len() - 1;
                let raw = self.raw(last).to_ascii_lowercase();
                let norm = self.norm(last);
                let inflected = (raw.ends_with("ed") && !norm.ends_with("ed"))
                    || (raw.ends_with("ing") && !norm.ends_with("ing"));
                !negated && !inflected && !self.verbal(last) && self.ends_before(i + head.len())
            })
            .map(|(i, _)| self.phrase(i, i + head.len()))
            .collect()
    }
}

/// Upper-cases the first letter.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// An action the description grants to someone: "support agents can refund orders".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Who may do it, as written ("Support agents"), if found.
    pub who: Option<Np>,
    /// The action, as written ("refund orders, issue credits and reassign deliveries").
    pub action: String,
    /// Token range of the action.
    pub span: (usize, usize),
    /// First verb of each coordinated action part, normalised.
    pub verbs: Vec<String>,
    /// Token index of each of those verbs that has an object right after it.
    pub verb_at: Vec<usize>,
}

impl Grant {
    /// True when one of the actions is of a privileged kind (override, refund, unlock…).
    pub fn privileged(&self) -> bool {
        self.verbs.iter().any(|v| has(privileged_verbs(), v))
    }
}

/// Finds "<who> can <action>", "<who> may <action>" and "<who> use(s) <tool> to <action>".
/// `is_role` tells whether a phrase names people (for choosing the subject).
pub fn grants(c: &Chunks<'_, '_>, is_role: &dyn Fn(Np) -> bool) -> Vec<Grant> {
    let mut out = Vec::new();
    let n = c.len();
    let mut i = 0;
    while i < n {
        let w = c.norm(i);
        let negated = c.text.tokens[i].negated;
        let start = if (w == "can" || w == "may") && !negated {
            Some(i + 1)
        } else if has(privileged_verbs(), w)
            && !negated
            && i > 0
            && !c.brk[i]
            && !c.possessive(i - 1)
            && !(i + 1 < n && (c.joined[i + 1] || PARTICLES.contains(&c.norm(i + 1))))
            && c.phrase_before(i).is_some_and(is_role)
        {
            // "Our treasury operators rebalance …", "Data engineers hold the admin role".
            Some(i)
        } else if w == "use" && !negated && i > 0 && !c.brk[i] {
            // "... use a back-office tool to suspend sellers"
            (i + 1..(i + 7).min(n))
                .find(|&k| c.norm(k) == "to" && !c.brk[k])
                .map(|k| k + 1)
        } else {
            None
        };
        let Some(mut a) = start else {
            i += 1;
            continue;
        };
        // Adverbs between the modal and the verb ("can also", "can remotely").
        while a < n && !c.brk[a] && stop().contains(c.norm(a)) && c.norm(a) != "to" {
            a += 1;
        }
        if a >= n || c.brk[a] || !has(action_verbs(), c.norm(a)) {
            i += 1;
            continue;
        }
        // The action runs to the end of the clause; a comma continues it when a verb
        // follows ("void sales, issue refunds and open the drawer").
        let mut parts = vec![c.norm(a).to_string()];
        let mut at = vec![a];
        let mut e = a + 1;
        while e < n {
            if c.sentence_of(e) != c.sentence_of(a) {
                break;
            }
            if c.brk[e] {
                let gap = c
                    .text
                    .raw
                    .get(c.text.tokens[e - 1].end..c.text.tokens[e].start)
                    .unwrap_or("");
                if gap.trim() == "," && has(action_verbs(), c.norm(e)) {
                    parts.push(c.norm(e).to_string());
                    at.push(e);
                    e += 1;
                    continue;
                }
                break;
            }
            let w = c.norm(e);
            if action_end().contains(w) {
                break;
            }
            if (w == "and" || w == "or") && e + 1 < n && has(action_verbs(), c.norm(e + 1)) {
                parts.push(c.norm(e + 1).to_string());
                at.push(e + 1);
            }
            e += 1;
        }
        // Who: the phrase right before a subject-verb action, else the nearest phrase
        // naming people earlier in the sentence that is not an object (after a verb or
        // a preposition: "managers remove *residents* … and can unlock").
        let mut who = None;
        if start == Some(i) {
            who = c.phrase_before(i).filter(|np| is_role(*np));
        }
        let mut k = i;
        while who.is_none() && k > 0 && c.sentence_of(k - 1) == c.sentence_of(i) {
            if let Some(np) = c.phrase_before(k)
                && (k == i || c.ends_before(k))
                && is_role(np)
                && !c.is_object(np)
            {
                who = Some(np);
                break;
            }
            k -= 1;
        }
        let mut words: Vec<&str> = c.text.quote(a, e).split_whitespace().collect();
        // A dangling particle ("approve payouts up to their limit") is cut with the rest.
        while words.last().is_some_and(|w| {
            ["up", "out", "off", "down", "back"].contains(&w.to_ascii_lowercase().as_str())
        }) {
            words.pop();
        }
        let action = words
            .join(" ")
            .trim_end_matches(|ch: char| !ch.is_alphanumeric())
            .to_string();
        if !action.is_empty() {
            // Verbs with an object right after them ("issue credits"): not modifiers.
            let verb_at = at
                .into_iter()
                .filter(|&v| v + 1 < e && !c.brk[v + 1] && !c.joined[v + 1])
                .collect();
            out.push(Grant {
                who,
                action,
                span: (a, e),
                verbs: parts,
                verb_at,
            });
        }
        i = e.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::text::phrase_tokens;

    fn phrases(text: &str, head: &str) -> Vec<String> {
        let t = Text::new(text);
        let c = Chunks::new(&t);
        c.head_phrases(&phrase_tokens(head))
            .into_iter()
            .map(|np| c.quote(np))
            .collect()
    }

    #[test]
    fn noun_phrases_take_modifiers_up_to_function_words() {
        assert_eq!(
            phrases(
                "Carriers use the carrier API, authenticated with per-carrier API keys.",
                "api key"
            ),
            ["per-carrier API keys"]
        );
        assert_eq!(
            phrases(
                "We receive events verified with the Stripe signing secret.",
                "secret"
            ),
            ["Stripe signing secret"]
        );
        assert_eq!(
            phrases(
                "Each load produces a bill of lading stored in Postgres.",
                "bill"
            ),
            ["bill of lading"]
        );
        assert_eq!(
            phrases("Drivers upload proof-of-delivery photos to S3.", "photo"),
            ["proof-of-delivery photos"]
        );
        // Not the end of a phrase: "key fob" is a fob.
        assert!(phrases("Residents tap an RFID key fob.", "key").is_empty());
        // Negated mentions are not phrases of the description.
        assert!(phrases("We keep no signing secret.", "secret").is_empty());
    }

    #[test]
    fn verbs_are_not_nouns() {
        let t = Text::new(
            "The unit reads the CAN bus, tracks GPS position and streams it. Customers order \
             from a menu. The load records are kept. Firmware updates are pushed over the air.",
        );
        let c = Chunks::new(&t);
        let at = |w: &str| {
            t.tokens
                .iter()
                .position(|x| t.raw[x.start..x.end] == *w)
                .unwrap()
        };
        assert!(c.verbal(at("reads")), "third person before its object");
        assert!(c.verbal(at("tracks")), "after a comma, before its object");
        assert!(c.verbal(at("order")), "base form after a plural subject");
        assert!(!c.verbal(at("records")), "a noun before a verb");
        assert!(phrases("The unit reads the CAN bus.", "reading").is_empty());
        assert_eq!(
            phrases("Transcripts are sent as the signed PDFs.", "pdf"),
            ["signed PDFs"],
            "a participle after a determiner is an adjective"
        );
    }

    #[test]
    fn data_frames_find_what_is_kept_or_moved() {
        let frames = |text: &str| -> Vec<String> {
            let t = Text::new(text);
            let c = Chunks::new(&t);
            c.data_frames()
                .into_iter()
                .map(|(np, _, passive)| {
                    let np = Np {
                        to: c.of_tail(np).map_or(np.to, |o| o.to),
                        ..np
                    };
                    format!("{}{}", c.quote(np), if passive { "" } else { " (object)" })
                })
                .collect()
        };
        assert_eq!(
            frames("Camera clips are uploaded to object storage and kept for 30 days."),
            ["Camera clips"]
        );
        assert_eq!(
            frames("Templates with prefilled clauses are shared across a team."),
            ["Templates"]
        );
        assert_eq!(
            frames("Terraform state files, which contain database passwords, are stored in S3."),
            ["Terraform state files"]
        );
        assert_eq!(
            frames("The hub keeps a local schedule. The team exports segments of members weekly."),
            ["local schedule (object)", "segments of members (object)"]
        );
        assert_eq!(
            frames("Firmware for the hub and the devices is signed."),
            ["Firmware"]
        );
        // A noun ("their home store are shown", "the app store") is no storing verb.
        assert!(frames("Their points balance and home store are shown there.").is_empty());
        // Vague heads, negated passives and nouns ("the export") are no frames.
        assert!(
            frames("The data is encrypted. Nothing is stored. The export runs nightly.").is_empty()
        );
        assert!(frames("Recordings are not stored.").is_empty());
    }

    #[test]
    fn coordinated_phrases_share_a_kind() {
        let conj = |text: &str, head: &str| -> Vec<(String, bool)> {
            let t = Text::new(text);
            let c = Chunks::new(&t);
            let np = c.head_phrases(&phrase_tokens(head))[0];
            c.conjuncts(np)
                .into_iter()
                .map(|(x, shared)| (c.quote(x), shared))
                .collect()
        };
        assert_eq!(
            conj(
                "The engine enforces limits, whitelists and quorum rules.",
                "rule"
            ),
            [
                ("whitelists".to_string(), false),
                ("limits".to_string(), false)
            ]
        );
        assert_eq!(
            conj("Parents see their child's grades and attendance.", "grades"),
            [("attendance".to_string(), false)]
        );
        assert!(
            conj("Customers define allow and block lists.", "list").is_empty(),
            "a phrase cut from a verb-like modifier is no conjunct"
        );
        assert!(conj("Teachers publish grades and send emails.", "grades").is_empty());
    }

    #[test]
    fn grant_subjects_are_not_objects() {
        let t = Text::new(
            "Property managers add and remove residents when leases end, and can unlock any door. \
             Contractors' access expires with their contract. Players sign in with a platform account.",
        );
        let c = Chunks::new(&t);
        let role = |np: Np| {
            let w = c.words(np);
            w.contains(&"manager")
                || w.contains(&"resident")
                || w.contains(&"contractor")
                || w.contains(&"player")
        };
        let g = grants(&c, &role);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].action, "unlock any door");
        assert_eq!(
            g[0].who.map(|np| c.quote(np)).as_deref(),
            Some("Property managers")
        );
    }

    #[test]
    fn grants_find_who_may_do_what() {
        let t = Text::new(
            "Support agents can refund orders, issue credits and reassign deliveries from a support console. \
             Buyers can leave reviews. The trust-and-safety team uses a back-office tool to suspend sellers and hold payouts.",
        );
        let c = Chunks::new(&t);
        let role = |np: Np| {
            let w = c.words(np);
            w.contains(&"agent") || w.contains(&"team") || w.contains(&"buyer")
        };
        let g = grants(&c, &role);
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(
            g[0].action,
            "refund orders, issue credits and reassign deliveries"
        );
        assert_eq!(
            g[0].who.map(|np| c.quote(np)).as_deref(),
            Some("Support agents")
        );
        assert!(g[0].privileged());
        assert_eq!(g[1].action, "leave reviews");
        assert!(!g[1].privileged());
        assert_eq!(g[2].action, "suspend sellers and hold payouts");
        assert_eq!(
            g[2].who.map(|np| c.quote(np)).as_deref(),
            Some("trust-and-safety team")
        );
    }
}
