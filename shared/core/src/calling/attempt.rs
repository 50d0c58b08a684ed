//! Call attempts: one provider call of a lead.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::call::{CallPhase, CallReport};
use crate::calling::lead::CallOutcome;
use crate::intake::tenant::VoiceProvider;
use crate::kernel::ids::{AttemptId, CampaignId, LeadId, TenantId};

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

/// Who placed a call: leadline dialled the lead, or the lead called one of
/// the tenant's inbound numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// Placed by the dispatcher, holding a concurrency slot in each scope
    /// while it is not over (every attempt stored before inbound calls).
    #[default]
    Outbound,
    /// Answered for a caller: it took no slot, so its end gives none back.
    Inbound,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallAttempt {
    pub id: AttemptId,
    pub tenant: TenantId,
    pub lead: LeadId,
    pub campaign: CampaignId,
    pub number: u32,
    pub provider: VoiceProvider,
    #[serde(default)]
    pub direction: CallDirection,
    pub provider_call_id: Option<String>,
    pub status: AttemptStatus,
    pub outcome: Option<CallOutcome>,
    /// What the provider's events told about the call, merged.
    #[serde(default)]
    pub report: CallReport,
    /// The call's usage record has been written (exactly one per ended call).
    #[serde(default)]
    pub usage_recorded: bool,
    /// The provider did not answer the create-call request in time, so it is
    /// unknown whether the call was placed. If no event about the call has
    /// arrived by then, the dial job may dial this attempt again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redial_after: Option<Timestamp>,
    /// When the call, if no event has ended it, has run longer than any call
    /// may and the sweep asks the provider about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_after: Option<Timestamp>,
    pub created_at: Timestamp,
    pub version: u64,
}

impl AttemptStatus {
    /// The attempt status a call phase means.
    pub fn of_phase(phase: CallPhase) -> AttemptStatus {
        match phase {
            CallPhase::Ringing => AttemptStatus::Placed,
            CallPhase::Started => AttemptStatus::InProgress,
            CallPhase::Ended | CallPhase::Analyzed => AttemptStatus::Ended,
        }
    }
}

impl CallAttempt {
    /// A new attempt, recorded before the provider is asked to place the call.
    pub fn dialing(
        call: &crate::calling::call::CallRef,
        campaign: CampaignId,
        provider: VoiceProvider,
        now: Timestamp,
    ) -> Self {
        Self {
            id: call.attempt_id(),
            tenant: call.tenant.clone(),
            lead: call.lead.clone(),
            campaign,
            number: call.attempt,
            provider,
            direction: CallDirection::Outbound,
            provider_call_id: None,
            status: AttemptStatus::Dialing,
            outcome: None,
            report: CallReport::default(),
            usage_recorded: false,
            redial_after: None,
            stuck_after: None,
            created_at: now,
            version: 0,
        }
    }

    /// When the sweep should look at the attempt: once it is stuck, while it is not over.
    pub fn sweep_at(&self) -> Option<Timestamp> {
        self.stuck_after.filter(|_| !self.is_ended())
    }

    pub fn is_ended(&self) -> bool {
        self.status == AttemptStatus::Ended
    }

    /// Whether the call holds concurrency slots until it ends (only the
    /// calls leadline placed took any).
    pub fn holds_slots(&self) -> bool {
        self.direction == CallDirection::Outbound
    }

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
            direction: CallDirection::Outbound,
            provider_call_id: None,
            status: AttemptStatus::Dialing,
            outcome: None,
            report: CallReport::default(),
            usage_recorded: false,
            redial_after: None,
            stuck_after: None,
            created_at: Timestamp::UNIX_EPOCH,
            version: 0,
        };
        assert!(a.advance(AttemptStatus::Ended));
        assert!(!a.advance(AttemptStatus::InProgress));
        assert_eq!(a.status, AttemptStatus::Ended);
    }
}
