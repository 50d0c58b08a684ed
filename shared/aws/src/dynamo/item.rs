//! Domain values to DynamoDB items and back, through serde_dynamo: numbers
//! travel as DynamoDB numbers (`N`), strings and timestamps as `S`, nested
//! structs and maps as `M`, lists (empty ones too) as `L`, a `None` inside a
//! nested value as `NULL`.
//!
//! A field that is `None` at the top of the item is left out rather than
//! stored as `NULL` (what serde_dynamo alone would write): items written
//! before serde_dynamo have that shape, reading takes an absent attribute and
//! a `NULL` alike as `None`, and an absent one costs no bytes.
//!
//! Until serde_dynamo the mapping went through `serde_json::Value` (kept as
//! the tests' oracle in `item/json_detour.rs`); every type stored makes the
//! same item as then, but for one spelling: a float inside a provider's JSON
//! (call analysis, a tool's answer) is written as Rust prints it, `1` where
//! serde_json wrote `1.0`: the same number, which DynamoDB keeps as a number
//! anyway. An attribute type the SDK does not know (none exists today) makes
//! serde_dynamo panic where the detour read it as null.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use leadline_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::aws_sdk_dynamodb_1 as codec;

pub type Item = HashMap<String, AttributeValue>;

/// The item for `value` (a struct), with the key attributes added.
pub fn to_item<T: Serialize>(value: &T, keys: &[(&str, String)]) -> Result<Item, Error> {
    let mut item: Item = codec::to_item(value).map_err(internal)?;
    item.retain(|_, v| !v.is_null());
    item.reserve(keys.len());
    for (name, value) in keys {
        item.insert((*name).to_owned(), AttributeValue::S(value.clone()));
    }
    Ok(item)
}

/// The domain value stored in `item`; key attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Error> {
    codec::from_item(item).map_err(internal)
}

fn internal(e: serde_dynamo::Error) -> Error {
    Error::Internal(format!("item codec: {e}"))
}

#[cfg(test)]
mod json_detour;
#[cfg(test)]
mod samples;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::fmt::Debug;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Sample {
        name: String,
        count: u64,
        nested: Vec<Option<i32>>,
        absent: Option<String>,
    }

    #[test]
    fn a_struct_round_trips_and_keys_are_added_then_ignored() {
        let s = Sample {
            name: "x".into(),
            count: u64::MAX,
            nested: vec![Some(-1), None],
            absent: None,
        };
        let item = to_item(&s, &[("PK", "T#a".into())]).unwrap();
        assert_eq!(item["PK"], AttributeValue::S("T#a".into()));
        assert!(!item.contains_key("absent"), "nulls are not stored");
        assert_eq!(from_item::<Sample>(item).unwrap(), s);
    }

    const KEYS: [(&str, &str); 4] = [
        ("PK", "T#acme-dental"),
        ("SK", "LEAD#ld_0h1ga3vsq4mhnq2v5ggi4n5nqe"),
        ("GSI2PK", "DUE#0007"),
        ("GSI2SK", "2025-11-24T14:30:00Z#T#acme-dental"),
    ];

    /// The attributes of two items that differ, by name, with both values.
    fn differences(new: &Item, old: &Item) -> Vec<String> {
        let mut names: Vec<&String> = new.keys().chain(old.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| new.get(*n) != old.get(*n))
            .map(|n| format!("{n}: new {:?}, old {:?}", new.get(n), old.get(n)))
            .collect()
    }

    /// `value` becomes the very item the serde_json detour made, and each
    /// mapping reads the other's item back as `value`.
    fn stored_as_before<T>(what: &str, value: &T)
    where
        T: Serialize + DeserializeOwned + PartialEq + Debug,
    {
        let keys: Vec<(&str, String)> = KEYS.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let new = to_item(value, &keys).unwrap();
        let old = json_detour::to_item(value, &keys).unwrap();
        assert_eq!(differences(&new, &old), Vec::<String>::new(), "{what}");
        assert_eq!(&from_item::<T>(new.clone()).unwrap(), value, "{what}");
        assert_eq!(&from_item::<T>(old).unwrap(), value, "{what}: an old item");
        assert_eq!(
            &json_detour::from_item::<T>(new).unwrap(),
            value,
            "{what}: the old code reading a new item"
        );
    }

    #[test]
    fn every_stored_type_is_stored_as_the_serde_json_detour_stored_it() {
        stored_as_before("lead, every field", &samples::lead_full());
        stored_as_before("lead, nothing optional", &samples::lead_sparse());
        stored_as_before("attempt, every field", &samples::attempt_full());
        stored_as_before("attempt, nothing optional", &samples::attempt_sparse());
        stored_as_before("campaign, every field", &samples::campaign_full());
        stored_as_before("campaign, nothing optional", &samples::campaign_sparse());
        stored_as_before("tenant, every field", &samples::tenant_full());
        stored_as_before("tenant, nothing optional", &samples::tenant_sparse());
        stored_as_before("business, every field", &samples::business_full());
        stored_as_before("business, nothing optional", &samples::business_sparse());
        stored_as_before("appointment, every field", &samples::appointment_full());
        stored_as_before(
            "appointment, nothing optional",
            &samples::appointment_sparse(),
        );
        stored_as_before("usage", &samples::usage());
        stored_as_before("suppression", &samples::suppression());
        stored_as_before("outbox", &samples::outbox());
        stored_as_before("tool record, an answer", &samples::tool_record_answer());
        stored_as_before("tool record, an error", &samples::tool_record_error());
    }

    fn n(s: &str) -> AttributeValue {
        AttributeValue::N(s.into())
    }

    fn s(s: &str) -> AttributeValue {
        AttributeValue::S(s.into())
    }

    /// The stored shapes spelled out, not only as the detour made them.
    #[test]
    fn numbers_nulls_lists_maps_and_timestamps_are_stored_as_they_always_were() {
        let lead = to_item(&samples::lead_full(), &[]).unwrap();
        assert_eq!(lead["version"], n("18446744073709551615"), "u64 past i64");
        assert_eq!(lead["attempts"], n("2"));
        assert_eq!(lead["status"], s("callback_pending"), "a unit variant");
        assert_eq!(lead["created_at"], s("2025-11-20T09:00:00Z"), "a timestamp");
        assert_eq!(
            lead["outcome"],
            AttributeValue::M(HashMap::from([
                ("kind".into(), s("callback_requested")),
                ("at".into(), AttributeValue::Null(true)),
            ])),
            "a None inside a map is NULL"
        );
        let AttributeValue::L(messages) = &lead["messages"] else {
            panic!("messages are a list: {:?}", lead["messages"]);
        };
        assert_eq!(
            messages[0].as_m().unwrap()["at"],
            s("2025-11-24T10:33:12.123456789Z")
        );

        let lead = to_item(&samples::lead_sparse(), &[]).unwrap();
        for absent in [
            "name", "email", "whatsapp", "partner", "zone", "outcome", "note",
        ] {
            assert!(
                !lead.contains_key(absent),
                "a None field is left out: {absent}"
            );
        }
        for skipped in ["next_call", "messages", "effects"] {
            assert!(!lead.contains_key(skipped), "{skipped} is not serialized");
        }

        let business = to_item(&samples::business_sparse(), &[]).unwrap();
        for list in ["answers", "inbound_numbers", "services"] {
            assert_eq!(business[list], AttributeValue::L(vec![]), "an empty {list}");
        }
        assert_eq!(business["opening_hours"], AttributeValue::M(HashMap::new()));
        let business = to_item(&samples::business_full(), &[]).unwrap();
        let hours = business["opening_hours"].as_m().unwrap();
        assert_eq!(
            hours["saturday"],
            AttributeValue::L(vec![]),
            "a map keyed by a day"
        );
        assert_eq!(hours["monday"].as_l().unwrap().len(), 2);
        assert_eq!(
            business["services"].as_l().unwrap()[0].as_m().unwrap()["calcom_event_type_id"],
            n("18446744073709551615")
        );

        let attempt = to_item(&samples::attempt_full(), &[]).unwrap();
        let report = attempt["report"].as_m().unwrap();
        assert_eq!(report["duration_ms"], n("31000"));
        let structured = report["structured"].as_m().unwrap();
        assert_eq!(structured["score"], n("0.85"));
        assert_eq!(structured["negative"], n("-3"));
        assert_eq!(structured["empty_list"], AttributeValue::L(vec![]));
        assert_eq!(structured["empty_map"], AttributeValue::M(HashMap::new()));
        assert_eq!(
            structured["tags"],
            AttributeValue::L(vec![s("a"), AttributeValue::Null(true), n("7")])
        );
        let attempt = to_item(&samples::attempt_sparse(), &[]).unwrap();
        assert_eq!(attempt["report"], AttributeValue::M(HashMap::new()));
        assert!(!attempt.contains_key("provider_call_id"));

        let campaign = to_item(&samples::campaign_sparse(), &[]).unwrap();
        assert!(!campaign.contains_key("start_at"));
    }

    /// What a stored item may hold besides the struct's fields: the keys,
    /// `expires_at`, a slot's string set, and a `NULL` where a field was
    /// cleared by an update (a campaign's `start_at`).
    #[test]
    fn other_attributes_are_ignored_and_a_stored_null_reads_as_none() {
        let campaign = samples::campaign_full();
        let mut item = to_item(&campaign, &[("PK", "T#acme-dental".into())]).unwrap();
        item.insert("start_at".into(), AttributeValue::Null(true));
        item.insert("expires_at".into(), n("1764000000"));
        item.insert("holders".into(), AttributeValue::Ss(vec!["att_1".into()]));
        let read: leadline_core::intake::campaign::Campaign = from_item(item).unwrap();
        assert_eq!(read.start_at, None);
        assert_eq!(read.lead_count, campaign.lead_count);
    }

    /// The one spelling that changed. A float inside a provider's JSON (call
    /// analysis, a tool's answer) is written as Rust prints it, where
    /// serde_json wrote its own: `1` for `1.0`, `0.0000001` for `1e-7`,
    /// `1000000000000000000000` for `1e+21`. The attribute is an `N` of the
    /// same number either way; DynamoDB keeps the number, not the spelling
    /// (it trims `1.0` to `1` itself), and each mapping reads both spellings
    /// as that number. Floats such as `0.85` are spelled as before.
    #[test]
    fn a_float_in_stored_json_is_the_same_number_spelled_as_rust_prints_it() {
        let record: leadline_core::in_call::ToolRecord =
            serde_json::from_value(serde_json::json!({
                "key": "call_1#tool_1", "tenant": "acme-dental", "name": "book_appointment",
                "reply": {"answer": {"whole": 1.0, "tiny": 1e-7, "huge": 1e21, "plain": 0.85}},
                "at": "2025-11-24T10:33:20Z"
            }))
            .unwrap();
        let answer = |item: &Item| {
            item["reply"].as_m().unwrap()["answer"]
                .as_m()
                .unwrap()
                .clone()
        };
        let new = to_item(&record, &[]).unwrap();
        let old = json_detour::to_item(&record, &[]).unwrap();
        for (field, new_spelling, old_spelling) in [
            ("whole", "1", "1.0"),
            ("tiny", "0.0000001", "1e-7"),
            ("huge", "1000000000000000000000", "1e+21"),
            ("plain", "0.85", "0.85"),
        ] {
            assert_eq!(answer(&new)[field], n(new_spelling), "{field}");
            assert_eq!(answer(&old)[field], n(old_spelling), "{field}");
        }
        let number = |record: leadline_core::in_call::ToolRecord, field: &str| {
            let leadline_core::in_call::ToolReply::Answer(answer) = record.reply else {
                panic!("an answer");
            };
            answer[field].as_f64().unwrap()
        };
        for field in ["whole", "tiny", "huge", "plain"] {
            let expected = number(record.clone(), field);
            assert_eq!(number(from_item(new.clone()).unwrap(), field), expected);
            assert_eq!(number(from_item(old.clone()).unwrap(), field), expected);
            assert_eq!(
                number(json_detour::from_item(new.clone()).unwrap(), field),
                expected
            );
        }
    }
}
