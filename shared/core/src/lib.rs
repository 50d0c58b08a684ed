//! leadline's domain, laid out by capability: the shared kernel, one folder
//! per capability (intake, calling, in-call tools, appointments, messaging,
//! billing) with its rules, state machines, pure decisions and use cases,
//! the ports every use case reaches the world through, and the one write
//! model (`write`) they all change state with. Nothing in this crate
//! performs I/O. `docs/architecture.md` says how to add a capability.

pub mod kernel;

pub mod appointments;
pub mod billing;
pub mod calling;
pub mod in_call;
pub mod intake;
pub mod messaging;

/// In-memory adapters for tests: not in a production build.
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;
pub mod write;

pub use kernel::email::Email;
pub use kernel::error::{Error, Invalid, Result};
pub use kernel::ids::{
    AppointmentId, AttemptId, CampaignId, InvoiceId, LeadId, MessageId, TenantId,
};
pub use kernel::money::Cents;
pub use kernel::phone::{Phone, PhoneError, Region};
pub use kernel::time::{Clock, Zone};
