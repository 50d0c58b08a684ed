//! Twilio's two webhooks, both form-encoded: an inbound message to one of a
//! tenant's numbers (messaging-facts §1.1), and a status callback on a
//! message leadline sent (§1.7), whose URL leadline builds with its own ids.

use std::collections::BTreeMap;

use jiff::Timestamp;
use leadline_core::messaging::message::Channel;
use leadline_core::messaging::provider::{DeliveryStatus, Inbound, InboundAddress, StatusReport};
use leadline_core::{LeadId, MessageId, Phone, TenantId};

use crate::ParseError;

/// The path of the status callback under the public base URL.
pub const STATUS_CALLBACK_PATH: &str = "/webhooks/twilio/status";

/// What a Twilio webhook is answered with: a 200 with `Content-Type:
/// text/xml` and this body, which receives a message without replying
/// (the reply, if any, goes later through the API; messaging-facts §0.5).
pub const EMPTY_TWIML: &str = "<Response></Response>";

/// The parameters of a form-encoded body (`+` is a space, `%XX` decoded),
/// in their order, repeated names kept: what [`verify_signature`] signs.
///
/// [`verify_signature`]: crate::twilio::verify_signature
pub fn parse_form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// The status callback URL of one message:
/// `{public_base}/webhooks/twilio/status?tenant=…&lead=…&message=…`. Twilio
/// signs its callbacks with this URL as given, so the receiver checks them
/// against the configured base URL, this path and the query it received.
pub fn status_callback_url(
    public_base: &str,
    tenant: &TenantId,
    lead: &LeadId,
    message: &MessageId,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("tenant", tenant.as_str())
        .append_pair("lead", lead.as_str())
        .append_pair("message", message.as_str())
        .finish();
    format!(
        "{}{STATUS_CALLBACK_PATH}?{query}",
        public_base.trim_end_matches('/')
    )
}

/// leadline's ids back from a status callback's query string (`tenant=…&
/// lead=…&message=…`, with or without a leading `?`; a whole URL is read
/// from its `?`).
pub fn parse_status_callback_query(
    query: &str,
) -> Result<(TenantId, LeadId, MessageId), ParseError> {
    let query = query.split_once('?').map_or(query, |(_, query)| query);
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    let params = parse_form(query.as_bytes());
    let get = |name: &'static str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .ok_or(ParseError::Missing(name))
    };
    let tenant = TenantId::parse(get("tenant")?).map_err(|_| ParseError::Invalid {
        field: "tenant",
        expected: "a tenant id",
    })?;
    let lead = LeadId::parse(get("lead")?).map_err(|_| ParseError::Invalid {
        field: "lead",
        expected: "a lead id",
    })?;
    let message = MessageId::parse(get("message")?).map_err(|_| ParseError::Invalid {
        field: "message",
        expected: "a message id",
    })?;
    Ok((tenant, lead, message))
}

/// A Twilio message status (`MessageStatus`, or a created message's
/// `status`) as a [`DeliveryStatus`]: `queued`, `accepted`, `scheduled` and
/// `sending` are still queued; `partially_delivered` (some parts of a group
/// MMS) counts as sent; `canceled` (a scheduled message that will never go)
/// as failed. `receiving` and `received` (inbound statuses) and unknown
/// statuses are `None`.
pub fn delivery_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "queued" | "accepted" | "scheduled" | "sending" => DeliveryStatus::Queued,
        "sent" | "partially_delivered" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "undelivered" => DeliveryStatus::Undelivered,
        "failed" | "canceled" => DeliveryStatus::Failed,
        _ => return None,
    })
}

/// The parameters an [`Inbound`] carries in its own fields; every other one
/// goes to [`Inbound::extra`].
const INBOUND_FIELDS: [&str; 7] = [
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "From",
    "To",
    "Body",
    "OptOutType",
];

/// An inbound SMS (`MessageSid`, `From`, `To`, `Body`, `OptOutType`, …).
/// Twilio's form has no time: `received_at` is when the webhook arrived.
/// The dedupe key is `MessageSid` ([`Inbound::provider_id`]).
pub fn parse_inbound(
    params: &[(String, String)],
    received_at: Timestamp,
) -> Result<Inbound, ParseError> {
    let get = |name: &str| first(params, name);
    let provider_id = required(get("MessageSid"), "MessageSid")?.to_owned();
    let from = phone(get("From"), "From")?;
    let to = phone(get("To"), "To")?;
    let extra: BTreeMap<String, String> = params
        .iter()
        .filter(|(name, _)| !INBOUND_FIELDS.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    Ok(Inbound {
        channel: Channel::Sms,
        provider_id,
        from,
        to: InboundAddress::Number(to),
        body: get("Body").unwrap_or_default().to_owned(),
        button: None,
        opt_out_type: get("OptOutType")
            .filter(|value| !value.is_empty())
            .map(str::to_owned),
        at: received_at,
        extra,
    })
}

/// A status callback (`MessageSid`, `MessageStatus`, `ErrorCode`, …) on a
/// message leadline sent, with leadline's ids from its URL
/// ([`parse_status_callback_query`]) when the caller has them. Twilio's form
/// has no time: `received_at` is when the callback arrived. The dedupe key
/// is `twilio#<MessageSid>#<MessageStatus>`.
///
/// A status that is not one of a sent message's (`received`, or one Twilio
/// adds later) is [`ParseError::Unsupported`]: acknowledge it.
pub fn parse_status(
    params: &[(String, String)],
    ours: Option<(TenantId, LeadId, MessageId)>,
    received_at: Timestamp,
) -> Result<StatusReport, ParseError> {
    let get = |name: &str| first(params, name);
    let provider_id = required(get("MessageSid").or(get("SmsSid")), "MessageSid")?;
    let raw_status = required(get("MessageStatus").or(get("SmsStatus")), "MessageStatus")?;
    let status = delivery_status(raw_status)
        .ok_or_else(|| ParseError::Unsupported(format!("the message status {raw_status:?}")))?;
    let error = get("ErrorCode")
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(str::to_owned);
    Ok(StatusReport {
        channel: Channel::Sms,
        provider_id: provider_id.to_owned(),
        ours,
        status,
        error,
        at: received_at,
        suppresses: None,
        dedupe: format!("twilio#{provider_id}#{raw_status}"),
        sender: None,
    })
}

fn first<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, ParseError> {
    value
        .filter(|value| !value.trim().is_empty())
        .ok_or(ParseError::Missing(name))
}

/// A number in E.164 form (`+` and digits). A Twilio WhatsApp address
/// (`whatsapp:+…`) is not an SMS.
fn phone(value: Option<&str>, field: &'static str) -> Result<Phone, ParseError> {
    let value = required(value, field)?;
    if value.starts_with("whatsapp:") {
        return Err(ParseError::Unsupported(
            "WhatsApp messages through Twilio".to_owned(),
        ));
    }
    // Twilio sends the numbers it routed, in E.164: their form is checked, not
    // the numbering plan (whose first reading costs a cold start ~70 ms), as
    // for a number read back from the table.
    Phone::try_from(value.to_owned())
        .ok()
        .ok_or(ParseError::Invalid {
            field,
            expected: "an E.164 phone number",
        })
}
