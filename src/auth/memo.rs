//! Answers read from the platform database, reused for as long as that database has not
//! changed (issue 18).
//!
//! Every keyed request used to read the key, its user and the user's access to the key's
//! workspace on the blocking pool before its handler ran, and `GET /api/me` read the same
//! account again. Under load those reads and the thread hand-offs around them were most of
//! the cost of a small request. Their inputs only change by a commit to the platform
//! database (revoking a key, disabling an account, changing a membership or a role,
//! shredding an org, moving a workspace), so an answer stays right until the next commit.
//!
//! Invalidation is by SQLite's `data_version` ([`crate::store::ChangeWatch`]), not by the code
//! paths that change things: any commit from any connection or process — this server's
//! pool, `rampart admin` on the same data dir — empties the memo before the next look-up
//! reads it. No revocation path can be forgotten, at the price of emptying it also for
//! unrelated commits (personal workspaces' data lives in the same database). Entries also
//! expire after [`TTL`], so bookkeeping done on the slow path (a key's last use) still
//! happens.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::store::{ChangeWatch, Db};

/// Longest time an answer is reused even when nothing changed.
pub const TTL: Duration = Duration::from_secs(30);

/// Most answers held; past it the memo starts over (a burst of distinct keys must not grow
/// memory without bound).
const CAP: usize = 4096;

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

/// See the module documentation. Cheap to clone (shared).
#[derive(Clone)]
pub struct PlatformMemo {
    db: Db,
    inner: Arc<Inner>,
}

struct Inner {
    /// Opened at the first look-up (a CLI command never needs it).
    watch: OnceLock<Option<ChangeWatch>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The `data_version` the entries were read at.
    version: Option<i64>,
    entries: HashMap<String, Entry>,
}

/// Proof of the database version seen before reading an answer; an answer is kept only if
/// nothing was committed since (see [`PlatformMemo::put`]).
#[derive(Debug, Clone, Copy)]
pub struct Seen(Option<i64>);

impl std::fmt::Debug for PlatformMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformMemo").finish_non_exhaustive()
    }
}

impl PlatformMemo {
    /// A memo of answers read from `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            inner: Arc::new(Inner {
                watch: OnceLock::new(),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The database version now, emptying the memo when it moved. `None` when it cannot be
    /// read: then nothing is reused or kept.
    fn current(&self, state: &mut State) -> Option<i64> {
        let watch = self
            .inner
            .watch
            .get_or_init(|| match self.db.change_watch() {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no change watch on the platform database; nothing is memoized");
                    None
                }
            })
            .as_ref()?;
        let version = watch.version().ok();
        if version.is_none() || version != state.version {
            state.entries.clear();
            state.version = version;
        }
        version
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the start of a read whose answer may be kept: call it before reading.
    pub fn seen(&self) -> Seen {
        let mut state = self.lock();
        Seen(self.current(&mut state))
    }

    /// The answer kept under `key`, if the database has not changed since it was read and it
    /// is younger than [`TTL`].
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let mut state = self.lock();
        self.current(&mut state)?;
        let (at, value) = state.entries.get(key)?;
        if at.elapsed() >= TTL {
            state.entries.remove(key);
            return None;
        }
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value` under `key` if nothing was committed since `seen` was taken (else the
    /// value may be stale and is dropped).
    pub fn put<T: Send + Sync + 'static>(&self, seen: Seen, key: String, value: T) {
        let Seen(Some(version)) = seen else {
            return;
        };
        let mut state = self.lock();
        if self.current(&mut state) != Some(version) {
            return;
        }
        if state.entries.len() >= CAP {
            state.entries.clear();
        }
        state.entries.insert(key, (Instant::now(), Arc::new(value)));
    }

    /// True when nothing is held (tests).
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::DbKey;
    use crate::store::OpenOptions;

    fn open(dir: &std::path::Path) -> Db {
        Db::open(
            &dir.join("p.db"),
            &DbKey::from_bytes([7; 32]),
            &OpenOptions::default(),
        )
        .expect("open")
    }

    fn commit(db: &Db, value: &str) {
        let conn = db.conn().expect("conn");
        conn.execute(
            "INSERT OR REPLACE INTO instance_meta (key, value) VALUES ('memo-test', ?1)",
            [value],
        )
        .expect("write");
    }

    #[test]
    fn answers_are_reused_until_the_database_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path());
        let memo = PlatformMemo::new(db.clone());
        let seen = memo.seen();
        memo.put(seen, "k".into(), 42u32);
        assert_eq!(memo.get::<u32>("k"), Some(42));
        assert_eq!(memo.get::<String>("k"), None, "wrong type is a miss");
        commit(&db, "a");
        assert_eq!(
            memo.get::<u32>("k"),
            None,
            "a commit from the pool empties it"
        );
        assert!(memo.is_empty());
    }

    #[test]
    fn commits_from_another_handle_count_too() {
        // Another process (`rampart admin`) has its own handle on the same file.
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path());
        let other = open(dir.path());
        let memo = PlatformMemo::new(db);
        memo.put(memo.seen(), "k".into(), 1u8);
        assert_eq!(memo.get::<u8>("k"), Some(1));
        commit(&other, "b");
        assert_eq!(memo.get::<u8>("k"), None);
    }

    #[test]
    fn an_answer_read_across_a_commit_is_not_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open(dir.path());
        let memo = PlatformMemo::new(db.clone());
        let seen = memo.seen();
        commit(&db, "c"); // while the answer was being read
        memo.put(seen, "k".into(), 1u8);
        assert_eq!(memo.get::<u8>("k"), None);
        // Read again after the commit: kept.
        memo.put(memo.seen(), "k".into(), 2u8);
        assert_eq!(memo.get::<u8>("k"), Some(2));
    }
}
