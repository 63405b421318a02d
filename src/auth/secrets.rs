//! Random tokens and their storage hashes. Every bearer secret (session cookie, API key,
//! pre-auth token, recovery code) is generated here from the OS RNG and stored only as a
//! SHA-256 hash; lookups compare hashes, and direct comparisons are constant-time.

use base64::Engine as _;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut out)
        .expect("the operating system random generator is available");
    out
}

/// A URL-safe token with 256 bits of entropy (session ids, CSRF and pre-auth tokens).
pub fn token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Encodes bytes as base62 (big-endian), used for API keys so they survive copy-paste,
/// shells and URLs without quoting.
pub fn base62(bytes: &[u8]) -> String {
    // Repeated division of a big-endian number; inputs are 32 bytes, so this is cheap.
    let mut digits: Vec<u8> = bytes.to_vec();
    let mut out = Vec::new();
    while digits.iter().any(|&d| d != 0) {
        let mut rem: u32 = 0;
        for d in digits.iter_mut() {
            let acc = (rem << 8) | u32::from(*d);
            *d = (acc / 62) as u8;
            rem = acc % 62;
        }
        out.push(BASE62[rem as usize]);
    }
    // Fixed width for 32 bytes: ceil(256 / log2(62)) = 43 characters.
    while out.len() < 43 {
        out.push(b'0');
    }
    out.reverse();
    String::from_utf8(out).expect("base62 alphabet is ASCII")
}

/// Hex SHA-256, the storage form of every bearer secret.
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time string equality (CSRF tokens and similar).
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base62_is_fixed_width_and_alphabet_only() {
        for _ in 0..50 {
            let s = base62(&random_bytes::<32>());
            assert_eq!(s.len(), 43);
            assert!(s.bytes().all(|b| BASE62.contains(&b)));
        }
        assert_eq!(base62(&[0u8; 32]), "0".repeat(43));
        assert!(base62(&[0xFF; 32]).starts_with(|c: char| c != '0'));
    }

    #[test]
    fn tokens_are_unique_and_hashes_stable() {
        assert_ne!(token(), token());
        assert_eq!(sha256_hex("abc"), sha256_hex("abc"));
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
