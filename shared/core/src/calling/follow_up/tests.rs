use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::LeadId;
use crate::Phone;
use crate::calling::call::{CallEvent, CallPhase};
use crate::calling::call_events::{EventResult, apply_call_event};
use crate::calling::dispatch::DialResult;
use crate::calling::dispatch::tests::{FakeDialer, World};
use crate::calling::outbound::{LeadAction, add_to_do_not_call, lead_action};
use crate::kernel::time::{CallingWindow, Day, LocalTime, Zone};
use crate::memory::{MemoryMessages, MemoryScheduler, SchedulerRequests};
use crate::memory::{MemoryQueue, MemoryStore};
use crate::ports::LeadStore;
use crate::write::{Change as WriteChange, Commit, EffectPorts, Outbox, run};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A tenant in New York that calls 09:00-20:00 on weekdays, one lead in New
/// York, and the Scheduler and messenger queue the effects go to.
struct Cadence {
    w: World,
    scheduler: MemoryScheduler,
    messages: MemoryMessages,
    calls: std::sync::Mutex<u32>,
}

impl Cadence {
    async fn at(now: &str) -> Self {
        let w = World::new(1, FakeDialer::default()).await;
        w.tenant_mut(|t| {
            t.calling_window = CallingWindow::new(
                LocalTime::hm(9, 0),
                LocalTime::hm(20, 0),
                vec![Day::Saturday, Day::Sunday],
            )
            .unwrap();
        });
        let mut lead = w.lead(0).await;
        lead.zone = Some(Zone::parse("America/New_York").unwrap());
        lead.email = crate::Email::parse("ada@example.com").ok();
        w.store.save_lead(&lead).await.unwrap();
        w.clock.reset(ts(now));
        Self {
            w,
            scheduler: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            calls: std::sync::Mutex::new(0),
        }
    }

    async fn lead(&self) -> Lead {
        self.w.lead(0).await
    }

    /// Dials the lead's first attempt now.
    async fn first_call(&self) {
        let job = self.w.queue_lead(0).await;
        assert!(matches!(self.w.dial(&job).await, DialResult::Placed { .. }));
        *self.calls.lock().unwrap() += 1;
    }

    /// The call in flight ends with `outcome` (and the analysis `structured`),
    /// and its effects are carried out.
    async fn call_ends(&self, outcome: CallOutcome, structured: Option<serde_json::Value>) {
        let lead = self.lead().await;
        let job = DialJob::for_lead(&lead, false);
        let call_id = format!("call_{}", self.w.dialer.calls());
        let mut event = self
            .w
            .event(&job, &call_id, CallPhase::Analyzed, Some(outcome));
        event.report.structured = structured;
        self.apply(&event).await;
    }

    async fn apply(&self, event: &CallEvent) -> EventResult {
        let now = self.w.clock_now();
        apply_call_event(&self.w.store, &self.effects(), event, now)
            .await
            .unwrap()
    }

    fn effects(&self) -> EffectPorts<'_, MemoryScheduler, MemoryQueue, MemoryMessages> {
        EffectPorts {
            scheduler: &self.scheduler,
            dial_queue: &self.w.queue,
            messages: &self.messages,
        }
    }

    /// The tenant acts on the lead through the API.
    async fn act(&self, action: LeadAction) {
        let now = self.w.clock_now();
        lead_action(
            &self.w.store,
            &self.effects(),
            &self.w.tenant,
            &self.w.leads[0].id,
            action,
            now,
        )
        .await
        .unwrap();
    }

    /// Moves the clock to the next schedule and fires it through the dial
    /// queue's consumer, as EventBridge Scheduler does.
    async fn next_schedule_fires(&self) -> (Timestamp, DialResult) {
        let at = self.scheduler.next_due().expect("a schedule is waiting");
        self.w.clock.set(at);
        let fired = self.scheduler.take_due(at);
        assert_eq!(fired.len(), 1);
        let result = self.w.dispatcher().follow_up(&fired[0]).await.unwrap();
        (at, result)
    }

    fn owed_at(lead: &Lead) -> Option<Timestamp> {
        lead.next_call.as_ref().map(|n| n.at)
    }
}

#[tokio::test]
async fn an_unanswered_lead_is_retried_after_1_4_and_24_hours_inside_its_window_across_a_weekend_and_dst()
 {
    // Friday 6 March 2026, 17:30 in New York (EST). DST starts on Sunday the 8th.
    let c = Cadence::at("2026-03-06T22:30:00Z").await;
    c.first_call().await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let lead = c.lead().await;
    assert_eq!(lead.status, LeadStatus::RetryPending);
    // +1 h: Friday 18:30 EST, inside the window.
    assert_eq!(Cadence::owed_at(&lead), Some(ts("2026-03-06T23:30:00Z")));

    let (_, placed) = c.next_schedule_fires().await;
    assert!(matches!(placed, DialResult::Placed { .. }), "{placed:?}");
    assert_eq!(c.lead().await.attempts, 2);
    c.call_ends(CallOutcome::Busy, None).await;
    // +4 h is Friday 22:30, closed; the weekend is excluded; Monday opens at
    // 09:00 EDT, which is 13:00 UTC now that DST has begun (not 14:00).
    assert_eq!(
        Cadence::owed_at(&c.lead().await),
        Some(ts("2026-03-09T13:00:00Z"))
    );

    c.next_schedule_fires().await;
    c.call_ends(CallOutcome::Voicemail, None).await;
    // +24 h: Tuesday 09:00 EDT.
    assert_eq!(
        Cadence::owed_at(&c.lead().await),
        Some(ts("2026-03-10T13:00:00Z"))
    );

    c.next_schedule_fires().await;
    c.call_ends(CallOutcome::Failed { retryable: true }, None)
        .await;
    let lead = c.lead().await;
    assert_eq!((lead.status, lead.attempts), (LeadStatus::Exhausted, 4));
    assert_eq!(lead.next_call, None);
    assert_eq!(c.w.dialer.calls(), 4);
    assert_eq!(
        c.scheduler.requests(),
        SchedulerRequests {
            creates: 3,
            updates: 0,
            deletes: 0
        },
        "one schedule per retry, nothing else"
    );
    assert!(c.scheduler.schedules().is_empty());
}

#[tokio::test]
async fn a_later_event_of_the_same_unanswered_call_keeps_the_retry_and_its_one_schedule() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    let job = DialJob::for_lead(&c.lead().await, false);
    c.apply(&c.w.event(
        &job,
        "call_1",
        CallPhase::Ended,
        Some(CallOutcome::NoAnswer),
    ))
    .await;
    let owed = Cadence::owed_at(&c.lead().await);
    c.w.clock.advance(40);
    c.apply(&c.w.event(
        &job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::Voicemail),
    ))
    .await;
    let lead = c.lead().await;
    assert_eq!(
        lead.outcome,
        Some(CallOutcome::Voicemail),
        "the outcome says more"
    );
    assert_eq!(Cadence::owed_at(&lead), owed);
    assert_eq!(c.scheduler.requests().creates, 1);
}

#[tokio::test]
async fn an_exhausted_lead_gets_an_sms_and_an_email_recorded_on_it_and_queued_for_the_messenger() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.w.tenant_mut(|t| t.retry_policy = crate::intake::tenant::RetryPolicy::new(vec![]).unwrap());
    c.first_call().await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let lead = c.lead().await;
    assert_eq!(lead.status, LeadStatus::Exhausted);
    assert_eq!(
        lead.note.as_deref(),
        Some("no answer after 1 attempts; fallback messages queued")
    );
    let sent: Vec<(Channel, String)> = c
        .messages
        .jobs()
        .into_iter()
        .map(|j| (j.channel, j.to.expose().to_owned()))
        .collect();
    assert_eq!(
        sent,
        [
            (Channel::Sms, "+14155551000".to_owned()),
            (Channel::Email, "ada@example.com".to_owned())
        ]
    );
    assert!(
        lead.messages
            .iter()
            .all(|m| m.status == MessageStatus::Queued && m.template == FALLBACK_TEMPLATE)
    );
    assert_eq!(lead.messages.len(), 2);
    assert_eq!(lead.sweep_at(), None, "nothing left for the sweep");
    assert_eq!(c.scheduler.requests(), SchedulerRequests::default());
}

#[tokio::test]
async fn a_lead_with_a_whatsapp_number_gets_the_whatsapp_template_instead_of_an_sms() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.w.tenant_mut(|t| t.retry_policy = crate::intake::tenant::RetryPolicy::new(vec![]).unwrap());
    let mut lead = c.lead().await;
    lead.whatsapp = Some(Phone::parse("+447400123456", None).unwrap());
    lead.email = None;
    c.w.store.save_lead(&lead).await.unwrap();
    c.first_call().await;
    c.call_ends(CallOutcome::Voicemail, None).await;
    let jobs = c.messages.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (
            jobs[0].channel,
            jobs[0].to.expose(),
            jobs[0].template.as_str()
        ),
        (Channel::Whatsapp, "+447400123456", FALLBACK_TEMPLATE)
    );
}

#[tokio::test]
async fn no_retry_follows_a_call_that_reached_a_decision() {
    for outcome in [
        CallOutcome::Completed,
        CallOutcome::AppointmentSet,
        CallOutcome::NotInterested,
        CallOutcome::DoNotCall,
        CallOutcome::InvalidNumber,
        CallOutcome::Failed { retryable: false },
    ] {
        let c = Cadence::at("2026-11-23T15:00:00Z").await;
        c.first_call().await;
        c.call_ends(outcome.clone(), None).await;
        let lead = c.lead().await;
        assert!(lead.status.is_final(), "{outcome:?} -> {:?}", lead.status);
        assert_eq!(lead.next_call, None, "{outcome:?}");
        assert_eq!(
            c.scheduler.requests(),
            SchedulerRequests::default(),
            "{outcome:?}"
        );
        assert!(c.messages.jobs().is_empty(), "{outcome:?}");
    }
}

#[tokio::test]
async fn the_same_schedule_firing_twice_places_one_call() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let owed = FollowUp::of(&c.lead().await).unwrap();
    c.w.clock.set(owed.due_at);
    let first = c.w.dispatcher().follow_up(&owed).await.unwrap();
    let second = c.w.dispatcher().follow_up(&owed).await.unwrap();
    assert!(matches!(first, DialResult::Placed { .. }));
    assert_eq!(
        second,
        DialResult::NotOwed("the lead is calling and owed no call".into())
    );
    // Delivered again before the first delivery's call was placed, it finds
    // the attempt recorded and places nothing either.
    let job = DialJob::for_lead(&c.lead().await, false);
    assert!(matches!(c.w.dial(&job).await, DialResult::Dropped(_)));
    assert_eq!(c.w.dialer.calls(), 2);
    assert_eq!(c.w.store.attempts().len(), 2);
}

#[tokio::test]
async fn a_callback_asked_for_as_tuesday_at_3_is_placed_then_in_the_leads_zone() {
    // Monday 23 November 2026, 10:00 in New York.
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(
        CallOutcome::CallbackRequested { at: None },
        Some(json!({"outcome": "callback_requested", "callback_time": "Tuesday at 3"})),
    )
    .await;
    let lead = c.lead().await;
    assert_eq!(lead.status, LeadStatus::CallbackPending);
    assert_eq!(Cadence::owed_at(&lead), Some(ts("2026-11-24T20:00:00Z")));
    assert_eq!(lead.note, None, "the time asked for is kept as is");
    let schedules = c.scheduler.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(schedules[0].reason, NextCallKind::Callback);
    assert_eq!(schedules[0].attempt, 2);
    let (at, placed) = c.next_schedule_fires().await;
    assert_eq!(at, ts("2026-11-24T20:00:00Z"));
    assert!(matches!(placed, DialResult::Placed { .. }));
}

#[tokio::test]
async fn a_callback_asked_for_a_past_time_moves_to_the_next_window_opening_with_a_note() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(
        CallOutcome::CallbackRequested {
            at: Some(ts("2026-11-20T20:00:00Z")),
        },
        None,
    )
    .await;
    let lead = c.lead().await;
    // Not the minute the call ended: the next opening, Tuesday 09:00.
    assert_eq!(Cadence::owed_at(&lead), Some(ts("2026-11-24T14:00:00Z")));
    let note = lead.note.unwrap();
    assert!(note.contains("already past"), "{note}");
    assert!(note.contains("Tue 2026-11-24 09:00"), "{note}");
}

#[tokio::test]
async fn a_callback_asked_for_at_23_00_moves_to_the_next_morning_with_a_note() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(
        CallOutcome::CallbackRequested { at: None },
        Some(json!({"callback_at": "2026-11-23 23:00"})),
    )
    .await;
    let lead = c.lead().await;
    assert_eq!(Cadence::owed_at(&lead), Some(ts("2026-11-24T14:00:00Z")));
    let note = lead.note.unwrap();
    assert!(note.contains("outside calling hours"), "{note}");
    assert!(note.contains("Mon 2026-11-23 23:00"), "{note}");
}

#[tokio::test]
async fn an_unreadable_callback_time_moves_to_the_next_window_opening_with_the_words_kept() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(
        CallOutcome::CallbackRequested { at: None },
        Some(json!({"callback_time": "when the moon is full"})),
    )
    .await;
    let lead = c.lead().await;
    assert_eq!(Cadence::owed_at(&lead), Some(ts("2026-11-24T14:00:00Z")));
    assert!(lead.note.unwrap().contains("when the moon is full"));
}

#[tokio::test]
async fn a_callback_that_arrives_after_the_retry_was_scheduled_moves_the_same_schedule() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    let job = DialJob::for_lead(&c.lead().await, false);
    // The end reason says no answer; the analysis, later, says call back.
    c.apply(&c.w.event(
        &job,
        "call_1",
        CallPhase::Ended,
        Some(CallOutcome::NoAnswer),
    ))
    .await;
    assert_eq!(c.scheduler.schedules()[0].reason, NextCallKind::Retry);
    let mut analyzed = c.w.event(
        &job,
        "call_1",
        CallPhase::Analyzed,
        Some(CallOutcome::CallbackRequested { at: None }),
    );
    analyzed.report.structured = Some(json!({"callback_time": "Wednesday at 11am"}));
    c.apply(&analyzed).await;
    let schedules = c.scheduler.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(
        (schedules[0].reason, schedules[0].due_at),
        (NextCallKind::Callback, ts("2026-11-25T16:00:00Z"))
    );
    assert_eq!(c.scheduler.requests().updates, 1);
}

#[tokio::test]
async fn a_new_callback_replaces_the_earlier_one() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(
        CallOutcome::CallbackRequested { at: None },
        Some(json!({"callback_time": "Friday at 4"})),
    )
    .await;
    // The business calls the lead by hand before Friday; the lead asks for Thursday 10 am.
    c.act(LeadAction::Call).await;
    assert!(c.scheduler.schedules().is_empty(), "Friday's schedule went");
    let job = DialJob::for_lead(&c.lead().await, true);
    assert!(matches!(c.w.dial(&job).await, DialResult::Placed { .. }));
    c.call_ends(
        CallOutcome::CallbackRequested { at: None },
        Some(json!({"callback_time": "Thursday at 10"})),
    )
    .await;
    let schedules = c.scheduler.schedules();
    assert_eq!(schedules.len(), 1);
    assert_eq!(
        (schedules[0].attempt, schedules[0].due_at),
        (3, ts("2026-11-26T15:00:00Z"))
    );
}

#[tokio::test]
async fn a_lead_that_books_opts_out_or_is_deleted_has_its_schedule_deleted() {
    type Stop =
        for<'a> fn(&'a Cadence) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
    let stops: [(&str, Stop); 3] = [
        ("booked", |c| {
            Box::pin(async move {
                c.act(LeadAction::MarkBooked).await;
            })
        }),
        ("do not call", |c| {
            Box::pin(async move {
                add_to_do_not_call(
                    &c.w.store,
                    &c.effects(),
                    &c.w.tenant,
                    "+14155551000",
                    None,
                    c.w.clock_now(),
                )
                .await
                .unwrap();
            })
        }),
        ("deleted", |c| {
            Box::pin(async move {
                c.act(LeadAction::Delete).await;
            })
        }),
    ];
    for (why, stop) in stops {
        let c = Cadence::at("2026-11-23T15:00:00Z").await;
        c.first_call().await;
        c.call_ends(CallOutcome::NoAnswer, None).await;
        let owed = FollowUp::of(&c.lead().await).unwrap();
        stop(&c).await;
        assert!(c.scheduler.schedules().is_empty(), "{why}");
        assert_eq!(c.scheduler.requests().deletes, 1, "{why}");
        // Had the schedule fired anyway, it would have done nothing.
        c.w.clock.set(owed.due_at);
        let fired = c.w.dispatcher().follow_up(&owed).await.unwrap();
        assert!(matches!(fired, DialResult::NotOwed(_)), "{why}: {fired:?}");
        assert_eq!(c.w.dialer.calls(), 1, "{why}");
    }
}

/// A store whose next commit is preceded by a booking made elsewhere:
/// the race of a retry firing while the lead books.
struct BooksDuringSave<'a> {
    inner: &'a MemoryStore,
    lead: &'a Lead,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Commit for BooksDuringSave<'_> {
    async fn commit(&self, changes: &[WriteChange]) -> Result<()> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let mut booked = self
                .inner
                .lead(&self.lead.tenant, &self.lead.id)
                .await?
                .unwrap();
            booked.book(booked.updated_at);
            self.inner.save_lead(&booked).await?;
        }
        self.inner.commit(changes).await
    }
    async fn clear_outbox(&self, outbox: &Outbox) -> Result<()> {
        self.inner.clear_outbox(outbox).await
    }
}

#[tokio::test]
async fn a_lead_that_books_while_its_retry_fires_is_not_called() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let owed = FollowUp::of(&c.lead().await).unwrap();
    let lead = c.lead().await;
    let racing = BooksDuringSave {
        inner: &c.w.store,
        lead: &lead,
        armed: true.into(),
    };
    let fire = FireFollowUp {
        store: &c.w.store,
        follow_up: &owed,
        by: FiredBy::Schedule,
    };
    let fired = run(&racing, &c.effects(), &fire, owed.due_at)
        .await
        .unwrap();
    assert_eq!(
        fired,
        Fired::Skipped("the lead is booked and owed no call".into())
    );
    let lead = c.lead().await;
    assert_eq!((lead.status, lead.attempts), (LeadStatus::Booked, 1));

    // The other order: the retry queued the lead, then the lead booked before
    // the dial: the dial job finds a booked lead and places nothing.
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let owed = FollowUp::of(&c.lead().await).unwrap();
    c.w.clock.set(owed.due_at);
    let fire = FireFollowUp {
        store: &c.w.store,
        follow_up: &owed,
        by: FiredBy::Schedule,
    };
    let Fired::Queued(job) = run(&c.w.store, &c.effects(), &fire, owed.due_at)
        .await
        .unwrap()
    else {
        panic!("the retry should queue the lead");
    };
    c.act(LeadAction::MarkBooked).await;
    assert!(matches!(c.w.dial(&job).await, DialResult::Dropped(_)));
    assert_eq!(c.w.dialer.calls(), 1);
    assert_eq!(c.lead().await.status, LeadStatus::Booked);
}

#[tokio::test]
async fn a_call_in_flight_that_ends_after_the_lead_booked_leaves_it_booked() {
    let c = Cadence::at("2026-11-23T15:00:00Z").await;
    c.first_call().await;
    c.act(LeadAction::MarkBooked).await;
    c.call_ends(CallOutcome::NoAnswer, None).await;
    let lead = c.lead().await;
    assert_eq!(lead.status, LeadStatus::Booked);
    assert!(c.scheduler.schedules().is_empty());
    assert_eq!(c.w.store.slots_held(), 0, "the call's slots are back");
}

#[test]
fn a_schedule_name_is_derived_from_the_lead_and_attempt_and_fits_schedulers_rules() {
    let lead = LeadId::from_bytes(&[9; 15]);
    let f = FollowUp {
        tenant: crate::TenantId::parse("acme").unwrap(),
        lead: lead.clone(),
        reason: NextCallKind::Retry,
        attempt: 3,
        due_at: ts("2026-11-24T14:00:00Z"),
    };
    let name = f.schedule_name();
    assert_eq!(name, format!("call-{lead}-3"));
    assert!(name.len() <= 64);
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    );
    let callback = FollowUp {
        reason: NextCallKind::Callback,
        due_at: ts("2026-11-25T14:00:00Z"),
        ..f.clone()
    };
    assert_eq!(
        callback.schedule_name(),
        name,
        "a callback for the attempt moves it"
    );
}

#[test]
fn a_follow_up_travels_the_dial_queue_as_json_and_back() {
    let follow_up = FollowUp {
        tenant: crate::TenantId::parse("acme").unwrap(),
        lead: LeadId::from_bytes(&[9; 15]),
        reason: NextCallKind::Callback,
        attempt: 2,
        due_at: ts("2026-11-24T20:00:00Z"),
    };
    let message = crate::calling::work::DialMessage::FollowUp(follow_up);
    let json = serde_json::to_string(&message).unwrap();
    assert!(json.starts_with(r#"{"kind":"follow_up","#), "{json}");
    assert_eq!(
        serde_json::from_str::<crate::calling::work::DialMessage>(&json).unwrap(),
        message
    );
}
