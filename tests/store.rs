//! The DynamoDB store's call side against the stack's real table: slots,
//! call starts per second, dedupe keys and versions are conditions in one
//! transaction, and a cancelled transaction says which condition failed.

use jiff::Timestamp;
use leadline_aws::{Aws, DynamoStore};
use leadline_core::attempt::CallAttempt;
use leadline_core::call::CallRef;
use leadline_core::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::dispatch::{DeploymentLimits, DialJob, SlotScope};
use leadline_core::lead::Lead;
use leadline_core::ports::{
    CallStore, CallWrite, CampaignStore, LeadStore, SuppressionStore, TenantStore, WriteRefused,
};
use leadline_core::suppression::{Suppression, SuppressionSource};
use leadline_core::tenant::{NewTenant, Tenant, VoiceProvider};
use leadline_core::{CampaignId, LeadId, Phone};
use leadline_tests::unique;

struct Fixture {
    store: DynamoStore,
    tenant: Tenant,
    campaign: Campaign,
    leads: Vec<Lead>,
}

async fn fixture(leads: usize) -> Fixture {
    let table =
        std::env::var("LEADLINE_TableName").expect("LEADLINE_TableName: run through `make test`");
    let store = DynamoStore::new(Aws::from_env().await.dynamodb(), table);
    let slug = unique("store");
    let new: NewTenant = serde_json::from_value(serde_json::json!({
        "name": "Store Test", "slug": slug, "timezone": "America/New_York",
        "default_region": "US", "max_concurrent_calls": 2
    }))
    .unwrap();
    let now = Timestamp::now();
    let tenant = new.into_tenant(now).unwrap();
    store.create_tenant(&tenant, &unique("hash")).await.unwrap();
    let campaign = Campaign {
        id: CampaignId::new(now, [9; 9]),
        tenant: tenant.id.clone(),
        name: "c".into(),
        status: CampaignStatus::Running,
        pacing: Pacing {
            max_parallel_calls: 10,
            calls_per_second: 1,
        },
        start_at: None,
        lead_count: 0,
        created_at: now,
    };
    store.create_campaign(&campaign).await.unwrap();
    let leads: Vec<Lead> = (0..leads)
        .map(|i| {
            let phone = Phone::parse(&format!("+1212555{:04}", 2000 + i), None).unwrap();
            let mut lead: Lead = serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&tenant.id, &campaign.id, &phone),
                "tenant": tenant.id, "campaign": campaign.id, "phone": phone,
                "name": null, "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "new", "attempts": 0, "outcome": null, "note": null,
                "created_at": now, "updated_at": now, "version": 0
            }))
            .unwrap();
            lead.queue(1, now).unwrap();
            lead
        })
        .collect();
    store.insert_leads(&leads).await.unwrap();
    Fixture {
        store,
        tenant,
        campaign,
        leads,
    }
}

impl Fixture {
    fn begin(&self, i: usize, limits: &DeploymentLimits, second: i64) -> CallWrite {
        let call = CallRef {
            tenant: self.tenant.id.clone(),
            lead: self.leads[i].id.clone(),
            attempt: 1,
        };
        let attempt = CallAttempt::dialing(
            &call,
            self.campaign.id.clone(),
            VoiceProvider::Vapi,
            Timestamp::now(),
        );
        let mut claim = limits.claim(
            &attempt,
            &self.tenant,
            Some(&self.campaign),
            Timestamp::now(),
        );
        claim.pace.second = second;
        CallWrite {
            attempt: Some(attempt),
            take_slots: Some(claim),
            ..CallWrite::default()
        }
    }
}

/// Limits no test here reaches: only the tenant's own limit (2) binds.
fn roomy() -> DeploymentLimits {
    DeploymentLimits {
        vapi_concurrent_calls: 1000,
        calls_per_second: 100,
        ..DeploymentLimits::default()
    }
}

/// A second of its own per test, far from now, so parallel tests never share a pace counter.
fn a_second() -> i64 {
    1_000_000 + (Timestamp::now().as_nanosecond() % 1_000_000_000) as i64
}

#[tokio::test]
async fn a_tenant_at_its_limit_gets_no_slot_until_one_is_given_back() {
    let f = fixture(3).await;
    let limits = roomy();
    let second = a_second();
    for i in 0..2 {
        assert_eq!(
            f.store.commit(&f.begin(i, &limits, second)).await.unwrap(),
            Ok(())
        );
    }
    let refused = f.store.commit(&f.begin(2, &limits, second)).await.unwrap();
    assert_eq!(
        refused,
        Err(WriteRefused::NoSlot(SlotScope::Tenant(f.tenant.id.clone())))
    );
    let holders = f
        .store
        .slot_holders(&SlotScope::Tenant(f.tenant.id.clone()))
        .await
        .unwrap();
    assert_eq!(holders.len(), 2);

    // The first call ends: its three slots come back, and the third lead gets one.
    let ctx = f
        .store
        .call_context(&CallRef {
            tenant: f.tenant.id.clone(),
            lead: f.leads[0].id.clone(),
            attempt: 1,
        })
        .await
        .unwrap();
    let mut ended = ctx.attempt.unwrap();
    ended.advance(leadline_core::attempt::AttemptStatus::Ended);
    let release = CallWrite {
        attempt: Some(ended),
        release_slots: true,
        ..CallWrite::default()
    };
    assert_eq!(f.store.commit(&release).await.unwrap(), Ok(()));
    assert_eq!(
        f.store.commit(&f.begin(2, &limits, second)).await.unwrap(),
        Ok(())
    );
    let campaign_holders = f
        .store
        .slot_holders(&SlotScope::Campaign(
            f.tenant.id.clone(),
            f.campaign.id.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(campaign_holders.len(), 2);
}

#[tokio::test]
async fn the_same_attempt_cannot_be_recorded_twice() {
    let f = fixture(1).await;
    let limits = roomy();
    let second = a_second();
    assert_eq!(
        f.store.commit(&f.begin(0, &limits, second)).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        f.store.commit(&f.begin(0, &limits, second)).await.unwrap(),
        Err(WriteRefused::AttemptExists)
    );
}

#[tokio::test]
async fn call_starts_beyond_the_pace_in_one_second_are_refused() {
    let f = fixture(2).await;
    let limits = DeploymentLimits {
        vapi_concurrent_calls: 1000,
        calls_per_second: 1,
        ..DeploymentLimits::default()
    };
    let second = a_second();
    assert_eq!(
        f.store.commit(&f.begin(0, &limits, second)).await.unwrap(),
        Ok(())
    );
    assert_eq!(
        f.store.commit(&f.begin(1, &limits, second)).await.unwrap(),
        Err(WriteRefused::Paced)
    );
    assert_eq!(
        f.store
            .commit(&f.begin(1, &limits, second + 1))
            .await
            .unwrap(),
        Ok(())
    );
}

#[tokio::test]
async fn an_event_key_is_applied_once_and_a_stale_lead_is_refused() {
    let f = fixture(1).await;
    let mut lead = f.leads[0].clone();
    lead.note = Some("first".into());
    let write = CallWrite {
        dedupe_key: Some(unique("retell#call#call_ended")),
        lead: Some(lead.clone()),
        ..CallWrite::default()
    };
    assert_eq!(f.store.commit(&write).await.unwrap(), Ok(()));
    let again = CallWrite {
        lead: Some(Lead {
            version: 1,
            ..lead.clone()
        }),
        ..write.clone()
    };
    assert_eq!(
        f.store.commit(&again).await.unwrap(),
        Err(WriteRefused::Duplicate)
    );
    let stale = CallWrite {
        dedupe_key: None,
        ..write
    };
    assert_eq!(
        f.store.commit(&stale).await.unwrap(),
        Err(WriteRefused::Stale)
    );
}

#[tokio::test]
async fn a_suppressed_number_shows_in_the_dial_context() {
    let f = fixture(1).await;
    let job = DialJob::for_lead(&f.leads[0], false);
    assert!(!f.store.dial_context(&job).await.unwrap().suppressed);
    let entry = Suppression {
        tenant: f.tenant.id.clone(),
        phone: f.leads[0].phone.clone(),
        source: SuppressionSource::Manual,
        reason: "asked by letter".into(),
        at: Timestamp::now(),
    };
    f.store.suppress(&entry).await.unwrap();
    f.store
        .suppress(&Suppression {
            reason: "again".into(),
            ..entry.clone()
        })
        .await
        .unwrap();
    let ctx = f.store.dial_context(&job).await.unwrap();
    assert!(ctx.suppressed);
    assert_eq!(ctx.lead.unwrap().id, f.leads[0].id);
    let listed = f
        .store
        .suppressions(&f.tenant.id, &Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![entry], "the first entry stays");
}

#[tokio::test]
async fn the_common_webhook_costs_one_read_and_one_transactional_write() {
    use leadline_core::call::{CallEvent, CallPhase, CallReport};
    use leadline_core::call_events::{EventResult, apply_call_event};
    use leadline_core::lead::CallOutcome;
    let f = fixture(1).await;
    let limits = roomy();
    f.store
        .commit(&f.begin(0, &limits, a_second()))
        .await
        .unwrap()
        .unwrap();
    let call = CallRef {
        tenant: f.tenant.id.clone(),
        lead: f.leads[0].id.clone(),
        attempt: 1,
    };
    for (phase, outcome) in [
        (CallPhase::Started, None),
        (CallPhase::Ended, Some(CallOutcome::Completed)),
        (CallPhase::Analyzed, Some(CallOutcome::Qualified)),
    ] {
        let event = CallEvent {
            provider: VoiceProvider::Vapi,
            provider_call_id: "call-budget".into(),
            dedupe_key: unique(&format!("vapi#call-budget#{phase:?}")),
            call: Some(call.clone()),
            phase,
            outcome,
            report: CallReport {
                duration_ms: Some(30_000),
                ..CallReport::default()
            },
        };
        f.store.calls().reset();
        let applied = apply_call_event(&f.store, &event, Timestamp::now())
            .await
            .unwrap();
        assert_eq!(applied, EventResult::Applied, "{phase:?}");
        let calls = f.store.calls().snapshot();
        assert_eq!(
            calls
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            vec![("BatchGetItem", 1), ("TransactWriteItems", 1)],
            "{phase:?}"
        );
    }
}

/// The sweep's read, counted by the store's own client: among 301 leads owed
/// a call, it asks GSI2 for what is due and gets the one overdue lead, in one
/// Query and no Scan. The times lie where no other test's work does (the
/// overdue lead in 2001, the others in 2999), so the count is exact on the
/// shared table.
#[tokio::test]
async fn the_sweep_reads_only_what_is_due_in_one_query_and_no_scan() {
    use jiff::SignedDuration;
    use leadline_core::lead::{LeadStatus, NextCall, NextCallKind};
    use leadline_core::ports::{DueWork, PageRequest, SweepStore};
    let f = fixture(0).await;
    let overdue: Timestamp = "2001-01-01T00:00:00Z".parse().unwrap();
    let later: Timestamp = "2999-01-01T00:00:00Z".parse().unwrap();
    let leads: Vec<Lead> = (0..301)
        .map(|i| {
            let phone = Phone::parse(&format!("+1212555{:04}", 3000 + i), None).unwrap();
            let mut lead: Lead = serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&f.tenant.id, &f.campaign.id, &phone),
                "tenant": f.tenant.id, "campaign": f.campaign.id, "phone": phone,
                "name": null, "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "retry_pending", "attempts": 1, "outcome": null, "note": null,
                "created_at": Timestamp::now(), "updated_at": Timestamp::now(), "version": 0
            }))
            .unwrap();
            assert_eq!(lead.status, LeadStatus::RetryPending);
            lead.next_call = Some(NextCall {
                kind: NextCallKind::Retry,
                attempt: 2,
                at: if i == 0 { overdue } else { later },
            });
            lead
        })
        .collect();
    f.store.insert_leads(&leads).await.unwrap();

    f.store.calls().reset();
    let due = f
        .store
        .due_work(
            overdue + SignedDuration::from_mins(5),
            &PageRequest::default(),
        )
        .await;
    let (queries, scans, items) = (
        f.store.calls().count("Query"),
        f.store.calls().count("Scan"),
        f.store.calls().items_read(),
    );
    // Gone before anything is asserted: an overdue lead left behind would be
    // read by the next run, and swept by the retries tests.
    for lead in &leads {
        f.store.delete_lead(lead).await.unwrap();
    }
    let due = due.unwrap();
    let read: Vec<_> = due.items.iter().collect();
    assert!(
        matches!(read.as_slice(), [DueWork::Lead(l)] if l.id == leads[0].id),
        "{read:?}"
    );
    assert_eq!(
        (queries, scans, items),
        (1, 0, 1),
        "{:?}",
        f.store.calls().snapshot()
    );
    assert_eq!(due.next_cursor, None);
}

/// `n` leads as an import of the fixture's campaign makes them: status new, version 0.
fn imported(f: &Fixture, n: usize) -> Vec<Lead> {
    let csv: String = std::iter::once("number\n".to_owned())
        .chain((0..n).map(|i| format!("+1 212 555 {:04}\n", 4000 + i)))
        .collect();
    let region = leadline_core::Region::parse("US").unwrap();
    leadline_core::import::parse_csv(csv.as_bytes(), region)
        .unwrap()
        .rows
        .into_iter()
        .map(|row| row.into_lead(&f.tenant.id, &f.campaign.id, Timestamp::now()))
        .collect()
}

/// Two imports of one file racing: whichever writes a lead first creates it,
/// and the other finds it there. Between them, nobody loses a lead.
#[tokio::test]
async fn two_inserts_of_the_same_new_leads_at_once_create_each_lead_once() {
    let f = fixture(0).await;
    let leads = imported(&f, 250);
    let (a, b) = tokio::join!(f.store.insert_leads(&leads), f.store.insert_leads(&leads));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_disjoint(&b), "no lead was created by both");
    assert_eq!(
        a.len() + b.len(),
        leads.len(),
        "every lead was created by one"
    );
    for lead in [&leads[0], &leads[99], &leads[100], &leads[249]] {
        let stored = f.store.lead(&f.tenant.id, &lead.id).await.unwrap();
        assert_eq!(stored.map(|l| l.version), Some(0));
    }
}

/// A lead that moved on after an import created it (queued for a call, saved
/// at version 1) keeps its state through two more inserts of the same leads
/// at once, and n new leads cost ceil(n/100) transactions.
#[tokio::test]
async fn inserting_leads_that_exist_resets_none_of_them() {
    use leadline_core::lead::LeadStatus;
    let f = fixture(0).await;
    let leads = imported(&f, 250);
    f.store.calls().reset();
    assert!(f.store.insert_leads(&leads).await.unwrap().is_empty());
    assert_eq!(
        f.store.calls().snapshot().into_iter().collect::<Vec<_>>(),
        vec![("TransactWriteItems".to_owned(), 3)],
        "ceil(250/100) transactions and nothing else"
    );

    let mut moved = f
        .store
        .lead(&f.tenant.id, &leads[150].id)
        .await
        .unwrap()
        .unwrap();
    moved.queue(1, Timestamp::now()).unwrap();
    f.store.save_lead(&moved).await.unwrap();

    let (a, b) = tokio::join!(f.store.insert_leads(&leads), f.store.insert_leads(&leads));
    let all: std::collections::HashSet<LeadId> = leads.iter().map(|l| l.id.clone()).collect();
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a == all && b == all,
        "every lead was already there: {} and {} of {}",
        a.len(),
        b.len(),
        all.len()
    );
    let stored = f
        .store
        .lead(&f.tenant.id, &leads[150].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.version, stored.attempts),
        (LeadStatus::Queued, 1, 1),
        "the lead that moved on was not reset"
    );
    let untouched = f
        .store
        .lead(&f.tenant.id, &leads[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((untouched.status, untouched.version), (LeadStatus::New, 0));
}
