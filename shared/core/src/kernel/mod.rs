//! The shared kernel: values every capability speaks in. Ids, an E.164
//! phone number, money in cents, instants and zones, the domain's errors.

pub mod error;
pub mod ids;
pub mod money;
pub mod phone;
pub mod text;
pub mod time;
