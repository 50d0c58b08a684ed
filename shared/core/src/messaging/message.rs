//! Messages to leads: reminders and follow-ups by SMS, email or WhatsApp.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::lead::{Lead, LeadMessage};
use crate::kernel::email::Email;
use crate::kernel::ids::{AppointmentId, LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::messaging::provider::{DeliveryStatus, Refusal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Whatsapp,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

/// Whom a message goes to: a number (SMS, WhatsApp) or an address (email).
/// Stored and queued as the bare string (E.164 or the address), read back
/// by its form.
///
/// Personal data: `Display` and `Debug` print it masked, like [`Phone`] and
/// [`Email`]; the value itself is [`Recipient::expose`], for the messenger's
/// providers.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Recipient {
    Phone(Phone),
    Email(Email),
}

impl Recipient {
    /// The number (E.164) or address itself, never for a log.
    pub fn expose(&self) -> &str {
        match self {
            Recipient::Phone(phone) => phone.e164(),
            Recipient::Email(email) => email.expose(),
        }
    }
}

impl From<Phone> for Recipient {
    fn from(phone: Phone) -> Self {
        Recipient::Phone(phone)
    }
}

impl From<Email> for Recipient {
    fn from(email: Email) -> Self {
        Recipient::Email(email)
    }
}

/// Whether it is this number or address (compares the values themselves).
impl PartialEq<&str> for Recipient {
    fn eq(&self, other: &&str) -> bool {
        self.expose() == *other
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Phone(phone) => phone.fmt(f),
            Recipient::Email(email) => email.fmt(f),
        }
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recipient::Phone(phone) => phone.fmt(f),
            Recipient::Email(email) => email.fmt(f),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePurpose {
    /// The lead could not be reached by phone.
    Fallback,
    Reminder,
    NoShowFollowUp,
    Confirmation,
    /// The calendar failed during a call: the business owes the lead a booking or times.
    BookingFollowUp,
    /// After a call, per the tenant's rules: thanks, next steps, booking link.
    CallFollowUp,
    /// To the tenant's team: a qualified or potential lead, with what the call found.
    TeamNotification,
    /// A reply to what the lead wrote: help text, booking link, a question.
    Reply,
    /// The one confirmation of an opt-out (FCC 24-24 §64.1200(a)(12)).
    OptOutConfirmation,
    /// Something the lead wrote to the tenant.
    Inbound,
}

impl MessagePurpose {
    /// Whether the message goes to a lead who asked for no more: only the
    /// one confirmation of that request does.
    pub fn reaches_the_opted_out(&self) -> bool {
        matches!(self, MessagePurpose::OptOutConfirmation)
    }

    /// Whether it goes to the tenant's team rather than the lead.
    pub fn to_team(&self) -> bool {
        matches!(self, MessagePurpose::TeamNotification)
    }

    /// Whether quiet hours hold it back. The one opt-out confirmation goes
    /// at once: the rule presumes it lawful within 5 minutes of the request,
    /// and it is the answer to what the lead just wrote.
    pub fn keeps_quiet_hours(&self) -> bool {
        !matches!(
            self,
            MessagePurpose::OptOutConfirmation | MessagePurpose::TeamNotification
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

/// Where a message stands. Outbound: `queued` (on the messenger's queue),
/// `waiting` (held back until `not_before`: quiet hours, a provider's
/// backoff), `sending` (claimed: the provider request is in flight), then
/// the provider's `sent` → `delivered` / `read` / `undelivered` / `failed`;
/// or not sent, with its reason: `suppressed`, `dropped` (no longer
/// wanted), `refused` (by the provider, for good), `unknown` (the sender
/// died between claim and request: it may or may not have left; never
/// sent again by itself). Inbound: `received`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Recorded with the change that called for it, not yet on the messenger queue.
    Pending,
    /// On the messenger queue.
    Queued,
    Waiting,
    Sending,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
    /// Not sent: the lead or the address opted out, is on the do-not-call
    /// list, or was erased.
    Suppressed,
    /// Not sent: no longer wanted (the appointment it was about moved or went).
    Dropped,
    /// Refused by the provider for good.
    Refused,
    /// Claimed, and the sender died before it knew whether the provider took it.
    Unknown,
    Received,
}

impl MessageStatus {
    /// Statuses a provider reports, by rank: a report only moves a message
    /// to a higher rank. Delivered, undelivered and failed share a rank, so
    /// the first of them stands.
    pub fn provider_rank(&self) -> Option<u8> {
        Some(match self {
            MessageStatus::Queued | MessageStatus::Waiting | MessageStatus::Sending => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered | MessageStatus::Undelivered | MessageStatus::Failed => 2,
            MessageStatus::Read => 3,
            // Reports of a message never sent or not known to be sent: an
            // `unknown` one learns it left after all.
            MessageStatus::Unknown => 0,
            _ => return None,
        })
    }

    pub fn from_delivery(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Queued => MessageStatus::Queued,
            DeliveryStatus::Sent => MessageStatus::Sent,
            DeliveryStatus::Delivered => MessageStatus::Delivered,
            DeliveryStatus::Read => MessageStatus::Read,
            DeliveryStatus::Undelivered => MessageStatus::Undelivered,
            DeliveryStatus::Failed => MessageStatus::Failed,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Queued => "queued",
            MessageStatus::Waiting => "waiting",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Suppressed => "suppressed",
            MessageStatus::Dropped => "dropped",
            MessageStatus::Refused => "refused",
            MessageStatus::Unknown => "unknown",
            MessageStatus::Received => "received",
        }
    }
}

/// Text a message carries (what was sent, what the lead wrote). Stored, and
/// answered to the tenant; printed as its length only, never logged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageText(pub String);

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageText({} chars)", self.0.chars().count())
    }
}

/// One step of a message's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusStep {
    pub status: MessageStatus,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The appointment a message is about, as it stood when the message was
/// asked for: a reminder for a time that moved is no longer wanted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppointmentRef {
    pub id: AppointmentId,
    pub starts_at: Timestamp,
}

/// A message to or from a lead: stored as its own item under the lead, with
/// every status it went through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub direction: Direction,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    /// The lead's number or address (the team's address for a notification).
    pub address: Recipient,
    pub status: MessageStatus,
    /// Why it is where it is (a refusal, a wait, a provider error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<StatusStep>,
    /// The template it was rendered from (outbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The values it was asked to be filled with (a follow-up task's
    /// details, a team notification's).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// What was sent or received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<MessageText>,
    /// The tenant's sender (its number, address or WhatsApp number id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<AppointmentRef>,
    /// Held back until then (quiet hours, a provider's backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// The send time its sender's pace reserved for it, while it waits for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paced_at: Option<Timestamp>,
    /// When the messenger claimed it to send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    /// Provider requests that failed and may be tried again.
    #[serde(default)]
    pub tries: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Message {
    /// A message the messenger takes on from its job, before any check.
    pub fn from_job(job: &MessageJob, now: Timestamp) -> Self {
        let queued_at = job.queued_at.unwrap_or(now);
        Self {
            id: job.id.clone(),
            tenant: job.tenant.clone(),
            lead: job.lead.clone(),
            direction: Direction::Outbound,
            channel: job.channel,
            purpose: job.purpose,
            address: job.to.clone(),
            status: MessageStatus::Queued,
            reason: None,
            history: vec![StatusStep {
                status: MessageStatus::Queued,
                at: queued_at,
                reason: None,
            }],
            template: Some(job.template.clone()),
            params: job.params.clone(),
            text: None,
            sender: None,
            provider_id: None,
            refusal: None,
            appointment: job.appointment.clone(),
            not_before: None,
            paced_at: None,
            claimed_at: None,
            tries: 0,
            created_at: queued_at,
            updated_at: now,
            version: 0,
        }
    }

    /// Moves it to `status`, recorded in its history with the reason.
    pub fn set(&mut self, status: MessageStatus, reason: Option<String>, now: Timestamp) {
        self.status = status;
        self.reason = reason.clone();
        self.history.push(StatusStep {
            status,
            at: now,
            reason,
        });
        self.updated_at = now;
    }

    /// A provider's report: applied only if it moves the message forward.
    /// Returns whether it did.
    pub fn report(
        &mut self,
        status: DeliveryStatus,
        error: Option<String>,
        now: Timestamp,
    ) -> bool {
        let to = MessageStatus::from_delivery(status);
        let (Some(from), Some(rank)) = (self.status.provider_rank(), to.provider_rank()) else {
            return false;
        };
        if rank <= from && self.status != MessageStatus::Unknown {
            return false;
        }
        if self.status == MessageStatus::Unknown && rank == 0 {
            return false;
        }
        self.set(to, error.map(|code| format!("provider error {code}")), now);
        true
    }

    /// Whether its status is final: nothing the messenger does changes it.
    pub fn is_settled(&self) -> bool {
        !matches!(
            self.status,
            MessageStatus::Pending
                | MessageStatus::Queued
                | MessageStatus::Waiting
                | MessageStatus::Sending
        )
    }
}

/// Work on the messenger's queue: a message to send, a lead's message to
/// understand, a booking to cancel at the calendar.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessengerWork {
    Inbound(crate::messaging::inbound::InboundJob),
    CancelBooking(CancelBooking),
    Send(MessageJob),
}

impl MessengerWork {
    /// Its deterministic id (the queue's deduplication id where it has one).
    pub fn id(&self) -> String {
        match self {
            MessengerWork::Send(job) => job.id.to_string(),
            MessengerWork::Inbound(job) => job.dedupe_key(),
            MessengerWork::CancelBooking(c) => format!("cancel-booking#{}", c.appointment.id),
        }
    }
}

/// A booking the lead cancelled by message, to cancel at Cal.com.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelBooking {
    pub kind: CancelBookingKind,
    pub appointment: crate::appointments::appointment::Appointment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelBookingKind {
    CancelBooking,
}

/// Which message of ours a provider's id names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRef {
    pub tenant: TenantId,
    pub channel: Channel,
    pub provider_id: String,
    pub lead: LeadId,
    pub message: MessageId,
}

/// A message on the messenger queue: what to send, to whom, by which channel.
/// Its id is deterministic, so a job delivered twice is sent once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageJob {
    pub id: MessageId,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    pub template: String,
    pub to: Recipient,
    /// Values the template is filled with.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// The appointment it is about, as it stood when the message was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<AppointmentRef>,
    /// Not to be handled before then (the queue delays it, or a schedule
    /// puts it back when that is further than the queue can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// When it was first asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Timestamp>,
    /// The lead's own number, when the message goes elsewhere (an email, a
    /// WhatsApp number): its do-not-call entry holds back this message too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_phone: Option<Phone>,
}

impl MessageJob {
    pub fn for_lead(lead: &Lead, message: &LeadMessage) -> Self {
        Self {
            id: message.id.clone(),
            tenant: lead.tenant.clone(),
            lead: lead.id.clone(),
            channel: message.channel,
            purpose: message.purpose,
            template: message.template.clone(),
            to: message.to.clone(),
            params: BTreeMap::new(),
            appointment: None,
            not_before: None,
            queued_at: Some(message.at),
            lead_phone: (message.to != lead.phone.e164()).then(|| lead.phone.clone()),
        }
    }

    /// The same job, not before `at`.
    pub fn later(&self, at: Timestamp) -> Self {
        Self {
            not_before: Some(at),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_prints_masked_and_travels_as_the_bare_value() {
        let phone = Recipient::from(Phone::parse("+14155552671", None).unwrap());
        let email = Recipient::from(Email::parse("ada@example.com").unwrap());
        assert_eq!(
            (phone.to_string(), format!("{phone:?}")),
            ("+1••••••••71".into(), "Phone(+1••••••••71)".into())
        );
        assert_eq!(
            (email.to_string(), format!("{email:?}")),
            ("a•••@example.com".into(), "Email(a•••@example.com)".into())
        );
        assert_eq!(serde_json::to_value(&phone).unwrap(), "+14155552671");
        assert_eq!(serde_json::to_value(&email).unwrap(), "ada@example.com");
        for recipient in [phone, email] {
            let json = serde_json::to_value(&recipient).unwrap();
            assert_eq!(
                serde_json::from_value::<Recipient>(json).unwrap(),
                recipient
            );
        }
        assert!(serde_json::from_value::<Recipient>("4155552671".into()).is_err());
    }

    #[test]
    fn a_queued_job_prints_no_number_or_address() {
        let job = MessageJob {
            id: MessageId::parse("msg_aaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::parse("ld_aaaaaaaaaaaaaaaaaaaaaaaa").unwrap(),
            channel: Channel::Sms,
            purpose: MessagePurpose::Fallback,
            template: "call_fallback".into(),
            to: Phone::parse("+14155552671", None).unwrap().into(),
            params: BTreeMap::new(),
            appointment: None,
            not_before: None,
            queued_at: None,
            lead_phone: None,
        };
        let printed = format!("{job:?}");
        assert!(
            crate::kernel::redact::leaks(&printed).is_empty(),
            "{printed}"
        );
        assert!(printed.contains("to: Phone(+1••••••••71)"), "{printed}");
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["to"], "+14155552671");
    }
}
