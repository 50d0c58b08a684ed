//! Vapi (docs.vapi.ai; openapi of 2026-08-20): server-message
//! authentication, server messages about calls, and the create-call and
//! get-call client.

mod auth;
mod dialer;
mod event;

pub use auth::{SECRET_HEADER, SignatureEncoding, VapiHmac, verify_secret};
pub use dialer::VapiDialer;
pub use event::{parse_call, parse_event};
