//! What the calling tests share: a tenant with a campaign of leads at UK
//! numbers, the simulated providers' control API, and the dial queue's
//! consumer invoked with an SQS event.

use std::time::Duration;

use jiff::Timestamp;
use leadline_aws::{Aws, DynamoStore};
use leadline_core::calling::attempt::CallAttempt;
use leadline_core::calling::call::CallRef;
use leadline_core::calling::lead::Lead;
use leadline_core::calling::work::{DeploymentLimits, DialJob, DialMessage, SlotScope};
use leadline_core::intake::tenant::VoiceProvider;
use leadline_core::ports::{CallStore, TenantStore};
use leadline_core::write::{Change, Commit, Entity};
use leadline_core::{AttemptId, CampaignId, LeadId, TenantId};
use reqwest::Method;
use serde_json::{Value, json};

use crate::{Body, stack, unique};

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}: run through `make test`"))
}

pub async fn store() -> DynamoStore {
    DynamoStore::new(Aws::from_env().await.dynamodb(), stack().table.clone())
}

/// A UK mobile number no other test uses (UK numbers have no legal calling
/// hours of their own, so these tests run at any time of day).
pub fn number() -> String {
    let n = (Timestamp::now().as_nanosecond() / 1000 % 1_000_000) as u32;
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("+447400{:06}", (n + k * 7919) % 1_000_000)
}

/// A tenant calling through `provider` all day, with one campaign of `phones`.
pub struct Setup {
    pub slug: String,
    pub key: String,
    pub campaign: String,
    pub leads: Vec<Lead>,
}

pub async fn setup(provider: &str, phones: &[String], max_calls: u32) -> Setup {
    setup_with(provider, phones, max_calls, json!({})).await
}

/// [`setup`], with more of the tenant's settings (`{"retry_after_seconds": [5]}`).
pub async fn setup_with(
    provider: &str,
    phones: &[String],
    max_calls: u32,
    settings: Value,
) -> Setup {
    setup_campaign(
        provider,
        phones,
        max_calls,
        settings,
        json!({"name": "outbound"}),
    )
    .await
}

/// [`setup_with`], with the campaign created from `campaign` (its pacing, say).
pub async fn setup_campaign(
    provider: &str,
    phones: &[String],
    max_calls: u32,
    settings: Value,
    campaign: Value,
) -> Setup {
    let s = stack();
    let slug = unique("calls");
    let mut tenant = json!({
        "name": "Calls Test", "slug": slug, "timezone": "Europe/London", "default_region": "GB",
        "calling_window": {"start": "00:00", "end": "24:00"},
        "voice": {"provider": provider}, "max_concurrent_calls": max_calls
    });
    if let (Some(tenant), Some(more)) = (tenant.as_object_mut(), settings.as_object()) {
        tenant.extend(more.clone());
    }
    let created = s
        .call(
            Method::POST,
            "api",
            "/v1/tenants",
            Some(&s.admin_key),
            Some(Body::Json(tenant)),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let key = created.body["api_key"].as_str().unwrap().to_owned();
    let campaign = s
        .call(
            Method::POST,
            "api",
            "/v1/campaigns",
            Some(&key),
            Some(Body::Json(campaign)),
        )
        .await;
    assert_eq!(campaign.status, 201, "{campaign:?}");
    let campaign = campaign.body["id"].as_str().unwrap().to_owned();
    let csv = format!(
        "name,phone\n{}",
        phones
            .iter()
            .map(|p| format!("Ada Lovelace,{p}\n"))
            .collect::<String>()
    );
    let imported = s
        .call(
            Method::POST,
            "api",
            &format!("/v1/campaigns/{campaign}/leads:import"),
            Some(&key),
            Some(Body::Csv(csv.into_bytes())),
        )
        .await;
    assert_eq!(imported.body["imported"], phones.len(), "{imported:?}");
    let listed = s
        .get(&key, &format!("/v1/campaigns/{campaign}/leads?limit=100"))
        .await;
    let mut leads: Vec<Lead> = serde_json::from_value(listed.body["items"].clone()).unwrap();
    // In the order of `phones`, so lead i is the one called at phones[i].
    leads.sort_by_key(|l| phones.iter().position(|p| p == l.phone.e164()));
    Setup {
        slug,
        key,
        campaign,
        leads,
    }
}

impl Setup {
    pub fn tenant(&self) -> TenantId {
        TenantId::parse(&self.slug).unwrap()
    }

    /// Queues attempt 1 of lead `i` as a campaign sweep would.
    pub async fn queue(&self, i: usize) -> DialJob {
        let mut lead = self.leads[i].clone();
        lead.queue(1, Timestamp::now()).unwrap();
        store()
            .await
            .commit(&[Change::Save(Entity::Lead(lead.clone()))])
            .await
            .unwrap();
        DialJob {
            manual: true,
            ..DialJob::for_lead(&lead, true)
        }
    }

    /// Queues lead `i` and records its attempt with its slots, as the
    /// dispatcher does just before it asks the provider.
    pub async fn dialing(&self, i: usize, provider: VoiceProvider) -> CallRef {
        let job = self.queue(i).await;
        let store = store().await;
        let tenant = store.tenant(&self.tenant()).await.unwrap().unwrap();
        // Stuck from the start: a call the test leaves in flight holds the
        // provider account's slot only until the next sweep frees it.
        let attempt = CallAttempt {
            stuck_after: Some(Timestamp::now()),
            ..CallAttempt::dialing(
                &job.call(),
                job.campaign.clone(),
                provider,
                Timestamp::now(),
            )
        };
        let limits = DeploymentLimits {
            calls_per_second: 1000,
            ..DeploymentLimits::default()
        };
        let mut claim = limits.claim(&attempt, &tenant, None, Timestamp::now());
        claim.pace.second = 7; // a second of the distant past: no pace shared with live dials
        store
            .commit(&[
                Change::Create(Entity::Attempt(attempt)),
                Change::TakeSlots(claim),
            ])
            .await
            .unwrap();
        job.call()
    }

    pub async fn lead(&self, i: usize) -> Value {
        stack()
            .get(&self.key, &format!("/v1/leads/{}", self.leads[i].id))
            .await
            .body
    }

    pub async fn wait_for_lead(&self, i: usize, done: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_lead_for(i, Duration::from_secs(60), done)
            .await
    }

    pub async fn wait_for_lead_for(
        &self,
        i: usize,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..within.as_millis() / 200 {
            let lead = self.lead(i).await;
            if done(&lead) {
                return lead;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("lead {i} never got there: {}", self.lead(i).await);
    }

    pub async fn slots_held(&self) -> usize {
        store()
            .await
            .slot_holders(&SlotScope::Tenant(self.tenant()))
            .await
            .unwrap()
            .len()
    }

    /// The slots this tenant's first attempts hold in every scope: the
    /// provider account's (shared with every other tenant), the tenant's and
    /// its campaign's.
    pub async fn slots_held_by_scope(&self, provider: VoiceProvider) -> [usize; 3] {
        let ours: Vec<AttemptId> = self
            .leads
            .iter()
            .map(|l| AttemptId::derive(&l.id, 1))
            .collect();
        let campaign = CampaignId::parse(&self.campaign).unwrap();
        let store = store().await;
        let mut held = [0; 3];
        for (i, scope) in [
            SlotScope::Provider(provider),
            SlotScope::Tenant(self.tenant()),
            SlotScope::Campaign(self.tenant(), campaign),
        ]
        .iter()
        .enumerate()
        {
            let holders = store.slot_holders(scope).await.unwrap();
            held[i] = holders.iter().filter(|h| ours.contains(h)).count();
        }
        held
    }

    pub async fn items_with_prefix(
        &self,
        prefix: &str,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue as A;
        stack()
            .dynamodb()
            .await
            .query()
            .table_name(&stack().table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", A::S(format!("T#{}", self.slug)))
            .expression_attribute_values(":p", A::S(prefix.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }
}

/// An SQS event of dial messages, as Lambda's event source mapping sends it.
pub fn sqs_event(messages: &[DialMessage]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({
            "messageId": format!("m{i}"), "receiptHandle": "r", "body": serde_json::to_string(m).unwrap(),
            "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:dial", "awsRegion": "us-east-1"
        }))
        .collect();
    json!({ "Records": records })
}

pub async fn sim(method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = stack()
        .http()
        .request(method, format!("{}{path}", var("LEADLINE_SIM_URL")));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the simulator answers");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap_or(Value::Null)
}

pub async fn sim_calls(to: &str) -> Vec<Value> {
    let calls = sim(
        Method::GET,
        &format!("/_sim/calls?to={}", to.replace('+', "%2B")),
        None,
    )
    .await;
    calls.as_array().cloned().unwrap_or_default()
}

pub async fn dispatch(messages: &[DialMessage]) -> Value {
    let (status, answer) = stack()
        .invoke("call-dispatcher", &sqs_event(messages))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The messages the messenger took on for `lead` (the one deployed on the
/// messenger's queue records each job as a message), once there are `n`.
pub async fn lead_messages(key: &str, lead: &LeadId, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let answer = stack()
            .get(key, &format!("/v1/leads/{lead}/messages"))
            .await;
        let items = answer.body["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || std::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A Retell webhook body about `call` (one leadline placed): `call_started`,
/// `call_ended` (126 s, the agent hung up) or `call_analyzed` (an appointment set).
pub fn retell_call(call: &CallRef, call_id: &str, event: &str) -> Value {
    let mut body = json!({
        "event": event,
        "call": {
            "call_id": call_id, "agent_id": "agent_leadline_shared", "agent_version": 1,
            "call_status": if event == "call_started" { "ongoing" } else { "ended" },
            "call_type": "phone_call", "direction": "outbound",
            "from_number": "+14155550100", "to_number": "+447400000000",
            "metadata": call.to_metadata(),
            "retell_llm_dynamic_variables": {"first_name": "Ada"},
            "start_timestamp": 1_763_800_000_000u64,
        }
    });
    if event != "call_started" {
        body["call"]["end_timestamp"] = json!(1_763_800_125_400u64);
        body["call"]["duration_ms"] = json!(125_400);
        body["call"]["disconnection_reason"] = json!("agent_hangup");
        body["call"]["transcript"] = json!("Agent: Hello Ada...\nUser: Tuesday works.");
        body["call"]["call_cost"] = json!({"combined_cost": 18.4, "total_duration_seconds": 126});
    }
    if event == "call_analyzed" {
        body["call"]["call_analysis"] = json!({
            "call_summary": "Booked a consultation for Tuesday.", "call_successful": true,
            "user_sentiment": "Positive", "in_voicemail": false,
            "custom_analysis_data": {"outcome": "appointment_set"}
        });
    }
    body
}
