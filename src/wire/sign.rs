//! Workspace ECDSA P-256 signatures (contract §5.3), key loading and fingerprints, and the
//! ES256 JWT of the spec's manual curl flow.
//!
//! Two signing flows exist and are told apart by the `sha256:` prefix of `signed_hash`:
//! - CLI flow: `signed_hash` is 64 hex chars; the signature covers the 32 raw digest
//!   bytes (hashed again by ECDSA-SHA256).
//! - Spec manual flow: `signed_hash` is `"sha256:<hex>"`; the signature covers its ASCII text.
//!
//! Verification accepts high-S signatures because the CLI does not normalize S.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use sha2::{Digest, Sha256};

/// Errors of key loading, signing and signature checks; each names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The PEM is not an unencrypted P-256 private key (PKCS#8 or SEC1).
    #[error("not an unencrypted P-256 private key in PEM (PKCS#8 or SEC1 'EC PRIVATE KEY')")]
    BadPrivateKey,
    /// The PEM is not a P-256 public key in SubjectPublicKeyInfo form.
    #[error("not a P-256 public key in PEM SubjectPublicKeyInfo ('BEGIN PUBLIC KEY') form")]
    BadPublicKey,
    /// `content_hash`/`signed_hash` is not `sha256:` + 64 lower-case hex, or 64 hex.
    #[error("malformed hash '{0}': expected 64 lower-case hex characters")]
    BadHash(String),
    /// `signature` is not standard base64 of a DER ECDSA signature.
    #[error("signature is not base64 of a DER ECDSA-Sig-Value")]
    BadSignatureEncoding,
    /// The signature does not verify under the given key.
    #[error("signature does not verify under the workspace key")]
    Mismatch,
    /// A verified attestation speaks about other results, another model or another tier
    /// than the submission it came with (a replayed bundle).
    #[error("the attestation does not match this submission: {0}")]
    Unbound(String),
    /// Building an attestation payload failed.
    #[error("cannot encode attestation: {0}")]
    Encode(String),
    /// Minting the ES256 JWT failed.
    #[error("could not mint ES256 JWT: {0}")]
    Jwt(String),
}

/// Loads a P-256 signing key from unencrypted PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1
/// (`BEGIN EC PRIVATE KEY`, as written by `openssl ecparam -genkey -name prime256v1 -noout`).
pub fn load_signing_key_pem(pem: &str) -> Result<SigningKey, SignError> {
    if let Ok(k) = SigningKey::from_pkcs8_pem(pem) {
        return Ok(k);
    }
    // SEC1 files from `openssl ecparam` without -noout start with an EC PARAMETERS block.
    let start = pem
        .find("-----BEGIN EC PRIVATE KEY-----")
        .ok_or(SignError::BadPrivateKey)?;
    let secret = p256::SecretKey::from_sec1_pem(pem[start..].trim())
        .map_err(|_| SignError::BadPrivateKey)?;
    Ok(SigningKey::from(secret))
}

/// Loads a P-256 verifying key from PEM SPKI (`BEGIN PUBLIC KEY`, as `openssl ec -pubout`).
pub fn load_verifying_key_pem(pem: &str) -> Result<VerifyingKey, SignError> {
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| SignError::BadPublicKey)
}

/// Key fingerprint shown in the UI and audit bundles: lower-case hex SHA-256 of the DER SPKI.
pub fn fingerprint(key: &VerifyingKey) -> Result<String, SignError> {
    let der = key
        .to_public_key_der()
        .map_err(|_| SignError::BadPublicKey)?;
    Ok(hex::encode(Sha256::digest(der.as_bytes())))
}

fn hash_hex(content_hash: &str) -> Result<&str, SignError> {
    let hex_part = content_hash.strip_prefix("sha256:").unwrap_or(content_hash);
    let ok = hex_part.len() == 64
        && hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(hex_part)
    } else {
        Err(SignError::BadHash(content_hash.to_string()))
    }
}

/// Signs a `content_hash` the way the CLI does (contract §5.3).
///
/// Returns `(signature, signed_hash)`: base64 (standard, padded) DER signature over the 32
/// raw digest bytes, and the 64-hex `signed_hash`. The nonce is RFC 6979 (deterministic).
pub fn sign_digest(key: &SigningKey, content_hash: &str) -> Result<(String, String), SignError> {
    let hex_part = hash_hex(content_hash)?;
    let digest = hex::decode(hex_part).map_err(|_| SignError::BadHash(content_hash.into()))?;
    let sig: Signature = key.sign(&digest);
    Ok((B64.encode(sig.to_der().as_bytes()), hex_part.to_string()))
}

/// Signs arbitrary text (the spec's manual flow signs the ASCII of `"sha256:<hex>"`).
/// Returns the base64 DER signature.
pub fn sign_text(key: &SigningKey, text: &str) -> String {
    let sig: Signature = key.sign(text.as_bytes());
    B64.encode(sig.to_der().as_bytes())
}

/// Checks `signature` over `signed_hash` under `key`, for either flow (see module docs).
///
/// High-S signatures are accepted. Callers on the server must separately check that
/// `signed_hash` equals `content_hash[7..]` in the CLI flow.
pub fn verify_signature(
    key: &VerifyingKey,
    signed_hash: &str,
    signature_b64: &str,
) -> Result<(), SignError> {
    let der = B64
        .decode(signature_b64.trim())
        .map_err(|_| SignError::BadSignatureEncoding)?;
    let sig = Signature::from_der(&der).map_err(|_| SignError::BadSignatureEncoding)?;
    let sig = sig.normalize_s();
    let message: Vec<u8> = if signed_hash.starts_with("sha256:") {
        hash_hex(signed_hash)?;
        signed_hash.as_bytes().to_vec()
    } else {
        let h = hash_hex(signed_hash)?;
        hex::decode(h).map_err(|_| SignError::BadHash(signed_hash.into()))?
    };
    key.verify(&message, &sig).map_err(|_| SignError::Mismatch)
}

/// Mints the ES256 JWT of the spec's manual flow: `{sub: workspace_id, iat, exp = iat + ttl, jti}`
/// with a random `jti` (the appliance accepts each token once).
/// `ttl_secs` is capped at 300 as the spec requires.
pub fn mint_es256_jwt(
    key: &SigningKey,
    workspace_id: &str,
    ttl_secs: u64,
) -> Result<String, SignError> {
    use jwt_simple::prelude::{Claims, Duration, ECDSAP256KeyPairLike as _, ES256KeyPair};
    let pair =
        ES256KeyPair::from_bytes(&key.to_bytes()).map_err(|e| SignError::Jwt(e.to_string()))?;
    // A fresh jti per token: the appliance accepts each bearer token once.
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| SignError::Jwt(e.to_string()))?;
    let claims = Claims::create(Duration::from_secs(ttl_secs.min(300)))
        .with_subject(workspace_id)
        .with_jwt_id(hex::encode(id));
    pair.sign(claims).map_err(|e| SignError::Jwt(e.to_string()))
}

/// Server side of the spec's manual flow: checks an ES256 `Authorization: Bearer` JWT under
/// the workspace's registered key and returns its `sub` (the workspace id).
///
/// Refuses a bad signature, an expired token, a token without `exp` or `sub`, and a token
/// whose `exp` lies more than 300 s (+60 s clock tolerance) in the future.
pub fn verify_es256_jwt(key: &VerifyingKey, token: &str) -> Result<String, SignError> {
    use jwt_simple::prelude::{ECDSAP256PublicKeyLike as _, ES256PublicKey, NoCustomClaims};
    let point = key.to_sec1_point(false);
    let pk =
        ES256PublicKey::from_bytes(point.as_bytes()).map_err(|e| SignError::Jwt(e.to_string()))?;
    let claims = pk
        .verify_token::<NoCustomClaims>(token, None)
        .map_err(|e| SignError::Jwt(e.to_string()))?;
    let exp = claims
        .expires_at
        .ok_or_else(|| SignError::Jwt("token has no exp".into()))?
        .as_secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if exp > now + 300 + 60 {
        return Err(SignError::Jwt("token lifetime exceeds 5 minutes".into()));
    }
    claims
        .subject
        .ok_or_else(|| SignError::Jwt("token has no sub".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALAR: &str = "67ed0e033360e34e1a9064eac9f74f2b77550ec7075cfa88b5eb9e7031b1de0f";
    const PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEynJd8+iBzsi0sYq3qzPs2X33+bAN\nZxeafhICpkocodVx7V42DJSuDepREvURdy+lYu/Jcy9PtP+GtRMGRChrZA==\n-----END PUBLIC KEY-----\n";
    const HASH_A: &str = "sha256:dbde78a109ddd078131b157b42d654b3b1ecb705cb56ea389bb011bf897699dd";
    const SIG_DIGEST: &str = "MEQCIAmcBqg6Tt8SQMMYw7Ju2l4IjkyHwWQxXy2PBMAWUl3UAiBw8sSkymtpgu8iueUDircTl4XZFBzNHMpbMAkRkBQMSQ==";
    const SIG_TEXT: &str = "MEUCIQDCWvFuvvsBJDHtVFfVsgJns/gn3x2z+pXhFWe1/Q2W4AIgD0gNmyAgX8tZeafbv9ZVaB6SQjrd4/JJaPvl2p9Q6AI=";

    fn key() -> SigningKey {
        let bytes = hex::decode(SCALAR).expect("hex");
        SigningKey::from_slice(&bytes).expect("scalar")
    }

    #[test]
    fn public_key_matches_vector() {
        let vk = load_verifying_key_pem(PUB).expect("pub");
        assert_eq!(&vk, key().verifying_key());
        assert_eq!(fingerprint(&vk).expect("fp").len(), 64);
    }

    #[test]
    fn digest_flow_reproduces_rfc6979_vector() {
        let (sig, signed) = sign_digest(&key(), HASH_A).expect("sign");
        assert_eq!(sig, SIG_DIGEST);
        assert_eq!(signed, &HASH_A[7..]);
        let vk = load_verifying_key_pem(PUB).expect("pub");
        verify_signature(&vk, &signed, &sig).expect("verifies");
        // Must fail against the text forms.
        assert!(matches!(
            verify_signature(&vk, HASH_A, &sig),
            Err(SignError::Mismatch)
        ));
        let sig_obj = Signature::from_der(&B64.decode(SIG_DIGEST).expect("b64")).expect("der");
        assert!(vk.verify(signed.as_bytes(), &sig_obj).is_err());
    }

    #[test]
    fn manual_flow_reproduces_vector() {
        assert_eq!(sign_text(&key(), HASH_A), SIG_TEXT);
        let vk = load_verifying_key_pem(PUB).expect("pub");
        verify_signature(&vk, HASH_A, SIG_TEXT).expect("manual verifies");
        assert!(verify_signature(&vk, &HASH_A[7..], SIG_TEXT).is_err());
    }

    #[test]
    fn high_s_is_accepted_and_tamper_rejected() {
        let vk = load_verifying_key_pem(PUB).expect("pub");
        let sig = Signature::from_der(&B64.decode(SIG_DIGEST).expect("b64")).expect("der");
        let (r, s) = sig.split_scalars();
        let high = Signature::from_scalars(r, -*s).expect("high-s");
        let high_b64 = B64.encode(high.to_der().as_bytes());
        assert_ne!(high_b64, SIG_DIGEST);
        verify_signature(&vk, &HASH_A[7..], &high_b64).expect("high-S accepted");
        let mut tampered = HASH_A[7..].to_string();
        tampered.replace_range(0..1, "e");
        assert!(verify_signature(&vk, &tampered, SIG_DIGEST).is_err());
        assert!(matches!(
            verify_signature(&vk, "abc", SIG_DIGEST),
            Err(SignError::BadHash(_))
        ));
    }

    #[test]
    fn loads_pkcs8_and_sec1_pem() {
        use p256::pkcs8::EncodePrivateKey as _;
        let k = key();
        let pkcs8 = k.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).expect("pkcs8");
        assert_eq!(load_signing_key_pem(&pkcs8).expect("pkcs8 load"), k);
        // SEC1 as `openssl ecparam -genkey -name prime256v1 -noout` writes it.
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIGftDgMzYONOGpBk6sn3Tyt3VQ7HB1z6iLXrnnAxsd4PoAoGCCqGSM49\nAwEHoUQDQgAEynJd8+iBzsi0sYq3qzPs2X33+bANZxeafhICpkocodVx7V42DJSu\nDepREvURdy+lYu/Jcy9PtP+GtRMGRChrZA==\n-----END EC PRIVATE KEY-----\n";
        assert_eq!(load_signing_key_pem(sec1).expect("sec1 load"), k);
        let with_params = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{sec1}"
        );
        assert_eq!(load_signing_key_pem(&with_params).expect("params"), k);
        assert!(load_signing_key_pem(PUB).is_err());
    }

    #[test]
    fn jwt_has_subject_and_short_expiry() {
        use jwt_simple::prelude::{ECDSAP256PublicKeyLike as _, ES256PublicKey, NoCustomClaims};
        let token = mint_es256_jwt(&key(), "ws_123", 3600).expect("jwt");
        let pk = ES256PublicKey::from_pem(PUB).expect("pk");
        let claims = pk
            .verify_token::<NoCustomClaims>(&token, None)
            .expect("verifies");
        assert_eq!(claims.subject.as_deref(), Some("ws_123"));
        let iat = claims.issued_at.expect("iat").as_secs();
        let exp = claims.expires_at.expect("exp").as_secs();
        assert!(exp - iat <= 300);
        let vk = load_verifying_key_pem(PUB).expect("vk");
        assert_eq!(verify_es256_jwt(&vk, &token).expect("valid"), "ws_123");
        let other = SigningKey::from_slice(&[7u8; 32]).expect("other key");
        assert!(verify_es256_jwt(other.verifying_key(), &token).is_err());
        let long = {
            use jwt_simple::prelude::{Claims, Duration, ECDSAP256KeyPairLike as _, ES256KeyPair};
            let pair = ES256KeyPair::from_bytes(&key().to_bytes()).expect("pair");
            pair.sign(Claims::create(Duration::from_secs(3600)).with_subject("ws_123"))
                .expect("sign")
        };
        assert!(verify_es256_jwt(&vk, &long).is_err());
    }
}
