//! The signed-backup trailer: `[payload][b"MIPIBAK\x02"][32-byte fingerprint][u16 BE len][DER sig]`.
//!
//! This module only encodes and locates the trailer; it does not read payloads or judge
//! trust. The payload is everything before the magic, and the signature covers exactly it.

use std::io::{Read, Seek, SeekFrom};

use super::signing::Fingerprint;

/// Magic bytes that open the trailer (format version 2).
pub const MAGIC: &[u8; 8] = b"MIPIBAK\x02";

/// Largest DER encoding of a P-256 ECDSA signature (SEQUENCE of two 33-byte INTEGERs).
pub const MAX_SIG_LEN: usize = 72;

/// Smallest plausible DER ECDSA signature.
const MIN_SIG_LEN: usize = 8;

/// Fixed part of the trailer: magic + fingerprint + length.
const FIXED: usize = 8 + 32 + 2;

/// A parsed trailer and where the payload ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// Fingerprint of the signer's public key.
    pub fingerprint: Fingerprint,
    /// DER signature over the payload.
    pub signature: Vec<u8>,
    /// Length of the payload (bytes before the magic).
    pub payload_len: u64,
}

/// Why a file is not a signed backup.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrailerError {
    /// Too short to hold a trailer.
    #[error("file is too short to be a signed rampart backup ({0} bytes)")]
    TooShort(u64),
    /// No trailer found at the end: unsigned, truncated or not a backup at all.
    #[error("no signature trailer found: the file is unsigned, truncated, or not a rampart backup")]
    Missing,
}

/// Encodes the trailer for `fingerprint` and `signature`.
pub fn encode(fingerprint: &Fingerprint, signature: &[u8]) -> Vec<u8> {
    let len = u16::try_from(signature.len()).expect("ECDSA DER signatures are under 64 KiB");
    let mut out = Vec::with_capacity(FIXED + signature.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(fingerprint);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(signature);
    out
}

/// Locates and parses the trailer at the end of `file` (any length).
pub fn read<R: Read + Seek>(file: &mut R) -> std::io::Result<Result<Trailer, TrailerError>> {
    let total = file.seek(SeekFrom::End(0))?;
    let want = (FIXED + MAX_SIG_LEN) as u64;
    let tail_len = total.min(want);
    if tail_len < (FIXED + MIN_SIG_LEN) as u64 {
        return Ok(Err(TrailerError::TooShort(total)));
    }
    file.seek(SeekFrom::Start(total - tail_len))?;
    let mut tail = vec![0u8; usize::try_from(tail_len).expect("≤ 114 bytes")];
    file.read_exact(&mut tail)?;
    Ok(parse_tail(&tail, total))
}

/// Finds the trailer in the last bytes of a file of `total` length.
fn parse_tail(tail: &[u8], total: u64) -> Result<Trailer, TrailerError> {
    for sig_len in MIN_SIG_LEN..=MAX_SIG_LEN {
        let Some(start) = tail.len().checked_sub(FIXED + sig_len) else {
            break;
        };
        let t = &tail[start..];
        if &t[..8] != MAGIC {
            continue;
        }
        let declared = u16::from_be_bytes([t[40], t[41]]) as usize;
        if declared != sig_len {
            continue;
        }
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(&t[8..40]);
        return Ok(Trailer {
            fingerprint,
            signature: t[FIXED..].to_vec(),
            payload_len: total - (FIXED + sig_len) as u64,
        });
    }
    Err(TrailerError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn roundtrip_for_every_signature_length() {
        for sig_len in [MIN_SIG_LEN, 70, 71, MAX_SIG_LEN] {
            let payload = b"gzip-bytes-here".to_vec();
            let sig: Vec<u8> = (0..sig_len as u8).collect();
            let mut file = payload.clone();
            file.extend(encode(&[7u8; 32], &sig));
            let t = read(&mut Cursor::new(file)).expect("io").expect("trailer");
            assert_eq!(t.fingerprint, [7u8; 32]);
            assert_eq!(t.signature, sig);
            assert_eq!(t.payload_len, payload.len() as u64);
        }
    }

    #[test]
    fn empty_payload_is_allowed_and_garbage_is_refused() {
        let file = encode(&[1u8; 32], &[9u8; 70]);
        let t = read(&mut Cursor::new(file)).expect("io").expect("trailer");
        assert_eq!(t.payload_len, 0);
        let garbage = vec![0u8; 500];
        assert_eq!(
            read(&mut Cursor::new(garbage)).expect("io"),
            Err(TrailerError::Missing)
        );
        assert_eq!(
            read(&mut Cursor::new(vec![1u8; 10])).expect("io"),
            Err(TrailerError::TooShort(10))
        );
    }

    #[test]
    fn truncated_trailer_is_refused() {
        let mut file = b"payload".to_vec();
        file.extend(encode(&[1u8; 32], &[9u8; 71]));
        file.pop();
        assert_eq!(
            read(&mut Cursor::new(file)).expect("io"),
            Err(TrailerError::Missing)
        );
    }
}
