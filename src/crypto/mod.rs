//! Key material of the instance: the master key (KEK), keys derived from it, and the
//! key files kept in the data directory.
//!
//! This module decides where keys come from and how they are stored on disk (mode 0600,
//! written atomically). It never logs key material. Callers get typed keys whose `Debug`
//! output is redacted.

pub mod backup_format;
pub mod dek;
pub mod keyfile;
pub mod signing;

use std::fmt;
use std::path::Path;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::config::Config;

/// File name of the generated master key inside the data dir (`kms_provider = "none"`).
pub const MASTER_KEY_FILE: &str = "master.key";

/// Errors while obtaining key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key file exists but cannot be used.
    #[error("key file {path}: {message}")]
    KeyFile {
        /// Path of the file.
        path: std::path::PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Filesystem error while reading or writing a key file.
    #[error("key file {path}: {source}")]
    Io {
        /// Path of the file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The configuration does not yield a usable key.
    #[error("{0}")]
    Config(String),
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The master key (KEK). Everything else is derived from or wrapped by it.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A raw 256-bit SQLCipher key. Opening with a raw key skips SQLCipher's passphrase KDF,
/// which would otherwise cost ~200 ms per connection.
#[derive(Clone)]
pub struct DbKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbKey(***)")
    }
}

impl DbKey {
    /// Wraps raw key bytes (e.g. an unwrapped per-org DEK).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The `PRAGMA key` value: `"x'<64 hex>'"`, the raw-key form SQLCipher documents.
    pub fn pragma_value(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("\"x'{}'\"", hex::encode(*self.0)))
    }
}

impl MasterKey {
    /// Loads the master key as configured: from `ENCRYPTION_KEY` (`static`) or from the key
    /// file in the data dir, generating it on first start (`none`).
    pub fn load(config: &Config) -> Result<Self> {
        match config.storage.kms_provider.as_str() {
            "static" => config
                .static_master_key()
                .map(|k| Self(Zeroizing::new(k)))
                .ok_or_else(|| {
                    Error::Config(
                        "storage.encryption_key must be base64 of 32 bytes when kms_provider is \"static\""
                            .into(),
                    )
                }),
            _ => {
                let path = config.data_dir.join(MASTER_KEY_FILE);
                let bytes = keyfile::load_or_create(&path, 32)?;
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| Error::KeyFile {
                    path: path.clone(),
                    message: format!(
                        "expected 32 bytes, found {} (the file is damaged or not a rampart master key)",
                        bytes.len()
                    ),
                })?;
                Ok(Self(Zeroizing::new(key)))
            }
        }
    }

    /// Builds a master key from raw bytes (tests, restore tooling).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Derives an independent 256-bit subkey for one purpose (HKDF-SHA256, purpose as info),
    /// so the platform DB key, MFA key etc. never equal the KEK itself.
    pub fn derive(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"rampart/v1"), self.0.as_slice());
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(purpose.as_bytes(), out.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    /// The key of `platform.db`.
    pub fn platform_db_key(&self) -> DbKey {
        DbKey(self.derive("platform-db"))
    }
}

/// Creates the data dir (and parents) with mode 0700, or tightens an existing one that is
/// group/world accessible.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let meta = std::fs::metadata(dir).map_err(io)?;
    if !meta.is_dir() {
        return Err(Error::KeyFile {
            path: dir.to_path_buf(),
            message: "data dir exists but is not a directory".into(),
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_differ_per_purpose_and_from_master() {
        let master = MasterKey::from_bytes([1u8; 32]);
        let a = master.derive("platform-db");
        let b = master.derive("mfa");
        assert_ne!(*a, *b);
        assert_ne!(*a, [1u8; 32]);
        assert_eq!(*a, *MasterKey::from_bytes([1u8; 32]).derive("platform-db"));
    }

    #[test]
    fn debug_never_shows_key() {
        let master = MasterKey::from_bytes([0xAB; 32]);
        assert_eq!(format!("{master:?}"), "MasterKey(***)");
        let db = master.platform_db_key();
        assert!(!format!("{db:?}").contains("ab"));
        assert!(db.pragma_value().starts_with("\"x'"));
    }
}
