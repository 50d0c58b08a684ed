//! What a tenant does to start calling: start, pause and resume a campaign,
//! call one lead now, mark it booked, delete it, put a number on the
//! do-not-call list. Each is a use case of the one runner ([`run`]).

use async_trait::async_trait;
use jiff::Timestamp;

use crate::calling::lead::{Change as LeadChange, Lead, LeadStatus};
use crate::calling::suppression::{Suppression, SuppressionSource};
use crate::calling::work::FollowUp;
use crate::calling::work::{CampaignSweep, DialJob, DialMessage};
use crate::intake::campaign::{Campaign, CampaignStatus};
use crate::intake::tenant::Tenant;
use crate::kernel::error::{Error, Result};
use crate::kernel::ids::{CampaignId, LeadId};
use crate::kernel::phone::Phone;
use crate::ports::{CampaignStore, LeadStore, PageRequest};
use crate::write::{Change, Commit, Decision, Effect, Effects, Entity, UseCase, run};

fn sweep(campaign: &Campaign, statuses: Vec<LeadStatus>, at: Timestamp) -> Effect {
    Effect::Dial {
        message: DialMessage::Sweep(CampaignSweep {
            tenant: campaign.tenant.clone(),
            campaign: campaign.id.clone(),
            statuses,
            cursor: None,
        }),
        at,
    }
}

/// A campaign's status moved by a tenant: start, pause or resume.
pub enum CampaignMove {
    /// Now, or at `start_at`: its new leads are queued page by page at the
    /// campaign's pace from then on.
    Start { start_at: Option<Timestamp> },
    /// No new calls; calls in flight finish. Queued leads wait.
    Pause,
    /// Calling again: the leads queued before the pause first, then the new ones.
    Resume,
}

/// The rule of a campaign move: which status it needs, the campaign after
/// it, and the sweep it starts.
pub fn move_campaign(
    campaign: Option<Campaign>,
    action: &CampaignMove,
    now: Timestamp,
) -> Result<Decision<Campaign>> {
    let mut campaign = campaign.ok_or(Error::NotFound("campaign"))?;
    let expected = campaign.status;
    let (needs, what) = match action {
        CampaignMove::Start { .. } => (
            CampaignStatus::Draft,
            "only a draft campaign can be started (a paused one is resumed)",
        ),
        CampaignMove::Pause => (
            CampaignStatus::Running,
            "only a running campaign can be paused",
        ),
        CampaignMove::Resume => (
            CampaignStatus::Paused,
            "only a paused campaign can be resumed",
        ),
    };
    if campaign.status != needs {
        return Err(Error::Conflict(format!(
            "the campaign is {}; {what}",
            campaign.status.as_str()
        )));
    }
    let effects = match action {
        CampaignMove::Start { start_at } => {
            if let Some(at) = *start_at {
                if at < now - jiff::SignedDuration::from_secs(60) {
                    return Err(Error::Invalid(crate::Invalid::new(
                        "start_at",
                        "is in the past",
                    )));
                }
                campaign.start_at = Some(at);
            }
            campaign.status = CampaignStatus::Running;
            let at = campaign.start_at.map_or(now, |s| s.max(now));
            vec![sweep(&campaign, vec![LeadStatus::New], at)]
        }
        CampaignMove::Pause => {
            campaign.status = CampaignStatus::Paused;
            Vec::new()
        }
        CampaignMove::Resume => {
            campaign.status = CampaignStatus::Running;
            vec![sweep(
                &campaign,
                vec![LeadStatus::Queued, LeadStatus::New],
                now,
            )]
        }
    };
    Ok(Decision::new(
        vec![Change::MoveCampaign {
            campaign: campaign.clone(),
            expected,
        }],
        effects,
        campaign,
    ))
}

/// [`move_campaign`] of one of the tenant's campaigns.
pub struct MoveCampaign<'a, S: ?Sized> {
    pub store: &'a S,
    pub tenant: &'a Tenant,
    pub id: &'a CampaignId,
    pub action: CampaignMove,
}

#[async_trait]
impl<S: CampaignStore + ?Sized> UseCase for MoveCampaign<'_, S> {
    type State = Option<Campaign>;
    type Answer = Campaign;
    const WHAT: &'static str = "the campaign";

    async fn load(&self) -> Result<Option<Campaign>> {
        self.store.campaign(&self.tenant.id, self.id).await
    }

    fn decide(&self, campaign: Option<Campaign>, now: Timestamp) -> Result<Decision<Campaign>> {
        move_campaign(campaign, &self.action, now)
    }
}

/// Runs a campaign move.
pub async fn move_campaign_of<S, E>(
    store: &S,
    effects: &E,
    tenant: &Tenant,
    id: &CampaignId,
    action: CampaignMove,
    now: Timestamp,
) -> Result<Campaign>
where
    S: CampaignStore + Commit + ?Sized,
    E: Effects + ?Sized,
{
    let moved = MoveCampaign {
        store,
        tenant,
        id,
        action,
    };
    run(store, effects, &moved, now).await
}

/// What a tenant asks of one lead.
pub enum LeadAction {
    /// Call it now (within its calling hours), whatever its campaign is
    /// doing. A retry or callback it was owed is placed now instead: its schedule goes.
    Call,
    /// The business booked it outside leadline: no more calls; a pending
    /// retry or callback is cancelled.
    MarkBooked,
    /// Delete it, and the schedule of any call it was owed.
    Delete,
    /// Its number is on the do-not-call list now: it stops.
    Suppress(String),
}

/// The rule of a lead action. `None` when there is no such lead.
pub fn act_on_lead(
    lead: Option<Lead>,
    action: &LeadAction,
    now: Timestamp,
) -> Result<Decision<Option<Lead>>> {
    let Some(mut lead) = lead else {
        return Ok(Decision::answer(None));
    };
    let applied = match action {
        LeadAction::Delete => {
            let effects = FollowUp::of(&lead)
                .map(Effect::CancelCall)
                .into_iter()
                .collect();
            return Ok(Decision::new(
                vec![Change::Delete(Entity::Lead(lead.clone()))],
                effects,
                Some(lead),
            ));
        }
        LeadAction::Call => {
            lead.queue(lead.attempts + 1, now)?;
            LeadChange::Applied
        }
        LeadAction::MarkBooked => lead.book(now),
        LeadAction::Suppress(reason) => lead.suppress(reason, now),
    };
    if applied != LeadChange::Applied {
        return Ok(Decision::answer(Some(lead)));
    }
    let mut effects = lead.take_effects();
    if let LeadAction::Call = action {
        effects.push(Effect::Dial {
            message: DialMessage::Dial(DialJob::for_lead(&lead, true)),
            at: now,
        });
    }
    let saved = Lead {
        version: lead.version + 1,
        ..lead.clone()
    };
    Ok(Decision::new(
        vec![Change::Save(Entity::Lead(lead))],
        effects,
        Some(saved),
    ))
}

/// [`act_on_lead`] on one of the tenant's leads.
pub struct ActOnLead<'a, S: ?Sized> {
    pub store: &'a S,
    pub tenant: &'a Tenant,
    pub id: &'a LeadId,
    pub action: LeadAction,
}

#[async_trait]
impl<S: LeadStore + ?Sized> UseCase for ActOnLead<'_, S> {
    type State = Option<Lead>;
    type Answer = Option<Lead>;
    const WHAT: &'static str = "the lead";

    async fn load(&self) -> Result<Option<Lead>> {
        self.store.lead(&self.tenant.id, self.id).await
    }

    fn decide(&self, lead: Option<Lead>, now: Timestamp) -> Result<Decision<Option<Lead>>> {
        act_on_lead(lead, &self.action, now)
    }
}

/// Runs a lead action; no such lead is `NotFound`.
pub async fn lead_action<S, E>(
    store: &S,
    effects: &E,
    tenant: &Tenant,
    id: &LeadId,
    action: LeadAction,
    now: Timestamp,
) -> Result<Lead>
where
    S: LeadStore + Commit + ?Sized,
    E: Effects + ?Sized,
{
    let act = ActOnLead {
        store,
        tenant,
        id,
        action,
    };
    run(store, effects, &act, now)
        .await?
        .ok_or(Error::NotFound("lead"))
}

/// Puts a number on the tenant's do-not-call list by hand. Every lead of the
/// tenant with that number (one per campaign and the caller's inbound lead:
/// lead ids derive from the number) stops: it is marked do-not-call and its
/// pending schedules go.
pub async fn add_to_do_not_call<S, E>(
    store: &S,
    effects: &E,
    tenant: &Tenant,
    raw_phone: &str,
    reason: Option<String>,
    now: Timestamp,
) -> Result<Suppression>
where
    S: CampaignStore + LeadStore + Commit + ?Sized,
    E: Effects + ?Sized,
{
    let phone = Phone::parse(raw_phone, Some(tenant.default_region))
        .map_err(|e| Error::Invalid(crate::Invalid::new("phone", e.to_string())))?;
    let entry = Suppression {
        tenant: tenant.id.clone(),
        address: phone.clone().into(),
        source: SuppressionSource::Manual,
        reason: reason.unwrap_or_else(|| "added by the business".into()),
        at: now,
    };
    store.commit(&[Change::Suppress(entry.clone())]).await?;
    let inbound = LeadId::for_caller(&tenant.id, &phone);
    let act = ActOnLead {
        store,
        tenant,
        id: &inbound,
        action: LeadAction::Suppress(entry.reason.clone()),
    };
    run(store, effects, &act, now).await?;
    let mut page = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        cursor: None,
    };
    loop {
        let campaigns = store.campaigns(&tenant.id, &page).await?;
        for campaign in &campaigns.items {
            let id = LeadId::derive(&tenant.id, &campaign.id, &phone);
            let act = ActOnLead {
                store,
                tenant,
                id: &id,
                action: LeadAction::Suppress(entry.reason.clone()),
            };
            run(store, effects, &act, now).await?;
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
    use crate::calling::dispatch::tests::{FakeDialer, World};
    use crate::memory::{MemoryMessages, MemoryQueue, MemoryScheduler};
    use crate::write::EffectPorts;

    fn ports<'a>(
        queue: &'a MemoryQueue,
        scheduler: &'a MemoryScheduler,
        messages: &'a MemoryMessages,
    ) -> EffectPorts<'a, MemoryScheduler, MemoryQueue, MemoryMessages> {
        EffectPorts {
            scheduler,
            dial_queue: queue,
            messages,
        }
    }

    async fn draft(w: &World) -> Campaign {
        let mut c = w.campaign.clone();
        c.status = CampaignStatus::Draft;
        w.store
            .commit(&[Change::MoveCampaign {
                campaign: c.clone(),
                expected: CampaignStatus::Running,
            }])
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
        let (scheduler, messages) = (MemoryScheduler::default(), MemoryMessages::default());
        let effects = ports(&w.queue, &scheduler, &messages);
        let start = |at| CampaignMove::Start { start_at: at };
        let started = move_campaign_of(
            &w.store,
            &effects,
            &w.tenant,
            &c.id,
            start(Some(later)),
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            (started.status, started.start_at),
            (CampaignStatus::Running, Some(later))
        );
        assert!(w.queue.take_due(now).is_empty());
        let due = w.queue.take_due(later);
        assert!(matches!(&due[..], [DialMessage::Sweep(s)] if s.statuses == [LeadStatus::New]));
        let again = move_campaign_of(&w.store, &effects, &w.tenant, &c.id, start(None), now).await;
        assert!(matches!(again, Err(Error::Conflict(_))));
    }

    #[tokio::test]
    async fn a_paused_campaign_resumes_with_its_queued_leads_first() {
        let w = World::new(1, FakeDialer::default()).await;
        let id = w.campaign.id.clone();
        let (scheduler, messages) = (MemoryScheduler::default(), MemoryMessages::default());
        let queue = MemoryQueue::default();
        let effects = ports(&queue, &scheduler, &messages);
        let now = w.clock_now();
        let moved =
            async |action| move_campaign_of(&w.store, &effects, &w.tenant, &id, action, now).await;
        moved(CampaignMove::Pause).await.unwrap();
        assert!(matches!(
            moved(CampaignMove::Pause).await,
            Err(Error::Conflict(_))
        ));
        moved(CampaignMove::Resume).await.unwrap();
        let due = queue.take_due(w.clock_now());
        assert!(
            matches!(&due[..], [DialMessage::Sweep(s)] if s.statuses == [LeadStatus::Queued, LeadStatus::New])
        );
    }

    #[tokio::test]
    async fn one_lead_can_be_called_by_hand_but_not_while_it_is_queued() {
        let w = World::new(1, FakeDialer::default()).await;
        let (scheduler, messages) = (MemoryScheduler::default(), MemoryMessages::default());
        let effects = ports(&w.queue, &scheduler, &messages);
        let call = async || {
            lead_action(
                &w.store,
                &effects,
                &w.tenant,
                &w.leads[0].id,
                LeadAction::Call,
                w.clock_now(),
            )
            .await
        };
        let lead = call().await.unwrap();
        assert_eq!((lead.status, lead.attempts), (LeadStatus::Queued, 1));
        let due = w.queue.take_due(w.clock_now());
        assert!(matches!(&due[..], [DialMessage::Dial(j)] if j.manual && j.attempt == 1));
        let twice = call().await;
        assert!(matches!(twice, Err(Error::Transition(_))));
    }

    #[tokio::test]
    async fn a_number_added_by_hand_is_read_in_the_tenants_region_and_refused_when_invalid() {
        let w = World::new(1, FakeDialer::default()).await;
        let (scheduler, messages) = (MemoryScheduler::default(), MemoryMessages::default());
        let effects = ports(&w.queue, &scheduler, &messages);
        let added = add_to_do_not_call(
            &w.store,
            &effects,
            &w.tenant,
            "(415) 555-1000",
            None,
            w.clock_now(),
        )
        .await
        .unwrap();
        assert_eq!(added.address, w.leads[0].phone.e164());
        assert_eq!(w.lead(0).await.status, LeadStatus::DoNotCall);
        let bad =
            add_to_do_not_call(&w.store, &effects, &w.tenant, "12", None, w.clock_now()).await;
        assert!(matches!(bad, Err(Error::Invalid(_))));
    }

    #[tokio::test]
    async fn a_number_added_by_hand_stops_the_callers_inbound_lead_too() {
        let w = World::new(1, FakeDialer::default()).await;
        let (scheduler, messages) = (MemoryScheduler::default(), MemoryMessages::default());
        let effects = ports(&w.queue, &scheduler, &messages);
        let caller = Phone::parse("+14155550142", None).unwrap();
        let inbound = Lead::inbound(&w.tenant.id, &caller, w.clock_now());
        w.store
            .insert_leads(std::slice::from_ref(&inbound))
            .await
            .unwrap();
        add_to_do_not_call(
            &w.store,
            &effects,
            &w.tenant,
            caller.e164(),
            None,
            w.clock_now(),
        )
        .await
        .unwrap();
        let stopped = w
            .store
            .lead(&w.tenant.id, &inbound.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stopped.status, LeadStatus::DoNotCall);
        assert_eq!(
            w.lead(0).await.status,
            LeadStatus::New,
            "another number's lead"
        );
    }
}
