//! A local Retell and a local Vapi in one process, for integration tests and
//! the demo: they validate create-call requests like the real APIs, play each
//! call out on timers per a [`Script`], deliver signed webhooks, and misbehave
//! on demand ([`FaultRequest`]). The contracts followed are
//! `docs/provider-contracts.md` §1 (Retell) and §2 (Vapi).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use leadline_sim::{Outcome, Script, Sim, SimConfig};
//! let sim = Sim::start(SimConfig { time_scale: 0.01, ..SimConfig::default() }).await?;
//! sim.control()
//!     .set_script("+14155550100", Script::typical(Outcome::AppointmentSet))
//!     .expect("an E.164 number");
//! println!("Retell and Vapi at {}", sim.url());
//! # Ok(()) }
//! ```
//!
//! Tests sharing one simulator keep apart by number: scripts, faults and every
//! query can be scoped to a destination (`to`).

mod api;
mod call;
mod config;
mod control;
mod conversation;
mod deliver;
mod faults;
mod ids;
mod playout;
mod provider;
mod records;
pub mod retell;
mod script;
mod server;
mod state;
pub mod vapi;

pub use call::CallPhase;
pub use config::{SimConfig, VirtualClock};
pub use faults::{DeliveryFaults, FaultRequest, ForcedResponse, ProviderFaults};
pub use ids::is_e164;
pub use provider::{PerProvider, Provider};
pub use records::{
    CallRequestRecord, DeliveryRecord, DeliveryResult, Filter, RejectionClass, Stats,
};
pub use script::{DefaultScript, Outcome, Script, WeightedScript};
pub use server::{Sim, SimHandle};
pub use state::{ControlError, SimControl};
