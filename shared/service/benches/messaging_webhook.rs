//! Server time of the messaging webhook in process, for its two hot
//! deliveries, against the in-memory store and queue (the table's and the
//! queue's round trips excluded):
//!
//! - (a) a Twilio inbound SMS: the signature check over the public URL and
//!   the form, the tenant found from the `To` number (cached after the
//!   first), the job put on the messenger's queue;
//! - (b) a Twilio status callback: the signature check, one read of the
//!   message named by the callback URL and one write moving it to
//!   `delivered`.
//!
//! Each request is what lambda_http makes of an API Gateway event (the form
//! base64-encoded, lower-case headers), built before the clock starts.
//! Prints p50/p99/max over 10,000 deliveries of each against the budget
//! (p99 at most 1 ms), then criterion's estimates.
//!
//! `cargo bench -p leadline-service --bench messaging_webhook`
//!
//! Both parts check that the work happened, not only the 200 (which a
//! message to no tenant's number gets too): one inbound job queued per SMS,
//! for the tenant, and every message of a callback delivered. Without
//! `--bench` (`cargo test --benches`) it is a smoke run: 50 deliveries of
//! each, and criterion's test mode (one iteration).

use std::time::{Duration, Instant};

use criterion::Criterion;
use data_encoding::BASE64;
use jiff::Timestamp;
use lambda_http::Request;
use leadline_aws::SystemClock;
use leadline_core::intake::tenant::{NewTenant, Tenant};
use leadline_core::memory::{MemoryMessages, MemoryStore};
use leadline_core::messaging::message::{
    Channel, Message, MessageJob, MessagePurpose, MessageStatus, MessengerWork,
};
use leadline_core::messaging::settings::{MessagingSettings, templates};
use leadline_core::ports::{MessageStore, TenantStore};
use leadline_core::write::{Change, Commit, Entity};
use leadline_core::{CampaignId, LeadId, MessageId, Phone};
use leadline_messaging::{MemoryAccounts, MessagingAccounts, twilio};
use leadline_service::messaging_webhook::MessagingWebhook;

/// Deliveries of each kind in the measured loop.
const N: usize = 10_000;
/// In a smoke run (`cargo test --benches`).
const SMOKE_N: usize = 50;
/// The budget: p99 at most this.
const BUDGET_P99: Duration = Duration::from_millis(1);

const PUBLIC_BASE: &str = "https://hooks.leadline.test";
const LAMBDA_HOST: &str = "abc123.execute-api.us-east-1.amazonaws.com";
const TWILIO_SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "deployment-twilio-token";
const SMS_NUMBER: &str = "+14155550100";

type Webhook = MessagingWebhook<MemoryStore, MemoryMessages, MemoryAccounts, SystemClock>;

struct World {
    webhook: Webhook,
    tenant: Tenant,
    campaign: CampaignId,
    now: Timestamp,
}

impl World {
    fn new(rt: &tokio::runtime::Runtime) -> Self {
        let store = MemoryStore::default();
        let now = Timestamp::now();
        let tenant: Tenant = serde_json::from_value::<NewTenant>(serde_json::json!({
            "name": "Bench", "slug": "bench", "timezone": "America/New_York", "default_region": "US"
        }))
        .unwrap()
        .into_tenant(now)
        .unwrap();
        let mut settings = MessagingSettings::new(tenant.id.clone());
        settings.senders.sms_number = Some(Phone::parse(SMS_NUMBER, None).unwrap());
        rt.block_on(async {
            store.create_tenant(&tenant, "h").await.unwrap();
            store
                .save_messaging_settings(&settings, None)
                .await
                .unwrap();
        });
        let deployment = MessagingAccounts {
            twilio_account_sid: Some(TWILIO_SID.into()),
            twilio_auth_token: Some(TOKEN.into()),
            ..MessagingAccounts::default()
        };
        let webhook = MessagingWebhook::new(
            store,
            MemoryMessages::default(),
            MemoryAccounts::default(),
            deployment,
            PUBLIC_BASE.into(),
            SystemClock,
        );
        Self {
            webhook,
            tenant,
            campaign: CampaignId::new(now, [1; 9]),
            now,
        }
    }

    /// Message `i`, sent to its own lead: recorded `sent` with its Twilio sid.
    async fn sent_message(&self, i: usize) -> Message {
        let phone = lead_phone(i);
        let lead = LeadId::derive(&self.tenant.id, &self.campaign, &phone);
        let job = MessageJob {
            id: MessageId::derive(&lead, "fallback", "sms", "1"),
            tenant: self.tenant.id.clone(),
            lead,
            channel: Channel::Sms,
            purpose: MessagePurpose::Fallback,
            template: templates::CALL_FALLBACK.into(),
            to: phone.into(),
            params: Default::default(),
            appointment: None,
            not_before: None,
            queued_at: Some(self.now),
            lead_phone: None,
        };
        let mut message = Message::from_job(&job, self.now);
        message.set(MessageStatus::Sending, None, self.now);
        message.set(MessageStatus::Sent, None, self.now);
        message.provider_id = Some(sid(i));
        self.webhook
            .store
            .commit(&[Change::Create(Entity::Message(message.clone()))])
            .await
            .unwrap();
        message
    }
}

fn lead_phone(i: usize) -> Phone {
    Phone::parse(&format!("+14152{i:06}"), None).unwrap()
}

fn sid(i: usize) -> String {
    format!("SM{i:032x}")
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `application/x-www-form-urlencoded`, as Twilio writes it.
fn form(params: &[(String, String)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A Twilio webhook as lambda_http gives it from an API Gateway (HTTP API)
/// event: the Lambda's host, the form base64-encoded, signed on the public URL.
fn twilio_request(path: &str, query: &str, params: &[(String, String)]) -> Request {
    let mut public = format!("{PUBLIC_BASE}{path}");
    if !query.is_empty() {
        public = format!("{public}?{query}");
    }
    let signature = twilio::sign(&public, params, TOKEN);
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": LAMBDA_HOST,
            "x-forwarded-proto": "https",
            "x-twilio-signature": signature,
            "i-twilio-idempotency-token": "b0c5c9a4-7d2f-4b8e-9a51-000000000001",
        },
        "requestContext": {
            "accountId": "000000000000", "apiId": "abc123", "domainName": LAMBDA_HOST,
            "domainPrefix": "abc123",
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "54.172.60.1", "userAgent": "TwilioProxy/1.1"},
            "requestId": "req-1", "routeKey": format!("POST {path}"), "stage": "$default",
            "time": "10/Mar/2026:15:00:00 +0000", "timeEpoch": 0
        },
        "body": BASE64.encode(form(params).as_bytes()),
        "isBase64Encoded": true
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

/// Inbound SMS `i` from lead `i` to the tenant's number.
fn inbound_request(i: usize) -> Request {
    let sid = sid(i);
    let from = lead_phone(i);
    let params = pairs(&[
        ("ToCountry", "US"),
        ("SmsMessageSid", &sid),
        ("NumMedia", "0"),
        ("SmsSid", &sid),
        ("SmsStatus", "received"),
        ("Body", "Can we do Thursday at 3:30 instead? Thanks!"),
        ("To", SMS_NUMBER),
        ("NumSegments", "1"),
        ("MessageSid", &sid),
        ("AccountSid", TWILIO_SID),
        ("From", from.e164()),
        ("ApiVersion", "2010-04-01"),
    ]);
    twilio_request("/webhooks/twilio", "", &params)
}

/// `delivered` on `message`, to the callback URL leadline gave with it.
fn status_request(message: &Message) -> Request {
    let url = twilio::status_callback_url(PUBLIC_BASE, &message.tenant, &message.lead, &message.id);
    let (_, query) = url.split_once('?').unwrap();
    let sid = message.provider_id.clone().unwrap();
    let params = pairs(&[
        ("SmsSid", &sid),
        ("SmsStatus", "delivered"),
        ("MessageStatus", "delivered"),
        ("To", message.address.expose()),
        ("MessageSid", &sid),
        ("AccountSid", TWILIO_SID),
        ("From", SMS_NUMBER),
        ("ApiVersion", "2010-04-01"),
        ("RawDlrDoneDate", "2603101500"),
    ]);
    twilio_request(twilio::STATUS_CALLBACK_PATH, query, &params)
}

/// The nearest-rank percentile of sorted times.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Times each request through the handler; every answer must be 200.
fn measure(
    rt: &tokio::runtime::Runtime,
    webhook: &Webhook,
    requests: Vec<Request>,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(requests.len());
    rt.block_on(async {
        for request in requests {
            let t = Instant::now();
            let response = webhook.handle(request).await;
            times.push(t.elapsed());
            assert_eq!(response.status(), 200, "{:?}", response.body());
        }
    });
    times.sort();
    times
}

fn report(what: &str, n: usize, times: &[Duration]) {
    let p99 = percentile(times, 0.99);
    println!(
        "messaging webhook ({what}, {n} deliveries): p50 {:?}, p99 {:?}, max {:?}; \
         budget p99 {:?}: {} (p99 {:.2} of it)",
        percentile(times, 0.50),
        p99,
        times[times.len() - 1],
        BUDGET_P99,
        if p99 <= BUDGET_P99 { "met" } else { "NOT MET" },
        p99.as_secs_f64() / BUDGET_P99.as_secs_f64(),
    );
}

/// Every SMS put one inbound job on the queue, for the tenant, from its lead.
fn assert_queued(webhook: &Webhook, tenant: &Tenant, n: usize) {
    let work = webhook.queue.work();
    assert_eq!(work.len(), n, "one inbound job per SMS");
    for (i, item) in work.iter().enumerate() {
        match item {
            MessengerWork::Inbound(job) => {
                assert_eq!(job.tenant, tenant.id);
                assert_eq!(job.provider_id, sid(i));
                assert_eq!(job.from, lead_phone(i));
            }
            other => panic!("not an inbound job: {other:?}"),
        }
    }
}

/// Every message of `messages` moved to `delivered`.
fn assert_delivered(rt: &tokio::runtime::Runtime, webhook: &Webhook, messages: &[Message]) {
    rt.block_on(async {
        for m in messages {
            let stored = webhook
                .store
                .message(&m.tenant, &m.lead, &m.id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.status, MessageStatus::Delivered, "{}", m.id);
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke { SMOKE_N } else { N };
    if smoke {
        println!(
            "messaging webhook: smoke run ({n} deliveries of each, criterion in test mode; `cargo bench` runs {N})"
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // (a) inbound SMS.
    let world = World::new(&rt);
    let requests: Vec<Request> = (0..n).map(inbound_request).collect();
    let times = measure(&rt, &world.webhook, requests);
    report("Twilio inbound SMS", n, &times);
    assert_queued(&world.webhook, &world.tenant, n);

    // (b) status callbacks, one per message sent.
    let messages = rt.block_on(sent_messages(&world, n));
    let requests: Vec<Request> = messages.iter().map(status_request).collect();
    let times = measure(&rt, &world.webhook, requests);
    report("Twilio status callback", n, &times);
    assert_delivered(&rt, &world.webhook, &messages);

    // Criterion's estimates of the same: a fresh SMS, or a fresh sent
    // message's callback, made in the (untimed) setup of each iteration.
    let fresh = World::new(&rt);
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    let mut sms = 0;
    c.bench_function("messaging_webhook_twilio_inbound", |b| {
        b.iter_batched(
            || {
                sms += 1;
                inbound_request(sms - 1)
            },
            |req| rt.block_on(fresh.webhook.handle(req)),
            criterion::BatchSize::SmallInput,
        )
    });
    let mut made: Vec<Message> = Vec::new();
    c.bench_function("messaging_webhook_twilio_status", |b| {
        b.iter_batched(
            || {
                let message = rt.block_on(fresh.sent_message(made.len()));
                made.push(message.clone());
                status_request(&message)
            },
            |req| rt.block_on(fresh.webhook.handle(req)),
            criterion::BatchSize::SmallInput,
        )
    });
    c.final_summary();
    assert!(sms > 0 && !made.is_empty(), "criterion ran no iteration");
    assert_queued(&fresh.webhook, &fresh.tenant, sms);
    assert_delivered(&rt, &fresh.webhook, &made);
}

/// `n` messages, each sent to its own lead.
async fn sent_messages(world: &World, n: usize) -> Vec<Message> {
    let mut messages = Vec::with_capacity(n);
    for i in 0..n {
        messages.push(world.sent_message(i).await);
    }
    messages
}
