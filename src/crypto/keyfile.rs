//! Secret files in the data directory: created once with random content, mode 0600,
//! written atomically (temp file + rename) so a crash never leaves a half-written key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::TryRngCore;
use zeroize::Zeroizing;

use super::{Error, Result};

/// Reads the key file at `path`, or creates it with `len` random bytes if it does not exist.
pub fn load_or_create(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    // `try_exists`, not `exists`: a directory we may not search must be an error, not a
    // reason to write a new key.
    let exists = path.try_exists().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if exists {
        return read(path);
    }
    create(path, len)
}

/// Generates a new key file of `len` random bytes (see [`write_new`]).
pub fn create(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rand::rngs::OsRng
        .try_fill_bytes(bytes.as_mut_slice())
        .map_err(|e| Error::KeyFile {
            path: path.to_path_buf(),
            message: format!("operating system random generator failed: {e}"),
        })?;
    write_new(path, &bytes)?;
    tracing::info!(path = %path.display(), "generated new key file");
    // Another process may have won the race to create it: use what is on disk.
    read(path)
}

/// Reads an existing key file, which must be a regular file of mode 0600 or stricter.
///
/// A key file that group or others could read is refused, not repaired: the key may already
/// have been copied, which the operator has to judge (and rotate), and rampart changes
/// nothing in a data dir it was not asked to create.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            Error::KeyFile {
                path: path.to_path_buf(),
                message: format!(
                    "permission denied for this user (uid {}): the file must belong to the user rampart runs as, mode 0600",
                    nix::unistd::geteuid()
                ),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            message: format!(
                "mode {mode:04o} lets other users read the key; nothing was changed: check who could have copied it, then run `chmod 600 {}`",
                path.display()
            ),
        });
    }
    Ok(Zeroizing::new(std::fs::read(path).map_err(io)?))
}

/// Writes a new key file atomically with mode 0600. Fails if `path` already exists, so two
/// processes starting at once cannot overwrite each other's key: the loser reads the winner's.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    // hard_link fails if the target exists: first writer wins, atomically.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        let a = load_or_create(&p, 32).expect("create");
        let b = load_or_create(&p, 32).expect("read");
        assert_eq!(*a, *b);
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn loose_mode_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        std::fs::write(&p, [1u8; 32]).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = read(&p).unwrap_err().to_string();
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "nothing is changed");
    }
}
