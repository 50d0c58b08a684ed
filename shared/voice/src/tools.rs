//! The functions the agent calls while the lead is on the line, as either
//! provider delivers them, read into one provider-neutral [`ToolRequest`]
//! ([`retell::parse_tool_call`], [`vapi::parse_tool_calls`]) and answered in
//! the provider's shape ([`retell::tool_answer`], [`vapi::tool_results`]).
//!
//! A request says which business it is for only through leadline's own call
//! metadata (outbound calls) or the number dialled (inbound calls): never
//! through anything the agent passes as arguments.
//!
//! [`retell::parse_tool_call`]: crate::retell::parse_tool_call
//! [`retell::tool_answer`]: crate::retell::tool_answer
//! [`vapi::parse_tool_calls`]: crate::vapi::parse_tool_calls
//! [`vapi::tool_results`]: crate::vapi::tool_results

use leadline_core::Phone;
use leadline_core::calling::call::CallRef;
use leadline_core::in_call::ToolCall;
use leadline_core::intake::tenant::VoiceProvider;
use serde_json::{Map, Value};

/// One request of the agent's functions, provider-neutral.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolRequest {
    pub provider: VoiceProvider,
    /// The provider's call id (Retell `call.call_id`, Vapi `message.call.id`).
    pub call_id: String,
    /// Leadline's metadata, present on the calls leadline placed.
    pub call: Option<CallRef>,
    /// The number dialled, for inbound calls: it tells the tenant when there
    /// is no metadata. `None` on outbound calls, where it is our own number.
    pub called: Option<Phone>,
    /// The person on the line, when the provider gives a real number.
    pub caller: Option<Phone>,
    /// The calls to answer, in the order the provider sent them (Retell:
    /// exactly one).
    pub calls: Vec<ToolCall>,
    /// Items that could not be read as calls (Vapi only): the receiver
    /// answers each one that has an id with an error, so the agent is not
    /// left waiting on it.
    pub malformed: Vec<MalformedToolCall>,
}

/// An item of a Vapi tool-call list without an id or a function name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedToolCall {
    pub id: Option<String>,
    pub name: Option<String>,
    pub reason: String,
}

/// Our metadata from the first candidate that holds it: the providers keep
/// it where the call was created with it, or in the variables a dashboard
/// call was given instead.
pub(crate) fn call_ref<'a>(
    candidates: impl IntoIterator<Item = Option<&'a Value>>,
) -> Option<CallRef> {
    candidates
        .into_iter()
        .flatten()
        .find_map(CallRef::from_metadata)
}

/// A number the provider reported, when it is one: a withheld caller id
/// arrives as `anonymous`, which is nobody's number.
pub(crate) fn phone(value: Option<&Value>) -> Option<Phone> {
    Phone::parse(value?.as_str()?, None).ok()
}

/// A non-empty string at `pointer`.
pub(crate) fn text_at(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// `value` rebuilt with every object's keys inserted in sorted order, so it
/// serializes the same whatever order it arrived in, even when serde_json's
/// `preserve_order` is on (aws-smithy-http-client turns it on for every
/// crate of a build that includes the AWS SDK).
pub(crate) fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<_> = object.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|key| (key.clone(), canonical(&object[key])))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What the providers' tool-call tests share: the call leadline placed.
#[cfg(test)]
pub(crate) mod test_support {
    use leadline_core::calling::call::CallRef;
    use leadline_core::{LeadId, Phone, TenantId};

    pub(crate) fn our_call() -> CallRef {
        CallRef {
            tenant: TenantId::parse("acme").unwrap(),
            lead: LeadId::from_bytes(&[7; 15]),
            attempt: 2,
        }
    }

    pub(crate) fn phone(raw: &str) -> Option<Phone> {
        Some(Phone::parse(raw, None).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_does_not_depend_on_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [{"d": 1, "c": 2}], "x": null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": null, "y": [{"c": 2, "d": 1}]}, "b": 1}"#).unwrap();
        let text = serde_json::to_string(&canonical(&a)).unwrap();
        assert_eq!(text, serde_json::to_string(&canonical(&b)).unwrap());
        assert_eq!(text, r#"{"a":{"x":null,"y":[{"c":2,"d":1}]},"b":1}"#);
    }

    #[test]
    fn only_real_numbers_are_phones() {
        assert_eq!(
            phone(Some(&json!("+14155550100"))),
            Some(Phone::parse("+14155550100", None).unwrap())
        );
        assert_eq!(phone(Some(&json!("anonymous"))), None);
        assert_eq!(phone(Some(&json!(14155550100_i64))), None);
        assert_eq!(phone(None), None);
    }
}
