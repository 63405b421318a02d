//! Graceful shutdown. SIGTERM or SIGINT starts draining: requests already being handled
//! finish, new ones are answered `503 shutting_down` with `Retry-After: 1` and
//! `Connection: close` (so clients retry against the restarted server), `/ready` turns 503,
//! and background jobs get until the shutdown timeout to finish before they are ended with a
//! clear error that their SSE subscribers receive. Then the server stops and the caller
//! checkpoints and closes the databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;

use super::{ApiError, AppState};

/// Drain state shared by the middleware and the signal task; cheap to clone.
#[derive(Clone, Default)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    draining: AtomicBool,
    in_flight: AtomicUsize,
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("draining", &self.is_draining())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Drain {
    /// A server that is not draining.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::SeqCst)
    }

    /// Starts draining: from now on new requests are refused.
    pub fn begin(&self) {
        self.inner.draining.store(true, Ordering::SeqCst);
    }

    /// Requests being handled now (until their response head is ready).
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    fn enter(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }
}

/// Counts one request as in flight until dropped (also when the handler fails or panics).
struct InFlight(Drain);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The error new requests get while the server drains.
pub fn shutting_down() -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down; retry in a moment",
        )
    }
}

/// Middleware: refuses requests once draining has begun, counts the others.
pub async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(drain) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.drain.clone())
    else {
        return next.call(req).await.map(|r| r.map_into_left_body());
    };
    if drain.is_draining() {
        let mut resp = actix_web::ResponseError::error_response(&shutting_down());
        resp.head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let _in_flight = drain.enter();
    next.call(req).await.map(|r| r.map_into_left_body())
}

/// Waits for SIGTERM or SIGINT. Errors installing the handlers are returned, not ignored:
/// a server that cannot be stopped cleanly must not start.
pub async fn signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Drains after a signal: waits (up to `timeout`) for in-flight requests and running jobs,
/// ends jobs still running, then stops the server gracefully.
pub async fn run(
    drain: Drain,
    jobs: crate::jobs::Registry,
    handle: actix_web::dev::ServerHandle,
    timeout: Duration,
    signals: impl std::future::Future<Output = std::io::Result<&'static str>>,
) {
    let name = match signals.await {
        Ok(name) => name,
        Err(e) => {
            tracing::error!(error = %e, "cannot wait for shutdown signals; stopping now");
            "signal handler failure"
        }
    };
    let started = Instant::now();
    drain.begin();
    tracing::info!(
        signal = name,
        in_flight = drain.in_flight(),
        jobs = jobs.running(),
        "draining: new requests get 503"
    );
    let deadline = started + timeout;
    while (drain.in_flight() > 0 || jobs.running() > 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ended = jobs.fail_unfinished(
        "the server shut down before this job finished; nothing of it was saved unless the model appears in the list; start it again",
    );
    if ended > 0 || drain.in_flight() > 0 {
        tracing::warn!(
            jobs_ended = ended,
            in_flight = drain.in_flight(),
            "shutdown timeout reached"
        );
    }
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "drained; stopping workers"
    );
    handle.stop(true).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_and_drops() {
        let d = Drain::new();
        assert!(!d.is_draining());
        let a = d.enter();
        let b = d.enter();
        assert_eq!(d.in_flight(), 2);
        drop(a);
        assert_eq!(d.in_flight(), 1);
        d.begin();
        assert!(d.is_draining());
        drop(b);
        assert_eq!(d.in_flight(), 0);
    }
}
