//! An in-memory store with the same rules as the DynamoDB one (conditional
//! creates, versioned saves, tenant-scoped reads), for fast use-case tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::appointments::appointment::Appointment;
use crate::appointments::business::Business;
use crate::appointments::calendar::{
    Booking, Calendar, CalendarAccount, CalendarError, NewBooking, SlotQuery,
};
use crate::billing::UsageRecord;
use crate::calling::attempt::CallAttempt;
use crate::calling::call::CallRef;
use crate::calling::lead::{Lead, LeadStatus};
use crate::calling::suppression::Suppression;
use crate::calling::waiting::Waiter;
use crate::calling::work::{DialJob, DialMessage, FollowUp, SlotScope};
use crate::in_call::ToolRecord;
use crate::intake::campaign::Campaign;
use crate::intake::tenant::{Tenant, VoiceProvider};
use crate::kernel::error::{Error, Result};
use crate::kernel::ids::MessageId;
use crate::kernel::ids::{AppointmentId, AttemptId, CampaignId, LeadId, TenantId};
use crate::kernel::phone::Phone;
use crate::messaging::message::{Message, MessageJob, MessageStatus, MessengerWork, ProviderRef};
use crate::messaging::provider::InboundAddress;
use crate::messaging::settings::MessagingSettings;
use crate::ports::{
    BusinessStore, CallContext, CallStore, CampaignStore, DialContext, DialQueue, DueWork,
    FollowUpScheduler, InCallStore, LeadStore, MessageQueue, Page, PageRequest, SuppressionStore,
    SweepStore, TenantStore, UsageStore,
};
use crate::write::{Change, Commit, Entity, Outbox, Precondition, Refused};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    calls: Mutex<Calls>,
    in_call: Mutex<InCallState>,
}

#[derive(Default)]
struct InCallState {
    businesses: HashMap<TenantId, Business>,
    numbers: HashMap<Phone, TenantId>,
    records: HashMap<(TenantId, String), ToolRecord>,
    appointments: BTreeMap<(TenantId, AppointmentId), Appointment>,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<TenantId, Tenant>,
    keys: HashSet<(TenantId, String)>,
    campaigns: BTreeMap<(TenantId, CampaignId), Campaign>,
    leads: BTreeMap<(TenantId, LeadId), Lead>,
    /// How many write requests insert_leads made, as the DynamoDB store would
    /// when nothing races (a transaction of up to 100 creates each).
    pub lead_write_requests: u64,
}

impl MemoryStore {
    pub fn tenant_now(&self, id: &TenantId) -> Option<Tenant> {
        self.inner.lock().unwrap().tenants.get(id).cloned()
    }

    /// Changes a tenant's settings in place (tests).
    pub fn replace_tenant(&self, tenant: &Tenant) {
        let mut inner = self.inner.lock().unwrap();
        inner.tenants.insert(tenant.id.clone(), tenant.clone());
    }

    pub fn lead_write_requests(&self) -> u64 {
        self.inner.lock().unwrap().lead_write_requests
    }
}

fn page<T: Clone>(items: Vec<T>, request: &PageRequest) -> Result<Page<T>> {
    let start: usize = match &request.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| Error::Malformed("the cursor is not one this listing gave".into()))?,
    };
    let end = (start + request.limit as usize).min(items.len());
    let next_cursor = (end < items.len()).then(|| end.to_string());
    Ok(Page {
        items: items.get(start..end).unwrap_or_default().to_vec(),
        next_cursor,
    })
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        if inner.tenants.contains_key(&tenant.id) {
            return Err(Error::Conflict(format!(
                "the slug {:?} is taken",
                tenant.id.as_str()
            )));
        }
        inner.tenants.insert(tenant.id.clone(), tenant.clone());
        inner.keys.insert((tenant.id.clone(), key_hash.to_owned()));
        Ok(())
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        Ok(self.inner.lock().unwrap().tenants.get(id).cloned())
    }

    async fn tenant_by_key(&self, id: &TenantId, key_hash: &str) -> Result<Option<Tenant>> {
        let inner = self.inner.lock().unwrap();
        let known = inner.keys.contains(&(id.clone(), key_hash.to_owned()));
        Ok(known.then(|| inner.tenants.get(id).cloned()).flatten())
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let key = (campaign.tenant.clone(), campaign.id.clone());
        if inner.campaigns.contains_key(&key) {
            return Err(Error::Conflict("the campaign exists".into()));
        }
        inner.campaigns.insert(key, campaign.clone());
        Ok(())
    }

    async fn campaign(&self, tenant: &TenantId, id: &CampaignId) -> Result<Option<Campaign>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .campaigns
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn campaigns(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page<Campaign>> {
        let inner = self.inner.lock().unwrap();
        let mine: Vec<Campaign> = inner
            .campaigns
            .values()
            .rev()
            .filter(|c| &c.tenant == tenant)
            .cloned()
            .collect();
        page(mine, request)
    }

    async fn add_leads_to_count(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
        added: u64,
    ) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let campaign = inner
            .campaigns
            .get_mut(&(tenant.clone(), id.clone()))
            .ok_or(Error::NotFound("campaign"))?;
        campaign.lead_count += added;
        Ok(())
    }
}

#[async_trait]
impl LeadStore for MemoryStore {
    async fn existing_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<HashSet<LeadId>> {
        let inner = self.inner.lock().unwrap();
        Ok(ids
            .iter()
            .filter(|id| inner.leads.contains_key(&(tenant.clone(), (*id).clone())))
            .cloned()
            .collect())
    }

    async fn insert_leads(&self, leads: &[Lead]) -> Result<HashSet<LeadId>> {
        let mut inner = self.inner.lock().unwrap();
        inner.lead_write_requests += leads.len().div_ceil(100) as u64;
        let mut existing = HashSet::new();
        for lead in leads {
            match inner.leads.entry((lead.tenant.clone(), lead.id.clone())) {
                std::collections::btree_map::Entry::Occupied(_) => {
                    existing.insert(lead.id.clone());
                }
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(lead.clone());
                }
            }
        }
        Ok(existing)
    }

    async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .leads
            .get(&(tenant.clone(), id.clone()))
            .cloned())
    }

    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: Option<LeadStatus>,
        request: &PageRequest,
    ) -> Result<Page<Lead>> {
        let inner = self.inner.lock().unwrap();
        // Like DynamoDB's, the cursor is the last key returned, so leads that
        // change status while a listing is paged through shift nothing.
        let after =
            match &request.cursor {
                None => None,
                Some(c) => Some(LeadId::parse(c).map_err(|_| {
                    Error::Malformed("the cursor is not one this listing gave".into())
                })?),
            };
        let mut matching = inner.leads.values().filter(|l| {
            &l.tenant == tenant
                && &l.campaign == campaign
                && status.is_none_or(|s| l.status == s)
                && after.as_ref().is_none_or(|a| l.id > *a)
        });
        let items: Vec<Lead> = matching
            .by_ref()
            .take(request.limit as usize)
            .cloned()
            .collect();
        let more = matching.next().is_some();
        Ok(Page {
            next_cursor: items
                .last()
                .filter(|_| more)
                .map(|l| l.id.as_str().to_owned()),
            items,
        })
    }
}

#[async_trait]
impl SweepStore for MemoryStore {
    async fn due_work(&self, at: Timestamp, request: &PageRequest) -> Result<Page<DueWork>> {
        let mut due: Vec<(Timestamp, DueWork)> = {
            let inner = self.inner.lock().unwrap();
            inner
                .leads
                .values()
                .filter_map(|l| {
                    l.sweep_at()
                        .filter(|t| *t <= at)
                        .map(|t| (t, DueWork::Lead(l.clone())))
                })
                .collect()
        };
        due.extend(
            self.calls
                .lock()
                .unwrap()
                .attempts
                .values()
                .filter_map(|a| {
                    a.sweep_at()
                        .filter(|t| *t <= at)
                        .map(|t| (t, DueWork::Attempt(a.clone())))
                }),
        );
        due.extend(
            self.calls
                .lock()
                .unwrap()
                .outboxes
                .values()
                .filter(|o| o.due_at <= at)
                .map(|o| (o.due_at, DueWork::Outbox(o.clone()))),
        );
        due.sort_by_key(|(t, _)| *t);
        page(due.into_iter().map(|(_, w)| w).collect(), request)
    }
}

/// The call side of the store: attempts, slots, call starts per second,
/// dedupe keys, usage and the do-not-call list, with the same all-or-nothing
/// writes as DynamoDB's transactions.
#[derive(Default)]
struct Calls {
    attempts: BTreeMap<(TenantId, AttemptId), CallAttempt>,
    slots: HashMap<SlotScope, BTreeSet<AttemptId>>,
    call_starts: HashMap<(VoiceProvider, i64), u32>,
    dedupe_keys: HashSet<(TenantId, String)>,
    usage: BTreeMap<(TenantId, AttemptId), UsageRecord>,
    /// By tenant and number (or address) itself.
    suppressions: BTreeMap<(TenantId, String), Suppression>,
    outboxes: BTreeMap<(TenantId, String), Outbox>,
    /// Each scope's waiting jobs, oldest first.
    waiters: HashMap<SlotScope, BTreeMap<(Timestamp, AttemptId), Waiter>>,
    messaging: Messaging,
}

/// Messages, their provider ids, senders' pacing, settings and claimed senders.
#[derive(Default)]
pub(crate) struct Messaging {
    pub(crate) messages: BTreeMap<(TenantId, LeadId, MessageId), Message>,
    pub(crate) provider_refs: BTreeMap<(TenantId, String), ProviderRef>,
    pub(crate) paces: HashMap<(TenantId, String), Timestamp>,
    pub(crate) settings: BTreeMap<TenantId, MessagingSettings>,
    pub(crate) senders: HashMap<String, TenantId>,
}

fn waiter_key(waiter: &Waiter) -> (Timestamp, AttemptId) {
    (waiter.since, waiter.attempt_id())
}

impl MemoryStore {
    /// Every usage record written, in attempt order.
    pub fn usage_records(&self) -> Vec<UsageRecord> {
        self.calls.lock().unwrap().usage.values().cloned().collect()
    }

    /// Stores an attempt as it is, as if the dispatcher and the call's
    /// events had recorded it (tests and benches of what reads attempts).
    pub fn record_attempt(&self, attempt: &CallAttempt) {
        self.calls.lock().unwrap().attempts.insert(
            (attempt.tenant.clone(), attempt.id.clone()),
            attempt.clone(),
        );
    }

    pub fn attempts(&self) -> Vec<CallAttempt> {
        self.calls
            .lock()
            .unwrap()
            .attempts
            .values()
            .cloned()
            .collect()
    }

    /// Every job waiting for a slot, in every scope (tests).
    pub fn waiting(&self) -> Vec<Waiter> {
        let calls = self.calls.lock().unwrap();
        let mut all: Vec<Waiter> = calls
            .waiters
            .values()
            .flat_map(|w| w.values().cloned())
            .collect();
        all.sort_by_key(waiter_key);
        all
    }

    /// Slots held in every scope together.
    pub fn slots_held(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .slots
            .values()
            .map(BTreeSet::len)
            .sum()
    }
}

#[async_trait]
impl CallStore for MemoryStore {
    async fn dial_context(&self, job: &DialJob) -> Result<DialContext> {
        let inner = self.inner.lock().unwrap();
        let calls = self.calls.lock().unwrap();
        let (tenant, campaign, phone) = (&job.tenant, &job.campaign, &job.phone);
        let lead = inner
            .leads
            .get(&(tenant.clone(), job.lead.clone()))
            .cloned();
        let attempt = calls
            .attempts
            .get(&(tenant.clone(), job.call().attempt_id()))
            .cloned();
        Ok(DialContext {
            tenant: inner.tenants.get(tenant).cloned(),
            campaign: inner
                .campaigns
                .get(&(tenant.clone(), campaign.clone()))
                .cloned(),
            lead,
            suppressed: calls
                .suppressions
                .contains_key(&(tenant.clone(), phone.e164().to_owned())),
            attempt,
        })
    }

    async fn call_context(&self, call: &CallRef) -> Result<CallContext> {
        let inner = self.inner.lock().unwrap();
        let calls = self.calls.lock().unwrap();
        Ok(CallContext {
            tenant: inner.tenants.get(&call.tenant).cloned(),
            lead: inner
                .leads
                .get(&(call.tenant.clone(), call.lead.clone()))
                .cloned(),
            attempt: calls
                .attempts
                .get(&(call.tenant.clone(), call.attempt_id()))
                .cloned(),
            messaging: calls.messaging.settings.get(&call.tenant).cloned(),
        })
    }

    async fn slot_holders(&self, scope: &SlotScope) -> Result<Vec<AttemptId>> {
        let calls = self.calls.lock().unwrap();
        Ok(calls
            .slots
            .get(scope)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default())
    }

    async fn waiters(&self, scope: &SlotScope, limit: u32) -> Result<Vec<Waiter>> {
        let calls = self.calls.lock().unwrap();
        Ok(calls
            .waiters
            .get(scope)
            .map(|w| w.values().take(limit as usize).cloned().collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl SuppressionStore for MemoryStore {
    async fn suppressions(
        &self,
        tenant: &TenantId,
        request: &PageRequest,
    ) -> Result<Page<Suppression>> {
        let calls = self.calls.lock().unwrap();
        let mine: Vec<Suppression> = calls
            .suppressions
            .values()
            .filter(|s| &s.tenant == tenant)
            .cloned()
            .collect();
        page(mine, request)
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn usage(&self, tenant: &TenantId, request: &PageRequest) -> Result<Page<UsageRecord>> {
        let mine: Vec<UsageRecord> = self
            .usage_records()
            .into_iter()
            .filter(|u| &u.tenant == tenant)
            .collect();
        page(mine, request)
    }
}

/// A dial queue that keeps what it was given, for tests to deliver by hand.
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<(DialMessage, Timestamp)>>,
}

impl MemoryQueue {
    /// Takes every message due at or before `now`, earliest first.
    pub fn take_due(&self, now: Timestamp) -> Vec<DialMessage> {
        let mut all = self.messages.lock().unwrap();
        all.sort_by_key(|(_, at)| *at);
        let due = all.iter().take_while(|(_, at)| *at <= now).count();
        all.drain(..due).map(|(m, _)| m).collect()
    }

    pub fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the earliest waiting message is due.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, at)| *at)
            .min()
    }
}

#[async_trait]
impl DialQueue for MemoryQueue {
    async fn enqueue(&self, messages: &[(DialMessage, Timestamp)], _now: Timestamp) -> Result<()> {
        self.messages.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}

/// A Scheduler that keeps its schedules by name and counts its requests; it
/// can be told to fail, like a Scheduler that is down.
#[derive(Default)]
pub struct MemoryScheduler {
    schedules: Mutex<BTreeMap<String, FollowUp>>,
    requests: Mutex<SchedulerRequests>,
    failing: std::sync::atomic::AtomicBool,
}

/// Requests a [`MemoryScheduler`] answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerRequests {
    pub creates: u32,
    /// A create that found the name taken and moved the schedule instead.
    pub updates: u32,
    pub deletes: u32,
}

impl MemoryScheduler {
    pub fn requests(&self) -> SchedulerRequests {
        *self.requests.lock().unwrap()
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn schedules(&self) -> Vec<FollowUp> {
        self.schedules.lock().unwrap().values().cloned().collect()
    }

    /// Fires (and deletes, as `ActionAfterCompletion=DELETE` does) every
    /// schedule due at or before `now`, earliest first.
    pub fn take_due(&self, now: Timestamp) -> Vec<FollowUp> {
        let mut schedules = self.schedules.lock().unwrap();
        let mut due: Vec<FollowUp> = schedules
            .values()
            .filter(|f| f.due_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|f| f.due_at);
        for f in &due {
            schedules.remove(&f.schedule_name());
        }
        due
    }

    pub fn next_due(&self) -> Option<Timestamp> {
        self.schedules
            .lock()
            .unwrap()
            .values()
            .map(|f| f.due_at)
            .min()
    }

    fn fail_if_down(&self) -> Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Unavailable("Scheduler is down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl FollowUpScheduler for MemoryScheduler {
    async fn schedule(&self, follow_up: &FollowUp) -> Result<()> {
        self.fail_if_down()?;
        let mut requests = self.requests.lock().unwrap();
        requests.creates += 1;
        let mut schedules = self.schedules.lock().unwrap();
        let name = follow_up.schedule_name();
        if schedules.get(&name).is_some_and(|f| f != follow_up) {
            requests.updates += 1;
        }
        schedules.insert(name, follow_up.clone());
        Ok(())
    }

    async fn cancel(&self, follow_up: &FollowUp) -> Result<()> {
        self.fail_if_down()?;
        self.requests.lock().unwrap().deletes += 1;
        self.schedules
            .lock()
            .unwrap()
            .remove(&follow_up.schedule_name());
        Ok(())
    }
}

/// A messenger queue that keeps what it was given.
#[derive(Default)]
pub struct MemoryMessages {
    work: Mutex<Vec<MessengerWork>>,
}

impl MemoryMessages {
    /// The messages put on the queue, in order.
    pub fn jobs(&self) -> Vec<MessageJob> {
        self.work
            .lock()
            .unwrap()
            .iter()
            .filter_map(|w| match w {
                MessengerWork::Send(job) => Some(job.clone()),
                _ => None,
            })
            .collect()
    }

    /// Everything put on the queue, in order.
    pub fn work(&self) -> Vec<MessengerWork> {
        self.work.lock().unwrap().clone()
    }

    /// Takes everything put on the queue so far (a test's messenger).
    pub fn drain(&self) -> Vec<MessengerWork> {
        std::mem::take(&mut self.work.lock().unwrap())
    }
}

#[async_trait]
impl MessageQueue for MemoryMessages {
    async fn put(&self, work: &[MessengerWork]) -> Result<()> {
        self.work.lock().unwrap().extend_from_slice(work);
        Ok(())
    }
}

impl MemoryStore {
    /// Every appointment of a tenant (tests).
    pub fn appointments(&self, tenant: &TenantId) -> Vec<Appointment> {
        let state = self.in_call.lock().unwrap();
        state
            .appointments
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, a)| a.clone())
            .collect()
    }

    /// How many tool calls were recorded (tests).
    pub fn tool_records(&self) -> usize {
        self.in_call.lock().unwrap().records.len()
    }
}

#[async_trait]
impl BusinessStore for MemoryStore {
    async fn business(&self, tenant: &TenantId) -> Result<Option<Business>> {
        Ok(self.in_call.lock().unwrap().businesses.get(tenant).cloned())
    }

    async fn save_business(&self, business: &Business, previous: Option<&Business>) -> Result<()> {
        let mut state = self.in_call.lock().unwrap();
        let stored = state
            .businesses
            .get(&business.tenant)
            .map_or(0, |b| b.version);
        if stored != business.version {
            return Err(Error::Conflict(
                "the business changed meanwhile; read it again".into(),
            ));
        }
        if let Some(taken) = business.inbound_numbers.iter().find(|n| {
            state
                .numbers
                .get(*n)
                .is_some_and(|owner| owner != &business.tenant)
        }) {
            return Err(Error::Conflict(format!(
                "{} is another business's number",
                taken.masked()
            )));
        }
        for released in previous.iter().flat_map(|p| &p.inbound_numbers) {
            if !business.inbound_numbers.contains(released) {
                state.numbers.remove(released);
            }
        }
        for number in &business.inbound_numbers {
            state
                .numbers
                .insert(number.clone(), business.tenant.clone());
        }
        let mut saved = business.clone();
        saved.version += 1;
        state.businesses.insert(business.tenant.clone(), saved);
        Ok(())
    }

    async fn tenant_of_number(&self, number: &Phone) -> Result<Option<TenantId>> {
        Ok(self.in_call.lock().unwrap().numbers.get(number).cloned())
    }
}

#[async_trait]
impl crate::ports::MessageStore for MemoryStore {
    async fn send_context(&self, job: &MessageJob) -> Result<crate::ports::SendContext> {
        let inner = self.inner.lock().unwrap();
        let calls = self.calls.lock().unwrap();
        let state = self.in_call.lock().unwrap();
        let lead = inner
            .leads
            .get(&(job.tenant.clone(), job.lead.clone()))
            .cloned();
        let mut suppressions: Vec<Suppression> = calls
            .suppressions
            .get(&(job.tenant.clone(), job.to.expose().to_owned()))
            .cloned()
            .into_iter()
            .collect();
        if let Some(phone) = &job.lead_phone
            && let Some(entry) = calls
                .suppressions
                .get(&(job.tenant.clone(), phone.e164().to_owned()))
        {
            suppressions.push(entry.clone());
        }
        Ok(crate::ports::SendContext {
            message: calls
                .messaging
                .messages
                .get(&(job.tenant.clone(), job.lead.clone(), job.id.clone()))
                .cloned(),
            lead,
            tenant: inner.tenants.get(&job.tenant).cloned(),
            settings: calls.messaging.settings.get(&job.tenant).cloned(),
            suppressions,
            appointment: job.appointment.as_ref().and_then(|a| {
                state
                    .appointments
                    .get(&(job.tenant.clone(), a.id.clone()))
                    .filter(|stored| stored.lead == job.lead)
                    .cloned()
            }),
            pace: calls
                .messaging
                .paces
                .get(&(job.tenant.clone(), job.channel.as_str().to_owned()))
                .copied(),
        })
    }

    async fn inbound_context(
        &self,
        tenant: &TenantId,
        from: &Phone,
    ) -> Result<crate::ports::InboundContext> {
        let inner = self.inner.lock().unwrap();
        let calls = self.calls.lock().unwrap();
        let state = self.in_call.lock().unwrap();
        let mut ids: Vec<LeadId> = inner
            .campaigns
            .keys()
            .filter(|(t, _)| t == tenant)
            .map(|(t, c)| LeadId::derive(t, c, from))
            .collect();
        // And the caller's own lead, when the number called in.
        ids.push(LeadId::for_caller(tenant, from));
        let leads: Vec<Lead> = ids
            .iter()
            .filter_map(|id| inner.leads.get(&(tenant.clone(), id.clone())))
            .cloned()
            .collect();
        let owner = crate::messaging::inbound::talked_to(&leads, tenant, from);
        Ok(crate::ports::InboundContext {
            tenant: inner.tenants.get(tenant).cloned(),
            settings: calls.messaging.settings.get(tenant).cloned(),
            suppression: calls
                .suppressions
                .get(&(tenant.clone(), from.e164().to_owned()))
                .cloned(),
            messages: messages_of(&calls, tenant, &owner),
            appointments: state
                .appointments
                .values()
                .filter(|a| &a.tenant == tenant && a.lead == owner)
                .cloned()
                .collect(),
            leads,
        })
    }

    async fn message(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        id: &MessageId,
    ) -> Result<Option<Message>> {
        let calls = self.calls.lock().unwrap();
        Ok(calls
            .messaging
            .messages
            .get(&(tenant.clone(), lead.clone(), id.clone()))
            .cloned())
    }

    async fn message_by_provider_id(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<Message>> {
        let calls = self.calls.lock().unwrap();
        Ok(calls
            .messaging
            .provider_refs
            .get(&(tenant.clone(), provider_id.to_owned()))
            .and_then(|r| {
                calls
                    .messaging
                    .messages
                    .get(&(r.tenant.clone(), r.lead.clone(), r.message.clone()))
            })
            .cloned())
    }

    async fn messages_of(&self, tenant: &TenantId, lead: &LeadId) -> Result<Vec<Message>> {
        Ok(messages_of(&self.calls.lock().unwrap(), tenant, lead))
    }

    async fn messages_with_status(
        &self,
        tenant: &TenantId,
        status: MessageStatus,
        request: &PageRequest,
    ) -> Result<Page<Message>> {
        let calls = self.calls.lock().unwrap();
        let mine: Vec<Message> = calls
            .messaging
            .messages
            .values()
            .filter(|m| &m.tenant == tenant && m.status == status)
            .cloned()
            .collect();
        page(mine, request)
    }

    async fn messaging_settings(&self, tenant: &TenantId) -> Result<Option<MessagingSettings>> {
        Ok(self
            .calls
            .lock()
            .unwrap()
            .messaging
            .settings
            .get(tenant)
            .cloned())
    }

    async fn save_messaging_settings(
        &self,
        settings: &MessagingSettings,
        previous: Option<&MessagingSettings>,
    ) -> Result<()> {
        let mut calls = self.calls.lock().unwrap();
        let messaging = &mut calls.messaging;
        let stored = messaging
            .settings
            .get(&settings.tenant)
            .map_or(0, |s| s.version);
        if stored != settings.version {
            return Err(Error::Conflict(
                "the messaging settings changed meanwhile; read them again".into(),
            ));
        }
        let keys = settings.sender_keys();
        if keys.iter().any(|k| {
            messaging
                .senders
                .get(k)
                .is_some_and(|owner| owner != &settings.tenant)
        }) {
            return Err(Error::Conflict("a sender belongs to another tenant".into()));
        }
        for released in previous
            .map(MessagingSettings::sender_keys)
            .unwrap_or_default()
        {
            if !keys.contains(&released) {
                messaging.senders.remove(&released);
            }
        }
        for key in keys {
            messaging.senders.insert(key, settings.tenant.clone());
        }
        let mut saved = settings.clone();
        saved.version += 1;
        messaging.settings.insert(settings.tenant.clone(), saved);
        Ok(())
    }

    async fn tenant_of_sender(&self, address: &InboundAddress) -> Result<Option<TenantId>> {
        Ok(self
            .calls
            .lock()
            .unwrap()
            .messaging
            .senders
            .get(&address.key())
            .cloned())
    }
}

fn messages_of(calls: &Calls, tenant: &TenantId, lead: &LeadId) -> Vec<Message> {
    let mut mine: Vec<Message> = calls
        .messaging
        .messages
        .values()
        .filter(|m| &m.tenant == tenant && &m.lead == lead)
        .cloned()
        .collect();
    mine.sort_by_key(|m| m.created_at);
    mine
}

#[async_trait]
impl InCallStore for MemoryStore {
    async fn tool_record(&self, tenant: &TenantId, key: &str) -> Result<Option<ToolRecord>> {
        let state = self.in_call.lock().unwrap();
        Ok(state
            .records
            .get(&(tenant.clone(), key.to_owned()))
            .cloned())
    }

    async fn appointments_of(&self, tenant: &TenantId, owner: &LeadId) -> Result<Vec<Appointment>> {
        let state = self.in_call.lock().unwrap();
        Ok(state
            .appointments
            .values()
            .filter(|a| &a.tenant == tenant && &a.lead == owner)
            .cloned()
            .collect())
    }
}

/// A calendar in memory: free starts per event type, bookings, and failures
/// on demand. Booking a start that is not free is `SlotTaken`.
#[derive(Default)]
pub struct MemoryCalendar {
    state: Mutex<CalendarState>,
}

#[derive(Default)]
struct CalendarState {
    free: HashMap<u64, BTreeSet<Timestamp>>,
    bookings: BTreeMap<String, HeldBooking>,
    minutes: HashMap<u64, i64>,
    fail_with: Option<CalendarError>,
    /// The next booking finds its slot taken by someone else.
    take_next: bool,
    requests: Vec<String>,
}

#[derive(Clone)]
struct HeldBooking {
    event_type: u64,
    booking: Booking,
    metadata: Vec<(&'static str, String)>,
    cancelled: bool,
}

/// A booking the calendar holds (tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBooking {
    pub uid: String,
    pub event_type: u64,
    pub start: Timestamp,
    pub metadata: Vec<(&'static str, String)>,
}

impl MemoryCalendar {
    /// Offers `starts` of an event type whose appointments last `minutes`.
    pub fn offer(
        &self,
        event_type: u64,
        minutes: i64,
        starts: impl IntoIterator<Item = Timestamp>,
    ) {
        let mut state = self.state.lock().unwrap();
        state.free.entry(event_type).or_default().extend(starts);
        state.minutes.insert(event_type, minutes);
    }

    /// Every request fails this way until `heal`.
    pub fn fail_with(&self, error: CalendarError) {
        self.state.lock().unwrap().fail_with = Some(error);
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().fail_with = None;
    }

    pub fn take_next_slot(&self) {
        self.state.lock().unwrap().take_next = true;
    }

    /// Bookings not cancelled.
    pub fn live_bookings(&self) -> Vec<LiveBooking> {
        let state = self.state.lock().unwrap();
        state
            .bookings
            .values()
            .filter(|held| !held.cancelled)
            .map(|held| LiveBooking {
                uid: held.booking.uid.clone(),
                event_type: held.event_type,
                start: held.booking.start,
                metadata: held.metadata.clone(),
            })
            .collect()
    }

    /// The requests made, as `"<operation> <detail>"`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    fn start(
        &self,
        request: String,
    ) -> Result<std::sync::MutexGuard<'_, CalendarState>, CalendarError> {
        let mut state = self.state.lock().unwrap();
        state.requests.push(request);
        match &state.fail_with {
            Some(e) => Err(e.clone()),
            None => Ok(state),
        }
    }
}

impl CalendarState {
    fn take(&mut self, event_type: u64, start: Timestamp) -> Result<Booking, CalendarError> {
        let taken = std::mem::take(&mut self.take_next);
        let free = self.free.entry(event_type).or_default();
        if !free.remove(&start) || taken {
            return Err(CalendarError::SlotTaken(
                "User either already has booking at this time or is not available".into(),
            ));
        }
        let minutes = self.minutes.get(&event_type).copied().unwrap_or(30);
        let uid = format!("bk_{}", self.bookings.len() + 1);
        Ok(Booking {
            uid,
            start,
            end: start + jiff::SignedDuration::from_mins(minutes),
        })
    }
}

#[async_trait]
impl Calendar for MemoryCalendar {
    async fn free_slots(
        &self,
        _: &CalendarAccount,
        query: &SlotQuery,
    ) -> Result<Vec<Timestamp>, CalendarError> {
        let state = self.start(format!(
            "slots {} {}..{}",
            query.event_type_id, query.from, query.to
        ))?;
        Ok(state
            .free
            .get(&query.event_type_id)
            .map(|free| free.range(query.from..query.to).copied().collect())
            .unwrap_or_default())
    }

    async fn book(
        &self,
        _: &CalendarAccount,
        booking: &NewBooking,
    ) -> Result<Booking, CalendarError> {
        let mut state = self.start(format!("book {} {}", booking.event_type_id, booking.start))?;
        let booked = state.take(booking.event_type_id, booking.start)?;
        let held = HeldBooking {
            event_type: booking.event_type_id,
            booking: booked.clone(),
            metadata: booking.metadata.to_pairs().to_vec(),
            cancelled: false,
        };
        state.bookings.insert(booked.uid.clone(), held);
        Ok(booked)
    }

    async fn reschedule(
        &self,
        _: &CalendarAccount,
        uid: &str,
        start: Timestamp,
        _: &str,
    ) -> Result<Booking, CalendarError> {
        let mut state = self.start(format!("reschedule {uid} {start}"))?;
        let Some(old) = state.bookings.get(uid).filter(|b| !b.cancelled).cloned() else {
            return Err(CalendarError::NotFound);
        };
        let booked = state.take(old.event_type, start)?;
        state
            .free
            .entry(old.event_type)
            .or_default()
            .insert(old.booking.start);
        let new = HeldBooking {
            booking: booked.clone(),
            ..old.clone()
        };
        state.bookings.insert(booked.uid.clone(), new);
        state.bookings.insert(
            uid.to_owned(),
            HeldBooking {
                cancelled: true,
                ..old
            },
        );
        Ok(booked)
    }

    async fn cancel(&self, _: &CalendarAccount, uid: &str, _: &str) -> Result<(), CalendarError> {
        let mut state = self.start(format!("cancel {uid}"))?;
        let Some(held) = state.bookings.get_mut(uid).filter(|b| !b.cancelled) else {
            return Err(CalendarError::NotFound);
        };
        held.cancelled = true;
        let (event_type, start) = (held.event_type, held.booking.start);
        state.free.entry(event_type).or_default().insert(start);
        Ok(())
    }
}

/// The one write, all or nothing: every condition is checked before anything
/// changes, in the order the DynamoDB store ranks its cancellation reasons.
#[async_trait]
impl Commit for MemoryStore {
    async fn commit(&self, changes: &[Change]) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let mut calls = self.calls.lock().unwrap();
        let mut state = self.in_call.lock().unwrap();
        let refusals = changes
            .iter()
            .filter_map(|change| refusal(&inner, &calls, &state, change));
        if let Some(refused) = refusals.min_by_key(Refused::rank) {
            return Err(Error::Refused(refused));
        }
        for change in changes {
            apply(&mut inner, &mut calls, &mut state, change);
        }
        Ok(())
    }

    async fn clear_outbox(&self, outbox: &Outbox) -> Result<()> {
        let mut calls = self.calls.lock().unwrap();
        calls
            .outboxes
            .remove(&(outbox.tenant.clone(), outbox.id.clone()));
        Ok(())
    }
}

/// The version stored for an entity (`None`: not there).
fn stored_version(
    inner: &Inner,
    calls: &Calls,
    state: &InCallState,
    entity: &Entity,
) -> Option<u64> {
    match entity {
        Entity::Lead(l) => inner
            .leads
            .get(&(l.tenant.clone(), l.id.clone()))
            .map(|l| l.version),
        Entity::Attempt(a) => calls
            .attempts
            .get(&(a.tenant.clone(), a.id.clone()))
            .map(|a| a.version),
        Entity::Appointment(a) => state
            .appointments
            .get(&(a.tenant.clone(), a.id.clone()))
            .map(|a| a.version),
        Entity::Usage(u) => calls
            .usage
            .contains_key(&(u.tenant.clone(), u.attempt.clone()))
            .then_some(0),
        Entity::Tool(r) => state
            .records
            .contains_key(&(r.tenant.clone(), r.key.clone()))
            .then_some(0),
        Entity::Message(m) => calls
            .messaging
            .messages
            .get(&(m.tenant.clone(), m.lead.clone(), m.id.clone()))
            .map(|m| m.version),
        Entity::ProviderRef(r) => calls
            .messaging
            .provider_refs
            .contains_key(&(r.tenant.clone(), r.provider_id.clone()))
            .then_some(0),
    }
}

fn refusal(inner: &Inner, calls: &Calls, state: &InCallState, change: &Change) -> Option<Refused> {
    match change {
        Change::Create(entity) => {
            stored_version(inner, calls, state, entity).map(|_| entity.refused_when_exists())
        }
        Change::Save(entity) | Change::Delete(entity) => {
            (stored_version(inner, calls, state, entity) != Some(entity.version()))
                .then_some(Refused::Stale)
        }
        Change::MoveCampaign { campaign, expected } => {
            let stored = inner
                .campaigns
                .get(&(campaign.tenant.clone(), campaign.id.clone()));
            stored
                .is_none_or(|c| c.status != *expected)
                .then_some(Refused::Stale)
        }
        Change::Dedupe { tenant, key } => calls
            .dedupe_keys
            .contains(&(tenant.clone(), key.clone()))
            .then_some(Refused::Duplicate),
        Change::TakeSlots(claim) => {
            for (scope, limit) in &claim.scopes {
                let holders = calls.slots.get(scope);
                let held = holders.is_some_and(|h| h.contains(&claim.holder));
                if !held && holders.map_or(0, BTreeSet::len) >= *limit as usize {
                    return Some(Refused::Precondition(Precondition::NoSlot(scope.clone())));
                }
            }
            let starts = calls
                .call_starts
                .get(&(claim.pace.provider, claim.pace.second))
                .copied()
                .unwrap_or(0);
            (starts >= claim.pace.limit).then_some(Refused::Precondition(Precondition::Paced))
        }
        Change::Wait { waiter, limit } => {
            let held = calls.slots.get(&waiter.scope).map_or(0, BTreeSet::len);
            (held < *limit as usize).then_some(Refused::Stale)
        }
        Change::Claim(waiter) => {
            let waiting = calls.waiters.get(&waiter.scope);
            let there = waiting.is_some_and(|w| w.contains_key(&waiter_key(waiter)));
            (!there).then_some(Refused::Stale)
        }
        Change::Unsuppress(entry) => (calls
            .suppressions
            .get(&(entry.tenant.clone(), entry.address.expose().to_owned()))
            != Some(entry))
        .then_some(Refused::Stale),
        Change::NotSuppressed { tenant, address } => calls
            .suppressions
            .contains_key(&(tenant.clone(), address.expose().to_owned()))
            .then_some(Refused::Stale),
        Change::Pace(mark) => (calls
            .messaging
            .paces
            .get(&(mark.tenant.clone(), mark.key.clone()))
            .copied()
            != mark.read)
            .then_some(Refused::Stale),
        Change::Suppress(_)
        | Change::ReleaseSlots { .. }
        | Change::Outbox(_)
        | Change::StopWaiting(_) => None,
    }
}

fn apply(inner: &mut Inner, calls: &mut Calls, state: &mut InCallState, change: &Change) {
    match change {
        Change::Create(entity) | Change::Save(entity) => put(inner, calls, state, entity),
        Change::Delete(Entity::Lead(l)) => {
            inner.leads.remove(&(l.tenant.clone(), l.id.clone()));
        }
        Change::Delete(Entity::Attempt(a)) => {
            calls.attempts.remove(&(a.tenant.clone(), a.id.clone()));
        }
        Change::Delete(Entity::Appointment(a)) => {
            state.appointments.remove(&(a.tenant.clone(), a.id.clone()));
        }
        Change::Delete(Entity::Usage(u)) => {
            calls.usage.remove(&(u.tenant.clone(), u.attempt.clone()));
        }
        Change::Delete(Entity::Tool(r)) => {
            state.records.remove(&(r.tenant.clone(), r.key.clone()));
        }
        Change::Delete(Entity::Message(m)) => {
            calls
                .messaging
                .messages
                .remove(&(m.tenant.clone(), m.lead.clone(), m.id.clone()));
        }
        Change::Delete(Entity::ProviderRef(r)) => {
            calls
                .messaging
                .provider_refs
                .remove(&(r.tenant.clone(), r.provider_id.clone()));
        }
        Change::Unsuppress(entry) => {
            calls
                .suppressions
                .remove(&(entry.tenant.clone(), entry.address.expose().to_owned()));
        }
        Change::NotSuppressed { .. } => {}
        Change::Pace(mark) => {
            calls
                .messaging
                .paces
                .insert((mark.tenant.clone(), mark.key.clone()), mark.next);
        }
        Change::MoveCampaign { campaign, .. } => {
            if let Some(stored) = inner
                .campaigns
                .get_mut(&(campaign.tenant.clone(), campaign.id.clone()))
            {
                stored.status = campaign.status;
                stored.start_at = campaign.start_at;
            }
        }
        Change::Dedupe { tenant, key } => {
            calls.dedupe_keys.insert((tenant.clone(), key.clone()));
        }
        Change::Suppress(entry) => {
            let stored = calls
                .suppressions
                .entry((entry.tenant.clone(), entry.address.expose().to_owned()))
                .or_insert_with(|| entry.clone());
            if stored.source.liftable() && !entry.source.liftable() {
                *stored = entry.clone();
            }
        }
        Change::TakeSlots(claim) => {
            for (scope, _) in &claim.scopes {
                calls
                    .slots
                    .entry(scope.clone())
                    .or_default()
                    .insert(claim.holder.clone());
            }
            *calls
                .call_starts
                .entry((claim.pace.provider, claim.pace.second))
                .or_default() += 1;
        }
        Change::ReleaseSlots { holder, scopes } => {
            for scope in scopes {
                if let Some(holders) = calls.slots.get_mut(scope) {
                    holders.remove(holder);
                }
            }
        }
        Change::Outbox(outbox) => {
            calls
                .outboxes
                .insert((outbox.tenant.clone(), outbox.id.clone()), outbox.clone());
        }
        Change::Wait { waiter, .. } => {
            calls
                .waiters
                .entry(waiter.scope.clone())
                .or_default()
                .insert(waiter_key(waiter), waiter.clone());
        }
        Change::StopWaiting(waiter) | Change::Claim(waiter) => {
            if let Some(waiting) = calls.waiters.get_mut(&waiter.scope) {
                waiting.remove(&waiter_key(waiter));
            }
        }
    }
}

/// Stores an entity one version on from the one it was read at.
fn put(inner: &mut Inner, calls: &mut Calls, state: &mut InCallState, entity: &Entity) {
    match entity {
        Entity::Lead(l) => {
            let stored = Lead {
                version: l.version + 1,
                ..l.clone()
            };
            inner.leads.insert((l.tenant.clone(), l.id.clone()), stored);
        }
        Entity::Attempt(a) => {
            let stored = CallAttempt {
                version: a.version + 1,
                ..a.clone()
            };
            calls
                .attempts
                .insert((a.tenant.clone(), a.id.clone()), stored);
        }
        Entity::Appointment(a) => {
            let mut stored = a.clone();
            stored.version += 1;
            state
                .appointments
                .insert((a.tenant.clone(), a.id.clone()), stored);
        }
        Entity::Usage(u) => {
            calls
                .usage
                .insert((u.tenant.clone(), u.attempt.clone()), u.clone());
        }
        Entity::Tool(r) => {
            state
                .records
                .insert((r.tenant.clone(), r.key.clone()), r.clone());
        }
        Entity::Message(m) => {
            let mut stored = m.clone();
            stored.version += 1;
            calls
                .messaging
                .messages
                .insert((m.tenant.clone(), m.lead.clone(), m.id.clone()), stored);
        }
        Entity::ProviderRef(r) => {
            calls
                .messaging
                .provider_refs
                .insert((r.tenant.clone(), r.provider_id.clone()), r.clone());
        }
    }
}

impl MemoryStore {
    /// Saves a lead as a use case would (tests set their scene with it).
    pub async fn save_lead(&self, lead: &Lead) -> Result<()> {
        self.commit(&[Change::Save(Entity::Lead(lead.clone()))])
            .await
    }

    /// Outboxes not yet cleared (tests: effects a runner did not carry out).
    pub fn outboxes(&self) -> Vec<Outbox> {
        self.calls
            .lock()
            .unwrap()
            .outboxes
            .values()
            .cloned()
            .collect()
    }
}

/// A clock that always answers the same instant (tests, replays).
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub Timestamp);

impl crate::Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// A store that counts the messenger's reads and writes (budget tests).
pub struct Counting<'a> {
    store: &'a MemoryStore,
    reads: std::sync::atomic::AtomicUsize,
    commits: std::sync::atomic::AtomicUsize,
}

impl<'a> Counting<'a> {
    pub fn new(store: &'a MemoryStore) -> Self {
        Self {
            store,
            reads: Default::default(),
            commits: Default::default(),
        }
    }

    /// Reads of any kind.
    pub fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Writes (each one commit: one transaction in DynamoDB).
    pub fn commits(&self) -> usize {
        self.commits.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn read(&self) {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait]
impl Commit for Counting<'_> {
    async fn commit(&self, changes: &[Change]) -> Result<()> {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.commit(changes).await
    }

    async fn clear_outbox(&self, outbox: &Outbox) -> Result<()> {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.clear_outbox(outbox).await
    }
}

#[async_trait]
impl crate::ports::MessageStore for Counting<'_> {
    async fn send_context(&self, job: &MessageJob) -> Result<crate::ports::SendContext> {
        self.read();
        self.store.send_context(job).await
    }
    async fn inbound_context(
        &self,
        tenant: &TenantId,
        from: &Phone,
    ) -> Result<crate::ports::InboundContext> {
        self.read();
        self.store.inbound_context(tenant, from).await
    }
    async fn message(&self, t: &TenantId, l: &LeadId, id: &MessageId) -> Result<Option<Message>> {
        self.read();
        self.store.message(t, l, id).await
    }
    async fn message_by_provider_id(&self, t: &TenantId, id: &str) -> Result<Option<Message>> {
        self.read();
        self.store.message_by_provider_id(t, id).await
    }
    async fn messages_of(&self, t: &TenantId, l: &LeadId) -> Result<Vec<Message>> {
        self.read();
        self.store.messages_of(t, l).await
    }
    async fn messages_with_status(
        &self,
        t: &TenantId,
        s: MessageStatus,
        p: &PageRequest,
    ) -> Result<Page<Message>> {
        self.read();
        self.store.messages_with_status(t, s, p).await
    }
    async fn messaging_settings(&self, t: &TenantId) -> Result<Option<MessagingSettings>> {
        self.read();
        self.store.messaging_settings(t).await
    }
    async fn save_messaging_settings(
        &self,
        s: &MessagingSettings,
        p: Option<&MessagingSettings>,
    ) -> Result<()> {
        self.store.save_messaging_settings(s, p).await
    }
    async fn tenant_of_sender(&self, a: &InboundAddress) -> Result<Option<TenantId>> {
        self.read();
        self.store.tenant_of_sender(a).await
    }
}
