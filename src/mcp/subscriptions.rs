//! `resources/subscribe`: a client that attached a model, its controls or its reports is told
//! (`notifications/resources/updated`) when that resource changes, whoever changed it: the web
//! app, another agent, CI posting verification results, or `rampart admin` on the same data dir.
//!
//! Each subscription re-reads its resource through the same services and tenant checks as
//! `resources/read`, every [`POLL_INTERVAL`], and compares a digest of the content (volatile
//! fields such as `generated_at` left out). Reading through the services, rather than hooking
//! every write path, means no writer can forget to announce a change, and a model deleted or
//! moved out of the caller's reach is announced once and then dropped. The cost is bounded:
//! at most [`MAX_PER_SESSION`] subscriptions per session, and a subscription ends with its
//! session (or when its notification can no longer be delivered).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rmcp::model::ResourceUpdatedNotificationParam;
use rmcp::service::Peer;
use rmcp::{RoleServer, model::ResourceContents};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::task::AbortHandle;

use super::Services;
use super::resources::{self, Target};
use crate::auth::Caller;

/// How often a subscribed resource is re-read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Most subscriptions one session may hold.
pub const MAX_PER_SESSION: usize = 32;

/// The subscriptions of one MCP session; dropping the last handle of the session ends them.
#[derive(Clone, Default)]
pub struct Subscriptions {
    inner: Arc<Watchers>,
}

#[derive(Default)]
struct Watchers(Mutex<HashMap<String, AbortHandle>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        let map = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, handle) in map.drain() {
            handle.abort();
        }
    }
}

/// Why a subscription was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The URI names no resource of this server, or one the caller cannot read.
    NotFound(String),
    /// The session already holds [`MAX_PER_SESSION`] subscriptions.
    TooMany,
}

impl Subscriptions {
    fn watchers(&self) -> MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts watching `uri` for `caller` (idempotent: subscribing twice keeps one watcher).
    /// The first read happens here, so a URI the caller may not read is refused at once.
    pub async fn subscribe(
        &self,
        svc: Services,
        caller: Caller,
        uri: String,
        peer: Peer<RoleServer>,
    ) -> Result<(), Refusal> {
        let target = resources::parse(&uri).ok_or_else(|| {
            Refusal::NotFound(format!(
                "unknown resource {uri}; resources/templates/list shows the URIs"
            ))
        })?;
        {
            let watchers = self.watchers();
            if watchers.contains_key(&uri) {
                return Ok(());
            }
            if watchers.len() >= MAX_PER_SESSION {
                return Err(Refusal::TooMany);
            }
        }
        let first = read_digest(&svc, &caller, &uri, &target)
            .await
            .map_err(|m| Refusal::NotFound(format!("{uri}: {m}")))?;
        let task_uri = uri.clone();
        let task = tokio::spawn(async move {
            watch(svc, caller, task_uri, target, peer, Ok(first)).await;
        });
        let mut watchers = self.watchers();
        if let Some(old) = watchers.insert(uri, task.abort_handle()) {
            old.abort();
        }
        Ok(())
    }

    /// Stops watching `uri`; unknown URIs are fine (unsubscribe is idempotent).
    pub fn unsubscribe(&self, uri: &str) {
        if let Some(handle) = self.watchers().remove(uri) {
            handle.abort();
        }
    }

    /// How many resources this session watches.
    pub fn len(&self) -> usize {
        self.watchers().len()
    }

    /// Whether this session watches nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The loop of one subscription: re-read, compare, notify.
async fn watch(
    svc: Services,
    caller: Caller,
    uri: String,
    target: Target,
    peer: Peer<RoleServer>,
    mut last: Result<[u8; 32], String>,
) {
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        if peer.is_transport_closed() {
            return;
        }
        let now = read_digest(&svc, &caller, &uri, &target).await;
        let changed = match (&last, &now) {
            (Ok(a), Ok(b)) => a != b,
            (Err(_), Err(_)) => false,
            _ => true,
        };
        if !changed {
            continue;
        }
        let gone = now.is_err();
        last = now;
        let sent = peer
            .notify_resource_updated(ResourceUpdatedNotificationParam::new(uri.clone()))
            .await;
        if sent.is_err() {
            return;
        }
        if gone {
            tracing::debug!(%uri, "subscribed resource is gone; subscription ended");
            return;
        }
    }
}

/// Reads the resource as `resources/read` would and digests its content.
async fn read_digest(
    svc: &Services,
    caller: &Caller,
    uri: &str,
    target: &Target,
) -> Result<[u8; 32], String> {
    let (svc, caller, uri, target) = (svc.clone(), caller.clone(), uri.to_string(), target.clone());
    tokio::task::spawn_blocking(move || {
        resources::read(&svc, &caller, &uri, &target).map(|c| digest(&c))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A digest of a resource's content that ignores fields which change on every read.
fn digest(contents: &ResourceContents) -> [u8; 32] {
    let text = match contents {
        ResourceContents::TextResourceContents { text, .. } => text.as_str(),
        ResourceContents::BlobResourceContents { blob, .. } => blob.as_str(),
        _ => "",
    };
    let stable = match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            strip_volatile(&mut v);
            v.to_string()
        }
        Err(_) => text.to_string(),
    };
    Sha256::digest(stable.as_bytes()).into()
}

/// Removes the report timestamps that say when a report was built, not what it holds.
fn strip_volatile(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("generated_at");
            for child in map.values_mut() {
                strip_volatile(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_volatile),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> ResourceContents {
        ResourceContents::text(s, "rampart://models/m1")
    }

    #[test]
    fn the_digest_ignores_when_a_report_was_built_but_not_what_it_holds() {
        let a = text(r#"{"reports":[{"generated_at":"2026-01-01T00:00:00Z","met":3}]}"#);
        let b = text(r#"{"reports":[{"generated_at":"2026-12-07T18:00:00Z","met":3}]}"#);
        let c = text(r#"{"reports":[{"generated_at":"2026-12-07T18:00:00Z","met":4}]}"#);
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&b), digest(&c));
    }
}
