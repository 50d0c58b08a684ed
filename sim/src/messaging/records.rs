//! What the simulated messaging providers saw and did, for tests to inspect:
//! messages, send requests, webhook deliveries and per-sender statistics.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Channel;
use crate::records::{DeliveryResult, max_within_one_second};

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Sent by the backend through the API.
    Outbound,
    /// Sent by the lead (a scripted reply or `/_sim/…/inbound`).
    Inbound,
    /// Twilio's own answer to an opt-out, opt-in or help keyword; never
    /// posted to the backend.
    AutoReply,
}

/// One status a message reached, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusChange {
    pub status: String,
    pub at: Timestamp,
    /// Twilio `ErrorCode`, Meta `errors[].code`.
    pub error_code: Option<i64>,
}

/// A quick-reply (or URL) button of a WhatsApp template.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateButton {
    pub index: String,
    pub sub_type: String,
    /// The `payload` (quick reply) or `text` (URL) parameter.
    pub payload: Option<String>,
}

/// A WhatsApp template as sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TemplateRecord {
    pub name: String,
    pub language: String,
    /// The body's text parameters, in order.
    pub parameters: Vec<String>,
    pub buttons: Vec<TemplateButton>,
    pub components: Value,
}

/// One message, outbound (per recipient for email), inbound or Twilio's
/// automatic reply.
#[derive(Clone, Debug, Serialize)]
pub struct MessageRecord {
    pub seq: usize,
    pub channel: Channel,
    pub direction: Direction,
    /// The provider's id: Twilio `SM…`, SendGrid `X-Message-Id`, WhatsApp `wamid.…`.
    pub id: String,
    /// The lead's address (E.164, or the lowercased email), whichever way the
    /// message went: what `?to=` matches.
    pub lead: String,
    /// Twilio: the account sid; WhatsApp: the business phone_number_id.
    pub account: Option<String>,
    /// Who sent it on the business side: the `From` number or the Messaging
    /// Service sid, the `from` email, the WhatsApp phone_number_id.
    pub sender: String,
    /// The address it came from (a Messaging Service's number, the lead's...).
    pub from: String,
    pub to: String,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    /// Twilio `ContentSid`.
    pub content_sid: Option<String>,
    pub template: Option<TemplateRecord>,
    /// Email.
    pub subject: Option<String>,
    pub content: Vec<Value>,
    pub template_id: Option<String>,
    pub categories: Vec<String>,
    /// SendGrid `custom_args`, the personalization's over the message's.
    pub custom_args: Map<String, Value>,
    /// Twilio `StatusCallback`.
    pub status_callback: Option<String>,
    /// The lead's scripted behaviour that played: `undeliverable`, `failed`,
    /// `bounce`, ... (none: delivered).
    pub scripted: Option<String>,
    /// The latest status.
    pub status: String,
    pub timeline: Vec<StatusChange>,
    /// Whether the lead is opted out of this sender now (Twilio: it texted a
    /// stop keyword; email: bounce, dropped, spam report or unsubscribe).
    pub opted_out: bool,
    pub at: Timestamp,
}

/// One send request (accepted or not) and how it was answered.
#[derive(Clone, Debug, Serialize)]
pub struct SendRecord {
    pub seq: usize,
    pub channel: Channel,
    pub received_at: Timestamp,
    pub account: Option<String>,
    pub sender: Option<String>,
    /// The lead's address the request named (SendGrid: the first `to`).
    pub to: Option<String>,
    /// The HTTP status answered.
    pub status: u16,
    /// Twilio `code`, Meta `error.code`; none for SendGrid and successes.
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
    /// The accepted message's id (also when a forced `after_accept` answer
    /// hid it from the client).
    pub message_id: Option<String>,
    pub accepted: bool,
    /// Answered by a forced fault.
    pub forced: bool,
    /// The request: JSON, or for Twilio the form as an object (a repeated
    /// parameter as an array).
    pub body: Value,
    /// The `Retry-After` answered, in seconds.
    pub retry_after: Option<u64>,
    #[serde(skip)]
    pub(crate) at_ms: u64,
}

/// What a webhook delivery was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    /// Twilio status callback, WhatsApp `statuses`.
    Status,
    /// SendGrid Event Webhook.
    Event,
    /// A message from the lead (Twilio inbound SMS, WhatsApp `messages`).
    Inbound,
}

/// One messaging webhook POST (or one not sent).
#[derive(Clone, Debug, Serialize)]
pub struct MessagingDeliveryRecord {
    pub seq: usize,
    pub channel: Channel,
    pub kind: WebhookKind,
    /// The message it is about.
    pub message_id: String,
    pub lead: String,
    /// `sent`, `delivered`, `processed`, `inbound`, ...
    pub event: String,
    /// 1, or 2 for the second copy under the `duplicate` fault.
    pub copy: u8,
    pub at: Timestamp,
    pub url: Option<String>,
    /// The headers sent: content type and signature.
    pub headers: BTreeMap<String, String>,
    /// The body sent.
    pub body: String,
    /// The receiver's answer.
    pub status: Option<u16>,
    pub response_content_type: Option<String>,
    pub response_body: Option<String>,
    pub result: DeliveryResult,
    pub elapsed_ms: u64,
}

/// Which records a query wants; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageFilter {
    pub channel: Option<Channel>,
    /// The lead's address (E.164 or email, any case).
    pub to: Option<String>,
    /// A provider message id.
    pub id: Option<String>,
}

impl MessageFilter {
    pub fn to(address: &str) -> Self {
        MessageFilter {
            to: Some(address.to_owned()),
            ..MessageFilter::default()
        }
    }

    pub fn channel(channel: Channel) -> Self {
        MessageFilter {
            channel: Some(channel),
            ..MessageFilter::default()
        }
    }

    pub fn id(id: &str) -> Self {
        MessageFilter {
            id: Some(id.to_owned()),
            ..MessageFilter::default()
        }
    }

    pub fn and_channel(self, channel: Channel) -> Self {
        MessageFilter {
            channel: Some(channel),
            ..self
        }
    }

    pub(crate) fn matches(&self, channel: Channel, lead: Option<&str>, id: Option<&str>) -> bool {
        self.channel.is_none_or(|c| c == channel)
            && self
                .to
                .as_deref()
                .is_none_or(|to| lead.is_some_and(|lead| lead.eq_ignore_ascii_case(to)))
            && self.id.as_deref().is_none_or(|i| Some(i) == id)
    }
}

/// One sender's sends: what a test measures a rate limit with.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SenderStats {
    pub channel: Option<Channel>,
    /// Send requests naming this sender.
    pub requests: usize,
    pub accepted: usize,
    /// Answered 429 by the rate limit (forced 429s are not counted).
    pub rate_limited: usize,
    pub first_accept_at: Option<Timestamp>,
    pub last_accept_at: Option<Timestamp>,
    /// (accepted − 1) / seconds between the first and the last acceptance.
    pub accepted_per_second: Option<f64>,
    /// The most acceptances within any one real second.
    pub max_accepted_in_one_second: usize,
}

/// Counts over the send requests a filter selects.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MessagingStats {
    pub requests: usize,
    pub accepted: usize,
    /// Refused requests by HTTP status.
    pub rejected_by_status: BTreeMap<u16, usize>,
    /// Refused requests by provider error code.
    pub rejected_by_code: BTreeMap<i64, usize>,
    /// By sender (`From` number, Messaging Service sid, from email, phone_number_id).
    pub senders: BTreeMap<String, SenderStats>,
}

impl MessagingStats {
    pub(crate) fn of<'a>(requests: impl IntoIterator<Item = &'a SendRecord>) -> MessagingStats {
        let mut stats = MessagingStats::default();
        let mut accepts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for request in requests {
            stats.requests += 1;
            if request.accepted {
                stats.accepted += 1;
            } else {
                *stats.rejected_by_status.entry(request.status).or_default() += 1;
                if let Some(code) = request.error_code {
                    *stats.rejected_by_code.entry(code).or_default() += 1;
                }
            }
            let Some(sender) = &request.sender else {
                continue;
            };
            let entry = stats.senders.entry(sender.clone()).or_default();
            entry.channel = Some(request.channel);
            entry.requests += 1;
            if request.accepted {
                entry.accepted += 1;
                entry.first_accept_at.get_or_insert(request.received_at);
                entry.last_accept_at = Some(request.received_at);
                accepts
                    .entry(sender.clone())
                    .or_default()
                    .push(request.at_ms);
            } else if request.status == 429 && !request.forced {
                entry.rate_limited += 1;
            }
        }
        for (sender, mut times) in accepts {
            times.sort_unstable();
            let entry = stats.senders.get_mut(&sender).expect("counted above");
            entry.max_accepted_in_one_second = max_within_one_second(&times);
            let span_ms = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
            if times.len() > 1 && span_ms > 0 {
                entry.accepted_per_second =
                    Some((times.len() - 1) as f64 * 1000.0 / span_ms as f64);
            }
        }
        stats
    }
}
