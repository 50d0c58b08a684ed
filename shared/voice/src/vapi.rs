//! Vapi (docs.vapi.ai; openapi of 2026-08-20): server-message
//! authentication, server messages about calls, `assistant-request` and its
//! answer, `tool-calls` messages and their results, and the create-call and
//! get-call client.

mod auth;
mod dialer;
mod event;
mod inbound;
mod tools;

pub use auth::{SECRET_HEADER, SignatureEncoding, VapiHmac, verify_secret};
pub use dialer::VapiDialer;
pub use event::{parse_call, parse_event};
pub use inbound::{CANNOT_ANSWER, NOT_IN_SERVICE, assistant_answer, parse_assistant_request};
pub use tools::{UNREADABLE, parse_tool_calls, tool_results};
