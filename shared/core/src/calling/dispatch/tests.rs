use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use proptest::prelude::*;

use super::*;
use crate::calling::call::{CallEvent, CallPhase, CallReport, PlacedCall};
use crate::calling::call_events::{EventResult, apply_call_event};
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::calling::work::SlotScope;
use crate::intake::campaign::Pacing;
use crate::kernel::time::{CallingWindow, LocalTime};
use crate::memory::{MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
use crate::ports::{SuppressionStore, TenantStore};
use crate::write::{Change, Commit, EffectPorts, Entity};
use crate::{AttemptId, CampaignId, LeadId, Phone};

/// 10:00 in San Francisco on a Monday: inside every window used here.
fn opening() -> Timestamp {
    "2026-11-23T18:00:00Z".parse().unwrap()
}

pub struct VirtualClock(Mutex<Timestamp>);

impl VirtualClock {
    pub fn at(t: Timestamp) -> Self {
        Self(Mutex::new(t))
    }
    pub fn set(&self, t: Timestamp) {
        let mut now = self.0.lock().unwrap();
        *now = (*now).max(t);
    }
    /// Sets the time, backwards too (a test that starts on another date).
    pub fn reset(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
    pub fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now += SignedDuration::from_secs(seconds);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// A provider that answers from a script (then accepts), remembering every request.
#[derive(Default)]
pub struct FakeDialer {
    script: Mutex<VecDeque<Result<(), DialError>>>,
    pub requests: Mutex<Vec<PlaceCall>>,
}

impl FakeDialer {
    pub fn answering(script: impl IntoIterator<Item = Result<(), DialError>>) -> Self {
        Self {
            script: Mutex::new(script.into_iter().collect()),
            ..Self::default()
        }
    }
    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[async_trait]
impl VoiceDialer for FakeDialer {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let n = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(call.clone());
            requests.len()
        };
        let answer = self.script.lock().unwrap().pop_front().unwrap_or(Ok(()));
        answer.map(|()| PlacedCall {
            provider_call_id: format!("call_{n}"),
        })
    }
}

impl Dialers for FakeDialer {
    fn dialer(&self, _: VoiceProvider) -> &dyn VoiceDialer {
        self
    }
}

pub struct World {
    pub store: MemoryStore,
    pub queue: MemoryQueue,
    pub dialer: FakeDialer,
    pub clock: VirtualClock,
    pub tenant: Tenant,
    pub campaign: Campaign,
    pub leads: Vec<Lead>,
    pub limits: DeploymentLimits,
    pub scheduler: MemoryScheduler,
    pub messages: MemoryMessages,
}

impl World {
    /// A running campaign of `leads` queued leads of tenant `acme`, whose
    /// window is the whole day.
    pub async fn new(leads: usize, dialer: FakeDialer) -> Self {
        let store = MemoryStore::default();
        let mut tenant = crate::intake::tenant::tests::tenant();
        tenant.calling_window = CallingWindow::new(
            LocalTime::hm(0, 0),
            LocalTime::parse("24:00").unwrap(),
            vec![],
        )
        .unwrap();
        tenant.max_concurrent_calls = 3;
        tenant.default_region = crate::Region::parse("US").unwrap();
        store.create_tenant(&tenant, "hash").await.unwrap();
        let campaign = Campaign {
            id: CampaignId::from_bytes(&[7; 15]),
            tenant: tenant.id.clone(),
            name: "Autumn".into(),
            status: CampaignStatus::Running,
            pacing: Pacing {
                max_parallel_calls: 2,
                calls_per_second: 1,
            },
            start_at: None,
            lead_count: leads as u64,
            created_at: opening(),
        };
        store.create_campaign(&campaign).await.unwrap();
        let leads: Vec<Lead> = (0..leads)
            .map(|i| {
                let mut l = crate::calling::lead::tests::lead();
                l.phone = Phone::parse(&format!("+1415555{:04}", 1000 + i), None).unwrap();
                l.id = LeadId::derive(&tenant.id, &campaign.id, &l.phone);
                l.campaign = campaign.id.clone();
                l
            })
            .collect();
        store.insert_leads(&leads).await.unwrap();
        Self {
            store,
            queue: MemoryQueue::default(),
            dialer,
            clock: VirtualClock::at(opening()),
            tenant,
            campaign,
            leads,
            limits: DeploymentLimits {
                retell_concurrent_calls: 10,
                vapi_concurrent_calls: 10,
                calls_per_second: 100,
                max_call_seconds: 3_600,
            },
            scheduler: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
        }
    }

    /// Changes the tenant's settings as stored (the dispatcher reads them there).
    pub fn tenant_mut(&self, change: impl FnOnce(&mut Tenant)) {
        let mut tenant = self.store.tenant_now(&self.tenant.id).unwrap();
        change(&mut tenant);
        self.store.replace_tenant(&tenant);
    }

    /// Where effects go: the queue, and a Scheduler and messenger in memory.
    pub fn effects(&self) -> EffectPorts<'_, MemoryScheduler, MemoryQueue, MemoryMessages> {
        EffectPorts {
            scheduler: &self.scheduler,
            dial_queue: &self.queue,
            messages: &self.messages,
        }
    }

    /// No effect was carried out, or left in an outbox.
    pub fn no_effects(&self) -> bool {
        self.scheduler.schedules().is_empty()
            && self.messages.jobs().is_empty()
            && self.store.outboxes().is_empty()
    }

    pub fn clock_now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn dispatcher(&self) -> Dispatcher<'_, MemoryStore, MemoryQueue, FakeDialer, VirtualClock> {
        Dispatcher {
            store: &self.store,
            queue: &self.queue,
            dialers: &self.dialer,
            clock: &self.clock,
            limits: self.limits,
        }
    }

    /// Queues attempt 1 of lead `i` and returns its job.
    pub async fn queue_lead(&self, i: usize) -> DialJob {
        let mut lead = self.lead(i).await;
        lead.queue(lead.attempts + 1, self.clock.now()).unwrap();
        self.store.save_lead(&lead).await.unwrap();
        DialJob::for_lead(&lead, false)
    }

    pub async fn lead(&self, i: usize) -> Lead {
        self.store
            .lead(&self.tenant.id, &self.leads[i].id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn dial(&self, job: &DialJob) -> DialResult {
        self.dispatcher().dial(job).await.unwrap()
    }

    pub fn event(
        &self,
        job: &DialJob,
        call_id: &str,
        phase: CallPhase,
        outcome: Option<CallOutcome>,
    ) -> CallEvent {
        CallEvent {
            provider: VoiceProvider::Retell,
            provider_call_id: call_id.into(),
            dedupe_key: format!("retell#{call_id}#{phase:?}"),
            call: Some(job.call()),
            phase,
            outcome,
            report: CallReport {
                duration_ms: matches!(phase, CallPhase::Ended | CallPhase::Analyzed)
                    .then_some(61_500),
                ..CallReport::default()
            },
        }
    }

    /// Every webhook of call `call_id` of `job`'s attempt, which ends with
    /// `outcome`, delivered as providers may: out of order, each twice.
    pub fn every_webhook_twice_out_of_order(
        &self,
        job: &DialJob,
        call_id: &str,
        outcome: CallOutcome,
    ) -> Vec<CallEvent> {
        let started = self.event(job, call_id, CallPhase::Started, None);
        let ended = self.event(job, call_id, CallPhase::Ended, Some(outcome.clone()));
        let mut analyzed = self.event(job, call_id, CallPhase::Analyzed, Some(outcome));
        analyzed.report.summary = Some("The lead decided on the phone".into());
        analyzed.report.structured = Some(serde_json::json!({"callback_time": "Friday at 4"}));
        [&analyzed, &started, &ended, &ended, &analyzed, &started]
            .map(Clone::clone)
            .to_vec()
    }

    /// The attempt numbered `number` of lead `i`.
    pub fn attempt(&self, i: usize, number: u32) -> CallAttempt {
        let id = AttemptId::derive(&self.leads[i].id, number);
        let found = self.store.attempts().into_iter().find(|a| a.id == id);
        found.unwrap_or_else(|| panic!("lead {i} has no attempt {number}"))
    }

    /// Who holds a slot in each scope `attempt` takes one in.
    pub async fn slot_holders(&self, attempt: &CallAttempt) -> Vec<Vec<AttemptId>> {
        let mut holders = Vec::new();
        for scope in SlotScope::of_attempt(attempt) {
            holders.push(self.store.slot_holders(&scope).await.unwrap());
        }
        holders
    }
}

#[tokio::test]
async fn a_queued_lead_is_called_once_with_its_metadata_and_holds_three_slots() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    let result = w.dial(&job).await;
    assert_eq!(
        result,
        DialResult::Placed {
            provider_call_id: "call_1".into()
        }
    );
    let sent = w.dialer.requests.lock().unwrap()[0].clone();
    assert_eq!(sent.call, job.call());
    assert_eq!(sent.to, w.leads[0].phone);
    assert_eq!(sent.variables["first_name"], "Ada");
    assert_eq!(sent.variables["business_name"], w.tenant.name);
    assert_eq!(w.lead(0).await.status, LeadStatus::Calling);
    assert_eq!(w.store.slots_held(), 3);
}

#[tokio::test]
async fn a_job_delivered_twice_places_one_call() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    w.dial(&job).await;
    assert!(matches!(w.dial(&job).await, DialResult::Dropped(_)));
    assert_eq!(w.dialer.calls(), 1);
}

#[tokio::test]
async fn a_job_redelivered_after_the_dispatcher_died_mid_call_places_no_second_call() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    // The first delivery recorded the attempt and took its slots, the provider
    // accepted the call, and the function died before saving that.
    let attempt = CallAttempt::dialing(
        &job.call(),
        job.campaign.clone(),
        VoiceProvider::Retell,
        w.clock.now(),
    );
    let claim = w
        .limits
        .claim(&attempt, &w.tenant, Some(&w.campaign), w.clock.now());
    w.store
        .commit(&[
            Change::Create(Entity::Attempt(attempt)),
            Change::TakeSlots(claim),
        ])
        .await
        .unwrap();
    assert_eq!(
        w.dial(&job).await,
        DialResult::Dropped("the attempt was dialed already")
    );
    assert_eq!(w.dialer.calls(), 0);
}

#[tokio::test]
async fn without_a_free_slot_the_job_comes_back_later_and_is_not_lost() {
    let w = World::new(3, FakeDialer::default()).await;
    for i in 0..2 {
        let job = w.queue_lead(i).await;
        assert!(matches!(w.dial(&job).await, DialResult::Placed { .. }));
    }
    // The campaign allows two calls at once.
    let third = w.queue_lead(2).await;
    let DialResult::Deferred { scope, until } = w.dial(&third).await else {
        panic!("the third call should wait for a slot");
    };
    assert!(scope.starts_with("Campaign"), "{scope}");
    assert_eq!(until, w.clock.now() + slot_backoff(0));
    assert_eq!(w.queue.len(), 1);
    let waiting = crate::calling::waiting::Waiting {
        scope: SlotScope::Campaign(w.tenant.id.clone(), w.campaign.id.clone()),
        since: w.clock.now(),
    };
    assert_eq!(
        w.store.waiting(),
        [crate::calling::waiting::Waiter::of(&third, &waiting)],
        "it waits for a call of its campaign to end"
    );
    // A slot is given back, but its wake is lost: the job's own retry after
    // the backoff takes it.
    w.store
        .commit(&[Change::release_slots(&w.attempt(0, 1))])
        .await
        .unwrap();
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!()
    };
    assert_eq!((again.tries, &again.waiting), (1, &Some(waiting)));
    assert!(matches!(w.dial(&again).await, DialResult::Placed { .. }));
    assert_eq!(w.dialer.calls(), 3);
    assert!(w.store.waiting().is_empty());
}

#[tokio::test]
async fn call_starts_are_paced_per_provider_account_per_second() {
    let mut w = World::new(2, FakeDialer::default()).await;
    w.limits.calls_per_second = 1;
    let (a, b) = (w.queue_lead(0).await, w.queue_lead(1).await);
    assert!(matches!(w.dial(&a).await, DialResult::Placed { .. }));
    let DialResult::Deferred { scope, until } = w.dial(&b).await else {
        panic!("the second start in the same second must wait");
    };
    assert_eq!(scope, "call starts per second");
    assert_eq!(until.as_second(), w.clock.now().as_second() + 1);
    w.clock.advance(1);
    assert!(matches!(w.dial(&b).await, DialResult::Placed { .. }));
}

#[tokio::test]
async fn a_number_on_the_do_not_call_list_is_never_dialed() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    w.store
        .commit(&[Change::Suppress(Suppression {
            tenant: w.tenant.id.clone(),
            address: w.leads[0].phone.clone().into(),
            source: SuppressionSource::Manual,
            reason: "asked by email".into(),
            at: w.clock.now(),
        })])
        .await
        .unwrap();
    assert_eq!(w.dial(&job).await, DialResult::Suppressed);
    assert_eq!(w.lead(0).await.status, LeadStatus::DoNotCall);
    assert_eq!(w.dialer.calls(), 0);
}

#[tokio::test]
async fn outside_calling_hours_the_job_waits_for_the_next_opening() {
    let w = World::new(1, FakeDialer::default()).await;
    w.clock.set("2026-11-24T06:00:00Z".parse().unwrap()); // 22:00 in San Francisco
    let job = w.queue_lead(0).await;
    let opening: Timestamp = "2026-11-24T16:00:00Z".parse().unwrap(); // 08:00, the legal start
    assert_eq!(w.dial(&job).await, DialResult::Waiting(opening));
    assert_eq!(w.queue.next_due(), Some(opening));
    assert_eq!(w.dialer.calls(), 0);
}

#[tokio::test]
async fn a_paused_campaign_places_no_calls_but_a_manual_call_goes_through() {
    let w = World::new(1, FakeDialer::default()).await;
    let mut paused = w.campaign.clone();
    paused.status = CampaignStatus::Paused;
    w.store
        .commit(&[Change::MoveCampaign {
            campaign: paused,
            expected: CampaignStatus::Running,
        }])
        .await
        .unwrap();
    let job = w.queue_lead(0).await;
    assert_eq!(
        w.dial(&job).await,
        DialResult::Dropped("the campaign is not running")
    );
    let manual = DialJob {
        manual: true,
        ..job
    };
    assert!(matches!(w.dial(&manual).await, DialResult::Placed { .. }));
}

#[tokio::test]
async fn an_invalid_number_marks_the_lead_invalid_and_frees_the_slots() {
    let w = World::new(
        1,
        FakeDialer::answering([Err(DialError::InvalidNumber("not in service".into()))]),
    )
    .await;
    let job = w.queue_lead(0).await;
    assert_eq!(
        w.dial(&job).await,
        DialResult::InvalidNumber("not in service".into())
    );
    let lead = w.lead(0).await;
    assert_eq!(lead.status, LeadStatus::Invalid);
    assert!(lead.note.unwrap().contains("not in service"));
    assert_eq!(w.store.slots_held(), 0);
}

#[tokio::test]
async fn a_throttled_provider_gets_the_job_back_after_its_retry_after_and_keeps_no_slot() {
    let throttled = DialError::Throttled {
        reason: "concurrency limit".into(),
        retry_after: Some(Duration::from_secs(30)),
    };
    let w = World::new(1, FakeDialer::answering([Err(throttled)])).await;
    let job = w.queue_lead(0).await;
    let DialResult::Retrying { until, .. } = w.dial(&job).await else {
        panic!()
    };
    assert_eq!(until, w.clock.now() + Duration::from_secs(30));
    assert_eq!(w.store.slots_held(), 0);
    assert!(w.store.attempts().is_empty());
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!()
    };
    assert!(matches!(w.dial(&again).await, DialResult::Placed { .. }));
    assert_eq!(w.dialer.calls(), 2);
}

#[tokio::test]
async fn a_failing_provider_is_retried_with_backoff_then_left_to_the_dead_letter_queue() {
    let failures = (0..=MAX_TRIES).map(|_| Err(DialError::Unavailable("502".into())));
    let w = World::new(1, FakeDialer::answering(failures)).await;
    let mut job = w.queue_lead(0).await;
    for tries in 0..MAX_TRIES {
        let DialResult::Retrying { until, .. } = w.dial(&job).await else {
            panic!("try {tries} should be retried")
        };
        assert_eq!(until, w.clock.now() + backoff(tries));
        w.clock.set(until);
        let DialMessage::Dial(next) = w.queue.take_due(until).remove(0) else {
            panic!()
        };
        job = next;
    }
    assert!(w.dispatcher().dial(&job).await.is_err());
    assert_eq!(w.store.slots_held(), 0);
}

#[tokio::test]
async fn after_a_timeout_the_call_is_dialed_again_only_if_the_provider_never_reported_it() {
    // The provider did place the first call: its event arrives, no redial.
    let w = World::new(1, FakeDialer::answering([Err(DialError::Timeout)])).await;
    let job = w.queue_lead(0).await;
    let DialResult::Retrying { until, .. } = w.dial(&job).await else {
        panic!()
    };
    assert_eq!(
        w.store.slots_held(),
        3,
        "the call may be live: keep its slots"
    );
    let started = w.event(&job, "call_x", CallPhase::Started, None);
    apply_call_event(&w.store, &w.effects(), &started, w.clock.now())
        .await
        .unwrap();
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!()
    };
    assert!(matches!(w.dial(&again).await, DialResult::Dropped(_)));
    assert_eq!(w.dialer.calls(), 1);

    // The provider never placed it: one more call, under the same attempt.
    let w = World::new(1, FakeDialer::answering([Err(DialError::Timeout)])).await;
    let job = w.queue_lead(0).await;
    let DialResult::Retrying { until, .. } = w.dial(&job).await else {
        panic!()
    };
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!()
    };
    assert!(matches!(w.dial(&again).await, DialResult::Placed { .. }));
    assert!(matches!(w.dial(&again).await, DialResult::Dropped(_)));
    assert_eq!(w.dialer.calls(), 2);
    assert_eq!(w.store.attempts().len(), 1);
}

#[tokio::test]
async fn a_late_webhook_of_a_create_call_that_timed_out_changes_nothing_of_its_redial() {
    for decision in [
        CallOutcome::AppointmentSet,
        CallOutcome::NotInterested,
        CallOutcome::CallbackRequested { at: None },
    ] {
        // The first create-call request times out, though the provider placed
        // that call (call_1); no event of it comes within the confirmation
        // window, so the job dials the attempt again: call_2.
        let w = World::new(1, FakeDialer::answering([Err(DialError::Timeout)])).await;
        let job = w.queue_lead(0).await;
        let DialResult::Retrying { until, .. } = w.dial(&job).await else {
            panic!("a timed-out request is tried again")
        };
        w.clock.set(until);
        let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
            panic!()
        };
        assert_eq!(
            w.dial(&again).await,
            DialResult::Placed {
                provider_call_id: "call_2".into()
            }
        );
        let seen = async || {
            (
                w.lead(0).await,
                w.store.attempts(),
                w.slot_holders(&w.attempt(0, 1)).await,
                w.store.usage_records(),
                w.queue.len(),
            )
        };
        let before = seen().await;
        let (lead, redial) = (w.lead(0).await, w.attempt(0, 1));
        assert_eq!((lead.status, lead.attempts), (LeadStatus::Calling, 1));
        assert_eq!(redial.provider_call_id.as_deref(), Some("call_2"));
        assert_eq!(before.2, vec![vec![redial.id.clone()]; 3]);

        // call_1's webhooks carry the same metadata (this lead, attempt 1),
        // but the attempt is call_2's: they are not applied, and ask for nothing.
        w.clock.advance(90);
        for event in w.every_webhook_twice_out_of_order(&job, "call_1", decision.clone()) {
            let applied = apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
                .await
                .unwrap();
            assert_eq!(applied, EventResult::UnknownCall, "{decision:?}");
            assert!(w.no_effects(), "{decision:?}");
            assert_eq!(seen().await, before, "{decision:?} {:?}", event.phase);
        }

        // call_2 ends as usual, and the lead ends by what was said on it.
        for event in w.every_webhook_twice_out_of_order(&job, "call_2", CallOutcome::Completed) {
            apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
                .await
                .unwrap();
        }
        let (lead, attempt) = (w.lead(0).await, w.attempt(0, 1));
        assert_eq!(
            (lead.status, lead.attempts, lead.outcome, lead.next_call),
            (LeadStatus::Completed, 1, Some(CallOutcome::Completed), None),
            "{decision:?}"
        );
        assert_eq!(attempt.provider_call_id.as_deref(), Some("call_2"));
        assert_eq!(attempt.outcome, Some(CallOutcome::Completed));
        assert_eq!(w.store.slots_held(), 0);
        assert_eq!(w.store.usage_records().len(), 1, "call_2's, once");
        assert_eq!(w.store.usage_records()[0].billable_seconds, 62);
    }
}

/// A "do not call me" said on the call whose create-call request timed out
/// (call_1, placed all the same) stops the lead and lists its number, though
/// the attempt is call_2's; nothing else of call_1 is applied, and call_2,
/// left to end, does not bring the lead back.
#[tokio::test]
async fn a_late_do_not_call_of_a_create_call_that_timed_out_still_stops_the_lead() {
    let w = World::new(1, FakeDialer::answering([Err(DialError::Timeout)])).await;
    let job = w.queue_lead(0).await;
    let DialResult::Retrying { until, .. } = w.dial(&job).await else {
        panic!("a timed-out request is tried again")
    };
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!()
    };
    w.dial(&again).await;
    let redial = w.attempt(0, 1);
    assert_eq!(redial.provider_call_id.as_deref(), Some("call_2"));

    w.clock.advance(90);
    for event in w.every_webhook_twice_out_of_order(&job, "call_1", CallOutcome::DoNotCall) {
        apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
            .await
            .unwrap();
    }
    let lead = w.lead(0).await;
    assert_eq!((lead.status, lead.attempts), (LeadStatus::DoNotCall, 1));
    assert_eq!(
        w.attempt(0, 1),
        redial,
        "call_1 changes nothing of call_2's attempt"
    );
    assert_eq!(
        w.slot_holders(&redial).await,
        vec![vec![redial.id.clone()]; 3]
    );
    let listed = w
        .store
        .suppressions(&w.tenant.id, &Default::default())
        .await
        .unwrap();
    let phones: Vec<&str> = listed.items.iter().map(|e| e.address.expose()).collect();
    assert_eq!(phones, [w.leads[0].phone.e164()]);

    for event in w.every_webhook_twice_out_of_order(&job, "call_2", CallOutcome::Completed) {
        apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
            .await
            .unwrap();
    }
    assert_eq!(w.lead(0).await.status, LeadStatus::DoNotCall);
    assert_eq!(w.store.slots_held(), 0);
    assert_eq!(w.store.usage_records().len(), 1, "call_2's");
}

/// A provider that times out on the first create-call request (placing that
/// call, call_1, all the same) and answers the second with call_2, after
/// call_1's first webhook (call_started) was applied.
struct StartedDuringTheRedial<'a> {
    w: &'a World,
    job: DialJob,
    /// What call_1 reports while the redial is asked for.
    reports: (CallPhase, Option<CallOutcome>),
}

#[async_trait]
impl VoiceDialer for StartedDuringTheRedial<'_> {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let n = {
            let mut requests = self.w.dialer.requests.lock().unwrap();
            requests.push(call.clone());
            requests.len()
        };
        if n == 1 {
            return Err(DialError::Timeout);
        }
        let (phase, outcome) = self.reports.clone();
        let started = self.w.event(&self.job, "call_1", phase, outcome);
        let applied = apply_call_event(
            &self.w.store,
            &self.w.effects(),
            &started,
            self.w.clock.now(),
        )
        .await;
        assert_eq!(applied.unwrap(), EventResult::Applied);
        Ok(PlacedCall {
            provider_call_id: format!("call_{n}"),
        })
    }
}

impl Dialers for StartedDuringTheRedial<'_> {
    fn dialer(&self, _: VoiceProvider) -> &dyn VoiceDialer {
        self
    }
}

/// Dials `job` with a create-call request that times out (call_1, placed all
/// the same), then dials it again, and call_1 reports `reports` while that
/// redial is asked for. Returns what the redial came to.
async fn redial_while_the_timed_out_call_reports(
    w: &World,
    job: &DialJob,
    reports: (CallPhase, Option<CallOutcome>),
) -> DialResult {
    let provider = StartedDuringTheRedial {
        w,
        job: job.clone(),
        reports,
    };
    let dispatcher = Dispatcher {
        store: &w.store,
        queue: &w.queue,
        dialers: &provider,
        clock: &w.clock,
        limits: w.limits,
    };
    let DialResult::Retrying { until, .. } = dispatcher.dial(job).await.unwrap() else {
        panic!("a timed-out request is tried again")
    };
    w.clock.set(until);
    let DialMessage::Dial(again) = w.queue.take_due(until).remove(0) else {
        panic!("the job comes back")
    };
    dispatcher.dial(&again).await.unwrap()
}

/// The timed-out call (call_1) ends while the redial is asked for: it
/// settled the attempt and gave its slots back, so the attempt stays its and
/// the lead is decided by it. (call_2 then runs unaccounted; telling the two
/// apart needs a try number in the call's metadata.)
#[tokio::test]
async fn an_attempt_the_timed_out_call_ended_during_the_redial_stays_that_calls() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    redial_while_the_timed_out_call_reports(
        &w,
        &job,
        (CallPhase::Ended, Some(CallOutcome::NotInterested)),
    )
    .await;
    let attempt = w.attempt(0, 1);
    assert_eq!(attempt.provider_call_id.as_deref(), Some("call_1"));
    assert!(attempt.is_ended());
    assert_eq!(w.lead(0).await.status, LeadStatus::NotInterested);
    assert_eq!(w.store.slots_held(), 0);
}

#[tokio::test]
async fn the_call_a_redial_placed_stays_the_attempts_when_the_timed_out_call_reports_meanwhile() {
    let w = World::new(1, FakeDialer::default()).await;
    let job = w.queue_lead(0).await;
    let placed =
        redial_while_the_timed_out_call_reports(&w, &job, (CallPhase::Started, None)).await;
    assert_eq!(
        placed,
        DialResult::Placed {
            provider_call_id: "call_2".into()
        }
    );
    // The provider's answer names the attempt's call, not the webhook that
    // came first.
    let attempt = w.attempt(0, 1);
    assert_eq!(attempt.provider_call_id.as_deref(), Some("call_2"));
    assert_eq!(w.lead(0).await.status, LeadStatus::Calling);
    assert_eq!(
        w.slot_holders(&attempt).await,
        vec![vec![attempt.id.clone()]; 3]
    );

    // call_1's later webhooks are not the attempt's: its end gives no slot
    // back while call_2 goes on, and decides nothing for the lead.
    let before = (w.lead(0).await, w.store.attempts(), w.store.usage_records());
    for event in w.every_webhook_twice_out_of_order(&job, "call_1", CallOutcome::NotInterested) {
        let applied = apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
            .await
            .unwrap();
        assert_eq!(applied, EventResult::UnknownCall, "{:?}", event.phase);
        assert!(w.no_effects());
    }
    assert_eq!(
        (w.lead(0).await, w.store.attempts(), w.store.usage_records()),
        before
    );
    assert_eq!(w.store.slots_held(), 3);

    // call_2's webhooks are, and the lead ends by what was said on it.
    for event in w.every_webhook_twice_out_of_order(&job, "call_2", CallOutcome::Completed) {
        apply_call_event(&w.store, &w.effects(), &event, w.clock.now())
            .await
            .unwrap();
    }
    let lead = w.lead(0).await;
    assert_eq!(
        (lead.status, lead.outcome),
        (LeadStatus::Completed, Some(CallOutcome::Completed))
    );
    assert_eq!(w.store.slots_held(), 0);
    assert_eq!(w.store.usage_records().len(), 1);
    assert_eq!(w.store.usage_records()[0].billable_seconds, 62);
}

#[tokio::test]
async fn a_sweep_queues_new_leads_spaced_at_the_campaigns_pace_and_sweeps_on() {
    let w = World::new(150, FakeDialer::default()).await;
    let sweep = CampaignSweep {
        tenant: w.tenant.id.clone(),
        campaign: w.campaign.id.clone(),
        statuses: vec![LeadStatus::New],
        cursor: None,
    };
    let now = w.clock.now();
    let first = sweep_campaign(&w.store, &w.queue, &sweep, &crate::memory::FixedClock(now))
        .await
        .unwrap();
    // A page is 99 leads: with the outbox of their jobs, one transaction of 100 items.
    let page = SWEEP_PAGE as usize;
    assert_eq!(first.queued, page);
    assert_eq!(
        first.next,
        Some(now + SignedDuration::from_secs(page as i64))
    );
    let due_now = w.queue.take_due(now);
    assert_eq!(due_now.len(), 1, "one job a second at 1 call/s");
    let last = w
        .queue
        .take_due(now + SignedDuration::from_secs(page as i64));
    let DialMessage::Sweep(next) = last.last().unwrap().clone() else {
        panic!("the next page is swept last")
    };
    let second = sweep_campaign(&w.store, &w.queue, &next, &crate::memory::FixedClock(now))
        .await
        .unwrap();
    assert_eq!((second.queued, second.next), (150 - page, None));
    let queued = w
        .store
        .leads(
            &w.tenant.id,
            &w.campaign.id,
            Some(LeadStatus::Queued),
            &PageRequest {
                limit: 1000,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(queued.items.len(), 150);
}

/// What a provider does with one create-call request, in the slot property test.
#[derive(Clone, Debug)]
enum Provider {
    Accepts,
    RefusesTheNumber,
    Throttles,
    Fails,
    TimesOut { placed_anyway: bool },
}

fn provider() -> impl Strategy<Value = Provider> {
    prop_oneof![
        4 => Just(Provider::Accepts),
        1 => Just(Provider::RefusesTheNumber),
        1 => Just(Provider::Throttles),
        1 => Just(Provider::Fails),
        1 => any::<bool>().prop_map(|placed_anyway| Provider::TimesOut { placed_anyway }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the providers answer, however events are repeated and
    /// reordered and whichever wakes are lost, once every call has ended no
    /// slot is held, no job is left waiting for one, and every ended call has
    /// exactly one usage record.
    #[test]
    fn slot_accounting_never_leaks(
        leads in 1usize..6,
        answers in proptest::collection::vec(provider(), 0..20),
        duplicate_jobs in proptest::collection::vec(any::<bool>(), 6),
        event_orders in proptest::collection::vec(proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4, 5], 0..=6).prop_shuffle(), 40),
        lost_wakes in proptest::collection::vec(any::<bool>(), 1..8),
    ) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
            let script = answers.iter().map(|a| match a {
                Provider::Accepts => Ok(()),
                Provider::RefusesTheNumber => Err(DialError::InvalidNumber("unallocated".into())),
                Provider::Throttles => Err(DialError::Throttled { reason: "429".into(), retry_after: None }),
                Provider::Fails => Err(DialError::Unavailable("503".into())),
                Provider::TimesOut { .. } => Err(DialError::Timeout),
            });
            let w = World::new(leads, FakeDialer::answering(script)).await;
            for (i, twice) in duplicate_jobs.iter().enumerate().take(leads) {
                let job = w.queue_lead(i).await;
                w.queue.enqueue(&[(DialMessage::Dial(job.clone()), w.clock.now())], w.clock.now()).await.unwrap();
                if *twice {
                    w.queue.enqueue(&[(DialMessage::Dial(job), w.clock.now())], w.clock.now()).await.unwrap();
                }
            }
            let mut orders = event_orders.into_iter().cycle();
            let mut lost = lost_wakes.into_iter().cycle();
            let mut placed: Vec<(DialJob, String)> = Vec::new();
            for _round in 0..200 {
                let Some(due) = w.queue.next_due() else { break };
                w.clock.set(due);
                for message in w.queue.take_due(due) {
                    let calls_before = w.dialer.calls();
                    let dialled: Vec<(DialJob, Result<DialResult>)> = match message {
                        DialMessage::Dial(job) => {
                            let result = w.dispatcher().dial(&job).await;
                            vec![(job, result)]
                        }
                        // A wake may be lost: the waiting job's own retry stands in.
                        DialMessage::Wake(_) if lost.next() == Some(true) => continue,
                        // Freed slots handed to the jobs waiting for them.
                        DialMessage::Wake(wake) => w.dispatcher().wake(&wake).await.unwrap().into_iter().map(|(waiter, result)| {
                            let phone = w.leads.iter().find(|l| l.id == waiter.lead).unwrap().phone.clone();
                            (waiter.woken_job(phone), Ok(result))
                        }).collect(),
                        _ => continue,
                    };
                    for (job, result) in dialled {
                        let answer = answers.get(calls_before);
                        match (&result, answer) {
                            (Ok(DialResult::Placed { provider_call_id }), _) => placed.push((job.clone(), provider_call_id.clone())),
                            (Ok(DialResult::Retrying { .. }), Some(Provider::TimesOut { placed_anyway: true })) => {
                                placed.push((job.clone(), format!("late_{calls_before}")))
                            }
                            _ => {}
                        }
                    }
                }
                // The provider reports each placed call: started, ended and
                // analyzed, some twice, in any order (a subsequence drops
                // some, but ended or analyzed always comes at least once).
                for (job, call_id) in placed.drain(..) {
                    let order = orders.next().unwrap();
                    let mut phases: Vec<CallPhase> = order.iter().map(|k| [CallPhase::Started, CallPhase::Ended, CallPhase::Analyzed][k % 3]).collect();
                    phases.push(CallPhase::Ended);
                    for phase in phases {
                        let outcome = (phase != CallPhase::Started).then_some(CallOutcome::NoAnswer);
                        let event = w.event(&job, &call_id, phase, outcome);
                        let applied = apply_call_event(&w.store, &w.effects(), &event, w.clock.now()).await.unwrap();
                        prop_assert_ne!(applied, EventResult::NotOurs);
                    }
                }
            }
            prop_assert!(w.queue.is_empty(), "jobs left over");
            let live: Vec<_> = w.store.attempts().into_iter().filter(|a| !a.is_ended()).collect();
            prop_assert!(live.is_empty(), "attempts not ended: {live:?}");
            prop_assert_eq!(w.store.slots_held(), 0);
            prop_assert!(w.store.waiting().is_empty(), "jobs left waiting: {:?}", w.store.waiting());
            let ended_calls = w.store.attempts().iter().filter(|a| a.provider_call_id.is_some() && a.outcome != Some(CallOutcome::InvalidNumber)).count();
            prop_assert_eq!(w.store.usage_records().len(), ended_calls);
            Ok(())
        })?;
    }
}

/// A dial queue that is down.
struct DownQueue;

#[async_trait]
impl DialQueue for DownQueue {
    async fn enqueue(&self, _: &[(DialMessage, Timestamp)], _: Timestamp) -> Result<()> {
        Err(Error::Unavailable("the queue is down".into()))
    }
}

#[tokio::test]
async fn a_campaign_page_queued_while_the_dial_queue_fails_keeps_its_jobs_in_its_outbox() {
    let w = World::new(3, FakeDialer::default()).await;
    let sweep = CampaignSweep {
        tenant: w.tenant.id.clone(),
        campaign: w.campaign.id.clone(),
        statuses: vec![LeadStatus::New],
        cursor: None,
    };
    let done = sweep_campaign(&w.store, &DownQueue, &sweep, &w.clock)
        .await
        .unwrap();
    assert_eq!(done.queued, 3);
    for i in 0..3 {
        assert_eq!(w.lead(i).await.status, LeadStatus::Queued);
    }
    // No lead is left queued with no job coming: the page's outbox holds
    // one job for each, for the sweep to send if nobody does.
    let outboxes = w.store.outboxes();
    assert_eq!(outboxes.len(), 1);
    let mut jobs: Vec<_> = outboxes[0]
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Dial {
                message: DialMessage::Dial(job),
                ..
            } => Some(job.lead.clone()),
            _ => None,
        })
        .collect();
    jobs.sort();
    let mut leads: Vec<_> = w.leads.iter().map(|l| l.id.clone()).collect();
    leads.sort();
    assert_eq!(jobs, leads);
}
