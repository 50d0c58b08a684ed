//! What a tenant does to start calling: start, pause and resume a campaign,
//! call one lead now, put a number on the do-not-call list.

use jiff::Timestamp;

use crate::campaign::{Campaign, CampaignStatus};
use crate::dispatch::{CampaignSweep, DialJob, DialMessage};
use crate::error::{Error, Result};
use crate::follow_up::FollowUpEffects;
use crate::ids::{CampaignId, LeadId, TenantId};
use crate::lead::{Change, Lead, LeadStatus};
use crate::phone::Phone;
use crate::ports::{
    CampaignStore, DialQueue, FollowUpScheduler, LeadStore, PageRequest, SuppressionStore,
};
use crate::suppression::{Suppression, SuppressionSource};
use crate::tenant::Tenant;

async fn campaign(
    store: &impl CampaignStore,
    tenant: &Tenant,
    id: &CampaignId,
) -> Result<Campaign> {
    store
        .campaign(&tenant.id, id)
        .await?
        .ok_or(Error::NotFound("campaign"))
}

fn sweep(campaign: &Campaign, statuses: Vec<LeadStatus>) -> DialMessage {
    DialMessage::Sweep(CampaignSweep {
        tenant: campaign.tenant.clone(),
        campaign: campaign.id.clone(),
        statuses,
        cursor: None,
    })
}

/// Starts a draft campaign, now or at `start_at`: its new leads are queued
/// page by page at the campaign's pace from then on.
pub async fn start_campaign<S: CampaignStore, Q: DialQueue>(
    store: &S,
    queue: &Q,
    tenant: &Tenant,
    id: &CampaignId,
    start_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Campaign> {
    let mut campaign = campaign(store, tenant, id).await?;
    if campaign.status != CampaignStatus::Draft {
        return Err(Error::Conflict(format!(
            "the campaign is {}; only a draft campaign can be started (a paused one is resumed)",
            campaign.status.as_str()
        )));
    }
    if let Some(at) = start_at {
        if at < now - jiff::SignedDuration::from_secs(60) {
            return Err(Error::Invalid(crate::Invalid::new(
                "start_at",
                "is in the past",
            )));
        }
        campaign.start_at = Some(at);
    }
    campaign.status = CampaignStatus::Running;
    store
        .change_campaign(&campaign, CampaignStatus::Draft)
        .await?;
    let at = campaign.start_at.map_or(now, |s| s.max(now));
    queue
        .enqueue(&[(sweep(&campaign, vec![LeadStatus::New]), at)], now)
        .await?;
    Ok(campaign)
}

/// Stops placing new calls; calls in flight finish. Queued leads wait.
pub async fn pause_campaign<S: CampaignStore>(
    store: &S,
    tenant: &Tenant,
    id: &CampaignId,
) -> Result<Campaign> {
    let mut campaign = campaign(store, tenant, id).await?;
    if campaign.status != CampaignStatus::Running {
        return Err(Error::Conflict(format!(
            "the campaign is {}; only a running campaign can be paused",
            campaign.status.as_str()
        )));
    }
    campaign.status = CampaignStatus::Paused;
    store
        .change_campaign(&campaign, CampaignStatus::Running)
        .await?;
    Ok(campaign)
}

/// Calls again: the leads queued before the pause first, then the new ones.
pub async fn resume_campaign<S: CampaignStore, Q: DialQueue>(
    store: &S,
    queue: &Q,
    tenant: &Tenant,
    id: &CampaignId,
    now: Timestamp,
) -> Result<Campaign> {
    let mut campaign = campaign(store, tenant, id).await?;
    if campaign.status != CampaignStatus::Paused {
        return Err(Error::Conflict(format!(
            "the campaign is {}; only a paused campaign can be resumed",
            campaign.status.as_str()
        )));
    }
    campaign.status = CampaignStatus::Running;
    store
        .change_campaign(&campaign, CampaignStatus::Paused)
        .await?;
    let statuses = vec![LeadStatus::Queued, LeadStatus::New];
    queue
        .enqueue(&[(sweep(&campaign, statuses), now)], now)
        .await?;
    Ok(campaign)
}

/// Calls one lead now (within its calling hours), whatever its campaign is
/// doing. A retry or callback it was owed is placed now instead: its schedule goes.
pub async fn call_lead<S: LeadStore, Q: DialQueue, F: FollowUpScheduler>(
    store: &S,
    queue: &Q,
    scheduler: &F,
    tenant: &Tenant,
    id: &LeadId,
    now: Timestamp,
) -> Result<Lead> {
    let lead = store
        .lead(&tenant.id, id)
        .await?
        .ok_or(Error::NotFound("lead"))?;
    let mut queued = lead.clone();
    queued.queue(lead.attempts + 1, now)?;
    store.save_lead(&queued).await?;
    let job = DialJob::for_lead(&queued, true);
    queue.enqueue(&[(DialMessage::Dial(job), now)], now).await?;
    if let Some(owed) = FollowUpEffects::between(Some(&lead), Some(&queued)).cancel {
        scheduler.cancel(&owed).await?;
    }
    Ok(Lead {
        version: queued.version + 1,
        ..queued
    })
}

/// Changes one lead with `change` (read again after a lost race) and deletes
/// the schedule of a call it is no longer owed. `None` when there is no such lead.
async fn change_lead<S: LeadStore, F: FollowUpScheduler>(
    store: &S,
    scheduler: &F,
    tenant: &TenantId,
    id: &LeadId,
    change: impl Fn(&mut Lead) -> Change,
) -> Result<Option<Lead>> {
    for _ in 0..5 {
        let Some(lead) = store.lead(tenant, id).await? else {
            return Ok(None);
        };
        let mut changed = lead.clone();
        if change(&mut changed) != Change::Applied {
            return Ok(Some(lead));
        }
        match store.save_lead(&changed).await {
            Ok(()) => {}
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
        if let Some(owed) = FollowUpEffects::between(Some(&lead), Some(&changed)).cancel {
            scheduler.cancel(&owed).await?;
        }
        return Ok(Some(Lead {
            version: changed.version + 1,
            ..changed
        }));
    }
    Err(Error::Conflict("the lead kept changing".into()))
}

/// The business booked the lead outside leadline: no more calls; a pending
/// retry or callback is cancelled.
pub async fn mark_booked<S: LeadStore, F: FollowUpScheduler>(
    store: &S,
    scheduler: &F,
    tenant: &Tenant,
    id: &LeadId,
    now: Timestamp,
) -> Result<Lead> {
    change_lead(store, scheduler, &tenant.id, id, |lead| lead.book(now))
        .await?
        .ok_or(Error::NotFound("lead"))
}

/// Deletes a lead and the schedule of any call it was owed.
pub async fn delete_lead<S: LeadStore, F: FollowUpScheduler>(
    store: &S,
    scheduler: &F,
    tenant: &Tenant,
    id: &LeadId,
) -> Result<Lead> {
    for _ in 0..5 {
        let lead = store
            .lead(&tenant.id, id)
            .await?
            .ok_or(Error::NotFound("lead"))?;
        match store.delete_lead(&lead).await {
            Ok(()) => {}
            Err(Error::Conflict(_)) => continue,
            Err(other) => return Err(other),
        }
        if let Some(owed) = FollowUpEffects::between(Some(&lead), None).cancel {
            scheduler.cancel(&owed).await?;
        }
        return Ok(lead);
    }
    Err(Error::Conflict("the lead kept changing".into()))
}

/// Puts a number on the tenant's do-not-call list by hand. Every lead of the
/// tenant with that number (one per campaign: lead ids derive from the
/// number) stops: it is marked do-not-call and its pending schedules go.
pub async fn add_to_do_not_call<S, F>(
    store: &S,
    scheduler: &F,
    tenant: &Tenant,
    raw_phone: &str,
    reason: Option<String>,
    now: Timestamp,
) -> Result<Suppression>
where
    S: SuppressionStore + CampaignStore + LeadStore,
    F: FollowUpScheduler,
{
    let phone = Phone::parse(raw_phone, Some(tenant.default_region))
        .map_err(|e| Error::Invalid(crate::Invalid::new("phone", e.to_string())))?;
    let entry = Suppression {
        tenant: tenant.id.clone(),
        phone,
        source: SuppressionSource::Manual,
        reason: reason.unwrap_or_else(|| "added by the business".into()),
        at: now,
    };
    store.suppress(&entry).await?;
    let mut page = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        cursor: None,
    };
    loop {
        let campaigns = store.campaigns(&tenant.id, &page).await?;
        for campaign in &campaigns.items {
            let id = LeadId::derive(&tenant.id, &campaign.id, &entry.phone);
            change_lead(store, scheduler, &tenant.id, &id, |lead| {
                lead.suppress(&entry.reason, now)
            })
            .await?;
        }
        match campaigns.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return Ok(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::tests::{FakeDialer, World};
    use crate::memory::{MemoryQueue, MemoryScheduler};

    async fn draft(w: &World) -> Campaign {
        let mut c = w.campaign.clone();
        c.status = CampaignStatus::Draft;
        w.store
            .change_campaign(&c, CampaignStatus::Running)
            .await
            .unwrap();
        c
    }

    #[tokio::test]
    async fn starting_a_campaign_sweeps_its_new_leads_from_its_start_time() {
        let w = World::new(3, FakeDialer::default()).await;
        let c = draft(&w).await;
        let now = w.clock_now();
        let later = now + jiff::SignedDuration::from_hours(2);
        let started = start_campaign(&w.store, &w.queue, &w.tenant, &c.id, Some(later), now)
            .await
            .unwrap();
        assert_eq!(
            (started.status, started.start_at),
            (CampaignStatus::Running, Some(later))
        );
        assert!(w.queue.take_due(now).is_empty());
        let due = w.queue.take_due(later);
        assert!(matches!(&due[..], [DialMessage::Sweep(s)] if s.statuses == [LeadStatus::New]));
        let again = start_campaign(&w.store, &w.queue, &w.tenant, &c.id, None, now).await;
        assert!(matches!(again, Err(Error::Conflict(_))));
    }

    #[tokio::test]
    async fn a_paused_campaign_resumes_with_its_queued_leads_first() {
        let w = World::new(1, FakeDialer::default()).await;
        let id = w.campaign.id.clone();
        pause_campaign(&w.store, &w.tenant, &id).await.unwrap();
        assert!(matches!(
            pause_campaign(&w.store, &w.tenant, &id).await,
            Err(Error::Conflict(_))
        ));
        let queue = MemoryQueue::default();
        resume_campaign(&w.store, &queue, &w.tenant, &id, w.clock_now())
            .await
            .unwrap();
        let due = queue.take_due(w.clock_now());
        assert!(
            matches!(&due[..], [DialMessage::Sweep(s)] if s.statuses == [LeadStatus::Queued, LeadStatus::New])
        );
    }

    #[tokio::test]
    async fn one_lead_can_be_called_by_hand_but_not_while_it_is_queued() {
        let w = World::new(1, FakeDialer::default()).await;
        let scheduler = MemoryScheduler::default();
        let lead = call_lead(
            &w.store,
            &w.queue,
            &scheduler,
            &w.tenant,
            &w.leads[0].id,
            w.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!((lead.status, lead.attempts), (LeadStatus::Queued, 1));
        let due = w.queue.take_due(w.clock_now());
        assert!(matches!(&due[..], [DialMessage::Dial(j)] if j.manual && j.attempt == 1));
        let twice = call_lead(
            &w.store,
            &w.queue,
            &scheduler,
            &w.tenant,
            &w.leads[0].id,
            w.clock_now(),
        )
        .await;
        assert!(matches!(twice, Err(Error::Transition(_))));
    }

    #[tokio::test]
    async fn a_number_added_by_hand_is_read_in_the_tenants_region_and_refused_when_invalid() {
        let w = World::new(1, FakeDialer::default()).await;
        let scheduler = MemoryScheduler::default();
        let added = add_to_do_not_call(
            &w.store,
            &scheduler,
            &w.tenant,
            "(415) 555-1000",
            None,
            w.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(added.phone, w.leads[0].phone);
        let bad =
            add_to_do_not_call(&w.store, &scheduler, &w.tenant, "12", None, w.clock_now()).await;
        assert!(matches!(bad, Err(Error::Invalid(_))));
    }
}
