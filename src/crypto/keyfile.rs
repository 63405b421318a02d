//! Secret files in the data directory: created once with random content, mode 0600,
//! written atomically (temp file + rename) so a crash never leaves a half-written key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::TryRngCore;
use zeroize::Zeroizing;

use super::{Error, Result};

/// Reads the key file at `path`, or creates it with `len` random bytes if it does not exist.
///
/// A file readable by group or others is tightened to 0600 and a warning is logged: the
/// content is still trusted, but the operator should find out who could read it.
pub fn load_or_create(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>> {
    if path.exists() {
        return read(path);
    }
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    rand::rngs::OsRng
        .try_fill_bytes(bytes.as_mut_slice())
        .map_err(|e| Error::KeyFile {
            path: path.to_path_buf(),
            message: format!("operating system random generator failed: {e}"),
        })?;
    write_new(path, &bytes)?;
    tracing::info!(path = %path.display(), "generated new key file");
    Ok(bytes)
}

/// Reads an existing key file, enforcing mode 0600.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", meta.permissions().mode() & 0o777), "key file was readable by others; tightening to 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
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
    fn loose_mode_is_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k.key");
        std::fs::write(&p, [1u8; 32]).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        read(&p).expect("read");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
