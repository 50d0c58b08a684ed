//! The calendar a tenant books into (Cal.com), as a port: free slots, and
//! bookings made, moved and cancelled. The adapter (`leadline-calcom`)
//! speaks Cal.com API v2; what it relies on is in `docs/calcom-api.md`.

use std::fmt;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::ids::{LeadId, TenantId};
use crate::kernel::phone::Phone;
use crate::kernel::time::Zone;

/// A tenant's Cal.com credentials. Never printed, never answered by the API.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarAccount {
    pub api_key: String,
}

impl fmt::Debug for CalendarAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CalendarAccount(***)")
    }
}

pub use crate::kernel::email::Email;

/// Free slots of one event type between two instants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotQuery {
    /// Cal.com's event type id.
    pub event_type_id: u64,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The zone the answer is for (Cal.com groups slots by day in it).
    pub zone: Zone,
}

/// Who the appointment is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attendee {
    pub name: String,
    pub email: Email,
    pub phone: Option<Phone>,
    pub zone: Zone,
}

/// What leadline writes into a booking's metadata, so the booking webhook
/// finds the tenant, lead and call without guessing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingMetadata {
    pub tenant: TenantId,
    pub lead: LeadId,
    /// The provider's call id.
    pub call: String,
    /// The agent's tool call id that asked for the booking.
    pub tool_call: String,
}

impl BookingMetadata {
    pub const TENANT: &'static str = "leadline_tenant";
    pub const LEAD: &'static str = "leadline_lead";
    pub const CALL: &'static str = "leadline_call";
    pub const TOOL_CALL: &'static str = "leadline_tool_call";

    /// Cal.com's metadata: string values, keys of at most 40 characters.
    pub fn to_pairs(&self) -> [(&'static str, String); 4] {
        [
            (Self::TENANT, self.tenant.to_string()),
            (Self::LEAD, self.lead.to_string()),
            (Self::CALL, self.call.clone()),
            (Self::TOOL_CALL, self.tool_call.clone()),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBooking {
    pub event_type_id: u64,
    pub start: Timestamp,
    pub attendee: Attendee,
    pub metadata: BookingMetadata,
}

/// A booking as the calendar holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booking {
    /// Cal.com's booking uid (a reschedule makes a new one).
    pub uid: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Why the calendar did not do what was asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Too slow, 5xx, 429 or unreachable: the caller gets the spoken fallback
    /// and a follow-up task, since a later try may succeed.
    #[error("the calendar is unavailable: {0}")]
    Unavailable(String),
    /// The slot is no longer free.
    #[error("the slot is taken: {0}")]
    SlotTaken(String),
    /// No such booking (or not this account's).
    #[error("no such booking")]
    NotFound,
    /// Any other refusal (a 4xx that says the request itself is wrong).
    #[error("the calendar refused: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Calendar: Send + Sync {
    /// Free start times in `[query.from, query.to)`, earliest first.
    async fn free_slots(
        &self,
        account: &CalendarAccount,
        query: &SlotQuery,
    ) -> Result<Vec<Timestamp>, CalendarError>;

    async fn book(
        &self,
        account: &CalendarAccount,
        booking: &NewBooking,
    ) -> Result<Booking, CalendarError>;

    /// Moves a booking; Cal.com answers with the new booking (a new uid).
    async fn reschedule(
        &self,
        account: &CalendarAccount,
        uid: &str,
        start: Timestamp,
        reason: &str,
    ) -> Result<Booking, CalendarError>;

    async fn cancel(
        &self,
        account: &CalendarAccount,
        uid: &str,
        reason: &str,
    ) -> Result<(), CalendarError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert_eq!(
            Email::parse(" Ana@Example.COM ").unwrap().expose(),
            "Ana@example.com"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "ana@@example.com",
            "ana @example.com",
            "ana@example.",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err().field, "email", "{bad:?}");
        }
    }

    #[test]
    fn an_account_never_prints_its_key() {
        let account = CalendarAccount {
            api_key: "cal_live_secret".into(),
        };
        assert_eq!(format!("{account:?}"), "CalendarAccount(***)");
    }
}
