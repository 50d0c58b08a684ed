//! Retell AI (docs.retellai.com; retell-typescript-sdk v5.60.0): webhook
//! signature, webhook events, and the create-call and get-call client.

mod auth;
mod dialer;
mod event;

pub use auth::{REPLAY_WINDOW_MS, SIGNATURE_HEADER, sign, verify};
pub use dialer::RetellDialer;
pub use event::{parse_call, parse_event};
