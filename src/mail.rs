//! Outgoing email through the configured SMTP relay (`[smtp]`, `SMTP_*`): maintenance
//! alerts and workspace invitations. Port 465 uses implicit TLS, otherwise STARTTLS when
//! `smtp.use_tls` is true (the default) and plain SMTP when it is false (a relay on the same
//! host or network). Sending is blocking with its own small runtime and a 20 s timeout, so
//! callers on blocking threads can report the outcome to the person waiting.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::SmtpConfig;

/// Whether outgoing mail is configured at all.
pub fn enabled(smtp: &SmtpConfig) -> bool {
    !smtp.host.trim().is_empty()
}

/// Sends one plain-text email through the configured relay (blocking; own runtime).
pub fn send(
    smtp: &SmtpConfig,
    to: &str,
    subject: &str,
    body: &str,
) -> std::result::Result<(), String> {
    let from: Mailbox = format!("{} <{}>", smtp.from_name, smtp.from_address)
        .parse()
        .map_err(|e| format!("bad smtp.from_address/from_name: {e}"))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| format!("bad recipient address: {e}"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .body(body.to_string())
        .map_err(|e| format!("cannot build the email: {e}"))?;
    let port = u16::try_from(smtp.port).map_err(|_| "smtp.port out of range".to_string())?;
    let mut builder = if port == 465 {
        AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
    } else if smtp.use_tls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
    } else {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            smtp.host.as_str(),
        ))
    }
    .map_err(|e| format!("smtp relay {}: {e}", smtp.host))?
    .port(port)
    .timeout(Some(Duration::from_secs(20)));
    if !smtp.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.expose().to_string(),
        ));
    }
    let transport = builder.build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the mail runtime: {e}"))?;
    rt.block_on(transport.send(message))
        .map(|_| ())
        .map_err(|e| format!("smtp {}:{}: {e}", smtp.host, smtp.port))
}
