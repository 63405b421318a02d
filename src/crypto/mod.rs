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
pub mod vault;

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
    /// A directory rampart keeps keys or logs in cannot be used as it is.
    #[error("{path}: {message}")]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// What is wrong and how to fix it.
        message: String,
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
    /// Loads the master key as configured: from `ENCRYPTION_KEY` (`static`), unwrapped by
    /// Vault Transit from `master.key.vault` (`vault`, see [`vault`]) or from the key file in
    /// the data dir, generating it on first start (`none`).
    pub fn load(config: &Config) -> Result<Self> {
        match config.storage.kms_provider.as_str() {
            "vault" => vault::load_master_key(config).map(Self),
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
                let exists = path.try_exists().map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                let bytes = if exists {
                    keyfile::read(&path)?
                } else if let Some(db) = existing_database(&config.data_dir) {
                    // A new key could never read the existing data, and writing one would
                    // hide the real problem (a key lost in a move or a partial restore).
                    return Err(Error::KeyFile {
                        path,
                        message: format!(
                            "missing, but {} exists: restore master.key from where you backed it up (a new key cannot read existing data; nothing was created)",
                            db.display()
                        ),
                    });
                } else {
                    keyfile::create(&path, 32)?
                };
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

/// The first encrypted database found in a data dir (`platform.db`, its WAL, or an org
/// database), if any: its presence means a key must already exist.
pub fn existing_database(data_dir: &Path) -> Option<std::path::PathBuf> {
    let platform = data_dir.join(crate::store::PLATFORM_DB_FILE);
    let wal = data_dir.join(format!("{}-wal", crate::store::PLATFORM_DB_FILE));
    if let Some(p) = [platform, wal].into_iter().find(|p| p.exists()) {
        return Some(p);
    }
    std::fs::read_dir(data_dir.join(crate::tenancy::resolver::ORGS_DIR))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "db"))
}

/// Creates a private directory (data or log dir, and parents) with mode 0700, or checks an
/// existing one: it must be a directory this user can read, write and search, and private.
///
/// An existing directory that group or others can open is tightened only while it holds no
/// database yet (a fresh `mkdir` being initialized); one holding data is refused with the
/// command that fixes it, so rampart never changes an installation behind the operator.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::Dir {
                path: dir.to_path_buf(),
                message: format!(
                    "permission denied for this user (uid {}): the directory must belong to the user rampart runs as",
                    nix::unistd::geteuid()
                ),
            }
        } else {
            Error::Io {
                path: dir.to_path_buf(),
                source,
            }
        }
    };
    if !dir.try_exists().map_err(io)? {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
    }
    let meta = std::fs::metadata(dir).map_err(io)?;
    if !meta.is_dir() {
        return Err(Error::Dir {
            path: dir.to_path_buf(),
            message: "exists but is not a directory".into(),
        });
    }
    use nix::unistd::AccessFlags;
    nix::unistd::access(
        dir,
        AccessFlags::R_OK | AccessFlags::W_OK | AccessFlags::X_OK,
    )
    .map_err(|e| io(std::io::Error::from_raw_os_error(e as i32)))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        if existing_database(dir).is_some() {
            return Err(Error::Dir {
                path: dir.to_path_buf(),
                message: format!(
                    "directory mode {mode:04o} lets other users in; nothing was changed: run `chmod 700 {}`",
                    dir.display()
                ),
            });
        }
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
