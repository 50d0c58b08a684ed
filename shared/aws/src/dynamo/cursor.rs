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

/// The start key a cursor stands for, provided it belongs to `partition`.
pub fn decode(cursor: &str, partition: &str) -> Result<HashMap<String, AttributeValue>, Error> {
    let refused = || Error::Malformed("the cursor is not one this listing gave".into());
    let bytes = data_encoding::BASE64URL_NOPAD
        .decode(cursor.as_bytes())
        .map_err(|_| refused())?;
    let strings: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| refused())?;
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
}
