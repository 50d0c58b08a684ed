//! The do-not-call list: numbers a tenant must never call or message again.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::ids::TenantId;
use crate::messaging::message::Recipient;

/// How a number came onto the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionSource {
    /// The lead said so on a call ("do not call me").
    Call,
    /// A STOP (or similar) reply to a message.
    Message,
    /// Added by the tenant.
    Manual,
    /// A provider reported the address opted out (Twilio 21610) or
    /// unreachable for good (an email bounce, a spam report).
    Provider,
}

impl SuppressionSource {
    /// Whether the lead may lift it by messaging START: an opt-out it made
    /// by message (or a provider's report of one), never a do-not-call said
    /// on a call or entered by the business.
    pub fn liftable(&self) -> bool {
        matches!(
            self,
            SuppressionSource::Message | SuppressionSource::Provider
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub tenant: TenantId,
    /// The number (or, for email, the address) that must not be reached.
    #[serde(alias = "phone")]
    pub address: Recipient,
    pub source: SuppressionSource,
    pub reason: String,
    pub at: Timestamp,
}
