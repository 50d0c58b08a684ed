use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;

use super::*;
use crate::calling::call::CallPhase;
use crate::calling::call_events::{EventResult, apply_call_event};
use crate::calling::dispatch::slot_backoff;
use crate::calling::dispatch::tests::{FakeDialer, World};
use crate::calling::lead::{CallOutcome, Lead};
use crate::calling::work::DialMessage;
use crate::memory::MemoryStore;
use crate::ports::{CallContext, DialContext, Page, PageRequest};

/// A world whose campaign (2 calls at once) is full: leads 0 and 1 are on
/// the phone (`call_1`, `call_2`); each of `waiting` more leads is refused a
/// slot, one second after the other, and waits.
async fn full_campaign(waiting: usize) -> (World, Vec<DialJob>) {
    full_campaign_and(waiting, 0).await
}

/// [`full_campaign`], with `spare` more leads not queued yet.
async fn full_campaign_and(waiting: usize, spare: usize) -> (World, Vec<DialJob>) {
    let w = World::new(2 + waiting + spare, FakeDialer::default()).await;
    let mut jobs = Vec::new();
    for i in 0..2 + waiting {
        let job = w.queue_lead(i).await;
        let result = w.dial(&job).await;
        if i < 2 {
            assert!(matches!(result, DialResult::Placed { .. }), "{result:?}");
        } else {
            let DialResult::Deferred { scope, until } = result else {
                panic!("lead {i} should wait for a slot: {result:?}");
            };
            assert!(scope.starts_with("Campaign"), "{scope}");
            assert_eq!(until, w.clock_now() + slot_backoff(0));
            w.clock.advance(1);
        }
        jobs.push(job);
    }
    (w, jobs)
}

/// Lead `i`'s call (`call_<i+1>`) ends, through the webhook's use case.
async fn ends(w: &World, jobs: &[DialJob], i: usize) {
    let ended = w.event(
        &jobs[i],
        &format!("call_{}", i + 1),
        CallPhase::Ended,
        Some(CallOutcome::Completed),
    );
    let applied = apply_call_event(&w.store, &w.effects(), &ended, w.clock_now()).await;
    assert_eq!(applied.unwrap(), EventResult::Applied);
}

/// The wakes on the dial queue, due now (the jobs put back stay there).
fn wakes(w: &World) -> Vec<Wake> {
    let due = w.queue.take_due(w.clock_now());
    let mut wakes = Vec::new();
    for message in due {
        match message {
            DialMessage::Wake(wake) => wakes.push(wake),
            other => panic!("only wakes are due now: {other:?}"),
        }
    }
    wakes
}

/// The leads (by index) waiting for a slot, oldest first.
fn waiting(w: &World) -> Vec<usize> {
    w.store
        .waiting()
        .iter()
        .map(|waiter| w.leads.iter().position(|l| l.id == waiter.lead).unwrap())
        .collect()
}

fn placed(results: &[(Waiter, DialResult)]) -> Vec<&LeadId> {
    results
        .iter()
        .filter(|(_, r)| matches!(r, DialResult::Placed { .. }))
        .map(|(waiter, _)| &waiter.lead)
        .collect()
}

#[tokio::test]
async fn a_job_refused_for_a_full_campaign_is_dialled_as_soon_as_a_call_of_it_ends() {
    let (w, jobs) = full_campaign(1).await;
    let refused_at = w.clock_now() - jiff::SignedDuration::from_secs(1);
    let recorded = w.store.waiting();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (&recorded[0].scope, recorded[0].since, &recorded[0].lead),
        (
            &SlotScope::Campaign(w.tenant.id.clone(), w.campaign.id.clone()),
            refused_at,
            &jobs[2].lead
        )
    );

    // Five seconds later, long before its backoff, lead 0's call ends.
    w.clock.advance(4);
    ends(&w, &jobs, 0).await;
    let wakes = wakes(&w);
    assert_eq!(wakes.len(), 1, "the ended call wakes its scopes' waiters");
    let results = w.dispatcher().wake(&wakes[0]).await.unwrap();
    assert_eq!(placed(&results), [&jobs[2].lead]);
    assert_eq!(w.dialer.calls(), 3);
    assert_eq!(w.lead(2).await.status, LeadStatus::Calling);
    assert!(w.store.waiting().is_empty(), "placed: it waits no more");

    // Its own retry after the backoff finds it placed, and does nothing.
    let backoff = w.queue.next_due().unwrap();
    assert_eq!(backoff, refused_at + slot_backoff(0));
    w.clock.set(backoff);
    let DialMessage::Dial(again) = w.queue.take_due(backoff).remove(0) else {
        panic!("the job's own retry")
    };
    assert!(matches!(w.dial(&again).await, DialResult::Dropped(_)));
    assert_eq!(w.dialer.calls(), 3);
}

#[tokio::test]
async fn two_waiters_and_one_freed_slot_wake_one_the_oldest() {
    let (w, jobs) = full_campaign(2).await;
    assert_eq!(waiting(&w), [2, 3]);
    ends(&w, &jobs, 0).await;
    let results = w.dispatcher().wake(&wakes(&w)[0]).await.unwrap();
    assert_eq!(placed(&results), [&jobs[2].lead], "{results:?}");
    assert_eq!(
        results.len(),
        1,
        "the slot was handed on: nobody else is woken"
    );
    assert_eq!(waiting(&w), [3]);
    assert_eq!(w.dialer.calls(), 3);

    // The next call to end hands its slot to the other.
    ends(&w, &jobs, 1).await;
    let results = w.dispatcher().wake(&wakes(&w)[0]).await.unwrap();
    assert_eq!(placed(&results), [&jobs[3].lead]);
    assert!(waiting(&w).is_empty());
}

#[tokio::test]
async fn a_woken_job_that_finds_the_slot_taken_again_waits_again_in_its_place() {
    let (w, jobs) = full_campaign_and(2, 1).await;
    let before = w.store.waiting();
    let queued = w.queue.len();
    ends(&w, &jobs, 0).await;
    let wake = wakes(&w).remove(0);
    // While the wake is on its way, a job that came in meanwhile takes the slot.
    let newcomer = w.queue_lead(4).await;
    assert!(matches!(w.dial(&newcomer).await, DialResult::Placed { .. }));

    let results = w.dispatcher().wake(&wake).await.unwrap();
    let campaign = SlotScope::Campaign(w.tenant.id.clone(), w.campaign.id.clone());
    assert_eq!(
        results,
        [(
            before[0].clone(),
            DialResult::WaitsForSlot { scope: campaign }
        )],
        "the oldest is woken, and waits again; the slot was used, so nobody else is woken"
    );
    assert_eq!(w.store.waiting(), before, "each waits again in its place");
    assert_eq!(
        w.queue.len(),
        queued,
        "a woken copy puts nothing back: its own retry is on its way"
    );
    assert_eq!(
        w.dialer.calls(),
        3,
        "the provider was asked for the newcomer only"
    );

    // The next call to end hands its slot to the oldest.
    ends(&w, &jobs, 1).await;
    let results = w.dispatcher().wake(&wakes(&w)[0]).await.unwrap();
    assert_eq!(placed(&results), [&jobs[2].lead]);
    assert_eq!(waiting(&w), [3]);
}

#[tokio::test]
async fn waking_is_idempotent_the_same_wake_twice_wakes_one_job() {
    let (w, jobs) = full_campaign(2).await;
    ends(&w, &jobs, 0).await;
    // The same event again adds no second wake.
    ends_again(&w, &jobs, 0).await;
    let wakes = wakes(&w);
    assert_eq!(wakes.len(), 1);
    let effect = Effect::Wake(wakes[0].clone());
    assert_eq!(effect.id(), format!("wake:{}", w.attempt(0, 1).id));
    assert_eq!(effect, Effect::Wake(Wake::after(&w.attempt(0, 1))));

    let first = w.dispatcher().wake(&wakes[0]).await.unwrap();
    assert_eq!(placed(&first), [&jobs[2].lead]);
    // SQS delivers the same wake again: it takes nobody.
    let again = w.dispatcher().wake(&wakes[0]).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(waiting(&w), [3]);
    assert_eq!(w.dialer.calls(), 3);
}

async fn ends_again(w: &World, jobs: &[DialJob], i: usize) {
    let ended = w.event(
        &jobs[i],
        &format!("call_{}", i + 1),
        CallPhase::Ended,
        Some(CallOutcome::Completed),
    );
    let applied = apply_call_event(&w.store, &w.effects(), &ended, w.clock_now()).await;
    assert_eq!(applied.unwrap(), EventResult::Unchanged);
}

#[tokio::test]
async fn a_waiter_whose_lead_moved_on_is_passed_over_for_the_next() {
    let (w, jobs) = full_campaign(2).await;
    // Lead 2 was deleted while it waited.
    let lead = w.lead(2).await;
    w.store
        .commit(&[Change::Delete(crate::write::Entity::Lead(lead))])
        .await
        .unwrap();
    ends(&w, &jobs, 0).await;
    let results = w.dispatcher().wake(&wakes(&w)[0]).await.unwrap();
    assert!(
        matches!(results[0].1, DialResult::Dropped(_)),
        "{results:?}"
    );
    assert_eq!(placed(&results), [&jobs[3].lead]);
    assert!(w.store.waiting().is_empty());
}

#[tokio::test]
async fn a_job_that_stops_waiting_for_another_reason_takes_its_waiter_with_it() {
    let (w, _) = full_campaign(1).await;
    let mut paused = w.campaign.clone();
    paused.status = crate::intake::campaign::CampaignStatus::Paused;
    w.store
        .commit(&[Change::MoveCampaign {
            campaign: paused,
            expected: crate::intake::campaign::CampaignStatus::Running,
        }])
        .await
        .unwrap();
    let due = w.queue.next_due().unwrap();
    w.clock.set(due);
    let DialMessage::Dial(again) = w.queue.take_due(due).remove(0) else {
        panic!()
    };
    assert!(again.waiting.is_some(), "the job knows it waits");
    assert_eq!(
        w.dial(&again).await,
        DialResult::Dropped("the campaign is not running")
    );
    assert!(
        w.store.waiting().is_empty(),
        "no waiter left to wake for nothing"
    );
}

/// A store in which a call ends (its slots given back) just after the job's
/// slot was refused and before it records that it waits: the wake of that
/// call found nobody waiting.
struct EndsInBetween<'a> {
    store: &'a MemoryStore,
    release: Mutex<Option<Change>>,
}

#[async_trait]
impl CallStore for EndsInBetween<'_> {
    async fn dial_context(&self, job: &DialJob) -> Result<DialContext> {
        self.store.dial_context(job).await
    }
    async fn call_context(&self, call: &CallRef) -> Result<CallContext> {
        self.store.call_context(call).await
    }
    async fn slot_holders(&self, scope: &SlotScope) -> Result<Vec<AttemptId>> {
        self.store.slot_holders(scope).await
    }
    async fn waiters(&self, scope: &SlotScope, limit: u32) -> Result<Vec<Waiter>> {
        self.store.waiters(scope, limit).await
    }
}

#[async_trait]
impl LeadStore for EndsInBetween<'_> {
    async fn existing_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<HashSet<LeadId>> {
        self.store.existing_leads(tenant, ids).await
    }
    async fn insert_leads(&self, leads: &[Lead]) -> Result<HashSet<LeadId>> {
        self.store.insert_leads(leads).await
    }
    async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>> {
        self.store.lead(tenant, id).await
    }
    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: Option<LeadStatus>,
        page: &PageRequest,
    ) -> Result<Page<Lead>> {
        self.store.leads(tenant, campaign, status, page).await
    }
}

#[async_trait]
impl Commit for EndsInBetween<'_> {
    async fn commit(&self, changes: &[Change]) -> Result<()> {
        let waits = changes.iter().any(|c| matches!(c, Change::Wait { .. }));
        let release = waits.then(|| self.release.lock().unwrap().take()).flatten();
        if let Some(release) = release {
            self.store.commit(&[release]).await?;
        }
        self.store.commit(changes).await
    }
    async fn clear_outbox(&self, outbox: &crate::write::Outbox) -> Result<()> {
        self.store.clear_outbox(outbox).await
    }
}

#[tokio::test]
async fn a_slot_given_back_between_the_refusal_and_the_wait_is_taken_at_once() {
    let w = World::new(3, FakeDialer::default()).await;
    let mut jobs = Vec::new();
    for i in 0..2 {
        let job = w.queue_lead(i).await;
        assert!(matches!(w.dial(&job).await, DialResult::Placed { .. }));
        jobs.push(job);
    }
    let racing = EndsInBetween {
        store: &w.store,
        release: Mutex::new(Some(Change::release_slots(&w.attempt(0, 1)))),
    };
    let dispatcher = Dispatcher {
        store: &racing,
        queue: &w.queue,
        dialers: &w.dialer,
        clock: &w.clock,
        limits: w.limits,
    };
    let third = w.queue_lead(2).await;
    let result = dispatcher.dial(&third).await.unwrap();
    assert!(
        matches!(result, DialResult::Placed { .. }),
        "decided again on the freed slot: {result:?}"
    );
    assert!(w.store.waiting().is_empty());
    assert!(w.queue.is_empty(), "nothing put back");
}
