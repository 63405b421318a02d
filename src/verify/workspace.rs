//! The project tree a verification run reads: path confinement, a shared file cache and one
//! gitignore-aware walk.
//!
//! Every verifier reads files through a [`Workspace`], so that a run over hundreds of
//! assertions reads each file once, walks the tree at most once, and applies the common
//! rules of contract §7 in one place: paths are relative to the root, may not escape it,
//! symlinks are refused and files above [`MAX_FILE_BYTES`] are refused.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Largest file a verifier will read (contract §7: 2 MiB).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024;

/// Why a file could not be used; the message names the path so a human can act on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// Absolute path or `..` leaving the project root.
    #[error("path '{0}' escapes the project root")]
    Escapes(String),
    /// No such file.
    #[error("file '{0}' not found")]
    NotFound(String),
    /// The path is a symlink (refused so a verifier cannot be pointed outside the tree).
    #[error("'{0}' is a symlink; symlinks are refused")]
    Symlink(String),
    /// The path is not a regular file.
    #[error("'{0}' is not a regular file")]
    NotAFile(String),
    /// The file is larger than 2 MiB.
    #[error("'{0}' is {1} bytes, larger than the 2 MiB limit")]
    TooLarge(String, u64),
    /// Any other I/O failure.
    #[error("cannot read '{0}': {1}")]
    Io(String, String),
}

/// A project root plus caches shared by all verifiers of one run (thread-safe).
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    cache: Mutex<HashMap<String, Result<Arc<String>, FileError>>>,
    code_cache: Mutex<HashMap<String, Arc<String>>>,
    uncommented_cache: Mutex<HashMap<String, Arc<String>>>,
    walk: OnceLock<Arc<Vec<String>>>,
    test_env: Vec<String>,
}

impl Workspace {
    /// Opens `root` (canonicalized so confinement checks compare real paths).
    pub fn new(root: &Path) -> Result<Self, FileError> {
        let root = root
            .canonicalize()
            .map_err(|e| FileError::Io(root.display().to_string(), e.to_string()))?;
        Ok(Self {
            root,
            cache: Mutex::new(HashMap::new()),
            code_cache: Mutex::new(HashMap::new()),
            uncommented_cache: Mutex::new(HashMap::new()),
            walk: OnceLock::new(),
            test_env: Vec::new(),
        })
    }

    /// Opens the directory `rel` below this root as a workspace of its own (a component of
    /// a model). The directory must really be inside this root: `..`, absolute paths and
    /// symlinks leading out are refused.
    pub fn subdir(&self, rel: &str) -> Result<Self, FileError> {
        let full = self.resolve(rel)?;
        let real = full
            .canonicalize()
            .map_err(|e| FileError::Io(rel.into(), e.to_string()))?;
        if !real.starts_with(&self.root) {
            return Err(FileError::Escapes(rel.into()));
        }
        if !real.is_dir() {
            return Err(FileError::NotAFile(rel.into()));
        }
        let mut ws = Self::new(&real)?;
        ws.test_env = self.test_env.clone();
        Ok(ws)
    }

    /// Extra environment variables (names) that `test_passes` commands inherit besides the
    /// built-in allow-list; set from `rampart verify --test-env`.
    pub fn with_test_env(mut self, names: Vec<String>) -> Self {
        self.test_env = names;
        self
    }

    /// The extra environment names of [`with_test_env`](Self::with_test_env).
    pub fn test_env(&self) -> &[String] {
        &self.test_env
    }

    /// The canonical project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a project-relative path, refusing anything that leaves the root, lexically
    /// (`..`, absolute) or through a symlinked directory.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, FileError> {
        let p = Path::new(rel);
        let mut depth: i64 = 0;
        let mut clean = PathBuf::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => {
                    depth += 1;
                    clean.push(s);
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    depth -= 1;
                    if depth < 0 {
                        return Err(FileError::Escapes(rel.into()));
                    }
                    clean.pop();
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(FileError::Escapes(rel.into()));
                }
            }
        }
        let full = self.root.join(&clean);
        // A symlinked parent directory could point outside: check the real parent.
        if let Some(parent) = full.parent()
            && let Ok(real) = parent.canonicalize()
            && !real.starts_with(&self.root)
        {
            return Err(FileError::Escapes(rel.into()));
        }
        Ok(full)
    }

    /// True when `rel` is a regular file inside the root (symlinks are not followed).
    pub fn is_file(&self, rel: &str) -> Result<bool, FileError> {
        let full = self.resolve(rel)?;
        Ok(std::fs::symlink_metadata(&full)
            .map(|m| m.file_type().is_file())
            .unwrap_or(false))
    }

    /// Reads a file as text (lossy UTF-8), once per run; later calls hit the cache.
    pub fn read(&self, rel: &str) -> Result<Arc<String>, FileError> {
        let key = rel.to_string();
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return hit.clone();
        }
        let result = self.read_uncached(rel);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, result.clone());
        }
        result
    }

    /// The file's text with comments and string contents blanked for its language
    /// (see [`super::comments::code`]), computed once per run.
    pub fn read_code(&self, rel: &str) -> Result<(Arc<String>, Arc<String>), FileError> {
        let text = self.read(rel)?;
        if let Ok(cache) = self.code_cache.lock()
            && let Some(hit) = cache.get(rel)
        {
            return Ok((text, hit.clone()));
        }
        let code = Arc::new(super::comments::code(&text, rel));
        if let Ok(mut cache) = self.code_cache.lock() {
            cache.insert(rel.to_string(), code.clone());
        }
        Ok((text, code))
    }

    /// Reads a file with its comments blanked per file type ([`super::comments::strip`]),
    /// strings and offsets kept: what the checks that look for names in code read (a name
    /// only in a comment is not evidence). Cached like [`Workspace::read`].
    pub fn read_uncommented(&self, rel: &str) -> Result<(Arc<String>, Arc<String>), FileError> {
        let text = self.read(rel)?;
        if let Ok(cache) = self.uncommented_cache.lock()
            && let Some(hit) = cache.get(rel)
        {
            return Ok((text, hit.clone()));
        }
        let code = Arc::new(super::comments::strip(&text, rel));
        if let Ok(mut cache) = self.uncommented_cache.lock() {
            cache.insert(rel.to_string(), code.clone());
        }
        Ok((text, code))
    }

    /// Drops the cached text and blanked code of `rel` (same spelling as when read), once
    /// no pending assertion needs them; a later read simply reads the file again.
    pub fn forget(&self, rel: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(rel);
        }
        if let Ok(mut cache) = self.code_cache.lock() {
            cache.remove(rel);
        }
        if let Ok(mut cache) = self.uncommented_cache.lock() {
            cache.remove(rel);
        }
    }

    /// Reads raw bytes (for hashing), subject to the same rules, uncached.
    pub fn read_bytes(&self, rel: &str) -> Result<Vec<u8>, FileError> {
        let full = self.checked_file(rel)?;
        std::fs::read(&full).map_err(|e| FileError::Io(rel.into(), e.to_string()))
    }

    fn checked_file(&self, rel: &str) -> Result<PathBuf, FileError> {
        let full = self.resolve(rel)?;
        let meta = std::fs::symlink_metadata(&full).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => FileError::NotFound(rel.into()),
            _ => FileError::Io(rel.into(), e.to_string()),
        })?;
        if meta.file_type().is_symlink() {
            return Err(FileError::Symlink(rel.into()));
        }
        if !meta.is_file() {
            return Err(FileError::NotAFile(rel.into()));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(FileError::TooLarge(rel.into(), meta.len()));
        }
        Ok(full)
    }

    fn read_uncached(&self, rel: &str) -> Result<Arc<String>, FileError> {
        let bytes = self.read_bytes(rel)?;
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Arc::new(text))
    }

    /// Every file and directory under the root (relative, `/`-separated, sorted), from one
    /// walk that honours `.gitignore` and `.ignore` (hidden entries included, `.git`
    /// excluded); computed on first use and shared afterwards.
    pub fn paths(&self) -> Arc<Vec<String>> {
        self.walk
            .get_or_init(|| {
                let found = Mutex::new(Vec::new());
                // Hidden entries are walked (a glob may name `.github/…` explicitly, as
                // Python's glob allows); `.git` itself never is. See [`glob_may_see`].
                let walker = ignore::WalkBuilder::new(&self.root)
                    .require_git(false)
                    .hidden(false)
                    .filter_entry(|e| e.file_name() != ".git")
                    .build_parallel();
                walker.run(|| {
                    let found = &found;
                    let root = &self.root;
                    Box::new(move |entry| {
                        if let Ok(entry) = entry
                            && let Ok(rel) = entry.path().strip_prefix(root)
                        {
                            let s = rel.to_string_lossy().replace('\\', "/");
                            if !s.is_empty()
                                && let Ok(mut f) = found.lock()
                            {
                                f.push(s);
                            }
                        }
                        ignore::WalkState::Continue
                    })
                });
                let mut v = found.into_inner().unwrap_or_default();
                v.sort();
                Arc::new(v)
            })
            .clone()
    }
}

/// Python-glob rule for hidden entries: a path component starting with `.` is visible to a
/// glob only when the glob names that component literally (`.github/workflows/*.yml`).
pub fn glob_may_see(path: &str, glob: &str) -> bool {
    path.split('/')
        .filter(|c| c.starts_with('.'))
        .all(|c| glob.split('/').any(|g| g == c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement_symlinks_and_size() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a")).expect("mkdir");
        std::fs::write(root.join("a/x.txt"), "hi").expect("w");
        std::fs::write(
            root.join("big.bin"),
            vec![b'x'; (MAX_FILE_BYTES + 1) as usize],
        )
        .expect("w");
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a/x.txt"), root.join("link.txt")).expect("ln");
        let ws = Workspace::new(root).expect("ws");
        assert_eq!(ws.read("a/x.txt").expect("read").as_str(), "hi");
        assert_eq!(ws.read("./a/../a/x.txt").expect("read").as_str(), "hi");
        assert!(matches!(
            ws.read("../etc/passwd"),
            Err(FileError::Escapes(_))
        ));
        assert!(matches!(ws.read("/etc/passwd"), Err(FileError::Escapes(_))));
        assert!(matches!(ws.read("big.bin"), Err(FileError::TooLarge(_, _))));
        assert!(matches!(ws.read("nope"), Err(FileError::NotFound(_))));
        #[cfg(unix)]
        assert!(matches!(ws.read("link.txt"), Err(FileError::Symlink(_))));
        let paths = ws.paths();
        assert!(paths.contains(&"a/x.txt".to_string()));
        assert!(paths.contains(&"a".to_string()));
    }

    #[test]
    fn walk_respects_gitignore() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(".gitignore"), "build/\n").expect("w");
        std::fs::create_dir_all(dir.path().join("build")).expect("mkdir");
        std::fs::write(dir.path().join("build/test_x.py"), "").expect("w");
        std::fs::write(dir.path().join("test_y.py"), "").expect("w");
        let ws = Workspace::new(dir.path()).expect("ws");
        let p = ws.paths();
        assert!(p.contains(&"test_y.py".to_string()));
        assert!(!p.iter().any(|x| x.starts_with("build")));
        assert!(glob_may_see("src/a.py", "**/*.py"));
        assert!(!glob_may_see(".venv/lib/a.py", "**/*.py"));
        assert!(glob_may_see(
            ".github/workflows/ci.yml",
            ".github/workflows/*.yml"
        ));
    }
}
