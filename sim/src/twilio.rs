//! The simulated Twilio Messages API (`POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`), its status callbacks
//! and inbound SMS webhooks, signed with `X-Twilio-Signature`, and its
//! opt-out keywords, following `docs/provider-contracts.md` §5.1 and
//! `docs/messaging-facts.md` §1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha1::Sha1;
use tracing::{error, info};

use crate::ids::{is_e164, twilio_message_sid};
use crate::messaging::deliver::{Outgoing, Payload, Step, deliver, play};
use crate::messaging::{
    self, Answer, Channel, Direction, MessageRecord, SendApi, SendRecord, StatusChange,
    WebhookKind, form, send_record,
};
use crate::state::{ControlError, SimControl};

/// The API version in every path and webhook.
pub const API_VERSION: &str = "2010-04-01";
/// Twilio's default opt-out keywords (the whole body, any case, trimmed).
pub const OPT_OUT_KEYWORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
/// Its default opt-in keywords.
pub const OPT_IN_KEYWORDS: [&str; 3] = ["START", "YES", "UNSTOP"];
/// Its default help keywords.
pub const HELP_KEYWORDS: [&str; 2] = ["HELP", "INFO"];
/// Twilio's standard answers to the keywords.
pub const OPT_OUT_REPLY: &str = "You have successfully been unsubscribed. You will not receive \
    any more messages from this number. Reply START to resubscribe.";
pub const OPT_IN_REPLY: &str = "You have successfully been re-subscribed to messages from this \
    number. Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.";
pub const HELP_REPLY: &str = "Reply STOP to unsubscribe. Msg&Data Rates May Apply.";

/// The longest body Twilio takes.
const MAX_BODY_CHARS: usize = 1600;
/// Scripted seconds after acceptance of `sent`, then of the final status.
const SENT_SECONDS: f64 = 1.0;
const FINAL_SECONDS: f64 = 3.0;

/// `AC` and 32 hex digits.
pub fn is_account_sid(sid: &str) -> bool {
    is_sid(sid, "AC")
}

/// `MG` and 32 hex digits: a Messaging Service.
pub fn is_service_sid(sid: &str) -> bool {
    is_sid(sid, "MG")
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, `url` followed by,
/// for each parameter name in sorted order and each of its distinct values
/// in sorted order, name and value)), as twilio-python computes it.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, values) in sorted {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    BASE64.encode(&mac.finalize().into_bytes())
}

/// The number a Messaging Service sends from when none was set: `+1555`
/// and seven digits from its sid.
pub fn default_service_number(service_sid: &str) -> String {
    // FNV-1a: the same number on every run.
    let hash = service_sid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("+1555{:07}", hash % 10_000_000)
}

pub(crate) fn routes() -> Router<SimControl> {
    Router::new().route(
        "/2010-04-01/Accounts/{account_sid}/Messages.json",
        post(create_message),
    )
}

/// A message a lead texts to a Twilio number (`POST /_sim/twilio/inbound`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSms {
    /// The lead, E.164.
    pub from: String,
    /// The business number, E.164.
    pub to: String,
    pub body: String,
    /// The account the number belongs to; default: the one that sent from it
    /// last, else the default account.
    #[serde(default)]
    pub account_sid: Option<String>,
}

impl InboundSms {
    pub fn new(from: &str, to: &str, body: &str) -> Self {
        InboundSms {
            from: from.to_owned(),
            to: to.to_owned(),
            body: body.to_owned(),
            account_sid: None,
        }
    }
}

struct Twilio;

impl SendApi for Twilio {
    const CHANNEL: Channel = Channel::Sms;

    fn forced(status: StatusCode) -> Answer {
        let code = 20000 + i64::from(status.as_u16());
        let message = status.canonical_reason().unwrap_or("Error");
        error_answer(status, code, message)
    }
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
fn error_answer(status: StatusCode, code: i64, message: &str) -> Answer {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    Answer::error(status, body, Some(code), message)
}

fn bad_request(code: i64, message: &str) -> Answer {
    error_answer(StatusCode::BAD_REQUEST, code, message)
}

async fn create_message(
    State(control): State<SimControl>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // In a task of its own: a client that gives up waiting does not cancel
    // the request, which may still send the message.
    let task = tokio::spawn(async move { handle(control, account_sid, headers, body).await });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            error!("Twilio send handler failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn handle(
    control: SimControl,
    path_sid: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = form::decode(&String::from_utf8_lossy(&body));
    let to = param(&params, "To").map(str::to_owned);
    let record = send_record(Channel::Sms, to, form_json(&params));
    let authenticate = |record: &mut SendRecord| {
        let account = authenticated_account(&control, &headers);
        record.account = account.clone();
        match account {
            Some(account) if account == path_sid => Ok(()),
            _ => Err(error_answer(
                StatusCode::UNAUTHORIZED,
                20003,
                "Authenticate",
            )),
        }
    };
    let handle = |record: &mut SendRecord| {
        let request = SmsRequest::parse(&params)?;
        record.sender = Some(request.sender().to_owned());
        let account = record.account.clone().expect("authenticated");
        accept(&control, &account, request, record)
    };
    messaging::send::<Twilio>(&control, record, authenticate, handle).await
}

/// The account whose sid and Auth Token the request's HTTP Basic
/// credentials are.
fn authenticated_account(control: &SimControl, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = BASE64.decode(encoded.as_bytes()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (sid, token) = decoded.split_once(':')?;
    let messaging = control.messaging();
    (messaging.twilio_accounts.get(sid)? == token).then(|| sid.to_owned())
}

/// The first value of a form parameter.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A form as JSON: each parameter a string, a repeated one an array.
fn form_json(params: &[(String, String)]) -> Value {
    let mut object = Map::new();
    for (name, value) in params {
        match object.get_mut(name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            Some(first) => *first = json!([first.clone(), value]),
            None => {
                object.insert(name.clone(), json!(value));
            }
        }
    }
    Value::Object(object)
}

/// A valid create-message request.
#[derive(Debug)]
struct SmsRequest {
    to: String,
    from: Option<String>,
    service: Option<String>,
    body: String,
    media: Vec<String>,
    content_sid: Option<String>,
    status_callback: Option<String>,
}

fn is_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains(char::is_whitespace)
}

impl SmsRequest {
    /// Checks the form as Twilio does, answering its error codes.
    fn parse(params: &[(String, String)]) -> Result<Self, Answer> {
        let get = |name| param(params, name).filter(|v| !v.is_empty());
        let to = get("To").ok_or_else(|| bad_request(21604, "A 'To' phone number is required."))?;
        if !is_e164(to) {
            let message = format!("The 'To' number {to} is not a valid phone number.");
            return Err(bad_request(21211, &message));
        }
        let (from, service) = (get("From"), get("MessagingServiceSid"));
        match (from, service) {
            (None, None) => return Err(bad_request(21603, "A 'From' phone number is required.")),
            (Some(_), Some(_)) => {
                let message = "Give a 'From' number or a 'MessagingServiceSid', not both \
                               (leadline-sim is stricter than Twilio here).";
                return Err(bad_request(21603, message));
            }
            (Some(from), None) if !is_e164(from) => {
                let message = format!(
                    "The 'From' number {from} is not a valid phone number, shortcode, or \
                     alphanumeric sender ID."
                );
                return Err(bad_request(21212, &message));
            }
            (None, Some(sid)) if !is_service_sid(sid) => {
                let message = format!("The Messaging Service Sid {sid} is invalid.");
                return Err(bad_request(21701, &message));
            }
            _ => {}
        }
        let body = get("Body").unwrap_or_default();
        let media: Vec<String> = params
            .iter()
            .filter(|(n, v)| n == "MediaUrl" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect();
        let content_sid = get("ContentSid");
        if body.is_empty() && media.is_empty() && content_sid.is_none() {
            let message = "A text message body, media URL, or Content SID must be specified.";
            return Err(bad_request(21619, message));
        }
        if body.chars().count() > MAX_BODY_CHARS {
            let message = "The concatenated message body exceeds the 1600 character limit.";
            return Err(bad_request(21617, message));
        }
        if let Some(sid) = content_sid
            && !is_sid(sid, "HX")
        {
            return Err(bad_request(21655, "The ContentSid is Invalid."));
        }
        if media.iter().any(|url| !is_url(url)) {
            return Err(bad_request(21620, "Invalid media URL(s)."));
        }
        let status_callback = get("StatusCallback");
        if let Some(url) = status_callback
            && !is_url(url)
        {
            let message = format!("The StatusCallback URL {url} is not a valid URL.");
            return Err(bad_request(21609, &message));
        }
        Ok(SmsRequest {
            to: to.to_owned(),
            from: from.map(str::to_owned),
            service: service.map(str::to_owned),
            body: body.to_owned(),
            media,
            content_sid: content_sid.map(str::to_owned),
            status_callback: status_callback.map(str::to_owned),
        })
    }

    /// The `From` number, or the Messaging Service.
    fn sender(&self) -> &str {
        self.from
            .as_deref()
            .or(self.service.as_deref())
            .unwrap_or_default()
    }
}

/// The opt-out and the rate limit, then the message: recorded, its statuses
/// played and the lead's scripted reply sent.
fn accept(
    control: &SimControl,
    account: &str,
    request: SmsRequest,
    record: &mut SendRecord,
) -> Result<Answer, Answer> {
    let config = control.config();
    let sender = request.sender().to_owned();
    let mut messaging = control.messaging();
    if messaging.opted_out(&request.to, &sender) {
        return Err(bad_request(
            21610,
            "Attempt to send to unsubscribed recipient",
        ));
    }
    let mps = match request.service {
        Some(_) => config.twilio_service_mps,
        None => config.twilio_mps,
    };
    if let Err(wait) = messaging.take_rate(&sender, mps, Instant::now()) {
        let answer = error_answer(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        return Err(answer.header("retry-after", wait.to_string()));
    }
    // The number the lead sees the message come from.
    let from_number = match (&request.from, &request.service) {
        (Some(from), _) => from.clone(),
        (None, Some(service)) => messaging
            .service_numbers
            .entry(service.clone())
            .or_insert_with(|| default_service_number(service))
            .clone(),
        (None, None) => unreachable!("a request has a sender"),
    };
    messaging
        .sender_accounts
        .insert(sender.clone(), account.to_owned());
    messaging
        .sender_accounts
        .insert(from_number.clone(), account.to_owned());
    let sid = twilio_message_sid();
    let now = Timestamp::now();
    let initial = if request.service.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let script = messaging.script(&request.to).cloned().unwrap_or_default();
    let (steps, scripted) = if script.failed {
        (
            vec![Step::failing(SENT_SECONDS, "failed", 30008)],
            Some("failed"),
        )
    } else if script.undeliverable {
        let steps = vec![
            Step::new(SENT_SECONDS, "sent"),
            Step::failing(FINAL_SECONDS, "undelivered", 30003),
        ];
        (steps, Some("undeliverable"))
    } else {
        let steps = vec![
            Step::new(SENT_SECONDS, "sent"),
            Step::new(FINAL_SECONDS, "delivered"),
        ];
        (steps, None)
    };
    messaging.add_message(MessageRecord {
        seq: 0,
        channel: Channel::Sms,
        direction: Direction::Outbound,
        id: sid.clone(),
        lead: request.to.clone(),
        account: Some(account.to_owned()),
        sender: sender.clone(),
        from: from_number.clone(),
        to: request.to.clone(),
        body: Some(request.body.clone()),
        media_urls: request.media.clone(),
        content_sid: request.content_sid.clone(),
        template: None,
        subject: None,
        content: Vec::new(),
        template_id: None,
        categories: Vec::new(),
        custom_args: Map::new(),
        status_callback: request.status_callback.clone(),
        scripted: scripted.map(str::to_owned),
        status: initial.to_owned(),
        timeline: vec![StatusChange {
            status: initial.to_owned(),
            at: now,
            error_code: None,
        }],
        opted_out: false,
        at: now,
    });
    let reply = (scripted.is_none())
        .then(|| messaging.take_reply(&request.to, Channel::Sms))
        .flatten();
    let generation = messaging.generation;
    let auth_token = messaging
        .twilio_accounts
        .get(account)
        .cloned()
        .unwrap_or_default();
    drop(messaging);
    record.message_id = Some(sid.clone());
    info!(%sid, to = %request.to, %sender, "SMS accepted");

    let resource = message_resource(account, &sid, &request, initial, now);
    let callback = Callback {
        url: request.status_callback.clone(),
        auth_token,
        account: account.to_owned(),
        sid: sid.clone(),
        from: from_number.clone(),
        to: request.to.clone(),
        service: request.service.clone(),
    };
    control.spawn(play(
        control.clone(),
        generation,
        Channel::Sms,
        sid,
        request.to.clone(),
        steps,
        move |step, at| callback.webhook(step, at),
    ));
    if let Some(reply) = reply
        && let Some(text) = reply.text
    {
        let delay = control.config().scaled(reply.after_ms as f64 / 1000.0);
        let inbound = InboundSms {
            from: request.to.clone(),
            to: from_number,
            body: text,
            account_sid: Some(account.to_owned()),
        };
        let replying = control.clone();
        control.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = receive(&replying, inbound) {
                error!("scripted SMS reply failed: {e}");
            }
        });
    }
    Ok(Answer::new(StatusCode::CREATED, resource))
}

/// `Thu, 24 Aug 2023 05:01:45 +0000`, as Twilio writes dates.
fn rfc2822(at: Timestamp) -> String {
    at.to_zoned(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

/// The Message resource, as the create answer shows it.
fn message_resource(
    account: &str,
    sid: &str,
    request: &SmsRequest,
    status: &str,
    now: Timestamp,
) -> Value {
    let uri = format!("/{API_VERSION}/Accounts/{account}/Messages/{sid}");
    json!({
        "account_sid": account,
        "api_version": API_VERSION,
        "body": request.body,
        "date_created": rfc2822(now),
        "date_sent": null,
        "date_updated": rfc2822(now),
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": request.from,
        "messaging_service_sid": request.service,
        "num_media": request.media.len().to_string(),
        "num_segments": segments(&request.body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": status,
        "subresource_uris": {"media": format!("{uri}/Media.json")},
        "to": request.to,
        "uri": format!("{uri}.json"),
    })
}

/// The SMS segments a body takes: GSM-7 (160, or 153 each when split),
/// else UCS-2 (70, or 67 each).
pub fn segments(body: &str) -> usize {
    const GSM: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                       ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";
    let mut gsm_units = 0;
    let mut gsm = true;
    for c in body.chars() {
        if GSM.contains(c) {
            gsm_units += 1;
        } else if GSM_EXTENDED.contains(c) {
            gsm_units += 2;
        } else {
            gsm = false;
            break;
        }
    }
    let (units, single, part) = if gsm {
        (gsm_units, 160, 153)
    } else {
        (body.encode_utf16().count(), 70, 67)
    };
    match units {
        0 => 1,
        n if n <= single => 1,
        n => n.div_ceil(part),
    }
}

/// Where a message's status callbacks go, and what they say.
struct Callback {
    url: Option<String>,
    auth_token: String,
    account: String,
    sid: String,
    from: String,
    to: String,
    service: Option<String>,
}

impl Callback {
    fn webhook(&self, step: &Step, at: Timestamp) -> Option<Outgoing> {
        let url = self.url.clone()?;
        let mut params = vec![
            ("SmsSid", self.sid.clone()),
            ("SmsStatus", step.status.clone()),
            ("MessageStatus", step.status.clone()),
            ("To", self.to.clone()),
            ("MessageSid", self.sid.clone()),
            ("AccountSid", self.account.clone()),
            ("From", self.from.clone()),
            ("ApiVersion", API_VERSION.to_owned()),
        ];
        if let Some(service) = &self.service {
            params.push(("MessagingServiceSid", service.clone()));
        }
        if let Some(code) = step.error_code {
            params.push(("ErrorCode", code.to_string()));
        }
        if matches!(step.status.as_str(), "delivered" | "undelivered") {
            let done = at
                .to_zoned(TimeZone::UTC)
                .strftime("%y%m%d%H%M")
                .to_string();
            params.push(("RawDlrDoneDate", done));
        }
        Some(Outgoing {
            channel: Channel::Sms,
            kind: WebhookKind::Status,
            message_id: self.sid.clone(),
            lead: self.to.clone(),
            event: step.status.clone(),
            url: Some(url),
            payload: Payload::Twilio {
                params: params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
                auth_token: self.auth_token.clone(),
            },
        })
    }
}

/// The ISO country of an E.164 number, for `FromCountry` and `ToCountry`.
fn country(number: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 10] = [
        ("+1", "US"),
        ("+44", "GB"),
        ("+49", "DE"),
        ("+33", "FR"),
        ("+34", "ES"),
        ("+61", "AU"),
        ("+52", "MX"),
        ("+91", "IN"),
        ("+55", "BR"),
        ("+39", "IT"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| number.starts_with(prefix))
        .map_or("", |(_, country)| country)
}

/// A lead texts a Twilio number: its opt-out (or opt-in, or help) keyword
/// takes effect now, Twilio's automatic answer is recorded, and the message
/// is posted to the Twilio webhook URL. Answers the message's sid.
pub(crate) fn receive(control: &SimControl, inbound: InboundSms) -> Result<String, String> {
    for (name, number) in [("from", &inbound.from), ("to", &inbound.to)] {
        if !is_e164(number) {
            return Err(format!("{name} must be an E.164 number, got {number:?}"));
        }
    }
    if inbound.body.chars().count() > MAX_BODY_CHARS {
        return Err(format!("a body has at most {MAX_BODY_CHARS} characters"));
    }
    let config = control.config();
    let (lead, number) = (inbound.from.clone(), inbound.to.clone());
    let sid = twilio_message_sid();
    let now = Timestamp::now();
    let mut messaging = control.messaging();
    let service = messaging.service_of(&number);
    let sender = service.clone().unwrap_or_else(|| number.clone());
    let account = match inbound.account_sid {
        Some(account) => account,
        None => messaging.account_of(&sender, &config.twilio_account_sid),
    };
    let Some(auth_token) = messaging.twilio_accounts.get(&account).cloned() else {
        return Err(format!("no Twilio account {account}"));
    };
    let keyword = inbound.body.trim().to_ascii_uppercase();
    let auto_reply = if OPT_OUT_KEYWORDS.contains(&keyword.as_str()) {
        messaging.opt_outs.insert((lead.clone(), sender.clone()));
        Some(OPT_OUT_REPLY)
    } else if OPT_IN_KEYWORDS.contains(&keyword.as_str()) {
        let by_number = messaging.opt_outs.remove(&(lead.clone(), number.clone()));
        let by_service = messaging.opt_outs.remove(&(lead.clone(), sender.clone()));
        (by_number || by_service).then_some(OPT_IN_REPLY)
    } else if HELP_KEYWORDS.contains(&keyword.as_str()) {
        Some(HELP_REPLY)
    } else {
        None
    };
    let message =
        |id: String, direction, from: &str, to: &str, body: &str, status: &str| MessageRecord {
            seq: 0,
            channel: Channel::Sms,
            direction,
            id,
            lead: lead.clone(),
            account: Some(account.clone()),
            sender: sender.clone(),
            from: from.to_owned(),
            to: to.to_owned(),
            body: Some(body.to_owned()),
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
            status: status.to_owned(),
            timeline: vec![StatusChange {
                status: status.to_owned(),
                at: now,
                error_code: None,
            }],
            opted_out: false,
            at: now,
        };
    let received = message(
        sid.clone(),
        Direction::Inbound,
        &lead,
        &number,
        &inbound.body,
        "received",
    );
    messaging.add_message(received);
    if let Some(text) = auto_reply {
        let reply = message(
            twilio_message_sid(),
            Direction::AutoReply,
            &number,
            &lead,
            text,
            "sent",
        );
        messaging.add_message(reply);
    }
    let generation = messaging.generation;
    drop(messaging);
    info!(%sid, from = %lead, to = %number, keyword = ?auto_reply.is_some(), "inbound SMS");

    let mut params = vec![
        ("ToCountry", country(&number).to_owned()),
        ("ToState", String::new()),
        ("SmsMessageSid", sid.clone()),
        ("NumMedia", "0".to_owned()),
        ("ToCity", String::new()),
        ("FromZip", String::new()),
        ("SmsSid", sid.clone()),
        ("FromState", String::new()),
        ("SmsStatus", "received".to_owned()),
        ("FromCity", String::new()),
        ("Body", inbound.body.clone()),
        ("FromCountry", country(&lead).to_owned()),
        ("To", number.clone()),
        ("ToZip", String::new()),
        ("NumSegments", segments(&inbound.body).to_string()),
        ("ReferralNumMedia", "0".to_owned()),
        ("MessageSid", sid.clone()),
        ("AccountSid", account.clone()),
        ("From", lead.clone()),
        ("ApiVersion", API_VERSION.to_owned()),
    ];
    if let Some(service) = service {
        params.push(("MessagingServiceSid", service));
    }
    let webhook = Outgoing {
        channel: Channel::Sms,
        kind: WebhookKind::Inbound,
        message_id: sid.clone(),
        lead,
        event: "inbound".into(),
        url: None,
        payload: Payload::Twilio {
            params: params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect(),
            auth_token,
        },
    };
    let delivering = control.clone();
    control.spawn(async move { deliver(&delivering, generation, &webhook, false).await });
    Ok(sid)
}

/// The simulated Twilio, in process.
impl SimControl {
    /// Adds a Twilio account (or changes its Auth Token), e.g. a tenant's own.
    pub fn add_twilio_account(&self, sid: &str, auth_token: &str) -> Result<(), ControlError> {
        if !is_account_sid(sid) {
            return Err(ControlError(format!(
                "{sid:?} is not an account sid (AC and 32 hex digits)"
            )));
        }
        if auth_token.is_empty() {
            return Err(ControlError("an auth token is not empty".into()));
        }
        self.messaging()
            .twilio_accounts
            .insert(sid.to_owned(), auth_token.to_owned());
        Ok(())
    }

    /// Every Twilio account: sid → Auth Token.
    pub fn twilio_accounts(&self) -> BTreeMap<String, String> {
        self.messaging().twilio_accounts.clone()
    }

    /// The number a Messaging Service sends from (and a lead's reply goes to).
    pub fn set_twilio_service_number(
        &self,
        service_sid: &str,
        number: &str,
    ) -> Result<(), ControlError> {
        if !is_service_sid(service_sid) {
            return Err(ControlError(format!(
                "{service_sid:?} is not a Messaging Service sid (MG and 32 hex digits)"
            )));
        }
        if !is_e164(number) {
            return Err(ControlError(format!("{number:?} is not an E.164 number")));
        }
        self.messaging()
            .service_numbers
            .insert(service_sid.to_owned(), number.to_owned());
        Ok(())
    }

    /// Each Messaging Service's number.
    pub fn twilio_service_numbers(&self) -> BTreeMap<String, String> {
        self.messaging().service_numbers.clone()
    }

    /// The (lead, From number or Messaging Service) pairs opted out now.
    pub fn twilio_opt_outs(&self) -> Vec<(String, String)> {
        self.messaging().opt_outs.iter().cloned().collect()
    }

    /// The lead texts a Twilio number now; answers the message's sid.
    pub fn twilio_inbound(&self, inbound: InboundSms) -> Result<String, ControlError> {
        receive(self, inbound).map_err(ControlError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_sorts_keys_and_distinct_values() {
        let params: Vec<(String, String)> = [
            ("To", "+14155550100"),
            ("Body", "Hi there"),
            ("MediaUrl", "https://b.test/2"),
            ("MediaUrl", "https://a.test/1"),
            ("MediaUrl", "https://b.test/2"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let url = "https://hooks.test/sms?tenant=acme&x=1";
        // Computed apart from this code: Python's hmac over
        // url + "BodyHi thereMediaUrlhttps://a.test/1MediaUrlhttps://b.test/2To+14155550100".
        assert_eq!(
            signature("12345", url, &params),
            "40NJScMcoiwWQEBc3tkS5gtZPHI="
        );
        let reversed: Vec<_> = params.iter().rev().cloned().collect();
        assert_eq!(
            signature("12345", url, &reversed),
            signature("12345", url, &params)
        );
        assert_ne!(
            signature("12346", url, &params),
            signature("12345", url, &params)
        );
    }

    #[test]
    fn sids_and_segments() {
        assert!(is_account_sid("AC5e1a0000000000000000000000000001"));
        assert!(!is_account_sid("AC5e1a"));
        assert!(is_service_sid("MG0123456789abcdef0123456789ABCDEF"));
        assert!(!is_service_sid("MGxyz3456789abcdef0123456789abcdef"));
        assert_eq!(segments("Hi"), 1);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"é".repeat(160)), 1);
        assert_eq!(segments(&"😀".repeat(35)), 1);
        assert_eq!(segments(&"😀".repeat(36)), 2);
        assert_eq!(
            default_service_number("MG0123456789abcdef0123456789abcdef").len(),
            12
        );
        assert_eq!(
            default_service_number("MG0123456789abcdef0123456789abcdef"),
            default_service_number("MG0123456789abcdef0123456789abcdef")
        );
    }

    #[test]
    fn a_form_is_recorded_as_json() {
        let params = form::decode("To=%2B1&MediaUrl=a&MediaUrl=b&MediaUrl=c");
        assert_eq!(
            form_json(&params),
            json!({"To": "+1", "MediaUrl": ["a", "b", "c"]})
        );
    }
}
