//! Waiting for a slot. A dial job refused because one of its scopes (the
//! provider account, the tenant, the campaign) has no free slot is recorded
//! as a waiter of that scope, in the order it started waiting. A call that
//! ends gives its slots back and wakes the oldest waiter of its scopes,
//! whose job is dialled at once. The job's own retry after a backoff stays
//! on its way: the safety net for a wake that never comes.

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calling::attempt::CallAttempt;
use crate::calling::call::CallRef;
use crate::calling::dispatch::{DialResult, Dialers, Dispatcher};
use crate::calling::lead::LeadStatus;
use crate::calling::work::{DialJob, SlotScope};
use crate::kernel::error::Result;
use crate::kernel::ids::{AttemptId, CampaignId, LeadId, TenantId};
use crate::kernel::phone::Phone;
use crate::kernel::time::Clock;
use crate::ports::{CallStore, DialQueue, LeadStore};
use crate::write::{Change, Commit, Decision, Effect, Refused, UseCase, run};

/// For which scope's slot, and since when, a dial job waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub scope: SlotScope,
    pub since: Timestamp,
}

/// A dial job waiting for a slot in `scope`, kept next to the scope's slots
/// and sorted by `since`. Ids only, no number: a provider account's waiters
/// live in the partition every tenant shares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub scope: SlotScope,
    pub since: Timestamp,
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub lead: LeadId,
    pub attempt: u32,
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub tries: u32,
}

impl Waiter {
    pub fn of(job: &DialJob, waiting: &Waiting) -> Self {
        Self {
            scope: waiting.scope.clone(),
            since: waiting.since,
            tenant: job.tenant.clone(),
            campaign: job.campaign.clone(),
            lead: job.lead.clone(),
            attempt: job.attempt,
            manual: job.manual,
            tries: job.tries,
        }
    }

    pub fn attempt_id(&self) -> AttemptId {
        CallRef {
            tenant: self.tenant.clone(),
            lead: self.lead.clone(),
            attempt: self.attempt,
        }
        .attempt_id()
    }

    /// The job it stands for, woken; the number is the lead's.
    pub fn woken_job(&self, phone: Phone) -> DialJob {
        DialJob {
            tenant: self.tenant.clone(),
            campaign: self.campaign.clone(),
            lead: self.lead.clone(),
            phone,
            attempt: self.attempt,
            manual: self.manual,
            tries: self.tries,
            waiting: Some(Waiting {
                scope: self.scope.clone(),
                since: self.since,
            }),
            woken: true,
        }
    }

    /// Oldest first; the attempt id breaks ties.
    fn order(&self) -> (Timestamp, AttemptId) {
        (self.since, self.attempt_id())
    }
}

/// The slots of a call that ended: the jobs waiting for them are woken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wake {
    /// The ended call's tenant (its wake is recorded there, done once).
    pub tenant: TenantId,
    /// The attempt that gave its slots back.
    pub freed_by: AttemptId,
    pub scopes: Vec<SlotScope>,
}

impl Wake {
    pub fn after(attempt: &CallAttempt) -> Self {
        Self {
            tenant: attempt.tenant.clone(),
            freed_by: attempt.id.clone(),
            scopes: SlotScope::of_attempt(attempt).to_vec(),
        }
    }
}

/// An ended call's slots given back, and the wake of the jobs waiting for
/// them: every decision that gives slots back uses both.
pub fn give_back(attempt: &CallAttempt) -> (Change, Effect) {
    (
        Change::release_slots(attempt),
        Effect::Wake(Wake::after(attempt)),
    )
}

/// How many waiters one wake takes at most, one after the other, while the
/// ones it took could not use the slots (their lead moved on, or another of
/// their scopes is full).
pub const WAKE_CLAIMS: usize = 3;

/// Takes the oldest waiter of a wake's scopes that it has not tried yet.
/// The claim is recorded under the wake's call, numbered: the same wake
/// delivered again takes nobody.
struct ClaimWaiter<'a, S> {
    store: &'a S,
    wake: &'a Wake,
    claim: usize,
    tried: &'a [AttemptId],
}

#[async_trait]
impl<S: CallStore> UseCase for ClaimWaiter<'_, S> {
    type State = Option<Waiter>;
    type Answer = Option<Waiter>;
    const WHAT: &'static str = "the jobs waiting for a slot";

    async fn load(&self) -> Result<Option<Waiter>> {
        // The ones tried already may still be first (waiting again).
        let limit = self.tried.len() as u32 + 1;
        let found = futures::future::join_all(
            self.wake
                .scopes
                .iter()
                .map(|scope| self.store.waiters(scope, limit)),
        )
        .await;
        let mut oldest: Option<Waiter> = None;
        for waiters in found {
            for waiter in waiters? {
                if self.tried.contains(&waiter.attempt_id()) {
                    continue;
                }
                if oldest.as_ref().is_none_or(|o| waiter.order() < o.order()) {
                    oldest = Some(waiter);
                }
            }
        }
        Ok(oldest)
    }

    fn decide(&self, oldest: Option<Waiter>, _: Timestamp) -> Result<Decision<Option<Waiter>>> {
        let Some(waiter) = oldest else {
            return Ok(Decision::answer(None));
        };
        Ok(Decision::new(
            vec![
                Change::Dedupe {
                    tenant: self.wake.tenant.clone(),
                    key: format!("wake#{}#{}", self.wake.freed_by, self.claim),
                },
                Change::Claim(waiter.clone()),
            ],
            Vec::new(),
            Some(waiter),
        ))
    }

    fn refused(&self, refused: &Refused, _: Timestamp) -> Option<Decision<Option<Waiter>>> {
        // This wake was delivered before and took its waiter then.
        (*refused == Refused::Duplicate).then(|| Decision::answer(None))
    }
}

impl<S, Q, D, C> Dispatcher<'_, S, Q, D, C>
where
    S: CallStore + LeadStore + Commit,
    Q: DialQueue,
    D: Dialers,
    C: Clock,
{
    /// A call gave its slots back: the oldest job waiting for a slot in one
    /// of its scopes is dialled now. If that job cannot use them (its lead
    /// moved on, or it waits again for a scope of its own), the next oldest
    /// is, up to [`WAKE_CLAIMS`]. Answers each waiter taken and what
    /// its job came to.
    pub async fn wake(&self, wake: &Wake) -> Result<Vec<(Waiter, DialResult)>> {
        let mut tried = Vec::new();
        let mut results = Vec::new();
        for claim in 0..WAKE_CLAIMS {
            let take = ClaimWaiter {
                store: self.store,
                wake,
                claim,
                tried: &tried,
            };
            let Some(waiter) = run(self.store, &self.effects(), &take, self.clock.now()).await?
            else {
                break;
            };
            tried.push(waiter.attempt_id());
            let lead = self.store.lead(&waiter.tenant, &waiter.lead).await?;
            let Some(lead) =
                lead.filter(|l| l.status == LeadStatus::Queued && l.attempts == waiter.attempt)
            else {
                results.push((waiter, DialResult::Dropped("its lead has moved on")));
                continue;
            };
            let result = self.dial(&waiter.woken_job(lead.phone)).await?;
            // The slots were handed on, unless the job took none and left
            // them free: it had nothing left to do, or it waits again for
            // a scope of its own that this call does not share. (One that
            // finds a freed scope full again lost it to a job that came in
            // meanwhile: the slot was used.)
            let handed = match &result {
                DialResult::WaitsForSlot { scope } => wake.scopes.contains(scope),
                DialResult::Dropped(_)
                | DialResult::Waiting(_)
                | DialResult::Suppressed
                | DialResult::NotOwed(_) => false,
                _ => true,
            };
            results.push((waiter, result));
            if handed {
                break;
            }
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests;
