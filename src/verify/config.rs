//! Config-file and dependency-manifest parsing for the `config_*` and `dependency_*`
//! verifiers, plus PEP 440-style version constraints.
//!
//! Config files are parsed by extension into one JSON tree (json, yaml/yml, toml,
//! ini/cfg/conf/properties, .env, else JSON then `K=V` lines) so dotted keys resolve the
//! same way everywhere. Manifests are parsed by file name into a map of normalized package
//! name → version spec.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A config file that could not be parsed; names the format tried.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse '{file}' as {format}: {reason}")]
pub struct ParseError {
    /// File path.
    pub file: String,
    /// Format tried.
    pub format: &'static str,
    /// Parser message.
    pub reason: String,
}

/// Parses config text by the file's extension into a JSON tree.
pub fn parse_config(file: &str, text: &str) -> Result<Value, ParseError> {
    let lower = file.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower).to_string();
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_string())
        .unwrap_or_default();
    let err = |format: &'static str, reason: String| ParseError {
        file: file.into(),
        format,
        reason,
    };
    match ext.as_str() {
        "json" => serde_json::from_str(text).map_err(|e| err("JSON", e.to_string())),
        "yaml" | "yml" => {
            // Multi-document YAML: merge top-level maps of all documents.
            let mut merged = Map::new();
            let mut last = Value::Null;
            for doc in serde_norway::Deserializer::from_str(text) {
                let v: Value =
                    serde::Deserialize::deserialize(doc).map_err(|e| err("YAML", e.to_string()))?;
                if let Value::Object(m) = &v {
                    merged.extend(m.clone());
                }
                last = v;
            }
            Ok(if merged.is_empty() {
                last
            } else {
                Value::Object(merged)
            })
        }
        "toml" => {
            let v: toml::Value = toml::from_str(text).map_err(|e| err("TOML", e.to_string()))?;
            serde_json::to_value(v).map_err(|e| err("TOML", e.to_string()))
        }
        "ini" | "cfg" | "conf" | "properties" => Ok(parse_ini(text)),
        _ if name == ".env" || name.starts_with(".env.") || ext == "env" => Ok(parse_env(text)),
        _ => match serde_json::from_str(text) {
            Ok(v) => Ok(v),
            Err(_) => Ok(parse_env(text)),
        },
    }
}

/// INI: keys as `section.key` and, flat, as `key` (first wins). Values are strings.
fn parse_ini(text: &str) -> Value {
    let mut flat = Map::new();
    let mut section = String::new();
    let mut tree = Map::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with(';') || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            section = t[1..t.len() - 1].trim().to_string();
            continue;
        }
        let Some((k, v)) = t.split_once('=').or_else(|| t.split_once(':')) else {
            continue;
        };
        let (k, v) = (k.trim().to_string(), Value::String(v.trim().to_string()));
        if section.is_empty() {
            tree.insert(k.clone(), v.clone());
        } else {
            let sec = tree
                .entry(section.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = sec {
                m.insert(k.clone(), v.clone());
            }
            flat.insert(format!("{section}.{k}"), v.clone());
        }
        flat.entry(k).or_insert(v);
    }
    for (k, v) in flat {
        tree.entry(k).or_insert(v);
    }
    Value::Object(tree)
}

/// `.env` / `K=V` lines (`export` prefix and quotes removed).
fn parse_env(text: &str) -> Value {
    let mut m = Map::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.strip_prefix("export ").unwrap_or(t);
        if let Some((k, v)) = t.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            m.insert(k.trim().to_string(), Value::String(v.to_string()));
        }
    }
    Value::Object(m)
}

/// Resolves a dotted key (array indices allowed as numbers), or the whole key as one flat
/// key. Returns the value when found and not null.
pub fn lookup<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    if let Some(v) = tree.get(key).filter(|v| !v.is_null()) {
        return Some(v);
    }
    let mut cur = tree;
    for part in key.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!cur.is_null()).then_some(cur)
}

/// Python `str(value)` of a parsed config value: `True`/`False`/`None`, lists and dicts
/// in Python repr. `config_value_matches` runs its regex on this text.
pub fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if n.is_f64() {
                crate::wire::canonical_json(v)
            } else {
                n.to_string()
            }
        }
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    python_repr(&Value::String(k.clone())),
                    python_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Normalizes a package name for comparison: lower case, `-` and `.` as `_`.
pub fn norm_pkg(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace(['-', '.'], "_")
}

/// Parses a manifest by file name into normalized name → (original name, version spec,
/// 1-based line or 0). Unknown names are read as requirements files.
pub fn parse_manifest(
    file: &str,
    text: &str,
) -> Result<BTreeMap<String, (String, String)>, ParseError> {
    let name = file.rsplit('/').next().unwrap_or(file).to_ascii_lowercase();
    let err = |format: &'static str, reason: String| ParseError {
        file: file.into(),
        format,
        reason,
    };
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut add = |n: &str, spec: &str| {
        if !n.trim().is_empty() {
            out.entry(norm_pkg(n))
                .or_insert((n.trim().to_string(), spec.trim().to_string()));
        }
    };
    if name == "package.json" {
        let v: Value =
            serde_json::from_str(text).map_err(|e| err("package.json", e.to_string()))?;
        for sect in [
            "dependencies",
            "devDependencies",
            "peerDependencies",
            "optionalDependencies",
        ] {
            if let Some(Value::Object(m)) = v.get(sect) {
                for (k, spec) in m {
                    add(k, spec.as_str().unwrap_or(""));
                }
            }
        }
    } else if name == "cargo.toml" {
        let v: toml::Value = toml::from_str(text).map_err(|e| err("Cargo.toml", e.to_string()))?;
        let mut tables: Vec<&toml::Value> = Vec::new();
        for sect in ["dependencies", "dev-dependencies", "build-dependencies"] {
            tables.extend(v.get(sect));
            tables.extend(v.get("workspace").and_then(|w| w.get(sect)));
        }
        if let Some(toml::Value::Table(targets)) = v.get("target") {
            for t in targets.values() {
                for sect in ["dependencies", "dev-dependencies", "build-dependencies"] {
                    tables.extend(t.get(sect));
                }
            }
        }
        for t in tables {
            if let toml::Value::Table(m) = t {
                for (k, spec) in m {
                    let version = match spec {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Table(d) => d
                            .get("version")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_string(),
                        _ => String::new(),
                    };
                    add(k, &version);
                    if let Some(real) = spec.get("package").and_then(|p| p.as_str()) {
                        add(real, &version);
                    }
                }
            }
        }
    } else if name == "go.mod" {
        let mut in_block = false;
        for line in text.lines() {
            let t = line.split("//").next().unwrap_or("").trim();
            if t.starts_with("require (") || t == "require(" {
                in_block = true;
                continue;
            }
            if in_block && t.starts_with(')') {
                in_block = false;
                continue;
            }
            let body = if in_block {
                Some(t)
            } else {
                t.strip_prefix("require ")
            };
            if let Some(body) = body {
                let mut parts = body.split_whitespace();
                if let (Some(module), Some(ver)) = (parts.next(), parts.next()) {
                    add(module, ver);
                    if let Some(last) = module
                        .rsplit('/')
                        .find(|s| !s.starts_with('v') || s[1..].parse::<u32>().is_err())
                    {
                        add(last, ver);
                    }
                }
            }
        }
    } else if name == "pyproject.toml" {
        let v: toml::Value =
            toml::from_str(text).map_err(|e| err("pyproject.toml", e.to_string()))?;
        let project = v.get("project");
        let mut reqs: Vec<String> = Vec::new();
        if let Some(toml::Value::Array(a)) = project.and_then(|p| p.get("dependencies")) {
            reqs.extend(a.iter().filter_map(|x| x.as_str().map(String::from)));
        }
        if let Some(toml::Value::Table(t)) = project.and_then(|p| p.get("optional-dependencies")) {
            for list in t.values() {
                if let toml::Value::Array(a) = list {
                    reqs.extend(a.iter().filter_map(|x| x.as_str().map(String::from)));
                }
            }
        }
        for r in &reqs {
            let (n, spec) = split_requirement(r);
            add(&n, &spec);
        }
        let poetry = v.get("tool").and_then(|t| t.get("poetry"));
        for sect in ["dependencies", "dev-dependencies"] {
            if let Some(toml::Value::Table(m)) = poetry.and_then(|p| p.get(sect)) {
                for (k, spec) in m {
                    let s = match spec {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Table(d) => d
                            .get("version")
                            .and_then(|x| x.as_str())
                            .unwrap_or("")
                            .to_string(),
                        _ => String::new(),
                    };
                    add(k, &s);
                }
            }
        }
    } else if name == "pom.xml" || name.ends_with(".pom") {
        let dep = regex::Regex::new(r"(?s)<dependency>(.*?)</dependency>")
            .map_err(|e| err("pom.xml", e.to_string()))?;
        let tag = |body: &str, t: &str| -> String {
            let open = format!("<{t}>");
            let close = format!("</{t}>");
            body.find(&open)
                .and_then(|s| {
                    body[s + open.len()..]
                        .find(&close)
                        .map(|e| body[s + open.len()..s + open.len() + e].trim().to_string())
                })
                .unwrap_or_default()
        };
        for c in dep.captures_iter(text) {
            let body = &c[1];
            let (g, a, ver) = (
                tag(body, "groupId"),
                tag(body, "artifactId"),
                tag(body, "version"),
            );
            add(&format!("{g}:{a}"), &ver);
            add(&a, &ver);
        }
    } else if name.ends_with(".csproj")
        || name.ends_with(".vbproj")
        || name.ends_with(".fsproj")
        || name == "directory.packages.props"
        || name == "packages.config"
    {
        // NuGet: `<PackageReference Include="X" Version="1.2" />`, central
        // `<PackageVersion …>` and packages.config `<package id="X" version="1.2" />`.
        let tag = regex::Regex::new(r"(?is)<(?:PackageReference|PackageVersion|package)\b([^>]*)>")
            .map_err(|e| err("NuGet", e.to_string()))?;
        let attr = |body: &str, names: &[&str]| -> String {
            names
                .iter()
                .find_map(|n| {
                    regex::Regex::new(&format!(r#"(?i)\b{n}\s*=\s*"([^"]*)""#))
                        .ok()
                        .and_then(|re| re.captures(body).map(|c| c[1].to_string()))
                })
                .unwrap_or_default()
        };
        for c in tag.captures_iter(text) {
            let body = &c[1];
            let id = attr(body, &["Include", "id", "Update"]);
            add(&id, &attr(body, &["Version", "version"]));
        }
    } else if name == "build.gradle" || name == "build.gradle.kts" {
        // `implementation 'g:a:v'`, `api("g:a:v")` and the other standard configurations.
        let re = regex::Regex::new(r#"(?m)\b(?:implementation|api|compileOnly|runtimeOnly|testImplementation|testRuntimeOnly|annotationProcessor|kapt|ksp|classpath|compile|testCompile)\s*\(?\s*['"]([^'":\s]+):([^'":\s]+)(?::([^'"\s]+))?['"]"#)
            .map_err(|e| err("build.gradle", e.to_string()))?;
        for c in re.captures_iter(text) {
            let ver = c.get(3).map_or("", |m| m.as_str());
            add(&format!("{}:{}", &c[1], &c[2]), ver);
            add(&c[2], ver);
        }
    } else if name == "gemfile" || name.ends_with(".gemspec") {
        let re = regex::Regex::new(r#"(?m)^\s*(?:gem|spec\.add_(?:runtime_|development_)?dependency)\s*\(?\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"])?"#)
            .map_err(|e| err("Gemfile", e.to_string()))?;
        for c in re.captures_iter(text) {
            add(&c[1], c.get(2).map_or("", |m| m.as_str()));
        }
    } else {
        for line in text.lines() {
            let t = line.split(" #").next().unwrap_or("").trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with('-') {
                continue;
            }
            let (n, spec) = split_requirement(t);
            add(&n, &spec);
        }
    }
    Ok(out)
}

/// Splits a PEP 508 requirement `name[extra]>=1.0; marker` into name and version spec.
fn split_requirement(r: &str) -> (String, String) {
    let r = r.split(';').next().unwrap_or("").trim();
    let end = r
        .find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(r.len());
    let name = r[..end].to_string();
    let rest = r[end..].trim();
    let rest = if rest.starts_with('[') {
        rest.find(']').map(|i| rest[i + 1..].trim()).unwrap_or("")
    } else {
        rest
    };
    (
        name,
        rest.trim_start_matches(['(', ' '])
            .trim_end_matches(')')
            .to_string(),
    )
}

/// First dotted numeric version `\d+(\.\d+)*` in a spec, as numbers.
pub fn first_version(spec: &str) -> Option<Vec<u64>> {
    let re = regex::Regex::new(r"\d+(?:\.\d+)*").ok()?;
    let m = re.find(spec)?;
    m.as_str().split('.').map(|p| p.parse().ok()).collect()
}

fn cmp_versions(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x.cmp(&y);
        }
    }
    std::cmp::Ordering::Equal
}

/// Checks `version` against a PEP 440-style constraint: comma-separated clauses with
/// `>=, <=, ==, !=, ~=, >, <, ===` on dotted numeric versions, `==1.2.*` wildcards allowed.
/// A bare version means `==`. Errors name the clause that could not be read.
pub fn satisfies(version: &[u64], constraint: &str) -> Result<bool, String> {
    for clause in constraint.split(',') {
        let c = clause.trim();
        if c.is_empty() {
            continue;
        }
        let ops = ["===", "~=", "==", "!=", ">=", "<=", ">", "<"];
        let op = ops
            .iter()
            .find(|o| c.starts_with(**o))
            .copied()
            .unwrap_or("==");
        let rest = c[if c.starts_with(op) { op.len() } else { 0 }..].trim();
        let wildcard = rest.ends_with(".*");
        let target = first_version(rest.trim_end_matches(".*"))
            .ok_or_else(|| format!("cannot read version in '{c}'"))?;
        use std::cmp::Ordering::*;
        let prefix_eq = |v: &[u64], t: &[u64]| {
            t.iter()
                .enumerate()
                .all(|(i, x)| v.get(i).copied().unwrap_or(0) == *x)
        };
        let ord = cmp_versions(version, &target);
        let ok = match op {
            "==" | "===" if wildcard => prefix_eq(version, &target),
            "!=" if wildcard => !prefix_eq(version, &target),
            "==" | "===" => ord == Equal,
            "!=" => ord != Equal,
            ">=" => ord != Less,
            "<=" => ord != Greater,
            ">" => ord == Greater,
            "<" => ord == Less,
            "~=" => {
                if target.len() < 2 {
                    return Err(format!("'~=' needs at least two version parts in '{c}'"));
                }
                ord != Less && prefix_eq(version, &target[..target.len() - 1])
            }
            _ => return Err(format!("unknown operator in '{c}'")),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_formats_resolve_dotted_keys() {
        let y = parse_config("c.yaml", "session:\n  timeout: 30\n  secure: true\n").expect("yaml");
        assert_eq!(lookup(&y, "session.timeout"), Some(&json!(30)));
        assert_eq!(python_str(lookup(&y, "session.secure").expect("k")), "True");
        let t = parse_config(
            "c.toml",
            "[server]\nhsts_max_age = 31536000\nhosts = [\"a\", \"b\"]\n",
        )
        .expect("toml");
        assert_eq!(lookup(&t, "server.hsts_max_age"), Some(&json!(31536000)));
        assert_eq!(
            python_str(lookup(&t, "server.hosts").expect("k")),
            "['a', 'b']"
        );
        assert_eq!(lookup(&t, "server.hosts.1"), Some(&json!("b")));
        let i = parse_config("setup.cfg", "[auth]\ntimeout = 30\n").expect("ini");
        assert!(lookup(&i, "auth.timeout").is_some() && lookup(&i, "timeout").is_some());
        let e = parse_config(".env", "export SECRET_KEY=\"abc\"\n# X=1\n").expect("env");
        assert_eq!(lookup(&e, "SECRET_KEY"), Some(&json!("abc")));
        assert!(lookup(&e, "X").is_none());
        let j = parse_config("a.json", "{\"a\":{\"b\":null},\"a.c\":1}").expect("json");
        assert!(lookup(&j, "a.b").is_none());
        assert!(lookup(&j, "a.c").is_some());
        assert!(parse_config("bad.json", "{").is_err());
    }

    #[test]
    fn manifests_parse() {
        let req = parse_manifest(
            "requirements.txt",
            "Flask-Login>=0.6 # web\ncryptography[ssh]==41.0.3; python_version>'3'\n-r other.txt\n",
        )
        .expect("req");
        assert_eq!(req["flask_login"].1, ">=0.6");
        assert_eq!(req["cryptography"].1, "==41.0.3");
        let pj = parse_manifest(
            "web/package.json",
            r#"{"dependencies":{"helmet":"^7.1.0"},"devDependencies":{"jest":"29"}}"#,
        )
        .expect("pj");
        assert!(pj.contains_key("helmet") && pj.contains_key("jest"));
        let cargo = parse_manifest("Cargo.toml", "[dependencies]\nring = \"0.17\"\nmy-tls = { package = \"rustls\", version = \"0.23\" }\n").expect("cargo");
        assert_eq!(cargo["rustls"].1, "0.23");
        let gomod = parse_manifest("go.mod", "module x\n\nrequire (\n\tgithub.com/golang-jwt/jwt/v5 v5.2.0\n)\nrequire golang.org/x/crypto v0.21.0\n").expect("go");
        assert!(
            gomod.contains_key("github_com/golang_jwt/jwt/v5")
                && gomod.contains_key("jwt")
                && gomod.contains_key("crypto")
        );
        let py = parse_manifest(
            "pyproject.toml",
            "[project]\ndependencies = [\"bcrypt>=4.0\", \"pyjwt[crypto]~=2.8\"]\n",
        )
        .expect("pyproject");
        assert_eq!(py["pyjwt"].1, "~=2.8");
        let pom = parse_manifest("pom.xml", "<project><dependencies><dependency><groupId>org.springframework.security</groupId><artifactId>spring-security-core</artifactId><version>6.2.1</version></dependency></dependencies></project>").expect("pom");
        assert!(
            pom.contains_key("org_springframework_security:spring_security_core")
                && pom.contains_key("spring_security_core")
        );
        let gem = parse_manifest(
            "Gemfile",
            "source 'https://rubygems.org'\ngem 'bcrypt', '~> 3.1.7'\ngem \"rails\"\n",
        )
        .expect("gem");
        assert_eq!(gem["bcrypt"].1, "~> 3.1.7");
        assert!(gem.contains_key("rails"));
    }

    #[test]
    fn pep440_constraints() {
        let v = first_version(">=41.0.3").expect("v");
        assert_eq!(v, vec![41, 0, 3]);
        assert_eq!(satisfies(&v, ">=41.0"), Ok(true));
        assert_eq!(satisfies(&v, ">=41.0,<42"), Ok(true));
        assert_eq!(satisfies(&v, ">=42"), Ok(false));
        assert_eq!(satisfies(&v, "~=41.0"), Ok(true));
        assert_eq!(satisfies(&v, "~=41.1"), Ok(false));
        assert_eq!(satisfies(&v, "==41.0.*"), Ok(true));
        assert_eq!(satisfies(&v, "!=41.0.3"), Ok(false));
        assert_eq!(satisfies(&v, "41.0.3"), Ok(true));
        assert_eq!(satisfies(&[2, 0], ">1.9, <=2"), Ok(true));
        assert!(satisfies(&v, ">=abc").is_err());
    }
}
