//! The sweep (a cron every 15 minutes): what should have happened and did
//! not. It reads only the index of due work (leads whose owed call or
//! messages are overdue, attempts in flight longer than a call can last),
//! never the whole table.
//!
//! - A stuck call: the provider is asked for the call; its final state is
//!   applied like any event, or, when it has none, the call is marked failed.
//!   Either way the call's slots are given back and the lead moves on.
//! - An owed call whose schedule never fired (its creation failed): the
//!   lead is queued and dialed now.
//! - Messages recorded on a lead but never handed to the messenger: sent now.

use jiff::{SignedDuration, Timestamp};

use crate::attempt::CallAttempt;
use crate::call::{CallEvent, CallLookup, CallPhase, CallRef, CallReport};
use crate::call_events::{EventResult, apply_call_event_with_effects};
use crate::dispatch::DialMessage;
use crate::error::Result;
use crate::follow_up::{Fired, FollowUp, FollowUpEffects, carry_out, fire_follow_up};
use crate::lead::{CallOutcome, Lead};
use crate::ports::{
    CallStore, DialQueue, DueWork, FollowUpScheduler, LeadStore, MessageQueue, PageRequest,
    SweepStore,
};
use crate::tenant::VoiceProvider;

/// How long a provider that cannot be asked (it fails) is given before its
/// stuck call is marked failed anyway, so that its slots are not held forever.
pub const LOOKUP_PATIENCE: SignedDuration = SignedDuration::from_hours(1);

/// The providers' accounts, to ask about calls.
pub trait Lookups: Send + Sync {
    fn lookup(&self, provider: VoiceProvider) -> &dyn CallLookup;
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Stuck calls whose final state the provider gave.
    pub settled_by_provider: usize,
    /// Stuck calls the provider had no final state for: marked failed.
    pub marked_failed: usize,
    /// Stuck calls left for the next sweep: the provider could not be asked.
    pub lookups_failed: usize,
    /// Owed calls whose schedule never fired, queued now.
    pub follow_ups_queued: usize,
    /// Messages handed to the messenger now.
    pub messages_queued: usize,
    /// Due work that needed nothing (an event or the schedule got there first).
    pub nothing_to_do: usize,
    /// Requests made to the index of due work.
    pub index_pages: usize,
    /// One line per item acted on or left, for the function's log.
    pub log: Vec<String>,
}

/// The sweep's ports.
pub struct Sweeper<'a, S, Q, L, F, M> {
    pub store: &'a S,
    pub queue: &'a Q,
    pub lookups: &'a L,
    pub scheduler: &'a F,
    pub messages: &'a M,
}

impl<S, Q, L, F, M> Sweeper<'_, S, Q, L, F, M>
where
    S: SweepStore + CallStore + LeadStore,
    Q: DialQueue,
    L: Lookups,
    F: FollowUpScheduler,
    M: MessageQueue,
{
    /// Sweeps everything due at `now` (the time the cron was scheduled for).
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let mut request = PageRequest {
            limit: PageRequest::MAX_LIMIT,
            cursor: None,
        };
        loop {
            let page = self.store.due_work(now, &request).await?;
            report.index_pages += 1;
            for work in page.items {
                let done = match work {
                    DueWork::Attempt(attempt) => {
                        self.settle_stuck(&attempt, now, &mut report).await
                    }
                    DueWork::Lead(lead) => self.catch_up(&lead, now, &mut report).await,
                };
                // One item's failure must not stop the rest; it stays due.
                if let Err(error) = done {
                    report
                        .log
                        .push(format!("an item failed and stays due: {error}"));
                }
            }
            match page.next_cursor {
                Some(cursor) => request.cursor = Some(cursor),
                None => return Ok(report),
            }
        }
    }

    async fn settle_stuck(
        &self,
        attempt: &CallAttempt,
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<()> {
        let call = CallRef {
            tenant: attempt.tenant.clone(),
            lead: attempt.lead.clone(),
            attempt: attempt.number,
        };
        let known = match &attempt.provider_call_id {
            None => Ok(None),
            Some(id) => self.lookups.lookup(attempt.provider).lookup_call(id).await,
        };
        let (event, settled_by_provider) = match known {
            Ok(Some(mut event))
                if matches!(event.phase, CallPhase::Ended | CallPhase::Analyzed) =>
            {
                event.call.get_or_insert(call);
                (event, true)
            }
            Ok(_) => (
                failed(attempt, call, "the provider has no end of the call"),
                false,
            ),
            Err(error)
                if attempt
                    .stuck_after
                    .is_some_and(|t| t + LOOKUP_PATIENCE > now) =>
            {
                report.log.push(format!(
                    "stuck call {}: the provider could not be asked ({error}); next sweep",
                    attempt.id
                ));
                report.lookups_failed += 1;
                return Ok(());
            }
            Err(error) => (
                failed(
                    attempt,
                    call,
                    &format!("the provider could not be asked: {error}"),
                ),
                false,
            ),
        };
        let applied = apply_call_event_with_effects(self.store, &event, now).await?;
        match (applied.result, settled_by_provider) {
            (EventResult::Applied, true) => report.settled_by_provider += 1,
            (EventResult::Applied, false) => report.marked_failed += 1,
            _ => report.nothing_to_do += 1,
        }
        report.log.push(format!(
            "stuck call {} of tenant {}: {} ({:?})",
            attempt.id,
            attempt.tenant,
            if settled_by_provider {
                "settled from the provider's record"
            } else {
                "marked failed"
            },
            applied.result
        ));
        self.carry_out(&applied.effects, now, report).await
    }

    async fn catch_up(&self, lead: &Lead, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let mut acted = false;
        let owed = FollowUp::of(lead).filter(|f| f.due_at <= now);
        if let Some(owed) = owed
            && let Fired::Queued(job) = fire_follow_up(self.store, &owed, now).await?
        {
            report.log.push(format!(
                "lead {} of tenant {}: the schedule of attempt {} never fired; queued now",
                lead.id, lead.tenant, owed.attempt
            ));
            self.queue
                .enqueue(&[(DialMessage::Dial(job), now)], now)
                .await?;
            // A schedule that exists after all would fire for nothing.
            self.scheduler.cancel(&owed).await?;
            report.follow_ups_queued += 1;
            acted = true;
        }
        let effects = FollowUpEffects::between(None, Some(lead));
        if !effects.messages.is_empty() {
            let messages = FollowUpEffects {
                messages: effects.messages,
                ..FollowUpEffects::default()
            };
            self.carry_out(&messages, now, report).await?;
            acted = true;
        }
        if !acted {
            report.nothing_to_do += 1;
        }
        Ok(())
    }

    async fn carry_out(
        &self,
        effects: &FollowUpEffects,
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<()> {
        carry_out(self.store, self.scheduler, self.messages, effects, now).await?;
        report.messages_queued += effects.messages.len();
        Ok(())
    }
}

/// The end of a call nobody reported: failed, worth another attempt.
fn failed(attempt: &CallAttempt, call: CallRef, why: &str) -> CallEvent {
    CallEvent {
        provider: attempt.provider,
        provider_call_id: attempt.provider_call_id.clone().unwrap_or_default(),
        dedupe_key: format!("sweep#{}", attempt.id),
        call: Some(call),
        phase: CallPhase::Analyzed,
        outcome: Some(CallOutcome::Failed { retryable: true }),
        report: CallReport {
            ended_reason: Some(format!("stuck: {why}")),
            ..CallReport::default()
        },
    }
}

#[cfg(test)]
mod tests;
