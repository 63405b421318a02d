//! The real extent of a function, per language, for the function-scoped checks
//! (`function_calls`, `error_handled`, `parameter_validated`): they judge only inside the
//! named function, never the next one.
//!
//! All offsets are into blanked code (comments and string contents are spaces, see
//! [`lang::blank`]), so braces, `end` and colons inside strings or comments do not count.
//! - Python: the lines indented deeper than the `def` (multi-line signatures and one-line
//!   bodies handled).
//! - Ruby: `def` … its matching `end`, counting the block keywords in between (`do`,
//!   `begin`, `case`, `class`, `module`, and `if`/`unless`/`while`/`until`/`for` when they
//!   start a statement, not as modifiers); `def x = expr` is one line.
//! - Brace languages (JS/TS, Go, Rust, JVM, C#, PHP, C, Swift): the parameter list is
//!   skipped with its parentheses balanced (so `(opts = {}) =>` or `(x = f(y))` do not end
//!   it), then the body is the balanced `{ … }` that follows; an arrow or `=` expression
//!   body runs to the end of its statement; a declaration ending in `;` has no body.

use super::lang::{self, Lang, Site};

/// How far after the parameter list the opening brace may be (return types, `where`
/// clauses, `throws` lists).
const MAX_HEADER: usize = 2000;

/// Byte range of the body of the function defined at `site` (header excluded) in `code`.
pub fn body(code: &str, site: Site, name: &str, lang: Lang) -> (usize, usize) {
    match lang {
        Lang::Python => lang::indent_body(code, site.offset),
        Lang::Ruby => ruby_body(code, site),
        _ => brace_body(code, site, name).unwrap_or_else(|| lang::body_range(code, site)),
    }
}

/// Byte range from the start of the definition line to the end of its body.
pub fn whole(code: &str, site: Site, name: &str, lang: Lang) -> (usize, usize) {
    let (_, end) = body(code, site, name, lang);
    (site.offset, end.max(site.offset))
}

fn balanced(bytes: &[u8], open_at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0i64;
    for (k, &b) in bytes.iter().enumerate().skip(open_at) {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Brace languages: skip the parameter list after the name, then take the `{ … }` body,
/// or the expression of an arrow / `=` body. `None` when no parameter list is found.
fn brace_body(code: &str, site: Site, name: &str) -> Option<(usize, usize)> {
    let bytes = code.as_bytes();
    let line_end = code[site.offset..]
        .find('\n')
        .map_or(code.len(), |p| site.offset + p);
    let header = &code[site.offset..line_end];
    // The name on the definition line (Go receivers and return types come around it).
    let name_at = header
        .match_indices(name)
        .find(|(i, _)| {
            let before = header[..*i].chars().next_back();
            let after = header[i + name.len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
        .map(|(i, _)| site.offset + i + name.len())?;
    // Parameters: the first `(` after the name (arrow functions without parentheses go
    // straight to `=>`).
    let mut k = name_at;
    let limit = (name_at + MAX_HEADER).min(bytes.len());
    let mut after_params = None;
    while k < limit {
        match bytes[k] {
            b'(' => {
                let close = balanced(bytes, k, b'(', b')')?;
                after_params = Some(close + 1);
                break;
            }
            b'=' if bytes.get(k + 1) == Some(&b'>') => {
                after_params = Some(k);
                break;
            }
            b'{' | b';' => return None,
            _ => k += 1,
        }
    }
    let mut k = after_params?;
    while k < limit {
        match bytes[k] {
            b'{' => {
                let close = balanced(bytes, k, b'{', b'}').unwrap_or(bytes.len() - 1);
                return Some((k, close + 1));
            }
            b';' => return Some((k, k)),
            b'=' if bytes.get(k + 1) == Some(&b'>') || bytes.get(k + 1) != Some(&b'=') => {
                // Arrow or `= expr` body: a `{` right after starts a block body.
                let mut j = k + if bytes.get(k + 1) == Some(&b'>') {
                    2
                } else {
                    1
                };
                while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
                    j += 1;
                }
                if bytes.get(j) == Some(&b'{') {
                    let close = balanced(bytes, j, b'{', b'}').unwrap_or(bytes.len() - 1);
                    return Some((j, close + 1));
                }
                return Some((j, expression_end(bytes, j)));
            }
            b'(' | b'<' | b'[' => {
                // Return types such as `(int, error)` or `Promise<Map<K, V>>`.
                let (open, close) = match bytes[k] {
                    b'(' => (b'(', b')'),
                    b'<' => (b'<', b'>'),
                    _ => (b'[', b']'),
                };
                k = balanced(bytes, k, open, close).map_or(k + 1, |c| c + 1);
            }
            _ => k += 1,
        }
    }
    None
}

/// End of an expression body: the first `;`, or a newline, outside brackets.
fn expression_end(bytes: &[u8], from: usize) -> usize {
    let mut depth = 0i64;
    for (k, &b) in bytes.iter().enumerate().skip(from) {
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth < 0 {
                    return k;
                }
            }
            b';' if depth == 0 => return k,
            b'\n' if depth == 0 => return k,
            _ => {}
        }
    }
    bytes.len()
}

/// Ruby: from the `def` line to its matching `end`.
fn ruby_body(code: &str, site: Site) -> (usize, usize) {
    let header_end = code[site.offset..]
        .find('\n')
        .map_or(code.len(), |p| site.offset + p);
    let header = &code[site.offset..header_end];
    // Endless method: `def name(args) = expr` (an `=` outside the parameter list).
    let hb = header.as_bytes();
    let mut depth = 0i64;
    for (i, &b) in hb.iter().enumerate() {
        match b {
            b'(' => depth += 1,
            b')' => depth -= 1,
            b';' => break,
            b'=' if depth == 0
                && !matches!(hb.get(i + 1), Some(b'=' | b'>' | b'~'))
                && !matches!(
                    i.checked_sub(1).map(|p| hb[p]),
                    Some(b'=' | b'!' | b'<' | b'>')
                ) =>
            {
                return (site.offset + i + 1, header_end);
            }
            _ => {}
        }
    }
    let mut depth = 0i64;
    let mut pos = site.offset;
    for line in code[site.offset..].split_inclusive('\n') {
        let mut first = true;
        let mut line_has_loop = false;
        for (i, word) in ruby_words(line) {
            let opener = match word {
                "def" | "class" | "module" | "begin" | "case" => true,
                "do" => !line_has_loop,
                "if" | "unless" | "while" | "until" | "for" => {
                    let starts = first || statement_start(&line[..i]);
                    if starts && matches!(word, "while" | "until" | "for") {
                        line_has_loop = true;
                    }
                    starts
                }
                _ => false,
            };
            first = false;
            if opener {
                depth += 1;
            } else if word == "end" {
                depth -= 1;
                if depth == 0 {
                    let at = pos + i;
                    return ((header_end + 1).min(at), at);
                }
            }
        }
        pos += line.len();
    }
    lang::indent_body(code, site.offset)
}

/// Words of a line with their byte offsets (identifiers only; `x.end` or `:end` excluded).
fn ruby_words(line: &str) -> Vec<(usize, &str)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            // Method names ending in ?/! and symbol or method-call forms are not keywords.
            let prev = start.checked_sub(1).map(|p| bytes[p]);
            let next = bytes.get(i).copied();
            let keyword_like = !matches!(prev, Some(b'.') | Some(b':') | Some(b'@') | Some(b'$'))
                && !matches!(next, Some(b'?') | Some(b'!') | Some(b':'));
            if keyword_like {
                out.push((start, &line[start..i]));
            }
        } else {
            i += 1;
        }
    }
    out
}

/// True when what precedes a keyword on its line leaves it at a statement start
/// (`x = if …`, `(if …`, `; if …`), i.e. it is not a trailing modifier.
fn statement_start(before: &str) -> bool {
    let t = before.trim_end();
    t.is_empty()
        || t.ends_with('=')
        || t.ends_with('(')
        || t.ends_with(';')
        || t.ends_with("||")
        || t.ends_with("&&")
        || t.ends_with("return")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(src: &str, name: &str, l: Lang) -> String {
        let code = lang::blank(src, l);
        let site = lang::find_function(&code, name, l).expect("defined");
        let (a, b) = body(&code, site, name, l);
        src[a..b].to_string()
    }

    #[test]
    fn brace_bodies_skip_parenthesised_defaults() {
        let js = "export const handler = async (req, res = makeRes({ a: 1 })) => {\n  try { go() } catch (e) {}\n};\nexport function next() { try {} catch {} }\n";
        let b = body_of(js, "handler", Lang::JavaScript);
        assert!(b.contains("try") && !b.contains("next"), "{b}");
        let go = "func (s *Srv) Handle(w http.ResponseWriter, r *http.Request) (int, error) {\n\treturn 0, nil\n}\nfunc Other() {\n\tif err != nil {}\n}\n";
        let b = body_of(go, "Handle", Lang::Go);
        assert!(b.contains("return 0") && !b.contains("err"), "{b}");
        let java = "public void save(Map<String, String> m) throws IOException {\n  write(m);\n}\npublic void load() {\n  try { read(); } catch (IOException e) {}\n}\n";
        let b = body_of(java, "save", Lang::Jvm);
        assert!(b.contains("write") && !b.contains("catch"), "{b}");
        let arrow =
            "const double = (x = f(1)) => x * 2;\nconst other = () => { try {} catch (e) {} };\n";
        let b = body_of(arrow, "double", Lang::JavaScript);
        assert_eq!(b.trim(), "x * 2");
    }

    #[test]
    fn python_and_ruby_bodies_end_where_the_function_ends() {
        let py = "def first(x):\n    return x\n\ndef second(y):\n    try:\n        pass\n    except Exception:\n        pass\n";
        let b = body_of(py, "first", Lang::Python);
        assert!(b.contains("return x") && !b.contains("try"), "{b}");
        let rb = "def create\n  if valid?\n    save\n  end\n  items.each do |i|\n    i.touch\n  end\n  log 'x' if debug\nend\n\ndef destroy\n  begin\n    x\n  rescue => e\n  end\nend\n";
        let b = body_of(rb, "create", Lang::Ruby);
        assert!(b.contains("i.touch") && b.contains("debug"), "{b}");
        assert!(!b.contains("rescue"), "{b}");
        let endless = "def total = items.sum\ndef risky\n  x\nrescue\n  y\nend\n";
        let b = body_of(endless, "total", Lang::Ruby);
        assert!(b.contains("items.sum") && !b.contains("rescue"), "{b}");
    }
}
