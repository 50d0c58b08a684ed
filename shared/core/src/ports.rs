//! Ports: what the use cases need from the outside world, as small traits.
//! Adapters (DynamoDB, SQS, Scheduler, providers) implement them; tests use
//! [`crate::memory::MemoryStore`]. Every change of state goes through the one
//! write, [`crate::write::Commit`].

use std::collections::HashSet;

use async_trait::async_trait;

use jiff::Timestamp;

use crate::appointments::appointment::Appointment;
use crate::appointments::business::Business;
use crate::billing::UsageRecord;
use crate::calling::attempt::CallAttempt;
use crate::calling::call::CallRef;
use crate::calling::lead::{Lead, LeadStatus};
use crate::calling::suppression::Suppression;
use crate::calling::waiting::Waiter;
use crate::calling::work::{DialJob, DialMessage, FollowUp, SlotScope};
use crate::in_call::ToolRecord;
use crate::intake::campaign::Campaign;
use crate::intake::tenant::Tenant;
use crate::kernel::error::Result;
use crate::kernel::ids::{AttemptId, CampaignId, LeadId, MessageId, TenantId};
use crate::kernel::phone::Phone;
use crate::messaging::message::{Message, MessageJob, MessageStatus, MessengerWork};
use crate::messaging::provider::InboundAddress;
use crate::messaging::settings::MessagingSettings;
use crate::write::Outbox;

/// A page of a listing. The cursor is opaque to callers and bound to the
/// listing it came from: a cursor of another tenant or campaign is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 100;
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant with its first API key (stored as a hash). The slug is
    /// the tenant's id: a taken slug is a `Conflict`, and nothing is written.
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<()>;

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;

    /// The tenant whose live API key hashes to `key_hash`, read in one round trip.
    async fn tenant_by_key(&self, id: &TenantId, key_hash: &str) -> Result<Option<Tenant>>;
}

#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Creates a campaign; an existing id is a `Conflict`.
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()>;

    async fn campaign(&self, tenant: &TenantId, id: &CampaignId) -> Result<Option<Campaign>>;

    /// The tenant's campaigns, newest first.
    async fn campaigns(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Campaign>>;

    async fn add_leads_to_count(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
        added: u64,
    ) -> Result<()>;
}

#[async_trait]
pub trait LeadStore: Send + Sync {
    /// Which of `ids` already exist for the tenant.
    async fn existing_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<HashSet<LeadId>>;

    /// Creates leads that do not exist yet, in as few requests as the store
    /// allows, and answers the ids of those that already existed. A lead is
    /// created only if its id is not taken at the moment of writing: one that
    /// is already there (written by a concurrent import of the same file, say,
    /// and perhaps called since) is left exactly as it is, never overwritten.
    /// An error may leave some of the leads created and others not; sending
    /// them again creates only the rest.
    async fn insert_leads(&self, leads: &[Lead]) -> Result<HashSet<LeadId>>;

    async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>>;

    /// A campaign's leads, optionally of one status.
    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: Option<LeadStatus>,
        page: &PageRequest,
    ) -> Result<Page<Lead>>;
}

/// Work the sweep should look at: a lead whose owed call is overdue, a call
/// attempt in flight for longer than a call can last, or the effects of a
/// change its runner did not get to carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum DueWork {
    Lead(Lead),
    Attempt(CallAttempt),
    Outbox(Outbox),
}

#[async_trait]
pub trait SweepStore: Send + Sync {
    /// Every lead and attempt whose `sweep_at` is at or before `at`, oldest
    /// first, read from an index of only such items (never a table scan).
    async fn due_work(&self, at: Timestamp, page: &PageRequest) -> Result<Page<DueWork>>;
}

/// EventBridge Scheduler one-offs in leadline's group that place owed calls.
#[async_trait]
pub trait FollowUpScheduler: Send + Sync {
    /// Creates the schedule named after the follow-up (a schedule of that
    /// name already there is moved to this one's time; the same schedule is success).
    async fn schedule(&self, follow_up: &FollowUp) -> Result<()>;

    /// Deletes the follow-up's schedule; one already gone is success.
    async fn cancel(&self, follow_up: &FollowUp) -> Result<()>;
}

/// The messenger's queue.
#[async_trait]
pub trait MessageQueue: Send + Sync {
    async fn enqueue(&self, jobs: &[MessageJob]) -> Result<()> {
        let work: Vec<MessengerWork> = jobs.iter().cloned().map(MessengerWork::Send).collect();
        self.put(&work).await
    }

    /// Any work for the messenger (messages, inbound messages, cancellations).
    async fn put(&self, work: &[MessengerWork]) -> Result<()>;
}

/// Everything the messenger needs to send one message, read in one round trip.
#[derive(Clone, Debug, Default)]
pub struct SendContext {
    /// The message, if some delivery of its job recorded it already.
    pub message: Option<Message>,
    pub lead: Option<Lead>,
    pub tenant: Option<Tenant>,
    pub settings: Option<MessagingSettings>,
    /// The do-not-call entries of the address and of the lead's number.
    pub suppressions: Vec<Suppression>,
    /// The appointment the message is about, as it stands.
    pub appointment: Option<Appointment>,
    /// When the channel's sender may send next.
    pub pace: Option<Timestamp>,
}

/// Everything an inbound message needs: its tenant's settings, the leads
/// with the sender's number and the one it talks to.
#[derive(Clone, Debug, Default)]
pub struct InboundContext {
    pub tenant: Option<Tenant>,
    pub settings: Option<MessagingSettings>,
    /// The tenant's leads with this number, one per campaign.
    pub leads: Vec<Lead>,
    /// The number's do-not-call entry.
    pub suppression: Option<Suppression>,
    /// The messages to and from the lead the message answers (the one
    /// messaged last), oldest first.
    pub messages: Vec<Message>,
    /// That lead's appointments.
    pub appointments: Vec<Appointment>,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Message, lead, tenant, settings, do-not-call entries, appointment and
    /// the sender's pace, in one read.
    async fn send_context(&self, job: &MessageJob) -> Result<SendContext>;

    async fn inbound_context(&self, tenant: &TenantId, from: &Phone) -> Result<InboundContext>;

    async fn message(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        id: &MessageId,
    ) -> Result<Option<Message>>;

    /// The message a provider's id names (WhatsApp's reports).
    async fn message_by_provider_id(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<Message>>;

    /// Every message to and from a lead, oldest first.
    async fn messages_of(&self, tenant: &TenantId, lead: &LeadId) -> Result<Vec<Message>>;

    /// A tenant's messages in one status (`unknown` ones for the operator).
    async fn messages_with_status(
        &self,
        tenant: &TenantId,
        status: MessageStatus,
        page: &PageRequest,
    ) -> Result<Page<Message>>;

    async fn messaging_settings(&self, tenant: &TenantId) -> Result<Option<MessagingSettings>>;

    /// Saves the settings on the version read (`Conflict` otherwise) and
    /// claims their inbound senders (a sender another tenant holds is a `Conflict`).
    async fn save_messaging_settings(
        &self,
        settings: &MessagingSettings,
        previous: Option<&MessagingSettings>,
    ) -> Result<()>;

    /// The tenant whose sender received an inbound message.
    async fn tenant_of_sender(&self, address: &InboundAddress) -> Result<Option<TenantId>>;
}

/// Everything a dial job needs, read in one round trip.
#[derive(Clone, Debug, Default)]
pub struct DialContext {
    pub tenant: Option<Tenant>,
    pub campaign: Option<Campaign>,
    pub lead: Option<Lead>,
    /// The number is on the tenant's do-not-call list.
    pub suppressed: bool,
    /// The job's attempt, if some delivery of the job recorded it already.
    pub attempt: Option<CallAttempt>,
}

/// Everything a call event needs, read in one round trip.
#[derive(Clone, Debug, Default)]
pub struct CallContext {
    pub tenant: Option<Tenant>,
    pub lead: Option<Lead>,
    pub attempt: Option<CallAttempt>,
    /// The tenant's messaging settings: its rules for messages after a call.
    pub messaging: Option<MessagingSettings>,
}

#[async_trait]
pub trait CallStore: Send + Sync {
    /// The job's tenant, campaign, lead, attempt and whether its number is suppressed.
    async fn dial_context(&self, job: &DialJob) -> Result<DialContext>;

    async fn call_context(&self, call: &CallRef) -> Result<CallContext>;

    /// Who holds a slot in `scope` now (tests, operations and the stuck-call sweep).
    async fn slot_holders(&self, scope: &SlotScope) -> Result<Vec<AttemptId>>;

    /// The `limit` jobs that have waited longest for a slot in `scope`,
    /// oldest first, as written last (a strongly consistent read).
    async fn waiters(&self, scope: &SlotScope, limit: u32) -> Result<Vec<Waiter>>;
}

#[async_trait]
pub trait SuppressionStore: Send + Sync {
    async fn suppressions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Suppression>>;
}

/// The dial queue: jobs and campaign sweeps, each delivered no earlier than its time.
#[async_trait]
pub trait DialQueue: Send + Sync {
    async fn enqueue(&self, messages: &[(DialMessage, Timestamp)], now: Timestamp) -> Result<()>;
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    /// The tenant's usage records (one per ended call), oldest attempt id first.
    async fn usage(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<UsageRecord>>;
}

/// Businesses (one per tenant, services included) and the inbound numbers
/// that lead to them.
#[async_trait]
pub trait BusinessStore: Send + Sync {
    async fn business(&self, tenant: &TenantId) -> Result<Option<Business>>;

    /// Saves the business if nobody saved it since it was read
    /// (`business.version`, 0 = new; a lost race is a `Conflict`), and claims
    /// its inbound numbers (one another tenant holds is a `Conflict`; numbers
    /// it no longer lists are released).
    async fn save_business(&self, business: &Business, previous: Option<&Business>) -> Result<()>;

    /// The tenant an inbound number belongs to.
    async fn tenant_of_number(&self, number: &Phone) -> Result<Option<TenantId>>;
}

#[async_trait]
pub trait InCallStore: Send + Sync {
    async fn tool_record(&self, tenant: &TenantId, key: &str) -> Result<Option<ToolRecord>>;

    /// The appointments of a lead (or of an inbound caller's derived owner id).
    async fn appointments_of(&self, tenant: &TenantId, owner: &LeadId) -> Result<Vec<Appointment>>;
}
