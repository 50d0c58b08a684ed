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
//! - Effects of a committed change that its runner did not carry out (an
//!   outbox older than its grace): carried out now, whatever their kind.

use jiff::{SignedDuration, Timestamp};

use crate::calling::attempt::CallAttempt;
use crate::calling::call::{CallEvent, CallLookup, CallPhase, CallRef, CallReport};
use crate::calling::call_events::{EventResult, apply_call_event};
use crate::calling::follow_up::{FireFollowUp, Fired, FiredBy};
use crate::calling::lead::{CallOutcome, Lead};
use crate::calling::work::FollowUp;
use crate::intake::tenant::VoiceProvider;
use crate::kernel::error::Result;
use crate::ports::{
    CallStore, DialQueue, DueWork, FollowUpScheduler, LeadStore, MessageQueue, PageRequest,
    SweepStore,
};
use crate::write::{Commit, Effect, EffectPorts, Effects, Outbox, run};

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
    /// Messages handed to the messenger now (from outboxes left behind).
    pub messages_queued: usize,
    /// Outboxes left behind by a runner, carried out now.
    pub outboxes_finished: usize,
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
    S: SweepStore + CallStore + LeadStore + Commit,
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
                    DueWork::Outbox(outbox) => self.finish(&outbox, now, &mut report).await,
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
        let applied = apply_call_event(self.store, &self.effects(), &event, now).await?;
        match (applied, settled_by_provider) {
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
            applied
        ));
        Ok(())
    }

    async fn catch_up(&self, lead: &Lead, now: Timestamp, report: &mut SweepReport) -> Result<()> {
        let owed = FollowUp::of(lead).filter(|f| f.due_at <= now);
        let Some(owed) = owed else {
            report.nothing_to_do += 1;
            return Ok(());
        };
        // The lead is queued, its job put on the dial queue and a schedule
        // that exists after all deleted, from the lead's one commit.
        let fire = FireFollowUp {
            store: self.store,
            follow_up: &owed,
            by: FiredBy::Sweep,
        };
        let Fired::Queued(_) = run(self.store, &self.effects(), &fire, now).await? else {
            report.nothing_to_do += 1;
            return Ok(());
        };
        report.log.push(format!(
            "lead {} of tenant {}: the schedule of attempt {} never fired; queued now",
            lead.id, lead.tenant, owed.attempt
        ));
        report.follow_ups_queued += 1;
        Ok(())
    }

    /// An outbox a runner left: its effects are carried out (each is
    /// idempotent by its id), then it goes.
    async fn finish(
        &self,
        outbox: &Outbox,
        now: Timestamp,
        report: &mut SweepReport,
    ) -> Result<()> {
        // A schedule effect left behind may have been overtaken by a later
        // commit of the same lead (a callback that moved the schedule): only
        // what the lead owes now is done again.
        let mut effects = Vec::with_capacity(outbox.effects.len());
        for effect in &outbox.effects {
            let still = match effect {
                Effect::ScheduleCall(f) => self.owed_now(f).await?.as_ref() == Some(f),
                Effect::CancelCall(f) => self
                    .owed_now(f)
                    .await?
                    .is_none_or(|owed| owed.schedule_name() != f.schedule_name()),
                _ => true,
            };
            if still {
                effects.push(effect.clone());
            }
        }
        self.effects().carry_out(&effects, now).await?;
        self.store.clear_outbox(outbox).await?;
        report.outboxes_finished += 1;
        report.messages_queued += outbox
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::Send(_)))
            .count();
        report.log.push(format!(
            "outbox {} of tenant {}: {} effect(s) carried out",
            outbox.id,
            outbox.tenant,
            outbox.effects.len()
        ));
        Ok(())
    }

    /// The call the lead of `f` is owed now, if any.
    async fn owed_now(&self, f: &FollowUp) -> Result<Option<FollowUp>> {
        let lead = self.store.lead(&f.tenant, &f.lead).await?;
        Ok(lead.as_ref().and_then(FollowUp::of))
    }

    fn effects(&self) -> EffectPorts<'_, F, Q, M> {
        EffectPorts {
            scheduler: self.scheduler,
            dial_queue: self.queue,
            messages: self.messages,
        }
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
