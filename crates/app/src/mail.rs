//! Mail the server sends (a developer's confirmation link), through the SMTP
//! relay the operator configures: `smtp://host:port` (plain, for a relay on
//! the same host or network), `smtp://host?tls=required` (STARTTLS) or
//! `smtps://host` (TLS), with `user:password@` when the relay asks.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{Error, Result};

/// A configured relay and the address mail comes from.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    // The relay URL may hold a password: show only where mail comes from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// A mailer for the relay at `url`, sending as `from`.
    pub fn new(url: &str, from: &str) -> Result<Mailer> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                Error::Invalid(format!(
                    "the SMTP relay URL could not be read ({e}); write it as smtp://host:port, smtp://host?tls=required or smtps://host"
                ))
            })?
            .build();
        let from = from.parse::<Mailbox>().map_err(|e| {
            Error::Invalid(format!(
                "the sender address '{from}' could not be read ({e}); write it as name@example.com or \"Name <name@example.com>\""
            ))
        })?;
        Ok(Mailer { transport, from })
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<()> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| Error::Invalid(format!("email: '{to}' is not an address ({e})")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| Error::Internal(format!("the message could not be built: {e}")))?;
        self.transport.send(message).await.map_err(|e| {
            tracing::warn!(error = %e, "the SMTP relay refused a message");
            Error::NotReady(
                "the mail could not be sent just now; try again in a few minutes".into(),
            )
        })?;
        Ok(())
    }
}
