//! The assurance server through the real binary: assertions, the CI protocol (E3–E6),
//! content-hash checks, ECDSA attestation (CLI and manual flows), drift, computed status,
//! audit bundles verified with openssl, findings, badge, tenancy.

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use crate::harness::{Appliance, Client, PASSWORD, TestDir, cli_user, json};

const S3_API: &str = "A REST API that accepts file uploads from authenticated users, stores them in S3, and serves them via pre-signed URLs.";

pub(crate) struct Fixture {
    pub(crate) app: Appliance,
    pub(crate) dir: TestDir,
    pub(crate) owner: Client,
    pub(crate) verifier: Client,
    pub(crate) developer: Client,
    pub(crate) model: String,
    pub(crate) control: String,
    pub(crate) workspace: String,
}

pub(crate) fn fixture(name: &str) -> Fixture {
    fixture_with(name, &[])
}

pub(crate) fn fixture_with(name: &str, env: &[(&str, String)]) -> Fixture {
    fixture_in(TestDir::new(name), env)
}

/// The fixture in a prepared test dir (the reliability suite mounts a small volume first).
pub(crate) fn fixture_in(dir: TestDir, env: &[(&str, String)]) -> Fixture {
    crate::harness::cli_setup(&dir, "admin@example.com");
    let mut cmd = dir.cmd().env("MFA_REQUIRED_FOR_LOCAL", "false");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let app = Appliance::start_with(&dir, cmd);
    cli_user(&dir, "dev@example.com", "user");
    let owner = Client::login(&app, "dev@example.com", PASSWORD);
    let (status, model) = json(owner.post(
        "/api/models?wait=true",
        json!({"feature_description": S3_API}),
    ));
    assert_eq!(status, 201, "{model}");
    let (_, ver) = json(owner.post("/api/api-keys", json!({"name": "ci", "scope": "verifier"})));
    let (_, dev) = json(owner.post(
        "/api/api-keys",
        json!({"name": "mcp", "scope": "developer"}),
    ));
    Fixture {
        verifier: Client::with_key(&app, ver["key"].as_str().expect("key")),
        developer: Client::with_key(&app, dev["key"].as_str().expect("key")),
        control: model["controls"][0]["id"]
            .as_str()
            .expect("control")
            .to_string(),
        model: model["id"].as_str().expect("id").to_string(),
        workspace: ver["workspace_id"].as_str().expect("ws").to_string(),
        owner,
        app,
        dir,
    }
}

pub(crate) fn submit(f: &Fixture, assertions: Value) -> (u16, Value) {
    json(f.developer.post(
        &format!("/api/models/{}/assertions", f.model),
        json!({"control_id": f.control, "assertions": assertions}),
    ))
}

/// Builds an E5 body the way the CLI does: results for `served`, with their content hash.
pub(crate) fn results_body(served: &[Value], tier: u8, verdict: &str) -> Value {
    let rows: Vec<Value> = served
        .iter()
        .map(|a| json!({"assertion_id": a["id"], "tier": tier, "result": verdict, "details": "checked", "reasoning": "", "reviewer": format!("mipiti-verify:{}", a["type"].as_str().unwrap_or(""))}))
        .collect();
    let hash = rampart::wire::canonical::content_hash(served, &rows);
    json!({
        "pipeline": {"provider": "generic", "run_id": "42", "run_url": "", "commit_sha": "0123456789abcdef0123456789abcdef01234567", "branch": "main", "source_digest": ""},
        "results": rows,
        "content_hash": hash,
    })
}

pub(crate) fn served(f: &Fixture) -> Vec<Value> {
    let (status, body) = json(f.verifier.get(&format!(
        "/api/models/{}/verification/assertions?repo=acme%2Fweb",
        f.model
    )));
    assert_eq!(status, 200, "{body}");
    assert!(body["assumptions"].is_object());
    body["controls"]
        .as_object()
        .expect("controls")
        .values()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn assertions_validate_and_the_ci_protocol_round_trips() {
    let f = fixture("asr-protocol");
    // Bad input: named field, nothing stored.
    for (body, field) in [
        (
            json!([{"type": "function_magic", "params": {}, "description": "x"}]),
            "assertions[0].type",
        ),
        (
            json!([{"type": "function_exists", "params": {"file": "a.py"}, "description": "x"}]),
            "assertions[0].params.name",
        ),
        (
            json!([{"type": "function_exists", "params": {"file": "a.py", "name": "f"}, "description": "ok"}, {"type": "file_hash", "params": {"file": "a", "expected_hash": "ab", "ratio": 1.5}, "description": "x"}]),
            "assertions[1].params",
        ),
    ] {
        let (status, err) = submit(&f, body);
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let (_, list) = json(f.owner.get(&format!("/api/models/{}/assertions", f.model)));
    assert_eq!(list["total"], 0, "failed submissions store nothing");

    let (status, created) = submit(
        &f,
        json!([
            {"type": "function_exists", "params": {"file": "app/upload.py", "name": "validate_upload"}, "description": "Upload validation exists", "repo": "acme/web"},
            {"type": "test_exists", "params": {"pattern": "tests/test_upload*.py"}, "description": "Upload tests exist"},
            {"type": "file_exists", "params": {"file": "other.py"}, "description": "Other repo", "repo": "acme/other"}
        ]),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["created"].as_array().expect("created").len(), 3);
    assert!(
        created["created"][0]["id"]
            .as_str()
            .expect("id")
            .starts_with("asrt_")
    );
    assert!(
        created["created"][0]["tier2_prompt"]
            .as_str()
            .expect("prompt")
            .starts_with("Read the function `validate_upload` in `app/upload.py`.")
    );
    assert!(created["sufficiency"]["status"].is_string());

    // Verifier keys read but never submit assertions; developer keys never submit results.
    let (status, _) = json(f.verifier.post(
        &format!("/api/models/{}/assertions", f.model),
        json!({"control_id": f.control, "assertions": []}),
    ));
    assert_eq!(status, 403);

    let served = served(&f);
    assert_eq!(
        served.len(),
        2,
        "the other repo's assertion is filtered out"
    );
    let body = results_body(&served, 1, "pass");
    let (status, err) = json(f.developer.post(
        &format!("/api/models/{}/verification/results", f.model),
        body.clone(),
    ));
    assert_eq!(status, 403, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("developer keys")
    );

    // A tampered hash is refused and changes nothing.
    let mut tampered = body.clone();
    tampered["content_hash"] =
        json!("sha256:0000000000000000000000000000000000000000000000000000000000000000");
    let (status, err) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        tampered,
    ));
    assert_eq!(status, 400, "{err}");
    let mut unknown = body.clone();
    unknown["results"][0]["assertion_id"] = json!("asrt_nope");
    let (status, _) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        unknown,
    ));
    assert_eq!(status, 400);

    let (status, run) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        body,
    ));
    assert_eq!(status, 200, "{run}");
    assert!(run["run_id"].as_str().expect("run").starts_with("run_"));
    assert_eq!(run["attestation"], "unsigned");

    // Tier 1 is done for these two; tier 2 still pending.
    let (_, pending1) = json(f.verifier.get(&format!(
        "/api/models/{}/verification/pending?tier=1&stale_after=24&repo=acme%2Fweb",
        f.model
    )));
    let n1: usize = pending1["controls"]
        .as_object()
        .expect("c")
        .values()
        .map(|v| v.as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(n1, 0, "{pending1}");
    let (_, pending2) = json(f.verifier.get(&format!(
        "/api/models/{}/verification/pending?tier=2&stale_after=24",
        f.model
    )));
    let n2: usize = pending2["controls"]
        .as_object()
        .expect("c")
        .values()
        .map(|v| v.as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(n2, 3);

    let (_, report) = json(
        f.verifier
            .get(&format!("/api/models/{}/verification/report", f.model)),
    );
    assert_eq!(report["tier1"]["pass"], 2, "{report}");
    assert_eq!(report["tier2"]["pending"], 3);
    assert_eq!(
        report["repos"][0]["commit_sha"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert!(
        report["control_details"]
            .as_array()
            .expect("details")
            .iter()
            .any(|d| d["control_id"] == f.control.as_str())
    );

    // Computed status can't be set and shows pending until tier 2 passes.
    let (_, controls) = json(f.owner.get(&format!(
        "/api/models/{}/controls?control_id={}",
        f.model, f.control
    )));
    let status_now = controls["controls"][0]["verification_status"]
        .as_str()
        .expect("status");
    assert!(
        status_now == "pending" || status_now == "partially_verified",
        "{status_now}"
    );
}

#[test]
fn drift_verified_status_findings_and_badge() {
    let f = fixture("asr-drift");
    let (status, created) = submit(
        &f,
        json!([
            {"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "Handler implements the control"},
            {"type": "test_passes", "params": {"file": "tests/test_upload.py", "test_name": "test_upload_rejects"}, "description": "Tests prove it"}
        ]),
    );
    assert_eq!(status, 201, "{created}");
    let suff = created["sufficiency"]["status"]
        .as_str()
        .expect("status")
        .to_string();
    let all = served(&f);
    let post = |tier, verdict| {
        let (s, b) = json(f.verifier.post(
            &format!("/api/models/{}/verification/results", f.model),
            results_body(&all, tier, verdict),
        ));
        assert_eq!(s, 200, "{b}");
        b
    };
    post(1, "pass");
    post(2, "pass");
    let (_, controls) = json(f.owner.get(&format!(
        "/api/models/{}/controls?control_id={}",
        f.model, f.control
    )));
    let expected = if suff == "sufficient" {
        "verified"
    } else {
        "partially_verified"
    };
    assert_eq!(
        controls["controls"][0]["verification_status"], expected,
        "sufficiency {suff}"
    );

    // A finding remediated with these assertions becomes verified by CI.
    let (status, fnd) = json(f.developer.post(
        &format!("/api/models/{}/findings", f.model),
        json!({"findings": [{"title": "No size limit", "severity": "high", "control_id": f.control, "checked_locations": [{"file": "app/upload.py", "start_line": 10, "end_line": 40}], "checked_patterns": ["max_size"], "expected_evidence": "a size check"}]}),
    ));
    assert_eq!(status, 201, "{fnd}");
    let fid = fnd["findings"][0]["id"].as_str().expect("id").to_string();
    let path = format!("/api/models/{}/findings/{fid}", f.model);
    let (status, _) = json(f.developer.patch(&path, json!({"status": "dismissed"})));
    assert_eq!(status, 400, "dismiss needs a reason");
    let (status, _) = json(f.developer.patch(&path, json!({"status": "verified"})));
    assert_eq!(status, 400, "verified is computed");
    let (status, _) = json(f.developer.patch(&path, json!({"status": "acknowledged"})));
    assert_eq!(status, 200);
    let (status, _) = json(f.developer.patch(&path, json!({"status": "discovered"})));
    assert_eq!(status, 400, "no backward transitions");
    let ids: Vec<Value> = all.iter().map(|a| a["id"].clone()).collect();
    let (status, remediated) = json(f.developer.patch(
        &path,
        json!({"status": "remediated", "linked_assertions": ids}),
    ));
    assert_eq!(status, 200, "{remediated}");
    assert_eq!(
        remediated["status"], "verified",
        "linked assertions already pass both tiers"
    );
    let (_, summary) = json(
        f.owner
            .get(&format!("/api/models/{}/findings/summary", f.model)),
    );
    assert_eq!(summary["by_status"]["verified"], 1);

    // Drift: the same assertions now fail tier 1.
    post(1, "fail");
    let (_, report) = json(
        f.owner
            .get(&format!("/api/models/{}/verification/report", f.model)),
    );
    let drift = report["drift_items"].as_array().expect("drift");
    assert_eq!(drift.len(), 2, "{report}");
    assert_eq!(drift[0]["control_id"], f.control.as_str());
    assert!(
        !drift[0]["control_objectives"]
            .as_array()
            .expect("cos")
            .is_empty()
    );
    let (_, feed) = json(f.owner.get("/api/activity"));
    assert!(
        feed.as_array()
            .expect("feed")
            .iter()
            .any(|e| e["kind"] == "drift")
    );
    let (_, queue) = json(
        f.owner
            .get(&format!("/api/models/{}/review-queue", f.model)),
    );
    assert!(
        queue["controls"]
            .as_array()
            .expect("queue")
            .iter()
            .any(|c| c["control_id"] == f.control.as_str())
    );

    // Badge: off → unknown, on → a real status. Same answer for unknown models.
    let anon = Client::anonymous(&f.app);
    let (_, off) = json(anon.get(&format!("/api/badge/{}", f.model)));
    assert_eq!(off["message"], "unknown");
    let (_, ghost) = json(anon.get("/api/badge/00000000-0000-0000-0000-000000000000"));
    assert_eq!(off, ghost);
    let (status, _) = json(f.owner.patch(
        &format!("/api/models/{}/badge", f.model),
        json!({"enabled": true}),
    ));
    assert_eq!(status, 200);
    let fresh_model = {
        // The badge cache is per model: a second model shows the enabled state immediately.
        let (_, m) = json(f.owner.post("/api/models?wait=true", json!({"feature_description": "An internal Kafka pipeline that moves payment events into Postgres."})));
        m["id"].as_str().expect("id").to_string()
    };
    json(f.owner.patch(
        &format!("/api/models/{fresh_model}/badge"),
        json!({"enabled": true}),
    ));
    let (_, on) = json(anon.get(&format!("/api/badge/{fresh_model}")));
    assert_eq!(on["schemaVersion"], 1);
    assert_ne!(on["message"], "unknown", "{on}");

    // Another tenant sees nothing.
    cli_user(&f.dir, "eve@example.com", "user");
    let eve = Client::login(&f.app, "eve@example.com", PASSWORD);
    for p in [
        format!("/api/models/{}/assertions", f.model),
        format!("/api/models/{}/verification/report", f.model),
        format!("/api/models/{}/findings", f.model),
        path.clone(),
    ] {
        assert_eq!(eve.get(&p).status(), 404, "{p}");
    }
}

#[test]
fn ecdsa_attestation_audit_bundle_and_policy() {
    let f = fixture("asr-ecdsa");
    let (status, _) = submit(
        &f,
        json!([{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "Handler exists"}]),
    );
    assert_eq!(status, 201);
    let all = served(&f);
    let key = SigningKey::from_slice(&[7u8; 32]).expect("key");
    let pem = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    // Only the owner uploads keys; require attestation.
    let (status, sec) = json(f.owner.post(
        &format!("/api/workspaces/{}/ci-key", f.workspace),
        json!({"public_key_pem": pem, "password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{sec}");
    assert_eq!(sec["ci_key"]["fingerprint"].as_str().expect("fp").len(), 64);
    let (status, _) = json(f.owner.patch(
        &format!("/api/workspaces/{}/security", f.workspace),
        json!({"require_attestation": true, "password": PASSWORD}),
    ));
    assert_eq!(status, 200);

    // Unsigned is refused now.
    let body = results_body(&all, 1, "pass");
    let (status, err) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        body.clone(),
    ));
    assert_eq!(status, 403, "{err}");

    // Signed with another key: refused.
    let other = SigningKey::from_slice(&[9u8; 32]).expect("key");
    let hash = body["content_hash"].as_str().expect("hash").to_string();
    let (sig, signed_hash) = rampart::wire::sign::sign_digest(&other, &hash).expect("sign");
    let mut wrong = body.clone();
    wrong["signature"] = json!(sig);
    wrong["signed_hash"] = json!(signed_hash);
    let (status, err) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        wrong,
    ));
    assert_eq!(status, 401, "{err}");

    // Signed with the workspace key: accepted and attested.
    let (sig, signed_hash) = rampart::wire::sign::sign_digest(&key, &hash).expect("sign");
    let mut signed = body.clone();
    signed["signature"] = json!(sig);
    signed["signed_hash"] = json!(signed_hash);
    let (status, run) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        signed.clone(),
    ));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["attestation"], "workspace_ecdsa");
    // Tampering with the signed results breaks the hash check.
    let mut tampered = signed;
    tampered["results"][0]["result"] = json!("fail");
    let (status, _) = json(f.verifier.post(
        &format!("/api/models/{}/verification/results", f.model),
        tampered,
    ));
    assert_eq!(status, 400);

    // The audit bundle's openssl commands verify both signatures.
    let run_id = run["run_id"].as_str().expect("run");
    let (status, bundle) = json(f.owner.get(&format!(
        "/api/models/{}/verification/runs/{run_id}/audit",
        f.model
    )));
    assert_eq!(status, 200, "{bundle}");
    let sigs = bundle["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 2, "{bundle}");
    for s in sigs {
        let work = f
            .dir
            .path()
            .join(format!("audit-{}", s["signer"].as_str().expect("signer")));
        std::fs::create_dir_all(&work).expect("dir");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(s["verify_command"].as_str().expect("command"))
            .current_dir(&work)
            .output()
            .expect("sh");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verified OK"),
            "{}: {}{}",
            s["signer"],
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The spec's manual flow: ES256 bearer JWT + signature over "sha256:<hex of the raw results>".
    let results_text = serde_json::to_string(&body["results"]).expect("json");
    let manual_hash = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            results_text.as_bytes()
        ))
    );
    let manual_sig = rampart::wire::sign::sign_text(&key, &manual_hash);
    let jwt = rampart::wire::sign::mint_es256_jwt(&key, &f.workspace, 300).expect("jwt");
    let raw = format!(
        "{{\"pipeline\":{{\"provider\":\"jenkins\",\"run_id\":\"7\"}},\"results\":{results_text},\"signature\":\"{manual_sig}\",\"signed_hash\":\"{manual_hash}\"}}"
    );
    let resp = f
        .owner
        .http
        .post(format!(
            "{}/api/models/{}/verification/results",
            f.app.url, f.model
        ))
        .header("Authorization", format!("Bearer {jwt}"))
        .header("Content-Type", "application/json")
        .body(raw)
        .send()
        .expect("post");
    let (status, manual) = json(resp);
    assert_eq!(status, 200, "{manual}");
    assert_eq!(manual["attestation"], "workspace_ecdsa");
    let bad_jwt = rampart::wire::sign::mint_es256_jwt(&other, &f.workspace, 300).expect("jwt");
    let resp = f
        .owner
        .http
        .post(format!(
            "{}/api/models/{}/verification/results",
            f.app.url, f.model
        ))
        .header("Authorization", format!("Bearer {bad_jwt}"))
        .json(&body)
        .send()
        .expect("post");
    assert_eq!(resp.status(), 401);

    // Rotation keeps history.
    let newer = SigningKey::from_slice(&[11u8; 32]).expect("key");
    let newer_pem = newer
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    let (_, sec) = json(f.owner.post(
        &format!("/api/workspaces/{}/ci-key", f.workspace),
        json!({"public_key_pem": newer_pem, "password": PASSWORD}),
    ));
    assert_eq!(sec["key_history"].as_array().expect("history").len(), 2);
    assert!(sec["key_history"][1]["revoked_at"].is_string());
    let _ = key.to_pkcs8_pem(LineEnding::LF);
}

#[test]
fn oidc_attestation_with_local_jwks_and_required_claims() {
    use jwt_simple::prelude::*;
    let issuer = "https://ci.example.internal";
    let ci = ES256KeyPair::generate().with_key_id("ci-key-1");
    let point = ci.public_key().public_key().to_bytes_uncompressed();
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({issuer: {"keys": [{"kty": "EC", "crv": "P-256", "kid": "ci-key-1", "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..65])}]}});
    let scratch = tempfile::tempdir().expect("dir");
    let jwks_path = scratch.path().join("jwks.json");
    std::fs::write(&jwks_path, jwks.to_string()).expect("write");
    let f = fixture_with(
        "asr-oidc",
        &[
            (
                "RAMPART_OIDC_JWKS_FILE",
                jwks_path.to_string_lossy().into_owned(),
            ),
            ("RAMPART_OIDC_FETCH", "false".into()),
        ],
    );
    let (status, _) = submit(
        &f,
        json!([{"type": "function_exists", "params": {"file": "app/upload.py", "name": "handle_upload"}, "description": "Handler exists"}]),
    );
    assert_eq!(status, 201);
    let (status, sec) = json(f.owner.patch(
        &format!("/api/workspaces/{}/security", f.workspace),
        json!({"require_attestation": true, "trusted_issuers": [issuer], "required_claims": {"repository": "acme/web"}, "password": PASSWORD}),
    ));
    assert_eq!(status, 200, "{sec}");
    // Tokens must name the appliance (its public URL by default) as their audience.
    let audience = sec["oidc_audience"].as_str().expect("audience").to_string();
    assert!(audience.starts_with("http"), "{sec}");
    let token = |claims: serde_json::Value, valid_for: u64, key: &ES256KeyPair| {
        let c = Claims::with_custom_claims(claims, Duration::from_secs(valid_for))
            .with_issuer(issuer)
            .with_audience(&audience);
        key.sign(c).expect("sign")
    };
    let post = |tok: Option<&str>| {
        let mut req = f
            .verifier
            .http
            .post(format!(
                "{}/api/models/{}/verification/results",
                f.app.url, f.model
            ))
            .header("X-API-Key", f.verifier.api_key.clone().expect("key"))
            .json(&results_body(&served(&f), 1, "pass"));
        if let Some(t) = tok {
            req = req.header("X-CI-Attestation", t);
        }
        json(req.send().expect("post"))
    };
    let (status, _) = post(None);
    assert_eq!(status, 403, "attestation required");
    let (status, run) = post(Some(&token(
        json!({"repository": "acme/web", "ref": "refs/heads/main"}),
        300,
        &ci,
    )));
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["attestation"], "ci_oidc");
    let (status, body) = post(Some(&token(json!({"repository": "evil/fork"}), 300, &ci)));
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("repository"),
        "{body}"
    );
    let forger = ES256KeyPair::generate().with_key_id("ci-key-1");
    let (status, _) = post(Some(&token(
        json!({"repository": "acme/web"}),
        300,
        &forger,
    )));
    assert_eq!(status, 401, "a token signed by another key");
    let (status, _) = post(Some("not-a-jwt"));
    assert_eq!(status, 401);
}

/// Follows `next` links from `first` and returns every page's items (under `key`).
fn walk(c: &Client, first: &str, key: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut url = Some(first.to_string());
    while let Some(u) = url {
        let (status, body) = json(c.get(&u));
        assert_eq!(status, 200, "{u}: {body}");
        pages.push(body[key].as_array().expect("list").clone());
        url = body["next"].as_str().map(str::to_string);
        assert_eq!(
            body["next"].is_null(),
            body["next_cursor"].is_null(),
            "{body}"
        );
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn lists_page_with_cursors_every_item_once() {
    let f = fixture("asr-paging");
    let findings = format!("/api/models/{}/findings", f.model);
    for batch in 0..3 {
        let items: Vec<Value> = (0..10)
            .map(|i| json!({"title": format!("gap {batch}-{i}"), "severity": "low", "control_id": f.control}))
            .collect();
        let (status, body) = json(f.developer.post(&findings, json!({"findings": items})));
        assert_eq!(status, 201, "{body}");
    }
    let (_, all) = json(f.developer.get(&format!("{findings}?limit=500")));
    assert_eq!(all["total"], 30);
    assert!(
        all["next_cursor"].is_null() && all["next"].is_null(),
        "{all}"
    );
    let order = ids_of(all["findings"].as_array().expect("list"));
    assert_eq!(order.len(), 30);

    // Pages of 7: every finding exactly once, in the same order; a finding added while
    // paging sorts last and shows up once on a later page.
    let (status, first) = json(f.developer.get(&format!("{findings}?limit=7")));
    assert_eq!(status, 200);
    assert_eq!(
        (first["total"].as_u64(), first["limit"].as_u64()),
        (Some(30), Some(7))
    );
    let (_, added) = json(f.developer.post(
        &findings,
        json!({"title": "added while paging", "severity": "info"}),
    ));
    let added = added["findings"][0]["id"].as_str().expect("id").to_string();
    let mut seen = ids_of(first["findings"].as_array().expect("list"));
    let rest = walk(
        &f.developer,
        first["next"].as_str().expect("next"),
        "findings",
    );
    for p in &rest {
        assert!(!p.is_empty() && p.len() <= 7, "page of {}", p.len());
        seen.extend(ids_of(p));
    }
    let mut expected = order.clone();
    expected.push(added.clone());
    assert_eq!(seen, expected);

    // The default page is 100; filters carry over to the next link.
    let (_, d) = json(f.developer.get(&findings));
    assert_eq!(d["limit"], 100);
    assert_eq!(d["findings"].as_array().map(Vec::len), Some(31));
    for id in &order[..5] {
        let (s, b) = json(f.developer.patch(
            &format!("{findings}/{id}"),
            json!({"status": "acknowledged"}),
        ));
        assert_eq!(s, 200, "{b}");
    }
    let pages = walk(
        &f.developer,
        &format!("{findings}?status=acknowledged&limit=2"),
        "findings",
    );
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    let acked: Vec<String> = pages.iter().flat_map(|p| ids_of(p)).collect();
    assert_eq!(acked, order[..5].to_vec());

    // Assertions page the same way.
    let specs: Vec<Value> = (0..12)
        .map(|i| json!({"type": "function_exists", "params": {"file": format!("app/f{i}.py"), "name": format!("check_{i}")}, "description": format!("Check {i} exists")}))
        .collect();
    let (status, body) = submit(&f, Value::Array(specs));
    assert_eq!(status, 201, "{body}");
    let assertions = format!("/api/models/{}/assertions", f.model);
    let (_, all) = json(f.developer.get(&assertions));
    assert_eq!(all["total"], 12);
    let order = ids_of(all["assertions"].as_array().expect("list"));
    let pages = walk(&f.developer, &format!("{assertions}?limit=5"), "assertions");
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![5, 5, 2]
    );
    assert_eq!(
        pages.iter().flat_map(|p| ids_of(p)).collect::<Vec<_>>(),
        order
    );

    // Verification runs stay a bare array; the next page is in the Link header.
    let served = served(&f);
    for _ in 0..5 {
        let (s, b) = json(f.verifier.post(
            &format!("/api/models/{}/verification/results", f.model),
            results_body(&served, 1, "pass"),
        ));
        assert_eq!(s, 200, "{b}");
    }
    let runs = format!("/api/models/{}/verification/runs", f.model);
    let (_, newest) = json(f.developer.get(&runs));
    let newest: Vec<String> = newest
        .as_array()
        .expect("bare array")
        .iter()
        .map(|r| r["run_id"].as_str().expect("run").to_string())
        .collect();
    assert_eq!(newest.len(), 5);
    let mut url = Some(format!("{runs}?limit=2"));
    let mut seen = Vec::new();
    while let Some(u) = url {
        let r = f.developer.get(&u);
        assert_eq!(r.headers()["X-Total-Count"], "5");
        url = r.headers().get("Link").map(|l| {
            let l = l.to_str().expect("ascii");
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l[1..l.find('>').expect(">")].to_string()
        });
        let (_, page) = json(r);
        let page = page.as_array().expect("bare array").clone();
        assert!(page.len() <= 2);
        seen.extend(
            page.iter()
                .map(|r| r["run_id"].as_str().expect("run").to_string()),
        );
    }
    assert_eq!(seen, newest);

    // Bad limits and cursors: 400 naming the parameter; nothing else is read.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=MXgKeQ", "cursor"),
    ] {
        for base in [&findings, &assertions, &runs] {
            let (status, body) = json(f.developer.get(&format!("{base}?{q}")));
            assert_eq!(status, 400, "{base}?{q}: {body}");
            assert_eq!(body["error"]["field"], field, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(field)),
                "{body}"
            );
        }
    }
    let (status, body) = json(f.developer.get(&format!("{findings}?limit=lots")));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit")),
        "{body}"
    );
    // A findings cursor is not an assertions (or runs) cursor.
    let cursor = first["next_cursor"].as_str().expect("cursor");
    for base in [&assertions, &runs] {
        let (status, body) = json(f.developer.get(&format!("{base}?cursor={cursor}")));
        assert_eq!(status, 400, "{body}");
    }
}
