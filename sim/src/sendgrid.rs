//! The simulated SendGrid v3 mail send (`POST /v3/mail/send`) and its
//! signed Event Webhook, following `docs/provider-contracts.md` §5.3 and
//! `docs/messaging-facts.md` §3.
//!
//! The Event Webhook's P-256 key is SHA-256 of a seed, so a deployment can
//! be given the public key ([`public_key`]) before the simulator starts.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use data_encoding::{BASE64, HEXUPPER};
use jiff::Timestamp;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tracing::{error, info};

use crate::ids::{random_bytes, sendgrid_id};
use crate::messaging::deliver::{Outgoing, Payload, Step, play};
use crate::messaging::state::Suppression;
use crate::messaging::{
    self, Answer, Channel, Direction, EmailOutcome, MessageRecord, SendApi, SendRecord,
    StatusChange, WebhookKind, is_email, send_record,
};
use crate::state::SimControl;

/// The Event Webhook's signature header (base64 DER ECDSA P-256/SHA-256 of
/// timestamp + body).
pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
/// The Event Webhook's timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

/// The most recipients (to, cc and bcc over every personalization) of one send.
const MAX_RECIPIENTS: usize = 1000;
const HELP: &str = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

/// The Event Webhook's signing key: SHA-256 of `seed` as the P-256 scalar
/// (hashed again in the unlikely case it is not one).
pub fn signing_key(seed: &str) -> SigningKey {
    let mut scalar = Sha256::digest(seed.as_bytes());
    loop {
        if let Ok(key) = SigningKey::from_slice(&scalar) {
            return key;
        }
        scalar = Sha256::digest(scalar);
    }
}

/// The public key of `seed`'s signing key, as SendGrid shows it: base64 of
/// the DER SubjectPublicKeyInfo.
pub fn public_key(seed: &str) -> String {
    let der = signing_key(seed)
        .verifying_key()
        .to_public_key_der()
        .expect("a P-256 key encodes");
    BASE64.encode(der.as_bytes())
}

/// `X-Twilio-Email-Event-Webhook-Signature`: base64 of the DER ECDSA
/// signature of `timestamp` followed by the raw body.
pub fn signature(seed: &str, timestamp: &str, body: &[u8]) -> String {
    let mut signed = timestamp.as_bytes().to_vec();
    signed.extend_from_slice(body);
    let signature: Signature = signing_key(seed).sign(&signed);
    BASE64.encode(signature.to_der().as_bytes())
}

pub(crate) fn routes() -> Router<SimControl> {
    Router::new().route("/v3/mail/send", post(mail_send))
}

struct SendGrid;

impl SendApi for SendGrid {
    const CHANNEL: Channel = Channel::Email;

    fn forced(status: StatusCode) -> Answer {
        let message = status.canonical_reason().unwrap_or("Error");
        errors(status, vec![error(message, None)])
    }
}

/// One item of SendGrid's `errors` array.
fn error(message: &str, field: Option<&str>) -> Value {
    let help = field.map(|field| format!("{HELP}#message.{field}"));
    json!({"message": message, "field": field, "help": help})
}

/// `{"errors": [...]}`.
fn errors(status: StatusCode, errors: Vec<Value>) -> Answer {
    let message = errors
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Answer::error(status, json!({ "errors": errors }), None, &message)
}

async fn mail_send(State(control): State<SimControl>, headers: HeaderMap, body: Bytes) -> Response {
    let task = tokio::spawn(async move { handle(control, headers, body).await });
    match task.await {
        Ok(response) => response,
        Err(e) => {
            error!("SendGrid send handler failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn handle(control: SimControl, headers: HeaderMap, body: Bytes) -> Response {
    let json = serde_json::from_slice::<Value>(&body);
    let to = json.as_ref().ok().and_then(|body| {
        let email = body["personalizations"][0]["to"][0]["email"].as_str()?;
        Some(email.to_ascii_lowercase())
    });
    let recorded = json
        .as_ref()
        .cloned()
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let record = send_record(Channel::Email, to, recorded);
    let authenticate = |_: &mut SendRecord| {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if key == Some(control.config().sendgrid_api_key.as_str()) {
            return Ok(());
        }
        let message = "The provided authorization grant is invalid, expired, or revoked";
        let body = json!({"errors": [{"message": message, "field": null, "help": null}]});
        Err(Answer::error(StatusCode::UNAUTHORIZED, body, None, message))
    };
    let handle = |record: &mut SendRecord| {
        let body =
            json.map_err(|_| errors(StatusCode::BAD_REQUEST, vec![error("Bad Request", None)]))?;
        let mail = Mail::parse(&body).map_err(|e| errors(StatusCode::BAD_REQUEST, e))?;
        record.sender = Some(mail.from.to_ascii_lowercase());
        Ok(accept(&control, mail, record))
    };
    messaging::send::<SendGrid>(&control, record, authenticate, handle).await
}

/// One personalization, checked.
struct Personalization {
    /// to, cc and bcc addresses, as given.
    recipients: Vec<String>,
    subject: Option<String>,
    custom_args: Map<String, Value>,
}

/// A valid mail send request.
struct Mail {
    personalizations: Vec<Personalization>,
    from: String,
    subject: Option<String>,
    content: Vec<Value>,
    template_id: Option<String>,
    categories: Vec<String>,
    custom_args: Map<String, Value>,
}

fn non_empty_str(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}

/// `custom_args`: an object of strings.
fn custom_args(value: &Value, field: &str, found: &mut Vec<Value>) -> Map<String, Value> {
    match value {
        Value::Null => Map::new(),
        Value::Object(args) => {
            for (key, arg) in args {
                if !arg.is_string() {
                    let message = format!("Invalid type. Expected: string, given: {}.", kind(arg));
                    found.push(error(&message, Some(&format!("{field}.{key}"))));
                }
            }
            args.clone()
        }
        other => {
            let message = format!("Invalid type. Expected: object, given: {}.", kind(other));
            found.push(error(&message, Some(field)));
            Map::new()
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Mail {
    /// Checks a request as SendGrid does; every error found is answered.
    fn parse(body: &Value) -> Result<Mail, Vec<Value>> {
        let mut found = Vec::new();
        let mut personalizations = Vec::new();
        match body["personalizations"].as_array() {
            Some(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    personalizations.push(Self::personalization(i, item, &mut found));
                }
            }
            _ => found.push(error(
                "The personalizations field is required and must have at least one \
                 personalization.",
                Some("personalizations"),
            )),
        }
        let recipients: usize = personalizations.iter().map(|p| p.recipients.len()).sum();
        if recipients > MAX_RECIPIENTS {
            found.push(error(
                "The total number of recipients must be less than 1001. This includes all \
                 recipients defined within the to, cc, and bcc parameters, across each object \
                 that you include in the personalizations array.",
                Some("personalizations"),
            ));
        }
        let from = match body["from"]["email"].as_str() {
            Some(email) if is_email(email) => email.to_owned(),
            Some(_) => {
                found.push(error(
                    "The from email does not contain a valid address.",
                    Some("from.email"),
                ));
                String::new()
            }
            None => {
                found.push(error(
                    "The from object must be provided for every email send. It is an object \
                     that requires the email parameter, but may also contain a name parameter.",
                    Some("from.email"),
                ));
                String::new()
            }
        };
        let template_id = non_empty_str(&body["template_id"]).map(str::to_owned);
        let subject = non_empty_str(&body["subject"]).map(str::to_owned);
        let every_subject =
            !personalizations.is_empty() && personalizations.iter().all(|p| p.subject.is_some());
        if template_id.is_none() && subject.is_none() && !every_subject {
            found.push(error(
                "The subject is required. You can get around this requirement if you use a \
                 template with a subject defined or if every personalization has a subject \
                 defined.",
                Some("subject"),
            ));
        }
        let content = body["content"].as_array().cloned().unwrap_or_default();
        if content.is_empty() && template_id.is_none() {
            found.push(error(
                "Unless a valid template_id is provided, the content parameter is required. \
                 There must be at least one defined content block. We typically suggest both \
                 text/plain and text/html blocks are included, but only one block is required.",
                Some("content"),
            ));
        }
        for (i, block) in content.iter().enumerate() {
            if non_empty_str(&block["type"]).is_none() {
                found.push(error(
                    "The content type must be a string at least one character in length.",
                    Some(&format!("content.{i}.type")),
                ));
            }
            if non_empty_str(&block["value"]).is_none() {
                found.push(error(
                    "The content value must be a string at least one character in length.",
                    Some(&format!("content.{i}.value")),
                ));
            }
        }
        let categories = match &body["categories"] {
            Value::Null => Vec::new(),
            Value::Array(items) if items.len() <= 10 && items.iter().all(Value::is_string) => items
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect(),
            _ => {
                found.push(error(
                    "The categories parameter must be an array of at most 10 strings.",
                    Some("categories"),
                ));
                Vec::new()
            }
        };
        let custom_args = custom_args(&body["custom_args"], "custom_args", &mut found);
        if !found.is_empty() {
            return Err(found);
        }
        Ok(Mail {
            personalizations,
            from,
            subject,
            content,
            template_id,
            categories,
            custom_args,
        })
    }

    fn personalization(i: usize, item: &Value, found: &mut Vec<Value>) -> Personalization {
        let mut recipients = Vec::new();
        match item["to"].as_array() {
            Some(to) if !to.is_empty() => {}
            _ => found.push(error(
                "The to array is required for all personalization objects, and must have at \
                 least one email object with a valid email address.",
                Some(&format!("personalizations.{i}.to")),
            )),
        }
        for list in ["to", "cc", "bcc"] {
            for (j, recipient) in item[list].as_array().into_iter().flatten().enumerate() {
                match recipient["email"].as_str() {
                    Some(email) if is_email(email) => recipients.push(email.to_owned()),
                    _ => found.push(error(
                        "Does not contain a valid address.",
                        Some(&format!("personalizations.{i}.{list}.{j}.email")),
                    )),
                }
            }
        }
        let field = format!("personalizations.{i}.custom_args");
        Personalization {
            recipients,
            subject: non_empty_str(&item["subject"]).map(str::to_owned),
            custom_args: custom_args(&item["custom_args"], &field, found),
        }
    }
}

/// Records a message per recipient and plays its events; answers 202 with
/// the `X-Message-Id`.
fn accept(control: &SimControl, mail: Mail, record: &mut SendRecord) -> Answer {
    let id = sendgrid_id();
    let now = Timestamp::now();
    let sender = mail.from.to_ascii_lowercase();
    let mut messaging = control.messaging();
    let generation = messaging.generation;
    let mut plays = Vec::new();
    let mut n = 0;
    for personalization in &mail.personalizations {
        let mut args = mail.custom_args.clone();
        args.extend(personalization.custom_args.clone());
        for email in &personalization.recipients {
            let lead = email.to_ascii_lowercase();
            let suppressed = messaging.suppressions.get(&lead).copied();
            let outcome = messaging.script(&lead).and_then(|s| s.email);
            let steps = steps(suppressed, outcome);
            let scripted = match (suppressed, outcome) {
                (Some(_), _) => Some("suppressed".to_owned()),
                (None, Some(outcome)) => serde_json::to_value(outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned)),
                (None, None) => None,
            };
            messaging.add_message(MessageRecord {
                seq: 0,
                channel: Channel::Email,
                direction: Direction::Outbound,
                id: id.clone(),
                lead: lead.clone(),
                account: None,
                sender: sender.clone(),
                from: mail.from.clone(),
                to: email.clone(),
                body: None,
                media_urls: Vec::new(),
                content_sid: None,
                template: None,
                subject: personalization.subject.clone().or(mail.subject.clone()),
                content: mail.content.clone(),
                template_id: mail.template_id.clone(),
                categories: mail.categories.clone(),
                custom_args: args.clone(),
                status_callback: None,
                scripted,
                status: "accepted".into(),
                timeline: vec![StatusChange {
                    status: "accepted".into(),
                    at: now,
                    error_code: None,
                }],
                opted_out: false,
                at: now,
            });
            let events = Events {
                control: control.clone(),
                generation,
                email: email.clone(),
                lead,
                sg_message_id: format!(
                    "{id}.filterdrecv-sim-1-{}-{n}.0",
                    HEXUPPER.encode(&random_bytes::<4>())
                ),
                smtp_id: format!("<{id}@ismtpd-sim>"),
                categories: mail.categories.clone(),
                custom_args: args.clone(),
                drop_reason: suppressed.map(Suppression::drop_reason),
            };
            plays.push((events, steps));
            n += 1;
        }
    }
    drop(messaging);
    record.message_id = Some(id.clone());
    info!(%id, recipients = n, from = %sender, "email accepted");
    for (events, steps) in plays {
        let lead = events.lead.clone();
        control.spawn(play(
            control.clone(),
            generation,
            Channel::Email,
            id.clone(),
            lead,
            steps,
            move |step, at| Some(events.webhook(step, at)),
        ));
    }
    let mut answer = Answer::new(StatusCode::ACCEPTED, Value::Null).header("x-message-id", id);
    answer.body = None;
    answer
}

/// The events of one recipient, at scripted seconds.
fn steps(suppressed: Option<Suppression>, outcome: Option<EmailOutcome>) -> Vec<Step> {
    let processed = Step::new(1.0, "processed");
    if suppressed.is_some() {
        return vec![processed, Step::new(1.5, "dropped")];
    }
    match outcome {
        None => vec![processed, Step::new(3.0, "delivered")],
        Some(EmailOutcome::Bounce) => vec![processed, Step::new(3.0, "bounce")],
        Some(EmailOutcome::Blocked) => vec![processed, Step::new(3.0, "blocked")],
        Some(EmailOutcome::Dropped) => vec![processed, Step::new(1.5, "dropped")],
        Some(EmailOutcome::Spamreport) => vec![
            processed,
            Step::new(3.0, "delivered"),
            Step::new(10.0, "spamreport"),
        ],
        Some(EmailOutcome::Unsubscribe) => vec![
            processed,
            Step::new(3.0, "delivered"),
            Step::new(10.0, "unsubscribe"),
        ],
    }
}

/// What one recipient's events say.
struct Events {
    control: SimControl,
    generation: u64,
    email: String,
    lead: String,
    sg_message_id: String,
    smtp_id: String,
    categories: Vec<String>,
    custom_args: Map<String, Value>,
    /// Why a suppressed address is dropped.
    drop_reason: Option<&'static str>,
}

impl Events {
    fn webhook(&self, step: &Step, at: Timestamp) -> Outgoing {
        let event = self.event(step, at);
        let suppression = match step.status.as_str() {
            "bounce" => Some(Suppression::Bounce),
            "blocked" => Some(Suppression::Block),
            "spamreport" => Some(Suppression::Spam),
            "unsubscribe" => Some(Suppression::Unsubscribe),
            _ => None,
        };
        if let Some(suppression) = suppression {
            let mut messaging = self.control.messaging();
            if messaging.generation == self.generation {
                messaging
                    .suppressions
                    .insert(self.lead.clone(), suppression);
            }
        }
        let body = serde_json::to_vec(&json!([event])).expect("JSON encodes");
        Outgoing {
            channel: Channel::Email,
            kind: WebhookKind::Event,
            message_id: self
                .sg_message_id
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned(),
            lead: self.lead.clone(),
            event: step.status.clone(),
            url: None,
            payload: Payload::SendGrid(body),
        }
    }

    /// One event object: the custom args as top-level fields, then SendGrid's own.
    fn event(&self, step: &Step, at: Timestamp) -> Value {
        let mut event = self.custom_args.clone();
        let mut set = |name: &str, value: Value| {
            event.insert(name.to_owned(), value);
        };
        set("email", json!(self.email));
        set("timestamp", json!(at.as_second()));
        set("smtp-id", json!(self.smtp_id));
        set("sg_event_id", json!(sendgrid_id()));
        set("sg_message_id", json!(self.sg_message_id));
        match self.categories.as_slice() {
            [] => {}
            [one] => set("category", json!(one)),
            many => set("category", json!(many)),
        }
        match step.status.as_str() {
            "delivered" => {
                set("event", json!("delivered"));
                set("response", json!("250 2.0.0 OK"));
                set("tls", json!(1));
            }
            "bounce" => {
                set("event", json!("bounce"));
                set("type", json!("bounce"));
                set("status", json!("5.1.1"));
                set(
                    "reason",
                    json!("550 5.1.1 The email account that you tried to reach does not exist."),
                );
                set("bounce_classification", json!("Invalid Address"));
            }
            "blocked" => {
                set("event", json!("bounce"));
                set("type", json!("blocked"));
                set("status", json!("5.7.1"));
                set(
                    "reason",
                    json!("550 5.7.1 Message rejected due to local policy"),
                );
                set("bounce_classification", json!("Reputation"));
            }
            "dropped" => {
                set("event", json!("dropped"));
                set("reason", json!(self.drop_reason.unwrap_or("Invalid")));
                set("status", json!("5.0.0"));
            }
            other => set("event", json!(other)),
        }
        Value::Object(event)
    }
}

/// The simulated SendGrid, in process.
impl SimControl {
    /// The Event Webhook's public key (base64 DER SubjectPublicKeyInfo).
    pub fn sendgrid_public_key(&self) -> String {
        public_key(&self.config().sendgrid_signing_seed)
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;

    use super::*;

    #[test]
    fn the_key_comes_from_the_seed_and_verifies_its_signatures() {
        assert_eq!(public_key("seed"), public_key("seed"));
        assert_ne!(public_key("seed"), public_key("other seed"));
        let der = BASE64.decode(public_key("seed").as_bytes()).unwrap();
        let key = VerifyingKey::from_public_key_der(&der).unwrap();
        let body = br#"[{"event":"processed"}]"#;
        let signature = BASE64
            .decode(signature("seed", "1700000000", body).as_bytes())
            .unwrap();
        let signature = Signature::from_der(&signature).unwrap();
        assert!(
            key.verify(b"1700000000[{\"event\":\"processed\"}]", &signature)
                .is_ok()
        );
        assert!(
            key.verify(b"1700000001[{\"event\":\"processed\"}]", &signature)
                .is_err()
        );
    }

    #[test]
    fn a_mail_is_checked_like_sendgrid() {
        let fields = |body: Value| -> Vec<String> {
            match Mail::parse(&body) {
                Ok(_) => Vec::new(),
                Err(errors) => errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect(),
            }
        };
        let good = json!({
            "personalizations": [{"to": [{"email": "a@b.com"}], "custom_args": {"m": "1"}}],
            "from": {"email": "noreply@x.com"}, "subject": "Hi",
            "content": [{"type": "text/plain", "value": "Hello"}],
        });
        assert!(fields(good.clone()).is_empty());
        let templated = json!({
            "personalizations": [{"to": [{"email": "a@b.com"}]}],
            "from": {"email": "noreply@x.com"}, "template_id": "d-123",
        });
        assert!(fields(templated).is_empty());
        assert_eq!(
            fields(json!({})),
            ["personalizations", "from.email", "subject", "content"]
        );
        let mut bad = good.clone();
        bad["personalizations"][0]["to"][0]["email"] = json!("nobody");
        bad["content"][0]["value"] = json!("");
        bad["custom_args"] = json!({"n": 1});
        assert_eq!(
            fields(bad),
            [
                "personalizations.0.to.0.email",
                "content.0.value",
                "custom_args.n"
            ]
        );
        let mut many = good;
        let to: Vec<Value> = (0..1001)
            .map(|i| json!({"email": format!("a{i}@b.com")}))
            .collect();
        many["personalizations"][0]["to"] = json!(to);
        assert_eq!(fields(many), ["personalizations"]);
    }
}
