//! Call attempts: one provider call of a lead.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::{AttemptId, CampaignId, LeadId, TenantId};
use crate::lead::CallOutcome;
use crate::tenant::VoiceProvider;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Recorded before the provider request, so a repeated dial job finds it.
    Dialing,
    /// The provider accepted the call.
    Placed,
    /// The call connected.
    InProgress,
    /// The call is over.
    Ended,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallAttempt {
    pub id: AttemptId,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub campaign: CampaignId,
    pub number: u32,
    pub provider: VoiceProvider,
    pub provider_call_id: Option<String>,
    pub status: AttemptStatus,
    pub outcome: Option<CallOutcome>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub duration_seconds: Option<u64>,
    pub created_at: Timestamp,
    pub version: u64,
}

impl CallAttempt {
    /// Moves the attempt forward; an older status arriving late changes nothing.
    /// Returns whether anything changed.
    pub fn advance(&mut self, status: AttemptStatus) -> bool {
        if status > self.status {
            self.status = status;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_only_moves_forward() {
        let lead = LeadId::from_bytes(&[1; 15]);
        let mut a = CallAttempt {
            id: AttemptId::derive(&lead, 1),
            tenant: TenantId::parse("acme").unwrap(),
            lead,
            campaign: CampaignId::from_bytes(&[2; 15]),
            number: 1,
            provider: VoiceProvider::Retell,
            provider_call_id: None,
            status: AttemptStatus::Dialing,
            outcome: None,
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            created_at: Timestamp::UNIX_EPOCH,
            version: 0,
        };
        assert!(a.advance(AttemptStatus::Ended));
        assert!(!a.advance(AttemptStatus::InProgress));
        assert_eq!(a.status, AttemptStatus::Ended);
    }
}
