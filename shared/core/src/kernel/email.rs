//! Email addresses. An [`Email`] is always an address (one `@`, a local part,
//! a dotted domain, no spaces), read once where people wrote it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::kernel::error::Invalid;

/// An email address: one `@`, a non-empty local part, a dotted domain, no
/// spaces; the domain in lower case.
///
/// Personal data: `Display` and `Debug` print it masked (`a•••@example.com`),
/// so that it can reach a log only masked. The address itself is
/// [`Email::expose`], for the adapters that must send or store it; serde
/// reads and writes it whole.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Reads an address as people write it (surrounding spaces ignored).
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        Self::read(raw)
            .ok_or_else(|| Invalid::new("email", format!("{raw:?} is not an email address")))
    }

    /// Reads an address exactly as given: a deliberately plain check (the
    /// mail provider is the real judge), `None` when it is not one.
    pub fn read(raw: &str) -> Option<Self> {
        let (local, domain) = raw.split_once('@')?;
        let plausible = !local.is_empty()
            && raw.len() <= 254
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        plausible.then(|| Email(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    /// The address itself: for what must send or store it (a booking's
    /// attendee, a message, an API answer), never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// The local part's first character and the domain: `a•••@example.com`.
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (local, domain) = self.0.split_once('@').unwrap_or(("?", ""));
        let first = local.chars().next().unwrap_or('?');
        write!(f, "{first}•••@{domain}")
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_prints_masked_but_its_first_character_and_domain() {
        let email = Email::parse("Ana.Ruiz@Example.COM").unwrap();
        assert_eq!(email.to_string(), "A•••@example.com");
        assert_eq!(format!("{email:?}"), "Email(A•••@example.com)");
        assert_eq!(
            format!("{:?}", Some(&email)),
            "Some(Email(A•••@example.com))"
        );
        assert_eq!(email.expose(), "Ana.Ruiz@example.com");
        assert_eq!(
            serde_json::to_value(&email).unwrap(),
            "Ana.Ruiz@example.com"
        );
        let unicode = Email::parse("ñandú@example.com").unwrap();
        assert_eq!(unicode.to_string(), "ñ•••@example.com");
    }

    #[test]
    fn read_takes_the_address_as_given_and_parse_trims_it() {
        assert_eq!(
            Email::read("ADA@Example.COM").unwrap().expose(),
            "ADA@example.com"
        );
        assert_eq!(Email::read(" ada@example.com"), None);
        assert_eq!(
            Email::parse(" ada@example.com ").unwrap().expose(),
            "ada@example.com"
        );
        let read_back: Email = serde_json::from_value("ada@example.com".into()).unwrap();
        assert_eq!(read_back, Email::parse("ada@example.com").unwrap());
        assert!(serde_json::from_value::<Email>("ada".into()).is_err());
    }
}
