//! Description matching: tokenisation with light stemming, phrase triggers and negation
//! scopes. Pure and deterministic.
//!
//! Rules:
//! - Tokens are runs of letters/digits (apostrophes dropped: "doesn't" → "doesnt");
//!   everything else separates tokens. Tokens are lower-cased and lightly stemmed
//!   ("buckets" → "bucket", "uploading"/"uploaded" → "upload") the same way for the
//!   description and the triggers, so both sides meet.
//! - A trigger is a phrase; it matches a contiguous run of tokens.
//! - Negation: a negator ("no", "not", "without", "never", "doesn't", "non", …) negates the
//!   next few tokens of its clause. A clause ends at `. , ; : ! ? ( )`, a newline, or a
//!   joining word ("and", "but", "while", "which", "however", …). A match whose first token
//!   is negated counts as a negated mention.
//! - Post-posed negation: "X is not used", "card data is never stored", "Kafka isn't needed"
//!   negate the few tokens before the verb phrase (only for verbs of use/storage, so
//!   "the bucket is not public" still mentions the bucket).
//! - Known limit: a negation does not carry across a comma list ("no Kafka, Redis or S3"
//!   rules out only Kafka); write "no Kafka, no Redis".

/// One token of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Normalised (lower-case, stemmed) form.
    pub norm: String,
    /// Byte range in the original text.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Inside a negation scope.
    pub negated: bool,
}

/// How many tokens before "is not <verb>" are negated.
const POST_NEGATION_REACH: usize = 4;

/// Verbs that make "X is not <verb>" rule X out ("Kafka is not used").
const POST_NEGATED_VERBS: &[&str] = &[
    "used",
    "stored",
    "collected",
    "processed",
    "involved",
    "needed",
    "required",
    "present",
    "supported",
    "handled",
    "kept",
    "retained",
    "saved",
    "persisted",
    "included",
    "planned",
];

/// How many tokens after a negator are negated.
const NEGATION_WINDOW: usize = 6;

const NEGATORS: &[&str] = &[
    "no",
    "not",
    "without",
    "never",
    "none",
    "neither",
    "nor",
    "doesnt",
    "dont",
    "isnt",
    "arent",
    "wont",
    "cannot",
    "cant",
    "excluding",
    "except",
    "non",
    "nothing",
    "lack",
    "lacks",
    "didnt",
    "wasnt",
    "werent",
    "shouldnt",
    "avoid",
    "avoids",
];

const CLAUSE_WORDS: &[&str] = &[
    "and", "but", "while", "whereas", "which", "however", "though", "although", "then", "so",
];

/// Words the stemmer must not touch (their "s" is not a plural, their "ing" not a suffix).
const KEEP: &[&str] = &[
    "https",
    "mtls",
    "kubernetes",
    "status",
    "analytics",
    "aws",
    "always",
    "access",
    "process",
    "accounting",
    "during",
    "thing",
    "string",
    "something",
    "nothing",
];

/// Lower-cases and stems one word.
pub fn normalize_word(w: &str) -> String {
    // ASCII (nearly every word): byte-wise, without the per-character case tables.
    let w: String = if w.is_ascii() {
        w.bytes()
            .filter(|b| *b != b'\'')
            .map(|b| char::from(b.to_ascii_lowercase()))
            .collect()
    } else {
        w.chars()
            .filter(|c| *c != '\'' && *c != '’')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let n = w.chars().count();
    if KEEP.contains(&w.as_str()) {
        return w;
    }
    if n >= 6 && w.ends_with("ing") {
        return w[..w.len() - 3].to_string();
    }
    if n >= 5 && w.ends_with("ed") && !w.ends_with("eed") {
        return w[..w.len() - 2].to_string();
    }
    if n >= 4 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is")
    {
        return w[..w.len() - 1].to_string();
    }
    w
}

/// A tokenised text with negation marks.
#[derive(Debug, Clone)]
pub struct Text<'a> {
    /// The original text.
    pub raw: &'a str,
    /// Its tokens.
    pub tokens: Vec<Token>,
    /// Token indices ordered by normalised form (then position): [`Text::find`] looks a
    /// phrase's first word up here instead of scanning every token for every trigger (the
    /// engine looks up thousands of catalog phrases per description).
    by_norm: Vec<usize>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

impl<'a> Text<'a> {
    /// Tokenises `raw` and marks negation scopes.
    pub fn new(raw: &'a str) -> Text<'a> {
        let mut tokens = Vec::new();
        // (token index where a clause break happened before it)
        let mut breaks_before = Vec::new();
        let mut pending_break = false;
        let mut start: Option<usize> = None;
        let push = |tokens: &mut Vec<Token>,
                    breaks: &mut Vec<bool>,
                    s: usize,
                    e: usize,
                    brk: &mut bool| {
            let word = &raw[s..e];
            let trimmed = word.trim_matches(|c| c == '\'' || c == '’');
            if trimmed.is_empty() {
                return;
            }
            tokens.push(Token {
                norm: normalize_word(trimmed),
                start: s,
                end: e,
                negated: false,
            });
            breaks.push(*brk);
            *brk = false;
        };
        for (i, c) in raw.char_indices() {
            if is_word_char(c) {
                if start.is_none() {
                    start = Some(i);
                }
            } else {
                if let Some(s) = start.take() {
                    push(&mut tokens, &mut breaks_before, s, i, &mut pending_break);
                }
                if matches!(
                    c,
                    '.' | ',' | ';' | ':' | '!' | '?' | '(' | ')' | '\n' | '[' | ']'
                ) {
                    pending_break = true;
                }
            }
        }
        if let Some(s) = start {
            push(
                &mut tokens,
                &mut breaks_before,
                s,
                raw.len(),
                &mut pending_break,
            );
        }
        // Negation scopes.
        let mut remaining = 0usize;
        for i in 0..tokens.len() {
            let is_clause_word = CLAUSE_WORDS.contains(&tokens[i].norm.as_str());
            if breaks_before[i] || is_clause_word {
                remaining = 0;
            }
            if NEGATORS.contains(&tokens[i].norm.as_str()) {
                remaining = NEGATION_WINDOW;
                continue;
            }
            if remaining > 0 {
                tokens[i].negated = true;
                remaining -= 1;
            }
        }
        // Post-posed negation: "<noun phrase> is not used / are never stored".
        for i in 0..tokens.len() {
            let n = tokens[i].norm.as_str();
            let verb_at = if ["is", "are", "was", "were", "be", "will"].contains(&n)
                && tokens
                    .get(i + 1)
                    .is_some_and(|t| ["not", "never"].contains(&t.norm.as_str()))
            {
                i + 2
            } else if ["isnt", "arent", "wasnt", "werent", "wont"].contains(&n) {
                i + 1
            } else {
                continue;
            };
            let Some(verb) = tokens.get(verb_at) else {
                continue;
            };
            if !POST_NEGATED_VERBS
                .iter()
                .any(|v| normalize_word(v) == verb.norm)
                || breaks_before[i]
            {
                continue;
            }
            let mut k = i;
            while k > 0 && i - k < POST_NEGATION_REACH {
                k -= 1;
                tokens[k].negated = true;
                if breaks_before[k] || CLAUSE_WORDS.contains(&tokens[k].norm.as_str()) {
                    break;
                }
            }
        }
        let mut by_norm: Vec<usize> = (0..tokens.len()).collect();
        by_norm.sort_by(|&a, &b| tokens[a].norm.cmp(&tokens[b].norm).then(a.cmp(&b)));
        Text {
            raw,
            tokens,
            by_norm,
        }
    }

    /// Original text of tokens `from..to` (inclusive range of tokens, exclusive `to`).
    pub fn quote(&self, from: usize, to: usize) -> &'a str {
        match (
            self.tokens.get(from),
            to.checked_sub(1).and_then(|l| self.tokens.get(l)),
        ) {
            (Some(a), Some(b)) if a.start <= b.end => &self.raw[a.start..b.end],
            _ => "",
        }
    }

    /// All matches of a pre-normalised phrase: token start index and whether negated.
    pub fn find(&self, phrase: &[String]) -> Vec<(usize, bool)> {
        let n = phrase.len();
        if n == 0 || n > self.tokens.len() {
            return Vec::new();
        }
        let first = phrase[0].as_str();
        let at = self
            .by_norm
            .partition_point(|&i| self.tokens[i].norm.as_str() < first);
        let mut out = Vec::new();
        for &i in &self.by_norm[at..] {
            if self.tokens[i].norm != first {
                break;
            }
            if i + n <= self.tokens.len() && (1..n).all(|k| self.tokens[i + k].norm == phrase[k]) {
                out.push((i, self.tokens[i].negated));
            }
        }
        out
    }

    /// True if any non-negated match of any phrase exists.
    pub fn mentions_any<T: AsRef<[String]>>(&self, phrases: &[T]) -> bool {
        phrases
            .iter()
            .any(|p| self.find(p.as_ref()).iter().any(|(_, neg)| !neg))
    }
}

/// Normalises a trigger phrase into tokens (same rules as the text).
pub fn phrase_tokens(phrase: &str) -> Vec<String> {
    Text::new(phrase)
        .tokens
        .into_iter()
        .map(|t| t.norm)
        .collect()
}

/// Where and how a catalog entry matched a text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchResult {
    /// Quotes of positive mentions, in text order, deduplicated.
    pub hits: Vec<String>,
    /// Quotes of negated mentions (with a few words of context).
    pub negated: Vec<String>,
    /// Token index of the first positive mention.
    pub first: Option<usize>,
    /// Token spans (start, end) of the positive mentions.
    pub spans: Vec<(usize, usize)>,
}

impl MatchResult {
    /// Matched positively.
    pub fn matched(&self) -> bool {
        !self.hits.is_empty()
    }
    /// Only ever mentioned negated: the description rules it out.
    pub fn ruled_out(&self) -> bool {
        self.hits.is_empty() && !self.negated.is_empty()
    }
}

/// Matches a set of normalised trigger phrases against a text.
pub fn match_triggers<T: AsRef<[String]>>(text: &Text<'_>, triggers: &[T]) -> MatchResult {
    let mut found: Vec<(usize, usize, bool)> = Vec::new();
    for t in triggers {
        let t = t.as_ref();
        for (i, neg) in text.find(t) {
            found.push((i, i + t.len(), neg));
        }
    }
    // Longest match first at each position; drop matches overlapping an accepted one.
    found.sort_by_key(|&(s, e, neg)| (s, std::cmp::Reverse(e), neg));
    let mut accepted: Vec<(usize, usize, bool)> = Vec::new();
    for m in found {
        if !accepted.iter().any(|a| m.0 < a.1 && a.0 < m.1) {
            accepted.push(m);
        }
    }
    let mut r = MatchResult::default();
    for (s, e, neg) in accepted {
        if neg {
            // Quote from the negator for context: up to 3 tokens before.
            let from = (s.saturating_sub(3)..s)
                .find(|&k| NEGATORS.contains(&text.tokens[k].norm.as_str()))
                .unwrap_or(s);
            let q = text.quote(from, e).to_string();
            if !r.negated.contains(&q) {
                r.negated.push(q);
            }
        } else {
            r.first.get_or_insert(s);
            r.spans.push((s, e));
            let q = text.quote(s, e).to_string();
            if !r.hits.iter().any(|h| h.eq_ignore_ascii_case(&q)) {
                r.hits.push(q);
            }
        }
    }
    r
}

/// `"a", "b" and "c"` rendering of quotes for rationales.
pub fn quote_list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().take(4).map(|s| format!("\"{s}\"")).collect();
    match q.len() {
        0 => String::new(),
        1 => q[0].clone(),
        n => format!("{} and {}", q[..n - 1].join(", "), q[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_both_sides() {
        assert_eq!(normalize_word("Buckets"), "bucket");
        assert_eq!(normalize_word("uploading"), "upload");
        assert_eq!(normalize_word("uploaded"), "upload");
        assert_eq!(normalize_word("access"), "access");
        assert_eq!(normalize_word("doesn't"), "doesnt");
        assert_eq!(phrase_tokens("pre-signed URLs"), vec!["pre", "sign", "url"]);
    }

    #[test]
    fn phrases_and_negation() {
        let t = Text::new(
            "Files go to an S3 bucket with no public access, served via pre-signed URLs.",
        );
        let r = match_triggers(&t, &[phrase_tokens("s3"), phrase_tokens("bucket")]);
        assert_eq!(r.hits, vec!["S3", "bucket"]);
        let p = match_triggers(&t, &[phrase_tokens("public")]);
        assert!(p.ruled_out());
        assert_eq!(p.negated, vec!["no public"]);
        let u = match_triggers(
            &t,
            &[phrase_tokens("presigned"), phrase_tokens("pre-signed url")],
        );
        assert_eq!(u.hits, vec!["pre-signed URLs"]);
    }

    #[test]
    fn find_returns_every_match_in_text_order() {
        let t = Text::new("API keys rotate; the API key store keeps api keys, not API");
        let key = phrase_tokens("api key");
        assert_eq!(t.find(&key), vec![(0, false), (4, false), (8, false)]);
        assert_eq!(
            t.find(&phrase_tokens("api")),
            vec![(0, false), (4, false), (8, false), (11, true)]
        );
        assert_eq!(
            t.find(&phrase_tokens("api key store keep")),
            vec![(4, false)]
        );
        assert!(t.find(&phrase_tokens("key api")).is_empty());
        assert!(t.find(&phrase_tokens("api key rotation")).is_empty());
    }

    #[test]
    fn negation_ends_at_clause() {
        let t = Text::new("It does not store card data and uses Postgres");
        assert!(match_triggers(&t, &[phrase_tokens("card data")]).ruled_out());
        assert!(match_triggers(&t, &[phrase_tokens("postgres")]).matched());
        let t = Text::new("Card data is never stored; Stripe handles payments. Kafka isn't used.");
        assert!(match_triggers(&t, &[phrase_tokens("card data")]).ruled_out());
        assert!(match_triggers(&t, &[phrase_tokens("kafka")]).ruled_out());
        assert!(match_triggers(&t, &[phrase_tokens("stripe")]).matched());
        let t = Text::new("The bucket is not public");
        assert!(match_triggers(&t, &[phrase_tokens("bucket")]).matched());
        let t = Text::new("Runs without internet access. Admins log in over VPN");
        assert!(match_triggers(&t, &[phrase_tokens("internet")]).ruled_out());
        assert!(match_triggers(&t, &[phrase_tokens("admin")]).matched());
    }
}
