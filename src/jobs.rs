//! Background jobs (`job_<12 hex>`): generation and refinement run as jobs whose progress
//! (step n of total, message), events and final result can be polled (REST, MCP
//! `get_operation_status`) or streamed (SSE). Jobs live in memory and expire one hour after
//! they finish; whatever they produce (models) is persisted by the service that ran them.
//!
//! Every lookup is scoped to the workspace that started the job: another tenant's job id is
//! simply unknown.
//!
//! Work is bounded: at most `limits.running_jobs` jobs hold a slot at once (a slot is taken
//! by [`Registry::create`] and given back when the last [`Handle`] of the job is dropped,
//! that is when the worker finishes). [`Registry::create`] refuses more with [`Busy`], which
//! the HTTP faces answer with 429, so a flood of generation requests cannot start an
//! unbounded number of threads and LLM calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

/// How long a finished job stays visible.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Jobs running at once unless configured (`limits.running_jobs`).
pub const DEFAULT_RUNNING: usize = 4;

/// Finished jobs kept at most, however young: the oldest finished go first. Without a bound
/// a burst of generations (each keeps its steps' reasoning) held every job for the TTL, and
/// the server's memory grew by 50 MB in five seconds of `POST /api/models` (issue 18).
pub const MAX_FINISHED: usize = 256;

/// Live events a subscriber may fall behind by.
const LIVE_EVENTS: usize = 256;

/// Every job slot is taken: the caller should retry later (HTTP 429).
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "too many background jobs are running ({0}, limits.running_jobs); try again in a few seconds"
)]
pub struct Busy(pub usize);

/// Counts running jobs against the limit.
#[derive(Debug)]
struct Slots {
    running: AtomicUsize,
    max: usize,
}

/// One taken slot; given back on drop.
#[derive(Debug)]
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Slots {
    fn try_take(self: &Arc<Self>) -> Result<Slot, Busy> {
        self.running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map(|_| Slot(self.clone()))
            .map_err(|_| Busy(self.max))
    }
}

/// Lifecycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Accepted, not started.
    Queued,
    /// Working.
    Running,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
}

/// One event of a job, in order; what the UI streams and what MCP turns into progress.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A step began.
    StepStart {
        /// 1-based step number.
        step: u32,
        /// Number of steps.
        total: u32,
        /// Step name, e.g. "Generate Assets".
        name: String,
    },
    /// A step produced its output (and the reasoning shown as "thought process").
    StepResult {
        /// Step number.
        step: u32,
        /// Step name.
        name: String,
        /// Summary of what the step did.
        summary: String,
        /// The reasoning behind it.
        thought: String,
        /// Step output.
        data: Value,
    },
    /// The job failed.
    Error {
        /// What went wrong, safe to show.
        message: String,
    },
    /// The job finished.
    Done {
        /// Final result.
        result: Value,
    },
}

/// A point-in-time view of a job.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// `job_…`
    pub job_id: String,
    /// What the job does, e.g. `generate_threat_model`.
    pub kind: String,
    /// Lifecycle state.
    pub status: Status,
    /// Steps done (or the current step).
    pub progress: u32,
    /// Number of steps.
    pub total: u32,
    /// Latest human-readable message.
    pub message: String,
    /// Final result when completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Error when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

struct Entry {
    workspace_id: String,
    snapshot: Snapshot,
    events: Vec<Event>,
    /// Live events for subscribers; dropped when the job finishes (after its last event),
    /// so a finished job keeps only its backlog.
    sender: Option<broadcast::Sender<Event>>,
    finished_at: Option<Instant>,
}

impl Entry {
    /// Keeps `event` for late subscribers and sends it to live ones; the live channel
    /// closes after a job's last event.
    fn publish(&mut self, event: Event) {
        self.events.push(event.clone());
        if let Some(sender) = &self.sender {
            // No subscriber is fine: events are also kept for late subscribers.
            let _ = sender.send(event);
        }
        if self.finished_at.is_some() {
            self.sender = None;
        }
    }
}

/// The registry of jobs of this process.
#[derive(Clone)]
pub struct Registry {
    jobs: Arc<Mutex<HashMap<String, Entry>>>,
    ttl: Duration,
    slots: Arc<Slots>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

/// Writes progress of one job; held by the code doing the work. The job's slot is held
/// until the last clone is dropped.
#[derive(Clone)]
pub struct Handle {
    registry: Registry,
    id: String,
    _slot: Arc<Slot>,
}

impl Registry {
    /// A registry whose finished jobs expire after `ttl`, with [`DEFAULT_RUNNING`] slots.
    pub fn new(ttl: Duration) -> Self {
        Self::with_limit(ttl, DEFAULT_RUNNING)
    }

    /// A registry with `running` job slots (at least one).
    pub fn with_limit(ttl: Duration, running: usize) -> Self {
        Self {
            jobs: Arc::new(Mutex::new(HashMap::new())),
            ttl,
            slots: Arc::new(Slots {
                running: AtomicUsize::new(0),
                max: running.max(1),
            }),
        }
    }

    /// Jobs holding a slot now.
    pub fn running(&self) -> usize {
        self.slots.running.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a job for a workspace and returns the handle that reports its progress, or
    /// [`Busy`] when every slot is taken (nothing is registered then).
    pub fn create(&self, kind: &str, workspace_id: &str, total: u32) -> Result<Handle, Busy> {
        let slot = self.slots.try_take()?;
        self.purge_expired();
        let id = format!(
            "job_{}",
            hex::encode(crate::auth::secrets::random_bytes::<6>())
        );
        let (sender, _) = broadcast::channel(LIVE_EVENTS);
        let entry = Entry {
            workspace_id: workspace_id.to_string(),
            snapshot: Snapshot {
                job_id: id.clone(),
                kind: kind.to_string(),
                status: Status::Queued,
                progress: 0,
                total,
                message: "queued".into(),
                result: None,
                error: None,
            },
            events: Vec::new(),
            sender: Some(sender),
            finished_at: None,
        };
        self.lock().insert(id.clone(), entry);
        Ok(Handle {
            registry: self.clone(),
            id,
            _slot: Arc::new(slot),
        })
    }

    /// The job as seen by `workspace_id`; `None` when unknown, expired or another tenant's.
    pub fn get(&self, id: &str, workspace_id: &str) -> Option<Snapshot> {
        self.purge_expired();
        self.lock()
            .get(id)
            .filter(|e| e.workspace_id == workspace_id)
            .map(|e| e.snapshot.clone())
    }

    /// Past events plus a receiver for the rest (for SSE); `None` as for [`get`](Self::get).
    pub fn subscribe(
        &self,
        id: &str,
        workspace_id: &str,
    ) -> Option<(Snapshot, Vec<Event>, broadcast::Receiver<Event>)> {
        let jobs = self.lock();
        let e = jobs.get(id).filter(|e| e.workspace_id == workspace_id)?;
        let live = match &e.sender {
            Some(sender) => sender.subscribe(),
            // Finished: everything is in the backlog and nothing more will come.
            None => broadcast::channel(1).1,
        };
        Some((e.snapshot.clone(), e.events.clone(), live))
    }

    /// Drops a job at once: for jobs whose id was never given out (a generation answered in
    /// the same request), so nobody could ask for it later.
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Drops jobs that finished more than the TTL ago, and the oldest finished ones beyond
    /// [`MAX_FINISHED`].
    pub fn purge_expired(&self) {
        let ttl = self.ttl;
        let mut jobs = self.lock();
        jobs.retain(|_, e| e.finished_at.is_none_or(|t| t.elapsed() < ttl));
        let mut finished: Vec<(Instant, String)> = jobs
            .iter()
            .filter_map(|(id, e)| e.finished_at.map(|t| (t, id.clone())))
            .collect();
        if finished.len() > MAX_FINISHED {
            finished.sort_unstable();
            for (_, id) in &finished[..finished.len() - MAX_FINISHED] {
                jobs.remove(id);
            }
        }
    }

    /// Ends every job that has not finished with `message` (the server is shutting down):
    /// subscribers get an `error` event and their stream closes, instead of waiting for a
    /// result that will never come. Returns how many jobs were ended.
    pub fn fail_unfinished(&self, message: &str) -> usize {
        let mut jobs = self.lock();
        let mut n = 0;
        for entry in jobs.values_mut().filter(|e| e.finished_at.is_none()) {
            entry.snapshot.status = Status::Failed;
            entry.snapshot.message = message.to_string();
            entry.snapshot.error = Some(message.to_string());
            entry.finished_at = Some(Instant::now());
            entry.publish(Event::Error {
                message: message.to_string(),
            });
            n += 1;
        }
        n
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Entry) -> Option<Event>) {
        let mut jobs = self.lock();
        // A finished job stays finished (one ended by shutdown keeps its error).
        if let Some(entry) = jobs.get_mut(id).filter(|e| e.finished_at.is_none())
            && let Some(event) = f(entry)
        {
            entry.publish(event);
        }
    }
}

impl Handle {
    /// The job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Marks the start of step `step` (1-based).
    pub fn step(&self, step: u32, name: &str) {
        self.registry.update(&self.id, |e| {
            e.snapshot.status = Status::Running;
            e.snapshot.progress = step.saturating_sub(1);
            e.snapshot.message = format!("{name}…");
            Some(Event::StepStart {
                step,
                total: e.snapshot.total,
                name: name.to_string(),
            })
        });
    }

    /// Records the output of step `step`.
    pub fn step_result(&self, step: u32, name: &str, summary: &str, thought: &str, data: Value) {
        self.registry.update(&self.id, |e| {
            e.snapshot.progress = step;
            e.snapshot.message = summary.to_string();
            Some(Event::StepResult {
                step,
                name: name.to_string(),
                summary: summary.to_string(),
                thought: thought.to_string(),
                data,
            })
        });
    }

    /// Finishes the job with its result.
    pub fn complete(&self, result: Value) {
        self.registry.update(&self.id, |e| {
            e.snapshot.status = Status::Completed;
            e.snapshot.progress = e.snapshot.total;
            e.snapshot.message = "completed".into();
            e.snapshot.result = Some(result.clone());
            e.finished_at = Some(Instant::now());
            Some(Event::Done { result })
        });
    }

    /// Finishes the job with an error message safe to show.
    pub fn fail(&self, message: &str) {
        self.registry.update(&self.id, |e| {
            e.snapshot.status = Status::Failed;
            e.snapshot.message = message.to_string();
            e.snapshot.error = Some(message.to_string());
            e.finished_at = Some(Instant::now());
            Some(Event::Error {
                message: message.to_string(),
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_tenant_scoping() {
        let reg = Registry::default();
        let job = reg
            .create("generate_threat_model", "ws1", 5)
            .expect("a free slot");
        assert!(job.id().starts_with("job_") && job.id().len() == 16);
        assert_eq!(
            reg.get(job.id(), "ws1").expect("job").status,
            Status::Queued
        );
        assert!(
            reg.get(job.id(), "ws2").is_none(),
            "other tenants do not see the job"
        );
        job.step(1, "Generate Assets");
        let s = reg.get(job.id(), "ws1").expect("job");
        assert_eq!((s.status, s.progress, s.total), (Status::Running, 0, 5));
        job.step_result(1, "Generate Assets", "3 assets", "because", Value::Null);
        assert_eq!(reg.get(job.id(), "ws1").expect("job").progress, 1);
        let (_, backlog, mut rx) = reg.subscribe(job.id(), "ws1").expect("subscribe");
        assert_eq!(backlog.len(), 2);
        job.complete(serde_json::json!({"model_id": "m"}));
        assert!(matches!(rx.try_recv(), Ok(Event::Done { .. })));
        let s = reg.get(job.id(), "ws1").expect("job");
        assert_eq!((s.status, s.progress), (Status::Completed, 5));
    }

    #[test]
    fn finished_jobs_expire() {
        let reg = Registry::new(Duration::from_millis(10));
        let job = reg.create("x", "ws", 1).expect("a free slot");
        job.fail("boom");
        assert_eq!(
            reg.get(job.id(), "ws").expect("job").error.as_deref(),
            Some("boom")
        );
        std::thread::sleep(Duration::from_millis(20));
        assert!(reg.get(job.id(), "ws").is_none());
    }

    #[test]
    fn finished_jobs_keep_their_backlog_and_close_their_live_channel() {
        let reg = Registry::default();
        let job = reg.create("x", "ws", 1).expect("a free slot");
        let (_, _, mut early) = reg.subscribe(job.id(), "ws").expect("subscribe");
        job.step(1, "One");
        job.complete(Value::Null);
        // A subscriber from before the end gets every event, then the end of the stream.
        assert!(matches!(early.try_recv(), Ok(Event::StepStart { .. })));
        assert!(matches!(early.try_recv(), Ok(Event::Done { .. })));
        assert!(matches!(
            early.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        // A late subscriber gets the whole backlog and a closed live channel.
        let (snapshot, backlog, mut late) = reg.subscribe(job.id(), "ws").expect("subscribe");
        assert_eq!(snapshot.status, Status::Completed);
        assert_eq!(backlog.len(), 2);
        assert!(matches!(
            late.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert!(reg.lock()[job.id()].sender.is_none());
    }

    #[test]
    fn forgotten_jobs_are_gone_and_keep_their_slot_until_dropped() {
        let reg = Registry::with_limit(DEFAULT_TTL, 1);
        let job = reg.create("x", "ws", 1).expect("a free slot");
        job.complete(Value::Null);
        reg.forget(job.id());
        assert!(reg.get(job.id(), "ws").is_none());
        assert!(reg.lock().is_empty());
        assert!(
            reg.create("x", "ws", 1).is_err(),
            "the handle still holds the slot"
        );
        drop(job);
        assert!(reg.create("x", "ws", 1).is_ok());
    }

    #[test]
    fn only_the_newest_finished_jobs_are_kept() {
        let reg = Registry::default();
        let mut ids = Vec::new();
        for _ in 0..MAX_FINISHED + 10 {
            let job = reg.create("x", "ws", 1).expect("a free slot");
            job.complete(Value::Null);
            ids.push(job.id().to_string());
        }
        let running = reg.create("x", "ws", 1).expect("a free slot");
        assert_eq!(
            reg.lock().len(),
            MAX_FINISHED + 1,
            "bound plus the running job"
        );
        assert!(reg.get(&ids[0], "ws").is_none(), "the oldest went first");
        assert!(reg.get(&ids[ids.len() - 1], "ws").is_some());
        assert!(
            reg.get(running.id(), "ws").is_some(),
            "running jobs are never dropped"
        );
    }

    #[test]
    fn slots_bound_running_jobs_and_come_back() {
        let reg = Registry::with_limit(DEFAULT_TTL, 2);
        let a = reg.create("x", "ws", 1).expect("first");
        let b = reg.create("x", "ws", 1).expect("second");
        let err = reg.create("x", "ws", 1).err().expect("third is refused");
        assert!(err.to_string().contains("limits.running_jobs"), "{err}");
        assert_eq!(reg.running(), 2);
        // A worker's clone keeps the slot until it is dropped too.
        let worker = a.clone();
        drop(a);
        assert!(reg.create("x", "ws", 1).is_err());
        worker.complete(Value::Null);
        drop(worker);
        let c = reg.create("x", "ws", 1).expect("slot given back");
        assert_eq!(reg.running(), 2);
        drop((b, c));
        assert_eq!(reg.running(), 0);
    }
}
