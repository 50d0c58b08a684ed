//! Messaging: SMS, email and WhatsApp messages to leads.

pub mod delivery;
pub mod inbound;
pub mod keywords;
pub mod message;
pub mod provider;
pub mod quiet;
pub mod send;
pub mod settings;

pub mod after_call;
#[cfg(test)]
pub(crate) mod tests;
