//! `pipeline.source_digest` of the results POST (contract §3 E5).
//!
//! One SHA-256 over every sorted path: `path \0 hex-sha256-of-file-or-"<missing>" \n`.
//! The value is opaque to the server; both tiers of one run send the same digest.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;

/// Computes `sha256:<hex>` over the files at `paths` (relative to `root`), or `""` when
/// `paths` is empty (no assertion had `params.file` or `params.scope`).
pub fn source_digest<'a>(root: &Path, paths: impl IntoIterator<Item = &'a str>) -> String {
    let sorted: BTreeSet<&str> = paths.into_iter().collect();
    if sorted.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    for p in sorted {
        let file_hash = std::fs::read(root.join(p))
            .map(|bytes| hex::encode(Sha256::digest(&bytes)))
            .unwrap_or_else(|_| "<missing>".into());
        h.update(p.as_bytes());
        h.update(b"\0");
        h.update(file_hash.as_bytes());
        h.update(b"\n");
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_content_and_missing_files() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("a.txt"), b"hello").expect("write");
        assert_eq!(source_digest(dir.path(), []), "");
        let d1 = source_digest(dir.path(), ["a.txt", "gone.txt"]);
        let mut h = Sha256::new();
        h.update(b"a.txt\0");
        h.update(hex::encode(Sha256::digest(b"hello")).as_bytes());
        h.update(b"\ngone.txt\0<missing>\n");
        assert_eq!(d1, format!("sha256:{}", hex::encode(h.finalize())));
        // Order of input does not matter; content does.
        assert_eq!(d1, source_digest(dir.path(), ["gone.txt", "a.txt"]));
        std::fs::write(dir.path().join("a.txt"), b"hellO").expect("write");
        assert_ne!(d1, source_digest(dir.path(), ["a.txt", "gone.txt"]));
    }
}
