//! A simulator per test, a webhook receiver, and small HTTP helpers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use data_encoding::HEXLOWER;
use hmac::{Hmac, KeyInit, Mac};
use leadline_sim::{
    DefaultScript, DeliveryRecord, Filter, Outcome, Script, Sim, SimConfig, SimHandle,
};
use serde_json::{Value, json};
use sha2::Sha256;

pub const RETELL_KEY: &str = "key_test_retell";
pub const VAPI_KEY: &str = "vapi-private-test";
pub const VAPI_SECRET: &str = "vapi-webhook-secret-test";

/// Scripted time runs a thousand times faster: a 150 s call lasts 0.15 s.
pub const TIME_SCALE: f64 = 0.001;

pub async fn start_sim(receiver: Option<&Receiver>) -> SimHandle {
    Sim::start(SimConfig {
        retell_api_key: RETELL_KEY.into(),
        vapi_api_key: VAPI_KEY.into(),
        vapi_webhook_secret: VAPI_SECRET.into(),
        retell_webhook_url: receiver.map(|r| format!("{}/retell", r.url)),
        vapi_webhook_url: receiver.map(|r| format!("{}/vapi", r.url)),
        max_concurrent_calls: 20,
        time_scale: TIME_SCALE,
        default_script: DefaultScript::Always(Script::typical(Outcome::NoAnswer)),
        ..SimConfig::default()
    })
    .await
    .expect("the simulator starts")
}

pub fn retell_call(to: &str) -> Value {
    json!({
        "from_number": "+14155550100",
        "to_number": to,
        "metadata": {"leadline_tenant": "acme", "leadline_lead": "ld_1", "leadline_attempt": "1"},
        "retell_llm_dynamic_variables": {"first_name": "Ada", "business_name": "Acme Dental"},
    })
}

pub fn vapi_call(to: &str) -> Value {
    json!({
        "assistantId": "7f1c9a2e-4b3d-4c5e-8f6a-1b2c3d4e5f60",
        "phoneNumberId": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d",
        "customer": {"number": to, "name": "Ada"},
        "assistantOverrides": {
            "metadata": {"leadline_tenant": "acme", "leadline_lead": "ld_1", "leadline_attempt": "1"},
            "variableValues": {"first_name": "Ada", "business_name": "Acme Dental"},
        },
    })
}

/// One client for all tests, as building one (loading TLS roots) is slow. It
/// keeps no idle connections: each test has its own runtime.
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    })
}

/// POSTs JSON with a bearer key; the answer's status and JSON body.
pub async fn post(url: &str, key: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut request = client().post(url).json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the simulator answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn create_retell(sim: &SimHandle, body: &Value) -> (StatusCode, Value) {
    post(
        &format!("{}/v2/create-phone-call", sim.url()),
        Some(RETELL_KEY),
        body,
    )
    .await
}

pub async fn create_vapi(sim: &SimHandle, body: &Value) -> (StatusCode, Value) {
    post(&format!("{}/call", sim.url()), Some(VAPI_KEY), body).await
}

/// `GET` with a bearer key; the answer's status and JSON body.
pub async fn get_with_key(url: &str, key: &str) -> (StatusCode, Value) {
    let response = client()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .expect("the simulator answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Retell `GET /v2/get-call/{call_id}`.
pub async fn get_retell(sim: &SimHandle, call_id: &str) -> (StatusCode, Value) {
    get_with_key(&format!("{}/v2/get-call/{call_id}", sim.url()), RETELL_KEY).await
}

/// Vapi `GET /call/{id}`.
pub async fn get_vapi(sim: &SimHandle, id: &str) -> (StatusCode, Value) {
    get_with_key(&format!("{}/call/{id}", sim.url()), VAPI_KEY).await
}

/// Waits until the simulator has analysed the call to `to`.
pub async fn analyzed(sim: &SimHandle, to: &str) {
    eventually(&format!("the analysis of the call to {to}"), || {
        let calls = sim.control().calls(&Filter::to(to));
        (calls.first()?.phase == Some(leadline_sim::CallPhase::Analyzed)).then_some(())
    })
    .await;
}

pub async fn get_json(url: &str) -> (StatusCode, Value) {
    let response = client()
        .get(url)
        .send()
        .await
        .expect("the simulator answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it holds; panics after five seconds.
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the simulator recorded `count` delivery attempts to `to`.
pub async fn deliveries_to(sim: &SimHandle, to: &str, count: usize) -> Vec<DeliveryRecord> {
    eventually(&format!("{count} deliveries to {to}"), || {
        let deliveries = sim.control().deliveries(&Filter::to(to));
        (deliveries.len() >= count).then_some(deliveries)
    })
    .await
}

/// One webhook request the receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Retell `event`, or Vapi `type` (`status-update:<status>` for status updates).
    pub fn event(&self) -> String {
        if let Some(event) = self.json["event"].as_str() {
            return event.to_owned();
        }
        let message = &self.json["message"];
        match (message["type"].as_str(), message["status"].as_str()) {
            (Some("status-update"), Some(status)) => format!("status-update:{status}"),
            (Some(kind), _) => kind.to_owned(),
            _ => String::new(),
        }
    }
}

/// How the receiver answers a request.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
}

#[derive(Default)]
struct Inbox {
    hits: Vec<Hit>,
    /// A path's answer body and its content type.
    bodies: HashMap<String, (String, String)>,
    replies: VecDeque<Reply>,
    replies_to: HashMap<String, VecDeque<Reply>>,
}

/// A webhook receiver: records every request and answers 204, or the queued replies.
pub struct Receiver {
    pub url: String,
    inbox: Arc<Mutex<Inbox>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = Router::new().fallback(receive).with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, inbox, server }
    }

    /// The next requests get these replies, in order.
    pub fn reply_with(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inbox.lock().unwrap().replies.extend(replies);
    }

    /// The next deliveries of `event` get these replies, in order.
    pub fn reply_to(&self, event: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut inbox = self.inbox.lock().unwrap();
        inbox
            .replies_to
            .entry(event.to_owned())
            .or_default()
            .extend(replies);
    }

    /// Requests to `path` are answered with this body and content type.
    pub fn answer_body(&self, path: &str, content_type: &str, body: &str) {
        self.inbox
            .lock()
            .unwrap()
            .bodies
            .insert(path.to_owned(), (content_type.to_owned(), body.to_owned()));
    }

    /// The requests to `path`.
    pub fn hits_to(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    /// Waits until `count` requests to `path` arrived and returns them.
    pub async fn wait_for_path(&self, path: &str, count: usize) -> Vec<Hit> {
        eventually(&format!("{count} webhooks to {path}"), || {
            let hits = self.hits_to(path);
            (hits.len() >= count).then_some(hits)
        })
        .await
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.inbox.lock().unwrap().hits.clone()
    }

    /// Waits until `count` requests arrived and returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Hit> {
        eventually(&format!("{count} webhooks"), || {
            let hits = self.hits();
            (hits.len() >= count).then_some(hits)
        })
        .await
    }

    pub fn events(&self) -> Vec<String> {
        self.hits().iter().map(Hit::event).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (reply, answer) = {
        let mut inbox = inbox.lock().unwrap();
        let answer = inbox.bodies.get(uri.path()).cloned();
        let hit = Hit {
            path: uri.path().to_owned(),
            query: uri.query().map(str::to_owned),
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body,
        };
        let for_event = inbox
            .replies_to
            .get_mut(&hit.event())
            .and_then(VecDeque::pop_front);
        inbox.hits.push(hit);
        (for_event.or_else(|| inbox.replies.pop_front()), answer)
    };
    let reply = reply.unwrap_or(Reply {
        status: if answer.is_some() { 200 } else { 204 },
        delay: Duration::ZERO,
    });
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).unwrap();
    match answer {
        Some((content_type, body)) => (
            status,
            [(axum::http::header::CONTENT_TYPE, content_type)],
            body,
        )
            .into_response(),
        None => status.into_response(),
    }
}

/// Checks `x-retell-signature` the way Retell's SDKs verify it.
pub fn assert_retell_signed(hit: &Hit) {
    let header = hit
        .header("x-retell-signature")
        .expect("a signature header");
    let (v, d) = header
        .strip_prefix("v=")
        .and_then(|rest| rest.split_once(",d="))
        .expect("v=<ms>,d=<hex>");
    assert_eq!(d.len(), 64, "{header}");
    let ts: u64 = v.parse().unwrap();
    let now = jiff::Timestamp::now().as_millisecond() as u64;
    assert!(now.abs_diff(ts) <= 300_000, "stale signature {header}");
    // Computed here, not with the simulator's signer: raw body, then the timestamp.
    let mut mac = Hmac::<Sha256>::new_from_slice(RETELL_KEY.as_bytes()).unwrap();
    mac.update(&hit.body);
    mac.update(v.as_bytes());
    assert_eq!(HEXLOWER.encode(&mac.finalize().into_bytes()), d, "{header}");
}

// ----- messaging -----

pub const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_TOKEN: &str = "twilio-token-test";
pub const SENDGRID_KEY: &str = "SG.test-key";
pub const SENDGRID_SEED: &str = "sendgrid-seed-test";
pub const WHATSAPP_TOKEN: &str = "whatsapp-token-test";
pub const WHATSAPP_SECRET: &str = "whatsapp-secret-test";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

/// The configuration of a simulator whose messaging webhooks go to the
/// receiver's `/twilio`, `/sendgrid` and `/whatsapp`.
pub fn messaging_config(receiver: &Receiver) -> SimConfig {
    SimConfig {
        time_scale: TIME_SCALE,
        twilio_account_sid: TWILIO_SID.into(),
        twilio_auth_token: TWILIO_TOKEN.into(),
        twilio_webhook_url: Some(format!("{}/twilio", receiver.url)),
        sendgrid_api_key: SENDGRID_KEY.into(),
        sendgrid_signing_seed: SENDGRID_SEED.into(),
        sendgrid_webhook_url: Some(format!("{}/sendgrid", receiver.url)),
        whatsapp_access_token: WHATSAPP_TOKEN.into(),
        whatsapp_app_secret: WHATSAPP_SECRET.into(),
        whatsapp_webhook_url: Some(format!("{}/whatsapp", receiver.url)),
        ..SimConfig::default()
    }
}

/// A messaging simulator (see [`messaging_config`]) whose numbers send up to
/// 1000 messages a second, so that tests sending quickly are not limited.
pub async fn start_messaging_sim(receiver: &Receiver) -> SimHandle {
    let config = SimConfig {
        twilio_mps: 1000,
        ..messaging_config(receiver)
    };
    Sim::start(config).await.expect("the simulator starts")
}

/// One answer: status, headers and JSON body (null when empty).
pub struct Answered {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

async fn answered(request: reqwest::RequestBuilder) -> Answered {
    let response = request.send().await.expect("the simulator answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        let name = axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap();
        let value = axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap();
        headers.insert(name, value);
    }
    let bytes = response.bytes().await.unwrap();
    Answered {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json` with HTTP Basic `sid:token`.
pub async fn send_sms_as(
    sim: &SimHandle,
    sid: &str,
    token: &str,
    params: &[(&str, &str)],
) -> Answered {
    let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", sim.url());
    let request = client()
        .post(url)
        .basic_auth(sid, Some(token))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(params));
    answered(request).await
}

/// A form body, every byte but letters and digits escaped.
pub fn form_encode(params: &[(&str, &str)]) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    params
        .iter()
        .map(|(n, v)| format!("{}={}", escape(n), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub async fn send_sms(sim: &SimHandle, params: &[(&str, &str)]) -> Answered {
    send_sms_as(sim, TWILIO_SID, TWILIO_TOKEN, params).await
}

/// `POST /v3/mail/send`.
pub async fn send_mail(sim: &SimHandle, key: &str, body: &Value) -> Answered {
    let url = format!("{}/v3/mail/send", sim.url());
    answered(client().post(url).bearer_auth(key).json(body)).await
}

/// `POST /v21.0/{PHONE_NUMBER_ID}/messages`.
pub async fn send_whatsapp(sim: &SimHandle, body: &Value) -> Answered {
    let url = format!("{}/v21.0/{PHONE_NUMBER_ID}/messages", sim.url());
    answered(client().post(url).bearer_auth(WHATSAPP_TOKEN).json(body)).await
}

pub fn whatsapp_text(to: &str, text: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
           "type": "text", "text": {"body": text}})
}

pub fn whatsapp_template(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
           "type": "template", "template": {"name": "appt_reminder", "language": {"code": "en_US"},
           "components": [
               {"type": "body", "parameters": [{"type": "text", "text": "Tue 10:00"}]},
               {"type": "button", "sub_type": "quick_reply", "index": "0",
                "parameters": [{"type": "payload", "payload": "CONFIRM:appt_1"}]},
               {"type": "button", "sub_type": "quick_reply", "index": "1",
                "parameters": [{"type": "payload", "payload": "CANCEL:appt_1"}]}]}})
}

pub fn mail(to: &str) -> Value {
    json!({
        "personalizations": [{"to": [{"email": to, "name": "Ada"}],
                              "custom_args": {"leadline_message": "msg_1"}}],
        "from": {"email": "noreply@acme.test", "name": "Acme"},
        "subject": "Your appointment",
        "content": [{"type": "text/plain", "value": "See you Tuesday."}],
        "categories": ["reminder"],
        "custom_args": {"leadline_tenant": "acme", "leadline_message": "overridden"},
    })
}

/// The form parameters of a Twilio webhook.
pub fn form_params(hit: &Hit) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    std::str::from_utf8(&hit.body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (n, v) = pair.split_once('=').unwrap();
            (decode(n), decode(v))
        })
        .collect()
}

pub fn form_value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `X-Twilio-Signature` computed here, apart from the simulator: base64 of
/// HMAC-SHA1 over the URL, then each name and value, names sorted and each
/// name's distinct values sorted.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    let mut signed = url.to_owned();
    for name in names {
        let mut values: Vec<&str> = params
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        values.sort();
        values.dedup();
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    data_encoding::BASE64.encode(&mac.finalize().into_bytes())
}

/// Checks `X-Hub-Signature-256` the way Meta's SDK does.
pub fn assert_whatsapp_signed(hit: &Hit) {
    let header = hit
        .header("x-hub-signature-256")
        .expect("a signature header");
    let mut mac = Hmac::<Sha256>::new_from_slice(WHATSAPP_SECRET.as_bytes()).unwrap();
    mac.update(&hit.body);
    let expected = format!("sha256={}", HEXLOWER.encode(&mac.finalize().into_bytes()));
    assert_eq!(header, expected);
}
