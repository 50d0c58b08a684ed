use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::*;
use crate::appointments::business::tests::business;
use crate::appointments::calendar::CalendarError;
use crate::calling::attempt::AttemptStatus;
use crate::calling::lead::LeadStatus;
use crate::memory::{MemoryCalendar, MemoryMessages, MemoryStore};
use crate::ports::{BusinessStore, LeadStore};

/// Monday 2026-11-23 08:00 in New York.
fn now() -> Timestamp {
    "2026-11-23T13:00:00Z".parse().unwrap()
}

fn at(raw: &str) -> Timestamp {
    raw.parse().unwrap()
}

struct World {
    store: MemoryStore,
    calendar: MemoryCalendar,
    messages: MemoryMessages,
    line: Line,
}

impl World {
    /// Bright Smile Dental (New York) calling its lead Ada, whose zone is
    /// Chicago, on Retell call `call_1` (attempt 1, in progress); cleanings
    /// (event type 101) free on Monday afternoon and Tuesday.
    async fn new() -> Self {
        let store = MemoryStore::default();
        let b = business();
        store.save_business(&b, None).await.unwrap();
        let mut lead = crate::calling::lead::tests::lead();
        lead.tenant = b.tenant.clone();
        lead.zone = Some(Zone::parse("America/Chicago").unwrap());
        lead.email = Email::parse("ada@example.com").ok();
        lead.status = LeadStatus::Calling;
        store.insert_leads(&[lead.clone()]).await.unwrap();
        let calendar = MemoryCalendar::default();
        calendar.offer(
            101,
            30,
            [
                at("2026-11-23T19:00:00Z"),
                at("2026-11-23T20:00:00Z"),
                at("2026-11-24T15:00:00Z"),
                at("2026-11-24T16:30:00Z"),
            ],
        );
        let ours = CallRef {
            tenant: b.tenant.clone(),
            lead: lead.id.clone(),
            attempt: 1,
        };
        store.record_attempt(&in_progress(&ours, VoiceProvider::Retell, "call_1"));
        World {
            store,
            calendar,
            messages: MemoryMessages::default(),
            line: Line {
                tenant: b.tenant,
                call: Some(ours),
                provider: VoiceProvider::Retell,
                call_id: "call_1".into(),
                caller: None,
                arrived: now(),
            },
        }
    }

    async fn ask(&self, id: &str, name: &str, args: Value) -> ToolReply {
        self.ask_on(&self.line, id, name, args).await
    }

    async fn ask_on(&self, line: &Line, id: &str, name: &str, args: Value) -> ToolReply {
        let tools = InCall {
            businesses: &self.store,
            store: &self.store,
            calendar: &self.calendar,
            messages: &self.messages,
        };
        let call = ToolCall {
            id: id.into(),
            name: name.into(),
            args,
        };
        tools.answer(line, &call, now()).await.unwrap()
    }

    async fn lead(&self) -> Lead {
        self.store
            .lead(&self.line.tenant, self.line.lead().unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    /// Nothing was written: no record, no appointment, no booking, no message.
    fn nothing_written(&self) -> bool {
        self.store.tool_records() == 0
            && self.store.appointments(&self.line.tenant).is_empty()
            && self.calendar.live_bookings().is_empty()
            && self.messages.jobs().is_empty()
    }
}

/// The attempt `ours` as the dispatcher and the call's first events leave
/// it: placed through `provider`, its call id recorded, in progress.
fn in_progress(ours: &CallRef, provider: VoiceProvider, call_id: &str) -> CallAttempt {
    CallAttempt {
        provider_call_id: Some(call_id.into()),
        status: AttemptStatus::InProgress,
        version: 2,
        ..CallAttempt::dialing(
            ours,
            crate::CampaignId::from_bytes(&[2; 15]),
            provider,
            now() - SignedDuration::from_mins(3),
        )
    }
}

fn answer(reply: &ToolReply) -> &Map<String, Value> {
    match reply {
        ToolReply::Answer(object) => object,
        ToolReply::Error(e) => panic!("expected an answer, got the error {e:?}"),
    }
}

fn error(reply: &ToolReply) -> &str {
    match reply {
        ToolReply::Error(e) => e,
        ToolReply::Answer(a) => panic!("expected an error, got {a:?}"),
    }
}

#[tokio::test]
async fn business_info_services_and_hours_come_from_the_tenants_business() {
    let w = World::new().await;
    let info = w.ask("t1", "get_business_info", json!({})).await;
    assert!(info.spoken().starts_with("This is Bright Smile Dental."));
    assert_eq!(answer(&info)["answers"][0]["topic"], "parking");

    let services = w.ask("t2", "get_services", Value::Null).await;
    assert_eq!(answer(&services)["services"].as_array().unwrap().len(), 3);
    assert!(
        services
            .spoken()
            .contains("Teeth cleaning (30 minutes, $120.00)")
    );

    let hours = w.ask("t3", "get_business_hours", json!({})).await;
    assert_eq!(
        hours.spoken(),
        "We're open Monday to Friday 9:00 AM to 5:00 PM; Saturday 10:00 AM to 2:00 PM; closed Sunday."
    );
    assert!(w.nothing_written());
}

#[tokio::test]
async fn availability_offers_the_three_nearest_free_times_in_the_leads_zone() {
    let w = World::new().await;
    let reply = w
        .ask("t1", "check_availability", json!({"service": "cleaning"}))
        .await;
    let slots = answer(&reply)["slots"].as_array().unwrap();
    let starts: Vec<&str> = slots.iter().map(|s| s["start"].as_str().unwrap()).collect();
    assert_eq!(
        starts,
        [
            "2026-11-23T19:00:00Z",
            "2026-11-23T20:00:00Z",
            "2026-11-24T15:00:00Z"
        ]
    );
    // Ada is in Chicago: 19:00 UTC is 1:00 PM there.
    assert_eq!(slots[0]["spoken"], "Monday, November 23 at 1:00 PM");
    assert_eq!(answer(&reply)["timezone"], "America/Chicago");
    assert!(reply.spoken().contains(
        "Monday, November 23 at 1:00 PM, Monday, November 23 at 2:00 PM, or Tuesday, November 24 at 9:00 AM"
    ));
}

#[tokio::test]
async fn availability_for_a_day_starts_at_that_day_and_asks_whole_days() {
    let w = World::new().await;
    let reply = w
        .ask(
            "t1",
            "check_availability",
            json!({"service": "Teeth cleaning", "date": "2026-11-24"}),
        )
        .await;
    let starts: Vec<&str> = answer(&reply)["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, ["2026-11-24T15:00:00Z", "2026-11-24T16:30:00Z"]);
    // The query runs from local midnight to local midnight, so it can be shared.
    assert_eq!(
        w.calendar.requests(),
        ["slots 101 2026-11-24T06:00:00Z..2026-12-01T06:00:00Z"]
    );
}

#[tokio::test]
async fn availability_refuses_what_cannot_be_booked_and_asks_nothing_of_the_calendar() {
    let w = World::new().await;
    let cases = [
        (json!({}), "Which service"),
        (json!({"service": "root canal"}), "called root canal"),
        (
            json!({"service": "implant-consult"}),
            "can't be booked by phone",
        ),
        (
            json!({"service": "cleaning", "date": "2026-11-01"}),
            "already passed",
        ),
        (
            json!({"service": "cleaning", "date": "next blue moon"}),
            "didn't catch the day",
        ),
        (
            json!({"service": "cleaning", "date": "2027-06-01"}),
            "60 days ahead",
        ),
    ];
    for (args, says) in cases {
        let reply = w.ask("t1", "check_availability", args.clone()).await;
        assert!(error(&reply).contains(says), "{args}: {reply:?}");
    }
    assert!(w.calendar.requests().is_empty());
    assert!(w.nothing_written());
}

#[tokio::test]
async fn a_booking_is_made_with_our_metadata_recorded_and_the_lead_becomes_booked() {
    let w = World::new().await;
    let reply = w
        .ask(
            "tc_9",
            "book_appointment",
            json!({"service": "cleaning", "start": "2026-11-24T09:00:00-06:00", "name": "Ada Lovelace"}),
        )
        .await;
    assert_eq!(answer(&reply)["booked"], true);
    assert_eq!(
        reply.spoken(),
        "You're booked for Teeth cleaning on Tuesday, November 24 at 9:00 AM. You'll get a confirmation by email."
    );
    let bookings = w.calendar.live_bookings();
    assert_eq!(bookings.len(), 1);
    let booking = &bookings[0];
    assert_eq!(
        (booking.event_type, booking.start),
        (101, at("2026-11-24T15:00:00Z"))
    );
    let lead = w.lead().await;
    assert_eq!(
        booking.metadata,
        vec![
            ("leadline_tenant", "bright".to_owned()),
            ("leadline_lead", lead.id.to_string()),
            ("leadline_call", "call_1".to_owned()),
            ("leadline_tool_call", "tc_9".to_owned()),
        ]
    );
    assert_eq!(lead.status, LeadStatus::Booked);
    let appointments = w.store.appointments(&w.line.tenant);
    assert_eq!(appointments.len(), 1);
    assert_eq!(appointments[0].booking_uid, booking.uid);
    assert_eq!(appointments[0].lead, lead.id);
    assert_eq!(
        appointments[0].service.as_ref().unwrap().as_str(),
        "cleaning"
    );
    assert_eq!(appointments[0].call.as_deref(), Some("call_1"));
}

#[tokio::test]
async fn the_same_tool_call_twice_books_once_and_answers_the_same() {
    let w = World::new().await;
    let args = json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"});
    let first = w.ask("tc_1", "book_appointment", args.clone()).await;
    let second = w.ask("tc_1", "book_appointment", args).await;
    assert_eq!(first, second);
    assert_eq!(w.calendar.live_bookings().len(), 1);
    assert_eq!(w.store.appointments(&w.line.tenant).len(), 1);
    assert_eq!(
        w.calendar
            .requests()
            .iter()
            .filter(|r| r.starts_with("book"))
            .count(),
        1,
        "the second delivery is answered from the record"
    );
}

#[tokio::test]
async fn a_slot_taken_meanwhile_gets_the_nearest_free_alternatives() {
    let w = World::new().await;
    w.calendar.take_next_slot();
    let reply = w
        .ask(
            "tc_1",
            "book_appointment",
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"}),
        )
        .await;
    let object = answer(&reply);
    assert_eq!(object["booked"], false);
    let alternatives: Vec<&str> = object["alternatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        alternatives,
        [
            "2026-11-23T19:00:00Z",
            "2026-11-23T20:00:00Z",
            "2026-11-24T16:30:00Z"
        ],
        "the three free times closest to the one asked, which someone else took"
    );
    assert!(
        reply
            .spoken()
            .starts_with("Sorry, Tuesday, November 24 at 9:00 AM was just taken.")
    );
    assert_ne!(w.lead().await.status, LeadStatus::Booked);
    assert!(w.store.appointments(&w.line.tenant).is_empty());
}

/// What the code under test logs while `work` runs (the fmt layer's text).
async fn logged<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    drop(guard);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (output, text)
}

#[tokio::test]
async fn the_calendars_words_are_logged_without_numbers_or_addresses() {
    let w = World::new().await;
    let words = "attendee ada@example.com (+14155552671) is not allowed";
    let args = json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"});
    for error in [
        CalendarError::Refused(words.into()),
        CalendarError::Unavailable(words.into()),
    ] {
        w.calendar.fail_with(error);
        let (_, log) = logged(w.ask("tc_1", "book_appointment", args.clone())).await;
        assert!(log.contains("a•••@example.com"), "{log}");
        assert_eq!(crate::kernel::redact::leaks(&log), [], "{log}");
    }
    w.calendar.fail_with(CalendarError::Refused(words.into()));
    let (_, log) =
        logged(w.ask("tc_2", "check_availability", json!({"service": "cleaning"}))).await;
    assert!(log.contains("the calendar refused a slot query"), "{log}");
    assert_eq!(crate::kernel::redact::leaks(&log), [], "{log}");
}

#[tokio::test]
async fn a_failing_calendar_gets_the_fallback_and_one_follow_up_task() {
    let w = World::new().await;
    w.calendar
        .fail_with(CalendarError::Unavailable("503 Service Unavailable".into()));
    let args = json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"});
    let reply = w.ask("tc_1", "book_appointment", args.clone()).await;
    assert_eq!(reply.spoken(), FALLBACK);
    let jobs = w.messages.jobs();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.purpose, MessagePurpose::BookingFollowUp);
    assert_eq!(job.to, "+14155552671");
    assert_eq!(job.params["service"], "Teeth cleaning");
    assert_eq!(job.params["wanted"], "2026-11-24T15:00:00Z");

    // The provider asks again with the same id: same answer, no second task.
    w.calendar.heal();
    let again = w.ask("tc_1", "book_appointment", args).await;
    assert_eq!(again, reply);
    assert_eq!(w.messages.jobs().len(), 1);
    assert!(w.calendar.live_bookings().is_empty());

    let availability = w
        .ask_on(
            &w.line,
            "tc_2",
            "check_availability",
            json!({"service": "cleaning"}),
        )
        .await;
    assert!(answer(&availability)["slots"].as_array().unwrap().len() == 3);
}

#[tokio::test]
async fn a_slow_calendar_on_availability_also_gets_the_fallback() {
    let w = World::new().await;
    w.calendar
        .fail_with(CalendarError::Unavailable("no answer within 3s".into()));
    let reply = w
        .ask("tc_1", "check_availability", json!({"service": "cleaning"}))
        .await;
    assert_eq!(reply.spoken(), FALLBACK);
    assert_eq!(w.messages.jobs().len(), 1);
}

#[tokio::test]
async fn bad_booking_arguments_get_an_error_and_nothing_is_written() {
    let w = World::new().await;
    let cases = [
        (
            json!({"service": "cleaning", "start": "2026-11-20T15:00:00Z"}),
            "already passed",
        ),
        (
            json!({"service": "cleaning", "start": "2026-11-23T13:30:00Z"}),
            "60 minutes' notice",
        ),
        (
            json!({"service": "cleaning", "start": "soonish"}),
            "didn't catch the time",
        ),
        (json!({"service": "cleaning"}), "What time"),
        (
            json!({"service": "bleaching", "start": "2026-11-24T15:00:00Z"}),
            "called bleaching",
        ),
        (
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z", "email": "ada(at)example"}),
            "email address doesn't look right",
        ),
        (
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z", "phone": "12"}),
            "phone number doesn't look right",
        ),
    ];
    for (args, says) in cases {
        let reply = w.ask("tc_1", "book_appointment", args.clone()).await;
        assert!(error(&reply).contains(says), "{args}: {reply:?}");
    }
    let unknown = w.ask("tc_2", "transfer_money", json!({})).await;
    assert!(error(&unknown).contains("no function called transfer_money"));
    let not_an_object = w.ask("tc_3", "book_appointment", json!("cleaning")).await;
    assert!(not_an_object.is_error());
    assert!(w.nothing_written());
    assert!(w.calendar.requests().is_empty());
    assert_eq!(w.lead().await.status, LeadStatus::Calling);
}

#[tokio::test]
async fn a_call_of_one_tenant_cannot_reach_another_tenants_services_or_appointments() {
    let w = World::new().await;
    // Tenant "other" has a service "vip-only" and an appointment of its own.
    let mut other = business();
    other.tenant = TenantId::parse("other").unwrap();
    other.services.retain(|s| s.id.as_str() == "whitening");
    other.services[0].id = crate::appointments::business::ServiceId::parse("vip-only").unwrap();
    w.store.save_business(&other, None).await.unwrap();
    let their_line = Line {
        tenant: other.tenant.clone(),
        call: None,
        call_id: "call_other".into(),
        caller: Some(Phone::parse("+12125550199", None).unwrap()),
        ..w.line.clone()
    };
    w.calendar.offer(102, 60, [at("2026-11-25T15:00:00Z")]);
    let theirs = w
        .ask_on(
            &their_line,
            "x1",
            "book_appointment",
            json!({"service": "vip-only", "start": "2026-11-25T15:00:00Z", "name": "Bo", "email": "bo@example.com"}),
        )
        .await;
    assert_eq!(answer(&theirs)["booked"], true);
    let their_appointment = answer(&theirs)["appointment"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let reply = w
        .ask("tc_1", "check_availability", json!({"service": "vip-only"}))
        .await;
    assert!(error(&reply).contains("called vip-only"));
    let cancel = w
        .ask(
            "tc_2",
            "cancel_appointment",
            json!({"appointment_id": their_appointment}),
        )
        .await;
    assert!(error(&cancel).contains("can't find an upcoming appointment"));
    assert_eq!(w.calendar.live_bookings().len(), 1, "theirs stands");
}

#[tokio::test]
async fn a_lead_moves_and_cancels_its_own_appointment() {
    let w = World::new().await;
    let booked = w
        .ask(
            "tc_1",
            "book_appointment",
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"}),
        )
        .await;
    assert_eq!(answer(&booked)["booked"], true);

    let moved = w
        .ask(
            "tc_2",
            "reschedule_appointment",
            json!({"start": "2026-11-24T16:30:00Z"}),
        )
        .await;
    assert_eq!(answer(&moved)["rescheduled"], true);
    let appointments = w.store.appointments(&w.line.tenant);
    assert_eq!(appointments.len(), 1, "the same appointment, moved");
    assert_eq!(appointments[0].starts_at, at("2026-11-24T16:30:00Z"));
    let live = w.calendar.live_bookings();
    assert_eq!(live.len(), 1);
    assert_eq!(
        appointments[0].booking_uid, live[0].uid,
        "the new booking's uid"
    );

    let cancelled = w.ask("tc_3", "cancel_appointment", json!({})).await;
    assert_eq!(answer(&cancelled)["cancelled"], true);
    assert_eq!(
        w.store.appointments(&w.line.tenant)[0].status,
        AppointmentStatus::Cancelled
    );
    assert!(w.calendar.live_bookings().is_empty());

    let nothing_left = w.ask("tc_4", "cancel_appointment", json!({})).await;
    assert!(error(&nothing_left).contains("can't find an upcoming appointment"));
}

#[tokio::test]
async fn an_inbound_caller_books_under_their_own_number() {
    let w = World::new().await;
    let caller = Phone::parse("+13125550123", None).unwrap();
    let line = Line {
        call: None,
        call_id: "call_in".into(),
        caller: Some(caller.clone()),
        ..w.line.clone()
    };
    let reply = w
        .ask_on(
            &line,
            "tc_1",
            "book_appointment",
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z", "name": "Cy", "email": "cy@example.com"}),
        )
        .await;
    assert_eq!(answer(&reply)["booked"], true);
    let appointment = &w.store.appointments(&line.tenant)[0];
    assert_eq!(appointment.lead, LeadId::for_caller(&line.tenant, &caller));
    // The called lead (another owner) cannot see it.
    let cancel = w.ask("tc_2", "cancel_appointment", json!({})).await;
    assert!(cancel.is_error());
}

#[tokio::test]
async fn an_inbound_number_leads_to_its_tenant_and_metadata_wins() {
    let store = MemoryStore::default();
    let mut b = business();
    let number = Phone::parse("+18005550100", None).unwrap();
    b.inbound_numbers = vec![number.clone()];
    store.save_business(&b, None).await.unwrap();
    let tenant = b.tenant.clone();
    assert_eq!(
        resolve_tenant(&store, None, Some(&number)).await.unwrap(),
        Some(tenant.clone())
    );
    let ours = TenantId::parse("acme").unwrap();
    assert_eq!(
        resolve_tenant(&store, Some(&ours), Some(&number))
            .await
            .unwrap(),
        Some(ours)
    );
    let unknown = Phone::parse("+18005550199", None).unwrap();
    assert_eq!(
        resolve_tenant(&store, None, Some(&unknown)).await.unwrap(),
        None
    );

    // Another business cannot claim the number.
    let mut thief = business();
    thief.tenant = TenantId::parse("thief").unwrap();
    thief.inbound_numbers = vec![number];
    assert!(store.save_business(&thief, None).await.is_err());
}

#[test]
fn the_nearest_times_are_by_distance_then_in_order() {
    let t = |h: i64| at("2026-11-24T00:00:00Z") + SignedDuration::from_hours(h);
    let slots = [t(1), t(5), t(9), t(10), t(30)];
    assert_eq!(nearest(&slots, t(9), 3), vec![t(5), t(9), t(10)]);
    assert_eq!(nearest(&slots, t(0), 2), vec![t(1), t(5)]);
    assert!(nearest(&[], t(0), 3).is_empty());
}

#[tokio::test]
async fn a_move_to_a_bad_or_taken_time_keeps_the_appointment_where_it_was() {
    let w = World::new().await;
    let booked = w
        .ask(
            "tc_1",
            "book_appointment",
            json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z"}),
        )
        .await;
    assert_eq!(answer(&booked)["booked"], true);
    let past = w
        .ask(
            "tc_2",
            "reschedule_appointment",
            json!({"start": "2026-11-22T15:00:00Z"}),
        )
        .await;
    assert!(error(&past).contains("already passed"));
    let unknown = w
        .ask(
            "tc_3",
            "reschedule_appointment",
            json!({"start": "2026-11-24T16:30:00Z", "appointment_id": "apt_nope"}),
        )
        .await;
    assert!(error(&unknown).contains("can't find an upcoming appointment"));

    w.calendar.take_next_slot();
    let taken = w
        .ask(
            "tc_4",
            "reschedule_appointment",
            json!({"start": "2026-11-24T16:30:00Z"}),
        )
        .await;
    assert_eq!(answer(&taken)["booked"], false);
    assert!(
        !answer(&taken)["alternatives"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let appointments = w.store.appointments(&w.line.tenant);
    assert_eq!(appointments[0].starts_at, at("2026-11-24T15:00:00Z"));
    assert_eq!(appointments[0].status, AppointmentStatus::Booked);
}

/// A booking that the true line makes (see the last lines of the test below).
fn a_booking() -> Value {
    json!({"service": "cleaning", "start": "2026-11-24T15:00:00Z", "name": "Ada"})
}

#[tokio::test]
async fn a_tool_call_whose_metadata_is_not_leadlines_call_is_refused_and_writes_nothing() {
    let w = World::new().await;
    let ours = w.line.call.clone().unwrap();
    // Another business with the same service and its own lead Bo, whom
    // leadline never called: forged metadata could name either.
    let mut other = business();
    other.tenant = TenantId::parse("other").unwrap();
    w.store.save_business(&other, None).await.unwrap();
    let mut bo = crate::calling::lead::tests::lead();
    bo.tenant = w.line.tenant.clone();
    bo.phone = Phone::parse("+14155550123", None).unwrap();
    bo.id = LeadId::from_bytes(&[9; 15]);
    bo.email = crate::Email::read("bo@example.com");
    w.store.insert_leads(&[bo.clone()]).await.unwrap();

    let forged = |call: CallRef, provider: VoiceProvider, call_id: &str| Line {
        tenant: call.tenant.clone(),
        call: Some(call),
        provider,
        call_id: call_id.into(),
        ..w.line.clone()
    };
    let retell = VoiceProvider::Retell;
    let cases = [
        (
            "another tenant's id",
            forged(
                CallRef {
                    tenant: other.tenant.clone(),
                    ..ours.clone()
                },
                retell,
                "call_1",
            ),
        ),
        (
            "another lead's id",
            forged(
                CallRef {
                    lead: bo.id.clone(),
                    ..ours.clone()
                },
                retell,
                "call_1",
            ),
        ),
        (
            "a wrong attempt number",
            forged(
                CallRef {
                    attempt: 2,
                    ..ours.clone()
                },
                retell,
                "call_1",
            ),
        ),
        (
            "the right ids on another provider call",
            forged(ours.clone(), retell, "call_forged"),
        ),
        (
            "the right ids and call id from the other provider",
            forged(ours.clone(), VoiceProvider::Vapi, "call_1"),
        ),
    ];
    for (what, line) in &cases {
        for (id, function, args) in [
            ("tc_1", "book_appointment", a_booking()),
            ("tc_2", "check_availability", json!({"service": "cleaning"})),
            ("tc_3", "get_business_info", json!({})),
        ] {
            let reply = w.ask_on(line, id, function, args).await;
            assert_eq!(error(&reply), NOT_THIS_CALL, "{what}, {function}");
        }
    }
    assert!(w.nothing_written());
    assert!(w.store.appointments(&other.tenant).is_empty());
    assert!(
        w.calendar.requests().is_empty(),
        "nothing asked of Cal.com: {:?}",
        w.calendar.requests()
    );
    assert_eq!(w.lead().await.status, LeadStatus::Calling);
    let bo_now = w.store.lead(&bo.tenant, &bo.id).await.unwrap().unwrap();
    assert_eq!(bo_now.status, bo.status);

    // The same booking on the call leadline placed is made.
    let reply = w.ask("tc_1", "book_appointment", a_booking()).await;
    assert_eq!(answer(&reply)["booked"], true);
}

#[tokio::test]
async fn a_call_takes_tool_calls_until_shortly_after_its_reported_end() {
    let w = World::new().await;
    let ours = w.line.call.clone().unwrap();
    let ended = |ended_at: Option<Timestamp>| {
        let mut attempt = in_progress(&ours, VoiceProvider::Retell, "call_1");
        attempt.status = AttemptStatus::Ended;
        attempt.report.ended_at = ended_at;
        attempt
    };
    let cases = [
        (
            "ended 10 minutes ago",
            Some(now() - SignedDuration::from_mins(10)),
        ),
        (
            "ended 2 minutes and 1 second ago",
            Some(now() - AFTER_THE_END - SignedDuration::from_secs(1)),
        ),
        (
            "ended at a time nobody reported (the sweep gave up on it)",
            None,
        ),
    ];
    for (what, ended_at) in cases {
        w.store.record_attempt(&ended(ended_at));
        let reply = w.ask("tc_1", "book_appointment", a_booking()).await;
        assert_eq!(error(&reply), NOT_THIS_CALL, "{what}");
    }
    assert!(w.nothing_written());
    assert!(w.calendar.requests().is_empty());

    // Just ended: the agent's last request, sent as the caller hung up.
    w.store
        .record_attempt(&ended(Some(now() - SignedDuration::from_secs(30))));
    let reply = w.ask("tc_1", "book_appointment", a_booking()).await;
    assert_eq!(answer(&reply)["booked"], true, "ended 30 s ago");

    // Before the provider's answer gave the attempt a call id, any call id goes.
    let dialing = CallAttempt {
        provider_call_id: None,
        status: AttemptStatus::Dialing,
        ..in_progress(&ours, VoiceProvider::Retell, "call_1")
    };
    w.store.record_attempt(&dialing);
    let line = Line {
        call_id: "call_not_yet_recorded".into(),
        ..w.line.clone()
    };
    let reply = w
        .ask_on(&line, "tc_2", "get_business_hours", json!({}))
        .await;
    assert!(!reply.is_error(), "{reply:?}");
}

#[test]
fn an_attempt_is_only_the_call_of_its_own_tenant_lead_and_number() {
    let line = Line {
        tenant: TenantId::parse("bright").unwrap(),
        call: None,
        provider: VoiceProvider::Retell,
        call_id: "call_1".into(),
        caller: None,
        arrived: now(),
    };
    let ours = CallRef {
        tenant: line.tenant.clone(),
        lead: LeadId::from_bytes(&[1; 15]),
        attempt: 1,
    };
    let attempt = in_progress(&ours, VoiceProvider::Retell, "call_1");
    assert_eq!(check_attempt(&line, &ours, Some(&attempt)), Ok(()));
    // A store that answered with the wrong item is not believed.
    let others = [
        CallAttempt {
            tenant: TenantId::parse("other").unwrap(),
            ..attempt.clone()
        },
        CallAttempt {
            lead: LeadId::from_bytes(&[2; 15]),
            ..attempt.clone()
        },
        CallAttempt {
            number: 2,
            ..attempt.clone()
        },
    ];
    for other in &others {
        assert!(
            check_attempt(&line, &ours, Some(other)).is_err(),
            "{other:?}"
        );
    }
    assert!(check_attempt(&line, &ours, None).is_err());
}
