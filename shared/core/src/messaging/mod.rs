//! Messaging: SMS, email and WhatsApp messages to leads.

pub mod message;
pub mod provider;
