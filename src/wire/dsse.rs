//! Customer-key DSSE bundles (`dsse_bundle` of the results POST, contract §5.4).
//!
//! The bundle is a JSON object sent as a string:
//! `{"v":1,"kind":"customer-dsse","payloadType":"application/vnd.in-toto+json","payload":b64,
//! "signature":b64(DER),"public_key_pem":…}`. The signature is ECDSA-P256-SHA256 over the DSSE
//! pre-authentication encoding (PAE) of the payload. The payload is an in-toto statement
//! whose subject is `mipiti:verification:tier<N>:<model_id>` with the content hash as its
//! sha256 digest. Servers must verify against the **registered** key, never the embedded PEM.

use super::sign::SignError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey as _;
use serde_json::{Value, json};
use std::io::Write as _;

/// DSSE payload type of the statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `predicateType` of a verification run.
pub const PREDICATE_TYPE: &str = "https://mipiti.io/attestations/v1/verification-run";

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Builds the `dsse_bundle` string for one tier's POST.
///
/// `assertions` and `results` are gzip+base64 packed into the predicate so an auditor can
/// recompute `content_hash` from the bundle alone.
pub fn build_dsse_bundle(
    key: &SigningKey,
    model_id: &str,
    tier: u8,
    content_hash: &str,
    pipeline: &Value,
    assertions: &[Value],
    results: &[Value],
) -> Result<String, SignError> {
    let hex_hash = content_hash.strip_prefix("sha256:").unwrap_or(content_hash);
    let packed = json!({"assertions": assertions, "results": results}).to_string();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(packed.as_bytes())
        .map_err(|e| SignError::Encode(format!("gzip: {e}")))?;
    let gz = gz
        .finish()
        .map_err(|e| SignError::Encode(format!("gzip: {e}")))?;
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject_name(model_id, tier), "digest": {"sha256": hex_hash}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "model_id": model_id,
            "tier": tier,
            "content_hash": content_hash,
            "pipeline": pipeline,
            "payload": B64.encode(gz),
        }
    });
    let body = statement.to_string().into_bytes();
    let sig: Signature = key.sign(&pae(PAYLOAD_TYPE, &body));
    let pem = key
        .verifying_key()
        .to_public_key_pem(p256::pkcs8::LineEnding::LF)
        .map_err(|_| SignError::BadPublicKey)?;
    Ok(json!({
        "v": 1,
        "kind": "customer-dsse",
        "payloadType": PAYLOAD_TYPE,
        "payload": B64.encode(&body),
        "signature": B64.encode(sig.to_der().as_bytes()),
        "public_key_pem": pem,
    })
    .to_string())
}

/// Verifies a `dsse_bundle` string under the registered customer key and returns the
/// decoded in-toto statement. Checks the PAE signature (high-S accepted) and, when
/// `expected_content_hash` is given, that the statement's subject digest equals it.
pub fn verify_dsse_bundle(
    key: &VerifyingKey,
    bundle: &str,
    expected_content_hash: Option<&str>,
) -> Result<Value, SignError> {
    let v: Value = serde_json::from_str(bundle).map_err(|_| SignError::BadSignatureEncoding)?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .ok_or(SignError::BadSignatureEncoding)
    };
    let payload_type = field("payloadType")?;
    let body = B64
        .decode(field("payload")?)
        .map_err(|_| SignError::BadSignatureEncoding)?;
    let der = B64
        .decode(field("signature")?)
        .map_err(|_| SignError::BadSignatureEncoding)?;
    let sig = Signature::from_der(&der).map_err(|_| SignError::BadSignatureEncoding)?;
    key.verify(&pae(payload_type, &body), &sig.normalize_s())
        .map_err(|_| SignError::Mismatch)?;
    let statement: Value =
        serde_json::from_slice(&body).map_err(|_| SignError::BadSignatureEncoding)?;
    if let Some(expected) = expected_content_hash {
        let want = expected.strip_prefix("sha256:").unwrap_or(expected);
        let got = statement
            .pointer("/subject/0/digest/sha256")
            .and_then(Value::as_str)
            .unwrap_or("");
        if got != want {
            return Err(SignError::BadHash(got.to_string()));
        }
    }
    Ok(statement)
}

/// The in-toto subject name of one tier's verification run of a model.
pub fn subject_name(model_id: &str, tier: u8) -> String {
    format!("mipiti:verification:tier{tier}:{model_id}")
}

/// Verifies a `dsse_bundle` as the server must before it counts as attestation: the
/// signature under the registered key ([`verify_dsse_bundle`], which also compares the
/// subject digest with `content_hash`), and that the statement is bound to this very
/// submission: payload type in-toto, predicate type verification-run, exactly one subject,
/// named `mipiti:verification:tier<tier>:<model_id>`, and a predicate whose `model_id`,
/// `tier` and `content_hash` (when present) agree. Without this binding any bundle the CI key
/// ever signed could be replayed with other results.
pub fn verify_dsse_binding(
    key: &VerifyingKey,
    bundle: &str,
    content_hash: &str,
    model_id: &str,
    tier: u8,
) -> Result<Value, SignError> {
    let outer: Value = serde_json::from_str(bundle).map_err(|_| SignError::BadSignatureEncoding)?;
    if outer.get("payloadType").and_then(Value::as_str) != Some(PAYLOAD_TYPE) {
        return Err(SignError::Unbound(format!(
            "payloadType must be {PAYLOAD_TYPE}"
        )));
    }
    let statement = verify_dsse_bundle(key, bundle, Some(content_hash)).map_err(|e| match e {
        SignError::BadHash(got) => SignError::Unbound(format!(
            "its subject digest is '{}', but the submitted results hash to {content_hash}",
            got.chars().take(64).collect::<String>()
        )),
        other => other,
    })?;
    if statement.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE) {
        return Err(SignError::Unbound(format!(
            "predicateType must be {PREDICATE_TYPE}"
        )));
    }
    let subjects = statement
        .get("subject")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if subjects != 1 {
        return Err(SignError::Unbound(format!(
            "the statement must have exactly one subject, it has {subjects}"
        )));
    }
    let want = subject_name(model_id, tier);
    let name = statement
        .pointer("/subject/0/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name != want {
        return Err(SignError::Unbound(format!(
            "its subject is '{}', expected '{want}' (another model or tier)",
            name.chars().take(200).collect::<String>()
        )));
    }
    let predicate = statement.get("predicate");
    let field = |k: &str| predicate.and_then(|p| p.get(k));
    if let Some(m) = field("model_id")
        && m.as_str() != Some(model_id)
    {
        return Err(SignError::Unbound(
            "predicate.model_id names another model".into(),
        ));
    }
    // Producers differ in spelling (`1` or `"1"`, with or without `sha256:`); the values
    // must agree.
    if let Some(t) = field("tier") {
        let same = t.as_u64() == Some(u64::from(tier)) || t.as_str() == Some(&tier.to_string());
        if !same {
            return Err(SignError::Unbound(
                "predicate.tier names another tier".into(),
            ));
        }
    }
    let bare = |h: &str| h.strip_prefix("sha256:").unwrap_or(h).to_ascii_lowercase();
    if let Some(h) = field("content_hash")
        && h.as_str().map(bare) != Some(bare(content_hash))
    {
        return Err(SignError::Unbound(
            "predicate.content_hash differs from the submitted results".into(),
        ));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_round_trip_and_tamper() {
        let key = SigningKey::from_slice(&[3u8; 32]).expect("key");
        let h = "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd";
        let b = build_dsse_bundle(
            &key,
            "M1",
            1,
            h,
            &json!({"provider":"local"}),
            &[json!({"id":"a","type":"file_exists"})],
            &[json!({"assertion_id":"a","result":"pass"})],
        )
        .expect("bundle");
        let st = verify_dsse_bundle(key.verifying_key(), &b, Some(h)).expect("verifies");
        assert_eq!(st["subject"][0]["name"], "mipiti:verification:tier1:M1");
        assert_eq!(st["predicateType"], PREDICATE_TYPE);
        // Packed payload decodes back to the rows.
        let gz = B64
            .decode(st["predicate"]["payload"].as_str().expect("payload"))
            .expect("b64");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .expect("gunzip");
        assert!(text.contains("\"assertion_id\":\"a\""));
        // Wrong key, wrong hash and a modified payload are refused.
        let other = SigningKey::from_slice(&[4u8; 32]).expect("key");
        assert!(verify_dsse_bundle(other.verifying_key(), &b, Some(h)).is_err());
        assert!(verify_dsse_bundle(key.verifying_key(), &b, Some("sha256:00")).is_err());
        let mut v: Value = serde_json::from_str(&b).expect("json");
        let mut body = B64.decode(v["payload"].as_str().expect("p")).expect("b64");
        let last = body.len() - 2;
        body[last] ^= 1;
        v["payload"] = Value::String(B64.encode(&body));
        assert!(verify_dsse_bundle(key.verifying_key(), &v.to_string(), None).is_err());
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
    }

    #[test]
    fn binding_refuses_other_results_models_and_tiers() {
        let key = SigningKey::from_slice(&[3u8; 32]).expect("key");
        let vk = key.verifying_key();
        let h = "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd";
        let other_h = "sha256:f288af995e511b41b6a5d3299346715975d928bc1991818a200ecf67e42e213f";
        let b = build_dsse_bundle(&key, "M1", 1, h, &json!({}), &[], &[]).expect("bundle");
        verify_dsse_binding(vk, &b, h, "M1", 1).expect("bound");
        for (hash, model, tier) in [(other_h, "M1", 1), (h, "M2", 1), (h, "M1", 2)] {
            let e = verify_dsse_binding(vk, &b, hash, model, tier).expect_err("unbound");
            assert!(matches!(e, SignError::Unbound(_)), "{e}");
        }
        // A correctly signed statement of another predicate type or with two subjects.
        let sign = |statement: Value| {
            let body = statement.to_string().into_bytes();
            let sig: Signature = key.sign(&pae(PAYLOAD_TYPE, &body));
            json!({"payloadType": PAYLOAD_TYPE, "payload": B64.encode(&body), "signature": B64.encode(sig.to_der().as_bytes())}).to_string()
        };
        let hex = h.trim_start_matches("sha256:");
        let subject = json!({"name": subject_name("M1", 1), "digest": {"sha256": hex}});
        let wrong_type =
            sign(json!({"subject": [subject], "predicateType": "https://example/other"}));
        assert!(matches!(
            verify_dsse_binding(vk, &wrong_type, h, "M1", 1),
            Err(SignError::Unbound(_))
        ));
        let two = sign(json!({"subject": [subject, subject], "predicateType": PREDICATE_TYPE}));
        assert!(matches!(
            verify_dsse_binding(vk, &two, h, "M1", 1),
            Err(SignError::Unbound(_))
        ));
        let lying_predicate = sign(
            json!({"subject": [subject], "predicateType": PREDICATE_TYPE, "predicate": {"model_id": "M9"}}),
        );
        assert!(matches!(
            verify_dsse_binding(vk, &lying_predicate, h, "M1", 1),
            Err(SignError::Unbound(_))
        ));
    }
}
