//! Issue 15 (evidence half) through the real binary: what CI evidence the appliance accepts.
//! DSSE bundles bound to their submission, who may change CI keys and the attestation
//! policy, OIDC audience and repository binding, SSRF rules for issuer discovery, bearer JWT
//! replay, and what verifier keys may not do.

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::assurance::{Fixture, fixture, results_body, served, submit};
use crate::harness::{PASSWORD, json};

fn pem_of(key: &SigningKey) -> String {
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem")
}

/// Uploads `key` as the workspace CI key through the owner's session (re-entering the
/// password, as the appliance requires).
fn upload_ci_key(f: &Fixture, key: &SigningKey) {
    let (status, body) = json(f.owner.post(
        &format!("/api/workspaces/{}/ci-key", f.workspace),
        json!({"public_key_pem": pem_of(key), "password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{body}");
}

fn post_results(f: &Fixture, body: &Value) -> (u16, Value) {
    json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        body.clone(),
    ))
}

fn one_assertion(f: &Fixture) -> Vec<Value> {
    let (status, body) = submit(
        f,
        json!([{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "Handler exists"}]),
    );
    assert_eq!(status, 201, "{body}");
    served(f)
}

/// Item 4: a DSSE bundle signed by the workspace key counts only for the results, model and
/// tier it names. Before, any bundle the key ever signed was accepted with arbitrary rows.
#[test]
fn dsse_bundle_is_bound_to_results_model_and_tier() {
    let f = fixture("ev-dsse");
    let all = one_assertion(&f);
    let key = SigningKey::from_slice(&[21u8; 32]).expect("key");
    upload_ci_key(&f, &key);
    let bundle_for = |body: &Value, model: &str, tier: u8| {
        rampart::wire::build_dsse_bundle(
            &key,
            model,
            tier,
            body["content_hash"].as_str().expect("hash"),
            &body["pipeline"],
            &all,
            body["results"].as_array().expect("rows"),
        )
        .expect("bundle")
    };
    // CI honestly attests a failing run.
    let failing = results_body(&all, 1, "fail");
    let honest = bundle_for(&failing, &f.model, 1);
    let mut signed = failing.clone();
    signed["dsse_bundle"] = json!(honest);
    let (status, run) = post_results(&f, &signed);
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["attestation"], "customer_dsse");

    // Replaying that bundle with "pass" rows (and their correct content hash) is refused.
    let mut replay = results_body(&all, 1, "pass");
    replay["dsse_bundle"] = json!(honest);
    let (status, err) = post_results(&f, &replay);
    assert_eq!(status, 401, "{err}");
    let msg = err["error"]["message"].as_str().expect("message");
    assert!(msg.contains("not bound to this submission"), "{msg}");

    // A bundle over the right hash naming another model or another tier is refused.
    let passing = results_body(&all, 1, "pass");
    for (model, tier) in [("another-model", 1u8), (f.model.as_str(), 2u8)] {
        let mut wrong = passing.clone();
        wrong["dsse_bundle"] = json!(bundle_for(&passing, model, tier));
        let (status, err) = post_results(&f, &wrong);
        assert_eq!(status, 401, "{model} tier {tier}: {err}");
    }
    // Nothing of the refused submissions was recorded.
    let (_, report) = json(
        f.owner
            .get(&format!("/api/models/{}/verification/report", f.model)),
    );
    assert_eq!(report["tier1"]["pass"], 0, "{report}");
    assert_eq!(report["tier1"]["fail"], 1, "{report}");

    // The bound bundle is accepted.
    let mut good = passing.clone();
    good["dsse_bundle"] = json!(bundle_for(&passing, &f.model, 1));
    let (status, run) = post_results(&f, &good);
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["attestation"], "customer_dsse");
}

/// Item 3: API keys (mk_ and mv_) cannot change CI keys or the attestation policy, even when
/// they send the owner's password; a session must re-enter the password or a current
/// authenticator code; refused requests change nothing.
#[test]
fn ci_trust_needs_an_owner_session_and_the_password() {
    let f = fixture("ev-ci-key-auth");
    let attacker = SigningKey::from_slice(&[31u8; 32]).expect("key");
    let key_path = format!("/api/workspaces/{}/ci-key", f.workspace);
    let sec_path = format!("/api/workspaces/{}/security", f.workspace);
    // The owner turns attestation on (password re-entered).
    let (status, body) = json(f.owner.patch(
        &sec_path,
        json!({"require_attestation": true, "password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{body}");
    for client in [&f.developer, &f.verifier] {
        for body in [
            json!({"public_key_pem": pem_of(&attacker)}),
            json!({"public_key_pem": pem_of(&attacker), "password": PASSWORD}),
        ] {
            let (status, err) = json(client.post(&key_path, body));
            assert_eq!(status, 403, "{err}");
        }
        for body in [
            json!({"require_attestation": false}),
            json!({"require_attestation": false, "password": PASSWORD}),
            json!({"trusted_issuers": ["https://evil.example"], "password": PASSWORD}),
        ] {
            let (status, err) = json(client.patch(&sec_path, body));
            assert_eq!(status, 403, "{err}");
        }
    }
    // A session without the password, or with a wrong one, is refused too.
    for body in [
        json!({"require_attestation": false}),
        json!({"require_attestation": false, "password": "wrong-password-1"}),
        json!({"require_attestation": false, "totp_code": "123456"}),
    ] {
        let (status, err) = json(f.owner.patch(&sec_path, body));
        assert_eq!(status, 400, "{err}");
    }
    let (status, err) = json(
        f.owner
            .post(&key_path, json!({"public_key_pem": pem_of(&attacker)})),
    );
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "password", "{err}");
    // Nothing changed: no key, attestation still required.
    let (_, sec) = json(f.owner.get(&sec_path));
    assert!(sec["ci_key"].is_null(), "{sec}");
    assert_eq!(sec["require_attestation"], true, "{sec}");
    // So a bearer JWT signed with the attacker's key is not the workspace's CI.
    let jwt = rampart::wire::sign::mint_es256_jwt(&attacker, &f.workspace, 300).expect("jwt");
    let all = one_assertion(&f);
    let resp = f
        .owner
        .http
        .post(format!(
            "{}/api/models/{}/verification/results",
            f.app.url, f.model
        ))
        .header("Authorization", format!("Bearer {jwt}"))
        .json(&results_body(&all, 1, "pass"))
        .send()
        .expect("post");
    assert_eq!(resp.status(), 401);

    // A current authenticator code works instead of the password (once).
    // (Adding the authenticator needs the password; confirming it rotates the session.)
    let (status, enroll) = json(
        f.owner
            .post("/api/mfa/totp/setup", json!({"password": PASSWORD})),
    );
    assert_eq!(status, 200, "{enroll}");
    let url = enroll["otpauth_url"].as_str().expect("url").to_string();
    let resp = f.owner.post(
        "/api/mfa/totp/confirm",
        json!({"code": crate::harness::totp_code(&url, 0)}),
    );
    let cookie = crate::harness::session_cookie(&resp);
    let (status, confirmed) = json(resp);
    assert_eq!(status, 200);
    let owner = crate::harness::Client {
        cookie,
        csrf: confirmed["csrf_token"].as_str().map(str::to_string),
        ..f.owner.clone()
    };
    let code = crate::harness::totp_code(&url, 1);
    let (status, body) = json(owner.patch(
        &sec_path,
        json!({"required_claims": {"repository": "acme/web"}, "totp_code": code}),
    ));
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        json(owner.patch(&sec_path, json!({"required_claims": {}, "totp_code": code})));
    assert_eq!(status, 400, "a code is accepted once");
}

mod oidc_ci {
    //! OIDC tokens signed by a local issuer key (JWKS file or a local discovery server).
    use super::*;
    use crate::assurance::fixture_with;
    use base64::Engine as _;
    use jwt_simple::prelude::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(super) fn jwk_of(key: &ES256KeyPair, kid: &str) -> Value {
        let point = key.public_key().public_key().to_bytes_uncompressed();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    pub(super) fn token(
        key: &ES256KeyPair,
        issuer: &str,
        audience: Option<&str>,
        claims: Value,
    ) -> String {
        let mut c =
            Claims::with_custom_claims(claims, Duration::from_secs(300)).with_issuer(issuer);
        if let Some(a) = audience {
            c = c.with_audience(a);
        }
        key.sign(c).expect("sign")
    }

    pub(super) fn post_with_token(f: &Fixture, token: &str) -> (u16, Value) {
        let body = results_body(&served(f), 1, "pass");
        json(
            f.verifier
                .http
                .post(format!(
                    "{}/api/models/{}/verification/results",
                    f.app.url, f.model
                ))
                .header("X-API-Key", f.verifier.api_key.clone().expect("key"))
                .header("X-CI-Attestation", token)
                .json(&body)
                .send()
                .expect("post"),
        )
    }

    fn patch(f: &Fixture, body: Value) -> (u16, Value) {
        let mut body = body;
        body["password"] = json!(PASSWORD);
        json(
            f.owner
                .patch(&format!("/api/workspaces/{}/security", f.workspace), body),
        )
    }

    /// Item 8: the audience must be this appliance (or the workspace's own setting), and the
    /// workspace must bind tokens to a repository, before OIDC attestation counts.
    #[test]
    fn oidc_needs_audience_and_repository_binding() {
        let issuer = "https://ci.example.internal";
        let ci = ES256KeyPair::generate().with_key_id("k1");
        let scratch = tempfile::tempdir().expect("dir");
        let jwks_path = scratch.path().join("jwks.json");
        std::fs::write(
            &jwks_path,
            json!({issuer: {"keys": [jwk_of(&ci, "k1")]}}).to_string(),
        )
        .expect("write");
        let f = fixture_with(
            "ev-oidc-aud",
            &[
                (
                    "RAMPART_OIDC_JWKS_FILE",
                    jwks_path.to_string_lossy().into_owned(),
                ),
                ("RAMPART_OIDC_FETCH", "false".into()),
            ],
        );
        one_assertion(&f);
        // Attestation required, issuer trusted, but no repository binding yet.
        let (status, sec) = patch(
            &f,
            json!({"require_attestation": true, "trusted_issuers": [issuer], "required_claims": {"environment": "prod"}}),
        );
        assert_eq!(status, 200, "{sec}");
        let aud = sec["oidc_audience"].as_str().expect("aud").to_string();
        assert_eq!(sec["oidc_audience_is_default"], true);
        assert!(
            sec["oidc_unbound_reason"]
                .as_str()
                .is_some_and(|r| r.contains("repository")),
            "{sec}"
        );
        let any_repo = json!({"repository": "mallory/fork", "environment": "prod"});
        let (status, err) = post_with_token(&f, &token(&ci, issuer, Some(&aud), any_repo.clone()));
        assert_eq!(
            status, 401,
            "an unbound workspace must not accept any repository: {err}"
        );
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("does not bind")),
            "{err}"
        );

        let (status, sec) = patch(
            &f,
            json!({"required_claims": {"repository": "acme/web", "environment": "prod"}}),
        );
        assert_eq!(status, 200, "{sec}");
        assert!(sec["oidc_unbound_reason"].is_null(), "{sec}");
        let ours = json!({"repository": "acme/web", "environment": "prod"});
        // Another repository, no aud, or another aud: refused.
        for (tok, why) in [
            (token(&ci, issuer, Some(&aud), any_repo), "other repo"),
            (token(&ci, issuer, None, ours.clone()), "no aud"),
            (
                token(&ci, issuer, Some("https://other.example"), ours.clone()),
                "wrong aud",
            ),
        ] {
            let (status, err) = post_with_token(&f, &tok);
            assert_eq!(status, 401, "{why}: {err}");
        }
        let (status, run) = post_with_token(&f, &token(&ci, issuer, Some(&aud), ours.clone()));
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["attestation"], "ci_oidc");

        // A workspace audience (e.g. GitLab's `aud: mipiti`) replaces the default.
        let (status, sec) = patch(&f, json!({"oidc_audience": "mipiti"}));
        assert_eq!(status, 200, "{sec}");
        assert_eq!(sec["oidc_audience"], "mipiti");
        let (status, _) = post_with_token(&f, &token(&ci, issuer, Some(&aud), ours.clone()));
        assert_eq!(status, 401);
        let (status, _) = post_with_token(&f, &token(&ci, issuer, Some("mipiti"), ours));
        assert_eq!(status, 200);
        let (_, sec) = patch(&f, json!({"oidc_audience": ""}));
        assert_eq!(sec["oidc_audience"], aud.as_str());
    }

    /// A tiny HTTP issuer: discovery and JWKS, counting every connection it accepts.
    pub(super) struct LocalIssuer {
        pub port: u16,
        pub hits: Arc<AtomicUsize>,
    }

    /// Serves `/.well-known/openid-configuration` (its `jwks_uri` from `jwks_uri(port)`),
    /// `/jwks` with `jwks`, and `/redirect-out` as a 302 to `redirect_to`.
    pub(super) fn local_issuer(
        jwks: Value,
        jwks_uri: impl Fn(u16) -> String + Send + 'static,
        redirect_to: Option<String>,
    ) -> LocalIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                counter.fetch_add(1, Ordering::SeqCst);
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, extra, body) = match path.as_str() {
                    "/.well-known/openid-configuration" => match &redirect_to {
                        Some(to) => ("302 Found", format!("Location: {to}\r\n"), String::new()),
                        None => (
                            "200 OK",
                            String::new(),
                            json!({"issuer": format!("http://localhost:{port}"), "jwks_uri": jwks_uri(port)}).to_string(),
                        ),
                    },
                    "/jwks" => ("200 OK", String::new(), jwks.to_string()),
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        LocalIssuer { port, hits }
    }

    fn ssrf_fixture(name: &str, allow: bool) -> Fixture {
        let mut env = vec![];
        if allow {
            env.push(("RAMPART_OIDC_ALLOW_PRIVATE_NETWORKS", "true".to_string()));
        }
        let f = fixture_with(name, &env);
        one_assertion(&f);
        f
    }

    /// Item 9: without the operator's allowance, a workspace cannot make the appliance fetch
    /// from loopback/private addresses: literal ones are refused when saved, names resolving
    /// to them are refused before any connection, and the answer is the same generic error
    /// as for an issuer that does not exist.
    #[test]
    fn issuer_discovery_never_reaches_loopback_by_default() {
        let ci = ES256KeyPair::generate().with_key_id("k1");
        let server = local_issuer(
            json!({"keys": [jwk_of(&ci, "k1")]}),
            |p| format!("http://localhost:{p}/jwks"),
            None,
        );
        let f = ssrf_fixture("ev-ssrf-default", false);
        for literal in [
            format!("https://127.0.0.1:{}", server.port),
            "https://169.254.169.254".to_string(),
            "https://[::1]".to_string(),
            format!("http://localhost:{}", server.port),
        ] {
            let (status, err) = patch(&f, json!({"trusted_issuers": [literal]}));
            assert_eq!(status, 400, "{literal}: {err}");
        }
        let by_name = format!("https://localhost:{}", server.port);
        let missing = "https://issuer.invalid".to_string();
        let (status, sec) = patch(
            &f,
            json!({"trusted_issuers": [by_name, missing], "required_claims": {"repository": "acme/web"}}),
        );
        assert_eq!(status, 200, "{sec}");
        let aud = sec["oidc_audience"].as_str().expect("aud").to_string();
        let claims = json!({"repository": "acme/web"});
        let (status, e1) = post_with_token(&f, &token(&ci, &by_name, Some(&aud), claims.clone()));
        assert_eq!(status, 401, "{e1}");
        let (status, e2) = post_with_token(&f, &token(&ci, &missing, Some(&aud), claims));
        assert_eq!(status, 401, "{e2}");
        let generic = |e: &Value, iss: &str| {
            e["error"]["message"]
                .as_str()
                .expect("msg")
                .replace(iss, "<issuer>")
        };
        assert_eq!(generic(&e1, &by_name), generic(&e2, &missing));
        assert_eq!(
            server.hits.load(Ordering::SeqCst),
            0,
            "the appliance connected to a loopback issuer"
        );
    }

    /// With the allowance on, a local issuer works; `jwks_uri` and redirects that leave the
    /// issuer's host are still refused, and never contacted.
    #[test]
    fn allowed_private_issuer_stays_on_its_host() {
        let ci = ES256KeyPair::generate().with_key_id("k1");
        let keys = json!({"keys": [jwk_of(&ci, "k1")]});
        let elsewhere = local_issuer(keys.clone(), |p| format!("http://localhost:{p}/jwks"), None);
        let good = local_issuer(keys.clone(), |p| format!("http://localhost:{p}/jwks"), None);
        let other_port = elsewhere.port;
        let off_host_jwks = local_issuer(
            keys.clone(),
            move |_| format!("http://127.0.0.1:{other_port}/jwks"),
            None,
        );
        let redirecting = local_issuer(
            keys,
            |p| format!("http://localhost:{p}/jwks"),
            Some(format!(
                "http://127.0.0.1:{other_port}/.well-known/openid-configuration"
            )),
        );
        let f = ssrf_fixture("ev-ssrf-allowed", true);
        let iss = |p: u16| format!("http://localhost:{p}");
        let (status, sec) = patch(
            &f,
            json!({
                "trusted_issuers": [iss(good.port), iss(off_host_jwks.port), iss(redirecting.port)],
                "required_claims": {"repository": "acme/web"}
            }),
        );
        assert_eq!(status, 200, "{sec}");
        let aud = sec["oidc_audience"].as_str().expect("aud").to_string();
        let claims = json!({"repository": "acme/web"});
        let (status, run) =
            post_with_token(&f, &token(&ci, &iss(good.port), Some(&aud), claims.clone()));
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["attestation"], "ci_oidc");
        for p in [off_host_jwks.port, redirecting.port] {
            let (status, err) =
                post_with_token(&f, &token(&ci, &iss(p), Some(&aud), claims.clone()));
            assert_eq!(status, 401, "{err}");
        }
        assert_eq!(
            elsewhere.hits.load(Ordering::SeqCst),
            0,
            "an off-host jwks_uri or redirect was followed"
        );
    }
}

/// Low item: a bearer JWT of the manual flow is accepted once; tokens without `jti` are
/// refused.
#[test]
fn bearer_jwts_cannot_be_replayed() {
    let f = fixture("ev-jti");
    let all = one_assertion(&f);
    let key = SigningKey::from_slice(&[41u8; 32]).expect("key");
    upload_ci_key(&f, &key);
    let post = |jwt: &str| {
        let resp = f
            .owner
            .http
            .post(format!(
                "{}/api/models/{}/verification/results",
                f.app.url, f.model
            ))
            .header("Authorization", format!("Bearer {jwt}"))
            .json(&results_body(&all, 1, "pass"))
            .send()
            .expect("post");
        json(resp)
    };
    let jwt = rampart::wire::sign::mint_es256_jwt(&key, &f.workspace, 300).expect("jwt");
    let (status, run) = post(&jwt);
    assert_eq!(status, 200, "{run}");
    let (status, err) = post(&jwt);
    assert_eq!(status, 401, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already used")),
        "{err}"
    );
    // A token without jti (the spec's original example) is refused.
    use jwt_simple::prelude::*;
    let pair = ES256KeyPair::from_bytes(&key.to_bytes()).expect("pair");
    let no_jti = pair
        .sign(Claims::create(Duration::from_secs(300)).with_subject(&f.workspace))
        .expect("sign");
    let (status, err) = post(&no_jti);
    assert_eq!(status, 401, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("jti")),
        "{err}"
    );
}

/// Low item: verifier keys (mv_) cannot write conversation messages.
#[test]
fn verifier_keys_cannot_write_conversation_messages() {
    let f = fixture("ev-mv-conversation");
    let path = format!("/api/models/{}/conversation", f.model);
    let (status, before) = json(f.owner.get(&path));
    assert_eq!(status, 200, "{before}");
    for message in ["what are the highest-risk assets?", "remove asset A1"] {
        let (status, err) = json(f.verifier.post(&path, json!({"message": message})));
        assert_eq!(status, 403, "{err}");
    }
    let (_, after) = json(f.owner.get(&path));
    assert_eq!(before, after, "nothing was recorded");
    // A developer key still converses.
    let (status, reply) = json(f.developer.post(
        &path,
        json!({"message": "what are the highest-risk assets?"}),
    ));
    assert_eq!(status, 200, "{reply}");
}

/// Item 5, server side: an assertion whose test_passes parameters could become an option of
/// the CI runner's test command is refused when submitted, so it is never stored or served.
#[test]
fn injection_shaped_test_assertions_are_refused_on_submission() {
    let f = fixture("ev-test-params");
    for (params, field) in [
        (
            json!({"file": "src/main.rs", "test_name": "--config=target.'cfg(all())'.runner=['sh','-c','touch pwned']"}),
            "assertions[0].params.test_name",
        ),
        (
            json!({"file": "tests/test_a.py", "test_name": "-p evil"}),
            "assertions[0].params.test_name",
        ),
        (
            json!({"file": "--rootdir=/tmp/x.py", "test_name": "test_a"}),
            "assertions[0].params.file",
        ),
    ] {
        let (status, err) = submit(
            &f,
            json!([{"type": "test_passes", "params": params, "description": "Tests prove it"}]),
        );
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let (status, body) = submit(
        &f,
        json!([{"type": "test_passes", "params": {"file": "tests/test_auth.py", "test_name": "TestAuth::test_rejects_expired"}, "description": "Tests prove it"}]),
    );
    assert_eq!(status, 201, "{body}");
}
