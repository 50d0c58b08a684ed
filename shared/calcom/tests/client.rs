//! The client against a local server: the exact request each port call
//! sends, and what each kind of answer becomes.

use std::time::Duration;

use axum::Router;
use axum::body::{Bytes, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use jiff::Timestamp;
use leadline_calcom::CalcomClient;
use leadline_core::appointments::calendar::{
    Attendee, Booking, BookingMetadata, Calendar, CalendarAccount, CalendarError, Email,
    NewBooking, SlotQuery,
};
use leadline_core::{LeadId, Phone, TenantId, Zone};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// What the server received.
#[derive(Debug)]
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    api_version: Option<String>,
    authorization: Option<String>,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the request body is JSON")
    }
}

/// A server answering every request with `status` and `body` after `delay`;
/// returns its base URL and what it receives.
async fn serve(
    status: u16,
    body: Value,
    delay: Duration,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (sender, received) = mpsc::unbounded_channel();
    let app = Router::new().fallback(move |request: Request| {
        let (sender, body) = (sender.clone(), body.clone());
        async move {
            let (parts, request_body) = request.into_parts();
            let header = |name: &str| {
                let value = parts.headers.get(name)?;
                Some(value.to_str().ok()?.to_owned())
            };
            sender
                .send(Received {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    api_version: header("cal-api-version"),
                    authorization: header("authorization"),
                    body: to_bytes(request_body, usize::MAX).await.unwrap(),
                })
                .unwrap();
            tokio::time::sleep(delay).await;
            (StatusCode::from_u16(status).unwrap(), axum::Json(body))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base_url, received)
}

fn client(base_url: &str) -> CalcomClient {
    CalcomClient::new(reqwest::Client::new())
        .with_base_url(base_url)
        .with_timeout(Duration::from_millis(200))
}

fn account() -> CalendarAccount {
    CalendarAccount {
        api_key: "cal_test_key".into(),
    }
}

fn at(instant: &str) -> Timestamp {
    instant.parse().unwrap()
}

fn new_booking() -> NewBooking {
    NewBooking {
        event_type_id: 42,
        start: at("2026-11-24T14:00:00Z"),
        attendee: Attendee {
            name: "Sam Lee".into(),
            email: Email::parse("sam@example.com").unwrap(),
            phone: Some(Phone::parse("+14155550199", None).unwrap()),
            zone: Zone::parse("America/New_York").unwrap(),
        },
        metadata: BookingMetadata {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[5; 15]),
            call: "call_1".into(),
            tool_call: "tool_1".into(),
        },
    }
}

fn booked(uid: &str, start: &str, end: &str) -> Value {
    json!({
        "status": "success",
        "data": { "id": 123, "uid": uid, "start": start, "end": end, "status": "accepted" },
    })
}

fn error(message: &str) -> Value {
    json!({ "status": "error", "error": { "code": "Error", "message": message } })
}

async fn book_answered(status: u16, body: Value) -> Result<Booking, CalendarError> {
    let (base_url, _received) = serve(status, body, Duration::ZERO).await;
    client(&base_url).book(&account(), &new_booking()).await
}

#[tokio::test]
async fn free_slots_asks_for_the_window_in_the_zone() {
    let answer = json!({
        "status": "success",
        "data": {
            "2026-11-24": [
                { "start": "2026-11-24T10:00:00.000-05:00" },
                { "start": "2026-11-24T09:00:00.000-05:00" },
            ],
        },
    });
    let (base_url, mut received) = serve(200, answer, Duration::ZERO).await;
    let query = SlotQuery {
        event_type_id: 42,
        from: at("2026-11-24T13:00:00Z"),
        to: at("2026-11-25T05:00:00Z"),
        zone: Zone::parse("America/New_York").unwrap(),
    };

    let slots = client(&base_url).free_slots(&account(), &query).await;

    assert_eq!(
        slots,
        Ok(vec![at("2026-11-24T14:00:00Z"), at("2026-11-24T15:00:00Z")])
    );
    let request = received.recv().await.unwrap();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v2/slots");
    assert_eq!(
        request.query.as_deref(),
        Some(
            "eventTypeId=42&start=2026-11-24T13%3A00%3A00Z&end=2026-11-25T05%3A00%3A00Z\
             &timeZone=America%2FNew_York"
        )
    );
    assert_eq!(request.api_version.as_deref(), Some("2024-09-04"));
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer cal_test_key")
    );
}

#[tokio::test]
async fn book_sends_the_attendee_and_metadata_and_reads_the_201() {
    let answer = booked(
        "bk_1",
        "2026-11-24T14:00:00.000Z",
        "2026-11-24T14:30:00.000Z",
    );
    let (base_url, mut received) = serve(201, answer, Duration::ZERO).await;
    let booking = new_booking();

    let result = client(&base_url).book(&account(), &booking).await;

    assert_eq!(
        result,
        Ok(Booking {
            uid: "bk_1".into(),
            start: at("2026-11-24T14:00:00Z"),
            end: at("2026-11-24T14:30:00Z"),
        })
    );
    let request = received.recv().await.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/bookings");
    assert_eq!(request.query, None);
    assert_eq!(request.api_version.as_deref(), Some("2024-08-13"));
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer cal_test_key")
    );
    assert_eq!(
        request.json(),
        json!({
            "start": "2026-11-24T14:00:00Z",
            "eventTypeId": 42,
            "attendee": {
                "name": "Sam Lee",
                "email": "sam@example.com",
                "timeZone": "America/New_York",
                "phoneNumber": "+14155550199",
            },
            "metadata": {
                "leadline_tenant": "acme",
                "leadline_lead": booking.metadata.lead.to_string(),
                "leadline_call": "call_1",
                "leadline_tool_call": "tool_1",
            },
        })
    );
}

#[tokio::test]
async fn reschedule_moves_the_booking_and_answers_the_new_one() {
    let answer = booked(
        "bk_2",
        "2026-11-25T10:00:00.000-05:00",
        "2026-11-25T10:30:00.000-05:00",
    );
    let (base_url, mut received) = serve(201, answer, Duration::ZERO).await;

    let result = client(&base_url)
        .reschedule(
            &account(),
            "bk_1",
            at("2026-11-25T15:00:00Z"),
            "the lead asked",
        )
        .await;

    assert_eq!(
        result,
        Ok(Booking {
            uid: "bk_2".into(),
            start: at("2026-11-25T15:00:00Z"),
            end: at("2026-11-25T15:30:00Z"),
        })
    );
    let request = received.recv().await.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/bookings/bk_1/reschedule");
    assert_eq!(request.api_version.as_deref(), Some("2024-08-13"));
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer cal_test_key")
    );
    assert_eq!(
        request.json(),
        json!({ "start": "2026-11-25T15:00:00Z", "reschedulingReason": "the lead asked" })
    );
}

#[tokio::test]
async fn cancel_gives_the_reason_and_any_2xx_is_done() {
    let (base_url, mut received) = serve(200, json!({ "status": "success" }), Duration::ZERO).await;

    let result = client(&base_url)
        .cancel(&account(), "bk_1", "the lead asked")
        .await;

    assert_eq!(result, Ok(()));
    let request = received.recv().await.unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v2/bookings/bk_1/cancel");
    assert_eq!(request.api_version.as_deref(), Some("2024-08-13"));
    assert_eq!(
        request.authorization.as_deref(),
        Some("Bearer cal_test_key")
    );
    assert_eq!(
        request.json(),
        json!({ "cancellationReason": "the lead asked" })
    );
}

#[tokio::test]
async fn a_uid_stays_one_path_segment() {
    let (base_url, mut received) = serve(200, json!({}), Duration::ZERO).await;
    let client = client(&base_url);

    client.cancel(&account(), "a/../b?c", "x").await.unwrap();
    assert_eq!(
        received.recv().await.unwrap().path,
        "/v2/bookings/a%2F..%2Fb%3Fc/cancel"
    );

    for uid in ["", ".", ".."] {
        assert_eq!(
            client.cancel(&account(), uid, "x").await,
            Err(CalendarError::NotFound)
        );
    }
    assert!(received.try_recv().is_err(), "no request for an empty uid");
}

#[tokio::test]
async fn a_400_about_the_slot_is_a_taken_slot() {
    let message = "User either already has booking at this time or is not available";
    assert_eq!(
        book_answered(400, error(message)).await,
        Err(CalendarError::SlotTaken(message.into()))
    );
}

#[tokio::test]
async fn a_409_is_a_taken_slot() {
    assert_eq!(
        book_answered(409, error("Booking conflict")).await,
        Err(CalendarError::SlotTaken("Booking conflict".into()))
    );
}

#[tokio::test]
async fn a_404_is_no_such_booking() {
    let (base_url, _received) = serve(404, error("Booking not found"), Duration::ZERO).await;
    let result = client(&base_url)
        .cancel(&account(), "bk_gone", "the lead asked")
        .await;
    assert_eq!(result, Err(CalendarError::NotFound));
}

#[tokio::test]
async fn a_401_is_a_refusal() {
    assert_eq!(
        book_answered(401, error("Invalid API key")).await,
        Err(CalendarError::Refused("Invalid API key".into()))
    );
}

#[tokio::test]
async fn throttling_and_outages_are_unavailable() {
    assert_eq!(
        book_answered(429, error("Too many requests")).await,
        Err(CalendarError::Unavailable(
            "Cal.com answered 429: Too many requests".into()
        ))
    );
    assert_eq!(
        book_answered(503, error("Service unavailable")).await,
        Err(CalendarError::Unavailable(
            "Cal.com answered 503: Service unavailable".into()
        ))
    );
}

#[tokio::test]
async fn an_unreadable_2xx_is_unavailable() {
    let result = book_answered(201, json!({ "status": "success", "data": {} })).await;
    assert!(
        matches!(&result, Err(CalendarError::Unavailable(m)) if m.starts_with("unreadable answer: ")),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_is_unavailable() {
    let answer = booked("bk_1", "2026-11-24T14:00:00Z", "2026-11-24T14:30:00Z");
    let (base_url, _received) = serve(201, answer, Duration::from_secs(2)).await;

    let result = client(&base_url).book(&account(), &new_booking()).await;

    assert_eq!(
        result,
        Err(CalendarError::Unavailable("no answer within 200 ms".into()))
    );
}

#[tokio::test]
async fn an_unreachable_calendar_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let result = client(&base_url).book(&account(), &new_booking()).await;

    assert!(
        matches!(&result, Err(CalendarError::Unavailable(m)) if m.starts_with("could not reach Cal.com")),
        "{result:?}"
    );
}
