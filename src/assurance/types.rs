//! The 21 assertion types of spec/03: their parameters (as the published verify CLI reads
//! them, contracts/mipiti-verify-wire.md §7), validation of submitted params, what kind of
//! evidence each type can be, and the deterministic tier-2 prompt template per type.

use serde_json::{Map, Value};

/// What kind of proof an assertion type provides; used by coherence and sufficiency rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// Code structure exists (functions, classes, decorators, calls, imports, middleware).
    Structure,
    /// Tests exist or pass: behaviour.
    Behavior,
    /// Configuration keys/values, environment, response headers.
    Configuration,
    /// Third-party packages and versions.
    Dependency,
    /// A file's exact content (integrity pinning).
    Integrity,
    /// A file exists.
    Presence,
    /// A pattern is or is not in the code.
    Pattern,
    /// No hard-coded secrets.
    SecretAbsence,
    /// Input parameters are validated.
    Validation,
    /// Errors are handled.
    ErrorHandling,
}

/// A parameter of an assertion type.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    /// Name in `params`.
    pub name: &'static str,
    /// Must be present.
    pub required: bool,
    /// Value kind.
    pub kind: ParamKind,
    /// What it means (shown in errors, UI forms and MCP schemas).
    pub help: &'static str,
}

/// Value kinds of parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A non-empty string.
    Text,
    /// A list of non-empty strings.
    TextList,
    /// `true`/`false` (or the strings "true"/"false"/"1"/"0", as the CLI accepts).
    Flag,
}

/// One assertion type.
#[derive(Debug, Clone, Copy)]
pub struct AssertionType {
    /// Wire name, e.g. `function_exists`.
    pub name: &'static str,
    /// What it claims.
    pub claims: &'static str,
    /// Parameters.
    pub params: &'static [Param],
    /// What it can prove.
    pub evidence: &'static [Evidence],
    /// Accepts `target: "feature_description"` + `target_content` instead of `file`.
    pub targetable: bool,
}

const fn req(name: &'static str, help: &'static str) -> Param {
    Param {
        name,
        required: true,
        kind: ParamKind::Text,
        help,
    }
}

const fn opt(name: &'static str, kind: ParamKind, help: &'static str) -> Param {
    Param {
        name,
        required: false,
        kind,
        help,
    }
}

const FILE: Param = req("file", "path relative to the project root");

const PATTERN_PARAMS: &[Param] = &[
    req("pattern", "RE2 regular expression"),
    opt("file", ParamKind::Text, "path relative to the project root"),
    opt(
        "target",
        ParamKind::Text,
        "\"feature_description\" to search target_content instead of a file",
    ),
    opt(
        "target_content",
        ParamKind::Text,
        "text searched when target is given",
    ),
    opt(
        "scope_start",
        ParamKind::Text,
        "regex; search starts at its first match",
    ),
    opt(
        "scope_end",
        ParamKind::Text,
        "regex; search ends at its next match",
    ),
    opt("multiline", ParamKind::Flag, "^ and $ match at line breaks"),
    opt("dotall", ParamKind::Flag, ". matches newlines"),
];

use Evidence as E;

/// Every supported type, in the order of spec/03.
pub const TYPES: &[AssertionType] = &[
    AssertionType {
        name: "function_exists",
        claims: "A named function exists at a location",
        params: &[FILE, req("name", "function name")],
        evidence: &[E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "class_exists",
        claims: "A named class exists",
        params: &[FILE, req("name", "class, struct, interface or enum name")],
        evidence: &[E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "decorator_present",
        claims: "A function has a specific decorator",
        params: &[
            FILE,
            req("decorator", "decorator name, e.g. require_auth"),
            req("function", "decorated function"),
        ],
        evidence: &[E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "function_calls",
        claims: "One function calls another",
        params: &[
            FILE,
            req("caller", "calling function"),
            req("callee", "called function"),
        ],
        evidence: &[E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "parameter_validated",
        claims: "A function parameter has validation",
        params: &[
            FILE,
            req("function", "function name"),
            req("parameter", "parameter name"),
        ],
        evidence: &[E::Validation, E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "test_passes",
        claims: "Matching tests exist and pass",
        params: &[FILE, req("test_name", "test name or prefix")],
        evidence: &[E::Behavior],
        targetable: false,
    },
    AssertionType {
        name: "test_exists",
        claims: "Matching tests exist",
        params: &[req("pattern", "glob of test files, ** recurses")],
        evidence: &[E::Behavior],
        targetable: false,
    },
    AssertionType {
        name: "config_key_exists",
        claims: "A config key is present",
        params: &[FILE, req("key", "dotted key, e.g. session.timeout")],
        evidence: &[E::Configuration],
        targetable: false,
    },
    AssertionType {
        name: "config_value_matches",
        claims: "A config value matches expected",
        params: &[
            FILE,
            req("key", "dotted key"),
            req("pattern", "RE2 regex the value must match"),
        ],
        evidence: &[E::Configuration],
        targetable: false,
    },
    AssertionType {
        name: "dependency_exists",
        claims: "A package is in the dependency manifest",
        params: &[
            req(
                "manifest",
                "requirements.txt, package.json, Cargo.toml, go.mod, pyproject.toml, pom.xml, Gemfile",
            ),
            req("package", "package name"),
        ],
        evidence: &[E::Dependency],
        targetable: false,
    },
    AssertionType {
        name: "dependency_version",
        claims: "A package version satisfies a constraint",
        params: &[
            req("manifest", "dependency manifest path"),
            req("package", "package name"),
            req("constraint", "PEP 440 constraint, e.g. >=41.0"),
        ],
        evidence: &[E::Dependency],
        targetable: false,
    },
    AssertionType {
        name: "file_exists",
        claims: "A file exists at a path",
        params: &[FILE],
        evidence: &[E::Presence],
        targetable: false,
    },
    AssertionType {
        name: "file_hash",
        claims: "A file matches a cryptographic hash",
        params: &[
            FILE,
            req("expected_hash", "lower-case hex digest"),
            opt("algorithm", ParamKind::Text, "sha256 (default)"),
        ],
        evidence: &[E::Integrity],
        targetable: false,
    },
    AssertionType {
        name: "pattern_matches",
        claims: "A regex pattern matches in a file",
        params: PATTERN_PARAMS,
        evidence: &[E::Pattern],
        targetable: true,
    },
    AssertionType {
        name: "pattern_absent",
        claims: "A regex pattern does NOT match",
        params: PATTERN_PARAMS,
        evidence: &[E::Pattern],
        targetable: true,
    },
    AssertionType {
        name: "import_present",
        claims: "A module import exists",
        params: &[FILE, req("module", "imported module")],
        evidence: &[E::Structure, E::Dependency],
        targetable: false,
    },
    AssertionType {
        name: "env_var_referenced",
        claims: "An environment variable is used",
        params: &[FILE, req("variable", "environment variable name")],
        evidence: &[E::Configuration],
        targetable: false,
    },
    AssertionType {
        name: "error_handled",
        claims: "Error handling exists for specific cases",
        params: &[FILE, req("function", "function whose errors are handled")],
        evidence: &[E::ErrorHandling, E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "no_plaintext_secret",
        claims: "No hardcoded secrets matching a pattern",
        params: &[
            FILE,
            Param {
                name: "patterns",
                required: true,
                kind: ParamKind::TextList,
                help: "list of RE2 regexes of secrets",
            },
        ],
        evidence: &[E::SecretAbsence],
        targetable: false,
    },
    AssertionType {
        name: "middleware_registered",
        claims: "Named middleware is registered",
        params: &[FILE, req("middleware", "middleware name")],
        evidence: &[E::Structure],
        targetable: false,
    },
    AssertionType {
        name: "http_header_set",
        claims: "An HTTP header is set in responses",
        params: &[
            FILE,
            req("header", "header name, e.g. X-Content-Type-Options"),
        ],
        evidence: &[E::Configuration, E::Structure],
        targetable: false,
    },
];

/// Looks a type up by wire name.
pub fn lookup(name: &str) -> Option<&'static AssertionType> {
    TYPES.iter().find(|t| t.name == name)
}

/// Why submitted params are not acceptable; names the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// Offending field (`type`, or `params.<name>`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ParamError {
    ParamError {
        field: field.into(),
        message: message.into(),
    }
}

fn is_flag(v: &Value) -> bool {
    match v {
        Value::Bool(_) => true,
        Value::String(s) => matches!(s.as_str(), "true" | "false" | "1" | "0"),
        _ => false,
    }
}

/// Checks a type name and its params: known type, params an object, every required param
/// present with the right kind, no unknown params, no floats (they cannot be hashed the way
/// the CI client hashes them), valid regexes where a regex is expected.
pub fn validate(type_name: &str, params: &Value) -> Result<&'static AssertionType, ParamError> {
    let t = lookup(type_name).ok_or_else(|| {
        err(
            "type",
            format!(
                "unknown assertion type {type_name:?}; use one of: {}",
                TYPES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let Value::Object(map) = params else {
        return Err(err("params", "must be a JSON object"));
    };
    if crate::wire::canonical::params_have_float(params) {
        return Err(err(
            "params",
            "must not contain floating-point numbers (use strings or integers)",
        ));
    }
    for (key, value) in map {
        let Some(p) = t.params.iter().find(|p| p.name == key) else {
            return Err(err(
                format!("params.{key}"),
                format!(
                    "is not a parameter of {}; allowed: {}",
                    t.name,
                    t.params
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        let ok = match p.kind {
            ParamKind::Text => value.as_str().is_some_and(|s| !s.trim().is_empty()),
            ParamKind::TextList => value.as_array().is_some_and(|a| {
                !a.is_empty() && a.iter().all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            }),
            ParamKind::Flag => is_flag(value),
        };
        if !ok {
            let want = match p.kind {
                ParamKind::Text => "a non-empty string",
                ParamKind::TextList => "a non-empty list of strings",
                ParamKind::Flag => "true or false",
            };
            return Err(err(
                format!("params.{key}"),
                format!("must be {want} ({})", p.help),
            ));
        }
    }
    let has = |k: &str| map.contains_key(k);
    for p in t.params.iter().filter(|p| p.required) {
        if !has(p.name) {
            return Err(err(
                format!("params.{}", p.name),
                format!("is required for {} ({})", t.name, p.help),
            ));
        }
    }
    if t.targetable {
        let targeted = has("target");
        if targeted {
            if map.get("target").and_then(Value::as_str) != Some("feature_description") {
                return Err(err(
                    "params.target",
                    "the only target is \"feature_description\"",
                ));
            }
            if !has("target_content") {
                return Err(err("params.target_content", "is required with target"));
            }
        } else if !has("file") {
            return Err(err(
                "params.file",
                "is required (or target + target_content)",
            ));
        }
    }
    for key in ["pattern", "scope_start", "scope_end"] {
        if let Some(re) = map.get(key).and_then(Value::as_str)
            && (t.targetable || key == "pattern" && t.name == "config_value_matches")
        {
            regex::Regex::new(re).map_err(|e| {
                err(
                    format!("params.{key}"),
                    format!("is not a valid regex: {e}"),
                )
            })?;
        }
    }
    if let Some(list) = map.get("patterns").and_then(Value::as_array) {
        for (i, re) in list.iter().filter_map(Value::as_str).enumerate() {
            regex::Regex::new(re).map_err(|e| {
                err(
                    format!("params.patterns[{i}]"),
                    format!("is not a valid regex: {e}"),
                )
            })?;
        }
    }
    for key in ["file", "manifest"] {
        if let Some(file) = map.get(key).and_then(Value::as_str)
            && (file.starts_with('/') || file.split(['/', '\\']).any(|c| c == ".."))
        {
            return Err(err(
                format!("params.{key}"),
                "must be a path relative to the project root, without ..",
            ));
        }
    }
    if t.name == "test_passes" {
        // The CI verifier refuses these too (it runs the test command); refusing them here
        // keeps an injection attempt from ever being stored and served to CI.
        use crate::verify::testrun;
        let file = p(map, "file");
        let file = testrun::check_test_file(file).map_err(|m| err("params.file", m))?;
        let runner = testrun::Runner::of(&file).unwrap_or(testrun::Runner::JavaScript);
        testrun::check_test_name(runner, p(map, "test_name"))
            .map_err(|m| err("params.test_name", m))?;
    }
    Ok(t)
}

fn p<'a>(params: &'a Map<String, Value>, key: &str) -> &'a str {
    params.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The deterministic tier-2 prompt of an assertion: what to read, the control as the primary
/// target, the assertion's scope, and the YES/NO criterion (spec/03, "How Tier 2 Prompts Work").
pub fn tier2_prompt(type_name: &str, params: &Value, control: &str, description: &str) -> String {
    let empty = Map::new();
    let m = params.as_object().unwrap_or(&empty);
    let (read, yes, no) = match type_name {
        "function_exists" => (
            format!(
                "Read the function `{}` in `{}`.",
                p(m, "name"),
                p(m, "file")
            ),
            "the function contains meaningful implementation logic that proves the stated aspect of the control",
            "it is a stub, no-op, pass-through, or does not prove it",
        ),
        "class_exists" => (
            format!("Read the class `{}` in `{}`.", p(m, "name"), p(m, "file")),
            "the class implements behaviour that proves the stated aspect of the control",
            "it is an empty shell, unused, or does not prove it",
        ),
        "decorator_present" => (
            format!(
                "Read the function `{}` and its decorator `{}` in `{}`, and the decorator's implementation.",
                p(m, "function"),
                p(m, "decorator"),
                p(m, "file")
            ),
            "the decorator enforces the stated aspect of the control for this function",
            "the decorator does not enforce it, or is a no-op",
        ),
        "function_calls" => (
            format!(
                "Read `{}` in `{}` and its call to `{}`.",
                p(m, "caller"),
                p(m, "file"),
                p(m, "callee")
            ),
            "the call happens on every relevant path and its effect proves the stated aspect of the control",
            "the call is conditional in a way that defeats the control, dead code, or irrelevant",
        ),
        "parameter_validated" => (
            format!(
                "Read how `{}` validates its parameter `{}` in `{}`.",
                p(m, "function"),
                p(m, "parameter"),
                p(m, "file")
            ),
            "the parameter is validated strictly enough to prove the stated aspect of the control before it is used",
            "validation is missing, bypassable, or too weak",
        ),
        "test_passes" | "test_exists" => (
            if type_name == "test_passes" {
                format!(
                    "Read the test(s) `{}` in `{}`.",
                    p(m, "test_name"),
                    p(m, "file")
                )
            } else {
                format!("Read the tests matching `{}`.", p(m, "pattern"))
            },
            "the tests exercise the security-relevant behaviour and would fail if the stated aspect of the control were broken",
            "they are trivial, assert nothing relevant, or would pass with the control removed",
        ),
        "config_key_exists" | "config_value_matches" => (
            format!(
                "Read the configuration key `{}` in `{}` and where the application uses it.",
                p(m, "key"),
                p(m, "file")
            ),
            "the setting is actually applied by the application and its value enforces the stated aspect of the control",
            "the key is unused, overridden elsewhere, or its value does not enforce it",
        ),
        "dependency_exists" | "dependency_version" => (
            format!(
                "Read `{}` for the package `{}` and find where the code uses it.",
                p(m, "manifest"),
                p(m, "package")
            ),
            "the package is used by the code in a way that implements the stated aspect of the control",
            "the package is declared but unused for this purpose",
        ),
        "file_exists" => (
            format!("Read `{}`.", p(m, "file")),
            "the file's content implements or configures the stated aspect of the control",
            "the file is empty, a placeholder, or unrelated",
        ),
        "file_hash" => (
            format!(
                "Read `{}` and the code that pins or checks its hash.",
                p(m, "file")
            ),
            "verifying this file's hash is meaningful evidence of the stated aspect of the control (the code actually checks integrity as part of the control)",
            "the hash only proves the file did not change and says nothing about the control",
        ),
        "pattern_matches" | "pattern_absent" => (
            format!(
                "Read `{}` around the pattern `{}` ({}).",
                if p(m, "file").is_empty() {
                    "the feature description"
                } else {
                    p(m, "file")
                },
                p(m, "pattern"),
                if type_name == "pattern_matches" {
                    "it must match"
                } else {
                    "it must not match"
                }
            ),
            "the presence/absence of this pattern genuinely proves the stated aspect of the control",
            "the pattern is too narrow or too broad to prove it",
        ),
        "import_present" => (
            format!(
                "Read `{}` and how it uses the module `{}`.",
                p(m, "file"),
                p(m, "module")
            ),
            "the imported module is used to implement the stated aspect of the control",
            "the import is unused or unrelated",
        ),
        "env_var_referenced" => (
            format!(
                "Read how `{}` uses the environment variable `{}`.",
                p(m, "file"),
                p(m, "variable")
            ),
            "the variable configures the stated aspect of the control and is not bypassed when unset",
            "it is optional in a way that defeats the control, or unrelated",
        ),
        "error_handled" => (
            format!(
                "Read the error handling in `{}` in `{}`.",
                p(m, "function"),
                p(m, "file")
            ),
            "the errors relevant to the control are handled safely (fail closed, no information leak)",
            "errors are swallowed, logged and ignored, or handled unsafely",
        ),
        "no_plaintext_secret" => (
            format!(
                "Read `{}` and the secret patterns {}.",
                p(m, "file"),
                m.get("patterns").map(Value::to_string).unwrap_or_default()
            ),
            "the patterns genuinely catch the kinds of secrets the control is about, so their absence is meaningful",
            "the patterns are too narrow to catch real secrets",
        ),
        "middleware_registered" => (
            format!(
                "Read where `{}` is registered in `{}` and what it does.",
                p(m, "middleware"),
                p(m, "file")
            ),
            "the middleware is applied to the relevant routes and enforces the stated aspect of the control",
            "it is registered but bypassed for relevant routes, or does not enforce it",
        ),
        "http_header_set" => (
            format!(
                "Read where `{}` sets the header `{}`.",
                p(m, "file"),
                p(m, "header")
            ),
            "the header is set on the relevant responses with a value that enforces the stated aspect of the control",
            "it is missing on relevant responses or its value is too weak",
        ),
        other => (
            format!("Evaluate the `{other}` evidence with params {params}."),
            "it proves the stated aspect of the control",
            "it does not",
        ),
    };
    format!(
        "{read}\n\n## Security Control\n{control}\n\n## This Assertion's Scope\nThis assertion covers one specific aspect of the control above: {description} Other assertions may cover other aspects — evaluate only whether this evidence proves the stated aspect.\n\nAnswer YES if {yes}. Answer NO if {no}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn there_are_21_types() {
        assert_eq!(TYPES.len(), 21);
    }

    #[test]
    fn validation_names_the_field() {
        assert!(validate("function_exists", &json!({"file": "a.py", "name": "f"})).is_ok());
        assert_eq!(validate("nope", &json!({})).unwrap_err().field, "type");
        assert_eq!(
            validate("function_exists", &json!({"file": "a.py"}))
                .unwrap_err()
                .field,
            "params.name"
        );
        assert_eq!(
            validate("function_exists", &json!({"file": "a.py", "name": 5}))
                .unwrap_err()
                .field,
            "params.name"
        );
        assert_eq!(
            validate(
                "function_exists",
                &json!({"file": "a.py", "name": "f", "x": "y"})
            )
            .unwrap_err()
            .field,
            "params.x"
        );
        assert_eq!(
            validate(
                "file_hash",
                &json!({"file": "a", "expected_hash": "ab", "n": 1.5})
            )
            .unwrap_err()
            .field,
            "params"
        );
        assert_eq!(
            validate("pattern_matches", &json!({"pattern": "("}))
                .unwrap_err()
                .field,
            "params.file"
        );
        assert_eq!(
            validate("pattern_matches", &json!({"pattern": "(", "file": "a"}))
                .unwrap_err()
                .field,
            "params.pattern"
        );
        assert!(
            validate(
                "pattern_matches",
                &json!({"pattern": "x", "target": "feature_description", "target_content": "x"})
            )
            .is_ok()
        );
        assert!(
            validate(
                "no_plaintext_secret",
                &json!({"file": "a", "patterns": ["AKIA[0-9A-Z]{16}"]})
            )
            .is_ok()
        );
        assert_eq!(
            validate("no_plaintext_secret", &json!({"file": "a", "patterns": []}))
                .unwrap_err()
                .field,
            "params.patterns"
        );
        assert_eq!(
            validate("file_exists", &json!({"file": "../etc/passwd"}))
                .unwrap_err()
                .field,
            "params.file"
        );
        assert!(
            validate(
                "pattern_absent",
                &json!({"file": "a", "pattern": "eval\\(", "multiline": "true"})
            )
            .is_ok()
        );
    }

    #[test]
    fn prompt_follows_the_spec_example() {
        let p = tier2_prompt(
            "function_exists",
            &json!({"file": "auth/middleware.py", "name": "require_auth"}),
            "Enforce authentication on all API endpoints; reject unauthenticated requests with 401.",
            "Authentication middleware validates JWT tokens and rejects expired/invalid tokens with 401.",
        );
        assert!(p.starts_with("Read the function `require_auth` in `auth/middleware.py`."));
        assert!(p.contains("## Security Control\nEnforce authentication"));
        assert!(p.contains("Answer YES if the function contains meaningful implementation logic"));
        assert!(
            p.contains("Answer NO if it is a stub, no-op, pass-through, or does not prove it.")
        );
    }
}
