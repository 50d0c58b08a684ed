//! Vapi (docs.vapi.ai; openapi of 2026-08-20): server-message
//! authentication, server messages about calls, `tool-calls` messages and
//! their results, and the create-call and get-call client.

mod auth;
mod dialer;
mod event;
mod tools;

pub use auth::{SECRET_HEADER, SignatureEncoding, VapiHmac, verify_secret};
pub use dialer::VapiDialer;
pub use event::{parse_call, parse_event};
pub use tools::{UNREADABLE, parse_tool_calls, tool_results};
