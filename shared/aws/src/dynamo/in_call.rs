//! Businesses, inbound numbers, appointments and recorded tool calls.
//!
//! A business (services included) is one item, read with one GetItem per
//! call. Saving it claims and releases its inbound numbers in the same
//! transaction, so a number always leads to exactly one tenant.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};
use leadline_core::appointments::appointment::Appointment;
use leadline_core::appointments::business::Business;
use leadline_core::in_call::ToolRecord;
use leadline_core::ports::{BusinessStore, InCallStore, PageRequest};
use leadline_core::write::Refused;
use leadline_core::{Error, LeadId, Phone, Result, TenantId};

use super::DynamoStore;
use super::call_store::s;
use super::item::{Item, from_item, to_item};
use super::keys::*;

impl DynamoStore {
    /// What a tenant holds under `DEPLOYMENT` (its inbound numbers, its
    /// senders): each held key claimed if free or already the tenant's (a
    /// key another tenant holds refuses the write as `Duplicate`), each
    /// released one deleted if still the tenant's.
    pub(super) fn claims(
        &self,
        tenant: &TenantId,
        held: &[String],
        released: &[String],
    ) -> Result<Vec<(TransactWriteItem, Refused)>> {
        let tenant = s(tenant.as_str());
        let mut items = Vec::new();
        for sk in held {
            let mut item = Self::key(DEPLOYMENT_PK.into(), sk.clone());
            item.insert("tenant".into(), tenant.clone());
            let claim = self.put(
                item,
                Some((
                    "attribute_not_exists(PK) OR tenant = :tenant",
                    Some((":tenant", tenant.clone())),
                )),
            )?;
            items.push((claim, Refused::Duplicate));
        }
        for sk in released {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(DEPLOYMENT_PK.into(), sk.clone())))
                .condition_expression("tenant = :tenant")
                .expression_attribute_values(":tenant", tenant.clone())
                .build()
                .map_err(|e| Error::Internal(e.to_string()))?;
            items.push((
                TransactWriteItem::builder().delete(delete).build(),
                Refused::Stale,
            ));
        }
        Ok(items)
    }

    fn business_item(business: &Business, version: u64) -> Result<Item> {
        let stored = Business {
            version,
            ..business.clone()
        };
        to_item(
            &stored,
            &[(PK, tenant_pk(&business.tenant)), (SK, BUSINESS_SK.into())],
        )
    }

    pub(super) fn appointment_item(appointment: &Appointment, version: u64) -> Result<Item> {
        let stored = Appointment {
            version,
            ..appointment.clone()
        };
        to_item(
            &stored,
            &[
                (PK, tenant_pk(&appointment.tenant)),
                (SK, appointment_sk(&appointment.lead, &appointment.id)),
            ],
        )
    }
}

#[async_trait]
impl BusinessStore for DynamoStore {
    async fn business(&self, tenant: &TenantId) -> Result<Option<Business>> {
        self.get(tenant_pk(tenant), BUSINESS_SK.into())
            .await?
            .map(from_item)
            .transpose()
    }

    async fn save_business(&self, business: &Business, previous: Option<&Business>) -> Result<()> {
        let read = business.version;
        let item = Self::business_item(business, read + 1)?;
        let mut items = vec![if read == 0 {
            self.put(item, Some(("attribute_not_exists(PK)", None)))?
        } else {
            self.versioned_put(item, read)?
        }];
        let mut guards = vec![Refused::Stale];
        let held: Vec<String> = business
            .inbound_numbers
            .iter()
            .map(|n| number_sk(n.e164()))
            .collect();
        let released: Vec<String> = previous
            .iter()
            .flat_map(|p| &p.inbound_numbers)
            .filter(|n| !business.inbound_numbers.contains(n))
            .map(|n| number_sk(n.e164()))
            .collect();
        for (item, guard) in self.claims(&business.tenant, &held, &released)? {
            items.push(item);
            guards.push(guard);
        }
        match self.transact(items, &guards, "a business write").await {
            Ok(()) => Ok(()),
            // A number's refusal ranks first: it is the more telling one.
            Err(Error::Refused(Refused::Duplicate)) => Err(Error::Conflict(
                "an inbound number belongs to another business".into(),
            )),
            Err(Error::Refused(_)) => Err(Error::Conflict(
                "the business changed since it was read; read it again".into(),
            )),
            Err(other) => Err(other),
        }
    }

    async fn tenant_of_number(&self, number: &Phone) -> Result<Option<TenantId>> {
        let Some(item) = self
            .get(DEPLOYMENT_PK.into(), number_sk(number.e164()))
            .await?
        else {
            return Ok(None);
        };
        match item.get("tenant") {
            Some(AttributeValue::S(tenant)) => TenantId::parse(tenant)
                .map(Some)
                .map_err(|e| Error::Internal(e.to_string())),
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl InCallStore for DynamoStore {
    async fn tool_record(&self, tenant: &TenantId, key: &str) -> Result<Option<ToolRecord>> {
        self.get(tenant_pk(tenant), tool_sk(key))
            .await?
            .map(from_item)
            .transpose()
    }

    async fn appointments_of(&self, tenant: &TenantId, owner: &LeadId) -> Result<Vec<Appointment>> {
        let mut found = Vec::new();
        let mut page = PageRequest {
            limit: PageRequest::MAX_LIMIT,
            cursor: None,
        };
        loop {
            let items = self
                .query_page(
                    None,
                    tenant_pk(tenant),
                    Some(appointments_prefix(owner)),
                    true,
                    &page,
                )
                .await?;
            for item in items.items {
                found.push(from_item(item)?);
            }
            match items.next_cursor {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(found),
            }
        }
    }
}
