//! Page cursors: DynamoDB's LastEvaluatedKey, carried as base64url JSON and
//! checked on the way back in, so that a cursor of one listing (or tenant)
//! cannot be used to read another.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use leadline_core::Error;

use super::keys::{GSI1PK, GSI2PK, PK};

pub fn encode(last_key: &HashMap<String, AttributeValue>) -> String {
    let strings: BTreeMap<&str, &str> = last_key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    data_encoding::BASE64URL_NOPAD.encode(
        serde_json::to_string(&strings)
            .unwrap_or_default()
            .as_bytes(),
    )
}

fn refused() -> Error {
    Error::Malformed("the cursor is not one this listing gave".into())
}

/// The start key a cursor stands for, provided it belongs to `partition`.
pub fn decode(cursor: &str, partition: &str) -> Result<HashMap<String, AttributeValue>, Error> {
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(cursor.as_bytes())
        .map_err(|_| refused())?;
    start_key(
        serde_json::from_slice(&bytes).map_err(|_| refused())?,
        partition,
    )
}

/// A key read back from a cursor: only key attributes, of `partition`.
fn start_key(
    strings: BTreeMap<String, String>,
    partition: &str,
) -> Result<HashMap<String, AttributeValue>, Error> {
    let in_partition = strings
        .get(GSI1PK)
        .or(strings.get(GSI2PK))
        .or(strings.get(PK))
        .is_some_and(|p| p == partition);
    let only_keys = strings
        .keys()
        .all(|k| ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"].contains(&k.as_str()));
    if !in_partition || !only_keys {
        return Err(refused());
    }
    Ok(strings
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

/// Where a listing over several partitions (GSI2's shards) stands in one.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// Nothing read from it yet.
    Start,
    /// Read up to this key (DynamoDB's `LastEvaluatedKey`); the rest follows.
    After(HashMap<String, AttributeValue>),
    /// Read to its end.
    Done,
}

/// One cursor for a listing over several partitions: each one's position,
/// in the partitions' order, as base64url JSON (`null` for done, `{}` for
/// not started, else the key to start after).
pub fn encode_positions(positions: &[Position]) -> String {
    let entries: Vec<Option<BTreeMap<&str, &str>>> = positions
        .iter()
        .map(|p| match p {
            Position::Done => None,
            Position::Start => Some(BTreeMap::new()),
            Position::After(key) => Some(
                key.iter()
                    .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
                    .collect(),
            ),
        })
        .collect();
    data_encoding::BASE64URL_NOPAD.encode(
        serde_json::to_string(&entries)
            .unwrap_or_default()
            .as_bytes(),
    )
}

/// The positions a cursor stands for, provided it holds one per partition
/// of `partitions`, each within its own partition.
pub fn decode_positions(cursor: &str, partitions: &[String]) -> Result<Vec<Position>, Error> {
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(cursor.as_bytes())
        .map_err(|_| refused())?;
    let entries: Vec<Option<BTreeMap<String, String>>> =
        serde_json::from_slice(&bytes).map_err(|_| refused())?;
    if entries.len() != partitions.len() {
        return Err(refused());
    }
    entries
        .into_iter()
        .zip(partitions)
        .map(|(entry, partition)| match entry {
            None => Ok(Position::Done),
            Some(key) if key.is_empty() => Ok(Position::Start),
            Some(key) => start_key(key, partition).map(Position::After),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_within_its_partition_only() {
        let key: HashMap<String, AttributeValue> = [
            ("PK".to_owned(), AttributeValue::S("T#a".into())),
            ("SK".to_owned(), AttributeValue::S("CAMPAIGN#x".into())),
        ]
        .into();
        let c = encode(&key);
        assert_eq!(decode(&c, "T#a").unwrap(), key);
        assert!(decode(&c, "T#b").is_err());
        assert!(decode("!!!", "T#a").is_err());
        assert!(
            decode(
                &data_encoding::BASE64URL_NOPAD.encode(b"{\"PK\":\"T#a\",\"x\":\"1\"}"),
                "T#a"
            )
            .is_err()
        );
    }

    fn due_key(shard: &str, sk: &str) -> HashMap<String, AttributeValue> {
        [
            ("GSI2PK", shard),
            ("GSI2SK", sk),
            ("PK", "T#a"),
            ("SK", "LEAD#x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), AttributeValue::S(v.to_owned())))
        .collect()
    }

    #[test]
    fn a_cursor_over_shards_round_trips_and_each_position_stays_in_its_shard() {
        let shards: Vec<String> = (0..3).map(|k| format!("DUE#{k}")).collect();
        let positions = vec![
            Position::Done,
            Position::Start,
            Position::After(due_key("DUE#2", "000000000001#T#a#LEAD#x")),
        ];
        let c = encode_positions(&positions);
        assert_eq!(decode_positions(&c, &shards).unwrap(), positions);

        // A position in another shard, or of another listing, is refused.
        let swapped = encode_positions(&[
            Position::Done,
            Position::After(due_key("DUE#2", "000000000001#T#a#LEAD#x")),
            Position::Start,
        ]);
        assert!(decode_positions(&swapped, &shards).is_err());
        let mut tenant_key = due_key("DUE#2", "x");
        tenant_key.remove("GSI2PK");
        tenant_key.insert("PK".into(), AttributeValue::S("T#b".into()));
        let other =
            encode_positions(&[Position::Done, Position::Start, Position::After(tenant_key)]);
        assert!(decode_positions(&other, &shards).is_err());
        // As many positions as shards, and a single-partition cursor is no such cursor.
        assert!(decode_positions(&encode_positions(&positions[..2]), &shards).is_err());
        let single = encode(&due_key("DUE#0", "000000000001#T#a#LEAD#x"));
        assert!(decode_positions(&single, &shards).is_err());
        assert!(decode_positions("!!!", &shards).is_err());
    }
}
