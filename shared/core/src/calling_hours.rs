//! When a lead may be called: the tenant's window in the lead's local time,
//! and, for US numbers, never before 08:00 or after 21:00 local in any zone
//! the number may be in, whatever the tenant says.

use jiff::Timestamp;

use crate::lead::Lead;
use crate::tenant::Tenant;
use crate::time::{CallingWindow, LocalTime, Zone};

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

fn earliest_in_all(windows: &[(CallingWindow, Zone)], now: Timestamp) -> Option<Timestamp> {
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
    use crate::lead::tests::lead;
    use crate::phone::Phone;
    use crate::tenant::tests::tenant;
    use crate::time::Day;
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

    const ZONES: &[&str] = &[
        "America/New_York",
        "America/Los_Angeles",
        "America/Phoenix",
        "Pacific/Honolulu",
        "Asia/Kolkata",
        "Europe/London",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
    ];
    const NUMBERS: &[&str] = &[
        "+14155552671",
        "+12125551234",
        "+18085551234",
        "+13055551234",
        "+919876543210",
        "+447911123456",
        "+61291234567",
    ];

    proptest! {
        /// Over zones and daylight-saving changes (2026's March and November
        /// switches lie in the range), a call time is never outside any window.
        #[test]
        fn no_call_ever_starts_outside_the_leads_window(
            tenant_zone in proptest::sample::select(ZONES),
            own_zone in proptest::option::of(proptest::sample::select(ZONES)),
            number in proptest::sample::select(NUMBERS),
            start in 0u16..24 * 60,
            length in 30u16..16 * 60,
            excluded in proptest::collection::vec(0usize..7, 0..4),
            now_s in 1_767_225_600i64..1_798_761_600, // 2026
        ) {
            let days = [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday, Day::Saturday, Day::Sunday];
            let end = (start + length).min(24 * 60);
            prop_assume!(start < end);
            let mut t = tenant();
            t.zone = Zone::parse(tenant_zone).unwrap();
            t.calling_window = CallingWindow::new(
                LocalTime::hm(start / 60, start % 60),
                if end == 24 * 60 { LocalTime::parse("24:00").unwrap() } else { LocalTime::hm(end / 60, end % 60) },
                excluded.iter().map(|i| days[*i]).collect(),
            ).unwrap();
            let l = lead_with(number, own_zone);
            let now = Timestamp::from_second(now_s).unwrap();
            if let Some(at) = next_call_time(&l, &t, now) {
                prop_assert!(at >= now);
                for (window, zone) in constraints(&l, &t) {
                    prop_assert!(window.contains(at, &zone), "{at} outside {window:?} in {zone}");
                }
                prop_assert!(t.calling_window.contains(at, &lead_zone(&l, &t)));
            }
        }
    }
}
