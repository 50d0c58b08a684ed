//! What leadline owes a lead after a call: another attempt on the tenant's
//! cadence, the callback the lead asked for, or, once every attempt went
//! unanswered, fallback messages.
//!
//! The owed call is state on the lead ([`Lead::next_call`]), written with the
//! event that caused it; the EventBridge schedule that places it is an effect
//! derived from the change ([`FollowUpEffects::between`]) and carried out after
//! the write. If carrying it out fails, the lead still says what it is owed,
//! and the sweep ([`crate::sweep`]) does it a grace period after it was due.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::call::CallReport;
use crate::callback_time::{RequestedTime, requested_callback};
use crate::calling_hours::{lead_zone, next_call_time, next_window_opening};
use crate::dispatch::DialJob;
use crate::error::{Error, Result};
use crate::ids::{LeadId, MessageId, TenantId};
use crate::lead::{CallOutcome, Change, Lead, LeadMessage, LeadStatus, NextCall, NextCallKind};
use crate::message::{Channel, MessageJob, MessagePurpose, MessageStatus, Recipient};
use crate::ports::{FollowUpScheduler, LeadStore, MessageQueue};
use crate::tenant::Tenant;

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
                    lead.next_call = Some(NextCall {
                        kind: NextCallKind::Retry,
                        attempt,
                        at,
                    });
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
                    lead.next_call = Some(NextCall {
                        kind: NextCallKind::Callback,
                        attempt,
                        at,
                    });
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
                if lead.messages.iter().all(|m| m.id != message.id) {
                    lead.messages.push(message);
                }
            }
        }
        _ => {}
    }
}

/// The windows never meet: the lead is recorded as why it is not called.
fn never_callable(lead: &mut Lead, now: Timestamp) {
    lead.status = LeadStatus::Failed;
    lead.next_call = None;
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
            status: MessageStatus::Pending,
            at: now,
        })
        .collect()
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

/// What a change of a lead asks of the world outside the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowUpEffects {
    /// Create (or move) the schedule of this owed call.
    pub schedule: Option<FollowUp>,
    /// Delete the schedule of a call no longer owed.
    pub cancel: Option<FollowUp>,
    /// Hand these to the messenger.
    pub messages: Vec<MessageJob>,
}

impl FollowUpEffects {
    /// The effects of a lead going from `before` to `after` (`None`: absent or deleted).
    pub fn between(before: Option<&Lead>, after: Option<&Lead>) -> Self {
        let was = before.and_then(FollowUp::of);
        let owed = after.and_then(FollowUp::of);
        let schedule = owed.clone().filter(|owed| was.as_ref() != Some(owed));
        let cancel = was.filter(|was| {
            owed.as_ref()
                .is_none_or(|owed| owed.schedule_name() != was.schedule_name())
        });
        let messages = after
            .map(|lead| {
                lead.messages
                    .iter()
                    .filter(|m| m.status == MessageStatus::Pending)
                    .map(|m| MessageJob::for_lead(lead, m))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            schedule,
            cancel,
            messages,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.schedule.is_none() && self.cancel.is_none() && self.messages.is_empty()
    }
}

/// Carries out a lead's effects: schedules, then messages, which are marked
/// queued on the lead once the messenger queue has them.
pub async fn carry_out<S, F, M>(
    store: &S,
    scheduler: &F,
    messages: &M,
    effects: &FollowUpEffects,
    now: Timestamp,
) -> Result<()>
where
    S: LeadStore + ?Sized,
    F: FollowUpScheduler + ?Sized,
    M: MessageQueue + ?Sized,
{
    if let Some(cancel) = &effects.cancel {
        scheduler.cancel(cancel).await?;
    }
    if let Some(schedule) = &effects.schedule {
        scheduler.schedule(schedule).await?;
    }
    let Some(first) = effects.messages.first() else {
        return Ok(());
    };
    messages.enqueue(&effects.messages).await?;
    for _ in 0..5 {
        let Some(mut lead) = store.lead(&first.tenant, &first.lead).await? else {
            return Ok(());
        };
        let mut changed = false;
        for m in lead.messages.iter_mut() {
            if m.status == MessageStatus::Pending && effects.messages.iter().any(|j| j.id == m.id) {
                m.status = MessageStatus::Queued;
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        lead.updated_at = now;
        match store.save_lead(&lead).await {
            Err(Error::Conflict(_)) => continue,
            other => return other,
        }
    }
    Err(Error::Conflict(
        "the lead kept changing while its messages were marked queued".into(),
    ))
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
pub async fn fire_follow_up<S: LeadStore + ?Sized>(
    store: &S,
    follow_up: &FollowUp,
    now: Timestamp,
) -> Result<Fired> {
    for _ in 0..5 {
        let Some(mut lead) = store.lead(&follow_up.tenant, &follow_up.lead).await? else {
            return Ok(Fired::Skipped("the lead was deleted".into()));
        };
        if lead.status == LeadStatus::Queued && lead.attempts == follow_up.attempt {
            return Ok(Fired::Queued(DialJob::for_lead(&lead, false)));
        }
        match &lead.next_call {
            None => {
                return Ok(Fired::Skipped(format!(
                    "the lead is {} and owed no call",
                    lead.status.as_str()
                )));
            }
            Some(next) if next.attempt != follow_up.attempt || next.at != follow_up.due_at => {
                return Ok(Fired::Skipped(format!(
                    "replaced by a {:?} at {} for attempt {}",
                    next.kind, next.at, next.attempt
                )));
            }
            Some(_) => {}
        }
        match lead.queue(follow_up.attempt, now) {
            Ok(Change::Applied) => {}
            Ok(Change::Unchanged(why)) => return Ok(Fired::Skipped(why.into())),
            Err(illegal) => return Ok(Fired::Skipped(illegal.to_string())),
        }
        match store.save_lead(&lead).await {
            Ok(()) => return Ok(Fired::Queued(DialJob::for_lead(&lead, false))),
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(Error::Conflict(
        "the lead kept changing while its follow-up was queued".into(),
    ))
}

#[cfg(test)]
mod tests;
