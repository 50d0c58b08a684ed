//! Messages, their provider ids, messaging settings, claimed senders and
//! senders' pacing.
//!
//! A message is one item under its lead (`MSG#<lead>#<message>`), in GSI1
//! by status. Everything a message job needs is one `BatchGetItem`: the
//! message, its lead, the tenant, its settings, the do-not-call entries of
//! the address and the lead's number, the sender's pace and the appointment.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem, Update};
use leadline_core::calling::suppression::Suppression;
use leadline_core::messaging::message::{Message, MessageJob, MessageStatus, ProviderRef};
use leadline_core::messaging::provider::InboundAddress;
use leadline_core::messaging::settings::MessagingSettings;
use leadline_core::ports::{InboundContext, MessageStore, Page, PageRequest, SendContext};
use leadline_core::write::{PaceMark, Refused};
use leadline_core::{Error, LeadId, MessageId, Phone, Result, TenantId};

use super::call_store::{internal, n, s};
use super::item::{Item, from_item, to_item};
use super::keys::*;
use super::{DynamoStore, items};

impl DynamoStore {
    pub(super) fn message_item(message: &Message, version: u64) -> Result<Item> {
        let stored = Message {
            version,
            ..message.clone()
        };
        let (pk, sk) = (
            tenant_pk(&message.tenant),
            message_sk(&message.lead, &message.id),
        );
        to_item(
            &stored,
            &[
                (GSI1PK, messages_by_status_pk(&message.tenant)),
                (
                    GSI1SK,
                    message_by_status_sk(message.status.as_str(), message.created_at, &message.id),
                ),
                (PK, pk),
                (SK, sk),
            ],
        )
    }

    pub(super) fn provider_ref_item(r: &ProviderRef) -> Result<Item> {
        to_item(
            r,
            &[
                (PK, tenant_pk(&r.tenant)),
                (SK, provider_ref_sk(&r.provider_id)),
            ],
        )
    }

    /// The sender's next free time moves from the one read (none: no item
    /// yet) to the next; another send that moved it first cancels this.
    pub(super) fn pace_update(&self, mark: &PaceMark) -> Result<TransactWriteItem> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                tenant_pk(&mark.tenant),
                message_pace_sk(&mark.key),
            )))
            .update_expression("SET next_ms = :next")
            .expression_attribute_values(":next", n(mark.next.as_millisecond()));
        update = match mark.read {
            None => update.condition_expression("attribute_not_exists(PK)"),
            Some(read) => update
                .condition_expression("next_ms = :read")
                .expression_attribute_values(":read", n(read.as_millisecond())),
        };
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(internal)?)
            .build())
    }

    /// A do-not-call entry goes, if it is still the one read.
    pub(super) fn unsuppress(&self, entry: &Suppression) -> Result<TransactWriteItem> {
        let source = match serde_json::to_value(entry.source) {
            Ok(serde_json::Value::String(name)) => name,
            _ => return Err(Error::Internal("a suppression source is a string".into())),
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(
                tenant_pk(&entry.tenant),
                suppression_sk(entry.address.expose()),
            )))
            .condition_expression("#source = :source AND #at = :at")
            .expression_attribute_names("#source", "source")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":source", s(source))
            .expression_attribute_values(":at", s(entry.at.to_string()))
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    async fn prefix_all(&self, pk: String, prefix: String) -> Result<Vec<Item>> {
        let mut found = Vec::new();
        let mut page = PageRequest {
            limit: PageRequest::MAX_LIMIT,
            cursor: None,
        };
        loop {
            let got = self
                .query_page(None, pk.clone(), Some(prefix.clone()), true, &page)
                .await?;
            found.extend(got.items);
            match got.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(found),
            }
        }
    }
}

fn pace_of(item: &Item) -> Option<jiff::Timestamp> {
    match item.get("next_ms") {
        Some(AttributeValue::N(ms)) => ms
            .parse::<i64>()
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()),
        _ => None,
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn send_context(&self, job: &MessageJob) -> Result<SendContext> {
        let pk = tenant_pk(&job.tenant);
        let mut keys = vec![
            Self::key(pk.clone(), message_sk(&job.lead, &job.id)),
            Self::key(pk.clone(), lead_sk(&job.lead)),
            Self::key(pk.clone(), TENANT_SK.to_owned()),
            Self::key(pk.clone(), MESSAGING_SK.to_owned()),
            Self::key(pk.clone(), suppression_sk(job.to.expose())),
            Self::key(pk.clone(), message_pace_sk(job.channel.as_str())),
        ];
        if let Some(phone) = &job.lead_phone
            && phone.e164() != job.to.expose()
        {
            keys.push(Self::key(pk.clone(), suppression_sk(phone.e164())));
        }
        if let Some(a) = &job.appointment {
            keys.push(Self::key(pk, appointment_sk(&job.lead, &a.id)));
        }
        let mut ctx = SendContext::default();
        for (kind, item) in self.batch_get_kinds(keys).await? {
            match kind.as_str() {
                "MSG" => ctx.message = Some(from_item(item)?),
                "LEAD" => ctx.lead = Some(from_item(item)?),
                "TENANT" => ctx.tenant = Some(from_item(item)?),
                "MESSAGING" => ctx.settings = Some(from_item(item)?),
                "DNC" => ctx.suppressions.push(from_item(item)?),
                "MSGPACE" => ctx.pace = pace_of(&item),
                "APPT" => ctx.appointment = Some(from_item(item)?),
                _ => {}
            }
        }
        Ok(ctx)
    }

    async fn inbound_context(&self, tenant: &TenantId, from: &Phone) -> Result<InboundContext> {
        let pk = tenant_pk(tenant);
        let mut ctx = InboundContext::default();
        let keys = vec![
            Self::key(pk.clone(), TENANT_SK.to_owned()),
            Self::key(pk.clone(), MESSAGING_SK.to_owned()),
            Self::key(pk.clone(), suppression_sk(from.e164())),
        ];
        for (kind, item) in self.batch_get_kinds(keys).await? {
            match kind.as_str() {
                "TENANT" => ctx.tenant = Some(from_item(item)?),
                "MESSAGING" => ctx.settings = Some(from_item(item)?),
                "DNC" => ctx.suppression = Some(from_item(item)?),
                _ => {}
            }
        }
        // The number's lead in each campaign: ids derive from the number.
        let campaigns = self.prefix_all(pk.clone(), "CAMPAIGN#".into()).await?;
        // And the caller's own lead, when the number called in.
        let mut lead_keys = vec![Self::key(
            pk.clone(),
            lead_sk(&LeadId::for_caller(tenant, from)),
        )];
        for item in campaigns {
            let campaign: leadline_core::intake::campaign::Campaign = from_item(item)?;
            let id = LeadId::derive(tenant, &campaign.id, from);
            lead_keys.push(Self::key(pk.clone(), lead_sk(&id)));
        }
        for item in self.batch_get(lead_keys, None).await? {
            ctx.leads.push(from_item(item)?);
        }
        let owner = leadline_core::messaging::inbound::talked_to(&ctx.leads, tenant, from);
        for item in self.prefix_all(pk.clone(), messages_prefix(&owner)).await? {
            ctx.messages.push(from_item(item)?);
        }
        ctx.messages.sort_by_key(|m| m.created_at);
        for item in self.prefix_all(pk, appointments_prefix(&owner)).await? {
            ctx.appointments.push(from_item(item)?);
        }
        Ok(ctx)
    }

    async fn message(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        id: &MessageId,
    ) -> Result<Option<Message>> {
        self.get(tenant_pk(tenant), message_sk(lead, id))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn message_by_provider_id(
        &self,
        tenant: &TenantId,
        provider_id: &str,
    ) -> Result<Option<Message>> {
        let Some(item) = self
            .get(tenant_pk(tenant), provider_ref_sk(provider_id))
            .await?
        else {
            return Ok(None);
        };
        let r: ProviderRef = from_item(item)?;
        self.message(&r.tenant, &r.lead, &r.message).await
    }

    async fn messages_of(&self, tenant: &TenantId, lead: &LeadId) -> Result<Vec<Message>> {
        let mut messages: Vec<Message> = self
            .prefix_all(tenant_pk(tenant), messages_prefix(lead))
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_>>()?;
        messages.sort_by_key(|m| m.created_at);
        Ok(messages)
    }

    async fn messages_with_status(
        &self,
        tenant: &TenantId,
        status: MessageStatus,
        page: &PageRequest,
    ) -> Result<Page<Message>> {
        items(
            self.query_page(
                Some(GSI1),
                messages_by_status_pk(tenant),
                Some(format!("{}#", status.as_str())),
                true,
                page,
            )
            .await?,
        )
    }

    async fn messaging_settings(&self, tenant: &TenantId) -> Result<Option<MessagingSettings>> {
        self.get(tenant_pk(tenant), MESSAGING_SK.into())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn save_messaging_settings(
        &self,
        settings: &MessagingSettings,
        previous: Option<&MessagingSettings>,
    ) -> Result<()> {
        let read = settings.version;
        let stored = MessagingSettings {
            version: read + 1,
            ..settings.clone()
        };
        let item = to_item(
            &stored,
            &[(PK, tenant_pk(&settings.tenant)), (SK, MESSAGING_SK.into())],
        )?;
        let mut items = vec![if read == 0 {
            self.put(item, Some(("attribute_not_exists(PK)", None)))?
        } else {
            self.versioned_put(item, read)?
        }];
        let mut guards = vec![Refused::Stale];
        let keys = settings.sender_keys();
        let held: Vec<String> = keys.iter().map(|k| sender_sk(k)).collect();
        let released: Vec<String> = previous
            .map(MessagingSettings::sender_keys)
            .unwrap_or_default()
            .into_iter()
            .filter(|k| !keys.contains(k))
            .map(|k| sender_sk(&k))
            .collect();
        for (item, guard) in self.claims(&settings.tenant, &held, &released)? {
            items.push(item);
            guards.push(guard);
        }
        match self.transact(items, &guards, "messaging settings").await {
            Ok(()) => Ok(()),
            Err(Error::Refused(Refused::Duplicate)) => {
                Err(Error::Conflict("a sender belongs to another tenant".into()))
            }
            Err(Error::Refused(_)) => Err(Error::Conflict(
                "the messaging settings changed since they were read; read them again".into(),
            )),
            Err(other) => Err(other),
        }
    }

    async fn tenant_of_sender(&self, address: &InboundAddress) -> Result<Option<TenantId>> {
        let Some(item) = self
            .get(DEPLOYMENT_PK.into(), sender_sk(&address.key()))
            .await?
        else {
            return Ok(None);
        };
        match item.get("tenant") {
            Some(AttributeValue::S(tenant)) => TenantId::parse(tenant).map(Some).map_err(internal),
            _ => Ok(None),
        }
    }
}
