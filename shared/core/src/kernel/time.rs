//! Time. Instants are UTC [`Timestamp`]s; local rules (calling windows) are
//! evaluated in an IANA [`Zone`]. The time-zone database is compiled into the
//! binary (jiff's `tzdb-bundle-always`), because `provided.al2023` may ship none.

use std::fmt;

use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use crate::kernel::error::Invalid;

/// Where "now" comes from (a port: the wall clock and the demo's faster
/// clock are adapters in `leadline-aws`). Use cases take a clock so tests
/// and scheduled work can run on virtual time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// A wall-clock span as this clock's time. Waits that belong to the
    /// outside world (a backoff, a provider's Retry-After, the next second's
    /// call starts) keep their real length on a clock that runs faster.
    fn stretch(&self, span: SignedDuration) -> SignedDuration {
        span
    }

    /// The wall-clock instant of this clock's `at` (call starts are paced per real second).
    fn wall(&self, at: Timestamp) -> Timestamp {
        at
    }
}

/// An IANA time zone name that exists in the bundled database.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(String);

impl Zone {
    pub fn parse(name: &str) -> Result<Self, Invalid> {
        let name = name.trim();
        match TimeZone::get(name) {
            Ok(tz) => Ok(Zone(tz.iana_name().unwrap_or(name).to_owned())),
            Err(_) => Err(Invalid::new(
                "timezone",
                format!("{name:?} is not an IANA time zone"),
            )),
        }
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.0).expect("a Zone always names a bundled time zone")
    }

    pub fn local(&self, at: Timestamp) -> Zoned {
        at.to_zoned(self.tz())
    }
}

impl TryFrom<String> for Zone {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.0
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A time of day, "HH:MM", to the minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime(u16);

impl LocalTime {
    pub fn hm(hour: u16, minute: u16) -> Self {
        assert!(hour < 24 && minute < 60);
        Self(hour * 60 + minute)
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::new("time", format!("{raw:?} is not a time of day as HH:MM"));
        let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h == 24 && m == 0 {
            return Ok(Self(24 * 60));
        }
        if h > 23 || m > 59 || raw.trim().len() != 5 {
            return Err(bad());
        }
        Ok(Self(h * 60 + m))
    }

    pub fn minutes(&self) -> u16 {
        self.0
    }

    pub fn civil(&self) -> Time {
        Time::new((self.0 / 60) as i8, (self.0 % 60) as i8, 0, 0).unwrap_or(Time::MAX)
    }
}

impl TryFrom<String> for LocalTime {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<LocalTime> for String {
    fn from(t: LocalTime) -> String {
        format!("{:02}:{:02}", t.0 / 60, t.0 % 60)
    }
}

/// A day of the week, written `"monday"` (or `"mon"`) in JSON; ordered Monday first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    #[serde(alias = "mon")]
    Monday,
    #[serde(alias = "tue")]
    Tuesday,
    #[serde(alias = "wed")]
    Wednesday,
    #[serde(alias = "thu")]
    Thursday,
    #[serde(alias = "fri")]
    Friday,
    #[serde(alias = "sat")]
    Saturday,
    #[serde(alias = "sun")]
    Sunday,
}

impl From<Weekday> for Day {
    fn from(w: Weekday) -> Day {
        match w {
            Weekday::Monday => Day::Monday,
            Weekday::Tuesday => Day::Tuesday,
            Weekday::Wednesday => Day::Wednesday,
            Weekday::Thursday => Day::Thursday,
            Weekday::Friday => Day::Friday,
            Weekday::Saturday => Day::Saturday,
            Weekday::Sunday => Day::Sunday,
        }
    }
}

/// The hours in which a business may call its leads, in the lead's local time:
/// `[start, end)` on every day that is not excluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallingWindow {
    pub start: LocalTime,
    pub end: LocalTime,
    #[serde(default)]
    pub excluded_weekdays: Vec<Day>,
}

impl Default for CallingWindow {
    /// 09:00 to 20:00 every day.
    fn default() -> Self {
        Self {
            start: LocalTime::hm(9, 0),
            end: LocalTime::hm(20, 0),
            excluded_weekdays: Vec::new(),
        }
    }
}

impl CallingWindow {
    pub fn new(
        start: LocalTime,
        end: LocalTime,
        excluded_weekdays: Vec<Day>,
    ) -> Result<Self, Invalid> {
        if start >= end {
            return Err(Invalid::new(
                "calling_window",
                "start must be before end (windows do not cross midnight)",
            ));
        }
        if excluded_weekdays.len() >= 7 {
            return Err(Invalid::new(
                "calling_window",
                "at least one weekday must be open",
            ));
        }
        Ok(Self {
            start,
            end,
            excluded_weekdays,
        })
    }

    /// The tightest window that satisfies both (a tenant's and a legal one).
    pub fn intersect(&self, other: &CallingWindow) -> Option<CallingWindow> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        let mut excluded = self.excluded_weekdays.clone();
        excluded.extend(
            other
                .excluded_weekdays
                .iter()
                .copied()
                .filter(|d| !self.excluded_weekdays.contains(d)),
        );
        CallingWindow::new(start, end, excluded).ok()
    }

    /// Whether `at` falls inside the window in `zone`.
    pub fn contains(&self, at: Timestamp, zone: &Zone) -> bool {
        self.allows(zone.local(at).datetime())
    }

    /// Whether a local clock reading falls inside the window.
    fn allows(&self, local: DateTime) -> bool {
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        !self.excluded_weekdays.contains(&local.weekday().into())
            && self.start.0 <= minute
            && minute < self.end.0
    }

    /// `at` itself if it is inside the window, else the first instant after
    /// it that is: a day's `start` on the local clock or, when a daylight
    /// saving change skips the start (02:30 on a spring-forward day) or sets
    /// the clocks back into the window, the instant of the change (03:00).
    pub fn next_opening(&self, at: Timestamp, zone: &Zone) -> Timestamp {
        let tz = zone.tz();
        let mut from = at;
        // Between two changes of offset the local clock runs evenly: the
        // first opening of each such stretch is civil arithmetic, and a
        // stretch that ends before it hands over to the next one.
        loop {
            let opening = self.first_at_offset(from, tz.to_offset(from));
            match tz.following(from).next().map(|change| change.timestamp()) {
                Some(change) if change <= opening => from = change,
                _ => return opening,
            }
        }
    }

    /// The first instant at or after `from` inside the window, were the
    /// zone's offset `offset` for good.
    fn first_at_offset(&self, from: Timestamp, offset: Offset) -> Timestamp {
        let local = offset.to_datetime(from);
        if self.allows(local) {
            return from;
        }
        let mut date = local.date();
        // At most 8 days: every week has an open day.
        for _ in 0..8 {
            let opening = date.to_datetime(self.start.civil());
            if opening > local && !self.excluded_weekdays.contains(&date.weekday().into()) {
                return offset
                    .to_timestamp(opening)
                    .expect("dates far from the end of time");
            }
            date = date.tomorrow().expect("dates far from the end of time");
        }
        unreachable!("a calling window with an open weekday opens within 8 days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn zone(n: &str) -> Zone {
        Zone::parse(n).unwrap()
    }

    #[test]
    fn zones_must_exist_in_the_bundled_database() {
        assert!(Zone::parse("Asia/Kolkata").is_ok());
        assert!(Zone::parse("America/New_York").is_ok());
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("").is_err());
    }

    #[test]
    fn times_of_day_are_hh_mm() {
        assert_eq!(LocalTime::parse("09:30").unwrap(), LocalTime::hm(9, 30));
        for bad in ["9:30", "25:00", "09:60", "0930", "nine"] {
            assert!(LocalTime::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_window_is_nine_to_eight_every_day() {
        let w = CallingWindow::default();
        let ny = zone("America/New_York");
        assert!(w.contains(ts("2026-11-23T14:00:00Z"), &ny)); // 09:00 EST
        assert!(!w.contains(ts("2026-11-23T13:59:00Z"), &ny)); // 08:59
        assert!(!w.contains(ts("2026-11-24T01:00:00Z"), &ny)); // 20:00, end is exclusive
    }

    #[test]
    fn a_window_must_open_before_it_closes_and_on_some_day() {
        assert!(CallingWindow::new(LocalTime::hm(20, 0), LocalTime::hm(9, 0), vec![]).is_err());
        use Day::*;
        let all = vec![
            Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday,
        ];
        assert!(CallingWindow::new(LocalTime::hm(9, 0), LocalTime::hm(17, 0), all).is_err());
    }

    #[test]
    fn outside_the_window_the_next_opening_is_the_next_local_start() {
        let w = CallingWindow::default();
        let kolkata = zone("Asia/Kolkata");
        // 22:00 IST on Monday -> 09:00 IST Tuesday (03:30Z)
        assert_eq!(
            w.next_opening(ts("2026-11-23T16:30:00Z"), &kolkata),
            ts("2026-11-24T03:30:00Z")
        );
        // 07:00 IST -> 09:00 IST the same day
        assert_eq!(
            w.next_opening(ts("2026-11-24T01:30:00Z"), &kolkata),
            ts("2026-11-24T03:30:00Z")
        );
    }

    #[test]
    fn excluded_weekdays_are_skipped() {
        let w = CallingWindow::new(
            LocalTime::hm(9, 0),
            LocalTime::hm(17, 0),
            vec![Day::Saturday, Day::Sunday],
        )
        .unwrap();
        let london = zone("Europe/London");
        // Friday 2026-11-27 18:00 -> Monday 2026-11-30 09:00
        assert_eq!(
            w.next_opening(ts("2026-11-27T18:00:00Z"), &london),
            ts("2026-11-30T09:00:00Z")
        );
    }

    #[test]
    fn the_opening_follows_daylight_saving_changes() {
        let w = CallingWindow::default();
        let ny = zone("America/New_York");
        // Sat 2026-03-07 21:00 EST -> Sun 2026-03-08 09:00 EDT (13:00Z, not 14:00Z)
        assert_eq!(
            w.next_opening(ts("2026-03-08T02:00:00Z"), &ny),
            ts("2026-03-08T13:00:00Z")
        );
    }

    #[test]
    fn a_window_that_opens_in_a_skipped_hour_opens_when_the_clocks_jump() {
        let ny = zone("America/New_York");
        // Sun 2026-03-08: at 02:00 EST the clocks jump to 03:00 EDT (07:00Z).
        let from_half_past_two =
            CallingWindow::new(LocalTime::hm(2, 30), LocalTime::hm(5, 0), vec![]).unwrap();
        // From 00:00 EST: 03:00 EDT, the first minute of the day at or past 02:30.
        assert_eq!(
            from_half_past_two.next_opening(ts("2026-03-08T05:00:00Z"), &ny),
            ts("2026-03-08T07:00:00Z")
        );
        // A window that closes soon after the jump is still open from 03:00 to 03:15.
        let short = CallingWindow::new(LocalTime::hm(2, 15), LocalTime::hm(3, 15), vec![]).unwrap();
        assert_eq!(
            short.next_opening(ts("2026-03-08T05:00:00Z"), &ny),
            ts("2026-03-08T07:00:00Z")
        );
    }

    #[test]
    fn a_window_the_clocks_fall_back_into_opens_at_the_change() {
        let ny = zone("America/New_York");
        // Sun 2026-11-01: at 02:00 EDT the clocks fall back to 01:00 EST (06:00Z).
        let w = CallingWindow::new(LocalTime::hm(1, 0), LocalTime::hm(1, 30), vec![]).unwrap();
        // At 01:45 EDT the window has closed, and opens again at 01:00 EST.
        assert_eq!(
            w.next_opening(ts("2026-11-01T05:45:00Z"), &ny),
            ts("2026-11-01T06:00:00Z")
        );
        // Before the first 01:00, the first 01:00 (EDT).
        assert_eq!(
            w.next_opening(ts("2026-11-01T04:00:00Z"), &ny),
            ts("2026-11-01T05:00:00Z")
        );
    }

    #[test]
    fn two_windows_intersect_to_the_stricter_one() {
        let tenant =
            CallingWindow::new(LocalTime::hm(7, 0), LocalTime::hm(22, 0), vec![Day::Sunday])
                .unwrap();
        let legal = CallingWindow::new(LocalTime::hm(8, 0), LocalTime::hm(21, 0), vec![]).unwrap();
        let both = tenant.intersect(&legal).unwrap();
        assert_eq!(
            (both.start, both.end),
            (LocalTime::hm(8, 0), LocalTime::hm(21, 0))
        );
        assert_eq!(both.excluded_weekdays, vec![Day::Sunday]);
    }
}
