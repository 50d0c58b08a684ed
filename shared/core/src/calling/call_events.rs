//! Applying what a provider tells about a call. Events come late, twice and
//! out of order; every change here is monotone, so any order of the same
//! events ends in the same lead, attempt, usage and slots.

use jiff::Timestamp;

use crate::billing::UsageRecord;
use crate::calling::attempt::{AttemptStatus, CallAttempt};
use crate::calling::call::{CallEvent, CallPhase};
use crate::calling::details::StatedDetails;
use crate::calling::follow_up::plan_after_call;
use crate::calling::lead::{CallOutcome, Lead, LeadStatus};
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::calling::waiting::give_back;
use crate::intake::tenant::Tenant;
use crate::kernel::error::Result;
use crate::messaging::after_call::after_call;
use crate::ports::{CallContext, CallStore};
use crate::write::{Change, Commit, Decision, Effects, Entity, Refused, UseCase, run};
use async_trait::async_trait;

/// What became of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventResult {
    Applied,
    /// Seen before (same dedupe key), or it adds nothing to what is known.
    Unchanged,
    /// The call carries no leadline metadata: not a call leadline started.
    NotOurs,
    /// The metadata names a lead or attempt that does not exist.
    UnknownCall,
}

/// The writes an event causes, decided from the state it finds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventChange {
    pub lead: Option<Lead>,
    pub attempt: Option<CallAttempt>,
    pub release_slots: bool,
    pub usage: Option<UsageRecord>,
    pub suppress: Option<Suppression>,
}

impl EventChange {
    pub fn is_empty(&self) -> bool {
        self.lead.is_none() && self.attempt.is_none()
    }
}

/// The rule: merge the event into the attempt, move the lead on, and when the
/// call has just ended give its slots back (and wake a job waiting for
/// them, [`apply`]); record usage once the call's
/// length is known; add a "do not call me" to the tenant's list.
pub fn decide_event(
    tenant: &Tenant,
    lead: &Lead,
    attempt: &CallAttempt,
    event: &CallEvent,
    now: Timestamp,
) -> EventChange {
    let mut next_attempt = attempt.clone();
    let mut next_lead = lead.clone();
    let number = attempt.number;

    if !event.provider_call_id.is_empty() {
        next_attempt
            .provider_call_id
            .get_or_insert_with(|| event.provider_call_id.clone());
    }
    next_attempt.report.fill_from(&event.report);
    next_attempt.advance(AttemptStatus::of_phase(event.phase));

    let ended = matches!(event.phase, CallPhase::Ended | CallPhase::Analyzed);
    let outcome = match (&event.outcome, ended) {
        (Some(outcome), _) => Some(outcome.clone()),
        (None, true) => Some(CallOutcome::Failed { retryable: true }),
        (None, false) => None,
    };
    if let Some(outcome) = outcome
        && next_attempt
            .outcome
            .as_ref()
            .is_none_or(|known| outcome.weight() > known.weight())
    {
        next_attempt.outcome = Some(outcome);
    }

    match (event.phase, &next_attempt.outcome) {
        (CallPhase::Started, _) => {
            next_lead.start_call(number, now).ok();
        }
        (CallPhase::Ended | CallPhase::Analyzed, Some(outcome)) => {
            let retries_left = tenant.retry_policy.delay_after(number).is_some();
            let finished = next_lead.finish_call(number, outcome.clone(), retries_left, now);
            if finished == Ok(crate::calling::lead::Change::Applied) {
                plan_after_call(tenant, &mut next_lead, &next_attempt.report, now);
            }
        }
        _ => {}
    }

    // An opt-out wins whichever call it was said on: a late event of an
    // attempt the sweep gave up on still stops the lead.
    if event.outcome == Some(CallOutcome::DoNotCall) {
        next_lead.suppress(OPTED_OUT, now);
    }

    // What the lead said about themselves fills what the lead lacks.
    if let Some(structured) = &event.report.structured {
        let details = StatedDetails::read(structured, Some(tenant.default_region));
        for (field, why) in &details.unusable {
            tracing::info!(
                tenant = %tenant.id, lead = %lead.id, attempt = number,
                field = field.as_str(), why, "a detail the lead gave on the call is ignored"
            );
        }
        next_lead.fill_from_call(&details);
    }

    // Only a call leadline placed took slots to give back.
    let release_slots = attempt.holds_slots() && !attempt.is_ended() && next_attempt.is_ended();
    let usage = usage_due(tenant, &next_attempt, event.phase);
    if usage.is_some() {
        next_attempt.usage_recorded = true;
    }
    EventChange {
        suppress: opted_out(tenant, lead, &next_lead, now),
        lead: (next_lead != *lead).then_some(next_lead),
        attempt: (next_attempt != *attempt).then_some(next_attempt),
        release_slots,
        usage,
    }
}

const OPTED_OUT: &str = "asked not to be called again during a call";

/// The do-not-call entry of a lead that has just asked for it on a call.
fn opted_out(tenant: &Tenant, before: &Lead, after: &Lead, now: Timestamp) -> Option<Suppression> {
    (before.status != LeadStatus::DoNotCall && after.status == LeadStatus::DoNotCall).then(|| {
        Suppression {
            tenant: tenant.id.clone(),
            address: before.phone.clone().into(),
            source: SuppressionSource::Call,
            reason: OPTED_OUT.into(),
            at: now,
        }
    })
}

/// What a "do not call me" said on a call that is no longer its attempt's
/// (the attempt was dialled again after its create-call request timed out)
/// still changes: the lead stops and its number goes on the list. Nothing
/// else of that call is applied.
fn opt_out_of_another_call(
    tenant: &Tenant,
    lead: &Lead,
    event: &CallEvent,
    now: Timestamp,
) -> Option<EventChange> {
    if event.outcome != Some(CallOutcome::DoNotCall) {
        return None;
    }
    let mut next_lead = lead.clone();
    next_lead.suppress(OPTED_OUT, now);
    Some(EventChange {
        suppress: opted_out(tenant, lead, &next_lead, now),
        lead: (next_lead != *lead).then_some(next_lead),
        attempt: None,
        release_slots: false,
        usage: None,
    })
}

/// One usage record per ended call, as soon as its length is known: the
/// end event's duration, its start and end times, or, once the final report
/// says nothing of either, no time at all (the call never connected).
fn usage_due(tenant: &Tenant, attempt: &CallAttempt, phase: CallPhase) -> Option<UsageRecord> {
    if !attempt.is_ended() || attempt.usage_recorded {
        return None;
    }
    let report = &attempt.report;
    let measured = report.duration_ms.or_else(|| {
        let (start, end) = (report.started_at?, report.ended_at?);
        u64::try_from(end.duration_since(start).as_millis()).ok()
    });
    let duration_ms = match (measured, phase) {
        (Some(ms), _) => ms,
        (None, CallPhase::Analyzed) => 0,
        (None, _) => return None,
    };
    Some(UsageRecord::for_call(
        tenant.id.clone(),
        attempt.id.clone(),
        duration_ms,
        tenant.rate_per_minute,
        report.ended_at.unwrap_or(attempt.created_at),
    ))
}

/// Applies one event: one read of tenant, lead and attempt, one atomic write
/// of everything it changes together with its dedupe key.
pub struct ApplyCallEvent<'a, S: ?Sized> {
    pub store: &'a S,
    pub event: &'a CallEvent,
}

#[async_trait]
impl<S: CallStore + ?Sized> UseCase for ApplyCallEvent<'_, S> {
    type State = Option<CallContext>;
    type Answer = EventResult;
    const WHAT: &'static str = "the call";

    async fn load(&self) -> Result<Option<CallContext>> {
        match &self.event.call {
            Some(call) => Ok(Some(self.store.call_context(call).await?)),
            None => Ok(None),
        }
    }

    fn decide(&self, ctx: Option<CallContext>, now: Timestamp) -> Result<Decision<EventResult>> {
        Ok(apply(ctx, self.event, now))
    }

    fn refused(&self, refused: &Refused, _: Timestamp) -> Option<Decision<EventResult>> {
        (*refused == Refused::Duplicate).then(|| Decision::answer(EventResult::Unchanged))
    }
}

/// The whole rule of an event, from what was read: whose call it is, and
/// what it changes ([`decide_event`]).
pub fn apply(ctx: Option<CallContext>, event: &CallEvent, now: Timestamp) -> Decision<EventResult> {
    let Some(ctx) = ctx else {
        return Decision::answer(EventResult::NotOurs);
    };
    let (Some(tenant), Some(attempt)) = (ctx.tenant, ctx.attempt) else {
        return Decision::answer(EventResult::UnknownCall);
    };
    let another_call = attempt.provider != event.provider
        || attempt
            .provider_call_id
            .as_ref()
            .is_some_and(|id| *id != event.provider_call_id);
    let dedupe = Change::Dedupe {
        tenant: tenant.id.clone(),
        key: event.dedupe_key.clone(),
    };
    let Some(lead) = ctx.lead else {
        if another_call {
            return Decision::answer(EventResult::UnknownCall);
        }
        // The lead was deleted while its call was in flight: the call
        // still ends, and gives its slots back.
        let ends = matches!(event.phase, CallPhase::Ended | CallPhase::Analyzed);
        if !ends || attempt.is_ended() {
            return Decision::answer(EventResult::UnknownCall);
        }
        let mut ended = attempt.clone();
        ended.advance(AttemptStatus::Ended);
        let mut changes = vec![dedupe, Change::Save(Entity::Attempt(ended))];
        let mut effects = Vec::new();
        if attempt.holds_slots() {
            let (release, wake) = give_back(&attempt);
            changes.push(release);
            effects.push(wake);
        }
        return Decision::new(changes, effects, EventResult::Applied);
    };
    let change = if another_call {
        match opt_out_of_another_call(&tenant, &lead, event, now) {
            Some(change) if !change.is_empty() => change,
            _ => return Decision::answer(EventResult::UnknownCall),
        }
    } else {
        decide_event(&tenant, &lead, &attempt, event, now)
    };
    if change.is_empty() {
        return Decision::answer(EventResult::Unchanged);
    }
    let mut changes = vec![dedupe];
    let mut effects = Vec::new();
    if let Some(mut lead) = change.lead {
        effects = lead.take_effects();
        changes.push(Change::Save(Entity::Lead(lead)));
    }
    if let Some(next) = change.attempt {
        changes.push(Change::Save(Entity::Attempt(next)));
    }
    if change.release_slots {
        let (release, wake) = give_back(&attempt);
        changes.push(release);
        effects.push(wake);
    }
    if let Some(usage) = change.usage {
        changes.push(Change::Create(Entity::Usage(usage)));
    }
    if let Some(entry) = change.suppress {
        changes.push(Change::Suppress(entry));
    }
    // The analysis is in: the tenant's rules send their messages.
    if event.phase == CallPhase::Analyzed
        && let (Some(settings), Some(lead), Some(attempt)) = (
            &ctx.messaging,
            changes
                .iter()
                .find_map(|c| match c {
                    Change::Save(Entity::Lead(l)) => Some(l.clone()),
                    _ => None,
                })
                .or_else(|| Some(lead.clone())),
            changes.iter().find_map(|c| match c {
                Change::Save(Entity::Attempt(a)) => Some(a.clone()),
                _ => None,
            }),
        )
    {
        effects.extend(
            after_call(settings, &lead, &attempt, now)
                .into_iter()
                .map(crate::write::Effect::Send),
        );
    }
    Decision::new(changes, effects, EventResult::Applied)
}

/// Applies one event through the runner: commit, then the effects.
pub async fn apply_call_event<S, E>(
    store: &S,
    effects: &E,
    event: &CallEvent,
    now: Timestamp,
) -> Result<EventResult>
where
    S: CallStore + Commit + ?Sized,
    E: Effects + ?Sized,
{
    run(store, effects, &ApplyCallEvent { store, event }, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling::call::{CallRef, CallReport};
    use crate::calling::dispatch::DialResult;
    use crate::calling::dispatch::tests::{FakeDialer, World};
    use crate::calling::lead::LeadStatus;
    use crate::intake::tenant::VoiceProvider;
    use crate::kernel::money::Cents;
    use crate::ports::SuppressionStore;

    /// A world with lead 0's first call placed as `call_1`.
    async fn placed() -> (World, crate::calling::work::DialJob) {
        let w = World::new(1, FakeDialer::default()).await;
        let job = w.queue_lead(0).await;
        assert!(matches!(w.dial(&job).await, DialResult::Placed { .. }));
        (w, job)
    }

    fn retell_events(w: &World, job: &crate::calling::work::DialJob) -> Vec<CallEvent> {
        let mut analyzed = w.event(
            job,
            "call_1",
            CallPhase::Analyzed,
            Some(CallOutcome::AppointmentSet),
        );
        analyzed.report.summary = Some("Booked for Tuesday 3 pm".into());
        vec![
            w.event(job, "call_1", CallPhase::Started, None),
            w.event(
                job,
                "call_1",
                CallPhase::Ended,
                Some(CallOutcome::Completed),
            ),
            analyzed,
        ]
    }

    fn vapi_events(w: &World, job: &crate::calling::work::DialJob) -> Vec<CallEvent> {
        let mut ringing = w.event(job, "call_1", CallPhase::Ringing, None);
        let mut started = w.event(job, "call_1", CallPhase::Started, None);
        let mut ended = w.event(
            job,
            "call_1",
            CallPhase::Ended,
            Some(CallOutcome::Completed),
        );
        ended.report.duration_ms = None;
        let mut report = w.event(
            job,
            "call_1",
            CallPhase::Analyzed,
            Some(CallOutcome::NotInterested),
        );
        report.report = CallReport {
            started_at: Some("2026-11-23T18:00:05Z".parse().unwrap()),
            ended_at: Some("2026-11-23T18:01:35Z".parse().unwrap()),
            summary: Some("Not now".into()),
            ..CallReport::default()
        };
        for e in [&mut ringing, &mut started, &mut ended, &mut report] {
            e.provider = VoiceProvider::Retell; // the world's tenant calls through Retell
        }
        vec![ringing, started, ended, report]
    }

    /// The lead, the attempt (without its version), usage and slots after `events`.
    async fn outcome_of(
        events: &[CallEvent],
    ) -> (
        Lead,
        crate::calling::attempt::CallAttempt,
        Vec<crate::billing::UsageRecord>,
        usize,
    ) {
        let (w, _) = placed().await;
        for e in events {
            apply_call_event(&w.store, &w.effects(), e, w.clock_now())
                .await
                .unwrap();
        }
        let mut lead = w.lead(0).await;
        lead.version = 0;
        lead.updated_at = Timestamp::UNIX_EPOCH;
        let mut attempt = w.store.attempts().remove(0);
        attempt.version = 0;
        (lead, attempt, w.store.usage_records(), w.store.slots_held())
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut all = Vec::new();
        for rest in permutations(n - 1) {
            for i in 0..=rest.len() {
                let mut p = rest.clone();
                p.insert(i, n - 1);
                all.push(p);
            }
        }
        all
    }

    #[tokio::test]
    async fn every_order_of_every_event_twice_ends_as_the_events_in_order() {
        let (w, job) = placed().await;
        for events in [retell_events(&w, &job), vapi_events(&w, &job)] {
            let in_order = outcome_of(&events).await;
            assert_eq!(in_order.3, 0, "the end gives every slot back");
            assert_eq!(in_order.2.len(), 1, "one usage record");
            for order in permutations(events.len()) {
                // Each event delivered twice, the copy right after or at the end.
                let mut shuffled: Vec<CallEvent> =
                    order.iter().map(|&i| events[i].clone()).collect();
                shuffled.extend(order.iter().rev().map(|&i| events[i].clone()));
                assert_eq!(outcome_of(&shuffled).await, in_order, "order {order:?}");
            }
        }
    }

    #[tokio::test]
    async fn the_analysis_wins_and_usage_is_billed_by_the_second_rounded_up() {
        let (w, job) = placed().await;
        let (lead, attempt, usage, _) = outcome_of(&retell_events(&w, &job)).await;
        assert_eq!(lead.status, LeadStatus::Booked);
        assert_eq!(
            attempt.report.summary.as_deref(),
            Some("Booked for Tuesday 3 pm")
        );
        // 61.5 s is 62 billable seconds: 62 x 20c / 60 = 20.67c, rounded up.
        assert_eq!(
            (usage[0].billable_seconds, usage[0].amount),
            (62, Cents(21))
        );
    }

    #[tokio::test]
    async fn a_duplicate_event_changes_nothing() {
        let (w, job) = placed().await;
        let ended = w.event(
            &job,
            "call_1",
            CallPhase::Ended,
            Some(CallOutcome::NoAnswer),
        );
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &ended, w.clock_now())
                .await
                .unwrap(),
            EventResult::Applied
        );
        let before = (w.lead(0).await, w.store.attempts(), w.store.usage_records());
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &ended, w.clock_now())
                .await
                .unwrap(),
            EventResult::Unchanged
        );
        assert_eq!(
            (w.lead(0).await, w.store.attempts(), w.store.usage_records()),
            before
        );
    }

    #[tokio::test]
    async fn do_not_call_me_suppresses_the_lead_and_its_number() {
        let (w, job) = placed().await;
        let dnc = w.event(
            &job,
            "call_1",
            CallPhase::Analyzed,
            Some(CallOutcome::DoNotCall),
        );
        apply_call_event(&w.store, &w.effects(), &dnc, w.clock_now())
            .await
            .unwrap();
        assert_eq!(w.lead(0).await.status, LeadStatus::DoNotCall);
        let listed = w
            .store
            .suppressions(&w.tenant.id, &Default::default())
            .await
            .unwrap();
        assert_eq!(listed.items[0].address, w.leads[0].phone.e164());
    }

    #[tokio::test]
    async fn the_call_of_a_lead_deleted_meanwhile_still_ends_and_gives_its_slots_back() {
        let (w, job) = placed().await;
        let lead = w.lead(0).await;
        use crate::write::{Change, Commit, Entity};
        w.store
            .commit(&[Change::Delete(Entity::Lead(lead))])
            .await
            .unwrap();
        let started = w.event(&job, "call_1", CallPhase::Started, None);
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &started, w.clock_now())
                .await
                .unwrap(),
            EventResult::UnknownCall
        );
        assert_eq!(w.store.slots_held(), 3);
        let ended = w.event(
            &job,
            "call_1",
            CallPhase::Ended,
            Some(CallOutcome::NoAnswer),
        );
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &ended, w.clock_now())
                .await
                .unwrap(),
            EventResult::Applied
        );
        assert_eq!(w.store.slots_held(), 0);
        assert!(w.store.attempts()[0].is_ended());
    }

    #[tokio::test]
    async fn events_about_calls_leadline_did_not_start_are_not_applied() {
        let (w, job) = placed().await;
        let mut foreign = w.event(
            &job,
            "call_9",
            CallPhase::Ended,
            Some(CallOutcome::Completed),
        );
        foreign.call = None;
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &foreign, w.clock_now())
                .await
                .unwrap(),
            EventResult::NotOurs
        );
        let mut unknown = foreign.clone();
        unknown.call = Some(CallRef {
            attempt: 7,
            ..job.call()
        });
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &unknown, w.clock_now())
                .await
                .unwrap(),
            EventResult::UnknownCall
        );
        let mut other_call = w.event(
            &job,
            "call_9",
            CallPhase::Ended,
            Some(CallOutcome::Completed),
        );
        other_call.call = Some(job.call());
        assert_eq!(
            apply_call_event(&w.store, &w.effects(), &other_call, w.clock_now())
                .await
                .unwrap(),
            EventResult::UnknownCall,
            "the attempt is call_1's"
        );
        assert_eq!(w.lead(0).await.status, LeadStatus::Calling);
    }
}
