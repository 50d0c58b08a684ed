//! What reading the three providers' webhooks has in common: the error for a
//! body that cannot be read, the record of an item left out of a batch, and
//! small readers.

use jiff::Timestamp;
use leadline_core::kernel::redact::redact;

/// Why a webhook body could not be read. The receiver answers 400 to
/// [`ParseError::Malformed`], [`ParseError::Missing`] and
/// [`ParseError::Invalid`] (the same bytes would fail the same way), and may
/// acknowledge [`ParseError::Unsupported`] (a delivery leadline does not
/// handle, such as a status it does not know) with a 200 and a log line.
///
/// The messages name fields, never their values: a number or an address
/// never reaches an error (the provider's own parse errors are redacted).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not {0}")]
    Malformed(String),
    #[error("the body has no {0}")]
    Missing(&'static str),
    #[error("{field} is not {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
    #[error("not supported: {0}")]
    Unsupported(String),
}

impl ParseError {
    /// A JSON body that did not read, its parser's message redacted.
    pub(crate) fn json(error: &serde_json::Error) -> Self {
        Self::Malformed(format!(
            "JSON of the expected shape: {}",
            redact(&error.to_string())
        ))
    }
}

/// An item of a webhook batch that produced no [`Inbound`] or
/// [`StatusReport`]: acknowledged with the rest, for the caller to log (its
/// id and reason carry no personal data).
///
/// [`Inbound`]: leadline_core::messaging::provider::Inbound
/// [`StatusReport`]: leadline_core::messaging::provider::StatusReport
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The provider's id of the message, when the item has one.
    pub provider_id: Option<String>,
    pub reason: SkipReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A WhatsApp message from a user known only by a business-scoped user
    /// id (no phone number in `from`).
    NoPhoneNumber,
    /// A message type leadline does not read (an image, a location, a
    /// reaction, a system message...).
    UnsupportedType(String),
    /// An event or status leadline does not act on (SendGrid `deferred`,
    /// `group_resubscribe`; a WhatsApp change that is not `messages`...).
    Ignored(String),
    /// A SendGrid event without leadline's `custom_args`: not a message
    /// leadline sent, or one sent without them.
    NotOurs,
    /// An item lacking what it needs (an id, a timestamp).
    Malformed(&'static str),
}

/// Unix seconds, as an integer or a string of digits.
pub(crate) fn unix_seconds(value: &serde_json::Value) -> Option<Timestamp> {
    let seconds = match value {
        serde_json::Value::Number(n) => n.as_i64()?,
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    Timestamp::from_second(seconds).ok()
}

/// A provider's free text kept in a report or an error (a refusal's
/// message, a bounce's reason): phone numbers and addresses masked, cut to
/// [`MAX_DETAIL_CHARS`] characters.
pub(crate) fn provider_text(text: &str) -> String {
    let text = redact(text.trim());
    match text.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

/// A provider's message kept as a detail is cut to this many characters.
pub const MAX_DETAIL_CHARS: usize = 300;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unix_seconds_read_from_numbers_and_digit_strings() {
        let at = Timestamp::from_second(1_749_416_383).unwrap();
        assert_eq!(unix_seconds(&json!(1_749_416_383)), Some(at));
        assert_eq!(unix_seconds(&json!("1749416383")), Some(at));
        assert_eq!(unix_seconds(&json!("17494e3")), None);
        assert_eq!(unix_seconds(&json!("")), None);
        assert_eq!(unix_seconds(&json!(1.5)), None);
        assert_eq!(unix_seconds(&json!(null)), None);
    }

    #[test]
    fn provider_text_is_redacted_and_bounded() {
        assert_eq!(
            provider_text(" no mail for ana@example.com or +14155552671 "),
            "no mail for a•••@example.com or +•••••••••71"
        );
        let cut = provider_text(&"é".repeat(1000));
        assert_eq!(cut.chars().count(), MAX_DETAIL_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
