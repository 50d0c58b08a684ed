//! Vapi `tool-calls` messages: `{"message": {"type": "tool-calls",
//! "toolCallList": [{"id", "type": "function", "function": {"name",
//! "arguments"}}], "call": {…}, "phoneNumber": {…}, "customer": {…}}}`,
//! answered with `{"results": [{"toolCallId", "name", "result" | "error"}]}`.

use leadline_core::in_call::{ToolCall, ToolReply};
use leadline_core::intake::tenant::VoiceProvider;
use serde_json::{Value, json};

use crate::event::{ParseError, from_slice, required};
use crate::tools::{MalformedToolCall, ToolRequest, call_ref, phone, text_at};

/// Spoken for an item of the list that could not be read as a call.
pub const UNREADABLE: &str = "I couldn't read that request.";

/// Reads a server message. `Ok(None)` for every message but `tool-calls`
/// (those are [`parse_event`](super::parse_event)'s). Items without an id or a
/// function name go to `malformed` rather than failing the message: the
/// other items still get their answers.
///
/// Our metadata is read from `call.assistantOverrides.metadata`, else its
/// `variableValues`. The number dialled is `phoneNumber.number` (of the
/// message, else of the call) and only on an inbound call: on an outbound
/// one it is our own. The caller is `call.customer.number`, else the
/// message's `customer.number`.
pub fn parse_tool_calls(raw_body: &[u8]) -> Result<Option<ToolRequest>, ParseError> {
    let body: Value = from_slice(raw_body)?;
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or(ParseError::Missing("message"))?;
    if required(text_at(message, "/type"), "message.type")? != "tool-calls" {
        return Ok(None);
    }
    let call = message
        .get("call")
        .filter(|c| c.is_object())
        .ok_or(ParseError::Missing("message.call"))?;
    let call_id = required(text_at(call, "/id"), "message.call.id")?;
    // `toolCalls` is the older name of the same list.
    let items = ["toolCallList", "toolCalls"]
        .into_iter()
        .find_map(|key| message.get(key).and_then(Value::as_array))
        .ok_or(ParseError::Missing("message.toolCallList"))?;
    let (mut calls, mut malformed) = (Vec::new(), Vec::new());
    for item in items {
        match tool_call(item) {
            Ok(call) => calls.push(call),
            Err(item) => malformed.push(item),
        }
    }
    let inbound = text_at(call, "/type").as_deref() == Some("inboundPhoneCall");
    let called = inbound
        .then(|| {
            phone(message.pointer("/phoneNumber/number"))
                .or_else(|| phone(call.pointer("/phoneNumber/number")))
        })
        .flatten();
    Ok(Some(ToolRequest {
        provider: VoiceProvider::Vapi,
        call: call_ref([
            call.pointer("/assistantOverrides/metadata"),
            call.pointer("/assistantOverrides/variableValues"),
        ]),
        called,
        caller: phone(call.pointer("/customer/number"))
            .or_else(|| phone(message.pointer("/customer/number"))),
        calls,
        malformed,
        call_id,
    }))
}

/// One item of the list: `{id, function: {name, arguments}}` as delivered,
/// or `{id, name, parameters}` as in Vapi's own example.
fn tool_call(item: &Value) -> Result<ToolCall, MalformedToolCall> {
    let id = text_at(item, "/id");
    let name = text_at(item, "/function/name").or_else(|| text_at(item, "/name"));
    match (id, name) {
        (Some(id), Some(name)) => Ok(ToolCall {
            id,
            name,
            args: arguments(item),
        }),
        (id, name) => {
            let reason = if id.is_none() {
                "no id"
            } else {
                "no function name"
            };
            Err(MalformedToolCall {
                reason: reason.into(),
                id,
                name,
            })
        }
    }
}

/// The arguments, an object whether they came as one (real deliveries) or
/// JSON-encoded in a string (Vapi's schema). A string that is not a JSON
/// object stays a string, which the use case answers with an error; a blank
/// one is no arguments.
fn arguments(item: &Value) -> Value {
    let given = ["/function/arguments", "/arguments", "/parameters"]
        .into_iter()
        .find_map(|p| item.pointer(p).filter(|v| !v.is_null()));
    match given {
        None => Value::Null,
        Some(Value::String(text)) if text.trim().is_empty() => Value::Null,
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(object @ Value::Object(_)) => object,
            _ => Value::String(text.clone()),
        },
        Some(other) => other.clone(),
    }
}

/// The body answering a `tool-calls` message: one result per answered call in
/// the order given, then an error for each unreadable item that has an id
/// (Vapi matches results by `toolCallId`; one without an id cannot be
/// answered). `name` is required by Vapi's schema though its examples omit
/// it. An answer is sent as its JSON text, `result` being a string.
pub fn tool_results(answered: &[(ToolCall, ToolReply)], malformed: &[MalformedToolCall]) -> Value {
    let answered = answered.iter().map(|(call, reply)| match reply {
        ToolReply::Answer(answer) => json!({
            "toolCallId": call.id,
            "name": call.name,
            "result": Value::Object(answer.clone()).to_string(),
        }),
        ToolReply::Error(_) => json!({
            "toolCallId": call.id,
            "name": call.name,
            "error": reply.spoken(),
        }),
    });
    let unreadable = malformed.iter().filter_map(|item| {
        Some(json!({
            "toolCallId": item.id.as_ref()?,
            "name": item.name.as_deref().unwrap_or(""),
            "error": UNREADABLE,
        }))
    });
    json!({"results": answered.chain(unreadable).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_support::{our_call, phone};
    use serde_json::Map;

    /// An outbound call leadline placed, asking for `items`.
    fn message(items: Value) -> Value {
        json!({"message": {
            "type": "tool-calls",
            "toolCallList": items,
            "call": {
                "id": "5f1a3c2e-0000-4000-8000-000000000001",
                "type": "outboundPhoneCall",
                "customer": {"number": "+14155550199"},
                "phoneNumber": {"number": "+14155550100"},
                "assistantOverrides": {"metadata": our_call().to_metadata()}
            },
            "phoneNumber": {"number": "+14155550100"},
            "timestamp": 1_795_186_800_000_i64
        }})
    }

    fn parse(body: &Value) -> ToolRequest {
        parse_tool_calls(&serde_json::to_vec(body).unwrap())
            .unwrap()
            .expect("a tool-calls message")
    }

    fn item(id: &str, name: &str, arguments: Value) -> Value {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
    }

    #[test]
    fn an_outbound_call_carries_our_metadata_and_its_calls_in_order() {
        let request = parse(&message(json!([
            item("tc_1", "get_services", json!({})),
            item("tc_2", "check_availability", json!({"service": "consult"})),
        ])));
        assert_eq!(request.provider, VoiceProvider::Vapi);
        assert_eq!(request.call_id, "5f1a3c2e-0000-4000-8000-000000000001");
        assert_eq!(request.call, Some(our_call()));
        assert_eq!(
            request.called, None,
            "our own number is not the business dialled"
        );
        assert_eq!(request.caller, phone("+14155550199"));
        assert!(request.malformed.is_empty());
        assert_eq!(
            request.calls,
            [
                ToolCall {
                    id: "tc_1".into(),
                    name: "get_services".into(),
                    args: json!({})
                },
                ToolCall {
                    id: "tc_2".into(),
                    name: "check_availability".into(),
                    args: json!({"service": "consult"})
                },
            ]
        );
    }

    #[test]
    fn the_metadata_may_come_back_in_the_variable_values() {
        let mut body = message(json!([]));
        body["message"]["call"]["assistantOverrides"] =
            json!({"variableValues": our_call().to_metadata()});
        assert_eq!(parse(&body).call, Some(our_call()));
    }

    #[test]
    fn an_inbound_call_names_the_number_dialled() {
        let mut body = message(json!([]));
        let call = &mut body["message"]["call"];
        call["type"] = json!("inboundPhoneCall");
        call.as_object_mut().unwrap().remove("assistantOverrides");
        let request = parse(&body);
        assert_eq!(request.call, None);
        assert_eq!(request.called, phone("+14155550100"));
        assert_eq!(request.caller, phone("+14155550199"));

        // Without the message's phone number, the call's.
        body["message"]
            .as_object_mut()
            .unwrap()
            .remove("phoneNumber");
        body["message"]["call"]["phoneNumber"] = json!({"number": "+14155550111"});
        assert_eq!(parse(&body).called, phone("+14155550111"));
    }

    #[test]
    fn arguments_are_read_as_an_object_from_either_encoding() {
        let request = parse(&message(json!([
            item("tc_1", "check_availability", json!({"date": "2026-11-24"})),
            item("tc_2", "check_availability", json!("{\"date\": \"2026-11-24\"}")),
            {"id": "tc_3", "name": "check_availability", "parameters": {"date": "2026-11-24"}},
            {"id": "tc_4", "type": "function", "function": {"name": "get_services"}},
            item("tc_5", "get_services", json!(" ")),
        ])));
        let args: Vec<_> = request.calls.iter().map(|c| c.args.clone()).collect();
        let date = json!({"date": "2026-11-24"});
        assert_eq!(
            args,
            [date.clone(), date.clone(), date, Value::Null, Value::Null]
        );
        assert_eq!(request.calls[2].name, "check_availability");
    }

    #[test]
    fn arguments_that_are_not_an_object_stay_a_string() {
        let request = parse(&message(json!([
            item("tc_1", "book_appointment", json!("tomorrow at 3")),
            item("tc_2", "book_appointment", json!("[1, 2]")),
            item("tc_3", "get_services", json!({})),
        ])));
        assert_eq!(request.calls.len(), 3);
        assert_eq!(request.calls[0].args, json!("tomorrow at 3"));
        assert_eq!(request.calls[1].args, json!("[1, 2]"));
        assert_eq!(request.calls[2].args, json!({}));
    }

    #[test]
    fn items_without_id_or_name_are_reported_not_answered() {
        let request = parse(&message(json!([
            {"type": "function", "function": {"name": "get_services", "arguments": {}}},
            item("tc_2", "get_services", json!({})),
            {"id": "tc_3", "type": "function", "function": {"arguments": {}}},
            "nonsense",
        ])));
        assert_eq!(request.calls.len(), 1);
        assert_eq!(request.calls[0].id, "tc_2");
        assert_eq!(
            request.malformed,
            [
                MalformedToolCall {
                    id: None,
                    name: Some("get_services".into()),
                    reason: "no id".into()
                },
                MalformedToolCall {
                    id: Some("tc_3".into()),
                    name: None,
                    reason: "no function name".into()
                },
                MalformedToolCall {
                    id: None,
                    name: None,
                    reason: "no id".into()
                },
            ]
        );
    }

    #[test]
    fn the_older_tool_calls_list_is_read_when_the_list_is_absent() {
        let mut body = message(json!(null));
        body["message"]["toolCalls"] = json!([item("tc_1", "get_services", json!({}))]);
        assert_eq!(parse(&body).calls[0].id, "tc_1");
    }

    #[test]
    fn other_messages_are_not_tool_calls() {
        for kind in [
            "status-update",
            "end-of-call-report",
            "function-call",
            "assistant-request",
        ] {
            let body = json!({"message": {"type": kind, "call": {"id": "x"}}});
            assert_eq!(
                parse_tool_calls(&serde_json::to_vec(&body).unwrap()),
                Ok(None),
                "{kind}"
            );
        }
    }

    #[test]
    fn broken_messages_are_parse_errors() {
        assert!(matches!(
            parse_tool_calls(b"not json"),
            Err(ParseError::Json(_))
        ));
        assert_eq!(parse_tool_calls(b"{}"), Err(ParseError::Missing("message")));
        assert_eq!(
            parse_tool_calls(br#"{"message": {"toolCallList": []}}"#),
            Err(ParseError::Missing("message.type"))
        );
        assert_eq!(
            parse_tool_calls(br#"{"message": {"type": "tool-calls", "toolCallList": []}}"#),
            Err(ParseError::Missing("message.call"))
        );
        assert_eq!(
            parse_tool_calls(
                br#"{"message": {"type": "tool-calls", "call": {}, "toolCallList": []}}"#
            ),
            Err(ParseError::Missing("message.call.id"))
        );
        assert_eq!(
            parse_tool_calls(br#"{"message": {"type": "tool-calls", "call": {"id": "x"}}}"#),
            Err(ParseError::Missing("message.toolCallList"))
        );
    }

    fn call(id: &str, name: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            args: json!({}),
        }
    }

    #[test]
    fn results_follow_the_calls_then_the_unreadable_items() {
        let mut answer = Map::new();
        answer.insert("say".into(), json!("We're open 9 to 5."));
        answer.insert("timezone".into(), json!("America/New_York"));
        let answered = [
            (
                call("tc_1", "get_business_hours"),
                ToolReply::Answer(answer.clone()),
            ),
            (
                call("tc_2", "book_appointment"),
                ToolReply::Error("That time isn't free.".into()),
            ),
        ];
        let malformed = [
            MalformedToolCall {
                id: None,
                name: Some("get_services".into()),
                reason: "no id".into(),
            },
            MalformedToolCall {
                id: Some("tc_3".into()),
                name: None,
                reason: "no function name".into(),
            },
        ];
        let body = tool_results(&answered, &malformed);
        assert_eq!(
            body,
            json!({"results": [
                {"toolCallId": "tc_1", "name": "get_business_hours",
                 "result": Value::Object(answer).to_string()},
                {"toolCallId": "tc_2", "name": "book_appointment", "error": "That time isn't free."},
                {"toolCallId": "tc_3", "name": "", "error": UNREADABLE},
            ]})
        );
        let result: Value =
            serde_json::from_str(body["results"][0]["result"].as_str().unwrap()).unwrap();
        assert_eq!(result["say"], "We're open 9 to 5.");
    }

    #[test]
    fn nothing_to_answer_is_an_empty_list() {
        assert_eq!(tool_results(&[], &[]), json!({"results": []}));
    }
}
