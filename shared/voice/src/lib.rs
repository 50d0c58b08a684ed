//! Retell and Vapi behind leadline's provider-neutral call contract
//! (`leadline_core::calling::call`).
//!
//! For each provider this crate offers:
//! - webhook authentication: [`retell::verify`], [`vapi::verify_secret`] and
//!   [`vapi::VapiHmac`], always over the raw body bytes;
//! - webhook parsing into a [`CallEvent`](leadline_core::calling::call::CallEvent):
//!   [`retell::parse_event`], [`vapi::parse_event`];
//! - a [`VoiceDialer`](leadline_core::calling::call::VoiceDialer) that places calls:
//!   [`RetellDialer`], [`VapiDialer`];
//! - a [`CallLookup`](leadline_core::calling::call::CallLookup) on the same two types,
//!   which asks the provider where a call stands (Retell
//!   `GET /v2/get-call/{call_id}`, Vapi `GET /call/{id}`) when its webhooks
//!   did not arrive; the call object is read by [`retell::parse_call`] and
//!   [`vapi::parse_call`] with the webhook parsers' rules, into an event keyed
//!   `<provider>#<call id>#lookup-<phase>`;
//! - the inbound call requests (Retell's `call_inbound` webhook, Vapi's
//!   `assistant-request`), read into an
//!   [`InboundCall`](leadline_core::calling::inbound::InboundCall) by
//!   [`retell::parse_inbound`] and [`vapi::parse_assistant_request`], and the
//!   use case's answer written in the provider's shape by
//!   [`retell::inbound_answer`] and [`vapi::assistant_answer`];
//! - the agent's in-call function calls, read into a provider-neutral
//!   [`ToolRequest`] by [`retell::parse_tool_call`] and
//!   [`vapi::parse_tool_calls`], and the use case's
//!   [`ToolReply`](leadline_core::in_call::ToolReply) written back in the
//!   provider's shape by [`retell::tool_answer`] and [`vapi::tool_results`]
//!   (see [`tools`]).
//!
//! [`reasons`] maps each provider's end-of-call reason to a
//! [`CallOutcome`](leadline_core::calling::lead::CallOutcome), and
//! [`dial::classify_refusal`] sorts a refused create-call or get-call request
//! into a [`DialError`](leadline_core::calling::call::DialError).

pub mod dial;
mod event;
pub mod reasons;
pub mod retell;
mod signature;
pub mod tools;
pub mod vapi;

pub use event::ParseError;
pub use retell::RetellDialer;
pub use signature::{HmacAlgorithm, SignatureError};
pub use tools::{MalformedToolCall, ToolRequest};
pub use vapi::{SignatureEncoding, VapiDialer, VapiHmac};
