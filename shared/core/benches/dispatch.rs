//! Dispatch at the limits: 1,000 dial jobs of one campaign, 20 calls at once,
//! 10 call starts a second, simulated calls of 1-2.5 s that end through the
//! same call-event use case as the webhook. Real time, in process (the store
//! is the in-memory one with DynamoDB's all-or-nothing rules). Prints the
//! measured start rate against the pacing limit, the most calls in flight,
//! and the slots left held at the end (must be 0).
//!
//! `cargo bench -p leadline-core --bench dispatch`
//!
//! Without `--bench` (`cargo test --benches`) it is a smoke run: 30 jobs at
//! the same limits, the same checks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use leadline_core::call::{
    CallEvent, CallPhase, CallReport, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::call_events::apply_call_event;
use leadline_core::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::dispatch::{
    CampaignSweep, DeploymentLimits, DialMessage, DialResult, Dialers, Dispatcher, sweep_campaign,
};
use leadline_core::lead::{CallOutcome, Lead, LeadStatus};
use leadline_core::memory::{MemoryQueue, MemoryStore};
use leadline_core::ports::{CampaignStore, LeadStore, TenantStore};
use leadline_core::tenant::{NewTenant, VoiceProvider};
use leadline_core::time::{Clock, SystemClock};
use leadline_core::write::{EffectPorts, Unwired};
use leadline_core::{CampaignId, LeadId, Phone};

const LEADS: usize = 1_000;
/// The jobs of a smoke run (`cargo test --benches`).
const SMOKE_LEADS: usize = 30;
const CONCURRENCY: u32 = 20;
const PACE: u32 = 10;

/// A provider whose calls last 1-2.5 s and then report their end.
struct Provider {
    store: Arc<MemoryStore>,
    starts: Mutex<Vec<Timestamp>>,
    live: Mutex<(usize, usize)>,
}

struct One(Arc<Provider>);

#[async_trait]
impl VoiceDialer for One {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let provider = &self.0;
        let n = {
            let mut starts = provider.starts.lock().unwrap();
            starts.push(Timestamp::now());
            starts.len()
        };
        {
            let mut live = provider.live.lock().unwrap();
            live.0 += 1;
            live.1 = live.1.max(live.0);
        }
        let id = format!("call_{n}");
        let (provider, call_ref, call_id) = (provider.clone(), call.call.clone(), id.clone());
        let length = Duration::from_millis(1_000 + (n as u64 * 7919) % 1_500);
        tokio::spawn(async move {
            tokio::time::sleep(length).await;
            provider.live.lock().unwrap().0 -= 1;
            let ended = CallEvent {
                provider: VoiceProvider::Retell,
                provider_call_id: call_id.clone(),
                dedupe_key: format!("retell#{call_id}#call_ended"),
                call: Some(call_ref),
                phase: CallPhase::Ended,
                outcome: Some(CallOutcome::Completed),
                report: CallReport {
                    duration_ms: Some(length.as_millis() as u64),
                    ..CallReport::default()
                },
            };
            // A completed call asks for no schedule or message.
            let effects = EffectPorts {
                scheduler: &Unwired,
                dial_queue: &Unwired,
                messages: &Unwired,
            };
            apply_call_event(provider.store.as_ref(), &effects, &ended, Timestamp::now())
                .await
                .unwrap();
        });
        Ok(PlacedCall {
            provider_call_id: id,
        })
    }
}

impl Dialers for One {
    fn dialer(&self, _: VoiceProvider) -> &dyn VoiceDialer {
        self
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let leads_n = if smoke { SMOKE_LEADS } else { LEADS };
    if smoke {
        println!("dispatch: smoke run ({leads_n} jobs; `cargo bench` runs {LEADS})");
    }
    let store = Arc::new(MemoryStore::default());
    let now = Timestamp::now();
    let new: NewTenant = serde_json::from_value(serde_json::json!({
        "name": "Bench", "slug": "bench", "timezone": "Europe/London", "default_region": "GB",
        "calling_window": {"start": "00:00", "end": "24:00"}, "max_concurrent_calls": CONCURRENCY
    }))
    .unwrap();
    let tenant = new.into_tenant(now).unwrap();
    store.create_tenant(&tenant, "h").await.unwrap();
    let campaign = Campaign {
        id: CampaignId::new(now, [1; 9]),
        tenant: tenant.id.clone(),
        name: "bench".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: CONCURRENCY,
            calls_per_second: PACE,
        },
        start_at: None,
        lead_count: leads_n as u64,
        created_at: now,
    };
    store.create_campaign(&campaign).await.unwrap();
    let leads: Vec<Lead> = (0..leads_n)
        .map(|i| {
            let phone = Phone::parse(&format!("+447400{:06}", i), None).unwrap();
            serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&tenant.id, &campaign.id, &phone), "tenant": tenant.id, "campaign": campaign.id,
                "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "new", "attempts": 0, "outcome": null, "note": null,
                "created_at": now, "updated_at": now, "version": 0
            }))
            .unwrap()
        })
        .collect();
    store.insert_leads(&leads).await.unwrap();

    let provider = Arc::new(Provider {
        store: store.clone(),
        starts: Mutex::default(),
        live: Mutex::default(),
    });
    let dialers = One(provider.clone());
    let queue = MemoryQueue::default();
    let limits = DeploymentLimits {
        retell_concurrent_calls: CONCURRENCY,
        vapi_concurrent_calls: CONCURRENCY,
        calls_per_second: PACE,
        max_call_seconds: 3_600,
    };
    let sweep = CampaignSweep {
        tenant: tenant.id.clone(),
        campaign: campaign.id.clone(),
        statuses: vec![LeadStatus::New],
        cursor: None,
    };
    let began = Instant::now();
    sweep_campaign(store.as_ref(), &queue, &sweep, &SystemClock)
        .await
        .unwrap();
    let mut results: BTreeMap<&'static str, usize> = BTreeMap::new();
    let dispatcher = Dispatcher {
        store: store.as_ref(),
        queue: &queue,
        dialers: &dialers,
        clock: &SystemClock,
        limits,
    };
    while provider.starts.lock().unwrap().len() < leads_n {
        for message in queue.take_due(SystemClock.now()) {
            match message {
                DialMessage::Sweep(s) => {
                    sweep_campaign(store.as_ref(), &queue, &s, &SystemClock)
                        .await
                        .unwrap();
                }
                DialMessage::Dial(job) => {
                    let kind = match dispatcher.dial(&job).await.unwrap() {
                        DialResult::Placed { .. } => "placed",
                        DialResult::Deferred { scope, .. } if scope.contains("per second") => {
                            "paced"
                        }
                        DialResult::Deferred { .. } => "no slot",
                        _ => "other",
                    };
                    *results.entry(kind).or_default() += 1;
                }
                DialMessage::FollowUp(_) => unreachable!("the bench's calls are never retried"),
                DialMessage::Wake(wake) => {
                    dispatcher.wake(&wake).await.unwrap();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last_start = began.elapsed();
    // Every call lasts at most 2.5 s: give them 3 s to end (and stop waiting
    // as soon as they all have).
    let deadline = Instant::now() + Duration::from_secs(3);
    while (store.usage_records().len() < leads_n || store.slots_held() > 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let starts = provider.starts.lock().unwrap().clone();
    // The pace is counted per provider-account second, as the store counts it.
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for t in &starts {
        *per_second.entry(t.as_second()).or_default() += 1;
    }
    let busiest_second = per_second.values().copied().max().unwrap();
    let rate = (leads_n - 1) as f64
        / starts
            .last()
            .unwrap()
            .duration_since(starts[0])
            .as_secs_f64();
    println!(
        "dispatch: {leads_n} jobs, concurrency {CONCURRENCY}, pacing {PACE}/s, calls of 1-2.5 s"
    );
    println!("  calls placed          {}", starts.len());
    println!("  time to last start    {:.1} s", last_start.as_secs_f64());
    println!(
        "  measured start rate   {rate:.2}/s = {:.1}% of the {PACE}/s limit",
        rate / PACE as f64 * 100.0
    );
    println!("  busiest 1 s window    {busiest_second} starts (limit {PACE})");
    println!(
        "  most calls in flight  {} (limit {CONCURRENCY})",
        provider.live.lock().unwrap().1
    );
    println!("  dial results          {results:?}");
    println!("  slots held at the end {}", store.slots_held());
    println!("  usage records         {}", store.usage_records().len());
    assert_eq!(starts.len(), leads_n, "one call per job");
    assert_eq!(
        store.usage_records().len(),
        leads_n,
        "every call ended, with its usage record"
    );
    assert_eq!(store.slots_held(), 0, "a slot leaked");
    assert!(busiest_second <= PACE as usize, "the pace was exceeded");
}
