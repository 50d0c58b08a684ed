//! The work calling hands itself through its queues and schedules, and the
//! slots a call holds: dial jobs, campaign sweeps, owed calls (follow-ups),
//! slot scopes and claims, and the deployment's limits. Types only: the
//! ports speak in them, the use cases decide them.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::calling::attempt::CallAttempt;
use crate::calling::call::CallRef;
use crate::calling::lead::{Lead, LeadStatus, NextCallKind};
use crate::calling::waiting::{Waiting, Wake};
use crate::intake::campaign::Campaign;
use crate::intake::tenant::{Tenant, VoiceProvider};
use crate::kernel::ids::{AttemptId, CampaignId, LeadId, TenantId};
use crate::kernel::phone::Phone;

/// A message on the dial queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DialMessage {
    /// Call one lead.
    Dial(DialJob),
    /// Queue the next page of a campaign's leads.
    Sweep(CampaignSweep),
    /// A call owed to a lead is due (its schedule fired): queue and dial it.
    FollowUp(FollowUp),
    /// A call gave its slots back: dial the oldest job waiting for one.
    Wake(Wake),
}

impl DialMessage {
    /// What the message is about: one lead's attempt, a campaign's page, an owed call.
    pub fn subject(&self) -> String {
        match self {
            DialMessage::Dial(job) => format!("{}#{}", job.lead, job.attempt),
            DialMessage::Sweep(sweep) => format!(
                "{}#{:?}#{}",
                sweep.campaign,
                sweep.statuses,
                sweep.cursor.as_deref().unwrap_or("")
            ),
            DialMessage::FollowUp(f) => f.schedule_name(),
            DialMessage::Wake(wake) => format!("wake#{}", wake.freed_by),
        }
    }
}

/// Call attempt `attempt` of one lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialJob {
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub lead: LeadId,
    /// The lead's number, so the do-not-call list is read with the lead.
    pub phone: Phone,
    pub attempt: u32,
    /// Asked for by hand (`POST /v1/leads/{id}:call`): the campaign need not be running.
    #[serde(default)]
    pub manual: bool,
    /// How often the job was put back for a slot or a provider failure.
    #[serde(default)]
    pub tries: u32,
    /// The slot it waits for, and since when: its waiter, kept with its
    /// scope's slots, goes when the job gets its slots or gives up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// Handed a slot by a call that ended (a copy of the job: its own retry
    /// after the backoff is on its way still, so a woken copy that finds no
    /// slot waits again without putting itself back).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub woken: bool,
}

impl DialJob {
    pub fn for_lead(lead: &Lead, manual: bool) -> Self {
        Self {
            tenant: lead.tenant.clone(),
            campaign: lead.campaign.clone(),
            lead: lead.id.clone(),
            phone: lead.phone.clone(),
            attempt: lead.attempts,
            manual,
            tries: 0,
            waiting: None,
            woken: false,
        }
    }

    pub fn call(&self) -> CallRef {
        CallRef {
            tenant: self.tenant.clone(),
            lead: self.lead.clone(),
            attempt: self.attempt,
        }
    }

    /// The job put back by itself (for a slot, a provider failure): its own
    /// retry, never a woken copy.
    pub(crate) fn tried_again(&self) -> Self {
        Self {
            tries: self.tries + 1,
            woken: false,
            ..self.clone()
        }
    }
}

/// Queue a campaign's leads of `statuses[0]` page by page, then the next status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignSweep {
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub statuses: Vec<LeadStatus>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// Where calls are counted. A call holds one slot in each of its three scopes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotScope {
    /// The provider account shared by the deployment (its plan's concurrency).
    Provider(VoiceProvider),
    Tenant(TenantId),
    Campaign(TenantId, CampaignId),
}

impl SlotScope {
    /// The scopes an attempt holds slots in.
    pub fn of_attempt(attempt: &CallAttempt) -> [SlotScope; 3] {
        [
            SlotScope::Provider(attempt.provider),
            SlotScope::Tenant(attempt.tenant.clone()),
            SlotScope::Campaign(attempt.tenant.clone(), attempt.campaign.clone()),
        ]
    }
}

/// Slots an attempt takes before dialing, each scope with its limit, and its
/// call start in the provider account's current second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotClaim {
    pub holder: AttemptId,
    pub scopes: Vec<(SlotScope, u32)>,
    pub pace: PaceClaim,
}

/// One call start of `provider` in second `second`, of at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaceClaim {
    pub provider: VoiceProvider,
    pub second: i64,
    pub limit: u32,
}

/// What the provider plans allow the whole deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentLimits {
    pub retell_concurrent_calls: u32,
    pub vapi_concurrent_calls: u32,
    /// Call starts per second per provider account (carriers allow 1 by default).
    pub calls_per_second: u32,
    /// The longest a call may last (the agents' maximum duration): a call
    /// with no final event this long after it was placed is asked about.
    pub max_call_seconds: u32,
}

/// Time for the provider's final events to arrive after a call's longest length.
pub const STUCK_MARGIN: SignedDuration = SignedDuration::from_mins(5);

impl Default for DeploymentLimits {
    /// Retell's pay-as-you-go 20 calls, Vapi's 10, one call start a second.
    fn default() -> Self {
        Self {
            retell_concurrent_calls: 20,
            vapi_concurrent_calls: 10,
            calls_per_second: 1,
            max_call_seconds: 3_600,
        }
    }
}

impl DeploymentLimits {
    /// When an attempt placed at `placed` is stuck if nothing ended it.
    pub fn stuck_after(&self, placed: Timestamp) -> Timestamp {
        placed + SignedDuration::from_secs(i64::from(self.max_call_seconds)) + STUCK_MARGIN
    }

    pub fn concurrent_calls(&self, provider: VoiceProvider) -> u32 {
        match provider {
            VoiceProvider::Retell => self.retell_concurrent_calls,
            VoiceProvider::Vapi => self.vapi_concurrent_calls,
        }
    }

    pub fn claim(
        &self,
        attempt: &CallAttempt,
        tenant: &Tenant,
        campaign: Option<&Campaign>,
        now: Timestamp,
    ) -> SlotClaim {
        let [provider, tenant_scope, campaign_scope] = SlotScope::of_attempt(attempt);
        let campaign_limit = campaign.map_or(u32::MAX, |c| c.pacing.max_parallel_calls);
        SlotClaim {
            holder: attempt.id.clone(),
            scopes: vec![
                (provider, self.concurrent_calls(attempt.provider)),
                (tenant_scope, tenant.max_concurrent_calls),
                (campaign_scope, campaign_limit),
            ],
            pace: PaceClaim {
                provider: attempt.provider,
                second: now.as_second(),
                limit: self.calls_per_second,
            },
        }
    }
}

/// The payload of the one-off schedule that places an owed call: it puts
/// this on the dial queue at `due_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub tenant: TenantId,
    pub lead: LeadId,
    /// Retry or callback (not `kind`: the dial queue's messages are tagged `kind`).
    pub reason: NextCallKind,
    /// The attempt it places.
    pub attempt: u32,
    pub due_at: Timestamp,
}

impl FollowUp {
    /// The call `lead` is owed, if any.
    pub fn of(lead: &Lead) -> Option<Self> {
        let next = lead.next_call.as_ref()?;
        Some(Self {
            tenant: lead.tenant.clone(),
            lead: lead.id.clone(),
            reason: next.kind,
            attempt: next.attempt,
            due_at: next.at,
        })
    }

    /// `call-<lead>-<attempt>`, derived from (tenant, lead, attempt): a lead id
    /// is derived from its tenant, so it is unique across tenants. A callback
    /// that replaces a retry for the same attempt has the same name.
    pub fn schedule_name(&self) -> String {
        format!("call-{}-{}", self.lead, self.attempt)
    }
}
