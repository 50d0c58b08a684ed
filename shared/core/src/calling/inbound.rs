//! Inbound calls: someone dials one of a tenant's numbers, and the provider
//! asks leadline how to answer (Vapi `assistant-request`, Retell's inbound
//! webhook `call_inbound`) before the call connects.
//!
//! The tenant is the one the number dialled belongs to (`NUMBER#<E.164>`),
//! never anything else the request says. The caller becomes that tenant's
//! lead, found by the id derived from (tenant, caller's number), or created
//! with `source: inbound`; the call is the lead's next attempt, recorded as
//! an inbound one. The answer gives the shared agent the tenant's
//! variables (business name, greeting) and leadline's call metadata
//! ([`CallRef`]), so that every later event and tool call of the call is
//! routed and applied exactly as an outbound call's.
//!
//! A redelivered request changes nothing and gets the same answer: a lead
//! whose current attempt is this call (the same provider call id, or for
//! Retell, whose request has no call id yet, an inbound attempt of the
//! same provider not yet bound to a call and younger than
//! [`REDELIVERY_WINDOW`]) is answered from it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::appointments::business::{Business, default_greeting};
use crate::calling::attempt::{AttemptStatus, CallAttempt, CallDirection};
use crate::calling::call::CallRef;
use crate::calling::lead::Lead;
use crate::calling::work::DeploymentLimits;
use crate::intake::tenant::{Tenant, VoiceProvider};
use crate::kernel::error::Result;
use crate::kernel::ids::{LeadId, TenantId};
use crate::kernel::phone::Phone;
use crate::ports::{BusinessStore, CallStore, TenantStore};
use crate::write::{Change, Commit, Decision, Effects, Entity, UseCase, run};

/// How long after an inbound attempt was recorded a request without a call
/// id (Retell's) is taken as a redelivery of the one that recorded it:
/// Retell waits 10 s for an answer and retries up to 3 times.
pub const REDELIVERY_WINDOW: SignedDuration = SignedDuration::from_mins(2);

/// A provider asking how to answer a call to one of the tenants' numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundCall {
    pub provider: VoiceProvider,
    /// The provider's call id, when the request has one (Vapi); Retell asks
    /// before the call exists, without one.
    pub provider_call_id: Option<String>,
    /// The number dialled: the only thing that says whose call it is.
    pub called: Option<Phone>,
    /// The caller's number, when the provider gives a real one (a withheld
    /// caller id is `None`).
    pub caller: Option<Phone>,
}

/// How leadline answers an inbound call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundAnswer {
    /// The agent answers as the tenant's business.
    Answer(Greeting),
    /// The call is not answered: the provider is told to end it.
    Decline(Declined),
}

/// What the agent answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    pub tenant: TenantId,
    /// Leadline's metadata, for every later event and tool call of the
    /// call; `None` when the caller withheld their number (there is no lead
    /// to record the call on, and nothing is written).
    pub call: Option<CallRef>,
    /// What the agent may say, strings only (Retell dynamic variables, Vapi
    /// variable values): `business_name`, `greeting`, `direction`, and the
    /// caller's `name` and `first_name` when known. The call metadata's
    /// fields are added by the adapters that need them there.
    pub variables: BTreeMap<String, String>,
    /// The agent to answer with: the tenant's own for this provider, else
    /// the deployment's; `None` leaves it to the number's configuration (Retell).
    pub agent_id: Option<String>,
}

/// Why a call is not answered. Nothing is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Declined {
    /// The request names no number dialled.
    NoNumberDialled,
    /// No tenant has the number (or the tenant that had it is gone).
    UnknownNumber,
    /// The provider needs an agent to answer with (Vapi) and none is configured.
    NoAgent,
}

impl Declined {
    pub fn as_str(&self) -> &'static str {
        match self {
            Declined::NoNumberDialled => "no number dialled",
            Declined::UnknownNumber => "not a number of any tenant",
            Declined::NoAgent => "no agent configured to answer with",
        }
    }
}

/// Everything the decision reads: the tenant, its business, and the
/// caller's lead with its current attempt.
#[derive(Clone, Debug, Default)]
pub struct InboundContext {
    pub tenant: Option<Tenant>,
    pub business: Option<Business>,
    pub lead: Option<Lead>,
    /// The lead's attempt number `lead.attempts`, when recorded.
    pub attempt: Option<CallAttempt>,
}

/// The deployment's own agents, used where a tenant names none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DefaultAgents {
    pub retell: Option<String>,
    pub vapi: Option<String>,
}

impl DefaultAgents {
    fn of(&self, provider: VoiceProvider) -> Option<&String> {
        match provider {
            VoiceProvider::Retell => self.retell.as_ref(),
            VoiceProvider::Vapi => self.vapi.as_ref(),
        }
    }
}

/// What the agent may say on a call to `tenant`'s business from `lead`.
pub fn inbound_variables(
    tenant: &Tenant,
    business: Option<&Business>,
    lead: Option<&Lead>,
) -> BTreeMap<String, String> {
    let name = business.map_or(tenant.name.as_str(), |b| b.name.as_str());
    let greeting = business.map_or_else(|| default_greeting(name), Business::greeting);
    let mut variables = BTreeMap::from([
        ("business_name".to_owned(), name.to_owned()),
        ("greeting".to_owned(), greeting),
        ("direction".to_owned(), "inbound".to_owned()),
    ]);
    if let Some(name) = lead.and_then(|l| l.name.as_ref()) {
        variables.insert("name".into(), name.clone());
        if let Some(first) = name.split_whitespace().next() {
            variables.insert("first_name".into(), first.to_owned());
        }
    }
    variables
}

/// Whether `attempt` is the call `call` asks about again.
fn same_call(attempt: &CallAttempt, call: &InboundCall, now: Timestamp) -> bool {
    if attempt.direction != CallDirection::Inbound || attempt.provider != call.provider {
        return false;
    }
    match (&attempt.provider_call_id, &call.provider_call_id) {
        (Some(recorded), Some(asked)) => recorded == asked,
        (None, None) => {
            !attempt.is_ended() && now.duration_since(attempt.created_at) <= REDELIVERY_WINDOW
        }
        _ => false,
    }
}

/// The rule: answer as the tenant's business; record the caller as a lead
/// (found or created) and the call as its next, inbound attempt, unless
/// this request was answered before.
pub fn decide_inbound(
    ctx: InboundContext,
    call: &InboundCall,
    agents: &DefaultAgents,
    limits: &DeploymentLimits,
    now: Timestamp,
) -> Decision<InboundAnswer> {
    let Some(tenant) = ctx.tenant else {
        return Decision::answer(InboundAnswer::Decline(Declined::UnknownNumber));
    };
    let own_agent = tenant
        .voice
        .agent_id
        .as_ref()
        .filter(|_| tenant.voice.provider == call.provider);
    let agent_id = own_agent.or_else(|| agents.of(call.provider)).cloned();
    if agent_id.is_none() && call.provider == VoiceProvider::Vapi {
        return Decision::answer(InboundAnswer::Decline(Declined::NoAgent));
    }
    let greeting = |call: Option<CallRef>, lead: Option<&Lead>| Greeting {
        tenant: tenant.id.clone(),
        call,
        variables: inbound_variables(&tenant, ctx.business.as_ref(), lead),
        agent_id: agent_id.clone(),
    };
    let Some(caller) = &call.caller else {
        return Decision::answer(InboundAnswer::Answer(greeting(None, None)));
    };
    let call_ref = |lead: &Lead, attempt: u32| CallRef {
        tenant: tenant.id.clone(),
        lead: lead.id.clone(),
        attempt,
    };
    if let (Some(lead), Some(attempt)) = (&ctx.lead, &ctx.attempt)
        && attempt.number == lead.attempts
        && same_call(attempt, call, now)
    {
        let ours = call_ref(lead, attempt.number);
        return Decision::answer(InboundAnswer::Answer(greeting(Some(ours), Some(lead))));
    }

    let (mut lead, create) = match ctx.lead {
        Some(lead) => (lead, false),
        None => (Lead::inbound(&tenant.id, caller, now), true),
    };
    let number = lead.attempts + 1;
    // Always `Applied`: `number` is the next attempt.
    let _ = lead.take_call(number, now);
    let ours = call_ref(&lead, number);
    let attempt = CallAttempt {
        direction: CallDirection::Inbound,
        provider_call_id: call.provider_call_id.clone(),
        status: AttemptStatus::Placed,
        stuck_after: Some(limits.stuck_after(now)),
        ..CallAttempt::dialing(&ours, lead.campaign.clone(), call.provider, now)
    };
    let effects = lead.take_effects();
    let answer = InboundAnswer::Answer(greeting(Some(ours), Some(&lead)));
    let lead_change = if create {
        Change::Create(Entity::Lead(lead))
    } else {
        Change::Save(Entity::Lead(lead))
    };
    Decision::new(
        vec![lead_change, Change::Create(Entity::Attempt(attempt))],
        effects,
        answer,
    )
}

/// Answers one inbound call through the runner: one read of the tenant,
/// the caller's lead and its current attempt (a second for a caller who
/// called before), one write of the lead and the attempt.
pub struct AnswerInbound<'a, S: ?Sized, B: ?Sized> {
    pub store: &'a S,
    pub businesses: &'a B,
    pub tenant: &'a TenantId,
    pub call: &'a InboundCall,
    pub agents: &'a DefaultAgents,
    pub limits: DeploymentLimits,
}

#[async_trait]
impl<S, B> UseCase for AnswerInbound<'_, S, B>
where
    S: CallStore + TenantStore + ?Sized,
    B: BusinessStore + ?Sized,
{
    type State = InboundContext;
    type Answer = InboundAnswer;
    const WHAT: &'static str = "the caller's lead";

    async fn load(&self) -> Result<InboundContext> {
        let calls = async {
            let Some(caller) = &self.call.caller else {
                let tenant = self.store.tenant(self.tenant).await?;
                return Ok(InboundContext {
                    tenant,
                    ..InboundContext::default()
                });
            };
            let first = CallRef {
                tenant: self.tenant.clone(),
                lead: LeadId::for_caller(self.tenant, caller),
                attempt: 1,
            };
            let mut ctx = self.store.call_context(&first).await?;
            // A caller who called before: their current attempt, read with
            // the lead again so that the two belong together.
            if let Some(current) = ctx.lead.as_ref().map(|l| l.attempts).filter(|n| *n > 1) {
                ctx = self
                    .store
                    .call_context(&CallRef {
                        attempt: current,
                        ..first
                    })
                    .await?;
            }
            Ok(InboundContext {
                tenant: ctx.tenant,
                business: None,
                lead: ctx.lead,
                attempt: ctx.attempt,
            })
        };
        let (ctx, business) =
            futures::future::try_join(calls, self.businesses.business(self.tenant)).await?;
        Ok(InboundContext { business, ..ctx })
    }

    fn decide(&self, ctx: InboundContext, now: Timestamp) -> Result<Decision<InboundAnswer>> {
        Ok(decide_inbound(
            ctx,
            self.call,
            self.agents,
            &self.limits,
            now,
        ))
    }
}

/// Answers an inbound call: the tenant of the number dialled (unknown: the
/// call is declined and nothing is read further), then [`AnswerInbound`]
/// through the runner. Two deliveries of one request racing each other:
/// the one that loses is refused (`Error::Refused`, answered 409), and the
/// provider's next try is answered from what the winner recorded.
pub async fn answer_inbound<S, B, E>(
    store: &S,
    businesses: &B,
    effects: &E,
    call: &InboundCall,
    agents: &DefaultAgents,
    limits: DeploymentLimits,
    now: Timestamp,
) -> Result<InboundAnswer>
where
    S: CallStore + TenantStore + Commit + ?Sized,
    B: BusinessStore + ?Sized,
    E: Effects + ?Sized,
{
    let Some(called) = &call.called else {
        return Ok(InboundAnswer::Decline(Declined::NoNumberDialled));
    };
    let Some(tenant) = businesses.tenant_of_number(called).await? else {
        return Ok(InboundAnswer::Decline(Declined::UnknownNumber));
    };
    let answering = AnswerInbound {
        store,
        businesses,
        tenant: &tenant,
        call,
        agents,
        limits,
    };
    run(store, effects, &answering, now).await
}

#[cfg(test)]
mod tests;
