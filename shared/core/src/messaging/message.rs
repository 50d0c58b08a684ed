//! Messages to leads: reminders and follow-ups by SMS, email or WhatsApp.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::lead::{Lead, LeadMessage};
use crate::kernel::ids::{LeadId, MessageId, TenantId};

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
    pub to: String,
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
