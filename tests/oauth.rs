//! OAuth 2.1 for agents (issue 24) through the real binary: the `WWW-Authenticate`
//! challenge of `/api` and `/mcp`, Protected Resource Metadata (RFC 9728), Authorization
//! Server Metadata (RFC 8414), Dynamic Client Registration (RFC 7591), and the whole
//! authorization code flow: consent with a signed-in MFA session, PKCE, exact redirect
//! URIs, resource indicators, refresh rotation with reuse detection, revocation, and the
//! bearer on REST and MCP.

use serde_json::{Value, json};

use crate::harness::{
    Appliance, Client, PASSWORD, TestDir, appliance_without_mfa, cli_user, json, totp_code,
};

/// Registers a public client with loopback redirect URIs; returns its `client_id`.
pub(crate) fn register(app: &Appliance, name: &str, redirect_uris: &[&str]) -> String {
    let (status, body) = json(
        app.client
            .post(app.url("/oauth/register"))
            .json(&json!({"client_name": name, "redirect_uris": redirect_uris}))
            .send()
            .expect("register"),
    );
    assert_eq!(status, 201, "{body}");
    body["client_id"].as_str().expect("client_id").to_string()
}

/// An access token for `session`'s user in `workspace` with `scope`, through the whole
/// flow (registration, consent form, PKCE exchange); audience: the whole appliance.
pub(crate) fn token_for(app: &Appliance, session: &Client, workspace: &str, scope: &str) -> String {
    let client_id = register(app, "Matrix agent", &["http://127.0.0.1:7777/cb"]);
    let pkce = Pkce::new();
    let a = Authz {
        client_id: &client_id,
        redirect_uri: "http://127.0.0.1:7777/cb",
        pkce: &pkce,
        state: "s",
        resource: None,
        scope: Some(scope),
    };
    let code = authorize(app, session, &a, workspace, scope);
    let (status, t) = exchange(app, &a, &code);
    assert_eq!(status, 200, "{t}");
    s(&t, "access_token")
}

/// The issuer the appliance announces (its public URL).
pub(crate) fn issuer(app: &Appliance) -> String {
    let (status, meta) = json(app.get("/.well-known/oauth-authorization-server"));
    assert_eq!(status, 200, "{meta}");
    meta["issuer"].as_str().expect("issuer").to_string()
}

fn www_authenticate(resp: &reqwest::blocking::Response) -> String {
    resp.headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn discovery_challenge_and_metadata() {
    let dir = TestDir::new("oauth-discovery");
    let app = appliance_without_mfa(&dir);
    let base = issuer(&app);
    let port = app.url.rsplit(':').next().expect("port").to_string();
    assert!(base.ends_with(&format!(":{port}")), "{base} vs {}", app.url);
    let expected =
        format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource\"");

    // /api without credentials: the challenge, and the same JSON body as before.
    let resp = app.get("/api/me");
    assert_eq!(resp.status(), 401);
    assert_eq!(www_authenticate(&resp), expected);
    let (_, body) = json(resp);
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    assert!(body["error"]["message"].is_string());
    // The mipiti-verify calls (contract E1/E5) keep their 401 body too.
    let resp = app.get("/api/models");
    assert_eq!(resp.status(), 401);
    assert_eq!(www_authenticate(&resp), expected);
    assert_eq!(json(resp).1["error"]["code"], "unauthenticated");

    // /mcp without credentials: the same challenge, the same JSON error shape.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = app
        .client
        .post(app.url("/mcp"))
        .header("Accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 401);
    assert_eq!(www_authenticate(&resp), expected);
    let (_, body) = json(resp);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("X-API-Key")
    );

    // A refused bearer token says so (RFC 6750 invalid_token).
    let resp = app
        .client
        .get(app.url("/api/me"))
        .header("Authorization", "Bearer not-a-token")
        .send()
        .expect("get");
    assert_eq!(resp.status(), 401);
    let h = www_authenticate(&resp);
    assert!(h.starts_with("Bearer error=\"invalid_token\""), "{h}");
    assert!(
        h.contains(&format!(
            "resource_metadata=\"{base}/.well-known/oauth-protected-resource\""
        )),
        "{h}"
    );

    // Pages and public endpoints are not challenged.
    let resp = app.get("/health");
    assert!(resp.headers().get("www-authenticate").is_none());

    // RFC 9728: the appliance, and the MCP endpoint alone.
    let (status, prm) = json(app.get("/.well-known/oauth-protected-resource"));
    assert_eq!(status, 200);
    assert_eq!(prm["resource"], json!(base));
    assert_eq!(prm["authorization_servers"], json!([base]));
    assert_eq!(prm["scopes_supported"], json!(["developer", "verifier"]));
    assert_eq!(prm["bearer_methods_supported"], json!(["header"]));
    let (status, prm) = json(app.get("/.well-known/oauth-protected-resource/mcp"));
    assert_eq!(status, 200);
    assert_eq!(prm["resource"], json!(format!("{base}/mcp")));
    assert_eq!(prm["authorization_servers"], json!([base]));

    // RFC 8414.
    let (status, m) = json(app.get("/.well-known/oauth-authorization-server"));
    assert_eq!(status, 200);
    assert_eq!(m["issuer"], json!(base));
    for (field, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("registration_endpoint", "/oauth/register"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(m[field], json!(format!("{base}{path}")), "{field}");
    }
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(m["scopes_supported"], json!(["developer", "verifier"]));
    assert_eq!(m["token_endpoint_auth_methods_supported"], json!(["none"]));
}

#[test]
fn dynamic_client_registration_validates() {
    let dir = TestDir::new("oauth-dcr");
    let app = appliance_without_mfa(&dir);
    let post = |body: &str| {
        json(
            app.client
                .post(app.url("/oauth/register"))
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .expect("register"),
        )
    };

    // What Claude Code sends.
    let (status, c) = post(
        &json!({
            "client_name": "Claude Code (rampart)",
            "redirect_uris": ["http://localhost:54212/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none"
        })
        .to_string(),
    );
    assert_eq!(status, 201, "{c}");
    let id = c["client_id"].as_str().expect("client_id");
    assert!(id.starts_with("oc_") && id.len() > 20, "{id}");
    assert!(c["client_id_issued_at"].as_i64().expect("issued") > 1_700_000_000);
    assert!(
        c.get("client_secret").is_none(),
        "public clients get no secret"
    );
    assert_eq!(c["client_name"], "Claude Code (rampart)");
    assert_eq!(
        c["redirect_uris"],
        json!(["http://localhost:54212/callback"])
    );
    assert_eq!(c["token_endpoint_auth_method"], "none");
    // An https redirect and defaults.
    let (status, c) =
        post(r#"{"redirect_uris": ["https://vscode.dev/redirect", "http://127.0.0.1:33418/"]}"#);
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["client_name"], "Unnamed client");
    assert_eq!(
        c["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(c["response_types"], json!(["code"]));
    // What Cursor sends: its private-use scheme (RFC 8252 §7.1), a hosted callback and a
    // loopback one, in one registration.
    let (status, c) = post(
        r#"{"client_name": "Cursor", "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback", "http://localhost:8787/callback"], "token_endpoint_auth_method": "none"}"#,
    );
    assert_eq!(status, 201, "{c}");

    let cases: &[(&str, &str)] = &[
        ("{}", "invalid_redirect_uri"),
        (r#"{"redirect_uris": []}"#, "invalid_redirect_uri"),
        (
            r#"{"redirect_uris": ["http://attacker.example/cb"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris": ["javascript:alert(1)"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris": ["data:text/html,<script>alert(1)</script>"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris": ["http://127.0.0.1:8787/callback", "file:///etc/passwd"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb#x"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post"}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb"], "scope": "admin"}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris": ["https://a.example/cb"], "client_name": 7}"#,
            "invalid_client_metadata",
        ),
        ("[1, 2]", "invalid_client_metadata"),
        ("{not json", "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let (status, e) = post(body);
        assert_eq!(status, 400, "{body}: {e}");
        assert_eq!(e["error"], *code, "{body}: {e}");
        assert!(
            e["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{body}: {e}"
        );
    }
    let many: Vec<String> = (0..11).map(|i| format!("http://127.0.0.1/cb{i}")).collect();
    let (status, e) = post(&json!({"redirect_uris": many}).to_string());
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_redirect_uri"))
    );
    let (status, e) = post(
        &json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(201)})
            .to_string(),
    );
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_client_metadata"))
    );
    let big = json!({"redirect_uris": ["https://a.example/cb"], "padding": "p".repeat(20_000)})
        .to_string();
    let (status, e) = post(&big);
    assert_eq!(status, 413, "{e}");
    // Not JSON at all.
    let (status, e) = json(
        app.client
            .post(app.url("/oauth/register"))
            .form(&[("redirect_uris", "https://a.example/cb")])
            .send()
            .expect("form"),
    );
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_client_metadata"))
    );
}

// ---------------------------------------------------------------- authorization code flow

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
pub(crate) struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> Self {
        use base64::Engine as _;
        use sha2::Digest as _;
        let bytes: [u8; 32] = rand::random();
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// One authorization request of a client.
pub(crate) struct Authz<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub pkce: &'a Pkce,
    pub state: &'a str,
    pub resource: Option<&'a str>,
    pub scope: Option<&'a str>,
}

impl Authz<'_> {
    fn query(&self) -> Vec<(&str, &str)> {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", self.redirect_uri),
            ("code_challenge", self.pkce.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", self.state),
        ];
        if let Some(r) = self.resource {
            q.push(("resource", r));
        }
        if let Some(s) = self.scope {
            q.push(("scope", s));
        }
        q
    }

    fn url(&self, app: &Appliance) -> String {
        let q = serde_urlencoded::to_string(self.query()).expect("query");
        app.url(&format!("/oauth/authorize?{q}"))
    }
}

fn session_get(app: &Appliance, s: &Client, url: &str) -> reqwest::blocking::Response {
    app.client
        .get(url)
        .header(
            "Cookie",
            format!("rampart_session={}", s.cookie.as_deref().expect("cookie")),
        )
        .header("Accept", "text/html")
        .send()
        .expect("GET")
}

/// Submits the consent form as the browser would (session cookie, CSRF field).
fn consent(
    app: &Appliance,
    s: &Client,
    a: &Authz<'_>,
    workspace: &str,
    scope: &str,
    decision: &str,
    csrf: Option<&str>,
) -> reqwest::blocking::Response {
    let mut form: Vec<(&str, &str)> = a.query();
    if a.resource.is_none() {
        form.push(("resource", ""));
    }
    form.push(("workspace_id", workspace));
    form.push(("grant_scope", scope));
    form.push(("decision", decision));
    if let Some(c) = csrf {
        form.push(("csrf_token", c));
    }
    app.client
        .post(app.url("/oauth/authorize"))
        .header(
            "Cookie",
            format!("rampart_session={}", s.cookie.as_deref().expect("cookie")),
        )
        .form(&form)
        .send()
        .expect("POST consent")
}

fn location(resp: &reqwest::blocking::Response) -> reqwest::Url {
    assert_eq!(resp.status(), 303, "expected a redirect");
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    reqwest::Url::parse(loc).unwrap_or_else(|e| panic!("{loc}: {e}"))
}

fn param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Allows the request on the consent form; returns the code from the redirect.
pub(crate) fn authorize(
    app: &Appliance,
    s: &Client,
    a: &Authz<'_>,
    workspace: &str,
    scope: &str,
) -> String {
    let resp = consent(app, s, a, workspace, scope, "allow", s.csrf.as_deref());
    let loc = location(&resp);
    assert_eq!(param(&loc, "state").as_deref(), Some(a.state), "{loc}");
    param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
}

fn token_request(app: &Appliance, form: &[(&str, &str)]) -> (u16, Value) {
    json(
        app.client
            .post(app.url("/oauth/token"))
            .form(form)
            .send()
            .expect("token"),
    )
}

/// Exchanges a code (with the verifier of `a`).
pub(crate) fn exchange(app: &Appliance, a: &Authz<'_>, code: &str) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", a.redirect_uri),
        ("client_id", a.client_id),
        ("code_verifier", a.pkce.verifier.as_str()),
    ];
    if let Some(r) = a.resource {
        form.push(("resource", r));
    }
    token_request(app, &form)
}

fn refresh(app: &Appliance, client_id: &str, token: &str) -> (u16, Value) {
    token_request(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ],
    )
}

fn bearer_get(app: &Appliance, token: &str, path: &str) -> reqwest::blocking::Response {
    app.client
        .get(app.url(path))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .expect("GET")
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} in {v}"))
        .to_string()
}

/// Signs in with password and TOTP through the API (the second factor passed).
fn enroll_and_sign_in_with_totp(app: &Appliance, email: &str) -> Client {
    let first = Client::login(app, email, PASSWORD);
    let (status, enroll) = json(first.post("/api/mfa/totp/setup", json!({"password": PASSWORD})));
    assert_eq!(status, 200, "{enroll}");
    let url = s(&enroll, "otpauth_url");
    let (status, body) =
        json(first.post("/api/mfa/totp/confirm", json!({"code": totp_code(&url, 0)})));
    assert_eq!(status, 200, "{body}");
    let (status, login) = json(Client::anonymous(app).post(
        "/api/auth/login",
        json!({"email": email, "password": PASSWORD}),
    ));
    assert_eq!(status, 200);
    assert_eq!(login["mfa_required"], true, "{login}");
    let resp = Client::anonymous(app).post(
        "/api/auth/mfa/totp",
        json!({"pre_auth_token": s(&login, "pre_auth_token"), "code": totp_code(&url, 1)}),
    );
    Client::from_signin(app, resp)
}

fn mcp_list_workspaces(app: &Appliance, token: &str) -> Result<Value, String> {
    use rmcp::ServiceExt as _;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let rt = crate::mcp::runtime();
    rt.block_on(async {
        let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp"))
            .auth_header(token.to_string());
        let transport = StreamableHttpClientTransport::from_config(config);
        let client = ().serve(transport).await.map_err(|e| e.to_string())?;
        let tools = client.list_all_tools().await.map_err(|e| e.to_string())?;
        assert!(tools.iter().any(|t| t.name == "list_threat_models"));
        let out = crate::mcp::ok(&client, "list_workspaces", json!({})).await;
        client.cancel().await.map_err(|e| e.to_string())?;
        Ok(out)
    })
}

fn audit_log_text(dir: &TestDir) -> String {
    use std::io::Read as _;
    let file = dir.path().join("audit.db.gz.signed");
    let out = dir
        .cmd()
        .args(["admin", "backup", "--out", file.to_str().expect("path")])
        .output();
    assert!(out.status.success(), "{}", crate::harness::stderr(&out));
    let mut f = std::fs::File::open(&file).expect("open");
    let t = rampart::crypto::backup_format::read(&mut f)
        .expect("io")
        .expect("trailer");
    let bytes = std::fs::read(&file).expect("read");
    let payload = &bytes[..usize::try_from(t.payload_len).expect("len")];
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(payload)
        .read_to_end(&mut plain)
        .expect("gunzip");
    String::from_utf8_lossy(&plain).into_owned()
}

#[test]
fn authorization_code_flow_end_to_end() {
    let dir = TestDir::new("oauth-flow");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "alice@example.com", "user");
    let base = issuer(&app);
    let client_id = register(&app, "Claude Code", &["http://127.0.0.1:4567/callback"]);
    let pkce = Pkce::new();
    // Loopback: the client listens on another port this time (RFC 8252).
    let redirect = "http://127.0.0.1:5555/callback";
    let a = Authz {
        client_id: &client_id,
        redirect_uri: redirect,
        pkce: &pkce,
        state: "st-1",
        resource: Some(&base),
        scope: None,
    };

    // Not signed in: the consent page sends the browser to sign in first, and back.
    let resp = app
        .client
        .get(a.url(&app))
        .header("Accept", "text/html")
        .send()
        .expect("get");
    assert_eq!(resp.status(), 303);
    let loc = resp.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    assert!(loc.starts_with("/login?next=/oauth/authorize%3F"), "{loc}");

    // Password + TOTP, then the consent page.
    let alice = enroll_and_sign_in_with_totp(&app, "alice@example.com");
    let (_, me) = json(alice.get("/api/me"));
    let personal = s(&me, "workspace_id");
    let resp = session_get(&app, &alice, &a.url(&app));
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:5555"),
        "{csp}"
    );
    let page = resp.text().expect("html");
    assert!(page.contains("Authorize Claude Code"), "{page}");
    assert!(page.contains("127.0.0.1:5555"));
    assert!(
        page.contains(&personal),
        "the workspace chooser lists the personal workspace"
    );
    assert!(page.contains("name=\"csrf_token\""));

    // The form needs the session's CSRF token.
    let resp = consent(&app, &alice, &a, &personal, "developer", "allow", None);
    assert_eq!(resp.status(), 403);
    let resp = consent(
        &app,
        &alice,
        &a,
        &personal,
        "developer",
        "allow",
        Some("forged"),
    );
    assert_eq!(resp.status(), 403);

    let code = authorize(&app, &alice, &a, &personal, "developer");
    // The code is bound to the verifier, the redirect URI and the resource.
    let wrong = Pkce::new();
    let (status, e) = exchange(
        &app,
        &Authz {
            pkce: &wrong,
            ..a_copy(&a)
        },
        &code,
    );
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );
    let (status, e) = exchange(
        &app,
        &Authz {
            redirect_uri: "http://127.0.0.1:4567/callback",
            ..a_copy(&a)
        },
        &code,
    );
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );
    let mcp_resource = format!("{base}/mcp");
    let (status, e) = exchange(
        &app,
        &Authz {
            resource: Some(&mcp_resource),
            ..a_copy(&a)
        },
        &code,
    );
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_target")),
        "{e}"
    );
    let (status, e) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", "oc_unknown"),
            ("code_verifier", &pkce.verifier),
        ],
    );
    assert_eq!(
        (status, e["error"].clone()),
        (401, json!("invalid_client")),
        "{e}"
    );

    let (status, t1) = exchange(&app, &a, &code);
    assert_eq!(status, 200, "{t1}");
    assert_eq!(t1["token_type"], "Bearer");
    assert_eq!(t1["expires_in"], 3600);
    assert_eq!(t1["scope"], "developer");
    let (access1, refresh1) = (s(&t1, "access_token"), s(&t1, "refresh_token"));
    assert!(access1.starts_with("rat_") && refresh1.starts_with("rrt_"));

    // The bearer acts as alice in her workspace, with a developer key's rights.
    let (status, me) = json(bearer_get(&app, &access1, "/api/me"));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["workspace_id"], json!(personal));
    assert_eq!(me["auth"], "developer");
    let resp = app
        .client
        .post(app.url("/api/api-keys"))
        .header("Authorization", format!("Bearer {access1}"))
        .json(&json!({"name": "x", "scope": "developer"}))
        .send()
        .expect("post");
    assert_eq!(resp.status(), 403, "a token cannot mint keys, like a key");
    let (status, models) = json(bearer_get(&app, &access1, "/api/models"));
    assert_eq!(status, 200, "{models}");
    // The same token on MCP.
    let ws = mcp_list_workspaces(&app, &access1).expect("MCP with the bearer");
    assert!(ws.to_string().contains(&personal), "{ws}");

    // Refresh rotates; the old refresh token is spent.
    let (status, t2) = refresh(&app, &client_id, &refresh1);
    assert_eq!(status, 200, "{t2}");
    let (access2, refresh2) = (s(&t2, "access_token"), s(&t2, "refresh_token"));
    assert_ne!(refresh2, refresh1);
    assert_eq!(bearer_get(&app, &access2, "/api/me").status(), 200);
    // Reuse of the rotated token: the whole family is revoked.
    let (status, e) = refresh(&app, &client_id, &refresh1);
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );
    let resp = bearer_get(&app, &access2, "/api/me");
    assert_eq!(resp.status(), 401);
    let h = resp.headers()["www-authenticate"]
        .to_str()
        .expect("h")
        .to_string();
    assert!(h.starts_with("Bearer error=\"invalid_token\""), "{h}");
    assert_eq!(bearer_get(&app, &access1, "/api/me").status(), 401);
    let (status, e) = refresh(&app, &client_id, &refresh2);
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );

    // A token for the MCP endpoint alone: /mcp yes, /api no (audience checked per request).
    let pkce2 = Pkce::new();
    let b = Authz {
        pkce: &pkce2,
        state: "st-2",
        resource: Some(&mcp_resource),
        ..a_copy(&a)
    };
    let code = authorize(&app, &alice, &b, &personal, "developer");
    let (status, t3) = exchange(&app, &b, &code);
    assert_eq!(status, 200, "{t3}");
    let (access3, refresh3) = (s(&t3, "access_token"), s(&t3, "refresh_token"));
    assert_eq!(bearer_get(&app, &access3, "/api/me").status(), 401);
    mcp_list_workspaces(&app, &access3).expect("MCP audience");
    // Revocation (RFC 7009): the access token, then the refresh token (its family).
    let revoke = |token: &str, client: &str| {
        app.client
            .post(app.url("/oauth/revoke"))
            .form(&[("token", token), ("client_id", client)])
            .send()
            .expect("revoke")
            .status()
            .as_u16()
    };
    assert_eq!(
        revoke(&access3, "oc_other"),
        400,
        "only the client it was issued to"
    );
    assert_eq!(revoke(&access3, &client_id), 200);
    assert!(
        mcp_list_workspaces(&app, &access3).is_err(),
        "revoked token refused on /mcp"
    );
    assert_eq!(revoke(&refresh3, &client_id), 200);
    let (status, e) = refresh(&app, &client_id, &refresh3);
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );
    assert_eq!(
        revoke("rat_unknown", &client_id),
        200,
        "unknown tokens are not an error"
    );

    // A replayed code is refused and revokes what it produced.
    let pkce3 = Pkce::new();
    let c = Authz {
        pkce: &pkce3,
        state: "st-3",
        resource: None,
        ..a_copy(&a)
    };
    let code = authorize(&app, &alice, &c, &personal, "verifier");
    let (status, t4) = exchange(&app, &c, &code);
    assert_eq!(status, 200, "{t4}");
    assert_eq!(t4["scope"], "verifier", "alice owns her personal workspace");
    let access4 = s(&t4, "access_token");
    assert_eq!(
        bearer_get(&app, &access4, "/api/me").status(),
        200,
        "no resource: the whole appliance"
    );
    let (status, e) = exchange(&app, &c, &code);
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_grant")),
        "{e}"
    );
    assert_eq!(bearer_get(&app, &access4, "/api/me").status(), 401);

    // Requests that must not produce a code.
    let bad_redirect = Authz {
        redirect_uri: "http://127.0.0.1:5555/elsewhere",
        ..a_copy(&a)
    };
    let resp = session_get(&app, &alice, &bad_redirect.url(&app));
    assert_eq!(
        resp.status(),
        400,
        "an unregistered redirect is shown, never followed"
    );
    let https_other = Authz {
        redirect_uri: "https://evil.example/callback",
        ..a_copy(&a)
    };
    assert_eq!(
        session_get(&app, &alice, &https_other.url(&app)).status(),
        400
    );
    let unknown = Authz {
        client_id: "oc_nope",
        ..a_copy(&a)
    };
    assert_eq!(session_get(&app, &alice, &unknown.url(&app)).status(), 400);
    let bad_resource = Authz {
        resource: Some("https://other.example/mcp"),
        ..a_copy(&a)
    };
    let loc = location(&session_get(&app, &alice, &bad_resource.url(&app)));
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("invalid_target"),
        "{loc}"
    );
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    let plain = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect),
        ("code_challenge", pkce.verifier.as_str()),
        ("code_challenge_method", "plain"),
        ("state", "st-4"),
    ])
    .expect("q");
    let loc = location(&session_get(
        &app,
        &alice,
        &app.url(&format!("/oauth/authorize?{plain}")),
    ));
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("invalid_request"),
        "{loc}"
    );
    let no_pkce = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", redirect),
    ])
    .expect("q");
    let loc = location(&session_get(
        &app,
        &alice,
        &app.url(&format!("/oauth/authorize?{no_pkce}")),
    ));
    assert_eq!(
        param(&loc, "error").as_deref(),
        Some("invalid_request"),
        "{loc}"
    );
    // Deny.
    let resp = consent(
        &app,
        &alice,
        &a,
        &personal,
        "developer",
        "deny",
        alice.csrf.as_deref(),
    );
    let loc = location(&resp);
    assert_eq!(param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&loc, "state").as_deref(), Some("st-1"));
    assert!(param(&loc, "code").is_none());

    // Verifier scope only for owners/admins, and only the user's own workspaces.
    let (status, team) = json(alice.post("/api/workspaces", json!({"name": "Team OA"})));
    assert_eq!(status, 201, "{team}");
    let team = s(&team, "id");
    cli_user(&dir, "bob@example.com", "user");
    let (status, m) = json(alice.post(
        &format!("/api/workspaces/{team}/members"),
        json!({"email": "bob@example.com", "role": "member"}),
    ));
    assert_eq!(status, 201, "{m}");
    let bob = Client::login(&app, "bob@example.com", PASSWORD);
    let resp = consent(
        &app,
        &bob,
        &a,
        &team,
        "verifier",
        "allow",
        bob.csrf.as_deref(),
    );
    assert_eq!(resp.status(), 422);
    assert!(resp.text().expect("html").contains("owner or admin"));
    let resp = consent(
        &app,
        &bob,
        &a,
        &personal,
        "developer",
        "allow",
        bob.csrf.as_deref(),
    );
    assert_eq!(
        resp.status(),
        422,
        "alice's personal workspace is not bob's"
    );
    let pkce5 = Pkce::new();
    let d = Authz {
        pkce: &pkce5,
        ..a_copy(&a)
    };
    let code = authorize(&app, &bob, &d, &team, "developer");
    let (status, t5) = exchange(&app, &d, &code);
    assert_eq!(status, 200, "{t5}");
    let access5 = s(&t5, "access_token");
    assert_eq!(bearer_get(&app, &access5, "/api/me").status(), 200);
    // Losing the membership ends the token, like it ends a key.
    let (_, bob_me) = json(bob.get("/api/me"));
    let bob_id = s(&bob_me["user"], "id");
    let resp = alice.delete(&format!("/api/workspaces/{team}/members/{bob_id}"));
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(bearer_get(&app, &access5, "/api/me").status(), 401);

    // A desktop application's own scheme (Cursor): shown on the consent page, allowed by its
    // form-action, and the code goes there.
    let cursor = register(
        &app,
        "Cursor",
        &["cursor://anysphere.cursor-mcp/oauth/callback"],
    );
    let pkce6 = Pkce::new();
    let e = Authz {
        client_id: &cursor,
        redirect_uri: "cursor://anysphere.cursor-mcp/oauth/callback",
        pkce: &pkce6,
        state: "st-6",
        resource: None,
        scope: None,
    };
    let resp = session_get(&app, &alice, &e.url(&app));
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(csp.contains("form-action 'self' cursor:"), "{csp}");
    assert!(
        resp.text()
            .expect("html")
            .contains("cursor://anysphere.cursor-mcp")
    );
    let resp = consent(
        &app,
        &alice,
        &e,
        &personal,
        "developer",
        "allow",
        alice.csrf.as_deref(),
    );
    let loc = resp.headers()["location"]
        .to_str()
        .expect("loc")
        .to_string();
    assert!(
        loc.starts_with("cursor://anysphere.cursor-mcp/oauth/callback?code="),
        "{loc}"
    );

    // All of it is in the audit log.
    let log = audit_log_text(&dir);
    for event in [
        "oauth.client.register",
        "oauth.authorize",
        "oauth.deny",
        "oauth.token.issue",
        "oauth.token.refresh",
        "oauth.refresh_reuse",
        "oauth.revoke",
        "oauth.code_reuse",
    ] {
        assert!(log.contains(event), "audit log lacks {event}");
    }
    // Only hashes are stored.
    for secret in [&access1, &refresh1, &refresh2, &access4] {
        assert!(!log.contains(secret.as_str()), "a token is stored in clear");
    }
}

#[test]
fn users_list_and_revoke_their_authorized_apps() {
    let dir = TestDir::new("oauth-grants");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "carol@example.com", "user");
    cli_user(&dir, "dan@example.com", "user");
    let carol = Client::login(&app, "carol@example.com", PASSWORD);
    let dan = Client::login(&app, "dan@example.com", PASSWORD);
    let (_, me) = json(carol.get("/api/me"));
    let ws = s(&me, "workspace_id");
    let token = token_for(&app, &carol, &ws, "developer");
    let (status, apps) = json(carol.get("/api/oauth/grants"));
    assert_eq!(status, 200, "{apps}");
    let apps = apps.as_array().expect("array").clone();
    assert_eq!(apps.len(), 1, "{apps:?}");
    assert_eq!(apps[0]["client_name"], "Matrix agent");
    assert_eq!(apps[0]["workspace_id"], json!(ws));
    assert_eq!(apps[0]["scope"], "developer");
    let grant = s(&apps[0], "id");
    // Another user neither sees nor revokes it.
    let (_, theirs) = json(dan.get("/api/oauth/grants"));
    assert_eq!(theirs, json!([]));
    assert_eq!(
        dan.delete(&format!("/api/oauth/grants/{grant}")).status(),
        404
    );
    assert_eq!(bearer_get(&app, &token, "/api/me").status(), 200);
    // The owner does: its tokens stop at once.
    assert_eq!(
        carol.delete(&format!("/api/oauth/grants/{grant}")).status(),
        204
    );
    assert_eq!(bearer_get(&app, &token, "/api/me").status(), 401);
    assert_eq!(
        carol.delete(&format!("/api/oauth/grants/{grant}")).status(),
        404
    );
    let (_, apps) = json(carol.get("/api/oauth/grants"));
    assert_eq!(apps, json!([]));
}

fn a_copy<'a>(a: &Authz<'a>) -> Authz<'a> {
    Authz {
        client_id: a.client_id,
        redirect_uri: a.redirect_uri,
        pkce: a.pkce,
        state: a.state,
        resource: a.resource,
        scope: a.scope,
    }
}

/// Settings › Account lists the user's authorized applications with a CSRF-protected
/// Revoke; superadmins see every registered client (API and Settings › Users) and revoke
/// one, which ends its tokens and refuses its next authorization.
#[test]
fn settings_show_authorized_apps_and_superadmins_revoke_clients() {
    use crate::web_pages::Web;
    let dir = TestDir::new("oauth-settings");
    let app = appliance_without_mfa(&dir);
    cli_user(&dir, "erin@example.com", "user");
    let erin = Client::login(&app, "erin@example.com", PASSWORD);
    let ws = s(&json(erin.get("/api/me")).1, "workspace_id");
    let first = token_for(&app, &erin, &ws, "developer");
    let second = token_for(&app, &erin, &ws, "developer");
    let (_, grants) = json(erin.get("/api/oauth/grants"));
    let grants = grants.as_array().expect("grants").clone();
    assert_eq!(grants.len(), 2);

    // The account page shows both, by name and workspace name.
    let web = Web::new(&app);
    web.sign_in("erin@example.com", PASSWORD);
    let page = web.get("/settings/account");
    page.assert_page(200, "Authorized applications");
    assert_eq!(
        page.body.matches("<tr id=\"app-").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains("Matrix agent"), "{}", page.body);
    assert_eq!(
        page.body.matches("/settings/account/apps/").count(),
        2,
        "{}",
        page.body
    );
    // Without the CSRF token nothing is revoked.
    let action = format!("/settings/account/apps/{}/revoke", s(&grants[0], "id"));
    let forged = web.post(&action, &[]);
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(bearer_get(&app, &first, "/api/me").status(), 200);
    assert_eq!(bearer_get(&app, &second, "/api/me").status(), 200);
    web.submit("/settings/account", &action, &[])
        .assert_redirect("/settings/account#apps");
    let alive: Vec<bool> = [&first, &second]
        .iter()
        .map(|t| bearer_get(&app, t, "/api/me").status() == 200)
        .collect();
    assert_eq!(alive.iter().filter(|a| **a).count(), 1, "{alive:?}");
    let survivor = if alive[0] { &first } else { &second };
    let page = web.get("/settings/account");
    assert_eq!(page.body.matches("/settings/account/apps/").count(), 1);
    // Revoking it again is a clear note, not an error page.
    web.submit("/settings/account", &action, &[])
        .assert_redirect("/settings/account#apps");

    // Only superadmin sessions see and revoke clients.
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    assert_eq!(erin.get("/api/admin/oauth/clients").status(), 403);
    assert_eq!(
        Client::with_bearer(&app, survivor)
            .get("/api/admin/oauth/clients")
            .status(),
        403
    );
    let (status, clients) = json(admin.get("/api/admin/oauth/clients"));
    assert_eq!(status, 200, "{clients}");
    let clients = clients.as_array().expect("clients").clone();
    assert_eq!(clients.len(), 2, "{clients:?}");
    let live = clients
        .iter()
        .find(|c| c["active_grants"] == 1)
        .expect("the client still authorized");
    assert_eq!(live["redirect_uris"], json!(["http://127.0.0.1:7777/cb"]));
    assert!(live["revoked_at"].is_null());
    let live_id = s(live, "id");
    assert_eq!(
        admin
            .delete("/api/admin/oauth/clients/oc_unknown000000")
            .status(),
        404
    );
    assert_eq!(
        erin.delete(&format!("/api/admin/oauth/clients/{live_id}"))
            .status(),
        403
    );
    assert_eq!(bearer_get(&app, survivor, "/api/me").status(), 200);
    assert_eq!(
        admin
            .delete(&format!("/api/admin/oauth/clients/{live_id}"))
            .status(),
        204
    );
    assert_eq!(bearer_get(&app, survivor, "/api/me").status(), 401);
    let (_, apps) = json(erin.get("/api/oauth/grants"));
    assert_eq!(apps, json!([]));
    let (_, clients) = json(admin.get("/api/admin/oauth/clients"));
    let revoked = clients
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["id"] == json!(live_id))
        .expect("still listed");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(revoked["active_grants"], 0);
    // A revoked client cannot start an authorization: an error page, no redirect.
    let resp = erin.get(&format!(
        "/oauth/authorize?response_type=code&client_id={live_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=x"
    ));
    assert!(resp.status().as_u16() >= 400, "{}", resp.status());
    // The audit log names the revocation.
    let (_, events) = json(admin.get("/api/admin/events"));
    assert!(
        events.to_string().contains("oauth_client_revoke"),
        "{events}"
    );

    // Settings › Users shows the clients to the superadmin, with a Revoke for the other one.
    let admin_web = Web::new(&app);
    admin_web.sign_in("admin@example.com", PASSWORD);
    let users = admin_web.get("/settings/users");
    users.assert_page(200, "OAuth clients");
    assert!(users.body.contains("Revoked"), "{}", users.body);
    let other = clients
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["id"] != json!(live_id))
        .map(|c| s(c, "id"))
        .expect("other client");
    let action = format!("/settings/oauth-clients/{other}/revoke");
    assert!(users.body.contains(&action), "{}", users.body);
    admin_web
        .submit("/settings/users", &action, &[])
        .assert_redirect("/settings/users#oauth-clients");
    let (_, clients) = json(admin.get("/api/admin/oauth/clients"));
    assert!(
        clients
            .as_array()
            .expect("clients")
            .iter()
            .all(|c| c["revoked_at"].is_string()),
        "{clients}"
    );
    // A user's Settings › Users (admins only) never lists clients.
    let erin_web = Web::new(&app);
    erin_web.sign_in("erin@example.com", PASSWORD);
    assert!(
        !erin_web
            .get("/settings/users")
            .body
            .contains("OAuth clients")
    );
}

// ------------------------------------------------------ client ID metadata documents

/// A tiny HTTP server for client metadata documents: path → body; counts requests.
struct DocServer {
    base: String,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl DocServer {
    fn start(docs: Vec<(&'static str, Value)>) -> Self {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let docs: Vec<(String, String)> = docs
            .into_iter()
            .map(|(p, v)| (p.to_string(), v.to_string().replace("{base}", &base)))
            .collect();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let found = docs.iter().find(|(p, _)| *p == path);
                let (status, body) = match found {
                    Some((_, b)) => ("200 OK", b.clone()),
                    None => ("404 Not Found", "{}".to_string()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Client ID Metadata Documents: a URL `client_id` under an allowed prefix is fetched once,
/// shown with its host on the consent page and completes the flow; a document that does not
/// name itself, an unregistered redirect URI and every URL outside the rules are refused, and
/// URLs on private addresses that nobody allowed are never fetched at all.
#[test]
fn client_id_metadata_documents() {
    let server = DocServer::start(vec![
        (
            "/agents/claude.json",
            json!({
                "client_id": "{base}/agents/claude.json",
                "client_name": "Claude Code",
                "redirect_uris": ["http://127.0.0.1:4567/callback"],
            }),
        ),
        (
            "/agents/impostor.json",
            json!({
                "client_id": "https://claude.ai/oauth/claude-code-client-metadata",
                "client_name": "Impostor",
                "redirect_uris": ["http://127.0.0.1:4567/callback"],
            }),
        ),
        (
            "/other/private.json",
            json!({
                "client_id": "{base}/other/private.json",
                "client_name": "Never fetched",
                "redirect_uris": ["http://127.0.0.1:4567/callback"],
            }),
        ),
    ]);
    let dir = TestDir::new("oauth-cimd");
    crate::harness::cli_setup(&dir, "admin@example.com");
    let app = Appliance::start_with(
        &dir,
        dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false").env(
            "RAMPART_OAUTH_CLIENT_METADATA_ALLOWED",
            &server.url("/agents/"),
        ),
    );
    cli_user(&dir, "cleo@example.com", "user");
    let (status, meta) = json(app.get("/.well-known/oauth-authorization-server"));
    assert_eq!(status, 200);
    assert_eq!(
        meta["client_id_metadata_document_supported"], true,
        "{meta}"
    );

    let cleo = enroll_and_sign_in_with_totp(&app, "cleo@example.com");
    let (_, me) = json(cleo.get("/api/me"));
    let personal = s(&me, "workspace_id");
    let pkce = Pkce::new();
    let client_id = server.url("/agents/claude.json");
    let a = Authz {
        client_id: &client_id,
        redirect_uri: "http://127.0.0.1:4567/callback",
        pkce: &pkce,
        state: "cimd",
        resource: None,
        scope: None,
    };
    let resp = session_get(&app, &cleo, &a.url(&app));
    assert_eq!(resp.status(), 200);
    let page = resp.text().expect("html");
    assert!(page.contains("Claude Code (127.0.0.1)"), "{page}");
    assert_eq!(server.hits(), 1);
    let code = authorize(&app, &cleo, &a, &personal, "developer");
    let (status, tokens) = exchange(&app, &a, &code);
    assert_eq!(status, 200, "{tokens}");
    let me = bearer_get(&app, &s(&tokens, "access_token"), "/api/me");
    assert_eq!(me.status(), 200);
    assert_eq!(server.hits(), 1, "a fresh document is not fetched again");

    // A redirect URI the document does not list.
    let elsewhere = Authz {
        redirect_uri: "https://attacker.example/callback",
        ..a_copy(&a)
    };
    let page = session_get(&app, &cleo, &elsewhere.url(&app))
        .text()
        .expect("html");
    assert!(page.contains("redirect_uri mismatch"), "{page}");

    // A document that names another client is refused, with the reason.
    let impostor_id = server.url("/agents/impostor.json");
    let impostor = Authz {
        client_id: &impostor_id,
        ..a_copy(&a)
    };
    let page = session_get(&app, &cleo, &impostor.url(&app))
        .text()
        .expect("html");
    assert!(page.contains("must name itself"), "{page}");
    let (status, e) = exchange(&app, &impostor, "whatever");
    assert_eq!(
        (status, e["error"].clone()),
        (400, json!("invalid_client")),
        "{e}"
    );

    // Outside the allowed prefix, a loopback URL is never fetched: http is refused, and so
    // is https to a private address.
    let before = server.hits();
    for url in [
        server.url("/other/private.json"),
        server
            .url("/other/private.json")
            .replace("http://", "https://"),
    ] {
        let outsider = Authz {
            client_id: &url,
            ..a_copy(&a)
        };
        let resp = session_get(&app, &cleo, &outsider.url(&app));
        let page = resp.text().expect("html");
        assert!(
            page.contains("must be an https:// URL") || page.contains("private"),
            "{url}: {page}"
        );
    }
    assert_eq!(
        server.hits(),
        before,
        "no request reached a private address"
    );

    // The client shows up for the superadmin like a registered one.
    let admin = Client::login(&app, "admin@example.com", PASSWORD);
    let (status, clients) = json(admin.get("/api/admin/oauth/clients"));
    assert_eq!(status, 200, "{clients}");
    assert!(clients.to_string().contains(&client_id), "{clients}");
}
