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
        Lang::Other if let Some(dialect) = end_dialect(code, site, name) => {
            end_body(code, site, name, dialect)
        }
        _ => brace_body(code, site, name).unwrap_or_else(|| lang::body_range(code, site)),
    }
}

/// The definition of `name` that has a body: a TypeScript overload signature, a C
/// prototype or an interface/abstract method (`…);`) declares the function without
/// defining it, so the function-scoped checks judge the definition that follows instead.
/// `first` is the first definition site ([`lang::find_function`]).
pub fn defining_site(code: &str, first: Site, name: &str, lang: Lang) -> Site {
    let mut site = first;
    for _ in 0..16 {
        if matches!(lang, Lang::Python | Lang::Ruby | Lang::Other) {
            return site;
        }
        let Some((a, b)) = brace_body(code, site, name) else {
            return site;
        };
        if a != b || code.as_bytes().get(a) != Some(&b';') {
            return site;
        }
        // A declaration: the next definition after it, if any.
        let from = code[a..].find('\n').map_or(code.len(), |p| a + p + 1);
        let Some(next) = lang::find_function(&code[from..], name, lang) else {
            return site;
        };
        site = Site {
            line: lang::line_of(code, from + next.offset),
            offset: from + next.offset,
        };
    }
    site
}

/// Languages whose blocks end with the word `end` but that have no [`Lang`] of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndDialect {
    /// `function … end`, with `if … then … end`, `for/while … do … end`.
    Lua,
    /// `def name(args) do … end`, `fn … end`, and the one-line `def name(args), do: expr`.
    Elixir,
}

/// Lua or Elixir, told apart from brace languages by the definition itself: an Elixir
/// `def`/`defp` ending in `do` (or holding `do:`), or a Lua `function` whose parameter list
/// is not followed by `{`.
fn end_dialect(code: &str, site: Site, name: &str) -> Option<EndDialect> {
    let line_end = code[site.offset..]
        .find('\n')
        .map_or(code.len(), |p| site.offset + p);
    let header = code[site.offset..line_end].trim();
    let first = header.split_whitespace().next().unwrap_or("");
    if matches!(first, "def" | "defp" | "defmacro" | "defmacrop")
        && (header.ends_with(" do") || header.contains(" do:") || header.contains(",do:"))
    {
        return Some(EndDialect::Elixir);
    }
    let lua_head = header.strip_prefix("local ").unwrap_or(header).trim_start();
    // `function M.name(…)`, or a function assigned: `M.name = function(…)`.
    let assigned = lua_head.split_once('=').is_some_and(|(lhs, rhs)| {
        lhs.trim_end().ends_with(name) && rhs.trim_start().starts_with("function")
    });
    if !lua_head.starts_with("function ") && !assigned {
        return None;
    }
    let open = site.offset + code[site.offset..line_end].find(name)? + name.len();
    let open = open + code[open..line_end].find('(')?;
    let bytes = code.as_bytes();
    let close = balanced(bytes, open, b'(', b')')?;
    let next = bytes[close + 1..].iter().find(|b| !b.is_ascii_whitespace());
    (next != Some(&b'{')).then_some(EndDialect::Lua)
}

/// Body of a Lua or Elixir function: from after its header to the matching `end`.
fn end_body(code: &str, site: Site, name: &str, dialect: EndDialect) -> (usize, usize) {
    let header_end = code[site.offset..]
        .find('\n')
        .map_or(code.len(), |p| site.offset + p);
    if dialect == EndDialect::Elixir
        && let Some(p) = code[site.offset..header_end].find("do:")
    {
        return (site.offset + p + 3, header_end);
    }
    let name_end = code[site.offset..header_end]
        .find(name)
        .map_or(site.offset, |p| site.offset + p + name.len());
    let mut depth = 0i64;
    let mut pos = site.offset;
    for line in code[site.offset..].split_inclusive('\n') {
        for (i, word) in ruby_words(line) {
            let opener = match dialect {
                EndDialect::Lua => matches!(word, "function" | "if" | "do"),
                EndDialect::Elixir => {
                    matches!(word, "fn")
                        || (word == "do" && line.as_bytes().get(i + 2) != Some(&b':'))
                }
            };
            if opener {
                depth += 1;
            } else if word == "end" {
                depth -= 1;
                if depth <= 0 {
                    let at = pos + i;
                    // A one-line function (`function f(x) return x end`) has its body on
                    // the header line.
                    let start = if at > header_end {
                        header_end + 1
                    } else {
                        name_end.min(at)
                    };
                    return (start, at);
                }
            }
        }
        pos += line.len();
    }
    lang::indent_body(code, site.offset)
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
    // straight to `=>`), or those of the function literal a wrapper call is given
    // (`name = withAuth(async (req) => { … })`).
    let mut k = assigned_wrapped(code, name_at).unwrap_or(name_at);
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
            // A TypeScript object-type return annotation (`): { ok: boolean } {`) is not
            // the body: a `{` right after the annotation's `:` is skipped as a whole.
            b'{' if code[after_params?..k].trim_end().ends_with(':') => {
                k = balanced(bytes, k, b'{', b'}').map_or(k + 1, |c| c + 1);
            }
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
                // `var h func(…) error = func(…) error {`: what came first was the
                // variable's type; the function literal's parameters and body follow.
                if bytes.get(k + 1) != Some(&b'>')
                    && let Some(kw) = ["func", "function"].into_iter().find(|kw| {
                        code[j..].starts_with(kw)
                            && !bytes
                                .get(j + kw.len())
                                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    })
                {
                    k = j + kw.len();
                    continue;
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

/// When `name` (ending at `at`) is assigned a wrapper call holding a function literal
/// (`[: Type] = withAuth(async (req) => …)`), where that literal starts.
fn assigned_wrapped(code: &str, at: usize) -> Option<usize> {
    let line_end = code[at..].find('\n').map_or(code.len(), |p| at + p);
    let rest = &code[at..line_end];
    let eq = rest.find('=')?;
    let before = rest[..eq].trim();
    let before = before
        .strip_prefix(['?', '!'])
        .unwrap_or(before)
        .trim_start();
    if !(before.is_empty() || (before.starts_with(':') && !before.contains('(')))
        || matches!(rest.as_bytes().get(eq + 1), Some(b'=' | b'>'))
    {
        return None;
    }
    lang::wrapped_function(code, at + eq + 1)
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
    // Terminator of a heredoc whose body is being skipped (`<<~SQL` … `SQL`): its text is
    // not code, so `end` or `if` in it count for nothing.
    let mut heredoc: Option<String> = None;
    for line in code[site.offset..].split_inclusive('\n') {
        if let Some(id) = &heredoc {
            if line.trim() == id {
                heredoc = None;
            }
            pos += line.len();
            continue;
        }
        heredoc = heredoc_id(line);
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

/// The terminator of a Ruby heredoc opened on `line` (`<<~SQL`, `<<-EOS`, `<<EOS`, and the
/// quoted `<<~'SQL'`, `<<-"EOS"`, whose identifier [`lang::blank`] keeps), if any. An
/// unquoted terminator starts with a capital (`x << y` and `a <<b` are shifts and appends).
fn heredoc_id(line: &str) -> Option<String> {
    line.match_indices("<<").find_map(|(at, _)| {
        let rest = &line[at + 2..];
        let rest = rest
            .strip_prefix('~')
            .or_else(|| rest.strip_prefix('-'))
            .unwrap_or(rest);
        let (quoted, rest) = match rest.as_bytes().first() {
            Some(b'\'' | b'"' | b'`') => (true, &rest[1..]),
            _ => (false, rest),
        };
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let first = id.chars().next()?;
        (quoted || first.is_ascii_uppercase()).then_some(id)
    })
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
/// (`x = if …`, `(if …`, `; if …`), i.e. it is not a trailing modifier. `return if x`,
/// `return unless x` and `raise … unless x` are modifiers.
fn statement_start(before: &str) -> bool {
    let t = before.trim_end();
    t.is_empty()
        || t.ends_with('=')
        || t.ends_with('(')
        || t.ends_with(';')
        || t.ends_with("||")
        || t.ends_with("&&")
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

    #[test]
    fn python_continuation_lines_stay_in_the_body() {
        // A triple-quoted string or a bracket closing at column 0, and a backslash
        // continuation, do not end the function.
        let py = "def f(x):\n    sql = \"\"\"\nSELECT 1\n\"\"\"\n    v = call(\nx)\n    w = 1 + \\\n2\n    try:\n        run(sql)\n    except Exception:\n        pass\n\ndef g():\n    h()\n";
        let b = body_of(py, "f", Lang::Python);
        assert!(b.contains("except") && !b.contains("h()"), "{b}");
        let dict = "def conf():\n    return {\n'a': 1,\n}\ndef other():\n    try:\n        pass\n    except E:\n        pass\n";
        let b = body_of(dict, "conf", Lang::Python);
        assert!(b.contains("return") && !b.contains("except"), "{b}");
    }

    #[test]
    fn ruby_modifiers_and_heredocs_do_not_open_blocks() {
        // `return unless` is a modifier; inside a class the old count ran to the class's
        // `end` and took in the next method.
        let rb = "class Payments\n  def charge(card)\n    return unless card\n    raise ArgumentError if card.expired?\n    gateway.charge(card)\n  end\n\n  def charge_safe(card)\n    gateway.charge(card)\n  rescue Gateway::Error => e\n    log(e)\n  end\nend\n";
        let b = body_of(rb, "charge", Lang::Ruby);
        assert!(b.contains("gateway.charge") && !b.contains("rescue"), "{b}");
        let heredoc = "class Q\n  def report\n    sql = <<~SQL\n      select 1 where x if y\n      the end\n    SQL\n    run(sql)\n  end\n\n  def other\n    begin\n      x\n    rescue => e\n    end\n  end\nend\n";
        let b = body_of(heredoc, "report", Lang::Ruby);
        assert!(b.contains("run(sql)") && !b.contains("rescue"), "{b}");
    }

    #[test]
    fn quoted_ruby_heredoc_terminators_end_the_heredoc() {
        for open in ["<<~'SQL'", "<<-\"SQL\"", "<<'SQL'", "<<~`SQL`"] {
            let rb = format!(
                "class Q\n  def report\n    sql = {open}\n      select 1 where x if y\n      end\n    SQL\n    run(sql)\n  end\n\n  def other\n    begin\n      x\n    rescue => e\n    end\n  end\nend\n"
            );
            let b = body_of(&rb, "report", Lang::Ruby);
            assert!(
                b.contains("run(sql)") && !b.contains("rescue"),
                "{open}: {b}"
            );
        }
        // `x << Y` appends; it opens no heredoc.
        let rb = "def add\n  items << Item.new\n  save\nend\ndef risky\n  x\nrescue\n  y\nend\n";
        let b = body_of(rb, "add", Lang::Ruby);
        assert!(b.contains("save") && !b.contains("rescue"), "{b}");
    }

    #[test]
    fn declarations_are_skipped_for_the_definition() {
        let ts = "export function parse(a: string): number;\nexport function parse(a: any): number {\n  try { return JSON.parse(a) } catch (e) { return 0 }\n}\n";
        let code = lang::blank(ts, Lang::JavaScript);
        let first = lang::find_function(&code, "parse", Lang::JavaScript).expect("found");
        let site = defining_site(&code, first, "parse", Lang::JavaScript);
        assert_eq!(site.line, 2);
        let (a, b) = body(&code, site, "parse", Lang::JavaScript);
        assert!(ts[a..b].contains("catch"), "{}", &ts[a..b]);
        let c = "int load(const char *p);\nint other(void) { return 0; }\n";
        let code = lang::blank(c, Lang::C);
        let first = lang::find_function(&code, "other", Lang::C).expect("found");
        assert_eq!(defining_site(&code, first, "other", Lang::C), first);
    }

    #[test]
    fn go_closures_have_the_extent_of_their_literal() {
        let go = "func main() {\n\th := func(w http.ResponseWriter, r *http.Request) {\n\t\tw.Write(nil)\n\t}\n\tg := func() { if err != nil {} }\n}\nvar t func(int) error = func(n int) error {\n\treturn check(n)\n}\n";
        let b = body_of(go, "h", Lang::Go);
        assert!(b.contains("w.Write") && !b.contains("err"), "{b}");
        let b = body_of(go, "g", Lang::Go);
        assert!(b.contains("err"), "{b}");
        let b = body_of(go, "t", Lang::Go);
        assert!(b.contains("check(n)") && !b.contains("n int"), "{b}");
        // A call's result bound to a name is not a definition.
        let call = "x := compute(func() {})\n";
        assert!(lang::find_function(&lang::blank(call, Lang::Go), "x", Lang::Go).is_none());
    }

    #[test]
    fn wrapped_functions_have_the_extent_of_the_literal() {
        let ts = "export const getUser = withAuth(async (req: Req, res: Res = defaults(make())) => {\n  return load(req);\n});\nexport const other = withAuth(async (req) => {\n  try { go() } catch (e) {}\n});\n";
        let b = body_of(ts, "getUser", Lang::JavaScript);
        assert!(
            b.contains("load(req)") && !b.contains("catch") && !b.contains("Req"),
            "{b}"
        );
        let js = "module.exports.upload = wrap(function (req, res) {\n  check(req.file);\n});\nexports.ping = rateLimit({ max: 5 }, (req, res) => res.send(ok));\nconst list = withAuth(withRole(admin, async (req) => {\n  validate(req.query);\n}));\n";
        let b = body_of(js, "upload", Lang::JavaScript);
        assert!(
            b.contains("check(req.file)") && !b.contains("res.send"),
            "{b}"
        );
        let b = body_of(js, "ping", Lang::JavaScript);
        assert_eq!(b.trim(), "res.send(ok)");
        let b = body_of(js, "list", Lang::JavaScript);
        assert!(b.contains("validate") && !b.contains("admin"), "{b}");
    }

    #[test]
    fn braces_in_multi_line_strings_do_not_end_the_body() {
        let java = "class Q {\n  String query() {\n    String sql = \"\"\"\n      select } from t\n      \"\"\";\n    return run(sql);\n  }\n  void risky() {\n    try { x(); } catch (Exception e) { }\n  }\n}\n";
        let b = body_of(java, "query", Lang::Jvm);
        assert!(b.contains("run(sql)") && !b.contains("catch"), "{b}");
        let php = "<?php\nfunction realPhp($x) {\n    $sql = <<<SQL\n    select } from t {\n    SQL;\n    return run($sql);\n}\nfunction safePhp($x) {\n    try { run($x); } catch (Exception $e) { }\n}\n";
        let b = body_of(php, "realPhp", Lang::Php);
        assert!(b.contains("run($sql)") && !b.contains("catch"), "{b}");
    }

    #[test]
    fn lua_and_elixir_bodies_end_at_their_end() {
        let lua = "local function a(x)\n  if x then\n    for i = 1, 3 do y(i) end\n  end\n  return x\nend\n\nfunction M.b(x)\n  local ok, err = pcall(f)\nend\n";
        let b = body_of(lua, "a", Lang::Other);
        assert!(b.contains("return x") && !b.contains("pcall"), "{b}");
        let b = body_of(lua, "b", Lang::Other);
        assert!(b.contains("pcall"), "{b}");
        let ex = "defmodule M do\n  def a(x) do\n    case x do\n      1 -> :ok\n    end\n  end\n\n  defp b(x), do: x\n\n  def c(x) do\n    try do\n      x\n    rescue\n      _ -> nil\n    end\n  end\nend\n";
        let b = body_of(ex, "a", Lang::Other);
        assert!(b.contains(":ok") && !b.contains("rescue"), "{b}");
        let b = body_of(ex, "b", Lang::Other);
        assert_eq!(b.trim(), "x");
    }
}
