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
        "subject": [{"name": format!("mipiti:verification:tier{tier}:{model_id}"), "digest": {"sha256": hex_hash}}],
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
}
