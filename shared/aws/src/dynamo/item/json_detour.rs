//! The mapping before serde_dynamo, kept as the oracle of the item tests and
//! the baseline of `benches/item.rs`: domain values went to items through
//! `serde_json::Value`. Not compiled into the functions.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use leadline_core::Error;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

pub type Item = HashMap<String, AttributeValue>;

/// The item for `value` (a struct), with the key attributes added.
pub fn to_item<T: Serialize>(value: &T, keys: &[(&str, String)]) -> Result<Item, Error> {
    let Value::Object(fields) = serde_json::to_value(value).map_err(internal)? else {
        return Err(Error::Internal(
            "only structs can be stored as items".into(),
        ));
    };
    let mut item: Item = fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k, to_attr(v)))
        .collect();
    for (name, value) in keys {
        item.insert((*name).to_owned(), AttributeValue::S(value.clone()));
    }
    Ok(item)
}

/// The domain value stored in `item`; key attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Error> {
    let fields: Map<String, Value> = item.into_iter().map(|(k, v)| (k, from_attr(v))).collect();
    serde_json::from_value(Value::Object(fields)).map_err(internal)
}

pub fn to_attr(value: Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(items) => AttributeValue::L(items.into_iter().map(to_attr).collect()),
        Value::Object(fields) => {
            AttributeValue::M(fields.into_iter().map(|(k, v)| (k, to_attr(v))).collect())
        }
    }
}

fn from_attr(value: AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| n.parse::<u64>().ok().map(Number::from))
            .or_else(|| n.parse::<f64>().ok().and_then(Number::from_f64))
            .map_or(Value::Null, Value::Number),
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::L(items) => Value::Array(items.into_iter().map(from_attr).collect()),
        AttributeValue::M(fields) => {
            Value::Object(fields.into_iter().map(|(k, v)| (k, from_attr(v))).collect())
        }
        AttributeValue::Ss(items) => Value::Array(items.into_iter().map(Value::String).collect()),
        _ => Value::Null,
    }
}

fn internal(e: serde_json::Error) -> Error {
    Error::Internal(format!("item codec: {e}"))
}
