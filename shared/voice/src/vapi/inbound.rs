//! Vapi's `assistant-request`: a call to a phone number with no assistant of
//! its own, `{"message": {"type": "assistant-request", "call": {…},
//! "phoneNumber": {…}, "customer": {…}}}`, which must be answered within
//! 7.5 s with the assistant to take the call (`{"assistantId",
//! "assistantOverrides"}`) or `{"error": "<spoken>"}`.

use leadline_core::calling::inbound::{Declined, InboundAnswer, InboundCall};
use leadline_core::intake::tenant::VoiceProvider;
use serde_json::{Map, Value, json};

use crate::event::{ParseError, from_slice, required};
use crate::tools::{phone, text_at};

/// Spoken when no business answers the number dialled.
pub const NOT_IN_SERVICE: &str = "Sorry, the number you have called is not in service. Goodbye.";
/// Spoken when the business's number cannot be answered now.
pub const CANNOT_ANSWER: &str =
    "Sorry, we can't take your call right now. Please call again later. Goodbye.";

/// Reads an `assistant-request`. `Ok(None)` for every other message. The
/// call id is `call.id`; the number dialled is `phoneNumber.number` (of the
/// message, else of the call); the caller is `customer.number` (of the call,
/// else of the message). A number that is none (a withheld caller id) is
/// read as none, which the use case answers.
pub fn parse_assistant_request(raw_body: &[u8]) -> Result<Option<InboundCall>, ParseError> {
    let body: Value = from_slice(raw_body)?;
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or(ParseError::Missing("message"))?;
    if required(text_at(message, "/type"), "message.type")? != "assistant-request" {
        return Ok(None);
    }
    let call = message
        .get("call")
        .filter(|c| c.is_object())
        .ok_or(ParseError::Missing("message.call"))?;
    let call_id = required(text_at(call, "/id"), "message.call.id")?;
    Ok(Some(InboundCall {
        provider: VoiceProvider::Vapi,
        provider_call_id: Some(call_id),
        called: phone(message.pointer("/phoneNumber/number"))
            .or_else(|| phone(call.pointer("/phoneNumber/number"))),
        caller: phone(call.pointer("/customer/number"))
            .or_else(|| phone(message.pointer("/customer/number"))),
    }))
}

/// The answer to an `assistant-request`: the assistant, with the variables
/// and our metadata in its overrides (the metadata also among the variable
/// values, where Vapi's messages are read for it too). A call that is not
/// taken gets a sentence Vapi says before it hangs up.
pub fn assistant_answer(answer: &InboundAnswer) -> Value {
    let greeting = match answer {
        InboundAnswer::Answer(greeting) => greeting,
        InboundAnswer::Decline(Declined::NoAgent) => return json!({"error": CANNOT_ANSWER}),
        InboundAnswer::Decline(_) => return json!({"error": NOT_IN_SERVICE}),
    };
    let Some(assistant) = &greeting.agent_id else {
        return json!({"error": CANNOT_ANSWER});
    };
    let mut variables: Map<String, Value> = greeting
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut overrides = Map::new();
    if let Some(call) = &greeting.call {
        let metadata = call.to_metadata();
        if let Some(fields) = metadata.as_object() {
            variables.extend(fields.clone());
        }
        overrides.insert("metadata".into(), metadata);
    }
    overrides.insert("variableValues".into(), Value::Object(variables));
    json!({"assistantId": assistant, "assistantOverrides": overrides})
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use leadline_core::calling::call::CallRef;
    use leadline_core::calling::inbound::Greeting;
    use leadline_core::{Phone, TenantId};

    use crate::tools::test_support::our_call;

    fn request(message: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({ "message": message })).unwrap()
    }

    fn number(raw: &str) -> Option<Phone> {
        Some(Phone::parse(raw, None).unwrap())
    }

    fn assistant_request() -> Value {
        json!({
            "type": "assistant-request",
            "call": {
                "id": "c-1", "type": "inboundPhoneCall", "status": "ringing",
                "customer": {"number": "+14155550142"}
            },
            "phoneNumber": {"id": "pn-1", "number": "+14155550100"},
            "customer": {"number": "+14155550142"}
        })
    }

    #[test]
    fn the_call_the_number_dialled_and_the_caller_are_read() {
        let call = parse_assistant_request(&request(assistant_request()))
            .unwrap()
            .unwrap();
        assert_eq!(
            call,
            InboundCall {
                provider: VoiceProvider::Vapi,
                provider_call_id: Some("c-1".into()),
                called: number("+14155550100"),
                caller: number("+14155550142"),
            }
        );
    }

    #[test]
    fn the_numbers_are_found_on_the_call_when_the_message_lacks_them() {
        let mut message = assistant_request();
        let fields = message.as_object_mut().unwrap();
        fields.remove("phoneNumber");
        fields.remove("customer");
        message["call"]["phoneNumber"] = json!({"number": "+14155550100"});
        let call = parse_assistant_request(&request(message)).unwrap().unwrap();
        assert_eq!(call.called, number("+14155550100"));
        assert_eq!(call.caller, number("+14155550142"));
    }

    #[test]
    fn a_withheld_caller_id_is_no_caller() {
        let mut message = assistant_request();
        message["call"]["customer"] = json!({"number": "anonymous"});
        message["customer"] = json!({});
        let call = parse_assistant_request(&request(message)).unwrap().unwrap();
        assert_eq!(call.caller, None);
    }

    #[test]
    fn other_messages_are_not_assistant_requests() {
        for kind in ["status-update", "tool-calls", "end-of-call-report"] {
            let raw = request(json!({"type": kind, "call": {"id": "c-1"}}));
            assert_eq!(parse_assistant_request(&raw), Ok(None), "{kind}");
        }
    }

    #[test]
    fn a_request_without_its_call_is_malformed() {
        let mut message = assistant_request();
        message.as_object_mut().unwrap().remove("call");
        assert_eq!(
            parse_assistant_request(&request(message)),
            Err(ParseError::Missing("message.call"))
        );
        let mut message = assistant_request();
        message["call"]["id"] = json!("");
        assert_eq!(
            parse_assistant_request(&request(message)),
            Err(ParseError::Missing("message.call.id"))
        );
        assert_eq!(
            parse_assistant_request(b"{}"),
            Err(ParseError::Missing("message"))
        );
        assert!(matches!(
            parse_assistant_request(b"not json"),
            Err(ParseError::Json(_))
        ));
    }

    fn greeting(call: Option<CallRef>, agent: Option<&str>) -> InboundAnswer {
        InboundAnswer::Answer(Greeting {
            tenant: TenantId::parse("acme").unwrap(),
            call,
            variables: BTreeMap::from([("business_name".to_owned(), "Bright Smile".to_owned())]),
            agent_id: agent.map(str::to_owned),
        })
    }

    #[test]
    fn an_answer_is_the_assistant_with_our_metadata_in_its_overrides() {
        let answer = assistant_answer(&greeting(Some(our_call()), Some("asst-shared")));
        let metadata = our_call().to_metadata();
        let mut variables = metadata.as_object().unwrap().clone();
        variables.insert("business_name".into(), json!("Bright Smile"));
        assert_eq!(
            answer,
            json!({
                "assistantId": "asst-shared",
                "assistantOverrides": {"metadata": metadata, "variableValues": variables}
            })
        );
        // What Vapi then echoes on the call is read back as our call.
        assert_eq!(
            CallRef::from_metadata(&answer["assistantOverrides"]["metadata"]),
            Some(our_call())
        );
    }

    #[test]
    fn a_withheld_caller_gets_the_assistant_without_metadata() {
        let answer = assistant_answer(&greeting(None, Some("asst-shared")));
        assert_eq!(
            answer,
            json!({
                "assistantId": "asst-shared",
                "assistantOverrides": {"variableValues": {"business_name": "Bright Smile"}}
            })
        );
    }

    #[test]
    fn a_call_not_taken_gets_a_sentence_to_hang_up_on() {
        assert_eq!(
            assistant_answer(&InboundAnswer::Decline(Declined::UnknownNumber)),
            json!({"error": NOT_IN_SERVICE})
        );
        assert_eq!(
            assistant_answer(&InboundAnswer::Decline(Declined::NoAgent)),
            json!({"error": CANNOT_ANSWER})
        );
        assert_eq!(
            assistant_answer(&greeting(Some(our_call()), None)),
            json!({"error": CANNOT_ANSWER})
        );
    }
}
