//! The SMTP transport (`[smtp]`, `SMTP_*`). Port 465 uses implicit TLS, otherwise STARTTLS
//! when `smtp.use_tls` is true (the default) and plain SMTP when it is false (a relay on the
//! same host or network). Sending is blocking with its own small runtime and a 20 s timeout,
//! so the outbox worker and the inline first attempt can record the outcome.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Email;
use crate::config::SmtpConfig;

/// Whether outgoing mail is configured at all.
pub fn enabled(smtp: &SmtpConfig) -> bool {
    !smtp.host.trim().is_empty()
}

/// Sends one message (plain text and HTML alternatives) through the configured relay.
/// Blocking; the error names the relay and what failed, never the credentials.
pub fn send_email(smtp: &SmtpConfig, email: &Email) -> std::result::Result<(), String> {
    let from: Mailbox = format!("{} <{}>", smtp.from_name, smtp.from_address)
        .parse()
        .map_err(|e| format!("bad smtp.from_address/from_name: {e}"))?;
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| format!("bad recipient address: {e}"))?;
    let builder = Message::builder().from(from).to(to).subject(&email.subject);
    let message = if email.html.is_empty() {
        builder.body(email.text.clone())
    } else {
        builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
    }
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
