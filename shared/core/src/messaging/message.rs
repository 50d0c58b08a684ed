//! Messages to leads: reminders and follow-ups by SMS, email or WhatsApp.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::lead::{Lead, LeadMessage};
use crate::kernel::email::Email;
use crate::kernel::ids::{LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePurpose {
    /// The lead could not be reached by phone.
    Fallback,
    Reminder,
    NoShowFollowUp,
    Confirmation,
    /// The calendar failed during a call: the business owes the lead a booking or times.
    BookingFollowUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Recorded with the change that called for it, not yet on the messenger queue.
    Pending,
    /// On the messenger queue.
    Queued,
    Sent,
    Delivered,
    /// Not sent: the recipient opted out.
    Suppressed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    pub status: MessageStatus,
    pub provider_message_id: Option<String>,
    pub created_at: Timestamp,
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
