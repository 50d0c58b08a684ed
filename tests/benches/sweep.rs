//! The sweep's read against DynamoDB (MiniStack): a table of 100,000 leads,
//! 10,100 of them owed a retry and 100 of those overdue, and the sweep's
//! queries of the due-work index (GSI2, one a shard a page). Prints the
//! requests it took and the items it read; a table scan would read all
//! 100,000.
//!
//! The counts come from the store's own request counter: an interceptor on
//! its DynamoDB client counts every operation the SDK executes (a Scan
//! anywhere would show) and the items each read returned.
//!
//! `make bench` (MiniStack running: `scripts/local-stack.sh up`). Without
//! `--bench` (`make test`) it is a smoke run: 1,000 leads, 110 owed, 10 due.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use leadline_aws::dynamo::keys::DUE_SHARDS;
use leadline_aws::{Aws, DynamoStore};
use leadline_core::calling::lead::{Lead, LeadStatus, NextCall, NextCallKind};
use leadline_core::ports::{LeadStore, PageRequest, SweepStore};
use leadline_core::{CampaignId, LeadId, Phone, TenantId};

/// (leads, owed a retry, of those overdue): a full run and a smoke run.
const FULL: (usize, usize, usize) = (100_000, 10_100, 100);
const SMOKE: (usize, usize, usize) = (1_000, 110, 10);

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let (leads_n, owed_n, due_n) = if smoke { SMOKE } else { FULL };
    let client = Aws::from_env().await.dynamodb();
    let table = leadline_tests::own_table(&client, "sweep-bench").await;
    let store = DynamoStore::new(client.clone(), table.clone());

    let now = Timestamp::now();
    let tenant = TenantId::parse("sweep-bench").unwrap();
    let campaign = CampaignId::new(now, [3; 9]);
    let leads: Vec<Lead> = (0..leads_n)
        .map(|i| {
            let phone = Phone::parse(&format!("+4474{:08}", i), None).unwrap();
            let mut lead: Lead = serde_json::from_value(serde_json::json!({
                "id": LeadId::derive(&tenant, &campaign, &phone), "tenant": tenant, "campaign": campaign,
                "phone": phone, "name": "Ada", "email": null, "whatsapp": null, "partner": null, "zone": null,
                "status": "new", "attempts": 0, "outcome": null, "note": null,
                "created_at": now, "updated_at": now, "version": 0
            }))
            .unwrap();
            if i < owed_n {
                lead.status = LeadStatus::RetryPending;
                lead.attempts = 1;
                let at = if i < due_n {
                    now - SignedDuration::from_hours(1)
                } else {
                    now + SignedDuration::from_hours(24)
                };
                lead.next_call = Some(NextCall {
                    kind: NextCallKind::Retry,
                    attempt: 2,
                    at,
                });
            }
            lead
        })
        .collect();
    let t = Instant::now();
    for chunk in leads.chunks(5_000) {
        store.insert_leads(chunk).await.unwrap();
    }
    println!(
        "table             {leads_n} leads written in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    store.calls().reset();
    let t = Instant::now();
    let mut request = PageRequest {
        limit: PageRequest::MAX_LIMIT,
        cursor: None,
    };
    let (mut read, mut pages) = (0, 0);
    let mut first_page_queries = 0;
    loop {
        let page = store.due_work(now, &request).await.unwrap();
        pages += 1;
        if pages == 1 {
            first_page_queries = store.calls().count("Query");
        }
        read += page.items.len();
        match page.next_cursor {
            Some(cursor) => request.cursor = Some(cursor),
            None => break,
        }
    }
    let elapsed = t.elapsed();
    let calls = store.calls();
    println!("owed a call       {owed_n} (in the due index), of which {due_n} overdue");
    println!(
        "sweep read        {} items in {pages} page(s), {} Query request(s) ({first_page_queries} for the first page), {} Scan, {:.1} ms",
        calls.items_read(),
        calls.count("Query"),
        calls.count("Scan"),
        elapsed.as_secs_f64() * 1000.0
    );
    println!("requests          {:?}", calls.snapshot());
    assert_eq!(read, due_n, "the sweep is handed exactly the overdue leads");
    assert_eq!(
        calls.items_read(),
        due_n as u64,
        "DynamoDB read only those (a page shares its limit among the shards: nothing is read twice)"
    );
    assert_eq!(calls.count("Scan"), 0);
    // The due index is 16 partitions (DUE_SHARDS: one would cap the writes
    // of every lead and attempt entering or leaving it at one partition's
    // 1,000 WCU a second), and a shard's order says nothing about another's:
    // the first page asks every shard, a later page every shard still open.
    // Asking a shard costs its items; an empty one costs one request and
    // reads nothing.
    assert_eq!(first_page_queries, u64::from(DUE_SHARDS));
    assert!(calls.count("Query") <= pages * u64::from(DUE_SHARDS));
    client.delete_table().table_name(&table).send().await.ok();
}
