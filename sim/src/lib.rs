//! A local Retell, Vapi, Cal.com, Twilio SMS, SendGrid and WhatsApp Cloud API
//! in one process, for integration tests and the demo.
//!
//! Retell and Vapi validate create-call requests like the real APIs, play each
//! call out on timers per a [`Script`], deliver signed webhooks, and misbehave
//! on demand ([`FaultRequest`]). Once the lead is on the line, the agent of a
//! script with [`ToolStep`]s or a [`ScriptedBooking`] calls the backend's
//! functions as the platforms do (Retell custom functions, Vapi `tool-calls`
//! messages), books the appointment, and records every call
//! ([`ToolCallRecord`]). The contracts followed are
//! `docs/provider-contracts.md` §1 (Retell) and §2 (Vapi).
//!
//! Cal.com API v2 (`GET /v2/slots`, `POST /v2/bookings`, reschedule, cancel)
//! follows `docs/calcom-api.md`: every API key starting with `cal_` is an
//! account with its own bookings, faults ([`CalcomFaults`]) and request
//! records; an event type is open Monday to Friday 09:00–17:00 in
//! America/New_York unless changed ([`EventTypeUpdate`]), and "now" is the
//! virtual clock when one is set ([`VirtualClock`]).
//!
//! Twilio SMS ([`twilio`]), SendGrid ([`sendgrid`]) and the WhatsApp Cloud
//! API ([`whatsapp`]) follow `docs/provider-contracts.md` §5 and
//! `docs/messaging-facts.md`: their validation and error codes, Twilio's
//! opt-out keywords and rate limit, the WhatsApp 24-hour window, signed
//! status, event and inbound webhooks; leads behave per a [`LeadScript`],
//! and [`MessagingFaultRequest`]s make the providers misbehave.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use leadline_sim::{Outcome, Script, ScriptedBooking, Sim, SimConfig};
//! let sim = Sim::start(SimConfig { time_scale: 0.01, ..SimConfig::default() }).await?;
//! sim.control()
//!     .set_script("+14155550100", Script::typical(Outcome::Qualified))
//!     .expect("an E.164 number");
//! let books = Script::typical(Outcome::AppointmentSet).booking(ScriptedBooking::new("cleaning"));
//! sim.control().set_script("+14155550101", books).expect("an E.164 number");
//! println!("Retell, Vapi and Cal.com at {}", sim.url());
//! # Ok(()) }
//! ```
//!
//! Tests sharing one simulator keep apart by number: scripts, faults and every
//! query can be scoped to a destination (`to`); and by Cal.com API key.

// A refused request is answered with a whole provider answer (`Err(Answer)`),
// made once per request: its size does not matter here.
#![allow(clippy::result_large_err)]

mod api;
mod calcom;
mod call;
mod config;
mod control;
mod conversation;
mod deliver;
mod faults;
mod ids;
mod inbound;
mod messaging;
mod playout;
mod provider;
mod records;
pub mod retell;
mod script;
pub mod sendgrid;
mod server;
mod state;
mod tools;
pub mod twilio;
pub mod vapi;
pub mod whatsapp;

pub use calcom::{
    Attendee, BOOKINGS_API_VERSION, Booking, BookingStatus, CalcomFaults, CalcomRequestRecord, Day,
    EventType, EventTypeUpdate, SLOTS_API_VERSION,
};
pub use call::CallPhase;
pub use config::{SimConfig, VirtualClock};
pub use faults::{DeliveryFaults, FaultRequest, ForcedResponse, ProviderFaults};
pub use ids::is_e164;
pub use inbound::{InboundCallRecord, InboundCallRequest};
pub use messaging::{
    Channel, ChannelFaults, Direction, EmailOutcome, LeadScript, MessageFilter, MessageRecord,
    MessagingDeliveryRecord, MessagingFaultRequest, MessagingFaults, MessagingStats, ScriptedReply,
    SendRecord, SenderStats, StatusChange, TemplateButton, TemplateRecord, WebhookKind,
};
pub use provider::{PerProvider, Provider};
pub use records::{
    CallRequestRecord, DeliveryRecord, DeliveryResult, Filter, RejectionClass, Stats,
    ToolCallRecord,
};
pub use script::{DefaultScript, Outcome, Script, ScriptedBooking, ToolStep, WeightedScript};
pub use server::{Sim, SimHandle};
pub use state::{ControlError, SimControl};
pub use twilio::InboundSms;
pub use whatsapp::InboundWhatsapp;
