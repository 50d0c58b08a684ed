//! The do-not-call list: numbers a tenant must never call or message again.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::ids::TenantId;
use crate::kernel::phone::Phone;

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    pub tenant: TenantId,
    pub phone: Phone,
    pub source: SuppressionSource,
    pub reason: String,
    pub at: Timestamp,
}
