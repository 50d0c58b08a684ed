//! The sweep's read: GSI2, the sparse index of work that is due. One Query
//! per page of due items, whatever the size of the table.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use leadline_core::ports::{DueWork, Page, PageRequest, SweepStore};
use leadline_core::{Error, Result};

use super::item::from_item;
use super::keys::{DUE_PK, GSI2, GSI2PK, GSI2SK, SK, due_after};
use super::{DynamoStore, cursor, sdk};

#[async_trait]
impl SweepStore for DynamoStore {
    async fn due_work(&self, at: Timestamp, page: &PageRequest) -> Result<Page<DueWork>> {
        let start = page
            .cursor
            .as_deref()
            .map(|c| cursor::decode(c, DUE_PK))
            .transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :due AND #sk < :after")
            .expression_attribute_names("#pk", GSI2PK)
            .expression_attribute_names("#sk", GSI2SK)
            .expression_attribute_values(":due", AttributeValue::S(DUE_PK.into()))
            .expression_attribute_values(":after", AttributeValue::S(due_after(at)))
            .limit(page.limit.clamp(1, PageRequest::MAX_LIMIT) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let sk = item
                    .get(SK)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                if sk.starts_with("LEAD#") {
                    Ok(DueWork::Lead(from_item(item)?))
                } else if sk.starts_with("ATTEMPT#") {
                    Ok(DueWork::Attempt(from_item(item)?))
                } else if sk.starts_with("OUTBOX#") {
                    Ok(DueWork::Outbox(from_item(item)?))
                } else {
                    Err(Error::Internal(format!(
                        "{sk:?} has no business in the due index"
                    )))
                }
            })
            .collect::<Result<_>>()?;
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key.as_ref().map(cursor::encode),
        })
    }
}
