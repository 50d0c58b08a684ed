//! Server time of one in-call tool call in process: signature check,
//! parsing, the business (cached) and the lead and attempt reads, the
//! check of the call against its attempt, the decision and, for a
//! booking, the transactional write, against the in-memory store and an
//! in-memory calendar (so the Cal.com round trip is excluded). Prints p50/p99
//! over 5,000 calls each for a booking (each a new lead: none takes the
//! duplicate shortcut), an availability answer with the calendar asked, and
//! one answered from the function's slot cache.
//!
//! `cargo bench -p leadline-service --bench tools`
//!
//! Every answer is read, not only its 200 (which a call leadline does not own
//! gets too, with a spoken error): each booking is in the calendar and in the
//! store with its lead booked, and each availability answer offers slots.
//! Without `--bench` (`cargo test --benches`) it is a smoke run of 30 calls
//! each.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Request};
use leadline_core::appointments::appointment::AppointmentStatus;
use leadline_core::appointments::business::{BusinessSettings, Service, ServiceId};
use leadline_core::appointments::calendar::Calendar;
use leadline_core::calling::attempt::{AttemptStatus, CallAttempt};
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::in_call::SEARCH_DAYS;
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::memory::{
    FixedClock, MemoryCalendar, MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore,
};
use leadline_core::ports::{BusinessStore, InCallStore, LeadStore};
use leadline_core::{CampaignId, Cents, LeadId, Phone, TenantId};
use leadline_service::cache::CachedCalendar;
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};
use serde_json::{Value, json};

const KEY: &str = "key_bench";
const N: usize = 5_000;
/// The calls of each part in a smoke run (`cargo test --benches`).
const SMOKE_N: usize = 30;

fn now() -> Timestamp {
    "2026-11-23T13:00:00Z".parse().unwrap()
}

type Webhook<K> = VoiceWebhook<
    MemoryStore,
    MemoryScheduler,
    MemoryMessages,
    FixedClock,
    MemoryStore,
    K,
    MemoryQueue,
>;

/// One business with 8 services, `n` leads in calls (lead i on Retell call
/// `call_<i>`, its attempt recorded as the dispatcher does), and a free slot
/// every 5 minutes for 40 days.
fn world<K: Calendar>(calendar: K, offer: &MemoryCalendar, n: usize) -> (Webhook<K>, Vec<CallRef>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tenant = TenantId::parse("bright").unwrap();
    let businesses = MemoryStore::default();
    let store = MemoryStore::default();
    let calls = rt.block_on(async {
        let settings: BusinessSettings = serde_json::from_value(json!({
            "name": "Bright Smile Dental", "timezone": "America/New_York",
            "calcom_api_key": "cal_bench",
            "booking_rules": {"min_notice_minutes": 60, "max_days_ahead": 60},
            "opening_hours": {"monday": [{"open": "09:00", "close": "17:00"}]}
        }))
        .unwrap();
        let mut business = settings.apply(&tenant, None, now()).unwrap();
        for i in 0..8 {
            business
                .put_service(Service {
                    id: ServiceId::parse(&format!("service-{i}")).unwrap(),
                    name: format!("Service {i}"),
                    duration_minutes: 30,
                    price: Cents(10_000),
                    calcom_event_type_id: 100 + i,
                    voice_booking: true,
                    description: None,
                })
                .unwrap();
        }
        businesses.save_business(&business, None).await.unwrap();
        let campaign = CampaignId::from_bytes(&[7; 15]);
        let mut leads = Vec::with_capacity(n);
        for i in 0..n {
            let phone = Phone::parse(&format!("+1415555{:04}", i % 10_000), None).unwrap();
            leads.push(Lead {
                id: LeadId::derive(&tenant, &campaign, &phone),
                tenant: tenant.clone(),
                campaign: campaign.clone(),
                phone,
                name: Some("Ada".into()),
                email: leadline_core::Email::parse("ada@example.com").ok(),
                whatsapp: None,
                partner: None,
                zone: None,
                language: None,
                source: Default::default(),
                preferred_phone: None,
                from_call: Vec::new(),
                status: LeadStatus::Calling,
                attempts: 1,
                outcome: None,
                note: None,
                next_call: None,
                messages: Vec::new(),
                messaging: Default::default(),
                created_at: now(),
                updated_at: now(),
                version: 0,
                effects: Default::default(),
            });
        }
        store.insert_leads(&leads).await.unwrap();
        let calls = leads
            .iter()
            .map(|l| CallRef {
                tenant: tenant.clone(),
                lead: l.id.clone(),
                attempt: 1,
            })
            .collect::<Vec<_>>();
        for (i, call) in calls.iter().enumerate() {
            store.record_attempt(&CallAttempt {
                provider_call_id: Some(format!("call_{i}")),
                status: AttemptStatus::InProgress,
                ..CallAttempt::dialing(call, campaign.clone(), VoiceProvider::Retell, now())
            });
        }
        calls
    });
    let first = now() + SignedDuration::from_hours(2);
    offer.offer(
        100,
        30,
        (0..40 * 24 * 12).map(|i| first + SignedDuration::from_mins(5 * i)),
    );
    let webhook = VoiceWebhook {
        store,
        businesses,
        calendar,
        follow_ups: MemoryScheduler::default(),
        messages: MemoryMessages::default(),
        dial_queue: MemoryQueue::default(),
        clock: FixedClock(now()),
        retell_api_key: KEY.into(),
        vapi: VapiAuth::Secret("s".into()),
        inbound: Default::default(),
    };
    (webhook, calls)
}

fn request(call: &CallRef, i: usize, name: &str, args: serde_json::Value) -> Request {
    let body = json!({
        "name": name, "args": args,
        "call": {"call_id": format!("call_{i}"), "direction": "outbound",
                 "from_number": "+14155550100", "to_number": "+14155552671",
                 "metadata": call.to_metadata()}
    })
    .to_string();
    let signature = leadline_voice::retell::sign(body.as_bytes(), KEY, now().as_millisecond());
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/webhooks/retell/tools")
        .header("x-retell-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

/// The time of each request, sorted, and each answer's JSON in order.
fn measure<K: Calendar>(
    rt: &tokio::runtime::Runtime,
    webhook: &Webhook<K>,
    requests: Vec<Request>,
) -> (Vec<Duration>, Vec<Value>) {
    let mut times = Vec::with_capacity(requests.len());
    let mut answers = Vec::with_capacity(requests.len());
    rt.block_on(async {
        for req in requests {
            let t = Instant::now();
            let response = webhook.handle(req).await;
            times.push(t.elapsed());
            assert_eq!(response.status(), 200);
            answers.push(match response.body() {
                Body::Text(text) => serde_json::from_str(text).unwrap(),
                Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
                Body::Empty => Value::Null,
                _ => unreachable!("a tool answer is JSON"),
            });
        }
    });
    times.sort();
    (times, answers)
}

/// Each answer is a booking made: `booked`, with its appointment.
fn assert_booked(answers: &[Value]) {
    for answer in answers {
        assert!(
            answer["booked"] == true && answer["appointment"]["id"].is_string(),
            "a booking answer that booked nothing: {answer}"
        );
    }
}

/// Each answer offers free times: a sentence to say and a non-empty list of
/// slots, not a spoken error.
fn assert_offers_slots(answers: &[Value]) {
    for answer in answers {
        let say = answer["say"].as_str().unwrap_or_default();
        let slots = answer["slots"].as_array().map_or(0, Vec::len);
        assert!(
            answer.get("error").is_none()
                && !say.is_empty()
                && slots > 0
                && answer["slots"][0]["start"].is_string(),
            "an availability answer that offers no slot: {answer}"
        );
    }
}

/// The leadline side of `n` bookings: one appointment per lead, booked, and
/// every lead booked.
fn assert_recorded<K: Calendar>(
    rt: &tokio::runtime::Runtime,
    webhook: &Webhook<K>,
    calls: &[CallRef],
) {
    assert_eq!(
        webhook.store.appointments(&calls[0].tenant).len(),
        calls.len(),
        "one appointment recorded per booking"
    );
    rt.block_on(async {
        for call in calls {
            let appointments = webhook
                .store
                .appointments_of(&call.tenant, &call.lead)
                .await
                .unwrap();
            assert!(
                appointments.len() == 1 && appointments[0].status == AppointmentStatus::Booked,
                "lead {} has {appointments:?}",
                call.lead
            );
            let lead = webhook
                .store
                .lead(&call.tenant, &call.lead)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                lead.status,
                LeadStatus::Booked,
                "lead {} is booked",
                call.lead
            );
        }
    });
}

fn report(what: &str, times: &[Duration], budget: &str) {
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "{what} ({} calls): p50 {:?}, p99 {:?}, max {:?} ({budget})",
        times.len(),
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke { SMOKE_N } else { N };
    if smoke {
        println!("tools: smoke run ({n} calls each; `cargo bench` runs {N})");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let calendar = MemoryCalendar::default();
    let (webhook, calls) = world(MemoryCalendar::default(), &calendar, n);
    let webhook = VoiceWebhook {
        calendar,
        ..webhook
    };
    // The bookings take the free times after the days an availability ask
    // searches (5,000 of them fill 17 days), so the asks below are answered
    // with free times, not with "I don't see any free times".
    let first_booked = now() + SignedDuration::from_hours(24 * (SEARCH_DAYS + 1));
    let slots: Vec<Timestamp> = (0..n)
        .map(|i| first_booked + SignedDuration::from_mins(5 * i as i64))
        .collect();
    let bookings = calls
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(i, (call, start))| {
            request(
                call,
                i,
                "book_appointment",
                json!({"service": "service-0", "start": start.to_string()}),
            )
        })
        .collect();
    let (times, answers) = measure(&rt, &webhook, bookings);
    assert_booked(&answers);
    assert_eq!(
        webhook.calendar.live_bookings().len(),
        n,
        "every booking made"
    );
    assert_recorded(&rt, &webhook, &calls);
    report(
        "book_appointment, calendar in memory",
        &times,
        "budget p99 10 ms",
    );

    let asks = calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            request(
                call,
                i,
                "check_availability",
                json!({"service": "service-0"}),
            )
        })
        .collect();
    let (times, answers) = measure(&rt, &webhook, asks);
    assert_offers_slots(&answers);
    report(
        "check_availability, calendar in memory",
        &times,
        "budget p99 10 ms",
    );

    let offer = MemoryCalendar::default();
    let (cached, calls) = world(
        CachedCalendar::new(MemoryCalendar::default(), CachedCalendar::<()>::TTL),
        &offer,
        n,
    );
    let cached = VoiceWebhook {
        calendar: CachedCalendar::new(offer, CachedCalendar::<()>::TTL),
        ..cached
    };
    let asks: Vec<Request> = calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            request(
                call,
                i,
                "check_availability",
                json!({"service": "service-0"}),
            )
        })
        .collect();
    let (times, answers) = measure(&rt, &cached, asks);
    assert_offers_slots(&answers);
    report(
        "check_availability, answered from the slot cache",
        &times,
        "budget p99 3 ms",
    );
}
