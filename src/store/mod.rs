//! SQLCipher storage: opening encrypted databases, schema migrations, and the connection pool.
//!
//! Every database is opened with a raw 256-bit key (never a passphrase), in WAL mode with
//! `synchronous=NORMAL`, foreign keys on and a busy timeout, so `rampart serve` and
//! `rampart admin` can work on one data dir at once with SQLite's locking as coordination.
//! Repository functions elsewhere take `&Connection`; this module owns only the plumbing.

pub mod migrations;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::crypto::DbKey;

/// File name of the platform database inside the data dir.
pub const PLATFORM_DB_FILE: &str = "platform.db";

/// A pooled connection to an encrypted database.
pub type PooledConn = r2d2::PooledConnection<SqliteConnectionManager>;

/// Storage errors, each carrying what the operator needs to act.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The key does not decrypt the file (or the file is not a database at all).
    #[error("cannot open database: wrong encryption key ({path})")]
    WrongKey {
        /// Database path.
        path: PathBuf,
    },
    /// The database was written by a newer rampart; opening it could corrupt it.
    #[error(
        "database {path} has schema version {found}, but this rampart supports up to {supported}: upgrade rampart (or restore a backup made by this version)"
    )]
    TooNew {
        /// Database path.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Newest version this binary knows.
        supported: u32,
    },
    /// A migration failed; nothing of it was applied.
    #[error("database {path}: migration {version} ({name}) failed: {source}")]
    Migration {
        /// Database path.
        path: PathBuf,
        /// Migration number.
        version: u32,
        /// Migration name.
        name: &'static str,
        /// Cause.
        source: rusqlite::Error,
    },
    /// The row asked for does not exist (or belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The pool could not hand out a connection in time.
    #[error("database busy: {0}")]
    Pool(#[from] r2d2::Error),
    /// Filesystem error around the database files.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl Error {
    /// True when the write failed because the data volume is full; nothing of it was kept.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Error::Sqlite(e) | Error::Migration { source: e, .. } => is_disk_full(e),
            Error::Io { source, .. } => source.raw_os_error() == Some(28),
            _ => false,
        }
    }

    /// True when a lock stayed held by another connection or process past the busy timeout
    /// (or the pool had no connection to give); retrying later can succeed.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Sqlite(e) | Error::Migration { source: e, .. } => is_busy(e),
            Error::Pool(_) => true,
            _ => false,
        }
    }
}

/// Result alias for this module.
pub type Result<T> = std::result::Result<T, Error>;

/// How to open a database.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Busy timeout for locks held by other connections or processes.
    pub busy_timeout: Duration,
    /// Pool size.
    pub pool_size: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            pool_size: 4,
        }
    }
}

/// Prepared statements kept per pooled connection.
const STATEMENT_CACHE: usize = 64;

/// Size the WAL file is cut back to after a checkpoint resets it (`journal_size_limit`), and
/// past which [`Db::bound_wal`] forces a checkpoint.
pub const WAL_LIMIT: u64 = 16 * 1024 * 1024;

/// An open, migrated, encrypted database with a pool of connections.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
    writers: Arc<WriteQueue>,
    busy: Duration,
    /// Opens one more keyed connection outside the pool (see [`Db::change_watch`]).
    opener: Arc<dyn Fn() -> rusqlite::Result<Connection> + Send + Sync>,
}

/// Writers of one database inside this process take turns here, first come first served,
/// before they take a pooled connection and SQLite's write lock. Without it, concurrent
/// writers all held connections and slept in SQLite's busy handler (1, 2, 5 … 100 ms
/// naps), leaving the lock idle between them and the readers short of connections: under 32
/// concurrent edits of one model p99 was 0.86 s (issue 18). SQLite's locking still
/// coordinates with other processes (`rampart admin`); a writer that waited longer than the
/// busy timeout here goes ahead and lets SQLite decide.
#[derive(Debug, Default)]
struct WriteQueue {
    state: Mutex<Tickets>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct Tickets {
    next: u64,
    serving: u64,
    /// Tickets of writers that stopped waiting: skipped when their turn comes.
    abandoned: std::collections::BTreeSet<u64>,
}

impl Tickets {
    fn advance(&mut self) {
        self.serving += 1;
        while self.abandoned.remove(&self.serving) {
            self.serving += 1;
        }
    }
}

/// A writer's turn (see [`Db::write_turn`]); the next writer goes when it is dropped.
#[must_use = "the turn ends when this is dropped"]
pub struct WriteTurn {
    queue: Option<Arc<WriteQueue>>,
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        if let Some(q) = self.queue.take() {
            q.state.lock().unwrap_or_else(|p| p.into_inner()).advance();
            q.turn.notify_all();
        }
    }
}

impl WriteQueue {
    fn wait(self: &Arc<Self>, limit: Duration) -> WriteTurn {
        let mut t = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = t.next;
        t.next += 1;
        let deadline = std::time::Instant::now() + limit;
        while t.serving != ticket {
            let now = std::time::Instant::now();
            if now >= deadline {
                t.abandoned.insert(ticket);
                return WriteTurn { queue: None };
            }
            t = self
                .turn
                .wait_timeout(t, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        WriteTurn {
            queue: Some(self.clone()),
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

/// `PRAGMA key` for a raw key, then SQLCipher's own logging switched off. SQLCipher logs to
/// stderr at WARN from its first use, so a wrong key printed three lines of its internals
/// ("hmac check failed for pgno=1" …) before rampart's one clear line; rampart reports
/// every failure itself. The log level is process-wide; setting it after the key keeps it
/// off for good (SQLCipher sets its default only once).
pub fn key_pragmas(key: &DbKey) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!(
        "PRAGMA key = {}; PRAGMA cipher_log_level = NONE;",
        key.pragma_value().as_str()
    ))
}

/// Applies the key and the per-connection pragmas. `PRAGMA key` must come first.
///
/// Transactions begin `IMMEDIATE` by default: a deferred transaction that reads and then
/// writes cannot wait for the write lock in WAL mode (when another connection committed since
/// its read began, SQLite answers `SQLITE_BUSY` at once, without the busy timeout), which
/// showed up as HTTP 500 "database is locked" under concurrent submissions. Taking the write
/// lock up front lets the busy timeout queue writers instead.
fn init_connection(conn: &mut Connection, key: &DbKey, busy: Duration) -> rusqlite::Result<()> {
    conn.execute_batch(&crate::store::key_pragmas(key))?;
    conn.busy_timeout(busy)?;
    // Hot statements (key and session lookups, model rows, verification aggregates) are
    // prepared once per pooled connection, not parsed again on every request.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    // secure_delete: deleted rows (a removed workspace, data moved into an org's own
    // database) are overwritten, not left readable in free pages.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;",
    )?;
    // Without a limit a WAL file keeps the size of its largest burst forever, even after
    // checkpoints reset it.
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT as i64)?;
    Ok(())
}

/// True when SQLite ran out of space for the database, its WAL or a temp file (`ENOSPC`
/// becomes `SQLITE_FULL` in SQLite's unix VFS).
pub fn is_disk_full(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DiskFull
    )
}

/// True when another connection or process held a lock for longer than the busy timeout.
pub fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// True when SQLite reports that the bytes are not a (decryptable) database.
fn is_not_a_database(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase
    )
}

impl Db {
    /// Opens (creating if needed) the database at `path` with `key`, applies WAL and the
    /// pragmas, runs pending migrations, and builds the pool.
    pub fn open(path: &Path, key: &DbKey, opts: &OpenOptions) -> Result<Self> {
        let mut conn = Connection::open(path).map_err(|e| map_open(e, path))?;
        init_connection(&mut conn, key, opts.busy_timeout).map_err(|e| map_open(e, path))?;
        // The first read is where SQLCipher finds out whether the key is right.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| map_open(e, path))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| map_open(e, path))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "database is not in WAL mode");
        }
        migrations::apply(&mut conn, path)?;
        drop(conn);

        let busy = opts.busy_timeout;
        let init_key = key.clone();
        let manager = SqliteConnectionManager::file(path)
            .with_init(move |c| init_connection(c, &init_key, busy));
        let (open_key, open_path) = (key.clone(), path.to_path_buf());
        let opener = Arc::new(move || {
            let mut c = Connection::open(&open_path)?;
            init_connection(&mut c, &open_key, busy)?;
            Ok(c)
        });
        let pool = r2d2::Pool::builder()
            .max_size(opts.pool_size.max(1))
            .min_idle(Some(0))
            .connection_timeout(opts.busy_timeout + Duration::from_secs(5))
            .build(manager)?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
            writers: Arc::new(WriteQueue::default()),
            busy,
            opener,
        })
    }

    /// A watch on this database's commits, for caches of answers read from it: its version
    /// changes whenever any other connection, in this process or another one (`rampart
    /// admin`), committed since the last look. It holds its own connection, so it never waits
    /// for the pool.
    pub fn change_watch(&self) -> Result<ChangeWatch> {
        Ok(ChangeWatch {
            conn: Mutex::new((self.opener)()?),
        })
    }

    /// Waits for this process's turn to write to the database (first come first served; see
    /// `WriteQueue`). Take it before the connection, hold it over the write transaction, and
    /// never while holding another connection of the same database.
    pub fn write_turn(&self) -> WriteTurn {
        self.writers.wait(self.busy)
    }

    /// A connection from the pool. Blocking: call from a blocking context (`web::block`).
    pub fn conn(&self) -> Result<PooledConn> {
        Ok(self.pool.get()?)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Cheap liveness probe used by `/ready`.
    pub fn ping(&self) -> Result<()> {
        let conn = self.conn()?;
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        let conn = self.conn()?;
        Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// A value from `instance_meta`.
    pub fn instance_meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT value FROM instance_meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps the WAL bounded under a steady mix of readers and writers. SQLite's automatic
    /// checkpoints are passive: while readers keep old snapshots open they cannot restart the
    /// log, and under a long mixed load the WAL grew past 64 MB (issue 22). When the WAL file
    /// is larger than `limit`, this takes the in-process write turn and runs a TRUNCATE
    /// checkpoint, which waits (busy timeout) for the readers of old snapshots to finish.
    /// Returns the size it found when it acted.
    pub fn bound_wal(&self, limit: u64) -> Result<Option<u64>> {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        let size = std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len());
        if size <= limit {
            return Ok(None);
        }
        let _turn = self.write_turn();
        let conn = self.conn()?;
        let (busy, _log, _done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy != 0 {
            tracing::debug!(path = %self.path.display(), size, "WAL checkpoint could not finish (readers busy); will retry");
        }
        Ok(Some(size))
    }

    /// Checkpoints the WAL into the main file so a clean shutdown leaves one self-contained
    /// database file. Other handles to the pool keep working.
    pub fn checkpoint(&self) -> Result<()> {
        let conn = self.conn()?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// See [`Db::change_watch`].
pub struct ChangeWatch {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for ChangeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeWatch").finish_non_exhaustive()
    }
}

impl ChangeWatch {
    /// SQLite's `data_version` as this watch's connection sees it now: equal to the previous
    /// answer exactly when nothing was committed in between. The connection never writes,
    /// so every commit to the database counts. Cheap (a read of the WAL index, no page).
    pub fn version(&self) -> Result<i64> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?)
    }
}

fn map_open(err: rusqlite::Error, path: &Path) -> Error {
    if is_not_a_database(&err) {
        Error::WrongKey {
            path: path.to_path_buf(),
        }
    } else {
        Error::Sqlite(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DbKey {
        DbKey::from_bytes([b; 32])
    }

    #[test]
    fn reopen_with_same_key_keeps_data() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.db");
        let db = Db::open(&p, &key(1), &OpenOptions::default()).expect("open");
        let id = db.instance_meta("instance_id").expect("meta").expect("set");
        drop(db);
        let db = Db::open(&p, &key(1), &OpenOptions::default()).expect("reopen");
        assert_eq!(db.instance_meta("instance_id").expect("meta"), Some(id));
        assert_eq!(db.schema_version().expect("version"), migrations::latest());
    }

    #[test]
    fn wrong_key_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.db");
        drop(Db::open(&p, &key(1), &OpenOptions::default()).expect("open"));
        let err = Db::open(&p, &key(2), &OpenOptions::default()).unwrap_err();
        assert!(matches!(err, Error::WrongKey { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("cannot open database: wrong encryption key")
        );
    }

    #[test]
    fn file_is_not_plain_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.db");
        let db = Db::open(&p, &key(1), &OpenOptions::default()).expect("open");
        db.checkpoint().expect("checkpoint");
        let bytes = std::fs::read(&p).expect("read");
        assert!(!bytes.starts_with(b"SQLite format 3"));
    }

    /// Regression (issue 22): with a reader holding an old snapshot, passive checkpoints
    /// cannot restart the WAL and it grows; once the reader is gone, `bound_wal` brings the
    /// file back under the limit (and `journal_size_limit` keeps it there).
    #[test]
    fn the_wal_is_cut_back_after_readers_held_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let db = Db::open(&path, &key(1), &OpenOptions::default()).expect("open");
        let wal_size = || std::fs::metadata(dir.path().join("t.db-wal")).map_or(0, |m| m.len());
        db.conn()
            .expect("conn")
            .execute_batch("CREATE TABLE t (x BLOB)")
            .expect("create");
        let mut reader = db.conn().expect("reader");
        let snapshot = reader
            .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
            .expect("begin");
        let _: i64 = snapshot
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        let writer = db.conn().expect("writer");
        let limit = 2 * 1024 * 1024;
        for _ in 0..80 {
            writer
                .execute("INSERT INTO t (x) VALUES (zeroblob(50000))", [])
                .expect("insert");
        }
        assert!(wal_size() > limit, "the pinned snapshot made the WAL grow");
        drop(snapshot);
        drop(reader);
        drop(writer);
        assert!(db.bound_wal(limit).expect("bound").is_some());
        assert!(wal_size() <= limit, "WAL still {} bytes", wal_size());
        assert_eq!(
            db.bound_wal(limit).expect("bound"),
            None,
            "nothing left to do"
        );
    }

    /// Under steady readers and a writer, regular `bound_wal` calls keep the WAL near the
    /// limit: its checkpoints complete although new readers keep arriving.
    #[test]
    fn the_wal_stays_bounded_under_steady_readers_and_a_writer() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db");
        let db = Db::open(&path, &key(1), &OpenOptions::default()).expect("open");
        db.conn()
            .expect("conn")
            .execute_batch("CREATE TABLE t (x BLOB)")
            .expect("create");
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..2 {
            let (db, stop) = (db.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let conn = db.conn().expect("reader");
                    let _: i64 = conn
                        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                        .expect("read");
                }
            }));
        }
        {
            let (db, stop) = (db.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let _turn = db.write_turn();
                    let conn = db.conn().expect("writer");
                    conn.execute("INSERT INTO t (x) VALUES (zeroblob(50000))", [])
                        .expect("insert");
                }
            }));
        }
        let limit = 2 * 1024 * 1024;
        let wal = dir.path().join("t.db-wal");
        let mut max = 0;
        let mut acted = 0;
        let until = std::time::Instant::now() + Duration::from_secs(4);
        while std::time::Instant::now() < until {
            if db.bound_wal(limit).expect("bound").is_some() {
                acted += 1;
            }
            max = max.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().expect("thread");
        }
        assert!(acted > 0);
        assert!(max < 8 * limit, "WAL reached {max} bytes");
    }

    /// Regression (issue 22): a transaction that reads and then writes used to fail with
    /// SQLITE_BUSY ("database is locked", HTTP 500) when another connection committed in
    /// between, because a deferred transaction cannot wait for the write lock in WAL mode.
    #[test]
    fn read_then_write_transaction_waits_for_other_writers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db =
            Db::open(&dir.path().join("t.db"), &key(1), &OpenOptions::default()).expect("open");
        let mut a = db.conn().expect("conn a");
        let b = db.conn().expect("conn b");
        a.execute_batch("CREATE TABLE t (x INTEGER)")
            .expect("create");
        let tx = a.transaction().expect("begin");
        let n: i64 = tx
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("read");
        let other = std::thread::spawn(move || b.execute("INSERT INTO t VALUES (100)", []));
        std::thread::sleep(Duration::from_millis(100));
        tx.execute("INSERT INTO t VALUES (?1)", [n])
            .expect("the write after a read does not fail with SQLITE_BUSY");
        tx.commit().expect("commit");
        other
            .join()
            .expect("thread")
            .expect("the other writer waited for the lock, then wrote");
        let total: i64 = a
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(total, 2);
    }

    /// Issue 18: writers of one database take turns in arrival order, and one that waited
    /// past the limit goes ahead without a turn (SQLite's lock decides) and is skipped.
    #[test]
    fn writers_take_turns_in_order_and_a_late_one_is_skipped() {
        let q = Arc::new(WriteQueue::default());
        let first = q.wait(Duration::from_secs(5));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..4 {
            let (queue, order) = (q.clone(), order.clone());
            waiting.push(std::thread::spawn(move || {
                let _turn = queue.wait(Duration::from_secs(5));
                order.lock().expect("order").push(i);
                std::thread::sleep(Duration::from_millis(5));
            }));
            // Arrival order is the order of the tickets.
            while q.state.lock().expect("state").next < i + 2 {
                std::thread::yield_now();
            }
        }
        // A writer that gives up while the first still writes.
        let late = q.wait(Duration::from_millis(20));
        assert!(late.queue.is_none(), "no turn after the limit");
        drop(late);
        drop(first);
        for t in waiting {
            t.join().expect("writer");
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2, 3]);
        // The abandoned ticket was skipped: the next writer goes at once.
        let t = std::time::Instant::now();
        let turn = q.wait(Duration::from_secs(5));
        assert!(turn.queue.is_some());
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t.db");
        let db = Db::open(&p, &key(1), &OpenOptions::default()).expect("open");
        let conn = db.conn().expect("conn");
        conn.pragma_update(None, "user_version", migrations::latest() + 5)
            .expect("bump");
        drop(conn);
        drop(db);
        let err = Db::open(&p, &key(1), &OpenOptions::default()).unwrap_err();
        assert!(matches!(err, Error::TooNew { .. }), "{err:?}");
        assert!(err.to_string().contains("upgrade rampart"));
    }
}
