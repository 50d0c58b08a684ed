//! When a lead asked to be called back, resolved in code from what the
//! agent's analysis says (see the module's functions).
//!
//! The model only transcribes what the lead said; every piece of date
//! arithmetic happens here, in the lead's own zone. The rules:
//!
//! - An instant the analysis states with an offset wins. Otherwise the
//!   structured analysis is read: `callback_at` (RFC 3339 with an offset, or a
//!   wall time such as `2026-11-24T15:00` in the lead's zone, or words), else
//!   `callback_date` and/or `callback_time` together, else `callback_when`,
//!   else `callback_phrase`. Only non-empty strings count.
//! - Days: `today`, `tonight` (19:00 unless a time is said), `tomorrow`,
//!   `day after tomorrow`, `2026-11-24`, `Nov 24`, `November 24th`,
//!   `24 November` (the next such date on or after today, rolling to next
//!   year once it has passed), and weekdays (`tuesday`, `tue`, `tues`,
//!   `thurs`...).
//! - A weekday is the next such day, today included only while the resolved
//!   time is still ahead: "Tuesday at 3" said on a Tuesday at 09:00 is that
//!   afternoon, said at 16:00 it is a week later. `next tuesday` is the first
//!   Tuesday strictly after today: said on a Monday it is tomorrow, said on a
//!   Tuesday it is a week later.
//! - Times: `3`, `3pm`, `3 p.m.`, `3:30`, `15:00`, `15h`, `15h30`, `noon`,
//!   `midday`, `morning` (10:00), `afternoon` (15:00), `evening` (18:00),
//!   `night` (19:00); the parts of the day also say am or pm ("3 in the
//!   afternoon" is 15:00). A clock hour without am/pm is read for business
//!   calls: 1–7 is the afternoon, 8–11 the morning, 12 noon, 13–23 and hours
//!   written with a leading zero (`07:30`) as they are.
//! - Relative: `in 2 hours`, `in 30 minutes`, `in an hour`, `in 3 days`
//!   (days keep the current local time of day, unless a time is said).
//! - A day without a time is at 10:00; a time without a day is today if still
//!   ahead, else tomorrow.
//! - Anything else, and anything said two different ways ("Tuesday or
//!   Wednesday", "3 or 4"), is unreadable and kept as words for the lead's
//!   note. So are `midnight`, `not` and `before`, rather than being guessed.
//! - Wall times that a daylight-saving change skips or repeats resolve with
//!   the "compatible" rule: a skipped 02:30 is 03:30, a repeated one the first.

use jiff::civil::{Date, DateTime, Time, Weekday, time};
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};
use serde_json::Value;

use crate::kernel::time::Zone;

/// What the lead asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestedTime {
    /// An instant (it may be in the past: the caller decides what to do then).
    At(Timestamp),
    /// Words that say a time but could not be read; kept for the lead's note.
    Unreadable(String),
    /// The analysis names no time.
    NotGiven,
}

/// When the lead asked to be called back (see the module's rules).
///
/// `stated`: the instant the analysis already gave as RFC 3339 with an offset
/// (wins when present). `structured`: the agent's structured analysis (a JSON
/// object) or None. `zone`: the lead's zone; `now`: when the call ended.
pub fn requested_callback(
    stated: Option<Timestamp>,
    structured: Option<&Value>,
    zone: &Zone,
    now: Timestamp,
) -> RequestedTime {
    if let Some(at) = stated {
        return RequestedTime::At(at);
    }
    let field = |name: &str| {
        let text = structured?.get(name)?.as_str()?.trim();
        (!text.is_empty()).then(|| text.to_owned())
    };
    let words = field("callback_at")
        .or_else(|| match (field("callback_date"), field("callback_time")) {
            (Some(date), Some(time)) => Some(format!("{date} {time}")),
            (date, time) => date.or(time),
        })
        .or_else(|| field("callback_when"))
        .or_else(|| field("callback_phrase"));
    match words {
        None => RequestedTime::NotGiven,
        Some(words) => match instant(&words, zone).or_else(|| read(&words, zone, now)) {
            Some(at) => RequestedTime::At(at),
            None => RequestedTime::Unreadable(words),
        },
    }
}

/// An instant written for machines: RFC 3339 with an offset, or a wall time
/// (`2026-11-24T15:00`, `2026-11-24 15:00:00`) in the lead's zone.
fn instant(text: &str, zone: &Zone) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    if let Ok(zoned) = text.parse::<Zoned>() {
        return Some(zoned.timestamp());
    }
    let wall: DateTime = text.parse().ok().filter(|_| text.contains(':'))?;
    Some(wall.to_zoned(zone.tz()).ok()?.timestamp())
}

/// Reads a phrase such as "tue around 3 p.m." into an instant after `now`.
fn read(text: &str, zone: &Zone, now: Timestamp) -> Option<Timestamp> {
    let local = zone.local(now);
    let today = local.date();
    let words = words(text);
    let mut said = Said::default();
    let mut rest: &[&str] = &words.iter().map(String::as_str).collect::<Vec<_>>();
    while !rest.is_empty() {
        let used = match rest {
            ["day", "after", "tomorrow", ..] => said.on(today.saturating_add(2.days()), 3),
            ["today", ..] => said.on(today, 1),
            ["tonight", ..] => {
                said.period(19, Pm);
                said.on(today, 1)
            }
            ["tomorrow", ..] => said.on(today.saturating_add(1.days()), 1),
            ["morning", ..] => said.period(10, Am),
            ["afternoon", ..] => said.period(15, Pm),
            ["evening", ..] => said.period(18, Pm),
            ["night", ..] => said.period(19, Pm),
            ["noon" | "midday", ..] => said.at(Clock::NOON, 1),
            ["am", ..] => said.meridiem(Am),
            ["pm", ..] => said.meridiem(Pm),
            ["midnight" | "not" | "before", ..] => said.doubt(),
            ["next", day, ..] if weekday(day).is_some() => said.weekday(weekday(day)?, true, 2),
            [day, ..] if weekday(day).is_some() => said.weekday(weekday(day)?, false, 1),
            [n, unit, ..] if count(n).is_some() && per_unit(unit).is_some() => {
                match per_unit(unit)? {
                    Unit::Minutes(m) => said.later(count(n)? * m),
                    Unit::Days(d) => {
                        said.keep_time = true;
                        said.on(today.saturating_add((count(n)? * d).days()), 2)
                    }
                }
            }
            [m, d, ..] | [d, m, ..] if month(m).is_some() && day_of_month(d).is_some() => {
                match next_date(today, month(m), day_of_month(d)?) {
                    Some(date) => said.on(date, 2),
                    None => said.doubt(),
                }
            }
            // "the 26th": of this month, or the next that has one.
            [d, ..] if d.ends_with(char::is_alphabetic) && day_of_month(d).is_some() => {
                match next_date(today, None, day_of_month(d)?) {
                    Some(date) => said.on(date, 1),
                    None => said.doubt(),
                }
            }
            // "15h" (a "15h30" is read as "15:30").
            [h, "h", ..] if clock(h).is_some() => said.at(clock(h)?.as_written(), 2),
            [iso, ..] if iso.contains('-') => match iso.parse::<Date>() {
                Ok(date) => said.on(date, 1),
                Err(_) => said.doubt(),
            },
            // A bare "1500" or a year: not read as a time.
            [n, ..] if n.len() > 2 && n.bytes().all(|b| b.is_ascii_digit()) => 1,
            [n, ..] if n.starts_with(|c: char| c.is_ascii_digit()) => match clock(n) {
                Some(c) => said.at(c, 1),
                None => said.doubt(),
            },
            _ => 1,
        };
        rest = &rest[used..];
    }
    said.resolve(&local, now)
}

/// The phrase as lower-case words and numbers, with the filler words that
/// sit between the parts that matter dropped: "Tue, around 3:30 p.m." →
/// `["tue", "3:30", "pm"]`, "3.30pm" → `["3:30", "pm"]`, "the 24th" → `["24th"]`.
fn words(text: &str) -> Vec<String> {
    const FILLER: &[&str] = &[
        "at", "on", "around", "about", "by", "the", "in", "of", "this", "oclock", "ish",
    ];
    // 0: between words, 1: letters, 2: a number (digits, ':' and '-').
    let kind = |c: char| match c {
        c if c.is_alphabetic() => 1,
        '0'..='9' | ':' | '-' => 2,
        _ => 0,
    };
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    let digit = |i: usize| chars.get(i).is_some_and(char::is_ascii_digit);
    let (mut words, mut word) = (Vec::new(), String::new());
    for (i, &c) in chars.iter().enumerate() {
        let c = match c {
            // "3.30", "15h30"
            '.' | 'h' if i > 0 && digit(i - 1) && digit(i + 1) => ':',
            // "p.m.", "a.m.", "o'clock"
            '.' | '\'' | '’'
                if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) =>
            {
                continue;
            }
            c => c,
        };
        if word.ends_with(|last: char| kind(last) != kind(c)) {
            words.push(std::mem::take(&mut word));
        }
        if kind(c) != 0 {
            word.push(c);
        }
    }
    words.push(word);
    let mut kept: Vec<String> = Vec::new();
    for word in words.iter().map(|w| w.trim_matches(['-', ':'])) {
        let number = kept
            .last_mut()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()));
        match number {
            Some(number) if ["st", "nd", "rd", "th"].contains(&word) => number.push_str(word),
            _ if !word.is_empty() && !FILLER.contains(&word) => kept.push(word.to_owned()),
            _ => {}
        }
    }
    kept
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}
use Meridiem::{Am, Pm};

/// A clock time as said: "3" is not yet 03:00 or 15:00.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Clock {
    hour: i8,
    minute: i8,
    /// Written as a 24-hour time ("07:30", "15h", "noon"): no am/pm reading.
    as_is: bool,
}

impl Clock {
    const NOON: Clock = Clock {
        hour: 12,
        minute: 0,
        as_is: true,
    };

    fn as_written(self) -> Clock {
        Clock {
            as_is: true,
            ..self
        }
    }

    /// The time of day, read with `meridiem` or else for business calls.
    fn time(self, meridiem: Option<Meridiem>) -> Option<Time> {
        let hour = match (self.hour, meridiem) {
            (h, _) if self.as_is || h == 0 || h > 12 => h,
            (12, Some(Am)) => 0,
            (12, _) => 12,
            (h, Some(Pm)) => h + 12,
            (h, None) if h <= 7 => h + 12,
            (h, _) => h,
        };
        Time::new(hour, self.minute, 0, 0).ok()
    }
}

/// "3", "07", "3:30", "15:00:00" (hours up to 23).
fn clock(text: &str) -> Option<Clock> {
    let mut parts = text.split(':');
    let (h, m, s) = (parts.next()?, parts.next(), parts.next());
    let two_digits = |p: Option<&str>| p.is_none_or(|p| p.len() == 2);
    if h.len() > 2 || !two_digits(m) || !two_digits(s) || parts.next().is_some() {
        return None;
    }
    let (hour, minute): (i8, i8) = (h.parse().ok()?, m.unwrap_or("0").parse().ok()?);
    let second: i8 = s.unwrap_or("0").parse().ok()?;
    let valid = (0..24).contains(&hour) && (0..60).contains(&minute) && (0..60).contains(&second);
    valid.then_some(Clock {
        hour,
        minute,
        as_is: h.len() == 2 && h.starts_with('0'),
    })
}

fn weekday(word: &str) -> Option<Weekday> {
    const DAYS: &str = "monday tuesday wednesday thursday friday saturday sunday";
    let word = if word == "weds" { "wed" } else { word };
    let i = DAYS
        .split(' ')
        .position(|d| word.len() >= 3 && d.starts_with(word))?;
    Weekday::from_monday_zero_offset(i as i8).ok()
}

fn month(word: &str) -> Option<i8> {
    const MONTHS: &str =
        "january february march april may june july august september october november december";
    let i = MONTHS
        .split(' ')
        .position(|m| word.len() >= 3 && m.starts_with(word))?;
    Some(i as i8 + 1)
}

/// "24", "24th".
fn day_of_month(word: &str) -> Option<i8> {
    let digits = word.trim_end_matches(char::is_alphabetic); // only ordinals follow digits
    digits
        .parse()
        .ok()
        .filter(|d| (1..=31).contains(d) && digits.len() <= 2)
}

/// The first date on or after `today` with that day of the month (and that
/// month, if said), rolling over into later months and years.
fn next_date(today: Date, month: Option<i8>, day: i8) -> Option<Date> {
    let first = today.first_of_month();
    (0..12 * 8)
        .map(|k| first.saturating_add(k.months()))
        .filter(|m| month.is_none_or(|month| m.month() == month))
        .find_map(|m| {
            Date::new(m.year(), m.month(), day)
                .ok()
                .filter(|d| *d >= today)
        })
}

/// "2", "a", "an", "one" (before a unit).
fn count(word: &str) -> Option<i64> {
    match word {
        "a" | "an" | "one" => Some(1),
        _ => word.parse().ok().filter(|n| (1..1000).contains(n)),
    }
}

enum Unit {
    Minutes(i64),
    Days(i64),
}

fn per_unit(word: &str) -> Option<Unit> {
    Some(match word {
        "min" | "mins" | "minute" | "minutes" => Unit::Minutes(1),
        "hr" | "hrs" | "hour" | "hours" => Unit::Minutes(60),
        "day" | "days" => Unit::Days(1),
        "week" | "weeks" => Unit::Days(7),
        _ => return None,
    })
}

/// What the phrase said, part by part. Saying one part two different ways
/// makes the phrase unreadable.
#[derive(Default)]
struct Said {
    date: Option<Date>,
    /// The weekday, and whether it was "next <weekday>".
    weekday: Option<(Weekday, bool)>,
    clock: Option<Clock>,
    meridiem: Option<Meridiem>,
    /// A part of the day: its default time and whether it is am or pm.
    period: Option<(i8, Meridiem)>,
    minutes_later: Option<i64>,
    /// "in 3 days": the current local time of day unless a time is said.
    keep_time: bool,
    unsure: bool,
}

impl Said {
    /// Records `value`; returns `used` (the words it took) for the reader.
    fn note<T: PartialEq>(
        &mut self,
        value: T,
        slot: fn(&mut Said) -> &mut Option<T>,
        used: usize,
    ) -> usize {
        let slot = slot(self);
        let clash = slot.as_ref().is_some_and(|old| *old != value);
        *slot = Some(value);
        self.unsure |= clash;
        used
    }

    fn on(&mut self, date: Date, used: usize) -> usize {
        self.note(date, |s| &mut s.date, used)
    }

    fn weekday(&mut self, day: Weekday, next: bool, used: usize) -> usize {
        self.note((day, next), |s| &mut s.weekday, used)
    }

    fn at(&mut self, clock: Clock, used: usize) -> usize {
        self.note(clock, |s| &mut s.clock, used)
    }

    fn meridiem(&mut self, meridiem: Meridiem) -> usize {
        self.note(meridiem, |s| &mut s.meridiem, 1)
    }

    fn period(&mut self, default_hour: i8, meridiem: Meridiem) -> usize {
        self.note((default_hour, meridiem), |s| &mut s.period, 1)
    }

    fn later(&mut self, minutes: i64) -> usize {
        self.note(minutes, |s| &mut s.minutes_later, 2)
    }

    fn doubt(&mut self) -> usize {
        self.unsure = true;
        1
    }

    /// The instant meant, said at `local` (`now` in the lead's zone).
    fn resolve(&self, local: &Zoned, now: Timestamp) -> Option<Timestamp> {
        let said_day = self.date.is_some() || self.weekday.is_some();
        if self.unsure {
            return None;
        }
        if let Some(minutes) = self.minutes_later {
            let alone = !said_day && self.clock.is_none() && self.period.is_none();
            return alone.then(|| now.checked_add(SignedDuration::from_mins(minutes)).ok())?;
        }
        let meridiem = self.meridiem.or(self.period.map(|(_, m)| m));
        let time = match (self.clock, self.period) {
            (Some(clock), _) => clock.time(meridiem)?,
            (None, Some((hour, _))) => time(hour, 0, 0, 0),
            (None, None) if self.keep_time => local.time(),
            (None, None) if said_day => time(10, 0, 0, 0),
            (None, None) => return None,
        };
        let today = local.date();
        let zone = local.time_zone();
        let at = |date: Date| {
            date.to_datetime(time)
                .to_zoned(zone.clone())
                .ok()
                .map(|z| z.timestamp())
        };
        // The first day in `days` (from today) on `weekday`, if any, whose time is still ahead.
        let first_ahead = |days: std::ops::RangeInclusive<i64>, weekday: Option<Weekday>| {
            days.map(|k| today.saturating_add(k.days()))
                .filter(|date| weekday.is_none_or(|w| date.weekday() == w))
                .filter_map(at)
                .find(|t| *t > now)
        };
        match (self.date, self.weekday) {
            (Some(date), None) => at(date),
            (Some(date), Some((weekday, _))) => at(date).filter(|_| date.weekday() == weekday),
            (None, Some((weekday, next))) => first_ahead(i64::from(next)..=7, Some(weekday)),
            (None, None) => first_ahead(0..=1, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RequestedTime::{At, NotGiven, Unreadable};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Monday 2026-11-23, 09:00 in New York.
    const MONDAY_9: &str = "2026-11-23T09:00";

    fn zone(name: &str) -> Zone {
        Zone::parse(name).unwrap()
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A wall time in `zone` as an instant.
    fn wall(time: &str, zone: &Zone) -> Timestamp {
        let dt: DateTime = time.parse().unwrap();
        dt.to_zoned(zone.tz()).unwrap().timestamp()
    }

    /// What the analysis resolves to for a New York lead, said at the New
    /// York wall time `now`, shown as a New York wall time.
    fn heard_in(analysis: Value, now: &str) -> String {
        let ny = zone("America/New_York");
        match requested_callback(None, Some(&analysis), &ny, wall(now, &ny)) {
            At(t) => ny.local(t).strftime("%a %Y-%m-%d %H:%M").to_string(),
            other => format!("{other:?}"),
        }
    }

    fn heard(phrase: &str, now: &str) -> String {
        heard_in(json!({ "callback_phrase": phrase }), now)
    }

    fn all_heard(cases: &[(&str, &str)], now: &str) {
        for (phrase, expected) in cases {
            assert_eq!(heard(phrase, now), *expected, "{phrase:?} said at {now}");
        }
    }

    #[test]
    fn tuesday_at_3_is_the_next_tuesday_at_15_in_the_leads_zone() {
        assert_eq!(heard("Tuesday at 3", MONDAY_9), "Tue 2026-11-24 15:00");
        let kolkata = zone("Asia/Kolkata");
        let analysis = json!({ "callback_phrase": "Tuesday at 3" });
        assert_eq!(
            requested_callback(None, Some(&analysis), &kolkata, ts("2026-11-23T12:00:00Z")),
            At(ts("2026-11-24T09:30:00Z"))
        );
    }

    #[test]
    fn a_weekday_said_on_that_day_is_today_while_the_time_is_ahead_else_next_week() {
        assert_eq!(
            heard("Tuesday at 3", "2026-11-24T09:00"),
            "Tue 2026-11-24 15:00"
        );
        assert_eq!(
            heard("Tuesday at 3", "2026-11-24T16:00"),
            "Tue 2026-12-01 15:00"
        );
        assert_eq!(heard("tuesday", "2026-11-24T09:00"), "Tue 2026-11-24 10:00");
    }

    #[test]
    fn next_tuesday_is_the_first_tuesday_strictly_after_today() {
        assert_eq!(heard("next Tuesday at 3", MONDAY_9), "Tue 2026-11-24 15:00");
        assert_eq!(
            heard("next tuesday at 3", "2026-11-24T09:00"),
            "Tue 2026-12-01 15:00"
        );
        assert_eq!(heard("next friday", MONDAY_9), "Fri 2026-11-27 10:00");
    }

    #[test]
    fn weekdays_may_be_short_and_in_any_case() {
        all_heard(
            &[
                ("tue 3pm", "Tue 2026-11-24 15:00"),
                ("Tues. at 3", "Tue 2026-11-24 15:00"),
                ("WED", "Wed 2026-11-25 10:00"),
                ("weds", "Wed 2026-11-25 10:00"),
                ("thurs, around 2", "Thu 2026-11-26 14:00"),
                ("thu", "Thu 2026-11-26 10:00"),
                ("Sunday", "Sun 2026-11-29 10:00"),
                ("mon 9am", "Mon 2026-11-30 09:00"),
                ("monday at 11", "Mon 2026-11-23 11:00"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn today_tonight_tomorrow_and_the_day_after() {
        all_heard(
            &[
                ("today at 4", "Mon 2026-11-23 16:00"),
                ("later today", "Mon 2026-11-23 10:00"),
                ("tonight", "Mon 2026-11-23 19:00"),
                ("tonight at 8", "Mon 2026-11-23 20:00"),
                ("tomorrow", "Tue 2026-11-24 10:00"),
                ("Tomorrow at 3:30", "Tue 2026-11-24 15:30"),
                ("the day after tomorrow", "Wed 2026-11-25 10:00"),
                ("day-after-tomorrow at noon", "Wed 2026-11-25 12:00"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn dates_are_the_next_such_date_on_or_after_today() {
        all_heard(
            &[
                ("2026-11-24", "Tue 2026-11-24 10:00"),
                ("on 2026-12-01 at 3pm", "Tue 2026-12-01 15:00"),
                ("Nov 24", "Tue 2026-11-24 10:00"),
                ("November 24th at 2", "Tue 2026-11-24 14:00"),
                ("24 November", "Tue 2026-11-24 10:00"),
                ("the 24th of November, 4pm", "Tue 2026-11-24 16:00"),
                ("Dec 1st", "Tue 2026-12-01 10:00"),
                ("nov 23", "Mon 2026-11-23 10:00"),
                ("Jan 5", "Tue 2027-01-05 10:00"),
                ("Tuesday, November 24", "Tue 2026-11-24 10:00"),
                ("Thursday the 26th at 3", "Thu 2026-11-26 15:00"),
                ("the 2nd", "Wed 2026-12-02 10:00"),
                ("on the 31st", "Thu 2026-12-31 10:00"),
            ],
            MONDAY_9,
        );
        assert_eq!(heard("Nov 24", "2026-11-25T09:00"), "Wed 2027-11-24 10:00");
        assert_eq!(heard("Feb 29", MONDAY_9), "Tue 2028-02-29 10:00");
    }

    #[test]
    fn clock_times_without_am_or_pm_are_read_for_business_calls() {
        all_heard(
            &[
                ("3", "Mon 2026-11-23 15:00"),
                ("at 7", "Mon 2026-11-23 19:00"),
                ("10", "Mon 2026-11-23 10:00"),
                ("11:30", "Mon 2026-11-23 11:30"),
                ("12", "Mon 2026-11-23 12:00"),
                ("8", "Tue 2026-11-24 08:00"), // 08:00 has passed today
                ("07:30", "Tue 2026-11-24 07:30"),
                ("3:30", "Mon 2026-11-23 15:30"),
                ("15:00", "Mon 2026-11-23 15:00"),
                ("17:45:00", "Mon 2026-11-23 17:45"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn clock_times_may_say_am_or_pm_or_be_24_hour() {
        all_heard(
            &[
                ("3pm", "Mon 2026-11-23 15:00"),
                ("3 pm", "Mon 2026-11-23 15:00"),
                ("3 p.m.", "Mon 2026-11-23 15:00"),
                ("3 P.M", "Mon 2026-11-23 15:00"),
                ("3:30pm", "Mon 2026-11-23 15:30"),
                ("3.30pm", "Mon 2026-11-23 15:30"),
                ("10 a.m.", "Mon 2026-11-23 10:00"),
                ("5am", "Tue 2026-11-24 05:00"),
                ("12pm", "Mon 2026-11-23 12:00"),
                ("12am", "Tue 2026-11-24 00:00"),
                ("15h", "Mon 2026-11-23 15:00"),
                ("15h30", "Mon 2026-11-23 15:30"),
                ("4 o'clock", "Mon 2026-11-23 16:00"),
                ("noon", "Mon 2026-11-23 12:00"),
                ("midday", "Mon 2026-11-23 12:00"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn parts_of_the_day_are_times_and_say_am_or_pm() {
        all_heard(
            &[
                ("morning", "Mon 2026-11-23 10:00"),
                ("this afternoon", "Mon 2026-11-23 15:00"),
                ("evening", "Mon 2026-11-23 18:00"),
                ("3 in the afternoon", "Mon 2026-11-23 15:00"),
                ("8 in the evening", "Mon 2026-11-23 20:00"),
                ("6 in the morning", "Tue 2026-11-24 06:00"),
                ("tomorrow morning", "Tue 2026-11-24 10:00"),
                ("tomorrow morning at 9", "Tue 2026-11-24 09:00"),
                ("Friday afternoon", "Fri 2026-11-27 15:00"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn relative_times_count_from_the_end_of_the_call() {
        all_heard(
            &[
                ("in 2 hours", "Mon 2026-11-23 11:00"),
                ("in 30 minutes", "Mon 2026-11-23 09:30"),
                ("in an hour", "Mon 2026-11-23 10:00"),
                ("in a couple of mins", "Unreadable(\"in a couple of mins\")"),
                ("in 3 days", "Thu 2026-11-26 09:00"),
                ("in 3 days at 4pm", "Thu 2026-11-26 16:00"),
                ("in 2 weeks", "Mon 2026-12-07 09:00"),
            ],
            MONDAY_9,
        );
    }

    #[test]
    fn a_day_alone_is_at_10_and_a_time_alone_is_the_next_one_ahead() {
        assert_eq!(heard("Friday", MONDAY_9), "Fri 2026-11-27 10:00");
        assert_eq!(heard("at 4", "2026-11-23T15:00"), "Mon 2026-11-23 16:00");
        assert_eq!(heard("at 4", "2026-11-23T17:00"), "Tue 2026-11-24 16:00");
    }

    #[test]
    fn the_stated_instant_wins_over_the_structured_analysis() {
        let ny = zone("America/New_York");
        let analysis =
            json!({ "callback_at": "2026-11-30T15:00:00Z", "callback_phrase": "tomorrow" });
        let stated = ts("2026-12-01T18:00:00Z");
        assert_eq!(
            requested_callback(Some(stated), Some(&analysis), &ny, wall(MONDAY_9, &ny)),
            At(stated)
        );
        assert_eq!(
            requested_callback(Some(stated), None, &ny, wall(MONDAY_9, &ny)),
            At(stated)
        );
    }

    #[test]
    fn callback_at_with_an_offset_is_that_instant() {
        for (text, expected) in [
            ("2026-11-24T20:00:00Z", "Tue 2026-11-24 15:00"),
            ("2026-11-24T15:00:00-05:00", "Tue 2026-11-24 15:00"),
            ("2026-11-24T21:00+01:00", "Tue 2026-11-24 15:00"),
            (
                "2026-11-24T12:00:00-08:00[America/Los_Angeles]",
                "Tue 2026-11-24 15:00",
            ),
            ("2025-01-01T00:00:00Z", "Tue 2024-12-31 19:00"), // in the past: kept
        ] {
            assert_eq!(
                heard_in(json!({ "callback_at": text }), MONDAY_9),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn callback_at_without_an_offset_is_that_wall_time_in_the_leads_zone() {
        for text in [
            "2026-11-24T15:00",
            "2026-11-24 15:00",
            "2026-11-24T15:00:00",
        ] {
            assert_eq!(
                heard_in(json!({ "callback_at": text }), MONDAY_9),
                "Tue 2026-11-24 15:00",
                "{text}"
            );
        }
        let kolkata = zone("Asia/Kolkata");
        let analysis = json!({ "callback_at": "2026-11-24 15:00" });
        assert_eq!(
            requested_callback(None, Some(&analysis), &kolkata, ts("2026-11-23T12:00:00Z")),
            At(ts("2026-11-24T09:30:00Z"))
        );
        assert_eq!(
            heard_in(json!({ "callback_at": "tomorrow at 2" }), MONDAY_9),
            "Tue 2026-11-24 14:00"
        );
    }

    #[test]
    fn a_wall_time_skipped_by_daylight_saving_resolves_forward() {
        let ny = zone("America/New_York");
        let now = ts("2026-03-01T12:00:00Z");
        // 02:30 does not exist on 2026-03-08 in New York: it is 03:30 EDT.
        for analysis in [
            json!({ "callback_at": "2026-03-08T02:30" }),
            json!({ "callback_date": "2026-03-08", "callback_time": "2:30am" }),
        ] {
            assert_eq!(
                requested_callback(None, Some(&analysis), &ny, now),
                At(ts("2026-03-08T07:30:00Z"))
            );
        }
        // 01:30 happens twice on 2026-11-01: the first (EDT) is meant.
        let analysis = json!({ "callback_at": "2026-11-01T01:30" });
        assert_eq!(
            requested_callback(None, Some(&analysis), &ny, now),
            At(ts("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn date_and_time_fields_are_read_together() {
        let cases = [
            (
                json!({ "callback_date": "Tuesday", "callback_time": "3 pm" }),
                "Tue 2026-11-24 15:00",
            ),
            (
                json!({ "callback_date": "2026-11-24", "callback_time": "15:00" }),
                "Tue 2026-11-24 15:00",
            ),
            (json!({ "callback_date": "Friday" }), "Fri 2026-11-27 10:00"),
            (json!({ "callback_time": "4pm" }), "Mon 2026-11-23 16:00"),
            (
                json!({ "callback_when": "tomorrow at 5" }),
                "Tue 2026-11-24 17:00",
            ),
        ];
        for (analysis, expected) in cases {
            assert_eq!(heard_in(analysis.clone(), MONDAY_9), expected, "{analysis}");
        }
    }

    #[test]
    fn fields_are_read_in_order_and_only_non_empty_strings_count() {
        let cases = [
            (
                json!({ "callback_at": "friday", "callback_date": "tuesday" }),
                "Fri 2026-11-27 10:00",
            ),
            (
                json!({ "callback_date": "tuesday", "callback_when": "friday" }),
                "Tue 2026-11-24 10:00",
            ),
            (
                json!({ "callback_when": "tuesday", "callback_phrase": "friday" }),
                "Tue 2026-11-24 10:00",
            ),
            (
                json!({ "callback_at": 1_800_000_000, "callback_phrase": "friday" }),
                "Fri 2026-11-27 10:00",
            ),
            (
                json!({ "callback_at": "  ", "callback_phrase": "friday" }),
                "Fri 2026-11-27 10:00",
            ),
        ];
        for (analysis, expected) in cases {
            assert_eq!(heard_in(analysis.clone(), MONDAY_9), expected, "{analysis}");
        }
    }

    #[test]
    fn words_that_say_no_time_or_two_are_kept_unread() {
        for words in [
            "whenever works",
            "next week",
            "Tuesday or Wednesday",
            "at 3 or 4",
            "tomorrow at midnight",
            "not before 5",
            "1500",
            "Friday the 26th",
            "Feb 30",
            "25:00",
            "2026-13-01",
            "in 2 hours tomorrow",
        ] {
            assert_eq!(
                heard(words, MONDAY_9),
                format!("{:?}", Unreadable(words.into()))
            );
        }
        assert_eq!(
            heard_in(json!({ "callback_when": "  some time soon " }), MONDAY_9),
            format!("{:?}", Unreadable("some time soon".into()))
        );
    }

    #[test]
    fn no_time_is_given_without_a_non_empty_string() {
        let ny = zone("America/New_York");
        let now = wall(MONDAY_9, &ny);
        assert_eq!(requested_callback(None, None, &ny, now), NotGiven);
        for analysis in [
            json!({}),
            json!("tomorrow"),
            json!({ "callback_phrase": "   " }),
            json!({ "callback_at": null, "callback_date": 24, "callback_when": ["tuesday"] }),
            json!({ "summary": "call me tomorrow" }),
        ] {
            assert_eq!(
                requested_callback(None, Some(&analysis), &ny, now),
                NotGiven,
                "{analysis}"
            );
        }
    }

    const ZONES: &[&str] = &[
        "America/New_York",
        "Europe/London",
        "Asia/Kolkata",
        "Australia/Sydney",
    ];
    const DAYS: [[&str; 3]; 7] = [
        ["Monday", "mon", "MONDAY"],
        ["Tuesday", "tue", "tues"],
        ["Wednesday", "wed", "weds"],
        ["Thursday", "thu", "thurs"],
        ["Friday", "fri", "Fri."],
        ["Saturday", "sat", "SAT"],
        ["Sunday", "sun", "Sun"],
    ];

    proptest! {
        /// "<weekday> at <hour>" is always on that weekday at that hour, the
        /// first such time ahead of the call's end, within a week of it.
        #[test]
        fn a_weekday_at_an_hour_is_the_first_such_time_ahead(
            zone_name in proptest::sample::select(ZONES),
            day in 0usize..7,
            spelling in 0usize..3,
            hour in 8i8..=20,
            style in 0usize..3,
            now_s in 1_735_689_600i64..1_861_920_000, // 2025 to 2028
        ) {
            let z = zone(zone_name);
            let now = Timestamp::from_second(now_s).unwrap();
            let name = DAYS[day][spelling];
            let (h12, meridiem) = if hour < 12 { (hour, "am") } else { (hour - 12, "pm") };
            let phrase = match style {
                0 => format!("{name} at {hour}"),
                1 => format!("{name}, around {}{meridiem}", if h12 == 0 { 12 } else { h12 }),
                _ => format!("{name} {hour}:00"),
            };
            let analysis = json!({ "callback_phrase": phrase });
            let At(at) = requested_callback(None, Some(&analysis), &z, now) else {
                return Err(TestCaseError::fail(format!("{phrase:?} was not read")));
            };
            let local = z.local(at);
            prop_assert_eq!(local.weekday(), Weekday::from_monday_zero_offset(day as i8).unwrap());
            prop_assert_eq!((local.hour(), local.minute()), (hour, 0));
            prop_assert!(at > now);
            prop_assert!(local.checked_sub(7.days()).unwrap().timestamp() <= now, "an earlier one was ahead");
            prop_assert!(at.duration_since(now) < SignedDuration::from_hours(8 * 24));
        }
    }
}
