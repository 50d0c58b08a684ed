//! Retell AI (docs.retellai.com; retell-typescript-sdk v5.60.0): webhook
//! signature, webhook events, the inbound webhook and its answer, custom
//! function calls and their answers, and the create-call and get-call client.

mod auth;
mod dialer;
mod event;
mod inbound;
mod tools;

pub use auth::{REPLAY_WINDOW_MS, SIGNATURE_HEADER, sign, verify};
pub use dialer::RetellDialer;
pub use event::{parse_call, parse_event};
pub use inbound::{inbound_answer, parse_inbound};
pub use tools::{MAX_RESULT_CHARS, parse_tool_call, tool_answer};
