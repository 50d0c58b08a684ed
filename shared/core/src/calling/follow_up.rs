//! What leadline owes a lead after a call: another attempt on the tenant's
//! cadence, the callback the lead asked for, or, once every attempt went
//! unanswered, fallback messages.
//!
//! The owed call is state on the lead ([`Lead::next_call`]), written with the
//! event that caused it; the EventBridge schedule that places it is the
//! effect [`Lead::owe`] records, carried out after the write. If carrying it
//! out fails, its outbox and the lead still say what it is owed, and the
//! sweep ([`crate::calling::sweep`]) does it.

use jiff::Timestamp;

use crate::calling::call::CallReport;
use crate::calling::callback_time::{RequestedTime, requested_callback};
use crate::calling::calling_hours::{lead_zone, next_call_time, next_window_opening};
use crate::calling::lead::{
    CallOutcome, Change, Lead, LeadMessage, LeadStatus, NextCall, NextCallKind,
};
use crate::calling::work::{DialJob, DialMessage, FollowUp};
use crate::intake::tenant::Tenant;
use crate::kernel::error::Result;
use crate::kernel::ids::MessageId;
use crate::messaging::message::{Channel, MessagePurpose, MessageStatus, Recipient};
use crate::ports::LeadStore;
use crate::write::{Change as WriteChange, Decision, Effect, Entity, UseCase};
use async_trait::async_trait;

/// The template of the message sent when no call got through.
pub const FALLBACK_TEMPLATE: &str = "call_fallback";

/// Decides what a lead is owed now that attempt `lead.attempts` ended and
/// moved it to `retry_pending`, `callback_pending` or `exhausted`: the time of
/// the next call (inside the lead's calling hours), or the fallback messages.
/// Anything that moved the time is written in the lead's note.
pub fn plan_after_call(tenant: &Tenant, lead: &mut Lead, report: &CallReport, now: Timestamp) {
    let attempt = lead.attempts + 1;
    match lead.status {
        LeadStatus::RetryPending => {
            let planned = lead.next_call.as_ref();
            if planned.is_some_and(|n| n.kind == NextCallKind::Retry && n.attempt == attempt) {
                // A later event of the same call said a little more: the retry keeps its time.
                return;
            }
            let wait = tenant
                .retry_policy
                .delay_after(lead.attempts)
                .unwrap_or_default();
            match next_call_time(lead, tenant, now + wait) {
                Some(at) => {
                    lead.owe(Some(NextCall {
                        kind: NextCallKind::Retry,
                        attempt,
                        at,
                    }));
                }
                None => never_callable(lead, now),
            }
        }
        LeadStatus::CallbackPending => {
            let stated = match &lead.outcome {
                Some(CallOutcome::CallbackRequested { at }) => *at,
                _ => None,
            };
            let zone = lead_zone(lead, tenant);
            let requested = requested_callback(stated, report.structured.as_ref(), &zone, now);
            let (at, note) = callback_slot(tenant, lead, &requested, now);
            match at {
                Some(at) => {
                    lead.owe(Some(NextCall {
                        kind: NextCallKind::Callback,
                        attempt,
                        at,
                    }));
                    lead.note = note;
                }
                None => never_callable(lead, now),
            }
        }
        LeadStatus::Exhausted => {
            lead.note = Some(format!(
                "no answer after {} attempts; fallback messages queued",
                lead.attempts
            ));
            for message in fallback_messages(lead, now) {
                lead.send(message);
            }
        }
        _ => {}
    }
}

/// The windows never meet: the lead is recorded as why it is not called.
fn never_callable(lead: &mut Lead, now: Timestamp) {
    lead.status = LeadStatus::Failed;
    lead.owe(None);
    lead.updated_at = now;
    lead.note = Some("the tenant's calling hours never meet the legal ones".into());
}

/// When to call back, and the note that says why it is not the time asked
/// for: a past or unreadable time moves to the next opening of the lead's
/// calling window, a time outside the window to the window's next opening after it.
fn callback_slot(
    tenant: &Tenant,
    lead: &Lead,
    requested: &RequestedTime,
    now: Timestamp,
) -> (Option<Timestamp>, Option<String>) {
    let zone = lead_zone(lead, tenant);
    let local = |t: Timestamp| zone.local(t).strftime("%a %Y-%m-%d %H:%M %Z").to_string();
    match requested {
        RequestedTime::At(asked) if *asked > now => {
            let at = next_call_time(lead, tenant, *asked);
            let note = at.filter(|at| at != asked).map(|at| {
                format!(
                    "callback asked for {}, outside calling hours: calling at {}",
                    local(*asked),
                    local(at)
                )
            });
            (at, note)
        }
        RequestedTime::At(asked) => {
            let at = next_window_opening(lead, tenant, now);
            let note = at.map(|at| {
                format!(
                    "callback asked for {}, already past: calling at {}",
                    local(*asked),
                    local(at)
                )
            });
            (at, note)
        }
        RequestedTime::Unreadable(words) => {
            let at = next_window_opening(lead, tenant, now);
            let note = at.map(|at| {
                format!(
                    "callback asked for {words:?}, which could not be read: calling at {}",
                    local(at)
                )
            });
            (at, note)
        }
        RequestedTime::NotGiven => {
            let at = next_window_opening(lead, tenant, now);
            let note =
                at.map(|at| format!("callback asked for with no time: calling at {}", local(at)));
            (at, note)
        }
    }
}

/// WhatsApp when the lead has a WhatsApp number, else SMS; and email when
/// there is an address. One message per channel per exhausted attempt.
fn fallback_messages(lead: &Lead, now: Timestamp) -> Vec<LeadMessage> {
    let mut to = vec![match &lead.whatsapp {
        Some(whatsapp) => (Channel::Whatsapp, Recipient::from(whatsapp.clone())),
        None => (Channel::Sms, Recipient::from(lead.phone.clone())),
    }];
    if let Some(email) = &lead.email {
        to.push((Channel::Email, Recipient::from(email.clone())));
    }
    to.into_iter()
        .map(|(channel, to)| LeadMessage {
            id: MessageId::derive(
                &lead.id,
                "fallback",
                channel.as_str(),
                &lead.attempts.to_string(),
            ),
            channel,
            purpose: MessagePurpose::Fallback,
            template: FALLBACK_TEMPLATE.into(),
            to,
            status: MessageStatus::Queued,
            at: now,
        })
        .collect()
}

/// What became of an owed call when its time came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fired {
    /// The lead is queued for the attempt; dial this job.
    Queued(DialJob),
    /// Nothing to do, and why (logged by the caller).
    Skipped(String),
}

/// An owed call's time came (its schedule fired, or the sweep found it
/// overdue): the lead is queued for the attempt if it still is owed exactly
/// this call. Firing twice queues once; a lead queued for this attempt
/// already gets its job again (the earlier delivery may have died before
/// sending it), and the dispatcher places at most one call per attempt.
pub fn fire(
    lead: Option<Lead>,
    follow_up: &FollowUp,
    by: FiredBy,
    now: Timestamp,
) -> Decision<Fired> {
    let Some(mut lead) = lead else {
        return Decision::answer(Fired::Skipped("the lead was deleted".into()));
    };
    if lead.status == LeadStatus::Queued && lead.attempts == follow_up.attempt {
        let job = DialJob::for_lead(&lead, false);
        return match by {
            FiredBy::Schedule => Decision::answer(Fired::Queued(job)),
            // Queued before, and still queued: its job may have been lost.
            FiredBy::Sweep => Decision::effects(
                vec![Effect::Dial {
                    message: DialMessage::Dial(job.clone()),
                    at: now,
                }],
                Fired::Queued(job),
            ),
        };
    }
    match &lead.next_call {
        None => {
            return Decision::answer(Fired::Skipped(format!(
                "the lead is {} and owed no call",
                lead.status.as_str()
            )));
        }
        Some(next) if next.attempt != follow_up.attempt || next.at != follow_up.due_at => {
            return Decision::answer(Fired::Skipped(format!(
                "replaced by a {:?} at {} for attempt {}",
                next.kind, next.at, next.attempt
            )));
        }
        Some(_) => {}
    }
    match lead.queue(follow_up.attempt, now) {
        Ok(Change::Applied) => {}
        Ok(Change::Unchanged(why)) => return Decision::answer(Fired::Skipped(why.into())),
        Err(illegal) => return Decision::answer(Fired::Skipped(illegal.to_string())),
    }
    let job = DialJob::for_lead(&lead, false);
    // Queuing the lead ends the owed call. Fired by its schedule, that
    // schedule is gone and the dispatcher dials at once (the schedule's
    // message comes again if it dies first). Found overdue by the sweep, the
    // schedule may exist after all (it goes) and the job goes on the dial
    // queue from the lead's commit, so a crash cannot leave it queued alone.
    let effects = match by {
        FiredBy::Schedule => {
            lead.take_effects();
            Vec::new()
        }
        FiredBy::Sweep => {
            let mut effects = lead.take_effects();
            effects.push(Effect::Dial {
                message: DialMessage::Dial(job.clone()),
                at: now,
            });
            effects
        }
    };
    Decision::new(
        vec![WriteChange::Save(Entity::Lead(lead))],
        effects,
        Fired::Queued(job),
    )
}

/// What fired an owed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FiredBy {
    /// Its schedule: the dial queue delivered it to the dispatcher.
    Schedule,
    /// The sweep, finding it overdue.
    Sweep,
}

/// [`fire`] as a use case: the lead read, and read again after a lost race.
pub struct FireFollowUp<'a, S: ?Sized> {
    pub store: &'a S,
    pub follow_up: &'a FollowUp,
    pub by: FiredBy,
}

#[async_trait]
impl<S: LeadStore + ?Sized> UseCase for FireFollowUp<'_, S> {
    type State = Option<Lead>;
    type Answer = Fired;
    const WHAT: &'static str = "the lead";

    async fn load(&self) -> Result<Option<Lead>> {
        self.store
            .lead(&self.follow_up.tenant, &self.follow_up.lead)
            .await
    }

    fn decide(&self, lead: Option<Lead>, now: Timestamp) -> Result<Decision<Fired>> {
        Ok(fire(lead, self.follow_up, self.by, now))
    }
}

#[cfg(test)]
mod tests;
