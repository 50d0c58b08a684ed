//! The WhatsApp Cloud API (Meta; messaging-facts §2): the send client
//! (`POST /{version}/{phone_number_id}/messages`: an approved template, or
//! free text inside the 24-hour window), the `X-Hub-Signature-256` check,
//! the subscription handshake, and the reader of the webhook envelope into
//! [`Inbound`] messages and [`StatusReport`]s.
//!
//! WhatsApp's webhooks carry no id of leadline's: a status report is matched
//! to its message by the `wamid.…` the send returned
//! ([`StatusReport::ours`] is `None`), and an inbound message to its tenant
//! by the receiving phone number id.

use std::collections::BTreeMap;
use std::time::Duration;

use data_encoding::{HEXLOWER, HEXLOWER_PERMISSIVE};
use leadline_core::Phone;
use leadline_core::messaging::message::{Channel, Recipient};
use leadline_core::messaging::provider::{
    Accepted, Content, DeliveryStatus, Inbound, InboundAddress, Outgoing, Refusal, SendFailure,
    Sender, StatusReport,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ParseError;
use crate::http::{self, Answer, is_plain_id, not_sendable, refused, unreadable_success};
use crate::signature::{SignatureError, hmac_sha256, same};
use crate::webhook::{SkipReason, Skipped, unix_seconds};

/// The header Meta signs its webhooks with (lower-cased).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
/// body)>`, over the raw bytes as received (Meta's bodies escape non-ASCII
/// characters; a re-serialised body would not match). Constant-time.
pub fn verify_signature(
    app_secret: &str,
    header_value: &str,
    raw_body: &[u8],
) -> Result<(), SignatureError> {
    let hex = header_value
        .strip_prefix("sha256=")
        .ok_or_else(|| SignatureError::malformed(SIGNATURE_HEADER, "expected sha256=<hex>"))?;
    let digest = HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .ok()
        .filter(|digest| digest.len() == 32)
        .ok_or_else(|| SignatureError::malformed(SIGNATURE_HEADER, "not 64 hex digits"))?;
    if same(&hmac_sha256(app_secret.as_bytes(), &[raw_body]), &digest) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `X-Hub-Signature-256` value Meta would send for `raw_body`. For
/// tests and the provider simulator.
pub fn sign(app_secret: &str, raw_body: &[u8]) -> String {
    format!(
        "sha256={}",
        HEXLOWER.encode(&hmac_sha256(app_secret.as_bytes(), &[raw_body]))
    )
}

/// Why a subscription handshake was refused (answer 403).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("the query has no {0}")]
    Missing(&'static str),
    #[error("hub.mode is not subscribe")]
    NotSubscribe,
    #[error("hub.verify_token is not ours")]
    WrongToken,
}

/// The subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=…
/// &hub.challenge=…`): the challenge to answer with (200, `text/plain`,
/// the challenge as the whole body) when the mode is `subscribe` and the
/// token is `verify_token`.
pub fn verify_handshake(
    query: &[(String, String)],
    verify_token: &str,
) -> Result<String, HandshakeError> {
    let get = |name: &'static str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .ok_or(HandshakeError::Missing(name))
    };
    if get("hub.mode")? != "subscribe" {
        return Err(HandshakeError::NotSubscribe);
    }
    let token = get("hub.verify_token")?;
    if verify_token.is_empty() || !same(token.as_bytes(), verify_token.as_bytes()) {
        return Err(HandshakeError::WrongToken);
    }
    Ok(get("hub.challenge")?.to_owned())
}

/// What one webhook delivery told: the leads' messages, the reports on
/// messages leadline sent, and the items left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notification {
    pub inbound: Vec<Inbound>,
    pub statuses: Vec<StatusReport>,
    pub skipped: Vec<Skipped>,
}

/// Reads a webhook envelope (`{"object":"whatsapp_business_account",
/// "entry":[{"changes":[{"field":"messages","value":{…}}]}]}`), which may
/// batch several entries, changes, messages and statuses.
///
/// - Messages: `text` (its body), `button` (a template's quick reply: its
///   text as the body, its payload as [`Inbound::button`]) and
///   `interactive` button or list replies (the title, and the reply's id as
///   the button). `from` (digits) becomes a [`Phone`]; a message from a user
///   known only by a business-scoped id, or of another type, is skipped.
///   Received by [`InboundAddress::WhatsappNumber`] of
///   `metadata.phone_number_id`; the dedupe key is the `wamid.…`.
/// - Statuses: `sent`, `delivered`, `read`, `failed` (with `errors[0].code`)
///   and `played` (a voice message, as read); the dedupe key is
///   `whatsapp#<wamid>#<status>`.
/// - Changes of another `field` are skipped.
///
/// An envelope that is not JSON, not of a business account, or without
/// `entry` is a [`ParseError`].
pub fn parse_webhook(raw_body: &[u8]) -> Result<Notification, ParseError> {
    let envelope: Value = serde_json::from_slice(raw_body).map_err(|e| ParseError::json(&e))?;
    match envelope.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => {}
        Some(other) => {
            return Err(ParseError::Unsupported(format!(
                "webhooks of the object {other:?}"
            )));
        }
        None => return Err(ParseError::Missing("object")),
    }
    let entries = envelope
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(ParseError::Missing("entry"))?;
    let mut notification = Notification::default();
    let changes = entries
        .iter()
        .filter_map(|entry| entry.get("changes")?.as_array())
        .flatten();
    for change in changes {
        let field = change.get("field").and_then(Value::as_str).unwrap_or("");
        let Some(value) = change.get("value").filter(|_| field == "messages") else {
            notification.skipped.push(Skipped {
                provider_id: None,
                reason: SkipReason::Ignored(format!("the change field {field:?}")),
            });
            continue;
        };
        read_change(value, &mut notification);
    }
    Ok(notification)
}

fn read_change(value: &Value, notification: &mut Notification) {
    let array = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let receiver = value
        .pointer("/metadata/phone_number_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty());
    let display_number = value
        .pointer("/metadata/display_phone_number")
        .and_then(Value::as_str);
    let contacts = array("contacts");
    for message in array("messages") {
        match read_message(message, receiver, display_number, contacts) {
            Ok(inbound) => notification.inbound.push(inbound),
            Err(skipped) => notification.skipped.push(skipped),
        }
    }
    for status in array("statuses") {
        match read_status(status) {
            Ok(mut report) => {
                report.sender = receiver.map(|id| InboundAddress::WhatsappNumber(id.to_owned()));
                notification.statuses.push(report)
            }
            Err(skipped) => notification.skipped.push(skipped),
        }
    }
}

fn read_message(
    message: &Value,
    receiver: Option<&str>,
    display_number: Option<&str>,
    contacts: &[Value],
) -> Result<Inbound, Skipped> {
    let text = |pointer: &str| message.pointer(pointer).and_then(Value::as_str);
    let Some(id) = text("/id").filter(|id| !id.is_empty()) else {
        return Err(Skipped {
            provider_id: None,
            reason: SkipReason::Malformed("id"),
        });
    };
    let skip = |reason| Skipped {
        provider_id: Some(id.to_owned()),
        reason,
    };
    let Some(receiver) = receiver else {
        return Err(skip(SkipReason::Malformed("metadata.phone_number_id")));
    };
    let Some(from) = text("/from").and_then(whatsapp_phone) else {
        return Err(skip(SkipReason::NoPhoneNumber));
    };
    let kind = text("/type").unwrap_or("");
    let (body, button) = match kind {
        "text" => (text("/text/body"), None),
        "button" => (text("/button/text"), text("/button/payload")),
        "interactive" => match text("/interactive/type") {
            Some(reply @ ("button_reply" | "list_reply")) => (
                text(&format!("/interactive/{reply}/title")),
                text(&format!("/interactive/{reply}/id")),
            ),
            other => {
                return Err(skip(SkipReason::UnsupportedType(format!(
                    "interactive {}",
                    other.unwrap_or("")
                ))));
            }
        },
        other => return Err(skip(SkipReason::UnsupportedType(other.to_owned()))),
    };
    let Some(at) = message.get("timestamp").and_then(unix_seconds) else {
        return Err(skip(SkipReason::Malformed("timestamp")));
    };
    Ok(Inbound {
        channel: Channel::Whatsapp,
        provider_id: id.to_owned(),
        to: InboundAddress::WhatsappNumber(receiver.to_owned()),
        body: body.unwrap_or_default().to_owned(),
        button: button.map(str::to_owned),
        opt_out_type: None,
        at,
        extra: extra(message, &from, display_number, contacts),
        from,
    })
}

/// `from` in digits as a [`Phone`]; `None` for anything else (a
/// business-scoped user id).
fn whatsapp_phone(from: &str) -> Option<Phone> {
    let digits = (7..=15).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| Phone::try_from(format!("+{from}")).ok())
        .flatten()
}

/// What is kept with the conversation besides the message itself: its type,
/// the message it replies to, the receiving number as shown, and the sender's
/// profile name and business-scoped user id.
fn extra(
    message: &Value,
    from: &Phone,
    display_number: Option<&str>,
    contacts: &[Value],
) -> BTreeMap<String, String> {
    let digits = &from.e164()[1..];
    let contact = contacts
        .iter()
        .find(|contact| contact.get("wa_id").and_then(Value::as_str) == Some(digits))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        });
    let fields = [
        ("type", message.get("type")),
        ("context_id", message.pointer("/context/id")),
        (
            "profile_name",
            contact.and_then(|c| c.pointer("/profile/name")),
        ),
        (
            "user_id",
            message
                .get("from_user_id")
                .or(contact.and_then(|c| c.get("user_id"))),
        ),
    ];
    let mut extra: BTreeMap<String, String> = fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.as_str()?.to_owned())))
        .collect();
    if let Some(number) = display_number {
        extra.insert("display_phone_number".to_owned(), number.to_owned());
    }
    extra
}

fn read_status(status: &Value) -> Result<StatusReport, Skipped> {
    let text = |name: &str| status.get(name).and_then(Value::as_str);
    let Some(id) = text("id").filter(|id| !id.is_empty()) else {
        return Err(Skipped {
            provider_id: None,
            reason: SkipReason::Malformed("id"),
        });
    };
    let skip = |reason| Skipped {
        provider_id: Some(id.to_owned()),
        reason,
    };
    let raw_status = text("status").unwrap_or("");
    let delivery = match raw_status {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        other => return Err(skip(SkipReason::Ignored(format!("the status {other:?}")))),
    };
    let Some(at) = status.get("timestamp").and_then(unix_seconds) else {
        return Err(skip(SkipReason::Malformed("timestamp")));
    };
    let error = status
        .pointer("/errors/0/code")
        .and_then(|code| match code {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        });
    Ok(StatusReport {
        channel: Channel::Whatsapp,
        provider_id: id.to_owned(),
        ours: None,
        status: delivery,
        error,
        at,
        suppresses: None,
        dedupe: format!("whatsapp#{id}#{raw_status}"),
        sender: None,
    })
}

/// Sends WhatsApp messages through any Cloud API access token (it comes
/// with each send).
#[derive(Clone, Debug)]
pub struct WhatsappClient {
    http: reqwest::Client,
    base_url: String,
    version: String,
    timeout: Duration,
}

/// Meta's error body: `{"error":{"message","type","code","error_data":{"details"},…}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

impl WhatsappClient {
    pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
    pub const DEFAULT_VERSION: &str = "v26.0";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// `http` is shared and built once by the caller; its own timeout, if
    /// any, is overridden per request by [`Self::with_timeout`]'s.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            version: Self::DEFAULT_VERSION.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Another API root, such as the provider simulator's.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The Graph API version (`v26.0`).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into().trim_matches('/').to_owned();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends `outgoing` from its WhatsApp phone number id with
    /// `access_token`. Accepted (200) with the `wamid.…`, queued.
    pub async fn send(
        &self,
        access_token: &str,
        outgoing: &Outgoing,
    ) -> Result<Accepted, SendFailure> {
        let (phone_number_id, body) = request_body(outgoing)?;
        let request = self
            .http
            .post(format!(
                "{}/{}/{phone_number_id}/messages",
                self.base_url, self.version
            ))
            .bearer_auth(access_token)
            .json(&body);
        let answer = http::send("whatsapp", request, self.timeout).await?;
        accepted(&answer).inspect_err(|failure| {
            tracing::warn!(
                provider = "whatsapp",
                message = %outgoing.message,
                status = answer.status,
                error = %failure,
                "WhatsApp did not take the message"
            );
        })
    }
}

/// The sending phone number id and the request body for `outgoing`
/// (messaging-facts §2.5).
pub(crate) fn request_body(outgoing: &Outgoing) -> Result<(&str, Value), SendFailure> {
    let Sender::Whatsapp { phone_number_id } = &outgoing.sender else {
        return Err(not_sendable(
            "sender",
            "a WhatsApp message goes from a WhatsApp phone number id",
        ));
    };
    if !is_plain_id(phone_number_id) {
        return Err(not_sendable(
            "sender",
            "the WhatsApp phone number id is not an id",
        ));
    }
    let Recipient::Phone(to) = &outgoing.to else {
        return Err(not_sendable(
            "recipient",
            "a WhatsApp message goes to a phone number, not an email address",
        ));
    };
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": &to.e164()[1..],
    });
    match &outgoing.content {
        Content::Text { body: text, .. } => {
            body["type"] = json!("text");
            body["text"] = json!({"preview_url": false, "body": text});
        }
        Content::Template {
            name,
            language,
            params,
            buttons,
        } => {
            let mut components = Vec::new();
            if !params.is_empty() {
                let parameters: Vec<Value> = params
                    .iter()
                    .map(|text| json!({"type": "text", "text": text}))
                    .collect();
                components.push(json!({"type": "body", "parameters": parameters}));
            }
            for (index, payload) in buttons.iter().enumerate() {
                components.push(json!({
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": index.to_string(),
                    "parameters": [{"type": "payload", "payload": payload}],
                }));
            }
            body["type"] = json!("template");
            body["template"] = json!({
                "name": name,
                "language": {"code": language},
                "components": components,
            });
        }
    }
    Ok((phone_number_id, body))
}

fn accepted(answer: &Answer) -> Result<Accepted, SendFailure> {
    if !answer.is_success() {
        return Err(classify(answer));
    }
    let provider_id = serde_json::from_str::<Value>(&answer.body)
        .ok()
        .and_then(|body| Some(body.pointer("/messages/0/id")?.as_str()?.to_owned()))
        .filter(|id| !id.is_empty())
        .ok_or_else(|| unreadable_success("WhatsApp", answer.status, "a message id"))?;
    Ok(Accepted {
        provider_id,
        status: DeliveryStatus::Queued,
    })
}

/// Sorts a refused send by Meta's error code first, then by HTTP status:
/// 131047 (more than 24 hours since the lead last wrote: a template is
/// needed) is [`Refusal::OutsideWindow`]; 131026 (not a WhatsApp user, or
/// one who cannot receive it) [`Refusal::NotOnWhatsapp`]; 130429
/// (throughput), 131048 (spam rate limit), 131056 (too many to one user),
/// 4 and 80007 (the app's or account's call rate) and HTTP 429 are rate
/// limited; a 5xx unavailable; anything else [`Refusal::Rejected`] (an
/// unknown template 132001, a bad token 190…), with Meta's code and words.
fn classify(answer: &Answer) -> SendFailure {
    let error = serde_json::from_str::<ErrorBody>(&answer.body)
        .ok()
        .map(|body| body.error);
    let code = error.as_ref().and_then(|error| error.code);
    let detail = match &error {
        Some(error) => {
            let message = error.message.as_deref().unwrap_or("");
            match error.error_data.as_ref().and_then(|d| d.details.as_deref()) {
                Some(details) => format!("{message}: {details}"),
                None => message.to_owned(),
            }
        }
        None => answer.body.clone(),
    };
    let code_text = code.map_or_else(|| answer.status.to_string(), |code| code.to_string());
    match code {
        Some(131047) => return refused(Refusal::OutsideWindow, code_text, &detail),
        Some(131026) => return refused(Refusal::NotOnWhatsapp, code_text, &detail),
        Some(130429 | 131048 | 131056 | 4 | 80007) => {
            return SendFailure::RateLimited {
                retry_after: answer.retry_after(),
            };
        }
        _ => {}
    }
    if let Some(failure) = answer.common_failure("WhatsApp") {
        return failure;
    }
    refused(Refusal::Rejected, code_text, &detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_answers_its_challenge_to_our_token_only() {
        let query = |mode: &str, token: &str| {
            vec![
                ("hub.mode".to_owned(), mode.to_owned()),
                ("hub.verify_token".to_owned(), token.to_owned()),
                ("hub.challenge".to_owned(), "1158201444".to_owned()),
            ]
        };
        assert_eq!(
            verify_handshake(&query("subscribe", "tok"), "tok"),
            Ok("1158201444".into())
        );
        assert_eq!(
            verify_handshake(&query("subscribe", "other"), "tok"),
            Err(HandshakeError::WrongToken)
        );
        assert_eq!(
            verify_handshake(&query("subscribe", ""), ""),
            Err(HandshakeError::WrongToken)
        );
        assert_eq!(
            verify_handshake(&query("unsubscribe", "tok"), "tok"),
            Err(HandshakeError::NotSubscribe)
        );
        assert_eq!(
            verify_handshake(&query("subscribe", "tok")[..2], "tok"),
            Err(HandshakeError::Missing("hub.challenge"))
        );
        assert_eq!(
            verify_handshake(&[], "tok"),
            Err(HandshakeError::Missing("hub.mode"))
        );
    }

    #[test]
    fn a_malformed_signature_header_is_malformed() {
        for header in ["", "sha1=abcd", "sha256=xyz", "sha256=abcd"] {
            assert!(
                matches!(
                    verify_signature("secret", header, b"{}"),
                    Err(SignatureError::Malformed { .. })
                ),
                "{header}"
            );
        }
        let signed = sign("secret", b"{}");
        assert_eq!(verify_signature("secret", &signed, b"{}"), Ok(()));
        assert_eq!(
            verify_signature(
                "secret",
                &signed.to_uppercase().replace("SHA256=", "sha256="),
                b"{}"
            ),
            Ok(())
        );
    }

    #[test]
    fn only_digits_are_a_phone_number() {
        assert_eq!(
            whatsapp_phone("16505551234").map(|p| p.e164().to_owned()),
            Some("+16505551234".into())
        );
        for from in [
            "",
            "+16505551234",
            "US.13491208655302741918",
            "123",
            "1650555123456789",
        ] {
            assert!(whatsapp_phone(from).is_none(), "{from}");
        }
    }
}
