//! What a lead said about themselves on a call, read from the agent's
//! structured analysis (Retell `call_analysis.custom_analysis_data`, Vapi
//! `analysis.structuredData` merged with `artifact.structuredOutputs`: a
//! [`CallReport::structured`](crate::calling::call::CallReport::structured)),
//! and how it fills in the lead.
//!
//! Parse, don't validate: an email address goes through [`Email::parse`], a
//! number through [`Phone::parse`] in the tenant's region, a name must read
//! as one; what does not parse is set aside with the field and why, never
//! with its value (it is personal data). A detail fills only a field that is
//! empty, so what the business imported is never overwritten, and the field
//! is named in [`Lead::from_call`].

use serde_json::Value;

use crate::calling::lead::{Lead, LeadField};
use crate::kernel::email::Email;
use crate::kernel::phone::{Phone, Region};

/// The keys of the analysis each detail is read from, first found first.
pub const NAME_KEYS: [&str; 4] = ["name", "full_name", "caller_name", "lead_name"];
pub const EMAIL_KEYS: [&str; 3] = ["email", "email_address", "caller_email"];
pub const PHONE_KEYS: [&str; 6] = [
    "better_number",
    "callback_number",
    "preferred_number",
    "phone",
    "phone_number",
    "caller_number",
];

/// The longest name kept, as at import.
pub const MAX_NAME_CHARS: usize = 200;

/// The details the analysis states, each already parsed, and those that
/// would not parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatedDetails {
    pub name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// Fields the analysis stated something unusable for, and why (no value).
    pub unusable: Vec<(LeadField, &'static str)>,
}

impl StatedDetails {
    /// Reads the details of an analysis (an object; anything else states
    /// none). A key with an empty value, `null` or a placeholder such as
    /// "unknown" states nothing.
    pub fn read(structured: &Value, region: Option<Region>) -> Self {
        let mut details = StatedDetails::default();
        if let Some(raw) = stated(structured, &NAME_KEYS) {
            match name(&raw) {
                Some(name) => details.name = Some(name),
                None => details.unusable.push((LeadField::Name, "not a name")),
            }
        }
        if let Some(raw) = stated(structured, &EMAIL_KEYS) {
            match Email::parse(&raw) {
                Ok(email) => details.email = Some(email),
                Err(_) => details
                    .unusable
                    .push((LeadField::Email, "not an email address")),
            }
        }
        if let Some(raw) = stated(structured, &PHONE_KEYS) {
            match Phone::parse(&raw, region) {
                Ok(phone) => details.phone = Some(phone),
                Err(_) => details
                    .unusable
                    .push((LeadField::PreferredPhone, "not a phone number")),
            }
        }
        details
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.email.is_none() && self.phone.is_none()
    }
}

impl Lead {
    /// Fills the lead's empty fields from what it said on a call, and names
    /// them in `from_call`; a field that holds anything (imported, or given
    /// on an earlier call) keeps it. A number is the lead's preferred one
    /// only when it is not the number it already has. Returns the fields filled.
    pub fn fill_from_call(&mut self, details: &StatedDetails) -> Vec<LeadField> {
        let mut filled = Vec::new();
        if self.name.is_none()
            && let Some(name) = &details.name
        {
            self.name = Some(name.clone());
            filled.push(LeadField::Name);
        }
        if self.email.is_none()
            && let Some(email) = &details.email
        {
            self.email = Some(email.clone());
            filled.push(LeadField::Email);
        }
        if self.preferred_phone.is_none()
            && let Some(phone) = details.phone.as_ref().filter(|p| **p != self.phone)
        {
            self.preferred_phone = Some(phone.clone());
            filled.push(LeadField::PreferredPhone);
        }
        for field in &filled {
            if !self.from_call.contains(field) {
                self.from_call.push(*field);
            }
        }
        filled
    }
}

/// Words an agent writes for "not given".
const PLACEHOLDERS: [&str; 8] = [
    "unknown",
    "n/a",
    "na",
    "none",
    "null",
    "not provided",
    "not given",
    "-",
];

/// The first key of `keys` whose value states something: a string (or a
/// number, for phone numbers written as digits) that is not blank or a placeholder.
fn stated(structured: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|key| {
        let text = match structured.get(key)? {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) => number.to_string(),
            _ => return None,
        };
        let placeholder = PLACEHOLDERS.iter().any(|p| text.eq_ignore_ascii_case(p));
        (!text.is_empty() && !placeholder).then_some(text)
    })
}

/// A name as people say it: spaces collapsed, at most [`MAX_NAME_CHARS`],
/// with a letter, no control characters, no `@` or digits (an address or a
/// number in the wrong field).
fn name(raw: &str) -> Option<String> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let readable = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().any(char::is_alphabetic)
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_ascii_digit() || c == '@');
    readable.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling::lead::tests::lead;
    use serde_json::json;

    fn us() -> Option<Region> {
        Some(Region::parse("US").unwrap())
    }

    fn read(structured: Value) -> StatedDetails {
        StatedDetails::read(&structured, us())
    }

    #[test]
    fn the_details_are_read_under_any_of_their_keys() {
        let details = read(json!({
            "outcome": "qualified",
            "full_name": "  Sam   Lee ",
            "email_address": "Sam.Lee@Example.COM",
            "callback_number": "(415) 555-0188"
        }));
        assert_eq!(details.name.as_deref(), Some("Sam Lee"));
        assert_eq!(
            details.email.as_ref().map(Email::expose),
            Some("Sam.Lee@example.com")
        );
        assert_eq!(
            details.phone.as_ref().map(Phone::e164),
            Some("+14155550188")
        );
        assert!(details.unusable.is_empty());
    }

    #[test]
    fn a_number_is_read_in_the_tenants_region() {
        let uk = StatedDetails::read(
            &json!({"better_number": "07400 123456"}),
            Some(Region::parse("GB").unwrap()),
        );
        assert_eq!(uk.phone.as_ref().map(Phone::e164), Some("+447400123456"));
    }

    #[test]
    fn what_does_not_parse_is_set_aside_by_field_without_its_value() {
        let details = read(json!({
            "name": "call me at 4155550188",
            "email": "sam at example dot com",
            "phone": "tomorrow"
        }));
        assert!(details.is_empty());
        assert_eq!(
            details.unusable,
            [
                (LeadField::Name, "not a name"),
                (LeadField::Email, "not an email address"),
                (LeadField::PreferredPhone, "not a phone number"),
            ]
        );
    }

    #[test]
    fn blanks_and_placeholders_state_nothing() {
        for structured in [
            json!({"name": "", "email": "  ", "phone": null}),
            json!({"name": "Unknown", "email": "N/A", "better_number": "none"}),
            json!({"name": ["Sam"], "email": {"a": 1}}),
            json!("Sam Lee"),
            json!(null),
        ] {
            assert_eq!(
                read(structured.clone()),
                StatedDetails::default(),
                "{structured}"
            );
        }
    }

    #[test]
    fn details_fill_only_empty_fields_and_are_marked_as_from_the_call() {
        let mut imported = lead(); // name "Ada", no email
        let details = read(json!({
            "name": "Adah Lovelace",
            "email": "ada@example.com",
            "better_number": "+14155550188"
        }));
        let filled = imported.fill_from_call(&details);
        assert_eq!(filled, [LeadField::Email, LeadField::PreferredPhone]);
        assert_eq!(
            imported.name.as_deref(),
            Some("Ada"),
            "the import's name stays"
        );
        assert_eq!(imported.email, details.email);
        assert_eq!(imported.preferred_phone, details.phone);
        assert_eq!(
            imported.from_call,
            [LeadField::Email, LeadField::PreferredPhone]
        );

        // A later call's details change nothing that is filled.
        let later = read(json!({"email": "other@example.com", "phone": "+14155550199"}));
        assert!(imported.fill_from_call(&later).is_empty());
        assert_eq!(imported.email, details.email);
    }

    #[test]
    fn the_number_the_lead_already_has_is_not_a_preferred_one() {
        let mut l = lead();
        let same = read(json!({"phone": l.phone.e164()}));
        assert!(l.fill_from_call(&same).is_empty());
        assert_eq!(l.preferred_phone, None);
        assert!(l.from_call.is_empty());
    }

    #[test]
    fn a_nameless_caller_gets_the_name_they_gave() {
        let mut l = lead();
        l.name = None;
        let filled = l.fill_from_call(&read(json!({"caller_name": "Zoë O'Brien-Smith"})));
        assert_eq!(filled, [LeadField::Name]);
        assert_eq!(l.name.as_deref(), Some("Zoë O'Brien-Smith"));
        assert_eq!(l.from_call, [LeadField::Name]);
    }
}
