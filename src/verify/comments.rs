//! Comment syntax per file type, so that a name mentioned only in a comment is never
//! evidence: a commented-out middleware registration, a `# add_header …` line in an nginx
//! config, a dependency inside `<!-- -->` in a build manifest, an environment variable named
//! in a trailing comment.
//!
//! [`strip`] replaces comment text with spaces and keeps everything else — string literals
//! included, since middleware, header and variable names live in strings — byte for byte,
//! so offsets and line numbers stay those of the file. Strings are still recognised, so a
//! `#` or `//` inside a string does not start a comment.
//!
//! | syntax | file types |
//! |---|---|
//! | source languages | `.py .js .ts .go .rs .java .kt .cs .rb .php .c .cpp .swift …`, through [`lang::blank_comments`] (Ruby `=begin`/`=end` included) |
//! | `<!-- -->`, then the script's comments | `.vue .svelte .astro` |
//! | C-like `//` and `/* */` | `.json .jsonc .json5 .gradle .groovy .proto .scss .less .dart .zig .sol .hx .glsl …`, `Jenkinsfile`; `.css` (block only) |
//! | `#`, `//` and `/* */` | `.tf .tfvars .hcl .nomad .jsonnet .libsonnet` |
//! | `#` (at line start or after a space) | `.yaml .yml .toml .sh .bash .zsh .env .txt .cfg .mk .ex .exs .jl .cr .nim .coffee .pl .r Makefile .gitignore .dockerignore .htaccess _headers` … |
//! | `#` at line start, after a space or after `;` `{` `}` | `.conf`, nginx and Apache configs (also extensionless files under `nginx/`, `apache2/`, `httpd/`, `sites-available/`, `sites-enabled/`, `conf.d/`) |
//! | `{{/* */}}`, `{{- /* */ -}}`, then `#` | Helm templates: `.yaml`/`.yml` under a `templates/` directory, `.tpl` |
//! | `#` whole lines only | `Dockerfile`, `Containerfile` |
//! | `;` or `#` whole lines | `.ini` (and `#`/`!` for `.properties`) |
//! | `<!-- -->` | `.xml .html .htm .xhtml .svg .csproj .vbproj .fsproj .props .targets .config .pom .plist .xaml .jsp .aspx .cshtml .razor .wsdl .xsd` |
//! | the template's comments, then those of the rendered file (markup by default) | `.j2 .jinja .jinja2 .njk .twig` (`{# #}`, `{% comment %}`), `.hbs .handlebars .mustache` (`{{!-- --}}`, `{{! }}`), `.erb .ejs` (`<%# %>`), `.liquid` (`{% comment %}`, `{% # %}`), `.tmpl .gotmpl .gohtml` (`{{/* */}}`): `nginx.conf.j2` is an nginx config |
//! | `--` and `/* */` | `.sql .psql .pgsql .mysql .ddl` |
//! | `--` and `--[[ ]]` | `.lua` |
//! | `--` and `{- -}` | `.hs .lhs .elm .purs` |
//! | `--` | `.ada .adb .ads` |
//! | `#` and `<# #>` | `.ps1 .psm1 .psd1` |
//! | `//` and `(* *)` / `(* *)` only | `.fs .fsi .fsx` / `.ml .mli` |
//! | `;` | `.clj .cljs .cljc .edn .el .lisp .scm .rkt` |
//! | `%` | `.erl .hrl .tex` |
//! | `'` | `.vb .vbs .bas` |
//! | `REM`, `::` whole lines | `.bat .cmd` |
//!
//! Unknown types: a shebang line decides (`python`, `node`, `ruby`, shell); otherwise `#` at
//! line start or after a space, and whole lines starting with `//`, are comments (a URL such
//! as `http://x/#y` in an unknown file is left alone).

use super::lang::{self, Lang};

/// How comments are written in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// A source language: the language-aware blanker, strings kept.
    Code(Lang),
    /// A single-file component (`.vue`, `.svelte`): `<!-- -->` in the markup, then the
    /// comments of the script language.
    Component(Lang),
    /// `//` to end of line and `/* … */`, outside strings.
    CLike,
    /// `/* … */` only (CSS).
    Block,
    /// `#`, `//` and `/* … */` (HCL, Terraform, Jsonnet).
    Hcl,
    /// `#` to end of line when at line start or after whitespace, outside quotes.
    Hash,
    /// `#` at line start or after whitespace, `;`, `{` or `}` (nginx, Apache).
    Conf,
    /// `#` only as the first non-blank character of a line (Dockerfile).
    HashLine,
    /// `;` or `#` (and `!` for `.properties`) as the first non-blank character of a line.
    Ini,
    /// `<!-- … -->`.
    Xml,
    /// `--` to end of line and `/* … */`, outside quotes.
    Sql,
    /// `--` to end of line and `--[[ … ]]` (Lua).
    Lua,
    /// `--` to end of line and `{- … -}` (Haskell, Elm, PureScript).
    Haskell,
    /// `--` to end of line, outside quotes (Ada).
    DoubleDash,
    /// `#` after whitespace and `<# … #>` (PowerShell).
    PowerShell,
    /// `//` and `(* … *)` (F#).
    FSharp,
    /// `(* … *)` (OCaml).
    Ml,
    /// `;` to end of line (Lisps).
    Semicolon,
    /// `%` to end of line (Erlang, TeX).
    Percent,
    /// `'` to end of line (Visual Basic).
    Apostrophe,
    /// Whole lines starting with `REM` or `::` (batch files).
    Batch,
    /// Unknown: `#` at line start or after whitespace, whole lines starting with `//`.
    Unknown,
    /// Helm chart templates (YAML under `templates/`, `.tpl`): Go template comments
    /// `{{/* … */}}` and `{{- /* … */ -}}`, then YAML `#`.
    Helm,
}

/// Directories whose extensionless files are web-server configs.
const CONF_DIRS: [&str; 7] = [
    "nginx/",
    "apache2/",
    "apache/",
    "httpd/",
    "sites-available/",
    "sites-enabled/",
    "conf.d/",
];

/// The comment syntax of a path (by name, then extension).
pub fn syntax_of(path: &str) -> Syntax {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if lower == "dockerfile"
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".dockerfile")
        || lower == "containerfile"
    {
        return Syntax::HashLine;
    }
    match lower.as_str() {
        "jenkinsfile" => return Syntax::CLike,
        "gemfile" | "rakefile" | "podfile" | "vagrantfile" | "brewfile" | "fastfile"
        | "appfile" | "dangerfile" | "guardfile" | "capfile" | "berksfile" => {
            return Syntax::Code(Lang::Ruby);
        }
        "build" | "workspace" | "build.bazel" | "workspace.bazel" | "tiltfile" | "sconstruct"
        | "sconscript" => return Syntax::Code(Lang::Python),
        "makefile" | "gnumakefile" | "procfile" | ".htaccess" | "_headers" | "_redirects"
        | ".gitignore" | ".dockerignore" | ".env" | ".envrc" | "caddyfile" | "justfile"
        | "pipfile" | ".bashrc" | ".zshrc" | ".profile" | ".bash_profile" | "crontab"
        | ".yarnrc" | ".gitattributes" | "codeowners" => return Syntax::Hash,
        _ => {}
    }
    if lower.starts_with(".env.") {
        return Syntax::Hash;
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if ext == "tpl"
        || (matches!(ext, "yaml" | "yml")
            && path.replace('\\', "/").split('/').any(|d| d == "templates"))
    {
        return Syntax::Helm;
    }
    match ext {
        "json" | "jsonc" | "json5" | "gradle" | "proto" | "scss" | "less" | "groovy"
        | "tsconfig" | "babelrc" | "eslintrc" | "jshintrc" | "dart" | "zig" | "sol" | "hx"
        | "ino" | "glsl" | "hlsl" | "frag" | "vert" | "cu" | "cuh" | "thrift" | "d" | "v"
        | "sv" | "vala" | "gd" => Syntax::CLike,
        "css" => Syntax::Block,
        "tf" | "tfvars" | "hcl" | "nomad" | "jsonnet" | "libsonnet" => Syntax::Hcl,
        "conf" | "nginx" | "htaccess" | "vhost" => Syntax::Conf,
        "yaml" | "yml" | "toml" | "sh" | "bash" | "zsh" | "ksh" | "fish" | "env" | "txt"
        | "cfg" | "mk" | "cmake" | "pl" | "pm" | "r" | "service" | "socket" | "timer"
        | "gitignore" | "editorconfig" | "npmrc" | "pip" | "in" | "ex" | "exs" | "jl" | "cr"
        | "nim" | "coffee" | "tcl" | "awk" | "nix" | "dockerignore" | "gitattributes" | "bzl"
        | "star" | "pyx" | "pxd" => Syntax::Hash,
        "ini" | "properties" => Syntax::Ini,
        "xml" | "html" | "htm" | "xhtml" | "svg" | "csproj" | "vbproj" | "fsproj" | "props"
        | "targets" | "config" | "pom" | "plist" | "xaml" | "jsp" | "aspx" | "cshtml" | "razor"
        | "wsdl" | "xsd" | "xsl" | "xslt" | "nuspec" | "resx" | "manifest" | "erb" | "ejs"
        | "hbs" | "handlebars" | "mustache" | "twig" | "jinja" | "jinja2" | "j2" | "njk"
        | "liquid" | "tmpl" | "gohtml" => Syntax::Xml,
        "vue" | "svelte" | "astro" => Syntax::Component(Lang::JavaScript),
        "sql" | "psql" | "pgsql" | "mysql" | "ddl" => Syntax::Sql,
        "lua" => Syntax::Lua,
        "hs" | "lhs" | "elm" | "purs" => Syntax::Haskell,
        "ada" | "adb" | "ads" => Syntax::DoubleDash,
        "ps1" | "psm1" | "psd1" => Syntax::PowerShell,
        "fs" | "fsi" | "fsx" => Syntax::FSharp,
        "ml" | "mli" => Syntax::Ml,
        "clj" | "cljs" | "cljc" | "edn" | "el" | "lisp" | "scm" | "rkt" => Syntax::Semicolon,
        "erl" | "hrl" | "tex" => Syntax::Percent,
        "vb" | "vbs" | "bas" => Syntax::Apostrophe,
        "bat" | "cmd" => Syntax::Batch,
        "ru" => Syntax::Code(Lang::Ruby),
        _ => match Lang::of(path) {
            Lang::Other => {
                let lower_path = path.to_ascii_lowercase().replace('\\', "/");
                if ext.is_empty() && CONF_DIRS.iter().any(|d| lower_path.contains(d)) {
                    Syntax::Conf
                } else {
                    Syntax::Unknown
                }
            }
            l => Syntax::Code(l),
        },
    }
}

/// The syntax a shebang line names (`#!/usr/bin/env python3`), for files of unknown type.
fn shebang(text: &str) -> Option<Syntax> {
    let first = text.lines().next()?.strip_prefix("#!")?;
    let interp = first
        .split_whitespace()
        .find(|w| !w.ends_with("/env") && !w.starts_with('-'))?;
    let interp = interp.rsplit('/').next().unwrap_or(interp);
    Some(if interp.starts_with("python") {
        Syntax::Code(Lang::Python)
    } else if interp.starts_with("node") || interp.starts_with("deno") || interp == "bun" {
        Syntax::Code(Lang::JavaScript)
    } else if interp.starts_with("ruby") {
        Syntax::Code(Lang::Ruby)
    } else if interp.starts_with("php") {
        Syntax::Code(Lang::Php)
    } else if matches!(
        interp,
        "sh" | "bash" | "zsh" | "ksh" | "dash" | "fish" | "perl" | "make"
    ) {
        Syntax::Hash
    } else {
        return None;
    })
}

/// `text` with the comments of `path`'s file type replaced by spaces (newlines and byte
/// offsets kept; string literals kept).
pub fn strip(text: &str, path: &str) -> String {
    if let Some((kind, inner)) = template_of(path) {
        // The template's own comments first, then those of the file it renders
        // (`nginx.conf.j2` is an nginx config, `page.html.j2` HTML; markup by default).
        let text = template_comments(text, kind);
        let syntax = match syntax_of(inner) {
            Syntax::Unknown => Syntax::Xml,
            s => s,
        };
        return strip_as(&text, syntax, inner);
    }
    let syntax = match syntax_of(path) {
        Syntax::Unknown => shebang(text).unwrap_or(Syntax::Unknown),
        s => s,
    };
    strip_as(text, syntax, path)
}

/// [`strip`] with an explicit syntax (`path` only decides `.properties` details and
/// whether block comments nest).
pub fn strip_as(text: &str, syntax: Syntax, path: &str) -> String {
    if let Some(rules) = rules_of(syntax, path) {
        return scan(text, rules, false);
    }
    match syntax {
        Syntax::Code(l) => lang::blank_comments_nested(text, l, lang::nested_block_comments(path)),
        Syntax::Component(l) => lang::blank_comments(&xml(text), l),
        Syntax::Lua => lua(text, false),
        Syntax::Helm => scan(&go_template(text), &Rules::HASH, false),
        Syntax::Xml => xml(text),
        Syntax::HashLine => whole_lines(text, &["#"]),
        Syntax::Ini => {
            if path.to_ascii_lowercase().ends_with(".properties") {
                whole_lines(text, &["#", "!"])
            } else {
                whole_lines(text, &["#", ";"])
            }
        }
        Syntax::Batch => whole_lines(
            text,
            &[
                "REM ", "rem ", "Rem ", "@REM ", "@rem ", "::", "REM\r", "rem\r",
            ],
        ),
        _ => whole_lines(&scan(text, &Rules::HASH, false), &["//"]),
    }
}

/// The scanner rules of the syntaxes [`scan`] handles.
fn rules_of(syntax: Syntax, path: &str) -> Option<&'static Rules> {
    Some(match syntax {
        Syntax::CLike if lang::nested_block_comments(path) => &Rules::C_LIKE_NESTED,
        Syntax::CLike => &Rules::C_LIKE,
        Syntax::Block => &Rules::BLOCK,
        Syntax::Hcl => &Rules::HCL,
        Syntax::Hash => &Rules::HASH,
        Syntax::Conf => &Rules::CONF,
        Syntax::Sql => &Rules::SQL,
        Syntax::Haskell => &Rules::HASKELL,
        Syntax::DoubleDash => &Rules::DOUBLE_DASH,
        Syntax::PowerShell => &Rules::POWERSHELL,
        Syntax::FSharp => &Rules::FSHARP,
        Syntax::Ml => &Rules::ML,
        Syntax::Semicolon => &Rules::SEMICOLON,
        Syntax::Percent => &Rules::PERCENT,
        Syntax::Apostrophe => &Rules::APOSTROPHE,
        _ => return None,
    })
}

/// The view of a file that the structural checks (`function_exists`, `function_calls`,
/// extents, …) read: comments and string contents blanked, delimiters, newlines and byte
/// offsets kept. Source languages go through [`lang::blank_file`]. Files of other types
/// whose comment syntax is known (Lua, Elixir, shell, Haskell, PowerShell, SQL, …) are
/// scanned with their own rules instead of the generic blanker (which took `#`, `//` and
/// `/* */` as comments and knew no `--`); unknown ones follow a shebang.
pub fn code(text: &str, path: &str) -> String {
    if lang::Lang::of(path) != Lang::Other {
        return lang::blank_file(text, path);
    }
    let syntax = match syntax_of(path) {
        Syntax::Unknown => shebang(text).unwrap_or(Syntax::Unknown),
        s => s,
    };
    if let Some(rules) = rules_of(syntax, path) {
        return scan(text, rules, true);
    }
    match syntax {
        Syntax::Code(l) => lang::blank(text, l),
        Syntax::Lua => lua(text, true),
        Syntax::Helm => scan(&go_template(text), &Rules::HASH, true),
        _ => lang::blank_file(text, path),
    }
}

/// Lua: `--` line comments, `--[[ … ]]` and `--[==[ … ]==]` block comments, and strings
/// (`'…'`, `"…"`, long brackets `[[ … ]]`, `[==[ … ]==]`), whose contents are blanked
/// too when `blank_strings`.
fn lua(text: &str, blank_strings: bool) -> String {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut out = bytes.to_vec();
    // `[`, then as many `=` as the closing bracket needs, then `[`: the level, if any.
    let long_open = |at: usize| -> Option<usize> {
        let eq = bytes
            .get(at + 1..)?
            .iter()
            .take_while(|&&b| b == b'=')
            .count();
        (bytes.get(at) == Some(&b'[') && bytes.get(at + 1 + eq) == Some(&b'[')).then_some(eq)
    };
    // Start of the closing bracket of `level` for a text starting at `from`, and the end
    // (exclusive) of that bracket; both the text length when it is not closed.
    let long_end = |from: usize, level: usize| -> (usize, usize) {
        let mut j = from;
        while let Some(p) = bytes
            .get(j..)
            .and_then(|r| r.iter().position(|&b| b == b']'))
        {
            j += p;
            let eq = bytes[j + 1..].iter().take_while(|&&b| b == b'=').count();
            if eq == level && bytes.get(j + 1 + eq) == Some(&b']') {
                return (j, j + eq + 2);
            }
            j += 1;
        }
        (n, n)
    };
    let mut i = 0;
    while i < n {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = match long_open(i + 2) {
                    Some(level) => long_end(i + 2 + level + 2, level).1,
                    None => line_end(bytes, i),
                };
                blank_range(&mut out, i, end);
                i = end;
            }
            b'[' if let Some(level) = long_open(i) => {
                let from = i + level + 2;
                let (close, end) = long_end(from, level);
                if blank_strings {
                    blank_range(&mut out, from, close);
                }
                i = end;
            }
            q @ (b'\'' | b'"') => {
                let mut j = i + 1;
                while j < n && bytes[j] != q && bytes[j] != b'\n' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let closed = j < n && bytes[j] == q;
                if closed && blank_strings {
                    blank_range(&mut out, i + 1, j);
                }
                i = if closed { j + 1 } else { i + 1 };
            }
            _ => i += 1,
        }
    }
    into_string(out)
}

/// What starts a comment and what quotes a string, for [`scan`].
struct Rules {
    /// Line comment starters.
    line: &'static [&'static str],
    /// `None`: a line comment starts anywhere outside strings. `Some(set)`: only at line
    /// start or right after one of these bytes (`a#b` in YAML or shell is not a comment).
    line_after: Option<&'static [u8]>,
    /// Block comment delimiters.
    block: Option<(&'static str, &'static str)>,
    /// String quotes (a backslash escapes inside them).
    quotes: &'static [u8],
    /// Block comments nest (`/* a /* b */ c */` in Dart, `{- {- -} -}` in Haskell,
    /// `(* (* *) *)` in OCaml and F#): each inner opening needs its own close.
    nested: bool,
}

const WHITESPACE: &[u8] = b" \t\r\n\x0c";

impl Rules {
    const C_LIKE: Rules = Rules {
        line: &["//"],
        line_after: None,
        block: Some(("/*", "*/")),
        quotes: b"\"'`",
        nested: false,
    };
    const C_LIKE_NESTED: Rules = Rules {
        line: &["//"],
        line_after: None,
        block: Some(("/*", "*/")),
        quotes: b"\"'`",
        nested: true,
    };
    const BLOCK: Rules = Rules {
        line: &[],
        line_after: None,
        block: Some(("/*", "*/")),
        quotes: b"\"'",
        nested: false,
    };
    const HCL: Rules = Rules {
        line: &["#", "//"],
        line_after: None,
        block: Some(("/*", "*/")),
        quotes: b"\"",
        nested: false,
    };
    const HASH: Rules = Rules {
        line: &["#"],
        line_after: Some(WHITESPACE),
        block: None,
        quotes: b"\"'",
        nested: false,
    };
    const CONF: Rules = Rules {
        line: &["#"],
        line_after: Some(b" \t\r\n\x0c;{}"),
        block: None,
        quotes: b"\"'",
        nested: false,
    };
    const SQL: Rules = Rules {
        line: &["--"],
        line_after: None,
        block: Some(("/*", "*/")),
        quotes: b"'\"",
        nested: false,
    };
    const HASKELL: Rules = Rules {
        line: &["--"],
        line_after: None,
        block: Some(("{-", "-}")),
        // `'` is also a name character (`x'`), so only `"` quotes.
        quotes: b"\"",
        nested: true,
    };
    const DOUBLE_DASH: Rules = Rules {
        line: &["--"],
        line_after: None,
        block: None,
        quotes: b"'\"",
        nested: false,
    };
    const POWERSHELL: Rules = Rules {
        line: &["#"],
        line_after: Some(WHITESPACE),
        block: Some(("<#", "#>")),
        quotes: b"'\"",
        nested: false,
    };
    const FSHARP: Rules = Rules {
        line: &["//"],
        line_after: None,
        block: Some(("(*", "*)")),
        quotes: b"\"",
        nested: true,
    };
    const ML: Rules = Rules {
        line: &[],
        line_after: None,
        block: Some(("(*", "*)")),
        quotes: b"\"",
        nested: true,
    };
    const SEMICOLON: Rules = Rules {
        line: &[";"],
        line_after: None,
        block: None,
        quotes: b"\"",
        nested: false,
    };
    const PERCENT: Rules = Rules {
        line: &["%"],
        line_after: None,
        block: None,
        quotes: b"\"",
        nested: false,
    };
    const APOSTROPHE: Rules = Rules {
        line: &["'"],
        line_after: None,
        block: None,
        quotes: b"\"",
        nested: false,
    };
}

fn blank_range(out: &mut [u8], a: usize, b: usize) {
    let b = b.min(out.len());
    if a >= b {
        return;
    }
    for byte in &mut out[a..b] {
        if *byte != b'\n' {
            *byte = b' ';
        }
    }
}

fn into_string(out: Vec<u8>) -> String {
    // Only ASCII bytes were replaced by spaces, and always whole runs of a comment, but a
    // comment may end in the middle of a multi-byte character only if the text was not
    // UTF-8 to begin with; be lenient rather than fail.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| from + p)
}

/// Generic scanner: strings are skipped (a quote that is not closed on its line is taken
/// as a plain character, so an apostrophe in prose does not swallow the rest), comments
/// are blanked.
fn scan(text: &str, r: &Rules, blank_strings: bool) -> String {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i < n {
        let c = bytes[i];
        if r.quotes.contains(&c) {
            let mut j = i + 1;
            let mut closed = false;
            while j < n {
                if bytes[j] == b'\\' && c != b'`' {
                    j += 2;
                    continue;
                }
                if bytes[j] == c {
                    closed = true;
                    break;
                }
                if bytes[j] == b'\n' && c != b'`' {
                    break;
                }
                j += 1;
            }
            if closed && blank_strings {
                blank_range(&mut out, i + 1, j);
            }
            i = if closed { j + 1 } else { i + 1 };
            continue;
        }
        if let Some((open, close)) = r.block
            && bytes[i..].starts_with(open.as_bytes())
        {
            let end = if r.nested {
                nested_end(text, i + open.len(), open, close)
            } else {
                text.get(i + open.len()..)
                    .and_then(|rest| rest.find(close))
                    .map_or(n, |p| i + open.len() + p + close.len())
            };
            blank_range(&mut out, i, end);
            i = end;
            continue;
        }
        if r.line.iter().any(|s| bytes[i..].starts_with(s.as_bytes()))
            && r.line_after
                .is_none_or(|set| i == 0 || set.contains(&bytes[i - 1]))
        {
            let end = line_end(bytes, i);
            blank_range(&mut out, i, end);
            i = end;
            continue;
        }
        i += 1;
    }
    into_string(out)
}

/// End (exclusive) of a nesting block comment whose text starts at `from` (after its
/// `open`), or the text length when it is not closed.
fn nested_end(text: &str, from: usize, open: &str, close: &str) -> usize {
    let mut depth = 1usize;
    let mut j = from;
    while j < text.len() {
        let rest = &text.as_bytes()[j..];
        if rest.starts_with(close.as_bytes()) {
            depth -= 1;
            j += close.len();
            if depth == 0 {
                return j;
            }
        } else if rest.starts_with(open.as_bytes()) {
            depth += 1;
            j += open.len();
        } else {
            j += 1;
        }
    }
    text.len()
}

/// Go template comments (`{{/* … */}}`, `{{- /* … */ -}}`, which may span lines) blanked;
/// an unclosed one runs to the end of the file. `{{ "/*" }}` is no comment: the `/*` must
/// follow the braces (and the trim marker with its space) directly.
fn go_template(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(p) = text.get(from..).and_then(|rest| rest.find("{{")) {
        let start = from + p;
        let after = &text[start + 2..];
        let body = after
            .strip_prefix("/*")
            .or_else(|| after.strip_prefix("- /*"))
            .map(|rest| text.len() - rest.len());
        let Some(body) = body else {
            from = start + 2;
            continue;
        };
        let mut end = text.len();
        let mut at = body;
        while let Some(q) = text.get(at..).and_then(|rest| rest.find("*/")) {
            let close = at + q + 2;
            let tail = &text[close..];
            let tail = tail.strip_prefix(" -").unwrap_or(tail);
            if tail.starts_with("}}") {
                end = text.len() - tail.len() + 2;
                break;
            }
            at = close;
        }
        blank_range(&mut out, start, end);
        from = end;
    }
    into_string(out)
}

/// `<!-- … -->` comments (an unclosed one runs to the end of the file, as in XML).
fn xml(text: &str) -> String {
    pairs(text, "<!--", "-->")
}

/// Every `open` … `close` span blanked, in order; an unclosed one runs to the end.
fn pairs(text: &str, open: &str, close: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(p) = text.get(from..).and_then(|rest| rest.find(open)) {
        let start = from + p;
        let end = text
            .get(start + open.len()..)
            .and_then(|rest| rest.find(close))
            .map_or(text.len(), |q| start + open.len() + q + close.len());
        blank_range(&mut out, start, end);
        from = end;
    }
    into_string(out)
}

/// Template languages whose own comments hide what they enclose from the rendered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Template {
    /// Jinja, Twig, Nunjucks: `{# … #}`, and Django's `{% comment %}` … `{% endcomment %}`.
    Jinja,
    /// Handlebars, Mustache: `{{!-- … --}}` and `{{! … }}`.
    Handlebars,
    /// ERB, EJS: `<%# … %>`.
    Erb,
    /// Liquid: `{% comment %}` … `{% endcomment %}` and `{% # … %}`.
    Liquid,
    /// Go templates: `{{/* … */}}`, `{{- /* … */ -}}`.
    Go,
}

/// The template language of `path` by its last extension, and the name of the file it
/// renders (`deploy/nginx.conf.j2` → `deploy/nginx.conf`).
fn template_of(path: &str) -> Option<(Template, &str)> {
    let (inner, ext) = path.rsplit_once('.')?;
    let kind = match ext.to_ascii_lowercase().as_str() {
        "j2" | "jinja" | "jinja2" | "njk" | "twig" => Template::Jinja,
        "hbs" | "handlebars" | "mustache" => Template::Handlebars,
        "erb" | "ejs" => Template::Erb,
        "liquid" => Template::Liquid,
        "tmpl" | "gotmpl" | "gohtml" => Template::Go,
        _ => return None,
    };
    Some((kind, inner))
}

/// `text` with the comments of template language `kind` blanked.
fn template_comments(text: &str, kind: Template) -> String {
    match kind {
        Template::Jinja => block_tags(&pairs(text, "{#", "#}")),
        Template::Handlebars => pairs(&pairs(text, "{{!--", "--}}"), "{{!", "}}"),
        Template::Erb => pairs(text, "<%#", "%>"),
        Template::Liquid => {
            let text = block_tags(text);
            let re = regex::Regex::new(r"\{%-?[ \t]*#[^%]*-?%\}").ok();
            match re {
                Some(re) => {
                    let mut out = text.as_bytes().to_vec();
                    for m in re.find_iter(&text) {
                        blank_range(&mut out, m.start(), m.end());
                    }
                    into_string(out)
                }
                None => text,
            }
        }
        Template::Go => go_template(text),
    }
}

/// Django/Liquid block comments: `{% comment %}` … `{% endcomment %}` (with `{%-`/`-%}`
/// whitespace control and an optional note after `comment`).
fn block_tags(text: &str) -> String {
    if !text.contains("comment") {
        return text.to_string();
    }
    static TAGS: std::sync::OnceLock<Option<(regex::Regex, regex::Regex)>> =
        std::sync::OnceLock::new();
    let Some((open, close)) = TAGS.get_or_init(|| {
        Some((
            regex::Regex::new(r"\{%-?\s*comment\b[^%]*%\}").ok()?,
            regex::Regex::new(r"\{%-?\s*endcomment\s*-?%\}").ok()?,
        ))
    }) else {
        return text.to_string();
    };
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(m) = open.find_at(text, from) {
        let end = close.find_at(text, m.end()).map_or(text.len(), |c| c.end());
        blank_range(&mut out, m.start(), end);
        from = end;
    }
    into_string(out)
}

/// Whole lines whose first non-blank characters are one of `starts`.
fn whole_lines(text: &str, starts: &[&str]) -> String {
    let mut out = text.as_bytes().to_vec();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if starts.iter().any(|s| trimmed.starts_with(s)) {
            let a = pos + (line.len() - trimmed.len());
            blank_range(&mut out, a, pos + line.len());
        }
        pos += line.len();
    }
    into_string(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(text: &str, path: &str) -> String {
        strip(text, path)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn offsets_and_lines_are_kept() {
        let t = "a: 1 # note\n# whole\nb: \"x # y\"\n";
        let s = strip(t, "c.yaml");
        assert_eq!(s.len(), t.len());
        assert_eq!(s.lines().count(), t.lines().count());
        assert_eq!(kept(t, "c.yaml"), "a: 1 b: \"x # y\"");
    }

    #[test]
    fn each_syntax_blanks_its_comments_only() {
        // nginx: a commented-out directive, a trailing comment, a quoted '#'.
        assert_eq!(
            kept(
                "# add_header X-Frame-Options DENY;\nadd_header X-Test \"a#b\"; # Strict-Transport-Security\n",
                "site.conf"
            ),
            "add_header X-Test \"a#b\";"
        );
        // Dockerfile: only whole-line comments; '#' inside an instruction stays.
        assert_eq!(
            kept("# ENV SECRET_KEY=x\nRUN echo a#b\n", "Dockerfile"),
            "RUN echo a#b"
        );
        // INI and properties.
        assert_eq!(kept("; a=1\n# b=2\nc=3\n", "app.ini"), "c=3");
        assert_eq!(kept("! a=1\nc=3\n", "app.properties"), "c=3");
        // XML, multi-line.
        assert_eq!(
            kept(
                "<deps>\n<!-- <dependency>x</dependency>\n -->\n<dependency>y</dependency></deps>",
                "pom.xml"
            ),
            "<deps> <dependency>y</dependency></deps>"
        );
        // SQL: -- and /* */, but not inside quotes.
        assert_eq!(
            kept("-- GRANT ALL\nSELECT '--x' /* drop */ FROM t;\n", "q.sql"),
            "SELECT '--x' FROM t;"
        );
        // TOML and shell: '#' after a space or at line start; not inside a word.
        assert_eq!(
            kept("k = \"v\" # c\nurl=a#b\n", "x.toml"),
            "k = \"v\" url=a#b"
        );
        assert_eq!(kept("export A=1 # B=2\n#C=3\n", "run.sh"), "export A=1");
        // C-like JSON with a URL in a string.
        assert_eq!(
            kept("{\"u\": \"http://x\" // c\n/* d */}", "tsconfig.json"),
            "{\"u\": \"http://x\" }"
        );
        // Unknown types: whole lines only, so a URL survives.
        assert_eq!(
            kept("# note\nsee http://x/#y\n", "notes.weird"),
            "see http://x/#y"
        );
    }

    #[test]
    fn more_file_types_know_their_comments() {
        // nginx: `#` right after `;` or `{` starts a comment too; a quoted one does not.
        assert_eq!(
            kept(
                "server {# listen 80;\n  add_header X-Frame-Options DENY;#add_header Strict-Transport-Security x;\n  return 301 \"https://x/#a\";\n}\n",
                "nginx.conf"
            ),
            "server { add_header X-Frame-Options DENY; return 301 \"https://x/#a\"; }"
        );
        // Extensionless files under a web-server config directory.
        assert_eq!(
            kept(
                "add_header X-A 1; # add_header Strict-Transport-Security x;\n",
                "etc/nginx/sites-available/default"
            ),
            "add_header X-A 1;"
        );
        // Terraform / HCL: `#`, `//` and `/* */`.
        assert_eq!(
            kept(
                "a = \"${var.x}\" // b = \"${var.y}\"\n/* c = 1 */ d = \"http://z\" # e\n",
                "main.tf"
            ),
            "a = \"${var.x}\" d = \"http://z\""
        );
        // Lua `--[[ ]]`, Haskell `{- -}` (and `x'` is a name, not a quote).
        assert_eq!(
            kept(
                "use(logger)\n--[[\nuse(csrf)\n]]\nuse(cors) -- use(gzip)\n",
                "app.lua"
            ),
            "use(logger) use(cors)"
        );
        assert_eq!(
            kept(
                "app' = logStdout app -- gzip\n{- $ gzip\n -} x\n",
                "Main.hs"
            ),
            "app' = logStdout app x"
        );
        // Single-file components: markup comments and script comments.
        assert_eq!(
            kept(
                "<template><!-- <meta http-equiv=\"Content-Security-Policy\"> --><div/></template>\n<script>\nuse(a) // use(b)\n</script>\n",
                "App.vue"
            ),
            "<template> <div/></template> <script> use(a) </script>"
        );
        // C-like by extension: Dart, Solidity.
        assert_eq!(kept("f(a); // f(b)\n", "main.dart"), "f(a);");
        assert_eq!(kept("f(a); /* f(b) */\n", "Token.sol"), "f(a);");
        // `#` languages: Elixir, Julia, Nix; PowerShell blocks; F# and OCaml; Lisp, Erlang,
        // Visual Basic, batch files.
        assert_eq!(kept("plug A # plug B\n", "lib/router.ex"), "plug A");
        assert_eq!(
            kept("a = ENV[\"A\"] # ENV[\"B\"]\n", "x.jl"),
            "a = ENV[\"A\"]"
        );
        assert_eq!(kept("<#\n$env:B\n#>\n$env:A # $env:C\n", "a.ps1"), "$env:A");
        assert_eq!(kept("use a // use b\n(* use c *)\n", "App.fs"), "use a");
        assert_eq!(kept("(* use c *) use a\n", "app.ml"), "use a");
        assert_eq!(kept("(use a) ; (use b)\n", "core.clj"), "(use a)");
        assert_eq!(kept("a() % b()\n", "x.erl"), "a()");
        assert_eq!(kept("A() ' B()\nC(\"'\")\n", "m.vb"), "A() C(\"'\")");
        assert_eq!(
            kept("REM set B=1\n:: set C=1\nset A=1\n", "run.bat"),
            "set A=1"
        );
        // Unknown files: a shebang decides; otherwise `#` after a space and whole `//` lines.
        assert_eq!(
            kept("#!/usr/bin/env python3\nx = 'a#b'  # y\n", "bin/tool"),
            "x = 'a#b'"
        );
        assert_eq!(
            kept("#!/usr/bin/env node\nuse(a) // use(b)\n", "bin/serve"),
            "#!/usr/bin/env node use(a)"
        );
        assert_eq!(
            kept("a http://x/#y # c\n// d\n", "notes.weird"),
            "a http://x/#y"
        );
    }

    #[test]
    fn block_comments_nest_only_where_the_language_nests_them() {
        let t = "/* use(a) /* use(b) */ use(c) */ use(d)\n";
        // Rust, Swift, Kotlin, Scala, Dart: the inner `*/` does not end the comment.
        for path in [
            "src/main.rs",
            "App.swift",
            "Main.kt",
            "build.gradle.kts",
            "A.scala",
            "main.dart",
        ] {
            assert_eq!(kept(t, path), "use(d)", "{path}");
        }
        // C, Java, JavaScript, C#, Go, PHP, CSS: the first `*/` ends it.
        for path in [
            "a.c", "A.java", "a.js", "A.cs", "a.go", "a.php", "a.css", "x.jsonc",
        ] {
            assert_eq!(kept(t, path), "use(c) */ use(d)", "{path}");
        }
        // Haskell `{- -}` and OCaml/F# `(* *)` nest too.
        assert_eq!(kept("{- a {- b -} c -} d\n", "Main.hs"), "d");
        assert_eq!(kept("(* a (* b *) c *) d\n", "m.ml"), "d");
        assert_eq!(kept("(* a (* b *) c *) d\n", "m.fs"), "d");
        // An unclosed nested comment runs to the end of the file.
        assert_eq!(kept("x /* a /* b */ c\nuse(e)\n", "lib.rs"), "x");
    }

    #[test]
    fn lua_comments_and_long_brackets() {
        let t = "use(a) -- use(b)\n--[[ use(c)\n]] use(d)\n--[==[ ]] use(e) ]==] use(f)\nx = [[ -- use(g) ]] .. \"--\" .. '--[[' use(h)\n";
        // Comments only: strings (long brackets included) are kept, `--` in them is text.
        assert_eq!(
            kept(t, "app.lua"),
            "use(a) use(d) use(f) x = [[ -- use(g) ]] .. \"--\" .. '--[[' use(h)"
        );
        // The structural checks' view blanks string contents too.
        let c = code(t, "app.lua");
        assert_eq!(c.len(), t.len());
        assert_eq!(
            c.split_whitespace().collect::<Vec<_>>().join(" "),
            "use(a) use(d) use(f) x = [[ ]] .. \" \" .. ' ' use(h)"
        );
    }

    #[test]
    fn the_code_view_follows_the_file_type() {
        // Source languages: the language blanker (comments and string contents).
        assert_eq!(code("f(\"a\") // g()\n", "a.js"), "f(\" \")       \n");
        // Known non-language syntaxes: their comments, string contents blanked.
        let ex = "def a(x), do: \"#{x} # y\" # b()\nhttp://host # c()\n";
        let c = code(ex, "lib/a.ex");
        assert!(c.contains("def a(x), do: \"") && !c.contains("b()") && !c.contains("c()"));
        assert!(!c.contains("# y") && c.contains("http://host"), "{c}");
        let ps = "<#\nfunction Fake {}\n#>\nfunction Real { } # Other\n";
        let c = code(ps, "a.ps1");
        assert!(!c.contains("Fake") && c.contains("Real") && !c.contains("Other"));
        assert_eq!(c.len(), ps.len());
        // Unknown files: a shebang decides, else the generic blanker.
        assert!(!code("#!/usr/bin/env python3\nx = 1 # f()\n", "bin/tool").contains("f()"));
    }

    #[test]
    fn helm_templates_know_go_template_comments() {
        let t = "env:\n{{/*\n  - value: ${A}\n*/}}\n{{- /* ${B} */ -}}\n  - value: ${C} # ${D}\n  {{- /* x */}}{{ \"/*\" }} ${E}\n";
        for path in [
            "chart/templates/deployment.yaml",
            "templates/x.yml",
            "chart/templates/_helpers.tpl",
        ] {
            assert_eq!(
                kept(t, path),
                "env: - value: ${C} {{ \"/*\" }} ${E}",
                "{path}"
            );
            assert_eq!(strip(t, path).len(), t.len());
        }
        // Plain YAML elsewhere: only `#`.
        assert!(kept(t, "config/app.yaml").contains("${A}"));
        // An unclosed template comment runs to the end.
        assert_eq!(kept("a\n{{/* b\nc\n", "templates/x.yaml"), "a");
    }

    #[test]
    fn templates_know_their_own_comments_and_those_of_what_they_render() {
        // Jinja: `{# #}` (multi-line too), then the nginx config's `#`.
        assert_eq!(
            kept(
                "add_header A 1;\n{# add_header B 1; #}\n{#\nadd_header C 1;\n#}\n# add_header D 1;\n",
                "deploy/nginx.conf.j2"
            ),
            "add_header A 1;"
        );
        assert_eq!(
            kept(
                "<p>{# <meta X> #}<!-- <meta Y> --></p>\n",
                "templates/base.html.j2"
            ),
            "<p> </p>"
        );
        assert_eq!(
            kept(
                "a: 1\n{% comment %}\nb: 2\n{% endcomment %}\n# c: 3\n",
                "app.yaml.j2"
            ),
            "a: 1"
        );
        // Handlebars, ERB/EJS, Liquid, Go templates.
        assert_eq!(
            kept("{{!-- <meta X> --}}{{! Y }}<meta Z>\n", "views/layout.hbs"),
            "<meta Z>"
        );
        assert_eq!(
            kept(
                "<%# headers['X'] = 1 %><% headers['Y'] = 1 %>\n",
                "views/a.erb"
            ),
            "<% headers['Y'] = 1 %>"
        );
        assert_eq!(
            kept(
                "{%- comment -%} X {%- endcomment -%}{% # Y %}Z\n",
                "page.liquid"
            ),
            "Z"
        );
        assert_eq!(kept("{{/* X */}}Y\n", "page.gohtml"), "Y");
        // Offsets kept.
        let t = "a {# b #} c\n";
        assert_eq!(strip(t, "x.conf.j2").len(), t.len());
    }

    #[test]
    fn source_files_keep_strings_and_drop_comments() {
        assert_eq!(
            kept(
                "app.use(helmet()) // app.use(csrf())\n/* app.use(cors()) */\nx = \"// not a comment\"",
                "server.js"
            ),
            "app.use(helmet()) x = \"// not a comment\""
        );
        assert_eq!(
            kept(
                "MIDDLEWARE = [\n  'a.Security',\n  # 'b.Csrf',\n]\n",
                "settings.py"
            ),
            "MIDDLEWARE = [ 'a.Security', ]"
        );
        assert_eq!(
            kept("use Rack::Attack # use Rack::Cors\n", "config.ru"),
            "use Rack::Attack"
        );
        // Ruby block comments.
        assert_eq!(
            kept(
                "use A\n=begin\nuse B\n=end\nuse C\n=begin x\nuse D\n",
                "config.ru"
            ),
            "use A use C"
        );
        // A JavaScript regex literal holding `//` or a quote is neither a comment nor a
        // string; a division is not a regex.
        assert_eq!(
            kept(
                "const ok = /^https?:\\/\\//.test(u); use(a);\nconst q = s.replace(/\"/g, ''); // use(b)\nx = a / b; // c\n",
                "server.js"
            ),
            "const ok = /^https?:\\/\\//.test(u); use(a); const q = s.replace(/\"/g, ''); x = a / b;"
        );
        // C# verbatim and Rust raw strings: a trailing backslash does not escape the quote.
        assert_eq!(
            kept("var p = @\"C:\\tmp\\\"; // app.UseHsts();\n", "Startup.cs"),
            "var p = @\"C:\\tmp\\\";"
        );
        assert_eq!(
            kept(
                "let p = r\"C:\\\"; // b\nlet q = r#\"a \" // x\"#; // c\n",
                "main.rs"
            ),
            "let p = r\"C:\\\"; let q = r#\"a \" // x\"#;"
        );
    }
}
