use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::calling::call::DialError;
use crate::calling::call_events::apply_call_event;
use crate::calling::dispatch::DialResult;
use crate::calling::dispatch::tests::{FakeDialer, World};
use crate::calling::lead::{LeadStatus, SWEEP_GRACE};
use crate::calling::work::DialJob;
use crate::calling::work::DialMessage;
use crate::memory::{MemoryMessages, MemoryScheduler, MemoryStore};
use crate::messaging::message::MessageStatus;
use crate::ports::SuppressionStore;
use crate::write::{EffectPorts, Effects};

/// A provider that answers lookups from a script, remembering what was asked.
#[derive(Default)]
struct FakeLookup {
    answer: Mutex<Option<std::result::Result<Option<CallEvent>, DialError>>>,
    asked: Mutex<Vec<String>>,
}

#[async_trait]
impl CallLookup for FakeLookup {
    async fn lookup_call(
        &self,
        provider_call_id: &str,
    ) -> std::result::Result<Option<CallEvent>, DialError> {
        self.asked.lock().unwrap().push(provider_call_id.into());
        self.answer.lock().unwrap().clone().unwrap_or(Ok(None))
    }
}

impl Lookups for FakeLookup {
    fn lookup(&self, _: VoiceProvider) -> &dyn CallLookup {
        self
    }
}

struct Stuck {
    w: World,
    provider: FakeLookup,
    scheduler: MemoryScheduler,
    messages: MemoryMessages,
    job: DialJob,
}

impl Stuck {
    /// Lead 0's first call placed as `call_1`, with no event since.
    async fn placed() -> Self {
        let w = World::new(1, FakeDialer::default()).await;
        let job = w.queue_lead(0).await;
        assert!(matches!(w.dial(&job).await, DialResult::Placed { .. }));
        Self {
            w,
            provider: FakeLookup::default(),
            scheduler: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            job,
        }
    }

    fn sweeper(
        &self,
    ) -> Sweeper<
        '_,
        MemoryStore,
        crate::memory::MemoryQueue,
        FakeLookup,
        MemoryScheduler,
        MemoryMessages,
    > {
        Sweeper {
            store: &self.w.store,
            queue: &self.w.queue,
            lookups: &self.provider,
            scheduler: &self.scheduler,
            messages: &self.messages,
        }
    }

    fn stuck_after(&self) -> Timestamp {
        self.w.store.attempts()[0].stuck_after.unwrap()
    }

    async fn sweep_at(&self, at: Timestamp) -> SweepReport {
        self.w.clock.set(at);
        self.sweeper().sweep(at).await.unwrap()
    }

    async fn lead(&self) -> Lead {
        self.w.lead(0).await
    }
}

#[tokio::test]
async fn a_call_is_stuck_only_after_the_longest_call_and_a_margin() {
    let s = Stuck::placed().await;
    assert_eq!(
        s.stuck_after(),
        s.w.clock_now() + SignedDuration::from_secs(3_600) + crate::calling::work::STUCK_MARGIN
    );
    let early = s
        .sweep_at(s.stuck_after() - SignedDuration::from_secs(1))
        .await;
    assert_eq!(
        early,
        SweepReport {
            index_pages: 1,
            ..SweepReport::default()
        }
    );
    assert!(s.provider.asked.lock().unwrap().is_empty());
    assert_eq!(s.w.store.slots_held(), 3);
}

#[tokio::test]
async fn a_stuck_call_the_provider_ended_gets_its_final_state_and_frees_its_slots() {
    let s = Stuck::placed().await;
    let mut ended = s.w.event(
        &s.job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::NoAnswer),
    );
    ended.call = None; // a provider record need not carry our metadata back
    *s.provider.answer.lock().unwrap() = Some(Ok(Some(ended)));
    let report = s.sweep_at(s.stuck_after()).await;
    assert_eq!(report.settled_by_provider, 1);
    assert_eq!(*s.provider.asked.lock().unwrap(), ["call_1"]);
    assert_eq!(s.w.store.slots_held(), 0);
    assert_eq!(s.w.store.usage_records().len(), 1);
    let lead = s.lead().await;
    assert_eq!(lead.status, LeadStatus::RetryPending);
    assert_eq!(s.scheduler.schedules().len(), 1, "its retry is scheduled");
    // The next sweep finds nothing more about it.
    let again = s
        .sweep_at(s.stuck_after() + SignedDuration::from_mins(15))
        .await;
    assert_eq!(again.settled_by_provider + again.marked_failed, 0);
}

#[tokio::test]
async fn a_stuck_call_the_provider_still_calls_ongoing_is_marked_failed_and_retried() {
    let s = Stuck::placed().await;
    let ongoing = s.w.event(&s.job, "call_1", CallPhase::Started, None);
    *s.provider.answer.lock().unwrap() = Some(Ok(Some(ongoing)));
    let report = s.sweep_at(s.stuck_after()).await;
    assert_eq!(report.marked_failed, 1);
    assert_eq!(s.w.store.slots_held(), 0);
    let attempt = &s.w.store.attempts()[0];
    assert_eq!(
        attempt.outcome,
        Some(CallOutcome::Failed { retryable: true })
    );
    assert!(
        attempt
            .report
            .ended_reason
            .as_deref()
            .unwrap()
            .starts_with("stuck: ")
    );
    assert_eq!(s.lead().await.status, LeadStatus::RetryPending);
}

#[tokio::test]
async fn a_stuck_call_the_provider_does_not_know_is_marked_failed() {
    let s = Stuck::placed().await;
    *s.provider.answer.lock().unwrap() = Some(Ok(None));
    assert_eq!(s.sweep_at(s.stuck_after()).await.marked_failed, 1);
    assert_eq!(s.w.store.slots_held(), 0);
}

#[tokio::test]
async fn a_provider_that_cannot_be_asked_gets_an_hour_then_the_call_is_marked_failed() {
    let s = Stuck::placed().await;
    *s.provider.answer.lock().unwrap() = Some(Err(DialError::Unavailable("502".into())));
    let first = s.sweep_at(s.stuck_after()).await;
    assert_eq!((first.lookups_failed, first.marked_failed), (1, 0));
    assert_eq!(
        s.w.store.slots_held(),
        3,
        "kept while the provider may still answer"
    );
    let later = s.sweep_at(s.stuck_after() + LOOKUP_PATIENCE).await;
    assert_eq!(later.marked_failed, 1);
    assert_eq!(s.w.store.slots_held(), 0);
}

#[tokio::test]
async fn a_retry_whose_schedule_was_never_created_is_queued_by_the_sweep() {
    let s = Stuck::placed().await;
    let ended = s.w.event(
        &s.job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::Busy),
    );
    // The event was applied, but the process died before its effects.
    apply_call_event(&s.w.store, &Dead, &ended, s.w.clock_now())
        .await
        .unwrap();
    assert!(s.scheduler.schedules().is_empty());
    let due = FollowUp::of(&s.lead().await).unwrap().due_at;
    // Its outbox gets the schedule created by the sweep; Scheduler then
    // never fires it (here): the lead is due once its time and grace pass.
    s.scheduler.set_failing(true);

    let on_time = s.sweep_at(due).await;
    assert_eq!(
        on_time.follow_ups_queued, 0,
        "the schedule gets its grace period"
    );
    s.scheduler.set_failing(false);
    let report = s.sweep_at(due + SWEEP_GRACE).await;
    assert_eq!(report.follow_ups_queued, 1);
    let lead = s.lead().await;
    assert_eq!((lead.status, lead.attempts), (LeadStatus::Queued, 2));
    let queued = s.w.queue.take_due(due + SWEEP_GRACE);
    assert!(matches!(&queued[..], [DialMessage::Dial(job)] if job.attempt == 2));
    // Once queued, the lead is no longer due.
    let again = s.sweep_at(due + SWEEP_GRACE + SWEEP_GRACE).await;
    assert_eq!(again.follow_ups_queued, 0);
}

#[tokio::test]
async fn messages_recorded_but_never_queued_are_sent_by_the_sweep_once() {
    let s = Stuck::placed().await;
    s.w.tenant_mut(|t| t.retry_policy = crate::intake::tenant::RetryPolicy::new(vec![]).unwrap());
    let ended = s.w.event(
        &s.job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::NoAnswer),
    );
    // The event was applied, but the process died before its effects.
    apply_call_event(&s.w.store, &Dead, &ended, s.w.clock_now())
        .await
        .unwrap();
    let lead = s.lead().await;
    assert_eq!(lead.status, LeadStatus::Exhausted);
    assert!(s.messages.jobs().is_empty());
    assert_eq!(s.w.store.outboxes().len(), 1);

    let report = s.sweep_at(lead.updated_at + SWEEP_GRACE).await;
    assert_eq!(report.messages_queued, 1);
    assert_eq!(s.messages.jobs().len(), 1);
    assert_eq!(s.lead().await.messages[0].status, MessageStatus::Queued);
    let again = s
        .sweep_at(lead.updated_at + SWEEP_GRACE + SWEEP_GRACE)
        .await;
    assert_eq!(again.messages_queued, 0);
    assert_eq!(s.messages.jobs().len(), 1);
    assert!(s.w.store.outboxes().is_empty());
}

/// A process that dies after its commit, before any effect.
struct Dead;

#[async_trait]
impl Effects for Dead {
    async fn carry_out(&self, _: &[crate::write::Effect], _: Timestamp) -> Result<()> {
        Err(crate::Error::Unavailable("the process died".into()))
    }
}

#[tokio::test]
async fn the_sweep_reads_only_what_is_due() {
    // 300 leads owed a call tomorrow and 1 overdue: the index hands the sweep
    // the overdue one and nothing else.
    let w = World::new(301, FakeDialer::default()).await;
    let tomorrow = w.clock_now() + SignedDuration::from_hours(24);
    for i in 0..301 {
        let mut lead = w.lead(i).await;
        lead.status = LeadStatus::RetryPending;
        lead.attempts = 1;
        lead.next_call = Some(crate::calling::lead::NextCall {
            kind: crate::calling::lead::NextCallKind::Retry,
            attempt: 2,
            at: if i == 0 { w.clock_now() } else { tomorrow },
        });
        w.store.save_lead(&lead).await.unwrap();
    }
    let due = crate::ports::SweepStore::due_work(
        &w.store,
        w.clock_now() + SWEEP_GRACE,
        &crate::ports::PageRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(due.items.len(), 1);
    assert!(matches!(&due.items[0], DueWork::Lead(l) if l.id == w.leads[0].id));
}

/// How the sweep gives up on attempt 1's call (`call_1`).
#[derive(Clone, Copy, Debug)]
enum GivesUp {
    /// The provider has no end of the call.
    NotKnown,
    /// The provider says it is still going, longer than any call may.
    StillGoing,
    /// The provider cannot be asked for an hour.
    CannotBeAsked,
    /// The create-call request timed out and its redial job was lost: the
    /// attempt has no call id to ask about.
    NoCallId,
}

/// Where the redial (attempt 2) stands when the old call's webhooks arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Redial {
    /// Placed: the lead is `calling`.
    InFlight,
    /// Its create-call request timed out: no call id yet, the lead `queued`.
    Unanswered,
}

impl GivesUp {
    const ALL: [GivesUp; 4] = [
        GivesUp::NotKnown,
        GivesUp::StillGoing,
        GivesUp::CannotBeAsked,
        GivesUp::NoCallId,
    ];

    /// A stuck attempt 1 (holding its slots), and when the sweep gives up on
    /// it; the provider answers the redial's create-call request as `redial` says.
    async fn stuck(self, redial: Redial) -> (Stuck, Timestamp) {
        let first = match self {
            GivesUp::NoCallId => Err(DialError::Timeout),
            _ => Ok(()),
        };
        let second = match redial {
            Redial::InFlight => Ok(()),
            Redial::Unanswered => Err(DialError::Timeout),
        };
        let w = World::new(1, FakeDialer::answering([first, second])).await;
        let job = w.queue_lead(0).await;
        w.dial(&job).await;
        w.queue.take_due(Timestamp::MAX); // a lost redial job, if any
        let s = Stuck {
            w,
            provider: FakeLookup::default(),
            scheduler: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            job,
        };
        let answer = match self {
            GivesUp::StillGoing => Ok(Some(s.w.event(&s.job, "call_1", CallPhase::Started, None))),
            GivesUp::CannotBeAsked => Err(DialError::Unavailable("502".into())),
            GivesUp::NotKnown | GivesUp::NoCallId => Ok(None),
        };
        *s.provider.answer.lock().unwrap() = Some(answer);
        let at = match self {
            GivesUp::CannotBeAsked => s.stuck_after() + LOOKUP_PATIENCE,
            _ => s.stuck_after(),
        };
        (s, at)
    }
}

/// What a user would see of the lead and its redial.
#[derive(Debug, PartialEq)]
struct Seen {
    lead: Lead,
    redial: crate::calling::attempt::CallAttempt,
    /// Who holds a slot in each scope the redial holds one in.
    slot_holders: Vec<Vec<crate::kernel::ids::AttemptId>>,
    usage: Vec<crate::billing::UsageRecord>,
    scheduler: crate::memory::SchedulerRequests,
    schedules: Vec<FollowUp>,
    messages: Vec<crate::messaging::message::MessageJob>,
    dial_jobs_waiting: usize,
}

impl Stuck {
    async fn seen(&self) -> Seen {
        let redial = self.w.attempt(0, 2);
        Seen {
            lead: self.lead().await,
            slot_holders: self.w.slot_holders(&redial).await,
            redial,
            usage: self.w.store.usage_records(),
            scheduler: self.scheduler.requests(),
            schedules: self.scheduler.schedules(),
            messages: self.messages.jobs(),
            dial_jobs_waiting: self.w.queue.len(),
        }
    }

    /// Applies `event` as the voice webhook does, effects carried out.
    async fn webhook(&self, event: &CallEvent) -> EventResult {
        let now = self.w.clock_now();
        let effects = EffectPorts {
            scheduler: &self.scheduler,
            dial_queue: &self.w.queue,
            messages: &self.messages,
        };
        apply_call_event(&self.w.store, &effects, event, now)
            .await
            .unwrap()
    }
}

/// Attempt 1's call is stuck and the sweep gives up on it; the retry dials
/// attempt 2 (as `redial` says); then call_1, real after all, reports late
/// that the lead decided; then the redial's call ends.
async fn late_webhook_after_the_sweep_gave_up(
    gives_up: GivesUp,
    redial: Redial,
    decision: CallOutcome,
) {
    let case = format!("{gives_up:?}, redial {redial:?}, then {decision:?}");
    let (s, redial_job) = given_up_and_redialled(gives_up, redial, &case).await;
    let gave_up_on = s.w.attempt(0, 1);
    let before = s.seen().await;

    // call_1's webhooks arrive now, late, out of order and twice.
    s.w.clock.advance(60);
    for event in
        s.w.every_webhook_twice_out_of_order(&s.job, "call_1", decision.clone())
    {
        s.webhook(&event).await;
        // Nothing changed, and nothing was scheduled, sent or queued.
        assert_eq!(s.seen().await, before, "{case}: {:?}", event.phase);
    }

    // Attempt 1's own record tells what its call came to. Its usage stays
    // the one record the sweep wrote when it gave up (no time known then):
    // one usage record per call, never a second.
    let told = s.w.attempt(0, 1);
    assert_eq!(told.outcome, Some(decision.clone()), "{case}");
    assert_eq!(told.provider_call_id.as_deref(), Some("call_1"), "{case}");
    assert_eq!(told.status, gave_up_on.status, "{case}");
    assert_eq!(told.report.duration_ms, Some(61_500), "{case}");
    assert_eq!(told.report.ended_reason, gave_up_on.report.ended_reason);
    assert!(told.usage_recorded, "{case}");

    // The redial is placed (again, if its request went unanswered) and ends
    // as usual; the lead ends by what was said on it.
    let call_id = s.place_the_redial(redial, &case).await;
    for event in
        s.w.every_webhook_twice_out_of_order(&redial_job, &call_id, CallOutcome::Completed)
    {
        s.webhook(&event).await;
    }
    let lead = s.lead().await;
    assert_eq!(
        (lead.status, lead.attempts, lead.outcome, lead.next_call),
        (LeadStatus::Completed, 2, Some(CallOutcome::Completed), None),
        "{case}"
    );
    let ended = s.w.attempt(0, 2);
    assert_eq!(ended.provider_call_id, Some(call_id), "{case}");
    assert_eq!(ended.outcome, Some(CallOutcome::Completed), "{case}");
    assert!(ended.is_ended(), "{case}");
    assert_eq!(s.w.store.slots_held(), 0, "{case}");
    assert_eq!(s.w.store.usage_records().len(), 2, "one per call: {case}");
    assert!(s.scheduler.schedules().is_empty(), "{case}");
    assert!(s.messages.jobs().is_empty(), "{case}");
}

/// Attempt 1's call is stuck and the sweep gives up on it; the retry dials
/// attempt 2 (as `redial` says). Returns the world and the redial's job.
async fn given_up_and_redialled(gives_up: GivesUp, redial: Redial, case: &str) -> (Stuck, DialJob) {
    let (s, at) = gives_up.stuck(redial).await;
    assert_eq!(s.sweep_at(at).await.marked_failed, 1, "{case}");
    assert_eq!(s.lead().await.status, LeadStatus::RetryPending, "{case}");

    // The retry fires: attempt 2 is dialled.
    let due = s.scheduler.next_due().expect("the retry is scheduled");
    s.w.clock.set(due);
    let fired = s.scheduler.take_due(due);
    let dialled = s.w.dispatcher().follow_up(&fired[0]).await.unwrap();
    let lead = s.lead().await;
    let redial_job = DialJob::for_lead(&lead, false);
    assert_eq!((lead.attempts, &lead.next_call), (2, &None), "{case}");
    match redial {
        Redial::InFlight => {
            let call_2 = DialResult::Placed {
                provider_call_id: "call_2".into(),
            };
            assert_eq!(dialled, call_2, "{case}");
            assert_eq!(lead.status, LeadStatus::Calling, "{case}");
        }
        Redial::Unanswered => {
            assert!(matches!(dialled, DialResult::Retrying { .. }), "{case}");
            assert_eq!(lead.status, LeadStatus::Queued, "{case}");
            assert_eq!(s.w.attempt(0, 2).provider_call_id, None, "{case}");
        }
    }
    let before = s.seen().await;
    assert_eq!(
        before.slot_holders,
        vec![vec![before.redial.id.clone()]; 3],
        "{case}"
    );
    (s, redial_job)
}

impl Stuck {
    /// Places the redial: it is placed already, or its job comes back after
    /// its create-call request went unanswered. Returns its call's id.
    async fn place_the_redial(&self, redial: Redial, case: &str) -> String {
        match redial {
            Redial::InFlight => "call_2".to_owned(),
            Redial::Unanswered => {
                let until = self.w.attempt(0, 2).redial_after.unwrap();
                self.w.clock.set(until);
                // (Next to the wake of the slots the stuck call gave back.)
                let again = self
                    .w
                    .queue
                    .take_due(until)
                    .into_iter()
                    .find_map(|m| match m {
                        DialMessage::Dial(job) => Some(job),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("{case}: the redial's job comes back"));
                let DialResult::Placed { provider_call_id } = self.w.dial(&again).await else {
                    panic!("{case}: the redial is dialled again")
                };
                provider_call_id
            }
        }
    }
}

/// A "do not call me" said on the call the sweep gave up on stops the lead
/// and lists its number when it arrives, however late: an opt-out wins. The
/// redial is left as it is (a call in flight cannot be taken back) and its
/// end does not bring the lead back.
#[tokio::test]
async fn a_late_do_not_call_of_a_call_the_sweep_gave_up_on_still_stops_the_lead() {
    for gives_up in GivesUp::ALL {
        let case = format!("{gives_up:?}");
        let (s, redial_job) = given_up_and_redialled(gives_up, Redial::InFlight, &case).await;
        let before = s.seen().await;
        s.w.clock.advance(60);
        for event in
            s.w.every_webhook_twice_out_of_order(&s.job, "call_1", CallOutcome::DoNotCall)
        {
            s.webhook(&event).await;
        }
        let after = s.seen().await;
        assert_eq!(
            (
                after.lead.status,
                after.lead.attempts,
                &after.lead.next_call
            ),
            (LeadStatus::DoNotCall, 2, &None),
            "{case}"
        );
        assert_eq!(
            (&after.redial, &after.slot_holders),
            (&before.redial, &before.slot_holders),
            "{case}: the redial is left to end"
        );
        let listed =
            s.w.store
                .suppressions(&s.w.tenant.id, &Default::default())
                .await
                .unwrap();
        let phones: Vec<&str> = listed.items.iter().map(|e| e.address.expose()).collect();
        assert_eq!(phones, [s.w.leads[0].phone.e164()], "{case}");
        assert!(
            after.schedules.is_empty() && after.messages.is_empty(),
            "{case}"
        );

        for event in
            s.w.every_webhook_twice_out_of_order(&redial_job, "call_2", CallOutcome::Completed)
        {
            s.webhook(&event).await;
        }
        assert_eq!(s.lead().await.status, LeadStatus::DoNotCall, "{case}");
        assert_eq!(s.w.store.slots_held(), 0, "{case}");
        assert!(s.scheduler.schedules().is_empty(), "{case}");
    }
}

fn decisions() -> [CallOutcome; 3] {
    [
        CallOutcome::AppointmentSet,
        CallOutcome::NotInterested,
        CallOutcome::CallbackRequested { at: None },
    ]
}

#[tokio::test]
async fn a_late_webhook_of_a_call_the_sweep_gave_up_on_changes_nothing_of_the_redial() {
    for gives_up in GivesUp::ALL {
        for decision in decisions() {
            late_webhook_after_the_sweep_gave_up(gives_up, Redial::InFlight, decision).await;
        }
    }
}

#[tokio::test]
async fn a_late_webhook_of_a_call_the_sweep_gave_up_on_changes_nothing_of_a_redial_with_no_call_id_yet()
 {
    for gives_up in GivesUp::ALL {
        for decision in decisions() {
            late_webhook_after_the_sweep_gave_up(gives_up, Redial::Unanswered, decision).await;
        }
    }
}

#[tokio::test]
async fn a_schedule_left_in_an_outbox_does_not_undo_the_callback_that_moved_it() {
    let s = Stuck::placed().await;
    let no_answer = s.w.event(
        &s.job,
        "call_1",
        CallPhase::Ended,
        Some(CallOutcome::NoAnswer),
    );
    // The retry's schedule is left in an outbox: its process died.
    apply_call_event(&s.w.store, &Dead, &no_answer, s.w.clock_now())
        .await
        .unwrap();
    let retry = FollowUp::of(&s.lead().await).unwrap();
    // The analysis says the lead asked to be called back: the same attempt's
    // schedule moves to the callback's time, carried out at once.
    let mut analyzed = s.w.event(
        &s.job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::CallbackRequested { at: None }),
    );
    analyzed.report.structured = Some(serde_json::json!({"callback_time": "in 3 hours"}));
    let effects = EffectPorts {
        scheduler: &s.scheduler,
        dial_queue: &s.w.queue,
        messages: &s.messages,
    };
    apply_call_event(&s.w.store, &effects, &analyzed, s.w.clock_now())
        .await
        .unwrap();
    let callback = FollowUp::of(&s.lead().await).unwrap();
    assert_eq!(callback.schedule_name(), retry.schedule_name());
    assert_ne!(callback.due_at, retry.due_at);

    // The sweep finishes the old outbox: the schedule stays the callback's.
    let outbox_due = s.w.store.outboxes()[0].due_at;
    let report = s.sweep_at(outbox_due).await;
    assert_eq!(report.outboxes_finished, 1);
    assert_eq!(s.scheduler.schedules(), [callback]);
    assert!(s.w.store.outboxes().is_empty());
}
