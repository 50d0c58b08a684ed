//! An event type's length and weekly hours, and the free slots they leave.

use std::collections::BTreeSet;
use std::ops::Range;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A day of the week, as the control API spells it: `"mon"` … `"sun"`
/// (or in full, `"monday"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    #[serde(alias = "monday")]
    Mon,
    #[serde(alias = "tuesday")]
    Tue,
    #[serde(alias = "wednesday")]
    Wed,
    #[serde(alias = "thursday")]
    Thu,
    #[serde(alias = "friday")]
    Fri,
    #[serde(alias = "saturday")]
    Sat,
    #[serde(alias = "sunday")]
    Sun,
}

impl Day {
    pub const WEEKDAYS: [Day; 5] = [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri];

    fn of(weekday: Weekday) -> Day {
        match weekday {
            Weekday::Monday => Day::Mon,
            Weekday::Tuesday => Day::Tue,
            Weekday::Wednesday => Day::Wed,
            Weekday::Thursday => Day::Thu,
            Weekday::Friday => Day::Fri,
            Weekday::Saturday => Day::Sat,
            Weekday::Sunday => Day::Sun,
        }
    }
}

/// A simulated event type: how long its meetings last and when its host is
/// available. By default 30 minutes, Monday to Friday 09:00–17:00 in
/// America/New_York.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventType {
    pub duration_minutes: u32,
    /// The IANA zone of the hours.
    pub zone: String,
    pub days: BTreeSet<Day>,
    /// When the host becomes available on each of `days`, local time.
    pub start: Time,
    /// When the last meeting must be over, local time.
    pub end: Time,
}

impl Default for EventType {
    fn default() -> Self {
        EventType {
            duration_minutes: 30,
            zone: "America/New_York".into(),
            days: BTreeSet::from(Day::WEEKDAYS),
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(17, 0, 0, 0),
        }
    }
}

/// A change to an event type, as `PUT /_sim/calcom/event-types/{id}` takes it:
/// `{"duration_minutes": 45, "zone": "Europe/Paris", "days": ["mon", "wed"],
/// "start": "10:00", "end": "16:30"}`; the fields left out stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventTypeUpdate {
    pub duration_minutes: Option<u32>,
    pub zone: Option<String>,
    pub days: Option<BTreeSet<Day>>,
    pub start: Option<Time>,
    pub end: Option<Time>,
}

impl EventType {
    /// This event type changed by `update`, if the result makes sense.
    pub fn updated(&self, update: EventTypeUpdate) -> Result<EventType, String> {
        let updated = EventType {
            duration_minutes: update.duration_minutes.unwrap_or(self.duration_minutes),
            zone: update.zone.unwrap_or_else(|| self.zone.clone()),
            days: update.days.unwrap_or_else(|| self.days.clone()),
            start: update.start.unwrap_or(self.start),
            end: update.end.unwrap_or(self.end),
        };
        if !(1..=24 * 60).contains(&updated.duration_minutes) {
            return Err(format!(
                "duration_minutes must be 1 to 1440, got {}",
                updated.duration_minutes
            ));
        }
        TimeZone::get(&updated.zone).map_err(|e| format!("zone: {e}"))?;
        if updated.start >= updated.end {
            return Err(format!(
                "start ({}) must be before end ({})",
                updated.start, updated.end
            ));
        }
        Ok(updated)
    }

    pub(crate) fn duration(&self) -> SignedDuration {
        SignedDuration::from_mins(self.duration_minutes.into())
    }

    fn time_zone(&self) -> TimeZone {
        // `updated` checked the zone; the default's is in the bundled database.
        TimeZone::get(&self.zone).unwrap_or(TimeZone::UTC)
    }

    /// The starts of the free slots from `from` to `until` (both included), in
    /// order: every `duration` from the opening of an available day, as long as
    /// the meeting is over by the closing, that overlaps nothing in `busy`.
    pub(crate) fn free_slots(
        &self,
        from: Timestamp,
        until: Timestamp,
        busy: &[Range<Timestamp>],
    ) -> Vec<Timestamp> {
        let zone = self.time_zone();
        let length = self.duration();
        let last_day = until.to_zoned(zone.clone()).date();
        let mut day = from.to_zoned(zone.clone()).date();
        let mut slots = Vec::new();
        while day <= last_day {
            let local = |time: Time| day.to_datetime(time).to_zoned(zone.clone()).ok();
            if self.days.contains(&Day::of(day.weekday()))
                && let (Some(open), Some(close)) = (local(self.start), local(self.end))
            {
                let starts = std::iter::successors(Some(open.timestamp()), |start| {
                    start.checked_add(length).ok()
                });
                for start in starts {
                    let Ok(end) = start.checked_add(length) else {
                        break;
                    };
                    if end > close.timestamp() || start > until {
                        break;
                    }
                    let taken = busy.iter().any(|b| b.start < end && start < b.end);
                    if start >= from && !taken {
                        slots.push(start);
                    }
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        slots
    }

    /// Whether a meeting may start at `start`: a free slot, exactly.
    pub(crate) fn is_free(&self, start: Timestamp, busy: &[Range<Timestamp>]) -> bool {
        self.free_slots(start, start, busy) == [start]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn local(slots: &[Timestamp]) -> Vec<String> {
        let zone = TimeZone::get("America/New_York").unwrap();
        slots
            .iter()
            .map(|s| s.to_zoned(zone.clone()).strftime("%a %H:%M").to_string())
            .collect()
    }

    #[test]
    fn a_weekday_has_sixteen_half_hours_from_nine_to_five() {
        // Tuesday 24 November 2026, New York is at -05:00.
        let slots = EventType::default().free_slots(
            at("2026-11-24T00:00:00Z"),
            at("2026-11-24T23:59:59Z"),
            &[],
        );
        assert_eq!(slots.len(), 16);
        assert_eq!(slots[0], at("2026-11-24T14:00:00Z"));
        assert_eq!(slots[15], at("2026-11-24T21:30:00Z"));
    }

    #[test]
    fn weekends_are_closed_and_the_window_bounds_are_included() {
        // Friday 27 November 16:30 to Monday 30 November 09:00, New York time.
        let slots = EventType::default().free_slots(
            at("2026-11-27T21:30:00Z"),
            at("2026-11-30T14:00:00Z"),
            &[],
        );
        assert_eq!(local(&slots), ["Fri 16:30", "Mon 09:00"]);
    }

    #[test]
    fn a_meeting_must_fit_before_closing_and_miss_every_booking() {
        let event_type = EventType::default()
            .updated(EventTypeUpdate {
                duration_minutes: Some(45),
                start: Some(Time::constant(9, 0, 0, 0)),
                end: Some(Time::constant(11, 0, 0, 0)),
                ..EventTypeUpdate::default()
            })
            .unwrap();
        let day = (at("2026-11-24T00:00:00Z"), at("2026-11-25T00:00:00Z"));
        assert_eq!(
            local(&event_type.free_slots(day.0, day.1, &[])),
            ["Tue 09:00", "Tue 09:45"],
            "10:30 would end after 11:00"
        );
        let busy = [at("2026-11-24T14:30:00Z")..at("2026-11-24T15:00:00Z")];
        assert_eq!(
            local(&event_type.free_slots(day.0, day.1, &busy)),
            Vec::<String>::new(),
            "09:00-09:45 and 09:45-10:30 both overlap 09:30-10:00"
        );
        let touching = [at("2026-11-24T14:45:00Z")..at("2026-11-24T15:30:00Z")];
        assert_eq!(
            local(&event_type.free_slots(day.0, day.1, &touching)),
            ["Tue 09:00"],
            "09:00-09:45 ends as 09:45-10:30 begins"
        );
    }

    #[test]
    fn hours_follow_the_zone_across_a_dst_change() {
        // New York leaves DST on Sunday 1 November 2026.
        let event_type = EventType::default()
            .updated(EventTypeUpdate {
                days: Some(BTreeSet::from([Day::Fri, Day::Mon])),
                ..EventTypeUpdate::default()
            })
            .unwrap();
        let slots =
            event_type.free_slots(at("2026-10-30T00:00:00Z"), at("2026-11-02T23:59:59Z"), &[]);
        assert_eq!(slots[0], at("2026-10-30T13:00:00Z"), "09:00 EDT");
        assert_eq!(slots[16], at("2026-11-02T14:00:00Z"), "09:00 EST");
    }

    #[test]
    fn only_an_exact_free_slot_is_bookable() {
        let event_type = EventType::default();
        assert!(event_type.is_free(at("2026-11-24T14:30:00Z"), &[]));
        assert!(!event_type.is_free(at("2026-11-24T14:31:00Z"), &[]));
        assert!(
            !event_type.is_free(at("2026-11-24T22:00:00Z"), &[]),
            "17:00"
        );
        assert!(
            !event_type.is_free(at("2026-11-28T14:30:00Z"), &[]),
            "Saturday"
        );
        let busy = [at("2026-11-24T14:30:00Z")..at("2026-11-24T15:00:00Z")];
        assert!(!event_type.is_free(at("2026-11-24T14:30:00Z"), &busy));
    }

    #[test]
    fn an_update_is_checked_and_reads_days_and_times() {
        let update: EventTypeUpdate = serde_json::from_value(serde_json::json!({
            "days": ["sat", "sunday"], "start": "10:00", "end": "12:30", "zone": "Europe/Paris"
        }))
        .unwrap();
        let event_type = EventType::default().updated(update).unwrap();
        assert_eq!(event_type.days, BTreeSet::from([Day::Sat, Day::Sun]));
        assert_eq!(event_type.end, Time::constant(12, 30, 0, 0));
        assert_eq!(event_type.duration_minutes, 30);
        for bad in [
            serde_json::json!({"zone": "Mars/Olympus"}),
            serde_json::json!({"start": "17:00"}),
            serde_json::json!({"duration_minutes": 0}),
        ] {
            let update = serde_json::from_value(bad.clone()).unwrap();
            assert!(EventType::default().updated(update).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<EventTypeUpdate>(serde_json::json!({"days": ["mo"]})).is_err()
        );
    }
}
