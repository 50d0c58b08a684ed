//! What the three simulated messaging providers (Twilio SMS in
//! [`crate::twilio`], SendGrid in [`crate::sendgrid`], the WhatsApp Cloud API
//! in [`crate::whatsapp`]) share: channels, lead scripts, the send pipeline
//! (authentication, forced answers, records), webhooks, and their controls.

pub(crate) mod control;
pub(crate) mod deliver;
mod faults;
pub(crate) mod form;
mod records;
pub(crate) mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

pub use faults::{ChannelFaults, MessagingFaultRequest, MessagingFaults};
pub use records::{
    Direction, MessageFilter, MessageRecord, MessagingDeliveryRecord, MessagingStats, SendRecord,
    SenderStats, StatusChange, TemplateButton, TemplateRecord, WebhookKind,
};

use crate::faults::ForcedResponse;
use crate::ids::is_e164;
use crate::state::{ControlError, SimControl};

/// A messaging channel, and the provider that carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Twilio Programmable Messaging.
    Sms,
    /// SendGrid v3.
    Email,
    /// The WhatsApp Cloud API.
    Whatsapp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Email, Channel::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// The provider's name, as `/_sim/webhook-urls` knows it.
    pub fn provider(self) -> &'static str {
        match self {
            Channel::Sms => "twilio",
            Channel::Email => "sendgrid",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sms" | "twilio" => Ok(Channel::Sms),
            "email" | "sendgrid" => Ok(Channel::Email),
            "whatsapp" => Ok(Channel::Whatsapp),
            other => Err(format!(
                "unknown channel {other:?} (sms, email or whatsapp)"
            )),
        }
    }
}

/// What a scripted email address does with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailOutcome {
    /// `processed`, then `bounce` (`type: "bounce"`).
    Bounce,
    /// `processed`, then `bounce` (`type: "blocked"`).
    Blocked,
    /// `processed`, then `dropped`.
    Dropped,
    /// `processed`, `delivered`, then `spamreport`.
    Spamreport,
    /// `processed`, `delivered`, then `unsubscribe`.
    Unsubscribe,
}

/// A message the lead sends back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptedReply {
    /// The text (`"STOP"`, `"C"`, ...).
    pub text: Option<String>,
    /// WhatsApp: reply by a template's quick-reply button with this payload.
    pub button_payload: Option<String>,
    /// WhatsApp: the button's label (default: the payload).
    pub button_text: Option<String>,
    /// Scripted milliseconds after the message's acceptance (scaled by the
    /// time scale).
    pub after_ms: u64,
    /// Reply only to messages on this channel (sms or whatsapp); default: to
    /// whichever channel the message came on (never email).
    pub channel: Option<Channel>,
    /// Reply to every message, not only to the first.
    pub repeat: bool,
}

impl Default for ScriptedReply {
    fn default() -> Self {
        ScriptedReply {
            text: None,
            button_payload: None,
            button_text: None,
            after_ms: 2000,
            channel: None,
            repeat: false,
        }
    }
}

impl ScriptedReply {
    pub fn text(text: &str) -> Self {
        ScriptedReply {
            text: Some(text.to_owned()),
            ..ScriptedReply::default()
        }
    }

    pub fn button(payload: &str) -> Self {
        ScriptedReply {
            button_payload: Some(payload.to_owned()),
            ..ScriptedReply::default()
        }
    }

    pub fn after_ms(self, after_ms: u64) -> Self {
        ScriptedReply { after_ms, ..self }
    }

    pub fn on(self, channel: Channel) -> Self {
        ScriptedReply {
            channel: Some(channel),
            ..self
        }
    }
}

/// How a lead (a phone number or an email address) behaves when a message
/// to it is accepted. `PUT /_sim/messaging/script`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadScript {
    /// `+1…` or `a@b.com`.
    pub address: String,
    /// The lead answers, once (or every time with `repeat`).
    pub reply: Option<ScriptedReply>,
    /// SMS: `sent`, then `undelivered` with 30003; WhatsApp: `failed` with 131026.
    pub undeliverable: bool,
    /// SMS: `failed` with 30008.
    pub failed: bool,
    /// WhatsApp: the send is refused with 400, code 131026.
    pub not_on_whatsapp: bool,
    pub email: Option<EmailOutcome>,
}

impl LeadScript {
    pub fn new(address: &str) -> Self {
        LeadScript {
            address: address.to_owned(),
            ..LeadScript::default()
        }
    }

    pub fn reply(self, reply: ScriptedReply) -> Self {
        LeadScript {
            reply: Some(reply),
            ..self
        }
    }

    fn validated(mut self) -> Result<Self, String> {
        self.address = normalize_address(&self.address)?;
        if let Some(reply) = &self.reply {
            match (&reply.text, &reply.button_payload) {
                (None, None) => return Err("a reply needs a text or a button_payload".into()),
                (Some(_), Some(_)) => {
                    return Err("a reply has a text or a button_payload, not both".into());
                }
                _ => {}
            }
            if reply.channel == Some(Channel::Email) {
                return Err("a lead replies by sms or whatsapp, not email".into());
            }
            if reply.button_payload.is_some() && reply.channel == Some(Channel::Sms) {
                return Err("a button reply is a whatsapp reply".into());
            }
            if self.address.contains('@') {
                return Err("an email address does not reply".into());
            }
        }
        Ok(self)
    }
}

/// A lead's address as the records keep it: E.164 as is, email lowercased.
pub(crate) fn normalize_address(address: &str) -> Result<String, String> {
    let address = address.trim();
    if address.contains('@') {
        if is_email(address) {
            return Ok(address.to_ascii_lowercase());
        }
        return Err(format!("{address:?} is not an email address"));
    }
    if is_e164(address) {
        return Ok(address.to_owned());
    }
    Err(format!(
        "{address:?} is neither an E.164 number (+ and 7 to 15 digits) nor an email address"
    ))
}

/// `local@domain.tld`, without spaces: what SendGrid takes for an address.
pub(crate) fn is_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && !address.contains(['<', '>', ',', ';'])
}

/// How a send request is answered.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    /// JSON; none: an empty body.
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    pub error_code: Option<i64>,
    pub error_message: Option<String>,
}

impl Answer {
    pub(crate) fn new(status: StatusCode, body: Value) -> Self {
        Answer {
            status,
            body: Some(body),
            headers: Vec::new(),
            error_code: None,
            error_message: None,
        }
    }

    pub(crate) fn error(status: StatusCode, body: Value, code: Option<i64>, message: &str) -> Self {
        Answer {
            error_code: code,
            error_message: Some(message.to_owned()),
            ..Answer::new(status, body)
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn retry_after(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, value)| value.parse().ok())
    }

    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => (self.status, Json(body)).into_response(),
            None => self.status.into_response(),
        };
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    /// The answer a forced fault stands for: `status` with the provider's
    /// error body (or the fault's), and its headers (429: `Retry-After: 1`).
    fn forced(forced: &ForcedResponse, status: u16, provider: fn(StatusCode) -> Answer) -> Answer {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut answer = provider(status);
        if let Some(body) = &forced.body {
            answer.body = Some(body.clone());
        }
        let mut headers: Vec<(String, String)> = forced
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        if status == StatusCode::TOO_MANY_REQUESTS
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("retry-after"))
        {
            headers.push(("retry-after".into(), "1".into()));
        }
        answer.headers = headers;
        answer
    }
}

/// A send request as received, before it is answered.
pub(crate) fn send_record(channel: Channel, to: Option<String>, body: Value) -> SendRecord {
    SendRecord {
        seq: 0,
        channel,
        received_at: Timestamp::now(),
        account: None,
        sender: None,
        to,
        status: 0,
        error_code: None,
        error_message: None,
        message_id: None,
        accepted: false,
        forced: false,
        body,
        retry_after: None,
        at_ms: 0,
    }
}

/// What one provider's send API does beyond the shared pipeline.
pub(crate) trait SendApi {
    const CHANNEL: Channel;
    /// The provider's error answer for a forced status.
    fn forced(status: StatusCode) -> Answer;
}

/// The send pipeline: `authenticate` (which may fill in the record's
/// account), then a forced fault, then `handle` (validation, the provider's
/// rules, acceptance: it sets the record's sender and message id); the
/// request is recorded as answered. A fault `after_accept` answers after
/// `handle` accepted the message.
pub(crate) async fn send<A: SendApi>(
    control: &SimControl,
    mut record: SendRecord,
    authenticate: impl FnOnce(&mut SendRecord) -> Result<(), Answer>,
    handle: impl FnOnce(&mut SendRecord) -> Result<Answer, Answer>,
) -> Response {
    if let Err(answer) = authenticate(&mut record) {
        return finish(control, record, answer, false);
    }
    let forced = control
        .messaging()
        .faults
        .get_mut(A::CHANNEL)
        .next_forced(record.to.as_deref());
    if let Some(forced) = &forced {
        info!(channel = %A::CHANNEL, to = ?record.to, ?forced, "forced send answer");
    }
    let after = match forced {
        Some(forced) if forced.after_accept => Some(forced),
        Some(forced) => {
            tokio::time::sleep(Duration::from_millis(forced.delay_ms)).await;
            if let Some(status) = forced.status {
                let answer = Answer::forced(&forced, status, A::forced);
                return finish(control, record, answer, true);
            }
            None
        }
        None => None,
    };
    let answer = match handle(&mut record) {
        Ok(answer) => {
            record.accepted = true;
            answer
        }
        Err(answer) => return finish(control, record, answer, false),
    };
    let Some(forced) = after else {
        return finish(control, record, answer, false);
    };
    let answer = match forced.status {
        Some(status) => Answer::forced(&forced, status, A::forced),
        None => answer,
    };
    let response = finish(control, record, answer, true);
    tokio::time::sleep(Duration::from_millis(forced.delay_ms)).await;
    response
}

fn finish(control: &SimControl, mut record: SendRecord, answer: Answer, forced: bool) -> Response {
    record.status = answer.status.as_u16();
    record.error_code = answer.error_code;
    record.error_message = answer.error_message.clone();
    record.forced = forced;
    record.retry_after = answer.retry_after();
    record.at_ms = control.elapsed_ms();
    if !record.accepted || forced {
        info!(
            channel = %record.channel, to = ?record.to, status = record.status,
            code = ?record.error_code, forced, "send answered"
        );
    }
    control.messaging().log_request(record);
    answer.into_response()
}

/// The simulated messaging providers, in process.
impl SimControl {
    /// Scripts how the lead at `script.address` behaves from now on
    /// (replacing its script; its reply is sent again).
    pub fn set_lead_script(&self, script: LeadScript) -> Result<LeadScript, ControlError> {
        let script = script.validated().map_err(ControlError)?;
        self.messaging().scripts.insert(
            script.address.clone(),
            state::ScriptEntry {
                script: script.clone(),
                replied: false,
            },
        );
        Ok(script)
    }

    pub fn lead_script(&self, address: &str) -> Option<LeadScript> {
        let address = normalize_address(address).ok()?;
        self.messaging().script(&address).cloned()
    }

    /// Forgets the lead's script; false if it had none.
    pub fn remove_lead_script(&self, address: &str) -> bool {
        let Ok(address) = normalize_address(address) else {
            return false;
        };
        self.messaging().scripts.remove(&address).is_some()
    }

    pub fn apply_messaging_faults(
        &self,
        request: MessagingFaultRequest,
    ) -> Result<(), ControlError> {
        let request = request.validated().map_err(ControlError)?;
        self.messaging()
            .faults
            .get_mut(request.channel)
            .apply(request);
        Ok(())
    }

    pub fn messaging_faults(&self) -> MessagingFaults {
        self.messaging().faults.clone()
    }

    /// Sends the channel's webhooks (inbound messages, statuses without a
    /// callback URL of their own, events) to `url`; `None`: nowhere.
    pub fn set_messaging_webhook_url(&self, channel: Channel, url: Option<String>) {
        self.messaging().webhook_urls.insert(channel, url);
    }

    /// The webhook URL of each channel.
    pub fn messaging_webhook_urls(&self) -> BTreeMap<Channel, Option<String>> {
        self.messaging().webhook_urls.clone()
    }

    /// Every message (outbound per recipient, inbound, Twilio's automatic
    /// replies) that `filter` selects, oldest first.
    pub fn messages(&self, filter: &MessageFilter) -> Vec<MessageRecord> {
        let messaging = self.messaging();
        messaging
            .messages
            .iter()
            .filter(|m| filter.matches(m.channel, Some(&m.lead), Some(&m.id)))
            .map(|m| {
                let mut message = m.clone();
                message.opted_out = match m.channel {
                    Channel::Sms => messaging.opted_out(&m.lead, &m.sender),
                    Channel::Email => messaging.suppressions.contains_key(&m.lead),
                    Channel::Whatsapp => false,
                };
                message
            })
            .collect()
    }

    /// Every send request that `filter` selects (accepted or not), oldest first.
    pub fn messaging_requests(&self, filter: &MessageFilter) -> Vec<SendRecord> {
        self.messaging()
            .requests
            .iter()
            .filter(|r| filter.matches(r.channel, r.to.as_deref(), r.message_id.as_deref()))
            .cloned()
            .collect()
    }

    /// Every messaging webhook delivery that `filter` selects, oldest first.
    pub fn messaging_deliveries(&self, filter: &MessageFilter) -> Vec<MessagingDeliveryRecord> {
        self.messaging()
            .deliveries
            .iter()
            .filter(|d| filter.matches(d.channel, Some(&d.lead), Some(&d.message_id)))
            .cloned()
            .collect()
    }

    /// Counts over the send requests `filter` selects, per sender too.
    pub fn messaging_stats(&self, filter: &MessageFilter) -> MessagingStats {
        let messaging = self.messaging();
        MessagingStats::of(
            messaging
                .requests
                .iter()
                .filter(|r| filter.matches(r.channel, r.to.as_deref(), r.message_id.as_deref())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_numbers_or_emails() {
        assert_eq!(
            normalize_address(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert_eq!(normalize_address("+14155550100").unwrap(), "+14155550100");
        for bad in [
            "14155550100",
            "ada@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@@x.com",
            "",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_lead_script_is_checked() {
        let script = LeadScript::new("+14155550100").reply(ScriptedReply::default());
        assert!(script.validated().is_err());
        let email = LeadScript::new("a@x.com").reply(ScriptedReply::text("hi"));
        assert!(email.validated().is_err());
        let button =
            LeadScript::new("+14155550100").reply(ScriptedReply::button("C").on(Channel::Sms));
        assert!(button.validated().is_err());
        let json = serde_json::json!({"address": "+14155550100", "reply": {"text": "STOP", "after_ms": 500, "channel": "sms"}, "undeliverable": false, "not_on_whatsapp": false, "email": null});
        let script: LeadScript = serde_json::from_value(json).unwrap();
        assert_eq!(script.reply.unwrap().after_ms, 500);
        let unknown = serde_json::json!({"address": "+14155550100", "bounce": true});
        assert!(serde_json::from_value::<LeadScript>(unknown).is_err());
    }
}
