//! The simulated Cal.com's state: event types, each account's bookings and
//! faults, and the requests received.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ApiError;
use super::booking::{Attendee, Booking, BookingRequest, BookingStatus, RescheduleRequest};
use super::schedule::{EventType, EventTypeUpdate};
use crate::ids::calcom_booking_uid;

/// Misbehaviour of the Cal.com API, for one account or all:
/// `{"latency_ms": 3000}`, `{"status": 503, "times": 2}`, `{"take_next_slot": true}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalcomFaults {
    /// Real milliseconds (not scaled) between handling a request and
    /// answering it: a client that gives up meanwhile may still have booked.
    pub latency_ms: u64,
    /// Answer this status (400–599) with Cal.com's error body instead of
    /// handling the request; 429 comes with `Retry-After: 1`.
    pub status: Option<u16>,
    /// How many requests `status` answers; without it, every one until cleared.
    pub times: Option<u32>,
    /// The next booking (or rescheduling) request finds its slot just taken
    /// by someone else, and is answered as a conflict.
    pub take_next_slot: bool,
}

impl CalcomFaults {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.status
            && !(400..=599).contains(&status)
        {
            return Err(format!("status must be 400-599, got {status}"));
        }
        match (self.status, self.times) {
            (_, Some(0)) => Err("times must be at least 1".into()),
            (None, Some(_)) => Err("times counts the requests a status answers: set status".into()),
            _ => Ok(()),
        }
    }

    /// The status the next request answers, if any, counting it down.
    fn take_status(&mut self) -> Option<u16> {
        let status = self.status?;
        match self.times {
            Some(1) => (self.status, self.times) = (None, None),
            Some(times) => self.times = Some(times - 1),
            None => {}
        }
        Some(status)
    }
}

/// What the faults make of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestFault {
    pub latency: Duration,
    pub status: Option<u16>,
}

/// One request to the Cal.com API and the status it was answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CalcomRequestRecord {
    pub seq: usize,
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// The `cal-api-version` header.
    pub api_version: Option<String>,
    /// The API key (`Authorization: Bearer cal_…`); none when it is missing
    /// or not a Cal.com key.
    pub account: Option<String>,
    /// The request body as JSON; null when empty or not JSON.
    pub body: Value,
    pub status: u16,
    pub at: Timestamp,
}

#[derive(Default)]
struct Account {
    bookings: Vec<Booking>,
    /// Its own faults, instead of everyone's.
    faults: Option<CalcomFaults>,
}

/// Every simulated Cal.com account, by API key.
#[derive(Default)]
pub(crate) struct Calendar {
    /// By account (`None`: every account without its own) and event type id.
    event_types: BTreeMap<(Option<String>, i64), EventType>,
    accounts: HashMap<String, Account>,
    /// The faults of every account without its own.
    faults: CalcomFaults,
    requests: Vec<CalcomRequestRecord>,
    last_booking_id: u64,
}

/// 400: the slot is taken or the host is away.
fn slot_taken() -> ApiError {
    ApiError::bad_request("User either already has booking at this time or is not available")
}

fn not_found(uid: &str) -> ApiError {
    ApiError::not_found(format!("Booking with uid={uid} not found"))
}

impl Calendar {
    // ----- event types -----

    /// The event type `id` as `account` sees it: its own setting, else
    /// everyone's, else the default.
    pub(crate) fn event_type(&self, account: Option<&str>, id: i64) -> EventType {
        account
            .and_then(|account| self.event_types.get(&(Some(account.to_owned()), id)))
            .or_else(|| self.event_types.get(&(None, id)))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn update_event_type(
        &mut self,
        account: Option<&str>,
        id: i64,
        update: EventTypeUpdate,
    ) -> Result<EventType, String> {
        let updated = self.event_type(account, id).updated(update)?;
        self.event_types
            .insert((account.map(str::to_owned), id), updated.clone());
        Ok(updated)
    }

    // ----- faults -----

    /// The faults in force for `account`, or everyone's.
    pub(crate) fn faults(&self, account: Option<&str>) -> CalcomFaults {
        account
            .and_then(|account| self.accounts.get(account)?.faults.clone())
            .unwrap_or_else(|| self.faults.clone())
    }

    pub(crate) fn set_faults(&mut self, account: Option<&str>, faults: CalcomFaults) {
        match account {
            Some(account) => self.account(account).faults = Some(faults),
            None => self.faults = faults,
        }
    }

    /// Clears the faults of `account` (which then has everyone's), or all faults.
    pub(crate) fn clear_faults(&mut self, account: Option<&str>) {
        match account {
            Some(account) => self.account(account).faults = None,
            None => {
                self.faults = CalcomFaults::default();
                for account in self.accounts.values_mut() {
                    account.faults = None;
                }
            }
        }
    }

    fn faults_mut(&mut self, account: &str) -> &mut CalcomFaults {
        match self
            .accounts
            .get_mut(account)
            .and_then(|a| a.faults.as_mut())
        {
            Some(own) => own,
            None => &mut self.faults,
        }
    }

    /// How the faults bend a request of `account`, counting a forced status.
    pub(crate) fn request_fault(&mut self, account: &str) -> RequestFault {
        let faults = self.faults_mut(account);
        RequestFault {
            latency: Duration::from_millis(faults.latency_ms),
            status: faults.take_status(),
        }
    }

    // ----- records -----

    pub(crate) fn record(&mut self, mut record: CalcomRequestRecord) {
        record.seq = self.requests.len() + 1;
        self.requests.push(record);
    }

    /// The requests of `account`, or all, oldest first.
    pub(crate) fn requests(&self, account: Option<&str>) -> Vec<CalcomRequestRecord> {
        self.requests
            .iter()
            .filter(|r| account.is_none_or(|account| r.account.as_deref() == Some(account)))
            .cloned()
            .collect()
    }

    /// The bookings of `account`, or all, oldest first.
    pub(crate) fn bookings(&self, account: Option<&str>) -> Vec<Booking> {
        let mut bookings: Vec<Booking> = match account {
            Some(account) => self
                .accounts
                .get(account)
                .map(|a| a.bookings.clone())
                .unwrap_or_default(),
            None => self
                .accounts
                .values()
                .flat_map(|a| a.bookings.iter().cloned())
                .collect(),
        };
        bookings.sort_by_key(|b| b.id);
        bookings
    }

    // ----- the API -----

    /// The free slots of event type `id` for `account` from `from` to
    /// `until`, as if the booking `rescheduling` were not there.
    pub(crate) fn free_slots(
        &self,
        account: &str,
        id: i64,
        (from, until): (Timestamp, Timestamp),
        rescheduling: Option<&str>,
    ) -> Vec<Timestamp> {
        let busy = self.busy(account, id, rescheduling);
        self.event_type(Some(account), id)
            .free_slots(from, until, &busy)
    }

    pub(crate) fn booking(&self, account: &str, uid: &str) -> Result<Booking, ApiError> {
        self.find(account, uid)
            .cloned()
            .ok_or_else(|| not_found(uid))
    }

    pub(crate) fn book(
        &mut self,
        account: &str,
        request: BookingRequest,
        now: Timestamp,
    ) -> Result<Booking, ApiError> {
        let event_type = self.event_type(Some(account), request.event_type_id);
        self.claim(account, request.event_type_id, request.start, None, now)?;
        let booking = Booking::new(
            self.next_booking_id(),
            calcom_booking_uid(),
            &event_type,
            request,
            now,
        );
        self.account(account).bookings.push(booking.clone());
        Ok(booking)
    }

    /// Moves booking `uid`: it is cancelled, and a new booking takes its
    /// place at the new time, which must be free but for the old booking.
    pub(crate) fn reschedule(
        &mut self,
        account: &str,
        uid: &str,
        request: RescheduleRequest,
        now: Timestamp,
    ) -> Result<Booking, ApiError> {
        let old = self.booking(account, uid)?;
        if !old.is_accepted() {
            let mut message =
                format!("Can't reschedule booking with uid={uid} because it has been cancelled");
            if let Some(new) = &old.rescheduled_to_uid {
                message.push_str(&format!(
                    " and rescheduled already to booking with uid={new}"
                ));
            }
            return Err(ApiError::bad_request(format!("{message}.")));
        }
        let event_type = self.event_type(Some(account), old.event_type_id);
        self.claim(account, old.event_type_id, request.start, Some(uid), now)?;
        let new = old.rescheduled(
            self.next_booking_id(),
            calcom_booking_uid(),
            &event_type,
            request,
            now,
        );
        let bookings = &mut self.account(account).bookings;
        if let Some(old) = bookings.iter_mut().find(|b| b.uid == uid) {
            old.status = BookingStatus::Cancelled;
            old.rescheduled_to_uid = Some(new.uid.clone());
            old.updated_at = now;
        }
        bookings.push(new.clone());
        Ok(new)
    }

    pub(crate) fn cancel(
        &mut self,
        account: &str,
        uid: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<Booking, ApiError> {
        let booking = self
            .accounts
            .get_mut(account)
            .and_then(|a| a.bookings.iter_mut().find(|b| b.uid == uid))
            .ok_or_else(|| not_found(uid))?;
        if !booking.is_accepted() {
            return Err(ApiError::bad_request(
                "This booking has already been cancelled.",
            ));
        }
        booking.status = BookingStatus::Cancelled;
        booking.cancellation_reason = reason;
        booking.updated_at = now;
        Ok(booking.clone())
    }

    /// Checks that a meeting of event type `id` may start at `start` (the
    /// booking `moving` aside). Under the `take_next_slot` fault, someone
    /// else books the slot first.
    fn claim(
        &mut self,
        account: &str,
        id: i64,
        start: Timestamp,
        moving: Option<&str>,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        if start < now {
            return Err(ApiError::bad_request(
                "Attempting to book a meeting in the past.",
            ));
        }
        let event_type = self.event_type(Some(account), id);
        let free = event_type.is_free(start, &self.busy(account, id, moving));
        if std::mem::take(&mut self.faults_mut(account).take_next_slot) {
            if free {
                let competitor = BookingRequest {
                    start,
                    event_type_id: id,
                    attendee: Attendee {
                        name: "Someone Else".into(),
                        email: Some("someone.else@example.com".into()),
                        time_zone: event_type.zone.clone(),
                        phone_number: None,
                        language: "en".into(),
                        absent: false,
                    },
                    metadata: Map::new(),
                };
                let booking = Booking::new(
                    self.next_booking_id(),
                    calcom_booking_uid(),
                    &event_type,
                    competitor,
                    now,
                );
                self.account(account).bookings.push(booking);
            }
            return Err(slot_taken());
        }
        if free { Ok(()) } else { Err(slot_taken()) }
    }

    /// When the accepted bookings of event type `id` keep the host busy,
    /// `except` aside.
    fn busy(&self, account: &str, id: i64, except: Option<&str>) -> Vec<Range<Timestamp>> {
        let Some(account) = self.accounts.get(account) else {
            return Vec::new();
        };
        account
            .bookings
            .iter()
            .filter(|b| b.is_accepted() && b.event_type_id == id)
            .filter(|b| except != Some(b.uid.as_str()))
            .map(|b| b.start..b.end)
            .collect()
    }

    fn find(&self, account: &str, uid: &str) -> Option<&Booking> {
        self.accounts
            .get(account)?
            .bookings
            .iter()
            .find(|b| b.uid == uid)
    }

    fn account(&mut self, account: &str) -> &mut Account {
        self.accounts.entry(account.to_owned()).or_default()
    }

    fn next_booking_id(&mut self) -> u64 {
        self.last_booking_id += 1;
        self.last_booking_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACME: &str = "cal_live_acme";
    const OTHER: &str = "cal_test_other";

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Friday 20 November 2026, noon in New York.
    fn now() -> Timestamp {
        at("2026-11-20T17:00:00Z")
    }

    fn request(start: &str) -> BookingRequest {
        BookingRequest::parse(&json!({
            "start": start, "eventTypeId": 7,
            "attendee": {"name": "Sam Lee", "email": "sam.lee@example.com", "timeZone": "America/New_York"},
            "metadata": {"leadline_call": "call_1"},
        }))
        .unwrap()
    }

    fn message(result: Result<Booking, ApiError>) -> String {
        let error = result.unwrap_err();
        error.body("/", now())["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    const TAKEN: &str = "User either already has booking at this time or is not available";

    #[test]
    fn a_booked_slot_is_no_longer_free_for_that_account_only() {
        let mut calendar = Calendar::default();
        let tuesday = (at("2026-11-24T00:00:00Z"), at("2026-11-24T23:59:59Z"));
        let booking = calendar
            .book(ACME, request("2026-11-24T15:00:00Z"), now())
            .unwrap();
        assert_eq!(booking.end, at("2026-11-24T15:30:00Z"));
        assert_eq!(booking.id, 1);
        assert!(booking.uid.starts_with("bk_"));
        let free = calendar.free_slots(ACME, 7, tuesday, None);
        assert_eq!(free.len(), 15);
        assert!(!free.contains(&booking.start));
        assert_eq!(calendar.free_slots(OTHER, 7, tuesday, None).len(), 16);
        assert_eq!(calendar.free_slots(ACME, 8, tuesday, None).len(), 16);
        assert_eq!(
            calendar
                .free_slots(ACME, 7, tuesday, Some(&booking.uid))
                .len(),
            16
        );
        assert_eq!(
            message(calendar.book(ACME, request("2026-11-24T15:00:00Z"), now())),
            TAKEN
        );
        assert!(
            calendar
                .book(OTHER, request("2026-11-24T15:00:00Z"), now())
                .is_ok()
        );
    }

    #[test]
    fn only_a_free_slot_in_the_future_can_be_booked() {
        let mut calendar = Calendar::default();
        assert_eq!(
            message(calendar.book(ACME, request("2026-11-20T14:00:00Z"), now())),
            "Attempting to book a meeting in the past."
        );
        for closed in [
            "2026-11-21T15:00:00Z",
            "2026-11-24T15:10:00Z",
            "2026-11-24T22:00:00Z",
        ] {
            assert_eq!(message(calendar.book(ACME, request(closed), now())), TAKEN);
        }
        assert!(calendar.bookings(None).is_empty());
    }

    #[test]
    fn a_rescheduled_booking_is_cancelled_and_replaced() {
        let mut calendar = Calendar::default();
        let old = calendar
            .book(ACME, request("2026-11-24T15:00:00Z"), now())
            .unwrap();
        let moved = |start: &str| RescheduleRequest {
            start: at(start),
            reason: Some("the lead asked".into()),
            rescheduled_by: None,
        };
        // Its own time is free to the booking being moved.
        let new = calendar
            .reschedule(ACME, &old.uid, moved("2026-11-24T15:00:00Z"), now())
            .unwrap();
        assert_ne!(new.uid, old.uid);
        assert_eq!(new.rescheduled_from_uid.as_deref(), Some(old.uid.as_str()));
        assert_eq!(new.rescheduling_reason.as_deref(), Some("the lead asked"));
        assert_eq!(new.metadata, old.metadata);
        assert_eq!(new.attendees, old.attendees);
        let old_now = calendar.booking(ACME, &old.uid).unwrap();
        assert_eq!(old_now.status, BookingStatus::Cancelled);
        assert_eq!(
            old_now.rescheduled_to_uid.as_deref(),
            Some(new.uid.as_str())
        );
        assert!(
            message(calendar.reschedule(ACME, &old.uid, moved("2026-11-25T15:00:00Z"), now()))
                .contains("rescheduled already")
        );
        assert_eq!(
            message(calendar.reschedule(ACME, "bk_nope", moved("2026-11-25T15:00:00Z"), now())),
            "Booking with uid=bk_nope not found"
        );
        assert_eq!(
            calendar.booking(OTHER, &new.uid).unwrap_err().status,
            axum::http::StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_booking_is_cancelled_once() {
        let mut calendar = Calendar::default();
        let booking = calendar
            .book(ACME, request("2026-11-24T15:00:00Z"), now())
            .unwrap();
        let cancelled = calendar
            .cancel(ACME, &booking.uid, Some("changed plans".into()), now())
            .unwrap();
        assert_eq!(cancelled.status, BookingStatus::Cancelled);
        assert_eq!(
            cancelled.cancellation_reason.as_deref(),
            Some("changed plans")
        );
        assert_eq!(
            message(calendar.cancel(ACME, &booking.uid, None, now())),
            "This booking has already been cancelled."
        );
        assert!(
            calendar
                .book(ACME, request("2026-11-24T15:00:00Z"), now())
                .is_ok(),
            "a cancelled booking frees its slot"
        );
    }

    #[test]
    fn take_next_slot_gives_the_slot_to_someone_else_once() {
        let mut calendar = Calendar::default();
        calendar.set_faults(
            None,
            CalcomFaults {
                take_next_slot: true,
                ..CalcomFaults::default()
            },
        );
        assert_eq!(
            message(calendar.book(ACME, request("2026-11-24T15:00:00Z"), now())),
            TAKEN
        );
        let bookings = calendar.bookings(Some(ACME));
        assert_eq!(bookings.len(), 1);
        assert_eq!(bookings[0].attendees[0].name, "Someone Else");
        assert!(
            calendar
                .book(ACME, request("2026-11-24T16:00:00Z"), now())
                .is_ok()
        );
        assert!(!calendar.faults(Some(ACME)).take_next_slot);
    }

    #[test]
    fn an_accounts_own_faults_replace_everyones_and_count_down() {
        let mut calendar = Calendar::default();
        calendar.set_faults(
            None,
            CalcomFaults {
                latency_ms: 5,
                ..CalcomFaults::default()
            },
        );
        calendar.set_faults(
            Some(ACME),
            CalcomFaults {
                status: Some(503),
                times: Some(2),
                ..CalcomFaults::default()
            },
        );
        let statuses: Vec<_> = (0..3)
            .map(|_| calendar.request_fault(ACME).status)
            .collect();
        assert_eq!(statuses, [Some(503), Some(503), None]);
        assert_eq!(
            calendar.request_fault(OTHER),
            RequestFault {
                latency: Duration::from_millis(5),
                status: None
            }
        );
        calendar.clear_faults(Some(ACME));
        assert_eq!(calendar.faults(Some(ACME)).latency_ms, 5);
        calendar.clear_faults(None);
        assert_eq!(calendar.faults(Some(OTHER)), CalcomFaults::default());
    }

    #[test]
    fn faults_are_checked() {
        for (faults, ok) in [
            (json!({"status": 503, "times": 1}), true),
            (json!({"status": 200}), false),
            (json!({"status": 500, "times": 0}), false),
            (json!({"times": 2}), false),
        ] {
            let parsed: CalcomFaults = serde_json::from_value(faults.clone()).unwrap();
            assert_eq!(parsed.validate().is_ok(), ok, "{faults}");
        }
        assert!(serde_json::from_value::<CalcomFaults>(json!({"delay_ms": 1})).is_err());
    }

    #[test]
    fn an_event_type_is_set_per_account_or_for_everyone() {
        let mut calendar = Calendar::default();
        let hour = EventTypeUpdate {
            duration_minutes: Some(60),
            ..EventTypeUpdate::default()
        };
        calendar.update_event_type(None, 7, hour).unwrap();
        let late = EventTypeUpdate {
            start: Some("13:00".parse().unwrap()),
            ..EventTypeUpdate::default()
        };
        let acme = calendar.update_event_type(Some(ACME), 7, late).unwrap();
        assert_eq!(acme.duration_minutes, 60, "built on everyone's");
        assert_eq!(
            calendar.event_type(Some(OTHER), 7).start,
            "09:00".parse().unwrap()
        );
        assert_eq!(
            calendar.event_type(Some(ACME), 7).start,
            "13:00".parse().unwrap()
        );
        assert_eq!(calendar.event_type(Some(ACME), 8), EventType::default());
    }
}
