//! Twilio SMS, SendGrid and the WhatsApp Cloud API behind leadline's
//! provider-neutral messaging port (`leadline_core::messaging::provider`).
//!
//! For each provider this crate offers:
//! - a send client that turns an
//!   [`Outgoing`](leadline_core::messaging::provider::Outgoing) message into
//!   the provider's request and its answer into
//!   [`Accepted`](leadline_core::messaging::provider::Accepted) or a
//!   [`SendFailure`](leadline_core::messaging::provider::SendFailure):
//!   [`TwilioClient`], [`SendgridClient`], [`WhatsappClient`];
//! - webhook authentication, always over the raw bytes:
//!   [`twilio::verify_signature`] (and [`twilio::verify_json_signature`]),
//!   [`sendgrid::verify_event_signature`], [`whatsapp::verify_signature`] and
//!   the WhatsApp subscription handshake [`whatsapp::verify_handshake`];
//! - webhook parsing into
//!   [`Inbound`](leadline_core::messaging::provider::Inbound) messages and
//!   [`StatusReport`](leadline_core::messaging::provider::StatusReport)s:
//!   [`twilio::parse_inbound`], [`twilio::parse_status`],
//!   [`sendgrid::parse_events`], [`whatsapp::parse_webhook`]; items of a batch
//!   left out come back as [`Skipped`], for the caller to log.
//!
//! [`Providers`] is the
//! [`MessageProvider`](leadline_core::messaging::provider::MessageProvider)
//! a deployment sends through: it routes each message by its sender, with
//! the deployment's [`MessagingAccounts`] or the tenant's own, read through
//! [`TenantAccounts`].
//!
//! Personal data: numbers and addresses go into requests through
//! `Phone::e164()`, `Email::expose()` and `Recipient::expose()` only; logs
//! carry message ids, and provider text kept in errors is redacted.

mod accounts;
mod http;
mod providers;
pub mod sendgrid;
mod signature;
pub mod twilio;
mod webhook;
pub mod whatsapp;

#[cfg(any(test, feature = "memory"))]
pub use accounts::MemoryAccounts;
pub use accounts::{AccountsError, MessagingAccounts, TenantAccounts};
pub use providers::{MessagingConfig, Providers};
pub use sendgrid::SendgridClient;
pub use signature::SignatureError;
pub use twilio::{TwilioAccount, TwilioClient};
pub use webhook::{MAX_DETAIL_CHARS, ParseError, SkipReason, Skipped};
pub use whatsapp::WhatsappClient;
