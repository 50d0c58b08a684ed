//! Retell custom functions: Retell POSTs `{"name", "args", "call": {…call
//! object…}}` to the function's URL, signed like its webhooks, and gives the
//! agent the JSON it gets back, cut at 15 000 characters.

use data_encoding::HEXLOWER;
use leadline_core::in_call::{ToolCall, ToolReply};
use leadline_core::intake::tenant::VoiceProvider;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::event::{ParseError, from_slice, required};
use crate::tools::{ToolRequest, call_ref, canonical, phone, text_at};

/// Retell's cap on a function's result, in characters.
pub const MAX_RESULT_CHARS: usize = 15_000;

#[derive(Deserialize)]
struct Body {
    name: Option<String>,
    args: Option<Value>,
    call: Option<Value>,
}

/// Reads a custom function request: one call, with an id derived from the
/// request since Retell sends none. The people on the line follow the call's
/// `direction`: inbound, `from_number` is the caller and `to_number` the
/// business dialled; outbound, `to_number` is the lead and `from_number` our
/// own number.
pub fn parse_tool_call(raw_body: &[u8]) -> Result<ToolRequest, ParseError> {
    let body: Body = from_slice(raw_body)?;
    let call = body
        .call
        .filter(Value::is_object)
        .ok_or(ParseError::Missing("call"))?;
    let call_id = required(text_at(&call, "/call_id"), "call.call_id")?;
    let name = required(body.name, "name")?;
    let args = body.args.unwrap_or(Value::Null);
    let number = |key: &str| phone(call.get(key));
    let (called, caller) = match call.get("direction").and_then(Value::as_str) {
        Some("inbound") => (number("to_number"), number("from_number")),
        Some("outbound") => (None, number("to_number")),
        _ => (None, None),
    };
    Ok(ToolRequest {
        provider: VoiceProvider::Retell,
        call: call_ref([
            call.get("metadata"),
            call.get("retell_llm_dynamic_variables"),
        ]),
        called,
        caller,
        calls: vec![ToolCall {
            id: tool_call_id(
                &call_id,
                &name,
                &args,
                text_at(&call, "/transcript").as_deref(),
            ),
            name,
            args,
        }],
        malformed: Vec::new(),
        call_id,
    })
}

/// Retell sends no id with a function call, but retries one that timed out
/// with the same request: an id derived from the call, the function, its
/// arguments and the transcript so far lets the use case book once and answer
/// the retry the same. The same function asked again later in the call (book,
/// cancel, book the same time again) comes with a longer transcript, so it is
/// a new call with its own answer.
///
/// `rt_` + the first 12 bytes of SHA-256 over `call_id 0x00 name 0x00 args`
/// (the arguments as canonical JSON, keys sorted at every level), then
/// `0x00 transcript` when the call object carries one.
fn tool_call_id(call_id: &str, name: &str, args: &Value, transcript: Option<&str>) -> String {
    let mut hasher = Sha256::new()
        .chain_update(call_id)
        .chain_update([0])
        .chain_update(name)
        .chain_update([0])
        .chain_update(canonical(args).to_string());
    if let Some(transcript) = transcript {
        hasher = hasher.chain_update([0]).chain_update(transcript);
    }
    format!("rt_{}", HEXLOWER.encode(&hasher.finalize()[..12]))
}

/// The body answering a function call: the answer object as it is, or
/// `{"error": "<sentence>"}`. An answer over Retell's cap loses its largest
/// data fields first and never `say`: cut mid-way by Retell it would be
/// JSON the agent cannot read, while without its data it can still speak.
pub fn tool_answer(reply: &ToolReply) -> Value {
    match reply {
        ToolReply::Answer(answer) => Value::Object(fitted(answer.clone())),
        ToolReply::Error(_) => json!({"error": reply.spoken()}),
    }
}

fn fitted(mut answer: Map<String, Value>) -> Map<String, Value> {
    let mut data: Vec<(usize, String)> = answer
        .iter()
        .filter(|(key, _)| *key != "say")
        .map(|(key, value)| (value.to_string().len(), key.clone()))
        .collect();
    data.sort();
    while length(&answer) > MAX_RESULT_CHARS
        && let Some((_, largest)) = data.pop()
    {
        answer.remove(&largest);
    }
    answer
}

/// The serialized length in UTF-16 units, as JavaScript counts: never less
/// than in characters, so the answer fits however Retell counts.
fn length(answer: &Map<String, Value>) -> usize {
    serde_json::to_string(answer).map_or(usize::MAX, |text| text.encode_utf16().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::test_support::{our_call, phone};

    fn outbound_call() -> Value {
        json!({
            "call_id": "call_abc",
            "agent_id": "agent_1",
            "call_status": "ongoing",
            "call_type": "phone_call",
            "direction": "outbound",
            "from_number": "+14155550100",
            "to_number": "+14155550199",
            "metadata": our_call().to_metadata(),
            "transcript": "Agent: Hi Sam\nUser: Do you have Tuesday?"
        })
    }

    fn body(name: &str, args: Value, call: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"name": name, "args": args, "call": call})).unwrap()
    }

    fn parse(name: &str, args: Value, call: Value) -> ToolRequest {
        parse_tool_call(&body(name, args, call)).unwrap()
    }

    #[test]
    fn an_outbound_call_carries_our_metadata_and_the_lead_as_caller() {
        let args = json!({"service": "consult", "date": "2026-11-24"});
        let request = parse("check_availability", args.clone(), outbound_call());
        assert_eq!(request.provider, VoiceProvider::Retell);
        assert_eq!(request.call_id, "call_abc");
        assert_eq!(request.call, Some(our_call()));
        assert_eq!(
            request.called, None,
            "our own number is not the business dialled"
        );
        assert_eq!(request.caller, phone("+14155550199"));
        assert!(request.malformed.is_empty());
        let [call] = request.calls.as_slice() else {
            panic!("one call: {:?}", request.calls)
        };
        assert_eq!(call.name, "check_availability");
        assert_eq!(call.args, args);
        assert!(
            call.id.starts_with("rt_") && call.id.len() == 3 + 24,
            "{}",
            call.id
        );
    }

    #[test]
    fn an_inbound_call_names_the_number_dialled_and_the_caller() {
        let mut call = outbound_call();
        call["direction"] = json!("inbound");
        call.as_object_mut().unwrap().remove("metadata");
        let request = parse("get_business_hours", json!({}), call);
        assert_eq!(request.call, None);
        assert_eq!(request.called, phone("+14155550199"));
        assert_eq!(request.caller, phone("+14155550100"));
    }

    #[test]
    fn a_withheld_caller_id_is_no_caller() {
        let mut call = outbound_call();
        call["direction"] = json!("inbound");
        call["from_number"] = json!("anonymous");
        let request = parse("get_business_hours", json!({}), call);
        assert_eq!(request.caller, None);
        assert_eq!(request.called, phone("+14155550199"));
    }

    #[test]
    fn the_metadata_may_come_as_dynamic_variables() {
        let mut call = outbound_call();
        call.as_object_mut().unwrap().remove("metadata");
        call["retell_llm_dynamic_variables"] = our_call().to_metadata();
        assert_eq!(
            parse("get_services", json!({}), call).call,
            Some(our_call())
        );
    }

    #[test]
    fn the_id_is_the_same_for_a_retry_and_differs_with_the_request() {
        let id = |name: &str, args: &str, call: Value| {
            let args: Value = serde_json::from_str(args).unwrap();
            parse(name, args, call).calls[0].id.clone()
        };
        let book = r#"{"start": "2026-11-24T15:00", "service": "consult"}"#;
        let first = id("book_appointment", book, outbound_call());
        assert_eq!(first, id("book_appointment", book, outbound_call()));
        assert_eq!(
            first,
            id(
                "book_appointment",
                r#"{"service": "consult", "start": "2026-11-24T15:00"}"#,
                outbound_call()
            ),
            "key order does not matter"
        );
        assert_ne!(
            first,
            id(
                "book_appointment",
                r#"{"start": "2026-11-24T16:00", "service": "consult"}"#,
                outbound_call()
            )
        );
        assert_ne!(first, id("reschedule_appointment", book, outbound_call()));
        let mut other_call = outbound_call();
        other_call["call_id"] = json!("call_xyz");
        assert_ne!(first, id("book_appointment", book, other_call));
        // Asked again later in the call: the transcript has grown.
        let mut earlier = outbound_call();
        earlier["transcript"] = json!("Agent: Hello\nUser: Book me at 10");
        let mut later = outbound_call();
        later["transcript"] =
            json!("Agent: Hello\nUser: Book me at 10\nUser: Cancel that\nUser: No, book me at 10");
        let asked = id("book_appointment", book, earlier.clone());
        assert_eq!(asked, id("book_appointment", book, earlier), "a retry");
        assert_ne!(asked, id("book_appointment", book, later), "a new request");
    }

    #[test]
    fn the_id_is_pinned() {
        // sha256("call_abc\0get_services\0{\"a\":1,\"b\":[2]}\0<transcript>"), first 12 bytes.
        let request = parse("get_services", json!({"b": [2], "a": 1}), outbound_call());
        assert_eq!(request.calls[0].id, "rt_e61916363ca776eee4be1617");
    }

    #[test]
    fn absent_arguments_are_null() {
        let body = json!({"name": "get_services", "call": outbound_call()});
        let request = parse_tool_call(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(request.calls[0].args, Value::Null);
    }

    #[test]
    fn a_request_that_cannot_be_read_is_a_parse_error() {
        assert!(matches!(parse_tool_call(b"{"), Err(ParseError::Json(_))));
        assert_eq!(
            parse_tool_call(br#"{"name": "get_services"}"#),
            Err(ParseError::Missing("call"))
        );
        assert_eq!(
            parse_tool_call(br#"{"name": "get_services", "call": {"direction": "inbound"}}"#),
            Err(ParseError::Missing("call.call_id"))
        );
        assert_eq!(
            parse_tool_call(&body("", json!({}), outbound_call())),
            Err(ParseError::Missing("name"))
        );
    }

    fn answer(fields: Value) -> ToolReply {
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        ToolReply::Answer(fields)
    }

    #[test]
    fn an_answer_is_sent_as_it_is_and_an_error_as_its_sentence() {
        let reply = answer(json!({"say": "We're open 9 to 5.", "timezone": "America/New_York"}));
        assert_eq!(
            tool_answer(&reply),
            json!({"say": "We're open 9 to 5.", "timezone": "America/New_York"})
        );
        let reply = ToolReply::Error("That date has passed.".into());
        assert_eq!(
            tool_answer(&reply),
            json!({"error": "That date has passed."})
        );
    }

    #[test]
    fn an_answer_over_the_cap_loses_its_largest_data_first() {
        let reply = answer(json!({
            "say": "I have three times.",
            "slots": "x".repeat(MAX_RESULT_CHARS),
            "notes": "y".repeat(MAX_RESULT_CHARS / 2),
            "service": "consult"
        }));
        let sent = tool_answer(&reply);
        assert_eq!(
            sent,
            json!({"say": "I have three times.", "notes": "y".repeat(MAX_RESULT_CHARS / 2), "service": "consult"})
        );
        assert!(sent.to_string().chars().count() <= MAX_RESULT_CHARS);

        // 8 000 characters but 16 000 UTF-16 units: one of the two goes.
        let reply =
            answer(json!({"say": "Booked.", "a": "😀".repeat(4_000), "b": "😀".repeat(4_000)}));
        let sent = tool_answer(&reply);
        assert!(sent.to_string().encode_utf16().count() <= MAX_RESULT_CHARS);
        assert_eq!(sent["say"], "Booked.");
        assert_eq!(sent.as_object().unwrap().len(), 2);
    }
}
