//! Quiet hours: SMS and WhatsApp reach a lead only inside the tenant's
//! sending hours (08:00–21:00 unless set) in the lead's local time. When the
//! lead's zone is not known, the number's prefix may span several zones: the
//! message must fall inside the hours in every one of them.

use jiff::Timestamp;

use crate::calling::calling_hours::earliest_in_all;
use crate::kernel::phone::Phone;
use crate::kernel::time::{CallingWindow, Zone};

/// The zones a message to `number` must respect: the lead's own when known,
/// else every zone of the number's prefix, else the tenant's.
pub fn zones_of(number: &Phone, known: Option<&Zone>, tenant: &Zone) -> Vec<Zone> {
    if let Some(zone) = known {
        return vec![zone.clone()];
    }
    let zones: Vec<Zone> = number
        .zones()
        .iter()
        .filter_map(|z| Zone::parse(z).ok())
        .collect();
    if zones.is_empty() {
        vec![tenant.clone()]
    } else {
        zones
    }
}

/// `now` if a message may arrive now, else the first instant it may; `None`
/// if never (hours that cannot meet across the zones).
pub fn next_sending_time(
    hours: &CallingWindow,
    zones: &[Zone],
    now: Timestamp,
) -> Option<Timestamp> {
    let windows: Vec<(CallingWindow, Zone)> = zones
        .iter()
        .map(|zone| (hours.clone(), zone.clone()))
        .collect();
    earliest_in_all(&windows, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::settings::default_quiet_hours;
    use jiff::SignedDuration;
    use proptest::prelude::*;

    fn zone(name: &str) -> Zone {
        Zone::parse(name).unwrap()
    }

    #[test]
    fn a_message_due_at_night_waits_for_eight_in_the_morning() {
        let at: Timestamp = "2026-03-10T03:30:00Z".parse().unwrap(); // 23:30 EDT
        let next = next_sending_time(&default_quiet_hours(), &[zone("America/New_York")], at);
        assert_eq!(next, Some("2026-03-10T12:00:00Z".parse().unwrap()));
    }

    #[test]
    fn a_message_inside_the_hours_goes_now() {
        let at: Timestamp = "2026-03-10T15:00:00Z".parse().unwrap(); // 11:00 EDT
        let next = next_sending_time(&default_quiet_hours(), &[zone("America/New_York")], at);
        assert_eq!(next, Some(at));
    }

    #[test]
    fn an_unknown_zone_on_a_number_of_several_zones_respects_all_of_them() {
        // 07:30 in Los Angeles is 10:30 in New York: wait for 08:00 in LA.
        let at: Timestamp = "2026-07-01T14:30:00Z".parse().unwrap();
        let zones = [zone("America/New_York"), zone("America/Los_Angeles")];
        let next = next_sending_time(&default_quiet_hours(), &zones, at).unwrap();
        assert_eq!(next, "2026-07-01T15:00:00Z".parse::<Timestamp>().unwrap());
    }

    /// The independent oracle: the local clock reading, minute by minute.
    fn allowed(at: Timestamp, zone: &Zone) -> bool {
        let local = zone.local(at);
        let minute = local.hour() as i32 * 60 + local.minute() as i32;
        (8 * 60..21 * 60).contains(&minute)
    }

    const ZONES: [&str; 7] = [
        "America/New_York",
        "America/Los_Angeles",
        "Europe/London",
        "Europe/Berlin",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Pacific/Auckland",
    ];

    proptest! {
        /// No SMS or WhatsApp ever leaves in quiet hours in the lead's zone,
        /// across zones and daylight saving changes (2026's spring and
        /// autumn changes in both hemispheres are inside the range), and
        /// nothing waits longer than it must: a minute earlier is quiet.
        #[test]
        fn no_message_leaves_in_quiet_hours(
            secs in 1_767_225_600i64..1_798_761_600, // 2026
            picks in proptest::collection::vec(0usize..ZONES.len(), 1..3),
        ) {
            let now = Timestamp::from_second(secs).unwrap();
            let zones: Vec<Zone> = picks.iter().map(|i| zone(ZONES[*i])).collect();
            let Some(at) = next_sending_time(&default_quiet_hours(), &zones, now) else {
                // Hours that never meet across these zones: nothing is sent.
                return Ok(());
            };
            prop_assert!(at >= now);
            for z in &zones {
                prop_assert!(allowed(at, z), "{at} in {z}");
            }
            if at > now {
                let before = at - SignedDuration::from_mins(1);
                prop_assert!(
                    before < now || zones.iter().any(|z| !allowed(before, z)),
                    "{at} could have been a minute earlier"
                );
            }
        }
    }
}
