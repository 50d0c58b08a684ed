//! The one way state changes. A use case loads its state, and its pure
//! decision returns, as data, the [`Change`]s to commit in one atomic write
//! and the [`Effect`]s to carry out once they are committed. [`run`] owns the
//! rest: load, decide, commit, read again and decide again when another
//! writer got there first, carry out the effects. Effects of a committed
//! change are recorded in the same commit (an [`Outbox`]), so the sweep
//! finishes what a crash between commit and effects left.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::appointments::appointment::Appointment;
use crate::billing::UsageRecord;
use crate::calling::attempt::CallAttempt;
use crate::calling::lead::Lead;
use crate::calling::suppression::Suppression;
use crate::calling::waiting::{Waiter, Wake};
use crate::calling::work::{DialMessage, FollowUp, SlotClaim, SlotScope};
use crate::in_call::ToolRecord;
use crate::intake::campaign::{Campaign, CampaignStatus};
use crate::kernel::error::{Error, Result};
use crate::kernel::ids::{AttemptId, TenantId};
use crate::kernel::redact::Redacted;
use crate::messaging::message::{
    CancelBooking, CancelBookingKind, Message, MessageJob, MessengerWork, ProviderRef,
};

/// A stored thing a change set creates, saves or deletes.
#[derive(Clone, Debug, PartialEq)]
pub enum Entity {
    Lead(Lead),
    Attempt(CallAttempt),
    Appointment(Appointment),
    /// Billable time of one ended call: written once.
    Usage(UsageRecord),
    /// A tool call's answer, kept so a redelivery gets the same answer.
    Tool(ToolRecord),
    /// A message to or from a lead.
    Message(Message),
    /// Which message a provider's id names (WhatsApp reports only its own
    /// id): written once, with the send it records.
    ProviderRef(ProviderRef),
}

impl Entity {
    pub fn tenant(&self) -> &TenantId {
        match self {
            Entity::Lead(lead) => &lead.tenant,
            Entity::Attempt(attempt) => &attempt.tenant,
            Entity::Appointment(appointment) => &appointment.tenant,
            Entity::Usage(usage) => &usage.tenant,
            Entity::Tool(record) => &record.tenant,
            Entity::Message(message) => &message.tenant,
            Entity::ProviderRef(r) => &r.tenant,
        }
    }

    /// The version it was read at (0: new); records have none.
    pub fn version(&self) -> u64 {
        match self {
            Entity::Lead(lead) => lead.version,
            Entity::Attempt(attempt) => attempt.version,
            Entity::Appointment(appointment) => appointment.version,
            Entity::Message(message) => message.version,
            Entity::Usage(_) | Entity::Tool(_) | Entity::ProviderRef(_) => 0,
        }
    }

    /// Why creating it is refused when it exists already: another delivery
    /// of the same input wrote it first.
    pub fn refused_when_exists(&self) -> Refused {
        match self {
            Entity::Attempt(_) => Refused::Precondition(Precondition::Exists),
            Entity::Tool(_) | Entity::ProviderRef(_) => Refused::Duplicate,
            Entity::Lead(_) | Entity::Appointment(_) | Entity::Usage(_) | Entity::Message(_) => {
                Refused::Stale
            }
        }
    }
}

/// One item of a change set. Either every change of a set happens or none.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Created; refused ([`Entity::refused_when_exists`]) if it is there.
    Create(Entity),
    /// Saved if nobody saved it since it was read at its `version` (else `Stale`).
    Save(Entity),
    /// Deleted if nobody saved it since it was read (else `Stale`).
    Delete(Entity),
    /// A campaign's status and start time, if its status is still `expected`
    /// (else `Stale`). Its counters are not touched.
    MoveCampaign {
        campaign: Campaign,
        expected: CampaignStatus,
    },
    /// An input applied: a key recorded before refuses the set as `Duplicate`.
    Dedupe { tenant: TenantId, key: String },
    /// A number on the tenant's do-not-call list; one there already keeps its first entry.
    Suppress(Suppression),
    /// A number or address off the list, if its entry is still the one
    /// read (`Stale` otherwise): a messaging opt-out lifted by START.
    Unsuppress(Suppression),
    /// The number or address is not on the tenant's list (else `Stale`): a
    /// message claimed for sending is not sent past an opt-out committed
    /// since it was read.
    NotSuppressed {
        tenant: TenantId,
        address: crate::messaging::message::Recipient,
    },
    /// A sender's next free send time moved from `read` (none yet: `None`)
    /// to `next`; `Stale` if another send moved it first.
    Pace(PaceMark),
    /// A slot in each scope for a call about to be placed, and one of this
    /// second's call starts (refused: `NoSlot`, `Paced`).
    TakeSlots(SlotClaim),
    /// Every slot `holder` holds in these scopes, given back.
    ReleaseSlots {
        holder: AttemptId,
        scopes: [SlotScope; 3],
    },
    /// A dial job waits for a slot in the waiter's scope, if that scope is
    /// still full (`limit` holders or more). Else `Stale`: a slot was given
    /// back since the job was refused one, and the job is decided again.
    Wait { waiter: Waiter, limit: u32 },
    /// A job no longer waits (it has its slots, or nothing left to do): its
    /// waiter goes, if it is there.
    StopWaiting(Waiter),
    /// A waiter taken by a wake; `Stale` if another wake took it first.
    Claim(Waiter),
    /// Effects to finish if the committing runner cannot (added by [`run`]).
    Outbox(Outbox),
}

impl Change {
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Change::Create(e) | Change::Save(e) | Change::Delete(e) => Some(e.tenant()),
            Change::Dedupe { tenant, .. } => Some(tenant),
            Change::MoveCampaign { campaign, .. } => Some(&campaign.tenant),
            Change::Suppress(entry) | Change::Unsuppress(entry) => Some(&entry.tenant),
            Change::Pace(mark) => Some(&mark.tenant),
            Change::NotSuppressed { tenant, .. } => Some(tenant),
            Change::Outbox(outbox) => Some(&outbox.tenant),
            Change::Wait { waiter, .. } | Change::StopWaiting(waiter) | Change::Claim(waiter) => {
                Some(&waiter.tenant)
            }
            Change::TakeSlots(_) | Change::ReleaseSlots { .. } => None,
        }
    }

    /// Gives back the slots of an attempt.
    pub fn release_slots(attempt: &CallAttempt) -> Self {
        Change::ReleaseSlots {
            holder: attempt.id.clone(),
            scopes: SlotScope::of_attempt(attempt),
        }
    }
}

/// A sender's pacing: when it may send next (`Change::Pace`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceMark {
    pub tenant: TenantId,
    /// The sender's channel (`sms`): one sender per channel per tenant.
    pub key: String,
    pub read: Option<Timestamp>,
    pub next: Timestamp,
}

/// Why a change set was not committed. Nothing of it was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Its input was applied before (a dedupe key or a record already there).
    #[error("applied before")]
    Duplicate,
    /// Something it read changed since: decide again on fresh state.
    #[error("changed since it was read")]
    Stale,
    /// A condition of the write does not hold.
    #[error("{0}")]
    Precondition(Precondition),
}

impl Refused {
    /// When several conditions of one write fail, the most telling one is
    /// reported: lowest rank first.
    pub fn rank(&self) -> u8 {
        match self {
            Refused::Duplicate => 0,
            Refused::Precondition(Precondition::Exists) => 1,
            Refused::Stale => 2,
            Refused::Precondition(Precondition::NoSlot(_)) => 3,
            Refused::Precondition(Precondition::Paced) => 4,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Precondition {
    /// What it creates exists already: another delivery made it.
    #[error("it exists already")]
    Exists,
    /// No free slot in this scope.
    #[error("no free slot: {0:?}")]
    NoSlot(SlotScope),
    /// This second's call starts are used up.
    #[error("no call start left this second")]
    Paced,
}

/// Something to do outside the table once a change is committed. Every
/// effect has a deterministic id, so doing it twice does it once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Create (or move) the one-off schedule that places an owed call.
    ScheduleCall(FollowUp),
    /// Delete the schedule of a call no longer owed (one already gone is fine).
    CancelCall(FollowUp),
    /// Put a message on the dial queue, delivered no earlier than `at`.
    Dial { message: DialMessage, at: Timestamp },
    /// Hand a message to the messenger.
    Send(MessageJob),
    /// Cancel a booking at the calendar (the lead cancelled it by message);
    /// the messenger does it. Cancelling a cancelled booking is success.
    CancelBooking(Appointment),
    /// Hand the slots an ended call gave back to the jobs waiting for them
    /// (a message on the dial queue, now). Best effort: it is in no outbox,
    /// and if it is lost the waiting jobs' own retries stand in.
    Wake(Wake),
}

impl Effect {
    /// The id that makes doing it twice harmless: the schedule's name, the
    /// message's id, the dial message's subject.
    pub fn id(&self) -> String {
        match self {
            Effect::ScheduleCall(f) => format!("schedule:{}", f.schedule_name()),
            Effect::CancelCall(f) => format!("cancel:{}", f.schedule_name()),
            Effect::Dial { message, at } => format!("dial:{}@{}", message.subject(), at),
            Effect::Send(job) => format!("send:{}", job.id),
            Effect::CancelBooking(a) => format!("cancel-booking:{}", a.id),
            Effect::Wake(wake) => format!("wake:{}", wake.freed_by),
        }
    }

    /// Whether a committed change's outbox keeps it until it is carried out.
    /// A wake is a hint: doing it late is worth less than the writes an
    /// outbox costs on every ended call, and the jobs it would wake come
    /// back by themselves.
    pub fn durable(&self) -> bool {
        !matches!(self, Effect::Wake(_))
    }
}

/// The effects of one committed change, kept until they are carried out.
/// The sweep finds an outbox its runner left and carries it out again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    pub tenant: TenantId,
    /// Derived from the effects themselves: the same effects, the same outbox.
    pub id: String,
    pub effects: Vec<Effect>,
    /// When the sweep takes over: a runner that is still alive is done by then.
    pub due_at: Timestamp,
}

/// How long a runner has to carry out the effects it committed before the sweep does.
pub const OUTBOX_GRACE: SignedDuration = SignedDuration::from_secs(5 * 60);

impl Outbox {
    pub fn new(tenant: TenantId, effects: Vec<Effect>, now: Timestamp) -> Self {
        let mut hash = Sha256::new();
        for effect in &effects {
            hash.update(serde_json::to_vec(effect).unwrap_or_default());
            hash.update([0]);
        }
        let digest = hash.finalize();
        Self {
            tenant,
            id: data_encoding::BASE32HEX_NOPAD
                .encode(&digest[..15])
                .to_ascii_lowercase(),
            effects,
            due_at: now + OUTBOX_GRACE,
        }
    }
}

/// What a decision comes to: the changes to commit together, the effects
/// to carry out once they are, and the use case's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision<T> {
    pub changes: Vec<Change>,
    pub effects: Vec<Effect>,
    pub answer: T,
}

impl<T> Decision<T> {
    /// Nothing to write and nothing to do.
    pub fn answer(answer: T) -> Self {
        Self {
            changes: Vec::new(),
            effects: Vec::new(),
            answer,
        }
    }

    pub fn new(changes: Vec<Change>, effects: Vec<Effect>, answer: T) -> Self {
        Self {
            changes,
            effects,
            answer,
        }
    }

    /// Effects only: nothing changes in the table (the input is redelivered
    /// if they fail, so they need no outbox).
    pub fn effects(effects: Vec<Effect>, answer: T) -> Self {
        Self::new(Vec::new(), effects, answer)
    }
}

/// The store's one write: every change of the set, atomically.
#[async_trait]
pub trait Commit: Send + Sync {
    /// Commits `changes` together, or nothing of them: a refusal is
    /// `Error::Refused` and says why.
    async fn commit(&self, changes: &[Change]) -> Result<()>;

    /// Outboxes a runner left behind whose time is up (the sweep's read goes
    /// through [`crate::ports::SweepStore`]); this removes one once carried out.
    async fn clear_outbox(&self, outbox: &Outbox) -> Result<()>;
}

/// Carries effects out: schedules, queues, the messenger.
#[async_trait]
pub trait Effects: Send + Sync {
    async fn carry_out(&self, effects: &[Effect], now: Timestamp) -> Result<()>;
}

/// A use case: what it reads, and its rule.
#[async_trait]
pub trait UseCase: Send + Sync {
    type State: Send;
    type Answer: Send;
    /// Named in the conflict that ends a lost race run after run.
    const WHAT: &'static str;

    /// Reads the state the decision needs (again after a lost race).
    async fn load(&self) -> Result<Self::State>;

    /// The rule: pure, from the state read and the time.
    fn decide(&self, state: Self::State, now: Timestamp) -> Result<Decision<Self::Answer>>;

    /// What a refusal other than `Stale` comes to, if the use case expects it
    /// (a duplicate delivery, no free slot). Its changes (a job recording that
    /// it waits) are written again whenever the input comes again: they need
    /// no outbox, and its effects failing fails the run. A refusal of them
    /// as `Stale` decides again.
    fn refused(&self, refused: &Refused, now: Timestamp) -> Option<Decision<Self::Answer>> {
        let _ = (refused, now);
        None
    }
}

/// How often a decision is made again on fresh state after a lost race.
pub const STALE_RETRIES: usize = 5;

/// The runner: load → decide → commit → (stale: again) → carry out effects.
///
/// Durable effects of a committed change go into the same commit as an
/// outbox; if carrying them out fails, the change stands and the sweep
/// finishes them. Hints ([`Effect::durable`]) of a committed change are
/// carried out once, and a failure is only logged. Effects without a change
/// that stands (put a job back for later) fail the run when they fail, so
/// the input is delivered again.
pub async fn run<U, S, E>(store: &S, effects: &E, use_case: &U, now: Timestamp) -> Result<U::Answer>
where
    U: UseCase + ?Sized,
    S: Commit + ?Sized,
    E: Effects + ?Sized,
{
    for _ in 0..STALE_RETRIES {
        let state = use_case.load().await?;
        let mut decision = use_case.decide(state, now)?;
        let mut outbox = None;
        // Whether the decision's change is committed: then its outbox (if
        // any) finishes its durable effects, and a failed hint is only logged.
        let mut stands = false;
        if !decision.changes.is_empty() {
            let mut changes = std::mem::take(&mut decision.changes);
            let durable: Vec<Effect> = decision
                .effects
                .iter()
                .filter(|e| e.durable())
                .cloned()
                .collect();
            if !durable.is_empty() {
                // The outbox lives under the tenant of what it changed.
                let Some(tenant) = changes.iter().find_map(Change::tenant) else {
                    return Err(Error::Internal(format!(
                        "{}: a change with effects names no tenant for its outbox",
                        U::WHAT
                    )));
                };
                let entry = Outbox::new(tenant.clone(), durable, now);
                changes.push(Change::Outbox(entry.clone()));
                outbox = Some(entry);
            }
            match store.commit(&changes).await {
                Ok(()) => stands = true,
                Err(Error::Refused(Refused::Stale)) => continue,
                Err(Error::Refused(refused)) => {
                    let Some(instead) = use_case.refused(&refused, now) else {
                        return Err(Error::Refused(refused));
                    };
                    decision = instead;
                    outbox = None;
                    if !decision.changes.is_empty() {
                        match store.commit(&decision.changes).await {
                            Ok(()) => {}
                            Err(Error::Refused(Refused::Stale)) => continue,
                            Err(other) => return Err(other),
                        }
                    }
                }
                Err(other) => return Err(other),
            }
        }
        if !stands {
            if !decision.effects.is_empty() {
                effects.carry_out(&decision.effects, now).await?;
            }
            return Ok(decision.answer);
        }
        let (durable, hints): (Vec<Effect>, Vec<Effect>) =
            decision.effects.into_iter().partition(Effect::durable);
        let done = if durable.is_empty() {
            Ok(())
        } else {
            effects.carry_out(&durable, now).await
        };
        if !hints.is_empty()
            && let Err(e) = effects.carry_out(&hints, now).await
        {
            tracing::warn!(error = %e, "a wake was not carried out; the waiting jobs' retries stand in");
        }
        return match (done, outbox) {
            (Ok(()), Some(outbox)) => {
                if let Err(e) = store.clear_outbox(&outbox).await {
                    tracing::warn!(outbox = %outbox.id, error = %Redacted(&e), "outbox not cleared; the sweep will");
                }
                Ok(decision.answer)
            }
            (Ok(()), None) => Ok(decision.answer),
            (Err(e), Some(outbox)) => {
                let ids: Vec<String> = outbox.effects.iter().map(Effect::id).collect();
                tracing::warn!(
                    outbox = %outbox.id, effects = ?ids, error = %Redacted(&e),
                    "effects not carried out; the sweep will"
                );
                Ok(decision.answer)
            }
            (Err(e), None) => Err(e),
        };
    }
    Err(Error::Conflict(format!(
        "{} kept changing while it was written",
        U::WHAT
    )))
}

/// Carries effects out through the ports that do each kind.
pub struct EffectPorts<'a, F: ?Sized, Q: ?Sized, M: ?Sized> {
    pub scheduler: &'a F,
    pub dial_queue: &'a Q,
    pub messages: &'a M,
}

#[async_trait]
impl<F, Q, M> Effects for EffectPorts<'_, F, Q, M>
where
    F: crate::ports::FollowUpScheduler + ?Sized,
    Q: crate::ports::DialQueue + ?Sized,
    M: crate::ports::MessageQueue + ?Sized,
{
    async fn carry_out(&self, effects: &[Effect], now: Timestamp) -> Result<()> {
        let mut dials = Vec::new();
        let mut sends = Vec::new();
        for effect in effects {
            match effect {
                Effect::CancelCall(f) => self.scheduler.cancel(f).await?,
                Effect::ScheduleCall(f) => self.scheduler.schedule(f).await?,
                Effect::Dial { message, at } => dials.push((message.clone(), *at)),
                Effect::Send(job) => sends.push(MessengerWork::Send(job.clone())),
                Effect::CancelBooking(appointment) => {
                    sends.push(MessengerWork::CancelBooking(CancelBooking {
                        kind: CancelBookingKind::CancelBooking,
                        appointment: appointment.clone(),
                    }))
                }
                Effect::Wake(wake) => dials.push((DialMessage::Wake(wake.clone()), now)),
            }
        }
        if !dials.is_empty() {
            self.dial_queue.enqueue(&dials, now).await?;
        }
        if !sends.is_empty() {
            self.messages.put(&sends).await?;
        }
        Ok(())
    }
}

/// A port a function is not wired with: effects of its kind are a bug
/// there, and fail loudly instead of vanishing.
pub struct Unwired;

fn unwired(kind: &str) -> Error {
    Error::Internal(format!("this function is not wired to carry out {kind}"))
}

#[async_trait]
impl crate::ports::FollowUpScheduler for Unwired {
    async fn schedule(&self, _: &FollowUp) -> Result<()> {
        Err(unwired("schedules"))
    }
    async fn cancel(&self, _: &FollowUp) -> Result<()> {
        Err(unwired("schedules"))
    }
}

#[async_trait]
impl crate::ports::DialQueue for Unwired {
    async fn enqueue(&self, _: &[(DialMessage, Timestamp)], _: Timestamp) -> Result<()> {
        Err(unwired("dial jobs"))
    }
}

#[async_trait]
impl crate::ports::MessageQueue for Unwired {
    async fn put(&self, _: &[MessengerWork]) -> Result<()> {
        Err(unwired("messages"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::calling::dispatch::tests::{FakeDialer, World};
    use crate::calling::lead::LeadStatus;

    /// Marks lead 0 booked; `races` other writers save it first.
    struct Book<'a> {
        w: &'a World,
        races: AtomicUsize,
        loads: AtomicUsize,
        effects: Vec<Effect>,
    }

    #[async_trait]
    impl UseCase for Book<'_> {
        type State = Lead;
        type Answer = LeadStatus;
        const WHAT: &'static str = "the lead";

        async fn load(&self) -> Result<Lead> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let lead = self.w.lead(0).await;
            if self.races.load(Ordering::SeqCst) > 0 {
                self.races.fetch_sub(1, Ordering::SeqCst);
                // Another writer saves the lead between this read and the commit.
                self.w.store.save_lead(&lead).await.unwrap();
            }
            Ok(lead)
        }

        fn decide(&self, mut lead: Lead, now: Timestamp) -> Result<Decision<LeadStatus>> {
            lead.book(now);
            let status = lead.status;
            Ok(Decision::new(
                vec![Change::Save(Entity::Lead(lead))],
                self.effects.clone(),
                status,
            ))
        }
    }

    fn book(w: &World, races: usize, effects: Vec<Effect>) -> Book<'_> {
        Book {
            w,
            races: AtomicUsize::new(races),
            loads: AtomicUsize::new(0),
            effects,
        }
    }

    fn send(w: &World) -> Effect {
        Effect::Send(MessageJob {
            id: crate::kernel::ids::MessageId::derive(&w.leads[0].id, "test", "sms", "1"),
            tenant: w.tenant.id.clone(),
            lead: w.leads[0].id.clone(),
            channel: crate::messaging::message::Channel::Sms,
            purpose: crate::messaging::message::MessagePurpose::Fallback,
            template: "t".into(),
            to: crate::messaging::message::Recipient::from(w.leads[0].phone.clone()),
            params: Default::default(),
            appointment: None,
            not_before: None,
            queued_at: None,
            lead_phone: None,
        })
    }

    /// Effects that fail, as a process dying after its commit would leave them.
    struct Down(Mutex<usize>);

    #[async_trait]
    impl Effects for Down {
        async fn carry_out(&self, _: &[Effect], _: Timestamp) -> Result<()> {
            *self.0.lock().unwrap() += 1;
            Err(Error::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn a_lost_race_is_decided_again_on_fresh_state_a_bounded_number_of_times() {
        let w = World::new(1, FakeDialer::default()).await;
        let won = book(&w, STALE_RETRIES - 1, Vec::new());
        let status = run(&w.store, &w.effects(), &won, w.clock_now()).await;
        assert_eq!(status.unwrap(), LeadStatus::Booked);
        assert_eq!(won.loads.load(Ordering::SeqCst), STALE_RETRIES);

        let w = World::new(1, FakeDialer::default()).await;
        let before = w.lead(0).await.status;
        let lost = book(&w, STALE_RETRIES, Vec::new());
        let result = run(&w.store, &w.effects(), &lost, w.clock_now()).await;
        assert!(matches!(result, Err(Error::Conflict(_))), "{result:?}");
        assert_eq!(lost.loads.load(Ordering::SeqCst), STALE_RETRIES);
        assert_eq!(w.lead(0).await.status, before, "the lead was not booked");
    }

    #[tokio::test]
    async fn effects_of_a_commit_are_carried_out_and_their_outbox_goes() {
        let w = World::new(1, FakeDialer::default()).await;
        let booked = book(&w, 0, vec![send(&w)]);
        run(&w.store, &w.effects(), &booked, w.clock_now())
            .await
            .unwrap();
        assert_eq!(w.messages.jobs().len(), 1);
        assert!(w.store.outboxes().is_empty());
    }

    #[tokio::test]
    async fn effects_that_fail_after_the_commit_stay_in_its_outbox_for_the_sweep() {
        let w = World::new(1, FakeDialer::default()).await;
        let booked = book(&w, 0, vec![send(&w)]);
        let down = Down(Mutex::new(0));
        let now = w.clock_now();
        let status = run(&w.store, &down, &booked, now).await;
        assert_eq!(status.unwrap(), LeadStatus::Booked, "the change stands");
        let outboxes = w.store.outboxes();
        assert_eq!(outboxes.len(), 1);
        assert_eq!(outboxes[0].effects, vec![send(&w)]);
        assert_eq!(outboxes[0].due_at, now + OUTBOX_GRACE);
        let due = crate::ports::SweepStore::due_work(
            &w.store,
            now + OUTBOX_GRACE,
            &crate::ports::PageRequest::default(),
        )
        .await
        .unwrap();
        assert!(
            due.items
                .iter()
                .any(|d| matches!(d, crate::ports::DueWork::Outbox(o) if *o == outboxes[0]))
        );
    }

    fn wake(w: &World) -> Effect {
        let attempt = crate::calling::attempt::CallAttempt::dialing(
            &crate::calling::call::CallRef {
                tenant: w.tenant.id.clone(),
                lead: w.leads[0].id.clone(),
                attempt: 1,
            },
            w.campaign.id.clone(),
            crate::intake::tenant::VoiceProvider::Retell,
            w.clock_now(),
        );
        Effect::Wake(crate::calling::waiting::Wake::after(&attempt))
    }

    #[tokio::test]
    async fn a_wake_is_a_hint_in_no_outbox_whose_failure_fails_nothing() {
        let w = World::new(1, FakeDialer::default()).await;
        let booked = book(&w, 0, vec![send(&w), wake(&w)]);
        let down = Down(Mutex::new(0));
        let status = run(&w.store, &down, &booked, w.clock_now()).await;
        assert_eq!(status.unwrap(), LeadStatus::Booked);
        let outboxes = w.store.outboxes();
        assert_eq!(outboxes.len(), 1);
        assert_eq!(outboxes[0].effects, vec![send(&w)], "the message only");

        let w = World::new(1, FakeDialer::default()).await;
        let booked = book(&w, 0, vec![wake(&w)]);
        let status = run(&w.store, &down, &booked, w.clock_now()).await;
        assert_eq!(status.unwrap(), LeadStatus::Booked, "the change stands");
        assert!(
            w.store.outboxes().is_empty(),
            "a wake alone writes no outbox"
        );

        // Carried out, it is a message on the dial queue, now.
        let booked = book(&w, 0, vec![wake(&w)]);
        run(&w.store, &w.effects(), &booked, w.clock_now())
            .await
            .unwrap();
        let Effect::Wake(sent) = wake(&w) else {
            unreachable!()
        };
        assert_eq!(w.queue.take_due(w.clock_now()), [DialMessage::Wake(sent)]);
    }

    /// Puts a job back for later: no change, effects only.
    struct Later;

    #[async_trait]
    impl UseCase for Later {
        type State = ();
        type Answer = ();
        const WHAT: &'static str = "nothing";
        async fn load(&self) -> Result<()> {
            Ok(())
        }
        fn decide(&self, _: (), now: Timestamp) -> Result<Decision<()>> {
            let lead = crate::calling::lead::tests::lead();
            let job = crate::calling::work::DialJob::for_lead(&lead, false);
            Ok(Decision::effects(
                vec![Effect::Dial {
                    message: DialMessage::Dial(job),
                    at: now,
                }],
                (),
            ))
        }
    }

    #[tokio::test]
    async fn effects_without_a_change_that_fail_fail_the_run_so_the_input_comes_again() {
        let w = World::new(1, FakeDialer::default()).await;
        let down = Down(Mutex::new(0));
        let result = run(&w.store, &down, &Later, w.clock_now()).await;
        assert!(matches!(result, Err(Error::Unavailable(_))));
        assert!(w.store.outboxes().is_empty(), "no outbox without a change");
        assert_eq!(*down.0.lock().unwrap(), 1);
    }

    #[test]
    fn an_outbox_id_is_derived_from_its_effects() {
        let lead = crate::calling::lead::tests::lead();
        let at = Timestamp::UNIX_EPOCH;
        let effect = |attempt| {
            let mut job = crate::calling::work::DialJob::for_lead(&lead, false);
            job.attempt = attempt;
            Effect::Dial {
                message: DialMessage::Dial(job),
                at,
            }
        };
        let tenant = lead.tenant.clone();
        let a = Outbox::new(tenant.clone(), vec![effect(1)], at);
        let again = Outbox::new(tenant.clone(), vec![effect(1)], at);
        let other = Outbox::new(tenant, vec![effect(2)], at);
        assert_eq!(a.id, again.id);
        assert_ne!(a.id, other.id);
        assert!(a.id.len() == 24 && a.id.chars().all(|c| c.is_ascii_alphanumeric()));
    }

    #[tokio::test]
    async fn a_store_refusal_names_the_most_telling_condition() {
        let w = World::new(1, FakeDialer::default()).await;
        let lead = w.lead(0).await;
        let read = lead.version;
        let dedupe = Change::Dedupe {
            tenant: w.tenant.id.clone(),
            key: "k".into(),
        };
        w.store.commit(std::slice::from_ref(&dedupe)).await.unwrap();
        let stale = Lead {
            version: lead.version + 7,
            ..lead
        };
        let both = [Change::Save(Entity::Lead(stale)), dedupe];
        let refused = w.store.commit(&both).await;
        assert!(matches!(refused, Err(Error::Refused(Refused::Duplicate))));
        assert_eq!(
            w.lead(0).await.version,
            read,
            "nothing of the set was written"
        );
    }
}
