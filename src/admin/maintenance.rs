//! The maintenance circuit breaker: a persisted on/off switch with reason, time and who
//! tripped it. While active, non-admin API/MCP/SSE requests get 503 (enforced by the web
//! layer reading [`AdminService::maintenance_status`]).
//!
//! It trips automatically through [`AdminService::trip_on_quota_exhausted`] (called by the
//! LLM client when the provider reports an exhausted quota) or manually. Each trip queues an
//! alert email to `maintenance.alert_email` when SMTP is configured and tries it once on its
//! own thread (never blocking the caller); a failed attempt stays in the mail queue, which
//! the server's worker retries.

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use super::{AdminService, Error, Result};

/// Longest accepted reason text.
const MAX_REASON: usize = 500;

/// State of the circuit breaker, as `GET /api/admin/maintenance` returns it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MaintenanceState {
    /// Whether maintenance mode is on.
    pub active: bool,
    /// Why it was turned on.
    pub reason: Option<String>,
    /// When (RFC 3339 UTC).
    pub tripped_at: Option<String>,
    /// Who or what turned it on (`llm-quota`, `cli`, an admin's email).
    pub tripped_by: Option<String>,
}

/// The in-flight alert email of a trip; dropping it lets the email finish in the background.
#[derive(Debug)]
pub struct AlertHandle {
    rx: mpsc::Receiver<std::result::Result<(), String>>,
}

impl AlertHandle {
    /// Waits up to `timeout` for the send to finish. `None`: still sending. A short-lived
    /// process (the CLI) calls this before exiting so the email is not cut off.
    pub fn wait(&self, timeout: Duration) -> Option<std::result::Result<(), String>> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl AdminService {
    /// Current circuit-breaker state.
    pub fn maintenance_status(&self) -> Result<MaintenanceState> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT active, reason, tripped_at, tripped_by FROM maintenance_state WHERE id = 1",
            [],
            |r| {
                Ok(MaintenanceState {
                    active: r.get::<_, i64>(0)? == 1,
                    reason: r.get(1)?,
                    tripped_at: r.get(2)?,
                    tripped_by: r.get(3)?,
                })
            },
        )?)
    }

    /// Turns maintenance mode on with a reason (manual trip). Returns the new state and the
    /// alert email in flight, if one is configured.
    pub fn enable_maintenance(
        &self,
        actor: &str,
        reason: &str,
    ) -> Result<(MaintenanceState, Option<AlertHandle>)> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::Invalid("a reason is required".into()));
        }
        if reason.chars().count() > MAX_REASON {
            return Err(Error::Invalid(format!(
                "reason must be at most {MAX_REASON} characters"
            )));
        }
        self.trip(actor, reason)
    }

    /// Entry point for the LLM client: the provider answered `insufficient_quota`. Trips
    /// the breaker (if not already active) and alerts. Internal credit exhaustion of a
    /// user or org must not call this.
    pub fn trip_on_quota_exhausted(
        &self,
        reason: &str,
    ) -> Result<(MaintenanceState, Option<AlertHandle>)> {
        let current = self.maintenance_status()?;
        if current.active {
            return Ok((current, None));
        }
        let reason = if reason.trim().is_empty() {
            "LLM provider quota exhausted"
        } else {
            reason.trim()
        };
        let reason: String = reason.chars().take(MAX_REASON).collect();
        self.trip("llm-quota", &reason)
    }

    fn trip(&self, actor: &str, reason: &str) -> Result<(MaintenanceState, Option<AlertHandle>)> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        let now = super::now_rfc3339();
        tx.execute(
            "UPDATE maintenance_state SET active = 1, reason = ?1, tripped_at = ?2, tripped_by = ?3 WHERE id = 1",
            rusqlite::params![reason, now, actor],
        )?;
        self.log_event(&tx, "maintenance_enable", actor, "", reason)?;
        tx.commit()?;
        drop(conn);
        let state = self.maintenance_status()?;
        let alert = send_alert(self, &state);
        Ok((state, alert))
    }

    /// Turns maintenance mode off.
    pub fn clear_maintenance(&self, actor: &str) -> Result<MaintenanceState> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE maintenance_state SET active = 0, reason = NULL, tripped_at = NULL, tripped_by = NULL WHERE id = 1",
            [],
        )?;
        self.log_event(&tx, "maintenance_clear", actor, "", "")?;
        tx.commit()?;
        drop(conn);
        self.maintenance_status()
    }
}

/// True when an LLM provider's error response means the platform-level quota is exhausted
/// (OpenAI: HTTP 429 with error code or type `insufficient_quota`). Rate limiting (429
/// `rate_limit_exceeded`) and a user's or org's own credits running out are not.
pub fn is_quota_exhausted(status: u16, body: &str) -> bool {
    if status != 429 && status != 402 && status != 403 {
        return false;
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    let err = &v["error"];
    ["code", "type"]
        .iter()
        .any(|k| err[*k].as_str() == Some("insufficient_quota"))
}

/// Queues the alert (so the server's mail worker retries it if the relay is down) and makes
/// the first attempt on a background thread, when an address and SMTP are configured.
fn send_alert(admin: &AdminService, state: &MaintenanceState) -> Option<AlertHandle> {
    let config = &admin.config;
    let to = config.maintenance.alert_email.trim().to_string();
    if to.is_empty() || !crate::mail::enabled(&config.smtp) {
        return None;
    }
    let instance = config.public_url(None);
    let content = crate::mail::Content {
        subject: "[rampart] URGENT: maintenance mode is active".into(),
        heading: "Maintenance mode is active".into(),
        paragraphs: vec![
            format!("Maintenance mode was turned on for the rampart appliance at {instance}."),
            "Non-admin users get 503 until it is cleared. Resolve the cause, then clear it with `rampart admin maintenance clear` or POST /api/admin/maintenance/clear.".into(),
        ],
        details: vec![
            ("Reason".into(), state.reason.clone().unwrap_or_default()),
            ("Tripped at".into(), state.tripped_at.clone().unwrap_or_default()),
            ("Tripped by".into(), state.tripped_by.clone().unwrap_or_default()),
        ],
        footer: "You get this because your address is MAINTENANCE_ALERT_EMAIL of this appliance."
            .into(),
        ..Default::default()
    };
    let email = content.render(&to, &instance);
    let id = match admin.conn().map_err(|e| e.to_string()).and_then(|c| {
        crate::mail::enqueue(&c, "maintenance_alert", &email, true).map_err(|e| e.to_string())
    }) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "cannot queue the maintenance alert");
            return None;
        }
    };
    let admin = admin.clone();
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("maintenance-alert".into())
        .spawn(move || {
            let result = crate::mail::transport::send_email(&admin.config.smtp, &email);
            let outcome = result.clone();
            if let Err(e) = admin.conn().map_err(|e| e.to_string()).and_then(|c| {
                crate::mail::record_attempt(&c, &admin.config.smtp, id, &to, result)
                    .map_err(|e| e.to_string())
            }) {
                tracing::warn!(error = %e, "cannot record the maintenance alert attempt");
            }
            let _ = tx.send(outcome);
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the maintenance alert thread; the mail worker will send it");
        return None;
    }
    Some(AlertHandle { rx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::testutil::service;

    #[test]
    fn quota_exhaustion_is_recognised() {
        let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert!(is_quota_exhausted(429, body));
        let rate = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert!(!is_quota_exhausted(429, rate));
        assert!(!is_quota_exhausted(500, body));
        assert!(!is_quota_exhausted(429, "not json"));
    }

    #[test]
    fn enable_clear_and_quota_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (svc, _, _) = service(dir.path(), |_| {});
        assert!(!svc.maintenance_status().expect("status").active);
        assert!(matches!(
            svc.enable_maintenance("t", "  ").unwrap_err(),
            Error::Invalid(_)
        ));
        let (s, alert) = svc.enable_maintenance("cli", "disk swap").expect("enable");
        assert!(s.active && alert.is_none());
        assert_eq!(s.reason.as_deref(), Some("disk swap"));
        assert_eq!(s.tripped_by.as_deref(), Some("cli"));
        // Already active: a quota trip keeps the first reason.
        let (s2, _) = svc.trip_on_quota_exhausted("quota").expect("trip");
        assert_eq!(s2.reason.as_deref(), Some("disk swap"));
        let s = svc.clear_maintenance("cli").expect("clear");
        assert!(!s.active && s.reason.is_none());
        let (s, _) = svc.trip_on_quota_exhausted("").expect("trip");
        assert_eq!(s.tripped_by.as_deref(), Some("llm-quota"));
    }
}
