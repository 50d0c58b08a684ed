//! The Cal.com endpoints over HTTP, on a simulator whose clock stands still
//! at Friday 20 November 2026, noon in New York.

use std::sync::OnceLock;
use std::time::Instant;

use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::*;
use crate::config::{SimConfig, VirtualClock};
use crate::server::{Sim, SimHandle};

const ACME: &str = "cal_live_acme";
const OTHER: &str = "cal_test_other";
const NOW: &str = "2026-11-20T17:00:00Z";
const TAKEN: &str = "User either already has booking at this time or is not available";

async fn sim() -> SimHandle {
    let clock = VirtualClock {
        real_origin: Timestamp::now(),
        virtual_origin: NOW.parse().unwrap(),
        scale: 0.0,
    };
    Sim::start(SimConfig {
        clock: Some(clock),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// One client for all tests, as building one (loading TLS roots) is slow. It
/// keeps no idle connections: each test has its own runtime.
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    })
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

async fn send(
    sim: &SimHandle,
    method: Method,
    path: &str,
    key: Option<&str>,
    version: Option<&str>,
    body: Option<Value>,
) -> Answer {
    let client = client();
    let mut request = client.request(method, format!("{}{path}", sim.url()));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(version) = version {
        request = request.header("cal-api-version", version);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn slots(sim: &SimHandle, key: &str, query: &str) -> Answer {
    let path = format!("/v2/slots?{query}");
    send(
        sim,
        Method::GET,
        &path,
        Some(key),
        Some(SLOTS_API_VERSION),
        None,
    )
    .await
}

async fn post(sim: &SimHandle, key: &str, path: &str, body: Value) -> Answer {
    let version = Some(BOOKINGS_API_VERSION);
    send(sim, Method::POST, path, Some(key), version, Some(body)).await
}

fn booking(start: &str) -> Value {
    json!({
        "start": start, "eventTypeId": 7,
        "attendee": {"name": "Sam Lee", "email": "sam.lee@example.com",
                     "timeZone": "America/New_York", "phoneNumber": "+14155550100"},
        "metadata": {"leadline_call": "call_1"},
    })
}

const TUESDAY: &str = "eventTypeId=7&start=2026-11-24&end=2026-11-24&timeZone=America/New_York";

#[tokio::test]
async fn slots_come_by_day_in_the_zone_asked_for() {
    let sim = sim().await;
    let answer = slots(
        &sim,
        ACME,
        "eventTypeId=7&start=2026-11-20&end=2026-11-24T23:59:59Z&timeZone=America/New_York",
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["status"], "success");
    let data = answer.body["data"].as_object().unwrap();
    // Friday afternoon after noon, no weekend, Monday and Tuesday.
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["2026-11-20", "2026-11-23", "2026-11-24"]
    );
    assert_eq!(data["2026-11-20"].as_array().unwrap().len(), 10);
    assert_eq!(
        data["2026-11-20"][0],
        json!({"start": "2026-11-20T12:00:00.000-05:00"})
    );
    assert_eq!(data["2026-11-24"].as_array().unwrap().len(), 16);

    let utc = slots(&sim, ACME, "eventTypeId=7&start=2026-11-24&end=2026-11-24").await;
    assert_eq!(
        utc.body["data"]["2026-11-24"][0],
        json!({"start": "2026-11-24T14:00:00.000Z"})
    );
}

#[tokio::test]
async fn a_key_and_the_api_version_are_required_and_every_request_is_recorded() {
    let sim = sim().await;
    let path = format!("/v2/slots?{TUESDAY}");
    for key in [None, Some("sim-retell-api-key")] {
        let answer = send(&sim, Method::GET, &path, key, Some(SLOTS_API_VERSION), None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body["error"]["code"], "UnauthorizedException");
    }
    let answer = send(&sim, Method::GET, &path, Some(ACME), None, None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.message().contains("2024-09-04"), "{}", answer.body);
    let wrong = Some(BOOKINGS_API_VERSION);
    let answer = send(&sim, Method::GET, &path, Some(ACME), wrong, None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let version = Some(SLOTS_API_VERSION);
    let answer = send(
        &sim,
        Method::POST,
        "/v2/bookings",
        Some(ACME),
        version,
        Some(booking("2026-11-24T15:00:00Z")),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "bookings want 2024-08-13"
    );
    assert!(answer.message().contains("2024-08-13"));

    let all = sim.control().calcom_requests(None);
    let statuses: Vec<_> = all.iter().map(|r| (r.seq, r.status)).collect();
    assert_eq!(statuses, [(1, 401), (2, 401), (3, 400), (4, 400), (5, 400)]);
    assert_eq!(all[0].account, None);
    let acme = sim.control().calcom_requests(Some(ACME));
    assert_eq!(acme.len(), 3);
    assert_eq!(acme[0].query["timeZone"], "America/New_York");
    assert_eq!(acme[0].api_version, None);
    assert_eq!(acme[0].path, "/v2/slots");
    assert_eq!(acme[2].method, "POST");
    assert_eq!(acme[2].body["eventTypeId"], 7);
}

#[tokio::test]
async fn a_booked_slot_is_taken_for_that_account_only() {
    let sim = sim().await;
    let answer = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T15:00:00Z")).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let data = &answer.body["data"];
    assert_eq!(data["status"], "accepted");
    assert_eq!(data["start"], "2026-11-24T15:00:00.000Z");
    assert_eq!(data["end"], "2026-11-24T15:30:00.000Z");
    assert_eq!(data["metadata"], json!({"leadline_call": "call_1"}));
    assert_eq!(data["attendees"][0]["phoneNumber"], "+14155550100");
    let uid = data["uid"].as_str().unwrap();

    let tuesday = slots(&sim, ACME, TUESDAY).await;
    let starts = tuesday.body["data"]["2026-11-24"].as_array().unwrap();
    assert_eq!(starts.len(), 15);
    assert!(!starts.contains(&json!({"start": "2026-11-24T10:00:00.000-05:00"})));
    let other = slots(&sim, OTHER, TUESDAY).await;
    assert_eq!(
        other.body["data"]["2026-11-24"].as_array().unwrap().len(),
        16
    );

    let again = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T15:00:00Z")).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body["status"], "error");
    assert_eq!(again.body["path"], "/v2/bookings");
    assert_eq!(
        again.body["error"],
        json!({"code": "BadRequestException", "message": TAKEN,
               "details": {"message": TAKEN, "error": "Bad Request", "statusCode": 400}})
    );
    let got = send(
        &sim,
        Method::GET,
        &format!("/v2/bookings/{uid}"),
        Some(ACME),
        Some(BOOKINGS_API_VERSION),
        None,
    )
    .await;
    assert_eq!(got.body["data"], *data);
    let elsewhere = send(
        &sim,
        Method::GET,
        &format!("/v2/bookings/{uid}"),
        Some(OTHER),
        Some(BOOKINGS_API_VERSION),
        None,
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.body["error"]["code"], "NotFoundException");
}

#[tokio::test]
async fn a_booking_outside_the_hours_in_the_past_or_invalid_is_refused() {
    let sim = sim().await;
    for (start, message) in [
        ("2026-11-24T23:00:00Z", TAKEN),
        ("2026-11-21T15:00:00Z", TAKEN),
        (
            "2026-11-20T15:00:00Z",
            "Attempting to book a meeting in the past.",
        ),
    ] {
        let answer = post(&sim, ACME, "/v2/bookings", booking(start)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{start}");
        assert_eq!(answer.message(), message, "{start}");
    }
    let mut invalid = booking("2026-11-24T15:00:00Z");
    invalid["attendee"]["email"] = json!("not-an-email");
    let answer = post(&sim, ACME, "/v2/bookings", invalid).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Bad Request Exception");
    let errors = &answer.body["error"]["details"]["errors"];
    assert_eq!(errors[0]["property"], "attendee");
    assert_eq!(
        errors[0]["children"][0]["constraints"]["isEmail"],
        "email must be an email"
    );
    assert!(sim.control().calcom_bookings(Some(ACME)).is_empty());
}

#[tokio::test]
async fn a_booking_moves_and_is_cancelled() {
    let sim = sim().await;
    let first = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T15:00:00Z")).await;
    let uid = first.body["data"]["uid"].as_str().unwrap().to_owned();
    let moved = post(
        &sim,
        ACME,
        &format!("/v2/bookings/{uid}/reschedule"),
        json!({"start": "2026-11-25T16:00:00Z", "reschedulingReason": "the lead asked"}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.body);
    let new = &moved.body["data"];
    assert_ne!(new["uid"], json!(uid));
    assert_eq!(new["rescheduledFromUid"], json!(uid));
    assert_eq!(new["start"], "2026-11-25T16:00:00.000Z");
    assert_eq!(new["metadata"], first.body["data"]["metadata"]);
    let new_uid = new["uid"].as_str().unwrap().to_owned();

    let cancelled = post(
        &sim,
        ACME,
        &format!("/v2/bookings/{new_uid}/cancel"),
        json!({"cancellationReason": "changed plans"}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["data"]["status"], "cancelled");
    assert_eq!(
        cancelled.body["data"]["cancellationReason"],
        "changed plans"
    );

    let statuses: Vec<_> = sim
        .control()
        .calcom_bookings(Some(ACME))
        .iter()
        .map(|b| (b.uid.clone(), b.status))
        .collect();
    assert_eq!(
        statuses,
        [
            (uid.clone(), BookingStatus::Cancelled),
            (new_uid, BookingStatus::Cancelled)
        ]
    );
    for path in [
        "/v2/bookings/bk_gone/cancel",
        "/v2/bookings/bk_gone/reschedule",
    ] {
        let answer = post(&sim, ACME, path, json!({"start": "2026-11-25T16:00:00Z"})).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(answer.message(), "Booking with uid=bk_gone not found");
    }
}

#[tokio::test]
async fn forced_statuses_count_down_and_429_says_when_to_retry() {
    let sim = sim().await;
    let faults = CalcomFaults {
        status: Some(429),
        times: Some(1),
        ..CalcomFaults::default()
    };
    sim.control().set_calcom_faults(Some(ACME), faults).unwrap();
    let throttled = slots(&sim, ACME, TUESDAY).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.headers["retry-after"], "1");
    assert_eq!(throttled.body["error"]["code"], "ThrottlerException");
    assert_eq!(slots(&sim, ACME, TUESDAY).await.status, StatusCode::OK);

    let everyone = CalcomFaults {
        status: Some(500),
        ..CalcomFaults::default()
    };
    sim.control().set_calcom_faults(None, everyone).unwrap();
    for _ in 0..2 {
        let failed = post(&sim, OTHER, "/v2/bookings", booking("2026-11-24T15:00:00Z")).await;
        assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            failed.body["error"],
            json!({"code": "INTERNAL_SERVER_ERROR", "message": "Internal server error."})
        );
    }
    assert_eq!(
        slots(&sim, ACME, TUESDAY).await.status,
        StatusCode::OK,
        "an account with faults of its own is spared"
    );
    sim.control().clear_calcom_faults(None);
    assert_eq!(slots(&sim, OTHER, TUESDAY).await.status, StatusCode::OK);
    assert!(sim.control().calcom_bookings(None).is_empty());
}

#[tokio::test]
async fn latency_delays_the_answer_not_the_booking() {
    let sim = sim().await;
    let slow = CalcomFaults {
        latency_ms: 300,
        ..CalcomFaults::default()
    };
    sim.control().set_calcom_faults(Some(ACME), slow).unwrap();
    let client = client();
    let started = Instant::now();
    let gave_up = client
        .post(format!("{}/v2/bookings", sim.url()))
        .bearer_auth(ACME)
        .header("cal-api-version", BOOKINGS_API_VERSION)
        .json(&booking("2026-11-24T15:00:00Z"))
        .timeout(std::time::Duration::from_millis(50))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    assert_eq!(sim.control().calcom_bookings(Some(ACME)).len(), 1);
    let answer = slots(&sim, ACME, TUESDAY).await;
    assert!(started.elapsed().as_millis() >= 300);
    assert_eq!(
        answer.body["data"]["2026-11-24"].as_array().unwrap().len(),
        15
    );
}

#[tokio::test]
async fn take_next_slot_hands_the_slot_to_someone_else() {
    let sim = sim().await;
    let faults = json!({"take_next_slot": true});
    let url = format!("{}/_sim/calcom/faults?account={ACME}", sim.url());
    let client = client();
    let set: Value = client
        .post(&url)
        .json(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(set["faults"]["take_next_slot"], true);
    let lost = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T15:00:00Z")).await;
    assert_eq!(lost.status, StatusCode::BAD_REQUEST);
    assert_eq!(lost.message(), TAKEN);
    let next = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T15:30:00Z")).await;
    assert_eq!(next.status, StatusCode::CREATED);
    let bookings: Vec<Value> = client
        .get(format!("{}/_sim/calcom/bookings?account={ACME}", sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<_> = bookings
        .iter()
        .map(|b| b["attendees"][0]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Someone Else", "Sam Lee"]);
    let cleared: Value = client
        .delete(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        cleared,
        json!({"account": ACME, "faults": CalcomFaults::default()})
    );
}

#[tokio::test]
async fn event_types_are_set_over_http_and_a_reset_forgets_everything() {
    let sim = sim().await;
    let client = client();
    let url = format!("{}/_sim/calcom/event-types/7?account={ACME}", sim.url());
    let update = json!({"duration_minutes": 60, "days": ["tue"], "start": "13:00", "end": "15:00"});
    let set = client.put(&url).json(&update).send().await.unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let set: Value = set.json().await.unwrap();
    assert_eq!(set["event_type"]["zone"], "America/New_York");
    let tuesday = slots(&sim, ACME, TUESDAY).await;
    assert_eq!(
        tuesday.body["data"],
        json!({"2026-11-24": [{"start": "2026-11-24T13:00:00.000-05:00"},
                              {"start": "2026-11-24T14:00:00.000-05:00"}]})
    );
    let booked = post(&sim, ACME, "/v2/bookings", booking("2026-11-24T18:00:00Z")).await;
    assert_eq!(booked.body["data"]["duration"], 60);
    for bad in [
        json!({"zone": "Nowhere/Else"}),
        json!({"days": ["someday"]}),
    ] {
        let refused = client.put(&url).json(&bad).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let refused = client
        .put(format!(
            "{}/_sim/calcom/event-types/7?account=acme",
            sim.url()
        ))
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    sim.control().reset();
    assert!(sim.control().calcom_bookings(None).is_empty());
    assert!(sim.control().calcom_requests(None).is_empty());
    assert_eq!(
        sim.control().calcom_event_type(Some(ACME), 7),
        EventType::default()
    );
}
