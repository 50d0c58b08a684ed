//! Reading a tool call's arguments: services, times and days as the agent
//! passes them, in the business's zone.

use super::*;

/// The arguments of one call, read leniently but never guessed.
#[derive(Clone, Copy)]
pub(super) struct Args<'a>(pub(super) &'a Map<String, Value>);

impl Args<'_> {
    /// A non-empty string (numbers are read as their text).
    pub(super) fn text(&self, name: &str) -> Option<&str> {
        match self.0.get(name)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// The start of a booking: an instant with its offset, or a local date
    /// and time in the caller's zone; within the booking rules.
    pub(super) fn start(&self, ready: &Ready<'_>, now: Timestamp) -> Result<Timestamp, ToolReply> {
        let Some(raw) = self.text("start") else {
            return Err(ToolReply::error("What time would you like?"));
        };
        let Some(start) = instant(raw, &ready.zone) else {
            return Err(ToolReply::error(
                "I didn't catch the time. Which day and time would you like?",
            ));
        };
        let rules = ready.business.booking_rules;
        if start <= now {
            return Err(ToolReply::error(
                "That time has already passed. Which later time works for you?",
            ));
        }
        if start < rules.earliest(now) {
            return Err(ToolReply::error(format!(
                "We need at least {} minutes' notice. Which later time works for you?",
                rules.min_notice_minutes
            )));
        }
        if start > rules.latest(now) {
            return Err(ToolReply::error(format!(
                "We only book up to {} days ahead. Is there an earlier day that works?",
                rules.max_days_ahead
            )));
        }
        Ok(start)
    }

    /// The range the caller asked about: `date` (a day, or a date and time to
    /// search from) and optionally `until` (a last day). `None` when not given.
    pub(super) fn range(
        &self,
        zone: &Zone,
        now: Timestamp,
    ) -> Result<Option<(Timestamp, Timestamp)>, ToolReply> {
        let Some(raw) = self.text("date") else {
            return Ok(None);
        };
        let unreadable = || ToolReply::error("I didn't catch the day. Which day would you like?");
        let from = day_or_instant(raw, zone, now).ok_or_else(unreadable)?;
        let to = match self.text("until") {
            Some(raw) => {
                let last = day_or_instant(raw, zone, now).ok_or_else(unreadable)?;
                next_day(last, zone)
            }
            None => from + SignedDuration::from_hours(24 * SEARCH_DAYS),
        };
        if to <= from {
            return Err(ToolReply::error(
                "That range ends before it starts. Which days would you like?",
            ));
        }
        Ok(Some((from, to)))
    }
}

/// An RFC 3339 instant, or a local date and time (`2026-11-24T15:00`) in `zone`.
pub(super) fn instant(raw: &str, zone: &Zone) -> Option<Timestamp> {
    raw.parse::<Timestamp>().ok().or_else(|| {
        let local: DateTime = raw.replace(' ', "T").parse().ok()?;
        local.to_zoned(zone.tz()).ok().map(|z| z.timestamp())
    })
}

/// A date (its local midnight), `today`/`tomorrow`, or an instant.
pub(super) fn day_or_instant(raw: &str, zone: &Zone, now: Timestamp) -> Option<Timestamp> {
    let today = zone.local(now).date();
    let date = match raw.to_ascii_lowercase().as_str() {
        "today" => Some(today),
        "tomorrow" => today.tomorrow().ok(),
        _ => raw.parse::<Date>().ok(),
    };
    match date {
        Some(date) => date.to_zoned(zone.tz()).ok().map(|z| z.timestamp()),
        None => instant(raw, zone),
    }
}

pub(super) fn start_of_day(at: Timestamp, zone: &Zone) -> Timestamp {
    zone.local(at).start_of_day().map_or(at, |z| z.timestamp())
}

/// The start of the local day after the one `at` falls in.
pub(super) fn next_day(at: Timestamp, zone: &Zone) -> Timestamp {
    zone.local(at)
        .date()
        .tomorrow()
        .and_then(|d| d.to_zoned(zone.tz()))
        .map_or(at, |z| z.timestamp())
}
