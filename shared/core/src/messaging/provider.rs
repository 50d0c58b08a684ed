//! What leadline and a messaging provider (Twilio SMS, SendGrid, the
//! WhatsApp Cloud API) say to each other, in provider-neutral terms. The
//! adapters (`leadline-messaging`) turn an [`Outgoing`] message into the
//! provider's request, its answer into [`Accepted`] or a [`SendFailure`],
//! and its webhooks into [`Inbound`] messages and [`StatusReport`]s.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::kernel::email::Email;
use crate::kernel::ids::{LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::messaging::message::{Channel, Recipient};

/// Whose provider account a message goes through: the deployment's (in
/// Secrets Manager, like Retell's and Vapi's) or one a tenant brought,
/// stored in Secrets Manager under its tenant id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "account", content = "tenant", rename_all = "snake_case")]
pub enum Account {
    Deployment,
    Tenant(TenantId),
}

/// Where a message comes from: a tenant's sender on its channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sender {
    /// A Twilio number (`From`).
    TwilioNumber { number: Phone },
    /// A Twilio Messaging Service (`MessagingServiceSid`, `MG…`).
    TwilioService { sid: String },
    /// A SendGrid verified sender.
    Email { from: Email, name: Option<String> },
    /// A WhatsApp Business phone number (`phone_number_id`).
    Whatsapp { phone_number_id: String },
}

impl Sender {
    pub fn channel(&self) -> Channel {
        match self {
            Sender::TwilioNumber { .. } | Sender::TwilioService { .. } => Channel::Sms,
            Sender::Email { .. } => Channel::Email,
            Sender::Whatsapp { .. } => Channel::Whatsapp,
        }
    }

    /// A key naming the sender for its rate limit (no personal data: a
    /// tenant's own number is not a lead's).
    pub fn pace_key(&self) -> String {
        match self {
            Sender::TwilioNumber { number } => format!("sms:{}", number.e164()),
            Sender::TwilioService { sid } => format!("sms:{sid}"),
            Sender::Email { from, .. } => format!("email:{}", from.expose()),
            Sender::Whatsapp { phone_number_id } => format!("whatsapp:{phone_number_id}"),
        }
    }
}

/// What a message says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// Free text (SMS body, WhatsApp text inside the service window, an
    /// email's subject and plain-text body).
    Text {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        body: String,
    },
    /// An approved WhatsApp template: its body parameters in order, and the
    /// payloads of its quick-reply buttons in order.
    Template {
        name: String,
        language: String,
        #[serde(default)]
        params: Vec<String>,
        #[serde(default)]
        buttons: Vec<String>,
    },
}

/// A message ready for its provider: rendered and addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub tenant: TenantId,
    pub lead: LeadId,
    pub message: MessageId,
    pub account: Account,
    pub sender: Sender,
    pub to: Recipient,
    pub content: Content,
}

/// Where a message stands at its provider. Ordered: a status only moves to a
/// later one ([`DeliveryStatus::rank`]), whatever order reports arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Undelivered,
    Failed,
}

impl DeliveryStatus {
    /// queued < sent < delivered | undelivered | failed < read. Reports of
    /// equal rank keep the first: a message delivered does not become failed.
    pub fn rank(&self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered | DeliveryStatus::Undelivered | DeliveryStatus::Failed => 2,
            DeliveryStatus::Read => 3,
        }
    }
}

/// The provider took the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Twilio's `SM…` sid, SendGrid's `X-Message-Id`, WhatsApp's `wamid.…`.
    pub provider_id: String,
    pub status: DeliveryStatus,
}

/// Why the provider refused a message for good: sending it again would be
/// refused again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The recipient opted out at the provider (Twilio 21610).
    OptedOut,
    /// Not a number or address the provider can reach (Twilio 21211, 21614).
    InvalidAddress,
    /// Free text to a WhatsApp user outside the 24-hour window (131047).
    OutsideWindow,
    /// The number is not on WhatsApp (131026).
    NotOnWhatsapp,
    /// The provider refused the request as it stands (an unknown template,
    /// a bad sender, bad credentials): an operator must fix it.
    Rejected,
}

/// A send that did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    /// 429: try again after the provider's `Retry-After` (when it said one).
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, a timeout, the provider unreachable: try again later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// Refused for good, with the provider's code and words.
    #[error("refused by the provider ({code}): {detail}")]
    Refused {
        refusal: Refusal,
        code: String,
        detail: String,
    },
}

/// Sends messages through the providers.
#[async_trait]
pub trait MessageProvider: Send + Sync {
    async fn send(&self, outgoing: &Outgoing) -> Result<Accepted, SendFailure>;
}

/// A provider's report on a message leadline sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusReport {
    pub channel: Channel,
    /// The provider's id of the message.
    pub provider_id: String,
    /// Our ids, when the provider carries them back (Twilio's status
    /// callback URL, SendGrid's `custom_args`); WhatsApp's must be looked up.
    pub ours: Option<(TenantId, LeadId, MessageId)>,
    pub status: DeliveryStatus,
    /// The provider's error code, on failure.
    pub error: Option<String>,
    pub at: Timestamp,
    /// For email: the address stops receiving mail (bounce, blocked,
    /// dropped, spam report, unsubscribe).
    pub suppresses: Option<String>,
    /// The provider's dedupe key for this report.
    pub dedupe: String,
    /// The tenant's sender the message went from, when the report names it
    /// (WhatsApp's phone number id): the tenant is found from it.
    pub sender: Option<InboundAddress>,
}

/// A message a lead sent to one of a tenant's senders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub channel: Channel,
    /// The provider's message id (Twilio `MessageSid`, WhatsApp `wamid.…`): the dedupe key.
    pub provider_id: String,
    pub from: Phone,
    /// The tenant's number or WhatsApp phone number id that received it:
    /// the tenant is resolved from this, never from the text.
    pub to: InboundAddress,
    pub body: String,
    /// A WhatsApp quick-reply button's payload, when the lead pressed one.
    pub button: Option<String>,
    /// Twilio's Advanced Opt-Out `OptOutType` (STOP, START, HELP), when sent.
    pub opt_out_type: Option<String>,
    pub at: Timestamp,
    /// Extra provider fields kept with the conversation (not logged).
    pub extra: BTreeMap<String, String>,
}

/// The receiving end of an inbound message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InboundAddress {
    /// A Twilio number (SMS).
    Number(Phone),
    /// A Twilio Messaging Service (`MG…`), whose numbers send for a tenant.
    MessagingService(String),
    /// A WhatsApp Business phone number id.
    WhatsappNumber(String),
}

impl InboundAddress {
    /// The key the sender is claimed under.
    pub fn key(&self) -> String {
        match self {
            InboundAddress::Number(number) => format!("sms#{}", number.e164()),
            InboundAddress::MessagingService(sid) => format!("sms#{sid}"),
            InboundAddress::WhatsappNumber(id) => format!("whatsapp#{id}"),
        }
    }
}
