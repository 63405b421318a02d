//! The HTTP client for Atlassian REST APIs (Jira and Confluence, Data Center/Server and
//! Cloud): authentication, a bounded call rate per site, retries with backoff, and errors
//! that say what to fix.
//!
//! - Auth: a personal access token (`Authorization: Bearer`, Data Center/Server) or an email
//!   plus API token (`Authorization: Basic`, Cloud).
//! - Rate: calls to one host are spaced by `60 / integrations.calls_per_minute` seconds,
//!   shared by every thread of the process (exports, the worker, webhooks' follow-ups).
//! - Retries inside one call: 429 (honouring `Retry-After` up to [`MAX_INLINE_WAIT`]) and
//!   503 for every method; 502/504 and connection failures only for requests that are safe
//!   to repeat (GET, PUT). After [`INLINE_ATTEMPTS`] the call fails as [`CallError::Transient`]
//!   and the caller's queue retries later with its own, longer backoff.
//! - 401/403/404/400 are [`CallError::Permanent`]: retrying cannot help until someone fixes
//!   the token, the permissions or the configured project/space.
//!
//! Response bodies are never logged; error messages quote only Atlassian's own
//! `errorMessages`/`message` fields, bounded in length.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::Value;

/// Attempts of one call before it is handed back to the queue.
pub const INLINE_ATTEMPTS: u32 = 3;
/// Longest `Retry-After` waited for inside a call; longer ones go back to the queue.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(10);
/// Longest error text quoted from a response.
const MAX_QUOTE: usize = 300;

/// How the appliance authenticates to a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Data Center/Server personal access token.
    Pat(String),
    /// Cloud: account email and API token.
    Basic {
        /// Atlassian account email.
        email: String,
        /// API token.
        token: String,
    },
}

impl Auth {
    fn header(&self) -> String {
        match self {
            Auth::Pat(t) => format!("Bearer {t}"),
            Auth::Basic { email, token } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"))
            ),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The site was unreachable, busy or failing: try again later.
    #[error("{message}")]
    Transient {
        /// What happened.
        message: String,
        /// The site asked to wait this long (seconds).
        retry_after: Option<u64>,
    },
    /// The site refused the request; retrying cannot help until the configuration changes.
    #[error("{message}")]
    Permanent {
        /// HTTP status.
        status: u16,
        /// What to fix.
        message: String,
    },
    /// 409: the object changed meanwhile (Confluence page versions).
    #[error("{0}")]
    Conflict(String),
}

impl CallError {
    /// HTTP status of a permanent failure (0 otherwise).
    pub fn status(&self) -> u16 {
        match self {
            CallError::Permanent { status, .. } => *status,
            CallError::Conflict(_) => 409,
            CallError::Transient { .. } => 0,
        }
    }
}

/// Spaces calls per host; shared by every clone of the client.
#[derive(Debug, Default)]
struct Limiter {
    next: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    /// Waits for the next free slot of `host` and books the one after it.
    fn acquire(&self, host: &str, interval: Duration) {
        let wait = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = next.get(host).copied().filter(|t| *t > now).unwrap_or(now);
            next.insert(host.to_string(), slot + interval);
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A blocking client shared by every integration of the process; cheap to clone.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client,
    limiter: Arc<Limiter>,
    interval: Duration,
    /// Base delay of the inline retries (tests shorten it).
    backoff: Duration,
}

/// One site: base URL and credentials, plus the product name used in messages.
#[derive(Debug, Clone)]
pub struct Site {
    /// Base URL without a trailing slash (`https://jira.example.com`, or a context path).
    pub base_url: String,
    /// Credentials.
    pub auth: Auth,
    /// "Jira" or "Confluence".
    pub product: &'static str,
}

impl Site {
    fn host(&self) -> String {
        reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
            })
            .unwrap_or_else(|| self.base_url.clone())
    }
}

impl Http {
    /// Builds the client: `calls_per_minute` per host, `timeout` per request.
    pub fn new(calls_per_minute: u64, timeout: Duration) -> anyhow::Result<Self> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            limiter: Arc::new(Limiter::default()),
            interval: Duration::from_secs_f64(60.0 / calls_per_minute.max(1) as f64),
            backoff: Duration::from_millis(500),
        })
    }

    /// A JSON call; `Ok(Value::Null)` for empty answers (204).
    pub fn json(
        &self,
        site: &Site,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CallError> {
        self.call(site, method, path, |r| match body {
            Some(b) => r.json(b),
            None => r,
        })
    }

    /// Uploads one file as multipart `file` (Confluence attachments).
    pub fn upload(
        &self,
        site: &Site,
        path: &str,
        filename: &str,
        mime: &str,
        bytes: Vec<u8>,
    ) -> Result<Value, CallError> {
        let filename = filename.to_string();
        let mime = mime.to_string();
        self.call(site, Method::PUT, path, move |r| {
            let part = reqwest::blocking::multipart::Part::bytes(bytes.clone())
                .file_name(filename.clone())
                .mime_str(&mime)
                .unwrap_or_else(|_| reqwest::blocking::multipart::Part::bytes(bytes.clone()));
            let form = reqwest::blocking::multipart::Form::new()
                .part("file", part)
                .text("minorEdit", "true");
            r.header("X-Atlassian-Token", "no-check").multipart(form)
        })
    }

    fn call(
        &self,
        site: &Site,
        method: Method,
        path: &str,
        body: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Value, CallError> {
        let url = format!("{}{path}", site.base_url);
        let host = site.host();
        let repeatable = matches!(method, Method::GET | Method::PUT | Method::DELETE);
        let mut last = String::new();
        for attempt in 0..INLINE_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(self.backoff * (1 << (attempt - 1)));
            }
            self.limiter.acquire(&host, self.interval);
            let req = self
                .client
                .request(method.clone(), &url)
                .header("Authorization", site.auth.header())
                .header("Accept", "application/json");
            let sent = body(req).send();
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!(
                        "cannot reach {} at {}: {}",
                        site.product,
                        site.base_url,
                        describe(&e)
                    );
                    // A refused connection never delivered the request: safe to repeat.
                    if repeatable || e.is_connect() {
                        continue;
                    }
                    // A POST that may or may not have arrived is not repeated here.
                    return Err(CallError::Transient {
                        message: last,
                        retry_after: None,
                    });
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = resp.text().unwrap_or_default();
            if (200..300).contains(&status) {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|_| CallError::Permanent {
                    status,
                    message: format!(
                        "{} at {} answered {method} {path} with something that is not JSON; is base_url the {} site (including any context path such as /jira)?",
                        site.product, site.base_url, site.product
                    ),
                });
            }
            let quoted = quote(&text);
            match status {
                429 => {
                    last = format!(
                        "{} is rate limiting the appliance (429){}",
                        site.product,
                        retry_after
                            .map(|s| format!("; it asked to wait {s} s"))
                            .unwrap_or_default()
                    );
                    match retry_after {
                        Some(s) if Duration::from_secs(s) > MAX_INLINE_WAIT => {
                            return Err(CallError::Transient {
                                message: last,
                                retry_after: Some(s),
                            });
                        }
                        Some(s) => std::thread::sleep(Duration::from_secs(s)),
                        None => {}
                    }
                }
                503 => {
                    last = format!(
                        "{} is unavailable (503 Service Unavailable){quoted}",
                        site.product
                    );
                }
                500 | 502 | 504 => {
                    last = format!("{} failed with HTTP {status}{quoted}", site.product);
                    if !repeatable {
                        return Err(CallError::Transient {
                            message: last,
                            retry_after,
                        });
                    }
                }
                401 => {
                    return Err(CallError::Permanent {
                        status,
                        message: format!(
                            "{} rejected the credentials (401 Unauthorized): check the {} in Settings › Integrations",
                            site.product,
                            match site.auth {
                                Auth::Pat(_) => "personal access token",
                                Auth::Basic { .. } => "account email and API token",
                            }
                        ),
                    });
                }
                403 => {
                    return Err(CallError::Permanent {
                        status,
                        message: format!(
                            "{} refused {method} {path} (403 Forbidden): the connected account lacks the permission{quoted}",
                            site.product
                        ),
                    });
                }
                404 => {
                    return Err(CallError::Permanent {
                        status,
                        message: format!("{} has no {path} (404 Not Found){quoted}", site.product),
                    });
                }
                409 => {
                    return Err(CallError::Conflict(format!(
                        "{} reports a conflict (409){quoted}",
                        site.product
                    )));
                }
                s if (300..400).contains(&s) => {
                    return Err(CallError::Permanent {
                        status,
                        message: format!(
                            "{} at {} redirects ({s}); set base_url to the address it redirects to",
                            site.product, site.base_url
                        ),
                    });
                }
                s if (500..600).contains(&s) => {
                    last = format!("{} failed with HTTP {s}{quoted}", site.product);
                    if !repeatable {
                        return Err(CallError::Transient {
                            message: last,
                            retry_after,
                        });
                    }
                }
                s => {
                    return Err(CallError::Permanent {
                        status,
                        message: format!("{} refused {method} {path} ({s}){quoted}", site.product),
                    });
                }
            }
        }
        Err(CallError::Transient {
            message: last,
            retry_after: None,
        })
    }
}

/// A short reason for a transport failure (no URLs with credentials; reqwest's own text
/// names the URL, which has none).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        let s = e.to_string();
        s.chars().take(MAX_QUOTE).collect()
    }
}

/// Atlassian's own error text from a body (`errorMessages`, `errors`, `message`), bounded;
/// empty when there is none.
fn quote(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    if let Some(a) = v["errorMessages"].as_array() {
        parts.extend(a.iter().filter_map(|m| m.as_str().map(str::to_string)));
    }
    if let Some(o) = v["errors"].as_object() {
        parts.extend(
            o.iter()
                .map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or_default())),
        );
    }
    if let Some(m) = v["message"].as_str() {
        parts.push(m.to_string());
    }
    if parts.is_empty() {
        return String::new();
    }
    let joined: String = parts.join("; ").chars().take(MAX_QUOTE).collect();
    format!(": {joined}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_spaces_calls_per_host() {
        let l = Limiter::default();
        let start = Instant::now();
        for _ in 0..4 {
            l.acquire("a:443", Duration::from_millis(50));
        }
        // Four calls: the first now, then three waits of 50 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
        let other = Instant::now();
        l.acquire("b:443", Duration::from_millis(50));
        assert!(
            other.elapsed() < Duration::from_millis(40),
            "hosts are independent"
        );
    }

    #[test]
    fn quotes_atlassian_errors_only() {
        assert_eq!(
            quote(r#"{"errorMessages":["Issue does not exist"],"errors":{}}"#),
            ": Issue does not exist"
        );
        assert_eq!(
            quote(r#"{"errorMessages":[],"errors":{"issuetype":"valid issue type required"}}"#),
            ": issuetype: valid issue type required"
        );
        assert_eq!(quote("<html>proxy error</html>"), "");
    }

    #[test]
    fn auth_headers() {
        assert_eq!(Auth::Pat("abc".into()).header(), "Bearer abc");
        assert_eq!(
            Auth::Basic {
                email: "a@b.c".into(),
                token: "t".into()
            }
            .header(),
            "Basic YUBiLmM6dA=="
        );
    }
}
