//! `pipeline.source_digest` of the results POST (contract §3 E5).
//!
//! One SHA-256 over every sorted path: `path \0 hex-sha256-of-file-or-"<missing>" \n`.
//! The value is opaque to the server; both tiers of one run send the same digest.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Computes `sha256:<hex>` over the files at `paths`, or `""` when `paths` is empty (no
/// assertion had `params.file` or `params.scope`).
///
/// The paths come from assertions, i.e. from whoever could submit one, so this function
/// never opens them itself: `read` does, and must apply the project's confinement rules
/// (the CI client passes the verifier workspace's reader, which refuses paths outside the
/// project root, symlinks, special files and files over 2 MiB). `None` counts as missing.
pub fn source_digest<'a>(
    paths: impl IntoIterator<Item = &'a str>,
    read: impl Fn(&str) -> Option<Vec<u8>>,
) -> String {
    let sorted: BTreeSet<&str> = paths.into_iter().collect();
    if sorted.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    for p in sorted {
        let file_hash = read(p)
            .map(|bytes| hex::encode(Sha256::digest(&bytes)))
            .unwrap_or_else(|| "<missing>".into());
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
        let read = |p: &str| std::fs::read(dir.path().join(p)).ok();
        assert_eq!(source_digest([], read), "");
        let d1 = source_digest(["a.txt", "gone.txt"], read);
        let mut h = Sha256::new();
        h.update(b"a.txt\0");
        h.update(hex::encode(Sha256::digest(b"hello")).as_bytes());
        h.update(b"\ngone.txt\0<missing>\n");
        assert_eq!(d1, format!("sha256:{}", hex::encode(h.finalize())));
        // Order of input does not matter; content does.
        assert_eq!(d1, source_digest(["gone.txt", "a.txt"], read));
        std::fs::write(dir.path().join("a.txt"), b"hellO").expect("write");
        assert_ne!(d1, source_digest(["a.txt", "gone.txt"], read));
    }
}
