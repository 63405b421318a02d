//! The feature brief a model is generated from when it comes from a Jira issue: the issue's
//! summary, its description turned from Jira wiki markup into plain prose, and its labels.
//!
//! The engine reads prose; markup characters (`h2.`, `*bold*`, `{code}`, `[text|url]`,
//! `!image.png!`, table pipes) would otherwise become noise words or fake noun phrases.
//! Conversion is line-based and forgiving: anything it does not recognise stays as text.

/// Longest brief handed to generation (the engine's own limit on a feature description
/// applies after this; an issue longer than that is cut at a line boundary).
pub const MAX_BRIEF: usize = 9_000;

/// The brief for an issue: "summary.\n\ndescription\n\nLabels: a, b".
pub fn from_issue(summary: &str, description: &str, labels: &[String]) -> String {
    let mut out = String::new();
    let summary = summary.trim();
    out.push_str(summary);
    if !summary.is_empty() && !summary.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    let body = wiki_to_text(description);
    if !body.is_empty() {
        out.push_str("\n\n");
        out.push_str(&body);
    }
    let labels: Vec<&str> = labels
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with("rampart-"))
        .collect();
    if !labels.is_empty() {
        out.push_str("\n\nLabels: ");
        out.push_str(&labels.join(", "));
        out.push('.');
    }
    // Descriptions can carry control characters (pasted terminal output); the engine's
    // input check refuses them.
    out.retain(|c| !c.is_control() || c == '\n' || c == '\t');
    cut(out, MAX_BRIEF)
}

fn cut(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = &s[..end];
    match head.rfind('\n') {
        Some(i) if i > max / 2 => head[..i].trim_end().to_string(),
        _ => head.trim_end().to_string(),
    }
}

/// Jira wiki markup (API v2 descriptions, Data Center and Cloud) as plain text.
pub fn wiki_to_text(markup: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    for raw in markup.replace("\r\n", "\n").lines() {
        let line = line_to_text(raw);
        if line.is_empty() && lines.last().is_none_or(|l: &String| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn line_to_text(raw: &str) -> String {
    let mut line = raw.trim().to_string();
    // Block macros on their own ({code:java}, {noformat}, {panel:title=x}, {quote}):
    // the markers go, the content between them stays.
    line = strip_macros(&line);
    // Headings "h1. Title".
    if line.len() > 3
        && line.starts_with('h')
        && line.as_bytes()[1].is_ascii_digit()
        && line[2..].starts_with(". ")
    {
        line = line[4..].trim().to_string();
    }
    // Lists "* a", "** b", "# c", "-- d"; quotes "bq. ".
    if let Some(rest) = line.strip_prefix("bq. ") {
        line = rest.to_string();
    }
    let bullet = line
        .trim_start_matches(['*', '#', '-'])
        .strip_prefix(' ')
        .filter(|_| line.starts_with(['*', '#', '-']));
    if let Some(rest) = bullet {
        line = format!("- {}", inline(rest.trim()));
    } else if line.starts_with('|') {
        // Tables: "||head||head||" and "|cell|cell|" become "head; head".
        line = line
            .split('|')
            .map(|c| inline(c.trim()))
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
    } else {
        line = inline(&line);
    }
    line.trim().to_string()
}

fn strip_macros(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + len];
        let name = name.split(':').next().unwrap_or_default();
        out.push_str(&rest[..start]);
        if matches!(
            name,
            "code" | "noformat" | "panel" | "quote" | "color" | "info" | "note" | "warning" | "tip"
        ) {
            // dropped
        } else if name == "{" || name.is_empty() {
            out.push_str(&rest[start..start + len + 1]);
        } else {
            // "{{mono}}" is handled inline; anything else is kept as written.
            out.push_str(&rest[start..start + len + 1]);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Inline markup: links, images, mentions, monospace, emphasis.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '[' => {
                if let Some(end) = find(&chars, i + 1, ']') {
                    let inner: String = chars[i + 1..end].iter().collect();
                    let text = match inner.split_once('|') {
                        Some((text, _url)) => text.to_string(),
                        None => inner.trim_start_matches('~').to_string(),
                    };
                    out.push_str(text.trim());
                    i = end + 1;
                    continue;
                }
            }
            '!' if i + 1 < chars.len() && !chars[i + 1].is_whitespace() => {
                // "!diagram.png!" / "!diagram.png|thumbnail!": an attached image.
                if let Some(end) = find(&chars, i + 1, '!') {
                    let inner: String = chars[i + 1..end].iter().collect();
                    if !inner.contains(' ') && inner.contains('.') {
                        i = end + 1;
                        continue;
                    }
                }
            }
            '{' if chars.get(i + 1) == Some(&'{') => {
                if let Some(end) = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '}' && chars[j + 1] == '}')
                {
                    out.extend(&chars[i + 2..end]);
                    i = end + 2;
                    continue;
                }
            }
            '*' | '_' | '+' | '^' | '~' => {
                // Emphasis markers sit at word boundaries: "*bold*", "_it_".
                let before = i == 0 || !chars[i - 1].is_alphanumeric();
                let after = i + 1 >= chars.len() || !chars[i + 1].is_alphanumeric();
                if before || after {
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn find(chars: &[char], from: usize, wanted: char) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j] == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_prose() {
        let wiki = "h2. Goal\r\nLet *customers* pay with a [saved card|https://x.example/cards] \
                    via {{PaymentService}}.\n\n* refunds by _support agents_\n** payout \
                    schedules\n{code:java}\nsecret = load();\n{code}\n!flow.png|thumbnail!\n\
                    ||Who||What||\n|Admin|approves payouts|\n[~jdoe] owns it.";
        let text = wiki_to_text(wiki);
        assert_eq!(
            text,
            "Goal\nLet customers pay with a saved card via PaymentService.\n\n- refunds by \
             support agents\n- payout schedules\n\nsecret = load();\n\nWho; What\nAdmin; \
             approves payouts\njdoe owns it."
        );
    }

    #[test]
    fn words_with_markers_inside_survive() {
        assert_eq!(
            inline("snake_case_name and 2*3*4"),
            "snake_case_name and 2*3*4"
        );
        assert_eq!(inline("a ! b"), "a ! b");
        assert_eq!(inline("[https://x.example]"), "https://x.example");
    }

    #[test]
    fn brief_has_summary_description_and_labels() {
        let b = from_issue(
            "Checkout with saved cards",
            "Customers *store* cards.",
            &["payments".into(), "rampart-abc".into(), " ".into()],
        );
        assert_eq!(
            b,
            "Checkout with saved cards.\n\nCustomers store cards.\n\nLabels: payments."
        );
        assert_eq!(from_issue("Done?", "", &[]), "Done?");
    }

    #[test]
    fn long_issues_are_cut_at_a_line() {
        let long = "word ".repeat(1000) + "\n" + &"more ".repeat(2000);
        let b = from_issue("S", &long, &[]);
        assert!(b.len() <= MAX_BRIEF);
        assert!(!b.contains("more"), "cut at the line boundary");
    }
}
