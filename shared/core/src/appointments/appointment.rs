//! Appointments booked for leads, and whether they were kept.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::appointments::business::ServiceId;
use crate::kernel::ids::{AppointmentId, LeadId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
    /// The lead showed up.
    Kept,
    NoShow,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an appointment that is {from:?} cannot be {event}")]
pub struct IllegalAppointmentTransition {
    pub from: AppointmentStatus,
    pub event: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub tenant: TenantId,
    pub lead: LeadId,
    /// Cal.com's booking uid.
    pub booking_uid: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub status: AppointmentStatus,
    /// The service booked (appointments made during a call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// The provider's id of the call it was booked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// The lead confirmed it by replying to a message about it (evidence
    /// for show verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
    pub version: u64,
}

/// A lead's confirmation of an appointment, by a reply to a message about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub at: Timestamp,
    /// The lead's message that confirmed it.
    pub message: crate::kernel::ids::MessageId,
    /// The message it answered.
    pub replied_to: crate::kernel::ids::MessageId,
}

impl Appointment {
    /// Moves a booked appointment to a new time (Cal.com's reschedule makes a
    /// new booking, so the booking uid changes with it).
    pub fn reschedule(
        &mut self,
        booking_uid: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
    ) -> Result<(), IllegalAppointmentTransition> {
        self.require_booked("rescheduled")?;
        self.booking_uid = booking_uid.to_owned();
        self.starts_at = starts_at;
        self.ends_at = ends_at;
        Ok(())
    }

    /// The lead said yes to it. A confirmation given stays the first one.
    pub fn confirm(
        &mut self,
        confirmation: Confirmation,
    ) -> Result<bool, IllegalAppointmentTransition> {
        self.require_booked("confirmed")?;
        if self.confirmation.is_some() {
            return Ok(false);
        }
        self.confirmation = Some(confirmation);
        Ok(true)
    }

    pub fn cancel(&mut self) -> Result<(), IllegalAppointmentTransition> {
        self.require_booked("cancelled")?;
        self.status = AppointmentStatus::Cancelled;
        Ok(())
    }

    /// Records whether the lead showed up. The verdict is final once given.
    pub fn verify(&mut self, kept: bool) -> Result<(), IllegalAppointmentTransition> {
        self.require_booked("verified")?;
        self.status = if kept {
            AppointmentStatus::Kept
        } else {
            AppointmentStatus::NoShow
        };
        Ok(())
    }

    fn require_booked(&self, event: &'static str) -> Result<(), IllegalAppointmentTransition> {
        if self.status == AppointmentStatus::Booked {
            Ok(())
        } else {
            Err(IllegalAppointmentTransition {
                from: self.status,
                event,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booked() -> Appointment {
        Appointment {
            id: AppointmentId::from_bytes(&[1; 15]),
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[2; 15]),
            booking_uid: "bk_1".into(),
            starts_at: Timestamp::UNIX_EPOCH,
            ends_at: Timestamp::UNIX_EPOCH,
            status: AppointmentStatus::Booked,
            service: None,
            call: None,
            confirmation: None,
            version: 0,
        }
    }

    #[test]
    fn a_show_verdict_is_given_once() {
        let mut a = booked();
        a.verify(true).unwrap();
        assert_eq!(a.status, AppointmentStatus::Kept);
        assert!(a.verify(false).is_err());
    }

    #[test]
    fn a_cancelled_appointment_cannot_be_moved_or_verified() {
        let mut a = booked();
        a.cancel().unwrap();
        assert!(
            a.reschedule("bk_2", Timestamp::MAX, Timestamp::MAX)
                .is_err()
        );
        assert!(a.verify(true).is_err());
    }
}
