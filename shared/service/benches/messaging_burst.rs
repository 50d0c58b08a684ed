//! The rate of a burst of SMS from one sender: 1,000 message jobs of one
//! tenant, all due at once, through `Messenger::work` and the real
//! `leadline_messaging::Providers` against the simulated Twilio in process,
//! whose per-sender limit (`twilio_mps`) is the tenant's `sms_per_second`.
//! The budget: the burst runs at the sender's rate limit without a 429 storm.
//!
//! The messenger runs as it does behind its SQS trigger: [`FUNCTIONS`] warm
//! functions at once (the trigger's maximum concurrency), each with its own
//! lanes and provider clients, over one table, each taking batches of
//! [`BATCH`] messages and handling a batch's messages concurrently; the
//! real sleep ([`TokioPause`]) and the wall clock (`SystemClock`). Jobs a
//! function puts back for later (the sender's slot more than 2 s ahead, a
//! 429's `Retry-After`) land on its in-memory queue with their
//! `not_before`, and are fed again when due, as SQS's delay would.
//!
//! Prints the messages sent, the time taken, the rate measured by the
//! simulator (acceptances over the span between the first and the last) and
//! its ratio to the limit, the most acceptances in any one second, and the
//! 429s the simulator answered for the sender's rate, with how early each
//! came: how far inside 1 s of the acceptance `limit` acceptances before it
//! (the simulator counts any 1 s window, so on a pace of exactly the limit
//! any jitter of the sends, or a send the machine delayed, lets the send a
//! second later come early). Every message must end `sent`, accepted once
//! by the simulator.
//!
//! `cargo bench -p leadline-service --bench messaging_burst`; the limit is
//! `LEADLINE_BURST_MPS` (default 50: the 1,000 messages take ~20 s).
//! Without `--bench` (`cargo test --benches`) it is a smoke run of 60.
//!
//! No criterion here: the figure is the rate of one 20 s run, not the time
//! of a repeatable iteration.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use jiff::Timestamp;
use leadline_aws::SystemClock;
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::intake::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::intake::tenant::{NewTenant, Tenant};
use leadline_core::memory::{MemoryCalendar, MemoryMessages, MemoryScheduler, MemoryStore};
use leadline_core::messaging::message::{
    Channel, Message, MessageJob, MessagePurpose, MessageStatus, MessengerWork,
};
use leadline_core::messaging::provider::InboundAddress;
use leadline_core::messaging::settings::{MessagingSettings, templates};
use leadline_core::ports::{
    CampaignStore, InboundContext, LeadStore, MessageStore, Page, PageRequest, SendContext,
    TenantStore,
};
use leadline_core::write::{Change, Commit, Outbox};
use leadline_core::{CampaignId, LeadId, MessageId, Phone, TenantId, Zone};
use leadline_messaging::{MemoryAccounts, MessagingAccounts, MessagingConfig, Providers};
use leadline_service::messenger::{Lanes, Messenger};
use leadline_sim::{MessageFilter, Sim, SimConfig};

/// The messages of the burst.
const N: usize = 1_000;
/// In a smoke run (`cargo test --benches`).
const SMOKE_N: usize = 60;
/// The sender's limit unless `LEADLINE_BURST_MPS` says otherwise.
const DEFAULT_MPS: u32 = 50;
/// Warm functions at once (the SQS trigger's maximum concurrency).
const FUNCTIONS: usize = 10;
/// Messages per SQS batch.
const BATCH: usize = 10;
/// The rate counts as the limit's from this fraction of it.
const AT_THE_LIMIT: f64 = 0.9;
/// More 429s than this fraction of the messages is a storm.
const STORM: f64 = 0.01;

const SENDER: &str = "+14155550100";

type BurstMessenger = Messenger<
    Shared,
    Providers<MemoryAccounts>,
    MemoryScheduler,
    MemoryMessages,
    MemoryStore,
    MemoryCalendar,
    SystemClock,
>;

/// The SQS queue of the burst: jobs and when they are due, and what is being
/// handled.
#[derive(Default)]
struct Feed {
    jobs: Mutex<VecDeque<MessengerWork>>,
    in_flight: AtomicUsize,
    /// Jobs a function put back for later.
    put_back: AtomicUsize,
    /// Jobs whose handling failed (fed again at once; SQS would after the
    /// visibility timeout).
    failed: AtomicUsize,
}

fn due_at(work: &MessengerWork) -> Option<Timestamp> {
    match work {
        MessengerWork::Send(job) => job.not_before,
        _ => None,
    }
}

impl Feed {
    /// Up to a batch of due jobs, counted in flight; `Err(next due)` when
    /// none is due, `Err(None)` when the queue is empty.
    fn take(&self, now: Timestamp) -> Result<Vec<MessengerWork>, Option<Timestamp>> {
        let mut jobs = self.jobs.lock().unwrap();
        let mut batch = Vec::new();
        let mut rest = VecDeque::with_capacity(jobs.len());
        while let Some(work) = jobs.pop_front() {
            if batch.len() < BATCH && due_at(&work).is_none_or(|at| at <= now) {
                batch.push(work);
            } else {
                rest.push_back(work);
            }
        }
        *jobs = rest;
        if batch.is_empty() {
            return Err(jobs.iter().filter_map(due_at).min().or(
                // Jobs in flight may still put some back.
                (self.in_flight.load(Ordering::SeqCst) > 0).then_some(now),
            ));
        }
        self.in_flight.fetch_add(batch.len(), Ordering::SeqCst);
        Ok(batch)
    }

    fn put(&self, work: Vec<MessengerWork>) {
        self.jobs.lock().unwrap().extend(work);
    }
}

/// One warm function: batch after batch until the queue is empty and
/// nothing is in flight.
async fn function(messenger: Arc<BurstMessenger>, feed: Arc<Feed>) {
    loop {
        let now = Timestamp::now();
        let batch = match feed.take(now) {
            Ok(batch) => batch,
            Err(None) => return,
            Err(Some(next)) => {
                // Poll again when the next job is due (at most 20 ms on).
                let wait = next.duration_since(now).clamp(
                    jiff::SignedDuration::from_millis(1),
                    jiff::SignedDuration::from_millis(20),
                );
                tokio::time::sleep(wait.unsigned_abs()).await;
                continue;
            }
        };
        let results = futures::future::join_all(batch.iter().map(|w| messenger.work(w))).await;
        let mut again = Vec::new();
        for (work, result) in batch.iter().zip(results) {
            if result.is_err() {
                feed.failed.fetch_add(1, Ordering::SeqCst);
                again.push(work.clone());
            }
        }
        let back = messenger.queue.drain();
        feed.put_back.fetch_add(back.len(), Ordering::SeqCst);
        again.extend(back);
        feed.put(again);
        feed.in_flight.fetch_sub(batch.len(), Ordering::SeqCst);
    }
}

/// A fixed-offset zone where it is about noon now: inside the sending hours
/// whenever the bench runs.
fn noon_zone(now: Timestamp) -> Zone {
    let hour = i32::from(now.to_zoned(jiff::tz::TimeZone::UTC).hour());
    let ahead = 12 - hour;
    let name = match ahead {
        0 => "Etc/GMT".to_owned(),
        a if a > 0 => format!("Etc/GMT-{a}"),
        a => format!("Etc/GMT+{}", -a),
    };
    Zone::parse(&name).unwrap()
}

/// The tenant (its SMS sender at `mps` messages a second) and `n` leads.
async fn seed(store: &MemoryStore, n: usize, mps: u32) -> Vec<MessageJob> {
    let now = Timestamp::now();
    let tenant: Tenant = serde_json::from_value::<NewTenant>(serde_json::json!({
        "name": "Burst Dental", "slug": "burst", "timezone": "America/New_York",
        "default_region": "US"
    }))
    .unwrap()
    .into_tenant(now)
    .unwrap();
    store.create_tenant(&tenant, "h").await.unwrap();
    let campaign = Campaign {
        id: CampaignId::new(now, [1; 9]),
        tenant: tenant.id.clone(),
        name: "Burst".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: 2,
            calls_per_second: 1,
        },
        start_at: None,
        lead_count: n as u64,
        created_at: now,
    };
    store.create_campaign(&campaign).await.unwrap();
    let mut settings = MessagingSettings::new(tenant.id.clone());
    settings.senders.sms_number = Some(Phone::parse(SENDER, None).unwrap());
    settings.sms_per_second = mps;
    store
        .save_messaging_settings(&settings, None)
        .await
        .unwrap();
    let zone = noon_zone(now);
    let leads: Vec<Lead> = (0..n)
        .map(|i| {
            let phone = Phone::parse(&format!("+14152{i:06}"), None).unwrap();
            Lead {
                id: LeadId::derive(&tenant.id, &campaign.id, &phone),
                tenant: tenant.id.clone(),
                campaign: campaign.id.clone(),
                phone,
                name: Some(format!("Lead {i}")),
                email: None,
                whatsapp: None,
                partner: None,
                zone: Some(zone.clone()),
                language: None,
                source: Default::default(),
                preferred_phone: None,
                from_call: Vec::new(),
                status: LeadStatus::New,
                attempts: 0,
                outcome: None,
                note: None,
                next_call: None,
                messages: Vec::new(),
                messaging: Default::default(),
                created_at: now,
                updated_at: now,
                version: 0,
                effects: Default::default(),
            }
        })
        .collect();
    store.insert_leads(&leads).await.unwrap();
    leads
        .iter()
        .map(|lead| MessageJob {
            id: MessageId::derive(&lead.id, "fallback", "sms", "burst"),
            tenant: tenant.id.clone(),
            lead: lead.id.clone(),
            channel: Channel::Sms,
            purpose: MessagePurpose::Fallback,
            template: templates::CALL_FALLBACK.into(),
            to: lead.phone.clone().into(),
            params: Default::default(),
            appointment: None,
            not_before: None,
            queued_at: Some(now),
            lead_phone: None,
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; without it this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n = if smoke { SMOKE_N } else { N };
    let mps = match std::env::var("LEADLINE_BURST_MPS") {
        Ok(v) => v
            .parse::<u32>()
            .ok()
            .filter(|m| *m > 0)
            .expect("LEADLINE_BURST_MPS is a whole number of messages a second"),
        Err(_) => DEFAULT_MPS,
    };
    if smoke {
        println!("messaging burst: smoke run ({n} messages; `cargo bench` sends {N})");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(burst(n, mps, smoke));
}

async fn burst(n: usize, mps: u32, smoke: bool) {
    let sim = Sim::start(SimConfig {
        twilio_mps: mps,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let sim_config = sim.control().config().clone();
    let store = Arc::new(MemoryStore::default());
    let jobs = seed(&store, n, mps).await;

    let providers = MessagingConfig {
        twilio_api_url: sim.url().to_owned(),
        sendgrid_api_url: sim.url().to_owned(),
        whatsapp_api_url: sim.url().to_owned(),
        ..MessagingConfig::default()
    };
    let deployment = MessagingAccounts {
        twilio_account_sid: Some(sim_config.twilio_account_sid.clone()),
        twilio_auth_token: Some(sim_config.twilio_auth_token.clone()),
        ..MessagingAccounts::default()
    };
    let http = reqwest::Client::builder().build().unwrap();
    let messengers: Vec<Arc<BurstMessenger>> = (0..FUNCTIONS)
        .map(|_| {
            Arc::new(Messenger {
                store: Shared(store.clone()),
                provider: Providers::new(
                    http.clone(),
                    &providers,
                    deployment.clone(),
                    MemoryAccounts::default(),
                ),
                follow_ups: MemoryScheduler::default(),
                queue: MemoryMessages::default(),
                businesses: MemoryStore::default(),
                calendar: MemoryCalendar::default(),
                clock: SystemClock,
                lanes: Lanes::default(),
            })
        })
        .collect();
    let feed = Arc::new(Feed::default());
    feed.put(jobs.iter().cloned().map(MessengerWork::Send).collect());

    let started = Instant::now();
    let tasks: Vec<_> = messengers
        .iter()
        .map(|m| tokio::spawn(function(m.clone(), feed.clone())))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();

    // Every message went out, once.
    let mut sent = 0;
    for job in &jobs {
        let message: Message = store
            .message(&job.tenant, &job.lead, &job.id)
            .await
            .unwrap()
            .expect("every job recorded its message");
        assert_eq!(
            message.status,
            MessageStatus::Sent,
            "{}: {:?}",
            job.id,
            message.reason
        );
        sent += 1;
    }
    let stats = sim
        .control()
        .messaging_stats(&MessageFilter::channel(leadline_sim::Channel::Sms));
    let sender = stats.senders.get(SENDER).cloned().unwrap_or_default();
    assert_eq!(
        sender.accepted, n,
        "the simulator accepted each message once"
    );
    let early = early_429s(&sim, mps);
    let rate = sender.accepted_per_second.unwrap_or(0.0);
    let ratio = rate / f64::from(mps);
    let limited = sender.rate_limited;
    let storm_at = (n as f64 * STORM).ceil() as usize;
    println!(
        "messaging burst ({FUNCTIONS} functions x batches of {BATCH}): {sent} SMS sent from one sender in {:.2} s \
         ({:.1}/s end to end); the simulator measured {rate:.1}/s, {ratio:.3} of the limit of {mps}/s \
         (max {} in one second); {limited} 429s for the sender's rate, {} of {} requests refused in all; \
         {} jobs put back for later, {} failed and fed again",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        sender.max_accepted_in_one_second,
        stats.requests - stats.accepted,
        stats.requests,
        feed.put_back.load(Ordering::SeqCst),
        feed.failed.load(Ordering::SeqCst),
    );
    if let (Some(first), Some(last)) = (early.first(), early.last()) {
        println!(
            "the 429s came {first:.2} to {last:.2} ms before the {mps}th acceptance before each was 1 s old"
        );
    }
    if smoke {
        // A second's hold after one 429 is half the run of 60: no verdict.
        println!("budget: not judged on a smoke run");
        return;
    }
    println!(
        "budget: at the sender's rate limit (at least {AT_THE_LIMIT} of it): {}; \
         without a 429 storm (at most {storm_at} 429s, {} % of the messages): {}",
        if ratio >= AT_THE_LIMIT {
            "met"
        } else {
            "NOT MET"
        },
        STORM * 100.0,
        if limited <= storm_at {
            "met"
        } else {
            "NOT MET"
        },
    );
}

/// How early each rate-limit 429 came, in ms: 1 s less the time since the
/// acceptance `mps` acceptances before it (what the sender's window
/// counted), by the simulator's record of the requests; sorted.
fn early_429s(sim: &leadline_sim::SimHandle, mps: u32) -> Vec<f64> {
    let requests = sim
        .control()
        .messaging_requests(&MessageFilter::channel(leadline_sim::Channel::Sms));
    let mut accepted: Vec<Timestamp> = Vec::new();
    let mut early = Vec::new();
    for request in &requests {
        if request.accepted {
            accepted.push(request.received_at);
        } else if request.status == 429
            && !request.forced
            && let Some(at) = accepted
                .len()
                .checked_sub(mps as usize)
                .map(|i| accepted[i])
        {
            let since = request.received_at.duration_since(at).as_secs_f64() * 1000.0;
            early.push(1000.0 - since);
        }
    }
    early.sort_by(f64::total_cmp);
    early
}

/// One in-memory table shared by the warm functions.
#[derive(Clone)]
struct Shared(Arc<MemoryStore>);

#[async_trait]
impl MessageStore for Shared {
    async fn send_context(&self, job: &MessageJob) -> leadline_core::Result<SendContext> {
        self.0.send_context(job).await
    }
    async fn inbound_context(
        &self,
        tenant: &TenantId,
        from: &Phone,
    ) -> leadline_core::Result<InboundContext> {
        self.0.inbound_context(tenant, from).await
    }
    async fn message(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        id: &MessageId,
    ) -> leadline_core::Result<Option<Message>> {
        self.0.message(tenant, lead, id).await
    }
    async fn message_by_provider_id(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> leadline_core::Result<Option<Message>> {
        self.0.message_by_provider_id(tenant, provider_id).await
    }
    async fn messages_of(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
    ) -> leadline_core::Result<Vec<Message>> {
        self.0.messages_of(tenant, lead).await
    }
    async fn messages_with_status(
        &self,
        tenant: &TenantId,
        status: MessageStatus,
        page: &PageRequest,
    ) -> leadline_core::Result<Page<Message>> {
        self.0.messages_with_status(tenant, status, page).await
    }
    async fn messaging_settings(
        &self,
        tenant: &TenantId,
    ) -> leadline_core::Result<Option<MessagingSettings>> {
        self.0.messaging_settings(tenant).await
    }
    async fn save_messaging_settings(
        &self,
        settings: &MessagingSettings,
        previous: Option<&MessagingSettings>,
    ) -> leadline_core::Result<()> {
        self.0.save_messaging_settings(settings, previous).await
    }
    async fn tenant_of_sender(
        &self,
        address: &InboundAddress,
    ) -> leadline_core::Result<Option<TenantId>> {
        self.0.tenant_of_sender(address).await
    }
}

#[async_trait]
impl Commit for Shared {
    async fn commit(&self, changes: &[Change]) -> leadline_core::Result<()> {
        self.0.commit(changes).await
    }
    async fn clear_outbox(&self, outbox: &Outbox) -> leadline_core::Result<()> {
        self.0.clear_outbox(outbox).await
    }
}
