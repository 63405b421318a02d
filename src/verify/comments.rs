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
//! | source languages | `.py .js .ts .go .rs .java .kt .cs .rb .php .c .cpp .swift …`, through [`lang::blank_comments`] |
//! | C-like `//` and `/* */` | `.json .jsonc .json5 .gradle .proto .scss .less .css`(block only) |
//! | `#` (at line start or after a space) | `.yaml .yml .toml .conf` (nginx, Apache) `.sh .bash .zsh .env .txt .cfg .tf .hcl .mk Makefile .gitignore .dockerignore Gemfile .htaccess _headers` … |
//! | `#` whole lines only | `Dockerfile`, `Containerfile` |
//! | `;` or `#` whole lines | `.ini .properties` (and `!` for `.properties`) |
//! | `<!-- -->` | `.xml .html .htm .xhtml .svg .csproj .vbproj .fsproj .props .targets .config .pom .plist .xaml .jsp .aspx .cshtml .razor .vue(templates) .wsdl .xsd` |
//! | `--` and `/* */` | `.sql .psql .pgsql .mysql` (`--`), `.lua .hs` (`--` only) |
//!
//! Unknown types: only whole lines starting with `#` or `//` are comments (conservative: a
//! URL such as `http://x` in an unknown file is left alone).

use super::lang::{self, Lang};

/// How comments are written in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// A source language: the language-aware blanker, strings kept.
    Code(Lang),
    /// `//` to end of line and `/* … */`, outside strings.
    CLike,
    /// `/* … */` only (CSS).
    Block,
    /// `#` to end of line when at line start or after whitespace, outside quotes.
    Hash,
    /// `#` only as the first non-blank character of a line (Dockerfile).
    HashLine,
    /// `;` or `#` (and `!` for `.properties`) as the first non-blank character of a line.
    Ini,
    /// `<!-- … -->`.
    Xml,
    /// `--` to end of line and `/* … */`, outside quotes.
    Sql,
    /// `--` to end of line, outside quotes.
    DoubleDash,
    /// Unknown: whole lines starting with `#` or `//`.
    Unknown,
}

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
    if matches!(
        lower.as_str(),
        "makefile"
            | "gnumakefile"
            | "gemfile"
            | "rakefile"
            | "podfile"
            | "vagrantfile"
            | "procfile"
            | ".htaccess"
            | "_headers"
            | "_redirects"
            | ".gitignore"
            | ".dockerignore"
            | ".env"
            | "caddyfile"
            | "jenkinsfile"
    ) || lower.starts_with(".env.")
    {
        return if lower == "jenkinsfile" {
            Syntax::CLike
        } else if matches!(
            lower.as_str(),
            "gemfile" | "rakefile" | "podfile" | "vagrantfile"
        ) {
            Syntax::Code(Lang::Ruby)
        } else {
            Syntax::Hash
        };
    }
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "json" | "jsonc" | "json5" | "gradle" | "proto" | "scss" | "less" | "groovy"
        | "tsconfig" => Syntax::CLike,
        "css" => Syntax::Block,
        "yaml" | "yml" | "toml" | "conf" | "sh" | "bash" | "zsh" | "ksh" | "fish" | "env"
        | "txt" | "cfg" | "tf" | "tfvars" | "hcl" | "mk" | "cmake" | "pl" | "pm" | "r" | "ps1"
        | "nginx" | "service" | "socket" | "timer" | "htaccess" | "gitignore" | "editorconfig"
        | "npmrc" | "pip" | "in" => Syntax::Hash,
        "ini" | "properties" => Syntax::Ini,
        "xml" | "html" | "htm" | "xhtml" | "svg" | "csproj" | "vbproj" | "fsproj" | "props"
        | "targets" | "config" | "pom" | "plist" | "xaml" | "jsp" | "aspx" | "cshtml" | "razor"
        | "wsdl" | "xsd" | "xsl" | "xslt" | "nuspec" | "resx" | "manifest" => Syntax::Xml,
        "sql" | "psql" | "pgsql" | "mysql" | "ddl" => Syntax::Sql,
        "lua" | "hs" | "elm" | "ada" | "adb" | "ads" => Syntax::DoubleDash,
        "ru" => Syntax::Code(Lang::Ruby),
        _ => match Lang::of(path) {
            Lang::Other => Syntax::Unknown,
            l => Syntax::Code(l),
        },
    }
}

/// `text` with the comments of `path`'s file type replaced by spaces (newlines and byte
/// offsets kept; string literals kept).
pub fn strip(text: &str, path: &str) -> String {
    strip_as(text, syntax_of(path), path)
}

/// [`strip`] with an explicit syntax (`path` only decides `.properties` details).
pub fn strip_as(text: &str, syntax: Syntax, path: &str) -> String {
    match syntax {
        Syntax::Code(l) => lang::blank_comments(text, l),
        Syntax::CLike => scan(text, &Rules::C_LIKE),
        Syntax::Block => scan(text, &Rules::BLOCK),
        Syntax::Hash => scan(text, &Rules::HASH),
        Syntax::Sql => scan(text, &Rules::SQL),
        Syntax::DoubleDash => scan(text, &Rules::DOUBLE_DASH),
        Syntax::Xml => xml(text),
        Syntax::HashLine => whole_lines(text, &["#"]),
        Syntax::Ini => {
            if path.to_ascii_lowercase().ends_with(".properties") {
                whole_lines(text, &["#", "!"])
            } else {
                whole_lines(text, &["#", ";"])
            }
        }
        Syntax::Unknown => whole_lines(text, &["#", "//"]),
    }
}

/// What starts a comment and what quotes a string, for [`scan`].
struct Rules {
    /// Line comment starters.
    line: &'static [&'static str],
    /// A line comment starter must be at line start or follow whitespace (`a#b` in YAML or
    /// shell is not a comment).
    line_needs_space: bool,
    /// Block comment delimiters.
    block: Option<(&'static str, &'static str)>,
    /// String quotes (a backslash escapes inside them).
    quotes: &'static [u8],
}

impl Rules {
    const C_LIKE: Rules = Rules {
        line: &["//"],
        line_needs_space: false,
        block: Some(("/*", "*/")),
        quotes: b"\"'`",
    };
    const BLOCK: Rules = Rules {
        line: &[],
        line_needs_space: false,
        block: Some(("/*", "*/")),
        quotes: b"\"'",
    };
    const HASH: Rules = Rules {
        line: &["#"],
        line_needs_space: true,
        block: None,
        quotes: b"\"'",
    };
    const SQL: Rules = Rules {
        line: &["--"],
        line_needs_space: false,
        block: Some(("/*", "*/")),
        quotes: b"'\"",
    };
    const DOUBLE_DASH: Rules = Rules {
        line: &["--"],
        line_needs_space: false,
        block: None,
        quotes: b"'\"",
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
fn scan(text: &str, r: &Rules) -> String {
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
            i = if closed { j + 1 } else { i + 1 };
            continue;
        }
        if let Some((open, close)) = r.block
            && bytes[i..].starts_with(open.as_bytes())
        {
            let end = text
                .get(i + open.len()..)
                .and_then(|rest| rest.find(close))
                .map_or(n, |p| i + open.len() + p + close.len());
            blank_range(&mut out, i, end);
            i = end;
            continue;
        }
        if r.line.iter().any(|s| bytes[i..].starts_with(s.as_bytes()))
            && (!r.line_needs_space || i == 0 || bytes[i - 1].is_ascii_whitespace())
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

/// `<!-- … -->` comments (an unclosed one runs to the end of the file, as in XML).
fn xml(text: &str) -> String {
    let mut out = text.as_bytes().to_vec();
    let mut from = 0;
    while let Some(p) = text.get(from..).and_then(|rest| rest.find("<!--")) {
        let start = from + p;
        let end = text
            .get(start + 4..)
            .and_then(|rest| rest.find("-->"))
            .map_or(text.len(), |q| start + 4 + q + 3);
        blank_range(&mut out, start, end);
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
    }
}
