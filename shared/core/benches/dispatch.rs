//! Dispatch at the limits, with retries and callbacks: one campaign's leads
//! swept by the real sweep use case, dialled by the dispatcher, their calls
//! ended through the same call-event use case as the webhook, their retries
//! (after 5, 10 and 20 s) and callbacks (15 s later) scheduled and fired, and
//! the slots calls give back handed to the jobs waiting for them. In process,
//! on a virtual clock (a discrete-event simulation: the in-memory store with
//! DynamoDB's all-or-nothing rules, and SQS modelled as a delivery
//! [`LATENCY`] after a message is sent), so a run is deterministic and takes
//! seconds whatever the calls' lengths.
//!
//! It prints, and asserts:
//! - the start rate against the pacing limit, counted in the seconds in
//!   which jobs were waiting to be dialled and slots were there for them
//!   (goal: at least 90%);
//! - the longest time any job waited, ready to be dialled, while its
//!   scopes had a free slot and the provider account a call start left
//!   (bounded by one pacing interval, the second a paced job waits, and the
//!   queue's latency twice);
//! - one call per attempt, one usage record per call, the pace and the
//!   concurrency never exceeded, no slot held and no job waiting at the end.
//!
//! `cargo bench -p leadline-core --bench dispatch`: 1,000 leads, 20 calls at
//! once, 10 starts a second, calls of 1-2.5 s.
//!
//! Without `--bench` (`cargo test --benches`) it is the smoke run: the 150-lead
//! campaign a new user tried (5 calls at once, 1 start a second, retries
//! after 5, 10 and 20 s), with calls of 2.5-5.5 s; the same checks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use leadline_core::calling::call::{
    CallEvent, CallPhase, CallRef, CallReport, DialError, PlaceCall, PlacedCall, VoiceDialer,
};
use leadline_core::calling::call_events::apply_call_event;
use leadline_core::calling::dispatch::{DialResult, Dialers, Dispatcher, sweep_campaign};
use leadline_core::calling::lead::{CallOutcome, Lead, LeadStatus};
use leadline_core::calling::work::{CampaignSweep, DeploymentLimits, DialMessage};
use leadline_core::intake::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::intake::tenant::{NewTenant, VoiceProvider};
use leadline_core::kernel::time::Clock;
use leadline_core::memory::{MemoryMessages, MemoryQueue, MemoryScheduler, MemoryStore};
use leadline_core::ports::{CampaignStore, DialQueue, LeadStore, TenantStore};
use leadline_core::write::EffectPorts;
use leadline_core::{CampaignId, LeadId, Phone};

/// How long after it is sent SQS hands a message to the dispatcher (on AWS:
/// tens of milliseconds, up to the event source's 1 s batching window).
const LATENCY: SignedDuration = SignedDuration::from_millis(200);
/// The retry cadence after unanswered calls.
const RETRIES: [u32; 3] = [5, 10, 20];
/// When a lead that asks to be called back is called again.
const CALLBACK_AFTER: SignedDuration = SignedDuration::from_secs(15);

#[derive(Clone, Copy, Debug)]
struct Scenario {
    leads: usize,
    /// The campaign's calls at once (the tenant and the provider account allow more).
    parallel: u32,
    /// Call starts a second (the provider account's and the campaign's).
    pace: u32,
    /// Calls last from `shortest` to `shortest + spread` milliseconds.
    shortest_ms: u64,
    spread_ms: u64,
}

const FULL: Scenario = Scenario {
    leads: 1_000,
    parallel: 20,
    pace: 10,
    shortest_ms: 1_000,
    spread_ms: 1_500,
};

const SMOKE: Scenario = Scenario {
    leads: 150,
    parallel: 5,
    pace: 1,
    shortest_ms: 2_500,
    spread_ms: 3_000,
};

/// The simulation's clock: it moves only when the simulation moves it.
struct SimClock(Mutex<Timestamp>);

impl SimClock {
    fn set(&self, at: Timestamp) {
        let mut now = self.0.lock().unwrap();
        *now = (*now).max(at);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// SQS: a message is delivered no earlier than its time, and never sooner
/// than [`LATENCY`] after it was sent.
struct Sqs(MemoryQueue);

#[async_trait]
impl DialQueue for Sqs {
    async fn enqueue(
        &self,
        messages: &[(DialMessage, Timestamp)],
        now: Timestamp,
    ) -> leadline_core::Result<()> {
        let delayed: Vec<(DialMessage, Timestamp)> = messages
            .iter()
            .map(|(m, at)| (m.clone(), (*at).max(now + LATENCY)))
            .collect();
        self.0.enqueue(&delayed, now).await
    }
}

/// The provider: every call is accepted and ends after its length.
struct Provider {
    clock: Arc<SimClock>,
    scenario: Scenario,
    state: Mutex<Calls>,
}

#[derive(Default)]
struct Calls {
    /// Every call start, with its attempt.
    starts: Vec<(Timestamp, CallRef)>,
    /// Calls in flight, by when they end.
    ends: BTreeMap<(Timestamp, usize), (CallRef, String)>,
    live: usize,
    most_live: usize,
}

#[async_trait]
impl VoiceDialer for Provider {
    async fn place_call(&self, call: &PlaceCall) -> Result<PlacedCall, DialError> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap();
        state.starts.push((now, call.call.clone()));
        let n = state.starts.len();
        let id = format!("call_{n}");
        let end = now + length(n, self.scenario);
        state.ends.insert((end, n), (call.call.clone(), id.clone()));
        state.live += 1;
        state.most_live = state.most_live.max(state.live);
        Ok(PlacedCall {
            provider_call_id: id,
        })
    }
}

impl Dialers for Provider {
    fn dialer(&self, _: VoiceProvider) -> &dyn VoiceDialer {
        self
    }
}

/// How lead `i`'s attempt `attempt` ends: four in ten answer the first
/// call; three answer the second or third; two never answer (then they are
/// exhausted); one asks to be called back and answers then.
fn answer(i: usize, attempt: u32, now: Timestamp) -> CallOutcome {
    match i % 10 {
        0..=3 => CallOutcome::Completed,
        4..=6 if attempt >= 2 + (i % 2) as u32 => CallOutcome::Completed,
        9 if attempt == 1 => CallOutcome::CallbackRequested {
            at: Some(now + CALLBACK_AFTER),
        },
        9 => CallOutcome::Completed,
        _ => CallOutcome::NoAnswer,
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let s = if smoke { SMOKE } else { FULL };
    if smoke {
        println!(
            "dispatch: smoke run ({} leads; `cargo bench` runs {})",
            s.leads, FULL.leads
        );
    }
    let wall = Instant::now();
    // Monday noon in London: inside every calling window for hours.
    let start: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
    let clock = Arc::new(SimClock(Mutex::new(start)));
    let store = MemoryStore::default();
    let new: NewTenant = serde_json::from_value(serde_json::json!({
        "name": "Bench", "slug": "bench", "timezone": "Europe/London", "default_region": "GB",
        "calling_window": {"start": "00:00", "end": "24:00"},
        "max_concurrent_calls": 2 * s.parallel, "retry_after_seconds": RETRIES
    }))
    .unwrap();
    let tenant = new.into_tenant(start).unwrap();
    store.create_tenant(&tenant, "h").await.unwrap();
    let campaign = Campaign {
        id: CampaignId::new(start, [1; 9]),
        tenant: tenant.id.clone(),
        name: "bench".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: s.parallel,
            calls_per_second: s.pace,
        },
        start_at: None,
        lead_count: s.leads as u64,
        created_at: start,
    };
    store.create_campaign(&campaign).await.unwrap();
    let leads: Vec<Lead> = (0..s.leads)
        .map(|i| {
            let phone = Phone::parse(&format!("+447400{:06}", i), None).unwrap();
            serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&tenant.id, &campaign.id, &phone), "tenant": tenant.id, "campaign": campaign.id,
                "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "new", "attempts": 0, "outcome": null, "note": null,
                "created_at": start, "updated_at": start, "version": 0
            }))
            .unwrap()
        })
        .collect();
    store.insert_leads(&leads).await.unwrap();
    let index: HashMap<LeadId, usize> = leads
        .iter()
        .enumerate()
        .map(|(i, l)| (l.id.clone(), i))
        .collect();

    let provider = Provider {
        clock: clock.clone(),
        scenario: s,
        state: Mutex::default(),
    };
    let queue = Sqs(MemoryQueue::default());
    let scheduler = MemoryScheduler::default();
    let messages = MemoryMessages::default();
    let effects = EffectPorts {
        scheduler: &scheduler,
        dial_queue: &queue,
        messages: &messages,
    };
    let limits = DeploymentLimits {
        retell_concurrent_calls: 10 * s.parallel,
        vapi_concurrent_calls: 10 * s.parallel,
        calls_per_second: s.pace,
        max_call_seconds: 3_600,
    };
    let dispatcher = Dispatcher {
        store: &store,
        queue: &queue,
        dialers: &provider,
        clock: clock.as_ref(),
        limits,
    };
    let sweep = CampaignSweep {
        tenant: tenant.id.clone(),
        campaign: campaign.id.clone(),
        statuses: vec![LeadStatus::New],
        cursor: None,
    };
    sweep_campaign(&store, &queue, &sweep, clock.as_ref())
        .await
        .unwrap();

    // When each attempt was first ready to be dialled (its job delivered,
    // its schedule fired), and when it was placed.
    let mut ready: HashMap<(LeadId, u32), Timestamp> = HashMap::new();
    // Stretches of time in which the campaign had a free slot and the
    // provider account a call start left this second: [from, to).
    let mut open: Vec<(Timestamp, Timestamp)> = Vec::new();
    let mut open_since: Option<Timestamp> = None;
    let mut results: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut wakes = 0usize;
    let mut now = start;
    loop {
        let next_end = provider
            .state
            .lock()
            .unwrap()
            .ends
            .keys()
            .next()
            .map(|(t, _)| *t);
        let Some(next) = [queue.0.next_due(), next_end, scheduler.next_due()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        // Seconds turn over in between: the pace's count starts again.
        let next_second = Timestamp::from_second(now.as_second() + 1).unwrap();
        now = next.min(next_second);
        clock.set(now);

        // Calls that end give their slots back (and wake who waits for them).
        loop {
            let ended = {
                let mut state = provider.state.lock().unwrap();
                let first = state.ends.first_key_value().map(|(k, _)| *k);
                match first {
                    Some(key) if key.0 <= now => {
                        state.live -= 1;
                        state.ends.remove(&key)
                    }
                    _ => None,
                }
            };
            let Some((call, id)) = ended else { break };
            let event = CallEvent {
                provider: VoiceProvider::Retell,
                provider_call_id: id.clone(),
                dedupe_key: format!("retell#{id}#call_ended"),
                phase: CallPhase::Ended,
                outcome: Some(answer(index[&call.lead], call.attempt, now)),
                report: CallReport {
                    duration_ms: Some(60_000),
                    ..CallReport::default()
                },
                call: Some(call),
            };
            apply_call_event(&store, &effects, &event, now)
                .await
                .unwrap();
        }
        // Schedules that fire put their owed call on the dial queue.
        for due in scheduler.take_due(now) {
            queue
                .enqueue(&[(DialMessage::FollowUp(due), now)], now)
                .await
                .unwrap();
        }
        for message in queue.0.take_due(now) {
            match message {
                DialMessage::Sweep(sweep) => {
                    sweep_campaign(&store, &queue, &sweep, clock.as_ref())
                        .await
                        .unwrap();
                }
                DialMessage::Dial(job) => {
                    ready.entry((job.lead.clone(), job.attempt)).or_insert(now);
                    let result = dispatcher.dial(&job).await.unwrap();
                    *results.entry(kind(&result)).or_default() += 1;
                }
                DialMessage::FollowUp(follow_up) => {
                    ready
                        .entry((follow_up.lead.clone(), follow_up.attempt))
                        .or_insert(now);
                    let result = dispatcher.follow_up(&follow_up).await.unwrap();
                    *results.entry(kind(&result)).or_default() += 1;
                }
                DialMessage::Wake(wake) => {
                    wakes += 1;
                    for (_, result) in dispatcher.wake(&wake).await.unwrap() {
                        *results
                            .entry(match kind(&result) {
                                "placed" => "woken: placed",
                                "paced" => "woken: paced",
                                "no slot, waits" => "woken: no slot after all, waits",
                                _ => "woken: other",
                            })
                            .or_default() += 1;
                    }
                }
            }
        }

        let state = provider.state.lock().unwrap();
        let started_this_second = state
            .starts
            .iter()
            .rev()
            .take_while(|(t, _)| t.as_second() == now.as_second())
            .count();
        let free = state.live < s.parallel as usize && started_this_second < s.pace as usize;
        match (free, open_since) {
            (true, None) => open_since = Some(now),
            (false, Some(from)) => {
                open.push((from, now));
                open_since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = open_since {
        open.push((from, now));
    }
    let simulated = now.duration_since(start);

    let Calls {
        starts, most_live, ..
    } = std::mem::take(&mut *provider.state.lock().unwrap());
    let placed: HashMap<(LeadId, u32), Timestamp> = starts
        .iter()
        .map(|(t, call)| ((call.lead.clone(), call.attempt), *t))
        .collect();

    // The longest stretch any job spent ready while it could have been dialled.
    let mut longest_free_wait = SignedDuration::ZERO;
    let mut waited_longest = None;
    for (attempt, from) in &ready {
        let to = placed[attempt];
        for &(open_from, open_to) in &open {
            let overlap = to.min(open_to).duration_since((*from).max(open_from));
            if overlap > longest_free_wait {
                longest_free_wait = overlap;
                waited_longest = Some((index[&attempt.0], attempt.1, *from, to));
            }
        }
    }

    // The start rate where it could reach the pace: in each second, the
    // starts the pace allowed the jobs ready at its start, within the free
    // slots (those of calls ending in it included).
    let first = starts[0].0.as_second();
    let last = starts.last().unwrap().0.as_second();
    let mut per_second: BTreeMap<i64, usize> = BTreeMap::new();
    for (t, _) in starts.iter() {
        *per_second.entry(t.as_second()).or_default() += 1;
    }
    // Each call's start and end, as the provider drew its length.
    let calls: Vec<(Timestamp, Timestamp)> = starts
        .iter()
        .enumerate()
        .map(|(k, (t, _))| (*t, *t + length(k + 1, s)))
        .collect();
    let (mut allowed, mut made) = (0usize, 0usize);
    for second in first..=last {
        let at = Timestamp::from_second(second).unwrap();
        let waiting = ready
            .iter()
            .filter(|(attempt, from)| **from <= at && placed[*attempt] > at)
            .count();
        let live = calls
            .iter()
            .filter(|(from, to)| *from <= at && *to > at)
            .count();
        let ending = calls
            .iter()
            .filter(|(_, to)| *to > at && to.as_second() == second)
            .count();
        let room = (s.parallel as usize).saturating_sub(live) + ending;
        let could = waiting.min(s.pace as usize).min(room);
        allowed += could;
        made += per_second.get(&second).copied().unwrap_or(0).min(could);
    }
    let rate = made as f64 / allowed.max(1) as f64;
    let busiest_second = per_second.values().copied().max().unwrap();
    let span = starts.last().unwrap().0.duration_since(starts[0].0);
    let paced_time = (starts.len() - 1) as f64 / s.pace as f64;

    println!(
        "dispatch: {} leads, {} calls at once, pacing {}/s, calls of {:.1}-{:.1} s, retries after {:?} s, callbacks after {} s, SQS latency {} ms",
        s.leads,
        s.parallel,
        s.pace,
        s.shortest_ms as f64 / 1000.0,
        (s.shortest_ms + s.spread_ms) as f64 / 1000.0,
        RETRIES,
        CALLBACK_AFTER.as_secs(),
        LATENCY.as_millis()
    );
    println!("  calls placed            {}", starts.len());
    println!(
        "  first to last start     {:.1} s; the pace allows {:.1} s for {} calls ({:.1}%)",
        span.as_secs_f64(),
        paced_time,
        starts.len(),
        paced_time / span.as_secs_f64() * 100.0
    );
    println!(
        "  start rate vs pacing    {:.1}% ({made} of the {allowed} starts the pace allowed the jobs waiting, in the seconds they waited)",
        rate * 100.0
    );
    println!(
        "  longest free-slot wait  {:.2} s{}",
        longest_free_wait.as_secs_f64(),
        waited_longest
            .map(|(i, attempt, from, to)| format!(
                " (lead {i} attempt {attempt}, ready {:.1} s, placed {:.1} s into the run)",
                from.duration_since(start).as_secs_f64(),
                to.duration_since(start).as_secs_f64()
            ))
            .unwrap_or_default()
    );
    println!(
        "  busiest 1 s window      {busiest_second} starts (limit {})",
        s.pace
    );
    println!(
        "  most calls in flight    {} (limit {})",
        most_live, s.parallel
    );
    println!("  dial results            {results:?}");
    println!("  wakes                   {wakes}");
    let mut by_status = BTreeMap::<&str, usize>::new();
    for lead in &leads {
        let stored = store.lead(&lead.tenant, &lead.id).await.unwrap().unwrap();
        *by_status.entry(stored.status.as_str()).or_default() += 1;
    }
    println!("  leads by status         {by_status:?}");
    println!(
        "  simulated / wall time   {:.1} s / {:.2} s",
        simulated.as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
    println!("  slots held at the end   {}", store.slots_held());
    println!("  jobs still waiting      {}", store.waiting().len());
    println!("  usage records           {}", store.usage_records().len());

    assert_eq!(placed.len(), starts.len(), "one call per attempt");
    assert_eq!(
        ready.len(),
        starts.len(),
        "every attempt that was ready was placed"
    );
    assert_eq!(
        store.usage_records().len(),
        starts.len(),
        "every call ended, with its usage record"
    );
    assert!(
        by_status
            .keys()
            .all(|status| ["completed", "exhausted"].contains(status)),
        "every lead is done: {by_status:?}"
    );
    assert_eq!(store.slots_held(), 0, "a slot leaked");
    assert!(store.waiting().is_empty(), "a job was left waiting");
    assert!(busiest_second <= s.pace as usize, "the pace was exceeded");
    assert!(most_live <= s.parallel as usize, "too many calls at once");
    assert!(
        rate >= 0.9,
        "the start rate is {:.1}% of the pacing",
        rate * 100.0
    );
    let bound = SignedDuration::from_secs(1) + LATENCY * 2;
    assert!(
        longest_free_wait <= bound,
        "a job waited {longest_free_wait:?} with a slot free and a call start left (bound {bound:?})"
    );
}

fn kind(result: &DialResult) -> &'static str {
    match result {
        DialResult::Placed { .. } => "placed",
        DialResult::Deferred { scope, .. } if scope.contains("per second") => "paced",
        DialResult::Deferred { .. } => "no slot, waits",
        DialResult::WaitsForSlot { .. } => "no slot, waits",
        DialResult::Dropped(_) => "dropped (placed already)",
        _ => "other",
    }
}

/// The length of the `n`-th call placed.
fn length(n: usize, s: Scenario) -> SignedDuration {
    SignedDuration::from_millis((s.shortest_ms + (n as u64 * 7_919) % s.spread_ms) as i64)
}
