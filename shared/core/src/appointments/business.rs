//! A tenant's business as the shared voice agent presents it: name, services,
//! opening hours, booking rules, the answers the agent may give, and the
//! calendar it books into. One item per tenant, read once per call.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointments::calendar::CalendarAccount;
use crate::kernel::error::Invalid;
use crate::kernel::ids::TenantId;
use crate::kernel::money::Cents;
use crate::kernel::phone::Phone;
use crate::kernel::time::{Day, LocalTime, Zone};

/// A service's id within its tenant: 1-40 lowercase letters, digits and dashes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceId(String);

impl ServiceId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let well_formed = (1..=40).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-');
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Invalid::new(
                "id",
                "a service id is 1-40 lowercase letters, digits and dashes",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServiceId {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<ServiceId> for String {
    fn from(s: ServiceId) -> String {
        s.0
    }
}

impl std::fmt::Display for ServiceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Something the business sells, booked as one Cal.com event type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    pub name: String,
    pub duration_minutes: u32,
    pub price: Cents,
    pub calcom_event_type_id: u64,
    /// Whether the agent may book it during a call.
    pub voice_booking: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Service {
    pub fn validate(self) -> Result<Self, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Invalid::new("name", "must be 1-100 characters"));
        }
        if !(5..=480).contains(&self.duration_minutes) {
            return Err(Invalid::new(
                "duration_minutes",
                "must be between 5 and 480",
            ));
        }
        if !(0..=10_000_000).contains(&self.price.0) {
            return Err(Invalid::new(
                "price_cents",
                "must be between 0 and 10000000",
            ));
        }
        if self.calcom_event_type_id == 0 {
            return Err(Invalid::new(
                "calcom_event_type_id",
                "must be a Cal.com event type id",
            ));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 1_000) {
            return Err(Invalid::new("description", "at most 1000 characters"));
        }
        Ok(Self {
            name: name.to_owned(),
            ..self
        })
    }
}

/// Open from `open` until `close` (local time of the business).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub open: LocalTime,
    pub close: LocalTime,
}

/// When bookings may be made: not sooner than the notice, not further ahead
/// than the horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRules {
    pub min_notice_minutes: u32,
    pub max_days_ahead: u32,
}

impl Default for BookingRules {
    fn default() -> Self {
        Self {
            min_notice_minutes: 60,
            max_days_ahead: 60,
        }
    }
}

impl BookingRules {
    pub fn earliest(&self, now: Timestamp) -> Timestamp {
        now + SignedDuration::from_mins(i64::from(self.min_notice_minutes))
    }

    pub fn latest(&self, now: Timestamp) -> Timestamp {
        now + SignedDuration::from_hours(24 * i64::from(self.max_days_ahead))
    }
}

/// An answer the agent may give when asked about `topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub topic: String,
    pub answer: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub tenant: TenantId,
    pub name: String,
    pub zone: Zone,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// What the agent says first when it answers one of the business's
    /// inbound numbers; [`Business::greeting`] has the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Days not listed are closed.
    #[serde(default)]
    pub opening_hours: BTreeMap<Day, Vec<Hours>>,
    #[serde(default)]
    pub booking_rules: BookingRules,
    #[serde(default)]
    pub answers: Vec<Answer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarAccount>,
    /// The numbers callers dial to reach this business's agent (inbound calls).
    #[serde(default)]
    pub inbound_numbers: Vec<Phone>,
    #[serde(default)]
    pub services: Vec<Service>,
    pub updated_at: Timestamp,
    /// 0 until first saved.
    #[serde(default)]
    pub version: u64,
}

/// At most this many services per business: they travel in the business item.
pub const MAX_SERVICES: usize = 100;

/// The longest greeting a business may set: a sentence or two, said aloud.
pub const MAX_GREETING_CHARS: usize = 500;

/// What the agent answers an inbound call with when the business set no
/// greeting of its own.
pub fn default_greeting(business_name: &str) -> String {
    format!("Thank you for calling {business_name}. How can I help you today?")
}

impl Business {
    /// What the agent says first on an inbound call: the business's own
    /// greeting, else [`default_greeting`].
    pub fn greeting(&self) -> String {
        self.greeting
            .clone()
            .unwrap_or_else(|| default_greeting(&self.name))
    }

    pub fn service(&self, id: &ServiceId) -> Option<&Service> {
        self.services.iter().find(|s| &s.id == id)
    }

    /// The service the agent named, by id or (case-insensitively) by name.
    pub fn find_service(&self, named: &str) -> Option<&Service> {
        let named = named.trim();
        self.services
            .iter()
            .find(|s| s.id.as_str() == named)
            .or_else(|| {
                self.services
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(named))
            })
    }

    /// Adds a service, or replaces the one with its id.
    pub fn put_service(&mut self, service: Service) -> Result<(), Invalid> {
        match self.services.iter().position(|s| s.id == service.id) {
            Some(at) => self.services[at] = service,
            None if self.services.len() >= MAX_SERVICES => {
                return Err(Invalid::new(
                    "services",
                    format!("at most {MAX_SERVICES} services"),
                ));
            }
            None => self.services.push(service),
        }
        Ok(())
    }

    /// Removes a service; `false` when there was none of that id.
    pub fn remove_service(&mut self, id: &ServiceId) -> bool {
        let before = self.services.len();
        self.services.retain(|s| &s.id != id);
        self.services.len() != before
    }

    /// The opening hours as the agent says them: "Monday to Friday 9:00 AM
    /// to 5:00 PM; Saturday 10:00 AM to 2:00 PM; closed Sunday".
    pub fn spoken_hours(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let days: Vec<(Day, Option<&Vec<Hours>>)> = WEEK
            .iter()
            .map(|day| (*day, self.opening_hours.get(day)))
            .collect();
        let mut i = 0;
        while i < days.len() {
            let (first, hours) = days[i];
            let mut last = first;
            let mut j = i + 1;
            while j < days.len() && days[j].1 == hours {
                last = days[j].0;
                j += 1;
            }
            let range = if first == last {
                day_name(first).to_owned()
            } else {
                format!("{} to {}", day_name(first), day_name(last))
            };
            parts.push(match hours.filter(|h| !h.is_empty()) {
                Some(hours) => format!(
                    "{range} {}",
                    hours
                        .iter()
                        .map(|h| format!("{} to {}", spoken_time(h.open), spoken_time(h.close)))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
                None => format!("closed {range}"),
            });
            i = j;
        }
        parts.join("; ")
    }
}

const WEEK: [Day; 7] = [
    Day::Monday,
    Day::Tuesday,
    Day::Wednesday,
    Day::Thursday,
    Day::Friday,
    Day::Saturday,
    Day::Sunday,
];

pub fn day_name(day: Day) -> &'static str {
    match day {
        Day::Monday => "Monday",
        Day::Tuesday => "Tuesday",
        Day::Wednesday => "Wednesday",
        Day::Thursday => "Thursday",
        Day::Friday => "Friday",
        Day::Saturday => "Saturday",
        Day::Sunday => "Sunday",
    }
}

/// "9:00 AM", "12:30 PM", "midnight".
fn spoken_time(t: LocalTime) -> String {
    let minutes = t.minutes();
    if minutes == 0 || minutes == 24 * 60 {
        return "midnight".into();
    }
    let (h, m) = (minutes / 60, minutes % 60);
    let (h12, half) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{h12}:{m:02} {half}")
}

/// What a business is set from (`PUT /v1/business`); services are managed apart.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessSettings {
    pub name: String,
    pub timezone: String,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub about: Option<String>,
    /// What the agent says first on an inbound call; blank or absent: the default.
    #[serde(default)]
    pub greeting: Option<String>,
    #[serde(default)]
    pub opening_hours: BTreeMap<Day, Vec<Hours>>,
    #[serde(default)]
    pub booking_rules: Option<BookingRules>,
    #[serde(default)]
    pub answers: Vec<Answer>,
    /// Write-only: answered as `calendar_connected`.
    #[serde(default)]
    pub calcom_api_key: Option<String>,
    #[serde(default)]
    pub inbound_numbers: Vec<String>,
}

impl BusinessSettings {
    /// The business these settings describe, keeping `current`'s services
    /// and version (and its calendar when no new key is given).
    pub fn apply(
        self,
        tenant: &TenantId,
        current: Option<Business>,
        now: Timestamp,
    ) -> Result<Business, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(Invalid::new("name", "must be 1-200 characters"));
        }
        let zone = Zone::parse(&self.timezone)?;
        let phone = self
            .phone
            .as_deref()
            .map(|p| Phone::parse(p, None).map_err(|e| Invalid::new("phone", e.to_string())))
            .transpose()?;
        let greeting = self
            .greeting
            .map(|g| g.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|g| !g.is_empty());
        if greeting.as_ref().is_some_and(|g| {
            g.chars().count() > MAX_GREETING_CHARS || g.chars().any(char::is_control)
        }) {
            return Err(Invalid::new(
                "greeting",
                format!("at most {MAX_GREETING_CHARS} characters of text"),
            ));
        }
        let mut opening_hours = BTreeMap::new();
        for (day, hours) in self.opening_hours {
            if hours.iter().any(|h| h.open >= h.close) {
                return Err(Invalid::new(
                    "opening_hours",
                    format!("{}: open must be before close", day_name(day)),
                ));
            }
            opening_hours.insert(day, hours);
        }
        let rules = self.booking_rules.unwrap_or_default();
        if rules.max_days_ahead == 0 || rules.max_days_ahead > 365 {
            return Err(Invalid::new(
                "booking_rules.max_days_ahead",
                "must be between 1 and 365",
            ));
        }
        if rules.min_notice_minutes > 30 * 24 * 60 {
            return Err(Invalid::new(
                "booking_rules.min_notice_minutes",
                "at most 30 days",
            ));
        }
        if self.answers.len() > 50
            || self
                .answers
                .iter()
                .any(|a| a.topic.trim().is_empty() || a.answer.len() > 2_000)
        {
            return Err(Invalid::new(
                "answers",
                "at most 50, each with a topic and an answer of at most 2000 characters",
            ));
        }
        let inbound_numbers = self
            .inbound_numbers
            .iter()
            .map(|n| {
                Phone::parse(n, None).map_err(|e| Invalid::new("inbound_numbers", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let calendar = match self.calcom_api_key {
            Some(key) if key.trim().is_empty() => None,
            Some(key) => Some(CalendarAccount {
                api_key: key.trim().to_owned(),
            }),
            None => current.as_ref().and_then(|b| b.calendar.clone()),
        };
        let (services, version) = current.map_or((Vec::new(), 0), |b| (b.services, b.version));
        Ok(Business {
            tenant: tenant.clone(),
            name: name.to_owned(),
            zone,
            phone,
            address: self.address,
            about: self.about,
            greeting,
            opening_hours,
            booking_rules: rules,
            answers: self.answers,
            calendar,
            inbound_numbers,
            services,
            updated_at: now,
            version,
        })
    }
}

/// What a service is created or replaced from (`POST /v1/services`, `PUT /v1/services/{id}`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub duration_minutes: u32,
    #[serde(default)]
    pub price_cents: i64,
    pub calcom_event_type_id: u64,
    #[serde(default = "yes")]
    pub voice_booking: bool,
    #[serde(default)]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

impl ServiceSettings {
    /// The service, with `id` from the path when the body has none.
    pub fn into_service(self, id: Option<&str>) -> Result<Service, Invalid> {
        let id = match (id, self.id.as_deref()) {
            (Some(path), Some(body)) if path != body => {
                return Err(Invalid::new("id", "differs from the id in the path"));
            }
            (Some(id), _) | (None, Some(id)) => ServiceId::parse(id)?,
            (None, None) => return Err(Invalid::new("id", "is required")),
        };
        Service {
            id,
            name: self.name,
            duration_minutes: self.duration_minutes,
            price: Cents(self.price_cents),
            calcom_event_type_id: self.calcom_event_type_id,
            voice_booking: self.voice_booking,
            description: self.description,
        }
        .validate()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn business() -> Business {
        let settings: BusinessSettings = serde_json::from_value(json!({
            "name": "Bright Smile Dental",
            "timezone": "America/New_York",
            "opening_hours": {
                "monday": [{"open": "09:00", "close": "17:00"}],
                "tuesday": [{"open": "09:00", "close": "17:00"}],
                "wednesday": [{"open": "09:00", "close": "17:00"}],
                "thursday": [{"open": "09:00", "close": "17:00"}],
                "friday": [{"open": "09:00", "close": "17:00"}],
                "saturday": [{"open": "10:00", "close": "14:00"}]
            },
            "answers": [{"topic": "parking", "answer": "Free parking behind the building."}],
            "calcom_api_key": "cal_test_bright"
        }))
        .unwrap();
        let mut b = settings
            .apply(
                &TenantId::parse("bright").unwrap(),
                None,
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
        for (id, name, minutes, price, event, voice) in [
            ("cleaning", "Teeth cleaning", 30, 12_000, 101, true),
            ("whitening", "Whitening", 60, 35_000, 102, true),
            ("implant-consult", "Implant consultation", 45, 0, 103, false),
        ] {
            b.put_service(
                Service {
                    id: ServiceId::parse(id).unwrap(),
                    name: name.into(),
                    duration_minutes: minutes,
                    price: Cents(price),
                    calcom_event_type_id: event,
                    voice_booking: voice,
                    description: None,
                }
                .validate()
                .unwrap(),
            )
            .unwrap();
        }
        b
    }

    #[test]
    fn opening_hours_are_said_as_day_ranges() {
        assert_eq!(
            business().spoken_hours(),
            "Monday to Friday 9:00 AM to 5:00 PM; Saturday 10:00 AM to 2:00 PM; closed Sunday"
        );
    }

    #[test]
    fn a_service_is_found_by_id_or_by_name() {
        let b = business();
        assert_eq!(b.find_service("cleaning").unwrap().name, "Teeth cleaning");
        assert_eq!(
            b.find_service("teeth CLEANING").unwrap().id.as_str(),
            "cleaning"
        );
        assert!(b.find_service("root canal").is_none());
    }

    #[test]
    fn settings_keep_services_and_the_calendar_when_no_new_key_is_given() {
        let current = business();
        let settings: BusinessSettings =
            serde_json::from_value(json!({"name": "Bright Smile", "timezone": "America/Chicago"}))
                .unwrap();
        let b = settings
            .apply(
                &current.tenant,
                Some(current.clone()),
                Timestamp::UNIX_EPOCH,
            )
            .unwrap();
        assert_eq!(b.services, current.services);
        assert_eq!(b.calendar, current.calendar);
        assert_eq!(b.zone.name(), "America/Chicago");
    }

    #[test]
    fn the_greeting_is_the_businesss_own_or_the_default() {
        let b = business();
        assert_eq!(
            b.greeting(),
            "Thank you for calling Bright Smile Dental. How can I help you today?"
        );
        let settings: BusinessSettings = serde_json::from_value(json!({
            "name": "Bright Smile", "timezone": "UTC",
            "greeting": "  Hi, Bright Smile here,\n how can we help? "
        }))
        .unwrap();
        let own = settings
            .apply(&b.tenant, None, Timestamp::UNIX_EPOCH)
            .unwrap();
        assert_eq!(own.greeting(), "Hi, Bright Smile here, how can we help?");
        let blank: BusinessSettings =
            serde_json::from_value(json!({"name": "x", "timezone": "UTC", "greeting": "  "}))
                .unwrap();
        let blank = blank.apply(&b.tenant, None, Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(
            (blank.greeting.as_deref(), blank.greeting()),
            (None, default_greeting("x"))
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let cases = [
            (json!({"name": "", "timezone": "UTC"}), "name"),
            (json!({"name": "x", "timezone": "Mars/Base"}), "timezone"),
            (
                json!({"name": "x", "timezone": "UTC", "opening_hours": {"monday": [{"open": "17:00", "close": "09:00"}]}}),
                "opening_hours",
            ),
            (
                json!({"name": "x", "timezone": "UTC", "booking_rules": {"min_notice_minutes": 0, "max_days_ahead": 0}}),
                "booking_rules.max_days_ahead",
            ),
            (
                json!({"name": "x", "timezone": "UTC", "inbound_numbers": ["12"]}),
                "inbound_numbers",
            ),
            (
                json!({"name": "x", "timezone": "UTC", "greeting": "y".repeat(501)}),
                "greeting",
            ),
        ];
        for (body, field) in cases {
            let settings: BusinessSettings = serde_json::from_value(body).unwrap();
            let tenant = TenantId::parse("bright").unwrap();
            let err = settings
                .apply(&tenant, None, Timestamp::UNIX_EPOCH)
                .unwrap_err();
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn a_service_needs_a_valid_id_duration_and_event_type() {
        let service = |body: serde_json::Value| {
            serde_json::from_value::<ServiceSettings>(body)
                .unwrap()
                .into_service(None)
        };
        let ok = service(
            json!({"id": "cleaning", "name": "Cleaning", "duration_minutes": 30, "calcom_event_type_id": 7}),
        )
        .unwrap();
        assert!(ok.voice_booking, "voice booking is on unless turned off");
        for (body, field) in [
            (
                json!({"id": "Bad Id", "name": "x", "duration_minutes": 30, "calcom_event_type_id": 7}),
                "id",
            ),
            (
                json!({"id": "x", "name": "x", "duration_minutes": 1, "calcom_event_type_id": 7}),
                "duration_minutes",
            ),
            (
                json!({"id": "x", "name": "x", "duration_minutes": 30, "calcom_event_type_id": 0}),
                "calcom_event_type_id",
            ),
            (
                json!({"name": "x", "duration_minutes": 30, "calcom_event_type_id": 7}),
                "id",
            ),
        ] {
            assert_eq!(service(body).unwrap_err().field, field);
        }
    }
}
