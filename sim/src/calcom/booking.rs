//! Bookings as Cal.com API v2 (`cal-api-version: 2024-08-13`) shows them,
//! and the request bodies that make, move and cancel them, checked the way
//! its validation pipe checks them.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use super::schedule::EventType;
use super::{ApiError, Violations};
use crate::conversation::iso_millis;
use crate::ids::is_e164;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BookingStatus {
    Accepted,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub time_zone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub language: String,
    pub absent: bool,
}

/// One booking of a simulated Cal.com account; serialized as the API's `data`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Booking {
    pub id: u64,
    pub uid: String,
    pub title: String,
    pub status: BookingStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduling_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_from_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_to_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_by_email: Option<String>,
    #[serde(serialize_with = "millis")]
    pub start: Timestamp,
    #[serde(serialize_with = "millis")]
    pub end: Timestamp,
    /// Minutes.
    pub duration: u32,
    pub event_type_id: i64,
    pub attendees: Vec<Attendee>,
    pub metadata: Map<String, Value>,
    #[serde(serialize_with = "millis")]
    pub created_at: Timestamp,
    #[serde(serialize_with = "millis")]
    pub updated_at: Timestamp,
    /// What every simulated booking has alike: the host, the event type's slug...
    #[serde(flatten)]
    fixtures: Fixtures,
}

/// The fields of a booking the simulator has nothing to say about.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Fixtures {
    description: String,
    hosts: Value,
    event_type: Value,
    location: Option<String>,
    absent_host: bool,
    guests: Vec<String>,
    booking_fields_responses: Map<String, Value>,
}

fn millis<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&iso_millis(*at))
}

/// The host of every simulated event type.
const HOST_NAME: &str = "Sim Host";

impl Booking {
    /// An accepted booking of `event_type` as `request` asks.
    pub(crate) fn new(
        id: u64,
        uid: String,
        event_type: &EventType,
        request: BookingRequest,
        now: Timestamp,
    ) -> Self {
        let duration = event_type.duration_minutes;
        let attendee = request.attendee;
        let mut responses = Map::new();
        responses.insert("name".into(), json!(attendee.name));
        if let Some(email) = &attendee.email {
            responses.insert("email".into(), json!(email));
        }
        Booking {
            id,
            uid,
            title: format!(
                "{duration} Min Meeting between {HOST_NAME} and {}",
                attendee.name
            ),
            status: BookingStatus::Accepted,
            cancellation_reason: None,
            rescheduling_reason: None,
            rescheduled_from_uid: None,
            rescheduled_to_uid: None,
            rescheduled_by_email: None,
            start: request.start,
            end: end_of(request.start, event_type),
            duration,
            event_type_id: request.event_type_id,
            attendees: vec![attendee],
            metadata: request.metadata,
            created_at: now,
            updated_at: now,
            fixtures: Fixtures {
                description: String::new(),
                hosts: json!([{
                    "id": 1, "name": HOST_NAME, "email": "host@sim.invalid",
                    "username": "sim-host", "timeZone": event_type.zone,
                }]),
                event_type: json!({"id": request.event_type_id, "slug": format!("{duration}min")}),
                location: None,
                absent_host: false,
                guests: Vec::new(),
                booking_fields_responses: responses,
            },
        }
    }

    /// The booking that replaces this one when it moves as `request` asks:
    /// a new id and uid, the same attendees and metadata.
    pub(crate) fn rescheduled(
        &self,
        id: u64,
        uid: String,
        event_type: &EventType,
        request: RescheduleRequest,
        now: Timestamp,
    ) -> Self {
        Booking {
            id,
            uid,
            status: BookingStatus::Accepted,
            cancellation_reason: None,
            rescheduling_reason: request.reason,
            rescheduled_from_uid: Some(self.uid.clone()),
            rescheduled_to_uid: None,
            rescheduled_by_email: request.rescheduled_by,
            start: request.start,
            end: end_of(request.start, event_type),
            duration: event_type.duration_minutes,
            created_at: now,
            updated_at: now,
            ..self.clone()
        }
    }

    pub fn is_accepted(&self) -> bool {
        self.status == BookingStatus::Accepted
    }
}

fn end_of(start: Timestamp, event_type: &EventType) -> Timestamp {
    start
        .saturating_add(event_type.duration())
        .unwrap_or(Timestamp::MAX)
}

/// A valid `POST /v2/bookings` body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BookingRequest {
    pub start: Timestamp,
    pub event_type_id: i64,
    pub attendee: Attendee,
    pub metadata: Map<String, Value>,
}

/// A valid `POST /v2/bookings/{uid}/reschedule` body.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RescheduleRequest {
    pub start: Timestamp,
    pub reason: Option<String>,
    pub rescheduled_by: Option<String>,
}

impl BookingRequest {
    pub(crate) fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let start = violations.start(body.get("start"));
        let event_type_id = match body.get("eventTypeId") {
            Some(Value::Number(id)) if id.is_i64() => id.as_i64(),
            other => {
                violations.add(
                    "eventTypeId",
                    other,
                    "isInt",
                    "eventTypeId must be an integer number",
                );
                None
            }
        };
        let attendee = match body.get("attendee") {
            Some(attendee @ Value::Object(_)) => {
                let mut found = Violations::default();
                let parsed = found.attendee(attendee);
                violations.nest("attendee", attendee, found);
                parsed
            }
            other => {
                violations.add("attendee", other, "isObject", "attendee must be an object");
                None
            }
        };
        let metadata = violations.metadata(body.get("metadata"));
        let request = match (start, event_type_id, attendee) {
            (Some(start), Some(event_type_id), Some(attendee)) => Some(BookingRequest {
                start,
                event_type_id,
                attendee,
                metadata,
            }),
            _ => None,
        };
        violations.finish(request)
    }
}

impl RescheduleRequest {
    pub(crate) fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let start = violations.start(body.get("start"));
        let reason = violations.optional_string(body, "reschedulingReason");
        let rescheduled_by = violations.optional_string(body, "rescheduledBy");
        violations.finish(start.map(|start| RescheduleRequest {
            start,
            reason,
            rescheduled_by,
        }))
    }
}

/// The `cancellationReason` of a `POST /v2/bookings/{uid}/cancel` body (all optional).
pub(crate) fn cancellation_reason(body: &Value) -> Result<Option<String>, ApiError> {
    let mut violations = Violations::default();
    let reason = violations.optional_string(body, "cancellationReason");
    violations.finish(Some(reason))
}

/// An instant as Cal.com reads one: ISO 8601 with an offset, or without one
/// in UTC.
pub(crate) fn utc_instant(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok().or_else(|| {
        let civil = text.parse::<jiff::civil::DateTime>().ok()?;
        // A bare date parses as a datetime too; Cal.com wants a time here.
        text.contains('T')
            .then(|| civil.to_zoned(TimeZone::UTC).ok())
            .flatten()
            .map(|zoned| zoned.timestamp())
    })
}

impl Violations {
    fn start(&mut self, value: Option<&Value>) -> Option<Timestamp> {
        let start = value.and_then(Value::as_str).and_then(utc_instant);
        if start.is_none() {
            self.add(
                "start",
                value,
                "isDateString",
                "start must be a valid ISO 8601 date string",
            );
        }
        start
    }

    fn optional_string(&mut self, body: &Value, property: &str) -> Option<String> {
        match body.get(property) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            other => {
                self.add(
                    property,
                    other,
                    "isString",
                    &format!("{property} must be a string"),
                );
                None
            }
        }
    }

    fn attendee(&mut self, attendee: &Value) -> Option<Attendee> {
        let name = match attendee.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
            other => {
                self.add("name", other, "isString", "name must be a string");
                None
            }
        };
        let time_zone = match attendee.get("timeZone") {
            Some(Value::String(zone)) if TimeZone::get(zone).is_ok() => Some(zone.clone()),
            other => {
                self.add(
                    "timeZone",
                    other,
                    "isTimeZone",
                    "timeZone must be a valid IANA time-zone",
                );
                None
            }
        };
        let email = self.optional_string(attendee, "email");
        if email.as_deref().is_some_and(|email| !is_email(email)) {
            self.add(
                "email",
                attendee.get("email"),
                "isEmail",
                "email must be an email",
            );
        }
        let phone_number = self.optional_string(attendee, "phoneNumber");
        if phone_number.as_deref().is_some_and(|phone| !is_e164(phone)) {
            self.add(
                "phoneNumber",
                attendee.get("phoneNumber"),
                "isPhoneNumber",
                "phoneNumber must be a valid phone number",
            );
        }
        if email.is_none() && phone_number.is_none() {
            self.add(
                "email",
                None,
                "emailOrPhoneNumber",
                "at least one of email and phoneNumber is required",
            );
        }
        let language = self
            .optional_string(attendee, "language")
            .unwrap_or_else(|| "en".into());
        Some(Attendee {
            name: name?,
            email,
            time_zone: time_zone?,
            phone_number,
            language,
            absent: false,
        })
    }

    /// At most 50 keys of up to 40 characters; values strings of up to 500
    /// characters (numbers and booleans pass too).
    fn metadata(&mut self, value: Option<&Value>) -> Map<String, Value> {
        let fits = |metadata: &Map<String, Value>| {
            metadata.len() <= 50
                && metadata.iter().all(|(key, value)| {
                    key.chars().count() <= 40
                        && match value {
                            Value::String(text) => text.chars().count() <= 500,
                            Value::Number(_) | Value::Bool(_) => true,
                            _ => false,
                        }
                })
        };
        match value {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(metadata)) if fits(metadata) => metadata.clone(),
            Some(_) => {
                self.add(
                    "metadata",
                    value,
                    "validateMetadata",
                    "Metadata must have at most 50 keys, each key up to 40 characters, \
                     and values up to 500 characters.",
                );
                Map::new()
            }
        }
    }
}

/// `local@domain.tld`, roughly as `isEmail` wants it.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !text.contains(char::is_whitespace)
        && domain
            .split_once('.')
            .is_some_and(|(name, tld)| !name.is_empty() && tld.len() >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "start": "2026-11-24T20:00:00Z", "eventTypeId": 7,
            "attendee": {"name": "Sam Lee", "email": "sam.lee@example.com",
                         "timeZone": "America/New_York", "phoneNumber": "+14155550100"},
            "metadata": {"leadline_call": "call_1", "attempt": 2},
        })
    }

    /// The `property.child` paths `details.errors` names.
    fn violations(body: &Value) -> Vec<String> {
        let error = BookingRequest::parse(body).unwrap_err();
        let body = error.body("/v2/bookings", Timestamp::UNIX_EPOCH);
        assert_eq!(body["error"]["message"], "Bad Request Exception");
        let mut paths = Vec::new();
        for error in body["error"]["details"]["errors"].as_array().unwrap() {
            let property = error["property"].as_str().unwrap();
            match error["children"].as_array().filter(|c| !c.is_empty()) {
                Some(children) => paths.extend(
                    children
                        .iter()
                        .map(|child| format!("{property}.{}", child["property"].as_str().unwrap())),
                ),
                None => paths.push(property.to_owned()),
            }
        }
        paths
    }

    #[test]
    fn a_valid_request_is_read_whole() {
        let request = BookingRequest::parse(&valid()).unwrap();
        assert_eq!(request.start, "2026-11-24T20:00:00Z".parse().unwrap());
        assert_eq!(request.event_type_id, 7);
        assert_eq!(
            request.attendee.phone_number.as_deref(),
            Some("+14155550100")
        );
        assert_eq!(request.attendee.language, "en");
        assert_eq!(request.metadata["attempt"], 2);
    }

    #[test]
    fn every_broken_field_is_named() {
        let mut body = valid();
        body["attendee"]["email"] = json!("sam.lee");
        body["attendee"]["timeZone"] = json!("Eastern");
        body["eventTypeId"] = json!("7");
        assert_eq!(
            violations(&body),
            ["eventTypeId", "attendee.timeZone", "attendee.email"]
        );
        let mut body = valid();
        body["attendee"].as_object_mut().unwrap().remove("email");
        body["attendee"]
            .as_object_mut()
            .unwrap()
            .remove("phoneNumber");
        body["metadata"] = json!({"nested": {"no": 1}});
        body["start"] = json!("next tuesday");
        assert_eq!(violations(&body), ["start", "attendee.email", "metadata"]);
        assert_eq!(violations(&json!({})), ["start", "eventTypeId", "attendee"]);
    }

    #[test]
    fn an_instant_without_an_offset_is_utc() {
        assert_eq!(
            utc_instant("2026-11-24T20:00:00"),
            "2026-11-24T20:00:00Z".parse().ok()
        );
        assert_eq!(
            utc_instant("2026-11-24T15:00:00-05:00"),
            "2026-11-24T20:00:00Z".parse().ok()
        );
        assert_eq!(utc_instant("2026-11-24"), None);
    }

    #[test]
    fn a_booking_looks_like_the_apis() {
        let request = BookingRequest::parse(&valid()).unwrap();
        let now: Timestamp = "2026-11-20T12:00:00Z".parse().unwrap();
        let booking = Booking::new(3, "bk_1".into(), &EventType::default(), request, now);
        let json = serde_json::to_value(&booking).unwrap();
        assert_eq!(json["status"], "accepted");
        assert_eq!(json["start"], "2026-11-24T20:00:00.000Z");
        assert_eq!(json["end"], "2026-11-24T20:30:00.000Z");
        assert_eq!(json["duration"], 30);
        assert_eq!(json["eventTypeId"], 7);
        assert_eq!(json["eventType"], json!({"id": 7, "slug": "30min"}));
        assert_eq!(json["attendees"][0]["timeZone"], "America/New_York");
        assert_eq!(json["attendees"][0]["phoneNumber"], "+14155550100");
        assert_eq!(json["metadata"]["leadline_call"], "call_1");
        assert_eq!(json["createdAt"], "2026-11-20T12:00:00.000Z");
        assert_eq!(json["hosts"][0]["name"], HOST_NAME);
        assert!(json.get("rescheduledFromUid").is_none());
    }
}
