//! Phone numbers. A [`Phone`] is always E.164. A number people write is
//! parsed against its numbering plan ([`Phone::parse`], with the tenant's
//! default region for numbers written nationally); one read back from
//! storage or a queue is checked for its E.164 form only.

mod fast;
mod zones;

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber};
use serde::{Deserialize, Serialize};

use crate::kernel::error::Invalid;

/// An ISO 3166-1 alpha-2 region that has phone numbering metadata ("US", "IN", "GB").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(Id);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let upper = raw.trim().to_ascii_uppercase();
        if upper.len() != 2 {
            return Err(Invalid::new(
                "region",
                format!("{raw:?} is not a two-letter region code"),
            ));
        }
        Id::from_str(&upper).map(Region).map_err(|_| {
            Invalid::new(
                "region",
                format!("{raw:?} is not a region with phone numbers"),
            )
        })
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl TryFrom<String> for Region {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.code().to_owned()
    }
}

/// Why a raw number was refused. The message is meant for the person who wrote the CSV.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number contains letters")]
    Letters,
    #[error(
        "phone number contains {0:?}, which is not a digit, space, dash, dot, slash, parenthesis or leading +"
    )]
    UnexpectedCharacter(char),
    #[error("phone number is too short")]
    TooShort,
    #[error("phone number is too long")]
    TooLong,
    #[error("phone number has no country code and no default region to read it in")]
    NoRegion,
    #[error("phone number has an unknown country code")]
    UnknownCountryCode,
    #[error("phone number is not a valid number for {0}")]
    NotValidForRegion(String),
}

/// A phone number in E.164 form (`+919876543210`).
///
/// Personal data: `Display` and `Debug` print it masked (`+91••••••••10`),
/// so that it can reach a log only masked. The number itself is
/// [`Phone::e164`], for the adapters that must send or store it (provider
/// requests, table keys, API answers); serde reads and writes it whole.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// E.164 allows at most 15 digits; fewer than 7 is no dialable number anywhere.
const MAX_DIGITS: usize = 15;
const MIN_DIGITS: usize = 7;

impl Phone {
    /// Parses a number as people write it. `region` reads numbers written
    /// without a country code; numbers with `+` or an international prefix
    /// (`00`, or the region's own, such as `011` in the US) need none.
    pub fn parse(raw: &str, region: Option<Region>) -> Result<Self, PhoneError> {
        let cleaned = clean(raw)?;
        let (international, digits) = match cleaned.strip_prefix('+') {
            Some(digits) => (true, digits),
            None => (false, cleaned.as_str()),
        };
        if let Some(e164) = fast::e164(digits, international, region) {
            return Ok(Phone(e164));
        }
        Self::parse_slowly(&cleaned, region)
    }

    /// The `phonenumber` crate's reading, and the reason for every refusal.
    fn parse_slowly(cleaned: &str, region: Option<Region>) -> Result<Self, PhoneError> {
        // Given a region, the crate applies that region's national prefix to an
        // international number too (+91 12345 67890 read in the US loses its
        // "1"); libphonenumber does not. An international number needs no region.
        let read_in = if cleaned.starts_with('+') {
            None
        } else {
            region
        };
        let number = phonenumber::parse(read_in.map(|r| r.0), cleaned).map_err(|e| match e {
            phonenumber::ParseError::TooLong => PhoneError::TooLong,
            phonenumber::ParseError::InvalidCountryCode
                if region.is_none() && !cleaned.starts_with('+') =>
            {
                PhoneError::NoRegion
            }
            phonenumber::ParseError::InvalidCountryCode => PhoneError::UnknownCountryCode,
            _ => PhoneError::TooShort,
        })?;
        Self::from_parsed(&number, region)
    }

    fn from_parsed(number: &PhoneNumber, region: Option<Region>) -> Result<Self, PhoneError> {
        let national = number.national().to_string();
        if !fast::is_valid(number.code().value(), &national) {
            let same_code = |r: &Region| {
                phonenumber::metadata::DATABASE
                    .by_id(r.code())
                    .is_some_and(|m| m.country_code() == number.code().value())
            };
            let region_name = number
                .country()
                .id()
                .map(|id| id.as_ref().to_owned())
                .or(region.filter(same_code).map(|r| r.code().to_owned()))
                .unwrap_or_else(|| format!("country code +{}", number.code().value()));
            return Err(PhoneError::NotValidForRegion(region_name));
        }
        Ok(Phone(number.format().mode(Mode::E164).to_string()))
    }

    /// The number itself, in E.164 form: for what must send or store it
    /// (a provider's request, a table key, an API answer), never for a log.
    pub fn e164(&self) -> &str {
        &self.0
    }

    /// The region the number belongs to, when the numbering plan tells it
    /// (a number read back whose country code the plan no longer knows has none).
    pub fn region(&self) -> Option<Region> {
        self.parsed()?.country().id().map(Region)
    }

    /// The international display form ("+1 415-555-2671"), for people to
    /// read (the number itself, like [`Phone::e164`]); the E.164 form when
    /// the plan cannot read the number.
    pub fn display(&self) -> String {
        match self.parsed() {
            Some(number) => number.format().mode(Mode::International).to_string(),
            None => self.0.clone(),
        }
    }

    /// The IANA zones the number may be in (from its prefix), most often one.
    /// Empty when the prefix tells nothing; a non-geographic number (a NANP
    /// toll-free one, say) gets every zone of its plan.
    pub fn zones(&self) -> &'static [&'static str] {
        zones::zones_for(&self.0[1..])
    }

    /// The number's time zone, when its prefix names exactly one.
    pub fn zone(&self) -> Option<crate::kernel::time::Zone> {
        match self.zones() {
            [only] => crate::kernel::time::Zone::parse(only).ok(),
            _ => None,
        }
    }

    /// The number with all but the last two digits hidden, for answers
    /// that must not tell whose number it is. Logs print the number itself
    /// (`Display`), which keeps the country code too.
    pub fn masked(&self) -> String {
        let keep = &self.0[self.0.len() - 2..];
        format!("+{}{keep}", "*".repeat(self.0.len() - 3))
    }

    /// The number as the plan reads it. A number parsed here always reads;
    /// one read back (serde) was checked for its form only.
    fn parsed(&self) -> Option<PhoneNumber> {
        phonenumber::parse(None, &self.0).ok()
    }
}

/// Reduces what people type to digits and a leading `+`, so that the parser
/// sees one canonical spelling: `++91` and `0044` become `+91`, `+44`; a
/// trunk `(0)` after a country code is dropped.
fn clean(raw: &str) -> Result<String, PhoneError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(PhoneError::Empty);
    }
    if let Some(c) = raw.chars().find(|c| c.is_alphabetic()) {
        let _ = c;
        return Err(PhoneError::Letters);
    }
    let international = raw.starts_with('+');
    let without_trunk = if international || raw.starts_with("00") {
        raw.replacen("(0)", "", 1)
    } else {
        raw.to_owned()
    };
    let mut digits = String::with_capacity(without_trunk.len() + 1);
    for c in without_trunk.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            '+' if digits.is_empty() => {}
            other => return Err(PhoneError::UnexpectedCharacter(other)),
        }
    }
    let digits = if international {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        // 00 is the international prefix of most of the world; where it is not
        // (NANP uses 011), no national number starts with 00 either.
        rest.to_owned()
    } else {
        return check_length(&digits).map(|_| digits);
    };
    check_length(&digits)?;
    Ok(format!("+{digits}"))
}

fn check_length(digits: &str) -> Result<(), PhoneError> {
    match digits.len() {
        n if n < MIN_DIGITS => Err(PhoneError::TooShort),
        n if n > MAX_DIGITS + 3 => Err(PhoneError::TooLong),
        _ => Ok(()),
    }
}

/// A number read back (serde: a stored lead, a queued job) is checked for
/// E.164 form only: `+`, a first digit of 1-9, 7 to 15 digits. It was checked
/// against its numbering plan when it was first parsed, so it is not checked
/// again: reading the plan costs a cold start ~120 ms at its first number,
/// and a later update of the plan must not make stored leads unreadable.
/// Numbers people write go through [`Phone::parse`].
impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, PhoneError> {
        let Some(digits) = s.strip_prefix('+') else {
            return Err(PhoneError::NoRegion);
        };
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return Err(PhoneError::UnexpectedCharacter(c));
        }
        match digits.len() {
            n if n < MIN_DIGITS => Err(PhoneError::TooShort),
            n if n > MAX_DIGITS => Err(PhoneError::TooLong),
            _ if digits.starts_with('0') => Err(PhoneError::UnknownCountryCode),
            _ => Ok(Phone(s)),
        }
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// The country code, the last two digits and a `•` for every digit between
/// them: `+1••••••••71`.
impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = &self.0[1..];
        let code = country_code_len(digits);
        let hidden = digits.len() - code - 2;
        write!(
            f,
            "+{}{}{}",
            &digits[..code],
            "•".repeat(hidden),
            &digits[code + hidden..]
        )
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({self})")
    }
}

/// How many of the leading `digits` (of an E.164 number, after its `+`)
/// are its country code. Country codes are prefix-free: 1 and 7 are one
/// digit long, the two-digit ones are listed, all others have three (ITU-T
/// E.164 assignments; a test checks them against the numbering plans).
/// A table, so that printing a number never loads the plans.
fn country_code_len(digits: &str) -> usize {
    const TWO_DIGITS: [&str; 44] = [
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    if digits.starts_with(['1', '7']) {
        1
    } else if TWO_DIGITS.iter().any(|code| digits.starts_with(code)) {
        2
    } else {
        3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn region(code: &str) -> Option<Region> {
        Some(Region::parse(code).unwrap())
    }

    fn e164(raw: &str, region_code: Option<&str>) -> Result<String, PhoneError> {
        Phone::parse(raw, region_code.and_then(region)).map(|p| p.e164().to_owned())
    }

    #[test]
    fn a_doubled_plus_is_read_as_one() {
        assert_eq!(e164("++91 98765 43210", None).unwrap(), "+919876543210");
    }

    #[test]
    fn an_indian_number_with_its_country_code_but_no_plus_is_read_in_region_in() {
        assert_eq!(e164("91 9876543210", Some("IN")).unwrap(), "+919876543210");
    }

    #[test]
    fn a_us_number_in_any_common_spelling() {
        for raw in [
            "+1 (415) 555-2671",
            "415.555.2671",
            "(415) 555 2671",
            "415-555-2671",
            "1-415-555-2671",
        ] {
            assert_eq!(e164(raw, Some("US")).unwrap(), "+14155552671", "{raw}");
        }
    }

    #[test]
    fn a_leading_00_with_a_trunk_zero_in_parentheses() {
        for region_code in ["GB", "IN"] {
            assert_eq!(
                e164("0044 (0)20 7946 0958", Some(region_code)).unwrap(),
                "+442079460958",
                "in region {region_code}"
            );
        }
        assert_eq!(e164("+44 (0)20 7946 0958", None).unwrap(), "+442079460958");
    }

    #[test]
    fn a_national_number_is_read_in_the_default_region() {
        assert_eq!(e164("020 7946 0958", Some("GB")).unwrap(), "+442079460958");
        assert_eq!(e164("098765 43210", Some("IN")).unwrap(), "+919876543210");
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(e164("", Some("US")), Err(PhoneError::Empty));
        assert_eq!(e164("12345", Some("US")), Err(PhoneError::TooShort));
        assert_eq!(
            e164("+1 415 555 2671 1234 5678 90", None),
            Err(PhoneError::TooLong)
        );
        assert_eq!(e164("1-800-FLOWERS", Some("US")), Err(PhoneError::Letters));
        assert_eq!(
            e164("415*555*2671", Some("US")),
            Err(PhoneError::UnexpectedCharacter('*'))
        );
        assert_eq!(e164("4155552671", None), Err(PhoneError::NoRegion));
        assert_eq!(
            e164("+1 011 555 2671", Some("US")),
            Err(PhoneError::NotValidForRegion("US".into()))
        );
        assert_eq!(
            e164("+1 011 555 2671", None),
            Err(PhoneError::NotValidForRegion("country code +1".into()))
        );
        assert_eq!(
            e164("+91 55555 55555", Some("US")),
            Err(PhoneError::NotValidForRegion("IN".into()))
        );
        // libphonenumber reads an international number the same in every region.
        assert_eq!(
            e164("+91 12345 67890", Some("US")).unwrap(),
            "+911234567890"
        );
    }

    #[test]
    fn the_region_of_a_number_comes_from_its_plan() {
        let p = Phone::parse("+919876543210", None).unwrap();
        assert_eq!(p.region().unwrap().code(), "IN");
    }

    #[test]
    fn the_zone_of_a_number_comes_from_its_prefix() {
        let ny = Phone::parse("+12125551234", None).unwrap();
        assert_eq!(ny.zones(), ["America/New_York"]);
        assert_eq!(ny.zone().unwrap().name(), "America/New_York");
        let alaska = Phone::parse("+19075551234", None).unwrap();
        assert_eq!(alaska.zones(), ["America/Adak", "America/Anchorage"]);
        assert_eq!(alaska.zone(), None);
        let india = Phone::parse("+919876543210", None).unwrap();
        assert_eq!(india.zone().unwrap().name(), "Asia/Kolkata");
    }

    #[test]
    fn a_masked_number_shows_only_its_last_two_digits() {
        let p = Phone::parse("+14155552671", None).unwrap();
        assert_eq!(p.masked(), "+*********71");
    }

    #[test]
    fn a_number_prints_masked_but_its_country_code_and_last_two_digits() {
        for (e164, printed) in [
            ("+14155552671", "+1••••••••71"),
            ("+919876543210", "+91••••••••10"),
            ("+442079460958", "+44••••••••58"),
            ("+971501234567", "+971•••••••67"),
            ("+2921234567", "+292•••••67"),
        ] {
            let phone: Phone = serde_json::from_value(e164.into()).unwrap();
            assert_eq!(phone.to_string(), printed);
            assert_eq!(format!("{phone:?}"), format!("Phone({printed})"));
            assert_eq!(phone.e164(), e164);
            assert_eq!(serde_json::to_value(&phone).unwrap(), e164);
        }
        let call = Some(Phone::parse("+14155552671", None).unwrap());
        assert_eq!(format!("{call:?}"), "Some(Phone(+1••••••••71))");
    }

    #[test]
    fn the_country_code_table_agrees_with_the_numbering_plans() {
        for code in 1u16..1000 {
            if phonenumber::metadata::DATABASE.region(&code).is_none() {
                continue;
            }
            let digits = format!("{code}0000000");
            assert_eq!(country_code_len(&digits), code.to_string().len(), "+{code}");
        }
    }

    #[test]
    fn serde_round_trips_e164_and_rejects_anything_else() {
        let p = Phone::parse("+14155552671", None).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+14155552671\"");
        assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), p);
        // E.164 in form, but no country uses +29: read back all the same, it
        // has no region and displays as it is.
        let unknown: Phone = serde_json::from_str("\"+2921234567\"").unwrap();
        assert_eq!(
            (unknown.region(), unknown.display()),
            (None, "+2921234567".into())
        );
        for not_e164 in [
            "4155552671",
            "+1 415 555 2671",
            "+1-415-555-2671",
            "+04155552671",
            "+123456",
            "+1234567890123456",
            "",
            "+",
        ] {
            let json = serde_json::to_string(not_e164).unwrap();
            assert!(
                serde_json::from_str::<Phone>(&json).is_err(),
                "{not_e164:?}"
            );
        }
    }

    proptest! {
        /// Reading a number back checks its form, not its plan: a string is
        /// read iff it is "+", a digit 1-9 and 6 to 14 more digits.
        #[test]
        fn a_number_is_read_back_iff_it_has_the_e164_form(
            raw in prop_oneof!["\\+[0-9]{0,17}", "\\+?[0-9 a-]{0,17}"],
        ) {
            let form = raw.len() >= 8 && raw.len() <= 16
                && raw.as_bytes()[0] == b'+'
                && (b'1'..=b'9').contains(&raw.as_bytes()[1])
                && raw[1..].bytes().all(|b| b.is_ascii_digit());
            let read = serde_json::from_value::<Phone>(serde_json::Value::String(raw.clone()));
            prop_assert_eq!(read.is_ok(), form, "{:?}", raw);
            if let Ok(phone) = read {
                prop_assert_eq!(phone.e164(), raw.as_str());
            }
        }
    }

    /// Valid numbers of several plans, to generate variants from.
    const SAMPLES: &[&str] = &[
        "+14155552671",
        "+919876543210",
        "+442079460958",
        "+4930123456",
        "+61212345678",
        "+33142685300",
        "+5511987654321",
        "+81312345678",
        "+971501234567",
        "+16475550123",
    ];

    fn spelled(e164: &'static str) -> impl Strategy<Value = String> {
        let digits: Vec<char> = e164[1..].chars().collect();
        (
            proptest::collection::vec(
                prop_oneof![Just(""), Just(" "), Just("-"), Just(".")],
                digits.len(),
            ),
            any::<bool>(),
        )
            .prop_map(move |(seps, double_zero)| {
                let body: String = digits
                    .iter()
                    .zip(seps)
                    .map(|(d, s)| format!("{d}{s}"))
                    .collect();
                if double_zero {
                    format!("00{body}")
                } else {
                    format!("+{body}")
                }
            })
    }

    proptest! {
        #[test]
        fn any_spelling_of_a_valid_number_normalizes_to_it(
            (expected, raw) in proptest::sample::select(SAMPLES).prop_flat_map(|e| (Just(e), spelled(e)))
        ) {
            prop_assert_eq!(e164(&raw, Some("GB")).unwrap(), expected);
        }

        #[test]
        fn normalizing_twice_changes_nothing(raw in proptest::sample::select(SAMPLES).prop_flat_map(spelled)) {
            let once = Phone::parse(&raw, region("DE")).unwrap();
            let twice = Phone::parse(once.e164(), None).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn display_formatting_round_trips(raw in proptest::sample::select(SAMPLES).prop_flat_map(spelled)) {
            let phone = Phone::parse(&raw, None).unwrap();
            prop_assert_eq!(Phone::parse(&phone.display(), None).unwrap(), phone);
        }

        #[test]
        fn the_fast_path_agrees_with_the_phonenumber_crate(
            raw in prop_oneof![
                "[+]?[0-9]{6,15}",
                "(00|[+])(1|7|20|27|30|31|33|34|39|44|49|52|55|61|62|65|81|86|91|92|234|254|351|353|880|971)[0-9]{6,12}",
                "0[1-9][0-9]{7,10}",
                "[2-9][0-9]{9}",
                "[6-9][0-9]{9}",
            ],
            r in proptest::sample::select(vec!["US", "IN", "GB", "DE", "IT", "AR", "BR", "MX", "AU", "FR", "JP", "CA"])
        ) {
            let region = region(r);
            match clean(&raw) {
                Ok(cleaned) => prop_assert_eq!(Phone::parse(&raw, region), Phone::parse_slowly(&cleaned, region), "{} in {}", raw, r),
                Err(e) => prop_assert_eq!(Phone::parse(&raw, region), Err(e)),
            }
        }

        #[test]
        fn no_input_panics_or_yields_a_non_e164_number(raw in "[0-9+() .a-z-]{0,24}", r in proptest::sample::select(vec!["US", "IN", "GB"])) {
            if let Ok(p) = Phone::parse(&raw, region(r)) {
                prop_assert!(p.e164().starts_with('+'));
                prop_assert!(p.e164()[1..].bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(p.e164().len() <= 16);
            }
        }
    }
}
