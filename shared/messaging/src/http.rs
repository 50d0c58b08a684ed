//! What sending to a provider's API has in common between the three
//! clients: sending one request with its timeout, reading the answer, and the
//! failures that do not depend on the provider (no answer, 429, 5xx).

use std::time::Duration;

use leadline_core::messaging::provider::{Refusal, SendFailure};
use reqwest::RequestBuilder;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::webhook::provider_text;

/// An HTTP answer of a provider.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `Retry-After` in its delay-seconds form (the HTTP-date form is ignored).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header(RETRY_AFTER.as_str())
            .and_then(parse_retry_after)
    }

    /// The failure every provider's answer means whatever its body says:
    /// 429 is [`SendFailure::RateLimited`], a 5xx [`SendFailure::Unavailable`].
    pub fn common_failure(&self, provider: &str) -> Option<SendFailure> {
        match self.status {
            429 => Some(SendFailure::RateLimited {
                retry_after: self.retry_after(),
            }),
            500..=599 => Some(SendFailure::Unavailable(format!(
                "{provider} answered {}: {}",
                self.status,
                provider_text(&self.body)
            ))),
            _ => None,
        }
    }
}

/// Sends a request with `timeout` and reads the answer; fails only when none
/// came: a timeout, a refused connection, DNS or TLS are all
/// [`SendFailure::Unavailable`]. A timeout leaves unknown whether the
/// provider took the message: a retry may send it twice (none of the three
/// APIs takes an idempotency key).
pub(crate) async fn send(
    provider: &'static str,
    request: RequestBuilder,
    timeout: Duration,
) -> Result<Answer, SendFailure> {
    let transport = |error: reqwest::Error| {
        if error.is_timeout() {
            SendFailure::Unavailable(format!(
                "no answer from {provider} within {} ms",
                timeout.as_millis()
            ))
        } else {
            SendFailure::Unavailable(format!(
                "could not reach {provider}: {}",
                error.without_url()
            ))
        }
    };
    let response = request.timeout(timeout).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.map_err(transport)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// Whether an account sid or a phone number id can stand as one URL path
/// segment as it is: ASCII letters and digits only (Twilio's `AC…` sids,
/// Meta's numeric ids), so that an odd value cannot reach another endpoint.
pub(crate) fn is_plain_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `Retry-After` in its delay-seconds form.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(Duration::from_secs)
}

/// A refusal with the provider's code and its words (redacted, cut).
pub(crate) fn refused(refusal: Refusal, code: impl Into<String>, detail: &str) -> SendFailure {
    SendFailure::Refused {
        refusal,
        code: code.into(),
        detail: provider_text(detail),
    }
}

/// A message leadline cannot send as it stands (no account, a channel
/// mismatch): refused before any request, with a `leadline.` code.
pub(crate) fn not_sendable(code: &'static str, detail: &str) -> SendFailure {
    SendFailure::Refused {
        refusal: Refusal::Rejected,
        code: format!("leadline.{code}"),
        detail: detail.to_owned(),
    }
}

/// A 2xx answer without the id of the message: the provider's answer cannot
/// be read, so the send is not known to have happened.
pub(crate) fn unreadable_success(provider: &str, status: u16, what: &str) -> SendFailure {
    SendFailure::Unavailable(format!("{provider} answered {status} without {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn only_plain_ids_go_into_a_path() {
        assert!(is_plain_id("AC0123abc"));
        assert!(is_plain_id("106540352242922"));
        for odd in ["", "..", "AC1/../x", "AC 1", "%2e"] {
            assert!(!is_plain_id(odd), "{odd}");
        }
    }
}
