//! Twilio SMS, SendGrid and the WhatsApp Cloud API behind leadline's
//! provider-neutral messaging port (`leadline_core::messaging::provider`).

mod http;
pub mod sendgrid;
mod signature;
pub mod twilio;
mod webhook;
pub mod whatsapp;

pub use sendgrid::SendgridClient;
pub use signature::SignatureError;
pub use twilio::{TwilioAccount, TwilioClient};
pub use webhook::{MAX_DETAIL_CHARS, ParseError, SkipReason, Skipped};
pub use whatsapp::WhatsappClient;
