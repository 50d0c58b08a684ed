//! `GET /v2/slots` (`cal-api-version: 2024-09-04`): its query and its answer.

use std::collections::BTreeMap;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::{Value, json};

use super::booking::utc_instant;
use super::{ApiError, Violations};
use crate::conversation::iso_millis;

/// A valid slots query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SlotQuery {
    pub event_type_id: i64,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The zone of the answer's days and times; none: UTC, written `Z`.
    pub time_zone: Option<TimeZone>,
    /// `format=range`: each slot with its `end`.
    pub range: bool,
    /// `bookingUidToReschedule`: that booking's time counts as free.
    pub rescheduling: Option<String>,
}

impl SlotQuery {
    /// Reads `eventTypeId`, `start` and `end` (dates or ISO 8601 instants,
    /// read as UTC: a date is its first or last second), and the optional
    /// `timeZone`, `format` and `bookingUidToReschedule`; ignores the rest.
    pub(crate) fn parse(query: &BTreeMap<String, String>) -> Result<Self, ApiError> {
        let mut violations = Violations::default();
        let mut read = |name: &str, rule: &str, message: &str, valid: bool| {
            if !valid {
                let value = query.get(name).map(|v| json!(v));
                violations.add(name, value.as_ref(), rule, message);
            }
        };
        let get = |name: &str| query.get(name).map(String::as_str);
        let event_type_id = get("eventTypeId").and_then(|id| id.parse::<i64>().ok());
        read(
            "eventTypeId",
            "isInt",
            "eventTypeId must be an integer number",
            event_type_id.is_some(),
        );
        let instant = |name: &str, day_time: Time| {
            let text = get(name)?;
            match text.parse::<Date>() {
                Ok(date) if !text.contains('T') => date
                    .to_datetime(day_time)
                    .to_zoned(TimeZone::UTC)
                    .ok()
                    .map(|zoned| zoned.timestamp()),
                _ => utc_instant(text),
            }
        };
        let start = instant("start", Time::midnight());
        let end = instant("end", Time::constant(23, 59, 59, 0));
        for (name, parsed) in [("start", start), ("end", end)] {
            read(
                name,
                "isDateString",
                &format!("{name} must be a valid ISO 8601 date string"),
                parsed.is_some(),
            );
        }
        let time_zone = get("timeZone").map(TimeZone::get);
        read(
            "timeZone",
            "isTimeZone",
            "timeZone must be a valid IANA time-zone",
            time_zone.as_ref().is_none_or(Result::is_ok),
        );
        let format = get("format").unwrap_or("time");
        read(
            "format",
            "isIn",
            "format must be either 'range' or 'time'",
            matches!(format, "range" | "time"),
        );
        let query = match (event_type_id, start, end) {
            (Some(event_type_id), Some(start), Some(end)) => Some(SlotQuery {
                event_type_id,
                start,
                end,
                time_zone: time_zone.and_then(Result::ok),
                range: format == "range",
                rescheduling: get("bookingUidToReschedule").map(str::to_owned),
            }),
            _ => None,
        };
        let query = violations.finish(query)?;
        if query.end < query.start {
            return Err(ApiError::bad_request(
                "Invalid time range given - check the 'start' and 'end' query parameters.",
            ));
        }
        Ok(query)
    }

    /// The stretch of time slots are offered in: from the start or `now`,
    /// whichever is later, to the end or a year from `now`, whichever is sooner.
    pub(crate) fn window(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let in_a_year = now
            .to_zoned(TimeZone::UTC)
            .checked_add(1.year())
            .map_or(Timestamp::MAX, |zoned| zoned.timestamp());
        (self.start.max(now), self.end.min(in_a_year))
    }

    /// The answer's `data`: the slots by day, days in order, and only days
    /// with slots: `{"2026-11-24": [{"start": "2026-11-24T09:00:00.000-05:00"}]}`.
    pub(crate) fn render(&self, slots: &[Timestamp], length: SignedDuration) -> Value {
        let mut days: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for &start in slots {
            let (day, text) = self.local(start);
            let mut slot = json!({ "start": text });
            if self.range {
                let end = start.saturating_add(length).unwrap_or(start);
                slot["end"] = json!(self.local(end).1);
            }
            days.entry(day).or_default().push(slot);
        }
        json!(days)
    }

    /// The day of `at` and `at` itself, in the answer's zone, to the millisecond.
    fn local(&self, at: Timestamp) -> (String, String) {
        match &self.time_zone {
            Some(zone) => {
                let zoned = at.to_zoned(zone.clone());
                let text = zoned.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
                (zoned.date().to_string(), text)
            }
            None => (
                at.to_zoned(TimeZone::UTC).date().to_string(),
                iso_millis(at),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn dates_are_whole_utc_days_and_instants_may_omit_the_offset() {
        let parsed = SlotQuery::parse(&query(&[
            ("eventTypeId", "7"),
            ("start", "2026-11-24"),
            ("end", "2026-11-25"),
            ("timeZone", "America/New_York"),
        ]))
        .unwrap();
        assert_eq!(parsed.start, at("2026-11-24T00:00:00Z"));
        assert_eq!(parsed.end, at("2026-11-25T23:59:59Z"));
        assert!(!parsed.range);
        let parsed = SlotQuery::parse(&query(&[
            ("eventTypeId", "7"),
            ("start", "2026-11-24T09:00:00"),
            ("end", "2026-11-24T12:00:00-05:00"),
            ("format", "range"),
            ("bookingUidToReschedule", "bk_1"),
        ]))
        .unwrap();
        assert_eq!(parsed.start, at("2026-11-24T09:00:00Z"));
        assert_eq!(parsed.end, at("2026-11-24T17:00:00Z"));
        assert_eq!(parsed.time_zone, None);
        assert!(parsed.range);
        assert_eq!(parsed.rescheduling.as_deref(), Some("bk_1"));
    }

    #[test]
    fn a_bad_query_names_what_is_wrong() {
        let error = SlotQuery::parse(&query(&[
            ("start", "tomorrow"),
            ("end", "2026-11-25"),
            ("timeZone", "Eastern"),
        ]))
        .unwrap_err();
        let body = error.body("/v2/slots", at("2026-11-20T00:00:00Z"));
        let properties: Vec<_> = body["error"]["details"]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["property"].as_str().unwrap())
            .collect();
        assert_eq!(properties, ["eventTypeId", "start", "timeZone"]);
        let backwards = SlotQuery::parse(&query(&[
            ("eventTypeId", "7"),
            ("start", "2026-11-25"),
            ("end", "2026-11-24"),
        ]))
        .unwrap_err();
        assert!(
            backwards.body("/", Timestamp::UNIX_EPOCH)["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid time range given")
        );
    }

    #[test]
    fn the_window_starts_now_and_ends_within_a_year() {
        let parsed = SlotQuery::parse(&query(&[
            ("eventTypeId", "7"),
            ("start", "2026-01-01"),
            ("end", "2030-01-01"),
        ]))
        .unwrap();
        let now = at("2026-11-20T17:00:00Z");
        assert_eq!(parsed.window(now), (now, at("2027-11-20T17:00:00Z")));
    }

    #[test]
    fn slots_are_grouped_by_day_in_the_answers_zone() {
        let slots = [
            at("2026-11-24T14:00:00Z"),
            at("2026-11-24T21:30:00Z"),
            at("2026-11-25T02:00:00Z"),
        ];
        let mut parsed = SlotQuery {
            event_type_id: 7,
            start: slots[0],
            end: slots[2],
            time_zone: None,
            range: false,
            rescheduling: None,
        };
        assert_eq!(
            parsed.render(&slots, SignedDuration::from_mins(30)),
            json!({
                "2026-11-24": [{"start": "2026-11-24T14:00:00.000Z"}, {"start": "2026-11-24T21:30:00.000Z"}],
                "2026-11-25": [{"start": "2026-11-25T02:00:00.000Z"}],
            })
        );
        parsed.time_zone = TimeZone::get("America/New_York").ok();
        parsed.range = true;
        let rendered = parsed.render(&slots, SignedDuration::from_mins(30));
        assert_eq!(
            rendered["2026-11-24"][0],
            json!({"start": "2026-11-24T09:00:00.000-05:00", "end": "2026-11-24T09:30:00.000-05:00"})
        );
        assert_eq!(rendered["2026-11-24"].as_array().unwrap().len(), 3);
        assert_eq!(rendered.as_object().unwrap().len(), 1);
    }
}
