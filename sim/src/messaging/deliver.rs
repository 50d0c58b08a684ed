//! The messaging providers' webhooks: signed as each provider signs them,
//! posted once (or twice, or not at all, as the faults say), and recorded
//! with the receiver's answer; and a message's statuses played on timers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::header::CONTENT_TYPE;
use jiff::Timestamp;
use tokio::time::sleep_until;
use tracing::{debug, warn};

use super::records::{MessagingDeliveryRecord, WebhookKind};
use super::{Channel, form};
use crate::faults::DeliveryFaults;
use crate::ids::sendgrid_id;
use crate::records::DeliveryResult;
use crate::state::SimControl;
use crate::{sendgrid, twilio, whatsapp};

/// How long the providers wait for the receiver (Twilio: 15 s), scaled.
const TIMEOUT_SECONDS: f64 = 15.0;
/// The most of a receiver's answer kept in the records.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a webhook carries.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    /// Twilio: form parameters, signed with the account's Auth Token.
    Twilio {
        params: Vec<(String, String)>,
        auth_token: String,
    },
    /// SendGrid's Event Webhook: a JSON array, signed with ECDSA.
    SendGrid(Vec<u8>),
    /// WhatsApp: JSON, signed with the app secret.
    Whatsapp(Vec<u8>),
}

/// One webhook to send.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub channel: Channel,
    pub kind: WebhookKind,
    pub message_id: String,
    pub lead: String,
    pub event: String,
    /// Where it goes; none: the channel's webhook URL at sending time.
    pub url: Option<String>,
    pub payload: Payload,
}

impl Outgoing {
    /// The body, and the headers that show it comes from the provider.
    fn encode(&self, control: &SimControl, url: &str) -> (Vec<u8>, BTreeMap<String, String>) {
        let config = control.config();
        let mut headers = BTreeMap::new();
        let body = match &self.payload {
            Payload::Twilio { params, auth_token } => {
                let body = form::encode(params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
                headers.insert(
                    "content-type".into(),
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                );
                headers.insert(
                    "x-twilio-signature".into(),
                    twilio::signature(auth_token, url, params),
                );
                headers.insert("user-agent".into(), "TwilioProxy/1.1".into());
                body.into_bytes()
            }
            Payload::SendGrid(body) => {
                let timestamp = Timestamp::now().as_second().to_string();
                let signature =
                    sendgrid::signature(&config.sendgrid_signing_seed, &timestamp, body);
                headers.insert("content-type".into(), "application/json".into());
                headers.insert(sendgrid::SIGNATURE_HEADER.into(), signature);
                headers.insert(sendgrid::TIMESTAMP_HEADER.into(), timestamp);
                headers.insert("user-agent".into(), "SendGrid Event API".into());
                body.clone()
            }
            Payload::Whatsapp(body) => {
                headers.insert("content-type".into(), "application/json".into());
                headers.insert(
                    "x-hub-signature-256".into(),
                    whatsapp::signature(&config.whatsapp_app_secret, body),
                );
                headers.insert("user-agent".into(), "facebookexternalua".into());
                body.clone()
            }
        };
        (body, headers)
    }

    fn record(&self, copy: u8) -> MessagingDeliveryRecord {
        MessagingDeliveryRecord {
            seq: 0,
            channel: self.channel,
            kind: self.kind,
            message_id: self.message_id.clone(),
            lead: self.lead.clone(),
            event: self.event.clone(),
            copy,
            at: Timestamp::now(),
            url: None,
            headers: BTreeMap::new(),
            body: String::new(),
            status: None,
            response_content_type: None,
            response_body: None,
            result: DeliveryResult::NoWebhookUrl,
            elapsed_ms: 0,
        }
    }
}

/// The delivery faults in force for webhooks about `lead` on `channel`.
pub(crate) fn faults(control: &SimControl, channel: Channel, lead: &str) -> DeliveryFaults {
    control.messaging().faults.get(channel).webhooks_for(lead)
}

/// Sends `webhook` as the faults say (`drop`: not at all; `duplicate`:
/// twice), records each POST, and returns once done. `last`: the final
/// status of a message, which `drop_final` swallows.
pub(crate) async fn deliver(control: &SimControl, generation: u64, webhook: &Outgoing, last: bool) {
    let faults = faults(control, webhook.channel, &webhook.lead);
    let status_like = webhook.kind != WebhookKind::Inbound;
    if faults.drop || (faults.drop_final && last && status_like) {
        debug!(message_id = %webhook.message_id, event = %webhook.event, "dropped by fault");
        let record = MessagingDeliveryRecord {
            result: DeliveryResult::Dropped,
            ..webhook.record(1)
        };
        control.messaging().log_delivery(generation, record);
        return;
    }
    tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    let copies = if faults.duplicate { 2 } else { 1 };
    // Twilio marks a delivery and its copies with one idempotency token.
    let token = sendgrid_id();
    for copy in 1..=copies {
        post(control, generation, webhook, copy, &token).await;
    }
}

async fn post(control: &SimControl, generation: u64, webhook: &Outgoing, copy: u8, token: &str) {
    let url = webhook
        .url
        .clone()
        .or_else(|| control.messaging().webhook_url(webhook.channel));
    let Some(url) = url else {
        control
            .messaging()
            .log_delivery(generation, webhook.record(copy));
        return;
    };
    let (body, mut headers) = webhook.encode(control, &url);
    if webhook.channel == Channel::Sms {
        headers.insert("i-twilio-idempotency-token".into(), token.to_owned());
    }
    let mut request = control
        .http()
        .post(&url)
        .timeout(control.config().webhook_timeout(TIMEOUT_SECONDS))
        .body(body.clone());
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let started = Instant::now();
    let mut record = MessagingDeliveryRecord {
        url: Some(url.clone()),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        ..webhook.record(copy)
    };
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            record.status = Some(status.as_u16());
            record.result = if status.is_success() {
                DeliveryResult::Delivered
            } else {
                DeliveryResult::Refused
            };
            record.response_content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let answer = response.bytes().await.unwrap_or_default();
            let kept = &answer[..answer.len().min(MAX_ANSWER_BYTES)];
            record.response_body = Some(String::from_utf8_lossy(kept).into_owned());
        }
        Err(e) if e.is_timeout() => record.result = DeliveryResult::Timeout,
        Err(e) => {
            warn!(%url, "messaging webhook failed: {e}");
            record.result = DeliveryResult::Unreachable;
        }
    }
    record.elapsed_ms = started.elapsed().as_millis() as u64;
    debug!(
        channel = %webhook.channel, message_id = %webhook.message_id, event = %webhook.event,
        copy, status = ?record.status, result = ?record.result, "messaging webhook"
    );
    control.messaging().log_delivery(generation, record);
}

/// One status of a message, at scripted seconds after its acceptance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Step {
    pub at: f64,
    pub status: String,
    pub error_code: Option<i64>,
}

impl Step {
    pub(crate) fn new(at: f64, status: &str) -> Self {
        Step {
            at,
            status: status.to_owned(),
            error_code: None,
        }
    }

    pub(crate) fn failing(at: f64, status: &str, code: i64) -> Self {
        Step {
            error_code: Some(code),
            ..Step::new(at, status)
        }
    }
}

/// Moves a message through `steps` on timers and sends the webhook
/// `webhook` makes of each (none: nothing to send). Under the `reorder`
/// fault the webhooks are held and sent last first after the final step.
pub(crate) async fn play(
    control: SimControl,
    generation: u64,
    channel: Channel,
    id: String,
    lead: String,
    steps: Vec<Step>,
    webhook: impl Fn(&Step, Timestamp) -> Option<Outgoing> + Send,
) {
    let accepted = tokio::time::Instant::now();
    let reorder = faults(&control, channel, &lead).reorder;
    let count = steps.len();
    let mut held = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        sleep_until(accepted + control.config().scaled(step.at)).await;
        let advanced =
            control
                .messaging()
                .advance(generation, &id, &lead, &step.status, step.error_code);
        if !advanced {
            return;
        }
        let Some(outgoing) = webhook(step, Timestamp::now()) else {
            continue;
        };
        let last = i + 1 == count;
        if reorder {
            held.push((outgoing, last));
        } else {
            deliver(&control, generation, &outgoing, last).await;
        }
    }
    for (outgoing, last) in held.into_iter().rev() {
        deliver(&control, generation, &outgoing, last).await;
    }
}
