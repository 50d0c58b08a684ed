//! Messages to leads: reminders and follow-ups by SMS, email or WhatsApp.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{LeadId, MessageId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Whatsapp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePurpose {
    /// The lead could not be reached by phone.
    Fallback,
    Reminder,
    NoShowFollowUp,
    Confirmation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
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
