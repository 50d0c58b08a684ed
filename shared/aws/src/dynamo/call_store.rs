//! Calls in DynamoDB: attempts, concurrency slots, call starts per second,
//! event dedupe keys, usage and the do-not-call list, and the pieces of the
//! one write (`super::commit`) that touch them.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Put, TransactWriteItem, Update,
};
use leadline_core::billing::UsageRecord;
use leadline_core::calling::attempt::CallAttempt;
use leadline_core::calling::call::CallRef;
use leadline_core::calling::suppression::Suppression;
use leadline_core::calling::waiting::Waiter;
use leadline_core::calling::work::{DialJob, SlotScope};
use leadline_core::ports::{
    CallContext, CallStore, DialContext, Page, PageRequest, SuppressionStore, UsageStore,
};
use leadline_core::write::Refused;
use leadline_core::{AttemptId, Error, Result, TenantId};

use super::item::{Item, from_item, to_item};
use super::keys::*;
use super::{DynamoStore, due_keys, items, sdk};

/// Dedupe keys are kept long enough to outlast every provider's retries.
pub(super) const DEDUPE_DAYS: i64 = 30;
/// A second's call-start counter is kept a little past its second.
const PACE_TTL_SECONDS: i64 = 120;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

pub(super) fn attempt_item(attempt: &CallAttempt, version: u64) -> Result<Item> {
    let stored = CallAttempt {
        version,
        ..attempt.clone()
    };
    let (pk, sk) = (tenant_pk(&attempt.tenant), attempt_sk(&attempt.id));
    let mut keys = due_keys(attempt.sweep_at(), &pk, &sk);
    keys.extend([(PK, pk), (SK, sk)]);
    to_item(&stored, &keys)
}

pub(super) fn epoch_seconds_after(days: i64) -> i64 {
    jiff::Timestamp::now().as_second() + days * 86_400
}

impl DynamoStore {
    /// One `TransactWriteItems`. When it is cancelled, the items whose
    /// condition failed say why (`guards[i]` is what a failed condition of
    /// `items[i]` means).
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        guards: &[Refused],
        what: &str,
    ) -> Result<()> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    match refusal(guards, cancelled.cancellation_reasons()) {
                        Some(refused) => Err(Error::Refused(refused)),
                        // Cancelled for a conflict with another transaction: try again.
                        None => Err(Error::Unavailable(format!(
                            "DynamoDB cancelled {what}: {cancelled}"
                        ))),
                    }
                }
                _ => Err(sdk(e)),
            },
        }
    }

    pub(super) fn put(
        &self,
        item: Item,
        condition: Option<(&str, Option<(&str, AttributeValue)>)>,
    ) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.table).set_item(Some(item));
        if let Some((expression, value)) = condition {
            put = put.condition_expression(expression);
            if let Some((name, value)) = value {
                put = put.expression_attribute_values(name, value);
            }
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(internal)?)
            .build())
    }

    pub(super) fn versioned_put(&self, item: Item, read: u64) -> Result<TransactWriteItem> {
        self.put(item, Some(("version = :read", Some((":read", n(read))))))
    }

    /// `ADD holders :me`, if the holder is in already or a slot is free.
    pub(super) fn take_slot(
        &self,
        scope: &SlotScope,
        holder: &AttemptId,
        limit: u32,
    ) -> Result<TransactWriteItem> {
        let (pk, sk) = slot_key(scope);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("ADD holders :me")
            .condition_expression(
                "attribute_not_exists(holders) OR contains(holders, :id) OR size(holders) < :limit",
            )
            .expression_attribute_values(
                ":me",
                AttributeValue::Ss(vec![holder.as_str().to_owned()]),
            )
            .expression_attribute_values(":id", s(holder.as_str()))
            .expression_attribute_values(":limit", n(limit))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn release_slot(
        &self,
        scope: &SlotScope,
        holder: &AttemptId,
    ) -> Result<TransactWriteItem> {
        let (pk, sk) = slot_key(scope);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .update_expression("DELETE holders :me")
            .expression_attribute_values(
                ":me",
                AttributeValue::Ss(vec![holder.as_str().to_owned()]),
            )
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A scope is full: `limit` holders or more (an empty set is no attribute).
    pub(super) fn slots_full(&self, scope: &SlotScope, limit: u32) -> Result<TransactWriteItem> {
        let (pk, sk) = slot_key(scope);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .condition_expression(if limit == 0 {
                "attribute_exists(PK) OR attribute_not_exists(PK)"
            } else {
                "size(holders) >= :limit"
            });
        let check = if limit == 0 {
            check
        } else {
            check.expression_attribute_values(":limit", n(limit))
        };
        Ok(TransactWriteItem::builder()
            .condition_check(check.build().map_err(internal)?)
            .build())
    }

    /// One more call start in the provider account's second, if any are left.
    pub(super) fn count_call_start(
        &self,
        claim: &leadline_core::calling::work::PaceClaim,
    ) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                DEPLOYMENT_PK.to_owned(),
                pace_sk(claim.provider, claim.second),
            )))
            .update_expression("ADD starts :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(starts) OR starts < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(claim.limit))
            .expression_attribute_values(":expires", n(claim.second + PACE_TTL_SECONDS))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Adds a number (or address) to the list unless it is there: the first
    /// entry stays, except that a do-not-call said on a call or entered by
    /// the business replaces an opt-out by message (which START may lift).
    /// Entries written before they held email addresses named the number
    /// `phone`; it is renamed `address` here.
    pub(super) fn suppression_update(&self, entry: &Suppression) -> Result<Update> {
        let item = to_item(entry, &[])?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                tenant_pk(&entry.tenant),
                suppression_sk(entry.address.expose()),
            )));
        let lasting = !entry.source.liftable();
        let mut sets = Vec::new();
        for (i, (name, value)) in item.into_iter().enumerate() {
            if lasting && matches!(name.as_str(), "source" | "reason" | "at") {
                // `lasting_<field>` is written by lasting entries only: a
                // stored lasting entry keeps its own, a liftable one is replaced.
                sets.push(format!("#f{i} = if_not_exists(#l{i}, :v{i})"));
                sets.push(format!("#l{i} = if_not_exists(#l{i}, :v{i})"));
                update =
                    update.expression_attribute_names(format!("#l{i}"), format!("lasting_{name}"));
            } else {
                sets.push(format!("#f{i} = if_not_exists(#f{i}, :v{i})"));
            }
            update = update
                .expression_attribute_names(format!("#f{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        update
            .expression_attribute_names("#old_phone", "phone")
            .update_expression(format!("SET {} REMOVE #old_phone", sets.join(", ")))
            .build()
            .map_err(internal)
    }

    /// Reads `keys` in one `BatchGetItem`; each item comes with its kind,
    /// the sort key's first segment (`TENANT`, `LEAD`, `ATTEMPT`, ...).
    pub(super) async fn batch_get_kinds(&self, keys: Vec<Item>) -> Result<Vec<(String, Item)>> {
        Ok(self
            .batch_get(keys, None)
            .await?
            .into_iter()
            .map(|item| {
                let sk = item.get(SK).and_then(|v| v.as_s().ok());
                let kind = sk.and_then(|sk| sk.split('#').next()).unwrap_or_default();
                (kind.to_owned(), item)
            })
            .collect())
    }
}

/// Why a cancelled transaction was cancelled, from its items' reasons.
pub(super) fn refusal(guards: &[Refused], reasons: &[CancellationReason]) -> Option<Refused> {
    guards
        .iter()
        .zip(reasons)
        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
        .map(|(g, _)| g.clone())
        .min_by_key(Refused::rank)
}

/// A waiter's item: under its scope's partition, next to its slot item.
pub(super) fn waiter_key(waiter: &Waiter) -> (String, String) {
    let (pk, slot_sk) = slot_key(&waiter.scope);
    (pk, waiter_sk(&slot_sk, waiter.since, &waiter.attempt_id()))
}

/// A waiter is kept this long after the job last recorded it: a job whose
/// every retry found no slot records it again each time (10 minutes apart at
/// most), so only a waiter nobody will take again expires.
pub(super) const WAITER_DAYS: i64 = 1;

pub(super) fn waiter_item(waiter: &Waiter) -> Result<Item> {
    let (pk, sk) = waiter_key(waiter);
    let mut item = to_item(waiter, &[(PK, pk), (SK, sk)])?;
    item.insert("expires_at".into(), n(epoch_seconds_after(WAITER_DAYS)));
    Ok(item)
}

pub(super) fn slot_key(scope: &SlotScope) -> (String, String) {
    match scope {
        SlotScope::Provider(provider) => (DEPLOYMENT_PK.to_owned(), provider_slots_sk(*provider)),
        SlotScope::Tenant(tenant) => (tenant_pk(tenant), TENANT_SLOTS_SK.to_owned()),
        SlotScope::Campaign(tenant, campaign) => (tenant_pk(tenant), campaign_slots_sk(campaign)),
    }
}

#[async_trait]
impl CallStore for DynamoStore {
    async fn dial_context(&self, job: &DialJob) -> Result<DialContext> {
        let pk = tenant_pk(&job.tenant);
        let keys = vec![
            Self::key(pk.clone(), TENANT_SK.to_owned()),
            Self::key(pk.clone(), campaign_sk(&job.campaign)),
            Self::key(pk.clone(), lead_sk(&job.lead)),
            Self::key(pk.clone(), attempt_sk(&job.call().attempt_id())),
            Self::key(pk, suppression_sk(job.phone.e164())),
        ];
        let mut ctx = DialContext::default();
        for (kind, item) in self.batch_get_kinds(keys).await? {
            match kind.as_str() {
                "TENANT" => ctx.tenant = Some(from_item(item)?),
                "CAMPAIGN" => ctx.campaign = Some(from_item(item)?),
                "LEAD" => ctx.lead = Some(from_item(item)?),
                "ATTEMPT" => ctx.attempt = Some(from_item(item)?),
                "DNC" => ctx.suppressed = true,
                _ => {}
            }
        }
        Ok(ctx)
    }

    async fn call_context(&self, call: &CallRef) -> Result<CallContext> {
        let pk = tenant_pk(&call.tenant);
        let keys = vec![
            Self::key(pk.clone(), TENANT_SK.to_owned()),
            Self::key(pk.clone(), lead_sk(&call.lead)),
            Self::key(pk.clone(), attempt_sk(&call.attempt_id())),
            Self::key(pk, MESSAGING_SK.to_owned()),
        ];
        let mut ctx = CallContext::default();
        for (kind, item) in self.batch_get_kinds(keys).await? {
            match kind.as_str() {
                "TENANT" => ctx.tenant = Some(from_item(item)?),
                "LEAD" => ctx.lead = Some(from_item(item)?),
                "ATTEMPT" => ctx.attempt = Some(from_item(item)?),
                "MESSAGING" => ctx.messaging = Some(from_item(item)?),
                _ => {}
            }
        }
        Ok(ctx)
    }

    async fn slot_holders(&self, scope: &SlotScope) -> Result<Vec<AttemptId>> {
        let (pk, sk) = slot_key(scope);
        let Some(item) = self.get(pk, sk).await? else {
            return Ok(Vec::new());
        };
        let holders = match item.get("holders") {
            Some(AttributeValue::Ss(ids)) => ids.clone(),
            _ => Vec::new(),
        };
        holders
            .iter()
            .map(|id| AttemptId::parse(id).map_err(internal))
            .collect()
    }

    async fn waiters(&self, scope: &SlotScope, limit: u32) -> Result<Vec<Waiter>> {
        let (pk, slot_sk) = slot_key(scope);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(waiters_prefix(&slot_sk)))
            .consistent_read(true)
            .limit(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(sdk)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }
}

#[async_trait]
impl SuppressionStore for DynamoStore {
    async fn suppressions(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Suppression>> {
        items(
            self.query_page(
                None,
                tenant_pk(tenant),
                Some(SUPPRESSION_PREFIX.to_owned()),
                true,
                page,
            )
            .await?,
        )
    }
}

#[async_trait]
impl UsageStore for DynamoStore {
    async fn usage(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<UsageRecord>> {
        items(
            self.query_page(
                None,
                tenant_pk(tenant),
                Some(USAGE_PREFIX.to_owned()),
                true,
                page,
            )
            .await?,
        )
    }
}
