//! The shared kernel: values every capability speaks in. Ids, an E.164
//! phone number and an email address that print masked, money in cents,
//! instants and zones, the domain's errors, and `redact` for free text.

pub mod email;
pub mod error;
pub mod ids;
pub mod money;
pub mod phone;
pub mod redact;
pub mod text;
pub mod time;
