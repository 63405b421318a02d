//! Tier-2 (semantic) verification through an LLM provider chosen by the CI user.
//!
//! For each assertion the prompt is the server's `tier2_prompt` when it sent one,
//! otherwise one rendered locally from the type, params, description and linked control
//! (as the published CLI does). The relevant source excerpt is appended, the provider is
//! asked for a YES/NO answer, and the answer becomes `pass`/`fail` with its reasoning.
//! Source code goes only to the provider the user configured, never to the appliance.

use super::lang;
use super::workspace::Workspace;
use serde_json::{Value, json};
use std::time::Duration;

/// Largest source excerpt sent with one prompt, in characters.
pub const MAX_EXCERPT_CHARS: usize = 12_000;

/// Tier-2 provider and its connection settings.
#[derive(Debug, Clone)]
pub enum Provider {
    /// OpenAI-compatible `/chat/completions` (`OPENAI_API_KEY`, `OPENAI_BASE_URL`).
    OpenAi {
        base_url: String,
        api_key: String,
        model: String,
    },
    /// Anthropic Messages API (`ANTHROPIC_API_KEY`, optional `ANTHROPIC_BASE_URL`).
    Anthropic {
        base_url: String,
        api_key: String,
        model: String,
    },
    /// Local Ollama `/api/chat` (`OLLAMA_HOST`, default `http://localhost:11434`).
    Ollama { base_url: String, model: String },
}

/// A provider that cannot be configured or answered badly.
#[derive(Debug, thiserror::Error)]
pub enum Tier2Error {
    /// Unknown provider name.
    #[error("unknown tier-2 provider '{0}' (use openai, anthropic or ollama)")]
    Unknown(String),
    /// Required environment variable missing.
    #[error("tier-2 provider '{0}' needs the environment variable {1}")]
    MissingEnv(&'static str, &'static str),
    /// HTTP/network failure.
    #[error("tier-2 provider request failed: {0}")]
    Http(String),
    /// The answer had no YES/NO.
    #[error("tier-2 answer has no YES/NO verdict: {0}")]
    Unparseable(String),
}

impl Provider {
    /// Builds a provider from its name, an optional model and the environment.
    pub fn from_env(name: &str, model: Option<&str>) -> Result<Self, Tier2Error> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        match name {
            "openai" => Ok(Provider::OpenAi {
                base_url: env("OPENAI_BASE_URL")
                    .unwrap_or_else(|| "https://api.openai.com/v1".into()),
                api_key: env("OPENAI_API_KEY")
                    .ok_or(Tier2Error::MissingEnv("openai", "OPENAI_API_KEY"))?,
                model: model.unwrap_or("gpt-4o-mini").into(),
            }),
            "anthropic" => Ok(Provider::Anthropic {
                base_url: env("ANTHROPIC_BASE_URL")
                    .unwrap_or_else(|| "https://api.anthropic.com".into()),
                api_key: env("ANTHROPIC_API_KEY")
                    .ok_or(Tier2Error::MissingEnv("anthropic", "ANTHROPIC_API_KEY"))?,
                model: model.unwrap_or("claude-3-5-haiku-latest").into(),
            }),
            "ollama" => Ok(Provider::Ollama {
                base_url: env("OLLAMA_HOST")
                    .map(|h| {
                        if h.starts_with("http") {
                            h
                        } else {
                            format!("http://{h}")
                        }
                    })
                    .unwrap_or_else(|| "http://localhost:11434".into()),
                model: model.unwrap_or("llama3.1").into(),
            }),
            other => Err(Tier2Error::Unknown(other.into())),
        }
    }

    /// `reviewer` value of the result rows: `ai:<provider>/<model>`.
    pub fn reviewer(&self) -> String {
        match self {
            Provider::OpenAi { model, .. } => format!("ai:openai/{model}"),
            Provider::Anthropic { model, .. } => format!("ai:anthropic/{model}"),
            Provider::Ollama { model, .. } => format!("ai:ollama/{model}"),
        }
    }

    /// Sends one prompt and returns the raw answer text.
    pub fn ask(&self, prompt: &str) -> Result<String, Tier2Error> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Tier2Error::Http(e.to_string()))?;
        let system = "You verify security claims about source code. Answer with YES or NO on the first line, then one short paragraph of reasoning.";
        let (req, pick): (reqwest::blocking::RequestBuilder, fn(&Value) -> Option<String>) = match self {
            Provider::OpenAi { base_url, api_key, model } => (
                http.post(format!("{}/chat/completions", base_url.trim_end_matches('/')))
                    .bearer_auth(api_key)
                    .json(&json!({"model": model, "temperature": 0,
                        "messages": [{"role":"system","content":system},{"role":"user","content":prompt}]})),
                |v| v.pointer("/choices/0/message/content").and_then(Value::as_str).map(String::from),
            ),
            Provider::Anthropic { base_url, api_key, model } => (
                http.post(format!("{}/v1/messages", base_url.trim_end_matches('/')))
                    .header("x-api-key", api_key)
                    .header("anthropic-version", "2023-06-01")
                    .json(&json!({"model": model, "max_tokens": 512, "system": system,
                        "messages": [{"role":"user","content":prompt}]})),
                |v| v.pointer("/content/0/text").and_then(Value::as_str).map(String::from),
            ),
            Provider::Ollama { base_url, model } => (
                http.post(format!("{}/api/chat", base_url.trim_end_matches('/')))
                    .json(&json!({"model": model, "stream": false, "options": {"temperature": 0},
                        "messages": [{"role":"system","content":system},{"role":"user","content":prompt}]})),
                |v| v.pointer("/message/content").and_then(Value::as_str).map(String::from),
            ),
        };
        let resp = req.send().map_err(|e| Tier2Error::Http(e.to_string()))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .map_err(|e| Tier2Error::Http(format!("{status}: {e}")))?;
        if !status.is_success() {
            return Err(Tier2Error::Http(format!(
                "{status}: {}",
                lang::shorten(&body.to_string(), 300)
            )));
        }
        pick(&body).ok_or_else(|| {
            Tier2Error::Http(format!(
                "unexpected answer shape: {}",
                lang::shorten(&body.to_string(), 300)
            ))
        })
    }
}

/// Parses a provider answer: the first YES or NO word decides. Returns (passed, reasoning).
pub fn parse_answer(answer: &str) -> Result<(bool, String), Tier2Error> {
    let reasoning = lang::shorten(answer.trim(), 2000);
    for word in answer.split(|c: char| !c.is_ascii_alphabetic()) {
        match word.to_ascii_uppercase().as_str() {
            "YES" => return Ok((true, reasoning)),
            "NO" => return Ok((false, reasoning)),
            _ => {}
        }
    }
    Err(Tier2Error::Unparseable(lang::shorten(answer.trim(), 200)))
}

/// Renders the tier-2 prompt locally from an assertion and its control text (spec/03
/// "How Tier 2 Prompts Work"): what to read, the control, the assertion's scope and the
/// YES/NO criterion for the type.
pub fn render_prompt(assertion: &Value, control_text: &str) -> String {
    let kind = assertion.get("type").and_then(Value::as_str).unwrap_or("");
    let p = assertion.get("params").cloned().unwrap_or(Value::Null);
    let s = |k: &str| {
        p.get(k)
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    };
    let desc = assertion
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (read, criterion) = match kind {
        "function_exists" => (
            format!("Read the function `{}` in `{}`.", s("name"), s("file")),
            "Answer YES if the function contains meaningful implementation logic that proves the stated aspect of the control. Answer NO if it is a stub, no-op, pass-through, or does not prove it.",
        ),
        "class_exists" => (
            format!("Read the class `{}` in `{}`.", s("name"), s("file")),
            "Answer YES if the class implements logic that proves the stated aspect. Answer NO if it is empty, a placeholder, or unrelated.",
        ),
        "decorator_present" => (
            format!(
                "Read `{}` and its decorator `{}` in `{}`.",
                s("function"),
                s("decorator"),
                s("file")
            ),
            "Answer YES if the decorator enforces the stated aspect on that function. Answer NO if it is cosmetic or unrelated.",
        ),
        "function_calls" => (
            format!(
                "Read `{}` in `{}` and its call to `{}`.",
                s("caller"),
                s("file"),
                s("callee")
            ),
            "Answer YES if the call is made on the relevant path and proves the stated aspect. Answer NO if it is conditional in a way that defeats it, dead code, or unrelated.",
        ),
        "parameter_validated" => (
            format!(
                "Read how `{}` validates parameter `{}` in `{}`.",
                s("function"),
                s("parameter"),
                s("file")
            ),
            "Answer YES if the parameter is really validated before use. Answer NO otherwise.",
        ),
        "error_handled" => (
            format!(
                "Read the error handling of `{}` in `{}`.",
                s("function"),
                s("file")
            ),
            "Answer YES if errors are handled safely for the stated aspect. Answer NO if they are swallowed, logged only, or unrelated.",
        ),
        "no_plaintext_secret"
        | "file_hash"
        | "test_exists"
        | "dependency_exists"
        | "dependency_version" => (
            format!("Consider the tier-1 check `{kind}` with params {p}."),
            "Answer YES if this check is meaningful evidence for the stated aspect of the control (for example, the patterns would catch real secrets, the pinned file matters). Answer NO otherwise.",
        ),
        _ => (
            format!("Read `{}` (check `{kind}` with params {p}).", s("file")),
            "Answer YES if the code shown proves the stated aspect of the control. Answer NO if it does not.",
        ),
    };
    format!(
        "{read}\n\nSecurity Control\n{control_text}\n\nThis Assertion's Scope\nThis assertion covers one specific aspect of the control above: {desc}. Other assertions may cover other aspects — evaluate only whether this evidence proves the stated aspect.\n\n{criterion}"
    )
}

/// The source excerpt for an assertion: the function/class body when one is named,
/// otherwise the head of the file, capped at [`MAX_EXCERPT_CHARS`].
pub fn excerpt(ws: &Workspace, assertion: &Value) -> Option<String> {
    let p = assertion.get("params")?;
    let file = p
        .get("file")
        .or_else(|| p.get("manifest"))
        .and_then(Value::as_str)?;
    let text = ws.read(file).ok()?;
    let l = lang::Lang::of(file);
    let code = lang::blank(&text, l);
    let name = ["name", "function", "caller"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str));
    let (a, b) = name
        .and_then(|n| lang::find_function(&code, n, l).or_else(|| lang::find_class(&code, n, l)))
        .map(|site| {
            let (_, end) = lang::body_range(&code, site);
            (site.offset, end)
        })
        .unwrap_or((0, text.len()));
    let mut end = (a + MAX_EXCERPT_CHARS).min(b.max(a));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!(
        "--- {file} (from line {}) ---\n{}",
        lang::line_of(&text, a),
        &text[a..end]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        assert!(parse_answer("YES\nIt validates tokens.").expect("yes").0);
        assert!(!parse_answer("**No.** It is a stub").expect("no").0);
        assert!(parse_answer("I cannot tell").is_err());
    }

    #[test]
    fn prompt_mentions_target_and_scope() {
        let a = json!({"type":"function_exists","params":{"file":"auth/middleware.py","name":"require_auth"},"description":"Validates JWT"});
        let p = render_prompt(&a, "Enforce authentication");
        assert!(p.contains("`require_auth` in `auth/middleware.py`"));
        assert!(p.contains("Enforce authentication") && p.contains("Validates JWT"));
    }
}
