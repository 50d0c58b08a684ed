//! The lead and its lifecycle.
//!
//! A lead moves through attempts: queued, calling, then an outcome. Events can
//! arrive late, twice or out of order, so every transition is monotone: an
//! event about an older attempt, or one that would move the lead back within
//! its current attempt, leaves the lead as it is and says why ([`Change::Unchanged`]).
//! A transition that makes no sense at all (queueing a lead that asked not to be
//! called) is an [`IllegalTransition`].

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::calling::work::FollowUp;
use crate::kernel::email::Email;
use crate::kernel::ids::{CampaignId, LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::kernel::time::Zone;
use crate::messaging::message::{Channel, MessageJob, MessagePurpose, MessageStatus, Recipient};
use crate::write::Effect;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Imported, never dialed.
    New,
    /// A dial job for the current attempt is waiting.
    Queued,
    /// The current attempt's call is in flight.
    Calling,
    /// The last call went unanswered; another attempt is due.
    RetryPending,
    /// The lead asked to be called back at a time.
    CallbackPending,
    /// The lead booked an appointment.
    Booked,
    /// The lead was reached and the conversation is over (see the outcome).
    Completed,
    /// The lead said no.
    NotInterested,
    /// The lead asked never to be called again, or is on the do-not-call list.
    DoNotCall,
    /// The number cannot be dialed.
    Invalid,
    /// Every allowed attempt went unanswered.
    Exhausted,
    /// The calls failed in a way no retry will fix.
    Failed,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 12] = [
        LeadStatus::New,
        LeadStatus::Queued,
        LeadStatus::Calling,
        LeadStatus::RetryPending,
        LeadStatus::CallbackPending,
        LeadStatus::Booked,
        LeadStatus::Completed,
        LeadStatus::NotInterested,
        LeadStatus::DoNotCall,
        LeadStatus::Invalid,
        LeadStatus::Exhausted,
        LeadStatus::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Queued => "queued",
            LeadStatus::Calling => "calling",
            LeadStatus::RetryPending => "retry_pending",
            LeadStatus::CallbackPending => "callback_pending",
            LeadStatus::Booked => "booked",
            LeadStatus::Completed => "completed",
            LeadStatus::NotInterested => "not_interested",
            LeadStatus::DoNotCall => "do_not_call",
            LeadStatus::Invalid => "invalid",
            LeadStatus::Exhausted => "exhausted",
            LeadStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<LeadStatus> {
        LeadStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Statuses from which no more calls are placed.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            LeadStatus::Booked
                | LeadStatus::Completed
                | LeadStatus::NotInterested
                | LeadStatus::DoNotCall
                | LeadStatus::Invalid
                | LeadStatus::Exhausted
                | LeadStatus::Failed
        )
    }

    /// Where the status stands within one attempt: an event may only move a
    /// lead to a later stage.
    fn stage(&self) -> u8 {
        match self {
            LeadStatus::New | LeadStatus::RetryPending | LeadStatus::CallbackPending => 0,
            LeadStatus::Queued => 1,
            LeadStatus::Calling => 2,
            _ => 3,
        }
    }
}

/// What a call came to, as far as the lead is concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallOutcome {
    AppointmentSet,
    CallbackRequested {
        at: Option<Timestamp>,
    },
    NotInterested,
    DoNotCall,
    Qualified,
    Potential,
    NotQualified,
    /// Reached, talked, nothing more specific.
    Completed,
    NoAnswer,
    Busy,
    Voicemail,
    Failed {
        retryable: bool,
    },
    InvalidNumber,
}

impl CallOutcome {
    /// How much an outcome says. When two events about one call disagree (the
    /// end-of-call reason says "hung up", the analysis says "booked"), the one
    /// that says more wins, whatever order they arrived in.
    pub fn weight(&self) -> u8 {
        match self {
            CallOutcome::DoNotCall => 13,
            CallOutcome::InvalidNumber => 12,
            CallOutcome::AppointmentSet => 11,
            CallOutcome::CallbackRequested { .. } => 10,
            CallOutcome::NotInterested => 9,
            CallOutcome::Qualified => 8,
            CallOutcome::Potential => 7,
            CallOutcome::NotQualified => 6,
            CallOutcome::Completed => 5,
            CallOutcome::Voicemail => 4,
            CallOutcome::Busy => 3,
            CallOutcome::NoAnswer => 2,
            CallOutcome::Failed { retryable: true } => 1,
            CallOutcome::Failed { retryable: false } => 0,
        }
    }

    /// Whether another attempt may follow this outcome.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CallOutcome::NoAnswer
                | CallOutcome::Busy
                | CallOutcome::Voicemail
                | CallOutcome::Failed { retryable: true }
        )
    }

    /// The lead status this outcome leads to, given whether retries remain.
    fn status(&self, retries_left: bool) -> LeadStatus {
        match self {
            CallOutcome::AppointmentSet => LeadStatus::Booked,
            CallOutcome::CallbackRequested { .. } => LeadStatus::CallbackPending,
            CallOutcome::NotInterested => LeadStatus::NotInterested,
            CallOutcome::DoNotCall => LeadStatus::DoNotCall,
            CallOutcome::Qualified
            | CallOutcome::Potential
            | CallOutcome::NotQualified
            | CallOutcome::Completed => LeadStatus::Completed,
            CallOutcome::InvalidNumber => LeadStatus::Invalid,
            CallOutcome::Failed { retryable: false } => LeadStatus::Failed,
            _ if retries_left => LeadStatus::RetryPending,
            _ => LeadStatus::Exhausted,
        }
    }
}

/// How long scheduled work may be late before the sweep does it instead:
/// Scheduler fires within a minute of its time.
pub const SWEEP_GRACE: SignedDuration = SignedDuration::from_mins(5);

/// Why leadline owes a lead another call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextCallKind {
    /// The last call went unanswered; the tenant's cadence calls again.
    Retry,
    /// The lead asked to be called back.
    Callback,
}

/// The next call owed to a lead: attempt `attempt`, at `at` (already inside
/// the lead's calling hours).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextCall {
    pub kind: NextCallKind,
    pub attempt: u32,
    pub at: Timestamp,
}

/// A message leadline queued for a lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadMessage {
    pub id: MessageId,
    pub channel: Channel,
    pub purpose: MessagePurpose,
    /// The template the messenger renders (WhatsApp needs an approved one).
    pub template: String,
    /// The number or address it goes to.
    pub to: Recipient,
    pub status: MessageStatus,
    pub at: Timestamp,
}

/// What messaging learnt about a lead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadMessaging {
    /// The lead's last WhatsApp message: free text may answer it for 24 hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_inbound_at: Option<Timestamp>,
    /// Channels a provider refused for good (the last refusal of each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<ChannelRefusal>,
}

impl LeadMessaging {
    pub fn is_empty(&self) -> bool {
        self.whatsapp_inbound_at.is_none() && self.refusals.is_empty()
    }

    /// Whether free WhatsApp text may reach the lead at `now`.
    pub fn whatsapp_window_open(&self, now: Timestamp) -> bool {
        self.whatsapp_inbound_at
            .is_some_and(|at| now.duration_since(at) < jiff::SignedDuration::from_hours(24))
    }

    /// Records a provider's lasting refusal of a channel (replacing an earlier one).
    pub fn refused(&mut self, refusal: ChannelRefusal) {
        self.refusals.retain(|r| r.channel != refusal.channel);
        self.refusals.push(refusal);
    }
}

/// A provider refused a channel to the lead for good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRefusal {
    pub channel: Channel,
    pub refusal: crate::messaging::provider::Refusal,
    /// The provider's code.
    pub code: String,
    pub message: MessageId,
    pub at: Timestamp,
}

/// Where a lead came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadSource {
    /// A campaign's CSV import (every lead stored before sources were recorded).
    #[default]
    Import,
    /// Someone who called one of the tenant's inbound numbers.
    Inbound,
    /// Someone who booked through the tenant's Cal.com.
    Calcom,
}

/// A lead field that a call can fill in, named in [`Lead::from_call`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadField {
    Name,
    Email,
    PreferredPhone,
}

impl LeadField {
    pub fn as_str(&self) -> &'static str {
        match self {
            LeadField::Name => "name",
            LeadField::Email => "email",
            LeadField::PreferredPhone => "preferred_phone",
        }
    }
}

/// The result of an event applied to a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Applied,
    /// Nothing changed, and why: a duplicate, a stale attempt, a final lead.
    Unchanged(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a lead that is {from:?} cannot be {event}")]
pub struct IllegalTransition {
    pub from: LeadStatus,
    pub event: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub id: LeadId,
    pub tenant: TenantId,
    pub campaign: CampaignId,
    pub phone: Phone,
    pub name: Option<String>,
    pub email: Option<Email>,
    pub whatsapp: Option<Phone>,
    pub partner: Option<String>,
    /// The lead's own zone, when the CSV gave one.
    pub zone: Option<Zone>,
    /// The language to write to it in, when the CSV gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Where the lead came from; leads stored before this field read `import`.
    #[serde(default)]
    pub source: LeadSource,
    /// A number the lead asked, on a call, to be reached at instead of `phone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_phone: Option<Phone>,
    /// The fields filled in from what the lead said on a call (they were
    /// empty before), oldest first; the rest came from the import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_call: Vec<LeadField>,
    pub status: LeadStatus,
    /// The number of the current (or last) attempt; 0 before the first.
    pub attempts: u32,
    /// The outcome of the current attempt, once known.
    pub outcome: Option<CallOutcome>,
    /// Why the lead stopped, or anything an operator should read.
    pub note: Option<String>,
    /// The call leadline owes the lead next (a retry or a requested
    /// callback); set exactly while the lead is `retry_pending` or `callback_pending`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_call: Option<NextCall>,
    /// Messages leadline queued for the lead (the fallbacks after the last
    /// unanswered call), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<LeadMessage>,
    /// What messaging learnt about the lead: its WhatsApp window, the
    /// channels a provider refused for good.
    #[serde(default, skip_serializing_if = "LeadMessaging::is_empty")]
    pub messaging: LeadMessaging,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Bumped by every saved change; a save expects the version it read.
    pub version: u64,
    /// What the transitions since it was read ask of the world outside the
    /// table, for the decision to take ([`Lead::take_effects`]). Not stored.
    #[serde(skip)]
    pub effects: PendingEffects,
}

/// Effects a lead's transitions recorded. Two leads equal in every stored
/// field are equal, whatever effects they carry.
#[derive(Clone, Debug, Default, Eq)]
pub struct PendingEffects(Vec<Effect>);

impl PartialEq for PendingEffects {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Lead {
    /// A lead made from someone who called one of the tenant's numbers: its
    /// id derives from (tenant, caller's number), so the same caller is the
    /// same lead however often they call; listed under
    /// [`CampaignId::inbound`], never dialled as a campaign's.
    pub fn inbound(tenant: &TenantId, caller: &Phone, now: Timestamp) -> Self {
        Lead {
            id: LeadId::for_caller(tenant, caller),
            tenant: tenant.clone(),
            campaign: CampaignId::inbound(),
            phone: caller.clone(),
            name: None,
            email: None,
            whatsapp: None,
            partner: None,
            zone: None,
            language: None,
            source: LeadSource::Inbound,
            preferred_phone: None,
            from_call: Vec::new(),
            status: LeadStatus::New,
            attempts: 0,
            outcome: None,
            note: None,
            next_call: None,
            messages: Vec::new(),
            messaging: Default::default(),
            created_at: now,
            updated_at: now,
            version: 0,
            effects: PendingEffects::default(),
        }
    }

    /// The effects its transitions asked for, in order; the journal is emptied.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects.0)
    }

    /// Makes `next` the call the lead is owed: its schedule is created (or
    /// moved), and the schedule of a call it replaces under another name goes.
    pub fn owe(&mut self, next: Option<NextCall>) {
        let was = FollowUp::of(self);
        self.next_call = next;
        let owed = FollowUp::of(self);
        if was == owed {
            return;
        }
        if let Some(was) = was
            && owed
                .as_ref()
                .is_none_or(|owed| owed.schedule_name() != was.schedule_name())
        {
            self.effects.0.push(Effect::CancelCall(was));
        }
        if let Some(owed) = owed {
            self.effects.0.push(Effect::ScheduleCall(owed));
        }
    }

    /// Records a message for the lead and hands it to the messenger (once,
    /// by its id: a message recorded before is not sent again).
    pub fn send(&mut self, mut message: LeadMessage) {
        if self.messages.iter().any(|m| m.id == message.id) {
            return;
        }
        message.status = MessageStatus::Queued;
        let job = MessageJob::for_lead(self, &message);
        self.messages.push(message);
        self.effects.0.push(Effect::Send(job));
    }

    /// Queues attempt `attempt` (the next one). Queuing the current attempt again is a duplicate.
    pub fn queue(&mut self, attempt: u32, now: Timestamp) -> Result<Change, IllegalTransition> {
        if attempt == self.attempts && self.status == LeadStatus::Queued {
            return Ok(Change::Unchanged("attempt already queued"));
        }
        if attempt <= self.attempts {
            return Ok(Change::Unchanged("stale attempt"));
        }
        if self.status.is_final() || self.status.stage() != 0 || attempt != self.attempts + 1 {
            return Err(IllegalTransition {
                from: self.status,
                event: "queued for a call",
            });
        }
        self.attempts = attempt;
        self.outcome = None;
        self.set(LeadStatus::Queued, now);
        Ok(Change::Applied)
    }

    /// The provider accepted the call of attempt `attempt`.
    pub fn start_call(
        &mut self,
        attempt: u32,
        now: Timestamp,
    ) -> Result<Change, IllegalTransition> {
        if attempt < self.attempts {
            return Ok(Change::Unchanged("stale attempt"));
        }
        if attempt > self.attempts || self.status == LeadStatus::New {
            return Err(IllegalTransition {
                from: self.status,
                event: "called before being queued",
            });
        }
        if self.status != LeadStatus::Queued {
            return Ok(Change::Unchanged("call already started or over"));
        }
        self.set(LeadStatus::Calling, now);
        Ok(Change::Applied)
    }

    /// The lead called in: attempt `attempt` (the next one) is their call,
    /// in progress from now. Whatever they were owed (a retry, a callback)
    /// is no longer owed, since they are on the line; a lead on the
    /// do-not-call list stays there (calling in is theirs to do, and nothing
    /// leadline places follows from the call). Its end applies as any call's
    /// ([`Lead::finish_call`]).
    pub fn take_call(&mut self, attempt: u32, now: Timestamp) -> Result<Change, IllegalTransition> {
        if attempt <= self.attempts {
            return Ok(Change::Unchanged("stale attempt"));
        }
        if attempt != self.attempts + 1 {
            return Err(IllegalTransition {
                from: self.status,
                event: "given a call out of turn",
            });
        }
        self.attempts = attempt;
        self.outcome = None;
        if self.status == LeadStatus::DoNotCall {
            self.updated_at = now;
        } else {
            self.set(LeadStatus::Calling, now);
        }
        Ok(Change::Applied)
    }

    /// The call of attempt `attempt` ended with `outcome`. `retries_left` says
    /// whether the retry cadence allows another attempt after this one.
    pub fn finish_call(
        &mut self,
        attempt: u32,
        outcome: CallOutcome,
        retries_left: bool,
        now: Timestamp,
    ) -> Result<Change, IllegalTransition> {
        if attempt < self.attempts {
            return Ok(Change::Unchanged("stale attempt"));
        }
        if attempt > self.attempts || self.status == LeadStatus::New {
            return Err(IllegalTransition {
                from: self.status,
                event: "given an outcome before being called",
            });
        }
        if self.status == LeadStatus::DoNotCall {
            return Ok(Change::Unchanged("lead is on the do-not-call list"));
        }
        if let Some(known) = &self.outcome
            && outcome.weight() <= known.weight()
        {
            return Ok(Change::Unchanged("outcome already known"));
        }
        let status = outcome.status(retries_left);
        self.outcome = Some(outcome);
        self.set(status, now);
        Ok(Change::Applied)
    }

    /// No more retries: every allowed attempt is spent.
    pub fn exhaust(&mut self, note: &str, now: Timestamp) -> Result<Change, IllegalTransition> {
        match self.status {
            LeadStatus::Exhausted => Ok(Change::Unchanged("already exhausted")),
            LeadStatus::RetryPending | LeadStatus::CallbackPending | LeadStatus::New => {
                self.note = Some(note.to_owned());
                self.set(LeadStatus::Exhausted, now);
                Ok(Change::Applied)
            }
            from => Err(IllegalTransition {
                from,
                event: "exhausted",
            }),
        }
    }

    /// The number cannot be dialed (the provider said so).
    pub fn mark_invalid(&mut self, reason: &str, now: Timestamp) -> Change {
        if matches!(self.status, LeadStatus::Invalid | LeadStatus::DoNotCall) {
            return Change::Unchanged("already final");
        }
        self.note = Some(reason.to_owned());
        self.set(LeadStatus::Invalid, now);
        Change::Applied
    }

    /// The lead booked outside a call (with the business, on a booking page):
    /// no more calls. A call in flight that ends later says less than this.
    pub fn book(&mut self, now: Timestamp) -> Change {
        match self.status {
            LeadStatus::Booked => Change::Unchanged("already booked"),
            LeadStatus::DoNotCall => Change::Unchanged("on the do-not-call list"),
            _ => {
                self.outcome = Some(CallOutcome::AppointmentSet);
                self.set(LeadStatus::Booked, now);
                Change::Applied
            }
        }
    }

    /// Never call this lead again. Allowed from every status: an opt-out always wins.
    pub fn suppress(&mut self, reason: &str, now: Timestamp) -> Change {
        if self.status == LeadStatus::DoNotCall {
            return Change::Unchanged("already on the do-not-call list");
        }
        self.note = Some(reason.to_owned());
        self.set(LeadStatus::DoNotCall, now);
        Change::Applied
    }

    /// When the stuck-work sweep should look at the lead: a call owed and not
    /// placed a grace period after its time (its schedule was never created or
    /// never fired).
    pub fn sweep_at(&self) -> Option<Timestamp> {
        self.next_call.as_ref().map(|next| next.at + SWEEP_GRACE)
    }

    fn set(&mut self, status: LeadStatus, now: Timestamp) {
        self.status = status;
        self.updated_at = now;
        if !matches!(
            status,
            LeadStatus::RetryPending | LeadStatus::CallbackPending
        ) {
            self.owe(None);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernel::ids::CampaignId;

    pub fn lead() -> Lead {
        let tenant = TenantId::parse("acme").unwrap();
        let campaign = CampaignId::from_bytes(&[7; 15]);
        let phone = Phone::parse("+14155552671", None).unwrap();
        Lead {
            id: LeadId::derive(&tenant, &campaign, &phone),
            tenant,
            campaign,
            phone,
            name: Some("Ada".into()),
            email: None,
            whatsapp: None,
            partner: None,
            zone: None,
            language: None,
            source: LeadSource::Import,
            preferred_phone: None,
            from_call: Vec::new(),
            status: LeadStatus::New,
            attempts: 0,
            outcome: None,
            note: None,
            next_call: None,
            messages: Vec::new(),
            messaging: Default::default(),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            version: 0,
            effects: PendingEffects::default(),
        }
    }

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    #[test]
    fn owing_a_call_schedules_it_and_a_replaced_or_ended_one_is_cancelled() {
        let mut l = lead();
        let retry = NextCall {
            kind: NextCallKind::Retry,
            attempt: 2,
            at: NOW,
        };
        l.owe(Some(retry.clone()));
        let first = FollowUp::of(&l).unwrap();
        assert_eq!(l.take_effects(), [Effect::ScheduleCall(first.clone())]);
        // The same call again asks for nothing.
        l.owe(Some(retry.clone()));
        assert!(l.take_effects().is_empty());
        // A callback for the same attempt moves the same schedule.
        l.owe(Some(NextCall {
            kind: NextCallKind::Callback,
            at: NOW + SignedDuration::from_hours(1),
            ..retry
        }));
        let moved = FollowUp::of(&l).unwrap();
        assert_eq!(l.take_effects(), [Effect::ScheduleCall(moved.clone())]);
        // Leaving the pending statuses ends the owed call and its schedule.
        l.status = LeadStatus::RetryPending;
        l.book(NOW);
        assert_eq!(l.take_effects(), [Effect::CancelCall(moved)]);
        assert_eq!(l.next_call, None);
    }

    #[test]
    fn a_message_is_sent_once_by_its_id() {
        let mut l = lead();
        let message = LeadMessage {
            id: MessageId::derive(&l.id, "fallback", "sms", "1"),
            channel: Channel::Sms,
            purpose: MessagePurpose::Fallback,
            template: "call_fallback".into(),
            to: Recipient::from(l.phone.clone()),
            status: MessageStatus::Pending,
            at: NOW,
        };
        l.send(message.clone());
        l.send(message);
        assert_eq!(l.messages.len(), 1);
        assert_eq!(l.messages[0].status, MessageStatus::Queued);
        assert!(matches!(l.take_effects()[..], [Effect::Send(_)]));
    }

    #[test]
    fn a_new_lead_is_queued_then_called_then_given_an_outcome() {
        let mut l = lead();
        assert_eq!(l.queue(1, NOW), Ok(Change::Applied));
        assert_eq!(l.start_call(1, NOW), Ok(Change::Applied));
        assert_eq!(
            l.finish_call(1, CallOutcome::AppointmentSet, true, NOW),
            Ok(Change::Applied)
        );
        assert_eq!((l.status, l.attempts), (LeadStatus::Booked, 1));
    }

    #[test]
    fn an_unanswered_call_waits_for_a_retry_while_retries_remain_and_is_exhausted_after() {
        let mut l = lead();
        l.queue(1, NOW).unwrap();
        l.start_call(1, NOW).unwrap();
        l.finish_call(1, CallOutcome::NoAnswer, true, NOW).unwrap();
        assert_eq!(l.status, LeadStatus::RetryPending);
        l.queue(2, NOW).unwrap();
        l.start_call(2, NOW).unwrap();
        l.finish_call(2, CallOutcome::Busy, false, NOW).unwrap();
        assert_eq!(l.status, LeadStatus::Exhausted);
    }

    #[test]
    fn a_repeated_event_changes_nothing() {
        let mut l = lead();
        l.queue(1, NOW).unwrap();
        assert_eq!(
            l.queue(1, NOW),
            Ok(Change::Unchanged("attempt already queued"))
        );
        l.start_call(1, NOW).unwrap();
        assert!(matches!(l.start_call(1, NOW), Ok(Change::Unchanged(_))));
        l.finish_call(1, CallOutcome::NotInterested, true, NOW)
            .unwrap();
        let before = l.clone();
        assert!(matches!(
            l.finish_call(1, CallOutcome::NotInterested, true, NOW),
            Ok(Change::Unchanged(_))
        ));
        assert_eq!(l, before);
    }

    #[test]
    fn a_late_call_started_never_moves_a_finished_call_back() {
        let mut l = lead();
        l.queue(1, NOW).unwrap();
        l.finish_call(1, CallOutcome::Voicemail, true, NOW).unwrap();
        assert!(matches!(l.start_call(1, NOW), Ok(Change::Unchanged(_))));
        assert_eq!(l.status, LeadStatus::RetryPending);
    }

    #[test]
    fn an_event_about_an_older_attempt_is_ignored() {
        let mut l = lead();
        l.queue(1, NOW).unwrap();
        l.finish_call(1, CallOutcome::NoAnswer, true, NOW).unwrap();
        l.queue(2, NOW).unwrap();
        assert_eq!(
            l.finish_call(1, CallOutcome::Busy, true, NOW),
            Ok(Change::Unchanged("stale attempt"))
        );
        assert_eq!(l.start_call(1, NOW), Ok(Change::Unchanged("stale attempt")));
        assert_eq!((l.status, l.attempts), (LeadStatus::Queued, 2));
    }

    #[test]
    fn the_outcome_that_says_more_wins_in_either_order() {
        let run = |first: CallOutcome, second: CallOutcome| {
            let mut l = lead();
            l.queue(1, NOW).unwrap();
            l.start_call(1, NOW).unwrap();
            l.finish_call(1, first, true, NOW).unwrap();
            l.finish_call(1, second, true, NOW).unwrap();
            (l.status, l.outcome)
        };
        let a = run(CallOutcome::Completed, CallOutcome::AppointmentSet);
        let b = run(CallOutcome::AppointmentSet, CallOutcome::Completed);
        assert_eq!(a, b);
        assert_eq!(a.0, LeadStatus::Booked);
    }

    #[test]
    fn a_lead_on_the_do_not_call_list_cannot_be_queued_and_stays_suppressed() {
        let mut l = lead();
        l.suppress("asked on the phone", NOW);
        assert_eq!(
            l.queue(1, NOW),
            Err(IllegalTransition {
                from: LeadStatus::DoNotCall,
                event: "queued for a call"
            })
        );
        assert_eq!(
            l.suppress("again", NOW),
            Change::Unchanged("already on the do-not-call list")
        );
        assert_eq!(l.note.as_deref(), Some("asked on the phone"));
    }

    #[test]
    fn attempts_cannot_be_skipped_or_called_before_queuing() {
        let mut l = lead();
        assert!(l.queue(2, NOW).is_err());
        assert!(l.start_call(1, NOW).is_err());
        assert!(l.finish_call(1, CallOutcome::Completed, true, NOW).is_err());
    }

    #[test]
    fn a_caller_is_one_inbound_lead_per_tenant_and_number() {
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let caller = Phone::parse("+14155552671", None).unwrap();
        let l = Lead::inbound(&acme, &caller, NOW);
        assert_eq!(l.id, Lead::inbound(&acme, &caller, NOW).id);
        assert_ne!(l.id, Lead::inbound(&other, &caller, NOW).id);
        assert_eq!(l.id, LeadId::for_caller(&acme, &caller));
        assert_eq!((l.source, l.status), (LeadSource::Inbound, LeadStatus::New));
        assert!(l.campaign.is_inbound());
        assert_ne!(
            l.id,
            lead().id,
            "an imported lead of the number is another lead"
        );
    }

    #[test]
    fn calling_in_is_the_next_attempt_in_progress_and_ends_the_call_owed() {
        let mut l = lead();
        l.queue(1, NOW).unwrap();
        l.finish_call(1, CallOutcome::NoAnswer, true, NOW).unwrap();
        l.owe(Some(NextCall {
            kind: NextCallKind::Retry,
            attempt: 2,
            at: NOW,
        }));
        let owed = FollowUp::of(&l).unwrap();
        l.take_effects();
        assert_eq!(l.take_call(2, NOW), Ok(Change::Applied));
        assert_eq!(
            (l.status, l.attempts, l.outcome.clone()),
            (LeadStatus::Calling, 2, None)
        );
        assert_eq!(l.next_call, None);
        assert_eq!(l.take_effects(), [Effect::CancelCall(owed)]);
        // Its end applies as any call's.
        l.finish_call(2, CallOutcome::AppointmentSet, true, NOW)
            .unwrap();
        assert_eq!(l.status, LeadStatus::Booked);
        // A caller whose earlier call is over calls again: a new attempt.
        assert_eq!(l.take_call(3, NOW), Ok(Change::Applied));
        assert_eq!(l.status, LeadStatus::Calling);
    }

    #[test]
    fn a_call_in_is_taken_once_and_in_turn() {
        let mut l = lead();
        assert_eq!(l.take_call(1, NOW), Ok(Change::Applied));
        assert_eq!(l.take_call(1, NOW), Ok(Change::Unchanged("stale attempt")));
        assert!(l.take_call(3, NOW).is_err(), "attempt 2 is next");
    }

    #[test]
    fn a_lead_on_the_do_not_call_list_who_calls_in_stays_on_it() {
        let mut l = lead();
        l.suppress("asked on the phone", NOW);
        assert_eq!(l.take_call(1, NOW), Ok(Change::Applied));
        assert_eq!((l.status, l.attempts), (LeadStatus::DoNotCall, 1));
        assert!(matches!(
            l.finish_call(1, CallOutcome::AppointmentSet, true, NOW),
            Ok(Change::Unchanged(_))
        ));
        assert_eq!(l.status, LeadStatus::DoNotCall);
    }

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in LeadStatus::ALL {
            assert_eq!(LeadStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
