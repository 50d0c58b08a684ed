//! Ports: what the use cases need from the outside world, as small traits.
//! Adapters (DynamoDB, SQS, Scheduler, providers) implement them; tests use
//! [`crate::memory::MemoryStore`].

use std::collections::HashSet;

use async_trait::async_trait;

use crate::campaign::Campaign;
use crate::error::Result;
use crate::ids::{CampaignId, LeadId, TenantId};
use crate::lead::{Lead, LeadStatus};
use crate::tenant::Tenant;

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

    /// Writes new leads in as few requests as the store allows. Leads are
    /// addressed by deterministic ids, so writing one twice stores it once.
    async fn insert_leads(&self, leads: &[Lead]) -> Result<()>;

    async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>>;

    /// A campaign's leads, optionally of one status.
    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: Option<LeadStatus>,
        page: &PageRequest,
    ) -> Result<Page<Lead>>;

    /// Saves a changed lead if nobody else saved it since it was read
    /// (`lead.version` is the version read); a lost race is a `Conflict`.
    async fn save_lead(&self, lead: &Lead) -> Result<()>;
}
