//! Applying what a provider tells about a call. Events come late, twice and
//! out of order; every change here is monotone, so any order of the same
//! events ends in the same lead, attempt, usage and slots.

use jiff::Timestamp;

use crate::attempt::{AttemptStatus, CallAttempt};
use crate::billing::UsageRecord;
use crate::call::{CallEvent, CallPhase};
use crate::dispatch::DEFAULT_MAX_ATTEMPTS;
use crate::error::{Error, Result};
use crate::lead::{CallOutcome, Lead};
use crate::ports::{CallStore, CallWrite, WriteRefused};
use crate::suppression::{Suppression, SuppressionSource};
use crate::tenant::Tenant;

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
/// call has just ended give its slots back; record usage once the call's
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

    next_attempt
        .provider_call_id
        .get_or_insert_with(|| event.provider_call_id.clone());
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
            let retries_left = number < DEFAULT_MAX_ATTEMPTS;
            next_lead
                .finish_call(number, outcome.clone(), retries_left, now)
                .ok();
        }
        _ => {}
    }

    let release_slots = !attempt.is_ended() && next_attempt.is_ended();
    let usage = usage_due(tenant, &next_attempt, event.phase);
    if usage.is_some() {
        next_attempt.usage_recorded = true;
    }
    let suppress = (next_attempt.outcome == Some(CallOutcome::DoNotCall)
        && lead.status != next_lead.status
        && next_lead.status == crate::lead::LeadStatus::DoNotCall)
        .then(|| Suppression {
            tenant: tenant.id.clone(),
            phone: lead.phone.clone(),
            source: SuppressionSource::Call,
            reason: "asked not to be called again during a call".into(),
            at: now,
        });

    EventChange {
        lead: (next_lead != *lead).then_some(next_lead),
        attempt: (next_attempt != *attempt).then_some(next_attempt),
        release_slots,
        usage,
        suppress,
    }
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
pub async fn apply_call_event(
    store: &impl CallStore,
    event: &CallEvent,
    now: Timestamp,
) -> Result<EventResult> {
    let Some(call) = &event.call else {
        return Ok(EventResult::NotOurs);
    };
    // A race with the dispatcher or another event is retried on fresh state.
    for _ in 0..5 {
        let ctx = store.call_context(call).await?;
        let (Some(tenant), Some(lead), Some(attempt)) = (ctx.tenant, ctx.lead, ctx.attempt) else {
            return Ok(EventResult::UnknownCall);
        };
        if attempt.provider != event.provider
            || attempt
                .provider_call_id
                .as_ref()
                .is_some_and(|id| *id != event.provider_call_id)
        {
            return Ok(EventResult::UnknownCall);
        }
        let change = decide_event(&tenant, &lead, &attempt, event, now);
        if change.is_empty() {
            return Ok(EventResult::Unchanged);
        }
        let write = CallWrite {
            dedupe_key: Some(event.dedupe_key.clone()),
            lead: change.lead,
            attempt: change.attempt,
            release_slots: change.release_slots,
            usage: change.usage,
            suppress: change.suppress,
            ..CallWrite::default()
        };
        match store.commit(&write).await? {
            Ok(()) => return Ok(EventResult::Applied),
            Err(WriteRefused::Duplicate) => return Ok(EventResult::Unchanged),
            Err(WriteRefused::Stale) => continue,
            Err(other) => {
                return Err(Error::Internal(format!(
                    "a call event's write was refused: {other:?}"
                )));
            }
        }
    }
    Err(Error::Conflict(
        "the call kept changing while the event was applied".into(),
    ))
}
