//! SendGrid v3 (messaging-facts §3, provider-contracts §5.3): the mail-send
//! client (`POST /v3/mail/send`), the signed Event Webhook's check (ECDSA
//! P-256 / SHA-256 over `timestamp ‖ raw body`) and the reader of its JSON
//! array of events into [`StatusReport`]s.
//!
//! leadline's ids travel in the mail's `custom_args` (`leadline_tenant`,
//! `leadline_lead`, `leadline_message`) and come back as top-level fields of
//! every event, so an event needs no lookup. SendGrid takes no idempotency
//! key: the messenger dedupes on its message id before sending, and a retry
//! after a timeout may send twice (messaging-facts §0.8).

use std::time::Duration;

use data_encoding::BASE64;
use jiff::Timestamp;
use leadline_core::messaging::message::{Channel, Recipient};
use leadline_core::messaging::provider::{
    Accepted, Content, DeliveryStatus, Outgoing, Refusal, SendFailure, Sender, StatusReport,
};
use leadline_core::{LeadId, MessageId, TenantId};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ParseError;
use crate::http::{self, Answer, not_sendable, refused, unreadable_success};
use crate::signature::SignatureError;
use crate::webhook::{SkipReason, Skipped, provider_text, unix_seconds};

/// The header with the base64 DER ECDSA signature (lower-cased).
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// The header with the signing time, in Unix seconds (lower-cased).
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// How far the signing time may be from our clock, either way. SendGrid
/// documents no window; 300 s is what other libraries apply (messaging-facts
/// §3.2) and what leadline applies to Retell and Stripe. A delivery SendGrid
/// retries is signed anew, so a replay of an old one is refused, not a retry.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(300);

/// The `custom_args` names leadline's ids travel under.
pub const TENANT_ARG: &str = "leadline_tenant";
pub const LEAD_ARG: &str = "leadline_lead";
pub const MESSAGE_ARG: &str = "leadline_message";

/// Checks a signed Event Webhook delivery: `signature_b64_der` (the
/// [`SIGNATURE_HEADER`]) is an ECDSA P-256 / SHA-256 signature, base64 of
/// its DER form, of the [`TIMESTAMP_HEADER`] value followed by the raw body,
/// under the webhook's verification key (`public_key_b64_der`: base64 of
/// the DER SubjectPublicKeyInfo, as SendGrid shows it; PEM armour and
/// line breaks are tolerated). The timestamp must be within `tolerance` of
/// `now` either way (use [`REPLAY_WINDOW`]).
pub fn verify_event_signature(
    public_key_b64_der: &str,
    signature_b64_der: &str,
    timestamp: &str,
    raw_body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let key = verifying_key(public_key_b64_der)?;
    let signed_at = timestamp
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| timestamp.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| SignatureError::malformed(TIMESTAMP_HEADER, "not whole Unix seconds"))?;
    check_freshness(signed_at, now.as_second(), tolerance)?;
    let der = BASE64
        .decode(signature_b64_der.trim().as_bytes())
        .map_err(|_| SignatureError::malformed(SIGNATURE_HEADER, "not base64"))?;
    let signature = Signature::from_der(&der)
        .map_err(|_| SignatureError::malformed(SIGNATURE_HEADER, "not a DER ECDSA signature"))?;
    let signed = [timestamp.as_bytes(), raw_body].concat();
    key.verify(&signed, &signature)
        .map_err(|_| SignatureError::Mismatch)
}

fn verifying_key(public_key: &str) -> Result<VerifyingKey, SignatureError> {
    let base64: String = public_key
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = BASE64
        .decode(base64.as_bytes())
        .map_err(|_| SignatureError::InvalidKey("the SendGrid public key is not base64"))?;
    VerifyingKey::from_public_key_der(&der).map_err(|_| {
        SignatureError::InvalidKey("the SendGrid public key is not a DER P-256 public key")
    })
}

fn check_freshness(signed_at: i64, now: i64, tolerance: Duration) -> Result<(), SignatureError> {
    let skew = now.abs_diff(signed_at);
    if skew <= tolerance.as_secs() {
        Ok(())
    } else if signed_at < now {
        Err(SignatureError::Stale { age_secs: skew })
    } else {
        Err(SignatureError::FromTheFuture { ahead_secs: skew })
    }
}

/// What one Event Webhook delivery told: a report per event about a message
/// leadline sent, and the events left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    pub reports: Vec<StatusReport>,
    pub skipped: Vec<Skipped>,
}

/// Reads the JSON array of events:
///
/// | `event` | status | `suppresses` |
/// |---|---|---|
/// | `processed` | queued | |
/// | `delivered` | delivered | |
/// | `open`, `click` | read | |
/// | `bounce` (`type` bounce) | failed | `bounce` |
/// | `bounce` with `type` blocked, `blocked` | failed | (a block is temporary) |
/// | `dropped` | failed | `dropped` |
/// | `spamreport`, `unsubscribe`, `group_unsubscribe` | delivered (they imply it; a later status stays) | the event |
/// | `deferred`, `group_resubscribe`, others | skipped | |
///
/// Events without leadline's `custom_args` are skipped as
/// [`SkipReason::NotOurs`]; an event without a timestamp as malformed. The
/// dedupe key is `sendgrid#<our message id>#<event>#<timestamp>`, since
/// `sg_event_id` changes when SendGrid retries (messaging-facts §0.6). The
/// provider id is `sg_message_id` up to its first `.` (the `X-Message-Id`
/// the send returned; empty when the event has none). A body that is not a
/// JSON array is a [`ParseError`].
pub fn parse_events(raw_body: &[u8]) -> Result<EventBatch, ParseError> {
    let events: Vec<Value> = serde_json::from_slice(raw_body).map_err(|e| ParseError::json(&e))?;
    let mut batch = EventBatch::default();
    for event in &events {
        match read_event(event) {
            Ok(report) => batch.reports.push(report),
            Err(skipped) => batch.skipped.push(skipped),
        }
    }
    Ok(batch)
}

fn read_event(event: &Value) -> Result<StatusReport, Skipped> {
    let Some(fields) = event.as_object() else {
        return Err(skipped(
            None,
            SkipReason::Malformed("an event that is not an object"),
        ));
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    let provider_id = text("sg_message_id")
        .map(|id| id.split('.').next().unwrap_or(id).to_owned())
        .filter(|id| !id.is_empty());
    let skip = |reason| skipped(provider_id.clone(), reason);
    let Some(kind) = text("event").filter(|kind| !kind.is_empty()) else {
        return Err(skip(SkipReason::Malformed("event")));
    };
    let (status, suppresses) = match kind {
        "processed" => (DeliveryStatus::Queued, None),
        "delivered" => (DeliveryStatus::Delivered, None),
        "open" | "click" => (DeliveryStatus::Read, None),
        "bounce" if text("type") == Some("blocked") => (DeliveryStatus::Failed, None),
        "blocked" => (DeliveryStatus::Failed, None),
        "bounce" | "dropped" => (DeliveryStatus::Failed, Some(kind)),
        "spamreport" | "unsubscribe" | "group_unsubscribe" => {
            (DeliveryStatus::Delivered, Some(kind))
        }
        other => return Err(skip(SkipReason::Ignored(format!("the event {other:?}")))),
    };
    let Some(ours) = our_ids(fields) else {
        return Err(skip(SkipReason::NotOurs));
    };
    let Some(at) = fields.get("timestamp").and_then(unix_seconds) else {
        return Err(skip(SkipReason::Malformed("timestamp")));
    };
    let error = (status == DeliveryStatus::Failed)
        .then(|| text("status").or(text("reason")))
        .flatten()
        .filter(|e| !e.trim().is_empty())
        .map(provider_text);
    Ok(StatusReport {
        channel: Channel::Email,
        provider_id: provider_id.unwrap_or_default(),
        dedupe: format!("sendgrid#{}#{kind}#{}", ours.2, at.as_second()),
        ours: Some(ours),
        status,
        error,
        at,
        suppresses: suppresses.map(str::to_owned),
        sender: None,
    })
}

fn our_ids(fields: &Map<String, Value>) -> Option<(TenantId, LeadId, MessageId)> {
    let text = |name: &str| fields.get(name).and_then(Value::as_str);
    Some((
        TenantId::parse(text(TENANT_ARG)?).ok()?,
        LeadId::parse(text(LEAD_ARG)?).ok()?,
        MessageId::parse(text(MESSAGE_ARG)?).ok()?,
    ))
}

fn skipped(provider_id: Option<String>, reason: SkipReason) -> Skipped {
    Skipped {
        provider_id,
        reason,
    }
}

/// Sends email through any SendGrid account (its API key comes with each send).
#[derive(Clone, Debug)]
pub struct SendgridClient {
    http: reqwest::Client,
    base_url: String,
    timeout: Duration,
}

#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct MailSend<'a> {
    personalizations: [Personalization<'a>; 1],
    from: Address<'a>,
    subject: &'a str,
    content: [MailContent<'a>; 1],
    custom_args: CustomArgs<'a>,
}

#[derive(Debug, PartialEq, Serialize)]
struct Personalization<'a> {
    to: [Address<'a>; 1],
}

#[derive(Debug, PartialEq, Serialize)]
struct Address<'a> {
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(Debug, PartialEq, Serialize)]
struct MailContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a str,
}

#[derive(Debug, PartialEq, Serialize)]
struct CustomArgs<'a> {
    leadline_tenant: &'a str,
    leadline_lead: &'a str,
    leadline_message: &'a str,
}

/// SendGrid's error body: `{"errors":[{"message","field","help"}]}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

impl SendgridClient {
    pub const DEFAULT_BASE_URL: &str = "https://api.sendgrid.com";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// `http` is shared and built once by the caller; its own timeout, if
    /// any, is overridden per request by [`Self::with_timeout`]'s.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Another API root (`https://api.eu.sendgrid.com`, the simulator's).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `outgoing` (a subject and a plain-text body to an address) with
    /// `api_key`. Accepted (202) with SendGrid's `X-Message-Id`, queued.
    pub async fn send(&self, api_key: &str, outgoing: &Outgoing) -> Result<Accepted, SendFailure> {
        let body = mail_send(outgoing)?;
        let request = self
            .http
            .post(format!("{}/v3/mail/send", self.base_url))
            .bearer_auth(api_key)
            .json(&body);
        let answer = http::send("sendgrid", request, self.timeout).await?;
        accepted(&answer).inspect_err(|failure| {
            tracing::warn!(
                provider = "sendgrid",
                message = %outgoing.message,
                status = answer.status,
                error = %failure,
                "SendGrid did not take the message"
            );
        })
    }
}

/// The mail-send request for `outgoing`.
pub(crate) fn mail_send(outgoing: &Outgoing) -> Result<MailSend<'_>, SendFailure> {
    let Recipient::Email(to) = &outgoing.to else {
        return Err(not_sendable(
            "recipient",
            "an email goes to an address, not a phone number",
        ));
    };
    let Sender::Email { from, name } = &outgoing.sender else {
        return Err(not_sendable(
            "sender",
            "an email goes from a SendGrid sender",
        ));
    };
    let (subject, body) = match &outgoing.content {
        Content::Text {
            subject: Some(subject),
            body,
        } if !subject.trim().is_empty() => (subject, body),
        Content::Text { .. } => {
            return Err(not_sendable("email_subject", "an email needs a subject"));
        }
        Content::Template { .. } => {
            return Err(not_sendable(
                "template_on_email",
                "a WhatsApp template cannot be sent as an email",
            ));
        }
    };
    Ok(MailSend {
        personalizations: [Personalization {
            to: [Address {
                email: to.expose(),
                name: None,
            }],
        }],
        from: Address {
            email: from.expose(),
            name: name.as_deref(),
        },
        subject,
        content: [MailContent {
            kind: "text/plain",
            value: body,
        }],
        custom_args: CustomArgs {
            leadline_tenant: outgoing.tenant.as_str(),
            leadline_lead: outgoing.lead.as_str(),
            leadline_message: outgoing.message.as_str(),
        },
    })
}

fn accepted(answer: &Answer) -> Result<Accepted, SendFailure> {
    if !answer.is_success() {
        return Err(classify(answer));
    }
    let provider_id = answer
        .header("x-message-id")
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| unreadable_success("SendGrid", answer.status, "an X-Message-Id"))?;
    Ok(Accepted {
        provider_id: provider_id.to_owned(),
        status: DeliveryStatus::Queued,
    })
}

/// Sorts a refused mail send: 429 rate limited, a 5xx unavailable; a 4xx
/// whose error names a recipient's address (`personalizations.N.to.N.email`)
/// is [`Refusal::InvalidAddress`], any other [`Refusal::Rejected`] (a bad
/// key, an unverified sender, a body SendGrid refuses). SendGrid's errors
/// have no code: the code is the HTTP status; the detail its messages, each
/// with its field.
fn classify(answer: &Answer) -> SendFailure {
    if let Some(failure) = answer.common_failure("SendGrid") {
        return failure;
    }
    let errors = serde_json::from_str::<ErrorBody>(&answer.body)
        .map(|body| body.errors)
        .unwrap_or_default();
    let about_recipient = errors.iter().any(|error| {
        error.field.as_deref().is_some_and(|field| {
            field.starts_with("personalizations")
                && field.contains(".to")
                && field.ends_with("email")
        })
    });
    let detail = if errors.is_empty() {
        answer.body.clone()
    } else {
        errors
            .iter()
            .map(|error| match (&error.message, &error.field) {
                (Some(message), Some(field)) => format!("{message} ({field})"),
                (Some(message), None) => message.clone(),
                (None, Some(field)) => format!("({field})"),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let refusal = if about_recipient {
        Refusal::InvalidAddress
    } else {
        Refusal::Rejected
    };
    refused(refusal, answer.status.to_string(), &detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadline_core::Email;
    use leadline_core::messaging::provider::Account;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    fn outgoing(content: Content) -> Outgoing {
        Outgoing {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[1; 15]),
            message: MessageId::from_bytes(&[2; 15]),
            account: Account::Deployment,
            sender: Sender::Email {
                from: Email::parse("hello@acme.example").unwrap(),
                name: Some("Acme Roofing".into()),
            },
            to: Email::parse("ana@example.com").unwrap().into(),
            content,
        }
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    #[test]
    fn the_mail_carries_our_ids_in_custom_args() {
        let outgoing = outgoing(Content::Text {
            subject: Some("Your appointment".into()),
            body: "See you Tuesday".into(),
        });
        let body = serde_json::to_value(mail_send(&outgoing).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "personalizations": [{"to": [{"email": "ana@example.com"}]}],
                "from": {"email": "hello@acme.example", "name": "Acme Roofing"},
                "subject": "Your appointment",
                "content": [{"type": "text/plain", "value": "See you Tuesday"}],
                "custom_args": {
                    "leadline_tenant": "acme",
                    "leadline_lead": outgoing.lead.as_str(),
                    "leadline_message": outgoing.message.as_str()
                }
            })
        );
    }

    #[test]
    fn an_email_without_a_subject_is_not_sent() {
        let outgoing = outgoing(Content::Text {
            subject: None,
            body: "Hi".into(),
        });
        assert!(matches!(
            mail_send(&outgoing),
            Err(SendFailure::Refused { code, .. }) if code == "leadline.email_subject"
        ));
    }

    #[test]
    fn an_error_about_the_recipient_is_an_invalid_address() {
        let body = r#"{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.0.to.0.email","help":"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message.personalizations.to"}]}"#;
        assert_eq!(
            classify(&answer(400, body)),
            SendFailure::Refused {
                refusal: Refusal::InvalidAddress,
                code: "400".into(),
                detail: "Does not contain a valid address. (personalizations.0.to.0.email)".into()
            }
        );
        let body = r#"{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}"#;
        assert!(matches!(
            classify(&answer(403, body)),
            SendFailure::Refused {
                refusal: Refusal::Rejected,
                ..
            }
        ));
    }

    #[test]
    fn freshness_is_checked_both_ways() {
        let window = Duration::from_secs(300);
        assert_eq!(check_freshness(1000, 1300, window), Ok(()));
        assert_eq!(check_freshness(1300, 1000, window), Ok(()));
        assert_eq!(
            check_freshness(1000, 1301, window),
            Err(SignatureError::Stale { age_secs: 301 })
        );
        assert_eq!(
            check_freshness(1301, 1000, window),
            Err(SignatureError::FromTheFuture { ahead_secs: 301 })
        );
    }
}
