//! ECDSA P-256 signing keys for backups: the instance key (generated into the data dir or
//! given as `BACKUP_SIGNING_KEY`), public-key parsing for trusted signers, and fingerprints.
//!
//! A fingerprint is the SHA-256 of the DER SubjectPublicKeyInfo, so it matches
//! `openssl pkey -pubin -outform DER | sha256sum`. Signatures are standard ECDSA-SHA256 in
//! DER form over a message whose SHA-256 the caller computes while streaming (the message
//! may be gigabytes), so `openssl dgst -sha256 -verify` accepts them.
//!
//! This module never logs key material; [`SigningKey`]'s `Debug` shows only the fingerprint.

use std::fmt;
use std::path::Path;

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use sha2::{Digest, Sha256};

use super::{Error, Result, keyfile};

/// File name of the generated instance backup signing key inside the data dir.
pub const BACKUP_SIGNING_KEY_FILE: &str = "backup-signing-key.pem";

/// SHA-256 of a public key's DER SubjectPublicKeyInfo: identifies a signer in backup trailers.
pub type Fingerprint = [u8; 32];

/// An ECDSA P-256 private key used to sign backups.
pub struct SigningKey {
    key: p256::ecdsa::SigningKey,
    fingerprint: Fingerprint,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", hex::encode(self.fingerprint))
    }
}

/// A P-256 public key with its fingerprint, as shown to operators and stored for trusted signers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    fingerprint: Fingerprint,
}

impl SigningKey {
    /// Generates a fresh random key (OS randomness).
    pub fn generate() -> Self {
        use p256::elliptic_curve::Generate;
        Self::from_key(p256::ecdsa::SigningKey::generate())
    }

    fn from_key(key: p256::ecdsa::SigningKey) -> Self {
        let fingerprint = fingerprint_of(key.verifying_key());
        Self { key, fingerprint }
    }

    /// Parses a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
    /// Any other curve or format is refused.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        let pem = pem.trim();
        if pem.contains("BEGIN EC PRIVATE KEY") {
            let sk = p256::SecretKey::from_sec1_pem(pem)
                .map_err(|_| "not a valid P-256 SEC1 private key".to_string())?;
            return Ok(Self::from_key(sk.into()));
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(Self::from_key)
            .map_err(|_| "not a PEM PKCS#8 ECDSA P-256 private key".to_string())
    }

    /// PKCS#8 PEM of the private key (for writing the 0600 key file).
    pub fn to_pkcs8_pem(&self) -> zeroize::Zeroizing<String> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a valid P-256 key always encodes as PKCS#8")
    }

    /// Loads the instance key: from `configured_pem` (BACKUP_SIGNING_KEY) when non-empty,
    /// otherwise from `<data_dir>/backup-signing-key.pem`, generating it (0600) on first use.
    pub fn load_or_create(data_dir: &Path, configured_pem: &str) -> Result<Self> {
        if !configured_pem.trim().is_empty() {
            return Self::from_pem(configured_pem).map_err(|m| {
                Error::Config(format!("backup.signing_key (BACKUP_SIGNING_KEY): {m}"))
            });
        }
        let path = data_dir.join(BACKUP_SIGNING_KEY_FILE);
        if !path.exists() {
            let fresh = Self::generate();
            keyfile::write_new(&path, fresh.to_pkcs8_pem().as_bytes())?;
            tracing::info!(path = %path.display(), fingerprint = %hex::encode(fresh.fingerprint), "generated backup signing key");
        }
        // Read back even after writing: if another process won the race, its key is the one.
        let bytes = keyfile::read(&path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::KeyFile {
            path: path.clone(),
            message: "not a PEM file".into(),
        })?;
        Self::from_pem(text).map_err(|message| Error::KeyFile { path, message })
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
            fingerprint: self.fingerprint,
        }
    }

    /// Fingerprint of the public key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Signs a message given its SHA-256 digest; returns the DER signature (≤ 72 bytes).
    pub fn sign_sha256(&self, digest: &[u8; 32]) -> Vec<u8> {
        let sig: DerSignature = self
            .key
            .sign_prehash(digest)
            .expect("signing a 32-byte prehash with a valid key cannot fail");
        sig.as_bytes().to_vec()
    }
}

impl PublicKey {
    /// Parses a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`); only ECDSA P-256 is accepted.
    pub fn from_pem(pem: &str) -> std::result::Result<Self, String> {
        let pem = pem.trim();
        if !pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            return Err("expected a PEM public key (-----BEGIN PUBLIC KEY-----)".into());
        }
        let key = VerifyingKey::from_public_key_pem(pem).map_err(|_| {
            "not an ECDSA P-256 public key (only P-256 keys are accepted)".to_string()
        })?;
        Ok(Self {
            fingerprint: fingerprint_of(&key),
            key,
        })
    }

    /// Fingerprint (SHA-256 of the DER SPKI).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Lower-hex fingerprint, as shown to operators.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// PEM SubjectPublicKeyInfo.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("a valid P-256 key always encodes as SPKI")
    }

    /// Verifies a DER ECDSA signature over a message given its SHA-256 digest.
    pub fn verify_sha256(&self, digest: &[u8; 32], der_signature: &[u8]) -> bool {
        match DerSignature::from_bytes(der_signature) {
            Ok(sig) => self.key.verify_prehash(digest, &sig).is_ok(),
            Err(_) => false,
        }
    }
}

fn fingerprint_of(key: &VerifyingKey) -> Fingerprint {
    let der = key
        .to_public_key_der()
        .expect("a valid P-256 key always encodes as SPKI");
    Sha256::digest(der.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_fingerprint_roundtrip() {
        let k = SigningKey::generate();
        let digest: [u8; 32] = Sha256::digest(b"payload").into();
        let sig = k.sign_sha256(&digest);
        let pubkey = PublicKey::from_pem(&k.public_key().to_pem()).expect("parse own pem");
        assert_eq!(pubkey.fingerprint(), k.fingerprint());
        assert!(pubkey.verify_sha256(&digest, &sig));
        let other: [u8; 32] = Sha256::digest(b"payload!").into();
        assert!(!pubkey.verify_sha256(&other, &sig));
        assert!(!pubkey.verify_sha256(&digest, b"garbage"));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = SigningKey::load_or_create(dir.path(), "").expect("create");
        let b = SigningKey::load_or_create(dir.path(), "").expect("load");
        assert_eq!(a.fingerprint(), b.fingerprint());
        let meta = std::fs::metadata(dir.path().join(BACKUP_SIGNING_KEY_FILE)).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(dir.path().join(BACKUP_SIGNING_KEY_FILE)).expect("read");
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn configured_pem_wins_and_bad_pem_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let k = SigningKey::generate();
        let loaded = SigningKey::load_or_create(dir.path(), &k.to_pkcs8_pem()).expect("configured");
        assert_eq!(loaded.fingerprint(), k.fingerprint());
        assert!(!dir.path().join(BACKUP_SIGNING_KEY_FILE).exists());
        let err = SigningKey::load_or_create(dir.path(), "nonsense").unwrap_err();
        assert!(err.to_string().contains("BACKUP_SIGNING_KEY"), "{err}");
    }

    #[test]
    fn sec1_private_keys_are_accepted() {
        use p256::pkcs8::LineEnding;
        let sk = p256::SecretKey::from_bytes(&[7u8; 32].into()).expect("scalar");
        let pem = sk.to_sec1_pem(LineEnding::LF).expect("sec1 pem");
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        let k = SigningKey::from_pem(&pem).expect("parse sec1");
        let again = SigningKey::from_pem(&k.to_pkcs8_pem()).expect("parse pkcs8");
        assert_eq!(k.fingerprint(), again.fingerprint());
    }

    #[test]
    fn non_p256_public_keys_are_refused() {
        // An Ed25519 SPKI.
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        assert!(PublicKey::from_pem(ed).unwrap_err().contains("P-256"));
        assert!(PublicKey::from_pem("hello").is_err());
    }
}
