//! When a lead may be called: the tenant's window in the lead's local time,
//! and, for US numbers, never before 08:00 or after 21:00 local in any zone
//! the number may be in, whatever the tenant says.

use jiff::Timestamp;

use crate::calling::lead::Lead;
use crate::intake::tenant::Tenant;
use crate::kernel::time::{CallingWindow, LocalTime, Zone};

/// The hours the law allows for calling a US number (TCPA: 8 a.m. to 9 p.m. local).
pub fn us_legal_window() -> CallingWindow {
    CallingWindow {
        start: LocalTime::hm(8, 0),
        end: LocalTime::hm(21, 0),
        excluded_weekdays: Vec::new(),
    }
}

/// The zone a lead lives in: its own when the import gave one, else the
/// zone of its number when the number's prefix has a single one, else the tenant's.
pub fn lead_zone(lead: &Lead, tenant: &Tenant) -> Zone {
    lead.zone
        .clone()
        .or_else(|| lead.phone.zone())
        .unwrap_or_else(|| tenant.zone.clone())
}

/// Every window a call to `lead` must fall in, each with the zone it is read in.
pub fn constraints(lead: &Lead, tenant: &Tenant) -> Vec<(CallingWindow, Zone)> {
    let zone = lead_zone(lead, tenant);
    let mut all = vec![(tenant.calling_window.clone(), zone.clone())];
    if lead.phone.region().is_some_and(|r| r.code() == "US") {
        // A known zone is the lead's; otherwise the number could be in any of
        // its prefix's zones, and the call must be legal in all of them.
        let candidates: Vec<Zone> = match &lead.zone {
            Some(known) => vec![known.clone()],
            None => lead
                .phone
                .zones()
                .iter()
                .filter_map(|z| Zone::parse(z).ok())
                .collect(),
        };
        let candidates = if candidates.is_empty() {
            vec![zone]
        } else {
            candidates
        };
        all.extend(candidates.into_iter().map(|z| (us_legal_window(), z)));
    }
    all
}

/// The first instant at or after `now` that falls inside every window, or
/// `None` if the windows never meet (a tenant window that no legal hour overlaps).
pub fn next_call_time(lead: &Lead, tenant: &Tenant, now: Timestamp) -> Option<Timestamp> {
    earliest_in_all(&constraints(lead, tenant), now)
}

/// The next time the lead's calling hours open after `after`: when they are
/// open at `after`, the opening after they next close (a callback asked for
/// a past or unreadable time is not placed the minute the call ends).
pub fn next_window_opening(lead: &Lead, tenant: &Tenant, after: Timestamp) -> Option<Timestamp> {
    let windows = constraints(lead, tenant);
    let at = earliest_in_all(&windows, after)?;
    if at > after {
        return Some(at);
    }
    // Open now: the stretch ends when the first of the windows closes today.
    let close = windows
        .iter()
        .map(|(window, zone)| {
            let local = zone.local(after);
            let end = local
                .date()
                .to_datetime(window.end.civil())
                .to_zoned(zone.tz())
                .map(|z| z.timestamp())
                .unwrap_or(after)
                // Just past the end: a window that ends at 24:00 reopens at 00:00.
                + jiff::SignedDuration::from_nanos(1);
            if end > after {
                end
            } else {
                after + jiff::SignedDuration::from_hours(24)
            }
        })
        .min()?;
    earliest_in_all(&windows, close)
}

/// The first instant at or after `now` inside every window, each read in its zone.
pub fn earliest_in_all(windows: &[(CallingWindow, Zone)], now: Timestamp) -> Option<Timestamp> {
    let mut at = now;
    // Each round moves `at` to the next opening of a window it is outside of;
    // windows that meet at all meet within a couple of weeks of rounds.
    for _ in 0..64 {
        let later = windows
            .iter()
            .map(|(window, zone)| window.next_opening(at, zone))
            .max()?;
        if later == at {
            return Some(at);
        }
        at = later;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling::lead::tests::lead;
    use crate::intake::tenant::tests::tenant;
    use crate::kernel::phone::Phone;
    use crate::kernel::time::Day;
    use jiff::SignedDuration;
    use jiff::civil::Weekday;
    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn indian_tenant() -> Tenant {
        let mut t = tenant();
        t.zone = Zone::parse("Asia/Kolkata").unwrap();
        t.calling_window =
            CallingWindow::new(LocalTime::hm(7, 0), LocalTime::hm(23, 0), vec![]).unwrap();
        t
    }

    fn lead_with(phone: &str, zone: Option<&str>) -> Lead {
        let mut l = lead();
        l.phone = Phone::parse(phone, None).unwrap();
        l.zone = zone.map(|z| Zone::parse(z).unwrap());
        l
    }

    #[test]
    fn the_next_window_opening_is_after_the_current_stretch_closes() {
        let mut t = tenant();
        t.zone = Zone::parse("Europe/London").unwrap();
        let uk = lead_with("+447400123456", None);
        // Open now (10:00 in London, 09:00-20:00): the next opening is tomorrow's.
        assert_eq!(
            next_window_opening(&uk, &t, ts("2026-11-23T10:00:00Z")),
            Some(ts("2026-11-24T09:00:00Z"))
        );
        // Closed now: the next opening.
        assert_eq!(
            next_window_opening(&uk, &t, ts("2026-11-23T21:00:00Z")),
            Some(ts("2026-11-24T09:00:00Z"))
        );
        // Open all day: tomorrow's 00:00.
        t.calling_window = CallingWindow::new(
            LocalTime::hm(0, 0),
            LocalTime::parse("24:00").unwrap(),
            vec![],
        )
        .unwrap();
        assert_eq!(
            next_window_opening(&uk, &t, ts("2026-11-23T10:00:00Z")),
            Some(ts("2026-11-24T00:00:00Z"))
        );
    }

    #[test]
    fn a_lead_is_called_in_its_own_zone_then_its_numbers_then_the_tenants() {
        let t = indian_tenant();
        assert_eq!(
            lead_zone(&lead_with("+14155552671", Some("America/Chicago")), &t).name(),
            "America/Chicago"
        );
        assert_eq!(
            lead_zone(&lead_with("+14155552671", None), &t).name(),
            "America/Los_Angeles"
        );
        assert_eq!(
            lead_zone(&lead_with("+919876543210", None), &t).name(),
            "Asia/Kolkata"
        );
    }

    #[test]
    fn a_us_lead_of_an_indian_tenant_is_never_called_before_eight_its_time() {
        let t = indian_tenant();
        let l = lead_with("+14155552671", None);
        // 07:30 in San Francisco is inside the tenant's 07:00-23:00, but not legal.
        let now = ts("2026-11-23T15:30:00Z");
        assert_eq!(
            next_call_time(&l, &t, now),
            Some(ts("2026-11-23T16:00:00Z"))
        );
        // 21:30 Pacific: the next legal minute is 08:00 the next day.
        let late = ts("2026-11-24T05:30:00Z");
        assert_eq!(
            next_call_time(&l, &t, late),
            Some(ts("2026-11-24T16:00:00Z"))
        );
    }

    #[test]
    fn excluded_weekdays_hold_in_the_leads_zone() {
        let mut t = indian_tenant();
        t.calling_window =
            CallingWindow::new(LocalTime::hm(9, 0), LocalTime::hm(17, 0), vec![Day::Sunday])
                .unwrap();
        let l = lead_with("+919876543210", None);
        // Sunday 2026-11-22 10:00 IST -> Monday 09:00 IST.
        assert_eq!(
            next_call_time(&l, &t, ts("2026-11-22T04:30:00Z")),
            Some(ts("2026-11-23T03:30:00Z"))
        );
    }

    #[test]
    fn windows_that_never_meet_give_no_time() {
        let mut t = tenant();
        t.calling_window =
            CallingWindow::new(LocalTime::hm(21, 0), LocalTime::hm(23, 0), vec![]).unwrap();
        let l = lead_with("+14155552671", Some("America/Los_Angeles"));
        assert_eq!(next_call_time(&l, &t, ts("2026-11-23T15:30:00Z")), None);
    }

    // The property below checks `next_call_time` against an oracle of its own:
    // the rules re-derived from the lead's and the tenant's data, read on a
    // civil clock minute by minute. It calls none of the code above.

    /// A rule of the oracle: in `tz`, the local minute of the day lies in
    /// `[start, end)` and the local weekday is not excluded.
    struct Rule {
        tz: TimeZone,
        start: u16,
        end: u16,
        excluded: Vec<Weekday>,
    }

    impl Rule {
        fn allows(&self, at: Timestamp) -> bool {
            let local = self.tz.to_datetime(at);
            let minute = local.hour() as u16 * 60 + local.minute() as u16;
            self.start <= minute && minute < self.end && !self.excluded.contains(&local.weekday())
        }
    }

    fn weekday(day: &Day) -> Weekday {
        match day {
            Day::Monday => Weekday::Monday,
            Day::Tuesday => Weekday::Tuesday,
            Day::Wednesday => Weekday::Wednesday,
            Day::Thursday => Weekday::Thursday,
            Day::Friday => Weekday::Friday,
            Day::Saturday => Weekday::Saturday,
            Day::Sunday => Weekday::Sunday,
        }
    }

    /// The rules for calling `lead`: the tenant's window in the lead's zone
    /// (its own, else its number's when the prefix has exactly one, else the
    /// tenant's); for a US number also 08:00-21:00 in the lead's own zone, or,
    /// without one, in every zone its prefix may be in.
    fn oracle_rules(lead: &Lead, tenant: &Tenant) -> Vec<Rule> {
        let tz = |name: &str| TimeZone::get(name).unwrap();
        let prefix_zones = lead.phone.zones();
        let lead_zone = match (&lead.zone, prefix_zones) {
            (Some(own), _) => own.name(),
            (None, [only]) => only,
            (None, _) => tenant.zone.name(),
        };
        let window = &tenant.calling_window;
        let mut rules = vec![Rule {
            tz: tz(lead_zone),
            start: window.start.minutes(),
            end: window.end.minutes(),
            excluded: window.excluded_weekdays.iter().map(weekday).collect(),
        }];
        if lead.phone.region().is_some_and(|r| r.code() == "US") {
            let legal_zones = match &lead.zone {
                Some(own) => vec![own.name()],
                None if prefix_zones.is_empty() => vec![lead_zone],
                None => prefix_zones.to_vec(),
            };
            rules.extend(legal_zones.into_iter().map(|z| Rule {
                tz: tz(z),
                start: 8 * 60,
                end: 21 * 60,
                excluded: Vec::new(),
            }));
        }
        rules
    }

    /// The first candidate that every rule allows, no later than `until`: the
    /// candidates are `now` itself, then every whole minute after it.
    fn first_allowed(rules: &[Rule], now: Timestamp, until: Timestamp) -> Option<Timestamp> {
        let next_minute = Timestamp::from_second(now.as_second().div_euclid(60) * 60 + 60).unwrap();
        std::iter::once(now)
            .chain((0..).map(|k| next_minute + SignedDuration::from_mins(k)))
            .take_while(|at| *at <= until)
            .find(|at| rules.iter().all(|rule| rule.allows(*at)))
    }

    /// Every change of `zone`'s offset in 2026 and 2027, from jiff's database.
    fn clock_changes(zone: &TimeZone) -> Vec<Timestamp> {
        let end = ts("2028-01-01T00:00:00Z");
        zone.following(ts("2026-01-01T00:00:00Z"))
            .map(|change| change.timestamp())
            .take_while(|at| *at < end)
            .collect()
    }

    #[test]
    fn the_oracle_knows_when_the_clocks_change() {
        let changes = |name: &str| clock_changes(&TimeZone::get(name).unwrap());
        assert_eq!(
            changes("America/New_York"),
            [
                ts("2026-03-08T07:00:00Z"), // 02:00 EST -> 03:00 EDT
                ts("2026-11-01T06:00:00Z"), // 02:00 EDT -> 01:00 EST
                ts("2027-03-14T07:00:00Z"),
                ts("2027-11-07T06:00:00Z"),
            ]
        );
        assert_eq!(
            changes("Europe/London"),
            [
                ts("2026-03-29T01:00:00Z"),
                ts("2026-10-25T01:00:00Z"),
                ts("2027-03-28T01:00:00Z"),
                ts("2027-10-31T01:00:00Z"),
            ]
        );
        // Half an hour at 02:00 local.
        assert_eq!(
            changes("Australia/Lord_Howe")[..2],
            [ts("2026-04-04T15:00:00Z"), ts("2026-10-03T15:30:00Z")]
        );
        // At midnight: Saturday 24:00 becomes 23:00, and later 01:00 on Sunday.
        assert_eq!(
            changes("America/Santiago")[..2],
            [ts("2026-04-05T03:00:00Z"), ts("2026-09-06T04:00:00Z")]
        );
        assert_eq!(changes("Asia/Kolkata"), []);
        assert_eq!(changes("America/Phoenix"), []);
    }

    #[test]
    fn the_numbers_the_property_draws_span_the_zones_it_expects() {
        let zones = |n: &str| Phone::parse(n, None).unwrap().zones();
        assert_eq!(zones("+19285551234"), ["America/Phoenix"]);
        assert_eq!(zones("+19288712345"), ["America/Denver", "America/Phoenix"]);
        assert_eq!(
            zones("+17015551234"),
            ["America/Denver", "America/North_Dakota/Center"]
        );
        assert_eq!(zones("+19075551234"), ["America/Adak", "America/Anchorage"]);
        assert_eq!(
            zones("+12085551234"),
            ["America/Boise", "America/Los_Angeles"]
        );
        assert!(zones("+18005551234").len() > 40);
        for n in US_NUMBERS {
            assert_eq!(
                Phone::parse(n, None).unwrap().region().unwrap().code(),
                "US"
            );
        }
        assert_eq!(zones("+56221234567"), ["America/Santiago"]);
        assert_eq!(
            zones("+17095551234"),
            ["America/Halifax", "America/St_Johns"]
        );
        for n in OTHER_NUMBERS {
            assert_ne!(
                Phone::parse(n, None).unwrap().region().unwrap().code(),
                "US"
            );
        }
    }

    /// Tenant zones with and without daylight saving; whole-, half- and
    /// quarter-hour offsets; clocks that change at 02:00 local (US, Lord Howe
    /// by half an hour), 01:00 UTC (Europe) and midnight (Santiago).
    const TENANT_ZONES: &[&str] = &[
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Phoenix",
        "Pacific/Honolulu",
        "America/St_Johns",
        "America/Santiago",
        "Europe/London",
        "Europe/Berlin",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Australia/Sydney",
        "Australia/Lord_Howe",
    ];
    /// Zones an import may give a lead: those, and those of multi-zone US prefixes.
    const LEAD_ZONES: &[&str] = &[
        "America/New_York",
        "America/Denver",
        "America/Los_Angeles",
        "America/Phoenix",
        "America/North_Dakota/Center",
        "America/Boise",
        "America/Anchorage",
        "America/Adak",
        "America/Santiago",
        "Europe/London",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
    ];
    const US_NUMBERS: &[&str] = &[
        "+14155552671", // San Francisco
        "+12125551234", // New York
        "+18085551234", // Honolulu
        "+19285551234", // Arizona: Phoenix only
        "+19288712345", // Arizona, Navajo Nation: Phoenix and Denver
        "+17015551234", // North Dakota: Denver and North_Dakota/Center
        "+19075551234", // Alaska: Anchorage and Adak
        "+12085551234", // Idaho: Boise and Los Angeles
        "+18005551234", // toll-free: every zone of the plan
    ];
    /// Numbers without the US legal hours, most in zones that change their clocks.
    const OTHER_NUMBERS: &[&str] = &[
        "+919876543210", // India
        "+442079460958", // London
        "+447911123456", // UK mobile: London, Guernsey or the Isle of Man
        "+4930123456",   // Berlin
        "+61291234567",  // Sydney
        "+56221234567",  // Santiago
        "+14165551234",  // Toronto: NANP, but Canada's
        "+17095551234",  // Newfoundland and Labrador: Halifax or St Johns
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// The call time is the first instant, `now` or a whole minute after
        /// it, that every rule allows; `None` only when no minute in 14 days is.
        /// `now` is mostly drawn within 36 hours of a clock change of a zone in
        /// play, and windows often open between 01:00 and 03:30, in the hours
        /// that clocks skip or repeat.
        #[test]
        fn the_call_time_is_the_first_minute_every_rule_allows(
            (tenant_zone, number, own_zone) in prop_oneof![
                3 => (
                    proptest::sample::select(TENANT_ZONES),
                    prop_oneof![
                        1 => proptest::sample::select(US_NUMBERS),
                        2 => proptest::sample::select(OTHER_NUMBERS),
                    ],
                    proptest::option::of(proptest::sample::select(LEAD_ZONES)),
                ),
                // A US lead of a tenant in India.
                1 => (
                    Just("Asia/Kolkata"),
                    proptest::sample::select(US_NUMBERS),
                    proptest::option::weighted(0.2, proptest::sample::select(LEAD_ZONES)),
                ),
            ],
            start in prop_oneof![2 => 60u16..=210, 1 => 0u16..24 * 60],
            length in prop_oneof![1u16..=120, 30u16..=16 * 60],
            excluded in proptest::collection::vec(0usize..7, 0..4),
            near_a_change in proptest::bool::weighted(0.75),
            change in any::<proptest::sample::Index>(),
            // Often in the hours before a change, when a window opens across it.
            minutes_from_change in prop_oneof![1 => -36 * 60i64..=36 * 60, 2 => -6 * 60i64..=60],
            second in prop_oneof![Just(0i64), 0i64..60],
            any_minute in 1_767_225_600i64 / 60..1_830_297_600 / 60, // 2026 and 2027
        ) {
            let days = [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday, Day::Saturday, Day::Sunday];
            let end = (start + length).min(24 * 60);
            let mut t = tenant();
            t.zone = Zone::parse(tenant_zone).unwrap();
            t.calling_window = CallingWindow::new(
                LocalTime::hm(start / 60, start % 60),
                if end == 24 * 60 { LocalTime::parse("24:00").unwrap() } else { LocalTime::hm(end / 60, end % 60) },
                excluded.iter().map(|i| days[*i]).collect(),
            ).unwrap();
            let l = lead_with(number, own_zone);
            let rules = oracle_rules(&l, &t);

            // The clock changes of the lead's zone, or, where it keeps one
            // time, of the zones its legal hours are read in.
            let mut changes = clock_changes(&rules[0].tz);
            if changes.is_empty() {
                changes = rules[1..].iter().flat_map(|r| clock_changes(&r.tz)).collect();
            }
            let now = if near_a_change && !changes.is_empty() {
                changes[change.index(changes.len())] + SignedDuration::from_mins(minutes_from_change)
            } else {
                Timestamp::from_second(any_minute * 60).unwrap()
            } + SignedDuration::from_secs(second);

            let answer = next_call_time(&l, &t, now);
            let horizon = now + SignedDuration::from_hours(14 * 24);
            let local = |at: Timestamp| rules[0].tz.to_datetime(at).to_string();
            match first_allowed(&rules, now, horizon) {
                Some(first) => prop_assert_eq!(
                    answer, Some(first),
                    "now {} (local {}): the first allowed minute is local {}, the answer local {:?}",
                    now, local(now), local(first), answer.map(local)
                ),
                // No allowed minute in 14 days: `None` drops the lead as never
                // callable, which is allowed; a later time must be the first allowed.
                None => if let Some(at) = answer {
                    prop_assert!(at > horizon, "no minute in 14 days is allowed, yet the answer is local {}", local(at));
                    prop_assert_eq!(first_allowed(&rules, now, at), Some(at));
                },
            }
        }
    }

    /// Cases of the property above: each walks up to 20,160 minutes.
    const CASES: u32 = 256;
}
