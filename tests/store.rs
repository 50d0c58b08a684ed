//! The DynamoDB store's call side against the stack's real table: slots,
//! call starts per second, dedupe keys and versions are conditions in one
//! transaction, and a cancelled transaction says which condition failed.

use jiff::Timestamp;
use leadline_aws::{Aws, DynamoStore};
use leadline_core::calling::attempt::CallAttempt;
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::Lead;
use leadline_core::calling::suppression::{Suppression, SuppressionSource};
use leadline_core::calling::work::{DeploymentLimits, DialJob, SlotScope};
use leadline_core::intake::campaign::{Campaign, CampaignStatus, Pacing};
use leadline_core::intake::tenant::{NewTenant, Tenant, VoiceProvider};
use leadline_core::ports::{CallStore, CampaignStore, LeadStore, SuppressionStore, TenantStore};
use leadline_core::write::{Change, Commit, EffectPorts, Entity, Precondition, Refused, Unwired};
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
    fn begin(&self, i: usize, limits: &DeploymentLimits, second: i64) -> Vec<Change> {
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
        // The provider account's slots are the deployment's, shared with the
        // live tests' calls; an attempt here never ends, so it takes none.
        claim
            .scopes
            .retain(|(scope, _)| !matches!(scope, SlotScope::Provider(_)));
        vec![
            Change::Create(Entity::Attempt(attempt)),
            Change::TakeSlots(claim),
        ]
    }

    /// A commit's outcome: done, or refused and why.
    async fn commit(&self, changes: &[Change]) -> Result<(), Refused> {
        match self.store.commit(changes).await {
            Ok(()) => Ok(()),
            Err(leadline_core::Error::Refused(refused)) => Err(refused),
            Err(other) => panic!("the commit failed: {other}"),
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
        assert_eq!(f.commit(&f.begin(i, &limits, second)).await, Ok(()));
    }
    let refused = f.commit(&f.begin(2, &limits, second)).await;
    assert_eq!(
        refused,
        Err(Refused::Precondition(Precondition::NoSlot(
            SlotScope::Tenant(f.tenant.id.clone())
        )))
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
    ended.advance(leadline_core::calling::attempt::AttemptStatus::Ended);
    let release = [
        Change::release_slots(&ended),
        Change::Save(Entity::Attempt(ended)),
    ];
    assert_eq!(f.commit(&release).await, Ok(()));
    assert_eq!(f.commit(&f.begin(2, &limits, second)).await, Ok(()));
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
    assert_eq!(f.commit(&f.begin(0, &limits, second)).await, Ok(()));
    assert_eq!(
        f.commit(&f.begin(0, &limits, second)).await,
        Err(Refused::Precondition(Precondition::Exists))
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
    assert_eq!(f.commit(&f.begin(0, &limits, second)).await, Ok(()));
    assert_eq!(
        f.commit(&f.begin(1, &limits, second)).await,
        Err(Refused::Precondition(Precondition::Paced))
    );
    assert_eq!(f.commit(&f.begin(1, &limits, second + 1)).await, Ok(()));
}

#[tokio::test]
async fn an_event_key_is_applied_once_and_a_stale_lead_is_refused() {
    let f = fixture(1).await;
    let mut lead = f.leads[0].clone();
    lead.note = Some("first".into());
    let dedupe = Change::Dedupe {
        tenant: f.tenant.id.clone(),
        key: unique("retell#call#call_ended"),
    };
    let write = [dedupe.clone(), Change::Save(Entity::Lead(lead.clone()))];
    assert_eq!(f.commit(&write).await, Ok(()));
    let again = [
        dedupe,
        Change::Save(Entity::Lead(Lead {
            version: 1,
            ..lead.clone()
        })),
    ];
    assert_eq!(f.commit(&again).await, Err(Refused::Duplicate));
    let stale = [Change::Save(Entity::Lead(lead))];
    assert_eq!(f.commit(&stale).await, Err(Refused::Stale));
}

#[tokio::test]
async fn a_suppressed_number_shows_in_the_dial_context() {
    let f = fixture(1).await;
    let job = DialJob::for_lead(&f.leads[0], false);
    assert!(!f.store.dial_context(&job).await.unwrap().suppressed);
    let entry = Suppression {
        tenant: f.tenant.id.clone(),
        address: f.leads[0].phone.clone().into(),
        source: SuppressionSource::Manual,
        reason: "asked by letter".into(),
        at: Timestamp::now(),
    };
    f.commit(&[Change::Suppress(entry.clone())]).await.unwrap();
    let again = Suppression {
        reason: "again".into(),
        ..entry.clone()
    };
    f.commit(&[Change::Suppress(again)]).await.unwrap();
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
    use leadline_core::calling::call::{CallEvent, CallPhase, CallReport};
    use leadline_core::calling::call_events::{EventResult, apply_call_event};
    use leadline_core::calling::lead::CallOutcome;
    let f = fixture(1).await;
    let limits = roomy();
    f.commit(&f.begin(0, &limits, a_second())).await.unwrap();
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
        // A completed call asks for no schedule or message.
        let effects = EffectPorts {
            scheduler: &Unwired,
            dial_queue: &Unwired,
            messages: &Unwired,
        };
        let applied = apply_call_event(&f.store, &effects, &event, Timestamp::now())
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
/// Query a shard (16) and no Scan, reading that one item. The times lie where
/// no other test's work does (the overdue lead in 2001, the others in 2999),
/// so the count is exact on the shared table.
#[tokio::test]
async fn the_sweep_reads_only_what_is_due_one_query_a_shard_and_no_scan() {
    use jiff::SignedDuration;
    use leadline_core::calling::lead::{LeadStatus, NextCall, NextCallKind};
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
        f.store
            .commit(&[Change::Delete(Entity::Lead(lead.clone()))])
            .await
            .unwrap();
    }
    let due = due.unwrap();
    let read: Vec<_> = due.items.iter().collect();
    assert!(
        matches!(read.as_slice(), [DueWork::Lead(l)] if l.id == leads[0].id),
        "{read:?}"
    );
    assert_eq!(
        (queries, scans, items),
        (u64::from(leadline_aws::dynamo::keys::DUE_SHARDS), 0, 1),
        "{:?}",
        f.store.calls().snapshot()
    );
    assert_eq!(due.next_cursor, None);
}

#[tokio::test]
async fn an_outbox_is_due_for_the_sweep_until_it_is_cleared() {
    use leadline_core::ports::{DueWork, PageRequest, SweepStore};
    use leadline_core::write::{Effect, Outbox};
    let f = fixture(1).await;
    let job = DialJob::for_lead(&f.leads[0], false);
    // Long past: due at once, and first in the index.
    let then: Timestamp = "2001-01-01T00:00:00Z".parse().unwrap();
    let effect = Effect::Dial {
        message: leadline_core::calling::work::DialMessage::Dial(job),
        at: then,
    };
    let outbox = Outbox::new(f.tenant.id.clone(), vec![effect], then);
    let mut lead = f.leads[0].clone();
    lead.note = Some("with an outbox".into());
    let set = [
        Change::Save(Entity::Lead(lead)),
        Change::Outbox(outbox.clone()),
    ];
    f.commit(&set).await.unwrap();
    let f = &f;
    let due = async |at| {
        f.store
            .due_work(at, &PageRequest::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|w| matches!(w, DueWork::Outbox(o) if o.tenant == f.tenant.id))
            .collect::<Vec<_>>()
    };
    assert!(due(then).await.is_empty(), "not before its grace");
    assert_eq!(due(outbox.due_at).await, [DueWork::Outbox(outbox.clone())]);
    f.store.clear_outbox(&outbox).await.unwrap();
    assert!(due(outbox.due_at).await.is_empty());
}

/// The due index's pages over its shards, in a table of its own (so no other
/// test's due items are in it): 60 overdue leads of two tenants spread over
/// the shards, 20 owed later, read with page limits smaller than the shards
/// (3), in between (7) and the sweep's own (100). Every page holds at most its
/// limit, oldest first; each shard's items come in their order across pages;
/// every overdue lead comes exactly once and nothing else; DynamoDB reads
/// exactly what is handed over; the first page asks every shard once and no
/// page asks more. A cursor of another listing is refused.
#[tokio::test]
async fn the_due_index_pages_over_its_shards_skipping_and_repeating_nothing() {
    use std::collections::{BTreeMap, HashSet};

    use aws_sdk_dynamodb::types::AttributeValue;
    use jiff::SignedDuration;
    use leadline_aws::dynamo::keys::{DUE_SHARDS, due_shard, due_shard_pk};
    use leadline_core::ports::{DueWork, PageRequest, SweepStore};
    use leadline_core::{Error, TenantId};

    let client = Aws::from_env().await.dynamodb();
    let table = leadline_tests::own_table(&client, "due-shards").await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let base: Timestamp = "2020-03-02T09:00:00Z".parse().unwrap();
    let campaign = CampaignId::new(base, [5; 9]);
    let tenants = [
        TenantId::parse("shards-a").unwrap(),
        TenantId::parse("shards-b").unwrap(),
    ];
    let leads: Vec<Lead> = (0..80)
        .map(|i| {
            let tenant = &tenants[i % 2];
            let phone = Phone::parse(&format!("+1212555{:04}", 5000 + i), None).unwrap();
            let mut lead: Lead = serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(tenant, &campaign, &phone),
                "tenant": tenant, "campaign": campaign, "phone": phone,
                "name": null, "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "retry_pending", "attempts": 1, "outcome": null, "note": null,
                "created_at": base, "updated_at": base, "version": 0
            }))
            .unwrap();
            // Owed at shuffled minutes, so time order is not shard order.
            let at = if i < 60 {
                base + SignedDuration::from_mins((i as i64 * 37) % 60)
            } else {
                base + SignedDuration::from_hours(48)
            };
            lead.next_call = Some(leadline_core::calling::lead::NextCall {
                kind: leadline_core::calling::lead::NextCallKind::Retry,
                attempt: 2,
                at,
            });
            lead
        })
        .collect();
    store.insert_leads(&leads).await.unwrap();
    let now = base + SignedDuration::from_hours(2);
    let shard_of = |l: &Lead| {
        due_shard(
            &format!("T#{}", l.tenant),
            &format!("LEAD#{}", l.id.as_str()),
        )
    };

    // Each item sits in its shard, and the overdue ones fill most shards.
    let mut stored = BTreeMap::new();
    for k in 0..DUE_SHARDS {
        let out = client
            .query()
            .table_name(&table)
            .index_name("GSI2")
            .key_condition_expression("GSI2PK = :k")
            .expression_attribute_values(":k", AttributeValue::S(due_shard_pk(k)))
            .send()
            .await
            .unwrap();
        stored.insert(k, out.count() as usize);
    }
    let mut expected = BTreeMap::new();
    for lead in &leads {
        *expected.entry(shard_of(lead)).or_insert(0) += 1;
    }
    for k in 0..DUE_SHARDS {
        expected.entry(k).or_insert(0);
    }
    let overdue_shards: HashSet<u32> = leads[..60].iter().map(shard_of).collect();

    let mut outcomes = Vec::new();
    for limit in [3, 7, 100] {
        store.calls().reset();
        let mut request = PageRequest {
            limit,
            cursor: None,
        };
        let (mut pages, mut seen) = (Vec::new(), Vec::new());
        let mut first_page_queries = 0;
        let mut most_queries = 0;
        loop {
            let before = store.calls().count("Query");
            let page = store.due_work(now, &request).await.unwrap();
            let queries = store.calls().count("Query") - before;
            if pages.is_empty() {
                first_page_queries = queries;
            }
            most_queries = most_queries.max(queries);
            let leads: Vec<Lead> = page
                .items
                .into_iter()
                .map(|w| match w {
                    DueWork::Lead(l) => l,
                    other => panic!("{other:?}"),
                })
                .collect();
            pages.push(leads.len());
            seen.push(leads);
            match page.next_cursor {
                Some(cursor) if pages.len() < 200 => request.cursor = Some(cursor),
                Some(_) => panic!("the pages never end"),
                None => break,
            }
        }
        outcomes.push((
            limit,
            pages,
            seen,
            first_page_queries,
            most_queries,
            store.calls().items_read(),
            store.calls().count("Scan"),
        ));
    }
    let foreign = store
        .due_work(
            now,
            &PageRequest {
                limit: 10,
                cursor: Some("eyJQSyI6IlQjc2hhcmRzLWEifQ".into()), // {"PK":"T#shards-a"}
            },
        )
        .await;
    client.delete_table().table_name(&table).send().await.ok();

    assert_eq!(stored, expected, "each item under GSI2PK DUE#<its shard>");
    assert!(
        overdue_shards.len() >= 12,
        "60 leads over 16 shards: {overdue_shards:?}"
    );
    let due: Vec<&LeadId> = leads[..60].iter().map(|l| &l.id).collect();
    for (limit, pages, seen, first_queries, most_queries, read, scans) in outcomes {
        let all: Vec<&Lead> = seen.iter().flatten().collect();
        let ids: HashSet<&LeadId> = all.iter().map(|l| &l.id).collect();
        assert_eq!(
            all.len(),
            60,
            "limit {limit}: every overdue lead once, {pages:?}"
        );
        assert_eq!(ids, due.iter().copied().collect(), "limit {limit}");
        assert!(
            pages.iter().all(|n| *n as u32 <= limit),
            "limit {limit}: {pages:?}"
        );
        for page in &seen {
            let times: Vec<_> = page.iter().map(|l| l.sweep_at().unwrap()).collect();
            assert!(times.is_sorted(), "limit {limit}: a page oldest first");
        }
        for k in 0..DUE_SHARDS {
            let times: Vec<_> = all
                .iter()
                .filter(|l| shard_of(l) == k)
                .map(|l| {
                    (
                        l.sweep_at().unwrap(),
                        format!("T#{}#LEAD#{}", l.tenant, l.id.as_str()),
                    )
                })
                .collect();
            assert!(times.is_sorted(), "limit {limit}: shard {k} in its order");
        }
        assert_eq!(read, 60, "limit {limit}: read exactly what was handed over");
        assert_eq!(scans, 0);
        assert_eq!(
            first_queries,
            u64::from(limit.min(DUE_SHARDS)),
            "limit {limit}"
        );
        assert!(most_queries <= u64::from(DUE_SHARDS), "limit {limit}");
    }
    assert!(
        matches!(foreign, Err(Error::Malformed(_))),
        "a cursor of a tenant listing: {foreign:?}"
    );
}

/// `n` leads as an import of the fixture's campaign makes them: status new, version 0.
fn imported(f: &Fixture, n: usize) -> Vec<Lead> {
    let csv: String = std::iter::once("number\n".to_owned())
        .chain((0..n).map(|i| format!("+1 212 555 {:04}\n", 4000 + i)))
        .collect();
    let region = leadline_core::Region::parse("US").unwrap();
    leadline_core::intake::import::parse_csv(csv.as_bytes(), region)
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
    use leadline_core::calling::lead::LeadStatus;
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
    f.store
        .commit(&[Change::Save(Entity::Lead(moved.clone()))])
        .await
        .unwrap();

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

/// A job that found no slot is recorded as a waiter in its scope's
/// partition, oldest first, and only while the scope is full (a slot given
/// back in between refuses it: the job is decided again). A waiter is taken
/// once, however many wakes reach for it; one that stops waiting goes.
#[tokio::test]
async fn a_waiter_is_kept_while_its_scope_is_full_oldest_first_and_taken_once() {
    use leadline_core::calling::waiting::{Waiter, Waiting};
    let f = fixture(4).await;
    let limits = roomy();
    let second = a_second();
    // The tenant allows 2 calls at once: leads 0 and 1 take them.
    f.commit(&f.begin(0, &limits, second)).await.unwrap();
    f.commit(&f.begin(1, &limits, second + 1)).await.unwrap();
    let tenant = SlotScope::Tenant(f.tenant.id.clone());
    let campaign = SlotScope::Campaign(f.tenant.id.clone(), f.campaign.id.clone());
    let since = Timestamp::now();
    let waiter = |i: usize, scope: &SlotScope, after_ms: i64| {
        let job = DialJob::for_lead(&f.leads[i], false);
        let waiting = Waiting {
            scope: scope.clone(),
            since: since + jiff::SignedDuration::from_millis(after_ms),
        };
        Waiter::of(&job, &waiting)
    };
    let (second_in_line, first_in_line) = (waiter(2, &tenant, 5), waiter(3, &tenant, 0));
    let wait = |waiter: &Waiter, limit| {
        vec![Change::Wait {
            waiter: waiter.clone(),
            limit,
        }]
    };

    assert_eq!(
        f.commit(&wait(&second_in_line, 3)).await,
        Err(Refused::Stale),
        "a scope with a slot free takes no waiter"
    );
    f.commit(&wait(&second_in_line, 2)).await.unwrap();
    f.commit(&wait(&first_in_line, 2)).await.unwrap();
    f.commit(&wait(&first_in_line, 2)).await.unwrap(); // recorded again: the same item
    // The campaign's waiters are its own (it is full at 2 here too).
    let in_the_campaign = waiter(2, &campaign, 1);
    f.commit(&wait(&in_the_campaign, 2)).await.unwrap();
    assert_eq!(
        f.store.waiters(&tenant, 10).await.unwrap(),
        [first_in_line.clone(), second_in_line.clone()],
        "oldest first, each once"
    );
    assert_eq!(
        f.store.waiters(&campaign, 10).await.unwrap(),
        std::slice::from_ref(&in_the_campaign)
    );

    // Two wakes reach for the oldest at once: one takes it.
    let claim = [Change::Claim(first_in_line.clone())];
    let (a, b) = tokio::join!(f.store.commit(&claim), f.store.commit(&claim));
    let taken = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(taken, 1, "{a:?} {b:?}");
    for lost in [a, b].into_iter().filter_map(Result::err) {
        // Refused (it was gone), or cancelled for the conflict (tried again: refused).
        assert!(
            matches!(
                lost,
                leadline_core::Error::Refused(Refused::Stale)
                    | leadline_core::Error::Unavailable(_)
            ),
            "{lost:?}"
        );
    }
    assert_eq!(f.commit(&claim).await, Err(Refused::Stale), "taken once");
    assert_eq!(
        f.store.waiters(&tenant, 10).await.unwrap(),
        std::slice::from_ref(&second_in_line)
    );

    // A job that got its slots, or gave up, takes its waiter with it.
    for waiter in [&second_in_line, &second_in_line, &in_the_campaign] {
        f.commit(&[Change::StopWaiting(waiter.clone())])
            .await
            .unwrap();
    }
    assert!(f.store.waiters(&tenant, 10).await.unwrap().is_empty());
    assert!(f.store.waiters(&campaign, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_provider_accounts_slot_is_taken_with_the_call_and_given_back_with_it() {
    let f = fixture(1).await;
    let call = CallRef {
        tenant: f.tenant.id.clone(),
        lead: f.leads[0].id.clone(),
        attempt: 1,
    };
    let attempt = CallAttempt::dialing(
        &call,
        f.campaign.id.clone(),
        VoiceProvider::Vapi,
        Timestamp::now(),
    );
    let mut claim = roomy().claim(&attempt, &f.tenant, Some(&f.campaign), Timestamp::now());
    claim.pace.second = a_second();
    let provider = SlotScope::Provider(VoiceProvider::Vapi);
    assert!(claim.scopes.iter().any(|(scope, _)| *scope == provider));
    let holds = |holders: Vec<leadline_core::AttemptId>| holders.contains(&attempt.id);
    f.commit(&[
        Change::Create(Entity::Attempt(attempt.clone())),
        Change::TakeSlots(claim),
    ])
    .await
    .unwrap();
    assert!(holds(f.store.slot_holders(&provider).await.unwrap()));
    // The call ends within the test: the deployment's slot is back.
    let mut ended = attempt.clone();
    ended.version = 1;
    ended.advance(leadline_core::calling::attempt::AttemptStatus::Ended);
    f.commit(&[
        Change::release_slots(&ended),
        Change::Save(Entity::Attempt(ended)),
    ])
    .await
    .unwrap();
    assert!(!holds(f.store.slot_holders(&provider).await.unwrap()));
}
