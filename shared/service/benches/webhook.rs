//! Server time of one voice webhook in process: signature check, parsing,
//! the read, the decision and the transactional write, against the
//! in-memory store (the emulator's round trips excluded). Every iteration is
//! a new call's `call_ended`, so none takes the duplicate shortcut. Prints
//! p50/p99 over 10,000 webhooks, then criterion's estimate.
//!
//! `cargo bench -p leadline-service --bench webhook`
//!
//! Both parts check that the work happened, not only the 2xx (which a call
//! leadline does not own gets too): one usage record per call, every attempt
//! ended and every slot given back. Without `--bench` (`cargo test --benches`)
//! it is a smoke run: 50 calls, and criterion's test mode (one iteration).

use std::time::{Duration, Instant};

use criterion::Criterion;
use jiff::Timestamp;
use lambda_http::{Body, Request};
use leadline_aws::SystemClock;
use leadline_core::calling::attempt::{AttemptStatus, CallAttempt};
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::calling::work::DeploymentLimits;
use leadline_core::intake::tenant::{NewTenant, Tenant, VoiceProvider};
use leadline_core::memory::{MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
use leadline_core::ports::{LeadStore, PageRequest, TenantStore, UsageStore};
use leadline_core::write::{Change, Commit, Entity};
use leadline_core::{CampaignId, LeadId, Phone, TenantId};
use leadline_service::voice_webhook::{VapiAuth, VoiceWebhook};

const KEY: &str = "key_bench";
/// The calls of the measured loop.
const N: usize = 10_000;
/// The calls of the measured loop in a smoke run (`cargo test --benches`).
const SMOKE_N: usize = 50;

type Webhook = VoiceWebhook<
    MemoryStore,
    MemoryScheduler,
    MemoryMessages,
    SystemClock,
    MemoryStore,
    leadline_core::memory::MemoryCalendar,
    MemoryQueue,
>;

/// The bench's tenant and campaign, stored, and the webhook over that store.
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
            "name": "Bench", "slug": "bench", "timezone": "Europe/London", "default_region": "GB"
        }))
        .unwrap()
        .into_tenant(now)
        .unwrap();
        rt.block_on(store.create_tenant(&tenant, "h")).unwrap();
        let webhook = VoiceWebhook {
            store,
            businesses: MemoryStore::default(),
            calendar: leadline_core::memory::MemoryCalendar::default(),
            follow_ups: MemoryScheduler::default(),
            messages: MemoryMessages::default(),
            dial_queue: MemoryQueue::default(),
            clock: SystemClock,
            retell_api_key: KEY.into(),
            vapi: VapiAuth::Secret("s".into()),
            inbound: Default::default(),
        };
        Self {
            webhook,
            tenant,
            campaign: CampaignId::new(now, [1; 9]),
            now,
        }
    }

    /// Lead `i` in a call leadline started: queued, its attempt dialing,
    /// its slots held.
    async fn call_in_flight(&self, i: usize) -> CallRef {
        let (store, tenant, campaign, now) =
            (&self.webhook.store, &self.tenant, &self.campaign, self.now);
        let phone = Phone::parse(&format!("+44740{i:07}"), None).unwrap();
        let mut lead: Lead = serde_json::from_value(serde_json::json!({
            "id": LeadId::derive(&tenant.id, campaign, &phone), "tenant": tenant.id, "campaign": campaign,
            "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
            "status": "new", "attempts": 0, "outcome": null, "note": null,
            "created_at": now, "updated_at": now, "version": 0
        }))
        .unwrap();
        lead.queue(1, now).unwrap();
        store
            .insert_leads(std::slice::from_ref(&lead))
            .await
            .unwrap();
        let call = CallRef {
            tenant: tenant.id.clone(),
            lead: lead.id.clone(),
            attempt: 1,
        };
        let attempt = CallAttempt::dialing(&call, campaign.clone(), VoiceProvider::Retell, now);
        let limits = DeploymentLimits {
            retell_concurrent_calls: u32::MAX,
            calls_per_second: u32::MAX,
            ..Default::default()
        };
        let mut t = tenant.clone();
        t.max_concurrent_calls = u32::MAX;
        let claim = limits.claim(&attempt, &t, None, now);
        store
            .commit(&[
                Change::Create(Entity::Attempt(attempt)),
                Change::TakeSlots(claim),
            ])
            .await
            .unwrap();
        call
    }
}

/// The world with `n` calls in flight.
fn world(rt: &tokio::runtime::Runtime, n: usize) -> (World, Vec<CallRef>) {
    let world = World::new(rt);
    let calls = rt.block_on(async {
        let mut calls = Vec::with_capacity(n);
        for i in 0..n {
            calls.push(world.call_in_flight(i).await);
        }
        calls
    });
    (world, calls)
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

/// The tenant's usage records, read page by page through the store's port.
fn usage_count(rt: &tokio::runtime::Runtime, store: &MemoryStore, tenant: &TenantId) -> usize {
    rt.block_on(async {
        let mut request = PageRequest {
            limit: PageRequest::MAX_LIMIT,
            cursor: None,
        };
        let mut count = 0;
        loop {
            let page = store.usage(tenant, &request).await.unwrap();
            count += page.items.len();
            match page.next_cursor {
                Some(cursor) => request.cursor = Some(cursor),
                None => return count,
            }
        }
    })
}

/// Every call of `calls` ended: its lead has the call's outcome, its attempt
/// is over with its usage recorded, and no slot is held any more.
fn assert_every_call_ended(rt: &tokio::runtime::Runtime, store: &MemoryStore, calls: &[CallRef]) {
    rt.block_on(async {
        for call in calls {
            let lead = store.lead(&call.tenant, &call.lead).await.unwrap().unwrap();
            assert!(
                lead.outcome.is_some()
                    && !matches!(lead.status, LeadStatus::Queued | LeadStatus::Calling),
                "lead {} was not moved on by its call's end: {:?} {:?}",
                lead.id,
                lead.status,
                lead.outcome
            );
        }
    });
    let attempts = store.attempts();
    assert_eq!(attempts.len(), calls.len(), "one attempt per call");
    let open: Vec<_> = attempts
        .iter()
        .filter(|a| a.status != AttemptStatus::Ended || !a.usage_recorded)
        .collect();
    assert!(
        open.is_empty(),
        "{} of {} attempts not ended with their usage, e.g. {:?}",
        open.len(),
        attempts.len(),
        open.first()
    );
    assert_eq!(
        store.slots_held(),
        0,
        "every ended call gives its slots back"
    );
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke { SMOKE_N } else { N };
    if smoke {
        println!(
            "voice webhook: smoke run ({n} calls, criterion in test mode; `cargo bench` runs {N})"
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (measured, calls) = world(&rt, n);
    let webhook = &measured.webhook;
    let requests: Vec<Request> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| request(c, i))
        .collect();
    let mut times: Vec<Duration> = Vec::with_capacity(n);
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
        "voice webhook (Retell call_ended, {n} calls): p50 {:?}, p99 {:?}, max {:?} (budget p99 5 ms)",
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );
    // The 204 alone proves nothing: a call leadline does not own gets it too.
    assert_eq!(
        usage_count(&rt, &webhook.store, &calls[0].tenant),
        n,
        "one usage record per call_ended"
    );
    assert_every_call_ended(&rt, &webhook.store, &calls);

    // Criterion's estimate of the same, one fresh call per iteration: made
    // in the (untimed) setup, however many iterations criterion runs.
    let (fresh, _) = world(&rt, 0);
    let mut made: Vec<CallRef> = Vec::new();
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3));
    c.bench_function("voice_webhook_call_ended", |b| {
        b.iter_batched(
            || {
                let call = rt.block_on(fresh.call_in_flight(made.len()));
                made.push(call.clone());
                request(&call, made.len())
            },
            |req| rt.block_on(fresh.webhook.handle(req)),
            criterion::BatchSize::SmallInput,
        )
    });
    c.final_summary();
    // Every iteration (warm-up included) ended a call of its own.
    assert!(!made.is_empty(), "criterion ran no iteration");
    // (All at once: paging through hundreds of thousands would take longer
    // than the bench.)
    assert_eq!(
        fresh.webhook.store.usage_records().len(),
        made.len(),
        "one usage record per iteration's call_ended"
    );
    assert_every_call_ended(&rt, &fresh.webhook.store, &made);
}
