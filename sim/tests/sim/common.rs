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
) -> StatusCode {
    let reply = {
        let mut inbox = inbox.lock().unwrap();
        let hit = Hit {
            path: uri.path().to_owned(),
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body,
        };
        let for_event = inbox
            .replies_to
            .get_mut(&hit.event())
            .and_then(VecDeque::pop_front);
        inbox.hits.push(hit);
        for_event.or_else(|| inbox.replies.pop_front())
    };
    let reply = reply.unwrap_or(Reply {
        status: 204,
        delay: Duration::ZERO,
    });
    tokio::time::sleep(reply.delay).await;
    StatusCode::from_u16(reply.status).unwrap()
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
