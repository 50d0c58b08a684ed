//! Scheduler requests per retried lead. 1,000 leads, each with its own run
//! of answers (never answered; answered at the 2nd, 3rd or 4th call; booked,
//! not interested or an invalid number at the first), go through the
//! dispatcher, the call-event use case and the effects, on virtual time, with
//! every schedule fired when due. Counts CreateSchedule (and the moves and
//! deletes) against the retries placed. Prints the counts; no timing.
//!
//! `cargo bench -p leadline-core --bench retries`
//!
//! Without `--bench` (`cargo test --benches`) it is a smoke run: 40 leads
//! (five of each run of answers), the same checks.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use leadline_core::calling::call::{
    CallEvent, CallPhase, CallReport, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::calling::call_events::apply_call_event;
use leadline_core::calling::dispatch::{DialResult, Dialers, Dispatcher};
use leadline_core::calling::lead::{CallOutcome, Lead, LeadStatus};
use leadline_core::calling::work::{DeploymentLimits, DialJob};
use leadline_core::intake::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::intake::tenant::{NewTenant, VoiceProvider};
use leadline_core::kernel::time::Clock;
use leadline_core::memory::{MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
use leadline_core::ports::{CampaignStore, LeadStore, TenantStore};
use leadline_core::write::{EffectPorts, Unwired};
use leadline_core::{CampaignId, LeadId, Phone};

const LEADS: usize = 1_000;
/// The leads of a smoke run (`cargo test --benches`): five of each of the
/// eight runs of answers.
const SMOKE_LEADS: usize = 40;

/// What lead `i` answers at its `n`-th call (1-based).
fn answer(i: usize, n: u32) -> CallOutcome {
    let unanswered = [
        CallOutcome::NoAnswer,
        CallOutcome::Busy,
        CallOutcome::Voicemail,
    ][n as usize % 3]
        .clone();
    match i % 8 {
        0 | 1 => unanswered, // never answers: 3 retries, then exhausted
        2 if n >= 2 => CallOutcome::Qualified, // answers the first retry
        3 if n >= 3 => CallOutcome::NotInterested, // answers the second
        4 if n >= 4 => CallOutcome::AppointmentSet, // answers the last
        5 => CallOutcome::AppointmentSet, // stops at its first call
        6 => CallOutcome::NotInterested,
        7 => CallOutcome::InvalidNumber,
        _ => unanswered,
    }
}

struct VirtualClock(Mutex<Timestamp>);

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

#[derive(Default)]
struct Accepting(Mutex<u64>);

#[async_trait]
impl VoiceDialer for Accepting {
    async fn place_call(&self, _: &PlaceCall) -> Result<PlacedCall, DialError> {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        Ok(PlacedCall {
            provider_call_id: format!("call_{n}"),
        })
    }
}

impl Dialers for Accepting {
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
        println!("retries: smoke run ({leads_n} leads; `cargo bench` runs {LEADS})");
    }
    let store = MemoryStore::default();
    let start: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let clock = VirtualClock(Mutex::new(start));
    let new: NewTenant = serde_json::from_value(serde_json::json!({
        "name": "Bench", "slug": "bench", "timezone": "Europe/London", "default_region": "GB",
        "calling_window": {"start": "09:00", "end": "19:00", "excluded_weekdays": ["sunday"]},
        "max_concurrent_calls": 1000
    }))
    .unwrap();
    let tenant = new.into_tenant(start).unwrap();
    store.create_tenant(&tenant, "h").await.unwrap();
    let campaign = Campaign {
        id: CampaignId::new(start, [2; 9]),
        tenant: tenant.id.clone(),
        name: "bench".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: 1000,
            calls_per_second: 1000,
        },
        start_at: None,
        lead_count: leads_n as u64,
        created_at: start,
    };
    store.create_campaign(&campaign).await.unwrap();
    let mut leads: Vec<Lead> = Vec::new();
    for i in 0..leads_n {
        let phone = Phone::parse(&format!("+447400{:06}", i), None).unwrap();
        let mut lead: Lead = serde_json::from_value(serde_json::json!({
            "id": LeadId::derive(&tenant.id, &campaign.id, &phone), "tenant": tenant.id, "campaign": campaign.id,
            "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
            "status": "new", "attempts": 0, "outcome": null, "note": null,
            "created_at": start, "updated_at": start, "version": 0
        }))
        .unwrap();
        lead.queue(1, start).unwrap();
        leads.push(lead);
    }
    store.insert_leads(&leads).await.unwrap();
    let (queue, scheduler, messages, dialer) = (
        MemoryQueue::default(),
        MemoryScheduler::default(),
        MemoryMessages::default(),
        Accepting::default(),
    );
    let dispatcher = Dispatcher {
        store: &store,
        queue: &queue,
        dialers: &dialer,
        clock: &clock,
        limits: DeploymentLimits {
            retell_concurrent_calls: 1000,
            calls_per_second: 1000,
            ..DeploymentLimits::default()
        },
    };
    let index: BTreeMap<LeadId, usize> = leads
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.clone(), i))
        .collect();
    let mut jobs: Vec<DialJob> = leads.iter().map(|l| DialJob::for_lead(l, false)).collect();
    let mut retries_placed = 0u64;
    while !jobs.is_empty() {
        for job in jobs.drain(..) {
            let result = dispatcher.dial(&job).await.unwrap();
            let DialResult::Placed { provider_call_id } = result else {
                panic!("{result:?}");
            };
            if job.attempt > 1 {
                retries_placed += 1;
            }
            let i = index[&job.lead];
            let now = clock.now() + SignedDuration::from_secs(90);
            let ended = CallEvent {
                provider: VoiceProvider::Retell,
                dedupe_key: format!("retell#{provider_call_id}#call_analyzed"),
                provider_call_id,
                call: Some(job.call()),
                phase: CallPhase::Analyzed,
                outcome: Some(answer(i, job.attempt)),
                report: CallReport {
                    duration_ms: Some(90_000),
                    ..CallReport::default()
                },
            };
            let effects = EffectPorts {
                scheduler: &scheduler,
                dial_queue: &Unwired,
                messages: &messages,
            };
            apply_call_event(&store, &effects, &ended, now)
                .await
                .unwrap();
        }
        // The next schedules fire in time order; each places its attempt.
        while let Some(at) = scheduler.next_due() {
            *clock.0.lock().unwrap() = at;
            for due in scheduler.take_due(at) {
                let lead = store.lead(&due.tenant, &due.lead).await.unwrap().unwrap();
                if lead
                    .next_call
                    .as_ref()
                    .is_some_and(|n| n.attempt == due.attempt)
                {
                    let mut queued = lead.clone();
                    queued.queue(due.attempt, at).unwrap();
                    store.save_lead(&queued).await.unwrap();
                    jobs.push(DialJob::for_lead(&queued, false));
                }
            }
            if !jobs.is_empty() {
                break;
            }
        }
    }
    let requests = scheduler.requests();
    let mut by_status = BTreeMap::<&str, usize>::new();
    let mut stopped_first = 0;
    for lead in &leads {
        let stored = store.lead(&lead.tenant, &lead.id).await.unwrap().unwrap();
        *by_status.entry(stored.status.as_str()).or_default() += 1;
        if stored.attempts == 1 {
            stopped_first += 1;
        }
        assert!(!matches!(
            stored.status,
            LeadStatus::RetryPending | LeadStatus::CallbackPending
        ));
    }
    println!("leads                         {leads_n}");
    println!("retries placed                {retries_placed}");
    println!(
        "CreateSchedule                {} ({:.2} per retry placed)",
        requests.creates,
        requests.creates as f64 / retries_placed.max(1) as f64
    );
    println!(
        "UpdateSchedule / Delete       {} / {}",
        requests.updates, requests.deletes
    );
    println!("leads that stopped at call 1  {stopped_first} (0 schedules for them)");
    println!("fallback messages queued      {}", messages.jobs().len());
    println!("leads by status               {by_status:?}");
    println!(
        "virtual time elapsed          {}",
        clock.now().duration_since(start)
    );
}
