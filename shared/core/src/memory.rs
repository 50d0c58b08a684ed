//! An in-memory store with the same rules as the DynamoDB one (conditional
//! creates, versioned saves, tenant-scoped reads), for fast use-case tests.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::campaign::Campaign;
use crate::error::{Error, Result};
use crate::ids::{CampaignId, LeadId, TenantId};
use crate::lead::{Lead, LeadStatus};
use crate::ports::{CampaignStore, LeadStore, Page, PageRequest, TenantStore};
use crate::tenant::Tenant;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    tenants: HashMap<TenantId, Tenant>,
    keys: HashSet<(TenantId, String)>,
    campaigns: BTreeMap<(TenantId, CampaignId), Campaign>,
    leads: BTreeMap<(TenantId, LeadId), Lead>,
    /// How many write requests insert_leads made, as a batching store would (25 a request).
    pub lead_write_requests: u64,
}

impl MemoryStore {
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

    async fn insert_leads(&self, leads: &[Lead]) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        inner.lead_write_requests += leads.len().div_ceil(25) as u64;
        for lead in leads {
            inner
                .leads
                .insert((lead.tenant.clone(), lead.id.clone()), lead.clone());
        }
        Ok(())
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
        let matching: Vec<Lead> = inner
            .leads
            .values()
            .filter(|l| {
                &l.tenant == tenant
                    && &l.campaign == campaign
                    && status.is_none_or(|s| l.status == s)
            })
            .cloned()
            .collect();
        page(matching, request)
    }

    async fn save_lead(&self, lead: &Lead) -> Result<()> {
        let mut inner = self.inner.lock().unwrap();
        let stored = inner
            .leads
            .get_mut(&(lead.tenant.clone(), lead.id.clone()))
            .ok_or(Error::NotFound("lead"))?;
        if stored.version != lead.version {
            return Err(Error::Conflict("the lead changed since it was read".into()));
        }
        *stored = Lead {
            version: lead.version + 1,
            ..lead.clone()
        };
        Ok(())
    }
}
