//! OAuth 2.1 for agents (issue 24) through the real binary: the `WWW-Authenticate`
//! challenge of `/api` and `/mcp`, Protected Resource Metadata (RFC 9728), Authorization
//! Server Metadata (RFC 8414) and Dynamic Client Registration (RFC 7591).

use serde_json::json;

use crate::harness::{Appliance, TestDir, appliance_without_mfa, json};

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
