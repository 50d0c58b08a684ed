//! What reading both providers' webhooks and call objects has in common: the
//! error, the outcome rule, the lookup dedupe key, and tolerant readers for the fields whose type varies
//! between the documentation and real deliveries (timestamps as numbers or
//! strings, amounts as floats, flags as booleans or strings).

use jiff::Timestamp;
use leadline_core::Cents;
use leadline_core::calling::call::{CallPhase, CallReport, outcome_from_analysis};
use leadline_core::calling::lead::CallOutcome;
use leadline_core::kernel::text::bounded;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a webhook body (or a call object read from the provider's API) could
/// not be read as a call event. The webhook receiver answers 400: a retry of
/// the same bytes would fail the same way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not JSON of the expected shape: {0}")]
    Json(String),
    #[error("the body has no {0}")]
    Missing(&'static str),
}

pub(crate) fn from_slice<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ParseError> {
    serde_json::from_slice(raw).map_err(|e| ParseError::Json(e.to_string()))
}

pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ParseError> {
    serde_json::from_value(value).map_err(|e| ParseError::Json(e.to_string()))
}

/// A non-empty string, or the `Missing` error naming where it should be.
pub(crate) fn required(value: Option<String>, name: &'static str) -> Result<String, ParseError> {
    value
        .filter(|s| !s.trim().is_empty())
        .ok_or(ParseError::Missing(name))
}

/// The outcome an event tells: the agent's analysis when it names one, else
/// the provider's voicemail detection, else (once the call is over) the end
/// reason through the provider's table.
pub(crate) fn outcome(
    phase: CallPhase,
    report: &CallReport,
    in_voicemail: bool,
    outcome_of_reason: fn(&str) -> CallOutcome,
) -> Option<CallOutcome> {
    if let Some(stated) = report.structured.as_ref().and_then(outcome_from_analysis) {
        return Some(stated);
    }
    if in_voicemail {
        return Some(CallOutcome::Voicemail);
    }
    match phase {
        CallPhase::Ringing | CallPhase::Started => None,
        CallPhase::Ended | CallPhase::Analyzed => {
            report.ended_reason.as_deref().map(outcome_of_reason)
        }
    }
}

/// The dedupe key of a call read back from its provider:
/// `<provider>#<call id>#lookup-<phase>`, one per phase.
pub(crate) fn lookup_key(provider: &str, call_id: &str, phase: CallPhase) -> String {
    let phase = match phase {
        CallPhase::Ringing => "ringing",
        CallPhase::Started => "started",
        CallPhase::Ended => "ended",
        CallPhase::Analyzed => "analyzed",
    };
    format!("{provider}#{call_id}#lookup-{phase}")
}

/// Epoch values below this are seconds, above it milliseconds: 10^11 s is
/// the year 5138, 10^11 ms is 1973.
const SECONDS_BELOW: f64 = 1e11;

/// A point in time written as epoch milliseconds (Retell), epoch seconds, an
/// RFC 3339 string (Vapi) or a string of digits. Anything else is `None`.
pub(crate) fn timestamp(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(n) => from_epoch(n.as_f64()?),
        Value::String(s) => s
            .parse::<Timestamp>()
            .ok()
            .or_else(|| from_epoch(s.trim().parse().ok()?)),
        _ => None,
    }
}

fn from_epoch(value: f64) -> Option<Timestamp> {
    if !value.is_finite() {
        return None;
    }
    let ms = if value.abs() < SECONDS_BELOW {
        value * 1000.0
    } else {
        value
    };
    Timestamp::from_millisecond(ms.round() as i64).ok()
}

/// A non-negative number (or numeric string), rounded to a whole number.
pub(crate) fn whole(value: &Value, scale: f64) -> Option<u64> {
    let scaled = number(value)? * scale;
    (scaled.is_finite() && scaled >= 0.0).then(|| scaled.round() as u64)
}

/// The length of a call from its start and end, when both are known and in order.
pub(crate) fn span_ms(started: Option<Timestamp>, ended: Option<Timestamp>) -> Option<u64> {
    let ms = ended?.as_millisecond() - started?.as_millisecond();
    u64::try_from(ms).ok()
}

/// An amount given in some unit (`cents_per_unit` cents each) as whole cents,
/// rounded half away from zero. The amount is first snapped to 1/10 000 cent
/// so that binary float noise (`0.145 * 100 = 14.4999…`) does not round down.
pub(crate) fn cents(value: &Value, cents_per_unit: f64) -> Option<Cents> {
    let cents = number(value)? * cents_per_unit;
    if !cents.is_finite() {
        return None;
    }
    let snapped = (cents * 10_000.0).round() / 10_000.0;
    Some(Cents(snapped.round() as i64))
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A string, or a boolean or number written as text (`true` → `"true"`).
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `true` for the boolean or the string `"true"` (any case).
pub(crate) fn flag(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A transcript cut to what an attempt item can hold.
pub(crate) fn transcript(text: &str) -> String {
    bounded(text, CallReport::MAX_TRANSCRIPT_BYTES).into_owned()
}

/// Structured analysis worth keeping: an object with at least one field.
pub(crate) fn non_empty_object(value: Value) -> Option<Value> {
    value
        .as_object()
        .is_some_and(|o| !o.is_empty())
        .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_read_from_milliseconds_seconds_and_rfc3339() {
        let expected: Timestamp = "2023-11-14T22:13:20Z".parse().unwrap();
        assert_eq!(timestamp(&json!(1_700_000_000_000_i64)), Some(expected));
        assert_eq!(timestamp(&json!(1.7e12)), Some(expected));
        assert_eq!(timestamp(&json!(1_700_000_000)), Some(expected));
        assert_eq!(timestamp(&json!("1700000000000")), Some(expected));
        assert_eq!(
            timestamp(&json!("2023-11-14T22:13:20.000Z")),
            Some(expected)
        );
        assert_eq!(timestamp(&json!("last tuesday")), None);
        assert_eq!(timestamp(&json!(true)), None);
    }

    #[test]
    fn amounts_round_to_the_nearest_cent_despite_float_noise() {
        assert_eq!(cents(&json!(0.145), 100.0), Some(Cents(15)));
        assert_eq!(cents(&json!(0.1449), 100.0), Some(Cents(14)));
        assert_eq!(cents(&json!(12.5), 1.0), Some(Cents(13)));
        assert_eq!(cents(&json!(7), 1.0), Some(Cents(7)));
        assert_eq!(cents(&json!("n/a"), 1.0), None);
    }

    #[test]
    fn durations_are_whole_and_never_negative() {
        assert_eq!(whole(&json!(61_000), 1.0), Some(61_000));
        assert_eq!(whole(&json!(61.4), 1000.0), Some(61_400));
        assert_eq!(whole(&json!(-5), 1.0), None);
        let start: Timestamp = "2026-01-01T10:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-01-01T10:01:01Z".parse().unwrap();
        assert_eq!(span_ms(Some(start), Some(end)), Some(61_000));
        assert_eq!(span_ms(Some(end), Some(start)), None);
        assert_eq!(span_ms(None, Some(end)), None);
    }

    #[test]
    fn flags_and_texts_accept_booleans_and_strings() {
        assert!(flag(&json!(true)));
        assert!(flag(&json!("TRUE")));
        assert!(!flag(&json!("no")));
        assert_eq!(text(&json!(false)).as_deref(), Some("false"));
        assert_eq!(text(&json!("Pass")).as_deref(), Some("Pass"));
        assert_eq!(text(&json!("")), None);
        assert_eq!(text(&json!(null)), None);
    }
}
