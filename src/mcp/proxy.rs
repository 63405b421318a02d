//! `rampart mcp --stdio --url https://rampart.internal`: a desktop client that only speaks
//! stdio reaches a remote appliance's `/mcp` (Streamable HTTP) through this process.
//!
//! The proxy is transparent: each JSON-RPC line from stdin is POSTed to `/mcp` as it is,
//! and every message of the answer (a JSON body, or the events of an SSE stream) is written
//! to stdout as one line, so initialization, tools, progress notifications and
//! cancellations work exactly as over HTTP. It keeps the session id and protocol version the
//! server assigned, listens on the session's GET stream for server-initiated messages, and
//! ends the session (DELETE) when stdin closes. The key is checked with `GET /api/me`
//! before the first message, so a wrong key or URL is one clear line on stderr and exit
//! code 1, not a silent hang of the desktop client.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

const SESSION_HEADER: &str = "mcp-session-id";
const VERSION_HEADER: &str = "mcp-protocol-version";
/// Largest JSON-RPC line accepted from stdin (tool arguments with a long brief fit easily).
const MAX_LINE: usize = 8 * 1024 * 1024;

/// Where the proxy forwards to, and as whom.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Base URL of the appliance, without a trailing slash (`/mcp` and `/api/me` are added).
    pub base: String,
    /// `mk_`/`mv_` key (sent as `X-API-Key`) or an OAuth access token `rat_…` (sent as a
    /// bearer token).
    pub key: String,
    /// Extra CA certificates (PEM bundle) for an appliance with an internal CA.
    pub ca_pem: Option<Vec<u8>>,
}

/// The identity the appliance resolved the key to, for the start-up line on stderr.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User email.
    pub email: String,
    /// Workspace name (or id).
    pub workspace: String,
}

/// Session state shared by the stdin loop and the tasks reading answers.
#[derive(Default)]
struct Session {
    id: Option<String>,
    protocol_version: Option<String>,
    /// Request id of `initialize`, to pick the protocol version out of its result.
    init_id: Option<Value>,
    get_stream_started: bool,
}

impl Remote {
    /// Checks the URL's shape: http(s), no query or fragment.
    pub fn new(url: &str, key: String, ca_pem: Option<Vec<u8>>) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url.trim()).with_context(|| {
            format!("--url {url:?} is not a URL (example: https://rampart.internal)")
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--url must be an http:// or https:// address of the appliance, not {url:?}");
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            bail!("--url must be the appliance's base address, without ?query or #fragment");
        }
        let mut base = parsed.as_str().trim_end_matches('/').to_string();
        // Accept the MCP endpoint itself as well as the base address.
        if let Some(stripped) = base.strip_suffix("/mcp") {
            base = stripped.to_string();
        }
        Ok(Self { base, key, ca_pem })
    }

    fn auth_headers(&self) -> anyhow::Result<HeaderMap> {
        let mut h = HeaderMap::new();
        if self.key.starts_with("rat_") {
            h.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {}", self.key))
                    .context("the access token holds characters a header cannot carry")?,
            );
        } else {
            h.insert(
                "x-api-key",
                HeaderValue::from_str(&self.key)
                    .context("the API key holds characters a header cannot carry")?,
            );
        }
        Ok(h)
    }

    fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .default_headers(self.auth_headers()?)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("rampart-mcp-proxy/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).context("CA bundle")?;
            if certs.is_empty() {
                bail!("the CA bundle holds no certificate");
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        builder.build().context("building the HTTP client")
    }
}

/// Checks that the appliance answers and accepts the key; returns who the key is.
pub async fn check(remote: &Remote) -> anyhow::Result<Identity> {
    let http = remote.client()?;
    let url = format!("{}/api/me", remote.base);
    let resp = http
        .get(&url)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the appliance at {}: {}",
                remote.base,
                error_chain(&e)
            )
        })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status == reqwest::StatusCode::UNAUTHORIZED {
        bail!(
            "the appliance at {} refused the key in RAMPART_API_KEY (401): {}",
            remote.base,
            message(&body)
        );
    }
    if !status.is_success() {
        bail!(
            "the appliance at {} answered {status} to GET /api/me: {}",
            remote.base,
            message(&body)
        );
    }
    let workspace_id = body["workspace_id"].as_str().unwrap_or_default();
    let workspace = body["workspaces"]
        .as_array()
        .and_then(|list| list.iter().find(|w| w["id"] == workspace_id))
        .and_then(|w| w["name"].as_str())
        .unwrap_or(workspace_id);
    Ok(Identity {
        email: body["user"]["email"].as_str().unwrap_or("?").to_string(),
        workspace: workspace.to_string(),
    })
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| "no error message".into())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Proxies stdin to the appliance's `/mcp` and its answers to stdout until stdin closes.
pub async fn run(remote: Remote) -> anyhow::Result<()> {
    let stdout = tokio::io::stdout();
    let stdin = tokio::io::stdin();
    pump(remote, stdin, stdout).await
}

/// The proxy over any reader/writer pair (stdin/stdout in production).
pub async fn pump<R, W>(remote: Remote, input: R, output: W) -> anyhow::Result<()>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let http = remote.client()?;
    let endpoint = format!("{}/mcp", remote.base);
    let session = Arc::new(Mutex::new(Session::default()));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(line) = rx.recv().await {
            if output.write_all(line.as_bytes()).await.is_err()
                || output.write_all(b"\n").await.is_err()
                || output.flush().await.is_err()
            {
                break;
            }
        }
    });
    let mut lines = BufReader::new(input).lines();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            let _ = tx.send(rpc_error(&Value::Null, -32600, "message too large"));
            continue;
        }
        let msg: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(rpc_error(
                    &Value::Null,
                    -32700,
                    &format!("parse error: {e}"),
                ));
                continue;
            }
        };
        forward(&http, &endpoint, &session, msg, &tx).await;
    }
    // stdin closed: end the session on the appliance, then let the answers still streaming
    // reach stdout.
    let id = session.lock().ok().and_then(|s| s.id.clone());
    if let Some(id) = id {
        let _ = http
            .delete(&endpoint)
            .header(SESSION_HEADER, id)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
    }
    drop(tx);
    let _ = writer.await;
    Ok(())
}

fn rpc_error(id: &Value, code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

/// POSTs one message and hands its answer to a task that writes every message of it.
async fn forward(
    http: &reqwest::Client,
    endpoint: &str,
    session: &Arc<Mutex<Session>>,
    msg: Value,
    tx: &mpsc::UnboundedSender<String>,
) {
    let id = msg.get("id").cloned();
    let is_request = id.is_some() && msg.get("method").is_some();
    let method = msg
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let (session_id, version) = {
        let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
        if method == "initialize" {
            s.init_id = id.clone();
        }
        (s.id.clone(), s.protocol_version.clone())
    };
    let mut req = http
        .post(endpoint)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json, text/event-stream")
        .body(msg.to_string());
    if let Some(s) = &session_id {
        req = req.header(SESSION_HEADER, s);
    }
    if let Some(v) = &version {
        req = req.header(VERSION_HEADER, v);
    }
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            if let Some(id) = id.filter(|_| is_request) {
                let _ = tx.send(rpc_error(
                    &id,
                    -32000,
                    &format!("the appliance did not answer: {}", error_chain(&e)),
                ));
            }
            return;
        }
    };
    if let Some(s) = resp
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        && let Ok(mut state) = session.lock()
    {
        state.id = Some(s.to_string());
    }
    let status = resp.status();
    if !status.is_success() {
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if let Some(id) = id.filter(|_| is_request) {
            let text = body["error"]["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| body.to_string());
            let _ = tx.send(rpc_error(
                &id,
                -32000,
                &format!("the appliance answered {status}: {text}"),
            ));
        }
        return;
    }
    if method == "notifications/initialized" {
        open_get_stream(
            http.clone(),
            endpoint.to_string(),
            session.clone(),
            tx.clone(),
        );
    }
    let is_sse = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let tx = tx.clone();
    let session = session.clone();
    tokio::spawn(async move {
        if is_sse {
            relay_events(resp, &session, &tx).await;
        } else if status != reqwest::StatusCode::ACCEPTED
            && let Ok(text) = resp.text().await
            && let Ok(v) = serde_json::from_str::<Value>(&text)
        {
            emit(&v, &session, &tx);
        }
    });
}

/// Writes every event of an SSE answer to stdout.
async fn relay_events(
    resp: reqwest::Response,
    session: &Arc<Mutex<Session>>,
    tx: &mpsc::UnboundedSender<String>,
) {
    let mut events = sse_stream::SseStream::from_bytes_stream(resp.bytes_stream());
    while let Some(event) = events.next().await {
        let Ok(event) = event else { break };
        let Some(data) = event.data else { continue };
        if data.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&data) {
            Ok(v) => emit(&v, session, tx),
            Err(e) => tracing::warn!(error = %e, "the appliance sent an event that is not JSON"),
        }
    }
}

/// Writes one message (or each of a batch) and learns the protocol version from the
/// answer to `initialize`.
fn emit(v: &Value, session: &Arc<Mutex<Session>>, tx: &mpsc::UnboundedSender<String>) {
    if let Ok(mut s) = session.lock()
        && s.init_id.is_some()
        && v.get("id") == s.init_id.as_ref()
        && let Some(p) = v["result"]["protocolVersion"].as_str()
    {
        s.protocol_version = Some(p.to_string());
    }
    let _ = tx.send(v.to_string());
}

/// Listens on the session's GET stream for messages the server sends on its own; a server
/// that offers none (405) is fine.
fn open_get_stream(
    http: reqwest::Client,
    endpoint: String,
    session: Arc<Mutex<Session>>,
    tx: mpsc::UnboundedSender<String>,
) {
    let (id, version) = match session.lock() {
        Ok(mut s) if !s.get_stream_started => {
            s.get_stream_started = true;
            (s.id.clone(), s.protocol_version.clone())
        }
        _ => return,
    };
    tokio::spawn(async move {
        let mut req = http.get(&endpoint).header(ACCEPT, "text/event-stream");
        if let Some(id) = &id {
            req = req.header(SESSION_HEADER, id);
        }
        if let Some(v) = &version {
            req = req.header(VERSION_HEADER, v);
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => relay_events(resp, &session, &tx).await,
            _ => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_base_addresses() {
        let r = Remote::new("https://rampart.internal/", "mk_x".into(), None).expect("ok");
        assert_eq!(r.base, "https://rampart.internal");
        let r = Remote::new("https://rampart.internal/mcp", "mk_x".into(), None).expect("ok");
        assert_eq!(r.base, "https://rampart.internal");
        let r = Remote::new("http://10.0.0.5:8080/rampart", "mk_x".into(), None).expect("ok");
        assert_eq!(r.base, "http://10.0.0.5:8080/rampart");
        for bad in [
            "rampart.internal",
            "ftp://x",
            "https://x/?a=1",
            "https://x/#f",
            "",
        ] {
            assert!(Remote::new(bad, "mk_x".into(), None).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_and_tokens_use_their_headers() {
        let key = Remote::new("https://x", "mk_abc".into(), None).expect("ok");
        let h = key.auth_headers().expect("headers");
        assert_eq!(
            h.get("x-api-key").and_then(|v| v.to_str().ok()),
            Some("mk_abc")
        );
        assert!(h.get(AUTHORIZATION).is_none());
        let token = Remote::new("https://x", "rat_abc".into(), None).expect("ok");
        let h = token.auth_headers().expect("headers");
        assert_eq!(
            h.get(AUTHORIZATION).and_then(|v| v.to_str().ok()),
            Some("Bearer rat_abc")
        );
        let bad = Remote::new("https://x", "mk_\nx".into(), None).expect("ok");
        assert!(bad.auth_headers().is_err());
        let ca = Remote::new("https://x", "mk_abc".into(), Some(b"not pem".to_vec())).expect("ok");
        assert!(ca.client().is_err());
    }
}
