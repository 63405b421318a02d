//! The background worker of `rampart serve`: one thread that delivers queued email and
//! queued Jira/Confluence work when it is due, and periodically reconciles Jira issue states
//! (catching webhooks that never arrived) and prunes old queue rows and LLM telemetry past
//! its retention, and keeps the WAL files of the open databases bounded.
//!
//! Both queues live in databases, so work queued by a request, by `rampart admin` in another
//! process, or before a restart is picked up on the next tick. Each item is claimed before it
//! is worked on, so an inline first attempt and the worker never do the same item twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often due work is looked for.
const TICK: Duration = Duration::from_secs(1);
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// How often the WAL files of the open databases are checked ([`crate::store::Db::bound_wal`]):
/// a `stat` per open database, and under a heavy write mix the WAL can grow by 10 MB a second.
const WAL_EVERY: Duration = Duration::from_secs(1);

/// The running worker; [`Worker::stop`] ends it after the item in hand.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// What the worker works on.
pub struct Queues {
    /// Outgoing mail.
    pub mail: crate::mail::Outbox,
    /// The platform database (signup request pruning).
    pub platform: crate::store::Db,
    /// Jira and Confluence work, when the server runs it.
    pub integrations: Option<crate::integrations::IntegrationService>,
    /// LLM telemetry older than this many days is pruned (TELEMETRY_RETENTION_DAYS).
    pub telemetry_retention_days: u64,
    /// The open databases, whose WAL files are kept bounded.
    pub tenants: Option<crate::tenancy::TenantDbs>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn start(queues: Queues) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("rampart-worker".into())
            .spawn(move || run(queues, &flag))?;
        Ok(Self {
            stop,
            handle: Some(handle),
        })
    }

    /// Asks the worker to stop and waits for it (at most `wait`; an SMTP or HTTP call in
    /// flight is bounded by its own timeout).
    pub fn stop(mut self, wait: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let deadline = Instant::now() + wait;
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if h.is_finished() {
                let _ = h.join();
            } else {
                tracing::warn!("background worker still busy at shutdown; leaving it");
            }
        }
    }
}

fn run(q: Queues, stop: &AtomicBool) {
    let mut last_prune = Instant::now();
    let mut last_reconcile = Instant::now();
    let mut last_wal = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if let Some(t) = &q.tenants
            && last_wal.elapsed() >= WAL_EVERY
        {
            last_wal = Instant::now();
            for db in t.open_now() {
                match db.bound_wal(crate::store::WAL_LIMIT) {
                    Ok(None) => {}
                    Ok(Some(size)) => {
                        tracing::debug!(path = %db.path().display(), size, "WAL checkpointed")
                    }
                    Err(e) => {
                        tracing::warn!(path = %db.path().display(), error = %e, "WAL checkpoint")
                    }
                }
            }
        }
        if let Err(e) = q.mail.deliver_due(50) {
            tracing::warn!(error = %e, "mail queue");
        }
        if let Some(i) = &q.integrations {
            i.process_due(stop);
            let every = i.reconcile_interval();
            if !every.is_zero() && last_reconcile.elapsed() >= every {
                last_reconcile = Instant::now();
                i.reconcile(stop);
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = q.mail.prune() {
                tracing::warn!(error = %e, "pruning the mail queue");
            }
            match q.platform.conn() {
                Ok(conn) => {
                    if let Err(e) = crate::auth::signup::prune_expired(&conn) {
                        tracing::warn!(error = %e, "pruning signup requests");
                    }
                    match crate::engine::llm::prune_usage(&conn, q.telemetry_retention_days) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(records = n, "pruned LLM telemetry past retention"),
                        Err(e) => tracing::warn!(error = %e, "pruning LLM telemetry"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "pruning signup requests"),
            }
            if let Some(i) = &q.integrations {
                i.prune();
            }
        }
        let until = Instant::now() + TICK;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
