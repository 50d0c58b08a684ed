//! What talking to a provider's API has in common between the providers:
//! sending the create-call and get-call requests, and sorting their failures
//! into [`DialError`] classes, which decide what happens to the lead (invalid,
//! retried later, alerted).

use std::time::Duration;

use leadline_core::calling::call::{CallEvent, DialError, PlacedCall};
use leadline_core::kernel::redact::Redacted;
use reqwest::RequestBuilder;
use reqwest::header::RETRY_AFTER;
use serde_json::Value;

use crate::ParseError;

/// A provider message kept as the reason of an error is cut to this many characters.
pub const MAX_REASON_CHARS: usize = 300;

/// Sends a create-call request and reads the provider's id for the call from
/// the `id_field` of its 2xx answer.
pub(crate) async fn place(
    provider: &'static str,
    request: RequestBuilder,
    id_field: &'static str,
) -> Result<PlacedCall, DialError> {
    let answer = send(request).await?;
    let status = answer.status;
    let Answer { body, .. } = answer.accepted().inspect_err(|error| {
        tracing::warn!(provider, status, error = %Redacted(error), "the provider refused to place a call");
    })?;
    let provider_call_id = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|answer| Some(answer.get(id_field)?.as_str()?.to_owned()))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            DialError::Unavailable(format!(
                "the provider answered {status} without a {id_field}"
            ))
        })?;
    Ok(PlacedCall { provider_call_id })
}

/// Sends a get-call request and reads its 2xx answer with `parse`; `None`
/// when the provider does not know the call (404).
pub(crate) async fn look_up(
    provider: &'static str,
    request: RequestBuilder,
    parse: fn(&[u8]) -> Result<CallEvent, ParseError>,
) -> Result<Option<CallEvent>, DialError> {
    let answer = send(request).await?;
    let status = answer.status;
    if status == 404 {
        return Ok(None);
    }
    let Answer { body, .. } = answer.accepted().inspect_err(|error| {
        tracing::warn!(provider, status, error = %Redacted(error), "the provider refused to tell about a call");
    })?;
    parse(body.as_bytes()).map(Some).map_err(|error| {
        tracing::warn!(provider, status, error = %Redacted(&error), "the provider's call could not be read");
        DialError::Unavailable(format!("the provider's call could not be read: {error}"))
    })
}

/// One URL path segment: a call id with anything but unreserved characters
/// percent-encoded, so that an odd id cannot reach another endpoint.
pub(crate) fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTTP answer of the provider.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    /// The answer if it is a 2xx, else its refusal classified.
    fn accepted(self) -> Result<Self, DialError> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(classify_refusal(
                self.status,
                &self.body,
                self.retry_after.as_deref(),
            ))
        }
    }
}

/// Sends a request and reads the answer; fails only when none came.
async fn send(request: RequestBuilder) -> Result<Answer, DialError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.text().await.map_err(transport_error)?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// A request that got no HTTP answer: a timeout leaves unknown whether the
/// call was placed; anything else (refused connection, DNS, TLS) is the
/// provider being unreachable.
fn transport_error(error: reqwest::Error) -> DialError {
    if error.is_timeout() {
        DialError::Timeout
    } else {
        DialError::Unavailable(format!(
            "could not reach the provider: {}",
            error.without_url()
        ))
    }
}

/// Sorts a non-2xx answer to a create-call (or get-call) request:
/// - 429, or a 4xx about concurrency: [`DialError::Throttled`], waiting for
///   `Retry-After` (in seconds) when the provider gives it;
/// - a 4xx about the destination number: [`DialError::InvalidNumber`];
/// - another 4xx (or 1xx/3xx): [`DialError::Rejected`];
/// - a 5xx: [`DialError::Unavailable`].
///
/// The reason is the provider's message (Retell `message` / `error_message`,
/// Vapi's NestJS `message` list), with phone numbers masked and cut to
/// [`MAX_REASON_CHARS`].
pub fn classify_refusal(status: u16, body: &str, retry_after: Option<&str>) -> DialError {
    let reason = reason_of(body);
    let text = body.to_lowercase();
    let throttled = || DialError::Throttled {
        reason: reason.clone(),
        retry_after: retry_after.and_then(parse_retry_after),
    };
    match status {
        429 => throttled(),
        400..=499 if is_about_concurrency(&text) => throttled(),
        400..=499 if is_about_destination(&text) => DialError::InvalidNumber(reason),
        500..=599 => DialError::Unavailable(reason),
        _ => DialError::Rejected { status, reason },
    }
}

/// `Retry-After` in its delay-seconds form; the HTTP-date form is ignored.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

fn is_about_concurrency(text: &str) -> bool {
    ["concurrency", "concurrent call", "too many calls"]
        .iter()
        .any(|marker| text.contains(marker))
}

/// Whether a refusal is about the number being called. Messages about our own
/// caller id (`from_number`, `phoneNumberId`) are configuration errors, not a
/// property of the lead.
fn is_about_destination(text: &str) -> bool {
    const OUR_NUMBER: [&str; 5] = [
        "from_number",
        "from number",
        "phonenumberid",
        "phone_number_id",
        "phonenumber.",
    ];
    const DESTINATION: [&str; 4] = ["number", "destination", "e.164", "e164"];
    const REFUSAL: [&str; 10] = [
        "valid",
        "e.164",
        "e164",
        "unsupported",
        "not supported",
        "not allowed",
        "not permitted",
        "cannot call",
        "unable to call",
        "can only",
    ];
    let mentions = |markers: &[&str]| markers.iter().any(|marker| text.contains(marker));
    !mentions(&OUR_NUMBER) && mentions(&DESTINATION) && mentions(&REFUSAL)
}

/// The provider's own message in an error body, else the body itself.
fn reason_of(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| {
            ["message", "error_message", "error", "detail"]
                .iter()
                .find_map(|key| message_in(json.get(key)?))
        })
        .unwrap_or_else(|| body.trim().to_owned());
    if message.is_empty() {
        return "no message".to_owned();
    }
    truncate(&mask_numbers(&message), MAX_REASON_CHARS)
}

fn message_in(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Array(items) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Value::Object(fields) => message_in(fields.get("message")?),
        _ => None,
    }
}

/// Phone-number-like runs (seven digits or more, with `+ - . ( )` and spaces
/// between them) replaced, so that a lead's number never reaches a log.
fn mask_numbers(text: &str) -> String {
    const MASK: &str = "[number]";
    let is_part = |c: char| c.is_ascii_digit() || "+-.() ".contains(c);
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '+') {
        masked.push_str(&rest[..start]);
        let run_len = rest[start..]
            .find(|c: char| !is_part(c))
            .unwrap_or(rest.len() - start);
        let run = rest[start..start + run_len].trim_end_matches(|c: char| !c.is_ascii_digit());
        let run = if run.is_empty() {
            &rest[start..start + 1]
        } else {
            run
        };
        if run.chars().filter(char::is_ascii_digit).count() >= 7 {
            masked.push_str(MASK);
        } else {
            masked.push_str(run);
        }
        rest = &rest[start + run.len()..];
    }
    masked.push_str(rest);
    masked
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAPI_BAD_NUMBER: &str = r#"{"message":["customer.number must be a valid phone number in the E.164 format"],"error":"Bad Request","statusCode":400}"#;

    #[test]
    fn too_many_requests_is_throttled_with_its_retry_after() {
        assert_eq!(
            classify_refusal(429, r#"{"message":"Rate limit exceeded"}"#, Some("30")),
            DialError::Throttled {
                reason: "Rate limit exceeded".into(),
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(
            classify_refusal(429, "", Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            DialError::Throttled {
                reason: "no message".into(),
                retry_after: None
            }
        );
    }

    #[test]
    fn a_concurrency_refusal_is_throttled() {
        let body = r#"{"status":"error","message":"account_concurrency_exceeded: Concurrency limit reached"}"#;
        assert!(matches!(
            classify_refusal(402, body, None),
            DialError::Throttled { .. }
        ));
    }

    #[test]
    fn a_refused_destination_is_an_invalid_number() {
        assert_eq!(
            classify_refusal(400, VAPI_BAD_NUMBER, None),
            DialError::InvalidNumber(
                "customer.number must be a valid phone number in the E.164 format".into()
            )
        );
        for body in [
            r#"{"status":"error","message":"Invalid to_number: not a valid E.164 number"}"#,
            r#"{"error_message":"Destination country not allowed"}"#,
            r#"{"message":"Retell numbers can only call US numbers"}"#,
            "unsupported destination number",
        ] {
            assert!(
                matches!(
                    classify_refusal(422, body, None),
                    DialError::InvalidNumber(_)
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_refusal_about_our_own_number_is_a_rejection() {
        for body in [
            r#"{"message":"from_number is not a valid number owned by this account"}"#,
            r#"{"message":["phoneNumberId must be a valid UUID"]}"#,
        ] {
            assert!(
                matches!(
                    classify_refusal(400, body, None),
                    DialError::Rejected { status: 400, .. }
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn other_client_errors_are_rejections_with_the_message() {
        assert_eq!(
            classify_refusal(401, r#"{"error":"Unauthorized","statusCode":401}"#, None),
            DialError::Rejected {
                status: 401,
                reason: "Unauthorized".into()
            }
        );
        assert_eq!(
            classify_refusal(404, "agent not found", None),
            DialError::Rejected {
                status: 404,
                reason: "agent not found".into()
            }
        );
    }

    #[test]
    fn server_errors_are_unavailable() {
        assert_eq!(
            classify_refusal(503, "<html>Service Unavailable</html>", None),
            DialError::Unavailable("<html>Service Unavailable</html>".into())
        );
        assert!(matches!(
            classify_refusal(500, VAPI_BAD_NUMBER, None),
            DialError::Unavailable(_)
        ));
    }

    #[test]
    fn phone_numbers_never_reach_the_reason() {
        let body = r#"{"message":"+1 (415) 555-0199 is not a valid number; 14155550199 either"}"#;
        let DialError::InvalidNumber(reason) = classify_refusal(400, body, None) else {
            panic!("not an invalid number");
        };
        assert_eq!(reason, "[number] is not a valid number; [number] either");
    }

    #[test]
    fn short_numbers_and_text_are_kept() {
        assert_eq!(
            mask_numbers("error 400 at +5 (v2.1)"),
            "error 400 at +5 (v2.1)"
        );
        assert_eq!(mask_numbers("call +919876543210."), "call [number].");
        assert_eq!(mask_numbers("ünïcödé 12"), "ünïcödé 12");
    }

    #[test]
    fn a_call_id_stays_one_path_segment() {
        assert_eq!(path_segment("call_4f1c9e2b"), "call_4f1c9e2b");
        assert_eq!(
            path_segment("5f1a3c2e-0000-4000-8000-000000000001"),
            "5f1a3c2e-0000-4000-8000-000000000001"
        );
        assert_eq!(path_segment("../x?y=1 é"), "..%2Fx%3Fy%3D1%20%C3%A9");
    }

    #[test]
    fn long_reasons_are_cut() {
        let reason = match classify_refusal(400, &"é".repeat(1000), None) {
            DialError::Rejected { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason.chars().count(), MAX_REASON_CHARS + 1);
        assert!(reason.ends_with('…'));
    }
}
