//! Intake: tenants, API keys, campaigns, CSV imports.

pub mod campaign;
pub mod import;
pub mod tenant;

use jiff::Timestamp;

use crate::intake::campaign::{Campaign, NewCampaign};
use crate::intake::import::{ImportReport, RowProblem, check_size, parse_csv};
use crate::intake::tenant::{ApiKey, NewTenant, Tenant};
use crate::kernel::error::{Error, Result};
use crate::kernel::ids::{CampaignId, LeadId};
use crate::ports::{CampaignStore, LeadStore, TenantStore};

/// Creates a tenant and its first API key. The key is returned once; only its
/// hash is stored.
pub async fn create_tenant(
    store: &impl TenantStore,
    new: NewTenant,
    key_bytes: [u8; 20],
    now: Timestamp,
) -> Result<(Tenant, ApiKey)> {
    let tenant = new.into_tenant(now)?;
    let key = ApiKey::generate(tenant.id.clone(), key_bytes);
    store.create_tenant(&tenant, &key.hash()).await?;
    Ok((tenant, key))
}

/// The tenant a presented API key belongs to, or `None` for any key that is
/// malformed, unknown or revoked.
pub async fn authenticate(store: &impl TenantStore, presented: &str) -> Result<Option<Tenant>> {
    match ApiKey::parse(presented) {
        None => Ok(None),
        Some(key) => store.tenant_by_key(key.tenant(), &key.hash()).await,
    }
}

pub async fn create_campaign(
    store: &impl CampaignStore,
    tenant: &Tenant,
    new: NewCampaign,
    id_bytes: [u8; 9],
    now: Timestamp,
) -> Result<Campaign> {
    let campaign = new.into_campaign(CampaignId::new(now, id_bytes), tenant.id.clone(), now)?;
    store.create_campaign(&campaign).await?;
    Ok(campaign)
}

/// Imports a CSV file into a campaign. Nothing is written unless the whole
/// file can be read; rows already in the campaign are reported as duplicates,
/// so sending the same file twice imports nothing the second time. Leads are
/// only ever created, never overwritten: when two imports of one file race,
/// each lead is imported (and counted on the campaign) by one of them, and is
/// a duplicate for the other.
pub async fn import_leads<S: CampaignStore + LeadStore>(
    store: &S,
    tenant: &Tenant,
    campaign_id: &CampaignId,
    csv: &[u8],
    now: Timestamp,
) -> Result<ImportReport> {
    check_size(csv)?;
    let campaign = store
        .campaign(&tenant.id, campaign_id)
        .await?
        .ok_or(Error::NotFound("campaign"))?;
    let mut file = parse_csv(csv, tenant.default_region)?;

    let ids: Vec<LeadId> = file
        .rows
        .iter()
        .map(|r| LeadId::derive(&tenant.id, &campaign.id, &r.phone))
        .collect();
    // A first filter, so that the same file sent again writes nothing.
    let existing = store.existing_leads(&tenant.id, &ids).await?;
    let already = |line| RowProblem {
        line,
        reason: "already in the campaign".into(),
    };
    let mut already_in_campaign = Vec::new();
    let new_count = file.rows.len() - existing.len().min(file.rows.len());
    let (mut new_leads, mut new_lines) =
        (Vec::with_capacity(new_count), Vec::with_capacity(new_count));
    for (row, id) in std::mem::take(&mut file.rows).into_iter().zip(ids) {
        if existing.contains(&id) {
            already_in_campaign.push(already(row.line));
        } else {
            new_lines.push(row.line);
            new_leads.push(row.into_lead(&tenant.id, &campaign.id, now));
        }
    }

    // The create itself is conditional: a lead that another import created
    // after the read above is left as it is, and is a duplicate here.
    let taken = store.insert_leads(&new_leads).await?;
    let mut imported = 0;
    for (lead, line) in new_leads.iter().zip(new_lines) {
        if taken.contains(&lead.id) {
            already_in_campaign.push(already(line));
        } else {
            imported += 1;
        }
    }
    if imported > 0 {
        store
            .add_leads_to_count(&tenant.id, &campaign.id, imported)
            .await?;
    }
    Ok(ImportReport::new(file, imported, already_in_campaign))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calling::lead::LeadStatus;
    use crate::memory::MemoryStore;
    use crate::ports::PageRequest;

    const NOW: Timestamp = Timestamp::UNIX_EPOCH;

    async fn tenant(store: &MemoryStore, slug: &str) -> (Tenant, ApiKey) {
        let new: NewTenant = serde_json::from_value(serde_json::json!({
            "name": "Acme", "slug": slug, "timezone": "America/New_York", "default_region": "US"
        }))
        .unwrap();
        create_tenant(store, new, [slug.len() as u8; 20], NOW)
            .await
            .unwrap()
    }

    async fn campaign(store: &MemoryStore, t: &Tenant) -> Campaign {
        let new: NewCampaign = serde_json::from_str(r#"{"name":"Spring"}"#).unwrap();
        create_campaign(store, t, new, [3; 9], NOW).await.unwrap()
    }

    #[tokio::test]
    async fn a_slug_can_be_taken_only_once() {
        let store = MemoryStore::default();
        tenant(&store, "acme").await;
        let again: NewTenant = serde_json::from_value(serde_json::json!({
            "name": "Other", "slug": "acme", "timezone": "UTC", "default_region": "GB"
        }))
        .unwrap();
        assert!(matches!(
            create_tenant(&store, again, [9; 20], NOW).await,
            Err(Error::Conflict(_))
        ));
    }

    #[tokio::test]
    async fn only_the_issued_key_authenticates_its_tenant() {
        let store = MemoryStore::default();
        let (t, key) = tenant(&store, "acme").await;
        assert_eq!(
            authenticate(&store, &key.reveal())
                .await
                .unwrap()
                .map(|t| t.id),
            Some(t.id.clone())
        );
        let forged = ApiKey::generate(t.id.clone(), [0; 20]).reveal();
        assert!(authenticate(&store, &forged).await.unwrap().is_none());
        assert!(
            authenticate(&store, "Bearer nonsense")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn importing_the_same_file_twice_imports_nothing_new() {
        let store = MemoryStore::default();
        let (t, _) = tenant(&store, "acme").await;
        let c = campaign(&store, &t).await;
        let csv = b"number,name\n4155552671,Ada\n4155552672,Bob\n4155552671,Ada again\n12,Bad\n";
        let first = import_leads(&store, &t, &c.id, csv, NOW).await.unwrap();
        assert_eq!(
            (first.imported, first.duplicates, first.rejected),
            (2, 1, 1)
        );
        let second = import_leads(&store, &t, &c.id, csv, NOW).await.unwrap();
        assert_eq!(
            (second.imported, second.duplicates, second.rejected),
            (0, 3, 1)
        );
        let stored = store.campaign(&t.id, &c.id).await.unwrap().unwrap();
        assert_eq!(stored.lead_count, 2);
        let leads = store
            .leads(&t.id, &c.id, Some(LeadStatus::New), &PageRequest::default())
            .await
            .unwrap();
        assert_eq!(leads.items.len(), 2);
    }

    #[tokio::test]
    async fn a_malformed_file_writes_nothing() {
        let store = MemoryStore::default();
        let (t, _) = tenant(&store, "acme").await;
        let c = campaign(&store, &t).await;
        let csv = b"number,name\n4155552671,Ada\n4155552672,\"Bob\n";
        assert!(matches!(
            import_leads(&store, &t, &c.id, csv, NOW).await,
            Err(Error::Malformed(_))
        ));
        let leads = store
            .leads(&t.id, &c.id, None, &PageRequest::default())
            .await
            .unwrap();
        assert!(leads.items.is_empty());
        assert_eq!(store.lead_write_requests(), 0);
    }

    #[tokio::test]
    async fn another_tenants_campaign_is_not_found() {
        let store = MemoryStore::default();
        let (a, _) = tenant(&store, "acme").await;
        let (b, _) = tenant(&store, "bolt").await;
        let c = campaign(&store, &a).await;
        let result = import_leads(&store, &b, &c.id, b"number\n4155552671\n", NOW).await;
        assert!(matches!(result, Err(Error::NotFound("campaign"))));
    }

    /// A store on which, right after one import's existence read, another
    /// import of the same file runs to its end and one of its leads is queued
    /// for a call: the race of two imports sent at once.
    struct RacedByAnotherImport<'a> {
        inner: &'a MemoryStore,
        tenant: Tenant,
        campaign: CampaignId,
        csv: &'a [u8],
        raced: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl CampaignStore for RacedByAnotherImport<'_> {
        async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
            self.inner.create_campaign(campaign).await
        }
        async fn campaign(
            &self,
            tenant: &crate::TenantId,
            id: &CampaignId,
        ) -> Result<Option<Campaign>> {
            self.inner.campaign(tenant, id).await
        }
        async fn campaigns(
            &self,
            tenant: &crate::TenantId,
            page: &PageRequest,
        ) -> Result<crate::ports::Page<Campaign>> {
            self.inner.campaigns(tenant, page).await
        }
        async fn add_leads_to_count(
            &self,
            tenant: &crate::TenantId,
            id: &CampaignId,
            added: u64,
        ) -> Result<()> {
            self.inner.add_leads_to_count(tenant, id, added).await
        }
    }

    #[async_trait::async_trait]
    impl LeadStore for RacedByAnotherImport<'_> {
        async fn existing_leads(
            &self,
            tenant: &crate::TenantId,
            ids: &[LeadId],
        ) -> Result<std::collections::HashSet<LeadId>> {
            let found = self.inner.existing_leads(tenant, ids).await?;
            if !self.raced.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let other =
                    import_leads(self.inner, &self.tenant, &self.campaign, self.csv, NOW).await?;
                assert_eq!(other.imported, 3);
                let mut lead = self
                    .inner
                    .leads(
                        &self.tenant.id,
                        &self.campaign,
                        None,
                        &PageRequest::default(),
                    )
                    .await?
                    .items
                    .remove(0);
                lead.queue(1, NOW).unwrap();
                self.inner.save_lead(&lead).await?;
            }
            Ok(found)
        }
        async fn insert_leads(
            &self,
            leads: &[crate::calling::lead::Lead],
        ) -> Result<std::collections::HashSet<LeadId>> {
            self.inner.insert_leads(leads).await
        }
        async fn lead(
            &self,
            tenant: &crate::TenantId,
            id: &LeadId,
        ) -> Result<Option<crate::calling::lead::Lead>> {
            self.inner.lead(tenant, id).await
        }
        async fn leads(
            &self,
            tenant: &crate::TenantId,
            campaign: &CampaignId,
            status: Option<LeadStatus>,
            page: &PageRequest,
        ) -> Result<crate::ports::Page<crate::calling::lead::Lead>> {
            self.inner.leads(tenant, campaign, status, page).await
        }
    }

    #[tokio::test]
    async fn an_import_racing_another_of_the_same_file_overwrites_no_lead_and_counts_none_twice() {
        let store = MemoryStore::default();
        let (t, _) = tenant(&store, "acme").await;
        let c = campaign(&store, &t).await;
        let csv = b"number\n4155552671\n4155552672\n4155552673\n";
        let raced = RacedByAnotherImport {
            inner: &store,
            tenant: t.clone(),
            campaign: c.id.clone(),
            csv,
            raced: Default::default(),
        };
        // This import read before the other wrote: every lead looked new.
        let report = import_leads(&raced, &t, &c.id, csv, NOW).await.unwrap();
        assert_eq!((report.imported, report.duplicates), (0, 3));
        assert_eq!(
            report
                .duplicate_rows
                .iter()
                .map(|p| p.line)
                .collect::<Vec<_>>(),
            vec![2, 3, 4]
        );
        let queued = store
            .leads(
                &t.id,
                &c.id,
                Some(LeadStatus::Queued),
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            queued.items.len(),
            1,
            "the queued lead was not reset to new"
        );
        assert_eq!((queued.items[0].version, queued.items[0].attempts), (1, 1));
        let stored = store.campaign(&t.id, &c.id).await.unwrap().unwrap();
        assert_eq!(stored.lead_count, 3, "each lead counted once");
    }

    #[tokio::test]
    async fn n_new_leads_take_ceil_n_over_100_write_requests() {
        let store = MemoryStore::default();
        let (t, _) = tenant(&store, "acme").await;
        let c = campaign(&store, &t).await;
        let mut csv = String::from("number\n");
        for i in 0..101 {
            csv.push_str(&format!("+1415555{:04}\n", 2000 + i));
        }
        let report = import_leads(&store, &t, &c.id, csv.as_bytes(), NOW)
            .await
            .unwrap();
        assert_eq!(report.imported, 101);
        assert_eq!(store.lead_write_requests(), 2);
    }
}
