//! The simulated WhatsApp Cloud API (`POST /{version}/{phone_number_id}/messages`)
//! and its webhooks (statuses, inbound messages) signed with
//! `X-Hub-Signature-256`, following `docs/provider-contracts.md` §5.2 and
//! `docs/messaging-facts.md` §2: the 24-hour customer service window,
//! templates with quick-reply buttons, and Meta's error codes.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tracing::{error, info};

use crate::ids::{fbtrace_id, wamid};
use crate::messaging::deliver::{Outgoing, Payload, Step, deliver, play};
use crate::messaging::{
    self, Answer, Channel, Direction, MessageRecord, SendApi, SendRecord, StatusChange,
    TemplateButton, TemplateRecord, WebhookKind, send_record,
};
use crate::state::{ControlError, SimControl};

/// The WhatsApp Business Account id in every webhook's `entry[].id`.
pub const BUSINESS_ACCOUNT_ID: &str = "102290129340398";
/// How long a user's message keeps the customer service window open.
pub const WINDOW: SignedDuration = SignedDuration::from_hours(24);
/// The longest text body Meta takes.
const MAX_TEXT_CHARS: usize = 4096;

/// `X-Hub-Signature-256`: `sha256=` and the lower-hex HMAC-SHA256 of the raw
/// body with the app secret.
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", HEXLOWER.encode(&mac.finalize().into_bytes()))
}

/// The display number of a phone_number_id nobody named: `1555` and its
/// last seven digits.
pub fn default_display_number(phone_number_id: &str) -> String {
    let tail = &phone_number_id[phone_number_id.len().saturating_sub(7)..];
    format!("1555{tail:0>7}")
}

/// The digits of a WhatsApp number (`+14155550100` or `14155550100`).
fn digits(number: &str) -> Option<String> {
    let digits = number.strip_prefix('+').unwrap_or(number);
    ((7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0'))
    .then(|| digits.to_owned())
}

pub(crate) fn routes() -> Router<SimControl> {
    Router::new().route("/{version}/{phone_number_id}/messages", post(send_message))
}

/// A message a user sends to a WhatsApp business number
/// (`POST /_sim/whatsapp/inbound`): a text, or a template's quick-reply button.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InboundWhatsapp {
    /// The user, `+1…` or digits.
    pub from: String,
    pub phone_number_id: String,
    /// Remembered for the number's later webhooks; default: the last one
    /// given, else `1555` and the id's last seven digits.
    pub display_phone_number: Option<String>,
    pub text: Option<String>,
    /// Reply by the quick-reply button with this payload.
    pub button_payload: Option<String>,
    /// The button's label (default: the payload).
    pub button_text: Option<String>,
    /// `contacts[].profile.name` (default `Lead`).
    pub profile_name: Option<String>,
}

impl InboundWhatsapp {
    pub fn text(from: &str, phone_number_id: &str, text: &str) -> Self {
        InboundWhatsapp {
            from: from.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            text: Some(text.to_owned()),
            ..InboundWhatsapp::default()
        }
    }

    pub fn button(from: &str, phone_number_id: &str, payload: &str) -> Self {
        InboundWhatsapp {
            from: from.to_owned(),
            phone_number_id: phone_number_id.to_owned(),
            button_payload: Some(payload.to_owned()),
            ..InboundWhatsapp::default()
        }
    }
}

struct Whatsapp;

impl SendApi for Whatsapp {
    const CHANNEL: Channel = Channel::Whatsapp;

    fn forced(status: StatusCode) -> Answer {
        let (code, message) = match status.as_u16() {
            429 => (130429, "(#130429) Rate limit hit"),
            400 => (100, "(#100) Invalid parameter"),
            401 => (
                190,
                "Invalid OAuth access token - Cannot parse access token",
            ),
            500..=599 => (131000, "(#131000) Something went wrong"),
            _ => (1, "An unknown error occurred"),
        };
        meta_error(status, code, message, Some(message))
    }
}

/// Meta's error body: `{"error": {"message", "type", "code", "error_data":
/// {"messaging_product", "details"}, "fbtrace_id"}}`.
fn meta_error(status: StatusCode, code: i64, message: &str, details: Option<&str>) -> Answer {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
    });
    if let Some(details) = details {
        error["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
    }
    error["fbtrace_id"] = json!(fbtrace_id());
    Answer::error(status, json!({ "error": error }), Some(code), message)
}

/// 400, code 100: a parameter is wrong.
fn invalid(details: &str) -> Answer {
    meta_error(
        StatusCode::BAD_REQUEST,
        100,
        "(#100) Invalid parameter",
        Some(details),
    )
}

/// 400, code 100: a parameter is missing.
fn required(parameter: &str) -> Answer {
    let message = format!("(#100) The parameter {parameter} is required.");
    meta_error(StatusCode::BAD_REQUEST, 100, &message, Some(&message))
}

async fn send_message(
    State(control): State<SimControl>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let task =
        tokio::spawn(async move { handle(control, version, phone_number_id, headers, body).await });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            error!("WhatsApp send handler failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn is_version(version: &str) -> bool {
    version.strip_prefix('v').is_some_and(|v| {
        v.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

async fn handle(
    control: SimControl,
    version: String,
    phone_number_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = serde_json::from_slice::<Value>(&body);
    let to = json
        .as_ref()
        .ok()
        .and_then(|body| digits(body["to"].as_str()?))
        .map(|digits| format!("+{digits}"));
    let recorded = json
        .as_ref()
        .cloned()
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let record = send_record(Channel::Whatsapp, to, recorded);
    let authenticate = |record: &mut SendRecord| {
        record.account = Some(phone_number_id.clone());
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if token != Some(control.config().whatsapp_access_token.as_str()) {
            let message = "Invalid OAuth access token - Cannot parse access token";
            return Err(meta_error(StatusCode::UNAUTHORIZED, 190, message, None));
        }
        if !is_version(&version) {
            let message = format!("Unknown path components: /{version}/{phone_number_id}/messages");
            return Err(meta_error(StatusCode::BAD_REQUEST, 2500, &message, None));
        }
        if phone_number_id.is_empty() || !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            let message = format!(
                "Unsupported post request. Object with ID '{phone_number_id}' does not exist, \
                 cannot be loaded due to missing permissions, or does not support this operation."
            );
            return Err(meta_error(StatusCode::BAD_REQUEST, 100, &message, None));
        }
        Ok(())
    };
    let handle = |record: &mut SendRecord| {
        let body = json.map_err(|_| invalid("The request body is not valid JSON."))?;
        let request = WaRequest::parse(&body)?;
        record.sender = Some(phone_number_id.clone());
        accept(&control, &phone_number_id, request, record)
    };
    messaging::send::<Whatsapp>(&control, record, authenticate, handle).await
}

/// A valid send request.
#[derive(Debug)]
struct WaRequest {
    /// As given.
    input: String,
    digits: String,
    text: Option<String>,
    template: Option<TemplateRecord>,
}

impl WaRequest {
    fn parse(body: &Value) -> Result<WaRequest, Answer> {
        if !body.is_object() {
            return Err(invalid("The request body must be a JSON object."));
        }
        match body.get("messaging_product") {
            None => return Err(required("messaging_product")),
            Some(product) if product != "whatsapp" => {
                return Err(invalid("Param messaging_product must be 'whatsapp'"));
            }
            _ => {}
        }
        if let Some(kind) = body.get("recipient_type")
            && kind != "individual"
        {
            return Err(invalid("Param recipient_type must be 'individual'"));
        }
        let input = match body.get("to") {
            None => return Err(required("to")),
            Some(Value::String(to)) => to.clone(),
            Some(_) => return Err(invalid("Param to must be a string")),
        };
        let digits = digits(&input)
            .ok_or_else(|| invalid(&format!("Param to is not a valid phone number: {input}")))?;
        let kind = body.get("type").map_or(Some("text"), Value::as_str);
        let (text, template) = match kind {
            Some("text") => (Some(Self::text(body)?), None),
            Some("template") => (None, Some(Self::template(&body["template"])?)),
            _ => {
                return Err(invalid(
                    "Param type must be one of {TEXT, TEMPLATE} (the types leadline-sim knows)",
                ));
            }
        };
        Ok(WaRequest {
            input,
            digits,
            text,
            template,
        })
    }

    fn text(body: &Value) -> Result<String, Answer> {
        let text = body["text"]["body"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| required("text['body']"))?;
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(invalid(
                "Param text['body'] must be at most 4096 characters long.",
            ));
        }
        if let Some(preview) = body["text"].get("preview_url")
            && !preview.is_boolean()
        {
            return Err(invalid("Param text['preview_url'] must be a boolean"));
        }
        Ok(text.to_owned())
    }

    fn template(template: &Value) -> Result<TemplateRecord, Answer> {
        if !template.is_object() {
            return Err(required("template"));
        }
        let name = template["name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| required("template['name']"))?;
        let language = template["language"]["code"]
            .as_str()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| required("template['language']['code']"))?;
        let components = match &template["components"] {
            Value::Null => Vec::new(),
            Value::Array(components) => components.clone(),
            _ => return Err(invalid("Param template['components'] must be an array")),
        };
        let mut parameters = Vec::new();
        let mut buttons = Vec::new();
        for (i, component) in components.iter().enumerate() {
            let at = format!("template['components'][{i}]");
            let params = match &component["parameters"] {
                Value::Null => Vec::new(),
                Value::Array(params) => params.clone(),
                _ => {
                    return Err(invalid(&format!(
                        "Param {at}['parameters'] must be an array"
                    )));
                }
            };
            match component["type"].as_str() {
                Some("header" | "body" | "footer") => {
                    for (j, param) in params.iter().enumerate() {
                        let text = Self::parameter(param, &format!("{at}['parameters'][{j}]"))?;
                        if component["type"] == "body"
                            && let Some(text) = text
                        {
                            parameters.push(text);
                        }
                    }
                }
                Some("button") => buttons.push(Self::button(component, &params, &at)?),
                Some(other) => {
                    return Err(invalid(&format!(
                        "Param {at}['type'] must be one of {{HEADER, BODY, FOOTER, BUTTON}}, got {other}"
                    )));
                }
                None => return Err(required(&format!("{at}['type']"))),
            }
        }
        Ok(TemplateRecord {
            name: name.to_owned(),
            language: language.to_owned(),
            parameters,
            buttons,
            components: Value::Array(components),
        })
    }

    /// A header or body parameter; its text when it is a text one.
    fn parameter(param: &Value, at: &str) -> Result<Option<String>, Answer> {
        match param["type"].as_str() {
            Some("text") => match param["text"].as_str() {
                Some(text) if !text.is_empty() => Ok(Some(text.to_owned())),
                _ => Err(required(&format!("{at}['text']"))),
            },
            Some(
                kind @ ("currency" | "date_time" | "image" | "document" | "video" | "location"),
            ) => {
                if param.get(kind).is_none() {
                    return Err(required(&format!("{at}['{kind}']")));
                }
                Ok(None)
            }
            Some(other) => Err(invalid(&format!("Param {at}['type'] is invalid: {other}"))),
            None => Err(required(&format!("{at}['type']"))),
        }
    }

    fn button(component: &Value, params: &[Value], at: &str) -> Result<TemplateButton, Answer> {
        let sub_type = component["sub_type"]
            .as_str()
            .ok_or_else(|| required(&format!("{at}['sub_type']")))?;
        if !["quick_reply", "url", "copy_code", "flow"].contains(&sub_type) {
            return Err(invalid(&format!(
                "Param {at}['sub_type'] must be one of {{QUICK_REPLY, URL, COPY_CODE, FLOW}}"
            )));
        }
        let index = match &component["index"] {
            Value::String(index) => index.clone(),
            Value::Number(index) => index.to_string(),
            Value::Null => return Err(required(&format!("{at}['index']"))),
            _ => return Err(invalid(&format!("Param {at}['index'] must be a string"))),
        };
        if !index.parse::<u8>().is_ok_and(|i| i < 10) {
            return Err(invalid(&format!("Param {at}['index'] must be 0 to 9")));
        }
        let (kind, field) = match sub_type {
            "quick_reply" => ("payload", "payload"),
            "url" => ("text", "text"),
            _ => ("", ""),
        };
        let mut payload = None;
        if !kind.is_empty() {
            let Some(param) = params.first() else {
                return Err(required(&format!("{at}['parameters']")));
            };
            if param["type"] != kind {
                return Err(invalid(&format!(
                    "Param {at}['parameters'][0]['type'] must be '{kind}' for a {sub_type} button"
                )));
            }
            match param[field].as_str() {
                Some(value) => payload = Some(value.to_owned()),
                None => return Err(required(&format!("{at}['parameters'][0]['{field}']"))),
            }
        }
        Ok(TemplateButton {
            index,
            sub_type: sub_type.to_owned(),
            payload,
        })
    }
}

/// The user's rules (on WhatsApp at all, the window, the templates), then
/// the message: recorded, its statuses played, the scripted reply sent.
fn accept(
    control: &SimControl,
    phone_number_id: &str,
    request: WaRequest,
    record: &mut SendRecord,
) -> Result<Answer, Answer> {
    let lead = format!("+{}", request.digits);
    let mut messaging = control.messaging();
    let script = messaging.script(&lead).cloned().unwrap_or_default();
    if script.not_on_whatsapp {
        return Err(meta_error(
            StatusCode::BAD_REQUEST,
            131026,
            "(#131026) Message Undeliverable.",
            Some(
                "Message Undeliverable: the recipient is not a WhatsApp user, has not accepted \
                 the current terms, or uses an old client.",
            ),
        ));
    }
    if let (Some(template), Some(approved)) = (&request.template, &messaging.templates)
        && !approved.contains(&template.name)
    {
        return Err(meta_error(
            StatusCode::BAD_REQUEST,
            132001,
            "(#132001) Template name does not exist in the translation",
            Some(&format!(
                "template name ({}) does not exist in {}",
                template.name, template.language
            )),
        ));
    }
    if request.text.is_some() {
        let key = (phone_number_id.to_owned(), request.digits.clone());
        let open = messaging
            .windows
            .get(&key)
            .is_some_and(|last| control.config().virtual_now().duration_since(*last) < WINDOW);
        if !open {
            return Err(meta_error(
                StatusCode::BAD_REQUEST,
                131047,
                "(#131047) Re-engagement message",
                Some(
                    "Message failed to send because more than 24 hours have passed since the \
                     customer last replied to this number.",
                ),
            ));
        }
    }
    let id = wamid(&request.digits);
    let now = Timestamp::now();
    let display = display_number(&messaging.display_numbers, phone_number_id);
    let (steps, scripted) = if script.undeliverable {
        (
            vec![Step::failing(1.0, "failed", 131026)],
            Some("undeliverable"),
        )
    } else {
        let steps = vec![
            Step::new(1.0, "sent"),
            Step::new(2.0, "delivered"),
            Step::new(4.0, "read"),
        ];
        (steps, None)
    };
    let category = if request.template.is_some() {
        "utility"
    } else {
        "service"
    };
    messaging.add_message(MessageRecord {
        seq: 0,
        channel: Channel::Whatsapp,
        direction: Direction::Outbound,
        id: id.clone(),
        lead: lead.clone(),
        account: Some(phone_number_id.to_owned()),
        sender: phone_number_id.to_owned(),
        from: display.clone(),
        to: request.input.clone(),
        body: request.text.clone(),
        media_urls: Vec::new(),
        content_sid: None,
        template: request.template.clone(),
        subject: None,
        content: Vec::new(),
        template_id: None,
        categories: Vec::new(),
        custom_args: Map::new(),
        status_callback: None,
        scripted: scripted.map(str::to_owned),
        status: "accepted".into(),
        timeline: vec![StatusChange {
            status: "accepted".into(),
            at: now,
            error_code: None,
        }],
        opted_out: false,
        at: now,
    });
    let reply = (scripted.is_none())
        .then(|| messaging.take_reply(&lead, Channel::Whatsapp))
        .flatten();
    let generation = messaging.generation;
    drop(messaging);
    record.message_id = Some(id.clone());
    info!(%id, to = %lead, phone_number_id, "WhatsApp message accepted");

    let statuses = Statuses {
        id: id.clone(),
        lead: lead.clone(),
        digits: request.digits.clone(),
        phone_number_id: phone_number_id.to_owned(),
        display,
        category,
        conversation: HEXLOWER.encode(&crate::ids::random_bytes::<16>()),
    };
    control.spawn(play(
        control.clone(),
        generation,
        Channel::Whatsapp,
        id.clone(),
        lead.clone(),
        steps,
        move |step, at| Some(statuses.webhook(step, at)),
    ));
    if let Some(reply) = reply {
        let delay = control.config().scaled(reply.after_ms as f64 / 1000.0);
        let inbound = InboundWhatsapp {
            from: lead.clone(),
            phone_number_id: phone_number_id.to_owned(),
            display_phone_number: None,
            text: reply.text,
            button_payload: reply.button_payload,
            button_text: reply.button_text,
            profile_name: None,
        };
        let replying = control.clone();
        control.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = receive(&replying, inbound) {
                error!("scripted WhatsApp reply failed: {e}");
            }
        });
    }
    let mut message = json!({"id": id});
    if request.template.is_some() {
        message["message_status"] = json!("accepted");
    }
    Ok(Answer::new(
        StatusCode::OK,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": request.input, "wa_id": request.digits}],
            "messages": [message],
        }),
    ))
}

fn display_number(
    known: &std::collections::HashMap<String, String>,
    phone_number_id: &str,
) -> String {
    known
        .get(phone_number_id)
        .cloned()
        .unwrap_or_else(|| default_display_number(phone_number_id))
}

/// A webhook of the business number `phone_number_id`, with `value`'s own
/// fields (`statuses` or `contacts` and `messages`).
fn envelope(phone_number_id: &str, display: &str, fields: Value) -> Vec<u8> {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": phone_number_id},
    });
    if let (Some(value), Value::Object(fields)) = (value.as_object_mut(), fields) {
        value.extend(fields);
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": BUSINESS_ACCOUNT_ID, "changes": [{"value": value, "field": "messages"}]}],
    });
    serde_json::to_vec(&body).expect("JSON encodes")
}

/// What a message's status webhooks say.
struct Statuses {
    id: String,
    lead: String,
    digits: String,
    phone_number_id: String,
    display: String,
    category: &'static str,
    conversation: String,
}

impl Statuses {
    fn webhook(&self, step: &Step, at: Timestamp) -> Outgoing {
        let mut status = json!({
            "id": self.id,
            "status": step.status,
            "timestamp": at.as_second().to_string(),
            "recipient_id": self.digits,
        });
        match step.error_code {
            Some(code) => {
                status["errors"] = json!([{
                    "code": code,
                    "title": "Message undeliverable",
                    "message": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."},
                }]);
            }
            None if step.status != "read" => {
                let mut conversation =
                    json!({"id": self.conversation, "origin": {"type": self.category}});
                if step.status == "sent" {
                    let expires = at.as_second() + WINDOW.as_secs();
                    conversation["expiration_timestamp"] = json!(expires.to_string());
                }
                status["conversation"] = conversation;
                status["pricing"] =
                    json!({"billable": true, "pricing_model": "PMP", "category": self.category});
            }
            None => {}
        }
        Outgoing {
            channel: Channel::Whatsapp,
            kind: WebhookKind::Status,
            message_id: self.id.clone(),
            lead: self.lead.clone(),
            event: step.status.clone(),
            url: None,
            payload: Payload::Whatsapp(envelope(
                &self.phone_number_id,
                &self.display,
                json!({ "statuses": [status] }),
            )),
        }
    }
}

/// A user writes to a business number: the window opens (or refreshes) and
/// the message is posted to the WhatsApp webhook URL. Answers its wamid.
pub(crate) fn receive(control: &SimControl, inbound: InboundWhatsapp) -> Result<String, String> {
    let digits = digits(&inbound.from)
        .ok_or_else(|| format!("from must be a phone number, got {:?}", inbound.from))?;
    let pnid = inbound.phone_number_id.clone();
    if pnid.is_empty() || !pnid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("phone_number_id must be digits, got {pnid:?}"));
    }
    let lead = format!("+{digits}");
    let (text, button) = match (&inbound.text, &inbound.button_payload) {
        (Some(text), None) if !text.is_empty() => (Some(text.clone()), None),
        (None, Some(payload)) if !payload.is_empty() => (None, Some(payload.clone())),
        _ => return Err("an inbound message has a text or a button_payload (one of them)".into()),
    };
    let id = wamid(&digits);
    let now = Timestamp::now();
    let mut messaging = control.messaging();
    if let Some(display) = &inbound.display_phone_number {
        messaging
            .display_numbers
            .insert(pnid.clone(), display.clone());
    }
    let display = display_number(&messaging.display_numbers, &pnid);
    messaging.windows.insert(
        (pnid.clone(), digits.clone()),
        control.config().virtual_now(),
    );
    // A button reply answers the template that offered the button.
    let sent_to_lead = |m: &&MessageRecord| {
        m.channel == Channel::Whatsapp
            && m.direction == Direction::Outbound
            && m.lead == lead
            && m.sender == pnid
    };
    let context = button.as_ref().and_then(|payload| {
        let offered = messaging
            .messages
            .iter()
            .rev()
            .filter(sent_to_lead)
            .find(|m| {
                m.template.as_ref().is_some_and(|t| {
                    t.buttons
                        .iter()
                        .any(|b| b.payload.as_deref() == Some(payload))
                })
            });
        offered
            .or_else(|| messaging.messages.iter().rev().find(sent_to_lead))
            .map(|m| m.id.clone())
    });
    let button_text = inbound
        .button_text
        .clone()
        .or_else(|| button.clone())
        .unwrap_or_default();
    let mut message = json!({
        "from": digits,
        "id": id,
        "timestamp": now.as_second().to_string(),
    });
    match (&text, &button) {
        (Some(text), _) => {
            message["type"] = json!("text");
            message["text"] = json!({"body": text});
        }
        (None, Some(payload)) => {
            message["type"] = json!("button");
            message["button"] = json!({"payload": payload, "text": button_text});
            if let Some(context) = &context {
                message["context"] = json!({"from": display, "id": context});
            }
        }
        (None, None) => unreachable!("checked above"),
    }
    let profile = inbound
        .profile_name
        .clone()
        .unwrap_or_else(|| "Lead".into());
    let body = envelope(
        &pnid,
        &display,
        json!({
            "contacts": [{"profile": {"name": profile}, "wa_id": digits}],
            "messages": [message],
        }),
    );
    messaging.add_message(MessageRecord {
        seq: 0,
        channel: Channel::Whatsapp,
        direction: Direction::Inbound,
        id: id.clone(),
        lead: lead.clone(),
        account: Some(pnid.clone()),
        sender: pnid.clone(),
        from: lead.clone(),
        to: display.clone(),
        body: text.clone().or(button.clone()),
        media_urls: Vec::new(),
        content_sid: None,
        template: None,
        subject: None,
        content: Vec::new(),
        template_id: None,
        categories: Vec::new(),
        custom_args: Map::new(),
        status_callback: None,
        scripted: None,
        status: "received".into(),
        timeline: vec![StatusChange {
            status: "received".into(),
            at: now,
            error_code: None,
        }],
        opted_out: false,
        at: now,
    });
    let generation = messaging.generation;
    drop(messaging);
    info!(%id, from = %lead, phone_number_id = %pnid, "inbound WhatsApp message");
    let webhook = Outgoing {
        channel: Channel::Whatsapp,
        kind: WebhookKind::Inbound,
        message_id: id.clone(),
        lead,
        event: "inbound".into(),
        url: None,
        payload: Payload::Whatsapp(body),
    };
    let delivering = control.clone();
    control.spawn(async move { deliver(&delivering, generation, &webhook, false).await });
    Ok(id)
}

/// The simulated WhatsApp Cloud API, in process.
impl SimControl {
    /// The user writes to the business number now; answers the message's wamid.
    pub fn whatsapp_inbound(&self, inbound: InboundWhatsapp) -> Result<String, ControlError> {
        receive(self, inbound).map_err(ControlError)
    }

    /// Accepts only these template names (others: 400, 132001); `None`: any name.
    pub fn set_whatsapp_templates(&self, approved: Option<Vec<String>>) {
        self.messaging().templates = approved.map(|names| names.into_iter().collect());
    }

    pub fn whatsapp_templates(&self) -> Option<BTreeSet<String>> {
        self.messaging().templates.clone()
    }

    /// Sets when `user` last wrote to `phone_number_id` (on the callback
    /// clock), opening the window until 24 h later; `None` closes it.
    pub fn set_whatsapp_window(
        &self,
        phone_number_id: &str,
        user: &str,
        last_inbound_at: Option<Timestamp>,
    ) -> Result<(), ControlError> {
        let digits =
            digits(user).ok_or_else(|| ControlError(format!("{user:?} is not a phone number")))?;
        let key = (phone_number_id.to_owned(), digits);
        let mut messaging = self.messaging();
        match last_inbound_at {
            Some(at) => {
                messaging.windows.insert(key, at);
            }
            None => {
                messaging.windows.remove(&key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // Python: hmac.new(b"secret", b'{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("secret", br#"{"a":1}"#),
            "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
        );
    }

    #[test]
    fn versions_numbers_and_templates_are_checked() {
        assert!(is_version("v21.0"));
        assert!(!is_version("v21") && !is_version("21.0") && !is_version("vx.0"));
        assert_eq!(digits("+14155550100").as_deref(), Some("14155550100"));
        assert_eq!(digits("1415"), None);
        assert_eq!(default_display_number("106540352242922"), "15552242922");
        let template = json!({
            "name": "appt_reminder", "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Tue 10:00"}]},
                {"type": "button", "sub_type": "quick_reply", "index": "0",
                 "parameters": [{"type": "payload", "payload": "CONFIRM:1"}]},
            ],
        });
        let parsed = WaRequest::template(&template).unwrap();
        assert_eq!(parsed.parameters, ["Tue 10:00"]);
        assert_eq!(parsed.buttons[0].payload.as_deref(), Some("CONFIRM:1"));
        let mut bad = template.clone();
        bad["components"][1]["parameters"][0]["type"] = json!("text");
        assert!(WaRequest::template(&bad).is_err());
        let mut no_index = template.clone();
        no_index["components"][1]
            .as_object_mut()
            .unwrap()
            .remove("index");
        assert!(WaRequest::template(&no_index).is_err());
        let mut no_language = template;
        no_language.as_object_mut().unwrap().remove("language");
        assert!(WaRequest::template(&no_language).is_err());
    }
}
