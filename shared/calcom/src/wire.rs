//! Cal.com's requests and answers, without HTTP, so that each rule about
//! them can be tested on an example body.

use std::collections::BTreeMap;
use std::fmt::Display;

use jiff::Timestamp;
use leadline_core::appointments::calendar::{Booking, CalendarError, NewBooking, SlotQuery};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Cal.com versions its API per endpoint with this header; without it an
/// endpoint answers in its oldest shape.
pub const API_VERSION_HEADER: &str = "cal-api-version";
/// The version whose slots answer is grouped by day, with offset-carrying starts.
pub const SLOTS_API_VERSION: &str = "2024-09-04";
/// The version whose bookings take one `attendee` and answer with the booking's `uid`.
pub const BOOKINGS_API_VERSION: &str = "2024-08-13";

/// Cal.com's message in an error is cut to this many characters: it travels
/// on in the error into logs and alerts, where a whole validation report
/// would drown the rest.
const MAX_MESSAGE_CHARS: usize = 300;

/// Phrases (lower-case) of a 400 that means someone else got the slot first,
/// which the agent handles by offering another one rather than giving up.
const SLOT_TAKEN_PHRASES: [&str; 6] = [
    "already has booking",
    "not available",
    "no available users",
    "slot",
    "already booked",
    "booking at this time",
];

/// The query of `GET /v2/slots`. Cal.com reads `start` and `end` as UTC
/// whatever `timeZone` says, so the window goes as UTC instants; the zone only
/// decides how the answer is grouped and rendered.
pub fn slots_query(query: &SlotQuery) -> [(&'static str, String); 4] {
    [
        ("eventTypeId", query.event_type_id.to_string()),
        ("start", query.from.to_string()),
        ("end", query.to.to_string()),
        ("timeZone", query.zone.name().to_owned()),
    ]
}

/// The body of `POST /v2/bookings`. The metadata is what lets the booking
/// webhook find the tenant, lead and call; the phone goes only when known,
/// since Cal.com validates it when present.
pub fn book_body(booking: &NewBooking) -> Value {
    let attendee = &booking.attendee;
    let mut attendee_body = json!({
        "name": attendee.name,
        "email": attendee.email.expose(),
        "timeZone": attendee.zone.name(),
    });
    if let Some(phone) = &attendee.phone {
        attendee_body["phoneNumber"] = phone.e164().into();
    }
    let metadata: Map<String, Value> = booking
        .metadata
        .to_pairs()
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.into()))
        .collect();
    json!({
        "start": booking.start.to_string(),
        "eventTypeId": booking.event_type_id,
        "attendee": attendee_body,
        "metadata": metadata,
    })
}

/// The body of `POST /v2/bookings/{uid}/reschedule`.
pub fn reschedule_body(start: Timestamp, reason: &str) -> Value {
    json!({ "start": start.to_string(), "reschedulingReason": reason })
}

/// The body of `POST /v2/bookings/{uid}/cancel`.
pub fn cancel_body(reason: &str) -> Value {
    json!({ "cancellationReason": reason })
}

/// The free starts of a 2xx slots answer in `[from, to)`, earliest first,
/// each once: Cal.com groups them by day in the asked zone, and its days need
/// not line up with the asked window.
pub fn parse_slots(
    body: &[u8],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Timestamp>, CalendarError> {
    #[derive(Deserialize)]
    struct Slot {
        start: Timestamp,
    }

    let days: BTreeMap<String, Vec<Slot>> = read_data(body)?;
    let mut starts: Vec<Timestamp> = days
        .into_values()
        .flatten()
        .map(|slot| slot.start)
        .filter(|start| (from..to).contains(start))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    Ok(starts)
}

/// The booking of a 2xx booking or rescheduling answer. A recurring event
/// type answers with all its occurrences; the first is the one asked for.
pub fn parse_booking(body: &[u8]) -> Result<Booking, CalendarError> {
    #[derive(Deserialize)]
    struct Data {
        uid: String,
        start: Timestamp,
        end: Timestamp,
    }

    let data = match read_data(body)? {
        Value::Array(bookings) => bookings
            .into_iter()
            .next()
            .ok_or_else(|| unreadable("no booking in data"))?,
        booking => booking,
    };
    let Data { uid, start, end } = serde_json::from_value(data).map_err(unreadable)?;
    Ok(Booking { uid, start, end })
}

/// Sorts a non-2xx answer by what the caller can do about it:
/// - 429 or 5xx: [`CalendarError::Unavailable`], since a later try may succeed;
/// - 404: [`CalendarError::NotFound`];
/// - 409, or a 400 about the slot: [`CalendarError::SlotTaken`], so the agent
///   offers another slot;
/// - any other: [`CalendarError::Refused`], the request itself is wrong.
pub fn classify(status: u16, body: &[u8]) -> CalendarError {
    let message = message_of(body).unwrap_or_else(|| {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("no message")
            .to_owned()
    });
    match status {
        404 => CalendarError::NotFound,
        429 | 500..=599 => {
            CalendarError::Unavailable(format!("Cal.com answered {status}: {message}"))
        }
        409 => CalendarError::SlotTaken(message),
        400 if says_slot_is_taken(&message) => CalendarError::SlotTaken(message),
        _ => CalendarError::Refused(message),
    }
}

/// The `data` of Cal.com's `{"status": "success", "data": ...}` envelope.
fn read_data<T: DeserializeOwned>(body: &[u8]) -> Result<T, CalendarError> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }

    serde_json::from_slice::<Envelope<T>>(body)
        .map(|envelope| envelope.data)
        .map_err(unreadable)
}

/// A 2xx whose body does not say what happened: the booking may or may not
/// exist, so the caller treats it like no answer at all.
fn unreadable(error: impl Display) -> CalendarError {
    CalendarError::Unavailable(format!("unreadable answer: {error}"))
}

/// The message of an error answer. Cal.com puts it in `error.message`, but
/// some of its (NestJS) layers answer with a top-level `message`, a list when
/// the request failed validation.
fn message_of(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let text = |value: &Value| match value {
        Value::String(message) => Some(message.clone()),
        Value::Array(messages) => Some(
            messages
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    };
    [answer.pointer("/error/message"), answer.get("message")]
        .into_iter()
        .flatten()
        .filter_map(text)
        .find(|message| !message.trim().is_empty())
        .map(|message| message.chars().take(MAX_MESSAGE_CHARS).collect())
}

fn says_slot_is_taken(message: &str) -> bool {
    let message = message.to_lowercase();
    SLOT_TAKEN_PHRASES
        .iter()
        .any(|phrase| message.contains(phrase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::appointments::calendar::{Attendee, BookingMetadata, Email};
    use leadline_core::{LeadId, Phone, TenantId, Zone};

    fn at(instant: &str) -> Timestamp {
        instant.parse().unwrap()
    }

    fn new_booking(phone: Option<&str>) -> NewBooking {
        NewBooking {
            event_type_id: 42,
            start: at("2026-11-24T14:00:00Z"),
            attendee: Attendee {
                name: "Sam Lee".into(),
                email: Email::parse("sam@example.com").unwrap(),
                phone: phone.map(|phone| Phone::parse(phone, None).unwrap()),
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

    #[test]
    fn the_slots_query_gives_the_window_in_utc_and_the_zone_by_name() {
        let query = SlotQuery {
            event_type_id: 42,
            from: at("2026-11-24T09:00:00-05:00"),
            to: at("2026-11-25T00:00:00Z"),
            zone: Zone::parse("America/New_York").unwrap(),
        };
        assert_eq!(
            slots_query(&query),
            [
                ("eventTypeId", "42".to_owned()),
                ("start", "2026-11-24T14:00:00Z".to_owned()),
                ("end", "2026-11-25T00:00:00Z".to_owned()),
                ("timeZone", "America/New_York".to_owned()),
            ]
        );
    }

    #[test]
    fn a_booking_names_the_attendee_and_carries_leadlines_metadata() {
        let booking = new_booking(Some("+14155550199"));
        let lead = booking.metadata.lead.to_string();
        assert_eq!(
            book_body(&booking),
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
                    "leadline_lead": lead,
                    "leadline_call": "call_1",
                    "leadline_tool_call": "tool_1",
                },
            })
        );
    }

    #[test]
    fn a_booking_without_a_phone_sends_no_phone_number() {
        let body = book_body(&new_booking(None));
        assert_eq!(body["attendee"].get("phoneNumber"), None);
    }

    #[test]
    fn rescheduling_and_cancelling_give_their_reason() {
        assert_eq!(
            reschedule_body(at("2026-11-25T15:30:00Z"), "the lead asked"),
            json!({ "start": "2026-11-25T15:30:00Z", "reschedulingReason": "the lead asked" })
        );
        assert_eq!(
            cancel_body("the lead asked"),
            json!({ "cancellationReason": "the lead asked" })
        );
    }

    #[test]
    fn slots_come_earliest_first_once_each_and_within_the_window() {
        let body = br#"{
            "status": "success",
            "data": {
                "2026-11-25": [{"start": "2026-11-25T09:00:00.000-05:00"}],
                "2026-11-24": [
                    {"start": "2026-11-24T10:00:00.000-05:00", "end": "2026-11-24T10:30:00.000-05:00"},
                    {"start": "2026-11-24T09:00:00.000-05:00"},
                    {"start": "2026-11-24T14:00:00.000Z"},
                    {"start": "2026-11-24T08:00:00+00:00"},
                    {"start": "2026-11-24T16:00:00+00:00", "attendeesCount": 1}
                ]
            }
        }"#;
        let slots = parse_slots(body, at("2026-11-24T13:00:00Z"), at("2026-11-25T14:00:00Z"));
        assert_eq!(
            slots,
            Ok(vec![
                at("2026-11-24T14:00:00Z"),
                at("2026-11-24T15:00:00Z"),
                at("2026-11-24T16:00:00Z"),
            ])
        );
    }

    #[test]
    fn no_free_day_is_no_slot() {
        let body = br#"{"status": "success", "data": {}}"#;
        let slots = parse_slots(body, at("2026-11-24T00:00:00Z"), at("2026-11-25T00:00:00Z"));
        assert_eq!(slots, Ok(vec![]));
    }

    #[test]
    fn slots_that_cannot_be_read_are_an_unreadable_answer() {
        for body in [
            &br#"{"status": "success"}"#[..],
            br#"{"data": {"2026-11-24": [{"start": "9am"}]}}"#,
            b"<html>",
        ] {
            let error = parse_slots(body, Timestamp::MIN, Timestamp::MAX).unwrap_err();
            assert!(
                matches!(&error, CalendarError::Unavailable(m) if m.starts_with("unreadable answer: ")),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_booking_answer_gives_its_uid_start_and_end() {
        let body = br#"{
            "status": "success",
            "data": {
                "id": 123,
                "uid": "bk_1",
                "start": "2026-11-24T14:00:00.000Z",
                "end": "2026-11-24T09:30:00.000-05:00",
                "status": "accepted",
                "attendees": [{"name": "Sam Lee"}]
            }
        }"#;
        assert_eq!(
            parse_booking(body),
            Ok(Booking {
                uid: "bk_1".into(),
                start: at("2026-11-24T14:00:00Z"),
                end: at("2026-11-24T14:30:00Z"),
            })
        );
    }

    #[test]
    fn a_recurring_booking_answer_gives_its_first_occurrence() {
        let body = br#"{"status": "success", "data": [
            {"uid": "bk_1", "start": "2026-11-24T14:00:00+00:00", "end": "2026-11-24T14:30:00+00:00"},
            {"uid": "bk_2", "start": "2026-12-01T14:00:00+00:00", "end": "2026-12-01T14:30:00+00:00"}
        ]}"#;
        assert_eq!(parse_booking(body).unwrap().uid, "bk_1");
    }

    #[test]
    fn a_booking_answer_without_a_booking_is_unreadable() {
        for body in [
            &br#"{"status": "success", "data": []}"#[..],
            br#"{"status": "success", "data": {"id": 123}}"#,
            b"",
        ] {
            let error = parse_booking(body).unwrap_err();
            assert!(
                matches!(&error, CalendarError::Unavailable(m) if m.starts_with("unreadable answer: ")),
                "{error:?}"
            );
        }
    }

    fn envelope(message: &str) -> Vec<u8> {
        json!({
            "status": "error",
            "error": { "code": "BadRequestException", "message": message, "details": {} },
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_400_about_the_slot_is_a_taken_slot() {
        for message in [
            "User either already has booking at this time or is not available",
            "No available users found.",
            "This time SLOT is no longer free",
        ] {
            assert_eq!(
                classify(400, &envelope(message)),
                CalendarError::SlotTaken(message.into())
            );
        }
    }

    #[test]
    fn a_400_about_anything_else_is_a_refusal() {
        let message = "Attempting to book a meeting in the past.";
        assert_eq!(
            classify(400, &envelope(message)),
            CalendarError::Refused(message.into())
        );
    }

    #[test]
    fn any_409_is_a_taken_slot() {
        assert_eq!(
            classify(409, &envelope("Conflict")),
            CalendarError::SlotTaken("Conflict".into())
        );
    }

    #[test]
    fn a_404_is_no_such_booking() {
        assert_eq!(
            classify(404, &envelope("Booking not found")),
            CalendarError::NotFound
        );
    }

    #[test]
    fn throttling_and_server_errors_are_unavailable_with_status_and_message() {
        assert_eq!(
            classify(429, &envelope("Too many requests")),
            CalendarError::Unavailable("Cal.com answered 429: Too many requests".into())
        );
        assert_eq!(
            classify(503, b"<html>Service Unavailable</html>"),
            CalendarError::Unavailable("Cal.com answered 503: Service Unavailable".into())
        );
        assert_eq!(
            classify(500, b""),
            CalendarError::Unavailable("Cal.com answered 500: Internal Server Error".into())
        );
    }

    #[test]
    fn other_client_errors_are_refusals_with_the_message() {
        assert_eq!(
            classify(401, &envelope("Invalid API key")),
            CalendarError::Refused("Invalid API key".into())
        );
        assert_eq!(
            classify(
                403,
                br#"{"message": "Forbidden resource", "statusCode": 403}"#
            ),
            CalendarError::Refused("Forbidden resource".into())
        );
        assert_eq!(
            classify(
                422,
                br#"{"message": ["start must be a date", "eventTypeId must be a number"]}"#
            ),
            CalendarError::Refused("start must be a date; eventTypeId must be a number".into())
        );
    }

    #[test]
    fn a_top_level_message_about_the_slot_is_a_taken_slot_too() {
        assert_eq!(
            classify(
                400,
                br#"{"status": "error", "message": "This slot is already booked"}"#
            ),
            CalendarError::SlotTaken("This slot is already booked".into())
        );
    }

    #[test]
    fn a_long_message_is_cut() {
        let CalendarError::Refused(message) = classify(400, &envelope(&"x".repeat(1000))) else {
            panic!("a 400 not about the slot is a refusal");
        };
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
    }
}
