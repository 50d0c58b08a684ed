//! The one write: a change set is one `TransactWriteItems`. Each change
//! becomes an item with the condition that guards it; when DynamoDB cancels
//! the transaction, the items whose condition failed say why ([`Refused`]).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use leadline_core::calling::waiting::Waiter;
use leadline_core::write::{Change, Commit, Entity, Outbox, Refused};
use leadline_core::{Error, Result};

use super::call_store::{
    DEDUPE_DAYS, attempt_item, epoch_seconds_after, internal, n, s, waiter_item, waiter_key,
};
use super::item::{Item, to_item};
use super::keys::*;
use super::{DynamoStore, due_keys, lead_item, sdk};

/// A transaction holds at most 100 items.
const MAX_ITEMS: usize = 100;

impl DynamoStore {
    /// The key of an entity's item.
    fn entity_key(entity: &Entity) -> (String, String) {
        match entity {
            Entity::Lead(l) => (tenant_pk(&l.tenant), lead_sk(&l.id)),
            Entity::Attempt(a) => (tenant_pk(&a.tenant), attempt_sk(&a.id)),
            Entity::Appointment(a) => (tenant_pk(&a.tenant), appointment_sk(&a.lead, &a.id)),
            Entity::Usage(u) => (tenant_pk(&u.tenant), usage_sk(&u.attempt)),
            Entity::Tool(r) => (tenant_pk(&r.tenant), tool_sk(&r.key)),
            Entity::Message(m) => (tenant_pk(&m.tenant), message_sk(&m.lead, &m.id)),
            Entity::ProviderRef(r) => (tenant_pk(&r.tenant), provider_ref_sk(&r.provider_id)),
        }
    }

    /// An entity's item, stored at `version`.
    fn entity_item(entity: &Entity, version: u64) -> Result<Item> {
        match entity {
            Entity::Lead(lead) => lead_item(lead, version),
            Entity::Attempt(attempt) => attempt_item(attempt, version),
            Entity::Appointment(appointment) => Self::appointment_item(appointment, version),
            Entity::Usage(usage) => {
                let (pk, sk) = Self::entity_key(entity);
                to_item(usage, &[(PK, pk), (SK, sk)])
            }
            Entity::Tool(record) => {
                let (pk, sk) = Self::entity_key(entity);
                let mut item = to_item(record, &[(PK, pk), (SK, sk)])?;
                item.insert("expires_at".into(), n(epoch_seconds_after(DEDUPE_DAYS)));
                Ok(item)
            }
            Entity::Message(message) => Self::message_item(message, version),
            Entity::ProviderRef(r) => Self::provider_ref_item(r),
        }
    }

    /// A change's items, each with what a failure of its condition means.
    fn items_of(&self, change: &Change) -> Result<Vec<(TransactWriteItem, Refused)>> {
        let created = Some(("attribute_not_exists(PK)", None));
        Ok(match change {
            Change::Create(entity) => vec![(
                self.put(Self::entity_item(entity, 1)?, created)?,
                entity.refused_when_exists(),
            )],
            Change::Save(entity) => {
                let read = entity.version();
                let item = Self::entity_item(entity, read + 1)?;
                vec![(self.versioned_put(item, read)?, Refused::Stale)]
            }
            Change::Delete(entity) => {
                let (pk, sk) = Self::entity_key(entity);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(pk, sk)))
                    .condition_expression("version = :read")
                    .expression_attribute_values(":read", n(entity.version()))
                    .build()
                    .map_err(internal)?;
                vec![(
                    TransactWriteItem::builder().delete(delete).build(),
                    Refused::Stale,
                )]
            }
            Change::MoveCampaign { campaign, expected } => {
                let status = |s: leadline_core::intake::campaign::CampaignStatus| {
                    match serde_json::to_value(s) {
                        Ok(serde_json::Value::String(name)) => Ok(super::call_store::s(name)),
                        _ => Err(Error::Internal("a campaign status is a string".into())),
                    }
                };
                let start_at = match campaign.start_at {
                    Some(at) => s(at.to_string()),
                    None => aws_sdk_dynamodb::types::AttributeValue::Null(true),
                };
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(
                        tenant_pk(&campaign.tenant),
                        campaign_sk(&campaign.id),
                    )))
                    .update_expression("SET #status = :to, start_at = :start")
                    .condition_expression("#status = :expected")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":to", status(campaign.status)?)
                    .expression_attribute_values(":expected", status(*expected)?)
                    .expression_attribute_values(":start", start_at)
                    .build()
                    .map_err(internal)?;
                vec![(
                    TransactWriteItem::builder().update(update).build(),
                    Refused::Stale,
                )]
            }
            Change::Dedupe { tenant, key } => {
                let mut item = Self::key(tenant_pk(tenant), event_sk(key));
                item.insert("expires_at".into(), n(epoch_seconds_after(DEDUPE_DAYS)));
                vec![(self.put(item, created)?, Refused::Duplicate)]
            }
            Change::Suppress(entry) => vec![(
                TransactWriteItem::builder()
                    .update(self.suppression_update(entry)?)
                    .build(),
                Refused::Stale,
            )],
            Change::Unsuppress(entry) => vec![(self.unsuppress(entry)?, Refused::Stale)],
            Change::Pace(mark) => vec![(self.pace_update(mark)?, Refused::Stale)],
            Change::NotSuppressed { tenant, address } => {
                let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(
                        tenant_pk(tenant),
                        suppression_sk(address.expose()),
                    )))
                    .condition_expression("attribute_not_exists(PK)")
                    .build()
                    .map_err(internal)?;
                vec![(
                    TransactWriteItem::builder().condition_check(check).build(),
                    Refused::Stale,
                )]
            }
            Change::TakeSlots(claim) => {
                let mut items = Vec::new();
                for (scope, limit) in &claim.scopes {
                    items.push((
                        self.take_slot(scope, &claim.holder, *limit)?,
                        Refused::Precondition(leadline_core::write::Precondition::NoSlot(
                            scope.clone(),
                        )),
                    ));
                }
                items.push((
                    self.count_call_start(&claim.pace)?,
                    Refused::Precondition(leadline_core::write::Precondition::Paced),
                ));
                items
            }
            Change::ReleaseSlots { holder, scopes } => scopes
                .iter()
                .map(|scope| Ok((self.release_slot(scope, holder)?, Refused::Stale)))
                .collect::<Result<_>>()?,
            Change::Outbox(outbox) => {
                vec![(self.put(outbox_item(outbox)?, None)?, Refused::Stale)]
            }
            // The waiter, if its scope is still full: one transaction, so a
            // slot given back before it is written refuses it (and the job
            // is decided again), and one given back after finds it.
            Change::Wait { waiter, limit } => vec![
                (self.put(waiter_item(waiter)?, None)?, Refused::Stale),
                (self.slots_full(&waiter.scope, *limit)?, Refused::Stale),
            ],
            Change::StopWaiting(waiter) => {
                vec![(self.delete_waiter(waiter, false)?, Refused::Stale)]
            }
            Change::Claim(waiter) => vec![(self.delete_waiter(waiter, true)?, Refused::Stale)],
        })
    }
}

impl DynamoStore {
    /// Deletes a waiter; `claimed`: only if it is there (else the
    /// transaction is cancelled: another wake took it).
    fn delete_waiter(&self, waiter: &Waiter, claimed: bool) -> Result<TransactWriteItem> {
        let (pk, sk) = waiter_key(waiter);
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)));
        if claimed {
            delete = delete.condition_expression("attribute_exists(PK)");
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(internal)?)
            .build())
    }
}

/// An outbox item: under its tenant, in the due index from its `due_at`.
fn outbox_item(outbox: &Outbox) -> Result<Item> {
    let (pk, sk) = (tenant_pk(&outbox.tenant), outbox_sk(&outbox.id));
    let mut keys = due_keys(Some(outbox.due_at), &pk, &sk);
    keys.extend([(PK, pk), (SK, sk)]);
    to_item(outbox, &keys)
}

#[async_trait]
impl Commit for DynamoStore {
    async fn commit(&self, changes: &[Change]) -> Result<()> {
        let mut items = Vec::new();
        let mut guards = Vec::new();
        for change in changes {
            for (item, guard) in self.items_of(change)? {
                items.push(item);
                guards.push(guard);
            }
        }
        match items.len() {
            0 => Ok(()),
            n if n > MAX_ITEMS => Err(Error::Internal(format!(
                "a change set of {n} items is more than one transaction holds"
            ))),
            _ => self.transact(items, &guards, "a change set").await,
        }
    }

    async fn clear_outbox(&self, outbox: &Outbox) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                tenant_pk(&outbox.tenant),
                outbox_sk(&outbox.id),
            )))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }
}
