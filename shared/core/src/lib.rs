//! leadline's domain: the types, state machines and rules of calling leads,
//! and the ports through which use cases reach the outside world. Nothing in
//! this crate performs I/O.

pub mod appointment;
pub mod attempt;
pub mod billing;
pub mod business;
pub mod calendar;
pub mod call;
pub mod call_events;
pub mod callback_time;
pub mod calling_hours;
pub mod campaign;
pub mod dispatch;
pub mod error;
pub mod follow_up;
pub mod ids;
pub mod import;
pub mod in_call;
pub mod intake;
pub mod lead;
pub mod memory;
pub mod message;
pub mod money;
pub mod outbound;
pub mod phone;
pub mod ports;
pub mod suppression;
pub mod sweep;
pub mod tenant;
pub mod text;
pub mod time;
pub mod waiting;
pub mod write;

pub use error::{Error, Invalid, Result};
pub use ids::{AppointmentId, AttemptId, CampaignId, InvoiceId, LeadId, MessageId, TenantId};
pub use money::Cents;
pub use phone::{Phone, PhoneError, Region};
pub use time::{Clock, ScaledClock, Zone};
