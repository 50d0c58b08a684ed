//! The sweep's read: GSI2, the sparse index of work that is due, spread over
//! [`DUE_SHARDS`] partitions. A page is one Query per shard that still has
//! due items, all at once, whatever the size of the table.
//!
//! The page's `limit` is shared out among those shards (100 over 16: six or
//! seven each), so a page never holds more than `limit` items and every item
//! DynamoDB reads is handed to the sweep: nothing is read to be thrown away
//! and read again. The cursor carries each shard's `LastEvaluatedKey`, so no
//! item is skipped or repeated. A page is merged oldest first; across pages
//! each shard is read oldest first, and every page takes the oldest of every
//! shard that has any left, so the order between shards holds to within a
//! page (the shards fill evenly: an item's shard is a hash of its key).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::try_join_all;
use jiff::Timestamp;
use leadline_core::ports::{DueWork, Page, PageRequest, SweepStore};
use leadline_core::{Error, Result};

use super::cursor::{self, Position};
use super::item::{Item, from_item};
use super::keys::{DUE_SHARDS, GSI2, GSI2PK, GSI2SK, SK, due_after, due_shard_pk};
use super::{DynamoStore, sdk};

/// How many items each shard is asked for: `limit` shared out among the
/// shards still open, in shard order (the first `limit % open` get one
/// more). With fewer items than open shards, the first `limit` shards get
/// one each and the others wait for a later page. Closed shards get none.
fn shares(positions: &[Position], limit: u32) -> Vec<u32> {
    let open = positions.iter().filter(|p| **p != Position::Done).count() as u32;
    let each = limit.checked_div(open).unwrap_or(0);
    let extra = limit.checked_rem(open).unwrap_or(0);
    let mut nth = 0;
    positions
        .iter()
        .map(|p| {
            if *p == Position::Done {
                return 0;
            }
            nth += 1;
            each + u32::from(nth <= extra)
        })
        .collect()
}

fn gsi2sk(item: &Item) -> &str {
    item.get(GSI2SK)
        .and_then(|v| v.as_s().ok())
        .map_or("", String::as_str)
}

impl DynamoStore {
    /// Up to `limit` items of shard `shard` due before `after`, from `position`,
    /// and where the shard stands after them.
    async fn due_in_shard(
        &self,
        shard: String,
        after: &str,
        position: Position,
        limit: u32,
    ) -> Result<(Vec<Item>, Position)> {
        let start = match position {
            Position::Done => return Ok((Vec::new(), Position::Done)),
            _ if limit == 0 => return Ok((Vec::new(), position)),
            Position::Start => None,
            Position::After(key) => Some(key),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#pk = :due AND #sk < :after")
            .expression_attribute_names("#pk", GSI2PK)
            .expression_attribute_names("#sk", GSI2SK)
            .expression_attribute_values(":due", AttributeValue::S(shard))
            .expression_attribute_values(":after", AttributeValue::S(after.to_owned()))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(sdk)?;
        let next = out
            .last_evaluated_key
            .map_or(Position::Done, Position::After);
        Ok((out.items.unwrap_or_default(), next))
    }
}

#[async_trait]
impl SweepStore for DynamoStore {
    async fn due_work(&self, at: Timestamp, page: &PageRequest) -> Result<Page<DueWork>> {
        let shards: Vec<String> = (0..DUE_SHARDS).map(due_shard_pk).collect();
        let positions = match page.cursor.as_deref() {
            Some(c) => cursor::decode_positions(c, &shards)?,
            None => vec![Position::Start; shards.len()],
        };
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let after = due_after(at);
        let reads = shards
            .into_iter()
            .zip(positions.clone())
            .zip(shares(&positions, limit))
            .map(|((shard, position), share)| self.due_in_shard(shard, &after, position, share));
        let (found, positions): (Vec<Vec<Item>>, Vec<Position>) =
            try_join_all(reads).await?.into_iter().unzip();

        let mut found: Vec<Item> = found.into_iter().flatten().collect();
        found.sort_by(|a, b| gsi2sk(a).cmp(gsi2sk(b)));
        let items = found
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
        let next_cursor = positions
            .iter()
            .any(|p| *p != Position::Done)
            .then(|| cursor::encode_positions(&positions));
        Ok(Page { items, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_shared_out_among_the_open_shards_and_never_exceeds_its_limit() {
        let key = Position::After(Default::default());
        let mut positions = vec![Position::Start; 16];
        assert_eq!(shares(&positions, 100).iter().sum::<u32>(), 100);
        assert_eq!(shares(&positions, 100)[..5], [7, 7, 7, 7, 6]);
        positions[0] = Position::Done;
        positions[1] = key.clone();
        let s = shares(&positions, 100);
        assert_eq!((s[0], s.iter().sum::<u32>()), (0, 100));
        // Fewer items than shards: the first open ones get one each.
        let s = shares(&positions, 3);
        assert_eq!(s[..5], [0, 1, 1, 1, 0]);
        assert_eq!(shares(&vec![Position::Done; 16], 100), vec![0; 16]);
    }
}
