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
