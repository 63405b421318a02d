//! Data encryption keys (DEKs) and AES-256-GCM sealing: per-org DEKs wrapped by a key
//! derived from the master key, and small secrets (an org's signing key) sealed by a DEK.
//!
//! Sealed format: `[12-byte random nonce][ciphertext + 16-byte tag]`. The associated data
//! binds a sealed blob to its purpose and owner (e.g. `org-dek:<org_id>`), so a wrapped DEK
//! copied onto another org's row does not unwrap.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::TryRngCore;
use zeroize::Zeroizing;

use super::{Error, MasterKey, Result};

/// HKDF purpose of the key that wraps DEKs (never the KEK itself).
const WRAP_PURPOSE: &str = "dek-wrap";

/// A fresh random 256-bit key.
pub fn generate_key() -> Result<Zeroizing<[u8; 32]>> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng
        .try_fill_bytes(k.as_mut_slice())
        .map_err(|e| Error::Config(format!("operating system random generator failed: {e}")))?;
    Ok(k)
}

/// Seals `plaintext` under `key` with associated data `aad`.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| Error::Config(format!("operating system random generator failed: {e}")))?;
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::Config("AES-GCM encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend(ct);
    Ok(out)
}

/// Opens a blob made by [`seal`]; fails if the key, the aad or any byte differs.
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() < 12 + 16 {
        return Err(Error::Config("sealed key blob is too short".into()));
    }
    let cipher = Aes256Gcm::new(key.into());
    let (nonce, ct) = sealed.split_at(12);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| {
            Error::Config(
                "sealed key blob does not open with this key (wrong master key or damaged)".into(),
            )
        })
}

/// Wraps a DEK with the master key (through a derived wrapping key).
pub fn wrap_dek(master: &MasterKey, dek: &[u8; 32], aad: &[u8]) -> Result<Vec<u8>> {
    seal(&master.derive(WRAP_PURPOSE), dek, aad)
}

/// Unwraps a DEK wrapped by [`wrap_dek`].
pub fn unwrap_dek(master: &MasterKey, wrapped: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let plain = open(&master.derive(WRAP_PURPOSE), wrapped, aad)?;
    let arr: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| Error::Config("unwrapped DEK is not 32 bytes".into()))?;
    Ok(Zeroizing::new(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_binding() {
        let m = MasterKey::from_bytes([3u8; 32]);
        let dek = generate_key().expect("rng");
        let w = wrap_dek(&m, &dek, b"org-dek:a").expect("wrap");
        assert_eq!(*unwrap_dek(&m, &w, b"org-dek:a").expect("unwrap"), *dek);
        assert!(unwrap_dek(&m, &w, b"org-dek:b").is_err());
        assert!(unwrap_dek(&MasterKey::from_bytes([4u8; 32]), &w, b"org-dek:a").is_err());
        let mut bad = w.clone();
        bad[20] ^= 1;
        assert!(unwrap_dek(&m, &bad, b"org-dek:a").is_err());
    }
}
