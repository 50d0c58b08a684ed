//! The DynamoDB store: one table, every key under its tenant, every state
//! change a conditional write.

mod call_store;
mod commit;
mod cursor;
mod due;
mod in_call;
pub mod item;
pub mod keys;
mod messaging;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use futures::{StreamExt, TryStreamExt, stream};
use leadline_core::calling::lead::{Lead, LeadStatus};
use leadline_core::intake::campaign::Campaign;
use leadline_core::intake::tenant::Tenant;
use leadline_core::ports::{CampaignStore, LeadStore, Page, PageRequest, TenantStore};
use leadline_core::{CampaignId, Error, LeadId, Result, TenantId};

use crate::calls::Calls;
use item::{Item, from_item, to_item};
use keys::*;

/// TransactWriteItems takes at most 100 actions, BatchGetItem at most 100 keys.
const CREATE_BATCH: usize = 100;
const GET_BATCH: usize = 100;
/// Retries of unprocessed batch items (throttling), and of creates cancelled
/// by a conflict or throttling, with exponential backoff from 25 ms.
const BATCH_RETRIES: u32 = 8;
/// Batch requests in flight at once. A 100,000-row import is 1,000
/// transactions: one at a time they would not finish inside API Gateway's 30 s.
const BATCH_CONCURRENCY: usize = 16;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    calls: Calls,
}

impl DynamoStore {
    /// A store over `client`, which it rebuilds with its request counter.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let calls = Calls::default();
        let config = client.config().to_builder();
        Self {
            client: calls.counting(config),
            table: table.into(),
            calls,
        }
    }

    /// A store with a client of its own built from the SDK configuration:
    /// what a function does at a cold start (one client, built once).
    pub fn from_aws(aws: &crate::Aws, table: impl Into<String>) -> Self {
        let calls = Calls::default();
        Self {
            client: calls.counting(aws_sdk_dynamodb::config::Builder::from(&aws.config)),
            table: table.into(),
            calls,
        }
    }

    /// The requests this store's client has executed so far, by operation,
    /// and the items its reads returned.
    pub fn calls(&self) -> &Calls {
        &self.calls
    }

    fn key(pk: String, sk: String) -> Item {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk)),
            (SK.to_owned(), AttributeValue::S(sk)),
        ])
    }

    async fn get(&self, pk: String, sk: String) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    /// Puts an item that must not exist yet; an existing one is a `Conflict` saying `what`.
    async fn put_new(&self, item: Item, what: &str) -> Result<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        conditional(result, || Error::Conflict(format!("{what} exists")))
    }

    /// BatchGetItem in chunks of 100 (several in flight), retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<Item>, projection: Option<&str>) -> Result<Vec<Item>> {
        let chunks: Vec<_> = keys
            .chunks(GET_BATCH)
            .map(|chunk| self.batch_get_chunk(chunk.to_vec(), projection))
            .collect();
        let found: Vec<Vec<Item>> = stream::iter(chunks)
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(
        &self,
        keys: Vec<Item>,
        projection: Option<&str>,
    ) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .set_projection_expression(projection.map(str::to_owned))
            .consistent_read(true)
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        for attempt in 0..=BATCH_RETRIES {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await
                .map_err(sdk)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => pending = rest,
                _ => return Ok(found),
            }
            if attempt < BATCH_RETRIES {
                backoff(attempt).await;
            }
        }
        Err(Error::Unavailable(
            "DynamoDB kept throttling a batch read".into(),
        ))
    }

    /// Creates up to 100 leads in one `TransactWriteItems`, each Put on
    /// `attribute_not_exists(PK)`, and answers the ids of those already there.
    /// A cancelled transaction wrote nothing: its leads whose condition failed
    /// exist (another import created them) and are dropped, the rest are sent
    /// again; a cancellation for conflicts or throttling alone is retried with
    /// backoff. Only a cancellation is resent: after any other failure (a
    /// timeout, say) the transaction may have been written, and resending it
    /// would count its own leads as already there. The SDK's own retries of
    /// one transaction share its `ClientRequestToken`, so DynamoDB applies it once.
    async fn create_chunk(&self, chunk: &[&Lead]) -> Result<Vec<LeadId>> {
        let mut pending: Vec<(LeadId, TransactWriteItem)> = chunk
            .iter()
            .map(|lead| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(lead_item(lead, 0)?))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(|e| Error::Internal(e.to_string()))?;
                Ok((
                    lead.id.clone(),
                    TransactWriteItem::builder().put(put).build(),
                ))
            })
            .collect::<Result<_>>()?;
        let mut existing = Vec::new();
        let mut backoffs = 0;
        // Bounded: each round drops at least one existing lead, or backs off
        // (at most BATCH_RETRIES times).
        while !pending.is_empty() {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(pending.iter().map(|(_, item)| item.clone()).collect()))
                .send()
                .await;
            let reasons: Vec<String> = match result {
                Ok(_) => break,
                Err(e) => match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled))
                        if cancelled.cancellation_reasons().len() == pending.len() =>
                    {
                        cancelled
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("None").to_owned())
                            .collect()
                    }
                    _ => return Err(sdk(e)),
                },
            };
            const EXISTS: &str = "ConditionalCheckFailed";
            if let Some(code) = reasons.iter().find(|c| {
                !matches!(
                    c.as_str(),
                    "None"
                        | EXISTS
                        | "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                        | "RequestLimitExceeded"
                )
            }) {
                return Err(Error::Internal(format!(
                    "DynamoDB cancelled the creation of leads: {code}"
                )));
            }
            let contended = reasons.iter().any(|c| c != "None" && c != EXISTS);
            let found_existing = reasons.iter().any(|c| c == EXISTS);
            let mut reasons = reasons.iter();
            pending.retain(|(id, _)| {
                let exists = reasons.next().is_some_and(|c| c == EXISTS);
                if exists {
                    existing.push(id.clone());
                }
                !exists
            });
            if contended || !found_existing {
                if backoffs == BATCH_RETRIES {
                    return Err(Error::Unavailable(
                        "DynamoDB kept cancelling the import's writes (conflicts or throttling); send the same file again to finish it".into(),
                    ));
                }
                backoff(backoffs).await;
                backoffs += 1;
            }
        }
        Ok(existing)
    }

    async fn query_page(
        &self,
        index: Option<&str>,
        partition: String,
        sort_prefix: Option<String>,
        forward: bool,
        page: &PageRequest,
    ) -> Result<Page<Item>> {
        let (pk_name, sk_name) = if index.is_some() {
            (GSI1PK, GSI1SK)
        } else {
            (PK, SK)
        };
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, &partition))
            .transpose()?;
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", AttributeValue::S(partition))
            .scan_index_forward(forward)
            .limit(page.limit.clamp(1, PageRequest::MAX_LIMIT) as i32)
            .set_exclusive_start_key(start);
        query = match sort_prefix {
            None => query.key_condition_expression("#pk = :pk"),
            Some(prefix) => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":prefix", AttributeValue::S(prefix)),
        };
        let out = query.send().await.map_err(sdk)?;
        Ok(Page {
            items: out.items.unwrap_or_default(),
            next_cursor: out.last_evaluated_key.as_ref().map(cursor::encode),
        })
    }
}

fn items<T: serde::de::DeserializeOwned>(page: Page<Item>) -> Result<Page<T>> {
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?,
        next_cursor: page.next_cursor,
    })
}

fn lead_item(lead: &Lead, version: u64) -> Result<Item> {
    let stored = Lead {
        version,
        ..lead.clone()
    };
    let (pk, sk) = (tenant_pk(&lead.tenant), lead_sk(&lead.id));
    let mut keys = vec![
        (GSI1PK, campaign_leads_pk(&lead.tenant, &lead.campaign)),
        (GSI1SK, lead_by_status_sk(lead.status, &lead.id)),
    ];
    keys.extend(due_keys(lead.sweep_at(), &pk, &sk));
    keys.extend([(PK, pk), (SK, sk)]);
    to_item(&stored, &keys)
}

/// GSI2's keys for an item with work due at `at` (none: not in the index).
fn due_keys(at: Option<jiff::Timestamp>, pk: &str, sk: &str) -> Vec<(&'static str, String)> {
    at.map(|at| {
        vec![
            (keys::GSI2PK, keys::due_pk(pk, sk)),
            (keys::GSI2SK, keys::due_sk(at, pk, sk)),
        ]
    })
    .unwrap_or_default()
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(25 << attempt.min(6))).await;
}

/// Maps an SDK failure: throttling and transport trouble can be retried (503),
/// anything else is ours to fix (500).
fn sdk<E, R>(e: SdkError<E, R>) -> Error
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let code = e
        .as_service_error()
        .and_then(|s| s.code())
        .unwrap_or_default()
        .to_owned();
    let retryable = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_))
        || code.contains("Throughput")
        || code.contains("Throttl")
        || code == "RequestLimitExceeded";
    let detail = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
    if retryable {
        Error::Unavailable(format!("DynamoDB: {detail}"))
    } else {
        Error::Internal(format!("DynamoDB: {detail}"))
    }
}

/// The result of a conditional write: a failed condition (or a transaction
/// cancelled by one) becomes `refused`, any other failure is mapped by [`sdk`].
fn conditional<O, E, R>(
    result: std::result::Result<O, SdkError<E, R>>,
    refused: impl FnOnce() -> Error,
) -> Result<()>
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let Err(e) = result else { return Ok(()) };
    let code = e.as_service_error().and_then(|s| s.code());
    if matches!(
        code,
        Some("ConditionalCheckFailedException" | "TransactionCanceledException")
    ) {
        Err(refused())
    } else {
        Err(sdk(e))
    }
}

#[async_trait]
impl TenantStore for DynamoStore {
    async fn create_tenant(&self, tenant: &Tenant, key_hash: &str) -> Result<()> {
        let pk = tenant_pk(&tenant.id);
        let tenant_item = to_item(tenant, &[(PK, pk.clone()), (SK, TENANT_SK.to_owned())])?;
        let key_item = Self::key(pk, api_key_sk(key_hash));
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
                .build()
                .map_err(|e| Error::Internal(e.to_string()))
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put(tenant_item)?).build())
            .transact_items(TransactWriteItem::builder().put(put(key_item)?).build())
            .send()
            .await;
        conditional(result, || {
            Error::Conflict(format!("the slug {:?} is taken", tenant.id.as_str()))
        })
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        self.get(tenant_pk(id), TENANT_SK.to_owned())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn tenant_by_key(&self, id: &TenantId, key_hash: &str) -> Result<Option<Tenant>> {
        let pk = tenant_pk(id);
        let keys = vec![
            Self::key(pk.clone(), TENANT_SK.to_owned()),
            Self::key(pk, api_key_sk(key_hash)),
        ];
        let found = self.batch_get(keys, None).await?;
        let key_known = found.iter().any(|i| {
            i.get(SK)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s.starts_with("KEY#"))
        });
        let tenant = found.into_iter().find(|i| {
            i.get(SK)
                .and_then(|v| v.as_s().ok())
                .is_some_and(|s| s == TENANT_SK)
        });
        match (key_known, tenant) {
            (true, Some(item)) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn create_campaign(&self, campaign: &Campaign) -> Result<()> {
        let item = to_item(
            campaign,
            &[
                (PK, tenant_pk(&campaign.tenant)),
                (SK, campaign_sk(&campaign.id)),
            ],
        )?;
        self.put_new(item, "the campaign").await
    }

    async fn campaign(&self, tenant: &TenantId, id: &CampaignId) -> Result<Option<Campaign>> {
        self.get(tenant_pk(tenant), campaign_sk(id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn campaigns(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Campaign>> {
        items(
            self.query_page(
                None,
                tenant_pk(tenant),
                Some(CAMPAIGN_PREFIX.to_owned()),
                false,
                page,
            )
            .await?,
        )
    }

    async fn add_leads_to_count(
        &self,
        tenant: &TenantId,
        id: &CampaignId,
        added: u64,
    ) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant_pk(tenant), campaign_sk(id))))
            .update_expression("ADD lead_count :n")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":n", AttributeValue::N(added.to_string()))
            .send()
            .await;
        conditional(result, || Error::NotFound("campaign"))
    }
}

#[async_trait]
impl LeadStore for DynamoStore {
    async fn existing_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<HashSet<LeadId>> {
        let pk = tenant_pk(tenant);
        let keys = ids
            .iter()
            .map(|id| Self::key(pk.clone(), lead_sk(id)))
            .collect();
        let found = self.batch_get(keys, Some("SK")).await?;
        Ok(found
            .iter()
            .filter_map(|i| {
                i.get(SK)?
                    .as_s()
                    .ok()?
                    .strip_prefix("LEAD#")
                    .map(LeadId::parse)?
                    .ok()
            })
            .collect())
    }

    async fn insert_leads(&self, leads: &[Lead]) -> Result<HashSet<LeadId>> {
        // One transaction may not touch an item twice: a lead given twice is
        // created by its first copy and is already there for the second.
        let mut seen = HashSet::with_capacity(leads.len());
        let (mut unique, mut existing) = (Vec::with_capacity(leads.len()), HashSet::new());
        for lead in leads {
            if seen.insert(&lead.id) {
                unique.push(lead);
            } else {
                existing.insert(lead.id.clone());
            }
        }
        let chunks: Vec<_> = unique
            .chunks(CREATE_BATCH)
            .map(|chunk| self.create_chunk(chunk))
            .collect();
        let taken: Vec<Vec<LeadId>> = stream::iter(chunks)
            .buffer_unordered(BATCH_CONCURRENCY)
            .try_collect()
            .await?;
        existing.extend(taken.into_iter().flatten());
        Ok(existing)
    }

    async fn lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>> {
        self.get(tenant_pk(tenant), lead_sk(id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn leads(
        &self,
        tenant: &TenantId,
        campaign: &CampaignId,
        status: Option<LeadStatus>,
        page: &PageRequest,
    ) -> Result<Page<Lead>> {
        let prefix = status.map(|s| format!("{}#", s.as_str()));
        items(
            self.query_page(
                Some(GSI1),
                campaign_leads_pk(tenant, campaign),
                prefix,
                true,
                page,
            )
            .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    use leadline_core::intake::import::parse_csv;

    use super::*;

    /// A DynamoDB client whose answers are `answers` (status, body), in order.
    fn replaying(answers: &[(u16, &str)]) -> (DynamoStore, StaticReplayClient) {
        let events = answers
            .iter()
            .map(|(status, body)| {
                let request = http::Request::builder()
                    .uri("http://dynamodb.local")
                    .body(SdkBody::empty())
                    .unwrap();
                let response = http::Response::builder()
                    .status(*status)
                    .body(SdkBody::from(*body))
                    .unwrap();
                ReplayEvent::new(request, response)
            })
            .collect();
        let replay = StaticReplayClient::new(events);
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url("http://dynamodb.local")
            .http_client(replay.clone())
            .build();
        (DynamoStore::new(Client::from_conf(config), "leads"), replay)
    }

    fn leads(n: usize) -> Vec<Lead> {
        let csv: String = std::iter::once("number\n".to_owned())
            .chain((0..n).map(|i| format!("+1 212 555 {:04}\n", 1000 + i)))
            .collect();
        let tenant = TenantId::parse("acme").unwrap();
        let campaign = CampaignId::from_bytes(&[1; 15]);
        parse_csv(csv.as_bytes(), leadline_core::Region::parse("US").unwrap())
            .unwrap()
            .rows
            .into_iter()
            .map(|row| row.into_lead(&tenant, &campaign, jiff::Timestamp::UNIX_EPOCH))
            .collect()
    }

    /// DynamoDB's answer to a transaction it cancelled, with each item's reason.
    fn cancelled(codes: &[&str]) -> (u16, String) {
        let reasons: Vec<String> = codes
            .iter()
            .map(|c| format!(r#"{{"Code":"{c}"}}"#))
            .collect();
        let body = format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{}]}}"#,
            reasons.join(",")
        );
        (400, body)
    }

    fn bodies(replay: &StaticReplayClient) -> Vec<String> {
        replay
            .actual_requests()
            .map(|r| String::from_utf8(r.body().bytes().unwrap().to_vec()).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn n_new_leads_are_created_in_ceil_n_over_100_conditional_transactions() {
        let (store, replay) = replaying(&[(200, "{}"); 3]);
        let existing = store.insert_leads(&leads(201)).await.unwrap();
        assert!(existing.is_empty());
        assert_eq!(store.calls().count("TransactWriteItems"), 3);
        assert_eq!(store.calls().snapshot().len(), 1, "nothing else was sent");
        let mut sizes: Vec<usize> = bodies(&replay)
            .iter()
            .map(|b| {
                assert_eq!(
                    b.matches(r#""Put":"#).count(),
                    b.matches("attribute_not_exists(PK)").count(),
                    "every create is conditional"
                );
                b.matches(r#""Put":"#).count()
            })
            .collect();
        sizes.sort();
        assert_eq!(sizes, vec![1, 100, 100]);
    }

    #[tokio::test]
    async fn leads_found_existing_at_write_time_are_answered_and_the_rest_sent_again_without_them()
    {
        let leads = leads(3);
        let taken = cancelled(&["None", "ConditionalCheckFailed", "None"]);
        let (store, replay) = replaying(&[(taken.0, &taken.1), (200, "{}")]);
        let existing = store.insert_leads(&leads).await.unwrap();

        assert_eq!(existing, HashSet::from([leads[1].id.clone()]));
        assert_eq!(store.calls().count("TransactWriteItems"), 2);
        let sent = bodies(&replay);
        assert_eq!(sent[0].matches(r#""Put":"#).count(), 3);
        assert_eq!(sent[1].matches(r#""Put":"#).count(), 2);
        assert!(
            !sent[1].contains(&lead_sk(&leads[1].id)),
            "the existing lead is not sent again"
        );
        assert!(
            sent[1].contains(&lead_sk(&leads[0].id)) && sent[1].contains(&lead_sk(&leads[2].id))
        );
    }

    #[tokio::test]
    async fn a_lead_given_twice_is_created_once_and_is_already_there_the_second_time() {
        let mut given = leads(2);
        given.push(given[0].clone());
        let (store, replay) = replaying(&[(200, "{}")]);
        let existing = store.insert_leads(&given).await.unwrap();
        assert_eq!(existing, HashSet::from([given[0].id.clone()]));
        assert_eq!(bodies(&replay)[0].matches(r#""Put":"#).count(), 2);
    }

    #[tokio::test]
    async fn creates_still_cancelled_by_conflicts_after_every_retry_are_unavailable_not_lost_silently()
     {
        let conflict = cancelled(&["TransactionConflict", "None", "None"]);
        let answers = vec![(conflict.0, conflict.1.as_str()); BATCH_RETRIES as usize + 1];
        let (store, _) = replaying(&answers);
        let result = store.insert_leads(&leads(3)).await;
        assert!(
            matches!(result, Err(Error::Unavailable(ref m)) if m.contains("send the same file again")),
            "{result:?}"
        );
        assert_eq!(
            store.calls().count("TransactWriteItems"),
            u64::from(BATCH_RETRIES) + 1
        );
    }

    #[tokio::test]
    async fn a_create_cancelled_for_any_other_reason_is_an_error_and_not_sent_again() {
        let invalid = cancelled(&["None", "ValidationError", "None"]);
        let (store, _) = replaying(&[(invalid.0, &invalid.1)]);
        let result = store.insert_leads(&leads(3)).await;
        assert!(
            matches!(result, Err(Error::Internal(ref m)) if m.contains("ValidationError")),
            "{result:?}"
        );
        assert_eq!(store.calls().count("TransactWriteItems"), 1);
    }
}
