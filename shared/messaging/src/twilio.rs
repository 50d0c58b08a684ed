//! Twilio Programmable Messaging (SMS): the send client
//! (`POST /2010-04-01/Accounts/{sid}/Messages.json`), the `X-Twilio-Signature`
//! check exactly as twilio-python 9.11.0 does it, and the readers of the
//! inbound-message and status-callback forms
//! (`shared/docs/messaging-facts.md` §1, `provider-contracts.md` §5.1).
//!
//! The webhooks arrive form-encoded (base64-encoded by API Gateway HTTP API:
//! the service layer decodes them); [`parse_form`] reads the decoded bytes
//! into the parameter list that both [`verify_signature`] and the parsers
//! take.

mod client;
mod signature;
mod webhook;

pub use client::{TwilioAccount, TwilioClient};
pub use signature::{SIGNATURE_HEADER, sign, verify_json_signature, verify_signature};
pub use webhook::{
    EMPTY_TWIML, STATUS_CALLBACK_PATH, delivery_status, parse_form, parse_inbound, parse_status,
    parse_status_callback_query, status_callback_url,
};
