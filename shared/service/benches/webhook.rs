//! Server time of one voice webhook in process: signature check, parsing,
//! the read, the decision and the transactional write, against the
//! in-memory store (the emulator's round trips excluded). Every iteration is
//! a new call's `call_ended`, so none takes the duplicate shortcut. Prints
//! p50/p99 over 10,000 webhooks, then criterion's estimate.
//!
//! `cargo bench -p leadline-service --bench webhook`

use std::time::{Duration, Instant};

use criterion::Criterion;
use jiff::Timestamp;
use lambda_http::{Body, Request};
use leadline_core::attempt::CallAttempt;
use leadline_core::call::CallRef;
use leadline_core::dispatch::DeploymentLimits;
use leadline_core::lead::Lead;
use leadline_core::memory::{MemoryMessages, MemoryScheduler, MemoryStore};
use leadline_core::ports::{CallStore, CallWrite, LeadStore, TenantStore};
use leadline_core::tenant::{NewTenant, Tenant, VoiceProvider};
use leadline_core::time::SystemClock;
use leadline_core::{CampaignId, LeadId, Phone};
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};

const KEY: &str = "key_bench";

type Webhook = VoiceWebhook<
    MemoryStore,
    MemoryScheduler,
    MemoryMessages,
    SystemClock,
    MemoryStore,
    leadline_core::memory::MemoryCalendar,
>;

fn world(n: usize) -> (Webhook, Vec<CallRef>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = MemoryStore::default();
    let now = Timestamp::now();
    let tenant: Tenant = serde_json::from_value::<NewTenant>(serde_json::json!({
        "name": "Bench", "slug": "bench", "timezone": "Europe/London", "default_region": "GB"
    }))
    .unwrap()
    .into_tenant(now)
    .unwrap();
    let campaign = CampaignId::new(now, [1; 9]);
    let calls = rt.block_on(async {
        store.create_tenant(&tenant, "h").await.unwrap();
        let mut calls = Vec::new();
        for i in 0..n {
            let phone = Phone::parse(&format!("+447400{i:06}"), None).unwrap();
            let mut lead: Lead = serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&tenant.id, &campaign, &phone), "tenant": tenant.id, "campaign": campaign,
                "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "new", "attempts": 0, "outcome": null, "note": null,
                "created_at": now, "updated_at": now, "version": 0
            }))
            .unwrap();
            lead.queue(1, now).unwrap();
            store.insert_leads(std::slice::from_ref(&lead)).await.unwrap();
            let call = CallRef { tenant: tenant.id.clone(), lead: lead.id.clone(), attempt: 1 };
            let attempt = CallAttempt::dialing(&call, campaign.clone(), VoiceProvider::Retell, now);
            let limits = DeploymentLimits { retell_concurrent_calls: u32::MAX, calls_per_second: u32::MAX, ..Default::default() };
            let mut t = tenant.clone();
            t.max_concurrent_calls = u32::MAX;
            let claim = limits.claim(&attempt, &t, None, now);
            let write = CallWrite { attempt: Some(attempt), take_slots: Some(claim), ..CallWrite::default() };
            store.commit(&write).await.unwrap().unwrap();
            calls.push(call);
        }
        calls
    });
    let webhook = VoiceWebhook {
        store,
        businesses: MemoryStore::default(),
        calendar: leadline_core::memory::MemoryCalendar::default(),
        follow_ups: MemoryScheduler::default(),
        messages: MemoryMessages::default(),
        clock: SystemClock,
        retell_api_key: KEY.into(),
        vapi: VapiAuth::Secret("s".into()),
    };
    (webhook, calls)
}

fn request(call: &CallRef, i: usize) -> Request {
    let body = serde_json::json!({
        "event": "call_ended",
        "call": {
            "call_id": format!("call_{i}"), "agent_id": "a", "agent_version": 1, "call_status": "ended",
            "call_type": "phone_call", "direction": "outbound", "from_number": "+14155550100", "to_number": "+447400000000",
            "metadata": call.to_metadata(), "start_timestamp": 1_763_800_000_000u64, "end_timestamp": 1_763_800_095_000u64,
            "duration_ms": 95_000, "disconnection_reason": "user_hangup",
            "transcript": "Agent: Hello, this is Bright Smile Dental...\nUser: Not interested, thanks.".repeat(20),
            "call_cost": {"combined_cost": 12.5}
        }
    })
    .to_string();
    let signature =
        leadline_voice::retell::sign(body.as_bytes(), KEY, Timestamp::now().as_millisecond());
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/webhooks/retell")
        .header("x-retell-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

fn main() {
    const N: usize = 10_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (webhook, calls) = world(N);
    let requests: Vec<Request> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| request(c, i))
        .collect();
    let mut times: Vec<Duration> = Vec::with_capacity(N);
    rt.block_on(async {
        for req in requests {
            let t = Instant::now();
            let response = webhook.handle(req).await;
            times.push(t.elapsed());
            assert_eq!(response.status(), 204);
        }
    });
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "voice webhook (Retell call_ended, {N} calls): p50 {:?}, p99 {:?}, max {:?} (budget p99 5 ms)",
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );

    // Criterion's estimate of the same, one fresh call per iteration.
    let (webhook, calls) = world(200_000);
    let mut next = 0usize;
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    c.bench_function("voice_webhook_call_ended", |b| {
        b.iter_batched(
            || {
                next += 1;
                request(&calls[next % calls.len()], next)
            },
            |req| rt.block_on(webhook.handle(req)),
            criterion::BatchSize::SmallInput,
        )
    });
    c.final_summary();
}
